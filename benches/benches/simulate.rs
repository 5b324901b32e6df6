//! `simulate`: simulated requests per second of the discrete-event engine on a large generated
//! workload (one Anthropic lane, Poisson arrivals just under the limits, so requests are paced,
//! retried and completed), for the headroom strategy (handed the provider's snapshot, then with
//! the headers rendered and parsed back, `--wire-headers`) and the official-SDK baseline in the
//! same group.
//!
//! ```console
//! cargo bench -p headroom-benches --bench simulate -- --warm-up-time 1 --measurement-time 3
//! ```
//!
//! Throughput is reported in elements: one element is one request of the workload run to
//! completion (acquire, provider, headers, parse, complete, retries).

use std::hint::black_box;

use criterion::{Criterion, Throughput};
use headroom_sim::engine::{Recording, run};
use headroom_sim::strategy::{Options, StrategyName, build};
use headroom_sim::upstream::UpstreamConfig;
use headroom_sim::workload::{Arrivals, GenSpec, Lane, generate};

/// Requests in the generated workload.
const REQUESTS: usize = 100_000;

fn spec() -> GenSpec {
    GenSpec {
        lanes: vec![Lane::anthropic(
            "claude-sonnet-4-5",
            4_000,
            2_000_000,
            400_000,
        )],
        arrivals: Arrivals::Poisson { per_minute: 1_000 },
        input_tokens: (200, 1_500),
        output_tokens: (50, 400),
        ..GenSpec::tier1_batch(REQUESTS)
    }
}

fn simulate(c: &mut Criterion) {
    let workload = generate(&spec(), 1);
    let mut group = c.benchmark_group("simulate");
    group.sample_size(10);
    group.throughput(Throughput::Elements(REQUESTS as u64));
    // The headroom strategy twice: handed the snapshot the provider's headers stand for (the
    // default), then with the headers rendered as text and parsed back (`--wire-headers`).
    let runs = [
        (StrategyName::Headroom, false),
        (StrategyName::Headroom, true),
        (StrategyName::Sdk, false),
    ];
    for (name, wire_headers) in runs {
        let config = UpstreamConfig {
            wire_headers,
            ..UpstreamConfig::default()
        };
        let label = if wire_headers {
            format!("{}-wire-headers", name.name())
        } else {
            name.name().to_string()
        };
        let mut strategy = build(name, &workload, &config, Options::default());
        let outcome = run(
            &workload,
            config.clone(),
            strategy.as_mut(),
            1,
            Recording::default(),
            &mut |_| {},
        );
        assert_eq!(outcome.requests, REQUESTS as u64);
        println!(
            "{label}: completed {}, 429s {}, retries {}",
            outcome.completed, outcome.rate_limited, outcome.retries
        );
        group.bench_function(format!("{label}/{REQUESTS}_requests"), |b| {
            b.iter(|| {
                let mut strategy = build(name, &workload, &config, Options::default());
                run(
                    black_box(&workload),
                    config.clone(),
                    strategy.as_mut(),
                    1,
                    Recording::default(),
                    &mut |_| {},
                )
                .completed
            });
        });
    }
    group.finish();
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    simulate(&mut c);
    c.final_summary();
}
