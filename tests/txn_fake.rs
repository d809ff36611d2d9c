//! The transactional producer on the fake cluster: commit and abort seen
//! through read_committed, misuse errors, fencing, the coordinator's
//! timeout, a failed record refusing the commit, CONCURRENT_TRANSACTIONS
//! and a coordinator move retried, and control batches.
#![cfg(feature = "fake")]

mod support;

use std::time::{Duration, Instant};

use kafka_sync::fake::{Action, Cluster, CoordinatorType, TxnState};
use kafka_sync::messages::ApiKey;
use kafka_sync::{
    Client, ConfigBuilder, Error, ErrorCode, IsolationLevel, Offset, Record, TransactionEndTry,
};

const TOPIC: &str = "t";

fn cluster() -> Cluster {
    Cluster::builder()
        .brokers(3)
        .topic(TOPIC, 3)
        .transaction_abort_interval(Duration::from_millis(50))
        .build()
        .unwrap()
}

fn txn_client(c: &Cluster, id: &str) -> ConfigBuilder<Client> {
    support::fake_builder(c)
        .transactional_id(id)
        .transaction_timeout(Duration::from_secs(10))
}

fn rec(v: &str) -> Record {
    Record::string(v.to_string()).with_topic(TOPIC)
}

/// Every value of the topic visible at `level`, sorted; waits until `want`
/// values were read or 10 s passed.
fn read(
    c: &Cluster,
    level: IsolationLevel,
    want: usize,
    control: bool,
) -> Vec<(String, bool, bool)> {
    let r = support::fake_builder(c)
        .consume_topics([TOPIC])
        .consume_reset_offset(Offset::new().at_start())
        .fetch_isolation_level(level)
        .keep_control_records(control)
        .fetch_max_wait(Duration::from_millis(50))
        .build()
        .unwrap();
    let mut got = Vec::new();
    let end = Instant::now() + Duration::from_secs(10);
    while got.len() < want && Instant::now() < end {
        let f = r.poll_fetches_timeout(Duration::from_millis(100));
        f.each_error(|t, p, e| panic!("{t}/{p}: {e}"));
        f.each_record(|x| {
            let v = String::from_utf8_lossy(x.value.as_deref().unwrap_or_default()).into_owned();
            got.push((v, x.attrs.is_transactional(), x.attrs.is_control()));
        });
    }
    // Nothing more arrives (a read past `want` would show extra records).
    let f = r.poll_fetches_timeout(Duration::from_millis(200));
    f.each_record(|x| {
        let v = String::from_utf8_lossy(x.value.as_deref().unwrap_or_default()).into_owned();
        got.push((v, x.attrs.is_transactional(), x.attrs.is_control()));
    });
    r.close();
    got.sort();
    got
}

fn values(v: &[(String, bool, bool)]) -> Vec<&str> {
    v.iter().filter(|x| !x.2).map(|x| x.0.as_str()).collect()
}

#[test]
fn commit_and_abort_through_read_committed() {
    let c = cluster();
    let p = txn_client(&c, "txn-a").build().unwrap();
    p.begin_transaction().unwrap();
    p.produce_sync([rec("c1"), rec("c2"), rec("c3")])
        .first()
        .unwrap();
    p.end_transaction(TransactionEndTry::Commit).unwrap();
    p.begin_transaction().unwrap();
    p.produce_sync([rec("a1"), rec("a2")]).first().unwrap();
    // While open, read_committed stops at the last stable offset.
    let lso: Vec<_> = (0..3)
        .filter_map(|i| c.last_stable_offset(TOPIC, i))
        .collect();
    let ends: Vec<_> = (0..3).filter_map(|i| c.end_offset(TOPIC, i)).collect();
    assert_ne!(
        lso, ends,
        "an open transaction holds some partition's LSO below its end"
    );
    p.end_transaction(TransactionEndTry::Abort).unwrap();

    let committed = read(&c, IsolationLevel::ReadCommitted, 3, false);
    assert_eq!(values(&committed), ["c1", "c2", "c3"]);
    assert!(
        committed.iter().all(|x| x.1),
        "records carry the transactional attribute"
    );
    let all = read(&c, IsolationLevel::ReadUncommitted, 5, false);
    assert_eq!(values(&all), ["a1", "a2", "c1", "c2", "c3"]);
    // Each transaction left one control batch per partition it touched.
    let with_control = read(&c, IsolationLevel::ReadUncommitted, 7, true);
    let markers = with_control.iter().filter(|x| x.2).count();
    assert!(markers >= 2, "control records kept: {with_control:?}");
    let snap = c.transaction("txn-a").unwrap();
    assert_eq!(snap.state, TxnState::CompleteAbort);
    for i in 0..3 {
        assert_eq!(c.last_stable_offset(TOPIC, i), c.end_offset(TOPIC, i));
    }
    p.close();
}

#[test]
fn misuse_is_a_clear_error() {
    let c = cluster();
    let err = support::fake_builder(&c)
        .transactional_id("x")
        .disable_idempotent_write(true)
        .build()
        .expect_err("transactions need idempotence");
    assert!(err.to_string().contains("transactional_id"), "{err}");

    let plain = support::fake_builder(&c).build().unwrap();
    assert!(matches!(
        plain.begin_transaction(),
        Err(Error::Transaction(_))
    ));

    let p = txn_client(&c, "txn-misuse").build().unwrap();
    let r = p.produce_sync([rec("outside")]);
    assert!(
        matches!(r.first(), Err(Error::NotInTransaction)),
        "{:?}",
        r.first()
    );
    // Ending without a transaction does nothing.
    p.end_transaction(TransactionEndTry::Commit).unwrap();
    p.begin_transaction().unwrap();
    assert!(matches!(p.begin_transaction(), Err(Error::Transaction(_))));
    // A transaction with nothing in it ends without a request.
    let before = c.request_count(ApiKey::EndTxn);
    p.end_transaction(TransactionEndTry::Commit).unwrap();
    assert_eq!(c.request_count(ApiKey::EndTxn), before);
    p.close();
}

#[test]
fn a_second_client_fences_the_first() {
    let c = cluster();
    let first = txn_client(&c, "txn-fence").build().unwrap();
    first.begin_transaction().unwrap();
    first.produce_sync([rec("zombie")]).first().unwrap();
    let epoch = c.transaction("txn-fence").unwrap().producer_epoch;

    let second = txn_client(&c, "txn-fence").build().unwrap();
    second.begin_transaction().unwrap();
    assert!(c.transaction("txn-fence").unwrap().producer_epoch > epoch);
    second.produce_sync([rec("winner")]).first().unwrap();
    second.end_transaction(TransactionEndTry::Commit).unwrap();

    // The fenced client's next call fails fatally.
    let r = first.end_transaction(TransactionEndTry::Commit);
    let code = r.as_ref().err().and_then(Error::kafka_code);
    assert!(
        matches!(
            code,
            Some(ErrorCode::ProducerFenced | ErrorCode::InvalidProducerEpoch)
        ),
        "{r:?}"
    );
    assert!(r.unwrap_err().is_fatal());
    assert!(first.begin_transaction().is_err(), "fenced for good");
    let seen = read(&c, IsolationLevel::ReadCommitted, 1, false);
    assert_eq!(
        values(&seen),
        ["winner"],
        "the fenced transaction never shows"
    );
    first.close();
    second.close();
}

#[test]
fn the_coordinator_aborts_a_transaction_past_its_timeout() {
    let c = cluster();
    let p = support::fake_builder(&c)
        .transactional_id("txn-timeout")
        .transaction_timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    p.begin_transaction().unwrap();
    p.produce_sync([rec("late")]).first().unwrap();
    assert!(support::wait_until(Duration::from_secs(10), || {
        c.transaction("txn-timeout")
            .is_some_and(|s| s.state == TxnState::CompleteAbort)
    }));
    let r = p.end_transaction(TransactionEndTry::Commit);
    assert!(
        r.is_err(),
        "a commit after the coordinator aborted fails: {r:?}"
    );
    let seen = read(&c, IsolationLevel::ReadCommitted, 0, false);
    assert!(values(&seen).is_empty(), "{seen:?}");
    p.close();
}

#[test]
fn a_failed_record_refuses_the_commit_until_aborted() {
    let c = cluster();
    let p = txn_client(&c, "txn-fail").build().unwrap();
    p.begin_transaction().unwrap();
    // MESSAGE_TOO_LARGE is final: the record fails.
    c.intercept(ApiKey::Produce, None, Some(1), |_| Action::ErrorCode(10));
    let r = p.produce_sync([rec("bad")]);
    assert!(r.first().is_err());
    p.produce_sync([rec("doomed")]).first().ok();
    let e = p.end_transaction(TransactionEndTry::Commit).unwrap_err();
    assert_eq!(
        e.kafka_code(),
        Some(ErrorCode::OperationNotAttempted),
        "{e}"
    );
    p.end_transaction(TransactionEndTry::Abort).unwrap();
    // The next transaction starts clean (after an epoch bump) and commits.
    p.begin_transaction().unwrap();
    p.produce_sync([rec("good")]).first().unwrap();
    p.end_transaction(TransactionEndTry::Commit).unwrap();
    let seen = read(&c, IsolationLevel::ReadCommitted, 1, false);
    assert_eq!(values(&seen), ["good"]);
    p.close();
}

#[test]
fn concurrent_transactions_and_coordinator_moves_are_retried() {
    let c = cluster();
    let p = txn_client(&c, "txn-retry").build().unwrap();
    for round in 0..3 {
        p.begin_transaction().unwrap();
        c.intercept(ApiKey::AddPartitionsToTxn, None, Some(2), |_| {
            Action::ErrorCode(51)
        });
        c.intercept(ApiKey::EndTxn, None, Some(2), |_| Action::ErrorCode(51));
        p.produce_sync([rec(&format!("r{round}"))]).first().unwrap();
        if round == 1 {
            let now = c.coordinator(CoordinatorType::Transaction, "txn-retry");
            c.move_coordinator(CoordinatorType::Transaction, "txn-retry", (now + 1) % 3)
                .unwrap();
        }
        p.end_transaction(TransactionEndTry::Commit).unwrap();
    }
    let seen = read(&c, IsolationLevel::ReadCommitted, 3, false);
    assert_eq!(values(&seen), ["r0", "r1", "r2"]);
    p.close();
}

#[test]
fn end_transaction_wakes_on_close() {
    let c = cluster();
    let p = txn_client(&c, "txn-close").build().unwrap();
    p.begin_transaction().unwrap();
    p.produce_sync([rec("x")]).first().unwrap();
    c.intercept(ApiKey::EndTxn, None, None, |_| Action::ErrorCode(51));
    let p2 = p.clone();
    let t = std::thread::spawn(move || p2.end_transaction(TransactionEndTry::Commit));
    assert!(support::wait_until(Duration::from_secs(5), || {
        c.request_count(ApiKey::EndTxn) >= 2
    }));
    let start = Instant::now();
    p.close();
    let r = t.join().unwrap();
    assert!(r.is_err(), "{r:?}");
    assert!(start.elapsed() < Duration::from_secs(2));
}
