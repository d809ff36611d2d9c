//! Hooks as metrics: a [`Hook`] that counts requests, bytes and latency per
//! broker, then prints them as a table after some producing and consuming.
//!
//! Hooks run on the client's threads (here the `ks-io-<id>` thread that
//! read the response), so they must be quick and must not block; this one
//! takes a short lock per request. Keep an `Arc` of the hook to read it.
//!
//! `cargo run --example hooks_metrics` needs no broker: with `KAFKA_SEEDS`
//! unset it starts an in-process fake cluster of 3 brokers. With
//! `KAFKA_SEEDS=host:port,..` it talks to those brokers instead.

use std::any::Any;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kafka_sync::{BrokerE2E, BrokerMetadata, Client, Hook, Offset, Record};

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

/// Per broker: requests, bytes written and read, latency, errors.
#[derive(Default)]
struct Stats {
    requests: u64,
    written: u64,
    read: u64,
    total: Duration,
    max: Duration,
    errors: u64,
}

/// Counts every request's end-to-end numbers, keyed by broker name.
#[derive(Default)]
struct Metrics(Mutex<BTreeMap<String, Stats>>);

impl Hook for Metrics {
    fn on_broker_e2e(&self, meta: &BrokerMetadata, _key: i16, e2e: &BrokerE2E) {
        // Seed brokers have ids from i32::MIN up; name them as kgo logs them.
        let name = if meta.is_seed() {
            format!("seed_{}", i64::from(meta.node_id) - i64::from(i32::MIN))
        } else {
            format!("broker {}", meta.node_id)
        };
        let mut all = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let s = all.entry(name).or_default();
        s.requests += 1;
        s.written += e2e.bytes_written as u64;
        s.read += e2e.bytes_read as u64;
        s.total += e2e.duration_e2e();
        s.max = s.max.max(e2e.duration_e2e());
        s.errors += u64::from(e2e.err().is_some());
    }
}

impl Metrics {
    fn print(&self) {
        println!("| broker | requests | bytes written | bytes read | mean latency | max latency | errors |");
        println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
        for (name, s) in self.0.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            let mean = s.total / u32::try_from(s.requests.max(1)).unwrap_or(u32::MAX);
            println!(
                "| {name} | {} | {} | {} | {:.2} ms | {:.2} ms | {} |",
                s.requests,
                s.written,
                s.read,
                mean.as_secs_f64() * 1e3,
                s.max.as_secs_f64() * 1e3,
                s.errors
            );
        }
    }
}

fn main() -> Result<()> {
    env_logger::init();
    let topic = format!("hooks-{}", std::process::id());
    let (seeds, _cluster) = seeds(&topic)?;
    let metrics = Arc::new(Metrics::default());
    let client = Client::builder()
        .seed_brokers(seeds)
        .allow_auto_topic_creation(true)
        .with_hooks(Arc::clone(&metrics))
        .consume_topics([topic.as_str()])
        .consume_reset_offset(Offset::new().at_start())
        .build()?;

    // Keyed by sensor, so the records spread over every partition and broker.
    let records = (0..10_000).map(|i| {
        Record::key_string(format!("sensor-{}", i % 24), format!("reading {i}")).with_topic(&topic)
    });
    if let Some(e) = client.produce_sync(records).first_err() {
        return Err(format!("producing failed: {e}").into());
    }
    let (mut n, end) = (0, Instant::now() + Duration::from_secs(30));
    while n < 10_000 && Instant::now() < end {
        let fetches = client.poll_fetches_timeout(Duration::from_millis(500));
        fetches.each_error(|t, p, e| eprintln!("{t}/{p}: {e}"));
        n += fetches.num_records();
    }
    client.close();
    println!("produced and consumed {n} records; per broker:");
    metrics.print();
    Ok(())
}
