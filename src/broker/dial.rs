//! Dialing: a non-blocking TCP connect through socket2, or the user's dialer,
//! then (on the I/O thread) a non-blocking TLS handshake.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Duration;

use mio::net::TcpStream;
use socket2::{Domain, Protocol, Socket, Type};

use super::BrokerSettings;
use crate::error::{Error, Result};

/// A connection's byte stream.
pub(crate) enum Stream {
    Plain(TcpStream),
    TlsHandshaking(Option<native_tls::MidHandshakeTlsStream<TcpStream>>),
    Tls(Box<native_tls::TlsStream<TcpStream>>),
}

impl Stream {
    pub(crate) fn tcp(&mut self) -> Option<&mut TcpStream> {
        match self {
            Stream::Plain(s) => Some(s),
            Stream::TlsHandshaking(Some(m)) => Some(m.get_mut()),
            Stream::TlsHandshaking(None) => None,
            Stream::Tls(s) => Some(s.get_mut()),
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read(buf),
            Stream::Tls(s) => s.read(buf),
            Stream::TlsHandshaking(_) => Err(io::ErrorKind::WouldBlock.into()),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.write(buf),
            Stream::Tls(s) => s.write(buf),
            Stream::TlsHandshaking(_) => Err(io::ErrorKind::WouldBlock.into()),
        }
    }
    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.write_vectored(bufs),
            // native-tls writes one buffer at a time (the default).
            Stream::Tls(s) => s.write_vectored(bufs),
            Stream::TlsHandshaking(_) => Err(io::ErrorKind::WouldBlock.into()),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(s) => s.flush(),
            Stream::Tls(s) => s.flush(),
            Stream::TlsHandshaking(_) => Ok(()),
        }
    }
}

/// Starts a connection to `addr` (`host:port`). With the default dialer the
/// connect is non-blocking and completes when the socket turns writable; a
/// user dialer blocks for at most `timeout` and returns a connected stream.
///
/// Returns the stream and whether it is already connected.
pub(crate) fn start(
    cfg: &BrokerSettings,
    addr: &str,
    timeout: Duration,
) -> Result<(TcpStream, bool)> {
    if let Some(d) = &cfg.dialer {
        let s = d(addr, timeout).map_err(Error::io)?;
        s.set_nonblocking(true)?;
        let _ = s.set_nodelay(true);
        return Ok((TcpStream::from_std(s), true));
    }
    let sa = resolve(addr)?;
    let sock = Socket::new(Domain::for_address(sa), Type::STREAM, Some(Protocol::TCP))?;
    sock.set_nonblocking(true)?;
    sock.set_nodelay(true)?;
    sock.set_keepalive(true)?;
    match sock.connect(&sa.into()) {
        Ok(()) => Ok((TcpStream::from_std(sock.into()), true)),
        Err(e)
            if e.raw_os_error() == Some(libc_einprogress())
                || e.kind() == io::ErrorKind::WouldBlock =>
        {
            Ok((TcpStream::from_std(sock.into()), false))
        }
        Err(e) => Err(Error::io(e)),
    }
}

#[cfg(unix)]
fn libc_einprogress() -> i32 {
    // EINPROGRESS: 115 on Linux, 36 on the BSDs and macOS.
    if cfg!(any(target_os = "linux", target_os = "android")) {
        115
    } else {
        36
    }
}

#[cfg(not(unix))]
fn libc_einprogress() -> i32 {
    10036 // WSAEINPROGRESS
}

fn resolve(addr: &str) -> Result<SocketAddr> {
    let mut it = addr
        .to_socket_addrs()
        .map_err(|e| Error::io(io::Error::new(e.kind(), format!("resolving {addr}: {e}"))))?;
    it.next().ok_or_else(|| {
        Error::io(io::Error::new(
            io::ErrorKind::NotFound,
            format!("{addr} resolved to no address"),
        ))
    })
}

/// After a writable event: `Ok(true)` connected, `Ok(false)` still connecting.
pub(crate) fn check_connected(s: &TcpStream) -> Result<bool> {
    if let Some(e) = s.take_error()? {
        return Err(Error::io(e));
    }
    match s.peer_addr() {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotConnected => Ok(false),
        Err(e) if e.raw_os_error() == Some(libc_einprogress()) => Ok(false),
        Err(e) => Err(Error::io(e)),
    }
}

/// Begins (or continues) a TLS handshake.
pub(crate) fn tls_step(
    result: std::result::Result<
        native_tls::TlsStream<TcpStream>,
        native_tls::HandshakeError<TcpStream>,
    >,
) -> Result<Stream> {
    match result {
        Ok(s) => Ok(Stream::Tls(Box::new(s))),
        Err(native_tls::HandshakeError::WouldBlock(mid)) => Ok(Stream::TlsHandshaking(Some(mid))),
        Err(native_tls::HandshakeError::Failure(e)) => Err(Error::Tls(e.to_string().into())),
    }
}
