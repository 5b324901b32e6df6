//! `headroom`: the engine under test.
//!
//! * One [`Policy`] lane per workload lane, built with [`LaneConfig::new`]: **no limits
//!   configured**. The lane paces provisionally until the first response's headers, read by the
//!   core's real parser, teach it the limits; from then on every response's snapshot corrects
//!   the levels ([`Policy::complete`]). Learning is the product's story, so the simulation
//!   starts from zero knowledge, as a fresh process would.
//! * The cost model is the one thing configured: whether cache reads count follows the
//!   provider's model. Output is always reserved (`max_tokens` up front, settled to the actual
//!   output), the core's default: when the provider counts only actual output, charging nothing
//!   up front lets a burst of admissions run the provider's output bucket into debt (the core
//!   cannot predict output), so reserving is the safe choice and settling gives the excess back.
//! * Requests wait in a FIFO queue per lane (retries first). The head is offered to
//!   [`Policy::acquire_attempt`]: `Admit` → send; `Wait { until }` → one wake-up at `until`;
//!   `CostTooLarge` → give up; `PermitsFull` (more than [`PERMITS`] in flight) → wait for a
//!   response.
//! * A response goes to [`Policy::complete`] with its status, its header snapshot (the core's
//!   parser) and its usage: the core settles the permit (a refused attempt's tokens are
//!   refunded), syncs the lane from the headers, classifies, and answers done, retry at T or
//!   give up. A 429 with rate-limit headers is retried when the synced buckets have room for
//!   this request again, plus a little jitter; a 529 follows the policy's default backoff
//!   schedule under its retry budget; `retry-after` is a floor. A retry re-enters the front of
//!   its lane's queue at T and goes through [`Policy::acquire_attempt`] with the attempt the
//!   core handed back.

use std::collections::VecDeque;

use headroom::time::Instant;
use headroom::{
    Acquire, Attempt, CacheReads, Cost, CostModel, LaneConfig, LaneId, Outcome, OutputCharge,
    Permit, Policy, Priority, Rejection, Response as Answer, Retry,
};

use crate::engine::{Response, Sim, Strategy};
use crate::upstream::UpstreamConfig;
use crate::workload::{MAX_LANES, Workload};

/// In-flight permits the policy holds (its fixed table).
pub const PERMITS: usize = 512;

const RETRY: u64 = 1 << 40;

/// The headroom engine as a client strategy.
#[derive(Debug)]
pub struct HeadroomStrategy {
    policy: Box<Policy<MAX_LANES, PERMITS>>,
    lanes: Vec<LaneId>,
    queues: Vec<VecDeque<u32>>,
    wake_pending: Vec<Option<u64>>,
    permits: Vec<Option<Permit>>,
    attempts: Vec<Attempt>,
    blocked_on_permits: bool,
}

impl HeadroomStrategy {
    /// The strategy for `workload` against a provider configured by `config`.
    pub fn new(workload: &Workload, config: &UpstreamConfig) -> Self {
        let cache_reads = if config.cache_reads_counted {
            CacheReads::Counted
        } else {
            CacheReads::Excluded
        };
        let lane_config =
            LaneConfig::new().with_cost_model(CostModel::new(cache_reads, OutputCharge::Reserve));
        let mut policy: Box<Policy<MAX_LANES, PERMITS>> = Box::default();
        let lanes = workload
            .lanes
            .iter()
            .filter_map(|_| policy.add_lane(lane_config).ok())
            .collect();
        let n = workload.requests.len();
        Self {
            policy,
            lanes,
            queues: vec![VecDeque::new(); workload.lanes.len()],
            wake_pending: vec![None; workload.lanes.len()],
            permits: (0..n).map(|_| None).collect(),
            attempts: vec![Attempt::first(); n],
            blocked_on_permits: false,
        }
    }

    fn dispatch(&mut self, sim: &mut Sim<'_>, lane: usize) {
        let (Some(&lane_id), Some(queue)) = (self.lanes.get(lane), self.queues.get_mut(lane))
        else {
            return;
        };
        let now = sim.now();
        while let Some(&request) = queue.front() {
            let req = sim.request(request);
            let cost = Cost::request(req.input_tokens, req.max_tokens);
            let attempt = self
                .attempts
                .get(request as usize)
                .copied()
                .unwrap_or_default();
            match self.policy.acquire_attempt(
                Instant::from_ticks(now),
                lane_id,
                cost,
                Priority::Interactive,
                attempt,
            ) {
                Acquire::Admit(permit) => {
                    queue.pop_front();
                    if let Some(slot) = self.permits.get_mut(request as usize) {
                        *slot = Some(permit);
                    }
                    sim.send(request);
                }
                Acquire::Wait { until, .. } => {
                    let until = until.as_ticks().max(now.saturating_add(1));
                    if let Some(pending) = self.wake_pending.get_mut(lane)
                        && pending.is_none_or(|at| at > until || at < now)
                    {
                        *pending = Some(until);
                        sim.wake_at(until, lane as u64);
                    }
                    return;
                }
                Acquire::Reject(Rejection::PermitsFull) => {
                    self.blocked_on_permits = true;
                    return;
                }
                Acquire::Reject(_) => {
                    queue.pop_front();
                    sim.give_up(request);
                }
            }
        }
    }

    fn complete(&mut self, sim: &mut Sim<'_>, response: &Response) -> Option<Outcome<Retry>> {
        let request = response.request;
        let snapshot = sim.snapshot(response);
        let mut answer = Answer::new(&snapshot);
        if (200..300).contains(&response.status) {
            answer = answer.with_usage(sim.request(request).usage);
        }
        let permit = self
            .permits
            .get_mut(request as usize)
            .and_then(Option::take)?;
        let now = Instant::from_ticks(sim.now());
        self.policy
            .complete(now, permit, &answer, &mut *sim.rng())
            .ok()
    }
}

impl Strategy for HeadroomStrategy {
    fn on_arrival(&mut self, sim: &mut Sim<'_>, request: u32) {
        let lane = usize::from(sim.request(request).lane);
        if let Some(queue) = self.queues.get_mut(lane) {
            queue.push_back(request);
        }
        self.dispatch(sim, lane);
    }

    fn on_wake(&mut self, sim: &mut Sim<'_>, token: u64) {
        if token & RETRY != 0 {
            let request = u32::try_from(token & !RETRY).unwrap_or(u32::MAX);
            let lane = usize::from(sim.request(request).lane);
            if let Some(queue) = self.queues.get_mut(lane) {
                queue.push_front(request);
            }
            self.dispatch(sim, lane);
            return;
        }
        let lane = usize::try_from(token).unwrap_or(usize::MAX);
        if let Some(pending) = self.wake_pending.get_mut(lane)
            && *pending == Some(sim.now())
        {
            *pending = None;
        }
        self.dispatch(sim, lane);
    }

    fn on_response(&mut self, sim: &mut Sim<'_>, response: &Response) {
        let request = response.request;
        let lane = usize::from(sim.request(request).lane);
        match self.complete(sim, response) {
            Some(Outcome::Done) => sim.complete(request),
            Some(Outcome::Retry(retry)) => {
                let at = retry.at();
                if let Some(slot) = self.attempts.get_mut(request as usize) {
                    *slot = retry.attempt();
                }
                sim.wake_at(at.as_ticks(), RETRY | u64::from(request));
            }
            Some(Outcome::GiveUp(_)) | None => sim.give_up(request),
        }
        if self.blocked_on_permits {
            self.blocked_on_permits = false;
            for lane in 0..self.lanes.len() {
                self.dispatch(sim, lane);
            }
        } else {
            self.dispatch(sim, lane);
        }
    }
}
