//! A group member (Java `MemberMetadata`) and what a JoinGroup brings.

use std::time::{Duration, Instant};

use bytes::Bytes;

use super::tickets::Env;

/// Java `GroupCoordinator.NewMemberJoinTimeoutMs`: a new member's JoinGroup
/// is dropped after this long, since it has no member id to heartbeat with.
pub(crate) const NEW_MEMBER_JOIN_TIMEOUT: Duration = Duration::from_secs(300);

/// Java `ConsumerProtocol.PROTOCOL_TYPE`.
pub(crate) const CONSUMER: &str = "consumer";

/// A member (Java `MemberMetadata`).
#[derive(Debug)]
pub(crate) struct Member {
    pub id: String,
    pub instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub rebalance_timeout: Duration,
    pub session_timeout: Duration,
    pub protocol_type: String,
    /// Supported protocols in the member's order of preference.
    pub protocols: Vec<(String, Bytes)>,
    pub assignment: Bytes,
    /// The ticket of its held JoinGroup (Java `awaitingJoinCallback`).
    pub awaiting_join: Option<u64>,
    /// The ticket of its held SyncGroup (Java `awaitingSyncCallback`).
    pub awaiting_sync: Option<u64>,
    /// Joined but not yet through a rebalance (Java `isNew`).
    pub is_new: bool,
    /// When the member expires unless heard from (Java's `DelayedHeartbeat`).
    pub deadline: Instant,
}

impl Member {
    /// Java `MemberMetadata.metadata`, empty for a protocol it lacks.
    pub fn metadata(&self, protocol: &str) -> Bytes {
        self.protocols
            .iter()
            .find(|(p, _)| p == protocol)
            .map(|(_, m)| m.clone())
            .unwrap_or_default()
    }

    /// Java `MemberMetadata.matches`: same protocols, same order, same bytes.
    pub fn matches(&self, protocols: &[(String, Bytes)]) -> bool {
        self.protocols == protocols
    }

    pub fn supports(&self, protocol: &str) -> bool {
        self.protocols.iter().any(|(p, _)| p == protocol)
    }

    /// Java `hasSatisfiedHeartbeat` at expiry: a member held in a join or
    /// sync is kept alive, except a new member, which has its own
    /// (longer) deadline.
    pub fn expired(&self, now: Instant) -> bool {
        self.deadline <= now && self.can_expire()
    }

    pub fn can_expire(&self) -> bool {
        self.is_new || (self.awaiting_join.is_none() && self.awaiting_sync.is_none())
    }

    /// Java `completeAndScheduleNextHeartbeatExpiration`.
    pub fn heard_from(&mut self, env: &Env) {
        self.deadline = env.after(self.session_timeout);
    }
}

/// What a JoinGroup brings (the arguments of Java `handleJoinGroup`).
#[derive(Debug)]
pub(crate) struct JoinArgs {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub rebalance_timeout: Duration,
    pub session_timeout: Duration,
    pub protocol_type: String,
    pub protocols: Vec<(String, Bytes)>,
}

impl Member {
    /// A new member (Java `isNew`) from its JoinGroup, expiring at `deadline`.
    pub fn new(id: String, args: JoinArgs, deadline: Instant) -> Self {
        Self {
            id,
            instance_id: args.instance_id,
            client_id: args.client_id,
            client_host: args.client_host,
            rebalance_timeout: args.rebalance_timeout,
            session_timeout: args.session_timeout,
            protocol_type: args.protocol_type,
            protocols: args.protocols,
            assignment: Bytes::new(),
            awaiting_join: None,
            awaiting_sync: None,
            is_new: true,
            deadline,
        }
    }
}

/// The topics of a consumer protocol subscription (Java
/// `ConsumerProtocol.deserializeSubscription` at v0, the prefix of every
/// version): i16 version, then an array of i16-length strings. `None` if
/// it does not parse; nothing is allocated from a count before its bytes
/// are there.
pub(crate) fn subscription_topics(mut b: &[u8]) -> Option<Vec<String>> {
    fn take<'a>(b: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
        if b.len() < n {
            return None;
        }
        let (head, tail) = b.split_at(n);
        *b = tail;
        Some(head)
    }
    let version = i16::from_be_bytes(take(&mut b, 2)?.try_into().ok()?);
    if version < 0 {
        return None;
    }
    let count = i32::from_be_bytes(take(&mut b, 4)?.try_into().ok()?);
    let mut topics = Vec::new();
    for _ in 0..count.max(0) {
        let len = i16::from_be_bytes(take(&mut b, 2)?.try_into().ok()?);
        let name = take(&mut b, usize::try_from(len).ok()?)?;
        topics.push(String::from_utf8(name.to_vec()).ok()?);
    }
    (count >= 0).then_some(topics)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subscriptions_parse_within_their_bytes() {
        let mut b = vec![0, 1, 0, 0, 0, 2, 0, 1, b'a', 0, 2, b'b', b'c', 0xff];
        assert_eq!(
            subscription_topics(&b),
            Some(vec!["a".to_string(), "bc".to_string()])
        );
        b[5] = 3; // a third topic that is not there
        assert_eq!(subscription_topics(&b), None);
        let huge = [0, 0, 0x7f, 0xff, 0xff, 0xff];
        assert_eq!(subscription_topics(&huge), None);
        assert_eq!(subscription_topics(&[0]), None);
    }
}
