//! An embedded fake Kafka cluster for tests, examples and benchmarks.
//!
//! [`Cluster::builder`] starts `n` fake brokers in this process, each
//! listening on its own `127.0.0.1` port and served by its own threads over
//! real TCP, so a client under test uses its real network path. The brokers
//! follow the Java broker's behaviour for the APIs listed below, and the
//! cluster lets a test inject what real clusters do on a bad day: errors on
//! the Nth request, delays, throttling, dropped connections, leader moves,
//! log truncation and brokers that go away and come back.
//!
//! # Example: a user's own test
//!
//! A test in your crate (for example `tests/orders.rs`, with kafka-sync as
//! a dev-dependency: `fake` is a default feature) starts a cluster, points
//! the crate's [`Client`](crate::Client) at its seeds, and injects faults
//! while it runs:
//!
//! ```no_run
//! use kafka_sync::fake::{Action, Cluster};
//! use kafka_sync::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
//! use kafka_sync::messages::{ApiKey, BrokerId, ListOffsetsRequest, TopicName};
//! use kafka_sync::{Client, Error, ErrorCode};
//!
//! // #[test]
//! fn end_offsets_survive_a_leader_change() -> Result<(), Box<dyn std::error::Error>> {
//!     let cluster = Cluster::builder().brokers(3).topic("orders", 6).build()?;
//!     let client = Client::builder().seed_brokers(cluster.seeds()).build()?;
//!
//!     // The client sees what the fake serves: leaders spread over 3 brokers.
//!     let meta = client.refresh_metadata(Some(&["orders"]))?;
//!     assert_eq!(meta.brokers.len(), 3);
//!     let leader = meta.leader("orders", 0).expect("partition 0 has a leader");
//!
//!     // A raw request: the end offset of partition 0, asked of its leader.
//!     let latest = ListOffsetsRequest::default()
//!         .with_replica_id(BrokerId(-1))
//!         .with_topics(vec![ListOffsetsTopic::default()
//!             .with_name(TopicName("orders".into()))
//!             .with_partitions(vec![ListOffsetsPartition::default()
//!                 .with_partition_index(0)
//!                 .with_timestamp(-1)])]);
//!     let code = |resp: &kafka_sync::messages::ListOffsetsResponse| {
//!         resp.topics[0].partitions[0].error_code
//!     };
//!
//!     // The leader's next ListOffsets answers NOT_LEADER_OR_FOLLOWER...
//!     let not_leader = ErrorCode::NotLeaderOrFollower.code();
//!     cluster.intercept(ApiKey::ListOffsets, Some(leader), Some(1), move |_req| {
//!         Action::ErrorCode(not_leader)
//!     });
//!     let resp = client.broker(leader).request(latest.clone())?;
//!     assert_eq!(code(&resp), not_leader);
//!     assert!(Error::from_code(code(&resp)).is_some_and(|e| e.is_retriable()));
//!     // ...and the one after that is answered normally: the topic is empty.
//!     let resp = client.broker(leader).request(latest.clone())?;
//!     assert_eq!((code(&resp), resp.topics[0].partitions[0].offset), (0, 0));
//!     assert_eq!(cluster.request_count_on(leader, ApiKey::ListOffsets), 2);
//!
//!     // Move the partition, as a controller would: the epoch goes up, and
//!     // a fresh Metadata shows the new leader.
//!     let to = (leader + 1) % 3;
//!     let epoch = cluster.move_leader("orders", 0, to)?;
//!     let meta = client.refresh_metadata(Some(&["orders"]))?;
//!     let p0 = &meta.topics["orders"].partitions[0];
//!     assert_eq!((p0.leader, p0.leader_epoch), (to, epoch));
//!
//!     client.close();
//!     Ok(()) // dropping `cluster` stops its brokers
//! }
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! #     end_offsets_survive_a_leader_change()
//! # }
//! ```
//!
//! Other faults: [`Action::DropConnection`], [`Action::Delay`] and
//! [`Action::Throttle`] from an intercept, [`Cluster::stop_broker`] and
//! [`Cluster::start_broker`] (same port), [`Cluster::truncate`].
//!
//! # Threads
//!
//! | thread | one per | does |
//! | --- | --- | --- |
//! | `ks-fk-<id>` | running broker | accepts connections |
//! | `ks-fkc-<id>` | connection | reads a request, answers it, repeats (Kafka serves one request at a time per connection) |
//! | `ks-fkgroup` | cluster | fires the group coordinator's deadlines: session expiry, rebalance and sync timeouts |
//! | `ks-fktxn` | cluster | aborts transactions older than their timeout, every [`ClusterBuilder::transaction_abort_interval`] |
//!
//! Fetches waiting for data (`max_wait_ms`) wait on a condition variable
//! that every produce signals. [`Cluster::close`], or dropping the cluster,
//! stops and joins every thread.
//!
//! # What the brokers implement
//!
//! ApiVersions, Metadata, CreateTopics, DeleteTopics, CreatePartitions,
//! Produce (acks 0/1/-1, record batch v2 validation, idempotent producer
//! checks), InitProducerId (idempotent producers), Fetch (KIP-227 sessions,
//! KIP-74 limits, leader epoch checks), ListOffsets, OffsetForLeaderEpoch,
//! DeleteRecords, FindCoordinator, DescribeConfigs, AlterReplicaLogDirs
//! (between [`ClusterBuilder::log_dirs`]; see [`Cluster::replica_log_dir`]),
//! SaslHandshake and SaslAuthenticate, and optional TLS. The group coordinator serves the
//! classic consumer group protocol as Java's does: JoinGroup (KIP-394
//! member ids, KIP-345 static members), SyncGroup, Heartbeat, LeaveGroup,
//! OffsetCommit, OffsetFetch, OffsetDelete, DescribeGroups, ListGroups and
//! DeleteGroups; see [`Cluster::group_state`] and [`Cluster::group_commits`].
//!
//! The transaction coordinator follows Java's `TransactionCoordinator` at
//! transaction version 1 (no per-transaction epoch bump, so EndTxn and
//! TxnOffsetCommit stop at v4): FindCoordinator for transactional ids,
//! InitProducerId with a transactional id (epoch bumps, KIP-360 checks,
//! fencing an open transaction, epoch exhaustion, the timeout bound),
//! AddPartitionsToTxn (v4+ batches and `verify_only` too), AddOffsetsToTxn,
//! TxnOffsetCommit (KIP-447 member checks, Kafka 3.6+ verification),
//! EndTxn, DescribeTransactions and ListTransactions. EndTxn writes one
//! control batch per partition of the transaction and ends its staged
//! offsets; Produce verifies transactional batches against the
//! coordinator as Kafka 3.6+ does; Fetch and ListOffsets with
//! read_committed stop at the last stable offset and list aborted
//! transactions; a timer aborts transactions past their timeout. See
//! [`Cluster::transaction`], [`Cluster::last_stable_offset`],
//! [`Cluster::hold_txn_markers`] and [`Cluster::move_coordinator`].
//! Requests for APIs the fake does not list in ApiVersions close the
//! connection.
//!
//! # Limits
//!
//! A request larger than [`ClusterBuilder::max_request_size`] or one that
//! does not decode closes its connection, as Kafka does. One limitation
//! remains: the message decoder (kafka-protocol) pre-allocates arrays from
//! the element count on the wire, so a small request that claims a huge
//! array can make the process allocate (and abort) before decoding fails.
//! The fake is for tests, whose clients are not hostile.

use std::fmt;
use std::io;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use crate::messages::ApiKey;
use crate::messages::{Decodable, Encodable};
use bytes::Bytes;

mod api;
mod batch;
mod builder;
mod cluster;
mod codes;
mod conn;
mod coordinator;
mod legacy;
mod partition;
pub mod sasl_server;
mod session;

pub use builder::{BenchmarkMode, ClusterBuilder};
pub use coordinator::{
    CoordinatorType, GroupCommit, GroupSnapshot, GroupState, MemberSnapshot, TxnSnapshot, TxnState,
};

use cluster::{Intercept, Shared};

/// A running fake cluster; dropping it stops every broker.
///
/// Created by [`Cluster::builder`]. All methods take `&self` and may be
/// called from any thread while clients talk to the brokers.
pub struct Cluster {
    shared: Arc<Shared>,
}

impl fmt::Debug for Cluster {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cluster")
            .field("seeds", &self.seeds())
            .finish()
    }
}

/// Identifies an intercept for [`Cluster::remove_intercept`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct InterceptId(u64);

/// Counters of the fetch session caches of all brokers (KIP-227).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct FetchSessionStats {
    /// Full fetch requests (session epoch 0 or -1).
    pub full: u64,
    /// Incremental fetch requests that found their session.
    pub incremental: u64,
    /// Sessions created.
    pub created: u64,
    /// Sessions evicted to make room for a new one.
    pub evicted: u64,
    /// FETCH_SESSION_ID_NOT_FOUND and INVALID_FETCH_SESSION_EPOCH answers.
    pub errors: u64,
}

/// A request as an intercept sees it.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct InterceptedRequest {
    /// The broker that received it.
    pub broker: i32,
    /// The API key.
    pub key: i16,
    /// The API version.
    pub version: i16,
    /// The request header's correlation id.
    pub correlation_id: i32,
    /// The request header's client id.
    pub client_id: Option<String>,
    /// The encoded request body (after the header).
    pub body: Bytes,
}

impl InterceptedRequest {
    /// Decodes the body as `T` (for example `ProduceRequest`), or `None` if it
    /// does not decode at this request's version.
    pub fn decode<T: Decodable>(&self) -> Option<T> {
        T::decode(&mut self.body.clone(), self.version).ok()
    }
}

type EncodeFn = dyn Fn(&mut Vec<u8>, i16) -> bool + Send + Sync;

/// A response body an intercept answers with, encoded at the request's version.
pub struct Response {
    encode: Box<EncodeFn>,
}

impl Response {
    /// Wraps a response message, for example a `MetadataResponse`.
    pub fn new<T: Encodable + Send + Sync + 'static>(body: T) -> Self {
        Self {
            encode: Box::new(move |buf, version| body.encode(buf, version).is_ok()),
        }
    }
}

impl fmt::Debug for Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Response(..)")
    }
}

/// What an intercept does with a request.
#[derive(Debug)]
#[non_exhaustive]
pub enum Action {
    /// Handle the request normally.
    PassThrough,
    /// Answer with this body instead of handling the request; a body that
    /// does not encode at the request's version closes the connection.
    Respond(Response),
    /// Answer with the request's normal response shape carrying this error
    /// code where that API reports errors: on every partition (Produce,
    /// Fetch, ListOffsets, OffsetForLeaderEpoch, DeleteRecords), every topic
    /// or resource (Metadata, CreateTopics, DeleteTopics, CreatePartitions,
    /// DescribeConfigs, OffsetCommit), every group (DescribeGroups,
    /// DeleteGroups, OffsetFetch v8+), or top-level (ApiVersions,
    /// InitProducerId, FindCoordinator, SASL, JoinGroup, SyncGroup,
    /// Heartbeat, LeaveGroup, ListGroups, OffsetDelete, OffsetFetch v2-7;
    /// every partition of OffsetFetch v1). For example 6, NOT_LEADER_OR_FOLLOWER, on
    /// every partition of a produce. Exceptions: the fetch session codes 70
    /// and 71 go top-level in Fetch, and Metadata v13 puts the code top-level
    /// when no topic was named. Nothing is written or read.
    ErrorCode(i16),
    /// Wait this long, then handle the request normally.
    Delay(Duration),
    /// Handle the request normally and set `throttle_time_ms` in the response.
    Throttle(Duration),
    /// Close the connection without answering.
    DropConnection,
}

/// An API key: a kafka-protocol [`ApiKey`] or its raw `i16` code.
pub trait IntoApiKey {
    /// The raw key.
    fn into_api_key(self) -> i16;
}

impl IntoApiKey for i16 {
    fn into_api_key(self) -> i16 {
        self
    }
}

impl IntoApiKey for ApiKey {
    fn into_api_key(self) -> i16 {
        self as i16
    }
}

fn not_found(what: String) -> io::Error {
    io::Error::new(io::ErrorKind::NotFound, what)
}

impl Cluster {
    /// Starts configuring a cluster.
    pub fn builder() -> ClusterBuilder {
        ClusterBuilder::default()
    }

    /// The brokers' addresses (`"127.0.0.1:port"`), broker 0 first.
    pub fn seeds(&self) -> Vec<String> {
        self.shared
            .brokers
            .iter()
            .map(|b| b.addr.to_string())
            .collect()
    }

    /// Stops every broker and joins every thread; idempotent.
    ///
    /// # Blocking
    ///
    /// Until each connection thread has finished its current request; a
    /// waiting fetch or a delay is cut short.
    pub fn close(&self) {
        self.shared.closed.store(true, Ordering::Release);
        self.shared.notify_data();
        self.shared.groups.stop();
        coordinator::stop_txn_timer(&self.shared);
        for id in 0..self.shared.brokers.len() {
            conn::stop(&self.shared, id as i32);
        }
    }

    /// Registers an intercept for requests with `key`, on `broker` (or any
    /// broker), for the next `times` matching requests (or until removed).
    ///
    /// When several intercepts match a request, the oldest one is used; each
    /// use counts against its `times`, whatever the closure returns. The
    /// closure runs on the connection's thread with no cluster lock held.
    pub fn intercept<K, F>(
        &self,
        key: K,
        broker: Option<i32>,
        times: Option<usize>,
        f: F,
    ) -> InterceptId
    where
        K: IntoApiKey,
        F: FnMut(&InterceptedRequest) -> Action + Send + 'static,
    {
        let id = self.shared.next_intercept.fetch_add(1, Ordering::Relaxed);
        if times != Some(0) {
            self.shared.intercepts.lock().push(Intercept {
                id,
                key: key.into_api_key(),
                broker,
                remaining: times,
                f: Arc::new(parking_lot::Mutex::new(Box::new(f))),
            });
        }
        InterceptId(id)
    }

    /// Removes an intercept, returning whether it was still registered.
    pub fn remove_intercept(&self, id: InterceptId) -> bool {
        let mut list = self.shared.intercepts.lock();
        let before = list.len();
        list.retain(|x| x.id != id.0);
        before != list.len()
    }

    /// Creates a topic with the default replication factor.
    ///
    /// # Errors
    ///
    /// When the name is invalid, the topic exists or `partitions` is not positive.
    pub fn create_topic(&self, name: &str, partitions: i32) -> io::Result<()> {
        let rf = self.shared.settings.default_replication();
        let n = self.shared.settings.brokers;
        let mut st = self.shared.lock();
        st.create_topic(name, partitions, rf, Default::default(), n)
            .map(|_| ())
            .map_err(|(code, msg)| {
                io::Error::new(io::ErrorKind::InvalidInput, format!("error {code}: {msg}"))
            })
    }

    /// Makes broker `to` the leader of a partition and bumps its leader
    /// epoch, returning the new epoch.
    ///
    /// # Errors
    ///
    /// When the partition or broker does not exist.
    pub fn move_leader(&self, topic: &str, partition: i32, to: i32) -> io::Result<i32> {
        if to < 0 || to >= self.shared.settings.brokers {
            return Err(not_found(format!("broker {to}")));
        }
        let epoch = {
            let mut st = self.shared.lock();
            let p = st
                .topics
                .get_mut(topic)
                .and_then(|t| t.partition_mut(partition))
                .ok_or_else(|| not_found(format!("{topic}/{partition}")))?;
            if !p.replicas.contains(&to) {
                // The new leader must be a replica; Java's reassignment
                // would add it first.
                p.replicas.push(to);
            }
            p.set_leader(to)
        };
        self.shared.notify_data();
        Ok(epoch)
    }

    /// The leader and leader epoch of a partition.
    pub fn leader(&self, topic: &str, partition: i32) -> Option<(i32, i32)> {
        let st = self.shared.lock();
        st.topics
            .get(topic)?
            .partition(partition)
            .map(|p| (p.leader, p.leader_epoch))
    }

    /// The brokers holding a replica of a partition, leader first.
    pub fn replicas(&self, topic: &str, partition: i32) -> Option<Vec<i32>> {
        let st = self.shared.lock();
        let p = st.topics.get(topic)?.partition(partition)?;
        Some(p.replicas.clone())
    }

    /// The log directory broker `broker`'s replica of a partition is in
    /// (see [`ClusterBuilder::log_dirs`]); `None` when the broker holds no
    /// replica of it.
    pub fn replica_log_dir(&self, topic: &str, partition: i32, broker: i32) -> Option<String> {
        let st = self.shared.lock();
        let p = st.topics.get(topic)?.partition(partition)?;
        if !p.replicas.contains(&broker) {
            return None;
        }
        let moved = st.replica_dirs.get(&(topic.to_string(), partition, broker));
        moved
            .or_else(|| self.shared.settings.log_dirs.first())
            .cloned()
    }

    /// Truncates a partition's log to `offset` (rounded down to a batch
    /// boundary) and bumps its leader epoch, as an unclean leader election
    /// does; returns the new log end offset.
    ///
    /// # Errors
    ///
    /// When the partition does not exist.
    pub fn truncate(&self, topic: &str, partition: i32, offset: i64) -> io::Result<i64> {
        let end = {
            let mut st = self.shared.lock();
            st.topics
                .get_mut(topic)
                .and_then(|t| t.partition_mut(partition))
                .ok_or_else(|| not_found(format!("{topic}/{partition}")))?
                .truncate(offset)
        };
        self.shared.notify_data();
        Ok(end)
    }

    /// The high watermark (log end offset) of a partition, if it exists.
    pub fn end_offset(&self, topic: &str, partition: i32) -> Option<i64> {
        let st = self.shared.lock();
        st.topics
            .get(topic)
            .and_then(|t| t.partition(partition))
            .map(|p| p.high_watermark())
    }

    /// The stored record batches of a partition, as fetchers receive them
    /// (offsets and leader epoch assigned); empty for an unknown partition.
    pub fn partition_log(&self, topic: &str, partition: i32) -> Vec<Bytes> {
        let st = self.shared.lock();
        st.topics
            .get(topic)
            .and_then(|t| t.partition(partition))
            .map(|p| p.batches.iter().map(|b| b.data.clone()).collect())
            .unwrap_or_default()
    }

    /// Stops a broker: closes its listener and connections, forgets its
    /// fetch sessions. Leadership does not move (call [`move_leader`](Self::move_leader)
    /// to act as the controller); Metadata lists the broker's partitions
    /// as LEADER_NOT_AVAILABLE until it is back.
    ///
    /// # Errors
    ///
    /// When the broker does not exist.
    pub fn stop_broker(&self, id: i32) -> io::Result<()> {
        if id < 0 || id >= self.shared.settings.brokers {
            return Err(not_found(format!("broker {id}")));
        }
        conn::stop(&self.shared, id);
        self.shared.notify_data();
        Ok(())
    }

    /// Restarts a stopped broker on its old port (no-op if it is running).
    ///
    /// # Errors
    ///
    /// When the broker does not exist or the port cannot be bound again.
    pub fn start_broker(&self, id: i32) -> io::Result<()> {
        if id < 0 || id >= self.shared.settings.brokers {
            return Err(not_found(format!("broker {id}")));
        }
        conn::start(&self.shared, id, None)
    }

    /// Requests with `key` received by all brokers (including intercepted ones).
    pub fn request_count<K: IntoApiKey>(&self, key: K) -> u64 {
        self.shared.counted(None, key.into_api_key())
    }

    /// Requests with `key` received by `broker`.
    pub fn request_count_on<K: IntoApiKey>(&self, broker: i32, key: K) -> u64 {
        if broker < 0 {
            return 0;
        }
        self.shared.counted(Some(broker), key.into_api_key())
    }

    /// Fetch session counters across all brokers.
    pub fn fetch_session_stats(&self) -> FetchSessionStats {
        let c = &self.shared.session_counters;
        FetchSessionStats {
            full: c.full.load(Ordering::Relaxed),
            incremental: c.incremental.load(Ordering::Relaxed),
            created: c.created.load(Ordering::Relaxed),
            evicted: c.evicted.load(Ordering::Relaxed),
            errors: c.errors.load(Ordering::Relaxed),
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.close();
    }
}
