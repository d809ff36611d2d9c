//! Brokers: one I/O thread per broker owns every socket to it.
//!
//! ```text
//!  caller threads                         ks-io-<id>
//!  ──────────────                         ──────────
//!  Broker::send(req) ──Cmd::Req──► channel ─► route by traffic class
//!        │              + waker.wake()        ├─ produce conn ─┐
//!        │                                    ├─ fetch conn   ├─ dial, TLS, ApiVersions,
//!        │                                    ├─ group conn   │  SASL, pipelined writes,
//!        │                                    └─ normal conn ─┘  responses by correlation id
//!        ▼
//!  Promise::wait(deadline) ◄── Resolver::resolve(raw body) ◄──┘
//!  decode on the caller thread
//! ```
//!
//! Requests are encoded on the I/O thread (the version is known only once a
//! connection has negotiated ApiVersions) and decoded on the caller's thread.
//! Dropping the I/O thread's state on close drops every resolver, so every
//! caller waiting on this broker wakes with `ClientClosed`.

mod conn;
mod dial;
mod io;
mod sasl_flow;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::Bytes;
use crossbeam_channel::Sender;
use parking_lot::{Mutex, RwLock};

use crate::config::Config;
use crate::error::{Error, Result};
use crate::messages::{private::SealedResponse, Decodable, Request};
use crate::protocol::versions::BrokerVersions;
use crate::sync::promise::{callback, promise, Promise, Resolver};

/// A broker's identity and address, as in a Metadata response.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BrokerMetadata {
    /// The broker's node id. Seed brokers have ids from `i32::MIN` upwards.
    pub node_id: i32,
    /// The broker's host.
    pub host: String,
    /// The broker's port.
    pub port: i32,
    /// The broker's rack, if it has one. Seed brokers have none.
    pub rack: Option<String>,
}

impl BrokerMetadata {
    /// `host:port`, bracketing IPv6 literals.
    pub fn addr(&self) -> String {
        if self.host.contains(':') && !self.host.starts_with('[') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// Whether this is a seed broker rather than one discovered in metadata.
    pub fn is_seed(&self) -> bool {
        self.node_id < i32::MIN + (1 << 16)
    }

    /// The host without IPv6 brackets, for TLS names and SASL.
    pub(crate) fn bare_host(&self) -> &str {
        self.host.trim_start_matches('[').trim_end_matches(']')
    }
}

/// Everything known about one request's write and its response's read
/// (kgo's `BrokerE2E`).
#[derive(Debug, Clone, Default)]
pub struct BrokerE2E {
    /// Bytes written for the request (perhaps partial on error).
    pub bytes_written: usize,
    /// Bytes read for the response (zero on a write error).
    pub bytes_read: usize,
    /// From when the request was queued to just before its write.
    pub write_wait: Duration,
    /// How long the write took.
    pub time_to_write: Duration,
    /// From the end of the write until the response began to arrive.
    pub read_wait: Duration,
    /// How long reading the response took.
    pub time_to_read: Duration,
    /// The write's error, if any.
    pub write_err: Option<Error>,
    /// The read's error, if any.
    pub read_err: Option<Error>,
}

impl BrokerE2E {
    /// The time from the start of the write to the end of the read.
    pub fn duration_e2e(&self) -> Duration {
        self.time_to_write + self.read_wait + self.time_to_read
    }

    /// The write error, else the read error.
    pub fn err(&self) -> Option<&Error> {
        self.write_err.as_ref().or(self.read_err.as_ref())
    }
}

/// Which connection of a broker a request uses; Kafka answers one request at a
/// time per connection, so a long-polling fetch must not delay a produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum ConnClass {
    Normal = 0,
    Produce = 1,
    Fetch = 2,
    Group = 3,
}

impl ConnClass {
    pub(crate) const ALL: [ConnClass; 4] = [
        ConnClass::Normal,
        ConnClass::Produce,
        ConnClass::Fetch,
        ConnClass::Group,
    ];

    pub(crate) fn for_key(key: i16) -> ConnClass {
        match key {
            0 => ConnClass::Produce,
            1 => ConnClass::Fetch,
            // JoinGroup, Heartbeat, LeaveGroup, SyncGroup, ConsumerGroupHeartbeat:
            // JoinGroup can block for a rebalance timeout.
            11..=14 | 68 => ConnClass::Group,
            _ => ConnClass::Normal,
        }
    }
}

/// The raw answer to a request: the negotiated version and the body after the
/// response header (empty when the request expects no response).
pub(crate) struct RawResponse {
    pub(crate) version: i16,
    pub(crate) body: Option<Bytes>,
}

/// Encodes a request body at the version the I/O thread picked.
pub(crate) type EncodeFn = Box<dyn FnOnce(i16, &mut Vec<u8>) -> Result<()> + Send>;

/// A request on its way to the I/O thread.
pub(crate) struct QueuedReq {
    pub(crate) key: i16,
    pub(crate) our_versions: (i16, i16),
    pub(crate) class: ConnClass,
    pub(crate) timeout_ms: Option<i32>,
    pub(crate) expects_response: bool,
    pub(crate) encode: EncodeFn,
    pub(crate) enqueued: Instant,
    /// Past this, the request is failed instead of written.
    pub(crate) caller_deadline: Option<Instant>,
    pub(crate) resolver: Resolver<RawResponse>,
}

pub(crate) enum Cmd {
    Req(QueuedReq),
}

/// Shared state between a broker's handle and its I/O thread.
pub(crate) struct BrokerShared {
    pub(crate) meta: BrokerMetadata,
    pub(crate) cfg: Config,
    /// Nanoseconds since `epoch` until which nothing may be written (KIP-219).
    pub(crate) throttled_until: AtomicU64,
    pub(crate) epoch: Instant,
    pub(crate) versions: RwLock<Option<Arc<BrokerVersions>>>,
    pub(crate) closing: AtomicBool,
    pub(crate) waker: Mutex<Option<Arc<mio::Waker>>>,
}

impl BrokerShared {
    pub(crate) fn throttled_until(&self) -> Option<Instant> {
        let n = self.throttled_until.load(Ordering::Acquire);
        (n != 0).then(|| self.epoch + Duration::from_nanos(n))
    }

    fn decode<R: Request>(&self, raw: RawResponse) -> Result<R::Response> {
        let Some(mut body) = raw.body else {
            return Ok(R::Response::default());
        };
        let resp = R::Response::decode(&mut body, raw.version).map_err(|e| {
            Error::protocol(format!(
                "decoding response key {} v{}: {e}",
                R::KEY,
                raw.version
            ))
        })?;
        if let Some(ms) = resp.throttle_ms().filter(|ms| *ms > 0) {
            let after = throttle_after_response(R::KEY, raw.version);
            let d = Duration::from_millis(ms as u64);
            if after {
                self.throttle(Instant::now() + d);
            }
            crate::hooks::each(&self.cfg.hooks, |h| {
                h.on_broker_throttle(&self.meta, d, after)
            });
        }
        Ok(resp)
    }

    fn throttle(&self, until: Instant) {
        let n = until
            .saturating_duration_since(self.epoch)
            .as_nanos()
            .min(u64::MAX as u128) as u64;
        self.throttled_until.fetch_max(n, Ordering::AcqRel);
    }
}

/// A handle on one broker's I/O thread.
pub(crate) struct BrokerHandle {
    pub(crate) shared: Arc<BrokerShared>,
    tx: Sender<Cmd>,
    join: Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for BrokerHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BrokerHandle")
            .field("meta", &self.shared.meta)
            .finish()
    }
}

impl BrokerHandle {
    /// Starts the I/O thread for `meta`; `name` is the thread name.
    pub(crate) fn spawn(
        meta: BrokerMetadata,
        cfg: Config,
        epoch: Instant,
        name: String,
    ) -> Result<Arc<BrokerHandle>> {
        let shared = Arc::new(BrokerShared {
            meta,
            cfg: cfg.clone(),
            throttled_until: AtomicU64::new(0),
            epoch,
            versions: RwLock::new(None),
            closing: AtomicBool::new(false),
            waker: Mutex::new(None),
        });
        let (tx, rx) = crossbeam_channel::unbounded();
        let poll = mio::Poll::new()?;
        let waker = Arc::new(mio::Waker::new(poll.registry(), io::WAKER)?);
        *shared.waker.lock() = Some(waker);
        let s = shared.clone();
        let join =
            crate::sync::thread::spawn_named(name, cfg.on_thread_start.clone(), move || {
                io::run(s, poll, rx)
            })?;
        Ok(Arc::new(BrokerHandle {
            shared,
            tx,
            join: Mutex::new(Some(join)),
        }))
    }

    pub(crate) fn meta(&self) -> &BrokerMetadata {
        &self.shared.meta
    }

    /// The versions the broker advertised, once a connection negotiated them.
    pub(crate) fn versions(&self) -> Option<Arc<BrokerVersions>> {
        self.shared.versions.read().clone()
    }

    fn wake(&self) {
        if let Some(w) = &*self.shared.waker.lock() {
            // A failed wake means the poll is gone: the thread is exiting.
            let _ = w.wake();
        }
    }

    /// Sends `req` and waits for its response until `deadline`.
    ///
    /// # Errors
    ///
    /// Connection errors, [`Error::Timeout`], [`Error::ClientClosed`],
    /// [`Error::BrokerTooOld`], or [`Error::Protocol`] when the response does
    /// not decode.
    pub(crate) fn send<R: Request>(
        &self,
        req: R,
        deadline: Option<Instant>,
    ) -> Result<R::Response> {
        self.begin(req, deadline)?.wait()
    }

    /// Queues `req` without waiting; [`PendingResponse::wait`] waits.
    pub(crate) fn begin<R: Request>(
        &self,
        req: R,
        deadline: Option<Instant>,
    ) -> Result<PendingResponse<R>> {
        let timeout_ms = req.timeout_ms();
        let expects = req.expects_response();
        let promise = self.queue(
            R::KEY,
            (R::VERSIONS.min, R::VERSIONS.max),
            timeout_ms,
            expects,
            Box::new(move |version, buf| {
                req.encode(buf, version)
                    .map_err(|e| Error::protocol(format!("encoding request key {}: {e}", R::KEY)))
            }),
            deadline,
        )?;
        Ok(PendingResponse {
            shared: self.shared.clone(),
            promise,
            deadline,
            _r: std::marker::PhantomData,
        })
    }

    fn queue(
        &self,
        key: i16,
        our_versions: (i16, i16),
        timeout_ms: Option<i32>,
        expects_response: bool,
        encode: EncodeFn,
        deadline: Option<Instant>,
    ) -> Result<Promise<RawResponse>> {
        let (resolver, promise) = promise();
        self.queue_to(
            key,
            our_versions,
            timeout_ms,
            expects_response,
            encode,
            deadline,
            resolver,
        )?;
        Ok(promise)
    }

    /// Queues `req`; `done` is called with the decoded response (or error)
    /// on the broker's I/O thread, so it must be quick and must not block.
    pub(crate) fn submit<R: Request>(
        &self,
        req: R,
        versions: (i16, i16),
        done: impl FnOnce(Result<(i16, R::Response)>) + Send + 'static,
    ) {
        let shared = self.shared.clone();
        let resolver = callback(move |raw: Result<RawResponse>| {
            done(raw.and_then(|raw| {
                let v = raw.version;
                shared.decode::<R>(raw).map(|r| (v, r))
            }))
        });
        let timeout_ms = req.timeout_ms();
        let expects = req.expects_response();
        let encode: EncodeFn = Box::new(move |version, buf| {
            req.encode(buf, version)
                .map_err(|e| Error::protocol(format!("encoding request key {}: {e}", R::KEY)))
        });
        let versions = (
            versions.0.max(R::VERSIONS.min),
            versions.1.min(R::VERSIONS.max),
        );
        // On failure the resolver was dropped inside, which reports ClientClosed to `done`.
        let _ = self.queue_to(
            R::KEY,
            versions,
            timeout_ms,
            expects,
            encode,
            None,
            resolver,
        );
    }

    #[allow(clippy::too_many_arguments)]
    fn queue_to(
        &self,
        key: i16,
        our_versions: (i16, i16),
        timeout_ms: Option<i32>,
        expects_response: bool,
        encode: EncodeFn,
        deadline: Option<Instant>,
        resolver: Resolver<RawResponse>,
    ) -> Result<()> {
        if self.shared.closing.load(Ordering::Acquire) {
            return Err(Error::ClientClosed);
        }
        let q = QueuedReq {
            key,
            our_versions,
            class: ConnClass::for_key(key),
            timeout_ms,
            expects_response,
            encode,
            enqueued: Instant::now(),
            caller_deadline: deadline,
            resolver,
        };
        self.tx.send(Cmd::Req(q)).map_err(|_| Error::ClientClosed)?;
        self.wake();
        Ok(())
    }

    pub(crate) fn send_raw(
        &self,
        key: i16,
        our_versions: (i16, i16),
        timeout_ms: Option<i32>,
        expects_response: bool,
        encode: EncodeFn,
        deadline: Option<Instant>,
    ) -> Result<RawResponse> {
        self.queue(
            key,
            our_versions,
            timeout_ms,
            expects_response,
            encode,
            deadline,
        )?
        .wait(deadline)
    }

    /// Stops the I/O thread: in-flight and queued requests fail with
    /// `ClientClosed`. Joins the thread unless called from it.
    pub(crate) fn close(&self) {
        self.shared.closing.store(true, Ordering::Release);
        self.wake();
        let join = self.join.lock().take();
        if let Some(j) = join {
            if j.thread().id() != std::thread::current().id() {
                let _ = j.join();
            }
        }
    }
}

impl Drop for BrokerHandle {
    fn drop(&mut self) {
        self.close();
    }
}

/// A request queued on a broker, not yet answered.
pub(crate) struct PendingResponse<R: Request> {
    shared: Arc<BrokerShared>,
    promise: Promise<RawResponse>,
    deadline: Option<Instant>,
    _r: std::marker::PhantomData<fn() -> R>,
}

impl<R: Request> PendingResponse<R> {
    /// Waits for and decodes the response.
    pub(crate) fn wait(self) -> Result<R::Response> {
        let raw = self.promise.wait(self.deadline)?;
        self.shared.decode::<R>(raw)
    }
}

/// Whether the broker applies a throttle after sending the response (KIP-219,
/// Kafka 2.0), so that the client must hold back; before that version the
/// broker delayed the response itself.
pub(crate) fn throttle_after_response(key: i16, version: i16) -> bool {
    // The first version of each pre-2.0 API bumped for KIP-219.
    let v = match key {
        0 => 6,
        1 => 8,
        2 => 3,
        3 => 6,
        8 => 4,
        9 => 4,
        10 => 2,
        11 => 3,
        12 => 2,
        13 => 2,
        14 => 2,
        15 => 2,
        16 => 2,
        18 => 2,
        19 => 3,
        20 => 2,
        21 => 1,
        22 => 1,
        23 => 1,
        24 => 1,
        25 => 1,
        26 => 1,
        28 => 1,
        29 => 1,
        30 => 1,
        31 => 1,
        32 => 2,
        33 => 1,
        34 => 1,
        35 => 1,
        36 => 1,
        37 => 1,
        38 => 1,
        39 => 1,
        40 => 1,
        41 => 1,
        42 => 1,
        _ => 0,
    };
    version >= v
}
