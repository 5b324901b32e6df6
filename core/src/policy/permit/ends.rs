//! Where a permit's charge ended on each pace, in 48 bits a pace instead of 64.
//!
//! Settling or cancelling gives back at most the part of a charge still ahead of `now` (what
//! lay before it has refilled already, and later admissions used it), so the table remembers
//! where each pace's charge for a permit ended: the pace's TAT right after the admission.
//! Kept whole, those are four `u64`, 32 bytes a permit, the largest part of a slot.
//!
//! Kept as µs after the admission instant, an end needs far fewer bits, and exactly: a pace
//! admits a charge only when its TAT afterwards lies within the bucket's capacity of the
//! admission instant (GCRA: `TAT + n·T − C ≤ now`, or a full bucket and `n ≤ burst`), and a
//! capacity is `burst × T` with the burst at most the limit's amount, so at most one window
//! (rounded up to the µs): at most `u32::MAX` ms, below 2⁴² µs. 48 bits (a `u32` and a `u16`)
//! hold every end a pace can produce, with 64 times to spare.
//!
//! Why not 32 bits: 2³² µs is 71 minutes, and a pace with a longer window (a daily limit)
//! charges further out than that. An earlier table kept a `u32` of µs, saturated those ends to
//! "unknown", and a late cancel then gave back time that had refilled already.
//!
//! The boundaries, both on the side of giving back less, never more:
//!
//! * an offset at or above 2⁴⁸ µs (8.9 years), which no pace produces, is kept as 2⁴⁸ − 1 µs:
//!   the charge looks as if it ended earlier, so a refund after that instant is smaller;
//! * an end before the admission (the unused entry of an absent pace) is kept as the admission
//!   instant itself: settling happens at or after it, so either gives back nothing.

/// The largest offset kept: 2⁴⁸ − 1 µs.
const MAX_OFFSET: u64 = (1 << 48) - 1;

/// Four pace ends as µs after an admission instant, each split into its low 32 and high 16
/// bits (24 bytes, 4-byte aligned, instead of 32).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub(super) struct Ends {
    low: [u32; 4],
    high: [u16; 4],
}

impl Ends {
    /// Nothing recorded (a free slot).
    pub(super) const EMPTY: Self = Self {
        low: [0; 4],
        high: [0; 4],
    };

    /// `ends` (absolute µs) relative to `issued_at`, within the boundaries in the module docs.
    #[inline]
    pub(super) fn new(ends: &[u64; 4], issued_at: u64) -> Self {
        let offsets = ends.map(|end| end.saturating_sub(issued_at).min(MAX_OFFSET));
        Self {
            low: offsets.map(|offset| offset as u32),
            high: offsets.map(|offset| (offset >> 32) as u16),
        }
    }

    /// The ends as absolute µs again, for an admission at `issued_at`.
    #[inline]
    pub(super) fn get(&self, issued_at: u64) -> [u64; 4] {
        let mut ends = [0; 4];
        for ((end, &low), &high) in ends.iter_mut().zip(&self.low).zip(&self.high) {
            *end = issued_at.saturating_add((u64::from(high) << 32) | u64::from(low));
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

    fn round_trip(offset: u64) -> u64 {
        let ends = Ends::new(&[ISSUED + offset; 4], ISSUED).get(ISSUED);
        assert!(ends.iter().all(|&end| end == ends[0]), "{ends:?}");
        ends[0] - ISSUED
    }

    #[test]
    fn every_end_a_pace_can_produce_is_kept_exactly() {
        // The longest window a limit can have, `u32::MAX` ms, as µs, and the 32-bit edge that
        // an earlier table saturated at.
        let longest_window = u64::from(u32::MAX) * 1_000;
        for offset in [
            0,
            1,
            u64::from(u32::MAX) - 1,
            u64::from(u32::MAX),
            u64::from(u32::MAX) + 1,
            86_400_000_000,
            longest_window,
            longest_window + 1,
            MAX_OFFSET,
        ] {
            assert_eq!(round_trip(offset), offset, "offset {offset}");
        }
    }

    #[test]
    fn beyond_48_bits_an_end_is_kept_earlier_never_later() {
        assert_eq!(round_trip(MAX_OFFSET + 1), MAX_OFFSET);
        assert_eq!(round_trip(u64::MAX - ISSUED), MAX_OFFSET);
    }

    #[test]
    fn each_pace_keeps_its_own_end() {
        let ends = [
            ISSUED + 5,
            ISSUED + (1 << 40) + 7,
            ISSUED,
            ISSUED + (3 << 32),
        ];
        assert_eq!(Ends::new(&ends, ISSUED).get(ISSUED), ends);
    }

    #[test]
    fn an_end_before_the_admission_is_kept_as_the_admission() {
        // An absent pace's unused entry is 0.
        assert_eq!(Ends::new(&[0; 4], ISSUED).get(ISSUED), [ISSUED; 4]);
    }

    #[test]
    fn an_end_at_the_end_of_time_stays_there() {
        // Saturated TATs sit at `u64::MAX`; an admission late enough keeps them exactly.
        let late = u64::MAX - 10;
        assert_eq!(Ends::new(&[u64::MAX; 4], late).get(late), [u64::MAX; 4]);
    }
}
