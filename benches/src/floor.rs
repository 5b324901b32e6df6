//! The floor of an admission: the least that an exact, all-or-nothing admission against three
//! limits, each metered twice, must execute, written for that and nothing else.
//!
//! Why it exists: issue 13 asked `Policy::acquire` to cost no more than one governor `check_n`
//! (≤ 110 instructions). Whether that is out of reach, and by how much, is a question about what
//! the admission must do, not about how headroom happens to do it. So this module does only what
//! it must, and `benches/icount.sh` counts it beside `acquire` and governor, as a yardstick:
//!
//! * **Six meters.** Each limit (requests, input tokens, output tokens) is a GCRA meter for the
//!   configured pace and one for the provider's window: the pace alone keeps guarantee 1 across
//!   header syncs, the window alone follows what the server says (see `core/src/lane/window.rs`).
//! * **All or nothing.** Every meter is checked before any is charged: a request refused by its
//!   output tokens takes no request and no input tokens.
//! * **Exact arithmetic.** A unit's time is a 16-bit fixed-point number of microseconds, rounded
//!   up, so that charges never admit more than the limit. Nothing wraps: a charge beyond a burst
//!   is refused before its time is computed, bursts are at most [`MAX_TOLERANCE`] long and
//!   instants at or after [`MAX_NOW`] are refused, so no sum needs to saturate.
//! * **The permit recorded.** A settle must know what the admission charged and where each pace's
//!   charge ended (to give back what was not used), so a record holds the id, the admission
//!   instant, the three charges and the three pace ends, in a slot taken from a free bitmap.
//!
//! What it leaves out, and headroom's `acquire` does: priorities (a background request leaves a
//! reserve), the combined-tokens limit, the refund floor (a refund never reaches before the
//! latest admission), what the debt cap forgave, the refund base of the permit table, the chain
//! of permits in admission order that a sync and a refund walk, the engine clock's guard against
//! time going backwards, the reason and wait of a refusal, the retry state of a permit, and the
//! lanes a policy holds. Each of those is behaviour, so this floor is below what headroom can
//! reach while keeping it.
//!
//! ```
//! use headroom_benches::floor::{Floor, Meter};
//!
//! // 60 requests a minute, burst 2, and a window that holds a minute's worth.
//! let meters = [
//!     Meter::per_minute(60, 2), Meter::per_minute(60, 60),
//!     Meter::per_minute(6_000, 6_000), Meter::per_minute(6_000, 6_000),
//!     Meter::per_minute(6_000, 6_000), Meter::per_minute(6_000, 6_000),
//! ];
//! let mut floor = Floor::new(meters);
//! assert!(floor.acquire(0, [1, 10, 10]).is_some());
//! assert!(floor.acquire(0, [1, 10, 10]).is_some());
//! assert!(floor.acquire(0, [1, 10, 10]).is_none(), "the requests pace holds two");
//! assert!(floor.acquire(1_000_000, [1, 10, 10]).is_some(), "one refilled in a second");
//! ```

/// Fraction bits of a unit's time.
const UNIT_SHIFT: u32 = 16;

/// Instants at or after this (µs, ≈ 146 000 years) are refused: below it, with a burst's time
/// below [`MAX_TOLERANCE`], no sum of an admission can overflow, so none needs to saturate.
pub const MAX_NOW: u64 = 1 << 62;

/// The longest burst a meter holds (µs, ≈ 2.2 years): a burst is clamped to it, so that a
/// charge within the burst, `units × unit time` in fixed point, fits in 64 bits.
pub const MAX_TOLERANCE: u64 = 1 << 46;

/// One GCRA meter: its theoretical arrival time, a unit's time and the burst.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Meter {
    /// When the meter is next empty of charges (µs).
    tat: u64,
    /// A unit's time in µs, with [`UNIT_SHIFT`] fraction bits, rounded up.
    unit_fp: u64,
    /// The most units one admission may charge: the burst.
    burst: u64,
    /// What the meter may run ahead of now: the burst's time (µs).
    tolerance: u64,
}

impl Meter {
    /// A meter of `amount` units a minute that holds `burst` units (`0` reads as 1; a burst
    /// longer than [`MAX_TOLERANCE`] is cut to it).
    ///
    /// # Examples
    ///
    /// ```
    /// use headroom_benches::floor::Meter;
    ///
    /// // 1 000 units a minute: 60 ms a unit, a burst of 10 is 600 ms ahead.
    /// assert_eq!(Meter::per_minute(1_000, 10).tolerance_us(), 600_000);
    /// ```
    pub const fn per_minute(amount: u32, burst: u32) -> Self {
        let amount = if amount == 0 { 1 } else { amount as u64 };
        let minute_fp = 60_000_000_u64 << UNIT_SHIFT;
        let unit_fp = minute_fp.div_ceil(amount);
        let most = (MAX_TOLERANCE << UNIT_SHIFT) / unit_fp;
        let burst = match burst as u64 {
            0 => 1,
            burst if burst > most => most,
            burst => burst,
        };
        Self {
            tat: 0,
            unit_fp,
            burst,
            tolerance: charge_time(burst, unit_fp),
        }
    }

    /// What the meter may run ahead of now (µs): the burst's time.
    pub const fn tolerance_us(&self) -> u64 {
        self.tolerance
    }
}

/// The time `units` take at `unit_fp`, rounded up to the microsecond. Within a meter's burst
/// (`units ≤ burst`) the product is below `MAX_TOLERANCE << UNIT_SHIFT` and cannot overflow; the
/// multiplication saturates only for the constructor's sake.
const fn charge_time(units: u64, unit_fp: u64) -> u64 {
    units
        .saturating_mul(unit_fp)
        .saturating_add((1 << UNIT_SHIFT) - 1)
        >> UNIT_SHIFT
}

/// What an admission records for its settle.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Record {
    /// The admission's id (never 0 for a live record).
    pub id: u32,
    /// When it was admitted (µs).
    pub admitted_at: u64,
    /// Requests, input and output tokens charged.
    pub charges: [u32; 3],
    /// Where each pace's charge ends (µs).
    pub pace_ends: [u64; 3],
}

/// Six meters (pace and window of requests, input and output tokens, in that order) and 32
/// permit records.
#[derive(Debug, Clone)]
pub struct Floor {
    meters: [Meter; 6],
    /// Bit `i` set: slot `i` is free.
    free: u32,
    records: [Record; 32],
    next_id: u32,
}

impl Floor {
    /// Empty meters and no permit in flight.
    pub const fn new(meters: [Meter; 6]) -> Self {
        Self {
            meters,
            free: u32::MAX,
            records: [Record {
                id: 0,
                admitted_at: 0,
                charges: [0; 3],
                pace_ends: [0; 3],
            }; 32],
            next_id: 1,
        }
    }

    /// Admits `charges` (requests, input, output) at `now` on every meter or on none, and
    /// records the permit: its slot, or `None` when a meter or the table is full.
    ///
    /// # Examples
    ///
    /// ```
    /// use headroom_benches::floor::{Floor, Meter};
    ///
    /// let one = Meter::per_minute(60, 1);
    /// let mut floor = Floor::new([one; 6]);
    /// let slot = floor.acquire(0, [1, 1, 1]).unwrap();
    /// assert_eq!(floor.record(slot).unwrap().pace_ends, [1_000_000; 3]);
    /// ```
    #[inline]
    #[expect(
        clippy::arithmetic_side_effects,
        reason = "units ≤ burst keeps units × unit time below 2^62; now < 2^62 and a TAT at most \
                  now + 2^46 keep every sum below 2^63"
    )]
    pub fn acquire(&mut self, now: u64, charges: [u64; 3]) -> Option<usize> {
        if self.free == 0 || now >= MAX_NOW {
            return None;
        }
        let [rp, rw, ip, iw, op, ow] = &mut self.meters;
        let [requests, input, output] = charges;
        // A charge beyond a burst never fits; within it, its time cannot overflow.
        if requests > rp.burst.min(rw.burst)
            || input > ip.burst.min(iw.burst)
            || output > op.burst.min(ow.burst)
        {
            return None;
        }
        let end = |meter: &Meter, units: u64| {
            meter.tat.max(now) + ((units * meter.unit_fp + ((1 << UNIT_SHIFT) - 1)) >> UNIT_SHIFT)
        };
        let ends = [
            end(rp, requests),
            end(rw, requests),
            end(ip, input),
            end(iw, input),
            end(op, output),
            end(ow, output),
        ];
        if ends[0] > now + rp.tolerance
            || ends[1] > now + rw.tolerance
            || ends[2] > now + ip.tolerance
            || ends[3] > now + iw.tolerance
            || ends[4] > now + op.tolerance
            || ends[5] > now + ow.tolerance
        {
            return None;
        }
        // A free slot exists (tested first), so its record does: taken before anything is
        // charged, so that even a failure here would charge nothing.
        let slot = self.free.trailing_zeros();
        let record = self.records.get_mut(slot as usize)?;
        (rp.tat, rw.tat, ip.tat, iw.tat, op.tat, ow.tat) =
            (ends[0], ends[1], ends[2], ends[3], ends[4], ends[5]);
        self.free &= !(1 << slot);
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1).max(1);
        // Never saturates: a charge is within its burst, which came from a `u32`.
        let narrow = |units: u64| u32::try_from(units).unwrap_or(u32::MAX);
        *record = Record {
            id,
            admitted_at: now,
            charges: [narrow(requests), narrow(input), narrow(output)],
            pace_ends: [ends[0], ends[2], ends[4]],
        };
        Some(slot as usize)
    }

    /// The record in `slot`, when a permit holds it.
    pub fn record(&self, slot: usize) -> Option<&Record> {
        let free = self.free.checked_shr(u32::try_from(slot).ok()?)? & 1 == 1;
        self.records.get(slot).filter(|_| !free)
    }

    /// Frees `slot` (what a settle does last); a free slot stays free.
    pub fn release(&mut self, slot: usize) {
        if let Some(bit) = u32::try_from(slot).ok().and_then(|s| 1_u32.checked_shl(s)) {
            self.free |= bit;
        }
    }

    /// Permits in flight.
    pub const fn in_flight(&self) -> u32 {
        self.free.count_zeros()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lane() -> Floor {
        Floor::new([
            Meter::per_minute(60, 2),
            Meter::per_minute(60, 60),
            Meter::per_minute(600, 600),
            Meter::per_minute(600, 600),
            Meter::per_minute(600, 100),
            Meter::per_minute(600, 600),
        ])
    }

    #[test]
    fn a_refusal_by_one_meter_charges_none() {
        let mut floor = lane();
        assert!(floor.acquire(0, [1, 10, 100]).is_some());
        let before = floor.meters;
        assert_eq!(floor.acquire(0, [1, 10, 1]), None, "output pace is empty");
        assert_eq!(floor.meters, before);
        assert_eq!(floor.in_flight(), 1);
    }

    #[test]
    fn meters_refill_at_their_rate_and_round_charges_up() {
        let mut floor = lane();
        // 600 a minute: 100 ms a token; 100 tokens refill in 10 s.
        assert!(floor.acquire(0, [1, 0, 100]).is_some());
        assert_eq!(floor.acquire(9_999_999, [0, 0, 100]), None);
        assert!(floor.acquire(10_000_000, [0, 0, 100]).is_some());
        // 7 of 60 a minute: 7 s, never less.
        let meter = Meter::per_minute(60, 60);
        assert_eq!(charge_time(7, meter.unit_fp), 7_000_000);
        let third = Meter::per_minute(180_000_000, 1);
        assert_eq!(charge_time(1, third.unit_fp), 1, "⅓ µs rounds up to 1");
    }

    #[test]
    fn records_hold_the_charges_and_pace_ends_until_released() {
        let mut floor = lane();
        let slot = floor.acquire(5, [1, 3, 4]).unwrap_or(usize::MAX);
        let record = floor.record(slot).copied().unwrap_or_default();
        assert_eq!(record.charges, [1, 3, 4]);
        assert_eq!(record.pace_ends, [1_000_005, 300_005, 400_005]);
        assert_eq!((record.id, record.admitted_at), (1, 5));
        floor.release(slot);
        assert_eq!(floor.record(slot), None);
        assert_eq!(floor.in_flight(), 0);
    }

    #[test]
    fn a_charge_beyond_a_burst_and_the_far_future_are_refused() {
        let mut floor = lane();
        assert_eq!(
            floor.acquire(0, [3, 0, 0]),
            None,
            "the requests pace holds two"
        );
        assert_eq!(
            floor.acquire(0, [1, 0, 101]),
            None,
            "the output pace holds 100"
        );
        assert_eq!(floor.acquire(MAX_NOW, [1, 0, 0]), None);
        assert!(floor.acquire(MAX_NOW - 1, [1, 0, 0]).is_some());
        let long = Meter::per_minute(1, u32::MAX);
        assert!(long.tolerance_us() <= MAX_TOLERANCE && long.burst < 2_000_000);
    }

    #[test]
    fn a_full_table_refuses() {
        let mut floor = Floor::new([Meter::per_minute(u32::MAX, u32::MAX); 6]);
        for _ in 0..32 {
            assert!(floor.acquire(0, [1, 1, 1]).is_some());
        }
        assert_eq!(floor.acquire(0, [1, 1, 1]), None);
        floor.release(7);
        assert_eq!(floor.acquire(0, [1, 1, 1]), Some(7));
    }
}
