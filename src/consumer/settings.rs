//! The consumer's own settings: every consumer option of the builder, with
//! kgo's defaults. `config` fills them in and validates them.

use std::collections::HashMap;
use std::time::Duration;

use super::Offset;
use crate::error::{Error, Result};

/// Which records a fetch may return (kgo's `IsolationLevel`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum IsolationLevel {
    /// Every record up to the high watermark, including records of open and
    /// aborted transactions (the default).
    #[default]
    ReadUncommitted,
    /// Only records up to the last stable offset; records of aborted
    /// transactions are dropped.
    ReadCommitted,
}

impl IsolationLevel {
    /// The wire value: 0 read uncommitted, 1 read committed.
    pub fn value(self) -> i8 {
        match self {
            IsolationLevel::ReadUncommitted => 0,
            IsolationLevel::ReadCommitted => 1,
        }
    }
}

/// The consumer's settings inside [`Config`](super::Config).
#[derive(Clone, Debug)]
pub(crate) struct ConsumerSettings {
    pub(crate) topics: Vec<String>,
    pub(crate) partitions: HashMap<String, HashMap<i32, Offset>>,
    pub(crate) regex: bool,
    pub(crate) reset_offset: Offset,
    pub(crate) max_bytes: i32,
    /// Whether the user set `max_bytes` (only then is it checked against
    /// the per-fetch cap of a quarter of `max_buffered_bytes`).
    pub(crate) max_bytes_set: bool,
    pub(crate) max_partition_bytes: i32,
    pub(crate) max_wait: Duration,
    pub(crate) min_bytes: i32,
    pub(crate) isolation: IsolationLevel,
    pub(crate) keep_control_records: bool,
    pub(crate) max_concurrent_fetches: usize,
    pub(crate) rack: Option<String>,
    pub(crate) disable_fetch_sessions: bool,
    pub(crate) max_buffered_bytes: usize,
}

impl Default for ConsumerSettings {
    fn default() -> ConsumerSettings {
        ConsumerSettings {
            topics: Vec::new(),
            partitions: HashMap::new(),
            regex: false,
            reset_offset: Offset::new().at_start(),
            max_bytes: 50 << 20,
            max_bytes_set: false,
            max_partition_bytes: 10 << 20,
            max_wait: Duration::from_secs(5),
            min_bytes: 1,
            isolation: IsolationLevel::ReadUncommitted,
            keep_control_records: false,
            max_concurrent_fetches: 0,
            rack: None,
            disable_fetch_sessions: false,
            max_buffered_bytes: 64 << 20,
        }
    }
}

impl ConsumerSettings {
    pub(crate) fn validate(&self) -> Result<()> {
        if self.regex && !self.partitions.is_empty() {
            return Err(Error::config(
                "consume_regex: incompatible with consume_partitions",
            ));
        }
        if self.regex {
            for t in &self.topics {
                regex::Regex::new(t).map_err(|e| {
                    Error::config(format!("consume_topics: invalid regex {t:?}: {e}"))
                })?;
            }
        }
        if self.max_bytes < 1 {
            return Err(Error::config("fetch_max_bytes: must be at least 1"));
        }
        if self.max_partition_bytes < 1 {
            return Err(Error::config(
                "fetch_max_partition_bytes: must be at least 1",
            ));
        }
        if self.min_bytes < 1 {
            return Err(Error::config("fetch_min_bytes: must be at least 1"));
        }
        if self.max_wait < Duration::from_millis(10)
            || self.max_wait > Duration::from_millis(i32::MAX as u64)
        {
            return Err(Error::config(format!(
                "fetch_max_wait: {:?} is outside 10ms..24 days",
                self.max_wait
            )));
        }
        if self.max_buffered_bytes < 1 << 10 {
            return Err(Error::config(
                "max_buffered_fetch_bytes: must be at least 1 KiB",
            ));
        }
        self.check_max_bytes_fits()?;
        for (t, ps) in &self.partitions {
            if t.is_empty() {
                return Err(Error::config("consume_partitions: empty topic name"));
            }
            if let Some(p) = ps.keys().find(|p| **p < 0) {
                return Err(Error::config(format!(
                    "consume_partitions: invalid partition {p} of {t}"
                )));
            }
        }
        if self.topics.iter().any(String::is_empty) {
            return Err(Error::config("consume_topics: empty topic name"));
        }
        Ok(())
    }

    /// A fetch asks for at most a quarter of the buffer budget
    /// (`Consumer::reserve`), so a `fetch_max_bytes` the user set above that
    /// could never be honoured: an error rather than a silent cap.
    fn check_max_bytes_fits(&self) -> Result<()> {
        let cap = self.max_buffered_bytes / 4;
        match usize::try_from(self.max_bytes) {
            Ok(n) if self.max_bytes_set && n > cap => Err(Error::config(format!(
                "fetch_max_bytes: {n} is above a quarter of max_buffered_fetch_bytes ({}), \
                 the most one fetch may ask for; lower fetch_max_bytes to at most {cap} \
                 or raise max_buffered_fetch_bytes to at least {}",
                self.max_buffered_bytes,
                n.saturating_mul(4)
            ))),
            _ => Ok(()),
        }
    }
}
