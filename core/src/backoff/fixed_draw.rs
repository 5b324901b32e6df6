//! A constant "RNG" for doctests and for reproducing tables at a fixed draw.
//!
//! The SDK test tables are checked at `u = 0` and `u → 1`; jitter takes an `Rng`, so the fixed
//! draw is an `Rng` too rather than a second code path.

use rand_core::{Infallible, TryRng};

/// An "RNG" that returns the same draw forever: for doctests, for reproducing a table with a
/// fixed `u` (`FixedDraw(0)` is `u = 0`, `FixedDraw(u64::MAX)` is `u → 1`), and for turning
/// jitter off without changing the schedule. Never use it to jitter real traffic.
///
/// # Examples
///
/// ```
/// use headroom::backoff::FixedDraw;
/// use rand_core::Rng;
///
/// let mut rng = FixedDraw(7);
/// assert_eq!((rng.next_u64(), rng.next_u64()), (7, 7));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct FixedDraw(pub u64);

impl TryRng for FixedDraw {
    type Error = Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        // The low half, as rand_core's own adapters truncate.
        Ok(self.0 as u32)
    }

    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        Ok(self.0)
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        for chunk in dst.chunks_mut(8) {
            for (d, s) in chunk.iter_mut().zip(self.0.to_le_bytes()) {
                *d = s;
            }
        }
        Ok(())
    }
}
