//! Our schemas against an independent implementation, the `kafka-protocol`
//! crate (a dev-dependency only): for every message and every version both
//! define, random valid encodings are generated from `schema.def` (a seeded
//! generator, every field filled, nullable fields sometimes null, tagged
//! fields sometimes present, unknown tags added), then
//!
//! - ours decodes them, consuming every byte, and re-encodes them to the same bytes;
//! - kafka-protocol decodes the same bytes and re-encodes them to the same bytes;
//! - ours encodes kafka-protocol's reading identically (both read the same thing).
//!
//! `KS_ORACLE_CASES` sets the cases per message and version (default 24).

#[path = "support/rng.rs"]
#[allow(dead_code)]
mod rng;
#[path = "support/schema_def.rs"]
mod schema_def;

use std::collections::HashMap;

use bytes::{Bytes, BytesMut};
use rng::Rng;
use schema_def::{parse, Field, Msg, Ty, Vers};

fn has(v: Vers, version: i16) -> bool {
    v.lo <= version && version <= v.hi
}

fn uvarint(out: &mut Vec<u8>, mut v: u32) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

struct Gen<'a> {
    rng: &'a mut Rng,
    version: i16,
    flexible: bool,
    structs: &'a HashMap<String, Vec<Field>>,
}

impl Gen<'_> {
    fn len(&mut self, out: &mut Vec<u8>, n: usize, compact: bool, short: bool) {
        if compact {
            uvarint(out, n as u32 + 1);
        } else if short {
            out.extend_from_slice(&(n as i16).to_be_bytes());
        } else {
            out.extend_from_slice(&(n as i32).to_be_bytes());
        }
    }

    fn null(&mut self, out: &mut Vec<u8>, ty: &Ty, compact: bool) {
        match ty {
            Ty::Struct(_) => out.push(0xff),
            _ if compact => out.push(0),
            Ty::Prim(p) if p == "string" => out.extend_from_slice(&(-1i16).to_be_bytes()),
            _ => out.extend_from_slice(&(-1i32).to_be_bytes()),
        }
    }

    /// A value of `ty`; `nonempty` forces a value that differs from any
    /// default (tagged fields are only written when not at their default).
    fn value(&mut self, out: &mut Vec<u8>, f: &Field, ty: &Ty, compact: bool, nonempty: bool) {
        match ty {
            Ty::Array(inner) => {
                let n = if nonempty {
                    1 + self.rng.below(2)
                } else {
                    self.rng.below(3)
                };
                self.len(out, n, compact, false);
                for _ in 0..n {
                    self.value(out, f, inner, compact, false);
                }
            }
            Ty::Struct(s) => {
                let structs = self.structs;
                self.fields(out, structs.get(s).unwrap_or(&f.fields));
            }
            Ty::Prim(p) => {
                let r = self.rng.next() | 1;
                match p.as_str() {
                    "bool" => out.push(
                        u8::from(nonempty || self.rng.one_in(2))
                            ^ u8::from(nonempty && f.default.as_deref() == Some("true")),
                    ),
                    "int8" => out.push(r as u8),
                    "int16" | "uint16" => out.extend_from_slice(&(r as u16).to_be_bytes()),
                    "int32" | "uint32" => out.extend_from_slice(&(r as u32 | 0x1000).to_be_bytes()),
                    "int64" => out.extend_from_slice(&(r | 0x1000).to_be_bytes()),
                    "float64" => out.extend_from_slice(&((r % 1000) as f64 + 0.5).to_be_bytes()),
                    "uuid" => {
                        out.extend_from_slice(&(self.rng.next() | 1).to_be_bytes());
                        out.extend_from_slice(&self.rng.next().to_be_bytes());
                    }
                    "string" => {
                        let n = 1 + self.rng.below(6);
                        self.len(out, n, compact, true);
                        for _ in 0..n {
                            out.push(b'a' + self.rng.below(26) as u8);
                        }
                    }
                    _ => {
                        let n = 1 + self.rng.below(6);
                        self.len(out, n, compact, false);
                        for _ in 0..n {
                            out.push(self.rng.next() as u8);
                        }
                    }
                }
            }
        }
    }

    fn field(&mut self, out: &mut Vec<u8>, f: &Field, tagged: bool) {
        let compact = match f.flex {
            Some(v) => !v.is_none() && has(v, self.version) && self.flexible,
            None => self.flexible,
        };
        if !tagged && has(f.nullable, self.version) && self.rng.one_in(4) {
            return self.null(out, &f.ty, compact);
        }
        if has(f.nullable, self.version) && matches!(f.ty, Ty::Struct(_)) {
            out.push(1);
        }
        self.value(out, f, &f.ty, compact, tagged);
    }

    fn fields(&mut self, out: &mut Vec<u8>, fields: &[Field]) {
        let v = self.version;
        let mut tagged = Vec::new();
        for f in fields {
            if f.tag.is_some() && self.flexible && has(f.tagged, v) && has(f.versions, v) {
                tagged.push(f);
            } else if has(f.versions, v) {
                self.field(out, f, false);
            }
        }
        if !self.flexible {
            return;
        }
        tagged.sort_by_key(|f| f.tag);
        let mut present = Vec::new();
        for f in tagged {
            if self.rng.one_in(2) {
                let mut b = Vec::new();
                self.field(&mut b, f, true);
                present.push((f.tag.unwrap_or(0) as u32, b));
            }
        }
        if self.rng.one_in(5) {
            present.push((9000 + self.rng.below(10) as u32, vec![7, 7, 7]));
        }
        uvarint(out, present.len() as u32);
        for (tag, b) in present {
            uvarint(out, tag);
            uvarint(out, b.len() as u32);
            out.extend_from_slice(&b);
        }
    }
}

fn structs_of(m: &Msg) -> HashMap<String, Vec<Field>> {
    fn walk(fields: &[Field], out: &mut HashMap<String, Vec<Field>>) {
        for f in fields {
            if !f.fields.is_empty() {
                let mut t = &f.ty;
                while let Ty::Array(inner) = t {
                    t = inner;
                }
                if let Ty::Struct(s) = t {
                    out.insert(s.clone(), f.fields.clone());
                }
                walk(&f.fields, out);
            }
        }
    }
    let mut out = HashMap::new();
    for c in &m.commons {
        out.insert(c.name.clone(), c.fields.clone());
        walk(&c.fields, &mut out);
    }
    walk(&m.fields, &mut out);
    out
}

/// Round-trips `bytes` through both implementations of one message.
trait Pair {
    fn versions(&self) -> (i16, i16);
    fn check(&self, bytes: &[u8], version: i16) -> Result<(), String>;
}

struct Both<O, T>(std::marker::PhantomData<(O, T)>);

impl<O, T> Pair for Both<O, T>
where
    O: kafka_sync::messages::Decodable
        + kafka_sync::messages::Encodable
        + kafka_sync::messages::Message
        + std::fmt::Debug,
    T: kafka_protocol::protocol::Decodable
        + kafka_protocol::protocol::Encodable
        + kafka_protocol::protocol::Message
        + std::fmt::Debug,
{
    fn versions(&self) -> (i16, i16) {
        (
            O::VERSIONS.min.max(T::VERSIONS.min),
            O::VERSIONS.max.min(T::VERSIONS.max),
        )
    }

    fn check(&self, bytes: &[u8], version: i16) -> Result<(), String> {
        let mut b = Bytes::copy_from_slice(bytes);
        let ours = O::decode(&mut b, version).map_err(|e| format!("ours decode: {e}"))?;
        if !b.is_empty() {
            return Err(format!("ours left {} bytes", b.len()));
        }
        let mut again = Vec::new();
        ours.encode(&mut again, version)
            .map_err(|e| format!("ours encode: {e}"))?;
        if again != bytes {
            return Err(format!("ours re-encoded differently: {ours:?}"));
        }
        let mut b = Bytes::copy_from_slice(bytes);
        let theirs = T::decode(&mut b, version).map_err(|e| format!("theirs decode: {e}"))?;
        if !b.is_empty() {
            return Err(format!("theirs left {} bytes", b.len()));
        }
        let mut t = BytesMut::new();
        theirs
            .encode(&mut t, version)
            .map_err(|e| format!("theirs encode: {e}"))?;
        if t[..] != bytes[..] {
            return Err(format!("theirs re-encoded differently: {theirs:?}"));
        }
        Ok(())
    }
}

macro_rules! pairs {
    ($($name:ident),* $(,)?) => {
        fn pairs() -> Vec<(&'static str, Box<dyn Pair>)> {
            vec![$((stringify!($name), Box::new(Both::<kafka_sync::messages::$name, kafka_protocol::messages::$name>(std::marker::PhantomData)) as Box<dyn Pair>),)*]
        }
    };
}

pairs!(
    ProduceRequest,
    ProduceResponse,
    FetchRequest,
    FetchResponse,
    ListOffsetsRequest,
    ListOffsetsResponse,
    MetadataRequest,
    MetadataResponse,
    OffsetCommitRequest,
    OffsetCommitResponse,
    OffsetFetchRequest,
    OffsetFetchResponse,
    FindCoordinatorRequest,
    FindCoordinatorResponse,
    JoinGroupRequest,
    JoinGroupResponse,
    HeartbeatRequest,
    HeartbeatResponse,
    LeaveGroupRequest,
    LeaveGroupResponse,
    SyncGroupRequest,
    SyncGroupResponse,
    DescribeGroupsRequest,
    DescribeGroupsResponse,
    ListGroupsRequest,
    ListGroupsResponse,
    SaslHandshakeRequest,
    SaslHandshakeResponse,
    ApiVersionsRequest,
    ApiVersionsResponse,
    CreateTopicsRequest,
    CreateTopicsResponse,
    DeleteTopicsRequest,
    DeleteTopicsResponse,
    DeleteRecordsRequest,
    DeleteRecordsResponse,
    InitProducerIdRequest,
    InitProducerIdResponse,
    OffsetForLeaderEpochRequest,
    OffsetForLeaderEpochResponse,
    AddPartitionsToTxnRequest,
    AddPartitionsToTxnResponse,
    AddOffsetsToTxnRequest,
    AddOffsetsToTxnResponse,
    EndTxnRequest,
    EndTxnResponse,
    WriteTxnMarkersRequest,
    WriteTxnMarkersResponse,
    TxnOffsetCommitRequest,
    TxnOffsetCommitResponse,
    DescribeAclsRequest,
    DescribeAclsResponse,
    CreateAclsRequest,
    CreateAclsResponse,
    DeleteAclsRequest,
    DeleteAclsResponse,
    DescribeConfigsRequest,
    DescribeConfigsResponse,
    AlterConfigsRequest,
    AlterConfigsResponse,
    AlterReplicaLogDirsRequest,
    AlterReplicaLogDirsResponse,
    DescribeLogDirsRequest,
    DescribeLogDirsResponse,
    SaslAuthenticateRequest,
    SaslAuthenticateResponse,
    CreatePartitionsRequest,
    CreatePartitionsResponse,
    CreateDelegationTokenRequest,
    CreateDelegationTokenResponse,
    RenewDelegationTokenRequest,
    RenewDelegationTokenResponse,
    ExpireDelegationTokenRequest,
    ExpireDelegationTokenResponse,
    DescribeDelegationTokenRequest,
    DescribeDelegationTokenResponse,
    DeleteGroupsRequest,
    DeleteGroupsResponse,
    ElectLeadersRequest,
    ElectLeadersResponse,
    IncrementalAlterConfigsRequest,
    IncrementalAlterConfigsResponse,
    AlterPartitionReassignmentsRequest,
    AlterPartitionReassignmentsResponse,
    ListPartitionReassignmentsRequest,
    ListPartitionReassignmentsResponse,
    OffsetDeleteRequest,
    OffsetDeleteResponse,
    DescribeClientQuotasRequest,
    DescribeClientQuotasResponse,
    AlterClientQuotasRequest,
    AlterClientQuotasResponse,
    DescribeUserScramCredentialsRequest,
    DescribeUserScramCredentialsResponse,
    AlterUserScramCredentialsRequest,
    AlterUserScramCredentialsResponse,
    VoteRequest,
    VoteResponse,
    BeginQuorumEpochRequest,
    BeginQuorumEpochResponse,
    EndQuorumEpochRequest,
    EndQuorumEpochResponse,
    DescribeQuorumRequest,
    DescribeQuorumResponse,
    AlterPartitionRequest,
    AlterPartitionResponse,
    UpdateFeaturesRequest,
    UpdateFeaturesResponse,
    EnvelopeRequest,
    EnvelopeResponse,
    FetchSnapshotRequest,
    FetchSnapshotResponse,
    DescribeClusterRequest,
    DescribeClusterResponse,
    DescribeProducersRequest,
    DescribeProducersResponse,
    BrokerRegistrationRequest,
    BrokerRegistrationResponse,
    BrokerHeartbeatRequest,
    BrokerHeartbeatResponse,
    UnregisterBrokerRequest,
    UnregisterBrokerResponse,
    DescribeTransactionsRequest,
    DescribeTransactionsResponse,
    ListTransactionsRequest,
    ListTransactionsResponse,
    AllocateProducerIdsRequest,
    AllocateProducerIdsResponse,
    ConsumerGroupHeartbeatRequest,
    ConsumerGroupHeartbeatResponse,
    ConsumerGroupDescribeRequest,
    ConsumerGroupDescribeResponse,
    ControllerRegistrationRequest,
    ControllerRegistrationResponse,
    GetTelemetrySubscriptionsRequest,
    GetTelemetrySubscriptionsResponse,
    PushTelemetryRequest,
    PushTelemetryResponse,
    AssignReplicasToDirsRequest,
    AssignReplicasToDirsResponse,
    ListConfigResourcesRequest,
    ListConfigResourcesResponse,
    DescribeTopicPartitionsRequest,
    DescribeTopicPartitionsResponse,
    ShareGroupHeartbeatRequest,
    ShareGroupHeartbeatResponse,
    ShareGroupDescribeRequest,
    ShareGroupDescribeResponse,
    ShareFetchRequest,
    ShareFetchResponse,
    ShareAcknowledgeRequest,
    ShareAcknowledgeResponse,
    AddRaftVoterRequest,
    AddRaftVoterResponse,
    RemoveRaftVoterRequest,
    RemoveRaftVoterResponse,
    UpdateRaftVoterRequest,
    UpdateRaftVoterResponse,
    InitializeShareGroupStateRequest,
    InitializeShareGroupStateResponse,
    ReadShareGroupStateRequest,
    ReadShareGroupStateResponse,
    WriteShareGroupStateRequest,
    WriteShareGroupStateResponse,
    DeleteShareGroupStateRequest,
    DeleteShareGroupStateResponse,
    ReadShareGroupStateSummaryRequest,
    ReadShareGroupStateSummaryResponse,
    DescribeShareGroupOffsetsRequest,
    DescribeShareGroupOffsetsResponse,
    AlterShareGroupOffsetsRequest,
    AlterShareGroupOffsetsResponse,
    DeleteShareGroupOffsetsRequest,
    DeleteShareGroupOffsetsResponse,
    RequestHeader,
    ResponseHeader
);

#[test]
fn every_message_and_version_round_trips_against_kafka_protocol() {
    let def = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/src/messages/schema.def"
    ))
    .unwrap();
    let msgs: HashMap<String, Msg> = parse(&def)
        .unwrap()
        .into_iter()
        .map(|m| (m.name.clone(), m))
        .collect();
    let cases: u64 = std::env::var("KS_ORACLE_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(24);
    let mut rng = Rng(0x5eed_0001);
    let (mut checked, mut failures) = (0u64, Vec::new());
    let mut failed = std::collections::BTreeSet::<&str>::new();
    let pairs = pairs();
    assert!(pairs.len() > 150, "{} pairs", pairs.len());
    for (name, pair) in &pairs {
        let m = &msgs[*name];
        let structs = structs_of(m);
        let (lo, hi) = pair.versions();
        for version in lo..=hi {
            let flexible = has(m.flex, version);
            for case in 0..cases {
                let mut out = Vec::new();
                Gen {
                    rng: &mut rng,
                    version,
                    flexible,
                    structs: &structs,
                }
                .fields(&mut out, &m.fields);
                checked += 1;
                if let Err(e) = pair.check(&out, version) {
                    failed.insert(*name);
                    if failures.len() < 20 {
                        failures.push(format!("{name} v{version} case {case}: {e}"));
                    }
                }
            }
        }
    }
    println!(
        "oracle: {checked} encodings of {} messages checked",
        pairs.len()
    );
    assert!(
        failures.is_empty(),
        "failing: {failed:?}; first:\n{}",
        failures.join("\n")
    );
}
