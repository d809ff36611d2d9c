//! The group member: one `ks-group` thread per client that consumes in a
//! group (Java's `ConsumerCoordinator`, kgo's `groupConsumer`).
//!
//! ```text
//!  ks-group                                   callers
//!  --------                                   -------
//!  JoinGroup (MEMBER_ID_REQUIRED, KIP-394)    poll_fetches -> note_polled: head = dirty,
//!  leader: balance the members                               dirty = what this poll returned
//!  SyncGroup -> assignment                    commit_* -> OffsetCommit under commit_lock
//!  revoke what moved (callbacks)              leave_group / force_rebalance -> Cmd
//!  OffsetFetch -> adjust -> consumer.assign
//!  heartbeat every heartbeat_interval, autocommit every autocommit_interval,
//!  rejoin on REBALANCE_IN_PROGRESS, a changed subscription or (leader)
//!  grown partition counts; UNKNOWN_MEMBER_ID / ILLEGAL_GENERATION lose
//!  everything; FENCED_INSTANCE_ID is fatal (reported through poll)
//! ```
//!
//! Rebalance callbacks run on `ks-group`, one at a time, never while a lock
//! of the group is held, so they may call the client (commit, pause, poll,
//! produce). Commits run on the committing thread under `commit_lock`, so a
//! commit from a callback cannot deadlock with the member loop.
//!
//! Eager protocols revoke everything before rejoining; cooperative ones
//! (KIP-429) keep consuming through the rebalance, revoke only what moved
//! away, and rejoin once more after revoking so the moved partitions can be
//! assigned.
//!
//! Lock order: `state` and `offsets` are leaves; `commit_lock` is taken
//! before either and never while calling user code.

pub mod balancer;
mod commit;
mod member;
pub(crate) mod settings;
mod txn;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use parking_lot::Mutex;

use crate::cluster::Cluster;
use crate::consumer::{Consumer, EpochOffset};
use crate::error::{Error, Result};
use crate::logger::klog;
use crate::messages::leave_group_request::MemberIdentity;
use crate::messages::{
    GroupId, LeaveGroupRequest, OffsetCommitRequest, OffsetCommitResponse, StrBytes,
};

pub(crate) use commit::CommitDone;
pub(crate) use settings::GroupSettings;
pub(crate) use txn::TxnProducer;

/// A topic's partitions, as callbacks and assignments see them.
pub(crate) type Partitions = BTreeMap<String, Vec<i32>>;

/// What the member tells the layer above it: the user's callbacks, which
/// receive the client (the engine cannot name it).
pub(crate) trait GroupHandler: Send + Sync {
    /// Partitions were assigned (kgo's `OnPartitionsAssigned`).
    fn assigned(&self, partitions: &Partitions);
    /// Partitions are being revoked (kgo's `OnPartitionsRevoked`); called
    /// only when the user set one (else the default commit runs).
    fn revoked(&self, partitions: &Partitions);
    /// Partitions were lost (kgo's `OnPartitionsLost`).
    fn lost(&self, partitions: &Partitions);
    /// An autocommit finished (kgo's `AutoCommitCallback`); the default logs
    /// failures.
    fn autocommitted(
        &self,
        req: &OffsetCommitRequest,
        res: std::result::Result<&OffsetCommitResponse, &Error>,
    );
}

/// Commands for the member loop.
pub(crate) enum Cmd {
    /// Leave the group (dynamic members) and stop.
    Leave,
    /// Rejoin now (kgo's `ForceRebalance`).
    Rebalance,
    /// An asynchronous commit (kgo's `CommitOffsets`), done on `ks-group`.
    Commit(BTreeMap<String, BTreeMap<i32, EpochOffset>>, CommitDone),
}

/// The member's identity in the current generation.
#[derive(Debug, Clone, Default)]
pub(crate) struct Generation {
    pub(crate) member_id: String,
    pub(crate) generation: i32,
}

/// One partition's commit bookkeeping (kgo's `uncommit`).
#[derive(Debug, Clone, Copy, Default)]
struct PartOffsets {
    /// What the group has committed (fetched on assignment or committed by us).
    committed: Option<EpochOffset>,
    /// What autocommit may commit: everything polled before the latest poll,
    /// or what was marked.
    head: Option<EpochOffset>,
    /// Everything polled so far.
    dirty: Option<EpochOffset>,
    /// The first offset polled in this assignment, for a partition without
    /// a commit: where an aborted transaction rewinds to.
    start: Option<EpochOffset>,
}

/// The group engine shared by `ks-group` and the callers.
pub(crate) struct Group {
    cluster: Arc<Cluster>,
    consumer: Arc<Consumer>,
    cfg: GroupSettings,
    handler: Arc<dyn GroupHandler>,
    generation: Mutex<Generation>,
    offsets: Mutex<BTreeMap<(String, i32), PartOffsets>>,
    commit_lock: Mutex<()>,
    cmds: Sender<Cmd>,
    /// Disconnects when the member thread exits.
    done: Receiver<()>,
    closing: AtomicBool,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for Group {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Group")
            .field("group", &self.cfg.group)
            .finish_non_exhaustive()
    }
}

impl Group {
    /// Starts the member thread `ks-group`.
    pub(crate) fn start(
        cluster: Arc<Cluster>,
        consumer: Arc<Consumer>,
        cfg: GroupSettings,
        handler: Arc<dyn GroupHandler>,
    ) -> Result<Arc<Group>> {
        let (tx, rx) = crossbeam_channel::unbounded();
        let (done_tx, done_rx) = crossbeam_channel::bounded::<()>(0);
        let on_start = cluster.settings().on_thread_start.clone();
        let g = Arc::new(Group {
            cluster,
            consumer,
            cfg,
            handler,
            generation: Mutex::new(Generation {
                member_id: String::new(),
                generation: -1,
            }),
            offsets: Mutex::new(BTreeMap::new()),
            commit_lock: Mutex::new(()),
            cmds: tx,
            done: done_rx,
            closing: AtomicBool::new(false),
            thread: Mutex::new(None),
        });
        let g2 = g.clone();
        let join = crate::sync::thread::spawn_named("ks-group".into(), on_start, move || {
            let _done = done_tx;
            member::Member::new(g2, rx).run()
        })?;
        *g.thread.lock() = Some(join);
        Ok(g)
    }

    pub(crate) fn settings(&self) -> &GroupSettings {
        &self.cfg
    }

    fn is_closing(&self) -> bool {
        self.closing.load(Ordering::Acquire) || self.cluster.is_closed()
    }

    /// The member's current identity (member id, generation).
    pub(crate) fn generation(&self) -> Generation {
        self.generation.lock().clone()
    }

    /// Records what a poll returned: the previous poll becomes committable
    /// (`head`), this one `dirty` (kgo: autocommit commits what was
    /// previously polled, so a crash mid-processing re-reads it).
    pub(crate) fn note_polled(&self, polled: &BTreeMap<(String, i32), (EpochOffset, EpochOffset)>) {
        let mut o = self.offsets.lock();
        if self.cfg.autocommit != settings::AutoCommit::Marks {
            for p in o.values_mut() {
                p.head = p.dirty;
            }
        }
        for (k, (first, next)) in polled {
            let po = o.entry(k.clone()).or_default();
            if po.dirty.is_none() && po.start.is_none() {
                po.start = Some(*first);
            }
            po.dirty = Some(*next);
        }
    }

    /// Marks records as committable for `AutoCommitMarks` (kgo's
    /// `MarkCommitRecords`): the head is set blindly, so it can rewind.
    pub(crate) fn mark(&self, marks: &BTreeMap<(String, i32), EpochOffset>) {
        let mut o = self.offsets.lock();
        for (k, eo) in marks {
            o.entry(k.clone()).or_default().head = Some(*eo);
        }
    }

    /// The latest committed offsets (kgo's `CommittedOffsets`).
    pub(crate) fn committed(&self) -> BTreeMap<String, BTreeMap<i32, EpochOffset>> {
        self.collect(|p| p.committed)
    }

    /// Polled offsets not yet committed (kgo's `UncommittedOffsets`).
    pub(crate) fn uncommitted(&self) -> BTreeMap<String, BTreeMap<i32, EpochOffset>> {
        self.collect(|p| {
            p.dirty
                .filter(|d| p.committed.is_none_or(|c| c.offset != d.offset))
        })
    }

    fn collect(
        &self,
        f: impl Fn(&PartOffsets) -> Option<EpochOffset>,
    ) -> BTreeMap<String, BTreeMap<i32, EpochOffset>> {
        let o = self.offsets.lock();
        let mut out: BTreeMap<String, BTreeMap<i32, EpochOffset>> = BTreeMap::new();
        for ((t, p), po) in o.iter() {
            if let Some(eo) = f(po) {
                out.entry(t.clone()).or_default().insert(*p, eo);
            }
        }
        out
    }

    /// Leaves the group (kgo's `LeaveGroup`): revokes, commits as
    /// configured, sends LeaveGroup for dynamic members, and stops the
    /// member. Returns once done, or after `bound` with the member still in
    /// a request (a JoinGroup the coordinator holds): then LeaveGroup is sent
    /// from here and the member thread is joined by [`join_thread`](Self::join_thread).
    pub(crate) fn leave(&self, bound: Duration) {
        let _ = self.cmds.send(Cmd::Leave);
        if self.done.recv_timeout(bound).is_err() && !self.stopped() {
            self.send_leave();
            return;
        }
        self.join_thread();
    }

    /// LeaveGroup for a dynamic member; static members stay in the group for
    /// their restart (KIP-345).
    pub(crate) fn send_leave(&self) {
        let gen = self.generation();
        if self.cfg.instance_id.is_some() || gen.member_id.is_empty() || self.cluster.is_closed() {
            return;
        }
        let version = self.coordinator_version(13, i16::MAX);
        let mut req = LeaveGroupRequest::default()
            .with_group_id(GroupId(StrBytes::from_string(self.cfg.group.clone())));
        let id = StrBytes::from_string(gen.member_id);
        if version >= 3 {
            req = req.with_members(vec![MemberIdentity::default().with_member_id(id)]);
        } else {
            req = req.with_member_id(id);
        }
        let dl = Instant::now() + Duration::from_secs(5);
        if let Err(e) = self.cluster.request(req, Some(dl)) {
            klog!(self.cluster.logger(), Warn, "leave group failed", "group" => self.cfg.group, "err" => e);
        }
        *self.generation.lock() = Generation {
            member_id: String::new(),
            generation: -1,
        };
    }

    /// Asks for a rejoin now (kgo's `ForceRebalance`).
    pub(crate) fn force_rebalance(&self) {
        let _ = self.cmds.send(Cmd::Rebalance);
    }

    /// Queues an asynchronous commit on `ks-group` (kgo's `CommitOffsets`).
    pub(crate) fn commit_async(
        &self,
        offsets: BTreeMap<String, BTreeMap<i32, EpochOffset>>,
        done: CommitDone,
    ) {
        if let Err(e) = self.cmds.send(Cmd::Commit(offsets, done)) {
            if let Cmd::Commit(_, done) = e.into_inner() {
                done(None, Err(&Error::ClientClosed));
            }
        }
    }

    /// Stops the member: leaves the group as `leave` does, waiting at most
    /// `bound` for the member loop.
    pub(crate) fn close(&self, bound: Duration) {
        self.closing.store(true, Ordering::Release);
        self.leave(bound);
    }

    /// Joins the member thread (unless called from it).
    pub(crate) fn join_thread(&self) {
        let join = self.thread.lock().take();
        if let Some(j) = join {
            if j.thread().id() != std::thread::current().id() {
                let _ = j.join();
            }
        }
    }

    /// Whether the member loop has stopped (left, fenced or closed).
    pub(crate) fn stopped(&self) -> bool {
        self.thread.lock().as_ref().is_none_or(|j| j.is_finished())
    }
}
