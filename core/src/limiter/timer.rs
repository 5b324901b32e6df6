//! The limiter's two questions to the outside world: what time is it, and wake me at `t`.
//!
//! The engine never reads a clock; the async limiter must, to sleep out a `Wait`. That is all
//! this trait asks of an executor's timer, so the limiter runs under any executor: embassy
//! (`embassy-time`), tokio (`tokio`), or a few lines of the caller's own.

use core::future::Future;

use crate::time::Instant;

/// A monotonic clock that can sleep: "now" in the engine's microseconds, and a future that
/// completes at or after an instant.
///
/// # Examples
///
/// A timer over any [`crate::time::Clock`] whose sleeps are someone else's business (here a
/// test that never sleeps):
///
/// ```
/// use headroom::limiter::Timer;
/// use headroom::time::{Clock, Instant, ManualClock};
///
/// struct Never(ManualClock);
/// impl Timer for Never {
///     fn now(&self) -> Instant {
///         self.0.now()
///     }
///     async fn sleep_until(&self, _at: Instant) {
///         core::future::pending::<()>().await
///     }
/// }
/// assert_eq!(Never(ManualClock::new()).now(), Instant::from_ticks(0));
/// ```
pub trait Timer {
    /// The current instant. Successive calls should not go backwards.
    fn now(&self) -> Instant;

    /// Completes at `at` or later (at once if `at` is past).
    fn sleep_until(&self, at: Instant) -> impl Future<Output = ()>;
}

/// [`Timer`] for tokio: tokio's clock, so tests with paused time (`start_paused = true`) run
/// the limiter deterministically and instantly.
///
/// Instants count microseconds from the timer's creation.
///
/// # Examples
///
/// ```
/// use headroom::limiter::{Timer, TokioTimer};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let timer = TokioTimer::new();
/// timer.sleep_until(headroom::time::Instant::from_ticks(1_500_000)).await;
/// assert_eq!(timer.now().as_ticks(), 1_500_000);
/// # }
/// ```
#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
#[derive(Debug, Clone, Copy)]
pub struct TokioTimer {
    origin: tokio::time::Instant,
}

#[cfg(feature = "tokio")]
impl TokioTimer {
    /// A timer whose instant 0 is now.
    pub fn new() -> Self {
        Self {
            origin: tokio::time::Instant::now(),
        }
    }
}

#[cfg(feature = "tokio")]
impl Default for TokioTimer {
    fn default() -> Self {
        Self::new()
    }
}

/// A hundred years, in µs.
#[cfg(feature = "tokio")]
const CENTURY_US: u64 = 100 * 365 * 86_400 * 1_000_000;

#[cfg(feature = "tokio")]
impl Timer for TokioTimer {
    fn now(&self) -> Instant {
        let micros = self.origin.elapsed().as_micros();
        Instant::from_ticks(u64::try_from(micros).unwrap_or(u64::MAX))
    }

    fn sleep_until(&self, at: Instant) -> impl Future<Output = ()> {
        // A century is as good as never, and keeps the sum inside tokio's range.
        let after = core::time::Duration::from_micros(at.as_ticks().min(CENTURY_US));
        tokio::time::sleep_until(self.origin.checked_add(after).unwrap_or(self.origin))
    }
}

/// [`Timer`] for embassy: `embassy_time::Instant::now()` and `embassy_time::Timer::at`.
///
/// Instants are embassy's ticks converted to microseconds, so the engine's instants and
/// embassy's agree whatever the tick rate.
///
/// # Examples
///
/// ```no_run
/// use headroom::limiter::{EmbassyTimer, Timer};
///
/// pub async fn pause() {
///     let timer = EmbassyTimer;
///     let later = timer.now().checked_add_duration(headroom::time::millis(10)).unwrap();
///     timer.sleep_until(later).await;
/// }
/// # let _ = pause();
/// ```
#[cfg(feature = "embassy-time")]
#[cfg_attr(docsrs, doc(cfg(feature = "embassy-time")))]
#[derive(Debug, Clone, Copy, Default)]
pub struct EmbassyTimer;

#[cfg(feature = "embassy-time")]
impl Timer for EmbassyTimer {
    fn now(&self) -> Instant {
        Instant::from_ticks(embassy_time::Instant::now().as_micros())
    }

    fn sleep_until(&self, at: Instant) -> impl Future<Output = ()> {
        embassy_time::Timer::at(embassy_time::Instant::from_micros(at.as_ticks()))
    }
}
