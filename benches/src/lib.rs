//! Fixtures shared by headroom's criterion benches and the zero-allocation test.
//!
//! Everything a bench measures is built here once, so the benches and
//! `tests/zero_alloc.rs` exercise exactly the same inputs: a lane with RPM + ITPM + OTPM, the
//! header sets of a full Anthropic 200, an OpenAI response and an IETF -08 response, and a tiny
//! deterministic RNG for jitter draws.
//!
//! ```console
//! cargo bench -p headroom-benches --bench acquire -- --warm-up-time 1 --measurement-time 3
//! ```

pub mod floor;
pub mod peer;

use core::convert::Infallible;
use core::num::NonZeroU32;

use headroom::time::Instant;
use headroom::{Cost, LaneConfig, LaneId, Limit, LimitKind, Policy, Priority, Usage};
use rand_core::TryRng;

/// The lane every acquire bench uses: Anthropic Tier-4-like limits, 4 000 RPM, 2 000 000 ITPM,
/// 400 000 OTPM (three buckets).
pub fn three_bucket_lane() -> LaneConfig {
    LaneConfig::new()
        .requests(per_minute(4_000))
        .input_tokens(per_minute(2_000_000))
        .output_tokens(per_minute(400_000))
}

/// The floor of an admission (see [`floor`]) for the limits of [`three_bucket_lane`]: per limit
/// a pace with the burst headroom's pace has (`Limit::burst_for`: a second's worth of requests,
/// a minute's worth of tokens) and a window holding the whole amount, as headroom's does.
pub fn three_limit_floor() -> floor::Floor {
    let meters = |amount, kind| {
        let burst = per_minute(amount).burst_for(kind);
        [
            floor::Meter::per_minute(amount, burst),
            floor::Meter::per_minute(amount, amount),
        ]
    };
    let [[rp, rw], [ip, iw], [op, ow]] = [
        meters(4_000, LimitKind::Requests),
        meters(2_000_000, LimitKind::InputTokens),
        meters(400_000, LimitKind::OutputTokens),
    ];
    floor::Floor::new([rp, rw, ip, iw, op, ow])
}

/// [`COST`] as the floor's charges: requests, input tokens, output tokens.
pub const FLOOR_CHARGES: [u64; 3] = [1, COST.input_tokens(), COST.max_tokens()];

/// A rate per minute; `0` reads as 1.
pub fn per_minute(amount: u32) -> Limit {
    Limit::per_minute(NonZeroU32::new(amount).unwrap_or(NonZeroU32::MIN))
}

/// The cost of one request: 1 200 input tokens, `max_tokens` 1 024.
pub const COST: Cost = Cost::request(1_200, 1_024);

/// What the request really used.
pub const USAGE: Usage = Usage {
    input_tokens: 1_180,
    output_tokens: 311,
    cache_read_input_tokens: 0,
    cache_creation_input_tokens: 0,
};

/// Time between two admitted requests in the admit benches: long enough that every bucket of
/// [`three_bucket_lane`] is full again (OTPM refills 1 024 tokens in about 154 ms), so the admit
/// path is measured, never the wait path.
pub const ADMIT_STEP_US: u64 = 200_000;

/// The priority used everywhere.
pub const PRIORITY: Priority = Priority::Interactive;

/// A policy with one three-bucket lane.
///
/// # Panics
///
/// Never: a fresh policy has room for one lane.
pub fn policy<const PERMITS: usize>() -> (Policy<1, PERMITS>, LaneId) {
    let mut policy = Policy::new();
    let lane = policy
        .add_lane(three_bucket_lane())
        .unwrap_or_else(|_| unreachable!("a fresh policy has room for one lane"));
    (policy, lane)
}

/// When [`synced`] completes its request: the synced benches admit after it.
pub const SYNCED_AT_US: u64 = 1_000_000;

/// `policy` after one request on `lane`, admitted at 0 and completed at [`SYNCED_AT_US`] with
/// [`ANTHROPIC_200`] and [`USAGE`]: the lane then meters each limit by its pace and the
/// provider's window, as a client's lane does from its first response on. The lane does not
/// say its key is its own, so the windows hold the cold-start quarter share of the key, refill
/// at a quarter of the rate, and are never full again when admissions come every
/// [`ADMIT_STEP_US`]: every admission is checked, as a busy lane's are.
///
/// # Panics
///
/// When the fresh lane does not admit or the policy refuses its own permit: a broken bench.
pub fn synced<const PERMITS: usize>(policy: &mut Policy<1, PERMITS>, lane: LaneId) {
    let snapshot = headroom::headers::parse(Some(200), ANTHROPIC_200);
    let response = headroom::Response::new(&snapshot).with_usage(USAGE);
    let headroom::Acquire::Admit(permit) = policy.acquire(at(0), lane, COST, PRIORITY) else {
        panic!("a fresh lane admits");
    };
    let done = policy.complete(at(SYNCED_AT_US), permit, &response, &mut SplitMix64(7));
    assert!(done.is_ok(), "complete refused its own permit");
}

/// `Instant` from microseconds.
pub const fn at(us: u64) -> Instant {
    Instant::from_ticks(us)
}

/// A full Anthropic 200 response as received: the twelve documented `anthropic-ratelimit-*`
/// fields, `Date`, and the other fields a real response carries that the parser must skip.
/// The buckets are nearly full, so every reset is at `Date` (second resolution), as in
/// recorded responses.
pub const ANTHROPIC_200: [(&str, &str); 20] = [
    ("date", "Sat, 28 Nov 2026 04:00:00 GMT"),
    ("content-type", "application/json"),
    ("transfer-encoding", "chunked"),
    ("connection", "keep-alive"),
    ("anthropic-ratelimit-requests-limit", "4000"),
    ("anthropic-ratelimit-requests-remaining", "3999"),
    ("anthropic-ratelimit-requests-reset", "2026-11-28T04:00:00Z"),
    ("anthropic-ratelimit-input-tokens-limit", "2000000"),
    ("anthropic-ratelimit-input-tokens-remaining", "1998000"),
    (
        "anthropic-ratelimit-input-tokens-reset",
        "2026-11-28T04:00:00Z",
    ),
    ("anthropic-ratelimit-output-tokens-limit", "400000"),
    ("anthropic-ratelimit-output-tokens-remaining", "399000"),
    (
        "anthropic-ratelimit-output-tokens-reset",
        "2026-11-28T04:00:00Z",
    ),
    ("anthropic-ratelimit-tokens-limit", "2400000"),
    ("anthropic-ratelimit-tokens-remaining", "2397000"),
    ("anthropic-ratelimit-tokens-reset", "2026-11-28T04:00:00Z"),
    ("request-id", "req_018EeWyXxfu5pfWkrYcMdjWG"),
    (
        "anthropic-organization-id",
        "0f6d1e52-5b8e-4a3c-9a57-3b1d2c4e5f60",
    ),
    ("server", "cloudflare"),
    ("cf-ray", "8f2a1b3c4d5e6f70-FRA"),
];

/// [`ANTHROPIC_200`] one second later: `Date` and every reset moved on. Read alternately with
/// [`ANTHROPIC_200`], it shows what a response costs when nothing is remembered from the one
/// before it (`headers::Reader`).
pub const ANTHROPIC_200_NEXT_SECOND: [(&str, &str); 20] = {
    let mut next = ANTHROPIC_200;
    next[0].1 = "Sat, 28 Nov 2026 04:00:01 GMT";
    next[6].1 = "2026-11-28T04:00:01Z";
    next[9].1 = "2026-11-28T04:00:01Z";
    next[12].1 = "2026-11-28T04:00:01Z";
    next[15].1 = "2026-11-28T04:00:01Z";
    next
};

/// An OpenAI 200: `x-ratelimit-*` with Go durations.
pub const OPENAI_200: [(&str, &str); 9] = [
    ("date", "Sat, 28 Nov 2026 04:00:00 GMT"),
    ("content-type", "application/json"),
    ("openai-processing-ms", "412"),
    ("x-ratelimit-limit-requests", "10000"),
    ("x-ratelimit-limit-tokens", "2000000"),
    ("x-ratelimit-remaining-requests", "9999"),
    ("x-ratelimit-remaining-tokens", "1998765"),
    ("x-ratelimit-reset-requests", "6ms"),
    ("x-ratelimit-reset-tokens", "1m2.5s"),
];

/// An IETF draft -08 response: two named policies and the limit of the binding one.
pub const IETF_08: [(&str, &str); 4] = [
    ("date", "Sat, 28 Nov 2026 04:00:00 GMT"),
    ("content-type", "application/json"),
    (
        "RateLimit-Policy",
        r#""permin";q=50;w=60, "perhr";q=1000;w=3600"#,
    ),
    ("RateLimit", r#""permin";r=15;t=40"#),
];

/// A 429 with `Retry-After` as an HTTP-date.
pub const RETRY_AFTER_DATE: [(&str, &str); 2] = [
    ("date", "Sat, 28 Nov 2026 04:00:00 GMT"),
    ("retry-after", "Sat, 28 Nov 2026 04:00:20 GMT"),
];

/// A 429 with `Retry-After` in seconds.
pub const RETRY_AFTER_SECONDS: [(&str, &str); 2] = [
    ("date", "Sat, 28 Nov 2026 04:00:00 GMT"),
    ("retry-after", "20"),
];

/// SplitMix64 (Steele, Lea and Flood, 2014): one add, three xor-shift-multiplies per draw. Fast,
/// deterministic, and good enough to feed jitter in a bench; not for real traffic.
#[derive(Debug, Clone)]
pub struct SplitMix64(pub u64);

impl SplitMix64 {
    /// The next draw.
    pub const fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

impl TryRng for SplitMix64 {
    type Error = Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        Ok((self.next() >> 32) as u32)
    }

    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        Ok(self.next())
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        for chunk in dst.chunks_mut(8) {
            for (d, s) in chunk.iter_mut().zip(self.next().to_le_bytes()) {
                *d = s;
            }
        }
        Ok(())
    }
}
