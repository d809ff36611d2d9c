//! The primitive encodings of the Kafka protocol, for the generated schemas.
//!
//! Decoding never trusts the wire: every count and length is checked
//! against the bytes left before anything is allocated (each array element
//! takes at least one byte), negative or impossible values are errors, and
//! strings, bytes and records are zero-copy slices of the frame. Errors
//! carry the field path; the message and version are added by the
//! message's own `decode`.

use std::collections::BTreeMap;
use std::fmt;

use bytes::{Buf, Bytes};

use super::types::{StrBytes, Uuid};

/// Why a message could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    message: &'static str,
    version: i16,
    path: String,
    reason: String,
}

impl DecodeError {
    fn new(reason: impl Into<String>) -> DecodeError {
        DecodeError {
            message: "",
            version: -1,
            path: String::new(),
            reason: reason.into(),
        }
    }

    pub(crate) fn version(message: &'static str, version: i16) -> DecodeError {
        DecodeError {
            message,
            version,
            path: String::new(),
            reason: "version not defined by the schema".into(),
        }
    }

    pub(crate) fn unknown_key(key: i16) -> DecodeError {
        DecodeError::new(format!("unknown API key {key}"))
    }

    /// Prefixes the path with a field name.
    pub(crate) fn field(mut self, name: &str) -> DecodeError {
        self.path = join(name, &self.path);
        self
    }

    fn index(mut self, i: usize) -> DecodeError {
        self.path = join(&format!("[{i}]"), &self.path);
        self
    }

    pub(crate) fn in_message(mut self, message: &'static str, version: i16) -> DecodeError {
        self.message = message;
        self.version = version;
        self
    }

    /// The message being decoded.
    pub fn message(&self) -> &str {
        self.message
    }

    /// The field path within the message, such as `topics[2].partitions[0].records`.
    pub fn path(&self) -> &str {
        &self.path
    }
}

fn join(head: &str, tail: &str) -> String {
    if tail.is_empty() {
        head.to_string()
    } else if tail.starts_with('[') {
        format!("{head}{tail}")
    } else {
        format!("{head}.{tail}")
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.message.is_empty() {
            write!(f, "{} v{}", self.message, self.version)?;
            if !self.path.is_empty() {
                write!(f, " field {}", self.path)?;
            }
            write!(f, ": ")?;
        } else if !self.path.is_empty() {
            write!(f, "field {}: ", self.path)?;
        }
        f.write_str(&self.reason)
    }
}

impl std::error::Error for DecodeError {}

/// Why a message could not be encoded at the chosen version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodeError {
    message: &'static str,
    version: i16,
    field: String,
    reason: &'static str,
}

impl EncodeError {
    fn new(reason: &'static str) -> EncodeError {
        EncodeError {
            message: "",
            version: -1,
            field: String::new(),
            reason,
        }
    }

    pub(crate) fn version(message: &'static str, version: i16) -> EncodeError {
        EncodeError {
            message,
            version,
            field: String::new(),
            reason: "version not defined by the schema",
        }
    }

    /// A field that `version` lacks holds a value other than its default
    /// (kmsg's rule: such a field is skipped only when it is at its default).
    pub(crate) fn absent(field: &str, version: i16) -> EncodeError {
        EncodeError {
            message: "",
            version,
            field: field.into(),
            reason: "is set, but the version does not have the field",
        }
    }

    /// A null where `version` does not allow one.
    pub(crate) fn null(field: &str, version: i16) -> EncodeError {
        EncodeError {
            message: "",
            version,
            field: field.into(),
            reason: "is null, but the version does not allow null",
        }
    }

    pub(crate) fn in_message(mut self, message: &'static str, version: i16) -> EncodeError {
        self.message = message;
        self.version = version;
        self
    }

    /// The field at fault, if one is.
    pub fn field(&self) -> &str {
        &self.field
    }
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.message.is_empty() {
            write!(f, "{} v{}: ", self.message, self.version)?;
        }
        if !self.field.is_empty() {
            write!(f, "field {} ", self.field)?;
        }
        f.write_str(self.reason)
    }
}

impl std::error::Error for EncodeError {}

// ---------------------------------------------------------------------------
// Encoding.

/// What kind of null to write.
#[derive(Clone, Copy)]
pub(crate) enum Null {
    String,
    Bytes,
    Array,
    Struct,
}

pub(crate) fn put_uvarint(buf: &mut Vec<u8>, mut v: u32) {
    while v >= 0x80 {
        buf.push((v as u8) | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

/// An array count or bytes length: int32, or unsigned varint of n+1.
pub(crate) fn put_len(buf: &mut Vec<u8>, n: usize, compact: bool) -> Result<(), EncodeError> {
    let n = i32::try_from(n).map_err(|_| EncodeError::new("is longer than i32::MAX"))?;
    if compact {
        put_uvarint(buf, n as u32 + 1);
    } else {
        buf.extend_from_slice(&n.to_be_bytes());
    }
    Ok(())
}

pub(crate) fn put_str(buf: &mut Vec<u8>, s: &str, compact: bool) -> Result<(), EncodeError> {
    if compact {
        put_len(buf, s.len(), true)?;
    } else {
        let n =
            i16::try_from(s.len()).map_err(|_| EncodeError::new("is longer than 32767 bytes"))?;
        buf.extend_from_slice(&n.to_be_bytes());
    }
    buf.extend_from_slice(s.as_bytes());
    Ok(())
}

pub(crate) fn put_bytes(buf: &mut Vec<u8>, b: &[u8], compact: bool) -> Result<(), EncodeError> {
    put_len(buf, b.len(), compact)?;
    buf.extend_from_slice(b);
    Ok(())
}

pub(crate) fn put_null(buf: &mut Vec<u8>, kind: Null, compact: bool) {
    match (kind, compact) {
        (Null::Struct, _) => buf.push(0xff),
        (_, true) => buf.push(0),
        (Null::String, false) => buf.extend_from_slice(&(-1i16).to_be_bytes()),
        (_, false) => buf.extend_from_slice(&(-1i32).to_be_bytes()),
    }
}

/// The tagged-field section: known fields (each already encoded) and the
/// unknown ones, in ascending tag order.
pub(crate) fn put_tagged(
    buf: &mut Vec<u8>,
    known: Vec<(i32, Vec<u8>)>,
    unknown: &BTreeMap<i32, Bytes>,
) -> Result<(), EncodeError> {
    let mut all: Vec<(i32, &[u8])> = known
        .iter()
        .map(|(t, d)| (*t, d.as_slice()))
        .chain(unknown.iter().map(|(t, d)| (*t, &d[..])))
        .collect();
    all.sort_by_key(|(t, _)| *t);
    if all.windows(2).any(|w| w[0].0 == w[1].0) {
        return Err(EncodeError::new(
            "has an unknown tagged field with a known tag",
        ));
    }
    let n = u32::try_from(all.len()).map_err(|_| EncodeError::new("has too many tagged fields"))?;
    put_uvarint(buf, n);
    for (tag, data) in all {
        put_tag_header(buf, tag, data.len())?;
        buf.extend_from_slice(data);
    }
    Ok(())
}

fn put_tag_header(buf: &mut Vec<u8>, tag: i32, len: usize) -> Result<(), EncodeError> {
    let tag = u32::try_from(tag).map_err(|_| EncodeError::new("has a negative tag"))?;
    let len = u32::try_from(len).map_err(|_| EncodeError::new("has a tagged field too long"))?;
    put_uvarint(buf, tag);
    put_uvarint(buf, len);
    Ok(())
}

// ---------------------------------------------------------------------------
// Decoding.

fn need(buf: &Bytes, n: usize) -> Result<(), DecodeError> {
    if buf.remaining() < n {
        return Err(DecodeError::new(format!(
            "needs {n} bytes, {} left",
            buf.remaining()
        )));
    }
    Ok(())
}

pub(crate) fn get_bool(buf: &mut Bytes) -> Result<bool, DecodeError> {
    need(buf, 1)?;
    Ok(buf.get_u8() != 0)
}

/// Fixed-width big-endian reads, each checked against the bytes left.
macro_rules! fixed {
    ($($name:ident -> $t:ty, $n:literal;)*) => {$(
        pub(crate) fn $name(buf: &mut Bytes) -> Result<$t, DecodeError> {
            need(buf, $n)?;
            Ok(buf.$name())
        }
    )*};
}

fixed! {
    get_i8 -> i8, 1;
    get_i16 -> i16, 2;
    get_u16 -> u16, 2;
    get_i32 -> i32, 4;
    get_i64 -> i64, 8;
    get_f64 -> f64, 8;
}

pub(crate) fn get_uuid(buf: &mut Bytes) -> Result<Uuid, DecodeError> {
    need(buf, 16)?;
    let mut b = [0u8; 16];
    buf.copy_to_slice(&mut b);
    Ok(Uuid::from_bytes(b))
}

pub(crate) fn get_uvarint(buf: &mut Bytes) -> Result<u32, DecodeError> {
    let mut v: u32 = 0;
    for i in 0..5 {
        need(buf, 1)?;
        let b = buf.get_u8();
        if i == 4 && b > 0x0f {
            return Err(DecodeError::new("unsigned varint overflows 32 bits"));
        }
        v |= u32::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Ok(v);
        }
    }
    Err(DecodeError::new("unsigned varint longer than 5 bytes"))
}

/// A length or count: `None` for null, else checked against the bytes left.
fn get_len(buf: &mut Bytes, compact: bool, short: bool) -> Result<Option<usize>, DecodeError> {
    let n: i64 = if compact {
        i64::from(get_uvarint(buf)?) - 1
    } else if short {
        i64::from(get_i16(buf)?)
    } else {
        i64::from(get_i32(buf)?)
    };
    if n < -1 {
        return Err(DecodeError::new(format!("negative length {n}")));
    }
    if n == -1 {
        return Ok(None);
    }
    let n = n as usize;
    if n > buf.remaining() {
        return Err(DecodeError::new(format!(
            "length {n} is more than the {} bytes left",
            buf.remaining()
        )));
    }
    Ok(Some(n))
}

fn take(buf: &mut Bytes, n: usize) -> Bytes {
    buf.split_to(n)
}

fn to_str(b: Bytes) -> Result<StrBytes, DecodeError> {
    StrBytes::from_utf8(b).map_err(|_| DecodeError::new("string is not UTF-8"))
}

pub(crate) fn get_nullable_str(
    buf: &mut Bytes,
    compact: bool,
) -> Result<Option<StrBytes>, DecodeError> {
    match get_len(buf, compact, true)? {
        None => Ok(None),
        Some(n) => to_str(take(buf, n)).map(Some),
    }
}

pub(crate) fn get_str(buf: &mut Bytes, compact: bool) -> Result<StrBytes, DecodeError> {
    get_nullable_str(buf, compact)?.ok_or_else(|| DecodeError::new("null in a non-nullable string"))
}

pub(crate) fn get_nullable_bytes(
    buf: &mut Bytes,
    compact: bool,
) -> Result<Option<Bytes>, DecodeError> {
    Ok(get_len(buf, compact, false)?.map(|n| take(buf, n)))
}

pub(crate) fn get_bytes(buf: &mut Bytes, compact: bool) -> Result<Bytes, DecodeError> {
    get_nullable_bytes(buf, compact)?.ok_or_else(|| DecodeError::new("null in non-nullable bytes"))
}

pub(crate) fn get_nullable_array<T>(
    buf: &mut Bytes,
    compact: bool,
    mut elem: impl FnMut(&mut Bytes) -> Result<T, DecodeError>,
) -> Result<Option<Vec<T>>, DecodeError> {
    let Some(n) = get_len(buf, compact, false)? else {
        return Ok(None);
    };
    // `get_len` bounded n by the bytes left: every element takes at least one
    // byte on the wire, but may take hundreds in memory, so only a bounded
    // capacity is reserved up front; the rest grows with decoded elements.
    charge(n.saturating_mul(std::mem::size_of::<T>()))?;
    let mut out = Vec::with_capacity(prealloc::<T>(n));
    for i in 0..n {
        if buf.remaining() == 0 {
            return Err(DecodeError::new(format!(
                "array ends after {i} of {n} elements"
            )));
        }
        out.push(elem(buf).map_err(|e| e.index(i))?);
    }
    Ok(Some(out))
}

thread_local! {
    /// The bytes the decode running on this thread may still spend on
    /// arrays of decoded structures (`None`: no budget).
    static BUDGET: std::cell::Cell<Option<usize>> = const { std::cell::Cell::new(None) };
}

/// How much a decoded response's arrays may take in memory: this many
/// times its frame, plus [`DECODE_BUDGET_BASE`]. Real responses take a few
/// times their size (a Metadata partition is ~40 bytes on the wire and
/// ~150 in memory); a hostile one of one-byte elements, 80-200 each in
/// memory, would take over a hundred times.
pub(crate) const DECODE_BUDGET_FACTOR: usize = 16;
/// See [`DECODE_BUDGET_FACTOR`].
pub(crate) const DECODE_BUDGET_BASE: usize = 16 << 20;

/// Runs `decode` with a budget for the memory its arrays take, sized from
/// the `frame_len` bytes it decodes ([`DECODE_BUDGET_FACTOR`]): an array
/// charges its elements' in-memory size before any is decoded, and one
/// past the budget fails the decode. Strings, bytes and records are slices
/// of the frame, so they take nothing more.
pub(crate) fn with_budget<T>(frame_len: usize, decode: impl FnOnce() -> T) -> T {
    struct Restore(Option<usize>);
    impl Drop for Restore {
        fn drop(&mut self) {
            BUDGET.with(|b| b.set(self.0));
        }
    }
    let limit = frame_len
        .saturating_mul(DECODE_BUDGET_FACTOR)
        .saturating_add(DECODE_BUDGET_BASE);
    let _restore = Restore(BUDGET.with(|b| b.replace(Some(limit))));
    decode()
}

fn charge(bytes: usize) -> Result<(), DecodeError> {
    BUDGET.with(|b| match b.get() {
        None => Ok(()),
        Some(left) if bytes <= left => {
            b.set(Some(left - bytes));
            Ok(())
        }
        Some(left) => Err(DecodeError::new(format!(
            "decoded arrays would take {bytes} bytes, over the {left} left of the response's \
             memory budget ({DECODE_BUDGET_FACTOR} times its size plus {} MiB)",
            DECODE_BUDGET_BASE >> 20
        ))),
    })
}

/// The most an array decoder reserves before decoding its elements.
const MAX_PREALLOC_BYTES: usize = 64 << 10;

/// The capacity to reserve for an array of `n` elements: all of them, up to
/// [`MAX_PREALLOC_BYTES`] of memory. A count checked against the bytes left
/// still multiplies by the element's in-memory size (a 1 MiB frame claiming a
/// million 200-byte structs would otherwise reserve 200 MB before the first
/// element fails to decode).
fn prealloc<T>(n: usize) -> usize {
    n.min(MAX_PREALLOC_BYTES / std::mem::size_of::<T>().max(1))
}

pub(crate) fn get_array<T>(
    buf: &mut Bytes,
    compact: bool,
    elem: impl FnMut(&mut Bytes) -> Result<T, DecodeError>,
) -> Result<Vec<T>, DecodeError> {
    get_nullable_array(buf, compact, elem)?
        .ok_or_else(|| DecodeError::new("null in a non-nullable array"))
}

/// The number of tagged fields, checked against the bytes left (each takes
/// at least two: tag and size).
/// `r` with `field` prefixed to its error's path: the generated decoders'
/// way of naming the field that failed without a closure per field.
#[inline]
pub(crate) fn at<T>(r: Result<T, DecodeError>, field: &'static str) -> Result<T, DecodeError> {
    r.map_err(|e| e.field(field))
}

pub(crate) fn get_count(buf: &mut Bytes) -> Result<u32, DecodeError> {
    let n = get_uvarint(buf)?;
    if n as usize > buf.remaining() / 2 {
        return Err(DecodeError::new(format!(
            "{n} tagged fields in {} bytes",
            buf.remaining()
        )));
    }
    Ok(n)
}

/// One tagged field: its tag and its bytes.
pub(crate) fn get_tagged(buf: &mut Bytes) -> Result<(i32, Bytes), DecodeError> {
    let tag = get_uvarint(buf)?;
    let tag = i32::try_from(tag).map_err(|_| DecodeError::new(format!("tag {tag} overflows")))?;
    let size = get_uvarint(buf)? as usize;
    if size > buf.remaining() {
        return Err(DecodeError::new(format!(
            "tagged field {tag} of {size} bytes, {} left",
            buf.remaining()
        )));
    }
    // A tagged field, known or kept unknown (an entry of a BTreeMap), takes
    // up to about 48 bytes in memory.
    charge(48)?;
    Ok((tag, take(buf, size)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_budget_bounds_what_arrays_take_in_memory() {
        // A million one-byte elements of 64 bytes each in memory: 64 MB
        // against a budget of 16 x 1 MB + 16 MiB.
        let n = 1_000_000usize;
        let mut frame = (n as i32).to_be_bytes().to_vec();
        frame.resize(4 + n, 0);
        let wide = |b: &mut Bytes| get_i8(b).map(|_| [0u8; 64]);
        let mut b = Bytes::from(frame.clone());
        let e = with_budget(frame.len(), || get_array(&mut b, false, wide)).unwrap_err();
        assert!(e.to_string().contains("memory budget"), "{e}");
        // Without a budget (requests the fake decodes) it decodes, and the
        // budget ends with its decode.
        let mut b = Bytes::from(frame.clone());
        assert_eq!(get_array(&mut b, false, wide).unwrap().len(), n);
        // Narrow elements fit: 8 bytes each, 8 MB.
        let narrow = |b: &mut Bytes| get_i8(b).map(i64::from);
        let mut b = Bytes::from(frame.clone());
        let got = with_budget(frame.len(), || get_array(&mut b, false, narrow)).unwrap();
        assert_eq!(got.len(), n);
        // The budget is the decode's: a second one starts afresh.
        let mut b = Bytes::from(frame.clone());
        assert!(with_budget(frame.len(), || get_array(&mut b, false, narrow)).is_ok());
    }

    #[test]
    fn counts_are_checked_before_allocating() {
        let mut b = Bytes::from_static(&[0x7f, 0xff, 0xff, 0xff, 0, 0]);
        let e = get_array(&mut b, false, get_i8).unwrap_err();
        assert!(e.to_string().contains("more than the 2 bytes left"), "{e}");
        let mut b = Bytes::from_static(&[0xfe, 0xff, 0xff, 0xff, 0x0f, 1]);
        assert!(get_array(&mut b, true, get_i8).is_err());
        let mut b = Bytes::from_static(&[0xff, 0xff, 0xff, 0xfe]);
        assert!(get_nullable_bytes(&mut b, false)
            .unwrap_err()
            .to_string()
            .contains("negative"));
        let mut b = Bytes::from_static(&[0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
        assert!(get_uvarint(&mut b).is_err());
    }

    #[test]
    fn arrays_reserve_a_bounded_capacity() {
        // Found by tests/fuzz.rs: the count was checked against the bytes
        // left, but the capacity reserved was count * size_of::<T>().
        assert_eq!(prealloc::<u8>(10), 10);
        assert_eq!(prealloc::<u8>(1 << 20), MAX_PREALLOC_BYTES);
        assert_eq!(prealloc::<[u8; 256]>(1 << 20), MAX_PREALLOC_BYTES / 256);
        assert_eq!(prealloc::<()>(5), 5);
        // A million-element count in a 1 MiB buffer whose first element
        // fails: an error, and the reservation stayed within the bound.
        let mut v = vec![0u8; 1 << 20];
        v[..4].copy_from_slice(&((1u32 << 20) - 4).to_be_bytes());
        let mut b = Bytes::from(v);
        let e = get_array(&mut b, false, |_| {
            Err::<[u8; 256], _>(DecodeError::new("x"))
        });
        assert_eq!(e.unwrap_err().path(), "[0]");
    }

    #[test]
    fn null_and_compact_forms() {
        let mut v = Vec::new();
        put_null(&mut v, Null::String, false);
        put_null(&mut v, Null::Array, true);
        put_str(&mut v, "ab", true).unwrap();
        put_str(&mut v, "cd", false).unwrap();
        let mut b = Bytes::from(v);
        assert_eq!(get_nullable_str(&mut b, false).unwrap(), None);
        assert_eq!(get_nullable_array(&mut b, true, get_i8).unwrap(), None);
        assert_eq!(&*get_str(&mut b, true).unwrap(), "ab");
        assert_eq!(&*get_str(&mut b, false).unwrap(), "cd");
        assert!(b.is_empty());
    }

    #[test]
    fn tagged_fields_merge_in_tag_order() {
        let mut unknown = BTreeMap::new();
        unknown.insert(1, Bytes::from_static(b"u"));
        unknown.insert(5, Bytes::from_static(b"w"));
        let mut v = Vec::new();
        put_tagged(
            &mut v,
            vec![(0, b"a".to_vec()), (3, b"b".to_vec())],
            &unknown,
        )
        .unwrap();
        assert_eq!(v, [4, 0, 1, b'a', 1, 1, b'u', 3, 1, b'b', 5, 1, b'w']);
        let mut dup = BTreeMap::new();
        dup.insert(0, Bytes::new());
        assert!(put_tagged(&mut Vec::new(), vec![(0, vec![])], &dup).is_err());
    }
}
