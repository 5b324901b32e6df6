//! The local engine and the lanes in it: which lane a request's model takes, created on
//! first use.
//!
//! A model the `--config` file names takes that file's lane; any other model gets a lane of
//! its own, named after it, with the command line's limits (or none: learned from headers),
//! until [`MAX_LANES`] are in use; later models share the lane `other`. A request without a
//! body (`GET /v1/models`) takes the lane `default`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use headroom::limiter::{CriticalSectionRawMutex, Guard, Limiter, TokioTimer};
use headroom::time::Instant;
use headroom::{CacheReads, Cost, CostModel, LaneConfig, LaneId, LimitKind, Policy};

use super::config::{Config, Limits};
use super::fallback::Fallback;
use super::metrics::LaneStats;
use crate::cli::CliError;
use crate::store::{self, Rate};
use crate::upstream::OutputAccounting;
use crate::workload::Dialect;
use crate::world::Accounting;

/// The most lanes one proxy tracks.
pub const MAX_LANES: usize = 16;
/// The most requests in flight at once, all lanes together.
pub const PERMITS: usize = 1_024;
/// The most requests waiting for a permit at once, all lanes together.
pub const WAITERS: usize = 4_096;

/// The proxy's local engine: the core's async limiter.
pub type Engine = Limiter<CriticalSectionRawMutex, TokioTimer, MAX_LANES, PERMITS, WAITERS>;
/// An admitted request's permit in the local engine.
pub type Ticket = Guard<'static, CriticalSectionRawMutex, TokioTimer, MAX_LANES, PERMITS, WAITERS>;

/// A lane: its id in the engine, its counters, and the limits it was configured with.
#[derive(Debug)]
pub struct Lane {
    /// The engine's id.
    pub id: LaneId,
    /// Its counters.
    pub stats: LaneStats,
    /// Its configured limits (all `None`: learned).
    pub limits: Limits,
    /// Its rates in the shared store (the configured limits as paced).
    pub rates: [Rate; 4],
    /// The line of this proxy's requests asking the shared store, one at a time, in order.
    pub store_line: tokio::sync::Mutex<()>,
    /// What the local engine admitted while the shared store was unreachable.
    owed: Mutex<Option<Owed>>,
    /// The lane at its fallback share.
    fallback_config: LaneConfig,
    /// The gate of its sends while the store does not answer (`None`: it answers).
    fallback: Mutex<Option<Fallback>>,
    /// How its provider counts output, once its first request that asks for output has said
    /// which API it speaks ([`Lane::account_output`]).
    output: OnceLock<OutputAccounting>,
}

/// Charges a lane admitted on its own while the shared store was unreachable, to be charged
/// there when it answers again (see [`Lane::owe`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Owed {
    /// The charges, by [`LimitKind::index`].
    pub charges: [u64; 4],
    /// When the last of them was admitted, in µs on the store's clock.
    pub last_us: u64,
}

impl Owed {
    /// Both debts together: the charges summed (saturating), the later instant.
    ///
    /// # Examples
    ///
    /// ```
    /// use headroom_sim::proxy::lanes::Owed;
    ///
    /// let one = Owed { charges: [1, 500, 0, 500], last_us: 9 };
    /// let two = Owed { charges: [1, u64::MAX, 0, 20], last_us: 4 };
    /// assert_eq!(one.plus(two), Owed { charges: [2, u64::MAX, 0, 520], last_us: 9 });
    /// ```
    #[must_use]
    pub fn plus(self, other: Self) -> Self {
        let mut sum = self;
        for (units, more) in sum.charges.iter_mut().zip(other.charges) {
            *units = units.saturating_add(more);
        }
        sum.last_us = sum.last_us.max(other.last_us);
        sum
    }

    /// This debt once `paid` is paid (`None` when nothing is left), its instant kept.
    ///
    /// # Examples
    ///
    /// ```
    /// use headroom_sim::proxy::lanes::Owed;
    ///
    /// let owed = Owed { charges: [3, 900, 0, 900], last_us: 9 };
    /// let paid = Owed { charges: [2, 1_000, 0, 600], last_us: 4 };
    /// assert_eq!(owed.less(&paid), Some(Owed { charges: [1, 0, 0, 300], last_us: 9 }));
    /// assert_eq!(owed.less(&owed), None);
    /// ```
    #[must_use]
    pub fn less(self, paid: &Self) -> Option<Self> {
        let mut left = self;
        for (units, paid) in left.charges.iter_mut().zip(paid.charges) {
            *units = units.saturating_sub(paid);
        }
        (left.charges != [0; 4]).then_some(left)
    }
}

impl Lane {
    fn new(id: LaneId, name: &str, limits: Limits, rules: &LaneRules) -> Self {
        Self {
            id,
            stats: LaneStats::new(name),
            limits,
            rates: store::rates(&rules.lane_config(&limits, 1_000), rules.transit_us),
            store_line: tokio::sync::Mutex::new(()),
            owed: Mutex::new(None),
            fallback_config: rules.lane_config(&limits, rules.fallback_permille),
            fallback: Mutex::new(None),
            output: OnceLock::new(),
        }
    }

    /// Sets the lane's cost model in `engine` for the `--output-accounting` `rule`, `auto`
    /// resolved by the API `dialect` of the lane's first request that asks for output (a
    /// `max_tokens` above 0): output counted as generated for Anthropic's, `max_tokens`
    /// reserved for OpenAI's. A request that asks for none (`GET /v1/models`, a token count,
    /// an OpenAI request without `max_tokens`) is charged no output either way and decides
    /// nothing. Once per lane: later requests (of either API) find it set, and one that
    /// arrives while it is being set waits for it.
    pub fn account_output(&self, engine: &Engine, rule: Accounting, dialect: Dialect, cost: Cost) {
        if cost.max_tokens() == 0 {
            return;
        }
        self.output.get_or_init(|| {
            let output = rule.resolve(dialect);
            let model = CostModel::new(CacheReads::Excluded, output.charge());
            let _ = engine.with_policy(|policy| policy.set_cost_model(self.id, model));
            output
        });
    }

    /// How the lane's provider counts output, once [`Lane::account_output`] has set it.
    pub fn output_accounting(&self) -> Option<OutputAccounting> {
        self.output.get().copied()
    }

    /// Takes `charges` (by [`LimitKind::index`]) at `now` from the gate that stands in for the
    /// unreachable store, opened empty if the outage has just begun ([`Fallback`]).
    ///
    /// # Errors
    ///
    /// The instant at which the charges fit, when they do not fit now.
    pub fn take_fallback(&self, now: Instant, charges: [u64; 4]) -> Result<(), Instant> {
        self.fallback
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get_or_insert_with(|| Fallback::empty(&self.fallback_config, now))
            .take(now, charges)
    }

    /// The store answered: the outage, if there was one, is over.
    pub fn end_fallback(&self) {
        *self.fallback.lock().unwrap_or_else(PoisonError::into_inner) = None;
    }

    /// Adds `charges` (by [`LimitKind::index`]), admitted at `at_us` without the store, to
    /// what the lane owes it.
    pub fn owe(&self, charges: [u64; 4], at_us: u64) {
        let mut owed = self.owed.lock().unwrap_or_else(PoisonError::into_inner);
        let more = Owed {
            charges,
            last_us: at_us,
        };
        *owed = Some(owed.map_or(more, |before| before.plus(more)));
    }

    /// What the lane owes the store.
    pub fn owed(&self) -> Option<Owed> {
        *self.owed.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The store was charged `paid`: what is still owed is what was owed since.
    pub fn paid(&self, paid: &Owed) {
        let mut owed = self.owed.lock().unwrap_or_else(PoisonError::into_inner);
        *owed = owed.and_then(|owed| owed.less(paid));
    }
}

/// How lanes are made.
#[derive(Debug, Clone)]
pub struct LaneRules {
    /// The `--config` file.
    pub config: Config,
    /// Limits for models the file does not name.
    pub fallback: Limits,
    /// Each configured limit is paced at this share of itself, in ‰.
    pub pace_permille: u32,
    /// Whether this proxy is the only client of its key.
    pub alone: bool,
    /// Whether configured limits stand against the limits the headers report (with a shared
    /// store, whose rates are the configured ones, and so that a fallback share stays a share).
    pub keep_limits: bool,
    /// While the shared store is unreachable, each lane is paced at this share of its limits,
    /// in ‰.
    pub fallback_permille: u32,
    /// The transit allowance, in µs: the shared store's bursts leave its refill unspent
    /// ([`store::rates`]).
    pub transit_us: u64,
    /// How the provider counts output tokens: the lanes' cost model (`auto`: each lane's from
    /// the API of its first request that asks for output, [`Lane::account_output`]).
    pub output: Accounting,
}

impl LaneRules {
    /// The engine's configuration for a lane of `limits`, at a `share` ‰ of them.
    pub fn lane_config(&self, limits: &Limits, share: u32) -> LaneConfig {
        limits
            .lane(self.pace_permille, share)
            .shared_key(!self.alone)
            .adopt_server_limits(!(self.keep_limits && limits.is_set()))
    }

    /// The lanes whose paced requests come further apart than `queue_timeout`, with that
    /// interval, at all of their limits and (when `store`) at the fallback share: a request
    /// that finds such a lane drained cannot get room before its deadline and is refused at
    /// once (at 98 %, `--rpm 1` paces one request every 61.2 s, past the default 60 s). The
    /// proxy warns of them when it starts.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use headroom_sim::proxy::config::{Config, Limits};
    /// use headroom_sim::proxy::lanes::LaneRules;
    /// use headroom_sim::world::Accounting;
    ///
    /// let rules = |rpm| LaneRules {
    ///     config: Config::default(),
    ///     fallback: Limits { rpm: std::num::NonZeroU32::new(rpm), ..Limits::default() },
    ///     pace_permille: 980,
    ///     alone: false,
    ///     keep_limits: false,
    ///     fallback_permille: 250,
    ///     transit_us: 500_000,
    ///     output: Accounting::Auto,
    /// };
    /// let slow = rules(1).slow_lanes(Duration::from_secs(60), false);
    /// assert_eq!(slow, [("default".to_owned(), Duration::from_millis(61_225))]);
    /// assert!(rules(2).slow_lanes(Duration::from_secs(60), false).is_empty());
    /// // At the fallback share of 250 ‰ (a store that stopped answering), 2 a minute paced at
    /// // 98 % are one request every 2 minutes.
    /// assert_eq!(rules(2).slow_lanes(Duration::from_secs(60), true).len(), 1);
    /// ```
    pub fn slow_lanes(&self, queue_timeout: Duration, store: bool) -> Vec<(String, Duration)> {
        let lanes = self
            .config
            .lanes
            .iter()
            .map(|(name, entry)| (name.as_str(), entry.limits))
            .chain([("default", self.fallback)]);
        let shares: &[u32] = if store {
            &[1_000, self.fallback_permille]
        } else {
            &[1_000]
        };
        let mut slow = Vec::new();
        for (name, limits) in lanes {
            let slowest = shares
                .iter()
                .filter_map(|&share| {
                    let limit = self
                        .lane_config(&limits, share)
                        .limit(LimitKind::Requests)?;
                    let interval_ms =
                        u64::from(limit.window_ms()).div_ceil(u64::from(limit.amount()));
                    Some(Duration::from_millis(interval_ms))
                })
                .max();
            if let Some(interval) = slowest.filter(|&interval| interval > queue_timeout) {
                slow.push((name.to_owned(), interval));
            }
        }
        slow
    }
}

/// The engine and its lanes.
#[derive(Debug)]
pub struct Lanes {
    engine: &'static Engine,
    rules: LaneRules,
    by_name: Mutex<HashMap<String, Arc<Lane>>>,
    /// The lane of models that came after every lane was in use.
    other: Arc<Lane>,
}

impl Lanes {
    /// An engine with `policy`, a lane for each lane of the config file, and the lanes
    /// `default` and `other`. The engine lives as long as the process (a permit's guard
    /// outlives the handler that took it, while its response streams back).
    ///
    /// # Errors
    ///
    /// [`CliError::Input`] when the file has more lanes than [`MAX_LANES`] − 2.
    pub fn new(policy: Policy<MAX_LANES, PERMITS>, rules: LaneRules) -> Result<Self, CliError> {
        let engine: &'static Engine = Box::leak(Box::new(Engine::new(policy, TokioTimer::new())));
        let too_many = || {
            CliError::Input(format!(
                "--config: at most {} lanes",
                MAX_LANES.saturating_sub(2)
            ))
        };
        let mut by_name = HashMap::new();
        let mut add = |name: &str, limits: Limits| -> Result<Arc<Lane>, CliError> {
            if let Some(lane) = by_name.get(name) {
                return Ok(Arc::clone(lane));
            }
            let id = engine
                .add_lane(rules.lane_config(&limits, 1_000))
                .map_err(|_| too_many())?;
            let lane = Arc::new(Lane::new(id, name, limits, &rules));
            by_name.insert(name.to_owned(), lane.clone());
            Ok(lane)
        };
        for (name, entry) in &rules.config.lanes {
            add(name, entry.limits)?;
        }
        let other = add("other", rules.fallback)?;
        add("default", rules.fallback)?;
        Ok(Self {
            engine,
            rules,
            by_name: Mutex::new(by_name),
            other,
        })
    }

    /// The engine.
    pub fn engine(&self) -> &'static Engine {
        self.engine
    }

    /// How lanes are made.
    pub fn rules(&self) -> &LaneRules {
        &self.rules
    }

    /// The lane for a request of `model` (see the module docs).
    pub fn lane_for(&self, model: Option<&str>) -> Arc<Lane> {
        let name = match model {
            None => "default",
            Some(model) => self.rules.config.lane_of(model).unwrap_or(model),
        };
        self.named(name, self.rules.fallback)
            .unwrap_or_else(|| self.other.clone())
    }

    /// Every lane, in the order created.
    pub fn all(&self) -> Vec<Arc<Lane>> {
        let mut all: Vec<Arc<Lane>> = self.map().values().cloned().collect();
        all.sort_by_key(|lane| lane.id.index());
        all
    }

    /// The lane `name`, created with `limits` if new; `None` when every lane is in use.
    fn named(&self, name: &str, limits: Limits) -> Option<Arc<Lane>> {
        let mut map = self.map();
        if let Some(lane) = map.get(name) {
            return Some(lane.clone());
        }
        let id = self
            .engine
            .add_lane(self.rules.lane_config(&limits, 1_000))
            .ok()?;
        let lane = Arc::new(Lane::new(id, name, limits, &self.rules));
        map.insert(name.to_owned(), lane.clone());
        Some(lane)
    }

    /// Paces every lane with configured limits at a `share` ‰ of them: less than all while
    /// the shared store is away (other proxies spend the same key), all of it again when it is
    /// back.
    pub fn share(&self, share: u32) {
        let engine = self.engine;
        let now = engine.now();
        for lane in self.all().iter().filter(|lane| lane.limits.is_set()) {
            let config = self.rules.lane_config(&lane.limits, share);
            engine.with_policy(|policy| {
                for kind in LimitKind::ALL {
                    let _ = policy.set_limit(now, lane.id, kind, config.limit(kind));
                }
            });
        }
    }

    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Lane>>> {
        self.by_name.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_request_that_asks_for_output_decides_how_a_lane_counts_it() {
        let rules = LaneRules {
            config: Config::default(),
            fallback: Limits::default(),
            pace_permille: 1_000,
            alone: true,
            keep_limits: false,
            fallback_permille: 250,
            transit_us: 500_000,
            output: Accounting::Auto,
        };
        let lanes = Lanes::new(Policy::new(), rules).unwrap();
        let lane = lanes.lane_for(None);
        let ask = |dialect, max_tokens| {
            let cost = Cost::request(10, max_tokens);
            lane.account_output(lanes.engine(), Accounting::Auto, dialect, cost);
            lane.output_accounting()
        };
        // `GET /v1/models` on an OpenAI-facing proxy: no output asked, nothing decided.
        assert_eq!(ask(Dialect::Anthropic, 0), None);
        assert_eq!(ask(Dialect::OpenAi, 100), Some(OutputAccounting::Reserve));
        // Decided once: a later Anthropic request finds it set.
        assert_eq!(
            ask(Dialect::Anthropic, 100),
            Some(OutputAccounting::Reserve)
        );
        let charge = lanes
            .engine()
            .with_policy(|policy| policy.output_charge(lane.id, &Cost::request(10, 100)));
        assert_eq!(charge, Some(100), "reserved: max_tokens charged");
    }
}
