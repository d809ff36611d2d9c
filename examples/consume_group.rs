//! Two members of one consumer group split a topic's partitions, consume
//! 1,000 records between them, and autocommit what they polled.
//!
//! `cargo run --example consume_group` needs no broker: with `KAFKA_SEEDS`
//! unset it starts an in-process fake cluster of 3 brokers. With
//! `KAFKA_SEEDS=host:port,..` it talks to those brokers instead.

use std::any::Any;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use kafka_sync::{Client, Offset, Record};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

const TOPIC: &str = "consume-group";

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
            .topic(TOPIC, 6)
            .build()?;
        Ok((cluster.seeds(), Box::new(cluster)))
    }
    #[cfg(not(feature = "fake"))]
    Ok((vec!["127.0.0.1:9092".into()], Box::new(())))
}

/// A member of the group; its callbacks print what it is given.
fn member(seeds: &[String], group: &str, name: &'static str) -> Result<Client> {
    Ok(Client::builder()
        .seed_brokers(seeds.to_vec())
        .allow_auto_topic_creation(true)
        .consumer_group(group)
        .consume_topics([TOPIC])
        .consume_reset_offset(Offset::new().at_start())
        .session_timeout(Duration::from_secs(6))
        .heartbeat_interval(Duration::from_millis(500))
        .auto_commit_interval(Duration::from_secs(1))
        .on_partitions_assigned(move |_, m| println!("{name}: assigned {m:?}"))
        .on_partitions_revoked(move |client, m| {
            // A custom revoke replaces the default commit: commit ourselves.
            println!("{name}: revoked {m:?}");
            if let Err(e) = client.commit_uncommitted_offsets() {
                eprintln!("{name}: commit on revoke failed: {e}");
            }
        })
        .build()?)
}

fn main() -> Result<()> {
    env_logger::init();
    let (seeds, _cluster) = seeds()?;
    let group = format!("example-group-{}", std::process::id());

    let a = member(&seeds, &group, "member a")?;
    let b = member(&seeds, &group, "member b")?;

    let producer = Client::builder()
        .seed_brokers(seeds.clone())
        .allow_auto_topic_creation(true)
        .build()?;
    let records =
        (0..1000).map(|i| Record::key_string(format!("k{i}"), format!("v{i}")).with_topic(TOPIC));
    producer.produce_sync(records).first()?;
    println!("produced 1000 records to {TOPIC}");

    let mut per_member: BTreeMap<&str, usize> = BTreeMap::new();
    let end = Instant::now() + Duration::from_secs(60);
    while per_member.values().sum::<usize>() < 1000 && Instant::now() < end {
        for (name, c) in [("member a", &a), ("member b", &b)] {
            let fetches = c.poll_fetches_timeout(Duration::from_millis(100));
            fetches.each_error(|t, p, e| eprintln!("{name}: {t}/{p}: {e}"));
            *per_member.entry(name).or_default() += fetches.num_records();
        }
    }
    println!("consumed: {per_member:?}");

    // A final synchronous commit before leaving (autocommit commits what was
    // polled before the latest poll; this commits the latest too).
    for c in [&a, &b] {
        c.commit_uncommitted_offsets()?;
    }
    let mut committed: BTreeMap<i32, i64> = BTreeMap::new();
    for c in [&a, &b] {
        for (p, eo) in c.committed_offsets().remove(TOPIC).unwrap_or_default() {
            committed.insert(p, eo.offset);
        }
    }
    println!("committed offsets per partition: {committed:?}");
    b.close();
    a.close();
    producer.close();
    Ok(())
}
