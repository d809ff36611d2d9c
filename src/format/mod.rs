//! Record formatting and parsing by layout strings: kgo's
//! `RecordFormatter` and `RecordReader`.
//!
//! ```text
//!  layout --layout::parse--> items --compile--> formatter ops --> bytes
//!                                  \--compile--> reader ops  <-- io::Read
//! ```
//!
//! One parser (`layout.rs`) reads the shared language (escapes, verbs, brace
//! modifiers, the nested `%h{...}` layout); the formatter and the reader
//! each compile its items into flat operations once, so per record there is
//! no parsing and, when formatting, no allocation.

mod codec;
mod formatter;
mod input;
mod layout;
mod numbers;
mod read_ops;
mod reader;
mod time;
mod unpack;

pub use formatter::RecordFormatter;
pub use reader::{RecordReader, DEFAULT_MAX_HEADERS, DEFAULT_MAX_SIZE};

use crate::error::Result;
use crate::record::Record;

/// The offsets of a fetched partition that `%[ %| %]` print.
///
/// Corresponds to the offset fields of kgo's `FetchPartition`, the
/// partition that `AppendPartitionRecord` takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct PartitionOffsets {
    /// The log start offset, printed by `%[`.
    pub log_start_offset: i64,
    /// The last stable offset, printed by `%|`.
    pub last_stable_offset: i64,
    /// The high watermark, printed by `%]`.
    pub high_watermark: i64,
}

/// Appends `r` formatted by `layout` to `out`: a one-off shortcut for
/// [`RecordFormatter::new`] then [`RecordFormatter::append_record`].
///
/// Corresponds to kgo's `Record.AppendFormat`.
///
/// # Errors
///
/// [`Error::Config`](crate::error::Error::Config) if the layout is invalid;
/// `out` is then unchanged.
///
/// # Examples
///
/// ```
/// # use kafka_sync::{append_record_format, Record};
/// let mut out = Vec::new();
/// append_record_format(&mut out, &Record::key_string("k", "v"), "%k=%v\n")?;
/// assert_eq!(out, b"k=v\n");
/// # Ok::<(), kafka_sync::Error>(())
/// ```
pub fn append_record_format(out: &mut Vec<u8>, r: &Record, layout: &str) -> Result<()> {
    RecordFormatter::new(layout)?.append_record(out, r);
    Ok(())
}

impl Record {
    /// Appends this record formatted by `layout` to `out` (kgo's
    /// `Record.AppendFormat`); see [`RecordFormatter`] for the layout
    /// language. For many records, build one [`RecordFormatter`] instead.
    ///
    /// # Errors
    ///
    /// [`Error::Config`](crate::error::Error::Config) if the layout is
    /// invalid; `out` is then unchanged.
    pub fn append_format(&self, out: &mut Vec<u8>, layout: &str) -> Result<()> {
        append_record_format(out, self, layout)
    }
}

impl From<&crate::consumer::FetchPartition> for PartitionOffsets {
    fn from(p: &crate::consumer::FetchPartition) -> PartitionOffsets {
        PartitionOffsets {
            log_start_offset: p.log_start_offset,
            last_stable_offset: p.last_stable_offset,
            high_watermark: p.high_watermark,
        }
    }
}
