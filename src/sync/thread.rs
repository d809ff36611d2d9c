//! Named thread spawning with the user's thread-start hook.

use std::sync::Arc;
use std::thread::JoinHandle;

use crate::error::{Error, Result};

/// Called at the start of every thread the client spawns, with its name.
pub(crate) type ThreadStartFn = Arc<dyn Fn(&str) + Send + Sync>;

/// Spawns a thread named `name` (at most 15 bytes, Linux's limit), running
/// `on_start` first.
pub(crate) fn spawn_named<F>(
    name: String,
    on_start: Option<ThreadStartFn>,
    f: F,
) -> Result<JoinHandle<()>>
where
    F: FnOnce() + Send + 'static,
{
    debug_assert!(name.len() <= 15, "thread name too long: {name}");
    let n = name.clone();
    std::thread::Builder::new()
        .name(name)
        .spawn(move || {
            if let Some(hook) = on_start {
                hook(&n);
            }
            f()
        })
        .map_err(|e| {
            Error::io(std::io::Error::new(
                e.kind(),
                format!("spawning thread: {e}"),
            ))
        })
}
