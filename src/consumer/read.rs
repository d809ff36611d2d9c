//! Turning a fetch response into buffered partitions: errors, truncation
//! (KIP-320), the memory budget, decoding, and records.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;

use super::source::{cursor_backoff, is_leader_error, Asked};
use super::{BufPart, Consumer, DataLoss, FetchBatchMetrics};
use crate::client::Client;
use crate::config::IsolationLevel;
use crate::error::{Error, ErrorCode};
use crate::logger::klog;
use crate::messages::fetch_response::PartitionData;
use crate::messages::FetchResponse;
use crate::protocol::record_batch::{decode_batches, DecodedBatch};
use crate::record::{Record, RecordAttrs, RecordHeader};

/// Aborted transactions of one partition while reading committed data
/// (Java's `CompletedFetch.abortedProducerIds`): a producer's transactional
/// batches are skipped from the aborted transaction's first offset up to
/// its abort marker.
struct Aborted {
    /// (first offset, producer id), sorted by first offset, popped from the front.
    pending: VecDeque<(i64, i64)>,
    producers: HashSet<i64>,
}

impl Aborted {
    fn new(pd: &PartitionData) -> Aborted {
        let mut v: Vec<(i64, i64)> = pd
            .aborted_transactions
            .iter()
            .flatten()
            .map(|a| (a.first_offset, a.producer_id.0))
            .collect();
        v.sort_unstable();
        Aborted {
            pending: v.into(),
            producers: HashSet::new(),
        }
    }

    /// Whether a batch is aborted data; updates the state for its markers.
    fn skip(&mut self, b: &DecodedBatch) -> bool {
        while let Some(&(first, pid)) = self.pending.front() {
            if first > b.last_offset() {
                break;
            }
            self.producers.insert(pid);
            self.pending.pop_front();
        }
        if b.is_control {
            // An ABORT marker (control key type 0) ends the producer's
            // aborted transaction.
            let abort = b
                .records
                .first()
                .and_then(|r| r.key.as_deref())
                .is_some_and(|k| k.len() >= 4 && k[2] == 0 && k[3] == 0);
            if abort {
                self.producers.remove(&b.producer_id);
            }
            return false;
        }
        b.is_transactional && self.producers.contains(&b.producer_id)
    }
}

/// The parts to buffer and the budget bytes they hold.
#[derive(Default)]
pub(crate) struct ReadOut {
    pub(crate) parts: Vec<BufPart>,
    pub(crate) charged: usize,
}

fn error_part(topic: &Arc<str>, pd: &PartitionData, err: Error) -> BufPart {
    BufPart {
        topic: topic.clone(),
        partition: pd.partition_index,
        cursor: None,
        gen: 0,
        from: -1,
        next_offset: -1,
        next_epoch: -1,
        records: VecDeque::new(),
        err: Some(err),
        high_watermark: pd.high_watermark,
        last_stable_offset: pd.last_stable_offset,
        log_start_offset: pd.log_start_offset,
    }
}

pub(crate) fn read_response(
    c: &Consumer,
    client: Option<&Client>,
    broker: i32,
    resp: FetchResponse,
    asked: &HashMap<(Arc<str>, i32), Asked>,
) -> ReadOut {
    let mut out = ReadOut::default();
    let logger = client.and_then(|c| c.inner.cfg.logger.clone());
    let mut refresh = false;
    for t in resp.responses {
        let topic: Arc<str> = Arc::from(t.topic.0.as_str());
        for pd in t.partitions {
            let key = (topic.clone(), pd.partition_index);
            let Some(a) = asked.get(&key) else {
                continue;
            };
            let cur = &a.cursor;
            {
                let st = cur.st.lock();
                if st.source != broker
                    || st.gen != a.gen
                    || st.offset != a.from
                    || st.pending.is_some()
                    || st.paused
                {
                    continue;
                }
            }
            let from_replica = cur.st.lock().preferred.is_some();
            if let Some(code) = ErrorCode::from_code(pd.error_code) {
                if from_replica {
                    // KIP-392: any error on a preferred replica falls back to
                    // the leader, which decides.
                    klog!(logger.as_deref(), Info, "preferred replica failed, back to the leader", "topic" => topic, "partition" => pd.partition_index, "broker" => broker, "err" => code.name());
                    if let Some(cl) = client {
                        c.move_cursor(cl, cur, None);
                    }
                    continue;
                }
                if code == ErrorCode::OffsetOutOfRange {
                    klog!(logger.as_deref(), Info, "offset out of range, resetting", "topic" => topic, "partition" => pd.partition_index, "offset" => a.from, "reset_to" => c.cfg.reset_offset);
                    let mut st = cur.st.lock();
                    st.pending = Some(c.cfg.reset_offset);
                    st.gen += 1;
                } else if is_leader_error(code) {
                    klog!(logger.as_deref(), Info, "fetch partition error, refreshing metadata", "topic" => topic, "partition" => pd.partition_index, "err" => code.name());
                    refresh = true;
                    cursor_backoff(client, cur);
                } else {
                    cursor_backoff(client, cur);
                    if let Some(e) = Error::from_code(pd.error_code) {
                        out.parts.push(error_part(&topic, &pd, e));
                    }
                }
                continue;
            }
            let replica = pd.preferred_read_replica.0;
            if replica >= 0 && replica != broker {
                if let Some(cl) = client.filter(|cl| cl.handle(replica).is_some()) {
                    c.move_cursor(cl, cur, Some(replica));
                    continue;
                }
            }
            let de = &pd.diverging_epoch;
            if de.epoch >= 0 && de.end_offset >= 0 {
                // KIP-320: our last fetched epoch ends earlier on the leader
                // than where we are: the log was truncated.
                let mut st = cur.st.lock();
                st.gen += 1;
                st.last_epoch = de.epoch;
                if de.end_offset < a.from {
                    st.offset = de.end_offset;
                    drop(st);
                    klog!(logger.as_deref(), Warn, "data loss detected", "topic" => topic, "partition" => pd.partition_index, "consumed_to" => a.from, "reset_to" => de.end_offset);
                    let loss = DataLoss {
                        topic: topic.to_string(),
                        partition: pd.partition_index,
                        consumed_to: a.from,
                        reset_to: de.end_offset,
                    };
                    out.parts
                        .push(error_part(&topic, &pd, Error::DataLoss(Box::new(loss))));
                }
                continue;
            }
            let data = match &pd.records {
                Some(d) if !d.is_empty() => d.clone(),
                _ => continue,
            };
            let (fits, alone) = c.try_charge(data.len());
            if !fits {
                if alone {
                    cursor_backoff(client, cur);
                    out.parts.push(error_part(
                        &topic,
                        &pd,
                        Error::Compression(
                            format!(
                                "{} bytes fetched for one partition exceed max_buffered_fetch_bytes ({})",
                                data.len(),
                                c.cfg.max_buffered_bytes
                            )
                            .into(),
                        ),
                    ));
                }
                continue;
            }
            out.charged += data.len();
            let grabbed = c.grab_free();
            // Nothing but this partition's bytes hold budget: a batch that
            // does not fit now never will.
            let alone = c.cfg.max_buffered_bytes - grabbed == data.len();
            let mut budget = grabbed;
            let dec = decode_batches(&data, &mut budget);
            let used = grabbed - budget;
            c.release(budget);
            out.charged += used;
            let from = a.from;
            let mut next = from;
            let mut next_epoch = -1;
            let mut records = VecDeque::new();
            let hooks = client.map(|c| c.inner.cfg.hooks.as_slice()).unwrap_or(&[]);
            let meta = if hooks.is_empty() {
                None
            } else {
                client
                    .and_then(|c| c.handle(broker))
                    .map(|h| h.meta().clone())
            };
            let mut aborted =
                (c.cfg.isolation == IsolationLevel::ReadCommitted).then(|| Aborted::new(&pd));
            for b in dec.batches {
                if let Some(m) = &meta {
                    let metrics = FetchBatchMetrics {
                        num_records: b.records.len(),
                        uncompressed_bytes: b.uncompressed_len,
                        compressed_bytes: b.encoded_len,
                        compression_type: b.codec as u8,
                    };
                    crate::hooks::each(hooks, |h| {
                        h.on_fetch_batch_read(m, &topic, pd.partition_index, &metrics)
                    });
                }
                let last = b.last_offset();
                if last < from {
                    continue;
                }
                next = next.max(last + 1);
                next_epoch = b.partition_leader_epoch;
                if aborted.as_mut().is_some_and(|a| a.skip(&b)) {
                    continue;
                }
                if b.is_control && !c.cfg.keep_control_records {
                    continue;
                }
                let attrs = RecordAttrs(b.attributes);
                for r in b.records {
                    if r.offset < from {
                        continue;
                    }
                    records.push_back(Record {
                        key: r.key,
                        value: r.value,
                        headers: r
                            .headers
                            .into_iter()
                            .map(|(key, value)| RecordHeader { key, value })
                            .collect(),
                        timestamp: r.timestamp,
                        topic: topic.to_string(),
                        partition: pd.partition_index,
                        attrs,
                        producer_epoch: b.producer_epoch,
                        producer_id: b.producer_id,
                        leader_epoch: b.partition_leader_epoch,
                        offset: r.offset,
                    });
                }
            }
            let mut err = None;
            if let Some(e) = dec.error {
                if !dec.over_budget {
                    klog!(logger.as_deref(), Warn, "corrupt batch in fetch", "topic" => topic, "partition" => pd.partition_index, "err" => e);
                    cursor_backoff(client, cur);
                    err = Some(e);
                } else if alone && records.is_empty() && next == from {
                    // Nothing else holds the budget and still the batch does
                    // not fit: it never will (a decompression bomb).
                    cursor_backoff(client, cur);
                    err = Some(e);
                }
            }
            if records.is_empty() && err.is_none() && next == from {
                continue;
            }
            out.parts.push(BufPart {
                topic: topic.clone(),
                partition: pd.partition_index,
                cursor: Some(cur.clone()),
                gen: a.gen,
                from,
                next_offset: next,
                next_epoch,
                records,
                err,
                high_watermark: pd.high_watermark,
                last_stable_offset: pd.last_stable_offset,
                log_start_offset: pd.log_start_offset,
            });
        }
    }
    if refresh {
        if let Some(cl) = client {
            cl.trigger_metadata_now();
        }
    }
    out
}
