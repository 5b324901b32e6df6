//! Thousandths of a quantity, exactly and without a 128-bit division.
//!
//! Shares given in thousandths (the background reserve of a bucket, the spread of a jitter)
//! are taken of 64-bit quantities: `⌊x·p/1000⌋` overflows 64 bits for large `x`, and the
//! 128-bit division that would hold it is a long-division routine on a Cortex-M (most of a
//! kilobyte of flash per inlined copy). With `x = 1000·q + r`, `x·p/1000 = q·p + r·p/1000` and
//! `q·p` is whole, so the floor is `q·p + ⌊r·p/1000⌋`: two divisions of a `u64` by a constant,
//! which every target does as a multiply.

/// `⌊x·p/1000⌋`, exact, saturating at `u64::MAX` (only reachable when `p > 1000`).
pub(crate) const fn of(x: u64, p: u16) -> u64 {
    let (q, r) = (x / 1000, x % 1000);
    // r < 1000 and p < 2^16, so r·p < 2^26: exact.
    #[expect(
        clippy::arithmetic_side_effects,
        reason = "r < 1000 and p < 2^16: the product is below 2^26 and 1000 is nonzero"
    )]
    let tail = r * p as u64 / 1000;
    q.saturating_mul(p as u64).saturating_add(tail)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::of;

    /// The 128-bit reading of `⌊x·p/1000⌋`, saturated: what `of` must equal.
    fn reference(x: u64, p: u16) -> u64 {
        let exact = u128::from(x).saturating_mul(u128::from(p)) / 1000;
        u64::try_from(exact).unwrap_or(u64::MAX)
    }

    proptest! {
        #[test]
        fn is_the_exact_floor(x in any::<u64>(), p in any::<u16>()) {
            prop_assert_eq!(of(x, p), reference(x, p));
        }
    }

    #[test]
    fn edges() {
        for (x, p) in [
            (0, 0),
            (999, 1),
            (1_000, 1),
            (u64::MAX, 1000),
            (u64::MAX, 999),
            (u64::MAX, 1001),
            (u64::MAX, u16::MAX),
            (1_999, 999),
        ] {
            assert_eq!(of(x, p), reference(x, p), "x = {x}, p = {p}");
        }
    }
}
