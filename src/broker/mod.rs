//! Brokers: one I/O thread per broker owns every socket to it.
//!
//! ```text
//!  callers (cluster, sinks, sources)         ks-io-<id>
//!  ---------------------------------         ----------
//!  send(req) / submit(req, cb) --Cmd::Req--> channel -> route by traffic class
//!        |              + waker.wake()        +- produce conn -+
//!        |                                    +- fetch conn    +- dial, TLS, ApiVersions,
//!        |                                    +- group conn    |  SASL, pipelined writes,
//!        |                                    +- normal conn --+  responses by correlation id
//!        v
//!  send: Promise::wait(deadline) <-- raw body, decoded on the caller's thread
//!  submit: the callback runs on the I/O thread: it decodes the body there
//!          and hands the decoded response on (sinks and sources use this)
//! ```
//!
//! Requests are encoded on the I/O thread (the version is known only once a
//! connection has negotiated ApiVersions). Responses to `send` are decoded on
//! the waiting caller's thread; responses to `submit` (produce and fetch) on
//! the I/O thread, so a sink or source thread never blocks on a request.
//! Dropping the I/O thread's state on close drops every resolver, so every
//! caller waiting on this broker wakes with `ClientClosed`.

mod conn;
mod dial;
mod io;
mod report;
mod sasl_flow;
mod settings;
mod tls_config;

pub(crate) use settings::BrokerSettings;
pub use settings::Dialer;
pub use tls_config::{TlsConfig, TlsConfigBuilder};

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::Bytes;
use crossbeam_channel::Sender;
use parking_lot::{Mutex, RwLock};

pub use crate::hooks::{BrokerE2E, BrokerMetadata};

use crate::error::{Error, Result};
use crate::messages::{private::SealedResponse, Decodable, Request};
use crate::protocol::api::throttle_after_response;
pub(crate) use crate::protocol::api::ConnClass;
use crate::protocol::versions::BrokerVersions;
use crate::sync::promise::{callback, promise, Promise, Resolver};

/// The raw answer to a request: the negotiated version and the body after the
/// response header (empty when the request expects no response).
pub(crate) struct RawResponse {
    pub(crate) version: i16,
    pub(crate) body: Option<Bytes>,
}

/// Encodes a request body at the version the I/O thread picked.
pub(crate) type EncodeFn = Box<dyn FnOnce(i16, &mut Vec<u8>) -> Result<()> + Send>;

/// Encodes a request body that hands large byte runs over by reference:
/// each `(offset, bytes)` pushed to the second argument goes on the wire
/// before `buf[offset]`, written from its own buffer (vectored writes), not
/// copied. Returns the byte count so handed over.
pub(crate) type SplicedEncodeFn =
    Box<dyn FnOnce(i16, &mut Vec<u8>, &mut Vec<(usize, Bytes)>) -> Result<usize> + Send>;

/// How a queued request's body is written.
pub(crate) enum Body {
    Flat(EncodeFn),
    Spliced(SplicedEncodeFn),
}

impl Body {
    /// Encodes into `buf` (and `splices`), returning the spliced byte count.
    pub(crate) fn encode(
        self,
        version: i16,
        buf: &mut Vec<u8>,
        splices: &mut Vec<(usize, Bytes)>,
    ) -> Result<usize> {
        match self {
            Body::Flat(f) => f(version, buf).map(|()| 0),
            Body::Spliced(f) => f(version, buf, splices),
        }
    }
}

/// A request on its way to the I/O thread.
pub(crate) struct QueuedReq {
    pub(crate) key: i16,
    pub(crate) our_versions: (i16, i16),
    /// The caller pinned the version (`our_versions` is `(v, v)`): the
    /// client's `max_versions` and `min_versions` do not apply.
    pub(crate) pinned: bool,
    pub(crate) class: ConnClass,
    pub(crate) timeout_ms: Option<i32>,
    pub(crate) expects_response: bool,
    pub(crate) encode: Body,
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
    pub(crate) cfg: Arc<BrokerSettings>,
    /// Nanoseconds since `epoch` until which nothing may be written (KIP-219).
    pub(crate) throttled_until: AtomicU64,
    pub(crate) epoch: Instant,
    pub(crate) versions: RwLock<Option<Arc<BrokerVersions>>>,
    pub(crate) closing: AtomicBool,
    pub(crate) waker: Mutex<Option<Arc<mio::Waker>>>,
}

/// The longest throttle honoured. A broker's own throttles are bounded by
/// its quota window (Kafka: `quota.window.size.seconds` times
/// `quota.window.num`, 11 s by default); a response claiming more (the fuzz
/// harness sent `throttle_time_ms` 2^31-1) would otherwise stall every
/// request to the broker for 24 days, with no deadline to end the wait of a
/// request not yet written.
pub(crate) const MAX_THROTTLE: Duration = Duration::from_secs(30);

impl BrokerShared {
    pub(crate) fn throttled_until(&self) -> Option<Instant> {
        let n = self.throttled_until.load(Ordering::Acquire);
        (n != 0).then(|| self.epoch + Duration::from_nanos(n))
    }

    fn decode<R: Request>(&self, raw: RawResponse) -> Result<R::Response> {
        let Some(mut body) = raw.body else {
            return Ok(R::Response::default());
        };
        let len = body.len();
        // A hostile frame of one-byte array elements must not decode into a
        // hundred times its size (wire::with_budget).
        let resp =
            crate::messages::wire::with_budget(len, || R::Response::decode(&mut body, raw.version))
                .map_err(|e| {
                    Error::protocol(format!(
                        "decoding response key {} v{}: {e}",
                        R::KEY,
                        raw.version
                    ))
                })?;
        if let Some(ms) = resp.throttle_ms().filter(|ms| *ms > 0) {
            let after = throttle_after_response(R::KEY, raw.version);
            let d = Duration::from_millis(ms as u64).min(MAX_THROTTLE);
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
        cfg: Arc<BrokerSettings>,
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
        self.begin_at(req, None, deadline)
    }

    /// [`send`](Self::send) at version `pin` when given.
    pub(crate) fn send_at<R: Request>(
        &self,
        req: R,
        pin: Option<i16>,
        deadline: Option<Instant>,
    ) -> Result<R::Response> {
        self.begin_at(req, pin, deadline)?.wait()
    }

    /// [`begin`](Self::begin) at version `pin` when given: the request is
    /// sent at exactly that version or fails with [`Error::Config`].
    pub(crate) fn begin_at<R: Request>(
        &self,
        req: R,
        pin: Option<i16>,
        deadline: Option<Instant>,
    ) -> Result<PendingResponse<R>> {
        let versions = match pin {
            Some(v) if R::VERSIONS.contains(v) => (v, v),
            Some(v) => {
                let (min, max) = (R::VERSIONS.min, R::VERSIONS.max);
                let msg = format!(
                    "{} pinned at version {v}, outside its schema's {min}-{max}",
                    R::NAME
                );
                return Err(Error::Config(msg.into()));
            }
            None => (
                R::VERSIONS.min,
                R::VERSIONS
                    .max
                    .min(crate::protocol::api::client_max_version(R::KEY)),
            ),
        };
        let timeout_ms = req.timeout_ms();
        let expects = req.expects_response();
        let promise = self.queue(
            R::KEY,
            versions,
            pin.is_some(),
            timeout_ms,
            expects,
            Box::new(move |version, buf| {
                let mut req = req;
                req.fit_version(version);
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

    #[allow(clippy::too_many_arguments)]
    fn queue(
        &self,
        key: i16,
        our_versions: (i16, i16),
        pinned: bool,
        timeout_ms: Option<i32>,
        expects_response: bool,
        encode: EncodeFn,
        deadline: Option<Instant>,
    ) -> Result<Promise<RawResponse>> {
        let (resolver, promise) = promise();
        self.queue_to(
            key,
            our_versions,
            pinned,
            timeout_ms,
            expects_response,
            Body::Flat(encode),
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
        let timeout_ms = req.timeout_ms();
        let expects = req.expects_response();
        let encode: EncodeFn = Box::new(move |version, buf| {
            let mut req = req;
            req.fit_version(version);
            req.encode(buf, version)
                .map_err(|e| Error::protocol(format!("encoding request key {}: {e}", R::KEY)))
        });
        self.submit_body::<R>(versions, timeout_ms, expects, Body::Flat(encode), done);
    }

    /// [`submit`](Self::submit) of a request of type `R` whose body `encode`
    /// writes with splices (see [`SplicedEncodeFn`]); the response decodes
    /// as `R::Response`.
    pub(crate) fn submit_spliced<R: Request>(
        &self,
        versions: (i16, i16),
        timeout_ms: Option<i32>,
        expects_response: bool,
        encode: SplicedEncodeFn,
        done: impl FnOnce(Result<(i16, R::Response)>) + Send + 'static,
    ) {
        let body = Body::Spliced(encode);
        self.submit_body::<R>(versions, timeout_ms, expects_response, body, done);
    }

    fn submit_body<R: Request>(
        &self,
        versions: (i16, i16),
        timeout_ms: Option<i32>,
        expects_response: bool,
        body: Body,
        done: impl FnOnce(Result<(i16, R::Response)>) + Send + 'static,
    ) {
        let shared = self.shared.clone();
        let resolver = callback(move |raw: Result<RawResponse>| {
            done(raw.and_then(|raw| {
                let v = raw.version;
                shared.decode::<R>(raw).map(|r| (v, r))
            }))
        });
        let versions = (
            versions.0.max(R::VERSIONS.min),
            versions
                .1
                .min(R::VERSIONS.max)
                .min(crate::protocol::api::client_max_version(R::KEY)),
        );
        // On failure the resolver was dropped inside, which reports ClientClosed to `done`.
        let _ = self.queue_to(
            R::KEY,
            versions,
            false,
            timeout_ms,
            expects_response,
            body,
            None,
            resolver,
        );
    }

    #[allow(clippy::too_many_arguments)]
    fn queue_to(
        &self,
        key: i16,
        our_versions: (i16, i16),
        pinned: bool,
        timeout_ms: Option<i32>,
        expects_response: bool,
        encode: Body,
        deadline: Option<Instant>,
        resolver: Resolver<RawResponse>,
    ) -> Result<()> {
        if self.shared.closing.load(Ordering::Acquire) {
            return Err(Error::ClientClosed);
        }
        let q = QueuedReq {
            key,
            our_versions,
            pinned,
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
            false,
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

/// The ApiVersions request of the connection handshake and of `ping`: v3+
/// carries the client's software name and version, which Kafka validates
/// (KIP-511, `ApiVersionsRequest.isValid`: an empty name is INVALID_REQUEST).
pub(crate) fn api_versions_request(
    name: &str,
    version: &str,
) -> crate::messages::ApiVersionsRequest {
    use crate::messages::StrBytes;
    crate::messages::ApiVersionsRequest::default()
        .with_client_software_name(StrBytes::from_string(name.to_string()))
        .with_client_software_version(StrBytes::from_string(version.to_string()))
}
