#![allow(
    clippy::arithmetic_side_effects,
    reason = "test arithmetic on small known values"
)]

use core::num::NonZeroU32;

use super::*;

fn limit(amount: u32) -> Limit {
    crate::test_support::per_minute(amount)
}

fn at(secs_millis: u64) -> Instant {
    Instant::from_ticks(secs_millis * 1_000)
}

#[test]
fn fresh_bucket_is_full_at_any_time() {
    let bucket = Bucket::new(LimitKind::InputTokens, limit(30_000));
    assert_eq!(bucket.available(at(0)), 30_000);
    assert_eq!(bucket.available(Instant::from_ticks(u64::MAX)), 30_000);
    assert_eq!(bucket.time_to_full(at(0)), Duration::ZERO);
}

#[test]
fn paces_fifty_rpm_at_one_point_two_seconds() {
    let mut rpm = Bucket::new(LimitKind::Requests, limit(50));
    assert_eq!(rpm.burst(), 1);
    let mut now = 0;
    let mut admitted = Vec::new();
    while admitted.len() < 5 {
        match rpm.try_take(at(now), 1) {
            Ok(()) => admitted.push(now),
            Err(Some(until)) => now = until.as_ticks() / 1_000,
            Err(None) => unreachable!(),
        }
    }
    assert_eq!(admitted, [0, 1_200, 2_400, 3_600, 4_800]);
}

#[test]
fn non_integer_unit_time_rounds_up() {
    // 3 500 RPM: 17 142.857… µs per request; each charge is rounded up.
    let bucket = Bucket::new(LimitKind::Requests, limit(3_500));
    assert_eq!(bucket.cost_time(1), 17_143);
    assert_eq!(bucket.cost_time(3_500), 60_000_000 + 1);
    // Exact rates stay exact.
    let exact = Bucket::new(LimitKind::InputTokens, limit(30_000));
    assert_eq!(exact.cost_time(1), 2_000);
    assert_eq!(exact.cost_time(30_000), 60_000_000);
}

#[test]
fn cost_above_burst_is_never_admitted() {
    let mut itpm = Bucket::new(LimitKind::InputTokens, limit(30_000));
    assert_eq!(itpm.try_take(at(0), 30_001), Err(None));
    assert_eq!(itpm.try_take(at(0), u64::MAX), Err(None));
    assert_eq!(itpm.try_take(at(0), 30_000), Ok(()));
}

#[test]
fn refused_take_changes_nothing() {
    let mut itpm = Bucket::new(LimitKind::InputTokens, limit(30_000));
    itpm.try_take(at(0), 29_000).unwrap();
    let before = itpm.clone();
    assert!(itpm.try_take(at(0), 2_000).is_err());
    assert_eq!(itpm, before);
}

#[test]
fn backwards_time_is_stricter_never_looser() {
    let mut rpm = Bucket::new(LimitKind::Requests, limit(60));
    rpm.try_take(at(10_000), 1).unwrap();
    // At an earlier now the same request must wait until the same instant.
    assert_eq!(rpm.try_take(at(5_000), 1), Err(Some(at(11_000))));
    assert_eq!(rpm.try_take(at(11_000), 1), Ok(()));
}

#[test]
fn reconcile_refunds_and_debits_exactly() {
    let mut otpm = Bucket::new(LimitKind::OutputTokens, limit(8_000));
    otpm.try_take(at(0), 4_000).unwrap();
    assert_eq!(otpm.available(at(0)), 4_000);
    otpm.reconcile(0, 4_000, 1_000, false, u64::MAX);
    assert_eq!(otpm.available(at(0)), 7_000);
    otpm.reconcile(0, 1_000, 3_000, false, u64::MAX);
    assert_eq!(otpm.available(at(0)), 5_000);
    // Usage above the estimate drives the bucket into debt…
    otpm.reconcile(0, 3_000, 12_000, false, u64::MAX);
    assert_eq!(otpm.available(at(0)), 0);
    assert_eq!(otpm.time_to_full(at(0)), Duration::from_ticks(90_000_000));
    // …but never more than one window's worth of it: full again at most two windows later.
    otpm.reconcile(0, 3_000, u64::MAX, false, u64::MAX);
    assert_eq!(otpm.time_to_full(at(0)), Duration::from_ticks(120_000_000));
}

#[test]
fn a_refund_after_a_capped_debit_gives_back_only_what_was_taken() {
    // 8 000 per minute: the debt cap is one window, so the bucket is full at most 2 min later.
    let mut otpm = Bucket::new(LimitKind::OutputTokens, limit(8_000));
    otpm.try_take(at(0), 2_000).unwrap();
    otpm.try_take(at(0), 1_000).unwrap();
    // The first request settles at 14 000 (12 000 above its estimate): 15 000 taken, 16 000
    // may be owed at most, so nothing is forgiven yet.
    otpm.reconcile(0, 2_000, 14_000, false, u64::MAX);
    assert_eq!(otpm.time_to_full(at(0)), Duration::from_ticks(112_500_000));
    // Another 3 000 above: the cap takes only 1 000 of them, forgiving 2 000.
    otpm.reconcile(0, 14_000, 17_000, false, u64::MAX);
    assert_eq!(otpm.time_to_full(at(0)), Duration::from_ticks(120_000_000));
    // Cancelling the second request (1 000) gives nothing back: had it never been admitted,
    // the cap would have forgiven 1 000 less and the bucket would be exactly as full.
    otpm.reconcile(0, 1_000, 0, false, u64::MAX);
    assert_eq!(otpm.time_to_full(at(0)), Duration::from_ticks(120_000_000));
    // What the cap forgave is paid off once: a refund of 3 000 absorbs the 1 000 left and
    // gives back 2 000 (15 s); the next refund counts in full.
    otpm.reconcile(0, 17_000, 14_000, false, u64::MAX);
    assert_eq!(otpm.time_to_full(at(0)), Duration::from_ticks(105_000_000));
    otpm.reconcile(0, 14_000, 13_000, false, u64::MAX);
    assert_eq!(otpm.time_to_full(at(0)), Duration::from_ticks(97_500_000));
}

#[test]
fn refund_never_overfills() {
    let mut itpm = Bucket::new(LimitKind::InputTokens, limit(30_000));
    itpm.try_take(at(0), 1_000).unwrap();
    // A minute later the bucket is full; refunding the charge must not push it above full.
    itpm.reconcile(60_000, 1_000, 0, false, u64::MAX);
    assert_eq!(itpm.available(at(60_000)), 30_000);
    assert!(itpm.try_take(at(60_000), 30_001).is_err());
    assert_eq!(itpm.try_take(at(60_000), 30_000), Ok(()));
    assert_eq!(itpm.available(at(60_000)), 0);
}

#[test]
fn reserve_keeps_headroom_but_never_rejects() {
    let mut itpm = Bucket::new(LimitKind::InputTokens, limit(30_000));
    let reserve = itpm.permille_of_capacity(200); // 6 000 tokens
    assert_eq!(reserve, 12_000_000);
    itpm.commit(itpm.check(0, 1_000, 0).unwrap());
    // A background request may drain the bucket down to the reserve, not below.
    assert!(itpm.check(0, 23_000, reserve).is_ok());
    assert_eq!(itpm.check(0, 23_001, reserve), Err(Refusal::Until(2_000)));
    // A request bigger than burst − reserve waits for a full bucket instead of being rejected.
    assert_eq!(
        itpm.check(0, 29_000, reserve),
        Err(Refusal::Until(2_000_000))
    );
    assert_eq!(itpm.check(0, 30_001, reserve), Err(Refusal::TooLarge));
}

#[test]
fn rescale_keeps_used_fraction() {
    let mut rpm = Bucket::new(
        LimitKind::Requests,
        limit(600).with_burst(NonZeroU32::new(100).unwrap()),
    );
    rpm.try_take(at(0), 50).unwrap();
    assert_eq!(rpm.available(at(0)), 50);
    rpm.set_limit(
        at(0),
        LimitKind::Requests,
        limit(1_200).with_burst(NonZeroU32::new(100).unwrap()),
    );
    assert_eq!(rpm.available(at(0)), 50);
    rpm.set_limit(
        at(0),
        LimitKind::Requests,
        limit(1_200).with_burst(NonZeroU32::new(10).unwrap()),
    );
    assert_eq!(rpm.available(at(0)), 5);
}

#[test]
fn set_available_admits_exactly_what_the_server_reported() {
    let mut rpm = Bucket::new(
        LimitKind::Requests,
        limit(3_500).with_burst(NonZeroU32::new(3_500).unwrap()),
    );
    rpm.set_level(0, 1_000, 0);
    assert_eq!(rpm.available(at(0)), 1_000);
    assert_eq!(rpm.try_take(at(0), 1_000), Ok(()));
    assert!(rpm.try_take(at(0), 1).is_err());
    // Sub-microsecond units (2·10⁹ per minute) round down instead.
    let mut fast = Bucket::new(LimitKind::Tokens, limit(2_000_000_000));
    fast.set_level(0, 1_000_000_001, 0);
    assert!(fast.available(at(0)) <= 1_000_000_001);
    rpm.set_level(0, 10_000, 0);
    assert_eq!(rpm.available(at(0)), 3_500);
    rpm.set_level(0, 0, 0);
    assert_eq!(rpm.available(at(0)), 0);
}

#[test]
fn extreme_limits_do_not_overflow() {
    let max = Limit::per_window_ms(NonZeroU32::MAX, NonZeroU32::MAX);
    let mut bucket = Bucket::new(LimitKind::Tokens, max);
    assert_eq!(
        bucket.try_take(Instant::from_ticks(u64::MAX), u64::from(u32::MAX)),
        Ok(())
    );
    let tiny = Limit::per_window_ms(NonZeroU32::MIN, NonZeroU32::MAX);
    let mut slow = Bucket::new(LimitKind::Requests, tiny);
    assert_eq!(slow.try_take(Instant::from_ticks(0), 1), Ok(()));
    assert!(matches!(
        slow.try_take(Instant::from_ticks(0), 1),
        Err(Some(_))
    ));
    slow.reconcile(u64::MAX, 0, u64::MAX, false, u64::MAX);
    assert_eq!(slow.full_at(), Instant::from_ticks(u64::MAX));
}

#[test]
fn the_64_bit_paths_give_the_128_bit_results() {
    // Issue 13: refill times, levels and scalings take 64 bits when the product fits; the
    // rounding must be exactly the 128-bit one on both sides of every boundary.
    let values = [
        0,
        1,
        2,
        999,
        1 << 20,
        (1 << 20) + 1,
        u64::from(u32::MAX),
        (1 << 42) - 1,
        (1 << 44) - 1,
        1 << 44,
        (1 << 44) + 1,
        u64::MAX / 3,
        u64::MAX - 1,
        u64::MAX,
    ];
    for a in values {
        for b in values {
            assert_eq!(ceil_time(a, b), ceil_time_wide(a, b), "ceil {a} {b}");
            assert_eq!(floor_time(a, b), floor_time_wide(a, b), "floor {a} {b}");
            let wide = (u128::from(a) << UNIT_SHIFT)
                .checked_div(u128::from(b))
                .map_or(u64::MAX, |units| u64::try_from(units).unwrap_or(u64::MAX));
            assert_eq!(units_in(a, b), wide, "units_in {a} {b}");
            for c in values {
                // Against `u128` itself: on 32-bit targets the wide path is the bitwise
                // division, so this sweep holds it at every boundary there.
                assert_eq!(
                    mul_div(a, b, c),
                    mul_div_reference(a, b, c),
                    "mul_div {a} {b} {c}"
                );
            }
        }
    }
    for (amount, window_ms) in [(1, 1), (3_500, 60_000), (7, u32::MAX), (u32::MAX, u32::MAX)] {
        let limit = Limit::per_window_ms(
            NonZeroU32::new(amount).unwrap(),
            NonZeroU32::new(window_ms).unwrap(),
        );
        let exact = ((u128::from(window_ms) * 1_000) << UNIT_SHIFT).div_ceil(u128::from(amount));
        assert_eq!(
            u128::from(unit_fp(limit)),
            exact,
            "{amount} per {window_ms} ms"
        );
    }
}

/// [`Bucket::check`] as one formula, without the full-bucket shortcut: `max(TAT, now) + n·T`,
/// admitted when that less the capacity the request sees is at or before `now`.
fn check_by_formula(bucket: &Bucket, now: u64, cost: u64, reserve: u64) -> Result<Charge, Refusal> {
    if cost > u64::from(bucket.burst) {
        return Err(Refusal::TooLarge);
    }
    let cost_time = bucket.cost_time(cost);
    let tat = bucket.tat.max(now).saturating_add(cost_time);
    let effective = if reserve == 0 {
        bucket.capacity
    } else {
        bucket.capacity.saturating_sub(reserve).max(cost_time)
    };
    let allowed_at = tat.saturating_sub(effective);
    if allowed_at <= now {
        Ok(Charge {
            tat,
            end: now.saturating_add(cost_time),
        })
    } else {
        Err(Refusal::Until(allowed_at))
    }
}

#[test]
fn a_full_bucket_admits_as_the_formula_does() {
    // Issue 13: a bucket whose TAT is not after `now` admits without the formula's sums. Same
    // answers, reserves and saturation near the end of time included.
    let instants = [
        0,
        1,
        999_999,
        60_000_000,
        1 << 44,
        u64::MAX - (1 << 40),
        u64::MAX - 60_000_001,
        u64::MAX - 1,
        u64::MAX,
    ];
    let limits = [
        Limit::per_minute(NonZeroU32::new(50).unwrap()),
        Limit::per_minute(NonZeroU32::new(30_000).unwrap()),
        Limit::per_window_ms(
            NonZeroU32::new(7).unwrap(),
            NonZeroU32::new(u32::MAX).unwrap(),
        ),
        Limit::per_window_ms(NonZeroU32::MAX, NonZeroU32::MIN),
    ];
    for limit in limits {
        for kind in [LimitKind::Requests, LimitKind::InputTokens] {
            let mut bucket = Bucket::new(kind, limit);
            let burst = u64::from(bucket.burst());
            for tat in instants {
                bucket.tat = tat;
                for now in instants {
                    for cost in [0, 1, burst / 2, burst, burst + 1] {
                        for reserve in [0, 1, bucket.capacity / 5, bucket.capacity, u64::MAX] {
                            assert_eq!(
                                bucket.check(now, cost, reserve),
                                check_by_formula(&bucket, now, cost, reserve),
                                "{limit:?} tat {tat} now {now} cost {cost} reserve {reserve}"
                            );
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn a_narrow_bucket_takes_a_full_charge_as_the_checked_sums_do() {
    // Issue 13: the short way of a full lane charges narrow buckets in plain 64-bit sums. At
    // the bounds that make a bucket narrow (a capacity just below 2^43 µs, retuned to a small
    // share of a slow limit: the widest burst for its rate) and the instants below 2^63, the
    // TAT and the end are the overflow-checked ones; past the capacity bound a bucket is not
    // narrow.
    let slowest = Limit::per_window_ms(NonZeroU32::new(7).unwrap(), NonZeroU32::MAX);
    let mut buckets = [
        Bucket::new(LimitKind::Requests, limit(50)),
        Bucket::new(LimitKind::InputTokens, limit(2_000_000)),
        Bucket::new(LimitKind::OutputTokens, slowest),
        Bucket::new(
            LimitKind::InputTokens,
            Limit::per_window_ms(NonZeroU32::MAX, NonZeroU32::MIN),
        ),
    ]
    .to_vec();
    // A window's bucket: the rate a share of the limit, the burst the whole limit. At one
    // unit a second, a burst of 8 796 093 is the last below 2^43 µs.
    for (share, amount) in [
        (1, 8_796_093),
        (1, 8_796_094),
        (3, 2_000_000),
        (1, u32::MAX),
    ] {
        let mut bucket = Bucket::new(
            LimitKind::InputTokens,
            Limit::per_window_ms(
                NonZeroU32::new(amount).unwrap(),
                NonZeroU32::new(1_000).unwrap(),
            ),
        );
        bucket.retune(0, share, amount);
        buckets.push(bucket);
    }
    let (mut narrow, mut wide) = (0, 0);
    for bucket in buckets {
        if !bucket.is_narrow() {
            assert!(bucket.capacity >= NARROW_CAPACITY, "{bucket:?}");
            wide += 1;
            continue;
        }
        narrow += 1;
        let burst = u64::from(bucket.burst());
        for now in [0, 1, 60_000_000, 1 << 44, NARROW_NOW - 1] {
            for cost in [0, 1, burst / 3, burst - 1, burst] {
                let (mut checked, mut plain) = (bucket.clone(), bucket.clone());
                checked.tat = now;
                plain.tat = now;
                assert_eq!(
                    plain.take_full_narrow(now, cost),
                    checked.take_full(now, cost),
                    "{bucket:?} now {now} cost {cost}"
                );
                assert_eq!(plain, checked);
            }
        }
    }
    assert_eq!((narrow, wide), (6, 2));
}

#[test]
fn from_a_microsecond_per_unit_the_rounded_up_time_holds_exactly_its_units() {
    // Issue 13: `set_level` skips its division when one unit takes at least a microsecond,
    // because then `⌈r·T⌉` is less than one unit's time above `r·T`: it never holds one unit
    // more than `r`, which is all the division guards against.
    let units = [0, 1, 2, 3, 999, 1_000_000, u64::from(u32::MAX), 1 << 40];
    let unit_fps = [
        1 << UNIT_SHIFT,
        (1 << UNIT_SHIFT) + 1,
        (1 << UNIT_SHIFT) * 3 / 2,
        17_142_857 << 10,
        (1 << UNIT_SHIFT) * 60_000_000,
    ];
    for unit_fp in unit_fps {
        for remaining in units {
            let time = ceil_time(remaining, unit_fp);
            let held = units_in(time, unit_fp);
            // Never more units than asked for (fewer only where the time saturated).
            assert!(held <= remaining, "{remaining} units at {unit_fp}: {held}");
            if time < u64::MAX {
                assert_eq!(held, remaining, "{remaining} units at {unit_fp}");
            }
        }
    }
    // Below a microsecond per unit it does not hold, which is why the division stays there.
    let fast = (1 << UNIT_SHIFT) / 3;
    assert!((1..1_000).any(|remaining| units_in(ceil_time(remaining, fast), fast) > remaining));
}

/// Buckets of several rates, drained to several depths (full, part, in debt, saturated).
fn drained_buckets() -> impl Iterator<Item = Bucket> {
    [1u32, 7, 50, 30_000, 2_000_000]
        .into_iter()
        .flat_map(|amount| {
            [0u64, 1, 2, 1_000, 60_000_000, u64::MAX - 1, u64::MAX].map(move |tat| Bucket {
                tat,
                ..Bucket::new(LimitKind::InputTokens, limit(amount))
            })
        })
}

#[test]
fn admissible_at_answers_what_check_answers() {
    for bucket in drained_buckets() {
        for now in [0, 1, 999, 1_000, 61_000_000, u64::MAX - 5, u64::MAX] {
            let costs = [0, 1, 3, u64::from(bucket.burst())];
            for cost in costs
                .into_iter()
                .filter(|&cost| cost <= u64::from(bucket.burst()))
            {
                for reserve in [0, 1, bucket.capacity() / 5, bucket.capacity()] {
                    let at = bucket.admissible_at(now, cost, reserve);
                    match bucket.check(now, cost, reserve) {
                        Ok(_) => assert!(at <= now, "{bucket:?} {now} {cost} {reserve}"),
                        Err(Refusal::Until(until)) => assert_eq!(at, until),
                        Err(Refusal::TooLarge) => panic!("within the burst: {bucket:?} {cost}"),
                    }
                }
            }
        }
    }
}

#[test]
fn take_admissible_charges_what_check_and_commit_charge() {
    for bucket in drained_buckets() {
        for now in [0, 1, 999, 1_000, 61_000_000, u64::MAX - 5, u64::MAX] {
            for cost in [0, 1, 3, u64::from(bucket.burst())] {
                let Ok(charge) = bucket.check(now, cost, 0) else {
                    continue;
                };
                let (mut taken, mut committed) = (bucket.clone(), bucket.clone());
                committed.commit(charge);
                assert_eq!(taken.take_admissible(now, cost), charge.tat);
                assert_eq!(taken, committed, "{bucket:?} {now} {cost}");
                if bucket.full_at().as_ticks() <= now {
                    let mut full = bucket.clone();
                    assert_eq!(full.take_full(now, cost), charge.tat);
                    assert_eq!(full, committed);
                }
            }
        }
    }
}

/// `a · b / c` in `u128`, saturating at `u64::MAX` (and for `c == 0`): what [`mul_div`] means.
fn mul_div_reference(a: u64, b: u64, c: u64) -> u64 {
    (u128::from(a) * u128::from(b))
        .checked_div(u128::from(c))
        .map_or(u64::MAX, |quotient| {
            u64::try_from(quotient).unwrap_or(u64::MAX)
        })
}

proptest::proptest! {
    /// The 32-bit targets' long division gives `u128`'s quotient for any operands, around the
    /// saturation boundary (`high` half equal to `c`) too.
    #[test]
    fn the_bitwise_division_is_the_wide_one(
        a in proptest::prelude::any::<u64>(),
        b in proptest::prelude::any::<u64>(),
        c in proptest::prelude::any::<u64>(),
        near in 0_u64..3,
    ) {
        proptest::prop_assert_eq!(mul_div_by_bits(a, b, c), mul_div_reference(a, b, c));
        let high = ((u128::from(a) * u128::from(b)) >> 64) as u64;
        let c = high.saturating_add(near).saturating_sub(1);
        proptest::prop_assert_eq!(mul_div_by_bits(a, b, c), mul_div_reference(a, b, c));
        proptest::prop_assert_eq!(mul_div(a, b, c), mul_div_reference(a, b, c));
    }
}
