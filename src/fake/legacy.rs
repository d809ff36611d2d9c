//! Message sets (magic 0 and 1) as the fake's Kafka 0.10 mode sees them:
//! produced sets are validated (Java 0.10 `LogValidator` and
//! `Record.ensureValid`: CRC, magic, codec, no nested compression) and
//! converted to the v2 batch the partition stores; stored v2 batches are
//! down-converted for Fetch v0-v3 (Java `RecordsUtil.downConvert`, what
//! `KafkaApis` does for old fetch versions).
//!
//! Like `batch`, this is the fake's own code, not the client's codec, so the
//! two cannot share a bug.

use bytes::{BufMut, Bytes, BytesMut};

use super::batch::{self, put_varint, read_varint, HEADER_LEN, LOG_OVERHEAD};
use super::codes;
use crate::protocol::compression::{self, Codec};

/// The most a produced wrapper may decompress to.
const MAX_INFLATED: usize = 64 << 20;
/// The smallest message after offset and size (magic 0, null key and value).
const MIN_MESSAGE: usize = 14;

/// One record of a message set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Msg {
    pub offset: i64,
    pub timestamp: i64,
    pub key: Option<Bytes>,
    pub value: Option<Bytes>,
}

fn codec_of(attrs: u8) -> Result<Codec, i16> {
    // Java 0.10 `CompressionType.forId`: 0-3; zstd came with magic 2.
    match attrs & 0x07 {
        0 => Ok(Codec::None),
        1 => Ok(Codec::Gzip),
        2 => Ok(Codec::Snappy),
        3 => Ok(Codec::Lz4),
        _ => Err(codes::CORRUPT_MESSAGE),
    }
}

/// A parsed message: (offset, magic, attributes, timestamp, key, value).
type Parsed = (i64, u8, u8, i64, Option<Bytes>, Option<Bytes>);

/// Reads the message at `b[pos..]`; returns it and where the next starts.
fn read_message(b: &Bytes, pos: usize) -> Result<(Parsed, usize), i16> {
    let corrupt = codes::CORRUPT_MESSAGE;
    let head = b.get(pos..pos + LOG_OVERHEAD).ok_or(corrupt)?;
    let offset = i64::from_be_bytes(head[..8].try_into().map_err(|_| corrupt)?);
    let size = i32::from_be_bytes(head[8..12].try_into().map_err(|_| corrupt)?);
    let size = usize::try_from(size).map_err(|_| corrupt)?;
    if size < MIN_MESSAGE {
        return Err(corrupt);
    }
    let start = pos + LOG_OVERHEAD;
    let end = start.checked_add(size).ok_or(corrupt)?;
    let m = b.get(start..end).ok_or(corrupt)?;
    let stored = u32::from_be_bytes(m[..4].try_into().map_err(|_| corrupt)?);
    let mut crc = flate2::Crc::new();
    crc.update(&m[4..]);
    if crc.sum() != stored {
        return Err(corrupt);
    }
    let (magic, attrs) = (m[4], m[5]);
    let mut at = 6;
    let timestamp = match magic {
        0 => -1,
        1 => {
            let t = m.get(6..14).ok_or(corrupt)?;
            at = 14;
            i64::from_be_bytes(t.try_into().map_err(|_| corrupt)?)
        }
        _ => return Err(corrupt),
    };
    let field = |at: &mut usize| -> Result<Option<Bytes>, i16> {
        let l = m.get(*at..*at + 4).ok_or(corrupt)?;
        let l = i32::from_be_bytes(l.try_into().map_err(|_| corrupt)?);
        *at += 4;
        if l == -1 {
            return Ok(None);
        }
        let l = usize::try_from(l).map_err(|_| corrupt)?;
        if *at + l > m.len() {
            return Err(corrupt);
        }
        let v = b.slice(start + *at..start + *at + l);
        *at += l;
        Ok(Some(v))
    };
    let key = field(&mut at)?;
    let value = field(&mut at)?;
    if at != m.len() {
        return Err(corrupt);
    }
    Ok(((offset, magic, attrs, timestamp, key, value), end))
}

/// Validates a produced message set and returns its records and the codec
/// to store them with (the last compressed wrapper's, as Java 0.10's
/// `LogValidator` picks its `sourceCodec`). CORRUPT_MESSAGE for anything
/// malformed, a bad CRC, an unknown magic or codec, nested compression, or
/// an inner magic other than its wrapper's.
pub(crate) fn parse_produced(set: &[u8]) -> Result<(Vec<Msg>, Codec), i16> {
    let set = Bytes::copy_from_slice(set);
    let mut out = Vec::new();
    let mut store_codec = Codec::None;
    let mut pos = 0;
    while pos < set.len() {
        if set.len() - pos < LOG_OVERHEAD {
            break; // Java ignores a partial trailing message.
        }
        let ((offset, magic, attrs, ts, key, value), next) = read_message(&set, pos)?;
        pos = next;
        let codec = codec_of(attrs)?;
        if codec == Codec::None {
            out.push(Msg {
                offset,
                timestamp: ts,
                key,
                value,
            });
            continue;
        }
        store_codec = codec;
        let value = value.ok_or(codes::CORRUPT_MESSAGE)?;
        let mut inner = Vec::new();
        compression::decompress_checked(codec, &value, MAX_INFLATED, &mut inner)
            .map_err(|_| codes::CORRUPT_MESSAGE)?;
        let inner = Bytes::from(inner);
        let mut ipos = 0;
        let before = out.len();
        while ipos < inner.len() {
            let ((ioff, imagic, iattrs, its, ikey, ivalue), inext) = read_message(&inner, ipos)?;
            ipos = inext;
            if iattrs & 0x07 != 0 || imagic != magic {
                return Err(codes::CORRUPT_MESSAGE);
            }
            out.push(Msg {
                offset: ioff,
                timestamp: its,
                key: ikey,
                value: ivalue,
            });
        }
        if out.len() == before {
            return Err(codes::CORRUPT_MESSAGE);
        }
    }
    if out.is_empty() {
        return Err(codes::CORRUPT_MESSAGE);
    }
    Ok((out, store_codec))
}

fn put_varint_bytes(b: &mut BytesMut, v: Option<&Bytes>) {
    match v {
        Some(v) => {
            put_varint(b, v.len() as i64);
            b.put_slice(v);
        }
        None => put_varint(b, -1),
    }
}

/// A v2 batch (base offset 0, no producer) holding `msgs` in order, its
/// records compressed with `codec`: the form the partition stores.
pub(crate) fn to_v2_batch(msgs: &[Msg], codec: Codec) -> Result<Bytes, i16> {
    let first_ts = msgs.first().map_or(-1, |m| m.timestamp);
    let max_ts = msgs.iter().map(|m| m.timestamp).max().unwrap_or(-1);
    let mut recs = BytesMut::new();
    for (i, m) in msgs.iter().enumerate() {
        let mut body = BytesMut::new();
        body.put_u8(0);
        put_varint(&mut body, m.timestamp.wrapping_sub(first_ts));
        put_varint(&mut body, i as i64);
        put_varint_bytes(&mut body, m.key.as_ref());
        put_varint_bytes(&mut body, m.value.as_ref());
        put_varint(&mut body, 0);
        put_varint(&mut recs, body.len() as i64);
        recs.put_slice(&body);
    }
    let payload = if codec == Codec::None {
        recs.to_vec()
    } else {
        let mut c = Vec::new();
        compression::compress(codec, None, &recs, &mut c).map_err(|_| codes::CORRUPT_MESSAGE)?;
        c
    };
    let count = i32::try_from(msgs.len()).map_err(|_| codes::INVALID_RECORD)?;
    let len = i32::try_from(HEADER_LEN - LOG_OVERHEAD + payload.len())
        .map_err(|_| codes::MESSAGE_TOO_LARGE)?;
    let mut b = BytesMut::with_capacity(HEADER_LEN + payload.len());
    b.put_i64(0);
    b.put_i32(len);
    b.put_i32(-1);
    b.put_i8(2);
    b.put_u32(0);
    b.put_i16(codec.attribute_bits());
    b.put_i32(count - 1);
    b.put_i64(first_ts);
    b.put_i64(max_ts);
    b.put_i64(-1);
    b.put_i16(-1);
    b.put_i32(-1);
    b.put_i32(count);
    b.put_slice(&payload);
    let crc = batch::compute_crc(&b);
    b[17..21].copy_from_slice(&crc.to_be_bytes());
    Ok(b.freeze())
}

fn read_varint_bytes(b: &Bytes, pos: &mut usize) -> Option<Option<Bytes>> {
    let l = read_varint(b, pos)?;
    if l < 0 {
        return Some(None);
    }
    let end = pos.checked_add(usize::try_from(l).ok()?)?;
    let v = b.get(*pos..end).map(|_| b.slice(*pos..end))?;
    *pos = end;
    Some(Some(v))
}

/// The records of one stored v2 batch with absolute offsets; `None` when
/// the batch does not parse (the fake wrote it, so that is a fake bug).
fn v2_records(batch: &Bytes) -> Option<(batch::BatchHeader, Vec<Msg>)> {
    let h = batch::parse_header(batch)?;
    let data = batch.get(HEADER_LEN..h.size())?;
    let codec = Codec::from_attributes(h.attributes).ok()?;
    let recs = if codec == Codec::None {
        batch.slice(HEADER_LEN..h.size())
    } else {
        let mut out = Vec::new();
        compression::decompress_checked(codec, data, MAX_INFLATED, &mut out).ok()?;
        Bytes::from(out)
    };
    let mut msgs = Vec::new();
    let mut pos = 0;
    while pos < recs.len() {
        let len = usize::try_from(read_varint(&recs, &mut pos)?).ok()?;
        let end = pos.checked_add(len)?;
        pos += 1; // attributes
        let ts_delta = read_varint(&recs, &mut pos)?;
        let off_delta = read_varint(&recs, &mut pos)?;
        let key = read_varint_bytes(&recs, &mut pos)?;
        let value = read_varint_bytes(&recs, &mut pos)?;
        msgs.push(Msg {
            offset: h.base_offset.wrapping_add(off_delta),
            timestamp: h.base_timestamp.wrapping_add(ts_delta),
            key,
            value,
        });
        pos = end; // headers: a message set has none (Java would refuse)
    }
    Some((h, msgs))
}

fn put_message(
    out: &mut BytesMut,
    offset: i64,
    magic: u8,
    attrs: u8,
    ts: i64,
    key: Option<&[u8]>,
    value: Option<&[u8]>,
) {
    let size = if magic == 0 { 14 } else { 22 }
        + key.map_or(0, <[u8]>::len)
        + value.map_or(0, <[u8]>::len);
    out.put_i64(offset);
    out.put_i32(size as i32);
    let crc_at = out.len();
    out.put_u32(0);
    out.put_u8(magic);
    out.put_u8(attrs);
    if magic == 1 {
        out.put_i64(ts);
    }
    for f in [key, value] {
        match f {
            Some(b) => {
                out.put_i32(b.len() as i32);
                out.put_slice(b);
            }
            None => out.put_i32(-1),
        }
    }
    let mut crc = flate2::Crc::new();
    crc.update(&out[crc_at + 4..]);
    out[crc_at..crc_at + 4].copy_from_slice(&crc.sum().to_be_bytes());
}

/// Down-converts stored v2 batches to a message set of `magic` (Java
/// `RecordsUtil.downConvert`): control batches are left out; an
/// uncompressed batch becomes one message per record at its absolute
/// offset; a compressed one becomes one wrapper of the same codec, whose
/// inner offsets are relative to its first record in magic 1 (absolute in
/// magic 0) and whose offset is its last record's, with the largest
/// timestamp (or the log append time) in magic 1.
pub(crate) fn down_convert(batches: &Bytes, magic: u8) -> Bytes {
    let mut out = BytesMut::new();
    let mut pos = 0;
    while pos < batches.len() {
        let Some(h) = batches.get(pos..).and_then(batch::parse_header) else {
            break;
        };
        let end = pos + h.size();
        let Some((h, msgs)) = v2_records(&batches.slice(pos..end.min(batches.len()))) else {
            break;
        };
        pos = end;
        if h.is_control() || msgs.is_empty() {
            continue;
        }
        let log_append = h.attributes & 0x08 != 0;
        let ts_attr = if magic == 1 && log_append { 0x08 } else { 0 };
        let ts = |m: &Msg| {
            if log_append {
                h.max_timestamp
            } else {
                m.timestamp
            }
        };
        let codec = Codec::from_attributes(h.attributes).unwrap_or(Codec::None);
        if codec == Codec::None {
            for m in &msgs {
                let (k, v) = (m.key.as_deref(), m.value.as_deref());
                put_message(&mut out, m.offset, magic, ts_attr, ts(m), k, v);
            }
            continue;
        }
        let first = msgs[0].offset;
        let mut inner = BytesMut::new();
        for m in &msgs {
            let off = if magic == 1 {
                m.offset - first
            } else {
                m.offset
            };
            let (k, v) = (m.key.as_deref(), m.value.as_deref());
            put_message(&mut inner, off, magic, 0, ts(m), k, v);
        }
        let mut value = Vec::new();
        if compression::compress(codec, None, &inner, &mut value).is_err() {
            break;
        }
        let last = msgs[msgs.len() - 1].offset;
        let max_ts = if log_append {
            h.max_timestamp
        } else {
            msgs.iter().map(|m| m.timestamp).max().unwrap_or(-1)
        };
        let attrs = codec.attribute_bits() as u8 | ts_attr;
        put_message(&mut out, last, magic, attrs, max_ts, None, Some(&value));
    }
    out.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(offset: i64, ts: i64, key: Option<&'static [u8]>, value: &'static [u8]) -> Msg {
        Msg {
            offset,
            timestamp: ts,
            key: key.map(Bytes::from_static),
            value: Some(Bytes::from_static(value)),
        }
    }

    /// Stored as v2, served back as magic 1 and 0, read again as produced.
    #[test]
    fn round_trips_through_v2() {
        let msgs = vec![
            msg(0, 10, Some(b"a"), b"1"),
            msg(1, 30, None, b"22"),
            msg(2, 20, Some(b"c"), b""),
        ];
        for codec in [Codec::None, Codec::Gzip, Codec::Lz4, Codec::Snappy] {
            let stored = to_v2_batch(&msgs, codec).unwrap();
            let h = batch::validate_produce(&stored, 1 << 20, true).unwrap();
            assert_eq!(
                (h.record_count, h.base_timestamp, h.max_timestamp),
                (3, 10, 30)
            );
            let placed = batch::stamp(&stored, 40, 0);
            let served = down_convert(&placed, 1);
            let (back, c) = parse_produced(&served).unwrap();
            assert_eq!(c, codec);
            let offsets: Vec<_> = back.iter().map(|m| (m.offset, m.timestamp)).collect();
            let want = if codec == Codec::None {
                [(40, 10), (41, 30), (42, 20)]
            } else {
                [(0, 10), (1, 30), (2, 20)] // inner, relative
            };
            assert_eq!(offsets, want, "{codec:?}");
            assert_eq!(back[1].value.as_deref(), Some(&b"22"[..]));
            let served0 = down_convert(&placed, 0);
            let (back0, _) = parse_produced(&served0).unwrap();
            let o0: Vec<_> = back0.iter().map(|m| (m.offset, m.timestamp)).collect();
            assert_eq!(o0, [(40, -1), (41, -1), (42, -1)], "{codec:?}");
        }
    }

    #[test]
    fn corrupt_sets_are_refused() {
        let stored = batch::stamp(
            &to_v2_batch(&[msg(0, 1, None, b"x")], Codec::None).unwrap(),
            0,
            0,
        );
        let good = down_convert(&stored, 1).to_vec();
        assert!(parse_produced(&good).is_ok());
        let mut bad_crc = good.clone();
        let last = bad_crc.len() - 1;
        bad_crc[last] ^= 1;
        let mut magic2 = good.clone();
        magic2[16] = 2;
        let mut zstd = good.clone();
        zstd[17] = 4;
        for (name, b) in [
            ("crc", bad_crc),
            ("magic", magic2),
            ("zstd", zstd),
            ("empty", vec![]),
        ] {
            assert_eq!(parse_produced(&b), Err(codes::CORRUPT_MESSAGE), "{name}");
        }
    }
}
