//! Properties of the retry schedule and the budget (DESIGN guarantees 3 and 4): every delay in
//! range, nominal delays monotone, budgets within `[0, max]`, and the same seed giving the same
//! delays.

#![allow(
    clippy::arithmetic_side_effects,
    reason = "test code; the RNG's wrapping math is explicit"
)]

mod support;

use headroom::backoff::{
    AboveCeiling, Attempt, Backoff, Jitter, RetryAfterPolicy, RetryBudget, Unusable, retry_at,
};
use headroom::classify::GiveUp;
use headroom::headers::Reading;
use headroom::time::{Duration, Instant};
use proptest::prelude::*;
use support::SplitMix64;

fn jitter() -> impl Strategy<Value = Jitter> {
    prop_oneof![
        Just(Jitter::None),
        Just(Jitter::Full),
        Just(Jitter::Equal),
        Just(Jitter::Decorrelated),
        any::<u16>().prop_map(|per_mille| Jitter::Proportional { per_mille }),
        any::<u16>().prop_map(|per_mille| Jitter::Additive { per_mille }),
    ]
}

fn ticks() -> impl Strategy<Value = u64> {
    prop_oneof![0..2_000_000u64, any::<u64>(), Just(u64::MAX), Just(0)]
}

fn above() -> impl Strategy<Value = AboveCeiling> {
    prop_oneof![
        Just(AboveCeiling::WaitAnyway),
        Just(AboveCeiling::Backoff),
        Just(AboveCeiling::GiveUp),
        Just(AboveCeiling::AtOnce),
    ]
}

fn unusable() -> impl Strategy<Value = Unusable> {
    prop_oneof![Just(Unusable::Backoff), Just(Unusable::AtOnce),]
}

/// Whether a policy retries at once for a server value it does not take as is.
fn at_once(policy: &RetryAfterPolicy, above: bool) -> bool {
    matches!(
        (above, policy.above_ceiling, policy.unusable),
        (true, AboveCeiling::AtOnce, _) | (false, _, Unusable::AtOnce)
    )
}

fn schedule() -> impl Strategy<Value = Backoff> {
    (
        ticks(),
        ticks(),
        any::<u32>(),
        jitter(),
        any::<bool>(),
        ticks(),
        above(),
        (unusable(), any::<bool>()),
    )
        .prop_map(
            |(
                base,
                cap,
                max_retries,
                jitter,
                accept_zero,
                ceiling,
                above_ceiling,
                (unusable, floor),
            )| {
                Backoff {
                    base: Duration::from_ticks(base),
                    cap: Duration::from_ticks(cap),
                    max_retries,
                    jitter,
                    retry_after: RetryAfterPolicy {
                        reading: Reading::Strict,
                        accept_zero,
                        ceiling: Duration::from_ticks(ceiling),
                        above_ceiling,
                        unusable,
                        floor,
                    },
                }
            },
        )
}

fn presets() -> impl Strategy<Value = Backoff> {
    prop_oneof![
        Just(Backoff::anthropic_python()),
        Just(Backoff::anthropic_typescript()),
        Just(Backoff::openai_python()),
        Just(Backoff::guide_loop()),
        Just(Backoff::aws_standard(true)),
        Just(Backoff::aws_standard(false)),
        Just(Backoff::default()),
    ]
}

proptest! {
    /// Without a server delay every delay is in [0, cap], for any schedule, retry count and seed.
    #[test]
    fn backoff_delay_within_cap(b in schedule(), retries in any::<u32>(), prev in ticks(), seed in any::<u64>(), steps in 1..8usize) {
        let b = b.with_max_retries(u32::MAX);
        let mut state = Attempt::with_retries(retries.min(u32::MAX - 8));
        let mut rng = SplitMix64(seed);
        // Seed a previous delay through an obeyed server value, then run on backoff alone.
        let seeded = Backoff { retry_after: RetryAfterPolicy { reading: Reading::Strict, accept_zero: true, ceiling: Duration::MAX, above_ceiling: AboveCeiling::WaitAnyway, unusable: Unusable::Backoff, floor: false }, ..b };
        seeded.next_delay(&mut state, Some(Duration::from_ticks(prev)), &mut rng).unwrap();
        for _ in 0..steps {
            let d = b.next_delay(&mut state, None, &mut rng).unwrap();
            prop_assert!(d <= b.cap, "{d:?} > cap {:?}", b.cap);
        }
    }

    /// With a server delay: a refusal only for GiveUp above the ceiling; otherwise the delay is
    /// at most max(cap, server delay), and an accepted delay is never undercut.
    #[test]
    fn server_delay_policy(b in schedule(), server in ticks(), retries in 0..64u32, seed in any::<u64>()) {
        let b = b.with_max_retries(u32::MAX);
        let server = Duration::from_ticks(server);
        let mut state = Attempt::with_retries(retries);
        let got = b.next_delay(&mut state, Some(server), &mut SplitMix64(seed));
        let above = server > b.retry_after.ceiling;
        match got {
            Err(why) => {
                prop_assert_eq!(why, GiveUp::ServerDelayTooLong);
                prop_assert!(above && b.retry_after.above_ceiling == AboveCeiling::GiveUp);
            }
            Ok(d) => {
                prop_assert!(d <= b.cap.max(server));
                let accepted = b.retry_after.accepts(server);
                let obeyed = accepted
                    || (above && b.retry_after.above_ceiling == AboveCeiling::WaitAnyway);
                if obeyed {
                    prop_assert!(d >= server);
                    if !b.retry_after.floor { prop_assert_eq!(d, server); }
                } else if at_once(&b.retry_after, above) {
                    if !b.retry_after.floor { prop_assert_eq!(d, Duration::ZERO); }
                    prop_assert!(d <= b.cap);
                } else {
                    prop_assert!(d <= b.cap);
                }
                prop_assert_eq!(state.retries(), retries + 1);
            }
        }
    }

    /// Presets: backoff delays stay within the documented bounds.
    #[test]
    fn preset_bounds(b in presets(), server in proptest::option::of(ticks()), seed in any::<u64>()) {
        let mut state = Attempt::first();
        let mut rng = SplitMix64(seed);
        let server = server.map(Duration::from_ticks);
        while let Ok(d) = b.next_delay(&mut state, server, &mut rng) {
            prop_assert!(d <= b.cap || Some(d) == server);
        }
        prop_assert!(state.retries() <= b.max_retries);
    }

    /// The nominal delay is non-decreasing in the retry count and never above the cap.
    #[test]
    fn nominal_monotone(base in ticks(), cap in ticks(), n in any::<u32>()) {
        let b = Backoff::new(Duration::from_ticks(base), Duration::from_ticks(cap));
        let m = n.saturating_add(1);
        prop_assert!(b.nominal_delay(n) <= b.nominal_delay(m));
        prop_assert!(b.nominal_delay(n) <= b.cap);
    }

    /// The same seed gives the same delays; the schedule holds no hidden state.
    #[test]
    fn deterministic_for_a_seed(b in schedule(), seed in any::<u64>(), server in proptest::option::of(ticks())) {
        let b = b.with_max_retries(16);
        let run = || {
            let mut state = Attempt::first();
            let mut rng = SplitMix64(seed);
            (0..20).map(|_| b.next_delay(&mut state, server.map(Duration::from_ticks), &mut rng)).collect::<Vec<_>>()
        };
        prop_assert_eq!(run(), run());
    }

    /// A retry instant is never at or past the deadline, and never before now.
    #[test]
    fn retry_at_never_crosses_deadline(now in ticks(), delay in ticks(), deadline in proptest::option::of(ticks())) {
        match retry_at(Instant::from_ticks(now), Duration::from_ticks(delay), deadline.map(Instant::from_ticks)) {
            Ok(at) => {
                prop_assert!(at.as_ticks() >= now);
                if let Some(d) = deadline { prop_assert!(at.as_ticks() < d); }
            }
            Err(why) => prop_assert_eq!(why, GiveUp::DeadlineExceeded),
        }
    }

    /// Budgets stay in [0, max] under any sequence of failures, retries and successes.
    #[test]
    fn budget_stays_in_range(
        mode in 0..4u8,
        max_tokens in 0..2_000u32,
        ratio in 0..5_000u32,
        costs in (any::<u32>(), any::<u32>(), any::<u32>()),
        ops in proptest::collection::vec((0..3u8, any::<bool>()), 0..400),
    ) {
        let mut budget = match mode {
            0 => RetryBudget::token_ratio(max_tokens, ratio),
            1 => RetryBudget::quota(max_tokens, costs.0 % 600, costs.1 % 600, costs.2 % 600),
            2 => RetryBudget::aws_standard(),
            _ => RetryBudget::unlimited(),
        };
        let max = budget.max();
        let mut state = Attempt::first();
        for (op, throttled) in ops {
            let before = budget.level();
            match op {
                0 => budget.record_failure(),
                1 => {
                    if budget.try_retry(throttled, &mut state).is_err() {
                        prop_assert_eq!(budget.level(), before, "a refusal withdraws nothing");
                    }
                }
                _ => {
                    budget.record_success(&state);
                    state = Attempt::first();
                    prop_assert!(budget.level() >= before);
                }
            }
            prop_assert!(budget.level() <= max);
            prop_assert_eq!(budget.max(), max);
        }
    }
}
