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

/// One pace of 10 units per 10 s with a burst of 10 (a unit a second) on a lane of its own:
/// requests, or output tokens reserved as `max_tokens` (`Cost::request(0, n)`).
fn one_a_second(output: bool) -> (Policy<1, 8>, LaneId) {
    let nz = |n: u32| core::num::NonZeroU32::new(n).unwrap();
    let limit = crate::Limit::per_window_ms(nz(10), nz(10_000)).with_burst(nz(10));
    let config = LaneConfig::new().provisional_requests(None);
    let config = if output {
        config.output_tokens(limit)
    } else {
        config.requests(limit)
    };
    let mut policy = Policy::new();
    let lane = policy.add_lane(config).unwrap();
    (policy, lane)
}

/// A request of `units` on the pace of [`one_a_second`].
fn units(output: bool, units: u32) -> Cost {
    match core::num::NonZeroU32::new(units) {
        Some(requests) if !output => Cost::new(requests, 0, 0),
        _ => Cost::request(0, u64::from(units)),
    }
}

/// Acquires `cost` at `ms`, and answers the permit.
fn admitted(policy: &mut Policy<1, 8>, lane: LaneId, ms: u64, cost: Cost) -> Permit {
    match policy.acquire(at_ms(ms), lane, cost, Priority::Interactive) {
        Acquire::Admit(permit) => permit,
        other => panic!("expected an admission, got {other:?}"),
    }
}

/// A refund moves the charges admitted after the refunded one earlier, and their recorded
/// ends with them: a later refund of one of those gives back only what is still ahead.
///
/// One pace of 10 requests per 10 s (a request a second, burst 10). At 0, A takes 5 and B 3,
/// and A is cancelled: B's charge now ends at 3 s, not 8 s. At 2 s, C and D take 4 each, and B
/// is cancelled: one second of its charge is still ahead, so the TAT goes from 11 s to 10 s,
/// where it would be had B never been admitted, and E (4) must wait until 4 s. The table kept
/// B's end at 8 s, gave back all three requests (TAT 8 s) and admitted E at once: 12 requests
/// within 2 s against a burst of 10 (found by `never_over_admits` on a 32-bit target).
///
/// The same through settling, on output tokens reserved and none generated: B's end must be
/// read with the lane's base of now (A's refund moves B through it, see
/// `Permits::shift_ends_after`), or its refund at 2 s gives back the two seconds that refilled.
#[test]
fn a_refund_moves_the_ends_of_the_charges_admitted_after_it() {
    for output in [false, true] {
        let (mut policy, lane) = one_a_second(output);
        let hand_back = |policy: &mut Policy<1, 8>, ms: u64, permit: Permit| {
            if output {
                let nothing = Some(crate::Usage::default());
                policy.settle(at_ms(ms), permit, nothing).unwrap();
            } else {
                policy.cancel(at_ms(ms), permit).unwrap();
            }
        };
        let a = admitted(&mut policy, lane, 0, units(output, 5));
        let b = admitted(&mut policy, lane, 0, units(output, 3));
        hand_back(&mut policy, 0, a);
        let _c = admitted(&mut policy, lane, 2_000, units(output, 4));
        let _d = admitted(&mut policy, lane, 2_000, units(output, 4));
        hand_back(&mut policy, 2_000, b);
        match policy.acquire(at_ms(2_000), lane, units(output, 4), Priority::Interactive) {
            Acquire::Wait { until, .. } => assert_eq!(until, at_ms(4_000), "output: {output}"),
            other => panic!("E must wait until 4 s (output: {output}), got {other:?}"),
        }
    }
}

/// A refund of a permit with later ones in flight may move them all at once through the lane's
/// base (the table's walk over the older side, see `Permits::shift_ends_after`); a permit
/// admitted after that keeps its end raised by the base of its admission, and a refund of it
/// gives back its whole charge, no more and no less. With one request a second and a burst of
/// ten: A (5) and B (3) at 0, A cancelled (the base moves B, and the lane, 5 s), C (4) at 0 and
/// cancelled: the bucket is back to B's 3 s, so 7 more fit at once (had C's end been kept
/// without the base, its refund would have stopped 5 s short of its charge, and they would
/// wait until 2 s).
#[test]
fn a_permit_admitted_after_the_lanes_base_moved_gives_back_its_whole_charge() {
    let (mut policy, lane) = one_a_second(false);
    let a = admitted(&mut policy, lane, 0, units(false, 5));
    let _b = admitted(&mut policy, lane, 0, units(false, 3));
    policy.cancel(at_ms(0), a).unwrap();
    assert_eq!(
        policy.lanes[0].refund_base,
        [5_000_000, 0, 0, 0],
        "A's refund moved B through the base"
    );
    let c = admitted(&mut policy, lane, 0, units(false, 4));
    policy.cancel(at_ms(0), c).unwrap();
    let _seven = admitted(&mut policy, lane, 0, units(false, 7));
}

/// A permit slot's bytes: what one more slot adds to the table (issue 13: 104 on main, with
/// the pace ends kept whole and links both ways).
#[test]
fn a_permit_slot_costs_94_bytes() {
    use super::Permits;
    let slot = (core::mem::size_of::<Permits<64>>() - core::mem::size_of::<Permits<32>>()) / 32;
    assert_eq!(slot, 94);
}

/// A table of four, straight from the table's own calls: an admission at each instant of
/// `issued` (µs), one request charged on the lane's only pace.
fn table(issued: &[u64]) -> (super::Permits<4>, Vec<Permit>) {
    use super::{Intent, Permits};
    use crate::backoff::Attempt;
    use crate::cost::Charges;
    let mut table = Permits::<4>::new();
    let permits = issued
        .iter()
        .map(|&at| {
            let ends = [at.saturating_add(1_000), 0, 0, 0];
            let intent = Intent::new(&Cost::request(10, 10), Attempt::first());
            table
                .insert(
                    LaneId(0),
                    1,
                    at,
                    &Charges([1, 10, 10, 20]),
                    &ends,
                    &[0; 4],
                    Priority::Interactive,
                    intent,
                )
                .expect("a free slot")
        })
        .collect();
    (table, permits)
}

fn walk(table: &super::Permits<4>, cutoff: Option<u64>) -> Vec<u64> {
    table
        .since(cutoff)
        .map(|record| record.issued_at())
        .collect()
}

#[test]
fn a_walk_skips_settled_permits_and_stops_at_their_instants() {
    let (mut table, permits) = table(&[10, 20, 30]);
    let middle = permits.get(1).unwrap();
    table.remove(middle).unwrap();
    assert_eq!(walk(&table, None), [30, 10]);
    // The settled permit admitted at 20 is past a cutoff of 15: the walk goes on to 10.
    assert_eq!(walk(&table, Some(15)), [30]);
    // At or before a cutoff of 25: the walk stops there, before reaching 10.
    assert_eq!(walk(&table, Some(25)), [30]);
    assert_eq!(table.len(), 2);
    // Settled once: a second time is unknown.
    assert_eq!(table.remove(middle).map(|_| ()), Err(PermitError::Unknown));
}

#[test]
fn settling_the_newest_frees_the_settled_below_it() {
    let (mut table, permits) = table(&[10, 20, 30]);
    table.remove(&permits[1]).unwrap();
    table.remove(&permits[2]).unwrap();
    // Both slots are free again: two more admissions and one left over.
    let mut admitted = 0;
    for at in [40, 50] {
        let intent = super::Intent::new(&Cost::request(1, 1), crate::backoff::Attempt::first());
        let ends = [at, 0, 0, 0];
        let charges = crate::cost::Charges([1, 1, 1, 2]);
        let permit = table.insert(
            LaneId(0),
            1,
            at,
            &charges,
            &ends,
            &[0; 4],
            Priority::Interactive,
            intent,
        );
        admitted += usize::from(permit.is_some());
    }
    assert_eq!(admitted, 2);
    assert_eq!(walk(&table, None), [50, 40, 10]);
}

#[test]
fn a_full_table_with_a_settled_permit_admits_and_a_refusal_changes_nothing() {
    let mut policy: Policy<1, 4> = Policy::new();
    let lane = policy
        .add_lane(
            LaneConfig::new()
                .input_tokens(per_minute(1_000_000))
                .provisional_requests(None),
        )
        .unwrap();
    let mut permits: Vec<Permit> = (0..4).map(|i| admit(&mut policy, lane, at_ms(i))).collect();
    // The second is settled: its slot stays in the chain until it is needed.
    policy.cancel(at_ms(5), permits.remove(1)).unwrap();
    assert_eq!(policy.in_flight(), 3);
    let before = state(&policy);
    let huge = Cost::request(2_000_000, 0);
    assert!(matches!(
        policy.acquire(at_ms(6), lane, huge, Priority::Interactive),
        Acquire::Reject(crate::Rejection::CostTooLarge { .. })
    ));
    assert_eq!(state(&policy), before, "a refusal changes nothing");
    let again = admit(&mut policy, lane, at_ms(7));
    assert_eq!(policy.in_flight(), 4);
    assert!(matches!(
        policy.acquire(at_ms(8), lane, Cost::request(1, 1), Priority::Interactive),
        Acquire::Reject(crate::Rejection::PermitsFull)
    ));
    for permit in permits.into_iter().chain([again]) {
        policy.cancel(at_ms(9), permit).unwrap();
    }
    assert_eq!(policy.in_flight(), 0);
}

#[test]
fn admissions_are_stamped_in_order_whatever_the_callers_clock_does() {
    // The table keeps no stamp of its own: a permit's admission instant is the engine clock's,
    // which never goes backwards, so the chain walked newest first has non-increasing instants
    // however the caller's clock steps (small steps back, corrections, wild jumps, the end of
    // time). A `since` walk relies on it to stop at the first permit old enough.
    let mut policy: Policy<1, 32> = Policy::new();
    let lane = policy
        .add_lane(LaneConfig::new().provisional_requests(None))
        .unwrap();
    let year = 365 * 24 * 3_600 * 1_000;
    let steps_ms: [u64; 12] = [
        5_000,
        4_000,
        6_000,
        1,
        year,
        10,
        2 * year,
        3 * year,
        7,
        u64::MAX / 1_000,
        0,
        9,
    ];
    for ms in steps_ms {
        let now = Instant::from_ticks(ms.saturating_mul(1_000));
        let Acquire::Admit(_) =
            policy.acquire(now, lane, Cost::request(1, 1), Priority::Interactive)
        else {
            panic!("an unmetered lane admits");
        };
        let stamps: std::vec::Vec<u64> =
            policy.permits.since(None).map(|r| r.issued_at()).collect();
        assert!(
            stamps.windows(2).all(|pair| pair[0] >= pair[1]),
            "newest first, never newer below: {stamps:?}"
        );
    }
    assert_eq!(policy.in_flight(), steps_ms.len());
}

/// A refund's shift moves the ends of the permits admitted after the refunded one, and no
/// other, whichever walk the table takes: here the walk back from the newest (one admission
/// since the removed one, three in flight), then the lane's base with the walk over the older
/// ones, which gives it back to the first (two admissions since, two in flight), and the
/// newest has nothing after it.
#[test]
fn a_shift_moves_only_the_later_permits_ends() {
    let (mut table, permits) = table(&[10, 20, 30, 40]);
    let mut base = [0; 4];
    let end_of = |table: &mut super::Permits<4>, permit: &Permit, base: &[u64; 4]| {
        table
            .remove(permit)
            .map(|(reservation, _)| reservation.ends(base)[0])
    };
    // The third is taken out: the fourth was admitted after it.
    let (third, _) = table.remove(&permits[2]).unwrap();
    table.shift_ends_after(0, &third, &[300, 0, 0, 0], &mut base);
    assert_eq!(base, [0; 4], "the walk after it");
    // The second is taken out: the fourth was admitted after it, the first before.
    let (second, _) = table.remove(&permits[1]).unwrap();
    assert_ne!(second.linked(), u16::MAX);
    table.shift_ends_after(0, &second, &[50, 0, 0, 0], &mut base);
    assert_eq!(base, [50, 0, 0, 0], "the base, and the walk before it");
    // The newest is taken out: nothing was admitted after it, so nothing moves.
    let (newest, _) = table.remove(&permits[3]).unwrap();
    assert_eq!(newest.linked(), u16::MAX);
    assert_eq!(newest.ends(&base)[0], 1_040 - 300 - 50);
    table.shift_ends_after(0, &newest, &[5_000, 0, 0, 0], &mut base);
    assert_eq!(end_of(&mut table.clone(), &permits[0], &base), Ok(1_010));
    // A shift beyond the charge leaves the end at the admission, not before it, and one too
    // large for the base (no refund makes it) moves the later ends one by one.
    for shift in [2_000, u64::MAX] {
        let (mut table, permits) = self::table(&[10, 20, 30, 40]);
        let mut base = [0; 4];
        let (second, _) = table.remove(&permits[1]).unwrap();
        table.shift_ends_after(0, &second, &[shift, 0, 0, 0], &mut base);
        assert_eq!(end_of(&mut table.clone(), &permits[2], &base), Ok(30));
        assert_eq!(end_of(&mut table, &permits[0], &base), Ok(1_010));
    }
}

/// The table's ends against a model that moves every later end of the same lane, over long
/// runs of admissions and removals in every order, on two lanes, with shifts up to the largest
/// a refund can make (so that the bases are set back to zero now and then): both walks and
/// the rebasing are exact, and never move an end before its admission.
#[test]
fn both_walks_and_the_rebasing_match_a_model_that_moves_every_later_end() {
    use super::{Intent, Permits};
    use crate::backoff::Attempt;
    use crate::cost::Charges;

    struct Live {
        permit: Permit,
        lane: u8,
        issued: u64,
        ends: [u64; 4],
    }
    let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
    let mut next = move |below: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % below
    };
    let runs = if cfg!(miri) { 2 } else { 40 };
    let mut rebased = 0;
    for _ in 0..runs {
        let mut table = Permits::<16>::new();
        let mut bases = [[0_u64; 4]; 2];
        let mut live: Vec<Live> = Vec::new();
        let mut now = 1_000_u64;
        for _ in 0..300 {
            now += next(1_000);
            if live.len() < 16 && (live.is_empty() || next(2) == 0) {
                let lane = next(2) as u8;
                let ends = core::array::from_fn(|_| now + next(1 << 42));
                let intent = Intent::new(&Cost::request(1, 1), Attempt::first());
                let permit = table
                    .insert(
                        LaneId(lane),
                        0b1111,
                        now,
                        &Charges([1, 1, 1, 2]),
                        &ends,
                        &bases[usize::from(lane)],
                        Priority::Interactive,
                        intent,
                    )
                    .expect("a free slot");
                live.push(Live {
                    permit,
                    lane,
                    issued: now,
                    ends,
                });
                continue;
            }
            let at = next(live.len() as u64) as usize;
            let gone = live.remove(at);
            let (reservation, _) = table.remove(&gone.permit).unwrap();
            let base = &mut bases[usize::from(gone.lane)];
            assert_eq!(reservation.ends(base), gone.ends, "the removed one's ends");
            let big = next(4) == 0;
            let shifts: [u64; 4] = core::array::from_fn(|_| match next(3) {
                0 => 0,
                _ if big => next(1 << 42),
                _ => next(1 << 20),
            });
            let before = *base;
            table.shift_ends_after(gone.lane, &reservation, &shifts, base);
            assert!(base.iter().all(|&base| base < 1 << 43), "{base:?}");
            rebased += usize::from(base.iter().zip(before).any(|(now, then)| *now < then));
            for later in live[at..]
                .iter_mut()
                .filter(|later| later.lane == gone.lane)
            {
                for (end, shift) in later.ends.iter_mut().zip(shifts) {
                    *end = end.saturating_sub(shift).max(later.issued);
                }
            }
            // The walks unlinked settled slots: the chain still holds the live ones, newest
            // first.
            let chain: Vec<u32> = table.since(None).map(|record| record.id.get()).collect();
            let model: Vec<u32> = live.iter().rev().map(|left| left.permit.id()).collect();
            assert_eq!(chain, model);
        }
        for left in live {
            let (reservation, _) = table.remove(&left.permit).unwrap();
            assert_eq!(reservation.ends(&bases[usize::from(left.lane)]), left.ends);
        }
    }
    assert!(rebased > 0, "no base was folded back to zero");
}
