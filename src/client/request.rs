//! Raw requests, metadata and brokers: the [`Client`] methods over the
//! cluster core's routing, plus the per-broker [`Broker`] handle.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::Client;
use crate::broker::BrokerMetadata;
use crate::cluster::ResponseShard;
use crate::error::{Error, Result};
use crate::messages::Request;
use crate::metadata::MetadataSnapshot;
use crate::sync::deadline_after;

impl Client {
    /// A handle to issue requests to one broker, by node id. The broker need
    /// not exist: requests to an unknown broker fail with [`Error::UnknownBroker`].
    pub fn broker(&self, id: i32) -> Broker {
        Broker {
            client: self.clone(),
            id,
        }
    }

    /// Brokers discovered from metadata responses so far (no request is
    /// issued; seeds are not included).
    pub fn discovered_brokers(&self) -> Vec<Broker> {
        let ids = self.inner.cluster.discovered_ids();
        ids.into_iter().map(|id| self.broker(id)).collect()
    }

    /// The seed brokers, with their internal ids (from `i32::MIN` upwards).
    pub fn seed_brokers(&self) -> Vec<Broker> {
        let ids = self.inner.cluster.seed_ids();
        ids.into_iter().map(|id| self.broker(id)).collect()
    }

    /// The cached metadata: brokers, controller, cluster id, and the topics
    /// the client tracks. Issues no request.
    pub fn metadata(&self) -> Arc<MetadataSnapshot> {
        self.inner.cluster.metadata()
    }

    /// Fetches metadata now for `topics` (`None`: the tracked topics; an
    /// empty list: brokers only), updating the cache and the broker set.
    ///
    /// # Errors
    ///
    /// The request's error after retries.
    ///
    /// # Blocking
    ///
    /// Until the response, retries included (bounded by `retry_timeout`), or close.
    pub fn refresh_metadata(&self, topics: Option<&[&str]>) -> Result<Arc<MetadataSnapshot>> {
        self.inner.cluster.refresh_metadata(topics, None)
    }

    /// [`refresh_metadata`](Self::refresh_metadata) within `timeout`.
    ///
    /// # Errors
    ///
    /// As [`refresh_metadata`](Self::refresh_metadata), or a caller timeout.
    pub fn refresh_metadata_timeout(
        &self,
        topics: Option<&[&str]>,
        timeout: Duration,
    ) -> Result<Arc<MetadataSnapshot>> {
        self.refresh_metadata_deadline(topics, deadline_after(timeout))
    }

    /// [`refresh_metadata`](Self::refresh_metadata) until `deadline`.
    ///
    /// # Errors
    ///
    /// As [`refresh_metadata`](Self::refresh_metadata), or a caller timeout.
    pub fn refresh_metadata_deadline(
        &self,
        topics: Option<&[&str]>,
        deadline: Instant,
    ) -> Result<Arc<MetadataSnapshot>> {
        self.inner.cluster.refresh_metadata(topics, Some(deadline))
    }

    /// Returns whether any broker answers an ApiVersions request, trying every
    /// discovered broker and every seed at most once (kgo's `Ping`). The
    /// request carries the client's software name and version, as the
    /// connection handshake does.
    ///
    /// # Errors
    ///
    /// The last broker's error when none answered.
    ///
    /// # Blocking
    ///
    /// Up to one request deadline per broker tried, or until close.
    pub fn ping(&self) -> Result<()> {
        self.inner.cluster.ping(None)
    }

    /// [`ping`](Self::ping) within `timeout` for the whole call.
    ///
    /// # Errors
    ///
    /// As [`ping`](Self::ping), or [`Error::Timeout`] when time runs out.
    pub fn ping_timeout(&self, timeout: Duration) -> Result<()> {
        self.ping_deadline(deadline_after(timeout))
    }

    /// [`ping`](Self::ping) with a deadline for the whole call.
    ///
    /// # Errors
    ///
    /// As [`ping`](Self::ping), or [`Error::Timeout`] at the deadline.
    pub fn ping_deadline(&self, deadline: Instant) -> Result<()> {
        self.inner.cluster.ping(Some(deadline))
    }

    /// The API versions broker `id` advertised, as `(key, min, max)`, once a
    /// connection to it negotiated them.
    pub fn broker_api_versions(&self, id: i32) -> Option<Vec<(i16, i16, i16)>> {
        self.inner
            .cluster
            .handle(id)
            .and_then(|h| h.versions())
            .map(|v| v.ranges().to_vec())
    }

    /// Issues a request, routed the way kgo routes it, and waits for its response.
    ///
    /// # Versions
    ///
    /// The request is sent at the highest version that our schemas, the
    /// broker's ApiVersions answer and the client's
    /// [`max_versions`](crate::ConfigBuilder::max_versions) all allow
    /// (Produce stops at v12, which names topics; Fetch likewise). Fields the
    /// chosen version lacks are dropped when they hold their default; one
    /// that holds anything else fails the call with [`Error::Protocol`] naming
    /// the field and version, as kmsg does. To send a field that a newer
    /// version introduced and be sure it arrives, pin the version with
    /// [`request_pinned`](Self::request_pinned); the versions a broker
    /// supports are in [`broker_api_versions`](Self::broker_api_versions).
    ///
    /// Admin requests go to the controller; group requests to the group
    /// coordinator and transaction requests to the transaction coordinator
    /// (found with FindCoordinator and cached); ListOffsets, DeleteRecords,
    /// OffsetForLeaderEpoch, DescribeConfigs, AlterConfigs,
    /// IncrementalAlterConfigs, AlterReplicaLogDirs (each assignment to every
    /// replica of its partition), DescribeLogDirs, DescribeGroups,
    /// ListGroups, DeleteGroups, DescribeProducers, DescribeTransactions,
    /// ListTransactions and a batched OffsetFetch (v8+) naming several
    /// groups are split per broker and their responses merged (prefer
    /// [`request_sharded`](Self::request_sharded) for those); anything else
    /// goes to any broker. Retriable connection errors and coordinator or
    /// controller moves (for the split OffsetFetch, DescribeGroups,
    /// DeleteGroups and DescribeTransactions too: their groups or
    /// transactional ids answered
    /// NOT_COORDINATOR, COORDINATOR_NOT_AVAILABLE or
    /// COORDINATOR_LOAD_IN_PROGRESS are sent again to their coordinator,
    /// looked up anew) are retried up to `request_retries` times within
    /// `retry_timeout`.
    ///
    /// As in kgo, a raw `ProduceRequest` is sent with the client's
    /// [`required_acks`](crate::ConfigBuilder::required_acks), and with acks 0
    /// also with its [`produce_request_timeout`](crate::ConfigBuilder::produce_request_timeout);
    /// a raw `ApiVersionsRequest` without a software name gets the client's.
    ///
    /// # Errors
    ///
    /// The last error after retries; [`Error::ClientClosed`] after close.
    ///
    /// # Blocking
    ///
    /// Until the response, the retry timeout, or close.
    pub fn request<R: Request>(&self, req: R) -> Result<R::Response> {
        self.inner.cluster.request(req, None)
    }

    /// [`request`](Self::request) with a deadline for the whole call.
    ///
    /// # Errors
    ///
    /// As [`request`](Self::request), or [`Error::Timeout`] with
    /// [`TimeoutKind::Caller`](crate::TimeoutKind::Caller) at the deadline. A
    /// request already written may still take effect on the broker.
    pub fn request_deadline<R: Request>(&self, req: R, deadline: Instant) -> Result<R::Response> {
        self.inner.cluster.request(req, Some(deadline))
    }

    /// [`request`](Self::request) with a timeout for the whole call.
    ///
    /// # Errors
    ///
    /// As [`request_deadline`](Self::request_deadline).
    pub fn request_timeout<R: Request>(&self, req: R, timeout: Duration) -> Result<R::Response> {
        self.request_deadline(req, deadline_after(timeout))
    }

    /// [`request`](Self::request) at exactly `version`, whatever the
    /// client's `max_versions` and `min_versions` say.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] when our schema does not define the version, when
    /// the broker does not support it, or when the request is one that is
    /// split per broker (pin each piece with [`Broker::request_pinned`]);
    /// otherwise as [`request`](Self::request).
    ///
    /// # Blocking
    ///
    /// As [`request`](Self::request).
    pub fn request_pinned<R: Request>(&self, req: R, version: i16) -> Result<R::Response> {
        self.inner.cluster.request_at(req, Some(version), None)
    }

    /// [`request_pinned`](Self::request_pinned) with a deadline for the whole call.
    ///
    /// # Errors
    ///
    /// As [`request_pinned`](Self::request_pinned), or a caller timeout.
    pub fn request_pinned_deadline<R: Request>(
        &self,
        req: R,
        version: i16,
        deadline: Instant,
    ) -> Result<R::Response> {
        self.inner
            .cluster
            .request_at(req, Some(version), Some(deadline))
    }

    /// [`request_pinned`](Self::request_pinned) within `timeout`.
    ///
    /// # Errors
    ///
    /// As [`request_pinned_deadline`](Self::request_pinned_deadline).
    pub fn request_pinned_timeout<R: Request>(
        &self,
        req: R,
        version: i16,
        timeout: Duration,
    ) -> Result<R::Response> {
        self.request_pinned_deadline(req, version, deadline_after(timeout))
    }

    /// Issues `req` like [`request`](Self::request), returning every
    /// broker's response separately. Always returns at least one shard.
    ///
    /// # Blocking
    ///
    /// Until every shard answered (each with retries) or close.
    pub fn request_sharded<R: Request>(&self, req: R) -> Vec<ResponseShard<R>> {
        self.inner.cluster.request_sharded(req, None)
    }

    /// [`request_sharded`](Self::request_sharded) within `timeout`.
    pub fn request_sharded_timeout<R: Request>(
        &self,
        req: R,
        timeout: Duration,
    ) -> Vec<ResponseShard<R>> {
        self.request_sharded_deadline(req, deadline_after(timeout))
    }

    /// [`request_sharded`](Self::request_sharded) with a deadline.
    pub fn request_sharded_deadline<R: Request>(
        &self,
        req: R,
        deadline: Instant,
    ) -> Vec<ResponseShard<R>> {
        self.inner.cluster.request_sharded(req, Some(deadline))
    }
}

/// A handle to issue requests to one broker (kgo's `Broker`).
#[derive(Clone, Debug)]
pub struct Broker {
    client: Client,
    id: i32,
}

impl Broker {
    /// The broker's node id.
    pub fn id(&self) -> i32 {
        self.id
    }

    /// The broker's metadata, if the client knows it.
    pub fn metadata(&self) -> Option<BrokerMetadata> {
        let h = self.client.inner.cluster.handle(self.id)?;
        Some(h.meta().clone())
    }

    /// Issues `req` to this broker once, without retries.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownBroker`] when the client does not know the broker; any
    /// connection or decoding error.
    ///
    /// # Blocking
    ///
    /// Until the response (bounded by the request's deadline) or close.
    pub fn request<R: Request>(&self, req: R) -> Result<R::Response> {
        self.request_inner(req, None)
    }

    /// [`request`](Self::request) within `timeout`.
    ///
    /// # Errors
    ///
    /// As [`request`](Self::request), or a caller timeout.
    pub fn request_timeout<R: Request>(&self, req: R, timeout: Duration) -> Result<R::Response> {
        self.request_inner(req, Some(deadline_after(timeout)))
    }

    /// [`request`](Self::request) with a deadline.
    ///
    /// # Errors
    ///
    /// As [`request`](Self::request), or a caller timeout.
    pub fn request_deadline<R: Request>(&self, req: R, deadline: Instant) -> Result<R::Response> {
        self.request_inner(req, Some(deadline))
    }

    /// [`request`](Self::request) at exactly `version` (see
    /// [`Client::request_pinned`]).
    ///
    /// # Errors
    ///
    /// [`Error::Config`] when our schema or the broker lacks the version;
    /// otherwise as [`request`](Self::request).
    ///
    /// # Blocking
    ///
    /// As [`request`](Self::request).
    pub fn request_pinned<R: Request>(&self, req: R, version: i16) -> Result<R::Response> {
        self.request_at(req, Some(version), None)
    }

    /// [`request_pinned`](Self::request_pinned) with a deadline.
    ///
    /// # Errors
    ///
    /// As [`request_pinned`](Self::request_pinned), or a caller timeout.
    pub fn request_pinned_deadline<R: Request>(
        &self,
        req: R,
        version: i16,
        deadline: Instant,
    ) -> Result<R::Response> {
        self.request_at(req, Some(version), Some(deadline))
    }

    /// [`request_pinned`](Self::request_pinned) within `timeout`.
    ///
    /// # Errors
    ///
    /// As [`request_pinned_deadline`](Self::request_pinned_deadline).
    pub fn request_pinned_timeout<R: Request>(
        &self,
        req: R,
        version: i16,
        timeout: Duration,
    ) -> Result<R::Response> {
        self.request_pinned_deadline(req, version, deadline_after(timeout))
    }

    fn request_inner<R: Request>(&self, req: R, deadline: Option<Instant>) -> Result<R::Response> {
        self.request_at(req, None, deadline)
    }

    fn request_at<R: Request>(
        &self,
        req: R,
        pin: Option<i16>,
        deadline: Option<Instant>,
    ) -> Result<R::Response> {
        let cluster = &self.client.inner.cluster;
        let h = cluster
            .handle(self.id)
            .ok_or(Error::UnknownBroker(self.id))?;
        let resp = h.send_at(req, pin, deadline)?;
        cluster.observe(&resp);
        Ok(resp)
    }

    /// Like [`request`](Self::request), but retries retriable connection
    /// errors (not errors inside the response), within `request_retries` and
    /// `retry_timeout`.
    ///
    /// # Errors
    ///
    /// The last error after retries.
    pub fn retriable_request<R: Request>(&self, req: R) -> Result<R::Response> {
        self.retriable_inner(req, None)
    }

    /// [`retriable_request`](Self::retriable_request) within `timeout`.
    ///
    /// # Errors
    ///
    /// As [`retriable_request`](Self::retriable_request), or a caller timeout.
    pub fn retriable_request_timeout<R: Request>(
        &self,
        req: R,
        timeout: Duration,
    ) -> Result<R::Response> {
        self.retriable_inner(req, Some(deadline_after(timeout)))
    }

    /// [`retriable_request`](Self::retriable_request) until `deadline`.
    ///
    /// # Errors
    ///
    /// As [`retriable_request`](Self::retriable_request), or a caller timeout.
    pub fn retriable_request_deadline<R: Request>(
        &self,
        req: R,
        deadline: Instant,
    ) -> Result<R::Response> {
        self.retriable_inner(req, Some(deadline))
    }

    fn retriable_inner<R: Request>(
        &self,
        req: R,
        deadline: Option<Instant>,
    ) -> Result<R::Response> {
        let cluster = &self.client.inner.cluster;
        let id = self.id;
        cluster.retry(R::KEY, deadline, |_| {
            let h = cluster.handle(id).ok_or(Error::UnknownBroker(id))?;
            let resp = h.send(req.clone(), deadline)?;
            cluster.observe(&resp);
            Ok(resp)
        })
    }
}
