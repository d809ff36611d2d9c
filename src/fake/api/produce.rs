//! Produce and InitProducerId.

use std::collections::BTreeSet;

use crate::messages::produce_request::PartitionProduceData;
use crate::messages::produce_response::{
    LeaderIdAndEpoch, NodeEndpoint, PartitionProduceResponse, TopicProduceResponse,
};
use crate::messages::*;

use super::meta::{s, HOST};
use super::{Ctx, Handled, Reply};
use crate::fake::batch;
use crate::fake::cluster::{Shared, State};
use crate::fake::codes;
use crate::fake::partition::Partition;

/// Why a partition failed, with the leader to report (KIP-951).
struct Failure {
    code: i16,
    leader: Option<(i32, i32)>,
}

impl From<i16> for Failure {
    fn from(code: i16) -> Self {
        Self { code, leader: None }
    }
}

/// Produce: validates and appends one batch per partition.
///
/// With acks=0 nothing is answered, and any partition error closes the
/// connection instead, which is how the Java broker tells such a producer.
pub(super) fn produce(ctx: &Ctx<'_>, req: &ProduceRequest, version: i16) -> Handled {
    let shared = ctx.shared;
    let txn_id = req.transactional_id.as_ref().map(|t| t.as_str());
    if txn_id.is_none() && has_transactional_records(req) {
        // KafkaApis.handleProduceRequest: transactional records need a
        // transactional id the client may write, else the whole request
        // fails (with acks=0, by closing the connection).
        if req.acks == 0 {
            return Handled::Close;
        }
        return Handled::Reply(Reply::Produce(produce_error(
            req,
            codes::TRANSACTIONAL_ID_AUTHORIZATION_FAILED,
        )));
    }
    let how = Append {
        broker: ctx.broker,
        acks_ok: matches!(req.acks, -1..=1),
        bench: shared.settings.bench.is_some(),
        legacy: shared.settings.legacy_producer_state,
        txn_id,
        version,
    };
    let mut any_error = false;
    let mut appended = false;
    let mut leaders = BTreeSet::new();
    let mut responses = Vec::with_capacity(req.topic_data.len());
    {
        let mut st = shared.lock();
        for td in &req.topic_data {
            let name = if version >= 13 {
                st.name_of(td.topic_id.as_u128()).map(str::to_string)
            } else {
                Some(td.name.as_str().to_string())
            };
            let unknown = if version >= 13 {
                codes::UNKNOWN_TOPIC_ID
            } else {
                codes::UNKNOWN_TOPIC_OR_PARTITION
            };
            let mut tr = TopicProduceResponse::default();
            if version >= 13 {
                tr.topic_id = td.topic_id;
            } else {
                tr.name = td.name.clone();
            }
            for pd in &td.partition_data {
                let mut pr = PartitionProduceResponse::default()
                    .with_index(pd.index)
                    .with_base_offset(-1)
                    .with_log_append_time_ms(-1)
                    .with_log_start_offset(-1);
                let result = append_one(&mut st, name.as_deref(), unknown, pd, &how);
                match result {
                    Ok((base, start)) => {
                        appended = true;
                        pr.base_offset = base;
                        pr.log_start_offset = start;
                    }
                    Err(f) => {
                        any_error = true;
                        pr.error_code = f.code;
                        if let (Some((leader, epoch)), true) = (f.leader, version >= 10) {
                            pr.current_leader = LeaderIdAndEpoch::default()
                                .with_leader_id(BrokerId(leader))
                                .with_leader_epoch(epoch);
                            leaders.insert(leader);
                        }
                    }
                }
                tr.partition_responses.push(pr);
            }
            responses.push(tr);
        }
    }
    if appended {
        shared.notify_data();
    }
    if req.acks == 0 {
        return if any_error {
            Handled::Close
        } else {
            Handled::NoReply
        };
    }
    let mut resp = ProduceResponse::default().with_responses(responses);
    if version >= 10 {
        resp.node_endpoints = node_endpoints(shared, &leaders);
    }
    Handled::Reply(Reply::Produce(resp))
}

/// What a produce request fixes for every partition in it.
struct Append<'a> {
    broker: i32,
    acks_ok: bool,
    bench: bool,
    legacy: bool,
    txn_id: Option<&'a str>,
    version: i16,
}

/// Java `RequestUtils.hasTransactionalRecords`: any partition's first
/// batch has the transactional attribute.
fn has_transactional_records(req: &ProduceRequest) -> bool {
    req.topic_data.iter().any(|td| {
        td.partition_data.iter().any(|pd| {
            pd.records
                .as_deref()
                .and_then(batch::parse_header)
                .is_some_and(|h| h.magic == 2 && h.is_transactional())
        })
    })
}

/// Java's partition verification (`ReplicaManager.handleProduceAppend`
/// with `AddPartitionsToTxnManager`, Kafka 3.6+): a transactional batch
/// whose producer has no open transaction in the partition yet must come
/// from the current epoch of a transaction that added the partition. The
/// coordinator's answers reach the producer translated: PRODUCER_FENCED as
/// INVALID_PRODUCER_EPOCH, a partition not added as TRANSACTION_ABORTABLE
/// (INVALID_TXN_STATE before Produce v11), a transaction being completed
/// as NOT_ENOUGH_REPLICAS (retriable for every client).
fn verify_txn(
    txns: &State,
    part: &Partition,
    h: &batch::BatchHeader,
    topic: &str,
    index: i32,
    how: &Append<'_>,
) -> Result<(), i16> {
    if !h.is_transactional() || !h.has_producer_id() {
        return Ok(());
    }
    if part.has_ongoing_txn(h.producer_id, h.producer_epoch) {
        return Ok(());
    }
    let Some(id) = how.txn_id else {
        return Err(codes::TRANSACTIONAL_ID_AUTHORIZATION_FAILED);
    };
    let key = (topic.to_string(), index);
    crate::fake::coordinator::verify_txn(txns, id, h.producer_id, h.producer_epoch, &key).map_err(
        |code| match code {
            codes::PRODUCER_FENCED => codes::INVALID_PRODUCER_EPOCH,
            codes::TRANSACTION_ABORTABLE if how.version <= 10 => codes::INVALID_TXN_STATE,
            codes::CONCURRENT_TRANSACTIONS => codes::NOT_ENOUGH_REPLICAS,
            other => other,
        },
    )
}

/// Validates one partition's batch and appends it: returns its base offset
/// and the log start offset.
fn append_one(
    st: &mut State,
    name: Option<&str>,
    unknown: i16,
    pd: &PartitionProduceData,
    how: &Append<'_>,
) -> Result<(i64, i64), Failure> {
    {
        // Everything but the append reads the state; the transaction
        // verification needs the coordinator's side of it too.
        let st: &State = st;
        let topic = name.and_then(|n| st.topics.get(n)).ok_or(unknown)?;
        if let (Some(part), Some(records)) = (topic.partition(pd.index), pd.records.as_deref()) {
            let transactional = batch::parse_header(records).is_some_and(|h| h.is_transactional());
            if transactional && how.acks_ok && part.leader == how.broker && !how.bench {
                if let Ok(h) = batch::validate_produce(records, topic.max_message_bytes(), true) {
                    verify_txn(st, part, &h, &topic.name, pd.index, how)?;
                }
            }
        }
    }
    let topic = name.and_then(|n| st.topics.get_mut(n)).ok_or(unknown)?;
    let max = topic.max_message_bytes();
    let part = topic
        .partition_mut(pd.index)
        .ok_or(codes::UNKNOWN_TOPIC_OR_PARTITION)?;
    // KafkaApis.handleProduceRequest answers unknown partitions itself;
    // ReplicaManager.appendRecords then refuses every other partition for
    // bad acks.
    if !how.acks_ok {
        return Err(codes::INVALID_REQUIRED_ACKS.into());
    }
    if part.leader != how.broker {
        return Err(Failure {
            code: codes::NOT_LEADER_OR_FOLLOWER,
            leader: Some((part.leader, part.leader_epoch)),
        });
    }
    let mut records = pd.records.as_deref().unwrap_or(&[]);
    if records.is_empty() {
        // "...only allowed to contain exactly one record batch".
        return Err(codes::INVALID_RECORD.into());
    }
    let converted;
    if how.version < 3 {
        // Produce v0-v2 (the Kafka 0.10 mode): a message set, validated as
        // Java 0.10's LogValidator does and stored as one v2 batch.
        let (msgs, codec) = crate::fake::legacy::parse_produced(records)?;
        converted = crate::fake::legacy::to_v2_batch(&msgs, codec)?;
        records = &converted;
    }
    let h = batch::validate_produce(records, max, !how.bench)?;
    // UnifiedLog.analyzeAndValidateRecords: a client's v2 batch starts at
    // offset 0. Java checks this before the size and the CRC; here a batch
    // failing those as well gets their code instead.
    if h.base_offset != 0 {
        return Err(codes::INVALID_RECORD.into());
    }
    if how.bench {
        let base = part.end;
        part.end += i64::from(h.record_count);
        return Ok((base, part.log_start));
    }
    let a = part.append(&h, records, how.legacy)?;
    Ok((a.base_offset, part.log_start))
}

/// KIP-951 endpoints of the given running brokers.
fn node_endpoints(shared: &Shared, ids: &BTreeSet<i32>) -> Vec<NodeEndpoint> {
    ids.iter()
        .filter(|&&id| shared.alive(id))
        .map(|&id| {
            NodeEndpoint::default()
                .with_node_id(BrokerId(id))
                .with_host(s(HOST))
                .with_port(shared.port(id))
        })
        .collect()
}

/// Produce with `code` on every partition.
pub(super) fn produce_error(req: &ProduceRequest, code: i16) -> ProduceResponse {
    let responses = req
        .topic_data
        .iter()
        .map(|td| {
            let partition_responses = td
                .partition_data
                .iter()
                .map(|pd| {
                    PartitionProduceResponse::default()
                        .with_index(pd.index)
                        .with_error_code(code)
                        .with_base_offset(-1)
                        .with_log_append_time_ms(-1)
                        .with_log_start_offset(-1)
                })
                .collect();
            TopicProduceResponse::default()
                .with_name(td.name.clone())
                .with_topic_id(td.topic_id)
                .with_partition_responses(partition_responses)
        })
        .collect();
    ProduceResponse::default().with_responses(responses)
}

/// InitProducerId: idempotent producers here, transactional ids at the
/// transaction coordinator.
///
/// Java's `TransactionCoordinator.handleInitProducerId` hands a
/// non-transactional producer a fresh producer id at epoch 0 even when it
/// sends its current id and epoch (KIP-360 bumps epochs only for
/// transactional ids); one of the two set without the other is INVALID_REQUEST.
pub(super) fn init_producer_id(
    ctx: &Ctx<'_>,
    req: &InitProducerIdRequest,
    version: i16,
) -> InitProducerIdResponse {
    let resp = InitProducerIdResponse::default()
        .with_producer_id(ProducerId(-1))
        .with_producer_epoch(-1);
    match &req.transactional_id {
        None => {}
        // TransactionCoordinator.handleInitProducerId: an empty id is invalid.
        Some(id) if id.is_empty() => return resp.with_error_code(codes::INVALID_REQUEST),
        Some(_) => return crate::fake::coordinator::init_transactional(ctx, req, version),
    }
    match (req.producer_id.0, req.producer_epoch) {
        (-1, -1) => {}
        (-1, _) | (_, -1) => return resp.with_error_code(codes::INVALID_REQUEST),
        _ => {}
    }
    let mut st = ctx.shared.lock();
    let id = st.next_producer_id;
    st.next_producer_id += 1;
    resp.with_producer_id(ProducerId(id)).with_producer_epoch(0)
}
