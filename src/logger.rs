//! Logging: the [`Logger`] trait (kgo's), [`BasicLogger`] in kgo's line
//! format, and [`LogCrateLogger`] that forwards to the `log` crate.
//!
//! The client logs only through the logger given to
//! [`ConfigBuilder::with_logger`](crate::ConfigBuilder::with_logger); the
//! library never installs a global logger.

use std::fmt::{self, Display};
use std::io::Write;

use parking_lot::Mutex;

/// A log level, from least to most verbose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LogLevel {
    /// Log nothing.
    None,
    /// Errors the client could not handle.
    Error,
    /// Problems the client handles (a retry, a reconnect).
    Warn,
    /// Life-cycle events (connections, metadata changes).
    Info,
    /// Everything, for debugging.
    Debug,
}

impl LogLevel {
    /// kgo's upper-case name: `NONE`, `ERROR`, `WARN`, `INFO`, `DEBUG`.
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::None => "NONE",
            LogLevel::Error => "ERROR",
            LogLevel::Warn => "WARN",
            LogLevel::Info => "INFO",
            LogLevel::Debug => "DEBUG",
        }
    }
}

impl Display for LogLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A key and its value, as passed to [`Logger::log`].
pub type KeyValue<'a> = (&'a str, &'a dyn Display);

/// Receives the client's log lines.
///
/// `level` is checked before every line is formatted, so a logger at
/// [`LogLevel::Warn`] costs nothing for debug lines.
pub trait Logger: Send + Sync {
    /// The most verbose level this logger wants.
    fn level(&self) -> LogLevel;
    /// Logs `msg` with key/value context.
    fn log(&self, level: LogLevel, msg: &str, kvs: &[KeyValue<'_>]);
}

type PrefixFn = Box<dyn Fn() -> String + Send + Sync>;

/// Writes lines in kgo's format, `[LEVEL] msg; key: value, key: value`, to a writer.
pub struct BasicLogger {
    dst: Mutex<Box<dyn Write + Send>>,
    level: LogLevel,
    prefix: Option<PrefixFn>,
}

impl fmt::Debug for BasicLogger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BasicLogger")
            .field("level", &self.level)
            .finish_non_exhaustive()
    }
}

impl BasicLogger {
    /// Logs to `dst` at `level`; `prefix`, if given, is called for every line
    /// and its output written first (kgo's `pfxFn`).
    pub fn new(
        dst: impl Write + Send + 'static,
        level: LogLevel,
        prefix: Option<PrefixFn>,
    ) -> BasicLogger {
        BasicLogger {
            dst: Mutex::new(Box::new(dst)),
            level,
            prefix,
        }
    }

    /// Logs to standard error at `level`.
    pub fn stderr(level: LogLevel) -> BasicLogger {
        BasicLogger::new(std::io::stderr(), level, None)
    }
}

/// Formats one kgo-style line, newline included.
pub(crate) fn format_line(
    prefix: &str,
    level: LogLevel,
    msg: &str,
    kvs: &[KeyValue<'_>],
) -> String {
    use fmt::Write as _;
    let mut s = String::with_capacity(64 + msg.len());
    s.push_str(prefix);
    s.push('[');
    s.push_str(level.as_str());
    s.push_str("] ");
    s.push_str(msg);
    for (i, (k, v)) in kvs.iter().enumerate() {
        s.push_str(if i == 0 { "; " } else { ", " });
        let _ = write!(s, "{k}: {v}");
    }
    s.push('\n');
    s
}

impl Logger for BasicLogger {
    fn level(&self) -> LogLevel {
        self.level
    }

    fn log(&self, level: LogLevel, msg: &str, kvs: &[KeyValue<'_>]) {
        let prefix = self.prefix.as_ref().map(|f| f()).unwrap_or_default();
        let line = format_line(&prefix, level, msg, kvs);
        let mut dst = self.dst.lock();
        // A failing log destination must not fail the client.
        let _ = dst.write_all(line.as_bytes());
    }
}

/// Forwards to the `log` crate under the target `kafka_sync`, at the level
/// the `log` crate currently allows.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogCrateLogger;

impl Logger for LogCrateLogger {
    fn level(&self) -> LogLevel {
        match log::max_level() {
            log::LevelFilter::Off => LogLevel::None,
            log::LevelFilter::Error => LogLevel::Error,
            log::LevelFilter::Warn => LogLevel::Warn,
            log::LevelFilter::Info => LogLevel::Info,
            log::LevelFilter::Debug | log::LevelFilter::Trace => LogLevel::Debug,
        }
    }

    fn log(&self, level: LogLevel, msg: &str, kvs: &[KeyValue<'_>]) {
        let lvl = match level {
            LogLevel::None => return,
            LogLevel::Error => log::Level::Error,
            LogLevel::Warn => log::Level::Warn,
            LogLevel::Info => log::Level::Info,
            LogLevel::Debug => log::Level::Debug,
        };
        if log::log_enabled!(target: "kafka_sync", lvl) {
            let line = format_line("", level, msg, kvs);
            let body = line
                .trim_end()
                .split_once("] ")
                .map(|(_, b)| b)
                .unwrap_or("");
            log::log!(target: "kafka_sync", lvl, "{body}");
        }
    }
}

/// Logs through an optional logger if it wants `level`; formats nothing otherwise.
macro_rules! klog {
    ($logger:expr, $level:ident, $msg:expr $(, $k:literal => $v:expr)* $(,)?) => {{
        if let Some(l) = $logger {
            if l.level() >= $crate::logger::LogLevel::$level {
                l.log($crate::logger::LogLevel::$level, $msg, &[$(($k, &$v as &dyn std::fmt::Display)),*]);
            }
        }
    }};
}
pub(crate) use klog;

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);
    impl Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn basic_logger_uses_kgo_format() {
        let buf = Buf::default();
        let l = BasicLogger::new(
            buf.clone(),
            LogLevel::Info,
            Some(Box::new(|| "pfx ".to_string())),
        );
        let l: Option<&dyn Logger> = Some(&l);
        klog!(l, Info, "connection opened", "broker" => 3, "addr" => "127.0.0.1:9092");
        klog!(l, Debug, "not shown");
        klog!(l, Warn, "bare");
        let out = String::from_utf8(buf.0.lock().clone()).unwrap();
        assert_eq!(
            out,
            "pfx [INFO] connection opened; broker: 3, addr: 127.0.0.1:9092\npfx [WARN] bare\n"
        );
    }

    #[test]
    fn levels_order() {
        assert!(LogLevel::Debug > LogLevel::Info && LogLevel::Info > LogLevel::Warn);
        assert!(LogLevel::Warn > LogLevel::Error && LogLevel::Error > LogLevel::None);
    }
}
