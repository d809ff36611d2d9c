//! The producer's topics: partitions from metadata, the per-topic
//! partitioner, records waiting for a topic's metadata, and moving
//! partition buffers to the sink of their leader.

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use parking_lot::{Mutex, RwLock};

use super::buffer::Producer;
use super::completion::Callback;
use super::partitioner::{TopicBackupIter, TopicPartitioner};
use super::recbuf::{Append, RecBuf};
use crate::error::{Error, ErrorCode};
use crate::metadata::MetadataSnapshot;
use crate::record::{Record, Topic};

/// A topic's partitions: all of them, and the indexes of those with a leader.
#[derive(Default)]
pub(crate) struct TopicParts {
    pub(crate) all: Vec<Arc<RecBuf>>,
    pub(crate) writable: Vec<usize>,
}

/// Records waiting for a topic's metadata.
pub(super) struct Waiting {
    pub(super) records: Vec<WaitingRecord>,
}

/// A record waiting for its topic's metadata: since when, and until when
/// its caller lets it live (`produce_deadline`).
pub(super) struct WaitingRecord {
    pub(super) record: Record,
    pub(super) cb: Callback,
    pub(super) since: Instant,
    pub(super) deadline: Option<Instant>,
}

pub(crate) struct TopicBuf {
    pub(crate) name: Arc<str>,
    pub(crate) parts: RwLock<Arc<TopicParts>>,
    pub(super) partitioner: Mutex<Box<dyn TopicPartitioner>>,
    /// Bumped after each write of `parts` (see `LAST_TOPICS`).
    pub(super) parts_gen: AtomicU64,
    /// The partitioner is the manual one: records are placed by their
    /// `partition` without its lock.
    pub(super) manual: bool,
    /// Records produced before the topic's metadata loaded, in order. While
    /// any wait, later records queue behind them (per-partition order).
    pub(super) waiting: Mutex<Waiting>,
    pub(super) has_waiting: AtomicBool,
    pub(super) load_failures: AtomicU32,
}

/// Iterates `(index, buffered)` over a topic's candidate partitions.
pub(super) struct Backups<'a> {
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

/// Producers told apart in [`LAST_TOPICS`] (an address could be reused).
static NEXT_PRODUCER: AtomicU64 = AtomicU64::new(1);

pub(super) fn producer_uid() -> u64 {
    NEXT_PRODUCER.fetch_add(1, Ordering::Relaxed)
}

/// What [`LAST_TOPICS`] holds per topic: the topic, and its partitions as
/// of `gen`.
struct LastTopic {
    uid: u64,
    name: Topic,
    topic: Arc<TopicBuf>,
    gen: u64,
    parts: Arc<TopicParts>,
}

/// How many topics a thread remembers: a caller interleaving a few topics
/// still hits (a miss looks the topic up, clones its partitions and
/// replaces an entry, more than the plain lookup).
const LAST_TOPICS_KEPT: usize = 4;

/// The topics a thread produced to last, and which entry a miss replaces.
struct LastTopics {
    entries: Vec<LastTopic>,
    next: usize,
}

thread_local! {
    /// The topics this thread last produced to, per producer uid. A hit
    /// appends with no atomic read-modify-write on anything another
    /// producing thread writes (the topic map's lock, the topic's and its
    /// partitions' reference counts): those cache lines made two threads
    /// producing to one topic take turns. It holds up to
    /// `LAST_TOPICS_KEPT` topics per thread until they are replaced or the
    /// thread exits (after close: memory only, the partitions are failed
    /// and emptied at close, and produce fails before any lookup).
    static LAST_TOPICS: RefCell<LastTopics> = const {
        RefCell::new(LastTopics { entries: Vec::new(), next: 0 })
    };
}

impl Producer {
    /// Appends through the thread's cached topic if it is this record's
    /// and its partitions are current and loaded; hands the record back
    /// otherwise.
    #[inline]
    pub(super) fn buffer_cached(
        &self,
        record: &mut Record,
        cb: Callback,
        deadline: Option<Instant>,
    ) -> std::result::Result<(), Callback> {
        LAST_TOPICS.with(|l| {
            // Shared borrow only: a callback run inline (after close) may
            // produce again on this thread.
            let Ok(g) = l.try_borrow() else {
                return Err(cb);
            };
            let hit = g
                .entries
                .iter()
                .find(|c| c.uid == self.uid && c.name.same(&record.topic));
            match hit {
                Some(c)
                    if c.gen == c.topic.parts_gen.load(Ordering::Acquire)
                        && !c.parts.all.is_empty()
                        && !c.topic.has_waiting.load(Ordering::Acquire) =>
                {
                    self.buffer_loaded(&c.topic, &c.parts, record, cb, deadline);
                    Ok(())
                }
                _ => Err(cb),
            }
        })
    }

    /// The topic's buffer, creating it (and asking for its metadata) if
    /// new; remembered among the thread's last topics.
    pub(super) fn topic(&self, name: &Topic) -> Arc<TopicBuf> {
        let t = self.topic_by_name(name);
        let entry = LastTopic {
            uid: self.uid,
            name: name.clone(),
            topic: t.clone(),
            gen: t.parts_gen.load(Ordering::Acquire),
            parts: t.parts.read().clone(),
        };
        LAST_TOPICS.with(|l| {
            let Ok(mut g) = l.try_borrow_mut() else {
                return;
            };
            // A stale entry for the topic is refreshed in place; otherwise
            // a free slot, or the oldest, takes it.
            let at = g
                .entries
                .iter()
                .position(|c| c.uid == entry.uid && c.name.same(&entry.name));
            match at {
                Some(i) => g.entries[i] = entry,
                None if g.entries.len() < LAST_TOPICS_KEPT => g.entries.push(entry),
                None => {
                    let i = g.next % LAST_TOPICS_KEPT;
                    g.next = i + 1;
                    g.entries[i] = entry;
                }
            }
        });
        t
    }

    /// The topic's buffer from the map, creating it if new.
    fn topic_by_name(&self, name: &str) -> Arc<TopicBuf> {
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
            manual: self.cfg.partitioner.is_manual(),
            parts_gen: AtomicU64::new(0),
            waiting: Mutex::new(Waiting {
                records: Vec::new(),
            }),
            has_waiting: AtomicBool::new(false),
            load_failures: AtomicU32::new(0),
        });
        w.insert(name.to_string(), t.clone());
        drop(w);
        self.cluster.metadata_cache().track([name.to_string()]);
        self.cluster.trigger_metadata_now();
        t
    }

    /// Partitions and appends a record whose slot is reserved; `deadline`
    /// bounds its life in the buffer.
    #[inline]
    pub(super) fn buffer(
        &self,
        topic: &Arc<TopicBuf>,
        record: Record,
        cb: Callback,
        deadline: Option<Instant>,
    ) {
        {
            // The common case appends under the read guard: no Arc clone
            // and drop of the partitions per record. Nothing under it takes
            // the guard again (a failed record's callback runs on ks-prom,
            // or, after close, inline in a produce that returns at once).
            let parts = topic.parts.read();
            if !parts.all.is_empty() && !topic.has_waiting.load(Ordering::Acquire) {
                let mut record = record;
                return self.buffer_loaded(topic, &parts, &mut record, cb, deadline);
            }
        }
        let mut parts = topic.parts.read().clone();
        if parts.all.is_empty() || topic.has_waiting.load(Ordering::Acquire) {
            // The metadata thread drains `waiting` holding its lock, so under
            // the lock either records still wait (queue behind them) or the
            // drain is complete (buffer directly, after them).
            let mut w = topic.waiting.lock();
            if topic.parts.read().all.is_empty() || !w.records.is_empty() {
                w.records.push(WaitingRecord {
                    record,
                    cb,
                    since: Instant::now(),
                    deadline,
                });
                topic.has_waiting.store(true, Ordering::Release);
                return;
            }
            drop(w);
            parts = topic.parts.read().clone();
        }
        let mut record = record;
        self.buffer_loaded(topic, &parts, &mut record, cb, deadline);
    }

    /// Partitions and appends `record`, taking it.
    #[inline]
    pub(super) fn buffer_loaded(
        &self,
        topic: &TopicBuf,
        parts: &TopicParts,
        record: &mut Record,
        cb: Callback,
        deadline: Option<Instant>,
    ) {
        // The partitioner's lock covers picking only, not the append (the
        // encode): callers producing to one topic encode in parallel, each
        // under its partition's lock (kgo holds it for bookkeeping only).
        let pick = if topic.manual {
            // Out of range (negative included) fails the record, as the
            // manual partitioner's own pick does.
            usize::try_from(record.partition)
                .ok()
                .filter(|&p| p < parts.all.len())
        } else {
            self.pick(&mut **topic.partitioner.lock(), parts, record)
        };
        let Some(rb) = pick.and_then(|p| parts.all.get(p)) else {
            let e = Error::from(ErrorCode::UnknownTopicOrPartition);
            return self.fail_now(std::mem::take(record), cb, e, true);
        };
        // One lock per record: the append reports when the record would open
        // a new batch, so the partitioner can re-pick (KIP-480 stickiness)
        // only then.
        let res = match rb.append(self, record, cb, true, deadline) {
            Err(Append::NewBatch(cb)) => {
                self.append_new_batch(topic, parts, rb, record, cb, deadline)
            }
            other => other,
        };
        if let Err(Append::Failed(cb, e)) = res {
            self.fail_now(std::mem::take(record), cb, e, true);
        }
    }

    /// The record opens a new batch: the partitioner may re-pick (KIP-480
    /// stickiness), then it is appended there. Once a batch, so not inlined.
    #[inline(never)]
    fn append_new_batch(
        &self,
        topic: &TopicBuf,
        parts: &TopicParts,
        rb: &Arc<RecBuf>,
        record: &mut Record,
        cb: Callback,
        deadline: Option<Instant>,
    ) -> std::result::Result<(), Append> {
        if topic.manual {
            return rb.append(self, record, cb, false, deadline);
        }
        let mut tp = topic.partitioner.lock();
        let rb = if tp.on_new_batch() {
            self.pick(&mut **tp, parts, record)
                .and_then(|p| parts.all.get(p))
                .unwrap_or(rb)
        } else {
            rb
        };
        drop(tp);
        rb.append(self, record, cb, false, deadline)
    }

    pub(super) fn pick(
        &self,
        tp: &mut dyn TopicPartitioner,
        parts: &TopicParts,
        r: &Record,
    ) -> Option<usize> {
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
            t.parts_gen.fetch_add(1, Ordering::AcqRel);
            // Drain in order while holding the lock: producers queue behind.
            for wr in std::mem::take(&mut w.records) {
                let mut record = wr.record;
                self.buffer_loaded(&t, &parts, &mut record, wr.cb, wr.deadline);
            }
            t.has_waiting.store(false, Ordering::Release);
            drop(w);
        }
    }

    pub(super) fn topic_load_failed(&self, t: &Arc<TopicBuf>, code: ErrorCode) {
        let n = t.load_failures.fetch_add(1, Ordering::AcqRel) + 1;
        if n < self.cfg.unknown_topic_retries {
            self.cluster.trigger_metadata_now();
            return;
        }
        let waiting = std::mem::take(&mut t.waiting.lock().records);
        for wr in waiting {
            self.fail_now(wr.record, wr.cb, Error::from(code), true);
        }
    }

    /// Moves a partition to the sink of its (new) leader. A leader older
    /// than the one known is ignored: a KIP-951 hint may have moved the
    /// partition ahead of a metadata response already on its way (Java's
    /// `Metadata.updateLatestMetadata` skips a partition whose epoch went
    /// back the same way).
    pub(super) fn set_leader(self: &Arc<Self>, rb: &Arc<RecBuf>, leader: i32, epoch: i32) {
        let (old_sink, new_sink) = {
            let mut g = rb.inner.lock();
            if epoch >= 0 && epoch < g.leader_epoch && leader >= 0 {
                return;
            }
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
}
