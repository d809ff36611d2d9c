//! The record batch codec: Kafka's v2 record batches (KIP-98) for writing and
//! reading, and the legacy v0/v1 message sets for reading old data and for
//! writing to brokers older than Kafka 0.11 (`message_set`).
//!
//! ```text
//! caller thread                    ks-sink-<id>                       ks-src-<id>
//! RecordsBuf::append(record) ----> write_batch(records, header,  ...  decode_batches(fetch bytes,
//!   (records section, no alloc)      codec) -> one whole batch          budget) -> DecodedBatch*
//! ```
//!
//! A v2 batch on the wire (big-endian; the CRC-32C covers `attributes` to the end):
//!
//! ```text
//!  0 baseOffset i64        8 batchLength i32      12 partitionLeaderEpoch i32
//! 16 magic i8 (2)         17 crc u32             21 attributes i16
//! 23 lastOffsetDelta i32  27 baseTimestamp i64   35 maxTimestamp i64
//! 43 producerId i64       51 producerEpoch i16   53 baseSequence i32
//! 57 records count i32    61 records (possibly compressed)
//! record: length varint, attributes i8, timestampDelta varlong, offsetDelta varint,
//!         key (varint length, -1 = null), value (same), header count varint,
//!         headers (key: varint length + UTF-8, value: varint length, -1 = null)
//! ```
//!
//! Ground truth is Java's `DefaultRecordBatch`, `DefaultRecord` and
//! `LegacyRecord`; the tests check this codec against kafka-protocol's
//! independent implementation.

mod decode;
mod encode;
/// kafka-protocol, the oracle of these tests, with zstd from the `zstd`
/// crate (it is built without its own zstd feature; see the file).
#[cfg(test)]
#[path = "../../../tests/support/kp_codec.rs"]
pub(crate) mod kp_codec;
mod legacy;
mod message_set;

#[cfg(test)]
pub(crate) use decode::DecodeOutput;
pub(crate) use decode::{decode_batches, DecodedBatch};
pub(crate) use encode::{
    seal_batch, set_header_sequence, write_batch, BatchHeader, HeaderRef, RecordsBuf, WrittenBatch,
};
pub(crate) use message_set::{
    from_v2_batch, magic_for_produce, records_of, write_message_set, WrittenSet,
};

/// The size of a v2 batch header: every byte before the records.
pub(crate) const RECORD_BATCH_OVERHEAD: usize = 61;
/// The size of the offset and length that precede every batch or message.
const LOG_OVERHEAD: usize = 12;
/// Bytes up to and including the magic byte, needed to tell the format.
const HEADER_UP_TO_MAGIC: usize = 17;
/// Byte offset of the CRC in a v2 batch.
const CRC_OFFSET: usize = 17;
/// Byte offset of the attributes (the start of the CRC-covered bytes).
const ATTRIBUTES_OFFSET: usize = 21;
/// Byte offset of the producer id.
const PRODUCER_ID_OFFSET: usize = 43;
/// The smallest encoded record: length, attributes, timestamp delta, offset
/// delta, key length, value length and header count, one byte each.
const MIN_RECORD_LEN: usize = 7;
/// Attribute bit: timestamps are log append time.
const ATTR_LOG_APPEND_TIME: i16 = 0x08;
/// Attribute bit: the batch belongs to a transaction.
const ATTR_TRANSACTIONAL: i16 = 0x10;
/// Attribute bit: the batch holds control records.
const ATTR_CONTROL: i16 = 0x20;

/// What a batch's timestamps mean.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum TimestampType {
    /// Set by the producer (Java's `CREATE_TIME`).
    CreateTime,
    /// Set by the broker when it appended the batch (`LOG_APPEND_TIME`).
    LogAppendTime,
}

/// Zigzag-encodes an i64 (Java `ByteUtils.writeVarlong`).
#[inline]
fn zigzag64(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

/// Zigzag-encodes an i32 (Java `ByteUtils.writeVarint`).
#[inline]
fn zigzag32(v: i32) -> u64 {
    u64::from(((v << 1) ^ (v >> 31)) as u32)
}

/// The encoded size of an unsigned varint.
#[inline]
fn uvarint_len(v: u64) -> usize {
    (((63 - (v | 1).leading_zeros()) / 7) + 1) as usize
}

/// The encoded size of a zigzag varint.
#[inline]
fn varint_len(v: i32) -> usize {
    uvarint_len(zigzag32(v))
}

/// The encoded size of a zigzag varlong.
#[inline]
fn varlong_len(v: i64) -> usize {
    uvarint_len(zigzag64(v))
}

/// Appends an unsigned varint; no allocation when `out` has capacity.
#[inline]
fn put_uvarint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Converts a length to the i32 the wire carries (lengths past `i32::MAX`
/// saturate; callers bound record and batch sizes well below that).
#[inline]
fn wire_len(n: usize) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

/// A bounds-checked cursor over `buf[pos..end]`; every read fails with a
/// static description instead of panicking.
#[derive(Debug, Clone)]
struct Reader<'a> {
    /// The whole buffer (positions are absolute, for `Bytes::slice`).
    buf: &'a [u8],
    /// The next byte to read.
    pos: usize,
    /// One past the last byte this reader may read.
    end: usize,
}

/// The result of a [`Reader`] read.
type ReadResult<T> = std::result::Result<T, &'static str>;

impl<'a> Reader<'a> {
    /// A reader over `buf[pos..end]` (clamped to the buffer).
    #[inline]
    fn new(buf: &'a [u8], pos: usize, end: usize) -> Reader<'a> {
        let end = end.min(buf.len());
        Reader {
            buf,
            pos: pos.min(end),
            end,
        }
    }

    /// Bytes left.
    #[inline]
    fn remaining(&self) -> usize {
        self.end - self.pos
    }

    /// Skips `n` bytes, returning their range.
    #[inline]
    fn take(&mut self, n: usize) -> ReadResult<std::ops::Range<usize>> {
        if n > self.remaining() {
            return Err("field runs past the end of its container");
        }
        let start = self.pos;
        self.pos += n;
        Ok(start..self.pos)
    }

    /// Reads `N` bytes.
    #[inline]
    fn array<const N: usize>(&mut self) -> ReadResult<[u8; N]> {
        let r = self.take(N)?;
        self.buf
            .get(r)
            .and_then(|s| s.first_chunk::<N>())
            .copied()
            .ok_or("field runs past the end of its container")
    }

    /// Reads a big-endian i8.
    #[inline]
    fn i8(&mut self) -> ReadResult<i8> {
        self.array::<1>().map(i8::from_be_bytes)
    }

    /// Reads a big-endian i16.
    fn i16(&mut self) -> ReadResult<i16> {
        self.array().map(i16::from_be_bytes)
    }

    /// Reads a big-endian i32.
    fn i32(&mut self) -> ReadResult<i32> {
        self.array().map(i32::from_be_bytes)
    }

    /// Reads a big-endian u32.
    fn u32(&mut self) -> ReadResult<u32> {
        self.array().map(u32::from_be_bytes)
    }

    /// Reads a big-endian i64.
    fn i64(&mut self) -> ReadResult<i64> {
        self.array().map(i64::from_be_bytes)
    }

    /// Reads an unsigned varint of at most `max` bytes (high bits past 64
    /// are dropped, as Java does).
    #[inline]
    fn uvarint(&mut self, max: usize) -> ReadResult<u64> {
        // Most varints in a record (lengths, small deltas) are one byte.
        if self.pos < self.end {
            if let Some(&b) = self.buf.get(self.pos).filter(|&&b| b < 0x80) {
                self.pos += 1;
                return Ok(u64::from(b));
            }
        }
        let mut v = 0u64;
        for i in 0..max {
            let Some(&b) = self
                .buf
                .get(self.pos + i)
                .filter(|_| self.pos + i < self.end)
            else {
                return Err("truncated varint");
            };
            v |= u64::from(b & 0x7f) << (7 * i);
            if b < 0x80 {
                self.pos += i + 1;
                return Ok(v);
            }
        }
        Err("varint longer than its type allows")
    }

    /// Reads a zigzag varint (at most 5 bytes).
    #[inline]
    fn varint(&mut self) -> ReadResult<i32> {
        let u = self.uvarint(5)? as u32;
        Ok(((u >> 1) as i32) ^ -((u & 1) as i32))
    }

    /// Reads a zigzag varlong (at most 10 bytes).
    #[inline]
    fn varlong(&mut self) -> ReadResult<i64> {
        let u = self.uvarint(10)?;
        Ok(((u >> 1) as i64) ^ -((u & 1) as i64))
    }

    /// Reads a varint length and skips that many bytes; -1 is null.
    #[inline]
    fn varint_bytes(&mut self) -> ReadResult<Option<std::ops::Range<usize>>> {
        match self.varint()? {
            -1 => Ok(None),
            n if n < 0 => Err("negative length"),
            n => self.take(n as usize).map(Some),
        }
    }

    /// Reads an i32 length and skips that many bytes; -1 is null.
    fn i32_bytes(&mut self) -> ReadResult<Option<std::ops::Range<usize>>> {
        match self.i32()? {
            -1 => Ok(None),
            n if n < 0 => Err("negative length"),
            n => self.take(n as usize).map(Some),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_match_java() {
        // (value, Java ByteUtils.writeVarint bytes)
        let table: [(i32, &[u8]); 8] = [
            (0, &[0x00]),
            (-1, &[0x01]),
            (1, &[0x02]),
            (63, &[0x7e]),
            (-64, &[0x7f]),
            (64, &[0x80, 0x01]),
            (i32::MAX, &[0xfe, 0xff, 0xff, 0xff, 0x0f]),
            (i32::MIN, &[0xff, 0xff, 0xff, 0xff, 0x0f]),
        ];
        for (v, want) in table {
            let mut out = Vec::new();
            put_uvarint(&mut out, zigzag32(v));
            assert_eq!(out, want, "{v}");
            assert_eq!(varint_len(v), want.len());
            let mut r = Reader::new(&out, 0, out.len());
            assert_eq!(r.varint(), Ok(v));
            assert_eq!(r.remaining(), 0);
        }
        for v in [0, 1, -1, i64::MAX, i64::MIN, 1 << 40, -(1 << 50)] {
            let mut out = Vec::new();
            put_uvarint(&mut out, zigzag64(v));
            assert_eq!(varlong_len(v), out.len());
            assert_eq!(Reader::new(&out, 0, out.len()).varlong(), Ok(v));
        }
    }

    #[test]
    fn bad_varints_are_errors() {
        let truncated = [0x80u8, 0x80];
        assert_eq!(
            Reader::new(&truncated, 0, 2).varint(),
            Err("truncated varint")
        );
        let long = [0xffu8; 6];
        assert!(Reader::new(&long, 0, 6).varint().is_err());
        let long = [0xffu8; 11];
        assert!(Reader::new(&long, 0, 11).varlong().is_err());
        // The reader's end bounds varints even when the buffer goes on.
        let ok = [0x80u8, 0x01];
        assert_eq!(Reader::new(&ok, 0, 1).varint(), Err("truncated varint"));
        assert_eq!(
            Reader::new(&[0x03], 0, 1).varint_bytes(),
            Err("negative length")
        );
        assert!(Reader::new(&[0x04, 1], 0, 2).varint_bytes().is_err());
    }
}
