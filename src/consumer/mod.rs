//! The direct consumer: cursors, one source thread per broker, and polling.
//!
//! ```text
//!  metadata refresh ──► update_metadata: a cursor per partition, assigned to
//!                       the source of its leader (moved when the leader moves)
//!  ks-src-<id>          ListOffsets for new cursors, then Fetch (KIP-227
//!  ───────────          sessions) for its cursors; decodes the response and
//!                       buffers it; the next fetch waits until a poll took it
//!  poll_fetches()  ◄──  takes buffered fetches, advances cursors, wakes sources
//! ```
//!
//! A cursor's offset moves only when a poll hands its records out, so
//! buffered data that no longer starts at the cursor (the offset was set,
//! the partition moved and was fetched by its new source first, or it was
//! paused) is dropped instead of duplicated.
//!
//! Lock order: `cursors` → `buf` → a cursor's state → a source's cursor
//! list. No lock is held while a hook runs or while a request is waited on.

mod assign;
mod control;
mod epoch;
mod fetches;
mod list;
mod offset;
mod read;
mod settings;
mod source;

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::time::Instant;

use parking_lot::{Condvar, Mutex};

use crate::cluster::{Cluster, MetadataListener};
use crate::error::Error;
use crate::logger::klog;
use crate::metadata::{MetadataSnapshot, PartitionMetadata};
use crate::record::Record;

pub use fetches::{
    DataLoss, Fetch, FetchBatchMetrics, FetchError, FetchPartition, FetchTopic,
    FetchTopicPartition, Fetches, FetchesRecordIter,
};
pub use offset::{EpochOffset, Offset};
pub(crate) use settings::ConsumerSettings;
pub use settings::IsolationLevel;
use source::Source;

/// A topic and partition, as cursors are keyed.
pub(crate) type TopicPartition = (Arc<str>, i32);

/// One partition being consumed.
pub(crate) struct Cursor {
    pub(crate) topic: Arc<str>,
    pub(crate) partition: i32,
    pub(crate) st: Mutex<CursorState>,
}

pub(crate) struct CursorState {
    /// The next offset to fetch (meaningless while `pending`).
    pub(crate) offset: i64,
    /// The leader epoch of the last consumed batch (KIP-320), -1 if unknown.
    pub(crate) last_epoch: i32,
    /// The leader's epoch from metadata, -1 if unknown.
    pub(crate) leader_epoch: i32,
    /// An offset still to resolve with ListOffsets.
    pub(crate) pending: Option<Offset>,
    /// The broker whose source fetches this cursor (-1: none yet): the
    /// leader, or a preferred read replica (KIP-392).
    pub(crate) source: i32,
    /// The partition's leader from metadata (-1: none).
    pub(crate) leader: i32,
    /// Fetching from this replica instead of the leader until this instant.
    pub(crate) preferred: Option<(i32, Instant)>,
    pub(crate) paused: bool,
    /// The leader epoch grew: check the position with OffsetForLeaderEpoch
    /// before fetching (KIP-320, for fetches older than v12).
    pub(crate) validate: bool,
    /// Bumped whenever the offset is set from outside a poll.
    pub(crate) gen: u64,
    /// Not fetched before this instant (after an error).
    pub(crate) backoff_until: Option<Instant>,
    pub(crate) failures: u32,
    /// A non-retriable partition error was returned: not fetched again until
    /// the user moves the partition (set_offsets, or resume after a pause),
    /// as kgo's `FetchPartition.Err` documents.
    pub(crate) stopped: bool,
}

impl CursorState {
    pub(crate) fn fetchable(&self, broker: i32, now: Instant) -> bool {
        self.source == broker
            && !self.paused
            && !self.stopped
            && self.pending.is_none()
            && !self.validate
            && self.backoff_until.is_none_or(|t| now >= t)
    }
}

/// The first `n` records. Taking all of them, the deque becomes the Vec
/// without moving a record (it was filled from empty, so it is contiguous
/// from the start of its allocation).
fn take_front(records: &mut VecDeque<Record>, n: usize) -> Vec<Record> {
    if n == records.len() {
        Vec::from(std::mem::take(records))
    } else {
        records.drain(..n).collect()
    }
}

/// One partition's data inside a buffered fetch.
pub(crate) struct BufPart {
    pub(crate) topic: Arc<str>,
    pub(crate) partition: i32,
    /// None for an injected error that belongs to no cursor state.
    pub(crate) cursor: Option<Arc<Cursor>>,
    pub(crate) gen: u64,
    /// The offset the data starts at (the cursor must still be there).
    pub(crate) from: i64,
    /// The cursor's offset once every record is taken.
    pub(crate) next_offset: i64,
    pub(crate) next_epoch: i32,
    pub(crate) records: VecDeque<Record>,
    pub(crate) err: Option<Error>,
    pub(crate) high_watermark: i64,
    pub(crate) last_stable_offset: i64,
    pub(crate) log_start_offset: i64,
}

impl BufPart {
    /// A part that carries only an error for the partition (no cursor state,
    /// no records, unknown watermarks).
    pub(crate) fn error(topic: Arc<str>, partition: i32, err: Error) -> BufPart {
        BufPart {
            topic,
            partition,
            cursor: None,
            gen: 0,
            from: -1,
            next_offset: -1,
            next_epoch: -1,
            records: VecDeque::new(),
            err: Some(err),
            high_watermark: -1,
            last_stable_offset: -1,
            log_start_offset: -1,
        }
    }
}

/// One source's decoded fetch, waiting for polls.
pub(crate) struct Buffered {
    pub(crate) source: Option<Arc<Source>>,
    pub(crate) parts: Vec<BufPart>,
    /// Budget bytes to give back once every part was taken.
    pub(crate) charged: usize,
}

#[derive(Default)]
pub(crate) struct Buffer {
    pub(crate) queue: VecDeque<Buffered>,
    /// Budget bytes in use: buffered data plus in-flight reservations.
    pub(crate) used: usize,
    pub(crate) records: usize,
    /// A source found too little room: the next release wakes the sources
    /// (a release wakes nobody otherwise; a decode releases per partition).
    pub(crate) starved: bool,
}

impl MetadataListener for Consumer {
    fn on_metadata(self: Arc<Self>, snap: &Arc<MetadataSnapshot>, _topics: &[String]) {
        self.update_metadata(snap);
    }
}

/// The consumer's shared state; one per client.
pub(crate) struct Consumer {
    pub(crate) cfg: ConsumerSettings,
    pub(crate) cluster: Arc<Cluster>,
    /// This consumer, for the sources it starts.
    me: Weak<Consumer>,
    cursors: Mutex<HashMap<TopicPartition, Arc<Cursor>>>,
    sources: Mutex<HashMap<i32, Arc<Source>>>,
    pub(crate) buf: Mutex<Buffer>,
    cond: Condvar,
    pub(crate) closed: AtomicBool,
    paused_topics: Mutex<HashSet<String>>,
    paused_partitions: Mutex<HashSet<(String, i32)>>,
    /// Fetches in flight or buffered, for `max_concurrent_fetches`.
    fetch_slots: AtomicUsize,
    /// Sources waiting for a fetch slot, served first come first served.
    slot_queue: Mutex<VecDeque<i32>>,
    /// The most budget bytes ever in use (for tests and metrics).
    pub(crate) peak_used: AtomicUsize,
    /// With consume_regex: the expressions, and every topic seen so far
    /// with whether it matched (each topic is evaluated once).
    regexes: Vec<regex::Regex>,
    evaluated: Mutex<HashMap<String, bool>>,
    /// Group consuming: cursors follow the group's assignment (with the
    /// offsets to start from), not the subscribed topics.
    group_mode: bool,
    assigned: Mutex<HashMap<String, HashMap<i32, Offset>>>,
}

impl std::fmt::Debug for Consumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Consumer").finish_non_exhaustive()
    }
}

impl Consumer {
    /// Creates the client's consumer and asks for metadata of its topics.
    pub(crate) fn start(
        cluster: Arc<Cluster>,
        cfg: ConsumerSettings,
        group_mode: bool,
    ) -> Arc<Consumer> {
        let regexes: Vec<regex::Regex> = if cfg.regex {
            // Validated by the builder.
            cfg.topics
                .iter()
                .filter_map(|t| regex::Regex::new(t).ok())
                .collect()
        } else {
            Vec::new()
        };
        let mut topics: Vec<String> = if cfg.regex {
            Vec::new()
        } else {
            cfg.topics.clone()
        };
        topics.extend(cfg.partitions.keys().cloned());
        let by_regex = !regexes.is_empty();
        let c = Arc::new_cyclic(|me| Consumer {
            cfg,
            cluster,
            me: me.clone(),
            cursors: Mutex::new(HashMap::new()),
            sources: Mutex::new(HashMap::new()),
            buf: Mutex::new(Buffer::default()),
            cond: Condvar::new(),
            closed: AtomicBool::new(false),
            paused_topics: Mutex::new(HashSet::new()),
            paused_partitions: Mutex::new(HashSet::new()),
            fetch_slots: AtomicUsize::new(0),
            slot_queue: Mutex::new(VecDeque::new()),
            peak_used: AtomicUsize::new(0),
            regexes,
            evaluated: Mutex::new(HashMap::new()),
            group_mode,
            assigned: Mutex::new(HashMap::new()),
        });
        let listener: Arc<dyn MetadataListener> = c.clone();
        c.cluster.add_listener(Arc::downgrade(&listener));
        if by_regex {
            c.cluster.metadata_cache().track_all();
            c.cluster.trigger_metadata_now();
        } else if !topics.is_empty() {
            c.cluster.metadata_cache().track(topics);
            c.cluster.trigger_metadata_now();
        }
        c
    }

    /// Creates cursors for new partitions and moves cursors whose leader changed.
    pub(crate) fn update_metadata(&self, snap: &MetadataSnapshot) {
        if self.closed.load(Ordering::Acquire) {
            return;
        }
        let matched = self.match_topics(snap);
        let assigned = self.assigned.lock().clone();
        let mut wanted: Vec<(&str, Option<&HashMap<i32, Offset>>)> = Vec::new();
        if self.group_mode {
            wanted.extend(assigned.iter().map(|(t, ps)| (t.as_str(), Some(ps))));
        } else {
            let topics = if self.regexes.is_empty() {
                &self.cfg.topics
            } else {
                &matched
            };
            wanted.extend(topics.iter().map(|t| (t.as_str(), None)));
            let parts = self.cfg.partitions.iter();
            wanted.extend(parts.map(|(t, ps)| (t.as_str(), Some(ps))));
        }
        let mut missing = false;
        let mut wake = Vec::new();
        let mut cursors = self.cursors.lock();
        for (topic, only) in wanted {
            let Some(tm) = snap.topics.get(topic) else {
                missing = true;
                continue;
            };
            missing |= tm.partitions.is_empty();
            let name: Arc<str> = Arc::from(topic);
            for pm in &tm.partitions {
                let start = match only {
                    Some(ps) => match ps.get(&pm.partition) {
                        Some(o) => *o,
                        None => continue,
                    },
                    None => self.cfg.reset_offset,
                };
                missing |= pm.leader < 0;
                let key = (name.clone(), pm.partition);
                match cursors.get(&key) {
                    None => {
                        let cur = self.new_cursor(&name, pm, start);
                        cursors.insert(key, cur.clone());
                        if pm.leader >= 0 {
                            if let Some(s) = self.source(pm.leader) {
                                s.add(cur);
                                wake.push(s);
                            }
                        }
                    }
                    Some(cur) => wake.extend(self.update_cursor(cur, pm.leader, pm.leader_epoch)),
                }
            }
        }
        drop(cursors);
        for s in wake {
            s.wake();
        }
        if missing {
            self.cluster.trigger_metadata();
        }
    }

    /// A cursor for a partition first seen in metadata, starting at `start`.
    fn new_cursor(&self, name: &Arc<str>, pm: &PartitionMetadata, start: Offset) -> Arc<Cursor> {
        let paused = self.paused_topics.lock().contains(&**name)
            || self
                .paused_partitions
                .lock()
                .contains(&(name.to_string(), pm.partition));
        Arc::new(Cursor {
            topic: name.clone(),
            partition: pm.partition,
            st: Mutex::new(CursorState {
                offset: -1,
                last_epoch: start.epoch,
                leader_epoch: pm.leader_epoch,
                pending: Some(start),
                source: pm.leader.max(-1),
                leader: pm.leader.max(-1),
                preferred: None,
                validate: false,
                paused,
                gen: 0,
                backoff_until: None,
                failures: 0,
                stopped: false,
            }),
        })
    }

    /// Applies fresh metadata (or a KIP-951 leader hint) to an existing
    /// cursor: a grown leader epoch asks for validation (KIP-320), a new
    /// leader moves it to that source, a preferred replica expires
    /// (KIP-392). Returns the source to wake.
    ///
    /// A leader older than the one the cursor knows is ignored: a hint may
    /// have moved the cursor ahead of a metadata response already on its
    /// way, and going back would only earn another NOT_LEADER (Java's
    /// `Metadata.updateLatestMetadata` skips partitions whose epoch went
    /// back the same way).
    fn update_cursor(&self, cur: &Arc<Cursor>, leader: i32, epoch: i32) -> Option<Arc<Source>> {
        let mut st = cur.st.lock();
        let stale = epoch >= 0 && epoch < st.leader_epoch;
        let leader = if stale { st.leader } else { leader };
        if epoch > st.leader_epoch
            && st.leader_epoch >= 0
            && st.last_epoch >= 0
            && st.pending.is_none()
        {
            st.validate = true;
        }
        st.leader_epoch = st.leader_epoch.max(epoch);
        if leader >= 0 {
            st.leader = leader;
        }
        if st
            .preferred
            .is_some_and(|(_, until)| Instant::now() >= until || leader != st.leader)
        {
            // Back to the leader on a timer (KIP-392).
            st.preferred = None;
        }
        let target = st.preferred.map_or(leader, |(r, _)| r);
        if leader >= 0 && target != st.source {
            klog!(self.cluster.logger(), Info, "partition moved to a new leader", "topic" => cur.topic, "partition" => cur.partition, "from" => st.source, "to" => target, "epoch" => st.leader_epoch);
            let old = st.source;
            st.source = target;
            st.backoff_until = None;
            drop(st);
            if let Some(s) = self.sources.lock().get(&old).cloned() {
                s.remove(cur);
            }
            let s = self.source(target)?;
            s.add(cur.clone());
            return Some(s);
        }
        if st.backoff_until.is_some() {
            // Fresh metadata: retry a partition that failed.
            st.backoff_until = None;
            let src = st.source;
            drop(st);
            return self.sources.lock().get(&src).cloned();
        }
        None
    }

    /// With consume_regex: every topic of `snap` that matched (new topics
    /// are evaluated once and remembered).
    fn match_topics(&self, snap: &MetadataSnapshot) -> Vec<String> {
        if self.regexes.is_empty() {
            return Vec::new();
        }
        let mut ev = self.evaluated.lock();
        let mut out = Vec::new();
        for (name, t) in &snap.topics {
            let hit = *ev
                .entry(name.clone())
                .or_insert_with(|| !t.is_internal && self.regexes.iter().any(|r| r.is_match(name)));
            if hit {
                out.push(name.clone());
            }
        }
        out.sort();
        out
    }

    /// Moves a cursor to fetch from `replica` (KIP-392), or back to its
    /// leader with `None`.
    pub(crate) fn move_cursor(&self, cur: &Arc<Cursor>, replica: Option<i32>) {
        let client = &*self.cluster;
        let mut st = cur.st.lock();
        st.preferred = replica.map(|r| (r, Instant::now() + client.settings().metadata_max_age));
        let to = replica.unwrap_or(st.leader);
        if to < 0 || to == st.source {
            return;
        }
        klog!(client.logger(), Info, "moving partition to another replica", "topic" => cur.topic, "partition" => cur.partition, "from" => st.source, "to" => to, "preferred" => replica.is_some());
        let old = st.source;
        st.source = to;
        st.backoff_until = None;
        drop(st);
        if let Some(s) = self.sources.lock().get(&old).cloned() {
            s.remove(cur);
        }
        if let Some(s) = self.source(to) {
            s.add(cur.clone());
            s.wake();
        }
    }

    /// The source of `broker`, started on first use.
    fn source(&self, broker: i32) -> Option<Arc<Source>> {
        let client = &*self.cluster;
        let mut sources = self.sources.lock();
        if let Some(s) = sources.get(&broker) {
            return Some(s.clone());
        }
        let me = self.me.upgrade()?;
        match Source::start(me, client, broker) {
            Ok(s) => {
                sources.insert(broker, s.clone());
                Some(s)
            }
            Err(e) => {
                klog!(client.logger(), Error, "unable to start source thread", "broker" => broker, "err" => e);
                None
            }
        }
    }

    /// Stops the sources and wakes every poller (joins happen in `join_sources`).
    pub(crate) fn begin_close(&self) {
        self.closed.store(true, Ordering::Release);
        for s in self.sources.lock().values() {
            s.signal_stop();
        }
        let _g = self.buf.lock();
        self.cond.notify_all();
    }

    pub(crate) fn join_sources(&self) {
        let sources: Vec<Arc<Source>> = self.sources.lock().drain().map(|(_, s)| s).collect();
        for s in sources {
            s.join();
        }
        let mut b = self.buf.lock();
        let left = std::mem::take(&mut b.queue);
        b.records = 0;
        drop(b);
        // Records dropped at close leave the buffer unpolled, so a gauge kept
        // from the buffered and unbuffered hooks returns to zero. The hooks
        // run without the buffer lock (they are user code).
        let hooks = &self.cluster.settings().hooks;
        if hooks.is_empty() {
            return;
        }
        for r in left.iter().flat_map(|e| &e.parts).flat_map(|p| &p.records) {
            crate::hooks::each(hooks, |h| h.on_fetch_record_unbuffered(r, false));
        }
    }

    /// Takes a fetch slot for `broker`'s source (always, when
    /// `max_concurrent_fetches` is 0). Slots go to waiting sources in the
    /// order they asked (kgo's FIFO).
    pub(crate) fn acquire_slot(&self, broker: i32) -> bool {
        let max = self.cfg.max_concurrent_fetches;
        if max == 0 {
            return true;
        }
        let mut q = self.slot_queue.lock();
        let free = self.fetch_slots.load(Ordering::Acquire) < max;
        if free && q.front().is_none_or(|b| *b == broker) {
            if q.front() == Some(&broker) {
                q.pop_front();
            }
            self.fetch_slots.fetch_add(1, Ordering::AcqRel);
            return true;
        }
        if !q.contains(&broker) {
            q.push_back(broker);
        }
        false
    }

    /// Leaves the slot queue (a source with nothing to fetch).
    pub(crate) fn leave_slot_queue(&self, broker: i32) {
        if self.cfg.max_concurrent_fetches > 0 {
            let mut q = self.slot_queue.lock();
            let was_front = q.front() == Some(&broker);
            q.retain(|b| *b != broker);
            drop(q);
            if was_front {
                self.wake_sources();
            }
        }
    }

    /// Gives a fetch slot back and wakes the sources waiting for one.
    pub(crate) fn release_slot(&self) {
        if self.cfg.max_concurrent_fetches > 0 {
            self.fetch_slots.fetch_sub(1, Ordering::AcqRel);
            self.wake_sources();
        }
    }

    fn wake_sources(&self) {
        for s in self.sources.lock().values() {
            s.wake();
        }
    }

    /// Reserves budget bytes for a fetch: `want`, capped at a quarter of
    /// the budget (the rest is room to decompress), or 0 when that much is
    /// not free.
    pub(crate) fn reserve(&self, want: usize) -> usize {
        let budget = self.cfg.max_buffered_bytes;
        let r = want.min(budget / 4).max(1);
        let mut b = self.buf.lock();
        if budget.saturating_sub(b.used) < r {
            b.starved = true;
            return 0;
        }
        b.used += r;
        self.peak_used.fetch_max(b.used, Ordering::Relaxed);
        r
    }

    /// Gives budget bytes back and wakes sources waiting for room.
    pub(crate) fn release(&self, n: usize) {
        if n == 0 {
            return;
        }
        let mut b = self.buf.lock();
        b.used = b.used.saturating_sub(n);
        let starved = std::mem::take(&mut b.starved);
        drop(b);
        // Sources that found too little room wait for this.
        if starved {
            self.wake_sources();
        }
    }

    /// Charges `n` budget bytes if they fit, then takes every free byte
    /// left (for a decode that charges as it goes; give back what is left
    /// with [`release`](Self::release)), under one lock. Returns the bytes
    /// grabbed, or, when `n` does not fit, whether nothing else was using
    /// the budget.
    pub(crate) fn charge_and_grab(&self, n: usize) -> std::result::Result<usize, bool> {
        let budget = self.cfg.max_buffered_bytes;
        let mut b = self.buf.lock();
        if b.used.saturating_add(n) > budget {
            b.starved = true;
            return Err(b.used == 0);
        }
        b.used += n;
        self.peak_used.fetch_max(b.used, Ordering::Relaxed);
        let free = budget.saturating_sub(b.used);
        b.used += free;
        Ok(free)
    }

    /// Buffers a source's fetch (or injected errors) and wakes a poller.
    pub(crate) fn push(&self, b: Buffered, hooks: &[Arc<dyn crate::hooks::Hook>]) {
        if !hooks.is_empty() {
            for p in &b.parts {
                for r in &p.records {
                    crate::hooks::each(hooks, |h| h.on_fetch_record_buffered(r));
                }
            }
        }
        let n: usize = b.parts.iter().map(|p| p.records.len()).sum();
        let mut buf = self.buf.lock();
        buf.records += n;
        buf.queue.push_back(b);
        self.cond.notify_all();
    }

    /// Waits for buffered data and takes up to `max` records (0: all).
    pub(crate) fn poll(&self, max: usize, deadline: Option<Instant>) -> Fetches {
        let mut buf = self.buf.lock();
        loop {
            if self.closed.load(Ordering::Acquire) {
                return Fetches::error(Error::ClientClosed);
            }
            if !buf.queue.is_empty() {
                let (fetches, done, unbuffered) = self.take(&mut buf, max);
                drop(buf);
                self.after_take(done, unbuffered);
                if !fetches.0.is_empty() {
                    return fetches;
                }
                buf = self.buf.lock();
                continue;
            }
            match deadline {
                Some(d) => {
                    if Instant::now() >= d {
                        return Fetches::default();
                    }
                    let _ = self.cond.wait_until(&mut buf, d);
                }
                None => self.cond.wait(&mut buf),
            }
        }
    }

    fn after_take(&self, done: Vec<(Option<Arc<Source>>, usize)>, unbuffered: Vec<(Record, bool)>) {
        let mut freed = 0;
        for (src, charged) in done {
            freed += charged;
            if let Some(s) = src {
                s.buffered.store(false, Ordering::Release);
                if self.cfg.max_concurrent_fetches > 0 {
                    self.fetch_slots.fetch_sub(1, Ordering::AcqRel);
                }
            }
        }
        if freed > 0 {
            self.release(freed);
        }
        // Room or a slot freed: every idle source may go.
        for s in self.sources.lock().values() {
            s.wake();
        }
        for (r, polled) in &unbuffered {
            crate::hooks::each(&self.cluster.settings().hooks, |h| {
                h.on_fetch_record_unbuffered(r, *polled)
            });
        }
    }

    /// Takes records from the front of the buffer; returns the fetches, the
    /// finished entries (to release), and records for the unbuffered hook.
    #[allow(clippy::type_complexity)]
    fn take(
        &self,
        buf: &mut Buffer,
        max: usize,
    ) -> (
        Fetches,
        Vec<(Option<Arc<Source>>, usize)>,
        Vec<(Record, bool)>,
    ) {
        let hooks = !self.cluster.settings().hooks.is_empty();
        let mut left = if max == 0 { usize::MAX } else { max };
        let mut out = Vec::new();
        let mut done = Vec::new();
        let mut unbuffered = Vec::new();
        let mut taken_records = 0usize;
        while left > 0 {
            let Some(entry) = buf.queue.front_mut() else {
                break;
            };
            let mut fetch = Fetch::default();
            for part in &mut entry.parts {
                if left == 0 {
                    break;
                }
                let mut fp = FetchPartition {
                    partition: part.partition,
                    err: None,
                    high_watermark: part.high_watermark,
                    last_stable_offset: part.last_stable_offset,
                    log_start_offset: part.log_start_offset,
                    records: Vec::new(),
                };
                if let Some(cur) = &part.cursor {
                    let mut st = cur.st.lock();
                    // A paused partition's buffered data is still returned
                    // (kgo.md: pausing "does not clear anything currently
                    // buffered"); pausing only stops new fetches.
                    if st.gen != part.gen || st.offset != part.from || st.pending.is_some() {
                        // Stale: the data no longer starts at the cursor.
                        taken_records += part.records.len();
                        if hooks {
                            unbuffered.extend(part.records.drain(..).map(|r| (r, false)));
                        }
                        part.records.clear();
                        part.err = None;
                        continue;
                    }
                    let n = part.records.len().min(left);
                    fp.records = take_front(&mut part.records, n);
                    left -= n;
                    taken_records += n;
                    if part.records.is_empty() {
                        st.offset = part.next_offset.max(st.offset);
                        if part.next_epoch >= 0 {
                            st.last_epoch = part.next_epoch;
                        }
                    } else if let Some(last) = fp.records.last() {
                        st.offset = last.offset + 1;
                        if last.leader_epoch >= 0 {
                            st.last_epoch = last.leader_epoch;
                        }
                    }
                    part.from = st.offset;
                }
                fp.err = part.err.take();
                if hooks {
                    unbuffered.extend(fp.records.iter().map(|r| (r.clone(), true)));
                }
                if fp.records.is_empty() && fp.err.is_none() {
                    continue;
                }
                match fetch.topics.last_mut() {
                    Some(t) if *t.topic == *part.topic => t.partitions.push(fp),
                    _ => fetch.topics.push(FetchTopic {
                        topic: part.topic.to_string(),
                        partitions: vec![fp],
                    }),
                }
            }
            entry
                .parts
                .retain(|p| !p.records.is_empty() || p.err.is_some());
            if !fetch.topics.is_empty() {
                out.push(fetch);
            }
            if entry.parts.is_empty() {
                if let Some(e) = buf.queue.pop_front() {
                    done.push((e.source, e.charged));
                }
            } else {
                break;
            }
        }
        buf.records = buf.records.saturating_sub(taken_records);
        (Fetches(out), done, unbuffered)
    }

    fn each_cursor(&self, mut f: impl FnMut(&Cursor, &mut CursorState)) {
        let cursors: Vec<Arc<Cursor>> = self.cursors.lock().values().cloned().collect();
        for c in cursors {
            let mut st = c.st.lock();
            f(&c, &mut st);
        }
        for s in self.sources.lock().values() {
            s.wake();
        }
    }
}
