//! kafka-sync: a synchronous Apache Kafka client.
//!
//! No async runtime, no C library: a small fixed set of named threads does the
//! network work, and every blocking call takes a deadline and wakes up when the
//! client closes. The API follows franz-go's `kgo` package.
//!
//! # Quick start
//!
//! ```no_run
//! use kafka_sync::{messages, Client};
//!
//! let client = Client::builder().seed_brokers(["127.0.0.1:9092"]).build()?;
//! let meta = client.request(messages::MetadataRequest::default())?;
//! for b in &meta.brokers {
//!     println!("broker {} at {}:{}", b.node_id.0, b.host.as_str(), b.port);
//! }
//! client.close();
//! # Ok::<(), kafka_sync::Error>(())
//! ```
//!
//! # Threads
//!
//! | thread | one per | does |
//! | --- | --- | --- |
//! | `ks-io-<id>` | broker (seeds: `ks-io-s<n>`) | owns every socket of that broker: dialing, TLS, SASL, framing, pipelining, deadlines, idle reaping; decodes produce and fetch responses |
//! | `ks-meta` | client | the metadata cache and its refresh loop |
//! | `ks-sink-<id>` | broker the producer writes to | produce requests for the partitions that broker leads |
//! | `ks-prom` | client that produces | produce callbacks, in per-partition order |
//! | `ks-src-<id>` | broker the consumer reads from | fetch requests (KIP-227 sessions), offset lookups and buffering for the partitions that broker serves |
//! | `ks-group` | client in a consumer group | join, sync, heartbeats, rebalance callbacks, autocommit |
//!
//! # Consuming
//!
//! ```no_run
//! use std::time::Duration;
//! use kafka_sync::{Client, Offset};
//!
//! let client = Client::builder()
//!     .seed_brokers(["127.0.0.1:9092"])
//!     .consume_topics(["orders"])
//!     .consume_reset_offset(Offset::new().at_start())
//!     .build()?;
//! loop {
//!     let fetches = client.poll_fetches_timeout(Duration::from_secs(5));
//!     if fetches.is_client_closed() {
//!         break;
//!     }
//!     fetches.each_error(|t, p, e| eprintln!("{t}/{p}: {e}"));
//!     for r in fetches.record_iter() {
//!         println!("{}/{}@{}: {:?}", r.topic, r.partition, r.offset, r.value);
//!     }
//!     # break;
//! }
//! client.close();
//! # Ok::<(), kafka_sync::Error>(())
//! ```
//!
//! Every thread is started through the hook
//! [`ConfigBuilder::on_thread_start`](crate::ConfigBuilder::on_thread_start), so a
//! user can pin it, and every thread exits when [`Client::close`] returns.
//!
//! # Layers
//!
//! Imports point down this map only (the one exception is
//! [`Hook::on_new_client`], which takes the `Client`); a test of the crate
//! (`tests/architecture.rs`) holds the code to it.
//!
//! ```text
//!  top      client   the public Client facade: produce, consume, request; owns the
//!                    engines and the close order
//!           config   the builder: every option, validation, each layer's settings
//!  engines  producer consumer group  each holds Arc<Cluster> and its own settings
//!  core     cluster                  brokers, routing, sharding, retries, metadata
//!                                    triggers and listeners
//!           metadata  broker  sasl   snapshots and refresh; I/O threads, TLS, SASL
//!  wire     protocol                 framing, versions, per-API facts, record batches,
//!                                    compression
//!           messages                 the request and response schemas
//!  floor    error record hooks logger sync
//!  beside   fake                     the embedded fake cluster (feature `fake`)
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![warn(missing_debug_implementations, rust_2018_idioms)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod broker;
mod client;
mod cluster;
mod config;
pub mod consumer;
mod error;
pub mod format;
#[doc(hidden)]
pub mod fuzz;
pub mod group;
mod hooks;
mod logger;
pub mod messages;
mod metadata;
pub mod producer;
mod protocol;
mod record;
pub mod sasl;
mod sync;

#[cfg(feature = "fake")]
#[cfg_attr(docsrs, doc(cfg(feature = "fake")))]
pub mod fake;

pub use client::{Broker, Client, FirstErrPromise, GroupTransactSession, TransactionEndTry};
pub use cluster::ResponseShard;
pub use config::IsolationLevel;
pub use config::{
    Config, ConfigBuilder, Dialer, FromConfig, TlsConfig, TlsConfigBuilder, Versions,
};
pub use consumer::{
    EpochOffset, Fetch, FetchError, FetchPartition, FetchTopic, FetchTopicPartition, Fetches,
    FetchesRecordIter, Offset,
};
pub use error::{DataLoss, Error, ErrorCode, Result, TimeoutKind};
pub use format::{append_record_format, PartitionOffsets, RecordFormatter, RecordReader};
pub use group::balancer::{
    cooperative_sticky_balancer, parse_consumer_sync_assignment, range_balancer,
    round_robin_balancer, sticky_balancer, BalancePlan, ConsumerBalancer, ConsumerBalancerBalance,
    GroupBalancer, GroupMember, GroupMemberBalancer, IntoSyncAssignment,
};
pub use hooks::{BrokerE2E, BrokerMetadata, FetchBatchMetrics, Hook, ProduceBatchMetrics};
pub use logger::{BasicLogger, LogCrateLogger, LogLevel, Logger};
pub use metadata::{MetadataSnapshot, PartitionMetadata, TopicMetadata};
pub use producer::partitioner::{
    basic_consistent_partitioner, fnv32a, kafka_hasher, least_backup_partitioner,
    manual_partitioner, murmur2, round_robin_partitioner, sarama_hasher, sticky_key_partitioner,
    sticky_partitioner, Partitioner, PartitionerHasher, TopicBackupIter, TopicPartitioner,
};
pub use producer::{Acks, CompressionCodec, ProduceResult, ProduceResults};
pub use record::{Record, RecordAttrs, RecordHeader, Topic};
