//! The fake cluster's group coordinator against the Java broker's
//! semantics: KIP-394 member ids, held joins and syncs, protocol votes,
//! rebalances, session expiry, static members (KIP-345), offsets, the
//! commit log, NOT_COORDINATOR and intercepts. Driven by the raw client in
//! `support/fake_raw.rs`, not the crate's client.
#![cfg(feature = "fake")]

mod support;

use support::fake_raw::*;

use std::time::{Duration, Instant};

use kafka_sync::fake::{Action, Cluster, ClusterBuilder, GroupState};
use kafka_sync::messages::*;

/// Short timings: 100 ms initial rebalance delay (so members joining
/// together form one generation), sessions from 50 ms.
fn builder() -> ClusterBuilder {
    Cluster::builder()
        .brokers(1)
        .topic("t", 2)
        .group_initial_rebalance_delay(Duration::from_millis(100))
        .group_min_session_timeout(Duration::from_millis(50))
}

/// A member that has joined: its connection, id and JoinGroup answer.
struct Member {
    c: Conn,
    id: String,
    join: JoinGroupResponse,
}

impl Member {
    fn generation(&self) -> i32 {
        self.join.generation_id
    }
    fn is_leader(&self) -> bool {
        self.join.leader.as_str() == self.id
    }
}

/// `n` dynamic members join `group` together (KIP-394 round trip each) and
/// are answered in one generation.
fn form(cluster: &Cluster, group: &str, reqs: Vec<JoinGroupRequest>) -> Vec<Member> {
    let mut sent = Vec::new();
    for req in reqs {
        let mut c = group_conn(cluster, group);
        let (id, corr) = send_join_with_id(&mut c, req);
        sent.push((c, id, corr));
    }
    sent.into_iter()
        .map(|(mut c, id, corr)| {
            let join = recv_join(&mut c, corr);
            assert_eq!(join.error_code, 0, "join of {id}");
            Member { c, id, join }
        })
        .collect()
}

/// Syncs every member: followers first (held), then the leader with
/// `to-<member id>` for each; returns each member's assignment.
fn sync_all(group: &str, members: &mut [Member]) -> Vec<Vec<u8>> {
    let mut corrs = Vec::new();
    for m in members.iter_mut().filter(|m| !m.is_leader()) {
        let req = sync_req(group, m.generation(), &m.id, &[]);
        corrs.push((m.id.clone(), m.c.send(SYNC_V, &req).unwrap()));
    }
    let ids: Vec<String> = members.iter().map(|m| m.id.clone()).collect();
    let owned: Vec<(String, Vec<u8>)> = ids
        .iter()
        .map(|id| (id.clone(), format!("to-{id}").into_bytes()))
        .collect();
    let assignments: Vec<(&str, &[u8])> = owned
        .iter()
        .map(|(id, a)| (id.as_str(), a.as_slice()))
        .collect();
    let leader = members.iter_mut().find(|m| m.is_leader()).unwrap();
    let req = sync_req(group, leader.generation(), &leader.id, &assignments);
    let resp = sync(&mut leader.c, &req);
    assert_eq!(resp.error_code, 0);
    let leader_id = leader.id.clone();
    let mut out = Vec::new();
    for m in members.iter_mut() {
        if m.id == leader_id {
            out.push(resp.assignment.to_vec());
            continue;
        }
        let corr = corrs.iter().find(|(id, _)| *id == m.id).unwrap().1;
        let r = m.c.recv::<SyncGroupRequest>(SYNC_V, corr).unwrap();
        assert_eq!(r.error_code, 0);
        out.push(r.assignment.to_vec());
    }
    out
}

fn range(group: &str) -> JoinGroupRequest {
    join_req(group, "", &["range"])
}

#[test]
fn member_id_required_then_join() {
    let cluster = Cluster::builder().brokers(1).topic("t", 1).build().unwrap();
    let mut c = group_conn(&cluster, "g");
    let first = join(&mut c, &range("g"));
    assert_eq!((first.error_code, first.generation_id), (79, -1));
    let id = first.member_id.as_str().to_string();
    assert!(id.starts_with("raw-test-"), "<client id>-<uuid>: {id}");
    assert!(
        cluster.group_state("g").unwrap().members.is_empty(),
        "pending, not a member"
    );

    let r = join(&mut c, &join_req("g", &id, &["range"]));
    assert_eq!((r.error_code, r.generation_id), (0, 1));
    assert_eq!(
        (r.member_id.as_str(), r.leader.as_str()),
        (id.as_str(), id.as_str())
    );
    assert_eq!(r.protocol_type.as_deref(), Some("consumer"));
    assert_eq!(r.protocol_name.as_deref(), Some("range"));
    assert_eq!(r.members.len(), 1);
    assert_eq!(r.members[0].metadata, meta("range"));
    let snap = cluster.group_state("g").unwrap();
    assert_eq!(
        (snap.state, snap.generation),
        (GroupState::CompletingRebalance, 1)
    );

    let s = sync(&mut c, &sync_req("g", 1, &id, &[(&id, b"mine")]));
    assert_eq!((s.error_code, s.assignment.as_ref()), (0, &b"mine"[..]));
    let snap = cluster.group_state("g").unwrap();
    assert_eq!(snap.state, GroupState::Stable);
    assert_eq!(snap.members[0].assignment.as_ref(), b"mine");

    // A member id the group never gave out, and (v3) no KIP-394 round trip.
    assert_eq!(
        join(&mut c, &join_req("g", "nobody", &["range"])).error_code,
        25
    );
    let v3 = c.call(3, &range("other")).unwrap();
    assert_eq!((v3.error_code, v3.generation_id), (0, 1));
}

#[test]
fn two_members_one_generation_followers_wait_for_the_leader() {
    let cluster = builder().build().unwrap();
    let mut ms = form(&cluster, "g", vec![range("g"), range("g")]);
    let (a, b) = (&ms[0], &ms[1]);
    assert_eq!((a.generation(), b.generation()), (1, 1));
    assert_eq!(a.join.leader, b.join.leader);
    let (leader, follower) = if a.is_leader() { (0, 1) } else { (1, 0) };
    let mut seen: Vec<String> = ms[leader]
        .join
        .members
        .iter()
        .map(|m| m.member_id.as_str().to_string())
        .collect();
    seen.sort();
    let mut want = vec![ms[0].id.clone(), ms[1].id.clone()];
    want.sort();
    assert_eq!(seen, want, "the leader sees every member");
    assert!(ms[follower].join.members.is_empty(), "followers see none");

    // The follower's SyncGroup is held until the leader's arrives.
    let gen = ms[follower].generation();
    let fid = ms[follower].id.clone();
    let corr = ms[follower]
        .c
        .send(SYNC_V, &sync_req("g", gen, &fid, &[]))
        .unwrap();
    assert!(ms[follower].c.quiet_for(Duration::from_millis(100)));
    let lid = ms[leader].id.clone();
    let assignments: [(&str, &[u8]); 2] = [(&lid, b"L"), (&fid, b"F")];
    let r = sync(&mut ms[leader].c, &sync_req("g", gen, &lid, &assignments));
    assert_eq!((r.error_code, r.assignment.as_ref()), (0, &b"L"[..]));
    assert_eq!(r.protocol_name.as_deref(), Some("range"));
    let f = ms[follower]
        .c
        .recv::<SyncGroupRequest>(SYNC_V, corr)
        .unwrap();
    assert_eq!((f.error_code, f.assignment.as_ref()), (0, &b"F"[..]));
    let snap = cluster.group_state("g").unwrap();
    assert_eq!((snap.state, snap.generation), (GroupState::Stable, 1));
    assert_eq!(snap.leader.as_deref(), Some(lid.as_str()));
}

/// Java `selectProtocol`: each member votes for its first protocol that
/// all support; most votes wins; ties go to the first member's order.
#[test]
fn protocol_selection_by_vote() {
    let cluster = builder().build().unwrap();
    let cases: &[(&str, &[&[&str]], &str)] = &[
        ("majority", &[&["a", "b"], &["b", "a"], &["b", "a"]], "b"),
        ("tie", &[&["b", "a"], &["a", "b"]], "b"),
        ("fallback", &[&["c", "a"], &["a", "c"], &["a"]], "a"),
    ];
    for (group, members, want) in cases {
        // Sequential joins, so the join order (and the tie-break) is fixed.
        let mut sent = Vec::new();
        for (i, protocols) in members.iter().enumerate() {
            let mut c = group_conn(&cluster, group);
            let (_, corr) = send_join_with_id(&mut c, join_req(group, "", protocols));
            assert!(support::wait_until(Duration::from_secs(1), || {
                cluster
                    .group_state(group)
                    .is_some_and(|g| g.members.len() == i + 1)
            }));
            sent.push((c, corr));
        }
        for (mut c, corr) in sent {
            let r = recv_join(&mut c, corr);
            assert_eq!(r.error_code, 0, "{group}");
            assert_eq!(r.protocol_name.as_deref(), Some(*want), "{group}");
        }
    }

    // No protocol in common, or another protocol type: refused at once.
    let mut a = group_conn(&cluster, "none");
    let (_, corr) = send_join_with_id(&mut a, join_req("none", "", &["x"]));
    assert!(support::wait_until(Duration::from_secs(1), || {
        cluster
            .group_state("none")
            .is_some_and(|g| g.members.len() == 1)
    }));
    let mut b = group_conn(&cluster, "none");
    let r = join(&mut b, &join_req("none", "", &["y"]));
    assert_eq!((r.error_code, r.member_id.as_str()), (23, ""));
    let other_type = join_req("none", "", &["x"]).with_protocol_type(s("connect"));
    assert_eq!(join(&mut b, &other_type).error_code, 23);
    assert_eq!(recv_join(&mut a, corr).protocol_name.as_deref(), Some("x"));
}

#[test]
fn a_third_member_rebalances_the_group() {
    let cluster = builder().build().unwrap();
    let mut ms = form(&cluster, "g", vec![range("g"), range("g")]);
    sync_all("g", &mut ms);
    for m in ms.iter_mut() {
        assert_eq!(heartbeat(&mut m.c, "g", 1, &m.id, None), 0);
    }

    let mut c = group_conn(&cluster, "g");
    let (cid, ccorr) = send_join_with_id(&mut c, range("g"));
    assert!(support::wait_until(Duration::from_secs(1), || {
        cluster
            .group_state("g")
            .is_some_and(|g| g.state == GroupState::PreparingRebalance)
    }));
    let mut rejoins = Vec::new();
    for m in ms.iter_mut() {
        assert_eq!(
            heartbeat(&mut m.c, "g", 1, &m.id, None),
            27,
            "REBALANCE_IN_PROGRESS"
        );
        rejoins.push(send_join(&mut m.c, &join_req("g", &m.id, &["range"])));
    }
    let third = recv_join(&mut c, ccorr);
    assert_eq!((third.error_code, third.generation_id), (0, 2));
    for (m, corr) in ms.iter_mut().zip(rejoins) {
        let r = recv_join(&mut m.c, corr);
        assert_eq!((r.error_code, r.generation_id), (0, 2));
        if r.leader.as_str() == m.id {
            assert_eq!(r.members.len(), 3);
        }
        // The old generation is over.
        assert_eq!(
            heartbeat(&mut m.c, "g", 1, &m.id, None),
            22,
            "ILLEGAL_GENERATION"
        );
    }
    assert!(cluster
        .group_state("g")
        .unwrap()
        .members
        .iter()
        .any(|m| m.member_id == cid));
}

/// A member that stops heartbeating is removed when its session expires,
/// with no request arriving: the timer thread completes the held rejoin.
#[test]
fn session_expiry_removes_a_silent_member() {
    let cluster = builder().build().unwrap();
    let short = |g: &str| {
        range(g)
            .with_session_timeout_ms(300)
            .with_rebalance_timeout_ms(5_000)
    };
    let mut ms = form(&cluster, "g", vec![short("g"), short("g")]);
    sync_all("g", &mut ms);
    let start = Instant::now();
    let leader = ms.iter_mut().find(|m| m.is_leader()).unwrap();
    let lid = leader.id.clone();
    let corr = send_join(&mut leader.c, &short("g").with_member_id(s(&lid)));
    let r = recv_join(&mut leader.c, corr);
    assert_eq!((r.error_code, r.generation_id), (0, 2));
    assert_eq!(r.members.len(), 1, "the silent member is gone");
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "not the 5 s rebalance timeout"
    );
    let silent = ms.iter_mut().find(|m| m.id != lid).unwrap();
    assert_eq!(heartbeat(&mut silent.c, "g", 1, &silent.id, None), 25);

    // A lone member nobody hears from leaves an Empty group behind.
    let mut c = group_conn(&cluster, "lone");
    let (_, corr) = send_join_with_id(&mut c, short("lone").with_session_timeout_ms(100));
    assert_eq!(recv_join(&mut c, corr).error_code, 0);
    assert!(support::wait_until(Duration::from_secs(1), || {
        cluster
            .group_state("lone")
            .is_some_and(|g| g.state == GroupState::Empty && g.generation == 2)
    }));
}

/// Java's `DelayedJoin`: a member that does not rejoin within the
/// rebalance timeout is dropped from the next generation.
#[test]
fn rebalance_timeout_drops_members_that_do_not_rejoin() {
    let cluster = builder().build().unwrap();
    let quick = |g: &str| range(g).with_rebalance_timeout_ms(300);
    let mut ms = form(&cluster, "g", vec![quick("g"), quick("g")]);
    sync_all("g", &mut ms);
    let li = ms.iter().position(|m| m.is_leader()).unwrap();
    let start = Instant::now();
    let lid = ms[li].id.clone();
    let r = join(&mut ms[li].c, &quick("g").with_member_id(s(&lid)));
    assert!(
        start.elapsed() >= Duration::from_millis(300),
        "held for the rebalance timeout"
    );
    assert_eq!((r.error_code, r.generation_id, r.members.len()), (0, 2, 1));
    let late = &mut ms[1 - li];
    assert_eq!(
        heartbeat(&mut late.c, "g", 1, &late.id, None),
        25,
        "dropped"
    );
}

/// Java's `DelayedSync`: a leader that never sends its SyncGroup is
/// dropped after the rebalance timeout, and the held follower told to rejoin.
#[test]
fn sync_timeout_drops_a_leader_that_never_syncs() {
    let cluster = builder().build().unwrap();
    let quick = |g: &str| range(g).with_rebalance_timeout_ms(300);
    let mut ms = form(&cluster, "g", vec![quick("g"), quick("g")]);
    let start = Instant::now();
    let f = ms.iter_mut().find(|m| !m.is_leader()).unwrap();
    let held = sync(&mut f.c, &sync_req("g", 1, &f.id, &[]));
    assert_eq!(
        held.error_code, 27,
        "REBALANCE_IN_PROGRESS once the leader is dropped"
    );
    assert!(start.elapsed() >= Duration::from_millis(200));
    let snap = cluster.group_state("g").unwrap();
    assert_eq!(snap.state, GroupState::PreparingRebalance);
    assert_eq!(snap.members.len(), 1);
    let fid = f.id.clone();
    let r = join(&mut f.c, &quick("g").with_member_id(s(&fid)));
    assert_eq!((r.generation_id, r.leader.as_str()), (2, fid.as_str()));
}

#[test]
fn session_timeout_bounds_are_enforced() {
    let cluster = Cluster::builder().brokers(1).build().unwrap();
    let mut c = group_conn(&cluster, "g");
    for (ms, code) in [(5_999, 26), (1_800_001, 26), (6_000, 79)] {
        let r = join(&mut c, &range("g").with_session_timeout_ms(ms));
        assert_eq!(r.error_code, code, "session {ms} ms");
    }
    let short = builder()
        .group_max_session_timeout(Duration::from_secs(1))
        .build()
        .unwrap();
    let mut c = group_conn(&short, "g");
    assert_eq!(
        join(&mut c, &range("g").with_session_timeout_ms(49)).error_code,
        26
    );
    assert_eq!(
        join(&mut c, &range("g").with_session_timeout_ms(1_001)).error_code,
        26
    );
    assert_eq!(
        join(&mut c, &range("g").with_session_timeout_ms(50)).error_code,
        79
    );
    assert!(Cluster::builder()
        .group_min_session_timeout(Duration::from_secs(2))
        .group_max_session_timeout(Duration::from_secs(1))
        .build()
        .is_err());
}

fn static_join(group: &str, instance: &str) -> JoinGroupRequest {
    range(group).with_group_instance_id(Some(s(instance)))
}

/// KIP-345: a static member restarting with its instance id takes over its
/// old place without a rebalance; the old member id is fenced.
#[test]
fn static_member_restart_keeps_the_generation_and_fences_the_old_id() {
    let cluster = builder().build().unwrap();
    let mut sent = Vec::new();
    for inst in ["i-a", "i-b"] {
        let mut c = group_conn(&cluster, "g");
        let corr = send_join(&mut c, &static_join("g", inst));
        sent.push((c, corr));
    }
    let mut ms: Vec<Member> = sent
        .into_iter()
        .map(|(mut c, corr)| {
            let join = recv_join(&mut c, corr);
            assert_eq!(join.error_code, 0, "static members skip MEMBER_ID_REQUIRED");
            Member {
                c,
                id: join.member_id.as_str().to_string(),
                join,
            }
        })
        .collect();
    let assigned = sync_all("g", &mut ms);
    let fi = ms.iter().position(|m| !m.is_leader()).unwrap();
    let li = 1 - fi;
    let (old_f, old_l) = (ms[fi].id.clone(), ms[li].id.clone());
    let insts = ["i-a", "i-b"];
    let (f_inst, l_inst) = (insts[fi], insts[li]);

    // The follower restarts: same generation, new id, old leader.
    let mut c = group_conn(&cluster, "g");
    let r = join(&mut c, &static_join("g", f_inst));
    assert_eq!((r.error_code, r.generation_id), (0, 1));
    let new_f = r.member_id.as_str().to_string();
    assert_ne!(new_f, old_f);
    assert!(new_f.starts_with(&format!("{f_inst}-")), "{new_f}");
    assert_eq!(
        (r.leader.as_str(), r.members.len(), r.skip_assignment),
        (old_l.as_str(), 0, false)
    );
    assert_eq!(
        heartbeat(&mut ms[fi].c, "g", 1, &old_f, Some(f_inst)),
        82,
        "FENCED_INSTANCE_ID"
    );
    assert_eq!(heartbeat(&mut c, "g", 1, &new_f, Some(f_inst)), 0);
    let s1 = sync(
        &mut c,
        &sync_req("g", 1, &new_f, &[]).with_group_instance_id(Some(s(f_inst))),
    );
    assert_eq!(
        (s1.error_code, s1.assignment.to_vec()),
        (0, assigned[fi].clone())
    );
    let snap = cluster.group_state("g").unwrap();
    assert_eq!((snap.state, snap.generation), (GroupState::Stable, 1));
    assert!(snap.members.iter().any(|m| m.member_id == new_f));

    // The leader restarts: v9 says it leads but must skip the assignment;
    // v8 names the old leader id so it does not assign at all.
    let mut l = group_conn(&cluster, "g");
    let r = join(&mut l, &static_join("g", l_inst));
    let new_l = r.member_id.as_str().to_string();
    assert_eq!(
        (r.error_code, r.generation_id, r.skip_assignment),
        (0, 1, true)
    );
    assert_eq!((r.leader.as_str(), r.members.len()), (new_l.as_str(), 2));
    let r8 = l.call(8, &static_join("g", l_inst)).unwrap();
    assert_eq!((r8.error_code, r8.generation_id), (0, 1));
    assert_eq!(r8.leader.as_str(), new_l, "the id before this restart");
    assert_ne!(r8.member_id.as_str(), new_l);
    assert_eq!(cluster.group_state("g").unwrap().generation, 1);

    // A known member id rejoining as the leader does rebalance.
    let leader_id = r8.member_id.as_str().to_string();
    let corr = send_join(
        &mut l,
        &static_join("g", l_inst).with_member_id(s(&leader_id)),
    );
    assert!(support::wait_until(Duration::from_secs(1), || {
        cluster
            .group_state("g")
            .is_some_and(|g| g.state == GroupState::PreparingRebalance)
    }));
    let corr_f = send_join(&mut c, &static_join("g", f_inst).with_member_id(s(&new_f)));
    assert_eq!(recv_join(&mut l, corr).generation_id, 2);
    assert_eq!(recv_join(&mut c, corr_f).generation_id, 2);
}

#[test]
fn offsets_round_trip_and_generation_checks() {
    let cluster = builder().build().unwrap();
    let mut ms = form(&cluster, "g", vec![range("g")]);
    sync_all("g", &mut ms);
    let m = &mut ms[0];
    let id = m.id.clone();
    assert_eq!(
        commit(&mut m.c, "g", 1, &id, &[("t", 0, 5), ("t", 1, 9)]),
        [0, 0]
    );
    let (err, got) = fetch_offsets(&mut m.c, "g", Some(&[("t", 0), ("t", 1), ("u", 0)]), false);
    assert_eq!(err, 0);
    let view: Vec<_> = got
        .iter()
        .map(|f| {
            (
                f.partition,
                f.offset,
                f.leader_epoch,
                f.metadata.as_str(),
                f.error,
            )
        })
        .collect();
    assert_eq!(
        view,
        [(0, 5, 7, "m5", 0), (1, 9, 7, "m9", 0), (0, -1, -1, "", 0)]
    );
    let (_, all) = fetch_offsets(&mut m.c, "g", None, false);
    assert_eq!(all.len(), 2, "every committed partition");

    // The leader rejoins alone: generation 2, and the old one is stale.
    let r = join(&mut m.c, &join_req("g", &id, &["range"]));
    assert_eq!(r.generation_id, 2);
    assert_eq!(
        commit(&mut m.c, "g", 2, &id, &[("t", 0, 6)]),
        [27],
        "before its SyncGroup"
    );
    assert_eq!(sync(&mut m.c, &sync_req("g", 2, &id, &[])).error_code, 0);
    assert_eq!(
        commit(&mut m.c, "g", 1, &id, &[("t", 0, 6)]),
        [22],
        "ILLEGAL_GENERATION"
    );
    assert_eq!(commit(&mut m.c, "g", 2, "nobody", &[("t", 0, 6)]), [25]);
    assert_eq!(
        commit(&mut m.c, "g", -1, "", &[("t", 0, 6)]),
        [25],
        "simple commit, group has members"
    );
    assert_eq!(
        commit(&mut m.c, "g", 2, &id, &[("t", 0, 6), ("nope", 0, 1)]),
        [0, 3]
    );
    assert_eq!(
        fetch_offsets(&mut m.c, "g", Some(&[("t", 0)]), false).1[0].offset,
        6
    );

    // Empty again: simple (admin) commits are accepted.
    assert_eq!(
        leave(&mut m.c, "g", &[(&id, None)]).members[0].error_code,
        0
    );
    assert_eq!(cluster.group_state("g").unwrap().state, GroupState::Empty);
    assert_eq!(commit(&mut m.c, "g", -1, "", &[("t", 1, 11)]), [0]);
    // No such group: v9 GROUP_ID_NOT_FOUND, v8 ILLEGAL_GENERATION.
    assert_eq!(commit(&mut m.c, "missing", 3, "x", &[("t", 0, 1)]), [69]);
    let v8 = OffsetCommitRequest::default()
        .with_group_id(GroupId(s("missing")))
        .with_generation_id_or_member_epoch(3)
        .with_member_id(s("x"))
        .with_topics(vec![
            offset_commit_request::OffsetCommitRequestTopic::default()
                .with_name(TopicName(s("t")))
                .with_partitions(vec![
                    offset_commit_request::OffsetCommitRequestPartition::default(),
                ]),
        ]);
    let r = m.c.call(8, &v8).unwrap();
    assert_eq!(r.topics[0].partitions[0].error_code, 22);

    // require_stable (KIP-447) sees a staged transactional offset.
    cluster.prepare_txn_offset_commit("g", 1000, "t", 0, 42);
    let (_, unstable) = fetch_offsets(&mut m.c, "g", Some(&[("t", 0)]), true);
    assert_eq!((unstable[0].offset, unstable[0].error), (-1, 88));
    assert_eq!(
        fetch_offsets(&mut m.c, "g", Some(&[("t", 0)]), false).1[0].offset,
        6
    );
    cluster.complete_txn_offset_commit("g", 1000, true);
    let (_, stable) = fetch_offsets(&mut m.c, "g", Some(&[("t", 0)]), true);
    assert_eq!((stable[0].offset, stable[0].error), (42, 0));
}

#[test]
fn commit_log_lists_accepted_commits_in_order() {
    let cluster = builder().build().unwrap();
    let mut c = group_conn(&cluster, "g");
    assert_eq!(commit(&mut c, "g", -1, "", &[("t", 0, 1)]), [0]);
    let mut ms = form(&cluster, "g", vec![range("g")]);
    sync_all("g", &mut ms);
    let id = ms[0].id.clone();
    assert_eq!(
        commit(&mut ms[0].c, "g", 1, &id, &[("t", 1, 2), ("t", 0, 3)]),
        [0, 0]
    );
    assert_eq!(
        commit(&mut ms[0].c, "g", 0, &id, &[("t", 0, 99)]),
        [22],
        "not logged"
    );
    assert_eq!(commit(&mut ms[0].c, "g", 1, &id, &[("t", 0, 4)]), [0]);

    let log = cluster.group_commits("g");
    let view: Vec<_> = log
        .iter()
        .map(|c| {
            (
                c.topic.as_str(),
                c.partition,
                c.offset,
                c.member_id.as_str(),
                c.generation,
            )
        })
        .collect();
    assert_eq!(
        view,
        [
            ("t", 0, 1, "", -1),
            ("t", 1, 2, id.as_str(), 1),
            ("t", 0, 3, id.as_str(), 1),
            ("t", 0, 4, id.as_str(), 1),
        ]
    );
    assert!(log.windows(2).all(|w| w[0].time <= w[1].time));
    assert_eq!((log[1].leader_epoch, log[1].metadata.as_str()), (7, "m2"));
    assert!(cluster.group_commits("other").is_empty());
}

/// Every group API sent to a broker that does not coordinate the group.
#[test]
fn not_coordinator_from_other_brokers() {
    let cluster = builder().brokers(3).build().unwrap();
    let mut c = other_conn(&cluster, "g");
    assert_eq!(join(&mut c, &range("g")).error_code, 16);
    assert_eq!(sync(&mut c, &sync_req("g", 1, "m", &[])).error_code, 16);
    assert_eq!(heartbeat(&mut c, "g", 1, "m", None), 16);
    assert_eq!(leave(&mut c, "g", &[("m", None)]).error_code, 16);
    assert_eq!(commit(&mut c, "g", -1, "", &[("t", 0, 1)]), [16]);
    assert_eq!(fetch_offsets(&mut c, "g", None, false).0, 16);
    let d = c
        .call(
            5,
            &DescribeGroupsRequest::default().with_groups(vec![GroupId(s("g"))]),
        )
        .unwrap();
    assert_eq!(d.groups[0].error_code, 16);
    // Nothing reached the coordinator.
    assert!(cluster.group_state("g").is_none());
    assert!(cluster.group_commits("g").is_empty());
}

#[test]
fn intercepts_on_join_group() {
    let cluster = builder().build().unwrap();
    let coord = coordinator_id(&cluster, "g");
    let mut c = group_conn(&cluster, "g");
    for code in [16, 14, 27, 22] {
        cluster.intercept(ApiKey::JoinGroup, Some(coord), Some(1), move |_| {
            Action::ErrorCode(code)
        });
        let r = join(&mut c, &range("g"));
        assert_eq!((r.error_code, r.generation_id), (code, -1));
    }
    cluster.intercept(ApiKey::JoinGroup, None, Some(1), |_| Action::DropConnection);
    send_join(&mut c, &range("g"));
    assert!(c.closed());
    // The intercepted requests never reached the coordinator.
    assert!(cluster.group_state("g").is_none());
    let mut c = group_conn(&cluster, "g");
    let (id, corr) = send_join_with_id(&mut c, range("g"));
    assert_eq!(recv_join(&mut c, corr).error_code, 0);
    assert_eq!(cluster.request_count_on(coord, ApiKey::JoinGroup), 7);

    // Heartbeat and OffsetCommit take injected codes too.
    cluster.intercept(ApiKey::Heartbeat, None, Some(1), |_| Action::ErrorCode(27));
    assert_eq!(heartbeat(&mut c, "g", 1, &id, None), 27);
    cluster.intercept(ApiKey::OffsetCommit, None, Some(1), |_| {
        Action::ErrorCode(22)
    });
    assert_eq!(
        commit(&mut c, "g", 1, &id, &[("t", 0, 1), ("t", 1, 1)]),
        [22, 22]
    );
    assert!(cluster.group_commits("g").is_empty());
}

#[test]
fn leave_group_batch_by_member_and_instance_id() {
    let cluster = builder().build().unwrap();
    let mut a = group_conn(&cluster, "g");
    let (dynamic, ca) = send_join_with_id(&mut a, range("g"));
    let mut b = group_conn(&cluster, "g");
    let cb = send_join(&mut b, &static_join("g", "inst"));
    assert_eq!(recv_join(&mut a, ca).generation_id, 1);
    assert_eq!(recv_join(&mut b, cb).generation_id, 1);
    let mut c = group_conn(&cluster, "g");
    let r = leave(
        &mut c,
        "g",
        &[
            (&dynamic, None),
            ("", Some("inst")),
            ("ghost", None),
            ("", Some("nope")),
        ],
    );
    assert_eq!(r.error_code, 0);
    let codes: Vec<i16> = r.members.iter().map(|m| m.error_code).collect();
    assert_eq!(codes, [0, 0, 25, 25]);
    assert!(support::wait_until(Duration::from_secs(1), || {
        cluster
            .group_state("g")
            .is_some_and(|g| g.members.is_empty() && g.state == GroupState::Empty)
    }));
    // v1 names one member; its error is the top-level one.
    let v1 = LeaveGroupRequest::default()
        .with_group_id(GroupId(s("g")))
        .with_member_id(s("ghost"));
    assert_eq!(c.call(1, &v1).unwrap().error_code, 25);
}

#[test]
fn sync_group_checks() {
    let cluster = builder().build().unwrap();
    let mut ms = form(&cluster, "g", vec![range("g")]);
    let id = ms[0].id.clone();
    let c = &mut ms[0].c;
    assert_eq!(sync(c, &sync_req("g", 9, &id, &[])).error_code, 22);
    assert_eq!(sync(c, &sync_req("g", 1, "nobody", &[])).error_code, 25);
    let wrong = sync_req("g", 1, &id, &[]).with_protocol_name(Some(s("roundrobin")));
    assert_eq!(sync(c, &wrong).error_code, 23);
    assert_eq!(sync(c, &sync_req("g", 1, &id, &[])).error_code, 0);
    // A stable group answers a repeated SyncGroup with the assignment.
    let again = sync(c, &sync_req("g", 1, &id, &[]));
    assert_eq!((again.error_code, again.assignment.len()), (0, 0));
}

#[test]
fn describe_list_and_delete_groups() {
    let cluster = builder().build().unwrap();
    let mut ms = form(&cluster, "g", vec![range("g")]);
    sync_all("g", &mut ms);
    let id = ms[0].id.clone();
    let mut c = group_conn(&cluster, "g");
    let d = c
        .call(
            5,
            &DescribeGroupsRequest::default()
                .with_groups(vec![GroupId(s("g")), GroupId(s("nope"))])
                .with_include_authorized_operations(true),
        )
        .unwrap();
    let g = &d.groups[0];
    assert_eq!(
        (
            g.error_code,
            g.group_state.as_str(),
            g.protocol_data.as_str()
        ),
        (0, "Stable", "range")
    );
    assert_eq!(g.members[0].member_id.as_str(), id);
    assert_eq!(
        g.members[0].member_assignment.as_ref(),
        format!("to-{id}").as_bytes()
    );
    assert_eq!(g.members[0].client_host.as_str(), "/127.0.0.1");
    assert_eq!(d.groups[1].group_state.as_str(), "Dead");

    let listed = c.call(5, &ListGroupsRequest::default()).unwrap();
    let states: Vec<_> = listed
        .groups
        .iter()
        .map(|g| {
            (
                g.group_id.as_str(),
                g.group_state.as_str(),
                g.group_type.as_str(),
            )
        })
        .collect();
    assert_eq!(states, [("g", "Stable", "classic")]);
    let empty_only = ListGroupsRequest::default().with_states_filter(vec![s("empty")]);
    assert!(c.call(5, &empty_only).unwrap().groups.is_empty());

    let del = |c: &mut Conn| {
        let req = DeleteGroupsRequest::default().with_groups_names(vec![GroupId(s("g"))]);
        c.call(2, &req).unwrap().results[0].error_code
    };
    assert_eq!(commit(&mut ms[0].c, "g", 1, &id, &[("t", 0, 3)]), [0]);
    assert_eq!(del(&mut c), 68, "NON_EMPTY_GROUP");
    leave(&mut ms[0].c, "g", &[(&id, None)]);
    assert_eq!(del(&mut c), 0);
    assert_eq!(del(&mut c), 69, "GROUP_ID_NOT_FOUND");
    let d6 = c
        .call(
            6,
            &DescribeGroupsRequest::default().with_groups(vec![GroupId(s("g"))]),
        )
        .unwrap();
    assert_eq!(d6.groups[0].error_code, 69);
    assert_eq!(
        fetch_offsets(&mut c, "g", Some(&[("t", 0)]), false).1[0].offset,
        -1
    );
    assert_eq!(
        cluster.group_commits("g").len(),
        1,
        "the log outlives the group"
    );
}

#[test]
fn offset_delete_spares_subscribed_topics() {
    let cluster = builder().build().unwrap();
    let mut c = group_conn(&cluster, "g");
    assert_eq!(
        commit(&mut c, "g", -1, "", &[("t", 0, 1), ("t", 1, 2)]),
        [0, 0]
    );
    let req = |parts: &[(&str, i32)]| {
        OffsetDeleteRequest::default()
            .with_group_id(GroupId(s("g")))
            .with_topics(
                parts
                    .iter()
                    .map(|(t, p)| {
                        offset_delete_request::OffsetDeleteRequestTopic::default()
                            .with_name(TopicName(s(t)))
                            .with_partitions(vec![
                                offset_delete_request::OffsetDeleteRequestPartition::default()
                                    .with_partition_index(*p),
                            ])
                    })
                    .collect(),
            )
    };
    let r = c.call(0, &req(&[("t", 0), ("nope", 0)])).unwrap();
    let codes: Vec<i16> = r
        .topics
        .iter()
        .map(|t| t.partitions[0].error_code)
        .collect();
    assert_eq!((r.error_code, codes), (0, vec![0, 3]));
    assert_eq!(fetch_offsets(&mut c, "g", None, false).1.len(), 1);

    // A consumer member subscribed to "t" (consumer protocol v0: topics ["t"]).
    let subscription = bytes::Bytes::from_static(&[0, 0, 0, 0, 0, 1, 0, 1, b't', 0, 0, 0, 0]);
    let mut join_t = range("g");
    join_t.protocols[0].metadata = subscription;
    let mut ms = form(&cluster, "g", vec![join_t]);
    sync_all("g", &mut ms);
    let r = c.call(0, &req(&[("t", 1)])).unwrap();
    assert_eq!(
        r.topics[0].partitions[0].error_code, 86,
        "GROUP_SUBSCRIBED_TO_TOPIC"
    );
    let missing = OffsetDeleteRequest::default().with_group_id(GroupId(s("missing")));
    assert_eq!(c.call(0, &missing).unwrap().error_code, 69);
}

#[test]
fn api_versions_advertise_the_group_apis() {
    let cluster = Cluster::builder().brokers(1).build().unwrap();
    let mut c = Conn::connect(&cluster.seeds()[0]).unwrap();
    let v = c.call(3, &api_versions_req()).unwrap();
    let range_of = |k: ApiKey| {
        v.api_keys
            .iter()
            .find(|a| a.api_key == k as i16)
            .map(|a| (a.min_version, a.max_version))
    };
    for (key, want) in [
        (ApiKey::JoinGroup, (0, 9)),
        (ApiKey::SyncGroup, (0, 5)),
        (ApiKey::Heartbeat, (0, 4)),
        (ApiKey::LeaveGroup, (0, 5)),
        (ApiKey::OffsetCommit, (2, 9)),
        (ApiKey::OffsetFetch, (1, 9)),
        (ApiKey::OffsetDelete, (0, 0)),
        (ApiKey::DescribeGroups, (0, 6)),
        (ApiKey::ListGroups, (0, 5)),
        (ApiKey::DeleteGroups, (0, 2)),
    ] {
        assert_eq!(range_of(key), Some(want), "{key:?}");
    }
}

/// Old versions: v0 JoinGroup (no rebalance timeout), v1 OffsetFetch
/// (errors per partition), v2 OffsetFetch (a group-level error).
#[test]
fn old_versions_follow_their_shapes() {
    let cluster = builder().brokers(2).build().unwrap();
    let mut c = group_conn(&cluster, "g");
    let r = c
        .call(0, &range("g").with_rebalance_timeout_ms(-1))
        .unwrap();
    assert_eq!((r.error_code, r.generation_id), (0, 1));
    let snap = cluster.group_state("g").unwrap();
    assert_eq!(
        snap.members[0].rebalance_timeout,
        Duration::from_secs(10),
        "the session timeout"
    );

    let v1 = OffsetFetchRequest::default()
        .with_group_id(GroupId(s("g")))
        .with_topics(Some(vec![
            offset_fetch_request::OffsetFetchRequestTopic::default()
                .with_name(TopicName(s("t")))
                .with_partition_indexes(vec![0, 1]),
        ]));
    let mut other = other_conn(&cluster, "g");
    let r = other.call(1, &v1).unwrap();
    let codes: Vec<i16> = r.topics[0]
        .partitions
        .iter()
        .map(|p| p.error_code)
        .collect();
    assert_eq!(codes, [16, 16]);
    let r = other.call(2, &v1).unwrap();
    assert_eq!((r.error_code, r.topics.len()), (16, 0));
    let r = c.call(5, &v1).unwrap();
    assert_eq!(r.topics[0].partitions[1].committed_offset, -1);
}
