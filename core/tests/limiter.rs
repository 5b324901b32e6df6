//! The async limiter under tokio's paused clock: first come first served, cancellation at every
//! point, and never more admitted than the engine allows, however many tasks share it.

use std::cell::RefCell;
use std::rc::Rc;

use headroom::limiter::{AcquireError, CriticalSectionRawMutex, Limiter, TokioTimer};
use headroom::time::{self, Instant};
use headroom::{
    Attempt, Cost, LaneConfig, LaneId, Limit, LimitKind, Policy, Priority, Rejection, nz,
};
use tokio::task::{self, JoinHandle};

type Small = Limiter<CriticalSectionRawMutex, TokioTimer, 1, 4, 8>;

/// A limiter with one lane of 60 requests a minute (one a second, burst 1).
fn one_per_second() -> (Rc<Small>, LaneId) {
    let limiter = Small::new(Policy::new(), TokioTimer::new());
    let lane = limiter
        .add_lane(
            LaneConfig::new()
                .requests(Limit::per_minute(nz!(60)).with_burst(nz!(1)))
                .provisional_requests(None),
        )
        .unwrap();
    (Rc::new(limiter), lane)
}

fn cost() -> Cost {
    Cost::request(10, 10)
}

/// Spawns an acquire that records `(name, admitted at)` in `log` and holds its guard for
/// `hold`, then drops it.
fn spawn_acquire(
    limiter: &Rc<Small>,
    lane: LaneId,
    name: usize,
    hold: time::Duration,
    log: &Rc<RefCell<Vec<(usize, u64)>>>,
) -> JoinHandle<Result<(), AcquireError>> {
    let (limiter, log) = (Rc::clone(limiter), Rc::clone(log));
    task::spawn_local(async move {
        let guard = limiter.acquire(lane, cost(), Priority::Interactive).await?;
        log.borrow_mut().push((name, limiter.now().as_ticks()));
        tokio::time::sleep(std::time::Duration::from_micros(hold.as_ticks())).await;
        drop(guard);
        Ok(())
    })
}

/// [`spawn_acquire`], then lets the task run until it waits (it has joined the line).
async fn arrive(
    limiter: &Rc<Small>,
    lane: LaneId,
    name: usize,
    log: &Rc<RefCell<Vec<(usize, u64)>>>,
) -> JoinHandle<Result<(), AcquireError>> {
    let task = spawn_acquire(limiter, lane, name, time::millis(1), log);
    settle_tasks().await;
    task
}

async fn settle_tasks() {
    for _ in 0..10 {
        task::yield_now().await;
    }
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn waiters_are_served_first_come_first_served_one_per_instant() {
    task::LocalSet::new()
        .run_until(async {
            let (limiter, lane) = one_per_second();
            let log = Rc::new(RefCell::new(Vec::new()));
            let mut tasks = Vec::new();
            for name in 0..6 {
                // Each joins the line before the next arrives.
                tasks.push(arrive(&limiter, lane, name, &log).await);
            }
            for task in tasks {
                task.await.unwrap().unwrap();
            }
            let seconds: Vec<_> = log
                .borrow()
                .iter()
                .map(|&(n, at)| (n, at / 1_000_000))
                .collect();
            assert_eq!(seconds, [(0, 0), (1, 1), (2, 2), (3, 3), (4, 4), (5, 5)]);
        })
        .await;
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_newcomer_never_overtakes_the_line() {
    task::LocalSet::new()
        .run_until(async {
            let (limiter, lane) = one_per_second();
            let log = Rc::new(RefCell::new(Vec::new()));
            let first = arrive(&limiter, lane, 0, &log).await;
            let second = arrive(&limiter, lane, 1, &log).await;
            // At 1 s the head (1) is admitted; a newcomer arriving then waits behind no one,
            // but must not take 1's slot.
            tokio::time::sleep(std::time::Duration::from_millis(999)).await;
            let third = spawn_acquire(&limiter, lane, 2, time::millis(1), &log);
            for task in [first, second, third] {
                task.await.unwrap().unwrap();
            }
            let order: Vec<_> = log.borrow().iter().map(|&(n, _)| n).collect();
            assert_eq!(order, [0, 1, 2]);
        })
        .await;
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_waiter_dropped_mid_wait_leaves_the_line_and_the_next_is_served_on_time() {
    task::LocalSet::new()
        .run_until(async {
            let (limiter, lane) = one_per_second();
            let log = Rc::new(RefCell::new(Vec::new()));
            let first = arrive(&limiter, lane, 0, &log).await;
            // The head of the line (sleeping until 1 s) and one behind it.
            let head = arrive(&limiter, lane, 1, &log).await;
            let behind = arrive(&limiter, lane, 2, &log).await;
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
            head.abort(); // a timeout or a disconnected client
            assert!(head.await.unwrap_err().is_cancelled());
            first.await.unwrap().unwrap();
            behind.await.unwrap().unwrap();
            // The one behind took the head's instant: nothing was lost to the cancelled waiter.
            assert_eq!(*log.borrow(), [(0, 0), (2, 1_000_000)]);
            assert_eq!(limiter.with_policy(|policy| policy.in_flight()), 0);
        })
        .await;
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_guard_dropped_mid_flight_frees_its_slot_for_the_next_waiter_at_once() {
    task::LocalSet::new()
        .run_until(async {
            // No pace at all: only the permit table (4 slots) limits.
            let limiter = Rc::new(Small::new(Policy::new(), TokioTimer::new()));
            let lane = limiter
                .add_lane(LaneConfig::new().provisional_requests(None))
                .unwrap();
            let log = Rc::new(RefCell::new(Vec::new()));
            let mut holders = Vec::new();
            for name in 0..4 {
                holders.push(spawn_acquire(&limiter, lane, name, time::secs(3_600), &log));
            }
            settle_tasks().await;
            let waiter = arrive(&limiter, lane, 4, &log).await;
            assert_eq!(log.borrow().len(), 4, "the table is full: the fifth waits");
            tokio::time::sleep(std::time::Duration::from_secs(2)).await;
            holders.remove(0).abort(); // its guard is dropped mid-flight
            waiter.await.unwrap().unwrap();
            assert_eq!(log.borrow().last(), Some(&(4, 2_000_000)));
            assert_eq!(limiter.with_policy(|policy| policy.in_flight()), 3);
        })
        .await;
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn deadlines_are_kept_in_line_and_at_the_head() {
    let (limiter, lane) = one_per_second();
    let _held = limiter
        .acquire(lane, cost(), Priority::Interactive)
        .await
        .unwrap();
    let hurried = Attempt::first().with_deadline(Instant::from_ticks(500_000));
    assert_eq!(
        limiter
            .acquire_attempt(lane, cost(), Priority::Interactive, hurried)
            .await
            .unwrap_err(),
        AcquireError::Rejected(Rejection::DeadlineExceeded)
    );
    let patient = Attempt::first().with_deadline(Instant::from_ticks(1_500_000));
    let guard = limiter
        .acquire_attempt(lane, cost(), Priority::Interactive, patient)
        .await
        .unwrap();
    assert_eq!(limiter.now().as_ticks(), 1_000_000);
    guard.cancel().unwrap();
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_full_queue_is_refused_and_an_unknown_lane_rejected() {
    let limiter: Limiter<CriticalSectionRawMutex, TokioTimer, 1, 4, 1> =
        Limiter::new(Policy::new(), TokioTimer::new());
    let lane = limiter
        .add_lane(LaneConfig::new().requests(Limit::per_minute(nz!(1)).with_burst(nz!(1))))
        .unwrap();
    let _held = limiter
        .acquire(lane, cost(), Priority::Interactive)
        .await
        .unwrap();
    let waiting = limiter.acquire(lane, cost(), Priority::Interactive);
    let mut waiting = std::pin::pin!(waiting);
    assert!(
        futures_poll_once(waiting.as_mut()).await.is_none(),
        "joins the one place in line"
    );
    assert_eq!(
        limiter
            .acquire(lane, cost(), Priority::Interactive)
            .await
            .unwrap_err(),
        AcquireError::QueueFull
    );
    assert_eq!(
        limiter
            .acquire(LaneId::from_index(7), cost(), Priority::Interactive)
            .await
            .unwrap_err(),
        AcquireError::Rejected(Rejection::UnknownLane)
    );
}

/// Polls a future once: `Some` if it completed.
async fn futures_poll_once<F: std::future::Future + Unpin>(mut future: F) -> Option<F::Output> {
    std::future::poll_fn(|cx| {
        std::task::Poll::Ready(match std::pin::Pin::new(&mut future).poll(cx) {
            std::task::Poll::Ready(output) => Some(output),
            std::task::Poll::Pending => None,
        })
    })
    .await
}

/// A tiny seeded generator for the concurrency test (SplitMix64).
struct Seeded(u64);

impl Seeded {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        (z ^ (z >> 31)) % n
    }
}

#[test]
fn many_tasks_on_one_limiter_never_over_admit() {
    for seed in 0..8 {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .unwrap();
        runtime.block_on(task::LocalSet::new().run_until(concurrent_run(seed)));
    }
}

/// 120 tasks arriving at random instants, each holding its permit a random while: at any
/// instant, admissions never exceed the bucket's burst plus what it refilled, in-flight never
/// exceeds the table, and everyone is served.
async fn concurrent_run(seed: u64) {
    const TASKS: usize = 120;
    let limiter: Rc<Limiter<CriticalSectionRawMutex, TokioTimer, 1, 8, 128>> =
        Rc::new(Limiter::new(Policy::new(), TokioTimer::new()));
    let lane = limiter
        .add_lane(
            LaneConfig::new()
                .requests(Limit::per_minute(nz!(600)))
                .provisional_requests(None),
        )
        .unwrap();
    let burst =
        u64::from(limiter.with_policy(|p| p.bucket(lane, LimitKind::Requests).unwrap().burst()));
    let mut rng = Seeded(seed);
    let log = Rc::new(RefCell::new(Vec::new()));
    let peak = Rc::new(RefCell::new(0usize));
    let mut tasks = Vec::new();
    for _ in 0..TASKS {
        let (arrive, hold) = (rng.below(20_000), rng.below(3_000));
        let (limiter, log, peak) = (Rc::clone(&limiter), Rc::clone(&log), Rc::clone(&peak));
        tasks.push(task::spawn_local(async move {
            tokio::time::sleep(std::time::Duration::from_millis(arrive)).await;
            let guard = limiter
                .acquire(lane, cost(), Priority::Interactive)
                .await
                .unwrap();
            let now = limiter.now().as_ticks();
            log.borrow_mut().push(now);
            let in_flight = limiter.with_policy(|p| p.in_flight());
            peak.replace_with(|&mut peak| peak.max(in_flight));
            tokio::time::sleep(std::time::Duration::from_millis(hold)).await;
            drop(guard);
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let mut admitted = log.borrow().clone();
    assert_eq!(admitted.len(), TASKS, "seed {seed}: everyone is served");
    admitted.sort_unstable();
    // 600 RPM: 10 a second. By instant t (µs), at most burst + t / 100 000 admissions.
    for (n, &at) in admitted.iter().enumerate() {
        let allowed = burst + at / 100_000;
        assert!(
            (n as u64) < allowed,
            "seed {seed}: admission {n} at {at} µs over {allowed}"
        );
    }
    assert!(
        *peak.borrow() <= 8,
        "seed {seed}: in flight {} over the table",
        peak.borrow()
    );
    assert_eq!(limiter.with_policy(|p| p.in_flight()), 0);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn an_unknown_lane_is_rejected_even_while_the_table_is_full() {
    // The engine answers `PermitsFull` before it looks at the lane; the limiter must not queue
    // such a request for a lane that will never exist.
    let limiter: Limiter<CriticalSectionRawMutex, TokioTimer, 1, 1, 4> =
        Limiter::new(Policy::new(), TokioTimer::new());
    let lane = limiter.add_lane(LaneConfig::new()).unwrap();
    let _held = limiter
        .acquire(lane, cost(), Priority::Interactive)
        .await
        .unwrap();
    let unknown = limiter.acquire(LaneId::from_index(1), cost(), Priority::Interactive);
    assert_eq!(
        futures_poll_once(std::pin::pin!(unknown))
            .await
            .map(Result::unwrap_err),
        Some(AcquireError::Rejected(Rejection::UnknownLane))
    );
}
