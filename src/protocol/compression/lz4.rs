//! lz4: an LZ4 frame of independent 64 KiB blocks without checksums written
//! (what Java's `KafkaLZ4BlockOutputStream` writes), any LZ4 frame read.

use std::io::Read;

use super::{corrupt, DecompressError, Sink};
use crate::error::Result;

/// The LZ4 frame magic number, little-endian.
pub(super) const LZ4_MAGIC: [u8; 4] = 0x184D_2204u32.to_le_bytes();
/// The frame descriptor we write: FLG (version 01, independent blocks, no
/// checksums, no content size), BD (64 KiB blocks), and the header checksum
/// (second byte of xxh32 over FLG and BD; `lz4_header_matches_liblz4` checks it).
pub(super) const LZ4_DESCRIPTOR: [u8; 3] = [0x60, 0x40, 0x82];
/// The block size we write.
pub(super) const LZ4_BLOCK: usize = 64 * 1024;
/// LZ4 HC's highest level.
pub(super) const LZ4_MAX_LEVEL: i32 = 12;
/// A block whose size word has this bit is stored uncompressed.
const LZ4_UNCOMPRESSED: u32 = 0x8000_0000;

/// lz4: the frame is written by hand around liblz4's block compressor, which
/// keeps its state on the stack (fast mode): no allocation beyond `out`.
pub(super) fn compress(level: Option<i32>, input: &[u8], out: &mut Vec<u8>) -> Result<()> {
    let mode = match level {
        Some(l) if l >= 3 => lz4::block::CompressionMode::HIGHCOMPRESSION(l.min(LZ4_MAX_LEVEL)),
        _ => lz4::block::CompressionMode::DEFAULT,
    };
    let blocks = input.len().div_ceil(LZ4_BLOCK);
    out.reserve(LZ4_MAGIC.len() + LZ4_DESCRIPTOR.len() + input.len() + 4 * blocks + 4);
    out.extend_from_slice(&LZ4_MAGIC);
    out.extend_from_slice(&LZ4_DESCRIPTOR);
    for block in input.chunks(LZ4_BLOCK) {
        let at = out.len();
        out.resize(at + 4 + block.len(), 0);
        // A block that does not shrink does not fit the buffer: store it as is.
        match lz4::block::compress_to_buffer(block, Some(mode), false, &mut out[at + 4..]) {
            Ok(n) if n > 0 && n < block.len() => {
                out[at..at + 4].copy_from_slice(&(n as u32).to_le_bytes());
                out.truncate(at + 4 + n);
            }
            _ => {
                out[at..at + 4]
                    .copy_from_slice(&(block.len() as u32 | LZ4_UNCOMPRESSED).to_le_bytes());
                out[at + 4..].copy_from_slice(block);
            }
        }
    }
    out.extend_from_slice(&[0; 4]);
    Ok(())
}

/// lz4: frames of independent blocks are parsed here and each block goes
/// through liblz4's bounds-checked block decoder; a frame of linked blocks
/// (which needs the previous block as a dictionary) goes to liblz4's frame
/// decoder. Skippable frames are skipped; bytes after the last frame that do
/// not start another frame are ignored.
pub(super) fn decompress(
    input: &[u8],
    sink: &mut Sink<'_>,
) -> std::result::Result<(), DecompressError> {
    let mut rest = input;
    let mut frames = 0;
    loop {
        let Some(magic) = rest.get(..4) else {
            return if frames == 0 {
                Err(corrupt("no lz4 frame"))
            } else {
                Ok(())
            };
        };
        let magic = u32::from_le_bytes([magic[0], magic[1], magic[2], magic[3]]);
        if magic & 0xFFFF_FFF0 == 0x184D_2A50 {
            let len = rest
                .get(4..8)
                .ok_or_else(|| corrupt("truncated skippable frame"))?;
            let len = u32::from_le_bytes([len[0], len[1], len[2], len[3]]) as usize;
            rest = rest
                .get(8..)
                .and_then(|r| r.get(len..))
                .ok_or_else(|| corrupt("truncated skippable frame"))?;
            continue;
        }
        if magic != 0x184D_2204 {
            return if frames == 0 {
                Err(corrupt("missing lz4 frame magic"))
            } else {
                Ok(())
            };
        }
        frames += 1;
        rest = decode_frame(rest, sink)?;
    }
}

/// Decodes the frame at the start of `frame`, returning the bytes after it.
fn decode_frame<'a>(
    frame: &'a [u8],
    sink: &mut Sink<'_>,
) -> std::result::Result<&'a [u8], DecompressError> {
    let short = || corrupt("truncated lz4 frame");
    let desc = frame.get(4..6).ok_or_else(short)?;
    let (flg, bd) = (desc[0], desc[1]);
    if flg >> 6 != 1 || flg & 0x02 != 0 || bd & 0x8F != 0 {
        return Err(corrupt(
            "unsupported lz4 frame version or reserved bits set",
        ));
    }
    if flg & 0x01 != 0 {
        return Err(corrupt("lz4 frames with a dictionary id are not supported"));
    }
    let block_max = match (bd >> 4) & 0x07 {
        4 => 64 << 10,
        5 => 256 << 10,
        6 => 1 << 20,
        7 => 4 << 20,
        other => return Err(corrupt(format_args!("lz4 block size id {other}"))),
    };
    if flg & 0x20 == 0 {
        return linked_frame(frame, sink);
    }
    let block_checksum = if flg & 0x10 != 0 { 4 } else { 0 };
    let mut pos = 6 + if flg & 0x08 != 0 { 8 } else { 0 } + 1; // content size, header checksum
    loop {
        let word = frame.get(pos..pos + 4).ok_or_else(short)?;
        let word = u32::from_le_bytes([word[0], word[1], word[2], word[3]]);
        pos += 4;
        if word == 0 {
            break;
        }
        let len = (word & !LZ4_UNCOMPRESSED) as usize;
        let data = frame
            .get(pos..)
            .and_then(|r| r.get(..len))
            .ok_or_else(short)?;
        pos += len + block_checksum;
        if len > block_max {
            return Err(corrupt("lz4 block larger than the frame's block size"));
        }
        if word & LZ4_UNCOMPRESSED != 0 {
            sink.extend(data)?;
            continue;
        }
        let cap = block_max.min(sink.room());
        if sink.reserve(cap.max(1)) == 0 {
            return Err(DecompressError::Limit(sink.limit));
        }
        let at = sink.zeroed(cap);
        match lz4::block::decompress_to_buffer(data, Some(cap as i32), &mut sink.out[at..]) {
            Ok(n) => sink.out.truncate(at + n),
            // liblz4 cannot tell "output does not fit" from "corrupt"; with a
            // full-size buffer it is corrupt, with a shortened one it is taken
            // as over the limit (a retry with more room then tells which).
            Err(_) if cap < block_max => return Err(DecompressError::Limit(sink.limit)),
            Err(e) => return Err(corrupt(e)),
        }
    }
    if flg & 0x04 != 0 {
        pos += 4;
    }
    frame.get(pos..).ok_or_else(short)
}

/// A frame of linked blocks, through liblz4's frame decoder with bounded reads.
fn linked_frame<'a>(
    frame: &'a [u8],
    sink: &mut Sink<'_>,
) -> std::result::Result<&'a [u8], DecompressError> {
    let mut dec = lz4::Decoder::new(frame).map_err(corrupt)?;
    loop {
        let room = sink.room();
        if room == 0 {
            let mut probe = [0u8; 1];
            return match dec.read(&mut probe) {
                Ok(0) => break,
                Ok(_) => Err(DecompressError::Limit(sink.limit)),
                Err(e) => Err(corrupt(e)),
            };
        }
        let chunk = sink.reserve(64 << 10).min(room);
        let at = sink.zeroed(chunk);
        match dec.read(&mut sink.out[at..]) {
            Ok(0) => {
                sink.out.truncate(at);
                break;
            }
            Ok(n) => sink.out.truncate(at + n),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => sink.out.truncate(at),
            Err(e) => return Err(corrupt(e)),
        }
    }
    let (rest, res) = dec.finish();
    res.map_err(|_| corrupt("truncated lz4 frame"))?;
    Ok(rest)
}

#[cfg(test)]
mod tests {
    // Imports live in the tests: the record_batch bench compiles this file
    // with cfg(test) but without its #[test] functions.

    #[test]
    fn interop_with_reference_codec() {
        use std::io::{Read, Write};

        use super::super::tests::{interop, sample};
        use super::super::Codec;

        let input = sample(200_000);
        let mut lz_frames = Vec::new();
        for (mode, block_checksum) in [
            (lz4::BlockMode::Linked, true),
            (lz4::BlockMode::Independent, true),
        ] {
            let mut e = lz4::EncoderBuilder::new()
                .block_mode(mode)
                .block_checksum(if block_checksum {
                    lz4::liblz4::BlockChecksum::BlockChecksumEnabled
                } else {
                    lz4::liblz4::BlockChecksum::NoBlockChecksum
                })
                .content_size(input.len() as u64)
                .build(Vec::new())
                .unwrap();
            e.write_all(&input).unwrap();
            lz_frames.push(e.finish().0);
        }
        interop(Codec::Lz4, &input, &lz_frames, |ours| {
            let mut back = Vec::new();
            lz4::Decoder::new(ours)
                .unwrap()
                .read_to_end(&mut back)
                .unwrap();
            back
        });
    }

    #[test]
    fn lz4_header_matches_liblz4() {
        use super::{LZ4_DESCRIPTOR, LZ4_MAGIC};

        let e = lz4::EncoderBuilder::new()
            .block_mode(lz4::BlockMode::Independent)
            .block_size(lz4::BlockSize::Max64KB)
            .block_checksum(lz4::liblz4::BlockChecksum::NoBlockChecksum)
            .checksum(lz4::ContentChecksum::NoChecksum)
            .build(Vec::new())
            .unwrap();
        let (frame, res) = e.finish();
        res.unwrap();
        assert_eq!(frame[..4], LZ4_MAGIC);
        assert_eq!(frame[4..7], LZ4_DESCRIPTOR);
    }
}
