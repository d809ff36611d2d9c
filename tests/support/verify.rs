//! Record generation and exactly-once / order checks for producer tests.

use std::collections::HashMap;

use bytes::Bytes;
use kafka_sync::Record;

/// Record number `i`: key `key-<i % keys>`, a `size`-byte value starting with
/// the zero-padded number, one header, and a timestamp derived from `i`.
pub fn record(topic: &str, i: u64, size: usize, keys: u64) -> Record {
    let mut v = format!("{i:020}").into_bytes();
    v.resize(size.max(20), b'x');
    Record::from_key_value(Bytes::from(format!("key-{}", i % keys)), Bytes::from(v))
        .with_topic(topic)
        .with_header("seq", Some(Bytes::from(i.to_string())))
        .with_timestamp(1_700_000_000_000 + i as i64)
}

/// The record number in a value written by [`record`].
pub fn seq_of(value: &[u8]) -> u64 {
    std::str::from_utf8(&value[..20]).unwrap().parse().unwrap()
}

/// Decodes raw batches with kafka-protocol's decoder (independent of ours)
/// and checks every record against [`record`]'s recipe. Returns the sequence
/// numbers in log order.
pub fn decode_and_check(batches: &[Bytes], size: usize, keys: u64) -> Vec<u64> {
    let mut out = Vec::new();
    let mut last_offset = -1;
    for b in batches {
        let mut buf = b.clone();
        for set in super::kp_codec::decode_all(&mut buf).unwrap() {
            for r in set.records {
                assert!(r.offset > last_offset, "offsets increase");
                last_offset = r.offset;
                let value = r.value.unwrap();
                let i = seq_of(&value);
                assert_eq!(value.len(), size.max(20));
                assert_eq!(
                    r.key.as_deref(),
                    Some(format!("key-{}", i % keys).as_bytes()),
                    "key of {i}"
                );
                assert_eq!(
                    r.timestamp,
                    1_700_000_000_000 + i as i64,
                    "timestamp of {i}"
                );
                let h: Vec<_> = r.headers.iter().collect();
                assert_eq!(h.len(), 1);
                assert_eq!(h[0].0.as_str(), "seq");
                assert_eq!(h[0].1.as_deref(), Some(i.to_string().as_bytes()));
                out.push(i);
            }
        }
    }
    out
}

/// Every number in `0..total` exactly once overall, increasing within each partition.
pub fn check_exactly_once_in_order(per_partition: &HashMap<i32, Vec<u64>>, total: u64) {
    let mut seen = vec![false; total as usize];
    let mut n = 0u64;
    for (p, seqs) in per_partition {
        for w in seqs.windows(2) {
            assert!(
                w[0] < w[1],
                "partition {p}: {} then {} (out of order or duplicated)",
                w[0],
                w[1]
            );
        }
        for s in seqs {
            assert!(*s < total, "unexpected record {s}");
            assert!(!seen[*s as usize], "record {s} duplicated");
            seen[*s as usize] = true;
            n += 1;
        }
    }
    let missing: Vec<usize> = seen
        .iter()
        .enumerate()
        .filter(|(_, s)| !**s)
        .map(|(i, _)| i)
        .take(10)
        .collect();
    assert!(
        missing.is_empty(),
        "lost records, first few: {missing:?} ({} of {total} present)",
        n
    );
    assert_eq!(n, total);
}
