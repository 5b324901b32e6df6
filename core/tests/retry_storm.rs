//! Scenario: a 529 storm. 100 callers fail together; without a budget each retries up to its
//! attempt limit, tripling the load on a provider that is already overloaded. With the budget,
//! retries are capped by the configured ratio. A fake clock (plain `Instant`s) drives it.
//!
//! The bound for the token-ratio rule: the j-th failure may retry only while
//! `max − j + ratio·successes > max/2`, so over any run `retries ≤ max/2 + ratio × successes`
//! (in tokens). For the AWS quota: `retries ≤ (capacity + refunds) / cost`.

#![allow(
    clippy::arithmetic_side_effects,
    reason = "test counters, far from overflow"
)]

mod support;

use headroom::backoff::{Attempt, Backoff, FixedDraw, RetryBudget};
use headroom::classify::GiveUp;
use headroom::classify::Outcome;
use headroom::classify::{Verdict, classify};
use headroom::headers::Snapshot;
use headroom::time::{self, Instant};
use support::SplitMix64;

const CALLERS: usize = 100;

fn overloaded() -> Verdict {
    classify(
        529,
        &Snapshot::default(),
        Some(br#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#),
    )
}

/// One wave: every caller's first attempt fails with `verdict` at t = 0. How many may retry?
fn first_wave(mut budget: RetryBudget, verdict: Verdict) -> usize {
    let schedule = Backoff::anthropic_python();
    let now = Instant::from_ticks(0);
    (0..CALLERS)
        .filter(|_| {
            let mut state = Attempt::first();
            let next = schedule.decide(now, &verdict, &mut state, &mut budget, &mut FixedDraw(0));
            matches!(next, Outcome::Retry(_))
        })
        .count()
}

#[test]
fn first_wave_is_capped_by_the_budget() {
    let busy = classify(503, &Snapshot::default(), None);
    // gRPC A6's example, 10 tokens, ratio 0.1: failures 1..4 leave 9..6 tokens (> 5): 4 retries.
    assert_eq!(
        first_wave(RetryBudget::token_ratio(10, 100), overloaded()),
        4
    );
    // The default, 100 tokens, ratio 0.1: 49 retries (the 50th failure leaves 50, not > 50).
    assert_eq!(first_wave(RetryBudget::default(), overloaded()), 49);
    // AWS standard quota: 500 / 5 per throttling retry = 100; a 503 costs 14: ⌊500/14⌋ = 35.
    assert_eq!(first_wave(RetryBudget::aws_standard(), overloaded()), 100);
    assert_eq!(first_wave(RetryBudget::aws_standard(), busy), 35);
    // No budget: every caller retries.
    assert_eq!(first_wave(RetryBudget::unlimited(), overloaded()), 100);
}

/// A 60 s storm: every attempt before `storm_end` gets a 529, every later one succeeds.
/// Callers start 10 ms apart and follow the anthropic-python schedule (2 retries).
/// Returns (attempts, retries, successes, budget give-ups, attempt-limit give-ups).
fn storm(mut budget: RetryBudget) -> (usize, usize, usize, usize, usize) {
    let schedule = Backoff::anthropic_python();
    let storm_end = Instant::from_ticks(time::secs(60).as_ticks());
    let ok = classify(200, &Snapshot::default(), None);
    let mut rng = SplitMix64(2026);
    // Event queue: (when, caller, state); processed in time order.
    let mut pending: Vec<(Instant, usize, Attempt)> = (0..CALLERS)
        .map(|i| {
            (
                Instant::from_ticks(time::millis(10 * i as u64).as_ticks()),
                i,
                Attempt::first(),
            )
        })
        .collect();
    let (mut attempts, mut retries, mut successes, mut budget_out, mut attempts_out) =
        (0, 0, 0, 0, 0);
    while let Some(pos) = pending
        .iter()
        .enumerate()
        .min_by_key(|(_, e)| (e.0, e.1))
        .map(|(i, _)| i)
    {
        let (now, caller, mut state) = pending.swap_remove(pos);
        attempts += 1;
        let verdict = if now < storm_end { overloaded() } else { ok };
        match schedule.decide(now, &verdict, &mut state, &mut budget, &mut rng) {
            Outcome::Done => successes += 1,
            Outcome::Retry(at) => {
                retries += 1;
                pending.push((at, caller, state));
            }
            Outcome::GiveUp(GiveUp::BudgetExhausted) => budget_out += 1,
            Outcome::GiveUp(GiveUp::AttemptsExhausted) => attempts_out += 1,
            Outcome::GiveUp(other) => panic!("unexpected {other:?}"),
        }
        assert!(budget.level() <= budget.max());
    }
    (attempts, retries, successes, budget_out, attempts_out)
}

#[test]
fn sustained_storm_retries_are_capped() {
    // Without a budget: 100 first attempts + 2 retries each = 300 attempts into the outage.
    assert_eq!(storm(RetryBudget::unlimited()), (300, 200, 0, 0, 100));
    // The default budget (100 tokens, ratio 0.1, retry while > 50): nothing succeeds during the
    // storm, so exactly 49 retries happen: 149 attempts, half the unbudgeted load.
    let (attempts, retries, successes, budget_out, attempts_out) = storm(RetryBudget::default());
    assert_eq!((attempts, retries, successes), (149, 49, 0));
    assert_eq!(budget_out + attempts_out, CALLERS);
    assert!(retries <= 50);
    // gRPC A6's example (10 tokens): 4 retries, 104 attempts.
    assert_eq!(storm(RetryBudget::token_ratio(10, 100)).1, 4);
    // AWS standard: the quota pays for 100 throttled retries; the second wave finds it empty.
    assert_eq!(storm(RetryBudget::aws_standard()).1, 100);
}

#[test]
fn partial_outage_retries_stay_under_the_ratio() {
    // 2 000 requests, one after another; each attempt fails with a 529 with probability 1/2.
    // Without a budget the SDK schedule retries about 0.75 times per request (measured: 1 511
    // retries). With the default budget a failure rate above ratio/(1 + ratio) ≈ 9 % drains the
    // tokens faster than successes refill them, so retries stop once the first 50 tokens are
    // spent (measured: 45 retries, 1 014 successes; A6's example: 4 retries).
    let run = |mut budget: RetryBudget, fail_below: u64| {
        let schedule = Backoff::anthropic_python();
        let mut rng = SplitMix64(7);
        let mut coin = SplitMix64(8);
        let now = Instant::from_ticks(0);
        let (mut retries, mut successes) = (0u64, 0u64);
        for _ in 0..2_000 {
            let mut state = Attempt::first();
            loop {
                let fail = rand_core::Rng::next_u64(&mut coin) < fail_below;
                let verdict = if fail {
                    overloaded()
                } else {
                    classify(200, &Snapshot::default(), None)
                };
                match schedule.decide(now, &verdict, &mut state, &mut budget, &mut rng) {
                    Outcome::Retry(_) => retries += 1,
                    Outcome::Done => {
                        successes += 1;
                        break;
                    }
                    Outcome::GiveUp(_) => break,
                }
            }
        }
        (retries, successes)
    };
    let (free_retries, free_successes) = run(RetryBudget::unlimited(), HALF);
    let (retries, successes) = run(RetryBudget::default(), HALF);
    eprintln!(
        "no budget: {free_retries} retries, {free_successes} successes; default budget: {retries} retries, {successes} successes"
    );
    assert!(free_retries > 1_400);
    // retries ≤ max/2 + ratio × successes = 50 + successes / 10.
    assert!(
        retries <= 50 + successes / 10,
        "{retries} retries for {successes} successes"
    );
    // A6's example: ≤ 5 + successes / 10.
    let (a6_retries, a6_successes) = run(RetryBudget::token_ratio(10, 100), HALF);
    eprintln!("A6 example budget: {a6_retries} retries, {a6_successes} successes");
    assert!(a6_retries <= 5 + a6_successes / 10);
    // A healthy client (1 attempt in 20 fails) is not throttled: the budget stays near full and
    // allows every retry the schedule asks for.
    let five_percent = u64::MAX / 20;
    let (healthy_free, _) = run(RetryBudget::unlimited(), five_percent);
    let (healthy, _) = run(RetryBudget::default(), five_percent);
    eprintln!("5 % failures: {healthy_free} retries without budget, {healthy} with the default");
    assert_eq!(healthy, healthy_free);
}

const HALF: u64 = 1 << 63;
