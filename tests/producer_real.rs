//! The producer against the real test broker: 1,000,000 records of 100 B
//! over 6 partitions with acks=all and idempotence, once per codec, read
//! back with kafka-protocol's decoder (independent of ours).

mod support;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use kafka_sync::messages::{create_topics_request::CreatableTopic, CreateTopicsRequest, TopicName};
use kafka_sync::{Client, CompressionCodec};
use support::verify::{check_exactly_once_in_order, decode_and_check, record};

const SIZE: usize = 100;
const KEYS: u64 = 10_007;

fn run(codec: CompressionCodec, name: &str, total: u64) {
    if !support::require_broker() {
        return;
    }
    support::init_logging();
    let topic = support::random_topic(&format!("prod-{name}"));
    let c = Client::builder()
        .seed_brokers(support::seeds())
        .producer_batch_compression([codec])
        .max_buffered_records(50_000)
        .build()
        .unwrap();
    let t = CreatableTopic::default()
        .with_name(TopicName(topic.clone().into()))
        .with_num_partitions(6)
        .with_replication_factor(1);
    let created = c
        .request(
            CreateTopicsRequest::default()
                .with_topics(vec![t])
                .with_timeout_ms(10_000),
        )
        .unwrap();
    assert_eq!(created.topics[0].error_code, 0);

    let failed = Arc::new(Mutex::new(0u64));
    let start = Instant::now();
    for i in 0..total {
        let f = failed.clone();
        c.produce(record(&topic, i, SIZE, KEYS), move |_, res| {
            if res.is_err() {
                *f.lock().unwrap() += 1;
            }
        });
    }
    c.flush().unwrap();
    let took = start.elapsed();
    assert_eq!(*failed.lock().unwrap(), 0, "{name}: records failed");
    println!(
        "{name}: produced {total} records in {took:?} ({:.0} rec/s)",
        total as f64 / took.as_secs_f64()
    );
    c.close();

    let reader = support::fetch::reader(support::seeds());
    let per: HashMap<i32, Vec<u64>> = (0..6)
        .map(|p| {
            (
                p,
                decode_and_check(
                    &support::fetch::read_partition(&reader, &topic, p),
                    SIZE,
                    KEYS,
                ),
            )
        })
        .collect();
    check_exactly_once_in_order(&per, total);
    reader.close();
}

#[test]
fn million_records_uncompressed() {
    run(CompressionCodec::none(), "none", 1_000_000);
}

#[test]
fn million_records_gzip() {
    run(CompressionCodec::gzip(), "gzip", 1_000_000);
}

#[test]
fn million_records_snappy() {
    run(CompressionCodec::snappy(), "snappy", 1_000_000);
}

#[test]
fn million_records_lz4() {
    run(CompressionCodec::lz4(), "lz4", 1_000_000);
}

#[test]
fn million_records_zstd() {
    run(CompressionCodec::zstd(), "zstd", 1_000_000);
}
