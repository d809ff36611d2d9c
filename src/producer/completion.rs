//! Finishing records: the `ks-prom` thread runs callbacks in order, and the
//! synchronous helpers (`produce_sync`, `produce_batch`, [`FirstErrPromise`]).

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;
use parking_lot::{Condvar, Mutex};

use super::buffer::{Producer, RecBatch, RecBuf};
use super::Callback;
use crate::error::{Error, Result};
use crate::hooks;
use crate::record::{Record, RecordAttrs};

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
pub(crate) fn run(rx: Receiver<Completion>, producer: Weak<Producer>) {
    loop {
        match rx.recv_timeout(Duration::from_millis(200)) {
            Ok(c) => {
                let Some(p) = producer.upgrade() else { return };
                finish(&p, c);
            }
            Err(crossbeam_channel::RecvTimeoutError::Timeout) => {
                let Some(p) = producer.upgrade() else { return };
                if !p.closed.load(Ordering::Acquire) {
                    p.sweep_timeouts();
                }
            }
            Err(crossbeam_channel::RecvTimeoutError::Disconnected) => return,
        }
    }
}

/// Runs one completion's callbacks, then frees its buffer slots.
pub(crate) fn finish(p: &Producer, c: Completion) {
    let Completion {
        topic,
        entries,
        outcome,
        release,
    } = c;
    for (i, (mut r, cb)) in entries.into_iter().enumerate() {
        if let Some((_, partition)) = &topic {
            r.partition = *partition;
        }
        let res = match &outcome {
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
        // A panicking callback must not take the client's thread down (and
        // with it every later callback): contain it and log it.
        if std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || cb(r, res))).is_err() {
            let logger = p.client().and_then(|c| c.inner.cfg.logger.clone());
            crate::logger::klog!(
                logger.as_deref(),
                Error,
                "a produce callback panicked; continuing"
            );
        }
    }
    p.release(release.0, release.1);
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

struct Gather {
    slots: Mutex<(Vec<Option<ProduceResult>>, usize)>,
    done: Condvar,
}

/// Produces `records` and waits for all of them, or until `deadline`: then
/// records not yet finished are reported as [`Error::Timeout`] (they stay
/// buffered and may still be written).
pub(crate) fn produce_and_wait(
    client: &crate::Client,
    records: impl IntoIterator<Item = Record>,
    deadline: Option<Instant>,
) -> ProduceResults {
    let records: Vec<Record> = records.into_iter().collect();
    let n = records.len();
    // With a deadline, keep copies (cheap: `Bytes` are shared) to report the
    // records that did not finish in time.
    let copies: Vec<Record> = if deadline.is_some() {
        records.clone()
    } else {
        Vec::new()
    };
    let g = Arc::new(Gather {
        slots: Mutex::new(((0..n).map(|_| None).collect(), 0)),
        done: Condvar::new(),
    });
    for (i, r) in records.into_iter().enumerate() {
        let g = g.clone();
        let cb = move |record, res: Result<()>| {
            let mut s = g.slots.lock();
            if let Some(slot) = s.0.get_mut(i) {
                *slot = Some(ProduceResult {
                    record,
                    err: res.err(),
                });
            }
            s.1 += 1;
            if s.1 == n {
                g.done.notify_all();
            }
        };
        match deadline {
            Some(d) => client.produce_deadline(r, d, cb),
            None => client.produce(r, cb),
        }
    }
    let mut s = g.slots.lock();
    while s.1 < n {
        match deadline {
            Some(d) => {
                if g.done.wait_until(&mut s, d).timed_out() && Instant::now() >= d {
                    break;
                }
            }
            None => g.done.wait(&mut s),
        }
    }
    let mut copies = copies.into_iter();
    let out =
        s.0.iter_mut()
            .map(|slot| {
                let copy = copies.next();
                slot.take().unwrap_or_else(|| ProduceResult {
                    record: copy.unwrap_or_default(),
                    err: Some(Error::Timeout(crate::error::TimeoutKind::Caller)),
                })
            })
            .collect();
    ProduceResults(out)
}

/// Keeps the first error of many produced records (kgo's `FirstErrPromise`).
///
/// ```no_run
/// # let client = kafka_sync::Client::builder().build()?;
/// let first = kafka_sync::FirstErrPromise::new(None);
/// for i in 0..10 {
///     client.produce(kafka_sync::Record::string(format!("{i}")).with_topic("t"), first.promise());
/// }
/// first.err()?;
/// # Ok::<(), kafka_sync::Error>(())
/// ```
#[derive(Clone)]
pub struct FirstErrPromise {
    inner: Arc<FirstErrInner>,
}

struct FirstErrInner {
    state: Mutex<(usize, Option<Error>)>,
    done: Condvar,
    abort_on: Option<crate::Client>,
}

impl std::fmt::Debug for FirstErrPromise {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FirstErrPromise").finish_non_exhaustive()
    }
}

impl FirstErrPromise {
    /// A promise collector; with a client, the first error also aborts its
    /// buffered records (kgo's `AbortingFirstErrPromise`).
    pub fn new(abort_on: Option<crate::Client>) -> FirstErrPromise {
        FirstErrPromise {
            inner: Arc::new(FirstErrInner {
                state: Mutex::new((0, None)),
                done: Condvar::new(),
                abort_on,
            }),
        }
    }

    /// A callback for one produced record. Every callback handed out must run
    /// before [`err`](Self::err) returns.
    pub fn promise(&self) -> impl FnOnce(Record, Result<()>) + Send + 'static {
        self.inner.state.lock().0 += 1;
        let inner = self.inner.clone();
        move |_r, res| {
            let mut first_err = false;
            {
                let mut s = inner.state.lock();
                s.0 -= 1;
                if let Err(e) = res {
                    if s.1.is_none() {
                        s.1 = Some(e);
                        first_err = true;
                    }
                }
                inner.done.notify_all();
            }
            if first_err {
                if let Some(c) = inner.abort_on.clone() {
                    // Aborting waits for the buffer to drain, which needs this
                    // (ks-prom) thread: do it elsewhere.
                    std::thread::Builder::new()
                        .name("ks-abort".into())
                        .spawn(move || {
                            let _ = c.abort_buffered_records(None);
                        })
                        .ok();
                }
            }
        }
    }

    /// Waits for every promise handed out, returning the first error.
    ///
    /// # Errors
    ///
    /// The first error any record failed with.
    pub fn err(&self) -> Result<()> {
        let mut s = self.inner.state.lock();
        while s.0 > 0 {
            self.inner.done.wait(&mut s);
        }
        match &s.1 {
            Some(e) => Err(e.clone()),
            None => Ok(()),
        }
    }
}
