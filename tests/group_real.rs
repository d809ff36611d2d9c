//! Consumer groups against the real test broker (tansu, which holds every
//! JoinGroup for half the session timeout: the tests use 6 s sessions, see
//! test-broker.md item 4): two members split a 6-partition topic
//! disjointly, one leaves and the other takes everything, and committed
//! offsets are where a new member resumes.

mod support;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kafka_sync::messages::{create_topics_request::CreatableTopic, CreateTopicsRequest, TopicName};
use kafka_sync::{Client, Offset};
use support::consume::{check_record, produce_tansu_safe as produce};

const PARTS: i32 = 6;

type Owned = Arc<Mutex<BTreeMap<String, BTreeSet<i32>>>>;

fn create_topic(topic: &str) {
    let c = Client::builder()
        .seed_brokers(support::seeds())
        .build()
        .unwrap();
    let t = CreatableTopic::default()
        .with_name(TopicName(topic.to_string().into()))
        .with_num_partitions(PARTS)
        .with_replication_factor(1);
    let req = CreateTopicsRequest::default()
        .with_topics(vec![t])
        .with_timeout_ms(10_000);
    let resp = c.request(req).unwrap();
    assert_eq!(resp.topics[0].error_code, 0, "create topic");
    c.close();
}

/// A member of `group` on `topic` recording what it owns.
fn member(group: &str, topic: &str, owned: &Owned) -> Client {
    support::init_logging();
    let (a, r) = (owned.clone(), owned.clone());
    Client::builder()
        .seed_brokers(support::seeds())
        .with_logger(kafka_sync::LogCrateLogger)
        .consumer_group(group)
        .consume_topics([topic])
        .consume_reset_offset(Offset::new().at_start())
        .session_timeout(Duration::from_secs(6))
        .heartbeat_interval(Duration::from_millis(500))
        .fetch_max_wait(Duration::from_millis(200))
        .disable_auto_commit()
        .on_partitions_assigned(move |_, m| {
            let mut o = a.lock().unwrap();
            for (t, ps) in m {
                o.entry(t.clone()).or_default().extend(ps.iter().copied());
            }
        })
        .on_partitions_revoked(move |c, m| {
            if let Err(e) = c.commit_uncommitted_offsets() {
                eprintln!("revoke commit failed: {e}");
            }
            let mut o = r.lock().unwrap();
            for (t, ps) in m {
                if let Some(set) = o.get_mut(t) {
                    for p in ps {
                        set.remove(p);
                    }
                }
            }
        })
        .build()
        .unwrap()
}

fn count(owned: &Owned) -> usize {
    owned.lock().unwrap().values().map(BTreeSet::len).sum()
}

/// Polls `clients` in turn until `want` distinct records arrived.
fn consume_all(clients: &[&Client], want: usize, timeout: Duration) -> HashMap<u64, usize> {
    let mut seen: HashMap<u64, usize> = HashMap::new();
    let end = std::time::Instant::now() + timeout;
    while seen.len() < want && std::time::Instant::now() < end {
        for c in clients {
            let fs = c.poll_fetches_timeout(Duration::from_millis(100));
            fs.each_error(|t, p, e| panic!("fetch error {t}/{p}: {e}"));
            for r in fs.record_iter() {
                *seen.entry(check_record(r)).or_default() += 1;
            }
        }
    }
    seen
}

#[test]
fn two_members_split_a_topic_and_one_takes_over_when_the_other_leaves() {
    if !support::require_broker() {
        return;
    }
    let topic = support::random_topic("grp");
    let group = support::random_topic("g");
    create_topic(&topic);
    let (oa, ob): (Owned, Owned) = Default::default();
    let a = member(&group, &topic, &oa);
    let b = member(&group, &topic, &ob);
    // Both members hold partitions, together all six, none twice.
    let split = support::wait_until(Duration::from_secs(40), || {
        a.poll_fetches_timeout(Duration::from_millis(50));
        b.poll_fetches_timeout(Duration::from_millis(50));
        count(&oa) > 0 && count(&ob) > 0 && count(&oa) + count(&ob) == PARTS as usize
    });
    assert!(
        split,
        "no split: a {:?} b {:?}",
        oa.lock().unwrap(),
        ob.lock().unwrap()
    );
    let (sa, sb) = (oa.lock().unwrap().clone(), ob.lock().unwrap().clone());
    let both: BTreeSet<i32> = sa
        .get(&topic)
        .unwrap()
        .intersection(sb.get(&topic).unwrap())
        .copied()
        .collect();
    assert!(both.is_empty(), "partitions owned twice: {both:?}");

    let p = Client::builder()
        .seed_brokers(support::seeds())
        .build()
        .unwrap();
    produce(&p, &topic, 0..600);
    // tansu resolves committed offsets against its LATEST (see produce_tansu_safe).
    let seen = consume_all(&[&a, &b], 600, Duration::from_secs(30));
    assert_eq!(seen.len(), 600, "records consumed by the pair");
    assert!(
        seen.values().all(|n| *n == 1),
        "a record was delivered twice"
    );

    // B leaves: A ends up owning all six and reads what comes next.
    b.close();
    assert!(
        support::wait_until(Duration::from_secs(40), || {
            a.poll_fetches_timeout(Duration::from_millis(100));
            count(&oa) == PARTS as usize
        }),
        "a owns {:?}",
        oa.lock().unwrap()
    );
    produce(&p, &topic, 600..900);
    let seen = consume_all(&[&a], 300, Duration::from_secs(30));
    assert_eq!(seen.len(), 300);
    assert!(
        seen.keys().all(|i| (600..900).contains(i)),
        "a re-read committed records"
    );
    a.close();
    p.close();
}

#[test]
fn committed_offsets_are_where_a_new_member_resumes() {
    if !support::require_broker() {
        return;
    }
    let topic = support::random_topic("grpc");
    let group = support::random_topic("gc");
    create_topic(&topic);
    let p = Client::builder()
        .seed_brokers(support::seeds())
        .build()
        .unwrap();
    produce(&p, &topic, 0..300);
    let owned: Owned = Default::default();
    let a = member(&group, &topic, &owned);
    let seen = consume_all(&[&a], 300, Duration::from_secs(40));
    assert_eq!(seen.len(), 300);
    a.commit_uncommitted_offsets().unwrap();
    let committed = a.committed_offsets();
    let total: i64 = committed
        .get(&topic)
        .map(|ps| ps.values().map(|eo| eo.offset).sum())
        .unwrap_or(0);
    assert_eq!(total, 300, "committed {committed:?}");
    assert!(a.uncommitted_offsets().is_empty());
    a.close();

    produce(&p, &topic, 300..400);
    let owned2: Owned = Default::default();
    let b = member(&group, &topic, &owned2);
    let seen = consume_all(&[&b], 100, Duration::from_secs(40));
    assert_eq!(seen.len(), 100);
    assert!(
        seen.keys().all(|i| (300..400).contains(i)),
        "resumed before the commit"
    );
    b.close();
    p.close();
}
