//! Writing v2 record batches: records are appended to a [`RecordsBuf`] on the
//! producing thread, and [`write_batch`] wraps them in a header (compressing
//! them first) when the sink sends the batch.

use super::{
    put_uvarint, uvarint_len, varint_len, varlong_len, wire_len, zigzag32, zigzag64,
    ATTRIBUTES_OFFSET, ATTR_TRANSACTIONAL, CRC_OFFSET, LOG_OVERHEAD, PRODUCER_ID_OFFSET,
    RECORD_BATCH_OVERHEAD,
};
use crate::error::{Error, Result};
use crate::protocol::compression::{self, Codec};

/// A record header as the encoder sees it: a key and a nullable value.
///
/// Implemented for `(&str, Option<&[u8]>)`; the producer implements it for
/// its own header type, so appending a record needs no temporary slice.
pub(crate) trait HeaderRef {
    /// The header key.
    fn key(&self) -> &str;
    /// The header value; `None` is written as a null value.
    fn value(&self) -> Option<&[u8]>;
}

impl HeaderRef for (&str, Option<&[u8]>) {
    fn key(&self) -> &str {
        self.0
    }

    fn value(&self) -> Option<&[u8]> {
        self.1
    }
}

/// An empty header list, for records without headers (`&[]` alone leaves
/// the header type unknown).
#[cfg(test)]
pub(crate) const NO_HEADERS: &[(&str, Option<&[u8]>)] = &[];

/// The encoded size of a nullable byte field with a varint length.
#[inline]
fn field_len(b: Option<&[u8]>) -> usize {
    b.map_or(1, |b| varint_len(wire_len(b.len())) + b.len())
}

/// Appends a nullable byte field with a varint length.
#[inline]
fn put_field(out: &mut Vec<u8>, b: Option<&[u8]>) {
    match b {
        Some(b) => {
            put_uvarint(out, zigzag32(wire_len(b.len())));
            out.extend_from_slice(b);
        }
        None => out.push(1), // zigzag(-1)
    }
}

/// The uncompressed records section of the open batch of one partition.
///
/// Records are encoded as they are produced (on the caller's thread, under
/// the partition's lock): offset deltas count from 0, timestamps are stored
/// as deltas from the first record's. Appending never allocates once the
/// buffer has capacity; [`RecordsBuf::clear`] keeps the capacity for reuse.
#[derive(Debug, Clone, Default)]
pub(crate) struct RecordsBuf {
    /// The encoded records.
    buf: Vec<u8>,
    /// How many records `buf` holds.
    count: i32,
    /// The first record's timestamp (the batch's base timestamp).
    first_ts: i64,
    /// The largest timestamp so far.
    max_ts: i64,
}

impl RecordsBuf {
    /// An empty buffer with room for `capacity` bytes of records.
    pub(crate) fn new(capacity: usize) -> RecordsBuf {
        RecordsBuf {
            buf: Vec::with_capacity(capacity),
            ..RecordsBuf::default()
        }
    }

    /// An empty buffer that appends into `buf` (emptied first), keeping
    /// its capacity.
    pub(crate) fn from_vec(mut buf: Vec<u8>) -> RecordsBuf {
        buf.clear();
        RecordsBuf {
            buf,
            ..RecordsBuf::default()
        }
    }

    /// Takes the encoded records' buffer, leaving the buffer empty.
    pub(crate) fn take_buf(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.buf)
    }

    /// Empties the buffer, keeping its capacity.
    #[cfg(test)]
    pub(crate) fn clear(&mut self) {
        self.buf.clear();
        self.count = 0;
        self.first_ts = 0;
        self.max_ts = 0;
    }

    /// The exact encoded size (length prefix included) of a record with
    /// these fields, for a batch whose first timestamp is `first_ts` and in
    /// which the record has offset delta `offset_delta`.
    pub(crate) fn record_len<H: HeaderRef>(
        first_ts: i64,
        offset_delta: i32,
        timestamp_ms: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[H],
    ) -> usize {
        let body = body_len(
            timestamp_ms.wrapping_sub(first_ts),
            offset_delta,
            key,
            value,
            headers,
        );
        varint_len(wire_len(body)) + body
    }

    /// The exact number of bytes [`RecordsBuf::append`] would add for this
    /// record, to check whether it fits before appending it.
    pub(crate) fn next_record_len<H: HeaderRef>(
        &self,
        timestamp_ms: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[H],
    ) -> usize {
        let first = if self.count == 0 {
            timestamp_ms
        } else {
            self.first_ts
        };
        Self::record_len(first, self.count, timestamp_ms, key, value, headers)
    }

    /// Encodes one record at the end of the buffer and returns the bytes
    /// added. Allocates only if the buffer lacks the capacity.
    pub(crate) fn append<H: HeaderRef>(
        &mut self,
        timestamp_ms: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[H],
    ) -> usize {
        if self.count == 0 {
            self.first_ts = timestamp_ms;
            self.max_ts = timestamp_ms;
        }
        let ts_delta = timestamp_ms.wrapping_sub(self.first_ts);
        let body = body_len(ts_delta, self.count, key, value, headers);
        let total = varint_len(wire_len(body)) + body;
        let buf = &mut self.buf;
        buf.reserve(total);
        put_uvarint(buf, zigzag32(wire_len(body)));
        buf.push(0); // record attributes: unused
        put_uvarint(buf, zigzag64(ts_delta));
        put_uvarint(buf, zigzag32(self.count));
        put_field(buf, key);
        put_field(buf, value);
        put_uvarint(buf, zigzag32(wire_len(headers.len())));
        for h in headers {
            put_field(buf, Some(h.key().as_bytes()));
            put_field(buf, h.value());
        }
        self.count += 1;
        self.max_ts = self.max_ts.max(timestamp_ms);
        total
    }

    /// The encoded size of the records so far.
    pub(crate) fn len(&self) -> usize {
        self.buf.len()
    }

    /// Whether no record was appended.
    pub(crate) fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// How many records were appended.
    pub(crate) fn count(&self) -> i32 {
        self.count
    }

    /// The first record's timestamp (0 when empty).
    pub(crate) fn first_timestamp(&self) -> i64 {
        self.first_ts
    }

    /// The largest record timestamp (0 when empty).
    pub(crate) fn max_timestamp(&self) -> i64 {
        self.max_ts
    }

    /// The encoded records section.
    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.buf
    }

    /// The buffer's capacity in bytes.
    #[cfg(test)]
    pub(crate) fn capacity(&self) -> usize {
        self.buf.capacity()
    }
}

/// The size of a record after its length prefix.
#[inline]
fn body_len<H: HeaderRef>(
    ts_delta: i64,
    offset_delta: i32,
    key: Option<&[u8]>,
    value: Option<&[u8]>,
    headers: &[H],
) -> usize {
    let mut n =
        1 + varlong_len(ts_delta) + varint_len(offset_delta) + field_len(key) + field_len(value);
    n += uvarint_len(zigzag32(wire_len(headers.len())));
    for h in headers {
        n += field_len(Some(h.key().as_bytes())) + field_len(h.value());
    }
    n
}

/// The producer fields of a batch header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BatchHeader {
    /// The producer id, or -1 without idempotence.
    pub(crate) producer_id: i64,
    /// The producer epoch, or -1 without idempotence.
    pub(crate) producer_epoch: i16,
    /// The first record's sequence number, or -1 without idempotence.
    pub(crate) base_sequence: i32,
    /// Whether the batch is part of a transaction (attribute bit 4).
    pub(crate) transactional: bool,
    /// The partition leader epoch; producers send -1 (the broker sets it).
    pub(crate) partition_leader_epoch: i32,
}

impl Default for BatchHeader {
    /// A non-idempotent, non-transactional header: every id -1.
    fn default() -> BatchHeader {
        BatchHeader {
            producer_id: -1,
            producer_epoch: -1,
            base_sequence: -1,
            transactional: false,
            partition_leader_epoch: -1,
        }
    }
}

/// What [`write_batch`] wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct WrittenBatch {
    /// The whole batch's size in bytes (offset and length included).
    pub(crate) len: usize,
    /// The codec the records are in: [`Codec::None`] when compressing did
    /// not make them smaller.
    pub(crate) codec_used: Codec,
    /// The size of the records section before compression.
    pub(crate) uncompressed_len: usize,
    /// How many records the batch holds.
    pub(crate) records: i32,
}

/// Appends one whole batch (base offset 0) holding `records` to `out`.
///
/// With a codec, the records are compressed into `scratch` first (it is
/// cleared; keep it around to reuse its capacity); if that is not smaller,
/// the batch goes out uncompressed and [`WrittenBatch::codec_used`] says so.
/// The CRC-32C is computed once, over the final bytes.
///
/// # Errors
///
/// [`Error::Compression`] if the codec fails, and [`Error::Protocol`] for an
/// empty `records` or a batch past `i32::MAX` bytes; `out` is unchanged then.
pub(crate) fn write_batch(
    records: &RecordsBuf,
    header: &BatchHeader,
    codec: Codec,
    level: Option<i32>,
    scratch: &mut Vec<u8>,
    out: &mut Vec<u8>,
) -> Result<WrittenBatch> {
    if records.is_empty() {
        return Err(Error::protocol("cannot write an empty record batch"));
    }
    let raw = records.as_bytes();
    let (codec_used, payload) = if codec == Codec::None {
        (Codec::None, raw)
    } else {
        scratch.clear();
        compression::compress(codec, level, raw, scratch)?;
        if scratch.len() < raw.len() {
            (codec, &scratch[..])
        } else {
            (Codec::None, raw)
        }
    };
    let len = RECORD_BATCH_OVERHEAD + payload.len();
    let h = batch_header(records, header, codec_used, payload)?;
    out.reserve(len);
    out.extend_from_slice(&h);
    out.extend_from_slice(payload);
    Ok(WrittenBatch {
        len,
        codec_used,
        uncompressed_len: raw.len(),
        records: records.count(),
    })
}

/// The header of a batch holding `records` whose records section as sent is
/// `payload` (the records, or them compressed with `codec_used`), its
/// CRC-32C computed over the header from the attributes on, then `payload`.
///
/// # Errors
///
/// [`Error::Protocol`] for a batch past `i32::MAX` bytes.
pub(crate) fn batch_header(
    records: &RecordsBuf,
    header: &BatchHeader,
    codec_used: Codec,
    payload: &[u8],
) -> Result<[u8; RECORD_BATCH_OVERHEAD]> {
    let len = RECORD_BATCH_OVERHEAD + payload.len();
    let Ok(batch_length) = i32::try_from(len - LOG_OVERHEAD) else {
        return Err(Error::protocol(format_args!(
            "record batch of {len} bytes is too large"
        )));
    };
    let mut attributes = codec_used.attribute_bits();
    if header.transactional {
        attributes |= ATTR_TRANSACTIONAL;
    }
    let mut h = [0u8; RECORD_BATCH_OVERHEAD];
    let mut at = 0;
    let mut put = |b: &[u8]| {
        h[at..at + b.len()].copy_from_slice(b);
        at += b.len();
    };
    put(&0i64.to_be_bytes()); // base offset: the broker assigns it
    put(&batch_length.to_be_bytes());
    put(&header.partition_leader_epoch.to_be_bytes());
    put(&[2]); // magic
    put(&[0; 4]); // crc, below
    put(&attributes.to_be_bytes());
    put(&(records.count() - 1).to_be_bytes()); // last offset delta
    put(&records.first_timestamp().to_be_bytes());
    put(&records.max_timestamp().to_be_bytes());
    put(&header.producer_id.to_be_bytes());
    put(&header.producer_epoch.to_be_bytes());
    put(&header.base_sequence.to_be_bytes());
    put(&records.count().to_be_bytes());
    let crc = crc32c::crc32c_append(crc32c::crc32c(&h[ATTRIBUTES_OFFSET..]), payload);
    h[CRC_OFFSET..ATTRIBUTES_OFFSET].copy_from_slice(&crc.to_be_bytes());
    Ok(h)
}

/// Closes `records` into a batch to send without copying them: the header
/// and the records section, which is the records buffer itself (taken, so
/// `records` is left empty) or, with a codec that makes them smaller, the
/// compressed bytes.
///
/// # Errors
///
/// As [`write_batch`].
pub(crate) fn seal_batch(
    records: &mut RecordsBuf,
    header: &BatchHeader,
    codec: Codec,
    level: Option<i32>,
    scratch: &mut Vec<u8>,
    into_bytes: impl FnOnce(Vec<u8>) -> bytes::Bytes,
) -> Result<([u8; RECORD_BATCH_OVERHEAD], bytes::Bytes, WrittenBatch)> {
    if records.is_empty() {
        return Err(Error::protocol("cannot write an empty record batch"));
    }
    let raw_len = records.len();
    if codec != Codec::None {
        scratch.clear();
        compression::compress(codec, level, records.as_bytes(), scratch)?;
        if scratch.len() < raw_len {
            let h = batch_header(records, header, codec, scratch)?;
            let w = WrittenBatch {
                len: RECORD_BATCH_OVERHEAD + scratch.len(),
                codec_used: codec,
                uncompressed_len: raw_len,
                records: records.count(),
            };
            let body = bytes::Bytes::copy_from_slice(scratch);
            return Ok((h, body, w));
        }
    }
    let h = batch_header(records, header, Codec::None, records.as_bytes())?;
    let w = WrittenBatch {
        len: RECORD_BATCH_OVERHEAD + raw_len,
        codec_used: Codec::None,
        uncompressed_len: raw_len,
        records: records.count(),
    };
    Ok((h, into_bytes(std::mem::take(&mut records.buf)), w))
}

/// Re-stamps a batch kept as header and records section with new producer
/// fields and recomputes its CRC (KIP-360 retries after an epoch bump).
pub(crate) fn set_header_sequence(
    h: &mut [u8; RECORD_BATCH_OVERHEAD],
    payload: &[u8],
    producer_id: i64,
    producer_epoch: i16,
    base_sequence: i32,
) {
    h[PRODUCER_ID_OFFSET..PRODUCER_ID_OFFSET + 8].copy_from_slice(&producer_id.to_be_bytes());
    h[PRODUCER_ID_OFFSET + 8..PRODUCER_ID_OFFSET + 10]
        .copy_from_slice(&producer_epoch.to_be_bytes());
    h[PRODUCER_ID_OFFSET + 10..PRODUCER_ID_OFFSET + 14]
        .copy_from_slice(&base_sequence.to_be_bytes());
    let crc = crc32c::crc32c_append(crc32c::crc32c(&h[ATTRIBUTES_OFFSET..]), payload);
    h[CRC_OFFSET..ATTRIBUTES_OFFSET].copy_from_slice(&crc.to_be_bytes());
}

/// Re-stamps a written batch (exactly one, as [`write_batch`] produced it)
/// with new producer fields and recomputes its CRC, for a batch that is
/// retried after the producer epoch was bumped (KIP-360).
///
/// # Errors
///
/// [`Error::Protocol`] if `batch` is not one whole v2 batch.
#[cfg(test)]
pub(crate) fn set_batch_sequence(
    batch: &mut [u8],
    producer_id: i64,
    producer_epoch: i16,
    base_sequence: i32,
) -> Result<()> {
    let declared = batch
        .get(8..12)
        .and_then(|b| b.first_chunk::<4>())
        .map(|b| i32::from_be_bytes(*b) as i64 + LOG_OVERHEAD as i64);
    if batch.len() < RECORD_BATCH_OVERHEAD
        || declared != Some(batch.len() as i64)
        || batch.get(16) != Some(&2)
    {
        return Err(Error::protocol(
            "set_batch_sequence needs exactly one whole v2 batch",
        ));
    }
    let mut fields = [0u8; 14];
    fields[..8].copy_from_slice(&producer_id.to_be_bytes());
    fields[8..10].copy_from_slice(&producer_epoch.to_be_bytes());
    fields[10..].copy_from_slice(&base_sequence.to_be_bytes());
    batch[PRODUCER_ID_OFFSET..PRODUCER_ID_OFFSET + 14].copy_from_slice(&fields);
    let crc = crc32c::crc32c(&batch[ATTRIBUTES_OFFSET..]);
    batch[CRC_OFFSET..ATTRIBUTES_OFFSET].copy_from_slice(&crc.to_be_bytes());
    Ok(())
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use bytes::Bytes;

    /// `seal_batch` (header + records kept apart) is byte for byte
    /// `write_batch`, compressed or not, and re-stamping either way agrees.
    #[test]
    fn seal_batch_matches_write_batch() {
        for codec in [Codec::None, Codec::Lz4, Codec::Zstd] {
            let mut recs = RecordsBuf::new(0);
            for i in 0..50 {
                recs.append(1000 + i, Some(b"key"), Some(&[b'v'; 64][..]), NO_HEADERS);
            }
            let header = BatchHeader {
                producer_id: 7,
                producer_epoch: 1,
                base_sequence: 10,
                transactional: true,
                partition_leader_epoch: -1,
            };
            let mut whole = Vec::new();
            let w1 = write_batch(&recs, &header, codec, None, &mut Vec::new(), &mut whole).unwrap();
            let (mut h, body, w2) = seal_batch(
                &mut recs,
                &header,
                codec,
                None,
                &mut Vec::new(),
                Bytes::from,
            )
            .unwrap();
            assert_eq!(w1, w2, "{codec:?}");
            assert!(recs.as_bytes().is_empty() || codec != Codec::None);
            let mut joined = h.to_vec();
            joined.extend_from_slice(&body);
            assert_eq!(joined, whole, "{codec:?}");
            set_batch_sequence(&mut whole, 9, 2, 0).unwrap();
            set_header_sequence(&mut h, &body, 9, 2, 0);
            let mut joined = h.to_vec();
            joined.extend_from_slice(&body);
            assert_eq!(joined, whole, "{codec:?} restamped");
        }
    }
    use kafka_protocol::indexmap::IndexMap;
    use kafka_protocol::protocol::StrBytes;
    use kafka_protocol::records::{
        Compression, Record, RecordBatchDecoder, RecordEncodeOptions, TimestampType,
    };

    /// A record as tests describe it.
    pub(crate) type TestRecord = (
        i64,
        Option<Vec<u8>>,
        Option<Vec<u8>>,
        Vec<(String, Option<Vec<u8>>)>,
    );

    /// Appends test records to a fresh buffer.
    pub(crate) fn records_buf(records: &[TestRecord]) -> RecordsBuf {
        let mut buf = RecordsBuf::new(0);
        for (ts, k, v, hs) in records {
            let hs: Vec<(&str, Option<&[u8]>)> =
                hs.iter().map(|(k, v)| (k.as_str(), v.as_deref())).collect();
            buf.append(*ts, k.as_deref(), v.as_deref(), &hs);
        }
        buf
    }

    /// The kafka-protocol codec for ours.
    pub(crate) fn kp_compression(codec: Codec) -> Compression {
        match codec {
            Codec::None => Compression::None,
            Codec::Gzip => Compression::Gzip,
            Codec::Snappy => Compression::Snappy,
            Codec::Lz4 => Compression::Lz4,
            Codec::Zstd => Compression::Zstd,
        }
    }

    /// Encodes test records with kafka-protocol's encoder (an independent
    /// implementation); header keys must be unique (it keeps them in a map).
    pub(crate) fn kp_encode(records: &[TestRecord], header: &BatchHeader, codec: Codec) -> Vec<u8> {
        let recs: Vec<Record> = records
            .iter()
            .enumerate()
            .map(|(i, (ts, k, v, hs))| Record {
                transactional: header.transactional,
                control: false,
                delete_horizon: false,
                partition_leader_epoch: header.partition_leader_epoch,
                producer_id: header.producer_id,
                producer_epoch: header.producer_epoch,
                timestamp_type: TimestampType::Creation,
                offset: i as i64,
                sequence: header.base_sequence.wrapping_add(i as i32),
                timestamp: *ts,
                key: k.clone().map(Bytes::from),
                value: v.clone().map(Bytes::from),
                headers: hs
                    .iter()
                    .map(|(k, v)| (StrBytes::from_string(k.clone()), v.clone().map(Bytes::from)))
                    .collect::<IndexMap<_, _>>(),
            })
            .collect();
        let mut out = bytes::BytesMut::new();
        let opts = RecordEncodeOptions {
            version: 2,
            compression: kp_compression(codec),
        };
        crate::protocol::record_batch::kp_codec::encode(&mut out, &recs, &opts).unwrap();
        out.to_vec()
    }

    /// A few records covering keys, null keys and values, headers with null
    /// values, empty values and increasing timestamps.
    pub(crate) fn sample_records() -> Vec<TestRecord> {
        vec![
            (
                1_700_000_000_000,
                Some(b"k1".to_vec()),
                Some(b"v1".to_vec()),
                vec![("h".into(), Some(b"x".to_vec()))],
            ),
            (
                1_700_000_000_005,
                None,
                Some(vec![]),
                vec![("a".into(), None), ("b".into(), Some(vec![]))],
            ),
            (1_700_000_000_005, Some(vec![0; 300]), None, vec![]),
            (
                1_700_000_100_000,
                Some(b"k4".to_vec()),
                Some(vec![7; 200]),
                vec![],
            ),
        ]
    }

    /// The expected bytes of a one-record batch, worked out by hand from the
    /// KIP-98 layout (and cross-checked against kafka-protocol below).
    const GOLDEN: &str = concat!(
        "0000000000000000", // base offset 0
        "0000003d",         // batch length 61
        "ffffffff",         // partition leader epoch -1
        "02",               // magic
        "2c392e54",         // crc32c
        "0000",             // attributes
        "00000000",         // last offset delta
        "000000000000000a", // base timestamp 10
        "000000000000000a", // max timestamp 10
        "0000000000000007", // producer id 7
        "0001",             // producer epoch 1
        "00000005",         // base sequence 5
        "00000001",         // 1 record
        "16",               // length 11
        "00",               // attributes
        "00",               // timestamp delta 0
        "00",               // offset delta 0
        "02",
        "6b", // key "k"
        "02",
        "76", // value "v"
        "02", // 1 header
        "02",
        "68", // key "h"
        "01", // null value
    );

    fn hex(b: &[u8]) -> String {
        b.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn golden_one_record_batch() {
        let mut buf = RecordsBuf::new(64);
        let n = buf.append(10, Some(b"k"), Some(b"v"), &[("h", None)]);
        assert_eq!(n, 12);
        let header = BatchHeader {
            producer_id: 7,
            producer_epoch: 1,
            base_sequence: 5,
            ..BatchHeader::default()
        };
        let mut out = Vec::new();
        let w = write_batch(&buf, &header, Codec::None, None, &mut Vec::new(), &mut out).unwrap();
        assert_eq!(hex(&out), GOLDEN);
        assert_eq!(
            w,
            WrittenBatch {
                len: 73,
                codec_used: Codec::None,
                uncompressed_len: 12,
                records: 1
            }
        );
        let theirs = kp_encode(
            &[(
                10,
                Some(b"k".to_vec()),
                Some(b"v".to_vec()),
                vec![("h".into(), None)],
            )],
            &header,
            Codec::None,
        );
        assert_eq!(hex(&theirs), GOLDEN);
    }

    #[test]
    fn uncompressed_bytes_equal_kafka_protocol() {
        let records = sample_records();
        for header in [
            BatchHeader::default(),
            BatchHeader {
                producer_id: 99,
                producer_epoch: 3,
                base_sequence: 1000,
                transactional: true,
                partition_leader_epoch: -1,
            },
        ] {
            let mut out = vec![0xAA]; // appends
            write_batch(
                &records_buf(&records),
                &header,
                Codec::None,
                None,
                &mut Vec::new(),
                &mut out,
            )
            .unwrap();
            assert_eq!(out[1..], kp_encode(&records, &header, Codec::None)[..]);
        }
    }

    #[test]
    fn every_codec_decodes_with_kafka_protocol() {
        let mut records = sample_records();
        for i in 0..500 {
            records.push((
                1_700_000_200_000 + i,
                Some(format!("key-{i}").into_bytes()),
                Some(vec![b'x'; 100]),
                vec![],
            ));
        }
        let header = BatchHeader {
            producer_id: 5,
            producer_epoch: 2,
            base_sequence: 77,
            ..BatchHeader::default()
        };
        let buf = records_buf(&records);
        let (mut scratch, mut out) = (Vec::new(), Vec::new());
        for codec in [
            Codec::None,
            Codec::Gzip,
            Codec::Snappy,
            Codec::Lz4,
            Codec::Zstd,
        ] {
            out.clear();
            let w = write_batch(&buf, &header, codec, None, &mut scratch, &mut out).unwrap();
            assert_eq!(w.codec_used, codec);
            assert_eq!(w.len, out.len());
            assert_eq!(w.uncompressed_len, buf.len());
            let mut bytes = Bytes::from(out.clone());
            let set = crate::protocol::record_batch::kp_codec::decode(&mut bytes).unwrap();
            assert_eq!(set.compression, kp_compression(codec));
            assert_eq!(set.records.len(), records.len());
            for (i, (got, (ts, k, v, hs))) in set.records.iter().zip(&records).enumerate() {
                assert_eq!(got.offset, i as i64);
                assert_eq!(got.sequence, 77 + i as i32);
                assert_eq!(got.producer_id, 5);
                assert_eq!(got.timestamp, *ts);
                assert_eq!(got.key.as_deref(), k.as_deref());
                assert_eq!(got.value.as_deref(), v.as_deref());
                let got_h: Vec<_> = got
                    .headers
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.as_ref().map(|v| v.to_vec())))
                    .collect();
                assert_eq!(&got_h, hs);
            }
        }
    }

    #[test]
    fn record_len_is_exact_and_append_does_not_allocate() {
        let mut buf = RecordsBuf::new(1 << 16);
        let ptr = buf.as_bytes().as_ptr();
        let headers = [
            ("trace", Some(&b"abc"[..])),
            ("dup", None),
            ("dup", Some(&b""[..])),
        ];
        for i in 0..200i64 {
            let ts = 1_000 + i * 37 - (i % 3) * 100; // deltas go up and down
            let key = (i % 2 == 0).then_some(&b"key"[..]);
            let value = vec![b'v'; (i * 13 % 300) as usize];
            let predicted =
                buf.next_record_len(ts, key, Some(&value), &headers[..(i % 4) as usize]);
            let by_fields = RecordsBuf::record_len(
                buf.first_timestamp(),
                buf.count(),
                ts,
                key,
                Some(&value),
                &headers[..(i % 4) as usize],
            );
            let before = buf.len();
            let n = buf.append(ts, key, Some(&value), &headers[..(i % 4) as usize]);
            assert_eq!(n, buf.len() - before);
            assert_eq!(n, predicted);
            if i > 0 {
                assert_eq!(n, by_fields);
            }
        }
        assert_eq!(
            buf.as_bytes().as_ptr(),
            ptr,
            "appending within capacity must not reallocate"
        );
        assert_eq!(buf.count(), 200);
        assert_eq!(buf.first_timestamp(), 1_000);
        buf.clear();
        assert!(buf.is_empty() && buf.as_bytes().is_empty() && buf.capacity() >= 1 << 16);
    }

    #[test]
    fn incompressible_records_go_out_uncompressed() {
        let mut x = 88172645463325252u64;
        let noise: Vec<u8> = (0..2000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        let mut buf = RecordsBuf::new(0);
        buf.append(1, None, Some(&noise), NO_HEADERS);
        for codec in [Codec::Gzip, Codec::Snappy, Codec::Lz4, Codec::Zstd] {
            let mut out = Vec::new();
            let w = write_batch(
                &buf,
                &BatchHeader::default(),
                codec,
                None,
                &mut Vec::new(),
                &mut out,
            )
            .unwrap();
            assert_eq!(w.codec_used, Codec::None, "{codec}");
            assert_eq!(out[22] & 0x07, 0);
        }
    }

    #[test]
    fn empty_batches_are_refused() {
        let mut out = Vec::new();
        let err = write_batch(
            &RecordsBuf::new(0),
            &BatchHeader::default(),
            Codec::None,
            None,
            &mut Vec::new(),
            &mut out,
        );
        assert!(err.is_err() && out.is_empty());
    }

    #[test]
    fn restamping_updates_fields_and_crc() {
        let records = sample_records();
        let mut out = Vec::new();
        write_batch(
            &records_buf(&records),
            &BatchHeader::default(),
            Codec::Lz4,
            None,
            &mut Vec::new(),
            &mut out,
        )
        .unwrap();
        set_batch_sequence(&mut out, 4242, 9, 12).unwrap();
        let set = RecordBatchDecoder::decode(&mut Bytes::from(out.clone())).unwrap();
        assert_eq!(
            (
                set.records[0].producer_id,
                set.records[0].producer_epoch,
                set.records[0].sequence
            ),
            (4242, 9, 12)
        );
        assert_eq!(set.records[3].sequence, 15);
        let header = BatchHeader {
            producer_id: 4242,
            producer_epoch: 9,
            base_sequence: 12,
            ..BatchHeader::default()
        };
        let mut direct = Vec::new();
        write_batch(
            &records_buf(&records),
            &header,
            Codec::Lz4,
            None,
            &mut Vec::new(),
            &mut direct,
        )
        .unwrap();
        assert_eq!(out, direct);
        assert!(set_batch_sequence(&mut out[..60], 1, 1, 1).is_err());
        let len = out.len();
        assert!(set_batch_sequence(&mut out[..len - 1], 1, 1, 1).is_err());
    }
}
