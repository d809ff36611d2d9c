//! A first look at kafka-sync: connect, discover the cluster, create a topic,
//! and ask the brokers about it with raw requests.
//!
//! `cargo run --example quickstart` talks to the brokers in `KAFKA_SEEDS`
//! (default `127.0.0.1:9092`; `.ci/test-broker.sh start` starts one).

use std::time::Duration;

use kafka_sync::messages::*;
use kafka_sync::{Client, LogCrateLogger};

fn main() -> Result<(), kafka_sync::Error> {
    env_logger::init();
    let seeds = std::env::var("KAFKA_SEEDS").unwrap_or_else(|_| "127.0.0.1:9092".to_string());
    let client = Client::builder()
        .seed_brokers(seeds.split(','))
        .with_logger(LogCrateLogger)
        .request_timeout_overhead(Duration::from_secs(5))
        .build()?;

    client.ping()?;
    println!("connected to {seeds}");

    let snap = client.refresh_metadata(Some(&[]))?;
    println!(
        "cluster {:?} has {} broker(s); controller is {:?}",
        snap.cluster_id,
        snap.brokers.len(),
        snap.controller
    );
    for b in &snap.brokers {
        println!("  broker {} at {}", b.node_id, b.addr());
    }

    let topic = format!("quickstart-{}", std::process::id());
    let create = CreateTopicsRequest::default()
        .with_timeout_ms(10_000)
        .with_topics(vec![create_topics_request::CreatableTopic::default()
            .with_name(TopicName(topic.clone().into()))
            .with_num_partitions(3)
            .with_replication_factor(1)]);
    let resp = client.request(create)?;
    println!(
        "created topic {topic}: error code {}",
        resp.topics[0].error_code
    );

    let snap = client.refresh_metadata(Some(&[topic.as_str()]))?;
    if let Some(t) = snap.topics.get(&topic) {
        for p in &t.partitions {
            println!(
                "  partition {} is led by broker {} (epoch {})",
                p.partition, p.leader, p.leader_epoch
            );
        }
    }

    // ListOffsets is split per partition leader; request_sharded shows each piece.
    let parts = (0..3)
        .map(|p| {
            list_offsets_request::ListOffsetsPartition::default()
                .with_partition_index(p)
                .with_timestamp(-1)
        })
        .collect();
    let list = ListOffsetsRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_topics(vec![list_offsets_request::ListOffsetsTopic::default()
            .with_name(TopicName(topic.clone().into()))
            .with_partitions(parts)]);
    for shard in client.request_sharded(list) {
        let resp = shard.resp?;
        for p in resp.topics.iter().flat_map(|t| &t.partitions) {
            println!(
                "  broker {} says partition {} ends at offset {}",
                shard.meta.node_id, p.partition_index, p.offset
            );
        }
    }

    client.close();
    println!("closed; every client thread has exited");
    Ok(())
}
