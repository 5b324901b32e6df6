//! The client side of the end-to-end example: many concurrent requests through one async
//! limiter to an Anthropic-shaped endpoint. Shared by `paced_client` and `sim/tests/mock_e2e.rs`.

use std::num::NonZeroU32;
use std::sync::Arc;

use headroom::limiter::{CriticalSectionRawMutex, Limiter, Reply, TokioTimer};
use headroom::{Cost, LaneConfig, Limit, Policy, Priority, Usage, headers};
use rand::{SeedableRng, rngs::SmallRng};

/// One limiter for the whole program: 1 lane, 128 requests in flight, 256 waiting.
pub type Paced = Limiter<CriticalSectionRawMutex, TokioTimer, 1, 128, 256>;

/// How the requests went.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Tally {
    /// Responses by class: 2xx, 429, anything else (including failures to connect).
    pub ok: u32,
    pub rate_limited: u32,
    pub other: u32,
}

/// Sends `count` requests at once to `{base}/v1/messages` through a limiter told the
/// provider's RPM; every HTTP status seen (retries included) is tallied.
pub async fn send_all(base: &str, count: u32, rpm: NonZeroU32) -> Tally {
    let url: Arc<str> = format!("{base}/v1/messages").into();
    let http = reqwest::Client::new();
    let seen = Arc::new(std::sync::Mutex::new(Tally::default()));
    // --- engine-facing code: the limiter, and one `run` per request ---
    // A localhost provider: requests reach it well within 250 ms (not the default 500 ms), even
    // with 200 connections opening at once on a loaded machine.
    let policy = Policy::new().with_transit_allowance(headroom::time::millis(250));
    let limiter = Arc::new(Paced::new(policy, TokioTimer::new()));
    // Two requests sent 10 ms apart can arrive 9 ms apart: pace 2 % under the provider's limit.
    let paced = NonZeroU32::new(rpm.get() - rpm.get() / 50).unwrap_or(rpm);
    // Requests whose transit varies by J arrive up to `rate × J` closer together than they were
    // admitted (a loaded machine opening 200 connections: tens of ms): keep a tenth of the
    // provider's one-second burst as slack for that, 100 ms of jitter.
    let burst = NonZeroU32::new(paced.get() / 60 * 9 / 10).unwrap_or(NonZeroU32::MIN);
    let lane = limiter
        .add_lane(
            LaneConfig::new()
                .requests(Limit::per_minute(paced).with_burst(burst))
                .shared_key(false),
        )
        .unwrap();
    let tasks = (0..count).map(|i| {
        let (limiter, http, url, seen) = (limiter.clone(), http.clone(), url.clone(), seen.clone());
        tokio::spawn(async move {
            let mut rng = SmallRng::seed_from_u64(u64::from(i));
            let cost = Cost::request(100, 50);
            limiter
                .run(lane, cost, Priority::Interactive, &mut rng, |attempt| {
                    let request = http
                        .post(&*url)
                        .header("x-mock-input-tokens", "100")
                        .header("x-stainless-retry-count", attempt.retries())
                        .body(r#"{"model":"claude-sonnet-4-5","max_tokens":50,"messages":[]}"#);
                    let seen = seen.clone();
                    async move {
                        let Ok(response) = request.send().await else {
                            return Reply::transport_error(());
                        };
                        let status = response.status().as_u16();
                        let snapshot = headers::parse(
                            Some(status),
                            response
                                .headers()
                                .iter()
                                .map(|(n, v)| (n.as_str(), v.as_bytes())),
                        );
                        let body: serde_json::Value = response.json().await.unwrap_or_default();
                        let used = |key: &str| body["usage"][key].as_u64().unwrap_or(0);
                        tally(&seen, status);
                        Reply::new(snapshot, ()).with_usage(Usage {
                            input_tokens: used("input_tokens"),
                            output_tokens: used("output_tokens"),
                            ..Usage::default()
                        })
                    }
                })
                .await
        })
    });
    // --- end of engine-facing code ---
    for task in tasks.collect::<Vec<_>>() {
        let _ = task.await;
    }
    *seen.lock().unwrap()
}

fn tally(seen: &std::sync::Mutex<Tally>, status: u16) {
    let mut seen = seen.lock().unwrap();
    match status {
        200..=299 => seen.ok += 1,
        429 => seen.rate_limited += 1,
        _ => seen.other += 1,
    }
}
