//! Response classification: what a status, the headers and the error body mean for retrying.
//!
//! A 429 and a 529 look alike to a naive retry loop, but they call for different answers: a 429
//! means *your* quota is spent, and names (through the rate-limit headers) which limit was
//! binding, so the engine can wait until that bucket has room; a 529 means the provider is
//! overloaded for everyone, where only backoff and a retry budget help. A third kind of 429, the
//! spend cap (`enforced_spend_limit_reached`, OpenAI's `insufficient_quota`), never clears by
//! waiting and must not be retried at all. [`classify`] turns one response into a [`Verdict`]
//! that keeps these apart, and [`Verdict::outcome`] applies the official SDKs' retry rules
//! (`x-should-retry` first, then 408 / 409 / 429 / ≥ 500) on top.
//!
//! The error body is inspected with a small, bounded byte scan, not a JSON parser. It looks at
//! most at [`BODY_SCAN_LIMIT`] bytes, allocates nothing, and only needs three keys (`type`,
//! `code`, `error_code`) whose values are plain ASCII strings. serde-json-core would add a
//! dependency and a typed schema for bodies whose shape the provider says "will grow over time",
//! and it rejects a truncated body outright, while a scan still finds the `type` in the first
//! hundred bytes of a body cut off by a proxy or a size limit. Unknown `type`s are kept as data
//! ([`ErrorType::Unknown`]), never an error.

mod body;

use body::{BodyFacts, scan_body};

use crate::LimitKind;
use crate::headers::{Reading, Scope, SdkNumber, Snapshot};
use crate::time::Duration;

/// Why a request is not retried. Each is final for that request.
///
/// # Examples
///
/// ```
/// use headroom::classify::GiveUp;
///
/// assert_eq!(GiveUp::AttemptsExhausted.to_string(), "attempts exhausted");
/// assert_eq!(GiveUp::Fatal { status: 401 }.to_string(), "fatal status");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum GiveUp {
    /// The schedule's retry limit was reached.
    AttemptsExhausted,
    /// The server asked for a delay above the policy's ceiling, and the policy gives up then.
    ServerDelayTooLong,
    /// The retry budget is drained: retrying now would feed a storm.
    BudgetExhausted,
    /// The retry would start at or after the caller's deadline.
    DeadlineExceeded,
    /// The account's spend cap is reached; waiting will not help.
    SpendCap,
    /// A status that is not retried (400, 401, 403, 404, 413, …).
    Fatal {
        /// The HTTP status.
        status: u16,
    },
    /// The server said `x-should-retry: false`.
    ServerSaidNo,
}

impl core::fmt::Display for GiveUp {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Self::AttemptsExhausted => "attempts exhausted",
            Self::ServerDelayTooLong => "server delay above ceiling",
            Self::BudgetExhausted => "retry budget exhausted",
            Self::DeadlineExceeded => "deadline would be crossed",
            Self::SpendCap => "spend cap reached",
            Self::Fatal { .. } => "fatal status",
            Self::ServerSaidNo => "server said not to retry",
        })
    }
}

impl core::error::Error for GiveUp {}

/// How many bytes of an error body [`classify`] looks at. Real error bodies are a few hundred
/// bytes; the bound keeps the cost fixed whatever the caller passes.
pub const BODY_SCAN_LIMIT: usize = 4096;

/// What kind of response this was, for the purpose of retrying.
///
/// # Examples
///
/// ```
/// use headroom::classify::Class;
///
/// assert!(Class::Overloaded.is_throttling());
/// assert!(!Class::Transient { status: Some(503) }.is_throttling());
/// assert_eq!(Class::SpendCap.name(), "spend-cap");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Class {
    /// 2xx.
    Success,
    /// 429: one of your quotas is spent. `scope` is the binding one as far as the headers tell:
    /// a quota with nothing remaining, else the lowest `remaining/limit` ratio; `None` when the
    /// response carried no usable rate-limit fields.
    RateLimited {
        /// The binding quota, if the headers name one.
        scope: Option<Scope>,
    },
    /// 529 `overloaded_error`: the provider is short of capacity for everyone; not your quota.
    Overloaded,
    /// 408, 409, any other status ≥ 500, or a transport error (`status: None`).
    Transient {
        /// The HTTP status; `None` for a connection error or timeout.
        status: Option<u16>,
    },
    /// A 429 that waiting does not cure: Anthropic's `enforced_spend_limit_reached`, OpenAI's
    /// `insufficient_quota`. Never retried.
    SpendCap,
    /// Any other status: 4xx such as 400 (including "You have reached your specified API usage
    /// limits"), 401, 403, 404, 413, and 1xx/3xx, which a client is not expected to hand over.
    Fatal {
        /// The HTTP status.
        status: u16,
    },
}

impl Class {
    /// Whether this is throttling (429 or 529) rather than some other failure. The AWS retry
    /// quota charges throttling retries less, and AWS backoff scales them from 1 s, not 50 ms.
    pub const fn is_throttling(self) -> bool {
        matches!(self, Self::RateLimited { .. } | Self::Overloaded)
    }

    /// The bucket kind of the binding quota of a 429, if known.
    ///
    /// # Examples
    ///
    /// ```
    /// use headroom::LimitKind;
    /// use headroom::classify::Class;
    /// use headroom::headers::Scope;
    ///
    /// let class = Class::RateLimited { scope: Some(Scope::PriorityInputTokens) };
    /// assert_eq!(class.binding_kind(), Some(LimitKind::InputTokens));
    /// assert_eq!(Class::Overloaded.binding_kind(), None);
    /// ```
    pub const fn binding_kind(self) -> Option<LimitKind> {
        match self {
            Self::RateLimited { scope: Some(scope) } => Some(scope.kind()),
            _ => None,
        }
    }

    /// A short lowercase name for logs and JSON: `success`, `rate-limited`, `overloaded`,
    /// `transient`, `spend-cap`, `fatal`.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::RateLimited { .. } => "rate-limited",
            Self::Overloaded => "overloaded",
            Self::Transient { .. } => "transient",
            Self::SpendCap => "spend-cap",
            Self::Fatal { .. } => "fatal",
        }
    }
}

/// Where a value sits in the body that was scanned, so the caller, who still has the bytes, can
/// show it.
///
/// # Examples
///
/// ```
/// use headroom::classify::Span;
///
/// let span = Span { start: 1, len: 3 };
/// assert_eq!(span.of(b"xabcx"), Some(&b"abc"[..]));
/// assert_eq!(span.of(b"xa"), None);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Span {
    /// Offset of the first byte.
    pub start: u32,
    /// Length in bytes.
    pub len: u32,
}

impl Span {
    /// The bytes this span covers in `body`, or `None` if `body` is too short.
    pub fn of(self, body: &[u8]) -> Option<&[u8]> {
        let start = usize::try_from(self.start).ok()?;
        let end = start.checked_add(usize::try_from(self.len).ok()?)?;
        body.get(start..end)
    }

    fn new(start: usize, end: usize) -> Self {
        Self {
            start: u32::try_from(start).unwrap_or(u32::MAX),
            len: u32::try_from(end.saturating_sub(start)).unwrap_or(0),
        }
    }
}

/// The error body's `error.type`, as Anthropic documents them, plus OpenAI's
/// `insufficient_quota`. The list "will grow over time" (Anthropic's docs), so any other value is
/// kept as [`ErrorType::Unknown`].
///
/// # Examples
///
/// ```
/// use headroom::classify::ErrorType;
///
/// assert_eq!(ErrorType::from_bytes(b"overloaded_error", 0), ErrorType::Overloaded);
/// assert_eq!(ErrorType::Overloaded.name(), Some("overloaded_error"));
/// let new = ErrorType::from_bytes(b"quantum_error", 7);
/// assert!(matches!(new, ErrorType::Unknown(span) if span.start == 7 && span.len == 13));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum ErrorType {
    /// `invalid_request_error` (400).
    InvalidRequest,
    /// `authentication_error` (401).
    Authentication,
    /// `permission_error` (403).
    Permission,
    /// `not_found_error` (404).
    NotFound,
    /// `request_too_large` (413).
    RequestTooLarge,
    /// `rate_limit_error` (429).
    RateLimit,
    /// `api_error` (500).
    Api,
    /// `overloaded_error` (529).
    Overloaded,
    /// OpenAI's `insufficient_quota` (429): the account is out of credit.
    InsufficientQuota,
    /// Any other value, by its position in the body.
    Unknown(Span),
}

impl ErrorType {
    /// The type named by `value`, which was found at offset `start` of the body.
    pub fn from_bytes(value: &[u8], start: usize) -> Self {
        match value {
            b"invalid_request_error" => Self::InvalidRequest,
            b"authentication_error" => Self::Authentication,
            b"permission_error" => Self::Permission,
            b"not_found_error" => Self::NotFound,
            b"request_too_large" => Self::RequestTooLarge,
            b"rate_limit_error" => Self::RateLimit,
            b"api_error" => Self::Api,
            b"overloaded_error" => Self::Overloaded,
            b"insufficient_quota" => Self::InsufficientQuota,
            _ => Self::Unknown(Span::new(start, start.saturating_add(value.len()))),
        }
    }

    /// The wire name, or `None` for [`ErrorType::Unknown`].
    pub const fn name(self) -> Option<&'static str> {
        Some(match self {
            Self::InvalidRequest => "invalid_request_error",
            Self::Authentication => "authentication_error",
            Self::Permission => "permission_error",
            Self::NotFound => "not_found_error",
            Self::RequestTooLarge => "request_too_large",
            Self::RateLimit => "rate_limit_error",
            Self::Api => "api_error",
            Self::Overloaded => "overloaded_error",
            Self::InsufficientQuota => "insufficient_quota",
            Self::Unknown(_) => return None,
        })
    }
}

/// What happens to a request after a response: the one vocabulary of done / retry / give up.
///
/// Each layer answers with the same three cases and fills in what it knows about a retry:
///
/// * [`Verdict::outcome`] says *whether* to retry: `Outcome<Class>`, the class that is retried
///   (throttling or not matters to the retry budget);
/// * the retry schedule (`Backoff::decide`, a layer above this one) says *when*: `Outcome<Instant>`;
/// * the policy's `complete` says when and *what*: an `Outcome` whose retry carries the lane,
///   cost, priority and attempt for the next acquire.
///
/// # Examples
///
/// ```
/// use headroom::classify::{Class, GiveUp, Outcome};
///
/// let retried: Outcome<Class> = Outcome::Retry(Class::Overloaded);
/// assert_eq!(retried.map(Class::is_throttling), Outcome::Retry(true));
/// assert!(Outcome::<Class>::Done.is_done());
/// assert_eq!(Outcome::<Class>::GiveUp(GiveUp::SpendCap).give_up(), Some(GiveUp::SpendCap));
/// ```
#[must_use = "a retry or a give-up must be acted on"]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Outcome<R> {
    /// The request succeeded.
    Done,
    /// Retry; what the layer knows about the retry.
    Retry(R),
    /// Do not retry, for this reason.
    GiveUp(GiveUp),
}

impl<R> Outcome<R> {
    /// The same outcome with the retry's data mapped by `f`.
    ///
    /// # Examples
    ///
    /// ```
    /// use headroom::classify::Outcome;
    ///
    /// assert_eq!(Outcome::Retry(2).map(|n| n * 10), Outcome::Retry(20));
    /// ```
    pub fn map<S>(self, f: impl FnOnce(R) -> S) -> Outcome<S> {
        match self {
            Self::Done => Outcome::Done,
            Self::Retry(retry) => Outcome::Retry(f(retry)),
            Self::GiveUp(why) => Outcome::GiveUp(why),
        }
    }

    /// Whether the request succeeded.
    ///
    /// # Examples
    ///
    /// ```
    /// use headroom::classify::Outcome;
    ///
    /// assert!(Outcome::<()>::Done.is_done());
    /// assert!(!Outcome::Retry(()).is_done());
    /// ```
    pub const fn is_done(&self) -> bool {
        matches!(self, Self::Done)
    }

    /// The retry's data, when the answer is to retry.
    ///
    /// # Examples
    ///
    /// ```
    /// use headroom::classify::Outcome;
    ///
    /// assert_eq!(Outcome::Retry(7).retry(), Some(7));
    /// assert_eq!(Outcome::<u8>::Done.retry(), None);
    /// ```
    pub fn retry(self) -> Option<R> {
        match self {
            Self::Retry(retry) => Some(retry),
            Self::Done | Self::GiveUp(_) => None,
        }
    }

    /// Why the request is given up, when it is.
    ///
    /// # Examples
    ///
    /// ```
    /// use headroom::classify::{GiveUp, Outcome};
    ///
    /// assert_eq!(Outcome::<()>::GiveUp(GiveUp::ServerSaidNo).give_up(), Some(GiveUp::ServerSaidNo));
    /// ```
    pub const fn give_up(&self) -> Option<GiveUp> {
        match self {
            Self::GiveUp(why) => Some(*why),
            Self::Done | Self::Retry(_) => None,
        }
    }
}

/// One response, classified: the [`Class`], the error body's type, and the server's retry hints.
///
/// # Examples
///
/// ```
/// use headroom::classify::{Class, Outcome, classify};
/// use headroom::headers::Snapshot;
///
/// let body = br#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#;
/// let verdict = classify(529, &Snapshot::default(), Some(body));
/// assert_eq!(verdict.class(), Class::Overloaded);
/// assert_eq!(verdict.outcome(), Outcome::Retry(Class::Overloaded));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Verdict {
    class: Class,
    error_type: Option<ErrorType>,
    should_retry: Option<bool>,
    server_delay: Option<Duration>,
    /// The server's delay under [`Reading::Python`] and [`Reading::JavaScript`].
    sdk_values: [Option<SdkNumber>; 2],
    informed_delay: Option<Duration>,
}

impl Verdict {
    /// A connection error or timeout: no response at all. Retried, as the SDKs do.
    ///
    /// # Examples
    ///
    /// ```
    /// use headroom::classify::{Class, Outcome, Verdict};
    ///
    /// assert_eq!(Verdict::transport().class(), Class::Transient { status: None });
    /// assert_eq!(Verdict::transport().outcome(), Outcome::Retry(Class::Transient { status: None }));
    /// ```
    pub const fn transport() -> Self {
        Self {
            class: Class::Transient { status: None },
            error_type: None,
            should_retry: None,
            server_delay: None,
            sdk_values: [None; 2],
            informed_delay: None,
        }
    }

    /// A 2xx's verdict for a caller that reads only its class and outcome: a success is done
    /// whatever its headers say, so the server's delays and `x-should-retry` are left unread
    /// (what [`classify`] reports of them, this leaves empty).
    pub(crate) const fn success() -> Self {
        Self {
            class: Class::Success,
            error_type: None,
            should_retry: None,
            server_delay: None,
            sdk_values: [None; 2],
            informed_delay: None,
        }
    }

    /// The class.
    pub const fn class(&self) -> Class {
        self.class
    }

    /// The error body's `error.type` (or OpenAI's `error.type`), when a body was given and had one.
    pub const fn error_type(&self) -> Option<ErrorType> {
        self.error_type
    }

    /// `x-should-retry`, when the response had it.
    pub const fn server_override(&self) -> Option<bool> {
        self.should_retry
    }

    /// The delay the server asked for (`retry-after-ms`, else `Retry-After`), before any range
    /// check; see [`Snapshot::server_delay`].
    pub const fn server_delay(&self) -> Option<Duration> {
        self.server_delay
    }

    /// The delay the server asked for as `reading` reads the retry fields, before any range
    /// check; see [`Snapshot::server_value`]. Under [`Reading::Strict`] it is
    /// [`Verdict::server_delay`].
    ///
    /// # Examples
    ///
    /// ```
    /// use headroom::classify::classify;
    /// use headroom::headers::{self, Reading, SdkNumber};
    ///
    /// let snapshot = headers::parse(Some(429), [("retry-after", "20abc")]);
    /// let verdict = classify(429, &snapshot, None);
    /// assert_eq!(verdict.server_value(Reading::Strict), None);
    /// assert_eq!(verdict.server_value(Reading::Python), None);
    /// assert_eq!(verdict.server_value(Reading::JavaScript), Some(SdkNumber::from_micros(20_000_000)));
    /// ```
    pub fn server_value(&self, reading: Reading) -> Option<SdkNumber> {
        let [python, javascript] = self.sdk_values;
        match reading {
            Reading::Strict => self
                .server_delay
                .map(|delay| SdkNumber::from_micros(delay.as_ticks())),
            Reading::Python => python,
            Reading::JavaScript => javascript,
        }
    }

    /// The same verdict with an informed delay: how long the cause takes to clear, when the
    /// caller knows (a 429 whose headers say when the binding bucket has room for this request
    /// again). The retry schedule (`Backoff::decide`) then waits that long instead
    /// of a blind exponential backoff; the server's delay, the attempt limit, the deadline and
    /// the budget still apply.
    ///
    /// # Examples
    ///
    /// ```
    /// use headroom::classify::classify;
    /// use headroom::headers::Snapshot;
    /// use headroom::time;
    ///
    /// let verdict = classify(429, &Snapshot::default(), None).with_informed_delay(time::millis(2_400));
    /// assert_eq!(verdict.informed_delay(), Some(time::millis(2_400)));
    /// ```
    pub const fn with_informed_delay(mut self, delay: Duration) -> Self {
        self.informed_delay = Some(delay);
        self
    }

    /// The informed delay, if one was given ([`Verdict::with_informed_delay`]).
    pub const fn informed_delay(&self) -> Option<Duration> {
        self.informed_delay
    }

    /// Whether to retry, by the SDKs' rules: a spend cap never; then `x-should-retry` if present,
    /// either way; then 408, 409, 429, ≥ 500 and transport errors yes; anything else no.
    ///
    /// The spend-cap exception is ours: the SDKs would obey `x-should-retry: true` there, but the
    /// docs say retrying "fails until access resumes", which is not a matter of seconds.
    ///
    /// # Examples
    ///
    /// ```
    /// use headroom::classify::GiveUp;
    /// use headroom::classify::{Outcome, classify};
    /// use headroom::headers::Snapshot;
    ///
    /// let mut snapshot = Snapshot::default();
    /// assert_eq!(classify(401, &snapshot, None).outcome(), Outcome::GiveUp(GiveUp::Fatal { status: 401 }));
    /// snapshot.should_retry = Some(false);
    /// assert_eq!(classify(503, &snapshot, None).outcome(), Outcome::GiveUp(GiveUp::ServerSaidNo));
    /// ```
    pub const fn outcome(&self) -> Outcome<Class> {
        match (self.class, self.should_retry) {
            (Class::Success, _) => Outcome::Done,
            (Class::SpendCap, _) => Outcome::GiveUp(GiveUp::SpendCap),
            (_, Some(false)) => Outcome::GiveUp(GiveUp::ServerSaidNo),
            (_, Some(true)) => Outcome::Retry(self.class),
            (Class::Fatal { status }, None) => Outcome::GiveUp(GiveUp::Fatal { status }),
            (_, None) => Outcome::Retry(self.class),
        }
    }
}

/// Classifies one response from its `status`, its parsed headers and, optionally, the first
/// bytes of its body (only read for statuses that are not 2xx).
///
/// Rules, in order: 2xx success; 429 with a spend-cap marker (`"enforced_spend_limit_reached"`
/// or `"insufficient_quota"` as the value of `type`, `code` or `error_code`) spend cap; other 429
/// rate-limited, with the binding scope from `snapshot`; 529 overloaded; 408, 409 and every other
/// status ≥ 500 transient; everything else fatal. `x-should-retry` does not change the class; it
/// is applied by [`Verdict::outcome`].
///
/// # Examples
///
/// ```
/// use headroom::classify::{Class, classify};
/// use headroom::headers::{Quota, Scope, Snapshot};
///
/// let mut snapshot = Snapshot::default();
/// snapshot.quotas[Scope::Requests.index()] = Some(Quota { limit: Some(50), remaining: Some(3), ..Quota::default() });
/// snapshot.quotas[Scope::OutputTokens.index()] = Some(Quota { limit: Some(8_000), remaining: Some(0), ..Quota::default() });
/// let verdict = classify(429, &snapshot, None);
/// assert_eq!(verdict.class(), Class::RateLimited { scope: Some(Scope::OutputTokens) });
///
/// let spend = br#"{"type":"error","error":{"type":"rate_limit_error","details":{"error_code":"enforced_spend_limit_reached"}}}"#;
/// assert_eq!(classify(429, &snapshot, Some(spend)).class(), Class::SpendCap);
/// ```
pub fn classify(status: u16, snapshot: &Snapshot, body: Option<&[u8]>) -> Verdict {
    let scan = match body {
        Some(body) if !(200..300).contains(&status) => scan_body(body),
        _ => BodyFacts::default(),
    };
    let class = match status {
        200..=299 => Class::Success,
        429 if scan.spend_cap => Class::SpendCap,
        429 => Class::RateLimited {
            scope: binding_scope(snapshot),
        },
        529 => Class::Overloaded,
        408 | 409 | 500.. => Class::Transient {
            status: Some(status),
        },
        _ => Class::Fatal { status },
    };
    Verdict {
        class,
        error_type: scan.error_type,
        should_retry: snapshot.should_retry,
        server_delay: snapshot.server_delay(),
        sdk_values: [
            snapshot.server_value(Reading::Python),
            snapshot.server_value(Reading::JavaScript),
        ],
        informed_delay: None,
    }
}

/// The quota that bound a 429: the lowest `remaining/limit` ratio (a quota with `remaining: 0`
/// counts as ratio 0 even without a `limit`); on a tie, the one that resets last; on a further
/// tie, the first in [`Scope::ALL`] order.
fn binding_scope(snapshot: &Snapshot) -> Option<Scope> {
    // (scope, remaining, limit, reset): ratio remaining/limit, limit 1 when only remaining 0 is known.
    let mut best: Option<(Scope, u64, u64, Option<Duration>)> = None;
    for scope in Scope::ALL {
        let Some(quota) = snapshot.quota(scope) else {
            continue;
        };
        let (remaining, limit) = match (quota.remaining, quota.limit) {
            (Some(remaining), Some(limit)) if limit > 0 => (remaining, limit),
            (Some(0), _) => (0, 1),
            _ => continue,
        };
        let reset = quota.reset_in(snapshot.date);
        let better = match best {
            None => true,
            Some((_, best_remaining, best_limit, best_reset)) => {
                let ours = u128::from(remaining).saturating_mul(u128::from(best_limit));
                let theirs = u128::from(best_remaining).saturating_mul(u128::from(limit));
                ours < theirs || (ours == theirs && reset > best_reset)
            }
        };
        if better {
            best = Some((scope, remaining, limit, reset));
        }
    }
    best.map(|(scope, ..)| scope)
}

#[cfg(test)]
mod tests;
