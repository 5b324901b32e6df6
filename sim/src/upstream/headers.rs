//! The response headers the simulated provider emits, written into a reusable buffer.
//!
//! The values are what a real response carries (`research/protocol.md` §1, §2): for Anthropic,
//! `anthropic-ratelimit-{requests,input-tokens,output-tokens,tokens}-{limit,remaining,reset}`
//! with token `remaining` rounded to the nearest thousand and resets as RFC 3339 instants (time
//! until full, rounded up to the second); for OpenAI, `x-ratelimit-{limit,remaining,reset}-*` with
//! exact `remaining` and Go-style durations truncated to the millisecond. Both carry `date` and,
//! on a 429, `retry-after` in whole seconds.

use std::fmt::{self, Write as _};

use headroom::LimitKind;
use headroom::datetime::{Rfc3339, write_http_date};
use headroom::time::UnixTime;

use crate::workload::Dialect;

/// Header fields as (name, value) strings, reused from one response to the next so that emitting
/// them allocates nothing once warm.
#[derive(Debug, Default, Clone)]
pub struct HeaderBuf {
    text: String,
    fields: Vec<(&'static str, u32, u32)>,
    /// Formatted instants by whole second, direct-mapped: a simulated second sees many
    /// responses, and formatting dates dominated the simulator's profile.
    rfc3339: Vec<(u64, String)>,
    http_dates: Vec<(u64, String)>,
}

const DATE_CACHE: usize = 16;

fn cached(
    cache: &mut Vec<(u64, String)>,
    secs: u64,
    write: fn(UnixTime, &mut String) -> fmt::Result,
) -> &str {
    if cache.is_empty() {
        cache.resize(DATE_CACHE, (u64::MAX, String::new()));
    }
    let slot = usize::try_from(secs % DATE_CACHE as u64).unwrap_or(0);
    match cache.get_mut(slot) {
        Some(entry) => {
            if entry.0 != secs {
                entry.0 = secs;
                entry.1.clear();
                let _ = write(UnixTime::from_secs(secs), &mut entry.1);
            }
            &entry.1
        }
        None => "",
    }
}

impl HeaderBuf {
    /// An empty buffer.
    pub fn new() -> Self {
        Self::default()
    }

    /// Forgets every field, keeping the memory.
    pub fn clear(&mut self) {
        self.text.clear();
        self.fields.clear();
    }

    fn push(&mut self, name: &'static str, value: fmt::Arguments<'_>) {
        let start = u32::try_from(self.text.len()).unwrap_or(u32::MAX);
        // Writing into a String cannot fail.
        let _ = self.text.write_fmt(value);
        let end = u32::try_from(self.text.len()).unwrap_or(u32::MAX);
        self.fields.push((name, start, end));
    }

    fn push_str_value(&mut self, name: &'static str, value: &str) {
        let start = u32::try_from(self.text.len()).unwrap_or(u32::MAX);
        self.text.push_str(value);
        let end = u32::try_from(self.text.len()).unwrap_or(u32::MAX);
        self.fields.push((name, start, end));
    }

    fn push_u64(&mut self, name: &'static str, value: u64) {
        let mut digits = [0u8; 20];
        let mut at = digits.len();
        let mut rest = value;
        loop {
            at -= 1;
            if let Some(digit) = digits.get_mut(at) {
                *digit = b'0' + (rest % 10) as u8;
            }
            rest /= 10;
            if rest == 0 {
                break;
            }
        }
        let text = std::str::from_utf8(digits.get(at..).unwrap_or_default()).unwrap_or("0");
        self.push_str_value(name, text);
    }

    fn push_rfc3339(&mut self, name: &'static str, secs: u64) {
        let mut cache = std::mem::take(&mut self.rfc3339);
        let text = cached(&mut cache, secs, |t, out| write!(out, "{}", Rfc3339(t)));
        self.push_str_value(name, text);
        self.rfc3339 = cache;
    }

    fn push_http_date(&mut self, name: &'static str, secs: u64) {
        let mut cache = std::mem::take(&mut self.http_dates);
        let text = cached(&mut cache, secs, write_http_date);
        self.push_str_value(name, text);
        self.http_dates = cache;
    }

    /// The fields in order.
    ///
    /// # Examples
    ///
    /// ```
    /// use headroom_sim::upstream::HeaderBuf;
    ///
    /// let buf = HeaderBuf::new();
    /// assert_eq!(buf.pairs().count(), 0);
    /// ```
    pub fn pairs(&self) -> impl Iterator<Item = (&'static str, &str)> + '_ {
        self.fields.iter().map(|&(name, start, end)| {
            let value = self.text.get(start as usize..end as usize).unwrap_or("");
            (name, value)
        })
    }

    /// The value of the first field named `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs()
            .find(|(field, _)| field.eq_ignore_ascii_case(name))
            .map(|(_, value)| value)
    }
}

/// One quota as the provider sees it when answering.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct QuotaView {
    /// Units per minute.
    pub limit: u64,
    /// Whole units available now.
    pub remaining: u64,
    /// Microseconds until full.
    pub time_to_full_us: u64,
}

/// Everything the headers of one response say.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HeaderState {
    /// The response's HTTP status.
    pub status: u16,
    /// Wall clock of the response, µs since the Unix epoch.
    pub date_unix_us: u64,
    /// How far the `Date` field is off `date_unix_us` (resets are not skewed), µs.
    pub date_skew_us: i64,
    /// `retry-after` in seconds (429 only).
    pub retry_after_s: Option<u64>,
    /// The quotas, indexed by [`LimitKind::index`].
    pub quotas: [Option<QuotaView>; 4],
}

/// Token `remaining` as Anthropic reports it: rounded to the nearest thousand.
pub fn round_thousand(units: u64) -> u64 {
    units.saturating_add(500) / 1000 * 1000
}

/// A duration as Go prints it, truncated to the millisecond: `0s`, `120ms`, `1.5s`, `6m0s`,
/// `1h2m3s`.
///
/// # Examples
///
/// ```
/// use headroom_sim::upstream::go_duration;
///
/// assert_eq!(go_duration(0), "0s");
/// assert_eq!(go_duration(120_999), "120ms");
/// assert_eq!(go_duration(1_500_000), "1.5s");
/// assert_eq!(go_duration(360_000_000), "6m0s");
/// assert_eq!(go_duration(3_723_000_000), "1h2m3s");
/// ```
pub fn go_duration(micros: u64) -> String {
    let mut out = String::new();
    let _ = write_go_duration(micros, &mut out);
    out
}

fn write_go_duration<W: fmt::Write + ?Sized>(micros: u64, out: &mut W) -> fmt::Result {
    let ms = micros / 1_000;
    if ms == 0 {
        return out.write_str("0s");
    }
    if ms < 1_000 {
        return write!(out, "{ms}ms");
    }
    let (hours, minutes) = (ms / 3_600_000, ms / 60_000 % 60);
    let (secs, frac) = (ms / 1_000 % 60, ms % 1_000);
    if hours > 0 {
        write!(out, "{hours}h")?;
    }
    if hours > 0 || minutes > 0 {
        write!(out, "{minutes}m")?;
    }
    write!(out, "{secs}")?;
    if frac > 0 {
        let mut frac = frac;
        let mut width = 3;
        while frac % 10 == 0 {
            frac /= 10;
            width -= 1;
        }
        write!(out, ".{frac:0width$}")?;
    }
    out.write_char('s')
}

struct GoDuration(u64);

impl fmt::Display for GoDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_go_duration(self.0, f)
    }
}

const ANTHROPIC: [[&str; 3]; 4] = [
    [
        "anthropic-ratelimit-requests-limit",
        "anthropic-ratelimit-requests-remaining",
        "anthropic-ratelimit-requests-reset",
    ],
    [
        "anthropic-ratelimit-input-tokens-limit",
        "anthropic-ratelimit-input-tokens-remaining",
        "anthropic-ratelimit-input-tokens-reset",
    ],
    [
        "anthropic-ratelimit-output-tokens-limit",
        "anthropic-ratelimit-output-tokens-remaining",
        "anthropic-ratelimit-output-tokens-reset",
    ],
    [
        "anthropic-ratelimit-tokens-limit",
        "anthropic-ratelimit-tokens-remaining",
        "anthropic-ratelimit-tokens-reset",
    ],
];

const OPENAI: [[&str; 3]; 4] = [
    [
        "x-ratelimit-limit-requests",
        "x-ratelimit-remaining-requests",
        "x-ratelimit-reset-requests",
    ],
    [
        "x-ratelimit-limit-input-tokens",
        "x-ratelimit-remaining-input-tokens",
        "x-ratelimit-reset-input-tokens",
    ],
    [
        "x-ratelimit-limit-output-tokens",
        "x-ratelimit-remaining-output-tokens",
        "x-ratelimit-reset-output-tokens",
    ],
    [
        "x-ratelimit-limit-tokens",
        "x-ratelimit-remaining-tokens",
        "x-ratelimit-reset-tokens",
    ],
];

/// Writes the headers of a response into `buf` (cleared first).
///
/// A 529 carries only `date` and `x-should-retry` (overload is not about your quota).
/// Anthropic's combined `tokens` quota is emitted as the sum of input and output when the lane
/// has both and no combined limit of its own.
///
/// # Examples
///
/// ```
/// use headroom_sim::upstream::{HeaderBuf, HeaderState, QuotaView, render};
/// use headroom_sim::workload::Dialect;
///
/// let mut state = HeaderState { status: 429, date_unix_us: 1_748_772_000_000_000, retry_after_s: Some(2), ..Default::default() };
/// state.quotas[0] = Some(QuotaView { limit: 50, remaining: 0, time_to_full_us: 1_200_000 });
/// let mut buf = HeaderBuf::new();
/// render(&state, Dialect::Anthropic, &mut buf);
/// assert_eq!(buf.get("date"), Some("Sun, 01 Jun 2025 10:00:00 GMT"));
/// assert_eq!(buf.get("anthropic-ratelimit-requests-reset"), Some("2025-06-01T10:00:02Z"));
/// assert_eq!(buf.get("retry-after"), Some("2"));
/// ```
pub fn render(state: &HeaderState, dialect: Dialect, buf: &mut HeaderBuf) {
    buf.clear();
    let date = state.date_unix_us.saturating_add_signed(state.date_skew_us);
    buf.push_http_date("date", date / 1_000_000);
    if state.status == 429 || state.status == 529 {
        buf.push_str_value("x-should-retry", "true");
    }
    if let Some(seconds) = state.retry_after_s {
        buf.push_u64("retry-after", seconds);
    }
    if state.status == 529 {
        return;
    }
    match dialect {
        Dialect::Anthropic => render_anthropic(state, buf),
        Dialect::OpenAi => render_openai(state, buf),
    }
}

/// The reset instant in whole seconds: time to full, rounded up.
fn reset_secs(date_unix_us: u64, time_to_full_us: u64) -> u64 {
    date_unix_us
        .saturating_add(time_to_full_us)
        .div_ceil(1_000_000)
}

fn render_anthropic(state: &HeaderState, buf: &mut HeaderBuf) {
    let mut quotas = state.quotas;
    let [_, input, output, tokens] = quotas;
    if tokens.is_none()
        && let (Some(input), Some(output)) = (input, output)
    {
        quotas[LimitKind::Tokens.index()] = Some(QuotaView {
            limit: input.limit.saturating_add(output.limit),
            remaining: round_thousand(input.remaining)
                .saturating_add(round_thousand(output.remaining)),
            time_to_full_us: input.time_to_full_us.max(output.time_to_full_us),
        });
    }
    for (kind, names) in LimitKind::ALL.into_iter().zip(ANTHROPIC) {
        let Some(quota) = quotas.get(kind.index()).copied().flatten() else {
            continue;
        };
        let remaining = match kind {
            LimitKind::Requests => quota.remaining,
            _ => round_thousand(quota.remaining),
        };
        let [limit_name, remaining_name, reset_name] = names;
        buf.push_u64(limit_name, quota.limit);
        buf.push_u64(remaining_name, remaining);
        buf.push_rfc3339(
            reset_name,
            reset_secs(state.date_unix_us, quota.time_to_full_us),
        );
    }
}

fn render_openai(state: &HeaderState, buf: &mut HeaderBuf) {
    for (kind, names) in LimitKind::ALL.into_iter().zip(OPENAI) {
        let Some(quota) = state.quotas.get(kind.index()).copied().flatten() else {
            continue;
        };
        let [limit_name, remaining_name, reset_name] = names;
        buf.push_u64(limit_name, quota.limit);
        buf.push_u64(remaining_name, quota.remaining);
        buf.push(
            reset_name,
            format_args!("{}", GoDuration(quota.time_to_full_us)),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use headroom::headers::{self, Dialect as Parsed, Scope};

    fn state() -> HeaderState {
        let mut state = HeaderState {
            status: 200,
            date_unix_us: 1_748_772_000_500_000,
            ..HeaderState::default()
        };
        state.quotas[0] = Some(QuotaView {
            limit: 50,
            remaining: 0,
            time_to_full_us: 700_000,
        });
        state.quotas[1] = Some(QuotaView {
            limit: 30_000,
            remaining: 12_499,
            time_to_full_us: 35_000_000,
        });
        state.quotas[2] = Some(QuotaView {
            limit: 8_000,
            remaining: 7_500,
            time_to_full_us: 3_750_000,
        });
        state
    }

    #[test]
    fn anthropic_headers_parse_back() {
        let mut buf = HeaderBuf::new();
        render(&state(), Dialect::Anthropic, &mut buf);
        let snapshot = headers::parse(Some(200), buf.pairs());
        assert_eq!(snapshot.dialect, Parsed::Anthropic);
        assert!(snapshot.ignored.is_empty(), "{:?}", snapshot.ignored);
        let input = snapshot.quota(Scope::InputTokens).unwrap();
        assert_eq!((input.limit, input.remaining), (Some(30_000), Some(12_000)));
        let output = snapshot.quota(Scope::OutputTokens).unwrap();
        assert_eq!(output.remaining, Some(8_000));
        let tokens = snapshot.quota(Scope::Tokens).unwrap();
        assert_eq!(
            (tokens.limit, tokens.remaining),
            (Some(38_000), Some(20_000))
        );
        assert_eq!(
            buf.get("anthropic-ratelimit-input-tokens-reset"),
            Some("2025-06-01T10:00:36Z")
        );
        assert_eq!(buf.get("retry-after"), None);
    }

    #[test]
    fn openai_headers_parse_back() {
        let mut state = state();
        state.quotas = [state.quotas[0], None, None, state.quotas[1]];
        state.status = 429;
        state.retry_after_s = Some(3);
        let mut buf = HeaderBuf::new();
        render(&state, Dialect::OpenAi, &mut buf);
        let snapshot = headers::parse(Some(429), buf.pairs());
        assert_eq!(snapshot.dialect, Parsed::OpenAi);
        let tokens = snapshot.quota(Scope::Tokens).unwrap();
        assert_eq!(tokens.remaining, Some(12_499));
        assert_eq!(buf.get("x-ratelimit-reset-tokens"), Some("35s"));
        assert_eq!(buf.get("x-ratelimit-reset-requests"), Some("700ms"));
        assert_eq!(snapshot.server_delay(), Some(headroom::time::secs(3)));
        assert_eq!(snapshot.should_retry, Some(true));
    }

    #[test]
    fn overloaded_has_no_quota() {
        let mut state = state();
        state.status = 529;
        let mut buf = HeaderBuf::new();
        render(&state, Dialect::Anthropic, &mut buf);
        assert_eq!(buf.pairs().count(), 2);
    }

    #[test]
    fn rounding() {
        assert_eq!(round_thousand(499), 0);
        assert_eq!(round_thousand(500), 1_000);
        assert_eq!(round_thousand(29_999), 30_000);
    }
}
