//! The end of the life cycle: a response comes back and the engine says *done*, *retry at T* or
//! *give up, because …*.
//!
//! [`Policy::complete`] puts the pieces together in one call:
//!
//! 1. **Settle.** The permit's estimate becomes the actual usage. A 429 or 529 was refused by
//!    the server before any token was processed, so its token charges are refunded (the request
//!    itself stays counted, which errs on the safe side).
//! 2. **Sync.** The response's header snapshot corrects the lane (see the `sync` module).
//! 3. **Classify.** Status, headers and body give the class ([`crate::classify`]).
//! 4. **Schedule.** A 429 that came with rate-limit headers is retried when the lane's buckets,
//!    now in line with the server, have room for *this* request again, plus a little jitter so
//!    that callers that were refused together do not return together. That is an informed wait,
//!    not a blind exponential guess. Everything else (a bare 429, a 529, a 5xx, a transport
//!    error) follows the policy's [`Backoff`] schedule. Either way `Retry-After` is a floor
//!    under the policy's ceiling, the attempt limit and the caller's deadline hold, and the
//!    [`crate::backoff::RetryBudget`] can refuse a retry so that an outage is not made worse.
//!
//! The caller then re-enters [`Policy::acquire_attempt`] at the named instant with the returned
//! [`Attempt`], which carries the retry count forward.
//!
//! [`Backoff`]: crate::backoff::Backoff

use rand_core::Rng;

use super::clock::EngineClock;
use super::permit::{Attempt, Permit, PermitError};
use super::{Applied, Policy};
use crate::backoff::{Next, scale};
use crate::classify::GiveUp;
use crate::classify::{Class, Verdict, classify};
use crate::cost::Usage;
use crate::cost::UsedTokens;
use crate::headers::{Dialect, Snapshot};
use crate::lane::{LaneRefusal, Priority};
use crate::time::{Duration, Instant};

/// The longest jitter added to an informed 429 wait.
const MAX_INFORMED_JITTER_US: u64 = 1_000_000;
/// The shortest jitter window: spreads callers even when the wait itself is tiny.
const MIN_INFORMED_JITTER_US: u64 = 20_000;

/// What came back for a permit: a status with its parsed headers, or no response at all.
///
/// # Examples
///
/// ```
/// use headroom::{Response, Usage};
/// use headroom::headers::Snapshot;
///
/// let snapshot = Snapshot::default();
/// let ok = Response::new(200, &snapshot).with_usage(Usage { input_tokens: 10, output_tokens: 5, ..Usage::default() });
/// assert_eq!(ok.status, Some(200));
/// assert_eq!(Response::transport_error().status, None);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Response<'a> {
    /// The HTTP status; `None` for a connection error or timeout.
    pub status: Option<u16>,
    /// The parsed headers ([`crate::headers::parse`]).
    pub snapshot: Option<&'a Snapshot>,
    /// The body's `usage`, when the response had one.
    pub usage: Option<Usage>,
    /// The error body, for classification (bounded scan; optional).
    pub body: Option<&'a [u8]>,
    /// When the headers were received, if not when [`Policy::complete`] is called (a streamed
    /// response delivers its headers first and its usage last).
    pub headers_at: Option<Instant>,
}

impl<'a> Response<'a> {
    /// A response with a status and its parsed headers.
    pub const fn new(status: u16, snapshot: &'a Snapshot) -> Self {
        Self {
            status: Some(status),
            snapshot: Some(snapshot),
            usage: None,
            body: None,
            headers_at: None,
        }
    }

    /// No response: the connection failed or timed out.
    pub const fn transport_error() -> Self {
        Self {
            status: None,
            snapshot: None,
            usage: None,
            body: None,
            headers_at: None,
        }
    }

    /// The same response with the instant its headers were received.
    pub const fn with_headers_at(mut self, headers_at: Instant) -> Self {
        self.headers_at = Some(headers_at);
        self
    }

    /// The same response with the body's usage.
    pub const fn with_usage(mut self, usage: Usage) -> Self {
        self.usage = Some(usage);
        self
    }

    /// The same response with its (error) body.
    pub const fn with_body(mut self, body: &'a [u8]) -> Self {
        self.body = Some(body);
        self
    }
}

/// The answer to [`Policy::complete`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Completion {
    /// The request succeeded.
    Done,
    /// Acquire again, with this attempt, at `at` (not before).
    RetryAt {
        /// When to call [`Policy::acquire_attempt`] again.
        at: Instant,
        /// The attempt to pass back; it carries the retry count.
        attempt: Attempt,
    },
    /// Do not retry.
    GiveUp(GiveUp),
}

impl<const LANES: usize, const PERMITS: usize> Policy<LANES, PERMITS> {
    /// Settles a permit with its response, syncs the lane from the headers, and decides what
    /// happens next. See the module documentation of `retry` for the order of steps.
    ///
    /// # Errors
    ///
    /// [`PermitError::Unknown`] if the permit is not from this policy.
    ///
    /// # Examples
    ///
    /// ```
    /// use headroom::backoff::FixedDraw;
    /// use headroom::headers;
    /// use headroom::{Acquire, Completion, Cost, LaneConfig, Policy, Priority, Response, time::Instant};
    ///
    /// let mut policy: Policy<1, 8> = Policy::new();
    /// let lane = policy.add_lane(LaneConfig::new().shared_key(false)).unwrap();
    /// let t0 = Instant::from_ticks(0);
    /// let cost = Cost::request(1_000, 500);
    /// let Acquire::Admit(permit) = policy.acquire(t0, lane, cost, Priority::Interactive) else { unreachable!() };
    ///
    /// // A 429 whose headers say the input bucket is empty.
    /// let headers = [
    ///     ("anthropic-ratelimit-input-tokens-limit", "30000"),
    ///     ("anthropic-ratelimit-input-tokens-remaining", "0"),
    /// ];
    /// let snapshot = headers::parse(Some(429), headers);
    /// let t1 = Instant::from_ticks(500_000);
    /// let Completion::RetryAt { at, attempt } = policy.complete(t1, permit, &Response::new(429, &snapshot), &mut FixedDraw(0)).unwrap() else {
    ///     unreachable!()
    /// };
    /// // 30 000 per minute refills the 1 000 tokens in 2 s (the jitter draw is 0 here).
    /// assert_eq!(at, Instant::from_ticks(2_500_000));
    /// assert_eq!(attempt.retries(), 1);
    /// ```
    pub fn complete<R: Rng + ?Sized>(
        &mut self,
        now: Instant,
        permit: Permit,
        response: &Response<'_>,
        rng: &mut R,
    ) -> Result<Completion, PermitError> {
        let reservation = self.permits.remove(&permit)?;
        let mut attempt = permit.attempt;
        let empty = Snapshot::default();
        let snapshot = response.snapshot.unwrap_or(&empty);
        let verdict = match response.status {
            Some(status) => classify(status, snapshot, response.body),
            None => Verdict::transport(),
        };
        let refused_by_server = matches!(
            verdict.class(),
            Class::RateLimited { .. } | Class::Overloaded
        );
        let usage = match (response.usage, refused_by_server) {
            (Some(usage), _) => Some(UsedTokens::Measured(usage)),
            (None, true) => Some(UsedTokens::Refused),
            (None, false) => None,
        };
        let caller_now = now;
        let now = self.tick(now);
        let headers_at = response
            .headers_at
            .map_or(now, |at| EngineClock::from_caller_past(caller_now, now, at));
        let applied = Applied {
            headers_at,
            usage,
            snapshot: response.snapshot,
            refused_on: verdict.class().binding_kind(),
        };
        self.apply_response(now, &reservation, &applied)?;

        let informed = match verdict.class() {
            Class::RateLimited { .. } if snapshot.dialect != Dialect::None => {
                self.informed_wait(now, &permit, &reservation.charges(), rng)
            }
            _ => None,
        };
        let now = caller_now;
        let next = self.backoff.decide_with(
            &verdict,
            &mut attempt.retry,
            &mut self.budget,
            now,
            attempt.deadline,
            informed,
            rng,
        );
        Ok(match next {
            Next::Done => Completion::Done,
            Next::RetryAt(at) => Completion::RetryAt { at, attempt },
            Next::GiveUp(why) => Completion::GiveUp(why),
        })
    }

    /// How long until the lane, as synced, admits the permit's charges again, plus jitter of up
    /// to a tenth of that wait (at least 20 ms, at most 1 s). `None` when the buckets have room
    /// now (the 429 had another cause: fall back to the schedule).
    fn informed_wait<R: Rng + ?Sized>(
        &mut self,
        now: u64,
        permit: &Permit,
        charges: &crate::cost::Charges,
        rng: &mut R,
    ) -> Option<Duration> {
        let lane = self.lane_mut(permit.lane).ok()?;
        let wait = match lane.probe(now, charges, Priority::Interactive) {
            Err(LaneRefusal::Wait { until, .. }) => until.saturating_sub(now),
            Ok(()) | Err(LaneRefusal::TooLarge { .. }) => return None,
        };
        let window = (wait / 10).clamp(MIN_INFORMED_JITTER_US, MAX_INFORMED_JITTER_US);
        let jitter = scale(window, rng.next_u64());
        Some(Duration::from_ticks(wait.saturating_add(jitter)))
    }
}

#[cfg(test)]
mod tests;
