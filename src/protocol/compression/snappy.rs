//! snappy: raw blocks written (like kgo and librdkafka), raw or xerial-framed
//! streams (`\x82SNAPPY\0`, what the Java client writes) read.

use std::cell::Cell;

use super::{compress_err, corrupt, put_cached, take_cached, Codec, DecompressError, Sink};
use crate::error::Result;

thread_local! {
    /// The snappy encoder (holds its hash table).
    static SNAPPY_C: Cell<Option<snap::raw::Encoder>> = const { Cell::new(None) };
}

/// The xerial snappy-java stream header's magic (followed by two big-endian
/// i32s, version and compatible version, then `[len: i32 BE][raw block]`*).
pub(super) const XERIAL_MAGIC: &[u8; 8] = b"\x82SNAPPY\x00";
/// The xerial header's size.
pub(super) const XERIAL_HEADER_LEN: usize = 16;

/// snappy: raw format, like kgo (Java and librdkafka read it).
pub(super) fn compress(input: &[u8], out: &mut Vec<u8>) -> Result<()> {
    let max = snap::raw::max_compress_len(input.len());
    if max == 0 && !input.is_empty() {
        return Err(compress_err(Codec::Snappy, "input too large for snappy"));
    }
    let mut enc = take_cached(&SNAPPY_C).unwrap_or_else(snap::raw::Encoder::new);
    let start = out.len();
    out.resize(start + max, 0);
    let res = enc.compress(input, &mut out[start..]);
    put_cached(&SNAPPY_C, enc);
    let n = res.map_err(|e| compress_err(Codec::Snappy, e))?;
    out.truncate(start + n);
    Ok(())
}

/// snappy: xerial-framed when the magic is there, else one raw block.
pub(super) fn decompress(
    input: &[u8],
    sink: &mut Sink<'_>,
) -> std::result::Result<(), DecompressError> {
    if input.len() < XERIAL_HEADER_LEN || !input.starts_with(XERIAL_MAGIC) {
        return raw_block(input, sink);
    }
    // Two passes: the first checks every chunk's framing and sums the
    // decompressed sizes, so an over-limit stream fails before any work and
    // the output is reserved once.
    let mut total = 0usize;
    for chunk in XerialChunks(&input[XERIAL_HEADER_LEN..]) {
        let n = snap::raw::decompress_len(chunk?).map_err(corrupt)?;
        total = total.saturating_add(n);
    }
    if total > sink.room() {
        return Err(DecompressError::Limit(sink.limit));
    }
    sink.reserve(total);
    for chunk in XerialChunks(&input[XERIAL_HEADER_LEN..]) {
        raw_block(chunk?, sink)?;
    }
    Ok(())
}

/// Iterates over the raw blocks of a xerial stream (after its header).
struct XerialChunks<'a>(&'a [u8]);

impl<'a> Iterator for XerialChunks<'a> {
    type Item = std::result::Result<&'a [u8], DecompressError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.0.is_empty() {
            return None;
        }
        let Some(len) = self.0.get(..4) else {
            self.0 = &[];
            return Some(Err(corrupt("truncated xerial chunk length")));
        };
        let len = u32::from_be_bytes([len[0], len[1], len[2], len[3]]) as usize;
        match self.0.get(4..).and_then(|r| r.get(..len)) {
            Some(chunk) => {
                self.0 = &self.0[4 + len..];
                Some(Ok(chunk))
            }
            None => {
                self.0 = &[];
                Some(Err(corrupt("xerial chunk longer than the data")))
            }
        }
    }
}

/// One raw snappy block: its header states the output size, which is checked
/// against the limit before anything is allocated.
fn raw_block(block: &[u8], sink: &mut Sink<'_>) -> std::result::Result<(), DecompressError> {
    let n = snap::raw::decompress_len(block).map_err(corrupt)?;
    if n > sink.room() {
        return Err(DecompressError::Limit(sink.limit));
    }
    sink.reserve(n);
    let at = sink.zeroed(n);
    let written = snap::raw::Decoder::new()
        .decompress(block, &mut sink.out[at..])
        .map_err(corrupt)?;
    sink.out.truncate(at + written);
    Ok(())
}

#[cfg(test)]
pub(super) mod tests {
    // The tests' own imports live in them: the record_batch bench compiles
    // this file with cfg(test) but without its #[test] functions.
    use super::XERIAL_MAGIC;

    /// A xerial stream as snappy-java's `SnappyOutputStream` writes it.
    pub(in super::super) fn xerial(input: &[u8], chunk: usize) -> Vec<u8> {
        let mut out = XERIAL_MAGIC.to_vec();
        out.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 1]);
        for c in input.chunks(chunk) {
            let block = snap::raw::Encoder::new().compress_vec(c).unwrap();
            out.extend_from_slice(&(block.len() as u32).to_be_bytes());
            out.extend_from_slice(&block);
        }
        out
    }

    #[test]
    fn xerial_snappy() {
        use super::super::tests::sample;
        use super::super::{decompress, Codec};

        let input = sample(100_000);
        let mut out = Vec::new();
        decompress(
            Codec::Snappy,
            &xerial(&input, 32 * 1024),
            input.len(),
            &mut out,
        )
        .unwrap();
        assert!(out == input);
        assert_eq!(out.capacity(), input.len(), "reserved exactly once");
        let mut bad = xerial(&input, 32 * 1024);
        bad.truncate(bad.len() - 10);
        out.clear();
        assert!(decompress(Codec::Snappy, &bad, input.len(), &mut out).is_err());
        assert!(out.is_empty());
    }

    #[test]
    fn interop_with_reference_codec() {
        use super::super::tests::{interop, sample};
        use super::super::Codec;

        let input = sample(200_000);
        interop(Codec::Snappy, &input, &[], |ours| {
            snap::raw::Decoder::new().decompress_vec(ours).unwrap()
        });
    }
}
