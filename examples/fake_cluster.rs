//! Runs the embedded fake cluster as a standalone process, for clients in
//! other languages or for benchmarks that should not share a process with
//! the broker.
//!
//! cargo run --release --example fake_cluster -- [--brokers 3] [--topic t:6 ...]
//!   [--benchmark-mode 100]
//!
//! Prints the seed addresses, then serves until its standard input closes
//! (or the process is killed).

use std::io::Read;

use kafka_sync::fake::{BenchmarkMode, Cluster};

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let mut b = Cluster::builder();
    while let Some(a) = args.next() {
        let v = args.next().unwrap_or_default();
        match a.as_str() {
            "--brokers" => b = b.brokers(v.parse().expect("--brokers N")),
            "--topic" => {
                let (name, parts) = v.split_once(':').unwrap_or((v.as_str(), "1"));
                b = b.topic(name, parts.parse().expect("--topic name:partitions"));
            }
            "--benchmark-mode" => {
                b = b.benchmark_mode(BenchmarkMode {
                    record_size: v.parse().expect("--benchmark-mode SIZE"),
                    records_per_batch: 1000,
                    ..BenchmarkMode::default()
                })
            }
            other => panic!("unknown flag {other}"),
        }
    }
    let cluster = b.build()?;
    println!("{}", cluster.seeds().join(","));
    // Serve until stdin closes.
    let mut sink = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut sink);
    cluster.close();
    Ok(())
}
