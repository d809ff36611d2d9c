//! Kafka protocol error codes.
//!
//! One table (the `error_codes!` invocation below) lists every error code of
//! Apache Kafka's `org.apache.kafka.common.protocol.Errors` enum, codes -1
//! through 133 (0, `NONE`, is "no error" and has no variant). Everything else
//! here (the enum, [`ErrorCode::from_code`], [`ErrorCode::code`],
//! [`ErrorCode::name`], [`ErrorCode::description`], [`ErrorCode::is_retriable`])
//! is generated from that table, so adding a code is adding one row.
//!
//! A row reads `(Variant, code, retriable, "JAVA_NAME", "description")`:
//!
//! * `Variant` is the `UpperCamelCase` of the Java enum constant;
//! * `retriable` is `true` exactly when Java's exception class for the code
//!   extends `RetriableException` (directly, or through
//!   `RefreshRetriableException` / `InvalidMetadataException`);
//! * `description` is Java's default message with its first letter lowercased
//!   (unless it starts with an acronym) and its final period dropped.

use std::fmt;

/// Builds [`ErrorCode`] and its lookups from one table of
/// `(Variant, code, retriable, "JAVA_NAME", "description")` rows.
macro_rules! error_codes {
    ($(
        ($variant:ident, $code:literal, $retriable:literal, $name:literal,
            $desc:literal),
    )+) => {
        /// A Kafka error code, as returned in a response's `error_code` field.
        ///
        /// Every code of Apache Kafka's `Errors` enum has a variant named after
        /// the Java constant (`NOT_LEADER_OR_FOLLOWER` is
        /// [`ErrorCode::NotLeaderOrFollower`]); a code this client does not know
        /// is [`ErrorCode::Unknown`]. Code 0 (`NONE`) means "no error" and is
        /// not an `ErrorCode`: [`ErrorCode::from_code`] returns `None` for it.
        ///
        /// [`is_retriable`](ErrorCode::is_retriable) follows Java: a code is
        /// retriable when its exception class extends `RetriableException`.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum ErrorCode {
            $(
                #[doc = concat!(
                    $desc, ".\n\nCode ", $code, " (`", $name, "`), retriable: ",
                    $retriable, "."
                )]
                $variant,
            )+
            /// An error code this client does not know (a broker newer than
            /// this table, or a code from a non-Apache broker).
            ///
            /// Like Java, the client treats it as a non-retriable server error.
            /// Build it only through [`ErrorCode::from_code`]: `Unknown` holding
            /// a known code, or 0, compares unequal to the named variant.
            Unknown(i16),
        }

        impl ErrorCode {
            /// Every known error code, in code order (without [`ErrorCode::Unknown`]).
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant,)+];

            /// The error code for a response's `error_code` field.
            ///
            /// Returns `None` for 0 (`NONE`, no error), the named variant for a
            /// known code and [`ErrorCode::Unknown`] for any other code.
            pub fn from_code(code: i16) -> Option<ErrorCode> {
                match code {
                    0 => None,
                    $($code => Some(ErrorCode::$variant),)+
                    other => Some(ErrorCode::Unknown(other)),
                }
            }

            /// The numeric code sent on the wire.
            pub fn code(self) -> i16 {
                match self {
                    $(ErrorCode::$variant => $code,)+
                    ErrorCode::Unknown(code) => code,
                }
            }

            /// Java's enum name, e.g. `"NOT_LEADER_OR_FOLLOWER"`; `"UNKNOWN"`
            /// for [`ErrorCode::Unknown`].
            pub fn name(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $name,)+
                    ErrorCode::Unknown(_) => "UNKNOWN",
                }
            }

            /// Java's default message for the code: first letter lowercased
            /// (unless it starts with an acronym), no trailing period.
            pub fn description(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $desc,)+
                    ErrorCode::Unknown(_) => {
                        "the broker returned an error code this client does not know"
                    }
                }
            }

            /// Whether retrying the request may succeed: `true` exactly when
            /// Java's exception class for the code extends `RetriableException`.
            /// `false` for [`ErrorCode::Unknown`].
            pub fn is_retriable(self) -> bool {
                match self {
                    $(ErrorCode::$variant => $retriable,)+
                    ErrorCode::Unknown(_) => false,
                }
            }
        }
    };
}

// Source: apache/kafka trunk,
// clients/src/main/java/org/apache/kafka/common/protocol/Errors.java; the
// retriable flags from the class hierarchy under
// clients/src/main/java/org/apache/kafka/common/errors/.
error_codes! {
    (UnknownServerError, -1, false, "UNKNOWN_SERVER_ERROR",
        "the server experienced an unexpected error when processing the request"),
    (OffsetOutOfRange, 1, false, "OFFSET_OUT_OF_RANGE",
        "the requested offset is not within the range of offsets maintained by the server"),
    (CorruptMessage, 2, true, "CORRUPT_MESSAGE",
        "this message has failed its CRC checksum, exceeds the valid size, has a null key for \
         a compacted topic, or is otherwise corrupt"),
    (UnknownTopicOrPartition, 3, true, "UNKNOWN_TOPIC_OR_PARTITION",
        "this server does not host this topic-partition"),
    (InvalidFetchSize, 4, false, "INVALID_FETCH_SIZE",
        "the requested fetch size is invalid"),
    (LeaderNotAvailable, 5, true, "LEADER_NOT_AVAILABLE",
        "there is no leader for this topic-partition as we are in the middle of a leadership \
         election"),
    (NotLeaderOrFollower, 6, true, "NOT_LEADER_OR_FOLLOWER",
        "for requests intended only for the leader, this error indicates that the broker is \
         not the current leader. For requests intended for any replica, this error indicates \
         that the broker is not a replica of the topic partition"),
    (RequestTimedOut, 7, true, "REQUEST_TIMED_OUT",
        "the request timed out"),
    (BrokerNotAvailable, 8, false, "BROKER_NOT_AVAILABLE",
        "the broker is not available"),
    (ReplicaNotAvailable, 9, true, "REPLICA_NOT_AVAILABLE",
        "the replica is not available for the requested topic-partition. Produce/Fetch \
         requests and other requests intended only for the leader or follower return \
         NOT_LEADER_OR_FOLLOWER if the broker is not a replica of the topic-partition"),
    (MessageTooLarge, 10, false, "MESSAGE_TOO_LARGE",
        "the request included a message larger than the max message size the server will \
         accept"),
    (StaleControllerEpoch, 11, false, "STALE_CONTROLLER_EPOCH",
        "the controller moved to another broker"),
    (OffsetMetadataTooLarge, 12, false, "OFFSET_METADATA_TOO_LARGE",
        "the metadata field of the offset request was too large"),
    (NetworkException, 13, true, "NETWORK_EXCEPTION",
        "the server disconnected before a response was received"),
    (CoordinatorLoadInProgress, 14, true, "COORDINATOR_LOAD_IN_PROGRESS",
        "the coordinator is loading and hence can't process requests"),
    (CoordinatorNotAvailable, 15, true, "COORDINATOR_NOT_AVAILABLE",
        "the coordinator is not available"),
    (NotCoordinator, 16, true, "NOT_COORDINATOR",
        "this is not the correct coordinator"),
    (InvalidTopicException, 17, false, "INVALID_TOPIC_EXCEPTION",
        "the request attempted to perform an operation on an invalid topic"),
    (RecordListTooLarge, 18, false, "RECORD_LIST_TOO_LARGE",
        "the request included message batch larger than the configured segment size on the \
         server"),
    (NotEnoughReplicas, 19, true, "NOT_ENOUGH_REPLICAS",
        "messages are rejected since there are fewer in-sync replicas than required"),
    (NotEnoughReplicasAfterAppend, 20, true, "NOT_ENOUGH_REPLICAS_AFTER_APPEND",
        "messages are written to the log, but to fewer in-sync replicas than required"),
    (InvalidRequiredAcks, 21, false, "INVALID_REQUIRED_ACKS",
        "produce request specified an invalid value for required acks"),
    (IllegalGeneration, 22, false, "ILLEGAL_GENERATION",
        "specified group generation id is not valid"),
    (InconsistentGroupProtocol, 23, false, "INCONSISTENT_GROUP_PROTOCOL",
        "the group member's supported protocols are incompatible with those of existing \
         members or first group member tried to join with empty protocol type or empty \
         protocol list"),
    (InvalidGroupId, 24, false, "INVALID_GROUP_ID",
        "the group id is invalid"),
    (UnknownMemberId, 25, false, "UNKNOWN_MEMBER_ID",
        "the coordinator is not aware of this member"),
    (InvalidSessionTimeout, 26, false, "INVALID_SESSION_TIMEOUT",
        "the session timeout is not within the range allowed by the broker (as configured by \
         group.min.session.timeout.ms and group.max.session.timeout.ms)"),
    (RebalanceInProgress, 27, false, "REBALANCE_IN_PROGRESS",
        "the group is rebalancing, so a rejoin is needed"),
    (InvalidCommitOffsetSize, 28, false, "INVALID_COMMIT_OFFSET_SIZE",
        "the committing offset data size is not valid"),
    (TopicAuthorizationFailed, 29, false, "TOPIC_AUTHORIZATION_FAILED",
        "topic authorization failed"),
    (GroupAuthorizationFailed, 30, false, "GROUP_AUTHORIZATION_FAILED",
        "group authorization failed"),
    (ClusterAuthorizationFailed, 31, false, "CLUSTER_AUTHORIZATION_FAILED",
        "cluster authorization failed"),
    (InvalidTimestamp, 32, false, "INVALID_TIMESTAMP",
        "the timestamp of the message is out of acceptable range"),
    (UnsupportedSaslMechanism, 33, false, "UNSUPPORTED_SASL_MECHANISM",
        "the broker does not support the requested SASL mechanism"),
    (IllegalSaslState, 34, false, "ILLEGAL_SASL_STATE",
        "request is not valid given the current SASL state"),
    (UnsupportedVersion, 35, false, "UNSUPPORTED_VERSION",
        "the version of API is not supported"),
    (TopicAlreadyExists, 36, false, "TOPIC_ALREADY_EXISTS",
        "topic with this name already exists"),
    (InvalidPartitions, 37, false, "INVALID_PARTITIONS",
        "number of partitions is below 1"),
    (InvalidReplicationFactor, 38, false, "INVALID_REPLICATION_FACTOR",
        "replication factor is below 1 or larger than the number of available brokers"),
    (InvalidReplicaAssignment, 39, false, "INVALID_REPLICA_ASSIGNMENT",
        "replica assignment is invalid"),
    (InvalidConfig, 40, false, "INVALID_CONFIG",
        "configuration is invalid"),
    (NotController, 41, true, "NOT_CONTROLLER",
        "this is not the correct controller for this cluster"),
    (InvalidRequest, 42, false, "INVALID_REQUEST",
        "this most likely occurs because of a request being malformed by the client library \
         or the message was sent to an incompatible broker. See the broker logs for more \
         details"),
    (UnsupportedForMessageFormat, 43, false, "UNSUPPORTED_FOR_MESSAGE_FORMAT",
        "the message format version on the broker does not support the request"),
    (PolicyViolation, 44, false, "POLICY_VIOLATION",
        "request parameters do not satisfy the configured policy"),
    (OutOfOrderSequenceNumber, 45, false, "OUT_OF_ORDER_SEQUENCE_NUMBER",
        "the broker received an out of order sequence number"),
    (DuplicateSequenceNumber, 46, false, "DUPLICATE_SEQUENCE_NUMBER",
        "the broker received a duplicate sequence number"),
    (InvalidProducerEpoch, 47, false, "INVALID_PRODUCER_EPOCH",
        "producer attempted to produce with an old epoch"),
    (InvalidTxnState, 48, false, "INVALID_TXN_STATE",
        "the producer attempted a transactional operation in an invalid state"),
    (InvalidProducerIdMapping, 49, false, "INVALID_PRODUCER_ID_MAPPING",
        "the producer attempted to use a producer id which is not currently assigned to its \
         transactional id"),
    (InvalidTransactionTimeout, 50, false, "INVALID_TRANSACTION_TIMEOUT",
        "the transaction timeout is larger than the maximum value allowed by the broker (as \
         configured by transaction.max.timeout.ms)"),
    (ConcurrentTransactions, 51, true, "CONCURRENT_TRANSACTIONS",
        "the producer attempted to update a transaction while another concurrent operation on \
         the same transaction was ongoing"),
    (TransactionCoordinatorFenced, 52, false, "TRANSACTION_COORDINATOR_FENCED",
        "indicates that the transaction coordinator sending a WriteTxnMarker is no longer the \
         current coordinator for a given producer"),
    (TransactionalIdAuthorizationFailed, 53, false, "TRANSACTIONAL_ID_AUTHORIZATION_FAILED",
        "transactional Id authorization failed"),
    (SecurityDisabled, 54, false, "SECURITY_DISABLED",
        "security features are disabled"),
    (OperationNotAttempted, 55, false, "OPERATION_NOT_ATTEMPTED",
        "the broker did not attempt to execute this operation. This may happen for batched \
         RPCs where some operations in the batch failed, causing the broker to respond \
         without trying the rest"),
    (KafkaStorageError, 56, true, "KAFKA_STORAGE_ERROR",
        "disk error when trying to access log file on the disk"),
    (LogDirNotFound, 57, false, "LOG_DIR_NOT_FOUND",
        "the user-specified log directory is not found in the broker config"),
    (SaslAuthenticationFailed, 58, false, "SASL_AUTHENTICATION_FAILED",
        "SASL Authentication failed"),
    (UnknownProducerId, 59, false, "UNKNOWN_PRODUCER_ID",
        "this exception is raised by the broker if it could not locate the producer metadata \
         associated with the producerId in question. This could happen if, for instance, the \
         producer's records were deleted because their retention time had elapsed. Once the \
         last records of the producerId are removed, the producer's metadata is removed from \
         the broker, and future appends by the producer will return this exception"),
    (ReassignmentInProgress, 60, false, "REASSIGNMENT_IN_PROGRESS",
        "a partition reassignment is in progress"),
    (DelegationTokenAuthDisabled, 61, false, "DELEGATION_TOKEN_AUTH_DISABLED",
        "delegation Token feature is not enabled"),
    (DelegationTokenNotFound, 62, false, "DELEGATION_TOKEN_NOT_FOUND",
        "delegation Token is not found on server"),
    (DelegationTokenOwnerMismatch, 63, false, "DELEGATION_TOKEN_OWNER_MISMATCH",
        "specified Principal is not valid Owner/Renewer"),
    (DelegationTokenRequestNotAllowed, 64, false, "DELEGATION_TOKEN_REQUEST_NOT_ALLOWED",
        "delegation Token requests are not allowed on PLAINTEXT/1-way SSL channels and on \
         delegation token authenticated channels"),
    (DelegationTokenAuthorizationFailed, 65, false, "DELEGATION_TOKEN_AUTHORIZATION_FAILED",
        "delegation Token authorization failed"),
    (DelegationTokenExpired, 66, false, "DELEGATION_TOKEN_EXPIRED",
        "delegation Token is expired"),
    (InvalidPrincipalType, 67, false, "INVALID_PRINCIPAL_TYPE",
        "supplied principalType is not supported"),
    (NonEmptyGroup, 68, false, "NON_EMPTY_GROUP",
        "the group is not empty"),
    (GroupIdNotFound, 69, false, "GROUP_ID_NOT_FOUND",
        "the group id does not exist"),
    (FetchSessionIdNotFound, 70, true, "FETCH_SESSION_ID_NOT_FOUND",
        "the fetch session ID was not found"),
    (InvalidFetchSessionEpoch, 71, true, "INVALID_FETCH_SESSION_EPOCH",
        "the fetch session epoch is invalid"),
    (ListenerNotFound, 72, true, "LISTENER_NOT_FOUND",
        "there is no listener on the leader broker that matches the listener on which \
         metadata request was processed"),
    (TopicDeletionDisabled, 73, false, "TOPIC_DELETION_DISABLED",
        "topic deletion is disabled"),
    (FencedLeaderEpoch, 74, true, "FENCED_LEADER_EPOCH",
        "the leader epoch in the request is older than the epoch on the broker"),
    (UnknownLeaderEpoch, 75, true, "UNKNOWN_LEADER_EPOCH",
        "the leader epoch in the request is newer than the epoch on the broker"),
    (UnsupportedCompressionType, 76, false, "UNSUPPORTED_COMPRESSION_TYPE",
        "the requesting client does not support the compression type of given partition"),
    (StaleBrokerEpoch, 77, false, "STALE_BROKER_EPOCH",
        "broker epoch has changed"),
    (OffsetNotAvailable, 78, true, "OFFSET_NOT_AVAILABLE",
        "the leader high watermark has not caught up from a recent leader election so the \
         offsets cannot be guaranteed to be monotonically increasing"),
    (MemberIdRequired, 79, false, "MEMBER_ID_REQUIRED",
        "the group member needs to have a valid member id before actually entering a consumer \
         group"),
    (PreferredLeaderNotAvailable, 80, true, "PREFERRED_LEADER_NOT_AVAILABLE",
        "the preferred leader was not available"),
    (GroupMaxSizeReached, 81, false, "GROUP_MAX_SIZE_REACHED",
        "the group has reached its maximum size"),
    (FencedInstanceId, 82, false, "FENCED_INSTANCE_ID",
        "the broker rejected this static consumer since another consumer with the same \
         group.instance.id has registered with a different member.id"),
    (EligibleLeadersNotAvailable, 83, true, "ELIGIBLE_LEADERS_NOT_AVAILABLE",
        "eligible topic partition leaders are not available"),
    (ElectionNotNeeded, 84, true, "ELECTION_NOT_NEEDED",
        "leader election not needed for topic partition"),
    (NoReassignmentInProgress, 85, false, "NO_REASSIGNMENT_IN_PROGRESS",
        "no partition reassignment is in progress"),
    (GroupSubscribedToTopic, 86, false, "GROUP_SUBSCRIBED_TO_TOPIC",
        "deleting offsets of a topic is forbidden while the consumer group is actively \
         subscribed to it"),
    (InvalidRecord, 87, false, "INVALID_RECORD",
        "this record has failed the validation on broker and hence will be rejected"),
    (UnstableOffsetCommit, 88, true, "UNSTABLE_OFFSET_COMMIT",
        "there are unstable offsets that need to be cleared"),
    (ThrottlingQuotaExceeded, 89, true, "THROTTLING_QUOTA_EXCEEDED",
        "the throttling quota has been exceeded"),
    (ProducerFenced, 90, false, "PRODUCER_FENCED",
        "there is a newer producer with the same transactionalId which fences the current one"),
    (ResourceNotFound, 91, false, "RESOURCE_NOT_FOUND",
        "a request illegally referred to a resource that does not exist"),
    (DuplicateResource, 92, false, "DUPLICATE_RESOURCE",
        "a request illegally referred to the same resource twice"),
    (UnacceptableCredential, 93, false, "UNACCEPTABLE_CREDENTIAL",
        "requested credential would not meet criteria for acceptability"),
    (InconsistentVoterSet, 94, false, "INCONSISTENT_VOTER_SET",
        "indicates that the either the sender or recipient of a voter-only request is not one \
         of the expected voters"),
    (InvalidUpdateVersion, 95, false, "INVALID_UPDATE_VERSION",
        "the given update version was invalid"),
    (FeatureUpdateFailed, 96, false, "FEATURE_UPDATE_FAILED",
        "unable to update finalized features due to an unexpected server error"),
    (PrincipalDeserializationFailure, 97, false, "PRINCIPAL_DESERIALIZATION_FAILURE",
        "request principal deserialization failed during forwarding. This indicates an \
         internal error on the broker cluster security setup"),
    (SnapshotNotFound, 98, false, "SNAPSHOT_NOT_FOUND",
        "requested snapshot was not found"),
    (PositionOutOfRange, 99, false, "POSITION_OUT_OF_RANGE",
        "requested position is not greater than or equal to zero, and less than the size of \
         the snapshot"),
    (UnknownTopicId, 100, true, "UNKNOWN_TOPIC_ID",
        "this server does not host this topic ID"),
    (DuplicateBrokerRegistration, 101, false, "DUPLICATE_BROKER_REGISTRATION",
        "this broker ID is already in use"),
    (BrokerIdNotRegistered, 102, false, "BROKER_ID_NOT_REGISTERED",
        "the given broker ID was not registered"),
    (InconsistentTopicId, 103, true, "INCONSISTENT_TOPIC_ID",
        "the log's topic ID did not match the topic ID in the request"),
    (InconsistentClusterId, 104, false, "INCONSISTENT_CLUSTER_ID",
        "the clusterId in the request does not match that found on the server"),
    (TransactionalIdNotFound, 105, false, "TRANSACTIONAL_ID_NOT_FOUND",
        "the transactionalId could not be found"),
    (FetchSessionTopicIdError, 106, true, "FETCH_SESSION_TOPIC_ID_ERROR",
        "the fetch session encountered inconsistent topic ID usage"),
    (IneligibleReplica, 107, false, "INELIGIBLE_REPLICA",
        "the new ISR contains at least one ineligible replica"),
    (NewLeaderElected, 108, false, "NEW_LEADER_ELECTED",
        "the AlterPartition request successfully updated the partition state but the leader \
         has changed"),
    (OffsetMovedToTieredStorage, 109, false, "OFFSET_MOVED_TO_TIERED_STORAGE",
        "the requested offset is moved to tiered storage"),
    (FencedMemberEpoch, 110, false, "FENCED_MEMBER_EPOCH",
        "the member epoch is fenced by the group coordinator. The member must abandon all its \
         partitions and rejoin"),
    (UnreleasedInstanceId, 111, false, "UNRELEASED_INSTANCE_ID",
        "the instance ID is still used by another member in the consumer group. That member \
         must leave first"),
    (UnsupportedAssignor, 112, false, "UNSUPPORTED_ASSIGNOR",
        "the assignor or its version range is not supported by the consumer group"),
    (StaleMemberEpoch, 113, false, "STALE_MEMBER_EPOCH",
        "the member epoch is stale. The member must retry after receiving its updated member \
         epoch via the ConsumerGroupHeartbeat API"),
    (MismatchedEndpointType, 114, false, "MISMATCHED_ENDPOINT_TYPE",
        "the request was sent to an endpoint of the wrong type"),
    (UnsupportedEndpointType, 115, false, "UNSUPPORTED_ENDPOINT_TYPE",
        "this endpoint type is not supported yet"),
    (UnknownControllerId, 116, false, "UNKNOWN_CONTROLLER_ID",
        "this controller ID is not known"),
    (UnknownSubscriptionId, 117, false, "UNKNOWN_SUBSCRIPTION_ID",
        "client sent a push telemetry request with an invalid or outdated subscription ID"),
    (TelemetryTooLarge, 118, false, "TELEMETRY_TOO_LARGE",
        "client sent a push telemetry request larger than the maximum size the broker will \
         accept"),
    (InvalidRegistration, 119, false, "INVALID_REGISTRATION",
        "the controller has considered the broker registration to be invalid"),
    (TransactionAbortable, 120, false, "TRANSACTION_ABORTABLE",
        "the server encountered an error with the transaction. The client can abort the \
         transaction to continue using this transactional ID"),
    (InvalidRecordState, 121, false, "INVALID_RECORD_STATE",
        "the record state is invalid. The acknowledgement of delivery could not be completed"),
    (ShareSessionNotFound, 122, true, "SHARE_SESSION_NOT_FOUND",
        "the share session was not found"),
    (InvalidShareSessionEpoch, 123, true, "INVALID_SHARE_SESSION_EPOCH",
        "the share session epoch is invalid"),
    (FencedStateEpoch, 124, false, "FENCED_STATE_EPOCH",
        "the share coordinator rejected the request because the share-group state epoch did \
         not match"),
    (InvalidVoterKey, 125, false, "INVALID_VOTER_KEY",
        "the voter key doesn't match the receiving replica's key"),
    (DuplicateVoter, 126, false, "DUPLICATE_VOTER",
        "the voter is already part of the set of voters"),
    (VoterNotFound, 127, false, "VOTER_NOT_FOUND",
        "the voter is not part of the set of voters"),
    (InvalidRegularExpression, 128, false, "INVALID_REGULAR_EXPRESSION",
        "the regular expression is not valid"),
    (RebootstrapRequired, 129, false, "REBOOTSTRAP_REQUIRED",
        "client metadata is stale. The client should rebootstrap to obtain new metadata"),
    (StreamsInvalidTopology, 130, false, "STREAMS_INVALID_TOPOLOGY",
        "the supplied topology is invalid"),
    (StreamsInvalidTopologyEpoch, 131, false, "STREAMS_INVALID_TOPOLOGY_EPOCH",
        "the supplied topology epoch is invalid"),
    (StreamsTopologyFenced, 132, false, "STREAMS_TOPOLOGY_FENCED",
        "the supplied topology epoch is outdated"),
    (ShareSessionLimitReached, 133, true, "SHARE_SESSION_LIMIT_REACHED",
        "the limit of share sessions has been reached"),
}

impl fmt::Display for ErrorCode {
    /// Writes [`ErrorCode::name`], e.g. `NOT_LEADER_OR_FOLLOWER`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::ErrorCode as E;
    use std::collections::HashSet;

    #[test]
    fn none_is_not_an_error() {
        assert_eq!(E::from_code(0), None);
    }

    #[test]
    fn table_is_complete_and_consistent() {
        // -1 and 1..=133, no gaps.
        assert_eq!(E::ALL.len(), 134);
        assert_eq!(E::ALL.first().map(|e| e.code()), Some(-1));
        assert_eq!(E::ALL.last().map(|e| e.code()), Some(133));

        let mut codes = HashSet::new();
        let mut names = HashSet::new();
        for &e in E::ALL {
            assert!(codes.insert(e.code()), "duplicate code {}", e.code());
            assert!(names.insert(e.name()), "duplicate name {}", e.name());
            assert_eq!(E::from_code(e.code()), Some(e), "{e} does not round-trip");
            assert_ne!(e.code(), 0);
            assert_ne!(e.name(), "UNKNOWN");
            assert!(!matches!(e, E::Unknown(_)));
            assert_eq!(e.to_string(), e.name());

            let d = e.description();
            assert!(!d.is_empty() && !d.ends_with('.'), "{e}: {d:?}");
            let first = d.split(' ').next().unwrap_or_default();
            let acronym = first.len() > 1 && first.chars().all(|c| c.is_ascii_uppercase());
            assert!(
                acronym || d.starts_with(|c: char| c.is_ascii_lowercase()),
                "{e}: {d:?}"
            );
        }
    }

    #[test]
    fn unknown_round_trips() {
        for code in [9999, -2, 134, i16::MAX, i16::MIN] {
            let e = E::from_code(code);
            assert_eq!(e, Some(E::Unknown(code)));
            let e = e.unwrap();
            assert_eq!(e.code(), code);
            assert_eq!(e.name(), "UNKNOWN");
            assert_eq!(e.to_string(), "UNKNOWN");
            assert!(!e.is_retriable());
        }
    }

    #[test]
    fn known_codes() {
        // (error, code, retriable), flags checked against Java's exception classes.
        let table: &[(E, i16, bool)] = &[
            (E::UnknownServerError, -1, false),
            (E::OffsetOutOfRange, 1, false),
            (E::CorruptMessage, 2, true),
            (E::UnknownTopicOrPartition, 3, true),
            (E::LeaderNotAvailable, 5, true),
            (E::NotLeaderOrFollower, 6, true),
            (E::RequestTimedOut, 7, true),
            (E::BrokerNotAvailable, 8, false),
            (E::ReplicaNotAvailable, 9, true),
            (E::MessageTooLarge, 10, false),
            (E::NetworkException, 13, true),
            (E::CoordinatorLoadInProgress, 14, true),
            (E::CoordinatorNotAvailable, 15, true),
            (E::NotCoordinator, 16, true),
            (E::InvalidTopicException, 17, false),
            (E::NotEnoughReplicas, 19, true),
            (E::IllegalGeneration, 22, false),
            (E::UnknownMemberId, 25, false),
            (E::RebalanceInProgress, 27, false),
            (E::TopicAuthorizationFailed, 29, false),
            (E::GroupAuthorizationFailed, 30, false),
            (E::ClusterAuthorizationFailed, 31, false),
            (E::UnsupportedSaslMechanism, 33, false),
            (E::IllegalSaslState, 34, false),
            (E::UnsupportedVersion, 35, false),
            (E::TopicAlreadyExists, 36, false),
            (E::NotController, 41, true),
            (E::UnsupportedForMessageFormat, 43, false),
            (E::OutOfOrderSequenceNumber, 45, false),
            (E::DuplicateSequenceNumber, 46, false),
            (E::InvalidProducerEpoch, 47, false),
            (E::InvalidTxnState, 48, false),
            (E::InvalidProducerIdMapping, 49, false),
            (E::ConcurrentTransactions, 51, true),
            (E::TransactionalIdAuthorizationFailed, 53, false),
            (E::KafkaStorageError, 56, true),
            (E::SaslAuthenticationFailed, 58, false),
            (E::UnknownProducerId, 59, false),
            (E::FencedLeaderEpoch, 74, true),
            (E::UnknownLeaderEpoch, 75, true),
            (E::ThrottlingQuotaExceeded, 89, true),
            (E::ProducerFenced, 90, false),
            (E::UnknownTopicId, 100, true),
            (E::TransactionalIdNotFound, 105, false),
            (E::TransactionAbortable, 120, false),
            (E::ShareSessionLimitReached, 133, true),
        ];
        for &(e, code, retriable) in table {
            assert_eq!(e.code(), code, "{e}");
            assert_eq!(E::from_code(code), Some(e), "{e}");
            assert_eq!(e.is_retriable(), retriable, "{e}");
        }

        assert_eq!(E::NotLeaderOrFollower.name(), "NOT_LEADER_OR_FOLLOWER");
        assert_eq!(E::UnknownServerError.to_string(), "UNKNOWN_SERVER_ERROR");
        assert_eq!(E::InvalidTopicException.name(), "INVALID_TOPIC_EXCEPTION");
        assert_eq!(E::RequestTimedOut.description(), "the request timed out");
        assert_eq!(
            E::SaslAuthenticationFailed.description(),
            "SASL Authentication failed"
        );
        assert!(E::NotLeaderOrFollower
            .description()
            .starts_with("for requests intended only for the leader, this error indicates"));
    }
}
