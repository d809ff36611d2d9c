//! The SCRAM-SHA-256 and SCRAM-SHA-512 mechanisms (RFC 5802, RFC 7677), with
//! Kafka's delegation-token extension (KIP-48).
//!
//! The exchange is:
//!
//! 1. client-first: `n,[a=authzid],n=user,r=client-nonce[,tokenauth=true]`
//! 2. server-first: `r=client-nonce+server-nonce,s=salt,i=iterations`
//! 3. client-final: `c=base64(gs2 header),r=nonce,p=base64(ClientProof)`
//! 4. server-final: `v=base64(ServerSignature)` (or `e=error`)
//!
//! The client verifies the server's signature, so a broker that does not know
//! the password cannot pass as one that does.
//!
//! The primitives (PBKDF2, HMAC, saslname escaping, nonces, constant-time
//! comparison) are `pub(crate)` so the fake-cluster verifier in
//! `fake::sasl_server` shares them.

use std::fmt;
use std::io::Read;

use hmac::digest::KeyInit;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256, Sha512};

use super::{base64, Mechanism, Session};
use crate::error::Result;

/// The fewest PBKDF2 iterations accepted from a server (Kafka's minimum).
pub(crate) const MIN_ITERATIONS: u32 = 4096;
/// The most PBKDF2 iterations accepted from a server, to bound the CPU a
/// hostile or misconfigured broker can make the client spend.
pub(crate) const MAX_ITERATIONS: u32 = 1_000_000;
/// Random bytes in a client nonce (base64-encoded on the wire).
const NONCE_BYTES: usize = 24;
/// The most characters of a server's error text quoted in an error.
const MAX_SERVER_TEXT: usize = 512;

/// The hash function a [`Scram`] mechanism uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScramAlgorithm {
    /// SCRAM-SHA-256 (RFC 7677).
    Sha256,
    /// SCRAM-SHA-512.
    Sha512,
}

impl ScramAlgorithm {
    /// The SASL mechanism name: `"SCRAM-SHA-256"` or `"SCRAM-SHA-512"`.
    pub fn name(self) -> &'static str {
        match self {
            ScramAlgorithm::Sha256 => "SCRAM-SHA-256",
            ScramAlgorithm::Sha512 => "SCRAM-SHA-512",
        }
    }

    /// `HMAC(key, data)`.
    pub(crate) fn hmac(self, key: &[u8], data: &[u8]) -> Result<Vec<u8>> {
        match self {
            ScramAlgorithm::Sha256 => hmac_with::<Hmac<Sha256>>(key, data),
            ScramAlgorithm::Sha512 => hmac_with::<Hmac<Sha512>>(key, data),
        }
    }

    /// `H(data)`.
    pub(crate) fn hash(self, data: &[u8]) -> Vec<u8> {
        match self {
            ScramAlgorithm::Sha256 => Sha256::digest(data).to_vec(),
            ScramAlgorithm::Sha512 => Sha512::digest(data).to_vec(),
        }
    }

    /// `SaltedPassword := Hi(password, salt, iterations)`, which is
    /// PBKDF2-HMAC with one output block.
    pub(crate) fn salted_password(
        self,
        pass: &[u8],
        salt: &[u8],
        iterations: u32,
    ) -> Result<Vec<u8>> {
        match self {
            ScramAlgorithm::Sha256 => pbkdf2_with::<Hmac<Sha256>>(pass, salt, iterations),
            ScramAlgorithm::Sha512 => pbkdf2_with::<Hmac<Sha512>>(pass, salt, iterations),
        }
    }

    /// The keys derived from a salted password.
    pub(crate) fn keys(self, salted_password: &[u8]) -> Result<ScramKeys> {
        let client_key = self.hmac(salted_password, b"Client Key")?;
        let stored_key = self.hash(&client_key);
        let server_key = self.hmac(salted_password, b"Server Key")?;
        Ok(ScramKeys {
            client_key,
            stored_key,
            server_key,
        })
    }
}

/// `ClientKey`, `StoredKey := H(ClientKey)` and `ServerKey`.
pub(crate) struct ScramKeys {
    pub(crate) client_key: Vec<u8>,
    pub(crate) stored_key: Vec<u8>,
    pub(crate) server_key: Vec<u8>,
}

fn sasl_err(msg: impl fmt::Display) -> crate::error::Error {
    crate::error::Error::Sasl(msg.to_string().into())
}

fn hmac_with<M: Mac + KeyInit>(key: &[u8], data: &[u8]) -> Result<Vec<u8>> {
    // HMAC accepts keys of any length; the error cannot happen in practice.
    let mut mac =
        <M as KeyInit>::new_from_slice(key).map_err(|_| sasl_err("HMAC rejected its key"))?;
    mac.update(data);
    Ok(mac.finalize().into_bytes().to_vec())
}

/// PBKDF2 (RFC 8018 §5.2) with `M` as the PRF, producing one block (which is
/// SCRAM's `Hi`): `U1 = PRF(P, S || INT(1))`, `Ui = PRF(P, Ui-1)`, result
/// `U1 ^ U2 ^ ... ^ Uc`.
fn pbkdf2_with<M: Mac + KeyInit + Clone>(
    pass: &[u8],
    salt: &[u8],
    iterations: u32,
) -> Result<Vec<u8>> {
    if iterations == 0 {
        return Err(sasl_err("PBKDF2 needs at least one iteration"));
    }
    // Keying HMAC hashes the key; do it once and clone the keyed state.
    let prf =
        <M as KeyInit>::new_from_slice(pass).map_err(|_| sasl_err("HMAC rejected its key"))?;
    let mut mac = prf.clone();
    mac.update(salt);
    mac.update(&1u32.to_be_bytes());
    let mut u = mac.finalize().into_bytes();
    let mut result = u.clone();
    for _ in 1..iterations {
        let mut mac = prf.clone();
        mac.update(&u);
        u = mac.finalize().into_bytes();
        for (r, x) in result.iter_mut().zip(u.iter()) {
            *r ^= x;
        }
    }
    Ok(result.to_vec())
}

/// Compares two byte strings in time independent of their contents (the
/// lengths are not secret).
pub(crate) fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

/// `a XOR b`, or `None` when their lengths differ.
pub(crate) fn xor(a: &[u8], b: &[u8]) -> Option<Vec<u8>> {
    (a.len() == b.len()).then(|| a.iter().zip(b).map(|(x, y)| x ^ y).collect())
}

/// Escapes a user name or authzid as an RFC 5802 `saslname`: `=` becomes
/// `=3D` and `,` becomes `=2C`.
pub(crate) fn escape_saslname(name: &str) -> String {
    name.replace('=', "=3D").replace(',', "=2C")
}

/// Reverses [`escape_saslname`]; `None` for a `=` not followed by `3D` or
/// `2C`. Only the server verifier (and tests) unescape.
#[cfg(any(test, feature = "fake"))]
pub(crate) fn unescape_saslname(name: &str) -> Option<String> {
    let mut out = String::with_capacity(name.len());
    let mut rest = name;
    while let Some(at) = rest.find('=') {
        out.push_str(rest.get(..at)?);
        let after = rest.get(at + 1..)?;
        if let Some(r) = after.strip_prefix("3D") {
            out.push('=');
            rest = r;
        } else if let Some(r) = after.strip_prefix("2C") {
            out.push(',');
            rest = r;
        } else {
            return None;
        }
    }
    out.push_str(rest);
    Some(out)
}

/// Whether `s` is a valid nonce: non-empty, printable ASCII, no comma.
pub(crate) fn is_printable(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| (0x21..=0x7e).contains(&b) && b != b',')
}

/// Fills `buf` with random bytes: from `/dev/urandom` when it can be read,
/// otherwise from a mix of `RandomState` hashes (randomly keyed per process),
/// the time, the process id and a counter.
pub(crate) fn fill_random(buf: &mut [u8]) {
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        if f.read_exact(buf).is_ok() {
            return;
        }
    }
    fill_random_fallback(buf);
}

fn fill_random_fallback(buf: &mut [u8]) {
    use std::collections::hash_map::RandomState;
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::{Instant, SystemTime, UNIX_EPOCH};

    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let stack_marker = 0u8;
    let mut previous = 0u64;
    for (i, chunk) in buf.chunks_mut(8).enumerate() {
        let mut h = RandomState::new().build_hasher();
        h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
        h.write_u128(
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0),
        );
        h.write_u64(format!("{:?}", Instant::now()).len() as u64);
        h.write_u32(std::process::id());
        h.write_usize(std::ptr::addr_of!(stack_marker) as usize);
        h.write_usize(i);
        h.write_u64(previous);
        previous = h.finish();
        for (b, r) in chunk.iter_mut().zip(previous.to_le_bytes()) {
            *b = r;
        }
    }
}

/// `len` random bytes.
pub(crate) fn random_bytes(len: usize) -> Vec<u8> {
    let mut buf = vec![0; len];
    fill_random(&mut buf);
    buf
}

/// A fresh client nonce: 24 random bytes, base64 (printable, no commas).
fn new_nonce() -> String {
    base64::encode(&random_bytes(NONCE_BYTES))
}

/// Quotes bytes a server sent in an error: lossy UTF-8, control characters
/// escaped, and at most [`MAX_SERVER_TEXT`] characters.
pub(crate) fn server_text(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let mut out = String::new();
    for (i, c) in text.chars().enumerate() {
        if i == MAX_SERVER_TEXT {
            out.push_str("...");
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// SASL/SCRAM (SCRAM-SHA-256 or SCRAM-SHA-512) client.
///
/// ```
/// use kafka_sync::sasl::{Mechanism, Scram};
///
/// let mechanism = Scram::sha512("alice", "secret");
/// assert_eq!(mechanism.name(), "SCRAM-SHA-512");
///
/// // Authenticating with a delegation token (KIP-48): the token id is the
/// // user name and the token's HMAC is the password.
/// let token = Scram::sha256("token-id", "token-hmac").is_token(true);
/// ```
#[derive(Clone)]
pub struct Scram {
    algorithm: ScramAlgorithm,
    user: String,
    pass: String,
    zid: String,
    token: bool,
}

impl Scram {
    /// A SCRAM mechanism using `algorithm`.
    pub fn new(
        algorithm: ScramAlgorithm,
        user: impl Into<String>,
        pass: impl Into<String>,
    ) -> Scram {
        Scram {
            algorithm,
            user: user.into(),
            pass: pass.into(),
            zid: String::new(),
            token: false,
        }
    }

    /// SCRAM-SHA-256 as `user` with password `pass`.
    pub fn sha256(user: impl Into<String>, pass: impl Into<String>) -> Scram {
        Scram::new(ScramAlgorithm::Sha256, user, pass)
    }

    /// SCRAM-SHA-512 as `user` with password `pass`.
    pub fn sha512(user: impl Into<String>, pass: impl Into<String>) -> Scram {
        Scram::new(ScramAlgorithm::Sha512, user, pass)
    }

    /// Requests the authorization identity `authzid` (empty, the default,
    /// means none). Kafka rejects an authzid different from the user name.
    pub fn with_zid(mut self, authzid: impl Into<String>) -> Scram {
        self.zid = authzid.into();
        self
    }

    /// Whether the credentials are a delegation token (KIP-48): the user is
    /// the token id and the password the token's HMAC. Adds the
    /// `tokenauth=true` extension to the client-first message.
    pub fn is_token(mut self, token: bool) -> Scram {
        self.token = token;
        self
    }

    /// The hash function this mechanism uses.
    pub fn algorithm(&self) -> ScramAlgorithm {
        self.algorithm
    }

    /// Starts a session with the given client nonce (tests inject the RFC
    /// test vector's nonce here).
    fn start(&self, nonce: String) -> Result<(ScramSession, Vec<u8>)> {
        let name = self.algorithm.name();
        if self.user.is_empty() {
            return Err(sasl_err(format_args!("{name} requires a user name")));
        }
        if self.user.contains('\0') || self.zid.contains('\0') {
            return Err(sasl_err(format_args!(
                "{name} user name and authzid must not contain NUL"
            )));
        }
        if !is_printable(&nonce) {
            return Err(sasl_err(format_args!(
                "{name} client nonce is not printable"
            )));
        }
        let gs2_header = if self.zid.is_empty() {
            "n,,".to_owned()
        } else {
            format!("n,a={},", escape_saslname(&self.zid))
        };
        let mut client_first_bare = format!("n={},r={}", escape_saslname(&self.user), nonce);
        if self.token {
            client_first_bare.push_str(",tokenauth=true");
        }
        let first = format!("{gs2_header}{client_first_bare}").into_bytes();
        let session = ScramSession {
            algorithm: self.algorithm,
            pass: self.pass.clone(),
            gs2_header,
            client_first_bare,
            nonce,
            state: State::ServerFirst,
        };
        Ok((session, first))
    }
}

impl fmt::Debug for Scram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scram")
            .field("algorithm", &self.algorithm)
            .field("user", &self.user)
            .field("pass", &"<redacted>")
            .field("zid", &self.zid)
            .field("token", &self.token)
            .finish()
    }
}

impl Mechanism for Scram {
    fn name(&self) -> &str {
        self.algorithm.name()
    }

    fn authenticate(&self, _host: &str) -> Result<(Box<dyn Session>, Vec<u8>)> {
        let (session, first) = self.start(new_nonce())?;
        Ok((Box::new(session), first))
    }
}

/// Where a client session is in the exchange.
enum State {
    /// client-first sent; waiting for server-first.
    ServerFirst,
    /// client-final sent; waiting for server-final, which must carry this
    /// signature.
    ServerFinal { server_signature: Vec<u8> },
    /// Finished (successfully or not): no more messages are accepted.
    Done,
}

/// One SCRAM exchange.
struct ScramSession {
    algorithm: ScramAlgorithm,
    pass: String,
    gs2_header: String,
    client_first_bare: String,
    nonce: String,
    state: State,
}

/// The fields of a server-first message.
struct ServerFirst<'a> {
    message: &'a str,
    nonce: &'a str,
    salt: Vec<u8>,
    iterations: u32,
}

impl ScramSession {
    fn err(&self, msg: impl fmt::Display) -> crate::error::Error {
        sasl_err(format_args!("{}: {msg}", self.algorithm.name()))
    }

    /// Parses `[m=ext,]r=nonce,s=salt,i=iterations[,ext...]`.
    fn parse_server_first<'a>(&self, msg: &'a [u8]) -> Result<ServerFirst<'a>> {
        let msg =
            std::str::from_utf8(msg).map_err(|_| self.err("server-first message is not UTF-8"))?;
        let mut attrs = msg.split(',');
        let first = attrs.next().unwrap_or("");
        if let Some(e) = first.strip_prefix("e=") {
            return Err(self.err(format_args!("server error: {}", server_text(e.as_bytes()))));
        }
        if first.starts_with("m=") {
            return Err(self.err("server-first message has an unsupported mandatory extension"));
        }
        let nonce = first.strip_prefix("r=").ok_or_else(|| {
            self.err(format_args!(
                "malformed server-first message {:?}",
                server_text(msg.as_bytes())
            ))
        })?;
        let salt = attrs
            .next()
            .and_then(|a| a.strip_prefix("s="))
            .ok_or_else(|| self.err("server-first message has no salt"))?;
        let iterations = attrs
            .next()
            .and_then(|a| a.strip_prefix("i="))
            .ok_or_else(|| self.err("server-first message has no iteration count"))?;

        if !nonce.starts_with(&self.nonce) || !is_printable(nonce) {
            return Err(self.err("server nonce does not start with the client nonce"));
        }
        let salt = base64::decode(salt)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| self.err("server salt is not valid base64"))?;
        let iterations = Some(iterations)
            .filter(|i| !i.is_empty() && i.len() <= 10 && i.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|i| i.parse::<u32>().ok())
            .ok_or_else(|| self.err("server iteration count is not a number"))?;
        if iterations < MIN_ITERATIONS {
            return Err(self.err(format_args!(
                "server iteration count {iterations} is below the minimum {MIN_ITERATIONS}"
            )));
        }
        if iterations > MAX_ITERATIONS {
            return Err(self.err(format_args!(
                "server iteration count {iterations} is above the maximum {MAX_ITERATIONS}"
            )));
        }
        Ok(ServerFirst {
            message: msg,
            nonce,
            salt,
            iterations,
        })
    }

    /// Handles server-first: returns client-final and the server signature
    /// to expect.
    fn client_final(&self, server_first: &[u8]) -> Result<(Vec<u8>, Vec<u8>)> {
        let ServerFirst {
            message,
            nonce,
            salt,
            iterations,
        } = self.parse_server_first(server_first)?;
        let alg = self.algorithm;
        let without_proof = format!(
            "c={},r={}",
            base64::encode(self.gs2_header.as_bytes()),
            nonce
        );
        let auth_message = format!("{},{},{}", self.client_first_bare, message, without_proof);

        let salted = alg.salted_password(self.pass.as_bytes(), &salt, iterations)?;
        let keys = alg.keys(&salted)?;
        let client_signature = alg.hmac(&keys.stored_key, auth_message.as_bytes())?;
        let proof = xor(&keys.client_key, &client_signature)
            .ok_or_else(|| self.err("key length mismatch"))?;
        let server_signature = alg.hmac(&keys.server_key, auth_message.as_bytes())?;

        let client_final = format!("{without_proof},p={}", base64::encode(&proof));
        Ok((client_final.into_bytes(), server_signature))
    }

    /// Verifies server-final: `v=signature[,ext...]` or `e=error`.
    fn verify_server_final(&self, msg: &[u8], expected: &[u8]) -> Result<()> {
        let msg =
            std::str::from_utf8(msg).map_err(|_| self.err("server-final message is not UTF-8"))?;
        let first = msg.split(',').next().unwrap_or("");
        if let Some(e) = first.strip_prefix("e=") {
            return Err(self.err(format_args!("server error: {}", server_text(e.as_bytes()))));
        }
        let signature = first.strip_prefix("v=").ok_or_else(|| {
            self.err(format_args!(
                "malformed server-final message {:?}",
                server_text(msg.as_bytes())
            ))
        })?;
        let signature = base64::decode(signature)
            .ok_or_else(|| self.err("server signature is not valid base64"))?;
        if !ct_eq(&signature, expected) {
            return Err(
                self.err("server signature does not match: the broker does not know the password")
            );
        }
        Ok(())
    }
}

impl Session for ScramSession {
    fn challenge(&mut self, challenge: &[u8]) -> Result<(bool, Vec<u8>)> {
        // Whatever happens, a failed step ends the exchange.
        match std::mem::replace(&mut self.state, State::Done) {
            State::ServerFirst => {
                let (client_final, server_signature) = self.client_final(challenge)?;
                self.state = State::ServerFinal { server_signature };
                Ok((false, client_final))
            }
            State::ServerFinal { server_signature } => {
                self.verify_server_final(challenge, &server_signature)?;
                Ok((true, Vec::new()))
            }
            State::Done => Err(self.err("unexpected message after the exchange finished")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RFC_NONCE: &str = "rOprNGfwEbeRWgbNEkqO";
    const RFC_SERVER_FIRST: &str =
        "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
    const RFC_CLIENT_FINAL: &str =
        "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
    const RFC_SERVER_FINAL: &str = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";

    fn rfc_session() -> (ScramSession, Vec<u8>) {
        Scram::sha256("user", "pencil")
            .start(RFC_NONCE.to_owned())
            .unwrap()
    }

    #[test]
    fn rfc7677_test_vector() {
        let (mut session, first) = rfc_session();
        assert_eq!(first, b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
        let (done, client_final) = session.challenge(RFC_SERVER_FIRST.as_bytes()).unwrap();
        assert!(!done);
        assert_eq!(
            std::str::from_utf8(&client_final).unwrap(),
            RFC_CLIENT_FINAL
        );
        let (done, last) = session.challenge(RFC_SERVER_FINAL.as_bytes()).unwrap();
        assert!(done);
        assert!(last.is_empty());
        // Nothing more is accepted.
        assert!(session.challenge(b"").is_err());
    }

    #[test]
    fn pbkdf2_sha256_rfc7914_vector() {
        // RFC 7914 §11: PBKDF2-HMAC-SHA256, P="passwd", S="salt", c=1, first 32 bytes.
        let out = ScramAlgorithm::Sha256
            .salted_password(b"passwd", b"salt", 1)
            .unwrap();
        let expected = [
            0x55, 0xac, 0x04, 0x6e, 0x56, 0xe3, 0x08, 0x9f, 0xec, 0x16, 0x91, 0xc2, 0x25, 0x44,
            0xb6, 0x05, 0xf9, 0x41, 0x85, 0x21, 0x6d, 0xde, 0x04, 0x65, 0xe6, 0x8b, 0x9d, 0x57,
            0xc2, 0x0d, 0xac, 0xbc,
        ];
        assert_eq!(out, expected);
        assert!(ScramAlgorithm::Sha256
            .salted_password(b"p", b"s", 0)
            .is_err());
        assert_eq!(
            ScramAlgorithm::Sha512
                .salted_password(b"p", b"s", 2)
                .unwrap()
                .len(),
            64
        );
    }

    #[test]
    fn tampered_server_signature_fails() {
        let (mut session, _) = rfc_session();
        session.challenge(RFC_SERVER_FIRST.as_bytes()).unwrap();
        let err = session
            .challenge(b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G5=")
            .unwrap_err();
        assert!(matches!(err, crate::error::Error::Sasl(_)));
        assert!(err.to_string().contains("signature"), "{err}");

        let (mut session, _) = rfc_session();
        session.challenge(RFC_SERVER_FIRST.as_bytes()).unwrap();
        let other = base64::encode(&[0u8; 32]);
        assert!(session.challenge(format!("v={other}").as_bytes()).is_err());
    }

    #[test]
    fn server_error_text_is_reported() {
        let (mut session, _) = rfc_session();
        session.challenge(RFC_SERVER_FIRST.as_bytes()).unwrap();
        let err = session.challenge(b"e=invalid-proof").unwrap_err();
        assert!(err.to_string().contains("invalid-proof"), "{err}");

        let (mut session, _) = rfc_session();
        let err = session.challenge(b"e=unknown-user").unwrap_err();
        assert!(err.to_string().contains("unknown-user"), "{err}");
    }

    #[test]
    fn malformed_server_first_is_an_error() {
        let n = RFC_NONCE;
        let bad: Vec<Vec<u8>> = vec![
            b"".to_vec(),
            b",,,".to_vec(),
            b"garbage".to_vec(),
            b"\xff\xfe".to_vec(),
            format!("r={n}x").into_bytes(),
            format!("r={n}x,s=W22ZaJ0SNY7soEsUEjb6gQ==").into_bytes(),
            format!("r=other{n},s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096").into_bytes(),
            b"r=rOprNG,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096".to_vec(),
            format!("r={n}\x01,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096").into_bytes(),
            format!("r={n}x,s=!!!!,i=4096").into_bytes(),
            format!("r={n}x,s=,i=4096").into_bytes(),
            format!("r={n}x,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=").into_bytes(),
            format!("r={n}x,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=abc").into_bytes(),
            format!("r={n}x,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=-4096").into_bytes(),
            format!("r={n}x,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=+4096").into_bytes(),
            format!("r={n}x,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4095").into_bytes(),
            format!("r={n}x,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=0").into_bytes(),
            format!("r={n}x,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=1000001").into_bytes(),
            format!("r={n}x,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=99999999999999999999").into_bytes(),
            format!("s=W22ZaJ0SNY7soEsUEjb6gQ==,r={n}x,i=4096").into_bytes(),
            format!("m=ext,r={n}x,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096").into_bytes(),
        ];
        for msg in bad {
            let (mut session, _) = rfc_session();
            let result = session.challenge(&msg);
            assert!(
                matches!(result, Err(crate::error::Error::Sasl(_))),
                "accepted {:?}",
                String::from_utf8_lossy(&msg)
            );
            // A failed exchange stays failed.
            assert!(session.challenge(RFC_SERVER_FIRST.as_bytes()).is_err());
        }
    }

    #[test]
    fn malformed_server_final_is_an_error() {
        let bad: &[&[u8]] = &[
            b"",
            b"v=",
            b"v=!!!!",
            b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4",
            b"x=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=",
            b"6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=",
            b"\xff",
            b"e=",
        ];
        for msg in bad {
            let (mut session, _) = rfc_session();
            session.challenge(RFC_SERVER_FIRST.as_bytes()).unwrap();
            assert!(
                session.challenge(msg).is_err(),
                "accepted {:?}",
                String::from_utf8_lossy(msg)
            );
        }
        // Extensions after the signature are allowed.
        let (mut session, _) = rfc_session();
        session.challenge(RFC_SERVER_FIRST.as_bytes()).unwrap();
        let with_ext = format!("{RFC_SERVER_FINAL},x=ext");
        assert_eq!(
            session.challenge(with_ext.as_bytes()).unwrap(),
            (true, Vec::new())
        );
    }

    #[test]
    fn arbitrary_server_bytes_never_panic() {
        let pieces: &[&[u8]] = &[
            b"r=",
            b"s=",
            b"i=",
            b"v=",
            b"e=",
            b"m=",
            b",",
            b"=",
            RFC_NONCE.as_bytes(),
            b"4096",
            b"W22ZaJ0SNY7soEsUEjb6gQ==",
            b"\xff",
            b"\x00",
            b"x",
        ];
        let mut state: u64 = 0x2545_f491_4f6c_dd1d;
        for _ in 0..3000 {
            let mut msg = Vec::new();
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            for i in 0..(state % 9) {
                msg.extend_from_slice(pieces[((state >> (i * 5)) % pieces.len() as u64) as usize]);
            }
            let (mut session, _) = rfc_session();
            let _ = session.challenge(&msg);
            let _ = session.challenge(&msg);
        }
    }

    #[test]
    fn client_first_with_authzid_token_and_escaping() {
        let scram = Scram::sha512("a=b,c", "p").with_zid("z,=").is_token(true);
        let (session, first) = scram.start("NONCE".to_owned()).unwrap();
        assert_eq!(first, b"n,a=z=2C=3D,n=a=3Db=2Cc,r=NONCE,tokenauth=true");
        assert_eq!(session.gs2_header, "n,a=z=2C=3D,");
        assert_eq!(scram.name(), "SCRAM-SHA-512");
        assert_eq!(scram.algorithm(), ScramAlgorithm::Sha512);
    }

    #[test]
    fn client_final_channel_binding_with_authzid() {
        let (mut session, _) = Scram::sha256("user", "pencil")
            .with_zid("user")
            .start(RFC_NONCE.to_owned())
            .unwrap();
        let (_, client_final) = session.challenge(RFC_SERVER_FIRST.as_bytes()).unwrap();
        let expected_c = format!("c={},", base64::encode(b"n,a=user,"));
        assert!(client_final.starts_with(expected_c.as_bytes()));
    }

    #[test]
    fn generated_nonces_are_printable_and_distinct() {
        let a = new_nonce();
        let b = new_nonce();
        assert_ne!(a, b);
        assert!(a.len() >= 32 && is_printable(&a), "{a}");
        let mut x = [0u8; 29];
        let mut y = [0u8; 29];
        fill_random_fallback(&mut x);
        fill_random_fallback(&mut y);
        assert_ne!(x, y);
        assert_ne!(x, [0u8; 29]);
    }

    #[test]
    fn saslname_round_trip() {
        for name in ["", "user", "a=b", ",", "=,=,", "=3D", "été"] {
            assert_eq!(
                unescape_saslname(&escape_saslname(name)).as_deref(),
                Some(name)
            );
        }
        for bad in ["=", "a=", "=3", "=2c", "=41", "x=3Dy=", "=é"] {
            assert_eq!(unescape_saslname(bad), None, "{bad}");
        }
    }

    #[test]
    fn debug_redacts_password() {
        let text = format!("{:?}", Scram::sha256("alice", "hunter2").with_zid("z"));
        assert!(text.contains("alice") && text.contains("<redacted>"));
        assert!(!text.contains("hunter2"));
    }

    #[test]
    fn invalid_client_settings_are_errors() {
        assert!(Scram::sha256("", "p").authenticate("h").is_err());
        assert!(Scram::sha256("a\0", "p").authenticate("h").is_err());
        assert!(Scram::sha256("a", "p")
            .with_zid("\0")
            .authenticate("h")
            .is_err());
    }

    #[cfg(feature = "fake")]
    mod against_server {
        use super::*;
        use crate::fake::sasl_server::{new_server_session, ServerStep, ServerUsers};

        /// Runs a full exchange; `Ok` when both sides agree it succeeded.
        fn exchange(client: &Scram, users: &ServerUsers) -> std::result::Result<(), String> {
            let (mut session, first) = client.authenticate("h").map_err(|e| e.to_string())?;
            let mut server =
                new_server_session(client.name(), users).ok_or("no server mechanism")?;
            let server_first = match server.step(&first) {
                ServerStep::Continue(m) => m,
                other => return Err(format!("server-first: {other:?}")),
            };
            let (done, client_final) = session
                .challenge(&server_first)
                .map_err(|e| e.to_string())?;
            assert!(!done);
            let server_final = match server.step(&client_final) {
                ServerStep::Done(m) => m,
                other => return Err(format!("server-final: {other:?}")),
            };
            let (done, rest) = session
                .challenge(&server_final)
                .map_err(|e| e.to_string())?;
            assert!(done && rest.is_empty());
            Ok(())
        }

        fn users() -> ServerUsers {
            ServerUsers::new()
                .with_user("alice", "s3cret")
                .with_user("we,ird=name", "pw")
        }

        #[test]
        fn sha512_success_and_wrong_password() {
            exchange(&Scram::sha512("alice", "s3cret"), &users()).unwrap();
            let err = exchange(&Scram::sha512("alice", "wrong"), &users()).unwrap_err();
            assert!(err.starts_with("server-final: Failed"), "{err}");
        }

        #[test]
        fn sha256_success_and_failures() {
            exchange(&Scram::sha256("alice", "s3cret"), &users()).unwrap();
            exchange(&Scram::sha256("we,ird=name", "pw"), &users()).unwrap();
            exchange(
                &Scram::sha256("alice", "s3cret").with_zid("alice"),
                &users(),
            )
            .unwrap();
            exchange(&Scram::sha256("alice", "s3cret").is_token(true), &users()).unwrap();
            assert!(exchange(&Scram::sha256("alice", "wrong"), &users()).is_err());
            assert!(exchange(&Scram::sha256("nobody", "s3cret"), &users()).is_err());
            assert!(exchange(
                &Scram::sha256("alice", "s3cret").with_zid("admin"),
                &users()
            )
            .is_err());
        }

        #[test]
        fn client_rejects_server_with_other_password() {
            // A server that knows a different password for alice fails the
            // client's proof; the client never reaches server-final.
            let other = ServerUsers::new().with_user("alice", "different");
            assert!(exchange(&Scram::sha256("alice", "s3cret"), &other).is_err());
        }
    }
}
