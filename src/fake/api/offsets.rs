//! ListOffsets and OffsetForLeaderEpoch.

use crate::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use crate::messages::offset_for_leader_epoch_response::{
    EpochEndOffset, OffsetForLeaderTopicResult,
};
use crate::messages::*;

use super::{check_leader, Ctx};
use crate::fake::codes;
use crate::fake::partition::Partition;

/// ListOffsets timestamps with a special meaning (Java `ListOffsetsRequest`).
const LATEST: i64 = -1;
const EARLIEST: i64 = -2;
const MAX_TIMESTAMP: i64 = -3;
const EARLIEST_LOCAL: i64 = -4;
const LATEST_TIERED: i64 = -5;

/// Answers one partition: (offset, timestamp, leader epoch). LATEST is
/// the last stable offset for read_committed (Java
/// `Partition.fetchOffsetForTimestamp` with `IsolationLevel.READ_COMMITTED`).
fn lookup(p: &Partition, ts: i64, committed: bool) -> (i64, i64, i32) {
    match ts {
        EARLIEST | EARLIEST_LOCAL => (p.log_start, -1, p.epoch_at(p.log_start)),
        LATEST if committed => (p.last_stable_offset(), -1, p.leader_epoch),
        LATEST => (p.high_watermark(), -1, p.leader_epoch),
        // No tiered storage: everything is local.
        LATEST_TIERED => (-1, -1, -1),
        MAX_TIMESTAMP => p.max_timestamp_offset().unwrap_or((-1, -1, -1)),
        _ => p.offset_for_timestamp(ts).unwrap_or((-1, -1, -1)),
    }
}

/// ListOffsets: earliest (-2), latest (-1), max timestamp (-3) and by time.
pub(super) fn list_offsets(
    ctx: &Ctx<'_>,
    req: &ListOffsetsRequest,
    version: i16,
) -> ListOffsetsResponse {
    let bench = ctx.shared.settings.bench.is_some();
    let st = ctx.shared.lock();
    let topics = req
        .topics
        .iter()
        .map(|t| {
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    let mut r = ListOffsetsPartitionResponse::default()
                        .with_partition_index(p.partition_index);
                    if version >= 4 {
                        r.leader_epoch = -1;
                    }
                    let Some(part) = st
                        .topics
                        .get(t.name.as_str())
                        .and_then(|x| x.partition(p.partition_index))
                    else {
                        r.error_code = codes::UNKNOWN_TOPIC_OR_PARTITION;
                        return r;
                    };
                    if let Err(code) = check_leader(part, ctx.broker, p.current_leader_epoch) {
                        r.error_code = code;
                        return r;
                    }
                    let (offset, ts, epoch) = if bench {
                        (0, -1, part.leader_epoch)
                    } else {
                        lookup(part, p.timestamp, req.isolation_level == 1)
                    };
                    if version == 0 {
                        // v0 answers a list (Java 0.10's `fetchOffsetsBefore`
                        // with max_num_offsets 1): the one offset found.
                        r.old_style_offsets = (offset >= 0).then_some(offset).into_iter().collect();
                        return r;
                    }
                    r.offset = offset;
                    r.timestamp = ts;
                    if version >= 4 {
                        r.leader_epoch = epoch;
                    }
                    r
                })
                .collect();
            ListOffsetsTopicResponse::default()
                .with_name(t.name.clone())
                .with_partitions(partitions)
        })
        .collect();
    ListOffsetsResponse::default().with_topics(topics)
}

/// ListOffsets with `code` on every partition.
pub(super) fn list_offsets_error(req: &ListOffsetsRequest, code: i16) -> ListOffsetsResponse {
    let topics = req
        .topics
        .iter()
        .map(|t| {
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    ListOffsetsPartitionResponse::default()
                        .with_partition_index(p.partition_index)
                        .with_error_code(code)
                        .with_timestamp(-1)
                        .with_offset(-1)
                })
                .collect();
            ListOffsetsTopicResponse::default()
                .with_name(t.name.clone())
                .with_partitions(partitions)
        })
        .collect();
    ListOffsetsResponse::default().with_topics(topics)
}

/// OffsetForLeaderEpoch (KIP-101/KIP-320): the end offset of an epoch.
pub(super) fn offset_for_leader_epoch(
    ctx: &Ctx<'_>,
    req: &OffsetForLeaderEpochRequest,
) -> OffsetForLeaderEpochResponse {
    let st = ctx.shared.lock();
    let topics = req
        .topics
        .iter()
        .map(|t| {
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    let r = EpochEndOffset::default()
                        .with_partition(p.partition)
                        .with_leader_epoch(-1)
                        .with_end_offset(-1);
                    let Some(part) = st
                        .topics
                        .get(t.topic.as_str())
                        .and_then(|x| x.partition(p.partition))
                    else {
                        return r.with_error_code(codes::UNKNOWN_TOPIC_OR_PARTITION);
                    };
                    if let Err(code) = check_leader(part, ctx.broker, p.current_leader_epoch) {
                        return r.with_error_code(code);
                    }
                    let (epoch, end) = part.end_offset_for(p.leader_epoch);
                    r.with_leader_epoch(epoch).with_end_offset(end)
                })
                .collect();
            OffsetForLeaderTopicResult::default()
                .with_topic(t.topic.clone())
                .with_partitions(partitions)
        })
        .collect();
    OffsetForLeaderEpochResponse::default().with_topics(topics)
}

/// OffsetForLeaderEpoch with `code` on every partition.
pub(super) fn offset_for_leader_epoch_error(
    req: &OffsetForLeaderEpochRequest,
    code: i16,
) -> OffsetForLeaderEpochResponse {
    let topics = req
        .topics
        .iter()
        .map(|t| {
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    EpochEndOffset::default()
                        .with_partition(p.partition)
                        .with_error_code(code)
                        .with_leader_epoch(-1)
                        .with_end_offset(-1)
                })
                .collect();
            OffsetForLeaderTopicResult::default()
                .with_topic(t.topic.clone())
                .with_partitions(partitions)
        })
        .collect();
    OffsetForLeaderEpochResponse::default().with_topics(topics)
}
