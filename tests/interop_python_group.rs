//! One consumer group of two clients on the real test broker: our member and
//! a kafka-python member (PyPI), both with the range protocol. Together they
//! cover every partition exactly once, every record is consumed by exactly
//! one of them, and the offsets kafka-python commits are where our member
//! resumes once it leaves.
//!
//! `.ci/run` installs kafka-python; elsewhere the test is skipped (with a
//! note) when python3 or kafka-python is missing, and fails under CI.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kafka_sync::messages::{create_topics_request::CreatableTopic, CreateTopicsRequest, TopicName};
use kafka_sync::{range_balancer, Client, CompressionCodec, Offset};

const PARTS: i32 = 6;

const SCRIPT: &str = r#"
import sys, threading
from kafka import KafkaConsumer, ConsumerRebalanceListener
from kafka.coordinator.assignors.range import RangePartitionAssignor
bootstrap, topic, group = sys.argv[1], sys.argv[2], sys.argv[3]
class Listener(ConsumerRebalanceListener):
    def on_partitions_revoked(self, revoked):
        print("revoked", ",".join(str(tp.partition) for tp in sorted(revoked)), flush=True)
    def on_partitions_assigned(self, assigned):
        print("assigned", ",".join(str(tp.partition) for tp in sorted(assigned)), flush=True)
c = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False,
                  auto_offset_reset="earliest", partition_assignment_strategy=[RangePartitionAssignor],
                  session_timeout_ms=6000, heartbeat_interval_ms=500, max_poll_interval_ms=60000)
c.subscribe([topic], listener=Listener())
stop = threading.Event()
threading.Thread(target=lambda: (sys.stdin.readline(), stop.set()), daemon=True).start()
while not stop.is_set():
    for tp, rs in c.poll(timeout_ms=200).items():
        for r in rs:
            print("record", tp.partition, r.offset, flush=True)
c.commit()
c.close()
print("closed", flush=True)
"#;

/// What the kafka-python member reported.
#[derive(Default)]
struct Py {
    assigned: BTreeSet<i32>,
    records: Vec<(i32, i64)>,
    closed: bool,
}

fn has_kafka_python() -> bool {
    let ok = Command::new("python3")
        .args(["-c", "import kafka"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !ok {
        assert!(
            std::env::var_os("CI").is_none(),
            "kafka-python is missing under CI: .ci/run installs it"
        );
        eprintln!("SKIPPED: python3 with kafka-python is not installed (pip install kafka-python)");
    }
    ok
}

fn create_topic(c: &Client, topic: &str) {
    let t = CreatableTopic::default()
        .with_name(TopicName(topic.to_string().into()))
        .with_num_partitions(PARTS)
        .with_replication_factor(1);
    let req = CreateTopicsRequest::default()
        .with_topics(vec![t])
        .with_timeout_ms(10_000);
    assert_eq!(c.request(req).unwrap().topics[0].error_code, 0);
}

/// Reads the python member's lines into `py` on a thread of its own.
fn follow(stdout: std::process::ChildStdout, py: Arc<Mutex<Py>>) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let mut p = py.lock().unwrap();
            let mut words = line.split_whitespace();
            match words.next() {
                Some("assigned") => {
                    p.assigned = words
                        .next()
                        .unwrap_or("")
                        .split(',')
                        .filter_map(|x| x.parse().ok())
                        .collect();
                }
                Some("revoked") => p.assigned.clear(),
                Some("record") => {
                    let part = words.next().and_then(|x| x.parse().ok()).unwrap_or(-1);
                    let off = words.next().and_then(|x| x.parse().ok()).unwrap_or(-1);
                    p.records.push((part, off));
                }
                Some("closed") => p.closed = true,
                _ => {}
            }
        }
    })
}

#[test]
fn our_member_and_a_kafka_python_member_share_a_group() {
    if !support::require_broker() || !has_kafka_python() {
        return;
    }
    support::init_logging();
    let topic = support::random_topic("py-group");
    let group = support::random_topic("py-g");
    // Uncompressed: kafka-python reads snappy only with python-snappy installed.
    let p = Client::builder()
        .seed_brokers(support::seeds())
        .producer_batch_compression([CompressionCodec::none()])
        .build()
        .unwrap();
    create_topic(&p, &topic);

    let ours: Arc<Mutex<BTreeSet<i32>>> = Default::default();
    let (oa, or) = (ours.clone(), ours.clone());
    let a = Client::builder()
        .seed_brokers(support::seeds())
        .with_logger(kafka_sync::LogCrateLogger)
        .consumer_group(&group)
        .consume_topics([topic.as_str()])
        .consume_reset_offset(Offset::new().at_start())
        .balancers([range_balancer()])
        .session_timeout(Duration::from_secs(6))
        .heartbeat_interval(Duration::from_millis(500))
        .fetch_max_wait(Duration::from_millis(200))
        .disable_auto_commit()
        .on_partitions_assigned(move |_, m| oa.lock().unwrap().extend(m.values().flatten()))
        .on_partitions_revoked(move |c, m| {
            // Eager: everything is revoked on a rebalance; commit what we read.
            if let Err(e) = c.commit_uncommitted_offsets() {
                eprintln!("commit on revoke failed: {e}");
            }
            let mut o = or.lock().unwrap();
            for p in m.values().flatten() {
                o.remove(p);
            }
        })
        .build()
        .unwrap();

    let script = std::env::temp_dir().join(format!("ks-py-group-{}.py", std::process::id()));
    std::fs::write(&script, SCRIPT).unwrap();
    let mut child = Command::new("python3")
        .arg(&script)
        .args([&support::seeds()[0], &topic, &group])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let py = Arc::new(Mutex::new(Py::default()));
    let reader = follow(child.stdout.take().unwrap(), py.clone());

    // Wait for the split (without consuming on our side), then consume.
    let split = support::wait_until(Duration::from_secs(60), || {
        a.poll_fetches_timeout(Duration::from_millis(20));
        let (mine, theirs) = (
            ours.lock().unwrap().clone(),
            py.lock().unwrap().assigned.clone(),
        );
        !mine.is_empty() && !theirs.is_empty() && mine.len() + theirs.len() == PARTS as usize
    });
    let (mine, theirs) = (
        ours.lock().unwrap().clone(),
        py.lock().unwrap().assigned.clone(),
    );
    assert!(split, "no split: ours {mine:?}, kafka-python {theirs:?}");
    assert!(
        mine.is_disjoint(&theirs),
        "partitions owned twice: {mine:?} {theirs:?}"
    );
    // Records arrive only now, so each is read by its partition's owner.
    support::consume::produce_tansu_safe(&p, &topic, 0..600);
    let mut got: BTreeMap<(i32, i64), &str> = BTreeMap::new();
    let end = Instant::now() + Duration::from_secs(60);
    let mut py_seen = 0;
    while got.len() < 600 && Instant::now() < end {
        let fs = a.poll_fetches_timeout(Duration::from_millis(100));
        for r in fs.record_iter() {
            assert!(
                mine.contains(&r.partition),
                "we read partition {} we do not own",
                r.partition
            );
            assert!(
                got.insert((r.partition, r.offset), "ours").is_none(),
                "read twice"
            );
        }
        let pyl = py.lock().unwrap();
        for (part, off) in &pyl.records[py_seen..] {
            assert!(
                theirs.contains(part),
                "kafka-python read partition {part} it does not own"
            );
            assert!(
                got.insert((*part, *off), "python").is_none(),
                "read by both: {part}@{off}"
            );
        }
        py_seen = pyl.records.len();
    }
    assert_eq!(
        got.len(),
        600,
        "records consumed by the two members together ({} by us; ours {mine:?}, kafka-python's {theirs:?})",
        got.values().filter(|w| **w == "ours").count()
    );

    // kafka-python commits and leaves; we take its partitions from its commits.
    child.stdin.take().unwrap().write_all(b"stop\n").unwrap();
    assert!(
        child.wait().unwrap().success(),
        "kafka-python member failed"
    );
    reader.join().unwrap();
    assert!(py.lock().unwrap().closed);
    let _ = std::fs::remove_file(&script);
    support::consume::produce_tansu_safe(&p, &topic, 600..660);
    let mut after = BTreeSet::new();
    let end = Instant::now() + Duration::from_secs(60);
    while after.len() < 60 && Instant::now() < end {
        for r in a
            .poll_fetches_timeout(Duration::from_millis(100))
            .record_iter()
        {
            assert!(
                !got.contains_key(&(r.partition, r.offset)),
                "re-read {}@{} after kafka-python committed it",
                r.partition,
                r.offset
            );
            after.insert((r.partition, r.offset));
        }
    }
    assert_eq!(after.len(), 60, "new records after the takeover");
    assert_eq!(
        ours.lock().unwrap().len(),
        PARTS as usize,
        "we own every partition"
    );
    a.close();
    p.close();
}
