//! Producing: the [`Client`] methods of kgo's producer (`Produce`,
//! `ProduceSync`, `Flush`, `AbortBufferedRecords`, ...) over the producer
//! engine, plus the synchronous helpers built on callbacks
//! ([`produce_batch`](Client::produce_batch), [`FirstErrPromise`]).

use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use super::Client;
use crate::error::{Error, Result};
use crate::producer::{BufferWait, Callback, ProduceResult, ProduceResults, Producer, SlotSink};
use crate::record::Record;
use crate::sync::deadline_after;

impl Client {
    /// The producer, started on first use. Lock-free once started.
    pub(crate) fn producer(&self) -> Result<&Arc<Producer>> {
        if let Some(p) = self.inner.producer.get() {
            return Ok(p);
        }
        let _g = self.inner.producer_init.lock();
        if self.is_closed() {
            return Err(Error::ClientClosed);
        }
        if let Some(p) = self.inner.producer.get() {
            return Ok(p);
        }
        let p = Producer::start(self.inner.cluster.clone(), self.inner.cfg.producer.clone())?;
        Ok(self.inner.producer.get_or_init(|| p))
    }

    /// Produces `record`, calling `callback` exactly once with the record
    /// (its partition, offset, timestamp and attributes set on success) and
    /// the result (kgo's `Produce`).
    ///
    /// Callbacks run on the client's `ks-prom` thread, in order per
    /// partition; they must be quick and must not block on the client.
    /// Records still buffered at close fail with
    /// [`Error::ClientClosed`] on `ks-prom` too. One case runs the callback
    /// on the calling thread, before `produce` returns: a record the client
    /// cannot take at all (the client is already closed, or the producer
    /// could not start), so do not hold a lock the callback takes.
    ///
    /// # Blocking
    ///
    /// While `max_buffered_records` (or `max_buffered_bytes`) are buffered,
    /// until space frees up or the client closes; with manual flushing it
    /// fails with [`Error::MaxBuffered`] instead. See
    /// [`produce_deadline`](Self::produce_deadline) to bound the wait and
    /// [`try_produce`](Self::try_produce) not to wait.
    pub fn produce(
        &self,
        record: Record,
        callback: impl FnOnce(Record, Result<()>) + Send + 'static,
    ) {
        self.produce_inner(
            record,
            Callback::Boxed(Box::new(callback)),
            BufferWait::Forever,
        );
    }

    /// [`produce`](Self::produce) that never waits for buffer space: with
    /// the buffer full, the record fails at once with [`Error::MaxBuffered`]
    /// (kgo's `TryProduce`).
    pub fn try_produce(
        &self,
        record: Record,
        callback: impl FnOnce(Record, Result<()>) + Send + 'static,
    ) {
        self.produce_inner(
            record,
            Callback::Boxed(Box::new(callback)),
            BufferWait::Never,
        );
    }

    /// [`produce`](Self::produce) whose record lives at most `timeout`
    /// unless written; see [`produce_deadline`](Self::produce_deadline).
    pub fn produce_timeout(
        &self,
        record: Record,
        timeout: Duration,
        callback: impl FnOnce(Record, Result<()>) + Send + 'static,
    ) {
        self.produce_deadline(record, deadline_after(timeout), callback);
    }

    /// [`produce`](Self::produce) whose record lives until `deadline`
    /// unless written first (kgo's `Produce` with a context that is
    /// canceled at the deadline).
    ///
    /// The deadline bounds the record's whole life, not only the wait for
    /// buffer space. When it passes before the record is written, the record
    /// fails with [`Error::Timeout`]: at once if it is still waiting for
    /// buffer space or for its topic's metadata; once buffered in a
    /// partition, as soon as that is safe, that is, when nothing of the
    /// partition is in flight. Then every record buffered for the partition
    /// fails with it, in order, as with `record_delivery_timeout`: a
    /// partition's records never fail with a gap, so records produced
    /// after it (with or without a deadline) fail too. A record already
    /// written when the deadline passes is not failed; its callback reports
    /// what the broker answered.
    ///
    /// # Blocking
    ///
    /// As [`produce`](Self::produce), until `deadline` at most.
    pub fn produce_deadline(
        &self,
        record: Record,
        deadline: Instant,
        callback: impl FnOnce(Record, Result<()>) + Send + 'static,
    ) {
        self.produce_inner(
            record,
            Callback::Boxed(Box::new(callback)),
            BufferWait::Until(deadline),
        );
    }

    // A Record is ~150 bytes, and each layer it passed through by value
    // was a memcpy (about eight per record, most of the remaining memmove
    // in a 100 B produce run): below here it goes by reference and is taken
    // once, into its batch (or its failure).
    #[inline]
    fn produce_inner(&self, mut record: Record, cb: Callback, wait: BufferWait) {
        match self.producer() {
            Ok(p) => p.produce(&mut record, cb, wait),
            Err(e) => cb.call(record, Err(e)),
        }
    }

    /// Produces `records` and waits for all of them (kgo's `ProduceSync`).
    ///
    /// # Blocking
    ///
    /// Until every record is acknowledged or failed.
    pub fn produce_sync(&self, records: impl IntoIterator<Item = Record>) -> ProduceResults {
        self.produce_batch(records)
    }

    /// [`produce_sync`](Self::produce_sync) within `timeout`; see
    /// [`produce_batch_deadline`](Self::produce_batch_deadline).
    pub fn produce_sync_timeout(
        &self,
        records: impl IntoIterator<Item = Record>,
        timeout: Duration,
    ) -> ProduceResults {
        self.produce_batch_timeout(records, timeout)
    }

    /// [`produce_sync`](Self::produce_sync) until `deadline`; see
    /// [`produce_batch_deadline`](Self::produce_batch_deadline).
    pub fn produce_sync_deadline(
        &self,
        records: impl IntoIterator<Item = Record>,
        deadline: Instant,
    ) -> ProduceResults {
        self.produce_batch_deadline(records, deadline)
    }

    /// Produces `records` and waits for all of them, returning their results
    /// in the order given (asked for by kgo users as a batch call).
    ///
    /// # Blocking
    ///
    /// Until every record is acknowledged or failed.
    pub fn produce_batch(&self, records: impl IntoIterator<Item = Record>) -> ProduceResults {
        produce_and_wait(self, records, None)
    }

    /// [`produce_batch`](Self::produce_batch) that returns within `timeout`;
    /// see [`produce_batch_deadline`](Self::produce_batch_deadline).
    pub fn produce_batch_timeout(
        &self,
        records: impl IntoIterator<Item = Record>,
        timeout: Duration,
    ) -> ProduceResults {
        self.produce_batch_deadline(records, deadline_after(timeout))
    }

    /// [`produce_batch`](Self::produce_batch) that returns by `deadline`;
    /// records not finished by then are reported with [`Error::Timeout`].
    /// Each record is produced with
    /// [`produce_deadline`](Self::produce_deadline), so those not yet
    /// written also fail from the buffer once that is safe; one in flight
    /// at the deadline may still be written.
    ///
    /// # Blocking
    ///
    /// Until every record is acknowledged or failed, or `deadline`.
    pub fn produce_batch_deadline(
        &self,
        records: impl IntoIterator<Item = Record>,
        deadline: Instant,
    ) -> ProduceResults {
        produce_and_wait(self, records, Some(deadline))
    }

    /// Waits until every buffered record is acknowledged or failed, sending
    /// lingering batches at once (kgo's `Flush`).
    ///
    /// # Errors
    ///
    /// [`Error::ClientClosed`] if the client closes first.
    pub fn flush(&self) -> Result<()> {
        self.flush_inner(None)
    }

    /// [`flush`](Self::flush) within `timeout`.
    ///
    /// # Errors
    ///
    /// [`Error::Timeout`] when time runs out, [`Error::ClientClosed`] on close.
    pub fn flush_timeout(&self, timeout: Duration) -> Result<()> {
        self.flush_inner(Some(deadline_after(timeout)))
    }

    /// [`flush`](Self::flush) until `deadline`.
    ///
    /// # Errors
    ///
    /// [`Error::Timeout`] at the deadline, [`Error::ClientClosed`] on close.
    pub fn flush_deadline(&self, deadline: Instant) -> Result<()> {
        self.flush_inner(Some(deadline))
    }

    fn flush_inner(&self, deadline: Option<Instant>) -> Result<()> {
        match self.inner.producer.get() {
            Some(p) => p.flush(deadline),
            None if self.is_closed() => Err(Error::ClientClosed),
            None => Ok(()),
        }
    }

    /// Fails every buffered record with [`Error::Aborting`] and waits until
    /// nothing is buffered (kgo's `AbortBufferedRecords`). Requests already
    /// in flight finish first. Do not produce concurrently.
    ///
    /// # Errors
    ///
    /// [`Error::ClientClosed`] on close.
    pub fn abort_buffered_records(&self) -> Result<()> {
        self.abort_inner(None)
    }

    /// [`abort_buffered_records`](Self::abort_buffered_records) within `timeout`.
    ///
    /// # Errors
    ///
    /// [`Error::Timeout`] when time runs out, [`Error::ClientClosed`] on close.
    pub fn abort_buffered_records_timeout(&self, timeout: Duration) -> Result<()> {
        self.abort_inner(Some(deadline_after(timeout)))
    }

    /// [`abort_buffered_records`](Self::abort_buffered_records) until `deadline`.
    ///
    /// # Errors
    ///
    /// [`Error::Timeout`] at the deadline, [`Error::ClientClosed`] on close.
    pub fn abort_buffered_records_deadline(&self, deadline: Instant) -> Result<()> {
        self.abort_inner(Some(deadline))
    }

    fn abort_inner(&self, deadline: Option<Instant>) -> Result<()> {
        match self.inner.producer.get() {
            Some(p) => p.abort(deadline),
            None => Ok(()),
        }
    }

    /// How many records are buffered for producing (kgo's `BufferedProduceRecords`).
    pub fn buffered_produce_records(&self) -> i64 {
        self.inner
            .producer
            .get()
            .map_or(0, |p| p.buffered_records())
    }
}

struct Gather {
    slots: Mutex<(Vec<Option<ProduceResult>>, usize)>,
    done: Condvar,
}

impl SlotSink for Gather {
    fn fill(&self, i: usize, record: Record, res: Result<()>) {
        let mut s = self.slots.lock();
        if let Some(slot) = s.0.get_mut(i) {
            *slot = Some(ProduceResult {
                record,
                err: res.err(),
            });
        }
        s.1 += 1;
        if s.1 == s.0.len() {
            self.done.notify_all();
        }
    }
}

/// Produces `records` and waits for all of them, or until `deadline`: then
/// records not yet finished are reported as [`Error::Timeout`] (the
/// deadline fails them from the buffer too; one in flight may still be
/// written).
fn produce_and_wait(
    client: &Client,
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
    // One slot callback per record: an Arc clone, no allocation.
    let wait = deadline.map_or(BufferWait::Forever, BufferWait::Until);
    for (i, r) in records.into_iter().enumerate() {
        let sink: Arc<dyn SlotSink> = g.clone();
        client.produce_inner(r, Callback::Slot(sink, i), wait);
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
    abort_on: Option<Client>,
}

impl std::fmt::Debug for FirstErrPromise {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FirstErrPromise").finish_non_exhaustive()
    }
}

impl FirstErrPromise {
    /// A promise collector; with a client, the first error also aborts its
    /// buffered records (kgo's `AbortingFirstErrPromise`).
    pub fn new(abort_on: Option<Client>) -> FirstErrPromise {
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
                    // (ks-prom) thread: do it on a named thread of its own,
                    // started through the client's thread hook like every other.
                    let hook = c.inner.cfg.on_thread_start.clone();
                    let _ = crate::sync::thread::spawn_named("ks-abort".into(), hook, move || {
                        let _ = c.abort_buffered_records();
                    });
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
