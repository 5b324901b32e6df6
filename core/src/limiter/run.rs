//! The whole life cycle in one call: acquire → send → complete → (sleep, acquire again) … until
//! done or given up.
//!
//! The caller's closure sends one attempt and answers with a [`Reply`]: the response's headers
//! parsed once with its status, the body's usage if it had one, and whatever the caller wants
//! back (the body, a typed response). Everything else (waiting in line, sleeping out a retry,
//! handing the permit back if the closure's future is dropped) is the limiter's.

use core::future::Future;

use embassy_sync::blocking_mutex::raw::RawMutex;
use rand_core::Rng;

use super::{AcquireError, Limiter, Timer};
use crate::backoff::Attempt;
use crate::classify::{GiveUp, Outcome};
use crate::cost::{Cost, Usage};
use crate::headers::Snapshot;
use crate::lane::Priority;
use crate::policy::{LaneId, Response};

/// What one attempt brought back: its headers (parsed once, with the status), its usage, and
/// the caller's own value.
///
/// # Examples
///
/// ```
/// use headroom::limiter::Reply;
/// use headroom::{Usage, headers};
///
/// let snapshot = headers::parse(Some(200), [("anthropic-ratelimit-requests-remaining", "49")]);
/// let reply = Reply::new(snapshot, "the body").with_usage(Usage { input_tokens: 12, ..Usage::default() });
/// assert_eq!(reply.status(), Some(200));
/// assert_eq!(reply.into_value(), "the body");
/// assert_eq!(Reply::transport_error(()).status(), None);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply<V> {
    snapshot: Option<Snapshot>,
    usage: Option<Usage>,
    value: V,
}

impl<V> Reply<V> {
    /// A response, from its headers parsed with its status ([`crate::headers::parse`]).
    pub const fn new(snapshot: Snapshot, value: V) -> Self {
        Self {
            snapshot: Some(snapshot),
            usage: None,
            value,
        }
    }

    /// No response: the connection failed or timed out.
    pub const fn transport_error(value: V) -> Self {
        Self {
            snapshot: None,
            usage: None,
            value,
        }
    }

    /// The same reply with the body's `usage`.
    #[must_use]
    pub const fn with_usage(mut self, usage: Usage) -> Self {
        self.usage = Some(usage);
        self
    }

    /// The HTTP status; `None` for a transport error.
    pub const fn status(&self) -> Option<u16> {
        match &self.snapshot {
            Some(snapshot) => snapshot.status,
            None => None,
        }
    }

    /// The caller's value.
    pub const fn value(&self) -> &V {
        &self.value
    }

    /// The caller's value, by value.
    pub fn into_value(self) -> V {
        self.value
    }

    /// The engine's view of it.
    fn response(&self) -> Response<'_> {
        let response = self
            .snapshot
            .as_ref()
            .map_or_else(Response::transport_error, Response::new);
        match self.usage {
            Some(usage) => response.with_usage(usage),
            None => response,
        }
    }
}

/// Why [`Limiter::run`] ended without success.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RunError<V> {
    /// No permit: the request can never be admitted as asked, or the queue was full.
    Acquire(AcquireError),
    /// The engine gave up on the request, after the reply `last`.
    GaveUp {
        /// Why.
        why: GiveUp,
        /// The last attempt's value.
        last: V,
    },
    /// The permit outlived the policy's time-to-live and was reclaimed: the request took
    /// longer than the time-to-live allows.
    Reclaimed {
        /// The last attempt's value.
        last: V,
    },
}

impl<V> core::fmt::Display for RunError<V> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Acquire(why) => write!(f, "no permit: {why}"),
            Self::GaveUp { why, .. } => write!(f, "gave up: {why}"),
            Self::Reclaimed { .. } => f.write_str("permit reclaimed after its time-to-live"),
        }
    }
}

impl<V: core::fmt::Debug> core::error::Error for RunError<V> {}

impl<M: RawMutex, T: Timer, const LANES: usize, const PERMITS: usize, const WAITERS: usize>
    Limiter<M, T, LANES, PERMITS, WAITERS>
{
    /// Sends a request through the whole life cycle: waits for a permit, calls `send` with the
    /// attempt (its retry count is what the SDKs send as `x-stainless-retry-count`), completes
    /// with its [`Reply`], and retries at the instant the engine names, until the request is
    /// done (its value is returned) or given up.
    ///
    /// Dropping the future at any point hands the permit back (see [`super::Guard`]).
    ///
    /// # Errors
    ///
    /// [`RunError::Acquire`] when no permit can be had, [`RunError::GaveUp`] with the last
    /// reply's value when the engine gives up (a fatal status, attempts or budget exhausted).
    ///
    /// # Examples
    ///
    /// ```
    /// use headroom::limiter::{CriticalSectionRawMutex, Limiter, Reply, TokioTimer};
    /// use headroom::{Cost, LaneConfig, Policy, Priority, headers};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let limiter: Limiter<CriticalSectionRawMutex, TokioTimer, 1, 8, 16> =
    ///     Limiter::new(Policy::new(), TokioTimer::new());
    /// let lane = limiter.add_lane(LaneConfig::new()).unwrap();
    /// let rng = &mut rand::rng();
    /// // A server that is overloaded once, then answers.
    /// let body = limiter
    ///     .run(lane, Cost::request(100, 50), Priority::Interactive, rng, |attempt| async move {
    ///         let status = if attempt.retries() == 0 { 529 } else { 200 };
    ///         Reply::new(headers::parse(Some(status), [("request-id", "req_1")]), status)
    ///     })
    ///     .await;
    /// assert_eq!(body, Ok(200));
    /// # }
    /// ```
    pub async fn run<V, F, Fut, R>(
        &self,
        lane: LaneId,
        cost: Cost,
        priority: Priority,
        rng: &mut R,
        send: F,
    ) -> Result<V, RunError<V>>
    where
        F: FnMut(Attempt) -> Fut,
        Fut: Future<Output = Reply<V>>,
        R: Rng + ?Sized,
    {
        self.run_attempt(lane, cost, priority, Attempt::first(), rng, send)
            .await
    }

    /// [`Limiter::run`] from a given [`Attempt`]: a deadline for the whole run (no wait or
    /// retry is started that would end after it).
    ///
    /// # Errors
    ///
    /// As [`Limiter::run`].
    pub async fn run_attempt<V, F, Fut, R>(
        &self,
        lane: LaneId,
        cost: Cost,
        priority: Priority,
        attempt: Attempt,
        rng: &mut R,
        mut send: F,
    ) -> Result<V, RunError<V>>
    where
        F: FnMut(Attempt) -> Fut,
        Fut: Future<Output = Reply<V>>,
        R: Rng + ?Sized,
    {
        let mut guard = self
            .acquire_attempt(lane, cost, priority, attempt)
            .await
            .map_err(RunError::Acquire)?;
        loop {
            let reply = send(guard.attempt()).await;
            let retry = match guard.complete(&reply.response(), rng) {
                Ok(Outcome::Done) => return Ok(reply.into_value()),
                Ok(Outcome::GiveUp(why)) => {
                    return Err(RunError::GaveUp {
                        why,
                        last: reply.into_value(),
                    });
                }
                Ok(Outcome::Retry(retry)) => retry,
                Err(_) => {
                    return Err(RunError::Reclaimed {
                        last: reply.into_value(),
                    });
                }
            };
            guard = self
                .acquire_retry(&retry)
                .await
                .map_err(RunError::Acquire)?;
        }
    }
}
