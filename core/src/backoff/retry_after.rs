//! How the server's own delay (`retry-after-ms`, `Retry-After`) enters the schedule.
//!
//! The server knows when capacity returns; the client only guesses. But a server value can also
//! be absurd (hours, or a date in the past), and clients disagree on what to do with it: the
//! Anthropic Python SDK trusts `0 < d ≤ 60 s` and otherwise backs off, openai-python trusts up
//! to 120 s and refuses to retry above, the TypeScript SDK now obeys anything. [`RetryAfterPolicy`]
//! makes each of those a configuration, so the presets reproduce them and headroom's own
//! default can treat the value as a floor under its backoff.
//!
//! The SDKs also *read* the fields differently ([`Reading`]): a value headroom's parser refuses
//! (`-10`, `inf`, `20abc`) can be a number to an SDK, and which field it then obeys follows from
//! that. The policy names its reading, so a preset sees exactly the number its SDK sees, sign,
//! NaN and infinities included ([`SdkNumber`]).

use crate::headers::{Reading, SdkNumber};
use crate::time::{self, Duration};

/// What to do when the server's delay is above [`RetryAfterPolicy::ceiling`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum AboveCeiling {
    /// Wait the server's delay anyway.
    WaitAnyway,
    /// Ignore it and use the backoff delay (anthropic-python; openai-python's delay computation).
    Backoff,
    /// Do not retry at all (openai-python's retry decision above 120 s).
    GiveUp,
    /// Retry at once (a JavaScript timer above [`NODE_TIMEOUT_MAX`] overflows and fires at once).
    AtOnce,
}

/// What to do with a server value that is not usable as a delay: zero (unless
/// [`RetryAfterPolicy::accept_zero`]), negative, NaN or infinite.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Unusable {
    /// Use the backoff delay (the Python SDKs).
    Backoff,
    /// Retry at once (the TypeScript SDK sleeps the value; a JavaScript timer fires at once for
    /// it).
    AtOnce,
}

/// The largest delay a JavaScript timer takes, 2³¹ − 1 ms. Above it, for NaN and below zero the
/// timer fires at once: Node.js after 1 ms
/// (<https://nodejs.org/api/timers.html#settimeoutcallback-delay-args>), browsers after 0 ms
/// (<https://developer.mozilla.org/en-US/docs/Web/API/Window/setTimeout#maximum_delay_value>).
pub const NODE_TIMEOUT_MAX: Duration = time::millis(2_147_483_647);

/// How the server's delay (`retry-after-ms`, else `Retry-After`) is read and used.
///
/// The value is read under `reading`. It is *accepted* when it is above zero (or at least zero,
/// with `accept_zero`) and at most `ceiling`. An accepted value replaces the backoff delay (the
/// SDKs) or, with `floor`, is a floor under it. A finite value above the range is handled by
/// `above_ceiling`; anything else (zero when not accepted, negative, NaN, infinite) by
/// `unusable`. No value at all means the backoff.
///
/// # Examples
///
/// ```
/// use headroom::backoff::{AboveCeiling, RetryAfterPolicy};
/// use headroom::time;
///
/// let policy = RetryAfterPolicy::between_zero_and(time::secs(60), AboveCeiling::Backoff);
/// assert!(!policy.accepts(time::secs(0)));
/// assert!(policy.accepts(time::secs(60)));
/// assert!(!policy.accepts(time::secs(61)));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct RetryAfterPolicy {
    /// Whose rules read the retry fields.
    pub reading: Reading,
    /// Whether a delay of exactly zero is accepted (the lower bound is inclusive).
    pub accept_zero: bool,
    /// The largest accepted delay, inclusive.
    pub ceiling: Duration,
    /// What happens to a finite value above `ceiling`.
    pub above_ceiling: AboveCeiling,
    /// What happens to zero (without `accept_zero`), negative, NaN and infinite values.
    pub unusable: Unusable,
    /// `true`: wait `max(server delay, backoff delay)`; `false`: wait the server delay instead.
    pub floor: bool,
}

/// What the policy made of one server delay.
pub(super) enum Judged {
    Use(u64),
    Ignore,
    GiveUp,
}

impl RetryAfterPolicy {
    /// Server delays are ignored: every value counts as out of range and the backoff is used.
    pub const IGNORED: Self = Self {
        reading: Reading::Strict,
        accept_zero: false,
        ceiling: Duration::from_ticks(0),
        above_ceiling: AboveCeiling::Backoff,
        unusable: Unusable::Backoff,
        floor: false,
    };

    /// The SDKs' range `0 < d ≤ ceiling`, the server value replacing the backoff, anything
    /// unusable falling back to it; read strictly (see [`RetryAfterPolicy::with_reading`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use headroom::backoff::{AboveCeiling, RetryAfterPolicy, Unusable};
    /// use headroom::time;
    ///
    /// let policy = RetryAfterPolicy::between_zero_and(time::secs(120), AboveCeiling::GiveUp);
    /// assert_eq!(policy.unusable, Unusable::Backoff);
    /// ```
    pub const fn between_zero_and(ceiling: Duration, above_ceiling: AboveCeiling) -> Self {
        Self {
            reading: Reading::Strict,
            accept_zero: false,
            ceiling,
            above_ceiling,
            unusable: Unusable::Backoff,
            floor: false,
        }
    }

    /// The same policy reading the retry fields under `reading`.
    ///
    /// # Examples
    ///
    /// ```
    /// use headroom::backoff::RetryAfterPolicy;
    /// use headroom::headers::Reading;
    ///
    /// assert_eq!(RetryAfterPolicy::IGNORED.with_reading(Reading::Python).reading, Reading::Python);
    /// ```
    pub const fn with_reading(mut self, reading: Reading) -> Self {
        self.reading = reading;
        self
    }

    /// Whether `delay` is within the accepted range.
    ///
    /// # Examples
    ///
    /// ```
    /// use headroom::backoff::Backoff;
    /// use headroom::time;
    ///
    /// assert!(Backoff::default().retry_after.accepts(time::secs(0)));
    /// ```
    pub const fn accepts(&self, delay: Duration) -> bool {
        let ticks = delay.as_ticks();
        (ticks > 0 || self.accept_zero) && ticks <= self.ceiling.as_ticks()
    }

    pub(super) fn judge(&self, value: SdkNumber) -> Judged {
        let micros = match value {
            SdkNumber::Finite {
                negative: false,
                micros,
            }
            | SdkNumber::Finite {
                micros: micros @ 0, ..
            } => micros,
            _ => return self.unusable(),
        };
        if self.accepts(Duration::from_ticks(micros)) {
            Judged::Use(micros)
        } else if micros <= self.ceiling.as_ticks() {
            self.unusable()
        } else {
            match self.above_ceiling {
                AboveCeiling::WaitAnyway => Judged::Use(micros),
                AboveCeiling::Backoff => Judged::Ignore,
                AboveCeiling::GiveUp => Judged::GiveUp,
                AboveCeiling::AtOnce => Judged::Use(0),
            }
        }
    }

    const fn unusable(&self) -> Judged {
        match self.unusable {
            Unusable::Backoff => Judged::Ignore,
            Unusable::AtOnce => Judged::Use(0),
        }
    }
}
