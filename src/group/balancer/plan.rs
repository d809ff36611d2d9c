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
