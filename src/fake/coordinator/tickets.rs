//! Answers to requests that wait: a JoinGroup held until the rebalance
//! completes, a SyncGroup held until the leader's assignment arrives.
//!
//! Java's `GroupCoordinator` keeps a response callback on the member
//! (`awaitingJoinCallback`, `awaitingSyncCallback`). Here a waiting
//! connection thread holds a ticket instead: the member records the ticket,
//! whoever completes the wait (another connection, the timer thread) files
//! the answer under it, and the waiting thread, parked on the coordinator's
//! condition variable with the groups lock released, takes it.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::{GroupCommit, GroupSettings};

/// A member in a JoinGroup response (the leader's view of the group).
#[derive(Debug, Clone)]
pub(crate) struct JoinMember {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub metadata: Bytes,
}

/// Java `JoinGroupResult`.
#[derive(Debug, Clone)]
pub(crate) struct JoinResult {
    pub error: i16,
    pub member_id: String,
    pub generation: i32,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub leader: String,
    pub skip_assignment: bool,
    pub members: Vec<JoinMember>,
}

impl JoinResult {
    /// Java `JoinGroupResult(memberId, error)`: no generation (-1), no
    /// protocol, no leader.
    pub fn error(member_id: &str, error: i16) -> Self {
        Self {
            error,
            member_id: member_id.to_string(),
            generation: -1,
            protocol_type: None,
            protocol_name: None,
            leader: String::new(),
            skip_assignment: false,
            members: Vec::new(),
        }
    }
}

/// Java `SyncGroupResult`.
#[derive(Debug, Clone, Default)]
pub(crate) struct SyncResult {
    pub error: i16,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub assignment: Bytes,
}

impl SyncResult {
    pub fn error(error: i16) -> Self {
        Self {
            error,
            ..Self::default()
        }
    }
}

/// A handler's outcome: answered now, or held under a ticket.
#[derive(Debug)]
pub(crate) enum Held<T> {
    Now(T),
    Wait(u64),
}

/// What a waiting request is answered with.
#[derive(Debug)]
pub(crate) enum Answer {
    Join(JoinResult),
    Sync(SyncResult),
}

/// What [`Tickets::take`] finds.
#[derive(Debug)]
pub(crate) enum Taken {
    Waiting,
    Answered(Answer),
    Abandoned,
}

/// Tickets of waiting requests and the answers filed under them.
#[derive(Debug, Default)]
pub(crate) struct Tickets {
    next: u64,
    /// `None` until answered; a ticket missing here was abandoned.
    slots: HashMap<u64, Option<Answer>>,
}

impl Tickets {
    /// A new ticket for a request about to wait.
    pub fn issue(&mut self) -> u64 {
        self.next += 1;
        self.slots.insert(self.next, None);
        self.next
    }

    /// Files the answer to `ticket`; dropped if its waiter is gone (its
    /// connection closed, as Java's callback answers a closed channel).
    pub fn answer(&mut self, ticket: u64, answer: Answer) {
        if let Some(slot) = self.slots.get_mut(&ticket) {
            *slot = Some(answer);
        }
    }

    /// Forgets a ticket nobody will answer: Java overwrites or drops the
    /// callback and the request is never answered; here its waiter closes
    /// the connection instead of hanging until the cluster stops.
    pub fn abandon(&mut self, ticket: u64) {
        self.slots.remove(&ticket);
    }

    /// The waiter's view of its ticket; an answer is handed out once and
    /// the ticket retired.
    pub fn take(&mut self, ticket: u64) -> Taken {
        match self.slots.get(&ticket) {
            None => Taken::Abandoned,
            Some(None) => Taken::Waiting,
            Some(Some(_)) => match self.slots.remove(&ticket).flatten() {
                Some(a) => Taken::Answered(a),
                None => Taken::Abandoned,
            },
        }
    }
}

/// Coordinator-wide state beside the groups: the clock of the current
/// step, the tickets, the commit log and the settings.
#[derive(Debug)]
pub(crate) struct Env {
    pub now: Instant,
    pub tickets: Tickets,
    /// Every accepted commit per group, kept after the group is deleted.
    pub log: HashMap<String, Vec<GroupCommit>>,
    /// Orders offset writes as Java's `__consumer_offsets` log positions do.
    pub seq: u64,
    pub settings: GroupSettings,
}

impl Env {
    pub fn new(settings: GroupSettings) -> Self {
        Self {
            now: Instant::now(),
            tickets: Tickets::default(),
            log: HashMap::new(),
            seq: 0,
            settings,
        }
    }

    /// `now + d`, saturating far in the future.
    pub fn after(&self, d: Duration) -> Instant {
        self.now
            .checked_add(d)
            .unwrap_or_else(|| self.now + Duration::from_secs(86_400 * 365))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tickets_answer_once_and_drop_abandoned() {
        let mut t = Tickets::default();
        let a = t.issue();
        let b = t.issue();
        assert!(matches!(t.take(a), Taken::Waiting));
        t.answer(a, Answer::Sync(SyncResult::error(27)));
        assert!(matches!(t.take(a), Taken::Answered(Answer::Sync(r)) if r.error == 27));
        assert!(
            matches!(t.take(a), Taken::Abandoned),
            "retired after the first take"
        );
        t.abandon(b);
        t.answer(b, Answer::Sync(SyncResult::error(0)));
        assert!(matches!(t.take(b), Taken::Abandoned));
    }
}
