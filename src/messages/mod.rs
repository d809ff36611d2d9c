//! The Kafka request and response schemas, for raw requests (the role of
//! kgo's `kmsg`).
//!
//! Everything here is re-exported from the `kafka-protocol` crate, pinned to
//! one exact version. Message structs are `#[non_exhaustive]`: build them with
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

pub mod consumer_protocol;

pub use kafka_protocol::messages::*;
pub use kafka_protocol::protocol::{Decodable, Encodable, Message, StrBytes, VersionRange};

/// The `bytes` crate the schemas use for binary fields.
pub use bytes;

/// A request the client can send: every request type of the schemas.
///
/// Implemented by the crate for each `*Request` type; it cannot be implemented
/// outside the crate.
pub trait Request:
    Encodable + Message + Clone + fmt::Debug + Send + Sync + 'static + private::Sealed
{
    /// The request's API key.
    const KEY: i16;
    /// The response type.
    type Response: Response;
}

/// A response the client can decode.
pub trait Response:
    Decodable + Default + fmt::Debug + Send + 'static + private::SealedResponse
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
