//! Where to start consuming: [`Offset`] and [`EpochOffset`].

use std::fmt;

/// A record offset with the leader epoch it was written in (kgo's `EpochOffset`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EpochOffset {
    /// The leader epoch, -1 when unknown.
    pub epoch: i32,
    /// The offset.
    pub offset: i64,
}

/// Where to start consuming a partition (kgo's `Offset`).
///
/// [`Offset::new`] starts at the end; [`at_start`](Offset::at_start),
/// [`at`](Offset::at), [`relative`](Offset::relative),
/// [`with_epoch`](Offset::with_epoch) and
/// [`at_timestamp`](Offset::at_timestamp) adjust a copy. As in kgo, each
/// changes only its own part, so the order of calls does not matter:
/// `Offset::new().relative(-5).at_end()` starts 5 before the end, like
/// `Offset::new().at_end().relative(-5)`. The exception is `at_timestamp`,
/// which none of the others combine with (see there).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Offset {
    pub(crate) at: i64,
    pub(crate) relative: i64,
    pub(crate) epoch: i32,
    /// Milliseconds since the epoch when the offset is by timestamp.
    pub(crate) timestamp: Option<i64>,
}

impl Default for Offset {
    fn default() -> Offset {
        Offset::new()
    }
}

/// What an offset asks the broker for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OffsetKind {
    /// The log start plus a relative amount.
    Start(i64),
    /// The log end (the high watermark, or the last stable offset when
    /// reading committed) plus a relative amount.
    End(i64),
    /// An exact offset, clamped to the log.
    Exact(i64),
    /// The first offset whose timestamp is at or after this.
    Timestamp(i64),
}

impl Offset {
    /// An offset at the end of a partition (new records only), with no epoch.
    pub fn new() -> Offset {
        Offset {
            at: -1,
            relative: 0,
            epoch: -1,
            timestamp: None,
        }
    }

    /// Starts at exactly `at`. -2 is the start and -1 the end; anything
    /// below -2 is the start. Keeps the relative amount and the epoch (kgo's
    /// `At`); clears [`at_timestamp`](Self::at_timestamp).
    #[must_use]
    pub fn at(mut self, at: i64) -> Offset {
        self.at = at.max(-2);
        self.timestamp = None;
        self
    }

    /// Starts at the beginning of the partition.
    #[must_use]
    pub fn at_start(self) -> Offset {
        self.at(-2)
    }

    /// Starts at the end of the partition.
    #[must_use]
    pub fn at_end(self) -> Offset {
        self.at(-1)
    }

    /// Moves the offset by `n` from its base: `at_end().relative(-100)`
    /// starts 100 before the end. Replaces any earlier relative amount (kgo's
    /// `Relative`); clears [`at_timestamp`](Self::at_timestamp). Ignored when
    /// the result is outside the log.
    #[must_use]
    pub fn relative(mut self, n: i64) -> Offset {
        self.relative = n;
        self.timestamp = None;
        self
    }

    /// Sets the leader epoch of the offset, for truncation detection (KIP-320).
    /// -1, the default, means none; any negative epoch is -1 (kgo's
    /// `WithEpoch`). Clears [`at_timestamp`](Self::at_timestamp).
    #[must_use]
    pub fn with_epoch(mut self, epoch: i32) -> Offset {
        self.epoch = epoch.max(-1);
        self.timestamp = None;
        self
    }

    /// Starts at the first record whose timestamp is at or after `millis`
    /// (since the Unix epoch), or at the end when there is none. (Later kgo
    /// versions call this `AfterMilli`.) Resets the relative amount and the
    /// epoch; a later [`at`](Self::at), [`at_start`](Self::at_start),
    /// [`at_end`](Self::at_end), [`relative`](Self::relative) or
    /// [`with_epoch`](Self::with_epoch) turns this back into an offset
    /// from where it began before.
    #[must_use]
    pub fn at_timestamp(mut self, millis: i64) -> Offset {
        self.timestamp = Some(millis);
        self.relative = 0;
        self.epoch = -1;
        self
    }

    /// The exact offset, or -2 (start) / -1 (end).
    pub fn offset(&self) -> i64 {
        self.at
    }

    /// The leader epoch, -1 for none.
    pub fn epoch(&self) -> i32 {
        self.epoch
    }

    /// The offset in JSON, as kgo's `MarshalJSON` writes it:
    /// `{"At":-2,"Epoch":-1}`, with `"Relative"` when non-zero and
    /// `"Timestamp"` for timestamp offsets.
    pub fn to_json(&self) -> String {
        if let Some(ts) = self.timestamp {
            return format!(r#"{{"Timestamp":{ts},"Epoch":{}}}"#, self.epoch);
        }
        if self.relative == 0 {
            format!(r#"{{"At":{},"Epoch":{}}}"#, self.at, self.epoch)
        } else {
            format!(
                r#"{{"At":{},"Relative":{},"Epoch":{}}}"#,
                self.at, self.relative, self.epoch
            )
        }
    }

    pub(crate) fn kind(&self) -> OffsetKind {
        if let Some(ts) = self.timestamp {
            return OffsetKind::Timestamp(ts);
        }
        match self.at {
            -2 => OffsetKind::Start(self.relative),
            -1 => OffsetKind::End(self.relative),
            at => OffsetKind::Exact(at.saturating_add(self.relative)),
        }
    }
}

impl fmt::Display for Offset {
    /// kgo's `String`: `{at.epoch}`, `{at+rel.epoch}` or `{at-rel.epoch}`;
    /// `{@ts.epoch}` for timestamp offsets.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(ts) = self.timestamp {
            return write!(f, "{{@{ts}.{}}}", self.epoch);
        }
        match self.relative {
            0 => write!(f, "{{{}.{}}}", self.at, self.epoch),
            r if r > 0 => write!(f, "{{{}+{}.{}}}", self.at, r, self.epoch),
            r => write!(f, "{{{}-{}.{}}}", self.at, r.unsigned_abs(), self.epoch),
        }
    }
}

impl fmt::Debug for Offset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Offset{self}")
    }
}

/// Resolves an offset against a partition's log bounds `[start, end]` (and
/// the answer to a timestamp lookup, -1 when none).
pub(crate) fn resolve(kind: OffsetKind, start: i64, end: i64, by_time: i64) -> i64 {
    let within = |o: i64| o >= start && o <= end;
    match kind {
        OffsetKind::Start(r) => Some(start.saturating_add(r))
            .filter(|o| within(*o))
            .unwrap_or(start),
        OffsetKind::End(r) => Some(end.saturating_add(r))
            .filter(|o| within(*o))
            .unwrap_or(end),
        OffsetKind::Exact(o) => o.clamp(start, end.max(start)),
        OffsetKind::Timestamp(_) => {
            if by_time < 0 {
                end
            } else {
                by_time
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_and_json() {
        let table = [
            (Offset::new(), "{-1.-1}", r#"{"At":-1,"Epoch":-1}"#),
            (
                Offset::new().at_start(),
                "{-2.-1}",
                r#"{"At":-2,"Epoch":-1}"#,
            ),
            (
                Offset::new().at(5).with_epoch(3),
                "{5.3}",
                r#"{"At":5,"Epoch":3}"#,
            ),
            (
                Offset::new().at_end().relative(-10),
                "{-1-10.-1}",
                r#"{"At":-1,"Relative":-10,"Epoch":-1}"#,
            ),
            (
                Offset::new().at_start().relative(4),
                "{-2+4.-1}",
                r#"{"At":-2,"Relative":4,"Epoch":-1}"#,
            ),
            (Offset::new().at(-7), "{-2.-1}", r#"{"At":-2,"Epoch":-1}"#),
            (
                Offset::new().at_timestamp(1000),
                "{@1000.-1}",
                r#"{"Timestamp":1000,"Epoch":-1}"#,
            ),
        ];
        for (o, s, j) in table {
            assert_eq!(o.to_string(), s);
            assert_eq!(o.to_json(), j);
        }
    }

    /// Builder orders against kgo's documented meaning (kgo.md, `Offset`):
    /// `At`, `AtStart` and `AtEnd` change only where the offset begins,
    /// `Relative` replaces the relative amount, `WithEpoch` only the epoch
    /// (negative means -1); `at_timestamp` (kgo's later `AfterMilli`) resets
    /// the relative amount and epoch, and any of the others clears it again.
    #[test]
    fn builder_orders_table() {
        use OffsetKind::{End, Exact, Start, Timestamp};
        macro_rules! case {
            ($o:expr => $kind:expr, $epoch:expr) => {
                (stringify!($o), $o, $kind, $epoch)
            };
        }
        let o = Offset::new;
        let table: [(&str, Offset, OffsetKind, i32); 16] = [
            case!(o() => End(0), -1),
            case!(o().relative(-5).at_end() => End(-5), -1),
            case!(o().at_end().relative(-5) => End(-5), -1),
            case!(o().relative(3).at_start() => Start(3), -1),
            case!(o().relative(3).at(10) => Exact(13), -1),
            case!(o().at(10).relative(3) => Exact(13), -1),
            case!(o().relative(2).at(-9) => Start(2), -1),
            case!(o().relative(1).relative(4) => End(4), -1),
            case!(o().at_start().relative(-1).at_end() => End(-1), -1),
            case!(o().with_epoch(7).at(3) => Exact(3), 7),
            case!(o().at(3).with_epoch(7) => Exact(3), 7),
            case!(o().at(3).with_epoch(-9) => Exact(3), -1),
            case!(o().relative(2).with_epoch(4).at_timestamp(99) => Timestamp(99), -1),
            case!(o().at_timestamp(99).at(5) => Exact(5), -1),
            case!(o().at_start().at_timestamp(99).relative(2) => Start(2), -1),
            case!(o().at_timestamp(99).with_epoch(3) => End(0), 3),
        ];
        for (name, off, kind, epoch) in table {
            assert_eq!((off.kind(), off.epoch()), (kind, epoch), "{name}: {off}");
        }
    }

    #[test]
    fn resolution_table() {
        let table = [
            (Offset::new().at_start(), 10, 20, -1, 10),
            (Offset::new().at_end(), 10, 20, -1, 20),
            (Offset::new().at(15), 10, 20, -1, 15),
            (Offset::new().at(5), 10, 20, -1, 10),
            (Offset::new().at(25), 10, 20, -1, 20),
            (Offset::new().at_end().relative(-5), 10, 20, -1, 15),
            (Offset::new().at_end().relative(-50), 10, 20, -1, 20),
            (Offset::new().at_start().relative(3), 10, 20, -1, 13),
            (Offset::new().at_start().relative(30), 10, 20, -1, 10),
            (Offset::new().at_timestamp(1), 10, 20, 12, 12),
            (Offset::new().at_timestamp(1), 10, 20, -1, 20),
        ];
        for (o, s, e, t, want) in table {
            assert_eq!(resolve(o.kind(), s, e, t), want, "{o}");
        }
    }
}
