//! Jitter: how a delay is spread so that callers who failed together do not retry together.
//!
//! Without jitter, every client that saw the same 529 at the same instant computes the same
//! exponential delay and comes back at the same instant, recreating the spike that caused the
//! error (Brooker, "Exponential Backoff And Jitter", 2015). Jitter multiplies or adds a random
//! share of the delay so the retries spread out.
//!
//! All arithmetic is integer. A draw `u` is a `u64` read as the fraction `u / 2^64` in `[0, 1)`,
//! and `x·u` is the high half of the 128-bit product `x × u`: exact, never above `x − 1` for a
//! nonzero `x`, and the same on every target. The RNG is an argument, never stored.

use rand_core::Rng;

use crate::permille;

/// How a nominal exponential delay `e = min(cap, base·2ⁿ)` becomes the delay actually waited.
///
/// `u` is one uniform draw in `[0, 1)`; every strategy draws exactly one `u64` per delay, except
/// [`Jitter::None`], which draws nothing.
///
/// | strategy | delay | range |
/// |---|---|---|
/// | `None` | `e` | `e` |
/// | `Full` | `e·u` | `[0, e)` |
/// | `Equal` | `⌊e/2⌋ + ⌈e/2⌉·u` | `[e/2, e)` |
/// | `Decorrelated` | `min(cap, base + (3·prev − base)·u)`, `prev` starting at `base` | `[base, cap]` |
/// | `Proportional { per_mille: f }` | `e − (e·f/1000)·u` | `(e·(1 − f/1000), e]` |
/// | `Additive { per_mille: f }` | `e + (e·f/1000)·u`, then capped | `[e, e·(1 + f/1000))` |
///
/// `Proportional { per_mille: 250 }` is the official Anthropic and OpenAI SDKs' `e × (1 − 0.25u)`;
/// `Additive { per_mille: 500 }` is the guide loop's `e + U(0, 0.5·e)`. The caller
/// ([`super::Backoff::next_delay`]) caps every result at the configured `cap`.
///
/// # Examples
///
/// ```
/// use headroom::backoff::{FixedDraw, Jitter};
///
/// let e = 1_000_000; // 1 s in µs
/// assert_eq!(Jitter::None.apply(e, 0, u64::MAX, 0, &mut FixedDraw(0)), e);
/// assert_eq!(Jitter::Full.apply(e, 0, u64::MAX, 0, &mut FixedDraw(1 << 63)), e / 2);
/// assert_eq!(Jitter::Equal.apply(e, 0, u64::MAX, 0, &mut FixedDraw(0)), e / 2);
/// let sdk = Jitter::Proportional { per_mille: 250 };
/// assert_eq!(sdk.apply(e, 0, u64::MAX, 0, &mut FixedDraw(u64::MAX)), 750_001);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Jitter {
    /// No jitter: every caller waits exactly `e`. Only for reproducing a schedule; it is the
    /// "clear loser" in Brooker's measurements.
    None,
    /// Full jitter, `U(0, e)`: the fewest total calls in Brooker's simulation; AWS standard and
    /// gRPC use it. The default.
    #[default]
    Full,
    /// Equal jitter, `e/2 + U(0, e/2)`: never shorter than half the nominal delay.
    Equal,
    /// Decorrelated jitter, `min(cap, U(base, 3·prev))`, starting from `prev = base`. It ignores
    /// the retry count; the previous delay is carried in [`super::Attempt`].
    Decorrelated,
    /// Multiplicative jitter below the nominal delay: `e × (1 − f·u)` with `f = per_mille/1000`
    /// (values above 1000 act as 1000). The official SDKs use 250.
    Proportional {
        /// The largest share of `e` taken off, in thousandths.
        per_mille: u16,
    },
    /// Additive jitter above the nominal delay: `e + f·e·u` with `f = per_mille/1000`.
    Additive {
        /// The largest share of `e` added, in thousandths.
        per_mille: u16,
    },
}

impl Jitter {
    /// The SDKs' jitter: `e × (1 − 0.25u)`.
    pub const SDK: Self = Self::Proportional { per_mille: 250 };

    /// The jittered delay, in µs, for a nominal delay `e` µs (already capped), the schedule's
    /// `base` and `cap` in µs, and the previous delay `prev` (for [`Jitter::Decorrelated`]; a
    /// `prev` below `base` counts as `base`). Draws one `u64` from `rng` unless the strategy is
    /// [`Jitter::None`]. The result may exceed `e` only for `Decorrelated` and `Additive`; it
    /// saturates instead of overflowing.
    ///
    /// # Examples
    ///
    /// ```
    /// use headroom::backoff::{FixedDraw, Jitter};
    ///
    /// // Decorrelated: U(base, 3·prev), capped.
    /// let (base, cap) = (100, 1_000);
    /// assert_eq!(Jitter::Decorrelated.apply(0, base, cap, 0, &mut FixedDraw(0)), 100);
    /// assert_eq!(Jitter::Decorrelated.apply(0, base, cap, 200, &mut FixedDraw(1 << 63)), 350);
    /// assert_eq!(Jitter::Decorrelated.apply(0, base, cap, 900, &mut FixedDraw(u64::MAX)), 1_000);
    /// ```
    pub fn apply<R: Rng + ?Sized>(
        self,
        e: u64,
        base: u64,
        cap: u64,
        prev: u64,
        rng: &mut R,
    ) -> u64 {
        // Every kind but `None` is `start ± scale(span, u)`, at most `ceiling`, for one draw `u`:
        // the draw and the 128-bit product are written once (on a 32-bit core each copy of
        // them is long).
        let (start, span, subtract, ceiling) = match self {
            Self::None => return e,
            Self::Full => (0, e, false, u64::MAX),
            Self::Equal => {
                let low = e / 2;
                (low, e.saturating_sub(low), false, u64::MAX)
            }
            Self::Decorrelated => {
                let high = prev.max(base).saturating_mul(3);
                (base, high.saturating_sub(base), false, cap)
            }
            Self::Proportional { per_mille } | Self::Additive { per_mille } => {
                // A proportional spread is at most the whole delay; an additive one is not
                // bounded.
                let subtract = matches!(self, Self::Proportional { .. });
                let per_mille = if subtract {
                    per_mille.min(1000)
                } else {
                    per_mille
                };
                (e, permille::of(e, per_mille), subtract, u64::MAX)
            }
        };
        let drawn = scale(span, rng.next_u64());
        if subtract {
            start.saturating_sub(drawn)
        } else {
            start.saturating_add(drawn).min(ceiling)
        }
    }
}

/// `x·u` for `u` read as a fraction of 2^64: the high half of the 128-bit product.
///
/// # Examples
///
/// ```
/// use headroom::backoff::scale;
///
/// assert_eq!(scale(1_000, 0), 0);
/// assert_eq!(scale(1_000, 1 << 63), 500);
/// assert_eq!(scale(1_000, u64::MAX), 999);
/// assert_eq!(scale(u64::MAX, u64::MAX), u64::MAX - 1);
/// ```
pub const fn scale(x: u64, u: u64) -> u64 {
    #[expect(
        clippy::arithmetic_side_effects,
        reason = "a u64 × u64 product always fits in a u128; shifting right by 64 leaves a value below 2^64"
    )]
    let high = (x as u128 * u as u128) >> 64;
    high as u64
}
