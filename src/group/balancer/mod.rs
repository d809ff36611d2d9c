//! Group balancers: how the group leader splits partitions among members.
//!
//! A [`GroupBalancer`] is one entry of JoinGroup's protocol list (Java's
//! `ConsumerPartitionAssignor`). Every member describes itself with
//! [`GroupBalancer::join_group_metadata`]; the member the broker elects
//! leader parses everyone's metadata and computes the plan; SyncGroup hands
//! each member its share:
//!
//! ```text
//!  every member                           the leader
//!  ------------                           ----------
//!  join_group_metadata() ---JoinGroup---> member_balancer(members)
//!                                           -> (GroupMemberBalancer, topics)
//!                                         load partition counts of `topics`
//!                                         balance(counts) -> IntoSyncAssignment
//!  parse_sync_assignment() <--SyncGroup--- into_sync_assignment()
//! ```
//!
//! The built-in balancers ([`range_balancer`], [`round_robin_balancer`],
//! [`sticky_balancer`], [`cooperative_sticky_balancer`]) speak the `consumer`
//! protocol type through [`ConsumerBalancer`], and produce the same plans
//! as Java's assignors of the same names, so a group can mix this client
//! with Java clients whichever member leads. Rack-aware assignment
//! (KIP-881) is not done: balancing sees partition counts only.
//!
//! Everything here runs on the thread that handles the group; the balancer
//! itself is shared (`Send + Sync`) because the configuration holds it.

mod cooperative;
mod plan;
mod range;
mod round_robin;
mod sticky;

use std::cell::Cell;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use crate::error::{Error, Result};
use crate::messages::consumer_protocol::{
    ConsumerProtocolAssignment, ConsumerProtocolSubscription, StickyMemberMetadata, TopicPartitions,
};

pub use cooperative::cooperative_sticky_balancer;
pub use plan::BalancePlan;
pub use range::range_balancer;
pub use round_robin::round_robin_balancer;
pub use sticky::sticky_balancer;

/// Holds one group member as the leader sees it in the JoinGroup response.
///
/// Corresponds to kgo's `kmsg.JoinGroupResponseMember`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct GroupMember {
    /// The member id the broker assigned.
    pub member_id: String,
    /// The member's `group.instance.id` if it is a static member (KIP-345).
    pub instance_id: Option<String>,
    /// The protocol metadata the member sent for the chosen protocol.
    pub metadata: Vec<u8>,
}

impl GroupMember {
    /// Creates a member from its JoinGroup response fields.
    ///
    /// Corresponds to kgo's `kmsg.NewJoinGroupResponseMember`.
    pub fn new(
        member_id: impl Into<String>,
        instance_id: Option<String>,
        metadata: Vec<u8>,
    ) -> Self {
        GroupMember {
            member_id: member_id.into(),
            instance_id,
            metadata,
        }
    }
}

/// Balances topics and partitions among group members.
///
/// Corresponds to kgo's `GroupBalancer` and, roughly, Java's
/// `ConsumerPartitionAssignor`.
pub trait GroupBalancer: Send + Sync {
    /// Returns the protocol name, e.g. `range`, `roundrobin`, `sticky`.
    ///
    /// Corresponds to kgo's `GroupBalancer.ProtocolName`.
    fn protocol_name(&self) -> &str;

    /// Reports whether this is a cooperative strategy (KIP-429): members keep
    /// consuming during a rebalance and revoke only what moves away.
    ///
    /// Corresponds to kgo's `GroupBalancer.IsCooperative`.
    fn is_cooperative(&self) -> bool;

    /// Returns the metadata this member sends in JoinGroup, given the topics
    /// it wants (sorted), what it owns now (partitions sorted), and the
    /// generation it owns them from.
    ///
    /// The broker compares metadata to decide whether a rebalance is needed,
    /// so the output should be deterministic.
    ///
    /// Corresponds to kgo's `GroupBalancer.JoinGroupMetadata`.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] if a topic name does not fit the protocol.
    fn join_group_metadata(
        &self,
        interests: &[String],
        current_assignment: &BTreeMap<String, Vec<i32>>,
        generation: i32,
    ) -> Result<Vec<u8>>;

    /// Parses the assignment SyncGroup returned to this member into topics
    /// and sorted partitions.
    ///
    /// Corresponds to kgo's `GroupBalancer.ParseSyncAssignment`.
    ///
    /// # Errors
    ///
    /// [`Error::Protocol`] if the assignment does not parse.
    fn parse_sync_assignment(&self, assignment: &[u8]) -> Result<BTreeMap<String, Vec<i32>>>;

    /// Returns, for the leader, a balancer over `members` and the topics the
    /// members want; the client loads the partition counts of any of those
    /// topics it does not know before calling
    /// [`GroupMemberBalancer::balance`].
    ///
    /// kgo hands this method members sorted as Java sorts them; balancers
    /// built on [`ConsumerBalancer`] sort them themselves, so any order works.
    ///
    /// Corresponds to kgo's `GroupBalancer.MemberBalancer`.
    ///
    /// # Errors
    ///
    /// An error if a member's metadata cannot be parsed.
    fn member_balancer(
        &self,
        members: &[GroupMember],
    ) -> Result<(Box<dyn GroupMemberBalancer>, BTreeSet<String>)>;
}

/// Balances topics among the members it was created for.
///
/// Corresponds to kgo's `GroupMemberBalancer` (with `BalanceOrError`).
pub trait GroupMemberBalancer {
    /// Computes the plan, given the number of partitions of each topic.
    ///
    /// Corresponds to kgo's `GroupMemberBalancerOrError.BalanceOrError`.
    ///
    /// # Errors
    ///
    /// Any error the balancing reports (see [`ConsumerBalancer::set_error`]).
    fn balance(&self, topics: &BTreeMap<String, i32>) -> Result<Box<dyn IntoSyncAssignment>>;

    /// Returns the [`ConsumerBalancer`] behind this balancer, if any, so the
    /// client can log what members asked for (kgo type-asserts
    /// `*ConsumerBalancer` for the same purpose).
    fn as_consumer_balancer(&self) -> Option<&ConsumerBalancer> {
        None
    }
}

/// Turns a plan into the per-member assignments of a SyncGroup request.
///
/// Corresponds to kgo's `IntoSyncAssignment`. The output should be
/// deterministic and ordered by member, topic and partition.
pub trait IntoSyncAssignment {
    /// Returns `(member id, encoded assignment)` pairs.
    ///
    /// Corresponds to kgo's `IntoSyncAssignment.IntoSyncAssignment`.
    ///
    /// # Errors
    ///
    /// An error if an assignment cannot be encoded.
    fn into_sync_assignment(self: Box<Self>) -> Result<Vec<(String, Vec<u8>)>>;

    /// Returns the [`BalancePlan`] behind this value, if any, so the client
    /// can log the plan (kgo type-asserts `*BalancePlan` for the same
    /// purpose).
    fn as_balance_plan(&self) -> Option<&BalancePlan> {
        None
    }
}

/// Computes a plan for a [`ConsumerBalancer`]: the one method a balancer of
/// the `consumer` protocol type has to write.
///
/// Corresponds to kgo's `ConsumerBalancerBalance`. To fail, call
/// [`ConsumerBalancer::set_error`] and return any plan.
pub trait ConsumerBalancerBalance {
    /// Balances `topics` (name to partition count) among `b`'s members.
    ///
    /// Corresponds to kgo's `ConsumerBalancerBalance.Balance`.
    fn balance(&self, b: &ConsumerBalancer, topics: &BTreeMap<String, i32>) -> BalancePlan;
}

/// Parses every member's metadata as a [`ConsumerProtocolSubscription`]
/// and runs a [`ConsumerBalancerBalance`] over them.
///
/// Members are deduplicated by member id (the first wins; a hostile
/// broker could repeat one) and sorted as Java sorts them: static members
/// first by instance id, then dynamic members by member id. Each member's
/// topics are sorted and deduplicated.
///
/// Corresponds to kgo's `ConsumerBalancer` (`NewConsumerBalancer`).
pub struct ConsumerBalancer {
    balance: Box<dyn ConsumerBalancerBalance>,
    members: Vec<GroupMember>,
    metadatas: Vec<ConsumerProtocolSubscription>,
    topics: BTreeSet<String>,
    /// Set by the balance through `set_error`; a `Cell` since balancing
    /// runs on one thread (the balance is not required to be `Sync`).
    error: Cell<Option<Error>>,
}

impl fmt::Debug for ConsumerBalancer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConsumerBalancer")
            .field("members", &self.members)
            .field("metadatas", &self.metadatas)
            .field("topics", &self.topics)
            .finish_non_exhaustive()
    }
}

impl ConsumerBalancer {
    /// Creates a balancer over `members`, parsing each one's metadata.
    ///
    /// Corresponds to kgo's `NewConsumerBalancer`.
    ///
    /// # Errors
    ///
    /// [`Error::Protocol`] naming the member if any metadata does not parse.
    pub fn new(balance: Box<dyn ConsumerBalancerBalance>, members: &[GroupMember]) -> Result<Self> {
        let mut seen = BTreeSet::new();
        let mut members: Vec<GroupMember> = members
            .iter()
            .filter(|m| seen.insert(m.member_id.as_str()))
            .cloned()
            .collect();
        members.sort_by(java_member_order);

        let mut topics = BTreeSet::new();
        let mut metadatas = Vec::with_capacity(members.len());
        for member in &members {
            let mut meta = ConsumerProtocolSubscription::decode(&member.metadata).map_err(|e| {
                Error::protocol(format_args!(
                    "unable to read metadata of group member {}: {e}",
                    member.member_id
                ))
            })?;
            meta.topics.sort_unstable();
            meta.topics.dedup();
            topics.extend(meta.topics.iter().cloned());
            metadatas.push(meta);
        }
        Ok(ConsumerBalancer {
            balance,
            members,
            metadatas,
            topics,
            error: Cell::new(None),
        })
    }

    /// Returns the members, in balancing order.
    ///
    /// Corresponds to kgo's `ConsumerBalancer.Members`.
    pub fn members(&self) -> &[GroupMember] {
        &self.members
    }

    /// Returns each member with its parsed metadata, in balancing order.
    ///
    /// Corresponds to kgo's `ConsumerBalancer.EachMember`.
    pub fn each_member(
        &self,
    ) -> impl Iterator<Item = (&GroupMember, &ConsumerProtocolSubscription)> + '_ {
        self.members.iter().zip(self.metadatas.iter())
    }

    /// Returns the `n`th member and its metadata, or `None` past the end.
    ///
    /// Corresponds to kgo's `ConsumerBalancer.MemberAt`.
    pub fn member_at(&self, n: usize) -> Option<(&GroupMember, &ConsumerProtocolSubscription)> {
        Some((self.members.get(n)?, self.metadatas.get(n)?))
    }

    /// Returns every topic any member wants.
    ///
    /// Corresponds to kgo's `ConsumerBalancer.MemberTopics`.
    pub fn member_topics(&self) -> &BTreeSet<String> {
        &self.topics
    }

    /// Returns an empty plan with an entry for every member, so members
    /// given nothing still get an (empty) assignment.
    ///
    /// Corresponds to kgo's `ConsumerBalancer.NewPlan`.
    pub fn new_plan(&self) -> BalancePlan {
        BalancePlan::with_members(self.members.iter().map(|m| m.member_id.as_str()))
    }

    /// Records an error that makes [`balance`](Self::balance) fail; the last
    /// one set wins.
    ///
    /// Corresponds to kgo's `ConsumerBalancer.SetError`.
    pub fn set_error(&self, err: Error) {
        self.error.set(Some(err));
    }

    /// Runs the [`ConsumerBalancerBalance`] over `topics` (name to
    /// partition count).
    ///
    /// Corresponds to kgo's `ConsumerBalancer.Balance`.
    ///
    /// # Errors
    ///
    /// The error given to [`set_error`](Self::set_error), if any.
    pub fn balance(&self, topics: &BTreeMap<String, i32>) -> Result<BalancePlan> {
        let plan = self.balance.balance(self, topics);
        match self.error.take() {
            Some(err) => Err(err),
            None => Ok(plan),
        }
    }
}

impl GroupMemberBalancer for ConsumerBalancer {
    fn balance(&self, topics: &BTreeMap<String, i32>) -> Result<Box<dyn IntoSyncAssignment>> {
        let plan = ConsumerBalancer::balance(self, topics)?;
        Ok(Box::new(plan))
    }

    fn as_consumer_balancer(&self) -> Option<&ConsumerBalancer> {
        Some(self)
    }
}

/// Parses a SyncGroup member assignment of the `consumer` protocol type into
/// topics and sorted, deduplicated partitions.
///
/// Corresponds to kgo's `ParseConsumerSyncAssignment`.
///
/// # Errors
///
/// [`Error::Protocol`] if the bytes do not parse, including when they are
/// empty (the leader sent this member nothing, not even an empty plan).
pub fn parse_consumer_sync_assignment(assignment: &[u8]) -> Result<BTreeMap<String, Vec<i32>>> {
    if assignment.is_empty() {
        return Err(Error::protocol(
            "empty sync assignment: the group leader did not assign this member anything, not even an empty assignment",
        ));
    }
    let parsed = ConsumerProtocolAssignment::decode(assignment)?;
    let mut out: BTreeMap<String, Vec<i32>> = BTreeMap::new();
    for tp in parsed.assigned_partitions {
        out.entry(tp.topic).or_default().extend(tp.partitions);
    }
    for partitions in out.values_mut() {
        partitions.sort_unstable();
        partitions.dedup();
    }
    Ok(out)
}

/// Orders members as Java's `AbstractPartitionAssignor.MemberInfo` does:
/// static members first by instance id, then dynamic ones by member id.
/// Equal instance ids (never valid) fall back to the member id.
fn java_member_order(l: &GroupMember, r: &GroupMember) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    match (&l.instance_id, &r.instance_id) {
        (Some(li), Some(ri)) => java_cmp(li, ri).then_with(|| java_cmp(&l.member_id, &r.member_id)),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => java_cmp(&l.member_id, &r.member_id),
    }
}

/// Compares as Java's `String.compareTo` does: by UTF-16 code unit, which
/// differs from byte order only above U+FFFF.
fn java_cmp(l: &str, r: &str) -> std::cmp::Ordering {
    l.encode_utf16().cmp(r.encode_utf16())
}

/// Encodes a version 0 subscription carrying only the topics, as the eager
/// range and round-robin balancers send (kgo does the same).
/// The `member_balancer` of the built-in balancers: a [`ConsumerBalancer`]
/// over `members` that balances with `balance`, and the topics they want.
fn consumer_member_balancer(
    balance: Box<dyn ConsumerBalancerBalance>,
    members: &[GroupMember],
) -> Result<(Box<dyn GroupMemberBalancer>, BTreeSet<String>)> {
    let b = ConsumerBalancer::new(balance, members)?;
    let topics = b.member_topics().clone();
    Ok((Box::new(b), topics))
}

fn topics_only_metadata(interests: &[String]) -> Result<Vec<u8>> {
    let mut topics = interests.to_vec();
    topics.sort_unstable();
    topics.dedup();
    ConsumerProtocolSubscription {
        topics,
        ..Default::default()
    }
    .encode(0)
}

/// Encodes the JoinGroup metadata of both sticky balancers: a version 3
/// subscription whose user data is the `StickyAssignor` format (prior
/// assignment and generation, which kgo and Java sticky leaders read) and
/// whose `generation_id` is set (KIP-792, read by newer leaders). Only the
/// cooperative balancer reports `owned_partitions`: an eager member has
/// revoked everything by the time it joins.
fn sticky_metadata(
    interests: &[String],
    current_assignment: &BTreeMap<String, Vec<i32>>,
    generation: i32,
    cooperative: bool,
) -> Result<Vec<u8>> {
    let mut topics = interests.to_vec();
    topics.sort_unstable();
    topics.dedup();
    let current: Vec<TopicPartitions> = current_assignment
        .iter()
        .filter(|(_, partitions)| !partitions.is_empty())
        .map(|(topic, partitions)| {
            let mut partitions = partitions.clone();
            partitions.sort_unstable();
            partitions.dedup();
            TopicPartitions::new(topic.as_str(), partitions)
        })
        .collect();
    let user_data = StickyMemberMetadata {
        current_assignment: current.clone(),
        generation: Some(generation),
    }
    .encode()?;
    ConsumerProtocolSubscription {
        topics,
        user_data: Some(user_data),
        owned_partitions: if cooperative { current } else { Vec::new() },
        generation_id: generation,
        rack_id: None,
    }
    .encode(3)
}

/// Utilities shared by the balancer tests: table-driven cases and the
/// validity checks Java's assignor tests make.
#[cfg(test)]
pub(crate) mod testing {
    use std::collections::{BTreeMap, BTreeSet};
    use std::sync::Arc;

    use super::{GroupBalancer, GroupMember};

    /// Member id to topic to sorted partitions, every member present.
    pub(crate) type Assignment = BTreeMap<String, BTreeMap<String, Vec<i32>>>;

    #[derive(Debug, Clone)]
    pub(crate) struct Spec {
        pub(crate) id: String,
        pub(crate) instance: Option<String>,
        pub(crate) topics: Vec<String>,
        pub(crate) owned: BTreeMap<String, Vec<i32>>,
        pub(crate) generation: i32,
        pub(crate) raw: Option<Vec<u8>>,
    }

    /// One balancing scenario.
    #[derive(Debug, Clone)]
    pub(crate) struct Case {
        pub(crate) name: String,
        pub(crate) topics: BTreeMap<String, i32>,
        pub(crate) members: Vec<Spec>,
        expect: Option<String>,
    }

    /// Renders an assignment as kgo renders plans: `m0{t[0 1], u[2]}, m1{}`.
    pub(crate) fn render(a: &Assignment) -> String {
        let mut plan = super::BalancePlan::with_members(a.keys().map(String::as_str));
        for (m, ts) in a {
            for (t, ps) in ts {
                plan.add_by_id(m, t, ps);
            }
        }
        plan.to_string()
    }

    /// Parses partitions written as `t[0 1], u[2]`.
    pub(crate) fn parse_topics(s: &str) -> BTreeMap<String, Vec<i32>> {
        let mut out = BTreeMap::new();
        for piece in s.split(']') {
            let piece = piece.trim_start_matches([',', ' ']);
            if let Some((topic, ps)) = piece.split_once('[') {
                let ps = ps.split_whitespace().map(|p| p.parse().unwrap()).collect();
                out.insert(topic.to_string(), ps);
            }
        }
        out
    }

    impl Case {
        pub(crate) fn new(name: &str) -> Self {
            Case {
                name: name.into(),
                topics: BTreeMap::new(),
                members: Vec::new(),
                expect: None,
            }
        }

        pub(crate) fn topic(mut self, name: &str, partitions: i32) -> Self {
            self.topics.insert(name.into(), partitions);
            self
        }

        pub(crate) fn topics(mut self, topics: &[(&str, i32)]) -> Self {
            for &(name, partitions) in topics {
                self = self.topic(name, partitions);
            }
            self
        }

        pub(crate) fn member(self, id: &str, topics: &[&str]) -> Self {
            self.owner(id, topics, "", -1)
        }

        pub(crate) fn static_member(mut self, id: &str, instance: &str, topics: &[&str]) -> Self {
            self = self.member(id, topics);
            if let Some(last) = self.members.last_mut() {
                last.instance = Some(instance.into());
            }
            self
        }

        /// A member owning `owned` (`t[0 1], u[2]`) from `generation`,
        /// described by the balancer's own JoinGroup metadata.
        pub(crate) fn owner(self, id: &str, topics: &[&str], owned: &str, generation: i32) -> Self {
            self.owner_map(id, topics, parse_topics(owned), generation)
        }

        pub(crate) fn owner_map(
            mut self,
            id: &str,
            topics: &[&str],
            owned: BTreeMap<String, Vec<i32>>,
            generation: i32,
        ) -> Self {
            self.members.push(Spec {
                id: id.into(),
                instance: None,
                topics: topics.iter().map(|t| t.to_string()).collect(),
                owned,
                generation,
                raw: None,
            });
            self
        }

        /// A member wanting `topics` whose metadata is given as bytes.
        pub(crate) fn raw(mut self, id: &str, topics: &[&str], metadata: Vec<u8>) -> Self {
            self.members.push(Spec {
                id: id.into(),
                instance: None,
                topics: topics.iter().map(|t| t.to_string()).collect(),
                owned: BTreeMap::new(),
                generation: -1,
                raw: Some(metadata),
            });
            self
        }

        /// The expected plan, one `member{topic[partitions]}` per member.
        pub(crate) fn expect(mut self, members: &[&str]) -> Self {
            let plan: Assignment = members
                .iter()
                .map(|m| {
                    let (id, topics) = m.split_once('{').unwrap();
                    (id.to_string(), parse_topics(topics.trim_end_matches('}')))
                })
                .collect();
            self.expect = Some(render(&plan));
            self
        }

        pub(crate) fn expected(&self) -> Option<&str> {
            self.expect.as_deref()
        }

        /// The next round: every member owns what `got` gave it, from
        /// `generation`.
        pub(crate) fn reowned(&self, got: &Assignment, generation: i32) -> Case {
            let mut next = self.clone();
            next.expect = None;
            for s in &mut next.members {
                s.owned = got.get(&s.id).cloned().unwrap_or_default();
                s.generation = generation;
                s.raw = None;
            }
            next
        }

        pub(crate) fn group_members(&self, balancer: &Arc<dyn GroupBalancer>) -> Vec<GroupMember> {
            self.members
                .iter()
                .map(|s| {
                    let metadata = match &s.raw {
                        Some(raw) => raw.clone(),
                        None => balancer
                            .join_group_metadata(&s.topics, &s.owned, s.generation)
                            .unwrap(),
                    };
                    GroupMember::new(s.id.as_str(), s.instance.clone(), metadata)
                })
                .collect()
        }

        /// Balances, checks the encoded sync assignments decode back to the
        /// plan, and returns the plan.
        pub(crate) fn run(&self, balancer: &Arc<dyn GroupBalancer>) -> Assignment {
            let members = self.group_members(balancer);
            let (mb, wanted) = balancer.member_balancer(&members).unwrap();
            let all: BTreeSet<String> = self
                .members
                .iter()
                .flat_map(|s| s.topics.iter().cloned())
                .collect();
            assert_eq!(wanted, all, "{}: member topics", self.name);
            let into = mb.balance(&self.topics).unwrap();
            let plan = into.as_balance_plan().unwrap().clone();
            let got = normalize(plan.as_map());
            let mut decoded = Assignment::new();
            for (member, bytes) in into.into_sync_assignment().unwrap() {
                decoded.insert(member, balancer.parse_sync_assignment(&bytes).unwrap());
            }
            assert_eq!(decoded, got, "{}: sync assignment round trip", self.name);
            got
        }

        pub(crate) fn check(&self, balancer: &Arc<dyn GroupBalancer>) -> Assignment {
            let got = self.run(balancer);
            if let Some(want) = &self.expect {
                assert_eq!(render(&got), *want, "{}", self.name);
            }
            got
        }
    }

    pub(crate) fn normalize(map: &Assignment) -> Assignment {
        map.iter()
            .map(|(m, topics)| {
                let topics = topics
                    .iter()
                    .filter(|(_, ps)| !ps.is_empty())
                    .map(|(t, ps)| {
                        let mut ps = ps.clone();
                        ps.sort_unstable();
                        ps.dedup();
                        (t.clone(), ps)
                    })
                    .collect();
                (m.clone(), topics)
            })
            .collect()
    }

    /// Balances members that own nothing.
    pub(crate) fn plan_of(
        balancer: &Arc<dyn GroupBalancer>,
        topics: &[(&str, i32)],
        members: &[(&str, &[&str])],
    ) -> super::BalancePlan {
        let mut case = Case::new("plan_of");
        for &(t, n) in topics {
            case = case.topic(t, n);
        }
        for &(m, ts) in members {
            case = case.member(m, ts);
        }
        let members = case.group_members(balancer);
        let (mb, _) = balancer.member_balancer(&members).unwrap();
        mb.balance(&case.topics)
            .unwrap()
            .as_balance_plan()
            .unwrap()
            .clone()
    }

    /// Java's validity checks (`verifyValidityAndBalance`, made strict):
    /// every partition of a wanted topic is assigned exactly once, only to
    /// members wanting its topic, and no partition sits on a member with at
    /// least two more partitions than another member wanting its topic.
    /// `complete` is false for first cooperative rounds, which withhold
    /// moving partitions.
    pub(crate) fn assert_valid(case: &Case, got: &Assignment, complete: bool) {
        if let Some(err) = validity_error(case, got, complete) {
            panic!("{}: {err}\n{got:?}", case.name);
        }
    }

    /// The first way `got` breaks [`assert_valid`]'s rules, if any.
    pub(crate) fn validity_error(case: &Case, got: &Assignment, complete: bool) -> Option<String> {
        let wants: BTreeMap<&str, BTreeSet<&str>> = case
            .members
            .iter()
            .map(|s| (s.id.as_str(), s.topics.iter().map(String::as_str).collect()))
            .collect();
        let sizes: BTreeMap<&str, usize> = got
            .iter()
            .map(|(m, ts)| (m.as_str(), ts.values().map(Vec::len).sum()))
            .collect();
        let size = |m: &str| sizes.get(m).copied().unwrap_or(0);
        // The least-loaded member wanting each topic.
        let mut least: BTreeMap<&str, (usize, &str)> = BTreeMap::new();
        for (&m, ts) in &wants {
            for &t in ts {
                let e = least.entry(t).or_insert((size(m), m));
                if size(m) < e.0 {
                    *e = (size(m), m);
                }
            }
        }
        let mut seen = BTreeSet::new();
        for (m, topics) in got {
            for (t, ps) in topics {
                if !wants
                    .get(m.as_str())
                    .is_some_and(|w| w.contains(t.as_str()))
                {
                    return Some(format!("{m} does not want {t}"));
                }
                for &p in ps {
                    if p < 0 || p >= case.topics.get(t).copied().unwrap_or(0) {
                        return Some(format!("{t}-{p} does not exist"));
                    }
                    if !seen.insert((t.clone(), p)) {
                        return Some(format!("{t}-{p} assigned twice"));
                    }
                    if let (true, Some(&(n, other))) = (complete, least.get(t.as_str())) {
                        if size(m) > n + 1 {
                            return Some(format!(
                                "{t}-{p} on {m} ({}) could move to {other} ({n})",
                                size(m)
                            ));
                        }
                    }
                }
            }
        }
        if complete {
            for (t, &n) in &case.topics {
                if wants.values().any(|ts| ts.contains(t.as_str())) {
                    if let Some(p) = (0..n).find(|&p| !seen.contains(&(t.clone(), p))) {
                        return Some(format!("{t}-{p} unassigned"));
                    }
                }
            }
        }
        None
    }

    /// What a member claims to own, as the leader reads it.
    fn claimed(spec: &Spec) -> BTreeSet<(String, i32)> {
        let owned: Vec<(String, i32)> = match &spec.raw {
            Some(raw) => super::ConsumerProtocolSubscription::decode(raw)
                .map(|s| s.owned_partitions)
                .unwrap_or_default()
                .into_iter()
                .flat_map(|tp| {
                    tp.partitions
                        .into_iter()
                        .map(move |p| (tp.topic.clone(), p))
                })
                .collect(),
            None => spec
                .owned
                .iter()
                .flat_map(|(t, ps)| ps.iter().map(move |&p| (t.clone(), p)))
                .collect(),
        };
        owned.into_iter().collect()
    }

    /// Java's `verifyCooperativeValidity`: no partition is both revoked from
    /// a member and given to another in one plan. Returns whether anything
    /// is revoked, i.e. whether a follow-up rebalance happens.
    pub(crate) fn assert_cooperative(case: &Case, got: &Assignment) -> bool {
        let (mut added, mut revoked) = (BTreeSet::new(), BTreeSet::new());
        for spec in &case.members {
            let owned = claimed(spec);
            let assigned: BTreeSet<(String, i32)> = got
                .get(&spec.id)
                .map(|ts| {
                    ts.iter()
                        .flat_map(|(t, ps)| ps.iter().map(move |&p| (t.clone(), p)))
                        .collect()
                })
                .unwrap_or_default();
            added.extend(assigned.difference(&owned).cloned());
            revoked.extend(owned.difference(&assigned).cloned());
        }
        let both: Vec<_> = added.intersection(&revoked).collect();
        assert!(
            both.is_empty(),
            "{}: revoked and reassigned at once: {both:?}",
            case.name
        );
        !revoked.is_empty()
    }

    /// Balances `case`. A cooperative balancer is rebalanced with what
    /// members then own (generation 1, as Java's tests do) until nothing is
    /// revoked, checking each round; the final plan must be valid and is
    /// returned, as are eager plans.
    pub(crate) fn settle(balancer: &Arc<dyn GroupBalancer>, case: &Case) -> Assignment {
        let mut case = case.clone();
        let mut got = case.run(balancer);
        if balancer.is_cooperative() {
            let mut rounds = 0;
            while assert_cooperative(&case, &got) {
                assert_valid(&case, &got, false);
                rounds += 1;
                assert!(rounds <= 4, "{}: no convergence", case.name);
                case = case.reowned(&got, 1);
                got = case.run(balancer);
            }
        }
        assert_valid(&case, &got, true);
        if let Some(want) = case.expected() {
            assert_eq!(
                render(&got),
                want,
                "{} ({})",
                case.name,
                balancer.protocol_name()
            );
        }
        got
    }

    /// Java's `isSticky`: per topic, the moves from what members owned to
    /// what they got form no cycle (partitions of a topic never swap places).
    pub(crate) fn assert_sticky(case: &Case, got: &Assignment) {
        let mut owner_now: BTreeMap<(String, i32), &str> = BTreeMap::new();
        for (m, ts) in got {
            for (t, ps) in ts {
                for &p in ps {
                    owner_now.insert((t.clone(), p), m);
                }
            }
        }
        let mut edges: BTreeMap<&str, BTreeSet<(&str, &str)>> = BTreeMap::new();
        for spec in &case.members {
            for (t, ps) in &spec.owned {
                for &p in ps {
                    if let Some(&to) = owner_now.get(&(t.clone(), p)) {
                        if to != spec.id {
                            edges
                                .entry(t.as_str())
                                .or_default()
                                .insert((spec.id.as_str(), to));
                        }
                    }
                }
            }
        }
        for (t, pairs) in edges {
            // Repeatedly drop members with no outgoing or no incoming move;
            // anything left lies on a cycle.
            let mut pairs: Vec<(&str, &str)> = pairs.into_iter().collect();
            loop {
                let from: BTreeSet<&str> = pairs.iter().map(|p| p.0).collect();
                let to: BTreeSet<&str> = pairs.iter().map(|p| p.1).collect();
                let before = pairs.len();
                pairs.retain(|(a, b)| to.contains(a) && from.contains(b));
                if pairs.len() == before {
                    break;
                }
            }
            assert!(
                pairs.is_empty(),
                "{}: partitions of {t} move in a cycle: {pairs:?}",
                case.name
            );
        }
    }

    /// Reports whether member sizes differ by at most one.
    pub(crate) fn fully_balanced(got: &Assignment) -> bool {
        let sizes: Vec<usize> = got
            .values()
            .map(|ts| ts.values().map(Vec::len).sum())
            .collect();
        sizes.iter().max().unwrap_or(&0) - sizes.iter().min().unwrap_or(&0) <= 1
    }

    /// The number of partitions of `topic` each member got.
    pub(crate) fn topic_counts(got: &Assignment, topic: &str) -> Vec<usize> {
        got.values()
            .map(|ts| ts.get(topic).map_or(0, Vec::len))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::testing::Case;
    use super::*;

    #[test]
    fn consumer_balancer_orders_dedups_and_parses() {
        let meta = |topics: &[&str]| {
            let s = ConsumerProtocolSubscription {
                topics: topics.iter().map(|t| t.to_string()).collect(),
                ..Default::default()
            };
            s.encode(0).unwrap()
        };
        let members = [
            GroupMember::new("b", None, meta(&["y", "x", "y"])),
            GroupMember::new("z", Some("i2".into()), meta(&["x"])),
            GroupMember::new("a", None, meta(&[])),
            GroupMember::new("b", None, meta(&["ignored"])),
            GroupMember::new("y", Some("i1".into()), meta(&["w"])),
        ];
        struct Nothing;
        impl ConsumerBalancerBalance for Nothing {
            fn balance(&self, b: &ConsumerBalancer, _: &BTreeMap<String, i32>) -> BalancePlan {
                b.new_plan()
            }
        }
        let b = ConsumerBalancer::new(Box::new(Nothing), &members).unwrap();
        let ids: Vec<&str> = b.members().iter().map(|m| m.member_id.as_str()).collect();
        assert_eq!(ids, ["y", "z", "a", "b"]);
        assert_eq!(b.member_at(3).unwrap().1.topics, ["x", "y"]);
        assert!(b.member_at(4).is_none());
        let topics: Vec<&str> = b.member_topics().iter().map(String::as_str).collect();
        assert_eq!(topics, ["w", "x", "y"]);
        assert_eq!(b.each_member().count(), 4);
        assert!(format!("{b:?}").starts_with("ConsumerBalancer"));

        let plan = b.balance(&BTreeMap::new()).unwrap();
        assert_eq!(plan.to_string(), "a{}, b{}, y{}, z{}");
        b.set_error(Error::config("no"));
        assert!(matches!(b.balance(&BTreeMap::new()), Err(Error::Config(_))));
        assert!(
            b.balance(&BTreeMap::new()).is_ok(),
            "the error is reported once"
        );

        let bad = [GroupMember::new("m", None, vec![0, 0, 0])];
        match ConsumerBalancer::new(Box::new(Nothing), &bad) {
            Err(Error::Protocol(msg)) => assert!(
                msg.starts_with("unable to read metadata of group member m: "),
                "{msg}"
            ),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn parse_sync_assignment_merges_and_sorts() {
        let a = ConsumerProtocolAssignment {
            assigned_partitions: vec![
                TopicPartitions::new("t", vec![3, 1]),
                TopicPartitions::new("s", vec![]),
                TopicPartitions::new("t", vec![1, 0]),
            ],
            user_data: None,
        };
        let got = parse_consumer_sync_assignment(&a.encode(3).unwrap()).unwrap();
        let want: BTreeMap<String, Vec<i32>> =
            [("s".to_string(), vec![]), ("t".to_string(), vec![0, 1, 3])].into();
        assert_eq!(got, want);
        match parse_consumer_sync_assignment(&[]) {
            Err(Error::Protocol(msg)) => assert!(msg.starts_with("empty sync assignment"), "{msg}"),
            other => panic!("{other:?}"),
        }
        assert!(parse_consumer_sync_assignment(&[0, 0, 0, 0, 0, 1]).is_err());
    }

    #[test]
    fn protocol_names_and_join_metadata() {
        let current: BTreeMap<String, Vec<i32>> =
            [("b".to_string(), vec![2, 1]), ("a".to_string(), vec![])].into();
        let interests = ["b".to_string(), "a".to_string()];
        // (balancer, name, cooperative, version written, owned written)
        type Row = (Arc<dyn GroupBalancer>, &'static str, bool, i16, bool);
        let cases: [Row; 4] = [
            (range_balancer(), "range", false, 0, false),
            (round_robin_balancer(), "roundrobin", false, 0, false),
            (sticky_balancer(), "sticky", false, 3, false),
            (
                cooperative_sticky_balancer(),
                "cooperative-sticky",
                true,
                3,
                true,
            ),
        ];
        for (b, name, cooperative, version, owned) in cases {
            assert_eq!(b.protocol_name(), name);
            assert_eq!(b.is_cooperative(), cooperative, "{name}");
            let bytes = b.join_group_metadata(&interests, &current, 7).unwrap();
            assert_eq!(i16::from_be_bytes([bytes[0], bytes[1]]), version, "{name}");
            let s = ConsumerProtocolSubscription::decode(&bytes).unwrap();
            assert_eq!(s.topics, ["a", "b"], "{name}");
            let want_owned = if owned {
                vec![TopicPartitions::new("b", vec![1, 2])]
            } else {
                vec![]
            };
            assert_eq!(s.owned_partitions, want_owned, "{name}");
            if version == 3 {
                assert_eq!(s.generation_id, 7, "{name}");
                let sticky = crate::messages::consumer_protocol::StickyMemberMetadata::decode(
                    s.user_data.as_deref().unwrap(),
                )
                .unwrap();
                assert_eq!(
                    sticky.current_assignment,
                    vec![TopicPartitions::new("b", vec![1, 2])],
                    "{name}"
                );
                assert_eq!(sticky.generation, Some(7), "{name}");
            } else {
                assert_eq!(s.user_data, None, "{name}");
            }
            // Deterministic: the same input gives the same bytes.
            assert_eq!(
                b.join_group_metadata(&interests, &current, 7).unwrap(),
                bytes,
                "{name}"
            );
        }
        let long = ["x".repeat(40_000)];
        assert!(matches!(
            range_balancer().join_group_metadata(&long, &current, 1),
            Err(Error::Config(_))
        ));
    }

    #[test]
    fn members_with_bad_metadata_fail_the_balance() {
        for b in [
            range_balancer(),
            round_robin_balancer(),
            sticky_balancer(),
            cooperative_sticky_balancer(),
        ] {
            let members = Case::new("bad").raw("m", &[], vec![0xff]).group_members(&b);
            assert!(
                b.member_balancer(&members).is_err(),
                "{}",
                b.protocol_name()
            );
        }
    }
}
