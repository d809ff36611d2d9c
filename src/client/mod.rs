//! The [`Client`]: a cheap-to-clone handle over the brokers, the metadata
//! cache and request routing.
//!
//! Lock order: `brokers` before any broker's internal locks; the metadata
//! cache's locks are leaves. No lock is held while waiting on a broker.

mod route;
mod shard;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use parking_lot::{Mutex, RwLock};

use crate::broker::{BrokerHandle, BrokerMetadata};
use crate::config::{Config, ConfigBuilder, FromConfig};
use crate::error::{Error, Result, TimeoutKind};
use crate::logger::klog;
use crate::messages::{ApiVersionsRequest, MetadataResponse, Request};
use crate::metadata::{MetadataCache, MetadataSnapshot};

pub use shard::ResponseShard;

/// A Kafka client. Cheap to clone; every clone shares the same connections.
///
/// Built with [`Client::builder`]. Connections are opened lazily, on the
/// first request to each broker.
#[derive(Clone)]
pub struct Client {
    pub(crate) inner: Arc<ClientInner>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("seeds", &self.inner.cfg.seed_brokers)
            .field("closed", &self.is_closed())
            .finish()
    }
}

pub(crate) struct Brokers {
    pub(crate) seeds: Vec<Arc<BrokerHandle>>,
    pub(crate) discovered: BTreeMap<i32, Arc<BrokerHandle>>,
}

pub(crate) struct ClientInner {
    pub(crate) cfg: Config,
    pub(crate) epoch: Instant,
    pub(crate) brokers: RwLock<Brokers>,
    pub(crate) metadata: MetadataCache,
    pub(crate) coordinators: Mutex<std::collections::HashMap<(i8, String), i32>>,
    closed: AtomicBool,
    close_tx: Mutex<Option<Sender<()>>>,
    pub(crate) close_rx: Receiver<()>,
    meta_trigger: Sender<bool>,
    pub(crate) producer: std::sync::OnceLock<Arc<crate::producer::Producer>>,
    pub(crate) producer_init: Mutex<()>,
    pub(crate) consumer: std::sync::OnceLock<Arc<crate::consumer::Consumer>>,
    meta_thread: Mutex<Option<JoinHandle<()>>>,
    next_any: AtomicUsize,
}

impl FromConfig for Client {
    fn from_config(cfg: Config) -> Result<Client> {
        Client::new(cfg)
    }
}

fn io_thread_name(prefix: &str, id: impl std::fmt::Display) -> String {
    let mut n = format!("ks-io-{prefix}{id}");
    n.truncate(15);
    n
}

impl Client {
    /// Starts a builder for a client; see [`ConfigBuilder`] for every option.
    pub fn builder() -> ConfigBuilder<Client> {
        ConfigBuilder::new()
    }

    /// Starts a client from a validated configuration.
    ///
    /// # Errors
    ///
    /// An I/O error if a client thread cannot be started.
    pub fn new(cfg: Config) -> Result<Client> {
        let epoch = Instant::now();
        let mut seeds = Vec::with_capacity(cfg.seed_brokers.len());
        for (i, s) in cfg.seed_brokers.iter().enumerate() {
            let (host, port) = s
                .rsplit_once(':')
                .ok_or_else(|| Error::config(format!("seed_brokers: {s:?} has no port")))?;
            let port: i32 = port
                .parse()
                .map_err(|_| Error::config(format!("seed_brokers: {s:?} has an invalid port")))?;
            let meta = BrokerMetadata {
                node_id: i32::MIN + i as i32,
                host: host.to_string(),
                port,
                rack: None,
            };
            seeds.push(BrokerHandle::spawn(
                meta,
                cfg.clone(),
                epoch,
                io_thread_name("s", i),
            )?);
        }
        let (close_tx, close_rx) = crossbeam_channel::bounded(0);
        let (meta_trigger, trigger_rx) = crossbeam_channel::bounded(8);
        let inner = Arc::new(ClientInner {
            cfg: cfg.clone(),
            epoch,
            brokers: RwLock::new(Brokers {
                seeds,
                discovered: BTreeMap::new(),
            }),
            metadata: MetadataCache::new(),
            coordinators: Mutex::new(Default::default()),
            closed: AtomicBool::new(false),
            close_tx: Mutex::new(Some(close_tx)),
            close_rx: close_rx.clone(),
            meta_trigger,
            meta_thread: Mutex::new(None),
            producer: std::sync::OnceLock::new(),
            producer_init: Mutex::new(()),
            consumer: std::sync::OnceLock::new(),
            next_any: AtomicUsize::new(0),
        });
        let weak: Weak<ClientInner> = Arc::downgrade(&inner);
        let (min_age, max_age) = (cfg.metadata_min_age, cfg.metadata_max_age);
        let join = crate::sync::thread::spawn_named(
            "ks-meta".into(),
            cfg.on_thread_start.clone(),
            move || {
                crate::metadata::refresh_loop(trigger_rx, close_rx, min_age, max_age, || {
                    let inner = weak.upgrade().ok_or(Error::ClientClosed)?;
                    let client = Client { inner };
                    let res = client.refresh_metadata(None);
                    // Never let this thread drop the last handle: that would join itself.
                    drop(client);
                    res.map(|_| ())
                })
            },
        );
        match join {
            Ok(j) => *inner.meta_thread.lock() = Some(j),
            Err(e) => {
                let c = Client { inner };
                c.close();
                return Err(e);
            }
        }
        let client = Client { inner };
        crate::consumer::Consumer::start(&client);
        crate::hooks::each(&cfg.hooks, |h| h.on_new_client(&client));
        Ok(client)
    }

    /// The client's configuration.
    pub fn config(&self) -> &Config {
        &self.inner.cfg
    }

    /// Whether [`close`](Self::close) was called.
    pub fn is_closed(&self) -> bool {
        self.inner.closed.load(Ordering::Acquire)
    }

    /// Closes every connection and joins every client thread. Every call
    /// blocked on the client returns [`Error::ClientClosed`] promptly.
    /// Idempotent.
    pub fn close(&self) {
        self.inner.close();
    }

    /// A handle to issue requests to one broker, by node id. The broker need
    /// not exist: requests to an unknown broker fail with [`Error::UnknownBroker`].
    pub fn broker(&self, id: i32) -> Broker {
        Broker {
            client: self.clone(),
            id,
        }
    }

    /// Brokers discovered from metadata responses so far (no request is
    /// issued; seeds are not included).
    pub fn discovered_brokers(&self) -> Vec<Broker> {
        self.inner
            .brokers
            .read()
            .discovered
            .keys()
            .map(|id| self.broker(*id))
            .collect()
    }

    /// The seed brokers, with their internal ids (from `i32::MIN` upwards).
    pub fn seed_brokers(&self) -> Vec<Broker> {
        self.inner
            .brokers
            .read()
            .seeds
            .iter()
            .map(|b| self.broker(b.meta().node_id))
            .collect()
    }

    /// The cached metadata: brokers, controller, cluster id, and the topics
    /// the client tracks. Issues no request.
    pub fn metadata(&self) -> Arc<MetadataSnapshot> {
        self.inner.metadata.snapshot()
    }

    /// Fetches metadata now for `topics` (`None`: the tracked topics; an
    /// empty list: brokers only), updating the cache and the broker set.
    ///
    /// # Errors
    ///
    /// The request's error after retries.
    ///
    /// # Blocking
    ///
    /// Until the response, retries included (bounded by `retry_timeout`), or close.
    pub fn refresh_metadata(&self, topics: Option<&[&str]>) -> Result<Arc<MetadataSnapshot>> {
        self.refresh_metadata_deadline(topics, None)
    }

    /// [`refresh_metadata`](Self::refresh_metadata) with an optional deadline.
    ///
    /// # Errors
    ///
    /// As [`refresh_metadata`](Self::refresh_metadata), or a caller timeout.
    pub fn refresh_metadata_deadline(
        &self,
        topics: Option<&[&str]>,
        deadline: Option<Instant>,
    ) -> Result<Arc<MetadataSnapshot>> {
        if self.is_closed() {
            return Err(Error::ClientClosed);
        }
        let full = topics.is_none();
        let req = match topics {
            None => self
                .inner
                .metadata
                .refresh_request(self.inner.cfg.allow_auto_topic_creation),
            Some(t) => route::metadata_request(t, self.inner.cfg.allow_auto_topic_creation),
        };
        let resp = self.request_deadline_inner(req, deadline)?;
        Ok(self.apply_metadata(&resp, full))
    }

    /// Asks the metadata thread to refresh soon (not sooner than `metadata_min_age`).
    pub(crate) fn trigger_metadata(&self) {
        let _ = self.inner.meta_trigger.try_send(false);
    }

    /// Asks for a refresh as soon as possible (at most every 100ms).
    pub(crate) fn trigger_metadata_now(&self) {
        let _ = self.inner.meta_trigger.try_send(true);
    }

    /// Merges a Metadata response into the cache and syncs the broker set.
    pub(crate) fn apply_metadata(
        &self,
        resp: &MetadataResponse,
        full: bool,
    ) -> Arc<MetadataSnapshot> {
        let snap = self.inner.metadata.merge(resp, full);
        if !resp.brokers.is_empty() {
            self.sync_brokers(&snap.brokers);
        }
        if let Some(p) = self.inner.producer.get() {
            let topics: Vec<String> = resp
                .topics
                .iter()
                .filter_map(|t| t.name.as_ref().map(|n| n.0.to_string()))
                .collect();
            p.update_metadata(&snap, &topics);
        }
        if let Some(c) = self.inner.consumer.get() {
            c.update_metadata(self, &snap);
        }
        snap
    }

    fn sync_brokers(&self, latest: &[BrokerMetadata]) {
        if self.is_closed() {
            return;
        }
        let mut to_close = Vec::new();
        {
            let mut b = self.inner.brokers.write();
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
                match BrokerHandle::spawn(
                    m.clone(),
                    self.inner.cfg.clone(),
                    self.inner.epoch,
                    io_thread_name("", m.node_id),
                ) {
                    Ok(h) => {
                        klog!(self.inner.cfg.logger.as_deref(), Info, "discovered broker", "broker" => m.node_id, "addr" => m.addr());
                        b.discovered.insert(m.node_id, h);
                    }
                    Err(e) => {
                        klog!(self.inner.cfg.logger.as_deref(), Error, "unable to start broker thread", "broker" => m.node_id, "err" => e);
                    }
                }
            }
        }
        // Joining happens outside the lock.
        for h in to_close {
            klog!(self.inner.cfg.logger.as_deref(), Info, "broker left the cluster, closing", "broker" => h.meta().node_id);
            h.close();
        }
    }

    /// Ensures a broker handle exists for a coordinator learned from
    /// FindCoordinator (which may precede metadata).
    pub(crate) fn ensure_broker(&self, meta: BrokerMetadata) {
        if self
            .inner
            .brokers
            .read()
            .discovered
            .contains_key(&meta.node_id)
            || self.is_closed()
        {
            return;
        }
        let mut b = self.inner.brokers.write();
        if b.discovered.contains_key(&meta.node_id) {
            return;
        }
        if let Ok(h) = BrokerHandle::spawn(
            meta.clone(),
            self.inner.cfg.clone(),
            self.inner.epoch,
            io_thread_name("", meta.node_id),
        ) {
            b.discovered.insert(meta.node_id, h);
        }
    }

    pub(crate) fn handle(&self, id: i32) -> Option<Arc<BrokerHandle>> {
        let b = self.inner.brokers.read();
        b.discovered
            .get(&id)
            .cloned()
            .or_else(|| b.seeds.iter().find(|s| s.meta().node_id == id).cloned())
    }

    /// Any broker: discovered ones in turn, else the seeds in turn.
    pub(crate) fn any_handle(&self) -> Option<Arc<BrokerHandle>> {
        let b = self.inner.brokers.read();
        let n = self.inner.next_any.fetch_add(1, Ordering::Relaxed);
        if !b.discovered.is_empty() {
            return b.discovered.values().nth(n % b.discovered.len()).cloned();
        }
        if b.seeds.is_empty() {
            return None;
        }
        b.seeds.get(n % b.seeds.len()).cloned()
    }

    /// Returns whether any broker answers an ApiVersions request, trying every
    /// discovered broker and every seed at most once (kgo's `Ping`).
    ///
    /// # Errors
    ///
    /// The last broker's error when none answered.
    ///
    /// # Blocking
    ///
    /// Up to one request deadline per broker tried, or until close.
    pub fn ping(&self) -> Result<()> {
        self.ping_deadline(None)
    }

    /// [`ping`](Self::ping) with a deadline for the whole call.
    ///
    /// # Errors
    ///
    /// As [`ping`](Self::ping), or [`Error::Timeout`] at the deadline.
    pub fn ping_deadline(&self, deadline: Option<Instant>) -> Result<()> {
        if self.is_closed() {
            return Err(Error::ClientClosed);
        }
        let handles: Vec<Arc<BrokerHandle>> = {
            let b = self.inner.brokers.read();
            b.discovered
                .values()
                .chain(b.seeds.iter())
                .cloned()
                .collect()
        };
        let mut last = Error::UnknownBroker(-1);
        for h in handles {
            match h.send(ApiVersionsRequest::default(), deadline) {
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
        let b = self.inner.brokers.read();
        let mut known = false;
        for h in b.discovered.values().chain(b.seeds.iter()) {
            if let Some(v) = h.versions() {
                known = true;
                if v.range(key).is_some_and(|(_, max)| max >= version) {
                    return true;
                }
            }
        }
        !known
    }

    /// The API versions broker `id` advertised, as `(key, min, max)`, once a
    /// connection to it negotiated them.
    pub fn broker_api_versions(&self, id: i32) -> Option<Vec<(i16, i16, i16)>> {
        self.handle(id)
            .and_then(|h| h.versions())
            .map(|v| v.ranges().to_vec())
    }

    /// Issues a request, routed the way kgo routes it, and waits for its response.
    ///
    /// Admin requests go to the controller; group requests to the group
    /// coordinator and transaction requests to the transaction coordinator
    /// (found with FindCoordinator and cached); ListOffsets, DeleteRecords,
    /// OffsetForLeaderEpoch, DescribeConfigs, AlterConfigs,
    /// IncrementalAlterConfigs, DescribeLogDirs, DescribeGroups, ListGroups,
    /// DeleteGroups, DescribeProducers, DescribeTransactions and
    /// ListTransactions are split per broker and their responses merged
    /// (prefer [`request_sharded`](Self::request_sharded) for those); anything
    /// else goes to any broker. Retriable connection errors and coordinator
    /// or controller moves are retried up to `request_retries` times within
    /// `retry_timeout`.
    ///
    /// # Errors
    ///
    /// The last error after retries; [`Error::ClientClosed`] after close.
    ///
    /// # Blocking
    ///
    /// Until the response, the retry timeout, or close.
    pub fn request<R: Request>(&self, req: R) -> Result<R::Response> {
        self.request_deadline_inner(req, None)
    }

    /// [`request`](Self::request) with a deadline for the whole call.
    ///
    /// # Errors
    ///
    /// As [`request`](Self::request), or [`Error::Timeout`] with
    /// [`TimeoutKind::Caller`] at the deadline. A request already written may
    /// still take effect on the broker.
    pub fn request_deadline<R: Request>(&self, req: R, deadline: Instant) -> Result<R::Response> {
        self.request_deadline_inner(req, Some(deadline))
    }

    /// [`request`](Self::request) with a timeout for the whole call.
    ///
    /// # Errors
    ///
    /// As [`request_deadline`](Self::request_deadline).
    pub fn request_timeout<R: Request>(&self, req: R, timeout: Duration) -> Result<R::Response> {
        self.request_deadline_inner(req, Some(crate::sync::deadline_after(timeout)))
    }

    /// Sleeps for `d`, waking early (with `ClientClosed`) on close, and
    /// failing with a caller timeout when `deadline` comes first.
    pub(crate) fn sleep(&self, d: Duration, deadline: Option<Instant>) -> Result<()> {
        let until = Instant::now() + d;
        let until = match deadline {
            Some(dl) if dl < until => {
                let _ = self.inner.close_rx.recv_deadline(dl);
                return Err(if self.is_closed() {
                    Error::ClientClosed
                } else {
                    Error::Timeout(TimeoutKind::Caller)
                });
            }
            _ => until,
        };
        let _ = self.inner.close_rx.recv_deadline(until);
        if self.is_closed() {
            return Err(Error::ClientClosed);
        }
        Ok(())
    }
}

impl ClientInner {
    fn close(&self) {
        if self.closed.swap(true, Ordering::AcqRel) {
            return;
        }
        drop(self.close_tx.lock().take());
        // The producer first: it fails what is buffered and stops its sinks
        // while the brokers can still answer in-flight requests.
        if let Some(p) = self.producer.get() {
            p.close();
        }
        // The consumer's sources stop now (pollers wake with ClientClosed);
        // they are joined once the brokers closed, which fails any request
        // a source is blocked on.
        if let Some(c) = self.consumer.get() {
            c.begin_close();
        }
        let handles: Vec<Arc<BrokerHandle>> = {
            let mut b = self.brokers.write();
            let mut v: Vec<_> = std::mem::take(&mut b.discovered).into_values().collect();
            v.append(&mut b.seeds);
            v
        };
        for h in &handles {
            h.shared.closing.store(true, Ordering::Release);
        }
        for h in handles {
            h.close();
        }
        if let Some(c) = self.consumer.get() {
            c.join_sources();
        }
        let join = self.meta_thread.lock().take();
        if let Some(j) = join {
            if j.thread().id() != std::thread::current().id() {
                let _ = j.join();
            }
        }
    }
}

impl Drop for ClientInner {
    fn drop(&mut self) {
        self.close();
    }
}

/// A handle to issue requests to one broker (kgo's `Broker`).
#[derive(Clone, Debug)]
pub struct Broker {
    client: Client,
    id: i32,
}

impl Broker {
    /// The broker's node id.
    pub fn id(&self) -> i32 {
        self.id
    }

    /// The broker's metadata, if the client knows it.
    pub fn metadata(&self) -> Option<BrokerMetadata> {
        self.client.handle(self.id).map(|h| h.meta().clone())
    }

    /// Issues `req` to this broker once, without retries.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownBroker`] when the client does not know the broker; any
    /// connection or decoding error.
    ///
    /// # Blocking
    ///
    /// Until the response (bounded by the request's deadline) or close.
    pub fn request<R: Request>(&self, req: R) -> Result<R::Response> {
        self.request_deadline_inner(req, None)
    }

    /// [`request`](Self::request) with a deadline.
    ///
    /// # Errors
    ///
    /// As [`request`](Self::request), or a caller timeout.
    pub fn request_deadline<R: Request>(&self, req: R, deadline: Instant) -> Result<R::Response> {
        self.request_deadline_inner(req, Some(deadline))
    }

    fn request_deadline_inner<R: Request>(
        &self,
        req: R,
        deadline: Option<Instant>,
    ) -> Result<R::Response> {
        let h = self
            .client
            .handle(self.id)
            .ok_or(Error::UnknownBroker(self.id))?;
        let resp = h.send(req, deadline)?;
        self.client.observe(&resp);
        Ok(resp)
    }

    /// Like [`request`](Self::request), but retries retriable connection
    /// errors (not errors inside the response), within `request_retries` and
    /// `retry_timeout`.
    ///
    /// # Errors
    ///
    /// The last error after retries.
    pub fn retriable_request<R: Request>(&self, req: R) -> Result<R::Response> {
        self.retriable_request_deadline(req, None)
    }

    /// [`retriable_request`](Self::retriable_request) with an optional deadline.
    ///
    /// # Errors
    ///
    /// As [`retriable_request`](Self::retriable_request).
    pub fn retriable_request_deadline<R: Request>(
        &self,
        req: R,
        deadline: Option<Instant>,
    ) -> Result<R::Response> {
        let client = self.client.clone();
        let id = self.id;
        client.retry(R::KEY, deadline, |_| {
            let h = client.handle(id).ok_or(Error::UnknownBroker(id))?;
            let resp = h.send(req.clone(), deadline)?;
            client.observe(&resp);
            Ok(resp)
        })
    }
}
