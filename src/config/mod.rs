//! Client configuration: [`Config`] and its builder.
//!
//! Every kgo client-level option has a setter here with kgo's default and
//! meaning. [`ConfigBuilder::build`] validates bounds and combinations (see
//! `validate.rs`) and names the offending option in its error.

mod consumer;
pub(crate) mod group;
mod producer;
mod validate;

use std::fmt;
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

use crate::broker::BrokerSettings;
use crate::cluster::settings::{BackoffFn, RetryTimeoutFn};
use crate::cluster::ClusterSettings;
use crate::consumer::ConsumerSettings;
use crate::error::Result;
use crate::group::GroupSettings;
use crate::hooks::Hook;
use crate::logger::Logger;
use crate::producer::ProducerSettings;
use crate::sasl::Mechanism;
use crate::sync::thread::ThreadStartFn;

pub use crate::broker::{Dialer, TlsConfig, TlsConfigBuilder};
pub use crate::consumer::IsolationLevel;
pub use crate::protocol::versions::Versions;

/// The client's configuration. Cheap to clone; built by [`Config::builder`].
#[derive(Clone)]
pub struct Config {
    pub(crate) seed_brokers: Vec<String>,
    pub(crate) client_id: Option<String>,
    pub(crate) dialer: Option<Dialer>,
    pub(crate) dial_timeout: Duration,
    pub(crate) tls: Option<TlsConfig>,
    pub(crate) sasl: Vec<Arc<dyn Mechanism>>,
    pub(crate) request_retries: u32,
    pub(crate) retry_backoff_fn: Option<BackoffFn>,
    pub(crate) retry_timeout: Option<Duration>,
    pub(crate) retry_timeout_fn: Option<RetryTimeoutFn>,
    pub(crate) session_timeout: Duration,
    pub(crate) request_timeout_overhead: Duration,
    pub(crate) conn_idle_timeout: Duration,
    pub(crate) metadata_max_age: Duration,
    pub(crate) metadata_min_age: Duration,
    pub(crate) broker_max_read_bytes: i32,
    pub(crate) broker_max_write_bytes: i32,
    pub(crate) max_versions: Option<Versions>,
    pub(crate) min_versions: Option<Versions>,
    pub(crate) software_name: String,
    pub(crate) software_version: String,
    pub(crate) allow_auto_topic_creation: bool,
    pub(crate) hooks: Vec<Arc<dyn Hook>>,
    pub(crate) logger: Option<Arc<dyn Logger>>,
    pub(crate) on_thread_start: Option<ThreadStartFn>,
    pub(crate) producer: ProducerSettings,
    pub(crate) consumer: ConsumerSettings,
    pub(crate) group: GroupSettings,
    pub(crate) group_callbacks: group::GroupCallbacks,
    /// The first group option set, for the error when no group is.
    pub(crate) group_option_set: Option<&'static str>,
}

impl Config {
    /// Starts a builder with every option at its default.
    pub fn builder() -> ConfigBuilder<Config> {
        ConfigBuilder::new()
    }

    /// Seed brokers, each `host:port`.
    pub fn seed_brokers(&self) -> &[String] {
        &self.seed_brokers
    }
    /// The client id sent in every request header.
    pub fn client_id(&self) -> Option<&str> {
        self.client_id.as_deref()
    }
    /// Whether a custom dialer is set.
    pub fn has_dialer(&self) -> bool {
        self.dialer.is_some()
    }
    /// The dial timeout of the default dialer.
    pub fn dial_timeout(&self) -> Duration {
        self.dial_timeout
    }
    /// The TLS configuration, if any.
    pub fn tls(&self) -> Option<&TlsConfig> {
        self.tls.as_ref()
    }
    /// Names of the SASL mechanisms, in the order they are tried.
    pub fn sasl_mechanisms(&self) -> Vec<&str> {
        self.sasl.iter().map(|m| m.name()).collect()
    }
    /// How many times a retriable request is tried.
    pub fn request_retries(&self) -> u32 {
        self.request_retries
    }
    /// The backoff before retry number `tries` (1 for the first retry).
    pub fn retry_backoff(&self, tries: u32) -> Duration {
        crate::cluster::settings::retry_backoff(self.retry_backoff_fn.as_ref(), tries)
    }
    /// How long requests with this key may be retried; zero means no limit.
    pub fn retry_timeout(&self, key: i16) -> Duration {
        crate::cluster::settings::retry_timeout(
            self.retry_timeout_fn.as_ref(),
            self.retry_timeout,
            self.session_timeout,
            key,
        )
    }
    /// Overhead added to each request's own timeout to form its deadline.
    pub fn request_timeout_overhead(&self) -> Duration {
        self.request_timeout_overhead
    }
    /// How long a connection may idle before it is closed.
    pub fn conn_idle_timeout(&self) -> Duration {
        self.conn_idle_timeout
    }
    /// The metadata cache's maximum age.
    pub fn metadata_max_age(&self) -> Duration {
        self.metadata_max_age
    }
    /// The minimum time between metadata refreshes.
    pub fn metadata_min_age(&self) -> Duration {
        self.metadata_min_age
    }
    /// The largest response the client reads.
    pub fn broker_max_read_bytes(&self) -> i32 {
        self.broker_max_read_bytes
    }
    /// The largest produce request the client writes.
    pub fn broker_max_write_bytes(&self) -> i32 {
        self.broker_max_write_bytes
    }
    /// The user's maximum request versions.
    pub fn max_versions(&self) -> Option<&Versions> {
        self.max_versions.as_ref()
    }
    /// The user's minimum request versions.
    pub fn min_versions(&self) -> Option<&Versions> {
        self.min_versions.as_ref()
    }
    /// The software name and version sent in ApiVersions v3+.
    pub fn software_name_and_version(&self) -> (&str, &str) {
        (&self.software_name, &self.software_version)
    }
    /// Whether metadata requests ask the broker to create missing topics.
    pub fn allow_auto_topic_creation(&self) -> bool {
        self.allow_auto_topic_creation
    }
}

impl Config {
    /// The broker layer's settings, composed from the client options.
    pub(crate) fn broker_settings(&self) -> BrokerSettings {
        BrokerSettings {
            client_id: self.client_id.clone(),
            dialer: self.dialer.clone(),
            dial_timeout: self.dial_timeout,
            tls: self.tls.clone(),
            sasl: self.sasl.clone(),
            request_timeout_overhead: self.request_timeout_overhead,
            conn_idle_timeout: self.conn_idle_timeout,
            broker_max_read_bytes: self.broker_max_read_bytes,
            broker_max_write_bytes: self.broker_max_write_bytes,
            max_versions: self.max_versions.clone(),
            min_versions: self.min_versions.clone(),
            software_name: self.software_name.clone(),
            software_version: self.software_version.clone(),
            hooks: self.hooks.clone(),
            logger: self.logger.clone(),
            on_thread_start: self.on_thread_start.clone(),
        }
    }

    /// The group member's settings, composed from the client options (the
    /// session timeout is shared with the retry timeouts of group requests).
    pub(crate) fn group_settings(&self) -> GroupSettings {
        let mut g = self.group.clone();
        g.session_timeout = self.session_timeout;
        g.user_revoke = self.group_callbacks.on_revoked.is_some();
        if self.producer.transactional_id.is_some() {
            // As kgo: a transactional group member commits inside its
            // transactions, never on its own. Stable offsets (KIP-447) keep
            // a new owner from reading offsets a transaction has pending;
            // kgo leaves this to RequireStableFetchOffsets, we always do it.
            g.autocommit = crate::group::settings::AutoCommit::Off;
            g.require_stable = true;
        }
        g
    }

    /// The cluster core's settings, composed from the client options.
    pub(crate) fn cluster_settings(&self) -> ClusterSettings {
        ClusterSettings {
            seed_brokers: self.seed_brokers.clone(),
            request_retries: self.request_retries,
            retry_backoff_fn: self.retry_backoff_fn.clone(),
            retry_timeout: self.retry_timeout,
            retry_timeout_fn: self.retry_timeout_fn.clone(),
            session_timeout: self.session_timeout,
            metadata_max_age: self.metadata_max_age,
            metadata_min_age: self.metadata_min_age,
            allow_auto_topic_creation: self.allow_auto_topic_creation,
            hooks: self.hooks.clone(),
            logger: self.logger.clone(),
            on_thread_start: self.on_thread_start.clone(),
            broker: Arc::new(self.broker_settings()),
            produce_acks: self.producer.acks.value(),
            produce_timeout_ms: i32::try_from(self.producer.request_timeout.as_millis())
                .unwrap_or(i32::MAX),
        }
    }
}

impl Default for Config {
    fn default() -> Config {
        Config {
            seed_brokers: vec!["127.0.0.1:9092".to_string()],
            client_id: Some("kafka-sync".to_string()),
            dialer: None,
            dial_timeout: Duration::from_secs(10),
            tls: None,
            sasl: Vec::new(),
            request_retries: 20,
            retry_backoff_fn: None,
            retry_timeout: None,
            retry_timeout_fn: None,
            session_timeout: Duration::from_secs(45),
            request_timeout_overhead: Duration::from_secs(10),
            conn_idle_timeout: Duration::from_secs(20),
            metadata_max_age: Duration::from_secs(300),
            metadata_min_age: Duration::from_secs(5),
            broker_max_read_bytes: 100 << 20,
            broker_max_write_bytes: 100 << 20,
            max_versions: None,
            min_versions: None,
            software_name: "kafka-sync".to_string(),
            software_version: env!("CARGO_PKG_VERSION").to_string(),
            allow_auto_topic_creation: false,
            hooks: Vec::new(),
            logger: None,
            on_thread_start: None,
            producer: ProducerSettings::default(),
            consumer: ConsumerSettings::default(),
            group: GroupSettings::default(),
            group_callbacks: group::GroupCallbacks::default(),
            group_option_set: None,
        }
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("seed_brokers", &self.seed_brokers)
            .field("client_id", &self.client_id)
            .field("dialer", &self.dialer.as_ref().map(|_| "<fn>"))
            .field("dial_timeout", &self.dial_timeout)
            .field("tls", &self.tls)
            .field("sasl", &self.sasl)
            .field("request_retries", &self.request_retries)
            .field("retry_timeout", &self.retry_timeout)
            .field("request_timeout_overhead", &self.request_timeout_overhead)
            .field("conn_idle_timeout", &self.conn_idle_timeout)
            .field("metadata_max_age", &self.metadata_max_age)
            .field("metadata_min_age", &self.metadata_min_age)
            .field("broker_max_read_bytes", &self.broker_max_read_bytes)
            .field("broker_max_write_bytes", &self.broker_max_write_bytes)
            .field("max_versions", &self.max_versions)
            .field("min_versions", &self.min_versions)
            .field("software", &(&self.software_name, &self.software_version))
            .field("allow_auto_topic_creation", &self.allow_auto_topic_creation)
            .field("hooks", &self.hooks.len())
            .field("logger", &self.logger.is_some())
            .field("producer", &self.producer)
            .field("consumer", &self.consumer)
            .field("group", &self.group)
            .finish_non_exhaustive()
    }
}

/// What a [`ConfigBuilder`] builds: a [`Config`], or a [`Client`](crate::Client)
/// started from one.
pub trait FromConfig: Sized {
    /// Builds `Self` from a validated configuration.
    ///
    /// # Errors
    ///
    /// Whatever starting `Self` can fail with.
    fn from_config(cfg: Config) -> Result<Self>;
}

impl FromConfig for Config {
    fn from_config(cfg: Config) -> Result<Config> {
        Ok(cfg)
    }
}

/// Builds a [`Config`] ([`Config::builder`]) or a client
/// ([`Client::builder`](crate::Client::builder)); every setter names a kgo option.
#[must_use]
pub struct ConfigBuilder<T = Config> {
    cfg: Config,
    _target: std::marker::PhantomData<fn() -> T>,
}

impl<T> fmt::Debug for ConfigBuilder<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.cfg.fmt(f)
    }
}

impl<T> Clone for ConfigBuilder<T> {
    fn clone(&self) -> Self {
        ConfigBuilder {
            cfg: self.cfg.clone(),
            _target: std::marker::PhantomData,
        }
    }
}

impl<T: FromConfig> ConfigBuilder<T> {
    pub(crate) fn new() -> Self {
        ConfigBuilder {
            cfg: Config::default(),
            _target: std::marker::PhantomData,
        }
    }

    /// The configuration as set so far (not yet validated).
    pub(crate) fn config(&self) -> &Config {
        &self.cfg
    }

    /// Validates the options and builds the target: a [`Config`], or a
    /// started [`Client`](crate::Client).
    ///
    /// # Errors
    ///
    /// [`Error::Config`](crate::Error::Config) naming the first invalid option;
    /// for a client, an I/O error if a client thread cannot be spawned.
    pub fn build(self) -> Result<T> {
        let mut cfg = self.cfg;
        validate::validate(&mut cfg)?;
        T::from_config(cfg)
    }

    /// Sets the seed brokers used to discover the cluster. A seed without a port
    /// gets 9092. Defaults to `127.0.0.1:9092`.
    ///
    /// Corresponds to Java `bootstrap.servers`.
    pub fn seed_brokers<I, S>(mut self, seeds: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.cfg.seed_brokers = seeds.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the client id sent with every request. Defaults to `kafka-sync`
    /// (kgo sends `kgo`). `None` sends a null client id.
    ///
    /// Corresponds to Java `client.id`.
    pub fn client_id(mut self, id: Option<impl Into<String>>) -> Self {
        self.cfg.client_id = id.map(Into::into);
        self
    }

    /// Dials brokers with `dialer` instead of the default dialer (socket2,
    /// TCP_NODELAY, [`dial_timeout`](Self::dial_timeout)). TLS, when
    /// configured, is layered on the returned stream.
    pub fn dialer(
        mut self,
        dialer: impl Fn(&str, Duration) -> std::io::Result<TcpStream> + Send + Sync + 'static,
    ) -> Self {
        self.cfg.dialer = Some(Arc::new(dialer));
        self
    }

    /// Sets the default dialer's connect timeout, also the bound for the TLS
    /// and SASL handshakes. Defaults to 10s.
    pub fn dial_timeout(mut self, t: Duration) -> Self {
        self.cfg.dial_timeout = t;
        self
    }

    /// Dials brokers with TLS (kgo's `DialTLSConfig`). When the config has no
    /// server name, each broker's host is used for SNI and verification.
    /// Certificate and host name verification are on by default.
    pub fn tls(mut self, tls: TlsConfig) -> Self {
        self.cfg.tls = Some(tls);
        self
    }

    /// Appends a SASL mechanism. Mechanisms are tried in order: the first one
    /// the broker supports is used for all connections.
    pub fn sasl(mut self, mechanism: impl Mechanism + 'static) -> Self {
        self.cfg.sasl.push(Arc::new(mechanism));
        self
    }

    /// Sets how many times a retriable request is tried. Defaults to 20. Does
    /// not apply to produce requests (see the producer's record retries).
    pub fn request_retries(mut self, n: u32) -> Self {
        self.cfg.request_retries = n;
        self
    }

    /// Sets the backoff before retry number `tries` (starting at 1). Defaults
    /// to a jittered exponential backoff from 250ms to 2.5s.
    ///
    /// Corresponds to Java `retry.backoff.ms` and `retry.backoff.max.ms`.
    pub fn retry_backoff_fn(mut self, f: impl Fn(u32) -> Duration + Send + Sync + 'static) -> Self {
        self.cfg.retry_backoff_fn = Some(Arc::new(f));
        self
    }

    /// Sets the upper limit on how long a request is retried. Defaults to the
    /// session timeout (45s) for JoinGroup, SyncGroup and Heartbeat and 30s for
    /// everything else. Zero means no limit. A retry whose backoff ends past
    /// the limit is still tried once. Not for produce or fetch requests.
    pub fn retry_timeout(mut self, t: Duration) -> Self {
        self.cfg.retry_timeout = Some(t);
        self
    }

    /// Like [`retry_timeout`](Self::retry_timeout), per request key. Takes
    /// precedence over `retry_timeout`.
    pub fn retry_timeout_fn(mut self, f: impl Fn(i16) -> Duration + Send + Sync + 'static) -> Self {
        self.cfg.retry_timeout_fn = Some(Arc::new(f));
        self
    }

    /// Sets the time added to a request's own timeout field (if any) to form
    /// its deadline; hitting the deadline closes the connection. Defaults to
    /// 10s.
    ///
    /// Roughly Java `request.timeout.ms`.
    pub fn request_timeout_overhead(mut self, t: Duration) -> Self {
        self.cfg.request_timeout_overhead = t;
        self
    }

    /// Sets how long a connection may idle before it is closed; a connection
    /// idles between this and twice this. Defaults to 20s.
    ///
    /// Corresponds to Java `connections.max.idle.ms`.
    pub fn conn_idle_timeout(mut self, t: Duration) -> Self {
        self.cfg.conn_idle_timeout = t;
        self
    }

    /// Sets the maximum age of cached metadata. Defaults to 5m.
    ///
    /// Corresponds to Java `metadata.max.age.ms`.
    pub fn metadata_max_age(mut self, t: Duration) -> Self {
        self.cfg.metadata_max_age = t;
        self
    }

    /// Sets the minimum time between metadata refreshes. Defaults to 5s.
    pub fn metadata_min_age(mut self, t: Duration) -> Self {
        self.cfg.metadata_min_age = t;
        self
    }

    /// Sets the largest response the client will read; larger ones fail the
    /// request and close the connection. Defaults to 100 MiB.
    pub fn broker_max_read_bytes(mut self, n: i32) -> Self {
        self.cfg.broker_max_read_bytes = n;
        self
    }

    /// Sets the largest request the client will write (enforced for produce
    /// requests). Defaults to 100 MiB.
    ///
    /// Corresponds to the broker's `socket.request.max.bytes`.
    pub fn broker_max_write_bytes(mut self, n: i32) -> Self {
        self.cfg.broker_max_write_bytes = n;
        self
    }

    /// Caps the request versions the client uses. Defaults to the newest
    /// versions the client knows.
    pub fn max_versions(mut self, v: Versions) -> Self {
        self.cfg.max_versions = Some(v);
        self
    }

    /// Sets the lowest versions requests may be downgraded to; a broker that
    /// only supports older versions gets [`Error::BrokerTooOld`](crate::Error::BrokerTooOld).
    /// Keys not in `v` have no lower bound.
    pub fn min_versions(mut self, v: Versions) -> Self {
        self.cfg.min_versions = Some(v);
        self
    }

    /// Sets the client software name and version sent in ApiVersions v3+
    /// (KIP-511). Defaults to `kafka-sync` and the crate version. Both must
    /// match `[a-zA-Z0-9](?:[a-zA-Z0-9\.-]*[a-zA-Z0-9])?`.
    pub fn software_name_and_version(
        mut self,
        name: impl Into<String>,
        version: impl Into<String>,
    ) -> Self {
        self.cfg.software_name = name.into();
        self.cfg.software_version = version.into();
        self
    }

    /// Lets metadata requests for missing topics create them. Defaults to off.
    ///
    /// Corresponds to Java `allow.auto.create.topics`.
    pub fn allow_auto_topic_creation(mut self, allow: bool) -> Self {
        self.cfg.allow_auto_topic_creation = allow;
        self
    }

    /// Adds a hook; hooks are called in the order added.
    pub fn with_hooks(mut self, hook: impl Hook + 'static) -> Self {
        self.cfg.hooks.push(Arc::new(hook));
        self
    }

    /// Sets the client's logger. Defaults to no logging. See
    /// [`BasicLogger`](crate::BasicLogger) and [`LogCrateLogger`](crate::LogCrateLogger).
    pub fn with_logger(mut self, logger: impl Logger + 'static) -> Self {
        self.cfg.logger = Some(Arc::new(logger));
        self
    }

    /// Calls `f` with the thread's name at the start of every thread the
    /// client spawns (`ks-io-<id>`, `ks-meta`, ...), for CPU pinning or
    /// priorities.
    pub fn on_thread_start(mut self, f: impl Fn(&str) + Send + Sync + 'static) -> Self {
        self.cfg.on_thread_start = Some(Arc::new(f));
        self
    }

    /// Sets the group session timeout used for retry timeouts of group
    /// requests. Defaults to 45s (the consumer-group options extend this).
    pub fn session_timeout(mut self, t: Duration) -> Self {
        self.cfg.session_timeout = t;
        self
    }
}
