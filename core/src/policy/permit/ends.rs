//! Where a permit's charge ended on each pace, in 48 bits a pace instead of 64.
//!
//! Settling or cancelling gives back at most the part of a charge still ahead of `now` (what
//! lay before it has refilled already, and later admissions used it), so the table remembers
//! where each pace's charge for a permit ended: the pace's TAT right after the admission.
//! Kept whole, those are four `u64`, 32 bytes a permit, the largest part of a slot.
//!
//! An end moves after the admission: a refund of an earlier permit moves the pace's TAT, and
//! the later charges with it. The table moves the ends of the permits on the side of the
//! refunded one it judges shorter (`Permits::shift_ends_after`); when that is the older side,
//! the later ones move all at once through their lane's *base*, a running sum per pace that
//! every end is kept raised by (as it was at its admission) and read lowered by (as it is now).
//! The base stays below 2⁴³ µs, so a kept end stays below 2⁴⁴ µs, well inside the 48 bits.
//!
//! Kept as µs after the admission instant, an end needs far fewer bits, and exactly: a pace
//! admits a charge only when its TAT afterwards lies within the bucket's capacity of the
//! admission instant (GCRA: `TAT + n·T − C ≤ now`, or a full bucket and `n ≤ burst`), and a
//! capacity is `burst × T` with the burst at most the limit's amount, so at most one window
//! (rounded up to the µs): at most `u32::MAX` ms, below 2⁴² µs. 48 bits (six bytes)
//! hold every end a pace can produce, with 64 times to spare (16 with the lane's base below).
//!
//! Why the distance from the admission and not the end's own low 48 bits (which would spare
//! the admission a subtraction a pace): settling decodes every end, and adding the admission
//! back is cheaper than finding which span of 2⁴⁸ µs an end fell in.
//!
//! Why not 32 bits: 2³² µs is 71 minutes, and a pace with a longer window (a daily limit)
//! charges further out than that. An earlier table kept a `u32` of µs, saturated those ends to
//! "unknown", and a late cancel then gave back time that had refilled already.
//!
//! The boundaries, neither of which a charged pace reaches:
//!
//! * an offset of 2⁴⁸ µs (8.9 years) or more keeps only its low 48 bits: the end comes back a
//!   whole number of 2⁴⁸ µs earlier, or at the admission when the base carried it past 2⁴⁸, so
//!   a refund after that instant gives back less, never more (and the admission pays for no
//!   test);
//! * an end before the admission, which only the unused entry of an absent pace holds, comes
//!   back as another instant (after the admission, unless that is within 2⁴⁸ µs of the end of
//!   time). Settling reads only the ends of the paces the permit charged.

/// The low 48 bits of an offset: 2⁴⁸ − 1 µs, the largest kept.
const MAX_OFFSET: u64 = (1 << 48) - 1;

/// Four pace ends as µs after an admission instant, each as six little-endian bytes, one after
/// the other (24 bytes, byte-aligned, instead of 32).
///
/// Six bytes because each end is written as a whole `u64` at its place: its top two bytes land
/// where the next end goes and are overwritten by it (the last end is written six bytes wide).
/// One store an end, no shifting or masking on admission; one load and a mask on settling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub(super) struct Ends {
    bytes: [u8; 24],
}

impl Ends {
    /// Nothing recorded (a free slot).
    pub(super) const EMPTY: Self = Self { bytes: [0; 24] };

    /// Keeps `ends` (absolute µs) as their low 48 bits after `issued_at`, each raised by its
    /// pace's `base` (the lane's running refund shift, see [`Ends::get`]; see the module docs
    /// for the boundaries).
    #[inline]
    pub(super) fn set(&mut self, ends: &[u64; 4], issued_at: u64, base: &[u64; 4]) {
        let mut offsets = ends.map(|end| end.wrapping_sub(issued_at));
        for (offset, base) in offsets.iter_mut().zip(base) {
            *offset = offset.wrapping_add(*base);
        }
        let [a, b, c, d] = offsets.map(u64::to_le_bytes);
        // Written in order, each `u64` but the last overwritten above its six bytes by the next.
        for (at, bytes) in [(0_usize, a), (6, b), (12, c)] {
            if let Some(place) = self.bytes.get_mut(at..at.wrapping_add(8)) {
                place.copy_from_slice(&bytes);
            }
        }
        if let (Some(place), Some(low)) = (self.bytes.get_mut(18..24), d.first_chunk::<6>()) {
            place.copy_from_slice(low);
        }
    }

    /// Replaces each kept distance `d` by `by(d, shift)` (in 48 bits), for the paces whose
    /// shift is not zero: `u64::saturating_sub` moves the ends earlier, never before the
    /// admission; `u64::wrapping_add` moves them later (a refund that moved every permit of a
    /// lane at once through its base gives back what it took from those it must not move:
    /// see `Permits::shift_ends_after`; their ends stay below 2⁴⁴ µs, an offset below 2⁴² and
    /// a base below 2⁴³, and an absent pace's unused entry may wrap and is never read). A
    /// refund usually moves one or two paces, and a walk applies it to many permits.
    ///
    /// Each end is rewritten within the eight bytes [`Ends::get`] reads it from, its
    /// neighbour's two bytes kept: fixed places, so no bounds are checked at run time (a walk
    /// does this for every permit it passes).
    #[inline]
    pub(super) fn update(&mut self, shifts: &[u64; 4], by: fn(u64, u64) -> u64) {
        let [first, second, third, last] = *shifts;
        for (at, shift) in [(0, first), (6, second), (12, third)] {
            if shift != 0
                && let Some(window) = self
                    .bytes
                    .get_mut(at..)
                    .and_then(<[u8]>::first_chunk_mut::<8>)
            {
                let kept = u64::from_le_bytes(*window);
                let moved = by(kept & MAX_OFFSET, shift) & MAX_OFFSET;
                *window = ((kept & !MAX_OFFSET) | moved).to_le_bytes();
            }
        }
        if last != 0
            && let Some(window) = self.bytes.last_chunk_mut::<8>()
        {
            let kept = u64::from_le_bytes(*window);
            let moved = by(kept >> 16, last) & MAX_OFFSET;
            *window = ((kept & 0xffff) | (moved << 16)).to_le_bytes();
        }
    }

    /// The ends as absolute µs again, for an admission at `issued_at`, each lowered by its
    /// pace's `base` now and never before the admission. The base is how far the refunds that
    /// moved every permit of the lane at once have moved them since it was last zero: an end
    /// kept at admission with the base of then, and read with the base of now, has moved by
    /// what the base grew meanwhile (see `Permits::shift_ends_after`).
    #[inline]
    pub(super) fn get(&self, issued_at: u64, base: &[u64; 4]) -> [u64; 4] {
        // The first three read eight bytes and drop the next end's two; the last reads the
        // eight bytes that end with it and drops the previous end's two.
        let read = |at: usize| {
            self.bytes
                .get(at..at.wrapping_add(8))
                .and_then(|bytes| bytes.first_chunk::<8>())
                .map_or(0, |bytes| u64::from_le_bytes(*bytes))
        };
        let offsets = [
            read(0) & MAX_OFFSET,
            read(6) & MAX_OFFSET,
            read(12) & MAX_OFFSET,
            read(16) >> 16,
        ];
        let mut ends = [0; 4];
        for ((end, offset), base) in ends.iter_mut().zip(offsets).zip(base) {
            // An offset is at most the end's own distance from the admission: no wrap (but for
            // an absent pace's unused entry, see the module docs).
            *end = issued_at.wrapping_add(offset.saturating_sub(*base));
        }
        ends
    }
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::arithmetic_side_effects,
        reason = "test arithmetic on known values, far from the edges"
    )]
    use super::*;

    const ISSUED: u64 = 1_700_000_000_000_000;

    fn keep(ends: &[u64; 4], issued: u64) -> Ends {
        let mut kept = Ends::EMPTY;
        kept.set(ends, issued, &[0; 4]);
        kept
    }

    fn round_trip(issued: u64, offset: u64) -> u64 {
        let ends = keep(&[issued + offset; 4], issued).get(issued, &[0; 4]);
        assert!(ends.iter().all(|&end| end == ends[0]), "{ends:?}");
        ends[0] - issued
    }

    /// Each end moves by its own pace's shift, and never before the admission.
    #[test]
    fn ends_move_earlier_each_by_its_shift_never_before_the_admission() {
        let mut ends = keep(
            &[ISSUED + 5_000, ISSUED + 70_000, ISSUED + (1 << 42), ISSUED],
            ISSUED,
        );
        ends.update(&[1_000, 80_000, 1 << 41, 7], u64::saturating_sub);
        assert_eq!(
            ends.get(ISSUED, &[0; 4]),
            [ISSUED + 4_000, ISSUED, ISSUED + (1 << 41), ISSUED]
        );
        ends.update(&[0; 4], u64::saturating_sub);
        assert_eq!(
            ends.get(ISSUED, &[0; 4]),
            [ISSUED + 4_000, ISSUED, ISSUED + (1 << 41), ISSUED]
        );
    }

    #[test]
    fn every_end_a_pace_can_produce_is_kept_exactly() {
        // The longest window a limit can have, `u32::MAX` ms, as µs, and the 32-bit edge that
        // an earlier table saturated at.
        let longest_window = u64::from(u32::MAX) * 1_000;
        let offsets = [
            0,
            1,
            u64::from(u32::MAX) - 1,
            u64::from(u32::MAX),
            u64::from(u32::MAX) + 1,
            86_400_000_000,
            longest_window,
            longest_window + 1,
            MAX_OFFSET,
        ];
        for issued in [
            0,
            ISSUED,
            (ISSUED | MAX_OFFSET) - 5,
            1 << 62,
            u64::MAX - MAX_OFFSET,
        ] {
            for offset in offsets {
                assert_eq!(round_trip(issued, offset), offset, "{offset} from {issued}");
            }
        }
    }

    #[test]
    fn beyond_48_bits_an_end_comes_back_earlier_never_later() {
        assert_eq!(round_trip(ISSUED, MAX_OFFSET + 1), 0);
        assert_eq!(round_trip(ISSUED, MAX_OFFSET + 10), 9);
        assert_eq!(round_trip(ISSUED, 3 << 48), 0);
        // One pace past the boundary leaves the others exact.
        let ends = [
            ISSUED + 3,
            ISSUED + MAX_OFFSET + 9,
            ISSUED,
            ISSUED + (1 << 40),
        ];
        let kept = keep(&ends, ISSUED).get(ISSUED, &[0; 4]);
        assert_eq!(kept, [ISSUED + 3, ISSUED + 8, ISSUED, ISSUED + (1 << 40)]);
    }

    #[test]
    fn each_pace_keeps_its_own_end() {
        let ends = [
            ISSUED + 5,
            ISSUED + (1 << 40) + 7,
            ISSUED,
            ISSUED + (3 << 32),
        ];
        assert_eq!(keep(&ends, ISSUED).get(ISSUED, &[0; 4]), ends);
    }

    #[test]
    fn an_end_before_the_admission_comes_back_after_it() {
        // Only an absent pace's unused entry (0) lies before the admission; it is never read,
        // and never comes back as an instant before the admission either.
        for issued in [1, ISSUED, 1 << 62] {
            let ends = keep(&[0, issued - 1, 0, 0], issued).get(issued, &[0; 4]);
            assert!(
                ends.iter().all(|&end| end >= issued),
                "{ends:?} from {issued}"
            );
        }
    }

    #[test]
    fn an_end_at_the_end_of_time_stays_there() {
        // Saturated TATs sit at `u64::MAX`; an admission late enough keeps them exactly.
        let late = u64::MAX - 10;
        assert_eq!(keep(&[u64::MAX; 4], late).get(late, &[0; 4]), [u64::MAX; 4]);
    }
}
