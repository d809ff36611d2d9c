//! Exactly-once ETL: two `GroupTransactSession` members read a topic in a
//! group, write each record's transform to another topic, and commit their
//! input offsets inside the same transactions; a `read_committed` reader
//! then finds every input record's transform exactly once.
//!
//! `cargo run --example eos_etl` needs no broker: with `KAFKA_SEEDS` unset
//! it starts an in-process fake cluster of 3 brokers. With
//! `KAFKA_SEEDS=host:port,..` it talks to those brokers instead.

use std::any::Any;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kafka_sync::{Client, GroupTransactSession, IsolationLevel, Offset, Record, TransactionEndTry};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

const RECORDS: usize = 2_000;

fn seeds(topics: &[&str]) -> Result<(Vec<String>, Box<dyn Any>)> {
    let env = std::env::var("KAFKA_SEEDS").unwrap_or_default();
    if !env.trim().is_empty() {
        return Ok((
            env.split(',').map(|s| s.trim().to_string()).collect(),
            Box::new(()),
        ));
    }
    #[cfg(feature = "fake")]
    {
        let mut b = kafka_sync::fake::Cluster::builder().brokers(3);
        for t in topics {
            b = b.topic(*t, 4);
        }
        let cluster = b.build()?;
        Ok((cluster.seeds(), Box::new(cluster)))
    }
    #[cfg(not(feature = "fake"))]
    Ok((vec!["127.0.0.1:9092".into()], Box::new(topics.len())))
}

/// One member: poll, transform, produce, end; until `stop`.
fn member(
    seeds: Vec<String>,
    names: [String; 3],
    id: usize,
    stop: Arc<AtomicBool>,
) -> Result<usize> {
    let [input, output, group] = names;
    let s = GroupTransactSession::new(
        Client::builder()
            .seed_brokers(seeds)
            .allow_auto_topic_creation(true)
            .consumer_group(group)
            .consume_topics([input])
            .consume_reset_offset(Offset::new().at_start())
            .fetch_isolation_level(IsolationLevel::ReadCommitted)
            .session_timeout(Duration::from_secs(6))
            .transactional_id(format!("eos-etl-{}-{id}", std::process::id()))
            .transaction_timeout(Duration::from_secs(10)),
    )?;
    let mut committed = 0;
    while !stop.load(Ordering::Acquire) {
        let fetches = s.poll_fetches_timeout(Duration::from_millis(200));
        if fetches.num_records() == 0 {
            continue;
        }
        s.begin()?;
        fetches.each_record(|r| {
            let v = String::from_utf8_lossy(r.value.as_deref().unwrap_or_default()).to_uppercase();
            let out = Record::key_string(
                String::from_utf8_lossy(r.key.as_deref().unwrap_or_default()),
                v,
            );
            // A failed record makes the commit abort; the records are read again.
            s.produce(out.with_topic(&output), |_, _| {});
        });
        if s.end(TransactionEndTry::Commit)? {
            committed += fetches.num_records();
        }
    }
    s.close();
    Ok(committed)
}

fn main() -> Result<()> {
    env_logger::init();
    let pid = std::process::id();
    let (input, output, group) = (
        format!("etl-in-{pid}"),
        format!("etl-out-{pid}"),
        format!("etl-{pid}"),
    );
    let (seeds, _cluster) = seeds(&[&input, &output])?;
    let p = Client::builder()
        .seed_brokers(seeds.clone())
        .allow_auto_topic_creation(true)
        .build()?;
    let records = (0..RECORDS)
        .map(|i| Record::key_string(format!("k{i}"), format!("record {i}")).with_topic(&input));
    p.produce_sync(records).first()?;
    println!("produced {RECORDS} input records");

    let stop = Arc::new(AtomicBool::new(false));
    let members: Vec<_> = (0..2)
        .map(|id| {
            let (seeds, stop) = (seeds.clone(), stop.clone());
            let names = [input.clone(), output.clone(), group.clone()];
            std::thread::spawn(move || member(seeds, names, id, stop))
        })
        .collect();

    let reader = Client::builder()
        .seed_brokers(seeds)
        .consume_topics([&output])
        .consume_reset_offset(Offset::new().at_start())
        .fetch_isolation_level(IsolationLevel::ReadCommitted)
        .build()?;
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let end = Instant::now() + Duration::from_secs(60);
    while seen.len() < RECORDS && Instant::now() < end {
        reader
            .poll_fetches_timeout(Duration::from_millis(200))
            .each_record(|r| {
                *seen
                    .entry(
                        String::from_utf8_lossy(r.value.as_deref().unwrap_or_default())
                            .into_owned(),
                    )
                    .or_default() += 1;
            });
    }
    stop.store(true, Ordering::Release);
    for (id, m) in members.into_iter().enumerate() {
        let n = m.join().map_err(|_| "member panicked")??;
        println!("member {id} committed transactions covering {n} input records");
    }
    let dups = seen.values().filter(|n| **n > 1).count();
    println!(
        "output: {} distinct transforms, {dups} duplicated, {} missing",
        seen.len(),
        RECORDS - seen.len().min(RECORDS)
    );
    if seen.len() != RECORDS || dups != 0 {
        return Err("not exactly once".into());
    }
    Ok(())
}
