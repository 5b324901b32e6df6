//! Scenario: a 300-request batch against Anthropic Tier-1-like limits on a fake clock.
//!
//! 50 RPM, 30 000 ITPM, 8 000 OTPM; each request sends 1 200 input tokens with
//! `max_tokens = 1 024` (reserved up front, legacy accounting), generates 300 and takes 3 s.
//! Requests go out at the RPM pace (1.2 s) while the input and output bursts last; output
//! reservations then slow them, and in the end the input limit binds (1 200 tokens every 2.4 s at
//! 500 tokens/s) — never faster than any limit allows over any interval, and finishing within
//! 0.5 % of the physical bound.

use std::collections::VecDeque;

use core::num::NonZeroU32;

use headroom::time::Instant;
use headroom::{Acquire, Cost, LaneConfig, Limit, LimitKind, Permit, Policy, Priority, Usage};

const REQUESTS: usize = 300;
const INPUT: u64 = 1_200;
const MAX_TOKENS: u64 = 1_024;
const OUTPUT: u64 = 300;
const LATENCY_US: u64 = 3_000_000;

fn per_minute(n: u32) -> Limit {
    Limit::per_minute(NonZeroU32::new(n).unwrap())
}

struct Run {
    admitted_at: Vec<u64>,
    waits_on: Vec<LimitKind>,
}

fn run_batch() -> Run {
    let mut policy: Policy<1, 64> = Policy::new();
    let lane = policy
        .add_lane(
            LaneConfig::new()
                .requests(per_minute(50))
                .input_tokens(per_minute(30_000))
                .output_tokens(per_minute(8_000)),
        )
        .unwrap();
    let mut now = 0u64;
    let mut queued = REQUESTS;
    let mut in_flight: VecDeque<(u64, Permit)> = VecDeque::new();
    let mut run = Run {
        admitted_at: Vec::new(),
        waits_on: Vec::new(),
    };
    while queued > 0 || !in_flight.is_empty() {
        while in_flight.front().is_some_and(|(done, _)| *done <= now) {
            let (_, permit) = in_flight.pop_front().unwrap();
            let usage = Usage {
                input_tokens: INPUT,
                output_tokens: OUTPUT,
                ..Usage::default()
            };
            policy
                .settle(Instant::from_ticks(now), permit, Some(usage))
                .unwrap();
        }
        let mut next = in_flight.front().map_or(u64::MAX, |(done, _)| *done);
        if queued > 0 {
            match policy.acquire(
                Instant::from_ticks(now),
                lane,
                Cost::request(INPUT, MAX_TOKENS),
                Priority::Interactive,
            ) {
                Acquire::Admit(permit) => {
                    run.admitted_at.push(now);
                    in_flight.push_back((now + LATENCY_US, permit));
                    queued -= 1;
                    continue;
                }
                Acquire::Wait { until, kind } => {
                    run.waits_on.push(kind);
                    next = next.min(until.as_ticks());
                }
                Acquire::Reject(rejection) => panic!("rejected: {rejection}"),
            }
        }
        assert!(next > now, "no progress at {now}");
        now = next;
    }
    run
}

#[test]
fn batch_is_paced_by_the_binding_limit_never_faster() {
    let run = run_batch();
    let times = &run.admitted_at;
    assert_eq!(times.len(), REQUESTS);
    // Over every interval: requests ≤ 1 + span/1.2 s and input ≤ 30 000 + 500/s · span.
    for i in 0..times.len() {
        for j in i..times.len() {
            let span = times[j] - times[i];
            let count = (j - i + 1) as u64;
            assert!(
                count * 1_200_000 <= 1_200_000 + span,
                "RPM exceeded between {i} and {j}"
            );
            assert!(
                count * INPUT * 2_000 <= 30_000 * 2_000 + span,
                "ITPM exceeded between {i} and {j}"
            );
        }
    }
    // The first ones go out at the RPM pace while the bursts last ...
    assert_eq!(&times[..4], &[0, 1_200_000, 2_400_000, 3_600_000]);
    // ... then the input limit binds: 1 200 tokens every 2.4 s.
    assert_eq!(times[299] - times[298], 2_400_000);
    assert_eq!(run.waits_on.last(), Some(&LimitKind::InputTokens));
    // The last request may go when 360 000 tokens fit in 30 000 + 500/s · t: t = 660 s.
    let ideal = 660_000_000;
    let last = times[REQUESTS - 1];
    assert!(last >= ideal, "faster than physically allowed: {last}");
    assert!(
        last <= ideal + ideal / 200,
        "more than 0.5 % slower than the limit: {last}"
    );
}
