//! The transaction coordinator's state machine (Java `TransactionCoordinator`,
//! `TransactionMetadata`, `TransactionStateManager`), transaction version 1:
//! the producer epoch moves only on InitProducerId and on fencing, never per
//! transaction (KIP-890 part 2 is not implemented, so EndTxn v5 is not
//! advertised).
//!
//! The metadata lives in the cluster [`State`], so a transition and the
//! markers it writes happen under one lock, and Produce checks a batch
//! against the transaction as Java's partition verification does. Markers
//! are written as soon as the transaction is prepared unless a test holds
//! them ([`super::super::Cluster::hold_txn_markers`]); then the transaction
//! stays in PrepareCommit / PrepareAbort, as a Java one does while its
//! markers are in flight.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::Groups;
use crate::fake::cluster::State;
use crate::fake::codes;

/// Java's `__consumer_offsets`: AddOffsetsToTxn adds the group's partition
/// of it to the transaction.
pub(crate) const OFFSETS_TOPIC: &str = "__consumer_offsets";

const NO_EPOCH: i16 = -1;

/// Settings of the transaction coordinator (see the `transaction_*`
/// options of [`ClusterBuilder`](crate::fake::ClusterBuilder)).
#[derive(Debug, Clone, Copy)]
pub(crate) struct TxnSettings {
    /// Java `transaction.max.timeout.ms`.
    pub max_timeout: Duration,
    /// Java `transaction.abort.timed.out.transaction.cleanup.interval.ms`.
    pub abort_interval: Duration,
}

impl Default for TxnSettings {
    /// Java's defaults: 15 minutes and 10 seconds.
    fn default() -> Self {
        Self {
            max_timeout: Duration::from_secs(15 * 60),
            abort_interval: Duration::from_secs(10),
        }
    }
}

/// The state of a transactional id (Java `TransactionState`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TxnState {
    /// Initialised, no transaction open.
    Empty,
    /// A transaction is open (partitions or offsets were added).
    Ongoing,
    /// Committing: the commit is decided, its markers are being written.
    PrepareCommit,
    /// Aborting: the abort is decided, its markers are being written.
    PrepareAbort,
    /// The last transaction committed.
    CompleteCommit,
    /// The last transaction aborted.
    CompleteAbort,
    /// Fencing an old producer before aborting its transaction.
    PrepareEpochFence,
    /// Expired.
    Dead,
}

impl TxnState {
    /// The name DescribeTransactions and ListTransactions report, as Java spells it.
    pub fn name(self) -> &'static str {
        match self {
            TxnState::Empty => "Empty",
            TxnState::Ongoing => "Ongoing",
            TxnState::PrepareCommit => "PrepareCommit",
            TxnState::PrepareAbort => "PrepareAbort",
            TxnState::CompleteCommit => "CompleteCommit",
            TxnState::CompleteAbort => "CompleteAbort",
            TxnState::PrepareEpochFence => "PrepareEpochFence",
            TxnState::Dead => "Dead",
        }
    }

    fn preparing(self) -> bool {
        matches!(
            self,
            TxnState::PrepareCommit | TxnState::PrepareAbort | TxnState::PrepareEpochFence
        )
    }
}

/// A transactional id as [`Cluster::transaction`](crate::fake::Cluster::transaction) shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TxnSnapshot {
    /// The current producer id.
    pub producer_id: i64,
    /// The current producer epoch.
    pub producer_epoch: i16,
    /// The state.
    pub state: TxnState,
    /// The partitions in the open transaction, `__consumer_offsets`
    /// partitions included (one per group added with AddOffsetsToTxn).
    pub partitions: Vec<(String, i32)>,
    /// The transaction timeout the producer asked for.
    pub timeout: Duration,
    /// The coordinator epoch the markers carry (bumped by each coordinator move).
    pub coordinator_epoch: i32,
}

/// Java `TransactionMetadata`.
#[derive(Debug, Clone)]
pub(crate) struct TxnMeta {
    pub producer_id: i64,
    pub previous_producer_id: i64,
    pub producer_epoch: i16,
    pub last_producer_epoch: i16,
    pub timeout_ms: i32,
    pub state: TxnState,
    pub partitions: BTreeSet<(String, i32)>,
    /// When the open transaction started (its first AddPartitions).
    pub start: Option<Instant>,
    /// The same as wall-clock milliseconds, -1 if none (DescribeTransactions).
    pub start_ms: i64,
    pub coordinator_epoch: i32,
}

impl TxnMeta {
    pub fn snapshot(&self) -> TxnSnapshot {
        TxnSnapshot {
            producer_id: self.producer_id,
            producer_epoch: self.producer_epoch,
            state: self.state,
            partitions: self.partitions.iter().cloned().collect(),
            timeout: Duration::from_millis(u64::try_from(self.timeout_ms).unwrap_or(0)),
            coordinator_epoch: self.coordinator_epoch,
        }
    }
}

/// Every transactional id, behind the cluster lock.
#[derive(Debug, Default)]
pub(crate) struct Txns {
    pub by_id: BTreeMap<String, TxnMeta>,
    /// While set, prepared transactions wait for their markers.
    pub hold_markers: bool,
}

/// Java `TransactionMetadata.isEpochExhausted`.
fn exhausted(epoch: i16) -> bool {
    epoch >= i16::MAX - 1
}

pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn new_producer_id(st: &mut State) -> i64 {
    let id = st.next_producer_id;
    st.next_producer_id += 1;
    id
}

/// Java `handleInitProducerId` for a transactional id (validated: not
/// empty, timeout in bounds, this broker coordinates it). `expected` is
/// the KIP-360 producer id and epoch of a v3+ request.
pub(crate) fn init_producer(
    st: &mut State,
    groups: &Groups,
    id: &str,
    timeout_ms: i32,
    expected: Option<(i64, i16)>,
) -> Result<(i64, i16), i16> {
    if !st.txns.by_id.contains_key(id) {
        let producer_id = new_producer_id(st);
        st.txns.by_id.insert(
            id.to_string(),
            TxnMeta {
                producer_id,
                previous_producer_id: -1,
                producer_epoch: NO_EPOCH,
                last_producer_epoch: NO_EPOCH,
                timeout_ms,
                state: TxnState::Empty,
                partitions: BTreeSet::new(),
                start: None,
                start_ms: -1,
                coordinator_epoch: 0,
            },
        );
    }
    let next_id = st.next_producer_id;
    let Some(m) = st.txns.by_id.get_mut(id) else {
        return Err(codes::COORDINATOR_NOT_AVAILABLE);
    };
    if let Some((pid, epoch)) = expected {
        // prepareInitProducerIdTransit.isValidProducerId
        let valid = m.producer_epoch == NO_EPOCH
            || pid == m.producer_id
            || (pid == m.previous_producer_id && exhausted(epoch));
        if !valid {
            return Err(codes::PRODUCER_FENCED);
        }
    }
    match m.state {
        TxnState::PrepareCommit | TxnState::PrepareAbort | TxnState::PrepareEpochFence => {
            Err(codes::CONCURRENT_TRANSACTIONS)
        }
        TxnState::Dead => Err(codes::CONCURRENT_TRANSACTIONS),
        TxnState::Ongoing => {
            // Abort the open transaction under a bumped epoch and let the
            // producer retry; the retry bumps the epoch again (Java
            // prepareFenceProducerEpoch, then endTransaction(ABORT)).
            fence_and_abort(st, groups, id);
            Err(codes::CONCURRENT_TRANSACTIONS)
        }
        TxnState::Empty | TxnState::CompleteCommit | TxnState::CompleteAbort => {
            if exhausted(m.producer_epoch) && expected.is_none_or(|(_, e)| e == m.producer_epoch) {
                // prepareProducerIdRotation
                m.previous_producer_id = m.producer_id;
                m.last_producer_epoch = if expected.is_some() {
                    m.producer_epoch
                } else {
                    NO_EPOCH
                };
                m.producer_id = next_id;
                m.producer_epoch = 0;
                st.next_producer_id += 1;
            } else {
                // prepareIncrementProducerEpoch
                match expected {
                    None => {
                        m.producer_epoch += 1;
                        m.last_producer_epoch = NO_EPOCH;
                    }
                    Some((_, e)) if m.producer_epoch == NO_EPOCH || e == m.producer_epoch => {
                        m.last_producer_epoch = m.producer_epoch;
                        m.producer_epoch += 1;
                    }
                    // A retry of a bump whose answer was lost.
                    Some((_, e)) if e == m.last_producer_epoch => {}
                    Some(_) => return Err(codes::PRODUCER_FENCED),
                }
            }
            let Some(m) = st.txns.by_id.get_mut(id) else {
                return Err(codes::COORDINATOR_NOT_AVAILABLE);
            };
            m.timeout_ms = timeout_ms;
            m.state = TxnState::Empty;
            m.partitions.clear();
            m.start = None;
            m.start_ms = -1;
            Ok((m.producer_id, m.producer_epoch))
        }
    }
}

/// Java `handleAddPartitionsToTransaction` (also AddOffsetsToTxn, with the
/// group's `__consumer_offsets` partition).
pub(crate) fn add_partitions(
    st: &mut State,
    id: &str,
    producer_id: i64,
    epoch: i16,
    parts: &[(String, i32)],
) -> Result<(), i16> {
    let m = check_producer(st, id, producer_id, epoch)?;
    if m.state.preparing() {
        return Err(codes::CONCURRENT_TRANSACTIONS);
    }
    if m.state != TxnState::Ongoing {
        // prepareAddPartitions: a new transaction starts its clock.
        m.start = Some(Instant::now());
        m.start_ms = now_ms();
    }
    m.state = TxnState::Ongoing;
    m.partitions.extend(parts.iter().cloned());
    Ok(())
}

/// Java `handleVerifyPartitionsInTransaction`: whether the producer's
/// open transaction holds `part` (TRANSACTION_ABORTABLE if not).
pub(crate) fn verify(
    st: &State,
    id: &str,
    producer_id: i64,
    epoch: i16,
    part: &(String, i32),
) -> Result<(), i16> {
    let m = st
        .txns
        .by_id
        .get(id)
        .ok_or(codes::INVALID_PRODUCER_ID_MAPPING)?;
    if m.producer_id != producer_id {
        return Err(codes::INVALID_PRODUCER_ID_MAPPING);
    }
    if m.producer_epoch != epoch {
        return Err(codes::PRODUCER_FENCED);
    }
    if matches!(m.state, TxnState::PrepareCommit | TxnState::PrepareAbort) {
        return Err(codes::CONCURRENT_TRANSACTIONS);
    }
    if m.partitions.contains(part) {
        Ok(())
    } else {
        Err(codes::TRANSACTION_ABORTABLE)
    }
}

fn check_producer<'a>(
    st: &'a mut State,
    id: &str,
    producer_id: i64,
    epoch: i16,
) -> Result<&'a mut TxnMeta, i16> {
    let m = st
        .txns
        .by_id
        .get_mut(id)
        .ok_or(codes::INVALID_PRODUCER_ID_MAPPING)?;
    if m.producer_id != producer_id {
        return Err(codes::INVALID_PRODUCER_ID_MAPPING);
    }
    if m.producer_epoch != epoch {
        return Err(codes::PRODUCER_FENCED);
    }
    Ok(m)
}

/// Java `handleEndTransaction` from a client (transaction version 1: the
/// epoch must be the current one).
pub(crate) fn end_txn(
    st: &mut State,
    groups: &Groups,
    id: &str,
    producer_id: i64,
    epoch: i16,
    commit: bool,
) -> Result<(), i16> {
    let m = check_producer(st, id, producer_id, epoch)?;
    let same = |c: bool| {
        if c == commit {
            Ok(())
        } else {
            Err(codes::INVALID_TXN_STATE)
        }
    };
    match m.state {
        TxnState::Ongoing => {
            m.state = if commit {
                TxnState::PrepareCommit
            } else {
                TxnState::PrepareAbort
            };
            complete(st, groups, id);
            Ok(())
        }
        // A retry of an EndTxn that completed: the same result succeeds.
        TxnState::CompleteCommit => same(true),
        TxnState::CompleteAbort => same(false),
        TxnState::PrepareCommit => same(true).and(Err(codes::CONCURRENT_TRANSACTIONS)),
        TxnState::PrepareAbort => same(false).and(Err(codes::CONCURRENT_TRANSACTIONS)),
        TxnState::Empty => Err(codes::INVALID_TXN_STATE),
        TxnState::PrepareEpochFence | TxnState::Dead => Err(codes::CONCURRENT_TRANSACTIONS),
    }
}

/// Java `prepareFenceProducerEpoch` then `endTransaction(ABORT)` from the
/// coordinator: the epoch goes up (fencing the producer) and the open
/// transaction aborts under the new epoch.
fn fence_and_abort(st: &mut State, groups: &Groups, id: &str) {
    let Some(m) = st.txns.by_id.get_mut(id) else {
        return;
    };
    m.producer_epoch = m.producer_epoch.saturating_add(1);
    m.last_producer_epoch = NO_EPOCH;
    m.state = TxnState::PrepareAbort;
    complete(st, groups, id);
}

/// Writes the markers of a prepared transaction to each of its data
/// partitions, ends its staged offsets in each group of its
/// `__consumer_offsets` partitions, and completes it (Java
/// `TransactionMarkerChannelManager` then `prepareComplete`). Returns
/// whether it completed (markers may be held).
pub(crate) fn complete(st: &mut State, groups: &Groups, id: &str) -> bool {
    if st.txns.hold_markers {
        return false;
    }
    let Some(m) = st.txns.by_id.get_mut(id) else {
        return false;
    };
    let commit = match m.state {
        TxnState::PrepareCommit => true,
        TxnState::PrepareAbort => false,
        _ => return false,
    };
    m.state = if commit {
        TxnState::CompleteCommit
    } else {
        TxnState::CompleteAbort
    };
    m.start = None;
    let parts = std::mem::take(&mut m.partitions);
    let (pid, epoch, coordinator_epoch) = (m.producer_id, m.producer_epoch, m.coordinator_epoch);
    let now = now_ms();
    let mut offsets_partitions = Vec::new();
    for (topic, p) in &parts {
        if topic == OFFSETS_TOPIC {
            offsets_partitions.push(*p);
        } else if let Some(part) = st.topics.get_mut(topic).and_then(|t| t.partition_mut(*p)) {
            part.write_marker(pid, epoch, commit, coordinator_epoch, now);
        }
    }
    if !offsets_partitions.is_empty() {
        super::txn_offsets::complete(groups, &offsets_partitions, pid, commit);
    }
    true
}

/// Completes every held transaction (markers released).
pub(crate) fn complete_all(st: &mut State, groups: &Groups) {
    let ids: Vec<String> = st
        .txns
        .by_id
        .iter()
        .filter(|(_, m)| matches!(m.state, TxnState::PrepareCommit | TxnState::PrepareAbort))
        .map(|(id, _)| id.clone())
        .collect();
    for id in ids {
        complete(st, groups, &id);
    }
}

/// Java `abortTimedOutTransactions`: fences and aborts every open
/// transaction older than its timeout; returns how many.
pub(crate) fn abort_timed_out(st: &mut State, groups: &Groups, now: Instant) -> usize {
    let due: Vec<String> = st
        .txns
        .by_id
        .iter()
        .filter(|(_, m)| {
            m.state == TxnState::Ongoing
                && m.start.is_some_and(|s| {
                    let t = Duration::from_millis(u64::try_from(m.timeout_ms).unwrap_or(0));
                    now.saturating_duration_since(s) > t
                })
        })
        .map(|(id, _)| id.clone())
        .collect();
    for id in &due {
        fence_and_abort(st, groups, id);
    }
    due.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ready(st: &mut State, groups: &Groups, id: &str) -> (i64, i16) {
        init_producer(st, groups, id, 1000, None).unwrap()
    }

    /// Java `prepareProducerIdRotation`: an exhausted epoch gets a new
    /// producer id at epoch 0; a retry naming the old id and exhausted
    /// epoch gets the same answer again.
    #[test]
    fn epoch_exhaustion_rotates_the_producer_id() {
        let groups = Groups::new(Default::default());
        let mut st = State::default();
        let (pid, _) = ready(&mut st, &groups, "x");
        let last = i16::MAX - 1;
        st.txns.by_id.get_mut("x").unwrap().producer_epoch = last;
        let (new_pid, epoch) =
            init_producer(&mut st, &groups, "x", 1000, Some((pid, last))).unwrap();
        assert_ne!(new_pid, pid);
        assert_eq!(epoch, 0);
        let m = &st.txns.by_id["x"];
        assert_eq!((m.previous_producer_id, m.last_producer_epoch), (pid, last));
        // The retry: the previous id with its exhausted epoch.
        let again = init_producer(&mut st, &groups, "x", 1000, Some((pid, last))).unwrap();
        assert_eq!(again, (new_pid, 0));
        // Without an expected epoch, an exhausted epoch rotates too.
        st.txns.by_id.get_mut("x").unwrap().producer_epoch = last;
        let (third, epoch) = init_producer(&mut st, &groups, "x", 1000, None).unwrap();
        assert_eq!(epoch, 0);
        assert_ne!(third, new_pid);
    }

    #[test]
    fn fencing_an_open_transaction_aborts_it() {
        let groups = Groups::new(Default::default());
        let mut st = State::default();
        let (pid, epoch) = ready(&mut st, &groups, "x");
        add_partitions(&mut st, "x", pid, epoch, &[(OFFSETS_TOPIC.into(), 3)]).unwrap();
        assert_eq!(
            init_producer(&mut st, &groups, "x", 1000, None),
            Err(codes::CONCURRENT_TRANSACTIONS)
        );
        let m = &st.txns.by_id["x"];
        assert_eq!(
            (m.state, m.producer_epoch),
            (TxnState::CompleteAbort, epoch + 1)
        );
        assert!(m.partitions.is_empty());
        assert_eq!(
            init_producer(&mut st, &groups, "x", 1000, None),
            Ok((pid, epoch + 2))
        );
    }
}
