//! The `{unpack[...]}` text modifier: a Python-struct-like program that
//! prints the integers and characters packed in a key, value or topic.
//!
//! As in kgo, problems found while unpacking a record (too few bytes, bytes
//! left after `$`) are printed inline as `%!x(...)` markers rather than
//! failing the whole format call.

use super::numbers::{from_big, from_little, write_i64, write_u64};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    /// `c` or `.`: one raw byte.
    Char,
    /// `s`: the rest of the input, raw.
    Rest,
    /// `$`: the input must be used up.
    End,
    /// `b B h H i I q Q`: an integer of `size` bytes.
    Int {
        code: u8,
        size: u8,
        signed: bool,
        little: bool,
    },
}

/// A compiled unpack program.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Unpack {
    steps: Box<[Step]>,
}

impl Unpack {
    /// Compiles an unpack body such as `<bBhH>iIqQc.$`; the message says
    /// what is wrong.
    pub(crate) fn compile(body: &str) -> Result<Unpack, String> {
        let mut steps = Vec::new();
        // kgo reads little endian until told otherwise.
        let mut little = true;
        let mut ended = false;
        for c in body.chars() {
            if ended {
                return Err(format!(
                    "{c:?} follows s or $, which use up the input; end the unpack format there"
                ));
            }
            let (size, signed) = match c {
                // kgo documents x as a pad character that reads no input.
                'x' => continue,
                '<' => {
                    little = true;
                    continue;
                }
                '>' => {
                    little = false;
                    continue;
                }
                'c' | '.' => {
                    steps.push(Step::Char);
                    continue;
                }
                's' | '$' => {
                    ended = true;
                    steps.push(if c == 's' { Step::Rest } else { Step::End });
                    continue;
                }
                'b' => (1, true),
                'B' => (1, false),
                'h' => (2, true),
                'H' => (2, false),
                'i' => (4, true),
                'I' => (4, false),
                'q' => (8, true),
                'Q' => (8, false),
                _ => {
                    return Err(format!(
                        "{c:?} is not an unpack character; use x < > b B h H i I q Q c . s $"
                    ))
                }
            };
            steps.push(Step::Int {
                code: c as u8,
                size,
                signed,
                little,
            });
        }
        Ok(Unpack {
            steps: steps.into_boxed_slice(),
        })
    }

    /// Appends the unpacked form of `src`.
    pub(crate) fn run(&self, out: &mut Vec<u8>, mut src: &[u8]) {
        for step in self.steps.iter() {
            match *step {
                Step::Char => match src.split_first() {
                    Some((&b, rest)) => {
                        out.push(b);
                        src = rest;
                    }
                    None => out.extend_from_slice(b"%!c(no bytes available)"),
                },
                Step::Rest => {
                    out.extend_from_slice(src);
                    src = &[];
                }
                Step::End => {
                    if !src.is_empty() {
                        out.extend_from_slice(b"%!$(not end-of-input)");
                    }
                    src = &[];
                }
                Step::Int {
                    code,
                    size,
                    signed,
                    little,
                } => src = int(out, src, code, usize::from(size), signed, little),
            }
        }
    }
}

/// Appends one integer from the front of `src` and returns what is left;
/// too few bytes print a marker and use up the input, as in kgo.
fn int<'s>(
    out: &mut Vec<u8>,
    src: &'s [u8],
    code: u8,
    size: usize,
    signed: bool,
    little: bool,
) -> &'s [u8] {
    let Some((bytes, rest)) = src.split_at_checked(size) else {
        out.extend_from_slice(b"%!");
        out.push(code);
        out.extend_from_slice(b"(have ");
        write_u64(out, src.len() as u64);
        out.extend_from_slice(b" bytes, need ");
        write_u64(out, size as u64);
        out.push(b')');
        return &[];
    };
    let u = if little {
        from_little(bytes)
    } else {
        from_big(bytes)
    };
    if signed {
        // Sign-extend from the field's width.
        let shift = 64 - 8 * size as u32;
        write_i64(out, ((u << shift) as i64) >> shift);
    } else {
        write_u64(out, u);
    }
    rest
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unpack(body: &str, src: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        match Unpack::compile(body) {
            Ok(u) => u.run(&mut out, src),
            Err(e) => panic!("{body}: {e}"),
        }
        out
    }

    #[test]
    fn kgo_examples() {
        // The cases of kgo's TestRecordFormatterUnpack, bodies without the
        // delimiters the layout adds.
        let table: &[(&str, &[u8], &[u8])] = &[
            ("c", b"foo", b"f"),
            ("cbs", b"foo", b"f111o"),
            ("cBs", b"foo", b"f111o"),
            ("ch", b"f\xff\xff", b"f-1"),
            ("cH", b"f\xff\xff", b"f65535"),
            ("ci", b"f\xff\xff\xff\xff\xff\xff\xff\xff", b"f-1"),
            ("cI", b"f\xff\xff\xff\xff\xff\xff\xff\xff", b"f4294967295"),
            ("cq", b"f\xff\xff\xff\xff\xff\xff\xff\xff", b"f-1"),
            (
                "cQ",
                b"f\xff\xff\xff\xff\xff\xff\xff\xff",
                b"f18446744073709551615",
            ),
            (
                "x<xH.xx>Hxx.xxHxx.xx<xxHxx$",
                b"\x00\x01 \x00\x01 \x00\x01 \x00\x01",
                b"256 1 1 256",
            ),
        ];
        for &(body, src, want) in table {
            assert_eq!(unpack(body, src), want, "{body}");
        }
    }

    #[test]
    fn markers_and_errors() {
        let table: &[(&str, &[u8], &[u8])] = &[
            ("cc", b"a", b"a%!c(no bytes available)"),
            ("c$", b"ab", b"a%!$(not end-of-input)"),
            ("c$", b"a", b"a"),
            (">i", b"\x01\x02", b"%!i(have 2 bytes, need 4)"),
            (
                ">ib",
                b"\x01\x02",
                b"%!i(have 2 bytes, need 4)%!b(have 0 bytes, need 1)",
            ),
            ("<h>h", b"\x01\x00\x00\x01", b"11"),
            ("b", b"\x80", b"-128"),
            ("", b"abc", b""),
        ];
        for &(body, src, want) in table {
            assert_eq!(unpack(body, src), want, "{body}");
        }
        for body in ["sc", "$c", "z", "c c"] {
            assert!(Unpack::compile(body).is_err(), "{body}");
        }
    }
}
