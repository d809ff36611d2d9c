//! Resolving start, end, exact, relative and timestamp offsets with
//! ListOffsets, for the source of the partition's leader. The requests are
//! sent without waiting; their replies reach the source loop like fetch
//! replies, so one slow ListOffsets never holds up the source's fetches.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::offset::{resolve, OffsetKind};
use crate::sync::worker::Inbox;

use super::source::{cursor_backoff, is_leader_error, Reply};
use super::{Consumer, Cursor, Offset};
use crate::cluster::Cluster;
use crate::error::{ErrorCode, Result};
use crate::logger::klog;
use crate::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use crate::messages::{ApiKey, BrokerId, ListOffsetsRequest, ListOffsetsResponse, TopicName};

/// How long one ListOffsets request may take.
const LIST_TIMEOUT: Duration = Duration::from_secs(10);

type Answers = HashMap<(Arc<str>, i32), std::result::Result<i64, ErrorCode>>;

/// The timestamp one ListOffsets ask wants for a pending cursor, if any.
type Ask = dyn Fn(&Pending) -> Option<i64>;

struct Pending {
    cursor: Arc<Cursor>,
    offset: Offset,
    gen: u64,
    leader_epoch: i32,
}

/// One resolution in flight: the three ListOffsets asks (start, end, by
/// timestamp), sent together, answered on the source thread like fetches.
pub(crate) struct Listing {
    pub(crate) id: u64,
    pending: Vec<Pending>,
    /// Per ask: not answered yet (`None`), failed (`Some(None)`), or answered.
    answers: [Option<Option<Answers>>; 3],
}

/// Starts resolving the pending offsets of `broker`'s cursors: the requests
/// go out at once and their replies come back on `tx` as [`Reply::List`];
/// the source thread does not wait for them. `None` when nothing is pending.
pub(crate) fn start(
    c: &Consumer,
    broker: i32,
    cursors: &[Arc<Cursor>],
    id: u64,
    tx: &Inbox<Reply>,
) -> Option<Listing> {
    let client = &*c.cluster;
    let pending = collect(broker, cursors);
    if pending.is_empty() {
        return None;
    }
    let Some(h) = client.handle(broker) else {
        client.trigger_metadata_now();
        for p in &pending {
            cursor_backoff(client, &p.cursor);
        }
        return None;
    };
    // Fields newer than the version sent stay at their defaults.
    let version = client
        .version_for(broker, ApiKey::ListOffsets as i16, i16::MAX)
        .unwrap_or(1);
    let by_time = |p: &Pending| match p.offset.kind() {
        OffsetKind::Timestamp(ts) => Some(ts),
        _ => None,
    };
    let asks: [&Ask; 3] = [&|_| Some(-2), &|_| Some(-1), &by_time];
    let mut answers = [None, None, None];
    for (k, ask) in asks.iter().enumerate() {
        let Some(req) = request(c, version, &pending, *ask) else {
            answers[k] = Some(Some(Answers::new())); // nothing to ask
            continue;
        };
        let tx = tx.clone();
        // Every version the schemas know; negotiation picks the broker's.
        h.submit(req, (0, i16::MAX), move |res| {
            tx.send(Reply::List(id, k, res.map(|(v, r)| from_v0(v, r))));
        });
    }
    Some(Listing {
        id,
        pending,
        answers,
    })
}

impl Listing {
    /// Takes the reply to ask `k`; returns whether every ask is answered.
    pub(crate) fn answer(
        &mut self,
        client: &Cluster,
        broker: i32,
        k: usize,
        res: Result<ListOffsetsResponse>,
    ) -> bool {
        let got = match res {
            Ok(resp) => Some(answers(resp)),
            Err(e) => {
                if !e.is_client_closed() {
                    klog!(client.logger(), Warn, "list offsets failed", "broker" => broker, "err" => e);
                }
                None
            }
        };
        if let Some(slot) = self.answers.get_mut(k) {
            *slot = Some(got);
        }
        self.answers.iter().all(Option::is_some)
    }

    /// Resolves every pending cursor from the answers, or backs them off
    /// when an ask failed.
    pub(crate) fn finish(self, client: &Cluster) {
        let [Some(Some(start)), Some(Some(end)), Some(Some(by_time))] = self.answers else {
            client.trigger_metadata();
            for p in &self.pending {
                cursor_backoff(client, &p.cursor);
            }
            return;
        };
        let mut refresh = false;
        for p in self.pending {
            refresh |= apply(client, p, &start, &end, &by_time);
        }
        if refresh {
            client.trigger_metadata_now();
        }
    }
}

/// The cursors of `broker` with an offset to resolve, not backing off.
fn collect(broker: i32, cursors: &[Arc<Cursor>]) -> Vec<Pending> {
    let now = Instant::now();
    let mut pending = Vec::new();
    for cur in cursors {
        let st = cur.st.lock();
        if st.source != broker || st.backoff_until.is_some_and(|t| now < t) {
            continue;
        }
        if let Some(o) = st.pending {
            pending.push(Pending {
                cursor: cur.clone(),
                offset: o,
                gen: st.gen,
                leader_epoch: st.leader_epoch,
            });
        }
    }
    pending
}

/// One ListOffsets request asking `ts(p)` for every pending partition that
/// has one; `None` when none has (nothing to ask, an empty answer).
fn request(
    c: &Consumer,
    version: i16,
    pending: &[Pending],
    ts: &Ask,
) -> Option<ListOffsetsRequest> {
    let mut by_topic: HashMap<Arc<str>, Vec<ListOffsetsPartition>> = HashMap::new();
    for p in pending {
        if let Some(t) = ts(p) {
            by_topic.entry(p.cursor.topic.clone()).or_default().push(
                ListOffsetsPartition::default()
                    .with_partition_index(p.cursor.partition)
                    .with_current_leader_epoch(if version >= 4 { p.leader_epoch } else { -1 })
                    .with_timestamp(t),
            );
        }
    }
    if by_topic.is_empty() {
        return None;
    }
    let isolation = if version >= 2 {
        c.cfg.isolation.value()
    } else {
        0
    };
    let timeout = if version >= 10 {
        LIST_TIMEOUT.as_millis() as i32
    } else {
        0
    };
    let topics = by_topic
        .into_iter()
        .map(|(t, ps)| {
            ListOffsetsTopic::default()
                .with_name(TopicName(t.to_string().into()))
                .with_partitions(ps)
        })
        .collect();
    Some(
        ListOffsetsRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_isolation_level(isolation)
            .with_timeout_ms(timeout)
            .with_topics(topics),
    )
}

/// ListOffsets v0 (Kafka 0.10.0 and older) answers a list of offsets (we
/// ask for one: `max_num_offsets` 1, its default) instead of one offset:
/// moves the first into `offset`. An empty list has no answer; it becomes
/// OFFSET_NOT_AVAILABLE (retriable), so the cursor asks again.
fn from_v0(version: i16, mut resp: ListOffsetsResponse) -> ListOffsetsResponse {
    if version == 0 {
        for p in resp.topics.iter_mut().flat_map(|t| t.partitions.iter_mut()) {
            match p.old_style_offsets.first() {
                Some(&o) => p.offset = o,
                None if p.error_code == 0 => p.error_code = ErrorCode::OffsetNotAvailable.code(),
                None => {}
            }
        }
    }
    resp
}

fn answers(resp: ListOffsetsResponse) -> Answers {
    let mut out = Answers::new();
    for t in resp.topics {
        let name: Arc<str> = Arc::from(t.name.0.as_str());
        for p in t.partitions {
            let v = match ErrorCode::from_code(p.error_code) {
                Some(code) => Err(code),
                None => Ok(p.offset),
            };
            out.insert((name.clone(), p.partition_index), v);
        }
    }
    out
}

/// Resolves one cursor from the start, end and by-time answers; returns
/// whether its error calls for a metadata refresh.
fn apply(client: &Cluster, p: Pending, start: &Answers, end: &Answers, by_time: &Answers) -> bool {
    let key = (p.cursor.topic.clone(), p.cursor.partition);
    let kind = p.offset.kind();
    let get = |a: &Answers| {
        a.get(&key)
            .copied()
            .unwrap_or(Err(ErrorCode::UnknownTopicOrPartition))
    };
    let ts = match kind {
        OffsetKind::Timestamp(_) => get(by_time),
        _ => Ok(-1),
    };
    match (get(start), get(end), ts) {
        (Ok(s), Ok(e), Ok(t)) => {
            let o = resolve(kind, s, e, t);
            let mut st = p.cursor.st.lock();
            if st.gen == p.gen && st.pending.is_some() {
                st.offset = o;
                st.pending = None;
                st.last_epoch = match kind {
                    OffsetKind::Exact(_) => p.offset.epoch,
                    _ => -1,
                };
                st.gen += 1;
                st.failures = 0;
                st.backoff_until = None;
            }
            false
        }
        (Err(code), _, _) | (_, Err(code), _) | (_, _, Err(code)) => {
            klog!(client.logger(), Info, "list offsets partition error", "topic" => p.cursor.topic, "partition" => p.cursor.partition, "err" => code.name());
            cursor_backoff(client, &p.cursor);
            is_leader_error(code)
        }
    }
}
