//! What paces a lane's sends while the shared store does not answer.
//!
//! With a store, the local engine is the lane's line (its order, its retries) at the full
//! limits, and the store is the gate: many requests can hold a local permit while they wait
//! for the store. When the store stops answering, those requests must not go out on permits
//! the local engine gave at the full limits (in the four-proxy test that is a burst of a
//! hundred requests into a provider bucket the store had kept near empty). They go out through
//! this gate instead: the core's buckets at `--fallback-permille` of the lane's limits,
//! **empty when the outage begins**, since what the other proxies used of the key is unknown.
//! A charge above a fallback burst waits for a full bucket and takes all of it.
//!
//! The gate lives for one outage: every lane's is dropped when the store answers again, and the
//! next outage starts from empty again. What goes out through it is owed to the store
//! ([`super::lanes::Owed`]).

use headroom::time::Instant;
use headroom::{Bucket, LaneConfig, LimitKind};

/// A lane's buckets at its fallback share (see the module docs).
#[derive(Debug, Clone)]
pub struct Fallback {
    buckets: [Option<Bucket>; 4],
}

impl Fallback {
    /// Buckets at `config`'s limits (the lane at its fallback share), empty at `now`.
    ///
    /// # Examples
    ///
    /// ```
    /// use headroom::{LaneConfig, Limit, nz, time::Instant};
    /// use headroom_sim::proxy::fallback::Fallback;
    ///
    /// // 60 requests a minute: one a second, and nothing at the start.
    /// let t0 = Instant::from_ticks(5_000_000);
    /// let mut gate = Fallback::empty(&LaneConfig::new().requests(Limit::per_minute(nz!(60))), t0);
    /// assert_eq!(gate.take(t0, [1, 0, 0, 0]), Err(Instant::from_ticks(6_000_000)));
    /// assert_eq!(gate.take(Instant::from_ticks(6_000_000), [1, 0, 0, 0]), Ok(()));
    /// ```
    pub fn empty(config: &LaneConfig, now: Instant) -> Self {
        let buckets = LimitKind::ALL.map(|kind| {
            config.limit(kind).map(|limit| {
                let mut bucket = Bucket::new(kind, limit);
                // A new bucket is full; its whole burst fits, so this cannot fail.
                let _ = bucket.try_take(now, u64::from(bucket.burst()));
                bucket
            })
        });
        Self { buckets }
    }

    /// Takes `charges` (by [`LimitKind::index`]) from every bucket if all hold them at `now`;
    /// otherwise nothing, and the instant from which all will.
    ///
    /// # Errors
    ///
    /// The instant at which every charge fits, when one does not fit now.
    pub fn take(&mut self, now: Instant, charges: [u64; 4]) -> Result<(), Instant> {
        let mut fits_at = now;
        for (bucket, charge) in self.buckets.iter_mut().zip(charges) {
            if let Some(bucket) = bucket {
                let charge = charge.min(u64::from(bucket.burst()));
                if bucket.available(now) < charge {
                    // A charge within the burst always fits at some instant.
                    let until = bucket.try_take(now, charge).err().flatten().unwrap_or(now);
                    fits_at = fits_at.max(until);
                }
            }
        }
        if fits_at > now {
            return Err(fits_at);
        }
        for (bucket, charge) in self.buckets.iter_mut().zip(charges) {
            if let Some(bucket) = bucket {
                let charge = charge.min(u64::from(bucket.burst()));
                let _ = bucket.try_take(now, charge);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use headroom::{Limit, nz};

    fn at(ms: u64) -> Instant {
        Instant::from_ticks(ms * 1_000)
    }

    #[test]
    fn all_or_nothing_across_the_buckets() {
        // 60 requests and 6 000 input tokens a minute: 1 request and 100 tokens a second.
        let config = LaneConfig::new()
            .requests(Limit::per_minute(nz!(60)))
            .input_tokens(Limit::per_minute(nz!(6_000)));
        let mut gate = Fallback::empty(&config, at(0));
        // After 2 s the request bucket holds 1 (its burst), the token one 200: 300 waits for
        // the tokens, and the refusal charged neither bucket.
        assert_eq!(gate.take(at(2_000), [1, 300, 0, 0]), Err(at(3_000)));
        assert_eq!(gate.take(at(2_000), [1, 200, 0, 0]), Ok(()));
        // The request bucket is empty again: one second for the next, whatever its tokens.
        assert_eq!(gate.take(at(2_000), [1, 0, 0, 0]), Err(at(3_000)));
    }

    #[test]
    fn a_charge_above_the_burst_waits_for_a_full_bucket_and_takes_it() {
        let config = LaneConfig::new().input_tokens(Limit::per_minute(nz!(6_000)));
        let mut gate = Fallback::empty(&config, at(0));
        let burst = 6_000;
        assert_eq!(gate.take(at(0), [0, burst * 3, 0, 0]), Err(at(60_000)));
        assert_eq!(gate.take(at(60_000), [0, burst * 3, 0, 0]), Ok(()));
        assert_eq!(gate.take(at(60_000), [0, 1, 0, 0]), Err(at(60_010)));
    }

    #[test]
    fn a_lane_without_limits_is_never_held() {
        let mut gate = Fallback::empty(&LaneConfig::new(), at(0));
        assert_eq!(gate.take(at(0), [1, 1_000_000, 0, 0]), Ok(()));
    }
}
