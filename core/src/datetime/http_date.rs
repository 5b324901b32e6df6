//! HTTP-dates (RFC 9110 §5.6.7), the format of `Date` and of `Retry-After` when it is a time.
//!
//! Senders must use IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`); recipients must also accept
//! the obsolete RFC 850 (`Sunday, 06-Nov-94 08:49:37 GMT`) and asctime
//! (`Sun Nov  6 08:49:37 1994`) forms, so all three are read. Names are matched without regard
//! to ASCII case (RFC 9110 says they are case-sensitive; being lenient here costs nothing and a
//! misspelt name such as `Zun` is still refused).

use core::fmt;

use super::DateError;
use super::civil::{DAY_SECS, DAYS, LONG_DAYS, MONTHS, civil_from_days, weekday};
use super::cursor::{Cursor, byte, digit_pairs, eq_ignore_case, word_at};
use super::rfc3339::{Fields, split};
use crate::time::UnixTime;

/// Parses an HTTP-date in any of RFC 9110's three forms.
///
/// An RFC 850 two-digit year is read with the POSIX pivot (`70`–`99` → 19xx, `00`–`69` → 20xx),
/// since this function has no clock; [`parse_http_date_at`] applies RFC 9110's "more than 50
/// years in the future" rule against a given `now` instead. asctime dates carry no zone and are
/// read as UTC.
///
/// # Errors
///
/// [`DateError::Syntax`] off the grammar (an unknown day or month name, a five-digit year, a zone
/// other than `GMT`), [`DateError::OutOfRange`] for an impossible field,
/// [`DateError::WeekdayMismatch`] when the day name is not that date's, [`DateError::BeforeEpoch`]
/// before 1970.
///
/// # Examples
///
/// ```
/// use headroom::datetime::{DateError, parse_http_date};
/// use headroom::time::UnixTime;
///
/// let t = UnixTime::from_secs(784_111_777);
/// assert_eq!(parse_http_date(b"Sun, 06 Nov 1994 08:49:37 GMT"), Ok(t));
/// assert_eq!(parse_http_date(b"Sunday, 06-Nov-94 08:49:37 GMT"), Ok(t));
/// assert_eq!(parse_http_date(b"Sun Nov  6 08:49:37 1994"), Ok(t));
/// assert_eq!(parse_http_date(b"Mon, 06 Nov 1994 08:49:37 GMT"), Err(DateError::WeekdayMismatch));
/// ```
pub fn parse_http_date(input: &[u8]) -> Result<UnixTime, DateError> {
    parse(input, |yy| {
        if yy >= 70 {
            1900_u32.saturating_add(yy)
        } else {
            2000_u32.saturating_add(yy)
        }
    })
}

/// Parses an HTTP-date like [`parse_http_date`], reading an RFC 850 two-digit year by RFC 9110
/// §5.6.7 relative to `now`: the latest year with those last two digits that is not more than
/// 50 years after `now`'s year.
///
/// # Errors
///
/// As [`parse_http_date`].
///
/// # Examples
///
/// ```
/// use headroom::datetime::{parse_http_date_at, parse_rfc3339};
///
/// let now = parse_rfc3339(b"2025-01-01T00:00:00Z").unwrap();
/// let later = parse_http_date_at(b"Tuesday, 01-Jan-75 00:00:00 GMT", now).unwrap();
/// assert_eq!(later, parse_rfc3339(b"2075-01-01T00:00:00Z").unwrap());
/// let earlier = parse_http_date_at(b"Thursday, 01-Jan-76 00:00:00 GMT", now).unwrap();
/// assert_eq!(earlier, parse_rfc3339(b"1976-01-01T00:00:00Z").unwrap());
/// ```
pub fn parse_http_date_at(input: &[u8], now: UnixTime) -> Result<UnixTime, DateError> {
    let (days, _, _) = split(now);
    let (now_year, _, _) = civil_from_days(days);
    let now_year = u32::try_from(now_year).unwrap_or(u32::MAX);
    parse(input, |yy| {
        let horizon = now_year.saturating_add(50);
        let mut year = (now_year / 100).saturating_mul(100).saturating_add(yy);
        if year.saturating_add(100) <= horizon {
            year = year.saturating_add(100);
        }
        if year > horizon {
            year = year.saturating_sub(100);
        }
        year
    })
}

fn parse(input: &[u8], two_digit_year: impl Fn(u32) -> u32) -> Result<UnixTime, DateError> {
    // The word-at-once fast path only where a 64-bit word is a register: on a 32-bit core it
    // costs more flash than the time it saves, and the general parser gives the same result.
    if cfg!(target_pointer_width = "64")
        && let Some((day_index, fields)) = imf_fixdate(input)
    {
        return check_weekday(fields.to_unix()?, day_index);
    }
    parse_any(input, two_digit_year)
}

/// All three forms, byte by byte.
fn parse_any(input: &[u8], two_digit_year: impl Fn(u32) -> u32) -> Result<UnixTime, DateError> {
    if input.is_empty() {
        return Err(DateError::Empty);
    }
    let mut c = Cursor::new(input);
    let name = c.take_while(|b| b.is_ascii_alphabetic());
    // Locals, then one `Fields` at the end: a `Fields::default()` to fill in would be zeroed
    // by a `memclr` call that only it links on 32-bit targets.
    let (day_index, day, month, year, time);
    if c.eat(b',') {
        c.expect(b' ')?;
        if let Some(index) = name_index(&DAYS, name) {
            // IMF-fixdate: `Sun, 06 Nov 1994 08:49:37 GMT`
            day_index = index;
            day = c.digits(2)?;
            c.expect(b' ')?;
            month = month_number(&mut c)?;
            c.expect(b' ')?;
            year = c.digits(4)?;
        } else {
            // RFC 850: `Sunday, 06-Nov-94 08:49:37 GMT`
            day_index = name_index(&LONG_DAYS, name).ok_or(DateError::Syntax)?;
            day = c.digits(2)?;
            c.expect(b'-')?;
            month = month_number(&mut c)?;
            c.expect(b'-')?;
            year = two_digit_year(c.digits(2)?);
        }
        c.expect(b' ')?;
        time = time_of_day(&mut c)?;
        c.expect(b' ')?;
        if !c.eat_ignore_case(b"GMT") {
            return Err(DateError::Syntax);
        }
    } else {
        // asctime: `Sun Nov  6 08:49:37 1994`
        day_index = name_index(&DAYS, name).ok_or(DateError::Syntax)?;
        c.expect(b' ')?;
        month = month_number(&mut c)?;
        c.expect(b' ')?;
        day = if c.eat(b' ') {
            c.digits(1)?
        } else {
            c.digits(2)?
        };
        c.expect(b' ')?;
        time = time_of_day(&mut c)?;
        c.expect(b' ')?;
        year = c.digits(4)?;
    }
    if !c.is_empty() {
        return Err(DateError::Syntax);
    }
    let (hour, minute, second) = time;
    let fields = Fields::utc(year, month, day, hour, minute, second);
    check_weekday(fields.to_unix()?, day_index)
}

fn check_weekday(time: UnixTime, day_index: usize) -> Result<UnixTime, DateError> {
    // A parsed time is at most 9999-12-31: one division, not the clamping split of a formatter.
    let days = time.as_micros() / (DAY_SECS * 1_000_000);
    if weekday(days) != day_index {
        return Err(DateError::WeekdayMismatch);
    }
    Ok(time)
}

/// An IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), the form every server sends, read a word
/// at a time: the day index and the fields, or `None` for anything else, which the general
/// parser then reads. Both paths agree on every input this accepts.
fn imf_fixdate(input: &[u8]) -> Option<(usize, Fields)> {
    if input.len() != 29 {
        return None;
    }
    // `Sun, 06 `, `Nov 1994`, ` 08:49:3` and `9:37 GMT` (bytes 21 to 29, overlapping).
    let (day, year, time, end) = (
        word_at(input, 0)?,
        word_at(input, 8)?,
        word_at(input, 16)?,
        word_at(input, 21)?,
    );
    let separators = (day & 0xff00_00ff_ff00_0000 != 0x2000_0020_2c00_0000)
        | (year & 0x0000_0000_ff00_0000 != 0x0000_0000_2000_0000)
        | (time & 0x00ff_0000_ff00_00ff != 0x003a_0000_3a00_0020)
        | (end & 0x0000_00ff_0000_0000 != 0x0000_0020_0000_0000)
        | (end >> 40 | 0x0020_2020 != u64::from(fold3(b'g', b'm', b't')));
    if separators {
        return None;
    }
    let day_index = position(&DAYS_FOLDED, folded_name(day))?;
    let month = position(&MONTHS_FOLDED, folded_name(year))?;
    let day = digit_pairs(day, 0x00ff_ff00_0000_0000)?;
    let year = digit_pairs(year, 0xffff_ffff_0000_0000)?;
    let time = digit_pairs(time, 0x0000_ffff_00ff_ff00)?;
    let second = digit_pairs(end, 0x0000_0000_ffff_0000)?;
    let fields = Fields {
        year: byte(year, 4).wrapping_mul(100).wrapping_add(byte(year, 6)),
        month: u32::try_from(month).ok()?.checked_add(1)?,
        day: byte(day, 5),
        hour: byte(time, 1),
        minute: byte(time, 4),
        second: byte(second, 2),
        ..Fields::default()
    };
    Some((day_index, fields))
}

/// The first three bytes of a word, folded as [`fold3`] folds them.
fn folded_name(word: u64) -> u32 {
    u32::try_from(word & 0x00ff_ffff).unwrap_or(0) | 0x0020_2020
}

/// Three letters, ASCII case folded, in one word. Setting bit 0x20 folds exactly when the
/// result is compared with letters: only `x` and `X` give `x`.
const fn fold3(a: u8, b: u8, c: u8) -> u32 {
    u32::from_le_bytes([a | 0x20, b | 0x20, c | 0x20, 0])
}

/// [`DAYS`], folded by [`fold3`].
const DAYS_FOLDED: [u32; 7] = [
    fold3(b'S', b'u', b'n'),
    fold3(b'M', b'o', b'n'),
    fold3(b'T', b'u', b'e'),
    fold3(b'W', b'e', b'd'),
    fold3(b'T', b'h', b'u'),
    fold3(b'F', b'r', b'i'),
    fold3(b'S', b'a', b't'),
];

/// [`MONTHS`], folded by [`fold3`].
const MONTHS_FOLDED: [u32; 12] = [
    fold3(b'J', b'a', b'n'),
    fold3(b'F', b'e', b'b'),
    fold3(b'M', b'a', b'r'),
    fold3(b'A', b'p', b'r'),
    fold3(b'M', b'a', b'y'),
    fold3(b'J', b'u', b'n'),
    fold3(b'J', b'u', b'l'),
    fold3(b'A', b'u', b'g'),
    fold3(b'S', b'e', b'p'),
    fold3(b'O', b'c', b't'),
    fold3(b'N', b'o', b'v'),
    fold3(b'D', b'e', b'c'),
];

fn position(names: &[u32], name: u32) -> Option<usize> {
    names.iter().position(|candidate| *candidate == name)
}

fn name_index(names: &[&str], name: &[u8]) -> Option<usize> {
    names
        .iter()
        .position(|candidate| eq_ignore_case(candidate.as_bytes(), name))
}

/// A three-letter month name (any case), as 1 to 12.
fn month_number(c: &mut Cursor<'_>) -> Result<u32, DateError> {
    let name = c.take(3).ok_or(DateError::Syntax)?;
    let index = name_index(&MONTHS, name).ok_or(DateError::Syntax)?;
    u32::try_from(index)
        .map(|i| i.saturating_add(1))
        .map_err(|_| DateError::Syntax)
}

/// `HH:MM:SS`, as (hour, minute, second).
fn time_of_day(c: &mut Cursor<'_>) -> Result<(u32, u32, u32), DateError> {
    let hour = c.digits(2)?;
    c.expect(b':')?;
    let minute = c.digits(2)?;
    c.expect(b':')?;
    let second = c.digits(2)?;
    Ok((hour, minute, second))
}

/// Writes `time` as an IMF-fixdate, `Sun, 06 Nov 1994 08:49:37 GMT` (whole seconds, truncated;
/// times after year 9999 are clamped as in [`write_rfc3339`](super::write_rfc3339)).
///
/// # Errors
///
/// Only the writer's own [`fmt::Error`].
///
/// # Examples
///
/// ```
/// use headroom::datetime::write_http_date;
/// use headroom::time::UnixTime;
///
/// let mut out = String::new();
/// write_http_date(UnixTime::from_secs(784_111_777), &mut out).unwrap();
/// assert_eq!(out, "Sun, 06 Nov 1994 08:49:37 GMT");
/// ```
pub fn write_http_date<W: fmt::Write + ?Sized>(time: UnixTime, out: &mut W) -> fmt::Result {
    let (days, sod, _) = split(time);
    let (year, month, day) = civil_from_days(days);
    let day_name = DAYS.get(weekday(days)).copied().unwrap_or("Sun");
    let month_name = usize::try_from(month.saturating_sub(1))
        .ok()
        .and_then(|i| MONTHS.get(i).copied())
        .unwrap_or("Jan");
    write!(
        out,
        "{day_name}, {day:02} {month_name} {year:04} {:02}:{:02}:{:02} GMT",
        sod / 3_600,
        sod / 60 % 60,
        sod % 60
    )
}

/// Shows a [`UnixTime`] as an IMF-fixdate, for `format!` and friends (see [`write_http_date`]).
///
/// # Examples
///
/// ```
/// use headroom::datetime::HttpDate;
/// use headroom::time::UnixTime;
///
/// assert_eq!(HttpDate(UnixTime::from_secs(0)).to_string(), "Thu, 01 Jan 1970 00:00:00 GMT");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpDate(pub UnixTime);

impl fmt::Display for HttpDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_http_date(self.0, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pivot(yy: u32) -> u32 {
        if yy >= 70 {
            1900_u32.saturating_add(yy)
        } else {
            2000_u32.saturating_add(yy)
        }
    }

    /// `(Sun|…|Sat|sUN|Zun|Sunday), [0-9]{2} (Jan|…|Dec|nOV|Nox) [0-9]{4}
    /// [0-9]{2}:[0-9]{2}:[0-9]{2} (GMT|gmt|GMX)`, composed rather than written as a regular
    /// expression: proptest compiles a regex strategy on every run, which takes most of a minute
    /// under miri (`fuzz/miri.sh`).
    fn imf_shapes() -> impl proptest::strategy::Strategy<Value = Vec<u8>> {
        use proptest::strategy::Strategy;
        let day = proptest::sample::select(
            &[
                "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "sUN", "Zun", "Sunday",
            ][..],
        );
        let month = proptest::sample::select(
            &[
                "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
                "nOV", "Nox",
            ][..],
        );
        let zone = proptest::sample::select(&["GMT", "gmt", "GMX"][..]);
        (day, proptest::array::uniform12(b'0'..=b'9'), month, zone).prop_map(
            |(day, digits, month, zone)| {
                let mut shape = Vec::with_capacity(32);
                let [d0, d1, y0, y1, y2, y3, h0, h1, m0, m1, s0, s1] = digits;
                shape.extend_from_slice(day.as_bytes());
                shape.extend_from_slice(&[b',', b' ', d0, d1, b' ']);
                shape.extend_from_slice(month.as_bytes());
                shape.extend_from_slice(&[b' ', y0, y1, y2, y3, b' ', h0, h1, b':', m0, m1]);
                shape.extend_from_slice(&[b':', s0, s1, b' ']);
                shape.extend_from_slice(zone.as_bytes());
                shape
            },
        )
    }

    proptest::proptest! {
        /// The straight-line path agrees with the general one wherever it answers.
        #[test]
        fn imf_fixdate_agrees_with_the_grammar(
            input in imf_shapes(),
            edit in proptest::option::of((0..29_usize, proptest::num::u8::ANY)),
        ) {
            let mut input = input;
            if let Some((at, byte)) = edit
                && let Some(slot) = input.get_mut(at)
            {
                *slot = byte;
            }
            if let Some((day_index, fields)) = imf_fixdate(&input) {
                let fast = fields.to_unix().and_then(|time| check_weekday(time, day_index));
                proptest::prop_assert_eq!(fast, parse_any(&input, pivot));
            }
            proptest::prop_assert_eq!(parse_http_date(&input), parse_any(&input, pivot));
        }
    }

    #[test]
    fn folded_names_are_the_names() {
        for (name, folded) in DAYS
            .iter()
            .zip(DAYS_FOLDED)
            .chain(MONTHS.iter().zip(MONTHS_FOLDED))
        {
            let [a, b, c] = name.as_bytes().try_into().unwrap();
            assert_eq!(fold3(a, b, c), folded, "{name}");
            assert_eq!(fold3(a ^ 0x20, b ^ 0x20, c ^ 0x20), folded, "{name}");
        }
        assert!(imf_fixdate(b"Sat, 28 Nov 2026 04:00:00 GMT").is_some());
        assert!(imf_fixdate(b"Sat, 28 Nov 2026 04:00:00 GMT ").is_none());
        assert!(imf_fixdate(b"Saturday, 28-Nov-26 04:00:00 GMT").is_none());
    }
}
