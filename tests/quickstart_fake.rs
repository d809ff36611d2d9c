//! The acceptance of the fake cluster's Java-like validation: the fake
//! cluster as its own process (`examples/fake_cluster`) refuses what a Java
//! broker refuses, and the quickstart example, run as its own process with
//! `KAFKA_SEEDS` pointing at it, still succeeds.
//!
//! Both examples must be built: `cargo test` with no target filter builds
//! them, and CI's `.ci/run` runs `cargo build --examples` first; a targeted
//! run (`cargo test --test quickstart_fake`) needs `cargo build --examples`
//! before it. A missing example fails the test, it is never skipped.
#![cfg(feature = "fake")]

mod support;

use support::examples::{example, Reap};
use support::fake_raw::*;

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};
use std::time::Duration;

use kafka_sync::messages::ApiVersionsRequest;

#[test]
fn quickstart_succeeds_against_the_fake_cluster_process() {
    let mut fake = Reap(
        Command::new(example("fake_cluster"))
            .args(["--brokers", "3"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start examples/fake_cluster"),
    );
    let mut seeds = String::new();
    let mut out = BufReader::new(fake.0.stdout.take().expect("piped stdout"));
    out.read_line(&mut seeds).expect("the seed line");
    let seeds = seeds.trim().to_string();
    let first = seeds.split(',').next().expect("a seed").to_string();

    // Java's ApiVersionsRequest.isValid: an empty software name at v3.
    let mut c = Conn::connect(&first).expect("connect to the fake cluster");
    let refused = c.call(3, &ApiVersionsRequest::default()).unwrap();
    assert_eq!(refused.error_code, 42, "INVALID_REQUEST");
    assert_eq!(c.call(3, &api_versions_req()).unwrap().error_code, 0);

    let mut quickstart = Reap(
        Command::new(example("quickstart"))
            .env("KAFKA_SEEDS", &seeds)
            .stdout(Stdio::piped())
            .spawn()
            .expect("start examples/quickstart"),
    );
    let mut stdout = quickstart.0.stdout.take().expect("piped stdout");
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let code = quickstart.exit_code(Duration::from_secs(60));
    let printed = reader.join().unwrap_or_default();
    assert_eq!(
        code,
        Some(0),
        "quickstart's exit code; it printed:\n{printed}"
    );
    assert!(
        printed.contains(&format!("talking to the brokers at {seeds}")),
        "{printed}"
    );
    assert!(printed.contains("Created topic"), "{printed}");
    assert!(printed.contains("Closed the client"), "{printed}");

    // The fake cluster serves until its standard input closes.
    drop(fake.0.stdin.take());
    assert_eq!(fake.exit_code(Duration::from_secs(10)), Some(0));
}
