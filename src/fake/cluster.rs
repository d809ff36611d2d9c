//! Cluster-wide state shared by every fake broker thread.
//!
//! Lock order (never take an earlier lock while holding a later one):
//! `BrokerSlot::run` -> `Shared::intercepts` -> `Shared::sessions[b]` ->
//! `Shared::state`. User closures (intercepts) run with no cluster lock held;
//! each intercept has its own mutex so an `FnMut` is never called twice at once.

use std::collections::hash_map::RandomState;
use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasher, Hasher};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use native_tls::TlsAcceptor;
use parking_lot::{Condvar, Mutex, MutexGuard};

use super::codes;
use super::partition::Partition;
use super::sasl_server::ServerUsers;
use super::session::SessionCache;
use super::{Action, BenchmarkMode, InterceptedRequest};

/// Highest API key counted per broker (keys above it are not counted).
pub(crate) const MAX_KEY: usize = 127;

/// Java's default `max.message.bytes` / `message.max.bytes` (1 MiB + 12).
pub(crate) const DEFAULT_MAX_MESSAGE_BYTES: i32 = 1_048_588;

/// Topic configs a CreateTopics request may set, with their defaults.
pub(crate) const TOPIC_CONFIGS: &[(&str, &str)] = &[
    ("cleanup.policy", "delete"),
    ("compression.type", "producer"),
    ("max.message.bytes", "1048588"),
    ("message.timestamp.type", "CreateTime"),
    ("min.insync.replicas", "1"),
    ("retention.bytes", "-1"),
    ("retention.ms", "604800000"),
    ("segment.bytes", "1073741824"),
];

/// SASL settings of a cluster.
pub(crate) struct SaslSettings {
    pub mechanisms: Vec<String>,
    pub users: ServerUsers,
}

/// Everything fixed at build time.
pub(crate) struct Settings {
    pub brokers: i32,
    pub auto_create: bool,
    pub default_partitions: i32,
    pub max_frame: usize,
    pub session_cache_size: usize,
    pub bench: Option<BenchmarkMode>,
    pub sasl: Option<SaslSettings>,
    pub tls: Option<TlsAcceptor>,
    pub legacy_producer_state: bool,
    pub cluster_id: String,
    pub group: super::coordinator::GroupSettings,
    pub txn: super::coordinator::TxnSettings,
    /// Every broker's log directories (Java `log.dirs`); replicas start in
    /// the first.
    pub log_dirs: Vec<String>,
    /// Serve only the Kafka 0.10.2 API set (see `ClusterBuilder::kafka_0_10`).
    pub kafka_0_10: bool,
}

impl Settings {
    /// Java `default.replication.factor` capped by the broker count.
    pub fn default_replication(&self) -> i16 {
        self.brokers.min(3) as i16
    }
}

/// A topic and its partitions.
#[derive(Debug)]
pub(crate) struct Topic {
    pub name: String,
    pub id: u128,
    pub partitions: Vec<Partition>,
    pub replication_factor: i16,
    /// Explicitly set configs (DescribeConfigs source DYNAMIC_TOPIC_CONFIG).
    pub configs: BTreeMap<String, String>,
}

impl Topic {
    /// The topic's `max.message.bytes`.
    pub fn max_message_bytes(&self) -> i32 {
        self.configs
            .get("max.message.bytes")
            .and_then(|v| v.parse().ok())
            .unwrap_or(DEFAULT_MAX_MESSAGE_BYTES)
    }
    /// The partition at `index`, if any.
    pub fn partition(&self, index: i32) -> Option<&Partition> {
        usize::try_from(index)
            .ok()
            .and_then(|i| self.partitions.get(i))
    }
    /// The partition at `index`, mutably.
    pub fn partition_mut(&mut self, index: i32) -> Option<&mut Partition> {
        usize::try_from(index)
            .ok()
            .and_then(|i| self.partitions.get_mut(i))
    }
}

/// Data behind the cluster mutex.
#[derive(Debug, Default)]
pub(crate) struct State {
    pub topics: BTreeMap<String, Topic>,
    pub ids: HashMap<u128, String>,
    pub next_producer_id: i64,
    /// The transaction coordinator's transactional ids.
    pub txns: super::coordinator::Txns,
    /// Replicas moved out of the first log directory: (topic, partition,
    /// broker) -> directory.
    pub replica_dirs: HashMap<(String, i32, i32), String>,
    topics_created: usize,
}

/// Java `Topic.validate`: 1-249 chars of `[a-zA-Z0-9._-]`, not `.` or `..`.
pub(crate) fn valid_topic_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 249
        && name != "."
        && name != ".."
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-')
}

/// A random version-4 UUID.
pub(crate) fn new_uuid() -> u128 {
    let mut h = RandomState::new().build_hasher();
    h.write_u128(Instant::now().elapsed().as_nanos());
    let hi = h.finish();
    h.write_u64(hi);
    let lo = h.finish();
    let raw = (u128::from(hi) << 64) | u128::from(lo);
    // Version 4, variant 10.
    (raw & !(0xF_u128 << 76) & !(0x3_u128 << 62)) | (0x4_u128 << 76) | (0x2_u128 << 62)
}

/// Converts our `u128` into the schemas' [`Uuid`](crate::messages::Uuid).
pub(crate) fn to_uuid(id: u128) -> crate::messages::Uuid {
    crate::messages::Uuid::from_u128(id)
}

impl State {
    /// Creates a topic: leaders round-robin over the brokers, starting one
    /// further for each new topic so small topics spread too; replicas are
    /// the leader and the next `rf - 1` brokers.
    pub fn create_topic(
        &mut self,
        name: &str,
        partitions: i32,
        rf: i16,
        configs: BTreeMap<String, String>,
        brokers: i32,
    ) -> Result<&Topic, (i16, String)> {
        check_new_topic(self, name, partitions, rf, &configs, brokers)?;
        let start = self.topics_created as i32;
        self.topics_created += 1;
        let parts = (0..partitions)
            .map(|p| new_partition(start + p, rf, brokers))
            .collect();
        let id = new_uuid();
        self.ids.insert(id, name.to_string());
        let topic = Topic {
            name: name.to_string(),
            id,
            partitions: parts,
            replication_factor: rf,
            configs,
        };
        Ok(self.topics.entry(name.to_string()).or_insert(topic))
    }

    /// The name of the topic with `id`.
    pub fn name_of(&self, id: u128) -> Option<&str> {
        self.ids.get(&id).map(String::as_str)
    }

    /// Deletes a topic, returning whether it existed.
    pub fn delete_topic(&mut self, name: &str) -> bool {
        match self.topics.remove(name) {
            Some(t) => {
                self.ids.remove(&t.id);
                self.replica_dirs.retain(|(topic, _, _), _| topic != name);
                true
            }
            None => false,
        }
    }
}

fn new_partition(slot: i32, rf: i16, brokers: i32) -> Partition {
    let leader = slot.rem_euclid(brokers.max(1));
    let replicas = (0..i32::from(rf))
        .map(|i| (leader + i) % brokers.max(1))
        .collect();
    Partition::new(leader, replicas)
}

/// Adds partitions to a topic (CreatePartitions).
pub(crate) fn add_partitions(topic: &mut Topic, count: i32, brokers: i32) {
    let have = topic.partitions.len() as i32;
    for p in have..count {
        topic
            .partitions
            .push(new_partition(p, topic.replication_factor, brokers));
    }
}

fn check_new_topic(
    state: &State,
    name: &str,
    partitions: i32,
    rf: i16,
    configs: &BTreeMap<String, String>,
    brokers: i32,
) -> Result<(), (i16, String)> {
    if !valid_topic_name(name) {
        return Err((
            codes::INVALID_TOPIC_EXCEPTION,
            format!("topic name {name:?} is illegal"),
        ));
    }
    if state.topics.contains_key(name) {
        return Err((
            codes::TOPIC_ALREADY_EXISTS,
            format!("Topic '{name}' already exists."),
        ));
    }
    if partitions <= 0 {
        return Err((
            codes::INVALID_PARTITIONS,
            "Number of partitions must be larger than 0.".into(),
        ));
    }
    if rf <= 0 || i32::from(rf) > brokers {
        return Err((
            codes::INVALID_REPLICATION_FACTOR,
            format!("Replication factor: {rf} larger than available brokers: {brokers}."),
        ));
    }
    for (k, v) in configs {
        let Some((_, default)) = TOPIC_CONFIGS.iter().find(|(n, _)| n == k) else {
            return Err((
                codes::INVALID_CONFIG,
                format!("Unknown topic config name: {k}"),
            ));
        };
        if default.parse::<i64>().is_ok() && v.parse::<i64>().is_err() {
            return Err((
                codes::INVALID_CONFIG,
                format!("Invalid value {v} for configuration {k}"),
            ));
        }
    }
    Ok(())
}

/// The closure type of an intercept.
pub(crate) type InterceptFn = Box<dyn FnMut(&InterceptedRequest) -> Action + Send>;

pub(crate) struct Intercept {
    pub id: u64,
    pub key: i16,
    pub broker: Option<i32>,
    pub remaining: Option<usize>,
    pub f: Arc<Mutex<InterceptFn>>,
}

/// A running broker's threads.
pub(crate) struct Running {
    pub stop: Arc<AtomicBool>,
    pub listener: Option<JoinHandle<()>>,
    pub conns: Arc<Mutex<Vec<super::conn::ConnHandle>>>,
}

/// One broker: its fixed address and, while up, its threads.
pub(crate) struct BrokerSlot {
    pub id: i32,
    pub addr: SocketAddr,
    pub alive: AtomicBool,
    pub run: Mutex<Option<Running>>,
}

/// Fetch session counters (see [`super::FetchSessionStats`]).
#[derive(Default)]
pub(crate) struct SessionCounters {
    pub full: AtomicU64,
    pub incremental: AtomicU64,
    pub created: AtomicU64,
    pub evicted: AtomicU64,
    pub errors: AtomicU64,
}

/// State shared by the [`super::Cluster`] handle and every thread.
pub(crate) struct Shared {
    pub settings: Settings,
    pub state: Mutex<State>,
    /// Notified on every produce, leader change, topic change and stop, so
    /// long-polling fetches re-check.
    pub data_cv: Condvar,
    pub brokers: Vec<BrokerSlot>,
    counts: Vec<Vec<AtomicU64>>,
    pub intercepts: Mutex<Vec<Intercept>>,
    pub next_intercept: AtomicU64,
    pub sessions: Vec<Mutex<SessionCache>>,
    pub session_counters: SessionCounters,
    pub closed: AtomicBool,
    /// The benchmark mode's pre-built batch.
    pub bench_batch: Option<bytes::Bytes>,
    /// The group coordinator (its lock is a leaf: see `coordinator`).
    pub groups: super::coordinator::Groups,
    /// Coordinators a test moved off their hashed broker (a leaf lock).
    pub moved_coordinators: Mutex<HashMap<(super::coordinator::CoordinatorType, String), i32>>,
    /// The transaction timeout thread (`ks-fktxn`).
    pub txn_timer: Mutex<Option<JoinHandle<()>>>,
}

impl Shared {
    /// Creates the shared state for brokers at `addrs`.
    pub fn new(settings: Settings, addrs: Vec<SocketAddr>) -> Self {
        let n = addrs.len();
        let bench_batch = settings.bench.as_ref().map(|b| {
            if b.compression == crate::CompressionCodec::none() {
                return super::batch::encode_batch(
                    0,
                    b.records_per_batch,
                    b.record_size,
                    1_700_000_000_000,
                );
            }
            bench_batch_compressed(b).unwrap_or_else(|_| {
                super::batch::encode_batch(0, b.records_per_batch, b.record_size, 1_700_000_000_000)
            })
        });
        let cache = settings.session_cache_size;
        let groups = super::coordinator::Groups::new(settings.group);
        Self {
            settings,
            state: Mutex::new(State {
                next_producer_id: 1000,
                ..State::default()
            }),
            data_cv: Condvar::new(),
            brokers: addrs
                .into_iter()
                .enumerate()
                .map(|(i, addr)| BrokerSlot {
                    id: i as i32,
                    addr,
                    alive: AtomicBool::new(false),
                    run: Mutex::new(None),
                })
                .collect(),
            counts: (0..n)
                .map(|_| (0..=MAX_KEY).map(|_| AtomicU64::new(0)).collect())
                .collect(),
            intercepts: Mutex::new(Vec::new()),
            next_intercept: AtomicU64::new(1),
            sessions: (0..n)
                .map(|_| Mutex::new(SessionCache::new(cache)))
                .collect(),
            session_counters: SessionCounters::default(),
            closed: AtomicBool::new(false),
            bench_batch,
            groups,
            moved_coordinators: Mutex::new(HashMap::new()),
            txn_timer: Mutex::new(None),
        }
    }

    /// Whether broker `id` is up.
    pub fn alive(&self, id: i32) -> bool {
        usize::try_from(id)
            .ok()
            .and_then(|i| self.brokers.get(i))
            .is_some_and(|b| b.alive.load(Ordering::Acquire))
    }

    /// The advertised port of broker `id`.
    pub fn port(&self, id: i32) -> i32 {
        usize::try_from(id)
            .ok()
            .and_then(|i| self.brokers.get(i))
            .map_or(-1, |b| i32::from(b.addr.port()))
    }

    /// Counts one request.
    pub fn count(&self, broker: i32, key: i16) {
        if let Some(c) = usize::try_from(broker)
            .ok()
            .and_then(|b| self.counts.get(b))
            .and_then(|row| usize::try_from(key).ok().and_then(|k| row.get(k)))
        {
            c.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Requests of `key` seen by `broker`, or by every broker.
    pub fn counted(&self, broker: Option<i32>, key: i16) -> u64 {
        let Ok(k) = usize::try_from(key) else {
            return 0;
        };
        self.counts
            .iter()
            .enumerate()
            .filter(|(b, _)| broker.is_none_or_eq(*b))
            .filter_map(|(_, row)| row.get(k))
            .map(|c| c.load(Ordering::Relaxed))
            .sum()
    }

    /// Locks the cluster state.
    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock()
    }

    /// Wakes every fetch waiting for data.
    pub fn notify_data(&self) {
        self.data_cv.notify_all();
    }

    /// Picks the intercept for a request and consumes one of its uses.
    ///
    /// The first registered intercept that matches wins; an intercept with a
    /// count is removed when it reaches zero.
    pub fn take_intercept(&self, broker: i32, key: i16) -> Option<Arc<Mutex<InterceptFn>>> {
        let mut list = self.intercepts.lock();
        let i = list
            .iter()
            .position(|x| x.key == key && x.broker.is_none_or_eq(broker as usize))?;
        let f = Arc::clone(&list[i].f);
        if let Some(n) = list[i].remaining.as_mut() {
            *n = n.saturating_sub(1);
            if *n == 0 {
                list.remove(i);
            }
        }
        Some(f)
    }

    /// Sleeps for `d` unless `stop` is raised first; returns whether stopped.
    pub fn sleep(&self, d: Duration, stop: &AtomicBool) -> bool {
        let end = Instant::now() + d;
        loop {
            if stop.load(Ordering::Acquire) || self.closed.load(Ordering::Acquire) {
                return true;
            }
            let now = Instant::now();
            if now >= end {
                return false;
            }
            std::thread::sleep((end - now).min(Duration::from_millis(20)));
        }
    }
}

trait OptionBrokerExt {
    fn is_none_or_eq(&self, index: usize) -> bool;
}

impl OptionBrokerExt for Option<i32> {
    fn is_none_or_eq(&self, index: usize) -> bool {
        match self {
            None => true,
            Some(b) => usize::try_from(*b).ok() == Some(index),
        }
    }
}

/// The benchmark stream's batch, compressed with the crate's own codec.
fn bench_batch_compressed(b: &super::BenchmarkMode) -> crate::Result<bytes::Bytes> {
    use crate::protocol::record_batch::{write_batch, BatchHeader, RecordsBuf};
    let no_headers: &[(&str, Option<&[u8]>)] = &[];
    let value = vec![b'x'; b.record_size];
    let mut records = RecordsBuf::new(
        b.record_size
            .saturating_add(16)
            .saturating_mul(b.records_per_batch.max(1) as usize),
    );
    for _ in 0..b.records_per_batch.max(1) {
        records.append(1_700_000_000_000, None, Some(&value), no_headers);
    }
    let mut out = Vec::new();
    write_batch(
        &records,
        &BatchHeader::default(),
        b.compression.codec,
        b.compression.level,
        &mut Vec::new(),
        &mut out,
    )?;
    Ok(bytes::Bytes::from(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_names() {
        for (name, ok) in [
            ("a", true),
            ("a.b_c-D9", true),
            ("", false),
            (".", false),
            ("..", false),
            ("a b", false),
        ] {
            assert_eq!(valid_topic_name(name), ok, "{name:?}");
        }
        assert!(!valid_topic_name(&"x".repeat(250)));
    }

    #[test]
    fn uuids_are_v4_and_distinct() {
        let a = new_uuid();
        let b = new_uuid();
        assert_ne!(a, b);
        assert_eq!((a >> 76) & 0xF, 4);
        assert_eq!((a >> 62) & 0x3, 2);
    }

    #[test]
    fn create_topic_checks_and_spreads() {
        let mut s = State::default();
        let t = s.create_topic("t", 6, 2, BTreeMap::new(), 3).unwrap();
        let leaders: Vec<i32> = t.partitions.iter().map(|p| p.leader).collect();
        assert_eq!(leaders, vec![0, 1, 2, 0, 1, 2]);
        assert_eq!(t.partitions[2].replicas, vec![2, 0]);
        assert_eq!(
            s.create_topic("t", 1, 1, BTreeMap::new(), 3).unwrap_err().0,
            codes::TOPIC_ALREADY_EXISTS
        );
        assert_eq!(
            s.create_topic("u", 0, 1, BTreeMap::new(), 3).unwrap_err().0,
            codes::INVALID_PARTITIONS
        );
        assert_eq!(
            s.create_topic("u", 1, 4, BTreeMap::new(), 3).unwrap_err().0,
            codes::INVALID_REPLICATION_FACTOR
        );
        let bad = BTreeMap::from([("nope".to_string(), "1".to_string())]);
        assert_eq!(
            s.create_topic("u", 1, 1, bad, 3).unwrap_err().0,
            codes::INVALID_CONFIG
        );
        let t2 = s.create_topic("u", 1, 1, BTreeMap::new(), 3).unwrap();
        assert_eq!(
            t2.partitions[0].leader, 1,
            "second topic starts one broker further"
        );
    }
}
