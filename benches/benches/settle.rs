//! `settle`: what one response costs. A full Anthropic 200 is parsed and synced into the lane
//! (`headers::parse` + `Policy::settle_with`), or run through the whole `Policy::complete`
//! (parse, settle, sync, classify, schedule); and the header parser alone for the Anthropic,
//! OpenAI and IETF -08 sets. The lane does not say its key is its own: its windows take their
//! part of each `remaining`, from the cold-start quarter share on; with a batch's 32 permits
//! in flight their samples settle at about two thirds of the key (the charges in flight read
//! partly as others' spending), so every sync takes the share's part, as a fleet member's
//! does. One row repeats `parse+settle_with` on a lane told its key is its own (its windows
//! take all of `remaining` and sample nothing), and one reads each response with the same
//! `headers::Reader`, in the same second as the one before (the `Date` and resets recalled).
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

use criterion::measurement::WallTime;
use criterion::{BatchSize, BenchmarkGroup, Criterion};
use headroom::headers::{self, Reader, Snapshot};
use headroom::time::Instant;
use headroom::{Acquire, LaneId, Permit, Policy, Response};
use headroom_benches::{
    ADMIT_STEP_US, ANTHROPIC_200, COST, IETF_08, OPENAI_200, PRIORITY, SplitMix64, USAGE, at,
    policy, three_bucket_lane,
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
fn next_permit(cell: &RefCell<Policy<1, PERMITS>>, lane: LaneId, t: &mut u64) -> (Instant, Permit) {
    *t += ADMIT_STEP_US;
    loop {
        match cell.borrow_mut().acquire(at(*t), lane, COST, PRIORITY) {
            Acquire::Admit(permit) => return (at(*t + LATENCY_US), permit),
            Acquire::Wait { until, .. } => *t = until.as_ticks(),
            Acquire::Reject(why) => panic!("setup must admit, got {why}"),
        }
    }
}

/// Times `respond` on one permit of `lane` at a time, each acquired in the untimed setup one
/// admit step after the one before ([`next_permit`]), on `policy` as the earlier calls left it.
fn responses<R>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    name: &str,
    (policy, lane): (Policy<1, PERMITS>, LaneId),
    t: &mut u64,
    mut respond: impl FnMut(&mut Policy<1, PERMITS>, Instant, Permit) -> R,
) {
    let cell = RefCell::new(policy);
    group.bench_function(name, |b| {
        b.iter_batched(
            || next_permit(&cell, lane, t),
            |(now, permit)| respond(&mut cell.borrow_mut(), now, permit),
            BatchSize::NumIterations(BATCH),
        );
    });
}

fn settle(c: &mut Criterion) {
    let mut group = c.benchmark_group("settle");
    let (template, lane) = policy::<PERMITS>();
    assert!(parse(&ANTHROPIC_200).ignored.is_empty());
    let shared = || (template.clone(), lane);
    let mut t = 0u64;

    let parse_and_settle = |policy: &mut Policy<1, PERMITS>, now, permit| {
        let snapshot = parse(&ANTHROPIC_200);
        policy.settle_with(now, permit, Some(USAGE), &snapshot)
    };
    responses(
        &mut group,
        "anthropic_200/parse+settle_with",
        shared(),
        &mut t,
        parse_and_settle,
    );

    // The same lane told its key is its own: its windows take the whole of `remaining`
    // instead of their part of it.
    let mut own = Policy::<1, PERMITS>::new();
    let own_lane = own
        .add_lane(three_bucket_lane().shared_key(false))
        .unwrap_or_else(|_| unreachable!("a fresh policy has room for one lane"));
    responses(
        &mut group,
        "anthropic_200/parse+settle_with,key_of_its_own",
        (own, own_lane),
        &mut t,
        parse_and_settle,
    );

    // A client reading response after response with one `headers::Reader`, every response in
    // the same second as the one before (a busy client's case): the `Date` and the resets are
    // recalled, not parsed again.
    let (mut reader, mut snapshot) = (Reader::new(), Snapshot::default());
    responses(
        &mut group,
        "anthropic_200/reader+settle_with",
        shared(),
        &mut t,
        |policy, now, permit| {
            let pairs = black_box(&ANTHROPIC_200).iter().copied();
            reader.parse_into(Some(200), pairs, &mut snapshot);
            policy.settle_with(now, permit, Some(USAGE), &snapshot)
        },
    );

    let snapshot = parse(&ANTHROPIC_200);
    responses(
        &mut group,
        "anthropic_200/settle_with_only",
        shared(),
        &mut t,
        |policy, now, permit| policy.settle_with(now, permit, Some(USAGE), black_box(&snapshot)),
    );

    let mut rng = SplitMix64(7);
    responses(
        &mut group,
        "anthropic_200/parse+complete",
        shared(),
        &mut t,
        |policy, now, permit| {
            let snapshot = parse(&ANTHROPIC_200);
            let response = Response::new(&snapshot).with_usage(USAGE);
            policy.complete(now, permit, &response, &mut rng)
        },
    );

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
