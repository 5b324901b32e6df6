//! A client-side [`Policy`] in front of the provider: per-lane FIFO queues offered to
//! [`Policy::acquire_attempt`] in order, shared by `headroom` and `static`, which differ only in
//! how they configure the policy and what they do with a response.
//!
//! The head of a lane's queue is offered to the policy: `Admit` → send; `Wait { until }` → one
//! wake-up at `until`; `PermitsFull` (more than [`PERMITS`] in flight) → wait for a response;
//! any other rejection (the cost can never fit) → give up. Retries re-enter the front of their
//! lane's queue.
//!
//! A refusal changes nothing in the policy, and the instant it names does not depend on when it
//! is asked, so a lane keeps its last `Wait`: until the policy changes (an admission, a
//! response, [`Paced::policy_mut`]) or that instant comes, asking again for the same head would
//! give the same answer and schedule nothing. Arrivals behind a waiting head therefore only
//! queue, and the policy is asked about once per wake-up instead of once per event.

use std::collections::VecDeque;

use headroom::time::Instant;
use headroom::{Acquire, Attempt, Cost, LaneConfig, LaneId, Permit, Policy, Priority, Rejection};

use crate::engine::{Reply, Sim, Strategy};
use crate::workload::{MAX_LANES, Workload};

/// In-flight permits a policy holds (its fixed table).
pub const PERMITS: usize = 512;

/// Wake-up tokens at or above this bit are retries of the request in the low bits; below it,
/// a lane to dispatch.
pub const RETRY: u64 = 1 << 40;

/// A client built on [`Paced`]: arrivals and wake-ups go to the queues; it only decides what a
/// response means ([`PacedClient::respond`]), after which its lane is dispatched again.
pub trait PacedClient {
    /// Its policy and queues.
    fn paced(&mut self) -> &mut Paced;
    /// Settles the response's permit and completes, retries or gives up its request.
    fn respond(&mut self, sim: &mut Sim<'_>, response: &Reply);
}

impl<T: PacedClient> Strategy for T {
    fn on_arrival(&mut self, sim: &mut Sim<'_>, request: u32) {
        self.paced().arrive(sim, request);
    }

    fn on_wake(&mut self, sim: &mut Sim<'_>, token: u64) {
        self.paced().wake(sim, token);
    }

    fn on_response(&mut self, sim: &mut Sim<'_>, response: &Reply) {
        let lane = usize::from(sim.request(response.request).lane);
        self.respond(sim, response);
        self.paced().after_response(sim, lane);
    }
}

/// A policy with its queues.
#[derive(Debug)]
pub struct Paced {
    policy: Box<Policy<MAX_LANES, PERMITS>>,
    lanes: Vec<LaneId>,
    queues: Vec<VecDeque<u32>>,
    wake_pending: Vec<Option<u64>>,
    /// Per lane, the head the policy last told to wait, until when, and at which of the
    /// policy's versions: it stands only while that version is current.
    waiting: Vec<Option<(u32, u64, u64)>>,
    /// Counts the policy's changes (admissions, [`Paced::policy_mut`]): forgetting every
    /// lane's `Wait` is one increment, not a pass over the lanes on every admission.
    version: u64,
    permits: Vec<Option<Permit>>,
    attempts: Vec<Attempt>,
    blocked_on_permits: bool,
    asks: u64,
}

impl Paced {
    /// A policy with one lane per workload lane, configured by `config(lane index)`.
    pub fn new(workload: &Workload, config: impl Fn(usize) -> LaneConfig) -> Self {
        let mut policy: Box<Policy<MAX_LANES, PERMITS>> = Box::default();
        let lanes = (0..workload.lanes.len())
            .filter_map(|lane| policy.add_lane(config(lane)).ok())
            .collect();
        let n = workload.requests.len();
        Self {
            policy,
            lanes,
            queues: vec![VecDeque::new(); workload.lanes.len()],
            wake_pending: vec![None; workload.lanes.len()],
            waiting: vec![None; workload.lanes.len()],
            version: 0,
            permits: (0..n).map(|_| None).collect(),
            attempts: vec![Attempt::first(); n],
            blocked_on_permits: false,
            asks: 0,
        }
    }

    /// The policy.
    ///
    /// # Examples
    ///
    /// ```
    /// use headroom::LaneConfig;
    /// use headroom_sim::strategy::Paced;
    /// use headroom_sim::workload::{GenSpec, generate};
    ///
    /// let workload = generate(&GenSpec::tier1_batch(3), 1);
    /// let paced = Paced::new(&workload, |_| LaneConfig::new());
    /// assert_eq!(paced.policy().in_flight(), 0);
    /// ```
    pub fn policy(&self) -> &Policy<MAX_LANES, PERMITS> {
        &self.policy
    }

    /// The policy, to change it (settle, complete, cancel): every lane's remembered `Wait` is
    /// forgotten, so the next dispatch asks again.
    ///
    /// # Examples
    ///
    /// ```
    /// use headroom::{Acquire, Cost, LaneConfig, LaneId, Priority};
    /// use headroom::time::Instant;
    /// use headroom_sim::strategy::Paced;
    /// use headroom_sim::workload::{GenSpec, generate};
    ///
    /// let workload = generate(&GenSpec::tier1_batch(3), 1);
    /// let mut paced = Paced::new(&workload, |_| LaneConfig::new());
    /// let policy = paced.policy_mut();
    /// let now = Instant::from_ticks(0);
    /// let lane = LaneId::from_index(0);
    /// let Acquire::Admit(permit) = policy.acquire(now, lane, Cost::request(10, 10), Priority::Interactive) else {
    ///     panic!("a fresh lane admits");
    /// };
    /// policy.cancel(now, permit).unwrap();
    /// assert_eq!(paced.policy().in_flight(), 0);
    /// ```
    pub fn policy_mut(&mut self) -> &mut Policy<MAX_LANES, PERMITS> {
        self.forget_waits();
        &mut self.policy
    }

    /// How many times the policy has been asked to admit a request.
    ///
    /// # Examples
    ///
    /// ```
    /// use headroom::LaneConfig;
    /// use headroom_sim::strategy::Paced;
    /// use headroom_sim::workload::{GenSpec, generate};
    ///
    /// let workload = generate(&GenSpec::tier1_batch(3), 1);
    /// let paced = Paced::new(&workload, |_| LaneConfig::new());
    /// assert_eq!(paced.asks(), 0);
    /// ```
    pub fn asks(&self) -> u64 {
        self.asks
    }

    fn forget_waits(&mut self) {
        self.version = self.version.wrapping_add(1);
    }

    /// A request arrived: queue it behind its lane and dispatch.
    pub fn arrive(&mut self, sim: &mut Sim<'_>, request: u32) {
        let lane = usize::from(sim.request(request).lane);
        if let Some(queue) = self.queues.get_mut(lane) {
            queue.push_back(request);
        }
        self.dispatch(sim, lane);
    }

    /// A wake-up: a retry due (re-queued at the front of its lane) or a lane to dispatch.
    pub fn wake(&mut self, sim: &mut Sim<'_>, token: u64) {
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

    /// Schedules a retry of `request` at `at` with `attempt` (what the next acquire needs).
    pub fn retry_at(&mut self, sim: &mut Sim<'_>, request: u32, at: u64, attempt: Attempt) {
        if let Some(slot) = self.attempts.get_mut(request as usize) {
            *slot = attempt;
        }
        sim.wake_at(at, RETRY | u64::from(request));
    }

    /// The permit `request` was sent with.
    pub fn take_permit(&mut self, request: u32) -> Option<Permit> {
        self.permits
            .get_mut(request as usize)
            .and_then(Option::take)
    }

    /// The attempt `request` is at.
    pub fn attempt(&self, request: u32) -> Attempt {
        self.attempts
            .get(request as usize)
            .copied()
            .unwrap_or_default()
    }

    /// After a response of `lane` was handled: dispatch that lane, or every lane when one was
    /// blocked on the permit table.
    pub fn after_response(&mut self, sim: &mut Sim<'_>, lane: usize) {
        if self.blocked_on_permits {
            self.blocked_on_permits = false;
            for lane in 0..self.lanes.len() {
                self.dispatch(sim, lane);
            }
        } else {
            self.dispatch(sim, lane);
        }
    }

    fn dispatch(&mut self, sim: &mut Sim<'_>, lane: usize) {
        let (Some(&lane_id), Some(queue)) = (self.lanes.get(lane), self.queues.get_mut(lane))
        else {
            return;
        };
        let now = sim.now();
        while let Some(&request) = queue.front() {
            // Asking again would answer `Wait { until }` once more and, with a wake-up already
            // due by then, schedule nothing.
            let pending = self.wake_pending.get(lane).copied().flatten();
            if let Some(Some((head, until, version))) = self.waiting.get(lane).copied()
                && version == self.version
                && head == request
                && until > now
                && pending.is_some_and(|at| now <= at && at <= until)
            {
                return;
            }
            let req = sim.request(request);
            let cost = Cost::request(req.input_tokens, req.max_tokens);
            let attempt = self
                .attempts
                .get(request as usize)
                .copied()
                .unwrap_or_default();
            self.asks += 1;
            match self.policy.acquire_attempt(
                Instant::from_ticks(now),
                lane_id,
                cost,
                Priority::Interactive,
                attempt,
            ) {
                Acquire::Admit(permit) => {
                    self.version = self.version.wrapping_add(1);
                    queue.pop_front();
                    if let Some(slot) = self.permits.get_mut(request as usize) {
                        *slot = Some(permit);
                    }
                    sim.send(request);
                }
                Acquire::Wait { until, .. } => {
                    let until = until.as_ticks().max(now.saturating_add(1));
                    if let Some(waiting) = self.waiting.get_mut(lane) {
                        *waiting = Some((request, until, self.version));
                    }
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
}
