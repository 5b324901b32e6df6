//! `settle`: what one response costs. A full Anthropic 200 is parsed and synced into the lane
//! (`headers::parse` + `Policy::settle_with`), or run through the whole `Policy::complete`
//! (parse, settle, sync, classify, schedule); and the header parser alone for the Anthropic,
//! OpenAI and IETF -08 sets. The lane does not say its key is its own, so its windows take our
//! share of each `remaining` (the cold-start quarter share: a fleet member's sync); one row
//! repeats `parse+settle_with` on a lane told its key is its own (a client alone, or one that
//! has learned it is: its windows take all of `remaining`).
//!
//! ```console
//! cargo bench -p headroom-benches --bench settle -- --warm-up-time 1 --measurement-time 3
//! ```
//!
//! governor has no header parsing or server sync, so there is no peer row here; the ratio to
//! report is against the 200 ns target.
//!
//! The permit a row settles is acquired in the untimed setup; a batch of [`BATCH`] calls fills
//! the [`PERMITS`]-slot table in setup and empties it in the timed part, so each sync sums the
//! unseen charges of the other permits still in flight, as a busy client's would.

use std::cell::RefCell;
use std::hint::black_box;

use criterion::{BatchSize, Criterion};
use headroom::headers::{self, Snapshot};
use headroom::time::Instant;
use headroom::{Acquire, Permit, Policy, Response};
use headroom_benches::{
    ADMIT_STEP_US, ANTHROPIC_200, COST, IETF_08, OPENAI_200, PRIORITY, SplitMix64, USAGE, at,
    policy,
};

const BATCH: u64 = 32;
const PERMITS: usize = 32;
/// How long the request was in flight.
const LATENCY_US: u64 = 2_500_000;

fn parse(pairs: &[(&str, &str)]) -> Snapshot {
    headers::parse(Some(200), black_box(pairs).iter().copied())
}

/// Acquires the next permit, one admit step after the previous one (or when the lane, as the
/// last sync left it, says it has room).
fn next_permit(
    cell: &RefCell<Policy<1, PERMITS>>,
    lane: headroom::LaneId,
    t: &mut u64,
) -> (Instant, Permit) {
    *t += ADMIT_STEP_US;
    loop {
        match cell.borrow_mut().acquire(at(*t), lane, COST, PRIORITY) {
            Acquire::Admit(permit) => return (at(*t + LATENCY_US), permit),
            Acquire::Wait { until, .. } => *t = until.as_ticks(),
            Acquire::Reject(why) => panic!("setup must admit, got {why}"),
        }
    }
}

fn settle(c: &mut Criterion) {
    let mut group = c.benchmark_group("settle");
    let (template, lane) = policy::<PERMITS>();
    assert!(parse(&ANTHROPIC_200).ignored.is_empty());

    let cell = RefCell::new(template.clone());
    let mut t = 0u64;
    group.bench_function("anthropic_200/parse+settle_with", |b| {
        b.iter_batched(
            || next_permit(&cell, lane, &mut t),
            |(now, permit)| {
                let snapshot = parse(&ANTHROPIC_200);
                cell.borrow_mut()
                    .settle_with(now, permit, Some(USAGE), &snapshot)
            },
            BatchSize::NumIterations(BATCH),
        );
    });

    // The same lane told its key is its own: its windows take the whole of `remaining`, so a
    // sync skips the two divisions a window that shares its key takes for its part.
    let mut own = Policy::<1, PERMITS>::new();
    let own_lane = own
        .add_lane(headroom_benches::three_bucket_lane().shared_key(false))
        .unwrap_or_else(|_| unreachable!("a fresh policy has room for one lane"));
    let cell = RefCell::new(own);
    group.bench_function("anthropic_200/parse+settle_with,key_of_its_own", |b| {
        b.iter_batched(
            || next_permit(&cell, own_lane, &mut t),
            |(now, permit)| {
                let snapshot = parse(&ANTHROPIC_200);
                cell.borrow_mut()
                    .settle_with(now, permit, Some(USAGE), &snapshot)
            },
            BatchSize::NumIterations(BATCH),
        );
    });

    let snapshot = parse(&ANTHROPIC_200);
    let cell = RefCell::new(template.clone());
    group.bench_function("anthropic_200/settle_with_only", |b| {
        b.iter_batched(
            || next_permit(&cell, lane, &mut t),
            |(now, permit)| {
                cell.borrow_mut()
                    .settle_with(now, permit, Some(USAGE), black_box(&snapshot))
            },
            BatchSize::NumIterations(BATCH),
        );
    });

    let cell = RefCell::new(template.clone());
    let mut rng = SplitMix64(7);
    group.bench_function("anthropic_200/parse+complete", |b| {
        b.iter_batched(
            || next_permit(&cell, lane, &mut t),
            |(now, permit)| {
                let snapshot = parse(&ANTHROPIC_200);
                let response = Response::new(&snapshot).with_usage(USAGE);
                cell.borrow_mut().complete(now, permit, &response, &mut rng)
            },
            BatchSize::NumIterations(BATCH),
        );
    });

    group.bench_function("parse/anthropic_200", |b| {
        b.iter(|| parse(&ANTHROPIC_200));
    });
    group.bench_function("parse/openai_200", |b| b.iter(|| parse(&OPENAI_200)));
    group.bench_function("parse/ietf_08", |b| b.iter(|| parse(&IETF_08)));
    group.finish();
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    settle(&mut c);
    c.final_summary();
}
