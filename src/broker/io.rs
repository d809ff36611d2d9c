//! The broker I/O thread (`ks-io-<id>`): one mio poll over this broker's
//! connections (one per [`ConnClass`]) and a waker that request senders poke.
//!
//! Every step is non-blocking: dialing, the TLS handshake, ApiVersions, SASL
//! and user requests are all driven from readiness events, so one slow
//! connection never holds up another. Deadlines (dial, per-request response,
//! idle reaping, throttles) bound the poll's timeout.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use crossbeam_channel::Receiver;
use mio::{Events, Interest, Poll, Token};

use super::conn::{Conn, Phase, Purpose};
use super::dial::{self, Stream};
use super::report;
use super::sasl_flow::{self, Next, SaslState};
use super::{BrokerE2E, BrokerShared, Cmd, ConnClass, QueuedReq, RawResponse};
use crate::error::{Error, Result, TimeoutKind};
use crate::hooks;
use crate::logger::klog;
use crate::messages::{ApiVersionsResponse, Decodable, Encodable};
use crate::protocol::frame;
use crate::protocol::versions::{self, BrokerVersions};

pub(super) const WAKER: Token = Token(usize::MAX);
const MAX_API_VERSIONS: i16 = 3;

struct Io {
    shared: Arc<BrokerShared>,
    poll: Poll,
    rx: Receiver<Cmd>,
    conns: [Option<Conn>; 4],
    /// Complete responses of one read, with when each began to arrive.
    frames: Vec<(Bytes, Instant)>,
}

pub(super) fn run(shared: Arc<BrokerShared>, poll: Poll, rx: Receiver<Cmd>) {
    let mut io = Io {
        shared,
        poll,
        rx,
        conns: [None, None, None, None],
        frames: Vec::new(),
    };
    let mut events = Events::with_capacity(64);
    loop {
        if io.shared.closing.load(Ordering::Acquire) {
            break;
        }
        let timeout = io.next_timeout();
        if let Err(e) = io.poll.poll(&mut events, timeout) {
            if e.kind() != std::io::ErrorKind::Interrupted {
                klog!(io.shared.cfg.logger.as_deref(), Error, "broker poll failed", "broker" => io.shared.meta.node_id, "err" => e);
                break;
            }
        }
        for ev in events.iter() {
            if ev.token() != WAKER {
                if let Some(class) = ConnClass::ALL.get(ev.token().0).copied() {
                    if let Some(c) = io.conns[class as usize].as_mut() {
                        c.readable();
                    }
                    io.drive(class);
                }
            }
        }
        io.drain_commands();
        io.tick();
    }
    io.shutdown();
}

impl Io {
    fn logger(&self) -> Option<&dyn crate::logger::Logger> {
        self.shared.cfg.logger.as_deref()
    }

    fn next_timeout(&self) -> Option<Duration> {
        let now = Instant::now();
        let mut next: Option<Instant> = None;
        let mut consider = |t: Instant| next = Some(next.map_or(t, |n| n.min(t)));
        for c in self.conns.iter().flatten() {
            if !c.is_ready() {
                consider(c.dial_deadline);
            }
            for f in &c.inflight {
                if let Some(d) = f.deadline() {
                    consider(d);
                }
            }
            if let Some(d) = c.pending.iter().filter_map(|q| q.caller_deadline).min() {
                consider(d);
            }
            if c.inflight.is_empty() && c.pending.is_empty() {
                consider(c.last_active + self.shared.cfg.conn_idle_timeout);
            }
            if let Some(r) = c.reauth_at {
                consider(r);
            }
            if !c.pending.is_empty() {
                if let Some(t) = self.shared.throttled_until() {
                    consider(t);
                }
            }
        }
        next.map(|n| n.saturating_duration_since(now) + Duration::from_millis(1))
    }

    fn drain_commands(&mut self) {
        while let Ok(cmd) = self.rx.try_recv() {
            match cmd {
                Cmd::Req(q) => self.enqueue(q),
            }
        }
    }

    fn enqueue(&mut self, q: QueuedReq) {
        let class = q.class;
        if self.conns[class as usize].is_none() {
            match self.dial(class) {
                Ok(c) => self.conns[class as usize] = Some(c),
                Err(e) => {
                    q.resolver.resolve(Err(e));
                    return;
                }
            }
        }
        if let Some(c) = self.conns[class as usize].as_mut() {
            c.pending.push_back(q);
        }
        self.drive(class);
    }

    fn dial(&mut self, class: ConnClass) -> Result<Conn> {
        let cfg = &self.shared.cfg;
        let meta = &self.shared.meta;
        let start = Instant::now();
        let res = dial::start(cfg, &meta.addr(), cfg.dial_timeout);
        let (mut tcp, connected) = match res {
            Ok(v) => v,
            Err(e) => {
                hooks::each(&cfg.hooks, |h| {
                    h.on_broker_connect(meta, start.elapsed(), Some(&e))
                });
                klog!(self.logger(), Warn, "unable to dial broker", "broker" => meta.node_id, "addr" => meta.addr(), "err" => e);
                return Err(e);
            }
        };
        self.poll.registry().register(
            &mut tcp,
            Token(class as usize),
            Interest::READABLE | Interest::WRITABLE,
        )?;
        let mut c = Conn::new(
            class,
            Stream::Plain(tcp),
            Phase::Connecting,
            cfg.dial_timeout,
        );
        c.dial_start = start;
        if connected {
            self.on_connected(&mut c)?;
        }
        Ok(c)
    }

    /// TCP is up: start TLS, or go straight to ApiVersions.
    fn on_connected(&mut self, c: &mut Conn) -> Result<()> {
        if let Some(tls) = &self.shared.cfg.tls {
            let Stream::Plain(tcp) = std::mem::replace(&mut c.stream, Stream::TlsHandshaking(None))
            else {
                return Err(Error::protocol("tls started twice"));
            };
            let name = tls
                .server_name
                .clone()
                .unwrap_or_else(|| self.shared.meta.bare_host().to_string());
            c.stream = dial::tls_step(tls.connector.connect(&name, tcp))?;
            c.phase = Phase::Tls;
            if matches!(c.stream, Stream::Tls(_)) {
                self.on_tls_done(c)?;
            }
            Ok(())
        } else {
            self.on_tls_done(c)
        }
    }

    fn on_tls_done(&mut self, c: &mut Conn) -> Result<()> {
        let meta = &self.shared.meta;
        let dur = c.dial_start.elapsed();
        hooks::each(&self.shared.cfg.hooks, |h| {
            h.on_broker_connect(meta, dur, None)
        });
        klog!(self.logger(), Debug, "connection opened to broker", "broker" => meta.node_id, "addr" => meta.addr(), "class" => format!("{:?}", c.class));
        let v = self
            .shared
            .versions
            .read()
            .as_ref()
            .and_then(|v| v.range(18))
            .map_or(MAX_API_VERSIONS, |(_, max)| max.min(MAX_API_VERSIONS));
        self.send_api_versions(c, v)
    }

    fn send_api_versions(&self, c: &mut Conn, version: i16) -> Result<()> {
        let cfg = &self.shared.cfg;
        let req = super::api_versions_request(&cfg.software_name, &cfg.software_version);
        c.phase = Phase::ApiVersions;
        self.push_internal(c, 18, version, Purpose::ApiVersions, |buf| {
            req.encode(buf, version)
                .map_err(|e| Error::protocol(format!("encoding api versions: {e}")))
        })
    }

    fn push_internal(
        &self,
        c: &mut Conn,
        key: i16,
        version: i16,
        purpose: Purpose,
        body: impl FnOnce(&mut Vec<u8>) -> Result<()>,
    ) -> Result<()> {
        let cfg = &self.shared.cfg;
        let body = |buf: &mut Vec<u8>, _: &mut Vec<(usize, bytes::Bytes)>| body(buf).map(|()| 0);
        c.push_request(
            key,
            version,
            cfg.client_id.as_deref(),
            i32::MAX as usize,
            purpose,
            Instant::now(),
            cfg.request_timeout_overhead,
            true,
            body,
        )
        .map_err(|(_, e)| e)
    }

    /// Does everything possible on one connection; kills it on error.
    fn drive(&mut self, class: ConnClass) {
        let Some(mut c) = self.conns[class as usize].take() else {
            return;
        };
        match self.drive_conn(&mut c) {
            Ok(()) => self.conns[class as usize] = Some(c),
            Err(e) => self.kill(c, e),
        }
    }

    fn drive_conn(&mut self, c: &mut Conn) -> Result<()> {
        if matches!(c.phase, Phase::Connecting) {
            let Some(tcp) = c.stream.tcp() else {
                return Err(Error::protocol("connection has no socket"));
            };
            if !dial::check_connected(tcp)? {
                return Ok(());
            }
            self.on_connected(c)?;
        }
        if matches!(c.phase, Phase::Tls) {
            if let Stream::TlsHandshaking(mid) = &mut c.stream {
                let Some(m) = mid.take() else {
                    return Err(Error::protocol("tls handshake lost its stream"));
                };
                c.stream = dial::tls_step(m.handshake())?;
            }
            if !matches!(c.stream, Stream::Tls(_)) {
                return Ok(());
            }
            self.on_tls_done(c)?;
        }
        loop {
            self.write_pending(c);
            let before = c.written_total;
            if c.has_unwritten() {
                c.flush().map_err(Error::io)?;
            }
            let wrote = c.written_total != before;
            self.mark_written(c);
            let mut frames = std::mem::take(&mut self.frames);
            let read = c.read_frames(self.shared.cfg.broker_max_read_bytes, &mut frames);
            let got = !frames.is_empty();
            let mut res = Ok(());
            for (f, started) in frames.drain(..) {
                if let Err(e) = self.on_frame(c, f, started) {
                    res = Err(e);
                    break;
                }
            }
            self.frames = frames;
            res?;
            if let Err(e) = read {
                // The response that failed to frame belongs to the oldest request.
                if let Some(front) = c.inflight.pop_front() {
                    report::failed(
                        &self.shared,
                        front,
                        &e,
                        c.written_total,
                        c.read_started.take(),
                    );
                }
                return Err(e);
            }
            // Responses may have unlocked more writes (SASL, ApiVersions).
            if !got && !wrote {
                return Ok(());
            }
        }
    }

    /// Moves pending user requests into the write buffer when the connection
    /// is ready and the broker is not throttling us.
    fn write_pending(&self, c: &mut Conn) {
        if !c.is_ready() || c.pending.is_empty() {
            return;
        }
        let now = Instant::now();
        if c.reauth_at.is_some_and(|r| now >= r) {
            return; // draining for re-authentication
        }
        if self.shared.throttled_until().is_some_and(|t| t > now) {
            return;
        }
        let cfg = &self.shared.cfg;
        let versions = self.shared.versions.read().clone();
        while let Some(q) = c.pending.pop_front() {
            if q.caller_deadline.is_some_and(|d| d <= now) {
                q.resolver.resolve(Err(Error::Timeout(TimeoutKind::Caller)));
                continue;
            }
            let picked = if q.pinned {
                versions::pick_pinned(q.key, q.our_versions.0, versions.as_deref())
            } else {
                versions::pick(
                    q.key,
                    q.our_versions,
                    versions.as_deref(),
                    cfg.max_versions.as_ref(),
                    cfg.min_versions.as_ref(),
                )
            };
            let version = match picked {
                Ok(v) => v,
                Err(e) => {
                    q.resolver.resolve(Err(e));
                    continue;
                }
            };
            let max = if q.key == 0 {
                cfg.broker_max_write_bytes as usize
            } else {
                i32::MAX as usize
            };
            let timeout = cfg.request_timeout_overhead
                + Duration::from_millis(q.timeout_ms.unwrap_or(0).max(0) as u64);
            let encode = q.encode;
            let res = c.push_request(
                q.key,
                version,
                cfg.client_id.as_deref(),
                max,
                Purpose::User(q.resolver),
                q.enqueued,
                timeout,
                q.expects_response,
                |buf, splices| encode.encode(version, buf, splices),
            );
            if let Err((purpose, e)) = res {
                hooks::each(&cfg.hooks, |h| {
                    h.on_broker_write(
                        &self.shared.meta,
                        q.key,
                        0,
                        now - q.enqueued,
                        Duration::ZERO,
                        Some(&e),
                    )
                });
                if let Purpose::User(r) = purpose {
                    r.resolve(Err(e));
                }
            }
        }
    }

    /// Records write completion for flushed requests; resolves those that
    /// expect no response.
    fn mark_written(&self, c: &mut Conn) {
        let now = Instant::now();
        let total = c.written_total;
        let meta = &self.shared.meta;
        let hooks = &self.shared.cfg.hooks;
        let mut i = 0;
        while i < c.inflight.len() {
            let f = &mut c.inflight[i];
            if f.written_at.is_some() {
                i += 1;
                continue;
            }
            if f.end > total {
                break;
            }
            f.written_at = Some(now);
            let (key, bytes, wait, took) = (
                f.key,
                f.bytes,
                f.write_start - f.enqueued,
                now - f.write_start,
            );
            hooks::each(hooks, |h| {
                h.on_broker_write(meta, key, bytes, wait, took, None)
            });
            if !f.expects_response {
                if let Some(f) = c.inflight.remove(i) {
                    let e2e = BrokerE2E {
                        bytes_written: bytes,
                        write_wait: wait,
                        time_to_write: took,
                        ..Default::default()
                    };
                    hooks::each(hooks, |h| h.on_broker_e2e(meta, key, &e2e));
                    if let Purpose::User(r) = f.purpose {
                        r.resolve(Ok(RawResponse {
                            version: f.version,
                            body: None,
                        }));
                    }
                }
                continue;
            }
            i += 1;
        }
    }

    fn on_frame(&mut self, c: &mut Conn, frame: Bytes, started: Instant) -> Result<()> {
        let Some(front) = c.inflight.pop_front() else {
            return Err(Error::protocol(format!(
                "broker sent a response (correlation id {:?}) when none was expected",
                frame::peek_correlation(&frame)
            )));
        };
        c.responses_read += 1;
        let bytes_read = frame.len() + 4;
        let body = if matches!(front.purpose, Purpose::SaslRaw) {
            frame
        } else {
            let parsed = frame::parse_response(
                frame,
                frame::response_header_version(front.key, front.version),
            )
            .and_then(|(corr, body)| {
                if corr == front.corr {
                    return Ok(body);
                }
                Err(Error::protocol(format!(
                    "response correlation id {corr} does not match the oldest request's {}",
                    front.corr
                )))
            });
            match parsed {
                Ok(body) => body,
                Err(e) => {
                    report::failed(&self.shared, front, &e, c.written_total, Some(started));
                    return Err(e);
                }
            }
        };
        if matches!(front.purpose, Purpose::User(_)) {
            report::read(&self.shared, &front, bytes_read, started);
        }
        match front.purpose {
            Purpose::User(r) => {
                r.resolve(Ok(RawResponse {
                    version: front.version,
                    body: Some(body),
                }));
                Ok(())
            }
            Purpose::ApiVersions => self.on_api_versions(c, body, front.version),
            Purpose::SaslHandshake => {
                let auth = self.auth_version();
                let host = self.shared.meta.bare_host().to_string();
                let Phase::Sasl(st) = &mut c.phase else {
                    return Err(Error::protocol("sasl response outside sasl"));
                };
                let next =
                    st.on_handshake(&self.shared.cfg.sasl, body, front.version, auth, &host)?;
                self.sasl_next(c, next)
            }
            Purpose::SaslAuthenticate => {
                let Phase::Sasl(st) = &mut c.phase else {
                    return Err(Error::protocol("sasl response outside sasl"));
                };
                let next = st.on_authenticate(body, front.version)?;
                self.sasl_next(c, next)
            }
            Purpose::SaslRaw => {
                let Phase::Sasl(st) = &mut c.phase else {
                    return Err(Error::protocol("sasl response outside sasl"));
                };
                let next = st.on_challenge(&body, None)?;
                self.sasl_next(c, next)
            }
        }
    }

    fn auth_version(&self) -> Option<i16> {
        let v = self.shared.versions.read().clone();
        versions::pick(
            36,
            (0, 2),
            v.as_deref(),
            self.shared.cfg.max_versions.as_ref(),
            None,
        )
        .ok()
    }

    fn on_api_versions(&mut self, c: &mut Conn, body: Bytes, version: i16) -> Result<()> {
        let mut b = body.clone();
        use crate::messages::wire::with_budget;
        let decoded = with_budget(b.len(), || ApiVersionsResponse::decode(&mut b, version));
        // KIP-511: a broker that does not know our ApiVersions version answers
        // UNSUPPORTED_VERSION with a v0 body listing what it supports.
        let resp = match decoded {
            Ok(r) if r.error_code != 35 => r,
            _ => {
                let mut b = body;
                let v0 = with_budget(b.len(), || ApiVersionsResponse::decode(&mut b, 0))
                    .map_err(|e| Error::protocol(format!("decoding api versions: {e}")))?;
                if v0.error_code == 35 && version > 0 {
                    let max = v0
                        .api_keys
                        .iter()
                        .find(|k| k.api_key == 18)
                        .map_or(0, |k| k.max_version);
                    let retry = max.clamp(0, version - 1);
                    klog!(self.logger(), Info, "broker does not support our api versions request, downgrading",
                        "broker" => self.shared.meta.node_id, "from" => version, "to" => retry);
                    return self.send_api_versions(c, retry);
                }
                v0
            }
        };
        if let Some(e) = Error::from_code(resp.error_code) {
            return Err(e);
        }
        let ranges = resp
            .api_keys
            .iter()
            .map(|k| (k.api_key, k.min_version, k.max_version))
            .collect();
        *self.shared.versions.write() = Some(Arc::new(BrokerVersions::new(ranges)));
        self.after_versions(c)
    }

    fn after_versions(&mut self, c: &mut Conn) -> Result<()> {
        if self.shared.cfg.sasl.is_empty() {
            c.phase = Phase::Ready;
            return Ok(());
        }
        self.start_sasl(c)
    }

    fn start_sasl(&mut self, c: &mut Conn) -> Result<()> {
        let v = self.shared.versions.read().clone();
        let hv = versions::pick(17, (0, 1), v.as_deref(), None, None)
            .map_err(|_| Error::Sasl("the broker does not support SaslHandshake".into()))?;
        let (st, next) = SaslState::start(&self.shared.cfg.sasl, 0, hv)?;
        c.phase = Phase::Sasl(st);
        self.sasl_next(c, next)
    }

    fn sasl_next(&mut self, c: &mut Conn, next: Next) -> Result<()> {
        match next {
            Next::Handshake { version, body } => {
                self.push_internal(c, 17, version, Purpose::SaslHandshake, |buf| {
                    sasl_flow::encode(&body, version, buf)
                })
            }
            Next::Authenticate { version, body } => {
                self.push_internal(c, 36, version, Purpose::SaslAuthenticate, |buf| {
                    sasl_flow::encode(&body, version, buf)
                })
            }
            Next::Raw(token) => {
                c.push_raw(&token, self.shared.cfg.request_timeout_overhead);
                Ok(())
            }
            Next::Done(lifetime) => {
                c.reauth_at = lifetime.map(|l| sasl_flow::reauth_at(Instant::now(), l));
                c.phase = Phase::Ready;
                klog!(self.logger(), Debug, "sasl authenticated", "broker" => self.shared.meta.node_id);
                Ok(())
            }
        }
    }

    /// Deadlines, idle reaping, re-authentication and throttle expiry.
    fn tick(&mut self) {
        let now = Instant::now();
        for class in ConnClass::ALL {
            let Some(mut c) = self.conns[class as usize].take() else {
                continue;
            };
            if !c.is_ready()
                && matches!(c.phase, Phase::Connecting | Phase::Tls)
                && now >= c.dial_deadline
            {
                self.kill(c, Error::Timeout(TimeoutKind::Dial));
                continue;
            }
            if let Some(pos) = c
                .inflight
                .iter()
                .position(|f| f.deadline().is_some_and(|d| now >= d))
            {
                // Kafka answers in order, so a late response poisons the connection.
                let late = c.inflight.remove(pos);
                if let Some(f) = late {
                    klog!(self.logger(), Warn, "request timed out, closing connection", "broker" => self.shared.meta.node_id, "key" => f.key);
                    // Only the oldest request can be partway through its response.
                    let started = if pos == 0 {
                        c.read_started.take()
                    } else {
                        None
                    };
                    let e = Error::Timeout(TimeoutKind::Request);
                    report::failed(&self.shared, f, &e, c.written_total, started);
                }
                self.kill(c, Error::Timeout(TimeoutKind::Request));
                continue;
            }
            if c.pending
                .iter()
                .any(|q| q.caller_deadline.is_some_and(|d| d <= now))
            {
                let mut keep = std::collections::VecDeque::with_capacity(c.pending.len());
                for q in c.pending.drain(..) {
                    if q.caller_deadline.is_some_and(|d| d <= now) {
                        q.resolver.resolve(Err(Error::Timeout(TimeoutKind::Caller)));
                    } else {
                        keep.push_back(q);
                    }
                }
                c.pending = keep;
            }
            let idle = c.inflight.is_empty() && c.pending.is_empty() && !c.has_unwritten();
            if idle
                && now.saturating_duration_since(c.last_active) >= self.shared.cfg.conn_idle_timeout
            {
                klog!(self.logger(), Debug, "closing idle connection", "broker" => self.shared.meta.node_id);
                self.close_conn(c);
                continue;
            }
            if c.is_ready() && c.reauth_at.is_some_and(|r| now >= r) && c.inflight.is_empty() {
                c.reauth_at = None;
                if let Err(e) = self.start_sasl(&mut c) {
                    self.kill(c, e);
                    continue;
                }
            }
            self.conns[class as usize] = Some(c);
            self.drive(class);
        }
    }

    /// Fails everything on `c` with `err` and closes it.
    fn kill(&mut self, mut c: Conn, err: Error) {
        klog!(self.logger(), Warn, "connection failed", "broker" => self.shared.meta.node_id,
            "class" => format!("{:?}", c.class), "err" => err);
        let mut started = c.read_started.take();
        for f in c.inflight.drain(..) {
            // Only the oldest request can be partway through its response.
            report::failed(&self.shared, f, &err, c.written_total, started.take());
        }
        let ready = c.is_ready();
        for q in c.pending.drain(..) {
            // A request queued on a serving connection was due to be written
            // on it, so its write failed; one queued behind a dial or a
            // handshake never reached a connection (kgo's loadConnection
            // error), so it gets no write hook.
            if ready {
                report::unwritten(&self.shared, q.key, q.enqueued, &err);
            }
            q.resolver.resolve(Err(err.clone()));
        }
        if matches!(c.phase, Phase::Connecting | Phase::Tls) {
            let meta = &self.shared.meta;
            hooks::each(&self.shared.cfg.hooks, |h| {
                h.on_broker_connect(meta, c.dial_start.elapsed(), Some(&err))
            });
        }
        self.close_conn(c);
    }

    fn close_conn(&mut self, mut c: Conn) {
        if let Some(tcp) = c.stream.tcp() {
            let _ = self.poll.registry().deregister(tcp);
            let _ = tcp.shutdown(std::net::Shutdown::Both);
        }
        if !matches!(c.phase, Phase::Connecting | Phase::Tls) {
            hooks::each(&self.shared.cfg.hooks, |h| {
                h.on_broker_disconnect(&self.shared.meta)
            });
        }
        for q in c.pending.drain(..) {
            q.resolver.resolve(Err(Error::ClientClosed));
        }
    }

    fn shutdown(&mut self) {
        for class in ConnClass::ALL {
            if let Some(mut c) = self.conns[class as usize].take() {
                for f in c.inflight.drain(..) {
                    if let Purpose::User(r) = f.purpose {
                        r.resolve(Err(Error::ClientClosed));
                    }
                }
                self.close_conn(c);
            }
        }
        while let Ok(Cmd::Req(q)) = self.rx.try_recv() {
            q.resolver.resolve(Err(Error::ClientClosed));
        }
        *self.shared.waker.lock() = None;
    }
}
