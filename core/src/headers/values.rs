//! Field values → typed values, with the [`DateError`] of the date parsers mapped onto the
//! [`HeaderError`] a caller sees for the field at hand.

use super::snapshot::{HeaderError, Reset, RetryAfter, SdkNumber};
use crate::datetime::cursor::{eq_ignore_case, integer};
use crate::datetime::{
    DateError, parse_delay_millis, parse_delay_seconds, parse_go_duration, parse_http_date,
    parse_rfc3339,
};
use crate::time::{Duration, UnixTime};

/// Removes optional white space (SP, HTAB) at both ends (RFC 9110 §5.5).
///
/// Where time matters more than flash (64-bit targets), a value with nothing to trim, what
/// servers send, leaves after a look at its two ends.
pub(super) fn trim(value: &[u8]) -> &[u8] {
    let ows = |b: &u8| *b == b' ' || *b == b'\t';
    if cfg!(target_pointer_width = "64")
        && !value.first().is_some_and(ows)
        && !value.last().is_some_and(ows)
    {
        return value;
    }
    let mut value = value;
    while let [b' ' | b'\t', rest @ ..] = value {
        value = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = value {
        value = rest;
    }
    value
}

/// A non-negative decimal integer: a count of requests or tokens.
#[inline(always)]
pub(super) fn count(value: &[u8]) -> Result<u64, HeaderError> {
    // Only where a 64-bit multiplication is one instruction: on a 32-bit core the word
    // reading costs more flash than the digit loop and saves little time.
    if cfg!(target_pointer_width = "64")
        && let Some(count) = four_to_eight_digits(value)
    {
        return Ok(count);
    }
    count_digits(value)
}

/// A vendor `limit` or `remaining` as received (untrimmed): [`count`] of the trimmed value,
/// except that Azure's `-1` sentinel is [`HeaderError::Unlimited`]. Four to eight digits, what
/// nearly every count is, are read as they stand: such a value has nothing to trim.
#[inline(always)]
pub(super) fn vendor_count(raw: &[u8]) -> Result<u64, HeaderError> {
    if let Some(count) = plain_count(raw) {
        return Ok(count);
    }
    vendor_count_trimmed(trim(raw))
}

/// A count of four to eight digits as received, what nearly every count is, where a 64-bit
/// word is a register; `None` for any other value (which [`vendor_count`] reads) and on other
/// targets. Where it is `Some`, [`count`] and [`vendor_count`] give the same.
#[inline(always)]
pub(super) fn plain_count(raw: &[u8]) -> Option<u64> {
    if cfg!(target_pointer_width = "64") {
        four_to_eight_digits(raw)
    } else {
        None
    }
}

/// [`vendor_count`] of a trimmed value.
fn vendor_count_trimmed(value: &[u8]) -> Result<u64, HeaderError> {
    if value == b"-1" {
        return Err(HeaderError::Unlimited);
    }
    count(value)
}

/// [`count`] digit by digit, with its errors.
#[inline(never)]
fn count_digits(value: &[u8]) -> Result<u64, HeaderError> {
    match value {
        [] => Err(HeaderError::Empty),
        [b'-', rest @ ..] if !rest.is_empty() && rest.iter().all(u8::is_ascii_digit) => {
            Err(HeaderError::Negative)
        }
        _ => integer(value).map_err(|error| match error {
            DateError::TooLarge => HeaderError::NumberTooLarge,
            _ => HeaderError::NotANumber,
        }),
    }
}

/// `value` as a decimal number when it is four to eight ASCII digits (most counts a response
/// carries: `4000`, `1998000`), read as one word instead of digit by digit; `None` otherwise.
///
/// Two overlapping four-byte loads, the first and the last four bytes, have `0` taken from
/// every byte (a digit becomes its value, 0 to 9) and are checked together as one word. Then
/// they are gathered into the top of a little-endian word, the first shifted up by the bytes
/// missing from eight, the last to the top half: the zero bytes below are leading zeros, and
/// the overlap holds the same values twice, so or-ing them is harmless. The digits are then
/// combined pairwise: tens and units into bytes, hundreds into 16-bit halves, ten thousands
/// into the 32-bit result.
#[inline(always)]
fn four_to_eight_digits(value: &[u8]) -> Option<u64> {
    const ZEROS: u32 = 0x3030_3030;
    let len = value.len();
    if !(4..=8).contains(&len) {
        return None;
    }
    let units = |bytes: Option<&[u8]>| {
        let quad = bytes
            .and_then(|bytes| bytes.try_into().ok())
            .map_or(0, u32::from_le_bytes);
        u64::from(quad.wrapping_sub(ZEROS))
    };
    let head = units(value.get(..4));
    let tail = units(value.get(len.wrapping_sub(4)..));
    // Every byte is a digit exactly when no byte of `units` or of `units + 0x76` has its top bit
    // set: a byte below `0` wraps to 0xd0 or more (and a borrow it passes on only follows that
    // failure; the one out of a half is dropped by the 32-bit subtraction), a byte above `9`
    // becomes 0x0a or more, which 0x76 lifts to 0x80 (any carry out of it only follows that
    // failure too).
    let both = head | tail << 32;
    if (both | both.wrapping_add(0x7676_7676_7676_7676)) & 0x8080_8080_8080_8080 != 0 {
        return None;
    }
    // Byte i of the value at byte 8 − len + i of the word. `pad` is 0 to 32 bits: `len` is 4
    // to 8, so the 32-bit `head` stays inside the word.
    let pad = u32::try_from(8usize.wrapping_sub(len).wrapping_mul(8)).unwrap_or(0);
    let units = head.wrapping_shl(pad) | tail << 32;
    let pairs = units.wrapping_mul(10 << 8 | 1) >> 8 & 0x00ff_00ff_00ff_00ff;
    let quads = pairs.wrapping_mul(100 << 16 | 1) >> 16 & 0x0000_ffff_0000_ffff;
    Some(quads.wrapping_mul(10_000 << 32 | 1) >> 32)
}

/// A limit: a count that is not zero.
#[inline(always)]
pub(super) fn limit(value: &[u8]) -> Result<u64, HeaderError> {
    match count(value)? {
        0 => Err(HeaderError::ZeroLimit),
        limit => Ok(limit),
    }
}

/// A vendor reset: an RFC 3339 time (Anthropic, some OpenAI-compatible providers), a Go duration
/// (OpenAI) or whole seconds (Azure). `timestamp` says which error to report for garbage.
pub(super) fn reset(value: &[u8], timestamp: bool) -> Result<Reset, HeaderError> {
    if value.is_empty() {
        return Err(HeaderError::Empty);
    }
    if value.first() == Some(&b'-') {
        return Err(HeaderError::Negative);
    }
    if value.get(4) == Some(&b'-') {
        return parse_rfc3339(value)
            .map(Reset::At)
            .map_err(|_| HeaderError::BadTimestamp);
    }
    if value.iter().all(u8::is_ascii_digit) {
        return delay_seconds(value).map(Reset::After);
    }
    parse_go_duration(value)
        .map(Reset::After)
        .map_err(|error| match error {
            DateError::TooLarge => HeaderError::NumberTooLarge,
            _ if timestamp => HeaderError::BadTimestamp,
            _ => HeaderError::BadDuration,
        })
}

/// Delay-seconds, integer or decimal (`Retry-After`, IETF resets).
pub(super) fn delay_seconds(value: &[u8]) -> Result<Duration, HeaderError> {
    parse_delay_seconds(value).map_err(number_error)
}

fn number_error(error: DateError) -> HeaderError {
    match error {
        DateError::Empty => HeaderError::Empty,
        DateError::Negative => HeaderError::Negative,
        DateError::TooLarge => HeaderError::NumberTooLarge,
        _ => HeaderError::NotANumber,
    }
}

/// `Retry-After`: delay-seconds (also fractional, as the SDKs accept) or an HTTP-date.
pub(super) fn retry_after(value: &[u8]) -> Result<RetryAfter, HeaderError> {
    match value.first() {
        None => Err(HeaderError::Empty),
        Some(b'0'..=b'9' | b'.' | b'-' | b'+') => delay_seconds(value).map(RetryAfter::Delay),
        Some(_) => parse_http_date(value).map(RetryAfter::At).map_err(|_| {
            // With a space, a malformed date; `inf`, `nan`, `soon`: a word, not a date.
            #[expect(
                clippy::manual_contains,
                reason = "`contains` calls `memchr`, which nothing else links (130 B of flash)"
            )]
            let spaced = value.iter().any(|&b| b == b' ');
            if spaced {
                HeaderError::BadTimestamp
            } else {
                HeaderError::NotANumber
            }
        }),
    }
}

/// `retry-after-ms`: a non-negative decimal number of milliseconds.
pub(super) fn retry_after_ms(value: &[u8]) -> Result<Duration, HeaderError> {
    parse_delay_millis(value).map_err(number_error)
}

/// The decimal exponent of a second in µs, for [`python_float`] and [`javascript_float`].
pub(super) const SECONDS: i64 = 6;
/// The decimal exponent of a millisecond in µs.
pub(super) const MILLIS: i64 = 3;

/// Python's `float(value)`, scaled by `10^unit` to µs: the whole value must be one float
/// literal (`-10`, `1_000`, `1e3`, `.5`, `inf`, `nan`, in any case for the words); `None` if it
/// is not, as `float()` raises then.
pub(super) fn python_float(value: &[u8], unit: i64) -> Option<SdkNumber> {
    let (negative, rest) = sign(value);
    if eq_ignore_case(rest, b"inf") || eq_ignore_case(rest, b"infinity") {
        return Some(SdkNumber::Infinite { negative });
    }
    if eq_ignore_case(rest, b"nan") {
        return Some(SdkNumber::NaN);
    }
    let (decimal, used) = Decimal::scan(rest, true)?;
    (used == rest.len()).then(|| decimal.to_number(negative, unit))
}

/// JavaScript's `parseFloat(value)`, scaled by `10^unit` to µs: the longest numeric prefix
/// (`20abc` is 20, `Infinity`, no underscores), NaN when there is none.
pub(super) fn javascript_float(value: &[u8], unit: i64) -> SdkNumber {
    let (negative, rest) = sign(value);
    if rest.starts_with(b"Infinity") {
        return SdkNumber::Infinite { negative };
    }
    Decimal::scan(rest, false).map_or(SdkNumber::NaN, |(decimal, _)| {
        decimal.to_number(negative, unit)
    })
}

/// An optional leading sign.
fn sign(value: &[u8]) -> (bool, &[u8]) {
    match value {
        [b'-', rest @ ..] => (true, rest),
        [b'+', rest @ ..] => (false, rest),
        _ => (false, value),
    }
}

/// 10^0 to 10^19: every power of ten a `u64` holds, looked up instead of computed.
#[expect(
    clippy::indexing_slicing,
    reason = "evaluated at compile time: a bad index would fail the build"
)]
const POWERS_OF_TEN: [u64; 20] = {
    let mut powers = [1; 20];
    let mut i = 1;
    while i < powers.len() {
        powers[i] = powers[i - 1] * 10;
        i += 1;
    }
    powers
};

/// `10^exponent`, `None` beyond `u64` (as `10u64.checked_pow(exponent)`).
fn power_of_ten(exponent: u32) -> Option<u64> {
    POWERS_OF_TEN.get(usize::try_from(exponent).ok()?).copied()
}

/// The significant digits a float parse looks at.
const KEPT_DIGITS: u32 = 19;

/// A decimal literal, reduced to what decides its value in µs: up to [`KEPT_DIGITS`]
/// significant digits, the decimal exponent of the last one kept, and whether a nonzero digit
/// was dropped after them.
#[derive(Debug, Default)]
struct Decimal {
    mantissa: u64,
    digits: u32,
    /// Moves by one per digit and once by a written exponent capped at 2^20, so it stays
    /// within the input's length + 2^20 of zero, far inside `i64`: its arithmetic wraps (which
    /// it never does), sparing 64-bit saturation checks on 32-bit targets.
    exponent: i64,
    dropped_nonzero: bool,
}

impl Decimal {
    /// Scans `digits [. digits] [e [sign] digits]` or `. digits [exponent]` at the start of
    /// `value` (with `underscores`, single `_` between digits, as Python allows). Returns the
    /// literal and the bytes it used; `None` without a mantissa digit.
    fn scan(value: &[u8], underscores: bool) -> Option<(Self, usize)> {
        let mut decimal = Self::default();
        let mut at = 0;
        let whole = digit_run(value, &mut at, underscores);
        decimal.push_all(whole, false);
        let mut fraction: &[u8] = &[];
        if value.get(at) == Some(&b'.') {
            let mut next = at.saturating_add(1);
            fraction = digit_run(value, &mut next, underscores);
            decimal.push_all(fraction, true);
            if !whole.is_empty() || !fraction.is_empty() {
                at = next;
            }
        }
        if whole.is_empty() && fraction.is_empty() {
            return None;
        }
        if matches!(value.get(at), Some(b'e' | b'E')) {
            let (negative, signed) = sign(value.get(at.saturating_add(1)..).unwrap_or_default());
            let mut next = value.len().saturating_sub(signed.len());
            let digits = digit_run(value, &mut next, underscores);
            if !digits.is_empty() {
                at = next;
                let exponent = digits
                    .iter()
                    .filter(|b| b.is_ascii_digit())
                    .fold(0_i64, |e, &d| {
                        // At most 2^20 before, so below 2^24 after: no overflow.
                        e.wrapping_mul(10)
                            .wrapping_add(i64::from(d.wrapping_sub(b'0')))
                            .min(1 << 20)
                    });
                decimal.exponent = if negative {
                    decimal.exponent.wrapping_sub(exponent)
                } else {
                    decimal.exponent.wrapping_add(exponent)
                };
            }
        }
        Some((decimal, at))
    }

    /// Appends the digits of a run from [`digit_run`] (its underscores skipped).
    fn push_all(&mut self, run: &[u8], fraction: bool) {
        for &byte in run {
            if byte != b'_' {
                self.push(byte.wrapping_sub(b'0'), fraction);
            }
        }
    }

    /// Appends one digit (`0..=9`) of the whole part or of the fraction.
    fn push(&mut self, digit: u8, fraction: bool) {
        if self.digits == 0 && digit == 0 {
            if fraction {
                self.exponent = self.exponent.wrapping_sub(1);
            }
        } else if self.digits < KEPT_DIGITS {
            // Below 10^18 before, so below 10^19 after: no overflow (wrapping operations, as
            // a saturating 64-bit product costs a long overflow check on 32-bit targets).
            self.mantissa = self
                .mantissa
                .wrapping_mul(10)
                .wrapping_add(u64::from(digit));
            self.digits = self.digits.saturating_add(1);
            if fraction {
                self.exponent = self.exponent.wrapping_sub(1);
            }
        } else {
            self.dropped_nonzero |= digit != 0;
            if !fraction {
                self.exponent = self.exponent.wrapping_add(1);
            }
        }
    }

    /// The first 17 significant digits, as an integer of 17 digits.
    fn leading17(&self) -> u64 {
        match self.digits.checked_sub(17) {
            Some(extra) => power_of_ten(extra).and_then(|p| self.mantissa.checked_div(p)),
            None => power_of_ten(17u32.saturating_sub(self.digits))
                .and_then(|p| self.mantissa.checked_mul(p)),
        }
        .unwrap_or(0)
    }

    /// `±self × 10^unit`, in µs rounded up, as a binary64 parse sees it: from
    /// 1.7976931348623158e308 (half an ulp above `f64::MAX`) up it is infinite; below about
    /// 1e-324 (under half the smallest subnormal) it is zero.
    fn to_number(&self, negative: bool, unit: i64) -> SdkNumber {
        if self.mantissa == 0 {
            return SdkNumber::Finite {
                negative,
                micros: 0,
            };
        }
        // The value lies in [10^(top − 1), 10^top).
        let top = self.exponent.wrapping_add(i64::from(self.digits));
        if top > 309 || (top == 309 && self.leading17() >= 17_976_931_348_623_158) {
            return SdkNumber::Infinite { negative };
        }
        if top < -323 {
            return SdkNumber::Finite {
                negative,
                micros: 0,
            };
        }
        let exponent = self.exponent.wrapping_add(unit);
        let power = u32::try_from(exponent.unsigned_abs())
            .ok()
            .and_then(power_of_ten);
        let micros = if exponent >= 0 {
            power
                .and_then(|p| self.mantissa.checked_mul(p))
                .map_or(u64::MAX, |m| {
                    m.saturating_add(u64::from(self.dropped_nonzero))
                })
        } else {
            match power {
                Some(p) => {
                    let whole = self.mantissa.checked_div(p).unwrap_or(0);
                    let rest = self.mantissa.checked_rem(p).unwrap_or(0);
                    whole.saturating_add(u64::from(rest != 0 || self.dropped_nonzero))
                }
                // 10^−exponent is beyond u64, so above the mantissa: a fraction of a µs, rounded up.
                None => 1,
            }
        };
        SdkNumber::Finite { negative, micros }
    }
}

/// The run of ASCII digits at `*at`, `*at` moved past it; with `underscores`, a single `_`
/// between two digits belongs to the run. Empty when no digit is there.
fn digit_run<'a>(value: &'a [u8], at: &mut usize, underscores: bool) -> &'a [u8] {
    let start = *at;
    loop {
        match value.get(*at) {
            Some(b) if b.is_ascii_digit() => {}
            Some(b'_')
                if underscores
                    && *at > start
                    && value
                        .get(at.saturating_add(1))
                        .is_some_and(u8::is_ascii_digit) => {}
            _ => return value.get(start..*at).unwrap_or_default(),
        }
        *at = at.saturating_add(1);
    }
}

/// `x-should-retry`: `true` or `false`, in any ASCII case.
pub(super) fn boolean(value: &[u8]) -> Result<bool, HeaderError> {
    if value.is_empty() {
        Err(HeaderError::Empty)
    } else if eq_ignore_case(value, b"true") {
        Ok(true)
    } else if eq_ignore_case(value, b"false") {
        Ok(false)
    } else {
        Err(HeaderError::BadBool)
    }
}

/// `Date`: an HTTP-date.
pub(super) fn date(value: &[u8]) -> Result<UnixTime, HeaderError> {
    parse_http_date(value).map_err(|error| match error {
        DateError::Empty => HeaderError::Empty,
        _ => HeaderError::BadTimestamp,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// SP and HTAB go from both ends, nothing else does, and all of a value of white space.
    #[test]
    fn trim_removes_optional_white_space_at_both_ends() {
        let cases: [(&[u8], &[u8]); 9] = [
            (b"", b""),
            (b" ", b""),
            (b" \t \t", b""),
            (b"4000", b"4000"),
            (b" 4000", b"4000"),
            (b"4000\t", b"4000"),
            (b"\t 4 0 \t", b"4 0"),
            (b"\r4000\n", b"\r4000\n"),
            (b"\x0b4000 ", b"\x0b4000"),
        ];
        for (value, trimmed) in cases {
            assert_eq!(trim(value), trimmed, "{value:?}");
        }
    }

    /// The word-at-once reading agrees with the digit-by-digit one on every length it takes,
    /// and declines everything else.
    #[test]
    fn four_to_eight_digits_is_the_decimal_value() {
        for value in [
            "0000", "1000", "4000", "3999", "99999", "400000", "1998000", "2397000", "99999999",
            "00000001", "12345678", "9999", "10000000",
        ] {
            assert_eq!(
                four_to_eight_digits(value.as_bytes()),
                value.parse::<u64>().ok(),
                "{value}"
            );
        }
        for value in [
            "",
            "1",
            "12",
            "123",
            "123456789",
            "12a4",
            "-123",
            "12 4",
            "1234567/",
            "1234567:",
            "/000",
            ":000",
            "\u{660}123",
        ] {
            assert_eq!(four_to_eight_digits(value.as_bytes()), None, "{value}");
        }
        // Any one byte anywhere in values of every length: read only when it is a digit.
        for len in 4..=8 {
            for at in 0..len {
                for byte in 0..=255_u8 {
                    let mut text = b"98765432"[..len].to_vec();
                    text[at] = byte;
                    let want = std::str::from_utf8(&text)
                        .ok()
                        .filter(|text| text.bytes().all(|b| b.is_ascii_digit()))
                        .and_then(|text| text.parse::<u64>().ok());
                    assert_eq!(four_to_eight_digits(&text), want, "{text:?}");
                }
            }
        }
        for n in (0..100_000_000_u64).step_by(9_973) {
            for width in 4..=8 {
                let text = format!("{n:0width$}");
                if text.len() <= 8 {
                    assert_eq!(four_to_eight_digits(text.as_bytes()), Some(n), "{text}");
                }
            }
        }
    }
}
