//! Producing to and consuming from brokers that speak only the Kafka 0.10
//! API set (the fake cluster's `kafka_0_10` mode): Produce v0-v2 with
//! message sets, Fetch v0-v3 served as message sets, ListOffsets v0-v1,
//! Metadata v0-v2, no InitProducerId.
#![cfg(feature = "fake")]

mod support;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kafka_sync::fake::{Action, Cluster};
use kafka_sync::messages::ApiKey;
use kafka_sync::{Client, CompressionCodec, Error, Record, Versions};

const N: i64 = 1000;
const PARTS: i32 = 3;
const TS0: i64 = 1_700_000_000_000;

/// The highest version of each key the cluster received.
type Seen = Arc<Mutex<BTreeMap<i16, i16>>>;

fn old_cluster(topic: &str) -> (Cluster, Seen) {
    let cluster = Cluster::builder()
        .brokers(3)
        .topic(topic, PARTS)
        .kafka_0_10()
        .build()
        .unwrap();
    let seen: Seen = Arc::default();
    for key in [
        ApiKey::Produce,
        ApiKey::Fetch,
        ApiKey::ListOffsets,
        ApiKey::Metadata,
        ApiKey::ApiVersions,
        ApiKey::FindCoordinator,
        ApiKey::JoinGroup,
        ApiKey::OffsetCommit,
        ApiKey::OffsetFetch,
    ] {
        let s = seen.clone();
        cluster.intercept(key, None, None, move |r| {
            let mut g = s.lock().unwrap();
            let v = g.entry(r.key).or_insert(r.version);
            *v = (*v).max(r.version);
            Action::PassThrough
        });
    }
    (cluster, seen)
}

fn key(i: i64) -> String {
    format!("key-{}", i % 37)
}

/// Compressible, so gzip batches really are gzip.
fn value(i: i64) -> String {
    format!("value-{i:06}-{}", "abcdefgh".repeat(8))
}

/// Produces `N` records; returns (partition, offset) by record number.
fn produce_all(c: &Client, topic: &str) -> HashMap<i64, (i32, i64)> {
    let out = Arc::new(Mutex::new(HashMap::new()));
    let failed = Arc::new(Mutex::new(Vec::new()));
    for i in 0..N {
        let r = Record::key_string(key(i), value(i))
            .with_topic(topic)
            .with_timestamp(TS0 + i);
        let (o, f) = (out.clone(), failed.clone());
        c.produce(r, move |r, res| match res {
            Ok(()) => {
                o.lock().unwrap().insert(i, (r.partition, r.offset));
            }
            Err(e) => f.lock().unwrap().push(e),
        });
    }
    c.flush().unwrap();
    let failed = failed.lock().unwrap();
    assert!(failed.is_empty(), "produce failed: {failed:?}");
    let out = out.lock().unwrap().clone();
    assert_eq!(out.len(), N as usize);
    out
}

/// Consumes `N` records and checks each against what was produced:
/// key, value, partition and offset always, the timestamp when the fetch
/// format carries one (`timestamps`), and per-partition order.
fn consume_all(c: &Client, produced: &HashMap<i64, (i32, i64)>, timestamps: bool) {
    let end = Instant::now() + Duration::from_secs(30);
    let mut got: HashMap<i32, Vec<(i64, i64)>> = HashMap::new();
    let mut n = 0;
    while n < N && Instant::now() < end {
        let fs = c.poll_fetches_deadline(end);
        fs.each_error(|t, p, e| panic!("fetch error on {t}/{p}: {e}"));
        for r in fs.record_iter() {
            let v = std::str::from_utf8(r.value.as_deref().unwrap()).unwrap();
            let i: i64 = v[6..12].parse().unwrap();
            assert_eq!(v, value(i));
            assert_eq!(r.key.as_deref(), Some(key(i).as_bytes()));
            assert_eq!(produced[&i], (r.partition, r.offset), "record {i}");
            let want_ts = if timestamps { TS0 + i } else { -1 };
            assert_eq!(r.timestamp, want_ts, "timestamp of {i}");
            assert!(r.headers.is_empty());
            got.entry(r.partition).or_default().push((r.offset, i));
            n += 1;
        }
    }
    assert_eq!(n, N, "consumed {n} of {N}");
    for (p, recs) in &got {
        for w in recs.windows(2) {
            assert!(w[0].0 < w[1].0 && w[0].1 < w[1].1, "partition {p}: {w:?}");
        }
    }
}

fn run(codec: CompressionCodec, max: Option<Versions>) -> (Cluster, BTreeMap<i16, i16>) {
    let topic = "old";
    let (cluster, seen) = old_cluster(topic);
    let mut pb = support::fake_builder(&cluster)
        .producer_batch_compression([codec])
        .producer_linger(Duration::from_millis(5));
    if let Some(m) = &max {
        pb = pb.max_versions(m.clone());
    }
    let p = pb.build().unwrap();
    let produced = produce_all(&p, topic);
    p.close();

    let mut cb = support::fake_builder(&cluster)
        .consume_topics([topic])
        .fetch_max_wait(Duration::from_millis(100));
    if let Some(m) = &max {
        cb = cb.max_versions(m.clone());
    }
    let c = cb.build().unwrap();
    consume_all(&c, &produced, max.is_none());
    c.close();
    let seen = seen.lock().unwrap().clone();
    // No InitProducerId went out: the broker does not list it.
    assert_eq!(cluster.request_count(ApiKey::InitProducerId), 0);
    (cluster, seen)
}

/// The stored batches' codec bits (the fake stores what a message set
/// held as v2 batches, keeping the wrapper's codec).
fn stored_codecs(cluster: &Cluster) -> Vec<u8> {
    (0..PARTS)
        .flat_map(|p| cluster.partition_log("old", p))
        .map(|b| b[22] & 0x07)
        .collect()
}

#[test]
fn produce_and_consume_uncompressed() {
    let (cluster, seen) = run(CompressionCodec::none(), None);
    // The newest versions Kafka 0.10.2 has: message sets of magic 1.
    assert_eq!(seen[&(ApiKey::Produce as i16)], 2);
    assert_eq!(seen[&(ApiKey::Fetch as i16)], 3);
    assert_eq!(seen[&(ApiKey::ListOffsets as i16)], 1);
    assert_eq!(seen[&(ApiKey::Metadata as i16)], 2);
    assert_eq!(seen[&(ApiKey::ApiVersions as i16)], 0);
    assert!(stored_codecs(&cluster).iter().all(|&c| c == 0));
}

#[test]
fn produce_and_consume_gzip() {
    let (cluster, seen) = run(CompressionCodec::gzip(), None);
    assert_eq!(seen[&(ApiKey::Produce as i16)], 2);
    assert_eq!(seen[&(ApiKey::Fetch as i16)], 3);
    let codecs = stored_codecs(&cluster);
    assert!(
        !codecs.is_empty() && codecs.iter().all(|&c| c == 1),
        "{codecs:?}"
    );
}

/// Produce v0-v1 and Fetch v0-v1 (the Kafka 0.8/0.9 message format, magic
/// 0: no timestamps), by capping the versions the client may use.
#[test]
fn magic_0_with_capped_versions() {
    for codec in [CompressionCodec::none(), CompressionCodec::gzip()] {
        let max = Versions::new()
            .with(ApiKey::Produce as i16, 1)
            .with(ApiKey::Fetch as i16, 1)
            .with(ApiKey::ListOffsets as i16, 0)
            .with(ApiKey::Metadata as i16, 0);
        let (_, seen) = run(codec, Some(max));
        assert_eq!(seen[&(ApiKey::Produce as i16)], 1);
        assert_eq!(seen[&(ApiKey::Fetch as i16)], 1);
        assert_eq!(seen[&(ApiKey::ListOffsets as i16)], 0);
        assert_eq!(seen[&(ApiKey::Metadata as i16)], 0);
    }
}

#[test]
fn headers_fail_with_a_clear_error() {
    let (cluster, _) = old_cluster("old");
    let p = support::fake_builder(&cluster).build().unwrap();
    let res = p.produce_sync([Record::string("v")
        .with_topic("old")
        .with_header("h", Some("x".into()))]);
    let e = res.first_err().cloned().expect("an error");
    assert!(matches!(e, Error::RecordFormat(_)), "{e:?}");
    assert!(
        e.to_string().contains("does not support record headers"),
        "{e}"
    );
    // Records without headers still go through.
    let res = p.produce_sync([Record::string("v").with_topic("old")]);
    assert!(res.first_err().is_none(), "{:?}", res.first_err());
    p.close();
}

#[test]
fn transactions_fail_with_a_clear_error() {
    let (cluster, _) = old_cluster("old");
    let p = support::fake_builder(&cluster)
        .transactional_id("tx")
        .build()
        .unwrap();
    let e = p.begin_transaction().expect_err("no transactions on 0.10");
    assert!(e.to_string().contains("InitProducerId"), "{e}");
    p.close();
}

/// A consumer group on Kafka 0.10 (FindCoordinator v0, JoinGroup v0-1,
/// SyncGroup, Heartbeat, OffsetCommit v2, OffsetFetch v1): consumes what was
/// produced and commits it.
#[test]
fn group_consumes_and_commits() {
    let (cluster, seen) = old_cluster("old");
    let p = support::fake_builder(&cluster).build().unwrap();
    let produced = produce_all(&p, "old");
    p.close();
    let c = support::fake_builder(&cluster)
        .consume_topics(["old"])
        .consumer_group("g-old")
        .fetch_max_wait(Duration::from_millis(100))
        .build()
        .unwrap();
    consume_all(&c, &produced, true);
    c.commit_uncommitted_offsets().unwrap();
    let committed: i64 = c
        .committed_offsets()
        .get("old")
        .map(|ps| ps.values().map(|o| o.offset).sum())
        .unwrap_or(0);
    assert_eq!(committed, N);
    c.close();
    let seen = seen.lock().unwrap();
    assert_eq!(seen[&(ApiKey::Fetch as i16)], 3);
    assert_eq!(seen[&(ApiKey::FindCoordinator as i16)], 0);
    assert_eq!(seen[&(ApiKey::JoinGroup as i16)], 1);
    assert_eq!(seen[&(ApiKey::OffsetCommit as i16)], 2);
    assert_eq!(seen[&(ApiKey::OffsetFetch as i16)], 1);
}
