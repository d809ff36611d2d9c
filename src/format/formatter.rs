//! [`RecordFormatter`]: compiles a layout once into a flat list of
//! operations, then appends records to a caller's buffer without
//! allocating (kgo's `record_formatter.go`, writer half).

use std::sync::atomic::{AtomicI64, Ordering};

use super::codec::{base64_encode, hex_encode};
use super::layout::{self, Arg, Item, Verb};
use super::numbers::{NumFmt, NAMES};
use super::time::TimeFmt;
use super::unpack::Unpack;
use super::PartitionOffsets;
use crate::error::Result;
use crate::record::Record;

/// A number a verb prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Num {
    TopicLen,
    KeyLen,
    ValueLen,
    HeaderCount,
    Partition,
    Offset,
    LeaderEpoch,
    Timestamp,
    ProducerId,
    ProducerEpoch,
    Iteration,
    LogStartOffset,
    LastStableOffset,
    HighWatermark,
    Compression,
    TimestampType,
    TransactionalBit,
    ControlBit,
}

/// Text a verb prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Text {
    Topic,
    Key,
    Value,
}

/// How text is printed.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Enc {
    Plain,
    Hex,
    Base64,
    Base64Raw,
    Unpack(Unpack),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Op {
    Lit(Box<[u8]>),
    Num(Num, NumFmt),
    Text(Text, Enc),
    Time(TimeFmt),
    /// `%a{compression}`: the codec's name.
    CompressionName,
    /// `%h{...}`: the nested operations, run once per header.
    Headers(Box<[Op]>),
}

/// What the operations read while formatting one record or one header.
struct Ctx<'a> {
    rec: &'a Record,
    key: &'a [u8],
    value: &'a [u8],
    part: Option<&'a PartitionOffsets>,
    iteration: i64,
}

/// Formats records into bytes by a layout (kgo's `RecordFormatter`).
///
/// The layout is parsed once by [`RecordFormatter::new`]; formatting then
/// appends to the caller's buffer and allocates nothing beyond that
/// buffer's growth. Slash escapes: `\t \n \r \\ \xNN`. Raw characters:
/// `%%`, `%{`, `%}`. Verbs:
///
/// | verb | prints |
/// | --- | --- |
/// | `%t` `%T` | topic, topic length |
/// | `%k` `%K` | key, key length |
/// | `%v` `%V` | value, value length |
/// | `%h{...}` `%H` | each header by the nested layout (`%k %K %v %V`), header count |
/// | `%p` `%o` `%e` | partition, offset, leader epoch |
/// | `%d` | timestamp: milliseconds, or `%d{strftime[...]}` / `%d{go#...#}` in UTC |
/// | `%x` `%y` | producer id, producer epoch |
/// | `%a{...}` | attributes: `compression`, `timestamp-type`, `transactional-bit`, `control-bit`, each with an optional `;number-format` |
/// | `%[` `%\|` `%]` | the partition's log start offset, last stable offset, high watermark (`<nil>` without a partition) |
/// | `%i` | how many times this formatter has formatted, starting at 1 |
///
/// Number verbs take `{ascii}` (the default), `{hex64}` `{hex32}`
/// `{hex16}` `{hex8}` `{hex4}` `{hex}`, `{big64}` `{big32}` `{big16}`
/// `{big8}`, `{little64}` `{little32}` `{little16}` `{little8}`, `{byte}`
/// and `{bool}`; fixed widths truncate. Topics, keys and values take
/// `{hex}`, `{base64}`, `{base64raw}` and `{unpack[...]}`. A null key or
/// value prints as nothing, with length 0.
///
/// Corresponds to kgo's `RecordFormatter`; `%a` and `{bool}` and
/// `{base64raw}` are kgo's later additions, and `{base64}` pads as kgo's
/// later versions do.
///
/// # Examples
///
/// ```
/// # use kafka_sync::{Record, RecordFormatter};
/// let f = RecordFormatter::new("%H %h{%k %v }")?;
/// let r = Record::string("v").with_header("a", Some("1".into()));
/// let mut out = Vec::new();
/// f.append_record(&mut out, &r);
/// assert_eq!(out, b"1 a 1 ");
/// # Ok::<(), kafka_sync::Error>(())
/// ```
#[derive(Debug)]
pub struct RecordFormatter {
    ops: Box<[Op]>,
    counts: bool,
    calls: AtomicI64,
}

impl RecordFormatter {
    /// Parses `layout` into a formatter.
    ///
    /// Corresponds to kgo's `NewRecordFormatter`.
    ///
    /// # Errors
    ///
    /// [`Error::Config`](crate::error::Error::Config) naming the byte
    /// offset and what to change, for an unknown verb, escape or modifier,
    /// an unclosed brace, or a header layout that uses more than `%k %K %v
    /// %V`.
    pub fn new(layout: &str) -> Result<RecordFormatter> {
        let items = layout::parse(layout)?;
        let ops = compile(layout, &items, false)?;
        let counts = ops
            .iter()
            .any(|op| matches!(op, Op::Num(Num::Iteration, _)));
        Ok(RecordFormatter {
            ops: ops.into_boxed_slice(),
            counts,
            calls: AtomicI64::new(0),
        })
    }

    /// Appends `r` formatted by the layout to `out`; partition verbs print
    /// `<nil>` unless `partition` is given.
    ///
    /// Corresponds to kgo's `RecordFormatter.AppendPartitionRecord`, whose
    /// partition may be nil; [`append_record`](Self::append_record) and
    /// [`append_partition_record`](Self::append_partition_record) are the
    /// two kgo spellings.
    pub fn append_format(
        &self,
        out: &mut Vec<u8>,
        r: &Record,
        partition: Option<&PartitionOffsets>,
    ) {
        // kgo documents %i as the call count, so every %i of one call
        // prints the same number.
        let iteration = if self.counts {
            self.calls.fetch_add(1, Ordering::Relaxed).wrapping_add(1)
        } else {
            0
        };
        let cx = Ctx {
            rec: r,
            key: r.key.as_deref().unwrap_or_default(),
            value: r.value.as_deref().unwrap_or_default(),
            part: partition,
            iteration,
        };
        run(&self.ops, out, &cx);
    }

    /// Appends `r` formatted by the layout to `out`.
    ///
    /// Corresponds to kgo's `RecordFormatter.AppendRecord`.
    pub fn append_record(&self, out: &mut Vec<u8>, r: &Record) {
        self.append_format(out, r, None);
    }

    /// Appends `r`, with its partition's offsets for `%[ %| %]`, to `out`.
    ///
    /// Corresponds to kgo's `RecordFormatter.AppendPartitionRecord`.
    pub fn append_partition_record(&self, out: &mut Vec<u8>, p: &PartitionOffsets, r: &Record) {
        self.append_format(out, r, Some(p));
    }
}

fn run(ops: &[Op], out: &mut Vec<u8>, cx: &Ctx<'_>) {
    for op in ops {
        match op {
            Op::Lit(b) => out.extend_from_slice(b),
            Op::Num(n, f) => match number(*n, cx) {
                Some(v) => f.write(out, v),
                None => out.extend_from_slice(b"<nil>"),
            },
            Op::Text(t, enc) => {
                let src = match t {
                    Text::Topic => cx.rec.topic.as_bytes(),
                    Text::Key => cx.key,
                    Text::Value => cx.value,
                };
                encode(out, enc, src);
            }
            Op::Time(f) => f.write(out, cx.rec.timestamp),
            Op::CompressionName => out.extend_from_slice(match cx.rec.attrs.compression_type() {
                0 => b"none",
                1 => b"gzip",
                2 => b"snappy",
                3 => b"lz4",
                4 => b"zstd",
                _ => b"unknown",
            }),
            Op::Headers(inner) => {
                for h in &cx.rec.headers {
                    let hcx = Ctx {
                        key: h.key.as_bytes(),
                        value: h.value.as_deref().unwrap_or_default(),
                        ..*cx
                    };
                    run(inner, out, &hcx);
                }
            }
        }
    }
}

/// The value of a number verb; `None` for a partition verb without a
/// partition.
fn number(n: Num, cx: &Ctx<'_>) -> Option<i64> {
    let r = cx.rec;
    let len = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
    Some(match n {
        Num::TopicLen => len(r.topic.len()),
        Num::KeyLen => len(cx.key.len()),
        Num::ValueLen => len(cx.value.len()),
        Num::HeaderCount => len(r.headers.len()),
        Num::Partition => i64::from(r.partition),
        Num::Offset => r.offset,
        Num::LeaderEpoch => i64::from(r.leader_epoch),
        Num::Timestamp => r.timestamp,
        Num::ProducerId => r.producer_id,
        Num::ProducerEpoch => i64::from(r.producer_epoch),
        Num::Iteration => cx.iteration,
        Num::LogStartOffset => cx.part?.log_start_offset,
        Num::LastStableOffset => cx.part?.last_stable_offset,
        Num::HighWatermark => cx.part?.high_watermark,
        Num::Compression => i64::from(r.attrs.compression_type()),
        Num::TimestampType => i64::from(r.attrs.timestamp_type()),
        Num::TransactionalBit => i64::from(r.attrs.is_transactional()),
        Num::ControlBit => i64::from(r.attrs.is_control()),
    })
}

fn encode(out: &mut Vec<u8>, enc: &Enc, src: &[u8]) {
    match enc {
        Enc::Plain => out.extend_from_slice(src),
        Enc::Hex => hex_encode(out, src),
        Enc::Base64 => base64_encode(out, src, true),
        Enc::Base64Raw => base64_encode(out, src, false),
        Enc::Unpack(u) => u.run(out, src),
    }
}

/// Compiles parsed items; `in_headers` limits the verbs to a header's.
fn compile(layout: &str, items: &[Item<'_>], in_headers: bool) -> Result<Vec<Op>> {
    let mut ops = Vec::with_capacity(items.len());
    for item in items {
        ops.push(match item {
            Item::Literal(b) => Op::Lit(b.clone().into_boxed_slice()),
            Item::Headers { at, .. } if in_headers => {
                return Err(layout::error(
                    layout,
                    *at,
                    "a header layout cannot contain another %h",
                ))
            }
            Item::Headers { items, .. } => {
                Op::Headers(compile(layout, items, true)?.into_boxed_slice())
            }
            Item::Verb(v) => compile_verb(layout, v, in_headers)?,
        });
    }
    Ok(ops)
}

fn compile_verb(layout: &str, v: &Verb<'_>, in_headers: bool) -> Result<Op> {
    let err = |what: String| layout::error(layout, v.at, &what);
    if in_headers && !matches!(v.verb, 'k' | 'K' | 'v' | 'V') {
        return Err(err(format!(
            "%{} is not allowed in a header layout, which knows only %k %K %v %V",
            v.verb
        )));
    }
    let num = match v.verb {
        'T' => Num::TopicLen,
        'K' => Num::KeyLen,
        'V' => Num::ValueLen,
        'H' => Num::HeaderCount,
        'p' => Num::Partition,
        'o' => Num::Offset,
        'e' => Num::LeaderEpoch,
        'x' => Num::ProducerId,
        'y' => Num::ProducerEpoch,
        'i' => Num::Iteration,
        '[' => Num::LogStartOffset,
        '|' => Num::LastStableOffset,
        ']' => Num::HighWatermark,
        't' => return text_op(Text::Topic, v.arg, err),
        'k' => return text_op(Text::Key, v.arg, err),
        'v' => return text_op(Text::Value, v.arg, err),
        'd' => return time_op(v.arg, err),
        'a' => return attrs_op(v.arg, err),
        other => {
            return Err(err(format!(
                "unknown verb %{other}; the verbs are %t %T %k %K %v %V %h %H %p %o %e %d %x %y %a %i %[ %| %], and %% prints a percent sign"
            )))
        }
    };
    Ok(Op::Num(num, num_fmt(v.verb, v.arg, &err)?))
}

/// The number format of a verb's modifier; no modifier is ascii.
fn num_fmt(
    verb: char,
    arg: Option<Arg<'_>>,
    err: &impl Fn(String) -> crate::error::Error,
) -> Result<NumFmt> {
    let name = arg.map_or("", |a| a.name);
    NumFmt::parse(name).ok_or_else(|| {
        err(format!(
            "%{verb}{{{name}}} is not a number format; use one of {NAMES}"
        ))
    })
}

fn text_op(
    text: Text,
    arg: Option<Arg<'_>>,
    err: impl Fn(String) -> crate::error::Error,
) -> Result<Op> {
    let verb = match text {
        Text::Topic => 't',
        Text::Key => 'k',
        Text::Value => 'v',
    };
    let enc = match arg {
        None => Enc::Plain,
        Some(Arg { name: "", .. }) => Enc::Plain,
        Some(Arg { name: "hex", .. }) => Enc::Hex,
        Some(Arg { name: "base64", .. }) => Enc::Base64,
        Some(Arg {
            name: "base64raw", ..
        }) => Enc::Base64Raw,
        Some(Arg {
            name: "unpack",
            body: Some(body),
        }) => Enc::Unpack(
            Unpack::compile(body).map_err(|e| err(format!("in %{verb}{{unpack}}: {e}")))?,
        ),
        Some(Arg { name, .. }) => {
            return Err(err(format!(
                "%{verb}{{{name}}} is not a text format; use hex, base64, base64raw or unpack[...]"
            )))
        }
    };
    Ok(Op::Text(text, enc))
}

fn time_op(arg: Option<Arg<'_>>, err: impl Fn(String) -> crate::error::Error) -> Result<Op> {
    match arg {
        Some(Arg {
            name: "strftime",
            body: Some(body),
        }) => Ok(Op::Time(TimeFmt::strftime(body))),
        Some(Arg {
            name: "go",
            body: Some(body),
        }) => Ok(Op::Time(TimeFmt::go(body))),
        Some(Arg { name, .. }) => match NumFmt::parse(name) {
            Some(f) => Ok(Op::Num(Num::Timestamp, f)),
            None => Err(err(format!(
                "%d{{{name}}} is not a timestamp format; use strftime[...], go[...], or a number format ({NAMES})"
            ))),
        },
        None => Ok(Op::Num(Num::Timestamp, NumFmt::Ascii)),
    }
}

fn attrs_op(arg: Option<Arg<'_>>, err: impl Fn(String) -> crate::error::Error) -> Result<Op> {
    let Some(Arg { name, .. }) = arg else {
        return Err(err(
            "%a needs the attribute in braces: %a{compression}, %a{timestamp-type}, %a{transactional-bit} or %a{control-bit}".into(),
        ));
    };
    let (attr, fmt) = match name.split_once(';') {
        Some((attr, fmt)) => (attr, Some(fmt)),
        None => (name, None),
    };
    let num = match attr {
        "compression" if fmt.is_none() => return Ok(Op::CompressionName),
        "compression" => Num::Compression,
        "timestamp-type" => Num::TimestampType,
        "transactional-bit" => Num::TransactionalBit,
        "control-bit" => Num::ControlBit,
        _ => {
            return Err(err(format!(
                "%a{{{attr}}} is not an attribute; use compression, timestamp-type, transactional-bit or control-bit"
            )))
        }
    };
    let fmt = match fmt.map(|f| NumFmt::parse(f).filter(|_| !f.is_empty())) {
        None => NumFmt::Ascii,
        Some(Some(f)) => f,
        Some(None) => {
            return Err(err(format!(
                "%a{{{name}}} has no valid number format after ';'; use one of {NAMES}"
            )))
        }
    };
    Ok(Op::Num(num, fmt))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;
    use crate::record::{RecordAttrs, RecordHeader};
    use bytes::Bytes;

    /// The record of kgo's TestRecordFormatter.
    fn kgo_record() -> Record {
        Record {
            key: Some(Bytes::from_static(b"key")),
            value: Some(Bytes::from_static(b"value")),
            headers: vec![
                RecordHeader::new("H1", Bytes::from_static(b"V1")),
                RecordHeader::new("h2", Bytes::from_static(b"v2")),
            ],
            timestamp: 17_000,
            topic: "topictopictopictopictopict".into(),
            partition: 3,
            producer_epoch: 1,
            producer_id: 791,
            leader_epoch: -1,
            offset: 343,
            ..Record::default()
        }
    }

    const KGO_PARTITION: PartitionOffsets = PartitionOffsets {
        log_start_offset: 333,
        last_stable_offset: 666,
        high_watermark: 999,
    };

    fn fmt(layout: &str, r: &Record) -> Vec<u8> {
        let mut out = Vec::new();
        match RecordFormatter::new(layout) {
            Ok(f) => f.append_record(&mut out, r),
            Err(e) => panic!("{layout:?}: {e}"),
        }
        out
    }

    #[test]
    fn kgo_formatter_table() {
        // kgo's TestRecordFormatter: each layout formats the record, then
        // the record with its partition (expected output after the |).
        // Layout, output without and with the partition (None: the same).
        type Case<'a> = (&'a str, &'a [u8], Option<&'a [u8]>);
        let table: &[Case<'_>] = &[
            ("%v", b"value", None),
            (
                "%T{hex16}%t %V{ascii} %v %V{little16} %k %K{big32} %o",
                b"001atopictopictopictopictopict 5 value \x05\x00 key \x00\x00\x00\x03 343",
                None,
            ),
            ("%[ %| %]", b"<nil> <nil> <nil>", Some(b"333 666 999")),
            (
                "%d{strftime## %a ##} %d %d{ascii}",
                b" Thu  17000 17000",
                None,
            ),
            (
                "%T{ascii} %T{hex64} %T{hex32} %T{hex16} %T{hex8} %T{hex4} %T{hex}",
                b"26 000000000000001a 0000001a 001a 1a a 1a",
                None,
            ),
            (
                "%K{big64} %K{big32} %K{big16} %K{big8}",
                b"\x00\x00\x00\x00\x00\x00\x00\x03 \x00\x00\x00\x03 \x00\x03 \x03",
                None,
            ),
            (
                "%K{little64} %K{little32} %K{little16} %K{little8}",
                b"\x03\x00\x00\x00\x00\x00\x00\x00 \x03\x00\x00\x00 \x03\x00 \x03",
                None,
            ),
            (r"\t\r\n\\\x00 %{%}%%", b"\t\r\n\\\x00 {}%", None),
            (
                "%T %K %V %H %p %o %e %i %x %y",
                b"26 3 5 2 3 343 -1 1 791 1",
                Some(b"26 3 5 2 3 343 -1 2 791 1"),
            ),
            ("%k{base64} %k{hex}", b"a2V5 6b6579", None),
            (
                "%H %h{ %K{ascii} %k %v %V } %k %v",
                b"2  2 H1 V1 2  2 h2 v2 2  key value",
                None,
            ),
        ];
        let r = kgo_record();
        for &(layout, want_r, want_p) in table {
            let f = RecordFormatter::new(layout).unwrap_or_else(|e| panic!("{layout}: {e}"));
            let (mut got_r, mut got_p) = (Vec::new(), Vec::new());
            f.append_record(&mut got_r, &r);
            f.append_partition_record(&mut got_p, &KGO_PARTITION, &r);
            assert_eq!(got_r, want_r, "{layout}");
            assert_eq!(got_p, want_p.unwrap_or(want_r), "{layout} (partition)");
        }
    }

    #[test]
    fn kgo_doc_examples() {
        // Every layout in kgo's NewRecordFormatter documentation.
        let mut r = kgo_record();
        r.key = Some(Bytes::from_static(
            b"\xff\xff\xfe\xff\x01\x00\xff\xff\xff\xfe\x00\x00\x00\x02\xff\xff\xff\xff\xff\xff\xff\xfd\x00\x00\x00\x00\x00\x00\x00\x03ab",
        ));
        let table: &[(&str, &[u8])] = &[
            ("%H %h{%k %v }", b"2 H1 V1 h2 v2 "),
            ("%V{ascii}", b"5"),
            (
                "%d{go##2006-01-02T15:04:05Z07:00##}",
                b"1970-01-01T00:00:17Z",
            ),
            ("%d{strftime[%F]}", b"1970-01-01"),
            (
                "%t{hex}",
                b"746f706963746f706963746f706963746f706963746f70696374",
            ),
            ("%k{unpack{<bBhH>iIqQc.$}}", b"-1255-21-22-33ab"),
            ("%v{base64}", b"dmFsdWU="),
        ];
        for &(layout, want) in table {
            assert_eq!(fmt(layout, &r), want, "{layout}");
        }
    }

    #[test]
    fn every_verb_and_option() {
        let mut r = kgo_record();
        r.attrs = RecordAttrs(0x08 | 0x10 | 0x20 | 0x03);
        r.timestamp = 1_700_000_000_123;
        let table: &[(&str, &[u8])] = &[
            (
                "%t|%T|%k|%K|%v|%V|%H",
                b"topictopictopictopictopict|26|key|3|value|5|2",
            ),
            ("%p %o %e %d %x %y", b"3 343 -1 1700000000123 791 1"),
            (
                "%o{hex} %e{hex8} %e{hex} %y{bool} %e{big16}",
                b"157 ff ffffffffffffffff true \xff\xff",
            ),
            (
                "%p{byte}%p{big8}%p{little8}%p{little16}",
                b"\x03\x03\x03\x03\x00",
            ),
            ("%d{big64}", b"\x00\x00\x01\x8b\xcf\xe5\x68\x7b"),
            (
                "%d{go[Mon Jan _2 15:04:05.000 MST 2006]}",
                b"Tue Nov 14 22:13:20.123 UTC 2023",
            ),
            ("%d{strftime{{%Y-%m-%dT%H:%M:%S}}}", b"2023-11-14T22:13:20"),
            ("%d{strftime(%s)}", b"1700000000"),
            ("%a{compression}", b"lz4"),
            ("%a{compression;hex8} %a{compression;big16}", b"03 \x00\x03"),
            ("%a{timestamp-type} %a{timestamp-type;bool}", b"1 true"),
            (
                "%a{transactional-bit} %a{transactional-bit;bool}",
                b"1 true",
            ),
            (
                "%a{control-bit} %a{control-bit;bool} %a{control-bit;hex4}",
                b"1 true 1",
            ),
            ("%v{base64raw} %v{} %k{unpack[c]}", b"dmFsdWU value k"),
            ("%h{%K%V|}%h{%v{hex},}", b"22|22|5631,7632,"),
            ("%h{{%k}}", b"{H1}{h2}"),
            ("\\x41\\x7a\\xff%%i", b"Az\xff%i"),
            ("%i %i|%i", b"1 1|1"),
            ("", b""),
            ("caf\u{e9} %%{", "caf\u{e9} %{".as_bytes()),
        ];
        for &(layout, want) in table {
            assert_eq!(fmt(layout, &r), want, "{layout}");
        }
        // Null keys and values print nothing, with length 0.
        let empty = Record::default();
        assert_eq!(fmt("[%k|%K|%v|%V|%H|%h{%k}]", &empty), b"[|0||0|0|]");
        let null_header = Record::default().with_header("n", None);
        assert_eq!(fmt("%h{%k=%v;%V}", &null_header), b"n=;0");
        // Old messages have no timestamp type.
        let old = Record {
            attrs: RecordAttrs(-1),
            ..Record::default()
        };
        assert_eq!(fmt("%a{timestamp-type}", &old), b"-1");
    }

    #[test]
    fn iteration_counts_calls() {
        let f = RecordFormatter::new("%i,%i{hex8};").unwrap_or_else(|e| panic!("{e}"));
        let mut out = Vec::new();
        let r = Record::default();
        for _ in 0..3 {
            f.append_record(&mut out, &r);
        }
        f.append_partition_record(&mut out, &KGO_PARTITION, &r);
        assert_eq!(out, b"1,01;2,02;3,03;4,04;");
    }

    #[test]
    fn appends_without_reallocating() {
        // Formatting writes into the caller's buffer only: with room
        // reserved, the buffer is never reallocated.
        let f = RecordFormatter::new("%t %p %o %d{strftime[%F %T]} %k{hex} %v{base64}%h{ %k=%v}\n")
            .unwrap_or_else(|e| panic!("{e}"));
        let r = kgo_record();
        let mut out = Vec::with_capacity(4096);
        let ptr = out.as_ptr();
        for _ in 0..10 {
            f.append_record(&mut out, &r);
        }
        assert_eq!(out.as_ptr(), ptr);
        assert!(out.ends_with(b"1970-01-01 00:00:17 6b6579 dmFsdWU= H1=V1 h2=v2\n"));
    }

    #[test]
    fn one_off_append() {
        let mut out = b"> ".to_vec();
        let r = Record::key_string("k", "v");
        assert!(super::super::append_record_format(&mut out, &r, "%k=%v").is_ok());
        assert_eq!(out, b"> k=v");
        assert!(super::super::append_record_format(&mut out, &r, "%q").is_err());
        assert_eq!(out, b"> k=v");
    }

    #[test]
    fn rejects_bad_layouts() {
        let table = [
            ("%q", 0, "unknown verb %q"),
            ("ab%\u{e9}", 2, "unknown verb %\u{e9}"),
            ("%", 0, "lone %"),
            ("%p{hex128}", 0, "not a number format"),
            ("%p{3}", 0, "not a number format"),
            // The documentation's %v{hex64} and friends stand for any
            // number verb: text verbs take text formats.
            ("%v{hex64}", 0, "not a text format"),
            // ";number" in kgo's %a documentation stands for a number format.
            ("%a{compression;number}", 0, "no valid number format"),
            ("%t{unpack[z]}", 0, "not an unpack character"),
            ("%d{strftime}", 0, "between delimiters"),
            ("%d{rfc3339}", 0, "not a timestamp format"),
            ("%a", 0, "%a needs the attribute"),
            ("%a{bits}", 0, "not an attribute"),
            ("%a{compression;}", 0, "no valid number format"),
            ("%a{control-bit;big128}", 0, "no valid number format"),
            ("%h{%p}", 3, "not allowed in a header layout"),
            ("%h{%h{%k}}", 3, "cannot contain another %h"),
            ("x%h{%k", 1, "no closing }"),
            ("\\y", 0, "unknown slash escape"),
        ];
        for (layout, at, what) in table {
            let msg = match RecordFormatter::new(layout) {
                Err(Error::Config(m)) => m.to_string(),
                other => panic!("{layout:?}: {other:?}"),
            };
            assert!(msg.contains(&format!("at byte {at}:")), "{layout:?}: {msg}");
            assert!(msg.contains(what), "{layout:?}: {msg}");
        }
    }
}
