//! The whole retry decision for one classified response: outcome, delay, deadline, budget.

use rand_core::Rng;

use super::retry_after::Judged;
use super::{Backoff, RetryBudget, RetryState};
use crate::classify::GiveUp;
use crate::classify::{Outcome, Verdict};
use crate::time::{Duration, Instant};

/// The next step for a request after a response: the result of [`Backoff::decide`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Next {
    /// The request succeeded.
    Done,
    /// Retry at this instant.
    RetryAt(Instant),
    /// Do not retry.
    GiveUp(GiveUp),
}

impl Backoff {
    /// The whole retry decision for one classified response: the outcome by the SDK rules, the
    /// budget, the delay and the deadline, in that order of checks (the budget is charged last,
    /// so a request that gives up for another reason costs nothing).
    ///
    /// * [`Outcome::Done`]: the budget is credited ([`RetryBudget::record_success`]) → [`Next::Done`].
    /// * [`Outcome::GiveUp`] → [`Next::GiveUp`], budget untouched (a fatal status is not load).
    /// * [`Outcome::Retry`]: [`RetryBudget::record_failure`], then [`Backoff::next_delay`], then
    ///   [`retry_at`], then [`RetryBudget::try_retry`] → [`Next::RetryAt`] or the first refusal.
    ///
    /// A 429 with rate-limit headers is better answered by the bucket the headers describe (wait
    /// until it has room for this request); pass that instant's distance as the server delay, or
    /// take the later of the two instants.
    ///
    /// # Examples
    ///
    /// ```
    /// use headroom::backoff::{Backoff, FixedDraw, Next, RetryBudget, RetryState};
    /// use headroom::classify::classify;
    /// use headroom::headers::Snapshot;
    /// use headroom::time::Instant;
    ///
    /// let schedule = Backoff::anthropic_python();
    /// let mut budget = RetryBudget::default();
    /// let mut state = RetryState::new();
    /// let now = Instant::from_ticks(0);
    /// let verdict = classify(529, &Snapshot::default(), None);
    /// let next = schedule.decide(&verdict, &mut state, &mut budget, now, None, &mut FixedDraw(0));
    /// assert_eq!(next, Next::RetryAt(Instant::from_ticks(500_000)));
    /// assert_eq!(budget.level(), 99_000);
    /// ```
    pub fn decide<R: Rng + ?Sized>(
        &self,
        verdict: &Verdict,
        state: &mut RetryState,
        budget: &mut RetryBudget,
        now: Instant,
        deadline: Option<Instant>,
        rng: &mut R,
    ) -> Next {
        self.decide_with(verdict, state, budget, now, deadline, None, rng)
    }

    /// [`Backoff::decide`] with an informed delay: when the caller knows how long the cause
    /// takes to clear (a 429 whose headers say when the binding bucket has room for this
    /// request), `planned` replaces the blind exponential backoff. The server's delay still
    /// applies under the [`RetryAfter`](super::RetryAfter) policy (as a floor when accepted, a give-up above the
    /// ceiling when the policy says so), and the attempt limit, the deadline and the budget are
    /// checked exactly as in [`Backoff::decide`].
    ///
    /// # Examples
    ///
    /// ```
    /// use headroom::backoff::{Backoff, FixedDraw, Next, RetryBudget, RetryState};
    /// use headroom::classify::classify;
    /// use headroom::headers::Snapshot;
    /// use headroom::time::{self, Instant};
    ///
    /// let schedule = Backoff::anthropic_python();
    /// let (mut budget, mut state) = (RetryBudget::default(), RetryState::new());
    /// let verdict = classify(429, &Snapshot::default(), None);
    /// let now = Instant::from_ticks(0);
    /// // The bucket has room in 2.4 s: retry then, not after a blind 0.5 s.
    /// let next = schedule.decide_with(&verdict, &mut state, &mut budget, now, None, Some(time::millis(2_400)), &mut FixedDraw(0));
    /// assert_eq!(next, Next::RetryAt(Instant::from_ticks(2_400_000)));
    /// ```
    #[expect(
        clippy::too_many_arguments,
        reason = "each argument is a separate, required input"
    )]
    pub fn decide_with<R: Rng + ?Sized>(
        &self,
        verdict: &Verdict,
        state: &mut RetryState,
        budget: &mut RetryBudget,
        now: Instant,
        deadline: Option<Instant>,
        planned: Option<Duration>,
        rng: &mut R,
    ) -> Next {
        let throttled = match verdict.outcome() {
            Outcome::Done => {
                budget.record_success(state);
                return Next::Done;
            }
            Outcome::GiveUp(why) => return Next::GiveUp(why),
            Outcome::Retry { throttled } => throttled,
        };
        budget.record_failure();
        let delay = match planned {
            Some(planned) => self.planned_delay(state, verdict.server_delay(), planned),
            None => self.next_delay(state, verdict.server_delay(), rng),
        };
        let planned = delay
            .and_then(|delay| retry_at(now, delay, deadline))
            .and_then(|at| budget.try_retry(throttled, state).map(|()| at));
        match planned {
            Ok(at) => Next::RetryAt(at),
            Err(why) => Next::GiveUp(why),
        }
    }

    /// The bookkeeping of [`Backoff::next_delay`] around a delay the caller planned.
    fn planned_delay(
        &self,
        state: &mut RetryState,
        server_delay: Option<Duration>,
        planned: Duration,
    ) -> Result<Duration, GiveUp> {
        if state.retries >= self.max_retries {
            return Err(GiveUp::AttemptsExhausted);
        }
        let judged = match server_delay {
            Some(delay) => self.retry_after.judge(delay),
            None => Judged::Ignore,
        };
        let delay = match judged {
            Judged::Use(server) => server.max(planned.as_ticks()),
            Judged::Ignore => planned.as_ticks(),
            Judged::GiveUp => return Err(GiveUp::ServerDelayTooLong),
        };
        state.retries = state.retries.saturating_add(1);
        state.prev_delay = delay;
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
