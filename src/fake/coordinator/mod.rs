//! Coordinators: FindCoordinator, the group coordinator of the classic
//! protocol (Java `GroupCoordinator`, `GroupMetadata`,
//! `GroupMetadataManager`) and the transaction coordinator (Java
//! `TransactionCoordinator`, `TransactionMetadata`).
//!
//! # The transaction coordinator
//!
//! | file | does |
//! | --- | --- |
//! | `txn.rs` | a transactional id's state machine, markers, timeouts |
//! | `txn_api.rs` | InitProducerId (transactional), AddPartitionsToTxn, AddOffsetsToTxn, EndTxn, DescribeTransactions, ListTransactions |
//! | `txn_offsets.rs` | TxnOffsetCommit, and ending staged offsets on a marker |
//!
//! Its state lives behind the cluster lock (`Shared::state`), with the
//! partitions it writes markers to; the groups lock is taken after it
//! when a marker ends staged offsets. A timer thread (`ks-fktxn`) aborts
//! transactions older than their timeout.
//!
//! # The group coordinator
//!
//! | file | does |
//! | --- | --- |
//! | `group.rs` | one group's state machine and its deadlines |
//! | `member.rs` | a member, the consumer subscription format |
//! | `tickets.rs` | answers to held JoinGroup / SyncGroup requests |
//! | `membership.rs` | JoinGroup, SyncGroup, Heartbeat, LeaveGroup |
//! | `offsets.rs` | OffsetCommit, OffsetFetch, OffsetDelete, the commit log |
//! | `admin.rs` | DescribeGroups, ListGroups, DeleteGroups |
//!
//! Every group lives behind one mutex ([`Groups`]), a leaf lock: nothing
//! else is locked while it is held (topic checks take `Shared::state`
//! before it). A JoinGroup or SyncGroup that must wait files a ticket and
//! parks its connection thread on the coordinator's condition variable,
//! which releases the mutex; whoever completes the rebalance answers the
//! ticket and wakes it. Java's purgatories (delayed join, sync and
//! heartbeat) are deadlines that every group request and a timer thread
//! (`ks-fkgroup`, one per cluster) fire when due, so sessions expire and
//! rebalances time out with no traffic at all.
//!
//! A group request sent to a broker that does not coordinate the group
//! ([`coordinator_for`]) gets NOT_COORDINATOR, as the Java broker answers
//! for a group whose `__consumer_offsets` partition it does not lead.

use std::collections::BTreeMap;
use std::fmt;
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::messages::find_coordinator_response::Coordinator;
use crate::messages::*;
use bytes::Bytes;
use parking_lot::{Condvar, Mutex};

use super::api::meta::{s, HOST};
use super::api::Ctx;
use super::cluster::Shared;
use super::codes;

mod admin;
mod group;
mod member;
mod membership;
mod offsets;
mod tickets;
mod txn;
mod txn_api;
mod txn_offsets;

pub(crate) use admin::{
    delete_groups, delete_groups_error, describe_groups, describe_groups_error, list_groups,
};
pub(crate) use membership::{
    heartbeat, join_group, join_group_error, leave_group, leave_group_error, sync_group,
    sync_group_error,
};
pub(crate) use offsets::{
    offset_commit, offset_commit_error, offset_delete, offset_delete_error, offset_fetch,
    offset_fetch_error,
};

pub(crate) use txn::{verify as verify_txn, TxnSettings, Txns};
pub use txn::{TxnSnapshot, TxnState};
pub(crate) use txn_api::{
    add_offsets_to_txn, add_partitions_to_txn, add_partitions_to_txn_error, describe_transactions,
    describe_transactions_error, end_txn, init_transactional, list_transactions,
};
pub(crate) use txn_offsets::{txn_offset_commit, txn_offset_commit_error};

use group::Group;
use tickets::{Answer, Env, Taken};

/// Partitions of Java's `__consumer_offsets` / `__transaction_state`.
const COORDINATOR_PARTITIONS: i32 = 50;

/// Java `String.hashCode` over UTF-16 code units.
fn java_hash(key: &str) -> i32 {
    key.encode_utf16()
        .fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(i32::from(c)))
}

/// The partition of Java's `__consumer_offsets` (or `__transaction_state`)
/// that holds `key`: `abs(hash) % 50` (Java `GroupCoordinator.partitionFor`).
pub(crate) fn offsets_partition(key: &str) -> i32 {
    (java_hash(key) & 0x7fff_ffff) % COORDINATOR_PARTITIONS
}

/// The broker coordinating `key` by its hash: the leader of its internal
/// topic partition, those partitions being spread round-robin over the
/// brokers.
pub(crate) fn coordinator_for(key: &str, brokers: i32) -> i32 {
    offsets_partition(key) % brokers.max(1)
}

/// What a coordinator coordinates (FindCoordinator's `key_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum CoordinatorType {
    /// A consumer group (key type 0).
    Group,
    /// A transactional id (key type 1).
    Transaction,
}

/// The broker coordinating `key`: where a test moved it
/// ([`Cluster::move_coordinator`](super::Cluster::move_coordinator)),
/// else by its hash.
pub(crate) fn coordinator_of(shared: &Shared, kind: CoordinatorType, key: &str) -> i32 {
    shared
        .moved_coordinators
        .lock()
        .get(&(kind, key.to_string()))
        .copied()
        .unwrap_or_else(|| coordinator_for(key, shared.settings.brokers))
}

/// FindCoordinator for groups (0) and transactions (1): one key before
/// v4, a batch of keys from v4 (KIP-699).
pub(crate) fn find(
    ctx: &Ctx<'_>,
    req: &FindCoordinatorRequest,
    version: i16,
) -> FindCoordinatorResponse {
    let shared = ctx.shared;
    let answer = |key: &str| -> Coordinator {
        let c = Coordinator::default().with_key(s(key));
        let kind = match req.key_type {
            0 => CoordinatorType::Group,
            1 => CoordinatorType::Transaction,
            other => {
                return c
                    .with_error_code(codes::INVALID_REQUEST)
                    .with_error_message(Some(s(format!("Unsupported key type {other}"))))
                    .with_node_id(BrokerId(-1))
                    .with_port(-1);
            }
        };
        let node = coordinator_of(shared, kind, key);
        if !shared.alive(node) {
            return c
                .with_error_code(codes::COORDINATOR_NOT_AVAILABLE)
                .with_node_id(BrokerId(-1))
                .with_port(-1);
        }
        c.with_node_id(BrokerId(node))
            .with_host(s(HOST))
            .with_port(shared.port(node))
    };
    if version >= 4 {
        let coordinators = req
            .coordinator_keys
            .iter()
            .map(|k| answer(k.as_str()))
            .collect();
        return FindCoordinatorResponse::default().with_coordinators(coordinators);
    }
    let c = answer(req.key.as_str());
    let mut resp = FindCoordinatorResponse::default()
        .with_error_code(c.error_code)
        .with_node_id(c.node_id)
        .with_host(c.host)
        .with_port(c.port);
    if version >= 1 {
        resp.error_message = c.error_message;
    }
    resp
}

/// FindCoordinator with `code` for every key.
pub(crate) fn find_error(
    req: &FindCoordinatorRequest,
    version: i16,
    code: i16,
) -> FindCoordinatorResponse {
    if version >= 4 {
        let coordinators = req
            .coordinator_keys
            .iter()
            .map(|k| {
                Coordinator::default()
                    .with_key(k.clone())
                    .with_error_code(code)
                    .with_node_id(BrokerId(-1))
                    .with_port(-1)
            })
            .collect();
        return FindCoordinatorResponse::default().with_coordinators(coordinators);
    }
    FindCoordinatorResponse::default()
        .with_error_code(code)
        .with_node_id(BrokerId(-1))
        .with_port(-1)
}

/// Settings of the group coordinator (see the `group_*` options of
/// [`ClusterBuilder`](super::ClusterBuilder)).
#[derive(Debug, Clone, Copy)]
pub(crate) struct GroupSettings {
    /// Java `group.min.session.timeout.ms`.
    pub min_session_timeout: Duration,
    /// Java `group.max.session.timeout.ms`.
    pub max_session_timeout: Duration,
    /// Java `group.initial.rebalance.delay.ms`.
    pub initial_rebalance_delay: Duration,
}

impl Default for GroupSettings {
    /// Java's bounds (6 s, 30 min); no initial rebalance delay (Java: 3 s),
    /// so a test's first join is answered at once.
    fn default() -> Self {
        Self {
            min_session_timeout: Duration::from_secs(6),
            max_session_timeout: Duration::from_secs(30 * 60),
            initial_rebalance_delay: Duration::ZERO,
        }
    }
}

/// The state of a classic group (Java `GroupState`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum GroupState {
    /// No members (a group that only stores offsets, or whose members left).
    Empty,
    /// Waiting for the members to (re)join.
    PreparingRebalance,
    /// Waiting for the leader's assignment (SyncGroup).
    CompletingRebalance,
    /// Every member has its assignment.
    Stable,
    /// Deleted.
    Dead,
}

impl GroupState {
    /// The name DescribeGroups and ListGroups report, as Java spells it.
    pub fn name(self) -> &'static str {
        match self {
            GroupState::Empty => "Empty",
            GroupState::PreparingRebalance => "PreparingRebalance",
            GroupState::CompletingRebalance => "CompletingRebalance",
            GroupState::Stable => "Stable",
            GroupState::Dead => "Dead",
        }
    }
}

impl fmt::Display for GroupState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A group as [`Cluster::group_state`](super::Cluster::group_state) shows it.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct GroupSnapshot {
    /// The group's state.
    pub state: GroupState,
    /// The generation, 0 before the first rebalance completes.
    pub generation: i32,
    /// The protocol type of the members (`consumer` for consumers).
    pub protocol_type: Option<String>,
    /// The protocol (assignor) selected for this generation.
    pub protocol: Option<String>,
    /// The leader's member id.
    pub leader: Option<String>,
    /// The members in join order.
    pub members: Vec<MemberSnapshot>,
}

/// A member of a [`GroupSnapshot`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct MemberSnapshot {
    /// The member id the coordinator gave it.
    pub member_id: String,
    /// The static member's `group.instance.id` (KIP-345).
    pub instance_id: Option<String>,
    /// The request header's client id of its JoinGroup.
    pub client_id: String,
    /// The assignment the leader gave it, empty before the first SyncGroup.
    pub assignment: Bytes,
    /// Its session timeout.
    pub session_timeout: Duration,
    /// Its rebalance timeout.
    pub rebalance_timeout: Duration,
}

/// One accepted offset commit, from
/// [`Cluster::group_commits`](super::Cluster::group_commits).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct GroupCommit {
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: i32,
    /// The committed offset.
    pub offset: i64,
    /// The committed leader epoch, -1 if none.
    pub leader_epoch: i32,
    /// The committed metadata string.
    pub metadata: String,
    /// The committing member, empty for a simple (admin) commit.
    pub member_id: String,
    /// The generation the commit named, -1 for a simple commit.
    pub generation: i32,
    /// When the coordinator accepted it.
    pub time: Instant,
}

/// Everything behind the groups lock.
#[derive(Debug)]
pub(crate) struct Registry {
    pub groups: BTreeMap<String, Group>,
    pub env: Env,
}

struct Core {
    state: Mutex<Registry>,
    /// Wakes held requests and the timer after every change.
    cv: Condvar,
    closed: AtomicBool,
}

/// The group coordinator of a cluster (all brokers share it; each answers
/// only for the groups [`coordinator_for`] gives it).
pub(crate) struct Groups {
    core: Arc<Core>,
    timer: Mutex<Option<JoinHandle<()>>>,
}

/// How often a held request checks whether its broker is stopping.
const WAIT_POLL: Duration = Duration::from_millis(50);
/// The longest the timer sleeps without a deadline in sight.
const TIMER_NAP: Duration = Duration::from_millis(100);

impl Groups {
    pub fn new(settings: GroupSettings) -> Self {
        Self {
            core: Arc::new(Core {
                state: Mutex::new(Registry {
                    groups: BTreeMap::new(),
                    env: Env::new(settings),
                }),
                cv: Condvar::new(),
                closed: AtomicBool::new(false),
            }),
            timer: Mutex::new(None),
        }
    }

    /// Starts the timer thread (`ks-fkgroup`).
    pub fn start(&self) -> io::Result<()> {
        let core = Arc::clone(&self.core);
        let handle = std::thread::Builder::new()
            .name("ks-fkgroup".into())
            .spawn(move || timer_loop(&core))?;
        *self.timer.lock() = Some(handle);
        Ok(())
    }

    /// Stops the timer thread and releases every held request; idempotent.
    pub fn stop(&self) {
        {
            let _st = self.core.state.lock();
            self.core.closed.store(true, Ordering::Release);
            self.core.cv.notify_all();
        }
        if let Some(h) = self.timer.lock().take() {
            let _ = h.join();
        }
    }

    /// Runs `f` on the groups at the current instant, firing what is due
    /// before and after (so a zero initial delay completes within the
    /// request), then wakes held requests.
    pub fn run<R>(&self, f: impl FnOnce(&mut BTreeMap<String, Group>, &mut Env) -> R) -> R {
        let mut st = self.core.state.lock();
        let Registry { groups, env } = &mut *st;
        env.now = Instant::now();
        sweep(groups, env);
        let r = f(groups, env);
        sweep(groups, env);
        self.core.cv.notify_all();
        r
    }

    /// Waits for the answer to `ticket`; `None` when the ticket was
    /// abandoned or the broker or cluster stops first (the connection
    /// then closes without an answer).
    ///
    /// # Blocking
    ///
    /// On the coordinator's condition variable, with the groups lock
    /// released, until answered; checks the stop flags every 50 ms.
    pub fn wait(&self, ctx: &Ctx<'_>, ticket: u64) -> Option<Answer> {
        let core = &*self.core;
        let mut st = core.state.lock();
        loop {
            match st.env.tickets.take(ticket) {
                Taken::Answered(a) => return Some(a),
                Taken::Abandoned => return None,
                Taken::Waiting => {}
            }
            let stopping = ctx.stop.load(Ordering::Acquire)
                || ctx.shared.closed.load(Ordering::Acquire)
                || core.closed.load(Ordering::Acquire);
            if stopping {
                st.env.tickets.abandon(ticket);
                return None;
            }
            core.cv.wait_for(&mut st, WAIT_POLL);
        }
    }
}

fn sweep(groups: &mut BTreeMap<String, Group>, env: &mut Env) {
    for g in groups.values_mut() {
        g.sweep(env);
    }
}

/// The timer thread: fires deadlines when due, whether or not requests
/// arrive, and sleeps until the next one (woken early by every change).
fn timer_loop(core: &Core) {
    let mut st = core.state.lock();
    while !core.closed.load(Ordering::Acquire) {
        let Registry { groups, env } = &mut *st;
        env.now = Instant::now();
        sweep(groups, env);
        let now = env.now;
        let nap = groups
            .values()
            .filter_map(Group::next_deadline)
            .min()
            .map_or(TIMER_NAP, |d| d.saturating_duration_since(now))
            .clamp(Duration::from_millis(1), TIMER_NAP);
        core.cv.notify_all();
        core.cv.wait_for(&mut st, nap);
    }
}

/// Java `GroupCoordinator.validateGroupStatus`: an empty group id is
/// INVALID_GROUP_ID except for the offset and admin APIs
/// (`allow_empty`), and a group this broker does not coordinate is
/// NOT_COORDINATOR.
pub(crate) fn check_group(ctx: &Ctx<'_>, group_id: &str, allow_empty: bool) -> Result<(), i16> {
    if group_id.is_empty() && !allow_empty {
        return Err(codes::INVALID_GROUP_ID);
    }
    if coordinator_of(ctx.shared, CoordinatorType::Group, group_id) != ctx.broker {
        return Err(codes::NOT_COORDINATOR);
    }
    Ok(())
}

/// Starts the transaction timeout thread (`ks-fktxn`): every
/// `transaction_abort_interval` it aborts the transactions older than their
/// timeout (Java's `transaction-abort` scheduled task). It stops with the
/// cluster ([`Cluster::close`](super::Cluster::close) joins it).
pub(crate) fn start_txn_timer(shared: &Arc<Shared>) -> io::Result<()> {
    let weak = Arc::downgrade(shared);
    let interval = shared.settings.txn.abort_interval;
    let never = AtomicBool::new(false);
    let handle = std::thread::Builder::new()
        .name("ks-fktxn".into())
        .spawn(move || loop {
            let Some(shared) = weak.upgrade() else {
                return;
            };
            if shared.sleep(interval, &never) {
                return;
            }
            let aborted = {
                let mut st = shared.lock();
                txn::abort_timed_out(&mut st, &shared.groups, Instant::now())
            };
            if aborted > 0 {
                shared.notify_data();
            }
        })?;
    *shared.txn_timer.lock() = Some(handle);
    Ok(())
}

/// Stops the transaction timeout thread (the cluster is closed).
pub(crate) fn stop_txn_timer(shared: &Shared) {
    let handle = shared.txn_timer.lock().take();
    if let Some(h) = handle {
        if h.thread().id() != std::thread::current().id() {
            let _ = h.join();
        }
    }
}

/// Test-facing views and knobs of the transaction coordinator.
impl super::Cluster {
    /// The state of `transactional_id` at its coordinator, or `None` if no
    /// InitProducerId created it.
    pub fn transaction(&self, transactional_id: &str) -> Option<TxnSnapshot> {
        let st = self.shared.lock();
        st.txns
            .by_id
            .get(transactional_id)
            .map(txn::TxnMeta::snapshot)
    }

    /// The last stable offset of a partition: the first offset of its
    /// earliest open transaction, else its high watermark; `None` for an
    /// unknown partition.
    pub fn last_stable_offset(&self, topic: &str, partition: i32) -> Option<i64> {
        let st = self.shared.lock();
        st.topics
            .get(topic)
            .and_then(|t| t.partition(partition))
            .map(|p| p.last_stable_offset())
    }

    /// Holds (`true`) or releases (`false`) transaction markers. While
    /// held, EndTxn and the coordinator's own aborts leave the transaction
    /// in PrepareCommit / PrepareAbort with no markers written, as a Java
    /// coordinator is while its markers are in flight: AddPartitionsToTxn
    /// and InitProducerId answer CONCURRENT_TRANSACTIONS, and the last
    /// stable offset stays put. Releasing writes every held marker.
    pub fn hold_txn_markers(&self, hold: bool) {
        {
            let mut st = self.shared.lock();
            st.txns.hold_markers = hold;
            if !hold {
                txn::complete_all(&mut st, &self.shared.groups);
            }
        }
        self.shared.notify_data();
    }

    /// Moves the coordinator of `key` (a group id or a transactional id)
    /// to broker `to`, as a leader change of its internal topic partition
    /// would: from then on FindCoordinator names `to`, the old broker
    /// answers NOT_COORDINATOR for the key's requests, and a transaction's
    /// coordinator epoch goes up (its markers carry the new one). The
    /// coordinator state itself (members, offsets, transactions) moves
    /// with it, as Java's new coordinator loads it from the log.
    ///
    /// # Errors
    ///
    /// When broker `to` does not exist.
    pub fn move_coordinator(&self, kind: CoordinatorType, key: &str, to: i32) -> io::Result<()> {
        if to < 0 || to >= self.shared.settings.brokers {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("broker {to}"),
            ));
        }
        self.shared
            .moved_coordinators
            .lock()
            .insert((kind, key.to_string()), to);
        if kind == CoordinatorType::Transaction {
            let mut st = self.shared.lock();
            if let Some(m) = st.txns.by_id.get_mut(key) {
                m.coordinator_epoch += 1;
            }
        }
        Ok(())
    }

    /// The broker coordinating `key` now.
    pub fn coordinator(&self, kind: CoordinatorType, key: &str) -> i32 {
        coordinator_of(&self.shared, kind, key)
    }
}

/// Test-facing views of the group coordinator.
impl super::Cluster {
    /// Every offset commit the coordinator accepted for `group`, in order,
    /// including those of a group since deleted; empty for an unknown group.
    pub fn group_commits(&self, group: &str) -> Vec<GroupCommit> {
        self.shared
            .groups
            .run(|_, env| env.log.get(group).cloned().unwrap_or_default())
    }

    /// The current state of `group`, or `None` if it does not exist.
    pub fn group_state(&self, group: &str) -> Option<GroupSnapshot> {
        self.shared.groups.run(|groups, _| {
            let g = groups.get(group)?;
            Some(GroupSnapshot {
                state: g.state,
                generation: g.generation,
                protocol_type: g.protocol_type.clone(),
                protocol: g.protocol_name.clone(),
                leader: g.leader.clone(),
                members: g
                    .members
                    .iter()
                    .map(|m| MemberSnapshot {
                        member_id: m.id.clone(),
                        instance_id: m.instance_id.clone(),
                        client_id: m.client_id.clone(),
                        assignment: m.assignment.clone(),
                        session_timeout: m.session_timeout,
                        rebalance_timeout: m.rebalance_timeout,
                    })
                    .collect(),
            })
        })
    }

    /// Stages a transactional offset for `group` as a TxnOffsetCommit of
    /// producer `producer_id` would (Java `prepareTxnOffsetCommit`): until
    /// [`complete_txn_offset_commit`](Self::complete_txn_offset_commit),
    /// an OffsetFetch with `require_stable` answers UNSTABLE_OFFSET_COMMIT
    /// for the partition. Creates the group (Empty) if needed.
    pub fn prepare_txn_offset_commit(
        &self,
        group: &str,
        producer_id: i64,
        topic: &str,
        partition: i32,
        offset: i64,
    ) {
        self.shared.groups.run(|groups, env| {
            offsets::prepare_txn(
                groups,
                env,
                group,
                producer_id,
                (topic, partition),
                (offset, -1, ""),
            )
        })
    }

    /// Ends producer `producer_id`'s staged offsets in `group`, as the
    /// transaction's marker would (Java `completePendingTxnOffsetCommit`):
    /// on commit they become the committed offsets (and join the commit
    /// log), on abort they are dropped.
    pub fn complete_txn_offset_commit(&self, group: &str, producer_id: i64, commit: bool) {
        self.shared
            .groups
            .run(|groups, env| offsets::complete_txn(groups, env, group, producer_id, commit))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_string_hash() {
        // Values from Java's "...".hashCode().
        assert_eq!(java_hash(""), 0);
        assert_eq!(java_hash("a"), 97);
        assert_eq!(java_hash("group"), 98_629_247);
        assert_eq!(java_hash("hello world"), 1_794_106_052);
        assert!((0..3).contains(&coordinator_for("any", 3)));
    }
}
