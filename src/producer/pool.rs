//! Reused batch buffers (Java's `BufferPool`): a batch's records buffer and
//! its entries `Vec` go back to the producer when the batch is done, and
//! the next batch starts with them, so a batch's memory is neither faulted
//! in afresh nor freed on another thread than the one that allocated it
//! (both showed in profiles: page faults took about 7% of producing at 1 MB
//! batches).

use std::sync::{Arc, Weak};

use parking_lot::Mutex;

use super::completion::Callback;
use crate::record::Record;

/// How many buffers of each kind are kept: a batch fills while the one
/// before is answered, so two circulate. At the default 1 MB batches that
/// is at most about 2 MB of records buffers and 8 MB of entries held
/// between bursts.
const KEEP: usize = 2;

/// One batch's entries: its records and their callbacks.
pub(crate) type Entries = Vec<(Record, Callback)>;

/// Spare records buffers and entries `Vec`s, at most [`KEEP`] of each: a
/// records buffer up to a full batch, an entries `Vec` up to four times that
/// in memory.
pub(crate) struct BufPool {
    records: Mutex<Vec<Vec<u8>>>,
    entries: Mutex<Vec<Entries>>,
    /// The largest records buffer kept (a full batch's).
    max_records: usize,
}

impl BufPool {
    pub(crate) fn new(batch_max_bytes: usize) -> Arc<BufPool> {
        Arc::new(BufPool {
            records: Mutex::new(Vec::new()),
            entries: Mutex::new(Vec::new()),
            max_records: batch_max_bytes.saturating_add(4 << 10),
        })
    }

    /// A records buffer with room for at least `cap` bytes.
    pub(crate) fn records(&self, cap: usize) -> Vec<u8> {
        match self.records.lock().pop() {
            // Growing an empty Vec would copy its old capacity: start anew.
            Some(v) if v.capacity() >= cap => v,
            _ => Vec::with_capacity(cap),
        }
    }

    /// An empty entries `Vec` with room for at least `cap` entries.
    pub(crate) fn entries(&self, cap: usize) -> Entries {
        match self.entries.lock().pop() {
            Some(v) if v.capacity() >= cap => v,
            _ => Vec::with_capacity(cap),
        }
    }

    pub(crate) fn give_records(&self, mut v: Vec<u8>) {
        if v.capacity() == 0 || v.capacity() > self.max_records {
            return;
        }
        v.clear();
        let mut kept = self.records.lock();
        if kept.len() < KEEP {
            kept.push(v);
        }
    }

    pub(crate) fn give_entries(&self, v: Entries) {
        // Only emptied Vecs come back (`completion::finish` drains them);
        // one a full batch would not need is not kept.
        let bytes = v.capacity() * std::mem::size_of::<(Record, Callback)>();
        if !v.is_empty() || bytes == 0 || bytes > 4 * self.max_records {
            return;
        }
        let mut kept = self.entries.lock();
        if kept.len() < KEEP {
            kept.push(v);
        }
    }
}

/// A records buffer on the wire: the owner of a sealed batch's records
/// section (`Bytes::from_owner`), which returns to the pool when the last
/// reference (the batch's, or the I/O thread's while it writes) is gone.
pub(crate) struct Pooled {
    buf: Vec<u8>,
    pool: Weak<BufPool>,
}

impl Pooled {
    pub(crate) fn bytes(buf: Vec<u8>, pool: &Arc<BufPool>) -> bytes::Bytes {
        bytes::Bytes::from_owner(Pooled {
            buf,
            pool: Arc::downgrade(pool),
        })
    }
}

impl AsRef<[u8]> for Pooled {
    fn as_ref(&self) -> &[u8] {
        &self.buf
    }
}

impl Drop for Pooled {
    fn drop(&mut self) {
        if let Some(p) = self.pool.upgrade() {
            p.give_records(std::mem::take(&mut self.buf));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_records_buffer_returns_when_its_last_reference_goes() {
        let pool = BufPool::new(1 << 20);
        let mut buf = pool.records(64 << 10);
        buf.extend_from_slice(b"records");
        let ptr = buf.as_ptr();
        let wire = Pooled::bytes(buf, &pool);
        let writing = wire.clone(); // the I/O thread's reference
        drop(wire);
        assert!(pool.records.lock().is_empty(), "still referenced");
        assert_eq!(&writing[..], b"records");
        drop(writing);
        let again = pool.records(1024);
        assert_eq!(again.as_ptr(), ptr, "the same allocation");
        assert!(again.is_empty() && again.capacity() >= 64 << 10);
    }

    #[test]
    fn the_pool_keeps_few_and_only_batch_sized_buffers() {
        let pool = BufPool::new(1 << 20);
        pool.give_records(Vec::with_capacity(8 << 20)); // over a batch
        assert!(pool.records.lock().is_empty());
        for _ in 0..5 {
            pool.give_records(Vec::with_capacity(4096));
        }
        assert_eq!(pool.records.lock().len(), KEEP);
        // Too small for what is asked: a new one, the spare is not grown.
        assert!(pool.records(1 << 20).capacity() >= 1 << 20);
        // Entries come back emptied; a non-empty Vec is not kept.
        pool.give_entries(Entries::with_capacity(16));
        let e = pool.entries(8);
        assert!(e.is_empty() && e.capacity() >= 16);
        let mut full = Entries::with_capacity(4);
        full.push((Record::default(), Callback::Boxed(Box::new(|_, _| {}))));
        pool.give_entries(full);
        assert!(pool.entries.lock().is_empty());
    }
}
