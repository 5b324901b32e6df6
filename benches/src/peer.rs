//! governor, the peer every wall-time and instruction-count ratio is quoted against, set up as
//! a competent governor user would for the same lane: one limiter per limit, chained
//! (`check_n(1)` on the RPM one, `check_n(input)` and `check_n(max_tokens)` on the token ones),
//! on a fake clock that the untimed setup advances. Without all-or-nothing: a refusal by the
//! second limiter leaves the first one charged (headroom pays for not doing that).
//!
//! ```
//! use governor::clock::FakeRelativeClock;
//! use headroom_benches::peer;
//!
//! let clock = FakeRelativeClock::default();
//! let chain = peer::chain(&clock);
//! assert!(peer::check_chain(&chain, peer::CHAIN_COSTS));
//! ```

use core::num::NonZeroU32;

use governor::clock::FakeRelativeClock;
use governor::{Quota, RateLimiter};

use crate::COST;

/// A governor limiter on a fake clock.
pub type Governor = RateLimiter<
    governor::state::NotKeyed,
    governor::state::InMemoryState,
    FakeRelativeClock,
    governor::middleware::NoOpMiddleware<governor::nanos::Nanos>,
>;

/// `n` as a `NonZeroU32`, 1 for 0.
pub const fn nz(n: u32) -> NonZeroU32 {
    match NonZeroU32::new(n) {
        Some(n) => n,
        None => NonZeroU32::MIN,
    }
}

/// One limiter of `per_minute` on `clock`.
pub fn limiter(per_minute: u32, clock: &FakeRelativeClock) -> Governor {
    RateLimiter::direct_with_clock(Quota::per_minute(nz(per_minute)), clock.clone())
}

/// The three limiters of the bench lane (4 000 RPM, 2 000 000 ITPM, 400 000 OTPM, as
/// [`crate::three_bucket_lane`]).
pub fn chain(clock: &FakeRelativeClock) -> [Governor; 3] {
    [
        limiter(4_000, clock),
        limiter(2_000_000, clock),
        limiter(400_000, clock),
    ]
}

/// `n` as a `NonZeroU32` for a limiter's `check_n`: 1 for 0, `u32::MAX` above it.
pub const fn nz64(n: u64) -> NonZeroU32 {
    if n > u32::MAX as u64 {
        NonZeroU32::MAX
    } else {
        nz(n as u32)
    }
}

/// What one request of [`COST`] asks of each limiter of [`chain`].
pub const CHAIN_COSTS: [NonZeroU32; 3] = [
    NonZeroU32::MIN,
    nz64(COST.input_tokens()),
    nz64(COST.max_tokens()),
];

/// The three limiters checked in turn, as a governor user writes it: whether all three
/// admitted.
#[inline]
pub fn check_chain(chain: &[Governor; 3], costs: [NonZeroU32; 3]) -> bool {
    let [rpm, itpm, otpm] = chain;
    let [one, input, output] = costs;
    rpm.check_n(one).is_ok_and(|r| r.is_ok())
        && itpm.check_n(input).is_ok_and(|r| r.is_ok())
        && otpm.check_n(output).is_ok_and(|r| r.is_ok())
}
