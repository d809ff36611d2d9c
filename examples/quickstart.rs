//! A first look at kafka-sync: connect, discover the cluster, create a topic,
//! and ask the brokers about it with raw requests.
//!
//! `cargo run --example quickstart` needs no broker: with `KAFKA_SEEDS` unset
//! it starts an in-process fake cluster of 3 brokers (`kafka_sync::fake`, the
//! default `fake` feature) and talks to that. With `KAFKA_SEEDS=host:port,..`
//! it talks to those brokers instead (`.ci/test-broker.sh start` starts one on
//! 127.0.0.1:9092).

use std::any::Any;
use std::time::Duration;

use kafka_sync::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_sync::messages::*;
use kafka_sync::{Client, ErrorCode, LogCrateLogger};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// The seed brokers to use, and whatever must stay alive while we use them.
fn seeds() -> Result<(Vec<String>, Box<dyn Any>)> {
    let env = std::env::var("KAFKA_SEEDS").unwrap_or_default();
    if !env.trim().is_empty() {
        println!("KAFKA_SEEDS is set: talking to the brokers at {env}.");
        let seeds = env.split(',').map(|s| s.trim().to_string()).collect();
        return Ok((seeds, Box::new(())));
    }
    #[cfg(feature = "fake")]
    {
        let cluster = kafka_sync::fake::Cluster::builder().brokers(3).build()?;
        println!(
            "No KAFKA_SEEDS set: started an in-process fake cluster with 3 brokers at {}.",
            cluster.seeds().join(", ")
        );
        println!("(Set KAFKA_SEEDS=host:port to talk to a real Kafka cluster instead.)\n");
        Ok((cluster.seeds(), Box::new(cluster)))
    }
    #[cfg(not(feature = "fake"))]
    {
        println!("No KAFKA_SEEDS set and the `fake` feature is off: trying 127.0.0.1:9092.");
        Ok((vec!["127.0.0.1:9092".into()], Box::new(())))
    }
}

fn main() -> Result<()> {
    env_logger::init();
    // Dropping `_cluster` at the end of main stops the fake cluster, if any.
    let (seeds, _cluster) = seeds()?;
    let client = Client::builder()
        .seed_brokers(seeds)
        .with_logger(LogCrateLogger)
        .request_timeout_overhead(Duration::from_secs(5))
        .build()?;

    client.ping()?;
    println!("Ping: a broker answered an ApiVersions request; the client is connected.");

    let snap = client.refresh_metadata(Some(&[]))?;
    println!("A Metadata request says the cluster has these brokers:");
    for b in &snap.brokers {
        println!("  broker {} at {}", b.node_id, b.addr());
    }
    if let Some(id) = snap.controller {
        println!("Broker {id} is the controller: admin requests such as CreateTopics go to it.");
    }

    let topic = format!("quickstart-{}", std::process::id());
    let create = CreateTopicsRequest::default()
        .with_timeout_ms(10_000)
        .with_topics(vec![create_topics_request::CreatableTopic::default()
            .with_name(TopicName(topic.clone().into()))
            .with_num_partitions(6)
            .with_replication_factor(1)]);
    let code = client.request(create)?.topics[0].error_code;
    match ErrorCode::from_code(code) {
        None => println!("\nCreated topic {topic} with 6 partitions (the controller answered error code 0: success)."),
        Some(e) => println!("\nCreating topic {topic} failed with {} ({code}).", e.name()),
    }

    let snap = client.refresh_metadata(Some(&[topic.as_str()]))?;
    println!("Every partition has a leader broker that takes its writes and serves its reads:");
    if let Some(t) = snap.topics.get(&topic) {
        for p in &t.partitions {
            println!(
                "  partition {} is led by broker {} (leader epoch {})",
                p.partition, p.leader, p.leader_epoch
            );
        }
    }

    // ListOffsets must reach each partition's leader: request_sharded splits
    // one request into one per leader and shows each broker's answer.
    let latest = |p| {
        ListOffsetsPartition::default()
            .with_partition_index(p)
            .with_timestamp(-1)
    };
    let topics = vec![ListOffsetsTopic::default()
        .with_name(TopicName(topic.clone().into()))
        .with_partitions((0..6).map(latest).collect())];
    // Replica id -1: a consumer's request (the default, 0, would be a follower's).
    let list = ListOffsetsRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_topics(topics);
    let shards = client.request_sharded(list);
    println!("\nAsked for the end offset of every partition; the client split the request into {} piece(s), one per leader:", shards.len());
    for shard in shards {
        let resp = shard.resp?;
        for p in resp.topics.iter().flat_map(|t| &t.partitions) {
            println!(
                "  broker {} says partition {} ends at offset {}",
                shard.meta.node_id, p.partition_index, p.offset
            );
        }
    }

    client.close();
    println!("\nClosed the client; every thread it started has exited.");
    Ok(())
}
