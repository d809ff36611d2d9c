//! The member loop of `ks-group`: join, sync, assign, heartbeat, rejoin,
//! leave (Java's `AbstractCoordinator` / `ConsumerCoordinator`, kgo's
//! `groupConsumer.manage`).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use crossbeam_channel::{select, tick, Receiver};

use super::balancer::{GroupBalancer, GroupMember};
use super::settings::AutoCommit;
use super::{Cmd, Generation, Group, Partitions};
use crate::error::{Error, ErrorCode, Result};
use crate::logger::klog;
use crate::messages::join_group_request::JoinGroupRequestProtocol;
use crate::messages::sync_group_request::SyncGroupRequestAssignment;
use crate::messages::{GroupId, JoinGroupRequest, JoinGroupResponse, StrBytes, SyncGroupRequest};

const SYNC_GROUP: i16 = 14;
const JOIN_GROUP: i16 = 11;

/// Why a session (the heartbeat loop of one generation) ended.
enum Next {
    /// Rejoin: a rebalance, a changed subscription, or a forced rebalance.
    Rejoin,
    /// Leave the group and stop (LeaveGroup, close).
    Leave,
    /// Stop without leaving: the member was fenced.
    Fatal(Error),
}

fn ms(d: Duration) -> i32 {
    i32::try_from(d.as_millis()).unwrap_or(i32::MAX)
}

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

/// `a` minus `b`, per topic.
fn minus(a: &Partitions, b: &Partitions) -> Partitions {
    let mut out = Partitions::new();
    for (t, ps) in a {
        let other = b.get(t);
        let left: Vec<i32> = ps
            .iter()
            .copied()
            .filter(|p| !other.is_some_and(|o| o.contains(p)))
            .collect();
        if !left.is_empty() {
            out.insert(t.clone(), left);
        }
    }
    out
}

pub(super) struct Member {
    g: Arc<Group>,
    cmds: Receiver<Cmd>,
    /// What this member owns now (kept across cooperative rebalances).
    owned: Partitions,
    /// The subscription the member joined with.
    joined_topics: Vec<String>,
    /// As leader: the partition counts the plan was made for.
    leader_counts: Option<BTreeMap<String, i32>>,
    failures: u32,
}

impl Member {
    pub(super) fn new(g: Arc<Group>, cmds: Receiver<Cmd>) -> Member {
        Member {
            g,
            cmds,
            owned: Partitions::new(),
            joined_topics: Vec::new(),
            leader_counts: None,
            failures: 0,
        }
    }

    pub(super) fn run(mut self) {
        let leave = loop {
            if self.g.is_closing() {
                break true;
            }
            let next = match self.join_sync() {
                Ok(assigned) => match self.apply(assigned) {
                    Ok(true) => Next::Rejoin, // KIP-429: rejoin after revoking
                    Ok(false) => {
                        self.failures = 0;
                        self.session()
                    }
                    Err(e) => self.on_error(e),
                },
                Err(e) => self.on_error(e),
            };
            match next {
                Next::Rejoin => {
                    if !self.g.cfg.cooperative() && !self.owned.is_empty() {
                        // Eager: everything is revoked before rejoining.
                        let all = std::mem::take(&mut self.owned);
                        self.revoke(&all);
                    }
                }
                Next::Leave => break true,
                Next::Fatal(e) => {
                    klog!(self.g.cluster.logger(), Error, "group member stopped", "group" => self.g.cfg.group, "err" => e);
                    let all = std::mem::take(&mut self.owned);
                    self.lose(&all);
                    self.g.consumer.inject_error(e);
                    break false;
                }
            }
        };
        self.shutdown(leave);
    }

    /// What an error of a join or session means for the member.
    fn on_error(&mut self, e: Error) -> Next {
        if e.is_client_closed() || self.g.is_closing() {
            return Next::Leave;
        }
        crate::hooks::each(&self.g.cluster.settings().hooks, |h| {
            h.on_group_manage_error(&e)
        });
        match e.kafka_code() {
            Some(ErrorCode::FencedInstanceId) => return Next::Fatal(e),
            Some(ErrorCode::UnknownMemberId | ErrorCode::IllegalGeneration) => {
                // The coordinator forgot us: everything is lost, rejoin fresh.
                klog!(self.g.cluster.logger(), Info, "group membership lost, rejoining", "group" => self.g.cfg.group, "err" => e);
                let all = std::mem::take(&mut self.owned);
                self.lose(&all);
                let mut gen = self.g.generation.lock();
                if e.kafka_code() == Some(ErrorCode::UnknownMemberId) {
                    gen.member_id.clear();
                }
                gen.generation = -1;
                return Next::Rejoin;
            }
            Some(ErrorCode::RebalanceInProgress) => return Next::Rejoin,
            _ => {}
        }
        klog!(self.g.cluster.logger(), Warn, "group join failed, retrying", "group" => self.g.cfg.group, "err" => e);
        if !e.is_retriable() {
            // Not ours to fix (authorization, an inconsistent protocol):
            // say so through poll and keep trying, as kgo does.
            self.g.consumer.inject_error(e);
        }
        self.failures = self.failures.saturating_add(1);
        let d = self.g.cluster.settings().retry_backoff(self.failures);
        self.wait(d)
    }

    /// Waits `d` for a command; returns what the member should do next.
    fn wait(&mut self, d: Duration) -> Next {
        select! {
            recv(self.cmds) -> c => match c {
                Ok(Cmd::Commit(o, done)) => {
                    let (req, res) = self.g.commit_sync(&o, None);
                    done(req.as_ref(), res.as_ref());
                    Next::Rejoin
                }
                Ok(Cmd::Rebalance) => Next::Rejoin,
                Ok(Cmd::Leave) | Err(_) => Next::Leave,
            },
            default(d) => Next::Rejoin,
        }
    }

    /// The join metadata of every balancer, for JoinGroup.
    fn protocols(&mut self) -> Result<Vec<JoinGroupRequestProtocol>> {
        let g = &*self.g;
        let topics = g.consumer.subscribed_topics(&g.cluster.metadata());
        self.joined_topics = topics.clone();
        let generation = g.generation().generation;
        // KIP-429: cooperative members say what they own; eager own nothing.
        let owned = if g.cfg.cooperative() {
            self.owned.clone()
        } else {
            Partitions::new()
        };
        let mut out = Vec::with_capacity(g.cfg.balancers.len());
        for b in &g.cfg.balancers {
            let meta = b.join_group_metadata(&topics, &owned, generation)?;
            out.push(
                JoinGroupRequestProtocol::default()
                    .with_name(s(b.protocol_name()))
                    .with_metadata(Bytes::from(meta)),
            );
        }
        Ok(out)
    }

    /// JoinGroup until the coordinator accepts the member (KIP-394: a new
    /// member first gets MEMBER_ID_REQUIRED and its id).
    fn join(&mut self) -> Result<JoinGroupResponse> {
        let protocols = self.protocols()?;
        let g = &*self.g;
        let version = g.coordinator_version(JOIN_GROUP, i16::MAX);
        let instance = g
            .cfg
            .instance_id
            .clone()
            .filter(|_| version >= 5)
            .map(StrBytes::from_string);
        for _ in 0..3 {
            let member_id = g.generation().member_id;
            let req = JoinGroupRequest::default()
                .with_group_id(GroupId(s(&g.cfg.group)))
                .with_session_timeout_ms(ms(g.cfg.session_timeout))
                .with_rebalance_timeout_ms(ms(g.cfg.rebalance_timeout))
                .with_member_id(s(&member_id))
                .with_group_instance_id(instance.clone())
                .with_protocol_type(s(&g.cfg.protocol))
                .with_protocols(protocols.clone());
            let resp = g.cluster.request(req, None)?;
            match ErrorCode::from_code(resp.error_code) {
                None => return Ok(resp),
                Some(ErrorCode::MemberIdRequired) => {
                    g.generation.lock().member_id = resp.member_id.to_string();
                }
                Some(_) => {
                    return Err(Error::from_code(resp.error_code).unwrap_or(Error::protocol("join")))
                }
            }
        }
        Err(Error::protocol(
            "join group: member id still required after 3 joins",
        ))
    }

    /// Joins and syncs; returns this member's assignment.
    fn join_sync(&mut self) -> Result<Partitions> {
        let resp = self.join()?;
        let g = self.g.clone();
        *g.generation.lock() = Generation {
            member_id: resp.member_id.to_string(),
            generation: resp.generation_id,
        };
        let name = resp
            .protocol_name
            .as_ref()
            .map(|n| n.to_string())
            .unwrap_or_default();
        let Some(b) = g
            .cfg
            .balancers
            .iter()
            .find(|b| b.protocol_name() == name)
            .cloned()
        else {
            return Err(Error::protocol(format!("join group: the coordinator chose protocol {name:?}, which this member did not offer")));
        };
        let leader = resp.leader == resp.member_id;
        let assignments = if leader {
            self.balance(&resp, &b)?
        } else {
            self.leader_counts = None;
            Vec::new()
        };
        klog!(g.cluster.logger(), Info, "joined group", "group" => g.cfg.group, "generation" => resp.generation_id, "protocol" => name, "leader" => leader);
        let version = g.coordinator_version(SYNC_GROUP, i16::MAX);
        let gen = g.generation();
        let mut req = SyncGroupRequest::default()
            .with_group_id(GroupId(s(&g.cfg.group)))
            .with_generation_id(gen.generation)
            .with_member_id(s(&gen.member_id))
            .with_assignments(assignments);
        if version >= 3 {
            req = req.with_group_instance_id(g.cfg.instance_id.clone().map(StrBytes::from_string));
        }
        if version >= 5 {
            req = req
                .with_protocol_type(Some(s(&g.cfg.protocol)))
                .with_protocol_name(Some(s(&name)));
        }
        let sync = g.cluster.request(req, None)?;
        if let Some(e) = Error::from_code(sync.error_code) {
            return Err(e);
        }
        if sync.assignment.is_empty() {
            return Ok(Partitions::new());
        }
        b.parse_sync_assignment(&sync.assignment)
    }

    /// As leader: the plan over every member's subscription.
    fn balance(
        &mut self,
        resp: &JoinGroupResponse,
        b: &Arc<dyn GroupBalancer>,
    ) -> Result<Vec<SyncGroupRequestAssignment>> {
        let members: Vec<GroupMember> = resp
            .members
            .iter()
            .map(|m| {
                let instance = m.group_instance_id.as_ref().map(|i| i.to_string());
                GroupMember::new(m.member_id.to_string(), instance, m.metadata.to_vec())
            })
            .collect();
        let (mb, topics) = b.member_balancer(&members)?;
        let counts = self.partition_counts(&topics)?;
        let plan = mb.balance(&counts)?;
        self.leader_counts = Some(counts);
        Ok(plan
            .into_sync_assignment()?
            .into_iter()
            .map(|(m, a)| {
                SyncGroupRequestAssignment::default()
                    .with_member_id(StrBytes::from_string(m))
                    .with_assignment(Bytes::from(a))
            })
            .collect())
    }

    /// Partition counts of `topics`, from fresh metadata; the topics are
    /// tracked so later growth is seen (the leader rejoins on it).
    fn partition_counts(&self, topics: &BTreeSet<String>) -> Result<BTreeMap<String, i32>> {
        let cluster = &self.g.cluster;
        cluster.metadata_cache().track(topics.iter().cloned());
        let names: Vec<&str> = topics.iter().map(String::as_str).collect();
        let snap = cluster.refresh_metadata(Some(&names), None)?;
        let mut out = BTreeMap::new();
        for t in topics {
            if let Some(tm) = snap.topics.get(t).filter(|tm| tm.error.is_none()) {
                if !tm.partitions.is_empty() {
                    out.insert(t.clone(), tm.partitions.len() as i32);
                }
            }
        }
        Ok(out)
    }

    /// Applies a new assignment: revokes what moved away, fetches the
    /// offsets of what is new and starts consuming it. Returns whether to
    /// rejoin at once (cooperative, after revoking).
    fn apply(&mut self, assigned: Partitions) -> Result<bool> {
        let g = self.g.clone();
        let removed = minus(&self.owned, &assigned);
        let added = minus(&assigned, &self.owned);
        if !removed.is_empty() {
            self.revoke(&removed);
        }
        self.owned = minus(&self.owned, &removed);
        if !added.is_empty() {
            let mut start = g.fetch_offsets(&added, g.consumer.reset_offset())?;
            if let Some(f) = &g.cfg.adjust_offsets {
                start = f(start)?;
            }
            for (t, ps) in &added {
                let own = self.owned.entry(t.clone()).or_default();
                own.extend(ps);
                own.sort_unstable();
                own.dedup();
            }
            // kgo: the callback runs before fetching the new partitions begins.
            g.handler.assigned(&added);
            let assign = start
                .into_iter()
                .map(|(t, ps)| (t, ps.into_iter().collect()))
                .collect();
            g.consumer.assign(assign);
        } else {
            g.handler.assigned(&added);
        }
        Ok(g.cfg.cooperative() && !removed.is_empty())
    }

    /// Stops consuming `parts`, then runs the revoke callback or, without
    /// one, the default blocking commit (kgo's default OnPartitionsRevoked).
    fn revoke(&mut self, parts: &Partitions) {
        let g = &*self.g;
        g.consumer.unassign(parts);
        if g.cfg.user_revoke {
            g.handler.revoked(parts);
        } else if g.cfg.autocommit != AutoCommit::Off {
            g.autocommit(Some(parts));
        }
        g.forget(parts);
    }

    /// Stops consuming `parts` without committing (kgo's OnPartitionsLost).
    fn lose(&mut self, parts: &Partitions) {
        let g = &*self.g;
        g.consumer.unassign(parts);
        if g.cfg.lost_as_revoked {
            g.handler.revoked(parts);
        } else {
            g.handler.lost(parts);
        }
        g.forget(parts);
    }

    /// The heartbeat loop of one generation, with autocommits and commands.
    fn session(&mut self) -> Next {
        let g = self.g.clone();
        let hb = tick(g.cfg.heartbeat_interval);
        let ac_every = if g.cfg.autocommit == AutoCommit::Off {
            Duration::from_secs(86_400)
        } else {
            g.cfg.autocommit_interval
        };
        let ac = tick(ac_every);
        loop {
            select! {
                recv(self.cmds) -> c => match c {
                    Ok(Cmd::Commit(o, done)) => {
                        let (req, res) = g.commit_sync(&o, None);
                        done(req.as_ref(), res.as_ref());
                    }
                    Ok(Cmd::Rebalance) => return Next::Rejoin,
                    Ok(Cmd::Leave) | Err(_) => return Next::Leave,
                },
                recv(hb) -> _ => {
                    if let Err(e) = self.heartbeat() {
                        if e.is_retriable() && !e.is_client_closed() && e.kafka_code() != Some(ErrorCode::RebalanceInProgress) {
                            continue;
                        }
                        return self.on_error(e);
                    }
                    if self.subscription_changed() {
                        return Next::Rejoin;
                    }
                },
                recv(ac) -> _ => g.autocommit(None),
            }
            if g.is_closing() {
                return Next::Leave;
            }
        }
    }

    fn heartbeat(&self) -> Result<()> {
        let g = &*self.g;
        g.heartbeat_once(Instant::now() + g.cfg.session_timeout)
    }

    /// Whether the member must rejoin: its subscription changed (a regex
    /// matched a new topic), or, as leader, a topic it balanced grew.
    fn subscription_changed(&self) -> bool {
        let g = &*self.g;
        let snap = g.cluster.metadata();
        if g.consumer.subscribed_topics(&snap) != self.joined_topics {
            return true;
        }
        let Some(counts) = &self.leader_counts else {
            return false;
        };
        counts.iter().any(|(t, n)| {
            snap.topics
                .get(t)
                .is_some_and(|tm| tm.partitions.len() as i32 > *n)
        })
    }

    /// Leaving: revoke (with the default commit) and, for dynamic members,
    /// LeaveGroup; static members stay in the group for their restart
    /// (KIP-345).
    fn shutdown(&mut self, leave: bool) {
        let all = std::mem::take(&mut self.owned);
        if !all.is_empty() {
            self.revoke(&all);
        }
        if leave {
            self.g.send_leave();
        }
    }
}
