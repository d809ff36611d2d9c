//! The fake cluster's server side under faults: leaders, intercepts,
//! dropped connections, stopped brokers, counters, malformed input, SASL,
//! TLS and shutdown. Driven by the raw client in `support/fake_raw.rs`, not the crate's client.
#![cfg(feature = "fake")]

mod support;

use support::fake_raw::*;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use kafka_sync::fake::{Action, Cluster};
use kafka_sync::messages::Decodable;
use kafka_sync::messages::*;

#[test]
fn metadata_spreads_leaders_over_three_brokers() {
    let cluster = Cluster::builder()
        .brokers(3)
        .topic("spread", 6)
        .build()
        .unwrap();
    let mut c = Conn::connect(&cluster.seeds()[0]).unwrap();
    let m = metadata(&mut c, &["spread"]);
    assert_eq!(m.brokers.len(), 3);
    assert_eq!(
        m.cluster_id.as_ref().map(|s| s.as_str()),
        Some("kafka-sync-fake-cluster")
    );
    assert_eq!(m.controller_id.0, 0);
    let t = &m.topics[0];
    assert_eq!(t.error_code, 0);
    assert!(!t.topic_id.is_nil());
    let mut leaders: Vec<i32> = t.partitions.iter().map(|p| p.leader_id.0).collect();
    leaders.sort();
    leaders.dedup();
    assert_eq!(leaders, vec![0, 1, 2]);
    for p in &t.partitions {
        assert_eq!(p.replica_nodes.len(), 3);
        assert_eq!(p.isr_nodes.len(), 3);
        assert_eq!(p.leader_epoch, 0);
    }
    // Ports in Metadata are the seeds.
    for b in &m.brokers {
        assert_eq!(
            format!("127.0.0.1:{}", b.port),
            cluster.seeds()[b.node_id.0 as usize]
        );
    }
}

#[test]
fn move_leader_bumps_epoch_and_old_leader_refuses() {
    let cluster = Cluster::builder()
        .brokers(3)
        .topic("mv", 1)
        .build()
        .unwrap();
    let (old, _) = cluster.leader("mv", 0).unwrap();
    let new = (old + 1) % 3;
    assert_eq!(cluster.move_leader("mv", 0, new).unwrap(), 1);
    let mut c = Conn::connect(&cluster.seeds()[0]).unwrap();
    let p = &metadata(&mut c, &["mv"]).topics[0].partitions[0];
    assert_eq!((p.leader_id.0, p.leader_epoch), (new, 1));
    let mut old_conn = Conn::connect(&cluster.seeds()[old as usize]).unwrap();
    let resp = old_conn
        .call(11, &produce_req("mv", 0, batch(1, None), -1))
        .unwrap();
    let pr = &resp.responses[0].partition_responses[0];
    assert_eq!(pr.error_code, 6, "NOT_LEADER_OR_FOLLOWER");
    assert_eq!(
        (
            pr.current_leader.leader_id.0,
            pr.current_leader.leader_epoch
        ),
        (new, 1),
        "KIP-951"
    );
    assert_eq!(resp.node_endpoints.len(), 1);
    // A fetch with the old epoch is fenced.
    let mut f = fetch_req("mv", 0, 0);
    f.topics[0].partitions[0].current_leader_epoch = 0;
    let mut leader = leader_of(&cluster, "mv", 0);
    let r = leader.call(12, &f).unwrap();
    assert_eq!(
        r.responses[0].partitions[0].error_code, 74,
        "FENCED_LEADER_EPOCH"
    );
    f.topics[0].partitions[0].current_leader_epoch = 5;
    let r = leader.call(12, &f).unwrap();
    assert_eq!(
        r.responses[0].partitions[0].error_code, 75,
        "UNKNOWN_LEADER_EPOCH"
    );
}

#[test]
fn intercept_not_leader_three_times_then_passes() {
    let cluster = Cluster::builder()
        .brokers(3)
        .topic("icpt", 1)
        .build()
        .unwrap();
    let seen = Arc::new(AtomicUsize::new(0));
    let seen2 = Arc::clone(&seen);
    cluster.intercept(ApiKey::Produce, None, Some(3), move |req| {
        assert_eq!(req.key, 0);
        assert_eq!(req.client_id.as_deref(), Some("raw-test"));
        assert!(req.decode::<ProduceRequest>().is_some());
        seen2.fetch_add(1, Ordering::SeqCst);
        Action::ErrorCode(6)
    });
    let mut c = leader_of(&cluster, "icpt", 0);
    for _ in 0..3 {
        assert_eq!(produce(&mut c, "icpt", 0, batch(1, None)).0, 6);
    }
    assert_eq!(produce(&mut c, "icpt", 0, batch(1, None)), (0, 0));
    assert_eq!(seen.load(Ordering::SeqCst), 3);
    assert_eq!(cluster.request_count(ApiKey::Produce), 4);
    assert_eq!(
        cluster.partition_log("icpt", 0).len(),
        1,
        "intercepted batches are not stored"
    );
}

#[test]
fn intercept_delay_throttle_respond_and_remove() {
    let cluster = Cluster::builder().brokers(1).build().unwrap();
    let mut c = Conn::connect(&cluster.seeds()[0]).unwrap();
    let id = cluster.intercept(ApiKey::ApiVersions, Some(0), None, |_| {
        Action::Delay(Duration::from_millis(300))
    });
    let t = Instant::now();
    assert_eq!(c.call(3, &api_versions_req()).unwrap().error_code, 0);
    assert!(t.elapsed() >= Duration::from_millis(300));
    assert!(cluster.remove_intercept(id));
    assert!(!cluster.remove_intercept(id));
    cluster.intercept(ApiKey::ApiVersions, None, Some(1), |_| {
        Action::Throttle(Duration::from_millis(1234))
    });
    assert_eq!(
        c.call(3, &api_versions_req()).unwrap().throttle_time_ms,
        1234
    );
    let canned = MetadataResponse::default().with_controller_id(BrokerId(42));
    let canned = kafka_sync::fake::Response::new(canned);
    let mut once = Some(canned);
    cluster.intercept(ApiKey::Metadata, None, Some(1), move |_| {
        match once.take() {
            Some(r) => Action::Respond(r),
            None => Action::PassThrough,
        }
    });
    assert_eq!(metadata(&mut c, &[]).controller_id.0, 42);
    assert_eq!(metadata(&mut c, &[]).controller_id.0, 0);
}

#[test]
fn dropped_connection_then_reconnect() {
    let cluster = Cluster::builder().brokers(1).build().unwrap();
    cluster.intercept(ApiKey::Metadata, None, Some(1), |_| Action::DropConnection);
    let mut c = Conn::connect(&cluster.seeds()[0]).unwrap();
    let corr = c.send(12, &MetadataRequest::default()).unwrap();
    assert!(
        c.recv::<MetadataRequest>(12, corr).is_err(),
        "connection dropped without answer"
    );
    let mut c = Conn::connect(&cluster.seeds()[0]).unwrap();
    assert_eq!(metadata(&mut c, &[]).brokers.len(), 1);
}

#[test]
fn stopped_broker_refuses_and_restarts_on_same_port() {
    let cluster = Cluster::builder()
        .brokers(3)
        .topic("stop", 3)
        .build()
        .unwrap();
    let addr = cluster.seeds()[1].clone();
    let mut old = Conn::connect(&addr).unwrap();
    cluster.stop_broker(1).unwrap();
    assert!(old.closed(), "open connections are closed");
    assert!(TcpStream::connect(&addr).is_err(), "connection refused");
    let mut c = Conn::connect(&cluster.seeds()[0]).unwrap();
    let m = metadata(&mut c, &["stop"]);
    assert_eq!(m.brokers.len(), 2);
    let p = m.topics[0]
        .partitions
        .iter()
        .find(|p| p.replica_nodes[0].0 == 1)
        .unwrap();
    assert_eq!(
        (p.error_code, p.leader_id.0),
        (5, -1),
        "LEADER_NOT_AVAILABLE while its leader is down"
    );
    cluster.start_broker(1).unwrap();
    assert_eq!(cluster.seeds()[1], addr);
    let mut back = Conn::connect(&addr).unwrap();
    assert_eq!(back.call(3, &api_versions_req()).unwrap().error_code, 0);
    assert_eq!(metadata(&mut c, &["stop"]).brokers.len(), 3);
}

#[test]
fn request_counters_count_per_broker() {
    let cluster = Cluster::builder().brokers(2).build().unwrap();
    let mut a = Conn::connect(&cluster.seeds()[0]).unwrap();
    let mut b = Conn::connect(&cluster.seeds()[1]).unwrap();
    for _ in 0..3 {
        a.call(3, &api_versions_req()).unwrap();
    }
    b.call(0, &ApiVersionsRequest::default()).unwrap();
    metadata(&mut b, &[]);
    assert_eq!(cluster.request_count(ApiKey::ApiVersions), 4);
    assert_eq!(cluster.request_count_on(0, ApiKey::ApiVersions), 3);
    assert_eq!(cluster.request_count_on(1, 3i16), 1);
    assert_eq!(cluster.request_count(ApiKey::Fetch), 0);
}

#[test]
fn malformed_requests_close_or_error_and_broker_keeps_serving() {
    let cluster = Cluster::builder()
        .brokers(1)
        .topic("bad", 1)
        .build()
        .unwrap();
    let addr = &cluster.seeds()[0];
    // Truncated frame: the size says 100, 10 bytes come, then EOF.
    let mut c = Conn::connect(addr).unwrap();
    c.s.write_all(&[0, 0, 0, 100, 0, 18, 0, 3, 0, 0, 0, 1, 0, 0])
        .unwrap();
    c.s.shutdown(Shutdown::Write).unwrap();
    assert!(c.closed());
    // A frame whose body does not decode.
    let mut c = Conn::connect(addr).unwrap();
    c.raw(&[0, 3, 0, 12, 0, 0, 0, 1, 0xff]).unwrap();
    assert!(c.closed());
    // Bad CRC: CORRUPT_MESSAGE, connection stays usable.
    let mut c = Conn::connect(addr).unwrap();
    let mut b = batch(2, None).to_vec();
    let last = b.len() - 1;
    b[last] ^= 0x55;
    assert_eq!(produce(&mut c, "bad", 0, Bytes::from(b)).0, 2);
    // Too large for max.message.bytes.
    let huge = batch(1, None);
    let mut big = huge.to_vec();
    big.resize(2 << 20, 0);
    assert_eq!(
        produce(&mut c, "bad", 0, Bytes::from(big)).0,
        2,
        "length field disagrees: corrupt"
    );
    assert_eq!(c.call(3, &api_versions_req()).unwrap().error_code, 0);
    // Unknown API key.
    let mut c = Conn::connect(addr).unwrap();
    c.raw(&[0x03, 0xe7, 0, 0, 0, 0, 0, 1, 0xff, 0xff]).unwrap();
    assert!(c.closed());
    // Impossible size prefixes.
    for prefix in [[0x7f, 0xff, 0xff, 0xff], [0xff, 0xff, 0xff, 0xfe]] {
        let mut c = Conn::connect(addr).unwrap();
        c.s.write_all(&prefix).unwrap();
        assert!(c.closed());
    }
    // A known API at a version the fake does not serve.
    let mut c = Conn::connect(addr).unwrap();
    c.raw(&[0, 3, 0x7f, 0, 0, 0, 0, 1, 0xff, 0xff]).unwrap();
    assert!(c.closed());
    // The broker still serves new connections.
    let mut c = Conn::connect(addr).unwrap();
    assert_eq!(metadata(&mut c, &["bad"]).topics[0].error_code, 0);
    assert_eq!(cluster.partition_log("bad", 0).len(), 0);
}

#[test]
fn api_versions_unknown_version_gets_v0_unsupported() {
    let cluster = Cluster::builder().brokers(1).build().unwrap();
    let mut c = Conn::connect(&cluster.seeds()[0]).unwrap();
    // ApiVersions v99: header v2 (flexible), empty body.
    c.raw(&[0, 18, 0, 99, 0, 0, 0, 5, 0, 0, 0]).unwrap();
    let resp = c.recv::<ApiVersionsRequest>(0, 5).unwrap();
    assert_eq!(resp.error_code, 35, "UNSUPPORTED_VERSION");
    assert!(resp
        .api_keys
        .iter()
        .any(|k| k.api_key == 18 && k.max_version >= 3));
    let ok = c.call(3, &api_versions_req()).unwrap();
    assert!(ok
        .api_keys
        .iter()
        .any(|k| k.api_key == 1 && k.max_version >= 12));
}

#[test]
fn sasl_plain_gates_requests() {
    let cluster = Cluster::builder()
        .brokers(1)
        .sasl_plain([("alice", "secret")])
        .build()
        .unwrap();
    let addr = &cluster.seeds()[0];
    // Before authentication only ApiVersions and SaslHandshake are allowed.
    let mut c = Conn::connect(addr).unwrap();
    assert_eq!(c.call(3, &api_versions_req()).unwrap().error_code, 0);
    c.send(12, &MetadataRequest::default()).unwrap();
    assert!(c.closed());
    let login = |password: &str| {
        let mut c = Conn::connect(addr).unwrap();
        let hs = c
            .call(
                1,
                &SaslHandshakeRequest::default().with_mechanism(s("PLAIN")),
            )
            .unwrap();
        assert_eq!(hs.error_code, 0);
        assert!(hs.mechanisms.iter().any(|m| m.as_str() == "PLAIN"));
        let token = Bytes::from(format!("\0alice\0{password}"));
        let r = c
            .call(
                2,
                &SaslAuthenticateRequest::default().with_auth_bytes(token),
            )
            .unwrap();
        (c, r.error_code)
    };
    let (mut ok, code) = login("secret");
    assert_eq!(code, 0);
    assert_eq!(metadata(&mut ok, &[]).brokers.len(), 1);
    let (mut bad, code) = login("wrong");
    assert_eq!(code, 58, "SASL_AUTHENTICATION_FAILED");
    assert!(bad.closed());
    let mut c = Conn::connect(addr).unwrap();
    let hs = c
        .call(
            1,
            &SaslHandshakeRequest::default().with_mechanism(s("GSSAPI")),
        )
        .unwrap();
    assert_eq!(hs.error_code, 33, "UNSUPPORTED_SASL_MECHANISM");
}

#[test]
fn close_joins_threads_with_open_connections_and_waiting_fetch() {
    let cluster = Cluster::builder()
        .brokers(2)
        .topic("cl", 1)
        .build()
        .unwrap();
    let addr = cluster.seeds()[0].clone();
    let _idle = Conn::connect(&cluster.seeds()[1]).unwrap();
    let waiter = std::thread::spawn(move || {
        let mut c = Conn::connect(&addr).unwrap();
        let mut f = fetch_req("cl", 0, 0);
        f.max_wait_ms = 30_000;
        let _ = c.call(12, &f);
    });
    // The fetch is waiting in the broker when the cluster closes.
    assert!(wait_for(Duration::from_secs(5), || cluster
        .request_count(ApiKey::Fetch)
        >= 1));
    let t = Instant::now();
    cluster.close();
    assert!(
        t.elapsed() < Duration::from_secs(2),
        "close took {:?}",
        t.elapsed()
    );
    waiter.join().unwrap();
    drop(cluster);
}

#[test]
fn sasl_handshake_v0_uses_bare_tokens() {
    let cluster = Cluster::builder()
        .brokers(1)
        .sasl_plain([("bob", "pw")])
        .build()
        .unwrap();
    let mut c = Conn::connect(&cluster.seeds()[0]).unwrap();
    let hs = c
        .call(
            0,
            &SaslHandshakeRequest::default().with_mechanism(s("PLAIN")),
        )
        .unwrap();
    assert_eq!(hs.error_code, 0);
    // KIP-43 v0 flow: a size-prefixed token, answered by a size-prefixed token.
    c.raw(b"\0bob\0pw").unwrap();
    let mut len = [0u8; 4];
    c.s.read_exact(&mut len).unwrap();
    assert_eq!(i32::from_be_bytes(len), 0);
    assert_eq!(metadata(&mut c, &[]).brokers.len(), 1);
}

#[test]
fn tls_listener_serves_requests() {
    let cert = include_bytes!("certs/server.pem");
    let key = include_bytes!("certs/server.key");
    let ca = native_tls::Certificate::from_pem(include_bytes!("certs/ca.pem")).unwrap();
    let cluster = Cluster::builder()
        .brokers(1)
        .tls(&cert[..], &key[..])
        .build()
        .unwrap();
    let connector = native_tls::TlsConnector::builder()
        .add_root_certificate(ca)
        .build()
        .unwrap();
    let tcp = TcpStream::connect(&cluster.seeds()[0]).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut tls = connector.connect("localhost", tcp).unwrap();
    // ApiVersions v3 by hand: header v2, client software "a" version "1"
    // (compact strings: length + 1, then the bytes).
    let body = [0, 18, 0, 3, 0, 0, 0, 9, 0, 0, 0, 2, b'a', 2, b'1', 0];
    tls.write_all(&(body.len() as i32).to_be_bytes()).unwrap();
    tls.write_all(&body).unwrap();
    let mut len = [0u8; 4];
    tls.read_exact(&mut len).unwrap();
    let mut buf = vec![0u8; i32::from_be_bytes(len) as usize];
    tls.read_exact(&mut buf).unwrap();
    let mut b = Bytes::from(buf);
    assert_eq!(ResponseHeader::decode(&mut b, 0).unwrap().correlation_id, 9);
    let resp = ApiVersionsResponse::decode(&mut b, 3).unwrap();
    assert_eq!(resp.error_code, 0);
    assert!(!resp.api_keys.is_empty());
    // A plaintext client gets at most a TLS alert, then EOF.
    let mut plain = Conn::connect(&cluster.seeds()[0]).unwrap();
    let _ = plain.send(3, &api_versions_req());
    let mut got = Vec::new();
    assert!(
        plain.s.read_to_end(&mut got).is_ok(),
        "closed by the broker"
    );
    assert!(got.len() < 16, "no Kafka response, only an alert: {got:?}");
}

#[test]
fn sasl_scram_sha512_with_the_crate_mechanism() {
    use kafka_sync::sasl::{Mechanism, Scram};
    let cluster = Cluster::builder()
        .brokers(1)
        .sasl_scram([("carol", "pw")])
        .build()
        .unwrap();
    let mut c = Conn::connect(&cluster.seeds()[0]).unwrap();
    let hs = c
        .call(
            1,
            &SaslHandshakeRequest::default().with_mechanism(s("SCRAM-SHA-512")),
        )
        .unwrap();
    assert_eq!(hs.error_code, 0);
    let (mut session, first) = Scram::sha512("carol", "pw")
        .authenticate("localhost")
        .unwrap();
    let auth = |c: &mut Conn, b: Vec<u8>| {
        let r = c
            .call(
                2,
                &SaslAuthenticateRequest::default().with_auth_bytes(Bytes::from(b)),
            )
            .unwrap();
        assert_eq!(r.error_code, 0, "{:?}", r.error_message);
        r.auth_bytes
    };
    let server_first = auth(&mut c, first);
    let (done, client_final) = session.challenge(&server_first).unwrap();
    assert!(!done);
    let server_final = auth(&mut c, client_final);
    assert!(
        session.challenge(&server_final).unwrap().0,
        "server signature verified"
    );
    assert_eq!(metadata(&mut c, &[]).brokers.len(), 1);
}
