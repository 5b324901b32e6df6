//! rand_core 0.9 generators (`rand` 0.9's generators, embassy's HAL RNGs) as the engine's rand_core 0.10 [`rand_core::Rng`].

/// A rand_core 0.9 generator, usable wherever the engine asks for randomness.
///
/// # Examples
///
/// A hardware RNG driver written against rand_core 0.9 (here a stand-in that counts), passed
/// to [`crate::Policy::complete`]:
///
/// ```
/// use headroom::rng::Rng09;
/// use headroom::{Acquire, Cost, DefaultPolicy, LaneConfig, Priority, Response, headers, time::Instant};
///
/// struct HardwareRng(u32);
/// impl rand_core_09::RngCore for HardwareRng {
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
/// }
///
/// let mut policy = DefaultPolicy::new();
/// let lane = policy.add_lane(LaneConfig::new().provisional_requests(None)).unwrap();
/// let t0 = Instant::from_ticks(0);
/// let Acquire::Admit(permit) = policy.acquire(t0, lane, Cost::request(10, 10), Priority::Interactive) else {
///     unreachable!()
/// };
/// let overloaded = headers::parse(Some(529), [("x-should-retry", "true")]);
/// // Every draw is forwarded:
/// let draw = rand_core::Rng::next_u32(&mut Rng09(HardwareRng(7)));
/// assert_eq!(draw, rand_core_09::RngCore::next_u32(&mut HardwareRng(7)));
/// let mut rng = Rng09(HardwareRng(7));
/// let outcome = policy.complete(t0, permit, &Response::new(&overloaded), &mut rng).unwrap();
/// assert!(outcome.retry().is_some());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rng09<R>(pub R);

super::forward_draws!(Rng09, rand_core_09);
