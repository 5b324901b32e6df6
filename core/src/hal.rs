//! Waiting out a [`crate::Acquire::Wait`] on an embedded target, with `embedded-hal`'s `DelayNs`.
//!
//! The engine never sleeps; it names the instant to come back. On a bare-metal gateway the
//! simplest caller is a blocking loop: ask, sleep until the named instant, ask again. This module
//! is that loop and nothing else: no decision depends on it.

use embedded_hal::delay::DelayNs;

use crate::time::Clock;
use crate::{Acquire, Cost, LaneId, Permit, Policy, Priority, Rejection};

/// Asks for a permit, sleeping with `delay` through every `Wait` until the request is admitted.
///
/// `clock` must advance while `delay` sleeps (as a hardware timer does); a clock that stands
/// still makes this loop wait forever. Waits longer than `u32::MAX` µs are slept in pieces.
///
/// # Errors
///
/// The [`Rejection`] when the request can never be admitted as asked.
///
/// # Examples
///
/// ```
/// use headroom::hal::acquire_blocking;
/// use headroom::time::{self, Clock, ManualClock};
/// use headroom::{Cost, LaneConfig, Limit, Policy, Priority, nz};
///
/// // A delay that moves a manual clock, as a hardware timer would move by itself.
/// struct Sleep<'a>(&'a ManualClock);
/// impl embedded_hal::delay::DelayNs for Sleep<'_> {
///     fn delay_ns(&mut self, ns: u32) {
///         self.0.advance(time::micros(u64::from(ns).div_ceil(1_000)));
///     }
/// }
///
/// let clock = ManualClock::new();
/// let mut policy: Policy<1, 4> = Policy::new();
/// let lane = policy.add_lane(LaneConfig::new().requests(Limit::per_minute(nz!(60)))).unwrap();
/// let mut sleep = Sleep(&clock);
/// for _ in 0..3 {
///     let permit = acquire_blocking(&mut policy, &clock, &mut sleep, lane, Cost::request(1, 1), Priority::Interactive).unwrap();
///     policy.settle(clock.now(), permit, None).unwrap();
/// }
/// // 60 RPM: the third request went out two seconds after the first.
/// assert_eq!(clock.now().as_ticks(), 2_000_000);
/// ```
pub fn acquire_blocking<C, D, const LANES: usize, const PERMITS: usize>(
    policy: &mut Policy<LANES, PERMITS>,
    clock: &C,
    delay: &mut D,
    lane: LaneId,
    cost: Cost,
    priority: Priority,
) -> Result<Permit, Rejection>
where
    C: Clock + ?Sized,
    D: DelayNs + ?Sized,
{
    loop {
        match policy.acquire(clock.now(), lane, cost, priority) {
            Acquire::Admit(permit) => return Ok(permit),
            Acquire::Reject(rejection) => return Err(rejection),
            Acquire::Wait { until, .. } => {
                let wait = until.as_ticks().saturating_sub(clock.now().as_ticks());
                delay.delay_us(u32::try_from(wait).unwrap_or(u32::MAX));
            }
        }
    }
}
