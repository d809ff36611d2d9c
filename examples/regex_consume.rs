//! Consuming every topic whose name matches a regular expression.
//!
//! Three topics get records, `metrics.cpu`, `metrics.mem` and `logs.app`;
//! a consumer of `^metrics\..*` reads the first two and never the third.
//! Topics created later that match are picked up at the next metadata
//! refresh (`metadata_max_age`, 5 minutes by default).
//!
//! `cargo run --example regex_consume` needs no broker: with `KAFKA_SEEDS`
//! unset it starts an in-process fake cluster of 3 brokers. With
//! `KAFKA_SEEDS=host:port,..` it talks to those brokers instead.

use std::any::Any;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use kafka_sync::{Client, Offset, Record};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

const TOPICS: [&str; 3] = ["metrics.cpu", "metrics.mem", "logs.app"];
const PER_TOPIC: usize = 100;

/// The seed brokers to use, and whatever must stay alive while we use them.
fn seeds() -> Result<(Vec<String>, Box<dyn Any>)> {
    let env = std::env::var("KAFKA_SEEDS").unwrap_or_default();
    if !env.trim().is_empty() {
        let seeds = env.split(',').map(|s| s.trim().to_string()).collect();
        return Ok((seeds, Box::new(())));
    }
    #[cfg(feature = "fake")]
    {
        let mut b = kafka_sync::fake::Cluster::builder().brokers(3);
        for t in TOPICS {
            b = b.topic(t, 2);
        }
        let cluster = b.build()?;
        Ok((cluster.seeds(), Box::new(cluster)))
    }
    #[cfg(not(feature = "fake"))]
    Ok((vec!["127.0.0.1:9092".into()], Box::new(())))
}

fn main() -> Result<()> {
    env_logger::init();
    let (seeds, _cluster) = seeds()?;
    // A unique value per run, so reruns against a real broker count only
    // this run's records.
    let run = format!("run-{}", std::process::id());

    let producer = Client::builder()
        .seed_brokers(seeds.clone())
        .allow_auto_topic_creation(true)
        .build()?;
    let run_ref = &run;
    let records = TOPICS.iter().flat_map(|&t| {
        (0..PER_TOPIC).map(move |i| {
            Record::key_string(run_ref.clone(), format!("{t} sample {i}")).with_topic(t)
        })
    });
    if let Some(e) = producer.produce_sync(records).first_err() {
        return Err(format!("producing failed: {e}").into());
    }
    producer.close();
    println!("produced {PER_TOPIC} records to each of {TOPICS:?}");

    let consumer = Client::builder()
        .seed_brokers(seeds)
        .consume_topics([r"^metrics\..*"])
        .consume_regex(true)
        .consume_reset_offset(Offset::new().at_start())
        .build()?;
    let mut per_topic: BTreeMap<String, usize> = BTreeMap::new();
    let want = 2 * PER_TOPIC;
    let end = Instant::now() + Duration::from_secs(30);
    while per_topic.values().sum::<usize>() < want && Instant::now() < end {
        let fetches = consumer.poll_fetches_timeout(Duration::from_millis(500));
        if fetches.is_client_closed() {
            break;
        }
        fetches.each_error(|t, p, e| eprintln!("{t}/{p}: {e}"));
        for r in fetches.record_iter() {
            if r.key.as_deref() == Some(run.as_bytes()) {
                *per_topic.entry(r.topic.to_string()).or_default() += 1;
            }
        }
    }
    consumer.close();
    for (topic, n) in &per_topic {
        println!("{topic}: {n} records");
    }
    if per_topic.values().sum::<usize>() < want || per_topic.contains_key("logs.app") {
        return Err(format!(
            "expected {PER_TOPIC} from each metrics topic only, got {per_topic:?}"
        )
        .into());
    }
    println!("the regex matched the metrics topics only");
    Ok(())
}
