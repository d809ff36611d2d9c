//! murmur2 and the partitioners.
use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use kafka_sync::{murmur2, sticky_key_partitioner, Record};

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("partitioner");
    let key = b"customer-000123456";
    g.throughput(Throughput::Elements(1));
    g.bench_function("murmur2_18B", |b| b.iter(|| murmur2(black_box(key))));
    let p = sticky_key_partitioner(None);
    let mut tp = p.for_topic("t");
    let keyed = Record::from_key_value(&key[..], &b"v"[..]);
    g.bench_function("sticky_key_keyed", |b| {
        b.iter(|| tp.partition(black_box(&keyed), 64))
    });
    let unkeyed = Record::from_value(&b"v"[..]);
    g.bench_function("sticky_key_unkeyed", |b| {
        b.iter(|| tp.partition(black_box(&unkeyed), 64))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
