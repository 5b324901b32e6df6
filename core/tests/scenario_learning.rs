//! Scenario: a lane that starts knowing nothing, learns Tier-1 limits from the first response's
//! real headers, and picks up a tier upgrade mid-run — all through `headers::parse` and
//! `Policy::complete`, on a fake clock.

use headroom::backoff::FixedDraw;
use headroom::headers;
use headroom::time::Instant;
use headroom::{Acquire, Cost, LaneConfig, LimitKind, Outcome, Policy, Priority, Response, Usage};

const COST: Cost = Cost::request(2_000, 500);

fn at_ms(ms: u64) -> Instant {
    Instant::from_ticks(ms * 1_000)
}

/// An Anthropic 200 as the API sends it, for the given limits and remaining values.
fn anthropic_200(rpm: (u64, u64), itpm: (u64, u64), otpm: (u64, u64)) -> headers::Snapshot {
    let pairs = [
        (
            "date".to_string(),
            "Sun, 01 Jun 2025 10:00:00 GMT".to_string(),
        ),
        (
            "anthropic-ratelimit-requests-limit".into(),
            rpm.0.to_string(),
        ),
        (
            "anthropic-ratelimit-requests-remaining".into(),
            rpm.1.to_string(),
        ),
        (
            "anthropic-ratelimit-requests-reset".into(),
            "2025-06-01T10:00:01Z".into(),
        ),
        (
            "anthropic-ratelimit-input-tokens-limit".into(),
            itpm.0.to_string(),
        ),
        (
            "anthropic-ratelimit-input-tokens-remaining".into(),
            itpm.1.to_string(),
        ),
        (
            "anthropic-ratelimit-input-tokens-reset".into(),
            "2025-06-01T10:00:04Z".into(),
        ),
        (
            "anthropic-ratelimit-output-tokens-limit".into(),
            otpm.0.to_string(),
        ),
        (
            "anthropic-ratelimit-output-tokens-remaining".into(),
            otpm.1.to_string(),
        ),
        (
            "anthropic-ratelimit-output-tokens-reset".into(),
            "2025-06-01T10:00:00Z".into(),
        ),
    ];
    headers::parse(Some(200), pairs)
}

fn send(policy: &mut Policy<1, 32>, now: Instant) -> Option<headroom::Permit> {
    match policy.acquire(
        now,
        headroom::LaneId::from_index(0),
        COST,
        Priority::Interactive,
    ) {
        Acquire::Admit(permit) => Some(permit),
        Acquire::Wait { .. } => None,
        Acquire::Reject(why) => panic!("rejected: {why}"),
    }
}

/// What a request could take now on `kind`: the smaller of the local pace and the provider's
/// window as the last response corrected it.
fn available(policy: &Policy<1, 32>, kind: LimitKind, now: Instant) -> u64 {
    policy
        .status(now)
        .find(|status| status.kind == kind)
        .map_or(0, |status| status.available)
}

/// The requests limit the lane paces at.
fn requests_limit(policy: &Policy<1, 32>) -> u32 {
    let lane = headroom::LaneId::from_index(0);
    policy
        .bucket(lane, LimitKind::Requests)
        .unwrap()
        .limit()
        .amount()
}

#[test]
fn learns_limits_then_follows_a_tier_upgrade() {
    let mut policy: Policy<1, 32> = Policy::new();
    let lane = policy
        .add_lane(LaneConfig::new().shared_key(false))
        .unwrap();
    let usage = Usage {
        input_tokens: 2_000,
        output_tokens: 400,
        ..Usage::default()
    };

    // 1. Nothing known: one request, then the provisional pace (50 RPM, one at a time).
    let first = send(&mut policy, at_ms(0)).unwrap();
    assert!(send(&mut policy, at_ms(0)).is_none());
    assert!(policy.bucket(lane, LimitKind::InputTokens).is_none());

    // 2. The first response teaches Tier 1: 50 RPM, 30 000 ITPM, 8 000 OTPM.
    let tier1 = anthropic_200((50, 49), (30_000, 28_000), (8_000, 8_000));
    let response = Response::new(&tier1).with_usage(usage);
    assert_eq!(
        policy
            .complete(at_ms(900), first, &response, &mut FixedDraw(0))
            .unwrap(),
        Outcome::Done
    );
    assert_eq!(
        policy
            .bucket(lane, LimitKind::InputTokens)
            .unwrap()
            .limit()
            .amount(),
        30_000
    );
    // 28 000 reported, rounded to the thousand: 27 500 is what may safely be used.
    assert_eq!(
        available(&policy, LimitKind::InputTokens, at_ms(900)),
        27_500
    );

    // Paced at 1.2 s per request now.
    let mut now = 900;
    let mut sent = Vec::new();
    while sent.len() < 5 {
        match send(&mut policy, at_ms(now)) {
            Some(permit) => sent.push((now, permit)),
            None => now += 100,
        }
    }
    let times: Vec<u64> = sent.iter().map(|(t, _)| *t).collect();
    assert_eq!(times, [900, 2_100, 3_300, 4_500, 5_700]);

    // 3. A response reports a tier upgrade: 1 000 RPM, 80 000 ITPM, 32 000 OTPM.
    let (_, permit) = sent.remove(0);
    let tier2 = anthropic_200((1_000, 990), (80_000, 70_000), (32_000, 31_000));
    let response = Response::new(&tier2).with_usage(usage);
    let done = policy
        .complete(at_ms(6_000), permit, &response, &mut FixedDraw(0))
        .unwrap();
    assert_eq!(done, Outcome::Done);
    let input = policy.bucket(lane, LimitKind::InputTokens).unwrap();
    assert_eq!(input.limit().amount(), 80_000);
    // 70 000 − 500 rounding − 2 000 for the request sent 300 ms before the headers arrived
    // (the three sent earlier had reached the server: the transit allowance is 500 ms).
    let status = policy
        .status(at_ms(6_000))
        .find(|status| status.kind == LimitKind::InputTokens)
        .unwrap();
    assert_eq!(status.window_available, Some(67_500));
    // The local pace kept its used fraction through the upgrade and is refilled by time only:
    // it, not the header, bounds what is admitted next.
    assert_eq!(status.available, 60_133);
    // 1 000 RPM is 20 times the learned 50: more than the growth bound (4×) adopts from a single
    // response. Until a second response confirms it, requests stay at 50 RPM.
    assert_eq!(requests_limit(&policy), 50);
    let (_, permit) = sent.remove(0);
    assert!(
        policy
            .complete(at_ms(6_000), permit, &response, &mut FixedDraw(0))
            .unwrap()
            .is_done()
    );
    assert_eq!(requests_limit(&policy), 1_000);
    // The pace kept its used fraction (a quarter of one request's burst was left): 4 of the
    // new burst of 16 now…
    let mut burst = Vec::new();
    while let Some(permit) = send(&mut policy, at_ms(6_000)) {
        burst.push(permit);
    }
    assert_eq!(burst.len(), 4);
    // …and a second later, 16 at once (one second's worth), where 50 RPM admitted one.
    burst.clear();
    while let Some(permit) = send(&mut policy, at_ms(7_000)) {
        burst.push(permit);
    }
    assert_eq!(burst.len(), 16);
}
