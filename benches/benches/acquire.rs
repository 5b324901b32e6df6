//! `acquire`: headroom's admit and wait paths over one lane of three buckets (RPM + ITPM + OTPM,
//! all or nothing), next to governor on the same machine in the same run.
//!
//! ```console
//! cargo bench -p headroom-benches --bench acquire -- --warm-up-time 1 --measurement-time 3
//! ```
//!
//! Fairness rules, the same for every row:
//!
//! * Every row is `iter_batched` with batches of [`BATCH`] calls, so the per-batch timer and
//!   `Vec` overhead of criterion is the same everywhere.
//! * Time moves in the untimed setup: headroom gets the next `now` as the input (time is an
//!   argument), governor's `FakeRelativeClock` is advanced there (its atomic add is not timed).
//!   Each step refills every bucket, so the admit rows never hit the wait path.
//! * headroom's permit table holds [`BATCH`] permits: it is reset (untimed) before a batch, so
//!   a batch sees 0 to 31 permits in flight. The `acquire+cancel` row keeps one in flight and
//!   times the full give-back too.
//! * governor rows: one quota with `check_n(1200)` (a token cost, like headroom's ITPM charge),
//!   and three chained limiters (`check_n(1)`, `check_n(1200)`, `check_n(1024)`), which is what a
//!   governor user writes for three limits, without all-or-nothing: a refusal by the second
//!   limiter leaves the first one charged.
//! * The `floor` row is `headroom_benches::floor`: the least an exact all-or-nothing admission of
//!   the same three limits, each metered as a pace and a provider window, with the permit
//!   recorded, must execute. Not a product: a yardstick for how far `acquire` is from what its
//!   job needs (its table of 32 is reset before a batch, as headroom's is).

use std::cell::RefCell;
use std::hint::black_box;
use std::time::Duration;

use criterion::measurement::WallTime;
use criterion::{BatchSize, BenchmarkGroup, Criterion};
use governor::clock::FakeRelativeClock;
use headroom::{Acquire, Bucket, Cost, LimitKind, Policy};
use headroom_benches::peer::{self, nz};
use headroom_benches::{
    ADMIT_STEP_US, COST, FLOOR_CHARGES, PRIORITY, at, per_minute, policy, three_limit_floor,
};

/// Calls per criterion batch, and permits in the policy.
const BATCH: u64 = 32;
const PERMITS: usize = 32;

fn headroom_rows(group: &mut BenchmarkGroup<'_, WallTime>) {
    let (template, lane) = policy::<PERMITS>();
    check_admit_batches(&template, lane);

    let cell = RefCell::new(template.clone());
    let mut t = 0u64;
    group.bench_function("headroom/admit_3_buckets", |b| {
        b.iter_batched(
            || {
                let mut policy = cell.borrow_mut();
                if policy.in_flight() > 0 {
                    policy.clone_from(&template);
                }
                t += ADMIT_STEP_US;
                at(t)
            },
            |now| cell.borrow_mut().acquire(now, lane, COST, PRIORITY),
            BatchSize::NumIterations(BATCH),
        );
    });

    let cell = RefCell::new(template.clone());
    group.bench_function("headroom/admit+cancel_3_buckets", |b| {
        b.iter_batched(
            || {
                t += ADMIT_STEP_US;
                at(t)
            },
            |now| {
                let mut policy = cell.borrow_mut();
                match policy.acquire(now, lane, COST, PRIORITY) {
                    Acquire::Admit(permit) => policy.cancel(now, permit).is_ok(),
                    _ => false,
                }
            },
            BatchSize::NumIterations(BATCH),
        );
    });

    let mut drained = template.clone();
    let t0 = at(1_000_000);
    // One request that takes the whole OTPM burst: the next one waits about a minute.
    let _all = drained.acquire(t0, lane, Cost::request(0, 400_000), PRIORITY);
    assert!(matches!(
        drained.acquire(t0, lane, COST, PRIORITY),
        Acquire::Wait { .. }
    ));
    let cell = RefCell::new(drained);
    // Reference, not the product: the three buckets of the lane driven one by one through the
    // public `Bucket::try_take` (not all-or-nothing), to separate the GCRA arithmetic from the
    // lane and permit bookkeeping around it.
    let buckets = [
        (LimitKind::Requests, 4_000, 1),
        (LimitKind::InputTokens, 2_000_000, COST.input_tokens()),
        (LimitKind::OutputTokens, 400_000, COST.max_tokens()),
    ];
    let chain = RefCell::new(buckets.map(|(kind, rate, _)| Bucket::new(kind, per_minute(rate))));
    group.bench_function("headroom/bucket_try_take_x3_chained", |b| {
        b.iter_batched(
            || {
                t += ADMIT_STEP_US;
                at(t)
            },
            |now| {
                let mut all = chain.borrow_mut();
                all.iter_mut()
                    .zip(buckets)
                    .all(|(bucket, (_, _, cost))| bucket.try_take(now, cost).is_ok())
            },
            BatchSize::NumIterations(BATCH),
        );
    });

    group.bench_function("headroom/wait_3_buckets", |b| {
        b.iter_batched(
            || t0,
            |now| cell.borrow_mut().acquire(now, lane, COST, PRIORITY),
            BatchSize::NumIterations(BATCH),
        );
    });
}

fn governor_rows(group: &mut BenchmarkGroup<'_, WallTime>) {
    let step = Duration::from_micros(ADMIT_STEP_US);
    // One request's input tokens ([`COST`]), as the chained limiters ask.
    let [_, input, _] = peer::CHAIN_COSTS;

    let clock = FakeRelativeClock::default();
    let one = peer::limiter(2_000_000, &clock);
    group.bench_function("governor/check_n_1_quota", |b| {
        b.iter_batched(
            || clock.advance(step),
            |()| one.check_n(input).is_ok_and(|r| r.is_ok()),
            BatchSize::NumIterations(BATCH),
        );
    });

    let clock = FakeRelativeClock::default();
    let chain = peer::chain(&clock);
    group.bench_function("governor/check_n_3_chained", |b| {
        b.iter_batched(
            || clock.advance(step),
            |()| peer::check_chain(&chain, peer::CHAIN_COSTS),
            BatchSize::NumIterations(BATCH),
        );
    });

    let clock = FakeRelativeClock::default();
    let drained = peer::limiter(2_000_000, &clock);
    let _all = drained.check_n(nz(2_000_000));
    assert!(drained.check_n(input).is_ok_and(|r| r.is_err()));
    group.bench_function("governor/check_n_1_quota_deny", |b| {
        b.iter_batched(
            || (),
            |()| drained.check_n(black_box(input)).is_ok_and(|r| r.is_ok()),
            BatchSize::NumIterations(BATCH),
        );
    });
}

fn floor_row(group: &mut BenchmarkGroup<'_, WallTime>) {
    let template = three_limit_floor();
    // Every call in a batch must admit, as for headroom's rows.
    let mut floor = template.clone();
    for i in 0..BATCH {
        let admitted = floor.acquire((i + 1) * ADMIT_STEP_US, FLOOR_CHARGES);
        assert!(admitted.is_some(), "floor call {i} refused");
    }
    let cell = RefCell::new(template.clone());
    let mut t = 0u64;
    group.bench_function("floor/admit_6_meters", |b| {
        b.iter_batched(
            || {
                let mut floor = cell.borrow_mut();
                if floor.in_flight() > 0 {
                    floor.clone_from(&template);
                }
                t += ADMIT_STEP_US;
                t
            },
            |now| cell.borrow_mut().acquire(now, black_box(FLOOR_CHARGES)),
            BatchSize::NumIterations(BATCH),
        );
    });
}

/// Every call in a batch must be an admit, or the bench would measure another path.
fn check_admit_batches(template: &Policy<1, PERMITS>, lane: headroom::LaneId) {
    let mut policy = template.clone();
    for round in 0..3u64 {
        policy.clone_from(template);
        for i in 0..BATCH {
            let now = at((round * BATCH + i + 1) * ADMIT_STEP_US);
            let answer = policy.acquire(now, lane, COST, PRIORITY);
            assert!(
                matches!(answer, Acquire::Admit(_)),
                "call {i} of batch {round}: {answer:?}"
            );
        }
    }
}

fn acquire(c: &mut Criterion) {
    let mut group = c.benchmark_group("acquire");
    headroom_rows(&mut group);
    governor_rows(&mut group);
    floor_row(&mut group);
    group.finish();
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    acquire(&mut c);
    c.final_summary();
}
