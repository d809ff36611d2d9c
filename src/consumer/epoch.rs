//! KIP-320 truncation detection with OffsetForLeaderEpoch, for brokers whose
//! Fetch is older than v12 (newer fetches carry the diverging epoch
//! themselves, see `read.rs`).
//!
//! A cursor is validated when its leader epoch grows (a new leader, or an
//! unclean election): the leader says where our last fetched epoch ends; if
//! that is below our position, records were lost: the cursor moves back to
//! the epoch's end and an [`Error::DataLoss`] is injected (Java's
//! `SubscriptionState.maybeCompleteValidation`).

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::source::{cursor_backoff, is_leader_error, version_for};
use super::{BufPart, Buffered, Consumer, Cursor, DataLoss};
use crate::client::Client;
use crate::error::{Error, ErrorCode};
use crate::logger::klog;
use crate::messages::offset_for_leader_epoch_request::{
    OffsetForLeaderPartition, OffsetForLeaderTopic,
};
use crate::messages::{ApiKey, BrokerId, OffsetForLeaderEpochRequest, TopicName};

const TIMEOUT: Duration = Duration::from_secs(10);

/// Whether fetches to `broker` carry the diverging epoch (Fetch v12+).
fn fetch_detects_divergence(client: &Client, broker: i32) -> bool {
    let key = ApiKey::Fetch as i16;
    version_for(client, broker, key, 12).is_some_and(|v| v >= 12)
}

/// Validates the positions of `broker`'s cursors that need it.
pub(crate) fn validate(c: &Consumer, client: &Client, broker: i32, cursors: &[Arc<Cursor>]) {
    let now = Instant::now();
    let mut todo = Vec::new();
    for cur in cursors {
        let st = cur.st.lock();
        if st.validate
            && st.source == broker
            && st.pending.is_none()
            && st.backoff_until.is_none_or(|t| now >= t)
        {
            todo.push((
                cur.clone(),
                st.offset,
                st.last_epoch,
                st.leader_epoch,
                st.gen,
            ));
        }
    }
    if todo.is_empty() {
        return;
    }
    let Some(h) = client.handle(broker) else {
        return;
    };
    if fetch_detects_divergence(client, broker) {
        for (cur, ..) in &todo {
            cur.st.lock().validate = false;
        }
        return;
    }
    let version = version_for(
        client,
        broker,
        ApiKey::OffsetForLeaderEpoch as i16,
        i16::MAX,
    )
    .unwrap_or(0);
    let mut by_topic: HashMap<Arc<str>, Vec<OffsetForLeaderPartition>> = HashMap::new();
    for (cur, _, last, leader_epoch, _) in &todo {
        by_topic.entry(cur.topic.clone()).or_default().push(
            OffsetForLeaderPartition::default()
                .with_partition(cur.partition)
                .with_current_leader_epoch(if version >= 2 { *leader_epoch } else { -1 })
                .with_leader_epoch(*last),
        );
    }
    let req = OffsetForLeaderEpochRequest::default()
        .with_replica_id(BrokerId(if version >= 3 { -1 } else { -2 }))
        .with_topics(
            by_topic
                .into_iter()
                .map(|(t, ps)| {
                    OffsetForLeaderTopic::default()
                        .with_topic(TopicName(t.to_string().into()))
                        .with_partitions(ps)
                })
                .collect(),
        );
    let resp = match h.send(req, Some(Instant::now() + TIMEOUT)) {
        Ok(r) => r,
        Err(e) => {
            klog!(client.inner.cfg.logger.as_deref(), Warn, "offset for leader epoch failed", "broker" => broker, "err" => e);
            for (cur, ..) in &todo {
                cursor_backoff(Some(client), cur);
            }
            return;
        }
    };
    let mut answers = HashMap::new();
    for t in resp.topics {
        let name: Arc<str> = Arc::from(t.topic.0.as_str());
        for p in t.partitions {
            answers.insert((name.clone(), p.partition), p);
        }
    }
    let mut losses = Vec::new();
    let mut refresh = false;
    for (cur, offset, _, _, gen) in todo {
        let Some(a) = answers.get(&(cur.topic.clone(), cur.partition)) else {
            cursor_backoff(Some(client), &cur);
            continue;
        };
        if let Some(code) = ErrorCode::from_code(a.error_code) {
            refresh |= is_leader_error(code);
            cursor_backoff(Some(client), &cur);
            continue;
        }
        let mut st = cur.st.lock();
        if st.gen != gen || st.offset != offset {
            continue; // moved meanwhile: validated again if needed
        }
        st.validate = false;
        if a.end_offset >= 0 && a.end_offset < offset {
            st.offset = a.end_offset;
            st.last_epoch = a.leader_epoch;
            st.gen += 1;
            drop(st);
            klog!(client.inner.cfg.logger.as_deref(), Warn, "data loss detected", "topic" => cur.topic, "partition" => cur.partition, "consumed_to" => offset, "reset_to" => a.end_offset);
            losses.push(BufPart {
                topic: cur.topic.clone(),
                partition: cur.partition,
                cursor: None,
                gen: 0,
                from: -1,
                next_offset: -1,
                next_epoch: -1,
                records: VecDeque::new(),
                err: Some(Error::DataLoss(Box::new(DataLoss {
                    topic: cur.topic.to_string(),
                    partition: cur.partition,
                    consumed_to: offset,
                    reset_to: a.end_offset,
                }))),
                high_watermark: -1,
                last_stable_offset: -1,
                log_start_offset: -1,
            });
        }
    }
    if refresh {
        client.trigger_metadata_now();
    }
    if !losses.is_empty() {
        c.push(
            Buffered {
                source: None,
                parts: losses,
                charged: 0,
            },
            &[],
        );
    }
}
