//! The Kafka request and response schemas, for raw requests (the role of
//! kgo's `kmsg`).
//!
//! The schemas are generated from our definitions (`schema.def`, transcribed
//! from Apache Kafka's JSON message definitions), every version from 0.
//! Message structs are `#[non_exhaustive]`: build them with
//! `Default::default()` and the `with_*` setters, and send them with
//! [`Client::request`](crate::Client::request).
//!
//! ```no_run
//! use kafka_sync::messages::metadata_request::MetadataRequestTopic;
//! use kafka_sync::messages::{MetadataRequest, TopicName};
//!
//! let client = kafka_sync::Client::builder().build()?;
//! let req = MetadataRequest::default().with_topics(Some(vec![
//!     MetadataRequestTopic::default().with_name(Some(TopicName("orders".into()))),
//! ]));
//! let resp = client.request(req)?;
//! println!("{} topics", resp.topics.len());
//! # Ok::<(), kafka_sync::Error>(())
//! ```

use std::fmt;

use bytes::Bytes;

pub mod consumer_protocol;
#[rustfmt::skip]
mod generated;
mod types;
pub mod wire;

pub use generated::*;
pub use types::{BrokerId, GroupId, ProducerId, StrBytes, TopicName, TransactionalId, Uuid};
pub use wire::{DecodeError, EncodeError};

/// A range of versions, both ends inclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct VersionRange {
    /// The lowest version.
    pub min: i16,
    /// The highest version.
    pub max: i16,
}

impl VersionRange {
    /// Whether `version` is in the range.
    pub fn contains(&self, version: i16) -> bool {
        (self.min..=self.max).contains(&version)
    }

    /// The versions in both ranges (`min > max` when none).
    pub fn intersect(&self, other: &VersionRange) -> VersionRange {
        VersionRange {
            min: self.min.max(other.min),
            max: self.max.min(other.max),
        }
    }
}

/// A top-level schema: a request, a response, a header or embedded data.
pub trait Message {
    /// The schema's name, as in Kafka's definitions.
    const NAME: &'static str;
    /// The versions the schema defines.
    const VERSIONS: VersionRange;
    /// The versions that use the flexible encoding (`min > max` for none).
    const FLEXIBLE: VersionRange;
}

/// Encodes a schema at a version.
///
/// A field the version lacks is skipped when it holds its default and is an
/// error naming it when it does not, as kmsg does; so is a null where the
/// version does not allow one.
pub trait Encodable {
    /// Appends the encoding of `self` at `version` to `buf`.
    ///
    /// # Errors
    ///
    /// The version is not defined by the schema, or a field is set that the
    /// version lacks.
    fn encode_vec(&self, buf: &mut Vec<u8>, version: i16) -> Result<(), EncodeError>;

    /// Appends the encoding of `self` at `version` to a `Vec<u8>` or a
    /// `BytesMut`.
    ///
    /// # Errors
    ///
    /// As [`encode_vec`](Encodable::encode_vec).
    fn encode<B: EncodeBuf + ?Sized>(&self, buf: &mut B, version: i16) -> Result<(), EncodeError> {
        buf.with_vec(&mut |v| self.encode_vec(v, version))
    }
}

/// A buffer messages can be encoded into: `Vec<u8>` directly, `BytesMut`
/// through a copy.
pub trait EncodeBuf {
    /// Runs `f` on a `Vec<u8>` whose new bytes end up in `self`.
    ///
    /// # Errors
    ///
    /// `f`'s error; on error nothing is appended to a `BytesMut`.
    fn with_vec(
        &mut self,
        f: &mut dyn FnMut(&mut Vec<u8>) -> Result<(), EncodeError>,
    ) -> Result<(), EncodeError>;
}

impl EncodeBuf for Vec<u8> {
    fn with_vec(
        &mut self,
        f: &mut dyn FnMut(&mut Vec<u8>) -> Result<(), EncodeError>,
    ) -> Result<(), EncodeError> {
        f(self)
    }
}

impl EncodeBuf for bytes::BytesMut {
    fn with_vec(
        &mut self,
        f: &mut dyn FnMut(&mut Vec<u8>) -> Result<(), EncodeError>,
    ) -> Result<(), EncodeError> {
        let mut v = Vec::new();
        f(&mut v)?;
        self.extend_from_slice(&v);
        Ok(())
    }
}

/// Decodes a schema at a version.
///
/// Decoding never trusts the input: counts and lengths are checked against
/// the bytes left before anything is allocated, and errors name the message,
/// version and field path. Strings, bytes and records are slices of `buf`.
pub trait Decodable: Sized {
    /// Decodes from the front of `buf`, advancing it.
    ///
    /// # Errors
    ///
    /// The input is short, malformed, or of a version the schema lacks.
    fn decode(buf: &mut Bytes, version: i16) -> Result<Self, DecodeError>;
}

/// Decodes a request header from the front of a request frame (size prefix
/// removed), choosing the header version from the API key and version it
/// starts with.
///
/// # Errors
///
/// The frame is short, the key unknown, or the header malformed.
pub fn decode_request_header(buf: &mut Bytes) -> Result<RequestHeader, DecodeError> {
    let (Some(k), Some(v)) = (buf.get(0..2), buf.get(2..4)) else {
        return RequestHeader::decode(&mut Bytes::new(), 1);
    };
    let key = i16::from_be_bytes([k[0], k[1]]);
    let version = i16::from_be_bytes([v[0], v[1]]);
    let api = ApiKey::try_from(key)
        .map_err(|()| wire::DecodeError::unknown_key(key).in_message("RequestHeader", 1))?;
    RequestHeader::decode(buf, api.request_header_version(version))
}

/// The header version a request or response uses at a version.
pub trait HeaderVersion {
    /// The header version for `version`.
    fn header_version(version: i16) -> i16;
}

/// The `bytes` crate the schemas use for binary fields.
pub use bytes;

/// A request the client can send: every request type of the schemas.
///
/// Implemented by the crate for each `*Request` type; it cannot be implemented
/// outside the crate.
pub trait Request:
    Encodable + Message + HeaderVersion + Clone + fmt::Debug + Send + Sync + 'static + private::Sealed
{
    /// The request's API key.
    const KEY: i16;
    /// The response type.
    type Response: Response;
}

/// A response the client can decode.
pub trait Response:
    Decodable + HeaderVersion + Default + fmt::Debug + Send + 'static + private::SealedResponse
{
}

pub(crate) mod private {
    /// Per-type facts the client needs; sealed.
    pub trait Sealed {
        /// The request's own timeout field, added to the request timeout
        /// overhead to form its deadline.
        fn timeout_ms(&self) -> Option<i32> {
            None
        }
        /// Whether the broker answers (produce with acks 0 does not).
        fn expects_response(&self) -> bool {
            true
        }
        /// Rewrites what `version` expresses differently, just before the
        /// request is encoded at it (see `MetadataRequest`'s).
        fn fit_version(&mut self, _version: i16) {}
    }
    /// Per-type facts of responses; sealed.
    pub trait SealedResponse {
        /// The response's throttle, if it has the field.
        fn throttle_ms(&self) -> Option<i32> {
            None
        }
    }
}

macro_rules! requests {
    ($($req:ident => $resp:ident, key $key:literal, timeout $to:tt, throttle $th:ident;)*) => {
        $(
            impl Request for $req {
                const KEY: i16 = $key;
                type Response = $resp;
            }
            impl private::Sealed for $req {
                requests!(@timeout $req $to);
                requests!(@fit $req);
            }
            impl Response for $resp {}
            impl private::SealedResponse for $resp {
                requests!(@throttle $th);
            }
        )*
    };
    (@timeout ProduceRequest $f:ident) => {
        fn timeout_ms(&self) -> Option<i32> { Some(self.$f) }
        fn expects_response(&self) -> bool { self.acks != 0 }
    };
    (@timeout $req:ident _) => {};
    (@timeout $req:ident $f:ident) => {
        fn timeout_ms(&self) -> Option<i32> { Some(self.$f) }
    };
    // Metadata v0 (Kafka 0.9 and older) has no null topic list: there the
    // empty list means all topics, so "all" (null) is sent as empty. Before
    // v4 the broker alone decides about auto-creation (its
    // auto.create.topics.enable): the field is left out, as kgo's kmsg does.
    // A request for no topics cannot be said at v0; the cluster drops the
    // topics of the answer to one (`Cluster::refresh_metadata`).
    (@fit MetadataRequest) => {
        fn fit_version(&mut self, version: i16) {
            if version == 0 && self.topics.is_none() {
                self.topics = Some(Vec::new());
            }
            if version < 4 {
                self.allow_auto_topic_creation = true;
            }
        }
    };
    (@fit $req:ident) => {};
    (@throttle yes) => {
        fn throttle_ms(&self) -> Option<i32> { Some(self.throttle_time_ms) }
    };
    (@throttle no) => {};
}

requests! {
ProduceRequest => ProduceResponse, key 0, timeout timeout_ms, throttle yes;
FetchRequest => FetchResponse, key 1, timeout max_wait_ms, throttle yes;
ListOffsetsRequest => ListOffsetsResponse, key 2, timeout timeout_ms, throttle yes;
MetadataRequest => MetadataResponse, key 3, timeout _, throttle yes;
OffsetCommitRequest => OffsetCommitResponse, key 8, timeout _, throttle yes;
OffsetFetchRequest => OffsetFetchResponse, key 9, timeout _, throttle yes;
FindCoordinatorRequest => FindCoordinatorResponse, key 10, timeout _, throttle yes;
JoinGroupRequest => JoinGroupResponse, key 11, timeout rebalance_timeout_ms, throttle yes;
HeartbeatRequest => HeartbeatResponse, key 12, timeout _, throttle yes;
LeaveGroupRequest => LeaveGroupResponse, key 13, timeout _, throttle yes;
SyncGroupRequest => SyncGroupResponse, key 14, timeout _, throttle yes;
DescribeGroupsRequest => DescribeGroupsResponse, key 15, timeout _, throttle yes;
ListGroupsRequest => ListGroupsResponse, key 16, timeout _, throttle yes;
SaslHandshakeRequest => SaslHandshakeResponse, key 17, timeout _, throttle no;
ApiVersionsRequest => ApiVersionsResponse, key 18, timeout _, throttle yes;
CreateTopicsRequest => CreateTopicsResponse, key 19, timeout timeout_ms, throttle yes;
DeleteTopicsRequest => DeleteTopicsResponse, key 20, timeout timeout_ms, throttle yes;
DeleteRecordsRequest => DeleteRecordsResponse, key 21, timeout timeout_ms, throttle yes;
InitProducerIdRequest => InitProducerIdResponse, key 22, timeout _, throttle yes;
OffsetForLeaderEpochRequest => OffsetForLeaderEpochResponse, key 23, timeout _, throttle yes;
AddPartitionsToTxnRequest => AddPartitionsToTxnResponse, key 24, timeout _, throttle yes;
AddOffsetsToTxnRequest => AddOffsetsToTxnResponse, key 25, timeout _, throttle yes;
EndTxnRequest => EndTxnResponse, key 26, timeout _, throttle yes;
WriteTxnMarkersRequest => WriteTxnMarkersResponse, key 27, timeout _, throttle no;
TxnOffsetCommitRequest => TxnOffsetCommitResponse, key 28, timeout _, throttle yes;
DescribeAclsRequest => DescribeAclsResponse, key 29, timeout _, throttle yes;
CreateAclsRequest => CreateAclsResponse, key 30, timeout _, throttle yes;
DeleteAclsRequest => DeleteAclsResponse, key 31, timeout _, throttle yes;
DescribeConfigsRequest => DescribeConfigsResponse, key 32, timeout _, throttle yes;
AlterConfigsRequest => AlterConfigsResponse, key 33, timeout _, throttle yes;
AlterReplicaLogDirsRequest => AlterReplicaLogDirsResponse, key 34, timeout _, throttle yes;
DescribeLogDirsRequest => DescribeLogDirsResponse, key 35, timeout _, throttle yes;
SaslAuthenticateRequest => SaslAuthenticateResponse, key 36, timeout _, throttle no;
CreatePartitionsRequest => CreatePartitionsResponse, key 37, timeout timeout_ms, throttle yes;
CreateDelegationTokenRequest => CreateDelegationTokenResponse, key 38, timeout _, throttle yes;
RenewDelegationTokenRequest => RenewDelegationTokenResponse, key 39, timeout _, throttle yes;
ExpireDelegationTokenRequest => ExpireDelegationTokenResponse, key 40, timeout _, throttle yes;
DescribeDelegationTokenRequest => DescribeDelegationTokenResponse, key 41, timeout _, throttle yes;
DeleteGroupsRequest => DeleteGroupsResponse, key 42, timeout _, throttle yes;
ElectLeadersRequest => ElectLeadersResponse, key 43, timeout timeout_ms, throttle yes;
IncrementalAlterConfigsRequest => IncrementalAlterConfigsResponse, key 44, timeout _, throttle yes;
AlterPartitionReassignmentsRequest => AlterPartitionReassignmentsResponse, key 45, timeout timeout_ms, throttle yes;
ListPartitionReassignmentsRequest => ListPartitionReassignmentsResponse, key 46, timeout timeout_ms, throttle yes;
OffsetDeleteRequest => OffsetDeleteResponse, key 47, timeout _, throttle yes;
DescribeClientQuotasRequest => DescribeClientQuotasResponse, key 48, timeout _, throttle yes;
AlterClientQuotasRequest => AlterClientQuotasResponse, key 49, timeout _, throttle yes;
DescribeUserScramCredentialsRequest => DescribeUserScramCredentialsResponse, key 50, timeout _, throttle yes;
AlterUserScramCredentialsRequest => AlterUserScramCredentialsResponse, key 51, timeout _, throttle yes;
VoteRequest => VoteResponse, key 52, timeout _, throttle no;
BeginQuorumEpochRequest => BeginQuorumEpochResponse, key 53, timeout _, throttle no;
EndQuorumEpochRequest => EndQuorumEpochResponse, key 54, timeout _, throttle no;
DescribeQuorumRequest => DescribeQuorumResponse, key 55, timeout _, throttle no;
AlterPartitionRequest => AlterPartitionResponse, key 56, timeout _, throttle yes;
UpdateFeaturesRequest => UpdateFeaturesResponse, key 57, timeout timeout_ms, throttle yes;
EnvelopeRequest => EnvelopeResponse, key 58, timeout _, throttle no;
FetchSnapshotRequest => FetchSnapshotResponse, key 59, timeout _, throttle yes;
DescribeClusterRequest => DescribeClusterResponse, key 60, timeout _, throttle yes;
DescribeProducersRequest => DescribeProducersResponse, key 61, timeout _, throttle yes;
BrokerRegistrationRequest => BrokerRegistrationResponse, key 62, timeout _, throttle yes;
BrokerHeartbeatRequest => BrokerHeartbeatResponse, key 63, timeout _, throttle yes;
UnregisterBrokerRequest => UnregisterBrokerResponse, key 64, timeout _, throttle yes;
DescribeTransactionsRequest => DescribeTransactionsResponse, key 65, timeout _, throttle yes;
ListTransactionsRequest => ListTransactionsResponse, key 66, timeout _, throttle yes;
AllocateProducerIdsRequest => AllocateProducerIdsResponse, key 67, timeout _, throttle yes;
ConsumerGroupHeartbeatRequest => ConsumerGroupHeartbeatResponse, key 68, timeout rebalance_timeout_ms, throttle yes;
ConsumerGroupDescribeRequest => ConsumerGroupDescribeResponse, key 69, timeout _, throttle yes;
ControllerRegistrationRequest => ControllerRegistrationResponse, key 70, timeout _, throttle yes;
GetTelemetrySubscriptionsRequest => GetTelemetrySubscriptionsResponse, key 71, timeout _, throttle yes;
PushTelemetryRequest => PushTelemetryResponse, key 72, timeout _, throttle yes;
AssignReplicasToDirsRequest => AssignReplicasToDirsResponse, key 73, timeout _, throttle yes;
ListConfigResourcesRequest => ListConfigResourcesResponse, key 74, timeout _, throttle yes;
DescribeTopicPartitionsRequest => DescribeTopicPartitionsResponse, key 75, timeout _, throttle yes;
ShareGroupHeartbeatRequest => ShareGroupHeartbeatResponse, key 76, timeout _, throttle yes;
ShareGroupDescribeRequest => ShareGroupDescribeResponse, key 77, timeout _, throttle yes;
ShareFetchRequest => ShareFetchResponse, key 78, timeout max_wait_ms, throttle yes;
ShareAcknowledgeRequest => ShareAcknowledgeResponse, key 79, timeout _, throttle yes;
AddRaftVoterRequest => AddRaftVoterResponse, key 80, timeout timeout_ms, throttle yes;
RemoveRaftVoterRequest => RemoveRaftVoterResponse, key 81, timeout _, throttle yes;
UpdateRaftVoterRequest => UpdateRaftVoterResponse, key 82, timeout _, throttle yes;
InitializeShareGroupStateRequest => InitializeShareGroupStateResponse, key 83, timeout _, throttle no;
ReadShareGroupStateRequest => ReadShareGroupStateResponse, key 84, timeout _, throttle no;
WriteShareGroupStateRequest => WriteShareGroupStateResponse, key 85, timeout _, throttle no;
DeleteShareGroupStateRequest => DeleteShareGroupStateResponse, key 86, timeout _, throttle no;
ReadShareGroupStateSummaryRequest => ReadShareGroupStateSummaryResponse, key 87, timeout _, throttle no;
DescribeShareGroupOffsetsRequest => DescribeShareGroupOffsetsResponse, key 90, timeout _, throttle yes;
AlterShareGroupOffsetsRequest => AlterShareGroupOffsetsResponse, key 91, timeout _, throttle yes;
DeleteShareGroupOffsetsRequest => DeleteShareGroupOffsetsResponse, key 92, timeout _, throttle yes;}
