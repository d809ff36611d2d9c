//! The produce request body, written so that record batches are not copied:
//! each batch's records section goes to the socket from the buffer it was
//! encoded into (a splice), the rest of the body from the write buffer.
//!
//! The layout is Kafka's `ProduceRequest` v3-v12 (`ProduceRequest.json`):
//! `transactional_id acks timeout_ms [name [index records]]`, compact
//! strings, arrays and bytes plus empty tagged fields from v9 (KIP-482).

use bytes::Bytes;

use super::record_batch::RECORD_BATCH_OVERHEAD;
use crate::error::{Error, Result};

/// Records sections shorter than this are copied into the write buffer: a
/// splice costs an I/O vector entry and a reference count.
pub(crate) const SPLICE_MIN: usize = 1024;

/// A record batch ready to send: its header (CRC included) and its records
/// section, kept apart so that the records are never copied again.
#[derive(Debug, Clone)]
pub(crate) struct WireBatch {
    pub(crate) header: [u8; RECORD_BATCH_OVERHEAD],
    pub(crate) records: Bytes,
}

impl WireBatch {
    /// The whole batch's size in bytes.
    pub(crate) fn len(&self) -> usize {
        RECORD_BATCH_OVERHEAD + self.records.len()
    }
}

/// One topic's part of a produce request: its partitions' batches.
pub(crate) type TopicBatches = (std::sync::Arc<str>, Vec<(i32, WireBatch)>);

/// The body of one produce request.
#[derive(Debug, Default)]
pub(crate) struct ProduceBody {
    pub(crate) transactional_id: Option<String>,
    pub(crate) acks: i16,
    pub(crate) timeout_ms: i32,
    /// Topics in order, each with its partitions' batches.
    pub(crate) topics: Vec<TopicBatches>,
}

impl ProduceBody {
    /// Appends the body at `version` to `buf`; records sections of at least
    /// [`SPLICE_MIN`] bytes are not copied but pushed to `splices` with the
    /// offset in `buf` they belong before. Returns the spliced byte count.
    ///
    /// # Errors
    ///
    /// [`Error::Protocol`] for a version outside 3-12 or a string or batch
    /// too long for its length field.
    pub(crate) fn encode(
        &self,
        version: i16,
        buf: &mut Vec<u8>,
        splices: &mut Vec<(usize, Bytes)>,
    ) -> Result<usize> {
        if !(3..=12).contains(&version) {
            return Err(Error::protocol(format!(
                "produce request v{version} is not supported by this encoder"
            )));
        }
        let flexible = version >= 9;
        let mut spliced = 0;
        put_string(buf, self.transactional_id.as_deref(), flexible)?;
        buf.extend_from_slice(&self.acks.to_be_bytes());
        buf.extend_from_slice(&self.timeout_ms.to_be_bytes());
        put_len(buf, self.topics.len(), flexible)?;
        for (name, parts) in &self.topics {
            put_string(buf, Some(name), flexible)?;
            put_len(buf, parts.len(), flexible)?;
            for (index, batch) in parts {
                buf.extend_from_slice(&index.to_be_bytes());
                put_len(buf, batch.len(), flexible)?;
                buf.extend_from_slice(&batch.header);
                if batch.records.len() >= SPLICE_MIN {
                    splices.push((buf.len(), batch.records.clone()));
                    spliced += batch.records.len();
                } else {
                    buf.extend_from_slice(&batch.records);
                }
                if flexible {
                    buf.push(0); // partition tagged fields
                }
            }
            if flexible {
                buf.push(0); // topic tagged fields
            }
        }
        if flexible {
            buf.push(0); // request tagged fields
        }
        Ok(spliced)
    }
}

/// An array count or a byte length: i32 (classic; strings use i16 through
/// `put_string`) or unsigned varint of n + 1 (compact).
fn put_len(buf: &mut Vec<u8>, n: usize, compact: bool) -> Result<()> {
    let Ok(n32) = i32::try_from(n) else {
        return Err(Error::protocol(format!("length {n} is too large")));
    };
    if compact {
        put_uvarint(buf, n32 as u32 + 1);
    } else {
        buf.extend_from_slice(&n32.to_be_bytes());
    }
    Ok(())
}

fn put_string(buf: &mut Vec<u8>, s: Option<&str>, compact: bool) -> Result<()> {
    match (s, compact) {
        (None, false) => buf.extend_from_slice(&(-1i16).to_be_bytes()),
        (None, true) => buf.push(0),
        (Some(s), false) => {
            let Ok(n) = i16::try_from(s.len()) else {
                return Err(Error::protocol("string longer than 32767 bytes"));
            };
            buf.extend_from_slice(&n.to_be_bytes());
            buf.extend_from_slice(s.as_bytes());
        }
        (Some(s), true) => {
            put_len(buf, s.len(), true)?;
            buf.extend_from_slice(s.as_bytes());
        }
    }
    Ok(())
}

fn put_uvarint(buf: &mut Vec<u8>, mut v: u32) {
    while v >= 0x80 {
        buf.push((v as u8) | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
    use kafka_protocol::messages::{ProduceRequest, TopicName, TransactionalId};
    use kafka_protocol::protocol::{Encodable, StrBytes};

    fn batch(n: usize, fill: u8) -> WireBatch {
        let mut header = [0u8; RECORD_BATCH_OVERHEAD];
        header[0] = fill;
        header[60] = fill.wrapping_add(1);
        WireBatch {
            header,
            records: Bytes::from(vec![fill; n]),
        }
    }

    /// Our bytes, with the splices put back, equal kafka-protocol's encoding
    /// of the same request at every version we send.
    #[test]
    fn matches_the_schema_encoding_at_every_version() {
        for txn in [None, Some("tx-1".to_string())] {
            let body = ProduceBody {
                transactional_id: txn.clone(),
                acks: -1,
                timeout_ms: 30_000,
                topics: vec![
                    ("a".into(), vec![(0, batch(10, 1)), (3, batch(5000, 2))]),
                    ("topic-b".into(), vec![(7, batch(SPLICE_MIN, 3))]),
                ],
            };
            let oracle = ProduceRequest::default()
                .with_transactional_id(txn.map(|t| TransactionalId(StrBytes::from_string(t))))
                .with_acks(-1)
                .with_timeout_ms(30_000)
                .with_topic_data(
                    body.topics
                        .iter()
                        .map(|(name, parts)| {
                            TopicProduceData::default()
                                .with_name(TopicName(StrBytes::from_string(name.to_string())))
                                .with_partition_data(
                                    parts
                                        .iter()
                                        .map(|(i, b)| {
                                            let mut w = b.header.to_vec();
                                            w.extend_from_slice(&b.records);
                                            PartitionProduceData::default()
                                                .with_index(*i)
                                                .with_records(Some(Bytes::from(w)))
                                        })
                                        .collect(),
                                )
                        })
                        .collect(),
                );
            for v in 3..=12 {
                let mut want = Vec::new();
                oracle.encode(&mut want, v).unwrap();
                let (mut buf, mut splices) = (vec![9u8], Vec::new());
                let spliced = body.encode(v, &mut buf, &mut splices).unwrap();
                assert_eq!(splices.len(), 2, "v{v}: the two large batches are spliced");
                assert_eq!(spliced, 5000 + SPLICE_MIN);
                let mut got = Vec::new();
                let mut at = 1;
                for (pos, b) in &splices {
                    got.extend_from_slice(&buf[at..*pos]);
                    got.extend_from_slice(b);
                    at = *pos;
                }
                got.extend_from_slice(&buf[at..]);
                assert_eq!(got, want, "v{v}");
            }
        }
        let mut buf = Vec::new();
        assert!(ProduceBody::default()
            .encode(13, &mut buf, &mut Vec::new())
            .is_err());
    }
}
