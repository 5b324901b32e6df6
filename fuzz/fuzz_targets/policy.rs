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
//!   or complete that consumes it, and a permit of another policy (whose id no held permit
//!   has) is refused with `PermitError::Unknown` without changing anything.
//! * **Answers are honest and deterministic.** `Wait { until, limit }` names an instant after
//!   `now` and a bucket the lane has; a copy of the policy asked again at `until` admits, and at
//!   `until − 1` does not (`until` is the earliest instant). A deadline turns exactly the waits
//!   that end at or after it into `DeadlineExceeded` (checked against a copy asked without
//!   one). `CostTooLarge` names a bucket whose burst is below the most the cost can charge
//!   it. `UnknownLane` exactly for lanes that do not exist. `complete`'s `RetryAt` is not
//!   before `now` and before the deadline.
//! * **Never over-admit.** Per lane and bucket, over every run of admissions with no event in
//!   between that may legitimately give capacity back (cancel, settle with usage, settle_with,
//!   observe, complete, set_limit), and over any sub-run i..k of it, whatever the order of the
//!   clock (it may go backwards):
//!
//!   `Σ charge · W ≤ (t_k − t_i) · A + burst · W + ⌈burst · A / 2²⁰⌉ + A`
//!
//!   for a limit of `A` units per `W` µs. This is GCRA's own bound, `Σ cost_time ≤ t_k − t_i +
//!   capacity` (the theoretical arrival time only grows while nothing is refunded, is at least
//!   `t_i + Σ cost_time` after admission k, and at most `t_k + capacity`, or admission k would
//!   have been refused), with the engine's fixed-point rounding bounded from the documented
//!   rule: a unit costs `⌈W · 2²⁰ / A⌉ / 2²⁰` µs rounded up, so each `cost_time` is at least
//!   `charge · W / A` and `capacity` at most `burst · W / A + burst / 2²⁰ + 1`. Checked in
//!   O(1) per admission with a running minimum. Charges are the documented cost model's
//!   (requests; input; output `max_tokens` on reserve lanes; input + output for tokens), and
//!   on actual-output lanes, whose up-front output charge is a private running estimate capped
//!   at `max_tokens`, the least possible (output 0), which keeps the bound sound. Runs
//!   that reach instants at or above 2⁶² µs (146 000 years) are not checked: the bucket's
//!   arithmetic saturates at the end of `u64`, by design.
#![no_main]

use std::num::NonZeroU32;

use headroom::backoff::FixedDraw;
use headroom::headers::{self, Dialect, Quota, Reset, RetryAfter, Snapshot};
use headroom::time::{Duration, Instant, UnixTime};
use headroom::{
    Acquire, Attempt, CacheReads, Outcome, Cost, CostModel, LaneConfig, LaneId, Limit,
    LimitKind, OutputCharge, Permit, PermitError, Policy, Priority, Rejection, Response, Usage,
};
use headroom_fuzz::KNOWN_NAMES;
use libfuzzer_sys::arbitrary::{self, Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;

const LANES: usize = 2;
const PERMITS: usize = 8;
/// Instants from here on are not checked for over-admission (saturation at the end of `u64`).
const CHECKED_HORIZON: u64 = 1 << 62;

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

/// The admissions to one bucket since the last event that may give capacity back.
#[derive(Debug, Clone)]
struct Run {
    /// `(amount, window µs, burst)` of the bucket when the run began.
    limit: (u64, u64, u64),
    /// Σ charges so far.
    sum: u128,
    /// min over admissions i of `S_{i−1} · W − t_i · A`.
    min_term: i128,
    /// False once an instant beyond the horizon was seen.
    checked: bool,
}

struct Model {
    policy: Policy<LANES, PERMITS>,
    lanes: Vec<CostModel>,
    held: Vec<Permit>,
    attempts: Vec<Attempt>,
    runs: [[Option<Run>; 4]; LANES],
    now: u64,
    foreign: Policy<1, 256>,
    foreign_lane: LaneId,
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

impl Model {
    fn new(input: &Input) -> Self {
        let mut policy = Policy::new();
        let mut lanes = Vec::new();
        for spec in input.lanes.iter().take(LANES + 1) {
            match policy.add_lane(spec.config()) {
                Ok(id) => {
                    assert_eq!(id.index(), lanes.len());
                    lanes.push(spec.cost_model());
                }
                Err(_) => assert_eq!(lanes.len(), LANES, "add_lane refused with room left"),
            }
        }
        assert_eq!(policy.lanes(), lanes.len());
        let mut foreign = Policy::new();
        let foreign_lane = foreign
            .add_lane(LaneConfig::new().provisional_requests(None))
            .expect("an empty policy has room");
        Self {
            policy,
            lanes,
            held: Vec::new(),
            attempts: Vec::new(),
            runs: Default::default(),
            now: input.start.0,
            foreign,
            foreign_lane,
        }
    }

    fn at(&self) -> Instant {
        Instant::from_ticks(self.now)
    }

    fn lane_exists(&self, lane: u8) -> bool {
        usize::from(lane) < self.lanes.len()
    }

    /// An event that may give capacity back (or change limits) on `lane`: runs start afresh.
    fn reset(&mut self, lane: LaneId) {
        if let Some(runs) = self.runs.get_mut(lane.index()) {
            *runs = Default::default();
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
        let before = self.policy.clone();
        let answer = self
            .policy
            .acquire_attempt(now, lane_id, cost, priority, attempt);

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
                // The least that was charged: sound for the over-admission bound.
                let (least, _) = charges(self.lanes[usize::from(lane)], &cost);
                for (index, limit) in limits.iter().enumerate() {
                    if let Some(limit) = limit {
                        self.admitted(usize::from(lane), index, *limit, least[index]);
                    }
                }
                self.held.push(permit);
            }
            Acquire::Wait { until, kind: limit } => {
                assert!(until > now, "wait until {until:?}, not after now {now:?}");
                assert!(
                    limits[limit.index()].is_some(),
                    "wait on {limit:?}, which the lane lacks"
                );
                // Honest: admitted at `until`, not at `until − 1`.
                let mut later = before.clone();
                let retried = later.acquire(until, lane_id, cost, priority);
                assert!(
                    matches!(retried, Acquire::Admit(_)),
                    "told to wait until {until:?}, then {retried:?}"
                );
                let earlier = Instant::from_ticks(until.as_ticks() - 1);
                if earlier > now {
                    let mut sooner = before;
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

    /// Records an admission of `charge` on bucket `kind` of `lane` and checks the GCRA bound.
    fn admitted(&mut self, lane: usize, kind: usize, limit: (u64, u64, u64), charge: u64) {
        let now = self.now;
        let run = self.runs[lane][kind].get_or_insert(Run {
            limit,
            sum: 0,
            min_term: i128::MAX,
            checked: true,
        });
        assert_eq!(
            run.limit, limit,
            "lane {lane} bucket {kind} changed its limit with no event"
        );
        if now >= CHECKED_HORIZON {
            run.checked = false;
        }
        if !run.checked {
            return;
        }
        let (a, w, burst) = (
            i128::from(limit.0),
            i128::from(limit.1),
            i128::from(limit.2),
        );
        let t = i128::from(now);
        let sum_before = run.sum as i128;
        run.min_term = run.min_term.min(sum_before * w - t * a);
        run.sum += u128::from(charge);
        let lhs = run.sum as i128 * w - t * a - run.min_term;
        let rounding = (burst * a + (1 << 20) - 1) >> 20;
        let bound = burst * w + rounding + a;
        assert!(
            lhs <= bound,
            "over-admission on lane {lane} bucket {kind}: {lhs} > {bound} (limit {limit:?}, run {run:?}, now {now})"
        );
    }

    fn step(&mut self, op: &Op) {
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
                let lane = permit.lane();
                let usage = usage.as_ref().map(UsageSpec::usage);
                assert_eq!(self.policy.settle(self.at(), permit, usage), Ok(()));
                if usage.is_some() {
                    self.reset(lane);
                }
            }
            Op::SettleWith {
                which,
                usage,
                snapshot,
            } => {
                let Some(permit) = self.take(*which) else {
                    return;
                };
                let lane = permit.lane();
                let snapshot = snapshot.snapshot(Some(200));
                let usage = usage.as_ref().map(UsageSpec::usage);
                assert_eq!(
                    self.policy.settle_with(self.at(), permit, usage, &snapshot),
                    Ok(())
                );
                self.reset(lane);
            }
            Op::Cancel { which } => {
                let Some(permit) = self.take(*which) else {
                    return;
                };
                let lane = permit.lane();
                assert_eq!(self.policy.cancel(self.at(), permit), Ok(()));
                self.reset(lane);
            }
            Op::Observe { lane, snapshot } => {
                let lane = *lane % 3;
                let snapshot = snapshot.snapshot(Some(200));
                let result = self
                    .policy
                    .observe(self.at(), LaneId::from_index(lane), &snapshot);
                if self.lane_exists(lane) {
                    assert_eq!(result, Ok(()));
                } else {
                    assert_eq!(result, Err(Rejection::UnknownLane));
                }
                self.reset(LaneId::from_index(lane));
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
                let lane = permit.lane();
                let deadline = self.policy.attempt(&permit).and_then(|a| a.deadline());
                let snapshot = match (status, snapshot.as_ref()) {
                    (Some(_), Some(spec)) => Some(spec.snapshot(*status)),
                    (Some(status), None) => Some(Snapshot {
                        status: Some(*status),
                        ..Snapshot::default()
                    }),
                    (None, _) => None,
                };
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
                self.reset(lane);
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
                self.reset(LaneId::from_index(lane));
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
                assert_eq!(count, buckets);
            }
            Op::Foreign { which } => {
                let now = self.at();
                let Acquire::Admit(stranger) = self.foreign.acquire(
                    now,
                    self.foreign_lane,
                    Cost::request(0, 0),
                    Priority::Interactive,
                ) else {
                    return;
                };
                let clash = self.held.iter().any(|held| held.id() == stranger.id());
                if clash {
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
            Op::Advance(by) => self.now = self.now.saturating_add(by.0),
            Op::Rewind(by) => self.now = self.now.saturating_sub(by.0),
            Op::Jump(to) => self.now = *to,
        }
        self.check_in_flight();
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
});
