//! An LLM API gateway on a microcontroller: four embassy tasks send 40 requests through one
//! headroom [`Limiter`], each through the whole acquire → send → complete → retry loop
//! ([`Limiter::run`]), and the provider never answers 429.
//!
//! ```console
//! $ cd core/examples/embassy-gateway
//! $ cargo build --release --target thumbv7em-none-eabihf   # the firmware image (Cortex-M4F)
//! $ cargo run                                              # the same tasks on the host
//! 40 requests: 40 served, 0 refused, 0 failed; arrivals over 19.661 s, the provider's bound 19.000 s (1.034 x)
//! ```
//!
//! What a board needs, and where this example stands in for it:
//!
//! * **A time driver.** Both builds use embassy-time's mock driver, a clock that moves only
//!   when told to: on the board `SysTick` moves it 1 ms a tick; on the host a task moves it 1 ms
//!   each time the executor goes round, so the run takes virtual time (20 s) in a fraction of a
//!   second of real time, the same on every machine. On a real board, enable the HAL's time
//!   driver instead (`embassy-stm32`'s `time-driver-any`) and delete [`board`].
//! * **A hardware RNG** for the retry jitter: [`hw_rng`] stands in for the HAL's driver, which
//!   implements `rand_core` 0.9; `headroom::rng::Rng09` hands it to the engine.
//! * **A network.** [`upstream`] answers in its place: Anthropic's request bucket, its answer
//!   written as header fields by `headroom::headers::emit` and read back with `headers::parse`.
//!
//! The host run is the check (CI runs it): it exits 1 unless every request was served with no
//! 429 and the arrivals took at most 1.1 × what the provider's bucket allows.

#![cfg_attr(target_os = "none", no_std, no_main)]

mod hw_rng;
mod upstream;

use core::cell::RefCell;
use core::num::NonZeroU32;
use core::sync::atomic::{AtomicU32, Ordering};

use embassy_executor::Spawner;
use embassy_sync::blocking_mutex::Mutex;
use embassy_sync::blocking_mutex::raw::CriticalSectionRawMutex;
use embassy_time::{Instant, Timer};
use headroom::limiter::{EmbassyTimer, Limiter, Reply};
use headroom::rng::Rng09;
use headroom::{Cost, LaneConfig, LaneId, Limit, Policy, Priority, Usage, headers};

use hw_rng::HwRng;
#[cfg(target_os = "none")]
use panic_halt as _;
use upstream::Upstream;

/// The provider's limit, requests per minute.
const RPM: u32 = 120;
/// Tasks sending at once.
const CLIENTS: u32 = 4;
/// Requests each task sends, one after the other.
const REQUESTS_PER_CLIENT: u32 = 10;
/// From sending a request to its response, ms.
const LATENCY_MS: u64 = 200;
/// What each request may cost: its input tokens and `max_tokens`.
const COST: Cost = Cost::request(200, 100);
/// What each request used, as its response's body says.
const USAGE: Usage = Usage {
    input_tokens: 200,
    output_tokens: 60,
    cache_creation_input_tokens: 0,
    cache_read_input_tokens: 0,
};

/// One lane, 8 requests in flight, 8 waiting: 1 872 bytes of RAM on the board.
type Gateway = Limiter<CriticalSectionRawMutex, EmbassyTimer, 1, 8, 8>;

static LIMITER: Gateway = Limiter::new(Policy::new(), EmbassyTimer);
static UPSTREAM: Mutex<CriticalSectionRawMutex, RefCell<Upstream>> =
    Mutex::new(RefCell::new(Upstream::new(RPM)));
/// Tasks done, and requests that ended in an error.
static FINISHED: AtomicU32 = AtomicU32::new(0);
static FAILED: AtomicU32 = AtomicU32::new(0);

#[embassy_executor::main]
async fn main(spawner: Spawner) {
    #[cfg(target_os = "none")]
    board::start_clock();
    #[cfg(not(target_os = "none"))]
    spawner.must_spawn(host::clock());

    // The key is this gateway's alone: the engine need not leave room for other clients.
    let config = LaneConfig::new()
        .requests(Limit::per_minute(NonZeroU32::MIN.saturating_add(RPM - 1)))
        .shared_key(false);
    let Ok(lane) = LIMITER.add_lane(config) else {
        unreachable!("a fresh limiter has room for its one lane")
    };
    for id in 0..CLIENTS {
        spawner.must_spawn(client(id, lane));
    }
}

/// Sends this task's requests one after the other, each through the whole life cycle.
#[embassy_executor::task(pool_size = CLIENTS as usize)]
async fn client(id: u32, lane: LaneId) {
    let mut rng = Rng09(HwRng::new(id.wrapping_add(1)));
    for _ in 0..REQUESTS_PER_CLIENT {
        let sent = LIMITER
            .run(lane, COST, Priority::Interactive, &mut rng, |_attempt| {
                send()
            })
            .await;
        if sent.is_err() {
            FAILED.fetch_add(1, Ordering::Relaxed);
        }
    }
    if FINISHED.fetch_add(1, Ordering::Relaxed) + 1 == CLIENTS {
        finish(verdict());
    }
}

/// One attempt: the provider decides on arrival; the response, with the headers of that
/// moment, comes `LATENCY_MS` later.
async fn send() -> Reply<u16> {
    let arrival = Instant::now().as_micros();
    let status = UPSTREAM.lock(|upstream| upstream.borrow_mut().admit(arrival));
    Timer::after_millis(LATENCY_MS).await;
    let now = Instant::now().as_micros();
    let fields = UPSTREAM.lock(|upstream| upstream.borrow().headers(now, status));
    let snapshot = headers::parse(Some(status), fields.iter().map(|(n, v)| (*n, v.as_str())));
    Reply::new(snapshot, status).with_usage(USAGE)
}

/// The run as measured at the provider.
#[derive(Debug)]
struct Summary {
    served: u32,
    refused: u32,
    /// From the first arrival to the last, µs.
    spread: u64,
    /// The shortest spread the provider's bucket allows for this many requests, µs.
    bound: u64,
}

/// The run's result: a summary when every request was served, with no 429, at most 1.1 × as
/// slowly as the provider allows; else what went wrong.
fn verdict() -> Result<Summary, Summary> {
    let tally = UPSTREAM.lock(|upstream| upstream.borrow().tally());
    let total = CLIENTS * REQUESTS_PER_CLIENT;
    // A full bucket (one second's worth) at once, the rest one interval apart.
    let burst = (RPM / 60).max(1);
    let interval = 60_000_000 / u64::from(RPM);
    let summary = Summary {
        served: tally.served,
        refused: tally.refused,
        spread: tally.last - tally.first.unwrap_or(tally.last),
        bound: u64::from(total - burst) * interval,
    };
    let ok = summary.served == total
        && summary.refused == 0
        && FAILED.load(Ordering::Relaxed) == 0
        && summary.spread * 10 <= summary.bound * 11;
    if ok { Ok(summary) } else { Err(summary) }
}

/// On the board: a failed run halts in the panic handler (where a debugger finds it).
#[cfg(target_os = "none")]
fn finish(verdict: Result<Summary, Summary>) {
    if let Err(summary) = verdict {
        panic!("{summary:?}");
    }
}

/// On the host: says how it went, and exits 0 or 1.
#[cfg(not(target_os = "none"))]
fn finish(verdict: Result<Summary, Summary>) {
    let (code, summary) = match verdict {
        Ok(summary) => (0, summary),
        Err(summary) => (1, summary),
    };
    let ratio = summary.spread * 1_000 / summary.bound.max(1);
    let ms = |us: u64| format!("{}.{:03} s", us / 1_000_000, us % 1_000_000 / 1_000);
    println!(
        "{} requests: {} served, {} refused, {} failed; arrivals over {}, the provider's bound {} ({}.{:03} x)",
        CLIENTS * REQUESTS_PER_CLIENT,
        summary.served,
        summary.refused,
        FAILED.load(Ordering::Relaxed),
        ms(summary.spread),
        ms(summary.bound),
        ratio / 1_000,
        ratio % 1_000,
    );
    std::process::exit(code);
}

/// The host's clock: 1 ms of virtual time each time the executor goes round.
#[cfg(not(target_os = "none"))]
mod host {
    use embassy_time::{Duration, MockDriver};

    /// Moves embassy-time's mock clock on, forever.
    #[embassy_executor::task]
    pub async fn clock() {
        loop {
            MockDriver::get().advance(Duration::from_millis(1));
            embassy_futures::yield_now().await;
        }
    }
}

/// The board's clock: `SysTick` moves embassy-time's mock clock on 1 ms a tick.
#[cfg(target_os = "none")]
mod board {
    use cortex_m::peripheral::syst::SystClkSource;
    use cortex_m_rt::exception;
    use embassy_time::{Duration, MockDriver};

    /// The core clock after reset (an STM32F4's 16 MHz internal oscillator).
    const CORE_HZ: u32 = 16_000_000;

    /// Starts `SysTick` at 1 kHz.
    pub fn start_clock() {
        let Some(mut core) = cortex_m::Peripherals::take() else {
            panic!("the core peripherals are taken once, here");
        };
        core.SYST.set_clock_source(SystClkSource::Core);
        core.SYST.set_reload(CORE_HZ / 1_000 - 1);
        core.SYST.clear_current();
        core.SYST.enable_interrupt();
        core.SYST.enable_counter();
    }

    #[exception]
    fn SysTick() {
        MockDriver::get().advance(Duration::from_millis(1));
    }
}
