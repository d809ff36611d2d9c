//! Producing synchronously: `produce_sync` sends records and waits for every
//! one of them, returning each record's partition and offset (or its error)
//! in the order given.
//!
//! `cargo run --example produce_sync` needs no broker: with `KAFKA_SEEDS`
//! unset it starts an in-process fake cluster of 3 brokers. With
//! `KAFKA_SEEDS=host:port,..` it talks to those brokers instead.

use std::any::Any;
use std::time::{Duration, Instant};

use kafka_sync::{Client, Record};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

const TOPIC: &str = "produce-sync";

/// The seed brokers to use, and whatever must stay alive while we use them.
fn seeds() -> Result<(Vec<String>, Box<dyn Any>)> {
    let env = std::env::var("KAFKA_SEEDS").unwrap_or_default();
    if !env.trim().is_empty() {
        let seeds = env.split(',').map(|s| s.trim().to_string()).collect();
        return Ok((seeds, Box::new(())));
    }
    #[cfg(feature = "fake")]
    {
        let cluster = kafka_sync::fake::Cluster::builder()
            .brokers(3)
            .topic(TOPIC, 3)
            .build()?;
        Ok((cluster.seeds(), Box::new(cluster)))
    }
    #[cfg(not(feature = "fake"))]
    Ok((vec!["127.0.0.1:9092".into()], Box::new(())))
}

fn main() -> Result<()> {
    env_logger::init();
    let (seeds, _cluster) = seeds()?;
    let client = Client::builder()
        .seed_brokers(seeds)
        .allow_auto_topic_creation(true)
        // A record that cannot be delivered within 30 s fails instead of
        // blocking produce_sync forever.
        .record_delivery_timeout(Duration::from_secs(30))
        .build()?;

    // One record: `first()` is its result.
    let t = Instant::now();
    let one = Record::key_string("order-1", "created").with_topic(TOPIC);
    let written = client.produce_sync([one]);
    let r = written.first()?;
    println!(
        "one record: partition {} offset {} ({} ms)",
        r.partition,
        r.offset,
        t.elapsed().as_millis()
    );

    // A batch: produce_sync buffers them all, then waits for all of them, so
    // they are sent together rather than one round trip each.
    let t = Instant::now();
    let batch = (0..100).map(|i| {
        Record::key_string(format!("order-{}", i % 10), format!("event {i}"))
            .with_topic(TOPIC)
            .with_header("source", Some("produce_sync".into()))
    });
    let results = client.produce_sync(batch);
    if let Some(e) = results.first_err() {
        return Err(format!("a record failed: {e}").into());
    }
    let mut last = std::collections::BTreeMap::new();
    for r in &results.0 {
        last.insert(r.record.partition, r.record.offset);
    }
    println!(
        "100 records in {} ms; last offset per partition: {last:?}",
        t.elapsed().as_millis()
    );

    // Records with the same key go to the same partition (murmur2, as Java).
    let same_key = (0..3).map(|_| Record::key_string("order-7", "again").with_topic(TOPIC));
    let parts: Vec<i32> = client
        .produce_sync(same_key)
        .into_iter()
        .map(|r| r.record.partition)
        .collect();
    println!("three records keyed order-7 went to partitions {parts:?}");

    client.close();
    println!("done");
    Ok(())
}
