//! [`Snapshot`] → header fields: the inverse of [`parse`](super::parse).
//!
//! A parser is only as trustworthy as the fields it is tested against. Writing them by hand in
//! each test, fuzz target and simulator gives several emitters that drift apart (one rounds a
//! Go duration to the millisecond, another writes `Date` in a different case), and a round-trip
//! test then checks the parser against whichever copy it happens to use. As smoltcp pairs
//! `parse` and `emit` per protocol in `wire/`, the one emitter lives here beside the parser:
//! the simulator's provider writes its responses with it, the fuzz target checks
//! `parse(emit(s)) == s` with it.
//!
//! Fields are handed to a caller's sink one at a time as `(name, value)`, the value as
//! [`fmt::Arguments`], so nothing is allocated: the sink writes them into whatever buffer it
//! owns. Values are written the way the provider of the dialect writes them, and so that the
//! parser reads back exactly what was written:
//!
//! * `date` and a `retry-after` instant as IMF-fixdate (whole seconds);
//! * `retry-after` delays as delay-seconds, `retry-after-ms` as milliseconds, each with a
//!   fraction only when the delay has one; `x-should-retry` as `true`/`false`;
//! * Anthropic quotas as `anthropic-ratelimit-*`, `anthropic-priority-*` and `anthropic-fast-*`
//!   fields, resets as RFC 3339 instants (a reset given as a delay is written as a Go duration,
//!   which the Anthropic reset reader also accepts);
//! * OpenAI quotas as `x-ratelimit-{limit,remaining,reset}-{requests,input-tokens,output-tokens,tokens}`,
//!   resets as Go durations (an instant as RFC 3339, also accepted). OpenAI has no priority
//!   or fast pools: those quotas are not written.
//!
//! Windows (the IETF `w`) have no field in either dialect and are not written; a snapshot of
//! another dialect gets only the fields common to all (`date`, `retry-after`, …).
//!
//! Field order: `date`, `x-should-retry`, `retry-after`, `retry-after-ms`, then each quota in
//! [`Scope::ALL`] order as limit, remaining, reset.

use core::fmt;

use super::{Dialect, Reset, RetryAfter, Scope, Snapshot};
use crate::datetime::{GoDuration, HttpDate, Rfc3339};
use crate::time::Duration;

/// A delay written in whole seconds or milliseconds, with a fraction only when it has one.
enum Decimal {
    Seconds(u64),
    Millis(u64),
}

impl fmt::Display for Decimal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::Seconds(micros) => match (micros / 1_000_000, micros % 1_000_000) {
                (whole, 0) => write!(f, "{whole}"),
                (whole, fraction) => write!(f, "{whole}.{fraction:06}"),
            },
            Self::Millis(micros) => match (micros / 1_000, micros % 1_000) {
                (whole, 0) => write!(f, "{whole}"),
                (whole, fraction) => write!(f, "{whole}.{fraction:03}"),
            },
        }
    }
}

fn seconds(delay: Duration) -> Decimal {
    Decimal::Seconds(delay.as_ticks())
}

fn millis(delay: Duration) -> Decimal {
    Decimal::Millis(delay.as_ticks())
}

/// The `[limit, remaining, reset]` field names of `scope` in `dialect`, if it has them.
///
/// # Examples
///
/// ```
/// use headroom::headers::{Dialect, Scope, field_names};
///
/// assert_eq!(field_names(Dialect::Anthropic, Scope::Requests).unwrap()[1], "anthropic-ratelimit-requests-remaining");
/// assert_eq!(field_names(Dialect::OpenAi, Scope::Tokens).unwrap()[2], "x-ratelimit-reset-tokens");
/// assert_eq!(field_names(Dialect::OpenAi, Scope::FastInputTokens), None);
/// ```
pub const fn field_names(dialect: Dialect, scope: Scope) -> Option<[&'static str; 3]> {
    Some(match (dialect, scope) {
        (Dialect::Anthropic, Scope::Requests) => [
            "anthropic-ratelimit-requests-limit",
            "anthropic-ratelimit-requests-remaining",
            "anthropic-ratelimit-requests-reset",
        ],
        (Dialect::Anthropic, Scope::InputTokens) => [
            "anthropic-ratelimit-input-tokens-limit",
            "anthropic-ratelimit-input-tokens-remaining",
            "anthropic-ratelimit-input-tokens-reset",
        ],
        (Dialect::Anthropic, Scope::OutputTokens) => [
            "anthropic-ratelimit-output-tokens-limit",
            "anthropic-ratelimit-output-tokens-remaining",
            "anthropic-ratelimit-output-tokens-reset",
        ],
        (Dialect::Anthropic, Scope::Tokens) => [
            "anthropic-ratelimit-tokens-limit",
            "anthropic-ratelimit-tokens-remaining",
            "anthropic-ratelimit-tokens-reset",
        ],
        (Dialect::Anthropic, Scope::PriorityInputTokens) => [
            "anthropic-priority-input-tokens-limit",
            "anthropic-priority-input-tokens-remaining",
            "anthropic-priority-input-tokens-reset",
        ],
        (Dialect::Anthropic, Scope::PriorityOutputTokens) => [
            "anthropic-priority-output-tokens-limit",
            "anthropic-priority-output-tokens-remaining",
            "anthropic-priority-output-tokens-reset",
        ],
        (Dialect::Anthropic, Scope::FastInputTokens) => [
            "anthropic-fast-input-tokens-limit",
            "anthropic-fast-input-tokens-remaining",
            "anthropic-fast-input-tokens-reset",
        ],
        (Dialect::Anthropic, Scope::FastOutputTokens) => [
            "anthropic-fast-output-tokens-limit",
            "anthropic-fast-output-tokens-remaining",
            "anthropic-fast-output-tokens-reset",
        ],
        (Dialect::OpenAi, Scope::Requests) => [
            "x-ratelimit-limit-requests",
            "x-ratelimit-remaining-requests",
            "x-ratelimit-reset-requests",
        ],
        (Dialect::OpenAi, Scope::InputTokens) => [
            "x-ratelimit-limit-input-tokens",
            "x-ratelimit-remaining-input-tokens",
            "x-ratelimit-reset-input-tokens",
        ],
        (Dialect::OpenAi, Scope::OutputTokens) => [
            "x-ratelimit-limit-output-tokens",
            "x-ratelimit-remaining-output-tokens",
            "x-ratelimit-reset-output-tokens",
        ],
        (Dialect::OpenAi, Scope::Tokens) => [
            "x-ratelimit-limit-tokens",
            "x-ratelimit-remaining-tokens",
            "x-ratelimit-reset-tokens",
        ],
        _ => return None,
    })
}

/// Writes `snapshot` as the header fields of `dialect`, one `sink(name, value)` call per field
/// (the order and the value forms are in the module docs).
///
/// # Errors
///
/// The first error the sink returns; nothing else fails.
///
/// # Examples
///
/// ```
/// use headroom::headers::{self, Dialect, Quota, Reset, Scope, Snapshot};
/// use headroom::time::{self, UnixTime};
///
/// let mut snapshot = Snapshot { status: Some(429), should_retry: Some(true), ..Snapshot::default() };
/// snapshot.date = Some(UnixTime::from_secs(1_748_772_000));
/// snapshot.retry_after = Some(headers::RetryAfter::Delay(time::secs(2)));
/// snapshot.quotas[Scope::Requests.index()] = Some(Quota {
///     limit: Some(50),
///     remaining: Some(0),
///     reset: Some(Reset::At(UnixTime::from_secs(1_748_772_002))),
///     ..Quota::default()
/// });
/// let mut fields = Vec::new();
/// headers::emit(&snapshot, Dialect::Anthropic, &mut |name, value| {
///     fields.push((name, value.to_string()));
///     Ok(())
/// })
/// .unwrap();
/// assert_eq!(fields[0], ("date", "Sun, 01 Jun 2025 10:00:00 GMT".to_owned()));
/// assert_eq!(fields[2], ("retry-after", "2".to_owned()));
/// assert_eq!(fields[5], ("anthropic-ratelimit-requests-reset", "2025-06-01T10:00:02Z".to_owned()));
/// // What is written parses back to what was emitted.
/// let again = headers::parse(Some(429), fields.iter().map(|(n, v)| (n.as_bytes(), v.as_bytes())));
/// assert_eq!((again.quotas, again.retry_after, again.date), (snapshot.quotas, snapshot.retry_after, snapshot.date));
/// ```
pub fn emit<S>(snapshot: &Snapshot, dialect: Dialect, sink: &mut S) -> fmt::Result
where
    S: FnMut(&'static str, fmt::Arguments<'_>) -> fmt::Result + ?Sized,
{
    if let Some(date) = snapshot.date {
        sink("date", format_args!("{}", HttpDate(date)))?;
    }
    if let Some(verdict) = snapshot.should_retry {
        sink("x-should-retry", format_args!("{verdict}"))?;
    }
    match snapshot.retry_after {
        Some(RetryAfter::Delay(delay)) => sink("retry-after", format_args!("{}", seconds(delay)))?,
        Some(RetryAfter::At(at)) => sink("retry-after", format_args!("{}", HttpDate(at)))?,
        None => {}
    }
    if let Some(delay) = snapshot.retry_after_ms {
        sink("retry-after-ms", format_args!("{}", millis(delay)))?;
    }
    for scope in Scope::ALL {
        let (Some(quota), Some([limit, remaining, reset])) =
            (snapshot.quota(scope), field_names(dialect, scope))
        else {
            continue;
        };
        if let Some(value) = quota.limit {
            sink(limit, format_args!("{value}"))?;
        }
        if let Some(value) = quota.remaining {
            sink(remaining, format_args!("{value}"))?;
        }
        match quota.reset {
            Some(Reset::At(at)) => sink(reset, format_args!("{}", Rfc3339(at)))?,
            Some(Reset::After(delay)) => sink(reset, format_args!("{}", GoDuration(delay)))?,
            None => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
