//! Transactions: kgo's `BeginTransaction` / `EndTransaction` on the
//! [`Client`], and [`GroupTransactSession`], which consumes in a group,
//! produces, and commits both exactly once.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::Client;
use crate::config::ConfigBuilder;
use crate::consumer::{EpochOffset, Fetches};
use crate::error::{Error, ErrorCode, Result};
use crate::group::TxnProducer;
use crate::logger::klog;
use crate::producer::ProduceResults;
use crate::record::Record;
use crate::sync::deadline_after;

/// How to end a transaction (kgo's `TransactionEndTry`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransactionEndTry {
    /// Try to commit (kgo's `TryCommit`).
    Commit,
    /// Abort (kgo's `TryAbort`).
    Abort,
}

/// How long the transaction calls without a deadline may take at most.
const NO_DEADLINE: Duration = Duration::from_secs(365 * 86_400);

impl Client {
    /// Begins a transaction (kgo's `BeginTransaction`). The first call
    /// loads the producer id (InitProducerId with the transactional id,
    /// which fences any older client with the same id); after an aborted
    /// transaction whose records failed it bumps the epoch (KIP-360).
    ///
    /// # Errors
    ///
    /// [`Error::Transaction`] without a `transactional_id` or when a
    /// transaction is already begun; the producer id's fatal error
    /// (PRODUCER_FENCED, ...) once fenced.
    ///
    /// # Blocking
    ///
    /// While the producer id loads, bounded by `retry_timeout`, or close.
    pub fn begin_transaction(&self) -> Result<()> {
        self.begin_transaction_deadline(deadline_after(NO_DEADLINE))
    }

    /// [`begin_transaction`](Self::begin_transaction) until `deadline`.
    ///
    /// # Errors
    ///
    /// As `begin_transaction`, and [`Error::Timeout`] at the deadline.
    pub fn begin_transaction_deadline(&self, deadline: Instant) -> Result<()> {
        self.producer()?.begin_transaction(deadline)
    }

    /// Ends the transaction (kgo's `EndTransaction`).
    ///
    /// [`TransactionEndTry::Commit`] first flushes (kgo leaves that to the
    /// caller), then commits, unless a record of the transaction failed:
    /// then nothing is sent and the error is OPERATION_NOT_ATTEMPTED, and
    /// the transaction must be ended with [`TransactionEndTry::Abort`].
    /// An abort first fails what is still buffered with
    /// [`Error::Aborting`] (`abort_buffered_records`), then aborts. A
    /// transaction to which no record or offset was added ends without a
    /// request. Without a transaction this does nothing.
    ///
    /// Do not produce concurrently with this call.
    ///
    /// # Errors
    ///
    /// - OPERATION_NOT_ATTEMPTED: a record failed; abort instead.
    /// - [`Error::TransactionOutcomeUnknown`]: EndTxn was sent but its
    ///   answer was lost; the transaction may have committed. End again
    ///   with `Abort` (a commit is refused), which fences it.
    /// - PRODUCER_FENCED, INVALID_PRODUCER_EPOCH,
    ///   TRANSACTIONAL_ID_AUTHORIZATION_FAILED: fatal; the client cannot
    ///   produce again.
    /// - INVALID_TXN_STATE (the coordinator aborted the transaction, for
    ///   instance past its timeout): abort.
    ///
    /// # Blocking
    ///
    /// Until flushed and the coordinator answers (CONCURRENT_TRANSACTIONS
    /// and coordinator moves are retried within `retry_timeout`), or close.
    pub fn end_transaction(&self, how: TransactionEndTry) -> Result<()> {
        self.end_transaction_deadline(how, deadline_after(NO_DEADLINE))
    }

    /// [`end_transaction`](Self::end_transaction) within `timeout`.
    ///
    /// # Errors
    ///
    /// As `end_transaction`; a timeout before EndTxn was sent leaves the
    /// transaction open, one after it is [`Error::TransactionOutcomeUnknown`].
    pub fn end_transaction_timeout(&self, how: TransactionEndTry, timeout: Duration) -> Result<()> {
        self.end_transaction_deadline(how, deadline_after(timeout))
    }

    /// [`end_transaction`](Self::end_transaction) until `deadline`.
    ///
    /// # Errors
    ///
    /// As [`end_transaction_timeout`](Self::end_transaction_timeout).
    pub fn end_transaction_deadline(
        &self,
        how: TransactionEndTry,
        deadline: Instant,
    ) -> Result<()> {
        let p = self.producer()?;
        p.end_transaction(how == TransactionEndTry::Commit, deadline)
    }
}

/// What the session's rebalance callbacks saw since the last end (kgo's
/// `failMu` state).
#[derive(Debug, Default)]
struct Failed {
    revoked: bool,
    lost: bool,
}

/// A group consumer that produces in transactions and commits its offsets
/// inside them, exactly once (kgo's `GroupTransactSession`).
///
/// If a rebalance revokes or loses partitions before the transaction ends,
/// the end aborts (kgo favours aborting over blocking the rebalance), the
/// consumer rewinds to what is committed, and the records are read again.
/// The rebalance callbacks wait while an end is committing, so a new owner
/// of a partition never starts before the commit finished; with the
/// group's stable offsets (KIP-447, always on for a transactional client)
/// it also waits for the commit markers.
///
/// ```no_run
/// use kafka_sync::{GroupTransactSession, Record, TransactionEndTry};
///
/// let s = GroupTransactSession::new(
///     kafka_sync::Client::builder()
///         .consumer_group("etl")
///         .consume_topics(["in"])
///         .transactional_id("etl-1"),
/// )?;
/// loop {
///     let fetches = s.poll_fetches();
///     s.begin()?;
///     for r in fetches.records() {
///         s.produce(Record { value: r.value.clone(), ..Record::default() }.with_topic("out"), |_, _| {});
///     }
///     let committed = s.end(TransactionEndTry::Commit)?;
///     println!("committed: {committed}");
/// #   break;
/// }
/// s.close();
/// # Ok::<(), kafka_sync::Error>(())
/// ```
pub struct GroupTransactSession {
    client: Client,
    failed: Arc<Mutex<Failed>>,
}

impl std::fmt::Debug for GroupTransactSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupTransactSession")
            .finish_non_exhaustive()
    }
}

/// Whether a TxnOffsetCommit error only means the member cannot commit
/// now, so the transaction aborts (kgo's `isAbortableCommitErr`).
fn abortable_commit_err(e: &Error) -> bool {
    matches!(
        e.kafka_code(),
        Some(
            ErrorCode::IllegalGeneration
                | ErrorCode::UnknownMemberId
                | ErrorCode::StaleMemberEpoch
                | ErrorCode::RebalanceInProgress
                | ErrorCode::CoordinatorNotAvailable
                | ErrorCode::CoordinatorLoadInProgress
                | ErrorCode::NotCoordinator
                | ErrorCode::ConcurrentTransactions
                | ErrorCode::UnknownServerError
                | ErrorCode::TransactionAbortable
                | ErrorCode::FencedInstanceId
        )
    ) || e.is_connection()
        || matches!(e, Error::Timeout(_))
}

impl GroupTransactSession {
    /// Builds the client (kgo's `NewGroupTransactSession`), wrapping its
    /// `on_partitions_revoked` / `on_partitions_lost` callbacks so that a
    /// rebalance makes the next [`end`](Self::end) abort.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] without `consumer_group` or `transactional_id`,
    /// and every error of `build()`.
    pub fn new(builder: ConfigBuilder<Client>) -> Result<GroupTransactSession> {
        let failed = Arc::new(Mutex::new(Failed::default()));
        let builder = super::group::wrap_session_callbacks(builder, failed.clone(), |f, lost| {
            if lost {
                f.lost = true;
            } else {
                f.revoked = true;
            }
        })?;
        let cfg = builder.config();
        if !cfg.group.enabled() {
            return Err(Error::config(
                "GroupTransactSession: consumer_group is required",
            ));
        }
        if cfg.producer.transactional_id.is_none() {
            return Err(Error::config(
                "GroupTransactSession: transactional_id is required",
            ));
        }
        Ok(GroupTransactSession {
            client: builder.build()?,
            failed,
        })
    }

    /// The client (kgo's `Client`): for raw requests and the like; leave
    /// transactions to the session.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Closes the client, leaving the group (kgo's `Close`). An open
    /// transaction is not ended: the coordinator aborts it at its timeout,
    /// or when a client with the same transactional id begins.
    pub fn close(&self) {
        self.client.close();
    }

    /// [`Client::poll_fetches`]. Not concurrently with `begin` or `end`.
    pub fn poll_fetches(&self) -> Fetches {
        self.client.poll_fetches()
    }

    /// [`Client::poll_fetches_timeout`].
    pub fn poll_fetches_timeout(&self, timeout: Duration) -> Fetches {
        self.client.poll_fetches_timeout(timeout)
    }

    /// [`Client::poll_fetches_deadline`].
    pub fn poll_fetches_deadline(&self, deadline: Instant) -> Fetches {
        self.client.poll_fetches_deadline(deadline)
    }

    /// [`Client::poll_records`].
    pub fn poll_records(&self, max: usize) -> Fetches {
        self.client.poll_records(max)
    }

    /// [`Client::poll_records_timeout`].
    pub fn poll_records_timeout(&self, max: usize, timeout: Duration) -> Fetches {
        self.client.poll_records_timeout(max, timeout)
    }

    /// [`Client::poll_records_deadline`].
    pub fn poll_records_deadline(&self, max: usize, deadline: Instant) -> Fetches {
        self.client.poll_records_deadline(max, deadline)
    }

    /// [`Client::produce`], inside the session's transaction.
    pub fn produce(
        &self,
        record: Record,
        callback: impl FnOnce(Record, Result<()>) + Send + 'static,
    ) {
        self.client.produce(record, callback);
    }

    /// [`Client::produce_sync`], inside the session's transaction.
    pub fn produce_sync(&self, records: impl IntoIterator<Item = Record>) -> ProduceResults {
        self.client.produce_sync(records)
    }

    /// Begins a transaction (kgo's `Begin`): before producing; a revoke
    /// seen since the last end still makes the next end abort.
    ///
    /// # Errors
    ///
    /// As [`Client::begin_transaction`].
    pub fn begin(&self) -> Result<()> {
        self.client.begin_transaction()
    }

    /// Ends the transaction (kgo's `End`) and returns whether it committed.
    ///
    /// With [`TransactionEndTry::Commit`] it flushes, commits the polled
    /// offsets inside the transaction (AddOffsetsToTxn, TxnOffsetCommit
    /// with the member's generation), checks with a heartbeat that the
    /// member is still in its generation, and commits, unless the group
    /// rebalanced since the last end, a record failed, or the offsets
    /// could not be committed: then it aborts and returns `Ok(false)`.
    /// After an abort the consumer rewinds to the committed offsets, so the
    /// aborted records are read again. A commit whose outcome is unknown is
    /// aborted (fenced by an epoch bump) and the consumer rewinds to what
    /// the coordinator says is committed; it is never reported as
    /// committed without the coordinator's answer.
    ///
    /// # Errors
    ///
    /// None is retriable: a fatal producer error (fenced), or the offsets
    /// commit's non-abortable error (after aborting).
    pub fn end(&self, how: TransactionEndTry) -> Result<bool> {
        self.end_deadline(how, deadline_after(NO_DEADLINE))
    }

    /// [`end`](Self::end) within `timeout`.
    ///
    /// # Errors
    ///
    /// As `end`, and [`Error::Timeout`].
    pub fn end_timeout(&self, how: TransactionEndTry, timeout: Duration) -> Result<bool> {
        self.end_deadline(how, deadline_after(timeout))
    }

    /// [`end`](Self::end) until `deadline`.
    ///
    /// # Errors
    ///
    /// As `end`, and [`Error::Timeout`].
    pub fn end_deadline(&self, how: TransactionEndTry, deadline: Instant) -> Result<bool> {
        let res = self.end_inner(how, deadline);
        *self.failed.lock() = Failed::default();
        res
    }

    fn end_inner(&self, how: TransactionEndTry, deadline: Instant) -> Result<bool> {
        let c = &self.client;
        let want = how == TransactionEndTry::Commit;
        if want {
            c.flush_deadline(deadline)?;
        } else {
            c.abort_buffered_records_deadline(deadline)?;
        }
        let g = c.group()?.clone();
        let p = c.producer()?.clone();
        let (was_failed, post) = {
            let f = self.failed.lock();
            (f.revoked || f.lost, g.uncommitted())
        };
        let mut commit_err: Option<Error> = None;
        let mut abortable = p.txn_failure().is_some();
        let mut kip447 = false;
        if want && !was_failed && !abortable && !post.is_empty() {
            match self.commit_offsets(&post, deadline) {
                Ok(v3) => kip447 = v3,
                Err(e) if abortable_commit_err(&e) => abortable = true,
                Err(e) => commit_err = Some(e),
            }
        }
        let mut ok_heartbeat = post.is_empty();
        let mut heartbeat_rebalance = false;
        if want && !was_failed && !abortable && commit_err.is_none() && !post.is_empty() {
            match g.heartbeat_once(deadline) {
                Ok(()) => ok_heartbeat = true,
                Err(e) => {
                    heartbeat_rebalance = e.kafka_code() == Some(ErrorCode::RebalanceInProgress)
                }
            }
        }
        // Held through EndTxn: a revoke waits until the transaction ended.
        let f = self.failed.lock();
        let failed = f.revoked || f.lost;
        // KIP-447: the offsets were committed with our generation and the
        // next owner's OffsetFetch waits for stable offsets, so a rebalance
        // that began after the TxnOffsetCommit does not force an abort.
        let can_commit = !failed
            && commit_err.is_none()
            && !abortable
            && (ok_heartbeat || (heartbeat_rebalance && kip447));
        let mut commit = want && can_commit;
        klog!(c.inner.cluster.logger(), Info, "transact session ending", "was_failed" => failed, "want_commit" => want, "will_commit" => commit);
        let mut res = c.end_transaction_deadline(
            if commit {
                TransactionEndTry::Commit
            } else {
                TransactionEndTry::Abort
            },
            deadline,
        );
        let mut unknown = false;
        for _ in 0..10 {
            let Err(e) = &res else { break };
            let retry_as_abort = matches!(e, Error::TransactionOutcomeUnknown(_))
                || matches!(
                    e.kafka_code(),
                    Some(
                        ErrorCode::OperationNotAttempted
                            | ErrorCode::TransactionAbortable
                            | ErrorCode::InvalidTxnState
                    )
                );
            if !retry_as_abort {
                break;
            }
            unknown |= matches!(e, Error::TransactionOutcomeUnknown(_));
            klog!(c.inner.cluster.logger(), Info, "ending the transaction again as an abort", "err" => e);
            commit = false;
            res = c.end_transaction_deadline(TransactionEndTry::Abort, deadline);
        }
        match (&res, commit) {
            (Ok(()), true) => {
                g.txn_committed(&post);
                if !kip447 {
                    // Before KIP-447 a new owner may read offsets before the
                    // markers are written; kgo waits 500 ms for them too.
                    let _ = c
                        .inner
                        .cluster
                        .sleep(Duration::from_millis(500), Some(deadline));
                }
            }
            _ => self.rewind(unknown, deadline),
        }
        drop(f);
        res?;
        if let Some(e) = commit_err {
            return Err(e);
        }
        Ok(commit)
    }

    /// AddOffsetsToTxn, then TxnOffsetCommit; returns whether the commit
    /// carried the member's generation (v3+, KIP-447).
    fn commit_offsets(
        &self,
        offsets: &BTreeMap<String, BTreeMap<i32, EpochOffset>>,
        deadline: Instant,
    ) -> Result<bool> {
        let c = &self.client;
        let g = c.group()?;
        let p = c.producer()?;
        let txn_id = c
            .inner
            .cfg
            .producer
            .transactional_id
            .clone()
            .unwrap_or_default();
        let id = p.txn_add_offsets(&g.settings().group, deadline)?;
        let (resp, v3) = g.txn_commit(
            TxnProducer {
                transactional_id: &txn_id,
                producer_id: id.id,
                epoch: id.epoch,
            },
            offsets,
            deadline,
        )?;
        for t in &resp.topics {
            for pr in &t.partitions {
                if let Some(e) = Error::from_code(pr.error_code) {
                    p.txn_note_failure(&e);
                    return Err(e);
                }
            }
        }
        Ok(v3)
    }

    /// Rewinds the consumer to what is committed after an abort; after an
    /// unknown outcome, to what the coordinator says is committed.
    fn rewind(&self, unknown: bool, deadline: Instant) {
        let Ok(g) = self.client.group() else { return };
        if unknown {
            if let Err(e) = g.refresh_committed(deadline) {
                klog!(self.client.inner.cluster.logger(), Warn, "unable to re-read committed offsets after an unknown end; rejoining", "err" => e);
                self.client.force_rebalance();
                return;
            }
        }
        let to = g.rewind_polled(unknown);
        if !to.is_empty() {
            self.client.set_offsets(
                to.into_iter()
                    .map(|(t, ps)| (t, ps.into_iter().collect()))
                    .collect(),
            );
        }
    }
}
