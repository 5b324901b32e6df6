//! From a run's raw outcome to the numbers the report shows.
//!
//! # The lower bound
//!
//! `makespan_lower_bound_s` is the earliest *any* strategy could finish the workload under the
//! provider's limits, the same for every strategy. For each lane and each limit with per-minute
//! rate `r` and bucket capacity `B` (the provider's burst), sort the lane's requests by arrival
//! and let `S_k` be the total charge (final, actual usage) of the requests arriving at or after
//! `a_k`. Those charges cannot be admitted before `a_k`, and a bucket starting full admits at
//! most `B + r·t` in any span `t`, so the work cannot finish before
//!
//! ```text
//! a_k + (S_k − B − slack) / r  (+ the smallest latency, for limits charged at admission)
//! ```
//!
//! Requests and input tokens are charged at admission, so their last admission is followed by
//! at least one response latency. Output (and combined) tokens settle at completion, and
//! `slack` is 0 when the provider reserves `max_tokens`. When it counts actual output as it is
//! generated, a request is admitted only while the bucket is out of debt, but the requests in
//! flight at the last admission may still add their whole output after it: `slack` is at most
//! `I × max output`, where `I` bounds the requests in flight at once (the requests bucket's
//! burst plus what it refills over the longest latency; every request of the lane when it has
//! no requests limit), and the last completion is at least the shortest latency after the last
//! admission. The bound is the maximum of these over lanes, limits and `k`, and of
//! `arrival + latency` over requests, measured from the first arrival.
//!
//! In a world whose rates change (a tier change, or an outside consumer using a fraction `F`
//! of every limit from some instant on), `r` is the rate *left to the clients* at each instant:
//! the span is how long the piecewise rate takes to refill the excess, and `B` is the largest
//! burst of the run.
//!
//! A request is admitted only once the burst in force holds what it needs at admission. One
//! that needs more than any burst from its arrival on (a tier change can lower it) is never
//! admitted: no strategy finishes the work, and there is no bound ([`NeverFits`]). One that
//! fits only after a tier change raises the burst completes no earlier than that change plus
//! its latency, another term of the maximum.
//!
//! # Utilization and the binding limit
//!
//! For every lane and limit, `consumed ÷ granted`, where `consumed` is what the provider
//! charged the clients over the run (net of refunds) and `granted = B + r × makespan`, with the
//! rate left to the clients over the run (as for the bound). The binding limit is
//! the one with the highest ratio, and that ratio is the strategy's `utilization`. With an
//! outside consumer the rate left is its average, `1 − F` of the limit; its Poisson stream
//! spends more or less than that average in any one run, so a utilization slightly above 1.0
//! there means the clients used what the outside consumer happened to leave. Under actual
//! output accounting the provider charges output as it is generated, into debt (it admits
//! while the bucket is not in debt), so `consumed` can exceed `granted` by the output of the
//! requests in flight: far above 1.0 when the output limit is below one request's output.

use headroom::LimitKind;

use crate::engine::RunOutcome;
use crate::upstream::{OutputAccounting, UpstreamConfig};
use crate::workload::Workload;

/// Why a workload has no makespan bound: one of its requests needs more of a limit at once than
/// the provider's bucket holds at any time from its arrival on, so no strategy can have it
/// admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NeverFits {
    /// The request, an index into [`Workload::requests`].
    pub request: u32,
    /// The limit it can never fit.
    pub kind: LimitKind,
    /// What it needs of that limit at admission.
    pub needs: u64,
    /// The most the limit's bucket holds from the request's arrival on.
    pub burst: u64,
}

/// The physical lower bound on the makespan, µs after the first arrival, and the limit kind
/// that sets it (`None` when arrivals and latencies do).
///
/// # Errors
///
/// [`NeverFits`] when a request can never be admitted (the first such request of the first lane
/// and limit, in that order): no strategy finishes the workload, so there is no bound.
///
/// # Examples
///
/// ```
/// use headroom::{LimitKind, Usage};
/// use headroom_sim::metrics::lower_bound_us;
/// use headroom_sim::upstream::UpstreamConfig;
/// use headroom_sim::workload::{Lane, Limits, Request, Workload};
///
/// let lane = Lane { name: "m".into(), limits: Limits::default().with(LimitKind::Requests, 60) };
/// let request = Request { latency_us: Some(100_000), ..Request::default() };
/// let workload = Workload { requests: vec![request; 11], lanes: vec![lane], ..Workload::default() };
/// // 11 requests, 1 at once, 1 per second: the last is admitted at 10 s and answered 0.1 s later.
/// assert_eq!(lower_bound_us(&workload, &UpstreamConfig::default()), Ok((10_100_000, Some(LimitKind::Requests))));
/// ```
pub fn lower_bound_us(
    workload: &Workload,
    config: &UpstreamConfig,
) -> Result<(u64, Option<LimitKind>), NeverFits> {
    let first = workload.first_arrival_us();
    let mut bound = first;
    let mut binding = None;
    for request in &workload.requests {
        bound = bound.max(
            request
                .arrival_us
                .saturating_add(config.latency_us(request)),
        );
    }
    for (index, lane) in workload.lanes.iter().enumerate() {
        let mut requests: Vec<_> = workload
            .requests
            .iter()
            .filter(|r| usize::from(r.lane) == index)
            .collect();
        if requests.is_empty() {
            continue;
        }
        requests.sort_by_key(|r| r.arrival_us);
        let min_latency = requests
            .iter()
            .map(|r| config.latency_us(r))
            .min()
            .unwrap_or(0);
        let max_output = requests
            .iter()
            .map(|r| r.usage.output_tokens)
            .max()
            .unwrap_or(0);
        let max_latency = requests
            .iter()
            .map(|r| config.latency_us(r))
            .max()
            .unwrap_or(0);
        let in_flight = match lane.limits.get(LimitKind::Requests) {
            Some(rpm) => {
                let refill = u128::from(rpm) * u128::from(max_latency);
                let refill = u64::try_from(refill.div_ceil(60_000_000)).unwrap_or(u64::MAX);
                config
                    .capacity(LimitKind::Requests, rpm)
                    .saturating_add(refill)
            }
            None => requests.len() as u64,
        };
        for kind in LimitKind::ALL {
            let Some(rate) = lane.limits.get(kind) else {
                continue;
            };
            let schedule = RateSchedule::new(config, kind, rate);
            let capacity = schedule.capacity;
            let (after, slack) = match kind {
                LimitKind::Requests | LimitKind::InputTokens => (min_latency, 0),
                _ if config.output == OutputAccounting::Actual => {
                    (min_latency, in_flight.saturating_mul(max_output))
                }
                _ => (0, 0),
            };
            // A request is admitted only once the burst in force holds what it needs: not before
            // a tier change that raises the burst enough, never when no burst from its arrival
            // on does (a change that lowers the burst takes away what an earlier one allowed).
            for request in &requests {
                let needs = config.admission_needs(request)[kind.index()];
                let Some(fits) = schedule.fits_from(request.arrival_us, needs) else {
                    return Err(NeverFits {
                        request: request.id,
                        kind,
                        needs,
                        burst: schedule.largest_burst_from(request.arrival_us),
                    });
                };
                if fits > request.arrival_us {
                    let candidate = fits.saturating_add(config.latency_us(request));
                    if candidate > bound {
                        bound = candidate;
                        binding = Some(kind);
                    }
                }
            }
            let mut suffix = 0u128;
            for request in requests.iter().rev() {
                let charges = config.final_charges(request);
                suffix += u128::from(charges[kind.index()]);
                let excess = suffix.saturating_sub(u128::from(capacity) + u128::from(slack));
                let span = schedule.span_us(request.arrival_us, excess);
                let candidate = request
                    .arrival_us
                    .saturating_add(span)
                    .saturating_add(after);
                if candidate > bound {
                    bound = candidate;
                    binding = Some(kind);
                }
            }
        }
    }
    Ok((bound.saturating_sub(first), binding))
}

/// The rate of one limit over a run, as left to the clients: piecewise constant, changing at
/// each limit change and when an outside consumer starts.
#[derive(Debug, Clone)]
struct RateSchedule {
    /// (from, units per minute left to the clients), in time order, the first from 0.
    segments: Vec<(u64, u128)>,
    /// The provider's burst in force in each segment.
    bursts: Vec<u64>,
    /// The largest burst of the run.
    capacity: u64,
}

impl RateSchedule {
    fn new(config: &UpstreamConfig, kind: LimitKind, rate: u64) -> Self {
        let mut points: Vec<(u64, Option<u64>)> = vec![(0, Some(rate))];
        for change in &config.limit_changes {
            points.push((change.at_us, change.limits.get(kind)));
        }
        let foreign = config.foreign.filter(|load| load.permille > 0);
        if let Some(load) = foreign {
            points.push((load.start_us, None));
        }
        points.sort_by_key(|&(at, _)| at);
        let mut current = rate;
        let mut bursts = Vec::with_capacity(points.len());
        let segments = points
            .into_iter()
            .map(|(at, new)| {
                if let Some(new) = new {
                    current = new;
                }
                bursts.push(config.capacity(kind, current));
                let left = match foreign {
                    Some(load) if at >= load.start_us => 1000 - u64::from(load.permille.min(999)),
                    _ => 1000,
                };
                (at, u128::from(current) * u128::from(left))
            })
            .collect();
        let capacity = bursts.iter().copied().max().unwrap_or(1);
        Self {
            segments,
            bursts,
            capacity,
        }
    }

    /// The first instant at or after `at` when the provider's burst holds `need`: `at` itself
    /// when the burst in force then does, else the start of the first later segment whose burst
    /// does, else `None` (a request arriving at `at` and needing that much is never admitted).
    fn fits_from(&self, at: u64, need: u64) -> Option<u64> {
        let current = self.in_force_at(at);
        self.segments
            .iter()
            .zip(&self.bursts)
            .enumerate()
            .skip(current)
            .find(|&(_, (_, &burst))| burst >= need)
            .map(|(index, (&(start, _), _))| if index == current { at } else { start })
    }

    /// The largest burst in force at or after `at`.
    fn largest_burst_from(&self, at: u64) -> u64 {
        self.bursts
            .get(self.in_force_at(at)..)
            .and_then(|bursts| bursts.iter().copied().max())
            .unwrap_or(0)
    }

    /// The segment in force at `at`: the last one starting at or before it (the first starts
    /// at 0); of several starting at one instant, the last holds.
    fn in_force_at(&self, at: u64) -> usize {
        self.segments
            .iter()
            .rposition(|&(start, _)| start <= at)
            .unwrap_or(0)
    }

    /// Units the clients' rate refills from `from` to `to`.
    fn earned(&self, from: u64, to: u64) -> u128 {
        let mut total = 0u128;
        for (index, &(start, rate)) in self.segments.iter().enumerate() {
            let end = self
                .segments
                .get(index + 1)
                .map_or(u64::MAX, |&(next, _)| next);
            let (a, b) = (start.max(from), end.min(to));
            if b > a {
                total += u128::from(b - a) * rate / 60_000_000 / 1000;
            }
        }
        total
    }

    /// µs from `from` until the clients' rate has refilled `units`.
    fn span_us(&self, from: u64, units: u128) -> u64 {
        // Nothing to refill takes no time: the segment holding `from` starts at or before it.
        if units == 0 {
            return 0;
        }
        // One rate for the whole run (no limit change, no outside consumer), the common case:
        // what the walk over segments gives for one, from 0 to the end of time (a test).
        if let [(_, rate)] = self.segments.as_slice() {
            let span = div_ceil_wide(units * 1000 * 60_000_000, (*rate).max(1));
            let room = u128::from(u64::MAX - from);
            return if span <= room {
                u64::try_from(span).unwrap_or(u64::MAX)
            } else {
                u64::MAX
            };
        }
        self.walk_span_us(from, units)
    }

    /// [`RateSchedule::span_us`] for `units > 0`, segment by segment.
    fn walk_span_us(&self, from: u64, units: u128) -> u64 {
        // Work in units × 1000 (rates are per mille of a unit per minute).
        let mut need = units * 1000;
        let mut t = from;
        for (index, &(start, rate)) in self.segments.iter().enumerate() {
            let end = self
                .segments
                .get(index + 1)
                .map_or(u64::MAX, |&(next, _)| next);
            if end <= t {
                continue;
            }
            let t0 = t.max(start);
            let rate = rate.max(1);
            let span = div_ceil_wide(need * 60_000_000, rate);
            let room = u128::from(end - t0);
            if span <= room {
                let done = t0.saturating_add(u64::try_from(span).unwrap_or(u64::MAX));
                return done.saturating_sub(from);
            }
            need -= room * rate / 60_000_000;
            t = end;
        }
        u64::MAX
    }
}

/// `⌈a / b⌉` (`b > 0`), in 64 bits when both fit: the lower bound divides once per request and
/// limit, and a 128-bit division is a library call several times slower.
fn div_ceil_wide(a: u128, b: u128) -> u128 {
    match (u64::try_from(a), u64::try_from(b)) {
        (Ok(a), Ok(b)) => u128::from(a.div_ceil(b)),
        _ => a.div_ceil(b),
    }
}

/// The binding limit of a run and its utilization in thousandths: the highest
/// `consumed ÷ (B + r × makespan)` over lanes and limits.
pub fn utilization_permille(
    workload: &Workload,
    config: &UpstreamConfig,
    outcome: &RunOutcome,
) -> Option<(LimitKind, u64)> {
    let mut best: Option<(LimitKind, u64)> = None;
    // A pass over every request: once, not once a limit.
    let first = workload.first_arrival_us();
    for (lane, consumed) in workload.lanes.iter().zip(&outcome.consumed) {
        for kind in LimitKind::ALL {
            let Some(rate) = lane.limits.get(kind) else {
                continue;
            };
            let schedule = RateSchedule::new(config, kind, rate);
            let granted = u128::from(schedule.capacity)
                + schedule.earned(first, first.saturating_add(outcome.makespan_us));
            let used = u128::from(consumed[kind.index()]);
            let permille = u64::try_from(used * 1000 / granted.max(1)).unwrap_or(u64::MAX);
            if best.is_none_or(|(_, b)| permille > b) {
                best = Some((kind, permille));
            }
        }
    }
    best
}

/// The nearest-rank percentile `p` (in percent) of sorted values, 0 for none.
///
/// # Examples
///
/// ```
/// use headroom_sim::metrics::percentile;
/// let values: Vec<u64> = (1..=100).collect();
/// assert_eq!((percentile(&values, 50), percentile(&values, 99), percentile(&values, 100)), (50, 99, 100));
/// assert_eq!(percentile(&[], 50), 0);
/// ```
pub fn percentile(sorted: &[u64], p: u64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (sorted.len() as u64 * p).div_ceil(100).max(1);
    sorted
        .get(usize::try_from(rank - 1).unwrap_or(0))
        .copied()
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload::{Lane, Limits, Request};
    use headroom::Usage;

    proptest::proptest! {
        #[test]
        fn one_rate_spans_as_the_walk_over_its_one_segment(
            rate in 1u64..10_000_000,
            permille in 1u64..=1000,
            from in proptest::prop_oneof![0u64..1 << 40, u64::MAX - (1 << 20)..=u64::MAX],
            units in proptest::prop_oneof![1u128..1 << 20, 1u128..1 << 70],
        ) {
            let schedule = RateSchedule {
                segments: vec![(0, u128::from(rate) * u128::from(permille))],
                bursts: vec![1],
                capacity: 1,
            };
            proptest::prop_assert_eq!(schedule.span_us(from, units), schedule.walk_span_us(from, units));
        }
    }

    #[test]
    fn token_bound_uses_the_suffix_after_late_arrivals() {
        let lane = Lane {
            name: String::new(),
            limits: Limits::default().with(LimitKind::InputTokens, 6_000),
        };
        let request = |arrival_us, input| Request {
            arrival_us,
            usage: Usage {
                input_tokens: input,
                ..Usage::default()
            },
            latency_us: Some(0),
            ..Request::default()
        };
        // 6 000 tokens at t = 0 fit the burst; 12 000 more arriving at 100 s (two requests of
        // 6 000) need 60 s beyond the 6 000 the full bucket holds.
        let workload = Workload {
            requests: vec![
                request(0, 6_000),
                request(100_000_000, 6_000),
                request(100_000_000, 6_000),
            ],
            lanes: vec![lane],
            ..Workload::default()
        };
        let (bound, kind) = lower_bound_us(&workload, &UpstreamConfig::default()).unwrap();
        assert_eq!(bound, 160_000_000);
        assert_eq!(kind, Some(LimitKind::InputTokens));
    }

    /// A request above a limit's burst is never admitted by the provider, so no strategy
    /// finishes the workload: there is no bound, and the error names the request and limit.
    /// One at the burst exactly has a bound.
    #[test]
    fn a_request_above_the_burst_has_no_bound() {
        let lane = Lane {
            name: String::new(),
            limits: Limits::default()
                .with(LimitKind::Requests, 50)
                .with(LimitKind::InputTokens, 6_000),
        };
        let config = UpstreamConfig::default();
        let burst = config.capacity(LimitKind::InputTokens, 6_000);
        let workload = |input| Workload {
            requests: vec![
                Request::exact(10, 10, 20),
                Request {
                    id: 1,
                    arrival_us: 5,
                    ..Request::exact(input, 10, 20)
                },
            ],
            lanes: vec![lane.clone()],
            ..Workload::default()
        };
        assert!(lower_bound_us(&workload(burst), &config).is_ok());
        assert_eq!(
            lower_bound_us(&workload(burst + 1), &config),
            Err(NeverFits {
                request: 1,
                kind: LimitKind::InputTokens,
                needs: burst + 1,
                burst,
            })
        );
        // A tier change that raises the burst at 60 s makes it fit then, and not before: it
        // completes no earlier than its latency after the change.
        let change = |at_us, itpm| crate::upstream::LimitChange {
            at_us,
            limits: Limits::default().with(LimitKind::InputTokens, itpm),
        };
        let raised = UpstreamConfig {
            limit_changes: vec![change(60_000_000, 12_000)],
            ..UpstreamConfig::default()
        };
        let too_large = workload(burst + 1);
        let latency = raised.latency_us(&too_large.requests[1]);
        let (bound, kind) = lower_bound_us(&too_large, &raised).unwrap();
        assert_eq!(bound, 60_000_000 + latency);
        assert_eq!(kind, Some(LimitKind::InputTokens));
        // A change that lowers the burst before the request arrives takes that away: the burst
        // of the run's start no longer helps it, and the error names the largest it could have.
        let lowered = UpstreamConfig {
            limit_changes: vec![change(1, 3_000)],
            ..UpstreamConfig::default()
        };
        let lowered_burst = lowered.capacity(LimitKind::InputTokens, 3_000);
        assert_eq!(
            lower_bound_us(&workload(burst), &lowered),
            Err(NeverFits {
                request: 1,
                kind: LimitKind::InputTokens,
                needs: burst,
                burst: lowered_burst,
            })
        );
        // Lowered only after it arrived, it can still be sent before the change: a bound.
        let later = UpstreamConfig {
            limit_changes: vec![change(10, 3_000)],
            ..UpstreamConfig::default()
        };
        assert!(lower_bound_us(&workload(burst), &later).is_ok());
    }
}
