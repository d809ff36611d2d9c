//! The [`Client`]: a cheap-to-clone facade over the cluster core and the
//! engines. Its files mirror the public surface: `request.rs` (raw
//! requests, metadata, brokers), `produce.rs` and `consume.rs`; it owns the
//! engines and the order in which they close.
//!
//! ```text
//!   Client ──► ClientInner ── cluster: Arc<Cluster>  (brokers, routing, metadata)
//!                          ── producer: Arc<Producer> (started on first produce)
//!                          ── consumer: Arc<Consumer>
//! ```
//!
//! The engines hold the cluster, never the client: dropping the last
//! `Client` closes everything.

mod consume;
mod group;
mod produce;
mod request;
mod txn;

use std::sync::{Arc, OnceLock};

use parking_lot::Mutex;

use crate::cluster::Cluster;
use crate::config::{Config, ConfigBuilder, FromConfig};
use crate::consumer::Consumer;
use crate::error::Result;
use crate::group::Group;
use crate::producer::Producer;

pub use produce::FirstErrPromise;
pub use request::Broker;
pub use txn::{GroupTransactSession, TransactionEndTry};

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

pub(crate) struct ClientInner {
    pub(crate) cfg: Config,
    pub(crate) cluster: Arc<Cluster>,
    pub(crate) producer: OnceLock<Arc<Producer>>,
    pub(crate) producer_init: Mutex<()>,
    pub(crate) consumer: OnceLock<Arc<Consumer>>,
    pub(crate) group: OnceLock<Arc<Group>>,
    closing: std::sync::atomic::AtomicBool,
}

impl FromConfig for Client {
    fn from_config(cfg: Config) -> Result<Client> {
        Client::new(cfg)
    }
}

impl Client {
    /// Starts a builder for a client; see [`ConfigBuilder`] for every option.
    pub fn builder() -> ConfigBuilder<Client> {
        ConfigBuilder::new()
    }

    /// Starts a client from a validated configuration.
    ///
    /// Hooks' [`on_new_client`](crate::Hook::on_new_client) run with the
    /// built client before any client thread starts (kgo's
    /// `HookNewClient`); the threads start once every hook returned.
    ///
    /// # Errors
    ///
    /// A seed broker without a valid port, an I/O error if a client thread
    /// cannot be started, or [`Error::ClientClosed`](crate::Error::ClientClosed)
    /// if a hook closed the client.
    pub fn new(cfg: Config) -> Result<Client> {
        let cluster = Cluster::new(cfg.cluster_settings())?;
        let client = Client {
            inner: Arc::new(ClientInner {
                cfg,
                cluster,
                producer: OnceLock::new(),
                producer_init: Mutex::new(()),
                consumer: OnceLock::new(),
                group: OnceLock::new(),
                closing: std::sync::atomic::AtomicBool::new(false),
            }),
        };
        // The consumer starts no thread of its own: its sources start on
        // metadata, which the metadata thread below fetches.
        let consumer = Consumer::start(
            client.inner.cluster.clone(),
            client.inner.cfg.consumer.clone(),
            client.inner.cfg.group.enabled(),
        );
        let _ = client.inner.consumer.set(consumer);
        crate::hooks::each(&client.inner.cfg.hooks, |h| h.on_new_client(&client));
        let started = client
            .inner
            .cluster
            .start()
            .and_then(|()| group::start(&client));
        if let Err(e) = started {
            client.close();
            return Err(e);
        }
        Ok(client)
    }

    /// The client's configuration.
    pub fn config(&self) -> &Config {
        &self.inner.cfg
    }

    /// Whether [`close`](Self::close) was called.
    pub fn is_closed(&self) -> bool {
        self.inner.cluster.is_closed()
    }

    /// Closes every connection and joins every client thread. Every call
    /// blocked on the client returns [`Error::ClientClosed`](crate::Error::ClientClosed)
    /// promptly. Idempotent.
    pub fn close(&self) {
        self.inner.close();
    }
}

impl ClientInner {
    /// The close order: the group member leaves; the producer (it fails what is buffered and
    /// stops its sinks while the brokers can still answer requests in
    /// flight), then the consumer's sources are told to stop (pollers wake
    /// with ClientClosed), then the brokers close (failing any request a
    /// source waits on), then the sources and the metadata thread are joined.
    fn close(&self) {
        use std::sync::atomic::Ordering;
        if self.closing.swap(true, Ordering::AcqRel) {
            return;
        }
        // The group leaves first, while the cluster still answers: revoke
        // (with the default commit), LeaveGroup. A member held in a JoinGroup
        // is not waited for long: the brokers' close below ends that request.
        if let Some(g) = self.group.get() {
            g.close(std::time::Duration::from_millis(500));
        }
        self.cluster.begin_close();
        if let Some(p) = self.producer.get() {
            p.close();
        }
        if let Some(c) = self.consumer.get() {
            c.begin_close();
        }
        self.cluster.close_brokers();
        if let Some(c) = self.consumer.get() {
            c.join_sources();
        }
        if let Some(g) = self.group.get() {
            g.join_thread();
        }
        self.cluster.join_meta();
    }
}

impl Drop for ClientInner {
    fn drop(&mut self) {
        self.close();
    }
}
