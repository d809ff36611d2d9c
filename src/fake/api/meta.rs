//! ApiVersions, Metadata and DescribeConfigs.

use std::collections::BTreeMap;

use crate::messages::api_versions_response::ApiVersion;
use crate::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult, DescribeConfigsSynonym,
};
use crate::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use crate::messages::StrBytes;
use crate::messages::*;

use super::Ctx;
use crate::fake::cluster::{
    to_uuid, valid_topic_name, Shared, Topic, DEFAULT_MAX_MESSAGE_BYTES, TOPIC_CONFIGS,
};
use crate::fake::codes;

/// The host every fake broker advertises.
pub(crate) const HOST: &str = "127.0.0.1";

/// Java `AclOperation` codes a topic allows everyone: READ, WRITE, CREATE,
/// DELETE, ALTER, DESCRIBE, DESCRIBE_CONFIGS, ALTER_CONFIGS.
const TOPIC_OPERATIONS: i32 =
    (1 << 3) | (1 << 4) | (1 << 5) | (1 << 6) | (1 << 7) | (1 << 8) | (1 << 10) | (1 << 11);

pub(crate) fn s(v: impl Into<String>) -> StrBytes {
    StrBytes::from_string(v.into())
}

pub(crate) fn topic_name(v: &str) -> TopicName {
    TopicName(s(v))
}

/// Java `ApiVersionsRequest.isValid`: from v3 on, the client's software name
/// and version must each match `[a-zA-Z0-9](?:[a-zA-Z0-9\-.]*[a-zA-Z0-9])?`.
fn valid_software_field(s: &str) -> bool {
    let b = s.as_bytes();
    let inner = |c: &u8| c.is_ascii_alphanumeric() || *c == b'-' || *c == b'.';
    match (b.first(), b.last()) {
        (Some(first), Some(last)) => {
            first.is_ascii_alphanumeric() && last.is_ascii_alphanumeric() && b.iter().all(inner)
        }
        _ => false,
    }
}

/// ApiVersions: every implemented API at the versions kafka-protocol knows.
///
/// A v3+ request with an invalid software name or version gets
/// INVALID_REQUEST, as `KafkaApis.handleApiVersionsRequest` answers it: with
/// `ApiVersionsRequest.getErrorResponse`, which lists versions only for
/// UNSUPPORTED_VERSION, so this answer carries the error code alone. The
/// connection stays open.
pub(super) fn api_versions(
    shared: &Shared,
    req: &ApiVersionsRequest,
    version: i16,
) -> ApiVersionsResponse {
    if version >= 3
        && !(valid_software_field(req.client_software_name.as_str())
            && valid_software_field(req.client_software_version.as_str()))
    {
        return ApiVersionsResponse::default().with_error_code(codes::INVALID_REQUEST);
    }
    let api_keys = super::SUPPORTED
        .iter()
        .filter_map(|&k| {
            let (min, max) = super::versions(shared, k)?;
            Some(
                ApiVersion::default()
                    .with_api_key(k as i16)
                    .with_min_version(min)
                    .with_max_version(max),
            )
        })
        .collect();
    ApiVersionsResponse::default().with_api_keys(api_keys)
}

fn brokers(shared: &Shared) -> Vec<MetadataResponseBroker> {
    shared
        .brokers
        .iter()
        .filter(|b| shared.alive(b.id))
        .map(|b| {
            MetadataResponseBroker::default()
                .with_node_id(BrokerId(b.id))
                .with_host(s(HOST))
                .with_port(i32::from(b.addr.port()))
        })
        .collect()
}

/// The lowest running broker acts as the controller.
pub(crate) fn controller(shared: &Shared) -> i32 {
    shared
        .brokers
        .iter()
        .map(|b| b.id)
        .find(|&id| shared.alive(id))
        .unwrap_or(-1)
}

fn topic_meta(shared: &Shared, t: &Topic, version: i16, with_ops: bool) -> MetadataResponseTopic {
    let partitions = t
        .partitions
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let up = shared.alive(p.leader);
            let (alive, offline): (Vec<i32>, Vec<i32>) =
                p.replicas.iter().partition(|&&r| shared.alive(r));
            MetadataResponsePartition::default()
                .with_partition_index(i as i32)
                .with_error_code(if up {
                    codes::NONE
                } else {
                    codes::LEADER_NOT_AVAILABLE
                })
                .with_leader_id(BrokerId(if up { p.leader } else { -1 }))
                .with_leader_epoch(p.leader_epoch)
                .with_replica_nodes(p.replicas.iter().map(|&r| BrokerId(r)).collect())
                .with_isr_nodes(alive.into_iter().map(BrokerId).collect())
                .with_offline_replicas(if version >= 5 {
                    offline.into_iter().map(BrokerId).collect()
                } else {
                    Vec::new()
                })
        })
        .collect();
    let mut m = MetadataResponseTopic::default()
        .with_name(Some(topic_name(&t.name)))
        .with_partitions(partitions);
    if version >= 10 {
        m.topic_id = to_uuid(t.id);
    }
    if with_ops && version >= 8 {
        m.topic_authorized_operations = TOPIC_OPERATIONS;
    }
    m
}

fn unknown_topic(name: Option<&TopicName>, code: i16, version: i16) -> MetadataResponseTopic {
    let name = match name {
        Some(n) => Some(n.clone()),
        None if version >= 12 => None,
        None => Some(topic_name("")),
    };
    MetadataResponseTopic::default()
        .with_name(name)
        .with_error_code(code)
}

fn base_response(shared: &Shared, version: i16) -> MetadataResponse {
    let mut resp = MetadataResponse::default().with_brokers(brokers(shared));
    if version >= 1 {
        resp.controller_id = BrokerId(controller(shared));
    }
    if version >= 2 {
        resp.cluster_id = Some(s(shared.settings.cluster_id.as_str()));
    }
    resp
}

/// Metadata, with Java's auto topic creation: an unknown, valid topic is
/// created and answered with LEADER_NOT_AVAILABLE this once.
pub(super) fn metadata(ctx: &Ctx<'_>, req: &MetadataRequest, version: i16) -> MetadataResponse {
    let shared = ctx.shared;
    let settings = &shared.settings;
    let mut resp = base_response(shared, version);
    let with_ops = version >= 8 && req.include_topic_authorized_operations;
    let allow_auto = settings.auto_create && (version < 4 || req.allow_auto_topic_creation);
    let mut st = shared.lock();
    let requested = match &req.topics {
        None => None,
        Some(t) if t.is_empty() && version == 0 => None,
        Some(t) => Some(t),
    };
    let Some(requested) = requested else {
        resp.topics = st
            .topics
            .values()
            .map(|t| topic_meta(shared, t, version, with_ops))
            .collect();
        return resp;
    };
    for rt in requested {
        let name = match &rt.name {
            Some(n) if !n.is_empty() => n.as_str().to_string(),
            _ => {
                let id = rt.topic_id.as_u128();
                let found = st.name_of(id).map(str::to_string);
                match found.and_then(|n| st.topics.get(&n)) {
                    Some(t) => resp.topics.push(topic_meta(shared, t, version, with_ops)),
                    None => {
                        let mut m = unknown_topic(None, codes::UNKNOWN_TOPIC_ID, version);
                        m.topic_id = rt.topic_id;
                        resp.topics.push(m);
                    }
                }
                continue;
            }
        };
        if let Some(t) = st.topics.get(&name) {
            resp.topics.push(topic_meta(shared, t, version, with_ops));
        } else if !valid_topic_name(&name) {
            resp.topics.push(unknown_topic(
                rt.name.as_ref(),
                codes::INVALID_TOPIC_EXCEPTION,
                version,
            ));
        } else if allow_auto {
            let created = st
                .create_topic(
                    &name,
                    settings.default_partitions,
                    settings.default_replication(),
                    BTreeMap::new(),
                    settings.brokers,
                )
                .map(|t| t.id);
            let mut m = unknown_topic(rt.name.as_ref(), codes::LEADER_NOT_AVAILABLE, version);
            if let (Ok(id), true) = (created, version >= 10) {
                m.topic_id = to_uuid(id);
            }
            resp.topics.push(m);
        } else {
            resp.topics.push(unknown_topic(
                rt.name.as_ref(),
                codes::UNKNOWN_TOPIC_OR_PARTITION,
                version,
            ));
        }
    }
    resp
}

/// Metadata with `code` on every requested topic.
pub(super) fn metadata_error(req: &MetadataRequest, version: i16, code: i16) -> MetadataResponse {
    let mut resp = MetadataResponse::default();
    // The top-level code (v13) only when there is no topic to carry it.
    if version >= 13 && req.topics.as_ref().is_none_or_empty() {
        resp.error_code = code;
    }
    for rt in req.topics.iter().flatten() {
        let mut m = unknown_topic(rt.name.as_ref(), code, version);
        if version >= 10 {
            m.topic_id = rt.topic_id;
        }
        resp.topics.push(m);
    }
    resp
}

// Java DescribeConfigsResponse.ConfigSource and ConfigType codes.
const SOURCE_DYNAMIC_TOPIC: i8 = 1;
const SOURCE_STATIC_BROKER: i8 = 4;
const SOURCE_DEFAULT: i8 = 5;
const TYPE_BOOLEAN: i8 = 1;
const TYPE_STRING: i8 = 2;
const TYPE_INT: i8 = 3;
const TYPE_LONG: i8 = 5;

fn config_type(name: &str, value: &str) -> i8 {
    if value == "true" || value == "false" {
        TYPE_BOOLEAN
    } else if value.parse::<i64>().is_ok() {
        if name.ends_with(".ms") || name.ends_with(".bytes") && name != "max.message.bytes" {
            TYPE_LONG
        } else {
            TYPE_INT
        }
    } else {
        TYPE_STRING
    }
}

fn entry(
    name: &str,
    value: &str,
    source: i8,
    synonyms: bool,
    version: i16,
) -> DescribeConfigsResourceResult {
    let mut r = DescribeConfigsResourceResult::default()
        .with_name(s(name))
        .with_value(Some(s(value)))
        .with_config_source(source);
    if synonyms {
        r.synonyms = vec![DescribeConfigsSynonym::default()
            .with_name(s(name))
            .with_value(Some(s(value)))
            .with_source(source)];
    }
    if version >= 3 {
        r.config_type = config_type(name, value);
    }
    r
}

fn broker_configs(shared: &Shared, id: i32) -> Vec<(String, String, i8)> {
    let st = &shared.settings;
    vec![
        (
            "auto.create.topics.enable".into(),
            st.auto_create.to_string(),
            SOURCE_STATIC_BROKER,
        ),
        ("broker.id".into(), id.to_string(), SOURCE_STATIC_BROKER),
        (
            "default.replication.factor".into(),
            st.default_replication().to_string(),
            SOURCE_STATIC_BROKER,
        ),
        ("log.retention.hours".into(), "168".into(), SOURCE_DEFAULT),
        (
            "max.incremental.fetch.session.cache.slots".into(),
            st.session_cache_size.to_string(),
            SOURCE_STATIC_BROKER,
        ),
        (
            "message.max.bytes".into(),
            DEFAULT_MAX_MESSAGE_BYTES.to_string(),
            SOURCE_DEFAULT,
        ),
        ("min.insync.replicas".into(), "1".into(), SOURCE_DEFAULT),
        (
            "num.partitions".into(),
            st.default_partitions.to_string(),
            SOURCE_STATIC_BROKER,
        ),
        (
            "socket.request.max.bytes".into(),
            st.max_frame.to_string(),
            SOURCE_STATIC_BROKER,
        ),
    ]
}

/// DescribeConfigs for topics (2) and brokers (4).
pub(super) fn describe_configs(
    ctx: &Ctx<'_>,
    req: &DescribeConfigsRequest,
    version: i16,
) -> DescribeConfigsResponse {
    let st = ctx.shared.lock();
    let results = req
        .resources
        .iter()
        .map(|res| {
            let mut out = DescribeConfigsResult::default()
                .with_resource_type(res.resource_type)
                .with_resource_name(res.resource_name.clone());
            let name = res.resource_name.as_str();
            let all: Vec<(String, String, i8)> = match res.resource_type {
                2 => match st.topics.get(name) {
                    Some(t) => TOPIC_CONFIGS
                        .iter()
                        .map(|(k, d)| match t.configs.get(*k) {
                            Some(v) => (k.to_string(), v.clone(), SOURCE_DYNAMIC_TOPIC),
                            None => (k.to_string(), d.to_string(), SOURCE_DEFAULT),
                        })
                        .collect(),
                    None => {
                        out.error_code = codes::UNKNOWN_TOPIC_OR_PARTITION;
                        out.error_message = Some(s(format!("Topic {name} does not exist")));
                        return out;
                    }
                },
                4 if name.is_empty() || name == ctx.broker.to_string() => {
                    broker_configs(ctx.shared, ctx.broker)
                }
                4 => {
                    out.error_code = codes::INVALID_REQUEST;
                    out.error_message = Some(s(format!(
                        "Unexpected broker id, expected {}, but received {name}",
                        ctx.broker
                    )));
                    return out;
                }
                other => {
                    out.error_code = codes::INVALID_REQUEST;
                    out.error_message = Some(s(format!("Unsupported resource type {other}")));
                    return out;
                }
            };
            out.configs = all
                .iter()
                .filter(|(k, _, _)| res.configuration_keys.as_ref().is_none_or_contains(k))
                .map(|(k, v, src)| entry(k, v, *src, req.include_synonyms, version))
                .collect();
            out
        })
        .collect();
    DescribeConfigsResponse::default().with_results(results)
}

trait NoneOrEmpty {
    fn is_none_or_empty(&self) -> bool;
}

impl<T> NoneOrEmpty for Option<&Vec<T>> {
    fn is_none_or_empty(&self) -> bool {
        self.is_none_or(Vec::is_empty)
    }
}

trait KeyFilter {
    fn is_none_or_contains(&self, key: &str) -> bool;
}

impl KeyFilter for Option<&Vec<StrBytes>> {
    fn is_none_or_contains(&self, key: &str) -> bool {
        match self {
            // Java ConfigHelper: null or empty means every config.
            None => true,
            Some(keys) => keys.is_empty() || keys.iter().any(|k| k.as_str() == key),
        }
    }
}

/// DescribeConfigs with `code` on every resource.
pub(super) fn describe_configs_error(
    req: &DescribeConfigsRequest,
    code: i16,
) -> DescribeConfigsResponse {
    let results = req
        .resources
        .iter()
        .map(|r| {
            DescribeConfigsResult::default()
                .with_error_code(code)
                .with_resource_type(r.resource_type)
                .with_resource_name(r.resource_name.clone())
        })
        .collect();
    DescribeConfigsResponse::default().with_results(results)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn software_fields_follow_the_java_pattern() {
        for ok in ["a", "9", "kafka-sync", "0.1.0", "A.b-9", "a..b", "a--b"] {
            assert!(valid_software_field(ok), "{ok:?}");
        }
        for bad in [
            "",
            "-",
            ".",
            "-a",
            "a-",
            ".a",
            "a.",
            "a b",
            "a_b",
            "a+b",
            "caf\u{e9}",
        ] {
            assert!(!valid_software_field(bad), "{bad:?}");
        }
    }

    #[test]
    fn config_types() {
        assert_eq!(config_type("retention.ms", "1"), TYPE_LONG);
        assert_eq!(config_type("max.message.bytes", "1"), TYPE_INT);
        assert_eq!(
            config_type("auto.create.topics.enable", "true"),
            TYPE_BOOLEAN
        );
        assert_eq!(config_type("cleanup.policy", "delete"), TYPE_STRING);
    }
}
