//! What polling returns: [`Fetches`] of [`Fetch`]es of [`FetchTopic`]s of
//! [`FetchPartition`]s, and the helpers to walk them (kgo's
//! `record_and_fetch.go`).

use std::collections::BTreeMap;

pub use crate::error::DataLoss;
pub use crate::hooks::FetchBatchMetrics;

use crate::error::Error;
use crate::record::Record;

/// One partition of a fetch (kgo's `FetchPartition`).
#[derive(Debug, Clone, Default)]
pub struct FetchPartition {
    /// The partition.
    pub partition: i32,
    /// The partition's error, if any (a fetch may carry records and an
    /// error: the records before a corrupt batch, then the error).
    pub err: Option<Error>,
    /// The partition's high watermark.
    pub high_watermark: i64,
    /// The last stable offset (at or below the high watermark).
    pub last_stable_offset: i64,
    /// The log start offset.
    pub log_start_offset: i64,
    /// The records, in offset order.
    pub records: Vec<Record>,
}

impl FetchPartition {
    /// Calls `f` for each record.
    pub fn each_record(&self, mut f: impl FnMut(&Record)) {
        self.records.iter().for_each(&mut f);
    }
}

/// One topic of a fetch (kgo's `FetchTopic`).
#[derive(Debug, Clone, Default)]
pub struct FetchTopic {
    /// The topic.
    pub topic: String,
    /// Its partitions in this fetch.
    pub partitions: Vec<FetchPartition>,
}

impl FetchTopic {
    /// Calls `f` for each partition.
    pub fn each_partition(&self, f: impl FnMut(&FetchPartition)) {
        self.partitions.iter().for_each(f);
    }

    /// Calls `f` for each record, partition by partition.
    pub fn each_record(&self, mut f: impl FnMut(&Record)) {
        for p in &self.partitions {
            p.records.iter().for_each(&mut f);
        }
    }

    /// Every record of the topic (clones; keys and values are shared).
    pub fn records(&self) -> Vec<Record> {
        let mut v = Vec::with_capacity(self.num_records());
        self.each_record(|r| v.push(r.clone()));
        v
    }

    /// How many records the topic holds.
    pub fn num_records(&self) -> usize {
        self.partitions.iter().map(|p| p.records.len()).sum()
    }
}

/// A partition with its topic (kgo's `FetchTopicPartition`).
#[derive(Debug, Clone, Copy)]
pub struct FetchTopicPartition<'a> {
    /// The topic.
    pub topic: &'a str,
    /// The partition.
    pub partition: &'a FetchPartition,
}

impl FetchTopicPartition<'_> {
    /// Calls `f` for each record of the partition.
    pub fn each_record(&self, f: impl FnMut(&Record)) {
        self.partition.each_record(f);
    }
}

/// A partition error with its topic and partition (kgo's `FetchError`).
#[derive(Debug, Clone)]
pub struct FetchError {
    /// The topic ("" for a client-wide error such as [`Error::ClientClosed`]).
    pub topic: String,
    /// The partition (0 for a client-wide error, as kgo injects it).
    pub partition: i32,
    /// The error.
    pub err: Error,
}

/// One broker's fetch response (kgo's `Fetch`).
#[derive(Debug, Clone, Default)]
pub struct Fetch {
    /// The topics in the response.
    pub topics: Vec<FetchTopic>,
}

/// What a poll returns (kgo's `Fetches`): fetches from one or more brokers.
///
/// Check [`errors`](Fetches::errors) as well as the records: a partition
/// can carry a non-retriable error, an informational [`Error::DataLoss`],
/// a corrupt-batch error, or, once the client closed, [`Error::ClientClosed`].
#[derive(Debug, Clone, Default)]
pub struct Fetches(pub Vec<Fetch>);

impl Fetches {
    /// A fetch holding one client-wide error (topic "", partition 0, as kgo).
    pub(crate) fn error(err: Error) -> Fetches {
        Fetches(vec![Fetch {
            topics: vec![FetchTopic {
                topic: String::new(),
                partitions: vec![FetchPartition {
                    partition: 0,
                    err: Some(err),
                    ..FetchPartition::default()
                }],
            }],
        }])
    }

    /// The fetches.
    pub fn fetches(&self) -> &[Fetch] {
        &self.0
    }

    /// Calls `f(topic, partition, error)` for every partition error.
    pub fn each_error(&self, mut f: impl FnMut(&str, i32, &Error)) {
        for fetch in &self.0 {
            for t in &fetch.topics {
                for p in &t.partitions {
                    if let Some(e) = &p.err {
                        f(&t.topic, p.partition, e);
                    }
                }
            }
        }
    }

    /// Every partition error.
    pub fn errors(&self) -> Vec<FetchError> {
        let mut v = Vec::new();
        self.each_error(|t, p, e| {
            v.push(FetchError {
                topic: t.to_string(),
                partition: p,
                err: e.clone(),
            })
        });
        v
    }

    /// Whether the client closed (a poll after close returns a fetch with
    /// [`Error::ClientClosed`]); check it to leave a poll loop.
    pub fn is_client_closed(&self) -> bool {
        let mut closed = false;
        self.each_error(|_, _, e| closed |= e.is_client_closed());
        closed
    }

    /// Calls `f` for every partition, in fetch order (a topic may be
    /// visited more than once when spread across fetches).
    pub fn each_partition(&self, mut f: impl FnMut(FetchTopicPartition<'_>)) {
        for fetch in &self.0 {
            for t in &fetch.topics {
                for p in &t.partitions {
                    f(FetchTopicPartition {
                        topic: &t.topic,
                        partition: p,
                    });
                }
            }
        }
    }

    /// Calls `f` for every topic, with that topic's partitions of every
    /// fetch grouped into one [`FetchTopic`] (clones the partitions).
    pub fn each_topic(&self, mut f: impl FnMut(&FetchTopic)) {
        let mut by: BTreeMap<&str, Vec<FetchPartition>> = BTreeMap::new();
        for fetch in &self.0 {
            for t in &fetch.topics {
                by.entry(&t.topic)
                    .or_default()
                    .extend(t.partitions.iter().cloned());
            }
        }
        for (topic, partitions) in by {
            f(&FetchTopic {
                topic: topic.to_string(),
                partitions,
            });
        }
    }

    /// Calls `f` for every record, partition by partition.
    pub fn each_record(&self, mut f: impl FnMut(&Record)) {
        for fetch in &self.0 {
            for t in &fetch.topics {
                t.each_record(&mut f);
            }
        }
    }

    /// Every record (clones; keys and values are shared, not copied).
    pub fn records(&self) -> Vec<Record> {
        let mut v = Vec::with_capacity(self.num_records());
        self.each_record(|r| v.push(r.clone()));
        v
    }

    /// Consumes the fetches into their records, without cloning.
    pub fn into_records(self) -> Vec<Record> {
        let mut v = Vec::with_capacity(self.num_records());
        for fetch in self.0 {
            for t in fetch.topics {
                for p in t.partitions {
                    v.extend(p.records);
                }
            }
        }
        v
    }

    /// An iterator over every record.
    pub fn record_iter(&self) -> FetchesRecordIter<'_> {
        FetchesRecordIter {
            fetches: self,
            fetch: 0,
            topic: 0,
            partition: 0,
            record: 0,
        }
    }

    /// How many records the fetches hold.
    pub fn num_records(&self) -> usize {
        self.0
            .iter()
            .flat_map(|f| f.topics.iter())
            .map(FetchTopic::num_records)
            .sum()
    }

    /// Whether the fetches hold no records and no errors.
    pub fn is_empty(&self) -> bool {
        self.0.iter().all(|f| {
            f.topics.iter().all(|t| {
                t.partitions
                    .iter()
                    .all(|p| p.records.is_empty() && p.err.is_none())
            })
        })
    }
}

/// Iterates over every record of [`Fetches`] (kgo's `FetchesRecordIter`).
#[derive(Debug, Clone)]
pub struct FetchesRecordIter<'a> {
    fetches: &'a Fetches,
    fetch: usize,
    topic: usize,
    partition: usize,
    record: usize,
}

impl FetchesRecordIter<'_> {
    /// Whether every record was returned.
    pub fn done(&self) -> bool {
        self.clone().next().is_none()
    }
}

impl<'a> Iterator for FetchesRecordIter<'a> {
    type Item = &'a Record;

    fn next(&mut self) -> Option<&'a Record> {
        loop {
            let f = self.fetches.0.get(self.fetch)?;
            let Some(t) = f.topics.get(self.topic) else {
                self.fetch += 1;
                self.topic = 0;
                continue;
            };
            let Some(p) = t.partitions.get(self.partition) else {
                self.topic += 1;
                self.partition = 0;
                continue;
            };
            if let Some(r) = p.records.get(self.record) {
                self.record += 1;
                return Some(r);
            }
            self.partition += 1;
            self.record = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(topic: &str, p: i32, o: i64) -> Record {
        Record {
            topic: topic.into(),
            partition: p,
            offset: o,
            ..Record::default()
        }
    }

    #[test]
    fn helpers_walk_everything() {
        let fs = Fetches(vec![
            Fetch {
                topics: vec![FetchTopic {
                    topic: "a".into(),
                    partitions: vec![
                        FetchPartition {
                            partition: 0,
                            records: vec![rec("a", 0, 0), rec("a", 0, 1)],
                            ..Default::default()
                        },
                        FetchPartition {
                            partition: 1,
                            err: Some(Error::ClientClosed),
                            ..Default::default()
                        },
                    ],
                }],
            },
            Fetch::default(),
            Fetch {
                topics: vec![FetchTopic {
                    topic: "a".into(),
                    partitions: vec![FetchPartition {
                        partition: 2,
                        records: vec![rec("a", 2, 7)],
                        ..Default::default()
                    }],
                }],
            },
        ]);
        assert_eq!(fs.num_records(), 3);
        assert_eq!(fs.record_iter().count(), 3);
        assert_eq!(
            fs.record_iter().map(|r| r.offset).collect::<Vec<_>>(),
            [0, 1, 7]
        );
        assert_eq!(fs.records().len(), 3);
        assert_eq!(fs.errors().len(), 1);
        assert!(fs.is_client_closed());
        assert!(!fs.is_empty());
        let mut topics = 0;
        fs.each_topic(|t| {
            topics += 1;
            assert_eq!(t.partitions.len(), 3);
        });
        assert_eq!(topics, 1);
        let mut parts = 0;
        fs.each_partition(|_| parts += 1);
        assert_eq!(parts, 3);
        assert!(Fetches::default().is_empty());
        assert!(Fetches::default().record_iter().done());
        assert_eq!(fs.into_records().len(), 3);
    }
}
