//! The producer's own settings: every producer option of the builder, with
//! kgo's defaults. `config` fills them in and validates them.

use std::sync::Arc;
use std::time::Duration;

use super::partitioner::{sticky_key_partitioner, Partitioner};
use super::{Acks, CompressionCodec};
use crate::error::{Error, Result};

type DataLossFn = Arc<dyn Fn(&str, i32) + Send + Sync>;

/// The producer's options, composed by `config` from the builder.
#[derive(Clone)]
pub(crate) struct ProducerSettings {
    pub(crate) default_topic: Option<crate::record::Topic>,
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
    pub(crate) transactional_id: Option<String>,
    pub(crate) transaction_timeout: Duration,
}

impl Default for ProducerSettings {
    fn default() -> ProducerSettings {
        ProducerSettings {
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
            transactional_id: None,
            // kgo.md says 40 s in one place and 60 s in another; kgo uses 40 s.
            transaction_timeout: Duration::from_secs(40),
        }
    }
}

impl std::fmt::Debug for ProducerSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProducerSettings")
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
            .field("transactional_id", &self.transactional_id)
            .field("transaction_timeout", &self.transaction_timeout)
            .finish_non_exhaustive()
    }
}

impl ProducerSettings {
    pub(crate) fn validate(&self, broker_max_write_bytes: i32) -> Result<()> {
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
        if let Some(id) = &self.transactional_id {
            if id.is_empty() {
                return Err(Error::config("transactional_id: must not be empty"));
            }
            // The request field is a string (i16 length); kgo allows 16382 bytes.
            if id.len() > 16382 {
                return Err(Error::config("transactional_id: longer than 16382 bytes"));
            }
            if !self.idempotent {
                return Err(Error::config(
                    "transactional_id: transactions need idempotent writes; remove disable_idempotent_write(true)",
                ));
            }
        }
        if self.transaction_timeout < Duration::from_millis(1)
            || self.transaction_timeout > Duration::from_millis(i32::MAX as u64)
        {
            return Err(Error::config(format!(
                "transaction_timeout: {:?} is outside 1ms..24 days",
                self.transaction_timeout
            )));
        }
        if let Some(t) = &self.default_topic {
            if t.is_empty() {
                return Err(Error::config("default_produce_topic: must not be empty"));
            }
        }
        Ok(())
    }
}
