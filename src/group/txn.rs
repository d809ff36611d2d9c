//! The group's part of exactly-once: offsets committed inside a
//! transaction (TxnOffsetCommit with the member's generation, KIP-447), a
//! heartbeat on the caller's thread to learn whether the member is still in
//! its generation, and the rewind after an abort.

use std::collections::BTreeMap;
use std::time::Instant;

use super::commit::OffsetMap;
use super::Group;
use crate::consumer::EpochOffset;
use crate::error::{Error, Result};
use crate::messages::txn_offset_commit_request::{
    TxnOffsetCommitRequestPartition, TxnOffsetCommitRequestTopic,
};
use crate::messages::{
    GroupId, HeartbeatRequest, ProducerId, StrBytes, TopicName, TransactionalId,
    TxnOffsetCommitRequest, TxnOffsetCommitResponse,
};

const HEARTBEAT: i16 = 12;
const TXN_OFFSET_COMMIT: i16 = 28;

/// The producer side of a TxnOffsetCommit.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TxnProducer<'a> {
    pub(crate) transactional_id: &'a str,
    pub(crate) producer_id: i64,
    pub(crate) epoch: i16,
}

impl Group {
    /// One Heartbeat with the member's current generation, sent from the
    /// caller's thread (the member loop sends its own on schedule).
    pub(crate) fn heartbeat_once(&self, deadline: Instant) -> Result<()> {
        let gen = self.generation();
        let version = self.coordinator_version(HEARTBEAT, i16::MAX);
        let mut req = HeartbeatRequest::default()
            .with_group_id(GroupId(StrBytes::from_string(self.cfg.group.clone())))
            .with_generation_id(gen.generation)
            .with_member_id(StrBytes::from_string(gen.member_id));
        if version >= 3 {
            req =
                req.with_group_instance_id(self.cfg.instance_id.clone().map(StrBytes::from_string));
        }
        let resp = self.cluster.request(req, Some(deadline))?;
        match Error::from_code(resp.error_code) {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// TxnOffsetCommit of `offsets` for the producer's transaction, with the
    /// member id, generation and instance id from v3 on (KIP-447: the
    /// coordinator fences a zombie of an older generation). The commit
    /// becomes visible with the transaction's commit marker; call
    /// [`txn_committed`](Self::txn_committed) after EndTxn committed.
    pub(crate) fn txn_commit(
        &self,
        producer: TxnProducer<'_>,
        offsets: &OffsetMap,
        deadline: Instant,
    ) -> Result<(TxnOffsetCommitResponse, bool)> {
        let version = self.coordinator_version(TXN_OFFSET_COMMIT, i16::MAX);
        let gen = self.generation();
        let topics = offsets
            .iter()
            .filter(|(_, ps)| !ps.is_empty())
            .map(|(t, ps)| {
                let parts = ps
                    .iter()
                    .map(|(p, eo)| {
                        TxnOffsetCommitRequestPartition::default()
                            .with_partition_index(*p)
                            .with_committed_offset(eo.offset)
                            .with_committed_leader_epoch(if version >= 2 { eo.epoch } else { -1 })
                    })
                    .collect();
                TxnOffsetCommitRequestTopic::default()
                    .with_name(TopicName(StrBytes::from_string(t.clone())))
                    .with_partitions(parts)
            })
            .collect();
        let mut req = TxnOffsetCommitRequest::default()
            .with_transactional_id(TransactionalId(StrBytes::from_string(
                producer.transactional_id.to_string(),
            )))
            .with_group_id(GroupId(StrBytes::from_string(self.cfg.group.clone())))
            .with_producer_id(ProducerId(producer.producer_id))
            .with_producer_epoch(producer.epoch)
            .with_topics(topics);
        if version >= 3 {
            req = req
                .with_generation_id(gen.generation)
                .with_member_id(StrBytes::from_string(gen.member_id))
                .with_group_instance_id(self.cfg.instance_id.clone().map(StrBytes::from_string));
        }
        let _g = self.commit_lock.lock();
        Ok((self.cluster.request(req, Some(deadline))?, version >= 3))
    }

    /// Re-reads the committed offsets of every owned partition from the
    /// coordinator (stable offsets: it waits for pending transactional
    /// commits), retrying UNSTABLE_OFFSET_COMMIT until `deadline`.
    pub(crate) fn refresh_committed(&self, deadline: Instant) -> Result<()> {
        let mut parts: super::Partitions = BTreeMap::new();
        for (t, p) in self.offsets.lock().keys() {
            parts.entry(t.clone()).or_default().push(*p);
        }
        if parts.is_empty() {
            return Ok(());
        }
        self.cluster.retry(9, Some(deadline), |_| {
            self.fetch_offsets(&parts, crate::consumer::Offset::new())
                .map(|_| ())
        })
    }

    /// Records offsets committed by a transaction's commit.
    pub(crate) fn txn_committed(&self, offsets: &OffsetMap) {
        let mut o = self.offsets.lock();
        for (t, ps) in offsets {
            for (p, eo) in ps {
                o.entry((t.clone(), *p)).or_default().committed = Some(*eo);
            }
        }
    }

    /// After an abort: where each polled partition must be consumed from
    /// again, the committed offset or, with none, the first offset polled in
    /// this assignment; the polled marks are rewound to match.
    /// With `all`, every owned partition is rewound (its polled marks were
    /// just reset by re-reading the commits).
    pub(crate) fn rewind_polled(&self, all: bool) -> BTreeMap<String, BTreeMap<i32, EpochOffset>> {
        let mut out: BTreeMap<String, BTreeMap<i32, EpochOffset>> = BTreeMap::new();
        let mut o = self.offsets.lock();
        for ((t, p), po) in o.iter_mut() {
            let Some(to) = po.committed.or(po.start) else {
                continue;
            };
            match po.dirty {
                Some(d) if d.offset == to.offset => continue,
                None if !all => continue,
                _ => {}
            }
            po.dirty = po.committed;
            po.head = po.committed;
            out.entry(t.clone()).or_default().insert(*p, to);
        }
        out
    }
}
