//! A small standard (RFC 4648 §4) base64 encoder and decoder, with padding.
//!
//! SCRAM sends salts, proofs and signatures in base64; the crate does not
//! depend on a base64 crate for these few bytes. The decoder is strict: the
//! input length must be a multiple of four, `=` may appear only as one or two
//! trailing padding characters, every other character must be in the standard
//! alphabet (no whitespace, no URL-safe alphabet), and the unused bits of the
//! last character must be zero (canonical encoding). Invalid input returns
//! `None`; nothing here panics.

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Encodes `input` as standard base64 with `=` padding.
pub(crate) fn encode(input: &[u8]) -> String {
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let b0 = chunk.first().copied().unwrap_or(0);
        let b1 = chunk.get(1).copied().unwrap_or(0);
        let b2 = chunk.get(2).copied().unwrap_or(0);
        let n = (u32::from(b0) << 16) | (u32::from(b1) << 8) | u32::from(b2);
        let sextet = |shift: u32| char::from(ALPHABET[((n >> shift) & 0x3f) as usize]);
        out.push(sextet(18));
        out.push(sextet(12));
        if chunk.len() > 1 {
            out.push(sextet(6));
        } else {
            out.push('=');
        }
        if chunk.len() > 2 {
            out.push(sextet(0));
        } else {
            out.push('=');
        }
    }
    out
}

/// The 6-bit value of one base64 alphabet character.
fn value(c: u8) -> Option<u32> {
    let v = match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => return None,
    };
    Some(u32::from(v))
}

/// Decodes standard, padded base64; `None` when `input` is not canonical
/// base64.
pub(crate) fn decode(input: impl AsRef<[u8]>) -> Option<Vec<u8>> {
    let input = input.as_ref();
    if input.len() % 4 != 0 {
        return None;
    }
    let mut out = Vec::with_capacity(input.len() / 4 * 3);
    let quads = input.chunks_exact(4);
    let last_index = quads.len().checked_sub(1);
    for (i, quad) in quads.enumerate() {
        let &[c0, c1, c2, c3] = quad else {
            return None;
        };
        // Padding: only in the last quad, as "xx==" or "xxx=".
        let pad = match (c2, c3) {
            (b'=', b'=') => 2,
            (_, b'=') => 1,
            (b'=', _) => return None,
            _ => 0,
        };
        if pad > 0 && Some(i) != last_index {
            return None;
        }
        let v0 = value(c0)?;
        let v1 = value(c1)?;
        let v2 = if pad >= 2 { 0 } else { value(c2)? };
        let v3 = if pad >= 1 { 0 } else { value(c3)? };
        let n = (v0 << 18) | (v1 << 12) | (v2 << 6) | v3;
        // The bytes are the top 8/16/24 bits of n; the rest must be zero.
        let [_, b0, b1, b2] = n.to_be_bytes();
        match pad {
            0 => out.extend_from_slice(&[b0, b1, b2]),
            1 => {
                if b2 != 0 {
                    return None;
                }
                out.extend_from_slice(&[b0, b1]);
            }
            _ => {
                if b1 != 0 || b2 != 0 {
                    return None;
                }
                out.push(b0);
            }
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::{decode, encode};

    #[test]
    fn rfc4648_vectors() {
        let cases: &[(&str, &str)] = &[
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ];
        for (plain, coded) in cases {
            assert_eq!(encode(plain.as_bytes()), *coded);
            assert_eq!(decode(coded).as_deref(), Some(plain.as_bytes()));
        }
        // "biws" is base64("n,,"), the gs2 header SCRAM sends.
        assert_eq!(encode(b"n,,"), "biws");
    }

    #[test]
    fn round_trip_all_lengths_and_bytes() {
        let data: Vec<u8> = (0..=255u8).chain((0..=255u8).rev()).collect();
        for len in 0..data.len() {
            for start in [0usize, 1, 7] {
                let slice = &data[start.min(len)..len];
                let coded = encode(slice);
                assert_eq!(coded.len() % 4, 0);
                assert_eq!(
                    decode(&coded).as_deref(),
                    Some(slice),
                    "len {len} start {start}"
                );
            }
        }
    }

    #[test]
    fn invalid_input_is_rejected() {
        let bad: &[&[u8]] = &[
            b"A",
            b"AB",
            b"ABC",
            b"ABCDE",
            b"====",
            b"A===",
            b"AB=C",
            b"Zg==Zg==",
            b"Zg=\x00",
            b"Zm9v\n",
            b" Zm9v",
            b"Zm9-",
            b"Zm9_",
            b"Zm9v====",
            b"Zh==", // non-zero unused bits
            b"Zm9=", // non-zero unused bits
            b"\xff\xff\xff\xff",
            b"Zm.v",
        ];
        for input in bad {
            assert_eq!(decode(input), None, "{:?}", String::from_utf8_lossy(input));
        }
    }

    #[test]
    fn never_panics_on_arbitrary_input() {
        // A small deterministic generator over an alphabet rich in edge cases.
        let chars = b"AZaz09+/=-_ \x00\xff";
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..20_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let len = (state % 13) as usize;
            let input: Vec<u8> = (0..len)
                .map(|i| chars[((state >> (i * 4)) % chars.len() as u64) as usize])
                .collect();
            if let Some(bytes) = decode(&input) {
                assert_eq!(encode(&bytes).as_bytes(), &input[..]);
            }
        }
    }
}
