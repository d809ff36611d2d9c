//! KIP-951 leader hints (issue 15, item 2): a Fetch or Produce answered
//! NOT_LEADER_OR_FOLLOWER / FENCED_LEADER_EPOCH with the partition's current
//! leader moves the partition there at once, without waiting for metadata:
//! every Metadata request is held by the fake while the leader moves, and a
//! 60 s min age keeps the refresh loop quiet. And tagged fields of later
//! versions (item 4): a tag known at other versions but arriving at one that
//! lacks it is skipped like any unknown tag.
#![cfg(feature = "fake")]

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes, BytesMut};
use kafka_sync::fake::{Action, Cluster, InterceptId, Response};
use kafka_sync::messages::fetch_response::{FetchableTopicResponse, PartitionData};
use kafka_sync::messages::{
    ApiKey, Decodable, Encodable, FetchResponse, MetadataRequest, TopicName,
};
use kafka_sync::{Client, LogCrateLogger, Offset};
use support::consume::{check_exactly, consume, Consumed, KEYS, SIZE};
use support::fake_raw::Conn;

const TOPIC: &str = "hints";
/// Metadata requests wait this long while blocked: far past every bound.
const HELD: Duration = Duration::from_secs(30);

/// Three brokers, one partition led by broker 0.
fn cluster() -> Cluster {
    let c = Cluster::builder()
        .brokers(3)
        .topic(TOPIC, 1)
        .build()
        .unwrap();
    c.move_leader(TOPIC, 0, 0).unwrap();
    c
}

/// Holds every Metadata request of the clients under test (not the raw
/// test connection's) while the flag is set; counts the held ones.
struct Blocker {
    on: Arc<AtomicBool>,
    held: Arc<AtomicU64>,
    ids: Vec<InterceptId>,
}

/// Installs the blocker; `strip` also hides broker 2 from every Metadata
/// response of brokers 0 and 1 (each asked again of broker 2 through a raw
/// connection: an intercept's closure runs under its own lock, so the raw
/// request must meet a different intercept, broker 2's).
fn blocker(cluster: &Cluster, strip: bool) -> Blocker {
    let (on, held) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicU64::new(0)),
    );
    let addr = cluster.seeds()[2].clone();
    let brokers: &[Option<i32>] = if strip {
        &[Some(0), Some(1), Some(2)]
    } else {
        &[None]
    };
    let mut ids = Vec::new();
    for &broker in brokers {
        let (on, held, addr) = (on.clone(), held.clone(), addr.clone());
        let strip = strip && broker != Some(2);
        let id = cluster.intercept(ApiKey::Metadata, broker, None, move |req| {
            if req.client_id.as_deref() == Some("raw-test") {
                return Action::PassThrough;
            }
            if on.load(Ordering::Acquire) {
                held.fetch_add(1, Ordering::AcqRel);
                return Action::Delay(HELD);
            }
            if !strip {
                return Action::PassThrough;
            }
            let Some(r) = req.decode::<MetadataRequest>() else {
                return Action::DropConnection;
            };
            let Ok(mut resp) = Conn::connect(&addr).and_then(|mut c| c.call(req.version, &r))
            else {
                return Action::DropConnection;
            };
            resp.brokers.retain(|b| b.node_id.0 != 2);
            Action::Respond(Response::new(resp))
        });
        ids.push(id);
    }
    Blocker { on, held, ids }
}

impl Blocker {
    fn hold(&self) {
        self.on.store(true, Ordering::Release);
    }
    /// Lets metadata through again, unchanged.
    fn remove(&self, cluster: &Cluster) {
        self.on.store(false, Ordering::Release);
        for id in &self.ids {
            cluster.remove_intercept(*id);
        }
    }
}

fn producer(seeds: Vec<String>) -> Client {
    support::init_logging();
    Client::builder()
        .seed_brokers(seeds)
        .with_logger(LogCrateLogger)
        .retry_backoff_fn(|_| Duration::from_millis(10))
        .metadata_min_age(Duration::from_secs(60))
        .producer_linger(Duration::ZERO)
        .build()
        .unwrap()
}

/// Produces `range` and waits up to `within` for every acknowledgement.
fn produce_within(c: &Client, range: std::ops::Range<u64>, within: Duration) {
    let failed = Arc::new(std::sync::Mutex::new(Vec::new()));
    for i in range {
        let f = failed.clone();
        c.produce(
            support::verify::record(TOPIC, i, SIZE, KEYS),
            move |_, res| {
                if let Err(e) = res {
                    f.lock().unwrap().push(e);
                }
            },
        );
    }
    c.flush_timeout(within).unwrap();
    assert!(failed.lock().unwrap().is_empty(), "{:?}", failed.lock());
}

/// Everything once and in order, read back by a fresh consumer.
fn read_back(cluster: &Cluster, n: u64) {
    let c = support::fake_builder(cluster)
        .consume_topics([TOPIC])
        .consume_reset_offset(Offset::new().at_start())
        .build()
        .unwrap();
    let (got, _) = consume(&c, n as usize, Duration::from_secs(10), |_| false);
    check_exactly(&got, &(0..n).collect::<BTreeSet<u64>>());
    c.close();
}

#[test]
fn a_produce_follows_the_leader_hint_without_metadata() {
    let cluster = cluster();
    let b = blocker(&cluster, false);
    let p = producer(cluster.seeds());
    produce_within(&p, 0..100, Duration::from_secs(10));

    b.hold();
    cluster.move_leader(TOPIC, 0, 1).unwrap();
    let t = Instant::now();
    produce_within(&p, 100..200, Duration::from_secs(5));
    eprintln!(
        "moved in {:?}, {} metadata requests held",
        t.elapsed(),
        b.held.load(Ordering::Acquire)
    );
    assert!(cluster.request_count_on(1, ApiKey::Produce) > 0);
    b.remove(&cluster);
    p.close();
    read_back(&cluster, 200);
}

#[test]
fn a_produce_follows_a_hint_to_a_broker_only_its_node_endpoints_name() {
    let cluster = cluster();
    let b = blocker(&cluster, true);
    let p = producer(vec![cluster.seeds()[0].clone()]);
    produce_within(&p, 0..100, Duration::from_secs(10));
    let meta = p.metadata();
    assert!(
        meta.brokers.iter().all(|m| m.node_id != 2),
        "broker 2 leaked into metadata: {:?}",
        meta.brokers
    );

    b.hold();
    cluster.move_leader(TOPIC, 0, 2).unwrap();
    produce_within(&p, 100..200, Duration::from_secs(5));
    assert!(cluster.request_count_on(2, ApiKey::Produce) > 0);
    b.remove(&cluster);
    p.close();
    read_back(&cluster, 200);
}

#[test]
fn a_fetch_follows_the_leader_hint_without_metadata() {
    const N: u64 = 2_000;
    let cluster = cluster();
    let p = support::fake_builder(&cluster)
        .producer_batch_max_bytes(4 << 10)
        .build()
        .unwrap();
    support::consume::produce(&p, TOPIC, 0..N);
    p.close();

    let b = blocker(&cluster, false);
    let c = support::fake_builder(&cluster)
        .consume_topics([TOPIC])
        .consume_reset_offset(Offset::new().at_start())
        .fetch_max_wait(Duration::from_millis(100))
        // Many small fetches: most of the partition is read after the move.
        .fetch_max_partition_bytes(4 << 10)
        .metadata_min_age(Duration::from_secs(60))
        .build()
        .unwrap();
    let (mut got, _) = consume(&c, 1, Duration::from_secs(10), |_| false);

    b.hold();
    cluster.move_leader(TOPIC, 0, 1).unwrap();
    let before: usize = got.values().map(Vec::len).sum();
    let t = Instant::now();
    let (rest, _) = consume(&c, N as usize - before, Duration::from_secs(5), |_| false);
    eprintln!(
        "{before} records before the move, the rest in {:?}, {} metadata requests held",
        t.elapsed(),
        b.held.load(Ordering::Acquire)
    );
    merge(&mut got, rest);
    check_exactly(&got, &(0..N).collect::<BTreeSet<u64>>());
    assert!(cluster.request_count_on(1, ApiKey::Fetch) > 0);
    b.remove(&cluster);
    c.close();
}

fn merge(into: &mut Consumed, from: Consumed) {
    for (p, v) in from {
        into.entry(p).or_default().extend(v);
    }
}

/// A compact array of one KIP-951 NodeEndpoint (node 7 at h:9092, no rack)
/// as Fetch v16+ carries it in top-level tag 0.
fn node_endpoints_tag() -> Bytes {
    let mut b = BytesMut::new();
    b.put_u8(2); // one element
    b.put_i32(7);
    b.put_u8(2); // "h"
    b.put_u8(b'h');
    b.put_i32(9092);
    b.put_u8(0); // null rack
    b.put_u8(0); // no tagged fields
    b.freeze()
}

/// A Fetch v12 response whose top level carries tag 0, which only v16+
/// defines (NodeEndpoints), and whose partition carries a tag no version
/// defines: both are skipped by their length.
fn response_with_later_tags(records: Bytes) -> FetchResponse {
    let part = PartitionData::default()
        .with_partition_index(0)
        .with_high_watermark(10)
        .with_last_stable_offset(10)
        .with_log_start_offset(0)
        .with_records(Some(records))
        .with_unknown_tagged_fields(BTreeMap::from([(9, Bytes::from_static(b"\x01\x02"))]));
    FetchResponse::default()
        .with_responses(vec![FetchableTopicResponse::default()
            .with_topic(TopicName(TOPIC.to_string().into()))
            .with_partitions(vec![part])])
        .with_unknown_tagged_fields(BTreeMap::from([(0, node_endpoints_tag())]))
}

#[test]
fn a_tag_of_a_later_version_decodes_as_unknown() {
    let resp = response_with_later_tags(Bytes::from_static(b""));
    let mut buf = Vec::new();
    resp.encode(&mut buf, 12).unwrap();
    let back = FetchResponse::decode(&mut Bytes::from(buf), 12).unwrap();
    assert!(back.node_endpoints.is_empty());
    assert_eq!(
        back.unknown_tagged_fields.get(&0),
        Some(&node_endpoints_tag())
    );
    assert_eq!(back.responses[0].partitions[0].partition_index, 0);
}

#[test]
fn a_fetch_response_with_a_tag_of_a_later_version_passes_its_records() {
    let cluster = Cluster::builder()
        .brokers(1)
        .topic(TOPIC, 1)
        .build()
        .unwrap();
    // Ten records written by the client itself, then served once through a
    // crafted v12 response that carries the later tags.
    let p = support::fake_builder(&cluster).build().unwrap();
    support::consume::produce(&p, TOPIC, 0..10);
    p.close();
    let records: Bytes = cluster.partition_log(TOPIC, 0).concat().into();
    let versions = Arc::new(std::sync::Mutex::new(Vec::new()));
    let v2 = versions.clone();
    cluster.intercept(ApiKey::Fetch, None, Some(1), move |req| {
        v2.lock().unwrap().push(req.version);
        Action::Respond(Response::new(response_with_later_tags(records.clone())))
    });
    let c = support::fake_builder(&cluster)
        .consume_topics([TOPIC])
        .consume_reset_offset(Offset::new().at_start())
        .build()
        .unwrap();
    let (got, errors) = consume(&c, 10, Duration::from_secs(10), |_| false);
    assert!(errors.is_empty());
    check_exactly(&got, &(0..10).collect::<BTreeSet<u64>>());
    assert_eq!(
        *versions.lock().unwrap(),
        vec![12],
        "the crafted fetch's version"
    );
    c.close();
}
