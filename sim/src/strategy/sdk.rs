//! The SDK-style strategies: send, and on a retryable error wait as a [`Backoff`] schedule says.
//!
//! One strategy, three configurations (`research` facts restated in `docs/protocol.md`):
//!
//! * `sdk`: the official SDK defaults. No pacing, every request sent the moment it arrives; a
//!   429, 529 or other retryable status is retried up to 2 times after
//!   `min(0.5 s × 2ⁿ, 8 s) × (1 − 0.25u)`, or after the server's `retry-after` when
//!   `0 < d ≤ 60 s` (Anthropic; OpenAI accepts up to 120 s and gives up above)
//!   ([`Backoff::anthropic_python`], [`Backoff::openai_python`]).
//! * `sdk-semaphore`: the same behind a semaphore of `--concurrency N` (default 4), what a
//!   careful user of the SDK configures: a request holds its slot through its retries.
//! * `guide-backoff`: the guide's retry loop, `2ⁿ s + U(0, 0.5 × 2ⁿ s)`, 6 attempts, ignoring
//!   `retry-after` ([`Backoff::guide_loop`]).
//!
//! The response goes through the core's classifier ([`super::Retrier`]); no retry budget, as
//! in the SDKs.

use std::collections::VecDeque;

use headroom::backoff::{Backoff, RetryBudget};

use super::{After, Retrier};
use crate::engine::{Reply, Sim, Strategy};
use crate::workload::Workload;

/// A client that sends and retries on a [`Backoff`] schedule, optionally behind a semaphore.
#[derive(Debug, Clone)]
pub struct SdkStyle {
    retrier: Retrier,
    concurrency: Option<usize>,
    in_flight: usize,
    queue: VecDeque<u32>,
}

impl SdkStyle {
    /// The strategy for `workload`, retrying on `backoff`, with at most `concurrency` requests
    /// in flight (`None`: no limit).
    pub fn new(workload: &Workload, backoff: Backoff, concurrency: Option<usize>) -> Self {
        Self {
            retrier: Retrier::new(backoff, RetryBudget::unlimited(), workload.requests.len()),
            concurrency: concurrency.map(|n| n.max(1)),
            in_flight: 0,
            queue: VecDeque::new(),
        }
    }

    fn pump(&mut self, sim: &mut Sim<'_>) {
        while self.concurrency.is_none_or(|n| self.in_flight < n) {
            let Some(request) = self.queue.pop_front() else {
                return;
            };
            self.in_flight += 1;
            sim.send(request);
        }
    }
}

impl Strategy for SdkStyle {
    fn on_arrival(&mut self, sim: &mut Sim<'_>, request: u32) {
        self.queue.push_back(request);
        self.pump(sim);
    }

    fn on_wake(&mut self, sim: &mut Sim<'_>, token: u64) {
        sim.send(u32::try_from(token).unwrap_or(u32::MAX));
    }

    fn on_response(&mut self, sim: &mut Sim<'_>, response: &Reply) {
        match self.retrier.decide(sim, response) {
            After::RetryAt(at) => sim.wake_at(at, u64::from(response.request)),
            After::Done | After::GaveUp => {
                self.in_flight = self.in_flight.saturating_sub(1);
                self.pump(sim);
            }
        }
    }
}
