//! The direct consumer against the embedded fake cluster: start, end, exact,
//! relative and timestamp offsets, fetch sessions, close while polling.
#![cfg(feature = "fake")]

mod support;

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

use kafka_sync::fake::Cluster;
use kafka_sync::messages::ApiKey;
use kafka_sync::{Client, CompressionCodec, Offset};
use support::consume::{check_exactly, consume, produce, Consumed};

const TOPIC: &str = "t";
const PARTS: i32 = 6;
const N: u64 = 3000;

fn builder(cluster: &Cluster) -> kafka_sync::ConfigBuilder<Client> {
    support::fake_builder(cluster).fetch_max_wait(Duration::from_millis(200))
}

/// A 3-broker cluster with `N` records produced into `TOPIC`, uncompressed
/// (the fake cluster answers a timestamp lookup in a compressed batch with
/// the batch's base offset).
fn cluster_with_data() -> Cluster {
    let cluster = Cluster::builder()
        .brokers(3)
        .topic(TOPIC, PARTS)
        .build()
        .unwrap();
    let p = builder(&cluster)
        .producer_batch_compression([CompressionCodec::none()])
        .build()
        .unwrap();
    produce(&p, TOPIC, 0..N);
    p.close();
    cluster
}

fn no_errors(e: &kafka_sync::Error) -> bool {
    panic!("unexpected fetch error: {e}")
}

fn all(range: std::ops::Range<u64>) -> BTreeSet<u64> {
    range.collect()
}

/// Waits until every broker leading a partition of `TOPIC` saw two fetches:
/// offsets are resolved before each fetch, and all cursors exist before the
/// first fetch returns, so by the second every start offset is resolved.
fn wait_fetching(cluster: &Cluster, before: &HashMap<i32, u64>) {
    let leaders: BTreeSet<i32> = (0..PARTS)
        .filter_map(|p| cluster.leader(TOPIC, p).map(|l| l.0))
        .collect();
    assert!(support::wait_until(Duration::from_secs(10), || leaders
        .iter()
        .all(|b| cluster.request_count_on(*b, ApiKey::Fetch)
            > before.get(b).copied().unwrap_or(0) + 1)));
}

fn fetch_counts(cluster: &Cluster) -> HashMap<i32, u64> {
    (0..3)
        .map(|b| (b, cluster.request_count_on(b, ApiKey::Fetch)))
        .collect()
}

fn from_start(cluster: &Cluster) -> Consumed {
    let c = builder(cluster).consume_topics([TOPIC]).build().unwrap();
    let (got, _) = consume(&c, N as usize, Duration::from_secs(20), no_errors);
    check_exactly(&got, &all(0..N));
    // Nothing more arrives.
    assert_eq!(
        c.poll_fetches_timeout(Duration::from_millis(300))
            .num_records(),
        0
    );
    c.close();
    got
}

#[test]
fn consume_from_start_exactly_once_in_order() {
    let cluster = cluster_with_data();
    let t = Instant::now();
    let got = from_start(&cluster);
    assert_eq!(got.len(), PARTS as usize);
    eprintln!("consumed {N} records in {:?}", t.elapsed());
}

#[test]
fn consume_from_end_sees_only_new_records() {
    let cluster = cluster_with_data();
    let before = fetch_counts(&cluster);
    let c = builder(&cluster)
        .consume_topics([TOPIC])
        .consume_reset_offset(Offset::new().at_end())
        .build()
        .unwrap();
    wait_fetching(&cluster, &before);
    produce(&c, TOPIC, N..N + 500);
    let (got, _) = consume(&c, 500, Duration::from_secs(20), no_errors);
    check_exactly(&got, &all(N..N + 500));
    c.close();
}

#[test]
fn consume_exact_relative_and_timestamp_offsets() {
    let cluster = cluster_with_data();
    let base = from_start(&cluster);

    // Exact: offset 5 of every partition (and a too-large offset, clamped to the end).
    let mut parts = HashMap::new();
    for p in 0..PARTS {
        parts.insert(p, Offset::new().at(5));
    }
    let c = builder(&cluster)
        .consume_partitions(HashMap::from([(TOPIC.to_string(), parts)]))
        .build()
        .unwrap();
    let want: BTreeSet<u64> = base
        .values()
        .flat_map(|v| v.iter().filter(|(o, _)| *o >= 5).map(|(_, i)| *i))
        .collect();
    let (got, _) = consume(&c, want.len(), Duration::from_secs(20), no_errors);
    check_exactly(&got, &want);
    c.close();

    // Relative: 10 before the end of every partition.
    let c = builder(&cluster)
        .consume_topics([TOPIC])
        .consume_reset_offset(Offset::new().at_end().relative(-10))
        .build()
        .unwrap();
    let want: BTreeSet<u64> = base
        .values()
        .flat_map(|v| v[v.len() - 10..].iter().map(|(_, i)| *i))
        .collect();
    let (got, _) = consume(&c, want.len(), Duration::from_secs(20), no_errors);
    check_exactly(&got, &want);
    c.close();

    // Timestamp: records 2000.. have timestamps at or after record 2000's.
    let c = builder(&cluster)
        .consume_topics([TOPIC])
        .consume_reset_offset(Offset::new().at_timestamp(1_700_000_000_000 + 2000))
        .build()
        .unwrap();
    let (got, _) = consume(&c, 1000, Duration::from_secs(20), no_errors);
    check_exactly(&got, &all(2000..N));
    c.close();

    // Exact past the end: clamped to the end, so only new records.
    let before = fetch_counts(&cluster);
    let c = builder(&cluster)
        .consume_partitions(HashMap::from([(
            TOPIC.to_string(),
            (0..PARTS).map(|p| (p, Offset::new().at(1 << 40))).collect(),
        )]))
        .build()
        .unwrap();
    wait_fetching(&cluster, &before);
    produce(&c, TOPIC, N..N + 100);
    let (got, _) = consume(&c, 100, Duration::from_secs(20), no_errors);
    check_exactly(&got, &all(N..N + 100));
    c.close();
}

#[test]
fn poll_records_returns_at_most_max() {
    let cluster = cluster_with_data();
    let c = builder(&cluster).consume_topics([TOPIC]).build().unwrap();
    let mut got: Consumed = HashMap::new();
    let mut n = 0;
    let end = Instant::now() + Duration::from_secs(20);
    while n < N as usize && Instant::now() < end {
        let fs = c.poll_records_deadline(7, end);
        assert!(fs.num_records() <= 7);
        assert!(fs.errors().is_empty());
        for r in fs.record_iter() {
            let i = support::consume::check_record(r);
            got.entry(r.partition).or_default().push((r.offset, i));
            n += 1;
        }
    }
    check_exactly(&got, &all(0..N));
    c.close();
}

#[test]
fn fetch_sessions_go_incremental() {
    let cluster = cluster_with_data();
    let c = builder(&cluster).consume_topics([TOPIC]).build().unwrap();
    let (got, _) = consume(&c, N as usize, Duration::from_secs(20), no_errors);
    check_exactly(&got, &all(0..N));
    // Idle polling keeps the sessions: incremental fetches, no errors.
    assert!(support::wait_until(Duration::from_secs(10), || {
        c.poll_fetches_timeout(Duration::from_millis(10));
        cluster.fetch_session_stats().incremental >= 6
    }));
    let s = cluster.fetch_session_stats();
    assert!(s.created >= 1 && s.created <= 3, "{s:?}");
    assert!(
        s.full <= 3,
        "only the first fetch of each broker is full: {s:?}"
    );
    assert_eq!(s.errors, 0, "{s:?}");
    c.close();

    // Disabled: every fetch is full and sessionless.
    let before = cluster.fetch_session_stats();
    let c = builder(&cluster)
        .consume_topics([TOPIC])
        .disable_fetch_sessions(true)
        .build()
        .unwrap();
    let (got, _) = consume(&c, N as usize, Duration::from_secs(20), no_errors);
    check_exactly(&got, &all(0..N));
    c.close();
    let after = cluster.fetch_session_stats();
    assert_eq!(after.created, before.created, "{after:?}");
    assert_eq!(after.incremental, before.incremental, "{after:?}");
}

#[test]
fn close_wakes_a_blocked_poll() {
    let cluster = Cluster::builder()
        .brokers(1)
        .topic(TOPIC, 1)
        .build()
        .unwrap();
    let c = builder(&cluster)
        .consume_topics([TOPIC])
        .fetch_max_wait(Duration::from_secs(5))
        .build()
        .unwrap();
    let c2 = c.clone();
    let (tx, rx) = std::sync::mpsc::channel();
    let h = std::thread::spawn(move || {
        let fs = c2.poll_fetches();
        tx.send(Instant::now()).unwrap();
        fs
    });
    // Let the poller block and the source long-poll the broker.
    assert!(support::wait_until(Duration::from_secs(5), || cluster
        .request_count(ApiKey::Fetch)
        >= 1));
    assert!(rx.try_recv().is_err(), "poll returned without data");
    let t = Instant::now();
    c.close();
    let woke = rx
        .recv_timeout(Duration::from_secs(2))
        .expect("poll woke on close");
    let fs = h.join().unwrap();
    assert!(fs.is_client_closed());
    assert!(woke.duration_since(t) < Duration::from_millis(500));
    assert!(
        t.elapsed() < Duration::from_secs(2),
        "close took {:?}",
        t.elapsed()
    );
    assert!(c.poll_fetches().is_client_closed());
}

#[test]
fn source_threads_are_named_and_hooked() {
    let cluster = cluster_with_data();
    let names = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let n2 = names.clone();
    let c = builder(&cluster)
        .consume_topics([TOPIC])
        .on_thread_start(move |n| n2.lock().unwrap().push(n.to_string()))
        .build()
        .unwrap();
    let (got, _) = consume(&c, N as usize, Duration::from_secs(20), no_errors);
    check_exactly(&got, &all(0..N));
    let srcs: Vec<String> = names
        .lock()
        .unwrap()
        .iter()
        .filter(|n| n.starts_with("ks-src-"))
        .cloned()
        .collect();
    assert_eq!(srcs.len(), 3, "{srcs:?}");
    assert!(srcs.iter().all(|n| n.len() <= 15));
    c.close();
}

#[test]
fn consume_every_codec() {
    for (i, codec) in [
        CompressionCodec::gzip(),
        CompressionCodec::snappy(),
        CompressionCodec::lz4(),
        CompressionCodec::zstd(),
    ]
    .into_iter()
    .enumerate()
    {
        let cluster = Cluster::builder()
            .brokers(2)
            .topic(TOPIC, 3)
            .build()
            .unwrap();
        let p = builder(&cluster)
            .producer_batch_compression([codec])
            .build()
            .unwrap();
        produce(&p, TOPIC, 0..2000);
        p.close();
        let c = builder(&cluster).consume_topics([TOPIC]).build().unwrap();
        let (got, _) = consume(&c, 2000, Duration::from_secs(20), no_errors);
        check_exactly(&got, &all(0..2000));
        c.close();
        eprintln!("codec {i} ok");
    }
}

#[test]
fn pause_stops_a_partition_within_one_fetch_and_resume_restarts_it() {
    // Small batches, so that one fetch cannot return a whole partition.
    let cluster = Cluster::builder()
        .brokers(3)
        .topic(TOPIC, PARTS)
        .build()
        .unwrap();
    let p = builder(&cluster)
        .producer_batch_max_bytes(4 << 10)
        .build()
        .unwrap();
    produce(&p, TOPIC, 0..N);
    p.close();
    let c = builder(&cluster)
        .consume_topics([TOPIC])
        .fetch_max_partition_bytes(8 << 10)
        .build()
        .unwrap();
    let mut got: Consumed = HashMap::new();
    let end = Instant::now() + Duration::from_secs(20);
    while !got.contains_key(&0) && Instant::now() < end {
        for r in c.poll_fetches_deadline(end).record_iter() {
            let i = support::consume::check_record(r);
            got.entry(r.partition).or_default().push((r.offset, i));
        }
    }
    let paused = c.pause_fetch_partitions(HashMap::from([(TOPIC.to_string(), vec![0])]));
    assert_eq!(paused[TOPIC], vec![0]);
    // Everything buffered (any partition) bounds what partition 0 still
    // returns; the consumer may have buffered several fetches ahead.
    let buffered_at_pause = c.buffered_fetch_records();
    let at_pause = got[&0].len();
    let p0_total = {
        let base = support::verify::decode_and_check(
            &cluster.partition_log(TOPIC, 0),
            support::consume::SIZE,
            support::consume::KEYS,
        );
        base.len()
    };
    assert!(at_pause < p0_total, "partition 0 must not be done yet");
    // Every other partition completes; partition 0 returns nothing more.
    let others = N as usize - p0_total;
    let mut n_others: usize = got
        .iter()
        .filter(|(p, _)| **p != 0)
        .map(|(_, v)| v.len())
        .sum();
    // Data of partition 0 buffered before the pause is still returned (kgo:
    // pausing does not clear what is buffered), at most one fetch's worth;
    // nothing is fetched for it after that.
    let end = Instant::now() + Duration::from_secs(20);
    let mut p0_after = 0;
    while n_others < others && Instant::now() < end {
        for r in c.poll_fetches_deadline(end).record_iter() {
            let i = support::consume::check_record(r);
            got.entry(r.partition).or_default().push((r.offset, i));
            if r.partition == 0 {
                p0_after += 1;
            } else {
                n_others += 1;
            }
        }
    }
    assert_eq!(n_others, others);
    // What was buffered at the pause, plus at most one fetch in flight then
    // (8 KiB of partition 0: under 82 records of 100 B), not more.
    assert!(
        p0_after <= buffered_at_pause + (8 << 10) / support::consume::SIZE,
        "partition 0 kept fetching while paused ({p0_after} records after the pause, {buffered_at_pause} buffered at it)"
    );
    let at_pause = at_pause + p0_after;
    assert_eq!(
        c.poll_fetches_timeout(Duration::from_millis(300))
            .num_records(),
        0
    );
    c.resume_fetch_partitions(HashMap::from([(TOPIC.to_string(), vec![0])]));
    let (rest, _) = consume(&c, p0_total - at_pause, Duration::from_secs(20), no_errors);
    assert!(rest.keys().all(|p| *p == 0));
    for (p, v) in rest {
        got.entry(p).or_default().extend(v);
    }
    check_exactly(&got, &all(0..N));

    // Topics pause the same way.
    c.pause_fetch_topics([TOPIC]);
    produce(&c, TOPIC, N..N + 100);
    assert_eq!(
        c.poll_fetches_timeout(Duration::from_millis(500))
            .num_records(),
        0
    );
    c.resume_fetch_topics([TOPIC]);
    let (got, _) = consume(&c, 100, Duration::from_secs(20), no_errors);
    check_exactly(&got, &all(N..N + 100));
    c.close();
}

#[test]
fn set_offsets_rewinds_a_partition() {
    let cluster = cluster_with_data();
    let c = builder(&cluster).consume_topics([TOPIC]).build().unwrap();
    let (base, _) = consume(&c, N as usize, Duration::from_secs(20), no_errors);
    check_exactly(&base, &all(0..N));
    c.set_offsets(HashMap::from([(
        TOPIC.to_string(),
        HashMap::from([(
            2,
            kafka_sync::EpochOffset {
                epoch: -1,
                offset: 10,
            },
        )]),
    )]));
    let want: BTreeSet<u64> = base[&2]
        .iter()
        .filter(|(o, _)| *o >= 10)
        .map(|(_, i)| *i)
        .collect();
    let (got, _) = consume(&c, want.len(), Duration::from_secs(20), no_errors);
    assert!(got.keys().all(|p| *p == 2));
    check_exactly(&got, &want);
    assert_eq!(
        c.poll_fetches_timeout(Duration::from_millis(300))
            .num_records(),
        0
    );
    c.close();
}

#[test]
fn buffered_bytes_never_exceed_the_budget() {
    let cluster = Cluster::builder()
        .brokers(3)
        .topic(TOPIC, PARTS)
        .build()
        .unwrap();
    let p = builder(&cluster)
        .producer_batch_compression([CompressionCodec::lz4()])
        .producer_batch_max_bytes(16 << 10)
        .build()
        .unwrap();
    produce(&p, TOPIC, 0..20_000);
    p.close();
    let budget = 512 << 10;
    let c = builder(&cluster)
        .consume_topics([TOPIC])
        .max_buffered_fetch_bytes(budget)
        .build()
        .unwrap();
    let mut got: Consumed = HashMap::new();
    let mut n = 0;
    let end = Instant::now() + Duration::from_secs(30);
    while n < 20_000 && Instant::now() < end {
        let fs = c.poll_records_deadline(500, end);
        assert!(fs.errors().is_empty(), "{:?}", fs.errors());
        assert!(c.buffered_fetch_bytes() <= budget);
        for r in fs.record_iter() {
            let i = support::consume::check_record(r);
            got.entry(r.partition).or_default().push((r.offset, i));
            n += 1;
        }
        // A slow consumer: sources fill the budget meanwhile.
        std::thread::yield_now();
    }
    check_exactly(&got, &all(0..20_000));
    let peak = c.peak_buffered_fetch_bytes();
    assert!(peak <= budget, "peak {peak} over the budget {budget}");
    assert!(peak > budget / 4, "the budget was used: peak {peak}");
    c.close();
}

#[test]
fn regex_consuming_picks_up_new_matching_topics() {
    let cluster = Cluster::builder()
        .brokers(2)
        .topic("orders-eu", 2)
        .topic("payments", 2)
        .build()
        .unwrap();
    let p = builder(&cluster).build().unwrap();
    produce(&p, "orders-eu", 0..300);
    produce(&p, "payments", 1000..1100);
    let c = builder(&cluster)
        .consume_topics(["^orders-.*$"])
        .consume_regex(true)
        .metadata_max_age(Duration::from_secs(1))
        .build()
        .unwrap();
    let (got, _) = consume(&c, 300, Duration::from_secs(20), no_errors);
    check_exactly(&got, &all(0..300));
    // A topic created after the consumer started is picked up on a refresh.
    cluster.create_topic("orders-us", 3).unwrap();
    produce(&p, "orders-us", 300..600);
    let mut topics = BTreeSet::new();
    let mut got: Consumed = HashMap::new();
    let mut n = 0;
    let end = Instant::now() + Duration::from_secs(20);
    while n < 300 && Instant::now() < end {
        let fs = c.poll_fetches_deadline(end);
        for r in fs.record_iter() {
            topics.insert(r.topic.to_string());
            let i = support::consume::check_record(r);
            got.entry(r.partition).or_default().push((r.offset, i));
            n += 1;
        }
    }
    assert_eq!(topics, BTreeSet::from(["orders-us".to_string()]));
    check_exactly(&got, &all(300..600));
    assert_eq!(
        c.poll_fetches_timeout(Duration::from_millis(500))
            .num_records(),
        0
    );
    c.close();
    p.close();
    // An invalid expression is a configuration error.
    assert!(matches!(
        builder(&cluster)
            .consume_topics(["("])
            .consume_regex(true)
            .build(),
        Err(kafka_sync::Error::Config(_))
    ));
}

#[derive(Default)]
struct FetchHooks {
    batches: std::sync::atomic::AtomicUsize,
    batch_records: std::sync::atomic::AtomicUsize,
    buffered: std::sync::atomic::AtomicUsize,
    polled: std::sync::atomic::AtomicUsize,
}

impl kafka_sync::Hook for FetchHooks {
    fn on_fetch_batch_read(
        &self,
        _meta: &kafka_sync::BrokerMetadata,
        topic: &str,
        _partition: i32,
        m: &kafka_sync::FetchBatchMetrics,
    ) {
        assert_eq!(topic, TOPIC);
        self.batches
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.batch_records
            .fetch_add(m.num_records, std::sync::atomic::Ordering::Relaxed);
    }
    fn on_fetch_record_buffered(&self, _r: &kafka_sync::Record) {
        self.buffered
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
    fn on_fetch_record_unbuffered(&self, _r: &kafka_sync::Record, polled: bool) {
        if polled {
            self.polled
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    }
}

#[test]
fn fetch_hooks_and_max_concurrent_fetches() {
    use std::sync::atomic::Ordering::Relaxed;
    let cluster = cluster_with_data();
    let hooks = std::sync::Arc::new(FetchHooks::default());
    let c = builder(&cluster)
        .consume_topics([TOPIC])
        .max_concurrent_fetches(1)
        .with_hooks(hooks.clone())
        .build()
        .unwrap();
    let (got, _) = consume(&c, N as usize, Duration::from_secs(20), no_errors);
    check_exactly(&got, &all(0..N));
    assert_eq!(hooks.polled.load(Relaxed), N as usize);
    assert_eq!(hooks.buffered.load(Relaxed), N as usize);
    assert_eq!(hooks.batch_records.load(Relaxed), N as usize);
    assert!(hooks.batches.load(Relaxed) >= PARTS as usize);
    assert_eq!(c.buffered_fetch_records(), 0);
    c.close();
}

#[test]
fn polls_return_at_their_deadline() {
    let cluster = Cluster::builder()
        .brokers(1)
        .topic(TOPIC, 1)
        .build()
        .unwrap();
    let c = builder(&cluster).consume_topics([TOPIC]).build().unwrap();
    let t = Instant::now();
    let fs = c.poll_fetches_timeout(Duration::from_millis(200));
    assert!(fs.is_empty() && !fs.is_client_closed());
    assert!(t.elapsed() >= Duration::from_millis(200) && t.elapsed() < Duration::from_secs(2));
    let t = Instant::now();
    assert!(c.try_poll_fetches().is_empty());
    assert!(c.poll_records_timeout(5, Duration::ZERO).is_empty());
    assert!(t.elapsed() < Duration::from_millis(100));
    c.close();
    // A client without consume options polls nothing until its deadline.
    let plain = builder(&cluster).build().unwrap();
    assert!(plain
        .poll_fetches_timeout(Duration::from_millis(50))
        .is_empty());
    plain.close();
    let fs = plain.poll_fetches();
    assert!(fs.is_client_closed());
    assert_eq!(fs.errors()[0].partition, 0);
    assert_eq!(fs.errors()[0].topic, "");
}

#[test]
fn old_fetch_and_list_offsets_versions_still_consume() {
    let cluster = cluster_with_data();
    for (fetch, list) in [(4i16, 1i16), (6, 2), (8, 4), (11, 5)] {
        let c = builder(&cluster)
            .consume_topics([TOPIC])
            .rack("r1")
            .max_versions(
                kafka_sync::Versions::new()
                    .with(ApiKey::Fetch as i16, fetch)
                    .with(ApiKey::ListOffsets as i16, list),
            )
            .build()
            .unwrap();
        let (got, _) = consume(&c, N as usize, Duration::from_secs(20), no_errors);
        check_exactly(&got, &all(0..N));
        c.close();
    }
}

/// A gauge of buffered records kept from the fetch record hooks.
#[derive(Default)]
struct BufferedGauge {
    now: std::sync::atomic::AtomicI64,
    dropped: std::sync::atomic::AtomicUsize,
}

impl kafka_sync::Hook for BufferedGauge {
    fn on_fetch_record_buffered(&self, _r: &kafka_sync::Record) {
        self.now.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
    fn on_fetch_record_unbuffered(&self, _r: &kafka_sync::Record, polled: bool) {
        self.now.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
        if !polled {
            self.dropped
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    }
}

#[test]
fn records_buffered_at_close_are_unbuffered_unpolled() {
    use std::sync::atomic::Ordering::Relaxed;
    let cluster = cluster_with_data();
    let gauge = std::sync::Arc::new(BufferedGauge::default());
    let c = builder(&cluster)
        .consume_topics([TOPIC])
        .with_hooks(gauge.clone())
        .build()
        .unwrap();
    assert!(support::wait_until(Duration::from_secs(10), || {
        c.buffered_fetch_records() > 0
    }));
    c.close();
    assert_eq!(gauge.now.load(Relaxed), 0);
    assert!(gauge.dropped.load(Relaxed) > 0);
}
