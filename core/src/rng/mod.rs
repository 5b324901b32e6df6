//! Randomness from older `rand_core` versions: adapters into the engine's rand_core 0.10.
//!
//! The engine takes its randomness (retry jitter) as a `rand_core` 0.10 [`rand_core::Rng`].
//! Generators written against rand_core 0.6 (older HALs' hardware RNGs) or 0.9 (`rand` 0.9's
//! `rand::rng()`, embassy's current HAL RNGs) implement another crate's trait of the same
//! name, and the compiler says so in a way that is easy to misread:
//!
//! ```text
//! error[E0277]: the trait bound `ThreadRng: rand_core::Rng` is not satisfied
//!     |
//!     |     policy.complete(now, permit, &response, &mut rand::rng())
//!     |            -------- ^^^^^^^^^^^^^^^^ the trait `rand_core::Rng` is not implemented for `ThreadRng`
//!     |
//! note: there are multiple different versions of crate `rand_core` in the dependency graph
//! ```
//!
//! Wrap the generator instead: [`Rng06`] (feature `rand_core_06`) or [`Rng09`] (feature
//! `rand_core_09`). Each forwards every draw and nothing else.

/// Implements rand_core 0.10's `TryRng` (and so `Rng`) for an adapter over another version's
/// `RngCore`: every draw forwarded, infallibly.
macro_rules! forward_draws {
    ($adapter:ident, $krate:ident) => {
        impl<R: $krate::RngCore> rand_core::TryRng for $adapter<R> {
            type Error = core::convert::Infallible;

            fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
                Ok(self.0.next_u32())
            }

            fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
                Ok(self.0.next_u64())
            }

            fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
                self.0.fill_bytes(dst);
                Ok(())
            }
        }
    };
}
use forward_draws;

#[cfg(feature = "rand_core_06")]
mod v06;
#[cfg(feature = "rand_core_09")]
mod v09;

#[cfg(feature = "rand_core_06")]
#[cfg_attr(docsrs, doc(cfg(feature = "rand_core_06")))]
pub use v06::Rng06;
#[cfg(feature = "rand_core_09")]
#[cfg_attr(docsrs, doc(cfg(feature = "rand_core_09")))]
pub use v09::Rng09;
