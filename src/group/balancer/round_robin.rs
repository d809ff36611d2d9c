//! The round-robin balancer: all partitions dealt to members in turn.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use super::{
    consumer_member_balancer, parse_consumer_sync_assignment, topics_only_metadata, BalancePlan,
    ConsumerBalancer, ConsumerBalancerBalance, GroupBalancer, GroupMember, GroupMemberBalancer,
};
use crate::error::Result;

/// Returns a balancer that deals every partition of every wanted topic
/// (sorted by topic, then partition) to members in turn, skipping members
/// that do not want the partition's topic.
///
/// With members M0 and M1 and topics t0 and t1 of three partitions each:
///
/// ```text
/// M0: [t0p0, t0p2, t1p1]
/// M1: [t0p1, t1p0, t1p2]
/// ```
///
/// If all members want the same topics the balance is perfect; with very
/// different subscriptions it can be poor (KIP-49 has an example). Members
/// are ordered as Java orders them (static members by instance id first).
///
/// Corresponds to kgo's `RoundRobinBalancer` and Java's `RoundRobinAssignor`
/// (protocol `roundrobin`).
pub fn round_robin_balancer() -> Arc<dyn GroupBalancer> {
    Arc::new(RoundRobinBalancer)
}

#[derive(Debug, Clone, Copy)]
struct RoundRobinBalancer;

impl GroupBalancer for RoundRobinBalancer {
    fn protocol_name(&self) -> &str {
        "roundrobin"
    }

    fn is_cooperative(&self) -> bool {
        false
    }

    fn join_group_metadata(
        &self,
        interests: &[String],
        _: &BTreeMap<String, Vec<i32>>,
        _: i32,
    ) -> Result<Vec<u8>> {
        topics_only_metadata(interests)
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

impl ConsumerBalancerBalance for RoundRobinBalancer {
    fn balance(&self, b: &ConsumerBalancer, topics: &BTreeMap<String, i32>) -> BalancePlan {
        let mut plan = b.new_plan();
        let members: Vec<&str> = b.members().iter().map(|m| m.member_id.as_str()).collect();
        // Positions (in member order) of each topic's subscribers, so finding
        // the next subscriber from the cursor is a binary search rather than
        // a walk over members that do not want the topic.
        let mut subscribers: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        for (i, (_, meta)) in b.each_member().enumerate() {
            for topic in &meta.topics {
                subscribers.entry(topic.as_str()).or_default().push(i);
            }
        }
        // Java's CircularIterator: each partition goes to the first
        // subscriber at or after the cursor, and the cursor moves past it.
        let mut cursor = 0;
        for (topic, positions) in &subscribers {
            let count = topics.get(*topic).copied().unwrap_or(0).max(0);
            for partition in 0..count {
                let at = positions.partition_point(|&p| p < cursor);
                let Some(&pos) = positions.get(at).or_else(|| positions.first()) else {
                    break;
                };
                let Some(member) = members.get(pos) else {
                    break;
                };
                plan.add_by_id(member, topic, &[partition]);
                cursor = (pos + 1) % members.len();
            }
        }
        plan
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{plan_of, Case};

    #[test]
    fn java_round_robin_assignor_cases() {
        // Expected values from Java's RoundRobinAssignorTest.
        let cases = [
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
                .topics(&[("topic", 3), ("other", 3)])
                .member("consumer", &["topic"])
                .expect(&["consumer{topic[0 1 2]}"]),
            Case::new("one consumer, multiple topics")
                .topics(&[("topic1", 1), ("topic2", 2)])
                .member("consumer", &["topic1", "topic2"])
                .expect(&["consumer{topic1[0], topic2[0 1]}"]),
            Case::new("two consumers, one partition")
                .topic("topic", 1)
                .member("consumer1", &["topic"])
                .member("consumer2", &["topic"])
                .expect(&["consumer1{topic[0]}", "consumer2{}"]),
            Case::new("two consumers, two partitions")
                .topic("topic", 2)
                .member("consumer1", &["topic"])
                .member("consumer2", &["topic"])
                .expect(&["consumer1{topic[0]}", "consumer2{topic[1]}"]),
            Case::new("mixed topics")
                .topics(&[("topic1", 3), ("topic2", 2)])
                .member("consumer1", &["topic1"])
                .member("consumer2", &["topic1", "topic2"])
                .member("consumer3", &["topic1"])
                .expect(&[
                    "consumer1{topic1[0]}",
                    "consumer2{topic1[1], topic2[0 1]}",
                    "consumer3{topic1[2]}",
                ]),
            Case::new("two dynamic consumers, six partitions")
                .topics(&[("topic1", 3), ("topic2", 3)])
                .member("consumer1", &["topic1", "topic2"])
                .member("consumer2", &["topic1", "topic2"])
                .expect(&[
                    "consumer1{topic1[0 2], topic2[1]}",
                    "consumer2{topic1[1], topic2[0 2]}",
                ]),
            Case::new("two static consumers")
                .topics(&[("topic1", 3), ("topic2", 3)])
                .static_member("consumer-b", "instance1", &["topic1", "topic2"])
                .static_member("consumer-a", "instance2", &["topic1", "topic2"])
                .expect(&[
                    "consumer-b{topic1[0 2], topic2[1]}",
                    "consumer-a{topic1[1], topic2[0 2]}",
                ]),
            Case::new("static before dynamic")
                .topics(&[("topic1", 3), ("topic2", 3)])
                .static_member("consumer-b", "instance1", &["topic1", "topic2"])
                .member("consumer-a", &["topic1", "topic2"])
                .expect(&[
                    "consumer-b{topic1[0 2], topic2[1]}",
                    "consumer-a{topic1[1], topic2[0 2]}",
                ]),
            Case::new("static member assignment persistent")
                .topics(&[("topic1", 3), ("topic2", 3)])
                .static_member("consumer1", "instance1", &["topic1", "topic2"])
                .static_member("consumer2", "instance2", &["topic1", "topic2"])
                .static_member("consumer3", "instance3", &["topic1", "topic2"])
                .member("consumer5", &["topic1", "topic2"])
                .expect(&[
                    "consumer1{topic1[0], topic2[1]}",
                    "consumer2{topic1[1], topic2[2]}",
                    "consumer3{topic1[2]}",
                    "consumer5{topic2[0]}",
                ]),
            Case::new("static member ids changed")
                .topics(&[("topic1", 5), ("topic2", 5)])
                .static_member("consumer1", "instance1", &["topic1", "topic2"])
                .static_member("consumer5", "instance2", &["topic1", "topic2"])
                .static_member("consumer4", "instance3", &["topic1", "topic2"])
                .expect(&[
                    "consumer1{topic1[0 3], topic2[1 4]}",
                    "consumer5{topic1[1 4], topic2[2]}",
                    "consumer4{topic1[2], topic2[0 3]}",
                ]),
        ];
        for case in cases {
            case.check(&super::round_robin_balancer());
        }
    }

    #[test]
    fn sparse_subscriptions_follow_the_circular_cursor() {
        // a: m0 m1 m2 m3 all; b: only m1 and m3. Java's iterator continues
        // from where the previous partition left it.
        let plan = plan_of(
            &super::round_robin_balancer(),
            &[("a", 3), ("b", 3)],
            &[
                ("m0", &["a"]),
                ("m1", &["a", "b"]),
                ("m2", &["a"]),
                ("m3", &["a", "b"]),
            ],
        );
        assert_eq!(
            plan.to_string(),
            "m0{a[0]}, m1{a[1], b[1]}, m2{a[2]}, m3{b[0 2]}"
        );
    }
}
