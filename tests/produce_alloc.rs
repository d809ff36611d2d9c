//! `produce()` does not allocate per record once a batch buffer exists (a
//! capturing callback is boxed: one allocation), nor does `produce_batch`:
//! counted with a counting global allocator (this test binary only).
#![cfg(feature = "fake")]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use kafka_sync::fake::Cluster;
use kafka_sync::{Client, Record};

struct Counting;
static ALLOCS: AtomicU64 = AtomicU64::new(0);

// SAFETY: forwards to the system allocator unchanged; only counts calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static A: Counting = Counting;

fn noop(_: Record, _: kafka_sync::Result<()>) {}

/// The counter counts every thread's allocations: the tests take turns.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// A client with manual flushing (nothing is sent while counting, so only
/// produce() runs), warmed up with `first`: metadata loaded, a batch open.
fn warm_manual_client(cluster: &Cluster, first: impl Fn() -> Record) -> Client {
    let c = Client::builder()
        .seed_brokers(cluster.seeds())
        .manual_flushing(true)
        .max_buffered_records(1_000_000)
        .build()
        .unwrap();
    c.produce(first(), noop);
    c.flush().unwrap();
    c.produce(first(), noop);
    c
}

#[test]
fn produce_hot_path_does_not_allocate_per_record() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let cluster = Cluster::builder().brokers(1).topic("t", 1).build().unwrap();
    let value = Bytes::from(vec![7u8; 100]);
    let make = |i: u64| Record {
        key: Some(Bytes::from_static(b"key")),
        value: Some(value.clone()),
        headers: vec![kafka_sync::RecordHeader {
            key: "h".into(),
            value: Some(Bytes::from_static(b"v")),
        }],
        topic: "t".into(),
        timestamp: 1_700_000_000_000 + i as i64,
        ..Record::default()
    };
    let c = warm_manual_client(&cluster, || make(0));

    let n = 20_000u64;
    let records: Vec<Record> = (0..n).map(make).collect();
    let before = ALLOCS.load(Ordering::Relaxed);
    for r in records {
        c.produce(r, noop);
    }
    let allocs = ALLOCS.load(Ordering::Relaxed) - before;
    println!(
        "{allocs} allocations for {n} produce() calls ({:.4} per record)",
        allocs as f64 / n as f64
    );
    // Batch buffers grow geometrically and new batches open every ~1 MB:
    // a few dozen allocations in all, never one per record.
    assert!(allocs < n / 100, "{allocs} allocations for {n} records");
    c.flush().unwrap();
    c.close();
}

#[test]
fn capturing_callback_and_produce_batch_allocations() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    // Benchmark mode: the fake acknowledges produce requests without
    // storing (or decoding) them, so the count is the client's.
    let cluster = Cluster::builder()
        .brokers(1)
        .topic("t", 1)
        .benchmark_mode(kafka_sync::fake::BenchmarkMode::default())
        .build()
        .unwrap();
    let value = Bytes::from(vec![7u8; 100]);
    let make = |i: u64| Record {
        value: Some(value.clone()),
        topic: "t".into(),
        timestamp: 1_700_000_000_000 + i as i64,
        ..Record::default()
    };
    let manual = warm_manual_client(&cluster, || make(0));

    // A callback that captures state is boxed: one allocation per record.
    let n = 20_000u64;
    let done = std::sync::Arc::new(AtomicU64::new(0));
    let records: Vec<Record> = (0..n).map(make).collect();
    let before = ALLOCS.load(Ordering::Relaxed);
    for r in records {
        let d = done.clone();
        manual.produce(r, move |_, _| {
            d.fetch_add(1, Ordering::Relaxed);
        });
    }
    let allocs = ALLOCS.load(Ordering::Relaxed) - before;
    println!(
        "{allocs} allocations for {n} produce() calls with a capturing callback ({:.4} per record)",
        allocs as f64 / n as f64
    );
    assert!(
        allocs <= n + n / 100,
        "{allocs} allocations for {n} records"
    );
    manual.flush().unwrap();
    manual.close();

    // produce_batch collects results by slot: no allocation per record
    // (the whole call is counted: the sink and I/O threads' per-request
    // allocations included).
    let c = Client::builder()
        .seed_brokers(cluster.seeds())
        .producer_linger(std::time::Duration::from_millis(20))
        .max_buffered_records(1_000_000)
        .build()
        .unwrap();
    c.produce_batch([make(0)]).first().unwrap();
    let records: Vec<Record> = (0..n).map(make).collect();
    let before = ALLOCS.load(Ordering::Relaxed);
    let res = c.produce_batch(records);
    let allocs = ALLOCS.load(Ordering::Relaxed) - before;
    assert!(res.is_ok());
    assert_eq!(res.0.len(), n as usize);
    println!(
        "{allocs} allocations for produce_batch of {n} records ({:.4} per record)",
        allocs as f64 / n as f64
    );
    assert!(allocs < n / 10, "{allocs} allocations for {n} records");
    c.close();
}
