//! The layout language that the formatter and the reader share: slash
//! escapes, percent verbs, brace modifiers and the nested header layout.
//!
//! Parsing turns a layout into a tree of [`Item`]s once; each side then
//! compiles the items into its own operations and rejects the verbs and
//! modifiers it does not understand, so both report positions the same way.

use crate::error::{Error, Result};

/// One piece of a parsed layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Item<'a> {
    /// Raw bytes: plain text, slash escapes, `%%`, `%{` and `%}`.
    Literal(Vec<u8>),
    /// A percent verb with its optional brace modifier.
    Verb(Verb<'a>),
    /// `%h{...}`: the nested layout used once per header.
    Headers {
        /// The nested layout's items.
        items: Vec<Item<'a>>,
        /// Byte offset of the `%` in the layout.
        at: usize,
    },
}

/// A percent verb such as `%v` or `%d{strftime[%F]}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Verb<'a> {
    /// The verb character (`t`, `K`, `[`, ...).
    pub(crate) verb: char,
    /// The brace modifier, if braces followed the verb.
    pub(crate) arg: Option<Arg<'a>>,
    /// Byte offset of the `%` in the layout.
    pub(crate) at: usize,
}

/// The text inside a verb's braces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Arg<'a> {
    /// Everything up to the closing brace (`hex64`, `compression;big16`), or
    /// the keyword of a delimited modifier (`strftime`, `go`, `unpack`, `re`).
    pub(crate) name: &'a str,
    /// For delimited modifiers, the text between the delimiters.
    pub(crate) body: Option<&'a str>,
}

/// Modifiers whose body sits between repeated delimiters, by verb: their
/// bodies may contain braces, so they cannot end at the first `}`.
fn delimited_keywords(verb: char) -> &'static [&'static str] {
    match verb {
        'd' => &["strftime", "go"],
        't' | 'k' | 'v' => &["unpack", "re"],
        _ => &[],
    }
}

/// Parses a whole layout.
pub(crate) fn parse(layout: &str) -> Result<Vec<Item<'_>>> {
    let mut p = Parser {
        src: layout,
        pos: 0,
    };
    p.items(None)
}

/// Builds the error for a bad layout, naming where the problem starts.
pub(crate) fn error(layout: &str, at: usize, what: &str) -> Error {
    Error::config(format!("record layout {layout:?}, at byte {at}: {what}"))
}

struct Parser<'a> {
    src: &'a str,
    pos: usize,
}

impl<'a> Parser<'a> {
    fn err(&self, at: usize, what: &str) -> Error {
        error(self.src, at, what)
    }

    fn peek(&self) -> Option<u8> {
        self.src.as_bytes().get(self.pos).copied()
    }

    /// Parses items until the end of the layout, or, inside `%h{`, until
    /// the brace that closes it (`open` is where that header layout began).
    fn items(&mut self, open: Option<usize>) -> Result<Vec<Item<'a>>> {
        let mut items = Vec::new();
        let mut lit = Vec::new();
        // Bare braces inside a header layout nest, as in kgo, so that
        // "%h{{%k}}" prints each key inside braces.
        let mut depth = 0usize;
        while let Some(c) = self.peek() {
            match c {
                b'\\' => {
                    self.pos += 1;
                    lit.push(self.slash()?);
                }
                b'%' => {
                    self.pos += 1;
                    if let Some(b) = self.escaped_percent() {
                        lit.push(b);
                        continue;
                    }
                    if !lit.is_empty() {
                        items.push(Item::Literal(std::mem::take(&mut lit)));
                    }
                    items.push(self.verb()?);
                }
                b'{' if open.is_some() => {
                    depth += 1;
                    lit.push(c);
                    self.pos += 1;
                }
                b'}' if open.is_some() => {
                    self.pos += 1;
                    if depth == 0 {
                        if !lit.is_empty() {
                            items.push(Item::Literal(lit));
                        }
                        return Ok(items);
                    }
                    depth -= 1;
                    lit.push(c);
                }
                _ => {
                    lit.push(c);
                    self.pos += 1;
                }
            }
        }
        if let Some(at) = open {
            return Err(self.err(
                at,
                "the header layout %h{ has no closing }; close it, and write %} for a literal }",
            ));
        }
        if !lit.is_empty() {
            items.push(Item::Literal(lit));
        }
        Ok(items)
    }

    /// Parses a slash escape; `pos` is just past the slash.
    fn slash(&mut self) -> Result<u8> {
        let at = self.pos - 1;
        let b = self.peek().ok_or_else(|| {
            self.err(
                at,
                "the layout ends in a lone \\; write \\\\ for a literal backslash",
            )
        })?;
        self.pos += 1;
        match b {
            b't' => Ok(b'\t'),
            b'n' => Ok(b'\n'),
            b'r' => Ok(b'\r'),
            b'\\' => Ok(b'\\'),
            b'x' => {
                let hex = self.src.get(self.pos..self.pos + 2).unwrap_or("");
                let n = u8::from_str_radix(hex, 16)
                    .ok()
                    .filter(|_| hex.bytes().all(|b| b.is_ascii_hexdigit()))
                    .ok_or_else(|| {
                        self.err(at, "\\x needs two hex digits, as in \\x0a or \\xff")
                    })?;
                self.pos += 2;
                Ok(n)
            }
            _ => Err(self.err(
                at,
                "unknown slash escape; the escapes are \\t \\n \\r \\\\ and \\xNN",
            )),
        }
    }

    /// Handles `%%`, `%{` and `%}`; `pos` is just past the percent sign.
    fn escaped_percent(&mut self) -> Option<u8> {
        match self.peek() {
            Some(b @ (b'%' | b'{' | b'}')) => {
                self.pos += 1;
                Some(b)
            }
            _ => None,
        }
    }

    /// Parses a verb and its modifier; `pos` is just past the percent sign.
    fn verb(&mut self) -> Result<Item<'a>> {
        let at = self.pos - 1;
        let verb = self.src[self.pos..].chars().next().ok_or_else(|| {
            self.err(
                at,
                "the layout ends in a lone %; write %% for a literal percent sign",
            )
        })?;
        self.pos += verb.len_utf8();
        let braced = self.peek() == Some(b'{');
        if verb == 'h' {
            if !braced {
                return Err(self.err(
                    at,
                    "%h needs the layout of one header in braces, as in %h{%k=%v;}",
                ));
            }
            self.pos += 1;
            let items = self.items(Some(at))?;
            return Ok(Item::Headers { items, at });
        }
        let arg = if braced {
            self.pos += 1;
            Some(self.arg(verb, at)?)
        } else {
            None
        };
        Ok(Item::Verb(Verb { verb, arg, at }))
    }

    /// Parses a brace modifier; `pos` is just past the opening brace.
    fn arg(&mut self, verb: char, at: usize) -> Result<Arg<'a>> {
        let rest = &self.src[self.pos..];
        for &kw in delimited_keywords(verb) {
            if let Some(after) = rest.strip_prefix(kw) {
                // "go" is also a prefix of no number format, so a keyword
                // followed by the closing brace is a missing body.
                if after.starts_with('}') {
                    let what = format!(
                        "%{verb}{{{kw}}} needs its format between delimiters, as in %{verb}{{{kw}[...]}}"
                    );
                    return Err(self.err(at, &what));
                }
                self.pos += kw.len();
                let body = self.delimited(verb, kw, at)?;
                return Ok(Arg {
                    name: kw,
                    body: Some(body),
                });
            }
        }
        let end = rest.find('}').ok_or_else(|| {
            let what = format!("the modifier of %{verb} has no closing }}; add one");
            self.err(at, &what)
        })?;
        self.pos += end + 1;
        Ok(Arg {
            name: &rest[..end],
            body: None,
        })
    }

    /// Parses `#...#`, `[[...]]`, `{...}` and the like, then the closing
    /// brace of the modifier (kgo's nomOpenClose): the opening delimiter may
    /// repeat, and the body ends at the first run of as many closers.
    fn delimited(&mut self, verb: char, kw: &str, at: usize) -> Result<&'a str> {
        let rest = &self.src[self.pos..];
        let open = rest.as_bytes().first().copied().unwrap_or(b'}');
        if !open.is_ascii_punctuation() || open == b'}' {
            let what = format!(
                "%{verb}{{{kw} must be followed by a delimiter such as # [ {{ (, as in %{verb}{{{kw}#...#}}"
            );
            return Err(self.err(at, &what));
        }
        let count = rest.bytes().take_while(|&b| b == open).count();
        let close = match open {
            b'{' => b'}',
            b'[' => b']',
            b'(' => b')',
            other => other,
        };
        let closer = std::iter::repeat_n(close as char, count).collect::<String>();
        let inner = &rest[count..];
        let end = inner.find(&closer).ok_or_else(|| {
            let what = format!("%{verb}{{{kw} is missing its closing {closer:?}");
            self.err(at, &what)
        })?;
        let body = &inner[..end];
        self.pos += count + end + closer.len();
        if self.peek() != Some(b'}') {
            let what = format!("%{verb}{{{kw}...}} is missing the }} after {closer:?}");
            return Err(self.err(at, &what));
        }
        self.pos += 1;
        Ok(body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lit(s: &[u8]) -> Item<'static> {
        Item::Literal(s.to_vec())
    }

    fn verb(verb: char, at: usize) -> Item<'static> {
        Item::Verb(Verb {
            verb,
            arg: None,
            at,
        })
    }

    fn with_arg(
        verb: char,
        at: usize,
        name: &'static str,
        body: Option<&'static str>,
    ) -> Item<'static> {
        Item::Verb(Verb {
            verb,
            arg: Some(Arg { name, body }),
            at,
        })
    }

    #[test]
    fn parses() {
        let table: Vec<(&str, Vec<Item<'static>>)> = vec![
            ("", vec![]),
            ("abc", vec![lit(b"abc")]),
            (r"\t\r\n\\\x00\xff", vec![lit(b"\t\r\n\\\x00\xff")]),
            ("%%%{%}", vec![lit(b"%{}")]),
            ("a%vb", vec![lit(b"a"), verb('v', 1), lit(b"b")]),
            ("%V{ascii}", vec![with_arg('V', 0, "ascii", None)]),
            ("%v{}", vec![with_arg('v', 0, "", None)]),
            (
                "%d{strftime[%F]}",
                vec![with_arg('d', 0, "strftime", Some("%F"))],
            ),
            (
                "%d{go##2006-01-02T15:04:05Z07:00##}",
                vec![with_arg('d', 0, "go", Some("2006-01-02T15:04:05Z07:00"))],
            ),
            (
                "%k{unpack{<bBhH>iIqQc.$}}",
                vec![with_arg('k', 0, "unpack", Some("<bBhH>iIqQc.$"))],
            ),
            (
                "%v{unpack{{{cq}}}}",
                vec![with_arg('v', 0, "unpack", Some("cq"))],
            ),
            (
                "%v{re[\\d+]}x",
                vec![with_arg('v', 0, "re", Some("\\d+")), lit(b"x")],
            ),
            (
                "%a{compression;hex8}",
                vec![with_arg('a', 0, "compression;hex8", None)],
            ),
            ("h\u{e9}%t", vec![lit("h\u{e9}".as_bytes()), verb('t', 3)]),
            (
                "%H %h{%k %v }",
                vec![
                    verb('H', 0),
                    lit(b" "),
                    Item::Headers {
                        items: vec![verb('k', 6), lit(b" "), verb('v', 9), lit(b" ")],
                        at: 3,
                    },
                ],
            ),
            (
                "%h{{%K{ascii}%%}%}}!",
                vec![
                    Item::Headers {
                        items: vec![lit(b"{"), with_arg('K', 4, "ascii", None), lit(b"%}}")],
                        at: 0,
                    },
                    lit(b"!"),
                ],
            ),
        ];
        for (layout, want) in table {
            assert_eq!(parse(layout).ok(), Some(want), "{layout:?}");
        }
    }

    #[test]
    fn rejects() {
        let table = [
            ("%", 0, "lone %"),
            ("ab%", 2, "lone %"),
            ("\\", 0, "lone \\"),
            ("\\q", 0, "unknown slash escape"),
            ("\\x1", 0, "two hex digits"),
            ("\\xzz", 0, "two hex digits"),
            ("\\x+1", 0, "two hex digits"),
            ("%h", 0, "%h needs"),
            ("x%h{%k", 1, "no closing }"),
            ("%h{{%k}", 0, "no closing }"),
            ("%v{hex", 0, "no closing }"),
            ("%d{go}", 0, "between delimiters"),
            ("%d{strftime[%F}", 0, "missing its closing"),
            ("%d{strftime[%F]", 0, "missing the }"),
            ("%d{strftimeX%FX}", 0, "delimiter"),
            ("%v{unpack}", 0, "between delimiters"),
        ];
        for (layout, at, what) in table {
            let msg = match parse(layout) {
                Err(Error::Config(m)) => m.to_string(),
                other => panic!("{layout:?}: {other:?}"),
            };
            assert!(msg.contains(&format!("at byte {at}:")), "{layout:?}: {msg}");
            assert!(msg.contains(what), "{layout:?}: {msg}");
        }
    }
}
