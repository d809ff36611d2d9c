//! End-to-end throughput: records/s, MB/s and client CPU per record.
//!
//! cargo run --release --example bench -- --mode produce|consume --records 1000000 --size 100
//!   [--brokers host:port,...] [--topic t] [--partitions 6] [--acks all|1|0]
//!   [--compression none|gzip|snappy|lz4|zstd] [--linger-ms 0] [--batch-max-bytes 1000012]
//!   [--group NAME]   (consume mode: consume as the one member of group NAME)
//!   [--txn-ms MS]    (produce mode: transactional, committing every MS ms)
//!   [--threads N]    (produce mode: N caller threads, records split between them)
//!   [--capturing-callback]  (produce mode: a callback capturing an Arc per
//!                    record, boxed; by default a plain fn counting failures)
//!   [--max-buffered-fetch-bytes B]  (consume mode: the consumer's memory
//!                    budget; the client's default, 64 MiB, if not given)
//!
//! Without --brokers it starts the fake cluster in benchmark mode (produce is
//! acknowledged without storing; fetches are served from a pre-built stream
//! of uncompressed batches), so the figures are the client's own cost. With
//! --brokers, consume mode first produces the records (untimed, with the
//! given compression), then times consuming them from the start.
//! The last line is machine-readable:
//! RESULT client=kafka-sync mode=produce|consume records=N bytes=B wall_s=.. rec_per_s=.. mb_per_s=.. cpu_user_s=.. cpu_sys_s=..
//! (consume mode adds peak_buffered_bytes=.., the most fetch-budget bytes in
//! use at once, and max_rss_kib=..)
//!
//! CPU is the process's getrusage (user and system, microsecond resolution).
//! Produce values are the peers harness's (`../shared/peers`): 1024
//! pre-generated payloads from a 64-symbol alphabet, cycled, each record's
//! value a reference-counted clone of one.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use kafka_sync::messages::{create_topics_request::CreatableTopic, CreateTopicsRequest, TopicName};
use kafka_sync::{Acks, Client, CompressionCodec, Record, Topic};

fn args() -> HashMap<String, String> {
    let mut out = HashMap::new();
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        if let Some(name) = k.strip_prefix("--") {
            out.insert(name.to_string(), it.next().unwrap_or_default());
        }
    }
    out
}

/// `struct rusage` of Linux (glibc and musl): two `struct timeval` then 14 longs.
#[repr(C)]
struct RUsage {
    utime: [libc_long; 2],
    stime: [libc_long; 2],
    rest: [libc_long; 14],
}
#[allow(non_camel_case_types)]
type libc_long = std::os::raw::c_long;

extern "C" {
    // From the C library every Rust program on Linux links already; declared
    // here so that the bench needs no `libc` dependency for one call.
    fn getrusage(who: std::os::raw::c_int, usage: *mut RUsage) -> std::os::raw::c_int;
}

/// getrusage(RUSAGE_SELF): (user s, system s, max RSS KiB); zeros on failure.
fn rusage() -> (f64, f64, libc_long) {
    let mut u = RUsage {
        utime: [0; 2],
        stime: [0; 2],
        rest: [0; 14],
    };
    // SAFETY: `u` is a valid, writable `struct rusage` (same size and layout
    // on Linux), and RUSAGE_SELF (0) writes only into it.
    let rc = unsafe { getrusage(0, &mut u) };
    if rc != 0 {
        return (0.0, 0.0, 0);
    }
    let secs = |t: [libc_long; 2]| t[0] as f64 + t[1] as f64 / 1e6;
    (secs(u.utime), secs(u.stime), u.rest[0])
}

/// (user, system) CPU seconds of this process.
fn cpu_seconds() -> (f64, f64) {
    let (u, s, _) = rusage();
    (u, s)
}

fn main() -> Result<(), kafka_sync::Error> {
    env_logger::init();
    let a = args();
    let get = |k: &str, d: &str| a.get(k).cloned().unwrap_or_else(|| d.to_string());
    let mode = get("mode", "produce");
    let records: u64 = get("records", "1000000").parse().expect("--records");
    let size: usize = get("size", "100").parse().expect("--size");
    let partitions: i32 = get("partitions", "6").parse().expect("--partitions");
    let topic = get("topic", &format!("bench-{}", std::process::id()));
    let linger = Duration::from_millis(get("linger-ms", "0").parse().expect("--linger-ms"));
    let batch_max: i32 = get("batch-max-bytes", "1000012")
        .parse()
        .expect("--batch-max-bytes");
    let codec = match get("compression", "none").as_str() {
        "none" => CompressionCodec::none(),
        "gzip" => CompressionCodec::gzip(),
        "snappy" => CompressionCodec::snappy(),
        "lz4" => CompressionCodec::lz4(),
        "zstd" => CompressionCodec::zstd(),
        other => panic!("unknown --compression {other}"),
    };
    let acks = match get("acks", "all").as_str() {
        "all" | "-1" => Acks::AllIsr,
        "1" => Acks::Leader,
        "0" => Acks::None,
        other => panic!("unknown --acks {other}"),
    };
    if mode != "produce" && mode != "consume" {
        panic!("unknown --mode {mode} (produce or consume)");
    }

    let (_cluster, seeds) = match a.get("brokers") {
        Some(b) => (None, b.split(',').map(str::to_string).collect::<Vec<_>>()),
        None => {
            let c = kafka_sync::fake::Cluster::builder()
                .brokers(3)
                .topic(topic.clone(), partitions)
                .benchmark_mode(kafka_sync::fake::BenchmarkMode {
                    record_size: size,
                    records_per_batch: 1000,
                    // Consume mode: the served batches use --compression.
                    compression: codec,
                })
                .build()
                .expect("fake cluster");
            let s = c.seeds();
            (Some(c), s)
        }
    };
    let seeds_c = seeds.clone();
    let txn_ms: Option<u64> = a.get("txn-ms").map(|v| v.parse().expect("--txn-ms"));
    let mut builder = Client::builder();
    if txn_ms.is_some() {
        builder = builder.transactional_id(format!("bench-{}", std::process::id()));
    }
    let client = builder
        .seed_brokers(seeds)
        .required_acks(acks)
        .disable_idempotent_write(acks != Acks::AllIsr)
        .producer_batch_compression([codec])
        .producer_linger(linger)
        .producer_batch_max_bytes(batch_max)
        .max_buffered_records(100_000)
        .build()?;
    if a.contains_key("brokers") {
        let t = CreatableTopic::default()
            .with_name(TopicName(topic.clone().into()))
            .with_num_partitions(partitions)
            .with_replication_factor(1);
        let _ = client.request(
            CreateTopicsRequest::default()
                .with_topics(vec![t])
                .with_timeout_ms(10_000),
        )?;
    }

    let threads: u64 = get("threads", "1").parse().expect("--threads");
    CAPTURING.store(a.contains_key("capturing-callback"), Ordering::Relaxed);
    let mut extra = String::new();
    let (wall, user, sys) = if mode == "produce" {
        produce(&client, &topic, records, size, partitions, txn_ms, threads)?
    } else {
        if a.contains_key("brokers") {
            produce(&client, &topic, records, size, partitions, None, 1)?;
        }
        client.close();
        let budget = a
            .get("max-buffered-fetch-bytes")
            .map(|b| b.parse().expect("--max-buffered-fetch-bytes"));
        let (w, u, s, peak) = consume(
            seeds_c,
            &topic,
            records,
            a.get("group").map(String::as_str),
            budget,
        )?;
        extra = format!(" peak_buffered_bytes={peak} max_rss_kib={}", rusage().2);
        (w, u, s)
    };
    if mode == "produce" {
        client.close();
    }
    let bytes = records * size as u64;
    println!(
        "{records} records of {size} B in {wall:.2}s: {:.0} rec/s, {:.1} MB/s, {:.2} us CPU per record",
        records as f64 / wall,
        bytes as f64 / wall / 1e6,
        (user + sys) * 1e6 / records as f64
    );
    println!(
        "RESULT client=kafka-sync mode={mode} records={records} bytes={bytes} wall_s={wall:.3} rec_per_s={:.0} mb_per_s={:.2} cpu_user_s={user:.4} cpu_sys_s={sys:.4}{extra}",
        records as f64 / wall,
        bytes as f64 / wall / 1e6
    );
    Ok(())
}

/// Produces `records` values of `size` bytes round-robin from `threads`
/// caller threads; returns (wall, user, sys).
fn produce(
    client: &Client,
    topic: &str,
    records: u64,
    size: usize,
    partitions: i32,
    txn_ms: Option<u64>,
    threads: u64,
) -> Result<(f64, f64, f64), kafka_sync::Error> {
    use kafka_sync::TransactionEndTry::Commit;
    // Values are built before timing starts; produce() then only partitions,
    // encodes and buffers.
    let values = payloads(size);
    // Made once: a record's topic is copied, not allocated, per record.
    let topic = &Topic::from(topic);
    let errors = Arc::new(AtomicU64::new(0));
    let (u0, s0) = cpu_seconds();
    let start = Instant::now();
    let every = txn_ms.map(Duration::from_millis);
    let mut txn_end = every
        .map(|d| client.begin_transaction().map(|()| Instant::now() + d))
        .transpose()?;
    if threads > 1 {
        std::thread::scope(|s| {
            for t in 0..threads {
                let (values, errors) = (&values, &errors);
                let n = records / threads + u64::from(t < records % threads);
                s.spawn(move || {
                    for i in 0..n {
                        let k = i * threads + t;
                        let value = &values[(k % POOL) as usize];
                        produce_one(client, topic, value, k % partitions as u64, errors);
                    }
                });
            }
        });
    } else {
        for i in 0..records {
            if let (Some(end), Some(d)) = (txn_end, every) {
                if i % 1024 == 0 && Instant::now() >= end {
                    client.end_transaction(Commit)?;
                    client.begin_transaction()?;
                    txn_end = Some(Instant::now() + d);
                }
            }
            let value = &values[(i % POOL) as usize];
            produce_one(client, topic, value, i % partitions as u64, &errors);
        }
    }
    if txn_end.is_some() {
        client.end_transaction(Commit)?;
    }
    client.flush()?;
    let wall = start.elapsed().as_secs_f64();
    let (u1, s1) = cpu_seconds();
    let errs = errors.load(Ordering::Relaxed) + FAILED.load(Ordering::Relaxed);
    if errs > 0 {
        eprintln!("{errs} records failed");
    }
    Ok((wall, u1 - u0, s1 - s0))
}

/// Values cycled through, as the peers harness does (`../shared/peers`).
const POOL: u64 = 1024;

/// The peers harness's payloads: `POOL` values of `size` bytes from a
/// 64-symbol alphabet (xorshift64*, the same seed, so the same bytes), each
/// its own `Bytes`: a record's value is a reference-counted clone of one.
fn payloads(size: usize) -> Vec<Bytes> {
    const ALPHA: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..POOL)
        .map(|_| {
            let v: Vec<u8> = (0..size)
                .map(|_| {
                    state ^= state >> 12;
                    state ^= state << 25;
                    state ^= state >> 27;
                    let r = state.wrapping_mul(0x2545_F491_4F6C_DD1D);
                    ALPHA[(r >> 58) as usize]
                })
                .collect();
            Bytes::from(v)
        })
        .collect()
}

fn produce_one(
    client: &Client,
    topic: &Topic,
    value: &Bytes,
    partition: u64,
    errors: &Arc<AtomicU64>,
) {
    let r = Record {
        value: Some(value.clone()),
        topic: topic.clone(),
        partition: partition as i32,
        ..Record::default()
    };
    if CAPTURING.load(Ordering::Relaxed) {
        let e = errors.clone();
        client.produce(r, move |_, res| {
            if res.is_err() {
                e.fetch_add(1, Ordering::Relaxed);
            }
        });
    } else {
        // A callback that captures nothing is not boxed (zero-sized).
        client.produce(r, count_failure);
    }
}

/// `--capturing-callback`: each record's callback captures an `Arc` (one
/// boxed closure per record) instead of counting into `FAILED`.
static CAPTURING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
static FAILED: AtomicU64 = AtomicU64::new(0);

fn count_failure(_: Record, res: kafka_sync::Result<()>) {
    if res.is_err() {
        FAILED.fetch_add(1, Ordering::Relaxed);
    }
}

/// Consumes `records` records from the start of `topic`; returns (wall,
/// user, sys, peak budget bytes in use).
fn consume(
    seeds: Vec<String>,
    topic: &str,
    records: u64,
    group: Option<&str>,
    budget: Option<usize>,
) -> Result<(f64, f64, f64, usize), kafka_sync::Error> {
    let mut b = Client::builder()
        .seed_brokers(seeds)
        .consume_topics([topic]);
    if let Some(n) = budget {
        b = b.max_buffered_fetch_bytes(n);
    }
    // In a group, the timed section starts once the member is assigned its
    // partitions, so joining (which some brokers hold for seconds) is not
    // counted as consuming.
    type Mark = Arc<std::sync::Mutex<Option<(Instant, (f64, f64))>>>;
    let assigned: Mark = Default::default();
    if let Some(g) = group {
        let a = assigned.clone();
        b = b
            .consumer_group(g)
            .consume_reset_offset(kafka_sync::Offset::new().at_start())
            .session_timeout(Duration::from_secs(10))
            .heartbeat_interval(Duration::from_secs(1))
            .on_partitions_assigned(move |_, _| {
                let mut a = a.lock().unwrap_or_else(|e| e.into_inner());
                a.get_or_insert_with(|| (Instant::now(), cpu_seconds()));
            });
    }
    let client = b.build()?;
    let (mut u0, mut s0) = cpu_seconds();
    let mut start = Instant::now();
    let mut n = 0u64;
    let mut bytes = 0u64;
    while n < records {
        let fs = client.poll_fetches_timeout(Duration::from_secs(30));
        if fs.is_empty() || fs.is_client_closed() {
            eprintln!("stopped after {n} records: nothing arrived in 30s");
            break;
        }
        fs.each_error(|t, p, e| eprintln!("fetch error {t}/{p}: {e}"));
        for r in fs.record_iter() {
            bytes += r.value.as_ref().map_or(0, |v| v.len() as u64);
            n += 1;
        }
    }
    if let Some((t, (u, s))) = *assigned.lock().unwrap_or_else(|e| e.into_inner()) {
        (start, u0, s0) = (t, u, s);
    }
    let wall = start.elapsed().as_secs_f64();
    let (u1, s1) = cpu_seconds();
    let peak = client.peak_buffered_fetch_bytes();
    client.close();
    if n < records {
        eprintln!("consumed {n} of {records} records ({bytes} value bytes)");
    }
    Ok((wall, u1 - u0, s1 - s0, peak))
}
