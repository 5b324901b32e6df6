//! A trace's lines read in large blocks and handed out in place.
//!
//! Reading a line at a time through [`BufRead`](std::io::BufRead) copies every line out of the
//! reader's buffer into one of its own, and pays a buffer refill check and a search set-up per
//! line. A trace of a million lines is a million of those. Here the input is read straight into
//! one large block (a `BufReader` hands a read this large to the file directly, bypassing its
//! own buffer), lines are found in it with the vectorised `memchr`, and each line is lent out as
//! a slice of the block: no copy. Only the unfinished line at the end of a block moves, to the
//! front, before the next read fills the rest; a line longer than the block doubles it.

use std::io::{ErrorKind, Read};

use memchr::memchr;

/// The block's first size: large enough that reads and the move of a block's last partial line
/// are rare, small enough to stay in a core's cache.
const BLOCK: usize = 128 * 1024;

/// The lines of `input`, each with its newline (the last may have none).
#[derive(Debug)]
pub(super) struct Lines<R> {
    /// Where the bytes come from.
    input: R,
    /// The block; `start..end` holds bytes read and not yet handed out.
    block: Vec<u8>,
    /// The next line's first byte in `block`.
    start: usize,
    /// The end of the bytes read into `block`.
    end: usize,
    /// Set once `input` has reported its end.
    exhausted: bool,
}

impl<R: Read> Lines<R> {
    /// The lines of `input`; nothing is read (or allocated) before the first line is asked for.
    pub(super) fn new(input: R) -> Self {
        Self {
            input,
            block: Vec::new(),
            start: 0,
            end: 0,
            exhausted: false,
        }
    }

    /// The next line with its `\n` (without one at the end of input), `None` after the last.
    pub(super) fn next_line(&mut self) -> std::io::Result<Option<&[u8]>> {
        loop {
            let unread = self.block.get(self.start..self.end).unwrap_or_default();
            let length = match memchr(b'\n', unread) {
                Some(newline) => newline.saturating_add(1),
                None if self.exhausted => unread.len(),
                None => {
                    self.fill()?;
                    continue;
                }
            };
            if length == 0 {
                return Ok(None);
            }
            let line = self.start..self.start.saturating_add(length);
            self.start = line.end;
            return Ok(self.block.get(line));
        }
    }

    /// Moves the unfinished line to the front of the block (doubling the block when that line
    /// fills it) and reads into the rest; sets `exhausted` at the end of input.
    fn fill(&mut self) -> std::io::Result<()> {
        self.block.copy_within(self.start..self.end, 0);
        self.end = self.end.saturating_sub(self.start);
        self.start = 0;
        if self.end == self.block.len() {
            let size = self.block.len().saturating_mul(2).max(BLOCK);
            self.block.resize(size, 0);
        }
        let free = self.block.get_mut(self.end..).unwrap_or_default();
        loop {
            match self.input.read(free) {
                Ok(0) => self.exhausted = true,
                Ok(read) => self.end = self.end.saturating_add(read),
                Err(error) if error.kind() == ErrorKind::Interrupted => continue,
                Err(error) => return Err(error),
            }
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{BLOCK, Lines};

    /// Every line of `input`, read through reads of at most `step` bytes.
    fn all(input: &[u8], step: usize) -> Vec<Vec<u8>> {
        let mut lines = Lines::new(Trickle { input, step });
        let mut found = Vec::new();
        while let Some(line) = lines.next_line().unwrap() {
            found.push(line.to_vec());
        }
        found
    }

    /// A reader that hands out at most `step` bytes a read.
    struct Trickle<'a> {
        input: &'a [u8],
        step: usize,
    }

    impl std::io::Read for Trickle<'_> {
        fn read(&mut self, buffer: &mut [u8]) -> std::io::Result<usize> {
            let n = self.step.min(buffer.len()).min(self.input.len());
            buffer[..n].copy_from_slice(&self.input[..n]);
            self.input = &self.input[n..];
            Ok(n)
        }
    }

    #[test]
    fn lines_keep_their_newlines_and_the_last_may_have_none() {
        for step in [1, 3, 64, usize::MAX] {
            assert_eq!(
                all(b"a\n\nbc\r\nd", step),
                [&b"a\n"[..], b"\n", b"bc\r\n", b"d"]
            );
            assert_eq!(all(b"a\n", step), [b"a\n"]);
            assert!(all(b"", step).is_empty());
        }
    }

    #[test]
    fn lines_across_blocks_and_longer_than_a_block_come_whole() {
        let long = vec![b'x'; 3 * BLOCK + 5];
        let mut input = Vec::new();
        let mut expected = Vec::new();
        for length in [BLOCK - 3, 7, long.len(), 1, BLOCK] {
            let mut line = long[..length].to_vec();
            line.push(b'\n');
            input.extend_from_slice(&line);
            expected.push(line);
        }
        for step in [BLOCK / 3 + 1, usize::MAX] {
            assert_eq!(all(&input, step), expected);
        }
    }

    #[test]
    fn an_interrupted_read_is_retried_and_an_error_reported() {
        struct Failing(u8);
        impl std::io::Read for Failing {
            fn read(&mut self, buffer: &mut [u8]) -> std::io::Result<usize> {
                self.0 += 1;
                match self.0 {
                    1 => Err(std::io::ErrorKind::Interrupted.into()),
                    2 => {
                        buffer[..3].copy_from_slice(b"a\nb");
                        Ok(3)
                    }
                    _ => Err(std::io::Error::other("disk on fire")),
                }
            }
        }
        let mut lines = Lines::new(Failing(0));
        assert_eq!(lines.next_line().unwrap(), Some(&b"a\n"[..]));
        assert_eq!(lines.next_line().unwrap_err().to_string(), "disk on fire");
    }
}
