//! `backoff`: the next retry delay for each jitter strategy, and `Retry-After` parsing (delay
//! seconds and HTTP-date, through the `datetime` parsers and through `headers::parse`).
//!
//! ```console
//! cargo bench -p headroom-benches --bench backoff -- --warm-up-time 1 --measurement-time 3
//! ```
//!
//! The RNG is the bench crate's SplitMix64 (a few ns per draw), so the rows measure the
//! schedule, not a cryptographic generator. Every row starts from a fresh `Attempt` with
//! three retries taken (nominal delay 8 s under a 60 s cap).

use std::hint::black_box;

use criterion::Criterion;
use headroom::backoff::{Attempt, Backoff, Jitter};
use headroom::datetime::{parse_delay_seconds, parse_http_date};
use headroom::headers;
use headroom::time;
use headroom_benches::{RETRY_AFTER_DATE, RETRY_AFTER_SECONDS, SplitMix64};

const JITTERS: [(&str, Jitter); 6] = [
    ("none", Jitter::None),
    ("full", Jitter::Full),
    ("equal", Jitter::Equal),
    ("decorrelated", Jitter::Decorrelated),
    ("proportional_sdk", Jitter::SDK),
    ("additive_250", Jitter::Additive { per_mille: 250 }),
];

fn backoff(c: &mut Criterion) {
    let mut group = c.benchmark_group("backoff");
    let mut rng = SplitMix64(42);
    group.bench_function("rng/splitmix64", |b| b.iter(|| rng.next()));

    for (name, jitter) in JITTERS {
        let schedule = Backoff::new(time::secs(1), time::secs(60))
            .with_jitter(jitter)
            .with_max_retries(u32::MAX);
        group.bench_function(format!("next_delay/{name}"), |b| {
            b.iter(|| {
                let mut state = Attempt::with_retries(black_box(3));
                schedule.next_delay(&mut state, None, &mut rng)
            });
        });
    }

    let sdk = Backoff::anthropic_python();
    group.bench_function("next_delay/anthropic_python+retry_after", |b| {
        b.iter(|| {
            let mut state = Attempt::with_retries(black_box(1));
            sdk.next_delay(&mut state, black_box(Some(time::secs(20))), &mut rng)
        });
    });

    group.bench_function("retry_after/delay_seconds", |b| {
        b.iter(|| parse_delay_seconds(black_box(b"20")));
    });
    group.bench_function("retry_after/http_date", |b| {
        b.iter(|| parse_http_date(black_box(b"Sat, 28 Nov 2026 04:00:20 GMT")));
    });
    group.bench_function("retry_after/headers_seconds", |b| {
        b.iter(|| {
            headers::parse(Some(429), black_box(&RETRY_AFTER_SECONDS).iter().copied())
                .server_delay()
        });
    });
    group.bench_function("retry_after/headers_http_date", |b| {
        b.iter(|| {
            headers::parse(Some(429), black_box(&RETRY_AFTER_DATE).iter().copied()).server_delay()
        });
    });
    group.finish();
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    backoff(&mut c);
    c.final_summary();
}
