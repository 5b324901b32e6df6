//! Permits that cannot leak: a permit dropped without being handed back is reclaimed once its
//! time-to-live has passed (issue 14).

use headroom::{
    Acquire, Cost, LaneConfig, LaneId, LimitKind, PermitError, Policy, Priority, Rejection, time,
    time::Instant,
};

fn at_secs(secs: u64) -> Instant {
    Instant::from_ticks(secs * 1_000_000)
}

fn policy() -> (Policy<1, 2>, LaneId) {
    let mut policy = Policy::new().with_permit_ttl(time::secs(60));
    let lane = policy
        .add_lane(LaneConfig::new().provisional_requests(None))
        .unwrap();
    (policy, lane)
}

/// One permit slot with a 1 s time-to-live, and a lane of 6 000 input tokens a minute.
fn one_slot_input_lane() -> (Policy<1, 1>, LaneId) {
    let mut policy = Policy::new().with_permit_ttl(time::secs(1));
    let lane = policy
        .add_lane(LaneConfig::new().input_tokens(headroom::Limit::per_minute(headroom::nz!(6_000))))
        .unwrap();
    (policy, lane)
}

fn ask(policy: &mut Policy<1, 2>, lane: LaneId, now: Instant) -> Acquire {
    policy.acquire(now, lane, Cost::request(10, 10), Priority::Interactive)
}

#[test]
fn dropped_permits_are_reclaimed_after_their_ttl_and_not_before() {
    let (mut policy, lane) = policy();
    for _ in 0..2 {
        let Acquire::Admit(permit) = ask(&mut policy, lane, at_secs(0)) else {
            panic!("the table starts empty")
        };
        drop(permit); // a cancelled future: never handed back
    }
    assert_eq!(
        ask(&mut policy, lane, at_secs(59)),
        Acquire::Reject(Rejection::PermitsFull)
    );
    assert!(matches!(
        ask(&mut policy, lane, at_secs(60)),
        Acquire::Admit(_)
    ));
    // Both were reclaimed: one more fits.
    assert_eq!(policy.in_flight(), 1);
    assert!(matches!(
        ask(&mut policy, lane, at_secs(60)),
        Acquire::Admit(_)
    ));
}

#[test]
fn a_reclaimed_permit_handed_back_is_unknown_and_a_live_one_is_not() {
    let (mut policy, lane) = policy();
    let Acquire::Admit(old) = ask(&mut policy, lane, at_secs(0)) else {
        panic!("admitted")
    };
    let Acquire::Admit(young) = ask(&mut policy, lane, at_secs(30)) else {
        panic!("admitted")
    };
    // At 61 s only the first is past its TTL: it goes, the second stays.
    let Acquire::Admit(fresh) = ask(&mut policy, lane, at_secs(61)) else {
        panic!("the expired slot was reclaimed")
    };
    assert_eq!(
        policy.settle(at_secs(62), old, None),
        Err(PermitError::Unknown)
    );
    assert_eq!(policy.settle(at_secs(62), young, None), Ok(()));
    assert_eq!(policy.settle(at_secs(62), fresh, None), Ok(()));
    assert_eq!(policy.in_flight(), 0);
}

#[test]
fn what_a_reclaimed_permit_charged_stays_charged() {
    let (mut policy, lane) = one_slot_input_lane();
    let cost = Cost::request(3_000, 0);
    let Acquire::Admit(permit) = policy.acquire(at_secs(0), lane, cost, Priority::Interactive)
    else {
        panic!("admitted")
    };
    drop(permit);
    let before = policy
        .bucket(lane, LimitKind::InputTokens)
        .unwrap()
        .available(at_secs(2));
    let Acquire::Admit(_next) =
        policy.acquire(at_secs(2), lane, Cost::request(1, 0), Priority::Interactive)
    else {
        panic!("the expired slot was reclaimed")
    };
    // The reclaim refunded nothing: only the new request's token was taken.
    let after = policy
        .bucket(lane, LimitKind::InputTokens)
        .unwrap()
        .available(at_secs(2));
    assert_eq!(after, before - 1);
    assert!(
        before < 6_000,
        "the dropped permit's 3 000 tokens are still charged at 2 s"
    );
}

#[test]
fn the_ttl_defaults_to_ten_minutes() {
    let policy: Policy<1, 2> = Policy::new();
    assert_eq!(policy.permit_ttl(), time::secs(600));
}

#[test]
fn a_refused_acquire_leaves_expired_permits_in_place() {
    // A full table of expired permits, then a request that can never fit: the refusal changes
    // nothing (all or nothing), so the expired permits are still there to be handed back.
    let (mut policy, lane) = one_slot_input_lane();
    let Acquire::Admit(old) = policy.acquire(
        at_secs(0),
        lane,
        Cost::request(10, 0),
        Priority::Interactive,
    ) else {
        panic!("the table starts empty")
    };
    let too_large = Cost::request(1_000_000, 0);
    assert_eq!(
        policy.acquire(at_secs(5), lane, too_large, Priority::Interactive),
        Acquire::Reject(Rejection::CostTooLarge {
            kind: LimitKind::InputTokens
        })
    );
    assert_eq!(policy.in_flight(), 1);
    assert_eq!(policy.settle(at_secs(5), old, None), Ok(()));
}

#[test]
fn a_time_to_live_of_duration_max_never_expires() {
    // `Duration::MAX` means never; kept as the longest finite time-to-live (about 49 days), a
    // permit held longer was reclaimed from under its holder.
    let mut policy: Policy<1, 1> = Policy::new().with_permit_ttl(time::Duration::MAX);
    assert_eq!(policy.permit_ttl(), time::Duration::MAX);
    let lane = policy
        .add_lane(LaneConfig::new().provisional_requests(None))
        .unwrap();
    let Acquire::Admit(held) =
        policy.acquire(at_secs(0), lane, Cost::request(1, 1), Priority::Interactive)
    else {
        panic!("the table starts empty")
    };
    let two_hundred_days = at_secs(200 * 24 * 3_600);
    assert_eq!(
        policy.acquire(
            two_hundred_days,
            lane,
            Cost::request(1, 1),
            Priority::Interactive
        ),
        Acquire::Reject(Rejection::PermitsFull)
    );
    assert_eq!(policy.settle(two_hundred_days, held, None), Ok(()));
    // Just under it, a time-to-live is kept as asked (and expires as the tests above show).
    let finite = time::millis(u64::from(u32::MAX) - 1);
    let policy: Policy<1, 1> = Policy::new().with_permit_ttl(finite);
    assert_eq!(policy.permit_ttl(), finite);
}
