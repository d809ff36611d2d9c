//! The consumer protocol's embedded schemas: what group members put in
//! JoinGroup's protocol metadata and what the leader puts in SyncGroup's
//! member assignments when the group's protocol type is `consumer`.
//!
//! These mirror Apache Kafka's `ConsumerProtocolSubscription.json` and
//! `ConsumerProtocolAssignment.json` (versions 0-3), plus the user data of
//! Java's `StickyAssignor` ([`StickyMemberMetadata`]). None of them is a
//! flexible message: each starts with an int16 version, strings carry an
//! int16 length, arrays an int32 count, and bytes an int32 length (-1 for
//! null where the field is nullable).
//!
//! Decoding never trusts the wire. Every count and length is checked against
//! the bytes left before anything is allocated, so a short message with a
//! count of two billion costs nothing; errors name the message and field.
//!
//! Compatibility rules for reading, following Java's `ConsumerProtocol`:
//!
//! * A version above 3 is read as version 3 and trailing bytes are ignored,
//!   so newer members (which may only append fields) stay readable.
//! * A negative version is an error.
//! * Unlike Java, fields added in versions 1-3 may be missing as a whole: a
//!   message that ends exactly where such a field would start is accepted
//!   and the field keeps its default. Some clients claim version 1 but stop
//!   after `user_data` (kgo and Sarama accept those too; kgo #493).

use std::fmt;

use crate::error::{Error, Result};

/// The highest version of [`ConsumerProtocolSubscription`] and
/// [`ConsumerProtocolAssignment`] this crate knows.
///
/// Corresponds to Java's `ConsumerProtocolSubscription.HIGHEST_SUPPORTED_VERSION`.
pub const CONSUMER_PROTOCOL_HIGHEST_VERSION: i16 = 3;

/// Holds a topic and some of its partitions, as the consumer protocol
/// schemas carry them.
///
/// Corresponds to kmsg's `ConsumerMemberMetadataOwnedPartition` and
/// `ConsumerMemberAssignmentTopic`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TopicPartitions {
    /// The topic.
    pub topic: String,
    /// Partitions of the topic.
    pub partitions: Vec<i32>,
}

impl TopicPartitions {
    /// Creates a topic with partitions.
    ///
    /// Corresponds to kmsg's `NewConsumerMemberAssignmentTopic`.
    pub fn new(topic: impl Into<String>, partitions: Vec<i32>) -> Self {
        TopicPartitions {
            topic: topic.into(),
            partitions,
        }
    }
}

/// Holds what a group member sends in JoinGroup's protocol metadata: the
/// topics it wants and what it owns.
///
/// Corresponds to kgo's `kmsg.ConsumerMemberMetadata` and Java's
/// `ConsumerProtocolSubscription`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConsumerProtocolSubscription {
    /// The topics the member wants to consume.
    pub topics: Vec<String>,
    /// Balancer-specific data (the sticky balancers put their prior
    /// assignment here), or `None`.
    pub user_data: Option<Vec<u8>>,
    /// Version 1+: the partitions the member owns right now (cooperative
    /// balancing, KIP-429).
    pub owned_partitions: Vec<TopicPartitions>,
    /// Version 2+: the generation the owned partitions are from (KIP-792);
    /// -1 when unknown.
    pub generation_id: i32,
    /// Version 3+: the member's rack (KIP-881), or `None`.
    pub rack_id: Option<String>,
}

impl Default for ConsumerProtocolSubscription {
    fn default() -> Self {
        ConsumerProtocolSubscription {
            topics: Vec::new(),
            user_data: None,
            owned_partitions: Vec::new(),
            generation_id: -1,
            rack_id: None,
        }
    }
}

impl ConsumerProtocolSubscription {
    const NAME: &'static str = "ConsumerProtocolSubscription";

    /// Encodes the subscription at `version`, prefixed by that version.
    ///
    /// Versions outside 0-3 are clamped into that range. Fields the version
    /// does not have are not written.
    ///
    /// Corresponds to kmsg's `ConsumerMemberMetadata.AppendTo` and Java's
    /// `ConsumerProtocol.serializeSubscription`.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] if a string is longer than the 32767 bytes the
    /// schema allows (topic names and rack ids come from configuration).
    pub fn encode(&self, version: i16) -> Result<Vec<u8>> {
        let version = version.clamp(0, CONSUMER_PROTOCOL_HIGHEST_VERSION);
        let mut w = Writer::new(Self::NAME);
        w.i16(version);
        w.count("topics", self.topics.len())?;
        for topic in &self.topics {
            w.string("topics", topic)?;
        }
        w.nullable_bytes("user_data", self.user_data.as_deref())?;
        if version >= 1 {
            w.topic_partitions("owned_partitions", &self.owned_partitions)?;
        }
        if version >= 2 {
            w.i32(self.generation_id);
        }
        if version >= 3 {
            w.nullable_string("rack_id", self.rack_id.as_deref())?;
        }
        Ok(w.into_bytes())
    }

    /// Decodes a version-prefixed subscription (see the module docs for the
    /// version rules).
    ///
    /// Corresponds to kmsg's `ConsumerMemberMetadata.ReadFrom` and Java's
    /// `ConsumerProtocol.deserializeSubscription`.
    ///
    /// # Errors
    ///
    /// [`Error::Protocol`] naming the field if the bytes do not parse.
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        let mut r = Reader::new(bytes, Self::NAME);
        let version = r.version()?;
        let mut s = ConsumerProtocolSubscription::default();
        let n = r.count("topics", 2)?;
        let mut topics = Vec::with_capacity(n);
        for _ in 0..n {
            topics.push(r.string("topics")?);
        }
        s.topics = topics;
        s.user_data = r.nullable_bytes("user_data")?;
        if version >= 1 && !r.is_empty() {
            s.owned_partitions = r.topic_partitions("owned_partitions")?;
        }
        if version >= 2 && !r.is_empty() {
            s.generation_id = r.i32("generation_id")?;
        }
        if version >= 3 && !r.is_empty() {
            s.rack_id = r.nullable_string("rack_id")?;
        }
        Ok(s)
    }
}

/// Holds what the group leader assigns one member, carried in SyncGroup.
///
/// Corresponds to kgo's `kmsg.ConsumerMemberAssignment` and Java's
/// `ConsumerProtocolAssignment`. All versions share one layout.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct ConsumerProtocolAssignment {
    /// The partitions assigned to the member.
    pub assigned_partitions: Vec<TopicPartitions>,
    /// Balancer-specific data, or `None`.
    pub user_data: Option<Vec<u8>>,
}

impl ConsumerProtocolAssignment {
    const NAME: &'static str = "ConsumerProtocolAssignment";

    /// Encodes the assignment at `version` (clamped into 0-3), prefixed by
    /// that version.
    ///
    /// Corresponds to kmsg's `ConsumerMemberAssignment.AppendTo` and Java's
    /// `ConsumerProtocol.serializeAssignment`.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] if a topic name is longer than 32767 bytes.
    pub fn encode(&self, version: i16) -> Result<Vec<u8>> {
        let version = version.clamp(0, CONSUMER_PROTOCOL_HIGHEST_VERSION);
        let mut w = Writer::new(Self::NAME);
        w.i16(version);
        w.topic_partitions("assigned_partitions", &self.assigned_partitions)?;
        w.nullable_bytes("user_data", self.user_data.as_deref())?;
        Ok(w.into_bytes())
    }

    /// Decodes a version-prefixed assignment.
    ///
    /// Corresponds to kmsg's `ConsumerMemberAssignment.ReadFrom` and Java's
    /// `ConsumerProtocol.deserializeAssignment`.
    ///
    /// # Errors
    ///
    /// [`Error::Protocol`] naming the field if the bytes do not parse.
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        let mut r = Reader::new(bytes, Self::NAME);
        r.version()?;
        let assigned_partitions = r.topic_partitions("assigned_partitions")?;
        let user_data = r.nullable_bytes("user_data")?;
        Ok(ConsumerProtocolAssignment {
            assigned_partitions,
            user_data,
        })
    }
}

/// Holds the user data of the sticky balancers: the member's prior
/// assignment and the generation it is from.
///
/// Corresponds to kgo's `kmsg.StickyMemberMetadata` and the
/// `STICKY_ASSIGNOR_USER_DATA_V0/V1` schemas of Java's `StickyAssignor`.
/// It has no version prefix: V1 appends the generation to V0.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StickyMemberMetadata {
    /// The partitions the member had.
    pub current_assignment: Vec<TopicPartitions>,
    /// The generation of that assignment (KIP-341), or `None` in the V0
    /// format that predates generations.
    pub generation: Option<i32>,
}

impl StickyMemberMetadata {
    const NAME: &'static str = "StickyMemberMetadata";

    /// Encodes the user data: V1 when a generation is set, else V0.
    ///
    /// Corresponds to kmsg's `StickyMemberMetadata.AppendTo`.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] if a topic name is longer than 32767 bytes.
    pub fn encode(&self) -> Result<Vec<u8>> {
        let mut w = Writer::new(Self::NAME);
        w.topic_partitions("current_assignment", &self.current_assignment)?;
        if let Some(generation) = self.generation {
            w.i32(generation);
        }
        Ok(w.into_bytes())
    }

    /// Decodes V1 user data, or V0 when fewer than four bytes follow the
    /// assignment (Java's `StickyAssignor` falls back the same way).
    ///
    /// Corresponds to kmsg's `StickyMemberMetadata.ReadFrom`.
    ///
    /// # Errors
    ///
    /// [`Error::Protocol`] naming the field if the assignment does not parse.
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        let mut r = Reader::new(bytes, Self::NAME);
        let current_assignment = r.topic_partitions("current_assignment")?;
        let generation = if r.remaining() >= 4 {
            Some(r.i32("generation")?)
        } else {
            None
        };
        Ok(StickyMemberMetadata {
            current_assignment,
            generation,
        })
    }
}

/// Reads the classic (non-flexible) encoding, checking every length first.
struct Reader<'a> {
    buf: &'a [u8],
    message: &'static str,
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8], message: &'static str) -> Self {
        Reader { buf, message }
    }

    fn fail(&self, field: &str, what: impl fmt::Display) -> Error {
        Error::protocol(format_args!("{}.{field}: {what}", self.message))
    }

    fn remaining(&self) -> usize {
        self.buf.len()
    }

    fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    fn take(&mut self, field: &str, n: usize) -> Result<&'a [u8]> {
        if n > self.buf.len() {
            let left = self.buf.len();
            return Err(self.fail(field, format_args!("need {n} bytes but {left} are left")));
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(head)
    }

    fn fixed<const N: usize>(&mut self, field: &str) -> Result<[u8; N]> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(field, N)?);
        Ok(out)
    }

    fn i16(&mut self, field: &str) -> Result<i16> {
        Ok(i16::from_be_bytes(self.fixed(field)?))
    }

    fn i32(&mut self, field: &str) -> Result<i32> {
        Ok(i32::from_be_bytes(self.fixed(field)?))
    }

    fn version(&mut self) -> Result<i16> {
        let version = self.i16("version")?;
        if version < 0 {
            return Err(self.fail("version", format_args!("unsupported version {version}")));
        }
        Ok(version)
    }

    /// Reads a non-nullable array count; `min_size` is the fewest bytes one
    /// element can take, so the count is checked before any allocation.
    fn count(&mut self, field: &str, min_size: usize) -> Result<usize> {
        let n = self.i32(field)?;
        let Ok(n) = usize::try_from(n) else {
            return Err(self.fail(field, format_args!("negative count {n}")));
        };
        let left = self.buf.len();
        if n.saturating_mul(min_size) > left {
            let each = if min_size > 1 {
                format!(" (each element takes at least {min_size} bytes)")
            } else {
                String::new()
            };
            return Err(self.fail(
                field,
                format_args!("count {n} exceeds the {left} bytes left{each}"),
            ));
        }
        Ok(n)
    }

    fn str_of_len(&mut self, field: &str, len: usize) -> Result<String> {
        let raw = self.take(field, len)?;
        match std::str::from_utf8(raw) {
            Ok(s) => Ok(s.to_owned()),
            Err(_) => Err(self.fail(field, "string is not valid UTF-8")),
        }
    }

    fn string(&mut self, field: &str) -> Result<String> {
        let len = self.i16(field)?;
        let Ok(len) = usize::try_from(len) else {
            return Err(self.fail(
                field,
                format_args!("negative length {len} for a non-nullable string"),
            ));
        };
        self.str_of_len(field, len)
    }

    fn nullable_string(&mut self, field: &str) -> Result<Option<String>> {
        match self.i16(field)? {
            -1 => Ok(None),
            len => match usize::try_from(len) {
                Ok(len) => self.str_of_len(field, len).map(Some),
                Err(_) => Err(self.fail(field, format_args!("negative length {len}"))),
            },
        }
    }

    fn nullable_bytes(&mut self, field: &str) -> Result<Option<Vec<u8>>> {
        match self.i32(field)? {
            -1 => Ok(None),
            len => match usize::try_from(len) {
                Ok(len) => self.take(field, len).map(|b| Some(b.to_vec())),
                Err(_) => Err(self.fail(field, format_args!("negative length {len}"))),
            },
        }
    }

    fn topic_partitions(&mut self, field: &str) -> Result<Vec<TopicPartitions>> {
        // A topic entry is at least an empty string and an empty array.
        let n = self.count(field, 6)?;
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            let topic = self.string(field)?;
            let m = self.count(field, 4)?;
            let mut partitions = Vec::with_capacity(m);
            for _ in 0..m {
                partitions.push(self.i32(field)?);
            }
            out.push(TopicPartitions { topic, partitions });
        }
        Ok(out)
    }
}

/// Writes the classic encoding; only lengths that do not fit can fail.
struct Writer {
    buf: Vec<u8>,
    message: &'static str,
}

impl Writer {
    fn new(message: &'static str) -> Self {
        Writer {
            buf: Vec::with_capacity(64),
            message,
        }
    }

    fn into_bytes(self) -> Vec<u8> {
        self.buf
    }

    fn fail(&self, field: &str, what: impl fmt::Display) -> Error {
        Error::config(format_args!("{}.{field}: {what}", self.message))
    }

    fn i16(&mut self, v: i16) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    fn i32(&mut self, v: i32) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    fn count(&mut self, field: &str, n: usize) -> Result<()> {
        match i32::try_from(n) {
            Ok(n) => {
                self.i32(n);
                Ok(())
            }
            Err(_) => Err(self.fail(
                field,
                format_args!("{n} elements do not fit an int32 count"),
            )),
        }
    }

    fn string(&mut self, field: &str, s: &str) -> Result<()> {
        match i16::try_from(s.len()) {
            Ok(len) => {
                self.i16(len);
                self.buf.extend_from_slice(s.as_bytes());
                Ok(())
            }
            Err(_) => Err(self.fail(
                field,
                format_args!("a string of {} bytes exceeds the 32767-byte limit", s.len()),
            )),
        }
    }

    fn nullable_string(&mut self, field: &str, s: Option<&str>) -> Result<()> {
        match s {
            None => {
                self.i16(-1);
                Ok(())
            }
            Some(s) => self.string(field, s),
        }
    }

    fn nullable_bytes(&mut self, field: &str, b: Option<&[u8]>) -> Result<()> {
        match b {
            None => {
                self.i32(-1);
                Ok(())
            }
            Some(b) => {
                self.count(field, b.len())?;
                self.buf.extend_from_slice(b);
                Ok(())
            }
        }
    }

    fn topic_partitions(&mut self, field: &str, list: &[TopicPartitions]) -> Result<()> {
        self.count(field, list.len())?;
        for tp in list {
            self.string(field, &tp.topic)?;
            self.count(field, tp.partitions.len())?;
            for &p in &tp.partitions {
                self.i32(p);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn tp(topic: &str, partitions: &[i32]) -> TopicPartitions {
        TopicPartitions::new(topic, partitions.to_vec())
    }

    fn full_subscription() -> ConsumerProtocolSubscription {
        ConsumerProtocolSubscription {
            topics: vec!["t".into()],
            user_data: Some(vec![1, 2]),
            owned_partitions: vec![tp("t", &[0, 1])],
            generation_id: 5,
            rack_id: Some("r".into()),
        }
    }

    #[rustfmt::skip]
    const SUB_V3: &[u8] = &[
        0, 3,                   // version
        0, 0, 0, 1,             // topics: 1
        0, 1, b't',             //   "t"
        0, 0, 0, 2, 1, 2,       // user_data: [1, 2]
        0, 0, 0, 1,             // owned_partitions: 1
        0, 1, b't',             //   topic "t"
        0, 0, 0, 2,             //   partitions: 2
        0, 0, 0, 0, 0, 0, 0, 1, //     0, 1
        0, 0, 0, 5,             // generation_id
        0, 1, b'r',             // rack_id "r"
    ];

    #[rustfmt::skip]
    const SUB_V0: &[u8] = &[
        0, 0,                   // version
        0, 0, 0, 2,             // topics: 2
        0, 2, b't', b'0',       //   "t0"
        0, 2, b't', b'1',       //   "t1"
        255, 255, 255, 255,     // user_data: null
    ];

    #[rustfmt::skip]
    const ASSIGNMENT_V0: &[u8] = &[
        0, 0,                   // version
        0, 0, 0, 1,             // assigned_partitions: 1
        0, 1, b't',             //   topic "t"
        0, 0, 0, 1, 0, 0, 0, 2, //   partitions: [2]
        255, 255, 255, 255,     // user_data: null
    ];

    #[test]
    fn golden_bytes() {
        assert_eq!(full_subscription().encode(3).unwrap(), SUB_V3);
        assert_eq!(
            ConsumerProtocolSubscription::decode(SUB_V3).unwrap(),
            full_subscription()
        );

        let v0 = ConsumerProtocolSubscription {
            topics: vec!["t0".into(), "t1".into()],
            ..Default::default()
        };
        assert_eq!(v0.encode(0).unwrap(), SUB_V0);
        assert_eq!(ConsumerProtocolSubscription::decode(SUB_V0).unwrap(), v0);

        let a = ConsumerProtocolAssignment {
            assigned_partitions: vec![tp("t", &[2])],
            user_data: None,
        };
        assert_eq!(a.encode(0).unwrap(), ASSIGNMENT_V0);
        assert_eq!(
            ConsumerProtocolAssignment::decode(ASSIGNMENT_V0).unwrap(),
            a
        );

        let sticky = StickyMemberMetadata {
            current_assignment: vec![tp("t", &[2])],
            generation: Some(7),
        };
        let bytes = sticky.encode().unwrap();
        assert_eq!(bytes, [&ASSIGNMENT_V0[2..17], &[0, 0, 0, 7]].concat());
        assert_eq!(StickyMemberMetadata::decode(&bytes).unwrap(), sticky);
    }

    #[test]
    fn versions_write_only_their_fields() {
        let full = full_subscription();
        // (version, expected length, what decoding gives back)
        let cases: [(i16, usize, ConsumerProtocolSubscription); 5] = [
            (
                -4,
                15,
                ConsumerProtocolSubscription {
                    owned_partitions: vec![],
                    generation_id: -1,
                    rack_id: None,
                    ..full.clone()
                },
            ),
            (
                0,
                15,
                ConsumerProtocolSubscription {
                    owned_partitions: vec![],
                    generation_id: -1,
                    rack_id: None,
                    ..full.clone()
                },
            ),
            (
                1,
                34,
                ConsumerProtocolSubscription {
                    generation_id: -1,
                    rack_id: None,
                    ..full.clone()
                },
            ),
            (
                2,
                38,
                ConsumerProtocolSubscription {
                    rack_id: None,
                    ..full.clone()
                },
            ),
            (9, 41, full.clone()),
        ];
        for (version, len, want) in cases {
            let bytes = full.encode(version).unwrap();
            assert_eq!(bytes.len(), len, "version {version}");
            assert_eq!(
                ConsumerProtocolSubscription::decode(&bytes).unwrap(),
                want,
                "version {version}"
            );
        }
    }

    #[test]
    fn future_versions_read_as_v3_and_truncated_fields_default() {
        // Version 100 with a trailing unknown field: read as v3 (Java's
        // deserializeFutureSubscriptionVersion).
        let mut future = SUB_V3.to_vec();
        future[1] = 100;
        future.extend_from_slice(&[0, 3, b'b', b'a', b'r']);
        assert_eq!(
            ConsumerProtocolSubscription::decode(&future).unwrap(),
            full_subscription()
        );

        // A v1 that stops after user_data (kgo #493), and a v3 that stops
        // after owned_partitions.
        let mut short_v1 = SUB_V0.to_vec();
        short_v1[1] = 1;
        let got = ConsumerProtocolSubscription::decode(&short_v1).unwrap();
        assert!(got.owned_partitions.is_empty());
        let got = ConsumerProtocolSubscription::decode(&SUB_V3[..34]).unwrap();
        assert_eq!(
            (got.owned_partitions.len(), got.generation_id, got.rack_id),
            (1, -1, None)
        );

        // A future assignment version with an extra field.
        let mut a = ASSIGNMENT_V0.to_vec();
        a[1] = 100;
        a.extend_from_slice(&[0, 3, b'f', b'o', b'o']);
        assert_eq!(
            ConsumerProtocolAssignment::decode(&a)
                .unwrap()
                .assigned_partitions,
            vec![tp("t", &[2])]
        );
    }

    #[test]
    fn malformed_input_names_message_and_field() {
        let mut huge_owned = SUB_V0.to_vec();
        huge_owned[1] = 1;
        huge_owned.extend_from_slice(&[0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        let cases: Vec<(&str, Vec<u8>, &str)> = vec![
            ("empty", vec![], "ConsumerProtocolSubscription.version: need 2 bytes but 0 are left"),
            ("negative version", vec![0xff, 0xfe], "ConsumerProtocolSubscription.version: unsupported version -2"),
            ("huge topics", vec![0, 0, 0x7f, 0xff, 0xff, 0xff], "ConsumerProtocolSubscription.topics: count 2147483647 exceeds the 0 bytes left (each element takes at least 2 bytes)"),
            ("negative topics", vec![0, 0, 0xff, 0xff, 0xff, 0xff], "ConsumerProtocolSubscription.topics: negative count -1"),
            ("null topic", vec![0, 0, 0, 0, 0, 1, 0xff, 0xff], "ConsumerProtocolSubscription.topics: negative length -1 for a non-nullable string"),
            ("long topic", vec![0, 0, 0, 0, 0, 1, 0, 9, b'a'], "ConsumerProtocolSubscription.topics: need 9 bytes but 1 are left"),
            ("bad utf8", vec![0, 0, 0, 0, 0, 1, 0, 1, 0xff], "ConsumerProtocolSubscription.topics: string is not valid UTF-8"),
            ("user data -2", vec![0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xfe], "ConsumerProtocolSubscription.user_data: negative length -2"),
            ("huge owned", huge_owned, "ConsumerProtocolSubscription.owned_partitions: count 2147483647 exceeds the 12 bytes left (each element takes at least 6 bytes)"),
            ("cut generation", SUB_V3[..36].to_vec(), "ConsumerProtocolSubscription.generation_id: need 4 bytes but 2 are left"),
        ];
        for (name, bytes, want) in cases {
            match ConsumerProtocolSubscription::decode(&bytes) {
                Err(Error::Protocol(msg)) => assert_eq!(&*msg, want, "{name}"),
                other => panic!("{name}: {other:?}"),
            }
        }
        let too_long = ConsumerProtocolSubscription {
            topics: vec!["x".repeat(40_000)],
            ..Default::default()
        };
        assert!(matches!(too_long.encode(0), Err(Error::Config(_))));
    }

    fn topic_partitions() -> impl Strategy<Value = Vec<TopicPartitions>> {
        proptest::collection::vec(
            ("[a-z]{0,6}", proptest::collection::vec(any::<i32>(), 0..4))
                .prop_map(|(topic, partitions)| TopicPartitions { topic, partitions }),
            0..4,
        )
    }

    fn subscription() -> impl Strategy<Value = ConsumerProtocolSubscription> {
        (
            proptest::collection::vec("[a-zA-Z0-9._-]{0,8}", 0..4),
            proptest::option::of(proptest::collection::vec(any::<u8>(), 0..8)),
            topic_partitions(),
            any::<i32>(),
            proptest::option::of("[a-z]{0,4}"),
        )
            .prop_map(
                |(topics, user_data, owned_partitions, generation_id, rack_id)| {
                    ConsumerProtocolSubscription {
                        topics,
                        user_data,
                        owned_partitions,
                        generation_id,
                        rack_id,
                    }
                },
            )
    }

    proptest! {
        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..96), version in 0u8..5) {
            let _ = ConsumerProtocolSubscription::decode(&bytes);
            let _ = ConsumerProtocolAssignment::decode(&bytes);
            let _ = StickyMemberMetadata::decode(&bytes);
            // A valid version prefix gets the random bytes past the first field.
            let prefixed = [&[0, version][..], &bytes].concat();
            let _ = ConsumerProtocolSubscription::decode(&prefixed);
            let _ = ConsumerProtocolAssignment::decode(&prefixed);
        }

        #[test]
        fn subscription_round_trips(s in subscription(), version in 0i16..4) {
            let mut want = s.clone();
            if version < 1 { want.owned_partitions.clear(); }
            if version < 2 { want.generation_id = -1; }
            if version < 3 { want.rack_id = None; }
            let bytes = s.encode(version).unwrap();
            prop_assert_eq!(ConsumerProtocolSubscription::decode(&bytes).unwrap(), want);
        }

        #[test]
        fn assignment_and_sticky_round_trip(
            list in topic_partitions(),
            user_data in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..8)),
            generation in proptest::option::of(any::<i32>()),
            version in 0i16..4,
        ) {
            let a = ConsumerProtocolAssignment { assigned_partitions: list.clone(), user_data };
            prop_assert_eq!(ConsumerProtocolAssignment::decode(&a.encode(version).unwrap()).unwrap(), a);
            let s = StickyMemberMetadata { current_assignment: list, generation };
            prop_assert_eq!(StickyMemberMetadata::decode(&s.encode().unwrap()).unwrap(), s);
        }
    }
}
