//! Guarantee 1 across header syncs: one test per core bullet of issue 11's "Why", each driving
//! the engine the way the old one was broken and asserting what it got wrong.
//!
//! The old engine refilled its only bucket from every response's `remaining`, trusted any
//! `limit`, let stale headers raise levels, accepted another policy's permits, kept debt it
//! could never clear and followed the caller's clock to its extremes. The engine now keeps two
//! constraints per limit (a pace refilled by time alone and a provider window corrected from
//! headers); these tests hold it to the bound `admitted ≤ burst + rate × interval` over *every*
//! interval, whatever the headers say.

use headroom::backoff::FixedDraw;
use headroom::headers::{Dialect, Quota, Scope, Snapshot};
use headroom::time::Instant;
use headroom::{
    Acquire, Bucket, BucketStatus, Cost, LaneConfig, LaneId, Limit, LimitKind, Permit, PermitError,
    Policy, Priority, Response, Usage, nz,
};

const MS: u64 = 1_000;
const SECOND: u64 = 1_000_000;
const MINUTE: u64 = 60 * SECOND;
const YEAR: u64 = 365 * 24 * 3_600 * SECOND;

/// Room for every admission the tests below could wrongly make at one instant, so that an
/// over-admission shows as a count, not as a full permit table.
type TestPolicy = Policy<1, 2_048>;

fn at(us: u64) -> Instant {
    Instant::from_ticks(us)
}

/// 60 requests per minute, enforced as one per second: burst 1.
fn rpm60() -> LaneConfig {
    LaneConfig::new().requests(Limit::per_minute(nz!(60)))
}

/// Both ways a key can be configured: alone on it, and the default (shared, share learned).
fn solo_and_shared(config: LaneConfig) -> [(&'static str, LaneConfig); 2] {
    [
        ("solo", config.shared_key(false)),
        ("shared", config.shared_key(true)),
    ]
}

/// A policy with one lane configured as `config`.
fn fresh(config: LaneConfig) -> (TestPolicy, LaneId) {
    let mut policy = TestPolicy::new();
    let lane = policy.add_lane(config).unwrap();
    (policy, lane)
}

/// Admits `cost` at `now`, or fails with `what` (which admission was expected).
fn admit(policy: &mut TestPolicy, now: u64, lane: LaneId, cost: Cost, what: &str) -> Permit {
    match policy.acquire(at(now), lane, cost, Priority::Interactive) {
        Acquire::Admit(permit) => permit,
        other => panic!("{what}: {other:?}"),
    }
}

/// A snapshot in a dialect without rounding, one quota of requests.
fn requests_snapshot(limit: u64, remaining: u64) -> Snapshot {
    quota_snapshot(Scope::Requests, limit, remaining)
}

fn quota_snapshot(scope: Scope, limit: u64, remaining: u64) -> Snapshot {
    let mut snapshot = Snapshot {
        dialect: Dialect::OpenAi,
        status: Some(200),
        ..Snapshot::default()
    };
    snapshot.quotas[scope.index()] = Some(Quota {
        limit: Some(limit),
        remaining: Some(remaining),
        ..Quota::default()
    });
    snapshot
}

fn status_of(policy: &TestPolicy, now: Instant, kind: LimitKind) -> BucketStatus {
    policy
        .status(now)
        .find(|status| status.kind == kind)
        .expect("the lane has a bucket of this kind")
}

/// Asserts that over every interval between two admissions `[t_i, t_j]`, the admissions in it
/// number at most `burst + amount × (t_j − t_i) / window` (exact rational arithmetic: a rate of
/// a whole number of µs per unit has no fixed-point rounding to allow for).
fn assert_paced(label: &str, times: &[u64], amount: u64, window_us: u64, burst: u64) {
    for (i, first) in times.iter().enumerate() {
        for (count, last) in (1u64..).zip(&times[i..]) {
            let span = last - first;
            assert!(
                count * window_us <= burst * window_us + span * amount,
                "{label}: {count} admissions in {span} µs from {first} µs \
                 (limit {amount} per {window_us} µs, burst {burst})"
            );
        }
    }
}

/// A client that sends whenever the engine admits, each response arriving `rtt` later and
/// completed through [`Policy::complete`] with the headers `server` produces when the request
/// reaches it (at admission). Runs `duration` µs in 1 ms steps; answers the admission instants.
fn drive(
    config: LaneConfig,
    rtt: u64,
    duration: u64,
    mut server: impl FnMut(u64) -> Snapshot,
) -> Vec<u64> {
    let (mut policy, lane) = fresh(config);
    let mut in_flight = Vec::new();
    let mut admitted = Vec::new();
    let mut now = 0;
    while now <= duration {
        let (due, later): (Vec<_>, Vec<_>) = core::mem::take(&mut in_flight)
            .into_iter()
            .partition(|(arrives, _, _)| *arrives <= now);
        in_flight = later;
        for (_, permit, snapshot) in due {
            let response = Response::new(&snapshot);
            // A 429 is answered with a retry; this client does not retry, it sends anew.
            let _retry_or_done = policy
                .complete(at(now), permit, &response, &mut FixedDraw(0))
                .unwrap();
        }
        for _ in 0..1_000 {
            match policy.acquire(at(now), lane, Cost::request(0, 0), Priority::Interactive) {
                Acquire::Admit(permit) => {
                    admitted.push(now);
                    in_flight.push((now + rtt, permit, server(now)));
                }
                _ => break,
            }
        }
        now += MS;
    }
    admitted
}

/// An honest provider enforcing `limit` per minute as a bucket of a minute's worth, reporting
/// the per-minute `remaining` after counting each request.
fn honest(limit: u32) -> impl FnMut(u64) -> Snapshot {
    let amount = core::num::NonZeroU32::new(limit).unwrap();
    let mut bucket = Bucket::new(
        LimitKind::Requests,
        Limit::per_minute(amount).with_burst(amount),
    );
    move |now| {
        let refused = bucket.try_take(at(now), 1).is_err();
        let mut snapshot = requests_snapshot(u64::from(limit), bucket.available(at(now)));
        if refused {
            snapshot.status = Some(429);
        }
        snapshot
    }
}

/// "A response's `remaining` refills the local bucket": behind an honest server reporting the
/// per-minute `remaining`, a 60 RPM lane (burst 1) with 100 ms round trips admitted 60 requests
/// in the first 6 s, up to 10 in one second, 119 in a minute.
#[test]
fn honest_per_minute_remaining_never_refills_the_pace() {
    for (label, config) in solo_and_shared(rpm60()) {
        let times = drive(config, 100 * MS, MINUTE, honest(60));
        assert_paced(label, &times, 60, MINUTE, 1);
        assert!(times.len() <= 61, "{label}: {} in a minute", times.len());
        // Not starved either: the pace is the binding constraint, one a second.
        assert!(
            times.len() >= 50,
            "{label}: only {} in a minute",
            times.len()
        );
    }
}

/// "A response's `remaining` refills the local bucket", self-imposed: a lane that keeps its own
/// 60 RPM (`adopt_server_limits(false)`) behind a server reporting 10 000 RPM admitted 600 in
/// 60 s.
#[test]
fn a_self_imposed_limit_holds_against_a_larger_server_limit() {
    for (label, config) in solo_and_shared(rpm60().adopt_server_limits(false)) {
        let times = drive(config, 100 * MS, MINUTE, honest(10_000));
        assert_paced(label, &times, 60, MINUTE, 1);
        assert!(times.len() <= 61, "{label}: {} in 60 s", times.len());
    }
}

/// "Headers are trusted without bound": a lying or caching proxy that always answers
/// `remaining = limit` got 600 admissions a minute through a 60 RPM lane at 100 ms round trips,
/// 6 000 at 10 ms.
#[test]
fn a_lying_proxy_cannot_raise_the_pace() {
    for rtt in [100 * MS, 10 * MS] {
        for (label, config) in solo_and_shared(rpm60()) {
            let times = drive(config, rtt, MINUTE, |_| requests_snapshot(60, 60));
            let label = format!("{label}, {rtt} µs round trips");
            assert_paced(&label, &times, 60, MINUTE, 1);
            assert!(times.len() <= 61, "{label}: {} in 60 s", times.len());
        }
    }
}

/// Sends one request at `now` and completes it at `now + 100 ms` with `snapshot`.
fn round_trip(policy: &mut TestPolicy, lane: LaneId, now: u64, snapshot: &Snapshot) {
    let permit = admit(
        policy,
        now,
        lane,
        Cost::request(0, 0),
        &format!("the request at {now} µs is admitted"),
    );
    let _done = policy
        .complete(
            at(now + 100 * MS),
            permit,
            &Response::new(snapshot),
            &mut FixedDraw(0),
        )
        .unwrap();
}

/// "Headers are trusted without bound": `limit = remaining = u32::MAX` was adopted from one
/// response and 100 000 requests were admitted at once. One response is not enough; the
/// documented rule adopts a limit beyond the growth bound when the next response repeats it.
#[test]
fn an_absurd_limit_needs_two_consecutive_responses() {
    let huge = u64::from(u32::MAX);
    for (label, config) in solo_and_shared(rpm60()) {
        let (mut policy, lane) = fresh(config);
        round_trip(&mut policy, lane, 0, &requests_snapshot(huge, huge));
        let bucket = policy.bucket(lane, LimitKind::Requests).unwrap();
        assert_eq!(
            bucket.limit().amount(),
            60,
            "{label}: adopted from one response"
        );
        let once = (0..50)
            .filter(|_| wait_for(&mut policy, lane, SECOND, Cost::request(0, 0)).is_none())
            .count();
        assert_eq!(once, 1, "{label}: {once} of 50 admitted at one instant");

        // A second response (to a request admitted after the first) says it again: adopted.
        round_trip(
            &mut policy,
            lane,
            2 * SECOND,
            &requests_snapshot(huge, huge),
        );
        let bucket = policy.bucket(lane, LimitKind::Requests).unwrap();
        assert_eq!(bucket.limit().amount(), u32::MAX, "{label}: confirmed");
    }
}

/// A confirmation must be consecutive: an absurd limit, a normal one, then the absurd one again
/// is still only one report of it.
#[test]
fn an_absurd_limit_interrupted_is_not_confirmed() {
    let huge = u64::from(u32::MAX);
    let mut policy = TestPolicy::new();
    let lane = policy.add_lane(rpm60().shared_key(false)).unwrap();
    round_trip(&mut policy, lane, 0, &requests_snapshot(huge, huge));
    round_trip(&mut policy, lane, 2 * SECOND, &requests_snapshot(60, 58));
    round_trip(
        &mut policy,
        lane,
        4 * SECOND,
        &requests_snapshot(huge, huge),
    );
    let bucket = policy.bucket(lane, LimitKind::Requests).unwrap();
    assert_eq!(bucket.limit().amount(), 60);
}

/// "`observe` has no ordering": a stale `remaining 60 000` after a newer `1 000` raised the
/// level.
#[test]
fn a_stale_observation_never_raises() {
    let config = LaneConfig::new().input_tokens(Limit::per_minute(nz!(100_000)));
    for (label, config) in solo_and_shared(config) {
        // Through a settled response (the newest), then an observation.
        let (mut policy, lane) = fresh(config);
        let permit = admit(
            &mut policy,
            0,
            lane,
            Cost::request(10, 0),
            &format!("{label}: a fresh lane admits"),
        );
        let newer = quota_snapshot(Scope::InputTokens, 100_000, 1_000);
        policy.settle_with(at(0), permit, None, &newer).unwrap();
        let before = status_of(&policy, at(0), LimitKind::InputTokens);
        assert!(before.available <= 1_000, "{label}: {before:?}");
        let stale = quota_snapshot(Scope::InputTokens, 100_000, 60_000);
        policy.observe(at(0), lane, &stale).unwrap();
        let after = status_of(&policy, at(0), LimitKind::InputTokens);
        assert!(
            after.available <= before.available
                && after.window_available <= before.window_available,
            "{label}: raised from {before:?} to {after:?}"
        );

        // Two observations: the second, higher one is no authority either.
        let (mut policy, lane) = fresh(config);
        policy.observe(at(0), lane, &newer).unwrap();
        let before = status_of(&policy, at(0), LimitKind::InputTokens);
        assert!(before.available <= 1_000, "{label}: {before:?}");
        policy.observe(at(0), lane, &stale).unwrap();
        let after = status_of(&policy, at(0), LimitKind::InputTokens);
        assert!(
            after.available <= before.available,
            "{label}: raised from {before:?} to {after:?}"
        );
        let big = Cost::request(before.available + 1, 0);
        assert!(
            !matches!(
                policy.acquire(at(0), lane, big, Priority::Interactive),
                Acquire::Admit(_)
            ),
            "{label}: admitted beyond the newer remaining"
        );
    }
}

/// How long a request of `cost` waits at `now`: `None` when it is admitted (the admission is
/// kept: dropping the permit leaves its charge, as for a request sent and never heard of). At `now = u64::MAX` a wait can only name `now` itself.
fn wait_for(policy: &mut TestPolicy, lane: LaneId, now: u64, cost: Cost) -> Option<u64> {
    match policy.acquire(at(now), lane, cost, Priority::Interactive) {
        Acquire::Admit(permit) => {
            drop(permit);
            None
        }
        Acquire::Wait { until, .. } => Some(until.as_ticks() - now),
        Acquire::Reject(rejection) => panic!("{cost:?} rejected: {rejection:?}"),
    }
}

/// An Anthropic-style response teaching 50 RPM and 30 000 ITPM.
fn tier1_snapshot(status: u16, requests_remaining: u64, input_remaining: u64) -> Snapshot {
    let mut snapshot = quota_snapshot(Scope::Requests, 50, requests_remaining);
    snapshot.status = Some(status);
    snapshot.quotas[Scope::InputTokens.index()] = Some(Quota {
        limit: Some(30_000),
        remaining: Some(input_remaining),
        ..Quota::default()
    });
    snapshot
}

/// "Debt that never clears": an estimate admitted under provisional pacing, then the first
/// response teaches ITPM 30 000 and counts it as unseen; cancelling it left a 342 s wait (the
/// refund skipped the window learned after admission).
#[test]
fn an_unseen_estimate_cancelled_leaves_no_debt() {
    for (label, config) in solo_and_shared(LaneConfig::new()) {
        let (mut policy, lane) = fresh(config);
        let first = admit(
            &mut policy,
            0,
            lane,
            Cost::request(100, 0),
            &format!("{label}: the first request is admitted"),
        );
        // Provisional 50 RPM: the next one at 1.2 s.
        let big = Cost::request(200_000, 0);
        let estimate = admit(
            &mut policy,
            1_200 * MS,
            lane,
            big,
            &format!("{label}: the provisional pace meters requests only"),
        );
        let _done = policy
            .complete(
                at(1_300 * MS),
                first,
                &Response::new(&tier1_snapshot(200, 49, 29_000)),
                &mut FixedDraw(0),
            )
            .unwrap();
        policy.cancel(at(1_300 * MS), estimate).unwrap();
        let wait = wait_for(&mut policy, lane, 1_300 * MS, Cost::request(1_000, 0)).unwrap_or(0);
        assert!(
            wait <= 3 * SECOND,
            "{label}: waits {wait} µs after the cancel"
        );
    }
}

/// "Debt that never clears": an estimate of `u64::MAX` left a 99-day wait after its 429 (nothing
/// is admitted, so no header can fix it). At most about two windows of wait remain, whichever
/// response comes first and whether the 429 carries rate-limit headers or none.
#[test]
fn a_huge_estimate_refused_leaves_at_most_two_windows() {
    let mut bare = Snapshot {
        status: Some(429),
        ..Snapshot::default()
    };
    bare.retry_after_ms = Some(headroom::time::millis(1));
    let informed = tier1_snapshot(429, 48, 0);
    for (refusal, refused) in [("bare 429", &bare), ("429 with headers", &informed)] {
        for own_response_first in [true, false] {
            for (label, config) in solo_and_shared(LaneConfig::new()) {
                let label = format!("{label}, {refusal}, own response first {own_response_first}");
                let (mut policy, lane) = fresh(config);
                let first = admit(
                    &mut policy,
                    0,
                    lane,
                    Cost::request(100, 0),
                    &format!("{label}: the first request is admitted"),
                );
                let huge = Cost::request(u64::MAX, 0);
                let estimate = admit(
                    &mut policy,
                    1_200 * MS,
                    lane,
                    huge,
                    &format!("{label}: the provisional pace meters requests only"),
                );
                let ok = tier1_snapshot(200, 49, 29_000);
                let mut respond = |now: u64, permit, snapshot: &Snapshot| {
                    let _retry_or_done = policy
                        .complete(at(now), permit, &Response::new(snapshot), &mut FixedDraw(0))
                        .unwrap();
                };
                if own_response_first {
                    respond(1_300 * MS, estimate, refused);
                    respond(1_400 * MS, first, &ok);
                } else {
                    respond(1_300 * MS, first, &ok);
                    respond(1_400 * MS, estimate, refused);
                }
                let wait =
                    wait_for(&mut policy, lane, 1_400 * MS, Cost::request(1_000, 0)).unwrap_or(0);
                assert!(wait <= 2 * MINUTE + SECOND, "{label}: waits {wait} µs");
            }
        }
    }
}

/// "Debt that never clears": `usage.input_tokens = u64::MAX` on settle left a 584 942-year wait.
#[test]
fn a_huge_usage_leaves_at_most_two_windows() {
    let config = LaneConfig::new().input_tokens(Limit::per_minute(nz!(30_000)));
    for (label, config) in solo_and_shared(config) {
        for with_headers in [false, true] {
            let (mut policy, lane) = fresh(config);
            let permit = admit(
                &mut policy,
                0,
                lane,
                Cost::request(1_000, 0),
                &format!("{label}: a fresh lane admits"),
            );
            let usage = Usage {
                input_tokens: u64::MAX,
                ..Usage::default()
            };
            if with_headers {
                let snapshot = quota_snapshot(Scope::InputTokens, 30_000, 0);
                policy
                    .settle_with(at(SECOND), permit, Some(usage), &snapshot)
                    .unwrap();
            } else {
                policy.settle(at(SECOND), permit, Some(usage)).unwrap();
            }
            let wait = wait_for(&mut policy, lane, SECOND, Cost::request(1_000, 0)).unwrap_or(0);
            assert!(
                wait <= 2 * MINUTE,
                "{label}, headers {with_headers}: waits {wait} µs"
            );
        }
    }
}

/// "Clock extremes": a forward jump of a year, then a correction, left a one-year wait. The
/// next wait is about one request interval.
#[test]
fn a_corrected_clock_jump_leaves_one_interval() {
    for (label, config) in solo_and_shared(rpm60()) {
        let (mut policy, lane) = fresh(config);
        assert_eq!(wait_for(&mut policy, lane, 0, Cost::request(0, 0)), None);
        // The clock jumps a year: a refill, so the request is admitted.
        assert_eq!(wait_for(&mut policy, lane, YEAR, Cost::request(0, 0)), None);
        // Corrected back to 1 s: the lane waits one interval, not a year.
        let wait = wait_for(&mut policy, lane, SECOND, Cost::request(0, 0))
            .unwrap_or_else(|| panic!("{label}: admitted twice within a second"));
        assert!(
            (1..=SECOND).contains(&wait),
            "{label}: waits {wait} µs after the correction"
        );
        // And is admitted when told.
        assert_eq!(
            wait_for(&mut policy, lane, SECOND + wait, Cost::request(0, 0)),
            None
        );
    }
}

/// "Clock extremes": at `now = u64::MAX`, 1 000 of 1 000 requests were admitted in one instant
/// on a burst-1 lane.
#[test]
fn a_saturated_clock_admits_only_the_burst() {
    for (label, config) in solo_and_shared(rpm60()) {
        for history in [false, true] {
            let (mut policy, lane) = fresh(config);
            if history {
                assert_eq!(wait_for(&mut policy, lane, 0, Cost::request(0, 0)), None);
            }
            let admitted = (0..1_000)
                .filter(|_| wait_for(&mut policy, lane, u64::MAX, Cost::request(0, 0)).is_none())
                .count();
            assert_eq!(
                admitted, 1,
                "{label}, history {history}: {admitted} of 1 000"
            );
        }
    }
}

/// "Edges": `u32::MAX per 1 ms` admitted burst + 1 at one instant (fixed-point rounding).
#[test]
fn the_fastest_limit_admits_at_most_its_burst() {
    let fastest = Limit::per_window_ms(nz!(u32::MAX), nz!(1));
    // The default burst (the whole amount): one cost of all of it, then nothing more.
    for kind in [LimitKind::Requests, LimitKind::InputTokens] {
        let config = LaneConfig::new().with_limit(kind, Some(fastest));
        for (label, config) in solo_and_shared(config) {
            let (mut policy, lane) = fresh(config);
            let all = match kind {
                LimitKind::Requests => Cost::new(nz!(u32::MAX), 0, 0),
                _ => Cost::request(u64::from(u32::MAX), 0),
            };
            assert_eq!(
                wait_for(&mut policy, lane, SECOND, all),
                None,
                "{label} {kind}"
            );
            let more = (0..100)
                .filter(|_| wait_for(&mut policy, lane, SECOND, Cost::request(1, 0)).is_none())
                .count();
            assert_eq!(more, 0, "{label} {kind}: {more} beyond the burst");
        }
    }
    // Fixed-point rounding must not make room for one unit more than the burst in one cost.
    let config = LaneConfig::new().shared_key(false).input_tokens(fastest);
    let (mut policy, lane) = fresh(config);
    let beyond = Cost::request(u64::from(u32::MAX) + 1, 0);
    assert!(
        !matches!(
            policy.acquire(at(SECOND), lane, beyond, Priority::Interactive),
            Acquire::Admit(_)
        ),
        "a cost of burst + 1 admitted"
    );
    // An explicit small burst: at most that many at one instant.
    for burst in [1, 5, 1_000] {
        let limit = fastest.with_burst(core::num::NonZeroU32::new(burst).unwrap());
        let mut policy = TestPolicy::new();
        let lane = policy
            .add_lane(LaneConfig::new().shared_key(false).input_tokens(limit))
            .unwrap();
        let admitted = (0..2_000)
            .filter(|_| wait_for(&mut policy, lane, SECOND, Cost::request(1, 0)).is_none())
            .count();
        assert!(
            admitted <= burst as usize,
            "burst {burst}: {admitted} admitted at one instant"
        );
    }
}

/// "A permit from another policy is accepted": settling A's permit on a fresh B with the same
/// configuration returned `Ok(())`, B refunded a reservation it never made and then refused its
/// own permit.
#[test]
fn a_permit_from_another_policy_is_refused_and_changes_nothing() {
    let mut a = TestPolicy::new();
    let mut b = TestPolicy::new();
    let lane_a = a.add_lane(rpm60()).unwrap();
    let lane_b = b.add_lane(rpm60()).unwrap();
    let from_a = admit(
        &mut a,
        0,
        lane_a,
        Cost::request(0, 0),
        "a fresh lane admits",
    );
    let from_b = admit(
        &mut b,
        0,
        lane_b,
        Cost::request(0, 0),
        "a fresh lane admits",
    );
    assert_eq!(
        (from_a.id(), from_a.lane()),
        (from_b.id(), from_b.lane()),
        "the same configuration issues the same first permit"
    );
    let before = format!("{b:?}");
    assert_eq!(b.settle(at(0), from_a, None), Err(PermitError::Unknown));
    assert_eq!(
        format!("{b:?}"),
        before,
        "a refused permit changed the policy"
    );
    assert_eq!(b.settle(at(0), from_b, None), Ok(()));
}

/// Refunds never shift a later admission into the past: on a 1/s lane, admit A at 0 and B at
/// 1 s, cancel A at 1 s; C at 1 s must wait (B alone fills the bucket until 2 s).
#[test]
fn refunding_an_older_admission_keeps_the_burst() {
    for (label, config) in solo_and_shared(rpm60()) {
        let (mut policy, lane) = fresh(config);
        let request = Cost::request(0, 0);
        let a = admit(
            &mut policy,
            0,
            lane,
            request,
            &format!("{label}: A is admitted"),
        );
        let b = admit(
            &mut policy,
            SECOND,
            lane,
            request,
            &format!("{label}: B is admitted"),
        );
        policy.cancel(at(SECOND), a).unwrap();
        assert_eq!(
            policy.acquire(at(SECOND), lane, request, Priority::Interactive),
            Acquire::Wait {
                until: at(2 * SECOND),
                kind: LimitKind::Requests
            },
            "{label}: C admitted beside B"
        );
        policy.cancel(at(SECOND), b).unwrap();
    }
}

/// The complete life cycle feeds the same guarantee: a lying proxy that answers every other
/// request with a 429 carrying `remaining = limit` cannot raise the pace either.
#[test]
fn lying_429s_through_complete_stay_paced() {
    for (label, config) in solo_and_shared(rpm60()) {
        let mut count = 0u64;
        let times = drive(config, 10 * MS, MINUTE, |_| {
            count += 1;
            let mut snapshot = requests_snapshot(60, 60);
            if count.is_multiple_of(2) {
                snapshot.status = Some(429);
            }
            snapshot
        });
        assert_paced(label, &times, 60, MINUTE, 1);
    }
}

/// "Edges", in several costs: `u32::MAX per 1 ms` still admits burst + 1 units at one instant
/// when they come as two costs of 2³¹ (each an exact number of µs).
#[test]
#[ignore = "bug: Bucket keeps the TAT in whole µs; a unit of u32::MAX per 1 ms refills in \
            2.3e-7 µs, the capacity ⌈burst · unit_fp / 2²⁰⌉ = 4 096 µs holds 2³² = burst + 1 units, \
            and two costs of 2³¹ cost 2 048 µs each: both admitted (needs sub-µs TAT precision)"]
fn the_fastest_limit_admits_at_most_its_burst_in_several_costs() {
    let fastest = Limit::per_window_ms(nz!(u32::MAX), nz!(1));
    let mut policy = TestPolicy::new();
    let lane = policy
        .add_lane(LaneConfig::new().shared_key(false).input_tokens(fastest))
        .unwrap();
    let half = u64::from(u32::MAX / 2 + 1);
    let taken: u64 = [half, half, 1, 1]
        .into_iter()
        .filter(|&tokens| wait_for(&mut policy, lane, SECOND, Cost::request(tokens, 0)).is_none())
        .sum();
    assert!(
        taken <= u64::from(u32::MAX),
        "{taken} tokens admitted at one instant"
    );
}

/// Refunds never shift a later admission into the past, for settles too and whatever came in
/// between: on 60 000 input tokens a minute (1 000 a second, burst 60 000), A takes 30 000 at
/// 0 s; at 29 s all but 1 000 of it has refilled, and C (30 000) and D (29 000) take the rest.
/// Settling A at 29 s with no tokens used may give back only the 1 000 still ahead: C and D
/// were admitted against the other 29 000. Nothing more fits at 29 s.
#[test]
fn refunding_an_older_settle_keeps_later_admissions_charged() {
    let config = LaneConfig::new().input_tokens(Limit::per_minute(nz!(60_000)));
    for (label, config) in solo_and_shared(config) {
        let (mut policy, lane) = fresh(config);
        let a = admit(
            &mut policy,
            0,
            lane,
            Cost::request(30_000, 0),
            &format!("{label}: A is admitted"),
        );
        let later = 29 * SECOND;
        for tokens in [30_000, 29_000] {
            assert_eq!(
                wait_for(&mut policy, lane, later, Cost::request(tokens, 0)),
                None,
                "{label}: {tokens} fit beside what is left of A"
            );
        }
        policy.settle(at(later), a, Some(Usage::default())).unwrap();
        let available = status_of(&policy, at(later), LimitKind::InputTokens).available;
        assert!(
            available <= 1_000,
            "{label}: {available} available after A's refund"
        );
        assert!(
            wait_for(&mut policy, lane, later, Cost::request(30_000, 0)).is_some(),
            "{label}: E admitted beside C and D"
        );
    }
}

/// Guarantee 2 after a small step back of the caller's clock: the engine counts no time until
/// the clock is back where it was, so the `Wait` must name an instant counted from there (it
/// named one 55 µs early after a 55 µs step back, found by the policy fuzz target).
#[test]
fn a_wait_after_a_small_step_back_is_honest() {
    for (label, config) in solo_and_shared(LaneConfig::new().requests(Limit::per_minute(nz!(50)))) {
        let (mut policy, lane) = fresh(config);
        assert_eq!(
            wait_for(&mut policy, lane, 29_041, Cost::request(0, 0)),
            None
        );
        let Acquire::Wait { until, .. } =
            policy.acquire(at(28_986), lane, Cost::request(0, 0), Priority::Interactive)
        else {
            panic!("{label}: one request per 1.2 s")
        };
        assert_eq!(until, at(29_041 + 1_200 * MS), "{label}");
        assert_eq!(
            wait_for(&mut policy, lane, until.as_ticks(), Cost::request(0, 0)),
            None
        );
    }
}
