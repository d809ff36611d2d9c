//! gzip: one RFC 1952 member written around raw deflate (flate2), read as any
//! number of members, with the deflate state cached per thread.

use std::cell::Cell;

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

use super::{compress_err, corrupt, put_cached, take_cached, Codec, DecompressError, Sink};
use crate::error::Result;

thread_local! {
    /// The deflate compressor and the level it was made for.
    static GZIP_C: Cell<Option<(u32, Compress)>> = const { Cell::new(None) };
    /// The raw inflate state.
    static GZIP_D: Cell<Option<Decompress>> = const { Cell::new(None) };
}

/// gzip's default level (Java's `Deflater.DEFAULT_COMPRESSION`, Go's `gzip.DefaultCompression`).
const GZIP_DEFAULT_LEVEL: u32 = 6;
/// A gzip member header: deflate, no flags, no mtime, unknown OS.
const GZIP_HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];

/// gzip: a hand-written RFC 1952 header and trailer around raw deflate, so the
/// (large) deflate state is reused across calls.
pub(super) fn compress(level: Option<i32>, input: &[u8], out: &mut Vec<u8>) -> Result<()> {
    let level = level.map_or(GZIP_DEFAULT_LEVEL, |l| l.clamp(0, 9) as u32);
    let mut c = match take_cached(&GZIP_C) {
        Some((l, mut c)) if l == level => {
            c.reset();
            c
        }
        _ => Compress::new(Compression::new(level), false),
    };
    out.extend_from_slice(&GZIP_HEADER);
    out.reserve(input.len() / 2 + 64);
    let res = loop {
        let consumed = usize::try_from(c.total_in()).unwrap_or(usize::MAX);
        let rest = input.get(consumed..).unwrap_or_default();
        if out.len() == out.capacity() {
            out.reserve((input.len() / 4).max(1024));
        }
        match c.compress_vec(rest, out, FlushCompress::Finish) {
            Ok(Status::StreamEnd) => break Ok(()),
            Ok(_) => {}
            Err(e) => break Err(compress_err(Codec::Gzip, e)),
        }
    };
    put_cached(&GZIP_C, (level, c));
    res?;
    let mut crc = flate2::Crc::new();
    crc.update(input);
    out.extend_from_slice(&crc.sum().to_le_bytes());
    out.extend_from_slice(&(input.len() as u32).to_le_bytes());
    Ok(())
}

/// Skips an RFC 1952 member header, returning the deflate data after it.
fn member_body(input: &[u8]) -> std::result::Result<&[u8], DecompressError> {
    let short = || corrupt("truncated gzip header");
    let head = input.get(..10).ok_or_else(short)?;
    if head[..2] != [0x1f, 0x8b] {
        return Err(corrupt("missing gzip magic"));
    }
    if head[2] != 8 {
        return Err(corrupt(format_args!(
            "gzip method {} is not deflate",
            head[2]
        )));
    }
    let flags = head[3];
    let mut pos = 10;
    if flags & 0x04 != 0 {
        let xlen = input.get(pos..pos + 2).ok_or_else(short)?;
        pos += 2 + usize::from(u16::from_le_bytes([xlen[0], xlen[1]]));
    }
    for flag in [0x08, 0x10] {
        if flags & flag != 0 {
            let rest = input.get(pos..).ok_or_else(short)?;
            pos += 1 + rest.iter().position(|&b| b == 0).ok_or_else(short)?;
        }
    }
    if flags & 0x02 != 0 {
        pos += 2;
    }
    input.get(pos..).ok_or_else(short)
}

/// gzip: every member is inflated and its CRC-32 and size checked; bytes after
/// the last member that do not start another member are ignored, as Java's
/// `GZIPInputStream` does.
pub(super) fn decompress(
    input: &[u8],
    sink: &mut Sink<'_>,
) -> std::result::Result<(), DecompressError> {
    let mut d = take_cached(&GZIP_D).unwrap_or_else(|| Decompress::new(false));
    let res = members(&mut d, input, sink);
    put_cached(&GZIP_D, d);
    res
}

/// The member loop of [`decompress`].
fn members(
    d: &mut Decompress,
    input: &[u8],
    sink: &mut Sink<'_>,
) -> std::result::Result<(), DecompressError> {
    // ISIZE of the last member sizes the first reservation: exact for the
    // usual one-member input, and bounded by deflate's best ratio and the limit.
    let hint = match input.len().checked_sub(4).and_then(|at| input.get(at..)) {
        Some(t) => (u32::from_le_bytes([t[0], t[1], t[2], t[3]]) as usize)
            .min(input.len().saturating_mul(1032)),
        None => 0,
    };
    sink.reserve(hint.max(64));
    let mut rest = input;
    loop {
        let body = member_body(rest)?;
        d.reset(false);
        let member_start = sink.out.len();
        loop {
            let consumed = d.total_in() as usize;
            let src = body.get(consumed..).unwrap_or_default();
            let (in0, out0) = (d.total_in(), d.total_out());
            if sink.reserve(4096) == 0 {
                // At the limit: anything more than the end of the stream is too much.
                let mut probe = [0u8; 1];
                match d.decompress(src, &mut probe, FlushDecompress::None) {
                    Ok(_) if d.total_out() > out0 => {
                        return Err(DecompressError::Limit(sink.limit))
                    }
                    Ok(Status::StreamEnd) => break,
                    Ok(_) if d.total_in() == in0 => {
                        return Err(corrupt("truncated deflate stream"))
                    }
                    Ok(_) => continue,
                    Err(e) => return Err(corrupt(e)),
                }
            }
            let writable = sink.out.capacity() - sink.out.len();
            let res = if sink.spare_fits() {
                d.decompress_vec(src, sink.out, FlushDecompress::None)
            } else {
                let at = sink.zeroed(sink.room().min(64 << 10));
                let res = d.decompress(src, &mut sink.out[at..], FlushDecompress::None);
                sink.out.truncate(at + (d.total_out() - out0) as usize);
                res
            };
            match res {
                Ok(Status::StreamEnd) => break,
                Ok(_) if d.total_in() == in0 && d.total_out() == out0 && writable > 0 => {
                    return Err(corrupt("truncated deflate stream"));
                }
                Ok(_) => {}
                Err(e) => return Err(corrupt(e)),
            }
        }
        let end = d.total_in() as usize;
        let trailer = body
            .get(end..end + 8)
            .ok_or_else(|| corrupt("truncated gzip trailer"))?;
        let member = sink.out.get(member_start..).unwrap_or_default();
        let mut crc = flate2::Crc::new();
        crc.update(member);
        if trailer[..4] != crc.sum().to_le_bytes() {
            return Err(corrupt("gzip CRC-32 mismatch"));
        }
        if trailer[4..] != (member.len() as u32).to_le_bytes() {
            return Err(corrupt("gzip size mismatch"));
        }
        rest = body.get(end + 8..).unwrap_or_default();
        if !rest.starts_with(&[0x1f, 0x8b]) {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    // Imports live in the tests: the record_batch bench compiles this file
    // with cfg(test) but without its #[test] functions.

    #[test]
    fn interop_with_reference_codec() {
        use std::io::{Read, Write};

        use flate2::Compression;

        use super::super::tests::{interop, sample};
        use super::super::Codec;

        let input = sample(200_000);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), Compression::default());
        gz.write_all(&input).unwrap();
        interop(Codec::Gzip, &input, &[gz.finish().unwrap()], |ours| {
            let mut back = Vec::new();
            flate2::read::GzDecoder::new(ours)
                .read_to_end(&mut back)
                .unwrap();
            back
        });
    }
}
