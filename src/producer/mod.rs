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
//! Lock order: `topics` (read) → a topic's `parts` (read; held across the
//! append) → a topic's partitioner → one `RecBuf` → (nothing). The producer-id lock is never held with a `RecBuf` lock. No lock
//! is held while a callback, hook or partitioner of the user runs... except the
//! topic's partitioner lock, which exists to serialize the partitioner.

mod buffer;
mod completion;
mod id;
pub mod partitioner;
mod pool;
mod recbuf;
mod settings;
mod sink;
mod topics;
mod txn;

use crate::protocol::compression::Codec;

pub use crate::hooks::ProduceBatchMetrics;
pub(crate) use buffer::{BufferWait, Producer};
pub(crate) use completion::{Callback, SlotSink};
pub use completion::{ProduceResult, ProduceResults};
pub(crate) use settings::ProducerSettings;

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
