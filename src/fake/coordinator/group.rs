//! One classic group: its members and its state machine (Java
//! `GroupMetadata`, `MemberMetadata` and the rebalance half of
//! `GroupCoordinator`: `prepareRebalance`, `onCompleteJoin`, the delayed
//! join, sync and heartbeat operations).
//!
//! ```text
//!   Empty --join--> PreparingRebalance --all joined / timeout--> CompletingRebalance
//!     ^                 ^      |                                   |  leader's SyncGroup
//!     |  no members     |      +--------------------------------+  v
//!     +-----------------+<-- join, leave, expiry -------------- Stable
//! ```
//!
//! Java's purgatories become deadlines on the group (`join_timer`,
//! `sync_timer`) and on each member (`deadline`), checked by
//! [`Group::sweep`] whenever the coordinator runs: on every group request
//! and from the cluster's timer thread, so they fire with no traffic too.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::member::{subscription_topics, JoinArgs, Member, CONSUMER, NEW_MEMBER_JOIN_TIMEOUT};
use super::offsets::Committed;
use super::tickets::{Answer, Env, JoinMember, JoinResult, SyncResult};
use super::GroupState;
use crate::fake::codes;

/// Java `DelayedJoin` / `InitialDelayedJoin`.
#[derive(Debug, Clone, Copy)]
struct JoinTimer {
    deadline: Instant,
    /// For `InitialDelayedJoin`: this delay and the rebalance time left.
    initial: Option<(Duration, Duration)>,
}

/// A group (Java `GroupMetadata`).
#[derive(Debug)]
pub(crate) struct Group {
    pub id: String,
    pub state: GroupState,
    pub generation: i32,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub leader: Option<String>,
    /// In join order, which is also the order ties and leader succession use.
    pub members: Vec<Member>,
    /// KIP-394 members that got MEMBER_ID_REQUIRED, with their expiry.
    pending: Vec<(String, Instant)>,
    /// Members that got their JoinGroup answer but have not synced.
    pending_sync: BTreeSet<String>,
    /// Java `newMemberAdded`: extends the initial rebalance delay.
    new_member_added: bool,
    join_timer: Option<JoinTimer>,
    /// Java `DelayedSync`: the generation it watches and its expiry.
    sync_timer: Option<(i32, Instant)>,
    /// Topics the members of a consumer group subscribe to; `None` when
    /// unknown (Java `subscribedTopics`).
    pub subscribed: Option<BTreeSet<String>>,
    pub offsets: BTreeMap<(String, i32), Committed>,
    /// Transactional offsets by producer id, staged until their transaction
    /// ends (Java `pendingTransactionalOffsetCommits`); the transaction
    /// coordinator fills and drains it.
    pub pending_txn_offsets: BTreeMap<i64, BTreeMap<(String, i32), Committed>>,
}

impl Group {
    pub fn new(id: &str) -> Self {
        Self {
            id: id.to_string(),
            state: GroupState::Empty,
            generation: 0,
            protocol_type: None,
            protocol_name: None,
            leader: None,
            members: Vec::new(),
            pending: Vec::new(),
            pending_sync: BTreeSet::new(),
            new_member_added: false,
            join_timer: None,
            sync_timer: None,
            subscribed: None,
            offsets: BTreeMap::new(),
            pending_txn_offsets: BTreeMap::new(),
        }
    }

    fn index(&self, id: &str) -> Option<usize> {
        self.members.iter().position(|m| m.id == id)
    }

    pub fn member_mut(&mut self, id: &str) -> Option<&mut Member> {
        self.members.iter_mut().find(|m| m.id == id)
    }

    pub fn has(&self, id: &str) -> bool {
        self.index(id).is_some()
    }

    pub fn is_leader(&self, id: &str) -> bool {
        self.leader.as_deref() == Some(id)
    }

    pub fn is_pending(&self, id: &str) -> bool {
        self.pending.iter().any(|(p, _)| p == id)
    }

    /// The member id a static member's instance id maps to.
    pub fn static_member(&self, instance_id: &str) -> Option<&str> {
        self.members
            .iter()
            .find(|m| m.instance_id.as_deref() == Some(instance_id))
            .map(|m| m.id.as_str())
    }

    /// Java `validateCurrentMember`: a known instance id must map to this
    /// member id (else FENCED_INSTANCE_ID), and the member must exist.
    pub fn validate_member(&self, member_id: &str, instance_id: Option<&str>) -> Result<(), i16> {
        if let Some(instance) = instance_id {
            match self.static_member(instance) {
                Some(current) if current != member_id => return Err(codes::FENCED_INSTANCE_ID),
                Some(_) => {}
                None => return Err(codes::UNKNOWN_MEMBER_ID),
            }
        }
        if self.has(member_id) {
            Ok(())
        } else {
            Err(codes::UNKNOWN_MEMBER_ID)
        }
    }

    fn supported_by_all(&self, protocol: &str) -> bool {
        self.members.iter().all(|m| m.supports(protocol))
    }

    /// Java `supportsProtocols`: an empty group takes any non-empty type
    /// and protocol list; otherwise the type must match and one of the
    /// member's protocols must be supported by every member.
    pub fn supports_protocols(&self, protocol_type: &str, protocols: &[(String, Bytes)]) -> bool {
        if self.state == GroupState::Empty {
            return !protocol_type.is_empty() && !protocols.is_empty();
        }
        self.protocol_type.as_deref() == Some(protocol_type)
            && protocols.iter().any(|(p, _)| self.supported_by_all(p))
    }

    /// Java `selectProtocol`: the candidates are the protocols every member
    /// supports; each member votes for its first candidate; most votes
    /// wins. Java breaks ties by its hash map's order, which is arbitrary;
    /// here the candidate the longest-standing member prefers wins.
    pub fn select_protocol(&self) -> Option<String> {
        let first = self.members.first()?;
        let candidates: Vec<&str> = first
            .protocols
            .iter()
            .map(|(p, _)| p.as_str())
            .filter(|p| self.supported_by_all(p))
            .collect();
        let mut votes = vec![0usize; candidates.len()];
        for m in &self.members {
            let vote = m
                .protocols
                .iter()
                .find_map(|(p, _)| candidates.iter().position(|c| c == p));
            if let Some(i) = vote {
                votes[i] += 1;
            }
        }
        let mut best: Option<usize> = None;
        for (i, &v) in votes.iter().enumerate() {
            if v > 0 && best.is_none_or(|b| v > votes[b]) {
                best = Some(i);
            }
        }
        best.map(|i| candidates[i].to_string())
    }

    /// Java `GroupMetadata.rebalanceTimeoutMs`: the largest of the members'.
    pub fn rebalance_timeout(&self) -> Duration {
        self.members
            .iter()
            .map(|m| m.rebalance_timeout)
            .max()
            .unwrap_or_default()
    }

    /// Java `hasAllMembersJoined`.
    fn all_joined(&self) -> bool {
        self.pending.is_empty() && self.members.iter().all(|m| m.awaiting_join.is_some())
    }

    /// Java `canRebalance`: the states PreparingRebalance may follow.
    pub fn can_rebalance(&self) -> bool {
        matches!(
            self.state,
            GroupState::Stable | GroupState::CompletingRebalance | GroupState::Empty
        )
    }

    /// Java `GroupMetadata.add`: the first member sets the protocol type
    /// and, without a leader, leads.
    pub fn add(&mut self, member: Member) {
        if self.members.is_empty() {
            self.protocol_type = Some(member.protocol_type.clone());
        }
        if self.leader.is_none() {
            self.leader = Some(member.id.clone());
        }
        self.pending.retain(|(p, _)| *p != member.id);
        self.members.push(member);
    }

    /// Java `GroupMetadata.remove`; the next member in join order leads.
    /// A held request of the member is abandoned (see [`Tickets::abandon`]).
    ///
    /// [`Tickets::abandon`]: super::tickets::Tickets::abandon
    pub fn remove(&mut self, id: &str, env: &mut Env) {
        if let Some(i) = self.index(id) {
            let m = self.members.remove(i);
            for t in [m.awaiting_join, m.awaiting_sync].into_iter().flatten() {
                env.tickets.abandon(t);
            }
        }
        if self.is_leader(id) {
            self.leader = self.members.first().map(|m| m.id.clone());
        }
        self.pending.retain(|(p, _)| p != id);
        self.pending_sync.remove(id);
    }

    /// Registers a KIP-394 pending member (Java `addPendingMember` and
    /// `addPendingMemberExpiration`).
    pub fn add_pending(&mut self, id: String, session_timeout: Duration, env: &Env) {
        self.pending.push((id, env.after(session_timeout)));
    }

    /// Java `addMemberAndRebalance`: the JoinGroup of `member_id` is held
    /// under `ticket`.
    pub fn add_member_and_rebalance(
        &mut self,
        member_id: String,
        args: JoinArgs,
        env: &mut Env,
    ) -> u64 {
        let ticket = env.tickets.issue();
        let mut member = Member::new(member_id, args, env.after(NEW_MEMBER_JOIN_TIMEOUT));
        member.awaiting_join = Some(ticket);
        if self.state == GroupState::PreparingRebalance && self.generation == 0 {
            self.new_member_added = true;
        }
        self.add(member);
        self.maybe_prepare_rebalance(env);
        ticket
    }

    /// Java `GroupMetadata.updateMember` with a new held JoinGroup; an
    /// older held JoinGroup of the same member is abandoned, as Java
    /// overwrites its callback.
    pub fn update_member(&mut self, id: &str, args: JoinArgs, env: &mut Env) -> Option<u64> {
        let ticket = env.tickets.issue();
        let m = self.member_mut(id)?;
        m.protocols = args.protocols;
        m.rebalance_timeout = args.rebalance_timeout;
        m.session_timeout = args.session_timeout;
        if let Some(old) = m.awaiting_join.replace(ticket) {
            env.tickets.abandon(old);
        }
        Some(ticket)
    }

    /// Java `updateMemberAndRebalance`.
    pub fn update_member_and_rebalance(
        &mut self,
        id: &str,
        args: JoinArgs,
        env: &mut Env,
    ) -> Option<u64> {
        let ticket = self.update_member(id, args, env)?;
        self.maybe_prepare_rebalance(env);
        Some(ticket)
    }

    /// Java `replaceStaticMember`: the member keeps everything but its id;
    /// a request the old id has held is answered FENCED_INSTANCE_ID.
    pub fn replace_static_member(&mut self, old: &str, new: &str, env: &mut Env) {
        let Some(m) = self.member_mut(old) else {
            return;
        };
        if let Some(t) = m.awaiting_join.take() {
            let fenced = JoinResult::error(old, codes::FENCED_INSTANCE_ID);
            env.tickets.answer(t, Answer::Join(fenced));
        }
        if let Some(t) = m.awaiting_sync.take() {
            let fenced = SyncResult::error(codes::FENCED_INSTANCE_ID);
            env.tickets.answer(t, Answer::Sync(fenced));
        }
        m.id = new.to_string();
        if self.is_leader(old) {
            self.leader = Some(new.to_string());
        }
    }

    /// Answers the held JoinGroup of `id`, if any (Java `maybeInvokeJoinCallback`).
    pub fn answer_join(&mut self, id: &str, result: JoinResult, env: &mut Env) {
        if let Some(t) = self.member_mut(id).and_then(|m| m.awaiting_join.take()) {
            env.tickets.answer(t, Answer::Join(result));
        }
    }

    /// Java `currentMemberMetadata`: every member's metadata for the
    /// group's protocol, the leader's JoinGroup payload.
    pub fn member_metadata(&self) -> Vec<JoinMember> {
        let protocol = self.protocol_name.as_deref().unwrap_or_default();
        self.members
            .iter()
            .map(|m| JoinMember {
                member_id: m.id.clone(),
                instance_id: m.instance_id.clone(),
                metadata: m.metadata(protocol),
            })
            .collect()
    }

    /// A successful JoinGroup answer for the current generation; the
    /// member list goes only to the leader (and only when `with_members`).
    pub fn join_result(&self, member_id: &str, with_members: bool) -> JoinResult {
        JoinResult {
            error: codes::NONE,
            member_id: member_id.to_string(),
            generation: self.generation,
            protocol_type: self.protocol_type.clone(),
            protocol_name: self.protocol_name.clone(),
            leader: self.leader.clone().unwrap_or_default(),
            skip_assignment: false,
            members: if with_members && self.is_leader(member_id) {
                self.member_metadata()
            } else {
                Vec::new()
            },
        }
    }

    /// Java `maybePrepareRebalance`.
    pub fn maybe_prepare_rebalance(&mut self, env: &mut Env) {
        if self.can_rebalance() {
            self.prepare_rebalance(env);
        }
    }

    /// Java `prepareRebalance`: held syncs are answered
    /// REBALANCE_IN_PROGRESS, and the join waits for everyone, at most the
    /// rebalance timeout; a group leaving Empty first waits the initial
    /// rebalance delay (`InitialDelayedJoin`), which early joins never cut short.
    pub fn prepare_rebalance(&mut self, env: &mut Env) {
        if self.state == GroupState::CompletingRebalance {
            self.reset_and_propagate(codes::REBALANCE_IN_PROGRESS, env);
        }
        self.pending_sync.clear();
        self.sync_timer = None;
        let timeout = self.rebalance_timeout();
        self.join_timer = Some(if self.state == GroupState::Empty {
            let delay = env.settings.initial_rebalance_delay;
            JoinTimer {
                deadline: env.after(delay),
                initial: Some((delay, timeout.saturating_sub(delay))),
            }
        } else {
            JoinTimer {
                deadline: env.after(timeout),
                initial: None,
            }
        });
        self.state = GroupState::PreparingRebalance;
        self.try_complete_join(env);
    }

    /// Java `DelayedJoin.tryComplete`: done once every member has rejoined
    /// (an initial delay always runs its course).
    pub fn try_complete_join(&mut self, env: &mut Env) {
        let initial = self.join_timer.is_some_and(|t| t.initial.is_some());
        if self.state == GroupState::PreparingRebalance && !initial && self.all_joined() {
            self.complete_join(env);
        }
    }

    /// Java `onCompleteJoin`: dynamic members that did not rejoin are
    /// dropped, a leader that did not rejoin is replaced, the next
    /// generation starts and every held JoinGroup is answered.
    fn complete_join(&mut self, env: &mut Env) {
        let gone: Vec<String> = self
            .members
            .iter()
            .filter(|m| m.awaiting_join.is_none() && m.instance_id.is_none())
            .map(|m| m.id.clone())
            .collect();
        for id in &gone {
            self.remove(id, env);
        }
        if self.state == GroupState::Dead {
            self.join_timer = None;
            return;
        }
        if !self.elect_joined_leader() && !self.members.is_empty() {
            // Only static members that did not rejoin are left: wait until
            // they rejoin or their sessions expire.
            let deadline = env.after(self.rebalance_timeout());
            self.join_timer = Some(JoinTimer {
                deadline,
                initial: None,
            });
            return;
        }
        self.join_timer = None;
        self.init_next_generation();
        if self.state == GroupState::Empty {
            return;
        }
        let ids: Vec<String> = self.members.iter().map(|m| m.id.clone()).collect();
        for id in ids {
            let result = self.join_result(&id, true);
            self.answer_join(&id, result, env);
            if let Some(m) = self.member_mut(&id) {
                m.heard_from(env);
                m.is_new = false;
            }
            self.pending_sync.insert(id);
        }
        self.sync_timer = Some((self.generation, env.after(self.rebalance_timeout())));
    }

    /// Java `maybeElectNewJoinedLeader`.
    fn elect_joined_leader(&mut self) -> bool {
        let Some(leader) = self.leader.as_deref() else {
            return false;
        };
        let leader_joined = self
            .members
            .iter()
            .any(|m| m.id == leader && m.awaiting_join.is_some());
        if leader_joined {
            return true;
        }
        match self.members.iter().find(|m| m.awaiting_join.is_some()) {
            Some(m) => {
                self.leader = Some(m.id.clone());
                true
            }
            None => false,
        }
    }

    /// Java `initNextGeneration`.
    fn init_next_generation(&mut self) {
        self.generation = self.generation.wrapping_add(1);
        if self.members.is_empty() {
            self.protocol_name = None;
            self.state = GroupState::Empty;
        } else {
            self.protocol_name = self.select_protocol();
            self.state = GroupState::CompletingRebalance;
        }
        self.subscribed = self.compute_subscribed();
        self.pending_sync.clear();
    }

    /// Java `computeSubscribedTopics`: the union of the members'
    /// subscriptions in a consumer group, `None` if any does not parse.
    fn compute_subscribed(&self) -> Option<BTreeSet<String>> {
        if self.protocol_type.as_deref() != Some(CONSUMER) {
            return None;
        }
        if self.members.is_empty() {
            return Some(BTreeSet::new());
        }
        let protocol = self.protocol_name.as_deref()?;
        let mut all = BTreeSet::new();
        for m in &self.members {
            all.extend(subscription_topics(&m.metadata(protocol))?);
        }
        Some(all)
    }

    /// Java `setAndPropagateAssignment` after the leader's SyncGroup: a
    /// member the leader left out gets an empty assignment.
    pub fn set_and_propagate(&mut self, assignment: &HashMap<String, Bytes>, env: &mut Env) {
        for m in &mut self.members {
            m.assignment = assignment.get(&m.id).cloned().unwrap_or_default();
        }
        self.propagate(codes::NONE, env);
    }

    /// Java `resetAndPropagateAssignmentError`.
    fn reset_and_propagate(&mut self, error: i16, env: &mut Env) {
        for m in &mut self.members {
            m.assignment = Bytes::new();
        }
        self.propagate(error, env);
    }

    /// Java `propagateAssignment`: every held SyncGroup is answered and
    /// its member's session restarts.
    fn propagate(&mut self, error: i16, env: &mut Env) {
        let (protocol_type, protocol_name) = if error == codes::NONE {
            (self.protocol_type.clone(), self.protocol_name.clone())
        } else {
            (None, None)
        };
        for m in &mut self.members {
            if let Some(t) = m.awaiting_sync.take() {
                let result = SyncResult {
                    error,
                    protocol_type: protocol_type.clone(),
                    protocol_name: protocol_name.clone(),
                    assignment: m.assignment.clone(),
                };
                env.tickets.answer(t, Answer::Sync(result));
                m.heard_from(env);
            }
        }
    }

    /// Java `removePendingSyncMember`; the sync timer is done once nobody
    /// is pending.
    pub fn synced(&mut self, id: &str) {
        self.pending_sync.remove(id);
        if self.pending_sync.is_empty() {
            self.sync_timer = None;
        }
    }

    /// Java `removeMemberAndUpdateGroup`: a held JoinGroup is answered
    /// UNKNOWN_MEMBER_ID, and the group rebalances without the member.
    pub fn remove_member_and_update(&mut self, id: &str, env: &mut Env) {
        self.answer_join(id, JoinResult::error("", codes::UNKNOWN_MEMBER_ID), env);
        self.remove(id, env);
        match self.state {
            GroupState::Dead | GroupState::Empty => {}
            GroupState::Stable | GroupState::CompletingRebalance => {
                self.maybe_prepare_rebalance(env)
            }
            GroupState::PreparingRebalance => self.try_complete_join(env),
        }
    }

    /// Java `removePendingMemberAndUpdateGroup`.
    pub fn remove_pending_and_update(&mut self, id: &str, env: &mut Env) {
        self.remove(id, env);
        if self.state == GroupState::PreparingRebalance {
            self.try_complete_join(env);
        }
    }

    /// Fires what is due at `env.now`: pending members and members whose
    /// session expired are removed (Java `onExpireHeartbeat`), an expired
    /// join completes with whoever rejoined (`onExpireJoin`), and members
    /// that never sent their SyncGroup are removed (`onExpirePendingSync`).
    pub fn sweep(&mut self, env: &mut Env) {
        let now = env.now;
        let pending: Vec<String> = self
            .pending
            .iter()
            .filter(|(_, d)| *d <= now)
            .map(|(p, _)| p.clone())
            .collect();
        for id in pending {
            self.remove_pending_and_update(&id, env);
        }
        let expired: Vec<String> = self
            .members
            .iter()
            .filter(|m| m.expired(now))
            .map(|m| m.id.clone())
            .collect();
        for id in expired {
            if self.has(&id) {
                self.remove_member_and_update(&id, env);
            }
        }
        if let Some(t) = self.join_timer {
            if self.state == GroupState::PreparingRebalance && t.deadline <= now {
                self.join_expired(t, env);
            }
        }
        if let Some((generation, deadline)) = self.sync_timer {
            if deadline <= now {
                self.sync_timer = None;
                self.sync_expired(generation, env);
            }
        }
    }

    /// Java `InitialDelayedJoin.onComplete` / `DelayedJoin.onExpiration`.
    fn join_expired(&mut self, timer: JoinTimer, env: &mut Env) {
        if let Some((delay, remaining)) = timer.initial {
            if self.new_member_added && !remaining.is_zero() {
                // Members kept arriving: wait another delay, within the
                // rebalance timeout.
                self.new_member_added = false;
                let next = env.settings.initial_rebalance_delay.min(remaining);
                self.join_timer = Some(JoinTimer {
                    deadline: env.after(next),
                    initial: Some((next, remaining.saturating_sub(delay))),
                });
                return;
            }
        }
        self.complete_join(env);
    }

    /// Java `onExpirePendingSync`.
    fn sync_expired(&mut self, generation: i32, env: &mut Env) {
        let stable = matches!(
            self.state,
            GroupState::CompletingRebalance | GroupState::Stable
        );
        if generation != self.generation || !stable || self.pending_sync.is_empty() {
            return;
        }
        let late: Vec<String> = self.pending_sync.iter().cloned().collect();
        for id in &late {
            self.remove(id, env);
        }
        self.prepare_rebalance(env);
    }

    /// The earliest instant [`sweep`](Self::sweep) has something to do.
    pub fn next_deadline(&self) -> Option<Instant> {
        let pending = self.pending.iter().map(|(_, d)| *d);
        let members = self
            .members
            .iter()
            .filter(|m| m.can_expire())
            .map(|m| m.deadline);
        let join = self
            .join_timer
            .filter(|_| self.state == GroupState::PreparingRebalance)
            .map(|t| t.deadline);
        let sync = self.sync_timer.map(|(_, d)| d);
        pending.chain(members).chain(join).chain(sync).min()
    }

    /// Whether a transaction has a staged offset for the partition.
    pub fn has_pending_txn(&self, key: &(String, i32)) -> bool {
        self.pending_txn_offsets
            .values()
            .any(|p| p.contains_key(key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake::coordinator::GroupSettings;

    fn env() -> Env {
        Env::new(GroupSettings::default())
    }

    fn args(protocols: &[&str]) -> JoinArgs {
        JoinArgs {
            member_id: String::new(),
            instance_id: None,
            client_id: "c".into(),
            client_host: "/127.0.0.1".into(),
            rebalance_timeout: Duration::from_secs(1),
            session_timeout: Duration::from_secs(1),
            protocol_type: CONSUMER.into(),
            protocols: protocols
                .iter()
                .map(|p| (p.to_string(), Bytes::new()))
                .collect(),
        }
    }

    fn group_of(members: &[&[&str]]) -> Group {
        let mut g = Group::new("g");
        let mut e = env();
        for (i, p) in members.iter().enumerate() {
            g.add_member_and_rebalance(format!("m{i}"), args(p), &mut e);
        }
        g
    }

    /// Java `selectProtocol`, with ties going to the first member's order.
    #[test]
    fn protocol_selection_by_vote() {
        let cases: &[(&[&[&str]], Option<&str>)] = &[
            (&[&["range"]], Some("range")),
            (
                &[
                    &["range", "roundrobin"],
                    &["roundrobin", "range"],
                    &["roundrobin"],
                ],
                Some("roundrobin"),
            ),
            (&[&["a", "b"], &["b", "a"], &["a", "b"]], Some("a")),
            // A tie: one vote each; the first member lists "b" first.
            (&[&["b", "a"], &["a", "b"]], Some("b")),
            // "c" is not supported by all, so its voter falls back.
            (&[&["c", "a", "b"], &["b", "a"], &["a", "c"]], Some("a")),
            (&[&["x"], &["y"]], None),
        ];
        for (members, want) in cases {
            let g = group_of(members);
            assert_eq!(g.select_protocol().as_deref(), *want, "{members:?}");
        }
    }

    /// Java `InitialDelayedJoin`: the delay runs its course even when all
    /// have joined, and is extended while new members keep arriving.
    #[test]
    fn initial_delay_extends_while_members_arrive() {
        let mut e = env();
        e.settings.initial_rebalance_delay = Duration::from_millis(100);
        let t0 = e.now;
        let at = |e: &mut Env, ms: u64| e.now = t0 + Duration::from_millis(ms);
        let mut g = Group::new("g");
        let a = g.add_member_and_rebalance("a".into(), args(&["r"]), &mut e);
        assert_eq!(g.state, GroupState::PreparingRebalance);
        at(&mut e, 50);
        g.add_member_and_rebalance("b".into(), args(&["r"]), &mut e);
        g.try_complete_join(&mut e);
        assert_eq!(
            g.state,
            GroupState::PreparingRebalance,
            "all joined, delay runs"
        );
        at(&mut e, 100);
        g.sweep(&mut e);
        assert_eq!(g.state, GroupState::PreparingRebalance, "extended for b");
        assert_eq!(g.next_deadline(), Some(t0 + Duration::from_millis(200)));
        at(&mut e, 200);
        g.sweep(&mut e);
        assert_eq!(
            (g.state, g.generation),
            (GroupState::CompletingRebalance, 1)
        );
        assert!(matches!(
            e.tickets.take(a),
            super::super::tickets::Taken::Answered(_)
        ));
    }

    /// A KIP-394 pending member that never rejoins holds the rebalance
    /// only until its session timeout.
    #[test]
    fn pending_members_expire() {
        let mut e = env();
        let t0 = e.now;
        let mut g = Group::new("g");
        g.add_member_and_rebalance("a".into(), args(&["r"]), &mut e);
        g.sweep(&mut e);
        assert_eq!(g.state, GroupState::CompletingRebalance);
        g.add_pending("p".into(), Duration::from_millis(100), &e);
        g.update_member_and_rebalance("a", args(&["r"]), &mut e);
        assert_eq!(g.state, GroupState::PreparingRebalance, "waits for p");
        e.now = t0 + Duration::from_millis(100);
        g.sweep(&mut e);
        assert_eq!(
            (g.state, g.generation),
            (GroupState::CompletingRebalance, 2)
        );
        assert!(!g.is_pending("p"));
    }

    #[test]
    fn protocol_support_checks_type_and_common_protocol() {
        let mut g = Group::new("g");
        let p = |n: &[&str]| args(n).protocols;
        assert!(g.supports_protocols("consumer", &p(&["a"])));
        assert!(!g.supports_protocols("", &p(&["a"])));
        assert!(!g.supports_protocols("consumer", &[]));
        g.add_member_and_rebalance("m0".into(), args(&["a", "b"]), &mut env());
        assert!(g.supports_protocols("consumer", &p(&["b"])));
        assert!(!g.supports_protocols("consumer", &p(&["c"])));
        assert!(!g.supports_protocols("connect", &p(&["a"])));
    }
}
