//! The reader's operations and their compilation from a parsed layout:
//! which field each verb fills, how it is read, and the checks that make a
//! layout readable at all (sizes before what they size, text fields that
//! can end, something to read).

use regex::bytes::Regex;

use super::layout::{self, Arg, Item, Verb};
use super::numbers::{NumFmt, NAMES};
use crate::error::{Error, Result};

/// Size slots: what `%T %K %V %H` set and the sized fields use.
pub(super) const TOPIC: usize = 0;
pub(super) const KEY: usize = 1;
pub(super) const VALUE: usize = 2;
pub(super) const HEADERS: usize = 3;

/// Where a number goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum NumDst {
    Size(usize),
    Partition,
    Offset,
    LeaderEpoch,
    Timestamp,
    ProducerId,
    ProducerEpoch,
}

impl NumDst {
    /// The values an ascii number may take for this field.
    pub(super) fn range(self) -> (i128, i128) {
        match self {
            NumDst::Size(_) => (0, i128::from(u64::MAX)),
            NumDst::Partition | NumDst::LeaderEpoch => (i128::from(i32::MIN), i128::from(i32::MAX)),
            NumDst::ProducerEpoch => (i128::from(i16::MIN), i128::from(i16::MAX)),
            NumDst::Offset | NumDst::Timestamp | NumDst::ProducerId => {
                (i128::from(i64::MIN), i128::from(i64::MAX))
            }
        }
    }
}

/// How a number is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum NumRead {
    /// Decimal digits up to the first non-digit (a sign for signed fields).
    Ascii,
    /// Hex digits up to the first non-hex-digit.
    Hex,
    /// Exactly this many hex digits.
    HexFixed(u8),
    Big(u8),
    Little(u8),
    /// `true` or `false`.
    Bool,
    /// Reads nothing: the number is this constant (`%V{3}`).
    Fixed(u64),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum TextDst {
    Topic,
    Key,
    Value,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Decode {
    Plain,
    Hex,
    Base64,
}

#[derive(Debug, Clone)]
pub(super) enum TextRead {
    /// As many bytes as the size slot says.
    Sized(usize),
    /// Up to this literal, which is consumed too.
    Delim(Box<[u8]>),
    /// To the end of the input.
    Rest,
    /// The longest text the anchored expression matches.
    Regex(Regex),
}

#[derive(Debug, Clone)]
pub(super) enum Op {
    Exact(Box<[u8]>),
    Num {
        verb: char,
        dst: NumDst,
        how: NumRead,
    },
    Text {
        verb: char,
        at: usize,
        dst: TextDst,
        dec: Decode,
        how: TextRead,
    },
    Headers(Box<[Op]>),
}

impl Op {
    pub(super) fn reads(&self) -> bool {
        !matches!(
            self,
            Op::Num {
                how: NumRead::Fixed(_),
                ..
            }
        )
    }

    /// How errors name the operation.
    pub(super) fn label(&self) -> String {
        match self {
            Op::Exact(lit) => format!("the literal {:?}", String::from_utf8_lossy(lit)),
            Op::Num { verb, .. } | Op::Text { verb, .. } => format!("%{verb}"),
            Op::Headers(_) => "%h".into(),
        }
    }
}

/// Compiles parsed items; `in_headers` limits the verbs to a header's.
pub(super) fn compile(layout: &str, items: &[Item<'_>], in_headers: bool) -> Result<Vec<Op>> {
    let mut c = Compiler {
        layout,
        in_headers,
        ops: Vec::with_capacity(items.len()),
        sized: [false; 4],
        seen: [false; 4],
    };
    for item in items {
        match item {
            Item::Literal(b) => c.literal(b),
            Item::Headers { items, at } => c.headers(items, *at)?,
            Item::Verb(v) => c.verb(v)?,
        }
    }
    c.finish()
}

struct Compiler<'l> {
    layout: &'l str,
    in_headers: bool,
    ops: Vec<Op>,
    /// Which size slots a size verb has set.
    sized: [bool; 4],
    /// Which slots' fields have been read, so a later size is an error.
    seen: [bool; 4],
}

impl Compiler<'_> {
    fn err(&self, at: usize, what: &str) -> Error {
        layout::error(self.layout, at, what)
    }

    fn literal(&mut self, b: &[u8]) {
        // A literal ends the unsized text field before it; constants in
        // between read nothing, so they do not separate the two.
        let prev = self.ops.iter_mut().rev().find(|op| op.reads());
        if let Some(Op::Text {
            how: how @ TextRead::Rest,
            ..
        }) = prev
        {
            *how = TextRead::Delim(b.into());
            return;
        }
        self.ops.push(Op::Exact(b.into()));
    }

    fn verb(&mut self, v: &Verb<'_>) -> Result<()> {
        if self.in_headers && !matches!(v.verb, 'k' | 'K' | 'v' | 'V') {
            let what = format!(
                "%{} is not allowed in a header layout, which knows only %k %K %v %V",
                v.verb
            );
            return Err(self.err(v.at, &what));
        }
        match v.verb {
            'T' => self.size(v, TOPIC),
            'K' => self.size(v, KEY),
            'V' => self.size(v, VALUE),
            'H' => self.size(v, HEADERS),
            'p' => self.num(v, NumDst::Partition),
            'o' => self.num(v, NumDst::Offset),
            'e' => self.num(v, NumDst::LeaderEpoch),
            'd' => self.num(v, NumDst::Timestamp),
            'x' => self.num(v, NumDst::ProducerId),
            'y' => self.num(v, NumDst::ProducerEpoch),
            't' => self.text(v, TOPIC, TextDst::Topic),
            'k' => self.text(v, KEY, TextDst::Key),
            'v' => self.text(v, VALUE, TextDst::Value),
            'i' | '[' | '|' | ']' | 'a' => {
                let what = format!(
                    "%{} can be formatted but not read; remove it from the reader's layout",
                    v.verb
                );
                Err(self.err(v.at, &what))
            }
            other => {
                let what = format!(
                    "unknown verb %{other}; the reader knows %t %T %k %K %v %V %h %H %p %o %e %d %x %y, and %% reads a percent sign"
                );
                Err(self.err(v.at, &what))
            }
        }
    }

    fn size(&mut self, v: &Verb<'_>, slot: usize) -> Result<()> {
        let field = v.verb.to_ascii_lowercase();
        if self.sized.get(slot) == Some(&true) {
            let what = format!("%{} is given twice; give each size once", v.verb);
            return Err(self.err(v.at, &what));
        }
        if self.seen.get(slot) == Some(&true) {
            let what = format!(
                "%{} comes after %{field}, which it sizes; move it before %{field}",
                v.verb
            );
            return Err(self.err(v.at, &what));
        }
        if let Some(s) = self.sized.get_mut(slot) {
            *s = true;
        }
        self.num(v, NumDst::Size(slot))
    }

    fn num(&mut self, v: &Verb<'_>, dst: NumDst) -> Result<()> {
        if v.arg.is_some_and(|a| a.body.is_some()) {
            // kgo: strftime and Go layouts vary in length and do not mix
            // well with delimiters.
            return Err(self.err(
                v.at,
                "%d reads timestamps only as milliseconds in a number format, such as %d or %d{big64}; strftime and go layouts cannot be read",
            ));
        }
        let name = v.arg.map_or("", |a| a.name);
        let how = num_read(name).ok_or_else(|| {
            let what = format!(
                "%{}{{{name}}} is not a number format; use one of {NAMES}, or a constant such as {{3}}",
                v.verb
            );
            self.err(v.at, &what)
        })?;
        if let NumRead::Fixed(n) = how {
            if i128::from(n) > dst.range().1 {
                let what = format!("the constant {n} is too large for %{}", v.verb);
                return Err(self.err(v.at, &what));
            }
        }
        self.ops.push(Op::Num {
            verb: v.verb,
            dst,
            how,
        });
        Ok(())
    }

    fn text(&mut self, v: &Verb<'_>, slot: usize, dst: TextDst) -> Result<()> {
        if let Some(s) = self.seen.get_mut(slot) {
            *s = true;
        }
        let (dec, re) = match v.arg {
            None | Some(Arg { name: "", .. }) => (Decode::Plain, None),
            Some(Arg { name: "hex", .. }) => (Decode::Hex, None),
            Some(Arg {
                name: "base64" | "base64raw",
                ..
            }) => (Decode::Base64, None),
            Some(Arg {
                name: "re",
                body: Some(body),
            }) => (Decode::Plain, Some(self.regex(v, body)?)),
            Some(Arg { name, .. }) => {
                let what = format!(
                    "%{}{{{name}}} cannot be read; the reader's text formats are hex, base64 and re[...]",
                    v.verb
                );
                return Err(self.err(v.at, &what));
            }
        };
        let sized = self.sized.get(slot) == Some(&true);
        let how = match (sized, re) {
            (true, Some(_)) => {
                let what = format!(
                    "%{}{{re}} cannot be sized by %{}: the size already says where it ends",
                    v.verb,
                    v.verb.to_ascii_uppercase()
                );
                return Err(self.err(v.at, &what));
            }
            (true, None) => TextRead::Sized(slot),
            (false, Some(re)) => TextRead::Regex(re),
            (false, None) => TextRead::Rest,
        };
        self.ops.push(Op::Text {
            verb: v.verb,
            at: v.at,
            dst,
            dec,
            how,
        });
        Ok(())
    }

    fn regex(&self, v: &Verb<'_>, body: &str) -> Result<Regex> {
        // Anchor the whole expression: kgo prefixes "^", which anchors
        // only the first branch of an alternation.
        Regex::new(&format!("^(?:{body})")).map_err(|e| {
            let what = format!("%{}{{re}} has an invalid regular expression: {e}", v.verb);
            self.err(v.at, &what)
        })
    }

    fn headers(&mut self, items: &[Item<'_>], at: usize) -> Result<()> {
        if self.in_headers {
            return Err(self.err(at, "a header layout cannot contain another %h"));
        }
        if self.sized[HEADERS] {
            self.seen[HEADERS] = true;
        } else {
            return Err(self.err(
                at,
                "%h needs the header count first: put %H (or a constant such as %H{2}) before it",
            ));
        }
        let inner = compile(self.layout, items, true)?;
        self.ops.push(Op::Headers(inner.into_boxed_slice()));
        Ok(())
    }

    fn finish(self) -> Result<Vec<Op>> {
        let (layout, in_headers) = (self.layout, self.in_headers);
        let err = |at: usize, what: &str| layout::error(layout, at, what);
        // Constants read nothing, so they go first, as kgo sorts them: a
        // constant size then applies wherever it was written.
        let (mut ops, reads): (Vec<Op>, Vec<Op>) = self.ops.into_iter().partition(|op| !op.reads());
        if reads.is_empty() {
            let what = if in_headers {
                "the header layout reads no input; give it %k and %v"
            } else {
                "the layout reads no input; give it a literal or a verb that reads"
            };
            return Err(err(0, what));
        }
        let last = reads.len() - 1;
        for (i, op) in reads.iter().enumerate() {
            let Op::Text {
                how: TextRead::Rest,
                verb,
                at,
                ..
            } = op
            else {
                continue;
            };
            let size = verb.to_ascii_uppercase();
            if in_headers {
                let what = format!(
                    "inside %h{{...}}, %{verb} must be sized by %{size} before it or be followed by a literal delimiter"
                );
                return Err(err(*at, &what));
            }
            if i != last {
                let what = format!(
                    "%{verb} has neither a size (%{size} before it) nor a literal delimiter after it, so it would read to the end of the input and nothing could follow"
                );
                return Err(err(*at, &what));
            }
        }
        ops.extend(reads);
        Ok(ops)
    }
}

/// The read form of a number modifier; digits are a constant.
fn num_read(name: &str) -> Option<NumRead> {
    if !name.is_empty() && name.bytes().all(|b| b.is_ascii_digit()) {
        return name.parse().ok().map(NumRead::Fixed);
    }
    Some(match NumFmt::parse(name)? {
        NumFmt::Ascii => NumRead::Ascii,
        NumFmt::Hex => NumRead::Hex,
        NumFmt::HexFixed(w) => NumRead::HexFixed(w),
        NumFmt::Big(w) => NumRead::Big(w),
        NumFmt::Little(w) => NumRead::Little(w),
        NumFmt::Bool => NumRead::Bool,
    })
}
