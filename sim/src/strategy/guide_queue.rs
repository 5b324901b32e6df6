//! `guide-queue`: the guide's semaphore + `sleep(60 / RPM)` queue.
//!
//! Requests wait in a FIFO queue per lane. A dispatcher starts one every `60 / RPM` seconds (the
//! lane's known RPM; 60 when unknown) while fewer than [`GuideQueue::CONCURRENCY`] are in
//! flight (a semaphore; the research files do not pin the guide's value, 8 is used). A failed
//! request keeps its semaphore slot and is retried with the guide's backoff loop
//! ([`headroom::backoff::Backoff::guide_loop`]). Tokens are not considered.

use std::collections::VecDeque;

use headroom::LimitKind;
use headroom::backoff::{Backoff, RetryBudget};

use super::{After, Retrier, lane_limit};
use crate::engine::{Reply, Sim, Strategy};
use crate::workload::Workload;

const PUMP: u64 = 1 << 40;

#[derive(Debug, Clone, Default)]
struct LaneQueue {
    queue: VecDeque<u32>,
    in_flight: usize,
    interval_us: u64,
    next_send_us: u64,
    wake_pending: Option<u64>,
}

/// The guide's paced queue.
#[derive(Debug, Clone)]
pub struct GuideQueue {
    lanes: Vec<LaneQueue>,
    retrier: Retrier,
}

impl GuideQueue {
    /// Requests in flight at once per lane.
    pub const CONCURRENCY: usize = 8;

    /// The strategy for `workload`.
    pub fn new(workload: &Workload) -> Self {
        let lanes = (0..workload.lanes.len())
            .map(|lane| {
                let lane = u8::try_from(lane).unwrap_or(u8::MAX);
                let rpm = lane_limit(workload, lane, LimitKind::Requests).unwrap_or(60);
                LaneQueue {
                    interval_us: 60_000_000 / rpm.max(1),
                    ..LaneQueue::default()
                }
            })
            .collect();
        Self {
            lanes,
            retrier: Retrier::new(
                Backoff::guide_loop(),
                RetryBudget::unlimited(),
                workload.requests.len(),
            ),
        }
    }

    fn pump(&mut self, sim: &mut Sim<'_>, lane: usize) {
        let Some(state) = self.lanes.get_mut(lane) else {
            return;
        };
        let now = sim.now();
        while state.in_flight < Self::CONCURRENCY && !state.queue.is_empty() {
            if now < state.next_send_us {
                if state.wake_pending.is_none_or(|at| at > state.next_send_us) {
                    state.wake_pending = Some(state.next_send_us);
                    sim.wake_at(state.next_send_us, PUMP | lane as u64);
                }
                return;
            }
            let Some(request) = state.queue.pop_front() else {
                return;
            };
            state.in_flight += 1;
            state.next_send_us = now.saturating_add(state.interval_us);
            sim.send(request);
        }
    }
}

impl Strategy for GuideQueue {
    fn on_arrival(&mut self, sim: &mut Sim<'_>, request: u32) {
        let lane = usize::from(sim.request(request).lane);
        if let Some(state) = self.lanes.get_mut(lane) {
            state.queue.push_back(request);
        }
        self.pump(sim, lane);
    }

    fn on_wake(&mut self, sim: &mut Sim<'_>, token: u64) {
        if token & PUMP != 0 {
            let lane = (token & 0xff) as usize;
            if let Some(state) = self.lanes.get_mut(lane)
                && state.wake_pending == Some(sim.now())
            {
                state.wake_pending = None;
            }
            self.pump(sim, lane);
        } else {
            sim.send(u32::try_from(token).unwrap_or(u32::MAX));
        }
    }

    fn on_response(&mut self, sim: &mut Sim<'_>, response: &Reply) {
        let lane = usize::from(sim.request(response.request).lane);
        match self.retrier.decide(sim, response) {
            After::RetryAt(at) => sim.wake_at(at, u64::from(response.request)),
            After::Done | After::GaveUp => {
                if let Some(state) = self.lanes.get_mut(lane) {
                    state.in_flight = state.in_flight.saturating_sub(1);
                }
                self.pump(sim, lane);
            }
        }
    }
}
