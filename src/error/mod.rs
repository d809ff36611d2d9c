//! The crate's error type and every Kafka error code.
//!
//! [`Error`] is the one error type the crate returns. Kafka error codes are
//! [`ErrorCode`] values; [`Error::is_retriable`] and friends classify errors in
//! one place ([`classify`]).

mod code;

use std::fmt;
use std::sync::Arc;

pub use code::ErrorCode;

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What ran out of time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TimeoutKind {
    /// Dialing a broker (TCP connect, TLS handshake, SASL) took too long.
    Dial,
    /// A request was written but no response arrived before its deadline
    /// (`request_timeout_overhead` plus the request's own timeout field).
    Request,
    /// The caller's deadline passed, or retries ran past `retry_timeout`.
    Caller,
}

/// Every error the crate returns.
///
/// Cheap to clone (`Arc`s inside), `Send + Sync`, and at most 32 bytes.
#[derive(Clone)]
#[non_exhaustive]
pub enum Error {
    /// An I/O error on a broker connection: refused, reset, closed mid-response.
    Io(Arc<std::io::Error>),
    /// A TLS error: handshake failure, certificate rejected, wrong host name.
    Tls(Arc<str>),
    /// SASL authentication failed, or no mechanism the broker supports was configured.
    Sasl(Arc<str>),
    /// A Kafka error code returned by a broker, with the broker's message when it sent one.
    Kafka {
        /// The error code.
        code: ErrorCode,
        /// The broker's error message, if any.
        message: Option<Arc<str>>,
    },
    /// Something took too long; see [`TimeoutKind`].
    Timeout(TimeoutKind),
    /// An invalid option or combination of options; the text names the option.
    Config(Arc<str>),
    /// The client was closed.
    ClientClosed,
    /// Manual flushing is enabled and the maximum number of records is buffered.
    MaxBuffered,
    /// A record could not be produced within the record delivery timeout.
    RecordTimeout,
    /// A record failed after being retried too many times.
    RecordRetries,
    /// The client is aborting buffered records.
    Aborting,
    /// The broker does not support a version of this request at or above the
    /// configured minimum (or supports the request not at all).
    BrokerTooOld {
        /// The request's API key.
        key: i16,
        /// The lowest version we would accept.
        version: i16,
    },
    /// A broker sent bytes that do not parse: a truncated frame, a size prefix
    /// that lies, a correlation id that matches nothing, a response that is too large.
    Protocol(Arc<str>),
    /// Compressing or decompressing a batch failed.
    Compression(Arc<str>),
    /// A record cannot be written in the message format the broker speaks:
    /// headers or zstd for a broker whose newest Produce version is below 3
    /// (Kafka 0.10 and older write message sets, which have neither).
    RecordFormat(Arc<str>),
    /// No broker with this id is known to the client.
    UnknownBroker(i32),
    /// The connection was closed before the first response was read: often a
    /// TLS or SASL mismatch between client and broker.
    FirstReadEof(Arc<str>),
    /// The bytes fetched for one partition are more than the whole fetch
    /// memory budget (`max_buffered_fetch_bytes`) can hold, so they can never
    /// be buffered: raise the budget or lower `fetch_max_partition_bytes`.
    FetchBudget {
        /// Bytes the partition's data needs.
        needed: usize,
        /// The budget, `max_buffered_fetch_bytes`.
        budget: usize,
    },
    /// Data loss was detected while consuming (kgo's `ErrDataLoss`): the
    /// partition was truncated below what the client consumed; the client
    /// reset to the broker's end of the diverging epoch and continued.
    DataLoss(Box<DataLoss>),
    /// A transactional client produced a record outside a transaction
    /// (kgo's "not in a transaction" error): call
    /// [`begin_transaction`](crate::Client::begin_transaction) first.
    NotInTransaction,
    /// A transaction call that does not fit the client's state: no
    /// transactional id, a transaction already begun, or a commit retried
    /// after its outcome was unknown. The text says which and what to do.
    Transaction(Arc<str>),
    /// The transaction's end was sent but its outcome is unknown (the
    /// EndTxn request failed or timed out on the connection, or the
    /// coordinator answered an unknown server error): the transaction may
    /// have committed or aborted. End it again with
    /// [`TransactionEndTry::Abort`](crate::TransactionEndTry::Abort), which
    /// fences it with an epoch bump, and re-read what was committed.
    TransactionOutcomeUnknown(Arc<Error>),
}

/// Data loss detected while consuming (kgo's `ErrDataLoss`): the partition's
/// log was truncated below what the client had consumed (KIP-320). The
/// client resumed at `reset_to`; records from `reset_to` to `consumed_to`
/// were lost. Carried as [`Error::DataLoss`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataLoss {
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: i32,
    /// The offset the client had consumed to.
    pub consumed_to: i64,
    /// The offset the client reset to.
    pub reset_to: i64,
}

impl fmt::Display for DataLoss {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.consumed_to == -1 {
            write!(
                f,
                "topic {} partition {} lost records; the client consumed to an unknown offset and is resetting to offset {}",
                self.topic, self.partition, self.reset_to
            )
        } else {
            write!(
                f,
                "topic {} partition {} lost records; the client consumed to offset {} but was reset to offset {}",
                self.topic, self.partition, self.consumed_to, self.reset_to
            )
        }
    }
}

impl Error {
    /// Builds a [`Error::Kafka`] from a code, or `None` for code 0.
    pub fn from_code(code: i16) -> Option<Error> {
        ErrorCode::from_code(code).map(|code| Error::Kafka {
            code,
            message: None,
        })
    }

    /// Builds a [`Error::Kafka`] from a code and an optional broker message, or `None` for code 0.
    pub fn from_code_message(code: i16, message: Option<&str>) -> Option<Error> {
        ErrorCode::from_code(code).map(|code| Error::Kafka {
            code,
            message: message.filter(|m| !m.is_empty()).map(Arc::from),
        })
    }

    pub(crate) fn protocol(msg: impl fmt::Display) -> Error {
        Error::Protocol(msg.to_string().into())
    }

    pub(crate) fn config(msg: impl fmt::Display) -> Error {
        Error::Config(msg.to_string().into())
    }

    pub(crate) fn io(e: std::io::Error) -> Error {
        Error::Io(Arc::new(e))
    }

    /// The Kafka error code, for [`Error::Kafka`].
    pub fn kafka_code(&self) -> Option<ErrorCode> {
        match self {
            Error::Kafka { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// Whether retrying the same operation may succeed.
    pub fn is_retriable(&self) -> bool {
        classify(self) == Class::Retriable
    }

    /// Whether the client (or the producer) cannot continue after this error.
    pub fn is_fatal(&self) -> bool {
        classify(self) == Class::Fatal
    }

    /// Whether a transactional producer must abort its transaction after this error.
    pub fn requires_abort(&self) -> bool {
        matches!(
            self,
            Error::Kafka {
                code: ErrorCode::OutOfOrderSequenceNumber
                    | ErrorCode::UnknownProducerId
                    | ErrorCode::InvalidProducerEpoch
                    | ErrorCode::TransactionAbortable
                    | ErrorCode::InvalidTxnState,
                ..
            } | Error::RecordTimeout
                | Error::RecordRetries
                | Error::Aborting
        )
    }

    /// Whether this is [`Error::ClientClosed`].
    pub fn is_client_closed(&self) -> bool {
        matches!(self, Error::ClientClosed)
    }

    /// Whether this error happened on the connection rather than in the
    /// broker's answer: the request may never have reached the broker.
    pub(crate) fn is_connection(&self) -> bool {
        matches!(
            self,
            Error::Io(_)
                | Error::Timeout(TimeoutKind::Dial | TimeoutKind::Request)
                | Error::FirstReadEof(_)
                | Error::Protocol(_)
        )
    }
}

/// How an error is treated by retry loops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Class {
    /// Try again (after a backoff).
    Retriable,
    /// Give up on this operation; others may continue.
    Final,
    /// Give up on everything of this kind (the client, or the producer).
    Fatal,
}

/// The one place that classifies errors.
///
/// Connection-level failures are retriable (the request is re-sent on a new
/// connection); Kafka codes follow `Errors.java`'s `RetriableException`
/// hierarchy; client-side terminal conditions are final; authentication and
/// authorization failures and fencing are fatal.
pub(crate) fn classify(e: &Error) -> Class {
    match e {
        Error::Io(_) | Error::FirstReadEof(_) => Class::Retriable,
        Error::Timeout(TimeoutKind::Dial | TimeoutKind::Request) => Class::Retriable,
        Error::Timeout(TimeoutKind::Caller) => Class::Final,
        Error::Protocol(_) => Class::Retriable,
        Error::Kafka { code, .. } => {
            if code.is_retriable() {
                Class::Retriable
            } else if matches!(
                code,
                ErrorCode::ClusterAuthorizationFailed
                    | ErrorCode::TransactionalIdAuthorizationFailed
                    | ErrorCode::ProducerFenced
                    | ErrorCode::InvalidProducerIdMapping
                    | ErrorCode::UnsupportedSaslMechanism
                    | ErrorCode::SaslAuthenticationFailed
                    | ErrorCode::IllegalSaslState
                    | ErrorCode::UnsupportedForMessageFormat
                    | ErrorCode::TransactionalIdNotFound
            ) {
                Class::Fatal
            } else {
                Class::Final
            }
        }
        Error::Tls(_) | Error::Sasl(_) | Error::Config(_) => Class::Fatal,
        Error::ClientClosed => Class::Fatal,
        Error::UnknownBroker(_) => Class::Retriable,
        Error::MaxBuffered
        | Error::RecordTimeout
        | Error::RecordRetries
        | Error::Aborting
        | Error::BrokerTooOld { .. }
        | Error::DataLoss(_)
        | Error::FetchBudget { .. }
        | Error::Compression(_)
        | Error::RecordFormat(_)
        | Error::NotInTransaction
        | Error::Transaction(_)
        | Error::TransactionOutcomeUnknown(_) => Class::Final,
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io(e) => write!(f, "broker connection failed: {e}"),
            Error::Tls(m) => write!(f, "tls failed: {m} (check the CA, the host name, and that the broker listener speaks TLS)"),
            Error::Sasl(m) => write!(f, "sasl authentication failed: {m}"),
            Error::Kafka { code, message: Some(m) } => write!(f, "kafka error {} ({}): {}: {m}", code.name(), code.code(), code.description()),
            Error::Kafka { code, message: None } => write!(f, "kafka error {} ({}): {}", code.name(), code.code(), code.description()),
            Error::Timeout(TimeoutKind::Dial) => write!(f, "timed out dialing the broker (is it up and reachable?)"),
            Error::Timeout(TimeoutKind::Request) => write!(f, "timed out waiting for the broker's response; the connection was closed"),
            Error::Timeout(TimeoutKind::Caller) => write!(f, "deadline passed before the operation finished"),
            Error::Config(m) => write!(f, "invalid configuration: {m}"),
            Error::ClientClosed => write!(f, "client closed"),
            Error::MaxBuffered => write!(f, "manual flushing is enabled and the maximum amount of records are buffered, cannot buffer more"),
            Error::RecordTimeout => write!(f, "records have timed out before they were able to be produced"),
            Error::RecordRetries => write!(f, "record failed after being retried too many times"),
            Error::Aborting => write!(f, "client is aborting buffered records"),
            Error::BrokerTooOld { key, version } => write!(f, "broker does not support request key {key} at version {version} or above (raise min_versions or upgrade the broker)"),
            Error::Protocol(m) => write!(f, "invalid response from broker: {m}"),
            Error::Compression(m) => write!(f, "compression failed: {m}"),
            Error::RecordFormat(m) => write!(f, "record cannot be written for this broker: {m}"),
            Error::UnknownBroker(id) => write!(f, "unknown broker {id} (not in the client's metadata)"),
            Error::FirstReadEof(m) => write!(f, "broker closed the connection before answering the first request ({m}); is the client's TLS/SASL setting the broker's?"),
            Error::DataLoss(d) => write!(f, "{d}"),
            Error::NotInTransaction => write!(f, "the client is transactional and no transaction is begun; call begin_transaction before producing"),
            Error::Transaction(m) => write!(f, "transaction: {m}"),
            Error::TransactionOutcomeUnknown(e) => write!(f, "the transaction's outcome is unknown ({e}); end it with TransactionEndTry::Abort and re-read what was committed"),
            Error::FetchBudget { needed, budget } => write!(f, "{needed} bytes fetched for one partition exceed max_buffered_fetch_bytes ({budget}); raise max_buffered_fetch_bytes or lower fetch_max_partition_bytes"),
        }
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io(e) => f.debug_tuple("Io").field(e).finish(),
            Error::Kafka { code, message } => f
                .debug_struct("Kafka")
                .field("code", code)
                .field("message", message)
                .finish(),
            other => write!(f, "{other}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io(e) => Some(&**e),
            _ => None,
        }
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Error {
        Error::io(e)
    }
}

impl From<ErrorCode> for Error {
    fn from(code: ErrorCode) -> Error {
        Error::Kafka {
            code,
            message: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_is_small_and_shareable() {
        fn assert_send_sync<T: Send + Sync + Clone>() {}
        assert_send_sync::<Error>();
        assert!(
            std::mem::size_of::<Error>() <= 32,
            "{}",
            std::mem::size_of::<Error>()
        );
    }

    #[test]
    fn classification_table() {
        let io = Error::io(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "reset",
        ));
        let table: Vec<(Error, Class)> = vec![
            (io, Class::Retriable),
            (Error::Timeout(TimeoutKind::Request), Class::Retriable),
            (Error::Timeout(TimeoutKind::Dial), Class::Retriable),
            (Error::Timeout(TimeoutKind::Caller), Class::Final),
            (Error::Protocol("x".into()), Class::Retriable),
            (ErrorCode::NotLeaderOrFollower.into(), Class::Retriable),
            (ErrorCode::UnknownTopicOrPartition.into(), Class::Retriable),
            (ErrorCode::NotCoordinator.into(), Class::Retriable),
            (
                ErrorCode::CoordinatorLoadInProgress.into(),
                Class::Retriable,
            ),
            (ErrorCode::RequestTimedOut.into(), Class::Retriable),
            (ErrorCode::NotController.into(), Class::Retriable),
            (ErrorCode::TopicAlreadyExists.into(), Class::Final),
            (ErrorCode::InvalidTopicException.into(), Class::Final),
            (ErrorCode::MessageTooLarge.into(), Class::Final),
            (ErrorCode::OffsetOutOfRange.into(), Class::Final),
            (ErrorCode::TopicAuthorizationFailed.into(), Class::Final),
            (ErrorCode::ClusterAuthorizationFailed.into(), Class::Fatal),
            (ErrorCode::ProducerFenced.into(), Class::Fatal),
            (ErrorCode::SaslAuthenticationFailed.into(), Class::Fatal),
            (ErrorCode::Unknown(-42).into(), Class::Final),
            (Error::Tls("bad cert".into()), Class::Fatal),
            (Error::Sasl("bad password".into()), Class::Fatal),
            (Error::Config("x".into()), Class::Fatal),
            (Error::ClientClosed, Class::Fatal),
            (Error::UnknownBroker(3), Class::Retriable),
            (Error::RecordTimeout, Class::Final),
            (Error::RecordRetries, Class::Final),
            (Error::MaxBuffered, Class::Final),
            (Error::Aborting, Class::Final),
            (Error::BrokerTooOld { key: 0, version: 3 }, Class::Final),
            (Error::RecordFormat("x".into()), Class::Final),
            (Error::FirstReadEof("x".into()), Class::Retriable),
        ];
        for (e, want) in table {
            assert_eq!(classify(&e), want, "{e:?}");
            assert_eq!(e.is_retriable(), want == Class::Retriable, "{e:?}");
            assert_eq!(e.is_fatal(), want == Class::Fatal, "{e:?}");
        }
    }

    #[test]
    fn display_is_lowercase_without_period() {
        let all = [
            Error::ClientClosed,
            Error::MaxBuffered,
            Error::Timeout(TimeoutKind::Caller),
            Error::UnknownBroker(1),
            ErrorCode::NotLeaderOrFollower.into(),
        ];
        for e in all {
            let s = e.to_string();
            assert!(!s.ends_with('.'), "{s}");
            assert!(s.chars().next().is_some_and(|c| !c.is_uppercase()), "{s}");
        }
    }
}
