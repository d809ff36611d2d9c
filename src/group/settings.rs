//! The group member's own settings: every consumer-group option of the
//! builder, with kgo's defaults. `config` fills them in and validates them.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::balancer::{cooperative_sticky_balancer, GroupBalancer};
use crate::consumer::Offset;
use crate::error::{Error, Result};

/// kgo's `AdjustFetchOffsetsFn`: called with the offsets a join is about to
/// start from (committed, else the reset offset), returning the offsets to
/// use.
pub(crate) type AdjustOffsetsFn = Arc<
    dyn Fn(
            BTreeMap<String, BTreeMap<i32, Offset>>,
        ) -> Result<BTreeMap<String, BTreeMap<i32, Offset>>>
        + Send
        + Sync,
>;

/// What autocommitting commits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AutoCommit {
    /// Nothing: the user commits (kgo's `DisableAutoCommit`).
    Off,
    /// What was polled before the latest poll (kgo's default).
    Previous,
    /// Everything polled (kgo's `GreedyAutoCommit`).
    Greedy,
    /// Only what `mark_commit_records` marked (kgo's `AutoCommitMarks`).
    Marks,
}

/// The group options, composed by `config`.
#[derive(Clone)]
pub(crate) struct GroupSettings {
    /// The group to join; empty for no group.
    pub(crate) group: String,
    pub(crate) balancers: Vec<Arc<dyn GroupBalancer>>,
    pub(crate) session_timeout: Duration,
    pub(crate) rebalance_timeout: Duration,
    pub(crate) heartbeat_interval: Duration,
    pub(crate) instance_id: Option<String>,
    pub(crate) protocol: String,
    pub(crate) require_stable: bool,
    pub(crate) autocommit: AutoCommit,
    pub(crate) autocommit_interval: Duration,
    pub(crate) adjust_offsets: Option<AdjustOffsetsFn>,
    /// Whether the user set an OnPartitionsRevoked (which replaces the
    /// default blocking commit on revoke).
    pub(crate) user_revoke: bool,
    /// OnPartitionsLostAsRevoked: lost partitions go to the revoke callback.
    pub(crate) lost_as_revoked: bool,
}

impl Default for GroupSettings {
    fn default() -> GroupSettings {
        GroupSettings {
            group: String::new(),
            balancers: vec![cooperative_sticky_balancer()],
            session_timeout: Duration::from_secs(45),
            rebalance_timeout: Duration::from_secs(60),
            heartbeat_interval: Duration::from_secs(3),
            instance_id: None,
            protocol: "consumer".to_string(),
            require_stable: false,
            autocommit: AutoCommit::Previous,
            autocommit_interval: Duration::from_secs(5),
            adjust_offsets: None,
            user_revoke: false,
            lost_as_revoked: false,
        }
    }
}

impl fmt::Debug for GroupSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.balancers.iter().map(|b| b.protocol_name()).collect();
        f.debug_struct("GroupSettings")
            .field("group", &self.group)
            .field("balancers", &names)
            .field("session_timeout", &self.session_timeout)
            .field("rebalance_timeout", &self.rebalance_timeout)
            .field("heartbeat_interval", &self.heartbeat_interval)
            .field("instance_id", &self.instance_id)
            .field("protocol", &self.protocol)
            .field("require_stable", &self.require_stable)
            .field("autocommit", &self.autocommit)
            .field("autocommit_interval", &self.autocommit_interval)
            .finish_non_exhaustive()
    }
}

impl GroupSettings {
    /// Whether the client consumes in a group.
    pub(crate) fn enabled(&self) -> bool {
        !self.group.is_empty()
    }

    /// Checks bounds and combinations; `set_without_group` names a group
    /// option set while no group was (a config error, as in kgo).
    pub(crate) fn validate(&self, set_without_group: Option<&str>) -> Result<()> {
        if let Some(opt) = set_without_group.filter(|_| !self.enabled()) {
            return Err(Error::config(format!(
                "{opt}: a group option needs consumer_group to be set"
            )));
        }
        if !self.enabled() {
            return Ok(());
        }
        if self.balancers.is_empty() {
            return Err(Error::config("balancers: at least one balancer is needed"));
        }
        let coop = self.balancers.iter().filter(|b| b.is_cooperative()).count();
        if coop != 0 && coop != self.balancers.len() {
            // KIP-429: a member cannot offer both kinds; the group would
            // pick either and the revocation protocols differ.
            return Err(Error::config(
                "balancers: cooperative and eager balancers cannot be mixed",
            ));
        }
        let ms = |d: Duration| d.as_millis() <= i32::MAX as u128;
        if !ms(self.session_timeout)
            || !ms(self.rebalance_timeout)
            || self.session_timeout.is_zero()
        {
            return Err(Error::config(
                "session_timeout / rebalance_timeout: must be above 0 and at most i32::MAX ms",
            ));
        }
        if self.heartbeat_interval.is_zero() || self.heartbeat_interval >= self.session_timeout {
            return Err(Error::config(format!(
                "heartbeat_interval: {:?} must be above 0 and below the session timeout ({:?})",
                self.heartbeat_interval, self.session_timeout
            )));
        }
        if self.autocommit != AutoCommit::Off && self.autocommit_interval.is_zero() {
            return Err(Error::config("autocommit_interval: must be above 0"));
        }
        if self.instance_id.as_deref() == Some("") {
            return Err(Error::config("instance_id: must not be empty"));
        }
        Ok(())
    }

    /// Whether the chosen balancers are cooperative (all are, or none).
    pub(crate) fn cooperative(&self) -> bool {
        self.balancers.first().is_some_and(|b| b.is_cooperative())
    }
}
