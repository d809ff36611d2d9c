//! Producer options (kgo's `ProducerOpt`s).

use std::sync::Arc;
use std::time::Duration;

use super::{ConfigBuilder, FromConfig};
use crate::error::{Error, Result};
use crate::producer::partitioner::{sticky_key_partitioner, Partitioner};
use crate::producer::{Acks, CompressionCodec};

type DataLossFn = Arc<dyn Fn(&str, i32) + Send + Sync>;

/// The producer's settings inside [`Config`](super::Config).
#[derive(Clone)]
pub(crate) struct ProducerConfig {
    pub(crate) default_topic: Option<String>,
    pub(crate) idempotent: bool,
    pub(crate) manual_flushing: bool,
    pub(crate) max_buffered_records: usize,
    pub(crate) max_buffered_bytes: Option<usize>,
    pub(crate) request_timeout: Duration,
    pub(crate) compression: Vec<CompressionCodec>,
    pub(crate) batch_max_bytes: i32,
    pub(crate) linger: Duration,
    pub(crate) on_data_loss: Option<DataLossFn>,
    pub(crate) stop_on_data_loss: bool,
    pub(crate) delivery_timeout: Option<Duration>,
    pub(crate) partitioner: Arc<dyn Partitioner>,
    pub(crate) record_retries: u32,
    pub(crate) acks: Acks,
    pub(crate) unknown_topic_retries: u32,
}

impl Default for ProducerConfig {
    fn default() -> ProducerConfig {
        ProducerConfig {
            default_topic: None,
            idempotent: true,
            manual_flushing: false,
            max_buffered_records: 10_000,
            max_buffered_bytes: None,
            request_timeout: Duration::from_secs(10),
            compression: vec![CompressionCodec::snappy(), CompressionCodec::none()],
            batch_max_bytes: 1_000_012,
            linger: Duration::ZERO,
            on_data_loss: None,
            stop_on_data_loss: false,
            delivery_timeout: None,
            partitioner: sticky_key_partitioner(None),
            record_retries: u32::MAX,
            acks: Acks::AllIsr,
            unknown_topic_retries: 4,
        }
    }
}

impl std::fmt::Debug for ProducerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProducerConfig")
            .field("default_topic", &self.default_topic)
            .field("idempotent", &self.idempotent)
            .field("manual_flushing", &self.manual_flushing)
            .field("max_buffered_records", &self.max_buffered_records)
            .field("max_buffered_bytes", &self.max_buffered_bytes)
            .field("request_timeout", &self.request_timeout)
            .field("compression", &self.compression)
            .field("batch_max_bytes", &self.batch_max_bytes)
            .field("linger", &self.linger)
            .field("stop_on_data_loss", &self.stop_on_data_loss)
            .field("delivery_timeout", &self.delivery_timeout)
            .field("record_retries", &self.record_retries)
            .field("acks", &self.acks)
            .finish_non_exhaustive()
    }
}

impl ProducerConfig {
    pub(super) fn validate(&self, broker_max_write_bytes: i32) -> Result<()> {
        if self.idempotent && self.acks != Acks::AllIsr {
            return Err(Error::config(
                "required_acks: idempotent writes need Acks::AllIsr; call disable_idempotent_write(true) to use fewer acks",
            ));
        }
        if self.max_buffered_records == 0 {
            return Err(Error::config("max_buffered_records: must be at least 1"));
        }
        if self.max_buffered_bytes == Some(0) {
            return Err(Error::config(
                "max_buffered_bytes: must be at least 1 when set",
            ));
        }
        if self.batch_max_bytes < 1 << 10 {
            return Err(Error::config(format!(
                "producer_batch_max_bytes: {} is below the minimum of 1024",
                self.batch_max_bytes
            )));
        }
        if self.batch_max_bytes > broker_max_write_bytes {
            return Err(Error::config(format!(
                "producer_batch_max_bytes ({}) must not exceed broker_max_write_bytes ({broker_max_write_bytes})",
                self.batch_max_bytes
            )));
        }
        if self.request_timeout < Duration::from_millis(100)
            || self.request_timeout > Duration::from_millis(i32::MAX as u64)
        {
            return Err(Error::config(format!(
                "produce_request_timeout: {:?} is outside 100ms..24 days",
                self.request_timeout
            )));
        }
        if self.linger > Duration::from_secs(60) {
            return Err(Error::config(format!(
                "producer_linger: {:?} is over the 1 minute maximum",
                self.linger
            )));
        }
        if self.record_retries == 0 {
            return Err(Error::config(
                "record_retries: must be at least 1 (one try)",
            ));
        }
        if self.on_data_loss.is_some() && self.stop_on_data_loss {
            return Err(Error::config(
                "producer_on_data_loss_detected and stop_producer_on_data_loss_detected are mutually exclusive",
            ));
        }
        if self.compression.is_empty() {
            return Err(Error::config("producer_batch_compression: give at least one codec (CompressionCodec::none() for none)"));
        }
        if let Some(t) = &self.default_topic {
            if t.is_empty() {
                return Err(Error::config("default_produce_topic: must not be empty"));
            }
        }
        Ok(())
    }
}

impl<T: FromConfig> ConfigBuilder<T> {
    /// Sets the topic for records whose `topic` is empty. Defaults to none:
    /// such records fail.
    pub fn default_produce_topic(mut self, topic: impl Into<String>) -> Self {
        self.cfg.producer.default_topic = Some(topic.into());
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
    /// `max_buffered_records` fails with [`Error::MaxBuffered`] instead of blocking.
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
    /// [`Error::RecordTimeout`] (and every later record of its partition).
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
    /// [`Error::RecordRetries`]. Defaults to unlimited.
    ///
    /// Corresponds to Java `retries`.
    pub fn record_retries(mut self, n: u32) -> Self {
        self.cfg.producer.record_retries = n;
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
