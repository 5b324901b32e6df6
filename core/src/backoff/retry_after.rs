//! How the server's own delay (`retry-after-ms`, `Retry-After`) enters the schedule.
//!
//! The server knows when capacity returns; the client only guesses. But a server value can also
//! be absurd (hours, or a date in the past), and clients disagree on what to do with it: the
//! Anthropic Python SDK trusts `0 < d ≤ 60 s` and otherwise backs off, openai-python trusts up
//! to 120 s and refuses to retry above, the TypeScript SDK now obeys anything. [`RetryAfterPolicy`]
//! makes each of those a configuration, so the presets reproduce them and headroom's own
//! default can treat the value as a floor under its backoff.

use crate::time::Duration;

/// What to do when the server's delay is above [`RetryAfterPolicy::ceiling`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum AboveCeiling {
    /// Wait the server's delay anyway (anthropic-typescript since 2026-03).
    WaitAnyway,
    /// Ignore it and use the backoff delay (anthropic-python; openai-python's delay computation).
    Backoff,
    /// Do not retry at all (openai-python's retry decision above 120 s).
    GiveUp,
}

/// How the server's delay (`retry-after-ms`, else `Retry-After`) is used.
///
/// A value is *accepted* when it is above zero (or at least zero, with `accept_zero`) and at most
/// `ceiling`. An accepted value replaces the backoff delay (the SDKs) or, with `floor`, is a floor
/// under it. A value below the range falls back to the backoff; a value above it is handled by
/// `above_ceiling`. Values the parser could not read (`"-10"`, `"inf"`, garbage) never get here.
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
    /// Whether a delay of exactly zero is accepted (the lower bound is inclusive).
    pub accept_zero: bool,
    /// The largest accepted delay, inclusive.
    pub ceiling: Duration,
    /// What happens above `ceiling`.
    pub above_ceiling: AboveCeiling,
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
        accept_zero: false,
        ceiling: Duration::from_ticks(0),
        above_ceiling: AboveCeiling::Backoff,
        floor: false,
    };

    /// The SDKs' range `0 < d ≤ ceiling`, the server value replacing the backoff.
    pub const fn between_zero_and(ceiling: Duration, above_ceiling: AboveCeiling) -> Self {
        Self {
            accept_zero: false,
            ceiling,
            above_ceiling,
            floor: false,
        }
    }

    /// Whether `delay` is within the accepted range.
    pub const fn accepts(&self, delay: Duration) -> bool {
        let ticks = delay.as_ticks();
        (ticks > 0 || self.accept_zero) && ticks <= self.ceiling.as_ticks()
    }

    pub(super) fn judge(&self, delay: Duration) -> Judged {
        if self.accepts(delay) {
            Judged::Use(delay.as_ticks())
        } else if delay.as_ticks() <= self.ceiling.as_ticks() {
            Judged::Ignore
        } else {
            match self.above_ceiling {
                AboveCeiling::WaitAnyway => Judged::Use(delay.as_ticks()),
                AboveCeiling::Backoff => Judged::Ignore,
                AboveCeiling::GiveUp => Judged::GiveUp,
            }
        }
    }
}
