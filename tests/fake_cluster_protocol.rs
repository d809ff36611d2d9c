//! The fake cluster's Kafka behaviour: produce and fetch, fetch sessions,
//! KIP-74 limits, idempotence, offsets, admin APIs and benchmark mode.
//! Driven by the raw client in `support/fake_raw.rs`, not the crate's client.
#![cfg(feature = "fake")]

mod support;

use support::fake_raw::*;

use std::time::{Duration, Instant};

use kafka_sync::fake::{BenchmarkMode, Cluster};
use kafka_sync::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_sync::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_sync::messages::*;

#[test]
fn produce_fetch_round_trip_and_list_offsets() {
    let cluster = Cluster::builder()
        .brokers(3)
        .topic("rt", 2)
        .build()
        .unwrap();
    let mut c = leader_of(&cluster, "rt", 1);
    assert_eq!(produce(&mut c, "rt", 1, batch(3, None)), (0, 0));
    assert_eq!(produce(&mut c, "rt", 1, batch(2, None)), (0, 3));
    let r = c.call(12, &fetch_req("rt", 1, 0)).unwrap();
    let p = &r.responses[0].partitions[0];
    assert_eq!(
        (
            p.error_code,
            p.high_watermark,
            p.last_stable_offset,
            p.log_start_offset
        ),
        (0, 5, 5, 0)
    );
    assert_eq!(
        check_batches(p.records.as_ref().unwrap()),
        vec![(0, 3), (3, 2)]
    );
    // From the middle of the second batch: the whole batch comes back.
    let r = c.call(12, &fetch_req("rt", 1, 4)).unwrap();
    assert_eq!(
        check_batches(r.responses[0].partitions[0].records.as_ref().unwrap()),
        vec![(3, 2)]
    );
    let r = c.call(12, &fetch_req("rt", 1, 6)).unwrap();
    assert_eq!(
        r.responses[0].partitions[0].error_code, 1,
        "OFFSET_OUT_OF_RANGE"
    );
    let lo = |ts: i64| {
        let p = ListOffsetsPartition::default()
            .with_partition_index(1)
            .with_timestamp(ts);
        let t = ListOffsetsTopic::default()
            .with_name(TopicName(s("rt")))
            .with_partitions(vec![p]);
        ListOffsetsRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_topics(vec![t])
    };
    let offset = |c: &mut Conn, ts| c.call(8, &lo(ts)).unwrap().topics[0].partitions[0].offset;
    assert_eq!(offset(&mut c, -2), 0);
    assert_eq!(offset(&mut c, -1), 5);
    assert_eq!(
        offset(&mut c, -3),
        2,
        "max timestamp: last record of the first batch"
    );
    assert_eq!(offset(&mut c, 1_001), 1);
    assert_eq!(offset(&mut c, 9_999), -1);
    assert_eq!(cluster.partition_log("rt", 1).len(), 2);
}

#[test]
fn fetch_long_poll_wakes_on_produce() {
    let cluster = Cluster::builder()
        .brokers(1)
        .topic("lp", 1)
        .build()
        .unwrap();
    let addr = cluster.seeds()[0].clone();
    let waiter = std::thread::spawn(move || {
        let mut c = Conn::connect(&addr).unwrap();
        let mut f = fetch_req("lp", 0, 0);
        f.max_wait_ms = 5_000;
        let t = Instant::now();
        let r = c.call(12, &f).unwrap();
        (
            t.elapsed(),
            r.responses[0].partitions[0]
                .records
                .as_ref()
                .map_or(0, |b| b.len()),
        )
    });
    // The long-poll fetch has reached the broker before the produce.
    assert!(wait_for(Duration::from_secs(5), || cluster
        .request_count(ApiKey::Fetch)
        >= 1));
    let mut c = Conn::connect(&cluster.seeds()[0]).unwrap();
    assert_eq!(produce(&mut c, "lp", 0, batch(1, None)).0, 0);
    let (took, bytes) = waiter.join().unwrap();
    assert!(bytes > 0);
    assert!(
        took < Duration::from_secs(2),
        "woken by the produce, took {took:?}"
    );
    // With no data, max_wait is honoured.
    let mut f = fetch_req("lp", 0, 1);
    f.max_wait_ms = 300;
    let t = Instant::now();
    c.call(12, &f).unwrap();
    assert!(t.elapsed() >= Duration::from_millis(290));
}

#[test]
fn fetch_session_goes_incremental() {
    let cluster = Cluster::builder()
        .brokers(1)
        .topic("fs", 2)
        .build()
        .unwrap();
    let mut c = Conn::connect(&cluster.seeds()[0]).unwrap();
    produce(&mut c, "fs", 0, batch(1, None));
    let mut f = fetch_req("fs", 0, 0);
    f.topics[0].partitions.push(
        FetchPartition::default()
            .with_partition(1)
            .with_partition_max_bytes(1 << 20),
    );
    f.session_epoch = 0;
    let full = c.call(12, &f).unwrap();
    assert_ne!(full.session_id, 0);
    assert_eq!(full.responses[0].partitions.len(), 2);
    // Incremental, nothing changed and no offsets moved: nothing to report.
    let inc = |epoch, parts: Vec<FetchPartition>| {
        FetchRequest::default()
            .with_session_id(full.session_id)
            .with_session_epoch(epoch)
            .with_max_bytes(1 << 20)
            .with_topics(if parts.is_empty() {
                vec![]
            } else {
                vec![FetchTopic::default()
                    .with_topic(TopicName(s("fs")))
                    .with_partitions(parts)]
            })
    };
    let r = c.call(12, &inc(1, vec![])).unwrap();
    assert_eq!(r.session_id, full.session_id);
    // Partition 0 still re-sends its data (the session's offset is 0).
    assert_eq!(
        r.responses
            .iter()
            .map(|t| t.partitions.len())
            .sum::<usize>(),
        1
    );
    let moved = FetchPartition::default()
        .with_partition(0)
        .with_fetch_offset(1)
        .with_partition_max_bytes(1 << 20);
    let r = c.call(12, &inc(2, vec![moved])).unwrap();
    assert_eq!(r.responses.len(), 0, "caught up: nothing changed");
    produce(&mut c, "fs", 1, batch(2, None));
    let r = c.call(12, &inc(3, vec![])).unwrap();
    let parts: Vec<i32> = r
        .responses
        .iter()
        .flat_map(|t| t.partitions.iter().map(|p| p.partition_index))
        .collect();
    assert_eq!(parts, vec![1], "only the partition with new data");
    assert_eq!(
        c.call(12, &inc(3, vec![])).unwrap().error_code,
        71,
        "INVALID_FETCH_SESSION_EPOCH"
    );
    let mut lost = inc(4, vec![]);
    lost.session_id = 999;
    assert_eq!(
        c.call(12, &lost).unwrap().error_code,
        70,
        "FETCH_SESSION_ID_NOT_FOUND"
    );
    let stats = cluster.fetch_session_stats();
    assert_eq!(
        (stats.full, stats.incremental, stats.created, stats.errors),
        (1, 3, 1, 2)
    );
}

#[test]
fn fetch_session_cache_evicts() {
    let cluster = Cluster::builder()
        .brokers(1)
        .topic("ev", 1)
        .fetch_session_cache_size(1)
        .build()
        .unwrap();
    let mut c = Conn::connect(&cluster.seeds()[0]).unwrap();
    let mut f = fetch_req("ev", 0, 0);
    f.session_epoch = 0;
    f.max_wait_ms = 0;
    let first = c.call(12, &f).unwrap().session_id;
    let second = c.call(12, &f).unwrap().session_id;
    assert_ne!(first, second);
    let inc = FetchRequest::default()
        .with_session_id(first)
        .with_session_epoch(1);
    assert_eq!(c.call(12, &inc).unwrap().error_code, 70);
    assert_eq!(cluster.fetch_session_stats().evicted, 1);
}

#[test]
fn kip74_first_batch_is_whole_even_past_limits() {
    let cluster = Cluster::builder()
        .brokers(1)
        .topic("big", 1)
        .build()
        .unwrap();
    let mut c = Conn::connect(&cluster.seeds()[0]).unwrap();
    produce(&mut c, "big", 0, batch(50, None));
    produce(&mut c, "big", 0, batch(50, None));
    let mut f = fetch_req("big", 0, 0);
    f.topics[0].partitions[0].partition_max_bytes = 10;
    let r = c.call(12, &f).unwrap();
    assert_eq!(
        check_batches(r.responses[0].partitions[0].records.as_ref().unwrap()),
        vec![(0, 50)]
    );
}

#[test]
fn idempotent_producer_sequences() {
    let cluster = Cluster::builder()
        .brokers(1)
        .topic("idem", 1)
        .build()
        .unwrap();
    let mut c = Conn::connect(&cluster.seeds()[0]).unwrap();
    let idem = InitProducerIdRequest::default()
        .with_transactional_id(None)
        .with_transaction_timeout_ms(60_000);
    let init = c.call(4, &idem).unwrap();
    assert_eq!((init.error_code, init.producer_epoch), (0, 0));
    let pid = init.producer_id.0;
    assert!(pid >= 0);
    assert_eq!(
        produce(&mut c, "idem", 0, batch(2, Some((pid, 0, 0)))),
        (0, 0)
    );
    assert_eq!(
        produce(&mut c, "idem", 0, batch(2, Some((pid, 0, 2)))),
        (0, 2)
    );
    assert_eq!(
        produce(&mut c, "idem", 0, batch(2, Some((pid, 0, 0)))),
        (0, 0),
        "duplicate: original offset"
    );
    assert_eq!(
        produce(&mut c, "idem", 0, batch(1, Some((pid, 0, 7)))).0,
        45,
        "OUT_OF_ORDER_SEQUENCE_NUMBER"
    );
    assert_eq!(cluster.partition_log("idem", 0).len(), 2);
    let bad = idem
        .with_producer_id(ProducerId(pid))
        .with_producer_epoch(-1);
    assert_eq!(c.call(4, &bad).unwrap().error_code, 42, "INVALID_REQUEST");
}

#[test]
fn acks_zero_gets_no_response() {
    let cluster = Cluster::builder()
        .brokers(1)
        .topic("a0", 1)
        .build()
        .unwrap();
    let mut c = Conn::connect(&cluster.seeds()[0]).unwrap();
    c.send(11, &produce_req("a0", 0, batch(1, None), 0))
        .unwrap();
    // The next response on this connection answers the next request.
    assert_eq!(c.call(3, &api_versions_req()).unwrap().error_code, 0);
    assert_eq!(cluster.partition_log("a0", 0).len(), 1);
    // An acks=0 error closes the connection instead.
    c.send(11, &produce_req("a0", 9, batch(1, None), 0))
        .unwrap();
    assert!(c.closed());
}

#[test]
fn message_too_large_and_describe_configs() {
    let cluster = Cluster::builder().brokers(1).build().unwrap();
    let mut c = Conn::connect(&cluster.seeds()[0]).unwrap();
    let topic = create_topics_request::CreatableTopic::default()
        .with_name(TopicName(s("small")))
        .with_num_partitions(1)
        .with_replication_factor(-1)
        .with_configs(vec![create_topics_request::CreatableTopicConfig::default()
            .with_name(s("max.message.bytes"))
            .with_value(Some(s("100")))]);
    let r = c
        .call(
            7,
            &CreateTopicsRequest::default().with_topics(vec![topic.clone()]),
        )
        .unwrap();
    assert_eq!(r.topics[0].error_code, 0);
    assert!(!r.topics[0].topic_id.is_nil());
    let r = c
        .call(7, &CreateTopicsRequest::default().with_topics(vec![topic]))
        .unwrap();
    assert_eq!(r.topics[0].error_code, 36, "TOPIC_ALREADY_EXISTS");
    assert_eq!(produce(&mut c, "small", 0, batch(1, None)).0, 0);
    assert_eq!(
        produce(&mut c, "small", 0, batch(30, None)).0,
        10,
        "MESSAGE_TOO_LARGE"
    );
    let res = describe_configs_request::DescribeConfigsResource::default()
        .with_resource_type(2)
        .with_resource_name(s("small"))
        .with_configuration_keys(Some(vec![s("max.message.bytes")]));
    let r = c
        .call(
            4,
            &DescribeConfigsRequest::default().with_resources(vec![res]),
        )
        .unwrap();
    let cfg = &r.results[0].configs;
    assert_eq!(cfg.len(), 1);
    assert_eq!(cfg[0].value.as_ref().map(|v| v.as_str()), Some("100"));
    assert_eq!(cfg[0].config_source, 1, "DYNAMIC_TOPIC_CONFIG");
    let broker = describe_configs_request::DescribeConfigsResource::default()
        .with_resource_type(4)
        .with_resource_name(s("0"));
    let r = c
        .call(
            4,
            &DescribeConfigsRequest::default().with_resources(vec![broker]),
        )
        .unwrap();
    assert!(r.results[0]
        .configs
        .iter()
        .any(|c| c.name.as_str() == "message.max.bytes"));
}

#[test]
fn auto_create_delete_and_create_partitions() {
    let cluster = Cluster::builder()
        .brokers(2)
        .default_partitions(3)
        .build()
        .unwrap();
    let mut c = Conn::connect(&cluster.seeds()[0]).unwrap();
    let first = metadata(&mut c, &["auto"]);
    assert_eq!(
        first.topics[0].error_code, 5,
        "LEADER_NOT_AVAILABLE while being created"
    );
    assert_eq!(metadata(&mut c, &["auto"]).topics[0].partitions.len(), 3);
    let inv = metadata(&mut c, &["bad topic"]);
    assert_eq!(inv.topics[0].error_code, 17, "INVALID_TOPIC_EXCEPTION");
    let grow = create_partitions_request::CreatePartitionsTopic::default()
        .with_name(TopicName(s("auto")))
        .with_count(5);
    let r = c
        .call(
            3,
            &CreatePartitionsRequest::default().with_topics(vec![grow.clone()]),
        )
        .unwrap();
    assert_eq!(r.results[0].error_code, 0);
    let r = c
        .call(
            3,
            &CreatePartitionsRequest::default().with_topics(vec![grow]),
        )
        .unwrap();
    assert_eq!(r.results[0].error_code, 37, "INVALID_PARTITIONS");
    let del = DeleteTopicsRequest::default().with_topic_names(vec![TopicName(s("auto"))]);
    assert_eq!(c.call(5, &del).unwrap().responses[0].error_code, 0);
    assert_eq!(c.call(5, &del).unwrap().responses[0].error_code, 3);
    let off = Cluster::builder()
        .brokers(1)
        .auto_create_topics(false)
        .build()
        .unwrap();
    let mut c = Conn::connect(&off.seeds()[0]).unwrap();
    assert_eq!(
        metadata(&mut c, &["nope"]).topics[0].error_code,
        3,
        "UNKNOWN_TOPIC_OR_PARTITION"
    );
}

#[test]
fn offset_for_leader_epoch_and_truncate() {
    let cluster = Cluster::builder()
        .brokers(1)
        .topic("ep", 1)
        .build()
        .unwrap();
    let mut c = Conn::connect(&cluster.seeds()[0]).unwrap();
    produce(&mut c, "ep", 0, batch(3, None));
    assert_eq!(cluster.truncate("ep", 0, 0).unwrap(), 0);
    produce(&mut c, "ep", 0, batch(2, None));
    let p = offset_for_leader_epoch_request::OffsetForLeaderPartition::default()
        .with_partition(0)
        .with_current_leader_epoch(1)
        .with_leader_epoch(0);
    let t = offset_for_leader_epoch_request::OffsetForLeaderTopic::default()
        .with_topic(TopicName(s("ep")))
        .with_partitions(vec![p]);
    let r = c
        .call(
            4,
            &OffsetForLeaderEpochRequest::default().with_topics(vec![t]),
        )
        .unwrap();
    let e = &r.topics[0].partitions[0];
    assert_eq!(
        (e.error_code, e.leader_epoch, e.end_offset),
        (0, 0, 0),
        "epoch 0 ended where epoch 1 began"
    );
    let batches = cluster.partition_log("ep", 0);
    assert_eq!(check_batches(&batches[0]), vec![(0, 2)]);
    assert_eq!(
        i32::from_be_bytes(batches[0][12..16].try_into().unwrap()),
        1,
        "partition leader epoch stamped"
    );
}

#[test]
fn benchmark_mode_serves_prebuilt_stream() {
    let mode = BenchmarkMode {
        record_size: 50,
        records_per_batch: 100,
        ..BenchmarkMode::default()
    };
    let cluster = Cluster::builder()
        .brokers(1)
        .topic("bench", 1)
        .benchmark_mode(mode)
        .build()
        .unwrap();
    let mut c = Conn::connect(&cluster.seeds()[0]).unwrap();
    assert_eq!(produce(&mut c, "bench", 0, batch(5, None)), (0, 0));
    assert_eq!(produce(&mut c, "bench", 0, batch(5, None)), (0, 5));
    assert!(
        cluster.partition_log("bench", 0).is_empty(),
        "nothing stored"
    );
    let mut f = fetch_req("bench", 0, 1000);
    f.topics[0].partitions[0].partition_max_bytes = 20_000;
    let r = c.call(12, &f).unwrap();
    let batches = check_batches(r.responses[0].partitions[0].records.as_ref().unwrap());
    assert!(!batches.is_empty());
    assert_eq!(batches[0], (1000, 100));
    assert_eq!(
        r.responses[0].partitions[0].high_watermark,
        1000 + 100 * batches.len() as i64
    );
}
