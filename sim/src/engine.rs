//! The discrete-event engine: virtual time, one strategy, one simulated provider.
//!
//! Events live in a binary heap ordered by `(time, sequence number)`, the sequence number being
//! the order in which events were scheduled, so simultaneous events always run in the same
//! order. Arrivals are not in the heap: they are merged in from the workload's arrival order, and
//! an arrival runs before any heap event of the same instant. Randomness comes from one
//! `Xoshiro256PlusPlus` seeded from the run's seed, handed to the strategy; the provider's 529
//! draws are hashes of the seed, not draws from that generator. Together: the same workload,
//! configuration and seed give bit-for-bit the same run.
//!
//! When the provider counts actual output, a successful attempt also schedules
//! [`GENERATION_CHUNKS`]` − 1` generation events that charge its output while it is produced
//! (the last part is charged with the response). Stale headers ([`UpstreamConfig::stale_headers`])
//! are captured at admission and kept with the attempt; bare 429s render no rate-limit fields.
//!
//! Per event the engine does O(log n) heap work and no allocation once its buffers are warm
//! (in-flight attempts sit in a slab with a free list; response headers are written into a
//! reused buffer and only when a strategy asks for them).

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::collections::binary_heap::PeekMut;

use headroom::headers::{self, Snapshot};
use headroom::time::{self, UnixTime};
use rand::SeedableRng;
use rand::rngs::Xoshiro256PlusPlus;

use crate::upstream::{
    GENERATION_CHUNKS, HeaderBuf, HeaderState, LevelSample, OutputAccounting, Upstream,
    UpstreamConfig, render,
};
use crate::workload::{Request, Workload};

mod latency;

pub use latency::Latencies;

const KIND_SHIFT: u32 = 62;
const RESPONSE: u64 = 1 << KIND_SHIFT;
const WAKE: u64 = 2 << KIND_SHIFT;
const CHUNK: u64 = 3 << KIND_SHIFT;
const PAYLOAD: u64 = (1 << KIND_SHIFT) - 1;
/// Marks the chunks of an attempt whose response waits for its last chunk ([`Sim::send`]).
const RESPONSE_FOLLOWS: u64 = 1 << 40;
/// Wake-up tokens carry the gateway of a fleet above this bit ([`Sim::wake_at`]).
pub(crate) const GATEWAY_SHIFT: u32 = 48;

/// A strategy: how a client decides when to send. The engine calls it; it answers by calling
/// [`Sim::send`], [`Sim::wake_at`], [`Sim::complete`] and [`Sim::give_up`].
pub trait Strategy {
    /// A request arrived (at [`Sim::now`]).
    fn on_arrival(&mut self, sim: &mut Sim<'_>, request: u32);
    /// A wake-up the strategy scheduled with [`Sim::wake_at`] is due.
    fn on_wake(&mut self, sim: &mut Sim<'_>, token: u64);
    /// A response arrived. The strategy must eventually [`Sim::complete`], retry or
    /// [`Sim::give_up`] its request.
    fn on_response(&mut self, sim: &mut Sim<'_>, response: &Reply);
}

/// A response as the client receives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reply {
    /// The request.
    pub request: u32,
    /// Which attempt (1 for the first).
    pub attempt: u32,
    /// HTTP status: 200, 429 or 529.
    pub status: u16,
    /// `retry-after` in seconds, when sent.
    pub retry_after_s: Option<u64>,
    /// When the attempt was sent.
    pub sent_at_us: u64,
}

/// What the provider wrote into the headers of the reply being delivered, when it differs from
/// its state at delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Written {
    /// Headers describe the provider now.
    Now,
    /// Headers describe the provider when the attempt was admitted (stale): the state kept
    /// for the attempt's slot ([`Sim::stale`]), out of the flight so that a flight stays small.
    AtAdmission,
    /// A bare 429: no rate-limit fields.
    Bare,
}

/// One attempt that reached the provider, for `--schedule-out`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attempt {
    /// When it was sent, µs.
    pub t_us: u64,
    /// The request.
    pub request: u32,
    /// 1 for the first attempt.
    pub attempt: u32,
    /// Input tokens counted against the input limit (0 when refused).
    pub input_tokens: u64,
    /// Output tokens generated (0 when refused).
    pub output_tokens: u64,
    /// HTTP status.
    pub status: u16,
}

#[derive(Debug, Clone, Copy)]
struct Flight {
    request: u32,
    attempt: u32,
    status: u16,
    retry_after_s: Option<u64>,
    sent_at_us: u64,
    generated: u64,
    /// When its output is generated, from `sent_at_us`: `(start, span)`
    /// ([`UpstreamConfig::generation`], kept so that a chunk need not recompute it).
    generation: (u64, u64),
    /// The sequence number reserved for its response while the response waits outside the
    /// queue for the last generation chunk ([`Sim::generate`]); 0 once it is queued.
    response_seq: u64,
    written: Written,
}

const PENDING: u8 = 0;
const COMPLETED: u8 = 1;
const GAVE_UP: u8 = 2;

/// What a run produced.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunOutcome {
    /// Requests in the workload.
    pub requests: u64,
    /// Requests that got a 2xx.
    pub completed: u64,
    /// Requests given up (or never finished).
    pub gave_up: u64,
    /// 429s received.
    pub rate_limited: u64,
    /// 529s received.
    pub overloaded: u64,
    /// Attempts after the first.
    pub retries: u64,
    /// Attempts that reached the provider.
    pub attempts: u64,
    /// Last final completion or give-up, µs after the first arrival.
    pub makespan_us: u64,
    /// Arrival → completion of the completed requests, summarised.
    pub latency: Latencies,
    /// Net units charged per lane and limit kind.
    pub consumed: Vec<[u64; 4]>,
    /// Every attempt, when recorded.
    pub schedule: Vec<Attempt>,
    /// Bucket levels, when recorded.
    pub levels: Vec<LevelSample>,
    /// 429 times, µs, when recording levels.
    pub rate_limited_at: Vec<u64>,
}

/// What to record beyond the counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Recording {
    /// Every attempt (for `--schedule-out`).
    pub schedule: bool,
    /// Bucket levels and 429 times (for `--plot`).
    pub levels: bool,
}

/// The world a strategy acts on: the clock, the provider, the event queue.
#[derive(Debug)]
pub struct Sim<'w> {
    now: u64,
    workload: &'w Workload,
    upstream: Upstream,
    heap: BinaryHeap<Reverse<(u64, u64, u64)>>,
    seq: u64,
    flights: Vec<Flight>,
    /// Per flight slot, the headers captured at admission (only with stale headers).
    stale: Vec<HeaderState>,
    free: Vec<u32>,
    attempts: Vec<u32>,
    state: Vec<u8>,
    finished_at: Vec<u64>,
    finished: u64,
    buf: HeaderBuf,
    rng: Xoshiro256PlusPlus,
    outcome: RunOutcome,
    recording: Recording,
    tag: u64,
    answering: Written,
    /// The stale headers of the reply being delivered, when `answering` is `AtAdmission`.
    answering_stale: HeaderState,
}

impl<'w> Sim<'w> {
    /// The current simulation time, µs.
    pub fn now(&self) -> u64 {
        self.now
    }

    /// The workload.
    pub fn workload(&self) -> &'w Workload {
        self.workload
    }

    /// One request of the workload.
    pub fn request(&self, index: u32) -> &'w Request {
        let workload = self.workload;
        workload
            .requests
            .get(index as usize)
            .unwrap_or(&FALLBACK_REQUEST)
    }

    /// The provider's configuration (what a user could know: latency, accounting).
    pub fn upstream_config(&self) -> &UpstreamConfig {
        self.upstream.config()
    }

    /// The run's random number generator.
    pub fn rng(&mut self) -> &mut Xoshiro256PlusPlus {
        &mut self.rng
    }

    /// Attempts sent so far for `request`.
    pub fn attempts(&self, request: u32) -> u32 {
        self.attempts.get(request as usize).copied().unwrap_or(0)
    }

    fn push(&mut self, t: u64, payload: u64) {
        self.seq += 1;
        self.heap.push(Reverse((t, self.seq, payload)));
    }

    /// Schedules [`Strategy::on_wake`] with `token` (below 2^48) at `t` (not before now).
    pub fn wake_at(&mut self, t: u64, token: u64) {
        self.push(t.max(self.now), WAKE | ((token | self.tag) & PAYLOAD));
    }

    /// Marks the wake-ups scheduled from now on as belonging to gateway `gateway` of a fleet.
    pub(crate) fn set_gateway(&mut self, gateway: u64) {
        self.tag = gateway << GATEWAY_SHIFT;
    }

    /// Sends the next attempt of `request` now; its response is delivered later through
    /// [`Strategy::on_response`].
    pub fn send(&mut self, request: u32) {
        let Some(count) = self.attempts.get_mut(request as usize) else {
            return;
        };
        *count = count.saturating_add(1);
        let attempt = *count;
        let req = self.request(request);
        let admission = self.upstream.admit(self.now, req, attempt);
        self.outcome.attempts += 1;
        if attempt > 1 {
            self.outcome.retries += 1;
        }
        if self.recording.schedule {
            self.outcome.schedule.push(Attempt {
                t_us: self.now,
                request,
                attempt,
                input_tokens: admission.input_tokens,
                output_tokens: if admission.status == 200 {
                    req.usage.output_tokens
                } else {
                    0
                },
                status: admission.status,
            });
        }
        let config = self.upstream.config();
        let stale = (!admission.bare && config.stale_headers).then(|| {
            self.upstream.header_state(
                self.now,
                req.lane,
                admission.status,
                admission.retry_after_s,
            )
        });
        let written = match (admission.bare, stale) {
            (true, _) => Written::Bare,
            (false, Some(_)) => Written::AtAdmission,
            (false, None) => Written::Now,
        };
        let generation = (admission.status == 200
            && self.upstream.config().output == OutputAccounting::Actual
            && req.usage.output_tokens > 0)
            .then(|| self.upstream.config().generation(req));
        let flight = Flight {
            request,
            attempt,
            status: admission.status,
            retry_after_s: admission.retry_after_s,
            sent_at_us: self.now,
            generated: 0,
            generation: generation.unwrap_or_default(),
            response_seq: 0,
            written,
        };
        let slot = match self.free.pop() {
            Some(slot) => {
                if let Some(entry) = self.flights.get_mut(slot as usize) {
                    *entry = flight;
                }
                slot
            }
            None => {
                self.flights.push(flight);
                u32::try_from(self.flights.len() - 1).unwrap_or(u32::MAX)
            }
        };
        if let Some(state) = stale {
            let index = slot as usize;
            if self.stale.len() <= index {
                self.stale.resize(index + 1, HeaderState::default());
            }
            if let Some(entry) = self.stale.get_mut(index) {
                *entry = state;
            }
        }
        let at = self.now.saturating_add(admission.latency_us);
        let Some((start, span)) = generation else {
            self.push(at, RESPONSE | u64::from(slot));
            return;
        };
        // `generate` finds a held-back response's instant as the generation's end.
        debug_assert_eq!(
            start.saturating_add(span),
            admission.latency_us,
            "a 200's generation ends with its latency"
        );
        // The response comes after every chunk of its attempt (when strictly later in time, as
        // whenever the span is not empty): it waits outside the queue, its key reserved now,
        // and takes the last chunk's place. Until then it could not have been the queue's
        // first event, so the order is the same, from a queue about half as large.
        let last = chunk_time(self.now, start, span, GENERATION_CHUNKS - 1);
        let mut chunk = CHUNK | 1 << 32 | u64::from(slot);
        if last < at
            && let Some(flight) = self.flights.get_mut(slot as usize)
        {
            self.seq += 1;
            flight.response_seq = self.seq;
            chunk |= RESPONSE_FOLLOWS;
        } else {
            self.push(at, RESPONSE | u64::from(slot));
        }
        self.push(chunk_time(self.now, start, span, 1), chunk);
    }

    /// Generation chunk `index` of the attempt in `slot`, the event at the top of the queue, is
    /// produced now. A chunk is followed by one event of its flight, the next chunk (scheduled
    /// now) or, after the last, the response (whose key [`Sim::send`] reserved): that event
    /// takes the chunk's place at the top (one sift down) instead of a pop and a push (two
    /// sifts), with the key a push would have given it, so the queue pops the same events in
    /// the same order.
    fn generate(&mut self, payload: u64) {
        let slot = (payload & 0xffff_ffff) as usize;
        let index = (payload >> 32) & 0xff;
        let flight = self.flights.get(slot).copied();
        let next = flight.and_then(|flight| {
            let (start, span) = flight.generation;
            if index + 1 < GENERATION_CHUNKS {
                self.seq += 1;
                let at = chunk_time(flight.sent_at_us, start, span, index + 1);
                let follows = payload & RESPONSE_FOLLOWS;
                Some((
                    at,
                    self.seq,
                    CHUNK | follows | (index + 1) << 32 | (slot as u64),
                ))
            } else if payload & RESPONSE_FOLLOWS != 0 {
                // Its chunks all come before the response, so the slot is still its own (a
                // chunk at or after its response's instant may find the slot reused).
                // `start + span` is the attempt's latency (`UpstreamConfig::generation`).
                let at = flight.sent_at_us.saturating_add(start.saturating_add(span));
                Some((at, flight.response_seq, RESPONSE | (slot as u64)))
            } else {
                None
            }
        });
        if let Some(mut top) = self.heap.peek_mut() {
            match next {
                Some(event) => *top = Reverse(event),
                None => {
                    PeekMut::pop(top);
                }
            }
        }
        let Some(flight) = flight else {
            return;
        };
        let request = self.request(flight.request);
        let output = request.usage.output_tokens;
        let due = output.saturating_mul(index) / GENERATION_CHUNKS;
        let tokens = due.saturating_sub(flight.generated);
        self.upstream.generate(self.now, request.lane, tokens);
        if let Some(entry) = self.flights.get_mut(slot) {
            entry.generated = due;
        }
    }

    fn finish(&mut self, request: u32, state: u8) {
        let now = self.now;
        if let (Some(slot), Some(at)) = (
            self.state.get_mut(request as usize),
            self.finished_at.get_mut(request as usize),
        ) && *slot == PENDING
        {
            *slot = state;
            *at = now;
            self.finished += 1;
        }
    }

    /// `request` is done: its last response was a success.
    pub fn complete(&mut self, request: u32) {
        self.finish(request, COMPLETED);
    }

    /// `request` is abandoned.
    pub fn give_up(&mut self, request: u32) {
        self.finish(request, GAVE_UP);
    }

    /// The response's headers, as the provider writes them now (call during
    /// [`Strategy::on_response`]).
    pub fn headers(&mut self, response: &Reply) -> &HeaderBuf {
        let state = self.header_state(response);
        render(&state, self.workload.dialect, &mut self.buf);
        &self.buf
    }

    /// The retry-relevant part of a response's headers (`retry-after`, `x-should-retry`,
    /// `date`), as a [`Snapshot`] built straight from the values the provider writes into
    /// them. For baselines, which consult nothing else: it skips formatting and parsing a dozen
    /// rate-limit fields they would ignore.
    pub fn retry_snapshot(&self, response: &Reply) -> Snapshot {
        let mut snapshot = Snapshot {
            status: Some(response.status),
            ..Snapshot::default()
        };
        let epoch_us = self
            .upstream
            .config()
            .epoch_unix_s
            .saturating_mul(1_000_000);
        let date = epoch_us
            .saturating_add(self.now)
            .saturating_add_signed(self.upstream.config().header_skew_us);
        snapshot.date = Some(UnixTime::from_secs(date / 1_000_000));
        if matches!(response.status, 429 | 529) {
            snapshot.should_retry = Some(true);
        }
        snapshot.retry_after = response
            .retry_after_s
            .map(|s| headers::RetryAfter::Delay(time::secs(s)));
        snapshot
    }

    /// The response's headers as the core's parser reads them, written over `out` (a snapshot
    /// the strategy keeps, so that none is built and copied per response): by default the
    /// snapshot the provider's header state stands for ([`HeaderState::snapshot_into`]), with
    /// [`UpstreamConfig::wire_headers`] the headers rendered as text and parsed back (the same
    /// snapshot, by a property test of the provider, at several times the cost).
    pub fn snapshot_into(&mut self, response: &Reply, out: &mut Snapshot) {
        if self.upstream.config().wire_headers {
            let status = response.status;
            headers::parse_into(Some(status), self.headers(response).pairs(), out);
            return;
        }
        self.header_state(response)
            .snapshot_into(self.workload.dialect, out);
    }

    fn header_state(&mut self, response: &Reply) -> HeaderState {
        match self.answering {
            Written::AtAdmission => self.answering_stale,
            Written::Now | Written::Bare => {
                let lane = self.request(response.request).lane;
                let mut state = self.upstream.header_state(
                    self.now,
                    lane,
                    response.status,
                    response.retry_after_s,
                );
                if self.answering == Written::Bare {
                    state.quotas = [None; 4];
                }
                state
            }
        }
    }
}

static FALLBACK_REQUEST: Request = Request {
    arrival_us: 0,
    id: 0,
    lane: 0,
    input_tokens: 0,
    max_tokens: 0,
    usage: headroom::Usage {
        input_tokens: 0,
        output_tokens: 0,
        cache_read_input_tokens: 0,
        cache_creation_input_tokens: 0,
    },
    latency_us: None,
};

/// Runs `strategy` over `workload` against a fresh provider configured by `config`.
///
/// `progress` is called with the number of finished requests every few thousand. The run stops
/// when nothing is left to happen, or after `64 × requests + 10^6` events (a strategy that
/// never finishes); unfinished requests count as given up.
///
/// # Examples
///
/// ```
/// use headroom_sim::engine::{Recording, run};
/// use headroom_sim::strategy::{Options, StrategyName, build};
/// use headroom_sim::upstream::UpstreamConfig;
/// use headroom_sim::workload::{Arrivals, GenSpec, Lane, Limits, generate};
/// use headroom::LimitKind;
///
/// let lane = Lane { name: "m".into(), limits: Limits::default().with(LimitKind::Requests, 600) };
/// let spec = GenSpec {
///     lanes: vec![lane], arrivals: Arrivals::Burst { spacing_us: 0 }, input_tokens: (10, 10),
///     output_tokens: (6, 6), max_tokens: 16, estimate_permille: 1000, ..GenSpec::tier1_batch(20)
/// };
/// let workload = generate(&spec, 1);
/// let config = UpstreamConfig::default();
/// let mut strategy = build(StrategyName::Headroom, &workload, &config, Options::default());
/// let outcome = run(&workload, config, strategy.as_mut(), 1, Recording::default(), &mut |_| {});
/// assert_eq!((outcome.completed, outcome.rate_limited), (20, 0));
/// ```
pub fn run(
    workload: &Workload,
    config: UpstreamConfig,
    strategy: &mut dyn Strategy,
    seed: u64,
    recording: Recording,
    progress: &mut dyn FnMut(u64),
) -> RunOutcome {
    let n = workload.requests.len();
    let mut upstream = Upstream::new(config, &workload.lanes);
    if recording.levels {
        upstream.record_levels();
    }
    let mut sim = Sim {
        now: 0,
        workload,
        upstream,
        heap: BinaryHeap::with_capacity(1024),
        seq: 0,
        flights: Vec::with_capacity(1024),
        stale: Vec::new(),
        free: Vec::with_capacity(1024),
        attempts: vec![0; n],
        state: vec![PENDING; n],
        finished_at: vec![0; n],
        finished: 0,
        buf: HeaderBuf::new(),
        rng: Xoshiro256PlusPlus::seed_from_u64(seed),
        outcome: RunOutcome {
            requests: n as u64,
            ..RunOutcome::default()
        },
        recording,
        tag: 0,
        answering: Written::Now,
        answering_stale: HeaderState::default(),
    };
    let mut order: Vec<u32> = (0..u32::try_from(n).unwrap_or(u32::MAX)).collect();
    if !workload
        .requests
        .windows(2)
        .all(|pair| pair[0].arrival_us <= pair[1].arrival_us)
    {
        order.sort_by_key(|&i| (sim.request(i).arrival_us, i));
    }
    let mut next_arrival = 0usize;
    let budget = 64u64.saturating_mul(n as u64).saturating_add(1_000_000);
    let mut events = 0u64;
    let mut reported = 0u64;
    loop {
        let arrival = order
            .get(next_arrival)
            .map(|&i| (sim.request(i).arrival_us, i));
        let heap_next = sim.heap.peek().map(|Reverse((t, _, _))| *t);
        let take_arrival = match (arrival, heap_next) {
            (Some((at, _)), Some(t)) => at <= t,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (None, None) => break,
        };
        events += 1;
        if events > budget {
            break;
        }
        if take_arrival {
            let Some((at, index)) = arrival else { break };
            next_arrival += 1;
            sim.now = sim.now.max(at);
            strategy.on_arrival(&mut sim, index);
        } else {
            let Some(&Reverse((t, _, payload))) = sim.heap.peek() else {
                break;
            };
            sim.now = sim.now.max(t);
            if payload & !PAYLOAD == CHUNK {
                // Leaves the chunk at the top: it is replaced by its successor in place.
                sim.generate(payload & PAYLOAD);
            } else {
                sim.heap.pop();
                match payload & !PAYLOAD {
                    WAKE => strategy.on_wake(&mut sim, payload & PAYLOAD),
                    _ => deliver(&mut sim, strategy, payload & PAYLOAD),
                }
            }
        }
        if sim.finished >= reported + 4096 {
            reported = sim.finished;
            progress(reported);
        }
    }
    progress(sim.finished);
    let first = workload.first_arrival_us();
    let mut outcome = std::mem::take(&mut sim.outcome);
    let mut last = first;
    // The latencies overwrite the completion times they come from (each at or before its
    // source), so summarising them allocates nothing.
    let mut latencies = std::mem::take(&mut sim.finished_at);
    let mut kept = 0;
    for (index, (state, request)) in sim.state.iter().zip(&workload.requests).enumerate() {
        let Some(&at) = latencies.get(index) else {
            break;
        };
        match *state {
            COMPLETED => {
                outcome.completed += 1;
                if let Some(slot) = latencies.get_mut(kept) {
                    *slot = at.saturating_sub(request.arrival_us);
                }
                kept += 1;
                last = last.max(at);
            }
            GAVE_UP => {
                outcome.gave_up += 1;
                last = last.max(at);
            }
            _ => {
                outcome.gave_up += 1;
                last = last.max(sim.now);
            }
        }
    }
    latencies.truncate(kept);
    outcome.latency = Latencies::of(&mut latencies);
    outcome.makespan_us = last.saturating_sub(first);
    outcome.consumed = sim.upstream.consumed().to_vec();
    outcome.levels = sim.upstream.take_samples();
    outcome
}

fn deliver(sim: &mut Sim<'_>, strategy: &mut dyn Strategy, slot: u64) {
    let Some(flight) = usize::try_from(slot)
        .ok()
        .and_then(|slot| sim.flights.get(slot))
        .copied()
    else {
        return;
    };
    sim.free.push(u32::try_from(slot).unwrap_or(u32::MAX));
    let request = sim.request(flight.request);
    match flight.status {
        200 => sim.upstream.complete(sim.now, request, flight.generated),
        429 => {
            sim.outcome.rate_limited += 1;
            if sim.recording.levels {
                sim.outcome.rate_limited_at.push(sim.now);
            }
        }
        529 => sim.outcome.overloaded += 1,
        _ => {}
    }
    let response = Reply {
        request: flight.request,
        attempt: flight.attempt,
        status: flight.status,
        retry_after_s: flight.retry_after_s,
        sent_at_us: flight.sent_at_us,
    };
    sim.answering = flight.written;
    if flight.written == Written::AtAdmission
        && let Some(state) = usize::try_from(slot)
            .ok()
            .and_then(|slot| sim.stale.get(slot))
    {
        sim.answering_stale = *state;
    }
    strategy.on_response(sim, &response);
    sim.answering = Written::Now;
}

/// When generation chunk `index` (1-based) of an attempt sent at `sent` is produced.
fn chunk_time(sent: u64, start: u64, span: u64, index: u64) -> u64 {
    let offset = u128::from(span) * u128::from(index) / u128::from(GENERATION_CHUNKS);
    sent.saturating_add(start)
        .saturating_add(u64::try_from(offset).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests;
