//! The shortcuts of a correction's retune (they must give what the full retune gives), and how a
//! window learns the provider's bucket and its share of the key.
#![allow(
    clippy::arithmetic_side_effects,
    reason = "test arithmetic on small known values"
)]

use core::num::NonZeroU32;

use super::{MIN_SAMPLE_US, MIN_SHARE, Report, SHARE_ONE, Sampling, Window, mul_div};
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

/// Under miri, which interprets these sweeps some thousand times slower than they run natively,
/// the tests below take every `MIRI_EVERY`-th window (or case): every limit and instant still
/// comes up in one test or another, and the whole sweep runs natively.
const MIRI_EVERY: usize = if cfg!(miri) { 5 } else { 1 };

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
    for (window, now) in windows().step_by(MIRI_EVERY) {
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
    for (window, now) in windows().skip(MIRI_EVERY / 2).step_by(MIRI_EVERY) {
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
        own_limit: true,
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

/// The level the correction sets as it was computed before the credit comparisons: the retuned
/// level read, then compared.
fn corrected_level_read(
    window: &mut Window,
    now: u64,
    target: i64,
    newest: bool,
    unseen: u64,
) -> i64 {
    let current = window.tuned_level(now);
    if target <= current {
        target
    } else if !newest {
        current
    } else {
        target.min(current.max(window.ceiling(now, unseen)))
    }
}

#[test]
fn a_correction_compares_the_level_as_the_read_level() {
    // About a million comparisons natively (0.2 s); under miri, which interprets them some
    // thousand times slower, every 41st window (three limits, shared and not, at the first, a
    // middle and the last instant) and every 4th level: 20 s instead of 15 minutes.
    let every = if cfg!(miri) { (41, 4) } else { (1, 1) };
    for (window, now) in windows().step_by(every.0) {
        for level in levels(&window).step_by(every.1) {
            // Never synced, synced just now, and synced a while ago at various levels: the
            // ceiling below, at and above the level.
            let syncs = [
                None,
                Some((0, level)),
                Some((1_500, level - 3)),
                Some((40_000, -7)),
            ];
            for sync in syncs {
                for later in [now, now.saturating_add(1), now.saturating_add(12_345)] {
                    let mut read = window.clone();
                    read.bucket.set_units(now, level);
                    if let Some((ago, synced)) = sync {
                        read.has_synced = true;
                        read.synced_at = now.saturating_sub(ago);
                        read.synced_level = i32::try_from(synced).unwrap_or(i32::MAX);
                    }
                    let current = read.clone().tuned_level(later);
                    let ceiling = read.ceiling(later, 0);
                    let targets = [
                        i64::MIN,
                        -1,
                        0,
                        1,
                        current - 1,
                        current,
                        current + 1,
                        ceiling - 1,
                        ceiling,
                        ceiling + 1,
                        i64::MAX,
                    ];
                    // Every other target with charges still unseen (which lower the ceiling).
                    for (target, unseen) in targets.into_iter().zip([0, 2].into_iter().cycle()) {
                        for newest in [false, true] {
                            let mut compared = read.clone();
                            let mut read = read.clone();
                            let expected =
                                corrected_level_read(&mut read, later, target, newest, unseen);
                            let level = compared.corrected_level(later, target, newest, unseen);
                            assert_eq!(level, expected, "{target} {newest} at {later}: {read:?}");
                            read.bucket.set_units(later, expected);
                            compared.bucket.set_units(later, level);
                            assert_eq!(compared, read, "{target} {newest} at {later}");
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn a_sample_is_too_soon_exactly_within_half_the_fill_time() {
    let amounts = [1_u32, 3, 7, 1_000, 4_000, 400_000, 2_400_000, u32::MAX];
    let windows_ms = [1_u32, 3, 1_000, 60_000, 3_600_000, u32::MAX];
    for amount in amounts {
        for window_ms in windows_ms {
            let limit = Limit::per_window_ms(
                NonZeroU32::new(amount).unwrap_or(NonZeroU32::MIN),
                NonZeroU32::new(window_ms).unwrap_or(NonZeroU32::MIN),
            );
            let mut window = Window::new(LimitKind::InputTokens, limit, true, None);
            let helds = [0, 1, 2, amount / 3, amount / 2, amount - 1, amount];
            for (capacity, peak) in helds
                .into_iter()
                .flat_map(|c| helds.map(|p| (c, p)))
                .step_by(MIRI_EVERY)
            {
                window.capacity = capacity.max(1);
                window.peak = peak;
                let fill_us = mul_div(
                    u64::from(window.capacity.min(window.peak.max(1))),
                    window.window_us(),
                    u64::from(amount),
                );
                let edges = [
                    fill_us / 2,
                    (fill_us / 2).saturating_sub(1),
                    fill_us / 2 + 1,
                ];
                for elapsed in [0, 1, 999, 1_000_000, MIN_SAMPLE_US - 1]
                    .into_iter()
                    .chain(edges)
                {
                    if elapsed >= MIN_SAMPLE_US {
                        continue;
                    }
                    assert_eq!(
                        window.within_half_fill(elapsed),
                        elapsed < fill_us / 2,
                        "{elapsed} of {fill_us}: {amount} per {window_ms} ms, {capacity} {peak}"
                    );
                }
            }
        }
    }
}

#[test]
fn our_part_of_remaining_is_the_divisions_whole_key_or_not() {
    for (mut window, _) in windows().skip(MIRI_EVERY - 1).step_by(MIRI_EVERY) {
        let amount = window.limit().amount();
        for fixed in [1, 16, 256, 1_023, 1_024] {
            window.share = fixed;
            let share = window.share();
            for remaining in [0, 1, u64::from(amount / 2), u64::from(amount)] {
                for horizon_us in [0, 500_000, 61_000_000, u64::MAX] {
                    let foreign = amount.saturating_sub(share);
                    let lag = mul_div(u64::from(foreign), horizon_us, window.window_us());
                    let divided = mul_div(
                        remaining.saturating_sub(lag),
                        u64::from(share),
                        u64::from(amount),
                    );
                    assert_eq!(
                        window.ours(remaining, share, horizon_us),
                        divided,
                        "{remaining} over {horizon_us} µs at {fixed}: {window:?}"
                    );
                }
            }
        }
    }
}

/// A `remaining` in units of a limit the window has not adopted (a raise awaiting
/// confirmation) corrects the level as any other, and teaches nothing else: the assumed
/// capacity, the most ever reported, the share and the last share sample stay as they were.
#[test]
fn a_report_of_another_limit_only_corrects_the_level() {
    let report = |remaining, own_limit| Report {
        remaining,
        unseen: 0,
        rounding: 0,
        horizon_us: 0,
        newest: true,
        own_limit,
    };
    let mut window = Window::new(LimitKind::Requests, per_minute(50), true, None);
    window.correct(0, report(1, true));
    window.correct(3_000_000, report(1, true));
    let before = (
        window.capacity,
        window.peak,
        window.share,
        window.sample,
        window.sampling,
    );
    // 40 of the new 1 000 a minute: read as the old limit, above anything it ever held.
    window.correct(6_000_000, report(40, false));
    assert_eq!(
        (
            window.capacity,
            window.peak,
            window.share,
            window.sample,
            window.sampling
        ),
        before
    );
    // Still corrected: the level is read against the window's own amount and share.
    let level = window.bucket.level(6_000_000);
    window.correct(6_000_000, report(0, false));
    assert!(window.bucket.level(6_000_000) < level.max(1));
    // The same report of the window's own limit would have taught both.
    let mut taught = Window::new(LimitKind::Requests, per_minute(50), true, None);
    taught.correct(0, report(1, true));
    taught.correct(3_000_000, report(1, true));
    taught.correct(6_000_000, report(40, true));
    assert_eq!(taught.peak, 40);
    assert_ne!(taught.sample, before.3);
}

/// A report of requests, newest, with `unseen` of ours not yet counted.
fn requests(remaining: u64, unseen: u64) -> Report {
    Report {
        remaining,
        unseen,
        rounding: 0,
        horizon_us: 0,
        newest: true,
        own_limit: true,
    }
}

/// A window of 50 requests a minute on a key of its own: a unit every 1.2 s.
fn alone() -> Window {
    Window::new(LimitKind::Requests, per_minute(50), false, None)
}

/// Moving halfway towards a whole share, rounded towards the current one, stopped one step
/// short for good (1 023 of 1 024): the share then cut every small `remaining` down by a
/// unit (`⌊1 · 49 / 50⌋ = 0` requests). Each move now rounds towards the target.
#[test]
fn the_share_returns_to_the_whole_key_when_nobody_else_spends() {
    for start in [MIN_SHARE, SHARE_ONE / 4, SHARE_ONE - 3, SHARE_ONE - 1] {
        let mut window = Window::new(LimitKind::Requests, per_minute(50), true, None);
        window.correct(0, requests(10, 0));
        window.share = start;
        // The server holds 10 throughout and we spend nothing: nobody else does either.
        let mut now = 0;
        for _ in 0..12 {
            now += MIN_SAMPLE_US;
            window.correct(now, requests(10, 0));
        }
        assert_eq!(window.share, SHARE_ONE, "from {start}");
        assert_eq!(window.foreign(), 0, "from {start}");
    }
}

/// A server that reported `R` held less than `R + 1`: after 0.82 s at 50 a minute it may
/// truthfully report one more (0.68 of a unit refilled, rounded up), though no more than that.
#[test]
fn a_truthful_report_one_unit_above_the_last_is_adopted() {
    let t0 = 10_000_000;
    let t1 = t0 + 820_000;
    let mut window = alone();
    window.correct(t0, requests(0, 0));
    let mut lying = window.clone();
    window.correct(t1, requests(1, 0));
    assert_eq!(window.bucket.level(t1), 1);
    // The ceiling still holds: a `remaining` of the whole limit raises the window by as much.
    lying.correct(t1, requests(50, 0));
    assert_eq!(lying.bucket.level(t1), 1);
}

/// A correction takes our charges the server may not have counted out of its level. When the
/// server had counted them after all, the next report no longer includes them, and the window
/// follows it: the ceiling is built on the level the server reported, not on the one the
/// correction set (which held the window two units low here until refill made them up).
#[test]
fn charges_counted_twice_are_given_back_by_the_next_report() {
    let t0 = 10_000_000;
    let mut window = alone();
    window.correct(t0, requests(0, 2));
    assert_eq!(window.bucket.level(t0), -2);
    // A millisecond later: both counted by the server, none of ours unseen.
    let t1 = t0 + 1_000;
    let mut still_unseen = window.clone();
    window.correct(t1, requests(0, 0));
    assert_eq!(window.bucket.level(t1), 0);
    // Had they stayed unseen, the window stays where it was.
    still_unseen.correct(t1, requests(0, 2));
    assert_eq!(still_unseen.bucket.level(t1), -2);
}

/// A window on a key of its own that the server confirms at the whole level it holds keeps the
/// part of a unit it has refilled: the next request is due 1.2 s after the last admission, not
/// 1.2 s after the response. A window with a share of the key drops it.
#[test]
fn a_confirmed_whole_level_keeps_its_fraction_with_the_whole_key() {
    let t0 = 10_000_000;
    let t1 = t0 + 1_080_000;
    let mut window = alone();
    window.correct(t0, requests(0, 0));
    window.correct(t1, requests(0, 0));
    assert_eq!(window.bucket.level(t1), 0);
    assert_eq!(window.bucket.level(t0 + 1_200_000), 1);

    let mut shared = Window::new(LimitKind::Requests, per_minute(50), true, None);
    shared.correct(t0, requests(0, 0));
    shared.correct(t1, requests(0, 0));
    assert!(shared.share < SHARE_ONE);
    let mut set = shared.clone();
    set.bucket.set_units(t1, 0);
    assert_eq!(shared.bucket, set.bucket);
    // And a report of fewer whole units than the window holds sets the level, fraction and all.
    let mut lower = alone();
    lower.correct(t0, requests(3, 0));
    lower.correct(t1, requests(2, 0));
    let mut set = lower.clone();
    set.bucket.set_units(t1, 2);
    assert_eq!(lower.bucket, set.bucket);
}

#[test]
fn keeping_the_fraction_compares_as_the_read_level() {
    for (mut window, now) in windows().step_by(MIRI_EVERY) {
        window.share = SHARE_ONE;
        let all: Vec<i64> = levels(&window).collect();
        for level in all {
            window.bucket.set_units(now, level);
            for later in [now, now.saturating_add(1), now.saturating_add(777_777)] {
                let read = window.bucket.level(later);
                for candidate in [read.saturating_sub(1), read, read.saturating_add(1)] {
                    assert_eq!(
                        window.keeps_fraction(later, candidate),
                        candidate == read && read >= 0,
                        "{candidate} against {read} at {later}: {window:?}"
                    );
                }
            }
        }
        window.share = SHARE_ONE - 1;
        let read = window.bucket.level(now);
        assert!(!window.keeps_fraction(now, read));
    }
}

/// A `remaining` of the whole limit repeated a millisecond apart raises the window no faster
/// than the limit refills: the ceiling's anchor stays at the last report taken as read, so the
/// refill rounded up is counted once, not once a response.
#[test]
fn a_lie_repeated_raises_the_window_no_faster_than_the_refill() {
    let t0 = 10_000_000;
    let mut window = alone();
    window.correct(t0, requests(0, 0));
    let mut now = t0;
    for _ in 0..50 {
        now += 1_000;
        window.correct(now, requests(50, 0));
    }
    // 50 ms: 0.04 of a request refilled, a report of 0 rounded down: at most one unit.
    assert!(
        window.bucket.level(now) <= 1,
        "{}",
        window.bucket.level(now)
    );
    // After 1.2 s the lie gets one request more, no sooner.
    window.correct(t0 + 1_199_000, requests(50, 0));
    assert!(window.bucket.level(t0 + 1_199_000) <= 1);
    window.correct(t0 + 1_201_000, requests(50, 0));
    assert_eq!(window.bucket.level(t0 + 1_201_000), 2);
}

/// A window of 1 000 input tokens a minute on a shared key whose provider held a whole
/// minute's worth, told its fleet (`fleet`) or not, with a share measured already or not.
fn claiming(fleet: Option<u16>, measured: bool) -> Window {
    let mut window = Window::new(LimitKind::InputTokens, per_minute(1_000), true, fleet);
    window.peak = 1_000;
    window.sampling = if measured {
        Sampling::Measured
    } else {
        Sampling::Point
    };
    window
}

#[test]
fn a_client_not_told_its_fleet_claims_an_unspent_key_in_proportion_to_its_part() {
    let one = i64::from(SHARE_ONE);
    let part = one / 16;
    let untold = claiming(None, true);
    // Below half unspent, what was measured; from half unspent on, more in proportion:
    // `part · (1 + (2u − 1))`.
    assert_eq!(untold.claim(part, 499), part);
    assert_eq!(untold.claim(part, 500), part);
    assert_eq!(untold.claim(part, 750), part * 3 / 2);
    assert_eq!(untold.claim(part, 937), part + part * 874 / 1_000);
    // 15/16 unspent or more: half of what remains, when that is more.
    assert_eq!(untold.claim(part, 938), part + (one - part) / 2);
    assert_eq!(untold.claim(part, 1_000), part + (one - part) / 2);
    // A large part is doubled on a full key, up to the whole of it.
    assert_eq!(untold.claim(one / 3, 1_000), one / 3 * 2);
    assert_eq!(untold.claim(one * 3 / 4, 1_000), one);
    // Told its fleet, or at the first measurement since the limit was set: half of what
    // remains from half unspent on.
    for window in [claiming(Some(16), true), claiming(None, false)] {
        assert_eq!(window.claim(part, 499), part);
        assert_eq!(window.claim(part, 500), part + (one - part) / 2);
        assert_eq!(window.claim(part, 750), part + (one - part) / 2);
    }
}

/// Every client of a key sees the same `remaining` and claims at the same sample: sixteen
/// whose measured parts make up the key claim together at most twice it below 15/16 unspent,
/// where each claiming half of what remains claimed eight keys' worth.
#[test]
fn clients_of_a_key_claim_together_at_most_twice_it() {
    let one = i64::from(SHARE_ONE);
    // Unequal parts summing to the whole key.
    let parts: [i64; 16] = [
        300, 200, 100, 100, 64, 64, 32, 32, 32, 20, 20, 20, 16, 12, 8, 4,
    ];
    assert_eq!(parts.iter().sum::<i64>(), one);
    let untold = claiming(None, true);
    let told = claiming(Some(16), true);
    for remaining in 0..938 {
        let total: i64 = parts
            .iter()
            .map(|&part| untold.claim(part, remaining))
            .sum();
        assert!(total <= 2 * one, "{total} at {remaining} of 1 000 unspent");
    }
    let told_total: i64 = parts.iter().map(|&part| told.claim(part, 750)).sum();
    assert!(told_total > 8 * one, "{told_total}");
}

/// A provider's bucket holds at least one unit whatever its rate: of the peak, only what it
/// held above one is rescaled with a new limit, and the reports of the new limit raise it.
#[test]
fn a_new_limit_rescales_the_peak_above_one_unit() {
    let mut requests_window = Window::new(LimitKind::Requests, per_minute(50), true, None);
    requests_window.correct(0, requests(1, 0));
    assert_eq!(requests_window.peak, 1);
    requests_window.set_limit(1_000_000, LimitKind::Requests, per_minute(1_000));
    // Rescaled whole: 20, where the provider holds 16.
    assert_eq!(requests_window.peak, 1);
    requests_window.correct(2_000_000, requests(16, 0));
    assert_eq!(requests_window.peak, 16);
    let mut tokens = Window::new(LimitKind::InputTokens, per_minute(30_000), true, None);
    tokens.peak = 30_000;
    tokens.set_limit(0, LimitKind::InputTokens, per_minute(60_000));
    assert_eq!(tokens.peak, 59_999);
    tokens.set_limit(0, LimitKind::InputTokens, per_minute(15_000));
    assert_eq!(tokens.peak, 15_000);
}

/// A report of input tokens, newest, all of ours counted.
fn tokens(remaining: u64) -> Report {
    Report {
        remaining,
        unseen: 0,
        rounding: 0,
        horizon_us: 0,
        newest: true,
        own_limit: true,
    }
}

/// After a limit is lowered on a drained key, the reports of the new limit are all 0; a peak
/// learned from them alone would expect nothing back, read others' spending as our own
/// negative and raise our share to the whole key. Ours is 10 of the 25 the key refills
/// between two reports.
#[test]
fn a_drained_key_after_a_new_limit_still_shows_others_spending() {
    let mut window = Window::new(LimitKind::InputTokens, per_minute(1_000), true, None);
    window.correct(0, tokens(1_000));
    window.set_limit(1_000, LimitKind::InputTokens, per_minute(500));
    for step in 1..=20u64 {
        window.count_admitted(10);
        window.correct(step * 3_000_000, tokens(0));
    }
    // Our part is 10 / 25 of the key (410 of 1 024); learned from the drained reports alone,
    // the peak made it the whole key.
    assert!(
        (360..=460).contains(&window.share),
        "{} of {SHARE_ONE}",
        window.share
    );
}

/// The first measurement after a limit is set claims half of what remains; later ones in
/// proportion: on a key 3/4 unspent with none of the spending ours, the share moves from the
/// cold quarter halfway up to that claim (256 → 384), then halfway down to nothing (→ 192).
#[test]
fn the_first_measurement_claims_half_of_what_remains_and_later_ones_in_proportion() {
    let mut window = Window::new(LimitKind::InputTokens, per_minute(1_000), true, None);
    assert_eq!(window.sampling, Sampling::None);
    window.correct(0, tokens(1_000));
    assert_eq!((window.sampling, window.share), (Sampling::Point, 256));
    window.correct(3_000_000, tokens(750));
    assert_eq!((window.sampling, window.share), (Sampling::Measured, 384));
    window.correct(6_000_000, tokens(750));
    assert_eq!((window.sampling, window.share), (Sampling::Measured, 192));
    // A new limit starts over: its first measurement claims half of what remains again.
    window.set_limit(6_000_000, LimitKind::InputTokens, per_minute(1_000));
    assert_eq!(window.sampling, Sampling::None);
}

proptest::proptest! {
    /// Our part of a report, taken without dividing, is the quotient the division gives: for
    /// every amount and every share a window can hold (half of each drawn small, where the
    /// share can be the one-unit minimum), and every number of units: none, the whole amount,
    /// within it and beyond it.
    #[test]
    fn a_share_of_a_report_is_the_quotient_without_dividing(
        amount in proptest::prop_oneof![1..=63_u32, 1..=u32::MAX],
        fixed in proptest::prop_oneof![MIN_SHARE..=64, MIN_SHARE..=SHARE_ONE],
        units in proptest::prelude::any::<u64>(),
        edge in 0..4_u8,
    ) {
        let mut window = Window::new(LimitKind::InputTokens, per_minute(amount), true, None);
        window.share = fixed;
        let share = window.share();
        let amount = u64::from(amount);
        let units = match edge {
            0 => units % (amount + 1),
            1 => amount,
            2 => units % 4,
            _ => units,
        };
        let divided = mul_div(units, u64::from(share), amount);
        proptest::prop_assert_eq!(window.part(units, share), divided);
    }

    /// A product over a minute's window is the quotient the division gives, rounded down and
    /// up, whatever the window (a minute, where the divisor is a constant, or another).
    #[test]
    fn a_product_over_a_window_is_the_quotient(
        a in proptest::prelude::any::<u64>(),
        b in proptest::prelude::any::<u64>(),
        small in proptest::prelude::any::<bool>(),
        minute in proptest::prelude::any::<bool>(),
        window_us in 1..=u64::MAX,
    ) {
        // Half the cases with a product within 64 bits, where the constant divides.
        let (a, b) = if small { (a >> 32, b >> 32) } else { (a, b) };
        let window_us = if minute { super::MINUTE_US } else { window_us };
        let down = mul_div(a, b, window_us);
        proptest::prop_assert_eq!(super::mul_div_window(a, b, window_us), down);
        let exact = a.checked_mul(b).is_some_and(|product| product % window_us == 0);
        let up = if exact { down } else { down.saturating_add(1) };
        proptest::prop_assert_eq!(super::mul_div_window_up(a, b, window_us), up);
    }
}
