//! The shortcuts of a correction's retune: they must give what the full retune gives.
#![allow(
    clippy::arithmetic_side_effects,
    reason = "test arithmetic on small known values"
)]

use core::num::NonZeroU32;

use super::{Report, Window};
use crate::test_support::per_minute;
use crate::{Limit, LimitKind};

/// Limits from far more than a microsecond per unit down to several units per microsecond:
/// whole microseconds per unit, fractions above and below a half, exactly one and a half,
/// exactly one, a half.
const LIMITS: [(u32, u32); 10] = [
    (50, 60_000),
    (1_000, 60_000),
    (400_000, 60_000),
    (7, 60_000),
    (7, 1),
    (3, 1),
    (2_000_000, 3),
    (60_000_000, 60_000),
    (120_000_000, 60_000),
    (1_000, 1_000),
];

/// Windows of every limit, shared or not, with a capacity shrunk by a refusal, whose bucket
/// was retuned at `now` (so a correction keeps its rate), at times up to the end of the clock.
fn windows() -> impl Iterator<Item = (Window, u64)> {
    LIMITS.into_iter().flat_map(|(amount, window_ms)| {
        let limit = Limit::per_window_ms(
            NonZeroU32::new(amount).unwrap_or(NonZeroU32::MIN),
            NonZeroU32::new(window_ms).unwrap_or(NonZeroU32::MIN),
        );
        let nows = [0, 1, 999_983, 61_000_000, u64::MAX - 5_000_000, u64::MAX];
        nows.into_iter().flat_map(move |now| {
            [(false, None), (true, Some(3))]
                .into_iter()
                .map(move |(shared, fleet)| {
                    let mut window = Window::new(LimitKind::InputTokens, limit, shared, fleet);
                    window.refused(now, u64::from(amount / 4));
                    window.tune(now);
                    (window, now)
                })
        })
    })
}

/// Levels around zero and across the limit: debts, odd and even, the burst and beyond.
fn levels(window: &Window) -> impl Iterator<Item = i64> {
    let amount = i64::from(window.limit().amount());
    (-5..=5).chain([
        -amount,
        amount / 3,
        amount / 3 + 1,
        amount - 1,
        amount,
        amount + 7,
    ])
}

#[test]
fn the_level_a_correction_reads_is_the_full_retunes() {
    for (window, now) in windows() {
        for level in levels(&window) {
            for later in [now, now.saturating_add(1), now.saturating_add(12_345)] {
                let mut full = window.clone();
                full.bucket.set_units(now, level);
                let mut short = full.clone();
                full.bucket.retune(later, full.share(), full.capacity);
                let expected = full.bucket.level(later);
                assert_eq!(
                    short.tuned_level(later),
                    expected,
                    "{level} at {later}: {window:?}"
                );
                // The rate is kept: the bucket is what the full retune left, but for the level
                // the correction sets next.
                short.bucket.set_units(later, expected);
                full.bucket.set_units(later, expected);
                assert_eq!(short.bucket, full.bucket, "{level} at {later}");
            }
        }
    }
}

#[test]
fn a_kept_rate_retunes_as_the_full_retune() {
    for (window, now) in windows() {
        for level in levels(&window) {
            for later in [now, now.saturating_add(777)] {
                let mut full = window.clone();
                full.bucket.set_units(now, level);
                let mut short = full.clone();
                full.bucket.retune(later, full.share(), full.capacity);
                short.tune(later);
                assert_eq!(short.bucket, full.bucket, "{level} at {later}");
            }
        }
    }
}

#[test]
fn a_correction_after_a_refusal_takes_the_smaller_burst() {
    let mut window = Window::new(LimitKind::OutputTokens, per_minute(1_000), false, None);
    let report = |now| Report {
        remaining: 900,
        unseen: 0,
        rounding: 0,
        horizon_us: 0,
        newest: now == 0,
    };
    window.correct(0, report(0));
    assert_eq!(window.bucket.burst(), 1_000);
    window.refused(1, 10);
    window.correct(2, report(2));
    assert_eq!(window.bucket.burst(), 500);
    assert_eq!(window.bucket.level(2), 500);
}

#[test]
fn a_new_limit_is_retuned_to_the_share() {
    let mut window = Window::new(LimitKind::InputTokens, per_minute(1_000), true, Some(2));
    window.tune(0);
    window.set_limit(1, LimitKind::InputTokens, per_minute(2_000));
    let mut full = window.clone();
    full.bucket.retune(1, full.share(), full.capacity);
    assert_eq!(window.bucket, full.bucket);
    // Half of 2 000 a minute: a unit every 60 ms, not every 30.
    window.bucket.set_units(1, 0);
    assert_eq!(window.bucket.level(60_001), 1);
    assert_eq!(window.bucket.level(60_000), 0);
}
