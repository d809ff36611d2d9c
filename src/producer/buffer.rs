//! Buffering: the producer's topics, per-partition record buffers
//! (`RecBuf`) and their batches (`RecBatch`), filled on the caller's thread.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::thread::JoinHandle;
use std::time::Instant;

use bytes::Bytes;
use crossbeam_channel::Sender;
use parking_lot::{Condvar, Mutex, RwLock};

use super::completion::{Completion, Outcome};
use super::id::IdState;
use super::partitioner::{TopicBackupIter, TopicPartitioner};
use super::sink::Sink;
use super::Callback;
use crate::client::{Client, ClientInner};
use crate::config::ProducerConfig;
use crate::error::{Error, ErrorCode, Result, TimeoutKind};
use crate::hooks;
use crate::metadata::MetadataSnapshot;
use crate::protocol::compression::Codec;
use crate::protocol::record_batch::{HeaderRef, RecordsBuf, RECORD_BATCH_OVERHEAD};
use crate::record::{now_ms, Record};

/// One batch of one partition.
pub(crate) struct RecBatch {
    pub(crate) id: u64,
    pub(crate) records: RecordsBuf,
    pub(crate) entries: Vec<(Record, Callback)>,
    pub(crate) user_bytes: usize,
    pub(crate) created: Instant,
    /// No more records may be appended (it was drained at least once).
    pub(crate) sealed: bool,
    pub(crate) inflight: bool,
    /// Sent, and the last attempt's outcome is unknown (the connection died):
    /// failing it now could lose or duplicate data, so it is not failed.
    pub(crate) unknown: bool,
    pub(crate) tries: u32,
    /// Producer id, epoch, base sequence and id generation it is stamped with.
    pub(crate) stamp: Option<(i64, i16, i32, u64)>,
    /// The encoded batch as sent (kept for retries).
    pub(crate) wire: Option<Bytes>,
    pub(crate) codec_used: Codec,
    pub(crate) uncompressed: usize,
}

impl RecBatch {
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }
}

/// One partition's buffer.
pub(crate) struct RecBuf {
    pub(crate) topic: Arc<str>,
    pub(crate) partition: i32,
    pub(crate) inner: Mutex<RecBufInner>,
}

pub(crate) struct RecBufInner {
    pub(crate) leader: i32,
    pub(crate) leader_epoch: i32,
    pub(crate) sink: Option<Arc<Sink>>,
    pub(crate) batches: VecDeque<RecBatch>,
    /// Batches of this partition in flight, and on which sink.
    pub(crate) inflight: usize,
    pub(crate) inflight_sink: i32,
    /// The sequence the next stamped batch gets, for `id_generation`.
    pub(crate) next_seq: i32,
    pub(crate) id_generation: u64,
    /// Whether a batch of this id generation was acknowledged. Until then
    /// only one batch is in flight: a broker with no state for our producer
    /// accepts any first sequence (Java `ProducerAppendInfo`), so a later
    /// batch landing before a failed first one would be written out of order.
    pub(crate) acked: bool,
    pub(crate) backoff_until: Option<Instant>,
    pub(crate) buffered: i64,
    /// When the open batch's linger ends.
    pub(crate) linger_until: Option<Instant>,
    next_batch_cap: usize,
}

impl RecBuf {
    fn new(topic: Arc<str>, partition: i32) -> RecBuf {
        RecBuf {
            topic,
            partition,
            inner: Mutex::new(RecBufInner {
                leader: -1,
                leader_epoch: -1,
                sink: None,
                batches: VecDeque::new(),
                inflight: 0,
                inflight_sink: -1,
                next_seq: 0,
                id_generation: 0,
                acked: false,
                backoff_until: None,
                buffered: 0,
                linger_until: None,
                next_batch_cap: 64,
            }),
        }
    }
}

/// A topic's partitions: all of them, and the indexes of those with a leader.
#[derive(Default)]
pub(crate) struct TopicParts {
    pub(crate) all: Vec<Arc<RecBuf>>,
    pub(crate) writable: Vec<usize>,
}

/// Records waiting for a topic's metadata.
struct Waiting {
    records: Vec<(Record, Callback, Instant)>,
}

pub(crate) struct TopicBuf {
    pub(crate) name: Arc<str>,
    pub(crate) parts: RwLock<Arc<TopicParts>>,
    partitioner: Mutex<Box<dyn TopicPartitioner>>,
    /// Records produced before the topic's metadata loaded, in order. While
    /// any wait, later records queue behind them (per-partition order).
    waiting: Mutex<Waiting>,
    has_waiting: AtomicBool,
    load_failures: AtomicU32,
}

/// The producer's shared state; one per client, started on first produce.
pub(crate) struct Producer {
    pub(crate) client: Weak<ClientInner>,
    pub(crate) cfg: ProducerConfig,
    pub(crate) hooks: Vec<Arc<dyn crate::Hook>>,
    pub(crate) topics: RwLock<HashMap<String, Arc<TopicBuf>>>,
    pub(crate) buffered_records: AtomicI64,
    pub(crate) buffered_bytes: AtomicI64,
    wait_lock: Mutex<()>,
    wait_cond: Condvar,
    pub(crate) sinks: Mutex<HashMap<i32, Arc<Sink>>>,
    pub(crate) id: IdState,
    /// Batches in flight over every sink (an epoch bump waits for zero).
    pub(crate) inflight_batches: AtomicUsize,
    completions: Mutex<Option<Sender<Completion>>>,
    completion_thread: Mutex<Option<JoinHandle<()>>>,
    pub(crate) flushing: AtomicUsize,
    pub(crate) aborting: AtomicUsize,
    pub(crate) closed: AtomicBool,
    next_batch_id: AtomicU64,
    /// Set when data loss stopped the producer.
    pub(crate) stopped: Mutex<Option<Error>>,
}

/// Iterates `(index, buffered)` over a topic's candidate partitions.
struct Backups<'a> {
    parts: &'a TopicParts,
    map: Option<&'a [usize]>,
    i: usize,
}

impl TopicBackupIter for Backups<'_> {
    fn next_backup(&mut self) -> Option<(usize, i64)> {
        let i = self.i;
        let p = match self.map {
            Some(m) => *m.get(i)?,
            None => {
                if i >= self.parts.all.len() {
                    return None;
                }
                i
            }
        };
        self.i += 1;
        let n = self.parts.all.get(p).map_or(0, |r| r.inner.lock().buffered);
        Some((i, n))
    }
}

impl Producer {
    pub(crate) fn start(client: &Client) -> Result<Arc<Producer>> {
        let inner = &client.inner;
        let (tx, rx) = crossbeam_channel::unbounded();
        let p = Arc::new(Producer {
            client: Arc::downgrade(inner),
            cfg: inner.cfg.producer.clone(),
            hooks: inner.cfg.hooks.clone(),
            topics: RwLock::new(HashMap::new()),
            buffered_records: AtomicI64::new(0),
            buffered_bytes: AtomicI64::new(0),
            wait_lock: Mutex::new(()),
            wait_cond: Condvar::new(),
            sinks: Mutex::new(HashMap::new()),
            id: IdState::default(),
            inflight_batches: AtomicUsize::new(0),
            completions: Mutex::new(Some(tx)),
            completion_thread: Mutex::new(None),
            flushing: AtomicUsize::new(0),
            aborting: AtomicUsize::new(0),
            closed: AtomicBool::new(false),
            next_batch_id: AtomicU64::new(1),
            stopped: Mutex::new(None),
        });
        let weak = Arc::downgrade(&p);
        let join = crate::sync::thread::spawn_named(
            "ks-prom".into(),
            inner.cfg.on_thread_start.clone(),
            move || super::completion::run(rx, weak),
        )?;
        *p.completion_thread.lock() = Some(join);
        Ok(p)
    }

    pub(crate) fn client(&self) -> Option<Client> {
        self.client.upgrade().map(|inner| Client { inner })
    }

    pub(crate) fn buffered_records(&self) -> i64 {
        self.buffered_records.load(Ordering::Acquire)
    }

    /// Hands finished records to `ks-prom`, or calls them here when it is gone.
    pub(crate) fn complete(&self, c: Completion) {
        let tx = self.completions.lock().clone();
        match tx {
            Some(tx) => {
                if let Err(e) = tx.send(c) {
                    super::completion::finish(self, e.into_inner());
                }
            }
            None => super::completion::finish(self, c),
        }
    }

    /// Called by `ks-prom` after callbacks ran: frees buffer slots.
    pub(crate) fn release(&self, records: i64, bytes: i64) {
        self.buffered_records.fetch_sub(records, Ordering::AcqRel);
        self.buffered_bytes.fetch_sub(bytes, Ordering::AcqRel);
        let _g = self.wait_lock.lock();
        self.wait_cond.notify_all();
    }

    fn fail_now(&self, record: Record, cb: Callback, err: Error, reserved: bool) {
        let bytes = record.user_size() as i64;
        self.complete(Completion {
            topic: None,
            entries: vec![(record, cb)],
            outcome: Outcome::Err(err),
            release: if reserved { (1, bytes) } else { (0, 0) },
        });
    }

    pub(crate) fn produce(
        self: &Arc<Self>,
        mut record: Record,
        cb: Callback,
        deadline: Option<Instant>,
    ) {
        if self.closed.load(Ordering::Acquire) {
            return cb(record, Err(Error::ClientClosed));
        }
        if let Some(e) = self.stopped.lock().clone() {
            return self.fail_now(record, cb, e, false);
        }
        if record.topic.is_empty() {
            match &self.cfg.default_topic {
                Some(t) => record.topic.clone_from(t),
                None => {
                    return self.fail_now(
                        record,
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
        if let Err(e) = self.reserve(bytes, deadline) {
            return self.fail_now(record, cb, e, false);
        }
        hooks::each(&self.hooks, |h| h.on_produce_record_buffered(&record));
        let topic = self.topic(&record.topic);
        self.buffer(&topic, record, cb);
    }

    /// Takes a buffer slot, blocking while the buffer is full.
    fn reserve(&self, bytes: i64, deadline: Option<Instant>) -> Result<()> {
        let max_n = self.cfg.max_buffered_records as i64;
        let max_b = self.cfg.max_buffered_bytes.map(|b| b as i64);
        let n = self.buffered_records.fetch_add(1, Ordering::AcqRel) + 1;
        let b = self.buffered_bytes.fetch_add(bytes, Ordering::AcqRel) + bytes;
        // A single record larger than the byte bound is let through alone.
        let over = |n: i64, b: i64| n > max_n || max_b.is_some_and(|m| b > m && b != bytes);
        if !over(n, b) {
            return Ok(());
        }
        if self.cfg.manual_flushing {
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
            match deadline {
                Some(d) => {
                    if self.wait_cond.wait_until(&mut g, d).timed_out() && Instant::now() >= d {
                        drop(g);
                        self.release_slot(bytes);
                        return Err(Error::Timeout(TimeoutKind::Caller));
                    }
                }
                None => self.wait_cond.wait(&mut g),
            }
        }
    }

    fn release_slot(&self, bytes: i64) {
        self.buffered_records.fetch_sub(1, Ordering::AcqRel);
        self.buffered_bytes.fetch_sub(bytes, Ordering::AcqRel);
    }

    /// The topic's buffer, creating it (and asking for its metadata) if new.
    fn topic(&self, name: &str) -> Arc<TopicBuf> {
        if let Some(t) = self.topics.read().get(name) {
            return t.clone();
        }
        let mut w = self.topics.write();
        if let Some(t) = w.get(name) {
            return t.clone();
        }
        let name_arc: Arc<str> = Arc::from(name);
        let t = Arc::new(TopicBuf {
            name: name_arc,
            parts: RwLock::new(Arc::default()),
            partitioner: Mutex::new(self.cfg.partitioner.for_topic(name)),
            waiting: Mutex::new(Waiting {
                records: Vec::new(),
            }),
            has_waiting: AtomicBool::new(false),
            load_failures: AtomicU32::new(0),
        });
        w.insert(name.to_string(), t.clone());
        drop(w);
        if let Some(c) = self.client() {
            c.inner.metadata.track([name.to_string()]);
            c.trigger_metadata_now();
        }
        t
    }

    /// Partitions and appends a record whose slot is reserved.
    fn buffer(&self, topic: &Arc<TopicBuf>, record: Record, cb: Callback) {
        let mut parts = topic.parts.read().clone();
        if parts.all.is_empty() || topic.has_waiting.load(Ordering::Acquire) {
            // The metadata thread drains `waiting` holding its lock, so under
            // the lock either records still wait (queue behind them) or the
            // drain is complete (buffer directly, after them).
            let mut w = topic.waiting.lock();
            if topic.parts.read().all.is_empty() || !w.records.is_empty() {
                w.records.push((record, cb, Instant::now()));
                topic.has_waiting.store(true, Ordering::Release);
                return;
            }
            drop(w);
            parts = topic.parts.read().clone();
        }
        self.buffer_loaded(topic, &parts, record, cb);
    }

    fn buffer_loaded(&self, topic: &TopicBuf, parts: &TopicParts, record: Record, cb: Callback) {
        let mut tp = topic.partitioner.lock();
        let pick = self.pick(&mut **tp, parts, &record);
        let Some(rb) = pick.and_then(|p| parts.all.get(p)) else {
            drop(tp);
            let e = Error::from(ErrorCode::UnknownTopicOrPartition);
            return self.fail_now(record, cb, e, true);
        };
        // One lock per record: the append reports when the record would open
        // a new batch, so the partitioner can re-pick (KIP-480 stickiness)
        // only then.
        let res = match rb.append(self, record, cb, true) {
            Err(Append::NewBatch(record, cb)) => {
                let rb = if tp.on_new_batch() {
                    self.pick(&mut **tp, parts, &record)
                        .and_then(|p| parts.all.get(p))
                        .unwrap_or(rb)
                } else {
                    rb
                };
                rb.append(self, record, cb, false)
            }
            other => other,
        };
        drop(tp);
        if let Err(Append::Failed(record, cb, e)) = res {
            self.fail_now(record, cb, e, true);
        }
    }

    fn pick(&self, tp: &mut dyn TopicPartitioner, parts: &TopicParts, r: &Record) -> Option<usize> {
        let consistent = tp.requires_consistency(r) || parts.writable.is_empty();
        let map: Option<&[usize]> = if consistent {
            None
        } else {
            Some(&parts.writable)
        };
        let n = map.map_or(parts.all.len(), |m| m.len());
        if n == 0 {
            return None;
        }
        let idx = if tp.uses_backup() {
            let mut it = Backups { parts, map, i: 0 };
            tp.partition_by_backup(r, n, &mut it)
        } else {
            tp.partition(r, n)
        };
        if idx >= n {
            return None;
        }
        Some(map.map_or(idx, |m| m[idx]))
    }

    pub(crate) fn next_batch_id(&self) -> u64 {
        self.next_batch_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Applies new metadata: partitions, leaders and sinks of every topic,
    /// then buffers records that were waiting for it.
    pub(crate) fn update_metadata(self: &Arc<Self>, snap: &MetadataSnapshot, requested: &[String]) {
        let topics: Vec<Arc<TopicBuf>> = self.topics.read().values().cloned().collect();
        for t in topics {
            let Some(tm) = snap.topics.get(&*t.name) else {
                continue;
            };
            if tm.error.is_some() || tm.partitions.is_empty() {
                if requested.iter().any(|r| **r == *t.name) {
                    self.topic_load_failed(
                        &t,
                        tm.error.unwrap_or(ErrorCode::UnknownTopicOrPartition),
                    );
                }
                continue;
            }
            t.load_failures.store(0, Ordering::Release);
            let old = t.parts.read().clone();
            let mut all = old.all.clone();
            for pm in &tm.partitions {
                let idx = usize::try_from(pm.partition).unwrap_or(usize::MAX);
                if idx > 1 << 20 {
                    continue;
                }
                while all.len() <= idx {
                    all.push(Arc::new(RecBuf::new(t.name.clone(), all.len() as i32)));
                }
                let leader = if pm.error.is_some() && pm.leader < 0 {
                    -1
                } else {
                    pm.leader
                };
                self.set_leader(&all[idx], leader, pm.leader_epoch);
            }
            let writable = tm
                .partitions
                .iter()
                .filter(|p| {
                    p.leader >= 0 && !matches!(p.error, Some(ErrorCode::LeaderNotAvailable))
                })
                .filter_map(|p| usize::try_from(p.partition).ok())
                .filter(|p| *p < all.len())
                .collect();
            let parts = Arc::new(TopicParts { all, writable });
            let mut w = t.waiting.lock();
            *t.parts.write() = parts.clone();
            // Drain in order while holding the lock: producers queue behind.
            for (r, cb, _) in std::mem::take(&mut w.records) {
                self.buffer_loaded(&t, &parts, r, cb);
            }
            t.has_waiting.store(false, Ordering::Release);
            drop(w);
        }
    }

    fn topic_load_failed(&self, t: &Arc<TopicBuf>, code: ErrorCode) {
        let n = t.load_failures.fetch_add(1, Ordering::AcqRel) + 1;
        if n < self.cfg.unknown_topic_retries {
            if let Some(c) = self.client() {
                c.trigger_metadata_now();
            }
            return;
        }
        let waiting = std::mem::take(&mut t.waiting.lock().records);
        for (r, cb, _) in waiting {
            self.fail_now(r, cb, Error::from(code), true);
        }
    }

    /// Moves a partition to the sink of its (new) leader.
    fn set_leader(self: &Arc<Self>, rb: &Arc<RecBuf>, leader: i32, epoch: i32) {
        let (old_sink, new_sink) = {
            let mut g = rb.inner.lock();
            g.leader_epoch = epoch;
            if g.leader == leader && (leader < 0 || g.sink.is_some()) {
                return;
            }
            g.leader = leader;
            let new = if leader >= 0 { self.sink(leader) } else { None };
            let old = std::mem::replace(&mut g.sink, new.clone());
            (old, new)
        };
        if let Some(s) = old_sink {
            s.remove(rb);
        }
        if let Some(s) = new_sink {
            s.add(rb.clone());
            s.wake();
        }
    }

    fn sink(self: &Arc<Self>, broker: i32) -> Option<Arc<Sink>> {
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

    fn wake_sinks(&self) {
        for s in self.sinks.lock().values() {
            s.wake();
        }
    }

    /// Fails records waiting for metadata past the delivery timeout, and
    /// partitions without a leader (no sink checks them).
    pub(crate) fn sweep_timeouts(&self) {
        let Some(timeout) = self.cfg.delivery_timeout else {
            return;
        };
        let now = Instant::now();
        let topics: Vec<Arc<TopicBuf>> = self.topics.read().values().cloned().collect();
        for t in &topics {
            let expired: Vec<(Record, Callback, Instant)> = {
                let mut w = t.waiting.lock();
                let (old, keep): (Vec<_>, Vec<_>) = std::mem::take(&mut w.records)
                    .into_iter()
                    .partition(|(_, _, at)| now.duration_since(*at) >= timeout);
                w.records = keep;
                old
            };
            for (r, cb, _) in expired {
                self.fail_now(r, cb, Error::RecordTimeout, true);
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
            for (r, cb, _) in waiting {
                self.fail_now(r, cb, Error::Aborting, true);
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

    fn wait_empty(&self, deadline: Option<Instant>) -> Result<()> {
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
            for (r, cb, _) in waiting {
                self.fail_now(r, cb, Error::ClientClosed, true);
            }
            for rb in t.parts.read().all.iter() {
                rb.fail_all(self, Error::ClientClosed);
            }
        }
        drop(self.completions.lock().take());
        let join = self.completion_thread.lock().take();
        if let Some(j) = join {
            if j.thread().id() != std::thread::current().id() {
                let _ = j.join();
            }
        }
    }
}

impl RecBuf {
    /// Appends to the open batch, opening a new one if needed (or, with
    /// `ask_new_batch`, reporting that instead); wakes the sink when the
    /// partition becomes ready. (The error hands the record back by value:
    /// boxing it would allocate per record.)
    #[allow(clippy::result_large_err)]
    fn append(
        &self,
        p: &Producer,
        record: Record,
        cb: Callback,
        ask_new_batch: bool,
    ) -> std::result::Result<(), Append> {
        let max = p.cfg.batch_max_bytes as usize;
        let hs = &record.headers;
        let mut g = self.inner.lock();
        let fits = match g.batches.back() {
            Some(b) if !b.sealed => {
                let len = b.records.next_record_len(
                    record.timestamp,
                    record.key.as_deref(),
                    record.value.as_deref(),
                    hs,
                );
                RECORD_BATCH_OVERHEAD + b.records.len() + len <= max
            }
            _ => false,
        };
        let mut wake = false;
        if !fits && ask_new_batch {
            drop(g);
            return Err(Append::NewBatch(record, cb));
        }
        if !fits {
            let alone = RecordsBuf::record_len(
                record.timestamp,
                0,
                record.timestamp,
                record.key.as_deref(),
                record.value.as_deref(),
                hs,
            );
            if RECORD_BATCH_OVERHEAD + alone > max {
                drop(g);
                return Err(Append::Failed(
                    record,
                    cb,
                    Error::from(ErrorCode::MessageTooLarge),
                ));
            }
            if let Some(b) = g.batches.back_mut() {
                // The previous batch is full: it is ready now.
                b.sealed = true;
            }
            let cap = g.next_batch_cap;
            g.batches.push_back(RecBatch {
                id: p.next_batch_id(),
                records: RecordsBuf::new(max.min(64 << 10)),
                entries: Vec::with_capacity(cap),
                user_bytes: 0,
                created: Instant::now(),
                sealed: false,
                inflight: false,
                unknown: false,
                tries: 0,
                stamp: None,
                wire: None,
                codec_used: Codec::None,
                uncompressed: 0,
            });
            g.linger_until = (!p.cfg.linger.is_zero()).then(|| Instant::now() + p.cfg.linger);
            wake = true;
        }
        let Some(b) = g.batches.back_mut() else {
            drop(g);
            return Err(Append::Failed(
                record,
                cb,
                Error::protocol("internal: no open batch"),
            ));
        };
        b.records.append(
            record.timestamp,
            record.key.as_deref(),
            record.value.as_deref(),
            &record.headers,
        );
        b.user_bytes += record.user_size();
        b.entries.push((record, cb));
        let n = b.entries.len();
        g.buffered += 1;
        if n > g.next_batch_cap {
            g.next_batch_cap = n;
        }
        let sink = if wake { g.sink.clone() } else { None };
        drop(g);
        if let Some(s) = sink {
            s.wake();
        }
        Ok(())
    }

    /// Fails batches (and every later one: gapless) whose delivery timeout or
    /// retries ran out, when that is safe: not in flight, outcome known.
    pub(crate) fn fail_expired(&self, p: &Producer, now: Instant) -> bool {
        let mut g = self.inner.lock();
        let Some(first) = g.batches.front() else {
            return false;
        };
        if first.inflight || first.unknown {
            return false;
        }
        let err = if p
            .cfg
            .delivery_timeout
            .is_some_and(|t| now.duration_since(first.created) >= t)
        {
            Error::RecordTimeout
        } else if first.tries >= p.cfg.record_retries {
            Error::RecordRetries
        } else {
            return false;
        };
        if g.inflight > 0 {
            return false;
        }
        let batches: Vec<RecBatch> = g.batches.drain(..).collect();
        self.after_fail(p, &mut g, &batches);
        drop(g);
        for b in batches {
            p.complete(Completion::failed(self, b, err.clone()));
        }
        true
    }

    /// Fails every batch not in flight (abort): in-flight ones finish first.
    fn fail_unsent(&self, p: &Producer, err: Error) {
        let mut g = self.inner.lock();
        let keep = g.inflight;
        if g.batches.len() <= keep {
            return;
        }
        let failed: Vec<RecBatch> = g.batches.drain(keep..).collect();
        self.after_fail(p, &mut g, &failed);
        drop(g);
        for b in failed {
            p.complete(Completion::failed(self, b, err.clone()));
        }
    }

    fn fail_all(&self, p: &Producer, err: Error) {
        let mut g = self.inner.lock();
        let failed: Vec<RecBatch> = g.batches.drain(..).collect();
        g.inflight = 0;
        g.buffered = 0;
        drop(g);
        for b in failed {
            p.complete(Completion::failed(self, b, err.clone()));
        }
    }

    /// Bookkeeping after failing `batches`: a stamped batch leaves a hole in
    /// the sequence, so an idempotent producer must bump its epoch.
    pub(crate) fn after_fail(&self, p: &Producer, g: &mut RecBufInner, batches: &[RecBatch]) {
        let n: usize = batches.iter().map(RecBatch::len).sum();
        g.buffered -= n as i64;
        if p.cfg.idempotent && batches.iter().any(|b| b.stamp.is_some()) {
            p.id.request_bump();
        }
    }
}

/// Why a record was not appended.
enum Append {
    /// It would open a new batch (asked to report that first).
    NewBatch(Record, Callback),
    Failed(Record, Callback, Error),
}

impl HeaderRef for crate::record::RecordHeader {
    fn key(&self) -> &str {
        &self.key
    }
    fn value(&self) -> Option<&[u8]> {
        self.value.as_deref()
    }
}
