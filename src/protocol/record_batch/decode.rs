//! Reading record batches from a fetch response's records bytes.
//!
//! Keys, values and header values are zero-copy slices of the fetch buffer
//! (or of the batch's decompressed buffer). Memory is bounded by the caller's
//! budget: every byte decompressed and every decoded record's in-memory size
//! is charged before it is allocated, and a batch that does not fit is not
//! decoded at all.

use std::mem::size_of;
use std::ops::Range;

use bytes::Bytes;

use super::{
    legacy, Reader, TimestampType, ATTRIBUTES_OFFSET, ATTR_CONTROL, ATTR_LOG_APPEND_TIME,
    ATTR_TRANSACTIONAL, HEADER_UP_TO_MAGIC, LOG_OVERHEAD, MIN_RECORD_LEN, RECORD_BATCH_OVERHEAD,
};
use crate::error::Error;
use crate::protocol::compression::{self, Codec, DecompressError};

/// One decoded record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DecodedRecord {
    /// The record's offset.
    pub(crate) offset: i64,
    /// The record's timestamp (the batch's max timestamp for log append time;
    /// -1 for magic 0).
    pub(crate) timestamp: i64,
    /// The key, a slice of the fetch (or decompressed) buffer.
    pub(crate) key: Option<Bytes>,
    /// The value, a slice of the fetch (or decompressed) buffer.
    pub(crate) value: Option<Bytes>,
    /// The headers in wire order (keys may repeat).
    pub(crate) headers: Vec<(String, Option<Bytes>)>,
}

/// One decoded batch: a v2 batch, or a legacy v0/v1 message (a compressed
/// wrapper message and its inner messages count as one batch).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DecodedBatch {
    /// The first offset of the batch.
    pub(crate) base_offset: i64,
    /// The leader epoch the batch was written in (-1 for legacy messages).
    pub(crate) partition_leader_epoch: i32,
    /// The format: 2, or 0/1 for legacy messages.
    pub(crate) magic: i8,
    /// The raw attributes (a legacy message's attribute byte, widened).
    pub(crate) attributes: i16,
    /// The codec the records were stored with.
    pub(crate) codec: Codec,
    /// The last offset minus the base offset (the batch may hold fewer
    /// records after compaction).
    pub(crate) last_offset_delta: i32,
    /// The batch's base timestamp.
    pub(crate) first_timestamp: i64,
    /// The batch's largest timestamp.
    pub(crate) max_timestamp: i64,
    /// The producer id (-1 when not idempotent, and for legacy messages).
    pub(crate) producer_id: i64,
    /// The producer epoch.
    pub(crate) producer_epoch: i16,
    /// The first record's sequence number.
    pub(crate) base_sequence: i32,
    /// Whether the batch is part of a transaction.
    pub(crate) is_transactional: bool,
    /// Whether the batch holds control records (transaction markers).
    pub(crate) is_control: bool,
    /// What the timestamps mean.
    pub(crate) timestamp_type: TimestampType,
    /// The records.
    pub(crate) records: Vec<DecodedRecord>,
    /// The batch's size in the fetch response, offset and length included.
    pub(crate) encoded_len: usize,
    /// The size of the records section after decompression.
    pub(crate) uncompressed_len: usize,
    /// What decoding this batch took from the budget: the decompressed
    /// buffer's capacity plus the records' and headers' in-memory size. Give
    /// it back when the batch's records are dropped.
    pub(crate) charged: usize,
}

impl DecodedBatch {
    /// The offset of the last record the batch covered when written.
    pub(crate) fn last_offset(&self) -> i64 {
        self.base_offset
            .wrapping_add(i64::from(self.last_offset_delta))
    }
}

/// What [`decode_batches`] found.
#[derive(Debug, Default)]
pub(crate) struct DecodeOutput {
    /// Every batch before the first bad one (or all of them).
    pub(crate) batches: Vec<DecodedBatch>,
    /// Why decoding stopped early, if it did: [`Error::Protocol`] for a
    /// corrupt batch, [`Error::Compression`] for bad compressed data or an
    /// exhausted budget.
    pub(crate) error: Option<Error>,
    /// Whether `error` is the budget running out rather than bad data: the
    /// same bytes may decode once more memory is free (if the budget was
    /// whole, the batch is larger than the budget allows and is treated as a
    /// decompression bomb).
    pub(crate) over_budget: bool,
}

/// Decodes the concatenated batches (v2, or legacy v0/v1 messages) of a
/// fetch response's records field.
///
/// A partial batch at the end (the broker cuts the response at its byte
/// limit) is ignored. A corrupt batch (bad CRC, impossible lengths or counts,
/// unknown magic, bad varints) stops decoding: the batches before it are
/// returned with the error. Decompressed bytes and decoded records are
/// charged to `decompress_budget` before they are allocated; a batch that
/// does not fit stops decoding with [`DecodeOutput::over_budget`] set and
/// costs nothing. `decompress_budget` is decreased by the sum of the returned
/// batches' [`DecodedBatch::charged`].
pub(crate) fn decode_batches(data: &Bytes, decompress_budget: &mut usize) -> DecodeOutput {
    let mut out = DecodeOutput::default();
    let mut pos = 0usize;
    while data.len() - pos >= HEADER_UP_TO_MAGIC {
        let mut r = Reader::new(data, pos, data.len());
        let (Ok(base_offset), Ok(length), Ok(_epoch), Ok(magic)) =
            (r.i64(), r.i32(), r.i32(), r.i8())
        else {
            break;
        };
        let res = if length < legacy::MIN_MESSAGE_LEN as i32 {
            Err(Fail::Corrupt(batch_error(
                base_offset,
                format_args!(
                    "batch length {length} is below the minimum of {}",
                    legacy::MIN_MESSAGE_LEN
                ),
            )))
        } else {
            let end = pos + LOG_OVERHEAD + length as usize;
            if end > data.len() {
                break; // partial trailing batch
            }
            let mut budget = Budget::new(*decompress_budget);
            match magic {
                2 => decode_v2(data, pos, end, &mut budget),
                0 | 1 => legacy::decode_message(data, pos, end, &mut budget),
                m => Err(Fail::Corrupt(batch_error(
                    base_offset,
                    format_args!("unknown magic byte {m}"),
                ))),
            }
            .map(|b| (b, end))
        };
        match res {
            Ok((batch, end)) => {
                *decompress_budget -= batch.charged.min(*decompress_budget);
                out.batches.push(batch);
                pos = end;
            }
            Err(Fail::Corrupt(e)) => {
                out.error = Some(e);
                break;
            }
            Err(Fail::OverBudget(e)) => {
                out.error = Some(e);
                out.over_budget = true;
                break;
            }
        }
    }
    out
}

/// Why one batch was not decoded.
#[derive(Debug)]
pub(super) enum Fail {
    /// The batch is corrupt.
    Corrupt(Error),
    /// The budget cannot hold the decoded batch.
    OverBudget(Error),
}

/// An [`Error::Protocol`] naming the batch.
pub(super) fn batch_error(base_offset: i64, what: impl std::fmt::Display) -> Error {
    Error::protocol(format_args!(
        "corrupt record batch at offset {base_offset}: {what}"
    ))
}

/// Memory charged while decoding one batch.
#[derive(Debug)]
pub(super) struct Budget {
    /// The budget when the batch started.
    left: usize,
    /// What the batch has used.
    pub(super) charged: usize,
}

impl Budget {
    /// A budget of `left` bytes.
    pub(super) fn new(left: usize) -> Budget {
        Budget { left, charged: 0 }
    }

    /// Bytes still available.
    pub(super) fn room(&self) -> usize {
        self.left - self.charged
    }

    /// Charges `n` bytes, or fails with [`Fail::OverBudget`].
    pub(super) fn charge(&mut self, n: usize, base_offset: i64) -> Result<(), Fail> {
        if self.try_charge(n) {
            Ok(())
        } else {
            Err(self.exceeded(base_offset))
        }
    }

    /// Charges `n` bytes if they fit.
    pub(super) fn try_charge(&mut self, n: usize) -> bool {
        let fits = n <= self.room();
        if fits {
            self.charged += n;
        }
        fits
    }

    /// The over-budget error for the batch at `base_offset`.
    pub(super) fn exceeded(&self, base_offset: i64) -> Fail {
        Fail::OverBudget(Error::Compression(
            format!(
                "record batch at offset {base_offset} needs more than the {} bytes of fetch memory left: \
                 exceeds limit (a decompression bomb, or too little fetch memory left)",
                self.left
            )
            .into(),
        ))
    }

    /// Decompresses `input` into a new buffer charged to the budget.
    pub(super) fn decompress(
        &mut self,
        codec: Codec,
        input: &[u8],
        base_offset: i64,
    ) -> Result<Bytes, Fail> {
        let mut out = Vec::new();
        match compression::decompress_checked(codec, input, self.room(), &mut out) {
            Ok(()) => {}
            Err(DecompressError::Limit(_)) => return Err(self.exceeded(base_offset)),
            Err(DecompressError::Corrupt(m)) => {
                return Err(Fail::Corrupt(Error::Compression(
                    format!("record batch at offset {base_offset} holds corrupt {codec} data: {m}")
                        .into(),
                )))
            }
        }
        self.charge(out.capacity(), base_offset)?;
        Ok(Bytes::from(out))
    }
}

/// A zero-copy slice of `src` (an empty `Bytes` for a range outside it, which
/// [`Reader`] never returns).
pub(super) fn slice(src: &Bytes, r: Range<usize>) -> Bytes {
    if r.start <= r.end && r.end <= src.len() {
        src.slice(r)
    } else {
        Bytes::new()
    }
}

/// Decodes the v2 batch at `data[start..end]`.
fn decode_v2(
    data: &Bytes,
    start: usize,
    end: usize,
    budget: &mut Budget,
) -> Result<DecodedBatch, Fail> {
    let h = read_v2_header(data, start, end)?;
    let codec = check_v2_header(data, start, end, &h)?;
    let base_offset = h.base_offset;
    let section = start + RECORD_BATCH_OVERHEAD..end;
    let decompressed;
    let (src, range) = if codec == Codec::None {
        (data, section)
    } else {
        let input = data.get(section).unwrap_or_default();
        decompressed = budget.decompress(codec, input, base_offset)?;
        (&decompressed, 0..decompressed.len())
    };
    let section_len = range.len();
    let log_append = h.attributes & ATTR_LOG_APPEND_TIME != 0;
    let ctx = RecordCtx {
        base_offset,
        first_ts: h.first_ts,
        log_append_ts: log_append.then_some(h.max_ts),
    };
    let records = decode_v2_records(src, range, h.count, &ctx, budget)?;
    Ok(DecodedBatch {
        base_offset,
        partition_leader_epoch: h.partition_leader_epoch,
        magic: 2,
        attributes: h.attributes,
        codec,
        last_offset_delta: h.last_offset_delta,
        first_timestamp: h.first_ts,
        max_timestamp: h.max_ts,
        producer_id: h.producer_id,
        producer_epoch: h.producer_epoch,
        base_sequence: h.base_sequence,
        is_transactional: h.attributes & ATTR_TRANSACTIONAL != 0,
        is_control: h.attributes & ATTR_CONTROL != 0,
        timestamp_type: if log_append {
            TimestampType::LogAppendTime
        } else {
            TimestampType::CreateTime
        },
        records,
        encoded_len: end - start,
        uncompressed_len: section_len,
        charged: budget.charged,
    })
}

/// The fixed fields of a v2 batch header (Java `DefaultRecordBatch`), as
/// stored: nothing is checked yet but that they are there. The fields from
/// `crc` on are in wire order, which [`read_v2_header`] relies on (a struct
/// literal evaluates its fields in source order).
struct V2Header {
    /// The batch's first offset (-1 when even that is missing).
    base_offset: i64,
    /// The leader epoch the batch was written in.
    partition_leader_epoch: i32,
    /// The stored CRC-32C over the attributes onwards.
    crc: u32,
    /// The raw attributes.
    attributes: i16,
    /// The last offset minus the base offset.
    last_offset_delta: i32,
    /// The base timestamp.
    first_ts: i64,
    /// The largest timestamp.
    max_ts: i64,
    /// The producer id.
    producer_id: i64,
    /// The producer epoch.
    producer_epoch: i16,
    /// The first record's sequence number.
    base_sequence: i32,
    /// The record count, as stored (may be negative).
    count: i32,
}

/// Reads the header of the v2 batch at `data[start..end]`.
fn read_v2_header(data: &Bytes, start: usize, end: usize) -> Result<V2Header, Fail> {
    let mut r = Reader::new(data, start, end);
    let base_offset = r.i64().unwrap_or(-1);
    let bad = |what: &dyn std::fmt::Display| Fail::Corrupt(batch_error(base_offset, what));
    if end - start < RECORD_BATCH_OVERHEAD {
        return Err(bad(&format_args!(
            "{} bytes are too few for a v2 batch header",
            end - start
        )));
    }
    let header = (|| {
        r.take(4)?; // batch length: the caller checked it
        let partition_leader_epoch = r.i32()?;
        r.take(1)?; // magic: the caller dispatched on it
        Ok::<_, &'static str>(V2Header {
            base_offset,
            partition_leader_epoch,
            crc: r.u32()?,
            attributes: r.i16()?,
            last_offset_delta: r.i32()?,
            first_ts: r.i64()?,
            max_ts: r.i64()?,
            producer_id: r.i64()?,
            producer_epoch: r.i16()?,
            base_sequence: r.i32()?,
            count: r.i32()?,
        })
    })();
    header.map_err(|e| bad(&e))
}

/// Checks a v2 header against its batch at `data[start..end]`: the CRC, the
/// codec and the sign of the record count. Returns the codec.
fn check_v2_header(data: &Bytes, start: usize, end: usize, h: &V2Header) -> Result<Codec, Fail> {
    let bad = |what: &dyn std::fmt::Display| Fail::Corrupt(batch_error(h.base_offset, what));
    let crc = h.crc;
    let computed = crc32c::crc32c(data.get(start + ATTRIBUTES_OFFSET..end).unwrap_or_default());
    if crc != computed {
        return Err(bad(&format_args!(
            "CRC mismatch (stored {crc:#010x}, computed {computed:#010x})"
        )));
    }
    let codec = Codec::from_attributes(h.attributes).map_err(|e| bad(&e))?;
    let count = h.count;
    if count < 0 {
        return Err(bad(&format_args!("negative record count {count}")));
    }
    Ok(codec)
}

/// Decodes a v2 batch's `count` records from `src[range]` (its records
/// section, decompressed), charging them to the budget first.
fn decode_v2_records(
    src: &Bytes,
    range: Range<usize>,
    count: i32,
    ctx: &RecordCtx,
    budget: &mut Budget,
) -> Result<Vec<DecodedRecord>, Fail> {
    let base_offset = ctx.base_offset;
    let bad = |what: &dyn std::fmt::Display| Fail::Corrupt(batch_error(base_offset, what));
    let section_len = range.len();
    if count as usize > section_len / MIN_RECORD_LEN {
        return Err(bad(&format_args!(
            "record count {count} cannot fit in {section_len} bytes of records"
        )));
    }
    budget.charge(count as usize * size_of::<DecodedRecord>(), base_offset)?;
    let mut records = Vec::with_capacity(count as usize);
    let mut r = Reader::new(src, range.start, range.end);
    for i in 0..count {
        records.push(
            decode_record(src, &mut r, ctx, budget).map_err(|e| match e {
                RecordFail::Malformed(what) => bad(&format_args!("record {i}: {what}")),
                RecordFail::Budget => budget.exceeded(base_offset),
            })?,
        );
    }
    if r.remaining() != 0 {
        return Err(bad(&format_args!(
            "{} bytes after the last of {count} records",
            r.remaining()
        )));
    }
    Ok(records)
}

/// Batch fields every record of a batch needs.
struct RecordCtx {
    /// The batch's base offset.
    base_offset: i64,
    /// The batch's base timestamp.
    first_ts: i64,
    /// The max timestamp, when it replaces every record's (log append time).
    log_append_ts: Option<i64>,
}

/// Why one record was not decoded.
enum RecordFail {
    /// The record's bytes are wrong.
    Malformed(&'static str),
    /// The budget cannot hold its headers.
    Budget,
}

impl From<&'static str> for RecordFail {
    fn from(what: &'static str) -> RecordFail {
        RecordFail::Malformed(what)
    }
}

/// Decodes the record at the reader's position (Java `DefaultRecord.readFrom`).
fn decode_record(
    src: &Bytes,
    r: &mut Reader<'_>,
    ctx: &RecordCtx,
    budget: &mut Budget,
) -> Result<DecodedRecord, RecordFail> {
    let len = r.varint()?;
    if len < 0 {
        return Err("negative record length".into());
    }
    let body = r
        .take(len as usize)
        .map_err(|_| "record length runs past the batch")?;
    let mut f = Reader::new(src, body.start, body.end);
    let _attributes = f.i8()?;
    let ts_delta = f.varlong()?;
    let offset_delta = f.varint()?;
    let key = f.varint_bytes()?.map(|k| slice(src, k));
    let value = f.varint_bytes()?.map(|v| slice(src, v));
    let n = f.varint()?;
    if n < 0 || n as usize > f.remaining() / 2 {
        return Err("header count does not fit in the record".into());
    }
    let mut headers = Vec::new();
    if n > 0 {
        if !budget.try_charge(n as usize * size_of::<(String, Option<Bytes>)>()) {
            return Err(RecordFail::Budget);
        }
        headers.reserve_exact(n as usize);
        for _ in 0..n {
            let k = f.varint_bytes()?.ok_or("null header key")?;
            if !budget.try_charge(k.len()) {
                return Err(RecordFail::Budget);
            }
            let key = String::from_utf8_lossy(src.get(k).unwrap_or_default()).into_owned();
            headers.push((key, f.varint_bytes()?.map(|v| slice(src, v))));
        }
    }
    if f.remaining() != 0 {
        return Err("record length does not match its fields".into());
    }
    Ok(DecodedRecord {
        offset: ctx.base_offset.wrapping_add(i64::from(offset_delta)),
        timestamp: ctx
            .log_append_ts
            .unwrap_or(ctx.first_ts.wrapping_add(ts_delta)),
        key,
        value,
        headers,
    })
}

#[cfg(test)]
mod tests {
    use super::super::encode::tests::{kp_encode, records_buf, sample_records, TestRecord};
    use super::super::{write_batch, BatchHeader, RecordsBuf, CRC_OFFSET};
    use super::*;
    use proptest::prelude::*;

    const CODECS: [Codec; 5] = [
        Codec::None,
        Codec::Gzip,
        Codec::Snappy,
        Codec::Lz4,
        Codec::Zstd,
    ];

    /// Writes test records as one batch with our encoder.
    fn batch(records: &[TestRecord], codec: Codec) -> Vec<u8> {
        let mut out = Vec::new();
        write_batch(
            &records_buf(records),
            &BatchHeader::default(),
            codec,
            Some(1),
            &mut Vec::new(),
            &mut out,
        )
        .unwrap();
        out
    }

    /// Recomputes a v2 batch's CRC after a test edited it.
    fn fix_crc(b: &mut [u8]) {
        let crc = crc32c::crc32c(&b[ATTRIBUTES_OFFSET..]);
        b[CRC_OFFSET..ATTRIBUTES_OFFSET].copy_from_slice(&crc.to_be_bytes());
    }

    fn decode(data: &[u8]) -> DecodeOutput {
        decode_batches(&Bytes::copy_from_slice(data), &mut usize::MAX.clone())
    }

    /// Checks decoded records against test records with offsets from `base`.
    fn assert_records(got: &[DecodedRecord], want: &[TestRecord], base: i64) {
        assert_eq!(got.len(), want.len());
        for (i, (g, (ts, k, v, hs))) in got.iter().zip(want).enumerate() {
            assert_eq!(g.offset, base + i as i64);
            assert_eq!(g.timestamp, *ts);
            assert_eq!(g.key.as_deref(), k.as_deref());
            assert_eq!(g.value.as_deref(), v.as_deref());
            let gh: Vec<_> = g
                .headers
                .iter()
                .map(|(k, v)| (k.clone(), v.as_ref().map(|v| v.to_vec())))
                .collect();
            assert_eq!(&gh, hs);
        }
    }

    fn with_duplicates() -> Vec<TestRecord> {
        let mut r = sample_records();
        r.push((
            1_699_999_999_000,
            Some(b"older".to_vec()),
            None,
            vec![
                ("dup".into(), Some(b"1".to_vec())),
                ("dup".into(), None),
                ("dup".into(), Some(b"3".to_vec())),
                ("\u{e9}t\u{e9}".into(), Some(vec![0xff; 3])),
            ],
        ));
        r
    }

    #[test]
    fn round_trip_every_codec() {
        let records = with_duplicates();
        for codec in CODECS {
            let mut data = batch(&records, codec);
            let mut second = batch(&records[..2], codec);
            second[..8].copy_from_slice(&100i64.to_be_bytes()); // base offset is outside the CRC
            data.extend_from_slice(&second);
            let mut budget = 10 << 20;
            let out = decode_batches(&Bytes::from(data.clone()), &mut budget);
            assert!(out.error.is_none(), "{codec}: {:?}", out.error);
            assert_eq!(out.batches.len(), 2);
            let b = &out.batches[0];
            assert_eq!(b.codec, codec);
            assert_eq!(
                (b.magic, b.producer_id, b.producer_epoch, b.base_sequence),
                (2, -1, -1, -1)
            );
            assert_eq!(b.last_offset_delta, records.len() as i32 - 1);
            assert_eq!(b.first_timestamp, records[0].0);
            assert_eq!(b.max_timestamp, records[3].0);
            assert_eq!(b.timestamp_type, TimestampType::CreateTime);
            assert_eq!(b.encoded_len, data.len() - second.len());
            assert_records(&b.records, &records, 0);
            assert_records(&out.batches[1].records, &records[..2], 100);
            assert_eq!(out.batches[1].last_offset(), 101);
            let charged: usize = out.batches.iter().map(|b| b.charged).sum();
            assert_eq!(budget, (10 << 20) - charged);
        }
    }

    #[test]
    fn decodes_kafka_protocol_batches_for_every_codec() {
        // kafka-protocol writes snappy in xerial framing, like the Java client.
        let mut records = sample_records();
        for i in 0..300 {
            records.push((
                1_700_000_300_000 + i,
                None,
                Some(format!("value {i}").into_bytes()),
                vec![("n".into(), Some(vec![i as u8]))],
            ));
        }
        let header = BatchHeader {
            producer_id: 11,
            producer_epoch: 4,
            base_sequence: 90,
            transactional: true,
            partition_leader_epoch: 7,
        };
        for codec in CODECS {
            let data = kp_encode(&records, &header, codec);
            let out = decode(&data);
            assert!(out.error.is_none(), "{codec}: {:?}", out.error);
            let b = &out.batches[0];
            assert_eq!(
                (b.codec, b.producer_id, b.producer_epoch, b.base_sequence),
                (codec, 11, 4, 90)
            );
            assert!(b.is_transactional && !b.is_control);
            assert_eq!(b.partition_leader_epoch, 7);
            assert_records(&b.records, &records, 0);
        }
    }

    #[test]
    fn log_append_time_replaces_record_timestamps() {
        let mut data = batch(&sample_records(), Codec::None);
        data[22] |= ATTR_LOG_APPEND_TIME as u8;
        data[35..43].copy_from_slice(&42i64.to_be_bytes());
        fix_crc(&mut data);
        let out = decode(&data);
        assert_eq!(out.batches[0].timestamp_type, TimestampType::LogAppendTime);
        assert!(out.batches[0].records.iter().all(|r| r.timestamp == 42));
    }

    #[test]
    fn partial_trailing_batch_is_ignored() {
        let one = batch(&sample_records(), Codec::Zstd);
        let two = batch(&with_duplicates(), Codec::None);
        let all = [one.clone(), two.clone()].concat();
        for cut in [
            one.len(),
            one.len() + 1,
            one.len() + 16,
            one.len() + 17,
            one.len() + 61,
            all.len() - 1,
        ] {
            let out = decode(&all[..cut]);
            assert!(out.error.is_none(), "cut {cut}: {:?}", out.error);
            assert_eq!(out.batches.len(), 1, "cut {cut}");
        }
        assert!(decode(&one[..10]).batches.is_empty());
        assert_eq!(decode(&all).batches.len(), 2);
    }

    #[test]
    fn bad_crc_stops_with_earlier_batches_kept() {
        let one = batch(&sample_records(), Codec::None);
        let mut two = batch(&sample_records(), Codec::Lz4);
        let last = two.len() - 1;
        two[last] ^= 1;
        let out = decode(&[one.clone(), two, one].concat());
        assert_eq!(out.batches.len(), 1);
        assert!(!out.over_budget);
        let err = out.error.unwrap();
        assert!(
            matches!(&err, Error::Protocol(m) if m.contains("CRC mismatch")),
            "{err}"
        );
    }

    /// Decodes `data` (one batch, CRC fixed) and expects a protocol error.
    fn expect_corrupt(mut data: Vec<u8>, what: &str) {
        fix_crc(&mut data);
        let out = decode(&data);
        assert!(out.batches.is_empty(), "{what}");
        match out.error {
            Some(Error::Protocol(m)) => assert!(m.contains(what), "{m} lacks {what}"),
            other => panic!("{what}: {other:?}"),
        }
    }

    #[test]
    fn lying_lengths_and_counts_are_errors() {
        let good = batch(&sample_records(), Codec::None);
        let first_record = RECORD_BATCH_OVERHEAD;
        let mut count = good.clone();
        count[57..61].copy_from_slice(&5i32.to_be_bytes());
        expect_corrupt(count, "record 4");
        let mut count = good.clone();
        count[57..61].copy_from_slice(&1_000_000i32.to_be_bytes());
        expect_corrupt(count, "cannot fit");
        let mut count = good.clone();
        count[57..61].copy_from_slice(&3i32.to_be_bytes());
        expect_corrupt(count, "after the last");
        let mut count = good.clone();
        count[57..61].copy_from_slice(&(-1i32).to_be_bytes());
        expect_corrupt(count, "negative record count");
        let mut len = good.clone();
        len[first_record] = 0x7e; // record length 63: swallows the next record
        expect_corrupt(len, "record 0");
        let mut key = good.clone();
        key[first_record + 4] = 0x7e; // key length 63
        expect_corrupt(key, "record 0");
        let mut varint = good.clone();
        varint[first_record + 2..first_record + 9].fill(0xff); // over-long varlong
        expect_corrupt(varint, "record 0");
        let mut attrs = good.clone();
        attrs[22] = 7;
        expect_corrupt(attrs, "unknown compression codec 7");
        let mut magic = good.clone();
        magic[16] = 3;
        expect_corrupt(magic, "unknown magic byte 3");
        let mut short = good.clone();
        short[8..12].copy_from_slice(&13i32.to_be_bytes());
        expect_corrupt(short, "below the minimum");
        let mut short = good[..40].to_vec();
        short[8..12].copy_from_slice(&28i32.to_be_bytes());
        expect_corrupt(short, "too few for a v2 batch header");
    }

    #[test]
    fn truncated_records_section_is_an_error_not_a_panic() {
        let good = batch(&with_duplicates(), Codec::None);
        for cut in RECORD_BATCH_OVERHEAD..good.len() {
            let mut b = good[..cut].to_vec();
            b[8..12].copy_from_slice(&(cut as i32 - 12).to_be_bytes());
            fix_crc(&mut b);
            let out = decode(&b);
            assert!(out.error.is_some() && out.batches.is_empty(), "cut {cut}");
        }
    }

    #[test]
    fn every_byte_mutation_is_handled() {
        let good = batch(&with_duplicates(), Codec::None);
        for i in 0..good.len() {
            for v in [0x00, 0x01, 0x7f, 0x80, 0xff] {
                let mut b = good.clone();
                b[i] = v;
                fix_crc(&mut b);
                let out = decode(&b);
                assert!(
                    out.batches.len() + usize::from(out.error.is_some()) <= 1,
                    "byte {i} = {v}"
                );
            }
        }
    }

    /// A v2 batch header around arbitrary (compressed) records bytes.
    fn raw_batch(codec: Codec, count: i32, records: &[u8]) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&0i64.to_be_bytes());
        b.extend_from_slice(
            &((RECORD_BATCH_OVERHEAD - LOG_OVERHEAD + records.len()) as i32).to_be_bytes(),
        );
        b.extend_from_slice(&(-1i32).to_be_bytes());
        b.push(2);
        b.extend_from_slice(&[0; 4]);
        b.extend_from_slice(&codec.attribute_bits().to_be_bytes());
        b.extend_from_slice(&(count - 1).to_be_bytes());
        b.extend_from_slice(&[0; 16]);
        b.extend_from_slice(&[0xff; 14]);
        b.extend_from_slice(&count.to_be_bytes());
        b.extend_from_slice(records);
        fix_crc(&mut b);
        b
    }

    #[test]
    fn decompression_bomb_stops_at_the_budget() {
        // 100 MiB of zeros: one compressed MiB, repeated (zstd reads
        // concatenated frames), so the test is fast in debug builds.
        let mut unit = Vec::new();
        compression::compress(Codec::Zstd, Some(1), &vec![0u8; 1 << 20], &mut unit).unwrap();
        let bomb = raw_batch(Codec::Zstd, 1, &unit.repeat(100));
        let ok = batch(&sample_records(), Codec::Gzip);
        let data = Bytes::from([ok.clone(), bomb, ok].concat());
        let start = 4 << 20;
        let mut budget = start;
        let out = decode_batches(&data, &mut budget);
        assert_eq!(out.batches.len(), 1);
        assert!(out.over_budget);
        assert!(
            matches!(&out.error, Some(Error::Compression(m)) if m.contains("exceeds limit")),
            "{:?}",
            out.error
        );
        assert_eq!(
            budget,
            start - out.batches[0].charged,
            "the bomb costs nothing"
        );
    }

    #[test]
    fn corrupt_compressed_records_are_a_compression_error() {
        let ok = batch(&sample_records(), Codec::None);
        for codec in [Codec::Gzip, Codec::Snappy, Codec::Lz4, Codec::Zstd] {
            let out = decode(&[ok.clone(), raw_batch(codec, 1, b"not compressed at all")].concat());
            assert_eq!(out.batches.len(), 1);
            assert!(!out.over_budget);
            assert!(
                matches!(&out.error, Some(Error::Compression(m)) if m.contains("corrupt")),
                "{:?}",
                out.error
            );
        }
    }

    #[test]
    fn budget_covers_decoded_records() {
        let records = with_duplicates();
        let data = Bytes::from(batch(&records, Codec::None));
        let mut budget = usize::MAX;
        let need = decode_batches(&data, &mut budget).batches[0].charged;
        assert!(need >= records.len() * size_of::<DecodedRecord>());
        let mut exact = need;
        assert_eq!(decode_batches(&data, &mut exact).batches.len(), 1);
        assert_eq!(exact, 0);
        let mut short = need - 1;
        let out = decode_batches(&data, &mut short);
        assert!(out.over_budget && out.batches.is_empty());
        assert_eq!(short, need - 1);
    }

    #[test]
    fn control_and_empty_batches() {
        let mut b = raw_batch(Codec::None, 0, &[]);
        b[22] = ATTR_CONTROL as u8 | ATTR_TRANSACTIONAL as u8;
        b[23..27].copy_from_slice(&4i32.to_be_bytes()); // compaction left no records
        fix_crc(&mut b);
        let out = decode(&b);
        let d = &out.batches[0];
        assert!(d.is_control && d.is_transactional && d.records.is_empty());
        assert_eq!(d.last_offset(), 4);
    }

    fn arb_record() -> impl Strategy<Value = TestRecord> {
        (
            -1_000_000i64..1_000_000,
            proptest::option::of(proptest::collection::vec(any::<u8>(), 0..40)),
            proptest::option::of(proptest::collection::vec(any::<u8>(), 0..300)),
            proptest::collection::vec(
                (
                    "\\PC{0,8}",
                    proptest::option::of(proptest::collection::vec(any::<u8>(), 0..20)),
                ),
                0..4,
            ),
        )
            .prop_map(|(ts, k, v, h)| (1_700_000_000_000 + ts, k, v, h))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(96))]

        #[test]
        fn prop_round_trip(records in proptest::collection::vec(arb_record(), 1..40), codec in 0usize..5, level in proptest::option::of(1i32..4)) {
            let codec = CODECS[codec];
            let buf = records_buf(&records);
            let mut out = Vec::new();
            let w = write_batch(&buf, &BatchHeader::default(), codec, level, &mut Vec::new(), &mut out).unwrap();
            let dec = decode(&out);
            prop_assert!(dec.error.is_none());
            prop_assert_eq!(dec.batches[0].codec, w.codec_used);
            prop_assert_eq!(dec.batches[0].uncompressed_len, buf.len());
            assert_records(&dec.batches[0].records, &records, 0);
            let max = records.iter().map(|r| r.0).max().unwrap();
            prop_assert_eq!(dec.batches[0].max_timestamp, max);
            let mut sizes = RecordsBuf::new(0);
            for (ts, k, v, hs) in &records {
                let hs: Vec<(&str, Option<&[u8]>)> = hs.iter().map(|(k, v)| (k.as_str(), v.as_deref())).collect();
                let want = sizes.next_record_len(*ts, k.as_deref(), v.as_deref(), &hs);
                prop_assert_eq!(sizes.append(*ts, k.as_deref(), v.as_deref(), &hs), want);
            }
        }

        #[test]
        fn prop_garbage_never_panics(data in proptest::collection::vec(any::<u8>(), 0..400), fix in any::<bool>()) {
            let mut data = data;
            if fix && data.len() >= RECORD_BATCH_OVERHEAD {
                let len = data.len() as i32 - 12;
                data[8..12].copy_from_slice(&len.to_be_bytes());
                data[16] = 2;
                fix_crc(&mut data);
            }
            let _ = decode(&data);
        }
    }
}
