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

/// How many buffers of each kind are kept: enough for every partition a
/// producer fills at once in a burst (two callers on six partitions took
/// six; with two kept, one thread ran 1.3x faster than before and two
/// gained less).
const KEEP: usize = 8;

/// The most memory the spare buffers hold together: Java's default
/// `buffer.memory` (32 MiB), the bound of its `BufferPool`.
const MAX_BYTES: usize = 32 << 20;

/// The smallest buffer worth keeping: smaller ones are cheap to allocate,
/// and would take the slots of batch-sized ones (a record failed alone
/// completes in an entries `Vec` of one).
const MIN_BYTES: usize = 4 << 10;

/// One batch's entries: its records and their callbacks.
pub(crate) type Entries = Vec<(Record, Callback)>;

/// Spare records buffers and entries `Vec`s: at most [`KEEP`] of each and
/// [`MAX_BYTES`] together, a records buffer up to a full batch, an entries
/// `Vec` up to four times that in memory.
pub(crate) struct BufPool {
    spare: Mutex<Spare>,
    /// The largest records buffer kept (a full batch's).
    max_records: usize,
}

#[derive(Default)]
struct Spare {
    records: Vec<Vec<u8>>,
    entries: Vec<Entries>,
    /// Their capacity in bytes, together.
    bytes: usize,
}

fn entries_bytes(v: &Entries) -> usize {
    v.capacity() * std::mem::size_of::<(Record, Callback)>()
}

impl BufPool {
    pub(crate) fn new(batch_max_bytes: usize) -> Arc<BufPool> {
        Arc::new(BufPool {
            spare: Mutex::new(Spare::default()),
            max_records: batch_max_bytes.saturating_add(4 << 10),
        })
    }

    /// A records buffer with room for at least `cap` bytes: a spare one
    /// that big, or a new one (growing a smaller spare would copy its old
    /// capacity).
    pub(crate) fn records(&self, cap: usize) -> Vec<u8> {
        let mut s = self.spare.lock();
        if let Some(i) = s.records.iter().position(|v| v.capacity() >= cap) {
            let v = s.records.swap_remove(i);
            s.bytes -= v.capacity();
            return v;
        }
        drop(s);
        Vec::with_capacity(cap)
    }

    /// An empty entries `Vec` with room for at least `cap` entries.
    pub(crate) fn entries(&self, cap: usize) -> Entries {
        let mut s = self.spare.lock();
        if let Some(i) = s.entries.iter().position(|v| v.capacity() >= cap) {
            let v = s.entries.swap_remove(i);
            s.bytes -= entries_bytes(&v);
            return v;
        }
        drop(s);
        Vec::with_capacity(cap)
    }

    pub(crate) fn give_records(&self, mut v: Vec<u8>) {
        let bytes = v.capacity();
        if bytes < MIN_BYTES || bytes > self.max_records {
            return;
        }
        v.clear();
        let mut s = self.spare.lock();
        if s.records.len() < KEEP && s.bytes + bytes <= MAX_BYTES {
            s.bytes += bytes;
            s.records.push(v);
        }
    }

    pub(crate) fn give_entries(&self, v: Entries) {
        // Only emptied Vecs come back (`completion::finish` drains them);
        // one a full batch would not need is not kept.
        let bytes = entries_bytes(&v);
        if !v.is_empty() || bytes < MIN_BYTES || bytes > 4 * self.max_records {
            return;
        }
        let mut s = self.spare.lock();
        if s.entries.len() < KEEP && s.bytes + bytes <= MAX_BYTES {
            s.bytes += bytes;
            s.entries.push(v);
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
        assert!(pool.spare.lock().records.is_empty(), "still referenced");
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
        assert!(pool.spare.lock().records.is_empty());
        for _ in 0..KEEP + 2 {
            pool.give_records(Vec::with_capacity(4096));
        }
        assert_eq!(pool.spare.lock().records.len(), KEEP);
        assert_eq!(pool.spare.lock().bytes, KEEP * 4096);
        // Too small for what is asked: a new one, the spares stay.
        assert!(pool.records(1 << 20).capacity() >= 1 << 20);
        assert_eq!(pool.spare.lock().records.len(), KEEP);
        // A buffer too small to be worth keeping is not kept.
        let small = BufPool::new(1 << 20);
        small.give_records(Vec::with_capacity(MIN_BYTES - 1));
        small.give_entries(Entries::with_capacity(1));
        assert_eq!(small.spare.lock().bytes, 0);
        // Entries come back emptied; a non-empty Vec is not kept.
        small.give_entries(Entries::with_capacity(1024));
        let e = small.entries(8);
        assert!(e.is_empty() && e.capacity() >= 1024);
        let mut full = Entries::with_capacity(1024);
        full.push((Record::default(), Callback::Boxed(Box::new(|_, _| {}))));
        small.give_entries(full);
        assert!(small.spare.lock().entries.is_empty());
    }

    #[test]
    fn a_spare_big_enough_is_found_among_smaller_ones() {
        let pool = BufPool::new(1 << 20);
        pool.give_records(Vec::with_capacity(1 << 20));
        pool.give_records(Vec::with_capacity(MIN_BYTES));
        let big = pool.records(512 << 10);
        assert!(big.capacity() >= 1 << 20);
        let s = pool.spare.lock();
        assert_eq!(s.records.len(), 1, "the small one stays");
        assert_eq!(s.bytes, MIN_BYTES);
    }

    #[test]
    fn the_spare_buffers_hold_at_most_max_bytes_together() {
        // 8 MiB batches: four spare buffers make 32 MiB (capacity only,
        // never touched).
        let pool = BufPool::new(8 << 20);
        for _ in 0..6 {
            pool.give_records(Vec::with_capacity(8 << 20));
        }
        let s = pool.spare.lock();
        assert_eq!(s.records.len(), 4);
        assert!(s.bytes <= MAX_BYTES);
    }
}
