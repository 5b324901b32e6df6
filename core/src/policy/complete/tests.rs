#![allow(
    clippy::arithmetic_side_effects,
    reason = "test arithmetic on small known values"
)]

use crate::test_support::{at_ms, per_minute};

use crate::backoff::{Backoff, FixedDraw, RetryBudget};
use crate::classify::GiveUp;
use crate::headers::{self, Snapshot};
use crate::time::Instant;
use crate::{
    Acquire, Attempt, Cost, LaneConfig, LaneId, LimitKind, Outcome, Permit, Policy, Priority,
    Rejection, Response, Retry, Usage,
};

const COST: Cost = Cost::request(1_000, 500);

fn tier1() -> (Policy<1, 16>, LaneId) {
    let mut policy = Policy::new().with_retry(Backoff::anthropic_python(), RetryBudget::default());
    let lane = policy
        .add_lane(
            LaneConfig::new()
                .shared_key(false)
                .requests(per_minute(50))
                .input_tokens(per_minute(30_000))
                .output_tokens(per_minute(8_000)),
        )
        .unwrap();
    (policy, lane)
}

fn admit(policy: &mut Policy<1, 16>, now: Instant, lane: LaneId, attempt: Attempt) -> Permit {
    match policy.acquire_attempt(now, lane, COST, Priority::Interactive, attempt) {
        Acquire::Admit(permit) => permit,
        other => panic!("expected admission, got {other:?}"),
    }
}

fn anthropic_429(input_remaining: &str, retry_after: &str) -> Snapshot {
    headers::parse(
        Some(429),
        [
            ("date", "Sun, 01 Jun 2025 10:00:00 GMT"),
            ("retry-after", retry_after),
            ("anthropic-ratelimit-requests-limit", "50"),
            ("anthropic-ratelimit-requests-remaining", "49"),
            ("anthropic-ratelimit-input-tokens-limit", "30000"),
            (
                "anthropic-ratelimit-input-tokens-remaining",
                input_remaining,
            ),
            ("anthropic-ratelimit-output-tokens-limit", "8000"),
            ("anthropic-ratelimit-output-tokens-remaining", "8000"),
        ],
    )
}

#[test]
fn success_is_done_and_settles() {
    let (mut policy, lane) = tier1();
    let permit = admit(&mut policy, at_ms(0), lane, Attempt::first());
    let snapshot = Snapshot {
        status: Some(200),
        ..Snapshot::default()
    };
    let usage = Usage {
        input_tokens: 1_000,
        output_tokens: 100,
        ..Usage::default()
    };
    let response = Response::new(&snapshot).with_usage(usage);
    let done = policy
        .complete(at_ms(10), permit, &response, &mut FixedDraw(0))
        .unwrap();
    assert_eq!(done, Outcome::Done);
    assert_eq!(
        policy
            .bucket(lane, LimitKind::OutputTokens)
            .unwrap()
            .available(at_ms(10)),
        7_901
    );
    assert_eq!(policy.in_flight(), 0);
}

#[test]
fn informed_429_waits_for_the_bucket_not_a_blind_backoff() {
    let (mut policy, lane) = tier1();
    let permit = admit(&mut policy, at_ms(0), lane, Attempt::first());
    // The server says the input bucket is empty (0, rounded: read as 0) and asks for 3 s.
    let snapshot = anthropic_429("0", "3");
    let answer = policy
        .complete(
            at_ms(500),
            permit,
            &Response::new(&snapshot),
            &mut FixedDraw(0),
        )
        .unwrap();
    // 1 000 tokens at 500/s is 2 s, but Retry-After (3 s) is a floor: 0.5 s + 3 s.
    let Outcome::Retry(Retry { at, attempt, .. }) = answer else {
        panic!("{answer:?}")
    };
    assert_eq!(at, at_ms(3_500));
    assert_eq!(attempt.retries(), 1);
    // The 429'd request's tokens were refunded, the request itself stays counted.
    // The window follows the 429's headers (8 000 read down for rounding).
    let status = policy
        .status(at_ms(500))
        .find(|status| status.kind == LimitKind::OutputTokens)
        .unwrap();
    assert_eq!(status.available, 7_500);
    // The retry is admitted at the named instant, with its attempt count.
    let Outcome::Retry(retry) = answer else {
        unreachable!()
    };
    let Acquire::Admit(again) = policy.acquire_retry(at, &retry) else {
        panic!("the retry is admitted at the named instant")
    };
    let _ = policy.cancel(at, again);
}

#[test]
fn informed_wait_carries_jitter_within_a_tenth() {
    let (mut policy, lane) = tier1();
    let permit = admit(&mut policy, at_ms(0), lane, Attempt::first());
    let snapshot = anthropic_429("0", "1");
    let answer = policy
        .complete(
            at_ms(0),
            permit,
            &Response::new(&snapshot),
            &mut FixedDraw(u64::MAX),
        )
        .unwrap();
    // Wait 2 s for 1 000 tokens, jitter just under 200 ms.
    let Outcome::Retry(Retry { at, .. }) = answer else {
        panic!("{answer:?}")
    };
    assert!(at > at_ms(2_199) && at < at_ms(2_200), "{at:?}");
}

#[test]
fn bare_429_follows_the_schedule() {
    let (mut policy, lane) = tier1();
    let permit = admit(&mut policy, at_ms(0), lane, Attempt::first());
    let snapshot = headers::parse(Some(429), [("x-should-retry", "true")]);
    let answer = policy
        .complete(
            at_ms(0),
            permit,
            &Response::new(&snapshot),
            &mut FixedDraw(0),
        )
        .unwrap();
    assert_eq!(answer.retry().map(|retry| retry.at()), Some(at_ms(500)));
}

#[test]
fn overloaded_backs_off_and_refunds_tokens() {
    let (mut policy, lane) = tier1();
    let permit = admit(&mut policy, at_ms(0), lane, Attempt::first());
    let snapshot = Snapshot {
        status: Some(529),
        ..Snapshot::default()
    };
    let body = br#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#;
    let response = Response::new(&snapshot).with_body(body);
    let answer = policy
        .complete(at_ms(100), permit, &response, &mut FixedDraw(0))
        .unwrap();
    assert!(matches!(answer, Outcome::Retry(retry) if retry.at() == at_ms(600)));
    assert_eq!(
        policy
            .bucket(lane, LimitKind::InputTokens)
            .unwrap()
            .available(at_ms(100)),
        30_000
    );
}

#[test]
fn attempts_run_out() {
    let (mut policy, lane) = tier1();
    let snapshot = Snapshot {
        status: Some(500),
        ..Snapshot::default()
    };
    let mut attempt = Attempt::first();
    let mut now = at_ms(0);
    for _ in 0..2 {
        let permit = admit(&mut policy, now, lane, attempt);
        match policy
            .complete(now, permit, &Response::new(&snapshot), &mut FixedDraw(0))
            .unwrap()
        {
            Outcome::Retry(Retry {
                at, attempt: next, ..
            }) => {
                now = at.checked_add_duration(crate::time::secs(2)).unwrap();
                attempt = next;
            }
            other => panic!("{other:?}"),
        }
    }
    let permit = admit(&mut policy, now, lane, attempt);
    let answer = policy
        .complete(now, permit, &Response::new(&snapshot), &mut FixedDraw(0))
        .unwrap();
    assert_eq!(answer, Outcome::GiveUp(GiveUp::AttemptsExhausted));
}

#[test]
fn spend_cap_and_server_no_are_final() {
    let (mut policy, lane) = tier1();
    let snapshot = Snapshot {
        status: Some(429),
        ..Snapshot::default()
    };
    let body = br#"{"type":"error","error":{"type":"rate_limit_error","message":"You have reached your API usage limits: ...","details":{"error_code":"enforced_spend_limit_reached"}},"request_id":"req_018EeWyXxfu5pfWkrYcMdjWG"}"#;
    let permit = admit(&mut policy, at_ms(0), lane, Attempt::first());
    let answer = policy
        .complete(
            at_ms(0),
            permit,
            &Response::new(&snapshot).with_body(body),
            &mut FixedDraw(0),
        )
        .unwrap();
    assert_eq!(answer, Outcome::GiveUp(GiveUp::SpendCap));
    let no = headers::parse(Some(429), [("x-should-retry", "false")]);
    let permit = admit(&mut policy, at_ms(1_200), lane, Attempt::first());
    let answer = policy
        .complete(at_ms(1_200), permit, &Response::new(&no), &mut FixedDraw(0))
        .unwrap();
    assert_eq!(answer, Outcome::GiveUp(GiveUp::ServerSaidNo));
}

#[test]
fn deadlines_hold_for_retries_and_waits() {
    let (mut policy, lane) = tier1();
    let deadline = at_ms(2_000);
    let permit = admit(
        &mut policy,
        at_ms(0),
        lane,
        Attempt::first().with_deadline(deadline),
    );
    let snapshot = anthropic_429("0", "1");
    let answer = policy
        .complete(
            at_ms(0),
            permit,
            &Response::new(&snapshot),
            &mut FixedDraw(0),
        )
        .unwrap();
    assert_eq!(answer, Outcome::GiveUp(GiveUp::DeadlineExceeded));
    let hurried = Attempt::first().with_deadline(at_ms(100));
    assert_eq!(
        policy.acquire_attempt(at_ms(0), lane, COST, Priority::Interactive, hurried),
        Acquire::Reject(Rejection::DeadlineExceeded)
    );
}

#[test]
fn transport_errors_back_off() {
    let (mut policy, lane) = tier1();
    let permit = admit(&mut policy, at_ms(0), lane, Attempt::first());
    let answer = policy
        .complete(
            at_ms(0),
            permit,
            &Response::transport_error(),
            &mut FixedDraw(0),
        )
        .unwrap();
    assert!(matches!(answer, Outcome::Retry(retry) if retry.at() == at_ms(500)));
    // A transport error keeps the estimate: the server may have processed the request.
    assert_eq!(
        policy
            .bucket(lane, LimitKind::InputTokens)
            .unwrap()
            .available(at_ms(0)),
        29_000
    );
}

#[test]
fn the_budget_stops_a_storm() {
    let mut policy: Policy<1, 64> = Policy::new().with_retry(
        Backoff::anthropic_python(),
        RetryBudget::token_ratio(10, 100),
    );
    let lane = policy
        .add_lane(LaneConfig::new().provisional_requests(None))
        .unwrap();
    let snapshot = Snapshot {
        status: Some(529),
        ..Snapshot::default()
    };
    let mut retried = 0;
    for _ in 0..20 {
        let Acquire::Admit(permit) = policy.acquire(at_ms(0), lane, COST, Priority::Interactive)
        else {
            panic!()
        };
        if let Outcome::Retry(_) = policy
            .complete(
                at_ms(0),
                permit,
                &Response::new(&snapshot),
                &mut FixedDraw(0),
            )
            .unwrap()
        {
            retried += 1;
        }
    }
    // gRPC A6: retries only while tokens > max/2: 10 tokens, −1 per failure → 4 retries.
    assert_eq!(retried, 4);
    assert!(policy.retry_budget().level() <= policy.retry_budget().max());
}

#[test]
fn a_retry_after_a_small_step_back_counts_from_where_the_clock_was() {
    let (mut policy, lane) = tier1();
    let permit = admit(&mut policy, at_ms(10_000), lane, Attempt::first());
    let snapshot = anthropic_429("0", "3");
    // The caller's clock steps back 200 ms before the response: the engine counts no time
    // until it is back at 10 s, so the retry-after floor (3 s) runs from 10 s.
    let answer = policy
        .complete(
            at_ms(9_800),
            permit,
            &Response::new(&snapshot),
            &mut FixedDraw(0),
        )
        .unwrap();
    let Outcome::Retry(retry) = answer else {
        panic!("{answer:?}")
    };
    assert_eq!(retry.at(), at_ms(13_000));
    assert!(matches!(
        policy.acquire_retry(retry.at(), &retry),
        Acquire::Admit(_)
    ));
}

/// A 429 with rate-limit headers is retried through the pacing, so it does not draw on the
/// retry budget; a 529 (a server in trouble) does. Many fresh requests each meeting one 429
/// keep being retried; the same number of 529s runs the budget dry.
#[test]
fn paced_429s_do_not_spend_the_retry_budget() {
    let exhausted = |snapshot: &Snapshot| {
        let mut policy: Policy<1, 16> =
            Policy::new().with_retry(Backoff::anthropic_python(), RetryBudget::token_ratio(4, 10));
        let lane = policy
            .add_lane(
                LaneConfig::new()
                    .shared_key(false)
                    .requests(per_minute(6_000)),
            )
            .unwrap();
        let mut now = at_ms(0);
        (0..40).any(|_| {
            now = now.checked_add_duration(crate::time::secs(5)).unwrap();
            let permit = admit(&mut policy, now, lane, Attempt::first());
            let answer = policy
                .complete(now, permit, &Response::new(snapshot), &mut FixedDraw(0))
                .unwrap();
            answer == Outcome::GiveUp(GiveUp::BudgetExhausted)
        })
    };
    assert!(!exhausted(&anthropic_429("30000", "1")));
    let overloaded = Snapshot {
        status: Some(529),
        ..Snapshot::default()
    };
    assert!(exhausted(&overloaded));
}

#[test]
fn every_2xx_is_done_whatever_its_headers_and_body_say() {
    for status in [200, 201, 204, 299] {
        let snapshot = headers::parse(
            Some(status),
            [
                ("x-should-retry", "true"),
                ("retry-after", "7"),
                ("retry-after-ms", "7000"),
            ],
        );
        let body: &[u8] = br#"{"type":"error","error":{"type":"overloaded_error"}}"#;
        // What `classify` says of it, which `complete` does not ask for a 2xx.
        let verdict = crate::classify::classify(status, &snapshot, Some(body));
        assert_eq!(verdict.outcome(), Outcome::Done, "{status}");
        let (mut policy, lane) = tier1();
        let permit = admit(&mut policy, at_ms(0), lane, Attempt::first());
        let response = Response::new(&snapshot).with_body(body);
        let done = policy.complete(at_ms(10), permit, &response, &mut FixedDraw(0));
        assert_eq!(done, Ok(Outcome::Done), "{status}");
        assert_eq!(policy.in_flight(), 0);
    }
}

/// A 2xx leaves `Backoff::decide` out: the budget must still earn what `decide` would credit
/// for it, for a first attempt and for a retry that paid for itself, in every budget mode.
#[test]
fn a_2xx_credits_the_budget_as_the_schedule_would() {
    let budgets = [
        RetryBudget::aws_standard(),
        RetryBudget::token_ratio(10, 100),
        RetryBudget::unlimited(),
    ];
    let error = Snapshot {
        status: Some(500),
        ..Snapshot::default()
    };
    let ok = headers::parse(Some(200), [("date", "Sun, 01 Jun 2025 10:00:00 GMT")]);
    for budget in budgets {
        let mut policy: Policy<1, 16> =
            Policy::new().with_retry(Backoff::anthropic_python(), budget);
        let lane = policy
            .add_lane(LaneConfig::new().provisional_requests(None))
            .unwrap();
        let rng = &mut FixedDraw(0);
        // Two failures spend from the budget; the second's retry is settled with a 200, then a
        // fresh request is.
        let first = admit(&mut policy, at_ms(0), lane, Attempt::first());
        let failed = policy.complete(at_ms(10), first, &Response::new(&error), rng);
        let Ok(Outcome::Retry(retry)) = failed else {
            panic!("a 500 is retried: {failed:?}")
        };
        let again = admit(&mut policy, at_ms(20), lane, Attempt::first());
        let _ = policy.complete(at_ms(30), again, &Response::new(&error), rng);
        for attempt in [retry.attempt(), Attempt::first()] {
            let permit = admit(&mut policy, retry.at(), lane, attempt);
            let mut expected = *policy.retry_budget();
            let schedule = Backoff::anthropic_python().decide(
                retry.at(),
                &crate::classify::Verdict::success(),
                &mut { attempt },
                &mut expected,
                rng,
            );
            assert_eq!(schedule, Outcome::Done);
            let done = policy.complete(retry.at(), permit, &Response::new(&ok), rng);
            assert_eq!(done, Ok(Outcome::Done));
            assert_eq!(
                policy.retry_budget(),
                &expected,
                "{attempt:?} on {budget:?}"
            );
        }
    }
}
