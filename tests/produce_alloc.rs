//! `produce()` does not allocate per record once a batch buffer exists:
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

#[test]
fn produce_hot_path_does_not_allocate_per_record() {
    let cluster = Cluster::builder().brokers(1).topic("t", 1).build().unwrap();
    // Manual flushing: nothing is sent while we count, so only produce() runs.
    let c = Client::builder()
        .seed_brokers(cluster.seeds())
        .manual_flushing(true)
        .max_buffered_records(1_000_000)
        .build()
        .unwrap();
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
    // Warm up: topic metadata loaded, a batch buffer exists.
    c.produce(make(0), noop);
    c.flush().unwrap();
    c.produce(make(0), noop);

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
