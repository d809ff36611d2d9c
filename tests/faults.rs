//! Fault tests against a scripted loopback server: dropped connections,
//! broken frames, deadlines, pipelining, throttling, idle reaping, TLS.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kafka_sync::messages::*;
use kafka_sync::{Client, Error, TimeoutKind, TlsConfig};
use support::script::{api_versions, frame, reply, Action, Req, ScriptServer};

fn metadata_resp(port: u16) -> MetadataResponse {
    let b = metadata_response::MetadataResponseBroker::default()
        .with_node_id(BrokerId(1))
        .with_host("127.0.0.1".into())
        .with_port(port as i32);
    MetadataResponse::default()
        .with_brokers(vec![b])
        .with_controller_id(BrokerId(1))
        .with_cluster_id(Some("script".into()))
}

fn client_for(s: &ScriptServer) -> kafka_sync::ConfigBuilder<Client> {
    support::init_logging();
    Client::builder()
        .seed_brokers([s.addr()])
        .retry_backoff_fn(|_| Duration::from_millis(20))
}

fn meta_req() -> MetadataRequest {
    MetadataRequest::default()
        .with_topics(Some(vec![]))
        .with_allow_auto_topic_creation(false)
}

#[test]
fn connection_dropped_mid_response_is_retried_on_a_new_connection() {
    let port = Arc::new(AtomicUsize::new(0));
    let p = port.clone();
    let s = ScriptServer::start(move |r| match r.key {
        18 => vec![Action::Raw(api_versions(r))],
        3 if r.conn == 0 => {
            let full = reply(r, &metadata_resp(p.load(Ordering::Relaxed) as u16));
            vec![Action::Raw(full[..full.len() / 2].to_vec()), Action::Drop]
        }
        3 => vec![Action::Raw(reply(
            r,
            &metadata_resp(p.load(Ordering::Relaxed) as u16),
        ))],
        _ => vec![Action::Drop],
    });
    port.store(s.port as usize, Ordering::Relaxed);
    let c = client_for(&s).build().unwrap();
    let seed = c.seed_brokers()[0].clone();
    // Without retries the drop is a retriable connection error...
    let e = seed.request(meta_req()).unwrap_err();
    assert!(e.is_retriable(), "{e:?}");
    assert!(e.to_string().contains("middle of a response"), "{e}");
    // ...and the retrying path reconnects and succeeds.
    let m = c.request(meta_req()).unwrap();
    assert_eq!(m.brokers[0].node_id.0, 1);
    assert!(s.conns.load(Ordering::Acquire) >= 2);
    c.close();
}

fn broken_frame_server(bytes: impl Fn(&Req) -> Vec<u8> + Send + Sync + 'static) -> ScriptServer {
    ScriptServer::start(move |r| match r.key {
        18 => vec![Action::Raw(api_versions(r))],
        _ => vec![
            Action::Raw(bytes(r)),
            Action::Sleep(Duration::from_millis(50)),
            Action::Drop,
        ],
    })
}

#[test]
fn truncated_frame_is_a_clear_error() {
    let s = broken_frame_server(|r| {
        let mut f = 100i32.to_be_bytes().to_vec();
        f.extend_from_slice(&r.corr.to_be_bytes());
        f.extend_from_slice(&[0; 6]);
        f
    });
    let c = client_for(&s).build().unwrap();
    let e = c.seed_brokers()[0].request(meta_req()).unwrap_err();
    assert!(matches!(e, Error::Io(_)), "{e:?}");
    assert!(e.to_string().contains("middle of a response"), "{e}");
    c.close();
}

#[test]
fn a_size_prefix_that_lies_short_fails_the_request() {
    // The prefix covers the correlation id and 2 bytes of a real body.
    let s = broken_frame_server(|r| {
        let real = reply(r, &metadata_resp(1));
        let mut f = 6i32.to_be_bytes().to_vec();
        f.extend_from_slice(&real[4..]);
        f
    });
    let c = client_for(&s).build().unwrap();
    let e = c.seed_brokers()[0].request(meta_req()).unwrap_err();
    assert!(matches!(e, Error::Protocol(_)), "{e:?}");
    assert!(e.to_string().contains("decoding response key 3"), "{e}");
    c.close();
}

#[test]
fn negative_and_huge_size_prefixes_fail_without_allocating() {
    for size in [-5i32, i32::MAX] {
        let s = broken_frame_server(move |r| {
            let mut f = size.to_be_bytes().to_vec();
            f.extend_from_slice(&r.corr.to_be_bytes());
            f
        });
        let c = client_for(&s).build().unwrap();
        let e = c.seed_brokers()[0].request(meta_req()).unwrap_err();
        assert!(matches!(e, Error::Protocol(_)), "{size}: {e:?}");
        if size > 0 {
            assert!(e.to_string().contains("broker_max_read_bytes"), "{e}");
        }
        c.close();
    }
}

#[test]
fn response_over_broker_max_read_bytes_is_refused() {
    let s = ScriptServer::start(|r| match r.key {
        18 => vec![Action::Raw(api_versions(r))],
        // A genuine 256 KiB frame (a Metadata response with a long cluster id).
        _ => {
            let resp = metadata_resp(1).with_cluster_id(Some("x".repeat(256 << 10).into()));
            vec![Action::Raw(reply(r, &resp))]
        }
    });
    let c = client_for(&s)
        .broker_max_read_bytes(64 << 10)
        .build()
        .unwrap();
    let e = c.seed_brokers()[0].request(meta_req()).unwrap_err();
    assert!(matches!(e, Error::Protocol(_)), "{e:?}");
    assert!(
        e.to_string().contains("over broker_max_read_bytes 65536"),
        "{e}"
    );
    // The same client with room for it reads it fine on a new connection.
    let c2 = client_for(&s).build().unwrap();
    let m = c2.seed_brokers()[0].request(meta_req()).unwrap();
    assert_eq!(m.cluster_id.map(|c| c.len()), Some(256 << 10));
    c.close();
    c2.close();
}

#[test]
fn wrong_correlation_id_is_a_protocol_error() {
    let s = broken_frame_server(|r| {
        let mut other = r.clone();
        other.corr += 7;
        reply(&other, &metadata_resp(1))
    });
    let c = client_for(&s).build().unwrap();
    let e = c.seed_brokers()[0].request(meta_req()).unwrap_err();
    assert!(e.to_string().contains("correlation id"), "{e}");
    c.close();
}

#[test]
fn request_deadline_fires_and_closes_the_connection() {
    let s = ScriptServer::start(|r| match r.key {
        18 => vec![Action::Raw(api_versions(r))],
        _ => vec![Action::Nothing],
    });
    let c = client_for(&s)
        .request_timeout_overhead(Duration::from_millis(300))
        .build()
        .unwrap();
    let start = Instant::now();
    let e = c.seed_brokers()[0].request(meta_req()).unwrap_err();
    let took = start.elapsed();
    assert!(matches!(e, Error::Timeout(TimeoutKind::Request)), "{e:?}");
    assert!(
        took >= Duration::from_millis(300) && took < Duration::from_secs(3),
        "{took:?}"
    );
    // A request's own timeout field extends its deadline: 300ms + 700ms.
    let start = Instant::now();
    let del = DeleteTopicsRequest::default().with_timeout_ms(700);
    let e = c.seed_brokers()[0].request(del).unwrap_err();
    assert!(matches!(e, Error::Timeout(TimeoutKind::Request)), "{e:?}");
    assert!(
        start.elapsed() >= Duration::from_millis(1000),
        "{:?}",
        start.elapsed()
    );
    c.close();
}

#[test]
fn caller_deadline_returns_early() {
    let s = ScriptServer::start(|r| match r.key {
        18 => vec![Action::Raw(api_versions(r))],
        _ => vec![Action::Nothing],
    });
    let c = client_for(&s).build().unwrap();
    let start = Instant::now();
    let e = c
        .request_timeout(meta_req(), Duration::from_millis(200))
        .unwrap_err();
    assert!(matches!(e, Error::Timeout(TimeoutKind::Caller)), "{e:?}");
    assert!(start.elapsed() < Duration::from_secs(2));
    c.close();
}

#[test]
fn ten_requests_pipeline_on_one_connection_and_are_answered_in_order() {
    // The server answers nothing until it holds 10 requests, then answers all
    // in order: a client that does not pipeline would deadlock here.
    let held: Arc<Mutex<Vec<Req>>> = Arc::default();
    let h = held.clone();
    let s = ScriptServer::start(move |r| match r.key {
        18 => vec![Action::Raw(api_versions(r))],
        2 => {
            let mut held = h.lock().unwrap();
            held.push(r.clone());
            if held.len() < 10 {
                return vec![Action::Nothing];
            }
            held.drain(..)
                .map(|r| {
                    let req = ListOffsetsRequest::decode(
                        &mut bytes::Bytes::copy_from_slice(&r.body),
                        r.version,
                    )
                    .unwrap();
                    let p = req.topics[0].partitions[0].partition_index;
                    let part = list_offsets_response::ListOffsetsPartitionResponse::default()
                        .with_partition_index(p)
                        .with_offset(1000 + p as i64);
                    let t = list_offsets_response::ListOffsetsTopicResponse::default()
                        .with_name(req.topics[0].name.clone())
                        .with_partitions(vec![part]);
                    Action::Raw(reply(
                        &r,
                        &ListOffsetsResponse::default().with_topics(vec![t]),
                    ))
                })
                .collect()
        }
        _ => vec![Action::Drop],
    });
    let c = client_for(&s).build().unwrap();
    let seed = c.seed_brokers()[0].clone();
    seed.request(ApiVersionsRequest::default()).unwrap();
    let threads: Vec<_> = (0..10)
        .map(|p| {
            let b = seed.clone();
            std::thread::spawn(move || {
                let part = list_offsets_request::ListOffsetsPartition::default()
                    .with_partition_index(p)
                    .with_timestamp(-1);
                let t = list_offsets_request::ListOffsetsTopic::default()
                    .with_name(TopicName("t".into()))
                    .with_partitions(vec![part]);
                let resp = b
                    .request(ListOffsetsRequest::default().with_topics(vec![t]))
                    .unwrap();
                (
                    p,
                    resp.topics[0].partitions[0].partition_index,
                    resp.topics[0].partitions[0].offset,
                )
            })
        })
        .collect();
    for t in threads {
        let (asked, got, offset) = t.join().unwrap();
        assert_eq!(asked, got, "each caller gets its own response");
        assert_eq!(offset, 1000 + asked as i64);
    }
    assert_eq!(s.conns.load(Ordering::Acquire), 1, "all on one connection");
    c.close();
}

#[test]
fn close_wakes_a_caller_blocked_in_request_within_a_second() {
    let arrived = Arc::new(AtomicUsize::new(0));
    let a = arrived.clone();
    let s = ScriptServer::start(move |r| match r.key {
        18 => vec![Action::Raw(api_versions(r))],
        _ => {
            a.fetch_add(1, Ordering::AcqRel);
            vec![Action::Nothing]
        }
    });
    let c = client_for(&s).build().unwrap();
    let c2 = c.clone();
    let t = std::thread::spawn(move || c2.request(meta_req()));
    // The request reached the broker, which never answers: the caller is blocked.
    assert!(support::wait_until(Duration::from_secs(5), || arrived
        .load(Ordering::Acquire)
        == 1));
    let start = Instant::now();
    c.close();
    let res = t.join().unwrap();
    assert!(matches!(res, Err(Error::ClientClosed)), "{res:?}");
    assert!(
        start.elapsed() < Duration::from_secs(1),
        "{:?}",
        start.elapsed()
    );
    // Later calls fail at once.
    assert!(matches!(c.request(meta_req()), Err(Error::ClientClosed)));
    assert!(matches!(c.ping(), Err(Error::ClientClosed)));
}

#[test]
fn api_versions_falls_back_when_the_broker_does_not_know_our_version() {
    let versions_seen: Arc<Mutex<Vec<i16>>> = Arc::default();
    let v = versions_seen.clone();
    let s = ScriptServer::start(move |r| match r.key {
        18 => {
            v.lock().unwrap().push(r.version);
            if r.version > 2 {
                // An old broker: UNSUPPORTED_VERSION in a v0 body listing key 18 up to v2.
                let keys = vec![
                    api_versions_response::ApiVersion::default()
                        .with_api_key(18)
                        .with_max_version(2),
                    api_versions_response::ApiVersion::default()
                        .with_api_key(3)
                        .with_max_version(5),
                ];
                let mut body = bytes::BytesMut::new();
                ApiVersionsResponse::default()
                    .with_error_code(35)
                    .with_api_keys(keys)
                    .encode(&mut body, 0)
                    .unwrap();
                vec![Action::Raw(frame(r, &body))]
            } else {
                let keys = vec![
                    api_versions_response::ApiVersion::default()
                        .with_api_key(18)
                        .with_max_version(2),
                    api_versions_response::ApiVersion::default()
                        .with_api_key(3)
                        .with_max_version(5),
                ];
                vec![Action::Raw(reply(
                    r,
                    &ApiVersionsResponse::default().with_api_keys(keys),
                ))]
            }
        }
        3 => {
            assert_eq!(r.version, 5, "Metadata capped at the broker's max");
            vec![Action::Raw(reply(r, &metadata_resp(1)))]
        }
        _ => vec![Action::Drop],
    });
    let c = client_for(&s).build().unwrap();
    let m = c.seed_brokers()[0].request(meta_req()).unwrap();
    assert_eq!(m.brokers.len(), 1);
    assert_eq!(*versions_seen.lock().unwrap(), vec![3, 2]);
    // A key the broker does not list is refused before anything is written.
    let e = c.seed_brokers()[0]
        .request(DescribeClusterRequest::default())
        .unwrap_err();
    assert!(matches!(e, Error::BrokerTooOld { key: 60, .. }), "{e:?}");
    c.close();
}

#[test]
fn throttled_broker_gets_nothing_until_the_throttle_ends() {
    #[derive(Default)]
    struct Throttles(Mutex<Vec<(Duration, bool)>>);
    impl kafka_sync::Hook for Throttles {
        fn on_broker_throttle(&self, _m: &kafka_sync::BrokerMetadata, d: Duration, after: bool) {
            self.0.lock().unwrap().push((d, after));
        }
    }
    let arrivals: Arc<Mutex<Vec<Instant>>> = Arc::default();
    let a = arrivals.clone();
    let s = ScriptServer::start(move |r| match r.key {
        18 => vec![Action::Raw(api_versions(r))],
        3 => {
            a.lock().unwrap().push(Instant::now());
            vec![Action::Raw(reply(
                r,
                &metadata_resp(1).with_throttle_time_ms(400),
            ))]
        }
        _ => vec![Action::Drop],
    });
    let hook = Arc::new(Throttles::default());
    let c = client_for(&s).with_hooks(hook.clone()).build().unwrap();
    let b = c.seed_brokers()[0].clone();
    b.request(meta_req()).unwrap();
    b.request(meta_req()).unwrap();
    let times = arrivals.lock().unwrap().clone();
    assert_eq!(times.len(), 2);
    let gap = times[1] - times[0];
    assert!(
        gap >= Duration::from_millis(380),
        "second request sent {gap:?} after the first"
    );
    assert_eq!(
        hook.0.lock().unwrap()[0],
        (Duration::from_millis(400), true)
    );
    c.close();
}

#[test]
fn idle_connections_are_reaped_and_reopened() {
    #[derive(Default)]
    struct Disconnects(AtomicUsize);
    impl kafka_sync::Hook for Disconnects {
        fn on_broker_disconnect(&self, _m: &kafka_sync::BrokerMetadata) {
            self.0.fetch_add(1, Ordering::AcqRel);
        }
    }
    let s = ScriptServer::start(|r| match r.key {
        18 => vec![Action::Raw(api_versions(r))],
        3 => vec![Action::Raw(reply(r, &metadata_resp(1)))],
        _ => vec![Action::Drop],
    });
    let hook = Arc::new(Disconnects::default());
    let c = client_for(&s)
        .conn_idle_timeout(Duration::from_secs(1))
        .with_hooks(hook.clone())
        .build()
        .unwrap();
    let b = c.seed_brokers()[0].clone();
    b.request(meta_req()).unwrap();
    assert!(
        support::wait_until(Duration::from_secs(5), || hook.0.load(Ordering::Acquire)
            == 1),
        "idle connection closed"
    );
    b.request(meta_req()).unwrap();
    assert_eq!(s.conns.load(Ordering::Acquire), 2);
    c.close();
}

#[test]
fn tls_with_verification_and_host_names() {
    let s = ScriptServer::start_tls(|r| match r.key {
        18 => vec![Action::Raw(api_versions(r))],
        3 => vec![Action::Raw(reply(r, &metadata_resp(1)))],
        _ => vec![Action::Drop],
    });
    let ca = include_bytes!("certs/ca.pem");
    let tls = || {
        TlsConfig::builder()
            .add_root_certificate_pem(ca)
            .disable_built_in_roots(true)
            .build()
            .unwrap()
    };
    // The certificate names localhost: dialing by that name verifies.
    let c = Client::builder()
        .seed_brokers([format!("localhost:{}", s.port)])
        .tls(tls())
        .build()
        .unwrap();
    let m = c.seed_brokers()[0].request(meta_req()).unwrap();
    assert_eq!(m.cluster_id.as_deref(), Some("script"));
    c.close();
    // Dialing by IP does not match the certificate: verification fails.
    let c = Client::builder()
        .seed_brokers([format!("127.0.0.1:{}", s.port)])
        .tls(tls())
        .build()
        .unwrap();
    let e = c.seed_brokers()[0].request(meta_req()).unwrap_err();
    assert!(matches!(e, Error::Tls(_)), "{e:?}");
    c.close();
    // Without our CA the chain does not verify (verification is on by default).
    let c = Client::builder()
        .seed_brokers([format!("localhost:{}", s.port)])
        .tls(TlsConfig::builder().build().unwrap())
        .build()
        .unwrap();
    let e = c.seed_brokers()[0].request(meta_req()).unwrap_err();
    assert!(matches!(e, Error::Tls(_)), "{e:?}");
    c.close();
    // A fixed server name overrides the dialed host.
    let c = Client::builder()
        .seed_brokers([format!("127.0.0.1:{}", s.port)])
        .tls(
            TlsConfig::builder()
                .add_root_certificate_pem(ca)
                .server_name("localhost")
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    c.seed_brokers()[0].request(meta_req()).unwrap();
    c.close();
}

#[test]
fn plaintext_client_against_tls_listener_fails_clearly() {
    let s = ScriptServer::start_tls(|r| vec![Action::Raw(api_versions(r))]);
    let c = client_for(&s)
        .request_retries(1)
        .request_timeout_overhead(Duration::from_millis(500))
        .build()
        .unwrap();
    let e = c.ping().unwrap_err();
    assert!(e.is_retriable(), "{e:?}");
    c.close();
}

#[test]
fn metadata_updates_the_broker_set() {
    let port = Arc::new(AtomicUsize::new(0));
    let p = port.clone();
    let s = ScriptServer::start(move |r| match r.key {
        18 => vec![Action::Raw(api_versions(r))],
        3 => vec![Action::Raw(reply(
            r,
            &metadata_resp(p.load(Ordering::Relaxed) as u16),
        ))],
        _ => vec![Action::Drop],
    });
    port.store(s.port as usize, Ordering::Relaxed);
    let c = client_for(&s).build().unwrap();
    let snap = c.refresh_metadata(Some(&[])).unwrap();
    assert_eq!(snap.controller, Some(1));
    assert_eq!(snap.cluster_id.as_deref(), Some("script"));
    let ids: Vec<i32> = c.discovered_brokers().iter().map(|b| b.id()).collect();
    assert_eq!(ids, vec![1]);
    assert_eq!(c.broker(1).metadata().map(|m| m.port), Some(s.port as i32));
    // Requests to broker 1 now go through its own I/O thread.
    c.broker(1).request(meta_req()).unwrap();
    assert!(matches!(
        c.broker(99).request(meta_req()),
        Err(Error::UnknownBroker(99))
    ));
    c.close();
}

#[test]
fn brokers_that_leave_metadata_are_closed() {
    let port = Arc::new(AtomicUsize::new(0));
    let calls = Arc::new(AtomicUsize::new(0));
    let (p, n) = (port.clone(), calls.clone());
    let s = ScriptServer::start(move |r| match r.key {
        18 => vec![Action::Raw(api_versions(r))],
        3 => {
            // First broker 1 and 2 exist; later only broker 2 does.
            let port = p.load(Ordering::Relaxed) as i32;
            let b = |id| {
                metadata_response::MetadataResponseBroker::default()
                    .with_node_id(BrokerId(id))
                    .with_host("127.0.0.1".into())
                    .with_port(port)
            };
            let brokers = if n.fetch_add(1, Ordering::AcqRel) == 0 {
                vec![b(1), b(2)]
            } else {
                vec![b(2)]
            };
            vec![Action::Raw(reply(
                r,
                &MetadataResponse::default()
                    .with_brokers(brokers)
                    .with_controller_id(BrokerId(2)),
            ))]
        }
        _ => vec![Action::Drop],
    });
    port.store(s.port as usize, Ordering::Relaxed);
    let names = Arc::new(Mutex::new(Vec::<(String, String)>::new()));
    let n2 = names.clone();
    let c = client_for(&s)
        .on_thread_start(move |name| {
            let tid = std::fs::read_link("/proc/thread-self")
                .map(|p| p.display().to_string())
                .unwrap_or_default();
            n2.lock().unwrap().push((name.to_string(), tid));
        })
        .build()
        .unwrap();
    c.refresh_metadata(Some(&[])).unwrap();
    let ids = |c: &Client| {
        c.discovered_brokers()
            .iter()
            .map(|b| b.id())
            .collect::<Vec<_>>()
    };
    assert_eq!(ids(&c), vec![1, 2]);
    c.refresh_metadata(Some(&[])).unwrap();
    assert_eq!(ids(&c), vec![2]);
    let (_, tid) = names
        .lock()
        .unwrap()
        .iter()
        .find(|(n, _)| n == "ks-io-1")
        .cloned()
        .expect("broker 1 had a thread");
    // The refresh that dropped broker 1 may be the client's own background
    // one, which joins the thread after releasing the broker table: wait
    // for the thread to go, within a bound.
    let task = std::path::Path::new("/proc").join(&tid);
    assert!(
        support::wait_until(Duration::from_secs(5), || !task.exists()),
        "ks-io-1 exited when broker 1 left"
    );
    assert!(matches!(
        c.broker(1).request(meta_req()),
        Err(Error::UnknownBroker(1))
    ));
    c.close();
}

/// One broker I/O hook call: (hook, bytes, wait, took, error).
type IoCall = (&'static str, usize, Duration, Duration, Option<String>);

/// Broker I/O hook calls for one key.
#[derive(Default)]
struct IoHooks {
    key: i16,
    calls: Mutex<Vec<IoCall>>,
    e2e: Mutex<Vec<kafka_sync::BrokerE2E>>,
}

impl IoHooks {
    fn for_key(key: i16) -> Arc<IoHooks> {
        Arc::new(IoHooks {
            key,
            ..Default::default()
        })
    }

    fn calls(&self) -> Vec<IoCall> {
        self.calls.lock().unwrap().clone()
    }

    fn push(
        &self,
        what: &'static str,
        key: i16,
        n: usize,
        w: Duration,
        t: Duration,
        e: Option<&Error>,
    ) {
        if key == self.key {
            let e = e.map(|e| e.to_string());
            self.calls.lock().unwrap().push((what, n, w, t, e));
        }
    }
}

impl kafka_sync::Hook for IoHooks {
    fn on_broker_write(
        &self,
        _m: &kafka_sync::BrokerMetadata,
        key: i16,
        n: usize,
        w: Duration,
        t: Duration,
        e: Option<&Error>,
    ) {
        self.push("write", key, n, w, t, e);
    }
    fn on_broker_read(
        &self,
        _m: &kafka_sync::BrokerMetadata,
        key: i16,
        n: usize,
        w: Duration,
        t: Duration,
        e: Option<&Error>,
    ) {
        self.push("read", key, n, w, t, e);
    }
    fn on_broker_e2e(
        &self,
        _m: &kafka_sync::BrokerMetadata,
        key: i16,
        e2e: &kafka_sync::BrokerE2E,
    ) {
        if key == self.key {
            self.e2e.lock().unwrap().push(e2e.clone());
        }
    }
}

#[test]
fn time_to_read_runs_from_the_first_byte_of_a_response_to_the_last() {
    let s = ScriptServer::start(|r| match r.key {
        18 => vec![Action::Raw(api_versions(r))],
        3 => {
            let full = reply(r, &metadata_resp(1));
            vec![
                Action::Sleep(Duration::from_millis(100)),
                Action::Raw(full[..10].to_vec()),
                Action::Sleep(Duration::from_millis(300)),
                Action::Raw(full[10..].to_vec()),
            ]
        }
        _ => vec![Action::Drop],
    });
    let hook = IoHooks::for_key(3);
    let c = client_for(&s).with_hooks(hook.clone()).build().unwrap();
    c.seed_brokers()[0].request(meta_req()).unwrap();
    let calls = hook.calls();
    let read = calls.iter().find(|c| c.0 == "read").unwrap();
    assert!(read.4.is_none(), "{read:?}");
    // read_wait: the 100 ms before the first byte; time_to_read: the 300 ms gap.
    assert!(
        read.2 >= Duration::from_millis(80),
        "read_wait {:?}",
        read.2
    );
    assert!(
        read.3 >= Duration::from_millis(280),
        "time_to_read {:?}",
        read.3
    );
    assert!(read.3 < Duration::from_secs(2), "time_to_read {:?}", read.3);
    let e2e = hook.e2e.lock().unwrap()[0].clone();
    assert_eq!(e2e.time_to_read, read.3);
    assert_eq!(e2e.read_wait, read.2);
    c.close();
}

#[test]
fn a_connection_dying_during_a_request_calls_the_read_hook_with_the_error() {
    let s = ScriptServer::start(|r| match r.key {
        18 => vec![Action::Raw(api_versions(r))],
        3 => {
            let full = reply(r, &metadata_resp(1));
            vec![Action::Raw(full[..full.len() / 2].to_vec()), Action::Drop]
        }
        _ => vec![Action::Drop],
    });
    let hook = IoHooks::for_key(3);
    let c = client_for(&s).with_hooks(hook.clone()).build().unwrap();
    let err = c.seed_brokers()[0].request(meta_req()).unwrap_err();
    let calls = hook.calls();
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert_eq!(calls[0].0, "write");
    assert!(calls[0].4.is_none(), "{calls:?}");
    assert_eq!(calls[1].0, "read");
    assert_eq!(calls[1].4.as_deref(), Some(err.to_string().as_str()));
    let e2e = hook.e2e.lock().unwrap().clone();
    assert_eq!(e2e.len(), 1);
    assert!(e2e[0].read_err.is_some() && e2e[0].write_err.is_none());
    c.close();
}

#[test]
fn a_connection_dying_before_a_queued_request_is_written_calls_the_write_hook() {
    // The first response throttles the client for 2 s, so the second request
    // waits on the connection; the broker then closes it.
    let s = ScriptServer::start(|r| match r.key {
        18 => vec![Action::Raw(api_versions(r))],
        3 => vec![
            Action::Raw(reply(r, &metadata_resp(1).with_throttle_time_ms(2000))),
            Action::Sleep(Duration::from_millis(300)),
            Action::Drop,
        ],
        _ => vec![Action::Drop],
    });
    let hook = IoHooks::for_key(3);
    let c = client_for(&s).with_hooks(hook.clone()).build().unwrap();
    let b = c.seed_brokers()[0].clone();
    b.request(meta_req()).unwrap();
    let err = b.request(meta_req()).unwrap_err();
    let calls = hook.calls();
    assert_eq!(calls.len(), 3, "{calls:?}");
    assert_eq!((calls[2].0, calls[2].1), ("write", 0));
    assert_eq!(calls[2].4.as_deref(), Some(err.to_string().as_str()));
    let e2e = hook.e2e.lock().unwrap().clone();
    assert!(e2e[1].write_err.is_some(), "{e2e:?}");
    c.close();
}
