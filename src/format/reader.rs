//! [`RecordReader`]: compiles a layout into read operations, then parses
//! records out of a buffered `io::Read` (kgo's `record_formatter.go`,
//! reader half).
//!
//! Each text field is read one of four ways, chosen when the layout is
//! compiled: by a size read earlier (`%V%v`), up to the literal that
//! follows it (`%v\n`), by a regular expression (`%v{re[...]}`), or to the
//! end of the input when it is the layout's last operation. Every size and
//! every field is checked against the reader's max size before anything is
//! buffered for it, so hostile input cannot make the reader allocate more
//! than about that much.

use std::borrow::Cow;
use std::io::{self, Read};

use bytes::Bytes;
use regex::bytes::Regex;

use super::codec::{base64_decode, hex_decode};
use super::input::Input;
use super::layout;
use super::numbers::{from_big, from_little, parse_hex};
use super::read_ops::{compile, Decode, NumDst, NumRead, Op, TextDst, TextRead, HEADERS};
use crate::error::{Error, Result};
use crate::record::{Record, RecordHeader};

/// The default max size of one field or length prefix: 64 MiB.
///
/// See [`RecordReader::max_size`].
pub const DEFAULT_MAX_SIZE: usize = 64 << 20;

/// The default max number of headers in one record: 65536.
///
/// See [`RecordReader::max_headers`].
pub const DEFAULT_MAX_HEADERS: usize = 1 << 16;

/// Reads records from an `io::Read` by a layout (kgo's `RecordReader`).
///
/// The layout language is the [`RecordFormatter`](super::RecordFormatter)'s:
/// slash escapes `\t \n \r \\ \xNN`, raw `%% %{ %}`, and the verbs `%t %T
/// %k %K %v %V %h{...} %H %p %o %e %d %x %y`. Sizes (`%T %K %V %H`) must
/// come before what they size. Numbers read as `{ascii}` (the default;
/// signed fields accept a leading `-`), `{hex}`, `{hex64}` to `{hex4}`,
/// `{big64}` to `{big8}`, `{little64}` to `{little8}`, `{byte}`, `{bool}`,
/// or `{N}`, a constant that reads nothing (`%V{3}%v` reads a 3-byte value;
/// `%p{3}` sets partition 3). Timestamps read as milliseconds. Text takes
/// `{hex}`, `{base64}` (padded or not) and `{re[...]}`; a size counts the
/// encoded bytes.
///
/// A text field without a size reads up to the literal that follows it;
/// the last field of the layout may also end at the end of the input.
/// Empty keys, values and header values read as `None`.
///
/// Corresponds to kgo's `RecordReader`. `{re[...]}` text and `{bool}`
/// numbers are kgo's later additions; `{hex}` numbers (as many digits as
/// there are) are this crate's, so that the formatter's `{hex}` reads back.
///
/// # Examples
///
/// ```
/// # use kafka_sync::RecordReader;
/// let input = &b"k1 v1\nk2 v2\n"[..];
/// let mut r = RecordReader::new(input, "%k %v\n")?;
/// while let Some(rec) = r.read_record()? {
///     println!("{:?} {:?}", rec.key, rec.value);
/// }
/// # Ok::<(), kafka_sync::Error>(())
/// ```
#[derive(Debug)]
pub struct RecordReader<R> {
    ops: Box<[Op]>,
    has_headers: bool,
    st: State<R>,
}

/// The reader's input and limits, apart from its operations so that both
/// can be borrowed at once.
#[derive(Debug)]
struct State<R> {
    input: Input<R>,
    max_size: usize,
    max_headers: usize,
    /// The number of the record being read, from 1.
    record: u64,
}

impl<R: Read> RecordReader<R> {
    /// Parses `layout` and wraps `reader`, which is read through an
    /// internal buffer.
    ///
    /// Corresponds to kgo's `NewRecordReader`.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] naming the byte offset and what to change: an
    /// empty layout, an unknown verb or modifier, a verb that cannot be
    /// read (`%i %a %[ %| %]`), a size after what it sizes or given twice,
    /// `%h` without an earlier `%H`, a text field that could never end, or
    /// a layout that reads nothing.
    pub fn new(reader: R, layout: &str) -> Result<RecordReader<R>> {
        if layout.is_empty() {
            return Err(layout::error(
                layout,
                0,
                "the record reader needs a non-empty layout, such as %v\\n",
            ));
        }
        let items = layout::parse(layout)?;
        let ops = compile(layout, &items, false)?;
        let has_headers = ops.iter().any(|op| matches!(op, Op::Headers(_)));
        Ok(RecordReader {
            ops: ops.into_boxed_slice(),
            has_headers,
            st: State {
                input: Input::new(reader),
                max_size: DEFAULT_MAX_SIZE,
                max_headers: DEFAULT_MAX_HEADERS,
                record: 0,
            },
        })
    }

    /// Sets the largest length prefix, sized field, delimited field or
    /// regular expression match the reader accepts, in bytes; larger ones
    /// are an error rather than an allocation. Defaults to
    /// [`DEFAULT_MAX_SIZE`] (64 MiB).
    ///
    /// kgo has no such limit: it allocates whatever a length prefix says.
    #[must_use]
    pub fn max_size(mut self, bytes: usize) -> RecordReader<R> {
        self.st.max_size = bytes;
        self
    }

    /// Sets the largest header count (`%H`) the reader accepts. Defaults
    /// to [`DEFAULT_MAX_HEADERS`].
    ///
    /// kgo has no such limit.
    #[must_use]
    pub fn max_headers(mut self, count: usize) -> RecordReader<R> {
        self.st.max_headers = count;
        self
    }

    /// Replaces the underlying reader, dropping anything buffered from the
    /// old one; byte offsets in errors restart at 0.
    ///
    /// Corresponds to kgo's `RecordReader.SetReader`.
    pub fn set_reader(&mut self, reader: R) {
        self.st.input.reset(reader);
    }

    /// Reads the next record; `None` when the input ends cleanly, before
    /// any byte of a new record.
    ///
    /// Corresponds to kgo's `RecordReader.ReadRecord`, with `None` for
    /// `io.EOF`.
    ///
    /// # Errors
    ///
    /// See [`read_record_into`](Self::read_record_into).
    pub fn read_record(&mut self) -> Result<Option<Record>> {
        let mut rec = Record::default();
        Ok(self.read_record_into(&mut rec)?.then_some(rec))
    }

    /// Reads the next record into `rec`, setting the fields the layout
    /// names (and replacing its headers when the layout has `%h`); returns
    /// `false`, leaving `rec` alone, when the input ends cleanly.
    ///
    /// Corresponds to kgo's `RecordReader.ReadRecordInto`.
    ///
    /// # Errors
    ///
    /// Each names the record number, the input byte offset and the verb:
    /// [`Error::Io`] with [`io::ErrorKind::UnexpectedEof`] when the input
    /// ends inside a record (kgo's `io.ErrUnexpectedEOF`), [`Error::Io`]
    /// for the underlying reader's errors, and [`Error::Protocol`] for
    /// input that does not match the layout or is over a limit. After an
    /// error `rec` may be partly filled, and the input stands where the
    /// problem was found.
    pub fn read_record_into(&mut self, rec: &mut Record) -> Result<bool> {
        let st = &mut self.st;
        if st.input.fill_to(1)? == 0 {
            return Ok(false);
        }
        st.record += 1;
        let start = st.input.pos();
        if self.has_headers {
            rec.headers.clear();
        }
        let mut sizes = [0u64; 4];
        let last = self.ops.len().saturating_sub(1);
        for (i, op) in self.ops.iter().enumerate() {
            st.step(op, &mut Target::Record(rec), &mut sizes, i == last)?;
        }
        if st.input.pos() == start {
            // Without this a caller looping until None would spin forever.
            return Err(st.bad(
                "the layout",
                "matched without reading any input, so the input would never advance; make the layout read something",
            ));
        }
        Ok(true)
    }
}

/// What a step writes into.
enum Target<'a> {
    Record(&'a mut Record),
    Header(&'a mut RecordHeader),
}

impl<R: Read> State<R> {
    fn bad(&self, label: &str, what: &str) -> Error {
        Error::protocol(format!(
            "record reader: record {}, input byte {}: {label}: {what}",
            self.record,
            self.input.pos()
        ))
    }

    fn eof(&self, label: &str) -> Error {
        Error::io(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!(
                "record reader: record {}, input byte {}: the input ended in the middle of {label}; the input is cut short or does not match the layout",
                self.record,
                self.input.pos()
            ),
        ))
    }

    fn step(
        &mut self,
        op: &Op,
        into: &mut Target<'_>,
        sizes: &mut [u64; 4],
        last: bool,
    ) -> Result<()> {
        match op {
            Op::Exact(lit) => self.exact(lit, last),
            Op::Num { dst, how, .. } => {
                let n = self.number(*how, *dst, op)?;
                store_num(into, *dst, n, sizes);
                Ok(())
            }
            Op::Text { dst, dec, how, .. } => {
                let (len, skip) = self.text(how, sizes, last, op)?;
                let data = self.input.data();
                let raw = data.get(..len).unwrap_or(data);
                let decoded = match dec {
                    Decode::Plain => Ok(Cow::Borrowed(raw)),
                    Decode::Hex => hex_decode(raw).map(Cow::Owned),
                    Decode::Base64 => base64_decode(raw).map(Cow::Owned),
                };
                let stored = decoded.and_then(|b| store_text(into, *dst, &b));
                stored.map_err(|e| self.bad(&op.label(), &e))?;
                self.input.consume(len + skip);
                Ok(())
            }
            Op::Headers(inner) => match into {
                Target::Record(rec) => self.headers(inner, rec, sizes[HEADERS]),
                Target::Header(_) => Ok(()),
            },
        }
    }

    fn exact(&mut self, lit: &[u8], last: bool) -> Result<()> {
        let have = self.input.fill_to(lit.len())?;
        let data = self.input.data();
        let got = data.get(..lit.len()).unwrap_or(data);
        if got == lit {
            self.input.consume(lit.len());
            return Ok(());
        }
        if have < lit.len() && lit.starts_with(got) {
            // The last literal may be cut off by the end of the input (a
            // final line without its newline), as in kgo.
            if last {
                self.input.consume(have);
                return Ok(());
            }
            return Err(self.eof(&Op::Exact(lit.into()).label()));
        }
        let what = format!(
            "expected {:?}, found {:?}; check that the input matches the layout",
            String::from_utf8_lossy(lit),
            String::from_utf8_lossy(got)
        );
        Err(self.bad("a literal", &what))
    }

    fn number(&mut self, how: NumRead, dst: NumDst, op: &Op) -> Result<u64> {
        let width = match how {
            NumRead::Fixed(n) => return Ok(n),
            NumRead::Ascii => return self.ascii(dst, op),
            NumRead::Hex => return self.hex_digits(op),
            NumRead::Bool => return self.boolean(op),
            NumRead::HexFixed(w) | NumRead::Big(w) | NumRead::Little(w) => usize::from(w),
        };
        if self.input.fill_to(width)? < width {
            return Err(self.eof(&op.label()));
        }
        let data = self.input.data();
        let bytes = data.get(..width).unwrap_or(data);
        let n = match how {
            NumRead::Big(_) => from_big(bytes),
            NumRead::Little(_) => from_little(bytes),
            _ => parse_hex(bytes).ok_or_else(|| {
                let what = format!(
                    "expected {width} hex digits, found {:?}",
                    String::from_utf8_lossy(bytes)
                );
                self.bad(&op.label(), &what)
            })?,
        };
        self.input.consume(width);
        Ok(n)
    }

    /// Buffers the run of bytes that `accept` takes (at most `limit`) and
    /// returns its length; the run ends at the first other byte or the
    /// end of the input.
    fn run_of(&mut self, limit: usize, accept: impl Fn(usize, u8) -> bool) -> Result<usize> {
        loop {
            let data = self.input.data();
            let n = data
                .iter()
                .enumerate()
                .take_while(|&(i, &b)| accept(i, b))
                .count();
            if n < data.len() || n > limit || !self.input.fill_more()? {
                return Ok(n);
            }
        }
    }

    fn ascii(&mut self, dst: NumDst, op: &Op) -> Result<u64> {
        let (min, max) = dst.range();
        let signed = min < 0;
        // 20 digits hold any u64; a sign makes 21.
        let n = self.run_of(21, |i, b| {
            b.is_ascii_digit() || (signed && i == 0 && b == b'-')
        })?;
        let data = self.input.data();
        let text = data.get(..n).unwrap_or(data);
        if text.is_empty() || text == b"-" {
            if n == data.len() && self.input.at_eof() {
                return Err(self.eof(&op.label()));
            }
            let found = data.get(..n + 1).unwrap_or(data);
            let what = format!(
                "expected decimal digits, found {:?}",
                String::from_utf8_lossy(found)
            );
            return Err(self.bad(&op.label(), &what));
        }
        let value = std::str::from_utf8(text)
            .ok()
            .filter(|_| n <= 21)
            .and_then(|s| s.parse::<i128>().ok())
            .filter(|v| (min..=max).contains(v))
            .ok_or_else(|| {
                let what = format!(
                    "{:?} is out of range for this field ({min} to {max})",
                    String::from_utf8_lossy(text)
                );
                self.bad(&op.label(), &what)
            })?;
        self.input.consume(n);
        // Two's complement bits, which store_num truncates to the field.
        Ok(value as u64)
    }

    fn hex_digits(&mut self, op: &Op) -> Result<u64> {
        let n = self.run_of(16, |_, b| b.is_ascii_hexdigit())?;
        let data = self.input.data();
        let text = data.get(..n).unwrap_or(data);
        let value = parse_hex(text).ok_or_else(|| {
            if text.is_empty() && self.input.at_eof() {
                return self.eof(&op.label());
            }
            let what = format!(
                "expected 1 to 16 hex digits, found {:?}",
                String::from_utf8_lossy(data.get(..n.max(1)).unwrap_or(data))
            );
            self.bad(&op.label(), &what)
        })?;
        self.input.consume(n);
        Ok(value)
    }

    fn boolean(&mut self, op: &Op) -> Result<u64> {
        let have = self.input.fill_to(5)?;
        let data = self.input.data();
        let (len, value) = if data.starts_with(b"true") {
            (4, 1)
        } else if data.starts_with(b"false") {
            (5, 0)
        } else if have < 5 && (b"true".starts_with(data) || b"false".starts_with(data)) {
            return Err(self.eof(&op.label()));
        } else {
            let what = format!(
                "expected true or false, found {:?}",
                String::from_utf8_lossy(data.get(..5).unwrap_or(data))
            );
            return Err(self.bad(&op.label(), &what));
        };
        self.input.consume(len);
        Ok(value)
    }

    /// Buffers a text field; returns its length and how many bytes after
    /// it (a delimiter) to consume with it.
    fn text(
        &mut self,
        how: &TextRead,
        sizes: &[u64; 4],
        last: bool,
        op: &Op,
    ) -> Result<(usize, usize)> {
        match how {
            TextRead::Sized(slot) => {
                let size = sizes.get(*slot).copied().unwrap_or(0);
                let n = self.within_max(size, op)?;
                if self.input.fill_to(n)? < n {
                    return Err(self.eof(&op.label()));
                }
                Ok((n, 0))
            }
            TextRead::Delim(delim) => self.delimited(delim, last, op),
            TextRead::Rest => {
                while self.input.avail() <= self.max_size && self.input.fill_more()? {}
                let n = self.input.avail();
                self.within_max(n as u64, op)?;
                Ok((n, 0))
            }
            TextRead::Regex(re) => self.regex(re, op).map(|n| (n, 0)),
        }
    }

    fn within_max(&self, size: u64, op: &Op) -> Result<usize> {
        match usize::try_from(size) {
            Ok(n) if n <= self.max_size => Ok(n),
            _ => {
                let what = format!(
                    "a length of {size} bytes is over the max size of {} bytes; if the input is right, raise RecordReader::max_size",
                    self.max_size
                );
                Err(self.bad(&op.label(), &what))
            }
        }
    }

    fn delimited(&mut self, delim: &[u8], last: bool, op: &Op) -> Result<(usize, usize)> {
        if delim.is_empty() {
            return Ok((0, 0));
        }
        let mut from = 0;
        loop {
            let data = self.input.data();
            let found = data
                .get(from..)
                .and_then(|rest| rest.windows(delim.len()).position(|w| w == delim));
            if let Some(i) = found.filter(|i| from + i <= self.max_size) {
                return Ok((from + i, delim.len()));
            }
            // A delimiter may straddle what is buffered and what is not.
            from = data.len().saturating_sub(delim.len().saturating_sub(1));
            if found.is_some() || from > self.max_size {
                let what = format!(
                    "no {:?} within the max size of {} bytes; check the delimiter, or raise RecordReader::max_size",
                    String::from_utf8_lossy(delim),
                    self.max_size
                );
                return Err(self.bad(&op.label(), &what));
            }
            if !self.input.fill_more()? {
                // The last field may end at the end of the input, as in kgo.
                if last {
                    return Ok((self.input.avail(), 0));
                }
                return Err(self.eof(&op.label()));
            }
        }
    }

    /// Matches an anchored expression against a window of the input that
    /// doubles until the match ends before the window does, the input
    /// ends, or the window reaches the max size.
    fn regex(&mut self, re: &Regex, op: &Op) -> Result<usize> {
        let max = self.max_size;
        let mut want = 4096usize.min(max).max(1);
        loop {
            self.input.fill_to(want)?;
            let data = self.input.data();
            let window = &data[..data.len().min(max)];
            let complete = self.input.at_eof() || window.len() >= max;
            match re.find(window) {
                Some(m) if m.end() < window.len() || complete => return Ok(m.end()),
                None if complete => {
                    let what = format!(
                        "the input does not match {:?} here; it starts {:?}",
                        re.as_str(),
                        String::from_utf8_lossy(&window[..window.len().min(32)])
                    );
                    return Err(self.bad(&op.label(), &what));
                }
                _ => want = want.saturating_mul(2).min(max),
            }
        }
    }

    fn headers(&mut self, inner: &[Op], rec: &mut Record, count: u64) -> Result<()> {
        let count = match usize::try_from(count) {
            Ok(n) if n <= self.max_headers => n,
            _ => {
                let what = format!(
                    "{count} headers is over the max of {}; if the input is right, raise RecordReader::max_headers",
                    self.max_headers
                );
                return Err(self.bad("%H", &what));
            }
        };
        rec.headers.reserve(count.min(64));
        for _ in 0..count {
            let mut h = RecordHeader::default();
            let mut sizes = [0u64; 4];
            for op in inner {
                self.step(op, &mut Target::Header(&mut h), &mut sizes, false)?;
            }
            rec.headers.push(h);
        }
        Ok(())
    }
}

fn store_num(into: &mut Target<'_>, dst: NumDst, n: u64, sizes: &mut [u64; 4]) {
    // Fixed-width forms carry the field's bits (kgo truncates the same
    // way), so -1 written as hex32 reads back as -1.
    let rec = match (dst, into) {
        (NumDst::Size(slot), _) => {
            if let Some(s) = sizes.get_mut(slot) {
                *s = n;
            }
            return;
        }
        (_, Target::Record(rec)) => rec,
        (_, Target::Header(_)) => return,
    };
    match dst {
        NumDst::Partition => rec.partition = n as i32,
        NumDst::Offset => rec.offset = n as i64,
        NumDst::LeaderEpoch => rec.leader_epoch = n as i32,
        NumDst::Timestamp => rec.timestamp = n as i64,
        NumDst::ProducerId => rec.producer_id = n as i64,
        NumDst::ProducerEpoch => rec.producer_epoch = n as i16,
        NumDst::Size(_) => {}
    }
}

fn store_text(into: &mut Target<'_>, dst: TextDst, b: &[u8]) -> Result<(), String> {
    let bytes = || (!b.is_empty()).then(|| Bytes::copy_from_slice(b));
    let string = |what: &str| {
        String::from_utf8(b.to_vec()).map_err(|_| {
            format!("the {what} is not valid UTF-8; keep binary data in keys and values")
        })
    };
    match (into, dst) {
        (Target::Record(rec), TextDst::Topic) => rec.topic = string("topic")?.into(),
        (Target::Record(rec), TextDst::Key) => rec.key = bytes(),
        (Target::Record(rec), TextDst::Value) => rec.value = bytes(),
        (Target::Header(h), TextDst::Key) => h.key = string("header key")?,
        (Target::Header(h), TextDst::Value) => h.value = bytes(),
        (Target::Header(_), TextDst::Topic) => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::{PartitionOffsets, RecordFormatter};
    use proptest::prelude::*;

    fn rec(topic: &str, key: &[u8], value: &[u8]) -> Record {
        let opt = |b: &[u8]| (!b.is_empty()).then(|| Bytes::copy_from_slice(b));
        Record {
            topic: topic.into(),
            key: opt(key),
            value: opt(value),
            ..Record::default()
        }
    }

    fn read_all(layout: &str, input: &[u8]) -> Result<Vec<Record>> {
        let mut r = RecordReader::new(input, layout)?;
        let mut out = Vec::new();
        while let Some(rec) = r.read_record()? {
            out.push(rec);
        }
        Ok(out)
    }

    fn check(layout: &str, input: &[u8], want: &[Record]) {
        match read_all(layout, input) {
            Ok(got) => assert_eq!(got, want, "{layout:?}"),
            Err(e) => panic!("{layout:?} on {input:?}: {e}"),
        }
    }

    #[test]
    fn kgo_reader_table() {
        // kgo's TestRecordReader; kgo reads empty text as nil, here None.
        let table: Vec<(&str, &[u8], Vec<Record>)> = vec![
            (
                "%v",
                b"foo bar biz\nbaz",
                vec![rec("", b"", b"foo bar biz\nbaz")],
            ),
            (
                "%k %v",
                b"foo bar biz\nbaz",
                vec![rec("", b"foo", b"bar biz\nbaz")],
            ),
            (
                "%k %v\n",
                b"foo bar biz\nbaz \n biz\n",
                vec![
                    rec("", b"foo", b"bar biz"),
                    rec("", b"baz", b""),
                    rec("", b"", b"biz"),
                ],
            ),
            ("%t %k %v", b"foo bar biz", vec![rec("foo", b"bar", b"biz")]),
            (
                "%T%t %K%k %V{byte}%v",
                b"3foo 3bar \x03biz",
                vec![rec("foo", b"bar", b"biz")],
            ),
            (
                "%T%to %k %v",
                b"3fooo bar biz",
                vec![rec("foo", b"bar", b"biz")],
            ),
            (
                "%K{3}%kgap%V{3}%v",
                b"foogapbar",
                vec![rec("", b"foo", b"bar")],
            ),
            (
                r"\t\r\n\\\x00 %{%}%% %v",
                b"\t\r\n\\\x00 {}% foo",
                vec![rec("", b"", b"foo")],
            ),
            (
                "%H{2}%V{ascii}%v%h{%V%v%K%k}",
                b"3foo1v1k2vv2kk",
                vec![rec("", b"", b"foo")
                    .with_header("k", Some(Bytes::from_static(b"v")))
                    .with_header("kk", Some(Bytes::from_static(b"vv")))],
            ),
            ("%V{3}%v bar", b"foo bar", vec![rec("", b"", b"foo")]),
            (
                "%V %v{hex}asdf",
                b"6 6b6579asdf",
                vec![rec("", b"", b"key")],
            ),
            (
                "%V %v{base64}asdf",
                b"4 a2V5asdf",
                vec![rec("", b"", b"key")],
            ),
            (
                "%p %o %e %d %x %y{hex8}",
                b"3 4 5 17000 6 0a",
                vec![Record {
                    partition: 3,
                    offset: 4,
                    leader_epoch: 5,
                    timestamp: 17_000,
                    producer_id: 6,
                    producer_epoch: 10,
                    ..Record::default()
                }],
            ),
        ];
        for (layout, input, want) in table {
            check(layout, input, &want);
        }
    }

    #[test]
    fn kgo_reader_size_table() {
        // kgo's TestRecordReader, continued: every number format of a size.
        let table: Vec<(&str, &[u8], Vec<Record>)> = vec![
            ("%K{ascii}%k", b"3foo", vec![rec("", b"foo", b"")]),
            ("%K%k", b"3foo", vec![rec("", b"foo", b"")]),
            (
                "%K{hex64}%k",
                b"0000000000000003foo",
                vec![rec("", b"foo", b"")],
            ),
            ("%K{hex32}%k", b"00000003foo", vec![rec("", b"foo", b"")]),
            ("%K{hex16}%k", b"0003foo", vec![rec("", b"foo", b"")]),
            ("%K{hex8}%k", b"03foo", vec![rec("", b"foo", b"")]),
            ("%K{hex4}%k", b"3foo", vec![rec("", b"foo", b"")]),
            (
                "%K{big64}%k",
                b"\0\0\0\0\0\0\0\x03foo",
                vec![rec("", b"foo", b"")],
            ),
            ("%K{big32}%k", b"\0\0\0\x03foo", vec![rec("", b"foo", b"")]),
            ("%K{big16}%k", b"\0\x03foo", vec![rec("", b"foo", b"")]),
            ("%K{big8}%k", b"\x03foo", vec![rec("", b"foo", b"")]),
            (
                "%K{little64}%k",
                b"\x03\0\0\0\0\0\0\0foo",
                vec![rec("", b"foo", b"")],
            ),
            (
                "%K{little32}%k",
                b"\x03\0\0\0foo",
                vec![rec("", b"foo", b"")],
            ),
            ("%K{little16}%k", b"\x03\0foo", vec![rec("", b"foo", b"")]),
            ("%K{little8}%k", b"\x03foo", vec![rec("", b"foo", b"")]),
        ];
        for (layout, input, want) in table {
            check(layout, input, &want);
        }
    }

    #[test]
    fn kgo_doc_examples() {
        // The layouts of kgo's NewRecordReader documentation (and of its
        // later versions, for the regular expressions).
        let table: Vec<(&str, &[u8], Vec<Record>)> = vec![
            ("%t{hex}\n", b"666f6f\n", vec![rec("foo", b"", b"")]),
            (
                "%v{base64}\n",
                b"dmFsdWU=\ndmFsdWU\n",
                vec![rec("", b"", b"value"); 2],
            ),
            ("%V%v{base64}", b"2z9", vec![rec("", b"", b"\xcf")]),
            ("%T %t{hex}", b"6 666f6f", vec![rec("foo", b"", b"")]),
            (
                "%V{3}%v",
                b"abcdef",
                vec![rec("", b"", b"abc"), rec("", b"", b"def")],
            ),
            (
                "%k{re[\\d*]}%v{re[\\s+]}",
                b"123 \t ",
                vec![rec("", b"123", b" \t ")],
            ),
            (
                "%V{ascii}|%v",
                b"2|ab3|cde",
                vec![rec("", b"", b"ab"), rec("", b"", b"cde")],
            ),
            ("%V{hex8}%v", b"02ab", vec![rec("", b"", b"ab")]),
            ("%V{big16}%v", b"\x00\x02ab", vec![rec("", b"", b"ab")]),
            ("%V{little32}%v", b"\x02\0\0\0ab", vec![rec("", b"", b"ab")]),
            ("%V{byte}%v", b"\x02ab", vec![rec("", b"", b"ab")]),
        ];
        for (layout, input, want) in table {
            check(layout, input, &want);
        }
    }

    #[test]
    fn numbers_headers_and_extensions() {
        let table: Vec<(&str, &[u8], Vec<Record>)> = vec![
            (
                "%p %o %e %d %x %y\n",
                b"-1 -2 -3 -4 -5 -6\n",
                vec![Record {
                    partition: -1,
                    offset: -2,
                    leader_epoch: -3,
                    timestamp: -4,
                    producer_id: -5,
                    producer_epoch: -6,
                    ..Record::default()
                }],
            ),
            (
                "%p{hex32}%e{big32}%y{little16}%o{hex}.",
                b"ffffffff\xff\xff\xff\xfe\xfd\xff1a.",
                vec![Record {
                    partition: -1,
                    leader_epoch: -2,
                    producer_epoch: -3,
                    offset: 26,
                    ..Record::default()
                }],
            ),
            (
                "%p{7}%x{bool}%y{bool}%v\n",
                b"truefalsev\n",
                vec![Record {
                    partition: 7,
                    producer_id: 1,
                    value: Some(Bytes::from_static(b"v")),
                    ..Record::default()
                }],
            ),
            (
                "%H %h{%k=%v;}\n",
                b"2 a=1;b=;\n0 \n",
                vec![
                    Record::default()
                        .with_header("a", Some(Bytes::from_static(b"1")))
                        .with_header("b", None),
                    Record::default(),
                ],
            ),
            ("%v%V{2}\r\n", b"", vec![]),
            (
                "%v{re#[a-z]+#}%k\n",
                b"abc123\n",
                vec![rec("", b"123", b"abc")],
            ),
            ("%k{re[a|ab]}%v", b"abc", vec![rec("", b"a", b"bc")]),
        ];
        for (layout, input, want) in table {
            if layout.starts_with("%v%V") {
                assert!(RecordReader::new(input, layout).is_err());
                continue;
            }
            check(layout, input, &want);
        }
    }

    #[test]
    fn end_of_input() {
        // The last field and the last literal may be cut off by the end.
        check("%v\n", b"a\nb", &[rec("", b"", b"a"), rec("", b"", b"b")]);
        check("%V{byte}%v\r\n", b"\x01a\r", &[rec("", b"", b"a")]);
        check("%V{byte}%v\r\n", b"\x01a", &[rec("", b"", b"a")]);
        check("%k %v\n", b"foo ", &[rec("", b"foo", b"")]);
        check(
            "%o",
            b"12",
            &[Record {
                offset: 12,
                ..Record::default()
            }],
        );
        let mut r = RecordReader::new(&b"x\n"[..], "%v\n").unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(r.read_record(), Ok(Some(_))));
        assert!(matches!(r.read_record(), Ok(None)));
        assert!(matches!(r.read_record(), Ok(None)));
    }

    #[test]
    fn bad_input() {
        let eof = "the input ended";
        let table: &[(&str, &[u8], &str)] = &[
            ("%k %v\n", b"foo", eof),
            ("%V{big32}%v", b"\x00\x00", eof),
            ("%V{big32}%v", b"\x00\x00\x00\x05ab", eof),
            (
                "%V{big32}%v",
                b"\xff\xff\xff\xff",
                "over the max size of 67108864 bytes",
            ),
            (
                "%V{big64}%v",
                b"\xff\xff\xff\xff\xff\xff\xff\xff",
                "over the max size",
            ),
            ("%p %v", b"x v", "expected decimal digits, found \"x\""),
            ("%p %v", b"2147483648 v", "out of range"),
            ("%y %v", b"-32769 v", "out of range"),
            ("%p\n", b"-\n", "expected decimal digits"),
            ("%p\n", b"-", eof),
            ("%V%v", b"123456789012345678901234", "out of range"),
            ("%o{hex8}", b"zz", "expected 2 hex digits"),
            ("%o{hex}", b"zz", "expected 1 to 16 hex digits"),
            (
                "%o{hex};",
                b"12345678901234567;",
                "expected 1 to 16 hex digits",
            ),
            ("%o{bool}", b"maybe", "expected true or false"),
            ("%o{bool}", b"tru", eof),
            ("a%v", b"bcd", "expected \"a\", found \"b\""),
            ("%V{byte}%v\r\n", b"\x01ax", "found \"x\""),
            ("%V{byte}%v\r\n%k", b"\x01a\r", eof),
            ("%H%h{%k=%v;}", b"2a=b;", eof),
            ("%t\n", b"\xff\n", "topic is not valid UTF-8"),
            ("%H%h{%k=%v;}", b"1\xfe=v;", "header key is not valid UTF-8"),
            ("%v{hex}\n", b"abc\n", "odd length"),
            ("%v{base64}\n", b"a*==\n", "not a base64 character"),
            ("%k{re[\\d+]} %v", b"abc", "does not match"),
            ("%V{0}%v", b"x", "without reading any input"),
            ("%k{re[a*]}", b"b", "without reading any input"),
        ];
        for &(layout, input, what) in table {
            let msg = match read_all(layout, input) {
                Err(e) => e.to_string(),
                Ok(recs) => panic!("{layout:?} on {input:?}: read {recs:?}"),
            };
            assert!(msg.contains(what), "{layout:?} on {input:?}: {msg}");
            assert!(msg.contains("record 1, input byte"), "{msg}");
        }
        // Truncation is kgo's io.ErrUnexpectedEOF.
        let err = read_all("%k %v\n", b"foo").err();
        assert!(matches!(err, Some(Error::Io(e)) if e.kind() == io::ErrorKind::UnexpectedEof));
        let err = read_all("a%v", b"b").err();
        assert!(matches!(err, Some(Error::Protocol(_))));
    }

    #[test]
    fn limits() {
        let read = |layout: &str, input: &[u8], max: usize| {
            let mut r = RecordReader::new(input, layout)
                .unwrap_or_else(|e| panic!("{e}"))
                .max_size(max)
                .max_headers(2);
            r.read_record().map_err(|e| e.to_string())
        };
        let too_long = |r: std::result::Result<Option<Record>, String>, what: &str| {
            assert!(r.as_ref().is_err_and(|e| e.contains(what)), "{r:?}");
        };
        too_long(
            read("%v\n", b"abcdefgh\n", 4),
            "no \"\\n\" within the max size of 4",
        );
        too_long(read("%v", b"abcdefgh", 4), "over the max size of 4");
        too_long(read("%V%v", b"5abcde", 4), "over the max size of 4");
        too_long(read("%H%h{%k=%v;}", b"3a=b;", 4), "over the max of 2");
        assert!(read("%v\n", b"abcd\n", 4).is_ok());
        assert!(read("%V%v", b"4abcd", 4).is_ok());
        // A regular expression sees at most the max size.
        let r = read("%v{re[a+]}%k", b"aaaaaaab", 4);
        assert_eq!(r.ok().flatten(), Some(rec("", b"aaab", b"aaaa")));
    }

    #[test]
    fn rejects_bad_layouts() {
        let table = [
            ("", 0, "non-empty layout"),
            ("%K%K%k", 2, "%K is given twice"),
            ("%k%K", 2, "%K comes after %k"),
            ("%t %T", 3, "%T comes after %t"),
            ("%h{%k;}", 0, "needs the header count first"),
            ("%H%h{%k}", 5, "%k must be sized by %K"),
            ("%H%h{%p;}", 5, "not allowed in a header layout"),
            ("%H%h{%K{1}}", 0, "the header layout reads no input"),
            ("%V{3}", 0, "the layout reads no input"),
            ("%k%v", 0, "%k has neither a size"),
            ("%v%p", 0, "%v has neither a size"),
            ("%i %v", 0, "can be formatted but not read"),
            ("%v %a{compression}", 3, "can be formatted but not read"),
            ("%v %[", 3, "can be formatted but not read"),
            ("%q", 0, "unknown verb %q"),
            ("%v{unpack[c]}", 0, "cannot be read"),
            ("%V%v{re[a]}", 2, "cannot be sized by %V"),
            ("%v{re[(]}", 0, "invalid regular expression"),
            ("%p{99999999999} %v", 0, "too large for %p"),
            ("%p{x} %v", 0, "not a number format"),
            ("%d{strftime[%F]} %v", 0, "only as milliseconds"),
            ("%d{go#2006#} %v", 0, "only as milliseconds"),
        ];
        for (layout, at, what) in table {
            let msg = match RecordReader::new(&b""[..], layout) {
                Err(Error::Config(m)) => m.to_string(),
                other => panic!("{layout:?}: {other:?}"),
            };
            assert!(msg.contains(&format!("at byte {at}:")), "{layout:?}: {msg}");
            assert!(msg.contains(what), "{layout:?}: {msg}");
        }
    }

    #[test]
    fn reuse_and_set_reader() {
        let layout = "%H %h{%k=%v;}%v\n";
        let mut r =
            RecordReader::new(&b"1 a=b;x\n0 y\n"[..], layout).unwrap_or_else(|e| panic!("{e}"));
        let mut into = Record::default().with_topic("kept");
        assert!(matches!(r.read_record_into(&mut into), Ok(true)));
        assert_eq!((into.topic.as_str(), into.headers.len()), ("kept", 1));
        assert!(matches!(r.read_record_into(&mut into), Ok(true)));
        assert_eq!(
            (into.headers.len(), into.value.as_deref()),
            (0, Some(&b"y"[..]))
        );
        assert!(matches!(r.read_record_into(&mut into), Ok(false)));
        assert_eq!(into.value.as_deref(), Some(&b"y"[..]));
        r.set_reader(&b"0 z\n"[..]);
        assert_eq!(
            r.read_record().ok().flatten().and_then(|r| r.value),
            Some(Bytes::from_static(b"z"))
        );
    }

    #[test]
    fn large_fields_through_a_trickle() {
        // A reader that hands out 7 bytes a call still yields whole fields.
        struct Trickle<'a>(&'a [u8]);
        impl Read for Trickle<'_> {
            fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
                let n = out.len().min(7).min(self.0.len());
                out[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        let big: Vec<u8> = (0..100_000u32).map(|i| b'a' + (i % 26) as u8).collect();
        let mut input = Vec::new();
        input.extend_from_slice(&(big.len() as u32).to_be_bytes());
        input.extend_from_slice(&big);
        input.extend_from_slice(&big);
        input.extend_from_slice(b"\r\n");
        let mut r = RecordReader::new(Trickle(&input), "%V{big32}%v%k\r\n")
            .unwrap_or_else(|e| panic!("{e}"));
        let got = r.read_record().ok().flatten().unwrap_or_default();
        assert_eq!(got.value.as_deref(), Some(&big[..]));
        assert_eq!(got.key.as_deref(), Some(&big[..]));
        assert!(matches!(r.read_record(), Ok(None)));
    }

    fn arb_bytes(max: usize) -> impl Strategy<Value = Option<Bytes>> {
        proptest::option::of(proptest::collection::vec(any::<u8>(), 1..max).prop_map(Bytes::from))
    }

    prop_compose! {
        fn arb_record()(
            topic in ".{0,12}",
            key in arb_bytes(40),
            value in arb_bytes(40),
            headers in proptest::collection::vec((".{0,8}", arb_bytes(16)), 0..4),
            partition in any::<i32>(),
            offset in any::<i64>(),
            leader_epoch in any::<i32>(),
            timestamp in any::<i64>(),
            producer_id in any::<i64>(),
            producer_epoch in any::<i16>(),
        ) -> Record {
            Record {
                topic: topic.into(),
                key,
                value,
                headers: headers
                    .into_iter()
                    .map(|(key, value)| RecordHeader { key, value })
                    .collect(),
                partition,
                offset,
                leader_epoch,
                timestamp,
                producer_id,
                producer_epoch,
                ..Record::default()
            }
        }
    }

    fn round_trip(layout: &str, recs: &[Record]) -> Vec<Record> {
        let f = RecordFormatter::new(layout).unwrap_or_else(|e| panic!("{e}"));
        let mut buf = Vec::new();
        let part = PartitionOffsets::default();
        for r in recs {
            f.append_partition_record(&mut buf, &part, r);
        }
        read_all(layout, &buf).unwrap_or_else(|e| panic!("{layout:?}: {e}"))
    }

    /// Strips what a layout does not carry, and what text layouts cannot.
    fn without_bytes(c: &[u8], r: &Option<Bytes>) -> Option<Bytes> {
        r.as_ref()
            .map(|b| {
                b.iter()
                    .copied()
                    .filter(|x| !c.contains(x))
                    .collect::<Vec<u8>>()
            })
            .filter(|b| !b.is_empty())
            .map(Bytes::from)
    }

    proptest! {
        #[test]
        fn binary_layout_round_trips(recs in proptest::collection::vec(arb_record(), 0..5)) {
            let layout = "%T{big16}%t%p{big32}%o{big64}%e{big32}%d{big64}%x{big64}%y{big16}\
                          %K{big32}%k%V{big32}%v%H{big32}%h{%K{big32}%k%V{big32}%v}";
            prop_assert_eq!(round_trip(layout, &recs), recs);
        }

        #[test]
        fn text_layout_round_trips(recs in proptest::collection::vec(arb_record(), 0..5)) {
            let recs: Vec<Record> = recs
                .into_iter()
                .map(|r| Record {
                    topic: r.topic.replace(' ', "_").into(),
                    key: without_bytes(b"\t", &r.key),
                    value: without_bytes(b"\n", &r.value),
                    headers: vec![],
                    ..r
                })
                .collect();
            let layout = "%t %p %o %e %d %x %y %k\t%v\n";
            prop_assert_eq!(round_trip(layout, &recs), recs);
        }

        #[test]
        fn encoded_layout_round_trips(recs in proptest::collection::vec(arb_record(), 0..5)) {
            let recs: Vec<Record> = recs
                .into_iter()
                .map(|r| Record {
                    headers: r
                        .headers
                        .into_iter()
                        .map(|h| RecordHeader { key: h.key.replace(['=', ';'], "-"), ..h })
                        .collect(),
                    partition: 0,
                    leader_epoch: 0,
                    producer_id: 0,
                    producer_epoch: 0,
                    ..r
                })
                .collect();
            let layout = "%t{base64} %k{hex} %v{base64raw} %o{hex64}%d{hex} %H %h{%k=%v{hex};}\n";
            prop_assert_eq!(round_trip(layout, &recs), recs);
        }

        #[test]
        fn never_panics_on_random_input(
            input in proptest::collection::vec(any::<u8>(), 0..300),
            which in 0usize..7,
        ) {
            let layouts = [
                "%T{big16}%t%p{big32}%o{big64}%K{big32}%k%V{big32}%v%H{big32}%h{%K{big32}%k%V{big32}%v}",
                "%t %p %o %e %d %x %y %k\t%v\n",
                "%H %h{%k=%v{hex};}%v{base64}\n",
                "%v{re#[a-z]+#}%k{hex}\n",
                "%V{hex8}%v{base64}%K{little16}%k|%d{bool}%y{hex}",
                "a%V%v\r\n",
                "%k{re[\\d*]}%v",
            ];
            let mut r = RecordReader::new(&input[..], layouts[which])
                .map_err(|e| TestCaseError::fail(e.to_string()))?
                .max_size(64)
                .max_headers(8);
            for _ in 0..=input.len() + 1 {
                match r.read_record() {
                    Ok(Some(_)) => continue,
                    Ok(None) | Err(_) => break,
                }
            }
        }

        #[test]
        fn never_panics_on_random_layouts(
            layout in "[%{}\\[\\]#()\\\\xtTkKvVhHpoedyai|;=0-9a-z ]{0,24}",
            input in proptest::collection::vec(any::<u8>(), 0..64),
        ) {
            if let Ok(f) = RecordFormatter::new(&layout) {
                let r = Record::key_string("k", "v").with_header("h", None);
                f.append_record(&mut Vec::new(), &r);
            }
            if let Ok(r) = RecordReader::new(&input[..], &layout) {
                let mut r = r.max_size(64).max_headers(8);
                for _ in 0..=input.len() + 1 {
                    if !matches!(r.read_record(), Ok(Some(_))) {
                        break;
                    }
                }
            }
        }
    }
}
