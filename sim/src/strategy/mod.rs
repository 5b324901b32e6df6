//! The strategies compared: headroom and the baselines a user would otherwise pick.
//!
//! All run against the same provider with unlimited concurrency unless the strategy itself
//! limits it. Each lives in its own file:
//!
//! | name | what it is |
//! |---|---|
//! | `headroom` | the engine: [`Policy`](::headroom::Policy), limits learned from headers, reserve → settle |
//! | `headroom-fleet` | `headroom` told its place in a fleet of N ([`FleetMember`]): request slots |
//! | `static` | client-side buckets at the declared limits, reserve → settle, never reads headers |
//! | `static-split` | `static` at `limit ÷ N` per gateway of a fleet of N |
//! | `sdk-semaphore` | official SDK defaults behind a semaphore of `--concurrency N` (default 4) |
//! | `sdk` | official SDK defaults: send on arrival, 2 retries, `0.5·2ⁿ s ≤ 8 s × (1 − 0.25u)` |
//! | `guide-backoff` | the guide's loop: `2ⁿ s + U(0, 0.5·2ⁿ s)`, 6 attempts |
//! | `guide-queue` | the guide's queue: a semaphore and `sleep(60 / RPM)` between sends |
//! | `cookbook` | the OpenAI cookbook parallel processor (client-side capacity, 15 s pause) |
//! | `rpm-only` | one GCRA on requests, as a governor user would build, SDK retries |

mod cookbook;
mod fixed;
mod guide_queue;
mod headroom;
mod paced;
mod rpm_only;
mod sdk;

pub use cookbook::Cookbook;
pub use fixed::StaticLimiter;
pub use guide_queue::GuideQueue;
pub use headroom::HeadroomStrategy;
pub use paced::{PERMITS, Paced, PacedClient};
pub use rpm_only::RpmOnly;
pub use sdk::SdkStyle;

use std::num::NonZeroU16;

use ::headroom::backoff::{Attempt, Backoff, RetryBudget};
use ::headroom::classify::Outcome;
use ::headroom::classify::classify;
use ::headroom::time::Instant;
use ::headroom::{FleetMember, LimitKind};

use crate::engine::{Reply, Sim, Strategy};
use crate::upstream::UpstreamConfig;
use crate::workload::{Dialect, Workload};

/// The strategies, by their CLI names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, clap::ValueEnum)]
pub enum StrategyName {
    /// The headroom engine.
    Headroom,
    /// The headroom engine, told its place in the fleet (request slots).
    HeadroomFleet,
    /// Client-side buckets at the declared limits.
    Static,
    /// Client-side buckets at the declared limits ÷ the number of gateways.
    StaticSplit,
    /// Official SDK defaults behind a semaphore.
    SdkSemaphore,
    /// Official SDK defaults.
    Sdk,
    /// The guide's backoff loop.
    GuideBackoff,
    /// The guide's semaphore + sleep queue.
    GuideQueue,
    /// The OpenAI cookbook parallel processor.
    Cookbook,
    /// A single requests-per-minute GCRA.
    RpmOnly,
}

impl StrategyName {
    /// Every strategy, in report order.
    pub const ALL: [Self; 10] = [
        Self::Headroom,
        Self::HeadroomFleet,
        Self::Static,
        Self::StaticSplit,
        Self::SdkSemaphore,
        Self::Sdk,
        Self::GuideBackoff,
        Self::GuideQueue,
        Self::Cookbook,
        Self::RpmOnly,
    ];

    /// The strategies `simulate` runs when none is named: all of them, but `headroom-fleet`
    /// only for a fleet (alone, it is `headroom` told it is alone, not a strategy of its own).
    ///
    /// # Examples
    ///
    /// ```
    /// use headroom_sim::strategy::StrategyName;
    /// assert!(!StrategyName::by_default(1).contains(&StrategyName::HeadroomFleet));
    /// assert_eq!(StrategyName::by_default(4), StrategyName::ALL);
    /// ```
    pub fn by_default(gateways: u32) -> Vec<Self> {
        Self::ALL
            .into_iter()
            .filter(|&name| gateways > 1 || name != Self::HeadroomFleet)
            .collect()
    }

    /// The CLI and JSON name.
    ///
    /// # Examples
    ///
    /// ```
    /// use headroom_sim::strategy::StrategyName;
    /// assert_eq!(StrategyName::GuideBackoff.name(), "guide-backoff");
    /// ```
    pub const fn name(self) -> &'static str {
        match self {
            Self::Headroom => "headroom",
            Self::HeadroomFleet => "headroom-fleet",
            Self::Static => "static",
            Self::StaticSplit => "static-split",
            Self::SdkSemaphore => "sdk-semaphore",
            Self::Sdk => "sdk",
            Self::GuideBackoff => "guide-backoff",
            Self::GuideQueue => "guide-queue",
            Self::Cookbook => "cookbook",
            Self::RpmOnly => "rpm-only",
        }
    }
}

/// What a strategy may be configured with beyond the workload and the provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// The semaphore of `sdk-semaphore`.
    pub concurrency: usize,
    /// Gateways sharing the key (`static-split` divides the limits by it).
    pub gateways: u32,
    /// Which of them this client is, from 0 (`headroom-fleet` takes its request slots).
    pub member: u32,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            concurrency: 4,
            gateways: 1,
            member: 0,
        }
    }
}

/// Builds a fresh strategy for one client over `workload`.
///
/// # Examples
///
/// ```
/// use headroom_sim::strategy::{Options, StrategyName, build};
/// use headroom_sim::upstream::UpstreamConfig;
/// use headroom_sim::workload::Workload;
///
/// let strategy = build(StrategyName::Static, &Workload::default(), &UpstreamConfig::default(), Options::default());
/// # drop(strategy);
/// ```
pub fn build(
    name: StrategyName,
    workload: &Workload,
    config: &UpstreamConfig,
    options: Options,
) -> Box<dyn Strategy> {
    match name {
        StrategyName::Headroom => Box::new(HeadroomStrategy::new(workload, config, None)),
        StrategyName::HeadroomFleet => Box::new(HeadroomStrategy::new(
            workload,
            config,
            fleet_member(options),
        )),
        StrategyName::Static => Box::new(StaticLimiter::new(workload, config, 1)),
        StrategyName::StaticSplit => {
            Box::new(StaticLimiter::new(workload, config, options.gateways))
        }
        StrategyName::SdkSemaphore => Box::new(SdkStyle::new(
            workload,
            sdk_backoff(workload),
            Some(options.concurrency),
        )),
        StrategyName::Sdk => Box::new(SdkStyle::new(workload, sdk_backoff(workload), None)),
        StrategyName::GuideBackoff => {
            Box::new(SdkStyle::new(workload, Backoff::guide_loop(), None))
        }
        StrategyName::GuideQueue => Box::new(GuideQueue::new(workload)),
        StrategyName::Cookbook => Box::new(Cookbook::new(workload)),
        StrategyName::RpmOnly => Box::new(RpmOnly::new(workload)),
    }
}

/// This client's place in the fleet `options` describe (`None` when it cannot be one).
fn fleet_member(options: Options) -> Option<FleetMember> {
    let size = NonZeroU16::new(u16::try_from(options.gateways).ok()?)?;
    FleetMember::new(u16::try_from(options.member).ok()?, size)
}

/// The official SDK's retry schedule for the workload's provider.
pub fn sdk_backoff(workload: &Workload) -> Backoff {
    match workload.dialect {
        Dialect::Anthropic => Backoff::anthropic_python(),
        Dialect::OpenAi => Backoff::openai_python(),
    }
}

/// The per-minute limit of `kind` of a lane, as a user configuring a client would know it.
pub fn lane_limit(workload: &Workload, lane: u8, kind: LimitKind) -> Option<u64> {
    workload.lanes.get(usize::from(lane))?.limits.get(kind)
}

/// Retries driven by a [`Backoff`] schedule and the core's classifier: what an SDK does inside
/// one call.
#[derive(Debug, Clone)]
pub struct Retrier {
    backoff: Backoff,
    budget: RetryBudget,
    states: Vec<Attempt>,
}

/// What to do after a response, as decided by a [`Retrier`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum After {
    /// The request is complete.
    Done,
    /// Retry at this instant (µs).
    RetryAt(u64),
    /// Given up.
    GaveUp,
}

impl Retrier {
    /// A retrier for `requests` requests.
    pub fn new(backoff: Backoff, budget: RetryBudget, requests: usize) -> Self {
        Self {
            backoff,
            budget,
            states: vec![Attempt::first(); requests],
        }
    }

    /// Decides what follows `response` with the core's classifier and schedule, from the
    /// fields an SDK reads ([`Sim::retry_snapshot`]). Records completion or give-up in `sim`.
    pub fn decide(&mut self, sim: &mut Sim<'_>, response: &Reply) -> After {
        let request = response.request;
        if (200..300).contains(&response.status) {
            if let Some(state) = self.states.get(request as usize) {
                self.budget.record_success(state);
            }
            sim.complete(request);
            return After::Done;
        }
        let snapshot = sim.retry_snapshot(response);
        let verdict = classify(response.status, &snapshot, None);
        let now = Instant::from_ticks(sim.now());
        let Some(state) = self.states.get_mut(request as usize) else {
            sim.give_up(request);
            return After::GaveUp;
        };
        let next = self
            .backoff
            .decide(now, &verdict, state, &mut self.budget, &mut *sim.rng());
        match next {
            Outcome::Done => {
                sim.complete(request);
                After::Done
            }
            Outcome::Retry(at) => After::RetryAt(at.as_ticks()),
            Outcome::GiveUp(_) => {
                sim.give_up(request);
                After::GaveUp
            }
        }
    }
}

#[cfg(test)]
mod tests;
