//! The idempotent producer id and epoch, with KIP-360 epoch bumps.
//!
//! Sequence numbers are per partition and per (producer id, epoch). When a
//! stamped batch has to be failed (a sequence hole) or the broker lost our
//! producer state (UNKNOWN_PRODUCER_ID, OUT_OF_ORDER_SEQUENCE_NUMBER on the
//! first in-flight batch), the producer bumps its epoch: InitProducerId with
//! the current id and epoch (InitProducerId v3+, KIP-360), which resets every
//! partition's sequence to 0. As the Java producer's `TransactionManager`
//! does, the bump waits until no batch is in flight anywhere, so that no
//! batch of the old epoch can land after one of the new epoch.

use parking_lot::Mutex;

use crate::cluster::Cluster;
use crate::error::{Error, ErrorCode, Result};
use crate::messages::{InitProducerIdRequest, ProducerId, StrBytes, TransactionalId};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ProducerIdEpoch {
    pub(crate) id: i64,
    pub(crate) epoch: i16,
    /// Bumped on every new id or epoch; partitions compare it to know when
    /// to reset their sequences.
    pub(crate) generation: u64,
}

#[derive(Default)]
struct Inner {
    current: Option<ProducerIdEpoch>,
    bump_needed: bool,
    fatal: Option<Error>,
    generation: u64,
}

#[derive(Default)]
pub(crate) struct IdState {
    inner: Mutex<Inner>,
    /// Held across the InitProducerId request, so that sinks asking at the
    /// same time share one answer instead of each getting a new id.
    loading: Mutex<()>,
}

impl IdState {
    /// The current id and epoch, if loaded and no bump is pending.
    pub(crate) fn usable(&self) -> Option<ProducerIdEpoch> {
        let g = self.inner.lock();
        if g.bump_needed {
            return None;
        }
        g.current
    }

    pub(crate) fn needs_bump(&self) -> bool {
        let g = self.inner.lock();
        g.bump_needed || g.current.is_none()
    }

    /// Asks for an epoch bump before more batches are stamped.
    pub(crate) fn request_bump(&self) {
        self.inner.lock().bump_needed = true;
    }

    /// The fatal error that stopped the producer id, if any.
    pub(crate) fn fatal(&self) -> Option<Error> {
        self.inner.lock().fatal.clone()
    }

    /// Stops the producer id for good (fenced, unauthorized).
    pub(crate) fn set_fatal(&self, e: Error) {
        let mut g = self.inner.lock();
        if g.fatal.is_none() {
            g.fatal = Some(e);
        }
    }

    /// The loaded id and epoch, even when a bump is pending.
    pub(crate) fn current(&self) -> Option<ProducerIdEpoch> {
        self.inner.lock().current
    }

    /// Loads the id (or bumps the epoch) with InitProducerId. Call only when
    /// no batch is in flight. Blocks on the request; retriable errors are
    /// retried by the client's request path.
    ///
    /// `txn`: the transactional id and timeout of a transactional producer;
    /// for one, every load bumps the epoch (the coordinator aborts what the
    /// previous epoch left open, Java's `TransactionCoordinator`).
    pub(crate) fn load(
        &self,
        client: &Cluster,
        txn: Option<(&str, i32)>,
    ) -> Result<ProducerIdEpoch> {
        let _one_at_a_time = self.loading.lock();
        let (prev, bump) = {
            let g = self.inner.lock();
            if let Some(e) = &g.fatal {
                return Err(e.clone());
            }
            if let (Some(c), false) = (g.current, g.bump_needed) {
                return Ok(c);
            }
            (g.current, g.bump_needed)
        };
        // The schema's default transactional id is "" (not null), which the
        // broker rejects with INVALID_REQUEST: an idempotent producer has none.
        let mut req = match txn {
            Some((id, timeout_ms)) => InitProducerIdRequest::default()
                .with_transactional_id(Some(TransactionalId(StrBytes::from_string(id.to_string()))))
                .with_transaction_timeout_ms(timeout_ms),
            None => InitProducerIdRequest::default()
                .with_transactional_id(None)
                .with_transaction_timeout_ms(-1),
        };
        req.producer_id = ProducerId(-1);
        req.producer_epoch = -1;
        // KIP-360: bump our own epoch when the broker can (v3+); an older
        // broker gets a request for a new id, which resets sequences too.
        let v3 = client.any_broker_supports(22, 3);
        if let (true, Some(p), true) = (bump, prev, v3) {
            req.producer_id = ProducerId(p.id);
            req.producer_epoch = p.epoch;
        }
        let resp = match client.request(req, None) {
            // Kafka 0.10 and older: no producer ids, so no transactions.
            // (The coordinator lookup fails first: FindCoordinator v1.)
            Err(Error::BrokerTooOld { key: 22 | 10, .. }) if txn.is_some() => {
                return Err(Error::Transaction(
                    "transactions need InitProducerId (Kafka 0.11+, KIP-98), which the broker does not support".into(),
                ))
            }
            r => r?,
        };
        if let Some(e) = Error::from_code(resp.error_code) {
            let fatal = matches!(
                e.kafka_code(),
                Some(
                    ErrorCode::ClusterAuthorizationFailed
                        | ErrorCode::TransactionalIdAuthorizationFailed
                        | ErrorCode::ProducerFenced
                        | ErrorCode::InvalidProducerEpoch
                )
            );
            if fatal {
                self.inner.lock().fatal = Some(e.clone());
            }
            return Err(e);
        }
        let mut g = self.inner.lock();
        g.generation += 1;
        let next = ProducerIdEpoch {
            id: resp.producer_id.0,
            epoch: resp.producer_epoch,
            generation: g.generation,
        };
        g.current = Some(next);
        g.bump_needed = false;
        Ok(next)
    }
}
