//! An async front door to the engine: a [`Limiter`] shared by `&self` across tasks.
//!
//! The limiter owns no policy. It is the engine behind a blocking mutex (embassy-sync's, with
//! the [`RawMutex`] of the caller's choice), a first-come-first-served queue of waiters per lane
//! and a [`Guard`] around each admitted permit, as embassy's `Channel` wraps its `ChannelState`.
//! Every decision is the engine's: the limiter only sleeps until the instant the engine named
//! and asks again.
//!
//! * **First come, first served.** Only the head of a lane's line asks the engine and sleeps
//!   until the instant it named; the others wait, without timers, until they are head. A
//!   newcomer never overtakes, and only one waiter wakes at each instant.
//! * **Cancellation-safe.** Dropping an `acquire` future leaves the line (the next waiter is
//!   served); dropping a [`Guard`] hands its permit back: the slot is free, and what it charged
//!   stays charged, since the request may have been sent ([`Guard::cancel`] refunds it all, for
//!   work known never to have been sent).
//! * **A full permit table waits.** Where [`crate::Policy::acquire`] answers
//!   [`Rejection::PermitsFull`], the limiter's head waits until a guard comes back.
//! * **No allocation, no std.** The queue holds `WAITERS` waiters in all (every lane together);
//!   one more is refused with [`AcquireError::QueueFull`].
//!
//! The mutex is held only for an engine call, never across an `.await`. Pick its raw mutex as
//! embassy suggests: `CriticalSectionRawMutex` to share across threads or interrupts (with the
//! `std` feature, critical-section's std implementation makes that a process-wide lock),
//! `NoopRawMutex` within one executor.
//!
//! # Examples
//!
//! Under tokio (features `async` and `tokio`), with tokio's paused clock:
//!
//! ```
//! use headroom::limiter::{CriticalSectionRawMutex, Limiter, TokioTimer};
//! use headroom::{Cost, LaneConfig, Limit, Policy, Priority, Response, headers, nz};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! let limiter: Limiter<CriticalSectionRawMutex, TokioTimer, 1, 8, 16> =
//!     Limiter::new(Policy::new(), TokioTimer::new());
//! let lane = limiter.add_lane(LaneConfig::new().requests(Limit::per_minute(nz!(60)))).unwrap();
//! let rng = &mut rand::rng();
//! for _ in 0..3 {
//!     let guard = limiter.acquire(lane, Cost::request(100, 50), Priority::Interactive).await.unwrap();
//!     // … send the request, then hand back what came back:
//!     let snapshot = headers::parse(Some(200), [("anthropic-ratelimit-requests-remaining", "59")]);
//!     assert!(guard.complete(&Response::new(&snapshot), rng).unwrap().is_done());
//! }
//! // 60 RPM: the third request went out two seconds after the first.
//! assert_eq!(limiter.now().as_ticks(), 2_000_000);
//! # }
//! ```

mod guard;
mod queue;
mod run;
mod timer;

use core::cell::RefCell;
use core::future::poll_fn;
use core::pin::pin;
use core::task::{Poll, Waker};

use embassy_sync::blocking_mutex::Mutex;
/// The mutex kinds, re-exported from embassy-sync so that their version always matches.
pub use embassy_sync::blocking_mutex::raw::{CriticalSectionRawMutex, NoopRawMutex, RawMutex};

use crate::backoff::Attempt;
use crate::cost::Cost;
use crate::lane::{LaneConfig, Priority};
use crate::policy::{Acquire, LaneId, Permit, Policy, Rejection, Retry};
use crate::time::Instant;
pub use guard::Guard;
use queue::Queue;
pub use run::{Reply, RunError};
#[cfg(feature = "embassy-time")]
pub use timer::EmbassyTimer;
pub use timer::Timer;
#[cfg(feature = "tokio")]
pub use timer::TokioTimer;

/// Why an async acquire did not admit.
///
/// # Examples
///
/// ```
/// use headroom::Rejection;
/// use headroom::limiter::AcquireError;
///
/// let why: AcquireError = Rejection::UnknownLane.into();
/// assert_eq!(why.to_string(), "rejected: unknown lane");
/// assert_eq!(AcquireError::QueueFull.to_string(), "wait queue full");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum AcquireError {
    /// The engine can never admit this request as asked (or its deadline came first).
    Rejected(Rejection),
    /// `WAITERS` acquires are already waiting: raise `WAITERS` or shed load.
    QueueFull,
}

impl core::fmt::Display for AcquireError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Rejected(why) => write!(f, "rejected: {why}"),
            Self::QueueFull => f.write_str("wait queue full"),
        }
    }
}

impl core::error::Error for AcquireError {}

impl From<Rejection> for AcquireError {
    fn from(why: Rejection) -> Self {
        Self::Rejected(why)
    }
}

/// The engine and its waiting line, behind the limiter's mutex.
#[derive(Debug)]
struct State<const LANES: usize, const PERMITS: usize, const WAITERS: usize> {
    policy: Policy<LANES, PERMITS>,
    queue: Queue<WAITERS>,
}

/// A [`Policy`] shared by `&self` across tasks, with async acquire (see the module docs).
///
/// `M` is the mutex kind, `T` the [`Timer`]; `LANES` and `PERMITS` are the policy's, `WAITERS`
/// how many acquires may wait at once, all lanes together.
///
/// # Examples
///
/// A limiter in a `static`, as embassy programs keep them (lanes added at start-up):
///
/// ```
/// use headroom::limiter::{CriticalSectionRawMutex, Limiter, TokioTimer};
/// use headroom::{LaneConfig, Policy};
///
/// static LIMITER: std::sync::LazyLock<Limiter<CriticalSectionRawMutex, TokioTimer, 2, 16, 32>> =
///     std::sync::LazyLock::new(|| Limiter::new(Policy::new(), TokioTimer::new()));
/// assert!(LIMITER.add_lane(LaneConfig::new()).is_ok());
/// ```
pub struct Limiter<M: RawMutex, T, const LANES: usize, const PERMITS: usize, const WAITERS: usize> {
    state: Mutex<M, RefCell<State<LANES, PERMITS, WAITERS>>>,
    timer: T,
}

impl<M: RawMutex, T, const L: usize, const P: usize, const W: usize> core::fmt::Debug
    for Limiter<M, T, L, P, W>
{
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        self.state.lock(|state| match state.try_borrow() {
            Ok(state) => f
                .debug_struct("Limiter")
                .field("policy", &state.policy)
                .field("queue", &state.queue)
                .finish(),
            Err(_) => f.write_str("Limiter { <busy> }"),
        })
    }
}

/// What the head of a line does next, decided under the lock.
enum Step {
    Admitted(Permit),
    Refused(AcquireError),
    /// Wait until notified, or until the instant (if any).
    Wait(Option<Instant>),
}

impl<M: RawMutex, T: Timer, const LANES: usize, const PERMITS: usize, const WAITERS: usize>
    Limiter<M, T, LANES, PERMITS, WAITERS>
{
    /// A limiter around `policy`, sleeping with `timer`.
    pub const fn new(policy: Policy<LANES, PERMITS>, timer: T) -> Self {
        Self {
            state: Mutex::new(RefCell::new(State {
                policy,
                queue: Queue::new(),
            })),
            timer,
        }
    }

    /// The timer's current instant.
    pub fn now(&self) -> Instant {
        self.timer.now()
    }

    /// The timer.
    pub const fn timer(&self) -> &T {
        &self.timer
    }

    /// Adds a lane ([`Policy::add_lane`]).
    ///
    /// # Errors
    ///
    /// Hands the configuration back when all `LANES` lanes are in use.
    pub fn add_lane(&self, config: LaneConfig) -> Result<LaneId, LaneConfig> {
        self.with_policy(|policy| policy.add_lane(config))
    }

    /// Lower level: runs `f` on the engine under the lock, for configuration and monitoring
    /// ([`Policy::status`], [`Policy::in_flight`], [`Policy::set_limit`]). Waiters are told
    /// afterwards, in case `f` made room. Do not acquire or hand permits back through it: the
    /// limiter's guards do that.
    ///
    /// # Examples
    ///
    /// ```
    /// use headroom::limiter::{Limiter, NoopRawMutex, TokioTimer};
    /// use headroom::{LaneConfig, Policy};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// // One executor only: no lock needed.
    /// let limiter: Limiter<NoopRawMutex, TokioTimer, 2, 8, 16> = Limiter::new(Policy::new(), TokioTimer::new());
    /// limiter.add_lane(LaneConfig::new()).unwrap();
    /// assert_eq!(limiter.with_policy(|policy| (policy.lanes(), policy.in_flight())), (1, 0));
    /// # }
    /// ```
    pub fn with_policy<U>(&self, f: impl FnOnce(&mut Policy<LANES, PERMITS>) -> U) -> U {
        let mut wake: heapless::Vec<Waker, LANES> = heapless::Vec::new();
        let answer = self.state.lock(|state| {
            let mut state = state.borrow_mut();
            let answer = f(&mut state.policy);
            state.queue.notify_heads(&mut wake);
            answer
        });
        wake.into_iter().for_each(Waker::wake);
        answer
    }

    /// Waits for a permit to send a request of `cost` on `lane`, first come first served.
    ///
    /// # Examples
    ///
    /// ```
    /// use headroom::limiter::{CriticalSectionRawMutex, Limiter, TokioTimer};
    /// use headroom::{Cost, LaneConfig, Limit, Policy, Priority, nz};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let limiter: Limiter<CriticalSectionRawMutex, TokioTimer, 1, 8, 16> =
    ///     Limiter::new(Policy::new(), TokioTimer::new());
    /// let lane = limiter.add_lane(LaneConfig::new().requests(Limit::per_minute(nz!(30)))).unwrap();
    /// let first = limiter.acquire(lane, Cost::request(10, 10), Priority::Interactive).await.unwrap();
    /// let second = limiter.acquire(lane, Cost::request(10, 10), Priority::Interactive).await.unwrap();
    /// // 30 RPM: the second waited two seconds (the first was never handed back, so it still counts).
    /// assert_eq!(limiter.now().as_ticks(), 2_000_000);
    /// # drop((first, second));
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// [`AcquireError::Rejected`] when the engine can never admit it as asked,
    /// [`AcquireError::QueueFull`] when `WAITERS` acquires already wait.
    pub async fn acquire(
        &self,
        lane: LaneId,
        cost: Cost,
        priority: Priority,
    ) -> Result<Guard<'_, M, T, LANES, PERMITS, WAITERS>, AcquireError> {
        self.acquire_attempt(lane, cost, priority, Attempt::first())
            .await
    }

    /// Waits for a permit for a request that [`Guard::complete`] said to retry, once
    /// [`Retry::at`] has come (the line is joined then, at its back).
    ///
    /// # Errors
    ///
    /// As [`Limiter::acquire`].
    pub async fn acquire_retry(
        &self,
        retry: &Retry,
    ) -> Result<Guard<'_, M, T, LANES, PERMITS, WAITERS>, AcquireError> {
        self.timer.sleep_until(retry.at()).await;
        self.acquire_attempt(
            retry.lane(),
            retry.cost(),
            retry.priority(),
            retry.attempt(),
        )
        .await
    }

    /// [`Limiter::acquire`] for a given [`Attempt`]: with a deadline, a wait that would end at
    /// or after it is refused at once ([`Rejection::DeadlineExceeded`]), and so is a place in
    /// line still held when it comes.
    ///
    /// # Errors
    ///
    /// As [`Limiter::acquire`].
    pub async fn acquire_attempt(
        &self,
        lane: LaneId,
        cost: Cost,
        priority: Priority,
        attempt: Attempt,
    ) -> Result<Guard<'_, M, T, LANES, PERMITS, WAITERS>, AcquireError> {
        let lane_index = u8::try_from(lane.index()).unwrap_or(u8::MAX);
        // A place in line, left when this future is dropped.
        let mut place: Option<Place<'_, M, T, LANES, PERMITS, WAITERS>> = None;
        loop {
            let now = self.timer.now();
            let ticket = place.as_ref().map(|place| place.ticket);
            let (step, joined) = self.state.lock(|state| {
                let mut state = state.borrow_mut();
                let state = &mut *state;
                let my_turn = match ticket {
                    None => !state.queue.has_waiters(lane_index),
                    Some(ticket) => state.queue.is_head(ticket),
                };
                let step = if lane.index() >= state.policy.lanes() {
                    // Before anything else: an unknown lane must never take a place in line.
                    Step::Refused(Rejection::UnknownLane.into())
                } else if my_turn {
                    decide(&mut state.policy, now, lane, cost, priority, attempt)
                } else if attempt.deadline().is_some_and(|deadline| now >= deadline) {
                    Step::Refused(Rejection::DeadlineExceeded.into())
                } else {
                    Step::Wait(attempt.deadline())
                };
                let joined = match (&step, ticket) {
                    (Step::Wait(_), None) => Some(state.queue.join(lane_index)),
                    _ => None,
                };
                (step, joined)
            });
            match joined {
                Some(Some(ticket)) => {
                    place = Some(Place {
                        limiter: self,
                        ticket,
                    });
                }
                Some(None) => return Err(AcquireError::QueueFull),
                None => {}
            }
            match step {
                Step::Admitted(permit) => {
                    drop(place); // the next in line is served
                    return Ok(Guard::new(self, permit));
                }
                Step::Refused(why) => return Err(why),
                Step::Wait(until) => {
                    if let Some(place) = &place {
                        self.wait(place.ticket, until).await;
                    }
                }
            }
        }
    }

    /// Waits until `ticket` is notified or `until` comes.
    async fn wait(&self, ticket: u32, until: Option<Instant>) {
        let notified = |waker: &Waker| {
            self.state
                .lock(|state| state.borrow_mut().queue.take_notified(ticket, waker))
        };
        match until {
            Some(at) => {
                let mut sleep = pin!(self.timer.sleep_until(at));
                poll_fn(|cx| {
                    if notified(cx.waker()) {
                        return Poll::Ready(());
                    }
                    sleep.as_mut().poll(cx)
                })
                .await;
            }
            None => {
                poll_fn(|cx| {
                    if notified(cx.waker()) {
                        Poll::Ready(())
                    } else {
                        Poll::Pending
                    }
                })
                .await;
            }
        }
    }

    /// Reads the engine under the lock.
    fn with_engine<U>(&self, f: impl FnOnce(&Policy<LANES, PERMITS>) -> U) -> U {
        self.state.lock(|state| f(&state.borrow().policy))
    }

    /// Hands `permit` back with `f` under the lock, then tells every lane's head.
    fn release<U>(&self, f: impl FnOnce(&mut Policy<LANES, PERMITS>, Instant) -> U) -> U {
        let now = self.timer.now();
        self.with_policy(|policy| f(policy, now))
    }
}

/// The head's question to the engine, and what the limiter makes of the answer.
fn decide<const LANES: usize, const PERMITS: usize>(
    policy: &mut Policy<LANES, PERMITS>,
    now: Instant,
    lane: LaneId,
    cost: Cost,
    priority: Priority,
    attempt: Attempt,
) -> Step {
    match policy.acquire_attempt(now, lane, cost, priority, attempt) {
        Acquire::Admit(permit) => Step::Admitted(permit),
        Acquire::Wait { until, .. } => Step::Wait(Some(until)),
        // Guards come back: wait for one (or the deadline).
        Acquire::Reject(Rejection::PermitsFull) => match attempt.deadline() {
            Some(deadline) if now >= deadline => Step::Refused(Rejection::DeadlineExceeded.into()),
            deadline => Step::Wait(deadline),
        },
        Acquire::Reject(why) => Step::Refused(why.into()),
    }
}

/// A place in a lane's line; leaving it (on drop) serves the next waiter.
struct Place<'a, M: RawMutex, T: Timer, const L: usize, const P: usize, const W: usize> {
    limiter: &'a Limiter<M, T, L, P, W>,
    ticket: u32,
}

impl<M: RawMutex, T: Timer, const L: usize, const P: usize, const W: usize> Drop
    for Place<'_, M, T, L, P, W>
{
    fn drop(&mut self) {
        let waker = self
            .limiter
            .state
            .lock(|state| state.borrow_mut().queue.leave(self.ticket));
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}
