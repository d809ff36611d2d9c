//! Coordinators. Today: FindCoordinator. This is where the group
//! coordinator (JoinGroup, SyncGroup, Heartbeat, LeaveGroup, OffsetCommit,
//! OffsetFetch) and the transaction coordinator (transactional
//! InitProducerId, AddPartitionsToTxn, EndTxn, TxnOffsetCommit) will live;
//! until then those APIs are not advertised and a request for one closes
//! the connection.

use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::*;

use super::api::meta::{s, HOST};
use super::api::Ctx;
use super::codes;

/// Partitions of Java's `__consumer_offsets` / `__transaction_state`.
const COORDINATOR_PARTITIONS: i32 = 50;

/// Java `String.hashCode` over UTF-16 code units.
fn java_hash(key: &str) -> i32 {
    key.encode_utf16()
        .fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(i32::from(c)))
}

/// The broker coordinating `key`: the leader of partition
/// `abs(hash) % 50` of the internal topic, whose partitions are spread
/// round-robin over the brokers (Java `GroupCoordinator.partitionFor`).
pub(crate) fn coordinator_for(key: &str, brokers: i32) -> i32 {
    let partition = (java_hash(key) & 0x7fff_ffff) % COORDINATOR_PARTITIONS;
    partition % brokers.max(1)
}

/// FindCoordinator for groups (0) and transactions (1).
pub(crate) fn find(
    ctx: &Ctx<'_>,
    req: &FindCoordinatorRequest,
    version: i16,
) -> FindCoordinatorResponse {
    let shared = ctx.shared;
    let answer = |key: &str| -> Coordinator {
        let c = Coordinator::default().with_key(s(key));
        if !(0..=1).contains(&req.key_type) {
            return c
                .with_error_code(codes::INVALID_REQUEST)
                .with_error_message(Some(s(format!("Unsupported key type {}", req.key_type))))
                .with_node_id(BrokerId(-1))
                .with_port(-1);
        }
        let node = coordinator_for(key, shared.settings.brokers);
        if !shared.alive(node) {
            return c
                .with_error_code(codes::COORDINATOR_NOT_AVAILABLE)
                .with_node_id(BrokerId(-1))
                .with_port(-1);
        }
        c.with_node_id(BrokerId(node))
            .with_host(s(HOST))
            .with_port(shared.port(node))
    };
    if version >= 4 {
        let coordinators = req
            .coordinator_keys
            .iter()
            .map(|k| answer(k.as_str()))
            .collect();
        return FindCoordinatorResponse::default().with_coordinators(coordinators);
    }
    let c = answer(req.key.as_str());
    let mut resp = FindCoordinatorResponse::default()
        .with_error_code(c.error_code)
        .with_node_id(c.node_id)
        .with_host(c.host)
        .with_port(c.port);
    if version >= 1 {
        resp.error_message = c.error_message;
    }
    resp
}

/// FindCoordinator with `code` for every key.
pub(crate) fn find_error(
    req: &FindCoordinatorRequest,
    version: i16,
    code: i16,
) -> FindCoordinatorResponse {
    if version >= 4 {
        let coordinators = req
            .coordinator_keys
            .iter()
            .map(|k| {
                Coordinator::default()
                    .with_key(k.clone())
                    .with_error_code(code)
                    .with_node_id(BrokerId(-1))
                    .with_port(-1)
            })
            .collect();
        return FindCoordinatorResponse::default().with_coordinators(coordinators);
    }
    FindCoordinatorResponse::default()
        .with_error_code(code)
        .with_node_id(BrokerId(-1))
        .with_port(-1)
}

/// InitProducerId with a transactional id: no transaction coordinator yet,
/// so the answer is the retriable COORDINATOR_NOT_AVAILABLE.
pub(crate) fn init_transactional(resp: InitProducerIdResponse) -> InitProducerIdResponse {
    resp.with_error_code(codes::COORDINATOR_NOT_AVAILABLE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_string_hash() {
        // Values from Java's "...".hashCode().
        assert_eq!(java_hash(""), 0);
        assert_eq!(java_hash("a"), 97);
        assert_eq!(java_hash("group"), 98_629_247);
        assert_eq!(java_hash("hello world"), 1_794_106_052);
        assert!((0..3).contains(&coordinator_for("any", 3)));
    }
}
