//! Against the real test broker (tansu; see `.ci/test-broker.sh`). Under CI a
//! missing broker fails these tests.

mod support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kafka_sync::messages::*;
use kafka_sync::{Client, Error};
use support::{random_topic, require_broker, seeds};

fn client() -> Client {
    support::init_logging();
    Client::builder().seed_brokers(seeds()).build().unwrap()
}

fn create_topic(c: &Client, name: &str, partitions: i32) -> CreateTopicsResponse {
    let topic = create_topics_request::CreatableTopic::default()
        .with_name(TopicName(name.to_string().into()))
        .with_num_partitions(partitions)
        .with_replication_factor(1);
    c.request(
        CreateTopicsRequest::default()
            .with_topics(vec![topic])
            .with_timeout_ms(10_000),
    )
    .unwrap()
}

fn metadata_for(c: &Client, name: &str) -> MetadataResponse {
    let t = metadata_request::MetadataRequestTopic::default()
        .with_name(Some(TopicName(name.to_string().into())));
    c.request(
        MetadataRequest::default()
            .with_topics(Some(vec![t]))
            .with_allow_auto_topic_creation(false),
    )
    .unwrap()
}

#[test]
fn api_versions_are_negotiated_and_printed() {
    if !require_broker() {
        return;
    }
    let c = client();
    c.ping().unwrap();
    let seed = c.seed_brokers()[0].id();
    let ranges = c
        .broker_api_versions(seed)
        .expect("versions negotiated after ping");
    assert!(ranges.len() >= 10, "{ranges:?}");
    println!(
        "{:<28} {:>9} {:>10} {:>7}",
        "api", "broker", "client max", "chosen"
    );
    let mut chosen_any = 0;
    for (key, min, max) in &ranges {
        let Ok(k) = ApiKey::try_from(*key) else {
            continue;
        };
        let ours = k.valid_versions();
        let chosen = ours.max.min(*max);
        if chosen >= *min.max(&ours.min) {
            chosen_any += 1;
        }
        println!(
            "{:<28} {:>4}..{:<4} {:>10} {:>7}",
            format!("{k:?}"),
            min,
            max,
            ours.max,
            chosen
        );
    }
    assert!(chosen_any >= 10);
    // The versions the client actually used: Metadata at min(ours, broker's).
    let meta = ranges.iter().find(|r| r.0 == 3).unwrap();
    assert!(meta.2 >= 1);
    c.close();
}

#[test]
fn create_topic_then_metadata_shows_six_partitions() {
    if !require_broker() {
        return;
    }
    let c = client();
    let name = random_topic("six");
    let created = create_topic(&c, &name, 6);
    assert_eq!(created.topics.len(), 1);
    assert_eq!(created.topics[0].error_code, 0, "{created:?}");
    let meta = metadata_for(&c, &name);
    let t = meta
        .topics
        .iter()
        .find(|t| t.name.as_ref().map(|n| n.0.as_str()) == Some(name.as_str()))
        .unwrap();
    assert_eq!(t.error_code, 0);
    assert_eq!(t.partitions.len(), 6);
    // The raw Metadata response also fed the client's cache.
    let snap = c.metadata();
    assert_eq!(snap.topics.get(&name).map(|t| t.partitions.len()), Some(6));
    assert!(!snap.brokers.is_empty());
    c.close();
}

#[test]
fn raw_requests_round_trip() {
    if !require_broker() {
        return;
    }
    let c = client();
    let name = random_topic("raw");
    // tansu's DescribeConfigs reports only configs set explicitly: set one.
    let cfg = create_topics_request::CreatableTopicConfig::default()
        .with_name("retention.ms".into())
        .with_value(Some("3600000".into()));
    let topic = create_topics_request::CreatableTopic::default()
        .with_name(TopicName(name.clone().into()))
        .with_num_partitions(3)
        .with_replication_factor(1)
        .with_configs(vec![cfg]);
    let created = c
        .request(
            CreateTopicsRequest::default()
                .with_topics(vec![topic])
                .with_timeout_ms(10_000),
        )
        .unwrap();
    assert_eq!(created.topics[0].error_code, 0);

    let meta = c.request(MetadataRequest::default()).unwrap();
    assert!(!meta.brokers.is_empty());
    assert!(meta
        .topics
        .iter()
        .any(|t| t.name.as_ref().map(|n| n.0.as_str()) == Some(name.as_str())));

    let parts = (0..3)
        .map(|p| {
            list_offsets_request::ListOffsetsPartition::default()
                .with_partition_index(p)
                .with_timestamp(-2)
        })
        .collect();
    let lo = ListOffsetsRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_topics(vec![list_offsets_request::ListOffsetsTopic::default()
            .with_name(TopicName(name.clone().into()))
            .with_partitions(parts)]);
    let resp = c.request(lo).unwrap();
    let n: usize = resp.topics.iter().map(|t| t.partitions.len()).sum();
    assert_eq!(n, 3);
    for p in resp.topics.iter().flat_map(|t| &t.partitions) {
        assert_eq!(p.error_code, 0);
        assert_eq!(p.offset, 0, "empty partition starts at 0");
    }

    let dc = DescribeConfigsRequest::default().with_resources(vec![
        describe_configs_request::DescribeConfigsResource::default()
            .with_resource_type(2)
            .with_resource_name(name.clone().into()),
    ]);
    let resp = c.request(dc).unwrap();
    println!("{resp:?}");
    assert_eq!(resp.results.len(), 1, "{resp:?}");
    assert_eq!(resp.results[0].error_code, 0, "{resp:?}");
    let retention = resp.results[0]
        .configs
        .iter()
        .find(|c| c.name.as_str() == "retention.ms");
    assert_eq!(
        retention.and_then(|c| c.value.as_deref()),
        Some("3600000"),
        "{resp:?}"
    );

    // DeleteTopics v6+ names topics in `topics` (v0-5 used `topic_names`).
    let del = DeleteTopicsRequest::default()
        .with_topics(vec![delete_topics_request::DeleteTopicState::default()
            .with_name(Some(TopicName(name.clone().into())))])
        .with_timeout_ms(10_000);
    let resp = c.request(del).unwrap();
    assert_eq!(resp.responses.len(), 1);
    assert_eq!(resp.responses[0].error_code, 0, "{resp:?}");
    let after = metadata_for(&c, &name);
    let gone = after
        .topics
        .iter()
        .all(|t| t.name.as_ref().map(|n| n.0.as_str()) != Some(name.as_str()) || t.error_code != 0);
    assert!(gone, "{after:?}");
    c.close();
}

#[test]
fn sharded_list_offsets() {
    if !require_broker() {
        return;
    }
    let c = client();
    let name = random_topic("shard");
    create_topic(&c, &name, 4);
    let parts = (0..4)
        .map(|p| {
            list_offsets_request::ListOffsetsPartition::default()
                .with_partition_index(p)
                .with_timestamp(-1)
        })
        .collect();
    let lo = ListOffsetsRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_topics(vec![list_offsets_request::ListOffsetsTopic::default()
            .with_name(TopicName(name.clone().into()))
            .with_partitions(parts)]);
    let shards = c.request_sharded(lo);
    assert!(!shards.is_empty());
    let mut seen = Vec::new();
    for s in &shards {
        println!(
            "shard to broker {} ({}): {} partitions",
            s.meta.node_id,
            s.meta.addr(),
            s.req
                .topics
                .iter()
                .map(|t| t.partitions.len())
                .sum::<usize>()
        );
        assert!(s.meta.node_id >= 0, "every partition has a known leader");
        let resp = s.resp.as_ref().unwrap();
        for p in resp.topics.iter().flat_map(|t| &t.partitions) {
            assert_eq!(p.error_code, 0);
            seen.push(p.partition_index);
        }
    }
    seen.sort();
    assert_eq!(seen, vec![0, 1, 2, 3]);
    c.close();
}

#[test]
fn ping_answers() {
    if !require_broker() {
        return;
    }
    let c = client();
    c.ping().unwrap();
    let dead = Client::builder()
        .seed_brokers(["127.0.0.1:1"])
        .build()
        .unwrap();
    let e = dead.ping().unwrap_err();
    assert!(matches!(e, Error::Io(_)), "{e:?}");
    dead.close();
    c.close();
}

#[test]
fn ten_concurrent_requests_share_one_connection() {
    if !require_broker() {
        return;
    }
    #[derive(Default)]
    struct Count(Mutex<Vec<i32>>);
    impl kafka_sync::Hook for Count {
        fn on_broker_connect(
            &self,
            meta: &kafka_sync::BrokerMetadata,
            _d: Duration,
            err: Option<&Error>,
        ) {
            if err.is_none() {
                self.0.lock().unwrap().push(meta.node_id);
            }
        }
    }
    let count = Arc::new(Count::default());
    let c = Client::builder()
        .seed_brokers(seeds())
        .with_hooks(count.clone())
        .build()
        .unwrap();
    let seed = c.seed_brokers()[0].clone();
    seed.request(ApiVersionsRequest::default()).unwrap();
    let threads: Vec<_> = (0..10)
        .map(|_| {
            let b = seed.clone();
            std::thread::spawn(move || {
                b.request(MetadataRequest::default())
                    .map(|m| m.brokers.len())
            })
        })
        .collect();
    for t in threads {
        assert!(t.join().unwrap().unwrap() >= 1);
    }
    // ApiVersions and Metadata share the "normal" connection class: one dial.
    assert_eq!(
        count.0.lock().unwrap().len(),
        1,
        "{:?}",
        count.0.lock().unwrap()
    );
    c.close();
}

#[test]
fn close_wakes_a_blocked_fetch_and_joins_every_thread() {
    if !require_broker() {
        return;
    }
    // Counts Fetch requests written to a broker.
    #[derive(Default)]
    struct FetchWrites(std::sync::atomic::AtomicUsize);
    impl kafka_sync::Hook for FetchWrites {
        fn on_broker_write(
            &self,
            _m: &kafka_sync::BrokerMetadata,
            key: i16,
            _b: usize,
            _w: Duration,
            _t: Duration,
            err: Option<&Error>,
        ) {
            if key == 1 && err.is_none() {
                self.0.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
            }
        }
    }
    let writes = Arc::new(FetchWrites::default());
    let tids = Arc::new(Mutex::new(Vec::<(String, String)>::new()));
    let t2 = tids.clone();
    let c = Client::builder()
        .seed_brokers(seeds())
        .with_hooks(writes.clone())
        .on_thread_start(move |name| {
            let tid = std::fs::read_link("/proc/thread-self")
                .map(|p| p.display().to_string())
                .unwrap_or_default();
            t2.lock().unwrap().push((name.to_string(), tid));
        })
        .build()
        .unwrap();
    let name = random_topic("block");
    create_topic(&c, &name, 1);
    let meta = c.request(MetadataRequest::default()).unwrap();
    let leader = meta.brokers[0].node_id.0;
    let topic_id = meta
        .topics
        .iter()
        .find(|t| t.name.as_ref().map(|n| n.0.as_str()) == Some(name.as_str()))
        .map(|t| t.topic_id)
        .unwrap();
    // A long-poll fetch on an empty topic: the broker holds it for max_wait.
    let fetch = FetchRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_max_wait_ms(20_000)
        .with_min_bytes(1)
        .with_max_bytes(1 << 20)
        .with_topics(vec![fetch_request::FetchTopic::default()
            .with_topic(TopicName(name.clone().into()))
            .with_topic_id(topic_id)
            .with_partitions(vec![fetch_request::FetchPartition::default()
                .with_partition(0)
                .with_fetch_offset(0)
                .with_partition_max_bytes(1 << 20)])]);
    let b = c.broker(leader);
    let blocked = std::thread::spawn(move || {
        let start = Instant::now();
        let r = b.request(fetch);
        (r.map(|_| ()), start.elapsed())
    });
    // The fetch is on the wire; the broker holds it (empty topic, 20 s max wait).
    assert!(support::wait_until(Duration::from_secs(5), || writes
        .0
        .load(std::sync::atomic::Ordering::Acquire)
        == 1));
    let closed_at = Instant::now();
    c.close();
    let (res, _) = blocked.join().unwrap();
    let woke = closed_at.elapsed();
    assert!(matches!(res, Err(Error::ClientClosed)), "{res:?}");
    assert!(woke < Duration::from_secs(1), "close took {woke:?}");
    let started = tids.lock().unwrap().clone();
    assert!(started.iter().any(|(n, _)| n == "ks-meta"));
    assert!(started.iter().any(|(n, _)| n.starts_with("ks-io-")));
    for (name, tid) in started {
        assert!(name.len() <= 15 && name.starts_with("ks-"), "{name}");
        // A joined thread's /proc entry goes away a moment after the join
        // returns (the kernel wakes the joiner before it releases the task).
        let gone = support::wait_until(Duration::from_secs(2), || {
            tid.is_empty() || !std::path::Path::new("/proc").join(&tid).exists()
        });
        assert!(gone, "thread {name} ({tid}) still alive after close");
    }
}
