//! What the I/O thread tells the hooks about each user request once its
//! response is read or its connection fails it (kgo's HookBrokerWrite,
//! HookBrokerRead and HookBrokerE2E).

use std::time::{Duration, Instant};

use super::conn::{InFlight, Purpose};
use super::{BrokerE2E, BrokerShared};
use crate::error::Error;
use crate::hooks;

/// The read and E2E hooks for a response read whole; `started` is when its
/// first byte arrived.
pub(super) fn read(shared: &BrokerShared, f: &InFlight, bytes_read: usize, started: Instant) {
    let hooks = &shared.cfg.hooks;
    if hooks.is_empty() {
        return;
    }
    let (meta, key, now) = (&shared.meta, f.key, Instant::now());
    let written = f.written_at.unwrap_or(started);
    let e2e = BrokerE2E {
        bytes_written: f.bytes,
        bytes_read,
        write_wait: f.write_start.saturating_duration_since(f.enqueued),
        time_to_write: written.saturating_duration_since(f.write_start),
        read_wait: started.saturating_duration_since(written),
        time_to_read: now.saturating_duration_since(started),
        write_err: None,
        read_err: None,
    };
    hooks::each(hooks, |h| {
        h.on_broker_read(meta, key, bytes_read, e2e.read_wait, e2e.time_to_read, None)
    });
    hooks::each(hooks, |h| h.on_broker_e2e(meta, key, &e2e));
}

/// Fails one in-flight user request with `err`, calling the write hook
/// when its write had not finished, else the read hook, then the E2E hook
/// (kgo's HookBrokerWrite or HookBrokerRead with the error, then
/// HookBrokerE2E). `read_started` is when its response began to arrive.
pub(super) fn failed(
    shared: &BrokerShared,
    f: InFlight,
    err: &Error,
    written_total: u64,
    read_started: Option<Instant>,
) {
    let Purpose::User(r) = f.purpose else {
        return;
    };
    let hooks = &shared.cfg.hooks;
    if !hooks.is_empty() {
        let (meta, key, now) = (&shared.meta, f.key, Instant::now());
        let write_wait = f.write_start.saturating_duration_since(f.enqueued);
        let mut e2e = BrokerE2E {
            bytes_written: f.bytes,
            write_wait,
            ..Default::default()
        };
        match f.written_at {
            None => {
                // The request's frame ends at f.end in the write stream.
                let begin = f.end.saturating_sub(f.bytes as u64);
                let done = written_total.saturating_sub(begin).min(f.bytes as u64);
                e2e.bytes_written = done as usize;
                e2e.time_to_write = now.saturating_duration_since(f.write_start);
                e2e.write_err = Some(err.clone());
                hooks::each(hooks, |h| {
                    h.on_broker_write(
                        meta,
                        key,
                        e2e.bytes_written,
                        write_wait,
                        e2e.time_to_write,
                        Some(err),
                    )
                });
            }
            Some(w) => {
                let began = read_started.unwrap_or(now);
                e2e.time_to_write = w.saturating_duration_since(f.write_start);
                e2e.read_wait = began.saturating_duration_since(w);
                e2e.time_to_read = now.saturating_duration_since(began);
                e2e.read_err = Some(err.clone());
                hooks::each(hooks, |h| {
                    h.on_broker_read(meta, key, 0, e2e.read_wait, e2e.time_to_read, Some(err))
                });
            }
        }
        hooks::each(hooks, |h| h.on_broker_e2e(meta, key, &e2e));
    }
    r.resolve(Err(err.clone()));
}

/// The write and E2E hooks for a request that failed before any of it
/// was buffered for writing.
pub(super) fn unwritten(shared: &BrokerShared, key: i16, enqueued: Instant, err: &Error) {
    let hooks = &shared.cfg.hooks;
    if hooks.is_empty() {
        return;
    }
    let meta = &shared.meta;
    let write_wait = enqueued.elapsed();
    hooks::each(hooks, |h| {
        h.on_broker_write(meta, key, 0, write_wait, Duration::ZERO, Some(err))
    });
    let e2e = BrokerE2E {
        write_wait,
        write_err: Some(err.clone()),
        ..Default::default()
    };
    hooks::each(hooks, |h| h.on_broker_e2e(meta, key, &e2e));
}
