//! `sdk`: the official SDK defaults (`docs/protocol.md` §4.1, §4.3).
//!
//! No pacing: every request is sent the moment it arrives. A 429, 529 or other retryable status
//! is retried up to 2 times after `min(0.5 s × 2ⁿ, 8 s) × (1 − 0.25u)`, or after the server's
//! `retry-after` when `0 < d ≤ 60 s` (Anthropic; OpenAI accepts up to 120 s and gives up above).
//! The schedule is the core's preset ([`headroom::backoff::Backoff::anthropic_python`],
//! [`headroom::backoff::Backoff::openai_python`]); the response headers go through the core's
//! parser and classifier. No retry budget, as in the SDKs.

use headroom::backoff::RetryBudget;

use super::{After, Retrier, sdk_backoff};
use crate::engine::{Response, Sim, Strategy};
use crate::workload::Workload;

/// The official SDK defaults.
#[derive(Debug, Clone)]
pub struct Sdk {
    retrier: Retrier,
}

impl Sdk {
    /// The strategy for `workload`.
    pub fn new(workload: &Workload) -> Self {
        Self {
            retrier: Retrier::new(
                sdk_backoff(workload),
                RetryBudget::unlimited(),
                workload.requests.len(),
            ),
        }
    }
}

impl Strategy for Sdk {
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
