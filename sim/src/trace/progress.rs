//! How far into its input a reader is, and what that says of the whole input: the tables that
//! come to hold every request of a trace reserve their room from it once, instead of growing by
//! doubling.
//!
//! Why: a trace of requests only keeps every request in flight to its end, and a workload keeps
//! every request's id, so a million-request trace fills two hash tables of a million entries
//! and a vector of a million requests. Grown by doubling, each table is rehashed a dozen times
//! (every entry moved into a fresh, cold allocation each time), and those moves, not the
//! inserts, were a third of a load: reserving from the first few thousand lines' extrapolation
//! took the load of a 1 M-request trace from 0.46–0.62 s to 0.27–0.35 s (`benches/RESULTS.md`).
//!
//! The extrapolation assumes the rest of the input is like what has been read. When it is not,
//! a table that fills up anyway grows as before (a later extrapolation reserves again), and one
//! reserved too large is bounded twice: never more than one entry for every
//! [`BYTES_PER_ENTRY`] bytes of input left (fewer than any request line has), and never more
//! than [`MAX_STEP`] times the entries it holds (so that a wrong size, say of a file that
//! shrank, costs at most that factor of memory). A reservation that cannot be allocated is
//! skipped, never fatal: the table then grows as it would have.

/// The fewest bytes of input a reservation allows per entry still to come. No request line is
/// this short (`{"t":0,"type":"request","id":"","input_tokens":0,"max_tokens":0}` is 64 bytes),
/// so a reservation never exceeds what the rest of the input could hold.
pub const BYTES_PER_ENTRY: u64 = 64;

/// The most a table is made to hold at once, as a multiple of what it holds: a million entries
/// are then reached in two moves from the first few thousand, and room reserved from a wrong
/// size stays within this factor of what was needed.
pub const MAX_STEP: u64 = 16;

/// The size of a reader's input, when known, and how many of its bytes have been read.
///
/// # Examples
///
/// ```
/// use headroom_sim::trace::Progress;
///
/// // 10 000 entries in the first 1 MB of a 10 MB input: 100 000 by the end.
/// let progress = Progress::new(Some(10_000_000)).after(1_000_000);
/// assert_eq!(progress.extrapolate(10_000), Some(100_000));
/// // Nothing to go by without the size.
/// assert_eq!(Progress::new(None).after(100_000).extrapolate(1_000), None);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Progress {
    /// The input's size in bytes, when known (a regular file, a text in memory).
    size: Option<u64>,
    /// Bytes read so far.
    read: u64,
}

impl Progress {
    /// Nothing read yet of an input of `size` bytes (`None`: unknown, as for standard input).
    pub fn new(size: Option<u64>) -> Self {
        Self { size, read: 0 }
    }

    /// The input's size, when known.
    pub fn size(self) -> Option<u64> {
        self.size
    }

    /// Bytes read so far.
    pub fn read(self) -> u64 {
        self.read
    }

    /// The same input, `bytes` more of it read.
    #[must_use]
    pub fn after(self, bytes: u64) -> Self {
        Self {
            read: self.read.saturating_add(bytes),
            ..self
        }
    }

    /// How many entries a table holding `so_far` of them now will hold at the end of the input,
    /// if the rest is like what has been read, with at most one more for every
    /// [`BYTES_PER_ENTRY`] bytes left and at most [`MAX_STEP`] times `so_far` in all; `None`
    /// when the size is unknown or nothing has been read.
    ///
    /// # Examples
    ///
    /// ```
    /// use headroom_sim::trace::Progress;
    ///
    /// // Short entries early on: the bytes left bound the rest (900 kB ÷ 64).
    /// let progress = Progress::new(Some(1_000_000)).after(100_000);
    /// assert_eq!(progress.extrapolate(50_000), Some(50_000 + 14_062));
    /// // Early in a long input: at most 16 times what there is.
    /// let progress = Progress::new(Some(1_000_000_000)).after(100_000);
    /// assert_eq!(progress.extrapolate(1_000), Some(16_000));
    /// // All of it read (or more, from a file that grew): what there is.
    /// assert_eq!(Progress::new(Some(10)).after(12).extrapolate(7), Some(7));
    /// ```
    pub fn extrapolate(self, so_far: u64) -> Option<u64> {
        let size = self.size?;
        if self.read == 0 {
            return None;
        }
        let left = size.saturating_sub(self.read);
        let like_so_far = u128::from(so_far) * u128::from(left) / u128::from(self.read);
        let more = u64::try_from(like_so_far)
            .unwrap_or(u64::MAX)
            .min(left / BYTES_PER_ENTRY);
        Some(
            so_far
                .saturating_add(more)
                .min(so_far.saturating_mul(MAX_STEP)),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::{BYTES_PER_ENTRY, MAX_STEP, Progress};

    #[test]
    fn the_shortest_request_line_is_not_shorter_than_an_entry() {
        let shortest = r#"{"t":0,"type":"request","id":"","input_tokens":0,"max_tokens":0}"#;
        assert_eq!(shortest.len() as u64, BYTES_PER_ENTRY);
    }

    #[test]
    fn a_uniform_input_extrapolates_to_its_count() {
        // 100-byte lines, a million of them: any prefix from a sixteenth on gives the whole
        // count, an earlier one sixteen times itself.
        let size = 100 * 1_000_000;
        for read_lines in [62_500u64, 123_457, 999_999] {
            let progress = Progress::new(Some(size)).after(read_lines * 100);
            assert_eq!(
                progress.extrapolate(read_lines),
                Some(1_000_000),
                "{read_lines}"
            );
        }
        for read_lines in [1u64, 4_096, 62_499] {
            let progress = Progress::new(Some(size)).after(read_lines * 100);
            assert_eq!(
                progress.extrapolate(read_lines),
                Some(read_lines * MAX_STEP)
            );
        }
    }

    #[test]
    fn extremes_saturate_instead_of_wrapping() {
        let progress = Progress::new(Some(u64::MAX)).after(1);
        assert_eq!(
            progress.extrapolate(u64::MAX),
            Some(u64::MAX),
            "so far + more saturates"
        );
        assert_eq!(progress.extrapolate(3), Some(3 * MAX_STEP));
        assert_eq!(
            Progress::new(Some(u64::MAX))
                .after(u64::MAX)
                .after(5)
                .read(),
            u64::MAX
        );
        assert_eq!(Progress::new(Some(100)).extrapolate(3), None);
    }
}
