//! Consumer-group options (kgo's `GroupOpt`s). The callbacks that receive
//! the client (`on_partitions_assigned`, ...) are set in `client/group.rs`,
//! the layer that can name the client; they are carried here opaque.

use std::any::Any;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use super::{ConfigBuilder, FromConfig};
use crate::consumer::Offset;
use crate::error::Result;
use crate::group::balancer::GroupBalancer;
use crate::group::settings::AutoCommit;

/// A callback of the client layer, stored without its type (config cannot
/// name the client); `client/group.rs` puts it in and takes it out.
pub(crate) type Opaque = Arc<dyn Any + Send + Sync>;

/// The client-receiving group callbacks, opaque to config.
#[derive(Clone, Default)]
pub(crate) struct GroupCallbacks {
    pub(crate) on_assigned: Option<Opaque>,
    pub(crate) on_revoked: Option<Opaque>,
    pub(crate) on_lost: Option<Opaque>,
    pub(crate) on_autocommit: Option<Opaque>,
}

impl<T: FromConfig> ConfigBuilder<T> {
    /// Sets the consumer group to join and consume in (kgo's
    /// `ConsumerGroup`); required by every other group option. The topics
    /// of [`consume_topics`](Self::consume_topics) (or
    /// [`consume_regex`](Self::consume_regex)) are the subscription; the
    /// group's leader splits their partitions among the members.
    ///
    /// By default the group autocommits every 5 s what was *previously*
    /// polled (see [`auto_commit_interval`](Self::auto_commit_interval)).
    ///
    /// Corresponds to Java `group.id`.
    pub fn consumer_group(mut self, group: impl Into<String>) -> Self {
        self.cfg.group.group = group.into();
        self
    }

    /// Sets the balancers, in order of preference (kgo's `Balancers`);
    /// Kafka picks the first one every member supports. Defaults to
    /// `[cooperative_sticky_balancer()]`. Cooperative and eager balancers
    /// cannot be mixed (KIP-429).
    ///
    /// Corresponds to Java `partition.assignment.strategy`.
    pub fn balancers(
        mut self,
        balancers: impl IntoIterator<Item = Arc<dyn GroupBalancer>>,
    ) -> Self {
        self.cfg.group.balancers = balancers.into_iter().collect();
        self.mark_group_option("balancers")
    }

    /// Sets how long members may take to rejoin once a rebalance began
    /// (kgo's `RebalanceTimeout`). Defaults to 60 s.
    ///
    /// Corresponds to Java `max.poll.interval.ms` / `rebalance.timeout.ms`.
    pub fn rebalance_timeout(mut self, t: Duration) -> Self {
        self.cfg.group.rebalance_timeout = t;
        self.mark_group_option("rebalance_timeout")
    }

    /// Sets how often the member heartbeats (kgo's `HeartbeatInterval`).
    /// Defaults to 3 s; must be below the session timeout (a third of it is
    /// the usual choice).
    ///
    /// Corresponds to Java `heartbeat.interval.ms`.
    pub fn heartbeat_interval(mut self, t: Duration) -> Self {
        self.cfg.group.heartbeat_interval = t;
        self.mark_group_option("heartbeat_interval")
    }

    /// Makes the member static with this instance id (kgo's `InstanceID`,
    /// KIP-345): a restart within the session timeout rejoins without a
    /// rebalance, and closing does not leave the group.
    ///
    /// Corresponds to Java `group.instance.id`.
    pub fn instance_id(mut self, id: impl Into<String>) -> Self {
        self.cfg.group.instance_id = Some(id.into());
        self.mark_group_option("instance_id")
    }

    /// Sets the group protocol type (kgo's `GroupProtocol`). Defaults to
    /// `consumer`; change it only with your own join and sync logic.
    pub fn group_protocol(mut self, protocol: impl Into<String>) -> Self {
        self.cfg.group.protocol = protocol.into();
        self.mark_group_option("group_protocol")
    }

    /// Fetches committed offsets with `require_stable` (kgo's
    /// `RequireStableFetchOffsets`, KIP-447, Kafka 2.5+): partitions with
    /// pending transactional offsets wait until the transaction ends.
    pub fn require_stable_fetch_offsets(mut self) -> Self {
        self.cfg.group.require_stable = true;
        self.mark_group_option("require_stable_fetch_offsets")
    }

    /// Turns autocommitting off (kgo's `DisableAutoCommit`); commit with
    /// [`commit_records`](crate::Client::commit_records) or
    /// [`commit_uncommitted_offsets`](crate::Client::commit_uncommitted_offsets),
    /// ideally in an `on_partitions_revoked` callback.
    pub fn disable_auto_commit(mut self) -> Self {
        self.cfg.group.autocommit = AutoCommit::Off;
        self.mark_group_option("disable_auto_commit")
    }

    /// Sets how often to autocommit (kgo's `AutoCommitInterval`). Defaults
    /// to 5 s.
    ///
    /// Corresponds to Java `auto.commit.interval.ms`.
    pub fn auto_commit_interval(mut self, t: Duration) -> Self {
        self.cfg.group.autocommit_interval = t;
        self.mark_group_option("auto_commit_interval")
    }

    /// Autocommits everything polled, not only what was previously polled
    /// (kgo's `GreedyAutoCommit`); a crash can then lose records in
    /// processing.
    pub fn greedy_auto_commit(mut self) -> Self {
        self.cfg.group.autocommit = AutoCommit::Greedy;
        self.mark_group_option("greedy_auto_commit")
    }

    /// Autocommits only what [`mark_commit_records`](crate::Client::mark_commit_records)
    /// marked (kgo's `AutoCommitMarks`).
    pub fn auto_commit_marks(mut self) -> Self {
        self.cfg.group.autocommit = AutoCommit::Marks;
        self.mark_group_option("auto_commit_marks")
    }

    /// Adjusts where a join starts consuming (kgo's `AdjustFetchOffsetsFn`):
    /// called with the committed offsets (or the reset offset) of newly
    /// assigned partitions, on the group thread, before fetching begins.
    /// Clear the epoch (`with_epoch(-1)`) of an offset you move, or data-loss
    /// detection may misfire.
    pub fn adjust_fetch_offsets_fn(
        mut self,
        f: impl Fn(
                BTreeMap<String, BTreeMap<i32, Offset>>,
            ) -> Result<BTreeMap<String, BTreeMap<i32, Offset>>>
            + Send
            + Sync
            + 'static,
    ) -> Self {
        self.cfg.group.adjust_offsets = Some(Arc::new(f));
        self.mark_group_option("adjust_fetch_offsets_fn")
    }

    /// Lets the client layer store a callback it defines.
    pub(crate) fn with_group_callbacks(mut self, f: impl FnOnce(&mut GroupCallbacks)) -> Self {
        f(&mut self.cfg.group_callbacks);
        self
    }

    /// The configuration being built, for options set by the client layer.
    pub(crate) fn cfg_mut(&mut self) -> &mut super::Config {
        &mut self.cfg
    }

    /// Remembers that a group option was set, so `build()` can say which one
    /// needs `consumer_group`.
    pub(crate) fn mark_group_option(mut self, name: &'static str) -> Self {
        self.cfg.group_option_set.get_or_insert(name);
        self
    }
}
