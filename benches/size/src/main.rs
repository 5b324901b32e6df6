//! The size program: everything a firmware client of headroom links, and nothing else.
//!
//! A `Policy<4, 32>` in a static (so its RAM shows in `.data`/`.bss`), four Anthropic-style
//! lanes, and a loop that acquires, parses a full Anthropic 200 response, completes the permit
//! with it (settle, sync, classify, schedule) and draws a backoff delay. Every input goes through
//! `core::hint::black_box`, so nothing is constant-folded away. Built and measured by
//! `benches/size.sh`; never run.

#![no_std]
#![no_main]

use core::convert::Infallible;
use core::hint::black_box;
use core::num::NonZeroU32;

use cortex_m_rt::entry;
use headroom::backoff::Attempt;
use headroom::headers;
use headroom::time::Instant;
use headroom::{Acquire, Cost, LaneConfig, LaneId, Limit, Policy, Priority, Response, Usage};
use panic_halt as _;
use rand_core::TryRng;

/// A full Anthropic 200 as an HTTP stack hands it over.
const HEADERS: [(&[u8], &[u8]); 14] = [
    (b"date", b"Sat, 28 Nov 2026 04:00:00 GMT"),
    (b"content-type", b"application/json"),
    (b"anthropic-ratelimit-requests-limit", b"4000"),
    (b"anthropic-ratelimit-requests-remaining", b"3999"),
    (
        b"anthropic-ratelimit-requests-reset",
        b"2026-11-28T04:00:00Z",
    ),
    (b"anthropic-ratelimit-input-tokens-limit", b"2000000"),
    (b"anthropic-ratelimit-input-tokens-remaining", b"1998000"),
    (
        b"anthropic-ratelimit-input-tokens-reset",
        b"2026-11-28T04:00:00Z",
    ),
    (b"anthropic-ratelimit-output-tokens-limit", b"400000"),
    (b"anthropic-ratelimit-output-tokens-remaining", b"399000"),
    (
        b"anthropic-ratelimit-output-tokens-reset",
        b"2026-11-28T04:00:00Z",
    ),
    (b"anthropic-ratelimit-tokens-limit", b"2400000"),
    (b"anthropic-ratelimit-tokens-remaining", b"2397000"),
    (b"anthropic-ratelimit-tokens-reset", b"2026-11-28T04:00:00Z"),
];

/// xorshift64: the smallest RNG that feeds jitter (seed it from a hardware source in real use).
struct XorShift(u64);

impl TryRng for XorShift {
    type Error = Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        Ok((self.try_next_u64()? >> 32) as u32)
    }

    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        Ok(x)
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        for chunk in dst.chunks_mut(8) {
            for (d, s) in chunk.iter_mut().zip(self.try_next_u64()?.to_le_bytes()) {
                *d = s;
            }
        }
        Ok(())
    }
}

fn per_minute(amount: u32) -> Limit {
    Limit::per_minute(NonZeroU32::new(amount).unwrap_or(NonZeroU32::MIN))
}

#[entry]
fn main() -> ! {
    static mut POLICY: Policy<4, 32> = Policy::new();
    let policy: &'static mut Policy<4, 32> = POLICY;

    for scale in 1..=4u32 {
        let lane = LaneConfig::new()
            .requests(per_minute(black_box(1_000 * scale)))
            .input_tokens(per_minute(black_box(500_000 * scale)))
            .output_tokens(per_minute(black_box(100_000 * scale)));
        let _ = policy.add_lane(lane);
    }

    let mut rng = XorShift(black_box(0x2545_f491_4f6c_dd1d));
    let mut now = 0u64;
    loop {
        now = now.wrapping_add(black_box(200_000));
        let lane = LaneId::from_index(black_box(0u8) % 4);
        let cost = Cost::request(black_box(1_200), black_box(1_024));
        match policy.acquire(Instant::from_ticks(now), lane, cost, Priority::Interactive) {
            Acquire::Admit(permit) => {
                let snapshot = headers::parse(Some(200), black_box(&HEADERS).iter().copied());
                let usage = Usage {
                    input_tokens: black_box(1_180),
                    output_tokens: black_box(311),
                    ..Usage::default()
                };
                let response = Response::new(&snapshot).with_usage(usage);
                let _ = black_box(policy.complete(
                    Instant::from_ticks(now),
                    permit,
                    &response,
                    &mut rng,
                ));
            }
            Acquire::Wait { until, .. } => now = until.as_ticks(),
            Acquire::Reject(why) => {
                black_box(why);
            }
        }
        let mut state = Attempt::with_retries(black_box(2));
        let _ = black_box(policy.backoff().next_delay(&mut state, None, &mut rng));
    }
}
