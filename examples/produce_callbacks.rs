//! Producing asynchronously with callbacks, and a custom partitioner.
//!
//! `produce` returns at once; its callback runs later on the client's
//! `ks-prom` thread, once per record, in per-partition order. The partitioner
//! here routes records by the first byte of the key: keys starting with a
//! digit go to partition 0 (say, priority traffic), the rest spread over the
//! other partitions.
//!
//! `cargo run --example produce_callbacks` needs no broker: with
//! `KAFKA_SEEDS` unset it starts an in-process fake cluster of 3 brokers.
//! With `KAFKA_SEEDS=host:port,..` it talks to those brokers instead (the
//! topic needs at least 2 partitions to show the split).

use std::any::Any;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use kafka_sync::{Client, Partitioner, Record, TopicPartitioner};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

const TOPIC: &str = "produce-callbacks";

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
            .topic(TOPIC, 4)
            .build()?;
        Ok((cluster.seeds(), Box::new(cluster)))
    }
    #[cfg(not(feature = "fake"))]
    Ok((vec!["127.0.0.1:9092".into()], Box::new(())))
}

/// Makes one [`PriorityPartitioner`] per topic.
struct Priority;

impl Partitioner for Priority {
    fn for_topic(&self, _topic: &str) -> Box<dyn TopicPartitioner> {
        Box::new(PriorityPartitioner { next: 0 })
    }
}

/// Digit-led keys to partition 0, everything else round-robin over the rest.
struct PriorityPartitioner {
    next: usize,
}

impl TopicPartitioner for PriorityPartitioner {
    // Priority records must land on partition 0 even while it has no leader;
    // the rest may go to any partition that has one.
    fn requires_consistency(&self, r: &Record) -> bool {
        is_priority(r)
    }

    fn partition(&mut self, r: &Record, n: usize) -> usize {
        if is_priority(r) || n < 2 {
            return 0;
        }
        self.next = self.next.wrapping_add(1);
        1 + self.next % (n - 1)
    }
}

fn is_priority(r: &Record) -> bool {
    r.key
        .as_ref()
        .and_then(|k| k.first())
        .is_some_and(u8::is_ascii_digit)
}

fn main() -> Result<()> {
    env_logger::init();
    let (seeds, _cluster) = seeds()?;
    let client = Client::builder()
        .seed_brokers(seeds)
        .allow_auto_topic_creation(true)
        .record_partitioner(Arc::new(Priority))
        .build()?;

    // What the callbacks saw, per partition: (records, failures).
    let seen: Arc<Mutex<BTreeMap<i32, (usize, usize)>>> = Arc::default();
    for i in 0..1000 {
        let key = match i % 10 {
            0 => format!("{i}-urgent"),
            _ => format!("user-{i}"),
        };
        let record = Record::key_string(key, format!("event {i}")).with_topic(TOPIC);
        let seen = Arc::clone(&seen);
        // The callback runs on a client thread: keep it short, never block on
        // the client from it.
        client.produce(record, move |r, res| {
            let mut seen = seen.lock().unwrap_or_else(|e| e.into_inner());
            let entry = seen.entry(r.partition).or_default();
            entry.0 += 1;
            if let Err(e) = res {
                entry.1 += 1;
                eprintln!("record {:?} failed: {e}", r.key);
            }
        });
    }
    // flush waits until every buffered record's callback has run.
    client.flush()?;
    client.close();

    let seen = seen.lock().unwrap_or_else(|e| e.into_inner());
    for (p, (n, failed)) in seen.iter() {
        println!("partition {p}: {n} records, {failed} failed");
    }
    let (n, failed) = seen.values().fold((0, 0), |a, v| (a.0 + v.0, a.1 + v.1));
    println!("callbacks ran for {n} records");
    match failed {
        0 => Ok(()),
        _ => Err(format!("{failed} records failed").into()),
    }
}
