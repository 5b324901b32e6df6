//! Regenerates the bundled traces in `sim/traces/` from their specs
//! ([`headroom_sim::workload::bundled_specs`]):
//!
//! ```console
//! cargo run -p headroom-sim --example gen_traces
//! ```
//!
//! Each trace is a seeded, generated workload written down as the simulated provider would
//! have answered it ([`headroom_sim::upstream::to_trace`]): requests at their arrival times,
//! responses with `usage`, latency and the provider's rate-limit headers, from which
//! `headroom simulate` learns the limits. Same specs, same seeds, same bytes.

use std::path::Path;

use headroom_sim::upstream::{UpstreamConfig, to_trace};
use headroom_sim::workload::{bundled_specs, generate};
use headroom_sim::{simulate, trace};

fn main() -> std::io::Result<()> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("traces");
    std::fs::create_dir_all(&dir)?;
    for (name, spec, seed) in bundled_specs() {
        let workload = generate(&spec, seed);
        let note = format!("generated: headroom-sim example gen_traces, seed {seed}");
        let text = trace::to_jsonl(&to_trace(&workload, &UpstreamConfig::default(), &note));
        std::fs::write(dir.join(name), &text)?;
        println!("{name}: {} requests", workload.requests.len());
    }
    let _ = simulate::DEFAULT_TRACE;
    Ok(())
}
