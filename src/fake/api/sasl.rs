//! SaslHandshake and SaslAuthenticate (KIP-43, KIP-152), and the
//! per-connection authentication state (Java `SaslServerAuthenticator`).
//!
//! The mechanisms themselves (PLAIN, SCRAM) are `crate::fake::sasl_server`.

use crate::messages::*;
use bytes::{BufMut, Bytes, BytesMut};

use super::meta::s;
use super::{Ctx, Handled, Outcome, Reply};
use crate::fake::codes;
use crate::fake::sasl_server::{new_server_session, ServerSession, ServerStep, ServerUsers};

/// The SASL mechanisms and user table for the given users, or `None`
/// when the cluster does not require SASL.
///
/// This is the one place that knows how `ServerUsers` is built.
pub(crate) fn settings(
    plain: &[(String, String)],
    scram: &[(String, String)],
) -> Option<(Vec<String>, ServerUsers)> {
    if plain.is_empty() && scram.is_empty() {
        return None;
    }
    let mut mechanisms = Vec::new();
    let mut users = ServerUsers::new();
    if !plain.is_empty() {
        mechanisms.push("PLAIN".to_string());
    }
    if !scram.is_empty() {
        mechanisms.push("SCRAM-SHA-256".to_string());
        mechanisms.push("SCRAM-SHA-512".to_string());
    }
    for (u, p) in plain.iter().chain(scram) {
        users.insert(u.as_str(), p.as_str());
    }
    Some((mechanisms, users))
}

enum Auth {
    /// No SASL, or authenticated.
    Done,
    /// Waiting for SaslHandshake (ApiVersions allowed).
    Start,
    /// Handshake done; `raw` for handshake v0, whose tokens come unframed.
    Exchanging {
        session: Box<dyn ServerSession>,
        raw: bool,
    },
}

/// Per-connection state.
pub(crate) struct ConnState {
    auth: Auth,
    /// Close once the current reply is written (failed authentication).
    pub close_after_reply: bool,
}

impl ConnState {
    /// State of a new connection; `sasl` when the cluster requires it.
    pub fn new(sasl: bool) -> Self {
        Self {
            auth: if sasl { Auth::Start } else { Auth::Done },
            close_after_reply: false,
        }
    }

    /// Whether a request with `key` is allowed in this state.
    pub fn may_send(&self, key: ApiKey) -> bool {
        match &self.auth {
            Auth::Done => true,
            Auth::Start => matches!(key, ApiKey::ApiVersions | ApiKey::SaslHandshake),
            Auth::Exchanging { raw: false, .. } => matches!(key, ApiKey::SaslAuthenticate),
            Auth::Exchanging { raw: true, .. } => false,
        }
    }

    /// Whether the next frame is a bare SASL token (after handshake v0).
    pub fn raw_sasl(&self) -> bool {
        matches!(self.auth, Auth::Exchanging { raw: true, .. })
    }
}

/// SaslHandshake: picks the mechanism.
pub(super) fn handshake(
    ctx: &Ctx<'_>,
    conn: &mut ConnState,
    req: &SaslHandshakeRequest,
    version: i16,
) -> Handled {
    let Some(sasl) = &ctx.shared.settings.sasl else {
        // A listener without SASL (Java KafkaApis.handleSaslHandshakeRequest).
        return reply_handshake(
            SaslHandshakeResponse::default().with_error_code(codes::ILLEGAL_SASL_STATE),
        );
    };
    let mechanisms: Vec<_> = sasl.mechanisms.iter().map(|m| s(m.as_str())).collect();
    let resp = SaslHandshakeResponse::default().with_mechanisms(mechanisms);
    if !matches!(conn.auth, Auth::Start) {
        conn.close_after_reply = true;
        return reply_handshake(resp.with_error_code(codes::ILLEGAL_SASL_STATE));
    }
    let mech = req.mechanism.as_str();
    let session = sasl
        .mechanisms
        .iter()
        .any(|m| m == mech)
        .then(|| new_server_session(mech, &sasl.users))
        .flatten();
    match session {
        Some(session) => {
            conn.auth = Auth::Exchanging {
                session,
                raw: version == 0,
            };
            reply_handshake(resp)
        }
        None => {
            conn.close_after_reply = true;
            reply_handshake(resp.with_error_code(codes::UNSUPPORTED_SASL_MECHANISM))
        }
    }
}

fn reply_handshake(r: SaslHandshakeResponse) -> Handled {
    Handled::Reply(Reply::SaslHandshake(r))
}

/// SaslAuthenticate: one step of the exchange. A failure is answered with
/// SASL_AUTHENTICATION_FAILED and then the connection is closed, as in Java.
pub(super) fn authenticate(conn: &mut ConnState, req: &SaslAuthenticateRequest) -> Handled {
    let resp = SaslAuthenticateResponse::default();
    let Auth::Exchanging {
        session,
        raw: false,
    } = &mut conn.auth
    else {
        conn.close_after_reply = true;
        return Handled::Reply(Reply::SaslAuthenticate(
            resp.with_error_code(codes::ILLEGAL_SASL_STATE),
        ));
    };
    let resp = match session.step(&req.auth_bytes) {
        ServerStep::Continue(b) => resp.with_auth_bytes(Bytes::from(b)),
        ServerStep::Done(b) => {
            conn.auth = Auth::Done;
            resp.with_auth_bytes(Bytes::from(b))
        }
        ServerStep::Failed(msg) => {
            conn.close_after_reply = true;
            resp.with_error_code(codes::SASL_AUTHENTICATION_FAILED)
                .with_error_message(Some(s(msg)))
        }
    };
    Handled::Reply(Reply::SaslAuthenticate(resp))
}

/// A bare token after SaslHandshake v0: answered with a bare size-prefixed
/// token; a failure closes the connection (the v0 flow has no error field).
pub(super) fn raw_token(conn: &mut ConnState, frame: &[u8]) -> Outcome {
    let Auth::Exchanging { session, .. } = &mut conn.auth else {
        return Outcome::Close;
    };
    let token = match session.step(frame) {
        ServerStep::Continue(b) => b,
        ServerStep::Done(b) => {
            conn.auth = Auth::Done;
            b
        }
        ServerStep::Failed(_) => return Outcome::Close,
    };
    let Ok(len) = i32::try_from(token.len()) else {
        return Outcome::Close;
    };
    let mut out = BytesMut::with_capacity(4 + token.len());
    out.put_i32(len);
    out.put_slice(&token);
    Outcome::Reply(out.freeze())
}
