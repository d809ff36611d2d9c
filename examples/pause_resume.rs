//! Pausing and resuming fetching: backpressure for one topic while the
//! others keep flowing.
//!
//! The consumer reads `orders` and `audit`. It pauses `audit` (as if its
//! sink were slow), reads every order, then resumes `audit` and reads the
//! rest. While paused, a topic is not fetched; what was already buffered for
//! it is still returned by polls, as in kgo.
//!
//! `cargo run --example pause_resume` needs no broker: with `KAFKA_SEEDS`
//! unset it starts an in-process fake cluster of 3 brokers. With
//! `KAFKA_SEEDS=host:port,..` it talks to those brokers instead.

use std::any::Any;
use std::time::{Duration, Instant};

use kafka_sync::{Client, Offset, Record};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

const N: usize = 2000;

/// The seed brokers to use, and whatever must stay alive while we use them.
fn seeds(orders: &str, audit: &str) -> Result<(Vec<String>, Box<dyn Any>)> {
    let env = std::env::var("KAFKA_SEEDS").unwrap_or_default();
    if !env.trim().is_empty() {
        let seeds = env.split(',').map(|s| s.trim().to_string()).collect();
        return Ok((seeds, Box::new(())));
    }
    #[cfg(feature = "fake")]
    {
        let cluster = kafka_sync::fake::Cluster::builder()
            .brokers(3)
            .topic(orders, 3)
            .topic(audit, 3)
            .build()?;
        Ok((cluster.seeds(), Box::new(cluster)))
    }
    #[cfg(not(feature = "fake"))]
    Ok((vec!["127.0.0.1:9092".into()], Box::new(())))
}

/// Polls until `done` says so or 30 s pass; counts (orders, audit) polled.
fn poll_until(
    c: &Client,
    orders: &str,
    counts: &mut (usize, usize),
    done: impl Fn(&(usize, usize)) -> bool,
) {
    let end = Instant::now() + Duration::from_secs(30);
    while !done(counts) && Instant::now() < end {
        let fetches = c.poll_fetches_timeout(Duration::from_millis(200));
        if fetches.is_client_closed() {
            return;
        }
        fetches.each_error(|t, p, e| eprintln!("{t}/{p}: {e}"));
        for r in fetches.record_iter() {
            if r.topic == orders {
                counts.0 += 1;
            } else {
                counts.1 += 1;
            }
        }
    }
}

fn main() -> Result<()> {
    env_logger::init();
    // Topics of this run only, so reruns against a real broker start clean.
    let (orders, audit) = (
        format!("orders-{}", std::process::id()),
        format!("audit-{}", std::process::id()),
    );
    let (seeds, _cluster) = seeds(&orders, &audit)?;

    let producer = Client::builder()
        .seed_brokers(seeds.clone())
        .allow_auto_topic_creation(true)
        .build()?;
    let records = (0..N).flat_map(|i| {
        [
            Record::string(format!("order {i}")).with_topic(&orders),
            Record::string(format!("audit {i}")).with_topic(&audit),
        ]
    });
    if let Some(e) = producer.produce_sync(records).first_err() {
        return Err(format!("producing failed: {e}").into());
    }
    producer.close();
    println!("produced {N} records to each of {orders} and {audit}");

    let consumer = Client::builder()
        .seed_brokers(seeds)
        .consume_topics([&orders, &audit])
        .consume_reset_offset(Offset::new().at_start())
        // Small fetches, so that pausing shows before everything is buffered.
        .fetch_max_partition_bytes(4096)
        // A resumed topic joins the next fetch request; a short long-poll
        // (5 s by default) keeps that quick once the other topic is drained.
        .fetch_max_wait(Duration::from_millis(200))
        .build()?;
    let paused = consumer.pause_fetch_topics([audit.as_str()]);
    println!("paused {paused:?}");

    let mut counts = (0, 0);
    poll_until(&consumer, &orders, &mut counts, |c| c.0 >= N);
    println!(
        "while {audit} was paused: {} orders, {} audit records (fetched before the pause)",
        counts.0, counts.1
    );

    consumer.resume_fetch_topics([audit.as_str()]);
    poll_until(&consumer, &orders, &mut counts, |c| c.1 >= N);
    println!(
        "after resuming: {} orders, {} audit records",
        counts.0, counts.1
    );
    consumer.close();
    if counts != (N, N) {
        return Err(format!("expected {N} of each, got {counts:?}").into());
    }
    Ok(())
}
