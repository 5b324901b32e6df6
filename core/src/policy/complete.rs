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
//! A retry comes back as a [`Retry`]: the instant plus everything the next acquire needs (lane,
//! cost, priority, and the [`Attempt`] with its retry count and deadline), kept in the permit
//! table while the request was in flight. The caller sleeps until [`Retry::at`] and calls
//! [`Policy::acquire_retry`]; nothing has to be remembered on the side.
//!
//! [`Backoff`]: crate::backoff::Backoff

use rand_core::Rng;

use super::clock::EngineClock;
use super::permit::{LaneId, Permit, PermitError};
use super::{Applied, Policy};
use crate::backoff::{Attempt, RetryBudget, scale};
use crate::classify::{Class, Outcome, Verdict, classify};
use crate::cost::{Cost, Usage, UsedTokens};
use crate::headers::{Dialect, Snapshot};
use crate::lane::{LaneRefusal, Priority};
use crate::time::{Duration, Instant};

/// The longest jitter added to an informed 429 wait.
const MAX_INFORMED_JITTER_US: u64 = 1_000_000;
/// The shortest jitter window: spreads callers even when the wait itself is tiny.
const MIN_INFORMED_JITTER_US: u64 = 20_000;

/// What came back for a permit: the parsed headers (which carry the status they were parsed
/// with), or no response at all.
///
/// The status is given once, to [`crate::headers::parse`]; the response reads it from the
/// [`Snapshot`], so the two can never disagree.
///
/// # Examples
///
/// ```
/// use headroom::{Response, Usage, headers};
///
/// let snapshot = headers::parse(Some(200), [("anthropic-ratelimit-requests-remaining", "49")]);
/// let ok = Response::new(&snapshot).with_usage(Usage { input_tokens: 10, output_tokens: 5, ..Usage::default() });
/// assert_eq!(ok.status(), Some(200));
/// assert_eq!(Response::transport_error().status(), None);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Response<'a> {
    snapshot: Option<&'a Snapshot>,
    usage: Option<Usage>,
    body: Option<&'a [u8]>,
    headers_at: Option<Instant>,
}

impl<'a> Response<'a> {
    /// A response from its parsed headers ([`crate::headers::parse`] with the status). A
    /// snapshot parsed without a status (`None`) stands for no response at all, as
    /// [`Response::transport_error`].
    ///
    /// # Examples
    ///
    /// ```
    /// use headroom::{Response, headers};
    ///
    /// let snapshot = headers::parse(Some(429), [("retry-after", "3")]);
    /// assert_eq!(Response::new(&snapshot).status(), Some(429));
    /// ```
    pub const fn new(snapshot: &'a Snapshot) -> Self {
        Self {
            snapshot: Some(snapshot),
            usage: None,
            body: None,
            headers_at: None,
        }
    }

    /// No response: the connection failed or timed out.
    ///
    /// # Examples
    ///
    /// ```
    /// use headroom::Response;
    ///
    /// assert_eq!(Response::transport_error().snapshot(), None);
    /// ```
    pub const fn transport_error() -> Self {
        Self {
            snapshot: None,
            usage: None,
            body: None,
            headers_at: None,
        }
    }

    /// The same response with the instant its headers were received, when that is not the
    /// instant [`Policy::complete`] is called (a streamed response delivers its headers first
    /// and its usage last).
    ///
    /// # Examples
    ///
    /// ```
    /// use headroom::{Response, headers, time::Instant};
    ///
    /// let snapshot = headers::parse(Some(200), [("anthropic-ratelimit-requests-remaining", "49")]);
    /// let streamed = Response::new(&snapshot).with_headers_at(Instant::from_ticks(300_000));
    /// assert_eq!(streamed.headers_at(), Some(Instant::from_ticks(300_000)));
    /// ```
    pub const fn with_headers_at(mut self, headers_at: Instant) -> Self {
        self.headers_at = Some(headers_at);
        self
    }

    /// The same response with the body's `usage`.
    ///
    /// # Examples
    ///
    /// ```
    /// use headroom::{Response, Usage, headers};
    ///
    /// let snapshot = headers::parse(Some(200), [("date", "Sat, 28 Nov 2026 04:00:00 GMT")]);
    /// let usage = Usage { input_tokens: 10, output_tokens: 5, ..Usage::default() };
    /// assert_eq!(Response::new(&snapshot).with_usage(usage).usage(), Some(usage));
    /// ```
    pub const fn with_usage(mut self, usage: Usage) -> Self {
        self.usage = Some(usage);
        self
    }

    /// The same response with its (error) body, for classification (a bounded scan).
    ///
    /// # Examples
    ///
    /// ```
    /// use headroom::{Response, headers};
    ///
    /// let snapshot = headers::parse(Some(529), [("x-should-retry", "true")]);
    /// let body = br#"{"type":"error","error":{"type":"overloaded_error"}}"#;
    /// assert_eq!(Response::new(&snapshot).with_body(body).body(), Some(&body[..]));
    /// ```
    pub const fn with_body(mut self, body: &'a [u8]) -> Self {
        self.body = Some(body);
        self
    }

    /// The HTTP status, from the snapshot; `None` for no response.
    pub const fn status(&self) -> Option<u16> {
        match self.snapshot {
            Some(snapshot) => snapshot.status,
            None => None,
        }
    }

    /// The parsed headers, if there was a response.
    pub const fn snapshot(&self) -> Option<&'a Snapshot> {
        self.snapshot
    }

    /// The body's `usage`, when given.
    pub const fn usage(&self) -> Option<Usage> {
        self.usage
    }

    /// The error body, when given.
    pub const fn body(&self) -> Option<&'a [u8]> {
        self.body
    }

    /// When the headers were received, when given.
    pub const fn headers_at(&self) -> Option<Instant> {
        self.headers_at
    }
}

/// A request to send again: when, and everything [`Policy::acquire_retry`] needs (the lane,
/// the cost and priority it was admitted with, and the [`Attempt`] carried forward).
///
/// # Examples
///
/// ```
/// use headroom::backoff::FixedDraw;
/// use headroom::{Acquire, Cost, DefaultPolicy, LaneConfig, Outcome, Priority, Response, headers, time::Instant};
///
/// let mut policy = DefaultPolicy::new();
/// let lane = policy.add_lane(LaneConfig::new()).unwrap();
/// let t0 = Instant::from_ticks(0);
/// let cost = Cost::request(100, 50);
/// let Acquire::Admit(permit) = policy.acquire(t0, lane, cost, Priority::Background) else { unreachable!() };
/// let error = headers::parse(Some(500), [("date", "Sat, 28 Nov 2026 04:00:00 GMT")]);
/// let Outcome::Retry(retry) = policy.complete(t0, permit, &Response::new(&error), &mut FixedDraw(0)).unwrap() else {
///     unreachable!()
/// };
/// assert_eq!((retry.lane(), retry.cost(), retry.priority()), (lane, cost, Priority::Background));
/// assert_eq!(retry.attempt().retries(), 1);
/// assert!(retry.at() >= t0);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Retry {
    at: Instant,
    lane: LaneId,
    cost: Cost,
    priority: Priority,
    attempt: Attempt,
}

impl Retry {
    /// When to acquire again (not before).
    pub const fn at(&self) -> Instant {
        self.at
    }

    /// The lane the request was admitted on.
    pub const fn lane(&self) -> LaneId {
        self.lane
    }

    /// The cost it was admitted with.
    pub const fn cost(&self) -> Cost {
        self.cost
    }

    /// The priority it was admitted with.
    pub const fn priority(&self) -> Priority {
        self.priority
    }

    /// The attempt to carry forward: retries taken (this one included) and the deadline.
    pub const fn attempt(&self) -> Attempt {
        self.attempt
    }
}

impl<const LANES: usize, const PERMITS: usize> Policy<LANES, PERMITS> {
    /// The end of the life cycle: settles a permit with its response, syncs the lane from the
    /// headers, and decides what happens next (the steps are in the module docs): done, retry
    /// (a [`Retry`] for [`Policy::acquire_retry`]) or give up.
    ///
    /// `rng` spreads retries: pass a real generator (`rand::rng()`, a hardware RNG); a fixed
    /// draw makes every client retry at the same instant.
    ///
    /// Retries count against the schedule's `max_retries` and the policy's retry budget, except
    /// that a 429 carrying rate-limit headers does not draw on the budget: its retry acquires
    /// again on buckets just synced from those headers, so it cannot storm, and on a busy shared
    /// key such 429s are contention, not a failing server.
    ///
    /// # Errors
    ///
    /// [`PermitError::Unknown`] if the permit is not from this policy; nothing changes then.
    ///
    /// # Examples
    ///
    /// ```
    /// use headroom::backoff::FixedDraw;
    /// use headroom::headers;
    /// use headroom::{Acquire, Cost, DefaultPolicy, LaneConfig, Outcome, Priority, Response, time::Instant};
    ///
    /// let mut policy = DefaultPolicy::new();
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
    /// let rng = &mut FixedDraw(0); // a test's draw: real traffic takes a real RNG
    /// let Outcome::Retry(retry) = policy.complete(t1, permit, &Response::new(&snapshot), rng).unwrap() else {
    ///     unreachable!()
    /// };
    /// // 30 000 per minute refills the 1 000 tokens in 2 s (the jitter draw is 0 here).
    /// assert_eq!(retry.at(), Instant::from_ticks(2_500_000));
    /// assert_eq!(retry.attempt().retries(), 1);
    /// ```
    pub fn complete<R: Rng + ?Sized>(
        &mut self,
        now: Instant,
        permit: Permit,
        response: &Response<'_>,
        rng: &mut R,
    ) -> Result<Outcome<Retry>, PermitError> {
        let (reservation, intent) = self.permits.remove(&permit)?;
        let mut attempt = intent.attempt;
        // Made only when there is none: building a 600-byte default on every response cost
        // 18 instructions when the compiler could not sink it.
        let empty;
        let snapshot = match response.snapshot {
            Some(snapshot) => snapshot,
            None => {
                empty = Snapshot::default();
                &empty
            }
        };
        let verdict = match response.status() {
            // A 2xx is done (`Verdict::outcome`): its verdict is read for its class only.
            Some(200..=299) => Verdict::success(),
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
            estimate: intent.input_tokens(),
        };
        self.apply_response(now, &reservation, &applied)?;
        // A 2xx is done: all that `Backoff::decide` does with its verdict is credit the retry
        // budget (a success is never paced, so the budget is the policy's). On 64-bit targets
        // only: on 32-bit ones the second copy of the crediting costs more flash than the
        // schedule's time (+40 B Anthropic-only, +92 B every dialect, on a Cortex-M4).
        if cfg!(target_pointer_width = "64") && verdict.class() == Class::Success {
            self.budget.record_success(&attempt);
            return Ok(Outcome::Done);
        }

        // A 429 that carries the server's rate-limit headers: its retry waits for the buckets
        // just synced from them, and acquires again through this policy's pacing.
        let paced = matches!(verdict.class(), Class::RateLimited { .. })
            && snapshot.dialect != Dialect::None;
        let informed = if paced {
            self.informed_wait(now, &permit, &reservation.charges(), rng)
        } else {
            None
        };
        let verdict = match informed {
            Some(delay) => verdict.with_informed_delay(delay),
            None => verdict,
        };
        // Retry instants count from where the engine counts: after a small step back of the
        // caller's clock, from where it was.
        let now = self.clock.to_caller(caller_now, now, now);
        // Paced retries cannot storm: they do not draw on the retry budget, which guards
        // against a server that fails (5xx, 529), not against contention on a shared key.
        let mut exempt = RetryBudget::unlimited();
        let budget = if paced { &mut exempt } else { &mut self.budget };
        let next = self
            .backoff
            .decide(now, &verdict, &mut attempt, budget, rng);
        Ok(next.map(|at| Retry {
            at,
            lane: permit.lane,
            cost: reservation.cost(&intent),
            priority: reservation.priority,
            attempt,
        }))
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
