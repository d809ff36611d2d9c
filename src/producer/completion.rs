//! Finishing records: the `ks-prom` thread runs callbacks in order; the
//! result types of the synchronous produce calls.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::Duration;

use crossbeam_channel::Receiver;

use super::buffer::Producer;
use super::recbuf::{RecBatch, RecBuf};
use crate::error::{Error, Result};
use crate::hooks;
use crate::record::{Record, RecordAttrs};
use crate::sync::worker::Signal;

/// Where one produced record's result goes.
pub(crate) enum Callback {
    /// A user callback, boxed (an allocation unless it captures nothing).
    Boxed(Box<dyn FnOnce(Record, Result<()>) + Send>),
    /// Slot `.1` of a collector (`produce_batch`): no allocation per record.
    Slot(Arc<dyn SlotSink>, usize),
}

/// A collector of results by slot (see [`Callback::Slot`]).
pub(crate) trait SlotSink: Send + Sync {
    /// Takes the result of the record produced for `slot`.
    fn fill(&self, slot: usize, record: Record, res: Result<()>);
}

impl Callback {
    /// Delivers the result.
    pub(crate) fn call(self, record: Record, res: Result<()>) {
        match self {
            Callback::Boxed(f) => f(record, res),
            Callback::Slot(s, i) => s.fill(i, record, res),
        }
    }
}

/// What happened to a batch.
pub(crate) enum Outcome {
    /// Written: base offset, log append time (-1: CreateTime), attributes,
    /// producer id and epoch, leader epoch.
    Ok {
        base_offset: i64,
        log_append_time: i64,
        attrs: i16,
        producer_id: i64,
        producer_epoch: i16,
        leader_epoch: i32,
    },
    Err(Error),
}

/// Records to finish, in order.
pub(crate) struct Completion {
    pub(crate) topic: Option<(std::sync::Arc<str>, i32)>,
    pub(crate) entries: Vec<(Record, Callback)>,
    pub(crate) outcome: Outcome,
    /// Buffer slots to free after the callbacks: (records, bytes).
    pub(crate) release: (i64, i64),
}

impl Completion {
    pub(crate) fn failed(rb: &RecBuf, b: RecBatch, err: Error) -> Completion {
        let release = (b.entries.len() as i64, b.user_bytes as i64);
        Completion {
            topic: Some((rb.topic.clone(), rb.partition)),
            entries: b.entries,
            outcome: Outcome::Err(err),
            release,
        }
    }
}

/// The `ks-prom` loop: callbacks in arrival order, which is per-partition
/// order because sinks complete a partition's batches in order. Between
/// completions it sweeps delivery timeouts of partitions no sink watches.
pub(crate) fn run(rx: Receiver<Completion>, signal: &Signal, producer: Weak<Producer>) {
    loop {
        match rx.try_recv() {
            Ok(c) => {
                let Some(p) = producer.upgrade() else { return };
                finish(&p, c);
            }
            Err(crossbeam_channel::TryRecvError::Empty) => {
                // Senders notify after sending; a wait that ends unnotified
                // means 200 ms without completions.
                if !signal.wait_timeout(Duration::from_millis(200)) && rx.is_empty() {
                    let Some(p) = producer.upgrade() else { return };
                    if !p.closed.load(Ordering::Acquire) {
                        p.sweep_timeouts();
                    }
                }
            }
            Err(crossbeam_channel::TryRecvError::Disconnected) => return,
        }
    }
}

/// Runs one completion's callbacks, then frees its buffer slots.
pub(crate) fn finish(p: &Producer, c: Completion) {
    let Completion {
        topic,
        mut entries,
        outcome,
        release,
    } = c;
    let partition = topic.as_ref().map(|(_, p)| *p);
    // A panicking callback must not take the client's thread down (and with
    // it every later callback): contain it, log it, go on with the next
    // record. One catch_unwind around the loop rather than one per record:
    // a closure per record moved each record (~150 bytes) once more.
    let mut it = entries.drain(..).enumerate();
    loop {
        let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            for (i, (r, cb)) in &mut it {
                finish_one(p, partition, &outcome, i, r, cb);
            }
        }));
        if run.is_ok() {
            break;
        }
        crate::logger::klog!(
            p.cluster.logger(),
            Error,
            "a produce callback panicked; continuing"
        );
    }
    drop(it);
    // The emptied Vec is the next batch's.
    p.pool.give_entries(entries);
    p.release(release.0, release.1);
}

/// Sets what the outcome says on the record, runs hooks and its callback.
#[inline]
fn finish_one(
    p: &Producer,
    partition: Option<i32>,
    outcome: &Outcome,
    i: usize,
    mut r: Record,
    cb: Callback,
) {
    if let Some(partition) = partition {
        r.partition = partition;
    }
    let res = match outcome {
        Outcome::Ok {
            base_offset,
            log_append_time,
            attrs,
            producer_id,
            producer_epoch,
            leader_epoch,
        } => {
            r.offset = if *base_offset >= 0 {
                base_offset + i as i64
            } else {
                i as i64
            };
            if *log_append_time >= 0 {
                r.timestamp = *log_append_time;
            }
            r.attrs = RecordAttrs(*attrs);
            r.producer_id = *producer_id;
            r.producer_epoch = *producer_epoch;
            r.leader_epoch = *leader_epoch;
            Ok(())
        }
        Outcome::Err(e) => Err(e.clone()),
    };
    if !p.hooks.is_empty() {
        let err = res.as_ref().err();
        hooks::each(&p.hooks, |h| h.on_produce_record_unbuffered(&r, err));
    }
    cb.call(r, res);
}

/// The result of producing one record synchronously (kgo's `ProduceResult`).
#[derive(Debug, Clone)]
pub struct ProduceResult {
    /// The record, with offset and partition set if it was produced.
    pub record: Record,
    /// The error, if it was not produced.
    pub err: Option<Error>,
}

/// The results of [`Client::produce_sync`](crate::Client::produce_sync), in
/// the order the records were given (kgo's `ProduceResults`).
#[derive(Debug, Clone, Default)]
pub struct ProduceResults(pub Vec<ProduceResult>);

impl ProduceResults {
    /// The first record and its result (handy for one record).
    ///
    /// # Errors
    ///
    /// The first record's error, or [`Error::Config`] when there are no results.
    pub fn first(&self) -> Result<&Record> {
        match self.0.first() {
            Some(ProduceResult { err: Some(e), .. }) => Err(e.clone()),
            Some(ProduceResult { record, .. }) => Ok(record),
            None => Err(Error::config("no records were produced")),
        }
    }

    /// The first error, if any record failed.
    pub fn first_err(&self) -> Option<&Error> {
        self.0.iter().find_map(|r| r.err.as_ref())
    }

    /// Whether every record was produced.
    pub fn is_ok(&self) -> bool {
        self.first_err().is_none()
    }
}

impl IntoIterator for ProduceResults {
    type Item = ProduceResult;
    type IntoIter = std::vec::IntoIter<ProduceResult>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}
