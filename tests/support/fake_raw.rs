//! A tiny raw-TCP Kafka client for the fake cluster's own tests:
//! kafka-protocol messages over std sockets, so these tests do not depend on
//! the crate's client.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use kafka_sync::fake::Cluster;
use kafka_sync::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_sync::messages::metadata_request::MetadataRequestTopic;
use kafka_sync::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_sync::messages::*;
use kafka_sync::messages::{Decodable, Encodable, HeaderVersion, Request, StrBytes};

/// One connection to a fake broker.
pub struct Conn {
    pub s: TcpStream,
    pub corr: i32,
}

impl Conn {
    pub fn connect(addr: &str) -> io::Result<Conn> {
        let s = TcpStream::connect(addr)?;
        s.set_read_timeout(Some(Duration::from_secs(10)))?;
        Ok(Conn { s, corr: 0 })
    }

    pub fn send<R: Request>(&mut self, version: i16, req: &R) -> io::Result<i32> {
        self.corr += 1;
        let header = RequestHeader::default()
            .with_request_api_key(R::KEY)
            .with_request_api_version(version)
            .with_correlation_id(self.corr)
            .with_client_id(Some(StrBytes::from_static_str("raw-test")));
        let mut body = BytesMut::new();
        header
            .encode(&mut body, R::header_version(version))
            .map_err(io::Error::other)?;
        req.encode(&mut body, version).map_err(io::Error::other)?;
        self.raw(&body)?;
        Ok(self.corr)
    }

    pub fn raw(&mut self, body: &[u8]) -> io::Result<()> {
        let mut frame = BytesMut::new();
        frame.put_i32(body.len() as i32);
        frame.put_slice(body);
        self.s.write_all(&frame)
    }

    pub fn recv<R: Request>(&mut self, version: i16, corr: i32) -> io::Result<R::Response> {
        let mut len = [0u8; 4];
        self.s.read_exact(&mut len)?;
        let mut buf = vec![0u8; i32::from_be_bytes(len) as usize];
        self.s.read_exact(&mut buf)?;
        let mut b = Bytes::from(buf);
        let h = ResponseHeader::decode(&mut b, R::Response::header_version(version))
            .map_err(io::Error::other)?;
        assert_eq!(h.correlation_id, corr, "correlation id");
        R::Response::decode(&mut b, version).map_err(io::Error::other)
    }

    pub fn call<R: Request>(&mut self, version: i16, req: &R) -> io::Result<R::Response> {
        let corr = self.send(version, req)?;
        self.recv::<R>(version, corr)
    }

    /// Whether no byte arrives for `d` (an answer the broker must hold
    /// back); the connection stays usable.
    pub fn quiet_for(&mut self, d: Duration) -> bool {
        self.s.set_read_timeout(Some(d)).unwrap();
        let mut b = [0u8; 1];
        let quiet = match self.s.peek(&mut b) {
            Ok(_) => false,
            Err(e) => matches!(
                e.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
            ),
        };
        self.s
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        quiet
    }

    /// Whether the peer closed the connection (EOF or reset) within 5 s.
    pub fn closed(&mut self) -> bool {
        self.s
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let mut b = [0u8; 1];
        match self.s.read(&mut b) {
            Ok(0) => true,
            Ok(_) => false,
            Err(e) => !matches!(
                e.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
            ),
        }
    }
}

pub fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

/// An ApiVersions request with a software name and version, which Kafka
/// requires from v3 on (Java `ApiVersionsRequest.isValid`).
pub fn api_versions_req() -> ApiVersionsRequest {
    ApiVersionsRequest::default()
        .with_client_software_name(s("raw-test"))
        .with_client_software_version(s("1.0"))
}

pub fn metadata(c: &mut Conn, topics: &[&str]) -> MetadataResponse {
    let topics = topics
        .iter()
        .map(|t| MetadataRequestTopic::default().with_name(Some(TopicName(s(t)))))
        .collect();
    let req = MetadataRequest::default()
        .with_topics(Some(topics))
        .with_allow_auto_topic_creation(true);
    c.call(12, &req).unwrap()
}

pub fn leader_of(cluster: &Cluster, topic: &str, partition: i32) -> Conn {
    let (leader, _) = cluster.leader(topic, partition).unwrap();
    Conn::connect(&cluster.seeds()[leader as usize]).unwrap()
}

/// An uncompressed v2 batch of `n` records "v<i>", optionally idempotent.
pub fn batch(n: i32, producer: Option<(i64, i16, i32)>) -> Bytes {
    let values: Vec<Vec<u8>> = (0..n).map(|i| format!("v{i}").into_bytes()).collect();
    batch_of(&values, producer)
}

/// An uncompressed v2 batch of one record per value (null keys, record `i`
/// at timestamp 1000 + i), optionally idempotent.
pub fn batch_of(values: &[Vec<u8>], producer: Option<(i64, i16, i32)>) -> Bytes {
    fn varint(b: &mut BytesMut, v: i64) {
        let mut z = ((v << 1) ^ (v >> 63)) as u64;
        while z >= 0x80 {
            b.put_u8(z as u8 | 0x80);
            z >>= 7;
        }
        b.put_u8(z as u8);
    }
    let n = values.len() as i32;
    let mut recs = BytesMut::new();
    for (i, value) in values.iter().enumerate() {
        let mut r = BytesMut::new();
        r.put_u8(0);
        varint(&mut r, i as i64); // timestamp delta
        varint(&mut r, i as i64); // offset delta
        varint(&mut r, -1);
        varint(&mut r, value.len() as i64);
        r.put_slice(value);
        varint(&mut r, 0);
        varint(&mut recs, r.len() as i64);
        recs.put_slice(&r);
    }
    let (pid, epoch, seq) = producer.unwrap_or((-1, -1, -1));
    let mut b = BytesMut::new();
    b.put_i64(0);
    b.put_i32((49 + recs.len()) as i32);
    b.put_i32(-1);
    b.put_i8(2);
    b.put_u32(0);
    b.put_i16(0);
    b.put_i32(n - 1);
    b.put_i64(1_000);
    b.put_i64(1_000 + i64::from(n - 1));
    b.put_i64(pid);
    b.put_i16(epoch);
    b.put_i32(seq);
    b.put_i32(n);
    b.put_slice(&recs);
    let crc = crc32c::crc32c(&b[21..]);
    b[17..21].copy_from_slice(&crc.to_be_bytes());
    b.freeze()
}

/// An uncompressed v2 batch of one record whose whole size, length prefix
/// included, is exactly `size` bytes (at least 80).
pub fn batch_of_size(size: usize) -> Bytes {
    let build = |len: usize| batch_of(&[vec![b'v'; len]], None);
    let mut len = size.saturating_sub(80);
    // The record's varint lengths grow with the value: converge on `size`.
    for _ in 0..4 {
        let got = build(len).len();
        if got == size {
            break;
        }
        len = (len + size).saturating_sub(got);
    }
    let b = build(len);
    assert_eq!(b.len(), size, "batch size");
    b
}

pub fn produce_req(topic: &str, partition: i32, records: Bytes, acks: i16) -> ProduceRequest {
    let pd = PartitionProduceData::default()
        .with_index(partition)
        .with_records(Some(records));
    let td = TopicProduceData::default()
        .with_name(TopicName(s(topic)))
        .with_partition_data(vec![pd]);
    ProduceRequest::default()
        .with_acks(acks)
        .with_timeout_ms(5000)
        .with_topic_data(vec![td])
}

/// Produces one batch; returns (error code, base offset).
pub fn produce(c: &mut Conn, topic: &str, partition: i32, records: Bytes) -> (i16, i64) {
    let resp = c
        .call(11, &produce_req(topic, partition, records, -1))
        .unwrap();
    let p = &resp.responses[0].partition_responses[0];
    (p.error_code, p.base_offset)
}

pub fn fetch_req(topic: &str, partition: i32, offset: i64) -> FetchRequest {
    let p = FetchPartition::default()
        .with_partition(partition)
        .with_fetch_offset(offset)
        .with_partition_max_bytes(1 << 20);
    FetchRequest::default()
        .with_max_wait_ms(0)
        .with_min_bytes(1)
        .with_max_bytes(50 << 20)
        .with_session_epoch(-1)
        .with_topics(vec![FetchTopic::default()
            .with_topic(TopicName(s(topic)))
            .with_partitions(vec![p])])
}

/// Splits fetched records into whole batches, checking each CRC; returns
/// (base offset, record count) per batch.
pub fn check_batches(mut records: &[u8]) -> Vec<(i64, i32)> {
    let mut out = Vec::new();
    while records.len() >= 61 {
        let len = i32::from_be_bytes(records[8..12].try_into().unwrap()) as usize + 12;
        if len > records.len() {
            break; // a partial trailing batch, as Kafka may send
        }
        let b = &records[..len];
        let crc = u32::from_be_bytes(b[17..21].try_into().unwrap());
        assert_eq!(crc32c::crc32c(&b[21..]), crc, "batch CRC");
        let base = i64::from_be_bytes(b[..8].try_into().unwrap());
        out.push((base, i32::from_be_bytes(b[57..61].try_into().unwrap())));
        records = &records[len..];
    }
    out
}

/// Polls `cond` every 5 ms until it holds or `timeout` passes.
pub fn wait_for(timeout: std::time::Duration, mut cond: impl FnMut() -> bool) -> bool {
    let end = std::time::Instant::now() + timeout;
    while !cond() {
        if std::time::Instant::now() >= end {
            return false;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    true
}

// Group coordinator helpers: each request at the newest version
// kafka-protocol 0.18 serves, unless a test picks another.

/// JoinGroup version the helpers use.
pub const JOIN_V: i16 = 9;
/// SyncGroup version the helpers use.
pub const SYNC_V: i16 = 5;
/// Heartbeat version the helpers use.
pub const HEARTBEAT_V: i16 = 4;
/// LeaveGroup version the helpers use.
pub const LEAVE_V: i16 = 5;
/// OffsetCommit version the helpers use.
pub const COMMIT_V: i16 = 9;
/// OffsetFetch version the helpers use.
pub const FETCH_V: i16 = 9;

/// The broker coordinating `group`, asked of broker 0 with FindCoordinator.
pub fn coordinator_id(cluster: &Cluster, group: &str) -> i32 {
    let mut c = Conn::connect(&cluster.seeds()[0]).unwrap();
    let req = FindCoordinatorRequest::default().with_key(s(group));
    let resp = c.call(3, &req).unwrap();
    assert_eq!(resp.error_code, 0, "FindCoordinator {group}");
    resp.node_id.0
}

/// A connection to the broker coordinating `group`.
pub fn group_conn(cluster: &Cluster, group: &str) -> Conn {
    let id = coordinator_id(cluster, group);
    Conn::connect(&cluster.seeds()[id as usize]).unwrap()
}

/// A connection to a broker that does not coordinate `group` (the cluster
/// needs two brokers or more).
pub fn other_conn(cluster: &Cluster, group: &str) -> Conn {
    let id = coordinator_id(cluster, group);
    let other = (id + 1) % cluster.seeds().len() as i32;
    assert_ne!(other, id, "a second broker is needed");
    Conn::connect(&cluster.seeds()[other as usize]).unwrap()
}

/// The metadata a member sends for `protocol`: `meta-<protocol>`.
pub fn meta(protocol: &str) -> Bytes {
    Bytes::from(format!("meta-{protocol}"))
}

/// A consumer JoinGroup: 10 s session, 2 s rebalance timeout, each protocol
/// with [`meta`] as its metadata.
pub fn join_req(group: &str, member: &str, protocols: &[&str]) -> JoinGroupRequest {
    use kafka_sync::messages::join_group_request::JoinGroupRequestProtocol;
    JoinGroupRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_session_timeout_ms(10_000)
        .with_rebalance_timeout_ms(2_000)
        .with_member_id(s(member))
        .with_protocol_type(s("consumer"))
        .with_protocols(
            protocols
                .iter()
                .map(|p| {
                    JoinGroupRequestProtocol::default()
                        .with_name(s(p))
                        .with_metadata(meta(p))
                })
                .collect(),
        )
}

/// Sends a JoinGroup without waiting for the answer; returns the
/// correlation id for [`recv_join`].
pub fn send_join(c: &mut Conn, req: &JoinGroupRequest) -> i32 {
    c.send(JOIN_V, req).unwrap()
}

/// The answer to a JoinGroup sent with [`send_join`].
pub fn recv_join(c: &mut Conn, corr: i32) -> JoinGroupResponse {
    c.recv::<JoinGroupRequest>(JOIN_V, corr).unwrap()
}

/// A JoinGroup and its answer.
pub fn join(c: &mut Conn, req: &JoinGroupRequest) -> JoinGroupResponse {
    c.call(JOIN_V, req).unwrap()
}

/// KIP-394: joins without a member id, expects MEMBER_ID_REQUIRED, and
/// sends the join again with the id it got, without waiting for that
/// answer. Returns (member id, correlation id for [`recv_join`]).
pub fn send_join_with_id(c: &mut Conn, req: JoinGroupRequest) -> (String, i32) {
    let first = join(c, &req.clone().with_member_id(s("")));
    assert_eq!(first.error_code, 79, "MEMBER_ID_REQUIRED");
    let id = first.member_id.as_str().to_string();
    let corr = send_join(c, &req.with_member_id(s(&id)));
    (id, corr)
}

/// A consumer SyncGroup; the leader passes `(member id, assignment)`s.
pub fn sync_req(
    group: &str,
    generation: i32,
    member: &str,
    assignments: &[(&str, &[u8])],
) -> SyncGroupRequest {
    use kafka_sync::messages::sync_group_request::SyncGroupRequestAssignment;
    SyncGroupRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_generation_id(generation)
        .with_member_id(s(member))
        .with_protocol_type(Some(s("consumer")))
        .with_assignments(
            assignments
                .iter()
                .map(|(m, a)| {
                    SyncGroupRequestAssignment::default()
                        .with_member_id(s(m))
                        .with_assignment(Bytes::copy_from_slice(a))
                })
                .collect(),
        )
}

/// A SyncGroup and its answer.
pub fn sync(c: &mut Conn, req: &SyncGroupRequest) -> SyncGroupResponse {
    c.call(SYNC_V, req).unwrap()
}

/// A Heartbeat's error code.
pub fn heartbeat(
    c: &mut Conn,
    group: &str,
    generation: i32,
    member: &str,
    instance: Option<&str>,
) -> i16 {
    let req = HeartbeatRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_generation_id(generation)
        .with_member_id(s(member))
        .with_group_instance_id(instance.map(s));
    c.call(HEARTBEAT_V, &req).unwrap().error_code
}

/// A LeaveGroup (v3+ batch) of `(member id, instance id)`s.
pub fn leave(c: &mut Conn, group: &str, members: &[(&str, Option<&str>)]) -> LeaveGroupResponse {
    use kafka_sync::messages::leave_group_request::MemberIdentity;
    let req = LeaveGroupRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_members(
            members
                .iter()
                .map(|(m, i)| {
                    MemberIdentity::default()
                        .with_member_id(s(m))
                        .with_group_instance_id(i.map(s))
                })
                .collect(),
        );
    c.call(LEAVE_V, &req).unwrap()
}

/// An OffsetCommit of `(topic, partition, offset)`s with leader epoch 7
/// and metadata `m<offset>`; the error code of each partition in order.
pub fn commit(
    c: &mut Conn,
    group: &str,
    generation: i32,
    member: &str,
    offsets: &[(&str, i32, i64)],
) -> Vec<i16> {
    use kafka_sync::messages::offset_commit_request::{
        OffsetCommitRequestPartition, OffsetCommitRequestTopic,
    };
    let topics = offsets
        .iter()
        .map(|(t, p, o)| {
            OffsetCommitRequestTopic::default()
                .with_name(TopicName(s(t)))
                .with_partitions(vec![OffsetCommitRequestPartition::default()
                    .with_partition_index(*p)
                    .with_committed_offset(*o)
                    .with_committed_leader_epoch(7)
                    .with_committed_metadata(Some(s(&format!("m{o}"))))])
        })
        .collect();
    let req = OffsetCommitRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_generation_id_or_member_epoch(generation)
        .with_member_id(s(member))
        .with_topics(topics);
    let resp = c.call(COMMIT_V, &req).unwrap();
    resp.topics
        .iter()
        .flat_map(|t| t.partitions.iter().map(|p| p.error_code))
        .collect()
}

/// One partition of an OffsetFetch answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchedOffset {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub leader_epoch: i32,
    pub metadata: String,
    pub error: i16,
}

/// An OffsetFetch (v8+ group form) of `partitions`, or of every committed
/// partition when `None`; returns the group's error and its partitions.
pub fn fetch_offsets(
    c: &mut Conn,
    group: &str,
    partitions: Option<&[(&str, i32)]>,
    require_stable: bool,
) -> (i16, Vec<FetchedOffset>) {
    use kafka_sync::messages::offset_fetch_request::{
        OffsetFetchRequestGroup, OffsetFetchRequestTopics,
    };
    let topics = partitions.map(|ps| {
        ps.iter()
            .map(|(t, p)| {
                OffsetFetchRequestTopics::default()
                    .with_name(TopicName(s(t)))
                    .with_partition_indexes(vec![*p])
            })
            .collect()
    });
    let req = OffsetFetchRequest::default()
        .with_require_stable(require_stable)
        .with_groups(vec![OffsetFetchRequestGroup::default()
            .with_group_id(GroupId(s(group)))
            .with_topics(topics)]);
    let resp = c.call(FETCH_V, &req).unwrap();
    let g = &resp.groups[0];
    let parts = g
        .topics
        .iter()
        .flat_map(|t| {
            t.partitions.iter().map(|p| FetchedOffset {
                topic: t.name.as_str().to_string(),
                partition: p.partition_index,
                offset: p.committed_offset,
                leader_epoch: p.committed_leader_epoch,
                metadata: p.metadata.as_ref().map_or("", |m| m.as_str()).to_string(),
                error: p.error_code,
            })
        })
        .collect();
    (g.error_code, parts)
}
