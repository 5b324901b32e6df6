//! The work a simulation replays: request arrivals with their sizes, their true usage and the
//! limits of the lanes they count against.
//!
//! A [`Workload`] comes from a recorded trace ([`Workload::from_trace`]) or from a seeded
//! generator ([`generate`]) for benches, tests and the bundled traces. Either way every strategy
//! replays the *same* workload against the *same* simulated provider, so the comparison is fair.
//!
//! From a trace:
//! * each request event is one piece of work arriving at its `t`; a request that reuses the id of
//!   an earlier attempt that got a non-2xx answer is a retry of that work, not new work;
//! * the true usage is the 2xx response's `usage`; without one, the input is the caller's
//!   estimate and the output is `max_tokens` (the most it could have been);
//! * the latency hint is the recorded request → 2xx response time;
//! * the lane limits are the latest `limit` each response header reported, read through the
//!   core's parser ([`headroom::headers::parse`]). Anthropic's combined `tokens` quota is the sum
//!   of the input and output limits, not a limit of its own, and is dropped when those exist.

use std::fmt::Write as _;

use headroom::{LimitKind, Usage};
use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};

mod from_trace;
mod ids;

pub use from_trace::WorkloadBuilder;
pub use ids::Ids;

/// Which header family the simulated provider speaks for a workload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Dialect {
    /// `anthropic-ratelimit-*`, RFC 3339 resets, token `remaining` rounded to the thousand.
    #[default]
    Anthropic,
    /// `x-ratelimit-*`, Go-duration resets, exact `remaining`.
    OpenAi,
}

/// The largest per-minute limit the simulator and the engine hold: the core's `Limit` amount
/// is a `u32`, so a larger one would wrap or saturate somewhere along the way. Every limit
/// that comes in (a flag, a `--limits-change-at`, a trace's headers) is checked against it.
pub const MAX_LIMIT: u64 = 4_294_967_295;

/// A per-minute limit given on the command line: a whole number from 1 to [`MAX_LIMIT`].
///
/// # Errors
///
/// A message stating the range, naming the text.
///
/// # Examples
///
/// ```
/// use headroom_sim::workload::parse_limit;
///
/// assert_eq!(parse_limit("50"), Ok(50));
/// assert_eq!(parse_limit("4294967295"), Ok(4_294_967_295));
/// assert!(parse_limit("4294967296").unwrap_err().contains("1 to 4294967295"));
/// assert!(parse_limit("0").is_err());
/// ```
pub fn parse_limit(text: &str) -> Result<u64, String> {
    text.parse::<u64>()
        .ok()
        .filter(|value| (1..=MAX_LIMIT).contains(value))
        .ok_or_else(|| {
            format!("a limit per minute is a whole number from 1 to {MAX_LIMIT}: {text}")
        })
}

/// Per-minute limits of one lane, indexed by [`LimitKind::index`]; `None` is "not limited".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Limits(pub [Option<u64>; 4]);

impl Limits {
    /// The per-minute limit of `kind`, if any.
    ///
    /// # Examples
    ///
    /// ```
    /// use headroom::LimitKind;
    /// use headroom_sim::workload::Limits;
    ///
    /// let limits = Limits::default().with(LimitKind::Requests, 50);
    /// assert_eq!(limits.get(LimitKind::Requests), Some(50));
    /// assert_eq!(limits.get(LimitKind::Tokens), None);
    /// ```
    pub fn get(&self, kind: LimitKind) -> Option<u64> {
        self.0.get(kind.index()).copied().flatten()
    }

    /// The same limits with `kind` set to `per_minute` (0 removes it).
    pub fn with(mut self, kind: LimitKind, per_minute: u64) -> Self {
        if let Some(slot) = self.0.get_mut(kind.index()) {
            *slot = (per_minute > 0).then_some(per_minute);
        }
        self
    }

    /// Whether no limit is set.
    pub fn is_empty(&self) -> bool {
        self.0.iter().all(Option::is_none)
    }
}

/// One limit scope (a model class).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lane {
    /// Its name (the trace's `lane`; empty for the default lane).
    pub name: String,
    /// Its limits.
    pub limits: Limits,
}

impl Lane {
    /// A lane named `name` with the three Anthropic limits (RPM, ITPM, OTPM).
    ///
    /// # Examples
    ///
    /// ```
    /// use headroom::LimitKind;
    /// use headroom_sim::workload::Lane;
    ///
    /// let sonnet = Lane::anthropic("claude-sonnet-4-5", 50, 30_000, 8_000);
    /// assert_eq!(sonnet.limits.get(LimitKind::OutputTokens), Some(8_000));
    /// ```
    pub fn anthropic(name: &str, rpm: u64, itpm: u64, otpm: u64) -> Self {
        Self {
            name: name.to_owned(),
            limits: Limits::default()
                .with(LimitKind::Requests, rpm)
                .with(LimitKind::InputTokens, itpm)
                .with(LimitKind::OutputTokens, otpm),
        }
    }
}

/// One piece of work.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Request {
    /// When it arrives, µs since the start.
    pub arrival_us: u64,
    /// Its index in [`Workload::requests`] (and [`Workload::ids`]).
    pub id: u32,
    /// Its lane, an index into [`Workload::lanes`].
    pub lane: u8,
    /// The caller's input-token estimate before sending.
    pub input_tokens: u64,
    /// `max_tokens`.
    pub max_tokens: u64,
    /// What it really uses.
    pub usage: Usage,
    /// The recorded latency of a successful attempt, when known.
    pub latency_us: Option<u64>,
}

impl Request {
    /// A request on lane 0 at time 0 whose estimate is exact: it uses `input` input tokens (as
    /// estimated) and `output` output tokens under a `max_tokens` bound.
    ///
    /// # Examples
    ///
    /// ```
    /// use headroom_sim::workload::Request;
    ///
    /// let request = Request::exact(1_200, 300, 1_024);
    /// assert_eq!((request.input_tokens, request.usage.output_tokens), (1_200, 300));
    /// ```
    pub fn exact(input: u64, output: u64, max_tokens: u64) -> Self {
        Self {
            input_tokens: input,
            max_tokens,
            usage: Usage {
                input_tokens: input,
                output_tokens: output,
                ..Usage::default()
            },
            ..Self::default()
        }
    }
}

/// A whole workload.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Workload {
    /// Requests in arrival order.
    pub requests: Vec<Request>,
    /// The trace id of each request, by index.
    pub ids: Ids,
    /// The lanes.
    pub lanes: Vec<Lane>,
    /// The header dialect the provider speaks.
    pub dialect: Dialect,
}

/// The most lanes a workload may have (the headroom strategy's fixed lane table): `simulate`
/// and `matrix` hold 8, while `audit`, which runs one engine, holds 16
/// ([`crate::audit::MAX_LANES`]).
pub const MAX_LANES: usize = 8;

impl Workload {
    /// The time of the first arrival (0 for an empty workload).
    pub fn first_arrival_us(&self) -> u64 {
        self.requests
            .iter()
            .map(|r| r.arrival_us)
            .min()
            .unwrap_or(0)
    }
}

/// How generated requests arrive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arrivals {
    /// All at once, `spacing_us` apart (a batch job).
    Burst {
        /// Gap between two arrivals.
        spacing_us: u64,
    },
    /// A Poisson process.
    Poisson {
        /// Mean arrivals per minute.
        per_minute: u64,
    },
}

/// What [`generate`] produces. Sizes are drawn uniformly from the inclusive ranges.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenSpec {
    /// How many requests.
    pub requests: usize,
    /// The lanes; requests pick one uniformly.
    pub lanes: Vec<Lane>,
    /// Dialect of the provider.
    pub dialect: Dialect,
    /// Arrival pattern.
    pub arrivals: Arrivals,
    /// Uncached input tokens.
    pub input_tokens: (u64, u64),
    /// Output tokens generated (capped at `max_tokens`).
    pub output_tokens: (u64, u64),
    /// `max_tokens` of every request.
    pub max_tokens: u64,
    /// The caller's estimate of the counted input, in thousandths of the truth (1050: 5 % high).
    pub estimate_permille: u64,
    /// Prompt caching: a shared prefix of this many tokens per lane, written by the first
    /// request of the lane and read by the others.
    pub cached_prefix: Option<u64>,
}

impl GenSpec {
    /// `requests` requests in a burst (10 ms apart) on a Tier 1 Sonnet key (50 RPM, 30 000
    /// ITPM, 8 000 OTPM): 500–2 500 input and 100–500 output tokens, `max_tokens` 1 024,
    /// estimates 5 % high, no caching. The base every generated workload starts from
    /// (the bundled traces, tests, benches), changing what it is about.
    ///
    /// # Examples
    ///
    /// ```
    /// use headroom_sim::workload::{Arrivals, GenSpec, generate};
    ///
    /// let spec = GenSpec { arrivals: Arrivals::Burst { spacing_us: 1_000 }, ..GenSpec::tier1_batch(10) };
    /// let a = generate(&spec, 7);
    /// assert_eq!(a, generate(&spec, 7));
    /// assert_eq!(a.requests[9].arrival_us, 9_000);
    /// ```
    pub fn tier1_batch(requests: usize) -> Self {
        Self {
            requests,
            lanes: vec![Lane::anthropic("claude-sonnet-4-5", 50, 30_000, 8_000)],
            dialect: Dialect::Anthropic,
            arrivals: Arrivals::Burst { spacing_us: 10_000 },
            input_tokens: (500, 2_500),
            output_tokens: (100, 500),
            max_tokens: 1_024,
            estimate_permille: 1_050,
            cached_prefix: None,
        }
    }
}

/// Generates a workload from a seed: the same spec and seed always give the same workload.
///
/// # Examples
///
/// ```
/// use headroom_sim::workload::{GenSpec, generate};
///
/// let workload = generate(&GenSpec::tier1_batch(10), 7);
/// assert_eq!(workload.requests.len(), 10);
/// assert!(workload.requests.iter().all(|r| r.usage.output_tokens <= 500));
/// ```
pub fn generate(spec: &GenSpec, seed: u64) -> Workload {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let mut draw = |(low, high): (u64, u64)| {
        if high <= low {
            low
        } else {
            rng.random_range(low..=high)
        }
    };
    let lanes = spec.lanes.len().clamp(1, MAX_LANES);
    let mut cache_written = vec![false; lanes];
    let mut t = 0u64;
    let mut requests = Vec::with_capacity(spec.requests);
    let mut ids = Ids::with_capacity(spec.requests, spec.requests.saturating_mul(8));
    for index in 0..spec.requests {
        let lane = usize::try_from(draw((0, lanes as u64 - 1))).unwrap_or(0);
        let input = draw(spec.input_tokens);
        let output = draw(spec.output_tokens).min(spec.max_tokens);
        let gap = match spec.arrivals {
            Arrivals::Burst { spacing_us } => spacing_us,
            Arrivals::Poisson { per_minute } => {
                let u = draw((1, 1 << 20));
                exponential_gap_us(u, per_minute)
            }
        };
        if index > 0 {
            t = t.saturating_add(gap);
        }
        let mut usage = Usage {
            input_tokens: input,
            output_tokens: output,
            ..Usage::default()
        };
        if let (Some(prefix), Some(written)) = (spec.cached_prefix, cache_written.get_mut(lane)) {
            if *written {
                usage.cache_read_input_tokens = prefix;
            } else {
                usage.cache_creation_input_tokens = prefix;
                *written = true;
            }
        }
        let counted = usage.input_tokens + usage.cache_creation_input_tokens;
        let estimate = (u128::from(counted) * u128::from(spec.estimate_permille)).div_ceil(1000);
        requests.push(Request {
            arrival_us: t,
            id: u32::try_from(index).unwrap_or(u32::MAX),
            lane: u8::try_from(lane).unwrap_or(0),
            input_tokens: u64::try_from(estimate).unwrap_or(u64::MAX),
            max_tokens: spec.max_tokens,
            usage,
            latency_us: None,
        });
        ids.push_with(|text| write!(text, "r{}", index + 1));
    }
    let mut lane_list: Vec<Lane> = spec.lanes.iter().take(lanes).cloned().collect();
    if lane_list.is_empty() {
        lane_list.push(Lane {
            name: String::new(),
            limits: Limits::default(),
        });
    }
    Workload {
        requests,
        ids,
        lanes: lane_list,
        dialect: spec.dialect,
    }
}

/// The specs and seeds of the bundled traces in `sim/traces/`, by file name. Regenerate them
/// with `cargo run -p headroom-sim --example gen_traces`.
///
/// * `anthropic-tier1-batch.jsonl`: 300 requests in a 3 s burst, Tier 1 Sonnet (50 RPM,
///   30 000 ITPM, 8 000 OTPM); input tokens bind.
/// * `openai-tpm.jsonl`: 400 requests in a 2 s burst, 500 RPM and 60 000 combined TPM in
///   `x-ratelimit-*` headers; the TPM binds.
/// * `multi-lane.jsonl`: 400 requests, Poisson at 100 per minute, over two models with their own
///   limits (Sonnet 50 / 30 000 / 8 000, Haiku 50 / 50 000 / 10 000).
/// * `prompt-caching.jsonl`: 300 requests in a burst sharing an 8 000-token cached prefix
///   (written once, then read); only uncached input counts, so output tokens bind.
pub fn bundled_specs() -> Vec<(&'static str, GenSpec, u64)> {
    let base = GenSpec::tier1_batch(300);
    let sonnet = Lane::anthropic("claude-sonnet-4-5", 50, 30_000, 8_000);
    vec![
        ("anthropic-tier1-batch.jsonl", base.clone(), 1),
        (
            "openai-tpm.jsonl",
            GenSpec {
                requests: 400,
                lanes: vec![Lane {
                    name: "gpt-4o-mini".into(),
                    limits: Limits::default()
                        .with(LimitKind::Requests, 500)
                        .with(LimitKind::Tokens, 60_000),
                }],
                dialect: Dialect::OpenAi,
                arrivals: Arrivals::Burst { spacing_us: 5_000 },
                input_tokens: (400, 1_200),
                output_tokens: (50, 450),
                max_tokens: 512,
                ..base.clone()
            },
            2,
        ),
        (
            "multi-lane.jsonl",
            GenSpec {
                requests: 400,
                lanes: vec![
                    sonnet,
                    Lane::anthropic("claude-haiku-4-5", 50, 50_000, 10_000),
                ],
                arrivals: Arrivals::Poisson { per_minute: 100 },
                ..base.clone()
            },
            3,
        ),
        (
            "prompt-caching.jsonl",
            GenSpec {
                input_tokens: (200, 1_000),
                output_tokens: (150, 650),
                cached_prefix: Some(8_000),
                ..base
            },
            4,
        ),
    ]
}

/// An exponential inter-arrival gap by inversion, `−ln(u / 2^20) · mean`, in integers only (so
/// generated workloads are bit-identical on every platform): `log2` in 16.16 fixed point by
/// repeated squaring, times ln 2.
pub(crate) fn exponential_gap_us(u: u64, per_minute: u64) -> u64 {
    const ONE: u128 = 1 << 16;
    // x = 2^20 / u in 16.16 fixed point, ≥ 1.
    let mut x = (1u128 << 36) / u128::from(u.max(1));
    let mut log2 = 0u128;
    while x >= 2 * ONE {
        x >>= 1;
        log2 += ONE;
    }
    let mut bit = ONE >> 1;
    while bit > 0 {
        x = (x * x) >> 16;
        if x >= 2 * ONE {
            x >>= 1;
            log2 += bit;
        }
        bit >>= 1;
    }
    // ln 2 ≈ 45426 / 65536.
    let ln = (log2 * 45_426) >> 16;
    let mean_us = 60_000_000 / u128::from(per_minute.max(1));
    u64::try_from((ln * mean_us) >> 16).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exponential_gaps_have_the_right_mean() {
        // u = 2^19 is ln 2 · mean; u = 2^20 is 0.
        assert_eq!(exponential_gap_us(1 << 20, 60), 0);
        let half = exponential_gap_us(1 << 19, 60);
        assert!((693_000..=693_200).contains(&half), "{half}");
        let mean: u64 = (1..=1024u64)
            .map(|i| exponential_gap_us(i << 10, 60))
            .sum::<u64>()
            / 1024;
        assert!((990_000..=1_010_000).contains(&mean), "{mean}");
    }

    #[test]
    fn generated_caching_writes_once_per_lane() {
        let spec = GenSpec {
            arrivals: Arrivals::Poisson { per_minute: 60 },
            input_tokens: (100, 100),
            estimate_permille: 1000,
            cached_prefix: Some(5_000),
            ..GenSpec::tier1_batch(5)
        };
        let workload = generate(&spec, 1);
        assert_eq!(
            workload.requests[0].usage.cache_creation_input_tokens,
            5_000
        );
        assert_eq!(workload.requests[0].input_tokens, 5_100);
        assert_eq!(workload.requests[1].usage.cache_read_input_tokens, 5_000);
        assert_eq!(workload.requests[1].input_tokens, 100);
        assert!(workload.requests[4].arrival_us > workload.requests[1].arrival_us);
    }
}
