//! The text encodings `{hex}`, `{base64}` and `{base64raw}`: encoding
//! straight into the output buffer, and decoding what the reader read.

use super::numbers::{hex_value, HEX};

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Appends `src` as lowercase hex.
pub(crate) fn hex_encode(out: &mut Vec<u8>, src: &[u8]) {
    out.reserve(src.len() * 2);
    for &b in src {
        out.push(HEX[usize::from(b >> 4)]);
        out.push(HEX[usize::from(b & 0xf)]);
    }
}

/// Decodes hex of either case; the message says what is wrong.
pub(crate) fn hex_decode(src: &[u8]) -> Result<Vec<u8>, String> {
    if src.len() % 2 != 0 {
        return Err(format!(
            "hex text has an odd length ({}); hex needs two digits per byte",
            src.len()
        ));
    }
    src.chunks_exact(2)
        .enumerate()
        .map(|(i, pair)| match (hex_value(pair[0]), hex_value(pair[1])) {
            (Some(hi), Some(lo)) => Ok((hi << 4) | lo),
            _ => Err(format!(
                "{:?} at offset {} of the hex text is not a hex digit pair",
                String::from_utf8_lossy(pair),
                2 * i
            )),
        })
        .collect()
}

/// Appends `src` in standard base64, with `=` padding when `pad` is set.
pub(crate) fn base64_encode(out: &mut Vec<u8>, src: &[u8], pad: bool) {
    out.reserve(src.len().div_ceil(3) * 4);
    let mut chunks = src.chunks_exact(3);
    for c in chunks.by_ref() {
        let n = (u32::from(c[0]) << 16) | (u32::from(c[1]) << 8) | u32::from(c[2]);
        for shift in [18, 12, 6, 0] {
            out.push(B64[((n >> shift) & 0x3f) as usize]);
        }
    }
    let rem = chunks.remainder();
    if rem.is_empty() {
        return;
    }
    let n = rem
        .iter()
        .enumerate()
        .fold(0u32, |n, (i, &b)| n | (u32::from(b) << (16 - 8 * i)));
    let chars = rem.len() + 1;
    for shift in [18, 12, 6, 0].into_iter().take(chars) {
        out.push(B64[((n >> shift) & 0x3f) as usize]);
    }
    if pad {
        out.resize(out.len() + 4 - chars, b'=');
    }
}

fn b64_value(b: u8) -> Option<u32> {
    Some(u32::from(match b {
        b'A'..=b'Z' => b - b'A',
        b'a'..=b'z' => b - b'a' + 26,
        b'0'..=b'9' => b - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => return None,
    }))
}

/// Decodes standard base64, padded or not; the message says what is wrong.
pub(crate) fn base64_decode(src: &[u8]) -> Result<Vec<u8>, String> {
    let padded = src.strip_suffix(b"==").or_else(|| src.strip_suffix(b"="));
    if padded.is_some() && src.len() % 4 != 0 {
        return Err(format!(
            "padded base64 text must be a multiple of 4 long, not {}",
            src.len()
        ));
    }
    let body = padded.unwrap_or(src);
    if body.len() % 4 == 1 {
        return Err(format!(
            "base64 text of length {} cannot be complete; it is cut short",
            src.len()
        ));
    }
    let mut out = Vec::with_capacity(body.len() / 4 * 3 + 2);
    for (ci, chunk) in body.chunks(4).enumerate() {
        let mut n = 0u32;
        for (i, &b) in chunk.iter().enumerate() {
            let v = b64_value(b).ok_or_else(|| {
                format!(
                    "{:?} at offset {} is not a base64 character",
                    b as char,
                    4 * ci + i
                )
            })?;
            n |= v << (18 - 6 * i);
        }
        let bytes = n.to_be_bytes();
        out.extend_from_slice(&bytes[1..chunk.len()]);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex() {
        let mut out = Vec::new();
        hex_encode(&mut out, b"key\x00\xff");
        assert_eq!(out, b"6b657900ff");
        assert_eq!(
            hex_decode(b"6B657900ff").ok(),
            Some(b"key\x00\xff".to_vec())
        );
        assert_eq!(hex_decode(b"").ok(), Some(vec![]));
        assert!(hex_decode(b"abc").is_err_and(|e| e.contains("odd length")));
        assert!(hex_decode(b"zz").is_err_and(|e| e.contains("not a hex digit")));
    }

    #[test]
    fn base64() {
        let table: &[(&[u8], &str, &str)] = &[
            (b"", "", ""),
            (b"f", "Zg==", "Zg"),
            (b"fo", "Zm8=", "Zm8"),
            (b"foo", "Zm9v", "Zm9v"),
            (b"foob", "Zm9vYg==", "Zm9vYg"),
            (b"key", "a2V5", "a2V5"),
            (b"\xff\xfe\xfd\xfc", "//79/A==", "//79/A"),
        ];
        for &(raw, padded, unpadded) in table {
            let mut out = Vec::new();
            base64_encode(&mut out, raw, true);
            assert_eq!(out, padded.as_bytes());
            out.clear();
            base64_encode(&mut out, raw, false);
            assert_eq!(out, unpadded.as_bytes());
            assert_eq!(base64_decode(padded.as_bytes()).ok().as_deref(), Some(raw));
            assert_eq!(
                base64_decode(unpadded.as_bytes()).ok().as_deref(),
                Some(raw)
            );
        }
        assert!(base64_decode(b"Zg=").is_err_and(|e| e.contains("multiple of 4")));
        assert!(base64_decode(b"Zm9vY").is_err_and(|e| e.contains("cut short")));
        assert!(base64_decode(b"Zm9*").is_err_and(|e| e.contains("offset 3")));
    }
}
