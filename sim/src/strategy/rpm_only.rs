//! `rpm-only`: one GCRA on requests per lane, what a `governor` user builds.
//!
//! `Quota::per_minute(RPM)` in governor allows a burst of the whole minute, so the limiter here
//! is a core [`Bucket`] with the lane's RPM and a burst of RPM. It gates the first attempt of
//! each request, in arrival order; retries happen inside the SDK call the limiter wrapped, so
//! they follow the SDK rules ([`super::sdk_backoff`]) and bypass the limiter. No token awareness.
//! A lane with no known RPM is paced at 60 RPM.

use std::collections::VecDeque;
use std::num::NonZeroU32;

use headroom::backoff::RetryBudget;
use headroom::time::Instant;
use headroom::{Bucket, Limit, LimitKind};

use super::{After, Retrier, lane_limit, sdk_backoff};
use crate::engine::{Reply, Sim, Strategy};
use crate::workload::Workload;

const PUMP: u64 = 1 << 40;

/// A requests-per-minute limiter in front of the SDK.
#[derive(Debug, Clone)]
pub struct RpmOnly {
    limiters: Vec<Bucket>,
    queues: Vec<VecDeque<u32>>,
    wake_pending: Vec<Option<u64>>,
    retrier: Retrier,
}

impl RpmOnly {
    /// The strategy for `workload`.
    pub fn new(workload: &Workload) -> Self {
        let lanes = workload.lanes.len();
        let limiters = (0..lanes)
            .map(|lane| {
                let lane = u8::try_from(lane).unwrap_or(u8::MAX);
                let rpm = lane_limit(workload, lane, LimitKind::Requests).unwrap_or(60);
                let rpm = NonZeroU32::new(u32::try_from(rpm).unwrap_or(u32::MAX))
                    .unwrap_or(NonZeroU32::MIN);
                Bucket::new(LimitKind::Requests, Limit::per_minute(rpm).with_burst(rpm))
            })
            .collect();
        Self {
            limiters,
            queues: vec![VecDeque::new(); lanes],
            wake_pending: vec![None; lanes],
            retrier: Retrier::new(
                sdk_backoff(workload),
                RetryBudget::unlimited(),
                workload.requests.len(),
            ),
        }
    }

    fn pump(&mut self, sim: &mut Sim<'_>, lane: usize) {
        let (Some(queue), Some(limiter)) = (self.queues.get_mut(lane), self.limiters.get_mut(lane))
        else {
            return;
        };
        while let Some(&request) = queue.front() {
            match limiter.try_take(Instant::from_ticks(sim.now()), 1) {
                Ok(()) => {
                    queue.pop_front();
                    sim.send(request);
                }
                Err(until) => {
                    let Some(until) = until else {
                        queue.pop_front();
                        sim.give_up(request);
                        continue;
                    };
                    let until = until.as_ticks();
                    if let Some(pending) = self.wake_pending.get_mut(lane)
                        && pending.is_none_or(|at| at > until)
                    {
                        *pending = Some(until);
                        sim.wake_at(until, PUMP | lane as u64);
                    }
                    break;
                }
            }
        }
    }
}

impl Strategy for RpmOnly {
    fn on_arrival(&mut self, sim: &mut Sim<'_>, request: u32) {
        let lane = usize::from(sim.request(request).lane);
        if let Some(queue) = self.queues.get_mut(lane) {
            queue.push_back(request);
        }
        self.pump(sim, lane);
    }

    fn on_wake(&mut self, sim: &mut Sim<'_>, token: u64) {
        if token & PUMP != 0 {
            let lane = (token & 0xff) as usize;
            if let Some(pending) = self.wake_pending.get_mut(lane)
                && *pending == Some(sim.now())
            {
                *pending = None;
            }
            self.pump(sim, lane);
        } else {
            sim.send(u32::try_from(token).unwrap_or(u32::MAX));
        }
    }

    fn on_response(&mut self, sim: &mut Sim<'_>, response: &Reply) {
        if let After::RetryAt(at) = self.retrier.decide(sim, response) {
            sim.wake_at(at, u64::from(response.request));
        }
    }
}
