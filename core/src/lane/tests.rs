//! The admission that charges full buckets at once must answer and charge exactly as the one
//! that checks every bucket first, and `full_by` must never claim a bucket full too early.
#![allow(
    clippy::arithmetic_side_effects,
    reason = "test arithmetic on small known values"
)]

use proptest::prelude::*;

use super::{Bucket, Lane, LaneConfig, Priority, UNREAD};
use crate::cost::Charges;
use crate::test_support::per_minute;
use core::num::NonZeroU32;

use crate::{Cost, Limit, LimitKind};

/// An Anthropic-shaped lane (paces and provider windows of requests, input and output),
/// shared or alone on its key, with or without a background reserve.
fn lane(shared: bool, reserve: u16) -> Lane {
    lane_with_input(shared, reserve, per_minute(30_000))
}

/// [`lane`] with another input limit.
fn lane_with_input(shared: bool, reserve: u16, input: Limit) -> Lane {
    let config = LaneConfig::new()
        .requests(per_minute(60))
        .input_tokens(input)
        .output_tokens(per_minute(8_000))
        .shared_key(shared)
        .with_background_reserve_permille(reserve);
    Lane::new(&config)
}

/// Admits `charges` at `now` on `lane` and on a copy that must check every bucket first, and
/// holds both to the same answer and the same state; `full_by` stays a bound on every TAT.
fn admit_both(lane: &mut Lane, now: u64, charges: &Charges, priority: Priority) {
    let mut checked = lane.clone();
    checked.forget_full();
    let fast = lane.try_admit(now, charges, priority);
    let slow = checked.try_admit(now, charges, priority);
    assert_eq!(fast, slow, "at {now}: {charges:?}");
    assert!(lane.full_by >= lane.horizon(), "at {now}: {lane:?}");
    // An admission the check let through leaves the short way to open at the lane's horizon
    // exactly (no fleet, a 64-bit target; it opens there when every bucket is narrow, when
    // read): a bound set too late would only keep the short way shut.
    let horizon = checked.horizon();
    if cfg!(target_pointer_width = "64")
        && slow.is_ok()
        && checked.fleet_member.is_none()
        && horizon < UNREAD - 1
    {
        assert_eq!(checked.full_by, horizon | UNREAD, "at {now}: {checked:?}");
        let narrow = checked.buckets.iter().flatten().all(Bucket::is_narrow)
            && checked.windows().all(|window| window.bucket.is_narrow());
        let opened = checked.clone().read_short_way();
        let expected = if narrow { horizon } else { u64::MAX };
        assert_eq!(opened, expected, "at {now}: {checked:?}");
    }
    checked.full_by = lane.full_by;
    assert_eq!(*lane, checked, "at {now}: {charges:?}");
}

#[test]
fn a_full_lane_is_charged_as_the_check_would() {
    let mut lane = lane(true, 200);
    let charges = lane.upfront(&Cost::request(1_200, 1_024));
    // Every bucket full from the start: the first admission takes the short way.
    assert!(lane.full_by <= 1_000_000);
    admit_both(&mut lane, 1_000_000, &charges, Priority::Interactive);
    // Right after, the requests pace is busy: the next one is checked (and waits).
    assert!(lane.full_by > 1_000_000);
    admit_both(&mut lane, 1_000_000, &charges, Priority::Interactive);
    // A minute later everything has refilled: the short way again, background or not.
    admit_both(&mut lane, 61_000_000, &charges, Priority::Background);
}

#[test]
fn a_new_lane_knows_when_it_is_full() {
    // Where a unit refills in under a microsecond, a new window's level, set in whole units,
    // leaves its bucket a microsecond short of full: 1 999 983 a second starts at TAT 1.
    let limits = [
        (50, 60_000),
        (30_000, 60_000),
        (1_999_983, 1_000),
        (1_000_000, 1),
    ];
    for (amount, window_ms) in limits {
        let limit = Limit::per_window_ms(
            NonZeroU32::new(amount).unwrap_or(NonZeroU32::MIN),
            NonZeroU32::new(window_ms).unwrap_or(NonZeroU32::MIN),
        );
        let mut lane = Lane::new(&LaneConfig::new().input_tokens(limit));
        assert!(lane.full_by >= lane.horizon(), "{amount}: {lane:?}");
        let charges = Charges([0, u64::from(amount / 3), 0, u64::from(amount / 3)]);
        for now in [0, 1, 2] {
            admit_both(&mut lane, now, &charges, Priority::Interactive);
        }
    }
}

#[test]
fn a_settlement_forgets_when_the_lane_is_full() {
    let mut lane = lane(false, 0);
    let charges = lane.upfront(&Cost::request(100, 100));
    let Ok(ends) = lane.try_admit(0, &charges, Priority::Interactive) else {
        panic!("a full lane admits");
    };
    let mask = lane.mask();
    // Settled far above its estimate: the buckets owe more than the admission charged.
    let actual = Charges([1, 20_000, 7_000, 27_000]);
    lane.reconcile(10, mask, &charges, &actual, 0, &ends, false);
    assert!(lane.full_by >= lane.horizon());
    admit_both(&mut lane, 20, &charges, Priority::Interactive);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Admissions at random times, costs and priorities, with some settled at random actual
    /// usage: the short way and the checked way never differ.
    #[test]
    fn the_short_way_is_the_checked_way(
        shared in any::<bool>(),
        reserve in prop_oneof![Just(0u16), Just(200), Just(1_000)],
        // Also a limit whose unit refills in under a microsecond (its window starts short).
        input in prop_oneof![Just(per_minute(30_000)), Just(per_minute(119_998_980))],
        steps in prop::collection::vec(
            (0u64..3_000_000, 0u64..40_000, 0u64..9_000, any::<bool>(), 0u64..30_000, any::<bool>()),
            1..40,
        ),
    ) {
        let mut lane = lane_with_input(shared, reserve, input);
        let mut now = 0;
        for (step, input, output, background, used, settle) in steps {
            now += step;
            let charges = lane.upfront(&Cost::request(input, output));
            let priority = if background { Priority::Background } else { Priority::Interactive };
            let before = lane.clone();
            admit_both(&mut lane, now, &charges, priority);
            if settle && lane != before {
                let mut again = before;
                let Ok(ends) = again.try_admit(now, &charges, priority) else {
                    continue;
                };
                lane = again;
                let actual = Charges([1, used, used / 3, used + used / 3]);
                let mask = lane.mask();
                lane.reconcile(now + step / 2, mask, &charges, &actual, now, &ends, false);
                prop_assert!(lane.full_by >= lane.horizon());
            }
        }
    }
}

#[test]
fn a_pace_that_cannot_hold_the_charge_is_checked() {
    let mut lane = lane(false, 0);
    // Above the input pace's burst: never admitted, by either way.
    let charges = Charges([1, 40_000, 0, 40_000]);
    assert_eq!(charges.get(LimitKind::InputTokens), 40_000);
    admit_both(&mut lane, 0, &charges, Priority::Interactive);
    assert!(lane.try_admit(0, &charges, Priority::Interactive).is_err());
}

#[test]
fn a_lane_with_a_wide_bucket_never_takes_the_short_way() {
    // The short way's sums are plain 64-bit ones, sound only for narrow buckets (capacity
    // below 2^43 µs): a window retuned to one unit a second of a burst of 10 000 000 (about
    // 116 days of credit) is not, so the lane checks every admission, and the instants at or
    // past 2^63 are checked too.
    let limit = Limit::per_window_ms(
        NonZeroU32::new(10_000_000).unwrap_or(NonZeroU32::MIN),
        NonZeroU32::new(1_000).unwrap_or(NonZeroU32::MIN),
    );
    let mut lane = Lane::new(&LaneConfig::new().input_tokens(limit));
    assert!(lane.full_by <= 1, "a narrow new lane is full at once");
    if let Some(window) = lane.window_mut(LimitKind::InputTokens) {
        window.bucket.retune(0, 1, 10_000_000);
        assert!(!window.bucket.is_narrow());
    }
    let charges = Charges([0, 5, 0, 5]);
    for now in [0, 1_000_000, 1 << 40] {
        admit_both(&mut lane, now, &charges, Priority::Interactive);
        // Never open: forgotten, or a horizon left unread that reading shuts.
        assert!(lane.full_by & UNREAD != 0, "at {now}");
        assert_eq!(lane.clone().read_short_way(), u64::MAX, "at {now}");
    }
    // At and past 2^63 µs the sums would wrap: 50 tokens take 5 µs, and the lane checks them.
    let mut narrow = Lane::new(&LaneConfig::new().input_tokens(limit));
    let charges = Charges([0, 50, 0, 50]);
    for now in [crate::bucket::NARROW_NOW, u64::MAX - 1] {
        admit_both(&mut narrow, now, &charges, Priority::Interactive);
    }
}

/// A lane that charges its output estimate caps it next to the input it charges, the input as
/// calibrated: a calibrated charge stays calibrated when the estimate is above what the
/// combined pace holds beside it (capped next to the unscaled input, the scaled charge did not
/// fit and the lane fell back to the caller's own, lower, input estimate).
#[test]
fn a_capped_output_estimate_keeps_the_calibrated_input() {
    let config = LaneConfig::new()
        .output_tokens(per_minute(8_000))
        .tokens(per_minute(10_000))
        .with_cost_model(crate::CostModel::ANTHROPIC_CURRENT);
    let mut lane = Lane::new(&config);
    // Inputs that run 25 % over the caller's estimates, and answers longer than the pace.
    for _ in 0..32 {
        lane.calibrate_input(1_000, 1_250);
        lane.learn_output(9_000);
    }
    let charges = lane.upfront(&Cost::request(2_000, 16_000));
    let [_, input, output, tokens] = charges.0;
    assert!(
        input > 2_400,
        "the input is charged as calibrated: {charges:?}"
    );
    assert_eq!(output, (10_000 - input).min(8_000), "{charges:?}");
    assert_eq!(tokens, input + output);
    assert!(tokens <= 10_000, "{charges:?}");
}
