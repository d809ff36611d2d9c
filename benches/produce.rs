//! The produce() hot path against the fake cluster in benchmark mode:
//! partition, encode into the open batch, buffer; sinks drain in the background.
use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use kafka_sync::fake::{BenchmarkMode, Cluster};
use kafka_sync::{Client, Record};

fn noop(_: Record, _: kafka_sync::Result<()>) {}

fn bench(c: &mut Criterion) {
    let cluster = Cluster::builder()
        .brokers(1)
        .topic("t", 6)
        .benchmark_mode(BenchmarkMode::default())
        .build()
        .unwrap();
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

criterion_group!(benches, bench);
criterion_main!(benches);
