//! Wall time of `Policy::acquire` against governor, **paired**: the ratio the README quotes
//! beside criterion's.
//!
//! ```console
//! cargo run --release -p headroom-benches --bin paired            # 100 000 rounds
//! cargo run --release -p headroom-benches --bin paired -- 20000   # fewer
//! ```
//!
//! Why not criterion alone: criterion measures one row after the other, seconds apart, and on a
//! shared two-core machine the load moves in between; the ratio of two rows then moves by a
//! third from run to run (1.04–1.52× on the same binaries in one day). Here every round times
//! each row back to back, in an order shuffled every round (so no row always follows the same
//! neighbour), and the ratio is taken *within* the round; a load that comes and goes slows
//! every row of the rounds it hits, and the median of the per-round ratios does not see it.
//! Within a round a row runs one batch untimed (its code and state back in the caches and the
//! branch predictor, as in criterion, which times many batches of one row in a row), then
//! [`TIMED_BATCHES`] timed ones, averaged.
//!
//! Each row is timed as criterion's `iter_batched` times it (benches/benches/acquire.rs): a batch
//! of [`BATCH`] calls whose inputs are made first, untimed; only the calls are inside the clock
//! reads. The rows:
//!
//! * `headroom`: `Policy::acquire` admitting one request on the three-limit lane, the permit
//!   recorded; the table is reset (untimed) before a batch, so a batch sees 0 to 31 permits in
//!   flight.
//! * `headroom, synced`: the same lane once it has completed one Anthropic 200
//!   (`headroom_benches::synced`): each limit metered by its pace and the provider's window,
//!   the windows never full again, so every admission but a batch's first is checked.
//! * `governor × 3`: three chained governor limiters, what a governor user writes for the same
//!   limits (`headroom_benches::peer`), the fake clock advanced in the untimed setup.
//! * `governor × 1`: one governor quota, `check_n(1200)`.
//! * `floor`: `headroom_benches::floor`, the least an exact all-or-nothing admission of the same
//!   three limits (a pace and a provider window each), with the permit recorded, must execute.
//! * `timer`: a batch of nothing, the cost of the two clock reads spread over the batch (every
//!   row carries it; subtract it to compare rows' own times).
//!
//! Printed: per row the median and quartiles of the per-call time over the rounds, and the
//! median and quartiles of each row's per-round ratio to `governor × 3`.

#![expect(
    clippy::float_arithmetic,
    reason = "times and ratios of a report, never the engine's arithmetic"
)]

use std::hint::black_box;
use std::process::ExitCode;
use std::time::{Duration, Instant as Clock};

use governor::clock::FakeRelativeClock;
use headroom::{Acquire, Policy};
use headroom_benches::floor::Floor;
use headroom_benches::{
    ADMIT_STEP_US, COST, FLOOR_CHARGES, PRIORITY, SYNCED_AT_US, SplitMix64, at, peer, policy,
    synced, three_limit_floor,
};

/// Calls per batch (and permits in headroom's table), as in the criterion bench.
const BATCH: usize = 32;
const DEFAULT_ROUNDS: usize = 100_000;
/// Batches of a row timed in each round, after one untimed.
const TIMED_BATCHES: u32 = 4;

/// One row: makes its batch's inputs (untimed), then runs the batch (timed).
trait Row {
    fn name(&self) -> &'static str;
    /// Runs one batch and answers its time per call, in ns.
    fn batch(&mut self) -> f64;
}

/// Times `calls` over the prepared `inputs`, in ns per call.
fn timed<T: Copy, R>(inputs: &[T], mut call: impl FnMut(T) -> R) -> f64 {
    let start = Clock::now();
    for &input in inputs {
        black_box(call(black_box(input)));
    }
    let elapsed = start.elapsed();
    elapsed.as_secs_f64() * 1e9 / inputs.len() as f64
}

/// Fills a batch's inputs with the next instants, one admission step apart from `t` on (each
/// step refills every bucket, so every call admits), as criterion's setup makes them.
fn next_steps<T>(t: &mut u64, inputs: &mut [T], instant: impl Fn(u64) -> T) {
    for input in inputs {
        *t += ADMIT_STEP_US;
        *input = instant(*t);
    }
}

struct Headroom {
    name: &'static str,
    template: Policy<1, BATCH>,
    policy: Policy<1, BATCH>,
    lane: headroom::LaneId,
    t: u64,
    inputs: [headroom::time::Instant; BATCH],
}

impl Row for Headroom {
    fn name(&self) -> &'static str {
        self.name
    }

    fn batch(&mut self) -> f64 {
        self.policy.clone_from(&self.template);
        next_steps(&mut self.t, &mut self.inputs, at);
        let (policy, lane) = (&mut self.policy, self.lane);
        timed(&self.inputs, |now| {
            policy.acquire(now, lane, COST, PRIORITY)
        })
    }
}

/// Moves a governor row's fake clock by every step of the coming batch before it, as
/// criterion's setup does (the limiters then see the batch at one instant, full).
fn steps_of_a_batch(clock: &FakeRelativeClock) {
    clock.advance(Duration::from_micros(ADMIT_STEP_US * BATCH as u64));
}

/// A governor row: its limiters on their fake clock, and how a governor user checks them for
/// one request (generic, so the check is inlined as in the criterion bench).
struct GovernorRow<L, F> {
    name: &'static str,
    clock: FakeRelativeClock,
    limiters: L,
    check: F,
}

impl<L, F: Fn(&L) -> bool> Row for GovernorRow<L, F> {
    fn name(&self) -> &'static str {
        self.name
    }

    fn batch(&mut self) -> f64 {
        steps_of_a_batch(&self.clock);
        let (limiters, check) = (&self.limiters, &self.check);
        timed(&[(); BATCH], |()| check(limiters))
    }
}

struct FloorRow {
    template: Floor,
    floor: Floor,
    t: u64,
    inputs: [u64; BATCH],
}

impl Row for FloorRow {
    fn name(&self) -> &'static str {
        "floor (6 meters + record)"
    }

    fn batch(&mut self) -> f64 {
        self.floor.clone_from(&self.template);
        next_steps(&mut self.t, &mut self.inputs, |us| us);
        let floor = &mut self.floor;
        timed(&self.inputs, |now| floor.acquire(now, FLOOR_CHARGES))
    }
}

struct Timer;

impl Row for Timer {
    fn name(&self) -> &'static str {
        "timer (an empty batch)"
    }

    fn batch(&mut self) -> f64 {
        timed(&[(); BATCH], |()| ())
    }
}

/// Fisher–Yates: every order of `items` about equally likely.
fn shuffle(items: &mut [usize], draws: &mut SplitMix64) {
    for top in (1..items.len()).rev() {
        let pick = (draws.next() % (top as u64 + 1)) as usize;
        items.swap(top, pick);
    }
}

/// The `q`-quantile of sorted `values` (nearest rank).
fn quantile(sorted: &[f64], q: f64) -> f64 {
    let last = sorted.len().saturating_sub(1);
    let rank = ((last as f64) * q).round() as usize;
    sorted.get(rank.min(last)).copied().unwrap_or(f64::NAN)
}

fn summary(values: &mut [f64]) -> (f64, f64, f64) {
    values.sort_by(f64::total_cmp);
    (
        quantile(values, 0.25),
        quantile(values, 0.5),
        quantile(values, 0.75),
    )
}

fn main() -> ExitCode {
    let rounds = match std::env::args().nth(1).map(|arg| arg.parse::<usize>()) {
        None => DEFAULT_ROUNDS,
        Some(Ok(rounds)) if rounds > 0 => rounds,
        Some(_) => {
            eprintln!(
                "usage: paired [ROUNDS]   (ROUNDS a positive integer, default {DEFAULT_ROUNDS})"
            );
            return ExitCode::FAILURE;
        }
    };
    let (template, lane) = policy::<BATCH>();
    let mut synced_template = template.clone();
    synced(&mut synced_template, lane);
    let floor = three_limit_floor();
    let clock = FakeRelativeClock::default();
    let chain = peer::chain(&clock);
    let one_clock = FakeRelativeClock::default();
    let quota = peer::limiter(2_000_000, &one_clock);
    let [_, input, _] = peer::CHAIN_COSTS;
    let mut rows: Vec<Box<dyn Row>> = vec![
        Box::new(GovernorRow {
            name: "governor × 3 chained",
            clock,
            limiters: chain,
            check: |chain: &[peer::Governor; 3]| peer::check_chain(chain, peer::CHAIN_COSTS),
        }),
        Box::new(Headroom {
            name: "headroom acquire (admit, 3 limits)",
            policy: template.clone(),
            template,
            lane,
            t: 0,
            inputs: [at(0); BATCH],
        }),
        Box::new(Headroom {
            name: "headroom acquire, synced (3 paces + 3 windows, checked)",
            policy: synced_template.clone(),
            template: synced_template,
            lane,
            t: SYNCED_AT_US,
            inputs: [at(0); BATCH],
        }),
        Box::new(FloorRow {
            floor: floor.clone(),
            template: floor,
            t: 0,
            inputs: [0; BATCH],
        }),
        Box::new(GovernorRow {
            name: "governor × 1 quota",
            clock: one_clock,
            limiters: quota,
            check: move |quota: &peer::Governor| quota.check_n(input).is_ok_and(|r| r.is_ok()),
        }),
        Box::new(Timer),
    ];
    // Every row must admit every call of a batch, or it would time another path.
    check_admits();
    let n = rows.len();
    let mut times = vec![Vec::with_capacity(rounds); n];
    let mut ratios = vec![Vec::with_capacity(rounds); n];
    let mut this_round = vec![0.0; n];
    let mut order: Vec<usize> = (0..n).collect();
    let mut draws = SplitMix64(0x5eed);
    // A warm-up of a tenth, not kept.
    for round in 0..rounds + rounds / 10 {
        shuffle(&mut order, &mut draws);
        for &row in &order {
            if let (Some(slot), Some(runner)) = (this_round.get_mut(row), rows.get_mut(row)) {
                // One batch to bring the row's code and state back (another row just ran, and
                // criterion times a row after many batches of its own), then the mean of the
                // next few.
                runner.batch();
                *slot = (0..TIMED_BATCHES).map(|_| runner.batch()).sum::<f64>()
                    / f64::from(TIMED_BATCHES);
            }
        }
        if round < rounds / 10 {
            continue;
        }
        let peer_time = this_round.first().copied().unwrap_or(f64::NAN);
        for ((time, kept), ratio) in this_round.iter().zip(&mut times).zip(&mut ratios) {
            kept.push(*time);
            ratio.push(time / peer_time);
        }
    }
    println!(
        "## acquire, paired ({rounds} rounds; a row's time in a round is the mean of \
         {TIMED_BATCHES} batches of {BATCH} calls after one untimed; order shuffled every round)"
    );
    println!();
    println!(
        "| row | ns per call, median (p25–p75) | ratio to governor × 3 in the same round, median (p25–p75) |"
    );
    println!("|---|---|---|");
    for ((row, time), ratio) in rows.iter().zip(&mut times).zip(&mut ratios) {
        let (t25, t50, t75) = summary(time);
        let (r25, r50, r75) = summary(ratio);
        println!(
            "| {} | {t50:.1} ({t25:.1}–{t75:.1}) | {r50:.2}× ({r25:.2}–{r75:.2}) |",
            row.name()
        );
    }
    ExitCode::SUCCESS
}

/// Panics (a broken bench, not bad input) unless a batch of each admitting row's path, set up
/// as the row is, admits every call.
fn check_admits() {
    let (template, lane) = policy::<BATCH>();
    let mut synced_policy = template.clone();
    synced(&mut synced_policy, lane);
    for (mut policy, start) in [(template, 0), (synced_policy, SYNCED_AT_US)] {
        for i in 0..BATCH as u64 {
            let answer = policy.acquire(at(start + (i + 1) * ADMIT_STEP_US), lane, COST, PRIORITY);
            assert!(
                matches!(answer, Acquire::Admit(_)),
                "headroom call {i} from {start}: {answer:?}"
            );
        }
    }
    let mut floor = three_limit_floor();
    for i in 0..BATCH as u64 {
        assert!(
            floor
                .acquire((i + 1) * ADMIT_STEP_US, FLOOR_CHARGES)
                .is_some(),
            "floor call {i} refused"
        );
    }
    let clock = FakeRelativeClock::default();
    let chain = peer::chain(&clock);
    steps_of_a_batch(&clock);
    for i in 0..BATCH {
        assert!(
            peer::check_chain(&chain, peer::CHAIN_COSTS),
            "governor call {i} refused"
        );
    }
}
