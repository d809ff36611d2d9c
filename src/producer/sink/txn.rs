//! The sink's part in transactions: what to do before a transactional drain.

use std::sync::Arc;
use std::time::Instant;

use super::SinkLoop;
use crate::producer::recbuf::RecBuf;

impl SinkLoop {
    /// Before a transactional drain: fails what is unsent once the
    /// transaction can only abort, and adds the partitions with unsent
    /// batches to the transaction in one AddPartitionsToTxn. False when
    /// nothing can be sent.
    pub(super) fn txn_prepare(&mut self, recbufs: &[Arc<RecBuf>]) -> bool {
        let Some(txn) = self.p.txn.as_ref() else {
            return true;
        };
        if let Some(e) = txn.failure().or_else(|| self.p.id.fatal()) {
            for rb in recbufs {
                rb.fail_pending(&self.p, e.clone());
            }
            return false;
        }
        if self.p.id.usable().is_none() {
            return false;
        }
        let unsent: Vec<Arc<RecBuf>> = recbufs
            .iter()
            .filter(|rb| {
                let g = rb.inner.lock();
                g.batches.len() > g.inflight
                    && g.sink.as_ref().is_some_and(|s| Arc::ptr_eq(s, &self.sink))
            })
            .cloned()
            .collect();
        let new = txn.not_added(&unsent);
        if !new.is_empty() && self.add_backoff.is_none_or(|t| Instant::now() >= t) {
            self.add_backoff = self.p.txn_add_partitions(&new);
        }
        true
    }
}
