//! One partition's log: stored batches, offsets, the leader epoch cache,
//! idempotent producer state and transaction state.
//!
//! Offsets follow Java's `UnifiedLog` with every replica in sync: the high
//! watermark equals the log end offset, and the last stable offset is the
//! first offset of the earliest open transaction, else the high watermark
//! (`ProducerStateManager.firstUnstableOffset`).

use std::collections::{BTreeMap, HashMap, VecDeque};

use bytes::{Bytes, BytesMut};

use super::batch::{self, BatchHeader};
use super::codes;

/// How many recent batches per producer are remembered for duplicate
/// detection (Java `ProducerStateEntry.NUM_BATCHES_TO_RETAIN`).
const BATCHES_TO_RETAIN: usize = 5;

/// A stored batch: offsets already assigned, bytes as served to fetchers.
#[derive(Debug, Clone)]
pub(crate) struct StoredBatch {
    pub base_offset: i64,
    pub last_offset: i64,
    pub max_timestamp: i64,
    pub epoch: i32,
    pub data: Bytes,
}

#[derive(Debug, Clone, Copy)]
struct BatchMeta {
    first_seq: i32,
    last_seq: i32,
    first_offset: i64,
    last_offset: i64,
}

/// Java `ProducerStateEntry`: the producer's epoch and its last batches.
#[derive(Debug, Clone)]
struct ProducerEntry {
    epoch: i16,
    batches: VecDeque<BatchMeta>,
}

impl ProducerEntry {
    fn last_seq(&self) -> Option<i32> {
        self.batches.back().map(|b| b.last_seq)
    }
    fn last_offset(&self) -> i64 {
        self.batches.back().map_or(-1, |b| b.last_offset)
    }
}

/// A transaction aborted in this partition (Java `AbortedTxn`): its
/// producer, its first offset and the offset of its abort marker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AbortedTxn {
    pub producer_id: i64,
    pub first_offset: i64,
    pub last_offset: i64,
}

/// What a produce append did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Appended {
    pub base_offset: i64,
    /// A retry of one of the last 5 batches: nothing was written and
    /// `base_offset` is the original's.
    pub duplicate: bool,
}

/// One partition of a topic.
#[derive(Debug)]
pub(crate) struct Partition {
    pub leader: i32,
    pub leader_epoch: i32,
    pub replicas: Vec<i32>,
    pub log_start: i64,
    /// Log end offset; equal to the high watermark here.
    pub end: i64,
    pub batches: Vec<StoredBatch>,
    /// Leader epoch cache: (epoch, start offset), ascending (Java `LeaderEpochFileCache`).
    pub epochs: Vec<(i32, i64)>,
    producers: HashMap<i64, ProducerEntry>,
    /// Open transactions: producer id -> first offset (Java
    /// `ProducerStateEntry.currentTxnFirstOffset`).
    ongoing: BTreeMap<i64, i64>,
    /// Aborted transactions in offset order (Java's transaction index).
    aborted: Vec<AbortedTxn>,
}

impl Partition {
    /// Creates an empty partition led by `leader` at epoch 0.
    pub fn new(leader: i32, replicas: Vec<i32>) -> Self {
        Self {
            leader,
            leader_epoch: 0,
            replicas,
            log_start: 0,
            end: 0,
            batches: Vec::new(),
            epochs: vec![(0, 0)],
            producers: HashMap::new(),
            ongoing: BTreeMap::new(),
            aborted: Vec::new(),
        }
    }

    /// The last stable offset: the first offset of the earliest open
    /// transaction, else the high watermark.
    pub fn last_stable_offset(&self) -> i64 {
        self.ongoing
            .values()
            .copied()
            .min()
            .map_or(self.end, |first| first.min(self.end))
    }

    /// Java `UnifiedLog.hasOngoingTransaction(producerId, epoch)`: whether
    /// the producer has written to an open transaction here at this epoch.
    pub fn has_ongoing_txn(&self, producer_id: i64, epoch: i16) -> bool {
        self.ongoing.contains_key(&producer_id)
            && self.producers.get(&producer_id).map(|e| e.epoch) == Some(epoch)
    }

    /// The aborted transactions a read-committed fetch of `[from, to)` must
    /// report: every one whose range overlaps it (Java
    /// `LogSegment.collectAbortedTxns`), as (producer id, first offset).
    pub fn aborted_between(&self, from: i64, to: i64) -> Vec<(i64, i64)> {
        self.aborted
            .iter()
            .filter(|a| a.last_offset >= from && a.first_offset < to)
            .map(|a| (a.producer_id, a.first_offset))
            .collect()
    }

    /// The aborted transactions a read-committed fetch from `offset` that
    /// returned `returned` bytes must report: those overlapping the batches
    /// it touched.
    pub fn aborted_in_read(&self, offset: i64, returned: usize) -> Vec<(i64, i64)> {
        if returned == 0 || self.aborted.is_empty() {
            return Vec::new();
        }
        let first = self.batches.partition_point(|b| b.last_offset < offset);
        let (mut n, mut end) = (0usize, offset);
        for b in &self.batches[first..] {
            if n >= returned {
                break;
            }
            n += b.data.len();
            end = b.last_offset + 1;
        }
        self.aborted_between(offset, end)
    }

    /// Appends a transaction marker (Java `UnifiedLog.appendAsLeader` with
    /// origin COORDINATOR and `ProducerAppendInfo.appendEndTxnMarker`): one
    /// control batch, the producer's epoch moves to the marker's, its open
    /// transaction here closes, and an abort joins the aborted list.
    pub fn write_marker(
        &mut self,
        producer_id: i64,
        epoch: i16,
        commit: bool,
        coordinator_epoch: i32,
        now_ms: i64,
    ) {
        let base = self.end;
        let data = batch::encode_marker(
            base,
            self.leader_epoch,
            producer_id,
            epoch,
            commit,
            coordinator_epoch,
            now_ms,
        );
        if self.epochs.last().map(|e| e.0) != Some(self.leader_epoch) {
            self.assign_epoch(self.leader_epoch, base);
        }
        self.batches.push(StoredBatch {
            base_offset: base,
            last_offset: base,
            max_timestamp: now_ms,
            epoch: self.leader_epoch,
            data,
        });
        self.end = base + 1;
        let e = self
            .producers
            .entry(producer_id)
            .or_insert_with(|| ProducerEntry {
                epoch,
                batches: VecDeque::new(),
            });
        if e.epoch != epoch {
            // ProducerStateEntry.maybeUpdateProducerEpoch: a new epoch
            // forgets the old epoch's sequence numbers.
            e.epoch = epoch;
            e.batches.clear();
        }
        if let Some(first) = self.ongoing.remove(&producer_id) {
            if !commit {
                self.aborted.push(AbortedTxn {
                    producer_id,
                    first_offset: first,
                    last_offset: base,
                });
            }
        }
    }

    /// The high watermark (all replicas are always in sync).
    pub fn high_watermark(&self) -> i64 {
        self.end
    }

    /// Makes `leader` the leader with a new epoch, as the controller does on
    /// an election; the epoch starts at the log end (`maybeAssignEpochStartOffset`).
    pub fn set_leader(&mut self, leader: i32) -> i32 {
        self.leader = leader;
        self.leader_epoch += 1;
        self.assign_epoch(self.leader_epoch, self.end);
        self.leader_epoch
    }

    /// Java `LeaderEpochFileCache.assign`: drops entries this one supersedes.
    fn assign_epoch(&mut self, epoch: i32, start: i64) {
        self.epochs.retain(|&(e, s)| e < epoch && s < start);
        self.epochs.push((epoch, start));
    }

    /// Java `LeaderEpochFileCache.endOffsetFor`: the largest epoch <= `epoch`
    /// and the offset where the next epoch starts (or the log end).
    pub fn end_offset_for(&self, epoch: i32) -> (i32, i64) {
        if epoch < 0 {
            return (-1, -1);
        }
        let latest = self.epochs.last().map_or(-1, |e| e.0);
        if epoch == latest {
            return (epoch, self.end);
        }
        let higher = self.epochs.iter().find(|e| e.0 > epoch);
        let floor = self.epochs.iter().rev().find(|e| e.0 <= epoch);
        match (floor, higher) {
            (_, None) => (-1, -1),
            (None, Some(h)) => (epoch, h.1),
            (Some(f), Some(h)) => (f.0, h.1),
        }
    }

    /// Checks a produce batch's producer state and appends it.
    ///
    /// Mirrors Java `ProducerAppendInfo.checkProducerEpoch`/`checkSequence` and
    /// `ProducerStateEntry.findDuplicateBatch`. With `legacy` set it behaves
    /// like pre-KIP-360 brokers: an unknown producer with a non-zero sequence
    /// gets UNKNOWN_PRODUCER_ID and an old duplicate DUPLICATE_SEQUENCE_NUMBER.
    pub fn append(
        &mut self,
        h: &BatchHeader,
        records: &[u8],
        legacy: bool,
    ) -> Result<Appended, i16> {
        if h.is_transactional() && !h.has_producer_id() {
            // UnifiedLog.analyzeAndValidateProducerState: a transactional
            // batch that no verification covers is "not part of an
            // ongoing transaction".
            return Err(codes::INVALID_TXN_STATE);
        }
        if !h.is_transactional() && self.ongoing.contains_key(&h.producer_id) {
            // ProducerAppendInfo.checkProducerEpoch's sibling check:
            // "Expected transactional write from producer".
            return Err(codes::INVALID_TXN_STATE);
        }
        if h.has_producer_id() {
            if let Some(dup) = self.check_producer(h, legacy)? {
                return Ok(Appended {
                    base_offset: dup,
                    duplicate: true,
                });
            }
        }
        let base = self.end;
        let last = base + i64::from(h.last_offset_delta);
        let data = batch::stamp(records, base, self.leader_epoch);
        if self.epochs.last().map(|e| e.0) != Some(self.leader_epoch) {
            self.assign_epoch(self.leader_epoch, base);
        }
        self.batches.push(StoredBatch {
            base_offset: base,
            last_offset: last,
            max_timestamp: h.max_timestamp,
            epoch: self.leader_epoch,
            data,
        });
        self.end = last + 1;
        if h.is_transactional() {
            self.ongoing.entry(h.producer_id).or_insert(base);
        }
        if h.has_producer_id() {
            let e = self
                .producers
                .entry(h.producer_id)
                .or_insert_with(|| ProducerEntry {
                    epoch: h.producer_epoch,
                    batches: VecDeque::new(),
                });
            if e.epoch != h.producer_epoch {
                e.epoch = h.producer_epoch;
                e.batches.clear();
            }
            if e.batches.len() == BATCHES_TO_RETAIN {
                e.batches.pop_front();
            }
            e.batches.push_back(BatchMeta {
                first_seq: h.base_sequence,
                last_seq: h.last_sequence(),
                first_offset: base,
                last_offset: last,
            });
        }
        Ok(Appended {
            base_offset: base,
            duplicate: false,
        })
    }

    /// Returns `Ok(Some(offset))` for a duplicate of a retained batch.
    fn check_producer(&self, h: &BatchHeader, legacy: bool) -> Result<Option<i64>, i16> {
        let Some(e) = self.producers.get(&h.producer_id) else {
            if legacy && h.base_sequence != 0 {
                return Err(codes::UNKNOWN_PRODUCER_ID);
            }
            // No state (new, or all its batches deleted): any sequence is
            // accepted, as in Java since KIP-360.
            return Ok(None);
        };
        if h.producer_epoch < e.epoch {
            return Err(codes::INVALID_PRODUCER_EPOCH);
        }
        if h.producer_epoch != e.epoch {
            // A bumped epoch must restart at sequence 0.
            return if h.base_sequence == 0 {
                Ok(None)
            } else {
                Err(codes::OUT_OF_ORDER_SEQUENCE_NUMBER)
            };
        }
        let last_seq = h.last_sequence();
        if let Some(b) = e
            .batches
            .iter()
            .find(|b| b.first_seq == h.base_sequence && b.last_seq == last_seq)
        {
            return Ok(Some(b.first_offset));
        }
        let current = e.last_seq().unwrap_or(-1);
        let in_sequence = h.base_sequence == batch::increment_sequence(current, 1);
        if in_sequence {
            return Ok(None);
        }
        if legacy
            && h.base_sequence <= current
            && e.batches
                .front()
                .is_some_and(|f| h.base_sequence < f.first_seq)
        {
            return Err(codes::DUPLICATE_SEQUENCE_NUMBER);
        }
        Err(codes::OUT_OF_ORDER_SEQUENCE_NUMBER)
    }

    /// Moves the log start forward to `offset` (DeleteRecords), dropping
    /// whole batches below it and producers with nothing left in the log
    /// (Java `removeStraysAndUnretainedProducers`).
    pub fn delete_before(&mut self, offset: i64) {
        if offset <= self.log_start {
            return;
        }
        self.log_start = offset.min(self.end);
        self.batches.retain(|b| b.last_offset >= offset);
        let start = self.log_start;
        let ongoing = &self.ongoing;
        self.producers
            .retain(|id, e| e.last_offset() >= start || ongoing.contains_key(id));
        self.aborted.retain(|a| a.last_offset >= start);
    }

    /// Truncates the log to `offset` (rounded down to a batch boundary) and
    /// starts a new leader epoch, as an unclean leader change does.
    pub fn truncate(&mut self, offset: i64) -> i64 {
        let cut = self.batches.iter().position(|b| b.last_offset >= offset);
        if let Some(i) = cut {
            self.end = self.batches[i].base_offset.max(self.log_start);
            self.batches.truncate(i);
        } else {
            self.end = self.end.min(offset.max(self.log_start));
        }
        let end = self.end;
        self.epochs.retain(|&(_, s)| s <= end);
        for e in self.producers.values_mut() {
            e.batches.retain(|b| b.last_offset < end);
        }
        self.producers.retain(|_, e| !e.batches.is_empty());
        self.ongoing.retain(|_, first| *first < end);
        self.aborted.retain(|a| a.last_offset < end);
        self.leader_epoch += 1;
        self.assign_epoch(self.leader_epoch, end);
        self.end
    }

    /// Reads for a fetch the way Java's `LogSegment.read` does: from the batch
    /// holding `offset`, at most `max_bytes` bytes up to the high watermark,
    /// except that with `min_one` the first batch is returned whole however
    /// large (KIP-74). The last batch may be cut short, as in Kafka.
    /// Nothing at or above `upper` is returned (the high watermark, or the
    /// last stable offset for read_committed).
    pub fn read(&self, offset: i64, max_bytes: usize, min_one: bool, upper: i64) -> Bytes {
        let first = self.batches.partition_point(|b| b.last_offset < offset);
        let stop = self.batches.partition_point(|b| b.base_offset < upper);
        let Some(head) = self.batches.get(first).filter(|_| first < stop) else {
            return Bytes::new();
        };
        let limit = if min_one {
            max_bytes.max(head.data.len())
        } else {
            max_bytes
        };
        if limit == 0 {
            return Bytes::new();
        }
        if head.data.len() >= limit {
            return head.data.slice(..limit);
        }
        let mut out = BytesMut::with_capacity(limit.min(self.bytes_between(first, stop)));
        for b in &self.batches[first..stop] {
            let room = limit - out.len();
            if room == 0 {
                break;
            }
            out.extend_from_slice(&b.data[..b.data.len().min(room)]);
        }
        out.freeze()
    }

    fn bytes_between(&self, from: usize, to: usize) -> usize {
        self.batches[from..to].iter().map(|b| b.data.len()).sum()
    }

    /// Java `UnifiedLog.fetchOffsetByTimestamp` for a real timestamp: the
    /// first offset whose record timestamp is >= `ts`, with its batch epoch.
    pub fn offset_for_timestamp(&self, ts: i64) -> Option<(i64, i64, i32)> {
        let b = self.batches.iter().find(|b| b.max_timestamp >= ts)?;
        match batch::record_timestamps(&b.data) {
            Some(recs) => recs
                .into_iter()
                .find(|&(o, t)| t >= ts && o >= self.log_start)
                .map(|(o, t)| (o, t, b.epoch)),
            // Compressed: answer with the batch, as a shallow index would.
            None => Some((b.base_offset.max(self.log_start), b.max_timestamp, b.epoch)),
        }
    }

    /// ListOffsets MAX_TIMESTAMP (KIP-734): the record with the largest
    /// timestamp (the first such one).
    pub fn max_timestamp_offset(&self) -> Option<(i64, i64, i32)> {
        let mut best: Option<&StoredBatch> = None;
        for b in &self.batches {
            if best.is_none_or(|x| b.max_timestamp > x.max_timestamp) {
                best = Some(b);
            }
        }
        let b = best?;
        let exact = batch::record_timestamps(&b.data)
            .and_then(|recs| recs.into_iter().find(|&(_, t)| t == b.max_timestamp));
        Some(match exact {
            Some((o, t)) => (o, t, b.epoch),
            None => (b.last_offset, b.max_timestamp, b.epoch),
        })
    }

    /// The epoch of the batch holding `offset`, or the current epoch.
    pub fn epoch_at(&self, offset: i64) -> i32 {
        let i = self.batches.partition_point(|b| b.last_offset < offset);
        self.batches.get(i).map_or(self.leader_epoch, |b| b.epoch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn idem(seq: i32, count: i32, pid: i64, epoch: i16) -> (BatchHeader, Vec<u8>) {
        let mut b = batch::encode_batch(0, count, 3, 10).to_vec();
        b[43..51].copy_from_slice(&pid.to_be_bytes());
        b[51..53].copy_from_slice(&epoch.to_be_bytes());
        b[53..57].copy_from_slice(&seq.to_be_bytes());
        let crc = batch::compute_crc(&b);
        b[17..21].copy_from_slice(&crc.to_be_bytes());
        (batch::validate_produce(&b, 1 << 20, true).unwrap(), b)
    }

    fn append(
        p: &mut Partition,
        seq: i32,
        count: i32,
        epoch: i16,
        legacy: bool,
    ) -> Result<Appended, i16> {
        let (h, b) = idem(seq, count, 7, epoch);
        p.append(&h, &b, legacy)
    }

    #[test]
    fn idempotent_sequence_table() {
        let mut p = Partition::new(0, vec![0]);
        assert_eq!(
            append(&mut p, 0, 2, 0, false),
            Ok(Appended {
                base_offset: 0,
                duplicate: false
            })
        );
        assert_eq!(
            append(&mut p, 2, 2, 0, false),
            Ok(Appended {
                base_offset: 2,
                duplicate: false
            })
        );
        // Retry of the first batch: original offset, no write.
        assert_eq!(
            append(&mut p, 0, 2, 0, false),
            Ok(Appended {
                base_offset: 0,
                duplicate: true
            })
        );
        assert_eq!(p.end, 4);
        assert_eq!(
            append(&mut p, 9, 1, 0, false),
            Err(codes::OUT_OF_ORDER_SEQUENCE_NUMBER)
        );
        // New epoch must restart at 0; old epoch is fenced.
        assert_eq!(
            append(&mut p, 4, 1, 1, false),
            Err(codes::OUT_OF_ORDER_SEQUENCE_NUMBER)
        );
        assert_eq!(append(&mut p, 0, 1, 1, false).map(|a| a.base_offset), Ok(4));
        assert_eq!(
            append(&mut p, 4, 1, 0, false),
            Err(codes::INVALID_PRODUCER_EPOCH)
        );
    }

    #[test]
    fn duplicates_beyond_five_batches() {
        let mut p = Partition::new(0, vec![0]);
        for i in 0..7 {
            append(&mut p, i, 1, 0, false).unwrap();
        }
        assert_eq!(
            append(&mut p, 1, 1, 0, false),
            Err(codes::OUT_OF_ORDER_SEQUENCE_NUMBER)
        );
        assert_eq!(
            append(&mut p, 1, 1, 0, true),
            Err(codes::DUPLICATE_SEQUENCE_NUMBER)
        );
        assert_eq!(
            append(&mut p, 3, 1, 0, false).map(|a| a.duplicate),
            Ok(true)
        );
    }

    #[test]
    fn unknown_producer_after_delete_records() {
        let mut p = Partition::new(0, vec![0]);
        append(&mut p, 0, 3, 0, true).unwrap();
        p.delete_before(3);
        assert_eq!(
            append(&mut p, 3, 1, 0, true),
            Err(codes::UNKNOWN_PRODUCER_ID)
        );
        assert!(append(&mut p, 3, 1, 0, false).is_ok());
    }

    #[test]
    fn read_limits_and_min_one() {
        let mut p = Partition::new(0, vec![0]);
        for _ in 0..3 {
            let b = batch::encode_batch(0, 1, 100, 5);
            let h = batch::parse_header(&b).unwrap();
            p.append(&h, &b, false).unwrap();
        }
        let one = p.batches[0].data.len();
        assert_eq!(
            p.read(0, 10, true, i64::MAX).len(),
            one,
            "KIP-74: whole first batch"
        );
        assert_eq!(
            p.read(0, 10, false, i64::MAX).len(),
            10,
            "cut short like LogSegment.read"
        );
        assert_eq!(p.read(1, 1 << 20, false, i64::MAX).len(), 2 * one);
        assert_eq!(p.read(3, 1 << 20, true, i64::MAX).len(), 0);
    }

    #[test]
    fn epoch_cache_end_offsets() {
        let mut p = Partition::new(0, vec![0, 1]);
        let b = batch::encode_batch(0, 2, 1, 5);
        let h = batch::parse_header(&b).unwrap();
        p.append(&h, &b, false).unwrap();
        assert_eq!(p.set_leader(1), 1);
        p.append(&h, &b, false).unwrap();
        assert_eq!(p.end_offset_for(0), (0, 2));
        assert_eq!(p.end_offset_for(1), (1, 4));
        assert_eq!(p.end_offset_for(5), (-1, -1));
        assert_eq!(p.epoch_at(3), 1);
        assert_eq!(p.truncate(3), 2);
        assert_eq!(p.leader_epoch, 2);
        assert_eq!(
            p.end_offset_for(1),
            (0, 2),
            "epoch 1 vanished with the truncation"
        );
    }
}
