//! rand_core 0.6 generators (an older HAL's hardware RNG) as the engine's rand_core 0.10 [`rand_core::Rng`].

use core::convert::Infallible;

/// A rand_core 0.6 generator, usable wherever the engine asks for randomness.
///
/// # Examples
///
/// A hardware RNG driver written against rand_core 0.6 (here a stand-in that counts), passed
/// to [`crate::Policy::complete`]:
///
/// ```
/// use headroom::rng::Rng06;
/// use headroom::{Acquire, Cost, DefaultPolicy, LaneConfig, Priority, Response, headers, time::Instant};
///
/// struct HardwareRng(u32);
/// impl rand_core_06::RngCore for HardwareRng {
///     fn next_u32(&mut self) -> u32 {
///         self.0 = self.0.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
///         self.0
///     }
///     fn next_u64(&mut self) -> u64 {
///         (u64::from(self.next_u32()) << 32) | u64::from(self.next_u32())
///     }
///     fn fill_bytes(&mut self, dst: &mut [u8]) {
///         dst.iter_mut().for_each(|byte| *byte = self.next_u32() as u8);
///     }
///     fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), rand_core_06::Error> {
///         self.fill_bytes(dst);
///         Ok(())
///     }
/// }
///
/// let mut policy = DefaultPolicy::new();
/// let lane = policy.add_lane(LaneConfig::new().provisional_requests(None)).unwrap();
/// let t0 = Instant::from_ticks(0);
/// let Acquire::Admit(permit) = policy.acquire(t0, lane, Cost::request(10, 10), Priority::Interactive) else {
///     unreachable!()
/// };
/// let overloaded = headers::parse(Some(529), [("x-should-retry", "true")]);
/// let mut rng = Rng06(HardwareRng(7));
/// let outcome = policy.complete(t0, permit, &Response::new(&overloaded), &mut rng).unwrap();
/// assert!(outcome.retry().is_some());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rng06<R>(pub R);

impl<R: rand_core_06::RngCore> rand_core::TryRng for Rng06<R> {
    type Error = Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        Ok(self.0.next_u32())
    }

    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        Ok(self.0.next_u64())
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        self.0.fill_bytes(dst);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_core::Rng as _;

    /// Answers its own draws in order, to show the adapter forwards each one.
    struct Script(u32);
    impl rand_core_06::RngCore for Script {
        fn next_u32(&mut self) -> u32 {
            self.0 = self.0.wrapping_add(1);
            self.0
        }
        fn next_u64(&mut self) -> u64 {
            u64::from(self.next_u32()) << 32
        }
        fn fill_bytes(&mut self, dst: &mut [u8]) {
            dst.fill(0xAB);
        }
        fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), rand_core_06::Error> {
            self.fill_bytes(dst);
            Ok(())
        }
    }

    #[test]
    fn every_draw_is_forwarded() {
        let mut rng = Rng06(Script(0));
        assert_eq!(rng.next_u32(), 1);
        assert_eq!(rng.next_u64(), 2 << 32);
        let mut bytes = [0u8; 3];
        rng.fill_bytes(&mut bytes);
        assert_eq!(bytes, [0xAB; 3]);
    }
}
