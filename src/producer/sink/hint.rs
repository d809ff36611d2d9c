//! KIP-951 leader hints for the sink: a produce answered
//! NOT_LEADER_OR_FOLLOWER with the partition's current leader moves the
//! partition to that leader's sink without waiting for metadata.

use std::sync::Arc;

use super::SinkLoop;
use crate::logger::klog;
use crate::messages::produce_response::PartitionProduceResponse;
use crate::messages::ProduceResponse;
use crate::producer::recbuf::RecBuf;

impl SinkLoop {
    /// KIP-951: NOT_LEADER_OR_FOLLOWER naming the partition's current leader
    /// (Produce v10+): the batch and those after it go to that leader's sink
    /// at once, with no backoff and without waiting for metadata, keeping
    /// their sequence numbers (the partition's buffer moves, as for a leader
    /// change from metadata). Only a leader epoch newer than the one known,
    /// and a broker the client can reach (known, or just learned from the
    /// response's node endpoints), are followed. Returns whether the batch
    /// moved. As Java's `Sender.handleProduceResponse` with
    /// `Metadata.updatePartitionLeadership` (and no retry backoff for a
    /// batch whose leader changed, `RecordAccumulator`), and kgo's
    /// `kip951move`.
    pub(super) fn follow_leader_hint(
        &mut self,
        rb: &Arc<RecBuf>,
        batch: u64,
        pr: &PartitionProduceResponse,
    ) -> bool {
        let (leader, epoch) = (
            pr.current_leader.leader_id.0,
            pr.current_leader.leader_epoch,
        );
        if leader < 0
            || epoch < 0
            || leader == self.sink.broker
            || epoch <= rb.inner.lock().leader_epoch
            || self.p.cluster.handle(leader).is_none()
        {
            return false;
        }
        klog!(self.logger(), Info, "following a leader hint", "topic" => rb.topic, "partition" => rb.partition, "from" => self.sink.broker, "leader" => leader, "epoch" => epoch);
        // Landed first, then moved: the new sink, woken by the move, finds
        // nothing of this partition in flight and may send at once.
        self.retry(rb, batch, false, false);
        self.p.set_leader(rb, leader, epoch);
        true
    }

    /// Makes the brokers a KIP-951 response names (the leaders of its
    /// hints) reachable before the hints are followed.
    pub(super) fn learn_brokers(&self, resp: &ProduceResponse) {
        for ep in &resp.node_endpoints {
            let rack = ep.rack.as_deref();
            (self.p.cluster).learn_broker(ep.node_id.0, &ep.host, ep.port, rack);
        }
    }
}

/// Whether a reply is for an older attempt of its batch than the latest:
/// the batch was resent since (after a KIP-951 move, the new leader may be
/// sent it before the old leader's later answers are read). The latest
/// attempt's answer decides; acting on the old one would land a batch that
/// is in flight elsewhere.
pub(super) fn stale(rb: &RecBuf, batch: u64, tries: u32) -> bool {
    let g = rb.inner.lock();
    g.batches
        .iter()
        .find(|b| b.id == batch)
        .is_some_and(|b| b.tries != tries)
}
