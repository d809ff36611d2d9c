//! Partitioners (kgo's `Partitioner` family).
//!
//! A [`Partitioner`] makes one [`TopicPartitioner`] per topic. A topic
//! partitioner is only ever used by one producing thread at a time (the
//! client holds the topic's partitioner lock), so it needs no locking itself.
//! `partition(r, n)` picks an index among `n` partitions: all of the topic's
//! partitions when [`TopicPartitioner::requires_consistency`] says so for the
//! record, else only those that currently have a leader.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::record::Record;

/// Makes a topic partitioner per topic.
pub trait Partitioner: Send + Sync {
    /// The partitioner for `topic`.
    fn for_topic(&self, topic: &str) -> Box<dyn TopicPartitioner>;

    /// Whether its topic partitioners place every record in the partition
    /// its `partition` field names and keep no state, as
    /// [`manual_partitioner`] does: then the client places records itself,
    /// without taking the topic's partitioner lock (callers producing to
    /// one topic from several threads do not take turns). Defaults to false.
    fn is_manual(&self) -> bool {
        false
    }
}

/// Buffered-record counts per partition index, for
/// [`TopicPartitioner::partition_by_backup`] (kgo's `TopicBackupIter`).
pub trait TopicBackupIter {
    /// The next `(partition index, buffered records)`, or `None` after `n`.
    fn next_backup(&mut self) -> Option<(usize, i64)>;
}

/// Partitions records of one topic.
pub trait TopicPartitioner: Send {
    /// Whether `r` must go to the same partition even when that partition
    /// has no leader right now (it then waits until it has one).
    fn requires_consistency(&self, r: &Record) -> bool;

    /// The index, among `n` partitions, for `r`.
    fn partition(&mut self, r: &Record, n: usize) -> usize;

    /// Called when the record about to be buffered would start a new batch on
    /// the partition picked (kgo's `TopicPartitionerOnNewBatch`); the record
    /// is then partitioned again. Return `true` to opt in.
    fn on_new_batch(&mut self) -> bool {
        false
    }

    /// Whether [`partition_by_backup`](Self::partition_by_backup) replaces
    /// [`partition`](Self::partition) (kgo's `TopicBackupPartitioner`).
    fn uses_backup(&self) -> bool {
        false
    }

    /// Like `partition`, with how many records each partition has buffered.
    fn partition_by_backup(
        &mut self,
        r: &Record,
        n: usize,
        backup: &mut dyn TopicBackupIter,
    ) -> usize {
        let _ = backup;
        self.partition(r, n)
    }
}

/// Maps a key to one of `n` partitions.
pub type PartitionerHasher = Arc<dyn Fn(&[u8], usize) -> usize + Send + Sync>;

/// Kafka's murmur2 (`org.apache.kafka.common.utils.Utils.murmur2`).
pub fn murmur2(data: &[u8]) -> u32 {
    const SEED: u32 = 0x9747_b28c;
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    let len = data.len();
    let mut h = SEED ^ (len as u32);
    let mut chunks = data.chunks_exact(4);
    for c in &mut chunks {
        let mut k = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let rest = chunks.remainder();
    if rest.len() >= 3 {
        h ^= u32::from(rest[2]) << 16;
    }
    if rest.len() >= 2 {
        h ^= u32::from(rest[1]) << 8;
    }
    if !rest.is_empty() {
        h ^= u32::from(rest[0]);
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h
}

/// 32-bit FNV-1a, Sarama's default key hash.
pub fn fnv32a(data: &[u8]) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in data {
        h ^= u32::from(*b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}

/// Kafka's mapping from a hash to a partition: mask the sign bit, then
/// modulo (kgo's `KafkaHasher`). `hash` is any function or closure, such as
/// [`murmur2`] (Java's default) or one that captures a seed.
pub fn kafka_hasher(hash: impl Fn(&[u8]) -> u32 + Send + Sync + 'static) -> PartitionerHasher {
    Arc::new(move |key, n| ((hash(key) & 0x7fff_ffff) as usize) % n.max(1))
}

/// Sarama's mapping: the hash as an `i32`, modulo, negated if negative
/// (kgo's `SaramaHasher`). `sarama_hasher(fnv32a)` matches Sarama's default;
/// `hash` may be any function or closure, as for [`kafka_hasher`].
pub fn sarama_hasher(hash: impl Fn(&[u8]) -> u32 + Send + Sync + 'static) -> PartitionerHasher {
    Arc::new(move |key, n| {
        let n = i32::try_from(n.max(1)).unwrap_or(i32::MAX);
        let p = (hash(key) as i32) % n;
        p.unsigned_abs() as usize
    })
}

/// A cheap per-thread random index in `0..n`.
fn random_index(n: usize) -> usize {
    ((crate::sync::backoff::random_unit() * n as f64) as usize).min(n.saturating_sub(1))
}

/// Java's default partitioner since 2.4 (KIP-480): keyed records hash with
/// murmur2 (or `hasher`); unkeyed records stick to one partition until it
/// rolls to a new batch (kgo's `StickyKeyPartitioner`).
pub fn sticky_key_partitioner(hasher: Option<PartitionerHasher>) -> Arc<dyn Partitioner> {
    Arc::new(StickyKey {
        hasher: hasher.unwrap_or_else(|| kafka_hasher(murmur2)),
    })
}

/// Unkeyed-style stickiness for every record, ignoring keys (kgo's `StickyPartitioner`).
pub fn sticky_partitioner() -> Arc<dyn Partitioner> {
    Arc::new(Sticky)
}

/// Cycles through partitions one record at a time (kgo's `RoundRobinPartitioner`).
pub fn round_robin_partitioner() -> Arc<dyn Partitioner> {
    Arc::new(RoundRobin)
}

/// Sticks to a partition until a new batch, then picks the partition with
/// the fewest buffered records (kgo's `LeastBackupPartitioner`).
pub fn least_backup_partitioner() -> Arc<dyn Partitioner> {
    Arc::new(LeastBackup)
}

/// Uses each record's own `partition` field; invalid partitions fail the
/// record (kgo's `ManualPartitioner`).
pub fn manual_partitioner() -> Arc<dyn Partitioner> {
    Arc::new(Manual)
}

type TopicFn = Box<dyn FnMut(&Record, usize) -> usize + Send>;

/// A partitioner from one function: given a topic, return the function that
/// partitions its records among `n` partitions, consistently (kgo's
/// `BasicConsistentPartitioner`).
pub fn basic_consistent_partitioner(
    f: impl Fn(&str) -> TopicFn + Send + Sync + 'static,
) -> Arc<dyn Partitioner> {
    Arc::new(Basic(Box::new(f)))
}

struct StickyKey {
    hasher: PartitionerHasher,
}
struct Sticky;
struct RoundRobin;
struct LeastBackup;
struct Manual;
#[allow(clippy::type_complexity)]
struct Basic(Box<dyn Fn(&str) -> TopicFn + Send + Sync>);

/// The sticky state: the pinned index, or none until the first record.
#[derive(Default)]
struct StickyState {
    pinned: Option<usize>,
}

impl StickyState {
    fn pick(&mut self, n: usize) -> usize {
        match self.pinned {
            Some(p) if p < n => p,
            _ => {
                let p = random_index(n);
                self.pinned = Some(p);
                p
            }
        }
    }

    /// KIP-480: on a new batch, move to a different random partition.
    fn roll(&mut self) -> bool {
        self.pinned = None;
        true
    }
}

struct StickyKeyTopic {
    hasher: PartitionerHasher,
    sticky: StickyState,
}

impl Partitioner for StickyKey {
    fn for_topic(&self, _topic: &str) -> Box<dyn TopicPartitioner> {
        Box::new(StickyKeyTopic {
            hasher: self.hasher.clone(),
            sticky: StickyState::default(),
        })
    }
}

impl TopicPartitioner for StickyKeyTopic {
    fn requires_consistency(&self, r: &Record) -> bool {
        r.key.is_some()
    }
    fn partition(&mut self, r: &Record, n: usize) -> usize {
        match &r.key {
            Some(k) => (self.hasher)(k, n),
            None => self.sticky.pick(n),
        }
    }
    fn on_new_batch(&mut self) -> bool {
        self.sticky.roll()
    }
}

struct StickyTopic(StickyState);

impl Partitioner for Sticky {
    fn for_topic(&self, _topic: &str) -> Box<dyn TopicPartitioner> {
        Box::new(StickyTopic(StickyState::default()))
    }
}

impl TopicPartitioner for StickyTopic {
    fn requires_consistency(&self, _r: &Record) -> bool {
        false
    }
    fn partition(&mut self, _r: &Record, n: usize) -> usize {
        self.0.pick(n)
    }
    fn on_new_batch(&mut self) -> bool {
        self.0.roll()
    }
}

struct RoundRobinTopic(u64);

impl Partitioner for RoundRobin {
    fn for_topic(&self, _topic: &str) -> Box<dyn TopicPartitioner> {
        static START: AtomicU64 = AtomicU64::new(0);
        Box::new(RoundRobinTopic(START.fetch_add(1, Ordering::Relaxed)))
    }
}

impl TopicPartitioner for RoundRobinTopic {
    fn requires_consistency(&self, _r: &Record) -> bool {
        false
    }
    fn partition(&mut self, _r: &Record, n: usize) -> usize {
        let p = (self.0 % n.max(1) as u64) as usize;
        self.0 = self.0.wrapping_add(1);
        p
    }
}

struct LeastBackupTopic {
    pinned: Option<usize>,
    rolled: bool,
}

impl Partitioner for LeastBackup {
    fn for_topic(&self, _topic: &str) -> Box<dyn TopicPartitioner> {
        Box::new(LeastBackupTopic {
            pinned: None,
            rolled: true,
        })
    }
}

impl TopicPartitioner for LeastBackupTopic {
    fn requires_consistency(&self, _r: &Record) -> bool {
        false
    }
    fn partition(&mut self, _r: &Record, n: usize) -> usize {
        self.pinned
            .filter(|p| *p < n)
            .unwrap_or_else(|| random_index(n))
    }
    fn on_new_batch(&mut self) -> bool {
        self.rolled = true;
        true
    }
    fn uses_backup(&self) -> bool {
        true
    }
    fn partition_by_backup(
        &mut self,
        _r: &Record,
        n: usize,
        backup: &mut dyn TopicBackupIter,
    ) -> usize {
        if let Some(p) = self.pinned.filter(|p| *p < n && !self.rolled) {
            return p;
        }
        self.rolled = false;
        // Fewest buffered wins; ties are broken at random (reservoir sampling).
        let (mut best, mut best_n, mut ties) = (0usize, i64::MAX, 0u32);
        while let Some((i, buffered)) = backup.next_backup() {
            if buffered < best_n {
                (best, best_n, ties) = (i, buffered, 1);
            } else if buffered == best_n {
                ties += 1;
                if crate::sync::backoff::random_unit() < 1.0 / f64::from(ties) {
                    best = i;
                }
            }
        }
        self.pinned = Some(best);
        best
    }
}

struct ManualTopic;

impl Partitioner for Manual {
    fn for_topic(&self, _topic: &str) -> Box<dyn TopicPartitioner> {
        Box::new(ManualTopic)
    }
    fn is_manual(&self) -> bool {
        true
    }
}

impl TopicPartitioner for ManualTopic {
    fn requires_consistency(&self, _r: &Record) -> bool {
        true
    }
    fn partition(&mut self, r: &Record, _n: usize) -> usize {
        // Out-of-range (including negative) partitions fail the record.
        usize::try_from(r.partition).unwrap_or(usize::MAX)
    }
}

struct BasicTopic(TopicFn);

impl Partitioner for Basic {
    fn for_topic(&self, topic: &str) -> Box<dyn TopicPartitioner> {
        Box::new(BasicTopic((self.0)(topic)))
    }
}

impl TopicPartitioner for BasicTopic {
    fn requires_consistency(&self, _r: &Record) -> bool {
        true
    }
    fn partition(&mut self, r: &Record, n: usize) -> usize {
        (self.0)(r, n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn murmur2_matches_the_java_client() {
        // org.apache.kafka.common.utils.UtilsTest#testMurmur2
        let cases: [(&[u8], i32); 6] = [
            (b"21", -973_932_308),
            (b"foobar", -790_332_482),
            (b"a-little-bit-long-string", -985_981_536),
            (b"a-little-bit-longer-string", -1_486_304_829),
            (
                b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8",
                -58_897_971,
            ),
            (b"abc", 479_470_107),
        ];
        for (key, want) in cases {
            assert_eq!(
                murmur2(key) as i32,
                want,
                "{}",
                String::from_utf8_lossy(key)
            );
        }
    }

    #[test]
    fn kafka_partitions_match_java_for_a_table_of_keys() {
        // Java: Utils.toPositive(Utils.murmur2(key)) % numPartitions.
        let h = kafka_hasher(murmur2);
        let table: [(&[u8], usize, usize); 8] = [
            (b"foobar", 10, 6),                                             // 1357151166 % 10
            (b"foobar", 16, 14),                                            // 1357151166 % 16
            (b"foobar", 50, 16),                                            // 1357151166 % 50
            (b"21", 3, 0),  // (-973932308 & 0x7fffffff) = 1173551340 % 3
            (b"21", 7, 3),  // 1173551340 % 7
            (b"abc", 6, 3), // 479470107 % 6
            (b"a-little-bit-long-string", 12, 8), // 1161502112 % 12
            (b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", 100, 77), // 2088585677 % 100
        ];
        for (key, n, want) in table {
            let positive = (murmur2(key) & 0x7fff_ffff) as usize;
            assert_eq!(
                positive % n,
                want,
                "derivation of {}",
                String::from_utf8_lossy(key)
            );
            assert_eq!(h(key, n), want, "{} over {n}", String::from_utf8_lossy(key));
        }
    }

    #[test]
    fn sarama_hasher_matches_sarama_fnv1a() {
        // FNV-1a test vectors, then Sarama's int32 % n with negation.
        assert_eq!(fnv32a(b""), 0x811c_9dc5);
        assert_eq!(fnv32a(b"a"), 0xe40c_292c);
        assert_eq!(fnv32a(b"foobar"), 0xbf9c_f968);
        let h = sarama_hasher(fnv32a);
        // 0xbf9cf968 as i32 = -1080231576; % 10 = -6 -> 6; % 7 = -4 -> 4.
        assert_eq!(h(b"foobar", 10), 6);
        assert_eq!(h(b"foobar", 7), 4);
        // 0xe40c292c as i32 = -468965076; % 10 = -6 -> 6; % 4 = 0.
        assert_eq!(h(b"a", 10), 6);
        assert_eq!(h(b"a", 4), 0);
    }

    #[test]
    fn hashers_take_capturing_closures() {
        // A hash that captures state: murmur2 of a salted key, counting calls.
        let salt = b"salt-".to_vec();
        let calls = Arc::new(AtomicU64::new(0));
        let seen = calls.clone();
        let salted = move |key: &[u8]| {
            seen.fetch_add(1, Ordering::Relaxed);
            murmur2(&[salt.as_slice(), key].concat())
        };
        let want = (murmur2(b"salt-foobar") & 0x7fff_ffff) as usize % 10;
        let k = kafka_hasher(salted.clone());
        assert_eq!(k(b"foobar", 10), want);
        let s = sarama_hasher(salted);
        let sarama_want = (murmur2(b"salt-foobar") as i32 % 7).unsigned_abs() as usize;
        assert_eq!(s(b"foobar", 7), sarama_want);
        assert_eq!(calls.load(Ordering::Relaxed), 2);
        // Plain functions still work, and the hasher is shareable across threads.
        let h = kafka_hasher(fnv32a);
        let t = std::thread::spawn(move || h(b"a", 4));
        assert_eq!(
            t.join().unwrap(),
            (0xe40c_292c_u32 & 0x7fff_ffff) as usize % 4
        );
    }

    #[test]
    fn sticky_key_hashes_keys_and_sticks_unkeyed_until_a_new_batch() {
        let p = sticky_key_partitioner(None);
        let mut t = p.for_topic("t");
        let keyed = Record::from_key_value(&b"foobar"[..], &b"v"[..]);
        assert!(t.requires_consistency(&keyed));
        assert_eq!(t.partition(&keyed, 10), 6);
        let unkeyed = Record::from_value(&b"v"[..]);
        assert!(!t.requires_consistency(&unkeyed));
        let first = t.partition(&unkeyed, 1000);
        for _ in 0..50 {
            assert_eq!(t.partition(&unkeyed, 1000), first);
        }
        let mut moved = false;
        for _ in 0..20 {
            assert!(t.on_new_batch());
            moved |= t.partition(&unkeyed, 1000) != first;
        }
        assert!(moved, "a new batch re-picks the partition");
    }

    #[test]
    fn round_robin_least_backup_manual_basic() {
        let mut rr = round_robin_partitioner().for_topic("t");
        let r = Record::default();
        let picks: Vec<usize> = (0..6).map(|_| rr.partition(&r, 3)).collect();
        assert_eq!(
            picks[0..3]
                .iter()
                .copied()
                .collect::<std::collections::BTreeSet<_>>()
                .len(),
            3
        );
        assert_eq!(picks[0], picks[3]);

        struct Backups(Vec<i64>, usize);
        impl TopicBackupIter for Backups {
            fn next_backup(&mut self) -> Option<(usize, i64)> {
                let i = self.1;
                self.1 += 1;
                self.0.get(i).map(|b| (i, *b))
            }
        }
        let mut lb = least_backup_partitioner().for_topic("t");
        assert!(lb.uses_backup());
        assert_eq!(
            lb.partition_by_backup(&r, 4, &mut Backups(vec![5, 3, 9, 4], 0)),
            1
        );
        // Pinned until a new batch...
        assert_eq!(
            lb.partition_by_backup(&r, 4, &mut Backups(vec![0, 9, 9, 9], 0)),
            1
        );
        lb.on_new_batch();
        assert_eq!(
            lb.partition_by_backup(&r, 4, &mut Backups(vec![0, 9, 9, 9], 0)),
            0
        );

        let mut m = manual_partitioner().for_topic("t");
        assert_eq!(m.partition(&Record::default().with_partition(2), 3), 2);
        assert_eq!(
            m.partition(&Record::default().with_partition(-1), 3),
            usize::MAX
        );

        let mut b = basic_consistent_partitioner(|topic| {
            let n = topic.len();
            Box::new(move |_r, parts| n % parts)
        })
        .for_topic("abcd");
        assert_eq!(b.partition(&r, 3), 1);
    }
}
