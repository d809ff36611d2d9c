//! Consumer options (kgo's `ConsumerOpt`s).

use std::collections::HashMap;
use std::time::Duration;

use super::{ConfigBuilder, FromConfig};
use crate::consumer::{IsolationLevel, Offset};

impl<T: FromConfig> ConfigBuilder<T> {
    /// Adds topics to consume, every partition of each. Consuming starts at
    /// [`consume_reset_offset`](Self::consume_reset_offset) (by default the
    /// start of each partition).
    pub fn consume_topics<I, S>(mut self, topics: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.cfg
            .consumer
            .topics
            .extend(topics.into_iter().map(Into::into));
        self
    }

    /// Sets partitions to consume directly and the offset to start each at.
    /// These offsets take precedence over
    /// [`consume_reset_offset`](Self::consume_reset_offset), which still
    /// applies on OFFSET_OUT_OF_RANGE. Incompatible with
    /// [`consume_regex`](Self::consume_regex).
    pub fn consume_partitions(mut self, partitions: HashMap<String, HashMap<i32, Offset>>) -> Self {
        for (t, ps) in partitions {
            self.cfg
                .consumer
                .partitions
                .entry(t)
                .or_default()
                .extend(ps);
        }
        self
    }

    /// Treats every topic given to [`consume_topics`](Self::consume_topics)
    /// as a regular expression (the `regex` crate's syntax, matched against
    /// the whole name only if anchored with `^...$`). Every metadata refresh
    /// then loads all topics; each topic is evaluated once, and a new
    /// matching topic is consumed from the next refresh on (see
    /// `metadata_max_age`). Defaults to off.
    pub fn consume_regex(mut self, regex: bool) -> Self {
        self.cfg.consumer.regex = regex;
        self
    }

    /// Sets where to start consuming a partition without an explicit offset,
    /// and where to reset to on OFFSET_OUT_OF_RANGE. Defaults to
    /// `Offset::new().at_start()`, the earliest offset. An exact offset
    /// outside the log is clamped to its start or end; a relative offset
    /// outside the log falls back to its base (start or end).
    ///
    /// Corresponds to Java `auto.offset.reset`.
    pub fn consume_reset_offset(mut self, offset: Offset) -> Self {
        self.cfg.consumer.reset_offset = offset;
        self
    }

    /// Sets the most bytes a broker should return in one fetch. Defaults to
    /// 50 MiB. A broker returns a first batch larger than this anyway, so
    /// that consuming progresses.
    ///
    /// A fetch never asks for more than a quarter of
    /// [`max_buffered_fetch_bytes`](Self::max_buffered_fetch_bytes) (the rest
    /// is room to decompress), and only when that much of the budget is
    /// free. Setting this above a quarter of that budget is therefore an
    /// [`Error::Config`](crate::Error::Config) from `build()`, naming both
    /// options; left at its default, it is capped at that quarter.
    ///
    /// Corresponds to Java `fetch.max.bytes`.
    pub fn fetch_max_bytes(mut self, n: i32) -> Self {
        self.cfg.consumer.max_bytes = n;
        self.cfg.consumer.max_bytes_set = true;
        self
    }

    /// Sets the most bytes a broker should return for one partition in a
    /// fetch. Defaults to 10 MiB (kgo's default).
    ///
    /// Corresponds to Java `max.partition.fetch.bytes`.
    pub fn fetch_max_partition_bytes(mut self, n: i32) -> Self {
        self.cfg.consumer.max_partition_bytes = n;
        self
    }

    /// Sets how long a broker may wait for `fetch_min_bytes` before
    /// answering a fetch. Defaults to 5s.
    ///
    /// Corresponds to Java `fetch.max.wait.ms`.
    pub fn fetch_max_wait(mut self, wait: Duration) -> Self {
        self.cfg.consumer.max_wait = wait;
        self
    }

    /// Sets the least bytes a broker waits for before answering a fetch.
    /// Defaults to 1.
    ///
    /// Corresponds to Java `fetch.min.bytes`.
    pub fn fetch_min_bytes(mut self, n: i32) -> Self {
        self.cfg.consumer.min_bytes = n;
        self
    }

    /// Sets the isolation level. Defaults to
    /// [`IsolationLevel::ReadUncommitted`].
    ///
    /// Corresponds to Java `isolation.level`.
    pub fn fetch_isolation_level(mut self, level: IsolationLevel) -> Self {
        self.cfg.consumer.isolation = level;
        self
    }

    /// Keeps control records (transaction markers) in fetches. Defaults to
    /// dropping them.
    pub fn keep_control_records(mut self, keep: bool) -> Self {
        self.cfg.consumer.keep_control_records = keep;
        self
    }

    /// Sets how many fetches may be in flight or buffered at once across
    /// brokers. Defaults to 0, unbounded (one per broker).
    pub fn max_concurrent_fetches(mut self, n: usize) -> Self {
        self.cfg.consumer.max_concurrent_fetches = n;
        self
    }

    /// Sets the rack the client runs in, sent with fetches so brokers can
    /// point to a closer replica (KIP-392). Defaults to none.
    ///
    /// Corresponds to Java `client.rack`.
    pub fn rack(mut self, rack: impl Into<String>) -> Self {
        self.cfg.consumer.rack = Some(rack.into());
        self
    }

    /// Disables KIP-227 fetch sessions: every fetch lists every partition.
    /// Defaults to using sessions.
    pub fn disable_fetch_sessions(mut self, disable: bool) -> Self {
        self.cfg.consumer.disable_fetch_sessions = disable;
        self
    }

    /// Sets a hard bound on the memory that buffered fetch data may use.
    /// Defaults to 64 MiB (not in kgo; kgo's only bounds are
    /// `fetch_max_bytes` times the number of brokers or
    /// `max_concurrent_fetches`, before decompression). 64 MiB is
    /// librdkafka's consumer queue bound (`queued.max.messages.kbytes`);
    /// a larger budget lets fetching run further ahead of polling, which
    /// in `BENCHMARKS.md` doubled consume CPU (page faults on fresh buffers)
    /// without more throughput.
    ///
    /// What counts: the bytes of every fetch response's records kept for
    /// polling (record keys and values are slices of them), every byte
    /// decompressed, and the in-memory size of every decoded record. A
    /// fetch asks for at most a quarter of the budget (`max_bytes`), and
    /// only when that much is free, so three quarters are room to
    /// decompress; a batch that would not fit is decoded later, once polling
    /// has freed room; a batch that does not fit even with nothing else
    /// buffered (a decompression bomb) is a partition error instead. Bytes are released when a poll hands the
    /// records to the caller: records the caller keeps are the caller's
    /// memory. One exception: a broker returns the first batch of a
    /// partition even when it is larger than the fetch's `max_bytes`
    /// (KIP-74); such a response is held by the I/O layer until it is
    /// decided whether it fits.
    ///
    /// An explicitly set [`fetch_max_bytes`](Self::fetch_max_bytes) above a
    /// quarter of this budget is an [`Error::Config`](crate::Error::Config)
    /// from `build()`: no fetch could ask for that much.
    pub fn max_buffered_fetch_bytes(mut self, n: usize) -> Self {
        self.cfg.consumer.max_buffered_bytes = n;
        self
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::time::Duration;

    use crate::config::Config;
    use crate::consumer::Offset;

    #[test]
    fn defaults_are_kgo_defaults() {
        let c = Config::builder().build().unwrap().consumer;
        assert_eq!(c.reset_offset, Offset::new().at_start());
        assert_eq!(c.max_bytes, 50 << 20);
        assert_eq!(c.max_partition_bytes, 10 << 20);
        assert_eq!(c.max_wait, Duration::from_secs(5));
        assert_eq!(c.min_bytes, 1);
        assert_eq!(c.isolation, super::IsolationLevel::ReadUncommitted);
        assert!(!c.keep_control_records && !c.disable_fetch_sessions && !c.regex);
        assert_eq!(c.max_concurrent_fetches, 0);
        assert_eq!(c.max_buffered_bytes, 64 << 20);
    }

    #[test]
    fn validation_table() {
        type B = crate::ConfigBuilder<Config>;
        type Edit = fn(B) -> B;
        let bad: Vec<(&str, Edit)> = vec![
            ("fetch_max_bytes", |b| b.fetch_max_bytes(0)),
            ("fetch_max_partition_bytes", |b| {
                b.fetch_max_partition_bytes(0)
            }),
            ("fetch_min_bytes", |b| b.fetch_min_bytes(0)),
            ("fetch_max_wait", |b| {
                b.fetch_max_wait(Duration::from_millis(1))
            }),
            ("max_buffered_fetch_bytes", |b| {
                b.max_buffered_fetch_bytes(10)
            }),
            ("fetch_max_bytes", |b| {
                b.max_buffered_fetch_bytes(4 << 20)
                    .fetch_max_bytes((1 << 20) + 1)
            }),
            ("max_buffered_fetch_bytes", |b| {
                b.fetch_max_bytes((1 << 20) + 1)
                    .max_buffered_fetch_bytes(4 << 20)
            }),
            ("consume_topics", |b| b.consume_topics([""])),
            ("consume_topics", |b| {
                b.consume_topics(["("]).consume_regex(true)
            }),
            ("consume_regex", |b| {
                b.consume_regex(true).consume_partitions(HashMap::from([(
                    "t".to_string(),
                    HashMap::from([(0, Offset::new())]),
                )]))
            }),
            ("consume_partitions", |b| {
                b.consume_partitions(HashMap::from([(
                    "t".to_string(),
                    HashMap::from([(-1, Offset::new())]),
                )]))
            }),
        ];
        for (name, f) in bad {
            let e = f(Config::builder()).build().unwrap_err().to_string();
            assert!(e.contains(name), "{name}: {e}");
        }
        assert!(Config::builder()
            .consume_topics(["^a.*"])
            .consume_regex(true)
            .fetch_max_wait(Duration::from_millis(10))
            .max_buffered_fetch_bytes(1 << 10)
            .build()
            .is_ok());
        // A fetch_max_bytes of exactly a quarter of the budget can be honoured;
        // the default one is capped silently when only the budget is lowered.
        assert!(Config::builder()
            .fetch_max_bytes(1 << 20)
            .max_buffered_fetch_bytes(4 << 20)
            .build()
            .is_ok());
        assert!(Config::builder()
            .max_buffered_fetch_bytes(4 << 20)
            .build()
            .is_ok());
    }
}
