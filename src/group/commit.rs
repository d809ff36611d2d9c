//! Offsets of the group: OffsetFetch on assignment, OffsetCommit for
//! commits and autocommits. Commits run on the committing thread under
//! `commit_lock`, so they are ordered and never run concurrently; an
//! autocommit never moves a committed offset backwards.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::settings::AutoCommit;
use super::{Group, Partitions};
use crate::consumer::{EpochOffset, Offset};
use crate::error::{Error, ErrorCode, Result};
use crate::logger::klog;
use crate::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use crate::messages::offset_fetch_request::{
    OffsetFetchRequestGroup, OffsetFetchRequestTopic, OffsetFetchRequestTopics,
};
use crate::messages::{
    GroupId, Message, OffsetCommitRequest, OffsetCommitResponse, OffsetFetchRequest,
    OffsetFetchResponse, StrBytes, TopicName,
};

/// Called once a commit finished, with the request sent (`None` when there
/// was nothing to commit or no group) and the response or error.
pub(crate) type CommitDone = Box<
    dyn FnOnce(Option<&OffsetCommitRequest>, std::result::Result<&OffsetCommitResponse, &Error>)
        + Send,
>;

/// Offsets per topic and partition.
pub(crate) type OffsetMap = BTreeMap<String, BTreeMap<i32, EpochOffset>>;

const OFFSET_COMMIT: i16 = 8;
const OFFSET_FETCH: i16 = 9;

impl Group {
    /// The version the coordinator will be sent `key` at: ours capped by
    /// the broker's and the user's, so the request is built with the fields
    /// that version has.
    pub(super) fn coordinator_version(&self, key: i16, ours: i16) -> i16 {
        let Ok(h) = self.cluster.coordinator(0, &self.cfg.group, None) else {
            return ours;
        };
        let id = h.meta().node_id;
        self.cluster.ensure_versions(id, Duration::from_secs(10));
        self.cluster.version_for(id, key, ours).unwrap_or(ours)
    }

    /// Fetches the committed offsets of `parts` (OffsetFetch, with
    /// require_stable when configured, KIP-447) and returns where each
    /// partition starts: the committed offset with its leader epoch, or the
    /// reset offset when nothing is committed.
    pub(crate) fn fetch_offsets(
        &self,
        parts: &Partitions,
        reset: Offset,
    ) -> Result<BTreeMap<String, BTreeMap<i32, Offset>>> {
        let version = self.coordinator_version(OFFSET_FETCH, OffsetFetchRequest::VERSIONS.max);
        let req = self.offset_fetch_request(parts, version);
        let resp = self.cluster.request(req, None)?;
        let topics = offset_fetch_topics(resp, version)?;
        let mut out: BTreeMap<String, BTreeMap<i32, Offset>> = BTreeMap::new();
        let mut o = self.offsets.lock();
        for (t, ps) in parts {
            for p in ps {
                let got = topics.get(&(t.clone(), *p)).copied();
                let start = match got {
                    Some(Ok(eo)) if eo.offset >= 0 => {
                        let e = o.entry((t.clone(), *p)).or_default();
                        e.committed = Some(eo);
                        e.head = None;
                        e.dirty = None;
                        Offset::new().at(eo.offset).with_epoch(eo.epoch)
                    }
                    Some(Err(code)) => return Err(Error::from(code)),
                    _ => reset,
                };
                out.entry(t.clone()).or_default().insert(*p, start);
            }
        }
        Ok(out)
    }

    fn offset_fetch_request(&self, parts: &Partitions, version: i16) -> OffsetFetchRequest {
        let require_stable = self.cfg.require_stable && version >= 7;
        let group = GroupId(StrBytes::from_string(self.cfg.group.clone()));
        if version >= 8 {
            let topics = parts
                .iter()
                .map(|(t, ps)| {
                    OffsetFetchRequestTopics::default()
                        .with_name(TopicName(StrBytes::from_string(t.clone())))
                        .with_partition_indexes(ps.clone())
                })
                .collect();
            let g = OffsetFetchRequestGroup::default()
                .with_group_id(group)
                .with_topics(Some(topics));
            return OffsetFetchRequest::default()
                .with_groups(vec![g])
                .with_require_stable(require_stable);
        }
        let topics = parts
            .iter()
            .map(|(t, ps)| {
                OffsetFetchRequestTopic::default()
                    .with_name(TopicName(StrBytes::from_string(t.clone())))
                    .with_partition_indexes(ps.clone())
            })
            .collect();
        OffsetFetchRequest::default()
            .with_group_id(group)
            .with_topics(Some(topics))
            .with_require_stable(require_stable)
    }

    /// Commits `offsets` now, ordered after every earlier commit (kgo's
    /// `CommitOffsetsSync`). Returns the request sent and the outcome.
    pub(crate) fn commit_sync(
        &self,
        offsets: &OffsetMap,
        deadline: Option<Instant>,
    ) -> (Option<OffsetCommitRequest>, Result<OffsetCommitResponse>) {
        let _g = self.commit_lock.lock();
        self.commit_locked(offsets, deadline)
    }

    fn commit_locked(
        &self,
        offsets: &OffsetMap,
        deadline: Option<Instant>,
    ) -> (Option<OffsetCommitRequest>, Result<OffsetCommitResponse>) {
        if offsets.values().all(BTreeMap::is_empty) {
            return (None, Ok(OffsetCommitResponse::default()));
        }
        let version = self.coordinator_version(OFFSET_COMMIT, OffsetCommitRequest::VERSIONS.max);
        let req = self.offset_commit_request(offsets, version);
        let res = self.cluster.request(req.clone(), deadline);
        if let Ok(resp) = &res {
            let mut o = self.offsets.lock();
            for t in &resp.topics {
                let Some(ps) = offsets.get(t.name.0.as_str()) else {
                    continue;
                };
                for p in t.partitions.iter().filter(|p| p.error_code == 0) {
                    if let Some(eo) = ps.get(&p.partition_index) {
                        o.entry((t.name.0.to_string(), p.partition_index))
                            .or_default()
                            .committed = Some(*eo);
                    }
                }
            }
        }
        (Some(req), res)
    }

    fn offset_commit_request(&self, offsets: &OffsetMap, version: i16) -> OffsetCommitRequest {
        let gen = self.generation();
        let topics = offsets
            .iter()
            .filter(|(_, ps)| !ps.is_empty())
            .map(|(t, ps)| {
                let parts = ps
                    .iter()
                    .map(|(p, eo)| {
                        let epoch = if version >= 6 { eo.epoch } else { -1 };
                        OffsetCommitRequestPartition::default()
                            .with_partition_index(*p)
                            .with_committed_offset(eo.offset)
                            .with_committed_leader_epoch(epoch)
                    })
                    .collect();
                OffsetCommitRequestTopic::default()
                    .with_name(TopicName(StrBytes::from_string(t.clone())))
                    .with_partitions(parts)
            })
            .collect();
        let instance = if version >= 7 {
            self.cfg.instance_id.clone().map(StrBytes::from_string)
        } else {
            None
        };
        OffsetCommitRequest::default()
            .with_group_id(GroupId(StrBytes::from_string(self.cfg.group.clone())))
            .with_generation_id_or_member_epoch(gen.generation)
            .with_member_id(StrBytes::from_string(gen.member_id))
            .with_group_instance_id(instance)
            .with_topics(topics)
    }

    /// Commits `offsets` and turns partition errors into the first error
    /// (kgo's `CommitRecords` / `CommitUncommittedOffsets`).
    pub(crate) fn commit_checked(
        &self,
        offsets: &OffsetMap,
        deadline: Option<Instant>,
    ) -> Result<()> {
        let (_, res) = self.commit_sync(offsets, deadline);
        let resp = res?;
        for t in &resp.topics {
            for p in &t.partitions {
                if let Some(e) = Error::from_code(p.error_code) {
                    return Err(e);
                }
            }
        }
        Ok(())
    }

    /// What autocommit (or the default revoke) commits now: the head of
    /// every partition (the dirty offsets when greedy) that is ahead of
    /// what is committed, limited to `only` when given. Never backwards.
    pub(crate) fn committable(&self, only: Option<&Partitions>) -> OffsetMap {
        let greedy = self.cfg.autocommit == AutoCommit::Greedy;
        let o = self.offsets.lock();
        let mut out: OffsetMap = BTreeMap::new();
        for ((t, p), po) in o.iter() {
            if only.is_some_and(|m| !m.get(t).is_some_and(|ps| ps.contains(p))) {
                continue;
            }
            let want = if greedy { po.dirty } else { po.head };
            let Some(want) = want else { continue };
            if po.committed.is_some_and(|c| c.offset >= want.offset) {
                continue;
            }
            out.entry(t.clone()).or_default().insert(*p, want);
        }
        out
    }

    /// One autocommit: commits what is committable and tells the handler.
    pub(crate) fn autocommit(&self, only: Option<&Partitions>) {
        if self.cfg.autocommit == AutoCommit::Off {
            return;
        }
        let _g = self.commit_lock.lock();
        let offsets = self.committable(only);
        let (req, res) = self.commit_locked(&offsets, None);
        drop(_g);
        let Some(req) = req else {
            return;
        };
        match &res {
            Ok(resp) => self.handler.autocommitted(&req, Ok(resp)),
            Err(e) => {
                klog!(self.cluster.logger(), Warn, "autocommit failed", "group" => self.cfg.group, "err" => e);
                self.handler.autocommitted(&req, Err(e));
            }
        }
    }

    /// Forgets the bookkeeping of partitions no longer owned.
    pub(crate) fn forget(&self, parts: &Partitions) {
        let mut o = self.offsets.lock();
        for (t, ps) in parts {
            for p in ps {
                o.remove(&(t.clone(), *p));
            }
        }
    }
}

type FetchedOffsets = BTreeMap<(String, i32), std::result::Result<EpochOffset, ErrorCode>>;

/// The per-partition answers of an OffsetFetch response, in either form.
fn offset_fetch_topics(resp: OffsetFetchResponse, version: i16) -> Result<FetchedOffsets> {
    let mut out = BTreeMap::new();
    let mut put = |t: &str, p: i32, off: i64, epoch: i32, code: i16| {
        let v = match ErrorCode::from_code(code) {
            Some(c) => Err(c),
            None => Ok(EpochOffset { epoch, offset: off }),
        };
        out.insert((t.to_string(), p), v);
    };
    if version >= 8 {
        let Some(g) = resp.groups.into_iter().next() else {
            return Err(Error::protocol("offset fetch: no group in the response"));
        };
        if let Some(e) = Error::from_code(g.error_code) {
            return Err(e);
        }
        for t in g.topics {
            for p in t.partitions {
                put(
                    t.name.0.as_str(),
                    p.partition_index,
                    p.committed_offset,
                    p.committed_leader_epoch,
                    p.error_code,
                );
            }
        }
    } else {
        if let Some(e) = Error::from_code(resp.error_code) {
            return Err(e);
        }
        for t in resp.topics {
            for p in t.partitions {
                put(
                    t.name.0.as_str(),
                    p.partition_index,
                    p.committed_offset,
                    p.committed_leader_epoch,
                    p.error_code,
                );
            }
        }
    }
    Ok(out)
}
