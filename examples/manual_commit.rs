//! Group consuming with autocommit off: process each poll, then commit
//! exactly what was processed; on a rebalance, commit before the partitions
//! move away.
//!
//! `cargo run --example manual_commit` needs no broker: with `KAFKA_SEEDS`
//! unset it starts an in-process fake cluster. With `KAFKA_SEEDS=host:port,..`
//! it talks to those brokers instead.

use std::any::Any;
use std::time::{Duration, Instant};

use kafka_sync::{Client, Offset, Record};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

const TOPIC: &str = "manual-commit";

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
            .brokers(1)
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
    let group = format!("manual-commit-{}", std::process::id());

    let producer = Client::builder()
        .seed_brokers(seeds.clone())
        .allow_auto_topic_creation(true)
        .build()?;
    let records = (0..300).map(|i| Record::string(format!("job {i}")).with_topic(TOPIC));
    producer.produce_sync(records).first()?;

    let consumer = Client::builder()
        .seed_brokers(seeds)
        .consumer_group(&group)
        .consume_topics([TOPIC])
        .consume_reset_offset(Offset::new().at_start())
        .session_timeout(Duration::from_secs(6))
        .heartbeat_interval(Duration::from_millis(500))
        .disable_auto_commit()
        // Without autocommit, nothing commits on a rebalance unless we do.
        .on_partitions_revoked(|client, revoked| {
            println!("revoking {revoked:?}: committing what was processed");
            if let Err(e) = client.commit_uncommitted_offsets() {
                eprintln!("commit failed: {e}");
            }
        })
        .build()?;

    let mut processed = 0;
    let end = Instant::now() + Duration::from_secs(60);
    while processed < 300 && Instant::now() < end {
        let fetches = consumer.poll_fetches_timeout(Duration::from_millis(200));
        fetches.each_error(|t, p, e| eprintln!("{t}/{p}: {e}"));
        let batch: Vec<Record> = fetches.record_iter().cloned().collect();
        if batch.is_empty() {
            continue;
        }
        // "Process" the records, then commit exactly them.
        processed += batch.len();
        consumer.commit_records(&batch)?;
        println!(
            "processed and committed {} records ({processed} so far)",
            batch.len()
        );
    }
    let committed: i64 = consumer
        .committed_offsets()
        .get(TOPIC)
        .map(|ps| ps.values().map(|eo| eo.offset).sum())
        .unwrap_or(0);
    println!("committed offsets add up to {committed} (every record processed once)");
    consumer.close();
    producer.close();
    Ok(())
}
