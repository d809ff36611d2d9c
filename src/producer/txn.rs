//! Transactions: the transactional producer's state and its coordinator
//! requests (Java's `TransactionManager`, kgo's `txn.go`).
//!
//! ```text
//!  begin_transaction      sink drain (ks-sink-<id>)        end_transaction
//!  -----------------      -------------------------        ---------------
//!  load / bump the id     partitions with unsent batches   commit: flush; refuse if a
//!  phase = Open           not yet in the transaction ->    record failed (abort instead)
//!                         one AddPartitionsToTxn, then     abort: fail what is unsent
//!                         the produce request              EndTxn, CONCURRENT_TRANSACTIONS
//!                                                          retried; phase = Idle
//! ```
//!
//! Phases: `Idle` (no transaction; produce fails with `NotInTransaction`),
//! `Open` (producing), `Ending` (end_transaction running: no new records,
//! but what is buffered still joins the transaction while flushing).
//!
//! Errors: PRODUCER_FENCED, INVALID_PRODUCER_EPOCH and
//! TRANSACTIONAL_ID_AUTHORIZATION_FAILED are fatal (the id stops for good,
//! every buffered record fails, every later call fails). Any failed record
//! makes the transaction abortable: a commit is refused with
//! OPERATION_NOT_ATTEMPTED until it is aborted. Sequence errors (and any
//! failed batch, which leaves a sequence hole) ask for an epoch bump, done
//! by the next `begin_transaction` after the abort (KIP-360, InitProducerId
//! v3+ with the current id and epoch). An EndTxn whose outcome is unknown
//! leaves the transaction open and unconfirmed: a commit retry is refused,
//! an abort bumps the epoch, which makes the coordinator abort whatever is
//! still open (Java's `TransactionManager` after an unknown EndTxn result).

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use parking_lot::Mutex;

use super::buffer::Producer;
use super::id::ProducerIdEpoch;
use super::recbuf::RecBuf;
use crate::error::{Error, ErrorCode, Result};
use crate::logger::klog;
use crate::messages::add_partitions_to_txn_request::AddPartitionsToTxnTopic;
use crate::messages::{
    AddOffsetsToTxnRequest, AddPartitionsToTxnRequest, EndTxnRequest, GroupId, ProducerId,
    StrBytes, TopicName, TransactionalId,
};

/// Where the transaction is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Idle,
    Open,
    Ending,
}

#[derive(Debug)]
struct Inner {
    phase: Phase,
    /// Partitions added to the transaction on the coordinator.
    added: HashSet<(Arc<str>, i32)>,
    /// Whether AddOffsetsToTxn added a group's offsets.
    offsets_added: bool,
    /// Whether any AddPartitionsToTxn or AddOffsetsToTxn was sent, answered
    /// or not: the coordinator may hold an open transaction.
    attempted: bool,
    /// The first record failure of this transaction: it must abort.
    failed: Option<Error>,
    /// An EndTxn was sent and its outcome is unknown.
    unconfirmed: bool,
}

/// The transactional state of one producer.
#[derive(Debug)]
pub(crate) struct Txn {
    id: String,
    timeout_ms: i32,
    inner: Mutex<Inner>,
    /// `phase == Open`, read by every produce without the lock.
    open: AtomicBool,
    /// Serializes begin, end and the offsets commit (kgo's `txnMu`).
    op: Mutex<()>,
}

impl Txn {
    /// The transactional id.
    pub(crate) fn id(&self) -> &str {
        &self.id
    }

    pub(crate) fn new(id: String, timeout_ms: i32) -> Txn {
        Txn {
            id,
            timeout_ms,
            inner: Mutex::new(Inner {
                phase: Phase::Idle,
                added: HashSet::new(),
                offsets_added: false,
                attempted: false,
                failed: None,
                unconfirmed: false,
            }),
            open: AtomicBool::new(false),
            op: Mutex::new(()),
        }
    }

    /// The id and timeout InitProducerId carries.
    pub(crate) fn init_args(&self) -> (&str, i32) {
        (&self.id, self.timeout_ms)
    }

    /// Whether a record may be produced now.
    pub(crate) fn producing(&self) -> bool {
        self.open.load(Ordering::Acquire)
    }

    /// Sets the phase; the caller holds the state lock.
    fn set_phase(&self, g: &mut Inner, phase: Phase) {
        g.phase = phase;
        self.open.store(phase == Phase::Open, Ordering::Release);
    }

    /// Whether a transaction is begun (open or ending).
    pub(crate) fn in_transaction(&self) -> bool {
        self.inner.lock().phase != Phase::Idle
    }

    /// Notes a failed record: the transaction can only abort now.
    pub(crate) fn note_failure(&self, e: &Error) {
        let mut g = self.inner.lock();
        if g.phase != Phase::Idle && g.failed.is_none() {
            g.failed = Some(e.clone());
        }
    }

    /// The failure that makes the transaction abortable, if any.
    pub(crate) fn failure(&self) -> Option<Error> {
        self.inner.lock().failed.clone()
    }

    /// Of `parts`, those not yet added to the transaction.
    pub(crate) fn not_added(&self, parts: &[Arc<RecBuf>]) -> Vec<Arc<RecBuf>> {
        let g = self.inner.lock();
        parts
            .iter()
            .filter(|rb| !g.added.contains(&(rb.topic.clone(), rb.partition)))
            .cloned()
            .collect()
    }

    /// Whether the partition is in the transaction.
    pub(crate) fn is_added(&self, rb: &RecBuf) -> bool {
        self.inner
            .lock()
            .added
            .contains(&(rb.topic.clone(), rb.partition))
    }

    fn reset(&self) {
        let mut g = self.inner.lock();
        self.set_phase(&mut g, Phase::Idle);
        g.added.clear();
        g.offsets_added = false;
        g.attempted = false;
        g.failed = None;
        g.unconfirmed = false;
    }
}

/// Whether a transaction error stops the producer for good.
fn is_fatal(code: ErrorCode) -> bool {
    matches!(
        code,
        ErrorCode::ProducerFenced
            | ErrorCode::InvalidProducerEpoch
            | ErrorCode::TransactionalIdAuthorizationFailed
            | ErrorCode::ClusterAuthorizationFailed
    )
}

/// Whether an error leaves an EndTxn's outcome unknown: the request may have
/// reached the coordinator.
fn outcome_unknown(e: &Error) -> bool {
    e.is_connection()
        || matches!(e, Error::Timeout(_))
        || e.kafka_code() == Some(ErrorCode::UnknownServerError)
        || e.is_retriable()
}

impl Producer {
    fn txn(&self) -> Result<&Txn> {
        self.txn
            .as_ref()
            .ok_or_else(|| Error::Transaction("the client has no transactional_id".into()))
    }

    /// The failure that makes the current transaction abortable.
    pub(crate) fn txn_failure(&self) -> Option<Error> {
        self.txn.as_ref().and_then(Txn::failure)
    }

    /// Notes a failure (of the offsets commit) that makes the transaction
    /// abortable.
    pub(crate) fn txn_note_failure(&self, e: &Error) {
        if let Some(t) = &self.txn {
            t.note_failure(e);
        }
    }

    /// kgo's `BeginTransaction`: loads (or, after an abortable error, bumps)
    /// the producer id, then opens a transaction.
    pub(crate) fn begin_transaction(&self, deadline: Instant) -> Result<()> {
        let txn = self.txn()?;
        let _op = txn.op.lock();
        if let Some(e) = self.id.fatal() {
            return Err(e);
        }
        if txn.in_transaction() {
            return Err(Error::Transaction(
                "a transaction is already begun; end it first".into(),
            ));
        }
        if self.id.needs_bump() {
            self.txn_load_id(deadline)?;
        }
        txn.reset();
        txn.set_phase(&mut txn.inner.lock(), Phase::Open);
        klog!(self.cluster.logger(), Info, "beginning transaction", "transactional_id" => txn.id);
        Ok(())
    }

    /// InitProducerId for the transactional id, retried while the
    /// coordinator finishes the previous epoch's transaction
    /// (CONCURRENT_TRANSACTIONS). Waits for nothing to be in flight first.
    fn txn_load_id(&self, deadline: Instant) -> Result<ProducerIdEpoch> {
        let txn = self.txn()?;
        // An epoch bump must not race a batch in flight: nothing may be
        // buffered (no record is taken outside an open transaction).
        self.wait_empty(Some(deadline))?;
        let id = self.cluster.retry(22, Some(deadline), |_| {
            self.id.load(&self.cluster, Some(txn.init_args()))
        })?;
        klog!(self.cluster.logger(), Info, "transactional producer id loaded", "transactional_id" => txn.id, "id" => id.id, "epoch" => id.epoch);
        self.wake_all_sinks();
        Ok(id)
    }

    /// kgo's `EndTransaction`, with this crate's commit rule: a commit
    /// flushes first and is refused (OPERATION_NOT_ATTEMPTED) when any
    /// record of the transaction failed; an abort first fails what is still
    /// unsent (`abort_buffered_records`). With nothing added to the
    /// transaction it ends without a request.
    pub(crate) fn end_transaction(&self, commit: bool, deadline: Instant) -> Result<()> {
        let txn = self.txn()?;
        let _op = txn.op.lock();
        {
            let mut g = txn.inner.lock();
            if g.phase == Phase::Idle {
                return Ok(());
            }
            txn.set_phase(&mut g, Phase::Ending);
        }
        let reopen = || txn.set_phase(&mut txn.inner.lock(), Phase::Open);
        let prepared = if commit {
            self.flush(Some(deadline))
        } else {
            self.abort(Some(deadline))
        };
        if let Err(e) = prepared {
            reopen();
            return Err(e);
        }
        if let Some(e) = self.id.fatal() {
            txn.reset();
            return Err(e);
        }
        let (failed, unconfirmed, confirmed, attempted) = {
            let g = txn.inner.lock();
            (
                g.failed.clone(),
                g.unconfirmed,
                !g.added.is_empty() || g.offsets_added,
                g.attempted,
            )
        };
        if commit {
            if unconfirmed {
                reopen();
                return Err(Error::Transaction(
                    "the previous end's outcome is unknown; a commit cannot be retried, end with TransactionEndTry::Abort".into(),
                ));
            }
            if let Some(f) = failed {
                reopen();
                return Err(Error::Kafka {
                    code: ErrorCode::OperationNotAttempted,
                    message: Some(
                        format!("a record of the transaction failed ({f}); abort the transaction")
                            .into(),
                    ),
                });
            }
        }
        if unconfirmed {
            // The epoch bump makes the coordinator abort what may be open.
            self.id.request_bump();
            let res = self.txn_load_id(deadline);
            match res {
                Ok(_) => txn.reset(),
                Err(e) => {
                    reopen();
                    return Err(e);
                }
            }
            return Ok(());
        }
        if !confirmed && !attempted {
            txn.reset();
            return Ok(());
        }
        match self.end_txn(commit, deadline) {
            Ok(()) => {
                txn.reset();
                klog!(self.cluster.logger(), Info, "transaction ended", "transactional_id" => txn.id, "commit" => commit);
                Ok(())
            }
            // Only unanswered adds were sent: the coordinator may have
            // nothing open (Java answers INVALID_TXN_STATE for an EndTxn in
            // its Empty state), which is what an abort wanted.
            Err(e)
                if !commit && !confirmed && e.kafka_code() == Some(ErrorCode::InvalidTxnState) =>
            {
                txn.reset();
                Ok(())
            }
            Err(e) => Err(self.end_failed(txn, commit, e)),
        }
    }

    /// Classifies a failed EndTxn and leaves the state to match.
    fn end_failed(&self, txn: &Txn, commit: bool, e: Error) -> Error {
        klog!(self.cluster.logger(), Warn, "ending transaction failed", "transactional_id" => txn.id, "commit" => commit, "err" => e);
        if let Some(code) = e.kafka_code() {
            if is_fatal(code) {
                self.fail_fatal(e.clone());
                txn.reset();
                return e;
            }
            // KIP-360: the coordinator lost our producer id; an abort can
            // recover with an epoch bump.
            if !commit
                && matches!(
                    code,
                    ErrorCode::InvalidProducerIdMapping | ErrorCode::UnknownProducerId
                )
            {
                self.id.request_bump();
                txn.reset();
                return e;
            }
            if code == ErrorCode::InvalidTxnState {
                let mut g = txn.inner.lock();
                txn.set_phase(&mut g, Phase::Open);
                g.failed.get_or_insert(e.clone());
                return e;
            }
        }
        let mut g = txn.inner.lock();
        txn.set_phase(&mut g, Phase::Open);
        if outcome_unknown(&e) {
            g.unconfirmed = true;
            return Error::TransactionOutcomeUnknown(Arc::new(e));
        }
        g.failed.get_or_insert(e.clone());
        e
    }

    /// Stops the producer for good: the id, and every buffered record.
    pub(crate) fn fail_fatal(&self, e: Error) {
        self.id.set_fatal(e.clone());
        for rb in self.all_recbufs() {
            rb.fail_pending(self, e.clone());
        }
    }

    /// EndTxn, retried on CONCURRENT_TRANSACTIONS and coordinator moves
    /// until `deadline`.
    fn end_txn(&self, commit: bool, deadline: Instant) -> Result<()> {
        let txn = self.txn()?;
        let Some(id) = self.id.current() else {
            return Err(Error::Transaction("no producer id is loaded".into()));
        };
        let req = EndTxnRequest::default()
            .with_transactional_id(TransactionalId(StrBytes::from_string(txn.id.clone())))
            .with_producer_id(ProducerId(id.id))
            .with_producer_epoch(id.epoch)
            .with_committed(commit);
        self.cluster.retry(26, Some(deadline), |_| {
            let resp = self.cluster.request(req.clone(), Some(deadline))?;
            match Error::from_code(resp.error_code) {
                None => Ok(()),
                Some(e) => Err(e),
            }
        })
    }

    /// Adds `parts` to the transaction (AddPartitionsToTxn v0-v3), once per
    /// sink drain. Partitions that failed for good have their unsent
    /// batches failed; retriable ones are tried again on the next drain.
    /// Returns when the next try may happen if some are still pending.
    pub(crate) fn txn_add_partitions(&self, parts: &[Arc<RecBuf>]) -> Option<Instant> {
        let txn = self.txn.as_ref()?;
        let id = self.id.usable()?;
        let deadline = Instant::now() + self.cfg.request_timeout;
        let mut topics: Vec<AddPartitionsToTxnTopic> = Vec::new();
        for rb in parts {
            match topics.iter_mut().find(|t| *t.name.0 == *rb.topic) {
                Some(t) => t.partitions.push(rb.partition),
                None => topics.push(
                    AddPartitionsToTxnTopic::default()
                        .with_name(TopicName(StrBytes::from_string(rb.topic.to_string())))
                        .with_partitions(vec![rb.partition]),
                ),
            }
        }
        txn.inner.lock().attempted = true;
        let req = AddPartitionsToTxnRequest::default()
            .with_v3_and_below_transactional_id(TransactionalId(StrBytes::from_string(
                txn.id.clone(),
            )))
            .with_v3_and_below_producer_id(ProducerId(id.id))
            .with_v3_and_below_producer_epoch(id.epoch)
            .with_v3_and_below_topics(topics);
        let resp = match self.cluster.request(req, Some(deadline)) {
            Ok(r) => r,
            Err(e) => {
                klog!(self.cluster.logger(), Warn, "AddPartitionsToTxn failed; retrying", "err" => e);
                if let Some(code) = e.kafka_code().filter(|c| is_fatal(*c)) {
                    self.fail_fatal(Error::from(code));
                    return None;
                }
                if !e.is_retriable() && !e.is_client_closed() {
                    self.fail_txn_parts(parts, &e);
                    return None;
                }
                return Some(Instant::now() + self.cluster.settings().retry_backoff(1));
            }
        };
        let mut retry = false;
        if let Some(e) = Error::from_code(resp.error_code) {
            // A top-level error (v4+ form) covers every partition.
            retry = e.is_retriable();
            if !retry {
                self.fail_txn_parts(parts, &e);
            }
        }
        for t in &resp.results_by_topic_v3_and_below {
            for pr in &t.results_by_partition {
                let Some(rb) = parts
                    .iter()
                    .find(|rb| *rb.topic == *t.name.0 && rb.partition == pr.partition_index)
                else {
                    continue;
                };
                match ErrorCode::from_code(pr.partition_error_code) {
                    None => {
                        txn.inner
                            .lock()
                            .added
                            .insert((rb.topic.clone(), rb.partition));
                    }
                    Some(code) if is_fatal(code) => {
                        self.fail_fatal(Error::from(code));
                        return None;
                    }
                    // OPERATION_NOT_ATTEMPTED: another partition's error
                    // stopped this one; CONCURRENT_TRANSACTIONS and the
                    // coordinator errors are retriable.
                    Some(code)
                        if code.is_retriable() || code == ErrorCode::OperationNotAttempted =>
                    {
                        retry = true;
                    }
                    Some(code) => self.fail_txn_parts(std::slice::from_ref(rb), &Error::from(code)),
                }
            }
        }
        if retry {
            // Java's TransactionManager retries AddPartitions quickly (20 ms)
            // on CONCURRENT_TRANSACTIONS: the previous EndTxn is finishing.
            return Some(Instant::now() + std::time::Duration::from_millis(20));
        }
        None
    }

    fn fail_txn_parts(&self, parts: &[Arc<RecBuf>], e: &Error) {
        klog!(self.cluster.logger(), Warn, "unable to add partitions to the transaction", "err" => e);
        if let Some(t) = &self.txn {
            t.note_failure(e);
        }
        for rb in parts {
            rb.fail_pending(self, e.clone());
        }
    }

    /// AddOffsetsToTxn for `group` (before its TxnOffsetCommit): the group's
    /// offsets join the transaction. Returns the id and epoch the
    /// TxnOffsetCommit must carry.
    pub(crate) fn txn_add_offsets(
        &self,
        group: &str,
        deadline: Instant,
    ) -> Result<ProducerIdEpoch> {
        let txn = self.txn()?;
        if !txn.in_transaction() {
            return Err(Error::NotInTransaction);
        }
        if let Some(e) = self.id.fatal() {
            return Err(e);
        }
        let Some(id) = self.id.usable() else {
            return Err(Error::Kafka {
                code: ErrorCode::OperationNotAttempted,
                message: Some("the producer id needs a bump; abort the transaction".into()),
            });
        };
        let req = AddOffsetsToTxnRequest::default()
            .with_transactional_id(TransactionalId(StrBytes::from_string(txn.id.clone())))
            .with_producer_id(ProducerId(id.id))
            .with_producer_epoch(id.epoch)
            .with_group_id(GroupId(StrBytes::from_string(group.to_string())));
        txn.inner.lock().attempted = true;
        let res = self.cluster.retry(25, Some(deadline), |_| {
            let resp = self.cluster.request(req.clone(), Some(deadline))?;
            match Error::from_code(resp.error_code) {
                None => Ok(()),
                Some(e) => Err(e),
            }
        });
        match res {
            Ok(()) => {
                txn.inner.lock().offsets_added = true;
                Ok(id)
            }
            Err(e) => {
                if let Some(code) = e.kafka_code().filter(|c| is_fatal(*c)) {
                    self.fail_fatal(Error::from(code));
                } else {
                    txn.note_failure(&e);
                }
                Err(e)
            }
        }
    }
}
