//! Leaders that move every 300 ms while connections drop: consuming and
//! producing 200,000 records stays within 3x of the fault-free time (and
//! under 5 s), losing, duplicating and reordering nothing. Moves must be
//! picked up through urgent metadata refreshes (at most every 100 ms), not
//! the 5 s min age, and at once from the KIP-951 leader hints that the
//! failed fetch or produce carries.
#![cfg(feature = "fake")]

mod support;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kafka_sync::fake::{Action, Cluster};
use kafka_sync::messages::ApiKey;
use kafka_sync::{Client, Offset};
use support::consume::{check_exactly, consume, produce};

const TOPIC: &str = "moves";
const N: u64 = 200_000;

/// The two tests time themselves: run them one at a time.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn cluster() -> Cluster {
    Cluster::builder()
        .brokers(3)
        .topic(TOPIC, 6)
        .build()
        .unwrap()
}

/// Moves one partition's leader every 300 ms (partitions in turn, brokers
/// in turn) until `stop`; returns the number of moves.
fn mover(c: &Cluster, stop: &AtomicBool) -> u32 {
    let mut moves = 0u32;
    let mut i = 0i32;
    while !stop.load(Ordering::Acquire) {
        let p = i % 6;
        let to = c.leader(TOPIC, p).map_or(0, |(l, _)| (l + 1) % 3);
        if c.move_leader(TOPIC, p, to).is_ok() {
            moves += 1;
        }
        i += 1;
        std::thread::sleep(Duration::from_millis(300));
    }
    moves
}

/// Runs `f` while leaders move; returns its result and the move count.
fn with_moves<T>(cluster: &Cluster, f: impl FnOnce() -> T) -> (T, u32) {
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        let h = s.spawn(|| mover(cluster, &stop));
        let out = f();
        stop.store(true, Ordering::Release);
        (out, h.join().unwrap_or(0))
    })
}

/// Drops every 5th request of `key`, counting them.
fn drop_every_fifth(cluster: &Cluster, key: ApiKey) -> Arc<AtomicU64> {
    let n = Arc::new(AtomicU64::new(0));
    let n2 = n.clone();
    cluster.intercept(key, None, None, move |_| {
        if n2.fetch_add(1, Ordering::AcqRel) % 5 == 4 {
            Action::DropConnection
        } else {
            Action::PassThrough
        }
    });
    n
}

fn consumer(cluster: &Cluster) -> Client {
    support::fake_builder(cluster)
        .consume_topics([TOPIC])
        .consume_reset_offset(Offset::new().at_start())
        .fetch_max_wait(Duration::from_millis(100))
        // Small fetches, so a run spans several leader moves.
        .fetch_max_partition_bytes(16 << 10)
        .metadata_min_age(Duration::from_secs(5))
        .build()
        .unwrap()
}

fn timed_consume(cluster: &Cluster) -> Duration {
    let c = consumer(cluster);
    let t = Instant::now();
    let (got, _) = consume(&c, N as usize, Duration::from_secs(30), |_| true);
    let took = t.elapsed();
    check_exactly(&got, &(0..N).collect::<BTreeSet<u64>>());
    c.close();
    took
}

#[test]
fn consuming_through_leader_moves_and_dropped_fetches() {
    let _one = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let cluster = cluster();
    let p = support::fake_builder(&cluster).build().unwrap();
    produce(&p, TOPIC, 0..N);
    p.close();
    let clean = timed_consume(&cluster);

    let drops = drop_every_fifth(&cluster, ApiKey::Fetch);
    let (faulty, moves) = with_moves(&cluster, || timed_consume(&cluster));
    eprintln!(
        "fault-free {clean:?}, with {moves} moves and {} fetches ({} dropped): {faulty:?}",
        drops.load(Ordering::Acquire),
        drops.load(Ordering::Acquire) / 5
    );
    assert!(moves > 0, "no leader moved during the run");
    assert!(faulty < Duration::from_secs(5), "took {faulty:?}");
    assert!(faulty <= bound(clean), "{faulty:?} vs {clean:?} fault-free");
}

/// The allowed time with faults, as the issue asks: 3x the fault-free
/// time (and under 5 s, checked above). Moves are followed from the KIP-951
/// leader hints of the failed fetch or produce, not from metadata.
fn bound(clean: Duration) -> Duration {
    clean * 3
}

fn timed_produce(cluster: &Cluster, from: u64) -> Duration {
    let p = support::fake_builder(cluster)
        .metadata_min_age(Duration::from_secs(5))
        // Small batches, so a run spans several leader moves.
        .producer_batch_max_bytes(16 << 10)
        .build()
        .unwrap();
    let t = Instant::now();
    produce(&p, TOPIC, from..from + N);
    let took = t.elapsed();
    p.close();
    took
}

#[test]
fn producing_through_leader_moves_and_dropped_produce_connections() {
    let _one = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let cluster = cluster();
    let clean = timed_produce(&cluster, 0);

    let drops = drop_every_fifth(&cluster, ApiKey::Produce);
    let (faulty, moves) = with_moves(&cluster, || timed_produce(&cluster, N));
    eprintln!(
        "fault-free {clean:?}, with {moves} moves and {} produce requests: {faulty:?}",
        drops.load(Ordering::Acquire)
    );
    assert!(moves > 0, "no leader moved during the run");
    assert!(faulty < Duration::from_secs(5), "took {faulty:?}");
    assert!(faulty <= bound(clean), "{faulty:?} vs {clean:?} fault-free");

    // Everything once, in order per partition (idempotent retries dedupe).
    let c = consumer(&cluster);
    let (got, _) = consume(&c, 2 * N as usize, Duration::from_secs(30), |_| true);
    check_exactly(&got, &(0..2 * N).collect::<BTreeSet<u64>>());
    c.close();
}
