//! The shared shape of a per-broker worker thread (a producer sink, a
//! consumer source): the members it serves, a wake-up signal, a stop flag
//! and its join handle.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use std::time::Duration;

use crossbeam_channel::{Receiver, Sender};
use parking_lot::{Condvar, Mutex};

/// A wake-up flag that sleeps on a condvar. crossbeam's blocking receive
/// spins and yields the CPU (`sched_yield`) several times before it sleeps;
/// on two cores with four busy threads that made about five yields and as
/// many context switches per produce request. This parks at once.
/// Wake-ups coalesce: several before a wait end one wait.
#[derive(Default)]
pub(crate) struct Signal {
    set: Mutex<bool>,
    cv: Condvar,
}

impl Signal {
    /// Sets the flag and wakes the waiter, if any.
    pub(crate) fn notify(&self) {
        let mut g = self.set.lock();
        if !*g {
            *g = true;
            self.cv.notify_one();
        }
    }

    /// Waits until notified (returns true) or `timeout` passes (false);
    /// clears the flag.
    pub(crate) fn wait_timeout(&self, timeout: Duration) -> bool {
        let mut g = self.set.lock();
        if !*g {
            self.cv.wait_for(&mut g, timeout);
        }
        std::mem::replace(&mut *g, false)
    }
}

/// The sending side of a worker's replies: a channel, then the worker's
/// signal, so the worker finds the reply when it wakes.
pub(crate) struct Inbox<R> {
    tx: Sender<R>,
    signal: Arc<Signal>,
}

impl<R> Clone for Inbox<R> {
    fn clone(&self) -> Self {
        Inbox {
            tx: self.tx.clone(),
            signal: self.signal.clone(),
        }
    }
}

impl<R> Inbox<R> {
    /// A reply channel into `signal`'s worker: the inbox and the worker's
    /// receiving end.
    pub(crate) fn channel(signal: &Arc<Signal>) -> (Inbox<R>, Receiver<R>) {
        let (tx, rx) = crossbeam_channel::unbounded();
        let inbox = Inbox {
            tx,
            signal: signal.clone(),
        };
        (inbox, rx)
    }

    /// Drops this sender and wakes the worker, which sees the channel
    /// disconnected once every sender is gone.
    pub(crate) fn close(self) {
        let signal = self.signal.clone();
        drop(self);
        signal.notify();
    }

    /// Queues a reply and wakes the worker (nothing when it is gone).
    pub(crate) fn send(&self, r: R) {
        let _ = self.try_send(r);
    }

    /// [`send`](Self::send) that hands the reply back when the worker is gone.
    pub(crate) fn try_send(&self, r: R) -> std::result::Result<(), R> {
        self.tx.send(r).map_err(|e| e.into_inner())?;
        self.signal.notify();
        Ok(())
    }
}

pub(crate) struct Worker<T> {
    pub(crate) broker: i32,
    signal: Arc<Signal>,
    members: Mutex<Vec<Arc<T>>>,
    stop: AtomicBool,
    join: Mutex<Option<JoinHandle<()>>>,
}

impl<T> Worker<T> {
    /// A worker for `broker` and the signal its thread waits on.
    pub(crate) fn new(broker: i32) -> (Worker<T>, Arc<Signal>) {
        let signal = Arc::new(Signal::default());
        let w = Worker {
            broker,
            signal: signal.clone(),
            members: Mutex::new(Vec::new()),
            stop: AtomicBool::new(false),
            join: Mutex::new(None),
        };
        (w, signal)
    }

    pub(crate) fn set_join(&self, j: JoinHandle<()>) {
        *self.join.lock() = Some(j);
    }

    pub(crate) fn wake(&self) {
        self.signal.notify();
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
