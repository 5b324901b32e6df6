//! The validated result of reading one response's headers: what every other module consumes.
//!
//! Parsing happens once ([`crate::headers`]); after that nothing can fail or panic. A
//! [`Snapshot`] is plain data, `Copy`-free but fixed-size, and holds no borrowed bytes: fields
//! that were not used are reported by their position in the input ([`Ignored::index`]) so the
//! caller, who still has the headers, can show them.

mod sdk;

pub use sdk::{Reading, SdkNumber, SdkReadings};

use crate::LimitKind;
use crate::time::{Duration, UnixTime};

/// How many ignored fields a [`Snapshot`] records; more are counted in
/// [`Snapshot::ignored_dropped`].
pub const IGNORED_CAPACITY: usize = 8;

/// Which family of rate-limit fields a response used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Dialect {
    /// No rate-limit fields at all (a bare 429, or a provider that sends none).
    #[default]
    None,
    /// `anthropic-ratelimit-*` (and `anthropic-priority-*`, `anthropic-fast-*`).
    Anthropic,
    /// `x-ratelimit-*`, as OpenAI and compatible providers send them.
    OpenAi,
    /// IETF drafts up to -06: `RateLimit-Limit`, `RateLimit-Remaining`, `RateLimit-Reset`.
    IetfSplit,
    /// IETF draft -07: one `RateLimit` dictionary (`limit=…, remaining=…, reset=…`).
    IetfDictionary,
    /// IETF drafts -08 and later: named policies (`"name";q=…;w=…` / `"name";r=…;t=…`).
    IetfPolicies,
}

impl Dialect {
    /// The lowercase name used in JSON: `none`, `anthropic`, `openai`, `ietf-split`,
    /// `ietf-dictionary`, `ietf-policies`.
    pub const fn name(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Anthropic => "anthropic",
            Self::OpenAi => "openai",
            Self::IetfSplit => "ietf-split",
            Self::IetfDictionary => "ietf-dictionary",
            Self::IetfPolicies => "ietf-policies",
        }
    }
}

/// One quota a response can describe. The first four map onto bucket kinds; Anthropic's
/// Priority Tier and fast-mode quotas are reported separately because they are separate pools.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Scope {
    /// Requests.
    Requests,
    /// Input tokens.
    InputTokens,
    /// Output tokens.
    OutputTokens,
    /// Combined tokens (OpenAI TPM; Anthropic's most restrictive combined value).
    Tokens,
    /// Anthropic Priority Tier input tokens.
    PriorityInputTokens,
    /// Anthropic Priority Tier output tokens.
    PriorityOutputTokens,
    /// Anthropic fast-mode input tokens.
    FastInputTokens,
    /// Anthropic fast-mode output tokens.
    FastOutputTokens,
}

impl Scope {
    /// Every scope, in index order.
    pub const ALL: [Self; 8] = [
        Self::Requests,
        Self::InputTokens,
        Self::OutputTokens,
        Self::Tokens,
        Self::PriorityInputTokens,
        Self::PriorityOutputTokens,
        Self::FastInputTokens,
        Self::FastOutputTokens,
    ];

    /// A stable index in `0..8`, the position in [`Scope::ALL`].
    pub const fn index(self) -> usize {
        match self {
            Self::Requests => 0,
            Self::InputTokens => 1,
            Self::OutputTokens => 2,
            Self::Tokens => 3,
            Self::PriorityInputTokens => 4,
            Self::PriorityOutputTokens => 5,
            Self::FastInputTokens => 6,
            Self::FastOutputTokens => 7,
        }
    }

    /// The bucket kind this scope meters.
    pub const fn kind(self) -> LimitKind {
        match self {
            Self::Requests => LimitKind::Requests,
            Self::InputTokens | Self::PriorityInputTokens | Self::FastInputTokens => {
                LimitKind::InputTokens
            }
            Self::OutputTokens | Self::PriorityOutputTokens | Self::FastOutputTokens => {
                LimitKind::OutputTokens
            }
            Self::Tokens => LimitKind::Tokens,
        }
    }

    /// The standard scope of a bucket kind.
    pub const fn of(kind: LimitKind) -> Self {
        match kind {
            LimitKind::Requests => Self::Requests,
            LimitKind::InputTokens => Self::InputTokens,
            LimitKind::OutputTokens => Self::OutputTokens,
            LimitKind::Tokens => Self::Tokens,
        }
    }

    /// The snake-case name used in JSON: `requests`, `input_tokens`, …,
    /// `priority_input_tokens`, `fast_output_tokens`.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Requests => "requests",
            Self::InputTokens => "input_tokens",
            Self::OutputTokens => "output_tokens",
            Self::Tokens => "tokens",
            Self::PriorityInputTokens => "priority_input_tokens",
            Self::PriorityOutputTokens => "priority_output_tokens",
            Self::FastInputTokens => "fast_input_tokens",
            Self::FastOutputTokens => "fast_output_tokens",
        }
    }
}

/// When a quota is next full (OpenAI, Anthropic) or next grows (IETF `t`), as the server said it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Reset {
    /// A delay from the moment the response was produced (Go-style durations, delay-seconds).
    After(Duration),
    /// An absolute wall-clock time (RFC 3339, as Anthropic sends it).
    At(UnixTime),
}

/// What a response said about one quota. Every field is optional: providers send subsets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Quota {
    /// Units per window (never zero: a zero limit is ignored and reported).
    pub limit: Option<u64>,
    /// Units left now (never above `limit` when both are present).
    pub remaining: Option<u64>,
    /// When the quota is next full (or, for IETF `t`, next grows).
    pub reset: Option<Reset>,
    /// The window the limit applies to, when the dialect says (IETF `w`); `None` means the
    /// provider's usual minute.
    pub window: Option<Duration>,
}

impl Quota {
    /// The reset as a delay from the response's `Date`. An absolute reset at or before `date`
    /// gives zero ("already full"); an absolute reset without a `Date` gives `None`.
    ///
    /// # Examples
    ///
    /// ```
    /// use headroom::headers::{Quota, Reset};
    /// use headroom::time::{self, Duration, UnixTime};
    ///
    /// let quota = Quota { reset: Some(Reset::At(UnixTime::from_secs(100))), ..Quota::default() };
    /// assert_eq!(quota.reset_in(Some(UnixTime::from_secs(99))), Some(time::secs(1)));
    /// assert_eq!(quota.reset_in(Some(UnixTime::from_secs(101))), Some(Duration::ZERO));
    /// assert_eq!(quota.reset_in(None), None);
    /// ```
    pub fn reset_in(&self, date: Option<UnixTime>) -> Option<Duration> {
        match self.reset? {
            Reset::After(delay) => Some(delay),
            Reset::At(at) => Some(at.saturating_duration_since(date?)),
        }
    }
}

/// `Retry-After` as sent: a delay in (possibly fractional) seconds, or an HTTP-date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum RetryAfter {
    /// `Retry-After: 20` or `Retry-After: 0.1`.
    Delay(Duration),
    /// `Retry-After: Fri, 29 Sep 2023 16:26:57 GMT`.
    At(UnixTime),
}

/// Why a header field was not used. A malformed field is skipped and reported; the rest of the
/// response still counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum HeaderError {
    /// The value was empty or only white space.
    Empty,
    /// The value is not valid UTF-8 where text was required.
    NotText,
    /// Not a number where one was required.
    NotANumber,
    /// More digits than a `u64` holds.
    NumberTooLarge,
    /// A negative number (other than the `-1` sentinel of [`HeaderError::Unlimited`]).
    Negative,
    /// Azure's `-1` sentinel on a vendor limit or remaining: the dimension is unlimited, so its
    /// quota is left out of the snapshot and every field of it (the reset too) is reported so.
    Unlimited,
    /// A limit of zero.
    ZeroLimit,
    /// `remaining` above `limit`.
    RemainingAboveLimit,
    /// Neither RFC 3339 nor an HTTP-date, or a date out of range.
    BadTimestamp,
    /// Not a Go-style duration (`6m0s`, `120ms`).
    BadDuration,
    /// Not `true` or `false`.
    BadBool,
    /// A structured field (IETF drafts) that does not parse, or lacks a required parameter.
    BadStructuredField,
    /// A valid field that a more specific one overrides (for example `retry-after` when
    /// `retry-after-ms` is present, or a looser IETF policy when a tighter one is kept).
    Superseded,
    /// The same field again with a different value; the first one is kept.
    Duplicate,
    /// A recognised rate-limit field that headroom does not model: OpenAI's
    /// `x-ratelimit-*-project-tokens` and `-tokens_usage_based`, Anthropic's
    /// `anthropic-ratelimit-unified-*`, an IETF policy whose quota unit is not requests.
    Unsupported,
    /// More IETF policies or limit items than the parser keeps (see [`crate::headers`]).
    TooMany,
    /// A rate-limit field of a dialect whose Cargo feature (`anthropic`, `openai`, `ietf`) is
    /// off in this build: recognised, not read.
    DialectDisabled,
}

impl core::fmt::Display for HeaderError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Self::Empty => "empty value",
            Self::NotText => "value is not text",
            Self::NotANumber => "not a number",
            Self::NumberTooLarge => "number too large",
            Self::Negative => "negative number",
            Self::Unlimited => "unlimited (-1 sentinel)",
            Self::ZeroLimit => "zero limit",
            Self::RemainingAboveLimit => "remaining above limit",
            Self::BadTimestamp => "bad timestamp",
            Self::BadDuration => "bad duration",
            Self::BadBool => "not true or false",
            Self::BadStructuredField => "bad structured field",
            Self::Superseded => "superseded by another field",
            Self::Duplicate => "duplicate field",
            Self::Unsupported => "unsupported quota",
            Self::TooMany => "too many items",
            Self::DialectDisabled => "dialect disabled in this build",
        })
    }
}

impl core::error::Error for HeaderError {}

/// A field that was present but not used, by its position in the input sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Ignored {
    /// Zero-based position of the `(name, value)` pair in the input.
    pub index: u16,
    /// Why it was not used.
    pub why: HeaderError,
}

/// Everything one response's headers said about rate limits and retrying.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Snapshot {
    /// The HTTP status, when the caller gave one.
    pub status: Option<u16>,
    /// The family of rate-limit fields used.
    pub dialect: Dialect,
    /// The response's `Date`: the server's clock when the snapshot was taken.
    pub date: Option<UnixTime>,
    /// `retry-after-ms` (the SDKs read it first).
    pub retry_after_ms: Option<Duration>,
    /// `Retry-After`.
    pub retry_after: Option<RetryAfter>,
    /// `retry-after-ms` as the SDKs' float parsers read it ([`Snapshot::server_value`]).
    pub sdk_retry_after_ms: SdkReadings,
    /// `Retry-After` as the SDKs' float parsers read it ([`Snapshot::server_value`]).
    pub sdk_retry_after: SdkReadings,
    /// `x-should-retry`: the server's own verdict, which overrides the status.
    pub should_retry: Option<bool>,
    /// Per [`Scope`], indexed by [`Scope::index`].
    pub quotas: [Option<Quota>; 8],
    /// Fields that were present but not used, in input order.
    pub ignored: heapless::Vec<Ignored, IGNORED_CAPACITY>,
    /// Ignored fields beyond [`IGNORED_CAPACITY`], counted so nothing is lost silently.
    pub ignored_dropped: u16,
}

impl Snapshot {
    /// What the response said about `scope`, if anything.
    pub fn quota(&self, scope: Scope) -> Option<&Quota> {
        self.quotas.get(scope.index())?.as_ref()
    }

    /// What the response said about the standard scope of a bucket kind.
    pub fn quota_of(&self, kind: LimitKind) -> Option<&Quota> {
        self.quota(Scope::of(kind))
    }

    /// The delay the server asked for, in the SDKs' order: `retry-after-ms` if present, else
    /// `Retry-After` (an HTTP-date is taken relative to `Date`; before `Date` gives zero; an
    /// HTTP-date without `Date` gives `None`).
    ///
    /// # Examples
    ///
    /// ```
    /// use headroom::headers::{RetryAfter, Snapshot};
    /// use headroom::time::{self, UnixTime};
    ///
    /// let mut snapshot = Snapshot::default();
    /// snapshot.date = Some(UnixTime::from_secs(1_000));
    /// snapshot.retry_after = Some(RetryAfter::At(UnixTime::from_secs(1_020)));
    /// assert_eq!(snapshot.server_delay(), Some(time::secs(20)));
    /// snapshot.retry_after_ms = Some(time::millis(10));
    /// assert_eq!(snapshot.server_delay(), Some(time::millis(10)));
    /// ```
    pub fn server_delay(&self) -> Option<Duration> {
        if let Some(ms) = self.retry_after_ms {
            return Some(ms);
        }
        match self.retry_after? {
            RetryAfter::Delay(delay) => Some(delay),
            RetryAfter::At(at) => Some(at.saturating_duration_since(self.date?)),
        }
    }

    /// Makes this snapshot equal to `Snapshot { status, ..Snapshot::default() }` by storing
    /// only what says "absent" (the tags of the options, the length of the list): some
    /// 30 stores instead of writing all of its bytes, for [`crate::headers::parse_into`].
    pub(super) fn clear(&mut self, status: Option<u16>) {
        // Every field is named, so that a new one cannot be forgotten here.
        let Self {
            status: kept_status,
            dialect,
            date,
            retry_after_ms,
            retry_after,
            sdk_retry_after_ms,
            sdk_retry_after,
            should_retry,
            quotas,
            ignored,
            ignored_dropped,
        } = self;
        *kept_status = status;
        *dialect = Dialect::None;
        *date = None;
        *retry_after_ms = None;
        *retry_after = None;
        *sdk_retry_after_ms = SdkReadings::default();
        *sdk_retry_after = SdkReadings::default();
        *should_retry = None;
        *quotas = [None; 8];
        ignored.clear();
        *ignored_dropped = 0;
    }

    /// Records that input field `index` was not used, and why.
    pub fn ignore(&mut self, index: usize, why: HeaderError) {
        let index = u16::try_from(index).unwrap_or(u16::MAX);
        if self.ignored.push(Ignored { index, why }).is_err() {
            self.ignored_dropped = self.ignored_dropped.saturating_add(1);
        }
    }
}
