//! The board's hardware random number generator, as its HAL hands it over.
//!
//! Embassy's HALs implement `rand_core` 0.9's `RngCore` (and 0.6's) on their RNG drivers
//! (`embassy_stm32::rng::Rng`, `embassy_nrf::rng::Rng`, `embassy_rp::clocks::RoscRng`); the
//! engine takes `rand_core` 0.10. `headroom::rng::Rng09` (feature `rand_core_09`) adapts one to
//! the other, so the driver is passed as `&mut Rng09(rng)`.
//!
//! This example runs on no particular board, so [`HwRng`] stands in for the driver: a
//! xorshift generator behind the same trait. With a HAL, delete it and pass the HAL's `Rng`.

/// A stand-in for a HAL's RNG driver: `rand_core` 0.9's `RngCore` over xorshift32.
#[derive(Debug)]
pub struct HwRng(u32);

impl HwRng {
    /// A generator seeded with `seed` (a zero seed is replaced: xorshift never leaves zero).
    pub const fn new(seed: u32) -> Self {
        Self(if seed == 0 { 0x9E37_79B9 } else { seed })
    }
}

impl rand_core_09::RngCore for HwRng {
    fn next_u32(&mut self) -> u32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 17;
        self.0 ^= self.0 << 5;
        self.0
    }

    fn next_u64(&mut self) -> u64 {
        (u64::from(self.next_u32()) << 32) | u64::from(self.next_u32())
    }

    fn fill_bytes(&mut self, dst: &mut [u8]) {
        for chunk in dst.chunks_mut(4) {
            let word = self.next_u32().to_le_bytes();
            chunk.copy_from_slice(&word[..chunk.len()]);
        }
    }
}
