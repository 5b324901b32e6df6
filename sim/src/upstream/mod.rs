//! The simulated provider: what a strategy's requests run into.
//!
//! It follows `docs/protocol.md` §1–§2, with its own exact integer buckets ([`ExactBucket`])
//! so that it judges the engine independently:
//!
//! * **Buckets per limit kind** and lane, refilled continuously at `limit` per minute, starting
//!   full. A request is admitted only if every bucket of its lane has room; otherwise it gets a
//!   429 and nothing is charged.
//! * **Short-interval enforcement**: a bucket holds at most a slice of its per-minute limit.
//!   Defaults: requests one second's worth (`max(1, RPM / 60)`: "60 RPM may be enforced as 1
//!   request per second"), tokens the whole minute (a single request may use most of a minute's
//!   tokens). Both slices are configurable.
//! * **Input tokens** (`input + cache_creation`, plus cache reads when the lane counts them) are
//!   charged at admission. The simulated provider tokenizes the prompt on arrival, so its
//!   admission estimate already is the actual count and the adjustment is zero.
//! * **Output tokens**: [`OutputAccounting::Reserve`] (legacy Anthropic, OpenAI TPM; the
//!   configuration default) needs and charges `max_tokens` at admission and refunds the unused
//!   part at completion. [`OutputAccounting::Actual`] (current Anthropic docs: "evaluated in real
//!   time as output tokens are produced … `max_tokens` does not factor in") refuses admission
//!   while the output (or combined) bucket is in debt, and charges the output *as it is
//!   generated*: [`GENERATION_CHUNKS`] equal parts over the generation span
//!   ([`UpstreamConfig::generation`]), the last at completion. Requests admitted together can
//!   still drive the bucket into debt (nothing is charged before they generate), but no request
//!   is admitted until the debt is paid back.
//! * **A world with imperfections** ([`UpstreamConfig`]): an outside consumer of the same key
//!   ([`ForeignLoad`]), limits that change mid-run ([`LimitChange`], a tier upgrade), a `Date`
//!   off by a skew, headers snapshotted at admission instead of at the response (stale), and a
//!   share of 429s that carry neither rate-limit headers nor `retry-after` (bare).
//! * **Headers on every response** ([`render`]): `date`, per-kind limit / remaining / reset,
//!   token `remaining` rounded to the nearest thousand (Anthropic), RFC 3339 resets (time until
//!   full, rounded up to the second), `retry-after` on a 429: the seconds until *this* request
//!   would fit, rounded up, at least 1.
//! * **Latency**: a 2xx takes the request's recorded latency when the workload has one, else
//!   `base + output_tokens / decode speed`; a 429 or 529 comes back after `reject_latency`.
//! * **529 bursts**: during each [`Overload`] window, an attempt is refused with 529 with the
//!   window's probability, decided by a hash of (seed, request, attempt) so that every strategy
//!   meets the same weather. A 529 charges nothing.
//! * **Virtual wall clock**: `date` is [`DEFAULT_EPOCH_UNIX_S`] (2025-06-01T10:00:00Z) plus the
//!   simulation time.

mod bucket;
mod foreign;
mod headers;
mod record;

pub use bucket::ExactBucket;
pub use foreign::{ForeignLoad, MAX_FOREIGN_ARRIVALS};
pub use headers::{HeaderBuf, HeaderState, QuotaView, render, round_thousand};
pub use record::to_trace;

use headroom::LimitKind;

use crate::workload::{Lane, Limits, Request, Workload};
use foreign::ForeignStream;

/// 2025-06-01T10:00:00Z: the wall clock at simulation time 0.
pub const DEFAULT_EPOCH_UNIX_S: u64 = 1_748_772_000;

const MINUTE_US: u64 = 60_000_000;

/// In how many equal parts [`OutputAccounting::Actual`] charges a response's output while it is
/// generated.
pub const GENERATION_CHUNKS: u64 = 8;

/// A change of limits at an instant (a tier upgrade): every lane's limits of the kinds set in
/// `limits` become those values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimitChange {
    /// When, µs of simulation time.
    pub at_us: u64,
    /// The new limits (kinds not set keep their value).
    pub limits: Limits,
}

/// When output tokens count against the output and combined limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OutputAccounting {
    /// Reserve `max_tokens` at admission, refund the unused part at completion (legacy
    /// Anthropic, OpenAI's TPM).
    #[default]
    Reserve,
    /// Count only the output actually generated, as it is generated (current Anthropic docs:
    /// `max_tokens` does not count).
    Actual,
}

impl OutputAccounting {
    /// How an engine lane facing a provider that counts output this way charges it.
    ///
    /// # Examples
    ///
    /// ```
    /// use headroom::OutputCharge;
    /// use headroom_sim::upstream::OutputAccounting;
    ///
    /// assert_eq!(OutputAccounting::Actual.charge(), OutputCharge::Actual);
    /// assert_eq!(OutputAccounting::Reserve.charge(), OutputCharge::Reserve);
    /// ```
    pub const fn charge(self) -> headroom::OutputCharge {
        match self {
            Self::Reserve => headroom::OutputCharge::Reserve,
            Self::Actual => headroom::OutputCharge::Actual,
        }
    }
}

/// A window of provider overload (529s).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Overload {
    /// Start, µs of simulation time.
    pub start_us: u64,
    /// End (exclusive).
    pub end_us: u64,
    /// Share of attempts refused, in thousandths.
    pub permille: u16,
}

/// How the provider behaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamConfig {
    /// Requests bucket capacity as a slice of the minute (default 1 s).
    pub request_slice_us: u64,
    /// Token bucket capacity as a slice of the minute (default 60 s: the whole limit).
    pub token_slice_us: u64,
    /// Output accounting.
    pub output: OutputAccounting,
    /// Whether cache reads count towards the input limit (default no, current models).
    pub cache_reads_counted: bool,
    /// Fixed part of a 2xx's latency (default 500 ms).
    pub base_latency_us: u64,
    /// Output tokens generated per second (default 60).
    pub decode_tokens_per_s: u64,
    /// Latency of a 429 or 529 (default 50 ms).
    pub reject_latency_us: u64,
    /// Use a request's recorded latency when it has one (default yes).
    pub use_latency_hints: bool,
    /// Overload windows (default none).
    pub overload: Vec<Overload>,
    /// Wall clock at time 0, seconds since the Unix epoch.
    pub epoch_unix_s: u64,
    /// Seed of the 529 draws.
    pub seed: u64,
    /// An outside consumer of the same key (default none).
    pub foreign: Option<ForeignLoad>,
    /// Limit changes, in time order (default none).
    pub limit_changes: Vec<LimitChange>,
    /// How far the `Date` header is off the provider's true clock, µs (default 0).
    pub header_skew_us: i64,
    /// Headers describe the buckets at admission instead of at the response (default no).
    pub stale_headers: bool,
    /// Share of 429s without rate-limit headers and `retry-after`, in thousandths (default 0).
    pub bare_429_permille: u16,
    /// Hand clients the headers as text, rendered and parsed back by the core, instead of the
    /// snapshot the parser would produce (default no: the same snapshot, several times faster).
    pub wire_headers: bool,
}

impl Default for UpstreamConfig {
    fn default() -> Self {
        Self {
            request_slice_us: 1_000_000,
            token_slice_us: MINUTE_US,
            output: OutputAccounting::Reserve,
            cache_reads_counted: false,
            base_latency_us: 500_000,
            decode_tokens_per_s: 60,
            reject_latency_us: 50_000,
            use_latency_hints: true,
            overload: Vec::new(),
            epoch_unix_s: DEFAULT_EPOCH_UNIX_S,
            seed: 0,
            foreign: None,
            limit_changes: Vec::new(),
            header_skew_us: 0,
            stale_headers: false,
            bare_429_permille: 0,
            wire_headers: false,
        }
    }
}

impl UpstreamConfig {
    /// Refuses a world whose outside consumer ([`UpstreamConfig::foreign`]) would be expected to
    /// arrive more than [`MAX_FOREIGN_ARRIVALS`] times while `workload` runs: from its start to
    /// the last answer no strategy can beat (the latest arrival plus latency of a request), at
    /// each lane's request rate of the time (limit changes included). A run can last longer
    /// than that span (a strategy's waits), never shorter, so a refused world would have taken
    /// at least as long as the message says.
    ///
    /// # Errors
    ///
    /// A message saying how many arrivals over how much simulated time.
    ///
    /// # Examples
    ///
    /// ```
    /// use headroom::LimitKind;
    /// use headroom_sim::upstream::{ForeignLoad, UpstreamConfig};
    /// use headroom_sim::workload::{Arrivals, GenSpec, Lane, Limits, generate};
    ///
    /// let lane = Lane { name: "m".into(), limits: Limits::default().with(LimitKind::Requests, 50) };
    /// let spec = GenSpec { lanes: vec![lane], arrivals: Arrivals::Burst { spacing_us: 0 }, ..GenSpec::tier1_batch(2) };
    /// let mut workload = generate(&spec, 1);
    /// let config = UpstreamConfig {
    ///     foreign: Some(ForeignLoad { permille: 400, start_us: 0 }),
    ///     ..UpstreamConfig::default()
    /// };
    /// assert!(config.check_foreign_span(&workload).is_ok());
    /// // The second request a thousand years later.
    /// workload.requests[1].arrival_us = 1_000 * 365 * 86_400 * 1_000_000;
    /// assert!(config.check_foreign_span(&workload).is_err());
    /// ```
    pub fn check_foreign_span(&self, workload: &Workload) -> Result<(), String> {
        let Some(load) = self.foreign.filter(|load| load.permille > 0) else {
            return Ok(());
        };
        // The stream runs from its own start, whenever the first request comes (the provider
        // catches up on it at its first call), to no earlier than the last answer.
        let start = load.start_us;
        let end = workload
            .requests
            .iter()
            .map(|request| request.arrival_us.saturating_add(self.latency_us(request)))
            .max()
            .unwrap_or(0);
        let arrivals = workload
            .lanes
            .iter()
            .map(|lane| self.foreign_arrivals(load, lane.limits, start, end))
            .fold(0u64, u64::saturating_add);
        if arrivals <= MAX_FOREIGN_ARRIVALS {
            return Ok(());
        }
        Err(format!(
            "the outside consumer (--foreign-load) would arrive about {arrivals} times over the \
             {} s of simulated time from its start to the last request's answer (each request's \
             arrival plus its latency); the simulator takes at most {MAX_FOREIGN_ARRIVALS} \
             (about ten seconds a strategy): shorten the trace's span or its requests' output, \
             start the load later (F@T), or drop --foreign-load",
            end.saturating_sub(start).div_ceil(1_000_000),
        ))
    }

    /// The outside consumer's expected arrivals on a lane with `limits` from `start` to `end`
    /// µs, each stretch between two limit changes at its own request rate.
    fn foreign_arrivals(&self, load: ForeignLoad, mut limits: Limits, start: u64, end: u64) -> u64 {
        let mut total = 0u64;
        let mut from = start;
        for change in &self.limit_changes {
            if change.at_us >= end {
                break;
            }
            if change.at_us > from {
                total = total.saturating_add(load.arrivals_over(&limits, change.at_us - from));
                from = change.at_us;
            }
            if let Some(rpm) = change.limits.get(LimitKind::Requests)
                && limits.get(LimitKind::Requests).is_some()
            {
                limits = limits.with(LimitKind::Requests, rpm);
            }
        }
        total.saturating_add(load.arrivals_over(&limits, end.saturating_sub(from)))
    }

    /// The capacity (burst) the provider gives a `kind` limit of `per_minute`.
    ///
    /// # Examples
    ///
    /// ```
    /// use headroom::LimitKind;
    /// use headroom_sim::upstream::UpstreamConfig;
    ///
    /// let config = UpstreamConfig::default();
    /// assert_eq!(config.capacity(LimitKind::Requests, 50), 1);
    /// assert_eq!(config.capacity(LimitKind::Requests, 4_000), 66);
    /// assert_eq!(config.capacity(LimitKind::InputTokens, 30_000), 30_000);
    /// ```
    pub fn capacity(&self, kind: LimitKind, per_minute: u64) -> u64 {
        let slice = match kind {
            LimitKind::Requests => self.request_slice_us,
            _ => self.token_slice_us,
        };
        let capacity = u128::from(per_minute) * u128::from(slice.min(MINUTE_US)) / 60_000_000;
        u64::try_from(capacity).unwrap_or(u64::MAX).max(1)
    }

    /// The latency of a successful attempt.
    pub fn latency_us(&self, request: &Request) -> u64 {
        match request.latency_us {
            Some(hint) if self.use_latency_hints => hint,
            _ => {
                let decode = request.usage.output_tokens.saturating_mul(1_000_000)
                    / self.decode_tokens_per_s.max(1);
                self.base_latency_us.saturating_add(decode)
            }
        }
    }

    /// When a successful attempt's output is generated, from its admission: `(start, span)`
    /// in µs, the last `output ÷ decode speed` of its latency (all of it when shorter).
    ///
    /// # Examples
    ///
    /// ```
    /// use headroom::Usage;
    /// use headroom_sim::upstream::UpstreamConfig;
    /// use headroom_sim::workload::Request;
    ///
    /// let request = Request { usage: Usage { output_tokens: 120, ..Usage::default() }, ..Request::default() };
    /// // 500 ms to the first token, then 120 tokens at 60 per second.
    /// assert_eq!(UpstreamConfig::default().generation(&request), (500_000, 2_000_000));
    /// ```
    pub fn generation(&self, request: &Request) -> (u64, u64) {
        let latency = self.latency_us(request);
        let decode =
            request.usage.output_tokens.saturating_mul(1_000_000) / self.decode_tokens_per_s.max(1);
        let span = decode.min(latency);
        (latency - span, span)
    }

    /// What a request counts against the input limit.
    pub fn counted_input(&self, request: &Request) -> u64 {
        let usage = &request.usage;
        let reads = if self.cache_reads_counted {
            usage.cache_read_input_tokens
        } else {
            0
        };
        usage
            .input_tokens
            .saturating_add(usage.cache_creation_input_tokens)
            .saturating_add(reads)
    }

    /// What a request counts against each limit once it is complete, by [`LimitKind::index`].
    pub fn final_charges(&self, request: &Request) -> [u64; 4] {
        let input = self.counted_input(request);
        let output = request.usage.output_tokens;
        [1, input, output, input.saturating_add(output)]
    }

    /// What each bucket must hold for a request to be admitted, by [`LimitKind::index`]: its
    /// admission charges, except that when output is counted as generated the output buckets
    /// need only be out of debt (one unit). A need above a bucket's capacity is never met.
    ///
    /// # Examples
    ///
    /// ```
    /// use headroom_sim::upstream::{OutputAccounting, UpstreamConfig};
    /// use headroom_sim::workload::Request;
    ///
    /// let request = Request::exact(10, 30, 50);
    /// let reserve = UpstreamConfig { output: OutputAccounting::Reserve, ..UpstreamConfig::default() };
    /// assert_eq!(reserve.admission_needs(&request), [1, 10, 50, 60]);
    /// let actual = UpstreamConfig { output: OutputAccounting::Actual, ..UpstreamConfig::default() };
    /// assert_eq!(actual.admission_needs(&request), [1, 10, 1, 10]);
    /// ```
    pub fn admission_needs(&self, request: &Request) -> [u64; 4] {
        self.needs_of(self.admission_charges(request))
    }

    /// What the buckets must hold to admit a request charged `charges` at admission.
    fn needs_of(&self, charges: [u64; 4]) -> [u64; 4] {
        let mut needs = charges;
        if self.output == OutputAccounting::Actual {
            for kind in [LimitKind::OutputTokens, LimitKind::Tokens] {
                if let Some(need) = needs.get_mut(kind.index()) {
                    *need = (*need).max(1);
                }
            }
        }
        needs
    }

    /// What a request is charged at admission, by [`LimitKind::index`].
    pub fn admission_charges(&self, request: &Request) -> [u64; 4] {
        let input = self.counted_input(request);
        let output = match self.output {
            OutputAccounting::Reserve => request.max_tokens,
            OutputAccounting::Actual => 0,
        };
        [1, input, output, input.saturating_add(output)]
    }
}

/// The provider's answer at admission.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Admission {
    /// 200, 429 or 529.
    pub status: u16,
    /// When the response arrives, from now.
    pub latency_us: u64,
    /// `retry-after` of a 429, in seconds.
    pub retry_after_s: Option<u64>,
    /// Input tokens counted against the input limit (0 when refused).
    pub input_tokens: u64,
    /// A 429 without rate-limit headers and `retry-after`.
    pub bare: bool,
}

/// A sample of one bucket's level, for plots.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LevelSample {
    /// Simulation time, µs.
    pub t_us: u64,
    /// Lane index.
    pub lane: u8,
    /// Which bucket.
    pub kind: LimitKind,
    /// Level in millionths of the capacity.
    pub level_ppm: i64,
}

/// The simulated provider.
#[derive(Debug, Clone)]
pub struct Upstream {
    config: UpstreamConfig,
    lanes: Vec<[Option<ExactBucket>; 4]>,
    limits: Vec<Limits>,
    consumed: Vec<[u64; 4]>,
    samples: Option<Vec<LevelSample>>,
    foreign: Option<ForeignStream>,
    next_change: usize,
    foreign_consumed: Vec<[u64; 4]>,
}

impl Upstream {
    /// A provider with full buckets for `lanes`.
    ///
    /// # Examples
    ///
    /// ```
    /// use headroom_sim::upstream::{Upstream, UpstreamConfig};
    /// use headroom_sim::workload::{Lane, Limits, Request};
    /// use headroom::{LimitKind, Usage};
    ///
    /// let lane = Lane { name: "m".into(), limits: Limits::default().with(LimitKind::Requests, 50) };
    /// let mut upstream = Upstream::new(UpstreamConfig::default(), &[lane]);
    /// let request = Request { usage: Usage { output_tokens: 60, ..Usage::default() }, ..Request::default() };
    /// assert_eq!(upstream.admit(0, &request, 1).status, 200);
    /// let refused = upstream.admit(0, &request, 1);
    /// assert_eq!((refused.status, refused.retry_after_s), (429, Some(2)));
    /// ```
    pub fn new(config: UpstreamConfig, lanes: &[Lane]) -> Self {
        let buckets = lanes
            .iter()
            .map(|lane| {
                LimitKind::ALL.map(|kind| {
                    lane.limits.get(kind).map(|per_minute| {
                        let capacity = config.capacity(kind, per_minute);
                        ExactBucket::new(per_minute, MINUTE_US, capacity)
                    })
                })
            })
            .collect();
        let limits: Vec<Limits> = lanes.iter().map(|lane| lane.limits).collect();
        Self {
            foreign: config
                .foreign
                .filter(|load| load.permille > 0)
                .map(|load| ForeignStream::new(load, config.seed, &limits)),
            limits,
            consumed: vec![[0; 4]; lanes.len()],
            foreign_consumed: vec![[0; 4]; lanes.len()],
            lanes: buckets,
            config,
            samples: None,
            next_change: 0,
        }
    }

    /// Brings the world up to `now`: the foreign consumer's arrivals and the limit changes due,
    /// in time order. Inlined: in a world without either (most runs) it is one test on every
    /// admission, chunk, completion and response.
    #[inline]
    fn advance(&mut self, now: u64) {
        if self.foreign.is_some() || self.next_change < self.config.limit_changes.len() {
            self.advance_world(now);
        }
    }

    fn advance_world(&mut self, now: u64) {
        loop {
            let change = self
                .config
                .limit_changes
                .get(self.next_change)
                .map(|change| change.at_us)
                .filter(|&at| at <= now);
            let foreign = self
                .foreign
                .as_ref()
                .and_then(ForeignStream::peek)
                .filter(|&(at, _)| at <= now);
            match (change, foreign) {
                (Some(at), Some((f, _))) if at <= f => self.apply_change(at),
                (Some(at), None) => self.apply_change(at),
                (_, Some((at, lane))) => self.charge_foreign(at, lane),
                (None, None) => return,
            }
        }
    }

    fn apply_change(&mut self, at: u64) {
        let Some(change) = self.config.limit_changes.get(self.next_change).copied() else {
            return;
        };
        self.next_change += 1;
        for (buckets, limits) in self.lanes.iter_mut().zip(&mut self.limits) {
            for kind in LimitKind::ALL {
                let Some(per_minute) = change.limits.get(kind) else {
                    continue;
                };
                if limits.get(kind).is_none() {
                    continue;
                }
                *limits = limits.with(kind, per_minute);
                let capacity = self.config.capacity(kind, per_minute);
                if let Some(Some(bucket)) = buckets.get_mut(kind.index()) {
                    bucket.set_rate(at, per_minute, capacity);
                }
            }
        }
    }

    fn charge_foreign(&mut self, at: u64, lane: usize) {
        let (Some(stream), Some(limits)) = (self.foreign.as_mut(), self.limits.get(lane)) else {
            return;
        };
        let charges = stream.pop(lane, limits);
        force_charges(
            self.lanes.get_mut(lane),
            self.foreign_consumed.get_mut(lane),
            at,
            charges,
        );
    }

    /// Units the foreign consumer was charged so far, per lane and limit kind.
    pub fn foreign_consumed(&self) -> &[[u64; 4]] {
        &self.foreign_consumed
    }

    /// Starts recording bucket levels (for `--plot`).
    pub fn record_levels(&mut self) {
        self.samples = Some(Vec::new());
    }

    /// The recorded levels.
    pub fn take_samples(&mut self) -> Vec<LevelSample> {
        self.samples.take().unwrap_or_default()
    }

    /// The configuration.
    pub fn config(&self) -> &UpstreamConfig {
        &self.config
    }

    /// Net units each bucket of each lane was charged so far.
    pub fn consumed(&self) -> &[[u64; 4]] {
        &self.consumed
    }

    fn overloaded(&self, now: u64, request: &Request, attempt: u32) -> bool {
        self.config.overload.iter().any(|window| {
            (window.start_us..window.end_us).contains(&now) && {
                let key = self.config.seed
                    ^ u64::from(request.id).rotate_left(20)
                    ^ u64::from(attempt).rotate_left(52);
                splitmix(key) % 1000 < u64::from(window.permille)
            }
        })
    }

    /// An attempt of `request` reaches the provider at `now`.
    pub fn admit(&mut self, now: u64, request: &Request, attempt: u32) -> Admission {
        self.advance(now);
        let refused = |status, retry_after_s| Admission {
            status,
            latency_us: self.config.reject_latency_us,
            retry_after_s,
            input_tokens: 0,
            bare: false,
        };
        if self.overloaded(now, request, attempt) {
            return refused(529, None);
        }
        let lane = usize::from(request.lane);
        let charges = self.config.admission_charges(request);
        let needs = self.config.needs_of(charges);
        let Some(buckets) = self.lanes.get_mut(lane) else {
            return refused(400, None);
        };
        let mut wait = 0u64;
        let mut never = false;
        for (bucket, need) in buckets.iter_mut().zip(needs) {
            let Some(bucket) = bucket else { continue };
            match bucket.wait_us(now, need) {
                Some(us) => wait = wait.max(us),
                None => never = true,
            }
        }
        if never || wait > 0 {
            let fits_at = now.saturating_add(wait);
            let answered = now.saturating_add(self.config.reject_latency_us);
            let seconds = fits_at.saturating_sub(answered).div_ceil(1_000_000).max(1);
            if self.bare(request, attempt) {
                return Admission {
                    bare: true,
                    ..refused(429, None)
                };
            }
            return refused(429, Some(if never { 60 } else { seconds }));
        }
        for (bucket, charge) in buckets.iter_mut().zip(charges) {
            if let Some(bucket) = bucket {
                bucket.force_take(now, charge);
            }
        }
        if let Some(consumed) = self.consumed.get_mut(lane) {
            for (total, charge) in consumed.iter_mut().zip(charges) {
                *total = total.saturating_add(charge);
            }
        }
        self.sample(now, lane);
        Admission {
            status: 200,
            latency_us: self.config.latency_us(request),
            retry_after_s: None,
            input_tokens: charges[LimitKind::InputTokens.index()],
            bare: false,
        }
    }

    /// Whether this 429 is one of the bare ones, by a hash of (seed, request, attempt).
    fn bare(&self, request: &Request, attempt: u32) -> bool {
        let key = self.config.seed.rotate_left(7)
            ^ u64::from(request.id).rotate_left(24)
            ^ u64::from(attempt).rotate_left(56)
            ^ 0x5bd1_e995;
        splitmix(key) % 1000 < u64::from(self.config.bare_429_permille)
    }

    /// `tokens` of output generated at `now` by a request of `lane`, charged as they are
    /// produced ([`OutputAccounting::Actual`]).
    pub fn generate(&mut self, now: u64, lane: u8, tokens: u64) {
        self.advance(now);
        let lane = usize::from(lane);
        if let Some(buckets) = self.lanes.get_mut(lane) {
            for kind in [LimitKind::OutputTokens, LimitKind::Tokens] {
                if let Some(Some(bucket)) = buckets.get_mut(kind.index()) {
                    bucket.force_take(now, tokens);
                }
            }
        }
        if let Some(consumed) = self.consumed.get_mut(lane) {
            for kind in [LimitKind::OutputTokens, LimitKind::Tokens] {
                if let Some(total) = consumed.get_mut(kind.index()) {
                    *total = total.saturating_add(tokens);
                }
            }
        }
        self.sample(now, lane);
    }

    /// Charges `request`'s admission at `now` whether it fits or not (for recordings).
    pub fn force_admit(&mut self, now: u64, request: &Request) {
        self.advance(now);
        let lane = usize::from(request.lane);
        let needs = self.config.admission_charges(request);
        force_charges(
            self.lanes.get_mut(lane),
            self.consumed.get_mut(lane),
            now,
            needs,
        );
    }

    /// A successful attempt of `request` completes at `now`: output is reconciled, given the
    /// `generated` tokens already charged while it was produced ([`Upstream::generate`]).
    pub fn complete(&mut self, now: u64, request: &Request, generated: u64) {
        self.advance(now);
        let lane = usize::from(request.lane);
        let mut charged = self.config.admission_charges(request);
        for kind in [LimitKind::OutputTokens, LimitKind::Tokens] {
            if let Some(slot) = charged.get_mut(kind.index()) {
                *slot = slot.saturating_add(generated);
            }
        }
        let actual = self.config.final_charges(request);
        let (Some(buckets), Some(consumed)) =
            (self.lanes.get_mut(lane), self.consumed.get_mut(lane))
        else {
            return;
        };
        for kind in [LimitKind::OutputTokens, LimitKind::Tokens] {
            let (charged, actual) = (charged[kind.index()], actual[kind.index()]);
            let slot = &mut consumed[kind.index()];
            *slot = slot.saturating_sub(charged).saturating_add(actual);
            let Some(bucket) = buckets.get_mut(kind.index()).and_then(Option::as_mut) else {
                continue;
            };
            if actual > charged {
                bucket.force_take(now, actual - charged);
            } else {
                bucket.give_back(now, charged - actual);
            }
        }
        self.sample(now, lane);
    }

    /// Records the lane's levels when recording (`--plot`); inlined, so that it is one test
    /// on every charge otherwise.
    #[inline]
    fn sample(&mut self, now: u64, lane: usize) {
        if self.samples.is_some() {
            self.record_sample(now, lane);
        }
    }

    fn record_sample(&mut self, now: u64, lane: usize) {
        let Some(samples) = self.samples.as_mut() else {
            return;
        };
        let Some(buckets) = self.lanes.get_mut(lane) else {
            return;
        };
        for (bucket, kind) in buckets.iter_mut().zip(LimitKind::ALL) {
            if let Some(bucket) = bucket {
                samples.push(LevelSample {
                    t_us: now,
                    lane: u8::try_from(lane).unwrap_or(u8::MAX),
                    kind,
                    level_ppm: bucket.level_ppm(now),
                });
            }
        }
    }

    /// What the headers of a response to a request of `lane` say at `now`.
    pub fn header_state(
        &mut self,
        now: u64,
        lane: u8,
        status: u16,
        retry_after_s: Option<u64>,
    ) -> HeaderState {
        self.advance(now);
        let mut state = HeaderState {
            status,
            date_unix_us: self
                .config
                .epoch_unix_s
                .saturating_mul(1_000_000)
                .saturating_add(now),
            date_skew_us: self.config.header_skew_us,
            retry_after_s,
            quotas: [None; 4],
        };
        let lane = usize::from(lane);
        if let (Some(buckets), Some(limits)) = (self.lanes.get_mut(lane), self.limits.get(lane)) {
            for ((slot, bucket), limit) in state.quotas.iter_mut().zip(buckets).zip(&limits.0) {
                if let (Some(bucket), Some(limit)) = (bucket, limit) {
                    *slot = Some(QuotaView {
                        limit: *limit,
                        remaining: bucket.remaining(now),
                        time_to_full_us: bucket.time_to_full_us(now),
                    });
                }
            }
        }
        state
    }
}

/// Charges every bucket of a lane whether it fits or not, and adds the charges to `totals`.
fn force_charges(
    buckets: Option<&mut [Option<ExactBucket>; 4]>,
    totals: Option<&mut [u64; 4]>,
    at: u64,
    charges: [u64; 4],
) {
    if let Some(buckets) = buckets {
        for (bucket, charge) in buckets.iter_mut().zip(charges) {
            if let Some(bucket) = bucket {
                bucket.force_take(at, charge);
            }
        }
    }
    if let Some(totals) = totals {
        for (total, charge) in totals.iter_mut().zip(charges) {
            *total = total.saturating_add(charge);
        }
    }
}

/// SplitMix64's finalizer: a well-mixed hash of a key.
fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests;
