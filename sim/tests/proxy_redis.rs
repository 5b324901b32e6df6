//! `headroom proxy --store redis://…`: the Lua scripts against a real Redis, and four proxies
//! sharing one Redis in front of one `headroom mock` key, beside the same four without it.
//!
//! Tests that need Redis read its URL from `HEADROOM_TEST_REDIS` (`.ci/run` starts one and
//! sets it). Without it they print a loud SKIPPED line and pass — unless `CI` or
//! `HEADROOM_REQUIRE_REDIS` (set by `.ci/run`) is set, where a missing Redis is a failure. The
//! fallback test needs no Redis.

mod mock_support;
mod proxy_support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use headroom::{LaneConfig, Limit, nz};
use headroom_sim::store::{Decision, Store, rates};

/// The test Redis's URL, or `None` (after a loud line) when there is none outside CI.
fn redis_url(test: &str) -> Option<String> {
    match std::env::var("HEADROOM_TEST_REDIS") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            for required in ["CI", "HEADROOM_REQUIRE_REDIS"] {
                assert!(
                    std::env::var_os(required).is_none(),
                    "{test}: {required} is set but HEADROOM_TEST_REDIS is not: .ci/run should have started redis-server"
                );
            }
            eprintln!(
                "\n*** SKIPPED {test}: HEADROOM_TEST_REDIS is not set (no Redis to test against) ***\n"
            );
            None
        }
    }
}

/// A lane name no other run has used, so that runs sharing a Redis never meet.
fn fresh(prefix: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{prefix}-{}-{nanos}", std::process::id())
}

#[tokio::test]
async fn the_scripts_admit_all_or_nothing_refund_what_is_ahead_and_sync_from_remaining() {
    let Some(url) = redis_url("the_scripts_…") else {
        return;
    };
    let store = Store::open(&url).unwrap();
    let lane = fresh("scripts");
    // 60 requests a minute (burst 1: one a second), 1 000 input tokens a minute.
    let rates = rates(
        &LaneConfig::new()
            .requests(Limit::per_minute(nz!(60)))
            .input_tokens(Limit::per_minute(nz!(1_000))),
    );
    let acquire = |input: u64, at: u64| store.acquire(&lane, &rates, [1, input, 0, input], at);
    // The headers say `remaining` input tokens at `at`; admissions since `since` are unseen.
    let sync = |remaining: u64, at: u64, since: u64| {
        store.sync(
            &lane,
            &rates,
            [None, Some(remaining), None, None],
            at,
            since,
        )
    };
    let t0 = 1_000_000_000_000_000;
    assert_eq!(acquire(600, t0).await, Ok(Decision::Admit));
    // Both buckets must fit: the request bucket waits a second, the input one 12 s
    // (600 more of 1 000 a minute, 400 free).
    assert_eq!(
        acquire(600, t0).await,
        Ok(Decision::WaitUntil(t0 + 12_000_000))
    );
    // The refusal charged nothing: a small one fits the input bucket, after a second.
    assert_eq!(acquire(100, t0 + 1_000_000).await, Ok(Decision::Admit));
    let never = Decision::Never(headroom::LimitKind::InputTokens);
    assert_eq!(acquire(2_000, t0).await, Ok(never));
    // The first used 100 of its 600: 500 back, and 600 fits at once.
    let refund = [0, -500, 0, -500];
    store
        .settle(&lane, &rates, refund, t0 + 2_000_000)
        .await
        .unwrap();
    assert_eq!(acquire(600, t0 + 2_000_000).await, Ok(Decision::Admit));
    // The headers say 900 remain, and nothing was admitted since: 900 it is.
    let later = t0 + 100_000_000;
    sync(900, later, later).await.unwrap();
    assert_eq!(acquire(900, later).await, Ok(Decision::Admit));
    // 10 remain, nothing admitted since the headers: 11 waits, 10 fits.
    let later = later + 10_000_000;
    sync(10, later, later).await.unwrap();
    assert!(matches!(
        acquire(11, later).await,
        Ok(Decision::WaitUntil(_))
    ));
    assert_eq!(acquire(10, later).await, Ok(Decision::Admit));
    // 500 remain, but 10 were admitted since the headers' snapshot: 490.
    let later = later + 1_000_000;
    sync(500, later, later - 2_000_000).await.unwrap();
    assert!(matches!(
        acquire(491, later).await,
        Ok(Decision::WaitUntil(_))
    ));
    assert_eq!(acquire(490, later).await, Ok(Decision::Admit));
}

/// One run of `COUNT` requests spread over four proxies; its tally.
#[derive(Debug)]
struct Run {
    elapsed_ms: u64,
    statuses: BTreeMap<u16, u32>,
    upstream_429: u64,
}

const RPM: u64 = 2_000;
const COUNT: usize = 400;
const LATENCY_MS: u64 = 20;
/// Of every 10 requests, 7 go to the first proxy and one to each other.
const SKEW: [usize; 10] = [0, 0, 0, 0, 0, 0, 0, 1, 2, 3];

/// The bound: the burst (one second's worth) at once, the rest at the rate, one latency.
fn bound_ms() -> u64 {
    let burst = RPM / 60;
    (COUNT as u64 - burst) * 60_000 / RPM + LATENCY_MS
}

async fn four_proxies(store: Option<&str>) -> Run {
    let rpm = RPM.to_string();
    let (_mock, upstream) = mock_support::start(LATENCY_MS, &["--rpm", &rpm]);
    let model = fresh("claude-shared");
    let mut proxies = Vec::new();
    for _ in 0..4 {
        let mut args = vec!["--rpm", &rpm, "--transit-ms", "250"];
        if let Some(url) = store {
            args.extend_from_slice(&["--store", url]);
        }
        proxies.push(proxy_support::start(&upstream, &args));
    }
    let http = reqwest::Client::new();
    let body = format!(r#"{{"model":"{model}","max_tokens":10,"messages":[]}}"#);
    let started = Instant::now();
    let tasks: Vec<_> = (0..COUNT)
        .map(|i| {
            let url = format!("{}/v1/messages", proxies[SKEW[i % SKEW.len()]].1);
            let (http, body) = (http.clone(), body.clone());
            tokio::spawn(async move {
                match http.post(url).body(body).send().await {
                    Ok(response) => {
                        let status = response.status().as_u16();
                        let _ = response.bytes().await;
                        status
                    }
                    Err(_) => 0,
                }
            })
        })
        .collect();
    let mut statuses = BTreeMap::new();
    for task in tasks {
        *statuses.entry(task.await.unwrap()).or_insert(0) += 1;
    }
    let elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap();
    let mut upstream_429 = 0;
    for (_, base) in &proxies {
        let metrics = proxy_support::metrics(base).await;
        upstream_429 += proxy_support::sample(&metrics, "headroom_proxy_upstream_429_total{");
    }
    Run {
        elapsed_ms,
        statuses,
        upstream_429,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_proxies_one_redis_one_key_skewed_load() {
    let Some(url) = redis_url("four_proxies_one_redis_one_key_skewed_load") else {
        return;
    };
    let shared = four_proxies(Some(&url)).await;
    let alone = four_proxies(None).await;
    let bound = bound_ms();
    let utilisation = |run: &Run| bound * 1_000 / run.elapsed_ms;
    eprintln!(
        "4 proxies, 70/10/10/10, {COUNT} requests at {RPM} RPM (bound {bound} ms):\n  \
         with Redis:    {} ms, utilisation {} ‰, {} 429s from the mock, client statuses {:?}\n  \
         headers only:  {} ms, utilisation {} ‰, {} 429s from the mock, client statuses {:?}",
        shared.elapsed_ms,
        utilisation(&shared),
        shared.upstream_429,
        shared.statuses,
        alone.elapsed_ms,
        utilisation(&alone),
        alone.upstream_429,
        alone.statuses,
    );
    assert_eq!(shared.upstream_429, 0, "{shared:?}");
    assert_eq!(
        shared.statuses.get(&200).copied(),
        Some(COUNT as u32),
        "{shared:?}"
    );
    assert!(
        utilisation(&shared) >= 950,
        "{shared:?} for a bound of {bound} ms"
    );
    // Without the store every request is still answered, by the provider or the proxy.
    assert_eq!(alone.statuses.values().sum::<u32>(), COUNT as u32);
    assert_eq!(alone.statuses.get(&0), None, "{alone:?}");
}

#[tokio::test]
async fn an_unreachable_store_falls_back_to_a_share_of_the_limits() {
    let (_mock, upstream) = mock_support::start(1, &["--rpm", "600"]);
    let closed = proxy_support::closed_address();
    let store = format!("redis://{closed}");
    let (_proxy, base) = proxy_support::start(
        &upstream,
        &[
            "--rpm",
            "600",
            "--store",
            &store,
            "--fallback-permille",
            "500",
        ],
    );
    let body = r#"{"model":"m","max_tokens":5}"#;
    let started = Instant::now();
    for _ in 0..3 {
        let response = reqwest::Client::new()
            .post(format!("{base}/v1/messages"))
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
    }
    assert!(started.elapsed() < Duration::from_secs(5));
    let metrics = proxy_support::metrics(&base).await;
    assert!(metrics.contains("headroom_proxy_store_up 0"), "{metrics}");
    // 600 RPM paced at 98 %, at half of it.
    assert!(
        metrics.contains("headroom_proxy_bucket_limit{lane=\"m\",kind=\"requests\"} 294"),
        "{metrics}"
    );
}
