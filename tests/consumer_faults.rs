//! The direct consumer surviving what real clusters do, on the fake
//! cluster: leader moves, fetch session eviction, OFFSET_OUT_OF_RANGE,
//! truncation (KIP-320 data loss), and a corrupt batch.
#![cfg(feature = "fake")]

mod support;

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use kafka_sync::fake::{Action, Cluster, Response};
use kafka_sync::messages::fetch_response::{FetchableTopicResponse, PartitionData};
use kafka_sync::messages::{ApiKey, FetchResponse, TopicName};
use kafka_sync::{Client, EpochOffset, Error, Offset};
use support::consume::{check_exactly, consume, produce, Consumed, KEYS, SIZE};

const TOPIC: &str = "t";

fn builder(cluster: &Cluster) -> kafka_sync::ConfigBuilder<Client> {
    support::fake_builder(cluster).fetch_max_wait(Duration::from_millis(100))
}

/// A cluster whose partitions hold many small batches.
fn cluster(brokers: i32, parts: i32, n: u64) -> Cluster {
    let cluster = Cluster::builder()
        .brokers(brokers)
        .topic(TOPIC, parts)
        .build()
        .unwrap();
    let p = builder(&cluster)
        .producer_batch_max_bytes(4 << 10)
        .build()
        .unwrap();
    produce(&p, TOPIC, 0..n);
    p.close();
    cluster
}

fn no_errors(e: &Error) -> bool {
    panic!("unexpected fetch error: {e}")
}

fn all(r: std::ops::Range<u64>) -> BTreeSet<u64> {
    r.collect()
}

fn add(into: &mut Consumed, more: Consumed) {
    for (p, v) in more {
        into.entry(p).or_default().extend(v);
    }
}

#[test]
fn leader_moves_mid_consume_lose_and_duplicate_nothing() {
    let n = 6000;
    let cluster = cluster(3, 6, n);
    let c = builder(&cluster)
        .consume_topics([TOPIC])
        .fetch_max_partition_bytes(8 << 10)
        .build()
        .unwrap();
    let mut got = Consumed::new();
    let (first, _) = consume(&c, 1500, Duration::from_secs(20), no_errors);
    add(&mut got, first);
    // Every partition moves to the next broker, twice, while consuming.
    for round in 1..=2 {
        for p in 0..6 {
            let (leader, _) = cluster.leader(TOPIC, p).unwrap();
            cluster.move_leader(TOPIC, p, (leader + 1) % 3).unwrap();
        }
        let (more, _) = consume(&c, 1000, Duration::from_secs(20), no_errors);
        add(&mut got, more);
        produce(&c, TOPIC, n + (round - 1) * 500..n + round * 500);
    }
    let have: usize = got.values().map(Vec::len).sum();
    let (rest, _) = consume(
        &c,
        n as usize + 1000 - have,
        Duration::from_secs(30),
        no_errors,
    );
    add(&mut got, rest);
    check_exactly(&got, &all(0..n + 1000));
    assert_eq!(
        c.poll_fetches_timeout(Duration::from_millis(300))
            .num_records(),
        0
    );
    c.close();
}

#[test]
fn fetch_session_eviction_mid_consume_loses_and_duplicates_nothing() {
    let n = 6000;
    let cluster = Cluster::builder()
        .brokers(2)
        .topic(TOPIC, 4)
        .fetch_session_cache_size(1)
        .build()
        .unwrap();
    let p = builder(&cluster)
        .producer_batch_max_bytes(4 << 10)
        .build()
        .unwrap();
    produce(&p, TOPIC, 0..n);
    p.close();
    // Two consumers with one session slot per broker evict each other.
    let mk = || {
        builder(&cluster)
            .consume_topics([TOPIC])
            .fetch_max_partition_bytes(4 << 10)
            .build()
            .unwrap()
    };
    let (a, b) = (mk(), mk());
    let hb = std::thread::spawn(move || {
        let (got, _) = consume(&b, n as usize, Duration::from_secs(30), no_errors);
        (got, b)
    });
    let (got_a, _) = consume(&a, n as usize, Duration::from_secs(30), no_errors);
    let (got_b, b) = hb.join().unwrap();
    check_exactly(&got_a, &all(0..n));
    check_exactly(&got_b, &all(0..n));
    // Both keep fetching (idle long polls) and keep evicting each other.
    assert!(support::wait_until(Duration::from_secs(10), || {
        assert_eq!(
            a.poll_fetches_timeout(Duration::from_millis(5))
                .num_records(),
            0
        );
        assert_eq!(
            b.poll_fetches_timeout(Duration::from_millis(5))
                .num_records(),
            0
        );
        cluster.fetch_session_stats().errors >= 1
    }));
    a.close();
    b.close();
    let s = cluster.fetch_session_stats();
    assert!(s.evicted >= 1, "{s:?}");
    assert!(s.errors >= 1, "{s:?}");
}

#[test]
fn offset_out_of_range_resets_per_the_option() {
    let n = 2000;
    let cluster = cluster(1, 2, n);
    let far = HashMap::from([(
        TOPIC.to_string(),
        HashMap::from([(
            0,
            EpochOffset {
                epoch: -1,
                offset: 1 << 40,
            },
        )]),
    )]);

    // Reset to the start: partition 0 again, exactly once.
    let c = builder(&cluster).consume_topics([TOPIC]).build().unwrap();
    let (base, _) = consume(&c, n as usize, Duration::from_secs(20), no_errors);
    check_exactly(&base, &all(0..n));
    c.set_offsets(far.clone());
    let want: BTreeSet<u64> = base[&0].iter().map(|x| x.1).collect();
    let (got, _) = consume(&c, want.len(), Duration::from_secs(20), no_errors);
    check_exactly(&got, &want);
    c.close();

    // Reset to the end: nothing until new records.
    let c = builder(&cluster)
        .consume_topics([TOPIC])
        .consume_reset_offset(Offset::new().at_end())
        .build()
        .unwrap();
    let before = cluster.request_count(ApiKey::ListOffsets);
    // Wait until the partitions are being consumed (their offsets listed).
    assert!(support::wait_until(Duration::from_secs(5), || {
        c.poll_fetches_timeout(Duration::from_millis(20));
        cluster.request_count(ApiKey::ListOffsets) > before
    }));
    let far = HashMap::from([(
        TOPIC.to_string(),
        HashMap::from([(
            0,
            EpochOffset {
                epoch: -1,
                offset: 1 << 40,
            },
        )]),
    )]);
    c.set_offsets(far);
    let listed = cluster.request_count(ApiKey::ListOffsets);
    assert!(support::wait_until(Duration::from_secs(5), || {
        c.poll_fetches_timeout(Duration::from_millis(20));
        cluster.request_count(ApiKey::ListOffsets) >= listed + 2
    }));
    assert_eq!(
        c.poll_fetches_timeout(Duration::from_millis(300))
            .num_records(),
        0
    );
    produce(&c, TOPIC, n..n + 200);
    let (got, _) = consume(&c, 200, Duration::from_secs(20), no_errors);
    check_exactly(&got, &all(n..n + 200));
    c.close();
}

#[test]
fn truncation_yields_data_loss_with_the_right_offsets() {
    truncation(None);
}

/// Fetch v11 has no diverging epoch: OffsetForLeaderEpoch finds the truncation.
#[test]
fn truncation_is_detected_with_offset_for_leader_epoch_before_fetch_v12() {
    truncation(Some(11));
}

fn truncation(fetch_max: Option<i16>) {
    let n = 3000;
    let cluster = cluster(1, 1, n);
    let mut b = builder(&cluster).consume_topics([TOPIC]);
    if let Some(v) = fetch_max {
        b = b.max_versions(kafka_sync::Versions::new().with(ApiKey::Fetch as i16, v));
    }
    let c = b.build().unwrap();
    let epoch_requests = cluster.request_count(ApiKey::OffsetForLeaderEpoch);
    let (base, _) = consume(&c, n as usize, Duration::from_secs(20), no_errors);
    check_exactly(&base, &all(0..n));
    let end = base[&0].last().unwrap().0 + 1;
    let new_end = cluster.truncate(TOPIC, 0, end / 2).unwrap();
    assert!(new_end < end);
    // New records after the truncation, in the new epoch.
    produce(&c, TOPIC, n..n + 100);
    let mut loss = None;
    let mut got = Consumed::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    let want = (end - new_end) as usize;
    let mut have = 0;
    while (loss.is_none() || have < 100) && Instant::now() < deadline {
        let fs = c.poll_fetches_deadline(deadline);
        fs.each_error(|_, _, e| match e {
            Error::DataLoss(d) => loss = Some((**d).clone()),
            other => panic!("unexpected error {other}"),
        });
        for r in fs.record_iter() {
            let i = support::consume::check_record(r);
            got.entry(0).or_default().push((r.offset, i));
            have += 1;
        }
    }
    let loss = loss.expect("data loss reported");
    assert_eq!(loss.topic, TOPIC);
    assert_eq!(loss.partition, 0);
    assert_eq!(loss.consumed_to, end);
    assert_eq!(loss.reset_to, new_end);
    assert!(want > 0);
    // Consuming resumed at the new end: exactly the new records.
    check_exactly(&got, &all(n..n + 100));
    assert_eq!(got[&0][0].0, new_end);
    let used = cluster.request_count(ApiKey::OffsetForLeaderEpoch) > epoch_requests;
    assert_eq!(
        used,
        fetch_max.is_some(),
        "OffsetForLeaderEpoch only before Fetch v12"
    );
    c.close();
}

/// Flips one byte inside the records of the second batch in `batches`.
fn corrupt_second(batches: &[Bytes]) -> Bytes {
    let mut out = BytesMut::new();
    for (i, b) in batches.iter().enumerate() {
        let start = out.len();
        out.extend_from_slice(b);
        if i == 1 {
            let at = start + b.len() - 3;
            out[at] ^= 0xff;
        }
    }
    out.freeze()
}

#[test]
fn a_bad_crc_is_a_partition_error_and_the_rest_is_delivered() {
    let n = 2000;
    let cluster = cluster(1, 2, n);
    let log0 = cluster.partition_log(TOPIC, 0);
    let log1 = cluster.partition_log(TOPIC, 1);
    assert!(log0.len() >= 3, "need several batches");
    let first_batch = support::verify::decode_and_check(&log0[..1], SIZE, KEYS);
    let corrupt = corrupt_second(&log0);
    let p1: Bytes = log1.concat().into();
    let done = Arc::new(AtomicBool::new(false));
    let d2 = done.clone();
    cluster.intercept(ApiKey::Fetch, None, None, move |req| {
        if d2.swap(true, Ordering::AcqRel) {
            return Action::PassThrough;
        }
        let part = |i: i32, recs: Bytes| {
            PartitionData::default()
                .with_partition_index(i)
                .with_high_watermark(1 << 20)
                .with_last_stable_offset(1 << 20)
                .with_log_start_offset(0)
                .with_records(Some(recs))
        };
        let _ = req;
        Action::Respond(Response::new(FetchResponse::default().with_responses(
            vec![FetchableTopicResponse::default()
                .with_topic(TopicName(TOPIC.to_string().into()))
                .with_partitions(vec![part(0, corrupt.clone()), part(1, p1.clone())])],
        )))
    });
    let c = builder(&cluster).consume_topics([TOPIC]).build().unwrap();
    let mut errors = Vec::new();
    let (got, _) = consume(&c, n as usize, Duration::from_secs(20), |e| {
        errors.push(e.clone());
        true
    });
    assert!(done.load(Ordering::Acquire));
    check_exactly(&got, &all(0..n));
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(matches!(errors[0], Error::Protocol(_)), "{:?}", errors[0]);
    assert!(
        errors[0].to_string().contains("CRC mismatch"),
        "{}",
        errors[0]
    );
    // The first batch of partition 0 came with the error, before the refetch.
    assert!(got[&0].len() > first_batch.len());
    c.close();
}

/// Real transactional data from the fake's transaction coordinator, laid out
/// as offsets 0-2 an aborted transaction, 3 its marker, 4-5 a committed
/// one, 6 its marker, 7 a plain record; returns the offsets a direct
/// consumer at `isolation` reads.
fn consume_transactional(isolation: kafka_sync::IsolationLevel, keep_control: bool) -> Vec<i64> {
    use kafka_sync::TransactionEndTry::{Abort, Commit};
    let cluster = Cluster::builder()
        .brokers(1)
        .topic(TOPIC, 1)
        .build()
        .unwrap();
    let txn = builder(&cluster)
        .transactional_id("consumer-faults")
        .build()
        .unwrap();
    let rec = |i: i64| kafka_sync::Record::string(format!("v{i}")).with_topic(TOPIC);
    txn.begin_transaction().unwrap();
    txn.produce_sync((0..3).map(rec)).first().unwrap();
    txn.end_transaction(Abort).unwrap();
    txn.begin_transaction().unwrap();
    txn.produce_sync((4..6).map(rec)).first().unwrap();
    txn.end_transaction(Commit).unwrap();
    let plain = builder(&cluster).build().unwrap();
    plain.produce_sync([rec(7)]).first().unwrap();
    assert_eq!(cluster.end_offset(TOPIC, 0), Some(8), "the log's layout");
    let c = builder(&cluster)
        .consume_topics([TOPIC])
        .consume_reset_offset(Offset::new().at_start())
        .fetch_isolation_level(isolation)
        .keep_control_records(keep_control)
        .build()
        .unwrap();
    let mut offsets = Vec::new();
    let end = Instant::now() + Duration::from_secs(10);
    // Offset 7 is the last record every isolation level returns.
    while offsets.last() != Some(&7) && Instant::now() < end {
        let fs = c.poll_fetches_timeout(Duration::from_millis(200));
        offsets.extend(fs.record_iter().map(|r| r.offset));
    }
    for x in [c, txn, plain] {
        x.close();
    }
    offsets
}

#[test]
fn read_committed_hides_aborted_data_and_control_records() {
    use kafka_sync::IsolationLevel::*;
    assert_eq!(consume_transactional(ReadCommitted, false), [4, 5, 7]);
    assert_eq!(consume_transactional(ReadCommitted, true), [3, 4, 5, 6, 7]);
    assert_eq!(
        consume_transactional(ReadUncommitted, false),
        [0, 1, 2, 4, 5, 7]
    );
}

#[test]
fn preferred_read_replica_is_used_and_falls_back_to_the_leader() {
    use kafka_sync::messages::{BrokerId, FetchRequest};
    let n = 500;
    let cluster = cluster(3, 1, n);
    let (leader, _) = cluster.leader(TOPIC, 0).unwrap();
    let replica = (leader + 1) % 3;
    let racks = Arc::new(std::sync::Mutex::new(Vec::new()));
    let (r2, done) = (racks.clone(), Arc::new(AtomicBool::new(false)));
    let d2 = done.clone();
    cluster.intercept(ApiKey::Fetch, Some(leader), None, move |req| {
        if let Some(f) = req.decode::<FetchRequest>() {
            r2.lock().unwrap().push(f.rack_id.to_string());
        }
        if d2.swap(true, Ordering::AcqRel) {
            return Action::PassThrough;
        }
        // The leader points the consumer at a closer replica (KIP-392).
        Action::Respond(Response::new(FetchResponse::default().with_responses(
            vec![FetchableTopicResponse::default()
                .with_topic(TopicName(TOPIC.to_string().into()))
                .with_partitions(vec![PartitionData::default()
                    .with_partition_index(0)
                    .with_high_watermark(n as i64)
                    .with_last_stable_offset(n as i64)
                    .with_log_start_offset(0)
                    .with_preferred_read_replica(BrokerId(replica))
                    .with_records(Some(Bytes::new()))])],
        )))
    });
    let c = builder(&cluster)
        .consume_topics([TOPIC])
        .rack("rack-a")
        .build()
        .unwrap();
    // The fake's followers answer NOT_LEADER_OR_FOLLOWER: the consumer
    // tries the replica, falls back to the leader, and loses nothing.
    let (got, _) = consume(&c, n as usize, Duration::from_secs(20), no_errors);
    check_exactly(&got, &all(0..n));
    assert!(
        cluster.request_count_on(replica, ApiKey::Fetch) >= 1,
        "the replica was tried"
    );
    assert!(racks.lock().unwrap().iter().all(|r| r == "rack-a"));
    c.close();
}

#[test]
fn a_fatal_partition_error_is_returned_once_and_the_partition_waits_for_the_user() {
    // One partition, so the intercepted error lands on it alone.
    let cluster = cluster(1, 1, 100);
    let c = builder(&cluster).consume_topics([TOPIC]).build().unwrap();
    // TOPIC_AUTHORIZATION_FAILED (29) is not retriable.
    cluster.intercept(ApiKey::Fetch, None, Some(1), |_| Action::ErrorCode(29));
    let mut errors = 0;
    let end = Instant::now() + Duration::from_secs(10);
    while errors == 0 && Instant::now() < end {
        let fs = c.poll_fetches_timeout(Duration::from_millis(100));
        fs.each_error(|_, _, e| {
            assert_eq!(
                e.kafka_code(),
                Some(kafka_sync::ErrorCode::TopicAuthorizationFailed)
            );
            errors += 1;
        });
        assert_eq!(fs.num_records(), 0);
    }
    assert_eq!(errors, 1, "the error was returned once");
    // Not fetched again: no errors, no records, no fetch requests.
    let fetches = cluster.request_count(ApiKey::Fetch);
    let fs = c.poll_fetches_timeout(Duration::from_millis(600));
    assert!(fs.errors().is_empty() && fs.num_records() == 0);
    assert!(
        cluster.request_count(ApiKey::Fetch) <= fetches + 1,
        "the partition kept being fetched"
    );
    // Moving it restarts fetching.
    c.set_offsets(HashMap::from([(
        TOPIC.to_string(),
        HashMap::from([(
            0,
            EpochOffset {
                epoch: -1,
                offset: 0,
            },
        )]),
    )]));
    let (got, _) = consume(&c, 100, Duration::from_secs(10), |e| panic!("{e}"));
    check_exactly(&got, &(0..100).collect::<BTreeSet<u64>>());
    c.close();
}
