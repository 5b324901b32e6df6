//! The engine in shadow mode: a [`Policy`] that sees every recorded request and response but
//! sends nothing. The rules are in the parent module's documentation.

use std::collections::HashMap;

use headroom::backoff::FixedDraw;
use headroom::headers::Snapshot;
use headroom::time::Instant;
use headroom::{
    Acquire, Cost, LaneConfig, LaneId, LimitKind, Permit, Policy, Priority, Rejection,
    Response as Answer, Usage,
};

use crate::trace::{Request, Response};

/// Lanes the shadow policy tracks.
pub const MAX_LANES: usize = 16;
/// In-flight requests the shadow policy tracks at once; more are folded in without a permit.
pub const PERMITS: usize = 4096;
/// How many times a held-back request is offered again at the instant the engine named before
/// the shadow gives up tracking it (the engine promises the first re-offer admits it).
const MAX_OFFERS: usize = 8;

/// What the engine would have done with a recorded request at the moment it was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Sent at the recorded time.
    Admit,
    /// Sent `wait_us` later, held back by `limit` (or queued behind a request that was).
    Wait {
        /// How much later, µs.
        wait_us: u64,
        /// The limit that waited longest.
        limit: LimitKind,
    },
    /// Never sent as asked: the cost is above this limit's burst.
    Reject {
        /// The limit whose burst is too small.
        limit: LimitKind,
    },
    /// The shadow could not track it (its permit table was full); its response is folded in as
    /// another client's would be.
    Untracked,
}

/// One lane of the trace in the shadow policy.
#[derive(Debug, Clone)]
struct ShadowLane {
    id: LaneId,
    /// When the engine would have sent the lane's previous request: a later request is not
    /// offered before (the engine's per-lane queue is first in, first out).
    next_free_us: u64,
    /// The limit that held that previous request back.
    queue_limit: LimitKind,
    /// Whether a response has taught the lane its limits (until then it paces provisionally
    /// and has no estimate of the server's buckets to score).
    learned: bool,
}

/// A recorded request waiting for its response.
#[derive(Debug)]
struct Pending {
    lane: usize,
    permit: Option<Permit>,
    verdict: Verdict,
}

/// One response's comparison: the engine's estimate and the header's `remaining`, per kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sample {
    /// The limit.
    pub kind: LimitKind,
    /// What the engine thought it could still admit, just before the response was folded in.
    pub estimate: u64,
    /// The header's `remaining`, capped at the engine bucket's burst.
    pub truth: u64,
}

/// The shadow engine.
#[derive(Debug)]
pub struct Shadow {
    policy: Box<Policy<MAX_LANES, PERMITS>>,
    lanes: Vec<ShadowLane>,
    by_name: HashMap<Option<String>, usize>,
    pending: HashMap<String, Pending>,
}

impl Default for Shadow {
    fn default() -> Self {
        Self::new()
    }
}

impl Shadow {
    /// An engine that knows nothing yet: every lane starts as [`LaneConfig::new`].
    pub fn new() -> Self {
        Self {
            policy: Box::default(),
            lanes: Vec::new(),
            by_name: HashMap::new(),
            pending: HashMap::new(),
        }
    }

    fn lane_of(&mut self, name: &Option<String>) -> Result<usize, String> {
        if let Some(&index) = self.by_name.get(name) {
            return Ok(index);
        }
        let id = self
            .policy
            .add_lane(LaneConfig::new())
            .map_err(|_| format!("more than {MAX_LANES} lanes"))?;
        let index = self.lanes.len();
        self.lanes.push(ShadowLane {
            id,
            next_free_us: 0,
            queue_limit: LimitKind::Requests,
            learned: false,
        });
        self.by_name.insert(name.clone(), index);
        Ok(index)
    }

    /// A recorded request: asks the engine, keeps its permit, and says what it would have done.
    ///
    /// # Errors
    ///
    /// A message when the trace has more than [`MAX_LANES`] lanes.
    pub fn request(&mut self, request: &Request) -> Result<Verdict, String> {
        let lane = self.lane_of(&request.lane)?;
        let Some(state) = self.lanes.get_mut(lane) else {
            return Err("lane table out of step".to_owned());
        };
        let t = request.t_us;
        let cost = Cost::request(request.input_tokens, request.max_tokens);
        let mut at = t.max(state.next_free_us);
        let mut limit = state.queue_limit;
        let mut outcome = (None, Verdict::Untracked);
        for _ in 0..MAX_OFFERS {
            let answer = self.policy.acquire(
                Instant::from_ticks(at),
                state.id,
                cost,
                Priority::Interactive,
            );
            match answer {
                Acquire::Admit(permit) => {
                    state.next_free_us = at;
                    state.queue_limit = limit;
                    let verdict = if at > t {
                        Verdict::Wait {
                            wait_us: at.saturating_sub(t),
                            limit,
                        }
                    } else {
                        Verdict::Admit
                    };
                    outcome = (Some(permit), verdict);
                    break;
                }
                Acquire::Wait { until, kind: why } => {
                    at = until.as_ticks().max(at.saturating_add(1));
                    limit = why;
                }
                Acquire::Reject(Rejection::CostTooLarge { kind: limit }) => {
                    outcome = (None, Verdict::Reject { limit });
                    break;
                }
                Acquire::Reject(_) => break,
            }
        }
        let (permit, verdict) = outcome;
        self.pending.insert(
            request.id.clone(),
            Pending {
                lane,
                permit,
                verdict,
            },
        );
        Ok(verdict)
    }

    /// A recorded response: compares the engine's estimate with the headers, then folds the
    /// response in. Returns the verdict its request got and the comparison (empty before the
    /// lane has learned its limits). `None` for a response with no pending request (the trace
    /// reader refuses those, so only hand-built traces get here).
    pub fn response(&mut self, response: &Response) -> Option<(Verdict, Vec<Sample>)> {
        let pending = self.pending.remove(&response.id)?;
        let state = self.lanes.get_mut(pending.lane)?;
        let snapshot = response.snapshot();
        let now = Instant::from_ticks(response.t_us);
        let samples = if state.learned {
            compare(&self.policy, state.id, now, &snapshot)
        } else {
            Vec::new()
        };
        let usage = response
            .usage
            .filter(|_| (200..300).contains(&response.status))
            .map(|usage| Usage {
                input_tokens: usage.input_tokens,
                output_tokens: usage.output_tokens,
                cache_read_input_tokens: usage.cache_read_input_tokens,
                cache_creation_input_tokens: usage.cache_creation_input_tokens,
            });
        match pending.permit {
            Some(permit) => {
                let mut answer = Answer::new(&snapshot);
                if let Some(usage) = usage {
                    answer = answer.with_usage(usage);
                }
                // What the engine would do next (retry at T, give up) does not matter here: a
                // retry, if the client made one, is a later request of the trace. The draw only
                // moves that retry instant, so a fixed one is enough.
                let _next = self
                    .policy
                    .complete(now, permit, &answer, &mut FixedDraw(0));
            }
            None => {
                let _ = self.policy.observe(now, state.id, &snapshot);
            }
        }
        let teaches = LimitKind::ALL.into_iter().any(|kind| {
            snapshot
                .quota_of(kind)
                .is_some_and(|quota| quota.limit.is_some())
        });
        state.learned |= teaches;
        Some((pending.verdict, samples))
    }

    /// How many lanes the trace used.
    pub fn lanes(&self) -> usize {
        self.lanes.len()
    }
}

/// What the engine would admit on each limit of `lane` at `now` against the snapshot's
/// `remaining`: the smaller of its pace and of its provider window (reported by
/// [`Policy::status`]). An estimate above `remaining` is a request the engine would send into a
/// 429.
///
/// Not the pace alone: it refills with time whatever the headers said, so a drained key read
/// as a full pace and every response of a trace that ran its key dry scored an over-estimate
/// of the whole limit. What the window holds is our share of the key: until successive
/// responses show that the key is not shared, a quarter of what the engine makes of it, so token
/// estimates run under by the rest, and a model of the key too optimistic by less than that
/// would not show here. (The window scaled back to the whole key was measured as the estimate
/// too: at the engine's own instant, later than `now` while it holds requests back, it read a
/// key refilled for requests not yet sent.)
///
/// The pace is read at the recorded instant: the engine's clock may be ahead of it (a
/// held-back request is charged where the engine would have sent it), and the pace then holds
/// at `now` what was left of charges made after it. `status` reads the window at the engine's
/// own instant: refilled further, less what it charged for the requests it holds back.
///
/// The engine admits at most its pace's burst at once: for requests, one second's worth of the
/// per-minute limit (providers enforce per-minute limits over shorter intervals), so with 49
/// of 50 requests left on the server and one available in the engine, the two agree. The
/// header's `remaining` is capped at that burst before comparing; for tokens the burst is the
/// whole limit and the cap changes nothing.
fn compare(
    policy: &Policy<MAX_LANES, PERMITS>,
    lane: LaneId,
    now: Instant,
    snapshot: &Snapshot,
) -> Vec<Sample> {
    policy
        .status(now)
        .filter(|status| status.lane == lane)
        .filter_map(|status| {
            let remaining = snapshot.quota_of(status.kind)?.remaining?;
            let pace = policy
                .bucket(lane, status.kind)
                .map_or(status.available, |pace| pace.available(now));
            let estimate = status
                .window_available
                .map_or(pace, |window| window.min(pace));
            Some(Sample {
                kind: status.kind,
                estimate,
                truth: remaining.min(u64::from(status.burst)),
            })
        })
        .collect()
}
