//! `kcli metadata`, `kcli offsets`, `kcli groups`: raw requests, printed.
//!
//! Every request kcli sends by hand lives here, so that a change in the
//! message schemas touches one file.

use std::collections::BTreeMap;

use kafka_sync::messages::consumer_protocol::ConsumerProtocolAssignment;
use kafka_sync::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_sync::messages::metadata_request::MetadataRequestTopic;
use kafka_sync::messages::offset_fetch_request::OffsetFetchRequestTopic;
use kafka_sync::messages::*;
use kafka_sync::{Client, ErrorCode, Versions};

use crate::args::Args;
use crate::{Result, Session};

/// (topic, partition) -> offset.
pub type Offsets = BTreeMap<(String, i32), i64>;

fn code(c: i16) -> Option<String> {
    ErrorCode::from_code(c).map(|e| e.name().to_string())
}

/// An admin client: OffsetFetch is held to v7, the form that names one group.
fn admin(s: &Session) -> Result<Client> {
    Ok(s.builder()?
        .max_versions(Versions::new().with(9, 7))
        .build()?)
}

/// The partitions of `topics` (all topics if empty), or an error naming a
/// topic that does not exist.
pub fn partitions(c: &Client, topics: &[String]) -> Result<BTreeMap<String, Vec<i32>>> {
    let req = MetadataRequest::default().with_topics((!topics.is_empty()).then(|| {
        topics
            .iter()
            .map(|t| MetadataRequestTopic::default().with_name(Some(TopicName(t.clone().into()))))
            .collect()
    }));
    let resp = c.request(req)?;
    let mut out = BTreeMap::new();
    for t in resp.topics {
        let name = t.name.map(|n| n.0.to_string()).unwrap_or_default();
        if let Some(e) = code(t.error_code) {
            return Err(format!("topic {name:?}: {e} (list topics with `kcli metadata`)").into());
        }
        let mut ps: Vec<i32> = t.partitions.iter().map(|p| p.partition_index).collect();
        ps.sort_unstable();
        out.insert(name, ps);
    }
    Ok(out)
}

/// ListOffsets at `timestamp` (-2 start, -1 end, else milliseconds) for
/// every partition; an offset of -1 means no record at or after the time.
pub fn list_offsets(
    c: &Client,
    parts: &BTreeMap<String, Vec<i32>>,
    timestamp: i64,
) -> Result<Offsets> {
    let topics = parts.iter().map(|(t, ps)| {
        ListOffsetsTopic::default()
            .with_name(TopicName(t.clone().into()))
            .with_partitions(
                ps.iter()
                    .map(|&p| {
                        ListOffsetsPartition::default()
                            .with_partition_index(p)
                            .with_timestamp(timestamp)
                    })
                    .collect(),
            )
    });
    let req = ListOffsetsRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_topics(topics.collect());
    let mut out = Offsets::new();
    for t in c.request(req)?.topics {
        for p in t.partitions {
            if let Some(e) = code(p.error_code) {
                return Err(format!("offsets of {}/{}: {e}", t.name.0, p.partition_index).into());
            }
            out.insert((t.name.0.to_string(), p.partition_index), p.offset);
        }
    }
    Ok(out)
}

/// The offsets `group` committed for `parts` (partitions without one are absent).
pub fn committed(c: &Client, group: &str, parts: &BTreeMap<String, Vec<i32>>) -> Result<Offsets> {
    let topics = parts.iter().map(|(t, ps)| {
        OffsetFetchRequestTopic::default()
            .with_name(TopicName(t.clone().into()))
            .with_partition_indexes(ps.clone())
    });
    let req = OffsetFetchRequest::default()
        .with_group_id(GroupId(group.to_string().into()))
        .with_topics(Some(topics.collect()));
    let resp = c.request(req)?;
    if let Some(e) = code(resp.error_code) {
        return Err(format!("committed offsets of group {group:?}: {e}").into());
    }
    let mut out = Offsets::new();
    for t in resp.topics {
        for p in t.partitions.iter().filter(|p| p.committed_offset >= 0) {
            out.insert(
                (t.name.0.to_string(), p.partition_index),
                p.committed_offset,
            );
        }
    }
    Ok(out)
}

const METADATA_HELP: &str = "\
kcli metadata: brokers, the controller, and topics with their partitions

Usage: kcli metadata [-t TOPIC].. [flags]

  -t, --topic TOPIC   only these topics (repeat the flag; default: all)
";

pub fn metadata(mut args: Args) -> Result<()> {
    let mut topics = Vec::new();
    let Some(s) = crate::parse(&mut args, METADATA_HELP, |f, a| {
        Ok(matches!(f, "-t" | "--topic") && {
            topics.push(a.value(f)?);
            true
        })
    })?
    else {
        return Ok(());
    };
    let c = admin(&s)?;
    let req = MetadataRequest::default().with_topics((!topics.is_empty()).then(|| {
        topics
            .iter()
            .map(|t| MetadataRequestTopic::default().with_name(Some(TopicName(t.clone().into()))))
            .collect()
    }));
    let m = c
        .request(req)
        .map_err(|e| format!("asking {} for metadata: {e}", s.seeds()))?;
    println!("cluster {}", m.cluster_id.as_deref().unwrap_or("(no id)"));
    println!("brokers ({}):", m.brokers.len());
    let mut brokers: Vec<_> = m.brokers.iter().collect();
    brokers.sort_by_key(|b| b.node_id.0);
    for b in brokers {
        let controller = if b.node_id == m.controller_id {
            "  (controller)"
        } else {
            ""
        };
        let rack = b
            .rack
            .as_ref()
            .map(|r| format!("  rack {}", r.as_str()))
            .unwrap_or_default();
        println!(
            "  {}  {}:{}{rack}{controller}",
            b.node_id.0,
            b.host.as_str(),
            b.port
        );
    }
    let mut ts: Vec<_> = m.topics.iter().collect();
    ts.sort_by(|a, b| a.name.cmp(&b.name));
    println!("topics ({}):", ts.len());
    for t in ts {
        let name = t.name.as_ref().map(|n| n.0.as_str()).unwrap_or("?");
        if let Some(e) = code(t.error_code) {
            println!("  {name}: {e}");
            continue;
        }
        let internal = if t.is_internal { " (internal)" } else { "" };
        println!("  {name}{internal}: {} partitions", t.partitions.len());
        let mut ps: Vec<_> = t.partitions.iter().collect();
        ps.sort_by_key(|p| p.partition_index);
        for p in ps {
            let ids = |v: &[BrokerId]| {
                v.iter()
                    .map(|b| b.0.to_string())
                    .collect::<Vec<_>>()
                    .join(",")
            };
            let err = code(p.error_code)
                .map(|e| format!("  {e}"))
                .unwrap_or_default();
            println!(
                "    partition {}  leader {}  epoch {}  replicas [{}]  isr [{}]{err}",
                p.partition_index,
                p.leader_id.0,
                p.leader_epoch,
                ids(&p.replica_nodes),
                ids(&p.isr_nodes)
            );
        }
    }
    c.close();
    Ok(())
}

const OFFSETS_HELP: &str = "\
kcli offsets: the start and end offsets of topics' partitions, and what a group committed

Usage: kcli offsets -t TOPIC.. [--group GROUP] [flags]

  -t, --topic TOPIC   a topic (repeat the flag for more)
  -g, --group GROUP   also show GROUP's committed offsets and its lag
";

pub fn offsets(mut args: Args) -> Result<()> {
    let (mut topics, mut group) = (Vec::new(), None);
    let Some(s) = crate::parse(&mut args, OFFSETS_HELP, |f, a| {
        match f {
            "-t" | "--topic" => topics.push(a.value(f)?),
            "-g" | "--group" => group = Some(a.value(f)?),
            _ => return Ok(false),
        }
        Ok(true)
    })?
    else {
        return Ok(());
    };
    if topics.is_empty() {
        return Err("which topics? pass -t TOPIC (see `kcli metadata` for the list)".into());
    }
    let c = admin(&s)?;
    let parts = partitions(&c, &topics)?;
    let (start, end) = (list_offsets(&c, &parts, -2)?, list_offsets(&c, &parts, -1)?);
    let done = match &group {
        Some(g) => Some(committed(&c, g, &parts)?),
        None => None,
    };
    print!("topic\tpartition\tstart\tend");
    println!(
        "{}",
        if done.is_some() {
            "\tcommitted\tlag"
        } else {
            ""
        }
    );
    for (key, e) in &end {
        print!(
            "{}\t{}\t{}\t{e}",
            key.0,
            key.1,
            start.get(key).copied().unwrap_or(-1)
        );
        match done.as_ref().map(|d| d.get(key)) {
            Some(Some(o)) => println!("\t{o}\t{}", e - o),
            Some(None) => println!("\t-\t-"),
            None => println!(),
        }
    }
    c.close();
    Ok(())
}

const GROUPS_HELP: &str = "\
kcli groups: list consumer groups, or describe some

Usage: kcli groups [flags]                      every group with its state
       kcli groups describe GROUP.. [flags]     members, hosts and assignments
";

pub fn groups(mut args: Args) -> Result<()> {
    let (mut describe, mut names) = (false, Vec::new());
    let Some(s) = crate::parse(&mut args, GROUPS_HELP, |f, _| {
        if f == "describe" && !describe {
            describe = true;
        } else if describe && !f.starts_with('-') {
            names.push(f.to_string());
        } else {
            return Ok(false);
        }
        Ok(true)
    })?
    else {
        return Ok(());
    };
    let c = admin(&s)?;
    if !describe {
        let resp = c
            .request(ListGroupsRequest::default())
            .map_err(|e| format!("listing groups: {e}"))?;
        if let Some(e) = code(resp.error_code) {
            return Err(format!("listing groups: {e}").into());
        }
        let mut gs: Vec<_> = resp.groups.iter().collect();
        gs.sort_by(|a, b| a.group_id.cmp(&b.group_id));
        println!("group\tstate\tprotocol type");
        for g in gs {
            println!(
                "{}\t{}\t{}",
                g.group_id.0.as_str(),
                g.group_state.as_str(),
                g.protocol_type.as_str()
            );
        }
        c.close();
        return Ok(());
    }
    if names.is_empty() {
        return Err(
            "which groups? kcli groups describe GROUP [GROUP..] (`kcli groups` lists them)".into(),
        );
    }
    let req = DescribeGroupsRequest::default()
        .with_groups(names.iter().map(|g| GroupId(g.clone().into())).collect());
    for g in c.request(req)?.groups {
        if let Some(e) = code(g.error_code) {
            println!("group {}: {e}", g.group_id.0.as_str());
            continue;
        }
        let or_dash = |s: &str| {
            if s.is_empty() {
                "-".to_string()
            } else {
                s.to_string()
            }
        };
        println!(
            "group {}: state {}, type {}, balancer {}, {} members",
            g.group_id.0.as_str(),
            g.group_state.as_str(),
            or_dash(g.protocol_type.as_str()),
            or_dash(g.protocol_data.as_str()),
            g.members.len()
        );
        for m in &g.members {
            let assigned = ConsumerProtocolAssignment::decode(&m.member_assignment)
                .map(|a| {
                    a.assigned_partitions
                        .iter()
                        .map(|tp| format!("{}{:?}", tp.topic, tp.partitions))
                        .collect::<Vec<_>>()
                        .join(" ")
                })
                .unwrap_or_else(|_| "(not a consumer assignment)".into());
            println!(
                "  {}  client {}  host {}  assigned {assigned}",
                m.member_id.as_str(),
                m.client_id.as_str(),
                m.client_host.as_str()
            );
        }
    }
    c.close();
    Ok(())
}
