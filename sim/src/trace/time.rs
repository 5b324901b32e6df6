//! The two spellings of a trace's `t`, and the one representation both become.
//!
//! A trace gives time either as seconds since its start (a JSON number) or as RFC 3339
//! wall-clock strings. Everything downstream wants one thing: whole microseconds since the start
//! of the trace, a `u64`, the unit of the core's `Instant`. This module converts both ways.
//!
//! Why microseconds and not `f64` seconds: equality and ordering must be exact (the reader
//! rejects time going backwards, the writer must round-trip). Seconds are rounded to the nearest
//! microsecond on reading; writing prints the `f64` closest to `µs / 10^6`, which reads back to
//! the same microsecond for any `t` below about 4.5·10^9 s (143 years).
//!
//! The RFC 3339 helpers are local because the core's `headroom::datetime` answers a different
//! question (header values, no alloc, seconds) and the simulator wants microseconds and a
//! formatter too; the civil-date arithmetic is Howard Hinnant's `days_from_civil` and inverse.

use std::fmt::Write as _;
use std::time::Duration;

/// Microseconds in one second.
const MICROS_PER_SEC: u64 = 1_000_000;
/// Microseconds in one day, as the signed type the civil arithmetic uses.
const MICROS_PER_DAY: i64 = 86_400_000_000;

/// Why a number of seconds could not become microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SecondsError {
    /// Below zero.
    Negative,
    /// NaN, infinite, or more seconds than a `u64` of microseconds holds.
    OutOfRange,
}

/// The largest time a numeric `t` may hold, in microseconds (2⁵² µs, about 142 years): up to
/// there, microseconds → seconds printed with six decimals → parsed back is exact in an `f64`,
/// so a trace written in the numeric form reads back unchanged.
pub(crate) const MAX_NUMERIC_MICROS: u64 = 1 << 52;

/// Seconds (a JSON number) → whole microseconds, rounded to nearest, at most
/// [`MAX_NUMERIC_MICROS`].
pub(crate) fn seconds_to_micros(seconds: f64) -> Result<u64, SecondsError> {
    if seconds.is_nan() || seconds.is_infinite() {
        return Err(SecondsError::OutOfRange);
    }
    if seconds < 0.0 {
        return Err(SecondsError::Negative);
    }
    let duration = Duration::try_from_secs_f64(seconds).map_err(|_| SecondsError::OutOfRange)?;
    let micros = duration.as_nanos().saturating_add(500) / 1000;
    match u64::try_from(micros) {
        Ok(micros) if micros <= MAX_NUMERIC_MICROS => Ok(micros),
        _ => Err(SecondsError::OutOfRange),
    }
}

/// Milliseconds (a HAR `time`) → whole microseconds, rounded to nearest; negative gives 0.
///
/// Reading the milliseconds as if they were seconds keeps float arithmetic out of our code:
/// `x` "seconds" are `x·10^9` ns, so `x` ms are that many ns ÷ 10^6 µs.
pub(crate) fn millis_to_micros(millis: f64) -> Option<u64> {
    if millis.is_nan() || millis.is_infinite() {
        return None;
    }
    if millis <= 0.0 {
        return Some(0);
    }
    let as_if_seconds = Duration::try_from_secs_f64(millis).ok()?;
    u64::try_from(as_if_seconds.as_nanos().saturating_add(500_000) / 1_000_000).ok()
}

/// Whole microseconds → the seconds number the writer prints.
#[expect(
    clippy::float_arithmetic,
    reason = "one correctly rounded division of two exact values gives the f64 nearest µs/10^6"
)]
pub(crate) fn micros_to_seconds(micros: u64) -> f64 {
    micros as f64 / 1_000_000.0
}

/// Microseconds as a short seconds string for messages: `2.5`, `0.000001`, `12`.
pub(crate) fn display_seconds(micros: u64) -> String {
    let mut text = format!("{}", micros / MICROS_PER_SEC);
    let fraction = micros % MICROS_PER_SEC;
    if fraction != 0 {
        let digits = format!("{fraction:06}");
        let _ = write!(text, ".{}", digits.trim_end_matches('0'));
    }
    text
}

/// Parses an RFC 3339 date-time (`2025-06-01T10:00:00.25Z`, `…+02:00`; `t`, `z` and a space
/// separator accepted) into microseconds since the Unix epoch.
///
/// Fraction digits past the sixth are truncated. A leap second (`:60`) is read as the first
/// instant of the next minute, as Unix time has no leap seconds.
pub(crate) fn parse_rfc3339(text: &str) -> Result<i64, &'static str> {
    let bytes = text.as_bytes();
    let field = |from: usize, len: usize| -> Result<i64, &'static str> {
        let digits = bytes.get(from..from + len).ok_or("too short")?;
        digits.iter().try_fold(0_i64, |acc, byte| {
            if byte.is_ascii_digit() {
                Ok(acc * 10 + i64::from(byte - b'0'))
            } else {
                Err("expected a digit")
            }
        })
    };
    let expect = |at: usize, allowed: &[u8]| -> Result<(), &'static str> {
        match bytes.get(at) {
            Some(byte) if allowed.contains(byte) => Ok(()),
            _ => Err("not of the form YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)"),
        }
    };
    let year = field(0, 4)?;
    expect(4, b"-")?;
    let month = field(5, 2)?;
    expect(7, b"-")?;
    let day = field(8, 2)?;
    expect(10, b"Tt ")?;
    let hour = field(11, 2)?;
    expect(13, b":")?;
    let minute = field(14, 2)?;
    expect(16, b":")?;
    let second = field(17, 2)?;
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return Err("no such date");
    }
    if hour > 23 || minute > 59 || second > 60 {
        return Err("no such time of day");
    }
    let mut at = 19;
    let mut micros = 0_i64;
    if bytes.get(at) == Some(&b'.') {
        at += 1;
        let start = at;
        while bytes.get(at).is_some_and(u8::is_ascii_digit) {
            if at - start < 6 {
                micros = micros * 10 + i64::from(bytes.get(at).map_or(0, |b| b - b'0'));
            }
            at += 1;
        }
        if at == start {
            return Err("a '.' without fraction digits");
        }
        for _ in (at - start)..6 {
            micros *= 10;
        }
    }
    let offset_minutes = match bytes.get(at) {
        Some(b'Z' | b'z') if at + 1 == bytes.len() => 0,
        Some(sign @ (b'+' | b'-')) if at + 6 == bytes.len() => {
            let hours = field(at + 1, 2)?;
            expect(at + 3, b":")?;
            let minutes = field(at + 4, 2)?;
            if hours > 23 || minutes > 59 {
                return Err("no such UTC offset");
            }
            let total = hours * 60 + minutes;
            if *sign == b'-' { -total } else { total }
        }
        _ => return Err("expected a 'Z' or '±HH:MM' offset at the end"),
    };
    let days = days_from_civil(year, month, day);
    let seconds = days * 86_400 + hour * 3600 + (minute - offset_minutes) * 60 + second;
    Ok(seconds * 1_000_000 + micros)
}

/// Microseconds since the Unix epoch → RFC 3339 in UTC, with six fraction digits when the
/// value is not a whole second (`2025-06-01T10:00:00Z`, `2025-06-01T10:00:00.250000Z`).
pub(crate) fn format_rfc3339(unix_micros: i64) -> String {
    let days = unix_micros.div_euclid(MICROS_PER_DAY);
    let of_day = unix_micros.rem_euclid(MICROS_PER_DAY);
    let (year, month, day) = civil_from_days(days);
    let seconds = of_day / 1_000_000;
    let fraction = of_day % 1_000_000;
    let mut text = format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}",
        seconds / 3600,
        seconds / 60 % 60,
        seconds % 60
    );
    if fraction != 0 {
        let _ = write!(text, ".{fraction:06}");
    }
    text.push('Z');
    text
}

/// Whether `year` is a Gregorian leap year.
fn is_leap(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

/// Days in `month` (1–12) of `year`.
fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_from_march = (month + 9) % 12;
    let day_of_year = (153 * month_from_march + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The date of a day count since 1970-01-01 (Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let days = days + 719_468;
    let era = days.div_euclid(146_097);
    let day_of_era = days - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_parses_known_instants() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Ok(0));
        assert_eq!(
            parse_rfc3339("2025-06-01T10:00:00Z"),
            Ok(1_748_772_000_000_000)
        );
        assert_eq!(
            parse_rfc3339("2025-06-01T12:00:00.5+02:00"),
            Ok(1_748_772_000_500_000)
        );
        assert_eq!(
            parse_rfc3339("2025-06-01t09:30:00.1234567-00:30"),
            Ok(1_748_772_000_123_456)
        );
        assert_eq!(
            parse_rfc3339("2024-02-29 00:00:00z"),
            Ok(1_709_164_800_000_000)
        );
        assert_eq!(parse_rfc3339("1969-12-31T23:59:59Z"), Ok(-1_000_000));
    }

    #[test]
    fn rfc3339_rejects_malformed_text() {
        for bad in [
            "",
            "2025-06-01",
            "2025-06-01T10:00:00",
            "2025-13-01T10:00:00Z",
            "2025-02-29T10:00:00Z",
            "2025-06-01T24:00:00Z",
            "2025-06-01T10:00:00.Z",
            "2025-06-01T10:00:00+2:00",
            "2025-06-01T10:00:00Zjunk",
            "2025/06/01T10:00:00Z",
            "２０２５-06-01T10:00:00Z",
        ] {
            assert!(parse_rfc3339(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn rfc3339_formats_and_reparses() {
        for micros in [
            0,
            1,
            1_748_772_000_250_000,
            -1,
            -86_400_000_001,
            253_402_300_799_999_999,
        ] {
            let text = format_rfc3339(micros);
            assert_eq!(parse_rfc3339(&text), Ok(micros), "{text}");
        }
        assert_eq!(
            format_rfc3339(1_748_772_000_000_000),
            "2025-06-01T10:00:00Z"
        );
        assert_eq!(
            format_rfc3339(1_748_772_000_250_000),
            "2025-06-01T10:00:00.250000Z"
        );
    }

    #[test]
    fn seconds_round_to_the_nearest_microsecond() {
        assert_eq!(seconds_to_micros(0.812), Ok(812_000));
        assert_eq!(seconds_to_micros(0.0000004), Ok(0));
        assert_eq!(seconds_to_micros(0.0000006), Ok(1));
        assert_eq!(seconds_to_micros(-0.5), Err(SecondsError::Negative));
        assert_eq!(seconds_to_micros(f64::NAN), Err(SecondsError::OutOfRange));
        assert_eq!(seconds_to_micros(1e300), Err(SecondsError::OutOfRange));
        assert_eq!(millis_to_micros(812.3456), Some(812_346));
        assert_eq!(millis_to_micros(-1.0), Some(0));
    }

    #[test]
    fn seconds_round_trip_through_the_printed_number() {
        for micros in [0, 1, 999_999, 812_000, 4_000_000_000_123_456] {
            let printed = serde_json::to_string(&micros_to_seconds(micros)).unwrap();
            let read: f64 = serde_json::from_str(&printed).unwrap();
            assert_eq!(seconds_to_micros(read), Ok(micros), "{printed}");
        }
        assert_eq!(display_seconds(2_500_000), "2.5");
        assert_eq!(display_seconds(12_000_000), "12");
    }
}
