//! `static` and `static-split`: the strongest limiter a user can configure without reading a
//! header, what one would pick instead of headroom (governor with the published numbers).
//!
//! * Client-side buckets at the limits the trace declares ([`lane_limit`]): requests with a
//!   burst of one second's worth, tokens with a burst of the whole minute, built from the core's
//!   [`Policy`](headroom::Policy) with header sync never used (no snapshot is ever passed in).
//! * Each request charges its input estimate and its output as the provider counts it (the
//!   same [`CostModel`](headroom::CostModel) as headroom's: `max_tokens` reserved when the
//!   provider reserves it, [`OutputCharge::Reserve`](headroom::OutputCharge::Reserve); a
//!   learned average when it counts output as generated,
//!   [`OutputCharge::Actual`](headroom::OutputCharge::Actual)) and waits in a FIFO queue per
//!   lane until every bucket has room.
//! * A 2xx settles the charge to the response's `usage` (the over-reservation comes back), but
//!   the limiter does not learn from it: input estimates are charged as given
//!   ([`LaneConfig::calibrate_estimates`] off); any
//!   other answer refunds the whole charge ([`Policy::cancel`](headroom::Policy::cancel)): a
//!   refused request used nothing.
//! * Retries follow the official SDK's schedule ([`super::sdk_backoff`], `retry-after` honoured)
//!   and go through the limiter again.
//! * `static-split` is the same at `limit ÷ N` per client, for a fleet of N gateways sharing a
//!   key: what an operator who knows the fleet's size configures.

use std::num::NonZeroU32;

use headroom::backoff::RetryBudget;
use headroom::time::Instant;
use headroom::{LaneConfig, Limit, LimitKind};

use super::headroom::cost_model;
use super::paced::{Paced, PacedClient};
use super::{After, Retrier, lane_limit, sdk_backoff};
use crate::engine::{Reply, Sim};
use crate::upstream::UpstreamConfig;
use crate::workload::Workload;

/// A client-side limiter at fixed, configured limits.
#[derive(Debug)]
pub struct StaticLimiter {
    paced: Paced,
    retrier: Retrier,
}

impl StaticLimiter {
    /// The limiter for `workload` at its declared limits divided by `split` (1: the published
    /// limits).
    pub fn new(workload: &Workload, config: &UpstreamConfig, split: u32) -> Self {
        let model = cost_model(config);
        let split = u64::from(split.max(1));
        let paced = Paced::new(workload, |lane| {
            let lane = u8::try_from(lane).unwrap_or(u8::MAX);
            // A plain limiter charges what it is told: no learning of estimate bias.
            let mut lane_config = LaneConfig::new()
                .with_cost_model(model)
                .calibrate_estimates(false);
            for kind in LimitKind::ALL {
                let per_minute = lane_limit(workload, lane, kind).map(|limit| {
                    let share = u32::try_from(limit / split).unwrap_or(u32::MAX);
                    Limit::per_minute(NonZeroU32::new(share).unwrap_or(NonZeroU32::MIN))
                });
                lane_config = lane_config.with_limit(kind, per_minute);
            }
            lane_config
        });
        Self {
            paced,
            retrier: Retrier::new(
                sdk_backoff(workload),
                RetryBudget::unlimited(),
                workload.requests.len(),
            ),
        }
    }
}

impl PacedClient for StaticLimiter {
    fn paced(&mut self) -> &mut Paced {
        &mut self.paced
    }

    fn respond(&mut self, sim: &mut Sim<'_>, response: &Reply) {
        let request = response.request;
        if let Some(permit) = self.paced.take_permit(request) {
            let now = Instant::from_ticks(sim.now());
            let policy = self.paced.policy_mut();
            // A permit from this policy is always known: the result carries nothing to act on.
            let _ = if (200..300).contains(&response.status) {
                policy.settle(now, permit, Some(sim.request(request).usage))
            } else {
                policy.cancel(now, permit)
            };
        }
        if let After::RetryAt(at) = self.retrier.decide(sim, response) {
            let attempt = self.paced.attempt(request);
            self.paced.retry_at(sim, request, at, attempt);
        }
    }
}
