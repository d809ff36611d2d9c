//! Produce 1,000 records, then consume them back without a group, from the
//! start of every partition.
//!
//! `cargo run --example consume_direct` needs no broker: with `KAFKA_SEEDS`
//! unset it starts an in-process fake cluster of 3 brokers. With
//! `KAFKA_SEEDS=host:port,..` it talks to those brokers instead.

use std::any::Any;
use std::time::Duration;

use kafka_sync::{Client, Offset, Record};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// The seed brokers to use, and whatever must stay alive while we use them.
fn seeds(topic: &str) -> Result<(Vec<String>, Box<dyn Any>)> {
    let env = std::env::var("KAFKA_SEEDS").unwrap_or_default();
    if !env.trim().is_empty() {
        let seeds = env.split(',').map(|s| s.trim().to_string()).collect();
        return Ok((seeds, Box::new(())));
    }
    #[cfg(feature = "fake")]
    {
        let cluster = kafka_sync::fake::Cluster::builder()
            .brokers(3)
            .topic(topic, 6)
            .build()?;
        Ok((cluster.seeds(), Box::new(cluster)))
    }
    #[cfg(not(feature = "fake"))]
    Ok((vec!["127.0.0.1:9092".into()], Box::new(())))
}

fn main() -> Result<()> {
    env_logger::init();
    // A topic of this run only, so reruns against a real broker read just
    // this run's records.
    let topic = &format!("consume-direct-{}", std::process::id());
    let (seeds, _cluster) = seeds(topic)?;

    // Produce: the callback runs once per record, on a client thread.
    let producer = Client::builder()
        .seed_brokers(seeds.clone())
        .allow_auto_topic_creation(true)
        .build()?;
    for i in 0..1000 {
        let record =
            Record::from_key_value(format!("key-{i}"), format!("value-{i}")).with_topic(topic);
        producer.produce(record, |r, res| {
            if let Err(e) = res {
                eprintln!("record {:?} failed: {e}", r.key);
            }
        });
    }
    producer.flush()?;
    producer.close();

    // Consume: one `ks-src-<id>` thread per broker fetches; polls take what
    // is buffered.
    let consumer = Client::builder()
        .seed_brokers(seeds)
        .consume_topics([topic])
        .consume_reset_offset(Offset::new().at_start())
        .build()?;
    let mut per_partition = std::collections::BTreeMap::<i32, usize>::new();
    let mut seen = 0;
    while seen < 1000 {
        let fetches = consumer.poll_fetches_timeout(Duration::from_secs(10));
        if fetches.is_client_closed() {
            break;
        }
        if fetches.is_empty() {
            println!("nothing new in 10s; stopping");
            break;
        }
        fetches.each_error(|t, p, e| eprintln!("{t}/{p}: {e}"));
        for r in fetches.record_iter() {
            *per_partition.entry(r.partition).or_default() += 1;
            seen += 1;
        }
    }
    println!("consumed {seen} records: {per_partition:?}");
    consumer.close();
    Ok(())
}
