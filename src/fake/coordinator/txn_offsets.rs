//! TxnOffsetCommit on the group coordinator (Java `GroupCoordinator.
//! handleTxnCommitOffsets`, `OffsetMetadataManager.commitTransactionalOffset`
//! and `validateTransactionalOffsetCommit`), and the end of staged offsets
//! when their transaction's marker reaches the group's `__consumer_offsets`
//! partition.

use crate::messages::txn_offset_commit_response::{
    TxnOffsetCommitResponsePartition, TxnOffsetCommitResponseTopic,
};
use crate::messages::*;

use super::group::Group;
use super::offsets::{known, prepare_txn, MAX_METADATA};
use super::tickets::Env;
use super::txn::{self, OFFSETS_TOPIC};
use super::{check_group, offsets_partition, GroupState, Groups};
use crate::fake::api::{Ctx, Handled, Reply};
use crate::fake::codes;

fn parts(req: &TxnOffsetCommitRequest) -> impl Iterator<Item = (&str, i32)> {
    req.topics.iter().flat_map(|t| {
        t.partitions
            .iter()
            .map(move |p| (t.name.as_str(), p.partition_index))
    })
}

/// TxnOffsetCommit: one error code per partition.
///
/// Order as Java: the group id (INVALID_GROUP_ID) and coordinator
/// (NOT_COORDINATOR), unknown partitions (UNKNOWN_TOPIC_OR_PARTITION, the
/// others go on), the transaction verification of Kafka 3.6+ (the group's
/// `__consumer_offsets` partition must be in the producer's transaction, so
/// AddOffsetsToTxn must come first: TRANSACTION_ABORTABLE from v4, else
/// INVALID_TXN_STATE), then the KIP-447 member checks.
pub(crate) fn txn_offset_commit(
    ctx: &Ctx<'_>,
    req: &TxnOffsetCommitRequest,
    version: i16,
) -> Handled {
    let n = parts(req).count();
    let group_id = req.group_id.as_str();
    let codes_out = match check_group(ctx, group_id, false) {
        Err(code) => vec![code; n],
        Ok(()) => {
            let known = known(ctx.shared, parts(req));
            if !known.iter().any(|k| *k) {
                vec![codes::UNKNOWN_TOPIC_OR_PARTITION; n]
            } else {
                match verify(ctx, req, version) {
                    Err(code) => known
                        .iter()
                        .map(|k| {
                            if *k {
                                code
                            } else {
                                codes::UNKNOWN_TOPIC_OR_PARTITION
                            }
                        })
                        .collect(),
                    Ok(()) => ctx
                        .shared
                        .groups
                        .run(|groups, env| stage(groups, env, req, &known)),
                }
            }
        }
    };
    Handled::Reply(Reply::TxnOffsetCommit(response(req, &codes_out)))
}

/// `AddPartitionsToTxnManager`'s translation of the verification answer
/// for a TxnOffsetCommit.
fn verify(ctx: &Ctx<'_>, req: &TxnOffsetCommitRequest, version: i16) -> Result<(), i16> {
    let part = (
        OFFSETS_TOPIC.to_string(),
        offsets_partition(req.group_id.as_str()),
    );
    let st = ctx.shared.lock();
    txn::verify(
        &st,
        req.transactional_id.as_str(),
        req.producer_id.0,
        req.producer_epoch,
        &part,
    )
    .map_err(|code| match code {
        codes::PRODUCER_FENCED => codes::INVALID_PRODUCER_EPOCH,
        codes::TRANSACTION_ABORTABLE if version < 4 => codes::INVALID_TXN_STATE,
        other => other,
    })
}

/// Java `ClassicGroup.validateOffsetCommit` with `isTransactional`: no
/// REBALANCE_IN_PROGRESS, and no member needed when none is named.
fn validate(g: &Group, req: &TxnOffsetCommitRequest) -> Result<(), i16> {
    if g.state == GroupState::Dead {
        return Err(codes::COORDINATOR_NOT_AVAILABLE);
    }
    let generation = req.generation_id;
    if generation < 0 && g.state == GroupState::Empty {
        return Ok(());
    }
    let member = req.member_id.as_str();
    let instance = req.group_instance_id.as_ref().map(|s| s.as_str());
    if generation >= 0 || !member.is_empty() || instance.is_some() {
        g.validate_member(member, instance)?;
        if generation != g.generation {
            return Err(codes::ILLEGAL_GENERATION);
        }
    }
    Ok(())
}

fn stage(
    groups: &mut std::collections::BTreeMap<String, Group>,
    env: &mut Env,
    req: &TxnOffsetCommitRequest,
    known: &[bool],
) -> Vec<i16> {
    let group_id = req.group_id.as_str();
    let verdict = match groups.get(group_id) {
        Some(g) => validate(g, req),
        // OffsetMetadataManager: a simple group is created for a
        // generation-less commit; otherwise the generation is illegal.
        None if req.generation_id < 0 => Ok(()),
        None => Err(codes::ILLEGAL_GENERATION),
    };
    let mut known = known.iter();
    let mut out = Vec::new();
    for t in &req.topics {
        for p in &t.partitions {
            let code = match (known.next(), verdict) {
                (Some(false) | None, _) => codes::UNKNOWN_TOPIC_OR_PARTITION,
                (Some(true), Err(code)) => code,
                (Some(true), Ok(())) => {
                    let metadata = p.committed_metadata.as_ref().map_or("", |m| m.as_str());
                    if metadata.len() > MAX_METADATA {
                        codes::OFFSET_METADATA_TOO_LARGE
                    } else {
                        prepare_txn(
                            groups,
                            env,
                            group_id,
                            req.producer_id.0,
                            (t.name.as_str(), p.partition_index),
                            (p.committed_offset, p.committed_leader_epoch, metadata),
                        );
                        codes::NONE
                    }
                }
            };
            out.push(code);
        }
    }
    out
}

fn response(req: &TxnOffsetCommitRequest, codes_out: &[i16]) -> TxnOffsetCommitResponse {
    let mut codes_out = codes_out.iter().copied();
    let topics = req
        .topics
        .iter()
        .map(|t| {
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    TxnOffsetCommitResponsePartition::default()
                        .with_partition_index(p.partition_index)
                        .with_error_code(codes_out.next().unwrap_or(codes::NONE))
                })
                .collect();
            TxnOffsetCommitResponseTopic::default()
                .with_name(t.name.clone())
                .with_partitions(partitions)
        })
        .collect();
    TxnOffsetCommitResponse::default().with_topics(topics)
}

/// TxnOffsetCommit answered with `code` on every partition (for intercepts).
pub(crate) fn txn_offset_commit_error(
    req: &TxnOffsetCommitRequest,
    code: i16,
) -> TxnOffsetCommitResponse {
    response(req, &vec![code; parts(req).count()])
}

/// The marker of producer `producer_id`'s transaction reached these
/// `__consumer_offsets` partitions: every group there commits or drops the
/// offsets the producer staged (Java `completePendingTxnOffsetCommit`).
pub(crate) fn complete(groups: &Groups, partitions: &[i32], producer_id: i64, commit: bool) {
    groups.run(|groups, env| {
        let ids: Vec<String> = groups
            .values()
            .filter(|g| g.pending_txn_offsets.contains_key(&producer_id))
            .filter(|g| partitions.contains(&offsets_partition(&g.id)))
            .map(|g| g.id.clone())
            .collect();
        for id in ids {
            super::offsets::complete_txn(groups, env, &id, producer_id, commit);
        }
    });
}
