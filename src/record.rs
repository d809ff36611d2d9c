//! Records: what is produced and what is consumed.

use bytes::Bytes;

mod topic;
pub use topic::Topic;

/// A record header: a key and an optional value. Keys may repeat.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RecordHeader {
    /// The header's key.
    pub key: String,
    /// The header's value; `None` is a null value.
    pub value: Option<Bytes>,
}

impl RecordHeader {
    /// A header with a value.
    pub fn new(key: impl Into<String>, value: impl Into<Bytes>) -> RecordHeader {
        RecordHeader {
            key: key.into(),
            value: Some(value.into()),
        }
    }
}

/// A record's attributes: compression, timestamp type, transactional and
/// control flags (kgo's `RecordAttrs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct RecordAttrs(pub(crate) i16);

impl RecordAttrs {
    /// The batch's compression: 0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd.
    pub fn compression_type(self) -> u8 {
        (self.0 & 0x07) as u8
    }

    /// 0 when the producer set the timestamp (CreateTime), 1 when the broker
    /// did (LogAppendTime), -1 for messages older than Kafka 0.10.
    pub fn timestamp_type(self) -> i8 {
        if self.0 < 0 {
            -1
        } else if self.0 & 0x08 != 0 {
            1
        } else {
            0
        }
    }

    /// Whether the record is part of a transaction.
    pub fn is_transactional(self) -> bool {
        self.0 >= 0 && self.0 & 0x10 != 0
    }

    /// Whether the record is a control record (a transaction marker).
    pub fn is_control(self) -> bool {
        self.0 >= 0 && self.0 & 0x20 != 0
    }

    /// The raw batch attributes.
    pub fn raw(self) -> i16 {
        self.0
    }
}

/// A Kafka record (kgo's `Record`).
///
/// For producing, set `topic` (or use
/// [`default_produce_topic`](crate::ConfigBuilder::default_produce_topic)),
/// `key`, `value` and `headers`; a `timestamp` of 0 is set to the current
/// time. The client fills in `partition`, `offset`, `attrs`, `producer_id`,
/// `producer_epoch` and `leader_epoch`, and hands the record back in the
/// produce callback.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Record {
    /// Optional key, used by hashing partitioners.
    pub key: Option<Bytes>,
    /// The value; `None` is a null value (a tombstone on compacted topics).
    pub value: Option<Bytes>,
    /// Headers, in order.
    pub headers: Vec<RecordHeader>,
    /// Milliseconds since the Unix epoch. 0 when producing means "now".
    pub timestamp: i64,
    /// The topic.
    pub topic: Topic,
    /// The partition (set by the partitioner, or by the user with the manual partitioner).
    pub partition: i32,
    /// The record's attributes.
    pub attrs: RecordAttrs,
    /// The producer epoch (0 when produced without a producer id).
    pub producer_epoch: i16,
    /// The producer id (-1 or 0 when produced without one).
    pub producer_id: i64,
    /// The leader epoch of the broker that wrote the record, -1 if unknown.
    pub leader_epoch: i32,
    /// The record's offset. With acks 0 it is only the offset within the
    /// request, not the one Kafka stored.
    pub offset: i64,
}

impl Record {
    /// A record with a value and no key (kgo's `SliceRecord`).
    pub fn from_value(value: impl Into<Bytes>) -> Record {
        Record {
            value: Some(value.into()),
            ..Record::default()
        }
    }

    /// A record with a key and a value (kgo's `KeySliceRecord`).
    pub fn from_key_value(key: impl Into<Bytes>, value: impl Into<Bytes>) -> Record {
        Record {
            key: Some(key.into()),
            value: Some(value.into()),
            ..Record::default()
        }
    }

    /// A record with a string value (kgo's `StringRecord`). The string's
    /// buffer becomes the value without a copy when given a `String`; a
    /// `&str` is copied once (use [`Record::from_value`] with
    /// `Bytes::from_static` to avoid that for static data).
    pub fn string(value: impl Into<String>) -> Record {
        Record::from_value(Bytes::from(value.into()))
    }

    /// A record with a string key and value (kgo's `KeyStringRecord`).
    pub fn key_string(key: impl Into<String>, value: impl Into<String>) -> Record {
        Record::from_key_value(Bytes::from(key.into()), Bytes::from(value.into()))
    }

    /// Sets the topic.
    #[must_use]
    pub fn with_topic(mut self, topic: impl Into<Topic>) -> Record {
        self.topic = topic.into();
        self
    }

    /// Sets the partition (for the manual partitioner).
    #[must_use]
    pub fn with_partition(mut self, partition: i32) -> Record {
        self.partition = partition;
        self
    }

    /// Adds a header.
    #[must_use]
    pub fn with_header(mut self, key: impl Into<String>, value: Option<Bytes>) -> Record {
        self.headers.push(RecordHeader {
            key: key.into(),
            value,
        });
        self
    }

    /// Sets the timestamp, in milliseconds since the Unix epoch.
    #[must_use]
    pub fn with_timestamp(mut self, ms: i64) -> Record {
        self.timestamp = ms;
        self
    }

    /// The record's size as kgo counts it for byte limits: key, value, and
    /// header keys and values.
    pub fn user_size(&self) -> usize {
        self.key.as_ref().map_or(0, |k| k.len())
            + self.value.as_ref().map_or(0, |v| v.len())
            + self
                .headers
                .iter()
                .map(|h| h.key.len() + h.value.as_ref().map_or(0, |v| v.len()))
                .sum::<usize>()
    }
}

/// Milliseconds since the Unix epoch, now.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attrs_table() {
        let table = [
            (0i16, 0u8, 0i8, false, false),
            (0x02, 2, 0, false, false),
            (0x08 | 0x04, 4, 1, false, false),
            (0x10, 0, 0, true, false),
            (0x30, 0, 0, true, true),
        ];
        for (raw, comp, ts, txn, ctl) in table {
            let a = RecordAttrs(raw);
            assert_eq!(
                (
                    a.compression_type(),
                    a.timestamp_type(),
                    a.is_transactional(),
                    a.is_control()
                ),
                (comp, ts, txn, ctl),
                "{raw:#x}"
            );
        }
        assert_eq!(RecordAttrs(-1).timestamp_type(), -1);
    }

    #[test]
    fn constructors() {
        let r = Record::key_string("k", "v")
            .with_topic("t")
            .with_header("h", None)
            .with_timestamp(5);
        assert_eq!(r.key.as_deref(), Some(&b"k"[..]));
        assert_eq!(r.value.as_deref(), Some(&b"v"[..]));
        assert_eq!(
            (r.topic.as_str(), r.timestamp, r.headers.len()),
            ("t", 5, 1)
        );
        assert_eq!(r.user_size(), 3);
        assert_eq!(Record::string("abc").value.as_deref(), Some(&b"abc"[..]));
    }
}
