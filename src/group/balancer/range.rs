//! The range balancer: per topic, consecutive partition ranges to members.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use super::{
    consumer_member_balancer, parse_consumer_sync_assignment, topics_only_metadata, BalancePlan,
    ConsumerBalancer, ConsumerBalancerBalance, GroupBalancer, GroupMember, GroupMemberBalancer,
};
use crate::error::Result;

/// Returns a balancer that, per topic, gives each member a consecutive range
/// of partitions; the first members get one extra when the partitions do not
/// divide evenly.
///
/// With members M0 and M1 and topics t0 and t1 of three partitions each:
///
/// ```text
/// M0: [t0p0, t0p1, t1p0, t1p1]
/// M1: [t0p2, t1p2]
/// ```
///
/// Since every topic is split on its own, members early in the order can end
/// up with noticeably more partitions than late ones. Members are ordered as
/// Java orders them (static members by instance id first), so static members
/// keep their ranges across restarts.
///
/// Corresponds to kgo's `RangeBalancer` and Java's `RangeAssignor`
/// (protocol `range`).
pub fn range_balancer() -> Arc<dyn GroupBalancer> {
    Arc::new(RangeBalancer)
}

#[derive(Debug, Clone, Copy)]
struct RangeBalancer;

impl GroupBalancer for RangeBalancer {
    fn protocol_name(&self) -> &str {
        "range"
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

impl ConsumerBalancerBalance for RangeBalancer {
    fn balance(&self, b: &ConsumerBalancer, topics: &BTreeMap<String, i32>) -> BalancePlan {
        let mut plan = b.new_plan();
        // Members per topic, in the balancer's (Java's) member order.
        let mut subscribers: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for (member, meta) in b.each_member() {
            for topic in &meta.topics {
                subscribers
                    .entry(topic.as_str())
                    .or_default()
                    .push(member.member_id.as_str());
            }
        }
        let mut partitions = Vec::new();
        for (topic, members) in subscribers {
            let count = topics.get(topic).copied().unwrap_or(0).max(0);
            let n = i32::try_from(members.len()).unwrap_or(i32::MAX);
            if count == 0 || n == 0 {
                continue;
            }
            let (per, extra) = (count / n, count % n);
            let mut next = 0;
            for (i, member) in (0..n).zip(members) {
                let take = per + i32::from(i < extra);
                if take == 0 {
                    break;
                }
                partitions.clear();
                partitions.extend(next..next + take);
                plan.add_by_id(member, topic, &partitions);
                next += take;
            }
        }
        plan
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{plan_of, Case};

    #[test]
    fn java_range_assignor_cases() {
        // Expected values from Java's RangeAssignorTest (no racks).
        let cases = [
            Case::new("one consumer, no topic")
                .member("consumer1", &[])
                .expect(&["consumer1{}"]),
            Case::new("one consumer, nonexistent topic")
                .member("consumer1", &["topic1"])
                .expect(&["consumer1{}"]),
            Case::new("one consumer, one topic")
                .topic("topic1", 3)
                .member("consumer1", &["topic1"])
                .expect(&["consumer1{topic1[0 1 2]}"]),
            Case::new("only subscribed topics")
                .topics(&[("topic1", 3), ("other", 3)])
                .member("consumer1", &["topic1"])
                .expect(&["consumer1{topic1[0 1 2]}"]),
            Case::new("one consumer, multiple topics")
                .topics(&[("topic1", 1), ("topic2", 2)])
                .member("consumer1", &["topic1", "topic2"])
                .expect(&["consumer1{topic1[0], topic2[0 1]}"]),
            Case::new("two consumers, one partition")
                .topic("topic1", 1)
                .member("consumer1", &["topic1"])
                .member("consumer2", &["topic1"])
                .expect(&["consumer1{topic1[0]}", "consumer2{}"]),
            Case::new("two consumers, two partitions")
                .topic("topic1", 2)
                .member("consumer1", &["topic1"])
                .member("consumer2", &["topic1"])
                .expect(&["consumer1{topic1[0]}", "consumer2{topic1[1]}"]),
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
            Case::new("two consumers, two topics, six partitions")
                .topics(&[("topic1", 3), ("topic2", 3)])
                .member("consumer1", &["topic1", "topic2"])
                .member("consumer2", &["topic1", "topic2"])
                .expect(&[
                    "consumer1{topic1[0 1], topic2[0 1]}",
                    "consumer2{topic1[2], topic2[2]}",
                ]),
            // Instance ids order static members, whatever their member ids.
            Case::new("two static consumers")
                .topics(&[("topic1", 3), ("topic2", 3)])
                .static_member("consumer-b", "instance1", &["topic1", "topic2"])
                .static_member("consumer-a", "instance2", &["topic1", "topic2"])
                .expect(&[
                    "consumer-b{topic1[0 1], topic2[0 1]}",
                    "consumer-a{topic1[2], topic2[2]}",
                ]),
            Case::new("static before dynamic")
                .topics(&[("topic1", 3), ("topic2", 3)])
                .static_member("consumer-b", "instance1", &["topic1", "topic2"])
                .member("consumer-a", &["topic1", "topic2"])
                .expect(&[
                    "consumer-b{topic1[0 1], topic2[0 1]}",
                    "consumer-a{topic1[2], topic2[2]}",
                ]),
            Case::new("static member assignment persistent")
                .topics(&[("topic1", 5), ("topic2", 4)])
                .static_member("consumer1", "instance1", &["topic1", "topic2"])
                .static_member("consumer2", "instance2", &["topic1", "topic2"])
                .static_member("consumer3", "instance3", &["topic1", "topic2"])
                .member("consumer5", &["topic1", "topic2"])
                .expect(&[
                    "consumer1{topic1[0 1], topic2[0]}",
                    "consumer2{topic1[2], topic2[1]}",
                    "consumer3{topic1[3], topic2[2]}",
                    "consumer5{topic1[4], topic2[3]}",
                ]),
            Case::new("static member ids changed")
                .topics(&[("topic1", 5), ("topic2", 5)])
                .static_member("consumer1", "instance1", &["topic1", "topic2"])
                .static_member("consumer5", "instance2", &["topic1", "topic2"])
                .static_member("consumer4", "instance3", &["topic1", "topic2"])
                .expect(&[
                    "consumer1{topic1[0 1], topic2[0 1]}",
                    "consumer5{topic1[2 3], topic2[2 3]}",
                    "consumer4{topic1[4], topic2[4]}",
                ]),
        ];
        for case in cases {
            case.check(&super::range_balancer());
        }
    }

    #[test]
    fn ranges_are_computed_per_topic_without_panicking_on_odd_counts() {
        let plan = plan_of(
            &super::range_balancer(),
            &[("a", 7), ("b", -3), ("c", 0)],
            &[("m0", &["a", "b", "c"]), ("m1", &["a"]), ("m2", &["a"])],
        );
        assert_eq!(plan.to_string(), "m0{a[0 1 2]}, m1{a[3 4]}, m2{a[5 6]}");
    }
}
