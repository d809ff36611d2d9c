//! Producer options (kgo's `ProducerOpt`s).

use std::sync::Arc;
use std::time::Duration;

use super::{ConfigBuilder, FromConfig};
use crate::producer::partitioner::Partitioner;
use crate::producer::{Acks, CompressionCodec};

impl<T: FromConfig> ConfigBuilder<T> {
    /// Sets the topic for records whose `topic` is empty. Defaults to none:
    /// such records fail.
    pub fn default_produce_topic(mut self, topic: impl Into<String>) -> Self {
        self.cfg.producer.default_topic = Some(crate::record::Topic::from(topic.into()));
        self
    }

    /// Disables idempotent writes (on by default). Needed for acks other
    /// than all, or without the IDEMPOTENT_WRITE permission on old clusters.
    ///
    /// Corresponds to Java `enable.idempotence=false`.
    pub fn disable_idempotent_write(mut self, disable: bool) -> Self {
        self.cfg.producer.idempotent = !disable;
        self
    }

    /// Disables automatic flushing: records wait for
    /// [`Client::flush`](crate::Client::flush), and producing past
    /// `max_buffered_records` fails with [`Error::MaxBuffered`](crate::Error::MaxBuffered) instead of blocking.
    pub fn manual_flushing(mut self, manual: bool) -> Self {
        self.cfg.producer.manual_flushing = manual;
        self
    }

    /// Sets how many records may be buffered before `produce` blocks.
    /// Defaults to 10,000.
    pub fn max_buffered_records(mut self, n: usize) -> Self {
        self.cfg.producer.max_buffered_records = n;
        self
    }

    /// Also bounds buffered records by their bytes (key, value and headers),
    /// blocking `produce` past it. Defaults to no byte bound. (Later kgo
    /// versions have this option.)
    pub fn max_buffered_bytes(mut self, n: usize) -> Self {
        self.cfg.producer.max_buffered_bytes = Some(n);
        self
    }

    /// Sets the produce request's own timeout (the broker answers
    /// REQUEST_TIMED_OUT past it). Defaults to 10s.
    ///
    /// Roughly Java `request.timeout.ms`, for produce requests.
    pub fn produce_request_timeout(mut self, t: Duration) -> Self {
        self.cfg.producer.request_timeout = t;
        self
    }

    /// Sets the compression preference, best first; the first codec the
    /// broker's produce version supports is used. Defaults to snappy, then
    /// none.
    ///
    /// Corresponds to Java `compression.type`.
    pub fn producer_batch_compression<I: IntoIterator<Item = CompressionCodec>>(
        mut self,
        preference: I,
    ) -> Self {
        self.cfg.producer.compression = preference.into_iter().collect();
        self
    }

    /// Sets the largest record batch, before compression. Defaults to
    /// 1,000,012 bytes. A record too large for a batch on its own fails with
    /// MESSAGE_TOO_LARGE.
    ///
    /// Corresponds to the broker's `max.message.bytes`; like Java `batch.size`.
    pub fn producer_batch_max_bytes(mut self, n: i32) -> Self {
        self.cfg.producer.batch_max_bytes = n;
        self
    }

    /// Sets how long a partition waits for more records before its batch is
    /// sent. Defaults to 0 (send as soon as the sink is free).
    ///
    /// Corresponds to Java `linger.ms`.
    pub fn producer_linger(mut self, linger: Duration) -> Self {
        self.cfg.producer.linger = linger;
        self
    }

    /// Calls `f(topic, partition)` when data loss is detected and the
    /// producer continues. Incompatible with
    /// [`stop_producer_on_data_loss_detected`](Self::stop_producer_on_data_loss_detected).
    pub fn producer_on_data_loss_detected(
        mut self,
        f: impl Fn(&str, i32) + Send + Sync + 'static,
    ) -> Self {
        self.cfg.producer.on_data_loss = Some(Arc::new(f));
        self
    }

    /// Stops producing (failing records) once data loss is detected.
    /// Defaults to off.
    pub fn stop_producer_on_data_loss_detected(mut self, stop: bool) -> Self {
        self.cfg.producer.stop_on_data_loss = stop;
        self
    }

    /// Sets how long a record may wait to be produced before failing with
    /// [`Error::RecordTimeout`](crate::Error::RecordTimeout) (and every later record of its partition).
    /// Defaults to no limit. Enforced only when safe for sequence numbers.
    ///
    /// Roughly Java `delivery.timeout.ms`.
    pub fn record_delivery_timeout(mut self, t: Duration) -> Self {
        self.cfg.producer.delivery_timeout = Some(t);
        self
    }

    /// Sets the partitioner. Defaults to
    /// [`sticky_key_partitioner(None)`](crate::sticky_key_partitioner), the
    /// Java default.
    ///
    /// Corresponds to Java `partitioner.class`.
    pub fn record_partitioner(mut self, p: Arc<dyn Partitioner>) -> Self {
        self.cfg.producer.partitioner = p;
        self
    }

    /// Sets how many times a batch is tried before its records fail with
    /// [`Error::RecordRetries`](crate::Error::RecordRetries). Defaults to unlimited.
    ///
    /// Corresponds to Java `retries`.
    pub fn record_retries(mut self, n: u32) -> Self {
        self.cfg.producer.record_retries = n;
        self
    }

    /// Makes the client transactional with this id (kgo's
    /// `TransactionalID`, Java `transactional.id`): records are produced
    /// only inside transactions
    /// ([`begin_transaction`](crate::Client::begin_transaction) ..
    /// [`end_transaction`](crate::Client::end_transaction)), and a record
    /// produced outside one fails with
    /// [`Error::NotInTransaction`](crate::Error::NotInTransaction).
    /// Implies idempotence (combining it with
    /// `disable_idempotent_write(true)` is an error from `build()`); in a
    /// group it turns autocommitting off and requires stable offsets
    /// (KIP-447), since offsets are committed inside transactions. A second
    /// client with the same id fences this one (PRODUCER_FENCED).
    pub fn transactional_id(mut self, id: impl Into<String>) -> Self {
        self.cfg.producer.transactional_id = Some(id.into());
        self
    }

    /// Sets how long a transaction may stay open before the coordinator
    /// aborts it (kgo's `TransactionTimeout`, Java `transaction.timeout.ms`).
    /// Defaults to 40 s. The coordinator starts the clock at the first
    /// partition (or offsets) added to the transaction, and rejects values
    /// above its `transaction.max.timeout.ms` (15 min by default).
    pub fn transaction_timeout(mut self, timeout: Duration) -> Self {
        self.cfg.producer.transaction_timeout = timeout;
        self
    }

    /// Sets the acks produce requests ask for. Defaults to
    /// [`Acks::AllIsr`], which idempotence requires.
    ///
    /// Corresponds to Java `acks`.
    pub fn required_acks(mut self, acks: Acks) -> Self {
        self.cfg.producer.acks = acks;
        self
    }
}
