//! Hooks: callbacks for metrics and tracing.
//!
//! One trait with a default no-op method per kgo hook; implement the methods
//! you care about. Adding a hook method is not a breaking change. Hooks are
//! called in the order they were added, from client threads; they must be
//! fast and must not block on the client.

use std::time::Duration;

use crate::error::Error;
use crate::record::Record;

/// A broker's identity and address, as in a Metadata response.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BrokerMetadata {
    /// The broker's node id. Seed brokers have ids from `i32::MIN` upwards.
    pub node_id: i32,
    /// The broker's host.
    pub host: String,
    /// The broker's port.
    pub port: i32,
    /// The broker's rack, if it has one. Seed brokers have none.
    pub rack: Option<String>,
}

impl BrokerMetadata {
    /// `host:port`, bracketing IPv6 literals.
    pub fn addr(&self) -> String {
        if self.host.contains(':') && !self.host.starts_with('[') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// Whether this is a seed broker rather than one discovered in metadata.
    pub fn is_seed(&self) -> bool {
        self.node_id < i32::MIN + (1 << 16)
    }

    /// The host without IPv6 brackets, for TLS names and SASL.
    pub(crate) fn bare_host(&self) -> &str {
        self.host.trim_start_matches('[').trim_end_matches(']')
    }
}

/// Everything known about one request's write and its response's read
/// (kgo's `BrokerE2E`).
#[derive(Debug, Clone, Default)]
pub struct BrokerE2E {
    /// Bytes written for the request (perhaps partial on error).
    pub bytes_written: usize,
    /// Bytes read for the response (zero on a write error).
    pub bytes_read: usize,
    /// From when the request was queued to just before its write.
    pub write_wait: Duration,
    /// How long the write took.
    pub time_to_write: Duration,
    /// From the end of the write until the response began to arrive.
    pub read_wait: Duration,
    /// How long reading the response took.
    pub time_to_read: Duration,
    /// The write's error, if any.
    pub write_err: Option<Error>,
    /// The read's error, if any.
    pub read_err: Option<Error>,
}

impl BrokerE2E {
    /// The time from the start of the write to the end of the read.
    pub fn duration_e2e(&self) -> Duration {
        self.time_to_write + self.read_wait + self.time_to_read
    }

    /// The write error, else the read error.
    pub fn err(&self) -> Option<&Error> {
        self.write_err.as_ref().or(self.read_err.as_ref())
    }
}

/// What one successfully written batch held (kgo's `ProduceBatchMetrics`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ProduceBatchMetrics {
    /// Records in the batch.
    pub num_records: usize,
    /// Bytes of the records before compression (without batch overhead).
    pub uncompressed_bytes: usize,
    /// Bytes of the records as written (equal to uncompressed when not compressed).
    pub compressed_bytes: usize,
    /// The codec used: 0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd.
    pub compression_type: u8,
}

/// What one fetched batch held (kgo's `FetchBatchMetrics`), for
/// [`Hook::on_fetch_batch_read`](crate::Hook::on_fetch_batch_read).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FetchBatchMetrics {
    /// Records in the batch, control records included.
    pub num_records: usize,
    /// The records' size after decompression.
    pub uncompressed_bytes: usize,
    /// The records' size as read (equal to uncompressed when not compressed).
    pub compressed_bytes: usize,
    /// 0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd.
    pub compression_type: u8,
}

/// Callbacks fired by the client. Every method defaults to doing nothing.
pub trait Hook: Send + Sync {
    /// Called with a newly built client, before any client thread starts
    /// (kgo's `HookNewClient`), on the thread that builds it: for final
    /// setup work in your hooks, such as keeping a handle to the client.
    ///
    /// The threads (broker I/O, metadata, the group member) start once every
    /// hook returned, so a hook must not wait on the client: a request made
    /// here finds no broker to talk to and fails with
    /// [`Error::UnknownBroker`] once its retries are spent, and a poll or a
    /// flush waits for threads that have not started.
    fn on_new_client(&self, client: &crate::Client) {
        let _ = client;
    }

    /// Called after a dial to a broker finished, with how long it took and the
    /// error if it failed (kgo's `HookBrokerConnect`). A dial includes TCP
    /// connect and the TLS handshake.
    fn on_broker_connect(&self, meta: &BrokerMetadata, dial: Duration, err: Option<&Error>) {
        let _ = (meta, dial, err);
    }

    /// Called when a connection to a broker closes (kgo's `HookBrokerDisconnect`).
    fn on_broker_disconnect(&self, meta: &BrokerMetadata) {
        let _ = meta;
    }

    /// Called after a request is written: its key, bytes written, how long it
    /// waited to be written (throttling included), how long the write took,
    /// and the error (kgo's `HookBrokerWrite`).
    fn on_broker_write(
        &self,
        meta: &BrokerMetadata,
        key: i16,
        bytes: usize,
        write_wait: Duration,
        time_to_write: Duration,
        err: Option<&Error>,
    ) {
        let _ = (meta, key, bytes, write_wait, time_to_write, err);
    }

    /// Called after a response is read (kgo's `HookBrokerRead`).
    fn on_broker_read(
        &self,
        meta: &BrokerMetadata,
        key: i16,
        bytes: usize,
        read_wait: Duration,
        time_to_read: Duration,
        err: Option<&Error>,
    ) {
        let _ = (meta, key, bytes, read_wait, time_to_read, err);
    }

    /// Called after a request's write failed or its response was read, with
    /// everything known about both (kgo's `HookBrokerE2E`).
    fn on_broker_e2e(&self, meta: &BrokerMetadata, key: i16, e2e: &BrokerE2E) {
        let _ = (meta, key, e2e);
    }

    /// Called when a response says the broker throttled the client (KIP-219).
    /// When `after_response` is true the client sends nothing more to that
    /// broker until the throttle ends (kgo's `HookBrokerThrottle`).
    fn on_broker_throttle(&self, meta: &BrokerMetadata, throttle: Duration, after_response: bool) {
        let _ = (meta, throttle, after_response);
    }

    /// Called for every record buffered by `produce`, after the default topic
    /// and timestamp are set (kgo's `HookProduceRecordBuffered`). Slows
    /// high-volume producing a little; `buffered_produce_records` is cheaper
    /// for a gauge.
    fn on_produce_record_buffered(&self, record: &Record) {
        let _ = record;
    }

    /// Called just before a record's callback, with its error if it failed
    /// (kgo's `HookProduceRecordUnbuffered`).
    fn on_produce_record_unbuffered(&self, record: &Record, err: Option<&Error>) {
        let _ = (record, err);
    }

    /// Called for every batch written successfully to a partition (kgo's
    /// `HookProduceBatchWritten`).
    fn on_produce_batch_written(
        &self,
        meta: &BrokerMetadata,
        topic: &str,
        partition: i32,
        metrics: &ProduceBatchMetrics,
    ) {
        let _ = (meta, topic, partition, metrics);
    }

    /// Called for every batch read from a partition on a source thread
    /// (kgo's `HookFetchBatchRead`); uncompressed legacy messages count one
    /// by one.
    fn on_fetch_batch_read(
        &self,
        meta: &BrokerMetadata,
        topic: &str,
        partition: i32,
        metrics: &FetchBatchMetrics,
    ) {
        let _ = (meta, topic, partition, metrics);
    }

    /// Called for every record buffered for polling (kgo's
    /// `HookFetchRecordBuffered`). Slows high-volume consuming a little;
    /// `buffered_fetch_records` is cheaper for a gauge.
    fn on_fetch_record_buffered(&self, record: &Record) {
        let _ = record;
    }

    /// Called for every record leaving the buffer: `polled` when a poll
    /// returns it, not when it is dropped (a paused or moved partition, new
    /// offsets, close) (kgo's `HookFetchRecordUnbuffered`).
    fn on_fetch_record_unbuffered(&self, record: &Record, polled: bool) {
        let _ = (record, polled);
    }

    /// Called when the group member hits an error while managing its
    /// membership (a failed join, sync or heartbeat), before it retries or
    /// stops (kgo's `HookGroupManageError`).
    fn on_group_manage_error(&self, err: &Error) {
        let _ = err;
    }
}

/// Calls `f` for every hook.
pub(crate) fn each(hooks: &[std::sync::Arc<dyn Hook>], mut f: impl FnMut(&dyn Hook)) {
    for h in hooks {
        f(&**h);
    }
}

/// A shared hook, so a caller can keep a handle on its hook (to read its metrics).
impl<H: Hook + ?Sized> Hook for std::sync::Arc<H> {
    fn on_new_client(&self, client: &crate::Client) {
        (**self).on_new_client(client)
    }
    fn on_broker_connect(&self, meta: &BrokerMetadata, dial: Duration, err: Option<&Error>) {
        (**self).on_broker_connect(meta, dial, err)
    }
    fn on_broker_disconnect(&self, meta: &BrokerMetadata) {
        (**self).on_broker_disconnect(meta)
    }
    fn on_broker_write(
        &self,
        meta: &BrokerMetadata,
        key: i16,
        bytes: usize,
        write_wait: Duration,
        time_to_write: Duration,
        err: Option<&Error>,
    ) {
        (**self).on_broker_write(meta, key, bytes, write_wait, time_to_write, err)
    }
    fn on_broker_read(
        &self,
        meta: &BrokerMetadata,
        key: i16,
        bytes: usize,
        read_wait: Duration,
        time_to_read: Duration,
        err: Option<&Error>,
    ) {
        (**self).on_broker_read(meta, key, bytes, read_wait, time_to_read, err)
    }
    fn on_broker_e2e(&self, meta: &BrokerMetadata, key: i16, e2e: &BrokerE2E) {
        (**self).on_broker_e2e(meta, key, e2e)
    }
    fn on_broker_throttle(&self, meta: &BrokerMetadata, throttle: Duration, after_response: bool) {
        (**self).on_broker_throttle(meta, throttle, after_response)
    }
    fn on_produce_record_buffered(&self, record: &Record) {
        (**self).on_produce_record_buffered(record)
    }
    fn on_produce_record_unbuffered(&self, record: &Record, err: Option<&Error>) {
        (**self).on_produce_record_unbuffered(record, err)
    }
    fn on_produce_batch_written(
        &self,
        meta: &BrokerMetadata,
        topic: &str,
        partition: i32,
        metrics: &ProduceBatchMetrics,
    ) {
        (**self).on_produce_batch_written(meta, topic, partition, metrics)
    }
    fn on_fetch_batch_read(
        &self,
        meta: &BrokerMetadata,
        topic: &str,
        partition: i32,
        metrics: &FetchBatchMetrics,
    ) {
        (**self).on_fetch_batch_read(meta, topic, partition, metrics)
    }
    fn on_fetch_record_buffered(&self, record: &Record) {
        (**self).on_fetch_record_buffered(record)
    }
    fn on_fetch_record_unbuffered(&self, record: &Record, polled: bool) {
        (**self).on_fetch_record_unbuffered(record, polled)
    }
    fn on_group_manage_error(&self, err: &Error) {
        (**self).on_group_manage_error(err)
    }
}
