//! The fake cluster rejects what the Java broker rejects, with Java's error
//! codes: ApiVersions software names, CreateTopics and CreatePartitions
//! arguments, produce requests, and AlterReplicaLogDirs. One test per rule, driven by the raw
//! client in `support/fake_raw.rs`, not the crate's client.
#![cfg(feature = "fake")]

mod support;

use support::fake_raw::*;

use bytes::{Bytes, BytesMut};
use kafka_sync::fake::Cluster;
use kafka_sync::messages::create_partitions_request::CreatePartitionsTopic;
use kafka_sync::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use kafka_sync::messages::*;

const MESSAGE_TOO_LARGE: i16 = 10;
const INVALID_TOPIC_EXCEPTION: i16 = 17;
const INVALID_REQUIRED_ACKS: i16 = 21;
const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
const INVALID_PARTITIONS: i16 = 37;
const INVALID_REPLICATION_FACTOR: i16 = 38;
const INVALID_CONFIG: i16 = 40;
const INVALID_REQUEST: i16 = 42;
const INVALID_RECORD: i16 = 87;

fn cluster(brokers: i32) -> Cluster {
    Cluster::builder().brokers(brokers).build().unwrap()
}

fn conn(cluster: &Cluster) -> Conn {
    Conn::connect(&cluster.seeds()[0]).unwrap()
}

fn new_topic(name: &str, partitions: i32, rf: i16) -> CreatableTopic {
    CreatableTopic::default()
        .with_name(TopicName(s(name)))
        .with_num_partitions(partitions)
        .with_replication_factor(rf)
}

/// CreateTopics v7 of one topic: (error code, error message).
fn create(c: &mut Conn, topic: CreatableTopic, validate_only: bool) -> (i16, String) {
    let req = CreateTopicsRequest::default()
        .with_topics(vec![topic])
        .with_validate_only(validate_only);
    let r = c.call(7, &req).unwrap();
    let t = &r.topics[0];
    let msg = t.error_message.as_ref().map(|m| m.to_string());
    (t.error_code, msg.unwrap_or_default())
}

fn software(name: &str, version: &str) -> ApiVersionsRequest {
    ApiVersionsRequest::default()
        .with_client_software_name(s(name))
        .with_client_software_version(s(version))
}

#[test]
fn api_versions_v3_rejects_software_names_java_rejects() {
    let cluster = cluster(1);
    let mut c = conn(&cluster);
    let bad = [
        ("", "1.0"),
        ("kafka-sync", ""),
        ("-lead", "1"),
        ("trail-", "1"),
        ("a b", "1"),
        ("ok", "1.0."),
        ("ok", "1.0+build"),
        ("caf\u{e9}", "1"),
        ("under_score", "1"),
    ];
    for v in [3, 4] {
        for (name, version) in bad {
            let r = c.call(v, &software(name, version)).unwrap();
            assert_eq!(r.error_code, INVALID_REQUEST, "v{v} {name:?} {version:?}");
            // Java's getErrorResponse lists versions only for UNSUPPORTED_VERSION.
            assert!(r.api_keys.is_empty(), "v{v} {name:?} {version:?}");
        }
    }
    // The connection stays usable, and valid names are answered in full.
    for (name, version) in [("a", "9"), ("kafka-sync", "0.1.0"), ("A.b-9", "1-rc.2")] {
        let r = c.call(3, &software(name, version)).unwrap();
        assert_eq!(r.error_code, 0, "{name:?} {version:?}");
        assert!(!r.api_keys.is_empty());
    }
}

#[test]
fn api_versions_below_v3_carries_no_software_name_to_check() {
    let cluster = cluster(1);
    let mut c = conn(&cluster);
    for v in 0..3 {
        let r = c.call(v, &ApiVersionsRequest::default()).unwrap();
        assert_eq!(r.error_code, 0, "v{v}");
        assert!(!r.api_keys.is_empty(), "v{v}");
    }
}

#[test]
fn create_topics_rejects_illegal_characters() {
    let cluster = cluster(1);
    let mut c = conn(&cluster);
    for name in ["bad topic", "a/b", "t\u{e9}", "a:b", "x*"] {
        let (code, msg) = create(&mut c, new_topic(name, 1, 1), false);
        assert_eq!(code, INVALID_TOPIC_EXCEPTION, "{name:?}");
        assert!(msg.contains("ASCII alphanumerics"), "{name:?}: {msg}");
    }
    assert_eq!(create(&mut c, new_topic("Ok.name_9-x", 1, 1), false).0, 0);
}

#[test]
fn create_topics_rejects_names_longer_than_249() {
    let cluster = cluster(1);
    let mut c = conn(&cluster);
    let (code, msg) = create(&mut c, new_topic(&"x".repeat(250), 1, 1), false);
    assert_eq!(code, INVALID_TOPIC_EXCEPTION);
    assert!(msg.contains("longer than 249"), "{msg}");
    assert_eq!(
        create(&mut c, new_topic(&"x".repeat(249), 1, 1), false).0,
        0
    );
}

#[test]
fn create_topics_rejects_empty_dot_and_dot_dot() {
    let cluster = cluster(1);
    let mut c = conn(&cluster);
    for name in ["", ".", ".."] {
        let (code, _) = create(&mut c, new_topic(name, 1, 1), false);
        assert_eq!(code, INVALID_TOPIC_EXCEPTION, "{name:?}");
    }
    assert_eq!(create(&mut c, new_topic("...", 1, 1), false).0, 0);
}

#[test]
fn create_topics_rejects_names_colliding_on_dot_and_underscore() {
    let cluster = cluster(1);
    let mut c = conn(&cluster);
    assert_eq!(create(&mut c, new_topic("metrics.a", 1, 1), false).0, 0);
    let (code, msg) = create(&mut c, new_topic("metrics_a", 1, 1), false);
    assert_eq!(code, INVALID_TOPIC_EXCEPTION);
    assert!(
        msg.contains("collides with existing topic: metrics.a"),
        "{msg}"
    );
    assert_eq!(create(&mut c, new_topic("metrics_b", 1, 1), false).0, 0);
}

#[test]
fn create_topics_rejects_replication_above_the_live_brokers() {
    let cluster = cluster(3);
    let mut c = conn(&cluster);
    let (code, msg) = create(&mut c, new_topic("four", 1, 4), false);
    assert_eq!(code, INVALID_REPLICATION_FACTOR);
    assert!(msg.contains("only 3 broker(s)"), "{msg}");
    cluster.stop_broker(2).unwrap();
    for validate_only in [true, false] {
        let (code, msg) = create(&mut c, new_topic("three", 1, 3), validate_only);
        assert_eq!(
            code, INVALID_REPLICATION_FACTOR,
            "validate_only {validate_only}"
        );
        assert!(msg.contains("only 2 broker(s)"), "{msg}");
        // -1 is the default, 3 on a cluster of 3: too many with one down.
        let (code, _) = create(&mut c, new_topic("default", 1, -1), validate_only);
        assert_eq!(code, INVALID_REPLICATION_FACTOR);
    }
    assert_eq!(create(&mut c, new_topic("two", 1, 2), false).0, 0);
    cluster.start_broker(2).unwrap();
    assert_eq!(create(&mut c, new_topic("three", 1, 3), false).0, 0);
}

#[test]
fn create_topics_rejects_non_positive_partition_counts() {
    let cluster = cluster(1);
    let mut c = conn(&cluster);
    for n in [0, -2, i32::MIN] {
        let (code, _) = create(
            &mut c,
            new_topic(&format!("p{}", n.unsigned_abs()), n, 1),
            false,
        );
        assert_eq!(code, INVALID_PARTITIONS, "{n}");
    }
    // -1 is the broker's default.
    assert_eq!(create(&mut c, new_topic("p-default", -1, 1), false).0, 0);
}

#[test]
fn create_topics_rejects_replication_factor_zero_or_below_minus_one() {
    let cluster = cluster(1);
    let mut c = conn(&cluster);
    for rf in [0, -2, i16::MIN] {
        let (code, msg) = create(&mut c, new_topic("rf", 1, rf), false);
        assert_eq!(code, INVALID_REPLICATION_FACTOR, "{rf}");
        assert!(msg.contains("-1 to use the default"), "{msg}");
    }
    // ReplicationControlManager checks the replication factor first.
    assert_eq!(
        create(&mut c, new_topic("both", 0, 0), false).0,
        INVALID_REPLICATION_FACTOR
    );
    assert_eq!(create(&mut c, new_topic("rf", 1, -1), false).0, 0);
}

#[test]
fn create_topics_rejects_null_config_values() {
    let cluster = cluster(1);
    let mut c = conn(&cluster);
    let cfg = CreatableTopicConfig::default()
        .with_name(s("retention.ms"))
        .with_value(None);
    let (code, msg) = create(
        &mut c,
        new_topic("cfg", 1, 1).with_configs(vec![cfg]),
        false,
    );
    assert_eq!(code, INVALID_CONFIG);
    assert!(msg.contains("retention.ms"), "{msg}");
    assert!(cluster.leader("cfg", 0).is_none(), "not created");
}

#[test]
fn create_partitions_rejects_replication_above_the_live_brokers() {
    let cluster = Cluster::builder()
        .brokers(3)
        .topic("grow", 1)
        .build()
        .unwrap();
    let mut c = conn(&cluster);
    let grow =
        CreatePartitionsRequest::default().with_topics(vec![CreatePartitionsTopic::default()
            .with_name(TopicName(s("grow")))
            .with_count(2)]);
    cluster.stop_broker(2).unwrap();
    let r = c.call(3, &grow).unwrap();
    assert_eq!(r.results[0].error_code, INVALID_REPLICATION_FACTOR);
    assert!(cluster.leader("grow", 1).is_none(), "not grown");
    cluster.start_broker(2).unwrap();
    assert_eq!(c.call(3, &grow).unwrap().results[0].error_code, 0);
}

/// Produce v11 of `records` with `acks`; the partition's error code.
fn produce_acks(c: &mut Conn, topic: &str, partition: i32, records: Bytes, acks: i16) -> i16 {
    let resp = c
        .call(11, &produce_req(topic, partition, records, acks))
        .unwrap();
    resp.responses[0].partition_responses[0].error_code
}

#[test]
fn produce_rejects_acks_outside_minus_one_zero_one() {
    let cluster = Cluster::builder()
        .brokers(1)
        .topic("acks", 1)
        .build()
        .unwrap();
    let mut c = conn(&cluster);
    for acks in [2, -2, 3, i16::MAX] {
        assert_eq!(
            produce_acks(&mut c, "acks", 0, batch(1, None), acks),
            INVALID_REQUIRED_ACKS,
            "acks {acks}"
        );
        // KafkaApis answers unknown partitions before ReplicaManager looks at acks.
        assert_eq!(
            produce_acks(&mut c, "acks", 7, batch(1, None), acks),
            UNKNOWN_TOPIC_OR_PARTITION,
            "acks {acks}"
        );
        assert_eq!(
            produce_acks(&mut c, "nope", 0, batch(1, None), acks),
            UNKNOWN_TOPIC_OR_PARTITION,
            "acks {acks}"
        );
    }
    assert!(cluster.partition_log("acks", 0).is_empty());
    assert_eq!(produce_acks(&mut c, "acks", 0, batch(1, None), 1), 0);
}

#[test]
fn produce_rejects_batches_over_the_default_max_message_bytes() {
    let cluster = Cluster::builder()
        .brokers(1)
        .topic("big", 1)
        .build()
        .unwrap();
    let mut c = conn(&cluster);
    // Java's default max.message.bytes: 1 MiB + 12 bytes of log overhead.
    assert_eq!(
        produce(&mut c, "big", 0, batch_of_size(1_048_589)).0,
        MESSAGE_TOO_LARGE
    );
    assert!(cluster.partition_log("big", 0).is_empty());
    assert_eq!(produce(&mut c, "big", 0, batch_of_size(1_048_588)).0, 0);
}

#[test]
fn produce_rejects_batches_over_the_topic_max_message_bytes() {
    let cluster = cluster(1);
    let mut c = conn(&cluster);
    let cfg = CreatableTopicConfig::default()
        .with_name(s("max.message.bytes"))
        .with_value(Some(s("200")));
    let topic = new_topic("small", 1, 1).with_configs(vec![cfg]);
    assert_eq!(create(&mut c, topic, false).0, 0);
    assert_eq!(
        produce(&mut c, "small", 0, batch_of_size(201)).0,
        MESSAGE_TOO_LARGE
    );
    assert_eq!(produce(&mut c, "small", 0, batch_of_size(200)).0, 0);
}

#[test]
fn produce_rejects_a_batch_whose_base_offset_is_not_zero() {
    let cluster = Cluster::builder()
        .brokers(1)
        .topic("based", 1)
        .build()
        .unwrap();
    let mut c = conn(&cluster);
    // The base offset is outside the CRC, so the batch stays otherwise valid.
    let mut b = BytesMut::from(&batch(2, None)[..]);
    b[..8].copy_from_slice(&5i64.to_be_bytes());
    assert_eq!(produce(&mut c, "based", 0, b.freeze()).0, INVALID_RECORD);
    assert!(cluster.partition_log("based", 0).is_empty());
    assert_eq!(produce(&mut c, "based", 0, batch(2, None)).0, 0);
}

#[test]
fn a_raw_api_versions_request_gets_the_clients_software_name() {
    let cluster = Cluster::builder().brokers(1).build().unwrap();
    let c = kafka_sync::Client::builder()
        .seed_brokers(cluster.seeds())
        .build()
        .unwrap();
    // Left empty by the caller: the client fills in its name, as kgo does,
    // so the broker's KIP-511 validation passes.
    let resp = c.request(ApiVersionsRequest::default()).unwrap();
    assert_eq!(resp.error_code, 0);
    c.close();
}

const REPLICA_NOT_AVAILABLE: i16 = 9;
const LOG_DIR_NOT_FOUND: i16 = 57;

/// AlterReplicaLogDirs v2 of `partitions` of `topic` to `dir`, on broker
/// `broker`: each partition's error code.
fn alter_dir(
    cluster: &Cluster,
    broker: usize,
    dir: &str,
    topic: &str,
    partitions: &[i32],
) -> Vec<(i32, i16)> {
    use alter_replica_log_dirs_request::{AlterReplicaLogDir, AlterReplicaLogDirTopic};
    let req = AlterReplicaLogDirsRequest::default().with_dirs(vec![AlterReplicaLogDir::default()
        .with_path(s(dir))
        .with_topics(vec![AlterReplicaLogDirTopic::default()
            .with_name(TopicName(s(topic)))
            .with_partitions(partitions.to_vec())])]);
    let mut c = Conn::connect(&cluster.seeds()[broker]).unwrap();
    let r = c.call(2, &req).unwrap();
    assert!(r.results.iter().all(|t| *t.topic_name == *topic), "{r:?}");
    let mut out: Vec<(i32, i16)> = r
        .results
        .iter()
        .flat_map(|t| {
            t.partitions
                .iter()
                .map(|p| (p.partition_index, p.error_code))
        })
        .collect();
    out.sort();
    out
}

fn two_dir_cluster(topic: &str) -> Cluster {
    let cluster = Cluster::builder()
        .brokers(3)
        .log_dirs(["/data/a", "/data/b"])
        .build()
        .unwrap();
    let mut c = conn(&cluster);
    assert_eq!(create(&mut c, new_topic(topic, 3, 1), false).0, 0);
    cluster
}

#[test]
fn alter_replica_log_dirs_moves_the_brokers_own_replicas() {
    let cluster = two_dir_cluster("dirs");
    let leader = cluster.leader("dirs", 0).unwrap().0;
    let dir = || cluster.replica_log_dir("dirs", 0, leader);
    assert_eq!(
        dir().as_deref(),
        Some("/data/a"),
        "replicas start in the first"
    );
    for to in ["/data/b", "/data/a"] {
        let moved = alter_dir(&cluster, leader as usize, to, "dirs", &[0]);
        assert_eq!(moved, vec![(0, 0)]);
        assert_eq!(dir().as_deref(), Some(to));
    }
}

#[test]
fn alter_replica_log_dirs_refuses_a_directory_not_in_log_dirs() {
    let cluster = two_dir_cluster("dirs");
    let leader = cluster.leader("dirs", 0).unwrap().0;
    assert_eq!(
        alter_dir(&cluster, leader as usize, "/data/c", "dirs", &[0]),
        vec![(0, LOG_DIR_NOT_FOUND)]
    );
    assert_eq!(
        cluster.replica_log_dir("dirs", 0, leader).as_deref(),
        Some("/data/a")
    );
}

#[test]
fn alter_replica_log_dirs_answers_replica_not_available_for_another_brokers_replica() {
    let cluster = two_dir_cluster("dirs");
    let leader = cluster.leader("dirs", 0).unwrap().0;
    let other = (leader + 1) % 3;
    assert_eq!(cluster.replica_log_dir("dirs", 0, other), None);
    assert_eq!(
        alter_dir(&cluster, other as usize, "/data/b", "dirs", &[0]),
        vec![(0, REPLICA_NOT_AVAILABLE)]
    );
}

#[test]
fn alter_replica_log_dirs_answers_unknown_topic_or_partition() {
    let cluster = two_dir_cluster("dirs");
    assert_eq!(
        alter_dir(&cluster, 0, "/data/b", "nope", &[0]),
        vec![(0, UNKNOWN_TOPIC_OR_PARTITION)]
    );
    assert_eq!(
        alter_dir(&cluster, 0, "/data/b", "dirs", &[7]),
        vec![(7, UNKNOWN_TOPIC_OR_PARTITION)]
    );
}

#[test]
fn alter_replica_log_dirs_refuses_names_too_long_for_a_future_dir() {
    // "<topic>-<partition>.<32 hex>-future" must fit in 255 bytes (Java
    // ReplicaManager.alterReplicaLogDirs, KAFKA-4893): a legal 249-byte
    // topic name does not.
    let long = "t".repeat(249);
    let cluster = two_dir_cluster(&long);
    let leader = cluster.leader(&long, 0).unwrap().0;
    assert_eq!(
        alter_dir(&cluster, leader as usize, "/data/b", &long, &[0]),
        vec![(0, INVALID_TOPIC_EXCEPTION)]
    );
}
