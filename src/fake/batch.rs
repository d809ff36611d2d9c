//! Record batch v2 as the fake broker sees it: header parsing, produce-side
//! validation (the checks of Java's `ProduceRequest.validateRecords`,
//! `DefaultRecordBatch.ensureValid` and `LogValidator`), a walker over the
//! records of an uncompressed batch (for ListOffsets by timestamp), and a tiny
//! encoder for the benchmark mode's pre-built stream.
//!
//! This is deliberately not the crate's record batch codec: the fake must not
//! share a bug with the client it tests.

use bytes::{BufMut, Bytes, BytesMut};

use super::codes;

/// Bytes before the records of a v2 batch.
pub(crate) const HEADER_LEN: usize = 61;
/// Bytes before the batch length field is counted (base offset + length).
pub(crate) const LOG_OVERHEAD: usize = 12;
/// Offset of the CRC field; the CRC covers everything after it.
const CRC_AT: usize = 17;
const ATTRIBUTES_AT: usize = 21;

/// The fixed header of a v2 record batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BatchHeader {
    pub base_offset: i64,
    /// Bytes after the length field.
    pub batch_length: i32,
    pub partition_leader_epoch: i32,
    pub magic: i8,
    pub crc: u32,
    pub attributes: i16,
    pub last_offset_delta: i32,
    pub base_timestamp: i64,
    pub max_timestamp: i64,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
    pub record_count: i32,
}

impl BatchHeader {
    /// Total size of the batch on the wire, length prefix included.
    pub fn size(&self) -> usize {
        LOG_OVERHEAD + self.batch_length.max(0) as usize
    }
    /// The compression codec (attributes bits 0-2).
    pub fn compression(&self) -> i16 {
        self.attributes & 0x07
    }
    /// Whether the batch belongs to a transaction.
    pub fn is_transactional(&self) -> bool {
        self.attributes & 0x10 != 0
    }
    /// Whether the batch holds control records (transaction markers).
    pub fn is_control(&self) -> bool {
        self.attributes & 0x20 != 0
    }
    /// Whether the producer is idempotent (a producer id is set).
    pub fn has_producer_id(&self) -> bool {
        self.producer_id >= 0
    }
    /// The last sequence number, wrapping like Java's `DefaultRecordBatch.incrementSequence`.
    pub fn last_sequence(&self) -> i32 {
        increment_sequence(self.base_sequence, self.last_offset_delta)
    }
}

/// Adds `by` to a sequence number, wrapping at `i32::MAX` to 0 as Kafka does.
pub(crate) fn increment_sequence(seq: i32, by: i32) -> i32 {
    if seq > i32::MAX - by {
        by - (i32::MAX - seq) - 1
    } else {
        seq + by
    }
}

fn be_i16(b: &[u8], at: usize) -> i16 {
    i16::from_be_bytes([b[at], b[at + 1]])
}
fn be_i32(b: &[u8], at: usize) -> i32 {
    i32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}
fn be_i64(b: &[u8], at: usize) -> i64 {
    let mut x = [0u8; 8];
    x.copy_from_slice(&b[at..at + 8]);
    i64::from_be_bytes(x)
}

/// Parses the fixed header, or `None` when fewer than [`HEADER_LEN`] bytes.
pub(crate) fn parse_header(b: &[u8]) -> Option<BatchHeader> {
    if b.len() < HEADER_LEN {
        return None;
    }
    Some(BatchHeader {
        base_offset: be_i64(b, 0),
        batch_length: be_i32(b, 8),
        partition_leader_epoch: be_i32(b, 12),
        magic: b[16] as i8,
        crc: u32::from_be_bytes([b[17], b[18], b[19], b[20]]),
        attributes: be_i16(b, 21),
        last_offset_delta: be_i32(b, 23),
        base_timestamp: be_i64(b, 27),
        max_timestamp: be_i64(b, 35),
        producer_id: be_i64(b, 43),
        producer_epoch: be_i16(b, 51),
        base_sequence: be_i32(b, 53),
        record_count: be_i32(b, 57),
    })
}

/// Computes the CRC32C a v2 batch must carry (attributes to the end).
pub(crate) fn compute_crc(batch: &[u8]) -> u32 {
    crc32c::crc32c(&batch[ATTRIBUTES_AT.min(batch.len())..])
}

/// Validates the records of one partition in a produce request.
///
/// Returns the batch header or the Kafka error code for the partition:
/// CORRUPT_MESSAGE for a short or inconsistent frame and a bad CRC (Java's
/// `CorruptRecordException`), INVALID_RECORD for anything but exactly one
/// magic-2 batch from a client, MESSAGE_TOO_LARGE over `max_message_bytes`.
/// `check_crc` is off in benchmark mode only.
pub(crate) fn validate_produce(
    records: &[u8],
    max_message_bytes: i32,
    check_crc: bool,
) -> Result<BatchHeader, i16> {
    if records.len() < LOG_OVERHEAD + 5 {
        return Err(codes::CORRUPT_MESSAGE);
    }
    // Magic first: Java rejects a produce v3+ request with an old magic
    // before looking further (ProduceRequest.validateRecords).
    if records[16] as i8 != 2 {
        return Err(codes::INVALID_RECORD);
    }
    let h = parse_header(records).ok_or(codes::CORRUPT_MESSAGE)?;
    if h.batch_length < (HEADER_LEN - LOG_OVERHEAD) as i32 {
        return Err(codes::CORRUPT_MESSAGE);
    }
    let size = h.size();
    if size > records.len() {
        return Err(codes::CORRUPT_MESSAGE);
    }
    let rest = &records[size..];
    if rest.len() >= LOG_OVERHEAD {
        // Java's ByteBufferLogInputStream reads on: a length below the
        // smallest record is corrupt; a real second batch breaks "Produce
        // requests with version 3 are only allowed to contain exactly one
        // record batch". Fewer than 12 trailing bytes are ignored, as there.
        return Err(if be_i32(rest, 8) < 14 {
            codes::CORRUPT_MESSAGE
        } else {
            codes::INVALID_RECORD
        });
    }
    if size > max_message_bytes.max(0) as usize {
        return Err(codes::MESSAGE_TOO_LARGE);
    }
    if check_crc && compute_crc(records) != h.crc {
        return Err(codes::CORRUPT_MESSAGE);
    }
    if h.compression() > 4 {
        return Err(codes::CORRUPT_MESSAGE);
    }
    if h.record_count <= 0 || h.last_offset_delta != h.record_count - 1 {
        return Err(codes::INVALID_RECORD);
    }
    if h.is_control() {
        // "Clients are not allowed to write control records" (LogValidator).
        return Err(codes::INVALID_RECORD);
    }
    Ok(h)
}

/// Rewrites the base offset and partition leader epoch of a batch; neither is
/// covered by the CRC, so the batch stays valid (as Java assigns offsets in place).
pub(crate) fn stamp(records: &[u8], base_offset: i64, leader_epoch: i32) -> Bytes {
    let mut b = BytesMut::with_capacity(records.len());
    b.put_i64(base_offset);
    b.put_slice(&records[8..12]);
    b.put_i32(leader_epoch);
    b.put_slice(&records[16..]);
    b.freeze()
}

/// Reads a zigzag varint; `None` at the end of input or past 5 bytes.
pub(crate) fn read_varint(b: &[u8], pos: &mut usize) -> Option<i64> {
    let mut value: u64 = 0;
    for i in 0..10 {
        let byte = *b.get(*pos)?;
        *pos += 1;
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Some(((value >> 1) as i64) ^ -((value & 1) as i64));
        }
    }
    None
}

/// Walks the records of an uncompressed batch, yielding (offset, timestamp).
///
/// Returns `None` for compressed batches or malformed record data (callers
/// fall back to batch-level answers).
pub(crate) fn record_timestamps(batch: &[u8]) -> Option<Vec<(i64, i64)>> {
    let h = parse_header(batch)?;
    if h.compression() != 0 || batch.len() < h.size() {
        return None;
    }
    let end = h.size();
    let mut pos = HEADER_LEN;
    let mut out = Vec::with_capacity(h.record_count.clamp(0, 4096) as usize);
    while pos < end {
        let len = read_varint(batch, &mut pos)?;
        let rec_end = pos.checked_add(usize::try_from(len).ok()?)?;
        if rec_end > end {
            return None;
        }
        pos += 1; // attributes
        let ts_delta = read_varint(batch, &mut pos)?;
        let off_delta = read_varint(batch, &mut pos)?;
        out.push((
            h.base_offset.saturating_add(off_delta),
            h.base_timestamp.saturating_add(ts_delta),
        ));
        pos = rec_end;
    }
    Some(out)
}

pub(crate) fn put_varint(b: &mut BytesMut, v: i64) {
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
    while z >= 0x80 {
        b.put_u8((z as u8) | 0x80);
        z >>= 7;
    }
    b.put_u8(z as u8);
}

/// Encodes an uncompressed v2 batch of `count` records, each with a null key
/// and a value of `value_len` bytes, all with timestamp `timestamp`.
///
/// Used to pre-build the benchmark stream and by unit tests.
pub(crate) fn encode_batch(
    base_offset: i64,
    count: i32,
    value_len: usize,
    timestamp: i64,
) -> Bytes {
    let value = vec![b'x'; value_len];
    let mut recs = BytesMut::new();
    for i in 0..count.max(1) {
        let mut body = BytesMut::new();
        body.put_u8(0); // attributes
        put_varint(&mut body, 0); // timestamp delta
        put_varint(&mut body, i64::from(i)); // offset delta
        put_varint(&mut body, -1); // null key
        put_varint(&mut body, value.len() as i64);
        body.put_slice(&value);
        put_varint(&mut body, 0); // no headers
        put_varint(&mut recs, body.len() as i64);
        recs.put_slice(&body);
    }
    let count = count.max(1);
    let mut b = BytesMut::with_capacity(HEADER_LEN + recs.len());
    b.put_i64(base_offset);
    b.put_i32((HEADER_LEN - LOG_OVERHEAD + recs.len()) as i32);
    b.put_i32(-1); // partition leader epoch
    b.put_i8(2);
    b.put_u32(0); // crc, patched below
    b.put_i16(0); // attributes
    b.put_i32(count - 1);
    b.put_i64(timestamp);
    b.put_i64(timestamp);
    b.put_i64(-1); // producer id
    b.put_i16(-1);
    b.put_i32(-1);
    b.put_i32(count);
    b.put_slice(&recs);
    let crc = compute_crc(&b);
    b[CRC_AT..CRC_AT + 4].copy_from_slice(&crc.to_be_bytes());
    b.freeze()
}

/// Encodes a transaction marker as the coordinator writes it (Java
/// `MemoryRecords.withEndTransactionMarker`): a v2 batch with the
/// transactional and control attributes, the producer's id and epoch, no
/// sequence, and one record whose key is the control record key (version
/// 0, type 0 abort / 1 commit) and whose value is the `EndTxnMarker`
/// (version 0, coordinator epoch).
pub(crate) fn encode_marker(
    base_offset: i64,
    leader_epoch: i32,
    producer_id: i64,
    producer_epoch: i16,
    commit: bool,
    coordinator_epoch: i32,
    timestamp: i64,
) -> Bytes {
    let mut key = BytesMut::with_capacity(4);
    key.put_i16(0);
    key.put_i16(i16::from(commit));
    let mut value = BytesMut::with_capacity(6);
    value.put_i16(0);
    value.put_i32(coordinator_epoch);
    let mut body = BytesMut::new();
    body.put_u8(0); // attributes
    put_varint(&mut body, 0); // timestamp delta
    put_varint(&mut body, 0); // offset delta
    put_varint(&mut body, key.len() as i64);
    body.put_slice(&key);
    put_varint(&mut body, value.len() as i64);
    body.put_slice(&value);
    put_varint(&mut body, 0); // no headers
    let mut recs = BytesMut::new();
    put_varint(&mut recs, body.len() as i64);
    recs.put_slice(&body);
    let mut b = BytesMut::with_capacity(HEADER_LEN + recs.len());
    b.put_i64(base_offset);
    b.put_i32((HEADER_LEN - LOG_OVERHEAD + recs.len()) as i32);
    b.put_i32(leader_epoch);
    b.put_i8(2);
    b.put_u32(0); // crc, patched below
    b.put_i16(0x30); // transactional | control
    b.put_i32(0); // last offset delta
    b.put_i64(timestamp);
    b.put_i64(timestamp);
    b.put_i64(producer_id);
    b.put_i16(producer_epoch);
    b.put_i32(-1); // no sequence
    b.put_i32(1);
    b.put_slice(&recs);
    let crc = compute_crc(&b);
    b[CRC_AT..CRC_AT + 4].copy_from_slice(&crc.to_be_bytes());
    b.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoded_batch_validates_and_walks() {
        let b = encode_batch(0, 3, 10, 1000);
        let h = validate_produce(&b, 1 << 20, true).unwrap();
        assert_eq!(h.record_count, 3);
        assert_eq!(h.last_offset_delta, 2);
        let stamped = stamp(&b, 42, 7);
        let h2 = parse_header(&stamped).unwrap();
        assert_eq!((h2.base_offset, h2.partition_leader_epoch), (42, 7));
        assert_eq!(compute_crc(&stamped), h2.crc);
        assert_eq!(
            record_timestamps(&stamped).unwrap(),
            vec![(42, 1000), (43, 1000), (44, 1000)]
        );
    }

    #[test]
    fn produce_validation_table() {
        let good = encode_batch(0, 2, 5, 1).to_vec();
        let mut bad_crc = good.clone();
        let last = bad_crc.len() - 1;
        bad_crc[last] ^= 0xff;
        let mut old_magic = good.clone();
        old_magic[16] = 1;
        let mut two = good.clone();
        two.extend_from_slice(&good);
        let mut padded = good.clone();
        padded.extend_from_slice(&[0; 20]);
        let mut long_len = good.clone();
        long_len[8..12].copy_from_slice(&10_000i32.to_be_bytes());
        let mut control = good.clone();
        control[22] |= 0x20;
        let crc = compute_crc(&control);
        control[17..21].copy_from_slice(&crc.to_be_bytes());
        type Case<'a> = (&'a str, Vec<u8>, i32, Result<(), i16>);
        let cases: Vec<Case<'_>> = vec![
            ("good", good.clone(), 1 << 20, Ok(())),
            ("bad crc", bad_crc, 1 << 20, Err(codes::CORRUPT_MESSAGE)),
            ("old magic", old_magic, 1 << 20, Err(codes::INVALID_RECORD)),
            ("two batches", two, 1 << 20, Err(codes::INVALID_RECORD)),
            ("zero padding", padded, 1 << 20, Err(codes::CORRUPT_MESSAGE)),
            (
                "length past end",
                long_len,
                1 << 20,
                Err(codes::CORRUPT_MESSAGE),
            ),
            (
                "truncated",
                good[..30].to_vec(),
                1 << 20,
                Err(codes::CORRUPT_MESSAGE),
            ),
            ("too large", good.clone(), 20, Err(codes::MESSAGE_TOO_LARGE)),
            ("control", control, 1 << 20, Err(codes::INVALID_RECORD)),
        ];
        for (name, bytes, max, want) in cases {
            let got = validate_produce(&bytes, max, true).map(|_| ());
            assert_eq!(got, want, "{name}");
        }
    }

    #[test]
    fn markers_are_control_batches() {
        let b = encode_marker(7, 3, 1000, 2, true, 5, 99);
        let h = parse_header(&b).unwrap();
        assert!(h.is_control() && h.is_transactional());
        assert_eq!((h.base_offset, h.partition_leader_epoch), (7, 3));
        assert_eq!(
            (h.producer_id, h.producer_epoch, h.base_sequence),
            (1000, 2, -1)
        );
        assert_eq!(compute_crc(&b), h.crc);
        assert_eq!(h.size(), b.len());
        // key: version 0, type 1 (commit); value: version 0, epoch 5.
        assert_eq!(&b[HEADER_LEN + 5..HEADER_LEN + 9], &[0, 0, 0, 1]);
        assert_eq!(&b[HEADER_LEN + 10..HEADER_LEN + 16], &[0, 0, 0, 0, 0, 5]);
    }

    #[test]
    fn sequence_wraps() {
        assert_eq!(increment_sequence(5, 3), 8);
        assert_eq!(increment_sequence(i32::MAX, 1), 0);
        assert_eq!(increment_sequence(i32::MAX - 1, 3), 1);
    }

    #[test]
    fn varint_walker_rejects_garbage() {
        let mut b = encode_batch(0, 1, 4, 0).to_vec();
        b[HEADER_LEN] = 0x7f; // record length far past the end
        assert!(record_timestamps(&b).is_none());
    }
}
