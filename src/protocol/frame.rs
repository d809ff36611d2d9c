//! Size-prefixed framing and the request/response headers.
//!
//! A request is `size:i32 | api_key:i16 | api_version:i16 | correlation_id:i32
//! | client_id:nullable string | [tagged fields, header v2] | body`. A response
//! is `size:i32 | correlation_id:i32 | [tagged fields, header v1] | body`.
//! Header versions come from the schema's flexible versions, except that
//! ApiVersions responses always use header v0 (KIP-511).

use crate::messages::ApiKey;
use bytes::Bytes;

use crate::error::{Error, Result};

/// The request header version for `key` at `version` (1 for keys the schemas
/// do not know, the non-flexible header).
pub(crate) fn request_header_version(key: i16, version: i16) -> i16 {
    ApiKey::try_from(key)
        .map(|k| k.request_header_version(version))
        .unwrap_or(1)
}

/// The response header version for `key` at `version`.
pub(crate) fn response_header_version(key: i16, version: i16) -> i16 {
    if key == ApiKey::ApiVersions as i16 {
        return 0;
    }
    ApiKey::try_from(key)
        .map(|k| k.response_header_version(version))
        .unwrap_or(0)
}

/// Appends a request frame: size prefix, header, then whatever `body` writes.
/// `body` returns how many bytes of the frame it hands over outside `buf`
/// (spliced byte runs, written from their own buffers); the size prefix
/// counts them. Returns the frame's length including the size prefix.
///
/// # Errors
///
/// The body encoder's error, or [`Error::Protocol`] when the frame is larger
/// than `max_bytes`.
pub(crate) fn write_request(
    buf: &mut Vec<u8>,
    key: i16,
    version: i16,
    correlation_id: i32,
    client_id: Option<&str>,
    max_bytes: usize,
    body: impl FnOnce(&mut Vec<u8>) -> Result<usize>,
) -> Result<usize> {
    let start = buf.len();
    buf.extend_from_slice(&[0; 4]);
    buf.extend_from_slice(&key.to_be_bytes());
    buf.extend_from_slice(&version.to_be_bytes());
    buf.extend_from_slice(&correlation_id.to_be_bytes());
    match client_id {
        None => buf.extend_from_slice(&(-1i16).to_be_bytes()),
        Some(id) => {
            // Config validation bounds the id to i16::MAX bytes.
            let len = i16::try_from(id.len()).unwrap_or(i16::MAX);
            buf.extend_from_slice(&len.to_be_bytes());
            buf.extend_from_slice(&id.as_bytes()[..len as usize]);
        }
    }
    if request_header_version(key, version) >= 2 {
        buf.push(0); // no tagged fields
    }
    let res = body(buf);
    let extra = match res {
        Ok(n) => n,
        Err(e) => {
            buf.truncate(start);
            return Err(e);
        }
    };
    let len = buf.len() - start + extra;
    if len - 4 > max_bytes || len - 4 > i32::MAX as usize {
        buf.truncate(start);
        return Err(Error::protocol(format!(
            "request key {key} is {} bytes, over broker_max_write_bytes {max_bytes}",
            len - 4
        )));
    }
    let size = (len - 4) as i32;
    buf[start..start + 4].copy_from_slice(&size.to_be_bytes());
    Ok(len)
}

/// Reads the size prefix of a frame, validating it against `max_bytes`.
///
/// # Errors
///
/// [`Error::Protocol`] for a negative size, one too small to hold a
/// correlation id, or one over `max_bytes`.
pub(crate) fn frame_size(prefix: [u8; 4], max_bytes: i32, raw: bool) -> Result<usize> {
    let size = i32::from_be_bytes(prefix);
    let min = if raw { 0 } else { 4 };
    if size < min {
        return Err(Error::protocol(format!(
            "response size prefix {size} is invalid"
        )));
    }
    if size > max_bytes {
        return Err(Error::protocol(format!(
            "response of {size} bytes is over broker_max_read_bytes {max_bytes}; raise it if the broker is right"
        )));
    }
    Ok(size as usize)
}

/// Splits a response frame (without its size prefix) into the correlation id
/// and the body, skipping header v1's tagged fields by their lengths.
///
/// # Errors
///
/// [`Error::Protocol`] when the header is truncated.
pub(crate) fn parse_response(mut frame: Bytes, header_version: i16) -> Result<(i32, Bytes)> {
    if frame.len() < 4 {
        return Err(Error::protocol(
            "response frame shorter than its correlation id",
        ));
    }
    let corr = i32::from_be_bytes([frame[0], frame[1], frame[2], frame[3]]);
    let mut pos = 4;
    if header_version >= 1 {
        let (n, used) = read_uvarint(&frame[pos..])?;
        pos += used;
        for _ in 0..n {
            let (_tag, used) = read_uvarint(&frame[pos..])?;
            pos += used;
            let (size, used) = read_uvarint(&frame[pos..])?;
            pos += used;
            let size = size as usize;
            if frame.len() - pos < size {
                return Err(Error::protocol(
                    "response header tagged field runs past the frame",
                ));
            }
            pos += size;
        }
    }
    let body = frame.split_off(pos);
    Ok((corr, body))
}

/// The correlation id of a frame, if it has one.
pub(crate) fn peek_correlation(frame: &[u8]) -> Option<i32> {
    frame
        .get(..4)
        .map(|b| i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

/// An unsigned varint: value and bytes used.
pub(crate) fn read_uvarint(b: &[u8]) -> Result<(u32, usize)> {
    let mut v: u32 = 0;
    for (i, byte) in b.iter().enumerate().take(5) {
        v |= u32::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Ok((v, i + 1));
        }
    }
    Err(Error::protocol(
        "truncated or overlong varint in response header",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_frame_layout() {
        let mut buf = vec![9, 9];
        let n = write_request(&mut buf, 3, 1, 42, Some("ab"), 1 << 20, |b| {
            b.extend_from_slice(&[7, 7]);
            Ok(0)
        })
        .unwrap();
        assert_eq!(n, buf.len() - 2);
        assert_eq!(
            &buf[2..],
            &[0, 0, 0, 14, 0, 3, 0, 1, 0, 0, 0, 42, 0, 2, b'a', b'b', 7, 7]
        );
        // Metadata v9+ is flexible: header v2 adds an empty tagged-field byte.
        let mut buf = Vec::new();
        write_request(&mut buf, 3, 12, 1, None, 1 << 20, |_| Ok(0)).unwrap();
        assert_eq!(buf, [0, 0, 0, 11, 0, 3, 0, 12, 0, 0, 0, 1, 0xff, 0xff, 0]);
        // Spliced bytes count in the size prefix but are not in the buffer.
        let mut spliced = Vec::new();
        let n = write_request(&mut spliced, 3, 1, 1, None, 1 << 20, |_| Ok(100)).unwrap();
        assert_eq!((n, spliced.len()), (114, 14));
        assert_eq!(&spliced[..4], &110i32.to_be_bytes());
    }

    #[test]
    fn oversized_request_is_refused_and_buffer_restored() {
        let mut buf = vec![1];
        let e = write_request(&mut buf, 0, 3, 1, None, 10, |b| {
            b.extend_from_slice(&[0; 64]);
            Ok(0)
        })
        .unwrap_err();
        assert!(e.to_string().contains("broker_max_write_bytes"), "{e}");
        assert_eq!(buf, [1]);
    }

    #[test]
    fn frame_sizes() {
        assert_eq!(frame_size(10i32.to_be_bytes(), 100, false).unwrap(), 10);
        assert!(frame_size((-1i32).to_be_bytes(), 100, false).is_err());
        assert!(frame_size(2i32.to_be_bytes(), 100, false).is_err());
        assert!(frame_size(101i32.to_be_bytes(), 100, false).is_err());
        assert_eq!(frame_size(0i32.to_be_bytes(), 100, true).unwrap(), 0);
    }

    #[test]
    fn response_headers() {
        let f = Bytes::from_static(&[0, 0, 0, 5, 1, 2]);
        assert_eq!(
            parse_response(f, 0).unwrap(),
            (5, Bytes::from_static(&[1, 2]))
        );
        // v1: one tagged field (tag 3, 2 bytes) is skipped by its length.
        let f = Bytes::from_static(&[0, 0, 0, 5, 1, 3, 2, 0xaa, 0xbb, 9]);
        assert_eq!(parse_response(f, 1).unwrap(), (5, Bytes::from_static(&[9])));
        for bad in [
            &[0u8, 0, 0][..],
            &[0, 0, 0, 5, 1, 3, 9, 0],
            &[0, 0, 0, 5, 0x80],
        ] {
            assert!(
                parse_response(Bytes::copy_from_slice(bad), 1).is_err(),
                "{bad:?}"
            );
        }
        assert_eq!(
            response_header_version(18, 3),
            0,
            "ApiVersions always uses header v0"
        );
        assert_eq!(response_header_version(3, 12), 1);
    }
}
