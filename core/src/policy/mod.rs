//! The engine: lanes of buckets, a table of in-flight permits, and the one life cycle
//! `acquire → complete` (or `cancel` for work abandoned before it was sent).
//!
//! A [`Policy`] is a plain struct with `&mut self` methods and a size fixed at compile time by
//! two const generics: how many lanes and how many requests may be in flight. It never reads a
//! clock, allocates or panics; the caller passes `now` and acts on the answer:
//!
//! * [`Acquire::Admit`]: send the request, keep the [`Permit`];
//! * [`Acquire::Wait`]: come back at `until` (every bucket fits this cost then);
//! * [`Acquire::Reject`]: this can never be admitted as asked.
//!
//! When the response arrives, [`Policy::complete`] settles the permit, syncs the lane from the
//! headers and answers with an [`Outcome`](crate::classify::Outcome): done, retry (a [`Retry`] that
//! [`Policy::acquire_retry`] takes back as it is) or give up. Everything a policy can do is in
//! this folder: admission here, the permit table in `permit.rs`, the end of the cycle in
//! `complete.rs`.

mod clock;
mod complete;
mod permit;

use core::num::NonZeroU32;

use crate::backoff::{Attempt, Backoff, RetryBudget};

use crate::cost::{Charges, Cost, Usage};
use crate::headers::Snapshot;
use crate::lane::{Lane, LaneConfig, LaneRefusal, Priority};
use crate::lane::{Order, window_bit};
use clock::{EngineClock, Tick};

use crate::time::{Duration, Instant};
use crate::{Limit, LimitKind};
pub use complete::{Response, Retry};
use permit::{Intent, Permits, Reservation};
pub use permit::{LaneId, Permit, PermitError};

/// The answer to [`Policy::acquire`].
#[must_use = "an admitted permit must be completed or cancelled"]
#[derive(Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Acquire {
    /// Send now; the permit holds the reservation.
    Admit(Permit),
    /// Not yet: every bucket of the lane fits this cost at `until`.
    Wait {
        /// The earliest instant at which the same request is admitted.
        until: Instant,
        /// The kind of limit that waits longest.
        kind: LimitKind,
    },
    /// Never as asked.
    Reject(Rejection),
}

/// Why a request can never be admitted as asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Rejection {
    /// The cost is above the burst of this limit: split the request or raise the burst.
    CostTooLarge {
        /// The kind of limit whose burst is too small.
        kind: LimitKind,
    },
    /// The lane does not exist in this policy.
    UnknownLane,
    /// Every permit slot is in use: settle or cancel some first.
    PermitsFull,
    /// The earliest admission would be at or after the attempt's deadline.
    DeadlineExceeded,
}

impl core::fmt::Display for Rejection {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::CostTooLarge { kind } => write!(f, "cost above the {kind} burst"),
            Self::UnknownLane => f.write_str("unknown lane"),
            Self::PermitsFull => f.write_str("permit table full"),
            Self::DeadlineExceeded => f.write_str("deadline would be crossed"),
        }
    }
}

impl core::error::Error for Rejection {}

use crate::cost::UsedTokens::{self, Measured, Refused};

/// One bucket's state, for monitoring.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct BucketStatus {
    /// The lane.
    pub lane: LaneId,
    /// The bucket's kind.
    pub kind: LimitKind,
    /// The configured or learned rate.
    pub limit: Limit,
    /// The burst in units.
    pub burst: u32,
    /// Units that could be admitted now.
    pub available: u64,
    /// Time until the bucket is full.
    pub time_to_full: Duration,
    /// What the provider's window holds for us now, as the last response corrected it (units;
    /// `available` is the smaller of this and the local pace). `None` before any limit of this
    /// kind is known.
    pub window_available: Option<u64>,
    /// Units per window that other clients of the same key are estimated to spend, learned from
    /// successive responses (0 when alone on the key).
    pub others_per_window: u32,
}

/// The rate-limit policy engine.
///
/// `LANES` is how many limit scopes (model classes, deployments) it tracks and `PERMITS` how
/// many requests may be in flight at once; both are checked at compile time (at most 256 lanes
/// and 65 535 permits). [`DefaultPolicy`] is the usual size.
///
/// # Examples
///
/// ```
/// use headroom::{Acquire, Cost, LaneConfig, Limit, LimitKind, Policy, Priority, nz, time::Instant};
///
/// let mut policy: Policy<2, 16> = Policy::new();
/// let sonnet = policy
///     .add_lane(LaneConfig::new().requests(Limit::per_minute(nz!(50))).input_tokens(Limit::per_minute(nz!(30_000))))
///     .unwrap();
///
/// let t0 = Instant::from_ticks(0);
/// let Acquire::Admit(permit) = policy.acquire(t0, sonnet, Cost::request(1_200, 1_024), Priority::Interactive) else {
///     unreachable!()
/// };
/// // 50 RPM is paced at one request every 1.2 s.
/// let second = policy.acquire(t0, sonnet, Cost::request(1_200, 1_024), Priority::Interactive);
/// assert_eq!(second, Acquire::Wait { until: Instant::from_ticks(1_200_000), kind: LimitKind::Requests });
/// # policy.cancel(t0, permit).unwrap();
/// ```
#[derive(Debug, Clone)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Policy<const LANES: usize, const PERMITS: usize> {
    pub(crate) lanes: heapless::Vec<Lane, LANES>,
    pub(crate) permits: Permits<PERMITS>,
    pub(crate) backoff: Backoff,
    pub(crate) budget: RetryBudget,
    /// The longest a request takes to reach the provider, in µs (see the `sync` module).
    pub(crate) transit_allowance: u64,
    /// The engine's own time, with wild clock steps taken out (see the `clock` module).
    pub(crate) clock: EngineClock,
}

/// The usual size of a [`Policy`]: four lanes (model classes or deployments), 32 requests in
/// flight: 6 352 bytes on a 64-bit host.
///
/// # Examples
///
/// ```
/// use headroom::{DefaultPolicy, LaneConfig};
///
/// let mut policy = DefaultPolicy::new();
/// assert!(policy.add_lane(LaneConfig::new()).is_ok());
/// ```
pub type DefaultPolicy = Policy<4, 32>;

impl<const LANES: usize, const PERMITS: usize> Default for Policy<LANES, PERMITS> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const LANES: usize, const PERMITS: usize> Policy<LANES, PERMITS> {
    const CAPACITY_FITS: () = assert!(
        LANES <= 256 && PERMITS <= 65_535,
        "a policy holds at most 256 lanes and 65 535 permits"
    );

    /// An empty policy: no lanes, no permits, headroom's default retry schedule
    /// ([`Backoff::new`] with a 1 s base and a 60 s cap) and retry budget
    /// ([`RetryBudget::token_ratio`] with 100 tokens and a ratio of 0.1).
    pub const fn new() -> Self {
        let () = Self::CAPACITY_FITS;
        Self {
            lanes: heapless::Vec::new(),
            permits: Permits::new(),
            backoff: Backoff::new(crate::time::secs(1), crate::time::secs(60)),
            budget: RetryBudget::token_ratio(100, 100),
            transit_allowance: Self::DEFAULT_TRANSIT_ALLOWANCE.as_ticks(),
            clock: EngineClock::new(),
        }
    }

    /// The default [`Policy::with_transit_allowance`]: 500 ms.
    pub const DEFAULT_TRANSIT_ALLOWANCE: Duration = crate::time::millis(500);

    /// The same policy with another transit allowance: the longest a request is expected to
    /// take to reach the provider. When a response's headers arrive, our permits admitted more
    /// than this long before are taken as already counted in the server's `remaining`; later
    /// ones (and any admitted after the responding request) are subtracted as unseen. Longer is
    /// safer and slower; shorter risks counting a request the server has not seen yet.
    ///
    /// # Examples
    ///
    /// ```
    /// use headroom::{Policy, time};
    ///
    /// let policy: Policy<1, 8> = Policy::new().with_transit_allowance(time::secs(2));
    /// assert_eq!(policy.transit_allowance(), time::secs(2));
    /// ```
    pub const fn with_transit_allowance(mut self, allowance: Duration) -> Self {
        self.transit_allowance = allowance.as_ticks();
        self
    }

    /// The transit allowance.
    pub const fn transit_allowance(&self) -> Duration {
        Duration::from_ticks(self.transit_allowance)
    }

    /// The default [`Policy::with_max_clock_step`]: 10 minutes.
    pub const DEFAULT_MAX_CLOCK_STEP: Duration = EngineClock::DEFAULT_MAX_STEP;

    /// The same policy with another bound on clock steps: a forward step of the caller's clock
    /// longer than this (and longer than the time until every bucket is full) counts as only
    /// this long. Such a jump refills everything, but charges taken after it do not sit in a
    /// future that a later correction of the clock would leave them stranded in. A step
    /// backwards counts as no time at all. The bound never shortens a `Wait`: coming back at
    /// the named instant always finds the request admitted.
    ///
    /// # Examples
    ///
    /// ```
    /// use headroom::{Policy, time};
    ///
    /// let policy: Policy<1, 8> = Policy::new().with_max_clock_step(time::secs(120));
    /// assert_eq!(policy.max_clock_step(), time::secs(120));
    /// ```
    pub const fn with_max_clock_step(mut self, bound: Duration) -> Self {
        self.clock = self.clock.with_max_step(bound);
        self
    }

    /// The clock step bound.
    pub const fn max_clock_step(&self) -> Duration {
        self.clock.max_step()
    }

    /// Moves the engine's clock to the caller's `now`: the engine time to decide at.
    fn tick(&mut self, now: Instant) -> u64 {
        let lanes = &self.lanes;
        self.clock.advance(now, || busy_until(lanes))
    }

    /// The engine time `now` maps to, without moving the clock.
    fn peek(&self, now: Instant) -> u64 {
        self.clock.peek(now, || busy_until(&self.lanes))
    }

    /// Where the engine's clock would move for the caller's `now`, without moving it.
    #[inline]
    fn tick_for(&self, now: Instant) -> Tick {
        self.clock.tick_for(now, || busy_until(&self.lanes))
    }

    /// The default [`Policy::with_permit_ttl`]: 10 minutes.
    pub const DEFAULT_PERMIT_TTL: Duration =
        crate::time::millis(Permits::<0>::DEFAULT_TTL_MS as u64);

    /// The same policy with another time-to-live for unsettled permits: a permit neither
    /// completed, settled nor cancelled this long after its admission is reclaimed by the next
    /// acquire that finds the permit table full and is admitted, and what it charged stays
    /// charged (see [`Permit`]). Rounded up to a millisecond; about 49 days (`u32::MAX` ms) or
    /// more, [`Duration::MAX`] included, never expires.
    ///
    /// # Examples
    ///
    /// ```
    /// use headroom::{Policy, time};
    ///
    /// let policy: Policy<1, 8> = Policy::new().with_permit_ttl(time::secs(90));
    /// assert_eq!(policy.permit_ttl(), time::secs(90));
    /// assert_eq!(Policy::<1, 8>::new().permit_ttl(), Policy::<1, 8>::DEFAULT_PERMIT_TTL);
    /// let never: Policy<1, 8> = Policy::new().with_permit_ttl(time::Duration::MAX);
    /// assert_eq!(never.permit_ttl(), time::Duration::MAX);
    /// ```
    pub const fn with_permit_ttl(mut self, ttl: Duration) -> Self {
        self.permits.set_ttl_us(ttl.as_ticks());
        self
    }

    /// The time-to-live of an unsettled permit.
    pub const fn permit_ttl(&self) -> Duration {
        Duration::from_ticks(self.permits.ttl_us())
    }

    /// The permit table is full: whether the request may go on to be decided. Only with a
    /// permit older than the time-to-live in the table; the expired ones are reclaimed (their
    /// charges stay) only when the request will be admitted, so that a refusal (a wait, a cost
    /// too large, an unknown lane) leaves them in place and changes nothing at all. The lane
    /// is asked at the engine time the decision is taken at, as the decision asks it.
    #[cold]
    fn make_room(&mut self, now: Instant, lane: LaneId, cost: &Cost, priority: Priority) -> bool {
        let now = self.tick_for(now).engine;
        if !self.permits.has_expired(now) {
            return false;
        }
        let admits = self
            .lanes
            .get(lane.index())
            .is_some_and(|state| state.probe(now, &state.upfront(cost), priority).is_ok());
        if admits {
            self.permits.reclaim_expired(now);
        }
        true
    }

    /// The same policy with a tag of the caller's choosing, stamped into every permit it
    /// issues: a permit carrying another tag is refused with [`PermitError::Unknown`] and changes
    /// nothing. Without one, a tag is derived at the first admission (see [`Permit`]'s module
    /// docs for what that guarantees); set distinct tags when several policies must never accept
    /// each other's permits whatever happens. Permits issued before the change are refused.
    ///
    /// # Examples
    ///
    /// ```
    /// use headroom::{DefaultPolicy, nz};
    ///
    /// let policy = DefaultPolicy::new().with_tag(nz!(7));
    /// assert_eq!(policy.tag().map(|tag| tag.get()), Some(7));
    /// assert_eq!(DefaultPolicy::new().tag(), None);
    /// ```
    pub const fn with_tag(mut self, tag: NonZeroU32) -> Self {
        self.permits.set_tag(tag);
        self
    }

    /// The tag stamped into this policy's permits: the one set with [`Policy::with_tag`] or the
    /// one derived at the first admission; `None` before either.
    pub const fn tag(&self) -> Option<NonZeroU32> {
        self.permits.tag()
    }

    /// The same policy with another retry schedule and budget (one budget per policy: use one
    /// policy per upstream provider).
    ///
    /// # Examples
    ///
    /// ```
    /// use headroom::Policy;
    /// use headroom::backoff::{Backoff, RetryBudget};
    ///
    /// let policy: Policy<1, 8> = Policy::new().with_retry(Backoff::anthropic_python(), RetryBudget::aws_standard());
    /// assert_eq!(policy.retry_budget().max(), RetryBudget::aws_standard().max());
    /// ```
    pub const fn with_retry(mut self, backoff: Backoff, budget: RetryBudget) -> Self {
        self.backoff = backoff;
        self.budget = budget;
        self
    }

    /// The retry schedule.
    pub const fn backoff(&self) -> &Backoff {
        &self.backoff
    }

    /// The retry budget, for monitoring: its `level()` against its `max()`.
    pub const fn retry_budget(&self) -> &RetryBudget {
        &self.budget
    }

    /// Adds a lane.
    ///
    /// # Errors
    ///
    /// Hands the configuration back when all `LANES` lanes are in use.
    pub fn add_lane(&mut self, config: LaneConfig) -> Result<LaneId, LaneConfig> {
        let id = u8::try_from(self.lanes.len()).map_err(|_| config)?;
        self.lanes.push(Lane::new(&config)).map_err(|_| config)?;
        Ok(LaneId(id))
    }

    /// How many lanes exist.
    pub fn lanes(&self) -> usize {
        self.lanes.len()
    }

    /// How many permits are in flight.
    pub fn in_flight(&self) -> usize {
        self.permits.len()
    }

    /// Sets, changes or (with `None`) removes one limit of a lane at `now`. A changed rate keeps
    /// the bucket's used fraction; a new bucket starts full.
    ///
    /// # Errors
    ///
    /// [`Rejection::UnknownLane`] if the lane does not exist.
    pub fn set_limit(
        &mut self,
        now: Instant,
        lane: LaneId,
        kind: LimitKind,
        limit: Option<Limit>,
    ) -> Result<(), Rejection> {
        let now = Instant::from_ticks(self.tick(now));
        let lane = self.lane_mut(lane)?;
        match (lane.bucket_mut(kind), limit) {
            (Some(bucket), Some(limit)) => bucket.set_limit(now, kind, limit),
            (None, Some(limit)) => lane.set_pace(kind, Some(crate::Bucket::new(kind, limit))),
            (_, None) => lane.set_pace(kind, None),
        }
        Ok(())
    }

    /// Changes how `lane` turns costs and usage into charges from now on. Permits already
    /// admitted keep what they were charged and settle against it.
    ///
    /// For a caller that learns how its provider counts only once a lane is in use (a gateway
    /// that sees which API a lane's requests speak).
    ///
    /// # Errors
    ///
    /// [`Rejection::UnknownLane`] if the lane does not exist.
    ///
    /// # Examples
    ///
    /// ```
    /// use headroom::{Cost, CostModel, DefaultPolicy, LaneConfig};
    ///
    /// let mut policy = DefaultPolicy::new();
    /// let lane = policy.add_lane(LaneConfig::new()).unwrap();
    /// let cost = Cost::request(100, 4_096);
    /// assert_eq!(policy.output_charge(lane, &cost), Some(4_096));
    /// policy.set_cost_model(lane, CostModel::ANTHROPIC_CURRENT).unwrap();
    /// assert_eq!(policy.output_charge(lane, &cost), Some(0));
    /// ```
    pub fn set_cost_model(
        &mut self,
        lane: LaneId,
        model: crate::CostModel,
    ) -> Result<(), Rejection> {
        self.lane_mut(lane)?.cost_model = model;
        Ok(())
    }

    /// Asks to send a request of `cost` on `lane` at `now`.
    ///
    /// Every bucket of the lane is checked; either all are charged (the request is admitted) or
    /// none is. A background request is admitted only while each bucket keeps the lane's
    /// reserve (unless the request is larger than what the reserve leaves, in which case it
    /// waits for a full bucket).
    ///
    /// # Examples
    ///
    /// ```
    /// use headroom::{Acquire, Cost, DefaultPolicy, LaneConfig, Limit, LimitKind, Priority, nz, time::Instant};
    ///
    /// let mut policy = DefaultPolicy::new();
    /// let lane = policy.add_lane(LaneConfig::new().requests(Limit::per_minute(nz!(60)))).unwrap();
    /// let t0 = Instant::from_ticks(0);
    /// assert!(matches!(policy.acquire(t0, lane, Cost::request(10, 10), Priority::Interactive), Acquire::Admit(_)));
    /// assert_eq!(
    ///     policy.acquire(t0, lane, Cost::request(10, 10), Priority::Interactive),
    ///     Acquire::Wait { until: Instant::from_ticks(1_000_000), kind: LimitKind::Requests }
    /// );
    /// ```
    pub fn acquire(
        &mut self,
        now: Instant,
        lane: LaneId,
        cost: Cost,
        priority: Priority,
    ) -> Acquire {
        self.acquire_attempt(now, lane, cost, priority, Attempt::first())
    }

    /// [`Policy::acquire`] for a given attempt: a first attempt with a deadline, or a retry
    /// resumed by hand (a [`Retry`] from [`Policy::complete`] is simpler to pass to
    /// [`Policy::acquire_retry`]). A wait that would end at or after the deadline is a
    /// [`Rejection::DeadlineExceeded`] instead.
    ///
    /// # Examples
    ///
    /// ```
    /// use headroom::{Acquire, Attempt, Cost, LaneConfig, Limit, Policy, Priority, Rejection, nz, time::Instant};
    ///
    /// let mut policy: Policy<1, 4> = Policy::new();
    /// let lane = policy.add_lane(LaneConfig::new().requests(Limit::per_minute(nz!(6)))).unwrap();
    /// let t0 = Instant::from_ticks(0);
    /// let _first = policy.acquire(t0, lane, Cost::request(1, 1), Priority::Interactive);
    /// // The next slot is 10 s away; this caller only has 5 s.
    /// let hurried = Attempt::first().with_deadline(Instant::from_ticks(5_000_000));
    /// assert_eq!(
    ///     policy.acquire_attempt(t0, lane, Cost::request(1, 1), Priority::Interactive, hurried),
    ///     Acquire::Reject(Rejection::DeadlineExceeded)
    /// );
    /// ```
    pub fn acquire_attempt(
        &mut self,
        now: Instant,
        lane: LaneId,
        cost: Cost,
        priority: Priority,
        attempt: Attempt,
    ) -> Acquire {
        if self.permits.is_full() && !self.make_room(now, lane, &cost, priority) {
            return Acquire::Reject(Rejection::PermitsFull);
        }
        // Decided at the engine time `now` maps to; the clock itself moves only once something
        // is admitted, so a refusal changes nothing at all.
        let tick = self.tick_for(now);
        let now = tick.engine;
        let Some(state) = self.lanes.get_mut(lane.index()) else {
            return Acquire::Reject(Rejection::UnknownLane);
        };
        let charges = state.upfront(&cost);
        let ends = match state.try_admit(now, &charges, priority) {
            Ok(ends) => ends,
            Err(LaneRefusal::Wait { until, kind }) => {
                let until = tick.to_caller(until);
                self.clock.note_refusal(tick);
                if attempt.deadline().is_some_and(|deadline| until >= deadline) {
                    return Acquire::Reject(Rejection::DeadlineExceeded);
                }
                return Acquire::Wait { until, kind };
            }
            Err(LaneRefusal::TooLarge { kind }) => {
                return Acquire::Reject(Rejection::CostTooLarge { kind });
            }
        };
        let mask = state.mask();
        // Admitted: now the clock moves, to the very instant the decision was taken at.
        self.clock.move_to(tick);
        let intent = Intent::new(&cost, attempt);
        match self.permits.insert(
            lane,
            mask,
            now,
            &charges,
            &ends,
            &state.refund_base,
            priority,
            intent,
        ) {
            Some(permit) => Acquire::Admit(permit),
            None => {
                // Unreachable: fullness was checked above (and room made for an admission).
                // Undo the charge all the same, with the charges worked out again (admitting
                // changes nothing `upfront` reads) and the ends copied here: keeping or lending
                // the originals would keep them in memory on the hot path (2 instructions of an
                // admission, 1 of a wait, by callgrind).
                if let Some(state) = self.lanes.get_mut(lane.index()) {
                    let (charges, ends) = (state.upfront(&cost), ends.map(|end| end));
                    state.reconcile(now, mask, &charges, &Default::default(), now, &ends, true);
                }
                Acquire::Reject(Rejection::PermitsFull)
            }
        }
    }

    /// Acquires again for a request that [`Policy::complete`] said to retry: the same lane,
    /// cost and priority, with the attempt carried forward (its retry count and deadline).
    /// Call it at [`Retry::at`] or later; earlier, the buckets answer as for any request.
    ///
    /// # Examples
    ///
    /// ```
    /// use headroom::backoff::FixedDraw;
    /// use headroom::{Acquire, Cost, DefaultPolicy, LaneConfig, Outcome, Priority, Response, headers, time::Instant};
    ///
    /// let mut policy = DefaultPolicy::new();
    /// // No limits and no provisional pace: only the retry schedule applies.
    /// let lane = policy.add_lane(LaneConfig::new().provisional_requests(None)).unwrap();
    /// let t0 = Instant::from_ticks(0);
    /// let Acquire::Admit(permit) = policy.acquire(t0, lane, Cost::request(100, 100), Priority::Interactive) else {
    ///     unreachable!()
    /// };
    /// let overloaded = headers::parse(Some(529), [("x-should-retry", "true")]);
    /// let rng = &mut FixedDraw(0); // tests only: real traffic takes a real RNG
    /// let Outcome::Retry(retry) = policy.complete(t0, permit, &Response::new(&overloaded), rng).unwrap() else {
    ///     unreachable!()
    /// };
    /// let Acquire::Admit(again) = policy.acquire_retry(retry.at(), &retry) else { unreachable!() };
    /// assert_eq!(again.lane(), lane);
    /// # policy.cancel(retry.at(), again).unwrap();
    /// ```
    pub fn acquire_retry(&mut self, now: Instant, retry: &Retry) -> Acquire {
        self.acquire_attempt(
            now,
            retry.lane(),
            retry.cost(),
            retry.priority(),
            retry.attempt(),
        )
    }

    /// Lower level: settles an admitted request against what it really used, without headers
    /// or a retry decision ([`Policy::complete`] does all three). For callers that handle
    /// responses and retries themselves.
    ///
    /// With `Some(usage)`, each bucket the permit charged is moved from the estimate to the
    /// actual amount: the over-charge is refunded, the under-charge debited (the bucket may go
    /// into debt, as the provider's does). With `None` (usage unknown, e.g. a failed response
    /// without a body), the estimate stands.
    ///
    /// # Errors
    ///
    /// [`PermitError::Unknown`] if the permit is not from this policy.
    ///
    /// # Examples
    ///
    /// ```
    /// use headroom::{Acquire, Cost, DefaultPolicy, LaneConfig, Usage, Priority, time::Instant};
    ///
    /// let mut policy = DefaultPolicy::new();
    /// let lane = policy.add_lane(LaneConfig::new()).unwrap();
    /// let t0 = Instant::from_ticks(0);
    /// let Acquire::Admit(permit) = policy.acquire(t0, lane, Cost::request(100, 100), Priority::Interactive) else {
    ///     unreachable!()
    /// };
    /// let usage = Usage { input_tokens: 90, output_tokens: 20, ..Usage::default() };
    /// policy.settle(t0, permit, Some(usage)).unwrap();
    /// assert_eq!(policy.in_flight(), 0);
    /// ```
    pub fn settle(
        &mut self,
        now: Instant,
        permit: Permit,
        usage: Option<Usage>,
    ) -> Result<(), PermitError> {
        self.settle_inner(now, permit, usage, None)
    }

    /// Lower level: settles like [`Policy::settle`], then folds the response's header
    /// [`Snapshot`] into the lane, without a retry decision ([`Policy::complete`] does that
    /// too): limits are learned or rescaled, and each bucket's level follows the server's
    /// `remaining`, less what our other in-flight requests may have charged without the server
    /// having seen it yet. The rules are in the `sync` module's docs.
    ///
    /// # Errors
    ///
    /// [`PermitError::Unknown`] if the permit is not from this policy.
    ///
    /// # Examples
    ///
    /// ```
    /// use headroom::{Acquire, Cost, LaneConfig, LimitKind, Policy, Priority, headers, time::Instant};
    ///
    /// // No limits configured: the lane learns them from the first response.
    /// let mut policy: Policy<1, 8> = Policy::new();
    /// let lane = policy.add_lane(LaneConfig::new()).unwrap();
    /// let t0 = Instant::from_ticks(0);
    /// let Acquire::Admit(permit) = policy.acquire(t0, lane, Cost::request(100, 100), Priority::Interactive) else {
    ///     unreachable!()
    /// };
    /// let mut snapshot = headers::Snapshot::default();
    /// snapshot.quotas[headers::Scope::Requests.index()] =
    ///     Some(headers::Quota { limit: Some(1_000), remaining: Some(999), ..headers::Quota::default() });
    /// policy.settle_with(t0, permit, None, &snapshot).unwrap();
    /// assert_eq!(policy.bucket(lane, LimitKind::Requests).unwrap().limit().amount(), 1_000);
    /// ```
    pub fn settle_with(
        &mut self,
        now: Instant,
        permit: Permit,
        usage: Option<Usage>,
        snapshot: &Snapshot,
    ) -> Result<(), PermitError> {
        self.settle_inner(now, permit, usage, Some(snapshot))
    }

    /// Lower level: folds a header [`Snapshot`] that came without a permit (another client's
    /// response, a token-counting call) into `lane`. Every in-flight permit of the lane is
    /// taken as unseen by the server. A response to one of this policy's own permits goes
    /// through [`Policy::complete`] instead.
    ///
    /// # Errors
    ///
    /// [`Rejection::UnknownLane`] if the lane does not exist.
    ///
    /// # Examples
    ///
    /// ```
    /// use headroom::{DefaultPolicy, LaneConfig, LimitKind, headers, time::Instant};
    ///
    /// let mut policy = DefaultPolicy::new();
    /// let lane = policy.add_lane(LaneConfig::new()).unwrap();
    /// let other = headers::parse(Some(200), [
    ///     ("anthropic-ratelimit-requests-limit", "50"),
    ///     ("anthropic-ratelimit-requests-remaining", "40"),
    /// ]);
    /// policy.observe(Instant::from_ticks(0), lane, &other).unwrap();
    /// assert_eq!(policy.bucket(lane, LimitKind::Requests).unwrap().limit().amount(), 50);
    /// ```
    pub fn observe(
        &mut self,
        now: Instant,
        lane: LaneId,
        snapshot: &Snapshot,
    ) -> Result<(), Rejection> {
        self.lane_mut(lane)?;
        let now = self.tick(now);
        let unseen = self.unseen(lane, now);
        let horizon = self.transit_allowance;
        let state = self.lane_mut(lane)?;
        state.observe(now, snapshot, Order::Unordered, &unseen, horizon);
        self.charge_unseen(lane, snapshot, now);
        Ok(())
    }

    fn settle_inner(
        &mut self,
        now: Instant,
        permit: Permit,
        usage: Option<Usage>,
        snapshot: Option<&Snapshot>,
    ) -> Result<(), PermitError> {
        let (reservation, intent) = self.permits.remove(&permit)?;
        let now = self.tick(now);
        let response = Applied {
            headers_at: now,
            usage: usage.map(Measured),
            snapshot,
            refused_on: None,
            estimate: intent.input_tokens(),
        };
        self.apply_response(now, &reservation, &response)
    }

    /// Reconciles `reservation` to the response's usage and folds its snapshot in (the permit
    /// is already out of the table). Times are the engine's.
    pub(crate) fn apply_response(
        &mut self,
        now: u64,
        reservation: &Reservation,
        response: &Applied<'_>,
    ) -> Result<(), PermitError> {
        let lane_id = LaneId(reservation.lane);
        let unseen = match response.snapshot {
            Some(_) => self.unseen(lane_id, response.headers_at),
            None => Charges::default(),
        };
        let horizon = self.transit_allowance;
        let lane = self
            .lanes
            .get_mut(usize::from(reservation.lane))
            .ok_or(PermitError::Unknown)?;
        let charged = reservation.charges();
        if let Some(usage) = response.usage {
            let (usage, measured) = match usage {
                Measured(usage) => (usage, true),
                Refused => (Usage::default(), false),
            };
            let actual = lane
                .cost_model
                .actual(charged.get(LimitKind::Requests), &usage);
            let shifts = lane.reconcile(
                now,
                reservation.mask,
                &charged,
                &actual,
                reservation.issued_at(),
                &reservation.ends(&lane.refund_base),
                !measured,
            );
            if shifts != [0; 4] {
                self.permits.shift_ends_after(
                    reservation.lane,
                    reservation,
                    &shifts,
                    &mut lane.refund_base,
                );
            }
            if measured {
                lane.learn_output(usage.output_tokens);
                lane.calibrate_input(response.estimate, actual.get(LimitKind::InputTokens));
            }
        }
        if let Some(kind) = response.refused_on {
            lane.refused(now, kind, charged.get(kind));
        }
        let Some(snapshot) = response.snapshot else {
            return Ok(());
        };
        lane.observe(
            now,
            snapshot,
            Order::Admitted(reservation.id),
            &unseen,
            horizon,
        );
        self.charge_unseen(lane_id, snapshot, response.headers_at);
        Ok(())
    }

    /// A correction from `snapshot` (headers received at `headers_at`) took the unseen permits'
    /// charges from each window it corrected: from now on they count as charged there, so
    /// settling or cancelling them gives back exactly that, whichever windows existed when
    /// they were admitted.
    fn charge_unseen(&mut self, lane: LaneId, snapshot: &Snapshot, headers_at: u64) {
        let Some(state) = self.lanes.get(lane.index()) else {
            return;
        };
        let present = state.mask();
        let corrected = LimitKind::ALL
            .into_iter()
            .filter(|&kind| {
                present & window_bit(kind) != 0
                    && snapshot
                        .quota_of(kind)
                        .is_some_and(|quota| quota.remaining.is_some())
            })
            .fold(0, |mask, kind| mask | window_bit(kind));
        if corrected == 0 {
            return;
        }
        let cutoff = headers_at.checked_sub(self.transit_allowance);
        self.permits.for_each_since(cutoff, |other| {
            if other.lane == lane.0 {
                other.mask |= corrected;
            }
        });
    }

    /// What the in-flight permits of `lane` that the server may not have counted when it
    /// produced headers received at `headers_at` charged: those admitted less than the transit
    /// allowance before `headers_at`, whatever their order. One admitted longer ago has
    /// reached the provider before the headers were made.
    ///
    /// Admission instants never go backwards, so these are the newest permits: the walk stops
    /// at the first one admitted at or before the cutoff.
    fn unseen(&self, lane: LaneId, headers_at: u64) -> Charges {
        let cutoff = headers_at.checked_sub(self.transit_allowance);
        let mut sum = [0u64; 4];
        let others = self.permits.since(cutoff).filter(|r| r.lane == lane.0);
        for reservation in others {
            for (total, charge) in sum.iter_mut().zip(reservation.charges().0) {
                *total = total.saturating_add(charge);
            }
        }
        Charges(sum)
    }

    /// Gives back everything a permit charged: the request was never sent (abandoned before
    /// sending, or its future was dropped). A request that was sent is completed instead, even
    /// when it failed: the server may have counted it.
    ///
    /// # Errors
    ///
    /// [`PermitError::Unknown`] if the permit is not from this policy.
    ///
    /// # Examples
    ///
    /// ```
    /// use headroom::{Acquire, Cost, DefaultPolicy, LaneConfig, Limit, Priority, nz, time::Instant};
    ///
    /// let mut policy = DefaultPolicy::new();
    /// let lane = policy.add_lane(LaneConfig::new().requests(Limit::per_minute(nz!(1)))).unwrap();
    /// let t0 = Instant::from_ticks(0);
    /// let Acquire::Admit(permit) = policy.acquire(t0, lane, Cost::request(1, 1), Priority::Interactive) else {
    ///     unreachable!()
    /// };
    /// policy.cancel(t0, permit).unwrap();
    /// // The slot is back: the next request is admitted at once.
    /// assert!(matches!(policy.acquire(t0, lane, Cost::request(1, 1), Priority::Interactive), Acquire::Admit(_)));
    /// ```
    pub fn cancel(&mut self, now: Instant, permit: Permit) -> Result<(), PermitError> {
        let (reservation, _) = self.permits.remove(&permit)?;
        let now = self.tick(now);
        let lane = self
            .lanes
            .get_mut(usize::from(reservation.lane))
            .ok_or(PermitError::Unknown)?;
        let shifts = lane.reconcile(
            now,
            reservation.mask,
            &reservation.charges(),
            &Default::default(),
            reservation.issued_at(),
            &reservation.ends(&lane.refund_base),
            true,
        );
        if shifts != [0; 4] {
            self.permits.shift_ends_after(
                reservation.lane,
                &reservation,
                &shifts,
                &mut lane.refund_base,
            );
        }
        Ok(())
    }

    /// The attempt a live permit was admitted for: its retry count (what the SDKs send as
    /// `x-stainless-retry-count`) and deadline. `None` for a permit this policy does not hold.
    ///
    /// # Examples
    ///
    /// ```
    /// use headroom::{Acquire, Attempt, Cost, DefaultPolicy, LaneConfig, Priority, time::Instant};
    ///
    /// let mut policy = DefaultPolicy::new();
    /// let lane = policy.add_lane(LaneConfig::new()).unwrap();
    /// let t0 = Instant::from_ticks(0);
    /// let attempt = Attempt::first().with_deadline(Instant::from_ticks(9_000_000));
    /// let Acquire::Admit(permit) = policy.acquire_attempt(t0, lane, Cost::request(1, 1), Priority::Interactive, attempt) else {
    ///     unreachable!()
    /// };
    /// assert_eq!(policy.attempt(&permit), Some(attempt));
    /// # policy.cancel(t0, permit).unwrap();
    /// ```
    pub fn attempt(&self, permit: &Permit) -> Option<Attempt> {
        self.permits.intent(permit).map(|intent| intent.attempt)
    }

    /// Every bucket's state at `now`, lane by lane, for monitoring.
    ///
    /// # Examples
    ///
    /// ```
    /// use headroom::{LaneConfig, Limit, LimitKind, Policy, nz, time::Instant};
    ///
    /// let mut policy: Policy<1, 4> = Policy::new();
    /// policy.add_lane(LaneConfig::new().requests(Limit::per_minute(nz!(50)))).unwrap();
    /// let status: Vec<_> = policy.status(Instant::from_ticks(0)).collect();
    /// assert_eq!(status.len(), 1);
    /// assert_eq!(status[0].kind, LimitKind::Requests);
    /// assert_eq!(status[0].available, 1);
    /// ```
    ///
    /// A limit learned only from headers, in a lane that keeps its own paces, is reported by
    /// its provider window:
    ///
    /// ```
    /// use headroom::{LaneConfig, Limit, LimitKind, Policy, headers, nz, time::Instant};
    ///
    /// let mut policy: Policy<1, 4> = Policy::new();
    /// let config = LaneConfig::new().requests(Limit::per_minute(nz!(50))).adopt_server_limits(false);
    /// let lane = policy.add_lane(config.shared_key(false)).unwrap();
    /// let t0 = Instant::from_ticks(0);
    /// let snapshot = headers::parse(Some(200), [
    ///     ("anthropic-ratelimit-input-tokens-limit", "30000"),
    ///     ("anthropic-ratelimit-input-tokens-remaining", "12000"),
    /// ]);
    /// policy.observe(t0, lane, &snapshot).unwrap();
    /// let input = policy.status(t0).find(|status| status.kind == LimitKind::InputTokens).unwrap();
    /// assert_eq!((input.limit.amount(), input.window_available), (30_000, Some(input.available)));
    /// assert!(input.available < 30_000);
    /// // It has no pace of its own: `bucket` reports paces only.
    /// assert!(policy.bucket(lane, LimitKind::InputTokens).is_none());
    /// ```
    pub fn status(&self, now: Instant) -> impl Iterator<Item = BucketStatus> + '_ {
        let now = Instant::from_ticks(self.peek(now));
        self.lanes.iter().zip(0u8..).flat_map(move |(lane, id)| {
            LimitKind::ALL.into_iter().filter_map(move |kind| {
                let bucket = meter(lane, kind)?;
                let window = lane.window(kind);
                let window_available = window.map(|window| window.bucket.available(now));
                let available = bucket.available(now);
                Some(BucketStatus {
                    lane: LaneId(id),
                    kind,
                    limit: bucket.limit(),
                    burst: bucket.burst(),
                    available: window_available.map_or(available, |window| window.min(available)),
                    time_to_full: bucket.time_to_full(now),
                    window_available,
                    others_per_window: window.map_or(0, |window| window.foreign()),
                })
            })
        })
    }

    /// The pace of one limit of one lane, for inspection: what guarantee 1 bounds admissions
    /// by. A limit known only from headers in a lane that keeps its own paces has no pace (its
    /// provider window is reported by [`Policy::status`]).
    pub fn bucket(&self, lane: LaneId, kind: LimitKind) -> Option<&crate::Bucket> {
        self.lanes.get(lane.index())?.bucket(kind)
    }

    /// What [`Policy::acquire`] would charge `lane`'s output limits for `cost` now: `max_tokens`
    /// under [`crate::OutputCharge::Reserve`]; under [`crate::OutputCharge::Actual`], the lane's
    /// running estimate of a request's output (a moving average of the outputs it has settled,
    /// 0 before the first), at most `max_tokens`, the output pace's burst and the combined
    /// pace's burst less the request's input (as charged). For a caller that keeps a second account of
    /// the same limits (a store shared by several gateways) and charges it what the engine
    /// charges. `None` for a lane this policy does not have.
    ///
    /// # Examples
    ///
    /// ```
    /// use headroom::{Acquire, CostModel, Cost, LaneConfig, Policy, Priority, Usage, time::Instant};
    ///
    /// let mut policy: Policy<2, 4> = Policy::new();
    /// let reserve = policy.add_lane(LaneConfig::new().with_cost_model(CostModel::ANTHROPIC_LEGACY)).unwrap();
    /// let actual = policy.add_lane(LaneConfig::new().with_cost_model(CostModel::ANTHROPIC_CURRENT)).unwrap();
    /// let (t0, cost) = (Instant::from_ticks(0), Cost::request(100, 4_096));
    /// assert_eq!(policy.output_charge(reserve, &cost), Some(4_096));
    /// assert_eq!(policy.output_charge(actual, &cost), Some(0));
    /// // One request settled with 300 tokens of output: the estimate is that output.
    /// let Acquire::Admit(permit) = policy.acquire(t0, actual, cost, Priority::Interactive) else {
    ///     unreachable!()
    /// };
    /// let usage = Usage { input_tokens: 100, output_tokens: 300, ..Usage::default() };
    /// policy.settle(t0, permit, Some(usage)).unwrap();
    /// assert_eq!(policy.output_charge(actual, &cost), Some(300));
    /// assert_eq!(policy.output_charge(actual, &Cost::request(100, 200)), Some(200));
    /// ```
    pub fn output_charge(&self, lane: LaneId, cost: &Cost) -> Option<u64> {
        let charges = self.lanes.get(lane.index())?.upfront(cost);
        Some(charges.get(LimitKind::OutputTokens))
    }

    pub(crate) fn lane_mut(&mut self, lane: LaneId) -> Result<&mut Lane, Rejection> {
        self.lanes
            .get_mut(lane.index())
            .ok_or(Rejection::UnknownLane)
    }
}

/// What meters `kind` in `lane`, for monitoring: its pace, else (a limit learned from headers
/// in a lane that does not adopt server limits) its provider window.
fn meter(lane: &Lane, kind: LimitKind) -> Option<&crate::Bucket> {
    lane.bucket(kind)
        .or_else(|| lane.window(kind).map(|window| &window.bucket))
}

/// A response as [`Policy::apply_response`] folds it in.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Applied<'a> {
    /// When its headers were received (engine time).
    pub(crate) headers_at: u64,
    /// What it says was used.
    pub(crate) usage: Option<UsedTokens>,
    /// Its headers.
    pub(crate) snapshot: Option<&'a Snapshot>,
    /// The limit a 429 named, if any.
    pub(crate) refused_on: Option<LimitKind>,
    /// The caller's own input estimate for the request (before any calibration).
    pub(crate) estimate: u64,
}

/// The latest instant (engine time) any lane's bucket is busy until: what the engine clock needs
/// when a caller's step is longer than its bound. Inlined into each of the clock's three uses on
/// 64-bit targets, as a closure would be (out of line, `acquire` measured 5 to 19 instructions
/// more); one copy out of line on 32-bit ones, for flash.
#[cfg_attr(target_pointer_width = "64", inline(always))]
#[cfg_attr(not(target_pointer_width = "64"), inline(never))]
fn busy_until(lanes: &[Lane]) -> u64 {
    lanes.iter().map(Lane::horizon).max().unwrap_or(0)
}

#[cfg(test)]
mod tests;
