//! A combined tokens limit implied by the input and output limits is not metered (a lane that
//! reserves `max_tokens`; see `Lane::tokens_implied`): the engine must then never admit more
//! input and output together than the provider's combined bucket holds.
//!
//! The provider is modelled exactly here: a GCRA bucket of the summed rate and capacity,
//! starting at the `remaining` it reported, charged `input + max_tokens` at every admission
//! the engine makes, its level kept in units × µs of the window so that no refill is rounded.
//! Any sequence of costs and instants the engine admits must leave it at or above zero. A
//! combined limit below the sum binds on its own: the engine meters it, and the same bound
//! holds.

use headroom::headers::{Dialect, Quota, Scope, Snapshot};
use headroom::time::Instant;
use headroom::{Acquire, Cost, CostModel, LaneConfig, LimitKind, Policy, Priority};
use proptest::prelude::*;

const WINDOW_US: u64 = 60_000_000;

/// Anthropic's first response on a key alone: requests, input, output and the combined quota
/// (limit, remaining) of each.
fn first_response(input: (u64, u64), output: (u64, u64), combined: (u64, u64)) -> Snapshot {
    let mut snapshot = Snapshot {
        dialect: Dialect::Anthropic,
        status: Some(200),
        ..Snapshot::default()
    };
    let quotas = [
        (Scope::Requests, 100_000, 100_000),
        (Scope::InputTokens, input.0, input.1),
        (Scope::OutputTokens, output.0, output.1),
        (Scope::Tokens, combined.0, combined.1),
    ];
    for (scope, limit, remaining) in quotas {
        snapshot.quotas[scope.index()] = Some(Quota {
            limit: Some(limit),
            remaining: Some(remaining),
            ..Quota::default()
        });
    }
    snapshot
}

/// The provider's combined bucket: `level` in units × µs of the window (a unit refills in
/// `WINDOW_US / rate` µs), capped at the capacity.
struct Combined {
    rate: u64,
    level: i128,
    at: u64,
}

impl Combined {
    fn charge(&mut self, now: u64, units: u64) -> i128 {
        let cap = i128::from(self.rate) * i128::from(WINDOW_US);
        let refill = i128::from(self.rate) * i128::from(now - self.at);
        self.level = (self.level + refill).min(cap) - i128::from(units) * i128::from(WINDOW_US);
        self.at = now;
        self.level
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn admissions_never_overdraw_an_implied_combined_limit(
        input_limit in 1_000u64..200_000,
        output_limit in 1_000u64..80_000,
        input_spent in 0u64..=100,
        output_spent in 0u64..=100,
        // The combined limit as a percentage of the sum; 100 and above: implied.
        combined_percent in prop_oneof![Just(100u64), 101u64..150, 50u64..100],
        requests in proptest::collection::vec(
            (0u64..20_000_000, 1u64..20_000, 0u64..8_000),
            1..120,
        ),
    ) {
        // What the first response reports remaining, as a share of each limit.
        let input_remaining = input_limit * (100 - input_spent) / 100;
        let output_remaining = output_limit * (100 - output_spent) / 100;
        let mut policy: Policy<1, 256> = Policy::new();
        let lane = policy
            .add_lane(
                LaneConfig::new()
                    .with_cost_model(CostModel::ANTHROPIC_LEGACY)
                    .shared_key(false),
            )
            .unwrap();
        let combined_limit = (input_limit + output_limit) * combined_percent / 100;
        let combined_remaining = (input_remaining + output_remaining).min(combined_limit);
        let snapshot = first_response(
            (input_limit, input_remaining),
            (output_limit, output_remaining),
            (combined_limit, combined_remaining),
        );
        policy.observe(Instant::from_ticks(0), lane, &snapshot).unwrap();
        // Implied: no combined meter at all; below the sum: metered.
        let metered = policy
            .status(Instant::from_ticks(0))
            .any(|status| status.kind == LimitKind::Tokens);
        prop_assert_eq!(metered, combined_percent < 100);
        let mut combined = Combined {
            rate: combined_limit,
            level: i128::from(combined_remaining) * i128::from(WINDOW_US),
            at: 0,
        };
        let mut now = 0;
        for (step, input, max_tokens) in requests {
            now += step;
            let cost = Cost::request(input, max_tokens);
            if let Acquire::Admit(_) =
                policy.acquire(Instant::from_ticks(now), lane, cost, Priority::Interactive)
            {
                let level = combined.charge(now, input + max_tokens);
                prop_assert!(
                    level >= 0,
                    "admitted {input} + {max_tokens} at {now} µs: the combined bucket is at {level}"
                );
            }
        }
    }
}
