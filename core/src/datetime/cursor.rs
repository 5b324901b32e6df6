//! A forward-only reader over a byte slice: the parsers' only way to look at input, so no
//! parser ever indexes a slice and none can read past its end.
//!
//! The date parsers call [`Cursor::digits`] and [`Cursor::expect`] a dozen times each; inlined,
//! every call is a copy of the loop. On 32-bit targets, where flash is what counts, they are
//! kept out of line (one copy each); on 64-bit hosts they stay inline for speed.

use super::DateError;

/// Reads a byte slice front to back.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Cursor<'a> {
    rest: &'a [u8],
}

impl<'a> Cursor<'a> {
    pub(crate) const fn new(input: &'a [u8]) -> Self {
        Self { rest: input }
    }

    /// What has not been read yet.
    pub(crate) const fn rest(&self) -> &'a [u8] {
        self.rest
    }

    pub(crate) const fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    pub(crate) fn peek(&self) -> Option<u8> {
        self.rest.first().copied()
    }

    pub(crate) fn next(&mut self) -> Option<u8> {
        let (&first, rest) = self.rest.split_first()?;
        self.rest = rest;
        Some(first)
    }

    /// Consumes `byte` if it comes next.
    pub(crate) fn eat(&mut self, byte: u8) -> bool {
        if self.peek() == Some(byte) {
            self.rest = self.rest.get(1..).unwrap_or_default();
            true
        } else {
            false
        }
    }

    /// The next `n` bytes, consumed; `None` (and nothing consumed) if fewer are left.
    pub(crate) fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, tail) = self.rest.split_at_checked(n)?;
        self.rest = tail;
        Some(head)
    }

    /// Consumes `bytes` (ASCII case-insensitive) if they come next.
    pub(crate) fn eat_ignore_case(&mut self, bytes: &[u8]) -> bool {
        match self.rest.split_at_checked(bytes.len()) {
            Some((head, tail)) if eq_ignore_case(head, bytes) => {
                self.rest = tail;
                true
            }
            _ => false,
        }
    }

    /// Requires `byte` next.
    #[cfg_attr(not(target_pointer_width = "64"), inline(never))]
    pub(crate) fn expect(&mut self, byte: u8) -> Result<(), DateError> {
        if self.eat(byte) {
            Ok(())
        } else {
            Err(DateError::Syntax)
        }
    }

    /// Exactly `n` (at most 9) ASCII digits as a number.
    #[cfg_attr(not(target_pointer_width = "64"), inline(never))]
    pub(crate) fn digits(&mut self, n: usize) -> Result<u32, DateError> {
        let mut value: u32 = 0;
        for _ in 0..n {
            let digit = self.next().ok_or(DateError::Syntax)?;
            if !digit.is_ascii_digit() {
                return Err(DateError::Syntax);
            }
            value = value
                .checked_mul(10)
                .and_then(|v| v.checked_add(u32::from(digit.wrapping_sub(b'0'))))
                .ok_or(DateError::TooLarge)?;
        }
        Ok(value)
    }

    /// The longest run of bytes satisfying `keep`, consumed.
    pub(crate) fn take_while(&mut self, keep: impl Fn(u8) -> bool) -> &'a [u8] {
        let len = self
            .rest
            .iter()
            .position(|&b| !keep(b))
            .unwrap_or(self.rest.len());
        let (head, tail) = self.rest.split_at(len.min(self.rest.len()));
        self.rest = tail;
        head
    }
}

/// Whether `a` and `b` are equal without regard to ASCII case (`eq_ignore_ascii_case`): one
/// copy for every parser that compares words (`GMT`, day and month names, `inf`, `true`),
/// kept out of line on 32-bit targets, where each inlined copy costs flash.
#[cfg_attr(not(target_pointer_width = "64"), inline(never))]
pub(crate) fn eq_ignore_case(a: &[u8], b: &[u8]) -> bool {
    a.eq_ignore_ascii_case(b)
}

/// The value of the decimal fraction `0.digits` scaled by `10^places` (`places ≤ 18`), truncated:
/// `fraction(b"5", 6)` is 500 000, `fraction(b"1234567", 6)` is 123 456. `digits` are ASCII digits.
pub(crate) fn fraction(digits: &[u8], places: u32) -> u64 {
    let places = places.min(18);
    let mut value: u64 = 0;
    let mut taken: u32 = 0;
    for &digit in digits.iter().take(places as usize) {
        // At most 18 digits: value < 10^18 < u64::MAX.
        value = value
            .wrapping_mul(10)
            .wrapping_add(u64::from(digit.wrapping_sub(b'0')));
        taken = taken.wrapping_add(1);
    }
    for _ in taken..places {
        value = value.wrapping_mul(10);
    }
    value
}

/// An unsigned decimal integer of ASCII digits (at least one).
///
/// # Errors
///
/// [`DateError::Syntax`] for no digits, [`DateError::TooLarge`] above `u64::MAX`.
pub(crate) fn integer(digits: &[u8]) -> Result<u64, DateError> {
    if digits.is_empty() {
        return Err(DateError::Syntax);
    }
    if digits.len() <= 19 {
        // Below 10^19 < u64::MAX: nothing to check but the digits themselves.
        let mut value: u64 = 0;
        for &byte in digits {
            let digit = byte.wrapping_sub(b'0');
            if digit > 9 {
                return Err(DateError::Syntax);
            }
            value = value.wrapping_mul(10).wrapping_add(u64::from(digit));
        }
        return Ok(value);
    }
    digits.iter().try_fold(0u64, |value, &digit| {
        if !digit.is_ascii_digit() {
            return Err(DateError::Syntax);
        }
        value
            .checked_mul(10)
            .and_then(|v| v.checked_add(u64::from(digit.wrapping_sub(b'0'))))
            .ok_or(DateError::TooLarge)
    })
}

/// The eight bytes of `input` from `at` as a little-endian word, for the fixed-shape fast
/// paths that check a whole word of text at once; `None` past the end.
#[inline(always)]
pub(crate) fn word_at(input: &[u8], at: usize) -> Option<u64> {
    let chunk = input.get(at..at.checked_add(8)?)?;
    chunk.try_into().ok().map(u64::from_le_bytes)
}

/// The two-digit numbers of a word of ASCII text ([`word_at`]): byte `i` of the result is
/// `10 × d(i) + d(i + 1)` where `d` is the value of a digit byte, for the bytes that `digits`
/// marks with `0xff` (0 for the others); `None` if a marked byte is not an ASCII digit.
///
/// All marked bytes are checked at once: `0` is taken from each, which leaves a digit's value
/// (0 to 9); then neither that nor it plus 0x76 has its top bit set exactly when it was a
/// digit (a byte below `0` wraps to 0xd0 or more, a byte above `9` is lifted to 0x80 or more;
/// the borrow or carry either passes on only follows such a failure). Pairing is one
/// multiplication: byte `i + 1` of `u × (10·256 + 1)` is `d(i + 1) + 10·d(i)` ≤ 99, which never
/// carries into the next byte.
#[inline(always)]
pub(crate) fn digit_pairs(word: u64, digits: u64) -> Option<u64> {
    let units = (word & digits).wrapping_sub(0x3030_3030_3030_3030 & digits);
    let lifted = units.wrapping_add(0x7676_7676_7676_7676 & digits);
    if (units | lifted) & 0x8080_8080_8080_8080 & digits != 0 {
        return None;
    }
    Some(units.wrapping_mul(10 << 8 | 1) >> 8)
}

/// Byte `i` of a word, widened.
#[inline(always)]
pub(crate) fn byte(word: u64, i: usize) -> u32 {
    word.to_le_bytes().get(i).copied().map_or(0, u32::from)
}
