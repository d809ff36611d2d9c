//! `examples/kcli`: produce and consume round trips, metadata, offsets and
//! groups, on the fake cluster run as its own process
//! (`examples/fake_cluster`) and against the real test broker; usage errors.
//!
//! The examples must be built first (see `support/examples.rs`):
//! `cargo build --examples && cargo test --test kcli`.
#![cfg(feature = "fake")]

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use support::examples::{example, run, Ran, Reap};

const LAYOUT: &str = r"%k\t%v\n";

/// `kcli args..` with `stdin`, against `seeds` (none: KAFKA_SEEDS removed too).
fn kcli(seeds: Option<&str>, args: &[&str], stdin: Option<Vec<u8>>) -> Ran {
    let mut cmd = Command::new(example("kcli"));
    cmd.args(args).env_remove("KAFKA_SEEDS");
    if let Some(s) = seeds {
        cmd.args(["--brokers", s]);
    }
    run(cmd, stdin, Duration::from_secs(120))
}

/// The fake cluster as its own process, with `topics` ("name:partitions").
struct FakeProcess {
    _child: Reap,
    seeds: String,
}

fn fake_process(topics: &[&str]) -> FakeProcess {
    let mut cmd = Command::new(example("fake_cluster"));
    cmd.args(["--brokers", "3"]);
    for t in topics {
        cmd.args(["--topic", t]);
    }
    let mut child = Reap(
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start examples/fake_cluster"),
    );
    let mut seeds = String::new();
    let out = child.0.stdout.take().expect("piped stdout");
    BufReader::new(out)
        .read_line(&mut seeds)
        .expect("the seed line");
    FakeProcess {
        _child: child,
        seeds: seeds.trim().to_string(),
    }
}

/// 100,000 lines of `key\tvalue\n`: empty keys and values, tabs inside
/// values, multi-byte UTF-8.
fn lines() -> Vec<u8> {
    let mut s = String::new();
    for i in 0..100_000 {
        match i % 10 {
            0 => s.push_str(&format!("\tno key {i}\n")),
            1 => s.push_str(&format!("key-{i}\t\n")),
            2 => s.push_str(&format!("key-{i}\tvalue\twith\ttabs {i}\n")),
            3 => s.push_str(&format!("clé-{i}\tvaleur é ü {i}\n")),
            _ => s.push_str(&format!("key-{i}\tvalue-{i}\n")),
        }
    }
    s.into_bytes()
}

/// Produces 100,000 lines with kcli and reads them back byte for byte
/// (`exact_end`: the brokers' ListOffsets LATEST is the high watermark).
fn round_trip(seeds: &str, topic: &str, exact_end: bool) {
    let input = lines();
    let produced = kcli(
        Some(seeds),
        &["produce", "-t", topic, "-f", LAYOUT],
        Some(input.clone()),
    );
    produced.assert_ok("kcli produce");
    assert!(
        produced.stderr.contains("100000 records"),
        "{}",
        produced.stderr
    );
    let consumed = kcli(
        Some(seeds),
        &["consume", "-t", topic, "-f", LAYOUT, "-e"],
        None,
    );
    consumed.assert_ok("kcli consume -e");
    assert_eq!(consumed.stdout.len(), input.len(), "bytes printed");
    assert!(consumed.stdout == input, "printed back byte-equal");
    // -c stops early; --from picks the start. Both an offset near the end
    // and -N need ListOffsets LATEST (the client clamps exact offsets to the
    // log), which the test broker gets low: test-broker.md item 2.
    let mut froms = vec![("50004", "value-50004\nvalue-50005\n")];
    if exact_end {
        froms.push(("99998", "value-99998\nvalue-99999\n"));
        froms.push(("-2", "value-99998\nvalue-99999\n"));
    }
    for (from, want) in froms {
        let two = kcli(
            Some(seeds),
            &["consume", "-t", topic, "-c", "2", "--from", from],
            None,
        );
        two.assert_ok("kcli consume -c 2");
        assert_eq!(two.out(), want, "--from {from}");
    }
}

/// Consumes `topic` in `group`, then checks groups, describe and offsets
/// (the end column only if `exact_end`: the test broker's ListOffsets
/// LATEST is the last batch's base offset + 1, test-broker.md item 2).
fn group_views(seeds: &str, topic: &str, group: &str, end: i64, exact_end: bool) {
    let member = kcli(
        Some(seeds),
        &["consume", "-t", topic, "-g", group, "-e", "-f", ""],
        None,
    );
    member.assert_ok("kcli consume --group -e");
    let groups = kcli(Some(seeds), &["groups"], None);
    groups.assert_ok("kcli groups");
    assert!(
        groups
            .out()
            .lines()
            .any(|l| l.starts_with(&format!("{group}\t"))),
        "{}",
        groups.out()
    );
    let described = kcli(Some(seeds), &["groups", "describe", group], None);
    described.assert_ok("kcli groups describe");
    assert!(
        described.out().contains(&format!("group {group}: state")),
        "{}",
        described.out()
    );
    let offsets = kcli(
        Some(seeds),
        &["offsets", "-t", topic, "--group", group],
        None,
    );
    offsets.assert_ok("kcli offsets --group");
    let row = format!("{topic}\t0\t0\t{end}\t{end}\t0");
    let committed = |l: &str| {
        l.starts_with(&format!("{topic}\t0\t0\t")) && l.split('\t').nth(4) == Some(&end.to_string())
    };
    let ok = |l: &str| if exact_end { l == row } else { committed(l) };
    assert!(
        offsets.out().lines().any(ok),
        "want {row:?} in\n{}",
        offsets.out()
    );
}

#[test]
fn produce_and_consume_round_trip_on_the_fake_cluster_process() {
    let fake = fake_process(&["kcli-rt:1"]);
    round_trip(&fake.seeds, "kcli-rt", true);
    group_views(&fake.seeds, "kcli-rt", "kcli-group", 100_000, true);
}

#[test]
fn metadata_on_the_fake_cluster_process() {
    let fake = fake_process(&["kcli-meta:3"]);
    let m = kcli(Some(&fake.seeds), &["metadata"], None);
    m.assert_ok("kcli metadata");
    let out = m.out();
    assert!(
        out.contains("brokers (3):") && out.contains("(controller)"),
        "{out}"
    );
    assert!(out.contains("kcli-meta: 3 partitions"), "{out}");
    assert!(out.contains("partition 2  leader"), "{out}");
    let one = kcli(Some(&fake.seeds), &["metadata", "-t", "kcli-meta"], None);
    one.assert_ok("kcli metadata -t");
    assert!(one.out().contains("topics (1):"), "{}", one.out());
}

#[test]
fn metadata_groups_and_a_round_trip_against_the_test_broker() {
    if !support::require_broker() {
        return;
    }
    let seeds = support::seeds().join(",");
    let topic = support::random_topic("kcli");
    let client = kafka_sync::Client::builder()
        .seed_brokers(support::seeds())
        .build()
        .unwrap();
    use kafka_sync::messages::{
        create_topics_request::CreatableTopic, CreateTopicsRequest, TopicName,
    };
    let new = CreatableTopic::default()
        .with_name(TopicName(topic.clone().into()))
        .with_num_partitions(1)
        .with_replication_factor(1);
    client
        .request(
            CreateTopicsRequest::default()
                .with_topics(vec![new])
                .with_timeout_ms(10_000),
        )
        .unwrap();
    client.close();
    let m = kcli(Some(&seeds), &["metadata"], None);
    m.assert_ok("kcli metadata");
    assert!(
        m.out().contains(&format!("{topic}: 1 partitions")),
        "{}",
        m.out()
    );
    round_trip(&seeds, &topic, false);
    group_views(
        &seeds,
        &topic,
        &support::random_topic("kcli-group"),
        100_000,
        false,
    );
}

#[test]
fn usage_errors_say_what_to_do() {
    let none = kcli(None, &["metadata"], None);
    assert_eq!(none.code, Some(1));
    assert!(
        none.stderr.contains("pass --brokers") && none.stderr.contains("KAFKA_SEEDS"),
        "{}",
        none.stderr
    );
    let bad = kcli(Some("127.0.0.1:1"), &["consume", "--nope"], None);
    assert_eq!(bad.code, Some(1));
    assert!(
        bad.stderr.contains("unknown flag \"--nope\"")
            && bad.stderr.contains("kcli consume --help"),
        "{}",
        bad.stderr
    );
    let sasl = kcli(
        Some("127.0.0.1:1"),
        &[
            "metadata",
            "--sasl-mechanism",
            "GSSAPI",
            "--sasl-user",
            "u",
            "--sasl-pass",
            "p",
        ],
        None,
    );
    assert!(
        sasl.stderr
            .contains("expected PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512"),
        "{}",
        sasl.stderr
    );
    for sub in ["produce", "consume", "metadata", "offsets", "groups"] {
        let help = kcli(None, &[sub, "--help"], None);
        help.assert_ok(sub);
        assert!(
            help.out().contains(&format!("Usage: kcli {sub}"))
                && help.out().contains("--sasl-mechanism"),
            "{}",
            help.out()
        );
    }
    let fake = kcli(None, &["metadata", "--fake"], None);
    fake.assert_ok("kcli metadata --fake");
    assert!(fake.out().contains("brokers (3):"), "{}", fake.out());
}
