//! Assembling a request: the next ready batch of each partition in turn,
//! and what the scan saw for the sink's next wake-up.

use std::sync::Arc;
use std::time::Instant;

use super::{Plan, SentPart, SinkLoop};
use crate::error::Error;
use crate::error::Result;
use crate::logger::klog;
use crate::producer::recbuf::{BatchState, RecBuf, RecBufInner, SealedV2, V2Job};
use crate::protocol::produce::{TopicBatches, WireBatch};
use crate::protocol::record_batch::RECORD_BATCH_OVERHEAD;

/// What one `collect` saw: whether it looked at every partition, and the
/// earliest next wake-up among those it did.
#[derive(Clone, Copy)]
pub(super) struct Scan {
    pub(super) all: bool,
    pub(super) next: Option<Instant>,
}

impl Scan {
    fn note(&mut self, t: Option<Instant>) {
        if let Some(t) = t {
            self.next = Some(self.next.map_or(t, |n| n.min(t)));
        }
    }
}

/// What `drain` did: sent a request, or found nothing to send (with what
/// its scan saw, when it got as far as scanning).
pub(super) enum Drained {
    Sent(Scan),
    Nothing(Option<Scan>),
}

impl SinkLoop {
    /// Takes the next ready batch of every partition in turn (round robin
    /// over the sink's partitions), up to the request size limit.
    pub(super) fn collect(
        &mut self,
        recbufs: &[Arc<RecBuf>],
        plan: &Plan,
    ) -> (Vec<SentPart>, Vec<TopicBatches>, Scan) {
        let n = recbufs.len();
        let mut scan = Scan {
            all: true,
            next: None,
        };
        let mut total = 64usize;
        let mut parts = Vec::new();
        let mut topics: Vec<TopicBatches> = Vec::new();
        let p = self.p.clone();
        let txn = p.txn.as_ref();
        let mut unwritable = Vec::new();
        for k in 0..n {
            let rb = &recbufs[(self.rr + k) % n];
            if txn.is_some_and(|t| !t.is_added(rb)) {
                scan.all = false;
                continue;
            }
            let mut g = rb.inner.lock();
            let Some((mut idx, est)) = self.next_ready(&mut g, plan) else {
                scan.note(g.next_wakeup());
                continue;
            };
            if !parts.is_empty() && total + est + 64 > plan.max_bytes {
                scan.all = false;
                break;
            }
            let job = match self.stamp(&mut g, idx, plan) {
                Ok(job) => job,
                Err(e) => {
                    if let (Error::RecordFormat(_), Some(b)) = (&e, g.batches.get(idx)) {
                        // Headers in a message set: fail, do not retry forever.
                        unwritable.push((rb.clone(), b.id, e));
                    } else {
                        self.encode_failed(rb, &e);
                    }
                    scan.note(g.next_wakeup());
                    continue;
                }
            };
            if let Some(mut job) = job {
                // The CRC and any compression run without the lock: the
                // producing threads append to the next batch meanwhile.
                drop(g);
                let res = job.encode(plan.codec, &mut self.scratch, &self.p.pool);
                g = rb.inner.lock();
                match self.finish_encode(&mut g, job, res) {
                    Ok(Some(i)) => idx = i,
                    Ok(None) => {
                        scan.all = false;
                        continue;
                    }
                    Err(e) => {
                        self.encode_failed(rb, &e);
                        scan.note(g.next_wakeup());
                        continue;
                    }
                }
            }
            let Some((batch_id, tries, wire)) = self.mark_inflight(&mut g, idx) else {
                scan.note(g.next_wakeup());
                continue;
            };
            scan.note(g.next_wakeup());
            drop(g);
            total += wire.len() + 32;
            parts.push((rb.clone(), batch_id, tries));
            let pd = (rb.partition, wire);
            match topics.iter_mut().find(|t| Arc::ptr_eq(&t.0, &rb.topic)) {
                Some(t) => t.1.push(pd),
                None => topics.push((rb.topic.clone(), vec![pd])),
            }
        }
        for (rb, batch, e) in unwritable {
            self.fail_batch(&rb, batch, e);
        }
        (parts, topics, scan)
    }

    /// The index and estimated size of the partition's next batch to send,
    /// if one is ready: not backing off, within the in-flight limits
    /// (idempotent: up to 5 per partition, all to this broker, after the
    /// first was acknowledged), and sealed, lingered or flushed.
    fn next_ready(&self, g: &mut RecBufInner, plan: &Plan) -> Option<(usize, usize)> {
        let idem = self.p.idempotent();
        if !g.sink.as_ref().is_some_and(|s| Arc::ptr_eq(s, &self.sink))
            || g.backoff_until.is_some_and(|t| plan.now < t)
        {
            return None;
        }
        if g.inflight > 0
            && (g.inflight_sink != self.sink.broker || !idem || g.inflight >= 5 || !g.acked)
        {
            return None;
        }
        if let Some(id) = plan.id {
            if g.id_generation != id.generation {
                if g.inflight > 0 {
                    return None;
                }
                // A new id or epoch: sequences restart at 0 (KIP-360).
                g.next_seq = 0;
                g.id_generation = id.generation;
                g.acked = false;
                for b in g.batches.iter_mut() {
                    b.stamp = None;
                }
            }
        }
        let idx = g.inflight;
        let open = idx + 1 == g.batches.len();
        let b = g.batches.get(idx).filter(|b| !b.encoding)?;
        // Without linger, an open batch goes out only when this sink has no
        // request in flight: records keep filling it while the previous
        // request is on the wire, and the response wakes the sink (kgo sends
        // when the previous produce returns, so batching follows the
        // broker's pace instead of one small request per record). Full
        // (sealed) batches go at once, up to the in-flight limit.
        let lingering = match g.linger_until {
            Some(l) => !plan.flushing && plan.now < l,
            None => plan.busy,
        };
        let ready = b.state != BatchState::Open || !open || !lingering;
        if !ready {
            return None;
        }
        let est = b
            .wire
            .as_ref()
            .map_or(b.records.len() + RECORD_BATCH_OVERHEAD, WireBatch::len);
        Some((idx, est))
    }

    /// Puts an encode done outside the lock back into its batch. Returns
    /// the batch's index when this sink may send it now: it is still the
    /// partition's next to send, and the partition still this sink's. A
    /// batch failed meanwhile (a purge, an abort) is gone and its encoding
    /// dropped; one whose partition moved is left encoded for the new sink,
    /// which is woken (it skipped the batch while it was being encoded).
    fn finish_encode(
        &self,
        g: &mut RecBufInner,
        job: V2Job,
        res: Result<SealedV2>,
    ) -> Result<Option<usize>> {
        let Some(idx) = g.batches.iter().position(|b| b.id == job.id) else {
            return Ok(None);
        };
        if let Some(b) = g.batches.get_mut(idx) {
            b.finish_v2(job, res)?;
        }
        let ours = g.sink.as_ref().is_some_and(|s| Arc::ptr_eq(s, &self.sink));
        if ours && idx == g.inflight {
            return Ok(Some(idx));
        }
        if let Some(s) = &g.sink {
            s.wake();
        }
        Ok(None)
    }

    fn encode_failed(&self, rb: &RecBuf, e: &Error) {
        klog!(self.logger(), Error, "unable to encode batch", "topic" => rb.topic, "partition" => rb.partition, "err" => e);
    }

    /// Marks batch `idx` as written (in flight); returns its id, attempt
    /// and bytes.
    fn mark_inflight(&self, g: &mut RecBufInner, idx: usize) -> Option<(u64, u32, WireBatch)> {
        let open = idx + 1 == g.batches.len();
        let b = g.batches.get_mut(idx)?;
        let wire = b.wire.clone()?;
        b.state = BatchState::InFlight;
        b.tries += 1;
        g.inflight += 1;
        g.inflight_sink = self.sink.broker;
        if open {
            g.linger_until = None;
        }
        Some((b.id, b.tries, wire))
    }
}
