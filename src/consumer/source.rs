//! Sources: one `ks-src-<id>` thread per broker fetches the partitions that
//! broker leads, with KIP-227 fetch sessions, and decodes the responses.
//!
//! One fetch per source is in flight or buffered at a time: the next fetch
//! is issued once a poll took the last one, so it is on the wire while the
//! caller processes what it polled. A session starts with a full fetch
//! (epoch 0); later fetches are incremental: only partitions whose fetch
//! position changed, plus the partitions to forget. FETCH_SESSION_ID_NOT_FOUND
//! and INVALID_FETCH_SESSION_EPOCH (and any failed request) start over with a
//! full fetch (Java's `FetchSessionHandler`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;

use super::{epoch, list, read, Buffered, Consumer, Cursor};
use crate::cluster::Cluster;
use crate::error::{ErrorCode, Result};
use crate::logger::klog;
use crate::messages::fetch_request::{FetchPartition, FetchTopic, ForgottenTopic};
use crate::messages::{
    BrokerId, FetchRequest, FetchResponse, ListOffsetsResponse, OffsetForLeaderEpochResponse,
    TopicName,
};
use crate::sync::worker::{Inbox, Signal, Worker};

/// Fetch versions: all from v0 (v0-v3 serve message sets to brokers before
/// Kafka 0.11, whose responses lack the last stable and log start offsets:
/// they stay -1); v13 names topics by id only (KIP-516), not done yet.
const FETCH_VERSIONS: (i16, i16) = (0, 12);
const FETCH_KEY: i16 = 1;

/// A source: the worker thread of one broker, fetching for its cursors.
pub(crate) struct Source {
    worker: Worker<Cursor>,
    /// A decoded fetch of this source waits for polls.
    pub(crate) buffered: AtomicBool,
}

impl std::ops::Deref for Source {
    type Target = Worker<Cursor>;
    fn deref(&self) -> &Worker<Cursor> {
        &self.worker
    }
}

impl Source {
    pub(crate) fn start(c: Arc<Consumer>, client: &Cluster, broker: i32) -> Result<Arc<Source>> {
        let (worker, signal) = Worker::new(broker);
        let src = Arc::new(Source {
            worker,
            buffered: AtomicBool::new(false),
        });
        let mut name = format!("ks-src-{broker}");
        name.truncate(15);
        let s = src.clone();
        let join = crate::sync::thread::spawn_named(
            name,
            client.settings().on_thread_start.clone(),
            move || {
                let (resp_tx, resp_rx) = Inbox::channel(&signal);
                SourceLoop {
                    c,
                    src: s,
                    resp_tx,
                    signal,
                    resp_rx,
                    session: Session::default(),
                    inflight: None,
                    listing: None,
                    validating: None,
                    next_id: 0,
                    backoff_until: None,
                    failures: 0,
                }
                .run();
            },
        )?;
        src.set_join(join);
        Ok(src)
    }

    pub(crate) fn join(&self) {
        self.stop_and_join();
    }
}

/// What a fetch asks for, per partition.
type Wants = HashMap<(Arc<str>, i32), SentPart>;

/// What the broker's session holds for one partition.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct SentPart {
    offset: i64,
    last_epoch: i32,
    leader_epoch: i32,
    max_bytes: i32,
}

#[derive(Default)]
struct Session {
    id: i32,
    epoch: i32,
    sent: HashMap<(Arc<str>, i32), SentPart>,
}

impl Session {
    fn reset(&mut self) {
        self.id = 0;
        self.epoch = 0;
        self.sent.clear();
    }
}

/// One partition of the fetch in flight: its cursor and where it read from.
pub(crate) struct Asked {
    pub(crate) cursor: Arc<Cursor>,
    pub(crate) from: i64,
    pub(crate) gen: u64,
}

struct Inflight {
    id: u64,
    reserved: usize,
    asked: HashMap<(Arc<str>, i32), Asked>,
    sent: HashMap<(Arc<str>, i32), SentPart>,
    full: bool,
}

/// What the source loop waits for besides wake-ups: replies to the
/// requests it sent without blocking.
pub(crate) enum Reply {
    Fetch(u64, Result<(i16, FetchResponse)>),
    /// A ListOffsets ask (0 start, 1 end, 2 by timestamp) of a listing.
    List(u64, usize, Result<ListOffsetsResponse>),
    Epoch(u64, Result<OffsetForLeaderEpochResponse>),
}

struct SourceLoop {
    c: Arc<Consumer>,
    src: Arc<Source>,
    signal: Arc<Signal>,
    resp_tx: Inbox<Reply>,
    resp_rx: Receiver<Reply>,
    session: Session,
    inflight: Option<Inflight>,
    listing: Option<list::Listing>,
    validating: Option<epoch::Validating>,
    next_id: u64,
    backoff_until: Option<Instant>,
    failures: u32,
}

impl SourceLoop {
    fn stopped(&self) -> bool {
        self.src.stopping() || self.c.closed.load(Ordering::Acquire)
    }

    fn run(&mut self) {
        loop {
            if self.stopped() {
                if let Some(inf) = self.inflight.take() {
                    self.c.release(inf.reserved);
                }
                return;
            }
            while let Ok(r) = self.resp_rx.try_recv() {
                self.on_reply(r);
            }
            let now = Instant::now();
            if self.backoff_until.is_none_or(|t| now >= t) {
                self.step();
            }
            let wait = match self.backoff_until {
                Some(t) if t > now => t - now,
                _ => Duration::from_millis(250),
            };
            // Replies are taken at the top of the loop.
            self.signal.wait_timeout(wait);
        }
    }

    /// Starts what can start: offset lookups and validations for cursors
    /// that need them (answered later, like fetches), and the next fetch for
    /// the cursors that are ready.
    fn step(&mut self) {
        let client = self.c.cluster.clone();
        let me = self.src.broker;
        if !client.ensure_versions(me, Duration::from_secs(10)) {
            self.backoff();
            if !self.stopped() {
                client.trigger_metadata();
            }
            return;
        }
        let cursors = self.src.members();
        if self.listing.is_none() {
            let id = self.take_id();
            self.listing = list::start(&self.c, me, &cursors, id, &self.resp_tx);
        }
        if self.validating.is_none() {
            let id = self.take_id();
            self.validating = epoch::start(&self.c, me, &cursors, id, &self.resp_tx);
        }
        if self.inflight.is_none() && !self.src.buffered.load(Ordering::Acquire) && !self.stopped()
        {
            self.issue(&client);
        }
    }

    fn take_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    fn on_reply(&mut self, r: Reply) {
        match r {
            Reply::Fetch(id, res) => self.on_fetch(id, res),
            Reply::List(id, k, res) => {
                let Some(l) = self.listing.as_mut().filter(|l| l.id == id) else {
                    return;
                };
                if l.answer(&self.c.cluster, self.src.broker, k, res) {
                    if let Some(l) = self.listing.take() {
                        l.finish(&self.c.cluster);
                    }
                }
            }
            Reply::Epoch(id, res) => {
                if let Some(v) = self.validating.take_if(|v| v.id == id) {
                    v.finish(&self.c, self.src.broker, res);
                }
            }
        }
    }

    fn backoff(&mut self) {
        self.failures = self.failures.saturating_add(1);
        let d = self.c.cluster.settings().retry_backoff(self.failures);
        self.backoff_until = Some(Instant::now() + d);
    }

    fn release_slot(&self) {
        self.c.release_slot();
    }

    /// Builds and sends the next fetch, if there is anything to fetch.
    fn issue(&mut self, client: &Cluster) {
        let me = self.src.broker;
        let (mut want, asked) = self.fetchable();
        if want.is_empty() {
            self.c.leave_slot_queue(me);
            return;
        }
        let Some(h) = client.handle(me) else {
            client.trigger_metadata_now();
            self.backoff();
            return;
        };
        if !self.c.acquire_slot(me) {
            return;
        }
        let reserved = self.c.reserve(self.c.cfg.max_bytes as usize);
        if reserved == 0 {
            self.release_slot();
            return;
        }
        let max_bytes = i32::try_from(reserved).unwrap_or(i32::MAX);
        let part_max = self.c.cfg.max_partition_bytes.min(max_bytes);
        for sp in want.values_mut() {
            sp.max_bytes = part_max;
        }
        // Fields newer than the version sent stay at their defaults.
        let version = client
            .version_for(me, FETCH_KEY, FETCH_VERSIONS.1)
            .unwrap_or(FETCH_VERSIONS.1);
        let sessions = !self.c.cfg.disable_fetch_sessions && version >= 7;
        let full = !sessions || self.session.id == 0;
        let req = self.request(version, sessions, full, max_bytes, &want);
        let id = self.take_id();
        self.inflight = Some(Inflight {
            id,
            reserved,
            asked,
            sent: want,
            full,
        });
        let tx = self.resp_tx.clone();
        h.submit(req, FETCH_VERSIONS, move |res| {
            tx.send(Reply::Fetch(id, res));
        });
    }

    /// What the source's fetchable cursors ask for, and where each stood.
    fn fetchable(&self) -> (Wants, HashMap<(Arc<str>, i32), Asked>) {
        let now = Instant::now();
        let mut asked = HashMap::new();
        let mut want = HashMap::new();
        for cur in self.src.members() {
            let st = cur.st.lock();
            if !st.fetchable(self.src.broker, now) {
                continue;
            }
            let key = (cur.topic.clone(), cur.partition);
            let sp = SentPart {
                offset: st.offset,
                last_epoch: st.last_epoch,
                leader_epoch: st.leader_epoch,
                max_bytes: 0,
            };
            want.insert(key.clone(), sp);
            let a = Asked {
                from: st.offset,
                gen: st.gen,
                cursor: cur.clone(),
            };
            asked.insert(key, a);
        }
        (want, asked)
    }

    /// The Fetch request: a full one (session epoch 0, or no session), or an
    /// incremental one with only the partitions whose position changed plus
    /// the ones to forget (KIP-227).
    fn request(
        &self,
        version: i16,
        sessions: bool,
        full: bool,
        max_bytes: i32,
        want: &Wants,
    ) -> FetchRequest {
        let cfg = &self.c.cfg;
        let (session_id, session_epoch) = if !sessions {
            (0, -1)
        } else if full {
            (0, 0)
        } else {
            (self.session.id, self.session.epoch)
        };
        let mut by_topic: HashMap<Arc<str>, Vec<FetchPartition>> = HashMap::new();
        for (key, sp) in want {
            if !full && self.session.sent.get(key) == Some(sp) {
                continue;
            }
            by_topic.entry(key.0.clone()).or_default().push(
                FetchPartition::default()
                    .with_partition(key.1)
                    .with_current_leader_epoch(if version >= 9 { sp.leader_epoch } else { -1 })
                    .with_fetch_offset(sp.offset)
                    .with_last_fetched_epoch(if version >= 12 { sp.last_epoch } else { -1 })
                    .with_log_start_offset(-1)
                    .with_partition_max_bytes(sp.max_bytes),
            );
        }
        let mut forgotten: HashMap<Arc<str>, Vec<i32>> = HashMap::new();
        if !full {
            for key in self.session.sent.keys().filter(|k| !want.contains_key(*k)) {
                forgotten.entry(key.0.clone()).or_default().push(key.1);
            }
        }
        let topics = by_topic
            .into_iter()
            .map(|(t, ps)| {
                FetchTopic::default()
                    .with_topic(TopicName(t.to_string().into()))
                    .with_partitions(ps)
            })
            .collect();
        let forgotten = forgotten
            .into_iter()
            .map(|(t, ps)| {
                ForgottenTopic::default()
                    .with_topic(TopicName(t.to_string().into()))
                    .with_partitions(ps)
            })
            .collect();
        let max_wait_ms = i32::try_from(cfg.max_wait.as_millis()).unwrap_or(i32::MAX);
        let rack = if version >= 11 {
            cfg.rack.clone().unwrap_or_default().into()
        } else {
            Default::default()
        };
        FetchRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_max_wait_ms(max_wait_ms)
            .with_min_bytes(cfg.min_bytes)
            .with_max_bytes(max_bytes)
            .with_isolation_level(cfg.isolation.value())
            .with_session_id(session_id)
            .with_session_epoch(session_epoch)
            .with_topics(topics)
            .with_forgotten_topics_data(forgotten)
            .with_rack_id(rack)
    }

    fn on_fetch(&mut self, id: u64, res: Result<(i16, FetchResponse)>) {
        let Some(inf) = self.inflight.take_if(|i| i.id == id) else {
            return;
        };
        let resp = match res {
            Ok((_, r)) => r,
            Err(e) => {
                self.c.release(inf.reserved);
                self.release_slot();
                self.session.reset();
                // KIP-392: a preferred replica that fails sends its
                // partitions back to their leaders.
                if !e.is_client_closed() {
                    for a in inf.asked.values() {
                        if a.cursor.st.lock().preferred.is_some() {
                            self.c.move_cursor(&a.cursor, None);
                        }
                    }
                    klog!(self.c.cluster.logger(), Warn, "fetch failed", "broker" => self.src.broker, "err" => e);
                    self.c.cluster.trigger_metadata();
                    // The first failure after a success retries at once: a
                    // dropped connection (an idle reap, a restart, a proxy)
                    // is most often over by the reconnect, and a dial that
                    // fails is the next failure, which backs off.
                    if self.failures == 0 {
                        self.failures = 1;
                    } else {
                        self.backoff();
                    }
                }
                return;
            }
        };
        if resp.error_code != 0 {
            self.c.release(inf.reserved);
            self.release_slot();
            let code = ErrorCode::from_code(resp.error_code);
            self.session.reset();
            if !matches!(
                code,
                Some(ErrorCode::FetchSessionIdNotFound | ErrorCode::InvalidFetchSessionEpoch)
            ) {
                self.backoff();
            }
            klog!(self.c.cluster.logger(), Info, "fetch error, restarting the fetch session", "broker" => self.src.broker, "err" => resp.error_code);
            return;
        }
        self.failures = 0;
        if !self.c.cfg.disable_fetch_sessions {
            if inf.full {
                self.session.id = resp.session_id;
                self.session.epoch = if resp.session_id != 0 { 1 } else { 0 };
            } else if resp.session_id == 0 {
                // The broker closed the session in answer to an incremental
                // fetch: start a new one with a full fetch rather than bump an
                // epoch the broker no longer knows (Java's
                // `FetchSessionHandler.handleResponse`).
                self.session.reset();
            } else {
                self.session.epoch = self.session.epoch.checked_add(1).unwrap_or(1);
            }
            if self.session.id != 0 {
                self.session.sent = inf.sent;
            } else {
                self.session.sent.clear();
            }
        }
        self.c.release(inf.reserved);
        let parts = read::read_response(&self.c, self.src.broker, resp, &inf.asked);
        if parts.parts.is_empty() {
            self.c.release(parts.charged);
            self.release_slot();
            return;
        }
        self.src.buffered.store(true, Ordering::Release);
        self.c.push(
            Buffered {
                source: Some(self.src.clone()),
                parts: parts.parts,
                charged: parts.charged,
            },
            &self.c.cluster.settings().hooks,
        );
    }
}

/// Whether a partition error means the cursor should wait for fresh
/// metadata (the partition moved, or its leader is not ready).
pub(crate) fn is_leader_error(code: ErrorCode) -> bool {
    matches!(
        code,
        ErrorCode::NotLeaderOrFollower
            | ErrorCode::FencedLeaderEpoch
            | ErrorCode::UnknownLeaderEpoch
            | ErrorCode::UnknownTopicOrPartition
            | ErrorCode::LeaderNotAvailable
            | ErrorCode::ReplicaNotAvailable
            | ErrorCode::KafkaStorageError
            | ErrorCode::OffsetNotAvailable
            | ErrorCode::UnknownTopicId
            | ErrorCode::InconsistentTopicId
    )
}

/// Puts a cursor in backoff after an error.
pub(crate) fn cursor_backoff(client: &Cluster, cur: &Cursor) {
    let mut st = cur.st.lock();
    st.failures = st.failures.saturating_add(1);
    let d = client.settings().retry_backoff(st.failures);
    st.backoff_until = Some(Instant::now() + d);
}
