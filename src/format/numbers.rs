//! Number modifiers (`{ascii}`, `{hex32}`, `{big16}`, `{byte}`, ...): their
//! names, how the formatter writes them, and how the reader decodes the
//! fixed-width binary and hex forms.

/// How a number is printed or read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NumFmt {
    /// Decimal digits (the default).
    Ascii,
    /// Exactly this many lowercase hex digits, truncating the number.
    HexFixed(u8),
    /// As many hex digits as the number needs.
    Hex,
    /// Big endian, this many bytes.
    Big(u8),
    /// Little endian, this many bytes.
    Little(u8),
    /// `true` for a non-zero number, `false` for zero.
    Bool,
}

impl NumFmt {
    /// Looks a modifier name up; the empty name is the default.
    pub(crate) fn parse(name: &str) -> Option<NumFmt> {
        Some(match name {
            "" | "ascii" => NumFmt::Ascii,
            "hex64" => NumFmt::HexFixed(16),
            "hex32" => NumFmt::HexFixed(8),
            "hex16" => NumFmt::HexFixed(4),
            "hex8" => NumFmt::HexFixed(2),
            "hex4" => NumFmt::HexFixed(1),
            "hex" => NumFmt::Hex,
            "big64" => NumFmt::Big(8),
            "big32" => NumFmt::Big(4),
            "big16" => NumFmt::Big(2),
            "little64" => NumFmt::Little(8),
            "little32" => NumFmt::Little(4),
            "little16" => NumFmt::Little(2),
            "byte" | "big8" | "little8" => NumFmt::Big(1),
            "bool" => NumFmt::Bool,
            _ => return None,
        })
    }

    /// Appends `n` in this format; every format but ascii truncates.
    pub(crate) fn write(self, out: &mut Vec<u8>, n: i64) {
        let u = n as u64;
        match self {
            NumFmt::Ascii => write_i64(out, n),
            NumFmt::HexFixed(digits) => {
                for i in (0..u32::from(digits)).rev() {
                    out.push(HEX[((u >> (4 * i)) & 0xf) as usize]);
                }
            }
            NumFmt::Hex => write_hex(out, u),
            NumFmt::Big(width) => {
                let bytes = u.to_be_bytes();
                out.extend_from_slice(&bytes[8 - usize::from(width)..]);
            }
            NumFmt::Little(width) => {
                out.extend_from_slice(&u.to_le_bytes()[..usize::from(width)]);
            }
            NumFmt::Bool => out.extend_from_slice(if n != 0 { b"true" } else { b"false" }),
        }
    }
}

/// Lowercase hex digits.
pub(crate) const HEX: &[u8; 16] = b"0123456789abcdef";

/// The modifier names, for error messages.
pub(crate) const NAMES: &str =
    "ascii, hex64, hex32, hex16, hex8, hex4, hex, big64, big32, big16, big8, little64, little32, little16, little8, byte, bool";

/// Appends `n` in decimal without allocating.
pub(crate) fn write_i64(out: &mut Vec<u8>, n: i64) {
    if n < 0 {
        out.push(b'-');
    }
    write_u64(out, n.unsigned_abs());
}

/// Appends `n` in decimal without allocating.
pub(crate) fn write_u64(out: &mut Vec<u8>, mut n: u64) {
    let mut buf = [0u8; 20];
    let mut at = buf.len();
    loop {
        at -= 1;
        buf[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[at..]);
}

/// Appends `n` in decimal, left-padded with `pad` to at least `width`
/// digits (the sign not counted, as in Go's time formatting).
pub(crate) fn write_padded(out: &mut Vec<u8>, n: i64, width: usize, pad: u8) {
    let digits = decimal_len(n.unsigned_abs());
    // Zero padding goes after the sign, space padding before it.
    if n < 0 && pad == b'0' {
        out.push(b'-');
    }
    for _ in digits..width {
        out.push(pad);
    }
    if n < 0 && pad == b'0' {
        write_u64(out, n.unsigned_abs());
    } else {
        write_i64(out, n);
    }
}

fn decimal_len(mut n: u64) -> usize {
    let mut len = 1;
    while n >= 10 {
        n /= 10;
        len += 1;
    }
    len
}

fn write_hex(out: &mut Vec<u8>, u: u64) {
    let digits = ((64 - u.leading_zeros()).div_ceil(4)).max(1);
    for i in (0..digits).rev() {
        out.push(HEX[((u >> (4 * i)) & 0xf) as usize]);
    }
}

/// Decodes a big endian unsigned number of up to 8 bytes.
pub(crate) fn from_big(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0u64, |n, &b| (n << 8) | u64::from(b))
}

/// Decodes a little endian unsigned number of up to 8 bytes.
pub(crate) fn from_little(bytes: &[u8]) -> u64 {
    bytes
        .iter()
        .rev()
        .fold(0u64, |n, &b| (n << 8) | u64::from(b))
}

/// The value of one hex digit, either case.
pub(crate) fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Parses up to 16 hex digits; `None` on anything else.
pub(crate) fn parse_hex(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() || digits.len() > 16 {
        return None;
    }
    digits
        .iter()
        .try_fold(0u64, |n, &b| Some((n << 4) | u64::from(hex_value(b)?)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes() {
        let table: &[(&str, i64, &[u8])] = &[
            ("ascii", 26, b"26"),
            ("", -1, b"-1"),
            ("ascii", i64::MIN, b"-9223372036854775808"),
            ("ascii", i64::MAX, b"9223372036854775807"),
            ("hex64", 26, b"000000000000001a"),
            ("hex32", 26, b"0000001a"),
            ("hex16", 26, b"001a"),
            ("hex8", 26, b"1a"),
            ("hex4", 26, b"a"),
            ("hex", 26, b"1a"),
            ("hex", 0, b"0"),
            ("hex", -1, b"ffffffffffffffff"),
            ("hex8", -1, b"ff"),
            ("big64", 3, b"\0\0\0\0\0\0\0\x03"),
            ("big32", 3, b"\0\0\0\x03"),
            ("big16", 3, b"\0\x03"),
            ("big8", 3, b"\x03"),
            ("little64", 3, b"\x03\0\0\0\0\0\0\0"),
            ("little32", 3, b"\x03\0\0\0"),
            ("little16", 0x0102, b"\x02\x01"),
            ("little8", 3, b"\x03"),
            ("byte", 0x1ff, b"\xff"),
            ("big16", -2, b"\xff\xfe"),
            ("bool", 0, b"false"),
            ("bool", -5, b"true"),
        ];
        for &(name, n, want) in table {
            let mut out = Vec::new();
            if let Some(f) = NumFmt::parse(name) {
                f.write(&mut out, n);
            }
            assert_eq!(out, want, "{name} {n}");
        }
        assert_eq!(NumFmt::parse("hex128"), None);
        assert_eq!(NumFmt::parse("ASCII"), None);
    }

    #[test]
    fn padding_and_decoding() {
        let mut out = Vec::new();
        write_padded(&mut out, 7, 3, b'0');
        write_padded(&mut out, 7, 2, b' ');
        write_padded(&mut out, -7, 4, b'0');
        write_padded(&mut out, 12345, 2, b'0');
        assert_eq!(out, b"007 7-000712345");
        assert_eq!(from_big(&[1, 2]), 0x0102);
        assert_eq!(from_little(&[1, 2]), 0x0201);
        assert_eq!(from_big(&[0xff; 8]), u64::MAX);
        assert_eq!(parse_hex(b"0aF"), Some(0xaf));
        assert_eq!(parse_hex(b""), None);
        assert_eq!(parse_hex(b"g"), None);
        assert_eq!(parse_hex(b"11112222333344445"), None);
    }
}
