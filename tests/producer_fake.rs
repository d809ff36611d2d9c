//! Producer behaviour against the embedded fake cluster: faults, leader
//! moves, dropped connections, timeouts, retries, abort, flush, close.
#![cfg(feature = "fake")]

mod support;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kafka_sync::fake::{Action, Cluster};
use kafka_sync::messages::ApiKey;
use kafka_sync::{Client, Error, ErrorCode, Record};
use support::verify::{check_exactly_once_in_order, decode_and_check, record};

const SIZE: usize = 100;
const KEYS: u64 = 997;

fn client(cluster: &Cluster) -> kafka_sync::ConfigBuilder<Client> {
    support::fake_builder(cluster)
}

/// Produces `n` records from one thread with callbacks, returning how many failed.
fn produce_n(c: &Client, topic: &str, n: u64) -> Vec<(u64, Error)> {
    let failed = Arc::new(Mutex::new(Vec::new()));
    for i in 0..n {
        let f = failed.clone();
        c.produce(record(topic, i, SIZE, KEYS), move |r, res| {
            if let Err(e) = res {
                f.lock()
                    .unwrap()
                    .push((support::verify::seq_of(r.value.as_deref().unwrap()), e));
            }
        });
    }
    c.flush().unwrap();
    let v = failed.lock().unwrap().clone();
    v
}

fn read_all(cluster: &Cluster, topic: &str, partitions: i32) -> HashMap<i32, Vec<u64>> {
    (0..partitions)
        .map(|p| {
            (
                p,
                decode_and_check(&cluster.partition_log(topic, p), SIZE, KEYS),
            )
        })
        .collect()
}

#[test]
fn produce_sync_sets_offsets_and_partitions() {
    let cluster = Cluster::builder().brokers(3).topic("t", 6).build().unwrap();
    let c = client(&cluster).build().unwrap();
    let results = c.produce_sync((0..100).map(|i| record("t", i, SIZE, KEYS)));
    assert!(results.is_ok(), "{:?}", results.first_err());
    let mut next: HashMap<i32, i64> = HashMap::new();
    for r in &results.0 {
        let expect = next.entry(r.record.partition).or_default();
        assert_eq!(r.record.offset, *expect, "offsets are dense per partition");
        *expect += 1;
        assert!(r.record.producer_id >= 0, "idempotent by default");
    }
    // Keyed records land where Java's murmur2 partitioner puts them.
    for r in &results.0 {
        let key = r.record.key.as_deref().unwrap();
        assert_eq!(
            r.record.partition as u32,
            (kafka_sync::murmur2(key) & 0x7fff_ffff) % 6
        );
    }
    check_exactly_once_in_order(&read_all(&cluster, "t", 6), 100);
    c.close();
}

#[test]
fn not_leader_errors_and_a_leader_move_lose_and_duplicate_nothing() {
    let cluster = Cluster::builder().brokers(3).topic("t", 6).build().unwrap();
    let c = client(&cluster).build().unwrap();
    c.produce_sync([record("t", 0, SIZE, KEYS)])
        .first()
        .unwrap();
    let hits = Arc::new(AtomicUsize::new(0));
    let h = hits.clone();
    cluster.intercept(ApiKey::Produce, None, Some(3), move |_| {
        h.fetch_add(1, Ordering::AcqRel);
        Action::ErrorCode(6)
    });
    let total = 30_000u64;
    let producer = {
        let c = c.clone();
        std::thread::spawn(move || {
            let mut failed = Vec::new();
            for i in 1..total {
                let f = Arc::new(Mutex::new(None));
                let f2 = f.clone();
                c.produce(record("t", i, SIZE, KEYS), move |_, res| {
                    *f2.lock().unwrap() = res.err()
                });
                failed.push(f);
            }
            c.flush().unwrap();
            failed
                .iter()
                .filter(|f| f.lock().unwrap().is_some())
                .count()
        })
    };
    // Move leadership around while producing.
    for (i, p) in (0..6).enumerate() {
        let to = (p + 1) % 3;
        cluster.move_leader("t", p, to).unwrap();
        // Let more produce requests go by before the next move.
        let seen = cluster.request_count(ApiKey::Produce);
        support::wait_until(Duration::from_secs(5), || {
            producer.is_finished() || cluster.request_count(ApiKey::Produce) >= seen + 2 + i as u64
        });
    }
    assert_eq!(producer.join().unwrap(), 0);
    assert_eq!(hits.load(Ordering::Acquire), 3);
    check_exactly_once_in_order(&read_all(&cluster, "t", 6), total);
    c.close();
}

#[test]
fn dropped_connections_lose_and_duplicate_nothing() {
    let cluster = Cluster::builder().brokers(3).topic("t", 6).build().unwrap();
    let c = client(&cluster).build().unwrap();
    let seen = Arc::new(AtomicUsize::new(0));
    let drops = Arc::new(AtomicUsize::new(0));
    let (s, d) = (seen.clone(), drops.clone());
    // Every 15th produce request: the broker writes it, then the connection drops
    // before the answer (the worst case for duplicates), or it drops unwritten.
    cluster.intercept(ApiKey::Produce, None, None, move |_| {
        let n = s.fetch_add(1, Ordering::AcqRel);
        if n % 15 == 14 {
            d.fetch_add(1, Ordering::AcqRel);
            Action::DropConnection
        } else {
            Action::PassThrough
        }
    });
    let total = 200_000u64;
    let failed = produce_n(&c, "t", total);
    assert!(
        failed.is_empty(),
        "{} failed, first: {:?}",
        failed.len(),
        failed.first()
    );
    let dropped = drops.load(Ordering::Acquire);
    println!(
        "{dropped} connections dropped over {} produce requests",
        seen.load(Ordering::Acquire)
    );
    assert!(dropped >= 20, "only {dropped} drops");
    check_exactly_once_in_order(&read_all(&cluster, "t", 6), total);
    c.close();
}

/// A produce request lost with its connection is resent at once: only a
/// second failure in a row waits the retry backoff (30 s here).
#[test]
fn a_dropped_produce_connection_is_resent_without_the_backoff() {
    let cluster = Cluster::builder().brokers(1).topic("t", 1).build().unwrap();
    let c = client(&cluster)
        .retry_backoff_fn(|_| Duration::from_secs(30))
        .build()
        .unwrap();
    let one = |i: u64| [record("t", i, SIZE, KEYS)];
    c.produce_sync_timeout(one(0), Duration::from_secs(10))
        .first()
        .unwrap();
    let seen = Arc::new(AtomicUsize::new(0));
    let s = seen.clone();
    cluster.intercept(ApiKey::Produce, None, Some(1), move |_| {
        s.fetch_add(1, Ordering::AcqRel);
        Action::DropConnection
    });
    let start = Instant::now();
    let res = c.produce_sync_timeout(one(1), Duration::from_secs(10));
    let took = start.elapsed();
    res.first().unwrap();
    assert_eq!(seen.load(Ordering::Acquire), 1, "the drop happened");
    assert!(took < Duration::from_secs(5), "resent after {took:?}");
    check_exactly_once_in_order(&read_all(&cluster, "t", 1), 2);
    c.close();
}

#[test]
fn delivery_timeout_fails_gaplessly_in_order() {
    let cluster = Cluster::builder().brokers(1).topic("t", 1).build().unwrap();
    let c = client(&cluster)
        .record_delivery_timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    c.produce_sync([record("t", 0, SIZE, KEYS)])
        .first()
        .unwrap();
    // NOT_ENOUGH_REPLICAS forever: retriable, so only the timeout ends it.
    cluster.intercept(ApiKey::Produce, None, None, |_| Action::ErrorCode(19));
    let order = Arc::new(Mutex::new(Vec::new()));
    for i in 1..500u64 {
        let o = order.clone();
        c.produce(record("t", i, SIZE, KEYS), move |r, res| {
            o.lock().unwrap().push((
                support::verify::seq_of(r.value.as_deref().unwrap()),
                res.err(),
            ));
        });
    }
    c.flush().unwrap();
    let order = order.lock().unwrap();
    assert_eq!(order.len(), 499);
    for (k, (seq, err)) in order.iter().enumerate() {
        assert_eq!(*seq, k as u64 + 1, "callbacks in order");
        assert!(matches!(err, Some(Error::RecordTimeout)), "{seq}: {err:?}");
    }
    c.close();
}

#[test]
fn record_retries_fail_gaplessly() {
    let cluster = Cluster::builder().brokers(1).topic("t", 1).build().unwrap();
    let c = client(&cluster).record_retries(3).build().unwrap();
    c.produce_sync([record("t", 0, SIZE, KEYS)])
        .first()
        .unwrap();
    cluster.intercept(ApiKey::Produce, None, None, |_| Action::ErrorCode(19));
    let results = c.produce_sync((1..200).map(|i| record("t", i, SIZE, KEYS)));
    for r in &results.0 {
        assert!(matches!(r.err, Some(Error::RecordRetries)), "{:?}", r.err);
    }
    // A bounded number of tries were made: 3 per batch.
    assert!(cluster.request_count(ApiKey::Produce) <= 1 + 3 * 199);
    c.close();
}

#[test]
fn abort_buffered_records_fails_everything_buffered() {
    let cluster = Cluster::builder().brokers(1).topic("t", 3).build().unwrap();
    let c = client(&cluster).manual_flushing(true).build().unwrap();
    let errs = Arc::new(Mutex::new(Vec::new()));
    for i in 0..1000 {
        let e = errs.clone();
        c.produce(record("t", i, SIZE, KEYS), move |_, res| {
            e.lock().unwrap().push(res.err())
        });
    }
    assert_eq!(c.buffered_produce_records(), 1000);
    c.abort_buffered_records_timeout(Duration::from_secs(5))
        .unwrap();
    assert_eq!(c.buffered_produce_records(), 0);
    let errs = errs.lock().unwrap();
    assert_eq!(errs.len(), 1000);
    assert!(errs.iter().all(|e| matches!(e, Some(Error::Aborting))));
    assert_eq!(cluster.request_count(ApiKey::Produce), 0);
    // Producing works again afterwards (manual flushing: flush sends).
    let ok = Arc::new(Mutex::new(None));
    let o = ok.clone();
    c.produce(record("t", 5, SIZE, KEYS), move |_, res| {
        *o.lock().unwrap() = Some(res.is_ok())
    });
    c.flush().unwrap();
    assert_eq!(*ok.lock().unwrap(), Some(true));
    c.close();
}

#[test]
fn flush_waits_for_lingering_records() {
    let cluster = Cluster::builder().brokers(2).topic("t", 4).build().unwrap();
    let c = client(&cluster)
        .producer_linger(Duration::from_secs(30))
        .build()
        .unwrap();
    let done = Arc::new(AtomicUsize::new(0));
    for i in 0..1000 {
        let d = done.clone();
        c.produce(record("t", i, SIZE, KEYS), move |_, res| {
            res.unwrap();
            d.fetch_add(1, Ordering::AcqRel);
        });
    }
    let start = Instant::now();
    c.flush().unwrap();
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "flush cut the 30s linger short"
    );
    assert_eq!(done.load(Ordering::Acquire), 1000);
    assert_eq!(c.buffered_produce_records(), 0);
    c.close();
}

#[test]
fn close_fails_buffered_records_and_wakes_a_blocked_produce() {
    let cluster = Cluster::builder().brokers(1).topic("t", 1).build().unwrap();
    // Produce requests hang: the buffer fills up.
    cluster.intercept(ApiKey::Produce, None, None, |_| {
        Action::Delay(Duration::from_secs(30))
    });
    let c = client(&cluster).max_buffered_records(10).build().unwrap();
    let errs = Arc::new(Mutex::new(Vec::new()));
    for i in 0..10 {
        let e = errs.clone();
        c.produce(record("t", i, SIZE, KEYS), move |_, res| {
            e.lock().unwrap().push(res.err())
        });
    }
    let c2 = c.clone();
    let e2 = errs.clone();
    let blocked = std::thread::spawn(move || {
        let start = Instant::now();
        c2.produce(record("t", 10, SIZE, KEYS), move |_, res| {
            e2.lock().unwrap().push(res.err())
        });
        start.elapsed()
    });
    assert!(support::wait_until(Duration::from_secs(2), || cluster
        .request_count(ApiKey::Produce)
        >= 1));
    // The 11th produce took its slot and is now blocked on the full buffer.
    assert!(support::wait_until(Duration::from_secs(2), || c
        .buffered_produce_records()
        == 11));
    let closed_at = Instant::now();
    c.close();
    blocked.join().unwrap();
    assert!(
        closed_at.elapsed() < Duration::from_secs(1),
        "close took {:?}",
        closed_at.elapsed()
    );
    let errs = errs.lock().unwrap();
    assert_eq!(errs.len(), 11);
    assert!(
        errs.iter().all(|e| matches!(e, Some(Error::ClientClosed))),
        "{errs:?}"
    );
}

#[test]
fn too_large_records_and_unknown_topics_fail_clearly() {
    let cluster = Cluster::builder()
        .brokers(1)
        .topic("t", 1)
        .auto_create_topics(false)
        .build()
        .unwrap();
    let c = client(&cluster)
        .producer_batch_max_bytes(16 << 10)
        .build()
        .unwrap();
    let big = Record::from_value(vec![0u8; 32 << 10]).with_topic("t");
    let e = c.produce_sync([big]).first().unwrap_err();
    assert_eq!(e.kafka_code(), Some(ErrorCode::MessageTooLarge), "{e:?}");
    let start = Instant::now();
    let e = c
        .produce_sync([Record::string("x").with_topic("missing")])
        .first()
        .unwrap_err();
    assert_eq!(
        e.kafka_code(),
        Some(ErrorCode::UnknownTopicOrPartition),
        "{e:?}"
    );
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
    let e = c
        .produce_sync([Record::string("no topic")])
        .first()
        .unwrap_err();
    assert!(matches!(e, Error::Config(_)), "{e:?}");
    c.close();
}

#[test]
fn compression_codecs_round_trip_through_the_fake_cluster() {
    use kafka_sync::CompressionCodec as C;
    for codec in [
        C::none(),
        C::gzip(),
        C::snappy(),
        C::lz4(),
        C::zstd(),
        C::zstd().with_level(3),
        C::gzip().with_level(9),
    ] {
        let cluster = Cluster::builder().brokers(1).topic("t", 2).build().unwrap();
        let c = client(&cluster)
            .producer_batch_compression([codec])
            .build()
            .unwrap();
        let failed = produce_n(&c, "t", 5_000);
        assert!(failed.is_empty(), "{codec:?}: {:?}", failed.first());
        check_exactly_once_in_order(&read_all(&cluster, "t", 2), 5_000);
        c.close();
    }
}

#[test]
fn acks_zero_and_one_produce_without_idempotence() {
    for acks in [kafka_sync::Acks::None, kafka_sync::Acks::Leader] {
        let cluster = Cluster::builder().brokers(1).topic("t", 1).build().unwrap();
        // Idempotence needs acks=all: fewer acks without disabling it is a config error.
        let e = client(&cluster).required_acks(acks).build().unwrap_err();
        assert!(
            matches!(e, Error::Config(_)) && e.to_string().contains("required_acks"),
            "{e}"
        );
        let c = client(&cluster)
            .required_acks(acks)
            .disable_idempotent_write(true)
            .build()
            .unwrap();
        let results = c.produce_sync((0..500).map(|i| record("t", i, SIZE, KEYS)));
        assert!(results.is_ok(), "{acks:?}: {:?}", results.first_err());
        assert!(
            results.0.iter().all(|r| r.record.producer_id < 0),
            "no producer id without idempotence"
        );
        if acks == kafka_sync::Acks::Leader {
            let offsets: Vec<i64> = results.0.iter().map(|r| r.record.offset).collect();
            assert_eq!(offsets, (0..500).collect::<Vec<i64>>());
        }
        // acks=0 gets no answer; the log shows what arrived.
        assert!(support::wait_until(Duration::from_secs(5), || read_all(
            &cluster, "t", 1
        )[&0]
            .len()
            == 500));
        check_exactly_once_in_order(&read_all(&cluster, "t", 1), 500);
        c.close();
    }
}

#[test]
fn max_buffered_bytes_bounds_the_buffer() {
    let cluster = Cluster::builder().brokers(1).topic("t", 1).build().unwrap();
    let c = client(&cluster)
        .manual_flushing(true)
        .max_buffered_bytes(10 * 1024)
        .build()
        .unwrap();
    let errs = Arc::new(Mutex::new(Vec::new()));
    for i in 0..200 {
        let e = errs.clone();
        c.produce(record("t", i, SIZE, KEYS), move |_, res| {
            e.lock().unwrap().push(res.err())
        });
    }
    // Each record is ~100 value bytes + key + header: about 80 fit in 10 KiB.
    let buffered = c.buffered_produce_records();
    assert!((60..=110).contains(&buffered), "{buffered} buffered");
    c.flush().unwrap();
    let errs = errs.lock().unwrap();
    let max_buffered = errs
        .iter()
        .filter(|e| matches!(e, Some(Error::MaxBuffered)))
        .count();
    assert_eq!(max_buffered as i64, 200 - buffered);
    c.close();
}

#[test]
fn data_loss_detection_stops_or_notifies() {
    // OUT_OF_ORDER_SEQUENCE_NUMBER on the first in-flight batch means the
    // broker lost what came before it.
    let cluster = Cluster::builder().brokers(1).topic("t", 1).build().unwrap();
    let c = client(&cluster)
        .stop_producer_on_data_loss_detected(true)
        .build()
        .unwrap();
    c.produce_sync([record("t", 0, SIZE, KEYS)])
        .first()
        .unwrap();
    cluster.intercept(ApiKey::Produce, None, Some(1), |_| Action::ErrorCode(45));
    let e = c
        .produce_sync([record("t", 1, SIZE, KEYS)])
        .first()
        .unwrap_err();
    assert_eq!(
        e.kafka_code(),
        Some(ErrorCode::OutOfOrderSequenceNumber),
        "{e:?}"
    );
    let e = c
        .produce_sync([record("t", 2, SIZE, KEYS)])
        .first()
        .unwrap_err();
    assert_eq!(
        e.kafka_code(),
        Some(ErrorCode::OutOfOrderSequenceNumber),
        "stopped: {e:?}"
    );
    c.close();

    let cluster = Cluster::builder().brokers(1).topic("t", 1).build().unwrap();
    let lost = Arc::new(Mutex::new(Vec::new()));
    let l = lost.clone();
    let c = client(&cluster)
        .producer_on_data_loss_detected(move |t, p| l.lock().unwrap().push((t.to_string(), p)))
        .build()
        .unwrap();
    let before = c
        .produce_sync([record("t", 0, SIZE, KEYS)])
        .first()
        .unwrap()
        .clone();
    cluster.intercept(ApiKey::Produce, None, Some(1), |_| Action::ErrorCode(45));
    // The producer bumps its epoch and the record is written after all.
    let r = c.produce_sync([record("t", 1, SIZE, KEYS)]);
    let rec = r.first().unwrap();
    // KIP-360: InitProducerId with our id and epoch; for a producer without a
    // transactional id the Java broker answers with a new id (epoch 0).
    assert_ne!(
        (rec.producer_id, rec.producer_epoch),
        (before.producer_id, before.producer_epoch),
        "id or epoch changed"
    );
    assert_eq!(*lost.lock().unwrap(), vec![("t".to_string(), 0)]);
    check_exactly_once_in_order(&read_all(&cluster, "t", 1), 2);
    c.close();
}

/// A one-broker cluster whose `key` requests hang for 10 s, and a client.
fn hanging(key: ApiKey) -> (Cluster, Client) {
    let cluster = Cluster::builder().brokers(1).topic("t", 1).build().unwrap();
    cluster.intercept(key, None, None, |_| Action::Delay(Duration::from_secs(10)));
    let c = client(&cluster).build().unwrap();
    (cluster, c)
}

#[test]
fn produce_batch_deadline_returns_at_the_deadline() {
    let (_cluster, c) = hanging(ApiKey::Produce);
    let start = Instant::now();
    let results = c.produce_batch_deadline(
        (0..5).map(|i| record("t", i, SIZE, KEYS)),
        Instant::now() + Duration::from_millis(300),
    );
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(results.0.len(), 5);
    for (i, r) in results.0.iter().enumerate() {
        assert!(matches!(r.err, Some(Error::Timeout(_))), "{:?}", r.err);
        assert_eq!(
            support::verify::seq_of(r.record.value.as_deref().unwrap()),
            i as u64,
            "the record is handed back"
        );
    }
    c.close();
}

#[test]
fn a_panicking_callback_does_not_stop_later_callbacks() {
    let cluster = Cluster::builder().brokers(1).topic("t", 1).build().unwrap();
    let c = client(&cluster).build().unwrap();
    c.produce(record("t", 0, SIZE, KEYS), |_, _| panic!("user bug"));
    let results = c.produce_sync((1..10).map(|i| record("t", i, SIZE, KEYS)));
    assert!(results.is_ok());
    c.flush().unwrap();
    assert_eq!(c.buffered_produce_records(), 0);
    c.close();
}

#[test]
fn sinks_share_one_producer_id() {
    let cluster = Cluster::builder().brokers(3).topic("t", 6).build().unwrap();
    let c = client(&cluster).build().unwrap();
    let results = c.produce_sync((0..600).map(|i| record("t", i, SIZE, KEYS)));
    assert!(results.is_ok());
    let ids: std::collections::BTreeSet<i64> =
        results.0.iter().map(|r| r.record.producer_id).collect();
    assert_eq!(ids.len(), 1, "one producer id across every sink: {ids:?}");
    assert_eq!(cluster.request_count(ApiKey::InitProducerId), 1);
    c.close();
}

/// What a callback saw: the record's sequence number, its error, and when.
type Seen = Arc<Mutex<Vec<(u64, Option<Error>, Instant)>>>;

fn produce_until(c: &Client, seqs: std::ops::Range<u64>, deadline: Instant) -> Seen {
    let seen: Seen = Arc::new(Mutex::new(Vec::new()));
    for i in seqs {
        let s = seen.clone();
        c.produce_deadline(record("t", i, SIZE, KEYS), deadline, move |r, res| {
            s.lock().unwrap().push((
                support::verify::seq_of(r.value.as_deref().unwrap()),
                res.err(),
                Instant::now(),
            ));
        });
    }
    seen
}

#[test]
fn a_produce_deadline_fails_buffered_records_gaplessly_once_it_passes() {
    let cluster = Cluster::builder().brokers(1).topic("t", 1).build().unwrap();
    // No delivery timeout and unlimited retries: only the deadline ends it.
    let c = client(&cluster).build().unwrap();
    c.produce_sync([record("t", 0, SIZE, KEYS)])
        .first()
        .unwrap();
    // NOT_ENOUGH_REPLICAS forever: retriable, so records stay buffered.
    let failing = cluster.intercept(ApiKey::Produce, None, None, |_| Action::ErrorCode(19));
    let deadline = Instant::now() + Duration::from_millis(300);
    let seen = produce_until(&c, 1..300, deadline);
    c.flush_timeout(Duration::from_secs(5))
        .expect("the deadline empties the buffer");
    {
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 299);
        for (k, (seq, err, at)) in seen.iter().enumerate() {
            assert_eq!(*seq, k as u64 + 1, "callbacks in order");
            assert!(
                matches!(err, Some(Error::Timeout(kafka_sync::TimeoutKind::Caller))),
                "{seq}: {err:?}"
            );
            assert!(*at >= deadline, "{seq} failed before its deadline");
        }
    }
    assert_eq!(
        read_all(&cluster, "t", 1)[&0],
        vec![0],
        "nothing else written"
    );
    // The partition produces again afterwards, in sequence (the failed
    // batches' sequence numbers were never written: the epoch is bumped).
    cluster.remove_intercept(failing);
    let later = c.produce_sync((300..310).map(|i| record("t", i, SIZE, KEYS)));
    assert!(later.is_ok(), "{:?}", later.first_err());
    assert_eq!(read_all(&cluster, "t", 1)[&0].len(), 11);
    c.close();
}

#[test]
fn a_produce_deadline_fails_records_still_waiting_for_metadata() {
    let (_cluster, c) = hanging(ApiKey::Metadata);
    let deadline = Instant::now() + Duration::from_millis(300);
    let seen = produce_until(&c, 0..20, deadline);
    assert!(
        support::wait_until(Duration::from_secs(3), || seen.lock().unwrap().len() == 20),
        "the deadline failed the records waiting for the topic"
    );
    for (k, (seq, err, at)) in seen.lock().unwrap().iter().enumerate() {
        assert_eq!(*seq, k as u64);
        assert!(matches!(err, Some(Error::Timeout(_))), "{seq}: {err:?}");
        assert!(*at >= deadline);
    }
    assert_eq!(c.buffered_produce_records(), 0);
    c.close();
}

/// The producing thread caches its last topic (and that topic's partitions)
/// per producer: two clients producing to the same topic name from one
/// thread each get exactly their own records.
#[test]
fn one_thread_alternating_between_two_clients_keeps_their_records_apart() {
    let a = Cluster::builder().topic("t", 3).build().unwrap();
    let b = Cluster::builder().topic("t", 3).build().unwrap();
    let (ca, cb) = (client(&a).build().unwrap(), client(&b).build().unwrap());
    // Both clients have the topic's partitions first: records buffered
    // while metadata loads take the uncached path, and the cache is what
    // this test is about.
    assert!(ca.produce_sync([record("t", 300, SIZE, KEYS)]).is_ok());
    assert!(cb.produce_sync([record("t", 301, SIZE, KEYS)]).is_ok());
    for i in 0..300u64 {
        // Runs of different lengths, so hits and misses both happen.
        let c = if (i / (1 + i % 3)) % 2 == 0 { &ca } else { &cb };
        c.produce(record("t", i, SIZE, KEYS), |_, res| res.unwrap());
    }
    // Bounded: a record buffered in the other client's partitions would
    // keep its own client's flush waiting for ever.
    ca.flush_timeout(Duration::from_secs(10)).unwrap();
    cb.flush_timeout(Duration::from_secs(10)).unwrap();
    let got = |cl: &Cluster| -> Vec<u64> {
        let mut v: Vec<u64> = read_all(cl, "t", 3).into_values().flatten().collect();
        v.sort_unstable();
        v
    };
    let mut want_a: Vec<u64> = (0..300u64).filter(|i| (i / (1 + i % 3)) % 2 == 0).collect();
    let mut want_b: Vec<u64> = (0..300u64).filter(|i| (i / (1 + i % 3)) % 2 != 0).collect();
    want_a.push(300);
    want_b.push(301);
    assert!(!want_a.is_empty() && !want_b.is_empty());
    assert_eq!(got(&a), want_a);
    assert_eq!(got(&b), want_b);
}

/// The cached partitions follow metadata: after the topic grows, a record
/// for a new partition (manual partitioner, so placed without the
/// partitioner) goes there instead of failing against the old count.
#[test]
fn the_cached_partitions_follow_a_topic_that_grows() {
    use kafka_sync::messages::create_partitions_request::CreatePartitionsTopic;
    use kafka_sync::messages::{CreatePartitionsRequest, TopicName};
    let cluster = Cluster::builder().topic("grow", 2).build().unwrap();
    let c = client(&cluster)
        .record_partitioner(kafka_sync::manual_partitioner())
        .build()
        .unwrap();
    let produce_to = |p: i32, i: u64| {
        c.produce_sync([record("grow", i, SIZE, KEYS).with_partition(p)])
            .first()
            .map(|r| r.partition)
    };
    assert_eq!(produce_to(1, 0).unwrap(), 1);
    // Out of range before the topic grows: the record fails.
    assert!(produce_to(3, 1).is_err());
    let grow = CreatePartitionsTopic::default()
        .with_name(TopicName("grow".to_string().into()))
        .with_count(4);
    let r = c
        .request(
            CreatePartitionsRequest::default()
                .with_topics(vec![grow])
                .with_timeout_ms(5_000),
        )
        .unwrap();
    assert_eq!(r.results[0].error_code, 0);
    let snap = c.refresh_metadata(Some(&["grow"])).unwrap();
    assert_eq!(snap.topics.get("grow").map(|t| t.partitions.len()), Some(4));
    assert_eq!(produce_to(3, 2).unwrap(), 3);
    assert_eq!(read_all(&cluster, "grow", 4).get(&3).map(Vec::len), Some(1));
}
