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

use std::cell::Cell;
use std::fmt;
use std::io::{Cursor, Read};
use std::thread::LocalKey;

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};
use zstd::zstd_safe::{self, CCtx, CParameter, DCtx, DParameter, InBuffer, OutBuffer};

use crate::error::{Error, Result};

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
            Codec::Lz4 => Some((0, LZ4_MAX_LEVEL)),
            Codec::Zstd => {
                let r = zstd::compression_level_range();
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
        Codec::Gzip => gzip_compress(level, input, out),
        Codec::Snappy => snappy_compress(input, out),
        Codec::Lz4 => lz4_compress(level, input, out),
        Codec::Zstd => zstd_compress(level, input, out),
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
        Codec::Gzip => gzip_decompress(input, &mut sink),
        Codec::Snappy => snappy_decompress(input, &mut sink),
        Codec::Lz4 => lz4_decompress(input, &mut sink),
        Codec::Zstd => zstd_decompress(input, &mut sink),
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

thread_local! {
    /// The deflate compressor and the level it was made for.
    static GZIP_C: Cell<Option<(u32, Compress)>> = const { Cell::new(None) };
    /// The raw inflate state.
    static GZIP_D: Cell<Option<Decompress>> = const { Cell::new(None) };
    /// The snappy encoder (holds its hash table).
    static SNAPPY_C: Cell<Option<snap::raw::Encoder>> = const { Cell::new(None) };
    /// The zstd compression context and the level it is set to.
    static ZSTD_C: Cell<Option<(i32, CCtx<'static>)>> = const { Cell::new(None) };
    /// The zstd decompression context.
    static ZSTD_D: Cell<Option<DCtx<'static>>> = const { Cell::new(None) };
}

/// gzip's default level (Java's `Deflater.DEFAULT_COMPRESSION`, Go's `gzip.DefaultCompression`).
const GZIP_DEFAULT_LEVEL: u32 = 6;
/// A gzip member header: deflate, no flags, no mtime, unknown OS.
const GZIP_HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];

/// gzip: a hand-written RFC 1952 header and trailer around raw deflate, so the
/// (large) deflate state is reused across calls.
fn gzip_compress(level: Option<i32>, input: &[u8], out: &mut Vec<u8>) -> Result<()> {
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
fn gzip_body(input: &[u8]) -> std::result::Result<&[u8], DecompressError> {
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
fn gzip_decompress(input: &[u8], sink: &mut Sink<'_>) -> std::result::Result<(), DecompressError> {
    let mut d = take_cached(&GZIP_D).unwrap_or_else(|| Decompress::new(false));
    let res = gzip_members(&mut d, input, sink);
    put_cached(&GZIP_D, d);
    res
}

/// The member loop of [`gzip_decompress`].
fn gzip_members(
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
        let body = gzip_body(rest)?;
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

/// The xerial snappy-java stream header's magic (followed by two big-endian
/// i32s, version and compatible version, then `[len: i32 BE][raw block]`*).
const XERIAL_MAGIC: &[u8; 8] = b"\x82SNAPPY\x00";
/// The xerial header's size.
const XERIAL_HEADER_LEN: usize = 16;

/// snappy: raw format, like kgo (Java and librdkafka read it).
fn snappy_compress(input: &[u8], out: &mut Vec<u8>) -> Result<()> {
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
fn snappy_decompress(
    input: &[u8],
    sink: &mut Sink<'_>,
) -> std::result::Result<(), DecompressError> {
    if input.len() < XERIAL_HEADER_LEN || !input.starts_with(XERIAL_MAGIC) {
        return snappy_raw(input, sink);
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
        snappy_raw(chunk?, sink)?;
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
fn snappy_raw(block: &[u8], sink: &mut Sink<'_>) -> std::result::Result<(), DecompressError> {
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

/// The LZ4 frame magic number, little-endian.
const LZ4_MAGIC: [u8; 4] = 0x184D_2204u32.to_le_bytes();
/// The frame descriptor we write: FLG (version 01, independent blocks, no
/// checksums, no content size), BD (64 KiB blocks), and the header checksum
/// (second byte of xxh32 over FLG and BD; `lz4_header_matches_liblz4` checks it).
const LZ4_DESCRIPTOR: [u8; 3] = [0x60, 0x40, 0x82];
/// The block size we write.
const LZ4_BLOCK: usize = 64 * 1024;
/// LZ4 HC's highest level.
const LZ4_MAX_LEVEL: i32 = 12;
/// A block whose size word has this bit is stored uncompressed.
const LZ4_UNCOMPRESSED: u32 = 0x8000_0000;

/// lz4: the frame is written by hand around liblz4's block compressor, which
/// keeps its state on the stack (fast mode): no allocation beyond `out`.
fn lz4_compress(level: Option<i32>, input: &[u8], out: &mut Vec<u8>) -> Result<()> {
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
fn lz4_decompress(input: &[u8], sink: &mut Sink<'_>) -> std::result::Result<(), DecompressError> {
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
        rest = lz4_frame(rest, sink)?;
    }
}

/// Decodes the frame at the start of `frame`, returning the bytes after it.
fn lz4_frame<'a>(
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
        return lz4_linked_frame(frame, sink);
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
fn lz4_linked_frame<'a>(
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

/// zstd's default level (Java's and the zstd CLI's).
const ZSTD_DEFAULT_LEVEL: i32 = 3;

/// zstd: one frame from a cached context, written straight into `out`'s
/// spare capacity.
fn zstd_compress(level: Option<i32>, input: &[u8], out: &mut Vec<u8>) -> Result<()> {
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
fn zstd_decompress(input: &[u8], sink: &mut Sink<'_>) -> std::result::Result<(), DecompressError> {
    let mut dctx = match take_cached(&ZSTD_D) {
        Some(d) => d,
        None => DCtx::try_create().ok_or_else(|| corrupt("out of memory for a zstd context"))?,
    };
    let res = zstd_frames(&mut dctx, input, sink);
    put_cached(&ZSTD_D, dctx);
    res
}

/// The decode loop of [`zstd_decompress`].
fn zstd_frames(
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
    use super::*;

    /// Deterministic, moderately compressible test data.
    fn sample(n: usize) -> Vec<u8> {
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

    #[test]
    fn interop_with_reference_encoders() {
        use std::io::Write;
        let input = sample(200_000);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), Compression::default());
        gz.write_all(&input).unwrap();
        let gz = gz.finish().unwrap();
        let zs = zstd::stream::encode_all(&input[..], 3).unwrap();
        let mut zs_stream = zstd::stream::Encoder::new(Vec::new(), 19).unwrap(); // no content size
        zs_stream.write_all(&input).unwrap();
        let zs_stream = zs_stream.finish().unwrap();
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
        let cases = [
            (Codec::Gzip, gz),
            (Codec::Zstd, zs),
            (Codec::Zstd, zs_stream),
            (Codec::Lz4, lz_frames[0].clone()),
            (Codec::Lz4, lz_frames[1].clone()),
        ];
        for (codec, data) in cases {
            let mut out = Vec::new();
            decompress(codec, &data, input.len(), &mut out).unwrap();
            assert!(out == input, "{codec}");
        }
        // And ours through the reference decoders.
        let mut ours = Vec::new();
        compress(Codec::Gzip, None, &input, &mut ours).unwrap();
        let mut back = Vec::new();
        flate2::read::GzDecoder::new(&ours[..])
            .read_to_end(&mut back)
            .unwrap();
        assert!(back == input);
        ours.clear();
        compress(Codec::Lz4, None, &input, &mut ours).unwrap();
        back.clear();
        lz4::Decoder::new(&ours[..])
            .unwrap()
            .read_to_end(&mut back)
            .unwrap();
        assert!(back == input);
        ours.clear();
        compress(Codec::Zstd, None, &input, &mut ours).unwrap();
        assert!(zstd::stream::decode_all(&ours[..]).unwrap() == input);
        ours.clear();
        compress(Codec::Snappy, None, &input, &mut ours).unwrap();
        assert!(snap::raw::Decoder::new().decompress_vec(&ours).unwrap() == input);
    }

    #[test]
    fn lz4_header_matches_liblz4() {
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

    /// A xerial stream as snappy-java's `SnappyOutputStream` writes it.
    fn xerial(input: &[u8], chunk: usize) -> Vec<u8> {
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

    /// 100 MiB of zeros, built by repeating a compressed 1 MiB (or smaller)
    /// unit, so the test stays fast in debug builds.
    fn bombs() -> Vec<(Codec, Vec<u8>)> {
        let mib = vec![0u8; 1 << 20];
        let mut gz = Vec::new();
        compress(Codec::Gzip, Some(1), &mib, &mut gz).unwrap();
        let mut zs = Vec::new();
        compress(Codec::Zstd, Some(1), &mib, &mut zs).unwrap();
        let x = xerial(&mib, 1 << 20);
        let mut lz = LZ4_MAGIC.to_vec();
        lz.extend_from_slice(&LZ4_DESCRIPTOR);
        let block = lz4::block::compress(&mib[..LZ4_BLOCK], None, false).unwrap();
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
                [&x[..XERIAL_HEADER_LEN], &x[XERIAL_HEADER_LEN..].repeat(100)].concat(),
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
