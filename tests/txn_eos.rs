//! Exactly-once ETL with `GroupTransactSession` on the fake cluster: three
//! members transform an input topic into an output topic while members are
//! closed mid-transaction and started anew, CONCURRENT_TRANSACTIONS is
//! injected and the transaction coordinator moves; a read_committed reader
//! then finds every input record's transform exactly once.
//!
//! `KS_EOS_RECORDS` sets the input size (default 500,000, the issue's
//! acceptance count).
#![cfg(feature = "fake")]

mod support;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::Bytes;
use kafka_sync::fake::{Action, Cluster, CoordinatorType};
use kafka_sync::messages::ApiKey;
use kafka_sync::{
    range_balancer, Client, GroupTransactSession, IsolationLevel, Offset, Record, TransactionEndTry,
};

const INPUT: &str = "in";
const OUTPUT: &str = "out";
const GROUP: &str = "etl";
const PARTS: i32 = 12;

fn records() -> u64 {
    std::env::var("KS_EOS_RECORDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(500_000)
}

/// One member's run: poll, produce each record's transform, end; until
/// `stop`. With `crash`, it stops mid-transaction and closes without ending.
struct Member {
    stop: Arc<AtomicBool>,
    crash: Arc<AtomicBool>,
    join: JoinHandle<()>,
}

fn start_member(
    c: &Cluster,
    txn_id: String,
    committed: Arc<AtomicU64>,
    aborted: Arc<AtomicU64>,
) -> Member {
    let stop = Arc::new(AtomicBool::new(false));
    let crash = Arc::new(AtomicBool::new(false));
    let b = support::fake_builder(c)
        .consumer_group(GROUP)
        .consume_topics([INPUT])
        .consume_reset_offset(Offset::new().at_start())
        .fetch_isolation_level(IsolationLevel::ReadCommitted)
        .balancers([range_balancer()])
        .session_timeout(Duration::from_secs(3))
        .heartbeat_interval(Duration::from_millis(200))
        .rebalance_timeout(Duration::from_secs(5))
        .fetch_max_wait(Duration::from_millis(100))
        .transactional_id(txn_id)
        .transaction_timeout(Duration::from_secs(2));
    let (st, cr) = (stop.clone(), crash.clone());
    let join = std::thread::spawn(move || {
        let s = GroupTransactSession::new(b).expect("session");
        while !st.load(Ordering::Acquire) {
            let fetches = s.poll_records_timeout(300, Duration::from_millis(100));
            if fetches.num_records() == 0 {
                continue;
            }
            if let Err(e) = s.begin() {
                panic!("begin: {e}");
            }
            fetches.each_record(|r| {
                let out = Record {
                    key: r.key.clone(),
                    value: r.value.clone(),
                    ..Record::default()
                }
                .with_topic(OUTPUT);
                s.produce(out, |_, _| {});
            });
            if cr.load(Ordering::Acquire) {
                // Closed without ending: the transaction stays open on the
                // coordinator until its timeout or the id's next begin.
                break;
            }
            match s.end(TransactionEndTry::Commit) {
                Ok(true) => {
                    committed.fetch_add(fetches.num_records() as u64, Ordering::Relaxed);
                }
                Ok(false) => {
                    aborted.fetch_add(1, Ordering::Relaxed);
                }
                Err(e) => panic!("end: {e}"),
            }
        }
        s.close();
    });
    Member { stop, crash, join }
}

/// Counts the output values one poll returns.
fn read(reader: &Client, seen: &mut [u8], distinct: &mut u64) {
    let f = reader.poll_fetches_timeout(Duration::from_millis(100));
    f.each_error(|t, p, e| panic!("reader {t}/{p}: {e}"));
    f.each_record(|r| {
        let v = r.value.as_deref().expect("value");
        let i = u64::from_be_bytes(v.try_into().expect("8 bytes")) as usize;
        if seen[i] == 0 {
            *distinct += 1;
        }
        seen[i] = seen[i].saturating_add(1);
    });
}

/// The committed offset of each input partition, from the fake's log.
fn committed_offsets(c: &Cluster) -> BTreeMap<i32, i64> {
    let mut out = BTreeMap::new();
    for cm in c.group_commits(GROUP) {
        if cm.topic == INPUT {
            out.insert(cm.partition, cm.offset);
        }
    }
    out
}

#[test]
fn exactly_once_etl_with_churn() {
    let n = records();
    let c = Cluster::builder()
        .brokers(3)
        .topic(INPUT, PARTS)
        .topic(OUTPUT, PARTS)
        .group_min_session_timeout(Duration::from_millis(500))
        .transaction_abort_interval(Duration::from_millis(100))
        .build()
        .unwrap();
    let p = support::fake_builder(&c).build().unwrap();
    let batch = (0..n).map(|i| {
        Record::from_key_value(
            Bytes::from(format!("k{}", i % 1000)),
            Bytes::from(i.to_be_bytes().to_vec()),
        )
        .with_topic(INPUT)
    });
    p.produce_batch(batch).first().unwrap();
    let ends: BTreeMap<i32, i64> = (0..PARTS)
        .map(|i| (i, c.end_offset(INPUT, i).unwrap()))
        .collect();

    let committed = Arc::new(AtomicU64::new(0));
    let aborted = Arc::new(AtomicU64::new(0));
    let mut gens = [0u32; 3];
    let id = |m: usize, g: u32| format!("etl-{m}-{g}");
    let mut members: Vec<Member> = (0..3)
        .map(|m| start_member(&c, id(m, 0), committed.clone(), aborted.clone()))
        .collect();

    // The reader counts every output value it sees.
    let reader = support::fake_builder(&c)
        .consume_topics([OUTPUT])
        .consume_reset_offset(Offset::new().at_start())
        .fetch_isolation_level(IsolationLevel::ReadCommitted)
        .fetch_max_wait(Duration::from_millis(100))
        .build()
        .unwrap();
    let mut seen = vec![0u8; n as usize];
    let mut distinct = 0u64;
    let start = Instant::now();
    let mut events = 0;
    let mut faults_done = false;
    let deadline = Instant::now() + Duration::from_secs(240);
    while Instant::now() < deadline {
        read(&reader, &mut seen, &mut distinct);
        if committed_offsets(&c) == ends && distinct == n {
            break;
        }
        // Churn paced by progress: event k once k/8 of the input committed.
        let due = committed.load(Ordering::Relaxed) >= (events as u64 + 1) * n / 8;
        if events < 6 && due {
            let m = events % 3;
            let old = members.remove(m);
            if events % 2 == 0 {
                old.crash.store(true, Ordering::Release);
            }
            old.stop.store(true, Ordering::Release);
            old.join.join().expect("member thread");
            // Every other restart reuses the id (its begin fences and aborts
            // what the closed one left open); the rest take a new id, whose
            // predecessor's transaction the coordinator aborts at its timeout.
            if events % 4 != 0 {
                gens[m] += 1;
            }
            members.insert(
                m,
                start_member(&c, id(m, gens[m]), committed.clone(), aborted.clone()),
            );
            events += 1;
        }
        if events >= 3 && !faults_done {
            faults_done = true;
            c.intercept(ApiKey::EndTxn, None, Some(3), |_| Action::ErrorCode(51));
            c.intercept(ApiKey::AddPartitionsToTxn, None, Some(3), |_| {
                Action::ErrorCode(51)
            });
            let key = id(1, gens[1]);
            let now = c.coordinator(CoordinatorType::Transaction, &key);
            c.move_coordinator(CoordinatorType::Transaction, &key, (now + 1) % 3)
                .unwrap();
        }
    }
    for m in &members {
        m.stop.store(true, Ordering::Release);
    }
    for m in members {
        m.join.join().expect("member thread");
    }
    // A late duplicate would show up now.
    for _ in 0..5 {
        read(&reader, &mut seen, &mut distinct);
    }
    let missing = seen.iter().filter(|x| **x == 0).count();
    let duplicated = seen.iter().filter(|x| **x > 1).count();
    println!(
        "eos: {n} records, {events} churn events, {} aborted ends, {} EndTxn requests, {:?}, {missing} missing, {duplicated} duplicated",
        aborted.load(Ordering::Relaxed),
        c.request_count(ApiKey::EndTxn),
        start.elapsed()
    );
    assert!(events >= 6, "only {events} churn events");
    assert!(faults_done);
    assert!(
        aborted.load(Ordering::Relaxed) > 0,
        "churn made some transactions abort"
    );
    assert_eq!(missing, 0, "missing transforms");
    assert_eq!(duplicated, 0, "duplicated transforms");
    assert_eq!(
        committed_offsets(&c),
        ends,
        "committed offsets are the input's end"
    );
    reader.close();
    p.close();
}
