//! KIP-227 incremental fetch sessions, one cache per broker (Java
//! `FetchSessionCache`, `FetchSession`, `CachedPartition`).
//!
//! Eviction is least-recently-used when the cache is full; Java protects
//! sessions younger than `min.incremental.fetch.session.eviction.ms` and
//! prefers evicting smaller sessions, which a test cluster does not need.

use std::collections::HashMap;

/// A partition as a session remembers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CachedPartition {
    pub topic: String,
    pub topic_id: u128,
    pub partition: i32,
    pub fetch_offset: i64,
    pub max_bytes: i32,
    pub current_leader_epoch: i32,
    pub last_fetched_epoch: i32,
    /// What the last response told the client; a change makes the partition
    /// part of the next incremental response.
    pub sent_hw: i64,
    pub sent_lso: i64,
    pub sent_log_start: i64,
}

impl CachedPartition {
    /// A partition with nothing sent yet.
    pub fn new(topic: String, topic_id: u128, partition: i32) -> Self {
        Self {
            topic,
            topic_id,
            partition,
            fetch_offset: 0,
            max_bytes: 0,
            current_leader_epoch: -1,
            last_fetched_epoch: -1,
            sent_hw: -1,
            sent_lso: -1,
            sent_log_start: -1,
        }
    }
}

/// One session: its epoch and partitions in response order.
#[derive(Debug)]
pub(crate) struct Session {
    pub epoch: i32,
    pub partitions: Vec<CachedPartition>,
    last_used: u64,
}

impl Session {
    /// Index of a partition by topic name and number.
    pub fn find(&self, topic: &str, partition: i32) -> Option<usize> {
        self.partitions
            .iter()
            .position(|p| p.partition == partition && p.topic == topic)
    }
}

/// The per-broker session cache.
#[derive(Debug)]
pub(crate) struct SessionCache {
    capacity: usize,
    next_id: i32,
    clock: u64,
    sessions: HashMap<i32, Session>,
}

/// Why an incremental request has no session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SessionError {
    NotFound,
    InvalidEpoch,
}

impl SessionCache {
    /// A cache of `capacity` sessions (0 disables sessions).
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity,
            next_id: 1,
            clock: 0,
            sessions: HashMap::new(),
        }
    }

    /// Removes a session, if present.
    pub fn remove(&mut self, id: i32) {
        self.sessions.remove(&id);
    }

    /// Stores a new session holding `partitions` at epoch 1, returning its id
    /// (0 when sessions are disabled) and whether another session was evicted.
    pub fn create(&mut self, partitions: Vec<CachedPartition>) -> (i32, bool) {
        if self.capacity == 0 {
            return (0, false);
        }
        let mut evicted = false;
        if self.sessions.len() >= self.capacity {
            if let Some(old) = self
                .sessions
                .iter()
                .min_by_key(|(_, s)| s.last_used)
                .map(|(id, _)| *id)
            {
                self.sessions.remove(&old);
                evicted = true;
            }
        }
        let id = loop {
            let id = self.next_id;
            self.next_id = if self.next_id == i32::MAX {
                1
            } else {
                self.next_id + 1
            };
            if !self.sessions.contains_key(&id) {
                break id;
            }
        };
        self.clock += 1;
        self.sessions.insert(
            id,
            Session {
                epoch: 1,
                partitions,
                last_used: self.clock,
            },
        );
        (id, evicted)
    }

    /// Looks up a session for an incremental request with `epoch`, and on
    /// success advances its expected epoch (Java `FetchSession.epoch = nextEpoch`).
    pub fn checkout(&mut self, id: i32, epoch: i32) -> Result<&mut Session, SessionError> {
        self.clock += 1;
        let clock = self.clock;
        let s = self.sessions.get_mut(&id).ok_or(SessionError::NotFound)?;
        if s.epoch != epoch {
            return Err(SessionError::InvalidEpoch);
        }
        s.epoch = next_epoch(epoch);
        s.last_used = clock;
        Ok(s)
    }

    /// The session with `id`, if cached.
    pub fn get_mut(&mut self, id: i32) -> Option<&mut Session> {
        self.sessions.get_mut(&id)
    }

    /// Number of cached sessions.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.sessions.len()
    }
}

/// Java `FetchMetadata.nextEpoch`: wraps to 1, never to 0 or -1.
fn next_epoch(epoch: i32) -> i32 {
    if epoch == i32::MAX {
        1
    } else {
        epoch + 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epochs_and_eviction() {
        let mut c = SessionCache::new(2);
        let (a, _) = c.create(vec![CachedPartition::new("t".into(), 1, 0)]);
        let (b, _) = c.create(Vec::new());
        assert!(c.checkout(a, 1).is_ok());
        assert_eq!(c.checkout(a, 1).err(), Some(SessionError::InvalidEpoch));
        assert!(c.checkout(a, 2).is_ok());
        // b is least recently used.
        let (_, evicted) = c.create(Vec::new());
        assert!(evicted);
        assert_eq!(c.checkout(b, 1).err(), Some(SessionError::NotFound));
        assert_eq!(c.len(), 2);
        assert_eq!(SessionCache::new(0).create(Vec::new()), (0, false));
        assert_eq!(next_epoch(i32::MAX), 1);
    }
}
