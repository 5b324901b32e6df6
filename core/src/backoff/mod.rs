//! The retry schedule: exponential backoff with jitter, a `Retry-After` policy, an attempt
//! limit, a deadline, and a retry budget.
//!
//! A failed request should be retried late enough to let the cause clear, early enough not to
//! waste the caller's time, at a moment other callers did not also pick, and not at all when
//! retrying would only add load. Each concern is one piece here:
//!
//! * [`Backoff`] computes the next delay: `e = min(cap, base·2ⁿ)` for `n` retries taken (the
//!   exponent is capped at 1000 and saturates, so no retry count can overflow), spread by a
//!   [`Jitter`], with the server's delay taken into account under a [`RetryAfterPolicy`] policy.
//! * [`Attempt`] is the few bytes a request carries between attempts (retries taken, the
//!   previous delay, a deadline). The schedule itself is immutable configuration, so one
//!   [`Backoff`] serves every request.
//! * [`retry_at`] turns a delay into an instant and refuses to cross a deadline.
//! * [`RetryBudget`] is shared by all requests and stops retry storms.
//! * [`Backoff::decide`] runs the whole sequence for one classified response and answers with
//!   the crate's one [`Outcome`](crate::classify::Outcome) vocabulary.
//!
//! Presets reproduce the official SDKs and the AWS standard strategy exactly
//! ([`Backoff::anthropic_python`], [`Backoff::anthropic_typescript`], [`Backoff::openai_python`],
//! [`Backoff::guide_loop`], [`Backoff::aws_standard`]). Randomness is an argument
//! (`rng: &mut R`, never stored); all math is integer.

mod attempt;
mod budget;
mod decide;
mod fixed_draw;
mod jitter;
mod presets;
mod retry_after;
#[cfg(test)]
mod tests;

use rand_core::Rng;

pub use attempt::Attempt;
pub use budget::RetryBudget;
pub use decide::retry_at;
pub use fixed_draw::FixedDraw;
pub use jitter::{Jitter, scale};
pub use retry_after::{AboveCeiling, NODE_TIMEOUT_MAX, RetryAfterPolicy, Unusable};

use retry_after::Judged;

use crate::classify::GiveUp;
use crate::headers::{Reading, SdkNumber};
use crate::time::{self, Duration};

/// The largest exponent used: `2^1000` saturates any base anyway, and the SDKs cap it there.
pub const MAX_EXPONENT: u32 = 1000;

/// A retry schedule. Plain configuration: `Copy`, immutable, shared by every request.
///
/// # Examples
///
/// ```
/// use headroom::backoff::{Backoff, FixedDraw, Jitter, Attempt};
/// use headroom::time;
///
/// let schedule = Backoff::new(time::millis(100), time::secs(1))
///     .with_jitter(Jitter::None)
///     .with_max_retries(5);
/// let mut attempt = Attempt::first();
/// let delays: Vec<u64> = (0..5)
///     .map(|_| schedule.next_delay(&mut attempt, None, &mut FixedDraw(0)).unwrap().as_ticks() / 1_000)
///     .collect();
/// assert_eq!(delays, [100, 200, 400, 800, 1_000]);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Backoff {
    /// The first nominal delay, `e(0)`.
    pub base: Duration,
    /// The largest nominal delay and the largest backoff delay after jitter. An accepted server
    /// delay may exceed it (up to [`RetryAfterPolicy::ceiling`], or beyond with
    /// [`AboveCeiling::WaitAnyway`]).
    pub cap: Duration,
    /// Retries allowed after the first attempt.
    pub max_retries: u32,
    /// How the nominal delay is spread.
    pub jitter: Jitter,
    /// How the server's delay is used.
    pub retry_after: RetryAfterPolicy,
}

impl Default for Backoff {
    /// [`Backoff::new`] with a 1 s base and a 60 s cap.
    fn default() -> Self {
        Self::new(time::secs(1), time::secs(60))
    }
}

impl Backoff {
    /// headroom's own shape: full jitter, 4 retries, server delays from 0 to 120 s obeyed as a
    /// floor under the backoff, give up above 120 s (a slot held longer helps nobody).
    pub const fn new(base: Duration, cap: Duration) -> Self {
        Self {
            base,
            cap,
            max_retries: 4,
            jitter: Jitter::Full,
            retry_after: RetryAfterPolicy {
                reading: Reading::Strict,
                accept_zero: true,
                ceiling: time::secs(120),
                above_ceiling: AboveCeiling::GiveUp,
                unusable: Unusable::Backoff,
                floor: true,
            },
        }
    }

    /// The same schedule with `jitter`.
    pub const fn with_jitter(mut self, jitter: Jitter) -> Self {
        self.jitter = jitter;
        self
    }

    /// The same schedule allowing `max_retries` retries.
    pub const fn with_max_retries(mut self, max_retries: u32) -> Self {
        self.max_retries = max_retries;
        self
    }

    /// The same schedule allowing `max_attempts` attempts in all (first one included).
    pub const fn with_max_attempts(self, max_attempts: u32) -> Self {
        self.with_max_retries(max_attempts.saturating_sub(1))
    }

    /// The same schedule with another server-delay policy.
    pub const fn with_retry_after(mut self, retry_after: RetryAfterPolicy) -> Self {
        self.retry_after = retry_after;
        self
    }

    /// The nominal (unjittered) delay after `retries` retries: `min(cap, base·2^min(retries,
    /// 1000))`, saturating. Non-decreasing in `retries`.
    ///
    /// # Examples
    ///
    /// ```
    /// use headroom::backoff::Backoff;
    /// use headroom::time;
    ///
    /// let sdk = Backoff::anthropic_python();
    /// assert_eq!(sdk.nominal_delay(0), time::millis(500));
    /// assert_eq!(sdk.nominal_delay(3), time::secs(4));
    /// assert_eq!(sdk.nominal_delay(u32::MAX), time::secs(8));
    /// ```
    pub const fn nominal_delay(&self, retries: u32) -> Duration {
        let k = if retries < MAX_EXPONENT {
            retries
        } else {
            MAX_EXPONENT
        };
        let base = self.base.as_ticks();
        let grown = if k >= 64 || base > (u64::MAX >> k) {
            if base == 0 { 0 } else { u64::MAX }
        } else {
            base << k
        };
        let cap = self.cap.as_ticks();
        Duration::from_ticks(if grown < cap { grown } else { cap })
    }

    /// The delay before the next retry, and records the retry in `attempt`.
    ///
    /// `server_delay` is what the response asked for, read strictly
    /// ([`Verdict::server_delay`](crate::classify::Verdict::server_delay)); [`Backoff::decide`]
    /// reads it under the policy's [`Reading`] instead. Draws at most one `u64` from `rng`.
    ///
    /// # Errors
    ///
    /// [`GiveUp::AttemptsExhausted`] when `attempt` has used every retry;
    /// [`GiveUp::ServerDelayTooLong`] when the server's delay is above the ceiling and the policy
    /// says [`AboveCeiling::GiveUp`]. `attempt` is unchanged then.
    ///
    /// # Examples
    ///
    /// ```
    /// use headroom::backoff::{Backoff, FixedDraw, Attempt};
    /// use headroom::classify::GiveUp;
    /// use headroom::time;
    ///
    /// let openai = Backoff::openai_python();
    /// let mut attempt = Attempt::first();
    /// let mut rng = FixedDraw(0);
    /// assert_eq!(openai.next_delay(&mut attempt, Some(time::secs(61)), &mut rng), Ok(time::secs(61)));
    /// assert_eq!(openai.next_delay(&mut attempt, None, &mut rng), Ok(time::secs(1)));
    /// assert_eq!(openai.next_delay(&mut attempt, None, &mut rng), Err(GiveUp::AttemptsExhausted));
    /// let fresh = &mut Attempt::first();
    /// assert_eq!(openai.next_delay(fresh, Some(time::secs(121)), &mut rng), Err(GiveUp::ServerDelayTooLong));
    /// ```
    pub fn next_delay<R: Rng + ?Sized>(
        &self,
        attempt: &mut Attempt,
        server_delay: Option<Duration>,
        rng: &mut R,
    ) -> Result<Duration, GiveUp> {
        let server = server_delay.map(|delay| SdkNumber::from_micros(delay.as_ticks()));
        self.next_delay_read(attempt, server, rng)
    }

    /// [`Backoff::next_delay`] for a server value as an SDK reads it.
    fn next_delay_read<R: Rng + ?Sized>(
        &self,
        attempt: &mut Attempt,
        server: Option<SdkNumber>,
        rng: &mut R,
    ) -> Result<Duration, GiveUp> {
        if attempt.retries >= self.max_retries {
            return Err(GiveUp::AttemptsExhausted);
        }
        let judged = match server {
            Some(value) => self.retry_after.judge(value),
            None => Judged::Ignore,
        };
        let delay = match judged {
            Judged::Use(server) if self.retry_after.floor => server.max(self.backoff(attempt, rng)),
            Judged::Use(server) => server,
            Judged::Ignore => self.backoff(attempt, rng),
            Judged::GiveUp => return Err(GiveUp::ServerDelayTooLong),
        };
        attempt.retries = attempt.retries.saturating_add(1);
        attempt.prev_delay = delay;
        Ok(Duration::from_ticks(delay))
    }

    /// The jittered backoff delay for the state's retry count, in µs, capped at `cap`.
    fn backoff<R: Rng + ?Sized>(&self, attempt: &Attempt, rng: &mut R) -> u64 {
        let e = self.nominal_delay(attempt.retries).as_ticks();
        let cap = self.cap.as_ticks();
        self.jitter
            .apply(e, self.base.as_ticks(), cap, attempt.prev_delay, rng)
            .min(cap)
    }
}
