//! `headroom`: the engine under test.
//!
//! * One [`Policy`](headroom::Policy) lane per workload lane, built with [`LaneConfig::new`]:
//!   **no limits configured**. The lane paces provisionally until the first response's headers,
//!   read by the core's real parser, teach it the limits; from then on every response's snapshot
//!   corrects the levels ([`Policy::complete`](headroom::Policy::complete)). Learning is the
//!   product's story, so the simulation starts from zero knowledge, as a fresh process would.
//! * The cost model is the one thing configured, as a user would configure it from the
//!   provider's documentation: whether cache reads count, and how output counts — reserved
//!   (`max_tokens` up front, settled to the actual output) where the provider reserves it, and
//!   charged as a learned average of real outputs (capped at `max_tokens`, settled to the truth)
//!   where the provider counts output as it is generated (current Anthropic docs). Reserving
//!   `max_tokens` against a provider that counts only what is generated would hold every
//!   request back for a whole `max_tokens` of output bucket it never uses (× 3 on the
//!   small-burst scenario). The `static` baseline uses the same cost model.
//! * `headroom-fleet` is the same engine told its place in a fleet of N gateways
//!   ([`LaneConfig::fleet_member`]): it sends requests only in its own slots of the key's
//!   request interval, so the members never collide in the provider's request bucket; what
//!   `static-split` is told (N), plus its own index.
//! * Requests wait in a FIFO queue per lane ([`Paced`]).
//! * A response goes to `Policy::complete` with its status, its header snapshot (the core's
//!   parser) and its usage: the core settles the permit (a refused attempt's tokens are
//!   refunded), syncs the lane from the headers, classifies, and answers done, retry at T or
//!   give up. A 429 with rate-limit headers is retried when the synced buckets have room for
//!   this request again, plus a little jitter; a 529 follows the policy's default backoff
//!   schedule under its retry budget; `retry-after` is a floor. A retry re-enters the front of
//!   its lane's queue at T with the attempt the core handed back.

use headroom::headers::Snapshot;
use headroom::time::Instant;
use headroom::{
    CacheReads, CostModel, FleetMember, LaneConfig, Outcome, OutputCharge, Response, Retry,
};

use super::paced::{Paced, PacedClient};
use crate::engine::{Reply, Sim};
use crate::upstream::{OutputAccounting, UpstreamConfig};
use crate::workload::Workload;

/// The headroom engine as a client strategy.
#[derive(Debug)]
pub struct HeadroomStrategy {
    paced: Paced,
    /// The snapshot of the response being handled, refilled for each one.
    snapshot: Snapshot,
}

/// The cost model of a client that knows whether the provider counts cache reads and reserves
/// `max_tokens` for output.
pub(crate) fn cost_model(config: &UpstreamConfig) -> CostModel {
    let cache_reads = if config.cache_reads_counted {
        CacheReads::Counted
    } else {
        CacheReads::Excluded
    };
    let output = match config.output {
        OutputAccounting::Reserve => OutputCharge::Reserve,
        OutputAccounting::Actual => OutputCharge::Actual,
    };
    CostModel::new(cache_reads, output)
}

impl HeadroomStrategy {
    /// The strategy for `workload` against a provider configured by `config`; `member` is its
    /// place in a fleet when it has been told one.
    pub fn new(workload: &Workload, config: &UpstreamConfig, member: Option<FleetMember>) -> Self {
        let lane_config = LaneConfig::new()
            .with_cost_model(cost_model(config))
            .fleet_member(member);
        Self {
            paced: Paced::new(workload, |_| lane_config),
            snapshot: Snapshot::default(),
        }
    }

    fn complete(&mut self, sim: &mut Sim<'_>, response: &Reply) -> Option<Outcome<Retry>> {
        let request = response.request;
        sim.snapshot_into(response, &mut self.snapshot);
        let mut answer = Response::new(&self.snapshot);
        if (200..300).contains(&response.status) {
            answer = answer.with_usage(sim.request(request).usage);
        }
        let permit = self.paced.take_permit(request)?;
        let now = Instant::from_ticks(sim.now());
        self.paced
            .policy_mut()
            .complete(now, permit, &answer, &mut *sim.rng())
            .ok()
    }
}

impl PacedClient for HeadroomStrategy {
    fn paced(&mut self) -> &mut Paced {
        &mut self.paced
    }

    fn respond(&mut self, sim: &mut Sim<'_>, response: &Reply) {
        let request = response.request;
        match self.complete(sim, response) {
            Some(Outcome::Done) => sim.complete(request),
            Some(Outcome::Retry(retry)) => {
                self.paced
                    .retry_at(sim, request, retry.at().as_ticks(), retry.attempt());
            }
            Some(Outcome::GiveUp(_)) | None => sim.give_up(request),
        }
    }
}
