//! Record batch compression: gzip, snappy, lz4 and zstd, framed the way Kafka
//! clients frame them.
//!
//! | codec | written as | read |
//! | --- | --- | --- |
//! | gzip | one RFC 1952 member (flate2, default level 6) | any number of members |
//! | snappy | raw snappy, like kgo and librdkafka | raw, or xerial-framed (`\x82SNAPPY\0`, what the Java client writes) |
//! | lz4 | an LZ4 frame of independent 64 KiB blocks, no checksums (what Java's `KafkaLZ4BlockOutputStream` writes) | any LZ4 frame; linked blocks through liblz4's frame decoder |
//! | zstd | one zstd frame with its content size (default level 3) | any number of frames |
//!
//! [`decompress`] never lets its output grow past the caller's limit, so a
//! decompression bomb costs at most that limit: the consumer passes what is
//! left of its fetch memory budget. Compression and decompression contexts
//! are cached per thread (gzip, snappy, zstd), so steady-state calls allocate
//! only when the caller's `out` has to grow.
//!
//! Integrity is the batch CRC's job (CRC-32C over the compressed bytes), so
//! the lz4 frame header checksum is not verified here; that also accepts the
//! wrong header checksum old Kafka versions wrote for magic 0 message sets.
//!
//! This module is the codecs' face: [`Codec`], the dispatch in [`compress`]
//! and [`decompress_checked`], and the output limit ([`Sink`]) every codec
//! decompresses into. Each codec's own framing lives in its file: `gzip`,
//! `snappy` (with xerial framing), `lz4` and `zstd`.

use std::cell::Cell;
use std::fmt;
use std::thread::LocalKey;

use crate::error::{Error, Result};

mod gzip;
mod lz4;
mod snappy;
mod zstd;

/// A record batch compression codec: the low three bits of a batch's attributes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Codec {
    /// No compression.
    None = 0,
    /// gzip (deflate with the RFC 1952 header and trailer).
    Gzip = 1,
    /// Snappy.
    Snappy = 2,
    /// LZ4, frame format.
    Lz4 = 3,
    /// Zstandard.
    Zstd = 4,
}

impl Codec {
    /// Reads the codec from batch (or legacy message) attributes.
    ///
    /// # Errors
    ///
    /// [`Error::Protocol`] for the unassigned values 5, 6 and 7.
    pub(crate) fn from_attributes(attrs: i16) -> Result<Codec> {
        match attrs & 0x07 {
            0 => Ok(Codec::None),
            1 => Ok(Codec::Gzip),
            2 => Ok(Codec::Snappy),
            3 => Ok(Codec::Lz4),
            4 => Ok(Codec::Zstd),
            other => Err(Error::protocol(format_args!(
                "unknown compression codec {other} in batch attributes"
            ))),
        }
    }

    /// The codec's bits in a batch's attributes.
    pub(crate) fn attribute_bits(self) -> i16 {
        self as i16
    }

    /// The codec's name as Kafka's `compression.type` spells it.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Codec::None => "none",
            Codec::Gzip => "gzip",
            Codec::Snappy => "snappy",
            Codec::Lz4 => "lz4",
            Codec::Zstd => "zstd",
        }
    }

    /// The levels [`compress`] distinguishes for this codec (others are clamped
    /// into this range), or `None` when the codec has no levels.
    pub(crate) fn level_range(self) -> Option<(i32, i32)> {
        match self {
            Codec::None | Codec::Snappy => None,
            Codec::Gzip => Some((0, 9)),
            Codec::Lz4 => Some((0, lz4::LZ4_MAX_LEVEL)),
            Codec::Zstd => {
                // `::zstd`: the crate, not this module's `zstd` codec file.
                let r = ::zstd::compression_level_range();
                Some((*r.start(), *r.end()))
            }
        }
    }
}

impl fmt::Display for Codec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why [`decompress_checked`] failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DecompressError {
    /// The output would grow past the limit (the limit, in bytes).
    Limit(usize),
    /// The input is corrupt, truncated or uses an unsupported feature.
    Corrupt(String),
}

impl DecompressError {
    /// Converts into the crate's error: always [`Error::Compression`].
    #[cfg(test)]
    pub(crate) fn into_error(self, codec: Codec) -> Error {
        match self {
            DecompressError::Limit(limit) => Error::Compression(
                format!(
                    "{codec} data decompresses to more than {limit} bytes: exceeds limit \
                     (a decompression bomb, or too little fetch memory left)"
                )
                .into(),
            ),
            DecompressError::Corrupt(m) => {
                Error::Compression(format!("corrupt {codec} data: {m}").into())
            }
        }
    }
}

/// Shorthand for a [`DecompressError::Corrupt`].
fn corrupt(msg: impl fmt::Display) -> DecompressError {
    DecompressError::Corrupt(msg.to_string())
}

/// Shorthand for an [`Error::Compression`] while compressing.
fn compress_err(codec: Codec, msg: impl fmt::Display) -> Error {
    Error::Compression(format!("compressing with {codec} failed: {msg}").into())
}

/// Appends `input` compressed with `codec` to `out`.
///
/// `level` is the codec's own level (gzip 0..=9, lz4 0..=12 where 3 and up is
/// LZ4 HC, zstd's levels); `None` is the codec's default (gzip 6, lz4 fast,
/// zstd 3). Out-of-range levels are clamped; see [`Codec::level_range`].
/// [`Codec::None`] copies.
///
/// # Errors
///
/// [`Error::Compression`] if the codec library fails (input too large for it,
/// out of memory); `out` is then back at its original length.
pub(crate) fn compress(
    codec: Codec,
    level: Option<i32>,
    input: &[u8],
    out: &mut Vec<u8>,
) -> Result<()> {
    let start = out.len();
    let res = match codec {
        Codec::None => {
            out.extend_from_slice(input);
            Ok(())
        }
        Codec::Gzip => gzip::compress(level, input, out),
        Codec::Snappy => snappy::compress(input, out),
        Codec::Lz4 => lz4::compress(level, input, out),
        Codec::Zstd => zstd::compress(level, input, out),
    };
    if res.is_err() {
        out.truncate(start);
    }
    res
}

/// Appends `input` decompressed with `codec` to `out`, appending at most
/// `limit` bytes and never reserving capacity past `out.len() + limit`
/// (so a fresh `out` never holds more than `limit` bytes of memory).
///
/// Snappy input may be raw or xerial-framed.
///
/// # Errors
///
/// [`Error::Compression`] on corrupt or truncated input, and (with "exceeds
/// limit" in the message) when the output would pass `limit`; `out` is then
/// back at its original length. (The library decodes with
/// `decompress_checked`; this form is for the codec's tests.)
#[cfg(test)]
pub(crate) fn decompress(
    codec: Codec,
    input: &[u8],
    limit: usize,
    out: &mut Vec<u8>,
) -> Result<()> {
    decompress_checked(codec, input, limit, out).map_err(|e| e.into_error(codec))
}

/// Decompresses with a typed error, so a caller can tell an exhausted
/// budget ([`DecompressError::Limit`]) from corrupt data.
pub(crate) fn decompress_checked(
    codec: Codec,
    input: &[u8],
    limit: usize,
    out: &mut Vec<u8>,
) -> std::result::Result<(), DecompressError> {
    let start = out.len();
    let mut sink = Sink { out, start, limit };
    let res = match codec {
        Codec::None => sink.extend(input),
        Codec::Gzip => gzip::decompress(input, &mut sink),
        Codec::Snappy => snappy::decompress(input, &mut sink),
        Codec::Lz4 => lz4::decompress(input, &mut sink),
        Codec::Zstd => zstd::decompress(input, &mut sink),
    };
    if res.is_err() {
        out.truncate(start);
    }
    res
}

/// The output of one decompression: `out` may hold at most `start + limit`
/// bytes, and capacity is only ever reserved up to that.
struct Sink<'a> {
    /// The caller's buffer.
    out: &'a mut Vec<u8>,
    /// `out.len()` when decompression began.
    start: usize,
    /// How many bytes may be appended.
    limit: usize,
}

impl Sink<'_> {
    /// How many more bytes may be appended.
    fn room(&self) -> usize {
        (self.start + self.limit).saturating_sub(self.out.len())
    }

    /// Bytes appended so far.
    fn written(&self) -> usize {
        self.out.len() - self.start
    }

    /// Appends `data`, or fails with [`DecompressError::Limit`].
    fn extend(&mut self, data: &[u8]) -> std::result::Result<(), DecompressError> {
        if data.len() > self.room() {
            return Err(DecompressError::Limit(self.limit));
        }
        self.out.extend_from_slice(data);
        Ok(())
    }

    /// Makes sure at least `want` bytes (capped at the room left) of spare
    /// capacity exist, growing geometrically but never past the limit.
    /// Returns how many bytes may be written now: 0 only at the limit.
    fn reserve(&mut self, want: usize) -> usize {
        let room = self.room();
        let spare = self.out.capacity() - self.out.len();
        let want = want.min(room);
        if spare < want {
            let grow = want.max(self.written()).min(room);
            self.out.reserve_exact(grow);
        }
        (self.out.capacity() - self.out.len()).min(room)
    }

    /// Whether all of `out`'s spare capacity may be written, so a codec can
    /// fill it directly (a reused `out` can have more spare than room).
    fn spare_fits(&self) -> bool {
        self.out.capacity() - self.out.len() <= self.room()
    }

    /// Appends `n` zeroed bytes (within capacity reserved by [`Sink::reserve`])
    /// for a codec that decompresses into a slice, returning their offset.
    fn zeroed(&mut self, n: usize) -> usize {
        let at = self.out.len();
        self.out.resize(at + n, 0);
        at
    }
}

/// Takes this thread's cached value out of `key` (or `None`), so no borrow
/// is held while it is used; [`put_cached`] gives it back.
fn take_cached<T: 'static>(key: &'static LocalKey<Cell<Option<T>>>) -> Option<T> {
    key.try_with(Cell::take).ok().flatten()
}

/// Returns a value taken with [`take_cached`] for the next call on this thread.
fn put_cached<T: 'static>(key: &'static LocalKey<Cell<Option<T>>>, value: T) {
    // Fails only while the thread exits; the value is then simply dropped.
    let _ = key.try_with(|c| c.set(Some(value)));
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deterministic, moderately compressible test data.
    pub(super) fn sample(n: usize) -> Vec<u8> {
        let mut x = 0x2545_f491_4f6c_dd1du64;
        (0..n)
            .map(|i| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                if i % 7 < 4 {
                    b"kafka-sync "[i % 11]
                } else {
                    (x % 16) as u8 + b'a'
                }
            })
            .collect()
    }

    /// Checks `codec` against its reference implementation: every stream in
    /// `theirs` (what it encoded from `input`) decodes to `input`, and ours
    /// decodes back to `input` through `their_decode`.
    pub(super) fn interop(
        codec: Codec,
        input: &[u8],
        theirs: &[Vec<u8>],
        their_decode: impl FnOnce(&[u8]) -> Vec<u8>,
    ) {
        for data in theirs {
            let mut out = Vec::new();
            decompress(codec, data, input.len(), &mut out).unwrap();
            assert!(out == input, "{codec}");
        }
        // And ours through the reference decoder.
        let mut ours = Vec::new();
        compress(codec, None, input, &mut ours).unwrap();
        assert!(their_decode(&ours) == input, "{codec}");
    }

    const ALL: [Codec; 5] = [
        Codec::None,
        Codec::Gzip,
        Codec::Snappy,
        Codec::Lz4,
        Codec::Zstd,
    ];

    #[test]
    fn round_trip_every_codec_and_size() {
        for codec in ALL {
            for n in [0, 1, 100, 65_536, 65_537, 300_000] {
                for level in [None, Some(1), Some(9)] {
                    let input = sample(n);
                    let mut c = vec![7u8]; // appends after existing bytes
                    compress(codec, level, &input, &mut c).unwrap();
                    assert_eq!(c[0], 7);
                    let mut d = vec![9u8];
                    decompress(codec, &c[1..], n, &mut d).unwrap();
                    assert_eq!(d[0], 9);
                    assert!(d[1..] == input[..], "{codec} n={n} level={level:?}");
                }
            }
        }
    }

    #[test]
    fn codec_attributes() {
        for codec in ALL {
            assert_eq!(
                Codec::from_attributes(codec.attribute_bits() | 0x30).unwrap(),
                codec
            );
        }
        for bad in 5..8 {
            assert!(matches!(
                Codec::from_attributes(bad),
                Err(Error::Protocol(_))
            ));
        }
    }

    /// 100 MiB of zeros, built by repeating a compressed 1 MiB (or smaller)
    /// unit, so the test stays fast in debug builds.
    fn bombs() -> Vec<(Codec, Vec<u8>)> {
        let mib = vec![0u8; 1 << 20];
        let mut gz = Vec::new();
        compress(Codec::Gzip, Some(1), &mib, &mut gz).unwrap();
        let mut zs = Vec::new();
        compress(Codec::Zstd, Some(1), &mib, &mut zs).unwrap();
        let x = snappy::tests::xerial(&mib, 1 << 20);
        let mut lz = lz4::LZ4_MAGIC.to_vec();
        lz.extend_from_slice(&lz4::LZ4_DESCRIPTOR);
        let block = ::lz4::block::compress(&mib[..lz4::LZ4_BLOCK], None, false).unwrap();
        for _ in 0..1600 {
            lz.extend_from_slice(&(block.len() as u32).to_le_bytes());
            lz.extend_from_slice(&block);
        }
        lz.extend_from_slice(&[0; 4]);
        // A raw snappy block whose header claims 100 MiB.
        let mut raw = Vec::new();
        let mut n = 100u64 << 20;
        while n >= 0x80 {
            raw.push(n as u8 | 0x80);
            n >>= 7;
        }
        raw.push(n as u8);
        raw.extend_from_slice(&[0; 16]);
        vec![
            (Codec::Gzip, gz.repeat(100)),
            (Codec::Zstd, zs.repeat(100)),
            (
                Codec::Snappy,
                [
                    &x[..snappy::XERIAL_HEADER_LEN],
                    &x[snappy::XERIAL_HEADER_LEN..].repeat(100),
                ]
                .concat(),
            ),
            (Codec::Snappy, raw),
            (Codec::Lz4, lz),
            (Codec::None, vec![0; 2 << 20]),
        ]
    }

    #[test]
    fn bombs_stop_at_the_limit() {
        let limit = 1 << 20 | 12_345;
        for (codec, bomb) in bombs() {
            let mut out = Vec::new();
            let err = decompress_checked(codec, &bomb, limit, &mut out).unwrap_err();
            assert_eq!(err, DecompressError::Limit(limit), "{codec}");
            assert!(out.is_empty());
            assert!(
                out.capacity() <= limit,
                "{codec}: capacity {}",
                out.capacity()
            );
            assert!(err.into_error(codec).to_string().contains("exceeds limit"));
        }
    }

    #[test]
    fn exact_limit_is_allowed() {
        let input = sample(150_000);
        for codec in ALL {
            let mut c = Vec::new();
            compress(codec, None, &input, &mut c).unwrap();
            let mut out = Vec::new();
            decompress(codec, &c, input.len(), &mut out).unwrap();
            assert!(out == input, "{codec}");
            assert!(out.capacity() <= input.len(), "{codec}");
            out.clear();
            let err =
                decompress_checked(codec, &c, input.len() - 1, &mut out).expect_err(codec.name());
            assert_eq!(err, DecompressError::Limit(input.len() - 1), "{codec}");
        }
    }

    #[test]
    fn corrupt_input_is_an_error_not_a_panic() {
        let input = sample(70_000);
        for codec in [Codec::Gzip, Codec::Snappy, Codec::Lz4, Codec::Zstd] {
            let mut c = Vec::new();
            compress(codec, None, &input, &mut c).unwrap();
            let mut variants = vec![Vec::new(), c[..c.len() / 2].to_vec(), c[..1].to_vec()];
            for i in (0..c.len()).step_by(c.len() / 40 + 1) {
                let mut flipped = c.clone();
                flipped[i] ^= 0x5a;
                variants.push(flipped);
            }
            for v in variants {
                let mut out = Vec::new();
                if let Err(e) = decompress(codec, &v, input.len(), &mut out) {
                    assert!(matches!(e, Error::Compression(_)), "{codec}: {e:?}");
                    assert!(out.is_empty());
                } else if codec == Codec::Gzip {
                    // gzip checksums its content; raw snappy, our lz4 frames
                    // and zstd frames without a checksum rely on the batch CRC.
                    assert!(
                        out == input,
                        "{codec}: corrupt input decoded to other bytes"
                    );
                }
            }
        }
    }

    #[test]
    fn reused_contexts_survive_level_changes() {
        let input = sample(10_000);
        for codec in [Codec::Gzip, Codec::Zstd, Codec::Lz4] {
            let mut sizes = Vec::new();
            for level in [Some(1), Some(9), Some(1), None] {
                let mut c = Vec::new();
                compress(codec, level, &input, &mut c).unwrap();
                let mut d = Vec::new();
                decompress(codec, &c, input.len(), &mut d).unwrap();
                assert!(d == input);
                sizes.push(c.len());
            }
            assert_eq!(sizes[0], sizes[2], "{codec}: same level, same output");
        }
    }
}
