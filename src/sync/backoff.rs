//! The default retry backoff: jittered exponential from 250 ms to 2.5 s, as kgo.

use std::cell::Cell;
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

thread_local! {
    static RNG: Cell<u64> = Cell::new(seed());
}

fn seed() -> u64 {
    let mut h = RandomState::new().build_hasher();
    h.write_u64(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0),
    );
    h.finish() | 1
}

/// A uniform float in [0, 1) from a thread-local xorshift generator.
pub(crate) fn random_unit() -> f64 {
    RNG.with(|c| {
        let mut x = c.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        c.set(x);
        (x >> 11) as f64 / (1u64 << 53) as f64
    })
}

/// kgo's default: `min(2.5s, 250ms * 2^(tries-1))` with +/-20% jitter, floored at 250ms.
pub(crate) fn default_backoff(tries: u32) -> Duration {
    const MIN: f64 = 0.250;
    const MAX: f64 = 2.5;
    let exp = tries.saturating_sub(1).min(16) as i32;
    let base = (MIN * 2f64.powi(exp)).min(MAX);
    let jitter = 0.8 + 0.4 * random_unit();
    Duration::from_secs_f64((base * jitter).clamp(MIN, MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_within_bounds() {
        for tries in 0..40 {
            let d = default_backoff(tries);
            assert!(
                d >= Duration::from_millis(250) && d <= Duration::from_millis(2500),
                "{tries}: {d:?}"
            );
        }
        let late: Vec<_> = (0..20).map(|_| default_backoff(10)).collect();
        assert!(late.iter().all(|d| *d >= Duration::from_secs(2)));
    }
}
