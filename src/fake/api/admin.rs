//! CreateTopics, DeleteTopics, CreatePartitions and DeleteRecords.

use std::collections::{BTreeMap, HashMap, HashSet};

use crate::messages::create_partitions_response::CreatePartitionsTopicResult;
use crate::messages::create_topics_response::{CreatableTopicConfigs, CreatableTopicResult};
use crate::messages::delete_records_response::{
    DeleteRecordsPartitionResult, DeleteRecordsTopicResult,
};
use crate::messages::delete_topics_response::DeletableTopicResult;
use crate::messages::*;

use super::meta::s;
use super::Ctx;
use crate::fake::cluster::{self, to_uuid, Settings, Shared, TOPIC_CONFIGS};
use crate::fake::codes;

/// Java `Topic.MAX_NAME_LENGTH`.
const MAX_NAME_LENGTH: usize = 249;

/// A check's failure: the error code and Java's message.
type Refusal = (i16, String);

/// What one CreateTopics entry creates, once it passed every check.
struct NewTopic {
    partitions: i32,
    rf: i16,
    configs: BTreeMap<String, String>,
}

/// CreateTopics, with the checks of Java's `ControllerApis.createTopics`
/// (duplicates) and `ReplicationControlManager.createTopics` (the rest, see
/// [`check_topic`]), in their order.
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
    let live = live_brokers(ctx.shared);
    let mut st = ctx.shared.lock();
    // Java compares with the topics that existed before this request.
    let collisions: HashMap<String, String> = st
        .topics
        .keys()
        .filter(|n| has_collision_chars(n))
        .map(|n| (unify_collision_chars(n), n.clone()))
        .collect();
    let topics = req
        .topics
        .iter()
        .map(|t| {
            let name = t.name.as_str();
            let mut r = CreatableTopicResult::default().with_name(t.name.clone());
            let result = if dupes.contains(name) {
                Err((
                    codes::INVALID_REQUEST,
                    format!("Create topics request from client contains a duplicate topic {name}"),
                ))
            } else {
                check_topic(t, &st, &collisions, settings, live).and_then(|new| {
                    let id = create_one(&mut st, t, &new, req.validate_only, settings.brokers)?;
                    Ok((id, new))
                })
            };
            match result {
                Ok((id, new)) => describe_created(&mut r, id, &new, version, req.validate_only),
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

/// Running brokers, the only ones the fake places replicas on.
fn live_brokers(shared: &Shared) -> i32 {
    let n = shared.brokers.iter().filter(|b| shared.alive(b.id)).count();
    i32::try_from(n).unwrap_or(i32::MAX)
}

/// Java `ReplicationControlManager.createTopics` for one topic: the name
/// (`Topic.validate`), an existing topic, a name that collides with an
/// existing one (`validateNewTopicNames`), null config values
/// (`computeConfigChanges`), then the partitions and replicas
/// ([`topic_shape`]). Unknown or malformed configs are refused after these,
/// by [`cluster::State::create_topic`].
fn check_topic(
    t: &create_topics_request::CreatableTopic,
    st: &cluster::State,
    collisions: &HashMap<String, String>,
    settings: &Settings,
    live: i32,
) -> Result<NewTopic, Refusal> {
    let name = t.name.as_str();
    if let Some(msg) = topic_name_error(name) {
        return Err((codes::INVALID_TOPIC_EXCEPTION, msg));
    }
    if st.topics.contains_key(name) {
        return Err((
            codes::TOPIC_ALREADY_EXISTS,
            format!("Topic '{name}' already exists."),
        ));
    }
    if has_collision_chars(name) {
        if let Some(other) = collisions.get(&unify_collision_chars(name)) {
            return Err((
                codes::INVALID_TOPIC_EXCEPTION,
                format!("Topic '{name}' collides with existing topic: {other}"),
            ));
        }
    }
    let nulls: Vec<&str> = t
        .configs
        .iter()
        .filter(|c| c.value.is_none())
        .map(|c| c.name.as_str())
        .collect();
    if !nulls.is_empty() {
        return Err((
            codes::INVALID_CONFIG,
            format!(
                "Null value not supported for topic configs: {}",
                nulls.join(",")
            ),
        ));
    }
    let (partitions, rf) = topic_shape(t, settings, live)?;
    let configs = t
        .configs
        .iter()
        .filter_map(|c| Some((c.name.to_string(), c.value.as_ref()?.to_string())))
        .collect();
    Ok(NewTopic {
        partitions,
        rf,
        configs,
    })
}

/// Java `Topic.validate(name, "Topic name", ..)`: why `name` is not a legal
/// topic name, in Java's words.
fn topic_name_error(name: &str) -> Option<String> {
    if name.is_empty() {
        return Some("Topic name is illegal, it can't be empty".into());
    }
    if name == "." || name == ".." {
        return Some("Topic name cannot be \".\" or \"..\"".into());
    }
    // Java's String.length counts UTF-16 units.
    if name.encode_utf16().count() > MAX_NAME_LENGTH {
        return Some(format!(
            "Topic name is illegal, it can't be longer than {MAX_NAME_LENGTH} characters, \
             Topic name: {name}"
        ));
    }
    let legal = |b: u8| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-';
    if !name.bytes().all(legal) {
        return Some(format!(
            "Topic name \"{name}\" is illegal, it contains a character other than \
             ASCII alphanumerics, '.', '_' and '-'"
        ));
    }
    None
}

/// Java `Topic.hasCollisionChars`: '.' and '_' become the same character in
/// metric names, so names that differ only there collide.
fn has_collision_chars(name: &str) -> bool {
    name.contains(['.', '_'])
}

/// Java `Topic.unifyCollisionChars`.
fn unify_collision_chars(name: &str) -> String {
    name.replace('.', "_")
}

/// Java `ReplicationControlManager.createTopic`: a manual assignment
/// excludes a partition count and a replication factor; otherwise a
/// replication factor of 0 or below -1 is refused first, then such a
/// partition count; -1 is the broker's default for either; and the replicas
/// must fit on the running brokers ([`replicas_fit`]).
fn topic_shape(
    t: &create_topics_request::CreatableTopic,
    settings: &Settings,
    live: i32,
) -> Result<(i32, i16), Refusal> {
    if let Some(first) = t.assignments.first() {
        let unset = |what: &str| {
            Err((
                codes::INVALID_REQUEST,
                format!(
                    "A manual partition assignment was specified, but {what} was not set to -1."
                ),
            ))
        };
        if t.replication_factor != -1 {
            return unset("replication factor");
        }
        if t.num_partitions != -1 {
            return unset("numPartitions");
        }
        let n = settings.brokers;
        if t.assignments
            .iter()
            .any(|a| a.broker_ids.is_empty() || a.broker_ids.iter().any(|b| b.0 < 0 || b.0 >= n))
        {
            return Err((
                codes::INVALID_REPLICA_ASSIGNMENT,
                "Replica assignment names an unknown broker.".into(),
            ));
        }
        let partitions = i32::try_from(t.assignments.len()).unwrap_or(i32::MAX);
        let rf = i16::try_from(first.broker_ids.len()).unwrap_or(i16::MAX);
        return Ok((partitions, rf));
    }
    if t.replication_factor == 0 || t.replication_factor < -1 {
        return Err((
            codes::INVALID_REPLICATION_FACTOR,
            "Replication factor must be larger than 0, or -1 to use the default value.".into(),
        ));
    }
    if t.num_partitions == 0 || t.num_partitions < -1 {
        return Err((
            codes::INVALID_PARTITIONS,
            "Number of partitions was set to an invalid non-positive value.".into(),
        ));
    }
    let partitions = match t.num_partitions {
        -1 => settings.default_partitions,
        n => n,
    };
    let rf = match t.replication_factor {
        -1 => settings.default_replication(),
        n => n,
    };
    replicas_fit(rf, live)?;
    Ok((partitions, rf))
}

/// Java `StripedReplicaPlacer.place`: INVALID_REPLICATION_FACTOR when a
/// partition's replicas cannot all be placed. The fake counts only running
/// brokers: a stopped one is neither registered nor usable here.
fn replicas_fit(rf: i16, live: i32) -> Result<(), Refusal> {
    if i32::from(rf) <= live {
        return Ok(());
    }
    Err((
        codes::INVALID_REPLICATION_FACTOR,
        format!(
            "Unable to replicate the partition {rf} time(s): The target replication factor \
             of {rf} cannot be reached because only {live} broker(s) are registered."
        ),
    ))
}

/// Creates a checked topic, or with `validate_only` only tries to in a
/// scratch state; returns the topic id.
fn create_one(
    st: &mut cluster::State,
    t: &create_topics_request::CreatableTopic,
    new: &NewTopic,
    validate_only: bool,
    brokers: i32,
) -> Result<u128, Refusal> {
    let name = t.name.as_str();
    let (partitions, rf, configs) = (new.partitions, new.rf, new.configs.clone());
    if validate_only {
        let mut probe = cluster::State::default();
        return probe
            .create_topic(name, partitions, rf, configs, brokers)
            .map(|t| t.id);
    }
    let id = st.create_topic(name, partitions, rf, configs, brokers)?.id;
    if let Some(topic) = st.topics.get_mut(name) {
        apply_assignments(topic, t);
    }
    Ok(id)
}

/// Fills in what a created topic's result reports (KIP-525 from v5).
fn describe_created(
    r: &mut CreatableTopicResult,
    id: u128,
    new: &NewTopic,
    version: i16,
    validate_only: bool,
) {
    if version >= 7 && !validate_only {
        r.topic_id = to_uuid(id);
    }
    if version < 5 {
        return;
    }
    r.num_partitions = new.partitions;
    r.replication_factor = new.rf;
    r.configs = Some(
        TOPIC_CONFIGS
            .iter()
            .map(|(k, d)| {
                let explicit = new.configs.get(*k);
                CreatableTopicConfigs::default()
                    .with_name(s(*k))
                    .with_value(Some(s(explicit.cloned().unwrap_or_else(|| d.to_string()))))
                    .with_config_source(if explicit.is_some() { 1 } else { 5 })
            })
            .collect(),
    );
}

/// Uses explicit replica assignments: the first replica leads.
fn apply_assignments(topic: &mut cluster::Topic, req: &create_topics_request::CreatableTopic) {
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

/// CreatePartitions: only grows a topic (Java INVALID_PARTITIONS otherwise),
/// and only when the topic's replicas fit on the running brokers.
pub(super) fn create_partitions(
    ctx: &Ctx<'_>,
    req: &CreatePartitionsRequest,
) -> CreatePartitionsResponse {
    let brokers = ctx.shared.settings.brokers;
    let live = live_brokers(ctx.shared);
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
            match t.assignments.as_ref().filter(|a| !a.is_empty()) {
                Some(a) if a.len() as i32 != t.count - have => {
                    return fail(
                        r,
                        codes::INVALID_REPLICA_ASSIGNMENT,
                        "Assignment count does not match the new partitions.".into(),
                    );
                }
                Some(_) => {}
                // Java places the new partitions as it places a new topic's.
                None => {
                    if let Err((code, msg)) = replicas_fit(topic.replication_factor, live) {
                        return fail(r, code, msg);
                    }
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
