//! Go `time.Duration` strings (`6m0s`, `1m30.5s`, `120ms`) and delay-seconds (`20`, `0.1`).
//!
//! OpenAI's `x-ratelimit-reset-*` values are printed by Go's `Duration.String`, and OpenAI-style
//! providers reuse the grammar with fractions and hours (`2m59.56s`, `15h7m12s`). Go's grammar
//! is `[-+]?([0-9]*(\.[0-9]*)?unit)+` or `0`, with units `h`, `m`, `s`, `ms`, `us`, `µs` (U+00B5
//! or U+03BC) and `ns`. The sum is exact: whole microseconds plus the nanoseconds below one,
//! truncated to microseconds once at the end. It is kept in 64-bit words, not as nanoseconds
//! in a `u128`: on a 32-bit core every 128-bit operation is a long call sequence, and this
//! reader is linked into every firmware image.
//!
//! Unlike Go, a negative duration is an error ([`DateError::Negative`]): a negative wait is
//! nonsense in a rate-limit header, and the interesting case is Azure's `-1` sentinel.

use core::fmt;

use super::DateError;
use super::cursor::{Cursor, fraction, integer};
use crate::time::Duration;

/// Parses a Go duration string: `6m0s`, `1m30.5s`, `120ms`, `.5s`, `1µs`, `0`.
///
/// Digits below a microsecond are truncated (`1500ns` is 1 µs).
///
/// # Errors
///
/// [`DateError::Empty`] for no input, [`DateError::Negative`] for a leading `-`,
/// [`DateError::Syntax`] for a missing or unknown unit (`5`, `5 s`, `5S`, `5d`),
/// [`DateError::TooLarge`] when the sum exceeds [`Duration::MAX`].
///
/// # Examples
///
/// ```
/// use headroom::datetime::{DateError, parse_go_duration};
/// use headroom::time;
///
/// assert_eq!(parse_go_duration(b"6m0s"), Ok(time::secs(360)));
/// assert_eq!(parse_go_duration(b"1m30.5s"), Ok(time::millis(90_500)));
/// assert_eq!(parse_go_duration("1µs".as_bytes()), Ok(time::micros(1)));
/// assert_eq!(parse_go_duration(b"-1"), Err(DateError::Negative));
/// ```
pub fn parse_go_duration(input: &[u8]) -> Result<Duration, DateError> {
    let Some(mut c) = go_terms(input)? else {
        return Ok(Duration::ZERO);
    };
    // The sum, exactly: whole µs plus the nanoseconds below one (below 1 000 between terms).
    // A sum beyond `Duration::MAX` is remembered, not returned at once, so that a syntax error
    // further on is still the one reported.
    let mut micros: u64 = 0;
    let mut nanos: u64 = 0;
    let mut too_large = false;
    while !c.is_empty() {
        let Term { whole, frac, unit } = go_term(&mut c)?;
        let unit = Unit::of(unit)?;
        let whole = if whole.is_empty() { 0 } else { integer(whole)? };
        let (term_micros, term_nanos) = unit.term(whole, frac);
        let carry = nanos.saturating_add(term_nanos % 1_000);
        let (carry, rest) = if carry >= 1_000 {
            (1, carry.saturating_sub(1_000))
        } else {
            (0, carry)
        };
        nanos = rest;
        let sum = term_micros.and_then(|term| {
            micros
                .checked_add(term)?
                .checked_add(term_nanos / 1_000)?
                .checked_add(carry)
        });
        match sum {
            Some(sum) => micros = sum,
            None => too_large = true,
        }
    }
    if too_large {
        return Err(DateError::TooLarge);
    }
    Ok(Duration::from_ticks(micros))
}

/// The terms of a Go duration, after its sign; `Ok(None)` for the bare `0`.
fn go_terms(input: &[u8]) -> Result<Option<Cursor<'_>>, DateError> {
    if input.is_empty() {
        return Err(DateError::Empty);
    }
    let mut c = Cursor::new(input);
    if c.eat(b'-') {
        return Err(DateError::Negative);
    }
    c.eat(b'+');
    if c.rest() == b"0" {
        return Ok(None);
    }
    if c.is_empty() {
        return Err(DateError::Syntax);
    }
    Ok(Some(c))
}

/// One term of a Go duration, `[digits][.digits]unit`, not yet read.
#[derive(Debug, Clone, Copy)]
struct Term<'a> {
    /// The digits before the dot (maybe none).
    whole: &'a [u8],
    /// The digits after the dot (maybe none, but not both).
    frac: &'a [u8],
    /// The unit's suffix.
    unit: &'a [u8],
}

/// The next term of a Go duration at the cursor.
fn go_term<'a>(c: &mut Cursor<'a>) -> Result<Term<'a>, DateError> {
    let (whole, frac) = number(c);
    if whole.is_empty() && frac.is_empty() {
        return Err(DateError::Syntax);
    }
    let unit = c.take_while(|b| b != b'.' && !b.is_ascii_digit());
    Ok(Term { whole, frac, unit })
}

/// `[digits][.digits]` at the cursor: the whole digits and the fraction's digits, either or
/// both empty.
fn number<'a>(c: &mut Cursor<'a>) -> (&'a [u8], &'a [u8]) {
    let whole = c.take_while(|b| b.is_ascii_digit());
    let frac = if c.eat(b'.') {
        c.take_while(|b| b.is_ascii_digit())
    } else {
        &[]
    };
    (whole, frac)
}

/// A Go duration unit: `times · 10^digits` nanoseconds.
#[derive(Debug, Clone, Copy)]
struct Unit {
    /// Whole microseconds in one unit (0 for `ns`).
    micros: u64,
    /// The decimal exponent of the unit in nanoseconds.
    digits: u32,
    /// The unit's leading factor: 1, 6 (`m`) or 36 (`h`).
    times: u32,
}

impl Unit {
    /// The unit a suffix names.
    fn of(unit: &[u8]) -> Result<Self, DateError> {
        let (micros, digits, times) = match unit {
            b"ns" => (0, 0, 1),
            b"us" | [0xC2, 0xB5, b's'] | [0xCE, 0xBC, b's'] => (1, 3, 1), // us, µs (U+00B5), μs (U+03BC)
            b"ms" => (1_000, 6, 1),
            b"s" => (1_000_000, 9, 1),
            b"m" => (60_000_000, 10, 6),
            b"h" => (3_600_000_000, 11, 36),
            _ => return Err(DateError::Syntax),
        };
        Ok(Self {
            micros,
            digits,
            times,
        })
    }

    /// `whole.frac` units as whole microseconds (`None` beyond `u64`) and nanoseconds to add;
    /// the fraction is read to 18 places and its nanoseconds floored, as Go does.
    ///
    /// With the fraction `F` read to 18 places, its nanoseconds are `⌊F · times · 10^digits /
    /// 10^18⌋`. Its first `digits` digits `H` give `times · H` of them exactly, the `18 − digits`
    /// after them `R` give `⌊times · R / 10^(18 − digits)⌋` more, below `times`: 0 unless
    /// `times` > 1, and then (`m`, `h`) `R` < 10^8, so no product leaves 32 bits.
    fn term(self, whole: u64, frac: &[u8]) -> (Option<u64>, u64) {
        if self.micros == 0 {
            // `ns`: no fraction counts, the whole number is nanoseconds.
            return (Some(0), whole);
        }
        let part = if frac.is_empty() {
            0
        } else {
            self.fraction_nanos(frac)
        };
        (whole.checked_mul(self.micros), part)
    }

    /// The nanoseconds of `.frac` units, floored (see [`Unit::term`]).
    fn fraction_nanos(self, frac: &[u8]) -> u64 {
        let head = fraction(frac, self.digits);
        let rest = frac.get(self.digits as usize..).unwrap_or_default();
        let tail = if self.times > 1 && !rest.is_empty() {
            let places = 18_u32.saturating_sub(self.digits);
            let scaled = u32::try_from(fraction(rest, places))
                .map_or(0, |rest| rest.saturating_mul(self.times));
            10_u32
                .checked_pow(places)
                .and_then(|scale| scaled.checked_div(scale))
                .unwrap_or(0)
        } else {
            0
        };
        // head < 10^11 and times ≤ 36: below 2^42, no overflow (and no 64-bit overflow check).
        head.wrapping_mul(u64::from(self.times))
            .wrapping_add(u64::from(tail))
    }
}

/// Parses delay-seconds as `Retry-After` and the IETF `RateLimit-Reset` carry them: a
/// non-negative decimal, `20`, `0.1`, `.5` or `5.` (the SDKs parse a float; exponents, `inf` and
/// `nan` are refused). Digits below a microsecond are truncated.
///
/// # Errors
///
/// [`DateError::Empty`], [`DateError::Negative`] for `-10`, [`DateError::Syntax`] for anything
/// but digits and one dot, [`DateError::TooLarge`] beyond [`Duration::MAX`] (an error, not a
/// saturated wait: a number that large is garbage, not advice).
///
/// # Examples
///
/// ```
/// use headroom::datetime::{DateError, parse_delay_seconds};
/// use headroom::time;
///
/// assert_eq!(parse_delay_seconds(b"20"), Ok(time::secs(20)));
/// assert_eq!(parse_delay_seconds(b"0.1"), Ok(time::millis(100)));
/// assert_eq!(parse_delay_seconds(b"-10"), Err(DateError::Negative));
/// assert_eq!(parse_delay_seconds(b"inf"), Err(DateError::Syntax));
/// assert_eq!(
///     parse_delay_seconds(b"99999999999999999999999999999999999"),
///     Err(DateError::TooLarge)
/// );
/// ```
pub fn parse_delay_seconds(input: &[u8]) -> Result<Duration, DateError> {
    parse_decimal(input, 6, 1_000_000)
}

/// Parses a non-negative decimal number of milliseconds, as `retry-after-ms` carries it (`10`,
/// `2.5`). Same grammar and errors as [`parse_delay_seconds`].
///
/// # Errors
///
/// As [`parse_delay_seconds`].
///
/// # Examples
///
/// ```
/// use headroom::datetime::parse_delay_millis;
/// use headroom::time;
///
/// assert_eq!(parse_delay_millis(b"2.5"), Ok(time::micros(2_500)));
/// ```
pub fn parse_delay_millis(input: &[u8]) -> Result<Duration, DateError> {
    parse_decimal(input, 3, 1_000)
}

/// A non-negative decimal, `digits`, `digits.digits`, `.digits` or `digits.`: its whole part
/// and its fraction's digits.
fn decimal_parts(input: &[u8]) -> Result<(u64, &[u8]), DateError> {
    if input.is_empty() {
        return Err(DateError::Empty);
    }
    let mut c = Cursor::new(input);
    if c.eat(b'-') {
        return match c.peek() {
            Some(b'0'..=b'9' | b'.') => Err(DateError::Negative),
            _ => Err(DateError::Syntax),
        };
    }
    let (whole, frac) = number(&mut c);
    if (whole.is_empty() && frac.is_empty()) || !c.is_empty() {
        return Err(DateError::Syntax);
    }
    let whole = if whole.is_empty() { 0 } else { integer(whole)? };
    Ok((whole, frac))
}

/// A non-negative decimal number of `10^-places` seconds (`places` 6 or 3), in µs: one unit is
/// `unit_micros` = `10^places` µs.
fn parse_decimal(input: &[u8], places: u32, unit_micros: u64) -> Result<Duration, DateError> {
    let (whole, frac) = decimal_parts(input)?;
    let whole = whole.checked_mul(unit_micros).ok_or(DateError::TooLarge)?;
    // The first `places` digits of the fraction, truncated: `⌊F · 10^places / 10^18⌋` for the
    // fraction `F` read to 18 places, with no 128-bit product.
    let part = fraction(frac, places);
    whole
        .checked_add(part)
        .map(Duration::from_ticks)
        .ok_or(DateError::TooLarge)
}

/// Writes `duration` as delay-seconds, the inverse of [`parse_delay_seconds`]: whole seconds, then
/// a fraction only when it is not zero, trailing zeros trimmed (`20`, `2.5`, `0.000001`).
///
/// The output reads back through [`parse_delay_seconds`] to the same microsecond, for every
/// [`Duration`].
///
/// # Errors
///
/// Only the writer's own [`fmt::Error`].
///
/// # Examples
///
/// ```
/// use headroom::datetime::{parse_delay_seconds, write_delay_seconds};
/// use headroom::time;
///
/// let mut out = String::new();
/// write_delay_seconds(time::millis(2_500), &mut out).unwrap();
/// assert_eq!(out, "2.5");
/// assert_eq!(parse_delay_seconds(out.as_bytes()), Ok(time::millis(2_500)));
/// ```
pub fn write_delay_seconds<W: fmt::Write + ?Sized>(duration: Duration, out: &mut W) -> fmt::Result {
    let micros = duration.as_ticks();
    write!(out, "{}", micros / 1_000_000)?;
    super::rfc3339::write_fraction(micros % 1_000_000, out)
}

/// Shows a [`Duration`] as delay-seconds, for `format!` and friends (see
/// [`write_delay_seconds`]).
///
/// # Examples
///
/// ```
/// use headroom::datetime::DelaySeconds;
/// use headroom::time;
///
/// assert_eq!(DelaySeconds(time::secs(12)).to_string(), "12");
/// assert_eq!(DelaySeconds(time::micros(1)).to_string(), "0.000001");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DelaySeconds(pub Duration);

impl fmt::Display for DelaySeconds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_delay_seconds(self.0, f)
    }
}

/// Writes `duration` as Go's `Duration.String` would: `0s`, `1µs`, `1.5ms`, `120ms`, `7.66s`,
/// `6m0s`, `1m30.5s`, `15h7m12s`.
///
/// # Errors
///
/// Only the writer's own [`fmt::Error`].
///
/// # Examples
///
/// ```
/// use headroom::datetime::write_go_duration;
/// use headroom::time;
///
/// let mut out = String::new();
/// write_go_duration(time::millis(90_500), &mut out).unwrap();
/// assert_eq!(out, "1m30.5s");
/// ```
pub fn write_go_duration<W: fmt::Write + ?Sized>(duration: Duration, out: &mut W) -> fmt::Result {
    let micros = duration.as_ticks();
    if micros == 0 {
        return out.write_str("0s");
    }
    if micros < 1_000 {
        return write!(out, "{micros}µs");
    }
    if micros < 1_000_000 {
        write!(out, "{}", micros / 1_000)?;
        let mut frac = micros % 1_000;
        if frac != 0 {
            let mut width: usize = 3;
            while frac.is_multiple_of(10) {
                frac /= 10;
                width = width.saturating_sub(1);
            }
            write!(out, ".{frac:0width$}")?;
        }
        return out.write_str("ms");
    }
    let secs = micros / 1_000_000;
    let (hours, minutes, seconds) = (secs / 3_600, secs / 60 % 60, secs % 60);
    if hours > 0 {
        write!(out, "{hours}h{minutes}m")?;
    } else if minutes > 0 {
        write!(out, "{minutes}m")?;
    }
    write!(out, "{seconds}")?;
    super::rfc3339::write_fraction(micros % 1_000_000, out)?;
    out.write_char('s')
}

/// Shows a [`Duration`] Go-style, for `format!` and friends (see [`write_go_duration`]).
///
/// # Examples
///
/// ```
/// use headroom::datetime::GoDuration;
/// use headroom::time;
///
/// assert_eq!(GoDuration(time::secs(360)).to_string(), "6m0s");
/// assert_eq!(GoDuration(time::millis(120)).to_string(), "120ms");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GoDuration(pub Duration);

impl fmt::Display for GoDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_go_duration(self.0, f)
    }
}

#[cfg(test)]
mod tests;
