//! A `Policy<2, 8>` driven by an arbitrary sequence of operations, checked against a reference
//! model after every step.
//!
//! Operations: acquire / acquire_attempt (with deadlines, and with the attempts `complete`
//! handed back), settle, settle_with(snapshot), cancel, observe(snapshot), complete (arbitrary
//! status, snapshot, usage, body, RNG draw), set_limit, monitoring, a permit from another
//! policy, and time steps forwards, backwards and to arbitrary instants. Snapshots are either
//! parsed from generated header fields or built field by field with any values at all.
//!
//! The model and what is checked:
//!
//! * **Never lose a permit.** The model holds every admitted permit; `in_flight()` equals their
//!   number after every step; `PermitsFull` comes exactly when 8 are held; permit ids are unique.
//! * **Permits are accepted back exactly once.** A `Permit` is not `Clone`, so a second settle of
//!   the same permit does not compile; every held permit is accepted by the one settle, cancel
//!   or complete that consumes it (a permit of another policy: see below).
//! * **Answers are honest and deterministic.** `Wait { until, limit }` names an instant after
//!   `now` (at `now = u64::MAX`, `now` itself: no later instant exists) and a limit the lane
//!   has or had (a provider window may outlive its pace); a copy of the policy as the wait left
//!   it, asked again at `until`, admits, and at `until − 1` does not (`until` is the earliest
//!   instant; a wait ending beyond the clock's range names `u64::MAX` and promises nothing). A deadline turns exactly the waits
//!   that end at or after it into `DeadlineExceeded` (checked against a copy asked without
//!   one). `CostTooLarge` names a bucket whose burst is below the most the cost can charge
//!   it. `UnknownLane` exactly for lanes that do not exist. `complete`'s `RetryAt` is not
//!   before `now` and before the deadline.
//! * **Never over-admit, across the whole life cycle.** Per lane and configured pace, over
//!   every interval between two admissions — spanning settles, syncs (`settle_with`,
//!   `observe`, `complete`, with any headers: honest, lying, stale), cancels and `complete` with
//!   any status — what the admitted requests *finally* cost is at most
//!
//!   `Σ counted · W ≤ span · A + burst · W + ⌈burst · A / 2²⁰⌉ + A`
//!
//!   for a pace of `A` units per `W` µs. A request counts what it finally cost, capped at what
//!   was charged up front (a debit beyond the estimate is the caller's error, forgiven beyond a
//!   window by design): nothing once cancelled; requests only once refused with a 429 or 529
//!   without usage; the measured usage under the lane's cost model once settled with usage;
//!   its charge otherwise. On actual-output lanes the up-front output charge is the engine's
//!   private estimate, so output counts 0 (the least it can be: the bound stays sound). `span`
//!   is the forward clock: the caller's steps forward only, so the engine's own time (which
//!   takes no step backwards and bounds wild ones) never advances more; instants run to
//!   `u64::MAX`. The rounding terms are GCRA's fixed point (a unit costs `⌈W · 2²⁰ / A⌉ / 2²⁰`
//!   µs, the burst's time is rounded up once more); no other allowance (a late refund gives back
//!   only the part of its charge still ahead on each pace). A run restarts only when the
//!   pace itself changes (`set_limit`, a limit the lane adopts, the provisional pace dropped).
//! * **All or nothing.** A `Wait` or a rejection leaves the policy byte for byte as it was
//!   (its `Debug` form), the engine clock aside (a refusal still moves it: see
//!   `core/tests/policy_props.rs`, `a_refusal_moves_nothing_not_even_the_clock`).
//! * **Permits belong to their policy.** A permit of a second policy with the same
//!   configuration is refused with `PermitError::Unknown` by `settle`, `cancel` and `complete`,
//!   and changes nothing (unless the two derived tags collide, a 2⁻³² chance, then skipped).
#![no_main]

use std::num::NonZeroU32;

use headroom::backoff::FixedDraw;
use headroom::classify::classify;
use headroom::headers::{self, Dialect, Quota, Reset, RetryAfter, Snapshot};
use headroom::time::{Duration, Instant, UnixTime};
use headroom::{
    Acquire, Attempt, CacheReads, Cost, CostModel, LaneConfig, LaneId, Limit, LimitKind, Outcome,
    OutputCharge, Permit, PermitError, Policy, Priority, Rejection, Response, Usage,
};
use headroom_fuzz::KNOWN_NAMES;
use libfuzzer_sys::arbitrary::{self, Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;

const LANES: usize = 2;
const PERMITS: usize = 8;

/// A number that is usually small (the interesting range) and sometimes anything.
#[derive(Debug, Clone, Copy)]
struct Amount(u64);

impl<'a> Arbitrary<'a> for Amount {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        Ok(Self(match u8::arbitrary(u)? {
            0..=99 => u64::from(u8::arbitrary(u)?),
            100..=199 => u64::from(u16::arbitrary(u)?),
            200..=239 => u64::from(u32::arbitrary(u)?),
            _ => u64::arbitrary(u)?,
        }))
    }
}

#[derive(Debug, Arbitrary)]
struct LimitSpec {
    amount: Amount,
    window_ms: Amount,
    burst: Option<Amount>,
}

impl LimitSpec {
    fn limit(&self) -> Limit {
        let nz = |n: u64| {
            NonZeroU32::new(u32::try_from(n).unwrap_or(u32::MAX)).unwrap_or(NonZeroU32::MIN)
        };
        let limit = Limit::per_window_ms(nz(self.amount.0), nz(self.window_ms.0));
        match self.burst {
            Some(burst) => limit.with_burst(nz(burst.0)),
            None => limit,
        }
    }
}

#[derive(Debug, Arbitrary)]
struct LaneSpec {
    limits: [Option<LimitSpec>; 4],
    cache_reads_counted: bool,
    output_actual: bool,
    reserve_permille: u16,
    provisional: Option<Option<LimitSpec>>,
    adopt_server_limits: bool,
}

impl LaneSpec {
    fn cost_model(&self) -> CostModel {
        CostModel::new(
            if self.cache_reads_counted {
                CacheReads::Counted
            } else {
                CacheReads::Excluded
            },
            if self.output_actual {
                OutputCharge::Actual
            } else {
                OutputCharge::Reserve
            },
        )
    }

    fn config(&self) -> LaneConfig {
        let mut config = LaneConfig::new()
            .with_cost_model(self.cost_model())
            .with_background_reserve_permille(self.reserve_permille)
            .adopt_server_limits(self.adopt_server_limits);
        for (kind, spec) in LimitKind::ALL.into_iter().zip(&self.limits) {
            config = config.with_limit(kind, spec.as_ref().map(LimitSpec::limit));
        }
        if let Some(provisional) = &self.provisional {
            config = config.provisional_requests(provisional.as_ref().map(LimitSpec::limit));
        }
        config
    }
}

#[derive(Debug, Arbitrary)]
struct UsageSpec {
    input: Amount,
    output: Amount,
    cache_read: Amount,
    cache_creation: Amount,
}

impl UsageSpec {
    fn usage(&self) -> Usage {
        Usage {
            input_tokens: self.input.0,
            output_tokens: self.output.0,
            cache_read_input_tokens: self.cache_read.0,
            cache_creation_input_tokens: self.cache_creation.0,
        }
    }
}

#[derive(Debug, Arbitrary)]
enum ResetSpec {
    After(Amount),
    At(Amount),
}

#[derive(Debug, Arbitrary)]
struct QuotaSpec {
    limit: Option<Amount>,
    remaining: Option<Amount>,
    reset: Option<ResetSpec>,
    window: Option<Amount>,
}

#[derive(Debug, Arbitrary)]
enum SnapSpec {
    /// Header fields by name index and a numeric value, through the real parser.
    Fields {
        status: Option<u16>,
        fields: Vec<(u8, Amount, bool)>,
    },
    /// Any snapshot at all, field by field (the fields are public, so callers can build these).
    Raw {
        quotas: [Option<QuotaSpec>; 8],
        dialect: u8,
        date: Option<Amount>,
        retry_after: Option<ResetSpec>,
        retry_after_ms: Option<Amount>,
        should_retry: Option<bool>,
    },
}

impl SnapSpec {
    fn snapshot(&self, status: Option<u16>) -> Snapshot {
        match self {
            Self::Fields {
                status: own,
                fields,
            } => {
                let text: Vec<(&str, String)> = fields
                    .iter()
                    .map(|&(name, value, as_date)| {
                        let name = KNOWN_NAMES[usize::from(name) % KNOWN_NAMES.len()];
                        let value = if as_date {
                            headroom_fuzz::rfc3339(UnixTime::from_secs(value.0 % 253_402_300_799))
                        } else {
                            value.0.to_string()
                        };
                        (name, value)
                    })
                    .collect();
                headers::parse(status.or(*own), text.iter().map(|(n, v)| (*n, v.as_str())))
            }
            Self::Raw {
                quotas,
                dialect,
                date,
                retry_after,
                retry_after_ms,
                should_retry,
            } => {
                let mut snapshot = Snapshot {
                    status,
                    ..Snapshot::default()
                };
                snapshot.dialect = match dialect % 6 {
                    0 => Dialect::None,
                    1 => Dialect::Anthropic,
                    2 => Dialect::OpenAi,
                    3 => Dialect::IetfSplit,
                    4 => Dialect::IetfDictionary,
                    _ => Dialect::IetfPolicies,
                };
                for (slot, spec) in snapshot.quotas.iter_mut().zip(quotas) {
                    *slot = spec.as_ref().map(|q| Quota {
                        limit: q.limit.map(|a| a.0),
                        remaining: q.remaining.map(|a| a.0),
                        reset: q.reset.as_ref().map(|r| match r {
                            ResetSpec::After(a) => Reset::After(Duration::from_ticks(a.0)),
                            ResetSpec::At(a) => Reset::At(UnixTime::from_micros(a.0)),
                        }),
                        window: q.window.map(|a| Duration::from_ticks(a.0)),
                    });
                }
                snapshot.date = date.map(|a| UnixTime::from_micros(a.0));
                snapshot.retry_after = retry_after.as_ref().map(|r| match r {
                    ResetSpec::After(a) => RetryAfter::Delay(Duration::from_ticks(a.0)),
                    ResetSpec::At(a) => RetryAfter::At(UnixTime::from_micros(a.0)),
                });
                snapshot.retry_after_ms = retry_after_ms.map(|a| Duration::from_ticks(a.0));
                snapshot.should_retry = *should_retry;
                snapshot
            }
        }
    }
}

#[derive(Debug, Arbitrary)]
enum Op {
    Acquire {
        lane: u8,
        requests: Amount,
        input: Amount,
        output: Amount,
        background: bool,
        deadline_in: Option<Amount>,
        /// Retry with an attempt `complete` handed back.
        retry: Option<u8>,
    },
    Settle {
        which: u8,
        usage: Option<UsageSpec>,
    },
    SettleWith {
        which: u8,
        usage: Option<UsageSpec>,
        snapshot: SnapSpec,
    },
    Cancel {
        which: u8,
    },
    Observe {
        lane: u8,
        snapshot: SnapSpec,
    },
    Complete {
        which: u8,
        status: Option<u16>,
        snapshot: Option<SnapSpec>,
        usage: Option<UsageSpec>,
        body: Vec<u8>,
        draw: u64,
    },
    SetLimit {
        lane: u8,
        kind: u8,
        limit: Option<LimitSpec>,
    },
    Monitor,
    Foreign {
        which: u8,
    },
    Advance(Amount),
    Rewind(Amount),
    Jump(u64),
}

#[derive(Debug, Arbitrary)]
struct Input {
    lanes: Vec<LaneSpec>,
    start: Amount,
    ops: Vec<Op>,
}

/// One admission, for the over-admission check.
#[derive(Debug, Clone)]
struct Record {
    lane: usize,
    /// The permit's id, while it is held.
    id: Option<u32>,
    /// Event number (operations so far) and forward clock at admission.
    event: u64,
    forward: u128,
    /// The least the admission charged each kind up front.
    least: [u64; 4],
    /// What it finally counts: `least` while in flight, then at most that.
    counted: [u64; 4],
}

/// A run of one pace: its `(amount, window µs, burst)` and the event it started at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Run {
    limit: (u64, u64, u64),
    since: u64,
}

struct Model {
    policy: Policy<LANES, PERMITS>,
    lanes: Vec<CostModel>,
    held: Vec<Permit>,
    attempts: Vec<Attempt>,
    runs: [[Option<Run>; 4]; LANES],
    records: Vec<Record>,
    /// Operations so far.
    event: u64,
    /// The caller's clock, counting steps forward only.
    forward: u128,
    now: u64,
    configs: Vec<LaneConfig>,
    foreign: Policy<LANES, PERMITS>,
    /// Whether each lane has ever had a limit of each kind (configured, set or reported).
    ever: [[bool; 4]; LANES],
}

fn bucket_limit(
    policy: &Policy<LANES, PERMITS>,
    lane: LaneId,
    kind: LimitKind,
) -> Option<(u64, u64, u64)> {
    let bucket = policy.bucket(lane, kind)?;
    let limit = bucket.limit();
    Some((
        u64::from(limit.amount()),
        u64::from(limit.window_ms()) * 1_000,
        u64::from(bucket.burst()),
    ))
}

/// The least and the most `cost` can charge each bucket kind up front under `model`. Reserve
/// lanes charge `max_tokens` for output, so both are exact; actual-output lanes charge the
/// lane's running output estimate capped at `max_tokens`, which the engine keeps to itself, so
/// the output charge is only known to lie in `0..=max_tokens`.
fn charges(model: CostModel, cost: &Cost) -> ([u64; 4], [u64; 4]) {
    let exact = |output: u64| {
        [
            u64::from(cost.requests().get()),
            cost.input_tokens(),
            output,
            cost.input_tokens().saturating_add(output),
        ]
    };
    match model.output {
        OutputCharge::Reserve => (exact(cost.max_tokens()), exact(cost.max_tokens())),
        OutputCharge::Actual => (exact(0), exact(cost.max_tokens())),
    }
}

/// The policy's whole state as its `Debug` form, the engine clock's fields taken out (see the
/// module docs).
fn state_of(policy: &Policy<LANES, PERMITS>) -> String {
    let state = format!("{policy:?}");
    let Some(start) = state.find("clock: EngineClock {") else {
        return state;
    };
    let end = state[start..]
        .find('}')
        .map_or(state.len(), |end| start + end + 1);
    format!("{}{}", &state[..start], &state[end..])
}

impl Model {
    fn new(input: &Input) -> Self {
        // No time-to-live: the model holds every permit until it is handed back (reclaiming
        // is tested on its own in core/tests/permit_ttl.rs).
        let mut policy = Policy::new().with_permit_ttl(headroom::time::Duration::MAX);
        let mut lanes = Vec::new();
        let mut configs = Vec::new();
        for spec in input.lanes.iter().take(LANES + 1) {
            match policy.add_lane(spec.config()) {
                Ok(id) => {
                    assert_eq!(id.index(), lanes.len());
                    lanes.push(spec.cost_model());
                    configs.push(spec.config());
                }
                Err(_) => assert_eq!(lanes.len(), LANES, "add_lane refused with room left"),
            }
        }
        assert_eq!(policy.lanes(), lanes.len());
        let foreign = Self::twin(&configs);
        let mut ever = [[false; 4]; LANES];
        for (lane, ever) in ever.iter_mut().enumerate().take(lanes.len()) {
            for (seen, kind) in ever.iter_mut().zip(LimitKind::ALL) {
                *seen = bucket_limit(&policy, LaneId::from_index(lane as u8), kind).is_some();
            }
        }
        Self {
            policy,
            lanes,
            held: Vec::new(),
            attempts: Vec::new(),
            runs: Default::default(),
            records: Vec::new(),
            event: 0,
            forward: 0,
            now: input.start.0,
            configs,
            foreign,
            ever,
        }
    }

    /// Notes the limits a snapshot reports to `lane`.
    fn reported(&mut self, lane: LaneId, snapshot: &Snapshot) {
        if let Some(ever) = self.ever.get_mut(lane.index()) {
            for (seen, kind) in ever.iter_mut().zip(LimitKind::ALL) {
                *seen |= snapshot
                    .quota_of(kind)
                    .is_some_and(|quota| quota.limit.is_some());
            }
        }
    }

    /// A second policy with the same configuration.
    fn twin(configs: &[LaneConfig]) -> Policy<LANES, PERMITS> {
        let mut twin = Policy::new();
        for config in configs {
            assert!(twin.add_lane(*config).is_ok(), "the twin has the same room");
        }
        twin
    }

    /// Moves the caller's clock to `to`, counting only steps forward.
    fn set_now(&mut self, to: u64) {
        self.forward += u128::from(to.saturating_sub(self.now));
        self.now = to;
    }

    fn at(&self) -> Instant {
        Instant::from_ticks(self.now)
    }

    fn lane_exists(&self, lane: u8) -> bool {
        usize::from(lane) < self.lanes.len()
    }

    /// Closes the record of the held permit `id` on `lane` with what it finally counts.
    fn close(&mut self, lane: LaneId, id: u32, counted: impl FnOnce(&Record) -> [u64; 4]) {
        let index = self
            .records
            .iter()
            .rposition(|record| record.lane == lane.index() && record.id == Some(id))
            .expect("every held permit has a record");
        let record = &mut self.records[index];
        let counted = counted(record);
        record.id = None;
        for (slot, (count, least)) in record
            .counted
            .iter_mut()
            .zip(counted.iter().zip(record.least))
        {
            *slot = (*count).min(least);
        }
    }

    /// What a settled request counts: its measured usage under the lane's cost model, or its
    /// charge without one.
    fn settled(model: CostModel, usage: Option<Usage>, record: &Record) -> [u64; 4] {
        let Some(usage) = usage else {
            return record.least;
        };
        let reads = match model.cache_reads {
            CacheReads::Counted => usage.cache_read_input_tokens,
            CacheReads::Excluded => 0,
        };
        let input = usage
            .input_tokens
            .saturating_add(usage.cache_creation_input_tokens)
            .saturating_add(reads);
        [
            record.least[0],
            input,
            usage.output_tokens,
            input.saturating_add(usage.output_tokens),
        ]
    }

    /// Checks and restarts every run whose pace changed (or, with `all`, every run).
    fn check_runs(&mut self, all: bool) {
        for lane in 0..self.lanes.len() {
            for (kind, limit_kind) in LimitKind::ALL.into_iter().enumerate() {
                let limit = bucket_limit(&self.policy, LaneId::from_index(lane as u8), limit_kind);
                self.ever[lane][kind] |= limit.is_some();
                let run = self.runs[lane][kind];
                if !all && run.map(|run| run.limit) == limit {
                    continue;
                }
                if let Some(run) = run {
                    self.check_run(lane, kind, run);
                }
                self.runs[lane][kind] = limit.map(|limit| Run {
                    limit,
                    since: self.event,
                });
            }
        }
    }

    /// Guarantee 1 over every interval of one run (see the module docs).
    fn check_run(&self, lane: usize, kind: usize, run: Run) {
        let (a, w, burst) = (
            u128::from(run.limit.0),
            u128::from(run.limit.1),
            u128::from(run.limit.2),
        );
        let rounding = (burst * a).div_ceil(1 << 20) + a;
        let admissions: Vec<&Record> = self
            .records
            .iter()
            .filter(|record| record.lane == lane && record.event >= run.since)
            .collect();
        for (i, first) in admissions.iter().enumerate() {
            let mut total: u128 = 0;
            for last in &admissions[i..] {
                total += u128::from(last.counted[kind]);
                let span = last.forward - first.forward;
                assert!(
                    total * w <= span * a + burst * w + rounding,
                    "over-admission on lane {lane} bucket {kind}: {total} units in {span} µs \
                     (limit {:?}) from event {} to {}",
                    run.limit,
                    first.event,
                    last.event
                );
            }
        }
    }

    fn take(&mut self, which: u8) -> Option<Permit> {
        if self.held.is_empty() {
            return None;
        }
        let index = usize::from(which) % self.held.len();
        Some(self.held.swap_remove(index))
    }

    fn check_in_flight(&self) {
        assert_eq!(
            self.policy.in_flight(),
            self.held.len(),
            "in_flight differs from the permits held"
        );
    }

    fn acquire(&mut self, lane: u8, cost: Cost, priority: Priority, attempt: Attempt) {
        let lane_id = LaneId::from_index(lane);
        let now = self.at();
        // What the same request gets without a deadline, on a copy: the deadline may only turn a
        // late wait into a refusal, and the engine must be deterministic.
        let plain = self.policy.clone().acquire(now, lane_id, cost, priority);
        let limits = LimitKind::ALL.map(|kind| bucket_limit(&self.policy, lane_id, kind));
        let state = state_of(&self.policy);
        let answer = self
            .policy
            .acquire_attempt(now, lane_id, cost, priority, attempt);
        if !matches!(answer, Acquire::Admit(_)) {
            assert_eq!(
                state_of(&self.policy),
                state,
                "{answer:?} changed the policy (all or nothing)"
            );
        }

        if self.held.len() >= PERMITS {
            assert_eq!(
                answer,
                Acquire::Reject(Rejection::PermitsFull),
                "{} held",
                self.held.len()
            );
        } else if !self.lane_exists(lane) {
            assert_eq!(answer, Acquire::Reject(Rejection::UnknownLane));
        } else {
            assert_ne!(
                answer,
                Acquire::Reject(Rejection::PermitsFull),
                "{} held",
                self.held.len()
            );
            assert_ne!(answer, Acquire::Reject(Rejection::UnknownLane));
        }
        match (&plain, attempt.deadline()) {
            (Acquire::Wait { until, .. }, Some(deadline)) if *until >= deadline => {
                assert_eq!(answer, Acquire::Reject(Rejection::DeadlineExceeded));
            }
            (Acquire::Admit(p), _) => match &answer {
                Acquire::Admit(q) => assert_eq!((p.id(), p.lane()), (q.id(), q.lane())),
                other => panic!("admitted without a deadline, {other:?} with one"),
            },
            _ => assert_eq!(answer, plain, "same request, same state, different answer"),
        }

        match answer {
            Acquire::Admit(permit) => {
                assert_eq!(permit.lane(), lane_id);
                assert_eq!(self.policy.attempt(&permit), Some(attempt));
                assert!(
                    self.held.iter().all(|held| held.id() != permit.id()),
                    "permit id {} issued twice",
                    permit.id()
                );
                let (least, _) = charges(self.lanes[usize::from(lane)], &cost);
                self.records.push(Record {
                    lane: usize::from(lane),
                    id: Some(permit.id()),
                    event: self.event,
                    forward: self.forward,
                    least,
                    counted: least,
                });
                self.held.push(permit);
            }
            Acquire::Wait { until, kind: limit } => {
                // A pace, or a provider window: learned from headers (a self-imposed lane learns
                // no pace) or left behind when `set_limit` removed the pace.
                assert!(
                    limits[limit.index()].is_some() || self.ever[usize::from(lane)][limit.index()],
                    "wait on {limit:?}, which the lane never had"
                );
                // At the last instant there is no later one to name: the wait names `now`. A
                // wait that ends beyond the caller's clock's range names its last instant,
                // which cannot promise anything.
                if now == Instant::from_ticks(u64::MAX) {
                    assert_eq!(until, now);
                }
                if until == Instant::from_ticks(u64::MAX) {
                    self.check_in_flight();
                    return;
                }
                assert!(until > now, "wait until {until:?}, not after now {now:?}");
                // Honest: admitted at `until`, not at `until − 1`. Asked of the policy as the
                // wait left it: the refusal moved its clock (a large step back re-anchors it),
                // and `until` is in that clock's terms.
                let after = self.policy.clone();
                let mut later = after.clone();
                let retried = later.acquire(until, lane_id, cost, priority);
                assert!(
                    matches!(retried, Acquire::Admit(_)),
                    "told to wait until {until:?}, then {retried:?}"
                );
                let earlier = Instant::from_ticks(until.as_ticks() - 1);
                if earlier > now {
                    let mut sooner = after;
                    let early = sooner.acquire(earlier, lane_id, cost, priority);
                    assert!(
                        !matches!(early, Acquire::Admit(_)),
                        "admitted before {until:?}"
                    );
                }
            }
            Acquire::Reject(Rejection::CostTooLarge { kind: limit }) => {
                let model = self.lanes[usize::from(lane)];
                let (_, _, burst) =
                    limits[limit.index()].expect("too large for a bucket the lane lacks");
                let (_, most) = charges(model, &cost);
                assert!(
                    most[limit.index()] > burst,
                    "refused a cost within the burst: {cost:?} charges at most {most:?}, \
                     refused on {limit:?}, limits {limits:?}, cost model {model:?}, now {now:?}"
                );
            }
            Acquire::Reject(_) => {}
        }
        self.check_in_flight();
    }

    fn step(&mut self, op: &Op) {
        self.event += 1;
        match op {
            Op::Acquire {
                lane,
                requests,
                input,
                output,
                background,
                deadline_in,
                retry,
            } => {
                let requests = u32::try_from(requests.0).unwrap_or(u32::MAX);
                let cost = Cost::new(
                    NonZeroU32::new(requests).unwrap_or(NonZeroU32::MIN),
                    input.0,
                    output.0,
                );
                let priority = if *background {
                    Priority::Background
                } else {
                    Priority::Interactive
                };
                let mut attempt = match retry {
                    Some(i) if !self.attempts.is_empty() => {
                        self.attempts[usize::from(*i) % self.attempts.len()]
                    }
                    _ => Attempt::first(),
                };
                if let Some(d) = deadline_in {
                    attempt =
                        attempt.with_deadline(Instant::from_ticks(self.now.saturating_add(d.0)));
                }
                self.acquire(*lane % 3, cost, priority, attempt);
            }
            Op::Settle { which, usage } => {
                let Some(permit) = self.take(*which) else {
                    return;
                };
                let (lane, id) = (permit.lane(), permit.id());
                let usage = usage.as_ref().map(UsageSpec::usage);
                assert_eq!(self.policy.settle(self.at(), permit, usage), Ok(()));
                let model = self.lanes[lane.index()];
                self.close(lane, id, |record| Self::settled(model, usage, record));
            }
            Op::SettleWith {
                which,
                usage,
                snapshot,
            } => {
                let Some(permit) = self.take(*which) else {
                    return;
                };
                let (lane, id) = (permit.lane(), permit.id());
                let snapshot = snapshot.snapshot(Some(200));
                self.reported(lane, &snapshot);
                let usage = usage.as_ref().map(UsageSpec::usage);
                assert_eq!(
                    self.policy.settle_with(self.at(), permit, usage, &snapshot),
                    Ok(())
                );
                let model = self.lanes[lane.index()];
                self.close(lane, id, |record| Self::settled(model, usage, record));
            }
            Op::Cancel { which } => {
                let Some(permit) = self.take(*which) else {
                    return;
                };
                let (lane, id) = (permit.lane(), permit.id());
                assert_eq!(self.policy.cancel(self.at(), permit), Ok(()));
                self.close(lane, id, |_| [0; 4]);
            }
            Op::Observe { lane, snapshot } => {
                let lane = *lane % 3;
                let snapshot = snapshot.snapshot(Some(200));
                self.reported(LaneId::from_index(lane), &snapshot);
                let result = self
                    .policy
                    .observe(self.at(), LaneId::from_index(lane), &snapshot);
                if self.lane_exists(lane) {
                    assert_eq!(result, Ok(()));
                } else {
                    assert_eq!(result, Err(Rejection::UnknownLane));
                }
            }
            Op::Complete {
                which,
                status,
                snapshot,
                usage,
                body,
                draw,
            } => {
                let Some(permit) = self.take(*which) else {
                    return;
                };
                let (lane, id) = (permit.lane(), permit.id());
                let deadline = self.policy.attempt(&permit).and_then(|a| a.deadline());
                let snapshot = match (status, snapshot.as_ref()) {
                    (Some(_), Some(spec)) => Some(spec.snapshot(*status)),
                    (Some(status), None) => Some(Snapshot {
                        status: Some(*status),
                        ..Snapshot::default()
                    }),
                    (None, _) => None,
                };
                if let Some(snapshot) = &snapshot {
                    self.reported(lane, snapshot);
                }
                let mut response = match &snapshot {
                    Some(snapshot) => Response::new(snapshot),
                    None => Response::transport_error(),
                };
                if let Some(usage) = usage {
                    response = response.with_usage(usage.usage());
                }
                if !body.is_empty() {
                    response = response.with_body(body);
                }
                let now = self.at();
                let done = self
                    .policy
                    .complete(now, permit, &response, &mut FixedDraw(*draw));
                match done {
                    Ok(Outcome::Retry(retry)) => {
                        let (at, attempt) = (retry.at(), retry.attempt());
                        assert!(at >= now, "retry at {at:?} before now {now:?}");
                        if let Some(deadline) = deadline {
                            assert!(
                                at < deadline,
                                "retry at {at:?} not before the deadline {deadline:?}"
                            );
                        }
                        assert_eq!(attempt.deadline(), deadline);
                        if self.attempts.len() < 16 {
                            self.attempts.push(attempt);
                        }
                    }
                    Ok(_) => {}
                    Err(error) => panic!("a held permit was refused by complete: {error:?}"),
                }
                // What it finally counts: its usage when the response carried one; nothing but
                // the request when the server refused it (429, 529); else its charge.
                let usage = usage.as_ref().map(UsageSpec::usage);
                let throttled = snapshot.as_ref().is_some_and(|snapshot| {
                    let body = (!body.is_empty()).then_some(body.as_slice());
                    snapshot.status.is_some_and(|status| {
                        classify(status, snapshot, body).class().is_throttling()
                    })
                });
                let model = self.lanes[lane.index()];
                self.close(lane, id, |record| match usage {
                    None if throttled => [record.least[0], 0, 0, 0],
                    usage => Self::settled(model, usage, record),
                });
            }
            Op::SetLimit { lane, kind, limit } => {
                let lane = *lane % 3;
                let kind = LimitKind::ALL[usize::from(*kind) % 4];
                let result = self.policy.set_limit(
                    self.at(),
                    LaneId::from_index(lane),
                    kind,
                    limit.as_ref().map(LimitSpec::limit),
                );
                assert_eq!(result.is_ok(), self.lane_exists(lane));
                if let (Some(ever), Some(_)) = (self.ever.get_mut(usize::from(lane)), limit) {
                    ever[kind.index()] = true;
                }
            }
            Op::Monitor => {
                let now = self.at();
                let count = self.policy.status(now).count();
                let buckets: usize = (0..self.lanes.len())
                    .map(|lane| {
                        LimitKind::ALL
                            .into_iter()
                            .filter(|kind| {
                                self.policy
                                    .bucket(LaneId::from_index(lane as u8), *kind)
                                    .is_some()
                            })
                            .count()
                    })
                    .sum();
                // `status` reports every pace, and the provider window of a limit that has
                // none (learned from headers by a lane that keeps its own paces).
                assert!(buckets <= count && count <= self.lanes.len() * LimitKind::ALL.len());
            }
            Op::Foreign { which } => {
                let now = self.at();
                if self.lanes.is_empty() {
                    return;
                }
                if self.foreign.in_flight() == PERMITS {
                    // Its permits were handed to the policy under test and never came back.
                    self.foreign = Self::twin(&self.configs);
                }
                let lane = LaneId::from_index(which % self.lanes.len() as u8);
                let Acquire::Admit(stranger) =
                    self.foreign
                        .acquire(now, lane, Cost::request(0, 0), Priority::Interactive)
                else {
                    return;
                };
                // Derived tags collide with a chance of 2⁻³² (see the permit module's docs).
                if self.foreign.tag() == self.policy.tag() {
                    assert_eq!(self.foreign.cancel(now, stranger), Ok(()));
                    return;
                }
                let before = format!("{:?}", self.policy);
                let result = match which % 3 {
                    0 => self.policy.settle(now, stranger, None),
                    1 => self.policy.cancel(now, stranger),
                    _ => self
                        .policy
                        .complete(
                            now,
                            stranger,
                            &Response::transport_error(),
                            &mut FixedDraw(0),
                        )
                        .map(|_| ()),
                };
                assert_eq!(
                    result,
                    Err(PermitError::Unknown),
                    "a foreign permit was accepted"
                );
                assert_eq!(
                    format!("{:?}", self.policy),
                    before,
                    "a refused permit changed the policy"
                );
            }
            Op::Advance(by) => self.set_now(self.now.saturating_add(by.0)),
            Op::Rewind(by) => self.set_now(self.now.saturating_sub(by.0)),
            Op::Jump(to) => self.set_now(*to),
        }
        self.check_in_flight();
        self.check_runs(false);
    }
}

fuzz_target!(|input: Input| {
    let mut model = Model::new(&input);
    for op in input.ops.iter().take(256) {
        model.step(op);
    }
    // Everything still held goes back, exactly once.
    let now = model.at();
    for permit in std::mem::take(&mut model.held) {
        assert_eq!(model.policy.cancel(now, permit), Ok(()));
    }
    assert_eq!(model.policy.in_flight(), 0);
    model.check_runs(true);
});
