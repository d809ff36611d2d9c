//! A scripted loopback Kafka server for fault tests: a handler decides, per
//! request, what bytes go back (or whether the connection drops).

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use kafka_sync::messages::{ApiKey, ApiVersionsResponse, Encodable};

/// One request as the server saw it.
#[derive(Debug, Clone)]
pub struct Req {
    pub conn: usize,
    pub n: usize,
    pub key: i16,
    pub version: i16,
    pub corr: i32,
    pub body: Vec<u8>,
}

/// What to do with a request.
pub enum Action {
    /// Write these bytes as they are (a whole frame, or a broken one).
    Raw(Vec<u8>),
    /// Close the connection.
    Drop,
    /// Wait, then continue with the next action.
    Sleep(Duration),
    /// Send nothing.
    Nothing,
}

pub type Handler = dyn Fn(&Req) -> Vec<Action> + Send + Sync;

pub struct ScriptServer {
    pub port: u16,
    stop: Arc<AtomicBool>,
    join: Option<JoinHandle<()>>,
    pub conns: Arc<AtomicUsize>,
}

impl ScriptServer {
    pub fn start(handler: impl Fn(&Req) -> Vec<Action> + Send + Sync + 'static) -> ScriptServer {
        Self::start_inner(None, handler)
    }

    /// A TLS endpoint with the test certificate (tests/certs, for `localhost`).
    pub fn start_tls(
        handler: impl Fn(&Req) -> Vec<Action> + Send + Sync + 'static,
    ) -> ScriptServer {
        let cert = include_bytes!("../certs/server.pem");
        let key = include_bytes!("../certs/server.key");
        let id = native_tls::Identity::from_pkcs8(cert, key).unwrap();
        let acceptor = native_tls::TlsAcceptor::new(id).unwrap();
        Self::start_inner(Some(Arc::new(acceptor)), handler)
    }

    fn start_inner(
        tls: Option<Arc<native_tls::TlsAcceptor>>,
        handler: impl Fn(&Req) -> Vec<Action> + Send + Sync + 'static,
    ) -> ScriptServer {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.set_nonblocking(true).unwrap();
        let port = l.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let conns = Arc::new(AtomicUsize::new(0));
        let handler: Arc<Handler> = Arc::new(handler);
        let (s, c) = (stop.clone(), conns.clone());
        let join = std::thread::spawn(move || {
            let count = Arc::new(AtomicUsize::new(0));
            while !s.load(Ordering::Acquire) {
                match l.accept() {
                    Ok((sock, _)) => {
                        let id = c.fetch_add(1, Ordering::AcqRel);
                        let (h, s2, count, tls) =
                            (handler.clone(), s.clone(), count.clone(), tls.clone());
                        std::thread::spawn(move || {
                            sock.set_nonblocking(false).unwrap();
                            sock.set_read_timeout(Some(Duration::from_millis(50)))
                                .unwrap();
                            match tls {
                                None => serve(sock, id, h, s2, count),
                                Some(acc) => {
                                    sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                                    let Ok(tls) = acc.accept(sock) else { return };
                                    tls.get_ref()
                                        .set_read_timeout(Some(Duration::from_millis(50)))
                                        .unwrap();
                                    serve(tls, id, h, s2, count)
                                }
                            }
                        });
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        ScriptServer {
            port,
            stop,
            join: Some(join),
            conns,
        }
    }

    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for ScriptServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(j) = self.join.take() {
            let _ = j.join();
        }
    }
}

fn serve<S: Read + Write>(
    mut sock: S,
    conn: usize,
    h: Arc<Handler>,
    stop: Arc<AtomicBool>,
    count: Arc<AtomicUsize>,
) {
    let mut buf = Vec::new();
    loop {
        if stop.load(Ordering::Acquire) {
            return;
        }
        let mut tmp = [0u8; 65536];
        match sock.read(&mut tmp) {
            Ok(0) => return,
            Ok(n) => buf.extend_from_slice(&tmp[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                continue
            }
            Err(_) => return,
        }
        while buf.len() >= 4 {
            let size = i32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
            if buf.len() < 4 + size {
                break;
            }
            let frame: Vec<u8> = buf.drain(..4 + size).skip(4).collect();
            let key = i16::from_be_bytes([frame[0], frame[1]]);
            let version = i16::from_be_bytes([frame[2], frame[3]]);
            let corr = i32::from_be_bytes([frame[4], frame[5], frame[6], frame[7]]);
            let cid_len = i16::from_be_bytes([frame[8], frame[9]]).max(0) as usize;
            let mut pos = 10 + cid_len;
            let hv = ApiKey::try_from(key)
                .map(|k| k.request_header_version(version))
                .unwrap_or(1);
            if hv >= 2 {
                pos += 1; // empty tagged fields from our client
            }
            let req = Req {
                conn,
                n: count.fetch_add(1, Ordering::AcqRel),
                key,
                version,
                corr,
                body: frame[pos..].to_vec(),
            };
            for a in h(&req) {
                match a {
                    Action::Raw(b) => {
                        if sock.write_all(&b).is_err() {
                            return;
                        }
                    }
                    Action::Drop => return,
                    Action::Sleep(d) => std::thread::sleep(d),
                    Action::Nothing => {}
                }
            }
        }
    }
}

/// Frames an already-encoded body for `req` (adds the response header).
pub fn frame(req: &Req, body: &[u8]) -> Vec<u8> {
    let hv = if req.key == 18 {
        0
    } else {
        ApiKey::try_from(req.key)
            .map(|k| k.response_header_version(req.version))
            .unwrap_or(0)
    };
    let mut out = Vec::new();
    let size = 4 + if hv >= 1 { 1 } else { 0 } + body.len();
    out.extend_from_slice(&(size as i32).to_be_bytes());
    out.extend_from_slice(&req.corr.to_be_bytes());
    if hv >= 1 {
        out.push(0);
    }
    out.extend_from_slice(body);
    out
}

/// An ApiVersions answer listing every key our schemas know at their full range.
pub fn api_versions(req: &Req) -> Vec<u8> {
    use kafka_sync::messages::api_versions_response::ApiVersion;
    let keys = ApiKey::iter()
        .map(|k| {
            let r = k.valid_versions();
            ApiVersion::default()
                .with_api_key(k as i16)
                .with_min_version(r.min)
                .with_max_version(r.max)
        })
        .collect();
    let resp = ApiVersionsResponse::default().with_api_keys(keys);
    let mut b = bytes::BytesMut::new();
    resp.encode(&mut b, req.version).unwrap();
    frame(req, &b)
}

/// Encodes any response message at the request's version and frames it.
pub fn reply<T: Encodable>(req: &Req, msg: &T) -> Vec<u8> {
    let mut b = bytes::BytesMut::new();
    msg.encode(&mut b, req.version).unwrap();
    frame(req, &b)
}
