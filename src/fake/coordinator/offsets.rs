//! Group offsets: OffsetCommit, OffsetFetch, OffsetDelete and the commit
//! log tests read (Java `GroupCoordinator.handleCommitOffsets` /
//! `handleFetchOffsets` / `handleDeleteOffsets` and
//! `GroupMetadataManager.storeOffsets` / `getOffsets`).
//!
//! Offsets are stored as soon as they are accepted: the fake has no
//! `__consumer_offsets` log to append to, so Java's pending (in-flight)
//! commits never exist here. Transactional offsets do: they wait in
//! `Group::pending_txn_offsets` until their transaction ends.

use std::collections::BTreeMap;

use crate::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use crate::messages::offset_delete_response::{
    OffsetDeleteResponsePartition, OffsetDeleteResponseTopic,
};
use crate::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions,
    OffsetFetchResponseTopic, OffsetFetchResponseTopics,
};
use crate::messages::*;

use super::group::Group;
use super::member::CONSUMER;
use super::tickets::Env;
use super::{check_group, GroupCommit, GroupState};
use crate::fake::api::meta::{s, topic_name};
use crate::fake::api::{Ctx, Handled, Reply};
use crate::fake::cluster::Shared;
use crate::fake::codes;

/// Java `offset.metadata.max.bytes`.
pub(crate) const MAX_METADATA: usize = 4096;

/// A stored offset (Java `OffsetAndMetadata` with its commit record's
/// position, `seq`).
#[derive(Debug, Clone)]
pub(crate) struct Committed {
    pub offset: i64,
    pub leader_epoch: i32,
    pub metadata: String,
    pub seq: u64,
}

type Key = (String, i32);

/// Whether each requested partition exists: Java's `KafkaApis` answers
/// the others UNKNOWN_TOPIC_OR_PARTITION before the coordinator sees them.
pub(crate) fn known<'a>(shared: &Shared, parts: impl Iterator<Item = (&'a str, i32)>) -> Vec<bool> {
    let st = shared.lock();
    parts
        .map(|(t, p)| {
            st.topics
                .get(t)
                .is_some_and(|topic| topic.partition(p).is_some())
        })
        .collect()
}

fn commit_parts(req: &OffsetCommitRequest) -> impl Iterator<Item = (&str, i32)> {
    req.topics.iter().flat_map(|t| {
        t.partitions
            .iter()
            .map(move |p| (t.name.as_str(), p.partition_index))
    })
}

/// OffsetCommit: one error code per partition.
pub(crate) fn offset_commit(ctx: &Ctx<'_>, req: &OffsetCommitRequest, version: i16) -> Handled {
    let codes_out = match check_group(ctx, req.group_id.as_str(), true) {
        Err(code) => vec![code; commit_parts(req).count()],
        Ok(()) => {
            let known = known(ctx.shared, commit_parts(req));
            ctx.shared
                .groups
                .run(|groups, env| commit(groups, env, req, version, &known))
        }
    };
    Handled::Reply(Reply::OffsetCommit(commit_response(req, &codes_out)))
}

fn commit_response(req: &OffsetCommitRequest, codes_out: &[i16]) -> OffsetCommitResponse {
    let mut codes_out = codes_out.iter().copied();
    let topics = req
        .topics
        .iter()
        .map(|t| {
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    OffsetCommitResponsePartition::default()
                        .with_partition_index(p.partition_index)
                        .with_error_code(codes_out.next().unwrap_or(codes::NONE))
                })
                .collect();
            OffsetCommitResponseTopic::default()
                .with_name(t.name.clone())
                .with_partitions(partitions)
        })
        .collect();
    OffsetCommitResponse::default().with_topics(topics)
}

/// OffsetCommit answered with `code` on every partition (for intercepts).
pub(crate) fn offset_commit_error(req: &OffsetCommitRequest, code: i16) -> OffsetCommitResponse {
    commit_response(req, &vec![code; commit_parts(req).count()])
}

fn commit(
    groups: &mut BTreeMap<String, Group>,
    env: &mut Env,
    req: &OffsetCommitRequest,
    version: i16,
    known: &[bool],
) -> Vec<i16> {
    let unknown = |k: &bool| {
        if *k {
            codes::NONE
        } else {
            codes::UNKNOWN_TOPIC_OR_PARTITION
        }
    };
    if !known.iter().any(|k| *k) {
        // Java never asks the coordinator (nor creates a group) then.
        return known.iter().map(unknown).collect();
    }
    let group_id = req.group_id.as_str();
    let generation = req.generation_id_or_member_epoch;
    let member_id = req.member_id.as_str();
    let instance = req.group_instance_id.as_ref().map(|s| s.as_str());
    let verdict = validate_commit(
        groups, env, group_id, generation, member_id, instance, version,
    );
    let mut known = known.iter();
    let mut out = Vec::new();
    for t in &req.topics {
        for p in &t.partitions {
            let code = match (known.next(), &verdict) {
                (Some(false) | None, _) => codes::UNKNOWN_TOPIC_OR_PARTITION,
                (Some(true), Err(code)) => *code,
                (Some(true), Ok(())) => {
                    let metadata = p.committed_metadata.as_ref().map_or("", |m| m.as_str());
                    if metadata.len() > MAX_METADATA {
                        codes::OFFSET_METADATA_TOO_LARGE
                    } else if let Some(g) = groups.get_mut(group_id) {
                        let c = Committed {
                            offset: p.committed_offset,
                            leader_epoch: p.committed_leader_epoch,
                            metadata: metadata.to_string(),
                            seq: next_seq(env),
                        };
                        store(
                            g,
                            env,
                            (t.name.as_str().to_string(), p.partition_index),
                            c,
                            member_id,
                            generation,
                        );
                        codes::NONE
                    } else {
                        codes::COORDINATOR_NOT_AVAILABLE
                    }
                }
            };
            out.push(code);
        }
    }
    out
}

fn next_seq(env: &mut Env) -> u64 {
    env.seq += 1;
    env.seq
}

/// Stores an offset and logs the commit.
fn store(g: &mut Group, env: &mut Env, key: Key, c: Committed, member_id: &str, generation: i32) {
    env.log.entry(g.id.clone()).or_default().push(GroupCommit {
        topic: key.0.clone(),
        partition: key.1,
        offset: c.offset,
        leader_epoch: c.leader_epoch,
        metadata: c.metadata.clone(),
        member_id: member_id.to_string(),
        generation,
        time: env.now,
    });
    g.offsets.insert(key, c);
}

/// Java `handleCommitOffsets` and `validateOffsetCommit` (with the KIP-848
/// coordinator's answer for v9+ commits to a group that does not exist).
fn validate_commit(
    groups: &mut BTreeMap<String, Group>,
    env: &Env,
    group_id: &str,
    generation: i32,
    member_id: &str,
    instance: Option<&str>,
    version: i16,
) -> Result<(), i16> {
    let g = match groups.get_mut(group_id) {
        Some(g) => g,
        // A consumer without group management (or an admin) commits to a
        // group nobody joined: a "simple" group is created.
        None if generation < 0 => groups
            .entry(group_id.to_string())
            .or_insert_with(|| Group::new(group_id)),
        None if version >= 9 => return Err(codes::GROUP_ID_NOT_FOUND),
        None => return Err(codes::ILLEGAL_GENERATION),
    };
    if g.state == GroupState::Dead {
        return Err(codes::COORDINATOR_NOT_AVAILABLE);
    }
    if generation < 0 && g.state == GroupState::Empty {
        return Ok(());
    }
    if generation >= 0 || !member_id.is_empty() || instance.is_some() {
        g.validate_member(member_id, instance)?;
        if generation != g.generation {
            return Err(codes::ILLEGAL_GENERATION);
        }
    } else if g.state != GroupState::Empty {
        // Only members commit to a group that has members.
        return Err(codes::UNKNOWN_MEMBER_ID);
    }
    match g.state {
        // The member has its generation from JoinGroup but not yet its
        // assignment: it should rejoin.
        GroupState::CompletingRebalance => Err(codes::REBALANCE_IN_PROGRESS),
        // A commit during PreparingRebalance is accepted; the heartbeat
        // tells the member to rejoin. A commit also counts as a heartbeat.
        GroupState::Stable | GroupState::PreparingRebalance => {
            if let Some(m) = g.member_mut(member_id) {
                m.heard_from(env);
            }
            Ok(())
        }
        GroupState::Empty | GroupState::Dead => Ok(()),
    }
}

/// One partition of an OffsetFetch answer.
struct Fetched {
    partition: i32,
    offset: i64,
    leader_epoch: i32,
    metadata: String,
    error: i16,
}

impl Fetched {
    /// Java's answer for a partition without an offset: -1 and "".
    fn none(partition: i32, error: i16) -> Self {
        Self {
            partition,
            offset: -1,
            leader_epoch: -1,
            metadata: String::new(),
            error,
        }
    }
}

type Wanted = Option<Vec<(String, Vec<i32>)>>;
type Offsets = Vec<(String, Vec<Fetched>)>;

/// Java `GroupMetadataManager.getOffsets`: the asked partitions (all
/// committed ones when `wanted` is `None`); with `require_stable` a
/// partition with a staged transactional offset is UNSTABLE_OFFSET_COMMIT.
fn fetch(
    groups: &BTreeMap<String, Group>,
    group_id: &str,
    require_stable: bool,
    wanted: Wanted,
) -> Offsets {
    let g = groups.get(group_id).filter(|g| g.state != GroupState::Dead);
    let Some(g) = g else {
        let wanted = wanted.unwrap_or_default();
        return wanted
            .into_iter()
            .map(|(t, ps)| {
                (
                    t,
                    ps.into_iter()
                        .map(|p| Fetched::none(p, codes::NONE))
                        .collect(),
                )
            })
            .collect();
    };
    let wanted = wanted.unwrap_or_else(|| {
        let mut all: Vec<(String, Vec<i32>)> = Vec::new();
        for (t, p) in g.offsets.keys() {
            match all.last_mut() {
                Some((last, ps)) if last == t => ps.push(*p),
                _ => all.push((t.clone(), vec![*p])),
            }
        }
        all
    });
    wanted
        .into_iter()
        .map(|(t, ps)| {
            let parts = ps
                .into_iter()
                .map(|p| {
                    let key = (t.clone(), p);
                    if require_stable && g.has_pending_txn(&key) {
                        return Fetched::none(p, codes::UNSTABLE_OFFSET_COMMIT);
                    }
                    match g.offsets.get(&key) {
                        None => Fetched::none(p, codes::NONE),
                        Some(c) => Fetched {
                            partition: p,
                            offset: c.offset,
                            leader_epoch: c.leader_epoch,
                            metadata: c.metadata.clone(),
                            error: codes::NONE,
                        },
                    }
                })
                .collect();
            (t, parts)
        })
        .collect()
}

/// The groups an OffsetFetch asks about: one before v8, a list from v8.
fn fetch_groups(req: &OffsetFetchRequest, version: i16) -> Vec<(String, Wanted)> {
    if version >= 8 {
        return req
            .groups
            .iter()
            .map(|g| {
                let wanted = g.topics.as_ref().map(|ts| {
                    ts.iter()
                        .map(|t| (t.name.as_str().to_string(), t.partition_indexes.clone()))
                        .collect()
                });
                (g.group_id.as_str().to_string(), wanted)
            })
            .collect();
    }
    let wanted = req.topics.as_ref().map(|ts| {
        ts.iter()
            .map(|t| (t.name.as_str().to_string(), t.partition_indexes.clone()))
            .collect()
    });
    vec![(req.group_id.as_str().to_string(), wanted)]
}

/// OffsetFetch, with require_stable from v7 (KIP-447) and several groups
/// from v8 (KIP-709).
pub(crate) fn offset_fetch(ctx: &Ctx<'_>, req: &OffsetFetchRequest, version: i16) -> Handled {
    let require_stable = version >= 7 && req.require_stable;
    let answers: Vec<(String, Wanted, Result<Offsets, i16>)> = fetch_groups(req, version)
        .into_iter()
        .map(|(group, wanted)| {
            let result = match check_group(ctx, &group, true) {
                Err(code) => Err(code),
                Ok(()) => Ok(ctx
                    .shared
                    .groups
                    .run(|groups, _| fetch(groups, &group, require_stable, wanted.clone()))),
            };
            (group, wanted, result)
        })
        .collect();
    Handled::Reply(Reply::OffsetFetch(fetch_response(answers, version)))
}

fn fetch_response(
    answers: Vec<(String, Wanted, Result<Offsets, i16>)>,
    version: i16,
) -> OffsetFetchResponse {
    if version >= 8 {
        let groups = answers
            .into_iter()
            .map(|(group, _, result)| {
                let g = OffsetFetchResponseGroup::default().with_group_id(GroupId(s(group)));
                match result {
                    Err(code) => g.with_error_code(code),
                    Ok(offsets) => g.with_topics(
                        offsets
                            .into_iter()
                            .map(|(t, ps)| {
                                OffsetFetchResponseTopics::default()
                                    .with_name(topic_name(&t))
                                    .with_partitions(ps.into_iter().map(partition_v8).collect())
                            })
                            .collect(),
                    ),
                }
            })
            .collect();
        return OffsetFetchResponse::default().with_groups(groups);
    }
    let Some((_, wanted, result)) = answers.into_iter().next() else {
        return OffsetFetchResponse::default();
    };
    let (error, offsets) = match result {
        Ok(offsets) => (codes::NONE, offsets),
        // v1 has no group-level error: every asked partition carries it.
        Err(code) if version < 2 => (
            code,
            wanted
                .unwrap_or_default()
                .into_iter()
                .map(|(t, ps)| (t, ps.into_iter().map(|p| Fetched::none(p, code)).collect()))
                .collect(),
        ),
        Err(code) => (code, Vec::new()),
    };
    let topics = offsets
        .into_iter()
        .map(|(t, ps)| {
            OffsetFetchResponseTopic::default()
                .with_name(topic_name(&t))
                .with_partitions(ps.into_iter().map(partition_v0).collect())
        })
        .collect();
    let resp = OffsetFetchResponse::default().with_topics(topics);
    if version >= 2 {
        resp.with_error_code(error)
    } else {
        resp
    }
}

fn partition_v0(f: Fetched) -> OffsetFetchResponsePartition {
    OffsetFetchResponsePartition::default()
        .with_partition_index(f.partition)
        .with_committed_offset(f.offset)
        .with_committed_leader_epoch(f.leader_epoch)
        .with_metadata(Some(s(f.metadata)))
        .with_error_code(f.error)
}

fn partition_v8(f: Fetched) -> OffsetFetchResponsePartitions {
    OffsetFetchResponsePartitions::default()
        .with_partition_index(f.partition)
        .with_committed_offset(f.offset)
        .with_committed_leader_epoch(f.leader_epoch)
        .with_metadata(Some(s(f.metadata)))
        .with_error_code(f.error)
}

/// OffsetFetch answered with `code` for every group (for intercepts).
pub(crate) fn offset_fetch_error(
    req: &OffsetFetchRequest,
    version: i16,
    code: i16,
) -> OffsetFetchResponse {
    let answers = fetch_groups(req, version)
        .into_iter()
        .map(|(g, wanted)| (g, wanted, Err(code)))
        .collect();
    fetch_response(answers, version)
}

fn delete_parts(req: &OffsetDeleteRequest) -> impl Iterator<Item = (&str, i32)> {
    req.topics.iter().flat_map(|t| {
        t.partitions
            .iter()
            .map(move |p| (t.name.as_str(), p.partition_index))
    })
}

/// OffsetDelete (KIP-496, Java `handleDeleteOffsets`): an empty group
/// loses the named offsets; a consumer group keeps those of topics its
/// members subscribe to (GROUP_SUBSCRIBED_TO_TOPIC); any other group with
/// members is NON_EMPTY_GROUP.
pub(crate) fn offset_delete(ctx: &Ctx<'_>, req: &OffsetDeleteRequest) -> Handled {
    let group_id = req.group_id.as_str();
    let result = check_group(ctx, group_id, false).and_then(|()| {
        let known = known(ctx.shared, delete_parts(req));
        ctx.shared
            .groups
            .run(|groups, _| delete(groups, req, &known))
    });
    let resp = match result {
        Err(code) => offset_delete_error(code),
        Ok(codes_out) => {
            let mut codes_out = codes_out.into_iter();
            let topics = req
                .topics
                .iter()
                .map(|t| {
                    let partitions = t
                        .partitions
                        .iter()
                        .map(|p| {
                            OffsetDeleteResponsePartition::default()
                                .with_partition_index(p.partition_index)
                                .with_error_code(codes_out.next().unwrap_or(codes::NONE))
                        })
                        .collect();
                    OffsetDeleteResponseTopic::default()
                        .with_name(t.name.clone())
                        .with_partitions(partitions)
                })
                .collect();
            OffsetDeleteResponse::default().with_topics(topics)
        }
    };
    Handled::Reply(Reply::OffsetDelete(resp))
}

fn delete(
    groups: &mut BTreeMap<String, Group>,
    req: &OffsetDeleteRequest,
    known: &[bool],
) -> Result<Vec<i16>, i16> {
    let g = groups
        .get_mut(req.group_id.as_str())
        .filter(|g| g.state != GroupState::Dead)
        .ok_or(codes::GROUP_ID_NOT_FOUND)?;
    let empty = g.state == GroupState::Empty;
    if !empty && g.protocol_type.as_deref() != Some(CONSUMER) {
        return Err(codes::NON_EMPTY_GROUP);
    }
    let mut known = known.iter();
    let mut out = Vec::new();
    for (topic, partition) in delete_parts(req) {
        let subscribed = !empty
            && g.subscribed
                .as_ref()
                .is_none_or(|topics| topics.contains(topic));
        let code = if known.next() != Some(&true) {
            codes::UNKNOWN_TOPIC_OR_PARTITION
        } else if subscribed {
            codes::GROUP_SUBSCRIBED_TO_TOPIC
        } else {
            let key = (topic.to_string(), partition);
            g.offsets.remove(&key);
            for staged in g.pending_txn_offsets.values_mut() {
                staged.remove(&key);
            }
            codes::NONE
        };
        out.push(code);
    }
    Ok(out)
}

/// OffsetDelete answered with `code` (for intercepts).
pub(crate) fn offset_delete_error(code: i16) -> OffsetDeleteResponse {
    OffsetDeleteResponse::default().with_error_code(code)
}

/// A transactional offset to stage: (offset, leader epoch, metadata).
pub(crate) type Staged<'a> = (i64, i32, &'a str);

/// Java `prepareTxnOffsetCommit`.
pub(crate) fn prepare_txn(
    groups: &mut BTreeMap<String, Group>,
    env: &mut Env,
    group_id: &str,
    producer_id: i64,
    (topic, partition): (&str, i32),
    (offset, leader_epoch, metadata): Staged<'_>,
) {
    let seq = next_seq(env);
    let g = groups
        .entry(group_id.to_string())
        .or_insert_with(|| Group::new(group_id));
    let c = Committed {
        offset,
        leader_epoch,
        metadata: metadata.to_string(),
        seq,
    };
    g.pending_txn_offsets
        .entry(producer_id)
        .or_default()
        .insert((topic.to_string(), partition), c);
}

/// Java `completePendingTxnOffsetCommit`: a committed offset replaces the
/// stored one only if it was written after it, as log order decides in Java.
pub(crate) fn complete_txn(
    groups: &mut BTreeMap<String, Group>,
    env: &mut Env,
    group_id: &str,
    producer_id: i64,
    commit: bool,
) {
    let Some(g) = groups.get_mut(group_id) else {
        return;
    };
    let Some(staged) = g.pending_txn_offsets.remove(&producer_id) else {
        return;
    };
    if !commit {
        return;
    }
    for (key, c) in staged {
        if g.offsets.get(&key).is_none_or(|old| old.seq < c.seq) {
            store(g, env, key, c, "", -1);
        }
    }
}
