//! Server-side SASL verification, for the crate's tests and its embedded fake
//! cluster (the `fake` feature).
//!
//! [`new_server_session`] starts a [`ServerSession`] for one mechanism (PLAIN,
//! SCRAM-SHA-256 or SCRAM-SHA-512) checking credentials against
//! [`ServerUsers`]; each client message is fed to [`ServerSession::step`],
//! which answers with a [`ServerStep`].
//!
//! ```
//! use kafka_sync::fake::sasl_server::{new_server_session, ServerStep, ServerUsers};
//!
//! let users = ServerUsers::new().with_user("alice", "secret");
//! let mut session = new_server_session("PLAIN", &users).unwrap();
//! assert_eq!(session.step(b"\0alice\0secret"), ServerStep::Done(Vec::new()));
//! ```
//!
//! This is a test double, not a hardened server: SCRAM salts are drawn per
//! session and unknown users are rejected at once.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use crate::sasl::base64;
use crate::sasl::scram::{self, ScramAlgorithm};

/// The mechanisms [`new_server_session`] knows, in the order a fake broker
/// lists them in its SaslHandshake response.
pub const SUPPORTED_MECHANISMS: &[&str] = &["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"];

/// PBKDF2 iterations the SCRAM verifier asks for.
const SCRAM_ITERATIONS: u32 = 4096;
/// Random salt bytes per SCRAM session.
const SALT_BYTES: usize = 16;
/// Random bytes the server appends to the client's nonce.
const SERVER_NONCE_BYTES: usize = 18;
/// The failure text for a wrong user name or password, as Kafka words it.
const INVALID_CREDENTIALS: &str = "Authentication failed: Invalid user credentials";

/// The users a fake server accepts: user name to password.
///
/// Cheap to clone (the map is shared); changing a clone copies the map first,
/// so clones never see each other's changes. For SCRAM delegation tokens
/// (`tokenauth=true`) the token id is the user name and the token HMAC the
/// password.
#[derive(Clone, Default)]
pub struct ServerUsers {
    users: Arc<HashMap<String, String>>,
}

impl ServerUsers {
    /// No users.
    pub fn new() -> ServerUsers {
        ServerUsers::default()
    }

    /// Adds (or replaces) `user` with password `pass`.
    pub fn with_user(mut self, user: impl Into<String>, pass: impl Into<String>) -> ServerUsers {
        self.insert(user, pass);
        self
    }

    /// Adds (or replaces) `user` with password `pass`, returning the old
    /// password.
    pub fn insert(&mut self, user: impl Into<String>, pass: impl Into<String>) -> Option<String> {
        Arc::make_mut(&mut self.users).insert(user.into(), pass.into())
    }

    /// Removes `user`, returning its password.
    pub fn remove(&mut self, user: &str) -> Option<String> {
        if !self.users.contains_key(user) {
            return None;
        }
        Arc::make_mut(&mut self.users).remove(user)
    }

    /// The password of `user`, if it exists.
    pub fn password(&self, user: &str) -> Option<&str> {
        self.users.get(user).map(String::as_str)
    }

    /// Whether `user` exists.
    pub fn contains(&self, user: &str) -> bool {
        self.users.contains_key(user)
    }

    /// The number of users.
    pub fn len(&self) -> usize {
        self.users.len()
    }

    /// Whether there are no users.
    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }
}

impl<U: Into<String>, P: Into<String>> FromIterator<(U, P)> for ServerUsers {
    fn from_iter<I: IntoIterator<Item = (U, P)>>(iter: I) -> ServerUsers {
        ServerUsers {
            users: Arc::new(
                iter.into_iter()
                    .map(|(u, p)| (u.into(), p.into()))
                    .collect(),
            ),
        }
    }
}

impl fmt::Debug for ServerUsers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut names: Vec<&str> = self.users.keys().map(String::as_str).collect();
        names.sort_unstable();
        f.debug_struct("ServerUsers")
            .field("users", &names)
            .finish_non_exhaustive()
    }
}

/// What a [`ServerSession`] answers to a client message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerStep {
    /// Send these bytes and expect another client message.
    Continue(Vec<u8>),
    /// Authentication succeeded; send these final bytes (possibly empty).
    Done(Vec<u8>),
    /// Authentication failed, for this reason (Kafka puts such text in the
    /// SaslAuthenticate error message).
    Failed(String),
}

/// The server's side of one authentication exchange.
pub trait ServerSession: Send {
    /// Handles the client's next message. After [`ServerStep::Done`] or
    /// [`ServerStep::Failed`] every further message fails.
    fn step(&mut self, client_msg: &[u8]) -> ServerStep;
}

/// Starts a server session for `mechanism` (case-sensitive, one of
/// [`SUPPORTED_MECHANISMS`]) checking credentials against `users`; `None`
/// for other mechanisms.
pub fn new_server_session(mechanism: &str, users: &ServerUsers) -> Option<Box<dyn ServerSession>> {
    match mechanism {
        "PLAIN" => Some(Box::new(PlainServer {
            users: users.clone(),
            finished: false,
        })),
        "SCRAM-SHA-256" => Some(Box::new(ScramServer::new(ScramAlgorithm::Sha256, users))),
        "SCRAM-SHA-512" => Some(Box::new(ScramServer::new(ScramAlgorithm::Sha512, users))),
        _ => None,
    }
}

fn failed(msg: impl Into<String>) -> ServerStep {
    ServerStep::Failed(msg.into())
}

/// PLAIN: one message, `authzid NUL user NUL pass`.
struct PlainServer {
    users: ServerUsers,
    finished: bool,
}

impl ServerSession for PlainServer {
    fn step(&mut self, client_msg: &[u8]) -> ServerStep {
        if std::mem::replace(&mut self.finished, true) {
            return failed("unexpected message after the exchange finished");
        }
        let Ok(msg) = std::str::from_utf8(client_msg) else {
            return failed("Invalid SASL/PLAIN request: not UTF-8");
        };
        let parts: Vec<&str> = msg.split('\0').collect();
        let &[authzid, user, pass] = parts.as_slice() else {
            return failed("Invalid SASL/PLAIN request: expected 3 tokens");
        };
        if user.is_empty() || pass.is_empty() {
            return failed("Authentication failed: username or password not specified");
        }
        let ok = self
            .users
            .password(user)
            .is_some_and(|p| scram::ct_eq(p.as_bytes(), pass.as_bytes()));
        if !ok {
            return failed(INVALID_CREDENTIALS);
        }
        if !authzid.is_empty() && authzid != user {
            return failed("Authentication failed: Client requested an authorization id that is different from username");
        }
        ServerStep::Done(Vec::new())
    }
}

/// Where a SCRAM server session is.
enum ScramState {
    /// Waiting for client-first.
    ClientFirst,
    /// server-first sent; waiting for client-final.
    ClientFinal(Box<Pending>),
    /// Finished: every further message fails.
    Finished,
}

/// What the server remembers between server-first and client-final.
struct Pending {
    gs2_header: String,
    client_first_bare: String,
    server_first: String,
    nonce: String,
    stored_key: Vec<u8>,
    server_key: Vec<u8>,
}

/// SCRAM-SHA-256/512 verifier.
struct ScramServer {
    algorithm: ScramAlgorithm,
    users: ServerUsers,
    salt: Vec<u8>,
    server_nonce: String,
    iterations: u32,
    state: ScramState,
}

impl ScramServer {
    fn new(algorithm: ScramAlgorithm, users: &ServerUsers) -> ScramServer {
        let salt = scram::random_bytes(SALT_BYTES);
        let server_nonce = base64::encode(&scram::random_bytes(SERVER_NONCE_BYTES));
        ScramServer::with_params(algorithm, users, salt, server_nonce, SCRAM_ITERATIONS)
    }

    /// A session with a fixed salt, server nonce and iteration count (tests
    /// reproduce RFC test vectors with it).
    fn with_params(
        algorithm: ScramAlgorithm,
        users: &ServerUsers,
        salt: Vec<u8>,
        server_nonce: String,
        iterations: u32,
    ) -> ScramServer {
        ScramServer {
            algorithm,
            users: users.clone(),
            salt,
            server_nonce,
            iterations,
            state: ScramState::ClientFirst,
        }
    }

    /// Parses `gs2-header client-first-bare` and answers with server-first.
    fn client_first(&self, msg: &[u8]) -> Result<(Pending, Vec<u8>), String> {
        let msg = std::str::from_utf8(msg)
            .map_err(|_| "Invalid SCRAM client first message: not UTF-8".to_owned())?;
        let invalid = || {
            format!(
                "Invalid SCRAM client first message {:?}",
                scram::server_text(msg.as_bytes())
            )
        };

        // gs2-header = gs2-cbind-flag "," [ authzid ] ","
        let (cbind, rest) = msg.split_once(',').ok_or_else(invalid)?;
        match cbind {
            "n" | "y" => {}
            c if c.starts_with("p=") => {
                return Err("SCRAM channel binding is not supported".to_owned())
            }
            _ => return Err(invalid()),
        }
        let (authzid, bare) = rest.split_once(',').ok_or_else(invalid)?;
        let authzid = if authzid.is_empty() {
            None
        } else {
            let escaped = authzid
                .strip_prefix("a=")
                .filter(|a| !a.is_empty())
                .ok_or_else(invalid)?;
            Some(scram::unescape_saslname(escaped).ok_or_else(invalid)?)
        };
        let gs2_len = msg.len() - bare.len();
        let gs2_header = msg.get(..gs2_len).ok_or_else(invalid)?;

        // client-first-message-bare = [reserved-mext ","] username "," nonce ["," extensions]
        let mut attrs = bare.split(',');
        let user = attrs
            .next()
            .and_then(|a| a.strip_prefix("n="))
            .ok_or_else(invalid)?;
        let user = scram::unescape_saslname(user)
            .filter(|u| !u.is_empty())
            .ok_or_else(invalid)?;
        let client_nonce = attrs
            .next()
            .and_then(|a| a.strip_prefix("r="))
            .ok_or_else(invalid)?;
        if !scram::is_printable(client_nonce) {
            return Err(invalid());
        }
        for ext in attrs {
            // Extensions are key=value; tokenauth=true is Kafka's delegation-token
            // flag, which this double treats like any other user.
            if !ext.contains('=') {
                return Err(invalid());
            }
        }
        if authzid.as_ref().is_some_and(|a| *a != user) {
            return Err(
                "Authentication failed: Client requested an authorization id that is different from username"
                    .to_owned(),
            );
        }
        let pass = self
            .users
            .password(&user)
            .ok_or_else(|| INVALID_CREDENTIALS.to_owned())?;

        let alg = self.algorithm;
        let salted = alg
            .salted_password(pass.as_bytes(), &self.salt, self.iterations)
            .map_err(|e| e.to_string())?;
        let keys = alg.keys(&salted).map_err(|e| e.to_string())?;
        let nonce = format!("{client_nonce}{}", self.server_nonce);
        let server_first = format!(
            "r={nonce},s={},i={}",
            base64::encode(&self.salt),
            self.iterations
        );
        let reply = server_first.clone().into_bytes();
        let pending = Pending {
            gs2_header: gs2_header.to_owned(),
            client_first_bare: bare.to_owned(),
            server_first,
            nonce,
            stored_key: keys.stored_key,
            server_key: keys.server_key,
        };
        Ok((pending, reply))
    }

    /// Parses `c=..,r=..[,ext..],p=..`, verifies the proof and answers with
    /// `v=ServerSignature`.
    fn client_final(&self, p: &Pending, msg: &[u8]) -> Result<Vec<u8>, String> {
        let msg = std::str::from_utf8(msg)
            .map_err(|_| "Invalid SCRAM client final message: not UTF-8".to_owned())?;
        let invalid = || {
            format!(
                "Invalid SCRAM client final message {:?}",
                scram::server_text(msg.as_bytes())
            )
        };

        let (without_proof, proof) = msg.rsplit_once(",p=").ok_or_else(invalid)?;
        let proof = base64::decode(proof).ok_or_else(invalid)?;
        let mut attrs = without_proof.split(',');
        let binding = attrs
            .next()
            .and_then(|a| a.strip_prefix("c="))
            .ok_or_else(invalid)?;
        let binding = base64::decode(binding).ok_or_else(invalid)?;
        if binding != p.gs2_header.as_bytes() {
            return Err(
                "Invalid SCRAM client final message: channel binding does not match the gs2 header"
                    .to_owned(),
            );
        }
        let nonce = attrs
            .next()
            .and_then(|a| a.strip_prefix("r="))
            .ok_or_else(invalid)?;
        if nonce != p.nonce {
            return Err("Invalid SCRAM client final message: nonce mismatch".to_owned());
        }

        let alg = self.algorithm;
        let auth_message = format!(
            "{},{},{}",
            p.client_first_bare, p.server_first, without_proof
        );
        let client_signature = alg
            .hmac(&p.stored_key, auth_message.as_bytes())
            .map_err(|e| e.to_string())?;
        let Some(client_key) = scram::xor(&proof, &client_signature) else {
            return Err(INVALID_CREDENTIALS.to_owned());
        };
        if !scram::ct_eq(&alg.hash(&client_key), &p.stored_key) {
            return Err(INVALID_CREDENTIALS.to_owned());
        }
        let server_signature = alg
            .hmac(&p.server_key, auth_message.as_bytes())
            .map_err(|e| e.to_string())?;
        Ok(format!("v={}", base64::encode(&server_signature)).into_bytes())
    }
}

impl ServerSession for ScramServer {
    fn step(&mut self, client_msg: &[u8]) -> ServerStep {
        match std::mem::replace(&mut self.state, ScramState::Finished) {
            ScramState::ClientFirst => match self.client_first(client_msg) {
                Ok((pending, reply)) => {
                    self.state = ScramState::ClientFinal(Box::new(pending));
                    ServerStep::Continue(reply)
                }
                Err(e) => ServerStep::Failed(e),
            },
            ScramState::ClientFinal(pending) => match self.client_final(&pending, client_msg) {
                Ok(reply) => ServerStep::Done(reply),
                Err(e) => ServerStep::Failed(e),
            },
            ScramState::Finished => failed("unexpected message after the exchange finished"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc7677_test_vector_server_side() {
        let users = ServerUsers::new().with_user("user", "pencil");
        let salt = base64::decode("W22ZaJ0SNY7soEsUEjb6gQ==").unwrap();
        let mut server = ScramServer::with_params(
            ScramAlgorithm::Sha256,
            &users,
            salt,
            "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0".to_owned(),
            4096,
        );
        assert_eq!(
            server.step(b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO"),
            ServerStep::Continue(
                b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096".to_vec()
            )
        );
        assert_eq!(
            server.step(
                b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
            ),
            ServerStep::Done(b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=".to_vec())
        );
        assert!(matches!(server.step(b""), ServerStep::Failed(_)));
    }

    #[test]
    fn wrong_proof_fails() {
        let users = ServerUsers::new().with_user("user", "pencil");
        let salt = base64::decode("W22ZaJ0SNY7soEsUEjb6gQ==").unwrap();
        let mut server =
            ScramServer::with_params(ScramAlgorithm::Sha256, &users, salt, "srv".to_owned(), 4096);
        assert!(matches!(
            server.step(b"n,,n=user,r=abc"),
            ServerStep::Continue(_)
        ));
        let proof = base64::encode(&[7u8; 32]);
        let step = server.step(format!("c=biws,r=abcsrv,p={proof}").as_bytes());
        assert_eq!(step, ServerStep::Failed(INVALID_CREDENTIALS.to_owned()));
    }

    #[test]
    fn malformed_client_messages_fail() {
        let users = ServerUsers::new().with_user("user", "pencil");
        let bad_first: &[&[u8]] = &[
            b"",
            b"n",
            b"n,",
            b"x,,n=user,r=abc",
            b"p=tls-unique,,n=user,r=abc",
            b"n,zid,n=user,r=abc",
            b"n,a=,n=user,r=abc",
            b"n,,user,r=abc",
            b"n,,n=user",
            b"n,,n=user,r=",
            b"n,,n=us=er,r=abc",
            b"n,,n=,r=abc",
            b"n,,m=x,n=user,r=abc",
            b"n,,n=user,r=abc,junk",
            b"n,,n=nobody,r=abc",
            b"n,a=other,n=user,r=abc",
            b"\xff,,n=user,r=abc",
        ];
        for msg in bad_first {
            let mut server = new_server_session("SCRAM-SHA-256", &users).unwrap();
            assert!(
                matches!(server.step(msg), ServerStep::Failed(_)),
                "{:?}",
                String::from_utf8_lossy(msg)
            );
        }
        let bad_final: &[&[u8]] = &[
            b"",
            b"c=biws,r=abc",
            b"c=biws,p=AAAA",
            b"r=abc,c=biws,p=AAAA",
            b"c=eSws,r=abc,p=AAAA",
            b"c=biws,r=wrong,p=AAAA",
            b"c=biws,r=abc,p=!!",
            b"c=!!,r=abc,p=AAAA",
            b"\xff",
        ];
        for msg in bad_final {
            let mut server = new_server_session("SCRAM-SHA-512", &users).unwrap();
            assert!(matches!(
                server.step(b"n,,n=user,r=abc"),
                ServerStep::Continue(_)
            ));
            assert!(
                matches!(server.step(msg), ServerStep::Failed(_)),
                "{:?}",
                String::from_utf8_lossy(msg)
            );
        }
    }

    #[test]
    fn plain_server() {
        let users: ServerUsers = [("alice", "pw")].into_iter().collect();
        let cases: &[(&[u8], bool)] = &[
            (b"\0alice\0pw", true),
            (b"alice\0alice\0pw", true),
            (b"bob\0alice\0pw", false),
            (b"\0alice\0pW", false),
            (b"\0alice\0", false),
            (b"\0\0pw", false),
            (b"alice\0pw", false),
            (b"\0alice\0pw\0", false),
            (b"\0alice\0p\xffw", false),
            (b"", false),
        ];
        for (msg, ok) in cases {
            let mut server = new_server_session("PLAIN", &users).unwrap();
            let step = server.step(msg);
            assert_eq!(
                matches!(step, ServerStep::Done(_)),
                *ok,
                "{:?}: {step:?}",
                String::from_utf8_lossy(msg)
            );
            assert!(matches!(server.step(msg), ServerStep::Failed(_)));
        }
    }

    #[test]
    fn unknown_mechanism() {
        assert!(new_server_session("GSSAPI", &ServerUsers::new()).is_none());
        assert!(new_server_session("plain", &ServerUsers::new()).is_none());
        for m in SUPPORTED_MECHANISMS {
            assert!(new_server_session(m, &ServerUsers::new()).is_some());
        }
    }

    #[test]
    fn users_clone_is_independent_and_debug_hides_passwords() {
        let mut a = ServerUsers::new().with_user("alice", "hunter2");
        let b = a.clone();
        assert_eq!(a.insert("bob", "x"), None);
        assert_eq!(a.insert("bob", "y").as_deref(), Some("x"));
        assert_eq!((a.len(), b.len()), (2, 1));
        assert!(b.contains("alice") && !b.contains("bob"));
        assert_eq!(a.remove("bob").as_deref(), Some("y"));
        assert_eq!(a.remove("bob"), None);
        assert_eq!(a.password("alice"), Some("hunter2"));
        assert!(!ServerUsers::new().contains("x") && ServerUsers::new().is_empty());
        let text = format!("{a:?}");
        assert!(
            text.contains("alice") && !text.contains("hunter2"),
            "{text}"
        );
    }

    #[test]
    fn arbitrary_client_bytes_never_panic() {
        let users = ServerUsers::new().with_user("user", "pencil");
        let pieces: &[&[u8]] = &[
            b"n,", b"a=", b"n=", b"r=", b"c=", b"p=", b",", b"=", b"user", b"biws", b"\0", b"\xff",
        ];
        let mut state: u64 = 0xdead_beef_cafe_f00d;
        for _ in 0..2000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let mut msg = Vec::new();
            for i in 0..(state % 10) {
                msg.extend_from_slice(pieces[((state >> (i * 4)) % pieces.len() as u64) as usize]);
            }
            for mechanism in SUPPORTED_MECHANISMS {
                let mut server = new_server_session(mechanism, &users).unwrap();
                let _ = server.step(&msg);
                let _ = server.step(&msg);
            }
        }
    }
}
