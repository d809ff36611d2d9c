//! CreateTopics, DeleteTopics, CreatePartitions and DeleteRecords.

use std::collections::{BTreeMap, HashSet};

use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafka_protocol::messages::create_topics_response::{
    CreatableTopicConfigs, CreatableTopicResult,
};
use kafka_protocol::messages::delete_records_response::{
    DeleteRecordsPartitionResult, DeleteRecordsTopicResult,
};
use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use kafka_protocol::messages::*;

use super::meta::s;
use super::Ctx;
use crate::fake::cluster::{self, to_uuid, TOPIC_CONFIGS};
use crate::fake::codes;

/// CreateTopics (Java `ZkAdminManager`/`ControllerApis.createTopics` checks).
pub(super) fn create_topics(
    ctx: &Ctx<'_>,
    req: &CreateTopicsRequest,
    version: i16,
) -> CreateTopicsResponse {
    let settings = &ctx.shared.settings;
    let mut seen = HashSet::new();
    let dupes: HashSet<&str> = req
        .topics
        .iter()
        .filter(|t| !seen.insert(t.name.as_str()))
        .map(|t| t.name.as_str())
        .collect();
    let mut st = ctx.shared.lock();
    let topics = req
        .topics
        .iter()
        .map(|t| {
            let name = t.name.as_str();
            let mut r = CreatableTopicResult::default().with_name(t.name.clone());
            if dupes.contains(name) {
                r.error_code = codes::INVALID_REQUEST;
                r.error_message = Some(s(format!(
                    "Create topics request from client contains a duplicate topic {name}"
                )));
                return r;
            }
            let n = settings.brokers;
            if t.assignments.iter().any(|a| {
                a.broker_ids.is_empty() || a.broker_ids.iter().any(|b| b.0 < 0 || b.0 >= n)
            }) {
                r.error_code = codes::INVALID_REPLICA_ASSIGNMENT;
                r.error_message = Some(s("Replica assignment names an unknown broker."));
                return r;
            }
            let partitions = if !t.assignments.is_empty() {
                t.assignments.len() as i32
            } else if t.num_partitions == -1 {
                settings.default_partitions
            } else {
                t.num_partitions
            };
            let rf = if !t.assignments.is_empty() {
                t.assignments[0].broker_ids.len() as i16
            } else if t.replication_factor == -1 {
                settings.default_replication()
            } else {
                t.replication_factor
            };
            if !t.assignments.is_empty() && (t.num_partitions != -1 || t.replication_factor != -1) {
                r.error_code = codes::INVALID_REQUEST;
                r.error_message = Some(s(
                    "Both numPartitions or replicationFactor and replicasAssignments were set.",
                ));
                return r;
            }
            let configs: BTreeMap<String, String> = t
                .configs
                .iter()
                .filter_map(|c| {
                    Some((
                        c.name.as_str().to_string(),
                        c.value.as_ref()?.as_str().to_string(),
                    ))
                })
                .collect();
            let result = if req.validate_only {
                // Validate against a scratch copy of the names only.
                let mut probe = cluster::State::default();
                if st.topics.contains_key(name) {
                    Err((
                        codes::TOPIC_ALREADY_EXISTS,
                        format!("Topic '{name}' already exists."),
                    ))
                } else {
                    probe
                        .create_topic(name, partitions, rf, configs.clone(), settings.brokers)
                        .map(|t| t.id)
                }
            } else {
                st.create_topic(name, partitions, rf, configs.clone(), settings.brokers)
                    .map(|t| t.id)
            };
            match result {
                Ok(id) => {
                    if let Some(t) = st.topics.get_mut(name) {
                        apply_assignments(t, req.topics.iter().find(|x| x.name.as_str() == name));
                    }
                    if version >= 7 && !req.validate_only {
                        r.topic_id = to_uuid(id);
                    }
                    if version >= 5 {
                        r.num_partitions = partitions;
                        r.replication_factor = rf;
                        r.configs = Some(
                            TOPIC_CONFIGS
                                .iter()
                                .map(|(k, d)| {
                                    let explicit = configs.get(*k);
                                    CreatableTopicConfigs::default()
                                        .with_name(s(*k))
                                        .with_value(Some(s(explicit
                                            .cloned()
                                            .unwrap_or_else(|| d.to_string()))))
                                        .with_config_source(if explicit.is_some() { 1 } else { 5 })
                                })
                                .collect(),
                        );
                    }
                }
                Err((code, msg)) => {
                    r.error_code = code;
                    r.error_message = Some(s(msg));
                }
            }
            r
        })
        .collect();
    drop(st);
    ctx.shared.notify_data();
    CreateTopicsResponse::default().with_topics(topics)
}

/// Uses explicit replica assignments: the first replica leads.
fn apply_assignments(
    topic: &mut cluster::Topic,
    req: Option<&create_topics_request::CreatableTopic>,
) {
    let Some(req) = req else { return };
    for a in &req.assignments {
        let (Some(p), Some(first)) = (topic.partition_mut(a.partition_index), a.broker_ids.first())
        else {
            continue;
        };
        p.leader = first.0;
        p.replicas = a.broker_ids.iter().map(|b| b.0).collect();
    }
}

/// CreateTopics with `code` on every topic.
pub(super) fn create_topics_error(req: &CreateTopicsRequest, code: i16) -> CreateTopicsResponse {
    let topics = req
        .topics
        .iter()
        .map(|t| {
            CreatableTopicResult::default()
                .with_name(t.name.clone())
                .with_error_code(code)
        })
        .collect();
    CreateTopicsResponse::default().with_topics(topics)
}

/// DeleteTopics by name (v1-5) or by name or id (v6).
pub(super) fn delete_topics(
    ctx: &Ctx<'_>,
    req: &DeleteTopicsRequest,
    version: i16,
) -> DeleteTopicsResponse {
    let mut st = ctx.shared.lock();
    let mut out = Vec::new();
    let targets: Vec<(Option<String>, u128)> = if version >= 6 {
        req.topics
            .iter()
            .map(|t| {
                (
                    t.name.as_ref().map(|n| n.as_str().to_string()),
                    t.topic_id.as_u128(),
                )
            })
            .collect()
    } else {
        req.topic_names
            .iter()
            .map(|n| (Some(n.as_str().to_string()), 0))
            .collect()
    };
    for (name, id) in targets {
        let mut r = DeletableTopicResult::default();
        let resolved = match (&name, id) {
            (Some(n), _) if !n.is_empty() => {
                r.name = Some(super::meta::topic_name(n));
                st.topics
                    .get(n)
                    .map(|t| (n.clone(), t.id))
                    .ok_or(codes::UNKNOWN_TOPIC_OR_PARTITION)
            }
            (_, id) => {
                r.name = None;
                r.topic_id = to_uuid(id);
                st.name_of(id)
                    .map(|n| (n.to_string(), id))
                    .ok_or(codes::UNKNOWN_TOPIC_ID)
            }
        };
        match resolved {
            Ok((n, id)) => {
                st.delete_topic(&n);
                if version >= 6 {
                    r.topic_id = to_uuid(id);
                    r.name = Some(super::meta::topic_name(&n));
                }
            }
            Err(code) => {
                r.error_code = code;
                if version < 6 && r.name.is_none() {
                    r.name = Some(super::meta::topic_name(""));
                }
            }
        }
        out.push(r);
    }
    drop(st);
    ctx.shared.notify_data();
    DeleteTopicsResponse::default().with_responses(out)
}

/// DeleteTopics with `code` on every topic.
pub(super) fn delete_topics_error(
    req: &DeleteTopicsRequest,
    version: i16,
    code: i16,
) -> DeleteTopicsResponse {
    let out = if version >= 6 {
        req.topics
            .iter()
            .map(|t| {
                DeletableTopicResult::default()
                    .with_name(t.name.clone())
                    .with_topic_id(t.topic_id)
                    .with_error_code(code)
            })
            .collect()
    } else {
        req.topic_names
            .iter()
            .map(|n| {
                DeletableTopicResult::default()
                    .with_name(Some(n.clone()))
                    .with_error_code(code)
            })
            .collect()
    };
    DeleteTopicsResponse::default().with_responses(out)
}

/// CreatePartitions: only grows a topic (Java INVALID_PARTITIONS otherwise).
pub(super) fn create_partitions(
    ctx: &Ctx<'_>,
    req: &CreatePartitionsRequest,
) -> CreatePartitionsResponse {
    let brokers = ctx.shared.settings.brokers;
    let mut seen = HashSet::new();
    let mut st = ctx.shared.lock();
    let results = req
        .topics
        .iter()
        .map(|t| {
            let mut r = CreatePartitionsTopicResult::default().with_name(t.name.clone());
            let fail = |mut r: CreatePartitionsTopicResult, code, msg: String| {
                r.error_code = code;
                r.error_message = Some(s(msg));
                r
            };
            if !seen.insert(t.name.as_str()) {
                return fail(
                    r,
                    codes::INVALID_REQUEST,
                    "Duplicate topic in request.".into(),
                );
            }
            let Some(topic) = st.topics.get_mut(t.name.as_str()) else {
                return fail(
                    r,
                    codes::UNKNOWN_TOPIC_OR_PARTITION,
                    format!("The topic '{}' does not exist.", t.name.as_str()),
                );
            };
            let have = topic.partitions.len() as i32;
            if t.count <= have {
                let msg = format!(
                    "Topic currently has {have} partitions, which is higher than the requested {}.",
                    t.count
                );
                return fail(r, codes::INVALID_PARTITIONS, msg);
            }
            if let Some(a) = t.assignments.as_ref().filter(|a| !a.is_empty()) {
                if a.len() as i32 != t.count - have {
                    return fail(
                        r,
                        codes::INVALID_REPLICA_ASSIGNMENT,
                        "Assignment count does not match the new partitions.".into(),
                    );
                }
            }
            if !req.validate_only {
                cluster::add_partitions(topic, t.count, brokers);
            }
            r.error_code = codes::NONE;
            r
        })
        .collect();
    drop(st);
    ctx.shared.notify_data();
    CreatePartitionsResponse::default().with_results(results)
}

/// CreatePartitions with `code` on every topic.
pub(super) fn create_partitions_error(
    req: &CreatePartitionsRequest,
    code: i16,
) -> CreatePartitionsResponse {
    let results = req
        .topics
        .iter()
        .map(|t| {
            CreatePartitionsTopicResult::default()
                .with_name(t.name.clone())
                .with_error_code(code)
        })
        .collect();
    CreatePartitionsResponse::default().with_results(results)
}

/// DeleteRecords: moves the log start offset; -1 means the high watermark.
pub(super) fn delete_records(ctx: &Ctx<'_>, req: &DeleteRecordsRequest) -> DeleteRecordsResponse {
    let mut st = ctx.shared.lock();
    let topics = req
        .topics
        .iter()
        .map(|t| {
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    let mut r = DeleteRecordsPartitionResult::default()
                        .with_partition_index(p.partition_index)
                        .with_low_watermark(-1);
                    let Some(part) = st
                        .topics
                        .get_mut(t.name.as_str())
                        .and_then(|x| x.partition_mut(p.partition_index))
                    else {
                        r.error_code = codes::UNKNOWN_TOPIC_OR_PARTITION;
                        return r;
                    };
                    if part.leader != ctx.broker {
                        r.error_code = codes::NOT_LEADER_OR_FOLLOWER;
                        return r;
                    }
                    let target = if p.offset == -1 {
                        part.high_watermark()
                    } else {
                        p.offset
                    };
                    if target < 0 || target > part.high_watermark() {
                        r.error_code = codes::OFFSET_OUT_OF_RANGE;
                        return r;
                    }
                    part.delete_before(target);
                    r.low_watermark = part.log_start;
                    r
                })
                .collect();
            DeleteRecordsTopicResult::default()
                .with_name(t.name.clone())
                .with_partitions(partitions)
        })
        .collect();
    drop(st);
    ctx.shared.notify_data();
    DeleteRecordsResponse::default().with_topics(topics)
}

/// DeleteRecords with `code` on every partition.
pub(super) fn delete_records_error(req: &DeleteRecordsRequest, code: i16) -> DeleteRecordsResponse {
    let topics = req
        .topics
        .iter()
        .map(|t| {
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    DeleteRecordsPartitionResult::default()
                        .with_partition_index(p.partition_index)
                        .with_low_watermark(-1)
                        .with_error_code(code)
                })
                .collect();
            DeleteRecordsTopicResult::default()
                .with_name(t.name.clone())
                .with_partitions(partitions)
        })
        .collect();
    DeleteRecordsResponse::default().with_topics(topics)
}
