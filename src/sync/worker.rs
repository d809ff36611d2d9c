//! The shared shape of a per-broker worker thread (a producer sink, a
//! consumer source): the members it serves, a wake-up channel, a stop flag
//! and its join handle.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use crossbeam_channel::{Receiver, Sender};
use parking_lot::Mutex;

pub(crate) struct Worker<T> {
    pub(crate) broker: i32,
    wake_tx: Sender<()>,
    members: Mutex<Vec<Arc<T>>>,
    stop: AtomicBool,
    join: Mutex<Option<JoinHandle<()>>>,
}

impl<T> Worker<T> {
    /// A worker for `broker` and the receiving end of its wake-ups (a
    /// one-slot channel: wake-ups coalesce).
    pub(crate) fn new(broker: i32) -> (Worker<T>, Receiver<()>) {
        let (wake_tx, wake_rx) = crossbeam_channel::bounded(1);
        let w = Worker {
            broker,
            wake_tx,
            members: Mutex::new(Vec::new()),
            stop: AtomicBool::new(false),
            join: Mutex::new(None),
        };
        (w, wake_rx)
    }

    pub(crate) fn set_join(&self, j: JoinHandle<()>) {
        *self.join.lock() = Some(j);
    }

    pub(crate) fn wake(&self) {
        let _ = self.wake_tx.try_send(());
    }

    /// A sender of wake-ups, for callbacks that outlive a borrow.
    pub(crate) fn waker(&self) -> Sender<()> {
        self.wake_tx.clone()
    }

    pub(crate) fn add(&self, m: Arc<T>) {
        let mut v = self.members.lock();
        if !v.iter().any(|x| Arc::ptr_eq(x, &m)) {
            v.push(m);
        }
    }

    /// Removes a member and wakes the thread (it may be waiting on it).
    pub(crate) fn remove(&self, m: &Arc<T>) {
        self.members.lock().retain(|x| !Arc::ptr_eq(x, m));
        self.wake();
    }

    /// A snapshot of the members.
    pub(crate) fn members(&self) -> Vec<Arc<T>> {
        self.members.lock().clone()
    }

    pub(crate) fn stopping(&self) -> bool {
        self.stop.load(Ordering::Acquire)
    }

    pub(crate) fn signal_stop(&self) {
        self.stop.store(true, Ordering::Release);
        self.wake();
    }

    /// Stops the thread and joins it (unless called from it).
    pub(crate) fn stop_and_join(&self) {
        self.signal_stop();
        let join = self.join.lock().take();
        if let Some(j) = join {
            if j.thread().id() != std::thread::current().id() {
                let _ = j.join();
            }
        }
    }
}
