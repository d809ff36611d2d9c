//! Testing your own code against the embedded fake cluster.
//!
//! `archive_orders` stands for your application code: it produces orders
//! and reports where they landed. The tests at the bottom (`#[cfg(test)]`)
//! run it against a fake cluster, once as is and once while the brokers
//! misbehave (an error on the first produce, a dropped connection), and
//! check every order arrives exactly once. `main` runs the same scenario.
//!
//! ```text
//! cargo run --example testing_with_fake     # the scenario, printed
//! cargo test --example testing_with_fake    # the same, as tests
//! ```
//!
//! No broker is needed either way (`KAFKA_SEEDS` is not read: a fake
//! cluster is the point). In your crate, put such tests under `tests/`
//! with kafka-sync as a dev-dependency (`fake` is a default feature).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use kafka_sync::fake::{Action, Cluster};
use kafka_sync::{Client, ErrorCode, Offset, Record};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// Application code under test: writes `orders` to `topic`, returns how
/// many landed on each partition.
pub fn archive_orders(
    client: &Client,
    topic: &str,
    orders: &[String],
) -> Result<BTreeMap<i32, usize>> {
    let records = orders
        .iter()
        .map(|o| Record::key_string(o.clone(), "archived").with_topic(topic));
    let mut per_partition = BTreeMap::new();
    for r in client.produce_sync(records) {
        if let Some(e) = r.err {
            return Err(format!("order {:?} was not archived: {e}", r.record.key).into());
        }
        *per_partition.entry(r.record.partition).or_default() += 1;
    }
    Ok(per_partition)
}

/// Reads `topic` from the start until `n` records (or 10 s); their keys.
fn read_keys(seeds: Vec<String>, topic: &str, n: usize) -> Result<Vec<String>> {
    let c = Client::builder()
        .seed_brokers(seeds)
        .consume_topics([topic])
        .consume_reset_offset(Offset::new().at_start())
        .build()?;
    let (mut keys, end) = (Vec::new(), Instant::now() + Duration::from_secs(10));
    while keys.len() < n && Instant::now() < end {
        let fetches = c.poll_fetches_timeout(Duration::from_millis(200));
        for r in fetches.record_iter() {
            keys.push(String::from_utf8_lossy(r.key.as_deref().unwrap_or_default()).into_owned());
        }
    }
    c.close();
    Ok(keys)
}

/// The scenario: archive 500 orders on a 3-broker cluster, with faults if
/// asked; returns (per-partition counts, keys read back).
fn scenario(faults: bool) -> Result<(BTreeMap<i32, usize>, Vec<String>)> {
    let cluster = Cluster::builder().brokers(3).topic("orders", 3).build()?;
    if faults {
        // The first Produce to any broker fails with a retriable error, and
        // the second one loses its connection: the client retries both.
        let code = ErrorCode::NotLeaderOrFollower.code();
        cluster.intercept(0i16, None, Some(1), move |_| Action::ErrorCode(code));
        cluster.intercept(0i16, None, Some(1), |_| Action::DropConnection);
    }
    let client = Client::builder()
        .seed_brokers(cluster.seeds())
        .retry_backoff_fn(|_| Duration::from_millis(10))
        .build()?;
    let orders: Vec<String> = (0..500).map(|i| format!("order-{i:03}")).collect();
    let placed = archive_orders(&client, "orders", &orders)?;
    client.close();
    let keys = read_keys(cluster.seeds(), "orders", orders.len())?;
    Ok((placed, keys))
}

fn main() -> Result<()> {
    env_logger::init();
    for faults in [false, true] {
        let (placed, mut keys) = scenario(faults)?;
        let read = keys.len();
        keys.sort();
        keys.dedup();
        println!(
            "faults={faults}: archived per partition {placed:?}; read back {read} records, {} distinct orders",
            keys.len()
        );
        if read != 500 || keys.len() != 500 {
            return Err(format!("faults={faults}: expected 500 distinct orders once each").into());
        }
    }
    println!("ok: every order arrived exactly once, with and without faults");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exactly_once(faults: bool) {
        let (placed, mut keys) = scenario(faults).expect("the scenario runs");
        assert_eq!(placed.values().sum::<usize>(), 500);
        assert_eq!(keys.len(), 500, "no duplicates, nothing missing");
        keys.sort();
        keys.dedup();
        assert_eq!(keys.len(), 500);
    }

    #[test]
    fn every_order_is_archived_once() {
        exactly_once(false);
    }

    #[test]
    fn every_order_is_archived_once_despite_broker_faults() {
        exactly_once(true);
    }
}
