//! Turning a fetch response into buffered partitions: errors, truncation
//! (KIP-320), the memory budget, decoding, and records.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;

use super::source::{cursor_backoff, is_leader_error, Asked};
use super::IsolationLevel;
use super::{BufPart, Consumer, Cursor, DataLoss, FetchBatchMetrics};
use crate::cluster::Cluster;
use crate::error::{Error, ErrorCode};
use crate::logger::klog;
use crate::messages::fetch_response::PartitionData;
use crate::messages::FetchResponse;
use crate::protocol::record_batch::{decode_batches, DecodedBatch};
use crate::record::{Record, RecordAttrs, RecordHeader, Topic};

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
    let mut part = BufPart::error(topic.clone(), pd.partition_index, err);
    part.high_watermark = pd.high_watermark;
    part.last_stable_offset = pd.last_stable_offset;
    part.log_start_offset = pd.log_start_offset;
    part
}

pub(crate) fn read_response(
    c: &Consumer,
    broker: i32,
    resp: FetchResponse,
    asked: &HashMap<(Arc<str>, i32), Asked>,
) -> ReadOut {
    let mut r = Reader {
        c,
        broker,
        out: ReadOut::default(),
        refresh: false,
        meta: None,
    };
    if !c.cluster.settings().hooks.is_empty() {
        r.meta = c.cluster.handle(broker).map(|h| h.meta().clone());
    }
    // KIP-951 (Fetch v16+): endpoints of the leaders the partitions'
    // hints name, so a leader the client has not met yet can be followed.
    for ep in &resp.node_endpoints {
        let rack = ep.rack.as_deref();
        c.cluster
            .learn_broker(ep.node_id.0, &ep.host, ep.port, rack);
    }
    for t in resp.responses {
        let topic: Arc<str> = Arc::from(t.topic.0.as_str());
        for pd in t.partitions {
            let key = (topic.clone(), pd.partition_index);
            if let Some(a) = asked.get(&key).filter(|a| r.still_wanted(a)) {
                r.partition(&topic, pd, a);
            }
        }
    }
    if r.refresh {
        c.cluster.trigger_metadata_now();
    }
    r.out
}

impl Consumer {
    /// KIP-951: a fetch answered NOT_LEADER_OR_FOLLOWER or
    /// FENCED_LEADER_EPOCH naming the partition's current leader: moves the
    /// cursor to that leader's source at once, without waiting for metadata
    /// (the caller still refreshes it, to confirm). Only a leader epoch newer
    /// than the cursor's, and a broker the client can reach (known, or just
    /// learned from the response's node endpoints), are followed. Returns
    /// whether the cursor moved. As Java's `AbstractFetch.handleFetchSuccess`
    /// with `Metadata.updatePartitionLeadership`, and kgo's `kip951move`.
    pub(crate) fn follow_leader_hint(&self, cur: &Arc<Cursor>, leader: i32, epoch: i32) -> bool {
        if leader < 0 || epoch < 0 || self.cluster.handle(leader).is_none() {
            return false;
        }
        {
            let st = cur.st.lock();
            if epoch <= st.leader_epoch || st.preferred.is_some() {
                return false;
            }
        }
        klog!(self.cluster.logger(), Info, "following a leader hint", "topic" => cur.topic, "partition" => cur.partition, "leader" => leader, "epoch" => epoch);
        match self.update_cursor(cur, leader, epoch) {
            Some(s) => {
                s.wake();
                true
            }
            None => cur.st.lock().source == leader,
        }
    }
}

/// Reads one fetch response: one method per outcome of a partition.
struct Reader<'a> {
    c: &'a Consumer,
    broker: i32,
    out: ReadOut,
    /// A partition saw a stale leader: refresh metadata once at the end.
    refresh: bool,
    /// The broker's metadata, for the batch-read hook (only with hooks).
    meta: Option<crate::hooks::BrokerMetadata>,
}

impl Reader<'_> {
    fn cluster(&self) -> &Cluster {
        &self.c.cluster
    }

    /// Whether the cursor is still where the fetch asked from, on this source.
    fn still_wanted(&self, a: &Asked) -> bool {
        let st = a.cursor.st.lock();
        st.source == self.broker
            && st.gen == a.gen
            && st.offset == a.from
            && st.pending.is_none()
            && !st.paused
    }

    fn partition(&mut self, topic: &Arc<str>, pd: PartitionData, a: &Asked) {
        if let Some(code) = ErrorCode::from_code(pd.error_code) {
            return self.on_error(topic, &pd, a, code);
        }
        if self.on_preferred_replica(&pd, a) || self.on_diverging_epoch(topic, &pd, a) {
            return;
        }
        self.on_records(topic, pd, a);
    }

    fn on_error(&mut self, topic: &Arc<str>, pd: &PartitionData, a: &Asked, code: ErrorCode) {
        let (c, cur) = (self.c, &a.cursor);
        let logger = c.cluster.logger();
        if cur.st.lock().preferred.is_some() {
            // KIP-392: any error on a preferred replica falls back to the
            // leader, which decides.
            klog!(logger, Info, "preferred replica failed, back to the leader", "topic" => topic, "partition" => pd.partition_index, "broker" => self.broker, "err" => code.name());
            c.move_cursor(cur, None);
            return;
        }
        if code == ErrorCode::OffsetOutOfRange {
            klog!(logger, Info, "offset out of range, resetting", "topic" => topic, "partition" => pd.partition_index, "offset" => a.from, "reset_to" => c.cfg.reset_offset);
            let mut st = cur.st.lock();
            st.pending = Some(c.cfg.reset_offset);
            st.gen += 1;
        } else if is_leader_error(code) {
            // Either way metadata is refreshed, to confirm a hint too.
            self.refresh = true;
            let hint = &pd.current_leader;
            if matches!(
                code,
                ErrorCode::NotLeaderOrFollower | ErrorCode::FencedLeaderEpoch
            ) && c.follow_leader_hint(cur, hint.leader_id.0, hint.leader_epoch)
            {
                return;
            }
            klog!(logger, Info, "fetch partition error, refreshing metadata", "topic" => topic, "partition" => pd.partition_index, "err" => code.name());
            cursor_backoff(self.cluster(), cur);
        } else {
            cursor_backoff(self.cluster(), cur);
            if let Some(e) = Error::from_code(pd.error_code) {
                if !e.is_retriable() {
                    // Returned once; the partition waits for the user to
                    // move it (kgo's FetchPartition.Err).
                    cur.st.lock().stopped = true;
                }
                self.out.parts.push(error_part(topic, pd, e));
            }
        }
    }

    /// KIP-392: the leader names a preferred read replica; returns whether
    /// the cursor moved to it.
    fn on_preferred_replica(&mut self, pd: &PartitionData, a: &Asked) -> bool {
        let replica = pd.preferred_read_replica.0;
        if replica < 0 || replica == self.broker || self.cluster().handle(replica).is_none() {
            return false;
        }
        self.c.move_cursor(&a.cursor, Some(replica));
        true
    }

    /// KIP-320: our last fetched epoch ends earlier on the leader than where
    /// we are: the log was truncated. Returns whether the partition diverged.
    fn on_diverging_epoch(&mut self, topic: &Arc<str>, pd: &PartitionData, a: &Asked) -> bool {
        let de = &pd.diverging_epoch;
        if de.epoch < 0 || de.end_offset < 0 {
            return false;
        }
        let mut st = a.cursor.st.lock();
        st.gen += 1;
        st.last_epoch = de.epoch;
        if de.end_offset < a.from {
            st.offset = de.end_offset;
            drop(st);
            klog!(self.cluster().logger(), Warn, "data loss detected", "topic" => topic, "partition" => pd.partition_index, "consumed_to" => a.from, "reset_to" => de.end_offset);
            let loss = DataLoss {
                topic: topic.to_string(),
                partition: pd.partition_index,
                consumed_to: a.from,
                reset_to: de.end_offset,
            };
            let e = Error::DataLoss(Box::new(loss));
            self.out.parts.push(error_part(topic, pd, e));
        }
        true
    }

    /// Charges the partition's bytes to the budget, decodes its batches and
    /// buffers its records.
    fn on_records(&mut self, topic: &Arc<str>, pd: PartitionData, a: &Asked) {
        let c = self.c;
        let data = match &pd.records {
            Some(d) if !d.is_empty() => d.clone(),
            _ => return,
        };
        let grabbed = match c.charge_and_grab(data.len()) {
            Ok(g) => g,
            Err(alone) => {
                if alone {
                    cursor_backoff(self.cluster(), &a.cursor);
                    let e = Error::FetchBudget {
                        needed: data.len(),
                        budget: c.cfg.max_buffered_bytes,
                    };
                    self.out.parts.push(error_part(topic, &pd, e));
                }
                return;
            }
        };
        self.out.charged += data.len();
        // Nothing but this partition's bytes hold budget: a batch that
        // does not fit now never will.
        let alone = c.cfg.max_buffered_bytes - grabbed == data.len();
        let mut budget = grabbed;
        let dec = decode_batches(&data, &mut budget);
        let used = grabbed - budget;
        c.release(budget);
        self.out.charged += used;
        let from = a.from;
        let (records, next, next_epoch) = self.records(topic, &pd, from, dec.batches);
        let mut err = None;
        if let Some(e) = dec.error {
            if !dec.over_budget {
                klog!(self.cluster().logger(), Warn, "corrupt batch in fetch", "topic" => topic, "partition" => pd.partition_index, "err" => e);
                cursor_backoff(self.cluster(), &a.cursor);
                err = Some(e);
            } else if alone && records.is_empty() && next == from {
                // Nothing else holds the budget and still the batch does
                // not fit: it never will (a decompression bomb).
                cursor_backoff(self.cluster(), &a.cursor);
                err = Some(e);
            }
        }
        if records.is_empty() && err.is_none() && next == from {
            return;
        }
        self.out.parts.push(BufPart {
            topic: topic.clone(),
            partition: pd.partition_index,
            cursor: Some(a.cursor.clone()),
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

    /// The records of decoded batches at or after `from`: aborted
    /// transactions and control records dropped as configured. Returns them
    /// with the next offset and the last batch's leader epoch.
    fn records(
        &self,
        topic: &Arc<str>,
        pd: &PartitionData,
        from: i64,
        batches: Vec<DecodedBatch>,
    ) -> (VecDeque<Record>, i64, i32) {
        let c = self.c;
        let (mut next, mut next_epoch) = (from, -1);
        let mut records = VecDeque::with_capacity(batches.iter().map(|b| b.records.len()).sum());
        let mut aborted =
            (c.cfg.isolation == IsolationLevel::ReadCommitted).then(|| Aborted::new(pd));
        // Each record gets a copy of this (inline for short names): no
        // allocation per record.
        let name = Topic::from(topic);
        for b in batches {
            self.batch_read_hook(topic, pd.partition_index, &b);
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
            push_records(&mut records, &name, pd.partition_index, from, b);
        }
        (records, next, next_epoch)
    }

    fn batch_read_hook(&self, topic: &str, partition: i32, b: &DecodedBatch) {
        let Some(m) = &self.meta else {
            return;
        };
        let metrics = FetchBatchMetrics {
            num_records: b.records.len(),
            uncompressed_bytes: b.uncompressed_len,
            compressed_bytes: b.encoded_len,
            compression_type: b.codec as u8,
        };
        crate::hooks::each(&self.cluster().settings().hooks, |h| {
            h.on_fetch_batch_read(m, topic, partition, &metrics)
        });
    }
}

/// Appends the records of `b` at or after `from`.
fn push_records(
    records: &mut VecDeque<Record>,
    topic: &Topic,
    partition: i32,
    from: i64,
    b: DecodedBatch,
) {
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
            topic: topic.clone(),
            partition,
            attrs,
            producer_epoch: b.producer_epoch,
            producer_id: b.producer_id,
            leader_epoch: b.partition_leader_epoch,
            offset: r.offset,
        });
    }
}
