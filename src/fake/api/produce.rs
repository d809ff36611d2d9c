//! Produce and InitProducerId.

use std::collections::BTreeSet;

use kafka_protocol::messages::produce_request::PartitionProduceData;
use kafka_protocol::messages::produce_response::{
    LeaderIdAndEpoch, NodeEndpoint, PartitionProduceResponse, TopicProduceResponse,
};
use kafka_protocol::messages::*;

use super::meta::{s, HOST};
use super::{Ctx, Handled, Reply};
use crate::fake::batch;
use crate::fake::cluster::{Shared, State};
use crate::fake::codes;

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
    let how = Append {
        broker: ctx.broker,
        acks_ok: matches!(req.acks, -1..=1),
        bench: shared.settings.bench.is_some(),
        legacy: shared.settings.legacy_producer_state,
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
struct Append {
    broker: i32,
    acks_ok: bool,
    bench: bool,
    legacy: bool,
}

/// Validates one partition's batch and appends it: returns its base offset
/// and the log start offset.
fn append_one(
    st: &mut State,
    name: Option<&str>,
    unknown: i16,
    pd: &PartitionProduceData,
    how: &Append,
) -> Result<(i64, i64), Failure> {
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
    let records = pd.records.as_deref().unwrap_or(&[]);
    if records.is_empty() {
        // "...only allowed to contain exactly one record batch".
        return Err(codes::INVALID_RECORD.into());
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

/// InitProducerId for idempotent producers.
///
/// Java's `TransactionCoordinator.handleInitProducerId` hands a
/// non-transactional producer a fresh producer id at epoch 0 even when it
/// sends its current id and epoch (KIP-360 bumps epochs only for
/// transactional ids); one of the two set without the other is INVALID_REQUEST.
pub(super) fn init_producer_id(
    ctx: &Ctx<'_>,
    req: &InitProducerIdRequest,
) -> InitProducerIdResponse {
    let resp = InitProducerIdResponse::default()
        .with_producer_id(ProducerId(-1))
        .with_producer_epoch(-1);
    match &req.transactional_id {
        None => {}
        // TransactionCoordinator.handleInitProducerId: an empty id is invalid.
        Some(id) if id.is_empty() => return resp.with_error_code(codes::INVALID_REQUEST),
        Some(_) => return crate::fake::coordinator::init_transactional(resp),
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
