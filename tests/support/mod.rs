//! Shared helpers for integration tests.
#![allow(dead_code)]

pub mod consume;
pub mod examples;
#[cfg(feature = "fake")]
pub mod fake_raw;
pub mod fetch;
pub mod kp_codec;
pub mod records;
pub mod rng;
pub mod script;
pub mod verify;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Once;
use std::time::{Duration, Instant};

/// Initialises env_logger once (RUST_LOG controls it).
pub fn init_logging() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let _ = env_logger::builder().is_test(true).try_init();
    });
}

/// The real test broker's address: `KAFKA_SEEDS`, default 127.0.0.1:9092.
pub fn seeds() -> Vec<String> {
    std::env::var("KAFKA_SEEDS")
        .unwrap_or_else(|_| "127.0.0.1:9092".to_string())
        .split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

/// Whether the real broker accepts connections. Under CI (`CI` set) a missing
/// broker fails the test; elsewhere the test is skipped with a loud note.
pub fn require_broker() -> bool {
    let addr = seeds()[0].clone();
    let ok = std::net::ToSocketAddrs::to_socket_addrs(&addr)
        .ok()
        .and_then(|mut a| a.next())
        .map(|a| std::net::TcpStream::connect_timeout(&a, Duration::from_secs(2)).is_ok())
        .unwrap_or(false);
    if !ok {
        if std::env::var_os("CI").is_some() {
            panic!("the test broker is not reachable at {addr}; CI must start it (.ci/test-broker.sh start)");
        }
        eprintln!("SKIPPED: no test broker at {addr}; run `.ci/test-broker.sh start` (under CI this fails)");
    }
    ok
}

/// A topic name unique to this process and call.
pub fn random_topic(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "{prefix}-{}-{}-{}",
        std::process::id(),
        nanos,
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// Polls `cond` every 10 ms until it holds or `timeout` passes; returns whether it held.
pub fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Names of this process's live threads (Linux: /proc/self/task/*/comm).
pub fn thread_names() -> Vec<String> {
    let mut out = Vec::new();
    if let Ok(dir) = std::fs::read_dir("/proc/self/task") {
        for e in dir.flatten() {
            if let Ok(name) = std::fs::read_to_string(e.path().join("comm")) {
                out.push(name.trim().to_string());
            }
        }
    }
    out
}

/// A client builder for the fake cluster `cluster` with the timings fake
/// tests share: 10 ms retry backoff, 50 ms metadata min age, logging
/// through the `log` crate (RUST_LOG).
#[cfg(feature = "fake")]
pub fn fake_builder(
    cluster: &kafka_sync::fake::Cluster,
) -> kafka_sync::ConfigBuilder<kafka_sync::Client> {
    init_logging();
    kafka_sync::Client::builder()
        .seed_brokers(cluster.seeds())
        .with_logger(kafka_sync::LogCrateLogger)
        .retry_backoff_fn(|_| Duration::from_millis(10))
        .metadata_min_age(Duration::from_millis(50))
}

/// Peak resident memory of this process, from /proc (VmHWM), in KiB (0 if
/// unreadable).
pub fn peak_rss_kib() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}
