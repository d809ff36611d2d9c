//! What the broker layer needs from the client's options, and nothing more.
//!
//! `config` composes one [`BrokerSettings`] per client (shared by every I/O
//! thread through an `Arc`), so a broker thread never carries the whole
//! client configuration (partitioner, regexes, callbacks of the engines).

use std::fmt;
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

use super::tls_config::TlsConfig;
use crate::hooks::Hook;
use crate::logger::Logger;
use crate::protocol::versions::Versions;
use crate::sasl::Mechanism;
use crate::sync::thread::ThreadStartFn;

/// A user function that dials `host:port` and returns a connected TCP stream,
/// within the given timeout.
///
/// Called on the broker's I/O thread; it should honour the timeout. TLS, if
/// configured, is layered on top of the returned stream by the client.
pub type Dialer = Arc<dyn Fn(&str, Duration) -> std::io::Result<TcpStream> + Send + Sync>;

/// The options of one broker's I/O thread: dialing, TLS, SASL, framing
/// limits, version bounds, timeouts, hooks and logging.
#[derive(Clone)]
pub(crate) struct BrokerSettings {
    pub(crate) client_id: Option<String>,
    pub(crate) dialer: Option<Dialer>,
    pub(crate) dial_timeout: Duration,
    pub(crate) tls: Option<TlsConfig>,
    pub(crate) sasl: Vec<Arc<dyn Mechanism>>,
    pub(crate) request_timeout_overhead: Duration,
    pub(crate) conn_idle_timeout: Duration,
    pub(crate) broker_max_read_bytes: i32,
    pub(crate) broker_max_write_bytes: i32,
    pub(crate) max_versions: Option<Versions>,
    pub(crate) min_versions: Option<Versions>,
    pub(crate) software_name: String,
    pub(crate) software_version: String,
    pub(crate) hooks: Vec<Arc<dyn Hook>>,
    pub(crate) logger: Option<Arc<dyn Logger>>,
    pub(crate) on_thread_start: Option<ThreadStartFn>,
}

impl fmt::Debug for BrokerSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BrokerSettings")
            .field("client_id", &self.client_id)
            .field("dial_timeout", &self.dial_timeout)
            .field("tls", &self.tls.is_some())
            .field("sasl", &self.sasl.len())
            .field("broker_max_read_bytes", &self.broker_max_read_bytes)
            .field("broker_max_write_bytes", &self.broker_max_write_bytes)
            .finish_non_exhaustive()
    }
}
