//! Refunds on the permit table: moving the recorded pace ends of the permits admitted after a
//! refunded one, on whichever side of it is shorter.
//!
//! Why: a refund moves a pace's TAT earlier, and with it the charges of every permit admitted
//! after the refunded one, which lay after its own. Their recorded ends must follow, or a later
//! refund of one of them would give back time that has refilled already (and admit a unit over
//! the burst). Walking every later permit on every refund made a backlogged simulation spend
//! most of its time here; each lane's running shift per pace (its `refund_base`, against which
//! every end is kept) lets the walk go the other way when that is shorter. The methods are the
//! table's own (`impl Permits`), kept here beside the walk they share.

use super::super::Reservation;
use super::{NONE, Permits};

/// The running refund shift at which a lane's ends are moved by it and it is set back to zero
/// (see [`Permits::shift_ends_after`]): 2⁴² µs, above any one refund (at most a bucket's
/// capacity, below 2⁴² µs), so a base stays below 2⁴³.
const REBASE_AT: u64 = 1 << 42;

impl<const N: usize> Permits<N> {
    /// Moves the pace ends of the live reservations of `lane` admitted after `removed` earlier
    /// by `shifts` (µs, per kind; never before their own admission): a refund moved the pace's
    /// TAT that much earlier, and their charges, which lay after the refunded one, with it.
    /// Without this, a later refund of one of them would read its end where it was before, and
    /// give back time that has refilled already. `base` is the lane's running refund shift,
    /// which every end of the lane is read with ([`Reservation::ends`]).
    ///
    /// Two ways, each exact, and the walk judged shorter is taken:
    ///
    /// * *after*: walk back from the newest to `removed` and move each end earlier;
    /// * *before*: raise `base` by the shifts, which moves every end of the lane earlier at
    ///   once, and walk back from `removed` to the oldest, moving each of those ends later
    ///   again.
    ///
    /// Which one is shorter is judged from the admissions since `removed` (ids) against the
    /// permits in flight, an estimate (those admissions include settled permits and other
    /// lanes'; a wrong guess costs time, never exactness): responses that come back in about
    /// the order their requests went out, the common case, make the second walk short, and a
    /// burst of quick responses behind slow ones the first. A shift of [`REBASE_AT`] or more,
    /// which a refund cannot make (it gives back at most the part of a charge still ahead,
    /// below a bucket's capacity), takes the first way, where nothing can wrap. Both walks
    /// unlink and free the settled slots they step over (they know each one's newer neighbour;
    /// settled slots keep no order a walk needs, since the next older slot was admitted at or
    /// before them).
    ///
    /// When a base reaches 2⁴² µs, one walk over the lane's permits moves their ends by it and
    /// sets it back to zero, so that a kept end stays below 2⁴⁴ µs (see `Ends`).
    // One shared copy: two callers (settling and cancelling), neither on the admission path.
    #[inline(never)]
    pub(crate) fn shift_ends_after(
        &mut self,
        lane: u8,
        removed: &Reservation,
        shifts: &[u64; 4],
        base: &mut [u64; 4],
    ) {
        // Its slot while later ones are in the chain (see `Reservation::linked`).
        let linked = removed.linked();
        if linked == NONE {
            return;
        }
        // Admissions since it (ids wrap past zero, which this may miscount by one: it only
        // chooses a walk).
        let after = self
            .next_id
            .get()
            .wrapping_sub(removed.id.get())
            .wrapping_sub(1);
        if after <= u32::from(self.live) / 2 || shifts.iter().any(|&shift| shift >= REBASE_AT) {
            self.move_ends(lane, self.newest, NONE, linked, shifts, u64::saturating_sub);
            return;
        }
        for (base, shift) in base.iter_mut().zip(shifts) {
            *base = base.saturating_add(*shift);
        }
        self.move_ends(
            lane,
            self.older(linked),
            linked,
            NONE,
            shifts,
            u64::wrapping_add,
        );
        if base.iter().any(|&base| base >= REBASE_AT) {
            // Every end of the lane lowered by the base, which then starts again from zero.
            self.move_ends(lane, self.newest, NONE, NONE, base, u64::saturating_sub);
            *base = [0; 4];
        }
    }

    /// Walks the chain back from `start` (whose newer neighbour is `newer`) through `last`
    /// (to the oldest for [`NONE`]), moves each kept end of the live reservations of `lane`
    /// with `by(distance, shift)` ([`Ends::update`](super::super::ends::Ends::update)), and unlinks and frees the settled slots
    /// it steps over (it knows each one's newer neighbour).
    // One copy on 32-bit targets (flash), where its three uses share it; specialised for each
    // on 64-bit ones, where a walk is long.
    #[cfg_attr(target_pointer_width = "64", inline)]
    #[cfg_attr(not(target_pointer_width = "64"), inline(never))]
    fn move_ends(
        &mut self,
        lane: u8,
        start: u16,
        mut newer: u16,
        last: u16,
        shifts: &[u64; 4],
        by: fn(u64, u64) -> u64,
    ) {
        let mut slot = start;
        while let Some(record) = self.slots.get(usize::from(slot)) {
            let older = self.older(slot);
            if record.live {
                if record.lane == lane
                    && let Some(ends) = self.ends.get_mut(usize::from(slot))
                {
                    ends.update(shifts, by);
                }
                newer = slot;
            } else if let Some(link) = self.older.get_mut(usize::from(newer)) {
                // A settled slot has a newer neighbour: the newest is live (the chain's
                // invariant), and a walk from below `linked` starts with it as the newer.
                *link = older;
                self.release(slot);
            }
            if slot == last {
                return;
            }
            slot = older;
        }
    }
}
