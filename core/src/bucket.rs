//! One continuously refilled token bucket, kept as a single theoretical arrival time (GCRA).
//!
//! # Why GCRA
//!
//! A classic token bucket stores a level and a timestamp and refills on every call. The generic
//! cell rate algorithm stores one number instead: the *theoretical arrival time* (TAT), the
//! instant at which the bucket would be full again if nothing more were taken. Refill is implicit
//! in the passage of time, so there is no refill task, no division on the hot path and no drift.
//!
//! With `T` the time one unit takes to refill (`window / amount`) and `C = burst · T` the time the
//! whole burst takes, a cost of `n` units is admitted at `now` iff
//!
//! ```text
//! max(TAT, now) + n·T − C ≤ now
//! ```
//!
//! and admitting it sets `TAT ← max(TAT, now) + n·T`. When it is refused, the left-hand side is
//! exactly the instant at which it would be admitted: the `Wait { until }` the engine answers.
//! A cost with `n·T > C` can never pass, which is a rejection, not a wait.
//!
//! # Exact, conservative integer math
//!
//! `T` is rarely a whole number of microseconds (3 500 RPM is 17 142.857… µs per request), so it
//! is kept in fixed point: `unit_fp = ⌈window_µs · 2^20 / amount⌉`. `n·T` is then
//! `⌈n · unit_fp / 2^20⌉`: one 64×64→128-bit multiply and a shift, no division. Both roundings go
//! up, so the bucket always charges at least the exact time and never admits more than the
//! provider would. The error is below `n / 2^20 + 1` µs per charge (under 0.01 µs for a
//! 10 000-token request).
//!
//! Refunds and debits are differences of the same rounded charges, so reserve-then-settle cycles
//! leave no residue.
//!
//! # Refunds after the debt cap
//!
//! No debt exceeds one window's worth of the limit ([`Bucket::cap_debt`]), so that no wrong
//! estimate or header can stall a lane for longer. A charge the cap cut short — a request that
//! settles far above its estimate, or a provider window corrected with more unseen charges
//! than it may owe — takes less from the bucket than it should have. Cancelling or settling
//! another request admitted earlier must then not give back what the cap never took, or the
//! bucket would end fuller than it would be had that request never been admitted (a request
//! debiting 48 822 output tokens against a limit of 27 368 per second while another of 5 915
//! was in flight: the cap forgave one unit, and the cancel returned it). So the bucket
//! remembers the units the cap forgave, and refunds pay those off first. The debt they stand
//! for would still be owed had the refunded request never been charged, so it does not refill
//! with time.
//!
//! # Time going backwards
//!
//! The state is an absolute instant, so a `now` earlier than a previous one simply sees less
//! refill: every check becomes stricter, never looser. Nothing needs clamping and nothing panics.

use core::num::NonZeroU32;

use crate::time::{Duration, Instant};
use crate::{Limit, LimitKind};

/// Fixed-point shift of the per-unit refill time.
const UNIT_SHIFT: u32 = 20;
const UNIT_ROUND: u128 = (1 << UNIT_SHIFT) - 1;
const UNIT_ROUND_64: u64 = (1 << UNIT_SHIFT) - 1;

/// A bucket whose capacity is below this is *narrow*: a charge within its burst takes its
/// refill time in plain 64-bit arithmetic (`burst · unit_fp ≤ C · 2^S < 2^63`, so adding the
/// rounding cannot carry out), and that time added to an instant below [`NARROW_NOW`] cannot
/// overflow. A pace of any limit is narrow (its burst is at most the limit's amount, so its
/// capacity is about its window, below 2^42 µs); a provider window's bucket refills at the
/// key's learned share while its burst can be the whole amount, so its capacity can reach many
/// windows (a 2-day window at a 64th, a 30-day one at a quarter): such a bucket is not narrow,
/// and its lane keeps the short way shut (slower, never wrong).
const NARROW_CAPACITY: u64 = 1 << 43;

/// The instants below which a narrow bucket's charge end is a plain sum (see
/// [`NARROW_CAPACITY`]): 2^63 µs is about 292 000 years.
pub(crate) const NARROW_NOW: u64 = 1 << 63;

/// Why a cost can not be admitted right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// Not yet: admissible at this tick.
    Until(u64),
    /// Never: the cost is above the burst.
    TooLarge,
}

/// A single rate limit as a GCRA bucket.
///
/// Most callers use buckets through a lane of a `Policy`; the type is public so its
/// state can be inspected and so simple single-limit users need nothing else.
///
/// # Examples
///
/// ```
/// use core::num::NonZeroU32;
/// use headroom::{Bucket, Limit, LimitKind, time::Instant};
///
/// // 60 requests per minute, paced at one per second.
/// let mut rpm = Bucket::new(LimitKind::Requests, Limit::per_minute(NonZeroU32::new(60).unwrap()));
/// let t0 = Instant::from_ticks(0);
/// assert_eq!(rpm.try_take(t0, 1), Ok(()));
/// // The next one waits exactly one second.
/// assert_eq!(rpm.try_take(t0, 1), Err(Some(Instant::from_ticks(1_000_000))));
/// assert_eq!(rpm.try_take(Instant::from_ticks(1_000_000), 1), Ok(()));
/// // Two at once never fit a burst of one.
/// assert_eq!(rpm.try_take(Instant::from_ticks(9_000_000), 2), Err(None));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Bucket {
    /// Theoretical arrival time, in µs ticks. Any value ≤ now means "full".
    tat: u64,
    /// Refill time of one unit in µs, fixed point with [`UNIT_SHIFT`] fraction bits, rounded up.
    unit_fp: u64,
    /// The configured rate.
    limit: Limit,
    /// The burst in units, resolved from `limit` and the kind.
    burst: u32,
    /// The burst as time, `C = ⌈burst · unit_fp / 2^20⌉`: derived from `unit_fp` and `burst`,
    /// cached so that admission does not recompute it ([`Bucket::capacity`]).
    capacity: u64,
    /// The latest end of an admission's own charge (`now + n·T` when it was admitted): no
    /// refund for an earlier admission moves the TAT below it, since that admission alone
    /// reaches there. When the latest admission was made is the lane's to know (one instant
    /// for all its buckets): the refund is told whether its admission is older.
    floor: u64,
    /// Units of debt the debt cap forgave that no refund has paid off yet (see "Refunds after
    /// the debt cap" in the module docs).
    forgiven: u32,
}

/// An admission a bucket has checked and may commit ([`Bucket::check`], [`Bucket::commit`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Charge {
    /// The TAT after the admission.
    pub(crate) tat: u64,
    /// The end of the admission's own charge, `now + n·T`.
    pub(crate) end: u64,
}

impl Bucket {
    /// A full bucket metering `kind` at `limit`.
    pub fn new(kind: LimitKind, limit: Limit) -> Self {
        let unit_fp = unit_fp(limit);
        let burst = limit.burst_for(kind);
        Self {
            tat: 0,
            unit_fp,
            limit,
            burst,
            capacity: ceil_time(u64::from(burst), unit_fp),
            floor: 0,
            forgiven: 0,
        }
    }

    /// The configured rate.
    pub const fn limit(&self) -> Limit {
        self.limit
    }

    /// The largest cost admitted at once, in units.
    pub const fn burst(&self) -> u32 {
        self.burst
    }

    /// Takes `cost` units now if they fit, all or nothing.
    ///
    /// # Errors
    ///
    /// `Err(Some(until))` when the cost fits at `until` and not before; `Err(None)` when it is
    /// above the burst and can never fit.
    pub fn try_take(&mut self, now: Instant, cost: u64) -> Result<(), Option<Instant>> {
        match self.check(now.as_ticks(), cost, 0) {
            Ok(charge) => {
                self.commit(charge);
                Ok(())
            }
            Err(Refusal::Until(until)) => Err(Some(Instant::from_ticks(until))),
            Err(Refusal::TooLarge) => Err(None),
        }
    }

    /// Units that could be taken at `now` (0 when the bucket is in debt).
    ///
    /// # Examples
    ///
    /// ```
    /// use core::num::NonZeroU32;
    /// use headroom::{Bucket, Limit, LimitKind, time::Instant};
    ///
    /// let mut itpm = Bucket::new(LimitKind::InputTokens, Limit::per_minute(NonZeroU32::new(30_000).unwrap()));
    /// let t0 = Instant::from_ticks(0);
    /// assert_eq!(itpm.available(t0), 30_000);
    /// itpm.try_take(t0, 12_000).unwrap();
    /// assert_eq!(itpm.available(t0), 18_000);
    /// // 30 000 per minute refills 500 per second.
    /// assert_eq!(itpm.available(Instant::from_ticks(2_000_000)), 19_000);
    /// ```
    pub fn available(&self, now: Instant) -> u64 {
        units_in(self.slack(now.as_ticks(), 0), self.unit_fp)
    }

    /// How long until the bucket is full again (zero when it is full).
    pub fn time_to_full(&self, now: Instant) -> Duration {
        Duration::from_ticks(self.tat.saturating_sub(now.as_ticks()))
    }

    /// The instant at which the bucket is full again.
    pub const fn full_at(&self) -> Instant {
        Instant::from_ticks(self.tat)
    }

    /// Changes the rate, keeping the used fraction of the burst: a bucket that was 40 % drained
    /// is 40 % drained under the new limit too.
    ///
    /// # Examples
    ///
    /// ```
    /// use core::num::NonZeroU32;
    /// use headroom::{Bucket, Limit, LimitKind, time::Instant};
    ///
    /// let t0 = Instant::from_ticks(0);
    /// let mut otpm = Bucket::new(LimitKind::OutputTokens, Limit::per_minute(NonZeroU32::new(8_000).unwrap()));
    /// otpm.try_take(t0, 2_000).unwrap();
    /// otpm.set_limit(t0, LimitKind::OutputTokens, Limit::per_minute(NonZeroU32::new(16_000).unwrap()));
    /// assert_eq!(otpm.available(t0), 12_000);
    /// ```
    pub fn set_limit(&mut self, now: Instant, kind: LimitKind, limit: Limit) {
        let now = now.as_ticks();
        let old_capacity = self.capacity();
        self.limit = limit;
        self.rate(unit_fp(limit), limit.burst_for(kind));
        let debt = self.tat.saturating_sub(now);
        if debt == 0 || old_capacity == 0 {
            return;
        }
        let scaled = mul_div(debt, self.capacity(), old_capacity);
        self.tat = now.saturating_add(scaled);
    }

    /// Sets the level to `remaining − owed` units at `now`, as a server reported it; when `owed` is larger, the bucket is
    /// left in debt by the difference (so the excess is still paid back before anything more is
    /// admitted).
    pub(crate) fn set_level(&mut self, now: u64, remaining: u64, owed: u64) {
        if owed > remaining {
            self.set_debt(now, owed.saturating_sub(remaining));
            return;
        }
        let remaining = remaining.saturating_sub(owed);
        // The time `remaining` units take, so that exactly `remaining` are admissible. When one
        // unit refills in under a microsecond, rounding up could admit one more: round down.
        // (From a microsecond up, the rounding adds less than one unit's time: no division.)
        let mut level_time = self.cost_time(remaining);
        if self.unit_fp < 1 << UNIT_SHIFT {
            level_time = self.fine_level_time(remaining, level_time);
        }
        let debt = self.capacity().saturating_sub(level_time);
        self.tat = now.saturating_add(debt);
    }

    /// [`Bucket::set_level`] of a bucket in debt by `units`, within the debt cap. Out of line
    /// on 64-bit targets, as is [`Bucket::fine_level_time`]: the common level in whole units
    /// then needs no saved registers. Inlined on 32-bit ones, where each copy of the 64-bit
    /// arithmetic costs more flash than the registers cost time.
    #[cfg_attr(target_pointer_width = "64", inline(never))]
    #[cfg_attr(not(target_pointer_width = "64"), inline)]
    fn set_debt(&mut self, now: u64, units: u64) {
        let debt = self.capacity().saturating_add(self.cost_time(units));
        self.tat = now.saturating_add(debt);
        self.cap_debt(now);
    }

    /// The time that holds exactly `units` when a unit refills in under a microsecond: their
    /// refill time rounded up, `level_time`, or rounded down where rounding up would hold one
    /// unit more. Out of line on 64-bit targets only (see [`Bucket::set_debt`]).
    #[cfg_attr(target_pointer_width = "64", inline(never))]
    #[cfg_attr(not(target_pointer_width = "64"), inline)]
    fn fine_level_time(&self, units: u64, level_time: u64) -> u64 {
        if units_in(level_time, self.unit_fp) > units {
            floor_time(units, self.unit_fp)
        } else {
            level_time
        }
    }

    /// The level at `now` in whole units, rounded down: negative when the bucket is in debt.
    pub(crate) fn level(&self, now: u64) -> i64 {
        let full_at = now.saturating_add(self.capacity());
        if self.tat <= full_at {
            i64::try_from(units_in(full_at.saturating_sub(self.tat), self.unit_fp))
                .unwrap_or(i64::MAX)
        } else {
            let debt = self.tat.saturating_sub(full_at);
            // Debt rounds up: a part-unit still owed counts as a unit.
            let units = units_in(
                debt.saturating_add(self.cost_time(1)).saturating_sub(1),
                self.unit_fp,
            );
            i64::try_from(units).map_or(i64::MIN, |units| units.saturating_neg())
        }
    }

    /// Whether the level at `now` is exactly `units` whole units ([`Bucket::level`] `== units`),
    /// by two multiplies instead of the level's division: with no debt, the time of credit `t`
    /// holds exactly `n` units when `⌈n·T⌉ ≤ t < ⌈(n + 1)·T⌉` (`units_in` is the largest `n`
    /// with `⌈n·T⌉ ≤ t`). A bucket in debt holds no whole units.
    pub(crate) fn holds_exactly(&self, now: u64, units: u64) -> bool {
        now.saturating_add(self.capacity())
            .checked_sub(self.tat)
            .is_some_and(|credit| {
                self.cost_time(units) <= credit && credit < self.cost_time(units.saturating_add(1))
            })
    }

    /// Sets the level at `now` to `level` units (negative: in debt), within the debt cap.
    pub(crate) fn set_units(&mut self, now: u64, level: i64) {
        match u64::try_from(level) {
            Ok(level) => self.set_level(now, level, 0),
            Err(_) => self.set_level(now, 0, level.unsigned_abs()),
        }
    }

    /// Changes the refill rate to `per_window` units per window of the limit and the burst to
    /// `burst` units, keeping the level in units (a bucket with 700 units left still has 700).
    /// The configured [`Limit`] is kept: this is the provider's limit seen through a share.
    pub(crate) fn retune(&mut self, now: u64, per_window: u32, burst: u32) {
        let level = self.level(now);
        let rate = match (
            NonZeroU32::new(per_window),
            NonZeroU32::new(self.limit.window_ms()),
        ) {
            (Some(amount), Some(window)) => Limit::per_window_ms(amount, window),
            _ => return,
        };
        self.rate(unit_fp(rate), burst.max(1));
        self.set_units(now, level.min(i64::from(self.burst)));
    }

    /// Sets the refill time per unit and the burst, and the capacity derived from them.
    fn rate(&mut self, unit_fp: u64, burst: u32) {
        self.unit_fp = unit_fp;
        self.burst = burst;
        self.capacity = ceil_time(u64::from(burst), unit_fp);
    }

    /// Keeps any debt within one window's worth of the limit: however wrong an estimate or a
    /// header was, the bucket is full again at most one window after it would be empty.
    // Out of line on 32-bit targets: two uses of its 64-bit arithmetic (−56 B on a Cortex-M4).
    #[cfg_attr(not(target_pointer_width = "64"), inline(never))]
    pub(crate) fn cap_debt(&mut self, now: u64) {
        let most = now
            .saturating_add(self.capacity())
            .saturating_add(self.cost_time(u64::from(self.limit.amount())));
        self.tat = self.tat.min(most);
    }

    /// Refill time of `units`, rounded up.
    #[inline]
    pub(crate) fn cost_time(&self, units: u64) -> u64 {
        ceil_time(units, self.unit_fp)
    }

    /// The burst as time, `C = n·T` for `n = burst` (cached when the rate is set).
    #[inline]
    pub(crate) const fn capacity(&self) -> u64 {
        self.capacity
    }

    /// Time of credit left at `now` with `reserve` kept back: `C − reserve − (TAT − now)⁺`.
    fn slack(&self, now: u64, reserve: u64) -> u64 {
        let debt = self.tat.saturating_sub(now);
        self.capacity().saturating_sub(reserve).saturating_sub(debt)
    }

    /// The TAT admitting `cost` at `now` would produce and where its own charge would end, or
    /// why it cannot be admitted. `reserve` is time of credit that must stay in the bucket
    /// (priorities).
    #[inline]
    pub(crate) fn check(&self, now: u64, cost: u64, reserve: u64) -> Result<Charge, Refusal> {
        // Compared in units, not time: when a unit refills in under a microsecond, the capacity
        // (rounded up to a whole µs) can hold a unit or so more than the burst. Within the burst
        // the charge's time is within the capacity too: both are `ceil_time`, which never
        // decreases as units grow.
        if cost > u64::from(self.burst) {
            return Err(Refusal::TooLarge);
        }
        let cost_time = self.cost_time(cost);
        if self.tat <= now {
            // A full bucket: the charge is within the capacity (above) and the capacity a
            // request sees is never below its own charge (below), so it is admitted, whatever
            // the reserve, and its own charge is all the bucket owes. (With the sums below
            // saturating, the same holds: `now + n·T` past the end of time leaves
            // `u64::MAX − C` at or before `now`.)
            let tat = now.saturating_add(cost_time);
            return Ok(Charge { tat, end: tat });
        }
        let new_tat = self.tat.saturating_add(cost_time);
        let allowed_at = self.allowed_at(new_tat, cost_time, reserve);
        if allowed_at <= now {
            Ok(Charge {
                tat: new_tat,
                end: now.saturating_add(cost_time),
            })
        } else {
            Err(Refusal::Until(allowed_at))
        }
    }

    /// The instant from which a `cost` within the burst can be admitted, `reserve` kept back:
    /// at or before `now` when it can be now. What [`Bucket::check`] answers, without the
    /// admission's own sums (a full bucket needs none: see there).
    // Inlined on 64-bit targets; one shared copy on 32-bit ones (flash).
    #[cfg_attr(target_pointer_width = "64", inline)]
    #[cfg_attr(not(target_pointer_width = "64"), inline(never))]
    pub(crate) fn admissible_at(&self, now: u64, cost: u64, reserve: u64) -> u64 {
        if self.tat <= now {
            return now;
        }
        let cost_time = self.cost_time(cost);
        self.allowed_at(self.tat.saturating_add(cost_time), cost_time, reserve)
    }

    /// When a charge of `cost_time` that would move the TAT to `new_tat` fits, `reserve` kept
    /// back.
    #[inline]
    fn allowed_at(&self, new_tat: u64, cost_time: u64, reserve: u64) -> u64 {
        // The capacity a request sees: `C − reserve`, but never less than its own cost, so a
        // reserve never turns a wait into a rejection.
        let effective = if reserve == 0 {
            self.capacity()
        } else {
            self.capacity().saturating_sub(reserve).max(cost_time)
        };
        new_tat.saturating_sub(effective)
    }

    /// Charges `cost`, which [`Bucket::admissible_at`] found admissible at `now` (within the
    /// burst, with whatever reserve was asked), as [`Bucket::check`] then [`Bucket::commit`]
    /// would: answers the TAT after.
    // One shared copy on 32-bit targets (flash); inlined on 64-bit ones.
    #[cfg_attr(target_pointer_width = "64", inline)]
    #[cfg_attr(not(target_pointer_width = "64"), inline(never))]
    pub(crate) fn take_admissible(&mut self, now: u64, cost: u64) -> u64 {
        if self.tat <= now {
            return self.take_full(now, cost);
        }
        let cost_time = self.cost_time(cost);
        let tat = self.tat.saturating_add(cost_time);
        self.commit(Charge {
            tat,
            end: now.saturating_add(cost_time),
        });
        tat
    }

    /// Charges `cost` (within the burst) to a bucket full at `now`, as
    /// [`Bucket::take_admissible`] would without asking whether it is full: a full bucket admits
    /// any charge within its burst, whatever the reserve (see [`Bucket::check`]). Answers the
    /// TAT after, `now + n·T`, also the charge's end.
    #[inline]
    pub(crate) fn take_full(&mut self, now: u64, cost: u64) -> u64 {
        let end = now.saturating_add(self.cost_time(cost));
        self.commit(Charge { tat: end, end });
        end
    }

    /// Whether a charge within the burst can be taken by [`Bucket::take_full_narrow`] (see
    /// [`NARROW_CAPACITY`]).
    #[inline]
    pub(crate) const fn is_narrow(&self) -> bool {
        self.capacity < NARROW_CAPACITY
    }

    /// [`Bucket::take_full`] for a narrow bucket ([`Bucket::is_narrow`]), a charge within its
    /// burst and `now` below [`NARROW_NOW`]: the same TAT, without the overflow tests, which
    /// those bounds make unreachable (a unit test holds it equal to [`Bucket::take_full`] at
    /// the bounds).
    #[inline]
    pub(crate) fn take_full_narrow(&mut self, now: u64, cost: u64) -> u64 {
        debug_assert!(self.is_narrow() && cost <= u64::from(self.burst) && now < NARROW_NOW);
        // No wrap: `cost · unit_fp + 2^S − 1 < 2^63 + 2^20` and `now + C < 2^63 + 2^43`.
        let time = cost.wrapping_mul(self.unit_fp).wrapping_add(UNIT_ROUND_64) >> UNIT_SHIFT;
        let end = now.wrapping_add(time);
        self.commit(Charge { tat: end, end });
        end
    }

    /// Commits an admission checked by [`Bucket::check`].
    #[inline]
    pub(crate) fn commit(&mut self, charge: Charge) {
        self.floor = self.floor.max(charge.end);
        self.tat = charge.tat;
    }

    /// Gives back time charged by an admission whose charge ended at `end` (the TAT right after
    /// it; `u64::MAX` when unknown), at most the part of it still ahead of `now`, never filling
    /// the bucket above full and, for an admission `older` than the latest (made at an earlier
    /// instant), never below the end of the latest admissions' own charges.
    ///
    /// Why the second bound: a refund for a request admitted *before* others would otherwise
    /// shift their charges into the past. With one request per second, admitting A at 0 and B
    /// at 1 and then cancelling A at 1 must not admit C at 1 as well: B alone fills the bucket
    /// until 2. (Admissions at the same instant shift nothing into the past.)
    ///
    /// Answers how much earlier the TAT now is: the charges of the admissions made after the
    /// refunded one lie that much earlier too, and their recorded ends must follow (see
    /// `Policy`'s settling), or a later refund of one of them would give back time that has
    /// refilled already.
    pub(crate) fn refund_time(&mut self, now: u64, time: u64, older: bool, end: u64) -> u64 {
        // Only the part of the charge still ahead of `now` can be given back: what lay before
        // `now` has refilled already, and later admissions have used it.
        let time = time.min(end.saturating_sub(now));
        let mut floor = self.tat.min(now);
        if older {
            floor = floor.max(self.floor.min(self.tat));
        }
        let before = self.tat;
        self.tat = self.tat.saturating_sub(time).max(floor);
        before.saturating_sub(self.tat)
    }

    /// Moves the charge for one request from `charged` units to `actual` units; `older` says
    /// it was admitted before the latest admission (see [`Bucket::refund_time`]). Answers how
    /// much earlier a refund moved the TAT (zero for a charge that grew or stayed).
    #[inline]
    pub(crate) fn reconcile(
        &mut self,
        now: u64,
        charged: u64,
        actual: u64,
        older: bool,
        end: u64,
    ) -> u64 {
        // Most settlements leave some kinds as charged (a request is one request): no call.
        if charged != actual {
            self.move_charge(now, charged, actual, older, end)
        } else {
            0
        }
    }

    /// [`Bucket::reconcile`] of a charge that changed.
    #[inline(never)]
    fn move_charge(&mut self, now: u64, charged: u64, actual: u64, older: bool, end: u64) -> u64 {
        // A refund first pays off what the debt cap forgave: that part was never taken. (Tested
        // on the field first: the cap rarely forgives anything.)
        let mut absorbed = 0;
        if self.forgiven > 0 {
            absorbed = charged.saturating_sub(actual).min(u64::from(self.forgiven));
            self.forgiven = self
                .forgiven
                .saturating_sub(u32::try_from(absorbed).unwrap_or(u32::MAX));
        }
        let charged_time = self.cost_time(charged.saturating_sub(absorbed));
        let actual_time = self.cost_time(actual);
        if actual_time > charged_time {
            let wanted = self
                .tat
                .max(now)
                .saturating_add(actual_time.saturating_sub(charged_time));
            self.tat = wanted;
            self.cap_debt(now);
            let cut = wanted.saturating_sub(self.tat);
            if cut > 0 {
                self.forgive_time(cut);
            }
            0
        } else {
            // The difference of two charges rounded up: exactly what the admission took. (A
            // provider window's correction took its unseen charges as one sum of units, read
            // as time once: giving one of them back can return up to a microsecond more than
            // the correction took for it, less than a unit from a microsecond per unit up.)
            self.refund_time(now, charged_time.saturating_sub(actual_time), older, end)
        }
    }

    /// Remembers `time` of debt the cap cut from a charge, in units rounded up (a refund then
    /// gives back at most what was taken).
    #[cold]
    fn forgive_time(&mut self, time: u64) {
        let units = units_in(
            time.saturating_add(self.cost_time(1)).saturating_sub(1),
            self.unit_fp,
        );
        let units = u32::try_from(units).unwrap_or(u32::MAX);
        self.forgiven = self.forgiven.saturating_add(units);
    }

    /// Units of debt the cap forgave that refunds still pay off first.
    pub(crate) const fn forgiven(&self) -> u32 {
        self.forgiven
    }

    /// Replaces what the cap forgave: a level set from the server's numbers counts every charge
    /// still unseen afresh, so what it forgave is what this correction could not take.
    pub(crate) fn set_forgiven(&mut self, units: u32) {
        self.forgiven = units;
    }

    /// Time of credit `permille` thousandths of the burst amount to, for reserves.
    pub(crate) const fn permille_of_capacity(&self, permille: u16) -> u64 {
        let permille = if permille < 1000 { permille } else { 1000 };
        crate::permille::of(self.capacity, permille)
    }
}

/// `⌈window_µs · 2^UNIT_SHIFT / amount⌉`, in 64 bits: a window of at most `u32::MAX` ms is
/// below 2^42 µs, so the scaled window is below 2^62 and one 64-bit division does it (the
/// saturating multiply never saturates).
// Out of line on 32-bit targets: three uses of a 64-bit division (−88 B on a Cortex-M4).
#[cfg_attr(not(target_pointer_width = "64"), inline(never))]
fn unit_fp(limit: Limit) -> u64 {
    let window_us = u64::from(limit.window_ms()).saturating_mul(1_000);
    let scaled = window_us.saturating_mul(1 << UNIT_SHIFT);
    let amount = u64::from(limit.amount().max(1));
    let whole = scaled.checked_div(amount).unwrap_or(u64::MAX);
    let part = scaled.checked_rem(amount).unwrap_or(0);
    whole.saturating_add(u64::from(part != 0))
}

/// Refill time of `units`, rounded up: `⌈units · unit_fp / 2^S⌉`, saturating.
///
/// On the hot path the product fits in 64 bits: admission checks `cost ≤ burst` first, and for
/// a pace `burst ≤ amount`, so `cost · unit_fp ≤ amount · ⌈window_µs · 2^20 / amount⌉ <
/// window_µs · 2^20 + amount ≤ 2^62 + 2^32` for a window of at most `u32::MAX` ms (`< 2^42` µs),
/// and adding `2^20 − 1` does not reach 2^64. A window's bucket refills at a share of the limit
/// while its burst is up to the whole limit, so its product can exceed that bound: the checked
/// multiply then takes the 128-bit path, with the same rounding (up).
///
/// Inlined on 64-bit targets (one multiply); out of line on 32-bit ones, where the 64-bit
/// product and its overflow tests are ≈ 50 B at each of its many uses (−1 060 B on a Cortex-M4).
#[cfg_attr(target_pointer_width = "64", inline)]
#[cfg_attr(not(target_pointer_width = "64"), inline(never))]
fn ceil_time(units: u64, unit_fp: u64) -> u64 {
    match units
        .checked_mul(unit_fp)
        .and_then(|product| product.checked_add(UNIT_ROUND_64))
    {
        Some(rounded) => rounded >> UNIT_SHIFT,
        None => ceil_time_wide(units, unit_fp),
    }
}

/// [`ceil_time`] in 128 bits, for products beyond 64.
#[cold]
// Out of line on 32-bit targets, where a 128-bit product is a long run of code per copy; on
// 64-bit ones it is one instruction and inlining it keeps the hot path's registers.
#[cfg_attr(not(target_pointer_width = "64"), inline(never))]
#[expect(
    clippy::arithmetic_side_effects,
    reason = "a u64 × u64 product is below 2^128 − 2^65, so adding 2^20 − 1 cannot overflow u128"
)]
fn ceil_time_wide(units: u64, unit_fp: u64) -> u64 {
    let product = u128::from(units) * u128::from(unit_fp) + UNIT_ROUND;
    let time = product >> UNIT_SHIFT;
    if time > u128::from(u64::MAX) {
        u64::MAX
    } else {
        time as u64
    }
}

/// Refill time of `units`, rounded down, saturating.
fn floor_time(units: u64, unit_fp: u64) -> u64 {
    match units.checked_mul(unit_fp) {
        Some(product) => product >> UNIT_SHIFT,
        None => floor_time_wide(units, unit_fp),
    }
}

/// [`floor_time`] in 128 bits, for products beyond 64.
#[cold]
// Out of line on 32-bit targets, where a 128-bit product is a long run of code per copy; on
// 64-bit ones it is one instruction and inlining it keeps the hot path's registers.
#[cfg_attr(not(target_pointer_width = "64"), inline(never))]
#[expect(
    clippy::arithmetic_side_effects,
    reason = "a u64 × u64 product always fits in u128"
)]
fn floor_time_wide(units: u64, unit_fp: u64) -> u64 {
    let time = (u128::from(units) * u128::from(unit_fp)) >> UNIT_SHIFT;
    u64::try_from(time).unwrap_or(u64::MAX)
}

/// How many whole units fit in `time`: the largest `n` with `cost_time(n) ≤ time`.
// Out of line on 32-bit targets, as `ceil_time` is (−136 B on a Cortex-M4).
#[cfg_attr(not(target_pointer_width = "64"), inline(never))]
fn units_in(time: u64, unit_fp: u64) -> u64 {
    // floor(time · 2^S / unit_fp) is the exact bound for ⌈n·unit_fp / 2^S⌉ ≤ time. Below 2^44
    // µs (about 200 days) the scaled time fits in 64 bits: one 64-bit division.
    if let Some(scaled) = time.checked_mul(1 << UNIT_SHIFT) {
        return scaled.checked_div(unit_fp).unwrap_or(u64::MAX);
    }
    // Beyond, the same quotient in 128 bits (out of line, shared with `mul_div`: each inlined
    // 128-bit division is most of a kilobyte of Cortex-M flash).
    mul_div_wide(time, 1 << UNIT_SHIFT, unit_fp)
}

/// `a · b / c`, saturating; `c == 0` gives `u64::MAX`. In 64 bits when the product fits, else
/// in 128 (the same quotient either way). Out of line on 32-bit targets, where a 64-bit
/// product with its overflow test and the division call are ≈ 60 B at every use.
#[cfg_attr(not(target_pointer_width = "64"), inline(never))]
pub(crate) fn mul_div(a: u64, b: u64, c: u64) -> u64 {
    match a.checked_mul(b) {
        Some(product) => product.checked_div(c).unwrap_or(u64::MAX),
        None => mul_div_wide(a, b, c),
    }
}

/// [`mul_div`] in 128 bits.
#[cold]
#[inline(never)]
#[cfg(target_pointer_width = "64")]
#[expect(
    clippy::arithmetic_side_effects,
    reason = "a u64 × u64 product always fits in u128"
)]
fn mul_div_wide(a: u64, b: u64, c: u64) -> u64 {
    let product = u128::from(a) * u128::from(b);
    let quotient = product.checked_div(u128::from(c)).unwrap_or(u128::MAX);
    u64::try_from(quotient).unwrap_or(u64::MAX)
}

/// [`mul_div`] in 128 bits, on 32-bit targets: a 128-bit division there is most of a kilobyte
/// of code inlined (772 B on a Cortex-M4), while the quotient of a product whose high half is
/// below `c` fits in 64 bits and is found one bit at a time in 172 B. The path is cold (a
/// product beyond 64 bits), so its 64 steps cost no hot path anything.
#[cold]
#[inline(never)]
#[cfg(not(target_pointer_width = "64"))]
fn mul_div_wide(a: u64, b: u64, c: u64) -> u64 {
    mul_div_by_bits(a, b, c)
}

/// `a · b / c` saturating, by long division of the 128-bit product one bit at a time.
#[cfg(any(test, not(target_pointer_width = "64")))]
#[expect(
    clippy::arithmetic_side_effects,
    reason = "a u64 × u64 product always fits in u128; every shift is by less than 64"
)]
fn mul_div_by_bits(a: u64, b: u64, c: u64) -> u64 {
    let product = u128::from(a) * u128::from(b);
    let (high, low) = ((product >> 64) as u64, product as u64);
    // The quotient reaches 2^64 exactly when the high half does `c` (and `c == 0` is `high ≥
    // 0`): saturate. Below, the remainder stays below `c` at every step.
    if high >= c {
        return u64::MAX;
    }
    let (mut remainder, mut quotient) = (high, 0_u64);
    for bit in (0..64).rev() {
        // The remainder shifted left may need a 65th bit: it then exceeds `c` for sure.
        let carry = remainder >> 63 != 0;
        remainder = (remainder << 1) | ((low >> bit) & 1);
        quotient <<= 1;
        if carry || remainder >= c {
            remainder = remainder.wrapping_sub(c);
            quotient |= 1;
        }
    }
    quotient
}

#[cfg(test)]
mod tests;
