//! Request dispatch: header decoding, the API version table, intercepts, and
//! encoding the response frame. One file per API group beside this one.

use std::sync::atomic::AtomicBool;

use bytes::{BufMut, Bytes, BytesMut};

use crate::messages::*;

use super::cluster::Shared;
use super::partition::Partition;
use super::{codes, Action, InterceptedRequest};

mod admin;
mod fetch;
mod log_dirs;
pub(crate) mod meta;
mod offsets;
mod produce;
pub(crate) mod sasl;

pub(crate) use sasl::ConnState;

/// What a connection thread needs to serve a request.
pub(crate) struct Ctx<'a> {
    pub shared: &'a Shared,
    pub broker: i32,
    pub stop: &'a AtomicBool,
}

/// What to do after a frame.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// Write these bytes (a whole frame, size prefix included).
    Reply(Bytes),
    /// Nothing to write (produce with acks=0).
    NoReply,
    /// Close the connection without answering.
    Close,
}

/// What a handler returns.
pub(crate) enum Handled {
    Reply(Reply),
    NoReply,
    Close,
}

macro_rules! apis {
    ($($key:ident: $req:ident => $resp:ident;)*) => {
        /// A decoded request of an API the fake implements.
        pub(crate) enum Req { $($key($req),)* }
        /// A response to encode.
        pub(crate) enum Reply { $($key($resp),)* }

        /// The APIs the fake implements, advertised in ApiVersions.
        pub(crate) const SUPPORTED: &[ApiKey] = &[$(ApiKey::$key,)*];

        /// The versions each request type decodes (kafka-protocol's
        /// `ApiKey` table can list one more than the request type reads).
        const DECODABLE: &[(ApiKey, VersionRange)] =
            &[$((ApiKey::$key, <$req as Message>::VERSIONS),)*];

        impl Req {
            fn decode(key: ApiKey, buf: &mut Bytes, version: i16) -> Option<Result<Req, String>> {
                match key {
                    $(ApiKey::$key => Some($req::decode(buf, version).map(Req::$key).map_err(|e| e.to_string())),)*
                    _ => None,
                }
            }
        }

        impl Reply {
            fn encode(&self, buf: &mut Vec<u8>, version: i16) -> Result<(), String> {
                match self { $(Reply::$key(r) => r.encode(buf, version).map_err(|e| e.to_string()),)* }
            }
        }
    };
}

apis! {
    Produce: ProduceRequest => ProduceResponse;
    Fetch: FetchRequest => FetchResponse;
    ListOffsets: ListOffsetsRequest => ListOffsetsResponse;
    Metadata: MetadataRequest => MetadataResponse;
    FindCoordinator: FindCoordinatorRequest => FindCoordinatorResponse;
    SaslHandshake: SaslHandshakeRequest => SaslHandshakeResponse;
    ApiVersions: ApiVersionsRequest => ApiVersionsResponse;
    CreateTopics: CreateTopicsRequest => CreateTopicsResponse;
    DeleteTopics: DeleteTopicsRequest => DeleteTopicsResponse;
    DeleteRecords: DeleteRecordsRequest => DeleteRecordsResponse;
    InitProducerId: InitProducerIdRequest => InitProducerIdResponse;
    OffsetForLeaderEpoch: OffsetForLeaderEpochRequest => OffsetForLeaderEpochResponse;
    DescribeConfigs: DescribeConfigsRequest => DescribeConfigsResponse;
    SaslAuthenticate: SaslAuthenticateRequest => SaslAuthenticateResponse;
    CreatePartitions: CreatePartitionsRequest => CreatePartitionsResponse;
    JoinGroup: JoinGroupRequest => JoinGroupResponse;
    SyncGroup: SyncGroupRequest => SyncGroupResponse;
    Heartbeat: HeartbeatRequest => HeartbeatResponse;
    LeaveGroup: LeaveGroupRequest => LeaveGroupResponse;
    OffsetCommit: OffsetCommitRequest => OffsetCommitResponse;
    OffsetFetch: OffsetFetchRequest => OffsetFetchResponse;
    OffsetDelete: OffsetDeleteRequest => OffsetDeleteResponse;
    DescribeGroups: DescribeGroupsRequest => DescribeGroupsResponse;
    ListGroups: ListGroupsRequest => ListGroupsResponse;
    DeleteGroups: DeleteGroupsRequest => DeleteGroupsResponse;
    AddPartitionsToTxn: AddPartitionsToTxnRequest => AddPartitionsToTxnResponse;
    AddOffsetsToTxn: AddOffsetsToTxnRequest => AddOffsetsToTxnResponse;
    EndTxn: EndTxnRequest => EndTxnResponse;
    TxnOffsetCommit: TxnOffsetCommitRequest => TxnOffsetCommitResponse;
    DescribeTransactions: DescribeTransactionsRequest => DescribeTransactionsResponse;
    ListTransactions: ListTransactionsRequest => ListTransactionsResponse;
    AlterReplicaLogDirs: AlterReplicaLogDirsRequest => AlterReplicaLogDirsResponse;
}

impl Reply {
    fn set_throttle(&mut self, ms: i32) {
        match self {
            Reply::Produce(r) => r.throttle_time_ms = ms,
            Reply::Fetch(r) => r.throttle_time_ms = ms,
            Reply::ListOffsets(r) => r.throttle_time_ms = ms,
            Reply::Metadata(r) => r.throttle_time_ms = ms,
            Reply::FindCoordinator(r) => r.throttle_time_ms = ms,
            Reply::ApiVersions(r) => r.throttle_time_ms = ms,
            Reply::CreateTopics(r) => r.throttle_time_ms = ms,
            Reply::DeleteTopics(r) => r.throttle_time_ms = ms,
            Reply::DeleteRecords(r) => r.throttle_time_ms = ms,
            Reply::InitProducerId(r) => r.throttle_time_ms = ms,
            Reply::OffsetForLeaderEpoch(r) => r.throttle_time_ms = ms,
            Reply::DescribeConfigs(r) => r.throttle_time_ms = ms,
            Reply::CreatePartitions(r) => r.throttle_time_ms = ms,
            Reply::JoinGroup(r) => r.throttle_time_ms = ms,
            Reply::SyncGroup(r) => r.throttle_time_ms = ms,
            Reply::Heartbeat(r) => r.throttle_time_ms = ms,
            Reply::LeaveGroup(r) => r.throttle_time_ms = ms,
            Reply::OffsetCommit(r) => r.throttle_time_ms = ms,
            Reply::OffsetFetch(r) => r.throttle_time_ms = ms,
            Reply::OffsetDelete(r) => r.throttle_time_ms = ms,
            Reply::DescribeGroups(r) => r.throttle_time_ms = ms,
            Reply::ListGroups(r) => r.throttle_time_ms = ms,
            Reply::DeleteGroups(r) => r.throttle_time_ms = ms,
            Reply::AddPartitionsToTxn(r) => r.throttle_time_ms = ms,
            Reply::AddOffsetsToTxn(r) => r.throttle_time_ms = ms,
            Reply::EndTxn(r) => r.throttle_time_ms = ms,
            Reply::TxnOffsetCommit(r) => r.throttle_time_ms = ms,
            Reply::DescribeTransactions(r) => r.throttle_time_ms = ms,
            Reply::ListTransactions(r) => r.throttle_time_ms = ms,
            Reply::AlterReplicaLogDirs(r) => r.throttle_time_ms = ms,
            Reply::SaslHandshake(_) | Reply::SaslAuthenticate(_) => {}
        }
    }
}

/// The version range the fake serves for `key`: everything kafka-protocol
/// 0.18 can both decode (the request) and encode (the response), so a
/// client never negotiates a version whose request closes the connection.
///
/// EndTxn v5 and TxnOffsetCommit v5 are transaction version 2 (KIP-890
/// part 2: an epoch bump per transaction), which the fake does not
/// implement; Java does not advertise them either unless that feature is
/// enabled.
pub(crate) fn versions(shared: &Shared, key: ApiKey) -> Option<(i16, i16)> {
    if shared.settings.kafka_0_10 {
        return kafka_0_10_2(key);
    }
    let (_, req) = DECODABLE.iter().find(|(k, _)| *k == key)?;
    let v = key.valid_versions().intersect(req);
    let max = match key {
        ApiKey::EndTxn | ApiKey::TxnOffsetCommit => v.max.min(4),
        _ => v.max,
    };
    Some((v.min.max(java4_floor(key)), max))
}

/// The APIs of Kafka 0.10.2 that the fake implements, at 0.10.2's versions
/// (every one from v0): apache/kafka 0.10.2 `ApiKeys`/`Protocol`, as
/// franz-go's `kversion.V0_10_2` lists them: Produce 2, Fetch 3 (KIP-74),
/// ListOffsets 1 (KIP-79), Metadata 2 (KIP-78), OffsetCommit 2, OffsetFetch
/// 1 (kversion puts v2, KAFKA-3853, in 0.11; the lower of the two readings,
/// so the fake never accepts what a 0.10.2 broker may refuse),
/// FindCoordinator 0, JoinGroup 1
/// (KIP-62), Heartbeat, LeaveGroup, SyncGroup, DescribeGroups, ListGroups,
/// SaslHandshake and ApiVersions 0, CreateTopics 1 (KIP-108), DeleteTopics 0.
/// InitProducerId, transactions and the rest came with 0.11 (KIP-98).
fn kafka_0_10_2(key: ApiKey) -> Option<(i16, i16)> {
    let max = match key {
        ApiKey::Produce | ApiKey::Metadata | ApiKey::OffsetCommit => 2,
        ApiKey::Fetch => 3,
        ApiKey::ListOffsets | ApiKey::JoinGroup | ApiKey::CreateTopics | ApiKey::OffsetFetch => 1,
        ApiKey::FindCoordinator
        | ApiKey::Heartbeat
        | ApiKey::LeaveGroup
        | ApiKey::SyncGroup
        | ApiKey::DescribeGroups
        | ApiKey::ListGroups
        | ApiKey::SaslHandshake
        | ApiKey::ApiVersions
        | ApiKey::DeleteTopics => 0,
        _ => return None,
    };
    Some((0, max))
}

/// The oldest version Apache Kafka 4.0 still serves (KIP-896 removed the
/// older ones): the fake, like the Java broker, closes the connection on a
/// request below it.
fn java4_floor(key: ApiKey) -> i16 {
    match key {
        ApiKey::Produce => 3,
        ApiKey::Fetch => 4,
        ApiKey::ListOffsets | ApiKey::DeleteTopics | ApiKey::DescribeConfigs => 1,
        ApiKey::OffsetFetch => 1,
        ApiKey::CreateTopics | ApiKey::OffsetForLeaderEpoch | ApiKey::OffsetCommit => 2,
        _ => 0,
    }
}

/// Java `Partition.getLocalLog`: the client's leader epoch is checked
/// first (FENCED_LEADER_EPOCH if older, UNKNOWN_LEADER_EPOCH if newer; -1
/// skips the check), then leadership.
pub(super) fn check_leader(part: &Partition, broker: i32, current_epoch: i32) -> Result<(), i16> {
    if current_epoch >= 0 {
        if current_epoch < part.leader_epoch {
            return Err(codes::FENCED_LEADER_EPOCH);
        }
        if current_epoch > part.leader_epoch {
            return Err(codes::UNKNOWN_LEADER_EPOCH);
        }
    }
    if part.leader != broker {
        return Err(codes::NOT_LEADER_OR_FOLLOWER);
    }
    Ok(())
}

/// Handles one request frame.
pub(crate) fn handle_frame(ctx: &Ctx<'_>, conn: &mut ConnState, frame: Bytes) -> Outcome {
    if conn.raw_sasl() {
        // SaslHandshake v0: the next frame is a bare SASL token (KIP-43).
        return sasl::raw_token(conn, &frame);
    }
    if frame.len() < 8 {
        return Outcome::Close;
    }
    let raw_key = i16::from_be_bytes([frame[0], frame[1]]);
    let version = i16::from_be_bytes([frame[2], frame[3]]);
    let Ok(key) = ApiKey::try_from(raw_key) else {
        // Kafka closes the connection on an unknown API key.
        return Outcome::Close;
    };
    let mut buf = frame;
    let Ok(header) = decode_request_header(&mut buf) else {
        return Outcome::Close;
    };
    let correlation_id = header.correlation_id;
    ctx.shared.count(ctx.broker, raw_key);
    if !conn.may_send(key) {
        // Java's SaslServerAuthenticator: anything else before
        // authentication is an illegal state and closes the connection.
        return Outcome::Close;
    }
    let api_versions_max = if ctx.shared.settings.kafka_0_10 { 0 } else { 4 };
    if key == ApiKey::ApiVersions && !(0..=api_versions_max).contains(&version) {
        return unsupported_api_versions(ctx.shared, correlation_id);
    }
    match versions(ctx.shared, key) {
        Some((min, max)) if (min..=max).contains(&version) => {}
        // Java fails to parse the request and closes the connection.
        _ => return Outcome::Close,
    }
    let body = buf.clone();
    let req = match Req::decode(key, &mut buf, version) {
        Some(Ok(r)) => r,
        _ => return Outcome::Close,
    };
    let mut throttle = None;
    if let Some(f) = ctx.shared.take_intercept(ctx.broker, raw_key) {
        let seen = InterceptedRequest {
            broker: ctx.broker,
            key: raw_key,
            version,
            correlation_id,
            client_id: header.client_id.as_ref().map(|s| s.as_str().to_string()),
            body,
        };
        let action = (f.lock())(&seen);
        match action {
            Action::PassThrough => {}
            Action::DropConnection => return Outcome::Close,
            Action::Delay(d) => {
                if ctx.shared.sleep(d, ctx.stop) {
                    return Outcome::Close;
                }
            }
            Action::Throttle(d) => {
                throttle = Some(i32::try_from(d.as_millis()).unwrap_or(i32::MAX))
            }
            Action::ErrorCode(code) => {
                return frame_out(
                    key,
                    version,
                    correlation_id,
                    &error_reply(&req, version, code),
                );
            }
            Action::Respond(resp) => {
                let mut body = Vec::new();
                if !(resp.encode)(&mut body, version) {
                    return Outcome::Close;
                }
                return frame_bytes(key, version, correlation_id, &body);
            }
        }
    }
    let client_id = header.client_id.as_ref().map_or("", |c| c.as_str());
    match dispatch(ctx, conn, req, version, client_id) {
        Handled::Reply(mut reply) => {
            if let Some(ms) = throttle {
                reply.set_throttle(ms);
            }
            frame_out(key, version, correlation_id, &reply)
        }
        Handled::NoReply => Outcome::NoReply,
        Handled::Close => Outcome::Close,
    }
}

fn dispatch(
    ctx: &Ctx<'_>,
    conn: &mut ConnState,
    req: Req,
    version: i16,
    client_id: &str,
) -> Handled {
    use super::coordinator as co;
    let reply = match req {
        Req::ApiVersions(r) => Reply::ApiVersions(meta::api_versions(ctx.shared, &r, version)),
        Req::Metadata(r) => Reply::Metadata(meta::metadata(ctx, &r, version)),
        Req::FindCoordinator(r) => {
            Reply::FindCoordinator(super::coordinator::find(ctx, &r, version))
        }
        Req::DescribeConfigs(r) => Reply::DescribeConfigs(meta::describe_configs(ctx, &r, version)),
        Req::CreateTopics(r) => Reply::CreateTopics(admin::create_topics(ctx, &r, version)),
        Req::DeleteTopics(r) => Reply::DeleteTopics(admin::delete_topics(ctx, &r, version)),
        Req::CreatePartitions(r) => Reply::CreatePartitions(admin::create_partitions(ctx, &r)),
        Req::DeleteRecords(r) => Reply::DeleteRecords(admin::delete_records(ctx, &r)),
        Req::Produce(r) => return produce::produce(ctx, &r, version),
        Req::InitProducerId(r) => {
            Reply::InitProducerId(produce::init_producer_id(ctx, &r, version))
        }
        Req::Fetch(r) => Reply::Fetch(fetch::fetch(ctx, &r, version)),
        Req::ListOffsets(r) => Reply::ListOffsets(offsets::list_offsets(ctx, &r, version)),
        Req::OffsetForLeaderEpoch(r) => {
            Reply::OffsetForLeaderEpoch(offsets::offset_for_leader_epoch(ctx, &r))
        }
        Req::SaslHandshake(r) => return sasl::handshake(ctx, conn, &r, version),
        Req::SaslAuthenticate(r) => return sasl::authenticate(conn, &r),
        Req::JoinGroup(r) => return co::join_group(ctx, client_id, &r, version),
        Req::SyncGroup(r) => return co::sync_group(ctx, &r, version),
        Req::Heartbeat(r) => return co::heartbeat(ctx, &r),
        Req::LeaveGroup(r) => return co::leave_group(ctx, &r, version),
        Req::OffsetCommit(r) => return co::offset_commit(ctx, &r, version),
        Req::OffsetFetch(r) => return co::offset_fetch(ctx, &r, version),
        Req::OffsetDelete(r) => return co::offset_delete(ctx, &r),
        Req::DescribeGroups(r) => return co::describe_groups(ctx, &r, version),
        Req::ListGroups(r) => return co::list_groups(ctx, &r, version),
        Req::DeleteGroups(r) => return co::delete_groups(ctx, &r),
        Req::AddPartitionsToTxn(r) => {
            Reply::AddPartitionsToTxn(co::add_partitions_to_txn(ctx, &r, version))
        }
        Req::AddOffsetsToTxn(r) => Reply::AddOffsetsToTxn(co::add_offsets_to_txn(ctx, &r, version)),
        Req::EndTxn(r) => Reply::EndTxn(co::end_txn(ctx, &r, version)),
        Req::TxnOffsetCommit(r) => return co::txn_offset_commit(ctx, &r, version),
        Req::DescribeTransactions(r) => {
            Reply::DescribeTransactions(co::describe_transactions(ctx, &r))
        }
        Req::ListTransactions(r) => {
            Reply::ListTransactions(co::list_transactions(ctx, &r, version))
        }
        Req::AlterReplicaLogDirs(r) => {
            Reply::AlterReplicaLogDirs(log_dirs::alter_replica_log_dirs(ctx, &r))
        }
    };
    Handled::Reply(reply)
}

/// The request's normal response with `code` in every error field
/// ([`Action::ErrorCode`]).
fn error_reply(req: &Req, version: i16, code: i16) -> Reply {
    use super::coordinator as co;
    match req {
        Req::ApiVersions(_) => {
            Reply::ApiVersions(ApiVersionsResponse::default().with_error_code(code))
        }
        Req::Metadata(r) => Reply::Metadata(meta::metadata_error(r, version, code)),
        Req::FindCoordinator(r) => {
            Reply::FindCoordinator(super::coordinator::find_error(r, version, code))
        }
        Req::DescribeConfigs(r) => Reply::DescribeConfigs(meta::describe_configs_error(r, code)),
        Req::CreateTopics(r) => Reply::CreateTopics(admin::create_topics_error(r, code)),
        Req::DeleteTopics(r) => Reply::DeleteTopics(admin::delete_topics_error(r, version, code)),
        Req::CreatePartitions(r) => {
            Reply::CreatePartitions(admin::create_partitions_error(r, code))
        }
        Req::DeleteRecords(r) => Reply::DeleteRecords(admin::delete_records_error(r, code)),
        Req::Produce(r) => Reply::Produce(produce::produce_error(r, code)),
        Req::InitProducerId(_) => {
            Reply::InitProducerId(InitProducerIdResponse::default().with_error_code(code))
        }
        Req::Fetch(r) => Reply::Fetch(fetch::fetch_error(r, version, code)),
        Req::ListOffsets(r) => Reply::ListOffsets(offsets::list_offsets_error(r, code)),
        Req::OffsetForLeaderEpoch(r) => {
            Reply::OffsetForLeaderEpoch(offsets::offset_for_leader_epoch_error(r, code))
        }
        Req::SaslHandshake(_) => {
            Reply::SaslHandshake(SaslHandshakeResponse::default().with_error_code(code))
        }
        Req::SaslAuthenticate(_) => {
            Reply::SaslAuthenticate(SaslAuthenticateResponse::default().with_error_code(code))
        }
        Req::JoinGroup(r) => Reply::JoinGroup(co::join_group_error(r, version, code)),
        Req::SyncGroup(_) => Reply::SyncGroup(co::sync_group_error(version, code)),
        Req::Heartbeat(_) => Reply::Heartbeat(HeartbeatResponse::default().with_error_code(code)),
        Req::LeaveGroup(_) => Reply::LeaveGroup(co::leave_group_error(version, code)),
        Req::OffsetCommit(r) => Reply::OffsetCommit(co::offset_commit_error(r, code)),
        Req::OffsetFetch(r) => Reply::OffsetFetch(co::offset_fetch_error(r, version, code)),
        Req::OffsetDelete(_) => Reply::OffsetDelete(co::offset_delete_error(code)),
        Req::DescribeGroups(r) => Reply::DescribeGroups(co::describe_groups_error(r, code)),
        Req::ListGroups(_) => {
            Reply::ListGroups(ListGroupsResponse::default().with_error_code(code))
        }
        Req::DeleteGroups(r) => Reply::DeleteGroups(co::delete_groups_error(r, code)),
        Req::AddPartitionsToTxn(r) => {
            Reply::AddPartitionsToTxn(co::add_partitions_to_txn_error(r, version, code))
        }
        Req::AddOffsetsToTxn(_) => {
            Reply::AddOffsetsToTxn(AddOffsetsToTxnResponse::default().with_error_code(code))
        }
        Req::EndTxn(_) => Reply::EndTxn(
            EndTxnResponse::default()
                .with_error_code(code)
                .with_producer_id(ProducerId(-1))
                .with_producer_epoch(-1),
        ),
        Req::TxnOffsetCommit(r) => Reply::TxnOffsetCommit(co::txn_offset_commit_error(r, code)),
        Req::DescribeTransactions(r) => {
            Reply::DescribeTransactions(co::describe_transactions_error(r, code))
        }
        Req::ListTransactions(_) => {
            Reply::ListTransactions(ListTransactionsResponse::default().with_error_code(code))
        }
        Req::AlterReplicaLogDirs(r) => {
            Reply::AlterReplicaLogDirs(log_dirs::alter_replica_log_dirs_error(r, code))
        }
    }
}

/// KIP-511: an ApiVersions version the broker does not know gets
/// UNSUPPORTED_VERSION in a v0 body that still lists what is supported.
/// Before Kafka 2.4 the list was empty (0.10.2's
/// `ApiVersionsResponse.fromError`): the client retries at v0.
fn unsupported_api_versions(shared: &Shared, correlation_id: i32) -> Outcome {
    let mut resp = if shared.settings.kafka_0_10 {
        ApiVersionsResponse::default()
    } else {
        meta::api_versions(shared, &ApiVersionsRequest::default(), 0)
    };
    resp.error_code = codes::UNSUPPORTED_VERSION;
    let mut body = Vec::new();
    if resp.encode(&mut body, 0).is_err() {
        return Outcome::Close;
    }
    frame_bytes(ApiKey::ApiVersions, 0, correlation_id, &body)
}

fn frame_out(key: ApiKey, version: i16, correlation_id: i32, reply: &Reply) -> Outcome {
    let mut body = Vec::new();
    match reply.encode(&mut body, version) {
        Ok(()) => frame_bytes(key, version, correlation_id, &body),
        Err(e) => {
            // A handler built a field this version cannot carry: a fake bug,
            // reported and answered by closing rather than by panicking.
            log::error!(target: "kafka_sync::fake", "cannot encode {key:?} v{version} response: {e}");
            Outcome::Close
        }
    }
}

/// Size prefix, response header, body. ApiVersions always uses header v0
/// (KIP-511) so a client can parse it before it knows any versions.
fn frame_bytes(key: ApiKey, version: i16, correlation_id: i32, body: &[u8]) -> Outcome {
    let header_v = if key == ApiKey::ApiVersions {
        0
    } else {
        key.response_header_version(version)
    };
    let header_len = if header_v >= 1 { 5 } else { 4 };
    let Ok(size) = i32::try_from(header_len + body.len()) else {
        return Outcome::Close;
    };
    let mut out = BytesMut::with_capacity(4 + header_len + body.len());
    out.put_i32(size);
    out.put_i32(correlation_id);
    if header_v >= 1 {
        out.put_u8(0); // no tagged fields
    }
    out.put_slice(body);
    Outcome::Reply(out.freeze())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake::Cluster;

    /// Every implemented API answers a default request at every version
    /// with a response that encodes, both normally and as an error reply.
    #[test]
    fn every_api_and_version_encodes() {
        every_api_and_version_encodes_in(Cluster::builder());
    }

    /// The same for the Kafka 0.10 mode's APIs and versions.
    #[test]
    fn every_kafka_0_10_api_and_version_encodes() {
        every_api_and_version_encodes_in(Cluster::builder().kafka_0_10());
    }

    fn every_api_and_version_encodes_in(builder: crate::fake::ClusterBuilder) {
        let cluster = builder.brokers(2).topic("t", 2).build().unwrap();
        let stop = AtomicBool::new(false);
        let ctx = Ctx {
            shared: &cluster.shared,
            broker: 0,
            stop: &stop,
        };
        for &key in SUPPORTED {
            let Some((min, max)) = versions(&cluster.shared, key) else {
                continue;
            };
            for v in min..=max {
                let mut conn = ConnState::new(false);
                let req = default_req(key);
                let reply = error_reply(&req, v, 6);
                let mut b = Vec::new();
                reply
                    .encode(&mut b, v)
                    .unwrap_or_else(|e| panic!("{key:?} v{v} error reply: {e}"));
                if matches!(key, ApiKey::SaslHandshake | ApiKey::SaslAuthenticate) {
                    continue;
                }
                let mut req = default_req(key);
                if let Req::JoinGroup(r) = &mut req {
                    // A fresh group per version, so no join waits for
                    // the members of an earlier version.
                    r.group_id = GroupId(crate::messages::StrBytes::from_string(format!("t{v}")));
                }
                match dispatch(&ctx, &mut conn, req, v, "test") {
                    Handled::Reply(r) => {
                        let mut b = Vec::new();
                        r.encode(&mut b, v)
                            .unwrap_or_else(|e| panic!("{key:?} v{v}: {e}"));
                    }
                    Handled::NoReply | Handled::Close => {}
                }
            }
        }
    }

    fn default_req(key: ApiKey) -> Req {
        use crate::messages::StrBytes;
        let t = || TopicName(StrBytes::from_static_str("t"));
        let name = || StrBytes::from_static_str("t");
        match key {
            ApiKey::Produce => {
                let records = crate::fake::batch::encode_batch(0, 1, 1, 0);
                let pd =
                    produce_request::PartitionProduceData::default().with_records(Some(records));
                let td = produce_request::TopicProduceData::default()
                    .with_name(t())
                    .with_partition_data(vec![pd]);
                Req::Produce(
                    ProduceRequest::default()
                        .with_acks(1)
                        .with_topic_data(vec![td]),
                )
            }
            ApiKey::Fetch => {
                let p = fetch_request::FetchPartition::default().with_partition_max_bytes(100);
                let ft = fetch_request::FetchTopic::default()
                    .with_topic(t())
                    .with_partitions(vec![p]);
                Req::Fetch(
                    FetchRequest::default()
                        .with_max_wait_ms(0)
                        .with_topics(vec![ft]),
                )
            }
            ApiKey::ListOffsets => {
                let p = list_offsets_request::ListOffsetsPartition::default().with_timestamp(-1);
                let lt = list_offsets_request::ListOffsetsTopic::default()
                    .with_name(t())
                    .with_partitions(vec![p]);
                Req::ListOffsets(ListOffsetsRequest::default().with_topics(vec![lt]))
            }
            ApiKey::Metadata => {
                let mt = metadata_request::MetadataRequestTopic::default().with_name(Some(t()));
                Req::Metadata(MetadataRequest::default().with_topics(Some(vec![mt])))
            }
            ApiKey::FindCoordinator => Req::FindCoordinator(
                FindCoordinatorRequest::default()
                    .with_key(name())
                    .with_coordinator_keys(vec![name()]),
            ),
            ApiKey::SaslHandshake => Req::SaslHandshake(SaslHandshakeRequest::default()),
            ApiKey::ApiVersions => Req::ApiVersions(ApiVersionsRequest::default()),
            ApiKey::CreateTopics => {
                let ct = create_topics_request::CreatableTopic::default()
                    .with_name(TopicName(StrBytes::from_static_str("new")))
                    .with_num_partitions(1)
                    .with_replication_factor(1);
                Req::CreateTopics(
                    CreateTopicsRequest::default()
                        .with_topics(vec![ct])
                        .with_validate_only(true),
                )
            }
            ApiKey::DeleteTopics => Req::DeleteTopics(
                DeleteTopicsRequest::default()
                    .with_topic_names(vec![TopicName(StrBytes::from_static_str("missing"))])
                    .with_topics(vec![delete_topics_request::DeleteTopicState::default()
                        .with_name(Some(TopicName(StrBytes::from_static_str("missing"))))]),
            ),
            ApiKey::DeleteRecords => {
                let p = delete_records_request::DeleteRecordsPartition::default().with_offset(0);
                let dt = delete_records_request::DeleteRecordsTopic::default()
                    .with_name(t())
                    .with_partitions(vec![p]);
                Req::DeleteRecords(DeleteRecordsRequest::default().with_topics(vec![dt]))
            }
            ApiKey::InitProducerId => {
                Req::InitProducerId(InitProducerIdRequest::default().with_transactional_id(None))
            }
            ApiKey::OffsetForLeaderEpoch => {
                let p = offset_for_leader_epoch_request::OffsetForLeaderPartition::default();
                let ot = offset_for_leader_epoch_request::OffsetForLeaderTopic::default()
                    .with_topic(t())
                    .with_partitions(vec![p]);
                Req::OffsetForLeaderEpoch(
                    OffsetForLeaderEpochRequest::default().with_topics(vec![ot]),
                )
            }
            ApiKey::DescribeConfigs => {
                let topic = describe_configs_request::DescribeConfigsResource::default()
                    .with_resource_type(2)
                    .with_resource_name(name());
                let broker = describe_configs_request::DescribeConfigsResource::default()
                    .with_resource_type(4);
                Req::DescribeConfigs(
                    DescribeConfigsRequest::default()
                        .with_resources(vec![topic, broker])
                        .with_include_synonyms(true),
                )
            }
            ApiKey::SaslAuthenticate => Req::SaslAuthenticate(SaslAuthenticateRequest::default()),
            ApiKey::CreatePartitions => {
                let ct = create_partitions_request::CreatePartitionsTopic::default()
                    .with_name(t())
                    .with_count(1);
                Req::CreatePartitions(CreatePartitionsRequest::default().with_topics(vec![ct]))
            }
            ApiKey::JoinGroup => Req::JoinGroup(
                JoinGroupRequest::default()
                    .with_group_id(GroupId(name()))
                    .with_session_timeout_ms(10_000)
                    .with_rebalance_timeout_ms(10_000)
                    .with_protocol_type(StrBytes::from_static_str("consumer"))
                    .with_protocols(vec![join_group_request::JoinGroupRequestProtocol::default(
                    )
                    .with_name(StrBytes::from_static_str("range"))]),
            ),
            ApiKey::SyncGroup => {
                Req::SyncGroup(SyncGroupRequest::default().with_group_id(GroupId(name())))
            }
            ApiKey::Heartbeat => {
                Req::Heartbeat(HeartbeatRequest::default().with_group_id(GroupId(name())))
            }
            ApiKey::LeaveGroup => Req::LeaveGroup(
                LeaveGroupRequest::default()
                    .with_group_id(GroupId(name()))
                    .with_members(vec![leave_group_request::MemberIdentity::default()]),
            ),
            ApiKey::OffsetCommit => {
                let p = offset_commit_request::OffsetCommitRequestPartition::default();
                let ot = offset_commit_request::OffsetCommitRequestTopic::default()
                    .with_name(t())
                    .with_partitions(vec![p]);
                Req::OffsetCommit(
                    OffsetCommitRequest::default()
                        .with_group_id(GroupId(name()))
                        .with_topics(vec![ot]),
                )
            }
            ApiKey::OffsetFetch => {
                let ot = offset_fetch_request::OffsetFetchRequestTopic::default()
                    .with_name(t())
                    .with_partition_indexes(vec![0]);
                let og = offset_fetch_request::OffsetFetchRequestGroup::default()
                    .with_group_id(GroupId(name()));
                Req::OffsetFetch(
                    OffsetFetchRequest::default()
                        .with_group_id(GroupId(name()))
                        .with_topics(Some(vec![ot]))
                        .with_groups(vec![og]),
                )
            }
            ApiKey::OffsetDelete => {
                let p = offset_delete_request::OffsetDeleteRequestPartition::default();
                let ot = offset_delete_request::OffsetDeleteRequestTopic::default()
                    .with_name(t())
                    .with_partitions(vec![p]);
                Req::OffsetDelete(
                    OffsetDeleteRequest::default()
                        .with_group_id(GroupId(name()))
                        .with_topics(vec![ot]),
                )
            }
            ApiKey::DescribeGroups => Req::DescribeGroups(
                DescribeGroupsRequest::default()
                    .with_groups(vec![GroupId(name())])
                    .with_include_authorized_operations(true),
            ),
            ApiKey::ListGroups => Req::ListGroups(ListGroupsRequest::default()),
            ApiKey::DeleteGroups => Req::DeleteGroups(
                DeleteGroupsRequest::default().with_groups_names(vec![GroupId(name())]),
            ),
            ApiKey::AddPartitionsToTxn => {
                let topic = add_partitions_to_txn_request::AddPartitionsToTxnTopic::default()
                    .with_name(t())
                    .with_partitions(vec![0]);
                let txn = add_partitions_to_txn_request::AddPartitionsToTxnTransaction::default()
                    .with_transactional_id(TransactionalId(name()))
                    .with_topics(vec![topic.clone()]);
                Req::AddPartitionsToTxn(
                    AddPartitionsToTxnRequest::default()
                        .with_transactions(vec![txn])
                        .with_v3_and_below_transactional_id(TransactionalId(name()))
                        .with_v3_and_below_topics(vec![topic]),
                )
            }
            ApiKey::AddOffsetsToTxn => Req::AddOffsetsToTxn(
                AddOffsetsToTxnRequest::default()
                    .with_transactional_id(TransactionalId(name()))
                    .with_group_id(GroupId(name())),
            ),
            ApiKey::EndTxn => {
                Req::EndTxn(EndTxnRequest::default().with_transactional_id(TransactionalId(name())))
            }
            ApiKey::TxnOffsetCommit => {
                let p = txn_offset_commit_request::TxnOffsetCommitRequestPartition::default();
                let ot = txn_offset_commit_request::TxnOffsetCommitRequestTopic::default()
                    .with_name(t())
                    .with_partitions(vec![p]);
                Req::TxnOffsetCommit(
                    TxnOffsetCommitRequest::default()
                        .with_transactional_id(TransactionalId(name()))
                        .with_group_id(GroupId(name()))
                        .with_topics(vec![ot]),
                )
            }
            ApiKey::DescribeTransactions => Req::DescribeTransactions(
                DescribeTransactionsRequest::default()
                    .with_transactional_ids(vec![TransactionalId(name())]),
            ),
            ApiKey::ListTransactions => {
                Req::ListTransactions(ListTransactionsRequest::default().with_duration_filter(-1))
            }
            ApiKey::AlterReplicaLogDirs => {
                let topic = alter_replica_log_dirs_request::AlterReplicaLogDirTopic::default()
                    .with_name(t())
                    .with_partitions(vec![0]);
                let dir = alter_replica_log_dirs_request::AlterReplicaLogDir::default()
                    .with_path(name())
                    .with_topics(vec![topic]);
                Req::AlterReplicaLogDirs(AlterReplicaLogDirsRequest::default().with_dirs(vec![dir]))
            }
            other => panic!("no default for {other:?}"),
        }
    }

    /// A version is advertised only if its request decodes.
    #[test]
    fn versions_stop_where_requests_stop_decoding() {
        let c = Cluster::builder().brokers(1).build().unwrap();
        assert_eq!(versions(&c.shared, ApiKey::InitProducerId), Some((0, 5)));
        assert_eq!(versions(&c.shared, ApiKey::Metadata), Some((0, 13)));
        assert_eq!(versions(&c.shared, ApiKey::WriteTxnMarkers), None);
        let old = Cluster::builder().brokers(1).kafka_0_10().build().unwrap();
        assert_eq!(versions(&old.shared, ApiKey::Produce), Some((0, 2)));
        assert_eq!(versions(&old.shared, ApiKey::Fetch), Some((0, 3)));
        assert_eq!(versions(&old.shared, ApiKey::InitProducerId), None);
        assert_eq!(versions(&old.shared, ApiKey::ApiVersions), Some((0, 0)));
    }

    #[test]
    fn response_headers() {
        let Outcome::Reply(b) = frame_bytes(ApiKey::Metadata, 9, 7, &[1, 2]) else {
            panic!()
        };
        assert_eq!(b.as_ref(), &[0, 0, 0, 7, 0, 0, 0, 7, 0, 1, 2]);
        let Outcome::Reply(b) = frame_bytes(ApiKey::ApiVersions, 3, 7, &[1]) else {
            panic!()
        };
        assert_eq!(b.as_ref(), &[0, 0, 0, 5, 0, 0, 0, 7, 1]);
    }
}
