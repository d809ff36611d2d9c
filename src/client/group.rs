//! Group consuming: the [`Client`] methods of kgo's group consumer
//! (commits, committed and uncommitted offsets, marks, leaving, forcing a
//! rebalance) and the builder options whose callbacks receive the client.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use super::{Client, ClientInner};
use crate::config::group::{GroupCallbacks, Opaque};
use crate::config::{ConfigBuilder, FromConfig};
use crate::consumer::{EpochOffset, Fetches};
use crate::error::{Error, Result};
use crate::group::{Group, GroupHandler, Partitions};
use crate::logger::klog;
use crate::messages::{OffsetCommitRequest, OffsetCommitResponse};
use crate::record::Record;
use crate::sync::deadline_after;

/// A rebalance callback: the client and the partitions, per topic.
type PartitionsFn = dyn Fn(&Client, &BTreeMap<String, Vec<i32>>) + Send + Sync;
/// An autocommit callback: the request and its response or error.
type AutoCommitFn = dyn Fn(&Client, &OffsetCommitRequest, std::result::Result<&OffsetCommitResponse, &Error>)
    + Send
    + Sync;

fn opaque<F: ?Sized + Send + Sync + 'static>(f: Arc<F>) -> Opaque {
    Arc::new(f)
}

fn typed<F: ?Sized + Send + Sync + 'static>(o: &Option<Opaque>) -> Option<Arc<F>> {
    o.as_ref().and_then(|o| o.downcast_ref::<Arc<F>>()).cloned()
}

impl<T: FromConfig> ConfigBuilder<T> {
    /// Calls `f` with the newly assigned partitions after each join, before
    /// fetching them begins (kgo's `OnPartitionsAssigned`). Runs on
    /// `ks-group`, never concurrently with the other group callbacks; it may
    /// call the client. With cooperative balancing it gets only what is new.
    pub fn on_partitions_assigned(
        self,
        f: impl Fn(&Client, &BTreeMap<String, Vec<i32>>) + Send + Sync + 'static,
    ) -> Self {
        self.partitions_callback("on_partitions_assigned", Arc::new(f), |c| {
            &mut c.on_assigned
        })
    }

    /// Calls `f` with the partitions being revoked (kgo's
    /// `OnPartitionsRevoked`), after they stopped being fetched; commit here
    /// with [`Client::commit_uncommitted_offsets`] when autocommitting is off.
    /// Replaces the default, which (when autocommitting) commits what was
    /// previously polled and blocks until that commit is done. Also called
    /// on leave and close. Runs on `ks-group`.
    pub fn on_partitions_revoked(
        self,
        f: impl Fn(&Client, &BTreeMap<String, Vec<i32>>) + Send + Sync + 'static,
    ) -> Self {
        self.partitions_callback("on_partitions_revoked", Arc::new(f), |c| &mut c.on_revoked)
    }

    /// Calls `f` with partitions lost to a fatal group error
    /// (UNKNOWN_MEMBER_ID, ILLEGAL_GENERATION, a fenced instance) (kgo's
    /// `OnPartitionsLost`); commits are unlikely to succeed there. Runs on
    /// `ks-group`.
    pub fn on_partitions_lost(
        self,
        f: impl Fn(&Client, &BTreeMap<String, Vec<i32>>) + Send + Sync + 'static,
    ) -> Self {
        self.partitions_callback("on_partitions_lost", Arc::new(f), |c| &mut c.on_lost)
    }

    /// Stores a rebalance callback in the slot `slot` picks.
    fn partitions_callback(
        self,
        name: &'static str,
        f: Arc<PartitionsFn>,
        slot: fn(&mut GroupCallbacks) -> &mut Option<Opaque>,
    ) -> Self {
        self.with_group_callbacks(|c| *slot(c) = Some(opaque(f)))
            .mark_group_option(name)
    }

    /// Sends lost partitions to the `on_partitions_revoked` callback too
    /// (kgo's `OnPartitionsLostAsRevoked` shortcut).
    pub fn on_partitions_lost_as_revoked(mut self) -> Self {
        self.cfg_mut().group.lost_as_revoked = true;
        self.mark_group_option("on_partitions_lost_as_revoked")
    }

    /// Calls `f` after every autocommit with the request and the response
    /// or error (kgo's `AutoCommitCallback`). The default logs failures.
    pub fn auto_commit_callback(
        self,
        f: impl Fn(&Client, &OffsetCommitRequest, std::result::Result<&OffsetCommitResponse, &Error>)
            + Send
            + Sync
            + 'static,
    ) -> Self {
        let f: Arc<AutoCommitFn> = Arc::new(f);
        self.with_group_callbacks(|c| c.on_autocommit = Some(opaque(f)))
            .mark_group_option("auto_commit_callback")
    }
}

/// The group engine's view of the user's callbacks.
struct Handler {
    client: Weak<ClientInner>,
    assigned: Option<Arc<PartitionsFn>>,
    revoked: Option<Arc<PartitionsFn>>,
    lost: Option<Arc<PartitionsFn>>,
    autocommit: Option<Arc<AutoCommitFn>>,
}

impl Handler {
    /// Runs a user callback with the client, containing a panic so the
    /// member keeps running.
    fn call(&self, what: &str, f: impl FnOnce(&Client)) {
        let Some(inner) = self.client.upgrade() else {
            return;
        };
        let c = Client { inner };
        if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(&c))).is_err() {
            klog!(c.inner.cluster.logger(), Error, "a group callback panicked; continuing", "callback" => what);
        }
    }
}

impl GroupHandler for Handler {
    fn assigned(&self, p: &Partitions) {
        if let Some(f) = &self.assigned {
            self.call("on_partitions_assigned", |c| f(c, p));
        }
    }
    fn revoked(&self, p: &Partitions) {
        if let Some(f) = &self.revoked {
            self.call("on_partitions_revoked", |c| f(c, p));
        }
    }
    fn lost(&self, p: &Partitions) {
        if let Some(f) = &self.lost {
            self.call("on_partitions_lost", |c| f(c, p));
        }
    }
    fn autocommitted(
        &self,
        req: &OffsetCommitRequest,
        res: std::result::Result<&OffsetCommitResponse, &Error>,
    ) {
        if let Some(f) = &self.autocommit {
            self.call("auto_commit_callback", |c| f(c, req, res));
        }
    }
}

/// Starts the group member of `client`, when it consumes in a group.
pub(super) fn start(client: &Client) -> Result<()> {
    let cfg = &client.inner.cfg;
    if !cfg.group.enabled() {
        return Ok(());
    }
    let Some(consumer) = client.inner.consumer.get().cloned() else {
        return Ok(());
    };
    let cbs = &cfg.group_callbacks;
    let handler = Arc::new(Handler {
        client: Arc::downgrade(&client.inner),
        assigned: typed::<PartitionsFn>(&cbs.on_assigned),
        revoked: typed::<PartitionsFn>(&cbs.on_revoked),
        lost: typed::<PartitionsFn>(&cbs.on_lost),
        autocommit: typed::<AutoCommitFn>(&cbs.on_autocommit),
    });
    let g = Group::start(
        client.inner.cluster.clone(),
        consumer,
        cfg.group_settings(),
        handler,
    )?;
    let _ = client.inner.group.set(g);
    Ok(())
}

/// Per partition of `fs`, its first record's offset and the next offset
/// to consume after its last record.
pub(super) fn polled_offsets(fs: &Fetches) -> BTreeMap<(String, i32), (EpochOffset, EpochOffset)> {
    let mut out = BTreeMap::new();
    for f in &fs.0 {
        for t in &f.topics {
            for p in &t.partitions {
                if let (Some(first), Some(last)) = (p.records.first(), p.records.last()) {
                    let first = EpochOffset {
                        epoch: first.leader_epoch,
                        offset: first.offset,
                    };
                    let next = EpochOffset {
                        epoch: last.leader_epoch,
                        offset: last.offset + 1,
                    };
                    out.entry((t.topic.clone(), p.partition))
                        .and_modify(|e: &mut (EpochOffset, EpochOffset)| e.1 = next)
                        .or_insert((first, next));
                }
            }
        }
    }
    out
}

/// Offsets after each partition's highest record in `rs`.
fn record_offsets(rs: &[Record]) -> BTreeMap<String, BTreeMap<i32, EpochOffset>> {
    let mut out: BTreeMap<String, BTreeMap<i32, EpochOffset>> = BTreeMap::new();
    for r in rs {
        let e = out
            .entry(r.topic.to_string())
            .or_default()
            .entry(r.partition)
            .or_insert(EpochOffset {
                epoch: -1,
                offset: -1,
            });
        if r.offset + 1 > e.offset {
            *e = EpochOffset {
                epoch: r.leader_epoch,
                offset: r.offset + 1,
            };
        }
    }
    out
}

fn to_btree(
    m: HashMap<String, HashMap<i32, EpochOffset>>,
) -> BTreeMap<String, BTreeMap<i32, EpochOffset>> {
    m.into_iter()
        .map(|(t, ps)| (t, ps.into_iter().collect()))
        .collect()
}

fn to_hash(
    m: BTreeMap<String, BTreeMap<i32, EpochOffset>>,
) -> HashMap<String, HashMap<i32, EpochOffset>> {
    m.into_iter()
        .map(|(t, ps)| (t, ps.into_iter().collect()))
        .collect()
}

/// Wraps the builder's revoke and lost callbacks for a
/// [`GroupTransactSession`](super::txn::GroupTransactSession): `mark` runs
/// under the session's lock first (with `true` for lost), then the user's
/// callback (lost falls back to revoked, as kgo). While an end holds the
/// lock, the rebalance waits.
pub(super) fn wrap_session_callbacks<S: Send + 'static>(
    builder: ConfigBuilder<Client>,
    state: Arc<parking_lot::Mutex<S>>,
    mark: fn(&mut S, bool),
) -> Result<ConfigBuilder<Client>> {
    let cbs = builder.config().group_callbacks.clone();
    let user_revoked = typed::<PartitionsFn>(&cbs.on_revoked);
    let user_lost = typed::<PartitionsFn>(&cbs.on_lost);
    let lost_as_revoked = builder.config().group.lost_as_revoked;
    let st = state.clone();
    let ur = user_revoked.clone();
    let revoked: Arc<PartitionsFn> = Arc::new(move |c: &Client, p: &Partitions| {
        let mut g = st.lock();
        if !p.values().all(Vec::is_empty) {
            mark(&mut g, false);
        }
        if let Some(f) = &ur {
            f(c, p);
        }
    });
    let lost: Arc<PartitionsFn> = Arc::new(move |c: &Client, p: &Partitions| {
        let mut g = state.lock();
        mark(&mut g, true);
        match (&user_lost, &user_revoked) {
            (Some(f), _) => f(c, p),
            (None, Some(f)) if lost_as_revoked => f(c, p),
            _ => {}
        }
    });
    let mut b = builder.with_group_callbacks(|c| {
        c.on_revoked = Some(opaque(revoked));
        c.on_lost = Some(opaque(lost));
    });
    // The wrapper handles lost partitions itself.
    b.cfg_mut().group.lost_as_revoked = false;
    Ok(b)
}

impl Client {
    pub(super) fn group(&self) -> Result<&Arc<Group>> {
        self.inner.group.get().ok_or_else(|| {
            Error::config("the client does not consume in a group (set consumer_group)")
        })
    }

    /// Commits the offsets after `records` (per partition, the highest one
    /// plus one) and waits (kgo's `CommitRecords`). Retriable errors are
    /// retried within `retry_timeout`. Commit in order: a lower offset
    /// commits backwards.
    ///
    /// # Errors
    ///
    /// Not consuming in a group; the commit's error; the first partition error.
    ///
    /// # Blocking
    ///
    /// Until the coordinator answers (after earlier commits), or close.
    pub fn commit_records(&self, records: &[Record]) -> Result<()> {
        self.group()?.commit_checked(&record_offsets(records), None)
    }

    /// [`commit_records`](Self::commit_records) within `timeout`.
    ///
    /// # Errors
    ///
    /// As [`commit_records`](Self::commit_records), or a caller timeout.
    pub fn commit_records_timeout(&self, records: &[Record], timeout: Duration) -> Result<()> {
        self.commit_records_deadline(records, deadline_after(timeout))
    }

    /// [`commit_records`](Self::commit_records) until `deadline`.
    ///
    /// # Errors
    ///
    /// As [`commit_records`](Self::commit_records), or a caller timeout.
    pub fn commit_records_deadline(&self, records: &[Record], deadline: Instant) -> Result<()> {
        self.group()?
            .commit_checked(&record_offsets(records), Some(deadline))
    }

    /// Commits everything polled and not yet committed, and waits (kgo's
    /// `CommitUncommittedOffsets`).
    ///
    /// # Errors
    ///
    /// As [`commit_records`](Self::commit_records).
    ///
    /// # Blocking
    ///
    /// Until the coordinator answers, or close.
    pub fn commit_uncommitted_offsets(&self) -> Result<()> {
        let g = self.group()?;
        g.commit_checked(&g.uncommitted(), None)
    }

    /// [`commit_uncommitted_offsets`](Self::commit_uncommitted_offsets) within `timeout`.
    ///
    /// # Errors
    ///
    /// As [`commit_records`](Self::commit_records), or a caller timeout.
    pub fn commit_uncommitted_offsets_timeout(&self, timeout: Duration) -> Result<()> {
        self.commit_uncommitted_offsets_deadline(deadline_after(timeout))
    }

    /// [`commit_uncommitted_offsets`](Self::commit_uncommitted_offsets) until `deadline`.
    ///
    /// # Errors
    ///
    /// As [`commit_records`](Self::commit_records), or a caller timeout.
    pub fn commit_uncommitted_offsets_deadline(&self, deadline: Instant) -> Result<()> {
        let g = self.group()?;
        g.commit_checked(&g.uncommitted(), Some(deadline))
    }

    /// Commits `offsets` on the group thread without waiting, then calls
    /// `on_done` with the request (`None` when nothing was committed) and
    /// the response or error (kgo's `CommitOffsets`). Commits are ordered.
    /// Do not use it in `on_partitions_revoked`: use
    /// [`commit_offsets_sync`](Self::commit_offsets_sync) there.
    pub fn commit_offsets(
        &self,
        offsets: HashMap<String, HashMap<i32, EpochOffset>>,
        on_done: impl FnOnce(
                &Client,
                Option<&OffsetCommitRequest>,
                std::result::Result<&OffsetCommitResponse, &Error>,
            ) + Send
            + 'static,
    ) {
        let Ok(g) = self.group() else {
            return on_done(self, None, Ok(&OffsetCommitResponse::default()));
        };
        let c = self.clone();
        g.commit_async(
            to_btree(offsets),
            Box::new(move |req, res| on_done(&c, req, res)),
        );
    }

    /// Commits `offsets` and waits, then calls `on_done` (kgo's
    /// `CommitOffsetsSync`); the commit is ordered after every earlier one.
    ///
    /// # Blocking
    ///
    /// Until the coordinator answers and `on_done` returned, or close.
    pub fn commit_offsets_sync(
        &self,
        offsets: HashMap<String, HashMap<i32, EpochOffset>>,
        on_done: impl FnOnce(
            &Client,
            Option<&OffsetCommitRequest>,
            std::result::Result<&OffsetCommitResponse, &Error>,
        ),
    ) {
        let Ok(g) = self.group() else {
            return on_done(self, None, Ok(&OffsetCommitResponse::default()));
        };
        let (req, res) = g.commit_sync(&to_btree(offsets), None);
        on_done(self, req.as_ref(), res.as_ref());
    }

    /// [`commit_offsets_sync`](Self::commit_offsets_sync) until `deadline`:
    /// past it, `on_done` gets a caller timeout (the commit may still land).
    pub fn commit_offsets_sync_deadline(
        &self,
        offsets: HashMap<String, HashMap<i32, EpochOffset>>,
        deadline: Instant,
        on_done: impl FnOnce(
            &Client,
            Option<&OffsetCommitRequest>,
            std::result::Result<&OffsetCommitResponse, &Error>,
        ),
    ) {
        let Ok(g) = self.group() else {
            return on_done(self, None, Ok(&OffsetCommitResponse::default()));
        };
        let (req, res) = g.commit_sync(&to_btree(offsets), Some(deadline));
        on_done(self, req.as_ref(), res.as_ref());
    }

    /// The latest committed offsets, from commits and from the offsets
    /// fetched on joining (kgo's `CommittedOffsets`); empty outside a group.
    pub fn committed_offsets(&self) -> HashMap<String, HashMap<i32, EpochOffset>> {
        self.group()
            .map(|g| to_hash(g.committed()))
            .unwrap_or_default()
    }

    /// Polled offsets not yet committed (kgo's `UncommittedOffsets`).
    pub fn uncommitted_offsets(&self) -> HashMap<String, HashMap<i32, EpochOffset>> {
        self.group()
            .map(|g| to_hash(g.uncommitted()))
            .unwrap_or_default()
    }

    /// Marks `records` for the next autocommit with
    /// [`auto_commit_marks`](ConfigBuilder::auto_commit_marks) (kgo's
    /// `MarkCommitRecords`); the mark is set blindly and can rewind.
    pub fn mark_commit_records(&self, records: &[Record]) {
        if let Ok(g) = self.group() {
            let marks = record_offsets(records)
                .into_iter()
                .flat_map(|(t, ps)| ps.into_iter().map(move |(p, eo)| ((t.clone(), p), eo)))
                .collect();
            g.mark(&marks);
        }
    }

    /// Leaves the group (kgo's `LeaveGroup`): revokes the partitions (with
    /// the default commit when autocommitting), sends LeaveGroup unless the
    /// member is static, and stops group consuming; the client stays open.
    ///
    /// # Blocking
    ///
    /// Until the member left (a JoinGroup in flight is waited for up to the
    /// rebalance timeout).
    pub fn leave_group(&self) {
        if let Ok(g) = self.group() {
            g.leave(g.settings().rebalance_timeout);
        }
    }

    /// [`leave_group`](Self::leave_group), waiting at most `timeout` for the
    /// member: past it, LeaveGroup is sent from this thread and the member
    /// stops once its request in flight ends.
    pub fn leave_group_timeout(&self, timeout: Duration) {
        if let Ok(g) = self.group() {
            g.leave(timeout);
        }
    }

    /// [`leave_group_timeout`](Self::leave_group_timeout) until `deadline`.
    pub fn leave_group_deadline(&self, deadline: Instant) {
        self.leave_group_timeout(deadline.saturating_duration_since(Instant::now()));
    }

    /// Makes the member rejoin now (kgo's `ForceRebalance`, KIP-568).
    pub fn force_rebalance(&self) {
        if let Ok(g) = self.group() {
            g.force_rebalance();
        }
    }
}
