//! The guard around an admitted permit: complete it, cancel it, or drop it.
//!
//! A [`Guard`] is the async limiter's [`crate::Permit`]. Completing it is the end of the
//! engine's life cycle ([`crate::Policy::complete`]); dropping it without completing (a
//! timeout, a disconnected client, a panic in the sending code) hands the permit back keeping
//! its estimate (the request may have been sent and counted), so nothing leaks.

use embassy_sync::blocking_mutex::raw::RawMutex;
use rand_core::Rng;

use super::{Limiter, Timer};
use crate::backoff::Attempt;
use crate::classify::Outcome;
use crate::policy::{LaneId, Permit, PermitError, Response, Retry};

/// An admitted request's permit, handed back when the guard is completed, cancelled or dropped.
///
/// # Examples
///
/// ```
/// use headroom::limiter::{CriticalSectionRawMutex, Limiter, TokioTimer};
/// use headroom::{Cost, LaneConfig, Policy, Priority};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let limiter: Limiter<CriticalSectionRawMutex, TokioTimer, 1, 1, 4> =
///     Limiter::new(Policy::new(), TokioTimer::new());
/// let lane = limiter.add_lane(LaneConfig::new()).unwrap();
/// let guard = limiter.acquire(lane, Cost::request(10, 10), Priority::Interactive).await.unwrap();
/// assert_eq!(guard.attempt().retries(), 0);
/// drop(guard); // a cancelled request: the one slot is free again
/// assert_eq!(limiter.with_policy(|policy| policy.in_flight()), 0);
/// # }
/// ```
#[must_use = "dropping a guard at once hands its permit back"]
pub struct Guard<'a, M: RawMutex, T: Timer, const L: usize, const P: usize, const W: usize> {
    limiter: &'a Limiter<M, T, L, P, W>,
    /// `None` once handed back.
    permit: Option<Permit>,
}

impl<M: RawMutex, T: Timer, const L: usize, const P: usize, const W: usize> core::fmt::Debug
    for Guard<'_, M, T, L, P, W>
{
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Guard")
            .field("permit", &self.permit)
            .finish()
    }
}

impl<'a, M: RawMutex, T: Timer, const L: usize, const P: usize, const W: usize>
    Guard<'a, M, T, L, P, W>
{
    pub(super) const fn new(limiter: &'a Limiter<M, T, L, P, W>, permit: Permit) -> Self {
        Self {
            limiter,
            permit: Some(permit),
        }
    }

    /// The lane the request was admitted on.
    pub fn lane(&self) -> Option<LaneId> {
        self.permit.as_ref().map(Permit::lane)
    }

    /// The attempt this permit was admitted for: its retry count (for `x-stainless-retry-count`)
    /// and deadline. A first attempt once the permit is gone.
    pub fn attempt(&self) -> Attempt {
        self.permit
            .as_ref()
            .and_then(|permit| self.limiter.with_engine(|policy| policy.attempt(permit)))
            .unwrap_or_else(Attempt::first)
    }

    /// Ends the life cycle with what came back ([`crate::Policy::complete`]): done, retry (give
    /// the [`Retry`] to [`Limiter::acquire_retry`]) or give up.
    ///
    /// # Errors
    ///
    /// [`PermitError::Unknown`] if the permit outlived the policy's time-to-live and was
    /// reclaimed.
    pub fn complete<R: Rng + ?Sized>(
        mut self,
        response: &Response<'_>,
        rng: &mut R,
    ) -> Result<Outcome<Retry>, PermitError> {
        let permit = self.permit.take().ok_or(PermitError::Unknown)?;
        self.limiter
            .release(|policy, now| policy.complete(now, permit, response, rng))
    }

    /// Gives back everything the permit charged: the request was never sent
    /// ([`crate::Policy::cancel`]).
    ///
    /// # Errors
    ///
    /// [`PermitError::Unknown`] if the permit was reclaimed after its time-to-live.
    pub fn cancel(mut self) -> Result<(), PermitError> {
        let permit = self.permit.take().ok_or(PermitError::Unknown)?;
        self.limiter
            .release(|policy, now| policy.cancel(now, permit))
    }
}

impl<M: RawMutex, T: Timer, const L: usize, const P: usize, const W: usize> Drop
    for Guard<'_, M, T, L, P, W>
{
    fn drop(&mut self) {
        if let Some(permit) = self.permit.take() {
            // The estimate stands; a reclaimed permit has nothing left to give back.
            let _ = self
                .limiter
                .release(|policy, now| policy.settle(now, permit, None));
        }
    }
}
