//! Per-partition record buffers (`RecBuf`) and their batches (`RecBatch`):
//! appending on the caller's thread, the batch state machine, and failing
//! batches gaplessly.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

use parking_lot::Mutex;

use super::buffer::Producer;
use super::completion::{Callback, Completion};
use super::pool::{BufPool, Pooled};
use super::sink::Sink;
use crate::error::{Error, ErrorCode, TimeoutKind};
use crate::protocol::compression::Codec;
use crate::protocol::produce::{WireBatch, WireHeader};
use crate::protocol::record_batch::{
    from_v2_batch, records_of, seal_batch, write_message_set, BatchHeader, WrittenBatch, WrittenSet,
};
use crate::protocol::record_batch::{HeaderRef, RecordsBuf, RECORD_BATCH_OVERHEAD};
use crate::record::Record;

/// One batch of one partition.
pub(crate) struct RecBatch {
    pub(crate) id: u64,
    pub(crate) records: RecordsBuf,
    pub(crate) entries: Vec<(Record, Callback)>,
    pub(crate) user_bytes: usize,
    pub(crate) created: Instant,
    pub(crate) state: BatchState,
    pub(crate) tries: u32,
    /// The producer id, epoch and sequence it is stamped with (idempotence).
    pub(crate) stamp: Option<Stamp>,
    /// The encoded batch as sent (kept for retries): its header and its
    /// records section, which is the records buffer itself (not a copy).
    pub(crate) wire: Option<WireBatch>,
    pub(crate) codec_used: Codec,
    pub(crate) uncompressed: usize,
    /// The earliest deadline of its records (`produce_deadline`): once it
    /// passes before the batch is written, the partition's buffered records
    /// fail as with a delivery timeout.
    pub(crate) deadline: Option<Instant>,
    /// Whether a sink took its records to encode them outside the lock
    /// (`take_v2`): no sink may send or encode it until `finish_v2`.
    pub(crate) encoding: bool,
}

/// A sealed batch's records and header, taken under the partition lock to
/// be encoded (CRC-32C, compression) outside it, so producing threads do
/// not wait on the encode of the batch before theirs.
pub(crate) struct V2Job {
    pub(crate) id: u64,
    records: RecordsBuf,
    header: BatchHeader,
}

/// An encoded v2 batch: its header, records section and figures.
pub(crate) type SealedV2 = ([u8; RECORD_BATCH_OVERHEAD], bytes::Bytes, WrittenBatch);

impl V2Job {
    /// Encodes the batch: the records section is the records buffer itself
    /// (not a copy) unless compression made it smaller.
    /// Its records buffer goes back to `pool` once the batch is done with
    /// (uncompressed, when the last reference to the records section goes;
    /// compressed, at once).
    pub(crate) fn encode(
        &mut self,
        codec: crate::producer::CompressionCodec,
        scratch: &mut Vec<u8>,
        pool: &Arc<BufPool>,
    ) -> crate::error::Result<SealedV2> {
        let sealed = seal_batch(
            &mut self.records,
            &self.header,
            codec.codec,
            codec.level,
            scratch,
            |buf| Pooled::bytes(buf, pool),
        )?;
        // Compressed: the records section is a copy; the buffer is spare.
        pool.give_records(self.records.take_buf());
        Ok(sealed)
    }
}

/// Where a batch is in its life.
///
/// ```text
///   Open ──(full, or drained once)──► Sealed ──(written)──► InFlight
///                                       ▲                     │
///                                       ├──(retry, outcome known)
///                                       │                     │
///                                   Unknown ◄──(connection died mid-request)
/// ```
///
/// `Unknown` goes back to `InFlight` when resent. A batch leaves the buffer
/// when it is acknowledged or failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BatchState {
    /// Records may still be appended.
    Open,
    /// No more records may be appended; not in flight.
    Sealed,
    /// Written; its response is awaited.
    InFlight,
    /// Sent, and the last attempt's outcome is unknown (the connection died):
    /// failing it now could lose or duplicate data, so it is not failed.
    Unknown,
}

/// The idempotence stamp of a batch: what its header carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stamp {
    pub(crate) producer_id: i64,
    pub(crate) epoch: i16,
    pub(crate) base_sequence: i32,
    /// The producer id generation it was stamped in: a new id or epoch
    /// means re-stamping from sequence 0 (KIP-360).
    pub(crate) generation: u64,
}

impl RecBatch {
    /// A new open batch.
    fn new(id: u64, records: RecordsBuf, entries: Vec<(Record, Callback)>) -> RecBatch {
        RecBatch {
            id,
            records,
            entries,
            user_bytes: 0,
            created: Instant::now(),
            state: BatchState::Open,
            tries: 0,
            stamp: None,
            wire: None,
            codec_used: Codec::None,
            uncompressed: 0,
            deadline: None,
            encoding: false,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Drops or converts the encoded batch when its message format is not
    /// `magic` (the broker's changed since it was encoded: a leader move, a
    /// broker up- or downgraded). A message set kept the records buffer, so
    /// it is simply dropped and encoded again; a sealed v2 batch took it, so
    /// a message set is made from the batch itself.
    pub(crate) fn fit_format(
        &mut self,
        magic: i8,
        codec: crate::producer::CompressionCodec,
        scratch: &mut Vec<u8>,
    ) -> crate::error::Result<()> {
        let Some(w) = self.wire.take_if(|w| w.magic() != magic) else {
            return Ok(());
        };
        if let (WireHeader::V2(h), true) = (&w.header, magic < 2) {
            let (records, ws) =
                from_v2_batch(h, &w.records, magic, codec.codec, codec.level, scratch)?;
            self.set_message_set(magic, records, ws);
        }
        Ok(())
    }

    fn set_message_set(&mut self, magic: i8, records: bytes::Bytes, ws: WrittenSet) {
        self.codec_used = ws.codec_used;
        self.uncompressed = ws.uncompressed_len;
        self.wire = Some(WireBatch {
            header: WireHeader::Legacy(magic),
            records,
        });
    }

    /// Seals the batch and takes its records to be encoded outside the
    /// lock, with the batch's stamp (if any). Until [`RecBatch::finish_v2`]
    /// the batch is `encoding`: appends go to a new batch, and no sink sends
    /// or encodes it.
    pub(crate) fn take_v2(&mut self, transactional: bool) -> V2Job {
        let (pid, epoch, seq) = self
            .stamp
            .map_or((-1, -1, -1), |s| (s.producer_id, s.epoch, s.base_sequence));
        self.seal();
        self.encoding = true;
        V2Job {
            id: self.id,
            records: std::mem::take(&mut self.records),
            header: BatchHeader {
                producer_id: pid,
                producer_epoch: epoch,
                base_sequence: seq,
                transactional,
                partition_leader_epoch: -1,
            },
        }
    }

    /// Puts the outcome of a [`V2Job`] back: the encoded batch, or on
    /// failure the records, to be tried again.
    pub(crate) fn finish_v2(
        &mut self,
        job: V2Job,
        res: crate::error::Result<SealedV2>,
    ) -> crate::error::Result<()> {
        self.encoding = false;
        match res {
            Ok((header, records, w)) => {
                self.codec_used = w.codec_used;
                self.uncompressed = w.uncompressed_len;
                self.wire = Some(WireBatch {
                    header: WireHeader::V2(header),
                    records,
                });
                Ok(())
            }
            Err(e) => {
                self.records = job.records;
                Err(e)
            }
        }
    }

    /// Encodes the records as a message set of `magic` (Produce v0-v2,
    /// Kafka 0.10 and older): the rare path, a copy; the records buffer
    /// stays, for a re-encode should the broker's format change.
    ///
    /// # Errors
    ///
    /// [`Error::RecordFormat`](crate::Error::RecordFormat) for a record with
    /// headers, and the compression errors.
    pub(crate) fn encode_message_set(
        &mut self,
        magic: i8,
        codec: crate::producer::CompressionCodec,
        scratch: &mut Vec<u8>,
    ) -> crate::error::Result<()> {
        let mut out = Vec::new();
        let records = records_of(&self.records, magic);
        let ws = write_message_set(records, magic, codec.codec, codec.level, scratch, &mut out)?;
        self.set_message_set(magic, bytes::Bytes::from(out), ws);
        Ok(())
    }

    /// Closes an open batch to appends (a no-op in any later state).
    pub(crate) fn seal(&mut self) {
        if self.state == BatchState::Open {
            self.state = BatchState::Sealed;
        }
    }

    pub(crate) fn is_inflight(&self) -> bool {
        self.state == BatchState::InFlight
    }

    /// Back from flight after a retriable failure: `unknown` when the
    /// request's outcome is not known.
    pub(crate) fn land(&mut self, unknown: bool) {
        if self.state == BatchState::InFlight {
            self.state = if unknown {
                BatchState::Unknown
            } else {
                BatchState::Sealed
            };
        }
    }
}

/// One partition's buffer.
pub(crate) struct RecBuf {
    pub(crate) topic: Arc<str>,
    pub(crate) partition: i32,
    pub(crate) inner: Mutex<RecBufInner>,
}

pub(crate) struct RecBufInner {
    pub(crate) leader: i32,
    pub(crate) leader_epoch: i32,
    pub(crate) sink: Option<Arc<Sink>>,
    pub(crate) batches: VecDeque<RecBatch>,
    /// Batches of this partition in flight, and on which sink.
    pub(crate) inflight: usize,
    pub(crate) inflight_sink: i32,
    /// The sequence the next stamped batch gets, for `id_generation`.
    pub(crate) next_seq: i32,
    pub(crate) id_generation: u64,
    /// Whether a batch of this id generation was acknowledged. Until then
    /// only one batch is in flight: a broker with no state for our producer
    /// accepts any first sequence (Java `ProducerAppendInfo`), so a later
    /// batch landing before a failed first one would be written out of order.
    pub(crate) acked: bool,
    pub(crate) backoff_until: Option<Instant>,
    pub(crate) buffered: i64,
    /// When the open batch's linger ends.
    pub(crate) linger_until: Option<Instant>,
    next_batch_cap: usize,
    /// The records buffer size a new batch starts with: the last sealed
    /// batch's, so a batch that fills as the last one did never regrows
    /// (each regrowth copies everything appended so far).
    next_records_cap: usize,
}

impl RecBufInner {
    /// Seals the open batch, if any (it is full: ready now), and opens a
    /// new one sized as the last sealed one; returns whether it sealed one.
    fn open_batch(&mut self, p: &Producer, max: usize) -> bool {
        let mut sealed = false;
        if let Some(b) = self.batches.back_mut() {
            sealed = b.state == BatchState::Open;
            b.seal();
        }
        let cap = self.next_batch_cap;
        let records_cap = self.next_records_cap.min(max);
        self.batches.push_back(RecBatch::new(
            p.next_batch_id(),
            RecordsBuf::from_vec(p.pool.records(records_cap)),
            p.pool.entries(cap),
        ));
        self.linger_until = (!p.cfg.linger.is_zero()).then(|| Instant::now() + p.cfg.linger);
        sealed
    }

    /// Notes the size of a batch's records section when it is sealed.
    pub(crate) fn note_batch_len(&mut self, len: usize, max: usize) {
        self.next_records_cap = len.clamp(4 << 10, max.max(4 << 10));
    }
}

impl RecBufInner {
    /// When the sink should look at this partition again, if it has
    /// unsent batches: its linger or backoff ends, or its first batch's
    /// caller deadline passes while nothing is in flight (in flight, the
    /// reply wakes the sink; then the deadline can fail the partition).
    pub(crate) fn next_wakeup(&self) -> Option<Instant> {
        if self.batches.len() <= self.inflight {
            return None;
        }
        let failable = self.inflight == 0
            && self
                .batches
                .front()
                .is_some_and(|b| b.state != BatchState::Unknown);
        let deadline = self.batches.front().and_then(|b| b.deadline);
        [
            self.linger_until,
            self.backoff_until,
            deadline.filter(|_| failable),
        ]
        .into_iter()
        .flatten()
        .min()
    }
}

impl RecBuf {
    pub(super) fn new(topic: Arc<str>, partition: i32) -> RecBuf {
        RecBuf {
            topic,
            partition,
            inner: Mutex::new(RecBufInner {
                leader: -1,
                leader_epoch: -1,
                sink: None,
                batches: VecDeque::new(),
                inflight: 0,
                inflight_sink: -1,
                next_seq: 0,
                id_generation: 0,
                acked: false,
                backoff_until: None,
                buffered: 0,
                linger_until: None,
                next_batch_cap: 64,
                next_records_cap: 64 << 10,
            }),
        }
    }
}

impl RecBuf {
    /// Appends to the open batch, opening a new one if needed (or, with
    /// `ask_new_batch`, reporting that instead); wakes the sink when the
    /// partition becomes ready. The record is taken (left default) only
    /// when appended: a record is ~150 bytes, and each move between frames
    /// was a memcpy. On error it stays with the caller.
    #[inline]
    pub(super) fn append(
        &self,
        p: &Producer,
        record: &mut Record,
        cb: Callback,
        ask_new_batch: bool,
        deadline: Option<Instant>,
    ) -> std::result::Result<(), Append> {
        let max = p.cfg.batch_max_bytes as usize;
        let hs = &record.headers;
        let mut g = self.inner.lock();
        let fits = match g.batches.back() {
            Some(b) if b.state == BatchState::Open => {
                let len = b.records.next_record_len(
                    record.timestamp,
                    record.key.as_deref(),
                    record.value.as_deref(),
                    hs,
                );
                RECORD_BATCH_OVERHEAD + b.records.len() + len <= max
            }
            _ => false,
        };
        let (mut wake, mut sealed) = (false, false);
        if !fits && ask_new_batch {
            drop(g);
            return Err(Append::NewBatch(cb));
        }
        if !fits {
            let alone = RecordsBuf::record_len(
                record.timestamp,
                0,
                record.timestamp,
                record.key.as_deref(),
                record.value.as_deref(),
                hs,
            );
            if RECORD_BATCH_OVERHEAD + alone > max {
                drop(g);
                return Err(Append::Failed(cb, Error::from(ErrorCode::MessageTooLarge)));
            }
            sealed = g.open_batch(p, max);
            wake = true;
        }
        let Some(b) = g.batches.back_mut() else {
            drop(g);
            return Err(Append::Failed(
                cb,
                Error::protocol("internal: no open batch"),
            ));
        };
        b.records.append(
            record.timestamp,
            record.key.as_deref(),
            record.value.as_deref(),
            &record.headers,
        );
        b.user_bytes += record.user_size();
        b.entries.push((std::mem::take(record), cb));
        if let Some(d) = deadline {
            b.deadline = Some(b.deadline.map_or(d, |old| old.min(d)));
        }
        let n = b.entries.len();
        g.buffered += 1;
        if n > g.next_batch_cap {
            g.next_batch_cap = n;
        }
        let sink = if wake { g.sink.clone() } else { None };
        drop(g);
        if let Some(s) = sink {
            // A new open batch without linger goes when the sink is idle;
            // a busy sink finds it when its reply arrives.
            if sealed || !s.wake_can_wait(p.cfg.linger.is_zero()) {
                s.wake();
            }
        }
        Ok(())
    }

    /// Fails the partition's batches (the first and every later one:
    /// gapless) when the first one's caller deadline passed
    /// (`produce_deadline`), its delivery timeout or its retries ran out,
    /// and that is safe: nothing in flight and, for an idempotent producer,
    /// the outcome known (kgo: "if any of these conditions are hit and it is
    /// currently safe to fail records, all buffered records for the relevant
    /// partition are failed"). Failing a batch whose request may have landed
    /// would let a later batch reuse its sequence numbers; a non-idempotent
    /// producer fails an unknown batch too, since resending it could
    /// duplicate it anyway and a broker that never answers sanely must not
    /// hold the record forever.
    ///
    /// Returns whether batches remain unsent (the sink's "has work"), found
    /// under the same lock.
    pub(crate) fn fail_expired(&self, p: &Producer, now: Instant) -> bool {
        let mut g = self.inner.lock();
        let unsent = g.batches.len() > g.inflight;
        let Some(first) = g.batches.front() else {
            return false;
        };
        let unknown_blocks = p.idempotent() && first.state == BatchState::Unknown;
        if first.state == BatchState::InFlight || unknown_blocks {
            return unsent;
        }
        let err = if first.deadline.is_some_and(|d| now >= d) {
            Error::Timeout(TimeoutKind::Caller)
        } else if p
            .cfg
            .delivery_timeout
            .is_some_and(|t| now.duration_since(first.created) >= t)
        {
            Error::RecordTimeout
        } else if first.tries >= p.cfg.record_retries {
            Error::RecordRetries
        } else {
            return unsent;
        };
        if g.inflight > 0 {
            return unsent;
        }
        let batches: Vec<RecBatch> = g.batches.drain(..).collect();
        self.after_fail(p, &mut g, &batches);
        drop(g);
        for b in batches {
            p.complete(Completion::failed(self, b, err.clone()));
        }
        false
    }

    /// Fails every batch not in flight (abort): in-flight ones finish first.
    pub(super) fn fail_unsent(&self, p: &Producer, err: Error) {
        let mut g = self.inner.lock();
        let keep = g.inflight;
        if g.batches.len() <= keep {
            return;
        }
        let failed: Vec<RecBatch> = g.batches.drain(keep..).collect();
        self.after_fail(p, &mut g, &failed);
        drop(g);
        for b in failed {
            p.complete(Completion::failed(self, b, err.clone()));
        }
    }

    /// Fails every batch not in flight with `err` (used when no producer id
    /// can be had).
    pub(crate) fn fail_pending(&self, p: &Producer, err: Error) {
        let mut g = self.inner.lock();
        let keep = g.inflight;
        let failed: Vec<_> = g.batches.drain(keep..).collect();
        self.after_fail(p, &mut g, &failed);
        drop(g);
        for b in failed {
            p.complete(Completion::failed(self, b, err.clone()));
        }
    }

    pub(super) fn fail_all(&self, p: &Producer, err: Error) {
        let mut g = self.inner.lock();
        let failed: Vec<RecBatch> = g.batches.drain(..).collect();
        g.inflight = 0;
        g.buffered = 0;
        drop(g);
        for b in failed {
            p.complete(Completion::failed(self, b, err.clone()));
        }
    }

    /// Bookkeeping after failing `batches`: a stamped batch leaves a hole in
    /// the sequence, so an idempotent producer must bump its epoch.
    pub(crate) fn after_fail(&self, p: &Producer, g: &mut RecBufInner, batches: &[RecBatch]) {
        let n: usize = batches.iter().map(RecBatch::len).sum();
        g.buffered -= n as i64;
        if p.idempotent() && batches.iter().any(|b| b.stamp.is_some()) {
            p.id.request_bump();
        }
    }
}

/// Why a record was not appended.
pub(super) enum Append {
    /// It would open a new batch (asked to report that first).
    NewBatch(Callback),
    /// It cannot be appended (the record stays with the caller).
    Failed(Callback, Error),
}

impl HeaderRef for crate::record::RecordHeader {
    fn key(&self) -> &str {
        &self.key
    }
    fn value(&self) -> Option<&[u8]> {
        self.value.as_deref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::producer::CompressionCodec;

    fn batch(n: i64) -> RecBatch {
        let mut records = RecordsBuf::new(0);
        for i in 0..n {
            records.append::<crate::record::RecordHeader>(1_000 + i, None, Some(b"value"), &[]);
        }
        RecBatch::new(7, records, Vec::new())
    }

    #[test]
    fn a_batch_encoded_outside_the_lock_is_sealed_meanwhile_and_gets_the_same_bytes() {
        let mut expect = batch(3);
        let header = BatchHeader {
            producer_id: -1,
            producer_epoch: -1,
            base_sequence: -1,
            transactional: false,
            partition_leader_epoch: -1,
        };
        let (h, body, _) = seal_batch(
            &mut expect.records,
            &header,
            Codec::None,
            None,
            &mut Vec::new(),
            bytes::Bytes::from,
        )
        .expect("seal");

        let mut b = batch(3);
        let mut job = b.take_v2(false);
        // While encoding: closed to appends, records out, not sendable.
        assert_eq!(b.state, BatchState::Sealed);
        assert!(b.encoding);
        assert!(b.records.is_empty());
        let pool = BufPool::new(1 << 20);
        let res = job.encode(CompressionCodec::none(), &mut Vec::new(), &pool);
        b.finish_v2(job, res).expect("finish");
        assert!(!b.encoding);
        let w = b.wire.as_ref().expect("encoded");
        assert!(matches!(&w.header, WireHeader::V2(got) if *got == h));
        assert_eq!(w.records, body);
        assert_eq!(b.uncompressed, body.len());
    }

    #[test]
    fn a_failed_encode_puts_the_records_back_for_the_next_try() {
        let mut b = batch(2);
        let before = b.records.as_bytes().to_vec();
        let job = b.take_v2(false);
        let err = b.finish_v2(job, Err(Error::protocol("compression failed")));
        assert!(err.is_err());
        assert!(!b.encoding);
        assert!(b.wire.is_none());
        assert_eq!(b.records.as_bytes(), &before[..]);
        assert_eq!(b.records.count(), 2);
    }
}
