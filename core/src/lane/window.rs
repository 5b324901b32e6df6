//! The provider's window: what the server's own bucket holds, as far as its headers tell, and
//! how much of it is ours to take.
//!
//! # Two constraints per limit
//!
//! Each limit of a lane is metered twice. The *pace* (the lane's plain [`Bucket`]) has the
//! configured burst and is refilled by time alone: no header ever raises it, so whatever a
//! server, a proxy or a stale response says, admissions over any interval stay within
//! `burst + rate × interval` (guarantee 1). The *window*, this module, models the provider's
//! bucket: its capacity is the limit's whole amount (a minute's worth), it is charged like the
//! pace, and every response's `remaining` corrects it — down at once, up only as far as the
//! window's own refill since the last correction allows (a lying `remaining = limit` cannot
//! conjure quota faster than the limit refills). Admission needs room in both.
//!
//! # Sharing a key without coordination
//!
//! Several clients (gateways, pods, another service, the Console) may spend one key. Each sees
//! the whole key's `remaining` in its headers; if each admitted against all of it, N clients
//! would overdraw N-fold. So the window learns how much of the key is being spent by others:
//!
//! * **Foreign rate.** Between two corrections the server's level should have moved by its refill
//!   minus what we spent and the server has counted (`own`): `predicted = min(C, R₀ + r·Δt) − own`.
//!   What it actually reports, `R₁`, is lower by what others spent. `(predicted − R₁) / Δt` is a
//!   sample of the foreign rate `f`, folded into a moving average (weight 1/4, signed so that
//!   noise averages out; samples closer than [`MIN_SAMPLE_US`] apart are merged, and Anthropic's
//!   rounding of token counts to the thousand is taken off each sample as a dead band).
//! * **Our share.** The window then refills at `r − f` instead of `r`, and a correction sets its
//!   level to our share of what the server reports: `(R₁ − f·h) · (r − f) / r − unseen`, with
//!   `h` the reaction horizon (the policy's transit allowance: what others spend before our
//!   next request lands). With N equal clients the fixed point is `f = (N − 1)·r / N`: each one
//!   refills at `r / N` and claims `1 / N` of the level, and together they fit the key. The
//!   average moves by a quarter of the error per sample, which keeps the N coupled estimates
//!   from oscillating (the loop gain is `N / 4` per sample before damping by the next sync).
//!   A client that stops spending is seen as a falling foreign rate, so the others speed up:
//!   unlike a static split, a skewed load is not held to `1 / N` each.
//! * **Burst.** A provider may enforce a per-minute limit over shorter slices than we assume. A
//!   429 on this limit while our own window still had room is evidence of that: the assumed
//!   capacity is halved (down to the request's own cost). A later `remaining` above the assumed
//!   capacity is evidence the other way and raises it again.

use crate::bucket::Bucket;
use crate::{Limit, LimitKind};

/// Samples of the foreign rate are taken at most this often (µs); closer syncs still correct
/// the level but wait to be folded into the rate.
pub(crate) const MIN_SAMPLE_US: u64 = 2_000_000;

/// The share of the limit a client always keeps, whatever it estimates others spend: 1/64.
const MIN_SHARE_SHIFT: u32 = 6;

/// The provider's side of one limit.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub(crate) struct Window {
    /// Refills at our share of the limit; its burst is the assumed provider capacity.
    pub(crate) bucket: Bucket,
    /// Assumed provider capacity, in units (at most the limit's amount).
    capacity: u32,
    /// Estimated spending by others, in units per window of the limit (signed: a moving
    /// average of noisy samples).
    foreign: i32,
    /// Our charges on this limit so far (units, wrapping): the server has seen all but the
    /// unseen ones.
    own_total: u32,
    /// The last correction that a foreign-rate sample was taken against.
    sample: Option<Sample>,
    /// The level the last correction set, and when (for the raise ceiling).
    synced: Option<Synced>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
struct Sample {
    at: u64,
    reported: u32,
    own_seen: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
struct Synced {
    at: u64,
    level: i32,
}

/// One response's view of this limit, as the sync hands it over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Report {
    /// `remaining`, already read down for rounding.
    pub(crate) remaining: u64,
    /// What our in-flight requests charged that the server may not have counted.
    pub(crate) unseen: u64,
    /// The rounding the dialect applies to `remaining` (a dead band for samples).
    pub(crate) rounding: u64,
    /// The reaction horizon, µs.
    pub(crate) horizon_us: u64,
    /// Whether this is the newest response (it may raise the level); older ones only lower.
    pub(crate) newest: bool,
}

impl Window {
    pub(crate) fn new(kind: LimitKind, limit: Limit) -> Self {
        let capacity = limit.amount();
        let mut bucket = Bucket::new(kind, limit);
        bucket.retune(0, capacity, capacity);
        Self {
            bucket,
            capacity,
            foreign: 0,
            own_total: 0,
            sample: None,
            synced: None,
        }
    }

    /// The provider's limit.
    pub(crate) fn limit(&self) -> Limit {
        self.bucket.limit()
    }

    /// Estimated spending by others, units per window (never negative).
    pub(crate) fn foreign(&self) -> u32 {
        u32::try_from(self.foreign.max(0)).unwrap_or(0)
    }

    /// Our share of the limit's rate, units per window: the amount less the foreign rate, at
    /// least 1/64 of the amount.
    pub(crate) fn share(&self) -> u32 {
        let amount = self.limit().amount();
        let floor = (amount >> MIN_SHARE_SHIFT).max(1);
        amount.saturating_sub(self.foreign()).max(floor)
    }

    /// Counts a charge (or, negative, a refund) of ours on this limit. The counter wraps: only
    /// differences between two samples are read, and those are far below 2^31.
    pub(crate) fn count_own(&mut self, charged: u64, actual: u64) {
        self.own_total = self
            .own_total
            .wrapping_add(actual as u32)
            .wrapping_sub(charged as u32);
    }

    /// Counts a new admission's charge.
    pub(crate) fn count_admitted(&mut self, charge: u64) {
        self.own_total = self.own_total.wrapping_add(charge as u32);
    }

    /// The provider reported a new limit: rescale, keeping the level and the learned share.
    pub(crate) fn set_limit(&mut self, now: u64, kind: LimitKind, limit: Limit) {
        let old = self.limit().amount();
        let level = self.bucket.level(now);
        self.bucket = Bucket::new(kind, limit);
        let amount = limit.amount();
        self.capacity = if self.capacity >= old {
            amount
        } else {
            scale(self.capacity, amount, old).clamp(1, amount)
        };
        self.foreign = i32::try_from(scale(self.foreign(), amount, old)).unwrap_or(i32::MAX);
        self.sample = None;
        // The raise ceiling keeps the used fraction, as the pace does: a tier upgrade reported
        // by the server may be followed at once, in proportion.
        if let Some(synced) = &mut self.synced {
            let level = u32::try_from(synced.level.max(0)).unwrap_or(0);
            synced.level = i32::try_from(scale(level, amount, old)).unwrap_or(i32::MAX);
        }
        self.bucket.retune(now, self.share(), self.capacity);
        self.bucket
            .set_units(now, level.min(i64::from(self.capacity)));
    }

    /// A 429 on this limit: if the window had room for `cost`, the provider's burst is smaller
    /// than assumed — halve the assumed capacity (not below `cost`).
    pub(crate) fn refused(&mut self, now: u64, cost: u64) {
        if self.bucket.level(now) < i64::try_from(cost).unwrap_or(i64::MAX) {
            return;
        }
        let cost = u32::try_from(cost).unwrap_or(u32::MAX);
        let halved = (self.capacity / 2).max(cost).max(1);
        if halved < self.capacity {
            self.capacity = halved;
            self.bucket.retune(now, self.share(), self.capacity);
        }
    }

    /// Folds one response's `remaining` in at `now`.
    pub(crate) fn correct(&mut self, now: u64, report: Report) {
        let amount = u64::from(self.limit().amount());
        let remaining = report.remaining.min(amount);
        if report.newest {
            self.learn_capacity(remaining);
            self.sample_foreign(now, remaining, &report);
        }
        self.bucket.retune(now, self.share(), self.capacity);
        let share = u64::from(self.share());
        let lag = mul_div(
            u64::from(self.foreign()),
            report.horizon_us,
            self.window_us(),
        );
        let ours = mul_div(remaining.saturating_sub(lag), share, amount);
        let target = to_i64(ours).saturating_sub(to_i64(report.unseen));
        let current = self.bucket.level(now);
        let level = if target <= current {
            target
        } else if !report.newest {
            current
        } else {
            target.min(current.max(self.ceiling(now)))
        };
        self.bucket.set_units(now, level);
        if report.newest {
            self.synced = Some(Synced {
                at: now,
                level: i32::try_from(level).unwrap_or(if level < 0 { i32::MIN } else { i32::MAX }),
            });
        }
    }

    /// The highest level a correction may raise the window to: the level the last one set plus
    /// the refill at the full rate since (the whole capacity before any correction).
    fn ceiling(&self, now: u64) -> i64 {
        match self.synced {
            None => i64::from(self.capacity),
            Some(Synced { at, level }) => {
                let refill = mul_div(
                    u64::from(self.limit().amount()),
                    now.saturating_sub(at),
                    self.window_us(),
                );
                i64::from(level).saturating_add(to_i64(refill))
            }
        }
    }

    /// A `remaining` above the assumed capacity shows the provider holds at least that much.
    fn learn_capacity(&mut self, remaining: u64) {
        let remaining = u32::try_from(remaining).unwrap_or(u32::MAX);
        if remaining > self.capacity {
            self.capacity = remaining.min(self.limit().amount());
        }
    }

    /// Takes a foreign-rate sample against the last one, if far enough apart.
    fn sample_foreign(&mut self, now: u64, remaining: u64, report: &Report) {
        let own_seen = self.own_total.wrapping_sub(report.unseen as u32);
        let point = Sample {
            at: now,
            reported: u32::try_from(remaining).unwrap_or(u32::MAX),
            own_seen,
        };
        let Some(last) = self.sample else {
            self.sample = Some(point);
            return;
        };
        let elapsed = now.saturating_sub(last.at);
        if elapsed < MIN_SAMPLE_US {
            return;
        }
        self.sample = Some(point);
        let amount = u64::from(self.limit().amount());
        let refill = mul_div(amount, elapsed, self.window_us());
        // Our spending the server counted between the two samples; a wrapped difference (more
        // refunded than charged) counts as none.
        let own = own_seen.wrapping_sub(last.own_seen);
        let own = if own > u32::MAX / 2 {
            0
        } else {
            u64::from(own)
        };
        let predicted = to_i64(
            u64::from(last.reported)
                .saturating_add(refill)
                .min(u64::from(self.capacity)),
        )
        .saturating_sub(to_i64(own));
        let missing = predicted.saturating_sub(to_i64(remaining));
        // Both ends were rounded: a difference within twice the rounding is noise.
        let band = to_i64(report.rounding.saturating_mul(2));
        let missing = if missing.abs() <= band {
            0
        } else {
            missing.saturating_sub(band.saturating_mul(missing.signum()))
        };
        let per_window = to_i64(mul_div(
            missing.unsigned_abs(),
            self.window_us(),
            elapsed.max(1),
        ));
        let sample = if missing < 0 {
            per_window.saturating_neg()
        } else {
            per_window
        };
        let amount = to_i64(amount);
        let foreign = i64::from(self.foreign);
        let error = sample.saturating_sub(foreign);
        let foreign = foreign
            .saturating_add(error.div_euclid(4))
            .clamp(amount.saturating_neg(), amount);
        self.foreign =
            i32::try_from(foreign).unwrap_or(if foreign < 0 { i32::MIN } else { i32::MAX });
    }

    fn window_us(&self) -> u64 {
        u64::from(self.limit().window_ms()).saturating_mul(1_000)
    }
}

fn to_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// `a · b / c` for the window's small numbers, saturating.
fn mul_div(a: u64, b: u64, c: u64) -> u64 {
    crate::bucket::mul_div(a, b, c.max(1))
}

fn scale(value: u32, to: u32, from: u32) -> u32 {
    u32::try_from(mul_div(u64::from(value), u64::from(to), u64::from(from))).unwrap_or(u32::MAX)
}
