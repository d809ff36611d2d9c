//! The metadata cache and its refresh thread (`ks-meta`).
//!
//! The cache holds brokers, the controller, the cluster id and the topics
//! the client uses. It is refreshed on a timer (`metadata_max_age`), on demand
//! (never more often than `metadata_min_age`), and whenever a request sees a
//! stale leader, an unknown topic or a dead broker. Each refresh replaces one
//! `Arc` snapshot, so readers never block writers for long.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{select, Receiver};
use parking_lot::{Mutex, RwLock};

use crate::broker::BrokerMetadata;
use crate::error::{ErrorCode, Result};
use crate::messages::{
    metadata_request::MetadataRequestTopic, MetadataRequest, MetadataResponse, TopicName,
};

/// One partition of a topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionMetadata {
    /// The partition number.
    pub partition: i32,
    /// The leader's node id (-1 when there is none).
    pub leader: i32,
    /// The leader epoch (-1 when the broker is too old to say).
    pub leader_epoch: i32,
    /// All replicas.
    pub replicas: Vec<i32>,
    /// In-sync replicas.
    pub isr: Vec<i32>,
    /// Offline replicas.
    pub offline_replicas: Vec<i32>,
    /// The partition's error, e.g. `LeaderNotAvailable`.
    pub error: Option<ErrorCode>,
}

/// One topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicMetadata {
    /// The topic's name.
    pub name: String,
    /// The topic id (all zero when the broker does not know topic ids).
    pub id: [u8; 16],
    /// Whether the topic is internal (`__consumer_offsets`).
    pub is_internal: bool,
    /// Partitions, ordered by number.
    pub partitions: Vec<PartitionMetadata>,
    /// The topic's error, e.g. `UnknownTopicOrPartition`.
    pub error: Option<ErrorCode>,
}

/// A point-in-time view of the cluster.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MetadataSnapshot {
    /// Brokers, ordered by node id.
    pub brokers: Vec<BrokerMetadata>,
    /// The controller's node id, if known.
    pub controller: Option<i32>,
    /// The cluster id, if the broker reported one.
    pub cluster_id: Option<String>,
    /// Topics by name.
    pub topics: HashMap<String, TopicMetadata>,
}

impl MetadataSnapshot {
    /// The leader of `topic`/`partition`, if known.
    pub fn leader(&self, topic: &str, partition: i32) -> Option<i32> {
        let t = self.topics.get(topic)?;
        t.partitions
            .iter()
            .find(|p| p.partition == partition)
            .map(|p| p.leader)
            .filter(|l| *l >= 0)
    }
}

/// Converts a Metadata response into brokers, controller, cluster id and topics.
pub(crate) fn snapshot_from(resp: &MetadataResponse) -> MetadataSnapshot {
    let mut brokers: Vec<BrokerMetadata> = resp
        .brokers
        .iter()
        .map(|b| BrokerMetadata {
            node_id: b.node_id.0,
            host: b.host.to_string(),
            port: b.port,
            rack: b.rack.as_ref().map(|r| r.to_string()),
        })
        .collect();
    brokers.sort_by_key(|b| b.node_id);
    let topics = resp
        .topics
        .iter()
        .filter_map(|t| {
            let name = t.name.as_ref()?.0.to_string();
            let mut partitions: Vec<PartitionMetadata> = t
                .partitions
                .iter()
                .map(|p| PartitionMetadata {
                    partition: p.partition_index,
                    leader: p.leader_id.0,
                    leader_epoch: p.leader_epoch,
                    replicas: p.replica_nodes.iter().map(|b| b.0).collect(),
                    isr: p.isr_nodes.iter().map(|b| b.0).collect(),
                    offline_replicas: p.offline_replicas.iter().map(|b| b.0).collect(),
                    error: ErrorCode::from_code(p.error_code),
                })
                .collect();
            partitions.sort_by_key(|p| p.partition);
            let tm = TopicMetadata {
                name: name.clone(),
                id: *t.topic_id.as_bytes(),
                is_internal: t.is_internal,
                partitions,
                error: ErrorCode::from_code(t.error_code),
            };
            Some((name, tm))
        })
        .collect();
    MetadataSnapshot {
        brokers,
        controller: Some(resp.controller_id.0).filter(|c| *c >= 0),
        cluster_id: resp.cluster_id.as_ref().map(|c| c.to_string()),
        topics,
    }
}

/// The cache: the current snapshot, the topics to track, refresh bookkeeping.
pub(crate) struct MetadataCache {
    snapshot: RwLock<Arc<MetadataSnapshot>>,
    tracked: Mutex<BTreeSet<String>>,
    /// Refreshes ask for every topic (regex consuming).
    all_topics: std::sync::atomic::AtomicBool,
    pub(crate) last_refresh: Mutex<Option<Instant>>,
}

impl MetadataCache {
    pub(crate) fn new() -> MetadataCache {
        MetadataCache {
            snapshot: RwLock::new(Arc::default()),
            tracked: Mutex::new(BTreeSet::new()),
            all_topics: std::sync::atomic::AtomicBool::new(false),
            last_refresh: Mutex::new(None),
        }
    }

    /// Adds topics to keep fresh; returns whether any was new.
    pub(crate) fn track<I: IntoIterator<Item = String>>(&self, topics: I) -> bool {
        let mut t = self.tracked.lock();
        let mut new = false;
        for topic in topics {
            new |= t.insert(topic);
        }
        new
    }

    /// Makes every refresh ask for all topics (kgo does this when consuming
    /// by regex).
    pub(crate) fn track_all(&self) {
        self.all_topics
            .store(true, std::sync::atomic::Ordering::Release);
    }

    fn tracks_all(&self) -> bool {
        self.all_topics.load(std::sync::atomic::Ordering::Acquire)
    }

    pub(crate) fn snapshot(&self) -> Arc<MetadataSnapshot> {
        self.snapshot.read().clone()
    }

    /// The Metadata request a refresh sends: the tracked topics (none means
    /// brokers only).
    pub(crate) fn refresh_request(&self, allow_auto_create: bool) -> MetadataRequest {
        if self.tracks_all() {
            return MetadataRequest::default()
                .with_topics(None)
                .with_allow_auto_topic_creation(false);
        }
        let topics = self
            .tracked
            .lock()
            .iter()
            .map(|t| MetadataRequestTopic::default().with_name(Some(TopicName(t.clone().into()))))
            .collect();
        MetadataRequest::default()
            .with_topics(Some(topics))
            .with_allow_auto_topic_creation(allow_auto_create)
    }

    /// Merges a response: brokers, controller and cluster id are replaced
    /// (when the response lists brokers); topics in it replace cached ones.
    /// `full` means the response answered every tracked topic.
    pub(crate) fn merge(&self, resp: &MetadataResponse, full: bool) -> Arc<MetadataSnapshot> {
        let fresh = snapshot_from(resp);
        let mut cur = self.snapshot.write();
        let mut next = (**cur).clone();
        if !fresh.brokers.is_empty() {
            next.brokers = fresh.brokers;
            next.controller = fresh.controller;
            if fresh.cluster_id.is_some() {
                next.cluster_id = fresh.cluster_id;
            }
        }
        if full && !self.tracks_all() {
            let tracked = self.tracked.lock();
            next.topics.retain(|name, _| tracked.contains(name));
        }
        for (name, t) in fresh.topics {
            next.topics.insert(name, t);
        }
        let next = Arc::new(next);
        *cur = next.clone();
        if full {
            *self.last_refresh.lock() = Some(Instant::now());
        }
        next
    }
}

/// Waits out the min age since the last refresh `l` (100 ms for urgent
/// triggers). An urgent trigger arriving while a normal one waits shortens
/// the wait at once: a moved leader is never held back by the 5 s min age.
/// Returns false when the client closed.
fn wait_min_age(
    triggers: &Receiver<bool>,
    closed: &Receiver<()>,
    l: Instant,
    min_age: Duration,
    mut urgent: bool,
) -> bool {
    loop {
        let floor = if urgent {
            min_age.min(URGENT_MIN_AGE)
        } else {
            min_age
        };
        let rest = floor.saturating_sub(l.elapsed());
        if rest.is_zero() {
            return true;
        }
        select! {
            recv(closed) -> _ => return false,
            recv(triggers) -> m => match m {
                Ok(u) => urgent |= u,
                Err(_) => return false,
            },
            default(rest) => return true,
        }
    }
}

/// The floor between refreshes asked for urgently (kgo: 100 ms).
const URGENT_MIN_AGE: Duration = Duration::from_millis(100);

/// The refresh loop of `ks-meta`: waits for a trigger, the max-age timer, or
/// close; honours the min age between refreshes.
pub(crate) fn refresh_loop(
    triggers: Receiver<bool>,
    closed: Receiver<()>,
    min_age: Duration,
    max_age: Duration,
    refresh: impl Fn() -> Result<()>,
) {
    // The cache fills on demand (routing, producers and consumers trigger a
    // refresh), so the first timed refresh comes one max age after start.
    let start = Instant::now();
    let mut last: Option<Instant> = None;
    let mut failures: u32 = 0;
    loop {
        let wait = match last {
            None => max_age.saturating_sub(start.elapsed()),
            Some(l) if failures > 0 => {
                crate::sync::backoff::default_backoff(failures).saturating_sub(l.elapsed())
            }
            Some(l) => max_age.saturating_sub(l.elapsed()),
        };
        select! {
            recv(closed) -> _ => return,
            recv(triggers) -> msg => {
                if msg.is_err() {
                    return;
                }
                // Coalesce a burst of triggers, and respect the min age
                // (100ms for urgent triggers: a new topic, a moved leader).
                let mut urgent = msg.unwrap_or(false);
                while let Ok(u) = triggers.try_recv() {
                    urgent |= u;
                }
                if let Some(l) = last {
                    if !wait_min_age(&triggers, &closed, l, min_age, urgent) {
                        return;
                    }
                }
            }
            default(wait) => {}
        }
        while triggers.try_recv().is_ok() {}
        last = Some(Instant::now());
        match refresh() {
            Ok(()) => failures = 0,
            Err(e) if e.is_client_closed() => return,
            Err(_) => failures = failures.saturating_add(1),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Runs the refresh loop on a thread with a min age of 5 s; returns the
    /// trigger sender, the close sender, the refresh count and the thread.
    fn start_loop() -> (
        crossbeam_channel::Sender<bool>,
        crossbeam_channel::Sender<()>,
        Arc<AtomicUsize>,
        std::thread::JoinHandle<()>,
    ) {
        let (tx, rx) = crossbeam_channel::bounded(8);
        let (close_tx, close_rx) = crossbeam_channel::bounded::<()>(0);
        let n = Arc::new(AtomicUsize::new(0));
        let n2 = n.clone();
        let j = std::thread::spawn(move || {
            refresh_loop(
                rx,
                close_rx,
                Duration::from_secs(5),
                Duration::from_secs(300),
                || {
                    n2.fetch_add(1, Ordering::SeqCst);
                    Ok(())
                },
            )
        });
        (tx, close_tx, n, j)
    }

    fn wait_for(n: &AtomicUsize, want: usize, within: Duration) -> bool {
        let end = Instant::now() + within;
        while Instant::now() < end {
            if n.load(Ordering::SeqCst) >= want {
                return true;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        false
    }

    #[test]
    fn an_urgent_trigger_cuts_short_a_normal_wait() {
        let (tx, close, n, j) = start_loop();
        tx.send(true).unwrap();
        assert!(wait_for(&n, 1, Duration::from_secs(2)), "first refresh");
        // A normal trigger now waits for the 5 s min age (give the loop a
        // moment to take it, so the urgent one below arrives mid-wait)...
        tx.send(false).unwrap();
        std::thread::sleep(Duration::from_millis(50));
        // ...until an urgent one arrives: refreshed within the 100 ms floor.
        let t = Instant::now();
        tx.send(true).unwrap();
        assert!(wait_for(&n, 2, Duration::from_secs(2)), "urgent refresh");
        assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());
        drop(close);
        j.join().unwrap();
    }

    #[test]
    fn normal_triggers_keep_the_min_age() {
        let (tx, close, n, j) = start_loop();
        tx.send(true).unwrap();
        assert!(wait_for(&n, 1, Duration::from_secs(2)));
        tx.send(false).unwrap();
        assert!(
            !wait_for(&n, 2, Duration::from_millis(500)),
            "refreshed before the min age"
        );
        drop(close);
        j.join().unwrap();
    }
}
