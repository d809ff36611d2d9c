//! Every example runs to completion: each built example is started as its
//! own process, on the embedded fake cluster (`KAFKA_SEEDS` removed) and,
//! for those that talk to brokers, against the real test broker too; each
//! must exit 0 within its timeout and print its expected line. `kcli` has
//! its own tests (`kcli.rs`).
//!
//! The examples must be built first (see `support/examples.rs`):
//! `cargo build --examples && cargo test --test examples_run`.
#![cfg(feature = "fake")]

mod support;

use std::process::Command;
use std::time::Duration;

use support::examples::{example, run, Ran};

/// Runs example `name` with `args`, on the fake cluster unless `seeds`.
fn run_example(name: &str, args: &[&str], seeds: Option<&str>) -> Ran {
    let mut cmd = Command::new(example(name));
    cmd.args(args).env_remove("KAFKA_SEEDS");
    if let Some(s) = seeds {
        cmd.env("KAFKA_SEEDS", s);
    }
    run(cmd, None, Duration::from_secs(120))
}

/// Asserts `name` exits 0 and prints a line containing `expect`.
fn check(name: &str, args: &[&str], expect: &str, seeds: Option<&str>) {
    let ran = run_example(name, args, seeds);
    ran.assert_ok(name);
    let out = ran.out();
    assert!(
        out.lines().any(|l| l.contains(expect)),
        "{name}: no line contains {expect:?}\n--- stdout\n{out}\n--- stderr\n{}",
        ran.stderr
    );
}

/// The fake cluster: no seeds.
fn fake() -> Option<Option<String>> {
    Some(None)
}

/// The test broker's seeds; `None` (skip) without a broker outside CI.
fn test_broker() -> Option<Option<String>> {
    support::require_broker().then(|| Some(support::seeds().join(",")))
}

/// One test per example in `$module`, each run where `$seeds` says.
macro_rules! examples {
    ($module:ident, $seeds:expr; $($test:ident: $name:literal $args:expr => $expect:literal;)*) => {
        mod $module {
            use super::*;
            $(
                #[test]
                fn $test() {
                    if let Some(seeds) = $seeds() {
                        check($name, $args, $expect, seeds.as_deref());
                    }
                }
            )*
        }
    };
}

examples! { on_the_fake_cluster, fake;
    quickstart: "quickstart" &[] => "the tour took";
    consume_direct: "consume_direct" &[] => "consumed 1000 records";
    consume_group: "consume_group" &[] => "committed offsets per partition";
    manual_commit: "manual_commit" &[] => "every record processed once";
    produce_sync: "produce_sync" &[] => "three records keyed order-7";
    produce_callbacks: "produce_callbacks" &[] => "callbacks ran for 1000 records";
    regex_consume: "regex_consume" &[] => "matched the metrics topics only";
    pause_resume: "pause_resume" &[] => "after resuming: 2000 orders, 2000 audit";
    tls_sasl: "tls_sasl" &[] => "a wrong password is refused";
    hooks_metrics: "hooks_metrics" &[] => "produced and consumed 10000 records";
    testing_with_fake: "testing_with_fake" &[] => "every order arrived exactly once";
    transactions: "transactions" &[] => "read_committed sees 3";
    eos_etl: "eos_etl" &[] => "0 duplicated, 0 missing";
    bench_produce: "bench" &["--records", "5000", "--size", "10"] => "RESULT client=kafka-sync mode=produce records=5000";
    bench_consume: "bench" &["--mode", "consume", "--records", "5000", "--size", "10"] => "RESULT client=kafka-sync mode=consume records=5000";
    fake_cluster: "fake_cluster" &["--brokers", "1"] => "127.0.0.1:";
}

// The examples that talk to brokers, against the real one (tls_sasl and
// testing_with_fake are fake-cluster only; bench is timed against it in
// BENCHMARKS.md, not here).
examples! { against_the_test_broker, test_broker;
    quickstart: "quickstart" &[] => "the tour took";
    consume_direct: "consume_direct" &[] => "consumed 1000 records";
    consume_group: "consume_group" &[] => "committed offsets per partition";
    manual_commit: "manual_commit" &[] => "every record processed once";
    produce_sync: "produce_sync" &[] => "three records keyed order-7";
    produce_callbacks: "produce_callbacks" &[] => "callbacks ran for 1000 records";
    regex_consume: "regex_consume" &[] => "matched the metrics topics only";
    pause_resume: "pause_resume" &[] => "after resuming: 2000 orders, 2000 audit";
    hooks_metrics: "hooks_metrics" &[] => "produced and consumed 10000 records";
    // Not `transactions`: tansu's Fetch never lists aborted transactions
    // (test-broker.md, read_committed item 1), so its read_committed reader
    // sees the aborted records and the example rightly fails; the real-broker
    // transaction test (tests/txn_real.rs) documents that bug.
    eos_etl: "eos_etl" &[] => "0 duplicated, 0 missing";
}

/// With `KAFKA_SEEDS` set, tls_sasl says why it does not run, and exits 0.
#[test]
fn tls_sasl_explains_why_it_skips_real_brokers() {
    let ran = run_example("tls_sasl", &[], Some("127.0.0.1:1"));
    ran.assert_ok("tls_sasl");
    assert!(
        ran.out()
            .contains("skipped: tls_sasl uses the test certificates"),
        "{}",
        ran.out()
    );
}
