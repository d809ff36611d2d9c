//! Request routing (controller, coordinators, any broker) and the retry loop.

use std::any::Any;
use std::time::Instant;

use super::Cluster;
use crate::broker::BrokerMetadata;
use crate::error::{Error, ErrorCode, Result};
use crate::logger::klog;
use crate::messages::*;

/// Where a request goes.
pub(super) enum Route {
    Any,
    Controller,
    /// Coordinator of type 0 (group) or 1 (transaction) for the key.
    Coordinator(i8, String),
    /// Split per broker (see shard.rs).
    Sharded,
}

/// Admin requests (kgo sends these to the controller).
fn is_admin(key: i16) -> bool {
    crate::protocol::api::facts(key).routing == crate::protocol::api::Routing::Controller
}

fn downcast<T: 'static>(r: &dyn Any) -> Option<&T> {
    r.downcast_ref::<T>()
}

/// Picks the route for a request.
pub(super) fn route<R: Request>(req: &R) -> Route {
    if super::shard::is_sharded(req) {
        return Route::Sharded;
    }
    if is_admin(R::KEY) {
        return Route::Controller;
    }
    let any: &dyn Any = req;
    let group = |g: &GroupId| Route::Coordinator(0, g.0.to_string());
    let txn = |t: &TransactionalId| Route::Coordinator(1, t.0.to_string());
    if let Some(r) = downcast::<OffsetCommitRequest>(any) {
        return group(&r.group_id);
    }
    if let Some(r) = downcast::<OffsetFetchRequest>(any) {
        if !r.group_id.0.is_empty() {
            return group(&r.group_id);
        }
        if let Some(g) = r.groups.first() {
            return group(&g.group_id);
        }
    }
    if let Some(r) = downcast::<JoinGroupRequest>(any) {
        return group(&r.group_id);
    }
    if let Some(r) = downcast::<HeartbeatRequest>(any) {
        return group(&r.group_id);
    }
    if let Some(r) = downcast::<LeaveGroupRequest>(any) {
        return group(&r.group_id);
    }
    if let Some(r) = downcast::<SyncGroupRequest>(any) {
        return group(&r.group_id);
    }
    if let Some(r) = downcast::<OffsetDeleteRequest>(any) {
        return group(&r.group_id);
    }
    if let Some(r) = downcast::<TxnOffsetCommitRequest>(any) {
        return group(&r.group_id);
    }
    if let Some(r) = downcast::<ConsumerGroupHeartbeatRequest>(any) {
        return group(&r.group_id);
    }
    if let Some(r) = downcast::<InitProducerIdRequest>(any) {
        // Without a transactional id, any broker allocates a producer id.
        if let Some(t) = r.transactional_id.as_ref().filter(|t| !t.0.is_empty()) {
            return txn(t);
        }
    }
    if let Some(r) = downcast::<AddPartitionsToTxnRequest>(any) {
        if !r.v3_and_below_transactional_id.0.is_empty() {
            return txn(&r.v3_and_below_transactional_id);
        }
        if let Some(t) = r.transactions.first() {
            return txn(&t.transactional_id);
        }
    }
    if let Some(r) = downcast::<AddOffsetsToTxnRequest>(any) {
        return txn(&r.transactional_id);
    }
    if let Some(r) = downcast::<EndTxnRequest>(any) {
        return txn(&r.transactional_id);
    }
    Route::Any
}

/// The error that says the coordinator moved, if the response carries one.
fn coordinator_error(resp: &dyn Any) -> Option<ErrorCode> {
    let code = if let Some(r) = downcast::<JoinGroupResponse>(resp) {
        r.error_code
    } else if let Some(r) = downcast::<HeartbeatResponse>(resp) {
        r.error_code
    } else if let Some(r) = downcast::<LeaveGroupResponse>(resp) {
        r.error_code
    } else if let Some(r) = downcast::<SyncGroupResponse>(resp) {
        r.error_code
    } else if let Some(r) = downcast::<OffsetDeleteResponse>(resp) {
        r.error_code
    } else if let Some(r) = downcast::<ConsumerGroupHeartbeatResponse>(resp) {
        r.error_code
    } else if let Some(r) = downcast::<OffsetFetchResponse>(resp) {
        r.groups.first().map_or(r.error_code, |g| g.error_code)
    } else if let Some(r) = downcast::<OffsetCommitResponse>(resp) {
        r.topics
            .first()
            .and_then(|t| t.partitions.first())
            .map_or(0, |p| p.error_code)
    } else if let Some(r) = downcast::<TxnOffsetCommitResponse>(resp) {
        r.topics
            .first()
            .and_then(|t| t.partitions.first())
            .map_or(0, |p| p.error_code)
    } else if let Some(r) = downcast::<InitProducerIdResponse>(resp) {
        r.error_code
    } else if let Some(r) = downcast::<AddPartitionsToTxnResponse>(resp) {
        if r.error_code != 0 {
            r.error_code
        } else {
            r.results_by_topic_v3_and_below
                .first()
                .and_then(|t| t.results_by_partition.first())
                .map_or(0, |p| p.partition_error_code)
        }
    } else if let Some(r) = downcast::<AddOffsetsToTxnResponse>(resp) {
        r.error_code
    } else if let Some(r) = downcast::<EndTxnResponse>(resp) {
        r.error_code
    } else {
        0
    };
    coordinator_moved(code)
}

/// `code` if it says the coordinator moved, is not available or is
/// loading: the request is retried after finding the coordinator again.
pub(super) fn coordinator_moved(code: i16) -> Option<ErrorCode> {
    match ErrorCode::from_code(code) {
        Some(
            c @ (ErrorCode::NotCoordinator
            | ErrorCode::CoordinatorNotAvailable
            | ErrorCode::CoordinatorLoadInProgress),
        ) => Some(c),
        _ => None,
    }
}

/// Whether an admin response says the controller moved.
fn controller_moved(resp: &dyn Any) -> bool {
    const NOT_CONTROLLER: i16 = 41;
    if let Some(r) = downcast::<CreateTopicsResponse>(resp) {
        return r.topics.iter().any(|t| t.error_code == NOT_CONTROLLER);
    }
    if let Some(r) = downcast::<DeleteTopicsResponse>(resp) {
        return r.responses.iter().any(|t| t.error_code == NOT_CONTROLLER);
    }
    if let Some(r) = downcast::<CreatePartitionsResponse>(resp) {
        return r.results.iter().any(|t| t.error_code == NOT_CONTROLLER);
    }
    if let Some(r) = downcast::<ElectLeadersResponse>(resp) {
        return r.error_code == NOT_CONTROLLER;
    }
    if let Some(r) = downcast::<AlterPartitionReassignmentsResponse>(resp) {
        return r.error_code == NOT_CONTROLLER;
    }
    if let Some(r) = downcast::<ListPartitionReassignmentsResponse>(resp) {
        return r.error_code == NOT_CONTROLLER;
    }
    false
}

/// A Metadata request for `topics` (an empty list asks for brokers only).
pub(crate) fn metadata_request(topics: &[&str], auto_create: bool) -> MetadataRequest {
    let topics = topics
        .iter()
        .map(|t| {
            metadata_request::MetadataRequestTopic::default()
                .with_name(Some(TopicName(t.to_string().into())))
        })
        .collect();
    MetadataRequest::default()
        .with_topics(Some(topics))
        .with_allow_auto_topic_creation(auto_create)
}

/// An internal signal: retry after refreshing what routed the request.
enum Retry {
    Coordinator(i8, String),
    Controller,
}

impl Cluster {
    /// Learns from responses that pass through: Metadata updates the cache.
    pub(crate) fn observe<T: 'static>(&self, resp: &T) {
        let any: &dyn Any = resp;
        if let Some(m) = any.downcast_ref::<MetadataResponse>() {
            self.apply_metadata(m, false);
        }
    }

    /// Runs `f` until it succeeds, fails with a non-retriable error, or the
    /// retry budget (`request_retries`, `retry_timeout`, `deadline`) is spent.
    pub(crate) fn retry<T>(
        &self,
        key: i16,
        deadline: Option<Instant>,
        mut f: impl FnMut(u32) -> Result<T>,
    ) -> Result<T> {
        let cfg = &self.settings;
        let start = Instant::now();
        let limit = cfg.retry_timeout(key);
        let mut tries: u32 = 0;
        loop {
            tries += 1;
            let err = match f(tries) {
                Ok(v) => return Ok(v),
                Err(e) => e,
            };
            if self.is_closed() {
                return Err(Error::ClientClosed);
            }
            // A broker handle closed because the broker left the cluster
            // reports ClientClosed although the client is open: retriable.
            let retriable = err.is_retriable() || err.is_client_closed();
            let out_of_time = !limit.is_zero() && start.elapsed() >= limit;
            if !retriable || tries >= cfg.request_retries || out_of_time {
                return Err(err);
            }
            if err.is_connection() || matches!(err, Error::UnknownBroker(_)) {
                self.trigger_metadata();
            }
            let backoff = cfg.retry_backoff(tries);
            klog!(cfg.logger(), Debug, "retrying request", "key" => key, "request" => crate::protocol::api::facts(key).name, "tries" => tries, "backoff" => format!("{backoff:?}"), "err" => err);
            self.sleep(backoff, deadline)?;
        }
    }

    /// Issues a request, routed the way kgo routes it, with retries.
    pub(crate) fn request<R: Request>(
        &self,
        req: R,
        deadline: Option<Instant>,
    ) -> Result<R::Response> {
        self.request_at(req, None, deadline)
    }

    /// [`request`](Self::request) at version `pin` when given.
    pub(crate) fn request_at<R: Request>(
        &self,
        mut req: R,
        pin: Option<i16>,
        deadline: Option<Instant>,
    ) -> Result<R::Response> {
        if self.is_closed() {
            return Err(Error::ClientClosed);
        }
        // As kgo: a raw ApiVersions without a software name gets the client's
        // (Kafka rejects an empty one, KIP-511).
        if let Some(av) = (&mut req as &mut dyn Any).downcast_mut::<ApiVersionsRequest>() {
            if av.client_software_name.is_empty() {
                *av = self.api_versions_request();
            }
        }
        // kgo's Request: a raw produce gets the client's acks, and with acks
        // 0 its timeout too (the client cannot wait for an answer otherwise
        // bounded by the request).
        if let Some(p) = (&mut req as &mut dyn Any).downcast_mut::<ProduceRequest>() {
            p.acks = self.settings.produce_acks;
            if p.acks == 0 {
                p.timeout_ms = self.settings.produce_timeout_ms;
            }
        }
        let route = route(&req);
        if let Route::Sharded = route {
            if pin.is_some() {
                return Err(Error::Config(
                    format!(
                        "{} is split per broker and cannot be pinned as a whole: pin each piece with Broker::request_pinned",
                        R::NAME
                    )
                    .into(),
                ));
            }
            return super::shard::request_merged(self, req, deadline);
        }
        if let Some(fc) = (&req as &dyn Any).downcast_ref::<FindCoordinatorRequest>() {
            let any: Box<dyn Any> = Box::new(self.find_coordinator_raw(fc.clone(), deadline)?);
            return any
                .downcast::<R::Response>()
                .map(|b| *b)
                .map_err(|_| Error::protocol("find coordinator response type"));
        }
        self.retry(R::KEY, deadline, |_| {
            let handle = match &route {
                Route::Any | Route::Sharded => self.any_handle().ok_or(Error::UnknownBroker(-1))?,
                Route::Controller => self.controller(deadline)?,
                Route::Coordinator(kind, key) => self.coordinator(*kind, key, deadline)?,
            };
            let resp = handle.send_at(req.clone(), pin, deadline)?;
            self.observe(&resp);
            let any: &dyn Any = &resp;
            let retry = match &route {
                Route::Coordinator(kind, key) => {
                    coordinator_error(any).map(|c| (Retry::Coordinator(*kind, key.clone()), c))
                }
                Route::Controller if controller_moved(any) => {
                    Some((Retry::Controller, ErrorCode::NotController))
                }
                _ => None,
            };
            match retry {
                None => Ok(resp),
                Some((Retry::Coordinator(kind, key), code)) => {
                    self.coordinators.lock().remove(&(kind, key));
                    Err(Error::from(code))
                }
                Some((Retry::Controller, code)) => {
                    self.trigger_metadata();
                    // Forget the controller so the next try refetches it.
                    let _ = self.refresh_metadata(Some(&[]), deadline);
                    Err(Error::from(code))
                }
            }
        })
    }

    /// The controller's handle, fetching metadata when it is unknown.
    pub(crate) fn controller(
        &self,
        deadline: Option<Instant>,
    ) -> Result<std::sync::Arc<crate::broker::BrokerHandle>> {
        let mut snap = self.metadata();
        if snap.controller.is_none() {
            let mut resp = self
                .any_handle()
                .ok_or(Error::UnknownBroker(-1))?
                .send(metadata_request(&[], false), deadline)?;
            // Metadata v0 answers no topics with every topic.
            resp.topics.clear();
            snap = self.apply_metadata(&resp, false);
        }
        let id = snap.controller.ok_or(Error::UnknownBroker(-1))?;
        self.handle(id).ok_or(Error::UnknownBroker(id))
    }

    /// The coordinator of `kind` (0 group, 1 transaction) for `key`, cached.
    pub(crate) fn coordinator(
        &self,
        kind: i8,
        key: &str,
        deadline: Option<Instant>,
    ) -> Result<std::sync::Arc<crate::broker::BrokerHandle>> {
        let cached = self
            .coordinators
            .lock()
            .get(&(kind, key.to_string()))
            .copied();
        let id = match cached {
            Some(id) => id,
            None => {
                let req = FindCoordinatorRequest::default()
                    .with_key(key.to_string().into())
                    .with_key_type(kind);
                let resp = self.find_coordinator_once(req, deadline)?;
                if let Some(e) =
                    Error::from_code_message(resp.error_code, resp.error_message.as_deref())
                {
                    return Err(e);
                }
                let id = resp.node_id.0;
                self.ensure_broker(BrokerMetadata {
                    node_id: id,
                    host: resp.host.to_string(),
                    port: resp.port,
                    rack: None,
                });
                self.coordinators.lock().insert((kind, key.to_string()), id);
                id
            }
        };
        self.handle(id).ok_or(Error::UnknownBroker(id))
    }

    fn find_coordinator_raw(
        &self,
        req: FindCoordinatorRequest,
        deadline: Option<Instant>,
    ) -> Result<FindCoordinatorResponse> {
        self.retry(10, deadline, |_| {
            self.find_coordinator_once(req.clone(), deadline)
        })
    }

    /// Sends FindCoordinator to any broker, converting between the single-key
    /// form (v0-3) and the batched form (v4+, KIP-699) by the version chosen.
    fn find_coordinator_once(
        &self,
        req: FindCoordinatorRequest,
        deadline: Option<Instant>,
    ) -> Result<FindCoordinatorResponse> {
        let h = self.any_handle().ok_or(Error::UnknownBroker(-1))?;
        let single = !req.key.is_empty();
        let raw = h.send_raw(
            10,
            (
                FindCoordinatorRequest::VERSIONS.min,
                FindCoordinatorRequest::VERSIONS.max,
            ),
            None,
            true,
            Box::new(move |version, buf| {
                let mut r = req;
                if version < 1 && r.key_type != 0 {
                    // FindCoordinator v0 (Kafka 0.10 and older) finds group
                    // coordinators only; Java's builder refuses the rest.
                    return Err(Error::BrokerTooOld {
                        key: 10,
                        version: 1,
                    });
                }
                if version >= 4 && single {
                    r.coordinator_keys = vec![std::mem::take(&mut r.key)];
                } else if version < 4 && !single {
                    r.key = r.coordinator_keys.first().cloned().unwrap_or_default();
                    r.coordinator_keys.clear();
                }
                r.encode(buf, version)
                    .map_err(|e| Error::protocol(format!("encoding find coordinator: {e}")))
            }),
            deadline,
        )?;
        let mut body = raw
            .body
            .ok_or_else(|| Error::protocol("find coordinator: no response"))?;
        let len = body.len();
        let decoded = crate::messages::wire::with_budget(len, || {
            FindCoordinatorResponse::decode(&mut body, raw.version)
        });
        let mut resp = decoded.map_err(|e| {
            Error::protocol(format!("decoding find coordinator v{}: {e}", raw.version))
        })?;
        if raw.version >= 4 && single {
            if let Some(c) = resp.coordinators.first() {
                resp.error_code = c.error_code;
                resp.error_message = c.error_message.clone();
                resp.node_id = c.node_id;
                resp.host = c.host.clone();
                resp.port = c.port;
            }
        }
        if let Some(e) = Error::from_code(resp.error_code) {
            if e.is_retriable() {
                return Err(e);
            }
        }
        Ok(resp)
    }
}
