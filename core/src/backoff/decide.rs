//! The whole retry decision for one classified response: outcome, delay, deadline, budget.

use rand_core::Rng;

use super::retry_after::Judged;
use super::{Attempt, Backoff, RetryBudget};
use crate::classify::GiveUp;
use crate::classify::{Outcome, Verdict};
use crate::headers::SdkNumber;
use crate::time::{Duration, Instant};

impl Backoff {
    /// The whole retry decision for one classified response at `now`: the outcome by the SDK
    /// rules, the budget, the delay and the deadline, in that order of checks (the budget is
    /// charged last, so a request that gives up for another reason costs nothing).
    ///
    /// * [`Outcome::Done`]: the budget is credited ([`RetryBudget::record_success`]).
    /// * [`Outcome::GiveUp`]: passed on, budget untouched (a fatal status is not load).
    /// * [`Outcome::Retry`]: [`RetryBudget::record_failure`], then the delay
    ///   ([`Backoff::next_delay`] with the server's value as the policy's
    ///   [`Reading`](crate::headers::Reading) reads it, or the verdict's
    ///   [informed delay](Verdict::with_informed_delay) when it has one), then [`retry_at`] against the attempt's deadline, then
    ///   [`RetryBudget::try_retry`] → `Outcome::Retry(at)` or the first refusal.
    ///
    /// A 429 with rate-limit headers is better answered by the bucket the headers describe (wait
    /// until it has room for this request): give that wait to the verdict with
    /// [`Verdict::with_informed_delay`]. The server's delay still applies under the
    /// [`RetryAfterPolicy`](super::RetryAfterPolicy) (as a floor when accepted, a give-up above
    /// the ceiling when the policy says so).
    ///
    /// # Examples
    ///
    /// ```
    /// use headroom::Attempt;
    /// use headroom::backoff::{Backoff, FixedDraw, RetryBudget};
    /// use headroom::classify::{Outcome, classify};
    /// use headroom::headers::Snapshot;
    /// use headroom::time::{self, Instant};
    ///
    /// let schedule = Backoff::anthropic_python();
    /// let (mut budget, mut attempt) = (RetryBudget::default(), Attempt::first());
    /// let now = Instant::from_ticks(0);
    /// let overloaded = classify(529, &Snapshot::default(), None);
    /// let next = schedule.decide(now, &overloaded, &mut attempt, &mut budget, &mut FixedDraw(0));
    /// assert_eq!(next, Outcome::Retry(Instant::from_ticks(500_000)));
    /// assert_eq!(budget.level(), 99_000);
    ///
    /// // The bucket has room in 2.4 s: retry then, not after a blind backoff.
    /// let limited = classify(429, &Snapshot::default(), None).with_informed_delay(time::millis(2_400));
    /// let next = schedule.decide(now, &limited, &mut attempt, &mut budget, &mut FixedDraw(0));
    /// assert_eq!(next, Outcome::Retry(Instant::from_ticks(2_400_000)));
    /// ```
    pub fn decide<R: Rng + ?Sized>(
        &self,
        now: Instant,
        verdict: &Verdict,
        attempt: &mut Attempt,
        budget: &mut RetryBudget,
        rng: &mut R,
    ) -> Outcome<Instant> {
        let throttled = match verdict.outcome() {
            Outcome::Done => {
                budget.record_success(attempt);
                return Outcome::Done;
            }
            Outcome::GiveUp(why) => return Outcome::GiveUp(why),
            Outcome::Retry(class) => class.is_throttling(),
        };
        budget.record_failure();
        let server = verdict.server_value(self.retry_after.reading);
        let delay = match verdict.informed_delay() {
            Some(planned) => self.planned_delay(attempt, server, planned),
            None => self.next_delay_read(attempt, server, rng),
        };
        let planned = delay
            .and_then(|delay| retry_at(now, delay, attempt.deadline()))
            .and_then(|at| budget.try_retry(throttled, attempt).map(|()| at));
        match planned {
            Ok(at) => Outcome::Retry(at),
            Err(why) => Outcome::GiveUp(why),
        }
    }

    /// The bookkeeping of [`Backoff::next_delay`] around a delay the caller planned.
    fn planned_delay(
        &self,
        attempt: &mut Attempt,
        server: Option<SdkNumber>,
        planned: Duration,
    ) -> Result<Duration, GiveUp> {
        if attempt.retries >= self.max_retries {
            return Err(GiveUp::AttemptsExhausted);
        }
        let judged = match server {
            Some(value) => self.retry_after.judge(value),
            None => Judged::Ignore,
        };
        let delay = match judged {
            Judged::Use(server) => server.max(planned.as_ticks()),
            Judged::Ignore => planned.as_ticks(),
            Judged::GiveUp => return Err(GiveUp::ServerDelayTooLong),
        };
        attempt.retries = attempt.retries.saturating_add(1);
        attempt.prev_delay = delay;
        Ok(Duration::from_ticks(delay))
    }
}

/// `now + delay`, saturating at the end of time, refused if it is not before `deadline`.
///
/// A retry that would start at or after the deadline cannot finish before it, so the request
/// gives up now instead of sleeping past it.
///
/// # Errors
///
/// [`GiveUp::DeadlineExceeded`] when `now + delay ≥ deadline`.
///
/// # Examples
///
/// ```
/// use headroom::backoff::retry_at;
/// use headroom::classify::GiveUp;
/// use headroom::time::{self, Instant};
///
/// let now = Instant::from_ticks(1_000_000);
/// assert_eq!(retry_at(now, time::secs(1), None), Ok(Instant::from_ticks(2_000_000)));
/// let deadline = Some(Instant::from_ticks(2_000_000));
/// assert_eq!(retry_at(now, time::secs(1), deadline), Err(GiveUp::DeadlineExceeded));
/// assert_eq!(retry_at(now, time::secs(u64::MAX), None), Ok(Instant::from_ticks(u64::MAX)));
/// ```
pub fn retry_at(
    now: Instant,
    delay: Duration,
    deadline: Option<Instant>,
) -> Result<Instant, GiveUp> {
    let at = now.as_ticks().saturating_add(delay.as_ticks());
    match deadline {
        Some(deadline) if at >= deadline.as_ticks() => Err(GiveUp::DeadlineExceeded),
        _ => Ok(Instant::from_ticks(at)),
    }
}
