//! Consuming: the [`Client`] methods of kgo's direct consumer (polling,
//! pausing, offsets) over the consumer engine.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::Client;
use crate::consumer::{Consumer, EpochOffset, Fetches};
use crate::error::Error;

impl Client {
    fn consumer(&self) -> Option<&Arc<Consumer>> {
        self.inner.consumer.get()
    }

    /// Waits until fetched data is buffered and returns all of it (kgo's
    /// `PollFetches`).
    ///
    /// Check the partition errors as well as the records. After
    /// [`close`](Client::close), returns a fetch holding
    /// [`Error::ClientClosed`] (see [`Fetches::is_client_closed`]).
    ///
    /// # Blocking
    ///
    /// Until data is buffered, or close. Use
    /// [`poll_fetches_deadline`](Self::poll_fetches_deadline) to bound it.
    pub fn poll_fetches(&self) -> Fetches {
        self.poll_records_inner(0, None)
    }

    /// [`poll_fetches`](Self::poll_fetches) until `deadline`: empty fetches
    /// when nothing arrived by then.
    pub fn poll_fetches_deadline(&self, deadline: Instant) -> Fetches {
        self.poll_records_inner(0, Some(deadline))
    }

    /// [`poll_fetches`](Self::poll_fetches) for at most `timeout`.
    pub fn poll_fetches_timeout(&self, timeout: Duration) -> Fetches {
        self.poll_records_inner(0, Some(crate::sync::deadline_after(timeout)))
    }

    /// Returns buffered data without waiting (possibly empty fetches).
    pub fn try_poll_fetches(&self) -> Fetches {
        self.poll_records_inner(0, Some(Instant::now()))
    }

    /// Like [`poll_fetches`](Self::poll_fetches) but returns at most `max`
    /// records (all buffered ones when `max` is 0); the rest stay buffered
    /// for the next poll (kgo's `PollRecords`).
    ///
    /// # Blocking
    ///
    /// Until data is buffered, or close.
    pub fn poll_records(&self, max: usize) -> Fetches {
        self.poll_records_inner(max, None)
    }

    /// [`poll_records`](Self::poll_records) until `deadline`.
    pub fn poll_records_deadline(&self, max: usize, deadline: Instant) -> Fetches {
        self.poll_records_inner(max, Some(deadline))
    }

    /// [`poll_records`](Self::poll_records) for at most `timeout`.
    pub fn poll_records_timeout(&self, max: usize, timeout: Duration) -> Fetches {
        self.poll_records_inner(max, Some(crate::sync::deadline_after(timeout)))
    }

    fn poll_records_inner(&self, max: usize, deadline: Option<Instant>) -> Fetches {
        if self.is_closed() {
            return Fetches::error(Error::ClientClosed);
        }
        let Some(c) = self.consumer() else {
            return Fetches::error(Error::ClientClosed);
        };
        let fetches = c.poll(max, deadline);
        if let Some(g) = self.inner.group.get() {
            g.note_polled(&super::group::polled_offsets(&fetches));
        }
        fetches
    }

    /// How many fetched records are buffered, waiting for a poll (kgo's
    /// `BufferedFetchRecords`).
    pub fn buffered_fetch_records(&self) -> usize {
        self.consumer().map_or(0, |c| c.buffered_records())
    }

    /// The budget bytes in use now: buffered fetch data plus the room
    /// reserved for fetches in flight (at most
    /// [`max_buffered_fetch_bytes`](crate::ConfigBuilder::max_buffered_fetch_bytes)).
    pub fn buffered_fetch_bytes(&self) -> usize {
        self.consumer().map_or(0, |c| c.buffered_bytes())
    }

    /// The most budget bytes ever in use at once.
    pub fn peak_buffered_fetch_bytes(&self) -> usize {
        self.consumer().map_or(0, |c| c.peak_buffered_bytes())
    }

    /// Stops fetching `topics` until resumed; partitions found later are
    /// paused too. Data already buffered for them is still returned by
    /// polls, as kgo does. Returns every paused topic (kgo's `PauseFetchTopics`).
    pub fn pause_fetch_topics<I, S>(&self, topics: I) -> Vec<String>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let set: HashSet<String> = topics.into_iter().map(Into::into).collect();
        self.consumer()
            .map_or_else(Vec::new, |c| c.pause_topics(set))
    }

    /// Stops fetching the given partitions until resumed (kgo's
    /// `PauseFetchPartitions`); data already buffered for them is still
    /// returned by polls. Returns every paused partition.
    pub fn pause_fetch_partitions(
        &self,
        partitions: HashMap<String, Vec<i32>>,
    ) -> HashMap<String, Vec<i32>> {
        self.consumer()
            .map_or_else(HashMap::new, |c| c.pause_partitions(partitions))
    }

    /// Resumes topics paused with [`pause_fetch_topics`](Self::pause_fetch_topics).
    pub fn resume_fetch_topics<I, S>(&self, topics: I)
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let set: HashSet<String> = topics.into_iter().map(Into::into).collect();
        if let Some(c) = self.consumer() {
            c.resume_topics(set);
        }
    }

    /// Resumes partitions paused with
    /// [`pause_fetch_partitions`](Self::pause_fetch_partitions).
    pub fn resume_fetch_partitions(&self, partitions: HashMap<String, Vec<i32>>) {
        if let Some(c) = self.consumer() {
            c.resume_partitions(partitions);
        }
    }

    /// Sets where consuming continues for partitions being consumed (kgo's
    /// `SetOffsets`); buffered data of those partitions is dropped. A
    /// negative offset means -2 start / -1 end. Partitions not being
    /// consumed are ignored.
    pub fn set_offsets(&self, offsets: HashMap<String, HashMap<i32, EpochOffset>>) {
        if let Some(c) = self.consumer() {
            c.set_offsets(offsets);
        }
    }
}
