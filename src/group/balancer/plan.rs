//! [`BalancePlan`]: the member to topic to partitions result of balancing,
//! and its cooperative adjustment (KIP-429).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;

use super::{ConsumerBalancer, GroupMember, IntoSyncAssignment};
use crate::error::Result;
use crate::messages::consumer_protocol::{ConsumerProtocolAssignment, TopicPartitions};

/// The version of the assignments the plan writes. All versions share one
/// layout, and version 0 is what every consumer can read (kgo writes it too).
const ASSIGNMENT_VERSION: i16 = 0;

/// Holds the result of balancing: for each member, the partitions of each
/// topic it is assigned.
///
/// Build one with [`ConsumerBalancer::new_plan`] so that every member has
/// an entry; members whose entry stays empty are sent an empty assignment.
///
/// Corresponds to kgo's `BalancePlan`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BalancePlan {
    plan: BTreeMap<String, BTreeMap<String, Vec<i32>>>,
}

impl BalancePlan {
    /// Creates a plan with an empty entry per member id.
    pub(crate) fn with_members<'a>(member_ids: impl IntoIterator<Item = &'a str>) -> Self {
        BalancePlan {
            plan: member_ids
                .into_iter()
                .map(|id| (id.to_owned(), BTreeMap::new()))
                .collect(),
        }
    }

    /// Assigns one partition of `topic` to `member`.
    ///
    /// Corresponds to kgo's `BalancePlan.AddPartition`.
    pub fn add_partition(&mut self, member: &GroupMember, topic: &str, partition: i32) {
        self.add_by_id(&member.member_id, topic, &[partition]);
    }

    /// Assigns partitions of `topic` to `member`.
    ///
    /// Corresponds to kgo's `BalancePlan.AddPartitions`.
    pub fn add_partitions(&mut self, member: &GroupMember, topic: &str, partitions: &[i32]) {
        self.add_by_id(&member.member_id, topic, partitions);
    }

    pub(crate) fn add_by_id(&mut self, member_id: &str, topic: &str, partitions: &[i32]) {
        // Look up before inserting so that the common case allocates nothing.
        if !self.plan.contains_key(member_id) {
            self.plan.insert(member_id.to_owned(), BTreeMap::new());
        }
        let Some(topics) = self.plan.get_mut(member_id) else {
            return;
        };
        match topics.get_mut(topic) {
            Some(existing) => existing.extend_from_slice(partitions),
            None => {
                topics.insert(topic.to_owned(), partitions.to_vec());
            }
        }
    }

    /// Removes partitions from members' assignments, dropping topics left
    /// empty. `removals` maps (member, topic) to partitions.
    pub(crate) fn remove_all(&mut self, removals: HashMap<(String, String), HashSet<i32>>) {
        for ((member, topic), gone) in removals {
            let Some(topics) = self.plan.get_mut(&member) else {
                continue;
            };
            let Some(partitions) = topics.get_mut(&topic) else {
                continue;
            };
            partitions.retain(|p| !gone.contains(p));
            if partitions.is_empty() {
                topics.remove(&topic);
            }
        }
    }

    /// Returns the plan as member id to topic to partitions.
    ///
    /// Corresponds to kgo's `BalancePlan.AsMemberIDMap`.
    pub fn as_map(&self) -> &BTreeMap<String, BTreeMap<String, Vec<i32>>> {
        &self.plan
    }

    /// Removes from each member's plan every partition it did not own before
    /// (per its subscription's `owned_partitions`) that another member owned
    /// and is losing: the owner must revoke it and rejoin first, and the next
    /// rebalance hands it out (KIP-429).
    ///
    /// Corresponds to kgo's `BalancePlan.AdjustCooperative` and Java's
    /// `CooperativeStickyAssignor.computePartitionsTransferringOwnership`.
    pub fn adjust_cooperative(&mut self, b: &ConsumerBalancer) {
        let mut planned: HashMap<(&str, i32), &str> = HashMap::new();
        for (member, topics) in &self.plan {
            for (topic, partitions) in topics {
                for &p in partitions {
                    planned.insert((topic.as_str(), p), member.as_str());
                }
            }
        }
        let mut owned: HashSet<(&str, &str, i32)> = HashSet::new();
        let mut revoked: Vec<(&str, i32)> = Vec::new();
        for (member, meta) in b.each_member() {
            let id = member.member_id.as_str();
            for tp in &meta.owned_partitions {
                for &p in &tp.partitions {
                    owned.insert((id, tp.topic.as_str(), p));
                    if planned.get(&(tp.topic.as_str(), p)) != Some(&id) {
                        revoked.push((tp.topic.as_str(), p));
                    }
                }
            }
        }
        let mut removals: HashMap<(String, String), HashSet<i32>> = HashMap::new();
        for (topic, p) in revoked {
            let Some(&to) = planned.get(&(topic, p)) else {
                continue;
            };
            if !owned.contains(&(to, topic, p)) {
                removals
                    .entry((to.to_owned(), topic.to_owned()))
                    .or_default()
                    .insert(p);
            }
        }
        self.remove_all(removals);
    }

    /// Encodes each member's assignment (topics and partitions sorted,
    /// duplicates dropped) and returns `(member id, assignment)` pairs
    /// ordered by member id.
    ///
    /// Corresponds to kgo's `BalancePlan.IntoSyncAssignment`.
    ///
    /// # Errors
    ///
    /// [`Error::Config`](crate::error::Error::Config) if a topic name is
    /// longer than the protocol allows.
    pub fn into_sync_assignment(self) -> Result<Vec<(String, Vec<u8>)>> {
        self.encode_all()
    }

    fn encode_all(self) -> Result<Vec<(String, Vec<u8>)>> {
        let mut out = Vec::with_capacity(self.plan.len());
        for (member, topics) in self.plan {
            let mut assignment = ConsumerProtocolAssignment::default();
            for (topic, mut partitions) in topics {
                partitions.sort_unstable();
                partitions.dedup();
                if !partitions.is_empty() {
                    assignment
                        .assigned_partitions
                        .push(TopicPartitions { topic, partitions });
                }
            }
            out.push((member, assignment.encode(ASSIGNMENT_VERSION)?));
        }
        Ok(out)
    }
}

impl IntoSyncAssignment for BalancePlan {
    fn into_sync_assignment(self: Box<Self>) -> Result<Vec<(String, Vec<u8>)>> {
        (*self).encode_all()
    }

    fn as_balance_plan(&self) -> Option<&BalancePlan> {
        Some(self)
    }
}

/// Formats as kgo does: `m0{t0[0 1], t1[2]}, m1{}`, members and topics
/// sorted.
impl fmt::Display for BalancePlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (member, topics)) in self.plan.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{member}{{")?;
            for (j, (topic, partitions)) in topics.iter().enumerate() {
                if j > 0 {
                    f.write_str(", ")?;
                }
                write!(f, "{topic}[")?;
                for (k, p) in partitions.iter().enumerate() {
                    if k > 0 {
                        f.write_str(" ")?;
                    }
                    write!(f, "{p}")?;
                }
                f.write_str("]")?;
            }
            f.write_str("}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::super::{parse_consumer_sync_assignment, ConsumerBalancerBalance};
    use super::*;
    use crate::messages::consumer_protocol::ConsumerProtocolSubscription;

    struct Empty;

    impl ConsumerBalancerBalance for Empty {
        fn balance(&self, b: &ConsumerBalancer, _: &BTreeMap<String, i32>) -> BalancePlan {
            b.new_plan()
        }
    }

    fn member(id: &str, owned: &[(&str, &[i32])]) -> GroupMember {
        let s = ConsumerProtocolSubscription {
            topics: vec!["t".into(), "u".into()],
            owned_partitions: owned
                .iter()
                .map(|(t, ps)| TopicPartitions::new(*t, ps.to_vec()))
                .collect(),
            ..Default::default()
        };
        GroupMember::new(id, None, s.encode(1).unwrap())
    }

    #[test]
    fn display_and_sync_assignment() {
        let m = |id: &str| GroupMember::new(id, None, Vec::new());
        let mut plan = BalancePlan::with_members(["m1", "m0"]);
        plan.add_partitions(&m("m0"), "t1", &[2]);
        plan.add_partitions(&m("m0"), "t0", &[1, 0, 1]);
        plan.add_partitions(&m("m1"), "t2", &[]);
        plan.add_partition(&m("m2"), "t0", 5);
        assert_eq!(
            plan.to_string(),
            "m0{t0[1 0 1], t1[2]}, m1{t2[]}, m2{t0[5]}"
        );
        assert_eq!(plan.as_map().len(), 3);

        let boxed: Box<dyn IntoSyncAssignment> = Box::new(plan.clone());
        assert!(boxed.as_balance_plan().is_some());
        let out = boxed.into_sync_assignment().unwrap();
        let ids: Vec<&str> = out.iter().map(|(id, _)| id.as_str()).collect();
        assert_eq!(ids, ["m0", "m1", "m2"]);
        let decoded: Vec<BTreeMap<String, Vec<i32>>> = out
            .iter()
            .map(|(_, bytes)| parse_consumer_sync_assignment(bytes).unwrap())
            .collect();
        let want0: BTreeMap<String, Vec<i32>> =
            [("t0".into(), vec![0, 1]), ("t1".into(), vec![2])].into();
        assert_eq!(decoded[0], want0);
        assert!(decoded[1].is_empty(), "empty topics are not sent");
        // An empty member still gets an assignment: version, no topics, null user data.
        assert_eq!(out[1].1, [0, 0, 0, 0, 0, 0, 255, 255, 255, 255]);
        assert_eq!(plan.into_sync_assignment().unwrap(), out);
    }

    #[test]
    fn adjust_cooperative_withholds_partitions_that_change_hands() {
        let members = [
            member("a", &[("t", &[0, 1]), ("u", &[0])]),
            member("b", &[("t", &[2, 4])]),
            member("c", &[("t", &[4])]),
            member("d", &[]),
        ];
        let b = ConsumerBalancer::new(Box::new(Empty), &members).unwrap();
        let mut plan = b.new_plan();
        let add = |plan: &mut BalancePlan, id: &str, topic: &str, ps: &[i32]| {
            plan.add_by_id(id, topic, ps)
        };
        add(&mut plan, "a", "t", &[0]); // kept
        add(&mut plan, "b", "t", &[1, 2, 4]); // 1 moves from a; 4 is claimed by b and c
        add(&mut plan, "c", "u", &[0]); // the whole topic moves from a
        add(&mut plan, "d", "t", &[3]); // nobody owned it
        plan.adjust_cooperative(&b);
        assert_eq!(plan.to_string(), "a{t[0]}, b{t[2 4]}, c{}, d{t[3]}");
    }
}
