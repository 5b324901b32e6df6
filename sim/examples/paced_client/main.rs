//! End-to-end: 200 concurrent requests through headroom's async limiter to `headroom mock`.
//!
//! ```text
//! headroom mock --listen 127.0.0.1:0 --rpm 6000 --latency-ms 5 &   # prints its address
//! cargo run -p headroom-sim --example paced_client -- http://127.0.0.1:PORT 6000
//! ```
//!
//! `sim/tests/mock_e2e.rs` runs the same client against a mock it starts itself.

mod client;

use std::num::NonZeroU32;

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(base), Some(rpm)) = (args.next(), args.next()) else {
        eprintln!("usage: paced_client BASE_URL RPM   (e.g. http://127.0.0.1:8080 6000)");
        std::process::exit(2);
    };
    let Some(rpm) = rpm.parse().ok().and_then(NonZeroU32::new) else {
        eprintln!("paced_client: RPM {rpm:?} is not a positive whole number");
        std::process::exit(2);
    };
    let started = std::time::Instant::now();
    let tally = client::send_all(&base, 200, rpm).await;
    println!(
        "200 requests in {:.2?}: {} ok, {} 429, {} other",
        started.elapsed(),
        tally.ok,
        tally.rate_limited,
        tally.other
    );
}
