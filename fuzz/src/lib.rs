//! Input decoders and emitters shared by the fuzz targets.
//!
//! The `headers` and `classify` targets read a small text format, so that the seed corpus is a
//! set of readable header dumps (`corpus/headers/seed-*`):
//!
//! ```text
//! 429                      <- first line: the status (not a number: no status)
//! retry-after: 16          <- then one field per line, split at the first ':'
//! anthropic-ratelimit-…: … <- a line without ':' is a name with an empty value
//!                          <- (classify only) an empty line, then the body
//! {"type":"error",…}
//! ```
//!
//! Names and values are handed to the parser as raw bytes (they need not be UTF-8), and the
//! values are not trimmed here: trimming is the parser's job.

use headroom::datetime::{write_go_duration, write_http_date, write_rfc3339};
use headroom::headers::{self, Dialect, Snapshot};
use headroom::time::{Duration, UnixTime};

/// The last instant a four-digit year can express (`9999-12-31T23:59:59.999999Z`); the
/// formatters clamp later times to it (documented in `headroom::datetime`).
pub const MAX_MICROS: u64 = 253_402_300_799_999_999;

/// A decoded header dump: the status line and the `(name, value)` pairs, borrowed.
#[derive(Debug)]
pub struct Dump<'a> {
    /// The status, when the first line is a number that fits.
    pub status: Option<u16>,
    /// The fields, in order.
    pub pairs: Vec<(&'a [u8], &'a [u8])>,
    /// Whatever followed the first empty line after the fields.
    pub body: Option<&'a [u8]>,
}

/// Splits `data` as described in the module docs. With `with_body`, the first empty line ends
/// the fields and the rest is the body; without it, empty lines are fields with empty names.
pub fn decode_dump(data: &[u8], with_body: bool) -> Dump<'_> {
    let (head, body) = if with_body {
        match find(data, b"\n\n") {
            Some(at) => (&data[..at], Some(&data[at + 2..])),
            None => (data, None),
        }
    } else {
        (data, None)
    };
    let mut lines = head.split(|&b| b == b'\n');
    let status = lines
        .next()
        .and_then(|line| core::str::from_utf8(line).ok())
        .and_then(|line| line.trim().parse::<u16>().ok());
    let pairs = lines
        .map(|line| {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            match line.iter().position(|&b| b == b':') {
                Some(colon) => (&line[..colon], &line[colon + 1..]),
                None => (line, &line[line.len()..]),
            }
        })
        .collect();
    Dump {
        status,
        pairs,
        body,
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

/// Formats a delay as delay-seconds with every microsecond kept (`16`, `0.100000`).
pub fn delay_seconds(delay: Duration) -> String {
    let micros = delay.as_ticks();
    match (micros / 1_000_000, micros % 1_000_000) {
        (secs, 0) => format!("{secs}"),
        (secs, frac) => format!("{secs}.{frac:06}"),
    }
}

/// Formats a delay as `retry-after-ms` carries it (`10`, `2.500`).
pub fn delay_millis(delay: Duration) -> String {
    let micros = delay.as_ticks();
    match (micros / 1_000, micros % 1_000) {
        (ms, 0) => format!("{ms}"),
        (ms, frac) => format!("{ms}.{frac:03}"),
    }
}

/// RFC 3339 as the core writes it.
pub fn rfc3339(time: UnixTime) -> String {
    let mut out = String::new();
    write_rfc3339(time, &mut out).expect("writing to a String cannot fail");
    out
}

/// An HTTP-date (IMF-fixdate) as the core writes it.
pub fn http_date(time: UnixTime) -> String {
    let mut out = String::new();
    write_http_date(time, &mut out).expect("writing to a String cannot fail");
    out
}

/// A Go duration as the core writes it.
pub fn go_duration(delay: Duration) -> String {
    let mut out = String::new();
    write_go_duration(delay, &mut out).expect("writing to a String cannot fail");
    out
}

/// Writes a snapshot back as the fields an Anthropic response would carry, with the core's one
/// emitter ([`headers::emit`]): integers, RFC 3339 resets (a reset given as a delay is written
/// Go-style, which the Anthropic reset reader also accepts), `retry-after` as delay-seconds or an
/// HTTP-date, `retry-after-ms`, `x-should-retry` and `date`. Windows (IETF `w`) have no
/// Anthropic field and are not written.
pub fn emit_anthropic(snapshot: &Snapshot) -> Vec<(String, String)> {
    let mut fields = Vec::new();
    headers::emit(snapshot, Dialect::Anthropic, &mut |name, value| {
        fields.push((name.to_owned(), value.to_string()));
        Ok(())
    })
    .expect("collecting into a Vec cannot fail");
    fields
}

/// Every field name the header parser knows, for the targets that build headers from indices.
pub const KNOWN_NAMES: &[&str] = &[
    "anthropic-ratelimit-requests-limit",
    "anthropic-ratelimit-requests-remaining",
    "anthropic-ratelimit-requests-reset",
    "anthropic-ratelimit-tokens-limit",
    "anthropic-ratelimit-tokens-remaining",
    "anthropic-ratelimit-tokens-reset",
    "anthropic-ratelimit-input-tokens-limit",
    "anthropic-ratelimit-input-tokens-remaining",
    "anthropic-ratelimit-input-tokens-reset",
    "anthropic-ratelimit-output-tokens-limit",
    "anthropic-ratelimit-output-tokens-remaining",
    "anthropic-ratelimit-output-tokens-reset",
    "anthropic-priority-input-tokens-limit",
    "anthropic-priority-input-tokens-remaining",
    "anthropic-priority-output-tokens-reset",
    "anthropic-fast-input-tokens-limit",
    "anthropic-fast-output-tokens-remaining",
    "anthropic-ratelimit-unified-reset",
    "x-ratelimit-limit-requests",
    "x-ratelimit-remaining-requests",
    "x-ratelimit-reset-requests",
    "x-ratelimit-limit-tokens",
    "x-ratelimit-remaining-tokens",
    "x-ratelimit-reset-tokens",
    "x-ratelimit-limit-project-tokens",
    "RateLimit-Limit",
    "RateLimit-Remaining",
    "RateLimit-Reset",
    "RateLimit",
    "RateLimit-Policy",
    "retry-after",
    "retry-after-ms",
    "x-should-retry",
    "date",
    "request-id",
];
