//! Writing legacy message sets (magic 0 and 1) for brokers whose newest
//! Produce version is below 3 (Kafka 0.10.2 and older), as Java's
//! `MemoryRecordsBuilder` and `LegacyRecord` write them.
//!
//! ```text
//! offset i64, size i32, crc u32 (CRC-32 IEEE over magic..end), magic i8,
//! attributes i8 (bits 0-2 codec), [timestamp i64, magic 1 only],
//! key (i32 length, -1 null), value (same)
//! ```
//!
//! Records are numbered 0..n-1 (the broker assigns the real offsets). With a
//! codec, the whole set is compressed into the value of one wrapper message
//! whose offset is the last inner offset and whose timestamp (magic 1) is the
//! largest inner one, as `MemoryRecordsBuilder.writeLegacyCompressedWrapperHeader`
//! writes it; in magic 1 the inner offsets are relative to the wrapper's
//! base, which for a producer's set (base 0) is the same 0..n-1 as magic 0's
//! absolute offsets. The old formats have no headers: a record with headers
//! is an error, as Java's `MemoryRecordsBuilder.appendWithOffset` ("Magic v1
//! does not support record headers").
//!
//! This is the rare path (the sink uses it only when the negotiated Produce
//! version needs it), so it favours plainness over avoiding copies.

use bytes::Bytes;

use super::encode::RecordsBuf;
use super::{Reader, LOG_OVERHEAD};
use crate::error::{Error, Result};
use crate::protocol::compression::{self, Codec};

/// Bytes of a message before its key: crc, magic, attributes (and the
/// timestamp in magic 1).
fn message_overhead(magic: i8) -> usize {
    if magic == 0 {
        6
    } else {
        14
    }
}

/// The lz4 frame descriptor our codec writes (FLG, BD, header checksum).
const LZ4_DESCRIPTOR: [u8; 3] = [0x60, 0x40, 0x82];
/// The header checksum Kafka wrote for magic 0 (KAFKA-3160): xxh32 over the
/// frame magic too, (xxh32(04 22 4d 18 60 40) >> 8) & 0xff. Java's
/// `KafkaLZ4BlockOutputStream(useBrokenFlagDescriptorChecksum)` writes it
/// for magic 0, and Kafka 0.8-0.9 brokers check it.
const LZ4_BROKEN_CHECKSUM: u8 = 0x1a;

/// One record as the old formats can carry it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LegacyRecord<'a> {
    /// The create time in ms (dropped by magic 0).
    pub(crate) timestamp: i64,
    pub(crate) key: Option<&'a [u8]>,
    pub(crate) value: Option<&'a [u8]>,
}

/// The Produce version's message format (Java
/// `ProduceRequest.requiredMagicForVersion`): v0-1 magic 0, v2 magic 1,
/// v3+ record batch v2.
pub(crate) fn magic_for_produce(version: i16) -> i8 {
    match version {
        ..=1 => 0,
        2 => 1,
        _ => 2,
    }
}

/// The error for a record with headers in a format without them.
pub(crate) fn headers_unsupported(magic: i8) -> Error {
    Error::RecordFormat(
        format!(
            "magic v{magic} does not support record headers; the broker only speaks the \
             Kafka 0.10 (or older) message format: drop the headers or upgrade the broker"
        )
        .into(),
    )
}

/// Appends one message to `out`.
fn put_message(
    out: &mut Vec<u8>,
    offset: i64,
    magic: i8,
    attributes: i8,
    timestamp: i64,
    key: Option<&[u8]>,
    value: Option<&[u8]>,
) -> Result<()> {
    let body =
        message_overhead(magic) + key.map_or(0, <[u8]>::len) + value.map_or(0, <[u8]>::len) + 8; // key and value lengths
    let Ok(size) = i32::try_from(body) else {
        return Err(Error::protocol(format!(
            "message of {body} bytes is too large"
        )));
    };
    out.reserve(LOG_OVERHEAD + body);
    out.extend_from_slice(&offset.to_be_bytes());
    out.extend_from_slice(&size.to_be_bytes());
    let crc_at = out.len();
    out.extend_from_slice(&[0; 4]);
    out.push(magic as u8);
    out.push(attributes as u8);
    if magic == 1 {
        out.extend_from_slice(&timestamp.to_be_bytes());
    }
    for field in [key, value] {
        match field {
            Some(b) => {
                // Bounded by `size` above.
                out.extend_from_slice(&(b.len() as i32).to_be_bytes());
                out.extend_from_slice(b);
            }
            None => out.extend_from_slice(&(-1i32).to_be_bytes()),
        }
    }
    let mut crc = flate2::Crc::new();
    crc.update(out.get(crc_at + 4..).unwrap_or_default());
    out[crc_at..crc_at + 4].copy_from_slice(&crc.sum().to_be_bytes());
    Ok(())
}

/// What [`write_message_set`] wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct WrittenSet {
    /// The codec used: [`Codec::None`] when compressing did not shrink it.
    pub(crate) codec_used: Codec,
    /// The size of the uncompressed message set.
    pub(crate) uncompressed_len: usize,
}

/// Appends a message set of `records` (at least one) in `magic` 0 or 1 to
/// `out`, compressed into a wrapper message with `codec` when that is
/// smaller (`scratch` holds the inner set; keep it to reuse its capacity).
///
/// # Errors
///
/// [`Error::RecordFormat`] for zstd (magic 2 only, KIP-110) or a record the
/// iterator failed (headers), [`Error::Compression`] if the codec fails,
/// [`Error::Protocol`] for no records or an oversized message; `out` is
/// unchanged then.
pub(crate) fn write_message_set<'a, I>(
    records: I,
    magic: i8,
    codec: Codec,
    level: Option<i32>,
    scratch: &mut Vec<u8>,
    out: &mut Vec<u8>,
) -> Result<WrittenSet>
where
    I: IntoIterator<Item = Result<LegacyRecord<'a>>>,
{
    if !(0..=1).contains(&magic) {
        return Err(Error::protocol(format!("no message set of magic {magic}")));
    }
    if codec == Codec::Zstd {
        return Err(Error::RecordFormat(
            "zstd needs the v2 record format (Kafka 2.1+, KIP-110)".into(),
        ));
    }
    scratch.clear();
    let (mut last, mut max_ts) = (-1i64, -1i64);
    for r in records {
        let r = r?;
        last += 1;
        max_ts = max_ts.max(r.timestamp);
        put_message(scratch, last, magic, 0, r.timestamp, r.key, r.value)?;
    }
    if last < 0 {
        return Err(Error::protocol("cannot write an empty message set"));
    }
    let uncompressed_len = scratch.len();
    if codec != Codec::None {
        let mut compressed = Vec::new();
        compression::compress(codec, level, scratch, &mut compressed)?;
        if codec == Codec::Lz4 && magic == 0 && compressed.get(4..7) == Some(&LZ4_DESCRIPTOR[..]) {
            compressed[6] = LZ4_BROKEN_CHECKSUM;
        }
        if compressed.len() < uncompressed_len {
            let attrs = codec.attribute_bits() as i8;
            let start = out.len();
            if let Err(e) = put_message(out, last, magic, attrs, max_ts, None, Some(&compressed)) {
                out.truncate(start);
                return Err(e);
            }
            return Ok(WrittenSet {
                codec_used: codec,
                uncompressed_len,
            });
        }
    }
    out.extend_from_slice(scratch);
    Ok(WrittenSet {
        codec_used: Codec::None,
        uncompressed_len,
    })
}

/// The records of a [`RecordsBuf`] (our own v2 encoding) as the old formats
/// carry them; a record with headers yields [`headers_unsupported`].
pub(crate) fn records_of(
    buf: &RecordsBuf,
    magic: i8,
) -> impl Iterator<Item = Result<LegacyRecord<'_>>> {
    let bytes = buf.as_bytes();
    let first_ts = buf.first_timestamp();
    let mut r = Reader::new(bytes, 0, bytes.len());
    let mut failed = false;
    std::iter::from_fn(move || {
        if failed || r.remaining() == 0 {
            return None;
        }
        let rec = next_record(bytes, &mut r, first_ts, magic);
        failed = rec.is_err();
        Some(rec)
    })
}

/// Parses the next v2 record of a records section.
fn next_record<'a>(
    bytes: &'a [u8],
    r: &mut Reader<'a>,
    first_ts: i64,
    magic: i8,
) -> Result<LegacyRecord<'a>> {
    let bad = |e: &str| Error::protocol(format!("internal: unreadable buffered record: {e}"));
    let len = r.varint().map_err(bad)?;
    let Ok(len) = usize::try_from(len) else {
        return Err(bad("negative length"));
    };
    let body = r.take(len).map_err(bad)?;
    let mut rr = Reader::new(bytes, body.start, body.end);
    rr.i8().map_err(bad)?; // attributes
    let ts_delta = rr.varlong().map_err(bad)?;
    rr.varint().map_err(bad)?; // offset delta: records are in order
    let key = rr.varint_bytes().map_err(bad)?;
    let value = rr.varint_bytes().map_err(bad)?;
    if rr.varint().map_err(bad)? != 0 {
        return Err(headers_unsupported(magic));
    }
    Ok(LegacyRecord {
        timestamp: first_ts.wrapping_add(ts_delta),
        key: key.and_then(|k| bytes.get(k)),
        value: value.and_then(|v| bytes.get(v)),
    })
}

/// Re-encodes an already sealed v2 batch (`header` then `records`) as a
/// message set, for a batch whose partition moved to a broker that speaks
/// only the old formats.
pub(crate) fn from_v2_batch(
    header: &[u8],
    records: &[u8],
    magic: i8,
    codec: Codec,
    level: Option<i32>,
    scratch: &mut Vec<u8>,
) -> Result<(Bytes, WrittenSet)> {
    let whole = Bytes::from([header, records].concat());
    let mut budget = usize::MAX;
    let decoded = super::decode_batches(&whole, &mut budget);
    if let Some(e) = decoded.error {
        return Err(e);
    }
    let recs = decoded.batches.iter().flat_map(|b| b.records.iter());
    let items = recs.map(|r| {
        if r.headers.is_empty() {
            Ok(LegacyRecord {
                timestamp: r.timestamp,
                key: r.key.as_deref(),
                value: r.value.as_deref(),
            })
        } else {
            Err(headers_unsupported(magic))
        }
    });
    let mut out = Vec::new();
    let w = write_message_set(items, magic, codec, level, scratch, &mut out)?;
    Ok((Bytes::from(out), w))
}

#[cfg(test)]
mod tests {
    use super::super::encode::NO_HEADERS;
    use super::*;

    /// A record to buffer: timestamp, key, value.
    type Rec = (i64, Option<&'static [u8]>, Option<&'static [u8]>);

    fn buf(records: &[Rec]) -> RecordsBuf {
        let mut b = RecordsBuf::new(256);
        for (ts, k, v) in records {
            b.append(*ts, *k, *v, NO_HEADERS);
        }
        b
    }

    const RECORDS: [Rec; 3] = [
        (1_700_000_000_000, Some(b"k0"), Some(b"v0")),
        (1_700_000_000_005, None, Some(b"value-1")),
        (1_700_000_000_002, Some(b"k2"), None),
    ];

    fn write(magic: i8, codec: Codec) -> (Vec<u8>, WrittenSet) {
        let b = buf(&RECORDS);
        let mut out = Vec::new();
        let w = write_message_set(
            records_of(&b, magic),
            magic,
            codec,
            None,
            &mut Vec::new(),
            &mut out,
        )
        .unwrap();
        (out, w)
    }

    // Golden bytes from kafka-python 3.0.12 (pip install kafka-python==3.0.12):
    //
    //   from kafka.record.legacy_records import LegacyRecordBatchBuilder
    //   b = LegacyRecordBatchBuilder(magic=M, compression_type=0, batch_size=1 << 20)
    //   b.append(0, 1700000000000, b"k0", b"v0")
    //   b.append(1, 1700000000005, None, b"value-1")
    //   b.append(2, 1700000000002, b"k2", None)
    //   print(bytes(b.build()).hex())
    const PY_MAGIC0: &str = concat!(
        "0000000000000000000000128697724c0000000000026b3000000002763000000000000000010000",
        "001598dda4ae0000ffffffff0000000776616c75652d310000000000000002000000108b23e3da00",
        "00000000026b32ffffffff"
    );
    const PY_MAGIC1: &str = concat!(
        "00000000000000000000001a74aa514001000000018bcfe56800000000026b300000000276300000",
        "0000000000010000001d0d5fbb5e01000000018bcfe56805ffffffff0000000776616c75652d3100",
        "0000000000000200000018f585012201000000018bcfe56802000000026b32ffffffff"
    );
    // The same with compression_type=1 (gzip), then the wrapper's value
    // gunzipped: the inner message set, which must equal ours byte for byte
    // (gzip streams themselves differ between zlib builds and headers).
    const PY_GZIP_INNER1: &str = concat!(
        "00000000000000000000001a74aa514001000000018bcfe56800000000026b300000000276300000",
        "0000000000010000001d0d5fbb5e01000000018bcfe56805ffffffff0000000776616c75652d3100",
        "0000000000000200000018f585012201000000018bcfe56802000000026b32ffffffff"
    );
    // (Here equal to PY_MAGIC1.) kafka-python's wrapper header differs from
    // Java's on purpose: it writes offset 0 and timestamp 0 (its header was
    // 00000000000000000000006d7dec2aeb01010000000000000000ffffffff00000057),
    // Java's MemoryRecordsBuilder the last inner offset and the largest
    // timestamp; brokers reassign both. Ours follows Java, so the test
    // checks those fields against Java's rule.
    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn uncompressed_matches_kafka_python() {
        for (magic, want) in [(0, PY_MAGIC0), (1, PY_MAGIC1)] {
            let (got, w) = write(magic, Codec::None);
            assert_eq!(got, hex(want), "magic {magic}");
            assert_eq!((w.codec_used, w.uncompressed_len), (Codec::None, got.len()));
        }
    }

    #[test]
    fn gzip_wrapper_matches_java_and_kafka_python() {
        let (got, w) = write(1, Codec::Gzip);
        assert_eq!(w.codec_used, Codec::Gzip);
        // Wrapper: offset = last inner offset, magic 1, gzip, max timestamp,
        // null key.
        assert_eq!(&got[0..8], &2i64.to_be_bytes());
        assert_eq!(
            i32::from_be_bytes(got[8..12].try_into().unwrap()) as usize,
            got.len() - 12
        );
        assert_eq!((got[16], got[17]), (1, 1));
        assert_eq!(&got[18..26], &1_700_000_000_005i64.to_be_bytes());
        assert_eq!(&got[26..30], &(-1i32).to_be_bytes());
        let mut crc = flate2::Crc::new();
        crc.update(&got[16..]);
        assert_eq!(&got[12..16], &crc.sum().to_be_bytes());
        let value_len = i32::from_be_bytes(got[30..34].try_into().unwrap()) as usize;
        assert_eq!(value_len, got.len() - 34);
        let mut inner = Vec::new();
        compression::decompress(Codec::Gzip, &got[34..], 1 << 20, &mut inner).unwrap();
        assert_eq!(inner, hex(PY_GZIP_INNER1));
        assert_eq!(w.uncompressed_len, inner.len());

        // Our reader (Java's DeepRecordsIterator rules) gets the records back.
        let out = super::super::decode_batches(&Bytes::from(got), &mut usize::MAX.clone());
        assert!(out.error.is_none(), "{:?}", out.error);
        let recs: Vec<_> = out.batches[0]
            .records
            .iter()
            .map(|r| (r.offset, r.timestamp, r.key.clone(), r.value.clone()))
            .collect();
        let want: Vec<_> = RECORDS
            .iter()
            .enumerate()
            .map(|(i, (ts, k, v))| {
                (
                    i as i64,
                    *ts,
                    k.map(Bytes::copy_from_slice),
                    v.map(Bytes::copy_from_slice),
                )
            })
            .collect();
        assert_eq!(recs, want);
    }

    #[test]
    fn magic0_gzip_round_trips_without_timestamps() {
        let rec: Rec = (7, Some(b"same-key"), Some(b"the same value"));
        let b = buf(&[rec; 3]);
        let mut got = Vec::new();
        let w = write_message_set(
            records_of(&b, 0),
            0,
            Codec::Gzip,
            None,
            &mut Vec::new(),
            &mut got,
        )
        .unwrap();
        assert_eq!(w.codec_used, Codec::Gzip);
        assert_eq!(&got[0..8], &2i64.to_be_bytes());
        assert_eq!((got[16], got[17]), (0, 1));
        let out = super::super::decode_batches(&Bytes::from(got), &mut usize::MAX.clone());
        assert!(out.error.is_none(), "{:?}", out.error);
        let recs: Vec<_> = out.batches[0]
            .records
            .iter()
            .map(|r| (r.offset, r.timestamp))
            .collect();
        assert_eq!(recs, [(0, -1), (1, -1), (2, -1)]);
    }

    /// Magic 0 lz4 carries the header checksum Kafka got wrong; magic 1 the
    /// right one. Both read back.
    #[test]
    fn lz4_header_checksum_by_magic() {
        let rec: Rec = (7, Some(b"same-key"), Some(b"the same value"));
        let b = buf(&[rec; 8]);
        for (magic, hc, value_at) in [(0, LZ4_BROKEN_CHECKSUM, 26), (1, 0x82, 34)] {
            let mut got = Vec::new();
            let w = write_message_set(
                records_of(&b, magic),
                magic,
                Codec::Lz4,
                None,
                &mut Vec::new(),
                &mut got,
            )
            .unwrap();
            assert_eq!(w.codec_used, Codec::Lz4);
            assert_eq!(got[value_at + 6], hc, "magic {magic}");
            let out = super::super::decode_batches(&Bytes::from(got), &mut usize::MAX.clone());
            assert!(out.error.is_none(), "{:?}", out.error);
            assert_eq!(out.batches[0].records.len(), 8);
        }
    }

    #[test]
    fn incompressible_sets_go_out_uncompressed() {
        let b = buf(&[(5, None, Some(b"x"))]);
        let mut out = Vec::new();
        let w = write_message_set(
            records_of(&b, 1),
            1,
            Codec::Gzip,
            None,
            &mut Vec::new(),
            &mut out,
        )
        .unwrap();
        assert_eq!(w.codec_used, Codec::None);
        assert_eq!(out[17], 0);
    }

    #[test]
    fn headers_zstd_and_empty_sets_are_errors() {
        let mut b = RecordsBuf::new(64);
        b.append(1, None, Some(b"v"), &[("h", Some(&b"x"[..]))]);
        let mut out = Vec::new();
        let e = write_message_set(
            records_of(&b, 1),
            1,
            Codec::None,
            None,
            &mut Vec::new(),
            &mut out,
        )
        .unwrap_err();
        assert!(
            e.to_string()
                .contains("magic v1 does not support record headers"),
            "{e}"
        );
        assert!(out.is_empty());
        let plain = buf(&RECORDS);
        let e = write_message_set(
            records_of(&plain, 1),
            1,
            Codec::Zstd,
            None,
            &mut Vec::new(),
            &mut out,
        )
        .unwrap_err();
        assert!(matches!(e, Error::RecordFormat(_)), "{e:?}");
        let empty = RecordsBuf::new(0);
        assert!(write_message_set(
            records_of(&empty, 0),
            0,
            Codec::None,
            None,
            &mut Vec::new(),
            &mut out
        )
        .is_err());
        assert!(out.is_empty());
    }

    #[test]
    fn sealed_v2_batches_convert() {
        let mut b = buf(&RECORDS);
        let (h, body, _) = super::super::seal_batch(
            &mut b,
            &super::super::BatchHeader::default(),
            Codec::Lz4,
            None,
            &mut Vec::new(),
            bytes::Bytes::from,
        )
        .unwrap();
        let (set, w) = from_v2_batch(&h, &body, 1, Codec::None, None, &mut Vec::new()).unwrap();
        assert_eq!(w.codec_used, Codec::None);
        assert_eq!(set.to_vec(), hex(PY_MAGIC1));
    }

    #[test]
    fn produce_versions_pick_the_magic() {
        let m: Vec<_> = (0..5).map(magic_for_produce).collect();
        assert_eq!(m, [0, 0, 1, 2, 2]);
    }
}
