//! The consumer reading what brokers may return: legacy v0/v1 message sets
//! and a decompression bomb against the memory budget (crafted responses,
//! encoded with kafka-protocol, independent of our codec).
#![cfg(feature = "fake")]

mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};
use kafka_sync::fake::{Action, Cluster, Response};
use kafka_sync::messages::fetch_response::{FetchableTopicResponse, PartitionData};
use kafka_sync::messages::{ApiKey, FetchResponse, TopicName};
use kafka_sync::{Client, Error, Fetches};

const TOPIC: &str = "t";

fn record(offset: i64, value: Bytes) -> Record {
    Record {
        transactional: false,
        control: false,
        delete_horizon: false,
        partition_leader_epoch: 0,
        producer_id: -1,
        producer_epoch: -1,
        timestamp_type: TimestampType::Creation,
        offset,
        sequence: -1,
        timestamp: 1_700_000_000_000 + offset,
        key: Some(Bytes::from(format!("k{offset}"))),
        value: Some(value),
        headers: Default::default(),
    }
}

fn encode(records: &[Record], version: i8, compression: Compression) -> Bytes {
    let mut out = BytesMut::new();
    RecordBatchEncoder::encode(
        &mut out,
        records,
        &RecordEncodeOptions {
            version,
            compression,
        },
    )
    .unwrap();
    out.freeze()
}

/// A one-broker cluster whose first fetch is answered with `records`; then
/// a consumer polls until `until` says stop (or 10 s pass).
fn serve_once(
    records: Bytes,
    hwm: i64,
    cfg: impl FnOnce(kafka_sync::ConfigBuilder<Client>) -> kafka_sync::ConfigBuilder<Client>,
    mut until: impl FnMut(&Fetches) -> bool,
) {
    support::init_logging();
    let cluster = Cluster::builder()
        .brokers(1)
        .topic(TOPIC, 1)
        .build()
        .unwrap();
    let done = Arc::new(AtomicBool::new(false));
    let d2 = done.clone();
    cluster.intercept(ApiKey::Fetch, None, None, move |_| {
        if d2.swap(true, Ordering::AcqRel) {
            return Action::PassThrough;
        }
        Action::Respond(Response::new(FetchResponse::default().with_responses(
            vec![FetchableTopicResponse::default()
                .with_topic(TopicName(TOPIC.to_string().into()))
                .with_partitions(vec![PartitionData::default()
                    .with_partition_index(0)
                    .with_high_watermark(hwm)
                    .with_last_stable_offset(hwm)
                    .with_log_start_offset(0)
                    .with_records(Some(records.clone()))])],
        )))
    });
    let c = cfg(Client::builder()
        .seed_brokers(cluster.seeds())
        .retry_backoff_fn(|_| Duration::from_millis(10))
        .fetch_max_wait(Duration::from_millis(100))
        .consume_topics([TOPIC]))
    .build()
    .unwrap();
    let end = Instant::now() + Duration::from_secs(10);
    loop {
        assert!(Instant::now() < end, "timed out");
        let fs = c.poll_fetches_timeout(Duration::from_millis(200));
        if until(&fs) {
            break;
        }
    }
    c.close();
}

fn legacy_set(magic: i8, gzip: bool) -> Bytes {
    let inner: Vec<u8> = (0..10)
        .flat_map(|o| {
            // Inner offsets: relative in a v1 wrapper (KIP-31), absolute in
            // v0; the same here, as the set starts at offset 0.
            support::records::legacy_message(
                o,
                magic,
                0,
                Some(format!("k{o}").as_bytes()),
                format!("value-{o}").as_bytes(),
            )
        })
        .collect();
    if !gzip {
        return inner.into();
    }
    use std::io::Write;
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(&inner).unwrap();
    let z = enc.finish().unwrap();
    // The wrapper carries the last inner offset.
    support::records::legacy_message(9, magic, 1, None, &z).into()
}

#[test]
fn legacy_message_sets_are_read() {
    for (magic, gzip) in [(0, false), (1, false), (0, true), (1, true)] {
        let data = legacy_set(magic, gzip);
        let (version, compression) = (magic, gzip);
        let mut got = Vec::new();
        serve_once(
            data,
            10,
            |b| b,
            |fs| {
                assert!(fs.errors().is_empty(), "{:?}", fs.errors());
                got.extend(
                    fs.record_iter()
                        .map(|r| (r.offset, r.key.clone().unwrap(), r.value.clone().unwrap())),
                );
                got.len() >= 10
            },
        );
        for (i, (o, k, v)) in got.iter().enumerate() {
            assert_eq!(*o, i as i64, "v{version} gzip {compression}");
            assert_eq!(k.as_ref(), format!("k{i}").as_bytes());
            assert_eq!(v.as_ref(), format!("value-{i}").as_bytes());
        }
    }
}

#[test]
fn a_decompression_bomb_is_a_partition_error_not_memory() {
    // 8 MiB of zeros compress to a few KiB; the budget is 1 MiB.
    let recs = vec![record(0, Bytes::from(vec![0u8; 8 << 20]))];
    let data = encode(&recs, 2, Compression::Gzip);
    assert!(data.len() < 64 << 10);
    let budget = 1 << 20;
    let mut err = None;
    serve_once(
        data,
        1,
        |b| b.max_buffered_fetch_bytes(budget),
        |fs| {
            assert_eq!(fs.num_records(), 0);
            if let Some(e) = fs.errors().into_iter().next() {
                err = Some(e.err);
            }
            err.is_some()
        },
    );
    let err = err.unwrap();
    assert!(matches!(err, Error::Compression(_)), "{err:?}");
}
