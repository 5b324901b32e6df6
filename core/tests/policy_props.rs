//! Property tests: one per guarantee in DESIGN.md ("What the core guarantees").
//!
//! Guarantee 1, never over-admit, over every interval that spans settles (usage up to the
//! estimate), syncs (honest, lying and stale headers), cancels and `complete` with any status,
//! against what the admitted requests finally cost; guarantee 2, never starve (admitted exactly
//! at the `Wait` instant, not before); guarantee 3, total on any input, instants up to
//! `u64::MAX` included; guarantee 4, deterministic; guarantee 5, fixed memory (`size_of` bounded
//! by `static_assertions` below). Plus the life-cycle laws: a refusal changes nothing (the whole
//! state, compared as its `Debug` form), refunds are exact (a cancel after a sync that learned
//! new windows leaves the twin that never admitted), settling to the estimate is a no-op, and a
//! synced snapshot bounds what is admitted next. Properties marked `ignore` state a guarantee the
//! engine does not keep yet; the reason names the bug.

use core::num::NonZeroU32;

use headroom::backoff::FixedDraw;
use headroom::classify::classify;
use headroom::headers::{Dialect, Quota, Scope, Snapshot};
use headroom::time::Instant;
use headroom::{
    Acquire, BucketStatus, CacheReads, Cost, CostModel, LaneConfig, LaneId, Limit, LimitKind,
    OutputCharge, Permit, Policy, Priority, Response, Usage,
};
use proptest::prelude::*;

type TestPolicy = Policy<2, 16>;

// Fixed memory: the usual policy, with what each in-flight request needs to be retried, stays
// within 6.5 KiB (a pace and a provider window per limit; see the README memory table).
static_assertions::const_assert!(core::mem::size_of::<Policy<4, 32>>() <= 6656);
static_assertions::assert_impl_all!(Policy<4, 32>: Send, Sync, Clone);
static_assertions::assert_not_impl_any!(Permit: Clone, Copy);

/// A limit with a sane rate (≤ 10 units per µs) so exact-rational bounds stay meaningful.
fn limit() -> impl Strategy<Value = Limit> {
    (
        1u32..=200_000,
        1_000u32..=120_000,
        proptest::option::of(1u32..=200_000),
    )
        .prop_map(|(amount, window_ms, burst)| {
            let limit = Limit::per_window_ms(
                NonZeroU32::new(amount).unwrap(),
                NonZeroU32::new(window_ms).unwrap(),
            );
            match burst {
                Some(burst) => limit.with_burst(NonZeroU32::new(burst).unwrap()),
                None => limit,
            }
        })
}

fn lane_config() -> impl Strategy<Value = LaneConfig> {
    (
        proptest::option::of(limit()),
        proptest::option::of(limit()),
        proptest::option::of(limit()),
        proptest::option::of(limit()),
        any::<bool>(),
        any::<bool>(),
        0u16..=1000,
    )
        .prop_map(|(rpm, itpm, otpm, tpm, cached, actual, reserve)| {
            let model = CostModel::new(
                if cached {
                    CacheReads::Counted
                } else {
                    CacheReads::Excluded
                },
                if actual {
                    OutputCharge::Actual
                } else {
                    OutputCharge::Reserve
                },
            );
            LaneConfig::new()
                .with_limit(LimitKind::Requests, rpm)
                .with_limit(LimitKind::InputTokens, itpm)
                .with_limit(LimitKind::OutputTokens, otpm)
                .with_limit(LimitKind::Tokens, tpm)
                .with_cost_model(model)
                .with_background_reserve_permille(reserve)
        })
}

fn cost() -> impl Strategy<Value = Cost> {
    prop_oneof![
        4 => (1u32..=3, 0u64..=40_000, 0u64..=8_000).prop_map(|(requests, input_tokens, max_tokens)| Cost::new(NonZeroU32::new(requests).unwrap(), input_tokens, max_tokens)),
        1 => (1u32..=u32::MAX, any::<u64>(), any::<u64>()).prop_map(|(requests, input_tokens, max_tokens)| Cost::new(NonZeroU32::new(requests).unwrap(), input_tokens, max_tokens)),
    ]
}

/// A cost of the usual sizes: at most 3 requests, 40 000 input and 8 000 output tokens.
fn moderate_cost() -> impl Strategy<Value = Cost> {
    (1u32..=3, 0u64..=40_000, 0u64..=8_000).prop_map(|(requests, input_tokens, max_tokens)| {
        Cost::new(NonZeroU32::new(requests).unwrap(), input_tokens, max_tokens)
    })
}

fn usage() -> impl Strategy<Value = Usage> {
    prop_oneof![
        4 => (0u64..=40_000, 0u64..=8_000, 0u64..=40_000, 0u64..=4_000).prop_map(|(i, o, r, c)| Usage { input_tokens: i, output_tokens: o, cache_read_input_tokens: r, cache_creation_input_tokens: c }),
        1 => any::<(u64, u64, u64, u64)>().prop_map(|(i, o, r, c)| Usage { input_tokens: i, output_tokens: o, cache_read_input_tokens: r, cache_creation_input_tokens: c }),
    ]
}

fn quota() -> impl Strategy<Value = Option<Quota>> {
    proptest::option::of(
        (
            proptest::option::of(1u64..=1_000_000),
            proptest::option::of(0u64..=1_000_000),
            proptest::option::of(1u64..=100_000_000),
        )
            .prop_map(|(limit, remaining, window)| Quota {
                limit,
                remaining: match (limit, remaining) {
                    (Some(limit), Some(remaining)) => Some(remaining.min(limit)),
                    (_, remaining) => remaining,
                },
                reset: None,
                window: window.map(headroom::time::micros),
            }),
    )
}

fn snapshot() -> impl Strategy<Value = Snapshot> {
    (any::<bool>(), quota(), quota(), quota(), quota()).prop_map(|(anthropic, r, i, o, t)| {
        let mut snapshot = Snapshot {
            dialect: if anthropic {
                Dialect::Anthropic
            } else {
                Dialect::OpenAi
            },
            ..Snapshot::default()
        };
        snapshot.quotas[Scope::Requests.index()] = r;
        snapshot.quotas[Scope::InputTokens.index()] = i;
        snapshot.quotas[Scope::OutputTokens.index()] = o;
        snapshot.quotas[Scope::Tokens.index()] = t;
        snapshot
    })
}

#[derive(Debug, Clone)]
enum Op {
    Step(i64),
    /// To an instant anywhere, the end of `u64` included.
    Jump(u64),
    Acquire {
        lane: u8,
        cost: Cost,
        background: bool,
    },
    Settle {
        which: usize,
        usage: Option<Usage>,
        snapshot: Option<Snapshot>,
    },
    Cancel {
        which: usize,
    },
    Observe {
        lane: u8,
        snapshot: Snapshot,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (-2_000_000i64..=5_000_000).prop_map(Op::Step),
        1 => any::<i64>().prop_map(Op::Step),
        1 => prop_oneof![Just(u64::MAX), any::<u64>(), (u64::MAX - 600_000_000)..=u64::MAX].prop_map(Op::Jump),
        6 => (0u8..3, cost(), any::<bool>()).prop_map(|(lane, cost, background)| Op::Acquire { lane, cost, background }),
        3 => (any::<usize>(), proptest::option::of(usage()), proptest::option::of(snapshot())).prop_map(|(which, usage, snapshot)| Op::Settle { which, usage, snapshot }),
        1 => any::<usize>().prop_map(|which| Op::Cancel { which }),
        1 => (0u8..3, snapshot()).prop_map(|(lane, snapshot)| Op::Observe { lane, snapshot }),
    ]
}

/// The policy's whole state as its `Debug` form, with the engine clock's fields taken out.
fn state_of<const L: usize, const P: usize>(policy: &Policy<L, P>) -> String {
    let state = format!("{policy:?}");
    let Some(start) = state.find("clock: EngineClock {") else {
        return state;
    };
    let end = state[start..]
        .find('}')
        .map_or(state.len(), |end| start + end + 1);
    format!("{}{}", &state[..start], &state[end..])
}

/// Runs `ops` and returns a transcript of every answer and the final bucket states.
fn run(configs: &[LaneConfig], start: u64, ops: &[Op]) -> (Vec<String>, Vec<BucketStatus>) {
    // No time-to-live: the transcript checks that every permit stays in flight until it is
    // handed back (reclaiming is tested on its own in `permit_ttl`).
    let mut policy = TestPolicy::new().with_permit_ttl(headroom::time::Duration::MAX);
    let lanes: Vec<LaneId> = configs
        .iter()
        .map(|c| policy.add_lane(*c).unwrap())
        .collect();
    let mut now = start;
    let mut permits: Vec<Permit> = Vec::new();
    let mut transcript = Vec::new();
    for op in ops {
        match op {
            Op::Step(delta) => now = now.saturating_add_signed(*delta),
            Op::Jump(to) => now = *to,
            Op::Acquire {
                lane,
                cost,
                background,
            } => {
                let lane = lanes
                    .get(usize::from(*lane))
                    .copied()
                    .unwrap_or(LaneId::from_index(9));
                let priority = if *background {
                    Priority::Background
                } else {
                    Priority::Interactive
                };
                let before = state_of(&policy);
                match policy.acquire(Instant::from_ticks(now), lane, *cost, priority) {
                    Acquire::Admit(permit) => {
                        transcript.push(format!("admit {}", permit.id()));
                        permits.push(permit);
                    }
                    other => {
                        // All or nothing: a refusal changes no bucket, window, permit or
                        // learned state (the engine clock aside: see
                        // `a_refusal_moves_nothing_not_even_the_clock`).
                        assert_eq!(state_of(&policy), before, "{other:?} changed the policy");
                        transcript.push(format!("{other:?}"));
                    }
                }
            }
            Op::Settle {
                which,
                usage,
                snapshot,
            } if !permits.is_empty() => {
                let permit = permits.swap_remove(which % permits.len());
                let result = match snapshot {
                    Some(snapshot) => {
                        policy.settle_with(Instant::from_ticks(now), permit, *usage, snapshot)
                    }
                    None => policy.settle(Instant::from_ticks(now), permit, *usage),
                };
                transcript.push(format!("{result:?}"));
            }
            Op::Cancel { which } if !permits.is_empty() => {
                let permit = permits.swap_remove(which % permits.len());
                transcript.push(format!(
                    "{:?}",
                    policy.cancel(Instant::from_ticks(now), permit)
                ));
            }
            Op::Observe { lane, snapshot } => {
                let lane = lanes
                    .get(usize::from(*lane))
                    .copied()
                    .unwrap_or(LaneId::from_index(9));
                transcript.push(format!(
                    "{:?}",
                    policy.observe(Instant::from_ticks(now), lane, snapshot)
                ));
            }
            _ => {}
        }
        assert_eq!(policy.in_flight(), permits.len());
    }
    let states = policy.status(Instant::from_ticks(now)).collect();
    (transcript, states)
}

/// One limit of a header snapshot in the life-cycle property: the lane's own limit (so a lane
/// that adopts server limits keeps its configured pace, as a truthful server leaves it) or any
/// other, with any `remaining` at all (honest, lying above the limit, stale).
#[derive(Debug, Clone)]
struct QuotaSpec {
    limit: Option<(u64, Option<u64>)>,
    remaining: Option<u64>,
}

/// A quota whose reported limit is at least `least`.
fn quota_spec_from(least: u64) -> impl Strategy<Value = Option<QuotaSpec>> {
    let remaining = prop_oneof![
        3 => 0u64..=200_000,
        1 => any::<u64>(),
    ];
    proptest::option::of(
        (
            proptest::option::of((
                least..=1_000_000,
                proptest::option::of(1_000u64..=120_000_000),
            )),
            proptest::option::of(remaining),
        )
            .prop_map(|(limit, remaining)| QuotaSpec { limit, remaining }),
    )
}

#[derive(Debug, Clone)]
struct SyncSpec {
    anthropic: bool,
    quotas: [Option<QuotaSpec>; 4],
}

fn sync_spec() -> impl Strategy<Value = SyncSpec> {
    sync_spec_from(1)
}

/// A snapshot whose reported limits are all at least `least`.
fn sync_spec_from(least: u64) -> impl Strategy<Value = SyncSpec> {
    let quota = || quota_spec_from(least);
    (any::<bool>(), [quota(), quota(), quota(), quota()])
        .prop_map(|(anthropic, quotas)| SyncSpec { anthropic, quotas })
}

impl SyncSpec {
    /// The snapshot for a lane configured as `config`: on a lane that adopts server limits, a
    /// configured kind's `limit` is the configured one (any other would legitimately move the
    /// pace); on a self-imposed lane any limit goes.
    fn snapshot(&self, config: &LaneConfig, adopt: bool, status: Option<u16>) -> Snapshot {
        let mut snapshot = Snapshot {
            dialect: if self.anthropic {
                Dialect::Anthropic
            } else {
                Dialect::OpenAi
            },
            status,
            ..Snapshot::default()
        };
        let scopes = [
            Scope::Requests,
            Scope::InputTokens,
            Scope::OutputTokens,
            Scope::Tokens,
        ];
        for ((kind, scope), spec) in LimitKind::ALL.into_iter().zip(scopes).zip(&self.quotas) {
            let Some(spec) = spec else { continue };
            let (limit, window) = match (config.limit(kind), spec.limit) {
                (Some(own), Some(_)) if adopt => (
                    Some(u64::from(own.amount())),
                    Some(headroom::time::millis(u64::from(own.window_ms()))),
                ),
                (_, Some((amount, window))) => (Some(amount), window.map(headroom::time::micros)),
                (_, None) => (None, None),
            };
            snapshot.quotas[scope.index()] = Some(Quota {
                limit,
                remaining: spec.remaining,
                reset: None,
                window,
            });
        }
        snapshot
    }
}

/// Usage up to the estimate, as thousandths of it: input, then cache creation and cache reads
/// out of what input left, and output out of `max_tokens`.
#[derive(Debug, Clone, Copy)]
struct UsageShare([u16; 4]);

fn usage_share() -> impl Strategy<Value = UsageShare> {
    [0u16..=1000, 0u16..=1000, 0u16..=1000, 0u16..=1000].prop_map(UsageShare)
}

impl UsageShare {
    fn usage(self, cost: &Cost) -> Usage {
        let part = |of: u64, permille: u16| {
            u64::try_from(u128::from(of) * u128::from(permille) / 1000).unwrap()
        };
        let [input, creation, read, output] = self.0;
        let input_tokens = part(cost.input_tokens(), input);
        let left = cost.input_tokens() - input_tokens;
        let cache_creation_input_tokens = part(left, creation);
        let left = left - cache_creation_input_tokens;
        Usage {
            input_tokens,
            output_tokens: part(cost.max_tokens(), output),
            cache_read_input_tokens: part(left, read),
            cache_creation_input_tokens,
        }
    }
}

#[derive(Debug, Clone)]
enum LifeOp {
    Step(u64),
    Acquire {
        cost: Cost,
        background: bool,
    },
    Settle {
        which: usize,
        usage: Option<UsageShare>,
        sync: Option<SyncSpec>,
    },
    Cancel {
        which: usize,
    },
    Observe(SyncSpec),
    Complete {
        which: usize,
        status: u16,
        usage: Option<UsageShare>,
        sync: Option<SyncSpec>,
    },
}

fn life_op() -> impl Strategy<Value = LifeOp> {
    let status = prop_oneof![
        Just(200u16),
        Just(429),
        Just(529),
        Just(500),
        Just(503),
        Just(400),
        100u16..=599,
    ];
    prop_oneof![
        4 => prop_oneof![3 => 0u64..=2_000_000, 1 => 0u64..=120_000_000].prop_map(LifeOp::Step),
        6 => (cost(), any::<bool>()).prop_map(|(cost, background)| LifeOp::Acquire { cost, background }),
        2 => (any::<usize>(), proptest::option::of(usage_share()), proptest::option::of(sync_spec()))
            .prop_map(|(which, usage, sync)| LifeOp::Settle { which, usage, sync }),
        1 => any::<usize>().prop_map(|which| LifeOp::Cancel { which }),
        1 => sync_spec().prop_map(LifeOp::Observe),
        2 => (any::<usize>(), status, proptest::option::of(usage_share()), proptest::option::of(sync_spec()))
            .prop_map(|(which, status, usage, sync)| LifeOp::Complete { which, status, usage, sync }),
    ]
}

/// How an admitted request ended.
#[derive(Debug, Clone, Copy)]
enum End {
    /// Still in flight: the up-front charge stands.
    InFlight,
    /// Cancelled: nothing counts.
    Cancelled,
    /// Settled or completed with this usage, or without one (the estimate stands).
    Settled(Option<Usage>),
    /// Completed as a 429 or 529 without usage: the request counts, its tokens do not.
    Refused,
}

#[derive(Debug, Clone)]
struct Admission {
    at: u64,
    cost: Cost,
    end: End,
}

impl Admission {
    /// What the request finally costs `kind` under the documented cost model; on actual-output
    /// lanes the up-front output charge is the engine's private estimate, so output counts 0
    /// there unless measured (the least it can be: the bound stays sound).
    fn final_charge(&self, model: CostModel, kind: LimitKind) -> u64 {
        let requests = u64::from(self.cost.requests().get());
        match self.end {
            End::Cancelled => 0,
            End::Refused => match kind {
                LimitKind::Requests => requests,
                _ => 0,
            },
            End::Settled(Some(usage)) => {
                let reads = match model.cache_reads {
                    CacheReads::Counted => usage.cache_read_input_tokens,
                    CacheReads::Excluded => 0,
                };
                let input = usage.input_tokens + usage.cache_creation_input_tokens + reads;
                match kind {
                    LimitKind::Requests => requests,
                    LimitKind::InputTokens => input,
                    LimitKind::OutputTokens => usage.output_tokens,
                    LimitKind::Tokens => input + usage.output_tokens,
                }
            }
            End::InFlight | End::Settled(None) => charge(model, kind, &self.cost),
        }
    }
}

/// Runs the life-cycle operations on one lane configured as `config` (`adopt`: whether it adopts
/// server limits), with time only moving forwards, and answers every admission with how it ended.
fn run_life_cycle(config: LaneConfig, adopt: bool, ops: &[LifeOp]) -> Vec<Admission> {
    let mut policy = Policy::<1, 64>::new();
    let lane = policy.add_lane(config).unwrap();
    let mut now = 0u64;
    let mut admitted: Vec<Admission> = Vec::new();
    let mut held: Vec<(Permit, usize)> = Vec::new();
    let take = |held: &mut Vec<(Permit, usize)>, which: usize| {
        if held.is_empty() {
            return None;
        }
        Some(held.swap_remove(which % held.len()))
    };
    for op in ops {
        let at = Instant::from_ticks(now);
        match op {
            LifeOp::Step(step) => now += step,
            LifeOp::Acquire { cost, background } => {
                let priority = if *background {
                    Priority::Background
                } else {
                    Priority::Interactive
                };
                if let Acquire::Admit(permit) = policy.acquire(at, lane, *cost, priority) {
                    held.push((permit, admitted.len()));
                    admitted.push(Admission {
                        at: now,
                        cost: *cost,
                        end: End::InFlight,
                    });
                }
            }
            LifeOp::Settle { which, usage, sync } => {
                let Some((permit, index)) = take(&mut held, *which) else {
                    continue;
                };
                let usage = usage.map(|share| share.usage(&admitted[index].cost));
                let result = match sync {
                    Some(sync) => policy.settle_with(
                        at,
                        permit,
                        usage,
                        &sync.snapshot(&config, adopt, Some(200)),
                    ),
                    None => policy.settle(at, permit, usage),
                };
                assert_eq!(result, Ok(()));
                admitted[index].end = End::Settled(usage);
            }
            LifeOp::Cancel { which } => {
                let Some((permit, index)) = take(&mut held, *which) else {
                    continue;
                };
                assert_eq!(policy.cancel(at, permit), Ok(()));
                admitted[index].end = End::Cancelled;
            }
            LifeOp::Observe(sync) => {
                assert_eq!(
                    policy.observe(at, lane, &sync.snapshot(&config, adopt, None)),
                    Ok(())
                );
            }
            LifeOp::Complete {
                which,
                status,
                usage,
                sync,
            } => {
                let Some((permit, index)) = take(&mut held, *which) else {
                    continue;
                };
                let snapshot = match sync {
                    Some(sync) => sync.snapshot(&config, adopt, Some(*status)),
                    None => Snapshot {
                        status: Some(*status),
                        ..Snapshot::default()
                    },
                };
                let usage = usage.map(|share| share.usage(&admitted[index].cost));
                let mut response = Response::new(&snapshot);
                if let Some(usage) = usage {
                    response = response.with_usage(usage);
                }
                let outcome = policy.complete(at, permit, &response, &mut FixedDraw(0));
                assert!(outcome.is_ok(), "{outcome:?}");
                let throttled = classify(*status, &snapshot, None).class().is_throttling();
                admitted[index].end = match usage {
                    None if throttled => End::Refused,
                    usage => End::Settled(usage),
                };
            }
        }
    }
    admitted
}

/// Checks guarantee 1 per configured pace over every interval between two admissions.
fn check_paced(config: LaneConfig, admitted: &[Admission]) -> Result<(), TestCaseError> {
    let model = config.cost_model();
    for kind in LimitKind::ALL {
        let Some(limit) = config.limit(kind) else {
            continue;
        };
        // Output is charged after the fact on actual-output lanes: no up-front bound exists.
        if model.output == OutputCharge::Actual
            && matches!(kind, LimitKind::OutputTokens | LimitKind::Tokens)
        {
            continue;
        }
        let burst = u128::from(limit.burst_for(kind));
        let amount = u128::from(limit.amount());
        let window_us = u128::from(limit.window_ms()) * 1_000;
        // A unit's refill time and the burst's are rounded up to the engine's fixed point
        // (2⁻²⁰ µs) and whole µs: at most ⌈burst · A / 2²⁰⌉ + A units·µs of slack.
        let rounding = (burst * amount).div_ceil(1 << 20) + amount;
        for (i, first) in admitted.iter().enumerate() {
            let mut total: u128 = 0;
            for admission in &admitted[i..] {
                total += u128::from(admission.final_charge(model, kind));
                let span = u128::from(admission.at - first.at);
                prop_assert!(
                    total * window_us <= span * amount + burst * window_us + rounding,
                    "{kind}: {total} units finally charged in {span} µs from {} µs \
                     (limit {amount} per {window_us} µs, burst {burst}): {admitted:?}",
                    first.at
                );
            }
        }
    }
    Ok(())
}

/// How the refund-exactness check syncs between admitting and cancelling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SyncBy {
    /// The response to a request admitted just before the probe.
    SettleWith,
    /// Headers observed without a permit.
    Observe,
}

/// Two policies built alike (same tag, so the same permits), run through `warmup`; one admits
/// `probe`, both sync `sync`, the probe is cancelled: every bucket must then agree.
fn check_refund_exact(
    config: LaneConfig,
    warmup: &[(u64, Cost)],
    probe: Cost,
    sync: &SyncSpec,
    how: SyncBy,
) -> Result<(), TestCaseError> {
    let build = || {
        let (mut policy, lane, at) = warmed_up(config, warmup);
        let responder = match how {
            SyncBy::SettleWith => {
                match policy.acquire(at, lane, Cost::request(0, 0), Priority::Interactive) {
                    Acquire::Admit(permit) => Some(permit),
                    _ => None,
                }
            }
            SyncBy::Observe => None,
        };
        (policy, lane, at, responder)
    };
    let (mut policy, lane, at, responder) = build();
    let (mut twin, _, _, twin_responder) = build();
    if how == SyncBy::SettleWith && responder.is_none() {
        return Ok(());
    }
    let Acquire::Admit(permit) = policy.acquire(at, lane, probe, Priority::Interactive) else {
        return Ok(());
    };
    let snapshot = sync.snapshot(&config, true, Some(200));
    for (policy, responder) in [(&mut policy, responder), (&mut twin, twin_responder)] {
        match responder {
            Some(responder) => policy.settle_with(at, responder, None, &snapshot).unwrap(),
            None => policy.observe(at, lane, &snapshot).unwrap(),
        }
    }
    policy.cancel(at, permit).unwrap();
    same_as_never_admitted(&policy, &twin, at, &(probe, snapshot))
}

/// Every bucket of `policy` as in `twin`, which never admitted the request `policy` just gave
/// back, within the fixed-point rounding. A correction takes our unseen charges as one sum of
/// units read as time once (rounded up), while a refund gives back one charge's own time rounded
/// up: up to a microsecond more than the correction took for it — one unit at most when a unit
/// refills in a microsecond or more, the units a microsecond holds when faster (more than a
/// million a second, as the highest OpenAI token tiers). On the cautious side, levels read
/// down and what the debt cap forgave (rounded up) may keep back up to two such roundings.
fn same_as_never_admitted(
    policy: &Policy<1, 64>,
    twin: &Policy<1, 64>,
    at: Instant,
    case: &dyn core::fmt::Debug,
) -> Result<(), TestCaseError> {
    let status: Vec<_> = policy.status(at).collect();
    let expected: Vec<_> = twin.status(at).collect();
    prop_assert_eq!(status.len(), expected.len());
    for (got, want) in status.iter().zip(&expected) {
        let (amount, window_us) = (
            u64::from(got.limit.amount()),
            u64::from(got.limit.window_ms()) * 1_000,
        );
        let per_us = amount.div_ceil(window_us);
        let close = |got: u64, want: u64| {
            if got <= want {
                want - got <= (2 * per_us).max(1)
            } else {
                got - want <= per_us
            }
        };
        let windows_close = match (got.window_available, want.window_available) {
            (Some(got), Some(want)) => close(got, want),
            (got, want) => got == want,
        };
        // The same rounding as time: later full by at most one unit's refill and a µs.
        let (got_full, want_full) = (got.time_to_full.as_ticks(), want.time_to_full.as_ticks());
        let full_close =
            want_full <= got_full && got_full - want_full <= window_us.div_ceil(amount) + 1;
        let rest = |status: &BucketStatus| BucketStatus {
            available: 0,
            window_available: None,
            time_to_full: headroom::time::Duration::from_ticks(0),
            ..*status
        };
        prop_assert!(
            close(got.available, want.available)
                && windows_close
                && full_close
                && rest(got) == rest(want),
            "after the refund {:?}, never admitted {:?}; {:?}",
            got,
            want,
            case
        );
    }
    Ok(())
}

/// A policy of one lane after `warmup` (steps in µs, each cost acquired and its permit
/// dropped), and the instant it reached.
fn warmed_up(config: LaneConfig, warmup: &[(u64, Cost)]) -> (Policy<1, 64>, LaneId, Instant) {
    let mut policy = Policy::<1, 64>::new().with_tag(NonZeroU32::new(7).unwrap());
    let lane = policy.add_lane(config).unwrap();
    let mut now = 0u64;
    for (step, cost) in warmup {
        now += step;
        if let Acquire::Admit(permit) =
            policy.acquire(Instant::from_ticks(now), lane, *cost, Priority::Interactive)
        {
            drop(permit);
        }
    }
    (policy, lane, Instant::from_ticks(now))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Guarantee 1 across the whole life cycle: over every interval of non-decreasing time,
    /// what the admitted requests finally cost each configured pace is at most
    /// `burst + rate × interval` (plus the fixed-point rounding), with settles (usage up to the
    /// estimate), syncs (lying, stale, honest), cancels and `complete` (any status) anywhere in
    /// between: none of them may give the pace back more than the request did not use.
    #[test]
        fn never_over_admits(
        config in lane_config(),
        shared in any::<bool>(),
        adopt in any::<bool>(),
        ops in proptest::collection::vec(life_op(), 1..160),
    ) {
        let config = config.shared_key(shared).adopt_server_limits(adopt);
        check_paced(config, &run_life_cycle(config, adopt, &ops))?;
    }

    /// Guarantee 2: a request that fits is admitted at the instant `Wait` named, and not a
    /// microsecond before; a refusal (wait or reject) changes no bucket.
    #[test]
    fn admitted_exactly_when_promised(config in lane_config(), warmup in proptest::collection::vec((0u64..500_000, cost()), 0..40), probe in cost(), background in any::<bool>()) {
        let mut policy = Policy::<1, 256>::new();
        let lane = policy.add_lane(config.provisional_requests(None)).unwrap();
        let mut now = 1_000_000u64;
        for (step, cost) in warmup {
            now += step;
            let _ = policy.acquire(Instant::from_ticks(now), lane, cost, Priority::Interactive);
        }
        let priority = if background { Priority::Background } else { Priority::Interactive };
        let before: Vec<_> = policy.status(Instant::from_ticks(now)).collect();
        match policy.acquire(Instant::from_ticks(now), lane, probe, priority) {
            Acquire::Wait { until, .. } => {
                prop_assert!(until.as_ticks() > now);
                let after: Vec<_> = policy.status(Instant::from_ticks(now)).collect();
                prop_assert_eq!(&before, &after);
                let early = Instant::from_ticks(until.as_ticks() - 1);
                let is_wait = matches!(policy.acquire(early, lane, probe, priority), Acquire::Wait { .. });
                prop_assert!(is_wait);
                let is_admit = matches!(policy.acquire(until, lane, probe, priority), Acquire::Admit(_));
                prop_assert!(is_admit);
            }
            Acquire::Reject(_) => {
                let after: Vec<_> = policy.status(Instant::from_ticks(now)).collect();
                prop_assert_eq!(&before, &after);
            }
            Acquire::Admit(_) => {}
        }
    }

    /// Guarantees 3 and 4: any sequence of operations, any costs, any times (also backwards),
    /// any snapshots: no panic, and the same inputs give the same answers.
    #[test]
    fn total_and_deterministic(configs in proptest::collection::vec(lane_config(), 1..=2), start in any::<u64>(), ops in proptest::collection::vec(op(), 0..200)) {
        let first = run(&configs, start, &ops);
        let second = run(&configs, start, &ops);
        prop_assert_eq!(first, second);
    }

    /// Cancelling right after acquiring restores every bucket exactly; settling with the
    /// estimate as usage (reserve mode, no cache reads) changes nothing either.
    #[test]
    fn cancel_and_exact_settle_restore(config in lane_config(), warmup in proptest::collection::vec((0u64..500_000, cost()), 0..20), probe in cost()) {
        let config = config.provisional_requests(None).with_cost_model(CostModel::ANTHROPIC_LEGACY);
        let mut policy = Policy::<1, 256>::new();
        let lane = policy.add_lane(config).unwrap();
        let mut now = 0u64;
        for (step, cost) in warmup {
            now += step;
            let _ = policy.acquire(Instant::from_ticks(now), lane, cost, Priority::Interactive);
        }
        let at = Instant::from_ticks(now);
        let before: Vec<_> = policy.status(at).collect();
        if let Acquire::Admit(permit) = policy.acquire(at, lane, probe, Priority::Interactive) {
            policy.cancel(at, permit).unwrap();
            prop_assert_eq!(&before, &policy.status(at).collect::<Vec<_>>());
        }
        let before: Vec<_> = policy.status(at).collect();
        if let Acquire::Admit(permit) = policy.acquire(at, lane, probe, Priority::Interactive) {
            let charged: Vec<_> = policy.status(at).collect();
            let usage = Usage { input_tokens: probe.input_tokens(), output_tokens: probe.max_tokens(), ..Usage::default() };
            policy.settle(at, permit, Some(usage)).unwrap();
            prop_assert_eq!(&charged, &policy.status(at).collect::<Vec<_>>());
            prop_assert!(before.iter().zip(&charged).all(|(b, c)| c.available <= b.available));
        }
    }

    /// Syncing a snapshot never lets the next acquisitions admit more than the server's
    /// `remaining` minus what our in-flight requests may still charge unseen.
    #[test]
    fn synced_level_bounds_admission(in_flight in proptest::collection::vec(1u64..5_000, 0..10), limit in 1u64..200_000, remaining in 0u64..200_000, dialect_anthropic in any::<bool>()) {
        let remaining = remaining.min(limit);
        let mut policy = Policy::<1, 256>::new();
        let lane = policy.add_lane(LaneConfig::new().provisional_requests(None)).unwrap();
        let t0 = Instant::from_ticks(0);
        let mut unseen = 0u64;
        for cost in &in_flight {
            if let Acquire::Admit(permit) = policy.acquire(t0, lane, Cost::request(*cost, 0), Priority::Interactive) {
                unseen += cost;
                drop(permit);
            }
        }
        let mut snapshot = Snapshot { dialect: if dialect_anthropic { Dialect::Anthropic } else { Dialect::OpenAi }, ..Snapshot::default() };
        snapshot.quotas[Scope::InputTokens.index()] = Some(Quota { limit: Some(limit), remaining: Some(remaining), ..Quota::default() });
        policy.observe(t0, lane, &snapshot).unwrap();
        let mut admitted = 0u64;
        let chunk = (limit / 50).max(1);
        while let Acquire::Admit(_) = policy.acquire(t0, lane, Cost::request(chunk, 0), Priority::Interactive) {
            admitted += chunk;
            prop_assert!(admitted <= limit * 2, "runaway admission");
        }
        prop_assert!(admitted <= remaining.saturating_sub(unseen), "admitted {admitted} of {remaining} with {unseen} unseen");
    }

    /// Refunds are exact: a request admitted and cancelled at one instant leaves every bucket
    /// as a twin that never admitted it, even when the response to an earlier request, synced
    /// in between, took its charge from windows learned after its admission (it was unseen).
    /// Here the unseen charge stays within what a window may owe (one window's worth: usual
    /// costs, reported limits of at least 100 000); beyond it, see the next property.
    #[test]
    fn refunds_are_exact(
        config in lane_config(),
        shared in any::<bool>(),
        warmup in proptest::collection::vec((0u64..2_000_000, cost()), 0..20),
        probe in moderate_cost(),
        sync in sync_spec_from(100_000),
    ) {
        check_refund_exact(config.shared_key(shared), &warmup, probe, &sync, SyncBy::SettleWith)?;
    }

    /// Refunds are exact when the unseen charge is larger than a window may owe.
    #[test]
    fn refunds_are_exact_beyond_the_debt_cap(
        config in lane_config(),
        shared in any::<bool>(),
        warmup in proptest::collection::vec((0u64..2_000_000, cost()), 0..20),
        probe in cost(),
        sync in sync_spec(),
    ) {
        check_refund_exact(config.shared_key(shared), &warmup, probe, &sync, SyncBy::SettleWith)?;
    }

    /// Refunds are exact when the sync in between is an observation (headers without a permit
    /// of ours, which takes every in-flight charge as unseen).
    #[test]
    fn refunds_are_exact_across_an_observation(
        config in lane_config(),
        shared in any::<bool>(),
        warmup in proptest::collection::vec((0u64..2_000_000, cost()), 0..20),
        probe in cost(),
        sync in sync_spec(),
    ) {
        check_refund_exact(config.shared_key(shared), &warmup, probe, &sync, SyncBy::Observe)?;
    }
}

/// [`refunds_are_exact_after_a_capped_debit`]: a request `first` admitted beside the probe
/// settles with `usage` (possibly far above its estimate, so that the debit hits the debt cap);
/// then the probe is cancelled. Every bucket must end as in a twin that never admitted the probe.
fn check_refund_exact_after_debit(
    config: LaneConfig,
    warmup: &[(u64, Cost)],
    first_cost: Cost,
    usage: Usage,
    probe: Cost,
) -> Result<(), TestCaseError> {
    let build = || {
        let (mut policy, lane, at) = warmed_up(config, warmup);
        let first = match policy.acquire(at, lane, first_cost, Priority::Interactive) {
            Acquire::Admit(permit) => Some(permit),
            _ => None,
        };
        (policy, lane, at, first)
    };
    let (mut policy, lane, at, first) = build();
    let (mut twin, _, _, twin_first) = build();
    let (Some(first_permit), Some(twin_first)) = (first, twin_first) else {
        return Ok(());
    };
    let Acquire::Admit(permit) = policy.acquire(at, lane, probe, Priority::Interactive) else {
        return Ok(());
    };
    policy.settle(at, first_permit, Some(usage)).unwrap();
    twin.settle(at, twin_first, Some(usage)).unwrap();
    policy.cancel(at, permit).unwrap();
    same_as_never_admitted(&policy, &twin, at, &(first_cost, usage, probe))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1024, ..ProptestConfig::default() })]

    /// Refunds are exact after a debit the debt cap cut short: a request that settles far above
    /// its estimate owes at most one window, so part of its debit is forgiven; cancelling
    /// another request admitted beside it must not give that forgiven part back.
    #[test]
    fn refunds_are_exact_after_a_capped_debit(
        config in lane_config(),
        shared in any::<bool>(),
        warmup in proptest::collection::vec((0u64..2_000_000, moderate_cost()), 0..20),
        first in moderate_cost(),
        usage in usage(),
        probe in moderate_cost(),
    ) {
        check_refund_exact_after_debit(config.shared_key(shared), &warmup, first, usage, probe)?;
    }
}

fn charge(model: CostModel, kind: LimitKind, cost: &Cost) -> u64 {
    let output = match model.output {
        OutputCharge::Reserve => cost.max_tokens(),
        OutputCharge::Actual => 0,
    };
    match kind {
        LimitKind::Requests => u64::from(cost.requests().get()),
        LimitKind::InputTokens => cost.input_tokens(),
        LimitKind::OutputTokens => output,
        LimitKind::Tokens => cost.input_tokens().saturating_add(output),
    }
}

/// All or nothing, the engine clock included: a refused request leaves the policy byte for byte
/// as it was, so it cannot change a later decision. Twins admit at 1 000 s; one of them is then
/// refused at 100 s (a correction of the caller's clock); at 101 s both must answer alike.
/// A refusal changes nothing, not even the engine clock: the decision is taken at the time
/// the clock would move to, and it moves only on an admission. (The one exception, tested in
/// the clock's unit tests: a step back larger than the clock-step bound is a correction of the
/// caller's clock, and later steps count from the corrected clock.)
#[test]
fn a_refusal_moves_nothing_not_even_the_clock() {
    let config = LaneConfig::new().requests(Limit::per_minute(NonZeroU32::new(60).unwrap()));
    let mut refused = Policy::<1, 4>::new().with_tag(NonZeroU32::new(1).unwrap());
    let lane = refused.add_lane(config).unwrap();
    let mut untouched = refused.clone();
    let request = Cost::request(0, 0);
    for policy in [&mut refused, &mut untouched] {
        let admitted = policy.acquire(
            Instant::from_ticks(1_000_000_000),
            lane,
            request,
            Priority::Interactive,
        );
        assert!(matches!(admitted, Acquire::Admit(_)));
    }
    let before = format!("{refused:?}");
    // 1 000 s → 999.5 s (a small step back) and then 1 000.2 s: both refused, nothing moved.
    for now in [999_500_000, 1_000_200_000] {
        let answer = refused.acquire(
            Instant::from_ticks(now),
            lane,
            request,
            Priority::Interactive,
        );
        assert!(matches!(answer, Acquire::Wait { .. }), "{answer:?}");
    }
    let answer = refused.acquire(
        Instant::from_ticks(1_000_500_000),
        lane,
        request,
        Priority::Interactive,
    );
    assert!(matches!(answer, Acquire::Wait { .. }), "{answer:?}");
    assert_eq!(
        format!("{refused:?}"),
        before,
        "the refusal changed the policy"
    );
    let later = Instant::from_ticks(1_001_000_000);
    assert_eq!(
        refused.acquire(later, lane, request, Priority::Interactive),
        untouched.acquire(later, lane, request, Priority::Interactive),
    );
}
