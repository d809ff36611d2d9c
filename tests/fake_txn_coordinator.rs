//! The fake cluster's transaction coordinator against the Java broker's
//! semantics (`TransactionCoordinator`, `TransactionMetadata`,
//! `KafkaApis`, partition verification, `UnifiedLog`'s last stable offset
//! and aborted transactions): one test per rule. Driven by the raw client
//! in `support/fake_raw.rs`, not the crate's client.
#![cfg(feature = "fake")]

mod support;

use support::fake_raw::*;

use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use kafka_sync::fake::{Action, Cluster, ClusterBuilder, CoordinatorType, TxnState};
use kafka_sync::messages::add_partitions_to_txn_request::{
    AddPartitionsToTxnTopic, AddPartitionsToTxnTransaction,
};
use kafka_sync::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_sync::messages::txn_offset_commit_request::{
    TxnOffsetCommitRequestPartition, TxnOffsetCommitRequestTopic,
};
use kafka_sync::messages::*;

const INVALID_PRODUCER_EPOCH: i16 = 47;
const INVALID_TXN_STATE: i16 = 48;
const INVALID_PRODUCER_ID_MAPPING: i16 = 49;
const INVALID_TRANSACTION_TIMEOUT: i16 = 50;
const CONCURRENT_TRANSACTIONS: i16 = 51;
const TRANSACTIONAL_ID_AUTHORIZATION_FAILED: i16 = 53;
const OPERATION_NOT_ATTEMPTED: i16 = 55;
const NOT_COORDINATOR: i16 = 16;
const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
const PRODUCER_FENCED: i16 = 90;
const TRANSACTION_ABORTABLE: i16 = 120;
const UNSTABLE_OFFSET_COMMIT: i16 = 88;

fn builder() -> ClusterBuilder {
    Cluster::builder().brokers(1).topic("t", 2)
}

/// The broker coordinating transactional id `id`, from FindCoordinator v3.
fn txn_coordinator(cluster: &Cluster, id: &str) -> i32 {
    let mut c = Conn::connect(&cluster.seeds()[0]).unwrap();
    let req = FindCoordinatorRequest::default()
        .with_key(s(id))
        .with_key_type(1);
    let resp = c.call(3, &req).unwrap();
    assert_eq!(resp.error_code, 0, "FindCoordinator {id}");
    resp.node_id.0
}

fn txn_conn(cluster: &Cluster, id: &str) -> Conn {
    let node = txn_coordinator(cluster, id);
    Conn::connect(&cluster.seeds()[node as usize]).unwrap()
}

fn init_req(id: &str, timeout_ms: i32) -> InitProducerIdRequest {
    InitProducerIdRequest::default()
        .with_transactional_id(Some(TransactionalId(s(id))))
        .with_transaction_timeout_ms(timeout_ms)
        .with_producer_id(ProducerId(-1))
        .with_producer_epoch(-1)
}

/// InitProducerId v4: (error, producer id, epoch).
fn init(c: &mut Conn, id: &str) -> (i16, i64, i16) {
    let r = c.call(4, &init_req(id, 60_000)).unwrap();
    (r.error_code, r.producer_id.0, r.producer_epoch)
}

/// InitProducerId until it stops answering CONCURRENT_TRANSACTIONS.
fn init_ok(c: &mut Conn, id: &str) -> (i64, i16) {
    for _ in 0..10 {
        let (code, pid, epoch) = init(c, id);
        if code != CONCURRENT_TRANSACTIONS {
            assert_eq!(code, 0, "InitProducerId {id}");
            return (pid, epoch);
        }
    }
    panic!("InitProducerId {id} kept answering CONCURRENT_TRANSACTIONS");
}

fn add_req(id: &str, pid: i64, epoch: i16, parts: &[(&str, i32)]) -> AddPartitionsToTxnRequest {
    let mut topics: Vec<AddPartitionsToTxnTopic> = Vec::new();
    for (t, p) in parts {
        match topics.iter_mut().find(|x| x.name.as_str() == *t) {
            Some(x) => x.partitions.push(*p),
            None => topics.push(
                AddPartitionsToTxnTopic::default()
                    .with_name(TopicName(s(t)))
                    .with_partitions(vec![*p]),
            ),
        }
    }
    AddPartitionsToTxnRequest::default()
        .with_v3_and_below_transactional_id(TransactionalId(s(id)))
        .with_v3_and_below_producer_id(ProducerId(pid))
        .with_v3_and_below_producer_epoch(epoch)
        .with_v3_and_below_topics(topics)
}

/// AddPartitionsToTxn at `version` (< 4): (topic, partition, error) each.
fn add_v(
    c: &mut Conn,
    version: i16,
    id: &str,
    pid: i64,
    epoch: i16,
    parts: &[(&str, i32)],
) -> Vec<(String, i32, i16)> {
    let resp = c.call(version, &add_req(id, pid, epoch, parts)).unwrap();
    let mut out: Vec<(String, i32, i16)> = resp
        .results_by_topic_v3_and_below
        .iter()
        .flat_map(|t| {
            t.results_by_partition.iter().map(move |p| {
                (
                    t.name.as_str().to_string(),
                    p.partition_index,
                    p.partition_error_code,
                )
            })
        })
        .collect();
    out.sort();
    out
}

/// AddPartitionsToTxn v3, expecting one code for every partition.
fn add(c: &mut Conn, id: &str, pid: i64, epoch: i16, parts: &[(&str, i32)]) -> i16 {
    let res = add_v(c, 3, id, pid, epoch, parts);
    assert_eq!(res.len(), parts.len());
    let code = res[0].2;
    assert!(res.iter().all(|r| r.2 == code), "{res:?}");
    code
}

fn end_v(c: &mut Conn, version: i16, id: &str, pid: i64, epoch: i16, commit: bool) -> i16 {
    let req = EndTxnRequest::default()
        .with_transactional_id(TransactionalId(s(id)))
        .with_producer_id(ProducerId(pid))
        .with_producer_epoch(epoch)
        .with_committed(commit);
    c.call(version, &req).unwrap().error_code
}

fn end(c: &mut Conn, id: &str, pid: i64, epoch: i16, commit: bool) -> i16 {
    end_v(c, 3, id, pid, epoch, commit)
}

/// Sets the transactional attribute of a batch and fixes its CRC.
fn transactional(b: Bytes) -> Bytes {
    let mut b = BytesMut::from(&b[..]);
    b[22] |= 0x10;
    let crc = crc32c::crc32c(&b[21..]);
    b[17..21].copy_from_slice(&crc.to_be_bytes());
    b.freeze()
}

/// A transactional batch of `n` records from (pid, epoch) at `seq`.
fn txn_batch(n: i32, pid: i64, epoch: i16, seq: i32) -> Bytes {
    transactional(batch(n, Some((pid, epoch, seq))))
}

/// Produce at `version` with `txn_id`: (error, base offset).
fn produce_v(
    c: &mut Conn,
    version: i16,
    txn_id: Option<&str>,
    topic: &str,
    partition: i32,
    records: Bytes,
) -> (i16, i64) {
    let req = produce_req(topic, partition, records, -1)
        .with_transactional_id(txn_id.map(|t| TransactionalId(s(t))));
    let resp = c.call(version, &req).unwrap();
    let p = &resp.responses[0].partition_responses[0];
    (p.error_code, p.base_offset)
}

fn produce_txn(c: &mut Conn, id: &str, topic: &str, partition: i32, records: Bytes) -> (i16, i64) {
    produce_v(c, 11, Some(id), topic, partition, records)
}

/// A read_committed (or read_uncommitted) fetch at v12: (error, high
/// watermark, last stable offset, aborted (pid, first offset), batches).
struct Fetched {
    error: i16,
    hw: i64,
    lso: i64,
    aborted: Option<Vec<(i64, i64)>>,
    batches: Vec<(i64, i32)>,
}

fn fetch_iso(c: &mut Conn, topic: &str, partition: i32, offset: i64, committed: bool) -> Fetched {
    let req = fetch_req(topic, partition, offset).with_isolation_level(i8::from(committed));
    fetched(c.call(12, &req).unwrap())
}

fn fetched(resp: FetchResponse) -> Fetched {
    let p = &resp.responses[0].partitions[0];
    Fetched {
        error: p.error_code,
        hw: p.high_watermark,
        lso: p.last_stable_offset,
        aborted: p.aborted_transactions.as_ref().map(|a| {
            a.iter()
                .map(|x| (x.producer_id.0, x.first_offset))
                .collect()
        }),
        batches: check_batches(p.records.as_deref().unwrap_or(&[])),
    }
}

fn list_latest(c: &mut Conn, topic: &str, partition: i32, committed: bool) -> i64 {
    let req = ListOffsetsRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_isolation_level(i8::from(committed))
        .with_topics(vec![ListOffsetsTopic::default()
            .with_name(TopicName(s(topic)))
            .with_partitions(vec![ListOffsetsPartition::default()
                .with_partition_index(partition)
                .with_timestamp(-1)])]);
    let resp = c.call(7, &req).unwrap();
    let p = &resp.topics[0].partitions[0];
    assert_eq!(p.error_code, 0);
    p.offset
}

/// (attributes, producer id, epoch, control key type) of the last stored batch.
fn last_batch(cluster: &Cluster, topic: &str, partition: i32) -> (i16, i64, i16, Option<i16>) {
    let log = cluster.partition_log(topic, partition);
    let b = log.last().expect("a batch");
    let attrs = i16::from_be_bytes([b[21], b[22]]);
    let pid = i64::from_be_bytes(b[43..51].try_into().unwrap());
    let epoch = i16::from_be_bytes([b[51], b[52]]);
    // Control record: len, attrs, ts delta, offset delta, key len, key (version, type).
    let key_type = (attrs & 0x20 != 0).then(|| i16::from_be_bytes([b[61 + 7], b[61 + 8]]));
    (attrs, pid, epoch, key_type)
}

#[test]
fn find_coordinator_answers_transactional_ids_single_and_batched() {
    let cluster = Cluster::builder().brokers(3).build().unwrap();
    let mut c = Conn::connect(&cluster.seeds()[0]).unwrap();
    let ids = ["txn-a", "txn-b", "txn-c", "txn-d"];
    let mut single = Vec::new();
    for id in ids {
        let node = txn_coordinator(&cluster, id);
        assert_eq!(node, cluster.coordinator(CoordinatorType::Transaction, id));
        single.push(node);
    }
    let req = FindCoordinatorRequest::default()
        .with_key_type(1)
        .with_coordinator_keys(ids.iter().map(|k| s(k)).collect());
    let resp = c.call(4, &req).unwrap();
    let batched: Vec<i32> = resp.coordinators.iter().map(|x| x.node_id.0).collect();
    assert_eq!(batched, single);
    assert!(resp.coordinators.iter().all(|x| x.error_code == 0));
    // A transactional id hashes as a group id does.
    assert_eq!(
        cluster.coordinator(CoordinatorType::Transaction, "same"),
        cluster.coordinator(CoordinatorType::Group, "same")
    );
}

#[test]
fn moving_a_coordinator_redirects_find_coordinator_and_fences_the_old_broker() {
    let cluster = Cluster::builder().brokers(3).topic("t", 1).build().unwrap();
    let id = "mover";
    let old = txn_coordinator(&cluster, id);
    let mut c = txn_conn(&cluster, id);
    let (pid, epoch) = init_ok(&mut c, id);
    let to = (old + 1) % 3;
    cluster
        .move_coordinator(CoordinatorType::Transaction, id, to)
        .unwrap();
    assert_eq!(txn_coordinator(&cluster, id), to);
    assert_eq!(init(&mut c, id).0, NOT_COORDINATOR);
    assert_eq!(end(&mut c, id, pid, epoch, true), NOT_COORDINATOR);
    // The state moved with it; the coordinator epoch went up.
    let mut c2 = txn_conn(&cluster, id);
    let (pid2, epoch2) = init_ok(&mut c2, id);
    assert_eq!((pid2, epoch2), (pid, epoch + 1));
    assert_eq!(cluster.transaction(id).unwrap().coordinator_epoch, 1);

    // Groups too: the old coordinator answers NOT_COORDINATOR.
    let group = "moving-group";
    let old_group = coordinator_id(&cluster, group);
    let to_group = (old_group + 1) % 3;
    cluster
        .move_coordinator(CoordinatorType::Group, group, to_group)
        .unwrap();
    assert_eq!(coordinator_id(&cluster, group), to_group);
    let mut stale = Conn::connect(&cluster.seeds()[old_group as usize]).unwrap();
    let (code, _) = fetch_offsets(&mut stale, group, Some(&[("t", 0)]), false);
    assert_eq!(code, NOT_COORDINATOR);
    let mut fresh = group_conn(&cluster, group);
    assert_eq!(
        fetch_offsets(&mut fresh, group, Some(&[("t", 0)]), false).0,
        0
    );
    assert!(cluster
        .move_coordinator(CoordinatorType::Group, group, 7)
        .is_err());
}

#[test]
fn init_producer_id_creates_then_bumps_the_epoch() {
    let cluster = builder().build().unwrap();
    let mut c = txn_conn(&cluster, "a");
    let (code, pid, epoch) = init(&mut c, "a");
    assert_eq!((code, epoch), (0, 0));
    assert!(pid >= 0);
    assert_eq!(init(&mut c, "a"), (0, pid, 1), "same id: epoch bump");
    let (_, other, e) = init(&mut c, "b");
    assert_ne!(other, pid);
    assert_eq!(e, 0);
    let snap = cluster.transaction("a").unwrap();
    assert_eq!(
        (snap.producer_id, snap.producer_epoch, snap.state),
        (pid, 1, TxnState::Empty)
    );
    // The bump fences the old epoch.
    assert_eq!(add(&mut c, "a", pid, 0, &[("t", 0)]), PRODUCER_FENCED);
}

#[test]
fn init_producer_id_aborts_an_ongoing_transaction_answering_concurrent_transactions_once() {
    let cluster = builder().build().unwrap();
    let mut c = txn_conn(&cluster, "a");
    let (pid, epoch) = init_ok(&mut c, "a");
    assert_eq!(add(&mut c, "a", pid, epoch, &[("t", 0)]), 0);
    assert_eq!(
        produce_txn(&mut c, "a", "t", 0, txn_batch(2, pid, epoch, 0)).0,
        0
    );
    assert_eq!(cluster.last_stable_offset("t", 0), Some(0));
    assert_eq!(init(&mut c, "a").0, CONCURRENT_TRANSACTIONS);
    // The abort completed under a fenced epoch: marker written, LSO free.
    let snap = cluster.transaction("a").unwrap();
    assert_eq!(
        (snap.state, snap.producer_epoch),
        (TxnState::CompleteAbort, epoch + 1)
    );
    assert_eq!(
        last_batch(&cluster, "t", 0),
        (0x30, pid, epoch + 1, Some(0))
    );
    assert_eq!(cluster.last_stable_offset("t", 0), Some(3));
    // The retry succeeds with a second bump.
    assert_eq!(init(&mut c, "a"), (0, pid, epoch + 2));
}

#[test]
fn init_producer_id_kip360_checks_the_producer_id_and_epoch() {
    let cluster = builder().build().unwrap();
    let mut c = txn_conn(&cluster, "a");
    let (pid, epoch) = init_ok(&mut c, "a");
    let with = |p: i64, e: i16| {
        init_req("a", 60_000)
            .with_producer_id(ProducerId(p))
            .with_producer_epoch(e)
    };
    // The current epoch: bumped.
    let r = c.call(4, &with(pid, epoch)).unwrap();
    assert_eq!((r.error_code, r.producer_epoch), (0, epoch + 1));
    // A retry of that bump (its answer lost) gets the same epoch again.
    let r = c.call(4, &with(pid, epoch)).unwrap();
    assert_eq!((r.error_code, r.producer_epoch), (0, epoch + 1));
    // An older epoch, or another producer id, is fenced.
    let r = c.call(4, &with(pid, epoch + 5)).unwrap();
    assert_eq!(r.error_code, PRODUCER_FENCED);
    let r = c.call(4, &with(pid + 100, 0)).unwrap();
    assert_eq!(r.error_code, PRODUCER_FENCED);
    // Before v4, PRODUCER_FENCED is INVALID_PRODUCER_EPOCH.
    let r = c.call(3, &with(pid + 100, 0)).unwrap();
    assert_eq!(r.error_code, INVALID_PRODUCER_EPOCH);
    // One of the two without the other is an invalid request.
    let r = c.call(4, &with(pid, -1)).unwrap();
    assert_eq!(r.error_code, 42);
}

#[test]
fn init_producer_id_checks_the_timeout_and_the_coordinator() {
    let cluster = Cluster::builder()
        .brokers(3)
        .transaction_max_timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    let mut c = txn_conn(&cluster, "a");
    let r = c.call(4, &init_req("a", 60_001)).unwrap();
    assert_eq!(r.error_code, INVALID_TRANSACTION_TIMEOUT);
    let r = c.call(4, &init_req("a", 0)).unwrap();
    assert_eq!(r.error_code, INVALID_TRANSACTION_TIMEOUT);
    assert_eq!(c.call(4, &init_req("a", 60_000)).unwrap().error_code, 0);
    let node = txn_coordinator(&cluster, "a");
    let mut other = Conn::connect(&cluster.seeds()[((node + 1) % 3) as usize]).unwrap();
    assert_eq!(
        other.call(4, &init_req("a", 1000)).unwrap().error_code,
        NOT_COORDINATOR
    );
    assert_eq!(c.call(4, &init_req("", 1000)).unwrap().error_code, 42);
}

#[test]
fn add_partitions_fails_the_whole_transaction_for_an_unknown_partition() {
    let cluster = builder().build().unwrap();
    let mut c = txn_conn(&cluster, "a");
    let (pid, epoch) = init_ok(&mut c, "a");
    let res = add_v(
        &mut c,
        3,
        "a",
        pid,
        epoch,
        &[("t", 0), ("t", 9), ("nope", 0)],
    );
    assert_eq!(
        res,
        vec![
            ("nope".to_string(), 0, UNKNOWN_TOPIC_OR_PARTITION),
            ("t".to_string(), 0, OPERATION_NOT_ATTEMPTED),
            ("t".to_string(), 9, UNKNOWN_TOPIC_OR_PARTITION),
        ]
    );
    assert_eq!(cluster.transaction("a").unwrap().state, TxnState::Empty);
    assert_eq!(add(&mut c, "a", pid, epoch, &[("t", 0), ("t", 1)]), 0);
    let snap = cluster.transaction("a").unwrap();
    assert_eq!(snap.state, TxnState::Ongoing);
    assert_eq!(snap.partitions, vec![("t".into(), 0), ("t".into(), 1)]);
}

#[test]
fn add_partitions_checks_the_producer_and_the_state() {
    let cluster = builder().build().unwrap();
    let mut c = txn_conn(&cluster, "a");
    let (pid, epoch) = init_ok(&mut c, "a");
    assert_eq!(
        add(&mut c, "a", pid, epoch + 1, &[("t", 0)]),
        PRODUCER_FENCED
    );
    let old = add_v(&mut c, 1, "a", pid, epoch + 1, &[("t", 0)]);
    assert_eq!(
        old[0].2, INVALID_PRODUCER_EPOCH,
        "v1 predates PRODUCER_FENCED"
    );
    assert_eq!(
        add(&mut c, "a", pid + 1, epoch, &[("t", 0)]),
        INVALID_PRODUCER_ID_MAPPING
    );
    assert_eq!(
        add(&mut c, "unknown", pid, epoch, &[("t", 0)]),
        INVALID_PRODUCER_ID_MAPPING
    );
    // While a commit's markers are in flight: CONCURRENT_TRANSACTIONS.
    assert_eq!(add(&mut c, "a", pid, epoch, &[("t", 0)]), 0);
    cluster.hold_txn_markers(true);
    assert_eq!(end(&mut c, "a", pid, epoch, true), 0);
    assert_eq!(
        cluster.transaction("a").unwrap().state,
        TxnState::PrepareCommit
    );
    assert_eq!(
        add(&mut c, "a", pid, epoch, &[("t", 1)]),
        CONCURRENT_TRANSACTIONS
    );
    assert_eq!(end(&mut c, "a", pid, epoch, true), CONCURRENT_TRANSACTIONS);
    assert_eq!(end(&mut c, "a", pid, epoch, false), INVALID_TXN_STATE);
    assert_eq!(init(&mut c, "a").0, CONCURRENT_TRANSACTIONS);
    cluster.hold_txn_markers(false);
    assert_eq!(
        cluster.transaction("a").unwrap().state,
        TxnState::CompleteCommit
    );
    assert_eq!(last_batch(&cluster, "t", 0), (0x30, pid, epoch, Some(1)));
    assert_eq!(add(&mut c, "a", pid, epoch, &[("t", 1)]), 0);
}

#[test]
fn add_partitions_v4_batches_transactions_and_verifies() {
    let cluster = builder().build().unwrap();
    let mut c = txn_conn(&cluster, "a");
    let (pa, ea) = init_ok(&mut c, "a");
    let (pb, eb) = init_ok(&mut c, "b");
    assert_eq!(add(&mut c, "a", pa, ea, &[("t", 0)]), 0);
    let txn = |id: &str, pid: i64, epoch: i16, verify: bool| {
        AddPartitionsToTxnTransaction::default()
            .with_transactional_id(TransactionalId(s(id)))
            .with_producer_id(ProducerId(pid))
            .with_producer_epoch(epoch)
            .with_verify_only(verify)
            .with_topics(vec![AddPartitionsToTxnTopic::default()
                .with_name(TopicName(s("t")))
                .with_partitions(vec![0, 1])])
    };
    let req = AddPartitionsToTxnRequest::default()
        .with_transactions(vec![txn("a", pa, ea, true), txn("b", pb, eb, false)]);
    let resp = c.call(4, &req).unwrap();
    let codes = |i: usize| -> Vec<i16> {
        resp.results_by_transaction[i].topic_results[0]
            .results_by_partition
            .iter()
            .map(|p| p.partition_error_code)
            .collect()
    };
    assert_eq!(codes(0), vec![0, TRANSACTION_ABORTABLE], "verify only");
    assert_eq!(codes(1), vec![0, 0]);
    assert_eq!(cluster.transaction("a").unwrap().partitions.len(), 1);
    assert_eq!(cluster.transaction("b").unwrap().partitions.len(), 2);
}

#[test]
fn end_txn_writes_one_marker_per_partition_and_checks_its_state() {
    let cluster = builder().build().unwrap();
    let mut c = txn_conn(&cluster, "a");
    let (pid, epoch) = init_ok(&mut c, "a");
    assert_eq!(
        end(&mut c, "a", pid, epoch, true),
        INVALID_TXN_STATE,
        "nothing open"
    );
    assert_eq!(add(&mut c, "a", pid, epoch, &[("t", 0), ("t", 1)]), 0);
    assert_eq!(
        produce_txn(&mut c, "a", "t", 0, txn_batch(3, pid, epoch, 0)).0,
        0
    );
    assert_eq!(end(&mut c, "a", pid, epoch + 1, true), PRODUCER_FENCED);
    assert_eq!(
        end_v(&mut c, 1, "a", pid, epoch + 1, true),
        INVALID_PRODUCER_EPOCH
    );
    assert_eq!(
        end(&mut c, "a", pid + 1, epoch, true),
        INVALID_PRODUCER_ID_MAPPING
    );
    assert_eq!(end(&mut c, "a", pid, epoch, true), 0);
    // Partition 0: 3 records then the commit marker; partition 1, which
    // saw no data, still gets its marker.
    assert_eq!(cluster.end_offset("t", 0), Some(4));
    assert_eq!(last_batch(&cluster, "t", 0), (0x30, pid, epoch, Some(1)));
    assert_eq!(cluster.end_offset("t", 1), Some(1));
    assert_eq!(last_batch(&cluster, "t", 1), (0x30, pid, epoch, Some(1)));
    let marker = cluster.partition_log("t", 0).last().unwrap().clone();
    assert_eq!(
        &marker[61 + 10..61 + 16],
        &[0, 0, 0, 0, 0, 0],
        "value: version 0, coordinator epoch 0"
    );
    // A retried commit succeeds; an abort of what committed does not.
    assert_eq!(end(&mut c, "a", pid, epoch, true), 0);
    assert_eq!(end(&mut c, "a", pid, epoch, false), INVALID_TXN_STATE);
    assert_eq!(cluster.end_offset("t", 0), Some(4), "no second marker");
}

#[test]
fn a_timed_out_transaction_is_aborted_and_its_producer_fenced() {
    let cluster = builder()
        .transaction_abort_interval(Duration::from_millis(20))
        .build()
        .unwrap();
    let mut c = txn_conn(&cluster, "a");
    let r = c.call(4, &init_req("a", 200)).unwrap();
    let (pid, epoch) = (r.producer_id.0, r.producer_epoch);
    assert_eq!(add(&mut c, "a", pid, epoch, &[("t", 0)]), 0);
    assert_eq!(
        produce_txn(&mut c, "a", "t", 0, txn_batch(1, pid, epoch, 0)).0,
        0
    );
    let started = Instant::now();
    assert!(support::wait_until(Duration::from_secs(5), || {
        cluster.transaction("a").unwrap().state == TxnState::CompleteAbort
    }));
    assert!(started.elapsed() >= Duration::from_millis(150));
    assert_eq!(cluster.transaction("a").unwrap().producer_epoch, epoch + 1);
    assert_eq!(
        last_batch(&cluster, "t", 0),
        (0x30, pid, epoch + 1, Some(0))
    );
    // The producer finds out: its commit is fenced, so is its data.
    assert_eq!(end(&mut c, "a", pid, epoch, true), PRODUCER_FENCED);
    let (code, _) = produce_txn(&mut c, "a", "t", 0, txn_batch(1, pid, epoch, 1));
    assert_eq!(code, INVALID_PRODUCER_EPOCH);
}

#[test]
fn produce_needs_a_transactional_id_for_transactional_batches() {
    let cluster = builder().build().unwrap();
    let mut c = txn_conn(&cluster, "a");
    let (pid, epoch) = init_ok(&mut c, "a");
    assert_eq!(add(&mut c, "a", pid, epoch, &[("t", 0)]), 0);
    let (code, _) = produce_v(&mut c, 11, None, "t", 0, txn_batch(1, pid, epoch, 0));
    assert_eq!(code, TRANSACTIONAL_ID_AUTHORIZATION_FAILED);
    // Java accepts a transactional id beside non-transactional batches.
    let (code, _) = produce_v(&mut c, 11, Some("a"), "t", 1, batch(1, None));
    assert_eq!(code, 0);
}

#[test]
fn produce_refuses_a_partition_the_transaction_did_not_add() {
    let cluster = builder().build().unwrap();
    let mut c = txn_conn(&cluster, "a");
    let (pid, epoch) = init_ok(&mut c, "a");
    assert_eq!(add(&mut c, "a", pid, epoch, &[("t", 0)]), 0);
    let b = || txn_batch(1, pid, epoch, 0);
    assert_eq!(
        produce_v(&mut c, 11, Some("a"), "t", 1, b()).0,
        TRANSACTION_ABORTABLE
    );
    assert_eq!(
        produce_v(&mut c, 10, Some("a"), "t", 1, b()).0,
        INVALID_TXN_STATE
    );
    assert_eq!(
        produce_v(&mut c, 11, Some("x"), "t", 0, b()).0,
        INVALID_PRODUCER_ID_MAPPING
    );
    let other = txn_batch(1, pid + 7, 0, 0);
    assert_eq!(
        produce_v(&mut c, 11, Some("a"), "t", 0, other).0,
        INVALID_PRODUCER_ID_MAPPING
    );
    assert_eq!(produce_v(&mut c, 11, Some("a"), "t", 0, b()).0, 0);
    assert_eq!(cluster.end_offset("t", 1), Some(0));
}

#[test]
fn produce_refuses_an_old_epoch() {
    let cluster = builder().build().unwrap();
    let mut c = txn_conn(&cluster, "a");
    let (pid, epoch) = init_ok(&mut c, "a");
    assert_eq!(add(&mut c, "a", pid, epoch, &[("t", 0)]), 0);
    assert_eq!(
        produce_txn(&mut c, "a", "t", 0, txn_batch(1, pid, epoch, 0)).0,
        0
    );
    assert_eq!(init(&mut c, "a").0, CONCURRENT_TRANSACTIONS);
    let (code, _) = produce_txn(&mut c, "a", "t", 0, txn_batch(1, pid, epoch, 1));
    assert_eq!(code, INVALID_PRODUCER_EPOCH);
}

#[test]
fn produce_refuses_a_transactional_batch_without_a_producer_id() {
    let cluster = builder().build().unwrap();
    let mut c = txn_conn(&cluster, "a");
    let (pid, epoch) = init_ok(&mut c, "a");
    assert_eq!(add(&mut c, "a", pid, epoch, &[("t", 0)]), 0);
    let (code, _) = produce_txn(&mut c, "a", "t", 0, transactional(batch(1, None)));
    assert_eq!(code, INVALID_TXN_STATE);
}

#[test]
fn produce_refuses_a_non_transactional_batch_inside_an_open_transaction() {
    let cluster = builder().build().unwrap();
    let mut c = txn_conn(&cluster, "a");
    let (pid, epoch) = init_ok(&mut c, "a");
    assert_eq!(add(&mut c, "a", pid, epoch, &[("t", 0)]), 0);
    assert_eq!(
        produce_txn(&mut c, "a", "t", 0, txn_batch(1, pid, epoch, 0)).0,
        0
    );
    let (code, _) = produce_txn(&mut c, "a", "t", 0, batch(1, Some((pid, epoch, 1))));
    assert_eq!(code, INVALID_TXN_STATE);
}

/// The whole flow: a committed and an aborted transaction between plain
/// records; read_committed sees the LSO and the aborted list.
#[test]
fn commit_and_abort_then_read_committed_shows_lso_and_aborted_transactions() {
    let cluster = builder().build().unwrap();
    let mut c = txn_conn(&cluster, "a");
    let (pid, epoch) = init_ok(&mut c, "a");
    let mut seq = 0;
    let mut txn = |c: &mut Conn, commit: bool, n: i32| {
        assert_eq!(add(c, "a", pid, epoch, &[("t", 0)]), 0);
        assert_eq!(
            produce_txn(c, "a", "t", 0, txn_batch(n, pid, epoch, seq)).0,
            0
        );
        seq += n;
        assert_eq!(end(c, "a", pid, epoch, commit), 0);
    };
    assert_eq!(produce(&mut c, "t", 0, batch(1, None)), (0, 0)); // 0
    txn(&mut c, true, 2); // 1-2 data, 3 commit marker
    txn(&mut c, false, 3); // 4-6 data, 7 abort marker
                           // An open transaction: 8-9 data.
    assert_eq!(add(&mut c, "a", pid, epoch, &[("t", 0)]), 0);
    assert_eq!(
        produce_txn(&mut c, "a", "t", 0, txn_batch(2, pid, epoch, seq)).0,
        0
    );
    assert_eq!(cluster.last_stable_offset("t", 0), Some(8));

    let f = fetch_iso(&mut c, "t", 0, 0, true);
    assert_eq!((f.error, f.hw, f.lso), (0, 10, 8));
    assert_eq!(f.aborted, Some(vec![(pid, 4)]));
    assert_eq!(f.batches, vec![(0, 1), (1, 2), (3, 1), (4, 3), (7, 1)]);
    // Past the aborted transaction there is nothing to report.
    let f = fetch_iso(&mut c, "t", 0, 8, true);
    assert_eq!((f.batches.len(), f.aborted), (0, Some(vec![])));
    // read_uncommitted sees everything and no aborted list.
    let f = fetch_iso(&mut c, "t", 0, 0, false);
    assert_eq!((f.lso, f.batches.len(), f.aborted), (8, 6, None));
    assert_eq!(list_latest(&mut c, "t", 0, true), 8);
    assert_eq!(list_latest(&mut c, "t", 0, false), 10);

    assert_eq!(end(&mut c, "a", pid, epoch, true), 0);
    assert_eq!(cluster.last_stable_offset("t", 0), Some(11));
    assert_eq!(list_latest(&mut c, "t", 0, true), 11);
    let f = fetch_iso(&mut c, "t", 0, 8, true);
    assert_eq!(f.batches, vec![(8, 2), (10, 1)]);
}

#[test]
fn read_committed_long_poll_waits_for_the_lso() {
    let cluster = builder().build().unwrap();
    let mut c = txn_conn(&cluster, "a");
    let (pid, epoch) = init_ok(&mut c, "a");
    assert_eq!(add(&mut c, "a", pid, epoch, &[("t", 0)]), 0);
    assert_eq!(
        produce_txn(&mut c, "a", "t", 0, txn_batch(2, pid, epoch, 0)).0,
        0
    );
    // Data above the LSO does not satisfy min_bytes: the fetch waits it out.
    let mut f = leader_of(&cluster, "t", 0);
    let req = fetch_req("t", 0, 0)
        .with_isolation_level(1)
        .with_max_wait_ms(200);
    let start = Instant::now();
    let got = fetched(f.call(12, &req).unwrap());
    assert!(start.elapsed() >= Duration::from_millis(180));
    assert!(got.batches.is_empty());
    // A waiting fetch wakes when the commit moves the LSO.
    let req = req.with_max_wait_ms(10_000);
    let corr = f.send(12, &req).unwrap();
    assert!(f.quiet_for(Duration::from_millis(100)));
    let start = Instant::now();
    assert_eq!(end(&mut c, "a", pid, epoch, true), 0);
    let got = fetched(f.recv::<FetchRequest>(12, corr).unwrap());
    assert!(start.elapsed() < Duration::from_secs(5));
    assert_eq!((got.lso, got.batches.len()), (3, 2));
}

fn txn_commit_req(
    id: &str,
    group: &str,
    (pid, epoch): (i64, i16),
    offset: i64,
) -> TxnOffsetCommitRequest {
    TxnOffsetCommitRequest::default()
        .with_transactional_id(TransactionalId(s(id)))
        .with_group_id(GroupId(s(group)))
        .with_producer_id(ProducerId(pid))
        .with_producer_epoch(epoch)
        .with_generation_id(-1)
        .with_topics(vec![TxnOffsetCommitRequestTopic::default()
            .with_name(TopicName(s("t")))
            .with_partitions(vec![TxnOffsetCommitRequestPartition::default()
                .with_partition_index(0)
                .with_committed_offset(offset)
                .with_committed_leader_epoch(-1)
                .with_committed_metadata(Some(s("m")))])])
}

fn txn_commit(c: &mut Conn, version: i16, req: &TxnOffsetCommitRequest) -> i16 {
    c.call(version, req).unwrap().topics[0].partitions[0].error_code
}

fn add_offsets(c: &mut Conn, id: &str, (pid, epoch): (i64, i16), group: &str) -> i16 {
    let req = AddOffsetsToTxnRequest::default()
        .with_transactional_id(TransactionalId(s(id)))
        .with_producer_id(ProducerId(pid))
        .with_producer_epoch(epoch)
        .with_group_id(GroupId(s(group)));
    c.call(3, &req).unwrap().error_code
}

#[test]
fn txn_offsets_are_pending_until_the_commit_marker_and_dropped_on_abort() {
    let cluster = builder().build().unwrap();
    let mut c = txn_conn(&cluster, "a");
    let mut g = group_conn(&cluster, "g");
    let producer = init_ok(&mut c, "a");
    assert_eq!(add_offsets(&mut c, "a", producer, "g"), 0);
    let snap = cluster.transaction("a").unwrap();
    assert_eq!(snap.state, TxnState::Ongoing);
    assert_eq!(snap.partitions[0].0, "__consumer_offsets");
    assert_eq!(
        txn_commit(&mut g, 3, &txn_commit_req("a", "g", producer, 5)),
        0
    );
    let (_, parts) = fetch_offsets(&mut g, "g", Some(&[("t", 0)]), true);
    assert_eq!(parts[0].error, UNSTABLE_OFFSET_COMMIT);
    let (_, parts) = fetch_offsets(&mut g, "g", Some(&[("t", 0)]), false);
    assert_eq!((parts[0].error, parts[0].offset), (0, -1));
    assert_eq!(end(&mut c, "a", producer.0, producer.1, true), 0);
    let (_, parts) = fetch_offsets(&mut g, "g", Some(&[("t", 0)]), true);
    assert_eq!((parts[0].error, parts[0].offset), (0, 5));
    assert_eq!(parts[0].metadata, "m");

    // Aborted: the staged offset vanishes.
    assert_eq!(add_offsets(&mut c, "a", producer, "g"), 0);
    assert_eq!(
        txn_commit(&mut g, 3, &txn_commit_req("a", "g", producer, 9)),
        0
    );
    assert_eq!(end(&mut c, "a", producer.0, producer.1, false), 0);
    let (_, parts) = fetch_offsets(&mut g, "g", Some(&[("t", 0)]), true);
    assert_eq!((parts[0].error, parts[0].offset), (0, 5));
}

#[test]
fn txn_offset_commit_needs_add_offsets_to_txn_first() {
    let cluster = builder().build().unwrap();
    let mut c = txn_conn(&cluster, "a");
    let mut g = group_conn(&cluster, "g");
    let producer = init_ok(&mut c, "a");
    let req = txn_commit_req("a", "g", producer, 5);
    assert_eq!(txn_commit(&mut g, 4, &req), TRANSACTION_ABORTABLE);
    assert_eq!(txn_commit(&mut g, 3, &req), INVALID_TXN_STATE, "before v4");
    let stale = txn_commit_req("a", "g", (producer.0, producer.1 + 1), 5);
    assert_eq!(add_offsets(&mut c, "a", producer, "g"), 0);
    assert_eq!(txn_commit(&mut g, 3, &stale), INVALID_PRODUCER_EPOCH);
    assert_eq!(
        txn_commit(&mut g, 3, &txn_commit_req("b", "g", producer, 5)),
        INVALID_PRODUCER_ID_MAPPING
    );
    assert_eq!(txn_commit(&mut g, 3, &req), 0);
}

#[test]
fn txn_offset_commit_checks_kip447_member_fields() {
    let cluster = builder().build().unwrap();
    let mut c = txn_conn(&cluster, "a");
    let producer = init_ok(&mut c, "a");
    let group = "g447";
    assert_eq!(add_offsets(&mut c, "a", producer, group), 0);
    let mut g = group_conn(&cluster, group);
    let joined = join(
        &mut g,
        &join_req(group, "", &["range"]).with_group_instance_id(Some(s("inst"))),
    );
    assert_eq!(joined.error_code, 0);
    let member = joined.member_id.as_str().to_string();
    let generation = joined.generation_id;
    let base = txn_commit_req("a", group, producer, 3);
    let with = |gen: i32, m: &str, inst: Option<&str>| {
        base.clone()
            .with_generation_id(gen)
            .with_member_id(s(m))
            .with_group_instance_id(inst.map(s))
    };
    assert_eq!(
        txn_commit(&mut g, 3, &with(generation + 1, &member, Some("inst"))),
        22,
        "ILLEGAL_GENERATION"
    );
    assert_eq!(
        txn_commit(&mut g, 3, &with(generation, "nobody", None)),
        25,
        "UNKNOWN_MEMBER_ID"
    );
    assert_eq!(
        txn_commit(&mut g, 3, &with(generation, "nobody", Some("inst"))),
        82,
        "FENCED_INSTANCE_ID"
    );
    assert_eq!(
        txn_commit(&mut g, 3, &with(generation, &member, Some("inst"))),
        0
    );
    // Without member fields (v0-v2 style) a transactional commit is accepted.
    assert_eq!(txn_commit(&mut g, 3, &base), 0);
}

#[test]
fn intercepts_work_for_end_txn() {
    let cluster = builder().build().unwrap();
    let mut c = txn_conn(&cluster, "a");
    let (pid, epoch) = init_ok(&mut c, "a");
    assert_eq!(add(&mut c, "a", pid, epoch, &[("t", 0)]), 0);
    cluster.intercept(ApiKey::EndTxn, None, Some(1), |_| {
        Action::ErrorCode(CONCURRENT_TRANSACTIONS)
    });
    assert_eq!(end(&mut c, "a", pid, epoch, true), CONCURRENT_TRANSACTIONS);
    assert_eq!(cluster.transaction("a").unwrap().state, TxnState::Ongoing);
    assert_eq!(end(&mut c, "a", pid, epoch, true), 0);
    assert_eq!(cluster.request_count(ApiKey::EndTxn), 2);
    for key in [
        ApiKey::AddPartitionsToTxn,
        ApiKey::AddOffsetsToTxn,
        ApiKey::TxnOffsetCommit,
    ] {
        cluster.intercept(key, None, Some(1), |_| Action::ErrorCode(NOT_COORDINATOR));
    }
    assert_eq!(add(&mut c, "a", pid, epoch, &[("t", 0)]), NOT_COORDINATOR);
    assert_eq!(add_offsets(&mut c, "a", (pid, epoch), "g"), NOT_COORDINATOR);
    let mut g = group_conn(&cluster, "g");
    assert_eq!(
        txn_commit(&mut g, 3, &txn_commit_req("a", "g", (pid, epoch), 1)),
        NOT_COORDINATOR
    );
}

#[test]
fn describe_and_list_transactions() {
    let cluster = builder().build().unwrap();
    let mut c = txn_conn(&cluster, "a");
    let (pid, epoch) = init_ok(&mut c, "a");
    init_ok(&mut c, "b");
    assert_eq!(add(&mut c, "a", pid, epoch, &[("t", 1), ("t", 0)]), 0);
    let req = DescribeTransactionsRequest::default()
        .with_transactional_ids(vec![TransactionalId(s("a")), TransactionalId(s("missing"))]);
    let resp = c.call(0, &req).unwrap();
    let a = &resp.transaction_states[0];
    assert_eq!(a.error_code, 0);
    assert_eq!((a.producer_id.0, a.producer_epoch), (pid, epoch));
    assert_eq!(a.transaction_state.as_str(), "Ongoing");
    assert_eq!(a.transaction_timeout_ms, 60_000);
    assert!(a.transaction_start_time_ms > 0);
    assert_eq!(a.topics[0].partitions, vec![0, 1]);
    assert_eq!(
        resp.transaction_states[1].error_code, 105,
        "TRANSACTIONAL_ID_NOT_FOUND"
    );

    let list = |c: &mut Conn, states: &[&str], pattern: Option<&str>| {
        let req = ListTransactionsRequest::default()
            .with_state_filters(states.iter().map(|x| s(x)).collect())
            .with_duration_filter(-1)
            .with_transactional_id_pattern(pattern.map(s));
        let resp = c.call(2, &req).unwrap();
        let ids: Vec<String> = resp
            .transaction_states
            .iter()
            .map(|t| t.transactional_id.as_str().to_string())
            .collect();
        let unknown: Vec<String> = resp
            .unknown_state_filters
            .iter()
            .map(|x| x.to_string())
            .collect();
        (ids, unknown)
    };
    assert_eq!(list(&mut c, &[], None).0, vec!["a", "b"]);
    assert_eq!(list(&mut c, &["Ongoing"], None).0, vec!["a"]);
    assert_eq!(
        list(&mut c, &["Empty", "Bogus"], None),
        (vec!["b".to_string()], vec!["Bogus".to_string()])
    );
    assert_eq!(list(&mut c, &[], Some("b.*")).0, vec!["b"]);
}

#[test]
fn api_versions_advertise_the_transaction_apis_at_transaction_version_1() {
    let cluster = builder().build().unwrap();
    let mut c = Conn::connect(&cluster.seeds()[0]).unwrap();
    let resp = c.call(3, &api_versions_req()).unwrap();
    let max = |key: ApiKey| {
        resp.api_keys
            .iter()
            .find(|k| k.api_key == key as i16)
            .map(|k| (k.min_version, k.max_version))
    };
    assert_eq!(max(ApiKey::EndTxn), Some((0, 4)));
    assert_eq!(max(ApiKey::TxnOffsetCommit), Some((0, 4)));
    assert_eq!(max(ApiKey::AddPartitionsToTxn), Some((0, 5)));
    assert_eq!(max(ApiKey::AddOffsetsToTxn), Some((0, 4)));
    assert!(max(ApiKey::DescribeTransactions).is_some());
    assert!(max(ApiKey::ListTransactions).is_some());
}
