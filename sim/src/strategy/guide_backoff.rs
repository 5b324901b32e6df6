//! `guide-backoff`: the guide's retry loop.
//!
//! Send on arrival; on a retryable error wait `2ⁿ s + U(0, 0.5 × 2ⁿ s)` and try again, at most
//! 6 attempts, ignoring `retry-after` ([`headroom::backoff::Backoff::guide_loop`]). No pacing,
//! no budget.

use headroom::backoff::{Backoff, RetryBudget};

use super::{After, Retrier};
use crate::engine::{Response, Sim, Strategy};
use crate::workload::Workload;

/// The guide's backoff loop.
#[derive(Debug, Clone)]
pub struct GuideBackoff {
    retrier: Retrier,
}

impl GuideBackoff {
    /// The strategy for `workload`.
    pub fn new(workload: &Workload) -> Self {
        Self {
            retrier: Retrier::new(
                Backoff::guide_loop(),
                RetryBudget::unlimited(),
                workload.requests.len(),
            ),
        }
    }
}

impl Strategy for GuideBackoff {
    fn on_arrival(&mut self, sim: &mut Sim<'_>, request: u32) {
        sim.send(request);
    }

    fn on_wake(&mut self, sim: &mut Sim<'_>, token: u64) {
        sim.send(u32::try_from(token).unwrap_or(u32::MAX));
    }

    fn on_response(&mut self, sim: &mut Sim<'_>, response: &Response) {
        if let After::RetryAt(at) = self.retrier.decide(sim, response) {
            sim.wake_at(at, u64::from(response.request));
        }
    }
}
