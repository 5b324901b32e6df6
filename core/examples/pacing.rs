//! Paces a burst of requests against Anthropic Tier-1-like limits on a simulated clock and prints
//! every decision the engine makes.
//!
//! ```console
//! cargo run -p headroom --example pacing
//! ```
//!
//! 40 requests arrive at once: 2 000 input tokens each, `max_tokens` 1 024 (reserved up front and
//! settled against 350 generated tokens when the response arrives 2.5 s later). Limits: 50 RPM,
//! 30 000 ITPM, 8 000 OTPM. The engine sends each request at the earliest instant every limit
//! allows and says which limit held it back.

use std::collections::VecDeque;

use core::num::NonZeroU32;

use headroom::time::Instant;
use headroom::{Acquire, Cost, LaneConfig, Limit, LimitKind, Permit, Policy, Priority, Usage};

const REQUESTS: usize = 40;
const INPUT_TOKENS: u64 = 2_000;
const MAX_TOKENS: u64 = 1_024;
const OUTPUT_TOKENS: u64 = 350;
const LATENCY_US: u64 = 2_500_000;

fn per_minute(amount: u32) -> Limit {
    Limit::per_minute(NonZeroU32::new(amount).unwrap_or(NonZeroU32::MIN))
}

fn seconds(ticks: u64) -> String {
    format!("{:>4}.{:03}s", ticks / 1_000_000, ticks % 1_000_000 / 1_000)
}

fn main() {
    let mut policy: Policy<1, 64> = Policy::new();
    let Ok(lane) = policy.add_lane(
        LaneConfig::new()
            .requests(per_minute(50))
            .input_tokens(per_minute(30_000))
            .output_tokens(per_minute(8_000)),
    ) else {
        unreachable!("a fresh policy has room for one lane")
    };
    println!(
        "headroom pacing demo: {REQUESTS} requests × {INPUT_TOKENS} input tokens, max_tokens {MAX_TOKENS}"
    );
    println!("limits: 50 RPM, 30 000 ITPM, 8 000 OTPM (Anthropic Tier 1)\n");

    let mut now = 0u64;
    let mut next_request = 1;
    let mut in_flight: VecDeque<(u64, usize, Permit)> = VecDeque::new();
    let mut held_by = [0usize; 4];
    let mut last_event = 0u64;
    while next_request <= REQUESTS || !in_flight.is_empty() {
        while in_flight.front().is_some_and(|(done, _, _)| *done <= now) {
            last_event = now;
            let Some((_, id, permit)) = in_flight.pop_front() else {
                break;
            };
            let usage = Usage {
                input_tokens: INPUT_TOKENS,
                output_tokens: OUTPUT_TOKENS,
                ..Usage::default()
            };
            if policy
                .settle(Instant::from_ticks(now), permit, Some(usage))
                .is_ok()
            {
                println!(
                    "{}  r{id:<3} settled: {OUTPUT_TOKENS} of {MAX_TOKENS} output tokens used, the rest refunded",
                    seconds(now)
                );
            }
        }
        let mut wake = in_flight.front().map_or(u64::MAX, |(done, _, _)| *done);
        if next_request <= REQUESTS {
            let cost = Cost::request(INPUT_TOKENS, MAX_TOKENS);
            match policy.acquire(Instant::from_ticks(now), lane, cost, Priority::Interactive) {
                Acquire::Admit(permit) => {
                    let levels: Vec<String> = policy
                        .status(Instant::from_ticks(now))
                        .map(|status| format!("{} {}", status.kind, status.available))
                        .collect();
                    println!(
                        "{}  r{next_request:<3} SEND     (left: {})",
                        seconds(now),
                        levels.join(", ")
                    );
                    in_flight.push_back((now + LATENCY_US, next_request, permit));
                    next_request += 1;
                    continue;
                }
                Acquire::Wait { until, kind } => {
                    held_by[kind.index()] += 1;
                    println!(
                        "{}  r{next_request:<3} wait until {} for {kind}",
                        seconds(now),
                        seconds(until.as_ticks()).trim()
                    );
                    wake = wake.min(until.as_ticks());
                }
                Acquire::Reject(rejection) => {
                    println!("{}  r{next_request:<3} rejected: {rejection}", seconds(now));
                    next_request += 1;
                    continue;
                }
            }
        }
        now = wake;
    }
    println!(
        "\nall {REQUESTS} requests sent and settled by {}; none was sent before every limit had room",
        seconds(last_event).trim()
    );
    for kind in LimitKind::ALL {
        let waits = held_by[kind.index()];
        if waits > 0 {
            println!("  held back {waits} times by {kind}");
        }
    }
}
