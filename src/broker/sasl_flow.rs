//! The SASL exchange on a connection, driven by responses on the I/O thread:
//! SaslHandshake (picks the mechanism), then SaslAuthenticate rounds (or raw
//! token frames for brokers without SaslAuthenticate) until the session is done.
//!
//! KIP-368: when SaslAuthenticate v1+ reports a session lifetime, the
//! connection re-authenticates at 85-95% of it (as the Java client does)
//! once its in-flight requests have drained.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::error::{Error, Result};
use crate::messages::{
    Decodable, Encodable, SaslAuthenticateRequest, SaslAuthenticateResponse, SaslHandshakeRequest,
    SaslHandshakeResponse, StrBytes,
};
use crate::sasl::{Mechanism, Session};

pub(crate) struct SaslState {
    /// Index into the configured mechanisms.
    pub(super) mech: usize,
    /// Whether we already fell back from the first mechanism.
    fell_back: bool,
    session: Option<Box<dyn Session>>,
    /// The SaslAuthenticate version, or `None` for raw v0 tokens.
    pub(super) auth_version: Option<i16>,
}

/// What to send next.
pub(super) enum Next {
    Handshake {
        version: i16,
        body: SaslHandshakeRequest,
    },
    Authenticate {
        version: i16,
        body: SaslAuthenticateRequest,
    },
    Raw(Vec<u8>),
    /// Authenticated; re-authenticate after this long, if the broker said.
    Done(Option<Duration>),
}

fn sasl_err(msg: impl std::fmt::Display) -> Error {
    Error::Sasl(msg.to_string().into())
}

impl SaslState {
    /// Starts the exchange with the mechanism at `mech`.
    pub(super) fn start(
        mechs: &[Arc<dyn Mechanism>],
        mech: usize,
        handshake_version: i16,
    ) -> Result<(Box<SaslState>, Next)> {
        let m = mechs
            .get(mech)
            .ok_or_else(|| sasl_err("no sasl mechanism configured"))?;
        let body = SaslHandshakeRequest::default()
            .with_mechanism(StrBytes::from_string(m.name().to_string()));
        let st = Box::new(SaslState {
            mech,
            fell_back: false,
            session: None,
            auth_version: None,
        });
        Ok((
            st,
            Next::Handshake {
                version: handshake_version,
                body,
            },
        ))
    }

    /// Handles the SaslHandshake response.
    pub(super) fn on_handshake(
        &mut self,
        mechs: &[Arc<dyn Mechanism>],
        body: Bytes,
        version: i16,
        auth_version: Option<i16>,
        host: &str,
    ) -> Result<Next> {
        let mut b = body;
        let resp = SaslHandshakeResponse::decode(&mut b, version)
            .map_err(|e| Error::protocol(format!("sasl handshake: {e}")))?;
        let offered: Vec<String> = resp.mechanisms.iter().map(|m| m.to_string()).collect();
        if resp.error_code == 33 && !self.fell_back {
            // UNSUPPORTED_SASL_MECHANISM: use the first of ours the broker supports.
            self.fell_back = true;
            let pick = mechs
                .iter()
                .position(|m| offered.iter().any(|o| o == m.name()));
            return match pick {
                Some(i) => {
                    self.mech = i;
                    let body = SaslHandshakeRequest::default().with_mechanism(StrBytes::from_string(mechs[i].name().to_string()));
                    Ok(Next::Handshake { version, body })
                }
                None => Err(sasl_err(format!(
                    "the broker supports none of the configured mechanisms (broker offers {offered:?})"
                ))),
            };
        }
        if let Some(e) = Error::from_code(resp.error_code) {
            return Err(sasl_err(format!(
                "handshake failed: {e} (broker offers {offered:?})"
            )));
        }
        let m = mechs
            .get(self.mech)
            .ok_or_else(|| sasl_err("no sasl mechanism configured"))?;
        let (session, first) = m.authenticate(host)?;
        self.session = Some(session);
        self.auth_version = if version >= 1 { auth_version } else { None };
        Ok(self.send(first))
    }

    fn send(&self, bytes: Vec<u8>) -> Next {
        match self.auth_version {
            Some(v) => Next::Authenticate {
                version: v,
                body: SaslAuthenticateRequest::default().with_auth_bytes(Bytes::from(bytes)),
            },
            None => Next::Raw(bytes),
        }
    }

    /// Handles a SaslAuthenticate response.
    pub(super) fn on_authenticate(&mut self, body: Bytes, version: i16) -> Result<Next> {
        let mut b = body;
        let resp = SaslAuthenticateResponse::decode(&mut b, version)
            .map_err(|e| Error::protocol(format!("sasl authenticate: {e}")))?;
        if resp.error_code != 0 {
            let msg = resp
                .error_message
                .as_ref()
                .map(|m| m.to_string())
                .unwrap_or_default();
            let code = Error::from_code(resp.error_code)
                .map(|e| e.to_string())
                .unwrap_or_default();
            return Err(sasl_err(format!("{code}: {msg}")));
        }
        let lifetime = (resp.session_lifetime_ms > 0)
            .then(|| Duration::from_millis(resp.session_lifetime_ms as u64));
        self.on_challenge(&resp.auth_bytes, lifetime)
    }

    /// Handles a raw v0 token (or the decoded SaslAuthenticate bytes).
    pub(super) fn on_challenge(
        &mut self,
        challenge: &[u8],
        lifetime: Option<Duration>,
    ) -> Result<Next> {
        let session = self
            .session
            .as_mut()
            .ok_or_else(|| sasl_err("sasl challenge before handshake"))?;
        let (done, next) = session.challenge(challenge)?;
        if done {
            self.session = None;
            return Ok(Next::Done(lifetime));
        }
        Ok(self.send(next))
    }
}

/// When to re-authenticate: 85-95% of the session lifetime, as the Java
/// client's `SaslClientAuthenticator` does (KIP-368).
pub(super) fn reauth_at(now: Instant, lifetime: Duration) -> Instant {
    let frac = 0.85 + 0.10 * crate::sync::backoff::random_unit();
    now + lifetime.mul_f64(frac)
}

/// Encodes a SASL request body.
pub(super) fn encode<T: Encodable>(msg: &T, version: i16, buf: &mut Vec<u8>) -> Result<()> {
    msg.encode(buf, version)
        .map_err(|e| Error::protocol(format!("encoding sasl request: {e}")))
}
