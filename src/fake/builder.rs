//! [`ClusterBuilder`]: the options of a fake cluster.

use std::collections::BTreeMap;
use std::fmt;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use super::cluster::{SaslSettings, Settings, Shared};
use super::coordinator::{GroupSettings, TxnSettings};
use super::{api, conn, Cluster};

/// The benchmark mode of a cluster (see [`ClusterBuilder::benchmark_mode`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BenchmarkMode {
    /// Bytes of each served record's value.
    pub record_size: usize,
    /// Records per served batch.
    pub records_per_batch: i32,
    /// The codec of the served batch (a batch that would not shrink is
    /// served uncompressed).
    pub compression: crate::CompressionCodec,
}

impl Default for BenchmarkMode {
    fn default() -> Self {
        Self {
            record_size: 100,
            records_per_batch: 1000,
            compression: crate::CompressionCodec::none(),
        }
    }
}

/// Configures and starts a [`Cluster`]; created by [`Cluster::builder`].
#[must_use]
pub struct ClusterBuilder {
    brokers: i32,
    topics: Vec<(String, i32)>,
    auto_create: bool,
    default_partitions: i32,
    max_request_size: usize,
    session_cache_size: usize,
    bench: Option<BenchmarkMode>,
    plain_users: Vec<(String, String)>,
    scram_users: Vec<(String, String)>,
    tls: Option<(Vec<u8>, Vec<u8>)>,
    legacy_producer_state: bool,
    cluster_id: String,
    group: GroupSettings,
    txn: TxnSettings,
    log_dirs: Vec<String>,
    kafka_0_10: bool,
}

impl fmt::Debug for ClusterBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Passwords and the TLS key stay out of logs.
        f.debug_struct("ClusterBuilder")
            .field("brokers", &self.brokers)
            .field("topics", &self.topics)
            .field("auto_create", &self.auto_create)
            .field("default_partitions", &self.default_partitions)
            .field("bench", &self.bench)
            .field(
                "sasl_users",
                &(self.plain_users.len() + self.scram_users.len()),
            )
            .field("tls", &self.tls.is_some())
            .field("group", &self.group)
            .field("txn", &self.txn)
            .field("log_dirs", &self.log_dirs)
            .field("kafka_0_10", &self.kafka_0_10)
            .finish_non_exhaustive()
    }
}

impl Default for ClusterBuilder {
    fn default() -> Self {
        Self {
            brokers: 3,
            topics: Vec::new(),
            auto_create: true,
            default_partitions: 1,
            max_request_size: 100 * 1024 * 1024,
            session_cache_size: 1000,
            bench: None,
            plain_users: Vec::new(),
            scram_users: Vec::new(),
            tls: None,
            legacy_producer_state: false,
            cluster_id: "kafka-sync-fake-cluster".into(),
            group: GroupSettings::default(),
            txn: TxnSettings::default(),
            log_dirs: vec![DEFAULT_LOG_DIR.into()],
            kafka_0_10: false,
        }
    }
}

/// Java's default `log.dir`.
const DEFAULT_LOG_DIR: &str = "/tmp/kafka-logs";

fn collect_users<I, U, P>(users: I) -> Vec<(String, String)>
where
    I: IntoIterator<Item = (U, P)>,
    U: Into<String>,
    P: Into<String>,
{
    users
        .into_iter()
        .map(|(u, p)| (u.into(), p.into()))
        .collect()
}

impl ClusterBuilder {
    /// Java's default `group.initial.rebalance.delay.ms` (3 s), for
    /// [`group_initial_rebalance_delay`](Self::group_initial_rebalance_delay)
    /// when a test wants the Java broker's timing.
    pub const JAVA_INITIAL_REBALANCE_DELAY: Duration = Duration::from_secs(3);

    /// Sets the number of brokers, ids 0 to n-1. Defaults to 3.
    pub fn brokers(mut self, n: i32) -> Self {
        self.brokers = n;
        self
    }

    /// Creates a topic at start with `partitions` partitions and the default
    /// replication factor (min(3, brokers)).
    pub fn topic(mut self, name: impl Into<String>, partitions: i32) -> Self {
        self.topics.push((name.into(), partitions));
        self
    }

    /// Creates topics that Metadata asks for and do not exist. Defaults to
    /// true. Corresponds to Java `auto.create.topics.enable`.
    pub fn auto_create_topics(mut self, enabled: bool) -> Self {
        self.auto_create = enabled;
        self
    }

    /// Sets the partition count of auto-created topics and of CreateTopics
    /// requests with -1 partitions. Defaults to 1. Corresponds to Java `num.partitions`.
    pub fn default_partitions(mut self, n: i32) -> Self {
        self.default_partitions = n;
        self
    }

    /// Sets the largest request a broker accepts; a larger size prefix
    /// closes the connection. Defaults to 100 MiB. Corresponds to Java
    /// `socket.request.max.bytes`.
    pub fn max_request_size(mut self, bytes: usize) -> Self {
        self.max_request_size = bytes;
        self
    }

    /// Sets how many fetch sessions each broker caches (0 disables them).
    /// Defaults to 1000. Corresponds to Java
    /// `max.incremental.fetch.session.cache.slots`.
    pub fn fetch_session_cache_size(mut self, n: usize) -> Self {
        self.session_cache_size = n;
        self
    }

    /// Turns on benchmark mode: produce requests are validated only enough
    /// to count their records (no CRC check) and acknowledged without
    /// storing anything, and fetches are served from a pre-built stream of
    /// uncompressed batches, so a benchmark measures the client rather than
    /// the fake. ListOffsets answers 0 for both earliest and latest.
    pub fn benchmark_mode(mut self, mode: BenchmarkMode) -> Self {
        self.bench = Some(mode);
        self
    }

    /// Requires SASL PLAIN authentication with these (user, password) pairs.
    pub fn sasl_plain<I, U, P>(mut self, users: I) -> Self
    where
        I: IntoIterator<Item = (U, P)>,
        U: Into<String>,
        P: Into<String>,
    {
        self.plain_users = collect_users(users);
        self
    }

    /// Requires SASL SCRAM-SHA-256 or SCRAM-SHA-512 authentication with
    /// these (user, password) pairs.
    pub fn sasl_scram<I, U, P>(mut self, users: I) -> Self
    where
        I: IntoIterator<Item = (U, P)>,
        U: Into<String>,
        P: Into<String>,
    {
        self.scram_users = collect_users(users);
        self
    }

    /// Serves TLS with this PEM certificate (chain) and PKCS#8 PEM key.
    pub fn tls(mut self, cert_pem: impl Into<Vec<u8>>, key_pem: impl Into<Vec<u8>>) -> Self {
        self.tls = Some((cert_pem.into(), key_pem.into()));
        self
    }

    /// Behaves like brokers before KIP-360 (Kafka 2.4 and older): a producer
    /// the partition has no state for gets UNKNOWN_PRODUCER_ID unless its
    /// sequence is 0, and a retry older than the last 5 batches gets
    /// DUPLICATE_SEQUENCE_NUMBER. Defaults to false (current Java behaviour:
    /// such batches are accepted, or OUT_OF_ORDER_SEQUENCE_NUMBER).
    pub fn legacy_producer_state(mut self, enabled: bool) -> Self {
        self.legacy_producer_state = enabled;
        self
    }

    /// Sets the cluster id Metadata reports. Defaults to `kafka-sync-fake-cluster`.
    pub fn cluster_id(mut self, id: impl Into<String>) -> Self {
        self.cluster_id = id.into();
        self
    }

    /// Sets the shortest session timeout a JoinGroup may ask for; a shorter
    /// one gets INVALID_SESSION_TIMEOUT. Defaults to 6 s. Corresponds to
    /// Java `group.min.session.timeout.ms`; lower it to test session
    /// expiry quickly.
    pub fn group_min_session_timeout(mut self, timeout: Duration) -> Self {
        self.group.min_session_timeout = timeout;
        self
    }

    /// Sets the longest session timeout a JoinGroup may ask for; a longer
    /// one gets INVALID_SESSION_TIMEOUT. Defaults to 30 min. Corresponds to
    /// Java `group.max.session.timeout.ms`.
    pub fn group_max_session_timeout(mut self, timeout: Duration) -> Self {
        self.group.max_session_timeout = timeout;
        self
    }

    /// Sets how long the first rebalance of a new (or emptied) group waits
    /// for more members, each new member extending it once more up to the
    /// rebalance timeout. Defaults to 0, so a lone member's first join is
    /// answered at once; Java's default is 3 s
    /// ([`JAVA_INITIAL_REBALANCE_DELAY`](Self::JAVA_INITIAL_REBALANCE_DELAY)).
    /// Corresponds to Java `group.initial.rebalance.delay.ms`.
    pub fn group_initial_rebalance_delay(mut self, delay: Duration) -> Self {
        self.group.initial_rebalance_delay = delay;
        self
    }

    /// Sets the longest transaction timeout an InitProducerId may ask for;
    /// a longer one gets INVALID_TRANSACTION_TIMEOUT. Defaults to 15 min.
    /// Corresponds to Java `transaction.max.timeout.ms`.
    pub fn transaction_max_timeout(mut self, timeout: Duration) -> Self {
        self.txn.max_timeout = timeout;
        self
    }

    /// Sets how often the transaction coordinator looks for transactions
    /// older than their timeout, and aborts them (fencing their producer's
    /// epoch). Defaults to 10 s; tests lower it to see timeouts quickly.
    /// Corresponds to Java
    /// `transaction.abort.timed.out.transaction.cleanup.interval.ms`.
    pub fn transaction_abort_interval(mut self, interval: Duration) -> Self {
        self.txn.abort_interval = interval;
        self
    }

    /// Sets every broker's log directories (Java `log.dirs`), absolute
    /// paths; a replica starts in the first. AlterReplicaLogDirs moves a
    /// replica between them (at once: the fake has no data to copy) and
    /// [`Cluster::replica_log_dir`] reads where it is. Defaults to Java's
    /// `/tmp/kafka-logs`.
    pub fn log_dirs<I, D>(mut self, dirs: I) -> Self
    where
        I: IntoIterator<Item = D>,
        D: Into<String>,
    {
        self.log_dirs = dirs.into_iter().map(Into::into).collect();
        self
    }

    /// Behaves like Kafka 0.10.2 brokers: ApiVersions advertises only the
    /// APIs and versions of 0.10.2 (Produce v0-2, Fetch v0-3, ListOffsets
    /// v0-1, Metadata v0-2, the group APIs at their 0.10 versions, no
    /// InitProducerId or transactions), every other request closes the
    /// connection, produced message sets (magic 0 and 1) are stored, and
    /// Fetch v0-3 is served as message sets (down-converted, as the Java
    /// broker does for old fetch versions). Defaults to off (Kafka 4.0).
    pub fn kafka_0_10(mut self) -> Self {
        self.kafka_0_10 = true;
        self
    }

    /// Binds every broker's port and starts the brokers.
    ///
    /// # Errors
    ///
    /// Invalid options (no brokers, a bad topic, a relative log directory,
    /// an unreadable TLS identity) as [`io::ErrorKind::InvalidInput`]; failures to bind or to
    /// start a thread as they happen.
    pub fn build(self) -> io::Result<Cluster> {
        let invalid = |m: String| io::Error::new(io::ErrorKind::InvalidInput, m);
        if !(1..=64).contains(&self.brokers) {
            return Err(invalid(format!(
                "brokers must be 1 to 64, got {}",
                self.brokers
            )));
        }
        if self.default_partitions < 1 {
            return Err(invalid("default_partitions must be at least 1".into()));
        }
        let g = &self.group;
        if g.min_session_timeout > g.max_session_timeout {
            return Err(invalid(format!(
                "group_min_session_timeout {:?} is above group_max_session_timeout {:?}",
                g.min_session_timeout, g.max_session_timeout
            )));
        }
        if self.log_dirs.is_empty() || self.log_dirs.iter().any(|d| !d.starts_with('/')) {
            return Err(invalid(format!(
                "log_dirs must be one or more absolute paths, got {:?}",
                self.log_dirs
            )));
        }
        if self.txn.abort_interval.is_zero() {
            return Err(invalid(
                "transaction_abort_interval must be positive".into(),
            ));
        }
        if let Some(b) = &self.bench {
            if b.records_per_batch < 1 || b.record_size > 16 * 1024 * 1024 {
                return Err(invalid(
                    "benchmark mode needs 1+ records per batch, <= 16 MiB each".into(),
                ));
            }
        }
        let tls = match &self.tls {
            None => None,
            Some((cert, key)) => {
                let id = native_tls::Identity::from_pkcs8(cert, key)
                    .map_err(|e| invalid(format!("tls identity: {e}")))?;
                Some(
                    native_tls::TlsAcceptor::new(id)
                        .map_err(|e| invalid(format!("tls acceptor: {e}")))?,
                )
            }
        };
        let sasl = api::sasl::settings(&self.plain_users, &self.scram_users);
        let mut listeners = Vec::new();
        for _ in 0..self.brokers {
            listeners.push(conn::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))?);
        }
        let addrs = listeners
            .iter()
            .map(|l| l.local_addr())
            .collect::<io::Result<Vec<_>>>()?;
        let settings = Settings {
            brokers: self.brokers,
            auto_create: self.auto_create,
            default_partitions: self.default_partitions,
            max_frame: self.max_request_size,
            session_cache_size: self.session_cache_size,
            bench: self.bench,
            sasl: sasl.map(|(mechanisms, users)| SaslSettings { mechanisms, users }),
            tls,
            legacy_producer_state: self.legacy_producer_state,
            cluster_id: self.cluster_id,
            group: self.group,
            txn: self.txn,
            log_dirs: self.log_dirs,
            kafka_0_10: self.kafka_0_10,
        };
        let rf = settings.default_replication();
        let shared = Arc::new(Shared::new(settings, addrs));
        {
            let mut st = shared.lock();
            for (name, partitions) in &self.topics {
                st.create_topic(name, *partitions, rf, BTreeMap::new(), self.brokers)
                    .map_err(|(code, msg)| invalid(format!("topic {name}: error {code}: {msg}")))?;
            }
        }
        let cluster = Cluster {
            shared: Arc::clone(&shared),
        };
        // On error, dropping `cluster` stops whatever has started.
        shared.groups.start()?;
        crate::fake::coordinator::start_txn_timer(&shared)?;
        for (id, l) in listeners.into_iter().enumerate() {
            // On error, dropping `cluster` stops the brokers already started.
            conn::start(&shared, id as i32, Some(l))?;
        }
        Ok(cluster)
    }
}
