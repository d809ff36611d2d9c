//! Fetch: long polling, KIP-74 size limits, KIP-227 sessions, leader epoch
//! checks and divergence (KIP-320), following Java's `ReplicaManager.fetchMessages`
//! and `FetchSession`.

use std::collections::BTreeSet;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::messages::fetch_response::{
    AbortedTransaction, EpochEndOffset, FetchableTopicResponse, LeaderIdAndEpoch, NodeEndpoint,
    PartitionData,
};
use crate::messages::*;
use bytes::{Bytes, BytesMut};

use super::meta::{s, topic_name, HOST};
use super::{check_leader, Ctx};
use crate::fake::cluster::{to_uuid, Shared, State};
use crate::fake::codes;
use crate::fake::session::{CachedPartition, SessionError};

/// Java's broker-side `fetch.max.bytes` cap.
const BROKER_FETCH_MAX_BYTES: i32 = 57_671_680;
/// Longest uninterrupted wait, so a stopping broker is noticed.
const WAIT_SLICE: Duration = Duration::from_millis(100);

/// One partition to read, resolved from the request or the session.
#[derive(Debug, Clone)]
struct Item {
    cached: CachedPartition,
    /// UNKNOWN_TOPIC_OR_PARTITION / UNKNOWN_TOPIC_ID when unresolved.
    unknown: i16,
}

/// What one partition read produced.
struct Read {
    data: PartitionData,
    leader: Option<i32>,
}

enum Mode {
    Sessionless,
    New,
    Incremental(i32),
}

fn resolve(st: &State, req: &FetchRequest, version: i16) -> (Vec<Item>, Vec<(String, u128, i32)>) {
    let by_id = version >= 13;
    let name_of = |name: &TopicName, id: u128| -> (String, u128, i16) {
        if by_id {
            match st.name_of(id) {
                Some(n) => (n.to_string(), id, 0),
                None => (String::new(), id, codes::UNKNOWN_TOPIC_ID),
            }
        } else {
            let n = name.as_str();
            match st.topics.get(n) {
                Some(t) => (n.to_string(), t.id, 0),
                None => (n.to_string(), 0, codes::UNKNOWN_TOPIC_OR_PARTITION),
            }
        }
    };
    let mut items = Vec::new();
    for t in &req.topics {
        let (name, id, unknown) = name_of(&t.topic, t.topic_id.as_u128());
        for p in &t.partitions {
            let mut c = CachedPartition::new(name.clone(), id, p.partition);
            c.fetch_offset = p.fetch_offset;
            c.max_bytes = p.partition_max_bytes;
            c.current_leader_epoch = p.current_leader_epoch;
            c.last_fetched_epoch = p.last_fetched_epoch;
            items.push(Item { cached: c, unknown });
        }
    }
    let forgotten = req
        .forgotten_topics_data
        .iter()
        .flat_map(|t| {
            let (name, id, _) = name_of(&t.topic, t.topic_id.as_u128());
            t.partitions.iter().map(move |&p| (name.clone(), id, p))
        })
        .collect();
    (items, forgotten)
}

/// Fetch. Waits up to `max_wait_ms` for `min_bytes`, waking on every produce.
pub(super) fn fetch(ctx: &Ctx<'_>, req: &FetchRequest, version: i16) -> FetchResponse {
    let shared = ctx.shared;
    let counters = &shared.session_counters;
    let (requested, forgotten) = resolve(&shared.lock(), req, version);
    let (mode, items) = match (req.session_id, req.session_epoch) {
        (id, -1) | (id, 0) => {
            if id != 0 {
                shared.sessions[ctx.broker as usize].lock().remove(id);
            }
            counters.full.fetch_add(1, Ordering::Relaxed);
            let mode = if req.session_epoch == 0 {
                Mode::New
            } else {
                Mode::Sessionless
            };
            (mode, requested)
        }
        (id, epoch) => {
            let mut cache = shared.sessions[ctx.broker as usize].lock();
            match cache.checkout(id, epoch) {
                Ok(session) => {
                    for it in requested {
                        match session.find(&it.cached.topic, it.cached.partition) {
                            Some(i) => {
                                let c = &mut session.partitions[i];
                                c.fetch_offset = it.cached.fetch_offset;
                                c.max_bytes = it.cached.max_bytes;
                                c.current_leader_epoch = it.cached.current_leader_epoch;
                                c.last_fetched_epoch = it.cached.last_fetched_epoch;
                            }
                            None => session.partitions.push(it.cached),
                        }
                    }
                    session.partitions.retain(|c| {
                        !forgotten
                            .iter()
                            .any(|(n, _, p)| *p == c.partition && *n == c.topic)
                    });
                    counters.incremental.fetch_add(1, Ordering::Relaxed);
                    let st = shared.lock();
                    let items = session
                        .partitions
                        .iter()
                        .map(|c| {
                            let unknown =
                                if st.topics.get(&c.topic).is_some_and(|t| t.id == c.topic_id) {
                                    0
                                } else if version >= 13 {
                                    codes::UNKNOWN_TOPIC_ID
                                } else {
                                    codes::UNKNOWN_TOPIC_OR_PARTITION
                                };
                            Item {
                                cached: c.clone(),
                                unknown,
                            }
                        })
                        .collect();
                    (Mode::Incremental(id), items)
                }
                Err(e) => {
                    counters.errors.fetch_add(1, Ordering::Relaxed);
                    let code = match e {
                        SessionError::NotFound => codes::FETCH_SESSION_ID_NOT_FOUND,
                        SessionError::InvalidEpoch => codes::INVALID_FETCH_SESSION_EPOCH,
                    };
                    return FetchResponse::default().with_error_code(code);
                }
            }
        }
    };
    let reads = read_with_wait(ctx, req, version, &items);
    let mut leaders = BTreeSet::new();
    let mut out: Vec<(Item, PartitionData)> = Vec::with_capacity(items.len());
    let session_id = match mode {
        Mode::Sessionless => {
            out.extend(items.into_iter().zip(reads.into_iter().map(|r| {
                leaders.extend(r.leader);
                r.data
            })));
            0
        }
        Mode::New => {
            let cached = items
                .iter()
                .zip(&reads)
                .map(|(it, r)| {
                    let mut c = it.cached.clone();
                    c.sent_hw = r.data.high_watermark;
                    c.sent_lso = r.data.last_stable_offset;
                    c.sent_log_start = r.data.log_start_offset;
                    c
                })
                .collect();
            let (id, evicted) = shared.sessions[ctx.broker as usize].lock().create(cached);
            if id != 0 {
                counters.created.fetch_add(1, Ordering::Relaxed);
            }
            if evicted {
                counters.evicted.fetch_add(1, Ordering::Relaxed);
            }
            out.extend(items.into_iter().zip(reads.into_iter().map(|r| {
                leaders.extend(r.leader);
                r.data
            })));
            id
        }
        Mode::Incremental(id) => {
            let mut cache = shared.sessions[ctx.broker as usize].lock();
            let session = cache.get_mut(id);
            let mut moved = Vec::new();
            let mut session = session;
            for (it, r) in items.into_iter().zip(reads) {
                let changed = r.data.error_code != 0
                    || r.data.records.as_ref().is_some_and(|b| !b.is_empty())
                    || r.data.high_watermark != it.cached.sent_hw
                    || r.data.last_stable_offset != it.cached.sent_lso
                    || r.data.log_start_offset != it.cached.sent_log_start
                    || r.data.diverging_epoch.epoch != -1;
                if !changed {
                    continue;
                }
                if let Some(s) = session.as_deref_mut() {
                    if let Some(i) = s.find(&it.cached.topic, it.cached.partition) {
                        s.partitions[i].sent_hw = r.data.high_watermark;
                        s.partitions[i].sent_lso = r.data.last_stable_offset;
                        s.partitions[i].sent_log_start = r.data.log_start_offset;
                        if r.data.records.as_ref().is_some_and(|b| !b.is_empty()) {
                            // Java moves partitions that returned data to the
                            // end, so the next fetch starts with the others.
                            moved.push(s.partitions.remove(i));
                        }
                    }
                }
                leaders.extend(r.leader);
                out.push((it, r.data));
            }
            if let Some(s) = session {
                s.partitions.extend(moved);
            }
            id
        }
    };
    let mut resp = FetchResponse::default().with_session_id(session_id);
    for (it, data) in out {
        let same = resp
            .responses
            .last()
            .is_some_and(|t: &FetchableTopicResponse| {
                if version >= 13 {
                    t.topic_id.as_u128() == it.cached.topic_id
                } else {
                    t.topic.as_str() == it.cached.topic
                }
            });
        if !same {
            let mut t = FetchableTopicResponse::default();
            if version >= 13 {
                t.topic_id = to_uuid(it.cached.topic_id);
            } else {
                t.topic = topic_name(&it.cached.topic);
            }
            resp.responses.push(t);
        }
        if let Some(t) = resp.responses.last_mut() {
            t.partitions.push(data);
        }
    }
    if version >= 16 {
        resp.node_endpoints = endpoints(shared, &leaders);
    }
    resp
}

fn endpoints(shared: &Shared, ids: &BTreeSet<i32>) -> Vec<NodeEndpoint> {
    ids.iter()
        .filter(|&&id| shared.alive(id))
        .map(|&id| {
            NodeEndpoint::default()
                .with_node_id(BrokerId(id))
                .with_host(s(HOST))
                .with_port(shared.port(id))
        })
        .collect()
}

/// Reads every item, waiting on the cluster condvar until `min_bytes`
/// accumulate, an error shows up, or `max_wait_ms` passes (Java `DelayedFetch`).
fn read_with_wait(ctx: &Ctx<'_>, req: &FetchRequest, version: i16, items: &[Item]) -> Vec<Read> {
    let shared = ctx.shared;
    let wait = Duration::from_millis(u64::try_from(req.max_wait_ms).unwrap_or(0));
    let deadline = Instant::now() + wait;
    let min_bytes = usize::try_from(req.min_bytes).unwrap_or(0);
    let mut st = shared.lock();
    loop {
        let reads = read_all(ctx, &st, req, version, items);
        let bytes: usize = reads
            .iter()
            .map(|r| r.data.records.as_ref().map_or(0, Bytes::len))
            .sum();
        let error = reads.iter().any(|r| r.data.error_code != 0);
        let now = Instant::now();
        let stopping = ctx.stop.load(Ordering::Acquire) || shared.closed.load(Ordering::Acquire);
        if bytes >= min_bytes || error || items.is_empty() || now >= deadline || stopping {
            return reads;
        }
        shared
            .data_cv
            .wait_until(&mut st, deadline.min(now + WAIT_SLICE));
    }
}

fn read_all(
    ctx: &Ctx<'_>,
    st: &State,
    req: &FetchRequest,
    version: i16,
    items: &[Item],
) -> Vec<Read> {
    let mut remaining =
        usize::try_from(req.max_bytes.clamp(0, BROKER_FETCH_MAX_BYTES)).unwrap_or(0);
    // KIP-74: the first batch of the first non-empty partition is returned
    // whole even past the limits, so a consumer can always make progress.
    let mut min_one = true;
    items
        .iter()
        .map(|it| {
            let r = read_one(ctx, st, req, version, it, remaining, min_one);
            let n = r.data.records.as_ref().map_or(0, Bytes::len);
            if n > 0 {
                min_one = false;
                remaining = remaining.saturating_sub(n);
            }
            r
        })
        .collect()
}

fn read_one(
    ctx: &Ctx<'_>,
    st: &State,
    req: &FetchRequest,
    version: i16,
    it: &Item,
    remaining: usize,
    min_one: bool,
) -> Read {
    let c = &it.cached;
    let mut data = PartitionData::default()
        .with_partition_index(c.partition)
        .with_high_watermark(-1)
        .with_last_stable_offset(-1)
        .with_log_start_offset(-1)
        .with_records(Some(Bytes::new()));
    // Java sends a null list to read_uncommitted fetches.
    data.aborted_transactions = (req.isolation_level == 1).then(Vec::new);
    let fail = |mut data: PartitionData, code: i16| {
        data.error_code = code;
        Read { data, leader: None }
    };
    if it.unknown != 0 {
        return fail(data, it.unknown);
    }
    let Some(part) = st
        .topics
        .get(&c.topic)
        .and_then(|t| t.partition(c.partition))
    else {
        return fail(data, codes::UNKNOWN_TOPIC_OR_PARTITION);
    };
    if let Err(code) = check_leader(part, ctx.broker, c.current_leader_epoch) {
        let mut r = fail(data, code);
        if version >= 12
            && matches!(
                code,
                codes::NOT_LEADER_OR_FOLLOWER | codes::FENCED_LEADER_EPOCH
            )
        {
            r.data.current_leader = LeaderIdAndEpoch::default()
                .with_leader_id(BrokerId(part.leader))
                .with_leader_epoch(part.leader_epoch);
            r.leader = Some(part.leader);
        }
        return r;
    }
    let limit = usize::try_from(c.max_bytes).unwrap_or(0).min(remaining);
    if let Some(bench) = &ctx.shared.bench_batch {
        let (records, count) = bench_read(bench, c.fetch_offset, limit, min_one);
        let hw = c.fetch_offset.max(0) + count;
        data = data
            .with_high_watermark(hw)
            .with_last_stable_offset(hw)
            .with_log_start_offset(0);
        data.records = Some(records);
        return Read { data, leader: None };
    }
    let hw = part.high_watermark();
    let lso = part.last_stable_offset();
    data = data
        .with_high_watermark(hw)
        .with_last_stable_offset(lso)
        .with_log_start_offset(part.log_start);
    if version >= 12 && c.last_fetched_epoch >= 0 {
        // Java `Partition.validateFetchOffsetAndMaybeGetDivergingEpoch`.
        let (epoch, end) = part.end_offset_for(c.last_fetched_epoch);
        if epoch < 0 || end < 0 {
            return fail(data, codes::OFFSET_OUT_OF_RANGE);
        }
        if epoch < c.last_fetched_epoch || end < c.fetch_offset {
            data.diverging_epoch = EpochEndOffset::default()
                .with_epoch(epoch)
                .with_end_offset(end);
            return Read { data, leader: None };
        }
    }
    if c.fetch_offset < part.log_start || c.fetch_offset > hw {
        return fail(data, codes::OFFSET_OUT_OF_RANGE);
    }
    // Java `FetchIsolation.TXN_COMMITTED`: a read_committed fetch stops at
    // the last stable offset and lists the aborted transactions its data
    // overlaps, so the consumer can drop their records.
    let committed = req.isolation_level == 1;
    let records = part.read(
        c.fetch_offset,
        limit,
        min_one,
        if committed { lso } else { hw },
    );
    if committed {
        let aborted = part
            .aborted_in_read(c.fetch_offset, records.len())
            .into_iter()
            .map(|(pid, first)| {
                AbortedTransaction::default()
                    .with_producer_id(ProducerId(pid))
                    .with_first_offset(first)
            })
            .collect();
        data.aborted_transactions = Some(aborted);
    }
    // Fetch v0-v3 (the Kafka 0.10 mode) reads message sets: magic 1 from
    // v2 (KIP-32), magic 0 before, down-converted as KafkaApis does for a
    // client too old for the stored format.
    let records = match version {
        0 | 1 => crate::fake::legacy::down_convert(&records, 0),
        2 | 3 => crate::fake::legacy::down_convert(&records, 1),
        _ => records,
    };
    data.records = Some(records);
    Read { data, leader: None }
}

/// Benchmark mode: copies of the pre-built batch with consecutive base
/// offsets from `offset`; returns the bytes and the record count.
fn bench_read(batch: &Bytes, offset: i64, limit: usize, min_one: bool) -> (Bytes, i64) {
    let per = crate::fake::batch::parse_header(batch).map_or(1, |h| i64::from(h.record_count));
    let mut n = limit / batch.len().max(1);
    if n == 0 && min_one {
        n = 1;
    }
    let mut out = BytesMut::with_capacity(n * batch.len());
    let mut base = offset.max(0);
    for _ in 0..n {
        out.extend_from_slice(&base.to_be_bytes());
        out.extend_from_slice(&batch[8..]);
        base += per;
    }
    (out.freeze(), per * n as i64)
}

/// Fetch with `code`: session errors top-level, anything else on every partition.
pub(super) fn fetch_error(req: &FetchRequest, version: i16, code: i16) -> FetchResponse {
    if matches!(
        code,
        codes::FETCH_SESSION_ID_NOT_FOUND | codes::INVALID_FETCH_SESSION_EPOCH
    ) {
        return FetchResponse::default().with_error_code(code);
    }
    let responses = req
        .topics
        .iter()
        .map(|t| {
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    PartitionData::default()
                        .with_partition_index(p.partition)
                        .with_error_code(code)
                        .with_high_watermark(-1)
                        .with_last_stable_offset(-1)
                        .with_log_start_offset(-1)
                        .with_records(Some(Bytes::new()))
                })
                .collect();
            let mut r = FetchableTopicResponse::default().with_partitions(partitions);
            if version >= 13 {
                r.topic_id = t.topic_id;
            } else {
                r.topic = t.topic.clone();
            }
            r
        })
        .collect();
    FetchResponse::default()
        .with_session_id(req.session_id.max(0))
        .with_responses(responses)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bench_read_patches_offsets() {
        let b = crate::fake::batch::encode_batch(0, 10, 5, 1);
        let (bytes, count) = bench_read(&b, 100, b.len() * 2 + 1, true);
        assert_eq!(count, 20);
        assert_eq!(bytes.len(), b.len() * 2);
        let second = crate::fake::batch::parse_header(&bytes[b.len()..]).unwrap();
        assert_eq!(second.base_offset, 110);
        assert_eq!(
            bench_read(&b, 0, 1, true).1,
            10,
            "KIP-74: one batch past the limit"
        );
        assert_eq!(bench_read(&b, 0, 1, false).1, 0);
    }
}
