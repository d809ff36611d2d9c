//! Reading legacy message sets (magic 0 and 1), which brokers still return
//! for data written before Kafka 0.11 (Java `LegacyRecord`,
//! `AbstractLegacyRecordBatch`).
//!
//! ```text
//! offset i64, size i32, crc u32 (CRC-32 IEEE over magic..end), magic i8,
//! attributes i8 (bits 0-2 codec, bit 3 log append time in v1),
//! [timestamp i64, v1 only], key (i32 length, -1 null), value (same)
//! ```
//!
//! A compressed message is a wrapper whose value is an inner message set. In
//! v1 the inner offsets are relative (0, 1, ...) and the wrapper's offset is
//! the last inner record's absolute offset; in v0 the inner offsets are
//! absolute. Each top-level message becomes one [`DecodedBatch`].

use std::mem::size_of;

use bytes::Bytes;

use super::decode::{batch_error, slice, Budget, DecodedBatch, DecodedRecord, Fail};
use super::{Reader, TimestampType, LOG_OVERHEAD};
use crate::protocol::compression::Codec;

/// The smallest v0 message after its offset and size: crc, magic,
/// attributes, key length and value length.
pub(super) const MIN_MESSAGE_LEN: usize = 14;
/// Attribute bit (v1): the timestamp is log append time.
const LOG_APPEND_TIME: i8 = 0x08;
/// Bytes before a message's CRC-covered part (offset, size, crc).
const CRC_START: usize = 16;

/// One parsed message (top-level or inner).
struct Message {
    /// The offset field (relative inside a v1 wrapper).
    offset: i64,
    /// 0 or 1.
    magic: i8,
    /// The attribute byte.
    attributes: i8,
    /// The timestamp (-1 in v0).
    timestamp: i64,
    /// The key's range in its buffer.
    key: Option<std::ops::Range<usize>>,
    /// The value's range in its buffer.
    value: Option<std::ops::Range<usize>>,
}

impl Message {
    /// The codec in the attributes; zstd and 5-7 are invalid before magic 2.
    fn codec(&self) -> Result<Codec, String> {
        match Codec::from_attributes(i16::from(self.attributes)) {
            Ok(Codec::Zstd) | Err(_) => Err(format!(
                "compression codec {} is not valid in a magic {} message",
                self.attributes & 0x07,
                self.magic
            )),
            Ok(codec) => Ok(codec),
        }
    }
}

/// Parses and CRC-checks the message at `buf[start..end]` (offset and size
/// included; `end` is where its size says it ends).
fn parse(buf: &[u8], start: usize, end: usize) -> Result<Message, String> {
    let mut r = Reader::new(buf, start, end);
    let offset = r.i64()?;
    r.take(4)?; // size: the caller derived `end` from it
    let crc = r.u32()?;
    let mut computed = flate2::Crc::new();
    computed.update(buf.get(start + CRC_START..end).unwrap_or_default());
    if crc != computed.sum() {
        return Err(format!(
            "message CRC mismatch (stored {crc:#010x}, computed {:#010x})",
            computed.sum()
        ));
    }
    let magic = r.i8()?;
    if !(0..=1).contains(&magic) {
        return Err(format!("unknown magic byte {magic} in a message set"));
    }
    let attributes = r.i8()?;
    let timestamp = if magic == 1 { r.i64()? } else { -1 };
    let key = r.i32_bytes()?;
    let value = r.i32_bytes()?;
    if r.remaining() != 0 {
        return Err("message size does not match its fields".into());
    }
    Ok(Message {
        offset,
        magic,
        attributes,
        timestamp,
        key,
        value,
    })
}

/// Decodes the top-level message at `data[start..end]` into a batch.
pub(super) fn decode_message(
    data: &Bytes,
    start: usize,
    end: usize,
    budget: &mut Budget,
) -> Result<DecodedBatch, Fail> {
    let base = Reader::new(data, start, end).i64().unwrap_or(-1);
    let bad = |what: String| Fail::Corrupt(batch_error(base, what));
    let wrapper = parse(data, start, end).map_err(bad)?;
    let codec = wrapper.codec().map_err(bad)?;
    let log_append = wrapper.magic == 1 && wrapper.attributes & LOG_APPEND_TIME != 0;
    let (records, uncompressed_len) = if codec == Codec::None {
        budget.charge(size_of::<DecodedRecord>(), base)?;
        let record = DecodedRecord {
            offset: wrapper.offset,
            timestamp: wrapper.timestamp,
            key: wrapper.key.map(|k| slice(data, k)),
            value: wrapper.value.map(|v| slice(data, v)),
            headers: Vec::new(),
        };
        (vec![record], end - start - LOG_OVERHEAD)
    } else {
        let wrapper_ts = log_append.then_some(wrapper.timestamp);
        decode_wrapped(data, &wrapper, codec, wrapper_ts, base, budget)?
    };
    let first = records
        .first()
        .map_or((wrapper.offset, -1), |r| (r.offset, r.timestamp));
    let last_offset = records.last().map_or(wrapper.offset, |r| r.offset);
    let max_timestamp = records.iter().map(|r| r.timestamp).max().unwrap_or(-1);
    Ok(DecodedBatch {
        base_offset: first.0,
        partition_leader_epoch: -1,
        magic: wrapper.magic,
        attributes: i16::from(wrapper.attributes),
        codec,
        last_offset_delta: i32::try_from(last_offset.wrapping_sub(first.0)).unwrap_or(i32::MAX),
        first_timestamp: first.1,
        max_timestamp,
        producer_id: -1,
        producer_epoch: -1,
        base_sequence: -1,
        is_transactional: false,
        is_control: false,
        timestamp_type: if log_append {
            TimestampType::LogAppendTime
        } else {
            TimestampType::CreateTime
        },
        records,
        encoded_len: end - start,
        uncompressed_len,
        charged: budget.charged,
    })
}

/// Decompresses a wrapper message's value and decodes the inner messages,
/// with absolute offsets. Returns them and the decompressed size.
/// `wrapper_ts` replaces every inner timestamp (log append time).
fn decode_wrapped(
    data: &Bytes,
    wrapper: &Message,
    codec: Codec,
    wrapper_ts: Option<i64>,
    base: i64,
    budget: &mut Budget,
) -> Result<(Vec<DecodedRecord>, usize), Fail> {
    let bad = |what: String| Fail::Corrupt(batch_error(base, what));
    let value = wrapper
        .value
        .clone()
        .ok_or_else(|| bad("compressed message has a null value".into()))?;
    let inner = budget.decompress(codec, data.get(value).unwrap_or_default(), base)?;
    let mut records = decode_inner(&inner, wrapper_ts, base, budget)?;
    let Some(last) = records.last().map(|r| r.offset) else {
        return Err(bad("compressed message holds no messages".into()));
    };
    if wrapper.magic >= 1 {
        // Java AbstractLegacyRecordBatch.DeepRecordsIterator: the
        // wrapper carries the last inner record's absolute offset.
        let shift = wrapper.offset.wrapping_sub(last);
        for r in &mut records {
            r.offset = r.offset.wrapping_add(shift);
        }
    }
    Ok((records, inner.len()))
}

/// Decodes the uncompressed message set `inner` (a wrapper's value), with
/// offsets as stored.
fn decode_inner(
    inner: &Bytes,
    wrapper_ts: Option<i64>,
    base: i64,
    budget: &mut Budget,
) -> Result<Vec<DecodedRecord>, Fail> {
    let bad = |what: String| Fail::Corrupt(batch_error(base, what));
    let mut records = Vec::new();
    let mut pos = 0;
    while pos < inner.len() {
        let mut r = Reader::new(inner, pos, inner.len());
        let (Ok(_), Ok(size)) = (r.i64(), r.i32()) else {
            return Err(bad("truncated inner message".into()));
        };
        if size < MIN_MESSAGE_LEN as i32 {
            return Err(bad(format!(
                "inner message size {size} is below the minimum"
            )));
        }
        let msg_end = pos + LOG_OVERHEAD + size as usize;
        if msg_end > inner.len() {
            return Err(bad("truncated inner message".into()));
        }
        let m = parse(inner, pos, msg_end).map_err(|e| bad(format!("inner message: {e}")))?;
        if m.codec().map_err(bad)? != Codec::None {
            return Err(bad("nested compressed message".into()));
        }
        budget.charge(size_of::<DecodedRecord>(), base)?;
        records.push(DecodedRecord {
            offset: m.offset,
            timestamp: wrapper_ts.unwrap_or(m.timestamp),
            key: m.key.map(|k| slice(inner, k)),
            value: m.value.map(|v| slice(inner, v)),
            headers: Vec::new(),
        });
        pos = msg_end;
    }
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::super::decode_batches;
    use super::*;
    use crate::error::Error;
    use std::io::Write;

    /// Builds one legacy message, as a 0.10 Java producer would.
    fn message(
        offset: i64,
        magic: i8,
        attributes: i8,
        ts: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
    ) -> Vec<u8> {
        let mut body = vec![magic as u8, attributes as u8];
        if magic == 1 {
            body.extend_from_slice(&ts.to_be_bytes());
        }
        for f in [key, value] {
            match f {
                Some(b) => {
                    body.extend_from_slice(&(b.len() as i32).to_be_bytes());
                    body.extend_from_slice(b);
                }
                None => body.extend_from_slice(&(-1i32).to_be_bytes()),
            }
        }
        let mut crc = flate2::Crc::new();
        crc.update(&body);
        let mut m = offset.to_be_bytes().to_vec();
        m.extend_from_slice(&(body.len() as i32 + 4).to_be_bytes());
        m.extend_from_slice(&crc.sum().to_be_bytes());
        m.extend_from_slice(&body);
        m
    }

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn decode(data: Vec<u8>) -> super::super::DecodeOutput {
        decode_batches(&Bytes::from(data), &mut usize::MAX.clone())
    }

    #[test]
    fn uncompressed_v0_and_v1() {
        let data = [
            message(5, 0, 0, 0, Some(b"k0"), Some(b"v0")),
            message(6, 1, 0, 1234, None, Some(b"v1")),
            message(7, 1, LOG_APPEND_TIME, 999, Some(b"k2"), None),
        ]
        .concat();
        let out = decode(data);
        assert!(out.error.is_none(), "{:?}", out.error);
        let b: Vec<_> = out
            .batches
            .iter()
            .map(|b| {
                (
                    b.magic,
                    b.base_offset,
                    b.last_offset_delta,
                    b.timestamp_type,
                )
            })
            .collect();
        assert_eq!(
            b,
            [
                (0, 5, 0, TimestampType::CreateTime),
                (1, 6, 0, TimestampType::CreateTime),
                (1, 7, 0, TimestampType::LogAppendTime)
            ]
        );
        let r: Vec<_> = out.batches.iter().map(|b| &b.records[0]).collect();
        assert_eq!(
            (
                r[0].offset,
                r[0].timestamp,
                r[0].key.as_deref(),
                r[0].value.as_deref()
            ),
            (5, -1, Some(&b"k0"[..]), Some(&b"v0"[..]))
        );
        assert_eq!(
            (r[1].offset, r[1].timestamp, r[1].key.as_deref()),
            (6, 1234, None)
        );
        assert_eq!((r[2].timestamp, r[2].value.as_deref()), (999, None));
    }

    #[test]
    fn gzip_wrapper_v1_has_relative_inner_offsets() {
        let inner = [
            message(0, 1, 0, 100, Some(b"a"), Some(b"1")),
            message(1, 1, 0, 300, None, Some(b"2")),
            message(2, 1, 0, 200, Some(b"c"), None),
        ]
        .concat();
        let wrapper = message(42, 1, 1, 777, None, Some(&gzip(&inner)));
        let out = decode([wrapper.clone(), message(43, 1, 0, 5, None, None)].concat());
        assert!(out.error.is_none(), "{:?}", out.error);
        let b = &out.batches[0];
        assert_eq!(
            (b.codec, b.base_offset, b.last_offset_delta, b.last_offset()),
            (Codec::Gzip, 40, 2, 42)
        );
        assert_eq!((b.first_timestamp, b.max_timestamp), (100, 300));
        let offsets: Vec<_> = b.records.iter().map(|r| (r.offset, r.timestamp)).collect();
        assert_eq!(offsets, [(40, 100), (41, 300), (42, 200)]);
        assert_eq!(b.records[1].value.as_deref(), Some(&b"2"[..]));
        assert_eq!(b.uncompressed_len, inner.len());
        assert_eq!(out.batches[1].base_offset, 43);

        // Log append time on the wrapper overrides the inner timestamps.
        let wrapper = message(42, 1, 1 | LOG_APPEND_TIME, 777, None, Some(&gzip(&inner)));
        let out = decode(wrapper);
        assert!(out.batches[0].records.iter().all(|r| r.timestamp == 777));
    }

    #[test]
    fn v0_wrappers_keep_absolute_offsets() {
        let inner = [
            message(10, 0, 0, 0, None, Some(b"x")),
            message(11, 0, 0, 0, None, Some(b"y")),
        ]
        .concat();
        // Snappy as the 0.8 Java client wrote it (xerial framing), and lz4
        // with the header checksum Kafka got wrong for magic 0.
        let snappy_block = snap::raw::Encoder::new().compress_vec(&inner).unwrap();
        let mut xerial = b"\x82SNAPPY\x00\x00\x00\x00\x01\x00\x00\x00\x01".to_vec();
        xerial.extend_from_slice(&(snappy_block.len() as u32).to_be_bytes());
        xerial.extend_from_slice(&snappy_block);
        let mut lz4 = Vec::new();
        crate::protocol::compression::compress(Codec::Lz4, None, &inner, &mut lz4).unwrap();
        lz4[6] ^= 0x5a;
        for (attrs, value) in [(1, gzip(&inner)), (2, xerial), (3, lz4)] {
            let out = decode(message(11, 0, attrs, 0, None, Some(&value)));
            assert!(out.error.is_none(), "{attrs}: {:?}", out.error);
            let offsets: Vec<_> = out.batches[0]
                .records
                .iter()
                .map(|r| (r.offset, r.timestamp))
                .collect();
            assert_eq!(offsets, [(10, -1), (11, -1)], "{attrs}");
        }
    }

    #[test]
    fn corrupt_messages_are_errors() {
        let good = message(1, 1, 0, 1, Some(b"k"), Some(b"v"));
        let mut crc = good.clone();
        let last = crc.len() - 1;
        crc[last] ^= 1;
        let nested = message(
            9,
            1,
            1,
            0,
            None,
            Some(&gzip(&message(0, 1, 1, 0, None, Some(&gzip(&good))))),
        );
        let cases = [
            (crc, "CRC mismatch"),
            (
                message(1, 1, 4, 0, None, Some(b"x")),
                "not valid in a magic 1",
            ),
            (message(1, 1, 1, 0, None, None), "null value"),
            (message(1, 1, 1, 0, None, Some(&gzip(b""))), "no messages"),
            (
                message(1, 1, 1, 0, None, Some(&gzip(&good[..good.len() - 3]))),
                "truncated inner",
            ),
            (nested, "nested"),
            (
                message(1, 1, 2, 0, None, Some(b"not snappy")),
                "corrupt snappy",
            ),
        ];
        for (data, what) in cases {
            let out = decode([good.clone(), data].concat());
            assert_eq!(out.batches.len(), 1, "{what}");
            match out.error {
                Some(e @ (Error::Protocol(_) | Error::Compression(_))) => {
                    assert!(e.to_string().contains(what), "{e} lacks {what}")
                }
                other => panic!("{what}: {other:?}"),
            }
        }
    }

    #[test]
    fn wrapper_bomb_is_cut_at_the_budget() {
        let inner = message(0, 1, 0, 0, None, Some(&vec![0; 1 << 20]));
        let mut budget = 256 << 10;
        let out = decode_batches(
            &Bytes::from(message(0, 1, 1, 0, None, Some(&gzip(&inner)))),
            &mut budget,
        );
        assert!(out.over_budget && out.batches.is_empty());
        assert_eq!(budget, 256 << 10);
    }
}
