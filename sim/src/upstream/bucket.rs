//! The provider's own token bucket: exact rational refill in integers, independent of the core's
//! GCRA so that it can judge the engine fairly.
//!
//! The level is kept in units of `1 / window_µs` tokens, so refilling `amount` tokens per window
//! adds exactly `amount` per microsecond and nothing is ever rounded: `level` is
//! `tokens × window_µs`. The level may go negative (debt), as a provider's does when actual
//! output exceeds what was reserved.

/// One exact, continuously refilled bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExactBucket {
    amount: u64,
    window_us: u64,
    capacity: u64,
    level: i128,
    at_us: u64,
    /// The level when full, `capacity × window_µs`, kept: every refill caps at it.
    full: i128,
}

impl ExactBucket {
    /// A full bucket refilling `amount` per `window_us`, holding at most `capacity` (≥ 1).
    ///
    /// # Examples
    ///
    /// ```
    /// use headroom_sim::upstream::ExactBucket;
    ///
    /// let mut rpm = ExactBucket::new(50, 60_000_000, 1);
    /// assert!(rpm.try_take(0, 1));
    /// assert!(!rpm.try_take(1_000_000, 1));
    /// assert_eq!(rpm.wait_us(1_000_000, 1), Some(200_000));
    /// assert!(rpm.try_take(1_200_000, 1));
    /// ```
    pub fn new(amount: u64, window_us: u64, capacity: u64) -> Self {
        let capacity = capacity.max(1);
        let window_us = window_us.max(1);
        let full = i128::from(capacity) * i128::from(window_us);
        Self {
            amount: amount.max(1),
            window_us,
            capacity,
            level: full,
            at_us: 0,
            full,
        }
    }

    fn units(&self, n: u64) -> i128 {
        i128::from(n) * i128::from(self.window_us)
    }

    /// Adds the refill up to `now` (a `now` in the past changes nothing).
    pub fn refill(&mut self, now: u64) {
        if now > self.at_us {
            let gained = i128::from(self.amount) * i128::from(now - self.at_us);
            self.level = self.level.saturating_add(gained).min(self.full);
            self.at_us = now;
        }
    }

    /// Whether `n` units fit now.
    pub fn fits(&mut self, now: u64, n: u64) -> bool {
        self.refill(now);
        self.level >= self.units(n)
    }

    /// Takes `n` units if they fit.
    pub fn try_take(&mut self, now: u64, n: u64) -> bool {
        let fits = self.fits(now, n);
        if fits {
            self.level -= self.units(n);
        }
        fits
    }

    /// Takes `n` units unconditionally (the level may go into debt).
    pub fn force_take(&mut self, now: u64, n: u64) {
        self.refill(now);
        self.level = self.level.saturating_sub(self.units(n));
    }

    /// Gives `n` units back, never above full.
    pub fn give_back(&mut self, now: u64, n: u64) {
        self.refill(now);
        self.level = self.level.saturating_add(self.units(n)).min(self.full);
    }

    /// Microseconds until `n` units fit (rounded up), or `None` if `n` is above the capacity.
    pub fn wait_us(&mut self, now: u64, n: u64) -> Option<u64> {
        if n > self.capacity {
            return None;
        }
        self.refill(now);
        let missing = self.units(n) - self.level;
        if missing <= 0 {
            return Some(0);
        }
        Some(div_ceil(missing, self.amount))
    }

    /// Whole units available now (0 in debt).
    pub fn remaining(&mut self, now: u64) -> u64 {
        self.refill(now);
        match u64::try_from(self.level.max(0)) {
            // The common case in 64 bits: 128-bit division is several times slower.
            Ok(level) => level / self.window_us,
            Err(_) => u64::MAX,
        }
    }

    /// The level now as a fraction of the capacity, in millionths (negative in debt), for plots.
    pub fn level_ppm(&mut self, now: u64) -> i64 {
        self.refill(now);
        i64::try_from(self.level * 1_000_000 / self.full.max(1)).unwrap_or(i64::MIN)
    }

    /// Microseconds until the bucket is full again (rounded up).
    pub fn time_to_full_us(&mut self, now: u64) -> u64 {
        self.refill(now);
        div_ceil(self.full - self.level, self.amount)
    }

    /// Changes the refill rate and the capacity from `now` on (a tier change): the level is
    /// kept, capped at the new capacity.
    ///
    /// # Examples
    ///
    /// ```
    /// use headroom_sim::upstream::ExactBucket;
    ///
    /// let mut rpm = ExactBucket::new(50, 60_000_000, 1);
    /// assert!(rpm.try_take(0, 1));
    /// rpm.set_rate(0, 100, 2);
    /// assert_eq!(rpm.wait_us(0, 1), Some(600_000));
    /// ```
    pub fn set_rate(&mut self, now: u64, amount: u64, capacity: u64) {
        self.refill(now);
        self.amount = amount.max(1);
        self.capacity = capacity.max(1);
        self.full = i128::from(self.capacity) * i128::from(self.window_us);
        self.level = self.level.min(self.full);
    }

    /// Units per window.
    pub fn amount(&self) -> u64 {
        self.amount
    }

    /// The most units the bucket holds (the burst).
    pub fn capacity(&self) -> u64 {
        self.capacity
    }
}

/// `⌈a / b⌉` for `a ≥ 0`, in 64 bits when `a` fits (the common case), saturating.
fn div_ceil(a: i128, b: u64) -> u64 {
    let b = b.max(1);
    match u64::try_from(a.max(0)) {
        Ok(a) => a.div_ceil(b),
        Err(_) => u64::try_from(a.div_euclid(i128::from(b)) + 1).unwrap_or(u64::MAX),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refill_is_exact_and_capped() {
        // 30 000 per minute = 0.5 per ms.
        let mut itpm = ExactBucket::new(30_000, 60_000_000, 30_000);
        assert!(itpm.try_take(0, 30_000));
        assert_eq!(itpm.remaining(1_999), 0);
        assert_eq!(itpm.remaining(2_000), 1);
        assert_eq!(itpm.wait_us(2_000, 2), Some(2_000));
        assert_eq!(itpm.remaining(600_000_000), 30_000);
        assert_eq!(itpm.wait_us(0, 30_001), None);
    }

    #[test]
    fn debt_and_refunds() {
        let mut otpm = ExactBucket::new(8_000, 60_000_000, 8_000);
        otpm.force_take(0, 10_000);
        assert_eq!(otpm.remaining(0), 0);
        assert_eq!(otpm.level_ppm(0), -250_000);
        assert_eq!(otpm.time_to_full_us(0), 75_000_000);
        otpm.give_back(0, 100_000);
        assert_eq!(otpm.remaining(0), 8_000);
        assert_eq!(otpm.time_to_full_us(0), 0);
    }

    #[test]
    fn rounding_up_of_waits() {
        // 3 500 per minute: one unit every 17 142.857… µs.
        let mut rpm = ExactBucket::new(3_500, 60_000_000, 1);
        assert!(rpm.try_take(0, 1));
        assert_eq!(rpm.wait_us(0, 1), Some(17_143));
        assert!(!rpm.fits(17_142, 1));
        assert!(rpm.fits(17_143, 1));
    }
}
