//! Sinks: one `ks-sink-<id>` thread per broker drains the partitions that
//! broker leads into produce requests and handles their responses.
//!
//! One produce request holds at most one batch per partition. Up to 5
//! requests are in flight per broker when idempotent (1 otherwise, which
//! keeps order without sequence numbers). A partition's in-flight batches are
//! a prefix of its batch queue and are answered in order; a retriable error
//! resets every in-flight batch of the partition so they are resent, in
//! order, with the same sequence numbers (the broker deduplicates the last 5,
//! `ProducerStateManager`). A partition that moved to another broker is only
//! drained by its new sink once the old sink's in-flight batches finished.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;

use super::buffer::Producer;
use super::completion::{Completion, Outcome};
use super::recbuf::{RecBatch, RecBuf, RecBufInner, Stamp, V2Job};
use super::ProduceBatchMetrics;
use crate::broker::BrokerHandle;
use crate::error::{Error, ErrorCode, Result};
use crate::hooks;
use crate::logger::klog;
use crate::messages::produce_response::PartitionProduceResponse;
use crate::messages::{ProduceRequest, ProduceResponse};
use crate::protocol::compression::Codec;
use crate::protocol::produce::{ProduceBody, TopicBatches, WireBatch, WireHeader};
use crate::protocol::record_batch::{magic_for_produce, set_header_sequence};
use crate::sync::worker::{Inbox, Signal, Worker};

/// Produce versions the sink speaks: v0-v2 carry message sets (Kafka 0.10
/// and older), v3+ record batch v2; v13 names topics by id only (KIP-516),
/// which this sink does not do yet.
const PRODUCE_VERSIONS: (i16, i16) = (0, 12);

mod collect;
mod hint;
mod txn;
use collect::Drained;
use hint::stale;

/// A sink: the worker thread of one broker, serving the partitions it leads.
pub(crate) struct Sink {
    worker: Worker<RecBuf>,
    /// Whether a request of this sink is in flight. Without linger an open
    /// batch waits for the reply, which wakes the sink anyway, so appends
    /// that open a batch skip the wake-up (see `RecBuf::append`). SeqCst
    /// with the partition lock: the sink clears it before scanning.
    busy: AtomicBool,
}

impl Sink {
    /// Whether an append that opened a batch (and sealed none) can skip
    /// waking the sink: without linger, while a request is in flight.
    pub(crate) fn wake_can_wait(&self, linger_zero: bool) -> bool {
        linger_zero && self.busy.load(Ordering::SeqCst)
    }
}

impl std::ops::Deref for Sink {
    type Target = Worker<RecBuf>;
    fn deref(&self) -> &Worker<RecBuf> {
        &self.worker
    }
}

impl Sink {
    pub(crate) fn start(p: Arc<Producer>, broker: i32) -> Result<Arc<Sink>> {
        let (worker, signal) = Worker::new(broker);
        let sink = Arc::new(Sink {
            worker,
            busy: AtomicBool::new(false),
        });
        let mut name = format!("ks-sink-{broker}");
        name.truncate(15);
        let on_start = p.cluster.settings().on_thread_start.clone();
        let s = sink.clone();
        let join = crate::sync::thread::spawn_named(name, on_start, move || {
            let (resp_tx, resp_rx) = Inbox::channel(&signal);
            let mut l = SinkLoop {
                p,
                handle: None,
                sink: s,
                resp_tx,
                signal,
                resp_rx,
                inflight: HashMap::new(),
                next_req: 0,
                rr: 0,
                add_backoff: None,
                scratch: Vec::new(),
                first_failure_before: None,
            };
            l.run();
        })?;
        sink.set_join(join);
        Ok(sink)
    }
}

type Reply = (u64, Result<(i16, ProduceResponse)>);

/// One partition's batch in a request: its buffer, the batch id, and which
/// attempt of the batch this is (its `tries` when written).
type SentPart = (Arc<RecBuf>, u64, u32);

struct Sent {
    parts: Vec<SentPart>,
    acks_zero: bool,
}

/// What one drain works with: the producer id, the codec, and limits.
struct Plan {
    id: Option<super::id::ProducerIdEpoch>,
    codec: crate::producer::CompressionCodec,
    /// The message format of the Produce version the broker will get.
    magic: i8,
    flushing: bool,
    /// Whether a request of this sink is in flight.
    busy: bool,
    max_bytes: usize,
    now: Instant,
}

struct SinkLoop {
    p: Arc<Producer>,
    /// The broker handle and the broker-set generation it was looked up in.
    handle: Option<(u64, Arc<BrokerHandle>)>,
    sink: Arc<Sink>,
    signal: Arc<Signal>,
    resp_tx: Inbox<Reply>,
    resp_rx: Receiver<Reply>,
    inflight: HashMap<u64, Sent>,
    next_req: u64,
    rr: usize,
    scratch: Vec<u8>,
    /// When AddPartitionsToTxn may be tried again after a retriable error.
    add_backoff: Option<Instant>,
    /// Set by the first failed request since the last reply: requests sent
    /// before this id failed with it (one dropped connection fails every
    /// request in flight) and are resent at once; a failure of a later
    /// request backs off.
    first_failure_before: Option<u64>,
}

impl SinkLoop {
    fn logger(&self) -> Option<&dyn crate::logger::Logger> {
        self.p.cluster.logger()
    }

    fn max_inflight(&self) -> usize {
        if self.p.idempotent() {
            5
        } else {
            1
        }
    }

    fn run(&mut self) {
        let mut versions_known = false;
        let mut id_backoff: Option<Instant> = None;
        loop {
            if self.sink.stopping() || self.p.closed.load(Ordering::Acquire) {
                return;
            }
            while let Ok((id, res)) = self.resp_rx.try_recv() {
                self.on_reply(id, res);
            }
            let recbufs = self.sink.members();
            let now = Instant::now();
            // Each pass over the partitions locks them against the producing
            // thread, so passes are taken only when they can matter: expiry
            // when a deadline, delivery timeout or retry limit exists, the
            // work check when versions or an id are still to load.
            let p = &self.p;
            let expiry = p.deadlines_seen.load(Ordering::Acquire)
                || p.cfg.delivery_timeout.is_some()
                || p.cfg.record_retries != u32::MAX;
            let mut has_work = None;
            if expiry {
                let mut any = false;
                for rb in &recbufs {
                    any |= rb.fail_expired(p, now);
                }
                has_work = Some(any);
            }
            let wants_id = p.idempotent()
                && p.txn.is_none()
                && p.id.needs_bump()
                && id_backoff.is_none_or(|t| now >= t);
            let has_work = (!versions_known || wants_id)
                && has_work.unwrap_or_else(|| {
                    recbufs.iter().any(|rb| {
                        let g = rb.inner.lock();
                        g.batches.len() > g.inflight
                    })
                });
            if has_work && !versions_known {
                // The codec choice needs the broker's versions.
                versions_known = self
                    .p
                    .cluster
                    .ensure_versions(self.sink.broker, Duration::from_secs(5));
            }
            // A transactional producer loads and bumps its id only between
            // transactions (begin_transaction): a bump aborts the open one.
            if has_work && wants_id {
                id_backoff = self.load_id().err();
            }
            // Cleared before the scan, so an append that saw it set finds
            // its batch picked up here or by the reply that wakes us.
            self.sink
                .busy
                .store(!self.inflight.is_empty(), Ordering::SeqCst);
            let mut scan = None;
            while self.inflight.len() < self.max_inflight() {
                match self.drain(&recbufs) {
                    Drained::Sent(s) => scan = Some(s),
                    Drained::Nothing(s) => {
                        scan = s;
                        break;
                    }
                }
            }
            // The last collect saw every partition's next wake-up under the
            // lock it took anyway; when it stopped early at a full request,
            // the in-flight limit holds everything until a reply wakes us.
            let wait = match scan {
                Some(s) if s.all || self.inflight.len() >= self.max_inflight() => {
                    self.wait_until(s.next, id_backoff)
                }
                _ => self.next_wakeup(&recbufs, id_backoff),
            };
            // Replies are taken at the top of the loop.
            self.signal.wait_timeout(wait);
        }
    }

    /// Loads or bumps the producer id once nothing is in flight anywhere.
    /// Returns when to try again on failure.
    fn load_id(&self) -> std::result::Result<(), Instant> {
        if self.p.inflight_batches.load(Ordering::Acquire) > 0 {
            return Ok(());
        }
        match self.p.id.load(&self.p.cluster, None) {
            Ok(id) => {
                klog!(self.logger(), Info, "producer id loaded", "id" => id.id, "epoch" => id.epoch);
                self.p.wake_all_sinks();
                Ok(())
            }
            // As kgo: without InitProducerId (before Kafka 0.11, KIP-98) an
            // idempotent producer goes on without (transactions fail, `load`).
            Err(Error::BrokerTooOld { key: 22, .. }) => {
                klog!(self.logger(), Warn, "the broker does not support InitProducerId (Kafka 0.11+): producing without idempotence", "broker" => self.sink.broker);
                self.p.disable_idempotence();
                self.p.wake_all_sinks();
                Ok(())
            }
            Err(e) => {
                klog!(self.logger(), Warn, "unable to load producer id", "err" => e);
                if !e.is_retriable() {
                    // Nothing can be sent without an id: fail what is buffered.
                    for rb in self.sink.members() {
                        rb.fail_pending(&self.p, e.clone());
                    }
                }
                Err(Instant::now() + self.p.cluster.settings().retry_backoff(1))
            }
        }
    }

    fn next_wakeup(&self, recbufs: &[Arc<RecBuf>], id_backoff: Option<Instant>) -> Duration {
        let next = recbufs
            .iter()
            .filter_map(|rb| rb.inner.lock().next_wakeup())
            .min();
        self.wait_until(next, id_backoff)
    }

    /// How long to sleep: until the partitions' `next`, a backoff, or 250 ms.
    fn wait_until(&self, next: Option<Instant>, id_backoff: Option<Instant>) -> Duration {
        let now = Instant::now();
        let mut next = next.map_or(now + Duration::from_millis(250), |t| {
            t.min(now + Duration::from_millis(250))
        });
        if let Some(t) = id_backoff {
            next = next.min(t);
        }
        if let Some(t) = self.add_backoff {
            next = next.min(t);
        }
        next.saturating_duration_since(now)
    }

    /// The sink's broker handle, looked up again only when the broker set
    /// changed (a new generation), not on every drain.
    fn handle(&mut self) -> Option<Arc<BrokerHandle>> {
        let gen = self.p.cluster.broker_generation();
        if let Some((g, h)) = &self.handle {
            if *g == gen {
                return Some(h.clone());
            }
        }
        let h = self.p.cluster.handle(self.sink.broker)?;
        self.handle = Some((gen, h.clone()));
        Some(h)
    }

    /// Builds and sends one produce request, if anything is ready.
    fn drain(&mut self, recbufs: &[Arc<RecBuf>]) -> Drained {
        let p = self.p.clone();
        if p.txn.is_some() && !self.txn_prepare(recbufs) {
            return Drained::Nothing(None);
        }
        let idempotent = p.idempotent();
        let id = match (idempotent, p.id.usable()) {
            (true, None) => return Drained::Nothing(None),
            (_, id) => id.filter(|_| idempotent),
        };
        let flushing = p.flushing.load(Ordering::Acquire) > 0;
        if p.cfg.manual_flushing && !flushing {
            return Drained::Nothing(None);
        }
        let Some(handle) = self.handle() else {
            return Drained::Nothing(None);
        };
        let magic = p
            .cluster
            .version_for(self.sink.broker, 0, PRODUCE_VERSIONS.1)
            .map_or(2, magic_for_produce);
        let plan = Plan {
            id,
            codec: self.pick_codec(&handle),
            magic,
            flushing,
            busy: !self.inflight.is_empty(),
            max_bytes: p.cluster.settings().broker.broker_max_write_bytes as usize,
            now: Instant::now(),
        };
        let (parts, topics, scan) = self.collect(recbufs, &plan);
        self.rr = self.rr.wrapping_add(1);
        if parts.is_empty() {
            return Drained::Nothing(Some(scan));
        }
        self.send(&handle, parts, topics);
        Drained::Sent(scan)
    }

    /// Sends the assembled request; the reply comes back on `resp_rx`.
    fn send(&mut self, handle: &BrokerHandle, parts: Vec<SentPart>, topics: Vec<TopicBatches>) {
        let p = &self.p;
        p.inflight_batches.fetch_add(parts.len(), Ordering::AcqRel);
        let acks = p.cfg.acks.value();
        let timeout_ms = p.cfg.request_timeout.as_millis().min(i32::MAX as u128) as i32;
        // Encoded on the I/O thread with the records sections spliced in
        // from the batch buffers: they are not copied again.
        let body = ProduceBody {
            transactional_id: p.txn.as_ref().map(|t| t.id().to_string()),
            acks,
            timeout_ms,
            topics,
        };
        let id = self.next_req;
        self.next_req += 1;
        self.inflight.insert(
            id,
            Sent {
                parts,
                acks_zero: acks == 0,
            },
        );
        self.sink.busy.store(true, Ordering::SeqCst);
        let tx = self.resp_tx.clone();
        handle.submit_spliced::<ProduceRequest>(
            PRODUCE_VERSIONS,
            Some(timeout_ms),
            acks != 0,
            Box::new(move |version, buf, splices| body.encode(version, buf, splices)),
            move |res| tx.send((id, res)),
        );
    }

    fn pick_codec(
        &self,
        handle: &crate::broker::BrokerHandle,
    ) -> crate::producer::CompressionCodec {
        let max_produce = handle
            .versions()
            .and_then(|v| v.range(0))
            .map_or(PRODUCE_VERSIONS.1, |(_, max)| max);
        for c in &self.p.cfg.compression {
            // zstd needs produce v7 (Kafka 2.1, KIP-110).
            if c.codec != Codec::Zstd || max_produce >= 7 {
                return *c;
            }
        }
        crate::producer::CompressionCodec::none()
    }

    /// Stamps batch `idx` (idempotence) and fits it to the broker's message
    /// format. A v2 batch not yet encoded is sealed and its records taken,
    /// to be encoded outside the lock (`collect`); a message set (Kafka 0.10
    /// and older, the rare path) is encoded here.
    fn stamp(&mut self, g: &mut RecBufInner, idx: usize, plan: &Plan) -> Result<Option<V2Job>> {
        let (codec, magic) = (plan.codec, plan.magic);
        // Message sets carry no producer id or sequence.
        let id = plan.id.filter(|_| magic == 2);
        let next_seq = g.next_seq;
        let Some(b) = g.batches.get_mut(idx) else {
            return Err(Error::protocol("internal: batch vanished"));
        };
        b.fit_format(magic, codec, &mut self.scratch)?;
        if let (Some(id), None) = (id, b.stamp) {
            b.stamp = Some(Stamp {
                producer_id: id.id,
                epoch: id.epoch,
                base_sequence: next_seq,
                generation: id.generation,
            });
            // The sequence is the batch's once stamped, encoded or not.
            g.next_seq = next_seq.wrapping_add(b.len() as i32) & i32::MAX;
            if let Some(WireBatch {
                header: WireHeader::V2(h),
                records,
            }) = &mut b.wire
            {
                // Re-stamped after an epoch bump: patch the header, keep the body.
                set_header_sequence(h, records, id.id, id.epoch, next_seq);
            }
        }
        if b.wire.is_some() {
            return Ok(None);
        }
        let sealed_len = b.records.len();
        let job = if magic < 2 {
            b.encode_message_set(magic, codec, &mut self.scratch)?;
            None
        } else {
            Some(b.take_v2(self.p.txn.is_some()))
        };
        g.note_batch_len(sealed_len, self.p.cfg.batch_max_bytes as usize);
        Ok(job)
    }

    fn on_reply(&mut self, id: u64, res: Result<(i16, ProduceResponse)>) {
        let Some(sent) = self.inflight.remove(&id) else {
            return;
        };
        self.p
            .inflight_batches
            .fetch_sub(sent.parts.len(), Ordering::AcqRel);
        match res {
            Err(e) => {
                // The request's fate is unknown: resend everything, in order.
                klog!(self.logger(), Warn, "produce request failed, retrying", "broker" => self.sink.broker, "err" => e);
                // The first failure after a reply resends at once: a dropped
                // connection (an idle reap, a restart, a proxy) is most often
                // over by the reconnect, and a dial that fails fails the next
                // request, which backs off (as fetch sources do).
                let backoff = match self.first_failure_before {
                    None => {
                        self.first_failure_before = Some(self.next_req);
                        false
                    }
                    Some(before) => id >= before,
                };
                for (rb, batch, tries) in &sent.parts {
                    if !stale(rb, *batch, *tries) {
                        self.retry(rb, *batch, true, backoff);
                    }
                }
                self.p.cluster.trigger_metadata();
            }
            Ok((_, resp)) => {
                self.first_failure_before = None;
                self.learn_brokers(&resp);
                for (rb, batch, tries) in &sent.parts {
                    if stale(rb, *batch, *tries) {
                        continue;
                    }
                    let pr = resp
                        .responses
                        .iter()
                        .filter(|t| *t.name.0 == *rb.topic)
                        .flat_map(|t| t.partition_responses.iter())
                        .find(|pr| pr.index == rb.partition);
                    match pr {
                        None if sent.acks_zero => self.success(rb, *batch, -1, -1),
                        None => {
                            klog!(self.logger(), Warn, "produce response missing a partition", "topic" => rb.topic, "partition" => rb.partition);
                            self.retry(rb, *batch, false, true);
                        }
                        Some(pr) => self.on_partition(rb, *batch, pr),
                    }
                }
            }
        }
    }

    fn on_partition(&mut self, rb: &Arc<RecBuf>, batch: u64, pr: &PartitionProduceResponse) {
        let (code, base_offset, append_time) =
            (pr.error_code, pr.base_offset, pr.log_append_time_ms);
        let msg = pr.error_message.as_deref();
        let Some(err) = ErrorCode::from_code(code) else {
            return self.success(rb, batch, base_offset, append_time);
        };
        match err {
            // The broker already has this batch (older than its dedup window).
            ErrorCode::DuplicateSequenceNumber => self.success(rb, batch, base_offset, append_time),
            // A transactional producer fenced by a newer epoch stops for good;
            // its other sequence errors make the transaction abortable (the
            // epoch is bumped after the abort, KIP-360), never bumped mid-way.
            ErrorCode::InvalidProducerEpoch | ErrorCode::ProducerFenced if self.p.txn.is_some() => {
                self.fail_batch(rb, batch, Error::from(err));
                self.p.fail_fatal(Error::from(err));
            }
            ErrorCode::OutOfOrderSequenceNumber | ErrorCode::UnknownProducerId
                if self.p.txn.is_some() =>
            {
                self.fail_batch(rb, batch, Error::from(err));
            }
            ErrorCode::OutOfOrderSequenceNumber
            | ErrorCode::UnknownProducerId
            | ErrorCode::InvalidProducerEpoch => self.sequence_error(rb, batch, err),
            ErrorCode::NotLeaderOrFollower if self.follow_leader_hint(rb, batch, pr) => {
                // Metadata confirms the hint.
                self.p.cluster.trigger_metadata_now();
            }
            e if e.is_retriable() => {
                if matches!(
                    e,
                    ErrorCode::NotLeaderOrFollower
                        | ErrorCode::UnknownTopicOrPartition
                        | ErrorCode::LeaderNotAvailable
                        | ErrorCode::FencedLeaderEpoch
                        | ErrorCode::KafkaStorageError
                        | ErrorCode::NotEnoughReplicas
                ) {
                    self.p.cluster.trigger_metadata_now();
                }
                self.retry(rb, batch, false, true);
            }
            _ => self.fail_batch(
                rb,
                batch,
                Error::from_code_message(code, msg).unwrap_or(Error::from(err)),
            ),
        }
    }

    /// The batch was written: complete it (and any batches before it that
    /// were waiting on it, in order).
    fn success(&mut self, rb: &Arc<RecBuf>, batch: u64, base_offset: i64, append_time: i64) {
        let mut g = rb.inner.lock();
        let Some(pos) = g.batches.iter().position(|b| b.id == batch) else {
            return;
        };
        if pos != 0 {
            // An earlier batch of this partition is being retried; this
            // cannot be a real success under idempotence (the broker would
            // reject it as out of order): treat it as needing a retry.
            drop(g);
            return self.retry(rb, batch, false, true);
        }
        let Some(b) = g.batches.pop_front() else {
            return;
        };
        g.inflight = g.inflight.saturating_sub(1);
        g.buffered -= b.len() as i64;
        g.backoff_until = None;
        g.acked = true;
        let leader_epoch = g.leader_epoch;
        drop(g);
        let (pid, epoch) = b.stamp.map_or((-1, -1), |s| (s.producer_id, s.epoch));
        let metrics = ProduceBatchMetrics {
            num_records: b.len(),
            uncompressed_bytes: b.uncompressed,
            compressed_bytes: b.wire.as_ref().map_or(0, |w| w.records.len()),
            compression_type: b.codec_used as u8,
        };
        if let Some(meta) = self
            .p
            .cluster
            .handle(self.sink.broker)
            .map(|h| h.meta().clone())
        {
            hooks::each(&self.p.hooks, |h| {
                h.on_produce_batch_written(&meta, &rb.topic, rb.partition, &metrics)
            });
        }
        let attrs = (b.codec_used as i16)
            | if append_time >= 0 { 0x08 } else { 0 }
            | if self.p.txn.is_some() { 0x10 } else { 0 };
        let release = (b.len() as i64, b.user_bytes as i64);
        self.p.complete(Completion {
            topic: Some((rb.topic.clone(), rb.partition)),
            entries: b.entries,
            outcome: Outcome::Ok {
                base_offset,
                log_append_time: append_time,
                attrs,
                producer_id: pid,
                producer_epoch: epoch,
                leader_epoch,
            },
            release,
        });
        self.sink.wake();
    }

    /// Puts this batch and every later in-flight batch of the partition back
    /// to be resent in order. `unknown`: the request's outcome is unknown;
    /// `backoff`: wait the retry backoff before resending.
    fn retry(&mut self, rb: &Arc<RecBuf>, batch: u64, unknown: bool, backoff: bool) {
        let mut g = rb.inner.lock();
        let Some(pos) = g.batches.iter().position(|b| b.id == batch) else {
            return;
        };
        if !g.batches.get(pos).is_some_and(RecBatch::is_inflight) {
            return; // already reset by an earlier batch's failure
        }
        let mut reset = 0;
        for b in g.batches.iter_mut().skip(pos) {
            if b.is_inflight() {
                b.land(unknown);
                reset += 1;
            }
        }
        g.inflight = g.inflight.saturating_sub(reset);
        g.backoff_until = backoff.then(|| {
            let tries = g.batches.get(pos).map_or(1, |b| b.tries);
            Instant::now() + self.p.cluster.settings().retry_backoff(tries)
        });
        drop(g);
        let now = Instant::now();
        rb.fail_expired(&self.p, now);
    }

    /// OUT_OF_ORDER_SEQUENCE_NUMBER, UNKNOWN_PRODUCER_ID, INVALID_PRODUCER_EPOCH.
    fn sequence_error(&mut self, rb: &Arc<RecBuf>, batch: u64, err: ErrorCode) {
        let first_inflight = {
            let g = rb.inner.lock();
            g.batches.front().is_some_and(|b| b.id == batch)
        };
        if !first_inflight {
            // An earlier batch failed first; this one is resent after it.
            return self.retry(rb, batch, false, true);
        }
        if err == ErrorCode::OutOfOrderSequenceNumber {
            // The broker is missing what came before our first in-flight
            // batch: data loss (e.g. an unclean leader election truncated it).
            klog!(self.logger(), Error, "data loss detected while producing", "topic" => rb.topic, "partition" => rb.partition);
            if self.p.cfg.stop_on_data_loss {
                let e = Error::from(err);
                *self.p.stopped.lock() = Some(e.clone());
                self.p.has_stopped.store(true, Ordering::Release);
                return self.fail_batch(rb, batch, e);
            }
            if let Some(f) = &self.p.cfg.on_data_loss {
                f(&rb.topic, rb.partition);
            }
        }
        // KIP-360: bump the epoch (sequences restart at 0) and resend.
        self.p.id.request_bump();
        self.retry(rb, batch, false, true);
    }

    /// Fails one batch with a non-retriable error; later batches keep going
    /// (re-stamped after an epoch bump when idempotent, since the failed
    /// batch leaves a sequence hole).
    fn fail_batch(&mut self, rb: &Arc<RecBuf>, batch: u64, err: Error) {
        let mut g = rb.inner.lock();
        let Some(pos) = g.batches.iter().position(|b| b.id == batch) else {
            return;
        };
        let Some(b) = g.batches.remove(pos) else {
            return;
        };
        if b.is_inflight() {
            g.inflight = g.inflight.saturating_sub(1);
        }
        // Later in-flight batches will fail out of order: resend them.
        let mut reset = 0;
        for later in g.batches.iter_mut().skip(pos) {
            if later.is_inflight() {
                later.land(false);
                reset += 1;
            }
        }
        g.inflight = g.inflight.saturating_sub(reset);
        rb.after_fail(&self.p, &mut g, std::slice::from_ref(&b));
        drop(g);
        klog!(self.logger(), Warn, "produce failed", "topic" => rb.topic, "partition" => rb.partition, "err" => err);
        self.p.complete(Completion::failed(rb, b, err));
    }
}

impl Producer {
    pub(crate) fn wake_all_sinks(&self) {
        for s in self.sinks.lock().values() {
            s.wake();
        }
    }
}
