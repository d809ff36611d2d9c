//! The producer's shared state and its accounting: buffer slots
//! (`max_buffered_records`, `max_buffered_bytes`), produce entry, flush,
//! abort and close. Topics and partition buffers are `topics.rs` and
//! `recbuf.rs`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

use parking_lot::{Condvar, Mutex, RwLock};

use super::completion::{Callback, Completion, Outcome};
use super::id::IdState;
use super::recbuf::RecBuf;
use super::settings::ProducerSettings;
use super::sink::Sink;
use super::topics::{TopicBuf, WaitingRecord};
use crate::cluster::{Cluster, MetadataListener};
use crate::error::{Error, Result, TimeoutKind};
use crate::hooks;
use crate::metadata::MetadataSnapshot;
use crate::record::{now_ms, Record};
use crate::sync::worker::{Inbox, Signal};

/// How long `produce` may wait for buffer space.
#[derive(Debug, Clone, Copy)]
pub(crate) enum BufferWait {
    /// Until space frees up or the client closes.
    Forever,
    /// Until the deadline, then the record fails with a timeout.
    Until(Instant),
    /// Not at all: a full buffer fails the record with `MaxBuffered`.
    Never,
}

impl BufferWait {
    /// The caller's deadline, which also bounds the record's life in the
    /// buffer (kgo: a buffered record is canceled with its context).
    fn deadline(self) -> Option<Instant> {
        match self {
            BufferWait::Until(d) => Some(d),
            BufferWait::Forever | BufferWait::Never => None,
        }
    }
}

/// The producer's shared state; one per client, started on first produce.
pub(crate) struct Producer {
    pub(crate) cluster: Arc<Cluster>,
    pub(crate) cfg: ProducerSettings,
    pub(crate) hooks: Vec<Arc<dyn crate::hooks::Hook>>,
    pub(crate) topics: RwLock<HashMap<String, Arc<TopicBuf>>>,
    pub(crate) buffered_records: AtomicI64,
    pub(crate) buffered_bytes: AtomicI64,
    wait_lock: Mutex<()>,
    wait_cond: Condvar,
    pub(crate) sinks: Mutex<HashMap<i32, Arc<Sink>>>,
    pub(crate) id: IdState,
    /// Whether writes are idempotent: the setting, until a broker without
    /// InitProducerId turns it off (see [`Producer::disable_idempotence`]).
    idempotent: AtomicBool,
    /// Batches in flight over every sink (an epoch bump waits for zero).
    pub(crate) inflight_batches: AtomicUsize,
    completions: Mutex<Option<Inbox<Completion>>>,
    completion_thread: Mutex<Option<JoinHandle<()>>>,
    pub(crate) flushing: AtomicUsize,
    pub(crate) aborting: AtomicUsize,
    pub(crate) closed: AtomicBool,
    /// Set once a record was produced with a deadline: from then on
    /// `ks-prom` sweeps deadlines of records no sink watches.
    pub(crate) deadlines_seen: AtomicBool,
    next_batch_id: AtomicU64,
    /// Tells this producer apart in the thread-local topic cache.
    pub(super) uid: u64,
    /// Set when data loss stopped the producer.
    pub(crate) stopped: Mutex<Option<Error>>,
    /// Whether `stopped` is set.
    pub(crate) has_stopped: AtomicBool,
    /// The transaction state of a transactional producer.
    pub(crate) txn: Option<super::txn::Txn>,
    /// Spare batch buffers.
    pub(crate) pool: Arc<super::pool::BufPool>,
}

impl MetadataListener for Producer {
    fn on_metadata(self: Arc<Self>, snap: &Arc<MetadataSnapshot>, topics: &[String]) {
        self.update_metadata(snap, topics);
    }
}

impl Producer {
    /// Whether writes are idempotent (stamped with a producer id and
    /// sequence numbers).
    pub(crate) fn idempotent(&self) -> bool {
        self.idempotent.load(Ordering::Acquire)
    }

    /// Turns idempotence off for good: no broker supports InitProducerId
    /// (Kafka 0.10 and older). Called by a sink before anything was sent.
    pub(crate) fn disable_idempotence(&self) {
        self.idempotent.store(false, Ordering::Release);
    }

    pub(crate) fn start(cluster: Arc<Cluster>, cfg: ProducerSettings) -> Result<Arc<Producer>> {
        // What `ks-prom` waits on (see [`Signal`]).
        let prom_signal = Arc::new(Signal::default());
        let (tx, rx) = Inbox::channel(&prom_signal);
        let on_start = cluster.settings().on_thread_start.clone();
        let cfg_txn = cfg.transactional_id.clone().map(|id| {
            let ms = i32::try_from(cfg.transaction_timeout.as_millis()).unwrap_or(i32::MAX);
            super::txn::Txn::new(id, ms)
        });
        let idempotent = cfg.idempotent;
        let pool = super::pool::BufPool::new(cfg.batch_max_bytes as usize);
        let p = Arc::new(Producer {
            hooks: cluster.settings().hooks.clone(),
            cluster,
            cfg,
            topics: RwLock::new(HashMap::new()),
            buffered_records: AtomicI64::new(0),
            buffered_bytes: AtomicI64::new(0),
            wait_lock: Mutex::new(()),
            wait_cond: Condvar::new(),
            sinks: Mutex::new(HashMap::new()),
            id: IdState::default(),
            idempotent: AtomicBool::new(idempotent),
            inflight_batches: AtomicUsize::new(0),
            completions: Mutex::new(Some(tx)),
            completion_thread: Mutex::new(None),
            flushing: AtomicUsize::new(0),
            aborting: AtomicUsize::new(0),
            closed: AtomicBool::new(false),
            deadlines_seen: AtomicBool::new(false),
            next_batch_id: AtomicU64::new(1),
            uid: super::topics::producer_uid(),
            stopped: Mutex::new(None),
            has_stopped: AtomicBool::new(false),
            txn: cfg_txn,
            pool,
        });
        let weak = Arc::downgrade(&p);
        let join = crate::sync::thread::spawn_named("ks-prom".into(), on_start, move || {
            super::completion::run(rx, &prom_signal, weak)
        })?;
        *p.completion_thread.lock() = Some(join);
        let listener: Arc<dyn MetadataListener> = p.clone();
        p.cluster.add_listener(Arc::downgrade(&listener));
        Ok(p)
    }

    pub(crate) fn buffered_records(&self) -> i64 {
        self.buffered_records.load(Ordering::Acquire)
    }

    /// Hands finished records to `ks-prom`, or calls them here when it is gone.
    pub(crate) fn complete(&self, c: Completion) {
        if let (Some(txn), Outcome::Err(e)) = (&self.txn, &c.outcome) {
            if !matches!(e, Error::NotInTransaction) {
                txn.note_failure(e);
            }
        }
        let tx = self.completions.lock().clone();
        match tx {
            Some(tx) => {
                if let Err(c) = tx.try_send(c) {
                    super::completion::finish(self, c);
                }
            }
            None => super::completion::finish(self, c),
        }
    }

    /// Called by `ks-prom` after callbacks ran: frees buffer slots.
    pub(crate) fn release(&self, records: i64, bytes: i64) {
        self.buffered_records.fetch_sub(records, Ordering::AcqRel);
        if self.cfg.max_buffered_bytes.is_some() {
            self.buffered_bytes.fetch_sub(bytes, Ordering::AcqRel);
        }
        let _g = self.wait_lock.lock();
        self.wait_cond.notify_all();
    }

    pub(super) fn fail_now(&self, record: Record, cb: Callback, err: Error, reserved: bool) {
        let bytes = record.user_size() as i64;
        self.complete(Completion {
            topic: None,
            entries: vec![(record, cb)],
            outcome: Outcome::Err(err),
            release: if reserved { (1, bytes) } else { (0, 0) },
        });
    }

    #[inline]
    /// Produces `record`, taking it (leaving a default record behind).
    pub(crate) fn produce(self: &Arc<Self>, record: &mut Record, cb: Callback, wait: BufferWait) {
        if self.closed.load(Ordering::Acquire) {
            return cb.call(std::mem::take(record), Err(Error::ClientClosed));
        }
        // The flag keeps the lock off the path of every record.
        if self.has_stopped.load(Ordering::Acquire) {
            if let Some(e) = self.stopped.lock().clone() {
                return self.fail_now(std::mem::take(record), cb, e, false);
            }
        }
        if let Some(txn) = &self.txn {
            if !txn.producing() {
                let e = self.id.fatal().unwrap_or(Error::NotInTransaction);
                return self.fail_now(std::mem::take(record), cb, e, false);
            }
        }
        if record.topic.is_empty() {
            match &self.cfg.default_topic {
                Some(t) => record.topic.clone_from(t),
                None => {
                    return self.fail_now(
                        std::mem::take(record),
                        cb,
                        Error::config("record has no topic and no default_produce_topic is set"),
                        false,
                    )
                }
            }
        }
        if record.timestamp == 0 {
            record.timestamp = now_ms();
        }
        let bytes = record.user_size() as i64;
        if let Err(e) = self.reserve(bytes, wait) {
            return self.fail_now(std::mem::take(record), cb, e, false);
        }
        hooks::each(&self.hooks, |h| h.on_produce_record_buffered(record));
        let deadline = wait.deadline();
        if deadline.is_some() && !self.deadlines_seen.load(Ordering::Relaxed) {
            self.deadlines_seen.store(true, Ordering::Release);
        }
        if let Err(cb) = self.buffer_cached(record, cb, deadline) {
            let topic = self.topic(&record.topic);
            self.buffer(&topic, std::mem::take(record), cb, deadline);
        }
    }

    /// Takes a buffer slot, blocking while the buffer is full.
    pub(super) fn reserve(&self, bytes: i64, wait: BufferWait) -> Result<()> {
        let max_n = self.cfg.max_buffered_records as i64;
        let max_b = self.cfg.max_buffered_bytes.map(|b| b as i64);
        let n = self.buffered_records.fetch_add(1, Ordering::AcqRel) + 1;
        // Bytes are counted only when bounded (one atomic less per record).
        let b = match max_b {
            Some(_) => self.buffered_bytes.fetch_add(bytes, Ordering::AcqRel) + bytes,
            None => 0,
        };
        // A single record larger than the byte bound is let through alone.
        let over = |n: i64, b: i64| n > max_n || max_b.is_some_and(|m| b > m && b != bytes);
        if !over(n, b) {
            return Ok(());
        }
        if self.cfg.manual_flushing || matches!(wait, BufferWait::Never) {
            self.release_slot(bytes);
            return Err(Error::MaxBuffered);
        }
        let mut g = self.wait_lock.lock();
        loop {
            if self.closed.load(Ordering::Acquire) {
                drop(g);
                self.release_slot(bytes);
                return Err(Error::ClientClosed);
            }
            let (n, b) = (
                self.buffered_records.load(Ordering::Acquire),
                self.buffered_bytes.load(Ordering::Acquire),
            );
            if !over(n, b) {
                return Ok(());
            }
            match wait {
                BufferWait::Until(d) => {
                    if self.wait_cond.wait_until(&mut g, d).timed_out() && Instant::now() >= d {
                        drop(g);
                        self.release_slot(bytes);
                        return Err(Error::Timeout(TimeoutKind::Caller));
                    }
                }
                BufferWait::Forever | BufferWait::Never => self.wait_cond.wait(&mut g),
            }
        }
    }

    pub(super) fn release_slot(&self, bytes: i64) {
        self.buffered_records.fetch_sub(1, Ordering::AcqRel);
        if self.cfg.max_buffered_bytes.is_some() {
            self.buffered_bytes.fetch_sub(bytes, Ordering::AcqRel);
        }
    }

    pub(crate) fn next_batch_id(&self) -> u64 {
        self.next_batch_id.fetch_add(1, Ordering::Relaxed)
    }

    pub(super) fn sink(self: &Arc<Self>, broker: i32) -> Option<Arc<Sink>> {
        let mut sinks = self.sinks.lock();
        if let Some(s) = sinks.get(&broker) {
            return Some(s.clone());
        }
        match Sink::start(self.clone(), broker) {
            Ok(s) => {
                sinks.insert(broker, s.clone());
                Some(s)
            }
            Err(_) => None,
        }
    }

    /// Every partition buffer, across topics.
    pub(crate) fn all_recbufs(&self) -> Vec<Arc<RecBuf>> {
        let topics: Vec<Arc<TopicBuf>> = self.topics.read().values().cloned().collect();
        topics
            .iter()
            .flat_map(|t| t.parts.read().all.clone())
            .collect()
    }

    pub(super) fn wake_sinks(&self) {
        for s in self.sinks.lock().values() {
            s.wake();
        }
    }

    /// Fails records waiting for metadata past their deadline or the
    /// delivery timeout, and partitions without a leader (no sink checks
    /// them).
    pub(crate) fn sweep_timeouts(&self) {
        let timeout = self.cfg.delivery_timeout;
        if timeout.is_none() && !self.deadlines_seen.load(Ordering::Acquire) {
            return;
        }
        let now = Instant::now();
        let expired_err = |wr: &WaitingRecord| {
            if wr.deadline.is_some_and(|d| now >= d) {
                Some(Error::Timeout(TimeoutKind::Caller))
            } else if timeout.is_some_and(|t| now.duration_since(wr.since) >= t) {
                Some(Error::RecordTimeout)
            } else {
                None
            }
        };
        let topics: Vec<Arc<TopicBuf>> = self.topics.read().values().cloned().collect();
        for t in &topics {
            // Records still waiting for their topic hold no sequence number,
            // so each can fail alone without a gap.
            let expired: Vec<(WaitingRecord, Error)> = {
                let mut w = t.waiting.lock();
                let mut old = Vec::new();
                let mut keep = Vec::with_capacity(w.records.len());
                for wr in std::mem::take(&mut w.records) {
                    match expired_err(&wr) {
                        Some(e) => old.push((wr, e)),
                        None => keep.push(wr),
                    }
                }
                w.records = keep;
                old
            };
            for (wr, e) in expired {
                self.fail_now(wr.record, wr.cb, e, true);
            }
        }
        for rb in self.all_recbufs() {
            if rb.inner.lock().sink.is_none() {
                rb.fail_expired(self, now);
            }
        }
    }

    pub(crate) fn flush(&self, deadline: Option<Instant>) -> Result<()> {
        self.flushing.fetch_add(1, Ordering::AcqRel);
        self.wake_sinks();
        let res = self.wait_empty(deadline);
        self.flushing.fetch_sub(1, Ordering::AcqRel);
        res
    }

    pub(crate) fn abort(&self, deadline: Option<Instant>) -> Result<()> {
        self.aborting.fetch_add(1, Ordering::AcqRel);
        let topics: Vec<Arc<TopicBuf>> = self.topics.read().values().cloned().collect();
        for t in &topics {
            let waiting = std::mem::take(&mut t.waiting.lock().records);
            for wr in waiting {
                self.fail_now(wr.record, wr.cb, Error::Aborting, true);
            }
        }
        for rb in self.all_recbufs() {
            rb.fail_unsent(self, Error::Aborting);
        }
        self.wake_sinks();
        let res = self.wait_empty(deadline);
        self.aborting.fetch_sub(1, Ordering::AcqRel);
        res
    }

    pub(super) fn wait_empty(&self, deadline: Option<Instant>) -> Result<()> {
        let mut g = self.wait_lock.lock();
        loop {
            if self.buffered_records.load(Ordering::Acquire) <= 0 {
                return Ok(());
            }
            if self.closed.load(Ordering::Acquire) {
                return Err(Error::ClientClosed);
            }
            match deadline {
                Some(d) => {
                    if self.wait_cond.wait_until(&mut g, d).timed_out() && Instant::now() >= d {
                        return Err(Error::Timeout(TimeoutKind::Caller));
                    }
                }
                None => self.wait_cond.wait(&mut g),
            }
        }
    }

    /// Stops sinks, fails everything still buffered with `ClientClosed`,
    /// runs the remaining callbacks and joins `ks-prom`.
    pub(crate) fn close(&self) {
        if self.closed.swap(true, Ordering::AcqRel) {
            return;
        }
        {
            let _g = self.wait_lock.lock();
            self.wait_cond.notify_all();
        }
        let sinks: Vec<Arc<Sink>> = self.sinks.lock().drain().map(|(_, s)| s).collect();
        for s in &sinks {
            s.stop_and_join();
        }
        let topics: Vec<Arc<TopicBuf>> = self.topics.write().drain().map(|(_, t)| t).collect();
        for t in &topics {
            let waiting = std::mem::take(&mut t.waiting.lock().records);
            for wr in waiting {
                self.fail_now(wr.record, wr.cb, Error::ClientClosed, true);
            }
            for rb in t.parts.read().all.iter() {
                rb.fail_all(self, Error::ClientClosed);
            }
        }
        // ks-prom wakes to find its channel disconnected.
        let completions = self.completions.lock().take();
        if let Some(c) = completions {
            c.close();
        }
        let join = self.completion_thread.lock().take();
        if let Some(j) = join {
            if j.thread().id() != std::thread::current().id() {
                let _ = j.join();
            }
        }
    }
}
