//! The cluster core: brokers by id, request routing (controller,
//! coordinators, sharded requests), retries and backoff, the metadata cache
//! and its refresh thread, and the listeners through which the engines
//! learn of metadata changes.
//!
//! ```text
//!   engines (producer, consumer, ...)         client facade
//!            │ Arc<Cluster>                       │ Arc<Cluster>
//!            ▼                                    ▼
//!   Cluster ── brokers: seeds + discovered ──► BrokerHandle (ks-io-<id>)
//!           ── metadata cache ◄── ks-meta refresh loop (triggers, max age)
//!           ── coordinators cache, retry loop, routing, sharding
//!           ── listeners (Weak): told of every merged Metadata response
//! ```
//!
//! The cluster knows nothing of producer or consumer state: engines register
//! a [`MetadataListener`] and hold an `Arc<Cluster>`; the cluster holds them
//! only weakly.
//!
//! Lock order: `brokers` before any broker's internal locks; the metadata
//! cache's locks and `listeners` are leaves. No lock is held while waiting
//! on a broker or calling a listener.

mod route;
pub(crate) mod settings;
mod shard;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use parking_lot::{Mutex, RwLock};

use crate::broker::{BrokerHandle, BrokerMetadata};
use crate::error::{Error, Result, TimeoutKind};
use crate::logger::klog;
use crate::messages::{ApiVersionsRequest, MetadataResponse};
use crate::metadata::{MetadataCache, MetadataSnapshot};

pub(crate) use route::metadata_request;
pub(crate) use settings::ClusterSettings;
pub use shard::ResponseShard;

/// An engine's view of metadata changes: called on the thread that merged a
/// Metadata response (`ks-meta`, or a caller's), without any cluster lock.
pub(crate) trait MetadataListener: Send + Sync {
    /// `snap` is the merged snapshot; `topics` the topics the response named.
    fn on_metadata(self: Arc<Self>, snap: &Arc<MetadataSnapshot>, topics: &[String]);
}

struct Brokers {
    seeds: Vec<Arc<BrokerHandle>>,
    discovered: BTreeMap<i32, Arc<BrokerHandle>>,
}

/// The cluster core shared by the client facade and every engine.
pub(crate) struct Cluster {
    settings: ClusterSettings,
    epoch: Instant,
    brokers: RwLock<Brokers>,
    /// Bumped whenever the broker set changes, so holders of a broker handle
    /// (sinks) know when to look theirs up again.
    broker_gen: AtomicU64,
    metadata: MetadataCache,
    coordinators: Mutex<HashMap<(i8, String), i32>>,
    listeners: RwLock<Vec<Weak<dyn MetadataListener>>>,
    closed: AtomicBool,
    close_tx: Mutex<Option<Sender<()>>>,
    close_rx: Receiver<()>,
    meta_trigger: Sender<bool>,
    meta_thread: Mutex<Option<JoinHandle<()>>>,
    next_any: AtomicUsize,
    /// What [`start`](Cluster::start) needs: the seeds and the metadata
    /// trigger's receiving end; taken when the threads start.
    unstarted: Mutex<Option<Unstarted>>,
}

struct Unstarted {
    seeds: Vec<BrokerMetadata>,
    trigger_rx: Receiver<bool>,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("seeds", &self.settings.seed_brokers)
            .field("closed", &self.is_closed())
            .finish_non_exhaustive()
    }
}

fn io_thread_name(prefix: &str, id: impl std::fmt::Display) -> String {
    let mut n = format!("ks-io-{prefix}{id}");
    n.truncate(15);
    n
}

fn parse_seed(i: usize, s: &str) -> Result<BrokerMetadata> {
    let (host, port) = s
        .rsplit_once(':')
        .ok_or_else(|| Error::config(format!("seed_brokers: {s:?} has no port")))?;
    let port: i32 = port
        .parse()
        .map_err(|_| Error::config(format!("seed_brokers: {s:?} has an invalid port")))?;
    Ok(BrokerMetadata {
        node_id: i32::MIN + i as i32,
        host: host.to_string(),
        port,
        rack: None,
    })
}

impl Cluster {
    /// Builds the cluster core without starting a thread (the client's
    /// `on_new_client` hooks run between this and [`start`](Self::start)).
    ///
    /// # Errors
    ///
    /// A seed without a valid port.
    pub(crate) fn new(settings: ClusterSettings) -> Result<Arc<Cluster>> {
        let seeds = settings
            .seed_brokers
            .iter()
            .enumerate()
            .map(|(i, s)| parse_seed(i, s))
            .collect::<Result<Vec<_>>>()?;
        let (close_tx, close_rx) = crossbeam_channel::bounded(0);
        let (meta_trigger, trigger_rx) = crossbeam_channel::bounded(8);
        Ok(Arc::new(Cluster {
            settings,
            epoch: Instant::now(),
            brokers: RwLock::new(Brokers {
                seeds: Vec::new(),
                discovered: BTreeMap::new(),
            }),
            broker_gen: AtomicU64::new(0),
            metadata: MetadataCache::new(),
            coordinators: Mutex::new(HashMap::new()),
            listeners: RwLock::new(Vec::new()),
            closed: AtomicBool::new(false),
            close_tx: Mutex::new(Some(close_tx)),
            close_rx,
            meta_trigger,
            meta_thread: Mutex::new(None),
            next_any: AtomicUsize::new(0),
            unstarted: Mutex::new(Some(Unstarted { seeds, trigger_rx })),
        }))
    }

    /// Starts the seed brokers' I/O threads and the metadata thread; a
    /// no-op once started.
    ///
    /// # Errors
    ///
    /// [`Error::ClientClosed`] if the cluster closed first, or an I/O error
    /// if a thread cannot start (the cluster is then closed).
    pub(crate) fn start(self: &Arc<Self>) -> Result<()> {
        let Some(unstarted) = self.unstarted.lock().take() else {
            return Ok(());
        };
        if self.is_closed() {
            return Err(Error::ClientClosed);
        }
        let res = self.start_threads(unstarted);
        if res.is_err() || self.is_closed() {
            // A close that raced the start may have missed these threads.
            self.close();
        }
        res
    }

    fn start_threads(self: &Arc<Self>, unstarted: Unstarted) -> Result<()> {
        for (i, meta) in unstarted.seeds.into_iter().enumerate() {
            let h = BrokerHandle::spawn(
                meta,
                self.settings.broker.clone(),
                self.epoch,
                io_thread_name("s", i),
            )?;
            self.brokers.write().seeds.push(h);
        }
        self.broker_gen.fetch_add(1, Ordering::AcqRel);
        let weak: Weak<Cluster> = Arc::downgrade(self);
        let s = &self.settings;
        let (min_age, max_age) = (s.metadata_min_age, s.metadata_max_age);
        let (trigger_rx, close_rx) = (unstarted.trigger_rx, self.close_rx.clone());
        let join = crate::sync::thread::spawn_named(
            "ks-meta".into(),
            s.on_thread_start.clone(),
            move || {
                crate::metadata::refresh_loop(trigger_rx, close_rx, min_age, max_age, || {
                    let cluster = weak.upgrade().ok_or(Error::ClientClosed)?;
                    cluster.refresh_metadata(None, None).map(|_| ())
                })
            },
        )?;
        *self.meta_thread.lock() = Some(join);
        Ok(())
    }

    /// The cluster's settings.
    pub(crate) fn settings(&self) -> &ClusterSettings {
        &self.settings
    }

    /// The logger, if any.
    pub(crate) fn logger(&self) -> Option<&dyn crate::logger::Logger> {
        self.settings.logger()
    }

    /// Whether [`close`](Self::close) began.
    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Registers an engine for metadata changes (held weakly).
    pub(crate) fn add_listener(&self, l: Weak<dyn MetadataListener>) {
        self.listeners.write().push(l);
    }

    /// Marks the cluster closed and wakes every sleeper; returns whether this
    /// call was the first. Brokers stay up until [`close_brokers`](Self::close_brokers).
    pub(crate) fn begin_close(&self) -> bool {
        if self.closed.swap(true, Ordering::AcqRel) {
            return false;
        }
        drop(self.close_tx.lock().take());
        true
    }

    /// Closes every broker (failing what is in flight) and joins their threads.
    pub(crate) fn close_brokers(&self) {
        let handles: Vec<Arc<BrokerHandle>> = {
            let mut b = self.brokers.write();
            let mut v: Vec<_> = std::mem::take(&mut b.discovered).into_values().collect();
            v.append(&mut b.seeds);
            v
        };
        self.broker_gen.fetch_add(1, Ordering::AcqRel);
        for h in &handles {
            h.shared.closing.store(true, Ordering::Release);
        }
        for h in handles {
            h.close();
        }
    }

    /// Joins the metadata thread (unless called from it).
    pub(crate) fn join_meta(&self) {
        let join = self.meta_thread.lock().take();
        if let Some(j) = join {
            if j.thread().id() != std::thread::current().id() {
                let _ = j.join();
            }
        }
    }

    /// Closes everything in order: the flag, the brokers, the metadata thread.
    pub(crate) fn close(&self) {
        self.begin_close();
        self.close_brokers();
        self.join_meta();
    }

    /// The cached metadata.
    pub(crate) fn metadata(&self) -> Arc<MetadataSnapshot> {
        self.metadata.snapshot()
    }

    /// The cache, for engines that track topics.
    pub(crate) fn metadata_cache(&self) -> &MetadataCache {
        &self.metadata
    }

    /// Fetches metadata now for `topics` (`None`: the tracked topics; an
    /// empty list: brokers only), updating the cache and the broker set.
    pub(crate) fn refresh_metadata(
        &self,
        topics: Option<&[&str]>,
        deadline: Option<Instant>,
    ) -> Result<Arc<MetadataSnapshot>> {
        if self.is_closed() {
            return Err(Error::ClientClosed);
        }
        let full = topics.is_none();
        let auto = self.settings.allow_auto_topic_creation;
        let req = match topics {
            None => self.metadata.refresh_request(auto),
            Some(t) => metadata_request(t, auto),
        };
        let brokers_only = req.topics.as_ref().is_some_and(Vec::is_empty);
        let mut resp = self.request(req, deadline)?;
        if brokers_only {
            // Metadata v0 answers no topics with every topic.
            resp.topics.clear();
        }
        Ok(self.apply_metadata(&resp, full))
    }

    /// Asks the metadata thread to refresh soon (not sooner than `metadata_min_age`).
    pub(crate) fn trigger_metadata(&self) {
        let _ = self.meta_trigger.try_send(false);
    }

    /// Asks for a refresh as soon as possible (at most every 100ms).
    pub(crate) fn trigger_metadata_now(&self) {
        let _ = self.meta_trigger.try_send(true);
    }

    /// Merges a Metadata response into the cache, syncs the broker set and
    /// tells the listeners.
    pub(crate) fn apply_metadata(
        &self,
        resp: &MetadataResponse,
        full: bool,
    ) -> Arc<MetadataSnapshot> {
        let snap = self.metadata.merge(resp, full);
        if !resp.brokers.is_empty() {
            self.sync_brokers(&snap.brokers);
        }
        let topics: Vec<String> = resp
            .topics
            .iter()
            .filter_map(|t| t.name.as_ref().map(|n| n.0.to_string()))
            .collect();
        let listeners: Vec<Arc<dyn MetadataListener>> = {
            let mut ls = self.listeners.write();
            ls.retain(|l| l.strong_count() > 0);
            ls.iter().filter_map(Weak::upgrade).collect()
        };
        for l in listeners {
            l.on_metadata(&snap, &topics);
        }
        snap
    }

    fn spawn_broker(&self, m: &BrokerMetadata) -> Result<Arc<BrokerHandle>> {
        BrokerHandle::spawn(
            m.clone(),
            self.settings.broker.clone(),
            self.epoch,
            io_thread_name("", m.node_id),
        )
    }

    fn sync_brokers(&self, latest: &[BrokerMetadata]) {
        if self.is_closed() {
            return;
        }
        let mut to_close = Vec::new();
        {
            let mut b = self.brokers.write();
            // Checked again under the lock: close_brokers empties the set
            // under it after the closed flag is set, so nothing spawned here
            // can outlive close.
            if self.is_closed() {
                return;
            }
            let ids: std::collections::HashSet<i32> = latest.iter().map(|m| m.node_id).collect();
            let gone: Vec<i32> = b
                .discovered
                .keys()
                .filter(|id| !ids.contains(id))
                .copied()
                .collect();
            for id in gone {
                if let Some(h) = b.discovered.remove(&id) {
                    to_close.push(h);
                }
            }
            for m in latest {
                if let Some(h) = b.discovered.get(&m.node_id) {
                    if h.meta() == m {
                        continue;
                    }
                    // Moved: a new address means a new I/O thread.
                    if let Some(old) = b.discovered.remove(&m.node_id) {
                        to_close.push(old);
                    }
                }
                match self.spawn_broker(m) {
                    Ok(h) => {
                        klog!(self.logger(), Info, "discovered broker", "broker" => m.node_id, "addr" => m.addr());
                        b.discovered.insert(m.node_id, h);
                        self.broker_gen.fetch_add(1, Ordering::AcqRel);
                    }
                    Err(e) => {
                        klog!(self.logger(), Error, "unable to start broker thread", "broker" => m.node_id, "err" => e);
                    }
                }
            }
            if !to_close.is_empty() {
                self.broker_gen.fetch_add(1, Ordering::AcqRel);
            }
        }
        // Joining happens outside the lock.
        for h in to_close {
            klog!(self.logger(), Info, "broker left the cluster, closing", "broker" => h.meta().node_id);
            h.close();
        }
    }

    /// Ensures a broker handle exists for a coordinator learned from
    /// FindCoordinator, or a leader from a KIP-951 hint's node endpoints
    /// (either may precede metadata).
    pub(crate) fn ensure_broker(&self, meta: BrokerMetadata) {
        if self.brokers.read().discovered.contains_key(&meta.node_id) || self.is_closed() {
            return;
        }
        let mut b = self.brokers.write();
        if b.discovered.contains_key(&meta.node_id) || self.is_closed() {
            return;
        }
        if let Ok(h) = self.spawn_broker(&meta) {
            klog!(self.logger(), Info, "discovered broker", "broker" => meta.node_id, "addr" => meta.addr());
            b.discovered.insert(meta.node_id, h);
            self.broker_gen.fetch_add(1, Ordering::AcqRel);
        }
    }

    /// Makes a broker named by a KIP-951 node endpoint reachable: one the
    /// client has no handle for gets one, as metadata would add it (the next
    /// metadata response confirms or removes it).
    pub(crate) fn learn_broker(&self, node_id: i32, host: &str, port: i32, rack: Option<&str>) {
        if self.handle(node_id).is_some() {
            return;
        }
        self.ensure_broker(BrokerMetadata {
            node_id,
            host: host.to_string(),
            port,
            rack: rack.map(str::to_string),
        });
    }

    /// The generation of the broker set: changes whenever a broker handle is
    /// added, replaced or removed.
    pub(crate) fn broker_generation(&self) -> u64 {
        self.broker_gen.load(Ordering::Acquire)
    }

    /// The handle of broker `id` (discovered or seed).
    pub(crate) fn handle(&self, id: i32) -> Option<Arc<BrokerHandle>> {
        let b = self.brokers.read();
        b.discovered
            .get(&id)
            .cloned()
            .or_else(|| b.seeds.iter().find(|s| s.meta().node_id == id).cloned())
    }

    /// Any broker: discovered ones in turn, else the seeds in turn.
    pub(crate) fn any_handle(&self) -> Option<Arc<BrokerHandle>> {
        let b = self.brokers.read();
        let n = self.next_any.fetch_add(1, Ordering::Relaxed);
        if !b.discovered.is_empty() {
            return b.discovered.values().nth(n % b.discovered.len()).cloned();
        }
        if b.seeds.is_empty() {
            return None;
        }
        b.seeds.get(n % b.seeds.len()).cloned()
    }

    /// Node ids of the discovered brokers.
    pub(crate) fn discovered_ids(&self) -> Vec<i32> {
        self.brokers.read().discovered.keys().copied().collect()
    }

    /// Node ids of the seed brokers.
    pub(crate) fn seed_ids(&self) -> Vec<i32> {
        self.brokers
            .read()
            .seeds
            .iter()
            .map(|b| b.meta().node_id)
            .collect()
    }

    /// Every handle: discovered brokers, then seeds.
    fn all_handles(&self) -> Vec<Arc<BrokerHandle>> {
        let b = self.brokers.read();
        b.discovered
            .values()
            .chain(b.seeds.iter())
            .cloned()
            .collect()
    }

    /// The ApiVersions request the I/O thread's own handshake sends: with the
    /// client's software name and version, which Kafka validates (KIP-511,
    /// `ApiVersionsRequest.isValid`).
    pub(crate) fn api_versions_request(&self) -> ApiVersionsRequest {
        let b = &self.settings.broker;
        crate::broker::api_versions_request(&b.software_name, &b.software_version)
    }

    /// Whether any broker answers an ApiVersions request (kgo's `Ping`).
    pub(crate) fn ping(&self, deadline: Option<Instant>) -> Result<()> {
        if self.is_closed() {
            return Err(Error::ClientClosed);
        }
        let mut last = Error::UnknownBroker(-1);
        for h in self.all_handles() {
            match h.send(self.api_versions_request(), deadline) {
                Ok(r) if r.error_code == 0 => return Ok(()),
                Ok(r) => last = Error::from_code(r.error_code).unwrap_or(last),
                Err(e) => {
                    if e.is_client_closed() && self.is_closed() {
                        return Err(e);
                    }
                    last = e;
                }
            }
        }
        Err(last)
    }

    /// Whether any broker with known versions supports `key` at `version`
    /// (true when none is known yet: the request will be negotiated).
    pub(crate) fn any_broker_supports(&self, key: i16, version: i16) -> bool {
        let mut known = false;
        for h in self.all_handles() {
            if let Some(v) = h.versions() {
                known = true;
                if v.range(key).is_some_and(|(_, max)| max >= version) {
                    return true;
                }
            }
        }
        !known
    }

    /// Makes sure broker `id`'s API versions are known, connecting (the
    /// connection negotiates them) and waiting up to `timeout`; returns
    /// whether they are.
    pub(crate) fn ensure_versions(&self, id: i32, timeout: Duration) -> bool {
        let Some(h) = self.handle(id) else {
            return false;
        };
        if h.versions().is_none() {
            let _ = h.send(self.api_versions_request(), Some(Instant::now() + timeout));
        }
        h.versions().is_some()
    }

    /// The version the client would use for `key` with broker `broker`:
    /// `min(ours, broker max, user max)`, once the broker's versions are known.
    pub(crate) fn version_for(&self, broker: i32, key: i16, ours: i16) -> Option<i16> {
        let (_, broker_max) = self.handle(broker)?.versions()?.range(key)?;
        let user_max = self
            .settings
            .broker
            .max_versions
            .as_ref()
            .and_then(|v| v.get(key))
            .unwrap_or(i16::MAX);
        Some(ours.min(broker_max).min(user_max))
    }

    /// Sleeps for `d`, waking early (with `ClientClosed`) on close, and
    /// failing with a caller timeout when `deadline` comes first.
    pub(crate) fn sleep(&self, d: Duration, deadline: Option<Instant>) -> Result<()> {
        let until = Instant::now() + d;
        if let Some(dl) = deadline.filter(|dl| *dl < until) {
            let _ = self.close_rx.recv_deadline(dl);
            return Err(if self.is_closed() {
                Error::ClientClosed
            } else {
                Error::Timeout(TimeoutKind::Caller)
            });
        }
        let _ = self.close_rx.recv_deadline(until);
        if self.is_closed() {
            return Err(Error::ClientClosed);
        }
        Ok(())
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.close();
    }
}
