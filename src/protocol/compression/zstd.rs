//! zstd: one frame with its content size written, any number of frames read,
//! with compression and decompression contexts cached per thread.

use std::cell::Cell;
use std::io::Cursor;

use zstd::zstd_safe::{self, CCtx, CParameter, DCtx, DParameter, InBuffer, OutBuffer};

use super::{compress_err, corrupt, put_cached, take_cached, Codec, DecompressError, Sink};
use crate::error::Result;

thread_local! {
    /// The zstd compression context and the level it is set to.
    static ZSTD_C: Cell<Option<(i32, CCtx<'static>)>> = const { Cell::new(None) };
    /// The zstd decompression context.
    static ZSTD_D: Cell<Option<DCtx<'static>>> = const { Cell::new(None) };
}

/// zstd's default level (Java's and the zstd CLI's).
const ZSTD_DEFAULT_LEVEL: i32 = 3;

/// zstd: one frame from a cached context, written straight into `out`'s
/// spare capacity.
pub(super) fn compress(level: Option<i32>, input: &[u8], out: &mut Vec<u8>) -> Result<()> {
    let (lo, hi) = Codec::Zstd.level_range().unwrap_or((1, 22));
    let level = level.map_or(ZSTD_DEFAULT_LEVEL, |l| l.clamp(lo, hi));
    let zerr = |code| compress_err(Codec::Zstd, zstd_safe::get_error_name(code));
    let mut cctx = match take_cached(&ZSTD_C) {
        Some((l, c)) if l == level => c,
        _ => {
            let mut c =
                CCtx::try_create().ok_or_else(|| compress_err(Codec::Zstd, "out of memory"))?;
            c.set_parameter(CParameter::CompressionLevel(level))
                .map_err(zerr)?;
            c
        }
    };
    out.reserve(zstd_safe::compress_bound(input.len()));
    let start = out.len();
    let mut cursor = Cursor::new(&mut *out);
    cursor.set_position(start as u64);
    let res = cctx.compress2(&mut cursor, input);
    put_cached(&ZSTD_C, (level, cctx));
    res.map(drop).map_err(zerr)
}

/// zstd: streaming decompression with bounded output; frames are decoded
/// until the input ends.
pub(super) fn decompress(
    input: &[u8],
    sink: &mut Sink<'_>,
) -> std::result::Result<(), DecompressError> {
    let mut dctx = match take_cached(&ZSTD_D) {
        Some(d) => d,
        None => DCtx::try_create().ok_or_else(|| corrupt("out of memory for a zstd context"))?,
    };
    let res = frames(&mut dctx, input, sink);
    put_cached(&ZSTD_D, dctx);
    res
}

/// The decode loop of [`decompress`].
fn frames(
    dctx: &mut DCtx<'static>,
    input: &[u8],
    sink: &mut Sink<'_>,
) -> std::result::Result<(), DecompressError> {
    let zerr = |code| corrupt(zstd_safe::get_error_name(code));
    dctx.reset(zstd_safe::ResetDirective::SessionOnly)
        .map_err(zerr)?;
    // The window a frame may ask for: enough for any level's default
    // parameters (8 MiB at level 19), more only when the limit allows it.
    let window_log = (usize::BITS - sink.limit.saturating_sub(1).leading_zeros()).clamp(23, 27);
    dctx.set_parameter(DParameter::WindowLogMax(window_log))
        .map_err(zerr)?;
    if let Ok(Some(size)) = zstd_safe::get_frame_content_size(input) {
        sink.reserve(usize::try_from(size).unwrap_or(usize::MAX));
    }
    if input.is_empty() {
        return Err(corrupt("no zstd frame"));
    }
    let mut inbuf = InBuffer::around(input);
    loop {
        let (in0, out0) = (inbuf.pos(), sink.out.len());
        if sink.reserve(64 << 10) == 0 {
            let mut probe = [0u8; 1];
            let mut ob = OutBuffer::around(&mut probe[..]);
            let hint = dctx.decompress_stream(&mut ob, &mut inbuf).map_err(zerr)?;
            if ob.pos() > 0 {
                return Err(DecompressError::Limit(sink.limit));
            }
            if hint == 0 && inbuf.pos() == input.len() {
                return Ok(());
            }
            if inbuf.pos() == in0 {
                return Err(corrupt("truncated zstd frame"));
            }
            continue;
        }
        let hint = if sink.spare_fits() {
            let mut ob = OutBuffer::around_pos(&mut *sink.out, out0);
            dctx.decompress_stream(&mut ob, &mut inbuf).map_err(zerr)?
        } else {
            let at = sink.zeroed(sink.room().min(64 << 10));
            let mut ob = OutBuffer::around(&mut sink.out[at..]);
            let res = dctx.decompress_stream(&mut ob, &mut inbuf);
            let n = ob.pos();
            sink.out.truncate(at + n);
            res.map_err(zerr)?
        };
        if hint == 0 && inbuf.pos() == input.len() {
            return Ok(());
        }
        if hint != 0 && inbuf.pos() == in0 && sink.out.len() == out0 {
            // No progress with room to write: the input ended mid-frame.
            return Err(corrupt("truncated zstd frame"));
        }
    }
}

#[cfg(test)]
mod tests {
    // Imports live in the tests: the record_batch bench compiles this file
    // with cfg(test) but without its #[test] functions.

    #[test]
    fn interop_with_reference_codec() {
        use std::io::Write;

        use super::super::tests::{interop, sample};
        use super::super::Codec;

        let input = sample(200_000);
        let zs = zstd::stream::encode_all(&input[..], 3).unwrap();
        let mut zs_stream = zstd::stream::Encoder::new(Vec::new(), 19).unwrap(); // no content size
        zs_stream.write_all(&input).unwrap();
        let zs_stream = zs_stream.finish().unwrap();
        interop(Codec::Zstd, &input, &[zs, zs_stream], |ours| {
            zstd::stream::decode_all(ours).unwrap()
        });
    }
}
