//! Producing test data with the crate's producer and consuming it back with
//! the crate's consumer, checking every field against `verify::record`.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kafka_sync::{Client, Error, Record};

use super::verify::{record, seq_of};

pub const SIZE: usize = 100;
pub const KEYS: u64 = 997;

/// Produces records `range` to `topic` and waits until all are acknowledged.
pub fn produce(c: &Client, topic: &str, range: std::ops::Range<u64>) {
    let failed = Arc::new(Mutex::new(Vec::new()));
    for i in range {
        let f = failed.clone();
        c.produce(record(topic, i, SIZE, KEYS), move |_, res| {
            if let Err(e) = res {
                f.lock().unwrap().push(e);
            }
        });
    }
    c.flush().unwrap();
    assert!(
        failed.lock().unwrap().is_empty(),
        "produce failed: {:?}",
        failed.lock().unwrap()
    );
}

/// Produces `range` so that tansu resolves exact offsets right: all but the
/// last 60 records in bulk, then 60 one at a time, so the last batch of
/// every partition (with near certainty) holds one record. tansu's
/// ListOffsets LATEST is the last batch's base offset + 1, not the high
/// watermark (test-broker.md, item 2), and a consumer clamps an exact
/// offset to it.
pub fn produce_tansu_safe(c: &Client, topic: &str, range: std::ops::Range<u64>) {
    let tail = range.end.saturating_sub(60).max(range.start);
    produce(c, topic, range.start..tail);
    for i in tail..range.end {
        let r = record(topic, i, SIZE, KEYS);
        let res = c.produce_sync([r]);
        assert!(res.first().is_ok(), "produce {i}: {:?}", res.first_err());
    }
}

/// Checks one consumed record against the recipe; returns its number.
pub fn check_record(r: &Record) -> u64 {
    let value = r.value.as_deref().expect("value");
    let i = seq_of(value);
    assert_eq!(value.len(), SIZE.max(20));
    assert_eq!(
        r.key.as_deref(),
        Some(format!("key-{}", i % KEYS).as_bytes())
    );
    assert_eq!(
        r.timestamp,
        1_700_000_000_000 + i as i64,
        "timestamp of {i}"
    );
    assert_eq!(r.headers.len(), 1);
    assert_eq!(r.headers[0].key, "seq");
    assert_eq!(
        r.headers[0].value.as_deref(),
        Some(i.to_string().as_bytes())
    );
    i
}

/// Consumed records by partition: (offset, record number).
pub type Consumed = HashMap<i32, Vec<(i64, u64)>>;

/// Polls until `want` records arrived (or `timeout`), failing on any
/// partition error that `allow` rejects. Returns the records and the errors seen.
pub fn consume(
    c: &Client,
    want: usize,
    timeout: Duration,
    mut allow: impl FnMut(&Error) -> bool,
) -> (Consumed, Vec<Error>) {
    let end = Instant::now() + timeout;
    let mut out: Consumed = HashMap::new();
    let mut n = 0;
    let mut errors = Vec::new();
    while n < want && Instant::now() < end {
        let fs = c.poll_fetches_deadline(end);
        fs.each_error(|t, p, e| {
            assert!(allow(e), "unexpected fetch error on {t}/{p}: {e}");
            errors.push(e.clone());
        });
        for r in fs.record_iter() {
            let i = check_record(r);
            out.entry(r.partition).or_default().push((r.offset, i));
            n += 1;
        }
    }
    (out, errors)
}

/// Every record of `expected` exactly once; offsets and numbers increase
/// within each partition.
pub fn check_exactly(consumed: &Consumed, expected: &BTreeSet<u64>) {
    let mut seen = BTreeSet::new();
    for (p, v) in consumed {
        for w in v.windows(2) {
            assert!(
                w[0].0 < w[1].0,
                "partition {p}: offset {} then {}",
                w[0].0,
                w[1].0
            );
            assert!(
                w[0].1 < w[1].1,
                "partition {p}: record {} then {}",
                w[0].1,
                w[1].1
            );
        }
        for (_, i) in v {
            assert!(seen.insert(*i), "record {i} consumed twice");
        }
    }
    let missing: Vec<_> = expected.difference(&seen).take(10).collect();
    let extra: Vec<_> = seen.difference(expected).take(10).collect();
    assert!(
        missing.is_empty(),
        "missing records, first few: {missing:?} ({} of {})",
        seen.len(),
        expected.len()
    );
    assert!(extra.is_empty(), "unexpected records, first few: {extra:?}");
}
