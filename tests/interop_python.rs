//! Records written by another client (kafka-python, from PyPI) into the real
//! test broker, read by the crate's consumer: keys, values, headers and
//! timestamps as that client wrote them, in order per partition.
//!
//! `.ci/run` installs kafka-python; elsewhere the test is skipped (with a
//! note) when python3 or kafka-python is missing, and fails under CI.

mod support;

use std::process::Command;
use std::time::Duration;

use kafka_sync::Client;

const SCRIPT: &str = r#"
import sys
from kafka import KafkaProducer
from kafka.admin import KafkaAdminClient, NewTopic
bootstrap, topic, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
admin = KafkaAdminClient(bootstrap_servers=bootstrap)
admin.create_topics([NewTopic(topic, num_partitions=3, replication_factor=1)])
admin.close()
p = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5, compression_type="gzip")
for i in range(n):
    p.send(topic, key=f"py-key-{i % 7}".encode(), value=f"py-value-{i:06d}".encode(),
           headers=[("origin", b"kafka-python"), ("n", str(i).encode())],
           timestamp_ms=1_700_000_000_000 + i, partition=i % 3)
p.flush()
p.close()
print("produced", n)
"#;

#[test]
fn consumes_what_kafka_python_produced() {
    if !support::require_broker() {
        return;
    }
    let has_client = Command::new("python3")
        .args(["-c", "import kafka"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !has_client {
        assert!(
            std::env::var_os("CI").is_none(),
            "kafka-python is missing under CI: .ci/run installs it"
        );
        eprintln!("SKIPPED: python3 with kafka-python is not installed (pip install kafka-python)");
        return;
    }
    let topic = support::random_topic("py-interop");
    let n = 3_000u64;
    let script = std::env::temp_dir().join(format!("ks-interop-{}.py", std::process::id()));
    std::fs::write(&script, SCRIPT).unwrap();
    let out = Command::new("python3")
        .arg(&script)
        .arg(&support::seeds()[0])
        .arg(&topic)
        .arg(n.to_string())
        .output()
        .unwrap();
    let _ = std::fs::remove_file(&script);
    assert!(
        out.status.success(),
        "kafka-python failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    let c = Client::builder()
        .seed_brokers(support::seeds())
        .consume_topics([topic.as_str()])
        .build()
        .unwrap();
    let mut next = [0u64; 3];
    let mut got = 0u64;
    let end = std::time::Instant::now() + Duration::from_secs(30);
    while got < n && std::time::Instant::now() < end {
        let fetches = c.poll_fetches_timeout(Duration::from_secs(2));
        fetches.each_error(|t, p, e| panic!("{t}/{p}: {e}"));
        for r in fetches.record_iter() {
            let p = r.partition as usize;
            let i = next[p] * 3 + p as u64;
            assert_eq!(
                r.key.as_deref(),
                Some(format!("py-key-{}", i % 7).as_bytes()),
                "key of {i}"
            );
            assert_eq!(
                r.value.as_deref(),
                Some(format!("py-value-{i:06}").as_bytes()),
                "value of {i}"
            );
            assert_eq!(
                r.timestamp,
                1_700_000_000_000 + i as i64,
                "timestamp of {i}"
            );
            assert_eq!(r.headers.len(), 2);
            assert_eq!(
                (r.headers[0].key.as_str(), r.headers[0].value.as_deref()),
                ("origin", Some(&b"kafka-python"[..]))
            );
            assert_eq!(
                r.headers[1].value.as_deref(),
                Some(i.to_string().as_bytes())
            );
            assert_eq!(r.offset, next[p] as i64, "offsets are dense");
            assert_eq!(
                r.attrs.compression_type(),
                1,
                "kafka-python wrote gzip batches"
            );
            next[p] += 1;
            got += 1;
        }
    }
    assert_eq!(got, n, "per partition: {next:?}");
    c.close();
}
