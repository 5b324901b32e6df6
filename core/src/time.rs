//! Time as the engine sees it: injected, monotonic, in microseconds.
//!
//! headroom never reads a clock. Every decision takes `now` as an argument and answers with the
//! instant to come back at, as smoltcp's `poll()`/`poll_at()` do. That keeps the engine
//! deterministic (a simulator can drive millions of virtual requests) and lets the same code run
//! on a Cortex-M timer or on `std::time::Instant`.
//!
//! * [`Instant`] and [`Duration`] are fugit's 64-bit microsecond types. At 1 MHz a `u64` wraps
//!   after 584 000 years, so the engine never has to think about wrap-around; 32-bit hardware
//!   counters must be widened before they get here.
//! * Wall-clock values found in headers (RFC 3339 resets, `Date`) are a separate type,
//!   [`UnixTime`], and are never mixed with [`Instant`]: an absolute reset is turned into a
//!   monotonic instant through the *same response's* `Date` header (`reset − date`), so no local
//!   wall clock is needed at all.
//! * Only `checked_*`/`saturating_*` arithmetic is used on fugit types; fugit's operators panic in
//!   debug builds and wrap in release builds. A `now` earlier than a previous `now` simply means
//!   "no time has passed" wherever the difference matters.

use core::cell::Cell;

/// A point on the caller's monotonic clock, in microseconds since an arbitrary origin.
///
/// # Examples
///
/// ```
/// use headroom::time::{self, Instant};
///
/// let start = Instant::from_ticks(0);
/// let later = start.checked_add_duration(time::millis(1500)).unwrap();
/// assert_eq!(later.as_ticks(), 1_500_000);
/// ```
pub type Instant = fugit::MonotonicTimerInstantU64<1_000_000>;

/// A span of time in microseconds.
///
/// # Examples
///
/// ```
/// use headroom::time::{self, Duration};
///
/// let two: Duration = time::secs(2);
/// assert_eq!(two.as_ticks(), 2_000_000);
/// ```
pub type Duration = fugit::MicrosDurationU64;

/// A source of the current [`Instant`], for callers that prefer to pass a clock around.
///
/// The engine itself only ever takes `now: Instant`; this trait exists for convenience wrappers
/// and for the simulator's virtual clock.
///
/// # Examples
///
/// ```
/// use headroom::time::{self, Clock, ManualClock};
///
/// let clock = ManualClock::new();
/// clock.advance(time::secs(1));
/// assert_eq!(clock.now().as_ticks(), 1_000_000);
/// ```
pub trait Clock {
    /// The current instant. Successive calls should not go backwards; if they do, the engine
    /// treats the earlier value as "no time has passed".
    fn now(&self) -> Instant;
}

/// A clock that moves only when told to: for tests, examples and simulations.
///
/// # Examples
///
/// ```
/// use headroom::time::{self, Clock, Instant, ManualClock};
///
/// let clock = ManualClock::starting_at(Instant::from_ticks(5));
/// clock.advance(time::micros(10));
/// assert_eq!(clock.now(), Instant::from_ticks(15));
/// clock.set(Instant::from_ticks(3)); // going backwards is allowed; the engine copes
/// assert_eq!(clock.now(), Instant::from_ticks(3));
/// ```
#[derive(Debug, Default)]
pub struct ManualClock {
    now: Cell<u64>,
}

impl ManualClock {
    /// A clock at tick 0.
    pub const fn new() -> Self {
        Self { now: Cell::new(0) }
    }

    /// A clock at `start`.
    pub const fn starting_at(start: Instant) -> Self {
        Self {
            now: Cell::new(start.as_ticks()),
        }
    }

    /// Moves the clock forward by `by`, saturating at the end of time.
    pub fn advance(&self, by: Duration) {
        self.now.set(self.now.get().saturating_add(by.as_ticks()));
    }

    /// Sets the clock to `to`, forwards or backwards.
    pub fn set(&self, to: Instant) {
        self.now.set(to.as_ticks());
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Instant {
        Instant::from_ticks(self.now.get())
    }
}

/// A wall-clock time as found in HTTP headers: microseconds since 1970-01-01T00:00:00Z.
///
/// Times before the Unix epoch are not representable; parsers report them as errors. The
/// microsecond resolution holds RFC 3339 fractional seconds down to the microsecond; finer
/// digits are truncated.
///
/// # Examples
///
/// ```
/// use headroom::time::{self, UnixTime};
///
/// let date = UnixTime::from_secs(1_696_004_797);
/// let reset = UnixTime::from_secs(1_696_004_817);
/// assert_eq!(reset.checked_duration_since(date), Some(time::secs(20)));
/// assert_eq!(date.checked_duration_since(reset), None);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct UnixTime {
    micros: u64,
}

impl UnixTime {
    /// The Unix epoch, 1970-01-01T00:00:00Z.
    pub const EPOCH: Self = Self { micros: 0 };

    /// From whole seconds since the epoch, saturating at the largest representable time.
    pub const fn from_secs(secs: u64) -> Self {
        Self {
            micros: secs.saturating_mul(1_000_000),
        }
    }

    /// From microseconds since the epoch.
    pub const fn from_micros(micros: u64) -> Self {
        Self { micros }
    }

    /// Whole seconds since the epoch (truncated).
    pub const fn as_secs(self) -> u64 {
        self.micros / 1_000_000
    }

    /// Microseconds since the epoch.
    pub const fn as_micros(self) -> u64 {
        self.micros
    }

    /// How long after `earlier` this time is; `None` if it is before `earlier`.
    pub const fn checked_duration_since(self, earlier: Self) -> Option<Duration> {
        match self.micros.checked_sub(earlier.micros) {
            Some(micros) => Some(Duration::from_ticks(micros)),
            None => None,
        }
    }

    /// How long after `earlier` this time is, or zero if it is not after it.
    ///
    /// This is the rule for resets: a reset at or before the response's `Date` means "full now".
    pub const fn saturating_duration_since(self, earlier: Self) -> Duration {
        Duration::from_ticks(self.micros.saturating_sub(earlier.micros))
    }

    /// This time moved forward by `by`; `None` past the end of representable time.
    pub const fn checked_add(self, by: Duration) -> Option<Self> {
        match self.micros.checked_add(by.as_ticks()) {
            Some(micros) => Some(Self { micros }),
            None => None,
        }
    }
}

/// A duration of `micros` microseconds.
///
/// fugit's own unit constructors (`Duration::from_secs`, …) panic on overflow; these saturate.
///
/// # Examples
///
/// ```
/// use headroom::time;
///
/// assert_eq!(time::micros(7).as_ticks(), 7);
/// assert_eq!(time::millis(7).as_ticks(), 7_000);
/// assert_eq!(time::secs(7).as_ticks(), 7_000_000);
/// assert_eq!(time::secs(u64::MAX).as_ticks(), u64::MAX);
/// ```
pub const fn micros(micros: u64) -> Duration {
    Duration::from_ticks(micros)
}

/// A duration of `millis` milliseconds, saturating at [`Duration::MAX`].
pub const fn millis(millis: u64) -> Duration {
    Duration::from_ticks(millis.saturating_mul(1_000))
}

/// A duration of `secs` seconds, saturating at [`Duration::MAX`].
pub const fn secs(secs: u64) -> Duration {
    Duration::from_ticks(secs.saturating_mul(1_000_000))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_saturates_at_end_of_time() {
        let clock = ManualClock::starting_at(Instant::from_ticks(u64::MAX - 1));
        clock.advance(secs(10));
        assert_eq!(clock.now().as_ticks(), u64::MAX);
    }

    #[test]
    fn unix_time_saturates_and_checks() {
        assert_eq!(UnixTime::from_secs(u64::MAX).as_micros(), u64::MAX);
        assert_eq!(UnixTime::from_micros(u64::MAX).checked_add(micros(1)), None);
        assert_eq!(
            UnixTime::from_secs(5).saturating_duration_since(UnixTime::from_secs(9)),
            Duration::ZERO
        );
    }
}
