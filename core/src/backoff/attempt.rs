//! Where one request is in its retry life.
//!
//! The schedule ([`super::Backoff`]) and the budget ([`super::RetryBudget`]) are shared; what
//! differs from request to request is how many retries it has taken, the delay it waited last
//! (decorrelated jitter grows from it), what its last retry took from a quota budget and the
//! caller's deadline. Those few bytes travel with the request from one attempt to the next, so
//! the decision for attempt `n + 1` is a pure function of them and the response.

use crate::time::{Duration, Instant};

/// [`Attempt::deadline`]'s "none".
const NO_DEADLINE: u64 = u64::MAX;

/// What one request carries between attempts: retries taken, the previous delay (for
/// [`Jitter::Decorrelated`](super::Jitter::Decorrelated)), what its last retry took from a
/// [`RetryBudget`](super::RetryBudget) quota, and an optional deadline.
///
/// # Examples
///
/// ```
/// use headroom::Attempt;
/// use headroom::time::Instant;
///
/// let attempt = Attempt::first().with_deadline(Instant::from_ticks(30_000_000));
/// assert_eq!((attempt.retries(), attempt.attempts()), (0, 1));
/// assert_eq!(attempt.deadline(), Some(Instant::from_ticks(30_000_000)));
/// assert_eq!(Attempt::with_retries(3).attempts(), 4);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Attempt {
    pub(super) retries: u32,
    pub(super) budget_cost: u32,
    pub(super) prev_delay: u64,
    /// The deadline in µs ticks; `u64::MAX` for none (nothing can start at or after the end of
    /// time anyway), which keeps the attempt at 24 bytes instead of 32.
    deadline: u64,
}

impl Default for Attempt {
    fn default() -> Self {
        Self::first()
    }
}

impl Attempt {
    /// A first attempt: no retry taken, no deadline.
    ///
    /// # Examples
    ///
    /// ```
    /// use headroom::Attempt;
    ///
    /// assert_eq!(Attempt::first(), Attempt::default());
    /// ```
    pub const fn first() -> Self {
        Self::with_retries(0)
    }

    /// A request that has been retried `retries` times (to resume, or to reproduce a table).
    ///
    /// # Examples
    ///
    /// ```
    /// use headroom::Attempt;
    ///
    /// assert_eq!(Attempt::with_retries(2).retries(), 2);
    /// ```
    pub const fn with_retries(retries: u32) -> Self {
        Self {
            retries,
            budget_cost: 0,
            prev_delay: 0,
            deadline: NO_DEADLINE,
        }
    }

    /// The same attempt with a deadline: no wait or retry may end at or after it. A deadline at
    /// the end of time (`u64::MAX` ticks) is the same as none.
    ///
    /// # Examples
    ///
    /// ```
    /// use headroom::Attempt;
    /// use headroom::time::Instant;
    ///
    /// let attempt = Attempt::first().with_deadline(Instant::from_ticks(5));
    /// assert_eq!(attempt.deadline(), Some(Instant::from_ticks(5)));
    /// ```
    pub const fn with_deadline(mut self, deadline: Instant) -> Self {
        self.deadline = deadline.as_ticks();
        self
    }

    /// The deadline, if any.
    ///
    /// # Examples
    ///
    /// ```
    /// use headroom::Attempt;
    ///
    /// assert_eq!(Attempt::first().deadline(), None);
    /// ```
    pub const fn deadline(&self) -> Option<Instant> {
        match self.deadline {
            NO_DEADLINE => None,
            ticks => Some(Instant::from_ticks(ticks)),
        }
    }

    /// Retries taken so far: the SDKs' `x-stainless-retry-count`.
    ///
    /// # Examples
    ///
    /// ```
    /// use headroom::Attempt;
    ///
    /// assert_eq!(Attempt::first().retries(), 0);
    /// ```
    pub const fn retries(&self) -> u32 {
        self.retries
    }

    /// Attempts made so far, counting the first: `retries + 1`, saturating.
    ///
    /// # Examples
    ///
    /// ```
    /// use headroom::Attempt;
    ///
    /// assert_eq!(Attempt::with_retries(u32::MAX).attempts(), u32::MAX);
    /// ```
    pub const fn attempts(&self) -> u32 {
        self.retries.saturating_add(1)
    }

    /// The delay chosen before the last retry (zero before the first).
    ///
    /// # Examples
    ///
    /// ```
    /// use headroom::Attempt;
    /// use headroom::time::Duration;
    ///
    /// assert_eq!(Attempt::first().previous_delay(), Duration::ZERO);
    /// ```
    pub const fn previous_delay(&self) -> Duration {
        Duration::from_ticks(self.prev_delay)
    }
}
