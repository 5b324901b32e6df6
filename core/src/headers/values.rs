//! Field values → typed values, with the [`DateError`] of the date parsers mapped onto the
//! [`HeaderError`] a caller sees for the field at hand.

use super::snapshot::{HeaderError, Reset, RetryAfter};
use crate::datetime::cursor::integer;
use crate::datetime::{
    DateError, parse_delay_millis, parse_delay_seconds, parse_go_duration, parse_http_date,
    parse_rfc3339,
};
use crate::time::{Duration, UnixTime};

/// Removes optional white space (SP, HTAB) at both ends (RFC 9110 §5.5).
pub(super) fn trim(value: &[u8]) -> &[u8] {
    let ows = |b: &u8| *b == b' ' || *b == b'\t';
    if !value.first().is_some_and(ows) && !value.last().is_some_and(ows) {
        return value;
    }
    let start = value.iter().position(|b| !ows(b)).unwrap_or(value.len());
    let end = value
        .iter()
        .rposition(|b| !ows(b))
        .map_or(start, |i| i.saturating_add(1));
    value.get(start..end).unwrap_or_default()
}

/// A non-negative decimal integer: a count of requests or tokens.
pub(super) fn count(value: &[u8]) -> Result<u64, HeaderError> {
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

/// A limit: a count that is not zero.
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

/// The longest reset [`ResetMemo`] remembers: an RFC 3339 time with a microsecond fraction and
/// an offset (`2025-08-21T12:40:59.123456+02:00`) is 32 bytes.
const MEMO_CAPACITY: usize = 32;

/// [`reset`] with a memory of the last RFC 3339 value read and what it gave.
///
/// Anthropic sends one `*-reset` per scope, and when the buckets are nearly full they all carry
/// the same timestamp; comparing 20 bytes is cheaper than reading a date. Only RFC 3339-shaped
/// values are remembered (OpenAI's Go durations rarely repeat), and the memory is keyed by the
/// bytes alone: the caller uses one memo per response, in which `timestamp` does not change.
#[derive(Debug, Clone, Copy)]
pub(super) struct ResetMemo {
    bytes: [u8; MEMO_CAPACITY],
    /// How many of `bytes` hold the value; 0 for none (an empty reset is never remembered).
    len: u8,
    result: Result<Reset, HeaderError>,
}

impl Default for ResetMemo {
    fn default() -> Self {
        Self {
            bytes: [0; MEMO_CAPACITY],
            len: 0,
            result: Err(HeaderError::Empty),
        }
    }
}

impl ResetMemo {
    /// `reset(value, timestamp)`, from memory when `value` is the last RFC 3339 value read.
    pub(super) fn reset(&mut self, value: &[u8], timestamp: bool) -> Result<Reset, HeaderError> {
        if value.get(4) != Some(&b'-') {
            return reset(value, timestamp);
        }
        if self
            .bytes
            .get(..usize::from(self.len))
            .is_some_and(|kept| same_bytes(kept, value))
        {
            return self.result;
        }
        let result = reset(value, timestamp);
        if let (Ok(len), Some(slot)) =
            (u8::try_from(value.len()), self.bytes.get_mut(..value.len()))
        {
            slot.copy_from_slice(value);
            self.len = len;
            self.result = result;
        }
        result
    }
}

/// `a == b`, eight bytes at a time, for the short values [`ResetMemo`] compares (a generic
/// `memcmp` call costs more than the comparison).
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    let len = a.len();
    if len != b.len() {
        return false;
    }
    let word = |bytes: &[u8], at: usize| {
        let chunk = bytes.get(at..at.checked_add(8)?)?;
        chunk.try_into().ok().map(u64::from_le_bytes)
    };
    if len < 8 {
        return a == b;
    }
    // Whole words from the front, then one (possibly overlapping) word ending at the end.
    let last = len.saturating_sub(8);
    let mut at = 0;
    while at < last {
        if word(a, at) != word(b, at) {
            return false;
        }
        at = at.saturating_add(8);
    }
    word(a, last) == word(b, last)
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
            // `inf`, `nan`, `soon`: a word, not a date.
            if value.contains(&b' ') {
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

/// `x-should-retry`: `true` or `false`, in any ASCII case.
pub(super) fn boolean(value: &[u8]) -> Result<bool, HeaderError> {
    if value.is_empty() {
        Err(HeaderError::Empty)
    } else if value.eq_ignore_ascii_case(b"true") {
        Ok(true)
    } else if value.eq_ignore_ascii_case(b"false") {
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
