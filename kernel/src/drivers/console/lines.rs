//! Splitting console input into lines (host-tested; the console uses it).
#![forbid(unsafe_code)]

use alloc::collections::VecDeque;
use alloc::vec::Vec;

/// Bytes received but not yet returned as lines.
#[derive(Debug, Default)]
pub struct LineReader {
    buf: VecDeque<u8>,
    /// The last line ended with `\r`: a `\n` arriving next belongs to that line end.
    after_cr: bool,
}

impl LineReader {
    /// Empty.
    pub const fn new() -> Self {
        LineReader {
            buf: VecDeque::new(),
            after_cr: false,
        }
    }

    /// Appends received bytes.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend(bytes.iter().copied());
    }

    /// The next line without its ending (`\n`, `\r` or `\r\n`, even when the `\n` comes
    /// in a later piece), or the first `max` bytes when no line end comes within them.
    pub fn take_line(&mut self, max: usize) -> Option<Vec<u8>> {
        if self.after_cr && !self.buf.is_empty() {
            if self.buf.front() == Some(&b'\n') {
                self.buf.pop_front();
            }
            self.after_cr = false;
        }
        let max = max.max(1);
        let end = self
            .buf
            .iter()
            .take(max)
            .position(|&b| b == b'\n' || b == b'\r');
        match end {
            Some(i) => {
                let line = self.buf.drain(..i).collect();
                if self.buf.pop_front() == Some(b'\r') {
                    self.after_cr = true;
                    if self.buf.front() == Some(&b'\n') {
                        self.buf.pop_front();
                        self.after_cr = false;
                    }
                }
                Some(line)
            }
            None if self.buf.len() >= max => Some(self.buf.drain(..max).collect()),
            None => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(pieces: &[&[u8]], max: usize) -> Vec<Vec<u8>> {
        let mut r = LineReader::new();
        let mut out = Vec::new();
        for p in pieces {
            r.push(p);
            while let Some(l) = r.take_line(max) {
                out.push(l);
            }
        }
        out
    }

    #[test]
    fn every_line_ending_ends_one_line() {
        let got = lines(&[b"a\nb\rc\r\nd\n"], 100);
        assert_eq!(got, [&b"a"[..], b"b", b"c", b"d"]);
    }

    #[test]
    fn a_crlf_split_across_pieces_is_one_line_end() {
        let got = lines(&[b"hello\r", b"\nworld\r", b"x\n"], 100);
        assert_eq!(got, [&b"hello"[..], b"world", b"x"]);
    }

    #[test]
    fn partial_lines_wait_for_their_end() {
        let mut r = LineReader::new();
        r.push(b"par");
        assert_eq!(r.take_line(100), None);
        r.push(b"tial\n");
        assert_eq!(r.take_line(100).as_deref(), Some(&b"partial"[..]));
        assert_eq!(r.take_line(100), None);
    }

    #[test]
    fn long_lines_come_in_pieces_of_max() {
        let got = lines(&[b"abcdefg\n"], 3);
        assert_eq!(got, [&b"abc"[..], b"def", b"g"]);
        let got = lines(&[b"\n\n"], 3);
        assert_eq!(got, [&b""[..], b""]);
    }
}
