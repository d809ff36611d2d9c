//! The direct consumer against the real test broker (tansu): records
//! produced by the crate's producer over 6 partitions, consumed from the
//! start, from the end (new records only), from exact offsets, relative to
//! the end and by timestamp, each exactly once and in order per partition
//! with keys, values, headers and timestamps equal; pause and resume.
//!
//! `KS_CONSUME_RECORDS` sets the record count (default 1,000,000, the
//! issue's acceptance count).

mod support;

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

use kafka_sync::messages::{create_topics_request::CreatableTopic, CreateTopicsRequest, TopicName};
use kafka_sync::{Client, CompressionCodec, Offset};
use support::consume::{check_exactly, consume, produce, Consumed};

const PARTS: i32 = 6;

fn total() -> u64 {
    std::env::var("KS_CONSUME_RECORDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000)
}

fn builder() -> kafka_sync::ConfigBuilder<Client> {
    Client::builder()
        .seed_brokers(support::seeds())
        .max_buffered_records(50_000)
        .fetch_max_wait(Duration::from_millis(200))
        .retry_backoff_fn(|_| Duration::from_millis(20))
}

fn create_topic(c: &Client, topic: &str) {
    let t = CreatableTopic::default()
        .with_name(TopicName(topic.to_string().into()))
        .with_num_partitions(PARTS)
        .with_replication_factor(1);
    let resp = c
        .request(
            CreateTopicsRequest::default()
                .with_topics(vec![t])
                .with_timeout_ms(10_000),
        )
        .unwrap();
    assert_eq!(resp.topics[0].error_code, 0, "create topic");
}

fn no_errors(e: &kafka_sync::Error) -> bool {
    panic!("unexpected fetch error: {e}")
}

/// Produces `n` records uncompressed (tansu answers a timestamp lookup in a
/// compressed batch with its base offset), with single-record batches at
/// the end (`support::consume::produce_tansu_safe`).
fn setup(n: u64) -> (String, Client) {
    let topic = support::random_topic("cons");
    let p = builder()
        .producer_batch_compression([CompressionCodec::none()])
        .build()
        .unwrap();
    create_topic(&p, &topic);
    let t = Instant::now();
    support::consume::produce_tansu_safe(&p, &topic, 0..n);
    eprintln!("produced {n} records in {:?}", t.elapsed());
    (topic, p)
}

#[test]
fn real_consume_offsets_exactly_once() {
    if !support::require_broker() {
        return;
    }
    support::init_logging();
    let n = total();
    let (topic, p) = setup(n);

    // From the start: everything.
    let t = Instant::now();
    let c = builder().consume_topics([&topic]).build().unwrap();
    let (base, _) = consume(&c, n as usize, Duration::from_secs(120), no_errors);
    check_exactly(&base, &(0..n).collect());
    let el = t.elapsed();
    eprintln!(
        "consumed {n} records from the start in {el:?} ({:.0} records/s)",
        n as f64 / el.as_secs_f64()
    );
    assert_eq!(
        c.poll_fetches_timeout(Duration::from_millis(500))
            .num_records(),
        0
    );
    c.close();

    // Exact: offset 100 of every partition.
    let parts: HashMap<i32, Offset> = (0..PARTS).map(|p| (p, Offset::new().at(100))).collect();
    let c = builder()
        .consume_partitions(HashMap::from([(topic.clone(), parts)]))
        .build()
        .unwrap();
    let want: BTreeSet<u64> = base
        .values()
        .flat_map(|v| v.iter().filter(|(o, _)| *o >= 100).map(|(_, i)| *i))
        .collect();
    let (got, _) = consume(&c, want.len(), Duration::from_secs(120), no_errors);
    check_exactly(&got, &want);
    c.close();

    // Timestamp: the last quarter. tansu answers with the base offset of
    // the batch holding the record, so a partition may start a little
    // earlier: each partition must be a contiguous tail of its log that
    // holds every record from `from` on.
    let from = n - n / 4;
    let c = builder()
        .consume_topics([&topic])
        .consume_reset_offset(Offset::new().at_timestamp(1_700_000_000_000 + from as i64))
        .build()
        .unwrap();
    let want = (n - from) as usize;
    let mut got: Consumed = HashMap::new();
    let mut seen = 0;
    let end = Instant::now() + Duration::from_secs(120);
    while seen < want && Instant::now() < end {
        let fs = c.poll_fetches_deadline(end);
        assert!(fs.errors().is_empty(), "{:?}", fs.errors());
        for r in fs.record_iter() {
            let i = support::consume::check_record(r);
            seen += usize::from(i >= from);
            got.entry(r.partition).or_default().push((r.offset, i));
        }
    }
    for (p, v) in &got {
        let b = &base[p];
        let start = b
            .iter()
            .position(|x| x.0 == v[0].0)
            .expect("start offset in the log");
        assert_eq!(&b[start..], &v[..], "partition {p} is a contiguous tail");
        assert!(
            b[..start].iter().all(|x| x.1 < from),
            "partition {p} skipped records"
        );
        let extra = v.iter().filter(|x| x.1 < from).count();
        eprintln!("timestamp lookup: partition {p} started {extra} records early");
    }
    let tail: BTreeSet<u64> = got
        .values()
        .flatten()
        .map(|x| x.1)
        .filter(|i| *i >= from)
        .collect();
    assert_eq!(tail, (from..n).collect::<BTreeSet<u64>>());
    c.close();

    // From the end: only records produced after the consumer started.
    let c = builder()
        .consume_topics([&topic])
        .consume_reset_offset(Offset::new().at_end())
        .build()
        .unwrap();
    // Once the consumer polled nothing for a while it is at the end.
    let fs = c.poll_fetches_timeout(Duration::from_secs(2));
    assert_eq!(fs.num_records(), 0, "records before the end were returned");
    produce(&p, &topic, n..n + 1000);
    let (got, _) = consume(&c, 1000, Duration::from_secs(60), no_errors);
    check_exactly(&got, &(n..n + 1000).collect());
    c.close();
    p.close();
}

#[test]
fn real_pause_and_resume() {
    if !support::require_broker() {
        return;
    }
    support::init_logging();
    let (topic, p) = setup(6000);
    let c = builder()
        .consume_topics([&topic])
        .fetch_max_partition_bytes(16 << 10)
        .build()
        .unwrap();
    let mut got: Consumed = HashMap::new();
    let mut n = 0;
    // Pause partition 0 after the first fetch with data for it.
    let end = Instant::now() + Duration::from_secs(60);
    while !got.contains_key(&0) && Instant::now() < end {
        for r in c.poll_fetches_deadline(end).record_iter() {
            got.entry(r.partition)
                .or_default()
                .push((r.offset, support::consume::check_record(r)));
            n += 1;
        }
    }
    c.pause_fetch_partitions(HashMap::from([(topic.clone(), vec![0])]));
    let paused_at = got[&0].len();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut idle = 0;
    while Instant::now() < deadline && idle < 3 {
        let fs = c.poll_fetches_timeout(Duration::from_millis(500));
        if fs.num_records() == 0 {
            idle += 1;
        }
        for r in fs.record_iter() {
            assert_ne!(r.partition, 0, "a paused partition returned records");
            got.entry(r.partition)
                .or_default()
                .push((r.offset, support::consume::check_record(r)));
            n += 1;
        }
    }
    assert_eq!(got[&0].len(), paused_at);
    c.resume_fetch_partitions(HashMap::from([(topic.clone(), vec![0])]));
    let (rest, _) = consume(&c, 6000 - n, Duration::from_secs(60), no_errors);
    for (p, v) in rest {
        got.entry(p).or_default().extend(v);
    }
    check_exactly(&got, &(0..6000).collect());
    c.close();
    p.close();
}

#[test]
fn real_regex_consumer_picks_up_a_new_topic() {
    if !support::require_broker() {
        return;
    }
    support::init_logging();
    let prefix = support::random_topic("rx");
    let first = format!("{prefix}-a");
    let later = format!("{prefix}-b");
    let p = builder().build().unwrap();
    create_topic(&p, &first);
    produce(&p, &first, 0..500);
    let c = builder()
        .consume_topics([format!("^{}-.*$", regex_escape(&prefix))])
        .consume_regex(true)
        .metadata_min_age(Duration::from_millis(100))
        .metadata_max_age(Duration::from_secs(1))
        .build()
        .unwrap();
    let (got, _) = consume(&c, 500, Duration::from_secs(60), no_errors);
    check_exactly(&got, &(0..500).collect());
    create_topic(&p, &later);
    produce(&p, &later, 500..1000);
    let (got, _) = consume(&c, 500, Duration::from_secs(60), no_errors);
    check_exactly(&got, &(500..1000).collect());
    c.close();
    p.close();
}

fn regex_escape(s: &str) -> String {
    s.chars()
        .map(|ch| {
            if ch.is_ascii_alphanumeric() || ch == '_' {
                ch.to_string()
            } else {
                format!("\\{ch}")
            }
        })
        .collect()
}
