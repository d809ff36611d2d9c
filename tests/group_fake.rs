//! Consumer groups on the fake cluster: members that come and go while a
//! million records are consumed (cooperative-sticky and range), static
//! membership, coordinator faults, fencing, and close while polling.
//!
//! `KS_GROUP_RECORDS` sets the record count of the churn tests (default
//! 1,000,000, the acceptance count).
#![cfg(feature = "fake")]

mod support;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kafka_sync::fake::{Action, Cluster};
use kafka_sync::messages::ApiKey;
use kafka_sync::{
    cooperative_sticky_balancer, range_balancer, Client, ConfigBuilder, Error, ErrorCode,
    GroupBalancer, Offset,
};

const TOPIC: &str = "t";

fn records() -> u64 {
    std::env::var("KS_GROUP_RECORDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000)
}

fn cluster(parts: i32) -> Cluster {
    Cluster::builder()
        .brokers(3)
        .topic(TOPIC, parts)
        .group_min_session_timeout(Duration::from_millis(500))
        .build()
        .unwrap()
}

/// A group member's builder with short timings.
fn member(cluster: &Cluster, group: &str, b: Arc<dyn GroupBalancer>) -> ConfigBuilder<Client> {
    support::fake_builder(cluster)
        .consumer_group(group)
        .consume_topics([TOPIC])
        .consume_reset_offset(Offset::new().at_start())
        .balancers([b])
        .session_timeout(Duration::from_secs(3))
        .heartbeat_interval(Duration::from_millis(200))
        .rebalance_timeout(Duration::from_secs(5))
        .auto_commit_interval(Duration::from_millis(300))
        .fetch_max_wait(Duration::from_millis(100))
}

/// Ownership intervals: (member, start, end) per partition.
type Owners = Arc<Mutex<HashMap<i32, Vec<(usize, Instant, Option<Instant>)>>>>;

fn record_owner(owners: &Owners, who: usize, m: &BTreeMap<String, Vec<i32>>, assign: bool) {
    let mut o = owners.lock().unwrap();
    for p in m.values().flatten() {
        let v = o.entry(*p).or_default();
        if assign {
            v.push((who, Instant::now(), None));
        } else if let Some(last) = v
            .iter_mut()
            .rev()
            .find(|(w, _, end)| *w == who && end.is_none())
        {
            last.2 = Some(Instant::now());
        }
    }
}

/// Runs one member incarnation: polls for `life`, marking what it reads.
fn run_member(c: &Client, life: Duration, seen: &Mutex<Vec<Vec<bool>>>, fresh: &AtomicUsize) {
    let end = Instant::now() + life;
    while Instant::now() < end {
        let fs = c.poll_fetches_timeout(Duration::from_millis(50));
        fs.each_error(|t, p, e| panic!("poll error {t}/{p}: {e}"));
        let mut s = seen.lock().unwrap();
        for r in fs.record_iter() {
            if let Some(slot) = s
                .get_mut(r.partition as usize)
                .and_then(|v| v.get_mut(r.offset as usize))
            {
                if !*slot {
                    *slot = true;
                    fresh.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }
}

fn churn(balancer: fn() -> Arc<dyn GroupBalancer>, cooperative: bool) {
    let cluster = cluster(12);
    let n = records();
    let p = support::fake_builder(&cluster).build().unwrap();
    support::consume::produce(&p, TOPIC, 0..n);
    let ends: Vec<i64> = (0..12)
        .map(|i| cluster.end_offset(TOPIC, i).unwrap())
        .collect();
    assert_eq!(ends.iter().sum::<i64>(), n as i64);
    let seen = Arc::new(Mutex::new(
        ends.iter()
            .map(|e| vec![false; *e as usize])
            .collect::<Vec<_>>(),
    ));
    let fresh = Arc::new(AtomicUsize::new(0));
    let owners: Owners = Default::default();
    let changes = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let group = support::random_topic("churn");
    std::thread::scope(|scope| {
        for who in 0..3usize {
            let (cluster, seen, fresh, owners, changes, stop, group) =
                (&cluster, &seen, &fresh, &owners, &changes, &stop, &group);
            scope.spawn(move || {
                let mut round = 0u64;
                while !stop.load(Ordering::Acquire) {
                    let (oa, or) = (owners.clone(), owners.clone());
                    let c = member(cluster, group, balancer())
                        .on_partitions_assigned(move |_, m| record_owner(&oa, who, m, true))
                        .on_partitions_revoked(move |c, m| {
                            record_owner(&or, who, m, false);
                            // Replacing the default revoke: commit what was polled.
                            let _ = c.commit_uncommitted_offsets();
                        })
                        .on_partitions_lost_as_revoked()
                        .build()
                        .unwrap();
                    changes.fetch_add(1, Ordering::AcqRel);
                    // Every member comes and goes, each on its own rhythm.
                    let life = Duration::from_millis(2000 + 250 * (who as u64 + round % 3));
                    run_member(&c, life, seen, fresh);
                    c.close();
                    changes.fetch_add(1, Ordering::AcqRel);
                    round += 1;
                }
            });
        }
        support::wait_until(Duration::from_secs(120), || {
            fresh.load(Ordering::Relaxed) >= n as usize && changes.load(Ordering::Acquire) >= 8
        });
        stop.store(true, Ordering::Release);
    });
    assert_eq!(
        fresh.load(Ordering::Relaxed),
        n as usize,
        "every record delivered at least once"
    );
    assert!(
        changes.load(Ordering::Acquire) >= 8,
        "membership changes: {}",
        changes.load(Ordering::Acquire)
    );

    // One last member commits everything; committed offsets then equal the ends.
    let last = member(&cluster, &group, balancer())
        .disable_auto_commit()
        .build()
        .unwrap();
    let drained = support::wait_until(Duration::from_secs(30), || {
        last.poll_fetches_timeout(Duration::from_millis(50));
        last.commit_uncommitted_offsets().is_ok()
            && last.committed_offsets().get(TOPIC).is_some_and(|ps| {
                (0..12).all(|i| ps.get(&i).map(|eo| eo.offset) == Some(ends[i as usize]))
            })
    });
    last.close();
    assert!(drained, "committed offsets did not reach the end offsets");
    let mut latest: HashMap<i32, i64> = HashMap::new();
    for c in cluster.group_commits(&group) {
        let prev = latest.insert(c.partition, c.offset);
        assert!(
            prev.is_none_or(|p| p <= c.offset),
            "partition {} committed {} after {:?}",
            c.partition,
            c.offset,
            prev
        );
    }
    for (i, e) in ends.iter().enumerate() {
        assert_eq!(latest.get(&(i as i32)), Some(e), "partition {i}");
    }
    if cooperative {
        // No partition owned by two members at the same time.
        for (p, spans) in owners.lock().unwrap().iter() {
            for (i, a) in spans.iter().enumerate() {
                for b in &spans[i + 1..] {
                    if a.0 == b.0 {
                        continue;
                    }
                    let a_end = a.2.unwrap_or(Instant::now());
                    let b_end = b.2.unwrap_or(Instant::now());
                    let overlap = a.1 < b_end && b.1 < a_end;
                    assert!(
                        !overlap,
                        "partition {p} owned by {} and {} at once",
                        a.0, b.0
                    );
                }
            }
        }
    }
    p.close();
}

#[test]
fn cooperative_sticky_members_come_and_go_without_losing_a_record() {
    churn(cooperative_sticky_balancer, true);
}

#[test]
fn range_members_come_and_go_without_losing_a_record() {
    churn(range_balancer, false);
}

/// Counts of assign and revoke callbacks of one member.
#[derive(Default)]
struct Calls {
    assigned: AtomicUsize,
    revoked: AtomicUsize,
    lost: AtomicUsize,
}

fn counted(b: ConfigBuilder<Client>, calls: &Arc<Calls>) -> ConfigBuilder<Client> {
    let (a, r, l) = (calls.clone(), calls.clone(), calls.clone());
    b.on_partitions_assigned(move |_, m| {
        if !m.is_empty() {
            a.assigned.fetch_add(1, Ordering::AcqRel);
        }
    })
    .on_partitions_revoked(move |_, m| {
        if !m.is_empty() {
            r.revoked.fetch_add(1, Ordering::AcqRel);
        }
    })
    .on_partitions_lost(move |_, _| {
        l.lost.fetch_add(1, Ordering::AcqRel);
    })
}

fn owns(c: &Client, cluster: &Cluster, group: &str, n: usize) -> bool {
    c.poll_fetches_timeout(Duration::from_millis(20));
    cluster
        .group_state(group)
        .is_some_and(|g| g.members.len() == n && g.state.name() == "Stable")
}

#[test]
fn a_static_member_restarting_within_the_session_causes_no_rebalance() {
    let cluster = cluster(6);
    let group = support::random_topic("static");
    let calls = Arc::new(Calls::default());
    let other = counted(member(&cluster, &group, range_balancer()), &calls)
        .build()
        .unwrap();
    let s = member(&cluster, &group, range_balancer())
        .instance_id("static-1")
        .build()
        .unwrap();
    assert!(support::wait_until(Duration::from_secs(10), || owns(
        &other, &cluster, &group, 2
    ) && calls
        .assigned
        .load(Ordering::Acquire)
        > 0));
    let generation = cluster.group_state(&group).unwrap().generation;
    let before = (
        calls.assigned.load(Ordering::Acquire),
        calls.revoked.load(Ordering::Acquire),
    );
    s.close(); // static: no LeaveGroup
    let s2 = member(&cluster, &group, range_balancer())
        .instance_id("static-1")
        .build()
        .unwrap();
    assert!(support::wait_until(Duration::from_secs(10), || {
        s2.poll_fetches_timeout(Duration::from_millis(20));
        cluster.group_state(&group).is_some_and(|g| {
            g.members
                .iter()
                .any(|m| m.instance_id.as_deref() == Some("static-1"))
        })
    }));
    // Heartbeats of the other member go on for a while with nothing
    // changing: an absence can only be observed over time.
    std::thread::sleep(Duration::from_millis(800));
    other.poll_fetches_timeout(Duration::from_millis(20));
    assert_eq!(
        cluster.group_state(&group).unwrap().generation,
        generation,
        "the group rebalanced"
    );
    let after = (
        calls.assigned.load(Ordering::Acquire),
        calls.revoked.load(Ordering::Acquire),
    );
    assert_eq!(before, after, "the other member saw a revoke or an assign");
    s2.close();
    other.close();
}

/// A member joins and commits although the coordinator first answers `code`
/// to JoinGroup and OffsetCommit.
fn survives(code: ErrorCode) {
    let cluster = cluster(3);
    let group = support::random_topic("coord");
    let joins = cluster.intercept(ApiKey::JoinGroup, None, Some(2), move |_| {
        Action::ErrorCode(code.code())
    });
    let commits = cluster.intercept(ApiKey::OffsetCommit, None, Some(2), move |_| {
        Action::ErrorCode(code.code())
    });
    let p = support::fake_builder(&cluster).build().unwrap();
    support::consume::produce(&p, TOPIC, 0..30);
    let c = member(&cluster, &group, range_balancer())
        .disable_auto_commit()
        .build()
        .unwrap();
    let (got, _) = support::consume::consume(&c, 30, Duration::from_secs(15), |e| panic!("{e}"));
    assert_eq!(got.values().map(Vec::len).sum::<usize>(), 30);
    c.commit_uncommitted_offsets().unwrap();
    assert!(
        !cluster.remove_intercept(joins) && !cluster.remove_intercept(commits),
        "the faults were not hit"
    );
    let committed: i64 = cluster
        .group_commits(&group)
        .iter()
        .map(|c| c.offset)
        .max()
        .unwrap_or(0);
    assert!(committed > 0);
    c.close();
    p.close();
}

#[test]
fn not_coordinator_on_join_and_commit_is_retried() {
    survives(ErrorCode::NotCoordinator);
}

#[test]
fn coordinator_load_in_progress_on_join_and_commit_is_retried() {
    survives(ErrorCode::CoordinatorLoadInProgress);
}

#[test]
fn rebalance_in_progress_on_heartbeat_rejoins() {
    let cluster = cluster(3);
    let group = support::random_topic("rip");
    let c = member(&cluster, &group, range_balancer()).build().unwrap();
    assert!(support::wait_until(Duration::from_secs(10), || owns(
        &c, &cluster, &group, 1
    )));
    let generation = cluster.group_state(&group).unwrap().generation;
    let hb = cluster.intercept(ApiKey::Heartbeat, None, Some(1), |_| {
        Action::ErrorCode(ErrorCode::RebalanceInProgress.code())
    });
    let joined_again = support::wait_until(Duration::from_secs(10), || {
        c.poll_fetches_timeout(Duration::from_millis(20));
        cluster
            .group_state(&group)
            .is_some_and(|g| g.generation > generation)
    });
    assert!(!cluster.remove_intercept(hb));
    assert!(joined_again, "no rejoin after REBALANCE_IN_PROGRESS");
    c.close();
}

#[test]
fn unknown_member_id_loses_the_partitions_then_joins_fresh() {
    let cluster = cluster(3);
    let group = support::random_topic("umi");
    let calls = Arc::new(Calls::default());
    let c = counted(member(&cluster, &group, range_balancer()), &calls)
        .build()
        .unwrap();
    assert!(support::wait_until(Duration::from_secs(10), || owns(
        &c, &cluster, &group, 1
    ) && calls
        .assigned
        .load(Ordering::Acquire)
        == 1));
    cluster.intercept(ApiKey::Heartbeat, None, Some(1), |_| {
        Action::ErrorCode(ErrorCode::UnknownMemberId.code())
    });
    assert!(
        support::wait_until(Duration::from_secs(10), || {
            c.poll_fetches_timeout(Duration::from_millis(20));
            calls.lost.load(Ordering::Acquire) == 1 && calls.assigned.load(Ordering::Acquire) == 2
        }),
        "lost {} assigned {}",
        calls.lost.load(Ordering::Acquire),
        calls.assigned.load(Ordering::Acquire)
    );
    assert_eq!(
        calls.revoked.load(Ordering::Acquire),
        0,
        "lost partitions are not revoked"
    );
    c.close();
}

#[test]
fn illegal_generation_on_commit_is_the_callers_error() {
    let cluster = cluster(3);
    let group = support::random_topic("ilg");
    let p = support::fake_builder(&cluster).build().unwrap();
    support::consume::produce(&p, TOPIC, 0..10);
    let c = member(&cluster, &group, range_balancer())
        .disable_auto_commit()
        .build()
        .unwrap();
    let (got, _) = support::consume::consume(&c, 10, Duration::from_secs(10), |e| panic!("{e}"));
    assert_eq!(got.values().map(Vec::len).sum::<usize>(), 10);
    cluster.intercept(ApiKey::OffsetCommit, None, Some(1), |_| {
        Action::ErrorCode(ErrorCode::IllegalGeneration.code())
    });
    let err = c.commit_uncommitted_offsets().unwrap_err();
    assert_eq!(
        err.kafka_code(),
        Some(ErrorCode::IllegalGeneration),
        "{err}"
    );
    c.close();
    p.close();
}

#[test]
fn a_dropped_coordinator_connection_mid_sync_is_survived() {
    let cluster = cluster(3);
    let group = support::random_topic("drop");
    let sync = cluster.intercept(ApiKey::SyncGroup, None, Some(1), |_| Action::DropConnection);
    let c = member(&cluster, &group, range_balancer()).build().unwrap();
    assert!(support::wait_until(Duration::from_secs(15), || owns(
        &c, &cluster, &group, 1
    ) && !c
        .poll_fetches_timeout(Duration::from_millis(1))
        .is_client_closed()
        && cluster
            .group_state(&group)
            .is_some_and(|g| !g.members[0].assignment.is_empty())));
    assert!(!cluster.remove_intercept(sync), "the sync was not dropped");
    c.close();
}

#[test]
fn fenced_instance_id_surfaces_through_poll_and_stops_the_member() {
    let cluster = cluster(3);
    let group = support::random_topic("fenced");
    let c = member(&cluster, &group, range_balancer())
        .instance_id("fenced-1")
        .build()
        .unwrap();
    assert!(support::wait_until(Duration::from_secs(10), || owns(
        &c, &cluster, &group, 1
    )));
    cluster.intercept(ApiKey::Heartbeat, None, Some(1), |_| {
        Action::ErrorCode(ErrorCode::FencedInstanceId.code())
    });
    let mut fenced: Option<Error> = None;
    assert!(support::wait_until(Duration::from_secs(10), || {
        let fs = c.poll_fetches_timeout(Duration::from_millis(50));
        fs.each_error(|_, _, e| fenced = Some(e.clone()));
        fenced.is_some()
    }));
    assert_eq!(
        fenced.unwrap().kafka_code(),
        Some(ErrorCode::FencedInstanceId)
    );
    c.close();
}

#[test]
fn close_while_polling_returns_client_closed_within_a_second_after_leaving() {
    let cluster = cluster(3);
    let group = support::random_topic("close");
    let c = member(&cluster, &group, cooperative_sticky_balancer())
        .build()
        .unwrap();
    assert!(support::wait_until(Duration::from_secs(10), || owns(
        &c, &cluster, &group, 1
    )));
    let c2 = c.clone();
    let poller = std::thread::spawn(move || {
        let fs = c2.poll_fetches();
        (fs.is_client_closed(), Instant::now())
    });
    // Give the poller time to block (nothing is produced, so it waits).
    std::thread::sleep(Duration::from_millis(200));
    let t = Instant::now();
    c.close();
    let (closed, woke) = poller.join().unwrap();
    assert!(closed, "the blocked poll did not return ClientClosed");
    assert!(
        woke.duration_since(t) < Duration::from_secs(1),
        "took {:?}",
        woke.duration_since(t)
    );
    let members = cluster.group_state(&group).map_or(0, |g| g.members.len());
    assert_eq!(members, 0, "the member did not leave the group");
}

#[test]
fn callbacks_may_poll_commit_pause_and_produce_without_deadlock() {
    let cluster = cluster(3);
    let group = support::random_topic("cb");
    cluster.create_topic("cb-out", 1).unwrap();
    let p = support::fake_builder(&cluster).build().unwrap();
    support::consume::produce(&p, TOPIC, 0..30);
    let done = Arc::new(AtomicUsize::new(0));
    let (d1, d2) = (done.clone(), done.clone());
    let in_callback = Arc::new(AtomicUsize::new(0));
    let (p1, p2) = (in_callback.clone(), in_callback.clone());
    let c = member(&cluster, &group, cooperative_sticky_balancer())
        .on_partitions_assigned(move |c, m| {
            if m.is_empty() {
                return;
            }
            let n = c
                .poll_fetches_timeout(Duration::from_millis(10))
                .num_records();
            p1.fetch_add(n, Ordering::AcqRel);
            c.pause_fetch_topics([TOPIC]);
            c.resume_fetch_topics([TOPIC]);
            let _ = c.commit_uncommitted_offsets();
            let r = c
                .produce_sync([kafka_sync::Record::string("from a callback").with_topic("cb-out")]);
            match r.first() {
                Ok(_) => d1.fetch_add(1, Ordering::AcqRel),
                Err(e) => panic!("produce from a callback: {e}"),
            };
        })
        .on_partitions_revoked(move |c, _| {
            let _ = c.commit_uncommitted_offsets();
            let n = c
                .poll_fetches_timeout(Duration::from_millis(10))
                .num_records();
            p2.fetch_add(n, Ordering::AcqRel);
            d2.fetch_add(1, Ordering::AcqRel);
        })
        .build()
        .unwrap();
    let before = in_callback.load(Ordering::Acquire);
    let want = 30 - before;
    let (got, _) = support::consume::consume(&c, want, Duration::from_secs(15), |e| panic!("{e}"));
    let polled = got.values().map(Vec::len).sum::<usize>() + in_callback.load(Ordering::Acquire);
    assert_eq!(polled, 30, "records polled in and out of callbacks");
    assert!(
        done.load(Ordering::Acquire) >= 1,
        "the assign callback finished"
    );
    c.force_rebalance();
    assert!(support::wait_until(Duration::from_secs(10), || {
        c.poll_fetches_timeout(Duration::from_millis(20));
        cluster
            .group_state(&group)
            .is_some_and(|g| g.generation >= 1)
    }));
    c.close();
    assert!(
        done.load(Ordering::Acquire) >= 2,
        "the revoke callback ran on close"
    );
    p.close();
}
