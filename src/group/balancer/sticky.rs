//! The sticky balancer and the engine it shares with the cooperative-sticky
//! balancer.
//!
//! The engine follows Java's `AbstractStickyAssignor` (Kafka 3.x, without
//! rack awareness) step for step, so that a group gets the same plan whether
//! this client or a Java client leads it:
//!
//! 1. Owned partitions are resolved by generation (KIP-341): a partition
//!    claimed by several members goes to the unique highest generation;
//!    claimants tied at the highest generation all lose it.
//! 2. If every member wants the same topics, the constrained algorithm
//!    runs: members keep owned partitions up to their quota (the first
//!    `total % members` members that owned enough keep one extra) and the
//!    rest is dealt round-robin to members under quota. O(P log P + M log M).
//! 3. Otherwise the general algorithm runs: unowned partitions (topics with
//!    fewer candidate members first) go one by one to the least-loaded
//!    member that wants them, then partitions move from a member to the
//!    least-loaded candidate while that one has at least two fewer, back to
//!    their previous-generation owner first. Loads are kept in ordered sets,
//!    one per distinct set of members wanting a topic, so finding the
//!    least-loaded candidate is O(log M) and a move costs O(log M) per such
//!    set the two members are in.
//!
//! Where Java's outcome depends on `HashMap` iteration order, the engine
//! reproduces that order ([`java_hash_order`]); where it depends on
//! `HashSet` order or on a bug, the engine makes the deterministic, valid
//! choice, said at each spot. Engine indices (members `0..M`, partitions
//! `0..P`) come from the engine's own tables, never from the wire.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::Arc;

use super::{
    consumer_member_balancer, java_cmp, parse_consumer_sync_assignment, sticky_metadata,
    BalancePlan, ConsumerBalancer, ConsumerBalancerBalance, GroupBalancer, GroupMember,
    GroupMemberBalancer,
};
use crate::error::Result;
use crate::messages::consumer_protocol::{
    ConsumerProtocolSubscription, StickyMemberMetadata, TopicPartitions,
};

/// No member or no partition.
const NONE: usize = usize::MAX;

/// Java's `AbstractStickyAssignor.DEFAULT_GENERATION`.
const NO_GENERATION: i32 = -1;

/// Returns a balancer that keeps partitions where they are as far as
/// balance allows, moving as few as possible when members come and go.
///
/// If members M0, M1 and M2 own topics t0, t1 and t2 (three partitions
/// each) and M2 leaves, range and round-robin would move partitions that
/// need not move; sticky keeps t0 on M0 and t1 on M1 and splits t2:
///
/// ```text
/// M0: [t0p0, t0p1, t0p2, t2p0, t2p2]
/// M1: [t1p0, t1p1, t1p2, t2p1]
/// ```
///
/// Each member's JoinGroup metadata carries what it owned and the
/// generation it owned it in (user data of Java's `StickyAssignor`), so the
/// leader can resolve members that rejoin with stale data (KIP-341). This
/// is an eager strategy: members revoke everything when a rebalance starts.
///
/// Corresponds to kgo's `StickyBalancer` and Java's `StickyAssignor`
/// (protocol `sticky`); plans are Java's, see the module docs.
pub fn sticky_balancer() -> Arc<dyn GroupBalancer> {
    Arc::new(StickyBalancer)
}

#[derive(Debug, Clone, Copy)]
struct StickyBalancer;

impl GroupBalancer for StickyBalancer {
    fn protocol_name(&self) -> &str {
        "sticky"
    }

    fn is_cooperative(&self) -> bool {
        false
    }

    fn join_group_metadata(
        &self,
        interests: &[String],
        current_assignment: &BTreeMap<String, Vec<i32>>,
        generation: i32,
    ) -> Result<Vec<u8>> {
        sticky_metadata(interests, current_assignment, generation, false)
    }

    fn parse_sync_assignment(&self, assignment: &[u8]) -> Result<BTreeMap<String, Vec<i32>>> {
        parse_consumer_sync_assignment(assignment)
    }

    fn member_balancer(
        &self,
        members: &[GroupMember],
    ) -> Result<(Box<dyn GroupMemberBalancer>, BTreeSet<String>)> {
        consumer_member_balancer(Box::new(*self), members)
    }
}

impl ConsumerBalancerBalance for StickyBalancer {
    fn balance(&self, b: &ConsumerBalancer, topics: &BTreeMap<String, i32>) -> BalancePlan {
        let members: Vec<Member<'_>> = b
            .each_member()
            .map(|(m, meta)| eager_member(m, meta))
            .collect();
        assign(&members, topics).to_plan(b)
    }
}

/// One member as the engine sees it.
#[derive(Debug)]
pub(super) struct Member<'a> {
    pub(super) id: &'a str,
    /// Sorted and deduplicated (the [`ConsumerBalancer`] does that).
    pub(super) topics: &'a [String],
    pub(super) owned: Cow<'a, [TopicPartitions]>,
    pub(super) generation: i32,
}

/// Reads what an eager sticky member owned, as Java's
/// `StickyAssignor.memberData` does: from the user data, V1 (with the
/// generation) or V0; unparsable user data means nothing owned. Without
/// user data, fall back to `owned_partitions` and `generation_id`, which
/// eager Java and kgo members leave empty anyway.
fn eager_member<'a>(m: &'a GroupMember, meta: &'a ConsumerProtocolSubscription) -> Member<'a> {
    let nothing = (Cow::Owned(Vec::new()), NO_GENERATION);
    let has_owned = meta
        .owned_partitions
        .iter()
        .any(|tp| !tp.partitions.is_empty());
    let (owned, generation) = match meta.user_data.as_deref() {
        Some(data) if !data.is_empty() => match StickyMemberMetadata::decode(data) {
            Ok(s) => (
                Cow::Owned(s.current_assignment),
                s.generation.unwrap_or(NO_GENERATION),
            ),
            Err(_) => nothing,
        },
        _ if has_owned => (
            Cow::Borrowed(meta.owned_partitions.as_slice()),
            meta.generation_id,
        ),
        _ => nothing,
    };
    Member {
        id: &m.member_id,
        topics: &meta.topics,
        owned,
        generation,
    }
}

/// The engine's result: partitions per member (indices into the topic
/// table) and, from the constrained algorithm, the partitions that change
/// owner (Java's `partitionsTransferringOwnership`).
#[derive(Debug)]
pub(super) struct Outcome<'a> {
    topics: Topics<'a>,
    ids: Vec<&'a str>,
    assignment: Vec<Vec<usize>>,
    transfers: Vec<(usize, usize)>,
}

impl Outcome<'_> {
    /// Builds the plan, with an entry for every member of `b`.
    pub(super) fn to_plan(&self, b: &ConsumerBalancer) -> BalancePlan {
        let mut plan = b.new_plan();
        for (parts, id) in self.assignment.iter().zip(&self.ids) {
            let mut parts = parts.clone();
            // Indices are laid out topic by topic: sorted, they come in runs.
            parts.sort_unstable();
            let topic_of = |p: &usize| self.topics.topic_of(*p);
            for run in parts.chunk_by(|a, b| topic_of(a) == topic_of(b)) {
                let partitions: Vec<i32> =
                    run.iter().map(|&p| self.topics.partition_of(p)).collect();
                let topic = run.first().map_or(NONE, topic_of);
                plan.add_by_id(id, self.topics.name(topic), &partitions);
            }
        }
        plan
    }

    /// Returns (member id, topic, partition) for every partition the
    /// constrained algorithm moved away from another owner.
    pub(super) fn transfers(&self) -> impl Iterator<Item = (&str, &str, i32)> + '_ {
        self.transfers.iter().map(|&(m, part)| {
            let topic = self.topics.name(self.topics.topic_of(part));
            (self.ids[m], topic, self.topics.partition_of(part))
        })
    }
}

/// Runs the sticky assignment over `members` and partition counts.
pub(super) fn assign<'a>(members: &'a [Member<'a>], counts: &BTreeMap<String, i32>) -> Outcome<'a> {
    let topics = Topics::new(members, counts);
    let ids: Vec<&str> = members.iter().map(|m| m.id).collect();
    let order = java_hash_order(&ids);
    let mut by_rank: Vec<usize> = (0..members.len()).collect();
    by_rank.sort_by(|&l, &r| java_cmp(ids[l], ids[r]));
    let mut rank = vec![0; members.len()];
    for (r, &m) in by_rank.iter().enumerate() {
        rank[m] = r;
    }
    let claims = Claims::resolve(members, &topics, &order);

    let (assignment, transfers) = if members.is_empty() {
        (Vec::new(), Vec::new())
    } else if all_subscriptions_equal(members) {
        let mut c = Constrained::new(members.len(), &topics, &claims);
        c.keep_owned(&order);
        c.fill(&rank);
        (c.assignment, c.transfers)
    } else {
        let mut g = General::new(members, &topics, &claims, &rank, &by_rank);
        g.run();
        (g.into_assignment(), Vec::new())
    };
    Outcome {
        topics,
        ids,
        assignment,
        transfers,
    }
}

/// Reports whether every member wants exactly the same topics. Unlike
/// Java's `allSubscriptionsEqual`, a first member with no topics does not
/// make every later subscription count as equal.
fn all_subscriptions_equal(members: &[Member<'_>]) -> bool {
    members.windows(2).all(|w| w[0].topics == w[1].topics)
}

/// Returns member indices in the order Java iterates a `HashMap` keyed by
/// member id that was filled in member order: by bucket of the spread
/// `String.hashCode`, ties in insertion order. Java's constrained
/// algorithm lets members keep their extra partition in this order, so
/// reproducing it reproduces Java's plans.
fn java_hash_order(ids: &[&str]) -> Vec<usize> {
    // HashMap starts at 16 buckets and doubles when it holds more than
    // three quarters; it caps at 2^30.
    let mut buckets: u32 = 16;
    while ids.len() > (buckets as usize / 4) * 3 && buckets < (1 << 30) {
        buckets *= 2;
    }
    let bucket = |id: &str| {
        let h = id.encode_utf16().fold(0u32, |h, unit| {
            h.wrapping_mul(31).wrapping_add(u32::from(unit))
        });
        (h ^ (h >> 16)) & (buckets - 1)
    };
    let mut order: Vec<usize> = (0..ids.len()).collect();
    order.sort_by_key(|&i| (bucket(ids[i]), i));
    order
}

/// The partitions to balance: topics some member wants that have
/// partitions, sorted by name, each partition one index.
#[derive(Debug, Default)]
struct Topics<'a> {
    names: Vec<&'a str>,
    base: Vec<usize>,
    part_topic: Vec<usize>,
}

impl<'a> Topics<'a> {
    fn new(members: &[Member<'a>], counts: &BTreeMap<String, i32>) -> Self {
        let wanted: BTreeSet<&'a str> = members
            .iter()
            .flat_map(|m| m.topics.iter().map(String::as_str))
            .collect();
        let mut t = Topics::default();
        for name in wanted {
            let count = counts
                .get(name)
                .and_then(|&n| usize::try_from(n).ok())
                .unwrap_or(0);
            if count > 0 {
                let index = t.names.len();
                t.names.push(name);
                t.base.push(t.part_topic.len());
                t.part_topic.resize(t.part_topic.len() + count, index);
            }
        }
        t
    }

    fn len(&self) -> usize {
        self.part_topic.len()
    }

    fn name(&self, t: usize) -> &'a str {
        self.names.get(t).copied().unwrap_or("")
    }

    fn index(&self, name: &str) -> Option<usize> {
        self.names.binary_search(&name).ok()
    }

    fn partitions(&self, t: usize) -> std::ops::Range<usize> {
        let start = self.base.get(t).copied().unwrap_or(0);
        let end = self
            .base
            .get(t.saturating_add(1))
            .copied()
            .unwrap_or(self.len());
        start..end
    }

    /// The index of a partition named on the wire, if it exists. Java keeps
    /// claims on partitions past a topic's count (a topic deleted and
    /// recreated smaller) and can hand them out; they are dropped here.
    fn part(&self, topic: &str, partition: i32) -> Option<usize> {
        let range = self.partitions(self.index(topic)?);
        let part = range.start.checked_add(usize::try_from(partition).ok()?)?;
        range.contains(&part).then_some(part)
    }

    fn topic_of(&self, part: usize) -> usize {
        self.part_topic.get(part).copied().unwrap_or(NONE)
    }

    fn partition_of(&self, part: usize) -> i32 {
        let start = self.partitions(self.topic_of(part)).start;
        i32::try_from(part.saturating_sub(start)).unwrap_or(i32::MAX)
    }
}

/// Owned partitions after resolving generations (KIP-341).
#[derive(Debug)]
struct Claims {
    /// The owner each partition keeps, or NONE.
    owner: Vec<usize>,
    /// Claimed by several members of the same, highest generation
    /// (Java's `partitionsWithMultiplePreviousOwners`).
    doubly: Vec<bool>,
    /// The claimant of the highest generation below the group's highest
    /// (Java's `prevAssignment`), which the general algorithm prefers when
    /// moving the partition.
    prev: Vec<usize>,
}

impl Claims {
    /// Resolves claims in Java's iteration `order`; the result depends on
    /// the order only for ties between previous owners, as in Java.
    fn resolve(members: &[Member<'_>], topics: &Topics<'_>, order: &[usize]) -> Self {
        let n = topics.len();
        // Per balance; Java keeps the maximum in the assignor across calls.
        let max_generation = members
            .iter()
            .map(|m| m.generation)
            .fold(NO_GENERATION, i32::max);
        let (mut best, mut best_gen, mut tied) = (vec![NONE; n], vec![0; n], vec![false; n]);
        let (mut prev, mut prev_gen) = (vec![NONE; n], vec![0; n]);
        let mut parts = Vec::new();
        for &m in order {
            let member = &members[m];
            let g = member.generation;
            parts.clear();
            for tp in member.owned.iter() {
                parts.extend(
                    tp.partitions
                        .iter()
                        .filter_map(|&p| topics.part(&tp.topic, p)),
                );
            }
            // A member listing a partition twice claims it once.
            parts.sort_unstable();
            parts.dedup();
            for &part in &parts {
                if best[part] == NONE || g > best_gen[part] {
                    (best[part], best_gen[part], tied[part]) = (m, g, false);
                } else if g == best_gen[part] {
                    tied[part] = true;
                }
                if g < max_generation && (prev[part] == NONE || g > prev_gen[part]) {
                    (prev[part], prev_gen[part]) = (m, g);
                }
            }
        }
        let owner = best
            .iter()
            .zip(&tied)
            .map(|(&m, &t)| if t { NONE } else { m })
            .collect();
        Claims {
            owner,
            doubly: tied,
            prev,
        }
    }
}

/// Java's `ConstrainedAssignmentBuilder`, for groups whose members all
/// want the same topics.
struct Constrained<'c> {
    topics: &'c Topics<'c>,
    claims: &'c Claims,
    min_quota: usize,
    max_quota: usize,
    /// How many members get `max_quota` (zero when it equals `min_quota`).
    expected_over: usize,
    over: usize,
    assignment: Vec<Vec<usize>>,
    assigned: Vec<bool>,
    /// Owned partitions dropped to respect quotas, by former owner.
    maybe_revoked: Vec<usize>,
    /// Members below `min_quota`.
    under: Vec<usize>,
    /// Members at `min_quota` that may still take one more.
    exact: VecDeque<usize>,
    transfers: Vec<(usize, usize)>,
}

impl<'c> Constrained<'c> {
    fn new(members: usize, topics: &'c Topics<'c>, claims: &'c Claims) -> Self {
        let total = topics.len();
        Constrained {
            topics,
            claims,
            min_quota: total / members,
            max_quota: total.div_ceil(members),
            expected_over: total % members,
            over: 0,
            assignment: vec![Vec::new(); members],
            assigned: vec![false; total],
            maybe_revoked: vec![NONE; total],
            under: Vec::new(),
            exact: VecDeque::new(),
            transfers: Vec::new(),
        }
    }

    /// Java's `assignOwnedPartitions`: members, in `order`, keep owned
    /// partitions sorted by partition then topic, up to their quota.
    fn keep_owned(&mut self, order: &[usize]) {
        let mut owned: Vec<Vec<usize>> = vec![Vec::new(); self.assignment.len()];
        for (part, &m) in self.claims.owner.iter().enumerate() {
            if m != NONE {
                owned[m].push(part);
            }
        }
        for &m in order {
            let mut mine = std::mem::take(&mut owned[m]);
            mine.sort_by_key(|&part| (self.topics.partition_of(part), self.topics.topic_of(part)));
            let keep = if mine.len() < self.min_quota {
                self.under.push(m);
                mine.len()
            } else if mine.len() >= self.max_quota && self.over < self.expected_over {
                self.over += 1;
                if self.over == self.expected_over {
                    self.exact.clear();
                }
                self.max_quota
            } else {
                if self.over < self.expected_over {
                    self.exact.push_back(m);
                }
                self.min_quota
            };
            for (i, &part) in mine.iter().enumerate() {
                if i < keep {
                    self.assignment[m].push(part);
                    self.assigned[part] = true;
                } else {
                    self.maybe_revoked[part] = m;
                }
            }
        }
    }

    /// Java's `assignRoundRobin`: deal the rest to members under quota in
    /// member id order, round after round, then one each to members at
    /// `min_quota`.
    fn fill(&mut self, rank: &[usize]) {
        let unassigned: Vec<usize> = (0..self.topics.len())
            .filter(|&p| !self.assigned[p])
            .collect();
        let mut round = std::mem::take(&mut self.under);
        round.sort_by_key(|&m| rank[m]);
        self.exact.make_contiguous().sort_by_key(|&m| rank[m]);
        // Java walks a linked list with an iterator, removing members that
        // reach min_quota and restarting at the end; `round` is what is left
        // of the current pass and `next_round` what survives it.
        let mut next_round: Vec<usize> = Vec::with_capacity(round.len());
        let mut at = 0;
        for part in unassigned {
            if at == round.len() && !next_round.is_empty() {
                round = std::mem::take(&mut next_round);
                at = 0;
            }
            let (m, from_under) = match round.get(at) {
                Some(&m) => {
                    at += 1;
                    (m, true)
                }
                None => match self.exact.pop_front() {
                    Some(m) => (m, false),
                    // Java throws here ("No more unfilled consumers"); the
                    // quotas make it unreachable, but stay valid regardless.
                    None => (self.least_loaded(rank), false),
                },
            };
            let count = self.assign_new(part, m);
            // Members given one more from `exact` are at max_quota and done.
            if from_under && count == self.min_quota {
                self.exact.push_back(m);
            } else if from_under {
                next_round.push(m);
            }
        }
    }

    fn least_loaded(&self, rank: &[usize]) -> usize {
        (0..self.assignment.len())
            .min_by_key(|&m| (self.assignment[m].len(), rank[m]))
            .unwrap_or(0)
    }

    fn assign_new(&mut self, part: usize, m: usize) -> usize {
        self.assignment[m].push(part);
        let revoked_from = self.maybe_revoked[part];
        if (revoked_from != NONE && revoked_from != m) || self.claims.doubly[part] {
            self.transfers.push((m, part));
        }
        self.assignment[m].len()
    }
}

/// Member loads, ordered per distinct set of candidate members, so the
/// least-loaded member wanting a topic is a lookup.
struct Loads {
    size: Vec<usize>,
    rank: Vec<usize>,
    by_rank: Vec<usize>,
    /// Per class: (size, rank) of each member in the class.
    classes: Vec<BTreeSet<(usize, usize)>>,
    member_classes: Vec<Vec<usize>>,
    topic_class: Vec<usize>,
}

impl Loads {
    fn new(size: Vec<usize>, rank: &[usize], by_rank: &[usize], topic_subs: &[Vec<usize>]) -> Self {
        let mut loads = Loads {
            size,
            rank: rank.to_vec(),
            by_rank: by_rank.to_vec(),
            classes: Vec::new(),
            member_classes: vec![Vec::new(); rank.len()],
            topic_class: Vec::with_capacity(topic_subs.len()),
        };
        let mut class_of: BTreeMap<&[usize], usize> = BTreeMap::new();
        for subs in topic_subs {
            let next = loads.classes.len();
            let class = *class_of.entry(subs.as_slice()).or_insert(next);
            if class == next {
                let members = subs.iter().map(|&m| (loads.size[m], loads.rank[m]));
                loads.classes.push(members.collect());
                for &m in subs {
                    loads.member_classes[m].push(class);
                }
            }
            loads.topic_class.push(class);
        }
        loads
    }

    /// The least-loaded member wanting topic `t`, ties by member id (Java's
    /// `sortedCurrentSubscriptions`).
    fn least(&self, t: usize) -> Option<usize> {
        let class = self.classes.get(*self.topic_class.get(t)?)?;
        class.first().map(|&(_, r)| self.by_rank[r])
    }

    fn resize(&mut self, m: usize, grow: bool) {
        let (old, r) = (self.size[m], self.rank[m]);
        let new = if grow { old + 1 } else { old.saturating_sub(1) };
        for &c in &self.member_classes[m] {
            self.classes[c].remove(&(old, r));
            self.classes[c].insert((new, r));
        }
        self.size[m] = new;
    }
}

/// Net partition moves during balancing (Java's `PartitionMovements`),
/// used to move a partition back to where it came from rather than on.
#[derive(Default)]
struct Movements {
    by_part: HashMap<usize, (usize, usize)>,
    /// (topic, from, to) to partitions that made that net move.
    by_pair: BTreeMap<(usize, usize, usize), BTreeSet<usize>>,
}

impl Movements {
    fn record(&mut self, t: usize, part: usize, from: usize, to: usize) {
        let (src, dst) = match self.by_part.remove(&part) {
            Some((src, dst)) => {
                if let Some(set) = self.by_pair.get_mut(&(t, src, dst)) {
                    set.remove(&part);
                    if set.is_empty() {
                        self.by_pair.remove(&(t, src, dst));
                    }
                }
                (src, to)
            }
            None => (from, to),
        };
        if src != dst {
            self.by_part.insert(part, (src, dst));
            self.by_pair.entry((t, src, dst)).or_default().insert(part);
        }
    }

    /// Java's `getTheActualPartitionToBeMoved`: if some partition of the
    /// topic already moved from `to` to where `part` originally was, move
    /// that one back instead. Java picks any such partition (`HashSet`
    /// order); this picks the lowest.
    fn actual(&self, t: usize, part: usize, owner: usize, to: usize) -> usize {
        let origin = self.by_part.get(&part).map_or(owner, |&(src, _)| src);
        let back = self
            .by_pair
            .get(&(t, to, origin))
            .and_then(|set| set.first());
        back.copied().unwrap_or(part)
    }
}

/// Java's `GeneralAssignmentBuilder`, for groups whose members want
/// different topics.
struct General<'g> {
    topics: &'g Topics<'g>,
    /// Per member: the existing topics it wants, sorted.
    subs: Vec<Vec<usize>>,
    /// Per topic: the members wanting it, in member order.
    topic_subs: Vec<Vec<usize>>,
    owner: Vec<usize>,
    prev: &'g [usize],
    loads: Loads,
    moves: Movements,
    /// An owned partition was dropped because its owner no longer wants
    /// the topic; Java then skips balancing the new partitions first.
    revocation_required: bool,
}

impl<'g> General<'g> {
    fn new(
        members: &[Member<'_>],
        topics: &'g Topics<'g>,
        claims: &'g Claims,
        rank: &[usize],
        by_rank: &[usize],
    ) -> Self {
        let mut subs = Vec::with_capacity(members.len());
        let mut topic_subs = vec![Vec::new(); topics.names.len()];
        for (m, member) in members.iter().enumerate() {
            let mine: Vec<usize> = member
                .topics
                .iter()
                .filter_map(|t| topics.index(t))
                .collect();
            for &t in &mine {
                topic_subs[t].push(m);
            }
            subs.push(mine);
        }
        let mut owner = vec![NONE; topics.len()];
        let mut size = vec![0; members.len()];
        let mut revocation_required = false;
        let claimed = claims.owner.iter().enumerate().filter(|(_, &m)| m != NONE);
        for (part, &m) in claimed {
            if subs[m].binary_search(&topics.topic_of(part)).is_ok() {
                owner[part] = m;
                size[m] += 1;
            } else {
                revocation_required = true;
            }
        }
        let loads = Loads::new(size, rank, by_rank, &topic_subs);
        General {
            topics,
            subs,
            topic_subs,
            owner,
            prev: &claims.prev,
            loads,
            moves: Movements::default(),
            revocation_required,
        }
    }

    fn run(&mut self) {
        // Topics with fewer candidates first, then by name (Java's
        // TopicComparator); partitions in order within a topic.
        let mut order: Vec<usize> = (0..self.topic_subs.len()).collect();
        order.sort_by_key(|&t| (self.topic_subs[t].len(), t));
        let sorted: Vec<usize> = order
            .iter()
            .flat_map(|&t| self.topics.partitions(t))
            .collect();
        let unassigned: Vec<usize> = sorted
            .iter()
            .copied()
            .filter(|&p| self.owner[p] == NONE)
            .collect();
        for &part in &unassigned {
            if let Some(m) = self.loads.least(self.topics.topic_of(part)) {
                self.owner[part] = m;
                self.loads.resize(m, true);
            }
        }
        // Partitions of topics with one candidate cannot move.
        let movable = |p: &usize| self.topic_subs[self.topics.topic_of(*p)].len() >= 2;
        let new_parts: Vec<usize> = unassigned.iter().copied().filter(movable).collect();
        let all_parts: Vec<usize> = sorted.iter().copied().filter(movable).collect();
        if !self.revocation_required {
            self.reassign_all(&new_parts);
        }
        self.reassign_all(&all_parts);
    }

    /// Java's `performReassignments`: pass over `parts` until a pass moves
    /// nothing. Java checks `isBalanced()` before every partition; that
    /// only ends a pass early in a state where no partition can move, so
    /// it is left out. Java's final revert when the balance score did not
    /// improve cannot trigger here: every move goes from a member to one
    /// with at least two fewer partitions, which lowers the score.
    fn reassign_all(&mut self, parts: &[usize]) {
        loop {
            let mut moved = false;
            for &part in parts {
                let (owner, t) = (self.owner[part], self.topics.topic_of(part));
                if owner == NONE {
                    continue;
                }
                let size = self.loads.size[owner];
                // Java moves the partition back to its previous-generation
                // owner without checking that the owner still wants the
                // topic; only a candidate is a valid target.
                let prev = self.prev[part];
                if prev != NONE && self.wants(prev, t) && size > self.loads.size[prev] + 1 {
                    self.reassign(part, prev);
                    moved = true;
                    continue;
                }
                if let Some(to) = self.loads.least(t) {
                    if size > self.loads.size[to] + 1 {
                        self.reassign(part, to);
                        moved = true;
                    }
                }
            }
            if !moved {
                return;
            }
        }
    }

    fn wants(&self, m: usize, t: usize) -> bool {
        self.subs[m].binary_search(&t).is_ok()
    }

    fn reassign(&mut self, part: usize, to: usize) {
        let (owner, t) = (self.owner[part], self.topics.topic_of(part));
        let mut chosen = self.moves.actual(t, part, owner, to);
        // Java moves the substitute even when its owner is not overloaded,
        // which can worsen balance (and is then undone wholesale); move it
        // only when that is an improvement, else move `part` itself.
        if chosen != part {
            let holder = self.owner[chosen];
            if holder == NONE || holder == to || self.loads.size[holder] <= self.loads.size[to] + 1
            {
                chosen = part;
            }
        }
        let from = self.owner[chosen];
        self.moves.record(t, chosen, from, to);
        self.loads.resize(from, false);
        self.loads.resize(to, true);
        self.owner[chosen] = to;
    }

    fn into_assignment(self) -> Vec<Vec<usize>> {
        let mut out = vec![Vec::new(); self.subs.len()];
        for (part, &m) in self.owner.iter().enumerate() {
            if m != NONE {
                out[m].push(part);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Arc;

    use super::super::testing::{fully_balanced, settle, Assignment, Case};
    use super::super::{cooperative_sticky_balancer, GroupBalancer};
    use super::*;

    fn both() -> [Arc<dyn GroupBalancer>; 2] {
        [sticky_balancer(), cooperative_sticky_balancer()]
    }

    fn owned(got: &Assignment, id: &str) -> BTreeMap<String, Vec<i32>> {
        got.get(id).cloned().unwrap_or_default()
    }

    /// Expected values from Java's AbstractStickyAssignorTest, which runs
    /// against both StickyAssignor and CooperativeStickyAssignor (for the
    /// cooperative one, after its follow-up rebalances).
    fn java_cases() -> Vec<Case> {
        let t12: &[&str] = &["topic1", "topic2"];
        vec![
            Case::new("one consumer, no topic")
                .member("consumer", &[])
                .expect(&["consumer{}"]),
            Case::new("nonexistent topic")
                .member("consumer", &["topic"])
                .expect(&["consumer{}"]),
            Case::new("one consumer, one topic")
                .topic("topic", 3)
                .member("consumer", &["topic"])
                .expect(&["consumer{topic[0 1 2]}"]),
            Case::new("only subscribed topics")
                .topic("topic", 2)
                .owner("consumer", &["topic"], "topic[0 1], other[0 1]", 1)
                .expect(&["consumer{topic[0 1]}"]),
            Case::new("one consumer, multiple topics")
                .topics(&[("topic1", 1), ("topic2", 2)])
                .member("consumer", t12)
                .expect(&["consumer{topic1[0], topic2[0 1]}"]),
            Case::new("two consumers, one partition")
                .topic("topic", 1)
                .member("consumer1", &["topic"])
                .member("consumer2", &["topic"]),
            Case::new("two consumers, two partitions")
                .topic("topic", 2)
                .member("consumer1", &["topic"])
                .member("consumer2", &["topic"])
                .expect(&["consumer1{topic[0]}", "consumer2{topic[1]}"]),
            Case::new("mixed topic subscriptions")
                .topics(&[("topic1", 3), ("topic2", 2)])
                .member("consumer1", &["topic1"])
                .member("consumer2", t12)
                .member("consumer3", &["topic1"])
                .expect(&[
                    "consumer1{topic1[0 2]}",
                    "consumer2{topic2[0 1]}",
                    "consumer3{topic1[1]}",
                ]),
            Case::new("two consumers, two topics, six partitions")
                .topics(&[("topic1", 3), ("topic2", 3)])
                .member("consumer1", t12)
                .member("consumer2", t12)
                .expect(&[
                    "consumer1{topic1[0 2], topic2[1]}",
                    "consumer2{topic1[1], topic2[0 2]}",
                ]),
            Case::new("owning min quota, expected max quota")
                .topics(&[("topic1", 2), ("topic2", 3)])
                .owner("consumer1", t12, "topic1[0], topic2[1]", 1)
                .owner("consumer2", t12, "topic1[1], topic2[2]", 1)
                .expect(&[
                    "consumer1{topic1[0], topic2[0 1]}",
                    "consumer2{topic1[1], topic2[2]}",
                ]),
            // Which max-quota owner keeps its extra partition follows Java's
            // HashMap order (consumer2 before consumer1).
            Case::new("more max-quota owners than max-quota slots")
                .topics(&[("topic1", 2), ("topic2", 2)])
                .owner("consumer1", t12, "topic1[0], topic2[0]", 1)
                .owner("consumer2", t12, "topic1[1], topic2[1]", 1)
                .owner("consumer3", t12, "", 1)
                .expect(&[
                    "consumer1{topic1[0]}",
                    "consumer2{topic1[1], topic2[1]}",
                    "consumer3{topic2[0]}",
                ]),
            Case::new("all consumers under min quota")
                .topics(&[("topic1", 2), ("topic2", 3)])
                .owner("consumer1", t12, "topic1[0]", 1)
                .owner("consumer2", t12, "topic1[1]", 1)
                .owner("consumer3", t12, "", 1)
                .expect(&[
                    "consumer1{topic1[0], topic2[1]}",
                    "consumer2{topic1[1], topic2[2]}",
                    "consumer3{topic2[0]}",
                ]),
        ]
    }

    /// More of AbstractStickyAssignorTest: members owning partitions, from
    /// various generations.
    fn java_owned_cases() -> Vec<Case> {
        let tt2: &[&str] = &["topic", "topic2"];
        let all4: &[&str] = &["topic", "topic2", "topic3", "topic1"];
        vec![
            Case::new("all consumers reach expected quota")
                .topic("topic", 4)
                .owner("consumer1", &["topic"], "topic[0 1]", 1)
                .owner("consumer2", &["topic"], "topic[2]", 1)
                .owner("consumer3", &["topic"], "", 1)
                .expect(&[
                    "consumer1{topic[0 1]}",
                    "consumer2{topic[2]}",
                    "consumer3{topic[3]}",
                ]),
            Case::new("stale generation loses its claims")
                .topics(&[("topic", 3), ("topic2", 3)])
                .owner("consumer1", tt2, "topic[0 2], topic2[1]", 10)
                .owner("consumer2", tt2, "topic[0 2], topic2[1]", 9)
                .expect(&[
                    "consumer1{topic[0 2], topic2[1]}",
                    "consumer2{topic[1], topic2[0 2]}",
                ]),
            Case::new("no generation loses its claims")
                .topics(&[("topic", 3), ("topic2", 3)])
                .owner("consumer1", tt2, "topic[0 2], topic2[1]", 10)
                .owner("consumer2", tt2, "topic[0 2], topic2[1]", -1)
                .expect(&[
                    "consumer1{topic[0 2], topic2[1]}",
                    "consumer2{topic[1], topic2[0 2]}",
                ]),
            Case::new("claimed twice in one generation")
                .topic("topic", 3)
                .owner("consumer1", &["topic"], "topic[0 1]", 1)
                .owner("consumer2", &["topic"], "topic[0 2]", 1)
                .owner("consumer3", &["topic"], "", 1)
                .expect(&[
                    "consumer1{topic[1]}",
                    "consumer2{topic[2]}",
                    "consumer3{topic[0]}",
                ]),
            Case::new("highest generation wins")
                .topics(&[("topic", 3), ("topic2", 3), ("topic3", 3)])
                .owner(
                    "consumer1",
                    &["topic", "topic2", "topic3"],
                    "topic[0], topic2[0], topic3[0]",
                    10,
                )
                .owner(
                    "consumer2",
                    &["topic", "topic2", "topic3"],
                    "topic[1], topic2[1], topic3[1]",
                    9,
                )
                .owner(
                    "consumer3",
                    &["topic", "topic2", "topic3"],
                    "topic2[1], topic3[0 2]",
                    8,
                )
                .expect(&[
                    "consumer1{topic[0], topic2[0], topic3[0]}",
                    "consumer2{topic[1], topic2[1], topic3[1]}",
                    "consumer3{topic[2], topic2[2], topic3[2]}",
                ]),
            Case::new("no reassignment on current members")
                .topics(&[("topic", 3), ("topic1", 3), ("topic2", 3), ("topic3", 3)])
                .owner("consumer1", all4, "", -1)
                .owner("consumer2", all4, "topic[0], topic2[0], topic1[0]", 9)
                .owner("consumer3", all4, "topic3[2], topic2[2], topic1[1]", 8)
                .owner("consumer4", all4, "topic3[1], topic[1 2]", 7)
                .expect(&[
                    "consumer1{topic1[2], topic2[1], topic3[0]}",
                    "consumer2{topic[0], topic2[0], topic1[0]}",
                    "consumer3{topic3[2], topic2[2], topic1[1]}",
                    "consumer4{topic3[1], topic[1 2]}",
                ]),
            Case::new("multiple generations")
                .topics(&[("topic", 3), ("topic2", 3)])
                .owner("consumer1", tt2, "topic[0 1], topic2[1]", 10)
                .owner("consumer2", tt2, "topic[0], topic2[1 2]", 8)
                .expect(&[
                    "consumer1{topic[0 1], topic2[1]}",
                    "consumer2{topic[2], topic2[0 2]}",
                ]),
            Case::new("deleted topic")
                .topics(&[("topic1", 1), ("topic3", 100)])
                .member("consumer", &["topic1", "topic2", "topic3"]),
            Case::new("only subscribed topic deleted")
                .owner("consumer", &["topic"], "topic[0 1 2]", 1)
                .expect(&["consumer{}"]),
        ]
    }

    #[test]
    fn java_sticky_assignor_cases() {
        for b in both() {
            for case in java_cases().into_iter().chain(java_owned_cases()) {
                let got = settle(&b, &case);
                if case.name.starts_with("two consumers, one") || case.name == "deleted topic" {
                    assert!(fully_balanced(&got), "{}", case.name);
                }
            }
        }
    }

    #[test]
    fn add_and_remove_consumers() {
        for b in both() {
            // testAddRemoveConsumerOneTopic
            let r1 = Case::new("one")
                .topic("topic", 3)
                .member("consumer1", &["topic"]);
            let got = settle(&b, &r1);
            let r2 = Case::new("two")
                .topic("topic", 3)
                .owner_map("consumer1", &["topic"], owned(&got, "consumer1"), 1)
                .owner("consumer2", &["topic"], "", 1)
                .expect(&["consumer1{topic[0 1]}", "consumer2{topic[2]}"]);
            let got = settle(&b, &r2);
            let r3 = Case::new("back to one")
                .topic("topic", 3)
                .owner_map("consumer2", &["topic"], owned(&got, "consumer2"), 1)
                .expect(&["consumer2{topic[0 1 2]}"]);
            settle(&b, &r3);

            // testAddRemoveTwoConsumersTwoTopics
            let t12: &[&str] = &["topic1", "topic2"];
            let r1 = Case::new("two of four")
                .topics(&[("topic1", 3), ("topic2", 4)])
                .member("consumer1", t12)
                .member("consumer2", t12)
                .expect(&[
                    "consumer1{topic1[0 2], topic2[1 3]}",
                    "consumer2{topic1[1], topic2[0 2]}",
                ]);
            let got = settle(&b, &r1);
            let r2 = Case::new("four of four")
                .topics(&[("topic1", 3), ("topic2", 4)])
                .owner_map("consumer1", t12, owned(&got, "consumer1"), 1)
                .owner_map("consumer2", t12, owned(&got, "consumer2"), 1)
                .owner("consumer3", t12, "", 1)
                .owner("consumer4", t12, "", 1)
                .expect(&[
                    "consumer1{topic1[0], topic2[1]}",
                    "consumer2{topic1[1], topic2[0]}",
                    "consumer3{topic1[2], topic2[3]}",
                    "consumer4{topic2[2]}",
                ]);
            let got = settle(&b, &r2);
            let r3 = Case::new("last two of four")
                .topics(&[("topic1", 3), ("topic2", 4)])
                .owner_map("consumer3", t12, owned(&got, "consumer3"), 1)
                .owner_map("consumer4", t12, owned(&got, "consumer4"), 1)
                .expect(&[
                    "consumer3{topic1[0 2], topic2[1 3]}",
                    "consumer4{topic1[1], topic2[0 2]}",
                ]);
            settle(&b, &r3);
        }
    }

    fn sticky_data(owned: &[(&str, &[i32])], generation: Option<i32>) -> Vec<u8> {
        let current_assignment = owned
            .iter()
            .map(|(t, ps)| TopicPartitions::new(*t, ps.to_vec()))
            .collect();
        StickyMemberMetadata {
            current_assignment,
            generation,
        }
        .encode()
        .unwrap()
    }

    fn raw_subscription(
        version: i16,
        topics: &[&str],
        user_data: Option<Vec<u8>>,
        owned: &[(&str, &[i32])],
        generation_id: i32,
    ) -> Vec<u8> {
        let s = ConsumerProtocolSubscription {
            topics: topics.iter().map(|t| t.to_string()).collect(),
            user_data,
            owned_partitions: owned
                .iter()
                .map(|(t, ps)| TopicPartitions::new(*t, ps.to_vec()))
                .collect(),
            generation_id,
            rack_id: None,
        };
        s.encode(version).unwrap()
    }

    #[test]
    fn eager_member_data_follows_the_user_data() {
        // (name, metadata, expected owned, expected generation): Java's
        // StickyAssignorTest testMemberData, testMemberDataWillHonorUserData
        // and testMemberDataWithInconsistentData, then the fallbacks.
        let owned: &[(&str, &[i32])] = &[("topic1", &[0]), ("topic2", &[1])];
        type Owned<'a> = &'a [(&'a str, &'a [i32])];
        let cases: Vec<(&str, Vec<u8>, Owned<'_>, i32)> = vec![
            (
                "v0",
                raw_subscription(0, &["topic"], Some(sticky_data(owned, Some(1))), &[], -1),
                owned,
                1,
            ),
            (
                "v1",
                raw_subscription(1, &["topic"], Some(sticky_data(owned, Some(1))), owned, -1),
                owned,
                1,
            ),
            (
                "v2",
                raw_subscription(2, &["topic"], Some(sticky_data(owned, Some(1))), owned, 1),
                owned,
                1,
            ),
            (
                "user data wins",
                raw_subscription(3, &["topic"], Some(sticky_data(owned, Some(0))), &[], 1),
                owned,
                0,
            ),
            (
                "inconsistent",
                raw_subscription(
                    1,
                    &["topic"],
                    Some(sticky_data(&[("topic", &[1])], Some(1))),
                    &[("topic", &[0])],
                    -1,
                ),
                &[("topic", &[1])],
                1,
            ),
            (
                "v0 user data",
                raw_subscription(0, &["topic"], Some(sticky_data(owned, None)), &[], -1),
                owned,
                -1,
            ),
            (
                "garbage user data",
                raw_subscription(3, &["topic"], Some(vec![0, 0, 0, 9]), owned, 4),
                &[],
                -1,
            ),
            (
                "no user data",
                raw_subscription(3, &["topic"], None, owned, 4),
                owned,
                4,
            ),
            (
                "nothing",
                raw_subscription(3, &["topic"], None, &[], 4),
                &[],
                -1,
            ),
        ];
        for (name, bytes, want, want_gen) in cases {
            let meta = ConsumerProtocolSubscription::decode(&bytes).unwrap();
            let m = GroupMember::new("m", None, bytes);
            let got = eager_member(&m, &meta);
            let want: Vec<TopicPartitions> = want
                .iter()
                .map(|(t, ps)| TopicPartitions::new(*t, ps.to_vec()))
                .collect();
            assert_eq!(
                (got.owned.to_vec(), got.generation),
                (want, want_gen),
                "{name}"
            );
        }
    }

    #[test]
    fn java_sticky_only_cases() {
        let b = sticky_balancer();
        // testAssignorWithOldVersionSubscriptions
        let t1: &[&str] = &["topic1"];
        Case::new("old versions")
            .topic("topic1", 3)
            .raw(
                "consumer1",
                t1,
                raw_subscription(
                    0,
                    t1,
                    Some(sticky_data(&[("topic1", &[0])], Some(1))),
                    &[],
                    -1,
                ),
            )
            .raw(
                "consumer2",
                t1,
                raw_subscription(
                    1,
                    t1,
                    Some(sticky_data(&[("topic1", &[1])], Some(1))),
                    &[("topic1", &[1])],
                    -1,
                ),
            )
            .raw(
                "consumer3",
                t1,
                raw_subscription(3, t1, Some(sticky_data(&[], Some(1))), &[], 1),
            )
            .expect(&[
                "consumer1{topic1[0]}",
                "consumer2{topic1[1]}",
                "consumer3{topic1[2]}",
            ])
            .check(&b);
        // testSchemaBackwardCompatibility: consumer2 sends V0 user data.
        let got = Case::new("v0 user data")
            .topic("topic", 3)
            .owner("consumer1", &["topic"], "topic[0 2]", 1)
            .raw(
                "consumer2",
                &["topic"],
                raw_subscription(
                    0,
                    &["topic"],
                    Some(sticky_data(&[("topic", &[1])], None)),
                    &[],
                    -1,
                ),
            )
            .member("consumer3", &["topic"])
            .expect(&[
                "consumer1{topic[0]}",
                "consumer2{topic[1]}",
                "consumer3{topic[2]}",
            ])
            .check(&b);
        assert!(fully_balanced(&got));
        // testAllConsumersHaveOwnedPartitionInvalidatedWhenClaimedByMultipleConsumersInSameGenerationWithUnequalPartitionsPerConsumer
        Case::new("claimed twice, unequal")
            .topic("topic", 4)
            .owner("consumer1", &["topic"], "topic[0 1]", 1)
            .owner("consumer2", &["topic"], "topic[0 2]", 1)
            .owner("consumer3", &["topic"], "", 1)
            .expect(&[
                "consumer1{topic[1 3]}",
                "consumer2{topic[2]}",
                "consumer3{topic[0]}",
            ])
            .check(&b);
    }

    fn size(got: &Assignment, m: &str) -> usize {
        got.get(m).map_or(0, |ts| ts.values().map(Vec::len).sum())
    }

    fn contains_all(big: &BTreeMap<String, Vec<i32>>, small: &BTreeMap<String, Vec<i32>>) -> bool {
        small
            .iter()
            .all(|(t, ps)| ps.iter().all(|p| big.get(t).is_some_and(|b| b.contains(p))))
    }

    #[test]
    fn multiple_generations() {
        // StickyAssignorTest testAssignmentWithMultipleGenerations1, for
        // equal and unequal subscriptions.
        let b = sticky_balancer();
        for equal in [true, false] {
            let all: &[&str] = &["topic", "topic2"];
            let c2: &[&str] = if equal { all } else { &["topic"] };
            let r1 = Case::new("r1")
                .topics(&[("topic", 6), ("topic2", 6)])
                .member("consumer1", all)
                .member("consumer2", c2)
                .member("consumer3", all);
            let g1 = settle(&b, &r1);
            assert!(
                ["consumer1", "consumer2", "consumer3"]
                    .iter()
                    .all(|m| size(&g1, m) == 4)
                    && fully_balanced(&g1)
            );
            let r2 = Case::new("r2")
                .topics(&[("topic", 6), ("topic2", 6)])
                .owner_map("consumer1", all, owned(&g1, "consumer1"), 1)
                .owner_map("consumer2", c2, owned(&g1, "consumer2"), 1);
            let g2 = settle(&b, &r2);
            assert!(size(&g2, "consumer1") == 6 && size(&g2, "consumer2") == 6);
            if equal {
                assert!(contains_all(&g2["consumer1"], &g1["consumer1"]));
            }
            assert!(contains_all(&g2["consumer2"], &g1["consumer2"]));
            // consumer3 comes back with its generation-1 view; consumer2 has
            // generation 2 and wins every conflict.
            let r3 = Case::new("r3")
                .topics(&[("topic", 6), ("topic2", 6)])
                .owner_map("consumer2", c2, owned(&g2, "consumer2"), 2)
                .owner_map("consumer3", all, owned(&g1, "consumer3"), 1);
            let g3 = settle(&b, &r3);
            assert!(
                size(&g3, "consumer2") == 6 && size(&g3, "consumer3") == 6,
                "{equal}: {g3:?}"
            );
        }
    }

    #[test]
    fn conflicting_previous_generations() {
        // StickyAssignorTest testAssignmentWithConflictingPreviousGenerations
        // and testAssignmentWithMultipleGenerations2.
        let b = sticky_balancer();
        let all: &[&str] = &["topic", "topic2", "topic3"];
        for equal in [true, false] {
            let c1: &[&str] = if equal { all } else { &["topic"] };
            let c2: &[&str] = if equal { all } else { &["topic", "topic2"] };
            let c1_owned = if equal {
                "topic[0 1 2], topic2[2 3], topic3[0]"
            } else {
                "topic[0 1 2 3]"
            };
            let case = Case::new("conflicts")
                .topics(&[("topic", 4), ("topic2", 4), ("topic3", 4)])
                .owner("consumer1", c1, c1_owned, 1)
                .owner("consumer2", c2, "topic[0 1], topic2[0 1 2 3]", 2)
                .owner("consumer3", all, "topic[2 3], topic3[0 1 2 3]", 2);
            let got = settle(&b, &case);
            assert!(
                ["consumer1", "consumer2", "consumer3"]
                    .iter()
                    .all(|m| size(&got, m) == 4),
                "{got:?}"
            );
            for m in ["consumer2", "consumer3"] {
                let spec = case.members.iter().find(|s| s.id == m).unwrap();
                assert!(
                    contains_all(&spec.owned, &got[m]),
                    "{m} keeps only what it had"
                );
            }

            let c3: &[&str] = if equal { all } else { &["topic", "topic2"] };
            let r1 = Case::new("r1")
                .topics(&[("topic", 4), ("topic2", 4), ("topic3", 4)])
                .member("consumer1", c1)
                .member("consumer2", all)
                .member("consumer3", c3);
            let g1 = settle(&b, &r1);
            let r2 = Case::new("r2")
                .topics(&[("topic", 4), ("topic2", 4), ("topic3", 4)])
                .owner_map("consumer2", all, owned(&g1, "consumer2"), 1);
            let g2 = settle(&b, &r2);
            assert!(
                size(&g2, "consumer2") == 12 && contains_all(&g2["consumer2"], &g1["consumer2"])
            );
            let r3 = Case::new("r3")
                .topics(&[("topic", 4), ("topic2", 4), ("topic3", 4)])
                .owner_map("consumer1", c1, owned(&g1, "consumer1"), 1)
                .owner_map("consumer2", all, owned(&g2, "consumer2"), 2)
                .owner_map("consumer3", c3, owned(&g1, "consumer3"), 1);
            let g3 = settle(&b, &r3);
            assert!(
                ["consumer1", "consumer2", "consumer3"]
                    .iter()
                    .all(|m| size(&g3, m) == 4)
                    && fully_balanced(&g3)
            );
        }
    }
}
