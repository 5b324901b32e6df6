//! `cookbook`: the OpenAI cookbook parallel processor (`docs/protocol.md` §5).
//!
//! One processor per lane, configured as its docstring advises ("leave headroom by setting this
//! to 50% or 75% of your limit"): 75 % of the lane's RPM and of its token limit (the combined
//! TPM when there is one, else ITPM + OTPM, which is what Anthropic's `tokens-limit` header
//! reports). Two client-side buckets of one minute's capacity, starting full, refilled
//! continuously; the next request is sent only when both hold it (1 request, and prompt +
//! `max_tokens` tokens, the prompt including cached tokens), both charged all or nothing, never
//! refunded, never synced with headers. One request is held aside until it fits (head-of-line
//! blocking); retries go before new requests; at most 5 attempts. After a rate-limit error (429)
//! all dispatch of the lane pauses until 15 s after it; other errors are just re-queued.
//! `retry-after` is ignored. The 1 ms polling loop is replaced by waking exactly when the held
//! request fits, which only removes its up-to-1-ms lag.

use std::collections::VecDeque;

use headroom::LimitKind;

use super::lane_limit;
use crate::engine::{Reply, Sim, Strategy};
use crate::upstream::ExactBucket;
use crate::workload::Workload;

const PAUSE_US: u64 = 15_000_000;
const MAX_ATTEMPTS: u32 = 5;
const HEADROOM_PERCENT: u64 = 75;

#[derive(Debug, Clone)]
struct Processor {
    requests: ExactBucket,
    tokens: ExactBucket,
    retries: VecDeque<u32>,
    fresh: VecDeque<u32>,
    paused_until: u64,
    wake_pending: Option<u64>,
}

/// The cookbook's parallel processor.
#[derive(Debug, Clone)]
pub struct Cookbook {
    lanes: Vec<Processor>,
}

impl Cookbook {
    /// The strategy for `workload`.
    pub fn new(workload: &Workload) -> Self {
        let lanes = (0..workload.lanes.len())
            .map(|lane| {
                let lane = u8::try_from(lane).unwrap_or(u8::MAX);
                let limit = |kind| lane_limit(workload, lane, kind);
                let rpm = limit(LimitKind::Requests).unwrap_or(60);
                let tpm = limit(LimitKind::Tokens).unwrap_or_else(|| {
                    limit(LimitKind::InputTokens)
                        .unwrap_or(0)
                        .saturating_add(limit(LimitKind::OutputTokens).unwrap_or(0))
                });
                let scaled = |x: u64| (x.saturating_mul(HEADROOM_PERCENT) / 100).max(1);
                let (rpm, tpm) = (
                    scaled(rpm),
                    scaled(if tpm == 0 { u64::MAX / 200 } else { tpm }),
                );
                Processor {
                    requests: ExactBucket::new(rpm, 60_000_000, rpm),
                    tokens: ExactBucket::new(tpm, 60_000_000, tpm),
                    retries: VecDeque::new(),
                    fresh: VecDeque::new(),
                    paused_until: 0,
                    wake_pending: None,
                }
            })
            .collect();
        Self { lanes }
    }

    fn estimate(sim: &Sim<'_>, request: u32) -> u64 {
        let request = sim.request(request);
        request
            .input_tokens
            .saturating_add(request.usage.cache_read_input_tokens)
            .saturating_add(request.max_tokens)
    }

    fn pump(&mut self, sim: &mut Sim<'_>, lane: usize) {
        let Some(p) = self.lanes.get_mut(lane) else {
            return;
        };
        let now = sim.now();
        loop {
            let Some(&request) = p.retries.front().or(p.fresh.front()) else {
                return;
            };
            let mut wake = p.paused_until;
            if now >= p.paused_until {
                let tokens = Self::estimate(sim, request);
                let waits = (p.requests.wait_us(now, 1), p.tokens.wait_us(now, tokens));
                let (Some(for_request), Some(for_tokens)) = waits else {
                    // Larger than a minute of capacity: the cookbook would spin forever.
                    let _ = p.retries.pop_front().or_else(|| p.fresh.pop_front());
                    sim.give_up(request);
                    continue;
                };
                if for_request == 0 && for_tokens == 0 {
                    p.requests.force_take(now, 1);
                    p.tokens.force_take(now, tokens);
                    let _ = p.retries.pop_front().or_else(|| p.fresh.pop_front());
                    sim.send(request);
                    continue;
                }
                wake = now.saturating_add(for_request.max(for_tokens));
            }
            if p.wake_pending.is_none_or(|at| at > wake || at < now) {
                p.wake_pending = Some(wake);
                sim.wake_at(wake, lane as u64);
            }
            return;
        }
    }
}

impl Strategy for Cookbook {
    fn on_arrival(&mut self, sim: &mut Sim<'_>, request: u32) {
        let lane = usize::from(sim.request(request).lane);
        if let Some(p) = self.lanes.get_mut(lane) {
            p.fresh.push_back(request);
        }
        self.pump(sim, lane);
    }

    fn on_wake(&mut self, sim: &mut Sim<'_>, token: u64) {
        let lane = usize::try_from(token).unwrap_or(usize::MAX);
        if let Some(p) = self.lanes.get_mut(lane)
            && p.wake_pending == Some(sim.now())
        {
            p.wake_pending = None;
        }
        self.pump(sim, lane);
    }

    fn on_response(&mut self, sim: &mut Sim<'_>, response: &Reply) {
        let request = response.request;
        let lane = usize::from(sim.request(request).lane);
        if (200..300).contains(&response.status) {
            sim.complete(request);
            return;
        }
        if sim.attempts(request) >= MAX_ATTEMPTS {
            sim.give_up(request);
            return;
        }
        if let Some(p) = self.lanes.get_mut(lane) {
            if response.status == 429 {
                p.paused_until = p.paused_until.max(sim.now().saturating_add(PAUSE_US));
            }
            p.retries.push_back(request);
        }
        self.pump(sim, lane);
    }
}
