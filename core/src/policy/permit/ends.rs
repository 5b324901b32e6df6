//! Where a permit's charge ended on each pace, in 48 bits a pace instead of 64.
//!
//! Settling or cancelling gives back at most the part of a charge still ahead of `now` (what
//! lay before it has refilled already, and later admissions used it), so the table remembers
//! where each pace's charge for a permit ended: the pace's TAT right after the admission.
//! Kept whole, those are four `u64`, 32 bytes a permit, the largest part of a slot.
//!
//! An end needs far fewer bits, and exactly: a pace admits a charge only when its TAT
//! afterwards lies within the bucket's capacity of the admission instant (GCRA:
//! `TAT + n·T − C ≤ now`, or a full bucket and `n ≤ burst`), and a capacity is `burst × T` with
//! the burst at most the limit's amount, so at most one window (rounded up to the µs): at most
//! `u32::MAX` ms, below 2⁴² µs. So every end a pace produces lies in
//! `[admission, admission + 2⁴²)`, and its low 48 bits (a `u32` and a `u16`) name it exactly
//! given the admission instant: the top 16 bits are the admission's, or one more when the end
//! crossed a multiple of 2⁴⁸ µs (8.9 years).
//!
//! Why the low bits of the end itself, not its distance from the admission: storing them takes
//! no arithmetic at all on the admission path (a subtraction and its saturation cost four
//! instructions a pace), and decoding, on the settle path, is a few.
//!
//! Why not 32 bits: 2³² µs is 71 minutes, and a pace with a longer window (a daily limit)
//! charges further out than that. An earlier table kept a `u32` of µs after the admission,
//! saturated those ends to "unknown", and a late cancel then gave back time that had refilled
//! already.
//!
//! The boundaries:
//!
//! * an end 2⁴⁸ µs or more after the admission, which no pace produces, decodes to an earlier
//!   instant (a multiple of 2⁴⁸ µs earlier): a refund after that instant gives back less, never
//!   more;
//! * an end before the admission, which only the unused entry of an absent pace holds, decodes
//!   to some instant after it. Settling reads only the ends of the paces the permit charged.

/// The low 48 bits of an instant.
const LOW_48: u64 = (1 << 48) - 1;

/// Four pace ends (absolute µs), each as its low 32 and next 16 bits (24 bytes, 4-byte
/// aligned, instead of 32); the admission instant supplies the rest.
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

    /// The low 48 bits of `ends` (absolute µs).
    #[inline]
    pub(super) fn new(ends: &[u64; 4]) -> Self {
        Self {
            low: ends.map(|end| end as u32),
            high: ends.map(|end| (end >> 32) as u16),
        }
    }

    /// The ends as absolute µs again, for an admission at `issued_at`: the first instant at or
    /// after it with the kept low 48 bits.
    #[inline]
    pub(super) fn get(&self, issued_at: u64) -> [u64; 4] {
        let top = issued_at & !LOW_48;
        let mut ends = [0; 4];
        for ((end, &low), &high) in ends.iter_mut().zip(&self.low).zip(&self.high) {
            let same_top = top | (u64::from(high) << 32) | u64::from(low);
            *end = if same_top < issued_at {
                same_top.saturating_add(LOW_48 + 1)
            } else {
                same_top
            };
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

    fn round_trip(issued: u64, offset: u64) -> u64 {
        let ends = Ends::new(&[issued + offset; 4]).get(issued);
        assert!(ends.iter().all(|&end| end == ends[0]), "{ends:?}");
        ends[0] - issued
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
            LOW_48,
        ];
        // Admissions anywhere, including just before a multiple of 2⁴⁸ µs (the end's top bits
        // are then one more than the admission's) and in the last such span of time.
        let near_wrap = (ISSUED | LOW_48) - 5;
        for issued in [0, ISSUED, near_wrap, 1 << 62, u64::MAX - LOW_48] {
            for offset in offsets {
                if let Some(end) = issued.checked_add(offset) {
                    assert_eq!(round_trip(issued, offset), offset, "{end} from {issued}");
                }
            }
        }
    }

    #[test]
    fn beyond_48_bits_an_end_comes_back_earlier_never_later() {
        for offset in [LOW_48 + 1, LOW_48 + 7, 3 << 48, u64::MAX - ISSUED] {
            let back = round_trip(ISSUED, offset);
            assert!(
                back < offset && back <= LOW_48,
                "{offset} came back as {back}"
            );
        }
    }

    #[test]
    fn each_pace_keeps_its_own_end() {
        let ends = [
            ISSUED + 5,
            ISSUED + (1 << 40) + 7,
            ISSUED,
            ISSUED + (3 << 32),
        ];
        assert_eq!(Ends::new(&ends).get(ISSUED), ends);
    }

    #[test]
    fn an_end_before_the_admission_comes_back_after_it() {
        // Only an absent pace's unused entry (0) lies before the admission; it is never read,
        // and never comes back as an instant before the admission either.
        for issued in [1, ISSUED, u64::MAX] {
            let ends = Ends::new(&[0, issued - 1, 0, 0]).get(issued);
            assert!(
                ends.iter().all(|&end| end >= issued),
                "{ends:?} from {issued}"
            );
        }
    }

    #[test]
    fn an_end_at_the_end_of_time_stays_there() {
        // Saturated TATs sit at `u64::MAX`.
        let late = u64::MAX - 10;
        assert_eq!(Ends::new(&[u64::MAX; 4]).get(late), [u64::MAX; 4]);
    }
}
