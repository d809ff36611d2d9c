//! The producer: partitioning and buffering on the caller's thread, one sink
//! thread per broker, idempotent sequence numbers, and promises.
//!
//! ```text
//!  produce(record, cb)                     ks-sink-<id>                  ks-prom
//!  ───────────────────                     ────────────                  ───────
//!  partitioner picks p ─► RecBuf(p).lock   drains ready batches of the   runs callbacks,
//!  encode into the open  ─► open batch ──► partitions it leads, one per  in per-partition
//!  batch; wake the sink                    partition per request, up to  order, then frees
//!                                          5 requests in flight ───────► the buffer slots
//! ```
//!
//! Lock order: `topics` (read) → a topic's partitioner → one `RecBuf` →
//! (nothing). The producer-id lock is never held with a `RecBuf` lock. No lock
//! is held while a callback, hook or partitioner of the user runs... except the
//! topic's partitioner lock, which exists to serialize the partitioner.

mod buffer;
mod completion;
mod id;
pub mod partitioner;
mod sink;

use std::sync::Arc;
use std::time::Instant;

use crate::error::{Error, Result};
use crate::protocol::compression::Codec;
use crate::record::Record;

pub(crate) use buffer::Producer;
pub use completion::{FirstErrPromise, ProduceResult, ProduceResults};

/// The acks a produce request asks for (kgo's `Acks`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Acks {
    /// No response: records count as sent once written (`acks=0`).
    None,
    /// The leader wrote the records (`acks=1`).
    Leader,
    /// Every in-sync replica wrote the records (`acks=all`, the default).
    AllIsr,
}

impl Acks {
    /// The wire value: 0, 1 or -1.
    pub fn value(self) -> i16 {
        match self {
            Acks::None => 0,
            Acks::Leader => 1,
            Acks::AllIsr => -1,
        }
    }
}

/// A compression codec with an optional level (kgo's `CompressionCodec`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CompressionCodec {
    pub(crate) codec: Codec,
    pub(crate) level: Option<i32>,
}

impl CompressionCodec {
    /// No compression; always usable as a fallback.
    pub fn none() -> CompressionCodec {
        CompressionCodec {
            codec: Codec::None,
            level: None,
        }
    }
    /// gzip at the default level.
    pub fn gzip() -> CompressionCodec {
        CompressionCodec {
            codec: Codec::Gzip,
            level: None,
        }
    }
    /// snappy.
    pub fn snappy() -> CompressionCodec {
        CompressionCodec {
            codec: Codec::Snappy,
            level: None,
        }
    }
    /// lz4 at the fastest level.
    pub fn lz4() -> CompressionCodec {
        CompressionCodec {
            codec: Codec::Lz4,
            level: None,
        }
    }
    /// zstd at the default level (needs produce v7, Kafka 2.1+).
    pub fn zstd() -> CompressionCodec {
        CompressionCodec {
            codec: Codec::Zstd,
            level: None,
        }
    }
    /// Sets the level; invalid levels fall back to the codec's default.
    #[must_use]
    pub fn with_level(mut self, level: i32) -> CompressionCodec {
        self.level = Some(level);
        self
    }
    /// The codec's wire id: 0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd.
    pub fn id(self) -> u8 {
        self.codec as u8
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

/// The callback of one produced record.
pub(crate) type Callback = Box<dyn FnOnce(Record, Result<()>) + Send>;

impl crate::Client {
    /// The producer, started on first use. Lock-free once started.
    pub(crate) fn producer(&self) -> Result<&Arc<Producer>> {
        if let Some(p) = self.inner.producer.get() {
            return Ok(p);
        }
        let _g = self.inner.producer_init.lock();
        if self.is_closed() {
            return Err(Error::ClientClosed);
        }
        if let Some(p) = self.inner.producer.get() {
            return Ok(p);
        }
        let p = Producer::start(self)?;
        Ok(self.inner.producer.get_or_init(|| p))
    }

    /// Produces `record`, calling `callback` exactly once with the record
    /// (its partition, offset, timestamp and attributes set on success) and
    /// the result (kgo's `Produce`).
    ///
    /// Callbacks run on the client's `ks-prom` thread, in order per
    /// partition; they must be quick and must not block on the client.
    ///
    /// # Blocking
    ///
    /// While `max_buffered_records` (or `max_buffered_bytes`) are buffered,
    /// until space frees up or the client closes; with manual flushing it
    /// fails with [`Error::MaxBuffered`] instead. See
    /// [`produce_deadline`](Self::produce_deadline) to bound the wait.
    pub fn produce(
        &self,
        record: Record,
        callback: impl FnOnce(Record, Result<()>) + Send + 'static,
    ) {
        self.produce_inner(record, Box::new(callback), None);
    }

    /// [`produce`](Self::produce), failing the record with
    /// [`Error::Timeout`] if it cannot be buffered by `deadline`.
    pub fn produce_deadline(
        &self,
        record: Record,
        deadline: Instant,
        callback: impl FnOnce(Record, Result<()>) + Send + 'static,
    ) {
        self.produce_inner(record, Box::new(callback), Some(deadline));
    }

    fn produce_inner(&self, record: Record, cb: Callback, deadline: Option<Instant>) {
        match self.producer() {
            Ok(p) => p.produce(record, cb, deadline),
            Err(e) => cb(record, Err(e)),
        }
    }

    /// Produces `records` and waits for all of them (kgo's `ProduceSync`).
    ///
    /// # Blocking
    ///
    /// Until every record is acknowledged or failed.
    pub fn produce_sync(&self, records: impl IntoIterator<Item = Record>) -> ProduceResults {
        self.produce_batch(records)
    }

    /// Produces `records` and waits for all of them, returning their results
    /// in the order given (asked for by kgo users as a batch call).
    ///
    /// # Blocking
    ///
    /// Until every record is acknowledged or failed.
    pub fn produce_batch(&self, records: impl IntoIterator<Item = Record>) -> ProduceResults {
        completion::produce_and_wait(self, records, None)
    }

    /// [`produce_batch`](Self::produce_batch) that returns by `deadline`;
    /// records not finished by then are reported with [`Error::Timeout`]
    /// (they stay buffered and may still be written).
    ///
    /// # Blocking
    ///
    /// Until every record is acknowledged or failed, or `deadline`.
    pub fn produce_batch_deadline(
        &self,
        records: impl IntoIterator<Item = Record>,
        deadline: Instant,
    ) -> ProduceResults {
        completion::produce_and_wait(self, records, Some(deadline))
    }

    /// Waits until every buffered record is acknowledged or failed, sending
    /// lingering batches at once (kgo's `Flush`).
    ///
    /// # Errors
    ///
    /// [`Error::ClientClosed`] if the client closes first.
    pub fn flush(&self) -> Result<()> {
        self.flush_deadline(None)
    }

    /// [`flush`](Self::flush) with an optional deadline.
    ///
    /// # Errors
    ///
    /// [`Error::Timeout`] at the deadline, [`Error::ClientClosed`] on close.
    pub fn flush_deadline(&self, deadline: Option<Instant>) -> Result<()> {
        match self.inner.producer.get() {
            Some(p) => p.flush(deadline),
            None if self.is_closed() => Err(Error::ClientClosed),
            None => Ok(()),
        }
    }

    /// Fails every buffered record with [`Error::Aborting`] and waits until
    /// nothing is buffered (kgo's `AbortBufferedRecords`). Requests already
    /// in flight finish first. Do not produce concurrently.
    ///
    /// # Errors
    ///
    /// [`Error::Timeout`] at the deadline, [`Error::ClientClosed`] on close.
    pub fn abort_buffered_records(&self, deadline: Option<Instant>) -> Result<()> {
        match self.inner.producer.get() {
            Some(p) => p.abort(deadline),
            None => Ok(()),
        }
    }

    /// How many records are buffered for producing (kgo's `BufferedProduceRecords`).
    pub fn buffered_produce_records(&self) -> i64 {
        self.inner
            .producer
            .get()
            .map_or(0, |p| p.buffered_records())
    }
}
