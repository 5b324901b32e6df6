//! Clocks for programs with `std` (feature `std`): the engine's monotonic [`Instant`] and the
//! wall-clock [`UnixTime`].
//!
//! The engine reads no clock; these are the two a host program would otherwise write itself.
//! [`StdClock`] counts from its own creation on `std::time::Instant` (monotonic, never steps
//! back), [`SystemClock`] reads `SystemTime` for values compared with header dates.

extern crate std;

use crate::time::{Clock, Instant, UnixTime};

/// A monotonic [`Clock`] on `std::time::Instant`; instant 0 is its creation.
///
/// # Examples
///
/// ```
/// use headroom::stdtime::StdClock;
/// use headroom::time::Clock;
///
/// let clock = StdClock::new();
/// let (a, b) = (clock.now(), clock.now());
/// assert!(b >= a);
/// ```
#[derive(Debug, Clone, Copy)]
pub struct StdClock {
    origin: std::time::Instant,
}

impl StdClock {
    /// A clock whose instant 0 is now.
    pub fn new() -> Self {
        Self {
            origin: std::time::Instant::now(),
        }
    }
}

impl Default for StdClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for StdClock {
    fn now(&self) -> Instant {
        let micros = self.origin.elapsed().as_micros();
        Instant::from_ticks(u64::try_from(micros).unwrap_or(u64::MAX))
    }
}

/// The wall clock, as a [`UnixTime`] (a system clock set before 1970 reads as 1970).
///
/// # Examples
///
/// ```
/// use headroom::stdtime::SystemClock;
///
/// // Later than 2020-01-01.
/// assert!(SystemClock.now().as_micros() > 1_577_836_800_000_000);
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl SystemClock {
    /// The current wall-clock time.
    pub fn now(self) -> UnixTime {
        let since_epoch = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        UnixTime::from_micros(u64::try_from(since_epoch.as_micros()).unwrap_or(u64::MAX))
    }
}
