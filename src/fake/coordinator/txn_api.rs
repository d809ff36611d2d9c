//! The transaction coordinator's requests (Java `KafkaApis.handle*` for
//! InitProducerId with a transactional id, AddPartitionsToTxn,
//! AddOffsetsToTxn, EndTxn, DescribeTransactions and ListTransactions, and
//! the `TransactionCoordinator` methods they call).
//!
//! PRODUCER_FENCED exists from InitProducerId v4 and AddPartitionsToTxn,
//! AddOffsetsToTxn and EndTxn v2; older versions get INVALID_PRODUCER_EPOCH
//! instead, as Java's `KafkaApis` translates it.

use crate::messages::add_partitions_to_txn_request::AddPartitionsToTxnTopic;
use crate::messages::add_partitions_to_txn_response::{
    AddPartitionsToTxnPartitionResult, AddPartitionsToTxnResult, AddPartitionsToTxnTopicResult,
};
use crate::messages::describe_transactions_response::{TopicData, TransactionState};
use crate::messages::list_transactions_response::TransactionState as Listed;
use crate::messages::*;

use super::txn::{self, TxnState, OFFSETS_TOPIC};
use super::{coordinator_of, offsets_partition, CoordinatorType};
use crate::fake::api::meta::{s, topic_name};
use crate::fake::api::Ctx;
use crate::fake::codes;

/// PRODUCER_FENCED as a version older than `since` knows it.
fn fenced(code: i16, version: i16, since: i16) -> i16 {
    if code == codes::PRODUCER_FENCED && version < since {
        codes::INVALID_PRODUCER_EPOCH
    } else {
        code
    }
}

/// Java `TransactionStateManager.getTransactionState`'s first check: a
/// transactional id this broker does not coordinate is NOT_COORDINATOR.
fn check_coordinator(ctx: &Ctx<'_>, id: &str) -> Result<(), i16> {
    if id.is_empty() {
        return Err(codes::INVALID_REQUEST);
    }
    if coordinator_of(ctx.shared, CoordinatorType::Transaction, id) != ctx.broker {
        return Err(codes::NOT_COORDINATOR);
    }
    Ok(())
}

/// InitProducerId with a (non-empty) transactional id.
pub(crate) fn init_transactional(
    ctx: &Ctx<'_>,
    req: &InitProducerIdRequest,
    version: i16,
) -> InitProducerIdResponse {
    let resp = InitProducerIdResponse::default()
        .with_producer_id(ProducerId(-1))
        .with_producer_epoch(-1);
    let id = req.transactional_id.as_ref().map_or("", |t| t.as_str());
    let expected = match (req.producer_id.0, req.producer_epoch) {
        (-1, -1) => None,
        (-1, _) | (_, -1) => return resp.with_error_code(codes::INVALID_REQUEST),
        (pid, epoch) => Some((pid, epoch)),
    };
    let max = ctx.shared.settings.txn.max_timeout.as_millis();
    let timeout = req.transaction_timeout_ms;
    if timeout <= 0 || u128::from(timeout.unsigned_abs()) > max {
        return resp.with_error_code(codes::INVALID_TRANSACTION_TIMEOUT);
    }
    if let Err(code) = check_coordinator(ctx, id) {
        return resp.with_error_code(code);
    }
    let result = {
        let mut st = ctx.shared.lock();
        txn::init_producer(&mut st, &ctx.shared.groups, id, timeout, expected)
    };
    // A fenced transaction's abort markers may have been written.
    ctx.shared.notify_data();
    match result {
        Ok((pid, epoch)) => resp
            .with_producer_id(ProducerId(pid))
            .with_producer_epoch(epoch),
        Err(code) => resp.with_error_code(fenced(code, version, 4)),
    }
}

fn partitions_of(topics: &[AddPartitionsToTxnTopic]) -> Vec<(String, i32)> {
    topics
        .iter()
        .flat_map(|t| {
            t.partitions
                .iter()
                .map(move |&p| (t.name.as_str().to_string(), p))
        })
        .collect()
}

/// One transaction of an AddPartitionsToTxn: a code per partition.
///
/// Java `KafkaApis.handleAddPartitionsToTxnRequest`: any unknown partition
/// fails the whole transaction, UNKNOWN_TOPIC_OR_PARTITION for it and
/// OPERATION_NOT_ATTEMPTED for the others; otherwise the coordinator's
/// single answer goes on every partition (v4+ `verify_only` answers per
/// partition).
fn add_one(
    ctx: &Ctx<'_>,
    id: &str,
    producer: (i64, i16),
    parts: &[(String, i32)],
    verify_only: bool,
    version: i16,
) -> Vec<i16> {
    let mut st = ctx.shared.lock();
    let known: Vec<bool> = parts
        .iter()
        .map(|(t, p)| {
            st.topics
                .get(t.as_str())
                .is_some_and(|x| x.partition(*p).is_some())
        })
        .collect();
    if known.iter().any(|k| !k) {
        return known
            .iter()
            .map(|k| {
                if *k {
                    codes::OPERATION_NOT_ATTEMPTED
                } else {
                    codes::UNKNOWN_TOPIC_OR_PARTITION
                }
            })
            .collect();
    }
    if let Err(code) = check_coordinator(ctx, id) {
        return vec![code; parts.len()];
    }
    let (pid, epoch) = producer;
    if verify_only {
        return parts
            .iter()
            .map(|part| match txn::verify(&st, id, pid, epoch, part) {
                Ok(()) => codes::NONE,
                Err(code) => code,
            })
            .collect();
    }
    let code = match txn::add_partitions(&mut st, id, pid, epoch, parts) {
        Ok(()) => codes::NONE,
        Err(code) => fenced(code, version, 2),
    };
    vec![code; parts.len()]
}

fn topic_results(parts: &[(String, i32)], codes_out: &[i16]) -> Vec<AddPartitionsToTxnTopicResult> {
    let mut out: Vec<AddPartitionsToTxnTopicResult> = Vec::new();
    for ((t, p), code) in parts.iter().zip(codes_out) {
        let r = AddPartitionsToTxnPartitionResult::default()
            .with_partition_index(*p)
            .with_partition_error_code(*code);
        match out.iter_mut().find(|x| x.name.as_str() == t) {
            Some(x) => x.results_by_partition.push(r),
            None => out.push(
                AddPartitionsToTxnTopicResult::default()
                    .with_name(topic_name(t))
                    .with_results_by_partition(vec![r]),
            ),
        }
    }
    out
}

/// AddPartitionsToTxn: one transaction before v4 (clients), a batch from
/// v4 (brokers verifying, KIP-890).
pub(crate) fn add_partitions_to_txn(
    ctx: &Ctx<'_>,
    req: &AddPartitionsToTxnRequest,
    version: i16,
) -> AddPartitionsToTxnResponse {
    if version < 4 {
        let parts = partitions_of(&req.v3_and_below_topics);
        let producer = (
            req.v3_and_below_producer_id.0,
            req.v3_and_below_producer_epoch,
        );
        let id = req.v3_and_below_transactional_id.as_str();
        let codes_out = add_one(ctx, id, producer, &parts, false, version);
        return AddPartitionsToTxnResponse::default()
            .with_results_by_topic_v3_and_below(topic_results(&parts, &codes_out));
    }
    let results = req
        .transactions
        .iter()
        .map(|t| {
            let parts = partitions_of(&t.topics);
            let producer = (t.producer_id.0, t.producer_epoch);
            let id = t.transactional_id.as_str();
            let codes_out = add_one(ctx, id, producer, &parts, t.verify_only, version);
            AddPartitionsToTxnResult::default()
                .with_transactional_id(t.transactional_id.clone())
                .with_topic_results(topic_results(&parts, &codes_out))
        })
        .collect();
    AddPartitionsToTxnResponse::default().with_results_by_transaction(results)
}

/// AddPartitionsToTxn with `code` on every partition (for intercepts).
pub(crate) fn add_partitions_to_txn_error(
    req: &AddPartitionsToTxnRequest,
    version: i16,
    code: i16,
) -> AddPartitionsToTxnResponse {
    if version < 4 {
        let parts = partitions_of(&req.v3_and_below_topics);
        let results = topic_results(&parts, &vec![code; parts.len()]);
        return AddPartitionsToTxnResponse::default().with_results_by_topic_v3_and_below(results);
    }
    let results = req
        .transactions
        .iter()
        .map(|t| {
            let parts = partitions_of(&t.topics);
            AddPartitionsToTxnResult::default()
                .with_transactional_id(t.transactional_id.clone())
                .with_topic_results(topic_results(&parts, &vec![code; parts.len()]))
        })
        .collect();
    AddPartitionsToTxnResponse::default().with_results_by_transaction(results)
}

/// AddOffsetsToTxn: the group's `__consumer_offsets` partition joins the
/// transaction, so TxnOffsetCommit for the group passes verification.
pub(crate) fn add_offsets_to_txn(
    ctx: &Ctx<'_>,
    req: &AddOffsetsToTxnRequest,
    version: i16,
) -> AddOffsetsToTxnResponse {
    let id = req.transactional_id.as_str();
    let part = (
        OFFSETS_TOPIC.to_string(),
        offsets_partition(req.group_id.as_str()),
    );
    let result = check_coordinator(ctx, id).and_then(|()| {
        let mut st = ctx.shared.lock();
        txn::add_partitions(&mut st, id, req.producer_id.0, req.producer_epoch, &[part])
    });
    let code = result.err().map_or(codes::NONE, |c| fenced(c, version, 2));
    AddOffsetsToTxnResponse::default().with_error_code(code)
}

/// EndTxn: commit or abort; the markers are written before the answer
/// unless held.
pub(crate) fn end_txn(ctx: &Ctx<'_>, req: &EndTxnRequest, version: i16) -> EndTxnResponse {
    let id = req.transactional_id.as_str();
    let result = check_coordinator(ctx, id).and_then(|()| {
        let mut st = ctx.shared.lock();
        txn::end_txn(
            &mut st,
            &ctx.shared.groups,
            id,
            req.producer_id.0,
            req.producer_epoch,
            req.committed,
        )
    });
    ctx.shared.notify_data();
    let code = result.err().map_or(codes::NONE, |c| fenced(c, version, 2));
    EndTxnResponse::default()
        .with_error_code(code)
        .with_producer_id(ProducerId(-1))
        .with_producer_epoch(-1)
}

/// DescribeTransactions (KIP-664, Java `handleDescribeTransactions`).
pub(crate) fn describe_transactions(
    ctx: &Ctx<'_>,
    req: &DescribeTransactionsRequest,
) -> DescribeTransactionsResponse {
    let st = ctx.shared.lock();
    let states = req
        .transactional_ids
        .iter()
        .map(|tid| {
            let id = tid.as_str();
            let out = TransactionState::default()
                .with_transactional_id(tid.clone())
                .with_producer_id(ProducerId(-1))
                .with_producer_epoch(-1)
                .with_transaction_start_time_ms(-1);
            if let Err(code) = check_coordinator(ctx, id) {
                return out.with_error_code(code);
            }
            let Some(m) = st.txns.by_id.get(id).filter(|m| m.state != TxnState::Dead) else {
                return out.with_error_code(codes::TRANSACTIONAL_ID_NOT_FOUND);
            };
            let mut topics: Vec<TopicData> = Vec::new();
            for (t, p) in &m.partitions {
                match topics.iter_mut().find(|x| x.topic.as_str() == t) {
                    Some(x) => x.partitions.push(*p),
                    None => topics.push(
                        TopicData::default()
                            .with_topic(topic_name(t))
                            .with_partitions(vec![*p]),
                    ),
                }
            }
            out.with_producer_id(ProducerId(m.producer_id))
                .with_producer_epoch(m.producer_epoch)
                .with_transaction_state(s(m.state.name()))
                .with_transaction_timeout_ms(m.timeout_ms)
                .with_transaction_start_time_ms(m.start_ms)
                .with_topics(topics)
        })
        .collect();
    DescribeTransactionsResponse::default().with_transaction_states(states)
}

/// DescribeTransactions with `code` for every id (for intercepts).
pub(crate) fn describe_transactions_error(
    req: &DescribeTransactionsRequest,
    code: i16,
) -> DescribeTransactionsResponse {
    let states = req
        .transactional_ids
        .iter()
        .map(|tid| {
            TransactionState::default()
                .with_transactional_id(tid.clone())
                .with_error_code(code)
                .with_producer_id(ProducerId(-1))
                .with_producer_epoch(-1)
                .with_transaction_start_time_ms(-1)
        })
        .collect();
    DescribeTransactionsResponse::default().with_transaction_states(states)
}

const STATES: [TxnState; 8] = [
    TxnState::Empty,
    TxnState::Ongoing,
    TxnState::PrepareCommit,
    TxnState::PrepareAbort,
    TxnState::CompleteCommit,
    TxnState::CompleteAbort,
    TxnState::PrepareEpochFence,
    TxnState::Dead,
];

/// ListTransactions (KIP-664, Java `TransactionStateManager.
/// listTransactionStates`): the ids this broker coordinates, filtered by
/// state, producer id, duration (v1) and id pattern (v2, a regex).
pub(crate) fn list_transactions(
    ctx: &Ctx<'_>,
    req: &ListTransactionsRequest,
    version: i16,
) -> ListTransactionsResponse {
    let unknown: Vec<_> = req
        .state_filters
        .iter()
        .filter(|f| !STATES.iter().any(|st| st.name() == f.as_str()))
        .cloned()
        .collect();
    let pattern = match req
        .transactional_id_pattern
        .as_ref()
        .filter(|_| version >= 2)
    {
        Some(p) if !p.is_empty() => match regex::Regex::new(&format!("^(?:{})$", p.as_str())) {
            Ok(r) => Some(r),
            Err(_) => {
                return ListTransactionsResponse::default().with_error_code(codes::INVALID_REQUEST)
            }
        },
        _ => None,
    };
    let now = txn::now_ms();
    let st = ctx.shared.lock();
    let states = st
        .txns
        .by_id
        .iter()
        .filter(|(id, _)| {
            coordinator_of(ctx.shared, CoordinatorType::Transaction, id) == ctx.broker
        })
        .filter(|(_, m)| m.state != TxnState::Dead)
        .filter(|(_, m)| {
            req.producer_id_filters.is_empty()
                || req.producer_id_filters.iter().any(|p| p.0 == m.producer_id)
        })
        .filter(|(_, m)| {
            req.state_filters.is_empty()
                || req
                    .state_filters
                    .iter()
                    .any(|f| f.as_str() == m.state.name())
        })
        .filter(|(_, m)| {
            version < 1 || req.duration_filter < 0 || now - m.start_ms > req.duration_filter
        })
        .filter(|(id, _)| pattern.as_ref().is_none_or(|r| r.is_match(id)))
        .map(|(id, m)| {
            Listed::default()
                .with_transactional_id(TransactionalId(s(id.as_str())))
                .with_producer_id(ProducerId(m.producer_id))
                .with_transaction_state(s(m.state.name()))
        })
        .collect();
    ListTransactionsResponse::default()
        .with_unknown_state_filters(unknown)
        .with_transaction_states(states)
}
