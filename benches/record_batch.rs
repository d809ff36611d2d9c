//! Record batch codec benchmarks: writing a 1,000-record batch of 100-byte
//! values per codec, decoding it per codec, and appending records to an open
//! batch (the producer's per-record cost on the caller's thread).
//!
//! Every group reports per-element throughput with 1,000 records per
//! iteration, so ns/record is the reported time divided by 1,000.
//!
//! ```text
//! cargo bench --features bench --bench record_batch
//! cargo bench --features bench --bench record_batch -- --quick      # a fast, rougher run
//! ```
#![allow(dead_code, missing_docs)]

use std::hint::black_box;
use std::time::Duration;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

// The codec is crate-private, so the bench compiles its source files
// directly, next to a minimal stand-in for the crate's error module.
mod error {
    use std::fmt;
    use std::sync::Arc;

    /// The subset of `kafka_sync::Error` the codec uses.
    #[derive(Debug, Clone)]
    pub enum Error {
        Protocol(Arc<str>),
        Compression(Arc<str>),
        RecordFormat(Arc<str>),
    }

    impl Error {
        pub(crate) fn protocol(msg: impl fmt::Display) -> Error {
            Error::Protocol(msg.to_string().into())
        }
    }

    impl fmt::Display for Error {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            match self {
                Error::Protocol(m) | Error::Compression(m) | Error::RecordFormat(m) => {
                    f.write_str(m)
                }
            }
        }
    }

    pub type Result<T, E = Error> = std::result::Result<T, E>;
}

#[path = "../src/protocol/compression/mod.rs"]
mod compression;
// The codec is compiled here without the rest of the crate: what only the
// crate uses looks unused.
#[allow(dead_code, unused_imports)]
#[path = "../src/protocol/record_batch/mod.rs"]
mod record_batch;

/// The crate's module layout, for the codec's `crate::protocol::...` paths.
mod protocol {
    pub(crate) use crate::{compression, record_batch};
}

use protocol::compression::Codec;
use protocol::record_batch::{decode_batches, write_batch, BatchHeader, RecordsBuf};

/// No headers (`&[]` alone leaves the header type unknown).
const NO_HEADERS: &[(&str, Option<&[u8]>)] = &[];

/// Records per batch.
const RECORDS: usize = 1_000;
/// Bytes per value.
const VALUE_LEN: usize = 100;
/// Every codec, in the order reported.
const CODECS: [Codec; 5] = [
    Codec::None,
    Codec::Gzip,
    Codec::Snappy,
    Codec::Lz4,
    Codec::Zstd,
];

/// 100-byte values: a record number and pseudo-random letters from a
/// 16-letter alphabet, so they compress about as well as typical text
/// (roughly 2:1), neither all zeros nor incompressible.
fn values() -> Vec<Vec<u8>> {
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    (0..RECORDS)
        .map(|i| {
            let mut v = format!("record-{i:08}-").into_bytes();
            while v.len() < VALUE_LEN {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                v.push(b'a' + (x % 16) as u8);
            }
            v
        })
        .collect()
}

/// A full open batch: 1,000 records, timestamps a millisecond apart.
fn records(values: &[Vec<u8>]) -> RecordsBuf {
    let mut buf = RecordsBuf::new(RECORDS * (VALUE_LEN + 16));
    for (i, v) in values.iter().enumerate() {
        buf.append(1_700_000_000_000 + i as i64, None, Some(v), NO_HEADERS);
    }
    buf
}

/// An idempotent producer's header.
fn header() -> BatchHeader {
    BatchHeader {
        producer_id: 1000,
        producer_epoch: 0,
        base_sequence: 0,
        transactional: false,
        partition_leader_epoch: -1,
    }
}

fn bench_append(c: &mut Criterion) {
    let values = values();
    let mut buf = RecordsBuf::new(RECORDS * (VALUE_LEN + 16));
    let mut g = c.benchmark_group("append");
    g.throughput(Throughput::Elements(RECORDS as u64));
    g.bench_function("100B_value", |b| {
        b.iter(|| {
            buf.clear();
            for (i, v) in values.iter().enumerate() {
                buf.append(
                    1_700_000_000_000 + i as i64,
                    None,
                    Some(black_box(v)),
                    NO_HEADERS,
                );
            }
            black_box(buf.len())
        })
    });
    let headers: [(&str, Option<&[u8]>); 2] = [
        ("trace-id", Some(b"0123456789abcdef")),
        ("type", Some(b"order")),
    ];
    g.bench_function("100B_value_key_2_headers", |b| {
        b.iter(|| {
            buf.clear();
            for (i, v) in values.iter().enumerate() {
                let key = &v[..15];
                buf.append(
                    1_700_000_000_000 + i as i64,
                    Some(key),
                    Some(black_box(v)),
                    &headers,
                );
            }
            black_box(buf.len())
        })
    });
    g.finish();
}

fn bench_encode(c: &mut Criterion) {
    let values = values();
    let buf = records(&values);
    let (mut scratch, mut out) = (Vec::new(), Vec::new());
    let mut g = c.benchmark_group("encode_1000x100B");
    g.throughput(Throughput::Elements(RECORDS as u64));
    for codec in CODECS {
        g.bench_with_input(
            BenchmarkId::from_parameter(codec.name()),
            &codec,
            |b, &codec| {
                b.iter(|| {
                    out.clear();
                    let w = write_batch(&buf, &header(), codec, None, &mut scratch, &mut out);
                    black_box(w.map(|w| w.len).unwrap_or(0))
                })
            },
        );
    }
    g.finish();
}

fn bench_decode(c: &mut Criterion) {
    let values = values();
    let buf = records(&values);
    let mut g = c.benchmark_group("decode_1000x100B");
    g.throughput(Throughput::Elements(RECORDS as u64));
    for codec in CODECS {
        let mut out = Vec::new();
        let w = write_batch(&buf, &header(), codec, None, &mut Vec::new(), &mut out);
        assert_eq!(
            w.map(|w| w.codec_used).ok(),
            Some(codec),
            "{codec} must compress these values"
        );
        let data = Bytes::from(out);
        g.bench_with_input(
            BenchmarkId::from_parameter(codec.name()),
            &data,
            |b, data| {
                b.iter(|| {
                    let mut budget = usize::MAX;
                    let out = decode_batches(data, &mut budget);
                    black_box(out.batches.len())
                })
            },
        );
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30);
    targets = bench_append, bench_encode, bench_decode
}
criterion_main!(benches);
