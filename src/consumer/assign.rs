//! Group consuming: the group member assigns and revokes partitions here;
//! cursors then follow the assignment instead of the subscribed topics.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use super::{BufPart, Buffered, Consumer, Offset};
use crate::error::Error;
use crate::metadata::MetadataSnapshot;

impl Consumer {
    /// Where a partition with nothing committed starts (`consume_reset_offset`).
    pub(crate) fn reset_offset(&self) -> Offset {
        self.cfg.reset_offset
    }

    /// The topics this consumer subscribes to in `snap`: the configured
    /// topics, or with consume_regex every matching topic (for the group's
    /// subscription).
    pub(crate) fn subscribed_topics(&self, snap: &MetadataSnapshot) -> Vec<String> {
        if self.regexes.is_empty() {
            let mut t = self.cfg.topics.clone();
            t.sort();
            t.dedup();
            return t;
        }
        self.match_topics(snap)
    }

    /// Group consuming: starts consuming `partitions` from the given offsets
    /// (cursors are created once metadata knows their leaders).
    pub(crate) fn assign(&self, partitions: HashMap<String, HashMap<i32, Offset>>) {
        let topics: Vec<String> = partitions.keys().cloned().collect();
        {
            let mut a = self.assigned.lock();
            for (t, ps) in partitions {
                a.entry(t).or_default().extend(ps);
            }
        }
        if self.cluster.metadata_cache().track(topics) {
            self.cluster.trigger_metadata_now();
        }
        self.update_metadata(&self.cluster.metadata());
    }

    /// Group consuming: stops consuming `partitions`; their buffered data is
    /// dropped (the next poll returns nothing of them).
    pub(crate) fn unassign(&self, partitions: &BTreeMap<String, Vec<i32>>) {
        {
            let mut a = self.assigned.lock();
            for (t, ps) in partitions {
                if let Some(m) = a.get_mut(t) {
                    for p in ps {
                        m.remove(p);
                    }
                    if m.is_empty() {
                        a.remove(t);
                    }
                }
            }
        }
        let mut gone = Vec::new();
        {
            let mut cursors = self.cursors.lock();
            for (t, ps) in partitions {
                for p in ps {
                    if let Some(cur) = cursors.remove(&(Arc::from(t.as_str()), *p)) {
                        gone.push(cur);
                    }
                }
            }
        }
        for cur in gone {
            let src = {
                let mut st = cur.st.lock();
                // Stale from now on: buffered data of it is dropped on take.
                st.gen += 1;
                st.paused = true;
                st.source
            };
            if let Some(s) = self.sources.lock().get(&src).cloned() {
                s.remove(&cur);
            }
        }
    }

    /// Buffers an error for the next poll (a fatal group error, say).
    pub(crate) fn inject_error(&self, err: Error) {
        let b = Buffered {
            source: None,
            parts: vec![BufPart::error(Arc::from(""), -1, err)],
            charged: 0,
        };
        self.push(b, &[]);
    }
}
