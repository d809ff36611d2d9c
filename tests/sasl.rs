//! SASL against a scripted server that verifies the exchange with the
//! crate's server-side verifiers (PLAIN, SCRAM-SHA-256/512).
#![cfg(feature = "fake")]

mod support;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kafka_sync::fake::sasl_server::{new_server_session, ServerSession, ServerStep, ServerUsers};
use kafka_sync::messages::*;
use kafka_sync::sasl::{OAuthBearer, OAuthToken, Plain, Scram};
use kafka_sync::{Client, Error};
use support::script::{api_versions, reply, Action, ScriptServer};

struct SaslServer {
    server: ScriptServer,
    handshakes: Arc<AtomicUsize>,
}

fn sasl_server(enabled: &'static [&'static str], lifetime_ms: i64) -> SaslServer {
    let users = ServerUsers::new().with_user("alice", "s3cret");
    let sessions: Arc<Mutex<HashMap<usize, Box<dyn ServerSession>>>> = Arc::default();
    let authed: Arc<Mutex<HashMap<usize, bool>>> = Arc::default();
    let handshakes = Arc::new(AtomicUsize::new(0));
    let hs = handshakes.clone();
    let server = ScriptServer::start(move |r| match r.key {
        18 => vec![Action::Raw(api_versions(r))],
        17 => {
            hs.fetch_add(1, Ordering::AcqRel);
            let req = SaslHandshakeRequest::decode(
                &mut bytes::Bytes::copy_from_slice(&r.body),
                r.version,
            )
            .unwrap();
            let offered: Vec<StrBytes> = enabled
                .iter()
                .map(|m| StrBytes::from_static_str(m))
                .collect();
            let mech = req.mechanism.to_string();
            if !enabled.contains(&mech.as_str()) {
                return vec![Action::Raw(reply(
                    r,
                    &SaslHandshakeResponse::default()
                        .with_error_code(33)
                        .with_mechanisms(offered),
                ))];
            }
            sessions
                .lock()
                .unwrap()
                .insert(r.conn, new_server_session(&mech, &users).unwrap());
            authed.lock().unwrap().insert(r.conn, false);
            vec![Action::Raw(reply(
                r,
                &SaslHandshakeResponse::default().with_mechanisms(offered),
            ))]
        }
        36 => {
            let req = SaslAuthenticateRequest::decode(
                &mut bytes::Bytes::copy_from_slice(&r.body),
                r.version,
            )
            .unwrap();
            let mut sessions = sessions.lock().unwrap();
            let Some(sess) = sessions.get_mut(&r.conn) else {
                return vec![Action::Drop];
            };
            match sess.step(&req.auth_bytes) {
                ServerStep::Continue(b) => vec![Action::Raw(reply(
                    r,
                    &SaslAuthenticateResponse::default().with_auth_bytes(b.into()),
                ))],
                ServerStep::Done(b) => {
                    authed.lock().unwrap().insert(r.conn, true);
                    let resp = SaslAuthenticateResponse::default()
                        .with_auth_bytes(b.into())
                        .with_session_lifetime_ms(lifetime_ms);
                    vec![Action::Raw(reply(r, &resp))]
                }
                ServerStep::Failed(msg) => {
                    let resp = SaslAuthenticateResponse::default()
                        .with_error_code(58)
                        .with_error_message(Some(msg.into()));
                    vec![
                        Action::Raw(reply(r, &resp)),
                        Action::Sleep(Duration::from_millis(20)),
                        Action::Drop,
                    ]
                }
            }
        }
        3 if authed
            .lock()
            .unwrap()
            .get(&r.conn)
            .copied()
            .unwrap_or(false) =>
        {
            vec![Action::Raw(reply(
                r,
                &MetadataResponse::default().with_cluster_id(Some("sasl".into())),
            ))]
        }
        _ => vec![Action::Drop], // unauthenticated: Kafka closes the connection
    });
    SaslServer { server, handshakes }
}

fn meta() -> MetadataRequest {
    MetadataRequest::default()
        .with_topics(Some(vec![]))
        .with_allow_auto_topic_creation(false)
}

fn builder(s: &SaslServer) -> kafka_sync::ConfigBuilder<Client> {
    support::init_logging();
    Client::builder()
        .seed_brokers([s.server.addr()])
        .request_retries(1)
}

#[test]
fn plain_authenticates_and_rejects_a_wrong_password() {
    let s = sasl_server(&["PLAIN"], 0);
    let c = builder(&s)
        .sasl(Plain::new("alice", "s3cret"))
        .build()
        .unwrap();
    assert_eq!(
        c.request(meta()).unwrap().cluster_id.as_deref(),
        Some("sasl")
    );
    c.close();
    let c = builder(&s)
        .sasl(Plain::new("alice", "wrong"))
        .build()
        .unwrap();
    let e = c.request(meta()).unwrap_err();
    assert!(matches!(e, Error::Sasl(_)), "{e:?}");
    assert!(e.is_fatal(), "a wrong password is not retried: {e:?}");
    c.close();
}

#[test]
fn scram_sha256_and_sha512_authenticate_and_reject_a_wrong_password() {
    for (mech, good, bad) in [
        (
            "SCRAM-SHA-256",
            Scram::sha256("alice", "s3cret"),
            Scram::sha256("alice", "nope"),
        ),
        (
            "SCRAM-SHA-512",
            Scram::sha512("alice", "s3cret"),
            Scram::sha512("alice", "nope"),
        ),
    ] {
        let enabled: &'static [&'static str] = if mech.ends_with("256") {
            &["SCRAM-SHA-256"]
        } else {
            &["SCRAM-SHA-512"]
        };
        let s = sasl_server(enabled, 0);
        let c = builder(&s).sasl(good).build().unwrap();
        assert_eq!(
            c.request(meta()).unwrap().cluster_id.as_deref(),
            Some("sasl"),
            "{mech}"
        );
        c.close();
        let c = builder(&s).sasl(bad).build().unwrap();
        let e = c.request(meta()).unwrap_err();
        assert!(matches!(e, Error::Sasl(_)), "{mech}: {e:?}");
        c.close();
    }
}

#[test]
fn falls_back_to_the_first_mechanism_the_broker_supports() {
    let s = sasl_server(&["SCRAM-SHA-256", "PLAIN"], 0);
    let c = builder(&s)
        .sasl(Scram::sha512("alice", "s3cret"))
        .sasl(Plain::new("alice", "s3cret"))
        .sasl(Scram::sha256("alice", "s3cret"))
        .build()
        .unwrap();
    assert!(c.request(meta()).is_ok());
    // Two handshakes: the first (SCRAM-SHA-512) was refused, the fallback
    // picked the first configured mechanism the broker offers (PLAIN).
    assert_eq!(s.handshakes.load(Ordering::Acquire), 2);
    c.close();
    let s = sasl_server(&["PLAIN"], 0);
    let token = OAuthBearer::new(|| Ok(OAuthToken::new("tok")));
    let c = builder(&s).sasl(token).build().unwrap();
    let e = c.request(meta()).unwrap_err();
    assert!(
        e.to_string().contains("none of the configured mechanisms"),
        "{e}"
    );
    c.close();
}

#[test]
fn reauthenticates_before_the_session_lifetime_ends() {
    let s = sasl_server(&["PLAIN"], 600);
    let c = builder(&s)
        .sasl(Plain::new("alice", "s3cret"))
        .build()
        .unwrap();
    c.request(meta()).unwrap();
    assert_eq!(s.handshakes.load(Ordering::Acquire), 1);
    // KIP-368: at 85-95% of the 600 ms lifetime the connection authenticates
    // again, on the same connection, before the next request is written.
    assert!(support::wait_until(Duration::from_secs(3), || s
        .handshakes
        .load(Ordering::Acquire)
        >= 2));
    c.request(meta()).unwrap();
    assert_eq!(s.server.conns.load(Ordering::Acquire), 1);
    c.close();
}

#[test]
fn sasl_authenticate_v0_and_v1_work_too() {
    // v0 has no session lifetime; v1 adds it (KIP-368); v2 is the default.
    for v in [0, 1] {
        let s = sasl_server(&["SCRAM-SHA-256"], 0);
        let c = builder(&s)
            .sasl(Scram::sha256("alice", "s3cret"))
            .max_versions(kafka_sync::Versions::new().with(36, v))
            .build()
            .unwrap();
        assert_eq!(
            c.request(meta()).unwrap().cluster_id.as_deref(),
            Some("sasl"),
            "v{v}"
        );
        c.close();
    }
}

#[test]
fn debug_output_redacts_secrets() {
    let cfg = kafka_sync::Config::builder()
        .sasl(Plain::new("alice", "s3cret"))
        .sasl(Scram::sha256("bob", "hunter2"))
        .build()
        .unwrap();
    let dbg = format!("{cfg:?}");
    assert!(!dbg.contains("s3cret") && !dbg.contains("hunter2"), "{dbg}");
    assert!(dbg.contains("alice"), "{dbg}");
}
