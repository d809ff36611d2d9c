//! The crate's own client against a 3-broker fake cluster: raw requests see
//! leaders, leader moves, injected errors, dropped connections, stopped
//! brokers and request counts exactly as the fake serves them.
//! (`fake_cluster_server.rs` and `fake_cluster_protocol.rs` test the fake
//! itself with a bare TCP client; this file tests the client on top of it.)
#![cfg(feature = "fake")]

mod support;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use kafka_sync::fake::{Action, Cluster};
use kafka_sync::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_sync::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_sync::messages::*;
use kafka_sync::{Client, Error, ErrorCode};
use support::records::batch;
use support::wait_until;

fn three_brokers(topic: &str, partitions: i32) -> Cluster {
    Cluster::builder()
        .brokers(3)
        .topic(topic, partitions)
        .build()
        .unwrap()
}

fn client(cluster: &Cluster) -> Client {
    support::init_logging();
    Client::builder()
        .seed_brokers(cluster.seeds())
        .retry_backoff_fn(|_| Duration::from_millis(20))
        .build()
        .unwrap()
}

fn name(s: &str) -> TopicName {
    TopicName(s.to_string().into())
}

fn metadata_req(topic: &str) -> MetadataRequest {
    MetadataRequest::default()
        .with_topics(Some(vec![metadata_request::MetadataRequestTopic::default(
        )
        .with_name(Some(name(topic)))]))
        .with_allow_auto_topic_creation(false)
}

/// The topic part of a produce request, naming the topic both ways: Produce
/// v13+ (the version negotiated with the fake) carries the topic id and
/// ignores the name, older versions the reverse.
fn produce_topic(c: &Client, topic: &str) -> TopicProduceData {
    let m = c.request(metadata_req(topic)).unwrap();
    TopicProduceData::default()
        .with_name(name(topic))
        .with_topic_id(m.topics[0].topic_id)
}

fn produce_req(
    topic: &TopicProduceData,
    partition: i32,
    records: &[(&str, &str)],
) -> ProduceRequest {
    let data = PartitionProduceData::default()
        .with_index(partition)
        .with_records(Some(batch(records, None)));
    ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(5_000)
        .with_topic_data(vec![topic.clone().with_partition_data(vec![data])])
}

/// (error code, base offset) of the only partition of a produce response.
fn produced(resp: &ProduceResponse) -> (i16, i64) {
    let p = &resp.responses[0].partition_responses[0];
    (p.error_code, p.base_offset)
}

fn list_offsets_req(
    topic: &str,
    partitions: impl IntoIterator<Item = i32>,
    timestamp: i64,
) -> ListOffsetsRequest {
    let parts = partitions
        .into_iter()
        .map(|p| {
            ListOffsetsPartition::default()
                .with_partition_index(p)
                .with_timestamp(timestamp)
        })
        .collect();
    ListOffsetsRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_topics(vec![ListOffsetsTopic::default()
            .with_name(name(topic))
            .with_partitions(parts)])
}

#[test]
fn metadata_spreads_six_leaders_over_three_brokers() {
    let cluster = three_brokers("spread", 6);
    let c = client(&cluster);
    // A raw Metadata request, as the broker answered it...
    let m = c.request(metadata_req("spread")).unwrap();
    assert_eq!(m.brokers.len(), 3);
    let t = &m.topics[0];
    assert_eq!(t.error_code, 0);
    assert_eq!(t.partitions.len(), 6);
    let leaders: BTreeSet<i32> = t.partitions.iter().map(|p| p.leader_id.0).collect();
    assert_eq!(leaders, BTreeSet::from([0, 1, 2]), "{t:?}");
    for p in &t.partitions {
        assert_eq!(p.leader_epoch, 0);
        assert_eq!(p.replica_nodes.len(), 3);
    }
    // ...fed the client's cache, and a refresh agrees with the fake's own view.
    let snap = c.refresh_metadata(Some(&["spread"])).unwrap();
    assert_eq!(snap.brokers.len(), 3);
    assert_eq!(snap.cluster_id.as_deref(), Some("kafka-sync-fake-cluster"));
    let cached = &c.metadata().topics["spread"];
    assert_eq!(cached.partitions.len(), 6);
    for p in &cached.partitions {
        assert_eq!(
            Some((p.leader, p.leader_epoch)),
            cluster.leader("spread", p.partition)
        );
    }
    // The brokers in Metadata are the seeds, by node id.
    for b in &snap.brokers {
        assert_eq!(b.addr(), cluster.seeds()[b.node_id as usize]);
    }
    c.close();
}

#[test]
fn move_leader_bumps_epoch_and_fresh_metadata_shows_it() {
    let cluster = three_brokers("moves", 3);
    let c = client(&cluster);
    let before = c.refresh_metadata(Some(&["moves"])).unwrap();
    let p0 = before.topics["moves"].partitions[0].clone();
    assert_eq!((p0.leader, p0.leader_epoch), (0, 0));

    let epoch = cluster.move_leader("moves", 0, 2).unwrap();
    assert_eq!(epoch, 1);
    // The cache does not change by itself...
    assert_eq!(c.metadata().leader("moves", 0), Some(0));
    // ...a fresh Metadata shows the new leader and epoch.
    let after = c.refresh_metadata(Some(&["moves"])).unwrap();
    let p0 = &after.topics["moves"].partitions[0];
    assert_eq!((p0.leader, p0.leader_epoch), (2, 1));
    assert_eq!(
        after.topics["moves"].partitions[1], before.topics["moves"].partitions[1],
        "other partitions untouched"
    );
    // The old leader now refuses writes; the new one takes them.
    let t = produce_topic(&c, "moves");
    let resp = c.broker(0).request(produce_req(&t, 0, &[("k", "v")]));
    assert_eq!(
        produced(&resp.unwrap()).0,
        ErrorCode::NotLeaderOrFollower.code()
    );
    let resp = c.broker(2).request(produce_req(&t, 0, &[("k", "v")]));
    assert_eq!(produced(&resp.unwrap()), (0, 0));
    c.close();
}

#[test]
fn not_leader_intercept_fails_three_raw_produces_then_passes() {
    let cluster = three_brokers("nl", 3);
    let c = client(&cluster);
    let leader = c
        .refresh_metadata(Some(&["nl"]))
        .unwrap()
        .leader("nl", 1)
        .unwrap();
    let t = produce_topic(&c, "nl");
    let seen = Arc::new(AtomicUsize::new(0));
    let s = Arc::clone(&seen);
    cluster.intercept(ApiKey::Produce, None, Some(3), move |req| {
        // The intercept sees the request the client encoded.
        let r: ProduceRequest = req.decode().expect("a produce request");
        assert_eq!(r.topic_data[0].partition_data[0].index, 1);
        s.fetch_add(1, Ordering::Relaxed);
        Action::ErrorCode(ErrorCode::NotLeaderOrFollower.code())
    });
    let b = c.broker(leader);
    for i in 0..3 {
        let resp = b.request(produce_req(&t, 1, &[("k", "v")])).unwrap();
        let (code, _) = produced(&resp);
        assert_eq!(code, 6, "produce {i} gets NOT_LEADER_OR_FOLLOWER");
        let err = Error::from_code(code).unwrap();
        assert!(err.is_retriable(), "{err}");
        assert_eq!(err.kafka_code(), Some(ErrorCode::NotLeaderOrFollower));
    }
    // The intercept is used up: the fourth produce is written at offset 0,
    // so none of the three rejected batches was stored.
    let resp = b
        .request(produce_req(&t, 1, &[("k", "a"), ("k", "b")]))
        .unwrap();
    assert_eq!(produced(&resp), (0, 0));
    assert_eq!(seen.load(Ordering::Relaxed), 3);
    assert_eq!(cluster.request_count(ApiKey::Produce), 4);
    assert_eq!(cluster.partition_log("nl", 1).len(), 1);
    c.close();
}

#[test]
fn dropped_connection_is_retriable_and_request_retries() {
    let cluster = three_brokers("drop", 3);
    let c = client(&cluster);
    c.refresh_metadata(Some(&[])).unwrap();
    let drops = Arc::new(AtomicUsize::new(0));
    let d = Arc::clone(&drops);
    cluster.intercept(ApiKey::Metadata, None, Some(2), move |_| {
        d.fetch_add(1, Ordering::Relaxed);
        Action::DropConnection
    });
    // One try, no retries: the drop is the caller's error, and retriable.
    let err = c.broker(1).request(metadata_req("drop")).unwrap_err();
    assert!(err.is_retriable(), "{err:?}");
    assert!(matches!(err, Error::Io(_)), "{err:?}");
    assert_eq!(drops.load(Ordering::Relaxed), 1);
    // The retrying path sees the second drop, reconnects and succeeds.
    let m = c.request(metadata_req("drop")).unwrap();
    assert_eq!(m.topics[0].partitions.len(), 3);
    assert_eq!(drops.load(Ordering::Relaxed), 2);
    // The broker whose connection was dropped answers again on a new one.
    let m = c.broker(1).request(metadata_req("drop")).unwrap();
    assert_eq!(m.brokers.len(), 3);
    c.close();
}

/// ApiVersions with a software name and version, which Kafka requires from
/// v3 on (Java `ApiVersionsRequest.isValid`); a raw request is sent as given.
fn api_versions() -> ApiVersionsRequest {
    ApiVersionsRequest::default()
        .with_client_software_name(StrBytes::from_static_str("raw-test"))
        .with_client_software_version(StrBytes::from_static_str("1.0"))
}

#[test]
fn stopped_broker_refuses_then_returns_on_same_port() {
    let cluster = three_brokers("stop", 3);
    let c = client(&cluster);
    c.refresh_metadata(Some(&["stop"])).unwrap();
    let addr = cluster.seeds()[1].clone();
    c.broker(1).request(api_versions()).unwrap();

    cluster.stop_broker(1).unwrap();
    // The open connection is closed under the client, and a new dial is
    // refused: either way an I/O error, which is retriable.
    let refused = |e: &Error| match e {
        Error::Io(io) => io.kind() == std::io::ErrorKind::ConnectionRefused,
        _ => false,
    };
    let mut last = None;
    assert!(
        wait_until(Duration::from_secs(2), || {
            let e = c.broker(1).request(api_versions()).unwrap_err();
            assert!(matches!(e, Error::Io(_)), "{e:?}");
            assert!(e.is_retriable(), "{e:?}");
            let done = refused(&e);
            last = Some(e);
            done
        }),
        "connection refused while stopped, last error {last:?}"
    );
    // Metadata from the others no longer lists it; its partitions have no leader.
    let snap = c.refresh_metadata(Some(&["stop"])).unwrap();
    assert_eq!(snap.brokers.len(), 2);
    let orphan = snap.topics["stop"]
        .partitions
        .iter()
        .find(|p| p.replicas.first() == Some(&1))
        .unwrap();
    assert_eq!(orphan.leader, -1);
    assert_eq!(orphan.error, Some(ErrorCode::LeaderNotAvailable));

    cluster.start_broker(1).unwrap();
    assert_eq!(cluster.seeds()[1], addr, "same port");
    // Back in Metadata, and answering on its old address.
    let snap = c.refresh_metadata(Some(&["stop"])).unwrap();
    assert_eq!(snap.brokers.len(), 3);
    assert_eq!(
        snap.brokers.iter().find(|b| b.node_id == 1).unwrap().addr(),
        addr
    );
    let v = c.broker(1).request(api_versions()).unwrap();
    assert_eq!(v.error_code, 0);
    c.close();
}

#[test]
fn request_counters_count_client_requests() {
    let cluster = three_brokers("count", 6);
    let c = client(&cluster);
    assert_eq!(cluster.request_count(ApiKey::Metadata), 0, "lazy client");
    assert_eq!(cluster.request_count(ApiKey::ApiVersions), 0);
    // Through the seed (broker 0's address), then straight to broker 2.
    c.refresh_metadata(Some(&["count"])).unwrap();
    let m = c.broker(2).request(metadata_req("count")).unwrap();
    let t = TopicProduceData::default()
        .with_name(name("count"))
        .with_topic_id(m.topics[0].topic_id);
    for _ in 0..5 {
        let r = c.broker(2).request(list_offsets_req("count", [2], -1));
        assert_eq!(r.unwrap().topics[0].partitions[0].error_code, 0);
    }
    let r = c.broker(2).request(produce_req(&t, 2, &[("k", "v")]));
    assert_eq!(produced(&r.unwrap()), (0, 0));

    assert_eq!(cluster.request_count(ApiKey::Metadata), 2);
    assert_eq!(cluster.request_count_on(0, ApiKey::Metadata), 1);
    assert_eq!(cluster.request_count_on(2, ApiKey::Metadata), 1);
    assert_eq!(cluster.request_count(ApiKey::ListOffsets), 5);
    assert_eq!(cluster.request_count_on(2, ApiKey::ListOffsets), 5);
    assert_eq!(cluster.request_count(ApiKey::Produce), 1);
    assert_eq!(cluster.request_count(ApiKey::Fetch), 0);
    // Every connection begins with ApiVersions: the seed's, and broker 2's
    // two (produce requests have their own connection, DESIGN.md).
    assert_eq!(cluster.request_count(ApiKey::ApiVersions), 3);
    assert_eq!(cluster.request_count_on(2, ApiKey::ApiVersions), 2);
    // Broker 1 was never asked anything.
    for key in [ApiKey::ApiVersions, ApiKey::Metadata, ApiKey::Produce] {
        assert_eq!(cluster.request_count_on(1, key), 0, "{key:?}");
    }
    c.close();
}

#[test]
fn sharded_list_offsets_goes_one_shard_per_broker() {
    let cluster = three_brokers("shards", 6);
    let c = client(&cluster);
    // No metadata yet: the split learns the leaders itself.
    let shards = c.request_sharded(list_offsets_req("shards", 0..6, -2));
    assert_eq!(shards.len(), 3, "{shards:?}");
    let mut brokers = BTreeSet::new();
    for s in &shards {
        let resp = s.resp.as_ref().unwrap();
        brokers.insert(s.meta.node_id);
        let asked: BTreeSet<i32> = s.req.topics[0]
            .partitions
            .iter()
            .map(|p| p.partition_index)
            .collect();
        let answered: BTreeSet<i32> = resp.topics[0]
            .partitions
            .iter()
            .map(|p| p.partition_index)
            .collect();
        assert_eq!(asked, answered);
        for p in &asked {
            assert_eq!(cluster.leader("shards", *p).unwrap().0, s.meta.node_id);
        }
        for p in &resp.topics[0].partitions {
            assert_eq!((p.error_code, p.offset), (0, 0));
        }
        assert_eq!(
            cluster.request_count_on(s.meta.node_id, ApiKey::ListOffsets),
            1
        );
    }
    assert_eq!(brokers, BTreeSet::from([0, 1, 2]));
    // The merged form answers all six partitions in one response.
    let merged = c.request(list_offsets_req("shards", 0..6, -1)).unwrap();
    let n: usize = merged.topics.iter().map(|t| t.partitions.len()).sum();
    assert_eq!(n, 6);
    c.close();
}

/// Two group names whose coordinators are different brokers.
fn groups_on_two_coordinators(c: &Client) -> [(String, i32); 2] {
    let coordinator = |g: &str| {
        let req = FindCoordinatorRequest::default().with_key(g.to_string().into());
        c.request(req).unwrap().node_id.0
    };
    let first = ("g0".to_string(), coordinator("g0"));
    for i in 1..50 {
        let g = format!("g{i}");
        let id = coordinator(&g);
        if id != first.1 {
            return [first, (g, id)];
        }
    }
    panic!("every group has coordinator {}", first.1);
}

fn commit_offset(c: &Client, group: &str, offset: i64) {
    use offset_commit_request::{OffsetCommitRequestPartition, OffsetCommitRequestTopic};
    let part = OffsetCommitRequestPartition::default()
        .with_partition_index(0)
        .with_committed_offset(offset);
    let commit = OffsetCommitRequest::default()
        .with_group_id(GroupId(group.to_string().into()))
        .with_generation_id_or_member_epoch(-1)
        .with_topics(vec![OffsetCommitRequestTopic::default()
            .with_name(name("t"))
            .with_partitions(vec![part])]);
    let resp = c.request(commit).unwrap();
    assert_eq!(resp.topics[0].partitions[0].error_code, 0);
}

/// A batched OffsetFetch (v8+) of partition 0 of "t" for `groups`.
fn batched_offset_fetch(groups: &[(String, i32)]) -> OffsetFetchRequest {
    use offset_fetch_request::{OffsetFetchRequestGroup, OffsetFetchRequestTopics};
    OffsetFetchRequest::default().with_groups(
        groups
            .iter()
            .map(|(g, _)| {
                OffsetFetchRequestGroup::default()
                    .with_group_id(GroupId(g.clone().into()))
                    .with_topics(Some(vec![OffsetFetchRequestTopics::default()
                        .with_name(name("t"))
                        .with_partition_indexes(vec![0])]))
            })
            .collect(),
    )
}

/// Each group of `resp` has no error and the offset `10 + its index`.
fn assert_fetched(resp: &OffsetFetchResponse, groups: &[(String, i32)]) {
    assert_eq!(resp.groups.len(), groups.len(), "{resp:?}");
    for (i, (g, _)) in groups.iter().enumerate() {
        let got = resp.groups.iter().find(|x| *x.group_id.0 == **g).unwrap();
        assert_eq!(got.error_code, 0, "group {g}");
        let offset = got.topics[0].partitions[0].committed_offset;
        assert_eq!(offset, 10 + i as i64, "group {g}");
    }
}

/// A cluster, a client, and two groups on different coordinators that
/// committed offsets 10 and 11 for partition 0 of "t".
fn two_committed_groups() -> (Cluster, Client, [(String, i32); 2]) {
    let cluster = three_brokers("t", 1);
    let c = client(&cluster);
    let groups = groups_on_two_coordinators(&c);
    for (i, (g, _)) in groups.iter().enumerate() {
        commit_offset(&c, g, 10 + i as i64);
    }
    (cluster, c, groups)
}

/// After the client cached both coordinators: the second group's moves to
/// the third broker (its old coordinator answers NOT_COORDINATOR), and the
/// first group's coordinator answers `key` once with
/// COORDINATOR_LOAD_IN_PROGRESS. Returns the third broker.
fn move_second_and_load_first(cluster: &Cluster, groups: &[(String, i32); 2], key: ApiKey) -> i32 {
    let to = (0..3)
        .find(|b| *b != groups[0].1 && *b != groups[1].1)
        .unwrap();
    cluster
        .move_coordinator(kafka_sync::fake::CoordinatorType::Group, &groups[1].0, to)
        .unwrap();
    cluster.intercept(key, Some(groups[0].1), Some(1), |_| Action::ErrorCode(14));
    to
}

#[test]
fn batched_offset_fetch_is_split_per_group_coordinator_and_merged() {
    let (cluster, c, groups) = two_committed_groups();
    let before: Vec<u64> = groups
        .iter()
        .map(|(_, id)| cluster.request_count_on(*id, ApiKey::OffsetFetch))
        .collect();
    let resp = c.request(batched_offset_fetch(&groups)).unwrap();
    assert_fetched(&resp, &groups);
    for (i, (_, id)) in groups.iter().enumerate() {
        assert_eq!(
            cluster.request_count_on(*id, ApiKey::OffsetFetch),
            before[i] + 1
        );
    }
    c.close();
}

#[test]
fn batched_offset_fetch_pieces_retry_moved_and_loading_coordinators() {
    let (cluster, c, groups) = two_committed_groups();
    let to = move_second_and_load_first(&cluster, &groups, ApiKey::OffsetFetch);
    let resp = c.request(batched_offset_fetch(&groups)).unwrap();
    assert_fetched(&resp, &groups);
    assert_eq!(cluster.request_count_on(to, ApiKey::OffsetFetch), 1);
    // Sharded, each group is answered once, by its coordinator now.
    let shards = c.request_sharded(batched_offset_fetch(&groups));
    for s in &shards {
        let resp = s.resp.as_ref().unwrap();
        for g in &resp.groups {
            assert_eq!(g.error_code, 0, "{s:?}");
        }
    }
    let answered: usize = shards
        .iter()
        .map(|s| s.resp.as_ref().map_or(0, |r| r.groups.len()))
        .sum();
    assert_eq!(answered, 2, "{shards:?}");
    c.close();
}

/// DescribeGroups and DeleteGroups are split per group coordinator like the
/// batched OffsetFetch; a group whose coordinator moved (NOT_COORDINATOR)
/// or is loading is sent again to its coordinator, looked up anew.
#[test]
fn describe_and_delete_groups_pieces_retry_moved_and_loading_coordinators() {
    use kafka_sync::fake::CoordinatorType;
    let (cluster, c, groups) = two_committed_groups();
    let names: Vec<GroupId> = groups
        .iter()
        .map(|(g, _)| GroupId(g.clone().into()))
        .collect();
    let to = move_second_and_load_first(&cluster, &groups, ApiKey::DescribeGroups);
    let described = c
        .request(DescribeGroupsRequest::default().with_groups(names.clone()))
        .unwrap();
    let mut codes: Vec<(String, i16)> = described
        .groups
        .iter()
        .map(|g| (g.group_id.0.to_string(), g.error_code))
        .collect();
    codes.sort();
    let mut want: Vec<(String, i16)> = groups.iter().map(|(g, _)| (g.clone(), 0)).collect();
    want.sort();
    assert_eq!(codes, want, "{described:?}");
    assert_eq!(cluster.request_count_on(to, ApiKey::DescribeGroups), 1);

    // The first group's coordinator moves too, after the client cached it.
    let to0 = (0..3).find(|b| *b != groups[0].1).unwrap();
    cluster
        .move_coordinator(CoordinatorType::Group, &groups[0].0, to0)
        .unwrap();
    let deleted = c
        .request(DeleteGroupsRequest::default().with_groups_names(names))
        .unwrap();
    let mut codes: Vec<(String, i16)> = deleted
        .results
        .iter()
        .map(|g| (g.group_id.0.to_string(), g.error_code))
        .collect();
    codes.sort();
    assert_eq!(codes, want, "{deleted:?}");
    c.close();
}

/// DescribeTransactions is split per transactional id's coordinator; an id
/// whose coordinator moved (NOT_COORDINATOR) or is loading is asked again of
/// its coordinator, looked up anew.
#[test]
fn describe_transactions_pieces_retry_moved_and_loading_coordinators() {
    use kafka_sync::fake::CoordinatorType;
    let cluster = three_brokers("t", 1);
    let c = client(&cluster);
    // A transactional id hashes as a group id does.
    let ids = groups_on_two_coordinators(&c);
    for (id, _) in &ids {
        let init = InitProducerIdRequest::default()
            .with_transactional_id(Some(TransactionalId(id.clone().into())))
            .with_transaction_timeout_ms(60_000)
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1);
        assert_eq!(c.request(init).unwrap().error_code, 0, "{id}");
    }
    let names: Vec<TransactionalId> = ids
        .iter()
        .map(|(id, _)| TransactionalId(id.clone().into()))
        .collect();
    let describe = || {
        let resp = c
            .request(DescribeTransactionsRequest::default().with_transactional_ids(names.clone()))
            .unwrap();
        let mut codes: Vec<(String, i16, String)> = resp
            .transaction_states
            .iter()
            .map(|t| {
                let state = t.transaction_state.to_string();
                (t.transactional_id.0.to_string(), t.error_code, state)
            })
            .collect();
        codes.sort();
        codes
    };
    let want: Vec<(String, i16, String)> = ids
        .iter()
        .map(|(id, _)| (id.clone(), 0, "Empty".to_string()))
        .collect();
    // The client caches both coordinators.
    assert_eq!(describe(), want);
    let to = (0..3).find(|b| *b != ids[0].1 && *b != ids[1].1).unwrap();
    cluster
        .move_coordinator(CoordinatorType::Transaction, &ids[1].0, to)
        .unwrap();
    let key = ApiKey::DescribeTransactions;
    cluster.intercept(key, Some(ids[0].1), Some(1), |_| Action::ErrorCode(14));
    let before = cluster.request_count_on(to, key);
    assert_eq!(describe(), want);
    assert_eq!(cluster.request_count_on(to, key), before + 1);
    c.close();
}

#[test]
fn a_raw_produce_request_gets_the_clients_acks_and_with_acks_0_its_timeout() {
    let cluster = Cluster::builder()
        .brokers(1)
        .topic("raw", 1)
        .build()
        .unwrap();
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let s2 = seen.clone();
    cluster.intercept(ApiKey::Produce, None, None, move |req| {
        if let Some(p) = req.decode::<ProduceRequest>() {
            s2.lock().unwrap().push((p.acks, p.timeout_ms));
        }
        Action::PassThrough
    });
    let raw = || ProduceRequest::default().with_acks(1).with_timeout_ms(1234);
    // The default client: acks all (-1); the caller's timeout stays.
    let c = client(&cluster);
    c.request(raw()).unwrap();
    c.close();
    // Acks 0: the acks and the timeout become the client's.
    let c0 = Client::builder()
        .seed_brokers(cluster.seeds())
        .disable_idempotent_write(true)
        .required_acks(kafka_sync::Acks::None)
        .produce_request_timeout(Duration::from_secs(7))
        .build()
        .unwrap();
    c0.request(raw()).unwrap();
    assert!(wait_until(Duration::from_secs(5), || seen
        .lock()
        .unwrap()
        .len()
        == 2));
    c0.close();
    assert_eq!(*seen.lock().unwrap(), vec![(-1, 1234), (0, 7000)]);
}

/// Thread starts and the new-client hook, in the order they happened.
#[derive(Default)]
struct Starts {
    events: std::sync::Mutex<Vec<String>>,
    cond: std::sync::Condvar,
}

struct NewClientHook(Arc<Starts>);

impl kafka_sync::Hook for NewClientHook {
    fn on_new_client(&self, client: &Client) {
        assert!(!client.is_closed());
        // A thread started before this hook would show up here at once;
        // wait a little for one (none may come) before recording the hook.
        let g = self.0.events.lock().unwrap();
        let (mut g, _) = self
            .0
            .cond
            .wait_timeout_while(g, Duration::from_millis(300), |e| e.is_empty())
            .unwrap();
        g.push("on_new_client".into());
    }
}

#[test]
fn on_new_client_runs_before_any_client_thread_starts() {
    let cluster = three_brokers("t", 3);
    let starts = Arc::new(Starts::default());
    let s2 = starts.clone();
    let c = Client::builder()
        .seed_brokers(cluster.seeds())
        .consumer_group("g")
        .consume_topics(["t"])
        .with_hooks(NewClientHook(starts.clone()))
        .on_thread_start(move |name| {
            s2.events.lock().unwrap().push(name.to_string());
            s2.cond.notify_all();
        })
        .build()
        .unwrap();
    let has = |n: &str| starts.events.lock().unwrap().iter().any(|e| e == n);
    assert!(wait_until(Duration::from_secs(5), || has("ks-meta")
        && has("ks-group")
        && has("ks-io-s0")));
    let events = starts.events.lock().unwrap().clone();
    assert_eq!(events[0], "on_new_client", "{events:?}");
    assert_eq!(events.iter().filter(|e| *e == "on_new_client").count(), 1);
    c.close();
}

#[test]
fn alter_replica_log_dirs_goes_to_every_replica_of_each_partition() {
    use alter_replica_log_dirs_request::{AlterReplicaLogDir, AlterReplicaLogDirTopic};
    let cluster = Cluster::builder()
        .brokers(3)
        .log_dirs(["/data/a", "/data/b"])
        .build()
        .unwrap();
    let c = client(&cluster);
    // Replication 2 of 3 brokers: no broker holds every partition.
    let create = CreateTopicsRequest::default().with_topics(vec![
        create_topics_request::CreatableTopic::default()
            .with_name(name("dirs"))
            .with_num_partitions(3)
            .with_replication_factor(2),
    ]);
    assert_eq!(c.request(create).unwrap().topics[0].error_code, 0);
    let req = AlterReplicaLogDirsRequest::default().with_dirs(vec![AlterReplicaLogDir::default()
        .with_path("/data/b".to_string().into())
        .with_topics(vec![AlterReplicaLogDirTopic::default()
            .with_name(name("dirs"))
            .with_partitions(vec![0, 1, 2])])]);
    let resp = c.request(req.clone()).unwrap();
    // One answer per replica, each without error.
    let answers: Vec<(i32, i16)> = resp
        .results
        .iter()
        .filter(|t| *t.topic_name.0 == *"dirs")
        .flat_map(|t| {
            t.partitions
                .iter()
                .map(|p| (p.partition_index, p.error_code))
        })
        .collect();
    assert_eq!(answers.len(), 6, "{resp:?}");
    assert!(answers.iter().all(|(_, code)| *code == 0), "{resp:?}");
    for p in 0..3 {
        let replicas = cluster.replicas("dirs", p).unwrap();
        assert_eq!(replicas.len(), 2);
        for b in 0..3 {
            let want = replicas.contains(&b).then(|| "/data/b".to_string());
            assert_eq!(cluster.replica_log_dir("dirs", p, b), want, "p{p} b{b}");
        }
    }
    // Sharded: one shard per broker, each naming only its own replicas.
    let shards = c.request_sharded(req);
    assert_eq!(shards.len(), 3, "{shards:?}");
    for s in &shards {
        for t in &s.req.dirs[0].topics {
            for p in &t.partitions {
                let replicas = cluster.replicas("dirs", *p).unwrap();
                assert!(replicas.contains(&s.meta.node_id), "{s:?}");
            }
        }
    }
    c.close();
}

/// `request_pinned` sends at exactly the pinned version (past the client's
/// `max_versions`), and a version the schema or the broker lacks is a
/// configuration error naming it, not a silent downgrade.
#[test]
fn a_pinned_request_goes_at_its_version_or_fails_clearly() {
    let cluster = Cluster::builder().brokers(1).build().unwrap();
    let seen = Arc::new(parking_lot::Mutex::new(Vec::new()));
    let s = seen.clone();
    cluster.intercept(ApiKey::Metadata, None, None, move |req| {
        s.lock().push(req.version);
        Action::PassThrough
    });
    let c = support::fake_builder(&cluster)
        .max_versions(kafka_sync::Versions::new().with(ApiKey::Metadata as i16, 4))
        .build()
        .unwrap();
    let req = || MetadataRequest::default().with_topics(Some(Vec::new()));
    c.request(req()).unwrap();
    assert_eq!(
        seen.lock().last(),
        Some(&4),
        "max_versions caps an unpinned request"
    );
    c.request_pinned(req(), 9).unwrap();
    assert_eq!(
        seen.lock().last(),
        Some(&9),
        "the pin wins over max_versions"
    );
    let b = c.broker(0);
    b.request_pinned_timeout(req(), 1, Duration::from_secs(5))
        .unwrap();
    assert_eq!(seen.lock().last(), Some(&1));

    let n = seen.lock().len();
    let beyond = MetadataRequest::VERSIONS.max + 1;
    match c.request_pinned(req(), beyond) {
        Err(Error::Config(msg)) => assert!(msg.contains(&format!("version {beyond}")), "{msg}"),
        other => panic!("pin past the schema: {other:?}"),
    }
    // The fake advertises what Kafka 4.0 does: Produce from v3 only.
    let produce = ProduceRequest::default().with_timeout_ms(1000);
    match c.request_pinned(produce, 2) {
        Err(Error::Config(msg)) => assert!(msg.contains("does not support"), "{msg}"),
        other => panic!("pin below the broker's range: {other:?}"),
    }
    assert_eq!(
        seen.lock().len(),
        n,
        "nothing was sent for the refused pins"
    );
}
