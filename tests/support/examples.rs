//! Running the built examples as processes: `target/<profile>/examples/<name>`.
//!
//! Examples must be built first: `cargo test` with no target filter builds
//! them, CI's `.ci/run` runs `cargo build --examples` before the tests, and
//! a targeted run (`cargo test --test examples_run`) needs `cargo build
//! --examples` before it. A missing example fails the test; it is never
//! skipped.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The built example `name`, beside this test's `target/<profile>/deps/`.
pub fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    let profile = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>/deps/<test>");
    let path = profile
        .join("examples")
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.is_file(),
        "{} is not built: run `cargo build --examples` (plain `cargo test` builds it too)",
        path.display()
    );
    path
}

/// A child process that is killed if the test ends before it exits.
pub struct Reap(pub Child);

impl Drop for Reap {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

impl Reap {
    /// Waits up to `timeout` for the process to exit; its exit code.
    pub fn exit_code(&mut self, timeout: Duration) -> Option<i32> {
        let mut status = None;
        super::wait_until(timeout, || {
            status = self.0.try_wait().ok().flatten();
            status.is_some()
        });
        status.map(|s| s.code().unwrap_or(-1))
    }
}

/// What a finished example did.
#[derive(Debug)]
pub struct Ran {
    /// The exit code; `None` if it was killed at the timeout.
    pub code: Option<i32>,
    pub stdout: Vec<u8>,
    pub stderr: String,
}

impl Ran {
    /// Stdout as text (lossy).
    pub fn out(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    /// Panics with everything printed unless the exit code is 0.
    pub fn assert_ok(&self, what: &str) -> &Self {
        assert_eq!(
            self.code,
            Some(0),
            "{what}: exit code (None: killed at the timeout)\n--- stdout\n{}\n--- stderr\n{}",
            self.out(),
            self.stderr
        );
        self
    }
}

/// Runs `cmd` with `stdin` as its input, for at most `timeout`.
pub fn run(mut cmd: Command, stdin: Option<Vec<u8>>, timeout: Duration) -> Ran {
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = Reap(cmd.spawn().expect("start the example"));
    let input = stdin.map(|data| {
        let mut w = child.0.stdin.take().expect("piped stdin");
        std::thread::spawn(move || {
            let _ = w.write_all(&data);
        })
    });
    let mut out = child.0.stdout.take().expect("piped stdout");
    let mut err = child.0.stderr.take().expect("piped stderr");
    let out = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = out.read_to_end(&mut v);
        v
    });
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let code = child.exit_code(timeout);
    drop(child); // kills it if it is still running, closing its pipes
    if let Some(i) = input {
        let _ = i.join();
    }
    Ran {
        code,
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
    }
}
