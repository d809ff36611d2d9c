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
//! | `ks-io-<id>` | broker (seeds: `ks-io-s<n>`) | owns every socket of that broker: dialing, TLS, SASL, framing, pipelining, deadlines, idle reaping |
//! | `ks-meta` | client | the metadata cache and its refresh loop |
//! | `ks-sink-<id>` | broker the producer writes to | produce requests for the partitions that broker leads |
//! | `ks-src-<id>` | broker the consumer reads from | fetch requests (KIP-227 sessions), offset lookups and decoding for the partitions that broker serves |
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
//! `messages` (the kafka-protocol schemas) → `protocol` (framing, versions) →
//! `broker` (I/O threads) → `client` (routing, retries) with `metadata`.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![warn(missing_debug_implementations, rust_2018_idioms)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod broker;
mod client;
mod config;
pub mod consumer;
mod error;
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

pub use broker::{BrokerE2E, BrokerMetadata};
pub use client::{Broker, Client, ResponseShard};
pub use config::IsolationLevel;
pub use config::{
    Config, ConfigBuilder, Dialer, FromConfig, TlsConfig, TlsConfigBuilder, Versions,
};
pub use consumer::{
    DataLoss, EpochOffset, Fetch, FetchBatchMetrics, FetchError, FetchPartition, FetchTopic,
    FetchTopicPartition, Fetches, FetchesRecordIter, Offset,
};
pub use error::{Error, ErrorCode, Result, TimeoutKind};
pub use hooks::Hook;
pub use logger::{BasicLogger, LogCrateLogger, LogLevel, Logger};
pub use metadata::{MetadataSnapshot, PartitionMetadata, TopicMetadata};
pub use producer::partitioner::{
    basic_consistent_partitioner, fnv32a, kafka_hasher, least_backup_partitioner,
    manual_partitioner, murmur2, round_robin_partitioner, sarama_hasher, sticky_key_partitioner,
    sticky_partitioner, Partitioner, PartitionerHasher, TopicBackupIter, TopicPartitioner,
};
pub use producer::{
    Acks, CompressionCodec, FirstErrPromise, ProduceBatchMetrics, ProduceResult, ProduceResults,
};
pub use record::{Record, RecordAttrs, RecordHeader};
