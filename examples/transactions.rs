//! Produces records in transactions: one transaction commits, one aborts,
//! and a `read_committed` consumer sees only the committed records (a
//! `read_uncommitted` one sees both).
//!
//! `cargo run --example transactions` needs no broker: with `KAFKA_SEEDS`
//! unset it starts an in-process fake cluster of 3 brokers. With
//! `KAFKA_SEEDS=host:port,..` it talks to those brokers instead.

use std::any::Any;
use std::time::{Duration, Instant};

use kafka_sync::{Client, IsolationLevel, Offset, Record, TransactionEndTry};

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
            .topic(topic, 3)
            .build()?;
        Ok((cluster.seeds(), Box::new(cluster)))
    }
    #[cfg(not(feature = "fake"))]
    Ok((vec!["127.0.0.1:9092".into()], Box::new(topic.to_string())))
}

/// Reads the topic from the start until `want` records or 10 s.
fn read(seeds: &[String], topic: &str, level: IsolationLevel, want: usize) -> Result<Vec<String>> {
    let c = Client::builder()
        .seed_brokers(seeds.to_vec())
        .consume_topics([topic])
        .consume_reset_offset(Offset::new().at_start())
        .fetch_isolation_level(level)
        .build()?;
    let mut got = Vec::new();
    let end = Instant::now() + Duration::from_secs(10);
    while got.len() < want && Instant::now() < end {
        let f = c.poll_fetches_timeout(Duration::from_millis(200));
        f.each_error(|t, p, e| eprintln!("{t}/{p}: {e}"));
        f.each_record(|r| {
            got.push(String::from_utf8_lossy(r.value.as_deref().unwrap_or_default()).into_owned())
        });
    }
    c.close();
    got.sort();
    Ok(got)
}

fn main() -> Result<()> {
    env_logger::init();
    let topic = format!("transactions-{}", std::process::id());
    let (seeds, _cluster) = seeds(&topic)?;
    let p = Client::builder()
        .seed_brokers(seeds.clone())
        .allow_auto_topic_creation(true)
        .transactional_id(format!("example-txn-{}", std::process::id()))
        .transaction_timeout(Duration::from_secs(10))
        .build()?;

    // Outside a transaction a transactional client refuses to produce.
    let outside = p.produce_sync([Record::string("outside").with_topic(&topic)]);
    println!(
        "outside a transaction: {}",
        outside
            .first()
            .err()
            .map_or("accepted".into(), |e| e.to_string())
    );

    p.begin_transaction()?;
    let kept = ["kept-1", "kept-2", "kept-3"].map(|v| Record::string(v).with_topic(&topic));
    p.produce_sync(kept).first()?;
    p.end_transaction(TransactionEndTry::Commit)?;
    println!("committed a transaction of 3 records");

    p.begin_transaction()?;
    let dropped = ["dropped-1", "dropped-2"].map(|v| Record::string(v).with_topic(&topic));
    p.produce_sync(dropped).first()?;
    p.end_transaction(TransactionEndTry::Abort)?;
    println!("aborted a transaction of 2 records");
    p.close();

    let committed = read(&seeds, &topic, IsolationLevel::ReadCommitted, 3)?;
    println!("read_committed sees {}: {committed:?}", committed.len());
    let all = read(&seeds, &topic, IsolationLevel::ReadUncommitted, 5)?;
    println!("read_uncommitted sees {}: {all:?}", all.len());
    if committed != ["kept-1", "kept-2", "kept-3"] || all.len() != 5 {
        return Err("unexpected records".into());
    }
    Ok(())
}
