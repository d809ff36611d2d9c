//! kafka-protocol, the independent oracle of the record batch tests, is built
//! without its `zstd` feature: that feature turns on the zstd crate's default
//! features (the legacy formats and the dictionary builder), which Cargo then
//! compiles into every example and test of this crate, about 20 s more C on
//! a first build. These hooks give kafka-protocol's encoder and decoder zstd
//! from the `zstd` crate and leave every other codec to kafka-protocol.
//!
//! Shared by the crate's unit tests (`#[path]` from `src/`) and the
//! integration tests' `support`.
#![allow(dead_code)]

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::compression::{Compressor, Decompressor, Gzip, Lz4, Snappy};
use kafka_protocol::records::{
    Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions, RecordSet,
};

/// kafka-protocol's `RecordBatchDecoder::decode`, zstd included.
pub fn decode(buf: &mut Bytes) -> Result<RecordSet, String> {
    RecordBatchDecoder::decode_with_custom_compression(
        buf,
        Some(|b: &mut Bytes, c: Compression| {
            let whole = |d: &mut Bytes| Ok(d.split_to(d.len()));
            Ok(match c {
                Compression::None => whole(b)?,
                Compression::Gzip => Gzip::decompress(b, whole)?,
                Compression::Snappy => Snappy::decompress(b, whole)?,
                Compression::Lz4 => Lz4::decompress(b, whole)?,
                Compression::Zstd => Bytes::from(zstd::stream::decode_all(&b[..])?),
            })
        }),
    )
    .map_err(|e| e.to_string())
}

/// kafka-protocol's `RecordBatchDecoder::decode_all`, zstd included.
pub fn decode_all(buf: &mut Bytes) -> Result<Vec<RecordSet>, String> {
    let mut sets = Vec::new();
    while buf.has_remaining() {
        sets.push(decode(buf)?);
    }
    Ok(sets)
}

/// kafka-protocol's `RecordBatchEncoder::encode`, zstd included (level 3,
/// as kafka-protocol's own).
pub fn encode(
    out: &mut BytesMut,
    records: &[Record],
    opts: &RecordEncodeOptions,
) -> Result<(), String> {
    RecordBatchEncoder::encode_with_custom_compression(
        out,
        records,
        opts,
        Some(|src: &mut BytesMut, out: &mut BytesMut, c: Compression| {
            let copy = |o: &mut BytesMut| {
                o.put_slice(src);
                Ok(())
            };
            match c {
                Compression::None => copy(out),
                Compression::Gzip => Gzip::compress(out, copy),
                Compression::Snappy => Snappy::compress(out, copy),
                Compression::Lz4 => Lz4::compress(out, copy),
                Compression::Zstd => {
                    out.put_slice(&zstd::bulk::compress(src, 3)?);
                    Ok(())
                }
            }
        }),
    )
    .map_err(|e| e.to_string())
}
