//! Wall-clock dates and Go-style durations as found in rate-limit headers.
//!
//! Rate-limit headers carry time in four textual forms: RFC 3339 timestamps (Anthropic's resets),
//! HTTP-dates (`Date`, `Retry-After`), Go `time.Duration` strings (OpenAI's `6m0s`, `120ms`) and
//! plain delay-seconds (`Retry-After: 20`, sometimes `0.1`). The usual parsers for these live in
//! `std` crates (`chrono`, `httpdate`, `humantime`), allocate or use floats, and are lenient in
//! ways that matter here: a float parse turns `"inf"` or `"1e400"` into a wait, a wrapping
//! duration sum turns a huge value into a tiny one.
//!
//! This module does the job with exact integer arithmetic and no allocation:
//!
//! * every malformed, out-of-range or overflowing input is an [`Err`], never a clamp, a wrap or a
//!   panic, so a hostile header cannot become a plausible-looking number;
//! * times before the Unix epoch are errors, because [`UnixTime`] cannot hold them;
//! * resolution is the microsecond of [`UnixTime`] and [`Duration`]; finer digits are truncated;
//! * formatting writes into any [`core::fmt::Write`], and the adaptors [`Rfc3339`], [`HttpDate`],
//!   [`GoDuration`] and [`DelaySeconds`] implement [`Display`](core::fmt::Display) for `format!` users.
//!
//! Decisions where the specifications leave room (each one is tested):
//!
//! * a leap second (`:60`) is read as `:59` of the same minute; [`UnixTime`] is POSIX time and has
//!   no slot for it, and keeping the minute avoids moving a reset into the next day;
//! * an HTTP-date whose day name does not match its date is rejected ([`DateError::WeekdayMismatch`]):
//!   the value is internally inconsistent, so neither half can be trusted;
//! * the RFC 850 two-digit year follows RFC 9110 §5.6.7 relative to a caller-supplied `now` in
//!   [`parse_http_date_at`]; [`parse_http_date`], which has no clock, reads `70`–`99` as 19xx and
//!   `00`–`69` as 20xx (the POSIX pivot);
//! * years are four digits (`0000`–`9999`), as both grammars say; formatting clamps later times to
//!   the last representable instant of year 9999 rather than failing.
//!
//! [`UnixTime`]: crate::time::UnixTime
//! [`Duration`]: crate::time::Duration

mod civil;
pub(crate) mod cursor;
mod duration;
mod http_date;
mod rfc3339;

#[cfg(test)]
mod tests;

pub use duration::{
    DelaySeconds, GoDuration, parse_delay_millis, parse_delay_seconds, parse_go_duration,
    write_delay_seconds, write_go_duration,
};
pub use http_date::{HttpDate, parse_http_date, parse_http_date_at, write_http_date};
pub use rfc3339::{Rfc3339, parse_rfc3339, write_rfc3339};

/// Why a date, time or duration was not accepted.
///
/// # Examples
///
/// ```
/// use headroom::datetime::{DateError, parse_rfc3339};
///
/// assert_eq!(parse_rfc3339(b"2025-02-30T00:00:00Z"), Err(DateError::OutOfRange));
/// assert_eq!(DateError::OutOfRange.to_string(), "field out of range");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum DateError {
    /// The input was empty.
    Empty,
    /// The input does not follow the grammar (a wrong separator, a missing unit, stray bytes).
    Syntax,
    /// A field is outside its range: month 13, 30 February, hour 24, minute 60.
    OutOfRange,
    /// The day name does not match the date (`Sat, 29 Sep 2023` was a Friday).
    WeekdayMismatch,
    /// The time is before 1970-01-01T00:00:00Z.
    BeforeEpoch,
    /// The value does not fit: more digits than a `u64` holds, or beyond the range of
    /// [`UnixTime`](crate::time::UnixTime) or [`Duration`](crate::time::Duration).
    TooLarge,
    /// A negative number or duration.
    Negative,
}

impl core::fmt::Display for DateError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Self::Empty => "empty input",
            Self::Syntax => "syntax error",
            Self::OutOfRange => "field out of range",
            Self::WeekdayMismatch => "day name does not match the date",
            Self::BeforeEpoch => "before the unix epoch",
            Self::TooLarge => "value too large",
            Self::Negative => "negative value",
        })
    }
}

impl core::error::Error for DateError {}
