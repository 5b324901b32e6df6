//! Simulator speed: simulated requests per second of wall time, per strategy, on a generated
//! workload (default 1 000 000 requests):
//!
//! ```console
//! cargo run --release -p headroom-sim --example speed [REQUESTS [STRATEGY]] [--wire-headers]
//! ```
//!
//! `--wire-headers` hands the clients rendered and re-parsed header text instead of the
//! snapshot the parser would make of it (the same run, slower).
//!
//! The workload: Poisson arrivals at 3 600 per minute on one lane limited to 3 000 RPM,
//! 3 000 000 ITPM and 600 000 OTPM (Anthropic headers), 200–2 000 input and 50–600 output
//! tokens, so the requests limit binds and every strategy meets 429s or waits.

use std::time::Instant;

use headroom_sim::engine::{Recording, run};
use headroom_sim::strategy::{Options, StrategyName, build};
use headroom_sim::upstream::UpstreamConfig;
use headroom_sim::workload::{Arrivals, GenSpec, Lane, generate};

fn main() {
    let wire_headers = std::env::args().any(|arg| arg == "--wire-headers");
    let args: Vec<String> = std::env::args()
        .filter(|arg| arg != "--wire-headers")
        .collect();
    let requests: usize = args
        .get(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(1_000_000);
    let spec = GenSpec {
        lanes: vec![Lane::anthropic("bench", 3_000, 3_000_000, 600_000)],
        arrivals: Arrivals::Poisson { per_minute: 3_600 },
        input_tokens: (200, 2_000),
        output_tokens: (50, 600),
        ..GenSpec::tier1_batch(requests)
    };
    let started = Instant::now();
    let workload = generate(&spec, 1);
    println!("generated {requests} requests in {:.2?}", started.elapsed());
    let config = UpstreamConfig {
        wire_headers,
        ..UpstreamConfig::default()
    };
    let only = args.get(2);
    for name in StrategyName::ALL {
        if only.is_some_and(|only| only != name.name()) {
            continue;
        }
        let mut strategy = build(name, &workload, &config, Options::default());
        let started = Instant::now();
        let outcome = run(
            &workload,
            config.clone(),
            strategy.as_mut(),
            1,
            Recording::default(),
            &mut |_| {},
        );
        let wall = started.elapsed();
        println!(
            "{:>14}: {:>8.3?} wall, {:>10} requests/s, {} attempts, {} × 429, makespan {} s",
            name.name(),
            wall,
            requests as u128 * 1_000_000_000 / wall.as_nanos().max(1),
            outcome.attempts,
            outcome.rate_limited,
            outcome.makespan_us / 1_000_000,
        );
    }
}
