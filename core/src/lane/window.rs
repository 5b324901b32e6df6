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
//! refill since the last report allows (the level that report showed plus the refill, rounded
//! up, since a report rounds down: a lying `remaining = limit` cannot conjure quota faster than
//! the limit refills). Admission needs room in both.
//!
//! # Sharing a key without coordination
//!
//! Several clients (gateways, pods, another service, the Console) may spend one key. Each sees
//! the whole key's `remaining` in its headers; if each admitted against all of it, N clients
//! would overdraw N-fold. So the window learns which part of the key's spending is its own:
//!
//! * **What others spent.** Between two samples the server's level should have moved by its
//!   refill minus what we spent and the server has counted (`own`):
//!   `expected = min(peak, R₀ + r·Δt) − own`, where `peak` is the most the server ever reported
//!   holding (a provider that enforces a minute's limit over one-second slices never holds more
//!   than a second's worth). What it reports instead, `R₁`, is lower by what others spent.
//!   Anthropic rounds token counts to the thousand, so twice that rounding is a dead band.
//! * **Our share.** Our spending and others', as rates per window, are running averages over
//!   samples (each moves them halfway), and signed: our own corrections land later than the
//!   provider's charges (a request counted as unseen that the server had in fact seen, a
//!   reservation given back at completion), which reads as others spending in one sample and as
//!   much negative spending in the next — averaged signed, that noise cancels. Our share is
//!   `own / (own + others)` (others below an eighth of ours count as none), and the share moves
//!   halfway towards it per sample (rounded towards the measurement, so that it reaches it),
//!   between 1/64 and all of the key. It is a ratio of spending, not a rate: when every client
//!   drained the saved-up level at once (a cold start) the split is still right although no
//!   rate could be read from it. N clients measuring alike settle on
//!   shares that sum to one, whatever the split: a skewed fleet keeps its skew, and a client
//!   whose peers stop sees its share rise at the next samples, instead of being held to `1 / N`
//!   as a static split would hold it. A key with half of what it can hold unspent is not being
//!   contended for, so the share then moves towards more than was measured (a client that held
//!   itself back has too little spending of its own to compare). Every client sees the same
//!   key and claims at the same sample, so a client that does not know its fleet claims in
//!   proportion to its own part: together the clients claim at most twice the key, however
//!   many they are, except at the first measurement after a limit is set and on a key nearly
//!   full ([`Window::claim`]).
//! * **Using it.** The window refills at `share × r`, and a correction sets its level to our
//!   share of what the server reports: `share × (R₁ − others' spending over the reaction
//!   horizon) − unseen`. The lane keeps one share for all its windows, the smallest of their
//!   estimates: clients of one key send alike, and a limit whose bucket refills within a round
//!   trip (requests, a second's worth) hides the split that a minute of tokens shows. Two samples
//!   are at least 2 s apart, or half the time the server's bucket takes to refill if shorter.
//! * **Cold start.** Once the server first reports on a limit, a shared key's window starts at
//!   a quarter share (`1 / N` for a member that knows its fleet of `N`), so a fleet started in
//!   lock step does not each claim the whole saved-up level and rate before the first samples
//!   arrive. A client alone pays for that caution with
//!   a slower first half minute (measured on the simulator's solo traces: 0.3–5 % longer than
//!   the same engine told `shared_key(false)`); one that knows it is alone says so.
//! * **Burst.** A provider may enforce a per-minute limit over shorter slices than we assume. A
//!   429 on this limit while our own window still had room is evidence of that: the assumed
//!   capacity is halved (down to the request's own cost). A later `remaining` above the assumed
//!   capacity is evidence the other way and raises it again.
//!
//! # Refunds after the debt cap
//!
//! A correction charges our unseen permits to the window, but no debt exceeds one window's
//! worth: when the unseen charges exceed `remaining` by more than that, the window takes less
//! than they charged (1 095 614 requests unseen against a learned 192 553 per minute with none
//! remaining: a later cancel would refill it completely). The window's bucket remembers what
//! the cap forgave and refunds pay that off first, as for a debit the cap cut short (see
//! [`Bucket`]'s module docs); a correction that sets the level from the server's numbers starts
//! it afresh, since that level counts every charge still unseen again.

use crate::bucket::Bucket;
use crate::{Limit, LimitKind};

/// Share samples are taken at most this often (µs), or twice per refill of what the server
/// holds if that is sooner; closer syncs still correct the level.
pub(crate) const MIN_SAMPLE_US: u64 = 2_000_000;

/// A whole share of the key, in the fixed point [`Window::share`] uses.
const SHARE_ONE: u16 = 1 << 10;

/// The share of the key a client always keeps, whatever it sees others spend: 1/64.
const MIN_SHARE: u16 = SHARE_ONE >> 6;

/// The share a window starts from once the server first reports: the whole key when it is
/// not shared, `1 / N` for a member of a fleet of `N` that says so, else a quarter.
pub(crate) fn cold_share(shared: bool, fleet: Option<u16>) -> u16 {
    match (shared, fleet) {
        (false, _) => SHARE_ONE,
        (true, Some(size)) => SHARE_ONE
            .checked_div(size)
            .map_or(SHARE_ONE / 4, |share| share.max(MIN_SHARE)),
        (true, None) => SHARE_ONE / 4,
    }
}

/// The provider's side of one limit.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub(crate) struct Window {
    /// Refills at our share of the limit; its burst is the assumed provider capacity.
    pub(crate) bucket: Bucket,
    /// Assumed provider capacity, in units (at most the limit's amount).
    capacity: u32,
    /// The highest `remaining` any response reported (rescaled when the limit changes: see
    /// [`Window::set_limit`]): the provider's bucket holds at least this much, and a prediction
    /// never expects more (a provider that enforces a minute's limit over one-second slices
    /// never reports more than a second's worth).
    peak: u32,
    /// Our share of the key, in 1/[`SHARE_ONE`] (from 1/64 to all of it): a moving
    /// average of our part of what the key spent.
    share: u16,
    /// Who else may spend the key, as far as this client was told.
    sharing: Sharing,
    /// Our spending, units per window, averaged over samples.
    own_avg: i32,
    /// Others' spending, units per window, averaged over samples (signed: see the sampling).
    others_avg: i32,
    /// Our charges on this limit so far (units, wrapping): the server has seen all but the
    /// unseen ones.
    own_total: u32,
    /// The last correction that a share sample was taken against (meaningful when
    /// `sampling` is not `None`; all zero otherwise).
    sample: Sample,
    /// When the last correction that took a report as read was made (for the raise ceiling;
    /// meaningful when `has_synced`).
    synced_at: u64,
    /// The provider's level (our part of it) as the last correction that took a report as read
    /// found it: the level it set plus the charges of ours it took out as unseen (for the raise
    /// ceiling).
    synced_level: i32,
    /// How far share samples came since the limit was last set. With `has_synced` it stands
    /// for `Option`s, whose tags would each pad out to 8 bytes (a window of 112 bytes, not
    /// 128).
    sampling: Sampling,
    /// Whether any correction took a report as read (the ceiling has an anchor).
    has_synced: bool,
    /// The `share` the bucket's rate was last tuned to (0 when its rate is the limit's own):
    /// a correction that changes neither share nor capacity keeps the rate it has.
    tuned: u16,
}

/// Who else may spend a key, as far as its client was told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
enum Sharing {
    /// Nobody: the share is the whole key, always.
    Alone,
    /// Clients it does not know: the share is learned.
    Unknown,
    /// A fleet whose size it knows (and its own request slots): the share is learned too.
    Fleet,
}

/// How far a window's share samples came since its limit was last set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
enum Sampling {
    /// No sample yet.
    None,
    /// One sample, the point the next is compared with: no share measured yet.
    Point,
    /// A share measured: two samples compared at least once.
    Measured,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
struct Sample {
    at: u64,
    reported: u32,
    own_seen: u32,
}

impl Sample {
    const NONE: Self = Self {
        at: 0,
        reported: 0,
        own_seen: 0,
    };
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
    /// Whether `remaining` counts units of the window's own limit: not when the response
    /// reported another limit that the window has not adopted (a raise beyond the growth bound
    /// waiting to be confirmed). Such a `remaining` still corrects the level (read against the
    /// window's amount, as any other), but teaches neither the provider's capacity nor our
    /// share: both compare it with reports of the window's own limit.
    pub(crate) own_limit: bool,
}

impl Window {
    /// A full window for `limit`. On a `shared` key the share starts at [`cold_share`] once
    /// the server first reports on this limit, and is learned; otherwise it is the whole key,
    /// always.
    pub(crate) fn new(kind: LimitKind, limit: Limit, shared: bool, fleet: Option<u16>) -> Self {
        let capacity = limit.amount();
        let mut window = Self {
            bucket: Bucket::new(kind, limit),
            capacity,
            peak: 0,
            share: cold_share(shared, fleet),
            sharing: match (shared, fleet) {
                (false, _) => Sharing::Alone,
                (true, None) => Sharing::Unknown,
                (true, Some(_)) => Sharing::Fleet,
            },
            own_avg: 0,
            others_avg: 0,
            own_total: 0,
            sample: Sample::NONE,
            synced_at: 0,
            synced_level: 0,
            sampling: Sampling::None,
            has_synced: false,
            tuned: 0,
        };
        // Until the server has reported on this limit, nothing is known about others: refill at
        // the full rate (a provider that sends no headers is paced at its limit).
        window.bucket.retune(0, capacity, capacity);
        // Full: the retune kept the level of the pace-sized burst the bucket was built with (a
        // second's worth of requests), which a correction that may only lower (an observation)
        // would then keep, as if the window had been spent before anything was sent.
        window.bucket.set_units(0, i64::from(capacity));
        window
    }

    /// The provider's limit.
    pub(crate) fn limit(&self) -> Limit {
        self.bucket.limit()
    }

    /// Estimated spending by others, units per window: the part of the limit not ours.
    pub(crate) fn foreign(&self) -> u32 {
        let amount = self.limit().amount();
        amount.saturating_sub(self.share())
    }

    /// Our share of the limit's rate, units per window.
    pub(crate) fn share(&self) -> u32 {
        let amount = u64::from(self.limit().amount());
        let share = mul_div(amount, u64::from(self.share), u64::from(SHARE_ONE));
        u32::try_from(share).unwrap_or(u32::MAX).max(1)
    }

    /// Our share of the key, in the window's fixed point.
    pub(crate) fn share_fixed(&self) -> u16 {
        self.share
    }

    /// Adopts the lane's share of the key (the most cautious of its windows'), keeping the
    /// level.
    pub(crate) fn adopt_share(&mut self, now: u64, share: u16) {
        if share != self.share && self.has_synced {
            self.share = share;
            self.tune(now);
        }
    }

    /// Counts a settled request's correction of ours on this limit: `delta` (actual less
    /// charged, wrapping) of which `retro` belongs to the instant the request was admitted,
    /// `admitted_at` (the provider charged the real amount then: input tokens, or nothing at
    /// all for a request it refused), and the rest to now (a reservation the provider itself
    /// gives back at completion). The counter wraps: only differences between two samples are
    /// read, and those are far below 2^31.
    pub(crate) fn count_own(&mut self, delta: u32, retro: u32, admitted_at: u64) {
        self.own_total = self.own_total.wrapping_add(delta);
        if self.sampling != Sampling::None && admitted_at <= self.sample.at {
            self.sample.own_seen = self.sample.own_seen.wrapping_add(retro);
        }
    }

    /// Moves one permit's charge on this window from `charged` to `actual` units (a refund
    /// first pays off what the debt cap forgave: see the module docs); `older` says it was
    /// admitted before the lane's latest admission.
    pub(crate) fn reconcile(&mut self, now: u64, charged: u64, actual: u64, older: bool) {
        self.bucket.reconcile(now, charged, actual, older, u64::MAX);
    }

    /// Counts a new admission's charge.
    pub(crate) fn count_admitted(&mut self, charge: u64) {
        self.own_total = self.own_total.wrapping_add(charge as u32);
    }

    /// The provider reported a new limit: rescale, keeping the level and the learned share.
    pub(crate) fn set_limit(&mut self, now: u64, kind: LimitKind, limit: Limit) {
        let old = self.limit().amount();
        let level = self.bucket.level(now);
        let forgiven = self.bucket.forgiven();
        self.bucket = Bucket::new(kind, limit);
        self.bucket.set_forgiven(forgiven);
        let amount = limit.amount();
        self.capacity = if self.capacity >= old {
            amount
        } else {
            scale(self.capacity, amount, old).clamp(1, amount)
        };
        // A provider's bucket holds at least one unit whatever its rate, so of a peak only what
        // it held above one scales with the limit: rescaled whole, the 1 request a key of 50 a
        // minute held (a second's worth, 0.83, is less than one) became 20 under 1 000 a minute,
        // where the provider held 16, and every later sample found 4 missing, as if others
        // spent them (a client alone lost a third of its share). Not learned afresh from 0
        // either: on a drained key the reports since the change are 0, and a sample that
        // expects no more than that reads others' spending as our own negative.
        self.peak = match self.peak.checked_sub(1) {
            Some(above) => scale(above, amount, old).saturating_add(1).min(amount),
            None => 0,
        };
        self.sample = Sample::NONE;
        self.sampling = Sampling::None;
        // The raise ceiling keeps the used fraction, as the pace does: a tier upgrade reported
        // by the server may be followed at once, in proportion.
        if self.has_synced {
            let level = u32::try_from(self.synced_level.max(0)).unwrap_or(0);
            self.synced_level = i32::try_from(scale(level, amount, old)).unwrap_or(i32::MAX);
        }
        self.tuned = 0;
        self.tune(now);
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
            self.tune(now);
        }
    }

    /// Folds one response's `remaining` in at `now`.
    pub(crate) fn correct(&mut self, now: u64, report: Report) {
        let amount = u64::from(self.limit().amount());
        let remaining = report.remaining.min(amount);
        if report.newest && report.own_limit {
            self.learn_capacity(remaining);
            self.sample_share(now, remaining, &report);
        }
        let share = self.share();
        let ours = self.ours(remaining, share, report.horizon_us);
        let target = to_i64(ours).saturating_sub(to_i64(report.unseen));
        let level = self.corrected_level(now, target, report.newest, report.unseen);
        // With the whole key, a level the window already holds in whole units keeps the part of
        // a unit it has refilled: see `Window::keeps_fraction`.
        if !self.keeps_fraction(now, level) {
            self.bucket.set_units(now, level);
        }
        if level == target {
            // A level read from the server replaces what earlier corrections forgave: it counts
            // every charge still unseen afresh. One kept from before keeps its forgiveness.
            let owed = level.min(0).unsigned_abs();
            let forgiven = owed.saturating_sub(amount);
            self.bucket
                .set_forgiven(u32::try_from(forgiven).unwrap_or(u32::MAX));
        }
        // The ceiling's anchor moves only to a report taken as read: one the ceiling cut short
        // would move it by the refill rounded up, and a lie repeated a millisecond apart would
        // then raise the window a unit a response.
        if report.newest && level == target {
            self.synced_at = now;
            let server = level.saturating_add(to_i64(report.unseen));
            self.synced_level =
                i32::try_from(server).unwrap_or(if server < 0 { i32::MIN } else { i32::MAX });
            self.has_synced = true;
        }
    }

    /// Our part of `remaining` (at most the limit's amount), our `share` of the limit in
    /// units: our share of what remains once others' spending over the reaction horizon is
    /// taken out.
    ///
    /// With the whole key (a key not shared: nothing foreign), nobody else's spending is waited
    /// out and all of `remaining` is ours: `share` is then the amount, so the two divisions
    /// would give exactly that (`remaining · amount / amount`, whose product fits in 64 bits).
    ///
    /// On 64-bit targets neither quotient takes a division when the limit's window is a
    /// minute ([`mul_div_window`]), `remaining` is within the amount and the share is above the
    /// one-unit minimum ([`Window::part`]).
    fn ours(&self, remaining: u64, share: u32, horizon_us: u64) -> u64 {
        let amount = self.limit().amount();
        let foreign = amount.saturating_sub(share);
        if foreign == 0 {
            return remaining;
        }
        let lag = mul_div_window(u64::from(foreign), horizon_us, self.window_us());
        self.part(remaining.saturating_sub(lag), share)
    }

    /// `⌊units · share / amount⌋` for `share` = [`Window::share`], without dividing when
    /// `units` is within the limit's amount and the share is not the one-unit minimum.
    ///
    /// `share = ⌊amount · s / 2^10⌋` for the fixed-point share `s`, so `share ≤ amount · s /
    /// 2^10 < share + 1`: the exact quotient `units · share / amount` lies in `(z − units /
    /// amount, z]` for `z = units · s / 2^10`, an interval of at most one unit when `units ≤
    /// amount`. So its floor `q` is `⌊z⌋` (a shift) or one less, and it is `⌊z⌋` exactly when
    /// `⌊z⌋ · amount ≤ units · share`: one product compared instead of a 64-bit division
    /// (≈ 10–40 cycles, one per window of a shared key on every response). Every product
    /// stays below 2^64 (`units`, `share` and `amount` below 2^32, `s` at most 2^10).
    /// Property-tested equal to the division
    /// (`a_share_of_a_report_is_the_quotient_without_dividing`). 64-bit targets only, as the
    /// other shortcuts of a correction: on a Cortex-M4 it would take 116 B of flash.
    fn part(&self, units: u64, share: u32) -> u64 {
        debug_assert_eq!(share, self.share(), "the share the fixed point gives");
        let amount = u64::from(self.limit().amount());
        let (share, fixed) = (u64::from(share), u64::from(self.share));
        let scaled = amount.saturating_mul(fixed);
        if !cfg!(target_pointer_width = "64")
            || units > amount
            || share.saturating_mul(u64::from(SHARE_ONE)) > scaled
        {
            // Beyond the amount, or the share raised to one unit (or a 32-bit target): divided.
            return mul_div(units, share, amount);
        }
        let upper = units.saturating_mul(fixed) >> SHARE_ONE.trailing_zeros();
        if upper.saturating_mul(amount) <= units.saturating_mul(share) {
            upper
        } else {
            upper.saturating_sub(1)
        }
    }

    /// Retunes the bucket to our share of the limit and the assumed capacity, keeping its level
    /// in whole units (see `Bucket::retune`). When neither changed since the last retune, the
    /// rate is already right: only the level is re-set, as the retune would (no rate recomputed).
    fn tune(&mut self, now: u64) {
        if self.rate_kept() {
            let level = self.bucket.level(now);
            self.bucket
                .set_units(now, level.min(i64::from(self.bucket.burst())));
            return;
        }
        self.retune_rate(now);
    }

    /// Sets the bucket's rate to our share and its burst to the assumed capacity (keeping its
    /// level in whole units), and remembers the share it was tuned to.
    fn retune_rate(&mut self, now: u64) {
        self.bucket.retune(now, self.share(), self.capacity);
        self.tuned = self.share;
    }

    /// `Window::tune`, then the bucket's level: for a correction, which sets the level
    /// afresh right after (so the retuned level is only read, never kept).
    ///
    /// With the rate kept, the retune would set the level in whole units `n` (its level capped
    /// at the burst), and read back gives `n` again whenever a unit takes more than a
    /// microsecond (`⌈n·T⌉` then holds exactly `n`), `n` is no debt (a debt reads back rounded
    /// up) and `now` plus the burst's time does not saturate: then `n` is returned unset.
    fn tuned_level(&mut self, now: u64) -> i64 {
        if !self.rate_kept() {
            self.retune_rate(now);
            return self.bucket.level(now);
        }
        let level = self.bucket.level(now).min(i64::from(self.bucket.burst()));
        if level >= 0
            && self.bucket.cost_time(1) > 1
            && now.checked_add(self.bucket.capacity()).is_some()
        {
            return level;
        }
        self.bucket.set_units(now, level);
        self.bucket.level(now)
    }

    /// The level a correction sets towards `target`: `target` when the window (as retuned,
    /// [`Window::tuned_level`]) holds no less, else the window's own level when the response
    /// is not the newest, else `target` as far as [`Window::ceiling`] allows and never below
    /// the window's own level.
    ///
    /// When the retune keeps the rate and the level as read ([`Window::kept_credit`]), the
    /// window's level is compared by its time of credit instead of read: `n ≥ 0` units are
    /// held exactly when `n` is within the burst and their refill time, rounded up, is within
    /// the credit (`⌈n·T⌉ ≤ t` is `n ≤ ⌊t / T⌋`). A multiply instead of a division, and the
    /// usual corrections (the target within the level, or the ceiling binding) never read it.
    /// 64-bit targets only (see the body).
    fn corrected_level(&mut self, now: u64, target: i64, newest: bool, unseen: u64) -> i64 {
        // On 64-bit targets only: on 32-bit ones the comparisons' code costs more flash than
        // their time is worth there (≈ 400 B on a Cortex-M4; the read gives the same level).
        let credit = if cfg!(target_pointer_width = "64") {
            self.kept_credit(now)
        } else {
            None
        };
        let Some(credit) = credit else {
            let current = self.tuned_level(now);
            return if target <= current {
                target
            } else if !newest {
                current
            } else {
                target.min(current.max(self.ceiling(now, unseen)))
            };
        };
        if self.credit_holds(credit, target) {
            return target;
        }
        if newest {
            let ceiling = self.ceiling(now, unseen);
            if ceiling >= target {
                return target;
            }
            // `ceiling < target`, so `ceiling + 1` does not saturate.
            if !self.credit_holds(credit, ceiling.saturating_add(1)) {
                return ceiling;
            }
        }
        // The window holds more than the target would set (and than the ceiling, when newest):
        // its own level, read.
        self.tuned_level(now)
    }

    /// The bucket's time of credit at `now`, `C − (TAT − now)`, when [`Window::tuned_level`]
    /// would return its whole units (capped at the burst) without setting anything: the rate
    /// kept, no debt, a unit taking more than a microsecond and `now + C` not saturating.
    fn kept_credit(&self, now: u64) -> Option<u64> {
        let full_at = now.checked_add(self.bucket.capacity())?;
        let tat = self.bucket.full_at().as_ticks();
        if tat > full_at || !self.rate_kept() || self.bucket.cost_time(1) <= 1 {
            return None;
        }
        Some(full_at.saturating_sub(tat))
    }

    /// Whether a bucket with `credit` of [`Window::kept_credit`] holds at least `units`.
    fn credit_holds(&self, credit: u64, units: i64) -> bool {
        u64::try_from(units).map_or(true, |units| {
            units <= u64::from(self.bucket.burst()) && self.bucket.cost_time(units) <= credit
        })
    }

    /// Whether the bucket's rate and burst are already our share and the assumed capacity.
    fn rate_kept(&self) -> bool {
        self.tuned == self.share && self.bucket.burst() == self.capacity.max(1)
    }

    /// Whether a correction to `level` leaves the window's bucket as it is: with the whole key
    /// (others seen spending less than an eighth of what we spend, or a key not shared) and
    /// `level` the whole units, not in debt, that the window already holds.
    ///
    /// A provider reports whole units, rounded down. A report of the level the window holds
    /// confirms the window's own account, and the part of a unit the window has refilled since
    /// it last admitted is what such a report cannot show: setting the level would drop it, and
    /// where a unit is a request, every response between two admissions delayed the next by up
    /// to a whole interval (at 50 a minute, 1.2 s). With a share below the whole key the level
    /// is our share of a report, rounded down, and others spend between reports: the fraction
    /// is not ours to keep (kept there, fleets of gateways met more 429s and gave up more).
    ///
    /// On 64-bit targets compared by multiplies ([`Bucket::holds_exactly`]); on 32-bit ones the
    /// level is read: the comparison's code costs more flash than its time is worth there.
    fn keeps_fraction(&self, now: u64, level: i64) -> bool {
        if self.share != SHARE_ONE {
            return false;
        }
        // A window in debt is set as before: no fraction of a unit is kept below zero.
        let Ok(units) = u64::try_from(level) else {
            return false;
        };
        if cfg!(target_pointer_width = "64") {
            self.bucket.holds_exactly(now, units)
        } else {
            level == self.bucket.level(now)
        }
    }

    /// The highest level a correction may raise the window to: the provider's level as the last
    /// report taken as read showed it (`synced_level`) plus the refill at the full rate since,
    /// rounded up, less our charges still `unseen` (the whole capacity before any such report).
    ///
    /// Rounded up because a report rounds down: a provider that reported `R` held less than
    /// `R + 1`, so it holds less than `R + 1 + refill` later, and reports at most `R + ⌈refill⌉`.
    /// Rounded down, a truthful report one unit above that floor was refused until the next one
    /// (at 50 requests a minute, a whole request: 1.2 s). Read from the provider's level, not
    /// the level the correction set: that level had our charges then unseen taken out, and
    /// once the provider has counted them a report no longer includes them, so a ceiling
    /// built on it held the window a unit below the truth for every charge counted twice.
    fn ceiling(&self, now: u64, unseen: u64) -> i64 {
        if !self.has_synced {
            return i64::from(self.capacity);
        }
        let refill = mul_div_window_up(
            u64::from(self.limit().amount()),
            now.saturating_sub(self.synced_at),
            self.window_us(),
        );
        i64::from(self.synced_level)
            .saturating_add(to_i64(refill))
            .saturating_sub(to_i64(unseen))
    }

    /// A `remaining` above the assumed capacity shows the provider holds at least that much.
    fn learn_capacity(&mut self, remaining: u64) {
        let remaining = u32::try_from(remaining).unwrap_or(u32::MAX);
        self.peak = self.peak.max(remaining);
        if remaining > self.capacity {
            self.capacity = remaining.min(self.limit().amount());
        }
    }

    /// Takes a sample of our share of the key against the last one, if far enough apart.
    fn sample_share(&mut self, now: u64, remaining: u64, report: &Report) {
        if self.sharing == Sharing::Alone {
            return;
        }
        let last = self.sample;
        let elapsed = now.saturating_sub(last.at);
        // A bucket that can refill completely between two samples hides what was spent in
        // between: sample at least twice per refill of what the server holds. (Too soon is
        // under both bounds: the refill time is only needed under the first.) Tested before
        // anything else is read: most responses come too soon.
        if self.sampling != Sampling::None
            && elapsed < MIN_SAMPLE_US
            && self.within_half_fill(elapsed)
        {
            return;
        }
        let own_seen = self.own_total.wrapping_sub(report.unseen as u32);
        let point = Sample {
            at: now,
            reported: u32::try_from(remaining).unwrap_or(u32::MAX),
            own_seen,
        };
        if self.sampling == Sampling::None {
            self.sample = point;
            self.sampling = Sampling::Point;
            return;
        }
        self.sample = point;
        let refill = mul_div_window(u64::from(self.limit().amount()), elapsed, self.window_us());
        // Our spending the server counted between the two samples. Signed: a refund for a
        // request counted in the last sample (a 429 the server never charged) makes this
        // interval's own spending negative, cancelling last time's excess.
        let own = i64::from(own_seen.wrapping_sub(last.own_seen).cast_signed());
        // The server's level cannot have grown past what it ever reported holding (plus the
        // rounding of those reports).
        let ceiling = u64::from(self.capacity.min(self.peak)).saturating_add(report.rounding);
        let expected = to_i64(u64::from(last.reported).saturating_add(refill).min(ceiling));
        // What others spent: the level the server should have had after our own spending,
        // less what it reports. Both ends were rounded: within twice the rounding is noise.
        let missing = expected
            .saturating_sub(own)
            .saturating_sub(to_i64(remaining));
        // Both ends were rounded: within twice the rounding is noise.
        let band = to_i64(report.rounding.saturating_mul(2));
        let others = if missing.abs() <= band {
            0
        } else {
            missing.saturating_sub(band.saturating_mul(missing.signum()))
        };
        // Rates per window, averaged with weight 1/2, *signed*: our own corrections land later
        // than the provider's charges (an in-flight request counted as unseen that the server
        // had in fact seen, a reservation given back at completion), which shows up as others
        // spending in one sample and as much negative spending in the next. Averaged signed,
        // that noise cancels; clamped per sample, it would only ever lower the share.
        let per_window = |units: i64| {
            let rate = to_i64(mul_div(
                units.unsigned_abs(),
                self.window_us(),
                elapsed.max(1),
            ));
            if units < 0 {
                rate.saturating_neg()
            } else {
                rate
            }
        };
        let own_avg = average(self.own_avg, per_window(own));
        let others_avg = average(self.others_avg, per_window(others));
        self.own_avg = own_avg;
        self.others_avg = others_avg;
        let (own, others) = (i64::from(own_avg).max(0), i64::from(others_avg).max(0));
        let one = i64::from(SHARE_ONE);
        // Spending by others below an eighth of ours is the timing noise above, not a second
        // client.
        let measured = if others.saturating_mul(8) <= own {
            one
        } else {
            own.saturating_mul(one)
                .checked_div(own.saturating_add(others))
                .unwrap_or(0)
        };
        let measured = self.claim(measured, remaining);
        self.sampling = Sampling::Measured;
        let share = i64::from(self.share);
        // Halfway, rounded away from the share (towards the measurement): rounded towards it, a
        // share one step short of the whole key stayed there for good, and cut every small
        // `remaining` down by a unit (`⌊1 · 49 / 50⌋ = 0` requests).
        let step = measured.saturating_sub(share);
        let moved = share.saturating_add(step.saturating_add(step.signum()) / 2);
        self.share = u16::try_from(moved.clamp(i64::from(MIN_SHARE), one)).unwrap_or(MIN_SHARE);
    }

    /// The share a sample moves towards, from our `measured` part of the key's spending, when
    /// the server reports `remaining`: a key with at least half of what it holds unspent is
    /// not being contended for, whatever the averages say (a client that held itself back has
    /// little spending of its own to compare), so the sample claims more than it measured.
    ///
    /// Every client of the key sees the same `remaining` and claims at the same sample, so the
    /// claim's size is what the key is overdrawn by. A client that does not know its fleet
    /// claims in proportion to its own part, `measured × (1 + k)`, where `k = 2u − 1` grows
    /// from nothing at half unspent (`u = 1/2`) to all of it on a full key. Clients' measured
    /// parts sum to the whole key, so together they claim at most twice the key, however many
    /// they are (but for the two cases below where every client claims half of what remains).
    /// Each claiming half of what remains at every such sample, as told members do, let sixteen
    /// gateways claim eight keys' worth at once and meet 429s together a minute later.
    ///
    /// Half of what remains is still claimed:
    /// * by a member told its fleet: its requests keep to their slots, and the proportional
    ///   claim made a told fleet of sixteen 9 % slower for a quarter fewer 429s;
    /// * by the first measurement since the limit was set, which compares against a point
    ///   taken while the first requests were in flight: our charges still in flight read as
    ///   others' spending (no tokens of ours against 2 097 of "others" on the prompt-caching
    ///   trace), and a proportional claim of nothing slowed a client alone by up to 1.4 %;
    /// * on a key nearly full (15/16 unspent), if larger: a safety net for a client squeezed to
    ///   the least share, whose measured part is then mostly noise. A told client claiming in
    ///   proportion without it took 2.9 times as long on the reserved-output trace. No client
    ///   of the bundled traces that was not told its fleet needed it: without it their fleets
    ///   gave up 15–43 % fewer requests but took 2–6 % longer.
    ///
    /// Measured in benches/RESULTS.md ("twelfth session").
    fn claim(&self, measured: i64, remaining: u64) -> i64 {
        // In 32 bits but for one product: on 32-bit targets 64-bit sums and tests cost flash.
        let holds = self.capacity.min(self.peak.max(1)).max(1);
        let remaining = u32::try_from(remaining).unwrap_or(u32::MAX).min(holds);
        let spent = holds.saturating_sub(remaining);
        // Below half unspent (`remaining < spent`): what was measured.
        let Some(excess) = remaining.checked_sub(spent) else {
            return measured;
        };
        let one = i64::from(SHARE_ONE);
        let half_of_rest = measured.saturating_add(one.saturating_sub(measured) / 2);
        if self.sharing == Sharing::Fleet || self.sampling != Sampling::Measured {
            return half_of_rest;
        }
        // `measured · (1 + excess / holds)`, `excess = 2u − 1` of `holds`; the product of a
        // share (at most 2^10) and 32 bits fits in 64.
        let part = u64::try_from(measured).unwrap_or(0);
        let more = part
            .saturating_mul(u64::from(excess))
            .checked_div(u64::from(holds))
            .unwrap_or(0);
        let proportional = i64::try_from(part.saturating_add(more))
            .unwrap_or(one)
            .min(one);
        // 15/16 unspent or more: `16 · spent ≤ holds` is `spent ≤ ⌊holds / 16⌋`.
        if spent <= holds / 16 {
            proportional.max(half_of_rest)
        } else {
            proportional
        }
    }

    /// Whether `elapsed` (below [`MIN_SAMPLE_US`]) is less than half the time the server's
    /// bucket takes to refill what it holds, `fill = ⌊held · window / amount⌋`: `elapsed <
    /// ⌊fill / 2⌋` is `2 · amount · (elapsed + 1) ≤ held · window`, a multiply instead of a
    /// division (the left side stays below 2^54; a right side beyond 64 bits is more).
    fn within_half_fill(&self, elapsed: u64) -> bool {
        let held = u64::from(self.capacity.min(self.peak.max(1)));
        let amount = u64::from(self.limit().amount().max(1));
        held.checked_mul(self.window_us()).is_none_or(|fill| {
            elapsed
                .saturating_add(1)
                .saturating_mul(2)
                .saturating_mul(amount)
                <= fill
        })
    }

    fn window_us(&self) -> u64 {
        u64::from(self.limit().window_ms()).saturating_mul(1_000)
    }
}

/// Moves a running average halfway to a sample.
fn average(average: i32, sample: i64) -> i32 {
    let average = i64::from(average);
    let moved = average.saturating_add(sample.saturating_sub(average) / 2);
    i32::try_from(moved).unwrap_or(if moved < 0 { i32::MIN } else { i32::MAX })
}

fn to_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// `a · b / c` for the window's small numbers, saturating.
fn mul_div(a: u64, b: u64, c: u64) -> u64 {
    crate::bucket::mul_div(a, b, c.max(1))
}

/// A minute in µs: the window of Anthropic's limits and of OpenAI's per-minute ones.
const MINUTE_US: u64 = 60_000_000;

/// [`mul_div`] by a limit's `window_us`. A minute is divided by as a constant, which the
/// compiler turns into a multiply and shifts: the same quotient without a 64-bit division
/// (≈ 10–40 cycles; a response's correction of a window may take three: the raise ceiling's
/// refill, and on a shared key the share's lag and a share sample's refill). 64-bit targets
/// only: on 32-bit ones a 64-bit division by a constant is the library call all the same.
fn mul_div_window(a: u64, b: u64, window_us: u64) -> u64 {
    if cfg!(target_pointer_width = "64")
        && window_us == MINUTE_US
        && let Some(product) = a.checked_mul(b)
    {
        return product / MINUTE_US;
    }
    mul_div(a, b, window_us)
}

/// `⌈a · b / window_us⌉`, saturating (one above the quotient when the product exceeds 64
/// bits), by [`mul_div_window`].
fn mul_div_window_up(a: u64, b: u64, window_us: u64) -> u64 {
    let c = window_us.max(1);
    let down = mul_div_window(a, b, c);
    match a.checked_mul(b) {
        Some(product) if down.checked_mul(c) == Some(product) => down,
        _ => down.saturating_add(1),
    }
}

fn scale(value: u32, to: u32, from: u32) -> u32 {
    u32::try_from(mul_div(u64::from(value), u64::from(to), u64::from(from))).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests;
