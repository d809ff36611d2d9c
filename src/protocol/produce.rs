//! The produce request body, written so that record batches are not copied:
//! each batch's records section goes to the socket from the buffer it was
//! encoded into (a splice), the rest of the body from the write buffer.
//!
//! The layout is Kafka's `ProduceRequest` v0-v12 (`ProduceRequest.json`):
//! `transactional_id acks timeout_ms [name [index records]]`, the
//! transactional id from v3, compact strings, arrays and bytes plus empty
//! tagged fields from v9 (KIP-482). Each version carries one message format
//! (Java `ProduceRequest.requiredMagicForVersion`): record batches v2 from
//! v3, message sets of magic 1 at v2 and of magic 0 at v0-v1.

use bytes::Bytes;

use super::record_batch::{magic_for_produce, RECORD_BATCH_OVERHEAD};
use crate::error::{Error, Result};

/// Records sections shorter than this are copied into the write buffer: a
/// splice costs an I/O vector entry and a reference count.
pub(crate) const SPLICE_MIN: usize = 1024;

/// The part of a [`WireBatch`] before its records.
#[derive(Debug, Clone)]
pub(crate) enum WireHeader {
    /// A v2 record batch's header (CRC included).
    V2([u8; RECORD_BATCH_OVERHEAD]),
    /// A legacy message set of this magic (0 or 1), for Produce v0-v2: it
    /// has no header apart from its messages, which are all in `records`.
    Legacy(i8),
}

/// A record batch ready to send: its header and its records section, kept
/// apart so that the records are never copied again.
#[derive(Debug, Clone)]
pub(crate) struct WireBatch {
    pub(crate) header: WireHeader,
    pub(crate) records: Bytes,
}

impl WireBatch {
    /// The header bytes (none for a message set).
    #[inline]
    pub(crate) fn header_bytes(&self) -> &[u8] {
        match &self.header {
            WireHeader::V2(h) => h,
            WireHeader::Legacy(_) => &[],
        }
    }

    /// The whole batch's size in bytes.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.header_bytes().len() + self.records.len()
    }

    /// The message format: 2 for a record batch, else the message set's.
    pub(crate) fn magic(&self) -> i8 {
        match self.header {
            WireHeader::V2(_) => 2,
            WireHeader::Legacy(m) => m,
        }
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
    /// [`Error::Protocol`] for a version outside 0-12, a batch whose format
    /// is not the version's (the sink re-encodes it on the retry), a
    /// transactional id before v3, or a string or batch too long for its
    /// length field.
    pub(crate) fn encode(
        &self,
        version: i16,
        buf: &mut Vec<u8>,
        splices: &mut Vec<(usize, Bytes)>,
    ) -> Result<usize> {
        if !(0..=12).contains(&version) {
            return Err(Error::protocol(format!(
                "produce request v{version} is not supported by this encoder"
            )));
        }
        let magic = magic_for_produce(version);
        let wrong = self
            .topics
            .iter()
            .flat_map(|t| &t.1)
            .find(|(_, b)| b.magic() != magic);
        if let Some((_, b)) = wrong {
            return Err(Error::protocol(format!(
                "internal: a magic {} batch in a produce v{version} request (magic {magic})",
                b.magic()
            )));
        }
        let flexible = version >= 9;
        let mut spliced = 0;
        if version >= 3 {
            put_string(buf, self.transactional_id.as_deref(), flexible)?;
        } else if self.transactional_id.is_some() {
            return Err(Error::Transaction(
                "transactions need Produce v3 (Kafka 0.11+); the broker is older".into(),
            ));
        }
        buf.extend_from_slice(&self.acks.to_be_bytes());
        buf.extend_from_slice(&self.timeout_ms.to_be_bytes());
        put_len(buf, self.topics.len(), flexible)?;
        for (name, parts) in &self.topics {
            put_string(buf, Some(name), flexible)?;
            put_len(buf, parts.len(), flexible)?;
            for (index, batch) in parts {
                buf.extend_from_slice(&index.to_be_bytes());
                put_len(buf, batch.len(), flexible)?;
                buf.extend_from_slice(batch.header_bytes());
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
            header: WireHeader::V2(header),
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
                                            let mut w = b.header_bytes().to_vec();
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

    /// v0-v2 carry message sets: no transactional id, the records as they are.
    #[test]
    fn old_versions_carry_message_sets() {
        let set = |magic, n| WireBatch {
            header: WireHeader::Legacy(magic),
            records: Bytes::from(vec![7u8; n]),
        };
        for v in 0..=2 {
            let magic = magic_for_produce(v);
            let body = ProduceBody {
                transactional_id: None,
                acks: 1,
                timeout_ms: 1000,
                topics: vec![("t".into(), vec![(0, set(magic, 20)), (1, set(magic, 2000))])],
            };
            // kafka-protocol 0.18 has no Produce v0-v2: our own schema is
            // the oracle here.
            use crate::messages::produce_request as pr;
            use crate::messages::Encodable as _;
            let oracle = crate::messages::ProduceRequest::default()
                .with_acks(1)
                .with_timeout_ms(1000)
                .with_topic_data(vec![pr::TopicProduceData::default()
                    .with_name(crate::messages::TopicName("t".into()))
                    .with_partition_data(vec![
                        pr::PartitionProduceData::default()
                            .with_index(0)
                            .with_records(Some(Bytes::from(vec![7u8; 20]))),
                        pr::PartitionProduceData::default()
                            .with_index(1)
                            .with_records(Some(Bytes::from(vec![7u8; 2000]))),
                    ])]);
            let mut want = Vec::new();
            oracle.encode(&mut want, v).unwrap();
            let (mut buf, mut splices) = (Vec::new(), Vec::new());
            body.encode(v, &mut buf, &mut splices).unwrap();
            let (pos, b) = &splices[0];
            let mut got = buf[..*pos].to_vec();
            got.extend_from_slice(b);
            got.extend_from_slice(&buf[*pos..]);
            assert_eq!(got, want, "v{v}");
            // A batch of the wrong format, or a transactional id, is refused.
            for v2 in [0i16, 2, 3] {
                if magic_for_produce(v2) != magic {
                    assert!(body.encode(v2, &mut Vec::new(), &mut Vec::new()).is_err());
                }
            }
            let txn = ProduceBody {
                transactional_id: Some("x".into()),
                ..body
            };
            assert!(matches!(
                txn.encode(v, &mut Vec::new(), &mut Vec::new()),
                Err(Error::Transaction(_))
            ));
        }
    }
}
