//! KIP-320 truncation detection with OffsetForLeaderEpoch, for brokers whose
//! Fetch is older than v12 (newer fetches carry the diverging epoch
//! themselves, see `read.rs`).
//!
//! A cursor is validated when its leader epoch grows (a new leader, or an
//! unclean election): the leader says where our last fetched epoch ends; if
//! that is below our position, records were lost: the cursor moves back to
//! the epoch's end and an [`Error::DataLoss`] is injected (Java's
//! `SubscriptionState.maybeCompleteValidation`).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use crate::sync::worker::Inbox;

use super::source::{cursor_backoff, is_leader_error, Reply};
use super::{BufPart, Buffered, Consumer, Cursor, DataLoss};
use crate::cluster::Cluster;
use crate::error::{Error, ErrorCode, Result};
use crate::logger::klog;
use crate::messages::offset_for_leader_epoch_request::{
    OffsetForLeaderPartition, OffsetForLeaderTopic,
};
use crate::messages::offset_for_leader_epoch_response::EpochEndOffset;
use crate::messages::{
    ApiKey, BrokerId, OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse, TopicName,
};

/// Whether fetches to `broker` carry the diverging epoch (Fetch v12+).
fn fetch_detects_divergence(client: &Cluster, broker: i32) -> bool {
    let key = ApiKey::Fetch as i16;
    client.version_for(broker, key, 12).is_some_and(|v| v >= 12)
}

/// A cursor to validate: its position, epochs and generation when asked.
struct Todo {
    cur: Arc<Cursor>,
    offset: i64,
    last_epoch: i32,
    leader_epoch: i32,
    gen: u64,
}

/// One validation in flight; its reply reaches the source loop as
/// [`Reply::Epoch`].
pub(crate) struct Validating {
    pub(crate) id: u64,
    todo: Vec<Todo>,
}

/// Starts validating the positions of `broker`'s cursors that need it,
/// without waiting for the answer. `None` when nothing needs it.
pub(crate) fn start(
    c: &Consumer,
    broker: i32,
    cursors: &[Arc<Cursor>],
    id: u64,
    tx: &Inbox<Reply>,
) -> Option<Validating> {
    let client = &*c.cluster;
    let todo = collect(broker, cursors);
    if todo.is_empty() {
        return None;
    }
    let h = client.handle(broker)?;
    if fetch_detects_divergence(client, broker) {
        for t in &todo {
            t.cur.st.lock().validate = false;
        }
        return None;
    }
    let key = ApiKey::OffsetForLeaderEpoch as i16;
    let version = client.version_for(broker, key, i16::MAX).unwrap_or(0);
    let tx = tx.clone();
    // Every version the schemas know; negotiation picks the broker's.
    h.submit(request(version, &todo), (0, i16::MAX), move |res| {
        tx.send(Reply::Epoch(id, res.map(|(_, r)| r)));
    });
    Some(Validating { id, todo })
}

impl Validating {
    /// Applies the answer: positions past the leader's end of our epoch are
    /// moved back and reported as data loss.
    pub(crate) fn finish(
        self,
        c: &Consumer,
        broker: i32,
        res: Result<OffsetForLeaderEpochResponse>,
    ) {
        let client = &*c.cluster;
        let resp = match res {
            Ok(r) => r,
            Err(e) => {
                if !e.is_client_closed() {
                    klog!(client.logger(), Warn, "offset for leader epoch failed", "broker" => broker, "err" => e);
                }
                for t in &self.todo {
                    cursor_backoff(client, &t.cur);
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
        for t in self.todo {
            let a = answers.get(&(t.cur.topic.clone(), t.cur.partition));
            refresh |= apply(client, t, a, &mut losses);
        }
        if refresh {
            client.trigger_metadata_now();
        }
        if !losses.is_empty() {
            let b = Buffered {
                source: None,
                parts: losses,
                charged: 0,
            };
            c.push(b, &[]);
        }
    }
}

fn collect(broker: i32, cursors: &[Arc<Cursor>]) -> Vec<Todo> {
    let now = Instant::now();
    let mut todo = Vec::new();
    for cur in cursors {
        let st = cur.st.lock();
        if st.validate
            && st.source == broker
            && st.pending.is_none()
            && st.backoff_until.is_none_or(|t| now >= t)
        {
            todo.push(Todo {
                cur: cur.clone(),
                offset: st.offset,
                last_epoch: st.last_epoch,
                leader_epoch: st.leader_epoch,
                gen: st.gen,
            });
        }
    }
    todo
}

fn request(version: i16, todo: &[Todo]) -> OffsetForLeaderEpochRequest {
    let mut by_topic: HashMap<Arc<str>, Vec<OffsetForLeaderPartition>> = HashMap::new();
    for t in todo {
        let current = if version >= 2 { t.leader_epoch } else { -1 };
        by_topic.entry(t.cur.topic.clone()).or_default().push(
            OffsetForLeaderPartition::default()
                .with_partition(t.cur.partition)
                .with_current_leader_epoch(current)
                .with_leader_epoch(t.last_epoch),
        );
    }
    let topics = by_topic
        .into_iter()
        .map(|(t, ps)| {
            OffsetForLeaderTopic::default()
                .with_topic(TopicName(t.to_string().into()))
                .with_partitions(ps)
        })
        .collect();
    OffsetForLeaderEpochRequest::default()
        .with_replica_id(BrokerId(if version >= 3 { -1 } else { -2 }))
        .with_topics(topics)
}

/// Applies one partition's answer: truncation below our position is data
/// loss (KIP-320), reported through `losses`. Returns whether the error
/// calls for a metadata refresh.
fn apply(client: &Cluster, t: Todo, a: Option<&EpochEndOffset>, losses: &mut Vec<BufPart>) -> bool {
    let Some(a) = a else {
        cursor_backoff(client, &t.cur);
        return false;
    };
    if let Some(code) = ErrorCode::from_code(a.error_code) {
        cursor_backoff(client, &t.cur);
        return is_leader_error(code);
    }
    let (cur, offset) = (&t.cur, t.offset);
    let mut st = cur.st.lock();
    if st.gen != t.gen || st.offset != offset {
        return false; // moved meanwhile: validated again if needed
    }
    st.validate = false;
    if a.end_offset >= 0 && a.end_offset < offset {
        st.offset = a.end_offset;
        st.last_epoch = a.leader_epoch;
        st.gen += 1;
        drop(st);
        klog!(client.logger(), Warn, "data loss detected", "topic" => cur.topic, "partition" => cur.partition, "consumed_to" => offset, "reset_to" => a.end_offset);
        let loss = DataLoss {
            topic: cur.topic.to_string(),
            partition: cur.partition,
            consumed_to: offset,
            reset_to: a.end_offset,
        };
        let err = Error::DataLoss(Box::new(loss));
        losses.push(BufPart::error(cur.topic.clone(), cur.partition, err));
    }
    false
}
