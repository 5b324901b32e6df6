#![allow(
    clippy::arithmetic_side_effects,
    reason = "test arithmetic on small known values"
)]

use crate::test_support::{at_ms, per_minute};
use core::num::NonZeroU32;

use crate::headers::{Dialect, Quota, Scope, Snapshot};
use crate::time::Instant;
use crate::{Acquire, BucketStatus, Cost, LaneConfig, LaneId, LimitKind, Permit, Policy, Priority};

fn snapshot(dialect: Dialect, quotas: &[(Scope, u64, u64)]) -> Snapshot {
    let mut snapshot = Snapshot {
        dialect,
        ..Snapshot::default()
    };
    for &(scope, limit, remaining) in quotas {
        snapshot.quotas[scope.index()] = Some(Quota {
            limit: Some(limit),
            remaining: Some(remaining),
            ..Quota::default()
        });
    }
    snapshot
}

fn admit(policy: &mut Policy<1, 16>, now: Instant, lane: LaneId, cost: Cost) -> Permit {
    match policy.acquire(now, lane, cost, Priority::Interactive) {
        Acquire::Admit(permit) => permit,
        other => panic!("expected admission, got {other:?}"),
    }
}

/// What the policy reports of `kind` in `lane` at `now`.
fn status(policy: &Policy<1, 16>, lane: LaneId, kind: LimitKind, now: Instant) -> BucketStatus {
    policy
        .status(now)
        .find(|status| status.lane == lane && status.kind == kind)
        .unwrap()
}

/// What a request of `kind` could take now: the smaller of the pace and the provider's window.
fn level(policy: &Policy<1, 16>, lane: LaneId, kind: LimitKind, now: Instant) -> u64 {
    status(policy, lane, kind, now).available
}

#[test]
fn unknown_limits_are_paced_provisionally_then_learned() {
    let mut policy = Policy::<1, 16>::new();
    let lane = policy
        .add_lane(LaneConfig::new().shared_key(false))
        .unwrap();
    let first = admit(&mut policy, at_ms(0), lane, Cost::request(1_000, 500));
    // Before any response: one request per 1.2 s.
    assert_eq!(
        policy.acquire(
            at_ms(0),
            lane,
            Cost::request(1_000, 500),
            Priority::Interactive
        ),
        Acquire::Wait {
            until: at_ms(1_200),
            kind: LimitKind::Requests
        }
    );
    let taught = snapshot(
        Dialect::Anthropic,
        &[
            (Scope::Requests, 4_000, 3_999),
            (Scope::InputTokens, 400_000, 399_000),
            (Scope::OutputTokens, 80_000, 80_000),
        ],
    );
    policy
        .settle_with(at_ms(800), first, None, &taught)
        .unwrap();
    assert_eq!(
        policy.bucket(lane, LimitKind::Requests).unwrap().limit(),
        per_minute(4_000)
    );
    assert_eq!(
        level(&policy, lane, LimitKind::InputTokens, at_ms(800)),
        398_500
    );
    assert_eq!(
        level(&policy, lane, LimitKind::OutputTokens, at_ms(800)),
        79_500
    );
    assert!(policy.bucket(lane, LimitKind::Tokens).is_none());
    // Now paced at 4 000 RPM: burst 66 per second.
    let mut admitted = 0;
    while let Acquire::Admit(permit) = policy.acquire(
        at_ms(800),
        lane,
        Cost::request(10, 10),
        Priority::Interactive,
    ) {
        policy.settle(at_ms(800), permit, None).unwrap();
        admitted += 1;
    }
    assert_eq!(admitted, 66);
}

#[test]
fn tier_upgrade_rescales_the_bucket() {
    let mut policy = Policy::<1, 16>::new();
    let lane = policy
        .add_lane(
            LaneConfig::new()
                .shared_key(false)
                .input_tokens(per_minute(30_000)),
        )
        .unwrap();
    let permit = admit(&mut policy, at_ms(0), lane, Cost::request(15_000, 0));
    // The server reports a new tier: 80 000 ITPM, 40 000 left.
    let upgraded = snapshot(Dialect::OpenAi, &[(Scope::InputTokens, 80_000, 40_000)]);
    policy
        .settle_with(at_ms(0), permit, None, &upgraded)
        .unwrap();
    assert_eq!(
        policy.bucket(lane, LimitKind::InputTokens).unwrap().limit(),
        per_minute(80_000)
    );
    assert_eq!(
        level(&policy, lane, LimitKind::InputTokens, at_ms(0)),
        40_000
    );
    // Refill at the new rate: 80 000 per minute is 1 333 per second.
    assert_eq!(
        level(&policy, lane, LimitKind::InputTokens, at_ms(1_000)),
        41_333
    );
}

#[test]
fn in_flight_permits_issued_later_are_subtracted() {
    let mut policy = Policy::<1, 16>::new();
    let lane = policy
        .add_lane(
            LaneConfig::new()
                .shared_key(false)
                .input_tokens(per_minute(100_000)),
        )
        .unwrap();
    let first = admit(&mut policy, at_ms(0), lane, Cost::request(10_000, 0));
    let earlier_seen = admit(&mut policy, at_ms(0), lane, Cost::request(1, 0));
    let _later_a = admit(&mut policy, at_ms(10), lane, Cost::request(20_000, 0));
    let _later_b = admit(&mut policy, at_ms(20), lane, Cost::request(5_000, 0));
    // Server: 90 000 left. It may not have seen the three admitted after `first` (one of them
    // in the same tick): 90 000 − 1 − 20 000 − 5 000.
    let truth = snapshot(Dialect::OpenAi, &[(Scope::InputTokens, 100_000, 90_000)]);
    policy.settle_with(at_ms(30), first, None, &truth).unwrap();
    assert_eq!(
        level(&policy, lane, LimitKind::InputTokens, at_ms(30)),
        64_999
    );
    policy.cancel(at_ms(30), earlier_seen).unwrap();
}

#[test]
fn server_truth_raises_the_window_but_never_the_pace() {
    let mut policy = Policy::<1, 16>::new();
    let lane = policy
        .add_lane(
            LaneConfig::new()
                .shared_key(false)
                .output_tokens(per_minute(8_000)),
        )
        .unwrap();
    let permit = admit(&mut policy, at_ms(0), lane, Cost::request(0, 8_000));
    assert_eq!(level(&policy, lane, LimitKind::OutputTokens, at_ms(0)), 0);
    // Another process restarted with the same key and the server says plenty is left.
    let truth = snapshot(Dialect::OpenAi, &[(Scope::OutputTokens, 8_000, 6_000)]);
    policy
        .settle_with(at_ms(100), permit, None, &truth)
        .unwrap();
    let status = policy
        .status(at_ms(100))
        .find(|status| status.kind == LimitKind::OutputTokens)
        .unwrap();
    // The provider's window follows the server up…
    assert_eq!(status.window_available, Some(6_000));
    // …but the local pace refills by time alone (8 000 per minute: 13 in 100 ms), so no header,
    // true or not, lets more through than the limit's own rate.
    assert_eq!(status.available, 13);
    assert_eq!(
        level(&policy, lane, LimitKind::OutputTokens, at_ms(45_000)),
        6_000
    );
}

#[test]
fn an_older_response_can_only_lower() {
    let mut policy = Policy::<1, 16>::new();
    let lane = policy
        .add_lane(
            LaneConfig::new()
                .shared_key(false)
                .requests(per_minute(600).with_burst(NonZeroU32::new(100).unwrap())),
        )
        .unwrap();
    let old = admit(&mut policy, at_ms(0), lane, Cost::request(0, 0));
    let old2 = admit(&mut policy, at_ms(0), lane, Cost::request(0, 0));
    let new = admit(&mut policy, at_ms(100), lane, Cost::request(0, 0));
    let newer_truth = snapshot(Dialect::OpenAi, &[(Scope::Requests, 600, 50)]);
    policy
        .settle_with(at_ms(200), new, None, &newer_truth)
        .unwrap();
    // The two older permits were admitted within the transit allowance of these headers: they
    // may still be on their way (order is not trusted), so they are subtracted.
    assert_eq!(level(&policy, lane, LimitKind::Requests, at_ms(200)), 48);
    // The old response arrives late claiming 90 left: ignored for raising.
    let stale_high = snapshot(Dialect::OpenAi, &[(Scope::Requests, 600, 90)]);
    policy
        .settle_with(at_ms(200), old, None, &stale_high)
        .unwrap();
    assert_eq!(level(&policy, lane, LimitKind::Requests, at_ms(200)), 48);
    // A stale response that is more pessimistic still lowers.
    let stale_low = snapshot(Dialect::OpenAi, &[(Scope::Requests, 600, 10)]);
    policy
        .settle_with(at_ms(200), old2, None, &stale_low)
        .unwrap();
    assert_eq!(level(&policy, lane, LimitKind::Requests, at_ms(200)), 10);
}

#[test]
fn admission_order_not_clock_decides_what_is_unseen() {
    let mut policy = Policy::<1, 16>::new();
    let lane = policy
        .add_lane(
            LaneConfig::new()
                .shared_key(false)
                .input_tokens(per_minute(100_000)),
        )
        .unwrap();
    let first = admit(&mut policy, at_ms(5_000), lane, Cost::request(1_000, 0));
    // The caller's clock stepped back: this one is admitted later but stamped earlier.
    let later = admit(&mut policy, at_ms(1_000), lane, Cost::request(7_000, 0));
    let truth = snapshot(Dialect::OpenAi, &[(Scope::InputTokens, 100_000, 90_000)]);
    policy
        .settle_with(at_ms(5_000), first, None, &truth)
        .unwrap();
    assert_eq!(
        level(&policy, lane, LimitKind::InputTokens, at_ms(5_000)),
        83_000
    );
    policy.cancel(at_ms(5_000), later).unwrap();
}

#[test]
fn anthropic_token_rounding_is_read_down_but_requests_are_exact() {
    let mut policy = Policy::<1, 16>::new();
    let lane = policy
        .add_lane(
            LaneConfig::new()
                .shared_key(false)
                .provisional_requests(None),
        )
        .unwrap();
    let truth = snapshot(
        Dialect::Anthropic,
        &[
            (Scope::Requests, 50, 49),
            (Scope::Tokens, 38_000, 38_000),
            (Scope::InputTokens, 30_000, 400),
        ],
    );
    policy.observe(at_ms(0), lane, &truth).unwrap();
    assert_eq!(level(&policy, lane, LimitKind::Tokens, at_ms(0)), 37_500);
    assert_eq!(level(&policy, lane, LimitKind::InputTokens, at_ms(0)), 0);
    // Requests: a burst of 1 caps the level the server reported.
    assert_eq!(level(&policy, lane, LimitKind::Requests, at_ms(0)), 1);
    // Headers observed without a request of ours may lower, never raise: an exact 38 000
    // does not undo the rounding read down above.
    let openai = snapshot(Dialect::OpenAi, &[(Scope::Tokens, 38_000, 38_000)]);
    policy.observe(at_ms(0), lane, &openai).unwrap();
    assert_eq!(level(&policy, lane, LimitKind::Tokens, at_ms(0)), 37_500);
}

#[test]
fn observe_counts_every_in_flight_permit_as_unseen() {
    let mut policy = Policy::<1, 16>::new();
    let lane = policy
        .add_lane(
            LaneConfig::new()
                .shared_key(false)
                .input_tokens(per_minute(10_000)),
        )
        .unwrap();
    let _a = admit(&mut policy, at_ms(0), lane, Cost::request(3_000, 0));
    let truth = snapshot(Dialect::OpenAi, &[(Scope::InputTokens, 10_000, 9_000)]);
    policy.observe(at_ms(5), lane, &truth).unwrap();
    assert_eq!(
        level(&policy, lane, LimitKind::InputTokens, at_ms(5)),
        6_000
    );
    assert_eq!(
        policy.observe(at_ms(5), LaneId(7), &truth),
        Err(crate::Rejection::UnknownLane)
    );
}

#[test]
fn self_imposed_limits_can_be_kept() {
    let mut policy = Policy::<1, 16>::new();
    let lane = policy
        .add_lane(
            LaneConfig::new()
                .shared_key(false)
                .requests(per_minute(10))
                .adopt_server_limits(false),
        )
        .unwrap();
    let truth = snapshot(Dialect::OpenAi, &[(Scope::Requests, 5_000, 4_999)]);
    policy.observe(at_ms(0), lane, &truth).unwrap();
    assert_eq!(
        policy.bucket(lane, LimitKind::Requests).unwrap().limit(),
        per_minute(10)
    );
}

#[test]
fn a_snapshot_without_limits_keeps_the_provisional_pace() {
    let mut policy = Policy::<1, 16>::new();
    let lane = policy
        .add_lane(LaneConfig::new().shared_key(false))
        .unwrap();
    policy
        .observe(at_ms(0), lane, &Snapshot::default())
        .unwrap();
    assert_eq!(
        policy.bucket(lane, LimitKind::Requests).unwrap().limit(),
        LaneConfig::DEFAULT_PROVISIONAL_REQUESTS.with_burst(NonZeroU32::MIN)
    );
}

#[test]
fn permits_sent_well_before_the_headers_count_as_seen() {
    // 50 RPM paced at 1.2 s, responses after 5 s: by the time a response arrives, the requests
    // sent after it are already at the server. Only those within the transit allowance
    // (500 ms) of the headers are subtracted again.
    let mut policy = Policy::<1, 16>::new();
    let lane = policy
        .add_lane(
            LaneConfig::new()
                .shared_key(false)
                .input_tokens(per_minute(100_000)),
        )
        .unwrap();
    let first = admit(&mut policy, at_ms(0), lane, Cost::request(1_000, 0));
    let _old = admit(&mut policy, at_ms(1_200), lane, Cost::request(2_000, 0));
    let _recent = admit(&mut policy, at_ms(4_700), lane, Cost::request(4_000, 0));
    let truth = snapshot(Dialect::OpenAi, &[(Scope::InputTokens, 100_000, 90_000)]);
    policy
        .settle_with(at_ms(5_000), first, None, &truth)
        .unwrap();
    assert_eq!(
        level(&policy, lane, LimitKind::InputTokens, at_ms(5_000)),
        86_000
    );
}

#[test]
fn a_longer_transit_allowance_counts_more_as_unseen() {
    let mut policy = Policy::<1, 16>::new().with_transit_allowance(crate::time::secs(10));
    let lane = policy
        .add_lane(
            LaneConfig::new()
                .shared_key(false)
                .input_tokens(per_minute(100_000)),
        )
        .unwrap();
    let first = admit(&mut policy, at_ms(0), lane, Cost::request(1_000, 0));
    let _old = admit(&mut policy, at_ms(1_200), lane, Cost::request(2_000, 0));
    let truth = snapshot(Dialect::OpenAi, &[(Scope::InputTokens, 100_000, 90_000)]);
    policy
        .settle_with(at_ms(5_000), first, None, &truth)
        .unwrap();
    assert_eq!(
        level(&policy, lane, LimitKind::InputTokens, at_ms(5_000)),
        88_000
    );
}

#[test]
fn unseen_charges_beyond_remaining_leave_the_bucket_in_debt() {
    let mut policy = Policy::<1, 16>::new();
    let lane = policy
        .add_lane(
            LaneConfig::new()
                .shared_key(false)
                .input_tokens(per_minute(60_000)),
        )
        .unwrap();
    let first = admit(&mut policy, at_ms(0), lane, Cost::request(1_000, 0));
    let _unseen = admit(&mut policy, at_ms(100), lane, Cost::request(20_000, 0));
    // The server has 5 000 left but has not seen our 20 000 yet: 15 000 are owed.
    let truth = snapshot(Dialect::OpenAi, &[(Scope::InputTokens, 60_000, 5_000)]);
    policy.settle_with(at_ms(200), first, None, &truth).unwrap();
    assert_eq!(level(&policy, lane, LimitKind::InputTokens, at_ms(200)), 0);
    // 60 000 per minute is 1 000 per second: the debt of 15 000 takes 15 s to repay.
    assert_eq!(
        level(&policy, lane, LimitKind::InputTokens, at_ms(15_200)),
        0
    );
    assert_eq!(
        level(&policy, lane, LimitKind::InputTokens, at_ms(16_200)),
        1_000
    );
}

/// A lane with Anthropic's Tier-4-like limits: requests, input and output tokens per minute.
fn anthropic_lane() -> LaneConfig {
    LaneConfig::new()
        .requests(per_minute(4_000))
        .input_tokens(per_minute(2_000_000))
        .output_tokens(per_minute(400_000))
}

/// `Lane::reports_current_limit` is a shortcut past `Limit::new_checked` and `Lane::learn`:
/// wherever it answers yes, the full path must leave the lane exactly as the shortcut does
/// (only the pending limit cleared), and it must answer yes for the usual response.
#[test]
fn the_unchanged_limit_shortcut_is_the_full_learning_path() {
    use super::{NOT_PENDING, pending_of};
    use crate::lane::Lane;
    use crate::time::{Duration, micros, secs};
    use crate::{Limit, LimitKind};

    let anthropic = anthropic_lane();
    let bursty = LaneConfig::new()
        .requests(per_minute(4_000).with_burst(NonZeroU32::new(10).unwrap()))
        .input_tokens(per_minute(2_000_000));
    let own_pace = anthropic.adopt_server_limits(false);
    let mut lanes = [
        Lane::new(&anthropic),
        Lane::new(&bursty),
        Lane::new(&LaneConfig::new()),
        Lane::new(&own_pace),
    ];
    // A pace that is not the window's rate: the window learned 3 000 per minute, the
    // self-imposed pace kept 4 000.
    lanes[3].learn(0, LimitKind::Requests, per_minute(3_000));
    lanes[3].learn(0, LimitKind::Requests, per_minute(3_000));
    let amounts = [
        0,
        1,
        2_999,
        3_000,
        3_999,
        4_000,
        4_001,
        2_000_000,
        400_000,
        u64::from(u32::MAX),
        u64::from(u32::MAX) + 4_000,
    ];
    let windows: [Duration; 7] = [
        secs(60),
        micros(60_000_500),
        micros(59_999_999),
        secs(61),
        micros(999),
        micros(0),
        micros(u64::from(u32::MAX) * 1_000 + 1_000),
    ];
    // Under miri, which runs each learning some thousand times slower, every other amount and
    // window off the limits the lanes hold: the shortcuts counted below are all still met.
    let every = if cfg!(miri) { 2 } else { 1 };
    let sampled = |index: usize, kept: bool| kept || index.is_multiple_of(every);
    let held = [3_000, 4_000, 2_000_000, 400_000];
    let mut shortcuts = 0;
    for lane in &lanes {
        for kind in LimitKind::ALL {
            for (a, &amount) in amounts.iter().enumerate() {
                if !sampled(a, held.contains(&amount)) {
                    continue;
                }
                for (w, &window) in windows.iter().enumerate() {
                    if !sampled(w, window == secs(60)) {
                        continue;
                    }
                    for pending in [NOT_PENDING, pending_of(per_minute(40_000))] {
                        let mut before = lane.clone();
                        before.pending_limits[kind.index()] = pending;
                        let mut full = before.clone();
                        if let Ok(limit) = Limit::new_checked(amount, window) {
                            full.learn(1_000, kind, limit);
                        }
                        if before.reports_current_limit(kind, amount, window) {
                            shortcuts += 1;
                            let mut short = before.clone();
                            short.pending_limits[kind.index()] = NOT_PENDING;
                            assert_eq!(short, full, "{kind:?} {amount} {window:?}");
                        }
                    }
                }
            }
        }
    }
    // Requests, input and output of the Anthropic lane, input of the bursty one (its requests
    // window has a burst), input and output of the self-paced one (its requests pace is not
    // the window's rate), each with and without a pending limit; never the provisional pace.
    assert_eq!(shortcuts, 12);
}

/// `Lane::adopt_lane_share` skips the windows when their shares are all the same: it must leave
/// the lane as every window adopting the smallest share does, whatever the shares.
#[test]
fn adopting_the_lane_share_is_every_window_adopting_the_smallest() {
    use super::Order;
    use crate::cost::Charges;
    use crate::lane::Lane;
    use crate::lane::window::Window;

    let mut synced = Lane::new(&anthropic_lane());
    let report = snapshot(
        Dialect::Anthropic,
        &[
            (Scope::Requests, 4_000, 3_000),
            (Scope::InputTokens, 2_000_000, 1_500_000),
            (Scope::OutputTokens, 400_000, 300_000),
            (Scope::Tokens, 2_400_000, 1_800_000),
        ],
    );
    let id = NonZeroU32::new(1).unwrap();
    synced.observe(1_000, &report, Order::Admitted(id), &Charges::default(), 0);
    let mut differed = 0;
    for shares in [
        [256, 256, 256, 256],
        [256, 300, 256, 256],
        [1_024, 16, 512, 16],
    ] {
        let mut lane = synced.clone();
        for (window, share) in lane.windows_mut().zip(shares) {
            window.adopt_share(2_000, share);
        }
        let mut every = lane.clone();
        let least = every.windows().map(Window::share_fixed).min().unwrap();
        for window in every.windows_mut() {
            window.adopt_share(3_000, least);
        }
        if every != lane {
            differed += 1;
        }
        lane.adopt_lane_share(3_000);
        assert_eq!(lane, every, "{shares:?}");
    }
    // The two unequal sets of shares moved some window; the equal one moved none.
    assert_eq!(differed, 2);
}

/// A raise beyond the growth bound waits for the next response to confirm it; the response that
/// announced it counts units of the new limit. Read as units of the old one, its `remaining`
/// (7 of the new 1 000 a minute against the old 50) would be taken as the provider's capacity
/// and then rescaled with the limit (140 where the provider holds 16), and every later sample
/// would find that much missing, as if others spent it: the share fell to its floor and every
/// window of the lane with it (the simulator, `--limits-change-at 30:rpm=1000`: 7.9× the bound
/// with 0 429s, against 1.00× for a static limiter).
#[test]
fn a_raise_awaiting_confirmation_teaches_neither_capacity_nor_share() {
    let mut policy = Policy::<1, 16>::new();
    let lane = policy
        .add_lane(LaneConfig::new().requests(per_minute(50)))
        .unwrap();
    // A request sent at `ms` or as soon after as the lane admits it, answered at once.
    let mut respond = |ms: u64, limit: u64, remaining: u64| {
        let cost = Cost::request(10, 10);
        let (now, permit) = match policy.acquire(at_ms(ms), lane, cost, Priority::Interactive) {
            Acquire::Admit(permit) => (at_ms(ms), permit),
            Acquire::Wait { until, .. } => (until, admit(&mut policy, until, lane, cost)),
            Acquire::Reject(rejection) => panic!("rejected: {rejection:?}"),
        };
        let reported = snapshot(Dialect::Anthropic, &[(Scope::Requests, limit, remaining)]);
        policy.settle_with(now, permit, None, &reported).unwrap();
    };
    for second in (0..30).step_by(3) {
        respond(second * 1_000, 50, 1);
    }
    // The tier changes: announced, then confirmed; the provider's bucket holds a second's worth.
    respond(30_000, 1_000, 7);
    respond(33_000, 1_000, 16);
    // One request every 3 s, far below the new limit: the provider's bucket stays full.
    for second in (36..120).step_by(3) {
        respond(second * 1_000, 1_000, 16);
    }
    let requests = status(&policy, lane, LimitKind::Requests, at_ms(120_000));
    assert_eq!(requests.limit, per_minute(1_000));
    // Before the fix: 979 of 1 000 (the share at its floor). Then 370: the most the provider
    // ever reported holding, 1 under the old limit, was rescaled to 20 under the new one where
    // it holds 16, so each sample found up to 4 missing. A bucket holds at least one unit
    // whatever its rate, so only what the peak held above one is rescaled now: it stays 1,
    // the reports of the new limit raise it to 16, and nothing is found missing.
    assert_eq!(
        requests.others_per_window, 0,
        "nobody else spends on this key, yet others are estimated at {} a minute",
        requests.others_per_window
    );
}

/// A reported window that is not a whole number of milliseconds is adopted to the millisecond:
/// its reports still count units of the window's own limit and teach the share (compared in
/// µs instead, none ever would, and the share would stay at its cold start).
#[test]
fn a_window_off_the_millisecond_still_teaches_the_share() {
    let mut policy = Policy::<1, 16>::new();
    let lane = policy.add_lane(LaneConfig::new()).unwrap();
    let mut reported = snapshot(Dialect::OpenAi, &[(Scope::Requests, 60, 60)]);
    if let Some(quota) = reported.quotas[Scope::Requests.index()].as_mut() {
        quota.window = Some(crate::time::Duration::from_ticks(60_000_500));
    }
    for second in (0..120).step_by(3) {
        let now = at_ms(second * 1_000);
        let permit = admit(&mut policy, now, lane, Cost::request(0, 0));
        policy.settle_with(now, permit, None, &reported).unwrap();
    }
    let requests = status(&policy, lane, LimitKind::Requests, at_ms(120_000));
    assert_eq!(requests.limit, per_minute(60));
    // Cold start: a quarter of the key, 45 of 60 counted as others'. Learned: the whole key.
    assert!(
        requests.others_per_window < 10,
        "{}",
        requests.others_per_window
    );
}

/// Anthropic's first response on a lane with no limits yet: requests, input and output
/// tokens, and the combined `tokens-*` quota whose limit is `tokens_limit`.
fn anthropic_first_response(tokens_limit: u64) -> Snapshot {
    snapshot(
        Dialect::Anthropic,
        &[
            (Scope::Requests, 50, 49),
            (Scope::InputTokens, 30_000, 28_000),
            (Scope::OutputTokens, 8_000, 8_000),
            (Scope::Tokens, tokens_limit, 36_000),
        ],
    )
}

/// Whether the lane meters `kind` at all: a pace or a provider window.
fn meters(policy: &Policy<1, 16>, lane: LaneId, kind: LimitKind) -> bool {
    policy
        .status(at_ms(0))
        .any(|status| status.lane == lane && status.kind == kind)
}

#[test]
fn a_combined_limit_that_is_only_the_sum_of_input_and_output_is_not_learned_when_reserving() {
    use crate::CostModel;
    let lane_with = |cost_model: CostModel, config: LaneConfig, tokens_limit: u64| {
        let mut policy: Policy<1, 16> = Policy::new();
        let lane = policy.add_lane(config.with_cost_model(cost_model)).unwrap();
        policy
            .observe(at_ms(0), lane, &anthropic_first_response(tokens_limit))
            .unwrap();
        for kind in [
            LimitKind::Requests,
            LimitKind::InputTokens,
            LimitKind::OutputTokens,
        ] {
            assert!(meters(&policy, lane, kind), "{kind:?} learned");
        }
        (
            policy.bucket(lane, LimitKind::Tokens).is_some(),
            meters(&policy, lane, LimitKind::Tokens),
        )
    };
    let reserve = CostModel::ANTHROPIC_LEGACY;
    // 38 000 = 30 000 + 8 000 (and anything larger): implied by the two, neither pace nor
    // window.
    assert_eq!(
        lane_with(reserve, LaneConfig::new(), 38_000),
        (false, false)
    );
    assert_eq!(
        lane_with(reserve, LaneConfig::new(), 50_000),
        (false, false)
    );
    // Smaller than the sum: it binds on its own.
    assert_eq!(lane_with(reserve, LaneConfig::new(), 37_999), (true, true));
    // Counting output as generated, the combined window is kept (see `Lane::tokens_implied`).
    assert_eq!(
        lane_with(CostModel::ANTHROPIC_CURRENT, LaneConfig::new(), 38_000),
        (true, true)
    );
    // A combined pace of the caller's own learns the provider's limit (adopted: the pace
    // takes its rate).
    let mut policy: Policy<1, 16> = Policy::new();
    let own = LaneConfig::new()
        .tokens(per_minute(20_000))
        .with_cost_model(reserve);
    let lane = policy.add_lane(own).unwrap();
    policy
        .observe(at_ms(0), lane, &anthropic_first_response(38_000))
        .unwrap();
    assert_eq!(
        status(&policy, lane, LimitKind::Tokens, at_ms(0))
            .limit
            .amount(),
        38_000
    );
    // Over another window than the input's and output's: learned.
    let mut policy: Policy<1, 16> = Policy::new();
    let lane = policy
        .add_lane(LaneConfig::new().with_cost_model(reserve))
        .unwrap();
    let mut hourly = anthropic_first_response(38_000);
    if let Some(quota) = hourly.quotas[Scope::Tokens.index()].as_mut() {
        quota.window = Some(crate::time::secs(3_600));
    }
    policy.observe(at_ms(0), lane, &hourly).unwrap();
    assert!(meters(&policy, lane, LimitKind::Tokens));
}

#[test]
fn a_combined_limit_is_implied_only_by_anthropic_input_and_output_in_the_same_response() {
    use crate::CostModel;
    // Input and output windows the caller configured, on a lane that reserves.
    let configured = || {
        LaneConfig::new()
            .input_tokens(per_minute(30_000))
            .output_tokens(per_minute(8_000))
            .with_cost_model(CostModel::ANTHROPIC_LEGACY)
    };
    let tokens_after = |snapshot: &Snapshot| {
        let mut policy: Policy<1, 16> = Policy::new();
        let lane = policy.add_lane(configured()).unwrap();
        policy.observe(at_ms(0), lane, snapshot).unwrap();
        let metered = meters(&policy, lane, LimitKind::Tokens);
        let admitted = (0..20)
            .take_while(|_| {
                matches!(
                    policy.acquire(
                        at_ms(0),
                        lane,
                        Cost::request(1_000, 500),
                        Priority::Interactive
                    ),
                    Acquire::Admit(_)
                )
            })
            .count();
        (metered, admitted)
    };
    // OpenAI's token quota is the only one it reports: learned, and its empty bucket holds
    // every request back.
    let openai = snapshot(
        Dialect::OpenAi,
        &[(Scope::Requests, 500, 499), (Scope::Tokens, 40_000, 0)],
    );
    assert_eq!(tokens_after(&openai), (true, 0));
    // Anthropic's, in a response without the input and output quotas: nothing else corrects
    // the configured windows, so it is learned too.
    let alone = snapshot(
        Dialect::Anthropic,
        &[(Scope::Requests, 50, 49), (Scope::Tokens, 38_000, 0)],
    );
    assert_eq!(tokens_after(&alone), (true, 0));
    // With them, it is implied: the two windows, corrected to what they report, decide.
    let full = snapshot(
        Dialect::Anthropic,
        &[
            (Scope::Requests, 50, 49),
            (Scope::InputTokens, 30_000, 30_000),
            (Scope::OutputTokens, 8_000, 8_000),
            (Scope::Tokens, 38_000, 38_000),
        ],
    );
    let (metered, admitted) = tokens_after(&full);
    assert!(!metered);
    assert!(admitted > 0);
}
