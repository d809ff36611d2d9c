//! A scripted broker that answers ApiVersions, Metadata, Fetch and Produce
//! with array counts of 2^31-1 (classic encoding) and 2^32-2 (flexible
//! encoding) in frames of a few bytes. The client must answer with an
//! error on that request (or drop the connection and retry), keep running,
//! and stay small: the decoders check every count against the bytes left
//! before allocating.

mod support;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kafka_sync::messages::api_versions_response::ApiVersion;
use kafka_sync::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kafka_sync::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_sync::messages::{
    ApiVersionsResponse, BrokerId, ListOffsetsResponse, MetadataRequest, MetadataResponse,
    TopicName,
};
use kafka_sync::{Client, Error, Record};
use support::script::{frame, reply, Action, Req, ScriptServer};

/// Which of the two hostile counts a case sends.
#[derive(Clone, Copy, Debug)]
enum Form {
    /// int32 count 0x7fffffff, at the newest non-flexible version.
    Classic,
    /// unsigned varint 0xffffffff (count 2^32-2), at a flexible version.
    Compact,
}

/// The highest version each API is advertised at, per form.
fn max_version(key: i16, form: Form) -> i16 {
    match (key, form) {
        (0, Form::Classic) => 8,
        (0, Form::Compact) => 12,
        (1, Form::Classic) => 11,
        (1, Form::Compact) => 12,
        (2, Form::Classic) => 5,
        (2, Form::Compact) => 8,
        (3, Form::Classic) => 8,
        (3, Form::Compact) => 12,
        (18, Form::Classic) => 2,
        (18, Form::Compact) => 3,
        _ => 0,
    }
}

fn versions(r: &Req, form: Form) -> Vec<u8> {
    let keys = [0i16, 1, 2, 3, 18]
        .into_iter()
        .map(|k| {
            ApiVersion::default()
                .with_api_key(k)
                .with_min_version(0)
                .with_max_version(max_version(k, form))
        })
        .collect();
    reply(r, &ApiVersionsResponse::default().with_api_keys(keys))
}

fn count(form: Form) -> Vec<u8> {
    match form {
        Form::Classic => 0x7fff_ffffi32.to_be_bytes().to_vec(),
        Form::Compact => vec![0xff, 0xff, 0xff, 0xff, 0x0f],
    }
}

/// A response body whose first array claims the hostile count, with just
/// the fields before it.
fn hostile_body(key: i16, version: i16, form: Form) -> Vec<u8> {
    let mut b = Vec::new();
    match key {
        // ApiVersions: error_code, then api_keys.
        18 => b.extend_from_slice(&0i16.to_be_bytes()),
        // Metadata: throttle_time_ms (v3+), then brokers.
        3 if version >= 3 => b.extend_from_slice(&0i32.to_be_bytes()),
        // Fetch: throttle (v1+), error_code and session_id (v7+), responses.
        1 => {
            b.extend_from_slice(&0i32.to_be_bytes());
            if version >= 7 {
                b.extend_from_slice(&0i16.to_be_bytes());
                b.extend_from_slice(&0i32.to_be_bytes());
            }
        }
        // Produce: responses first.
        _ => {}
    }
    b.extend_from_slice(&count(form));
    b
}

fn metadata(port: u16) -> MetadataResponse {
    let broker = MetadataResponseBroker::default()
        .with_node_id(BrokerId(1))
        .with_host("127.0.0.1".into())
        .with_port(i32::from(port));
    let p = MetadataResponsePartition::default()
        .with_partition_index(0)
        .with_leader_id(BrokerId(1))
        .with_replica_nodes(vec![BrokerId(1)])
        .with_isr_nodes(vec![BrokerId(1)]);
    let t = MetadataResponseTopic::default()
        .with_name(Some(TopicName("t".into())))
        .with_partitions(vec![p]);
    MetadataResponse::default()
        .with_brokers(vec![broker])
        .with_controller_id(BrokerId(1))
        .with_topics(vec![t])
}

/// Partition t/0 spans offsets 0-100.
fn list_offsets() -> ListOffsetsResponse {
    let p = ListOffsetsPartitionResponse::default()
        .with_partition_index(0)
        .with_offset(100);
    let t = ListOffsetsTopicResponse::default()
        .with_name(TopicName("t".into()))
        .with_partitions(vec![p]);
    ListOffsetsResponse::default().with_topics(vec![t])
}

/// A server that answers `hostile_key` with the hostile count and every
/// other API normally; counts the hostile answers it sent.
fn server(hostile_key: i16, form: Form) -> (ScriptServer, Arc<AtomicUsize>) {
    let sent = Arc::new(AtomicUsize::new(0));
    let port = Arc::new(AtomicUsize::new(0));
    let (s2, p2) = (sent.clone(), port.clone());
    let s = ScriptServer::start(move |r| {
        if r.key == hostile_key {
            s2.fetch_add(1, Ordering::AcqRel);
            let f = frame(r, &hostile_body(r.key, r.version, form));
            assert!(f.len() <= 32, "a tiny frame: {} bytes", f.len());
            return vec![Action::Raw(f)];
        }
        match r.key {
            18 => vec![Action::Raw(versions(r, form))],
            3 => vec![Action::Raw(reply(
                r,
                &metadata(p2.load(Ordering::Acquire) as u16),
            ))],
            2 => vec![Action::Raw(reply(r, &list_offsets()))],
            _ => vec![Action::Drop],
        }
    });
    port.store(s.port as usize, Ordering::Release);
    (s, sent)
}

fn client(s: &ScriptServer) -> kafka_sync::ConfigBuilder<Client> {
    support::init_logging();
    Client::builder()
        .seed_brokers([s.addr()])
        .retry_backoff_fn(|_| Duration::from_millis(20))
        .request_retries(2)
        .retry_timeout(Duration::from_secs(3))
}

fn assert_small() {
    let kib = support::peak_rss_kib();
    assert!(kib > 0, "VmHWM readable");
    assert!(kib < 64 * 1024, "peak RSS {kib} KiB is over 64 MiB");
}

fn metadata_request() -> MetadataRequest {
    MetadataRequest::default().with_topics(None)
}

fn metadata_or_api_versions(key: i16, form: Form) {
    let (s, sent) = server(key, form);
    let c = client(&s).build().unwrap();
    let started = Instant::now();
    let e = c.seed_brokers()[0].request(metadata_request()).unwrap_err();
    assert!(
        matches!(e, Error::Protocol(_) | Error::Timeout(_) | Error::Io(_)),
        "{form:?} key {key}: {e:?}"
    );
    assert!(
        sent.load(Ordering::Acquire) >= 1,
        "the hostile answer was sent"
    );
    assert!(started.elapsed() < Duration::from_secs(30));
    c.close();
    assert_small();
}

#[test]
fn hostile_api_versions_counts_are_errors() {
    for form in [Form::Classic, Form::Compact] {
        metadata_or_api_versions(18, form);
    }
}

#[test]
fn hostile_metadata_counts_are_errors() {
    for form in [Form::Classic, Form::Compact] {
        let (s, sent) = server(3, form);
        let c = client(&s).build().unwrap();
        let e = c.seed_brokers()[0].request(metadata_request()).unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("MetadataResponse"), "{form:?}: {msg}");
        assert!(msg.contains("brokers"), "names the field: {msg}");
        assert!(sent.load(Ordering::Acquire) >= 1);
        c.close();
    }
    assert_small();
}

#[test]
fn hostile_produce_counts_fail_the_records() {
    for form in [Form::Classic, Form::Compact] {
        let (s, sent) = server(0, form);
        let c = client(&s)
            .record_delivery_timeout(Duration::from_secs(2))
            .disable_idempotent_write(true)
            .build()
            .unwrap();
        let res = c.produce_sync([Record::string("v").with_topic("t")]);
        let e = res.first().unwrap_err();
        assert!(sent.load(Ordering::Acquire) >= 1, "{form:?}: {e:?}");
        c.close();
    }
    assert_small();
}

#[test]
fn hostile_fetch_counts_are_retried_without_records() {
    for form in [Form::Classic, Form::Compact] {
        let (s, sent) = server(1, form);
        let c = client(&s)
            .consume_partitions(HashMap::from([(
                "t".to_string(),
                HashMap::from([(0, kafka_sync::Offset::new().at(0))]),
            )]))
            .fetch_max_wait(Duration::from_millis(50))
            .build()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while sent.load(Ordering::Acquire) < 3 && Instant::now() < deadline {
            let fs = c.poll_fetches_timeout(Duration::from_millis(100));
            assert_eq!(fs.num_records(), 0, "{form:?}: no records from garbage");
        }
        assert!(
            sent.load(Ordering::Acquire) >= 3,
            "{form:?}: the consumer keeps fetching after a bad response"
        );
        c.close();
    }
    assert_small();
}

/// A response whose every array element is a few bytes on the wire but ~80
/// in memory (a million empty DeleteRecords topics, 3 bytes each in a 3 MB
/// frame) would decode into over a hundred times its size: the decode
/// stops at the response's memory budget with an error saying so, and the
/// client goes on.
#[test]
fn an_amplifying_response_stops_at_its_memory_budget() {
    use kafka_sync::messages::{DeleteRecordsRequest, DeleteRecordsResponse};
    let entries = 1_000_000usize;
    let amplifying = move |r: &Req| {
        let mut b = Vec::with_capacity(3 * entries + 16);
        b.extend_from_slice(&0i32.to_be_bytes()); // throttle_time_ms
        let mut n = entries as u32 + 1; // compact array: count + 1
        while n >= 0x80 {
            b.push((n as u8) | 0x80);
            n >>= 7;
        }
        b.push(n as u8);
        for _ in 0..entries {
            // name "" (compact), partitions [] (compact), no tagged fields
            b.extend_from_slice(&[1, 1, 0]);
        }
        b.push(0); // no tagged fields
        frame(r, &b)
    };
    let answered = Arc::new(AtomicUsize::new(0));
    let a2 = answered.clone();
    let s = ScriptServer::start(move |r| match r.key {
        18 => vec![Action::Raw(support::script::api_versions(r))],
        21 if a2.fetch_add(1, Ordering::AcqRel) == 0 => vec![Action::Raw(amplifying(r))],
        21 => vec![Action::Raw(reply(r, &DeleteRecordsResponse::default()))],
        _ => vec![Action::Drop],
    });
    let c = client(&s).build().unwrap();
    let broker = &c.seed_brokers()[0];
    let Err(e) = broker.request_pinned(DeleteRecordsRequest::default(), 2) else {
        panic!("the amplifying response decoded whole");
    };
    let msg = e.to_string();
    assert!(matches!(e, Error::Protocol(_)), "{e:?}");
    assert!(msg.contains("memory budget"), "{msg}");
    // The next answer decodes as usual.
    let ok = broker.request_pinned(DeleteRecordsRequest::default(), 2);
    assert!(ok.is_ok(), "{ok:?}");
    c.close();
}
