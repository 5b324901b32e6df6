//! RFC 3339 timestamps (`2025-08-21T12:40:59Z`), the format of Anthropic's `*-reset` fields.

use core::fmt;

use super::DateError;
use super::civil::{DAY_SECS, civil_from_days, days_from_civil, days_in_month};
use super::cursor::{Cursor, fraction};
use crate::time::UnixTime;

/// Microseconds since the epoch of 9999-12-31T23:59:59.999999Z, the last instant a four-digit
/// year can express.
pub(crate) const MAX_MICROS: u64 = 253_402_300_799_999_999;

/// A broken-down UTC-or-offset time, checked and converted by [`Fields::to_unix`].
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Fields {
    pub(crate) year: u32,
    pub(crate) month: u32,
    pub(crate) day: u32,
    pub(crate) hour: u32,
    pub(crate) minute: u32,
    pub(crate) second: u32,
    pub(crate) micros: u32,
    /// Seconds east of UTC.
    pub(crate) offset_secs: i32,
}

impl Fields {
    /// Checks every range and converts to Unix time. A leap second (`60`) counts as `59`.
    pub(crate) fn to_unix(self) -> Result<UnixTime, DateError> {
        if self.year > 9999 {
            return Err(DateError::TooLarge);
        }
        if !(1..=12).contains(&self.month)
            || self.day == 0
            || self.day > days_in_month(self.year, self.month)
            || self.hour > 23
            || self.minute > 59
            || self.second > 60
            || self.micros > 999_999
        {
            return Err(DateError::OutOfRange);
        }
        let second = self.second.min(59);
        let days = days_from_civil(self.year, self.month, self.day);
        #[expect(
            clippy::arithmetic_side_effects,
            reason = "|days| < 4·10⁶, so every term stays below 4·10¹¹ in i64"
        )]
        let secs = days * 86_400
            + i64::from(self.hour) * 3_600
            + i64::from(self.minute) * 60
            + i64::from(second)
            - i64::from(self.offset_secs);
        let secs = u64::try_from(secs).map_err(|_| DateError::BeforeEpoch)?;
        secs.checked_mul(1_000_000)
            .and_then(|micros| micros.checked_add(u64::from(self.micros)))
            .map(UnixTime::from_micros)
            .ok_or(DateError::TooLarge)
    }
}

/// Parses an RFC 3339 `date-time`: `2025-08-21T12:40:59Z`, `2025-08-21T14:40:59.25+02:00`.
///
/// Accepted: `T`, `t` or a space between date and time (RFC 3339 §5.6 allows the space);
/// `Z`, `z` or a `±hh:mm` offset; any number of fractional digits, truncated to microseconds;
/// second `60` (a leap second), read as `59`.
///
/// # Errors
///
/// [`DateError::Empty`] for no input, [`DateError::Syntax`] for anything off the grammar
/// (including missing offset and trailing bytes), [`DateError::OutOfRange`] for an impossible
/// field (`2023-02-29`, hour 24, offset `+24:00`), [`DateError::BeforeEpoch`] before 1970.
///
/// # Examples
///
/// ```
/// use headroom::datetime::{DateError, parse_rfc3339};
/// use headroom::time::UnixTime;
///
/// assert_eq!(parse_rfc3339(b"2023-09-29T16:26:37Z"), Ok(UnixTime::from_secs(1_696_004_797)));
/// assert_eq!(
///     parse_rfc3339(b"2023-09-29t18:26:37.5+02:00"),
///     Ok(UnixTime::from_micros(1_696_004_797_500_000))
/// );
/// assert_eq!(parse_rfc3339(b"1969-12-31T23:59:59Z"), Err(DateError::BeforeEpoch));
/// ```
pub fn parse_rfc3339(input: &[u8]) -> Result<UnixTime, DateError> {
    match fixed_utc(input) {
        Some(fields) => fields.to_unix(),
        None => parse_any(input),
    }
}

/// The whole grammar, byte by byte.
fn parse_any(input: &[u8]) -> Result<UnixTime, DateError> {
    if input.is_empty() {
        return Err(DateError::Empty);
    }
    let mut c = Cursor::new(input);
    let mut f = Fields {
        year: c.digits(4)?,
        ..Fields::default()
    };
    c.expect(b'-')?;
    f.month = c.digits(2)?;
    c.expect(b'-')?;
    f.day = c.digits(2)?;
    if !matches!(c.next(), Some(b'T' | b't' | b' ')) {
        return Err(DateError::Syntax);
    }
    f.hour = c.digits(2)?;
    c.expect(b':')?;
    f.minute = c.digits(2)?;
    c.expect(b':')?;
    f.second = c.digits(2)?;
    if c.eat(b'.') {
        let digits = c.take_while(|b| b.is_ascii_digit());
        if digits.is_empty() {
            return Err(DateError::Syntax);
        }
        f.micros = u32::try_from(fraction(digits, 6)).map_err(|_| DateError::OutOfRange)?;
    }
    f.offset_secs = match c.next() {
        Some(b'Z' | b'z') => 0,
        Some(sign @ (b'+' | b'-')) => {
            let hours = c.digits(2)?;
            c.expect(b':')?;
            let minutes = c.digits(2)?;
            if hours > 23 || minutes > 59 {
                return Err(DateError::OutOfRange);
            }
            #[expect(
                clippy::arithmetic_side_effects,
                reason = "hours ≤ 23 and minutes ≤ 59: at most 86 340"
            )]
            let secs = i32::try_from(hours * 3_600 + minutes * 60).unwrap_or(0);
            if sign == b'-' {
                secs.wrapping_neg()
            } else {
                secs
            }
        }
        _ => return Err(DateError::Syntax),
    };
    if !c.is_empty() {
        return Err(DateError::Syntax);
    }
    f.to_unix()
}

/// The fields of the shape servers send, `YYYY-MM-DDTHH:MM:SSZ`, read straight through; `None`
/// for anything else (a fraction, an offset, a stray byte), which the general parser then reads.
/// Both paths give the same [`Fields`], so the same result.
fn fixed_utc(input: &[u8]) -> Option<Fields> {
    let &[
        y0,
        y1,
        y2,
        y3,
        b'-',
        m0,
        m1,
        b'-',
        d0,
        d1,
        b'T' | b't' | b' ',
        h0,
        h1,
        b':',
        n0,
        n1,
        b':',
        s0,
        s1,
        b'Z' | b'z',
    ] = input
    else {
        return None;
    };
    Some(Fields {
        year: digits4([y0, y1, y2, y3])?,
        month: digits2(m0, m1)?,
        day: digits2(d0, d1)?,
        hour: digits2(h0, h1)?,
        minute: digits2(n0, n1)?,
        second: digits2(s0, s1)?,
        micros: 0,
        offset_secs: 0,
    })
}

/// One ASCII digit's value.
const fn digit(byte: u8) -> Option<u32> {
    let value = byte.wrapping_sub(b'0');
    if value > 9 { None } else { Some(value as u32) }
}

/// Two ASCII digits as a number (at most 99).
pub(crate) fn digits2(tens: u8, ones: u8) -> Option<u32> {
    Some(digit(tens)?.wrapping_mul(10).wrapping_add(digit(ones)?))
}

/// Four ASCII digits as a number (at most 9 999).
pub(crate) fn digits4([a, b, c, d]: [u8; 4]) -> Option<u32> {
    Some(
        digits2(a, b)?
            .wrapping_mul(100)
            .wrapping_add(digits2(c, d)?),
    )
}

/// Splits a Unix time (clamped to year 9999) into days, second of day and microseconds.
pub(crate) fn split(time: UnixTime) -> (u64, u64, u64) {
    let micros = time.as_micros().min(MAX_MICROS);
    let secs = micros / 1_000_000;
    (secs / DAY_SECS, secs % DAY_SECS, micros % 1_000_000)
}

/// Writes `time` as RFC 3339 in UTC: `2025-08-21T12:40:59Z`, with a fraction only when it is not
/// zero (`…:59.25Z`, trailing zeros trimmed).
///
/// Times after 9999-12-31T23:59:59.999999Z, which RFC 3339 cannot express, are written as that
/// instant, so formatting never fails on its own account.
///
/// # Errors
///
/// Only the writer's own [`fmt::Error`].
///
/// # Examples
///
/// ```
/// use headroom::datetime::write_rfc3339;
/// use headroom::time::UnixTime;
///
/// let mut out = String::new();
/// write_rfc3339(UnixTime::from_micros(1_696_004_797_250_000), &mut out).unwrap();
/// assert_eq!(out, "2023-09-29T16:26:37.25Z");
/// ```
pub fn write_rfc3339<W: fmt::Write + ?Sized>(time: UnixTime, out: &mut W) -> fmt::Result {
    let (days, sod, micros) = split(time);
    let (year, month, day) = civil_from_days(days);
    write!(
        out,
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}",
        sod / 3_600,
        sod / 60 % 60,
        sod % 60
    )?;
    write_fraction(micros, out)?;
    out.write_char('Z')
}

/// Writes `.ffffff` with trailing zeros trimmed, or nothing for zero.
pub(crate) fn write_fraction<W: fmt::Write + ?Sized>(micros: u64, out: &mut W) -> fmt::Result {
    if micros == 0 {
        return Ok(());
    }
    let mut value = micros % 1_000_000;
    let mut width: usize = 6;
    while value.is_multiple_of(10) && width > 1 {
        value /= 10;
        width = width.saturating_sub(1);
    }
    write!(out, ".{value:0width$}")
}

/// Shows a [`UnixTime`] as RFC 3339, for `format!` and friends (see [`write_rfc3339`]).
///
/// # Examples
///
/// ```
/// use headroom::datetime::Rfc3339;
/// use headroom::time::UnixTime;
///
/// assert_eq!(Rfc3339(UnixTime::from_secs(0)).to_string(), "1970-01-01T00:00:00Z");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rfc3339(pub UnixTime);

impl fmt::Display for Rfc3339 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_rfc3339(self.0, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// The straight-line path agrees with the general one wherever it answers.
        #[test]
        fn fixed_shape_agrees_with_the_grammar(
            input in "[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}[Zz]",
            edit in proptest::option::of((0..20_usize, proptest::num::u8::ANY)),
        ) {
            let mut input = input.into_bytes();
            if let Some((at, byte)) = edit {
                input[at] = byte;
            }
            if let Some(fields) = fixed_utc(&input) {
                proptest::prop_assert_eq!(fields.to_unix(), parse_any(&input));
            }
            proptest::prop_assert_eq!(parse_rfc3339(&input), parse_any(&input));
        }
    }

    #[test]
    fn fixed_shape_only() {
        assert!(fixed_utc(b"2026-11-28T04:00:00Z").is_some());
        assert!(fixed_utc(b"2026-11-28t04:00:00z").is_some());
        for other in [
            &b"2026-11-28T04:00:00.5Z"[..],
            b"2026-11-28T04:00:00+00:00",
            b"2026-11-28T04:00:0aZ",
            b"2026-11-28X04:00:00Z",
            b"2026-11-28T04:00:00Zx",
            b"",
        ] {
            assert!(fixed_utc(other).is_none(), "{other:?}");
        }
    }
}
