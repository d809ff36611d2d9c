//! The OAUTHBEARER mechanism (RFC 7628, Kafka's KIP-255 and KIP-342).

use std::fmt;
use std::sync::Arc;

use super::scram::server_text;
use super::{Mechanism, Session};
use crate::error::Result;

/// A bearer token and what to send with it, as returned by an
/// [`OAuthBearer`] token callback.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct OAuthToken {
    /// The bearer token (for example a JWT), sent as `auth=Bearer <token>`.
    /// It must be an RFC 6750 `b64token`: letters, digits and `-._~+/`,
    /// optionally followed by `=` padding.
    pub token: String,
    /// The authorization identity to request, if any.
    pub zid: Option<String>,
    /// SASL extensions (KIP-342) sent as `key=value`. Keys are letters only
    /// and not `auth`; values are printable ASCII, space, tab, CR or LF.
    pub extensions: Vec<(String, String)>,
}

impl OAuthToken {
    /// A token with no authzid and no extensions.
    pub fn new(token: impl Into<String>) -> OAuthToken {
        OAuthToken {
            token: token.into(),
            zid: None,
            extensions: Vec::new(),
        }
    }

    /// The initial client response:
    /// `n,[a=zid],\x01auth=Bearer <token>\x01[key=value\x01]...\x01`.
    fn message(&self) -> Result<Vec<u8>> {
        if !is_b64token(&self.token) {
            return Err(oauth_err(
                "the token is empty or has characters a bearer token cannot have",
            ));
        }
        let mut msg = String::from("n,");
        if let Some(zid) = self.zid.as_deref().filter(|z| !z.is_empty()) {
            if zid.contains('\0') {
                return Err(oauth_err("the authzid must not contain NUL"));
            }
            msg.push_str("a=");
            msg.push_str(&zid.replace('=', "=3D").replace(',', "=2C"));
        }
        msg.push_str(",\x01auth=Bearer ");
        msg.push_str(&self.token);
        msg.push('\x01');
        for (key, value) in &self.extensions {
            if key.is_empty() || !key.bytes().all(|b| b.is_ascii_alphabetic()) || key == "auth" {
                return Err(oauth_err(format_args!("invalid extension key {key:?}")));
            }
            let value_ok = !value.is_empty()
                && value.bytes().all(|b| {
                    (0x21..=0x7e).contains(&b) || matches!(b, b' ' | b'\t' | b'\r' | b'\n')
                });
            if !value_ok {
                return Err(oauth_err(format_args!(
                    "invalid value for extension {key:?}"
                )));
            }
            msg.push_str(key);
            msg.push('=');
            msg.push_str(value);
            msg.push('\x01');
        }
        msg.push('\x01');
        Ok(msg.into_bytes())
    }
}

impl fmt::Debug for OAuthToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let keys: Vec<&str> = self.extensions.iter().map(|(k, _)| k.as_str()).collect();
        f.debug_struct("OAuthToken")
            .field("token", &"<redacted>")
            .field("zid", &self.zid)
            .field("extensions", &keys)
            .finish()
    }
}

/// RFC 6750 `b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`.
fn is_b64token(token: &str) -> bool {
    let body = token.trim_end_matches('=');
    !body.is_empty()
        && body.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/')
        })
}

fn oauth_err(msg: impl fmt::Display) -> crate::error::Error {
    crate::error::Error::Sasl(format!("OAUTHBEARER: {msg}").into())
}

/// The callback an [`OAuthBearer`] calls for a token.
type TokenCallback = dyn Fn() -> Result<OAuthToken> + Send + Sync;

/// SASL/OAUTHBEARER: sends a bearer token obtained from a callback.
///
/// The callback is called once per authentication (once per broker
/// connection), so it can return a cached token or fetch a fresh one.
///
/// ```
/// use kafka_sync::sasl::{Mechanism, OAuthBearer, OAuthToken};
///
/// let mechanism = OAuthBearer::new(|| Ok(OAuthToken::new("eyJhbGciOi.eyJzdWIi.c2lnbmF0dXJl")));
/// assert_eq!(mechanism.name(), "OAUTHBEARER");
/// ```
#[derive(Clone)]
pub struct OAuthBearer {
    callback: Arc<TokenCallback>,
}

impl OAuthBearer {
    /// An OAUTHBEARER mechanism getting its token from `callback`.
    pub fn new(callback: impl Fn() -> Result<OAuthToken> + Send + Sync + 'static) -> OAuthBearer {
        OAuthBearer {
            callback: Arc::new(callback),
        }
    }
}

impl fmt::Debug for OAuthBearer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OAuthBearer").finish_non_exhaustive()
    }
}

impl Mechanism for OAuthBearer {
    fn name(&self) -> &str {
        "OAUTHBEARER"
    }

    fn authenticate(&self, _host: &str) -> Result<(Box<dyn Session>, Vec<u8>)> {
        let token = (self.callback)().map_err(|e| match e {
            crate::error::Error::Sasl(m) => crate::error::Error::Sasl(m),
            other => oauth_err(format_args!("the token callback failed: {other}")),
        })?;
        Ok((Box::new(OAuthSession { done: false }), token.message()?))
    }
}

/// One OAUTHBEARER exchange: an empty server reply is success; anything else
/// is the server's error (a JSON status document).
#[derive(Debug)]
struct OAuthSession {
    done: bool,
}

impl Session for OAuthSession {
    fn challenge(&mut self, challenge: &[u8]) -> Result<(bool, Vec<u8>)> {
        if std::mem::replace(&mut self.done, true) {
            return Err(oauth_err("unexpected message after the exchange finished"));
        }
        if challenge.is_empty() {
            Ok((true, Vec::new()))
        } else {
            Err(oauth_err(format_args!(
                "the broker rejected the token: {}",
                server_text(challenge)
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[test]
    fn message_bytes() {
        let bearer = OAuthBearer::new(|| Ok(OAuthToken::new("abc.def-ghi")));
        let (mut session, msg) = bearer.authenticate("h").unwrap();
        assert_eq!(msg, b"n,,\x01auth=Bearer abc.def-ghi\x01\x01");
        assert_eq!(session.challenge(b"").unwrap(), (true, Vec::new()));
        assert!(session.challenge(b"").is_err());
    }

    #[test]
    fn message_bytes_with_zid_and_extensions() {
        let bearer = OAuthBearer::new(|| {
            Ok(OAuthToken {
                token: "tok==".into(),
                zid: Some("user".into()),
                extensions: vec![
                    ("traceId".into(), "123".into()),
                    ("logicalCluster".into(), "lkc-1 x".into()),
                ],
            })
        });
        let (_, msg) = bearer.authenticate("h").unwrap();
        assert_eq!(
            msg,
            b"n,a=user,\x01auth=Bearer tok==\x01traceId=123\x01logicalCluster=lkc-1 x\x01\x01"
        );
    }

    #[test]
    fn callback_called_once_per_authenticate() {
        let calls = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&calls);
        let bearer = OAuthBearer::new(move || {
            counter.fetch_add(1, Ordering::SeqCst);
            Ok(OAuthToken::new("t"))
        });
        bearer.authenticate("a").unwrap();
        bearer.clone().authenticate("b").unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn callback_error_is_sasl() {
        let bearer = OAuthBearer::new(|| Err(crate::error::Error::Config("no token file".into())));
        let err = bearer.authenticate("h").err().unwrap();
        assert!(
            matches!(&err, crate::error::Error::Sasl(m) if m.contains("no token file")),
            "{err}"
        );

        let bearer = OAuthBearer::new(|| Err(crate::error::Error::Sasl("expired".into())));
        assert!(
            matches!(bearer.authenticate("h"), Err(crate::error::Error::Sasl(m)) if &*m == "expired")
        );
    }

    #[test]
    fn server_error_is_reported() {
        let bearer = OAuthBearer::new(|| Ok(OAuthToken::new("t")));
        let (mut session, _) = bearer.authenticate("h").unwrap();
        let err = session
            .challenge(br#"{"status":"invalid_token"}"#)
            .unwrap_err();
        assert!(matches!(err, crate::error::Error::Sasl(_)));
        assert!(err.to_string().contains("invalid_token"), "{err}");

        let (mut session, _) = bearer.authenticate("h").unwrap();
        assert!(session.challenge(b"\xff\x00\x01").is_err());
    }

    #[test]
    fn invalid_tokens_and_extensions_are_rejected() {
        let tokens = ["", "===", "a b", "a\x01b", "a=b", "tök"];
        for token in tokens {
            let t = OAuthToken::new(token);
            assert!(
                OAuthBearer::new(move || Ok(t.clone()))
                    .authenticate("h")
                    .is_err(),
                "{token:?}"
            );
        }
        let extensions = [
            ("auth", "x"),
            ("", "x"),
            ("k1", "x"),
            ("k", ""),
            ("k", "a\x01b"),
            ("k", "é"),
        ];
        for (k, v) in extensions {
            let t = OAuthToken {
                extensions: vec![(k.into(), v.into())],
                ..OAuthToken::new("t")
            };
            assert!(
                OAuthBearer::new(move || Ok(t.clone()))
                    .authenticate("h")
                    .is_err(),
                "{k:?}={v:?}"
            );
        }
    }

    #[test]
    fn debug_does_not_print_tokens() {
        let t = OAuthToken {
            extensions: vec![("k".into(), "secretvalue".into())],
            ..OAuthToken::new("supersecret")
        };
        let text = format!("{t:?}");
        assert!(
            !text.contains("supersecret") && !text.contains("secretvalue"),
            "{text}"
        );
        let bearer = OAuthBearer::new(move || Ok(t.clone()));
        assert!(!format!("{bearer:?}").contains("supersecret"));
    }
}
