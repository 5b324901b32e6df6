//! End to end: `headroom proxy` in front of `headroom mock`, driven by a naive client (no
//! limiter, everything sent at once, no retries), as an SDK pointed at the proxy's base URL.
//!
//! The issue's target is 50 RPM / 30 000 ITPM / 8 000 OTPM; a test cannot take six minutes,
//! so every limit is 20 × that (1 000 / 600 000 / 160 000, the same ratios) and the requests
//! are sized so that all three buckets bind and the input one binds last: 300 requests of
//! 2 800 input tokens (bytes ÷ 4, as both the proxy and the mock estimate) and 700 output.
//! The bound is what the provider's buckets allow (each bucket's burst at once, the rest at
//! its rate), plus one response latency.

mod mock_support;
mod proxy_support;

use proxy_support::post;

use std::sync::Arc;
use std::time::{Duration, Instant};

const SCALE: u64 = 20;
const COUNT: u64 = 300;
const INPUT: u64 = 2_800;
const OUTPUT: u64 = 700;
const LATENCY_MS: u64 = 50;

/// A body of exactly `INPUT` × 4 bytes.
fn body() -> String {
    let head = format!(
        r#"{{"model":"claude-sonnet-4-5","max_tokens":{OUTPUT},"messages":[{{"role":"user","content":""#
    );
    let tail = r#""}]}"#;
    let pad = usize::try_from(INPUT * 4).unwrap() - head.len() - tail.len();
    format!("{head}{}{tail}", "x".repeat(pad))
}

/// Milliseconds the provider's buckets need for `COUNT` requests: the slowest bucket's
/// (total − burst) ÷ rate, plus one latency.
fn bound_ms(rpm: u64, itpm: u64, otpm: u64) -> u64 {
    let request_burst = (rpm / 60).max(1);
    let per_bucket = [
        (COUNT, request_burst, rpm),
        (COUNT * INPUT, itpm, itpm),
        (COUNT * OUTPUT, otpm, otpm),
    ];
    let slowest = per_bucket
        .iter()
        .map(|&(total, burst, per_minute)| total.saturating_sub(burst) * 60_000 / per_minute)
        .max()
        .unwrap();
    slowest + LATENCY_MS
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_hundred_naive_requests_no_429_within_ten_percent_of_the_bound() {
    let (rpm, itpm, otpm) = (50 * SCALE, 30_000 * SCALE, 8_000 * SCALE);
    let limits = [rpm.to_string(), itpm.to_string(), otpm.to_string()];
    let flags = [
        "--rpm", &limits[0], "--itpm", &limits[1], "--otpm", &limits[2],
    ];
    let (_mock, upstream) = mock_support::start(LATENCY_MS, &flags);
    let mut args = flags.to_vec();
    args.extend_from_slice(&["--alone", "--transit-ms", "250"]);
    let (_proxy, base) = proxy_support::start(&upstream, &args);

    let http = reqwest::Client::new();
    let url: Arc<str> = format!("{base}/v1/messages").into();
    let body: Arc<str> = body().into();
    assert_eq!(body.len() as u64, INPUT * 4);
    let started = Instant::now();
    let tasks: Vec<_> = (0..COUNT)
        .map(|_| {
            let (http, url, body) = (http.clone(), url.clone(), body.clone());
            tokio::spawn(async move {
                let response = http
                    .post(&*url)
                    .header("x-api-key", "sk-test")
                    .header("content-type", "application/json")
                    .body(body.to_string())
                    .send()
                    .await;
                match response {
                    Ok(response) => {
                        let status = response.status().as_u16();
                        let json: serde_json::Value = response.json().await.unwrap_or_default();
                        (status, json["usage"]["output_tokens"].as_u64())
                    }
                    Err(_) => (0, None),
                }
            })
        })
        .collect();
    let mut statuses = std::collections::BTreeMap::new();
    for task in tasks {
        let (status, output) = task.await.unwrap();
        *statuses.entry(status).or_insert(0_u32) += 1;
        if status == 200 {
            assert_eq!(output, Some(OUTPUT));
        }
    }
    let elapsed = u64::try_from(started.elapsed().as_millis()).unwrap();
    let bound = bound_ms(rpm, itpm, otpm);
    eprintln!(
        "{COUNT} requests through the proxy in {elapsed} ms: bound {bound} ms, ratio {} ‰; statuses {statuses:?}",
        elapsed * 1_000 / bound
    );
    assert_eq!(statuses.get(&429), None, "{statuses:?}");
    assert_eq!(
        statuses.get(&200).copied(),
        Some(COUNT as u32),
        "{statuses:?}"
    );
    assert!(
        elapsed * 100 <= bound * 110,
        "{elapsed} ms for a bound of {bound} ms"
    );
}

#[tokio::test]
async fn bad_input_gets_clear_answers_in_the_providers_shape() {
    let (_mock, upstream) = mock_support::start(1, &["--rpm", "600"]);
    let (_proxy, base) = proxy_support::start(&upstream, &["--max-body-bytes", "1000"]);

    let (status, _, json) = post(&base, "{not json").await;
    assert_eq!(status, 400);
    assert_eq!(json["type"], "error");
    assert_eq!(json["error"]["type"], "invalid_request_error");
    assert!(
        json["error"]["message"]
            .as_str()
            .unwrap()
            .contains("invalid JSON"),
        "{json}"
    );

    let (status, _, json) = post(&base, r#"{"model":"m","max_tokens":"many"}"#).await;
    assert_eq!(
        (status, json["error"]["type"].as_str()),
        (400, Some("invalid_request_error"))
    );

    let (status, _, json) = post(
        &base,
        &format!(
            r#"{{"model":"m","max_tokens":1,"pad":"{}"}}"#,
            "x".repeat(2_000)
        ),
    )
    .await;
    assert_eq!(
        (status, json["error"]["type"].as_str()),
        (413, Some("request_too_large"))
    );

    // A model nobody configured gets a lane of its own and goes through.
    let (status, _, json) = post(
        &base,
        r#"{"model":"some-new-model","max_tokens":5,"messages":[]}"#,
    )
    .await;
    assert_eq!(
        (status, json["model"].as_str()),
        (200, Some("some-new-model"))
    );

    let metrics = proxy_support::metrics(&base).await;
    assert!(
        metrics.contains("headroom_proxy_sent_total{lane=\"some-new-model\"} 1"),
        "{metrics}"
    );
    assert_eq!(
        reqwest::get(format!("{base}/healthz"))
            .await
            .unwrap()
            .status(),
        200
    );
}

#[tokio::test]
async fn an_unreachable_upstream_is_a_502_once_the_deadline_comes() {
    // A port that was free a moment ago: nothing listens there.
    let closed = proxy_support::closed_address();
    let upstream = format!("http://{closed}");
    let (_proxy, base) = proxy_support::start(&upstream, &["--queue-timeout-s", "2"]);
    let started = Instant::now();
    let (status, _, json) = post(&base, r#"{"model":"m","max_tokens":5}"#).await;
    assert_eq!(status, 502, "{json}");
    assert_eq!(json["error"]["type"], "api_error");
    assert!(
        json["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("upstream unreachable"),
        "{json}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn the_queue_deadline_is_a_429_with_a_truthful_retry_after() {
    let (_mock, upstream) = mock_support::start(1, &[]);
    // One request a minute, a queue deadline of one second: the second request's wait would
    // end after its deadline, so it is refused at once.
    let (_proxy, base) = proxy_support::start(&upstream, &["--rpm", "1", "--queue-timeout-s", "1"]);
    let request = r#"{"model":"m","max_tokens":5}"#;
    assert_eq!(post(&base, request).await.0, 200);
    let (status, headers, json) = post(&base, request).await;
    assert_eq!(status, 429, "{json}");
    assert_eq!(json["error"]["type"], "rate_limit_error");
    // The first request took the one permit of 61.2 s (1 a minute paced at 98 %) a moment
    // ago: about 61 s left.
    let after: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((55..=62).contains(&after), "retry-after {after}");
    // It did not wait: the message does not say it did.
    let message = json["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("within the proxy's queue timeout of 1 s, so it was refused at once"),
        "{message}"
    );
    assert!(!message.contains("waited"), "{message}");
    let metrics = proxy_support::metrics(&base).await;
    assert!(
        metrics.contains("headroom_proxy_shed_429_total{lane=\"m\"} 1"),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_request_shed_after_waiting_is_told_how_long_it_waited() {
    // 20 a minute paced at 98 %: one request every 3.06 s, a queue deadline of 4 s. The second
    // request waits at the head of the line for 3.06 s; the third, sent once the second is in
    // the line (and so within 2.1 s of the first: the first answer and one metrics read), waits
    // behind it, and when its turn comes its room (6.12 s after the first) is past its
    // deadline: it is told it waited, and how long (about 3 s less the time it arrived after
    // the first).
    let (_mock, upstream) = mock_support::start(1, &[]);
    let (_proxy, base) =
        proxy_support::start(&upstream, &["--rpm", "20", "--queue-timeout-s", "4"]);
    let request = r#"{"model":"m","max_tokens":5}"#;
    assert_eq!(post(&base, request).await.0, 200);
    let second = tokio::spawn({
        let base = base.clone();
        async move { post(&base, request).await.0 }
    });
    let started = std::time::Instant::now();
    while proxy_support::queue_length(&base, "m").await != 1 {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the second never queued"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let (status, _, json) = post(&base, request).await;
    assert_eq!(status, 429, "{json}");
    let message = json["error"]["message"].as_str().unwrap();
    // "waited 2.9 s" (or, arriving late, "waited 950 ms").
    let waited = message
        .strip_prefix("This request waited ")
        .and_then(|rest| rest.split_once(" in the proxy's queue"))
        .and_then(|(wait, _)| match wait.split_once(' ') {
            Some((seconds, "s")) => seconds.parse::<f64>().ok(),
            Some((ms, "ms")) => ms.parse::<f64>().ok().map(|ms| ms / 1_000.0),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no wait: {message}"));
    assert!((0.5..4.0).contains(&waited), "{message}");
    assert!(
        message.contains("could not get room within the queue timeout of 4 s"),
        "{message}"
    );
    assert_eq!(second.await.unwrap(), 200);
}

#[test]
fn a_config_file_naming_a_lane_twice_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("lanes.json");
    std::fs::write(
        &file,
        r#"{"lanes": {"a": {"models":["x"],"rpm":11}, "a": {"models":["y"],"rpm":13}}}"#,
    )
    .unwrap();
    let file = file.to_str().unwrap();
    assert_cmd::Command::cargo_bin("headroom")
        .unwrap()
        .args(["proxy", "--listen", "127.0.0.1:0", "--upstream", "http://x"])
        .args(["--config", file])
        .timeout(Duration::from_secs(20))
        .assert()
        .code(2)
        .stdout("")
        .stderr(predicates::str::contains(format!(
            "{file}:1:46: lanes: duplicate key `a` in lanes"
        )));
}

#[tokio::test]
async fn a_client_leaving_mid_wait_gives_its_place_back() {
    let (_mock, upstream) = mock_support::start(1, &[]);
    // One a minute paced at 98 %: the next permit is 61.2 s away, within a 120 s deadline.
    let (_proxy, base) =
        proxy_support::start(&upstream, &["--rpm", "1", "--queue-timeout-s", "120"]);
    let request = r#"{"model":"m","max_tokens":5}"#;
    assert_eq!(post(&base, request).await.0, 200);
    // Waits about a minute for the next permit; the client gives up after 500 ms.
    let impatient = reqwest::Client::builder()
        .timeout(Duration::from_millis(500))
        .build()
        .unwrap();
    let waiting = tokio::spawn({
        let url = format!("{base}/v1/messages");
        async move { impatient.post(url).body(request).send().await.is_err() }
    });
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert_eq!(proxy_support::queue_length(&base, "m").await, 1);
    assert!(waiting.await.unwrap(), "the request should have timed out");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(proxy_support::queue_length(&base, "m").await, 0);
}

mod streaming {
    //! Server-sent events pass through chunk by chunk: an upstream that sends one event,
    //! pauses, then sends the rest; the client sees the first event before the pause ends.

    use std::convert::Infallible;
    use std::time::{Duration, Instant};

    use axum::body::{Body, Bytes};
    use axum::response::Response;
    use futures_util::StreamExt as _;

    const PAUSE: Duration = Duration::from_millis(600);

    async fn events() -> Response {
        let first = Bytes::from_static(
            b"event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":3}}}\n\n",
        );
        let last = Bytes::from_static(
            b"event: message_delta\ndata: {\"type\":\"message_delta\",\"usage\":{\"output_tokens\":2}}\n\n",
        );
        let stream = futures_util::stream::iter([first])
            .chain(futures_util::stream::once(async move {
                tokio::time::sleep(PAUSE).await;
                last
            }))
            .map(Ok::<_, Infallible>);
        Response::builder()
            .header("content-type", "text/event-stream")
            .body(Body::from_stream(stream))
            .unwrap()
    }

    #[tokio::test]
    async fn events_pass_through_as_they_come() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let upstream = format!("http://{}", listener.local_addr().unwrap());
        let app = axum::Router::new().route("/v1/messages", axum::routing::post(events));
        tokio::spawn(async move { axum::serve(listener, app).await });
        let (_proxy, base) = super::proxy_support::start(&upstream, &[]);

        let started = Instant::now();
        let response = reqwest::Client::new()
            .post(format!("{base}/v1/messages"))
            .body(r#"{"model":"m","max_tokens":5,"stream":true}"#)
            .send()
            .await
            .unwrap();
        assert_eq!(response.headers()["content-type"], "text/event-stream");
        let mut chunks = response.bytes_stream();
        let first = chunks.next().await.unwrap().unwrap();
        let first_at = started.elapsed();
        assert!(first.starts_with(b"event: message_start"), "{first:?}");
        assert!(first_at < PAUSE / 2, "first event after {first_at:?}");
        let mut rest = Vec::new();
        while let Some(chunk) = chunks.next().await {
            rest.extend_from_slice(&chunk.unwrap());
        }
        assert!(rest.starts_with(b"event: message_delta"));
        assert!(started.elapsed() >= PAUSE);
    }
}

mod retrying {
    //! A 529 is retried by the proxy before any byte went back: the client sees the success.

    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};

    use axum::extract::State;
    use axum::http::StatusCode;
    use axum::response::IntoResponse;

    async fn overloaded_once(State(calls): State<Arc<AtomicU32>>) -> axum::response::Response {
        if calls.fetch_add(1, Ordering::SeqCst) == 0 {
            let body =
                r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#;
            return (
                StatusCode::from_u16(529).unwrap(),
                [("retry-after", "1")],
                body,
            )
                .into_response();
        }
        let body = r#"{"type":"message","usage":{"input_tokens":3,"output_tokens":2}}"#;
        (StatusCode::OK, [("content-type", "application/json")], body).into_response()
    }

    #[tokio::test]
    async fn a_529_is_retried_and_the_client_sees_the_success() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let upstream = format!("http://{}", listener.local_addr().unwrap());
        let calls = Arc::new(AtomicU32::new(0));
        let app = axum::Router::new()
            .route("/v1/messages", axum::routing::post(overloaded_once))
            .with_state(calls.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        let (_proxy, base) = super::proxy_support::start(&upstream, &[]);

        let (status, _, json) = super::post(&base, r#"{"model":"m","max_tokens":5}"#).await;
        assert_eq!(
            (status, json["usage"]["output_tokens"].as_u64()),
            (200, Some(2)),
            "{json}"
        );
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        let metrics = super::proxy_support::metrics(&base).await;
        let retries =
            super::proxy_support::sample(&metrics, "headroom_proxy_retries_total{lane=\"m\"}");
        assert_eq!(retries, 1, "{metrics}");
    }
}

#[test]
fn bad_flags_are_refused_before_listening() {
    for (args, why) in [
        (&["--upstream", "ftp://x"][..], "http:// or https://"),
        (
            &["--upstream", "http://x", "--max-body-bytes", "0"],
            "at least 1",
        ),
        (
            &["--upstream", "http://x", "--queue-timeout-s", "0"],
            "--queue-timeout-s",
        ),
        (&["--upstream", "http://x", "--rpm", "0"], "1 to 4294967295"),
        (
            &["--upstream", "http://x", "--tpm", "4294967296"],
            "1 to 4294967295",
        ),
    ] {
        assert_cmd::Command::cargo_bin("headroom")
            .unwrap()
            .args(["proxy", "--listen", "127.0.0.1:0"])
            .args(args)
            .timeout(Duration::from_secs(20))
            .assert()
            .code(2)
            .stdout("")
            .stderr(predicates::str::contains(why));
    }
}

/// Anthropic counts only the output a request generates, not its `max_tokens`; OpenAI's TPM
/// counts `max_tokens`. With `--output-accounting auto` (the default) a lane charges output as
/// its first request's API counts it. On Anthropic's API a `max_tokens` above the output limit
/// is sent, and a first answer longer than the limit holds makes the next such request wait
/// for room in the proxy's queue (a 429 of the proxy's own once past the queue deadline), not a
/// 400 for a request that could never be sent. On OpenAI's, or with `--output-accounting
/// reserve`, the same request is refused as one that can never fit (on Anthropic's paths the
/// refusal names the flag).
#[tokio::test]
async fn a_max_tokens_above_the_output_limit_is_sent_when_only_generated_output_counts() {
    let (_mock, upstream) = mock_support::start(1, &["--otpm", "8000"]);
    let long = r#"{"model":"m","max_tokens":16000}"#;

    let (_proxy, base) =
        proxy_support::start(&upstream, &["--otpm", "8000", "--queue-timeout-s", "1"]);
    let (status, _, json) = post(&base, long).await;
    assert_eq!(status, 200, "{json}");
    assert_eq!(json["usage"]["output_tokens"], 16_000);
    // The provider's output bucket and the lane's pace are a minute in debt now: the proxy
    // holds the next one back (and, its queue deadline a second away, refuses it at once).
    let (status, headers, json) = post(&base, long).await;
    assert_eq!(
        (status, json["error"]["type"].as_str()),
        (429, Some("rate_limit_error")),
        "{json}"
    );
    assert!(headers.contains_key("retry-after"), "{headers:?}");
    let message = json["error"]["message"].as_str().unwrap();
    assert!(message.contains("queue timeout"), "{message}");
    let metrics = proxy_support::metrics(&base).await;
    assert_eq!(
        proxy_support::sample(&metrics, "headroom_proxy_upstream_429_total{lane=\"m\"}"),
        0,
        "{metrics}"
    );

    // The same request on OpenAI's API, in a lane of its own: `max_tokens` counts there.
    let openai = reqwest::Client::new()
        .post(format!("{base}/v1/chat/completions"))
        .body(r#"{"model":"g","max_tokens":16000,"messages":[]}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(openai.status(), 400);
    let json: serde_json::Value = openai.json().await.unwrap();
    let message = json["error"]["message"].as_str().unwrap();
    assert!(message.contains("counts max_tokens"), "{message}");

    let (_reserving, base) = proxy_support::start(
        &upstream,
        &["--otpm", "8000", "--output-accounting", "reserve"],
    );
    let (status, _, json) = post(&base, long).await;
    assert_eq!(
        (status, json["error"]["type"].as_str()),
        (400, Some("invalid_request_error")),
        "{json}"
    );
    let message = json["error"]["message"].as_str().unwrap();
    assert!(message.contains("--output-accounting actual"), "{message}");
}
