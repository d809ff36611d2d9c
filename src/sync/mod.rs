//! Private blocking primitives: promises, deadlines, backoff and named threads.

pub(crate) mod backoff;
pub(crate) mod promise;
pub(crate) mod thread;
pub(crate) mod worker;

use std::time::{Duration, Instant};

/// Adds a timeout to now, saturating to "far in the future" instead of overflowing.
pub(crate) fn deadline_after(timeout: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(timeout)
        .unwrap_or_else(|| now + Duration::from_secs(86_400 * 365))
}
