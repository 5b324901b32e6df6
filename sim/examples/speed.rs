//! Simulator speed: simulated requests per second of wall time, per strategy, on a generated
//! workload (default 1 000 000 requests):
//!
//! ```console
//! cargo run --release -p headroom-sim --example speed [REQUESTS [STRATEGY]] [--wire-headers]
//! cargo run --release -p headroom-sim --example speed REQUESTS --write-trace PATH
//! ```
//!
//! `--wire-headers` hands the clients rendered and re-parsed header text instead of the
//! snapshot the parser would make of it (the same run, slower).
//!
//! `--write-trace PATH` writes the workload as a requests-only trace instead of running it, for
//! timing `headroom simulate` end to end, loading included (benches/RESULTS.md):
//!
//! ```console
//! headroom simulate PATH --strategy headroom --rpm 3000 --itpm 3000000 --otpm 600000
//! ```
//!
//! `--load PATH` only loads the trace at `PATH` into a workload, as `headroom simulate` does
//! (streamed, checked, read on a second thread), and prints the lines per second.
//!
//! The workload: Poisson arrivals at 3 600 per minute on one lane limited to 3 000 RPM,
//! 3 000 000 ITPM and 600 000 OTPM (Anthropic headers), 200–2 000 input and 50–600 output
//! tokens, so the requests limit binds and every strategy meets 429s or waits.

use std::time::Instant;

use headroom_sim::engine::{Recording, run};
use headroom_sim::strategy::{Options, StrategyName, build};
use headroom_sim::trace::{self, Event, Header, Records, Request, Trace};
use headroom_sim::upstream::UpstreamConfig;
use headroom_sim::workload::{Arrivals, GenSpec, Lane, Workload, WorkloadBuilder, generate};

fn main() {
    let wire_headers = std::env::args().any(|arg| arg == "--wire-headers");
    let mut args: Vec<String> = std::env::args()
        .filter(|arg| arg != "--wire-headers")
        .collect();
    let write_trace = take_option(&mut args, "--write-trace");
    if let Some(path) = take_option(&mut args, "--load") {
        load(&path);
        return;
    }
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
    if let Some(path) = write_trace {
        write_requests(&workload, &path);
        return;
    }
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

/// Removes `--name VALUE` from `args`; the value.
fn take_option(args: &mut Vec<String>, name: &str) -> Option<String> {
    let at = args.iter().position(|arg| arg == name)?;
    let value = (at + 1 < args.len()).then(|| args.remove(at + 1));
    args.remove(at);
    value
}

/// Loads the trace at `path` into a workload and prints the time it took.
fn load(path: &str) {
    let started = Instant::now();
    let mut builder = WorkloadBuilder::default();
    let loaded =
        trace::consume_threaded(|| Records::open(path), &mut builder).map(|found| found.requests);
    let wall = started.elapsed();
    match (loaded, builder.finish(None)) {
        (Ok(requests), Ok(workload)) => println!(
            "loaded {requests} requests ({} lanes) in {wall:.2?}: {} lines/s",
            workload.lanes.len(),
            u128::from(requests) * 1_000_000_000 / wall.as_nanos().max(1),
        ),
        (Err(why), _) => eprintln!("{why}"),
        (_, Err(why)) => eprintln!("{path}: {why}"),
    }
}

/// Writes `workload`'s requests (no responses: the limits come from the command line) as a
/// trace at `path`.
fn write_requests(workload: &Workload, path: &str) {
    let events = workload
        .requests
        .iter()
        .zip(workload.ids.iter())
        .map(|(request, id)| {
            let lane = workload.lanes.get(usize::from(request.lane));
            Event::Request(Request {
                t_us: request.arrival_us,
                id: id.to_owned(),
                lane: lane.map(|lane| lane.name.clone()),
                input_tokens: request.input_tokens,
                max_tokens: request.max_tokens,
            })
        })
        .collect();
    let trace = Trace {
        header: Header {
            provider: Some("anthropic".to_owned()),
            note: Some("generated: headroom-sim example speed --write-trace".to_owned()),
            ..Header::default()
        },
        events,
        ..Trace::default()
    };
    match trace::write_file(&trace, path) {
        Ok(()) => println!("wrote {path}"),
        Err(why) => eprintln!("{path}: {why}"),
    }
}
