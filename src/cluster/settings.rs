//! What the cluster core needs from the client's options: retries,
//! backoff, metadata ages, and the broker layer's own settings.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::broker::BrokerSettings;
use crate::hooks::Hook;
use crate::logger::Logger;
use crate::sync::thread::ThreadStartFn;

/// The backoff before retry number `tries` (1 for the first retry).
pub(crate) type BackoffFn = Arc<dyn Fn(u32) -> Duration + Send + Sync>;
/// How long requests with an API key may be retried.
pub(crate) type RetryTimeoutFn = Arc<dyn Fn(i16) -> Duration + Send + Sync>;

/// The options of the cluster core, composed by `config`.
#[derive(Clone)]
pub(crate) struct ClusterSettings {
    pub(crate) seed_brokers: Vec<String>,
    pub(crate) request_retries: u32,
    pub(crate) retry_backoff_fn: Option<BackoffFn>,
    pub(crate) retry_timeout: Option<Duration>,
    pub(crate) retry_timeout_fn: Option<RetryTimeoutFn>,
    pub(crate) session_timeout: Duration,
    pub(crate) metadata_max_age: Duration,
    pub(crate) metadata_min_age: Duration,
    pub(crate) allow_auto_topic_creation: bool,
    pub(crate) hooks: Vec<Arc<dyn Hook>>,
    pub(crate) logger: Option<Arc<dyn Logger>>,
    pub(crate) on_thread_start: Option<ThreadStartFn>,
    pub(crate) broker: Arc<BrokerSettings>,
    /// The producer's acks (-1, 0, 1) and request timeout: kgo rewrites a
    /// raw ProduceRequest's acks to them, and its timeout when acks is 0.
    pub(crate) produce_acks: i16,
    pub(crate) produce_timeout_ms: i32,
}

impl fmt::Debug for ClusterSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClusterSettings")
            .field("seed_brokers", &self.seed_brokers)
            .field("request_retries", &self.request_retries)
            .field("metadata_max_age", &self.metadata_max_age)
            .field("metadata_min_age", &self.metadata_min_age)
            .finish_non_exhaustive()
    }
}

impl ClusterSettings {
    /// The backoff before retry number `tries` (1 for the first retry).
    pub(crate) fn retry_backoff(&self, tries: u32) -> Duration {
        retry_backoff(self.retry_backoff_fn.as_ref(), tries)
    }

    /// How long requests with this key may be retried; zero means no limit.
    pub(crate) fn retry_timeout(&self, key: i16) -> Duration {
        retry_timeout(
            self.retry_timeout_fn.as_ref(),
            self.retry_timeout,
            self.session_timeout,
            key,
        )
    }

    /// The logger, if any.
    pub(crate) fn logger(&self) -> Option<&dyn Logger> {
        self.logger.as_deref()
    }
}

/// The backoff rule shared by the cluster and [`Config`](crate::Config)'s getter.
pub(crate) fn retry_backoff(f: Option<&BackoffFn>, tries: u32) -> Duration {
    match f {
        Some(f) => f(tries),
        None => crate::sync::backoff::default_backoff(tries),
    }
}

/// The retry-timeout rule shared by the cluster and [`Config`](crate::Config)'s getter.
pub(crate) fn retry_timeout(
    f: Option<&RetryTimeoutFn>,
    fixed: Option<Duration>,
    session_timeout: Duration,
    key: i16,
) -> Duration {
    if let Some(f) = f {
        return f(key);
    }
    if let Some(t) = fixed {
        return t;
    }
    match crate::protocol::api::facts(key).retry {
        crate::protocol::api::RetryClass::Session => session_timeout,
        crate::protocol::api::RetryClass::Normal => Duration::from_secs(30),
    }
}
