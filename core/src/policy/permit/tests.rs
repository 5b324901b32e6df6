//! Permits belong to the policy that issued them (issue 11), and stay small (issue 13).

use crate::test_support::{at_ms, per_minute};
use crate::time::Instant;
use crate::{
    Acquire, Cost, LaneConfig, LaneId, Outcome, Permit, PermitError, Policy, Priority, Response,
    backoff::FixedDraw, headers,
};

fn lane_config() -> LaneConfig {
    LaneConfig::new()
        .requests(per_minute(60))
        .input_tokens(per_minute(30_000))
}

fn policy() -> (Policy<1, 4>, LaneId) {
    let mut policy = Policy::new();
    let lane = policy.add_lane(lane_config()).unwrap();
    (policy, lane)
}

fn admit(policy: &mut Policy<1, 4>, lane: LaneId, now: Instant) -> Permit {
    match policy.acquire(now, lane, Cost::request(1_000, 100), Priority::Interactive) {
        Acquire::Admit(permit) => permit,
        other => panic!("expected admission, got {other:?}"),
    }
}

/// The policy's whole state, to show that a refused permit changed nothing.
fn state(policy: &Policy<1, 4>) -> String {
    format!("{policy:?}")
}

#[test]
fn another_policys_permit_is_unknown_and_changes_nothing() {
    // Issue 11: settling A's permit on a fresh B with the same configuration returned Ok(()),
    // B refunded a reservation it never made and then refused its own permit.
    let (mut a, lane_a) = policy();
    let (mut b, lane_b) = policy();
    let t0 = at_ms(0);
    let from_a = admit(&mut a, lane_a, t0);
    let from_b = admit(&mut b, lane_b, t0);
    assert_eq!((from_a.id(), from_a.lane()), (from_b.id(), from_b.lane()));

    let before = state(&b);
    assert_eq!(b.settle(t0, from_a, None), Err(PermitError::Unknown));
    assert_eq!(state(&b), before);
    let from_a = admit(&mut a, lane_a, at_ms(1_000));
    assert_eq!(b.cancel(t0, from_a), Err(PermitError::Unknown));
    assert_eq!(state(&b), before);
    let from_a = admit(&mut a, lane_a, at_ms(2_000));
    let ok = headers::parse(Some(200), [("anthropic-ratelimit-requests-remaining", "0")]);
    assert_eq!(
        b.complete(t0, from_a, &Response::new(&ok), &mut FixedDraw(0)),
        Err(PermitError::Unknown)
    );
    assert_eq!(state(&b), before);

    // B's own permit is still its own.
    assert_eq!(b.settle(t0, from_b, None), Ok(()));
    assert_eq!(b.in_flight(), 0);
    assert_eq!(a.in_flight(), 3);
}

#[test]
fn a_moved_policy_keeps_its_permits() {
    let (mut policy, lane) = policy();
    let permit = admit(&mut policy, lane, at_ms(0));
    let tag = policy.tag();
    assert!(tag.is_some(), "derived at the first admission");
    let mut moved = Box::new(policy);
    assert_eq!(moved.tag(), tag);
    assert_eq!(moved.cancel(at_ms(0), permit), Ok(()));
}

#[test]
fn a_clone_shares_the_table_and_the_tag() {
    let (mut policy, lane) = policy();
    let permit = admit(&mut policy, lane, at_ms(0));
    let mut copy = policy.clone();
    assert_eq!(copy.tag(), policy.tag());
    assert_eq!(copy.cancel(at_ms(0), permit), Ok(()));
}

#[test]
fn chosen_tags_separate_policies_whatever_their_history() {
    let mut a: Policy<1, 4> = Policy::new().with_tag(crate::nz!(1));
    let mut b: Policy<1, 4> = Policy::new().with_tag(crate::nz!(2));
    let (lane_a, lane_b) = (
        a.add_lane(lane_config()).unwrap(),
        b.add_lane(lane_config()).unwrap(),
    );
    let from_a = admit(&mut a, lane_a, at_ms(0));
    let _from_b = admit(&mut b, lane_b, at_ms(0));
    assert_eq!(b.settle(at_ms(0), from_a, None), Err(PermitError::Unknown));
    assert_eq!(a.tag().map(|tag| tag.get()), Some(1));
}

#[test]
fn derived_tags_differ_between_live_policies() {
    // Two policies alive at once sit at different addresses; their first admissions at the
    // same instant still give different tags.
    let mut policies: Vec<(Policy<1, 4>, LaneId)> = (0..64).map(|_| policy()).collect();
    for (policy, lane) in &mut policies {
        let permit = admit(policy, *lane, at_ms(5));
        policy.cancel(at_ms(5), permit).unwrap();
    }
    let mut tags: Vec<u32> = policies
        .iter()
        .map(|(policy, _)| policy.tag().unwrap().get())
        .collect();
    tags.sort_unstable();
    tags.dedup();
    assert_eq!(tags.len(), 64);
}

#[test]
fn a_retry_is_one_call() {
    let mut policy: Policy<1, 4> = Policy::new();
    let lane = policy
        .add_lane(LaneConfig::new().provisional_requests(None))
        .unwrap();
    let cost = Cost::request(700, 300);
    let Acquire::Admit(permit) = policy.acquire(at_ms(0), lane, cost, Priority::Background) else {
        panic!("an empty lane admits")
    };
    let error = headers::parse(Some(503), [("x-should-retry", "true")]);
    let Ok(Outcome::Retry(retry)) =
        policy.complete(at_ms(10), permit, &Response::new(&error), &mut FixedDraw(0))
    else {
        panic!("a 503 is retried")
    };
    assert_eq!(
        (retry.lane(), retry.cost(), retry.priority()),
        (lane, cost, Priority::Background)
    );
    let Acquire::Admit(again) = policy.acquire_retry(retry.at(), &retry) else {
        panic!("the retry is admitted at its instant")
    };
    assert_eq!(policy.attempt(&again).map(|a| a.retries()), Some(1));
}

static_assertions::const_assert!(core::mem::size_of::<Permit>() <= 16);

/// When the request that must wait after two admissions at 0 and a cancel of the first at
/// `cancel_ms`, on a lane of 2 requests per `window_ms` (then 2 more admitted at `cancel_ms`),
/// may be sent, in µs.
fn wait_after_late_cancel(window_ms: u32, cancel_ms: u64) -> u64 {
    let limit = crate::Limit::per_window_ms(
        core::num::NonZeroU32::new(2).unwrap(),
        core::num::NonZeroU32::new(window_ms).unwrap(),
    )
    .with_burst(core::num::NonZeroU32::new(2).unwrap());
    let mut policy: Policy<1, 4> = Policy::new();
    let lane = policy
        .add_lane(LaneConfig::new().requests(limit).provisional_requests(None))
        .unwrap();
    let first = admit(&mut policy, lane, at_ms(0));
    let _second = admit(&mut policy, lane, at_ms(0));
    policy.cancel(at_ms(cancel_ms), first).unwrap();
    let mut next = || {
        policy.acquire(
            at_ms(cancel_ms),
            lane,
            Cost::request(1, 1),
            Priority::Interactive,
        )
    };
    let _third = next();
    match next() {
        Acquire::Wait { until, .. } => until.as_ticks(),
        other => panic!("expected a wait, got {other:?}"),
    }
}

#[test]
fn a_charge_ending_hours_out_is_refunded_like_a_short_one() {
    // Issue 13: the table kept where each pace's charge ended as µs after admission in a u32,
    // saturating after 71 minutes to "unknown", and a cancel then gave back the whole charge,
    // the part that had refilled already included. A pace 120 times slower (an interval of two
    // hours) must behave as the same one at 120 times the time.
    let short = wait_after_late_cancel(120_000, 59_000);
    let long = wait_after_late_cancel(14_400_000, 59_000 * 120);
    assert!(short > 59_000_000, "the fourth request waits: {short}");
    assert!(
        long.abs_diff(short * 120) <= 120,
        "two-hour pace {long} µs, one-minute pace × 120 = {} µs",
        short * 120
    );
}
