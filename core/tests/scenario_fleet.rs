//! Scenario: several gateways share one API key and one provider, with no coordination between
//! them, and each sees only its own responses. Every response reports the whole key's
//! `remaining`; a gateway that took all of it would overdraw the key N-fold.
//!
//! The provider here is deliberately plain and independent of the engine: exact integer token
//! buckets (requests a second's worth, input tokens a minute's), a request charged when it
//! arrives (50 ms after it is sent), answered 1 s later with the level after its charge (tokens
//! rounded to the thousand, as Anthropic does), 429 with the same headers when it does not fit.
//! The gateways retry where `complete` says.
//!
//! What it shows: the fleet converges — few 429s, nothing given up, and the key used close to
//! its limit; a skewed fleet (one gateway with 70 % of the work) is not held to an equal split.

#![allow(
    clippy::arithmetic_side_effects,
    clippy::float_arithmetic,
    reason = "test arithmetic on small known values; floats only to print ratios"
)]

mod support;

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use headroom::headers::{self, Snapshot};
use headroom::time::Instant;
use headroom::{
    Acquire, Cost, LaneConfig, LaneId, Outcome, Permit, Policy, Priority, Response, Usage,
};
use support::SplitMix64;

const MS: u64 = 1_000;
const RPM: u64 = 600;
const ITPM: u64 = 120_000;
const INPUT: u64 = 1_000;
const TRANSIT_US: u64 = 50 * MS;
const LATENCY_US: u64 = 1_000 * MS;

/// An exact token bucket in µs-units: level × 60 000 000 to avoid fractions.
#[derive(Debug)]
struct Exact {
    per_minute: u64,
    capacity: u64,
    /// Level in units × 60 000 000 (one unit refills in 60e6 / per_minute µs).
    scaled: u64,
    at: u64,
}

impl Exact {
    fn new(per_minute: u64, capacity: u64) -> Self {
        Self {
            per_minute,
            capacity,
            scaled: capacity * 60_000_000,
            at: 0,
        }
    }
    fn refill(&mut self, now: u64) {
        let add = (now - self.at) * self.per_minute;
        self.scaled = (self.scaled + add).min(self.capacity * 60_000_000);
        self.at = now;
    }
    fn level(&self) -> u64 {
        self.scaled / 60_000_000
    }
    fn fits(&self, n: u64) -> bool {
        self.scaled >= n * 60_000_000
    }
    fn take(&mut self, n: u64) {
        self.scaled -= n * 60_000_000;
    }
}

struct Provider {
    requests: Exact,
    input: Exact,
}

impl Provider {
    fn new(token_capacity_s: u64) -> Self {
        Self {
            requests: Exact::new(RPM, (RPM / 60).max(1)),
            input: Exact::new(ITPM, ITPM * token_capacity_s / 60),
        }
    }

    /// Admits (or refuses) a request arriving at `now`; the headers it answers with.
    fn arrive(&mut self, now: u64, input: u64) -> (u16, Vec<(String, String)>) {
        self.requests.refill(now);
        self.input.refill(now);
        let ok = self.requests.fits(1) && self.input.fits(input);

        if ok {
            self.requests.take(1);
            self.input.take(input);
        }
        let rounded = (self.input.level() + 500) / 1_000 * 1_000;
        let headers = vec![
            ("anthropic-ratelimit-requests-limit".into(), RPM.to_string()),
            (
                "anthropic-ratelimit-requests-remaining".into(),
                self.requests.level().to_string(),
            ),
            (
                "anthropic-ratelimit-input-tokens-limit".into(),
                ITPM.to_string(),
            ),
            (
                "anthropic-ratelimit-input-tokens-remaining".into(),
                rounded.to_string(),
            ),
        ];
        (if ok { 200 } else { 429 }, headers)
    }
}

#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Event {
    /// Gateway `g` tries to send its next request.
    Try { g: usize },
    /// A request of gateway `g` (permit index) reaches the provider.
    Arrive { g: usize, slot: usize },
    /// Its response reaches the gateway.
    Respond { g: usize, slot: usize },
}

/// A request on its way: its permit, and the status and headers the provider answered with.
type InFlight = Option<(Permit, u16, Vec<(String, String)>)>;

struct Gateway {
    policy: Policy<1, 64>,
    lane: LaneId,
    backlog: u64,
    in_flight: Vec<InFlight>,
    next_try: Option<u64>,
    retries_due: Vec<u64>,
}

struct Run {
    completed: u64,
    rate_limited: u64,
    gave_up: u64,
    makespan_us: u64,
}

fn run(shares: &[u64], token_capacity_s: u64) -> Run {
    let mut provider = Provider::new(token_capacity_s);
    let mut rng = SplitMix64(7);
    let mut gateways: Vec<Gateway> = shares
        .iter()
        .map(|&backlog| {
            let mut policy = Policy::new();
            let lane = policy.add_lane(LaneConfig::new()).unwrap();
            Gateway {
                policy,
                lane,
                backlog,
                in_flight: Vec::new(),
                next_try: None,
                retries_due: Vec::new(),
            }
        })
        .collect();
    let mut events: BinaryHeap<Reverse<(u64, u64, Event)>> = BinaryHeap::new();
    let mut seq = 0u64;
    let mut push = |events: &mut BinaryHeap<Reverse<(u64, u64, Event)>>, at: u64, e: Event| {
        seq += 1;
        events.push(Reverse((at, seq, e)));
    };
    for g in 0..gateways.len() {
        push(&mut events, 0, Event::Try { g });
    }
    let total: u64 = shares.iter().sum();
    let mut out = Run {
        completed: 0,
        rate_limited: 0,
        gave_up: 0,
        makespan_us: 0,
    };
    while let Some(Reverse((now, _, event))) = events.pop() {
        match event {
            Event::Try { g } => {
                let gw = &mut gateways[g];
                if gw.next_try.is_some_and(|t| t > now) {
                    continue;
                }
                gw.next_try = None;
                gw.retries_due.retain(|&t| t > now);
                let due = gw.backlog > 0;
                if !due {
                    continue;
                }
                let cost = Cost::request(INPUT, 100);
                match gw.policy.acquire(
                    Instant::from_ticks(now),
                    gw.lane,
                    cost,
                    Priority::Interactive,
                ) {
                    Acquire::Admit(permit) => {
                        gw.backlog -= 1;
                        let slot = gw.in_flight.len();
                        gw.in_flight.push(Some((permit, 0, Vec::new())));
                        push(&mut events, now + TRANSIT_US, Event::Arrive { g, slot });
                        push(&mut events, now, Event::Try { g });
                    }
                    Acquire::Wait { until, .. } => {
                        let at = until.as_ticks();
                        gw.next_try = Some(at);
                        push(&mut events, at, Event::Try { g });
                    }
                    Acquire::Reject(why) => panic!("rejected: {why}"),
                }
            }
            Event::Arrive { g, slot } => {
                let (status, headers) = provider.arrive(now, INPUT);
                if let Some(Some(entry)) = gateways[g].in_flight.get_mut(slot) {
                    entry.1 = status;
                    entry.2 = headers;
                }
                push(
                    &mut events,
                    now + LATENCY_US - TRANSIT_US,
                    Event::Respond { g, slot },
                );
            }
            Event::Respond { g, slot } => {
                let gw = &mut gateways[g];
                let (permit, status, headers) = gw.in_flight[slot].take().unwrap();
                let snapshot: Snapshot = headers::parse(
                    Some(status),
                    headers.iter().map(|(n, v)| (n.as_str(), v.as_str())),
                );
                let mut response = Response::new(&snapshot);
                if status == 200 {
                    response = response.with_usage(Usage {
                        input_tokens: INPUT,
                        output_tokens: 100,
                        ..Usage::default()
                    });
                }
                match gw
                    .policy
                    .complete(Instant::from_ticks(now), permit, &response, &mut rng)
                    .unwrap()
                {
                    Outcome::Done => {
                        out.completed += 1;
                        out.makespan_us = now;
                    }
                    Outcome::Retry(retry) => {
                        out.rate_limited += 1;
                        gw.backlog += 1;
                        let at = retry.at().as_ticks();
                        gw.retries_due.push(at);
                        push(&mut events, at, Event::Try { g });
                    }
                    Outcome::GiveUp(_) => {
                        out.rate_limited += 1;
                        out.gave_up += 1;
                    }
                }
            }
        }
        if out.completed + out.gave_up == total {
            break;
        }
    }
    out
}

/// The physical bound: the tokens beyond the provider's initial burst, at the limit's rate, plus
/// one round trip.
fn bound_us(total: u64, token_capacity_s: u64) -> u64 {
    let burst = ITPM * token_capacity_s / 60;
    let tokens = (total * INPUT).saturating_sub(burst);
    tokens * 60_000_000 / ITPM + LATENCY_US
}

fn report(name: &str, shares: &[u64], capacity_s: u64) -> Run {
    let outcome = run(shares, capacity_s);
    let total: u64 = shares.iter().sum();
    let ratio = outcome.makespan_us as f64 / bound_us(total, capacity_s) as f64;
    eprintln!(
        "{name}: completed {} / {total}, 429s {} ({:.2} per 100), gave up {}, makespan {:.1} s, × bound {ratio:.3}",
        outcome.completed,
        outcome.rate_limited,
        outcome.rate_limited as f64 * 100.0 / total as f64,
        outcome.gave_up,
        outcome.makespan_us as f64 / 1e6,
    );
    outcome
}

#[test]
fn a_solo_gateway_paces_without_429s() {
    let outcome = report("solo", &[600], 60);
    assert_eq!(outcome.gave_up, 0);
    assert_eq!(outcome.rate_limited, 0);
    assert!(outcome.makespan_us <= bound_us(600, 60) * 102 / 100);
}

#[test]
fn four_equal_gateways_converge() {
    // Measured: 10 429s of 600 (1.7 per 100), × bound 1.010. Most come in the first seconds,
    // before a second response has shown anyone that the key is shared. (5 while every client
    // claimed half of what remains of a key half unspent; the simulator's fleets of 4, over 40
    // seeds, met 60 % fewer 429s with the proportional claim: see the window's `claim`.)
    let outcome = report("fleet of 4", &[150, 150, 150, 150], 60);
    assert_eq!(outcome.gave_up, 0);
    assert!(outcome.rate_limited <= 15, "{} 429s", outcome.rate_limited);
    assert!(outcome.makespan_us <= bound_us(600, 60) * 110 / 100);
}

#[test]
fn sixteen_equal_gateways_converge() {
    // Measured: 129 429s of 960 (13 per 100), × bound 1.008 (152 and × 1.04 while every client
    // claimed half of what remains of a key half unspent): sixteen gateways started in lock
    // step collide on the provider's one-second request bucket until the first samples arrive.
    let outcome = report("fleet of 16", &[60; 16], 60);
    assert_eq!(outcome.gave_up, 0);
    assert!(outcome.rate_limited <= 150, "{} 429s", outcome.rate_limited);
    assert!(outcome.makespan_us <= bound_us(960, 60) * 110 / 100);
}

#[test]
fn a_skewed_fleet_is_not_held_to_an_equal_split() {
    // Measured: 10 429s of 600, × bound 1.004 (5 and × 1.005 with the claim of half of what
    // remains).
    let outcome = report("skewed fleet of 4", &[420, 60, 60, 60], 60);
    assert_eq!(outcome.gave_up, 0);
    assert!(outcome.rate_limited <= 15, "{} 429s", outcome.rate_limited);
    // An equal static split would give the big gateway a quarter of the rate: 420 requests at
    // 30 per minute, 14 minutes, 2.8 times the bound.
    assert!(outcome.makespan_us <= bound_us(600, 60) * 110 / 100);
}

#[test]
fn a_provider_burst_smaller_than_assumed_is_learned() {
    // Measured: no 429, × bound 1.012: the first response shows 20 000 left of 120 000, and
    // the prediction never expects more than the provider ever reported holding.
    let outcome = report("small provider burst (10 s)", &[300], 10);
    assert_eq!(outcome.gave_up, 0);
    assert!(outcome.rate_limited <= 3, "{} 429s", outcome.rate_limited);
    assert!(outcome.makespan_us <= bound_us(300, 10) * 105 / 100);
}
