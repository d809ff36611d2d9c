//! Record batches for raw Produce and Fetch requests in tests.
//!
//! Encoded and decoded with kafka-protocol's `records` module, uncompressed
//! only, so these tests share no code with the fake broker's batch
//! validator (`src/fake/batch.rs`) nor with the crate's own codec.

use bytes::{Buf, Bytes, BytesMut};
use kafka_protocol::records::{
    Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};

/// The idempotent-producer fields of a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Producer {
    /// From InitProducerId.
    pub id: i64,
    /// From InitProducerId.
    pub epoch: i16,
    /// The batch's base sequence.
    pub sequence: i32,
}

/// A fetched record, reduced to what a comparison needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    pub offset: i64,
    pub key: Option<String>,
    pub value: Option<String>,
}

/// Timestamp of the first record of every batch built here.
pub const BASE_TIMESTAMP: i64 = 1_700_000_000_000;

/// One uncompressed v2 record batch of `(key, value)` records (offset deltas
/// and timestamps count up from 0 and [`BASE_TIMESTAMP`]), optionally from an
/// idempotent producer.
pub fn batch(records: &[(&str, &str)], producer: Option<Producer>) -> Bytes {
    let (pid, epoch, base_seq) = producer.map_or((-1, -1, -1), |p| (p.id, p.epoch, p.sequence));
    let recs: Vec<Record> = records
        .iter()
        .enumerate()
        .map(|(i, (k, v))| Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id: pid,
            producer_epoch: epoch,
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            // The encoder puts records in one batch only while
            // offset - sequence stays constant, and writes the first
            // record's sequence as the base sequence: -1 for "none".
            sequence: base_seq.wrapping_add(i as i32),
            timestamp: BASE_TIMESTAMP + i as i64,
            key: Some(Bytes::copy_from_slice(k.as_bytes())),
            value: Some(Bytes::copy_from_slice(v.as_bytes())),
            headers: Default::default(),
        })
        .collect();
    let mut buf = BytesMut::new();
    RecordBatchEncoder::encode(
        &mut buf,
        &recs,
        &RecordEncodeOptions {
            version: 2,
            compression: Compression::None,
        },
    )
    .expect("encode record batch");
    buf.freeze()
}

/// Decodes the whole batches in fetched `records` (a trailing partial batch,
/// which Kafka may send, is ignored) into their records.
pub fn decode(records: &Bytes) -> Vec<Fetched> {
    let mut rest = records.clone();
    let mut out = Vec::new();
    while rest.len() >= 12 {
        let len = i32::from_be_bytes(rest[8..12].try_into().unwrap());
        let total = 12 + len.max(0) as usize;
        if total > rest.len() {
            break;
        }
        let mut one = rest.split_to(total);
        let set = RecordBatchDecoder::decode(&mut one).expect("decode record batch");
        assert!(!one.has_remaining(), "one batch decoded exactly");
        out.extend(set.records.into_iter().filter(|r| !r.control).map(|r| {
            let text = |b: Option<Bytes>| b.map(|b| String::from_utf8_lossy(&b).into_owned());
            Fetched {
                offset: r.offset,
                key: text(r.key),
                value: text(r.value),
            }
        }));
    }
    out
}

/// The base offsets of the whole batches in fetched `records`.
pub fn batch_bases(records: &Bytes) -> Vec<i64> {
    let mut rest = &records[..];
    let mut out = Vec::new();
    while rest.len() >= 12 {
        let len = i32::from_be_bytes(rest[8..12].try_into().unwrap());
        let total = 12 + len.max(0) as usize;
        if total > rest.len() {
            break;
        }
        out.push(i64::from_be_bytes(rest[..8].try_into().unwrap()));
        rest = &rest[total..];
    }
    out
}

/// One legacy message (Java `LegacyRecord`): offset, size, crc, magic,
/// attributes, [timestamp,] key, value.
pub fn legacy_message(
    offset: i64,
    magic: i8,
    attrs: i8,
    key: Option<&[u8]>,
    value: &[u8],
) -> Vec<u8> {
    let mut body = vec![magic as u8, attrs as u8];
    if magic == 1 {
        body.extend_from_slice(&(1_700_000_000_000 + offset).to_be_bytes());
    }
    match key {
        Some(k) => {
            body.extend_from_slice(&(k.len() as i32).to_be_bytes());
            body.extend_from_slice(k);
        }
        None => body.extend_from_slice(&(-1i32).to_be_bytes()),
    }
    body.extend_from_slice(&(value.len() as i32).to_be_bytes());
    body.extend_from_slice(value);
    let mut crc = flate2::Crc::new();
    crc.update(&body);
    let mut out = Vec::new();
    out.extend_from_slice(&offset.to_be_bytes());
    out.extend_from_slice(&((body.len() + 4) as i32).to_be_bytes());
    out.extend_from_slice(&crc.sum().to_be_bytes());
    out.extend_from_slice(&body);
    out
}
