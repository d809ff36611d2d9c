//! A one-shot, condvar-backed promise.
//!
//! `promise()` returns a [`Resolver`] (kept by whoever does the work, often an
//! I/O thread) and a [`Promise`] (kept by the waiter). Dropping an unresolved
//! resolver resolves the promise with [`Error::ClientClosed`]: when a thread
//! exits on close, every caller waiting on it wakes up.

use std::sync::Arc;
use std::time::Instant;

use parking_lot::{Condvar, Mutex};

use crate::error::{Error, Result, TimeoutKind};

struct Shared<T> {
    slot: Mutex<Option<Result<T>>>,
    cond: Condvar,
}

/// The waiting half.
pub(crate) struct Promise<T> {
    shared: Arc<Shared<T>>,
}

type Callback<T> = Box<dyn FnOnce(Result<T>) + Send>;

enum Target<T> {
    Waiter(Arc<Shared<T>>),
    Call(Callback<T>),
}

/// The resolving half: wakes a [`Promise`], or calls a function (how a
/// producer sink learns of its responses without a thread per request).
pub(crate) struct Resolver<T> {
    target: Option<Target<T>>,
}

pub(crate) fn promise<T>() -> (Resolver<T>, Promise<T>) {
    let shared = Arc::new(Shared {
        slot: Mutex::new(None),
        cond: Condvar::new(),
    });
    (
        Resolver {
            target: Some(Target::Waiter(shared.clone())),
        },
        Promise { shared },
    )
}

/// A resolver that calls `f` with the result (exactly once; with
/// `ClientClosed` if dropped unresolved).
pub(crate) fn callback<T>(f: impl FnOnce(Result<T>) + Send + 'static) -> Resolver<T> {
    Resolver {
        target: Some(Target::Call(Box::new(f))),
    }
}

impl<T> Resolver<T> {
    /// Resolves the promise; later calls are impossible (takes self).
    pub(crate) fn resolve(mut self, v: Result<T>) {
        self.finish(v);
    }

    fn finish(&mut self, v: Result<T>) {
        match self.target.take() {
            Some(Target::Waiter(shared)) => {
                let mut slot = shared.slot.lock();
                if slot.is_none() {
                    *slot = Some(v);
                }
                drop(slot);
                shared.cond.notify_all();
            }
            Some(Target::Call(f)) => f(v),
            None => {}
        }
    }
}

impl<T> Drop for Resolver<T> {
    fn drop(&mut self) {
        self.finish(Err(Error::ClientClosed));
    }
}

impl<T> Promise<T> {
    /// Waits until resolved or `deadline` (`None`: no deadline).
    ///
    /// On deadline the promise is consumed and `Timeout(Caller)` returned; the
    /// work may still complete, unobserved.
    pub(crate) fn wait(self, deadline: Option<Instant>) -> Result<T> {
        let mut slot = self.shared.slot.lock();
        loop {
            if let Some(v) = slot.take() {
                return v;
            }
            match deadline {
                None => self.shared.cond.wait(&mut slot),
                Some(d) => {
                    if self.shared.cond.wait_until(&mut slot, d).timed_out() {
                        return slot
                            .take()
                            .unwrap_or(Err(Error::Timeout(TimeoutKind::Caller)));
                    }
                }
            }
        }
    }
}

impl<T> std::fmt::Debug for Promise<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Promise")
    }
}

impl<T> std::fmt::Debug for Resolver<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Resolver")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn resolves_across_threads() {
        let (r, p) = promise::<u32>();
        let t = std::thread::spawn(move || r.resolve(Ok(7)));
        assert_eq!(p.wait(None).unwrap(), 7);
        t.join().unwrap();
    }

    #[test]
    fn dropped_resolver_is_client_closed() {
        let (r, p) = promise::<u32>();
        drop(r);
        assert!(matches!(p.wait(None), Err(Error::ClientClosed)));
    }

    #[test]
    fn callback_resolver_runs_once_and_on_drop() {
        let (tx, rx) = std::sync::mpsc::channel();
        let t2 = tx.clone();
        callback::<u32>(move |r| tx.send(r.map_err(|e| e.to_string())).unwrap()).resolve(Ok(3));
        drop(callback::<u32>(move |r| {
            t2.send(r.map_err(|e| e.to_string())).unwrap()
        }));
        assert_eq!(rx.recv().unwrap(), Ok(3));
        assert_eq!(rx.recv().unwrap(), Err("client closed".to_string()));
    }

    #[test]
    fn deadline_times_out() {
        let (_r, p) = promise::<u32>();
        let start = Instant::now();
        let e = p
            .wait(Some(Instant::now() + Duration::from_millis(30)))
            .unwrap_err();
        assert!(matches!(e, Error::Timeout(TimeoutKind::Caller)));
        assert!(start.elapsed() >= Duration::from_millis(30));
    }
}
