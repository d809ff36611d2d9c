//! Moving and pausing cursors from outside a poll: pause and resume by
//! topic or partition, and set offsets (kgo's `PauseFetchTopics`,
//! `ResumeFetchPartitions`, `SetOffsets`, ...).

use std::collections::{HashMap, HashSet};

use super::{Consumer, EpochOffset, Offset};

impl Consumer {
    /// Records buffered for polling.
    pub(crate) fn buffered_records(&self) -> usize {
        self.buf.lock().records
    }

    /// Budget bytes in use: buffered data plus in-flight reservations.
    pub(crate) fn buffered_bytes(&self) -> usize {
        self.buf.lock().used
    }

    /// The most budget bytes ever in use at once.
    pub(crate) fn peak_buffered_bytes(&self) -> usize {
        self.peak_used.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Stops fetching `topics` (and drops their buffered data) until
    /// resumed; partitions found later are paused too. Returns every paused
    /// topic (kgo's `PauseFetchTopics`).
    pub(crate) fn pause_topics(&self, set: HashSet<String>) -> Vec<String> {
        let c = self;
        c.paused_topics.lock().extend(set.iter().cloned());
        c.each_cursor(|cur, st| {
            if set.contains(&*cur.topic) {
                st.paused = true;
            }
        });
        c.paused_topics.lock().iter().cloned().collect()
    }

    /// Stops fetching the given partitions until resumed (kgo's
    /// `PauseFetchPartitions`); their buffered data is dropped. Returns
    /// every paused partition.
    pub(crate) fn pause_partitions(
        &self,
        partitions: HashMap<String, Vec<i32>>,
    ) -> HashMap<String, Vec<i32>> {
        let c = self;
        {
            let mut pp = c.paused_partitions.lock();
            for (t, ps) in &partitions {
                for p in ps {
                    pp.insert((t.clone(), *p));
                }
            }
        }
        c.each_cursor(|cur, st| {
            if partitions
                .get(&*cur.topic)
                .is_some_and(|ps| ps.contains(&cur.partition))
            {
                st.paused = true;
            }
        });
        let mut out: HashMap<String, Vec<i32>> = HashMap::new();
        for (t, p) in c.paused_partitions.lock().iter() {
            out.entry(t.clone()).or_default().push(*p);
        }
        out
    }

    /// Resumes topics paused with `pause_topics`.
    pub(crate) fn resume_topics(&self, set: HashSet<String>) {
        let c = self;
        c.paused_topics.lock().retain(|t| !set.contains(t));
        let pp = c.paused_partitions.lock().clone();
        c.each_cursor(|cur, st| {
            if set.contains(&*cur.topic) && !pp.contains(&(cur.topic.to_string(), cur.partition)) {
                st.paused = false;
                st.stopped = false;
            }
        });
    }

    /// Resumes partitions paused with
    /// `pause_partitions`.
    pub(crate) fn resume_partitions(&self, partitions: HashMap<String, Vec<i32>>) {
        let c = self;
        c.paused_partitions
            .lock()
            .retain(|(t, p)| !partitions.get(t).is_some_and(|ps| ps.contains(p)));
        let pt = c.paused_topics.lock().clone();
        c.each_cursor(|cur, st| {
            if !pt.contains(&*cur.topic)
                && partitions
                    .get(&*cur.topic)
                    .is_some_and(|ps| ps.contains(&cur.partition))
            {
                st.paused = false;
                st.stopped = false;
            }
        });
    }

    /// Sets where consuming continues for partitions being consumed (kgo's
    /// `SetOffsets`); buffered data of those partitions is dropped. A
    /// negative offset means -2 start / -1 end. Partitions not being
    /// consumed are ignored.
    pub(crate) fn set_offsets(&self, offsets: HashMap<String, HashMap<i32, EpochOffset>>) {
        let c = self;
        c.each_cursor(|cur, st| {
            if let Some(eo) = offsets
                .get(&*cur.topic)
                .and_then(|ps| ps.get(&cur.partition))
            {
                st.gen += 1;
                st.backoff_until = None;
                st.stopped = false;
                if eo.offset < 0 {
                    st.pending = Some(Offset::new().at(eo.offset).with_epoch(eo.epoch));
                } else {
                    st.pending = None;
                    st.offset = eo.offset;
                    st.last_epoch = eo.epoch;
                }
            }
        });
    }
}
