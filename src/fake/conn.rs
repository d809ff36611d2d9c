//! Listening, connections and framing.
//!
//! Each running broker has a listener thread (`ks-fk-<id>`) blocked in
//! `accept`, and each accepted connection a thread (`ks-fkc-<id>`) that reads
//! a size-prefixed request, answers it and repeats. Reads use a short
//! timeout so a thread notices its broker's stop flag; stopping also shuts
//! the sockets down, which unblocks a thread stuck in a write.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use bytes::Bytes;
use parking_lot::Mutex;
use socket2::{Domain, Socket, Type};

use super::api::{self, ConnState, Ctx, Outcome};
use super::cluster::{Running, Shared};

/// How often a blocked read checks the stop flag.
const POLL: Duration = Duration::from_millis(200);
/// Bound on a TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Frames are read in chunks of this size, so a lying size prefix costs at
/// most this much memory before the bytes actually arrive.
const READ_CHUNK: usize = 64 * 1024;

/// A connection thread and a handle to shut its socket down.
pub(crate) struct ConnHandle {
    stream: TcpStream,
    thread: JoinHandle<()>,
}

/// Binds a listener with `SO_REUSEADDR`, so a restarted broker gets its port
/// back while old connections linger in TIME_WAIT.
pub(crate) fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    socket.listen(128)?;
    Ok(socket.into())
}

/// Starts broker `id`, binding its address unless `listener` is given.
pub(crate) fn start(
    shared: &Arc<Shared>,
    id: i32,
    listener: Option<TcpListener>,
) -> io::Result<()> {
    let slot = &shared.brokers[id as usize];
    let mut run = slot.run.lock();
    if run.is_some() {
        return Ok(());
    }
    let listener = match listener {
        Some(l) => l,
        None => bind(slot.addr)?,
    };
    let stop = Arc::new(AtomicBool::new(false));
    let conns = Arc::new(Mutex::new(Vec::new()));
    let handle = {
        let (shared, stop, conns) = (Arc::clone(shared), Arc::clone(&stop), Arc::clone(&conns));
        thread::Builder::new()
            .name(format!("ks-fk-{id}"))
            .spawn(move || accept_loop(&shared, id, &listener, &stop, &conns))?
    };
    *run = Some(Running {
        stop,
        listener: Some(handle),
        conns,
    });
    slot.alive.store(true, Ordering::Release);
    Ok(())
}

/// Stops broker `id` and joins its threads; a no-op if it is not running.
pub(crate) fn stop(shared: &Shared, id: i32) {
    let Some(slot) = shared.brokers.get(id as usize) else {
        return;
    };
    let Some(mut running) = slot.run.lock().take() else {
        return;
    };
    slot.alive.store(false, Ordering::Release);
    running.stop.store(true, Ordering::Release);
    shared.notify_data();
    if let Some(listener) = running.listener.take() {
        // Wake the blocking accept; if that fails the thread would stay
        // blocked, so it is detached rather than joined.
        if TcpStream::connect_timeout(&slot.addr, Duration::from_secs(1)).is_ok() {
            join(listener);
        }
    }
    let conns = std::mem::take(&mut *running.conns.lock());
    for c in &conns {
        let _ = c.stream.shutdown(Shutdown::Both);
    }
    for c in conns {
        join(c.thread);
    }
    // A restarted broker has lost its fetch sessions, as a real one does.
    if let Some(cache) = shared.sessions.get(id as usize) {
        *cache.lock() = super::session::SessionCache::new(shared.settings.session_cache_size);
    }
}

fn join(handle: JoinHandle<()>) {
    // Never join ourselves (an intercept closure could stop its own broker).
    if handle.thread().id() != thread::current().id() {
        let _ = handle.join();
    }
}

fn accept_loop(
    shared: &Arc<Shared>,
    id: i32,
    listener: &TcpListener,
    stop: &Arc<AtomicBool>,
    conns: &Mutex<Vec<ConnHandle>>,
) {
    for incoming in listener.incoming() {
        if stop.load(Ordering::Acquire) {
            return;
        }
        let stream = match incoming {
            Ok(s) => s,
            Err(e) => {
                log::warn!(target: "kafka_sync::fake", "accept failed broker={id} err={e}");
                thread::sleep(Duration::from_millis(10));
                continue;
            }
        };
        let Ok(handle_stream) = stream.try_clone() else {
            continue;
        };
        let spawned = {
            let (shared, stop) = (Arc::clone(shared), Arc::clone(stop));
            thread::Builder::new()
                .name(format!("ks-fkc-{id}"))
                .spawn(move || serve(&shared, id, stream, &stop))
        };
        let mut list = conns.lock();
        list.retain(|c| !c.thread.is_finished());
        match spawned {
            Ok(thread) => list.push(ConnHandle {
                stream: handle_stream,
                thread,
            }),
            Err(e) => log::warn!(target: "kafka_sync::fake", "spawn failed broker={id} err={e}"),
        }
    }
}

/// A plain or TLS connection.
enum Stream {
    Plain(TcpStream),
    Tls(Box<native_tls::TlsStream<TcpStream>>),
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read(buf),
            Stream::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.write(buf),
            Stream::Tls(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(s) => s.flush(),
            Stream::Tls(s) => s.flush(),
        }
    }
}

fn serve(shared: &Shared, broker: i32, tcp: TcpStream, stop: &AtomicBool) {
    let _ = tcp.set_nodelay(true);
    let mut stream = match &shared.settings.tls {
        None => Stream::Plain(tcp),
        Some(acceptor) => {
            let _ = tcp.set_read_timeout(Some(HANDSHAKE_TIMEOUT));
            let Ok(closer) = tcp.try_clone() else { return };
            match acceptor.accept(tcp) {
                Ok(s) => Stream::Tls(Box::new(s)),
                Err(e) => {
                    log::debug!(target: "kafka_sync::fake", "tls handshake failed broker={broker} err={e}");
                    let _ = closer.shutdown(Shutdown::Both);
                    return;
                }
            }
        }
    };
    let tcp_ref = match &stream {
        Stream::Plain(s) => s,
        Stream::Tls(s) => s.get_ref(),
    };
    if tcp_ref.set_read_timeout(Some(POLL)).is_err() {
        return;
    }
    let ctx = Ctx {
        shared,
        broker,
        stop,
    };
    let mut state = ConnState::new(shared.settings.sasl.is_some());
    loop {
        let frame = match read_frame(&mut stream, shared.settings.max_frame, shared, stop) {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => {
                log::debug!(target: "kafka_sync::fake", "closing connection broker={broker} err={e}");
                break;
            }
        };
        match api::handle_frame(&ctx, &mut state, frame) {
            Outcome::Reply(bytes) => {
                if stream
                    .write_all(&bytes)
                    .and_then(|()| stream.flush())
                    .is_err()
                {
                    break;
                }
            }
            Outcome::NoReply => {}
            Outcome::Close => break,
        }
        if state.close_after_reply {
            break;
        }
    }
    let tcp = match &mut stream {
        Stream::Plain(s) => s,
        Stream::Tls(s) => {
            let _ = s.shutdown();
            s.get_mut()
        }
    };
    // The listener keeps a clone of this socket (to unblock us on stop), so
    // dropping ours would not close the connection: shut it down explicitly.
    let _ = tcp.shutdown(Shutdown::Both);
}

fn stopped(shared: &Shared, stop: &AtomicBool) -> bool {
    stop.load(Ordering::Acquire) || shared.closed.load(Ordering::Acquire)
}

/// Fills `buf[*filled..]`, retrying on read timeouts until stopped.
/// Returns false on a clean EOF before any byte of `buf`.
fn fill(
    r: &mut impl Read,
    buf: &mut [u8],
    filled: &mut usize,
    shared: &Shared,
    stop: &AtomicBool,
) -> io::Result<bool> {
    while *filled < buf.len() {
        if stopped(shared, stop) {
            return Err(io::Error::new(
                io::ErrorKind::Interrupted,
                "broker stopping",
            ));
        }
        match r.read(&mut buf[*filled..]) {
            Ok(0) if *filled == 0 => return Ok(false),
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => *filled += n,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock
                        | io::ErrorKind::TimedOut
                        | io::ErrorKind::Interrupted
                ) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}

/// Reads one size-prefixed frame; `Ok(None)` on a clean close between frames.
///
/// A negative size or one above `max` is an error (Java's
/// `InvalidReceiveException`), closing the connection. The body buffer
/// grows as bytes arrive, so memory follows what the peer actually sent.
fn read_frame(
    r: &mut impl Read,
    max: usize,
    shared: &Shared,
    stop: &AtomicBool,
) -> io::Result<Option<Bytes>> {
    let mut len = [0u8; 4];
    let mut filled = 0;
    if !fill(r, &mut len, &mut filled, shared, stop)? {
        return Ok(None);
    }
    let size = i32::from_be_bytes(len);
    let size = usize::try_from(size)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "negative frame size"))?;
    if size > max {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("frame of {size} bytes over {max}"),
        ));
    }
    let mut buf = Vec::new();
    let mut filled = 0;
    while filled < size {
        let next = (filled + READ_CHUNK).min(size);
        buf.resize(next, 0);
        let mut part = filled;
        if !fill(r, &mut buf[..next], &mut part, shared, stop)? {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        filled = part;
    }
    Ok(Some(Bytes::from(buf)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake::Cluster;

    #[test]
    fn frames_are_bounded_and_eof_is_clean() {
        let cluster = Cluster::builder().brokers(1).build().unwrap();
        let sh = &cluster.shared;
        let stop = AtomicBool::new(false);
        let mut ok: &[u8] = &[0, 0, 0, 3, 1, 2, 3];
        assert_eq!(
            read_frame(&mut ok, 10, sh, &stop)
                .unwrap()
                .unwrap()
                .as_ref(),
            &[1, 2, 3]
        );
        assert!(read_frame(&mut ok, 10, sh, &stop).unwrap().is_none());
        let mut big: &[u8] = &[0x7f, 0xff, 0xff, 0xff];
        assert!(read_frame(&mut big, 10, sh, &stop).is_err());
        let mut neg: &[u8] = &[0xff, 0xff, 0xff, 0xff];
        assert!(read_frame(&mut neg, 10, sh, &stop).is_err());
        let mut short: &[u8] = &[0, 0, 0, 5, 1];
        assert!(read_frame(&mut short, 10, sh, &stop).is_err());
    }
}
