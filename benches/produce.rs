//! The produce() hot path against the fake cluster in benchmark mode:
//! partition, encode into the open batch, buffer; sinks drain in the background.
//! `append_one_topic`: the append step alone from 1 and 2 caller threads.
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use kafka_sync::fake::{BenchmarkMode, Cluster};
use kafka_sync::{Client, Record};

fn noop(_: Record, _: kafka_sync::Result<()>) {}

/// One fake broker in benchmark mode with topic `t` of 6 partitions.
fn bench_cluster() -> Cluster {
    Cluster::builder()
        .brokers(1)
        .topic("t", 6)
        .benchmark_mode(BenchmarkMode::default())
        .build()
        .unwrap()
}

fn bench(c: &mut Criterion) {
    let cluster = bench_cluster();
    let client = Client::builder()
        .seed_brokers(cluster.seeds())
        .max_buffered_records(1_000_000)
        .build()
        .unwrap();
    let value = Bytes::from(vec![b'v'; 100]);
    let mut g = c.benchmark_group("produce");
    g.throughput(Throughput::Elements(1));
    g.bench_function("produce_100B_unkeyed", |b| {
        b.iter(|| {
            client.produce(
                Record {
                    value: Some(value.clone()),
                    topic: "t".into(),
                    ..Record::default()
                },
                noop,
            )
        })
    });
    client.flush().unwrap();
    g.finish();
    client.close();
}

/// The append step alone (partition, encode into the open batch, buffer)
/// from 1 and 2 caller threads producing to one topic: with manual
/// flushing nothing is sent while timed. Each thread produces to its own
/// partitions (manual partitioner), so the threads share the topic and its
/// partitioner but not a partition lock: the encode runs in parallel.
fn append_threads(c: &mut Criterion) {
    const CHUNK: u64 = 50_000;
    let cluster = bench_cluster();
    let client = Client::builder()
        .seed_brokers(cluster.seeds())
        .manual_flushing(true)
        .record_partitioner(kafka_sync::manual_partitioner())
        .max_buffered_records(1_000_000)
        .build()
        .unwrap();
    // A value per thread: one shared `Bytes` would put its reference count,
    // written by every record, on a cache line both threads fight over.
    let values: Vec<Bytes> = (0..2).map(|_| Bytes::from(vec![b'v'; 100])).collect();
    let record = |partition: i32, t: usize| Record {
        value: Some(values[t].clone()),
        topic: "t".into(),
        partition,
        ..Record::default()
    };
    client.produce(record(0, 0), noop);
    client.flush().unwrap();
    let mut g = c.benchmark_group("append_one_topic");
    g.throughput(Throughput::Elements(1));
    g.sample_size(20);
    for threads in [1u64, 2] {
        g.bench_function(format!("{threads}_threads_100B"), |b| {
            b.iter_custom(|iters| {
                let mut took = Duration::ZERO;
                let mut left = iters;
                while left > 0 {
                    let n = left.min(CHUNK);
                    left -= n;
                    let start = Instant::now();
                    std::thread::scope(|s| {
                        for t in 0..threads {
                            let (client, record) = (&client, &record);
                            s.spawn(move || {
                                for i in (t..n).step_by(threads as usize) {
                                    // Thread t: partitions t, t+2, t+4.
                                    let p = t + 2 * ((i / threads) % 3);
                                    client.produce(record(p as i32, t as usize), noop);
                                }
                            });
                        }
                    });
                    took += start.elapsed();
                    client.abort_buffered_records().unwrap();
                }
                took
            })
        });
    }
    g.finish();
    client.close();
}

criterion_group!(benches, bench, append_threads);
criterion_main!(benches);
