//! Requests split per broker (kgo's `RequestSharded`) and their merging.
//!
//! Partition requests (ListOffsets, DeleteRecords, OffsetForLeaderEpoch,
//! DescribeProducers) go to each partition's leader; AlterReplicaLogDirs
//! assignments to every replica of their partition; broker config resources
//! to their broker; ListGroups, ListTransactions and DescribeLogDirs to every
//! broker; DescribeGroups and DeleteGroups to each group's coordinator;
//! DescribeTransactions to each transactional id's coordinator; a batched
//! OffsetFetch (v8+, KIP-709) naming several groups to each group's
//! coordinator. Pieces whose
//! broker is unknown are grouped into one request to the first seed broker,
//! as kgo does, so their errors come back in a shard.

use std::any::Any;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use super::Cluster;
use crate::broker::{BrokerHandle, BrokerMetadata};
use crate::error::{Error, Result};
use crate::messages::*;

/// One broker's part of a sharded request.
#[derive(Debug)]
pub struct ResponseShard<R: Request> {
    /// The broker this piece went to.
    pub meta: BrokerMetadata,
    /// The piece of the request sent to it.
    pub req: R,
    /// Its response or error.
    pub resp: Result<R::Response>,
}

pub(super) fn is_sharded<R: Request>(req: &R) -> bool {
    if crate::protocol::api::facts(R::KEY).routing == crate::protocol::api::Routing::Sharded {
        return true;
    }
    // A batched OffsetFetch is a coordinator request per group; with one
    // group it keeps the coordinator route (and its NOT_COORDINATOR retry).
    let any: &dyn Any = req;
    any.downcast_ref::<OffsetFetchRequest>()
        .is_some_and(|r| r.group_id.0.is_empty() && r.groups.len() > 1)
}

/// Takes out of a shard batched by coordinator key (group or transactional
/// id) the keys whose coordinator moved or is loading: their answers leave
/// `answered` and their entries leave `asked`. Returns the keys and the
/// entries taken (nothing is taken when no coordinator moved).
fn take_groups<A, Q: Clone, K: PartialEq>(
    answered: &mut Vec<A>,
    answer: impl Fn(&A) -> (K, i16),
    asked: &mut Vec<Q>,
    key_of: impl Fn(&Q) -> &K,
) -> (Vec<K>, Vec<Q>) {
    let gone: Vec<K> = answered
        .iter()
        .map(&answer)
        .filter(|(_, code)| super::route::coordinator_moved(*code).is_some())
        .map(|(g, _)| g)
        .collect();
    if gone.is_empty() {
        return (gone, Vec::new());
    }
    answered.retain(|a| !gone.contains(&answer(a).0));
    let taken = asked
        .iter()
        .filter(|q| gone.contains(key_of(q)))
        .cloned()
        .collect();
    asked.retain(|q| !gone.contains(key_of(q)));
    (gone, taken)
}

/// Whether a shard's request lost all its groups (or ids) to a retry.
fn emptied<R: Request>(req: &R) -> bool {
    let any: &dyn Any = req;
    any.downcast_ref::<OffsetFetchRequest>()
        .is_some_and(|r| r.group_id.0.is_empty() && r.groups.is_empty())
        || any
            .downcast_ref::<DescribeGroupsRequest>()
            .is_some_and(|r| r.groups.is_empty())
        || any
            .downcast_ref::<DeleteGroupsRequest>()
            .is_some_and(|r| r.groups_names.is_empty())
        || any
            .downcast_ref::<DescribeTransactionsRequest>()
            .is_some_and(|r| r.transactional_ids.is_empty())
}

fn cast<T: 'static, U: 'static>(v: T) -> Result<U> {
    let b: Box<dyn Any> = Box::new(v);
    b.downcast::<U>()
        .map(|b| *b)
        .map_err(|_| Error::protocol("internal: request type mismatch while sharding"))
}

/// A piece addressed to a node id (`None`: any broker).
type Piece<T> = (Option<i32>, T);

fn unknown_meta() -> BrokerMetadata {
    BrokerMetadata {
        node_id: -1,
        host: String::new(),
        port: 0,
        rack: None,
    }
}

impl Cluster {
    /// Issues `req` to every broker that owns a part of it, returning every
    /// broker's response separately. Always returns at least one shard.
    pub(crate) fn request_sharded<R: Request>(
        &self,
        req: R,
        deadline: Option<Instant>,
    ) -> Vec<ResponseShard<R>> {
        if !is_sharded(&req) {
            let meta = self
                .any_handle()
                .map(|h| h.meta().clone())
                .unwrap_or_else(unknown_meta);
            let resp = self.request(req.clone(), deadline);
            return vec![ResponseShard { meta, req, resp }];
        }
        let mut out = self.send_split(req, deadline);
        self.retry_moved_groups(&mut out, deadline);
        out
    }

    /// Splits `req` and sends every piece, each retried on retriable errors.
    fn send_split<R: Request>(&self, req: R, deadline: Option<Instant>) -> Vec<ResponseShard<R>> {
        let pieces = match self.retry(R::KEY, deadline, |_| split(self, &req, deadline)) {
            Ok(p) => p,
            Err(e) => {
                return vec![ResponseShard {
                    meta: unknown_meta(),
                    req,
                    resp: Err(e),
                }]
            }
        };
        // First try of every shard in flight at once; retries one by one.
        let mut started = Vec::with_capacity(pieces.len());
        for (target, piece) in pieces {
            let handle = self.target_handle(target);
            let first = handle
                .as_ref()
                .map_err(Clone::clone)
                .and_then(|h| h.begin(piece.clone(), deadline));
            started.push((target, handle.ok(), piece, first));
        }
        let mut out = Vec::with_capacity(started.len());
        for (target, handle, piece, first) in started {
            let meta = handle
                .as_ref()
                .map(|h| h.meta().clone())
                .unwrap_or_else(unknown_meta);
            let first = first.and_then(|p| p.wait());
            let resp = match first {
                Ok(r) => Ok(r),
                Err(e) if e.is_retriable() && !self.is_closed() => {
                    self.retry(R::KEY, deadline, |tries| {
                        if tries == 1 {
                            return Err(e.clone());
                        }
                        self.target_handle(target)?.send(piece.clone(), deadline)
                    })
                }
                Err(e) => Err(e),
            };
            if let Ok(r) = &resp {
                self.note_stale(r);
            }
            out.push(ResponseShard {
                meta,
                req: piece,
                resp,
            });
        }
        out
    }

    /// A batched OffsetFetch's, a DescribeGroups' or a DeleteGroups' groups
    /// and a DescribeTransactions' transactional ids answered NOT_COORDINATOR,
    /// COORDINATOR_NOT_AVAILABLE or COORDINATOR_LOAD_IN_PROGRESS are taken
    /// out of their shards, their cached coordinators forgotten, and sent
    /// again after a backoff, split anew (they may now live on different
    /// brokers), within the retry budget: what a one-group coordinator
    /// request does (route.rs). Groups still failing when the budget is
    /// spent keep their error in their shard.
    fn retry_moved_groups<R: Request>(
        &self,
        out: &mut Vec<ResponseShard<R>>,
        deadline: Option<Instant>,
    ) {
        let cfg = &self.settings;
        let start = Instant::now();
        let limit = cfg.retry_timeout(R::KEY);
        let mut tries: u32 = 1;
        loop {
            let out_of_time = !limit.is_zero() && start.elapsed() >= limit;
            if tries >= cfg.request_retries || out_of_time || self.is_closed() {
                return;
            }
            let again: Vec<R> = out.iter_mut().filter_map(|s| self.take_moved(s)).collect();
            if again.is_empty() {
                return;
            }
            out.retain(|s| !emptied(&s.req));
            if let Err(e) = self.sleep(cfg.retry_backoff(tries), deadline) {
                out.extend(again.into_iter().map(|req| ResponseShard {
                    meta: unknown_meta(),
                    req,
                    resp: Err(e.clone()),
                }));
                return;
            }
            for req in again {
                out.extend(self.send_split(req, deadline));
            }
            tries += 1;
        }
    }

    /// Takes the groups of an OffsetFetch, DescribeGroups or DeleteGroups
    /// shard (the transactional ids of a DescribeTransactions shard) whose
    /// coordinator moved or is loading out of its request and response,
    /// forgetting their cached coordinators; returns a request for them.
    fn take_moved<R: Request>(&self, shard: &mut ResponseShard<R>) -> Option<R> {
        let resp: &mut dyn Any = shard.resp.as_mut().ok()?;
        let req: &mut dyn Any = &mut shard.req;
        let names = |gone: Vec<GroupId>| gone.into_iter().map(|g| g.0.to_string()).collect();
        // (coordinator kind: 0 group, 1 transaction; keys moved; request for them)
        let (kind, gone, again): (i8, Vec<String>, Result<R>) = if let Some(resp) =
            resp.downcast_mut::<DescribeGroupsResponse>()
        {
            let req = req.downcast_mut::<DescribeGroupsRequest>()?;
            let answer =
                |g: &describe_groups_response::DescribedGroup| (g.group_id.clone(), g.error_code);
            let (gone, taken) = take_groups(&mut resp.groups, answer, &mut req.groups, |g| g);
            let mut again = req.clone();
            again.groups = taken;
            (0, names(gone), cast(again))
        } else if let Some(resp) = resp.downcast_mut::<DeleteGroupsResponse>() {
            let req = req.downcast_mut::<DeleteGroupsRequest>()?;
            let answer = |g: &delete_groups_response::DeletableGroupResult| {
                (g.group_id.clone(), g.error_code)
            };
            let asked = &mut req.groups_names;
            let (gone, taken) = take_groups(&mut resp.results, answer, asked, |g| g);
            let mut again = req.clone();
            again.groups_names = taken;
            (0, names(gone), cast(again))
        } else if let Some(resp) = resp.downcast_mut::<DescribeTransactionsResponse>() {
            // As kgo's sharded DescribeTransactions: an id whose
            // coordinator moved is asked again of its new one.
            let req = req.downcast_mut::<DescribeTransactionsRequest>()?;
            let answer = |t: &describe_transactions_response::TransactionState| {
                (t.transactional_id.clone(), t.error_code)
            };
            let asked = &mut req.transactional_ids;
            let (gone, taken) = take_groups(&mut resp.transaction_states, answer, asked, |t| t);
            let mut again = req.clone();
            again.transactional_ids = taken;
            let gone = gone.into_iter().map(|t| t.0.to_string()).collect();
            (1, gone, cast(again))
        } else {
            let resp = resp.downcast_mut::<OffsetFetchResponse>()?;
            let req = req.downcast_mut::<OffsetFetchRequest>()?;
            let answer = |g: &offset_fetch_response::OffsetFetchResponseGroup| {
                (g.group_id.clone(), g.error_code)
            };
            let (gone, taken) =
                take_groups(&mut resp.groups, answer, &mut req.groups, |g| &g.group_id);
            let mut again = req.clone();
            again.groups = taken;
            (0, names(gone), cast(again))
        };
        if gone.is_empty() {
            return None;
        }
        self.forget_coordinators(kind, gone);
        again.ok()
    }

    /// Forgets the cached coordinators of kind `kind` of `keys`.
    fn forget_coordinators(&self, kind: i8, keys: Vec<String>) {
        let mut cached = self.coordinators.lock();
        for k in keys {
            cached.remove(&(kind, k));
        }
    }

    fn target_handle(&self, target: Option<i32>) -> Result<Arc<BrokerHandle>> {
        match target {
            Some(id) => self.handle(id).ok_or(Error::UnknownBroker(id)),
            None => self.any_handle().ok_or(Error::UnknownBroker(-1)),
        }
    }

    /// Triggers a metadata refresh when a shard's partitions moved.
    fn note_stale<T: 'static>(&self, resp: &T) {
        let any: &dyn Any = resp;
        let stale = |c: i16| matches!(c, 3 | 6 | 74 | 75);
        let seen = if let Some(r) = any.downcast_ref::<ListOffsetsResponse>() {
            r.topics
                .iter()
                .flat_map(|t| &t.partitions)
                .any(|p| stale(p.error_code))
        } else if let Some(r) = any.downcast_ref::<DeleteRecordsResponse>() {
            r.topics
                .iter()
                .flat_map(|t| &t.partitions)
                .any(|p| stale(p.error_code))
        } else if let Some(r) = any.downcast_ref::<OffsetForLeaderEpochResponse>() {
            r.topics
                .iter()
                .flat_map(|t| &t.partitions)
                .any(|p| stale(p.error_code))
        } else {
            false
        };
        if seen {
            self.trigger_metadata();
        }
    }
}

/// Issues a sharded request and merges the shards into one response; the
/// first failed shard's error fails the call.
pub(super) fn request_merged<R: Request>(
    client: &Cluster,
    req: R,
    deadline: Option<Instant>,
) -> Result<R::Response> {
    let shards = client.request_sharded(req, deadline);
    let mut resps = Vec::with_capacity(shards.len());
    for s in shards {
        resps.push(s.resp?);
    }
    merge::<R>(resps)
}

macro_rules! merge_lists {
    ($resps:ident, $R:ty, $( $ty:ty => [$($field:ident),+] ),* $(,)?) => {
        $(
            if std::any::TypeId::of::<$R>() == std::any::TypeId::of::<$ty>() {
                let mut it = $resps.into_iter().map(cast::<_, $ty>);
                let mut first = match it.next() {
                    Some(f) => f?,
                    None => <$ty>::default(),
                };
                for r in it {
                    let mut r = r?;
                    $( first.$field.append(&mut r.$field); )+
                    first.throttle_time_ms = first.throttle_time_ms.max(r.throttle_time_ms);
                }
                return cast(first);
            }
        )*
    };
}

fn merge<R: Request>(resps: Vec<R::Response>) -> Result<R::Response> {
    if resps.len() == 1 {
        return resps
            .into_iter()
            .next()
            .ok_or_else(|| Error::protocol("no shards"));
    }
    merge_lists!(resps, R::Response,
        ListOffsetsResponse => [topics],
        DeleteRecordsResponse => [topics],
        OffsetForLeaderEpochResponse => [topics],
        DescribeProducersResponse => [topics],
        DescribeConfigsResponse => [results],
        AlterConfigsResponse => [responses],
        IncrementalAlterConfigsResponse => [responses],
        ListGroupsResponse => [groups],
        ListTransactionsResponse => [transaction_states, unknown_state_filters],
        DescribeLogDirsResponse => [results],
        DescribeGroupsResponse => [groups],
        DeleteGroupsResponse => [results],
        DescribeTransactionsResponse => [transaction_states],
        OffsetFetchResponse => [groups],
    );
    if std::any::TypeId::of::<R::Response>()
        == std::any::TypeId::of::<AlterReplicaLogDirsResponse>()
    {
        let resps = resps.into_iter().map(cast).collect::<Result<_>>()?;
        return cast(merge_replica_dirs(resps));
    }
    resps
        .into_iter()
        .next()
        .ok_or_else(|| Error::protocol("no shards"))
}

/// Every replica's answer, one topic entry per topic (kgo's merge): a
/// partition appears once per replica broker that answered for it.
fn merge_replica_dirs(resps: Vec<AlterReplicaLogDirsResponse>) -> AlterReplicaLogDirsResponse {
    let mut merged = AlterReplicaLogDirsResponse::default();
    for r in resps {
        merged.throttle_time_ms = merged.throttle_time_ms.max(r.throttle_time_ms);
        for t in r.results {
            match merged
                .results
                .iter_mut()
                .find(|m| m.topic_name == t.topic_name)
            {
                Some(m) => m.partitions.extend(t.partitions),
                None => merged.results.push(t),
            }
        }
    }
    merged
}

/// Splits a request into pieces per broker.
// Per partition leader.
macro_rules! leader_split {
    ($client:expr, $deadline:expr, $r:expr, $name:ident, $parts:ident, $idx:expr) => {{
        let r = $r;
        let leaders = leaders(
            $client,
            r.topics.iter().map(|t| t.$name.0.to_string()),
            $deadline,
        )?;
        let pieces = by_leader(
            &r.topics,
            |t| t.$name.0.to_string(),
            |t| &t.$parts,
            $idx,
            &leaders,
            |topics| {
                let mut x = r.clone();
                x.topics = topics;
                x
            },
        );
        pieces
            .into_iter()
            .map(|(b, x)| cast(x).map(|x| (b, x)))
            .collect::<Result<Vec<Piece<R>>>>()?
    }};
}
// Broker config resources to their broker.
macro_rules! resource_split {
    ($r:expr) => {{
        let r = $r;
        let pieces = by_resource(
            &r.resources,
            |x| (x.resource_type, x.resource_name.as_str()),
            |res| {
                let mut x = r.clone();
                x.resources = res;
                x
            },
        );
        pieces
            .into_iter()
            .map(|(b, x)| cast(x).map(|x| (b, x)))
            .collect::<Result<Vec<Piece<R>>>>()?
    }};
}
// Per group (kind 0) or transactional id (kind 1) coordinator.
macro_rules! coordinator_split {
    ($client:expr, $deadline:expr, $r:expr, $field:ident, $kind:expr) => {{
        let r = $r;
        let mut by: BTreeMap<i32, Vec<_>> = BTreeMap::new();
        for entry in &r.$field {
            let id = $client
                .coordinator($kind, CoordinatorKey::key(entry), $deadline)
                .map(|h| h.meta().node_id)
                .unwrap_or(first_seed($client));
            by.entry(id).or_default().push(entry.clone());
        }
        by.into_iter()
            .map(|(id, keys)| {
                let mut x = r.clone();
                x.$field = keys;
                cast(x).map(|x| (Some(id), x))
            })
            .collect::<Result<Vec<Piece<R>>>>()?
    }};
}

/// The group or transactional id an entry of a coordinator request names.
trait CoordinatorKey {
    fn key(&self) -> &str;
}

impl CoordinatorKey for GroupId {
    fn key(&self) -> &str {
        &self.0
    }
}

impl CoordinatorKey for TransactionalId {
    fn key(&self) -> &str {
        &self.0
    }
}

impl CoordinatorKey for offset_fetch_request::OffsetFetchRequestGroup {
    fn key(&self) -> &str {
        &self.group_id.0
    }
}

fn split<R: Request>(
    client: &Cluster,
    req: &R,
    deadline: Option<Instant>,
) -> Result<Vec<Piece<R>>> {
    let any: &dyn Any = req;
    let pieces: Vec<Piece<R>> = if let Some(r) = any.downcast_ref::<ListOffsetsRequest>() {
        leader_split!(client, deadline, r, name, partitions, |p| p.partition_index)
    } else if let Some(r) = any.downcast_ref::<DeleteRecordsRequest>() {
        leader_split!(client, deadline, r, name, partitions, |p| p.partition_index)
    } else if let Some(r) = any.downcast_ref::<OffsetForLeaderEpochRequest>() {
        leader_split!(client, deadline, r, topic, partitions, |p| p.partition)
    } else if let Some(r) = any.downcast_ref::<DescribeProducersRequest>() {
        leader_split!(client, deadline, r, name, partition_indexes, |p| *p)
    } else if let Some(r) = any.downcast_ref::<DescribeConfigsRequest>() {
        resource_split!(r)
    } else if let Some(r) = any.downcast_ref::<AlterConfigsRequest>() {
        resource_split!(r)
    } else if let Some(r) = any.downcast_ref::<IncrementalAlterConfigsRequest>() {
        resource_split!(r)
    } else if let Some(r) = any.downcast_ref::<AlterReplicaLogDirsRequest>() {
        replica_dirs_split(client, r, deadline)?
            .into_iter()
            .map(|(b, x)| cast(x).map(|x| (b, x)))
            .collect::<Result<Vec<Piece<R>>>>()?
    } else if matches!(R::KEY, 16 | 35 | 66) {
        // ListGroups, DescribeLogDirs, ListTransactions: every broker.
        let mut ids = client.discovered_ids();
        if ids.is_empty() {
            client.refresh_metadata(Some(&[]), deadline)?;
            ids = client.discovered_ids();
        }
        ids.into_iter().map(|id| (Some(id), req.clone())).collect()
    } else if let Some(r) = any.downcast_ref::<DescribeGroupsRequest>() {
        coordinator_split!(client, deadline, r, groups, 0)
    } else if let Some(r) = any.downcast_ref::<DeleteGroupsRequest>() {
        coordinator_split!(client, deadline, r, groups_names, 0)
    } else if let Some(r) = any.downcast_ref::<DescribeTransactionsRequest>() {
        coordinator_split!(client, deadline, r, transactional_ids, 1)
    } else if let Some(r) = any.downcast_ref::<OffsetFetchRequest>() {
        coordinator_split!(client, deadline, r, groups, 0)
    } else {
        vec![(None, req.clone())]
    };
    if pieces.is_empty() {
        // Nothing to split (no topics, no groups): one request to any broker.
        return Ok(vec![(None, req.clone())]);
    }
    Ok(pieces)
}

fn first_seed(client: &Cluster) -> i32 {
    client.seed_ids().first().copied().unwrap_or(i32::MIN)
}

/// Leaders of every partition of `topics`, from a fresh Metadata request.
fn leaders(
    client: &Cluster,
    topics: impl Iterator<Item = String>,
    deadline: Option<Instant>,
) -> Result<BTreeMap<(String, i32), i32>> {
    per_partition(client, topics, deadline, |p| {
        (p.leader >= 0).then_some(p.leader)
    })
}

/// `pick` of every partition of `topics`, from a fresh Metadata request;
/// partitions it gives `None` are left out.
fn per_partition<V>(
    client: &Cluster,
    topics: impl Iterator<Item = String>,
    deadline: Option<Instant>,
    pick: impl Fn(&crate::metadata::PartitionMetadata) -> Option<V>,
) -> Result<BTreeMap<(String, i32), V>> {
    let mut names: Vec<String> = topics.collect();
    names.sort();
    names.dedup();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let snap = client.refresh_metadata(Some(&refs), deadline)?;
    let mut out = BTreeMap::new();
    for n in &names {
        if let Some(t) = snap.topics.get(n) {
            for p in &t.partitions {
                if let Some(v) = pick(p) {
                    out.insert((n.clone(), p.partition), v);
                }
            }
        }
    }
    Ok(out)
}

/// AlterReplicaLogDirs, split as kgo's sharder does: each partition's
/// assignment goes to every broker holding a replica of it (each moves its
/// own replica); partitions without metadata, or whose metadata has an
/// error, go to the first seed, which answers their error.
fn replica_dirs_split(
    client: &Cluster,
    r: &AlterReplicaLogDirsRequest,
    deadline: Option<Instant>,
) -> Result<Vec<Piece<AlterReplicaLogDirsRequest>>> {
    use alter_replica_log_dirs_request::{AlterReplicaLogDir, AlterReplicaLogDirTopic};
    let topics = r.dirs.iter().flat_map(|d| d.topics.iter());
    let replicas = per_partition(
        client,
        topics.map(|t| t.name.0.to_string()),
        deadline,
        |p| (p.error.is_none() && !p.replicas.is_empty()).then(|| p.replicas.clone()),
    )?;
    // broker -> dir -> topic -> partitions
    type Dirs = BTreeMap<StrBytes, BTreeMap<TopicName, Vec<i32>>>;
    let mut by: BTreeMap<i32, Dirs> = BTreeMap::new();
    for dir in &r.dirs {
        for t in &dir.topics {
            for &p in &t.partitions {
                let unknown = [first_seed(client)];
                let owners = replicas
                    .get(&(t.name.0.to_string(), p))
                    .map_or(&unknown[..], Vec::as_slice);
                for &b in owners {
                    let topics = by.entry(b).or_default().entry(dir.path.clone());
                    topics
                        .or_default()
                        .entry(t.name.clone())
                        .or_default()
                        .push(p);
                }
            }
        }
    }
    Ok(by
        .into_iter()
        .map(|(b, dirs)| {
            let dirs = dirs
                .into_iter()
                .map(|(path, topics)| {
                    let topics = topics.into_iter().map(|(name, partitions)| {
                        AlterReplicaLogDirTopic::default()
                            .with_name(name)
                            .with_partitions(partitions)
                    });
                    AlterReplicaLogDir::default()
                        .with_path(path)
                        .with_topics(topics.collect())
                })
                .collect();
            (Some(b), r.clone().with_dirs(dirs))
        })
        .collect())
}

/// Groups a topic/partition request by partition leader, rebuilding each
/// piece with `build`. Partitions without a known leader go to the first seed.
fn by_leader<T, P: Clone, Q>(
    topics: &[T],
    name: impl Fn(&T) -> String,
    parts: impl Fn(&T) -> &Vec<P>,
    index: impl Fn(&P) -> i32,
    leaders: &BTreeMap<(String, i32), i32>,
    build: impl Fn(Vec<T>) -> Q,
) -> Vec<(Option<i32>, Q)>
where
    T: WithParts<P>,
{
    let mut by: BTreeMap<i32, Vec<T>> = BTreeMap::new();
    for t in topics {
        let n = name(t);
        let mut per: BTreeMap<i32, Vec<P>> = BTreeMap::new();
        for p in parts(t) {
            let leader = leaders
                .get(&(n.clone(), index(p)))
                .copied()
                .unwrap_or(i32::MIN);
            per.entry(leader).or_default().push(p.clone());
        }
        for (leader, ps) in per {
            by.entry(leader).or_default().push(t.with_parts(ps));
        }
    }
    by.into_iter()
        .map(|(id, ts)| (Some(id), build(ts)))
        .collect()
}

/// Rebuilds a topic entry with a subset of its partitions.
trait WithParts<P> {
    fn with_parts(&self, parts: Vec<P>) -> Self;
}

macro_rules! with_parts {
    ($($t:ty => $p:ty, $f:ident;)*) => {$(
        impl WithParts<$p> for $t {
            fn with_parts(&self, parts: Vec<$p>) -> Self {
                let mut x = self.clone();
                x.$f = parts;
                x
            }
        }
    )*};
}

with_parts! {
    list_offsets_request::ListOffsetsTopic => list_offsets_request::ListOffsetsPartition, partitions;
    delete_records_request::DeleteRecordsTopic => delete_records_request::DeleteRecordsPartition, partitions;
    offset_for_leader_epoch_request::OffsetForLeaderTopic => offset_for_leader_epoch_request::OffsetForLeaderPartition, partitions;
    describe_producers_request::TopicRequest => i32, partition_indexes;
}

/// Broker resources (type 4 BROKER, 8 BROKER_LOGGER) go to their broker;
/// everything else to any broker.
fn by_resource<T: Clone, Q>(
    resources: &[T],
    key: impl Fn(&T) -> (i8, &str),
    build: impl Fn(Vec<T>) -> Q,
) -> Vec<(Option<i32>, Q)> {
    let mut by: BTreeMap<Option<i32>, Vec<T>> = BTreeMap::new();
    for r in resources {
        let (ty, name) = key(r);
        let target = if matches!(ty, 4 | 8) {
            name.parse::<i32>().ok()
        } else {
            None
        };
        by.entry(target).or_default().push(r.clone());
    }
    by.into_iter().map(|(id, rs)| (id, build(rs))).collect()
}
