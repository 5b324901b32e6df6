//! RFC 3339 timestamps (`2025-08-21T12:40:59Z`), the format of Anthropic's `*-reset` fields.

use core::fmt;

use super::DateError;
use super::civil::{DAY_SECS, civil_from_days, days_from_civil, days_in_month};
use super::cursor::{Cursor, byte, digit_pairs, fraction, word_at};
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
    /// A date and a time of day to the second, in UTC.
    pub(crate) const fn utc(
        year: u32,
        month: u32,
        day: u32,
        hour: u32,
        minute: u32,
        second: u32,
    ) -> Self {
        Self {
            year,
            month,
            day,
            hour,
            minute,
            second,
            micros: 0,
            offset_secs: 0,
        }
    }

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
    // The word-at-once fast path only where a 64-bit word is a register (see `http_date`).
    if cfg!(target_pointer_width = "64")
        && let Some(fields) = fixed_utc(input)
    {
        return fields.to_unix();
    }
    parse_any(input)
}

/// The whole grammar, byte by byte.
fn parse_any(input: &[u8]) -> Result<UnixTime, DateError> {
    if input.is_empty() {
        return Err(DateError::Empty);
    }
    let mut c = Cursor::new(input);
    // Locals, then one `Fields` at the end: a `Fields::default()` to fill in would be zeroed
    // by a `memclr` call that only it links on 32-bit targets.
    let year = c.digits(4)?;
    c.expect(b'-')?;
    let month = c.digits(2)?;
    c.expect(b'-')?;
    let day = c.digits(2)?;
    if !matches!(c.next(), Some(b'T' | b't' | b' ')) {
        return Err(DateError::Syntax);
    }
    let hour = c.digits(2)?;
    c.expect(b':')?;
    let minute = c.digits(2)?;
    c.expect(b':')?;
    let second = c.digits(2)?;
    let mut micros = 0;
    if c.eat(b'.') {
        let digits = c.take_while(|b| b.is_ascii_digit());
        if digits.is_empty() {
            return Err(DateError::Syntax);
        }
        micros = u32::try_from(fraction(digits, 6)).map_err(|_| DateError::OutOfRange)?;
    }
    let offset_secs = match c.next() {
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
    Fields {
        micros,
        offset_secs,
        ..Fields::utc(year, month, day, hour, minute, second)
    }
    .to_unix()
}

/// The fields of the shape servers send, `YYYY-MM-DDTHH:MM:SSZ`, read a word at a time; `None`
/// for anything else (a fraction, an offset, a stray byte), which the general parser then reads.
/// Both paths give the same [`Fields`], so the same result.
fn fixed_utc(input: &[u8]) -> Option<Fields> {
    if input.len() != 20 {
        return None;
    }
    // `YYYY-MM-`, `DDTHH:MM` and `H:MM:SSZ` (bytes 12 to 20, overlapping the second word).
    let (date, time, end) = (word_at(input, 0)?, word_at(input, 8)?, word_at(input, 12)?);
    let separators = (date & 0xff00_00ff_0000_0000 != 0x2d00_002d_0000_0000)
        | (time & 0x0000_ff00_0000_0000 != 0x0000_3a00_0000_0000)
        | (end & 0x0000_00ff_0000_0000 != 0x0000_003a_0000_0000)
        | !matches!(byte(time, 2), 0x54 | 0x74 | 0x20)
        | (byte(end, 7) | 0x20 != u32::from(b'z'));
    if separators {
        return None;
    }
    let date = digit_pairs(date, 0x00ff_ff00_ffff_ffff)?;
    let time = digit_pairs(time, 0xffff_00ff_ff00_ffff)?;
    let second = digit_pairs(end, 0x00ff_ff00_0000_0000)?;
    Some(Fields {
        year: byte(date, 0).wrapping_mul(100).wrapping_add(byte(date, 2)),
        month: byte(date, 5),
        day: byte(time, 0),
        hour: byte(time, 3),
        minute: byte(time, 6),
        second: byte(second, 5),
        micros: 0,
        offset_secs: 0,
    })
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

    use proptest::strategy::Strategy;

    /// `[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}[Zz]`, composed rather than
    /// written as a regular expression: proptest compiles a regex strategy on every run, which
    /// takes about a minute under miri (`fuzz/miri.sh`).
    fn fixed_shapes() -> impl Strategy<Value = [u8; 20]> {
        (
            proptest::array::uniform14(b'0'..=b'9'),
            proptest::sample::select(&b"Tt "[..]),
            proptest::sample::select(&b"Zz"[..]),
        )
            .prop_map(|(digits, separator, zone)| {
                let mut shape = *b"0000-00-00T00:00:00Z";
                let at = [0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18];
                for (at, digit) in at.into_iter().zip(digits) {
                    shape[at] = digit;
                }
                shape[10] = separator;
                shape[19] = zone;
                shape
            })
    }

    proptest::proptest! {
        /// The straight-line path agrees with the general one wherever it answers.
        #[test]
        fn fixed_shape_agrees_with_the_grammar(
            input in fixed_shapes(),
            edit in proptest::option::of((0..20_usize, proptest::num::u8::ANY)),
        ) {
            let mut input = input;
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
