//! The reader's input buffer: a growable window over an `io::Read` that the
//! reader peeks into, searches, and consumes, tracking the absolute offset
//! for error messages.
//!
//! Bytes of the field being read stay in the window until the field is
//! complete, so the window grows only as far as the largest field (plus
//! its delimiter), which the reader bounds by its max size before asking.

use std::io::{ErrorKind, Read};

use crate::error::{Error, Result};

/// The smallest read the buffer asks of the underlying reader.
const CHUNK: usize = 8 << 10;

#[derive(Debug)]
pub(crate) struct Input<R> {
    inner: R,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    eof: bool,
    /// Bytes consumed since the reader was set.
    pos: u64,
}

impl<R: Read> Input<R> {
    pub(crate) fn new(inner: R) -> Input<R> {
        Input {
            inner,
            buf: Vec::new(),
            start: 0,
            end: 0,
            eof: false,
            pos: 0,
        }
    }

    /// Replaces the underlying reader, dropping what was buffered.
    pub(crate) fn reset(&mut self, inner: R) {
        self.inner = inner;
        self.start = 0;
        self.end = 0;
        self.eof = false;
        self.pos = 0;
    }

    /// The buffered, unconsumed bytes.
    pub(crate) fn data(&self) -> &[u8] {
        self.buf.get(self.start..self.end).unwrap_or_default()
    }

    pub(crate) fn avail(&self) -> usize {
        self.end - self.start
    }

    /// Offset of the first unconsumed byte since the reader was set.
    pub(crate) fn pos(&self) -> u64 {
        self.pos
    }

    /// Whether the underlying reader has reported its end.
    pub(crate) fn at_eof(&self) -> bool {
        self.eof
    }

    pub(crate) fn consume(&mut self, n: usize) {
        let n = n.min(self.avail());
        self.start += n;
        self.pos += n as u64;
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
    }

    /// Reads until `n` bytes are buffered or the input ends; returns how
    /// many are buffered.
    pub(crate) fn fill_to(&mut self, n: usize) -> Result<usize> {
        while self.avail() < n && self.read_more(n)? {}
        Ok(self.avail())
    }

    /// Reads at least one more byte; `false` once the input has ended.
    pub(crate) fn fill_more(&mut self) -> Result<bool> {
        let want = self.avail() + 1;
        self.read_more(want)
    }

    /// One successful read toward `want` buffered bytes.
    fn read_more(&mut self, want: usize) -> Result<bool> {
        if self.eof {
            return Ok(false);
        }
        self.make_room(want);
        loop {
            let spare = self.buf.get_mut(self.end..).unwrap_or_default();
            match self.inner.read(spare) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(false);
                }
                Ok(n) => {
                    self.end += n.min(self.buf.len() - self.end);
                    return Ok(true);
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(Error::io(e)),
            }
        }
    }

    /// Ensures the buffer can hold `want` unconsumed bytes and has spare
    /// room: compacting first, then growing by doubling.
    fn make_room(&mut self, want: usize) {
        if self.end < self.buf.len() && self.start + want <= self.buf.len() {
            return;
        }
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.end == self.buf.len() || want > self.buf.len() {
            let len = want
                .max(self.buf.len().saturating_mul(2))
                .max(CHUNK)
                .max(self.end + 1);
            self.buf.resize(len, 0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hands out at most `step` bytes a read, with an interruption first.
    struct Trickle {
        data: Vec<u8>,
        at: usize,
        step: usize,
        interrupted: bool,
    }

    impl Read for Trickle {
        fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
            if !self.interrupted {
                self.interrupted = true;
                return Err(std::io::Error::from(ErrorKind::Interrupted));
            }
            let n = self.step.min(out.len()).min(self.data.len() - self.at);
            out[..n].copy_from_slice(&self.data[self.at..self.at + n]);
            self.at += n;
            Ok(n)
        }
    }

    #[test]
    fn fills_consumes_and_grows() {
        let data: Vec<u8> = (0..50_000u32).map(|i| i as u8).collect();
        let mut input = Input::new(Trickle {
            data: data.clone(),
            at: 0,
            step: 3,
            interrupted: false,
        });
        assert_eq!(input.fill_to(10).ok(), Some(12));
        assert_eq!(input.data()[..10], data[..10]);
        input.consume(5);
        assert_eq!(input.pos(), 5);
        assert!(input.fill_to(20_000).is_ok_and(|n| n >= 20_000));
        assert_eq!(input.data()[..20_000], data[5..20_005]);
        input.consume(20_000);
        while input.fill_more().ok() == Some(true) {}
        assert!(input.at_eof());
        assert_eq!(input.data(), &data[20_005..]);
        input.consume(usize::MAX);
        assert_eq!((input.avail(), input.pos()), (0, 50_000));
        assert_eq!(input.fill_to(1).ok(), Some(0));
        input.reset(Trickle {
            data: b"ab".to_vec(),
            at: 0,
            step: 1,
            interrupted: true,
        });
        assert_eq!((input.fill_to(5).ok(), input.data()), (Some(2), &b"ab"[..]));
    }

    #[test]
    fn passes_errors_on() {
        struct Broken;
        impl Read for Broken {
            fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
                Err(std::io::Error::other("disk on fire"))
            }
        }
        let mut input = Input::new(Broken);
        assert!(matches!(input.fill_to(1), Err(Error::Io(e)) if e.to_string() == "disk on fire"));
    }
}
