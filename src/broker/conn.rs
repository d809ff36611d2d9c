//! One connection: its stream, write buffer, read buffer and the requests in
//! flight on it, in the order they were written (Kafka answers in order).

use std::collections::VecDeque;
use std::io::{self, IoSlice, Read, Write};
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes, BytesMut};

use super::dial::Stream;
use super::sasl_flow::SaslState;
use super::{ConnClass, QueuedReq, RawResponse};
use crate::error::{Error, Result};
use crate::protocol::frame;
use crate::sync::promise::Resolver;

/// Where a connection is in its life.
pub(super) enum Phase {
    /// TCP connect in progress.
    Connecting,
    /// TLS handshake in progress.
    Tls,
    /// Our ApiVersions request is in flight.
    ApiVersions,
    /// SASL handshake/authenticate in progress (also on re-authentication).
    Sasl(Box<SaslState>),
    /// Serving user requests.
    Ready,
}

/// What an in-flight request is for.
pub(super) enum Purpose {
    User(Resolver<RawResponse>),
    ApiVersions,
    SaslHandshake,
    SaslAuthenticate,
    /// A SaslHandshake v0 token exchange: raw frames without headers.
    SaslRaw,
}

pub(super) struct InFlight {
    pub(super) corr: i32,
    pub(super) key: i16,
    pub(super) version: i16,
    pub(super) purpose: Purpose,
    /// Absolute end offset of this request in the write stream.
    pub(super) end: u64,
    pub(super) bytes: usize,
    pub(super) enqueued: Instant,
    pub(super) write_start: Instant,
    /// When the write finished (set on flush).
    pub(super) written_at: Option<Instant>,
    /// The response deadline: written + overhead + the request's timeout.
    pub(super) timeout: Duration,
    /// Whether a response follows (produce acks=0 has none).
    pub(super) expects_response: bool,
}

impl InFlight {
    pub(super) fn deadline(&self) -> Option<Instant> {
        self.written_at.map(|w| w + self.timeout)
    }
}

pub(super) struct Conn {
    pub(super) class: ConnClass,
    pub(super) stream: Stream,
    pub(super) phase: Phase,
    wbuf: Vec<u8>,
    /// Bytes of `wbuf` already written.
    wpos: usize,
    /// Byte runs written from their own buffers, in order: each goes on the
    /// wire before `wbuf[offset]` (record batches: never copied into
    /// `wbuf`). The front one is advanced as it is written.
    splices: VecDeque<(usize, Bytes)>,
    /// Unwritten bytes in `splices`.
    spliced: usize,
    /// Splices of the request being encoded (kept for its capacity).
    new_splices: Vec<(usize, Bytes)>,
    /// Absolute count of bytes written on this connection.
    pub(super) written_total: u64,
    rbuf: BytesMut,
    /// Bytes of `rbuf` holding data read (the rest is initialized room).
    rfill: usize,
    /// The last read of a plain socket ended in `WouldBlock` and no
    /// readiness event came since: the socket is drained (mio is
    /// edge-triggered, so the next arrival brings an event), and reading
    /// again would only cost a syscall that fails. Cleared by `readable`.
    drained: bool,
    pub(super) inflight: VecDeque<InFlight>,
    pub(super) pending: VecDeque<QueuedReq>,
    next_corr: i32,
    pub(super) last_active: Instant,
    pub(super) dial_start: Instant,
    pub(super) dial_deadline: Instant,
    pub(super) reauth_at: Option<Instant>,
    pub(super) responses_read: u64,
    /// When the first byte of the response being read arrived.
    pub(super) read_started: Option<Instant>,
}

impl Conn {
    pub(super) fn new(
        class: ConnClass,
        stream: Stream,
        phase: Phase,
        dial_timeout: Duration,
    ) -> Conn {
        let now = Instant::now();
        Conn {
            class,
            stream,
            phase,
            wbuf: Vec::with_capacity(16 << 10),
            wpos: 0,
            splices: VecDeque::new(),
            spliced: 0,
            new_splices: Vec::new(),
            written_total: 0,
            rbuf: BytesMut::with_capacity(16 << 10),
            rfill: 0,
            drained: false,
            inflight: VecDeque::new(),
            pending: VecDeque::new(),
            next_corr: 0,
            last_active: now,
            dial_start: now,
            dial_deadline: now + dial_timeout,
            reauth_at: None,
            responses_read: 0,
            read_started: None,
        }
    }

    pub(super) fn is_ready(&self) -> bool {
        matches!(self.phase, Phase::Ready)
    }

    fn take_corr(&mut self) -> i32 {
        let c = self.next_corr;
        self.next_corr = self.next_corr.wrapping_add(1) & i32::MAX;
        c
    }

    fn buffered_end(&self) -> u64 {
        self.written_total + (self.wbuf.len() - self.wpos + self.spliced) as u64
    }

    /// Appends a request frame to the write buffer (and its splices to the
    /// splice queue) and records it in flight.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn push_request(
        &mut self,
        key: i16,
        version: i16,
        client_id: Option<&str>,
        max_bytes: usize,
        purpose: Purpose,
        enqueued: Instant,
        timeout: Duration,
        expects_response: bool,
        body: impl FnOnce(&mut Vec<u8>, &mut Vec<(usize, Bytes)>) -> Result<usize>,
    ) -> std::result::Result<(), (Purpose, Error)> {
        let corr = self.take_corr();
        self.compact();
        let mut splices = std::mem::take(&mut self.new_splices);
        splices.clear();
        let res = frame::write_request(
            &mut self.wbuf,
            key,
            version,
            corr,
            client_id,
            max_bytes,
            |buf| body(buf, &mut splices),
        );
        let n = match res {
            Ok(n) => n,
            Err(e) => {
                splices.clear();
                self.new_splices = splices;
                return Err((purpose, e));
            }
        };
        for (at, b) in splices.drain(..) {
            self.spliced += b.len();
            self.splices.push_back((at, b));
        }
        self.new_splices = splices;
        let end = self.buffered_end();
        self.inflight.push_back(InFlight {
            corr,
            key,
            version,
            purpose,
            end,
            bytes: n,
            enqueued,
            write_start: Instant::now(),
            written_at: None,
            timeout,
            expects_response,
        });
        Ok(())
    }

    /// Appends a raw SASL v0 token frame (size prefix, no header).
    pub(super) fn push_raw(&mut self, token: &[u8], timeout: Duration) {
        self.compact();
        let len = i32::try_from(token.len()).unwrap_or(i32::MAX);
        self.wbuf.extend_from_slice(&len.to_be_bytes());
        self.wbuf.extend_from_slice(&token[..len as usize]);
        let end = self.buffered_end();
        let now = Instant::now();
        self.inflight.push_back(InFlight {
            corr: -1,
            key: 17,
            version: 0,
            purpose: Purpose::SaslRaw,
            end,
            bytes: token.len() + 4,
            enqueued: now,
            write_start: now,
            written_at: None,
            timeout,
            expects_response: true,
        });
    }

    fn compact(&mut self) {
        if self.wpos > 0 && self.wpos == self.wbuf.len() && self.splices.is_empty() {
            self.wbuf.clear();
            self.wpos = 0;
        } else if self.wpos > (1 << 20) {
            // Every splice left is at or after `wpos` (writing passes an
            // offset only once the splice before it is written).
            self.wbuf.drain(..self.wpos);
            for (at, _) in self.splices.iter_mut() {
                *at -= self.wpos;
            }
            self.wpos = 0;
        }
    }

    pub(super) fn has_unwritten(&self) -> bool {
        self.wpos < self.wbuf.len() || !self.splices.is_empty()
    }

    /// Marks `n` bytes of the unwritten stream written.
    fn advance_written(&mut self, mut n: usize) {
        self.written_total += n as u64;
        while n > 0 {
            match self.splices.front_mut() {
                Some((off, b)) if *off == self.wpos => {
                    let m = n.min(b.len());
                    b.advance(m);
                    self.spliced -= m;
                    n -= m;
                    if b.is_empty() {
                        self.splices.pop_front();
                    }
                }
                front => {
                    let end = front.map_or(self.wbuf.len(), |(off, _)| *off);
                    let m = n.min(end - self.wpos);
                    self.wpos += m;
                    n -= m;
                    if m == 0 {
                        // Cannot happen: the stream has no more bytes.
                        break;
                    }
                }
            }
        }
    }

    /// Writes as much as the socket takes. Returns the number of bytes written.
    pub(super) fn flush(&mut self) -> io::Result<usize> {
        let mut total = 0;
        while self.has_unwritten() {
            let res = {
                let mut iov = [IoSlice::new(&[]); 64];
                let k = unwritten(&self.wbuf, self.wpos, &self.splices, &mut iov);
                self.stream.write_vectored(&iov[..k])
            };
            match res {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    self.advance_written(n);
                    total += n;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
        if self.wpos == self.wbuf.len() && self.splices.is_empty() {
            self.wbuf.clear();
            self.wpos = 0;
            // Release a buffer that a large produce request grew.
            if self.wbuf.capacity() > (4 << 20) {
                self.wbuf.shrink_to(64 << 10);
            }
        }
        if total > 0 {
            self.last_active = Instant::now();
        }
        Ok(total)
    }

    /// A readiness event came for the socket: the next `read_frames` reads.
    pub(super) fn readable(&mut self) {
        self.drained = false;
    }

    /// Reads what the socket has, returning complete frames (without their
    /// size prefix), each with when its first byte arrived. A frame whose
    /// size prefix is invalid or over `max_read` is an error; memory stays
    /// bounded by `max_read`.
    ///
    /// `rbuf[..rfill]` is data read; `rbuf[rfill..]` is room already
    /// initialized by an earlier read, so it is read into as it is: each
    /// byte of the buffer is zero-filled once, when the buffer grows, not
    /// before every read (a 1 MB fetch response arriving 64 KiB at a time
    /// used to zero 512 KiB per read).
    pub(super) fn read_frames(
        &mut self,
        max_read: i32,
        out: &mut Vec<(Bytes, Instant)>,
    ) -> Result<()> {
        if self.drained {
            // Every complete frame was split off before the last read.
            return Ok(());
        }
        loop {
            // Split complete frames first.
            loop {
                if self.rfill < 4 {
                    break;
                }
                let raw = matches!(
                    self.inflight.front().map(|f| &f.purpose),
                    Some(Purpose::SaslRaw)
                );
                let prefix = [self.rbuf[0], self.rbuf[1], self.rbuf[2], self.rbuf[3]];
                let size = frame::frame_size(prefix, max_read, raw)?;
                if self.rfill < 4 + size {
                    break;
                }
                self.rbuf.advance(4);
                self.rfill -= 4 + size;
                let started = self.read_started.unwrap_or(self.last_active);
                out.push((self.rbuf.split_to(size).freeze(), started));
                // Bytes left over arrived with the last read, so the next
                // response began then.
                self.read_started = if self.rfill == 0 {
                    None
                } else {
                    Some(self.last_active)
                };
            }
            // Then read more, sized to the frame in progress.
            let need = if self.rfill >= 4 {
                let size =
                    i32::from_be_bytes([self.rbuf[0], self.rbuf[1], self.rbuf[2], self.rbuf[3]])
                        .max(0) as usize;
                (size + 4).saturating_sub(self.rfill)
            } else {
                0
            };
            let chunk = need.clamp(16 << 10, 1 << 20);
            let len = self.rfill;
            if self.rbuf.len() < len + chunk {
                if len + chunk > self.rbuf.capacity() {
                    // Growing moves the data: do not move stale room with it.
                    self.rbuf.truncate(len);
                }
                self.rbuf.resize(len + chunk, 0);
            }
            let res = self.stream.read(&mut self.rbuf[len..]);
            match res {
                Ok(0) => {
                    let what = if len > 0 {
                        "in the middle of a response"
                    } else {
                        ""
                    };
                    if self.responses_read == 0 && !self.inflight.is_empty() {
                        return Err(Error::FirstReadEof(
                            format!("connection closed by broker {what}").trim().into(),
                        ));
                    }
                    return Err(Error::io(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        format!("connection closed by broker {what}")
                            .trim()
                            .to_string(),
                    )));
                }
                Ok(n) => {
                    self.rfill = len + n;
                    self.last_active = Instant::now();
                    if self.read_started.is_none() {
                        self.read_started = Some(self.last_active);
                    }
                }
                Err(e) => match e.kind() {
                    io::ErrorKind::WouldBlock => {
                        // Plain sockets only: a TLS library may take bytes
                        // off the socket outside our reads (while writing,
                        // in a renegotiation) and hold them where no
                        // readiness event announces them.
                        self.drained = matches!(self.stream, Stream::Plain(_));
                        if self.rfill == 0 && self.rbuf.capacity() > (4 << 20) {
                            self.rbuf = BytesMut::with_capacity(16 << 10);
                        }
                        return Ok(());
                    }
                    io::ErrorKind::Interrupted => continue,
                    _ => return Err(Error::io(e)),
                },
            }
        }
    }
}

/// The unwritten stream as I/O slices (at most `iov.len()`): `wbuf` from
/// `wpos` with the splices in place. Returns how many were set.
fn unwritten<'a>(
    wbuf: &'a [u8],
    wpos: usize,
    splices: &'a VecDeque<(usize, Bytes)>,
    iov: &mut [IoSlice<'a>],
) -> usize {
    let mut k = 0;
    let mut at = wpos;
    for (off, b) in splices {
        if k + 2 > iov.len() {
            return k;
        }
        if *off > at {
            iov[k] = IoSlice::new(&wbuf[at..*off]);
            k += 1;
            at = *off;
        }
        iov[k] = IoSlice::new(b);
        k += 1;
    }
    if at < wbuf.len() && k < iov.len() {
        iov[k] = IoSlice::new(&wbuf[at..]);
        k += 1;
    }
    k
}
