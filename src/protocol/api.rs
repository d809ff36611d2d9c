//! One table of per-API facts: the name, the connection class a request
//! travels on, where the cluster routes it, how long it may be retried, and
//! the first version whose throttle the broker applies after responding.
//!
//! Every layer that needs a fact about an API key asks this table, so no
//! raw key literal lists live elsewhere.

/// The connection a request travels on. Each broker keeps one connection per
/// class, so a fetch long-poll never delays a produce or a heartbeat.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum ConnClass {
    Normal = 0,
    Produce = 1,
    Fetch = 2,
    /// JoinGroup can block for a rebalance timeout: keep it apart.
    Group = 3,
}

impl ConnClass {
    /// Every class, indexed by its discriminant (the I/O thread's poll tokens).
    pub(crate) const ALL: [ConnClass; 4] = [
        ConnClass::Normal,
        ConnClass::Produce,
        ConnClass::Fetch,
        ConnClass::Group,
    ];

    /// The class requests with `key` travel on.
    pub(crate) fn for_key(key: i16) -> ConnClass {
        facts(key).class
    }
}

/// Where the cluster sends a request (kgo's routing).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Routing {
    /// Any broker.
    Any,
    /// The controller (admin requests).
    Controller,
    /// The group coordinator of the request's group.
    Group,
    /// The transaction coordinator of the request's transactional id (for
    /// InitProducerId only when it carries one).
    Txn,
    /// Split per broker and merged (ListOffsets, DescribeConfigs, ...).
    Sharded,
}

/// How long a request may be retried by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RetryClass {
    /// 30 s.
    Normal,
    /// The group session timeout (JoinGroup, Heartbeat, SyncGroup).
    Session,
}

/// The facts of one API key.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ApiFacts {
    pub(crate) name: &'static str,
    pub(crate) class: ConnClass,
    pub(crate) routing: Routing,
    pub(crate) retry: RetryClass,
    /// The first version bumped for KIP-219 (Kafka 2.0): from it on the
    /// broker throttles after responding; 0 when every version does.
    pub(crate) throttle_after: i16,
}

const UNKNOWN: ApiFacts = ApiFacts {
    name: "Unknown",
    class: ConnClass::Normal,
    routing: Routing::Any,
    retry: RetryClass::Normal,
    throttle_after: 0,
};

/// The highest version of `key` a client sends, where it is below the
/// schema's newest: AddPartitionsToTxn v4+ is broker-to-broker (KIP-890: "versions
/// 3 and below will be exclusively used by clients"), and EndTxn v5 belongs
/// to KIP-890 part 2's per-transaction epoch bumps, which the producer does
/// not do (kgo pins EndTxn to v4 likewise). Produce v13 names topics by id
/// only (KIP-516), and the producer names them.
pub(crate) fn client_max_version(key: i16) -> i16 {
    match key {
        // Produce v13 names topics by id (KIP-516); the producer names them.
        0 => 12,
        24 => 3,
        26 => 4,
        _ => i16::MAX,
    }
}

macro_rules! api_table {
    ($($key:literal $name:ident $class:ident $routing:ident $retry:ident $throttle:literal;)*) => {
        /// The facts of `key`; unknown keys travel on the normal connection to
        /// any broker.
        pub(crate) fn facts(key: i16) -> ApiFacts {
            match key {
                $($key => ApiFacts {
                    name: stringify!($name),
                    class: ConnClass::$class,
                    routing: Routing::$routing,
                    retry: RetryClass::$retry,
                    throttle_after: $throttle,
                },)*
                _ => UNKNOWN,
            }
        }
    };
}

api_table! {
    0 Produce Produce Any Normal 6;
    1 Fetch Fetch Any Normal 8;
    2 ListOffsets Normal Sharded Normal 3;
    3 Metadata Normal Any Normal 6;
    4 LeaderAndIsr Normal Any Normal 0;
    5 StopReplica Normal Any Normal 0;
    6 UpdateMetadata Normal Any Normal 0;
    7 ControlledShutdown Normal Any Normal 0;
    8 OffsetCommit Normal Group Normal 4;
    9 OffsetFetch Normal Group Normal 4;
    10 FindCoordinator Normal Any Normal 2;
    11 JoinGroup Group Group Session 3;
    12 Heartbeat Group Group Session 2;
    13 LeaveGroup Group Group Normal 2;
    14 SyncGroup Group Group Session 2;
    15 DescribeGroups Normal Sharded Normal 2;
    16 ListGroups Normal Sharded Normal 2;
    17 SaslHandshake Normal Any Normal 0;
    18 ApiVersions Normal Any Normal 2;
    19 CreateTopics Normal Controller Normal 3;
    20 DeleteTopics Normal Controller Normal 2;
    21 DeleteRecords Normal Sharded Normal 1;
    22 InitProducerId Normal Txn Normal 1;
    23 OffsetForLeaderEpoch Normal Sharded Normal 1;
    24 AddPartitionsToTxn Normal Txn Normal 1;
    25 AddOffsetsToTxn Normal Txn Normal 1;
    26 EndTxn Normal Txn Normal 1;
    27 WriteTxnMarkers Normal Any Normal 0;
    28 TxnOffsetCommit Normal Group Normal 1;
    29 DescribeAcls Normal Any Normal 1;
    30 CreateAcls Normal Controller Normal 1;
    31 DeleteAcls Normal Controller Normal 1;
    32 DescribeConfigs Normal Sharded Normal 2;
    33 AlterConfigs Normal Sharded Normal 1;
    34 AlterReplicaLogDirs Normal Sharded Normal 1;
    35 DescribeLogDirs Normal Sharded Normal 1;
    36 SaslAuthenticate Normal Any Normal 1;
    37 CreatePartitions Normal Controller Normal 1;
    38 CreateDelegationToken Normal Any Normal 1;
    39 RenewDelegationToken Normal Any Normal 1;
    40 ExpireDelegationToken Normal Any Normal 1;
    41 DescribeDelegationToken Normal Any Normal 1;
    42 DeleteGroups Normal Sharded Normal 1;
    43 ElectLeaders Normal Controller Normal 0;
    44 IncrementalAlterConfigs Normal Sharded Normal 0;
    45 AlterPartitionReassignments Normal Controller Normal 0;
    46 ListPartitionReassignments Normal Controller Normal 0;
    47 OffsetDelete Normal Group Normal 0;
    48 DescribeClientQuotas Normal Any Normal 0;
    49 AlterClientQuotas Normal Controller Normal 0;
    50 DescribeUserScramCredentials Normal Any Normal 0;
    51 AlterUserScramCredentials Normal Controller Normal 0;
    57 UpdateFeatures Normal Controller Normal 0;
    60 DescribeCluster Normal Any Normal 0;
    61 DescribeProducers Normal Sharded Normal 0;
    65 DescribeTransactions Normal Sharded Normal 0;
    66 ListTransactions Normal Sharded Normal 0;
    68 ConsumerGroupHeartbeat Group Group Normal 0;
}

/// Whether the broker applies a throttle after sending the response (KIP-219,
/// Kafka 2.0), so that the client must hold back; before that version the
/// broker delayed the response itself.
pub(crate) fn throttle_after_response(key: i16, version: i16) -> bool {
    version >= facts(key).throttle_after
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_facts() {
        assert_eq!(facts(0).class, ConnClass::Produce);
        assert_eq!(facts(1).class, ConnClass::Fetch);
        for k in [11, 12, 13, 14, 68] {
            assert_eq!(facts(k).class, ConnClass::Group, "key {k}");
        }
        assert_eq!(facts(3).class, ConnClass::Normal);
        for k in [19, 20, 30, 31, 37, 43, 45, 46, 49, 51, 57] {
            assert_eq!(facts(k).routing, Routing::Controller, "key {k}");
        }
        for k in [2, 15, 16, 21, 23, 32, 33, 34, 35, 42, 44, 61, 65, 66] {
            assert_eq!(facts(k).routing, Routing::Sharded, "key {k}");
        }
        for k in [11, 12, 14] {
            assert_eq!(facts(k).retry, RetryClass::Session, "key {k}");
        }
        assert_eq!(facts(13).retry, RetryClass::Normal);
        assert_eq!(facts(22).name, "InitProducerId");
        assert_eq!(facts(9999).name, "Unknown");
    }

    #[test]
    fn throttle_versions() {
        assert!(!throttle_after_response(0, 5));
        assert!(throttle_after_response(0, 6));
        assert!(!throttle_after_response(1, 7));
        assert!(throttle_after_response(1, 8));
        assert!(throttle_after_response(43, 0));
        assert!(throttle_after_response(9999, 0));
    }
}
