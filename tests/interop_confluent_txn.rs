//! Another client judges our transactions: with the fake cluster running as
//! its own process (`examples/fake_cluster`), we commit some transactions
//! and abort others, and a confluent-kafka (librdkafka, from PyPI) consumer
//! with `isolation.level=read_committed` must read exactly the committed
//! records: the markers, the last stable offset and the aborted list as
//! librdkafka understands them.
//!
//! `.ci/run` installs confluent-kafka and builds the examples; elsewhere the
//! test is skipped with a note when confluent-kafka is missing, and fails
//! under CI.
#![cfg(feature = "fake")]

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use kafka_sync::{Client, Record, TransactionEndTry};
use support::examples::{example, Reap};

const TOPIC: &str = "judged";

/// Reads the topic from the start with read_committed until `want` values
/// or 30 s, then prints one value per line.
const CONSUMER: &str = r#"
import sys, time
from confluent_kafka import Consumer
want = int(sys.argv[2])
c = Consumer({"bootstrap.servers": sys.argv[1], "group.id": "judge",
              "auto.offset.reset": "earliest", "isolation.level": "read_committed",
              "enable.auto.commit": False})
c.subscribe([sys.argv[3]])
got = []
end = time.time() + 30
while time.time() < end and len(got) < want:
    m = c.poll(0.2)
    if m is None:
        continue
    if m.error():
        raise SystemExit(str(m.error()))
    got.append(m.value().decode())
# Anything more (an aborted record) would arrive within this extra second.
end = time.time() + 1
while time.time() < end:
    m = c.poll(0.2)
    if m is not None and not m.error():
        got.append(m.value().decode())
c.close()
for v in got:
    print(v)
"#;

fn has_confluent() -> bool {
    let ok = Command::new("python3")
        .args(["-c", "import confluent_kafka"])
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        if std::env::var_os("CI").is_some() {
            panic!("confluent-kafka is missing under CI: .ci/run installs it");
        }
        eprintln!(
            "SKIPPED: python3 with confluent-kafka is not installed (pip install confluent-kafka)"
        );
    }
    ok
}

#[test]
fn librdkafka_read_committed_sees_exactly_our_committed_records() {
    if !has_confluent() {
        return;
    }
    let mut fake = Reap(
        Command::new(example("fake_cluster"))
            .args(["--brokers", "3", "--topic", &format!("{TOPIC}:3")])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start examples/fake_cluster"),
    );
    let mut seeds = String::new();
    BufReader::new(fake.0.stdout.take().expect("piped stdout"))
        .read_line(&mut seeds)
        .expect("the seed line");
    let seeds = seeds.trim().to_string();

    let p = Client::builder()
        .seed_brokers(seeds.split(',').map(str::to_string))
        .transactional_id("judged-producer")
        .build()
        .unwrap();
    let mut committed = Vec::new();
    for t in 0..6 {
        p.begin_transaction().unwrap();
        let values: Vec<String> = (0..50).map(|i| format!("t{t}-r{i}")).collect();
        let recs = values
            .iter()
            .map(|v| Record::string(v.clone()).with_topic(TOPIC));
        p.produce_sync(recs).first().unwrap();
        if t % 2 == 0 {
            p.end_transaction(TransactionEndTry::Commit).unwrap();
            committed.extend(values);
        } else {
            p.end_transaction(TransactionEndTry::Abort).unwrap();
        }
    }
    p.close();

    let first = seeds.split(',').next().unwrap().to_string();
    let ran = support::examples::run(
        {
            let mut c = Command::new("python3");
            c.args(["-c", CONSUMER, &first, &committed.len().to_string(), TOPIC]);
            c
        },
        None,
        Duration::from_secs(60),
    );
    ran.assert_ok("the confluent-kafka consumer");
    let mut got: Vec<String> = ran.out().lines().map(str::to_string).collect();
    got.sort();
    committed.sort();
    assert_eq!(
        got.len(),
        committed.len(),
        "librdkafka read {} records",
        got.len()
    );
    assert_eq!(
        got, committed,
        "exactly the committed records, none of the aborted"
    );
}
