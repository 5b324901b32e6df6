//! Helpers shared by the unit tests: limits and instants in the units the tests think in.

use core::num::NonZeroU32;

use crate::Limit;
use crate::time::Instant;

/// `n` per minute; `n` must not be 0.
pub(crate) fn per_minute(n: u32) -> Limit {
    Limit::per_minute(NonZeroU32::new(n).unwrap())
}

/// The instant `ms` milliseconds after tick 0.
pub(crate) fn at_ms(ms: u64) -> Instant {
    Instant::from_ticks(ms.checked_mul(1_000).unwrap())
}
