//! Property tests: one per guarantee in DESIGN.md ("What the core guarantees").
//!
//! Guarantee 1, never over-admit; guarantee 2, never starve (admitted exactly at the `Wait`
//! instant, not before); guarantee 3, total on any input; guarantee 4, deterministic; guarantee
//! 5, fixed memory (`size_of` bounded by `static_assertions` below). Plus the life-cycle laws:
//! refusals change nothing, cancel restores exactly, settling to the estimate is a no-op, and a
//! synced snapshot bounds what is admitted next.

use core::num::NonZeroU32;

use headroom::headers::{Dialect, Quota, Scope, Snapshot};
use headroom::time::Instant;
use headroom::{
    Acquire, BucketStatus, CacheReads, Cost, CostModel, LaneConfig, LaneId, Limit, LimitKind,
    OutputCharge, Permit, Policy, Priority, Usage,
};
use proptest::prelude::*;

type TestPolicy = Policy<2, 16>;

// Fixed memory: the usual policy, with what each in-flight request needs to be retried, stays
// within 6 KiB (a pace and a provider window per limit; see the README memory table).
static_assertions::const_assert!(core::mem::size_of::<Policy<4, 32>>() <= 6144);
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
        6 => (0u8..3, cost(), any::<bool>()).prop_map(|(lane, cost, background)| Op::Acquire { lane, cost, background }),
        3 => (any::<usize>(), proptest::option::of(usage()), proptest::option::of(snapshot())).prop_map(|(which, usage, snapshot)| Op::Settle { which, usage, snapshot }),
        1 => any::<usize>().prop_map(|which| Op::Cancel { which }),
        1 => (0u8..3, snapshot()).prop_map(|(lane, snapshot)| Op::Observe { lane, snapshot }),
    ]
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
                match policy.acquire(Instant::from_ticks(now), lane, *cost, priority) {
                    Acquire::Admit(permit) => {
                        transcript.push(format!("admit {}", permit.id()));
                        permits.push(permit);
                    }
                    other => transcript.push(format!("{other:?}")),
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

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Guarantee 1: over every interval, each bucket admits at most burst + rate × interval
    /// (within the documented rounding of under 2 µs of refill).
    #[test]
    fn never_over_admits(config in lane_config(), steps in proptest::collection::vec((0u64..3_000_000, cost(), any::<bool>()), 1..120)) {
        let config = config.provisional_requests(None);
        let mut policy = Policy::<1, 256>::new();
        let lane = policy.add_lane(config).unwrap();
        let model = config.cost_model();
        let mut now = 0u64;
        let mut admitted: Vec<(u64, Cost)> = Vec::new();
        for (step, cost, background) in steps {
            now += step;
            let priority = if background { Priority::Background } else { Priority::Interactive };
            if let Acquire::Admit(permit) = policy.acquire(Instant::from_ticks(now), lane, cost, priority) {
                admitted.push((now, cost));
                drop(permit);
            }
        }
        for kind in LimitKind::ALL {
            let Some(limit) = config.limit(kind) else { continue };
            let burst = u128::from(limit.burst_for(kind));
            let amount = u128::from(limit.amount());
            let window_us = u128::from(limit.window_ms()) * 1_000;
            for i in 0..admitted.len() {
                let mut total: u128 = 0;
                for (at, cost) in &admitted[i..] {
                    total += u128::from(charge(model, kind, cost));
                    let span = u128::from(at - admitted[i].0);
                    prop_assert!(
                        total * window_us <= span * amount + burst * window_us + 2 * amount,
                        "{kind}: {total} units in {span} µs (limit {amount}/{window_us} µs, burst {burst})"
                    );
                }
            }
        }
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
