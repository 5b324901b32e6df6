//! The last value of a slow field and what it gave, so that a repeat costs a comparison.
//!
//! Two fields of a 2xx are costly to read and rarely change: `Date`, an HTTP-date that moves
//! once a second, and Anthropic's RFC 3339 `*-reset` times, one per scope and usually the same
//! instant for all of them. Comparing the bytes with the last value read takes a few word
//! comparisons; reading a date takes a couple of hundred instructions. A [`Memo`] maps the exact
//! bytes to the exact result of the reader (errors included), so a hit is indistinguishable
//! from reading again. It is kept per response by [`crate::headers::parse`] (the scopes of one
//! response share their resets) and across responses by [`crate::headers::Reader`] (responses
//! of one second share their `Date`).

use super::snapshot::{HeaderError, Reset};
use crate::time::UnixTime;

/// The longest value a [`Memo`] remembers: an HTTP-date is 29 bytes, an RFC 3339 time with a
/// microsecond fraction and an offset (`2025-08-21T12:40:59.123456+02:00`) 32. Longer values
/// (the obsolete RFC 850 dates) are read every time.
const CAPACITY: usize = 32;

/// The last value read by one reader, and its result.
#[derive(Debug, Clone)]
pub(super) struct Memo<T> {
    bytes: Bytes,
    result: Result<T, HeaderError>,
}

impl<T> Default for Memo<T> {
    fn default() -> Self {
        Self {
            bytes: Bytes::default(),
            result: Err(HeaderError::Empty),
        }
    }
}

impl<T: Copy> Memo<T> {
    /// `read(value)`, from memory when `value` is the last value read. `read` must be a pure
    /// function of the bytes, and the same one on every call to this memo. Inlined: a hit is a
    /// comparison of a few words; a miss calls out to [`Self::miss`].
    #[inline(always)]
    pub(super) fn read(
        &mut self,
        value: &[u8],
        read: impl FnOnce(&[u8]) -> Result<T, HeaderError>,
    ) -> Result<T, HeaderError> {
        if self.bytes.hold(value) {
            return self.result;
        }
        self.miss(value, read)
    }

    /// The result remembered for `value`, when it is the last value read: a comparison of a
    /// few words.
    #[inline(always)]
    pub(super) fn recall(&self, value: &[u8]) -> Option<Result<T, HeaderError>> {
        self.bytes.hold(value).then_some(self.result)
    }

    /// A value not in memory ([`Self::recall`] gave `None`): read it, and remember it (with its
    /// result) if it fits.
    #[inline(never)]
    pub(super) fn miss(
        &mut self,
        value: &[u8],
        read: impl FnOnce(&[u8]) -> Result<T, HeaderError>,
    ) -> Result<T, HeaderError> {
        let result = read(value);
        if self.bytes.remember(value) {
            self.result = result;
        }
        result
    }
}

/// What a [`crate::headers::Reader`] remembers between responses (and [`crate::headers::parse`]
/// within one).
#[derive(Debug, Clone, Default)]
pub(super) struct Memos {
    /// Whether `Date` is remembered: only across responses, as a response has one `Date`.
    pub(super) dates: bool,
    /// `Date`, as [`super::values::date`] reads it.
    pub(super) date: Memo<UnixTime>,
    /// An RFC 3339-shaped vendor reset, as [`super::values::reset`] reads it (which, for such a
    /// value, does not depend on the dialect).
    pub(super) reset: Memo<Reset>,
}

impl Memos {
    /// For one response: resets only.
    ///
    /// Out of line on 32-bit targets: built inside the caller, the memos were initialised and
    /// copied piece by piece there (flash, not time: a response builds them once).
    #[cfg_attr(not(target_pointer_width = "64"), inline(never))]
    pub(super) fn one_response() -> Self {
        Self::default()
    }

    /// For a [`crate::headers::Reader`]: `Date` too.
    pub(super) fn across_responses() -> Self {
        Self {
            dates: true,
            ..Self::default()
        }
    }
}

/// The bytes of the value a [`Memo`] remembers, at most [`CAPACITY`].
///
/// On 32-bit targets they sit in a `heapless::Vec`, whose unused capacity is never
/// initialised: a new memo writes two bytes, not 32 zeros (that zeroing linked a `memclr`
/// routine of its own, 208 bytes of flash), and they are compared by `memcmp`.
#[cfg(not(target_pointer_width = "64"))]
#[derive(Debug, Clone, Default)]
struct Bytes {
    bytes: heapless::Vec<u8, CAPACITY, u8>,
    /// Whether `bytes` hold a value read before (the empty value is one too).
    remembered: bool,
}

#[cfg(not(target_pointer_width = "64"))]
impl Bytes {
    /// Remembers `value` instead of what was remembered; `false`, and what was remembered
    /// kept, if it does not fit.
    fn remember(&mut self, value: &[u8]) -> bool {
        if value.len() > CAPACITY {
            return false;
        }
        self.bytes.clear();
        self.remembered = self.bytes.extend_from_slice(value).is_ok();
        self.remembered
    }

    /// Whether `value` is the value remembered.
    #[inline(always)]
    fn hold(&self, value: &[u8]) -> bool {
        self.remembered && self.bytes.as_slice() == value
    }
}

/// The bytes of the value a [`Memo`] remembers, at most [`CAPACITY`].
///
/// On 64-bit targets they are kept as the words a comparison loads from the value: the
/// eight-byte words at 0, 8 and 16 (zero where the value is shorter) and the one ending at its
/// end, or, for a value under eight bytes, its bytes in one word. Remembering is then four
/// stores instead of a copy byte by byte, and a hit two to four word comparisons without a loop.
#[cfg(target_pointer_width = "64")]
#[derive(Debug, Clone, Default)]
struct Bytes {
    words: [u64; 4],
    len: u8,
    /// Whether `words` hold a value read before (the empty value is one too).
    remembered: bool,
}

#[cfg(target_pointer_width = "64")]
impl Bytes {
    /// Remembers `value` instead of what was remembered; `false`, and what was remembered
    /// kept, if it does not fit.
    fn remember(&mut self, value: &[u8]) -> bool {
        let Some(len) = u8::try_from(value.len())
            .ok()
            .filter(|&len| usize::from(len) <= CAPACITY)
        else {
            return false;
        };
        self.remembered = true;
        self.len = len;
        self.words = if value.len() < 8 {
            [short_word(value), 0, 0, 0]
        } else {
            let end = value.len().wrapping_sub(8);
            [
                word(value, 0),
                word(value, 8),
                word(value, 16),
                word(value, end),
            ]
        };
        true
    }

    /// Whether `value` is the value remembered.
    #[inline(always)]
    fn hold(&self, value: &[u8]) -> bool {
        let len = value.len();
        if !self.remembered || len != usize::from(self.len) {
            return false;
        }
        let [at0, at8, at16, end] = self.words;
        if len < 8 {
            return short_word(value) == at0;
        }
        // The words at 0, 8 and 16 where they start before the last word, then the (possibly
        // overlapping) word ending at the end: every byte of up to 32.
        let mut diff = (word(value, 0) ^ at0) | (word(value, len.wrapping_sub(8)) ^ end);
        if len > 16 {
            diff |= word(value, 8) ^ at8;
        }
        if len > 24 {
            diff |= word(value, 16) ^ at16;
        }
        diff == 0
    }
}

/// The eight bytes of `value` at `at`, little-endian; zero if they are not all there.
#[cfg(target_pointer_width = "64")]
#[inline(always)]
fn word(value: &[u8], at: usize) -> u64 {
    value
        .get(at..at.wrapping_add(8))
        .and_then(|chunk| chunk.try_into().ok())
        .map_or(0, u64::from_le_bytes)
}

/// The bytes of a value under eight bytes long in one little-endian word.
#[cfg(target_pointer_width = "64")]
fn short_word(value: &[u8]) -> u64 {
    value
        .iter()
        .rev()
        .fold(0, |word, &byte| word << 8 | u64::from(byte))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A hit gives the remembered result without reading; a different value is read and
    /// replaces it; errors are remembered like values.
    #[test]
    fn remembers_the_last_value_and_its_result() {
        let mut memo = Memo::<u64>::default();
        let reads = core::cell::Cell::new(0);
        let read = |value: &[u8]| {
            reads.set(reads.get() + 1);
            match value {
                b"bad" => Err(HeaderError::NotANumber),
                other => Ok(other.len() as u64),
            }
        };
        assert_eq!(memo.read(b"2026-11-28T04:00:00Z", read), Ok(20));
        assert_eq!(memo.read(b"2026-11-28T04:00:00Z", read), Ok(20));
        assert_eq!(memo.read(b"2026-11-28T04:00:01Z", read), Ok(20));
        assert_eq!(memo.read(b"bad", read), Err(HeaderError::NotANumber));
        assert_eq!(memo.read(b"bad", read), Err(HeaderError::NotANumber));
        assert_eq!(memo.read(b"", read), Ok(0));
        assert_eq!(memo.read(b"", read), Ok(0));
        assert_eq!(reads.get(), 4);
        // Too long to remember: read every time.
        let long = [b'x'; CAPACITY + 1];
        assert_eq!(memo.read(&long, read), Ok(33));
        assert_eq!(memo.read(&long, read), Ok(33));
        assert_eq!(reads.get(), 6);
    }

    /// What a `Reader` costs in RAM, as its documentation says: 120 bytes on 64-bit targets
    /// (the remembered values as words), 100 on 32-bit ones (as bytes).
    #[test]
    fn memos_are_120_bytes_or_100_on_32_bit_targets() {
        let expected = if cfg!(target_pointer_width = "64") {
            120
        } else {
            100
        };
        assert_eq!(core::mem::size_of::<Memos>(), expected);
    }

    /// Remembered bytes hold exactly the value remembered, whatever its length (up to the
    /// capacity) and whatever is compared with it.
    #[test]
    fn bytes_hold_exactly_the_value_remembered() {
        let text = b"Sat, 28 Nov 2026 04:00:00 GMT and more";
        // About 700 000 comparisons natively; under miri, which interprets them some thousand
        // times slower, values starting at every 9th byte compared with slices starting at
        // every 3rd (every value's own start among them): 15 s instead of 5 minutes.
        let every = if cfg!(miri) { (9, 3) } else { (1, 1) };
        for a in (0..text.len()).step_by(every.0) {
            for b in a..text.len().min(a + CAPACITY + 1) {
                let x = &text[a..b];
                let mut bytes = Bytes::default();
                assert!(bytes.remember(x), "{x:?}");
                for c in (0..text.len()).step_by(every.1) {
                    for d in c..text.len() {
                        let y = &text[c..d];
                        assert_eq!(bytes.hold(y), x == y, "{x:?} {y:?}");
                    }
                }
            }
        }
        let mut bytes = Bytes::default();
        assert!(!bytes.remember(&[b'x'; CAPACITY + 1]));
        assert!(!bytes.hold(b""));
        // A value too long to remember leaves the one remembered before.
        assert!(bytes.remember(b"2026-11-28T04:00:00Z"));
        assert!(!bytes.remember(&[b'x'; CAPACITY + 1]));
        assert!(bytes.hold(b"2026-11-28T04:00:00Z"));
    }
}
