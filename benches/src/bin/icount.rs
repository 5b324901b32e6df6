//! The instruction-count probe: runs one hot path many times so that `benches/icount.sh` can count
//! its instructions under callgrind.
//!
//! ```console
//! bash benches/icount.sh                      # every path, checked against benches/budgets.toml
//! icount acquire_admit 256                    # one path, 256 calls (what the script runs)
//! ```
//!
//! Why a probe of its own rather than a criterion bench: wall time on a shared two-core machine
//! moves by 2× between runs, an instruction count does not move at all. Each path is one
//! `#[inline(never)]` function named `measured_<path>`; the script runs the probe under
//! `valgrind --tool=callgrind --toggle-collect=*measured_<path>*`, so only instructions executed
//! inside that function (and what it calls) are counted, never the setup between calls (resetting
//! the permit table, moving time, acquiring the permit that `complete` settles). The count per
//! call is the total divided by the number of calls.
//!
//! The inputs are the criterion benches' (`headroom_benches`): the same lane, cost, headers.

use std::hint::black_box;
use std::num::NonZeroU32;
use std::process::ExitCode;
use std::time::Duration;

use governor::clock::FakeRelativeClock;
use headroom::headers::{self, Reader, Snapshot};
use headroom::time::Instant;
use headroom::{Acquire, Cost, CostModel, LaneId, Permit, Policy, Response};
use headroom_benches::floor::Floor;
use headroom_benches::peer::{self, Governor};
use headroom_benches::{
    ADMIT_STEP_US, ANTHROPIC_200, ANTHROPIC_200_NEXT_SECOND, COST, FLOOR_CHARGES, IETF_08,
    OPENAI_200, PRIORITY, RETRY_AFTER_DATE, RETRY_AFTER_SECONDS, SYNCED_AT_US, SplitMix64, USAGE,
    at, policy, synced, three_bucket_lane, three_limit_floor,
};

/// Permits in the policy: the table is reset (outside the counted function) when it is full, so
/// the admit path sees 0 to 31 permits in flight, as in the criterion bench.
const PERMITS: usize = 32;

/// Every path the probe knows, in the order the script prints them.
const PATHS: [&str; 16] = [
    "acquire_admit",
    "acquire_admit_synced",
    "acquire_admit_synced_actual",
    "acquire_wait",
    "complete_anthropic_200",
    "complete_anthropic_200_actual",
    "parse_anthropic_200",
    "parse_into_anthropic_200",
    "reader_anthropic_200_same_second",
    "reader_anthropic_200_next_second",
    "parse_openai_200",
    "parse_ietf_08",
    "parse_429_retry_after_date",
    "parse_429_retry_after_seconds",
    "governor_check_n_3_chained",
    "floor_acquire_six_meters",
];

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let path = args.next().unwrap_or_default();
    let calls = args
        .next()
        .and_then(|n| n.parse::<u64>().ok())
        .unwrap_or(256);
    match path.as_str() {
        "acquire_admit" => acquire_admit(calls),
        "acquire_admit_synced" => {
            let (policy, lane) = policy::<PERMITS>();
            acquire_admit_synced(policy, lane, calls, measured_acquire_admit_synced);
        }
        "acquire_admit_synced_actual" => {
            let (policy, lane) = actual_policy();
            acquire_admit_synced(policy, lane, calls, measured_acquire_admit_synced_actual);
        }
        "acquire_wait" => acquire_wait(calls),
        "complete_anthropic_200" => {
            let (policy, lane) = policy::<PERMITS>();
            complete_anthropic_200(policy, lane, calls, measured_complete_anthropic_200);
        }
        "complete_anthropic_200_actual" => {
            let mut policy = Policy::new();
            let Ok(lane) =
                policy.add_lane(three_bucket_lane().with_cost_model(CostModel::ANTHROPIC_CURRENT))
            else {
                unreachable!("a fresh policy has room for one lane");
            };
            complete_anthropic_200(policy, lane, calls, measured_complete_anthropic_200_actual);
        }
        "parse_anthropic_200" => {
            for _ in 0..calls {
                black_box(measured_parse_anthropic_200());
            }
        }
        "parse_into_anthropic_200" => {
            let mut snapshot = Snapshot::default();
            for _ in 0..calls {
                measured_parse_into_anthropic_200(&mut snapshot);
                black_box(&snapshot);
            }
        }
        "reader_anthropic_200_same_second" => {
            let (mut reader, mut snapshot) = (Reader::new(), Snapshot::default());
            for _ in 0..calls {
                measured_reader_anthropic_200_same_second(&mut reader, &mut snapshot);
                black_box(&snapshot);
            }
        }
        "reader_anthropic_200_next_second" => {
            let (mut reader, mut snapshot) = (Reader::new(), Snapshot::default());
            for call in 0..calls {
                let pairs = if call % 2 == 0 {
                    &ANTHROPIC_200
                } else {
                    &ANTHROPIC_200_NEXT_SECOND
                };
                measured_reader_anthropic_200_next_second(&mut reader, pairs, &mut snapshot);
                black_box(&snapshot);
            }
        }
        "parse_ietf_08" => {
            for _ in 0..calls {
                black_box(measured_parse_ietf_08());
            }
        }
        "parse_429_retry_after_date" => {
            for _ in 0..calls {
                black_box(measured_parse_429_retry_after_date());
            }
        }
        "parse_429_retry_after_seconds" => {
            for _ in 0..calls {
                black_box(measured_parse_429_retry_after_seconds());
            }
        }
        "parse_openai_200" => {
            for _ in 0..calls {
                black_box(measured_parse_openai_200());
            }
        }
        "governor_check_n_3_chained" => governor_check_n_3_chained(calls),
        "floor_acquire_six_meters" => floor_acquire_six_meters(calls),
        "list" => PATHS.iter().for_each(|path| println!("{path}")),
        other => {
            eprintln!(
                "icount: unknown path {other:?}; one of: {} (or `list`)",
                PATHS.join(", ")
            );
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}

/// `acquire`, admit path, one lane of three buckets, the permit recorded.
fn acquire_admit(calls: u64) {
    let (template, lane) = policy::<PERMITS>();
    admit_from(&template, lane, 0, calls, measured_acquire_admit);
}

/// `calls` admissions on `lane` through `measured`, one every [`ADMIT_STEP_US`] after `t`, from
/// a copy of `template` that starts over whenever the permit table is full.
fn admit_from(
    template: &Policy<1, PERMITS>,
    lane: LaneId,
    mut t: u64,
    calls: u64,
    measured: fn(&mut Policy<1, PERMITS>, Instant, LaneId) -> Acquire,
) {
    let mut policy = template.clone();
    for _ in 0..calls {
        if policy.in_flight() == PERMITS {
            policy.clone_from(template);
        }
        t += ADMIT_STEP_US;
        let answer = measured(&mut policy, at(t), lane);
        assert!(matches!(answer, Acquire::Admit(_)), "{answer:?}");
    }
}

#[inline(never)]
fn measured_acquire_admit(policy: &mut Policy<1, PERMITS>, now: Instant, lane: LaneId) -> Acquire {
    policy.acquire(black_box(now), black_box(lane), black_box(COST), PRIORITY)
}

/// The acquire paths' lane counting output as generated (`CostModel::ANTHROPIC_CURRENT`).
fn actual_policy() -> (Policy<1, PERMITS>, LaneId) {
    let mut policy = Policy::new();
    let Ok(lane) =
        policy.add_lane(three_bucket_lane().with_cost_model(CostModel::ANTHROPIC_CURRENT))
    else {
        unreachable!("a fresh policy has room for one lane");
    };
    (policy, lane)
}

/// `acquire`, admit path, on `lane` of `policy` once [`synced`]: every admission checked.
/// Counted through `measured`.
fn acquire_admit_synced(
    mut template: Policy<1, PERMITS>,
    lane: LaneId,
    calls: u64,
    measured: fn(&mut Policy<1, PERMITS>, Instant, LaneId) -> Acquire,
) {
    synced(&mut template, lane);
    admit_from(&template, lane, SYNCED_AT_US, calls, measured);
}

// The two synced paths' own symbols, around `measured_acquire_admit` (what the plain path
// counts): each passes one argument through `black_box` (a store and a load), a different one,
// since two identical bodies would be folded into one symbol that the toggle could not tell
// apart.

/// A lane that reserves `max_tokens`: three paces and three windows (the combined limit is
/// implied and not learned).
#[inline(never)]
fn measured_acquire_admit_synced(
    policy: &mut Policy<1, PERMITS>,
    now: Instant,
    lane: LaneId,
) -> Acquire {
    measured_acquire_admit(policy, black_box(now), lane)
}

/// A lane that counts output as generated: three paces and four windows.
#[inline(never)]
fn measured_acquire_admit_synced_actual(
    policy: &mut Policy<1, PERMITS>,
    now: Instant,
    lane: LaneId,
) -> Acquire {
    measured_acquire_admit(policy, now, black_box(lane))
}

/// `acquire`, wait path: the output bucket is drained, so every call answers `Wait`.
fn acquire_wait(calls: u64) {
    let (mut policy, lane) = policy::<PERMITS>();
    let t0 = at(1_000_000);
    let _all = policy.acquire(t0, lane, Cost::request(0, 400_000), PRIORITY);
    for _ in 0..calls {
        let answer = measured_acquire_wait(&mut policy, t0, lane);
        assert!(matches!(answer, Acquire::Wait { .. }), "{answer:?}");
    }
}

#[inline(never)]
fn measured_acquire_wait(policy: &mut Policy<1, PERMITS>, now: Instant, lane: LaneId) -> Acquire {
    policy.acquire(black_box(now), black_box(lane), black_box(COST), PRIORITY)
}

/// The counted function of a `complete` path: the policy, the instant, the permit, the response.
type Complete =
    fn(&mut Policy<1, PERMITS>, Instant, Permit, &Response<'_>, &mut SplitMix64) -> bool;

/// `complete` of a 200 carrying a parsed Anthropic snapshot (settle, sync, classify, schedule)
/// on `lane` of `policy`, through `measured`; the permit is acquired and the headers parsed
/// outside the counted function.
fn complete_anthropic_200(
    mut policy: Policy<1, PERMITS>,
    lane: LaneId,
    calls: u64,
    measured: Complete,
) {
    let snapshot = headers::parse(Some(200), ANTHROPIC_200);
    let response = Response::new(&snapshot).with_usage(USAGE);
    let mut rng = SplitMix64(7);
    let mut t = 0;
    for _ in 0..calls {
        t += ADMIT_STEP_US;
        let permit = loop {
            match policy.acquire(at(t), lane, COST, PRIORITY) {
                Acquire::Admit(permit) => break permit,
                Acquire::Wait { until, .. } => t = until.as_ticks(),
                Acquire::Reject(why) => panic!("setup must admit, got {why}"),
            }
        };
        let done = measured(&mut policy, at(t + 2_500_000), permit, &response, &mut rng);
        assert!(done, "complete refused its own permit");
    }
}

/// The lane of the acquire benches, reserving `max_tokens`: Anthropic's combined `tokens-*`
/// limit is implied by its input and output limits and not learned.
#[inline(never)]
fn measured_complete_anthropic_200(
    policy: &mut Policy<1, PERMITS>,
    now: Instant,
    permit: Permit,
    response: &Response<'_>,
    rng: &mut SplitMix64,
) -> bool {
    black_box(policy.complete(black_box(now), permit, black_box(response), rng)).is_ok()
}

/// The same lane counting output as generated (`CostModel::ANTHROPIC_CURRENT`): it learns the
/// combined window too, and the output estimate. A symbol of its own for the toggle, around
/// the same counted function (the call costs the path a jump).
#[inline(never)]
fn measured_complete_anthropic_200_actual(
    policy: &mut Policy<1, PERMITS>,
    now: Instant,
    permit: Permit,
    response: &Response<'_>,
    rng: &mut SplitMix64,
) -> bool {
    measured_complete_anthropic_200(policy, now, permit, response, rng)
}

// The parse paths name their input inside the function: two identical bodies taking it as an
// argument would be folded into one symbol, and the toggle would find only one of them.
#[inline(never)]
fn measured_parse_anthropic_200() -> Snapshot {
    headers::parse(Some(200), black_box(&ANTHROPIC_200).iter().copied())
}

/// The same response refilling a snapshot the caller keeps, as a client on the hot path does.
#[inline(never)]
fn measured_parse_into_anthropic_200(snapshot: &mut Snapshot) {
    headers::parse_into(
        Some(200),
        black_box(&ANTHROPIC_200).iter().copied(),
        snapshot,
    );
}

#[inline(never)]
fn measured_parse_openai_200() -> Snapshot {
    headers::parse(Some(200), black_box(&OPENAI_200).iter().copied())
}

/// A client's hot path under load: the same second as the response before, so `Date` and the
/// resets are remembered (`headers::Reader`).
#[inline(never)]
fn measured_reader_anthropic_200_same_second(reader: &mut Reader, snapshot: &mut Snapshot) {
    let pairs = black_box(&ANTHROPIC_200).iter().copied();
    reader.parse_into(Some(200), pairs, snapshot);
}

/// The same reader when every response is in a new second: nothing remembered hits.
#[inline(never)]
fn measured_reader_anthropic_200_next_second(
    reader: &mut Reader,
    pairs: &[(&str, &str); 20],
    snapshot: &mut Snapshot,
) {
    reader.parse_into(Some(200), black_box(pairs).iter().copied(), snapshot);
}

#[inline(never)]
fn measured_parse_ietf_08() -> Snapshot {
    headers::parse(Some(200), black_box(&IETF_08).iter().copied())
}

#[inline(never)]
fn measured_parse_429_retry_after_date() -> Snapshot {
    headers::parse(Some(429), black_box(&RETRY_AFTER_DATE).iter().copied())
}

#[inline(never)]
fn measured_parse_429_retry_after_seconds() -> Snapshot {
    headers::parse(Some(429), black_box(&RETRY_AFTER_SECONDS).iter().copied())
}

/// governor, the peer: `check_n` on three chained limiters (RPM, ITPM, OTPM), which is what a
/// governor user writes for the same lane (without all-or-nothing; see `peer`).
fn governor_check_n_3_chained(calls: u64) {
    let clock = FakeRelativeClock::default();
    let (chain, costs) = (peer::chain(&clock), peer::CHAIN_COSTS);
    for _ in 0..calls {
        clock.advance(Duration::from_micros(ADMIT_STEP_US));
        assert!(measured_governor_check_n_3_chained(&chain, &costs));
    }
}

#[inline(never)]
fn measured_governor_check_n_3_chained(chain: &[Governor; 3], costs: &[NonZeroU32; 3]) -> bool {
    peer::check_chain(black_box(chain), *black_box(costs))
}

/// The floor of an admission (`headroom_benches::floor`): six exact GCRA meters, all or nothing,
/// the permit recorded; the lane's limits, bursts and cost of `acquire_admit`
/// (`three_limit_floor`). The table is emptied outside the counted function when full, as for
/// `acquire_admit`.
fn floor_acquire_six_meters(calls: u64) {
    let template = three_limit_floor();
    let mut floor = template.clone();
    let charges = FLOOR_CHARGES;
    let mut t = 0;
    for _ in 0..calls {
        if floor.in_flight() == 32 {
            floor.clone_from(&template);
        }
        t += ADMIT_STEP_US;
        assert!(measured_floor_acquire_six_meters(&mut floor, t, &charges).is_some());
    }
}

#[inline(never)]
fn measured_floor_acquire_six_meters(
    floor: &mut Floor,
    now: u64,
    charges: &[u64; 3],
) -> Option<usize> {
    floor.acquire(black_box(now), *black_box(charges))
}
