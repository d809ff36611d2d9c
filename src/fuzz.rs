//! Entry points for the fuzz harness (`tests/fuzz.rs`) into the crate's
//! private decoders: the record batch decoder and the decompressors. Not
//! part of the public API: hidden from the docs and free to change.

use bytes::Bytes;

use crate::protocol::compression::{self, Codec, DecompressError};
use crate::protocol::record_batch::{decode_batches, write_batch, BatchHeader, RecordsBuf};

/// What [`decode_record_batches`] read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BatchesRead {
    /// Batches decoded before the end or the first bad one.
    pub batches: usize,
    /// Records in them.
    pub records: usize,
    /// Key, value and header bytes in them (every byte is touched).
    pub bytes: usize,
    /// Whether decoding stopped at an error.
    pub error: bool,
    /// Whether that error was the budget running out.
    pub over_budget: bool,
}

/// Decodes the concatenated record batches (v2 or legacy) of a fetch
/// response's records field, as the consumer does, with `budget` bytes of
/// decompression budget; touches every decoded byte.
pub fn decode_record_batches(data: &[u8], budget: usize) -> BatchesRead {
    let data = Bytes::copy_from_slice(data);
    let mut left = budget;
    let out = decode_batches(&data, &mut left);
    let mut read = BatchesRead {
        batches: out.batches.len(),
        error: out.error.is_some(),
        over_budget: out.over_budget,
        ..BatchesRead::default()
    };
    for b in &out.batches {
        let _ = b.last_offset();
        for r in &b.records {
            read.records += 1;
            let kv = [r.key.as_ref(), r.value.as_ref()];
            read.bytes += kv.iter().flatten().map(|b| b.len()).sum::<usize>();
            for (k, v) in &r.headers {
                read.bytes += k.len() + v.as_ref().map_or(0, |v| v.len());
            }
        }
    }
    read
}

fn codec(id: u8) -> Option<Codec> {
    Some(match id {
        0 => Codec::None,
        1 => Codec::Gzip,
        2 => Codec::Snappy,
        3 => Codec::Lz4,
        4 => Codec::Zstd,
        _ => return None,
    })
}

/// Why [`decompress`] failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecompressFailure {
    /// The output would pass the limit.
    Limit,
    /// Corrupt or truncated input.
    Corrupt(String),
}

/// Decompresses `input` with the codec of attribute bits `codec_id` (0 none,
/// 1 gzip, 2 snappy, 3 lz4, 4 zstd) into a fresh buffer of at most `limit`
/// bytes; returns the output length.
///
/// # Panics
///
/// For a codec id over 4.
pub fn decompress(codec_id: u8, input: &[u8], limit: usize) -> Result<usize, DecompressFailure> {
    let c = codec(codec_id).expect("codec id 0..=4");
    let mut out = Vec::new();
    let res = compression::decompress_checked(c, input, limit, &mut out);
    assert!(
        out.capacity() <= limit.max(64),
        "{c} reserved {} bytes for a limit of {limit}",
        out.capacity()
    );
    match res {
        Ok(()) => Ok(out.len()),
        Err(DecompressError::Limit(_)) => Err(DecompressFailure::Limit),
        Err(DecompressError::Corrupt(m)) => Err(DecompressFailure::Corrupt(m)),
    }
}

/// Compresses `input` with the codec of attribute bits `codec_id`, for the
/// harness's seed inputs.
///
/// # Panics
///
/// For a codec id over 4, or if the codec fails.
pub fn compress(codec_id: u8, input: &[u8]) -> Vec<u8> {
    let c = codec(codec_id).expect("codec id 0..=4");
    let mut out = Vec::new();
    compression::compress(c, None, input, &mut out).expect("compress");
    out
}

/// One v2 record batch holding `records` (key, value, headers), written as
/// the producer writes it, with the codec of attribute bits `codec_id` (the
/// batch goes out uncompressed when compression does not make it smaller).
///
/// # Panics
///
/// For a codec id over 4, no records, or a codec failure.
#[allow(clippy::type_complexity)]
pub fn record_batch(
    records: &[(Option<&[u8]>, Option<&[u8]>, &[(&str, Option<&[u8]>)])],
    codec_id: u8,
    transactional: bool,
) -> Vec<u8> {
    let c = codec(codec_id).expect("codec id 0..=4");
    let mut buf = RecordsBuf::new(0);
    for (i, (k, v, h)) in records.iter().enumerate() {
        buf.append(1_700_000_000_000 + i as i64, *k, *v, h);
    }
    let header = BatchHeader {
        producer_id: if transactional { 7 } else { -1 },
        producer_epoch: if transactional { 0 } else { -1 },
        base_sequence: if transactional { 0 } else { -1 },
        transactional,
        ..BatchHeader::default()
    };
    let mut out = Vec::new();
    write_batch(&buf, &header, c, None, &mut Vec::new(), &mut out).expect("write_batch");
    out
}
