//! What a limit is: a kind (requests, input tokens, …) and a rate (an amount per window).
//!
//! Providers throttle several quantities at once. Anthropic meters requests, input tokens and
//! output tokens per minute, each as a continuously refilled token bucket; OpenAI-style APIs meter
//! requests and combined tokens; the IETF `RateLimit` fields name arbitrary windows. A [`Limit`]
//! describes one such bucket as data, so tier tables stay configuration and are never compiled in.
//!
//! Rates are built from `NonZeroU32` through `const fn` constructors, so a zero rate cannot be
//! written: [`nz!`](crate::nz) turns a literal into a `NonZeroU32` and refuses zero at compile
//! time (`Limit::per_minute(nz!(50))`), so no caller writes `NonZeroU32::new(n).unwrap()`. Limits
//! read at run time (from headers, from a config file) go through [`Limit::new_checked`].

use core::num::NonZeroU32;

/// A `NonZeroU32` from a constant, checked at compile time: `nz!(0)` does not compile.
///
/// For limits written in code, as governor's `nonzero!`. Values known only at run time go
/// through `NonZeroU32::new` or [`Limit::new_checked`], which return an error for zero.
///
/// # Examples
///
/// ```
/// use headroom::{Limit, nz};
///
/// let rpm = Limit::per_minute(nz!(50));
/// assert_eq!(rpm.amount(), 50);
/// const ITPM: Limit = Limit::per_minute(nz!(30_000));
/// assert_eq!(ITPM.amount(), 30_000);
/// ```
///
/// ```compile_fail
/// let zero = headroom::nz!(0); // error: evaluation of constant value failed
/// ```
#[macro_export]
macro_rules! nz {
    ($n:expr) => {
        const {
            match ::core::num::NonZeroU32::new($n) {
                ::core::option::Option::Some(n) => n,
                ::core::option::Option::None => {
                    ::core::panic!("nz!: a limit cannot be zero")
                }
            }
        }
    };
}

use crate::time::Duration;

/// The quantity a limit meters.
///
/// # Examples
///
/// ```
/// use headroom::LimitKind;
///
/// assert_eq!(LimitKind::InputTokens.name(), "input_tokens");
/// assert_eq!(LimitKind::ALL.len(), 4);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum LimitKind {
    /// Requests (RPM).
    Requests,
    /// Input (prompt) tokens (ITPM).
    InputTokens,
    /// Output (completion) tokens (OTPM).
    OutputTokens,
    /// Input plus output tokens in one bucket (OpenAI TPM, Anthropic's combined `tokens`).
    Tokens,
}

impl LimitKind {
    /// Every kind, in index order.
    pub const ALL: [Self; 4] = [
        Self::Requests,
        Self::InputTokens,
        Self::OutputTokens,
        Self::Tokens,
    ];

    /// A stable index in `0..4`, the position in [`LimitKind::ALL`].
    pub const fn index(self) -> usize {
        match self {
            Self::Requests => 0,
            Self::InputTokens => 1,
            Self::OutputTokens => 2,
            Self::Tokens => 3,
        }
    }

    /// The snake-case name used in JSON and tables: `requests`, `input_tokens`, `output_tokens`,
    /// `tokens`.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Requests => "requests",
            Self::InputTokens => "input_tokens",
            Self::OutputTokens => "output_tokens",
            Self::Tokens => "tokens",
        }
    }
}

impl core::fmt::Display for LimitKind {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a limit could not be built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum ConfigError {
    /// The amount per window was zero.
    ZeroAmount,
    /// The amount per window does not fit in a `u32`.
    AmountTooLarge,
    /// The window was shorter than one millisecond.
    WindowTooShort,
    /// The window was longer than `u32::MAX` milliseconds (about 49 days).
    WindowTooLong,
}

impl core::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Self::ZeroAmount => "limit amount is zero",
            Self::AmountTooLarge => "limit amount too large",
            Self::WindowTooShort => "limit window shorter than 1 ms",
            Self::WindowTooLong => "limit window longer than u32::MAX ms",
        })
    }
}

impl core::error::Error for ConfigError {}

/// One rate: `amount` units per `window`, refilled continuously, with a burst tolerance.
///
/// The burst is the largest cost that may be admitted at once, and so also the largest single
/// request the bucket will ever accept. When it is not set, the bucket picks a default by kind
/// (see [`Limit::burst_for`]):
///
/// * requests: one second's worth of the window, at least 1. Providers enforce per-minute limits
///   over shorter intervals ("60 RPM may be enforced as 1 request per second"), so pacing
///   requests evenly is what keeps the 429 away.
/// * tokens: the whole amount. A single request may legitimately use most of a minute's tokens
///   and the provider accepts it; a smaller burst would reject work the provider would do.
///
/// # Examples
///
/// ```
/// use headroom::{Limit, LimitKind, nz};
///
/// let rpm = Limit::per_minute(nz!(50));
/// assert_eq!(rpm.burst_for(LimitKind::Requests), 1);
/// let itpm = Limit::per_minute(nz!(30_000));
/// assert_eq!(itpm.burst_for(LimitKind::InputTokens), 30_000);
/// let paced = itpm.with_burst(nz!(5_000));
/// assert_eq!(paced.burst_for(LimitKind::InputTokens), 5_000);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Limit {
    amount: NonZeroU32,
    window_ms: NonZeroU32,
    burst: Option<NonZeroU32>,
}

const ONE: NonZeroU32 = NonZeroU32::MIN;
const MINUTE_MS: NonZeroU32 = match NonZeroU32::new(60_000) {
    Some(ms) => ms,
    None => ONE,
};
const SECOND_MS: NonZeroU32 = match NonZeroU32::new(1_000) {
    Some(ms) => ms,
    None => ONE,
};

impl Limit {
    /// `amount` per minute, the unit every LLM provider publishes.
    pub const fn per_minute(amount: NonZeroU32) -> Self {
        Self::per_window_ms(amount, MINUTE_MS)
    }

    /// `amount` per second.
    pub const fn per_second(amount: NonZeroU32) -> Self {
        Self::per_window_ms(amount, SECOND_MS)
    }

    /// `amount` per `window_ms` milliseconds.
    pub const fn per_window_ms(amount: NonZeroU32, window_ms: NonZeroU32) -> Self {
        Self {
            amount,
            window_ms,
            burst: None,
        }
    }

    /// A limit from run-time values, such as a header's `limit` and window.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] when the amount is zero or above `u32::MAX`, or the window is not between
    /// 1 ms and `u32::MAX` ms.
    ///
    /// # Examples
    ///
    /// ```
    /// use headroom::{ConfigError, Limit, time};
    ///
    /// assert!(Limit::new_checked(50, time::secs(60)).is_ok());
    /// assert_eq!(Limit::new_checked(0, time::secs(60)), Err(ConfigError::ZeroAmount));
    /// ```
    pub fn new_checked(amount: u64, window: Duration) -> Result<Self, ConfigError> {
        let amount = u32::try_from(amount).map_err(|_| ConfigError::AmountTooLarge)?;
        let amount = NonZeroU32::new(amount).ok_or(ConfigError::ZeroAmount)?;
        let window_ms =
            u32::try_from(window.as_ticks() / 1_000).map_err(|_| ConfigError::WindowTooLong)?;
        let window_ms = NonZeroU32::new(window_ms).ok_or(ConfigError::WindowTooShort)?;
        Ok(Self::per_window_ms(amount, window_ms))
    }

    /// The same rate with an explicit burst, clamped to the amount (a bucket never holds more
    /// than one window's worth).
    pub const fn with_burst(self, burst: NonZeroU32) -> Self {
        let burst = if burst.get() > self.amount.get() {
            self.amount
        } else {
            burst
        };
        Self {
            burst: Some(burst),
            ..self
        }
    }

    /// The same burst setting with a new amount and window (used when a server reports a new
    /// limit). An explicit burst is clamped to the new amount.
    pub const fn with_rate_of(self, other: Self) -> Self {
        match self.burst {
            Some(burst) => other.with_burst(burst),
            None => other,
        }
    }

    /// Units per window.
    pub const fn amount(&self) -> u32 {
        self.amount.get()
    }

    /// The window, in milliseconds.
    pub const fn window_ms(&self) -> u32 {
        self.window_ms.get()
    }

    /// The window.
    pub const fn window(&self) -> Duration {
        crate::time::millis(self.window_ms.get() as u64)
    }

    /// The explicit burst, if one was set.
    pub const fn burst(&self) -> Option<NonZeroU32> {
        self.burst
    }

    /// The burst a bucket of `kind` uses: the explicit one, else the default described on
    /// [`Limit`].
    pub const fn burst_for(&self, kind: LimitKind) -> u32 {
        if let Some(burst) = self.burst {
            return burst.get();
        }
        match kind {
            LimitKind::Requests => {
                // One second's worth: amount × 1000 / window_ms, at least 1, at most amount.
                #[expect(
                    clippy::arithmetic_side_effects,
                    reason = "u32 × 1000 fits in u64; the divisor is a NonZeroU32"
                )]
                let per_second = (self.amount.get() as u64 * 1_000) / self.window_ms.get() as u64;
                if per_second == 0 {
                    1
                } else if per_second > self.amount.get() as u64 {
                    self.amount.get()
                } else {
                    per_second as u32
                }
            }
            LimitKind::InputTokens | LimitKind::OutputTokens | LimitKind::Tokens => {
                self.amount.get()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nz(n: u32) -> NonZeroU32 {
        NonZeroU32::new(n).unwrap()
    }

    #[test]
    fn default_request_burst_is_one_second_worth() {
        assert_eq!(Limit::per_minute(nz(50)).burst_for(LimitKind::Requests), 1);
        assert_eq!(Limit::per_minute(nz(60)).burst_for(LimitKind::Requests), 1);
        assert_eq!(
            Limit::per_minute(nz(1_000)).burst_for(LimitKind::Requests),
            16
        );
        assert_eq!(Limit::per_second(nz(7)).burst_for(LimitKind::Requests), 7);
        // A 100 ms window with 5 requests: one second's worth would be 50, capped at 5.
        let fast = Limit::per_window_ms(nz(5), nz(100));
        assert_eq!(fast.burst_for(LimitKind::Requests), 5);
    }

    #[test]
    fn explicit_burst_is_clamped_and_survives_rate_changes() {
        let limit = Limit::per_minute(nz(100)).with_burst(nz(500));
        assert_eq!(limit.burst(), Some(nz(100)));
        let upgraded = Limit::per_minute(nz(10)).with_rate_of(Limit::per_minute(nz(1_000)));
        assert_eq!(upgraded.amount(), 1_000);
        let kept = Limit::per_minute(nz(100))
            .with_burst(nz(40))
            .with_rate_of(Limit::per_minute(nz(20)));
        assert_eq!(kept.burst(), Some(nz(20)));
    }

    #[test]
    fn checked_constructor_rejects_nonsense() {
        assert_eq!(
            Limit::new_checked(u64::from(u32::MAX) + 1, crate::time::secs(60)),
            Err(ConfigError::AmountTooLarge)
        );
        assert_eq!(
            Limit::new_checked(5, crate::time::micros(999)),
            Err(ConfigError::WindowTooShort)
        );
        assert_eq!(
            Limit::new_checked(5, crate::time::secs(5_000_000)),
            Err(ConfigError::WindowTooLong)
        );
        let day = Limit::new_checked(5_000, crate::time::secs(86_400)).unwrap();
        assert_eq!(day.window_ms(), 86_400_000);
    }
}
