//! Another consumer of the same API key: a service, a colleague's notebook, the Console.
//!
//! Real keys are shared, and nothing in a response says which part of the used quota is ours.
//! The stream here uses a fraction `F` of every limit of every lane: Poisson arrivals at
//! `F × RPM` per minute (60 per minute when the lane has no requests limit), each charging one
//! request and `F × limit ÷ rate` of every token limit. The provider charges each arrival
//! whether it fits or not (the other consumer's traffic is not ours to refuse), so over a run
//! the clients keep `1 − F` of every limit on average. The draws come from a generator seeded
//! from the run's seed, so every strategy meets the same foreign traffic.

use headroom::LimitKind;
use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};

use crate::workload::{Limits, exponential_gap_us};

/// An outside consumer's share of the key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ForeignLoad {
    /// The fraction of every limit it uses, in thousandths.
    pub permille: u16,
    /// When it starts, µs of simulation time.
    pub start_us: u64,
}

impl ForeignLoad {
    /// Arrivals per minute on a lane with `limits`.
    fn per_minute(self, limits: &Limits) -> u64 {
        match limits.get(LimitKind::Requests) {
            Some(rpm) => (rpm * u64::from(self.permille) / 1000).max(1),
            None => 60,
        }
    }

    /// What one arrival charges on a lane with `limits`, by [`LimitKind::index`].
    ///
    /// # Examples
    ///
    /// ```
    /// use headroom::LimitKind;
    /// use headroom_sim::upstream::ForeignLoad;
    /// use headroom_sim::workload::Limits;
    ///
    /// let limits = Limits::default().with(LimitKind::Requests, 50).with(LimitKind::InputTokens, 30_000);
    /// let load = ForeignLoad { permille: 400, start_us: 0 };
    /// // 20 arrivals a minute, 600 input tokens each: 40 % of both limits.
    /// assert_eq!(load.charges(&limits), [1, 600, 0, 0]);
    /// ```
    pub fn charges(self, limits: &Limits) -> [u64; 4] {
        let rate = self.per_minute(limits);
        LimitKind::ALL.map(|kind| match (kind, limits.get(kind)) {
            (_, None) => 0,
            (LimitKind::Requests, Some(_)) => 1,
            (_, Some(limit)) => {
                let share = u128::from(limit) * u128::from(self.permille);
                u64::try_from((share / 1000 / u128::from(rate)).max(1)).unwrap_or(u64::MAX)
            }
        })
    }
}

/// The most arrivals of the outside consumer a run is allowed to expect: each is simulated
/// (≈ 10 million a second for one strategy), and a trace spanning centuries of simulated time, or
/// a request generating output for as long, would otherwise keep a run busy for hours. 10^8 is
/// about ten seconds a strategy, and 9½ years of a 50 RPM key's 40 % share.
pub const MAX_FOREIGN_ARRIVALS: u64 = 100_000_000;

impl ForeignLoad {
    /// The arrivals expected on a lane with `limits` over `span_us` µs of simulation time,
    /// rounded up.
    ///
    /// # Examples
    ///
    /// ```
    /// use headroom::LimitKind;
    /// use headroom_sim::upstream::ForeignLoad;
    /// use headroom_sim::workload::Limits;
    ///
    /// let limits = Limits::default().with(LimitKind::Requests, 50);
    /// let load = ForeignLoad { permille: 400, start_us: 0 };
    /// // 20 a minute, for an hour.
    /// assert_eq!(load.arrivals_over(&limits, 3_600_000_000), 1_200);
    /// ```
    pub fn arrivals_over(self, limits: &Limits, span_us: u64) -> u64 {
        let arrivals = u128::from(self.per_minute(limits)) * u128::from(span_us);
        u64::try_from(arrivals.div_ceil(60_000_000)).unwrap_or(u64::MAX)
    }
}

/// The next arrival of the foreign stream on each lane.
#[derive(Debug, Clone)]
pub(crate) struct ForeignStream {
    load: ForeignLoad,
    rng: Xoshiro256PlusPlus,
    next_us: Vec<u64>,
}

impl ForeignStream {
    /// A stream over `lanes` lanes whose first arrivals follow `load.start_us`.
    pub(crate) fn new(load: ForeignLoad, seed: u64, limits: &[Limits]) -> Self {
        let mut stream = Self {
            load,
            rng: Xoshiro256PlusPlus::seed_from_u64(seed ^ 0xf0e1_d2c3_b4a5_9687),
            next_us: Vec::with_capacity(limits.len()),
        };
        for lane in limits {
            let gap = stream.gap(lane);
            stream.next_us.push(load.start_us.saturating_add(gap));
        }
        stream
    }

    fn gap(&mut self, limits: &Limits) -> u64 {
        let u = self.rng.random_range(1..=1u64 << 20);
        exponential_gap_us(u, self.load.per_minute(limits))
    }

    /// The earliest pending arrival: (time, lane).
    pub(crate) fn peek(&self) -> Option<(u64, usize)> {
        self.next_us
            .iter()
            .enumerate()
            .map(|(lane, &t)| (t, lane))
            .min()
    }

    /// Consumes the arrival of `lane` and returns what it charges.
    pub(crate) fn pop(&mut self, lane: usize, limits: &Limits) -> [u64; 4] {
        let gap = self.gap(limits);
        if let Some(next) = self.next_us.get_mut(lane) {
            *next = next.saturating_add(gap.max(1));
        }
        self.load.charges(limits)
    }
}
