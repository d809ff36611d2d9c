//! SASL authentication mechanisms.
//!
//! A [`Mechanism`] starts a [`Session`] per connection; the broker I/O thread
//! drives the session through SaslHandshake and SaslAuthenticate requests (or,
//! for brokers without SaslAuthenticate, raw size-prefixed frames).
//!
//! Mechanisms are tried in the order they were configured: the first one the
//! broker lists in its SaslHandshake response is used.
//!
//! Built in: [`Plain`], [`Scram`] (SCRAM-SHA-256 and SCRAM-SHA-512) and
//! [`OAuthBearer`] (with a token callback).

use std::fmt;

use crate::error::Result;

// base64 and scram are crate-visible for the fake cluster's SASL verifier
// (`fake::sasl_server`), which shares their primitives.
pub(crate) mod base64;
mod oauth;
mod plain;
pub(crate) mod scram;

pub use oauth::{OAuthBearer, OAuthToken};
pub use plain::Plain;
pub use scram::{Scram, ScramAlgorithm};

/// A SASL mechanism: a name and a way to start an authentication session.
///
/// Implementations must be cheap to call per connection and safe to share
/// between threads.
pub trait Mechanism: Send + Sync + fmt::Debug {
    /// The mechanism's name as it appears in SaslHandshake, e.g. `"PLAIN"`.
    fn name(&self) -> &str;

    /// Starts a session with the broker at `host`, returning the session and
    /// the client's first message.
    ///
    /// # Errors
    ///
    /// [`Error::Sasl`](crate::Error::Sasl) when the session cannot start (for
    /// example, a token callback failed).
    fn authenticate(&self, host: &str) -> Result<(Box<dyn Session>, Vec<u8>)>;
}

/// One authentication exchange on one connection.
pub trait Session: Send {
    /// Handles the broker's `challenge`, returning whether the exchange is done
    /// and the client's next message (empty and ignored when done).
    ///
    /// # Errors
    ///
    /// [`Error::Sasl`](crate::Error::Sasl) when the broker's message is
    /// malformed or fails verification (a SCRAM server signature mismatch).
    fn challenge(&mut self, challenge: &[u8]) -> Result<(bool, Vec<u8>)>;
}
