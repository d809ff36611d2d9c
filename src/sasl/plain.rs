//! The PLAIN mechanism (RFC 4616).

use std::fmt;

use super::{Mechanism, Session};
use crate::error::Result;

/// SASL/PLAIN: sends the user name and password in one message.
///
/// Only use PLAIN over TLS: the password crosses the wire as is.
///
/// ```
/// use kafka_sync::sasl::{Mechanism, Plain};
///
/// let mechanism = Plain::new("alice", "secret");
/// assert_eq!(mechanism.name(), "PLAIN");
/// ```
#[derive(Clone)]
pub struct Plain {
    authzid: String,
    user: String,
    pass: String,
}

impl Plain {
    /// A PLAIN mechanism authenticating as `user` with password `pass`.
    pub fn new(user: impl Into<String>, pass: impl Into<String>) -> Plain {
        Plain {
            authzid: String::new(),
            user: user.into(),
            pass: pass.into(),
        }
    }

    /// Requests the authorization identity `authzid` (empty, the default,
    /// means "the same as the user"). Kafka rejects an authzid different from
    /// the user name.
    pub fn with_authzid(mut self, authzid: impl Into<String>) -> Plain {
        self.authzid = authzid.into();
        self
    }

    /// The message `authzid NUL user NUL pass`.
    fn message(&self) -> Result<Vec<u8>> {
        if self.user.is_empty() || self.pass.is_empty() {
            return Err(crate::error::Error::Sasl(
                "PLAIN requires a non-empty user name and password".into(),
            ));
        }
        if [&self.authzid, &self.user, &self.pass]
            .iter()
            .any(|s| s.contains('\0'))
        {
            return Err(crate::error::Error::Sasl(
                "PLAIN user name, password and authzid must not contain NUL".into(),
            ));
        }
        let mut msg =
            Vec::with_capacity(self.authzid.len() + self.user.len() + self.pass.len() + 2);
        msg.extend_from_slice(self.authzid.as_bytes());
        msg.push(0);
        msg.extend_from_slice(self.user.as_bytes());
        msg.push(0);
        msg.extend_from_slice(self.pass.as_bytes());
        Ok(msg)
    }
}

impl fmt::Debug for Plain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Plain")
            .field("authzid", &self.authzid)
            .field("user", &self.user)
            .field("pass", &"<redacted>")
            .finish()
    }
}

impl Mechanism for Plain {
    fn name(&self) -> &str {
        "PLAIN"
    }

    fn authenticate(&self, _host: &str) -> Result<(Box<dyn Session>, Vec<u8>)> {
        let msg = self.message()?;
        Ok((Box::new(PlainSession), msg))
    }
}

/// PLAIN has one round: whatever the broker answers (Kafka answers with no
/// bytes; failure arrives as an error code or a closed connection) ends it.
#[derive(Debug)]
struct PlainSession;

impl Session for PlainSession {
    fn challenge(&mut self, _challenge: &[u8]) -> Result<(bool, Vec<u8>)> {
        Ok((true, Vec::new()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_bytes() {
        let (mut session, msg) = Plain::new("alice", "s3cret")
            .authenticate("broker:9092")
            .unwrap();
        assert_eq!(msg, b"\0alice\0s3cret");
        let (done, next) = session.challenge(b"").unwrap();
        assert!(done);
        assert!(next.is_empty());
    }

    #[test]
    fn message_bytes_with_authzid() {
        let plain = Plain::new("alice", "s3cret").with_authzid("admin");
        let (_, msg) = plain.authenticate("h").unwrap();
        assert_eq!(msg, b"admin\0alice\0s3cret");
        assert_eq!(plain.name(), "PLAIN");
    }

    #[test]
    fn debug_redacts_password() {
        let text = format!("{:?}", Plain::new("alice", "hunter2"));
        assert!(text.contains("alice"));
        assert!(text.contains("<redacted>"));
        assert!(!text.contains("hunter2"));
    }

    #[test]
    fn rejects_nul_and_empty() {
        assert!(matches!(
            Plain::new("a\0b", "p").authenticate("h"),
            Err(crate::error::Error::Sasl(_))
        ));
        assert!(matches!(
            Plain::new("a", "p\0").authenticate("h"),
            Err(crate::error::Error::Sasl(_))
        ));
        assert!(Plain::new("a", "p")
            .with_authzid("\0")
            .authenticate("h")
            .is_err());
        assert!(Plain::new("", "p").authenticate("h").is_err());
        assert!(Plain::new("a", "").authenticate("h").is_err());
    }

    #[cfg(feature = "fake")]
    #[test]
    fn against_server_verifier() {
        use crate::fake::sasl_server::{new_server_session, ServerStep, ServerUsers};
        let users = ServerUsers::new().with_user("alice", "s3cret");

        let (mut session, msg) = Plain::new("alice", "s3cret").authenticate("h").unwrap();
        let mut server = new_server_session("PLAIN", &users).unwrap();
        let ServerStep::Done(reply) = server.step(&msg) else {
            panic!("PLAIN login failed")
        };
        assert_eq!(session.challenge(&reply).unwrap(), (true, Vec::new()));

        let (_, msg) = Plain::new("alice", "wrong").authenticate("h").unwrap();
        let mut server = new_server_session("PLAIN", &users).unwrap();
        assert!(matches!(server.step(&msg), ServerStep::Failed(_)));

        let (_, msg) = Plain::new("bob", "s3cret").authenticate("h").unwrap();
        let mut server = new_server_session("PLAIN", &users).unwrap();
        assert!(matches!(server.step(&msg), ServerStep::Failed(_)));

        let (_, msg) = Plain::new("alice", "s3cret")
            .with_authzid("admin")
            .authenticate("h")
            .unwrap();
        let mut server = new_server_session("PLAIN", &users).unwrap();
        assert!(matches!(server.step(&msg), ServerStep::Failed(_)));

        let (_, msg) = Plain::new("alice", "s3cret")
            .with_authzid("alice")
            .authenticate("h")
            .unwrap();
        let mut server = new_server_session("PLAIN", &users).unwrap();
        assert!(matches!(server.step(&msg), ServerStep::Done(_)));
    }
}
