//! `headroom mock`: a real server on an ephemeral port, its headers parsed back by the core.

mod mock_support;

use headroom::headers::{self, Scope};
use mock_support::pairs;

fn start(args: &[&str]) -> (mock_support::Mock, String) {
    mock_support::start(1, args)
}

#[tokio::test]
async fn anthropic_headers_follow_the_buckets_and_the_429_has_the_apis_shape() {
    let (_mock, base) = start(&["--rpm", "120", "--itpm", "30000", "--otpm", "8000"]);
    let client = reqwest::Client::new();
    let send = || {
        client
            .post(format!("{base}/v1/messages"))
            .header("x-mock-input-tokens", "1000")
            .header("x-mock-output-tokens", "100")
            .body(r#"{"model":"claude-sonnet-4-5","max_tokens":500,"messages":[]}"#)
            .send()
    };
    let mut remaining = Vec::new();
    for _ in 0..2 {
        let response = send().await.unwrap();
        assert_eq!(response.status(), 200);
        let snapshot = headers::parse(Some(200), pairs(&response));
        assert!(response.headers().contains_key("request-id"));
        assert!(response.headers().contains_key("date"));
        remaining.push(snapshot.quota(Scope::Requests).unwrap().remaining.unwrap());
        let input = snapshot.quota(Scope::InputTokens).unwrap();
        assert_eq!(input.limit, Some(30_000));
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["usage"]["input_tokens"], 1000);
        assert_eq!(body["usage"]["output_tokens"], 100);
    }
    // 120 RPM with a one-second burst of 2 (the provider's request slice): the headers count
    // down what the mock's bucket holds, and the third request at once is refused.
    assert_eq!(remaining, [1, 0]);
    let refused = send().await.unwrap();
    assert_eq!(refused.status(), 429);
    let snapshot = headers::parse(Some(429), pairs(&refused));
    assert!(snapshot.retry_after.is_some());
    assert_eq!(snapshot.quota(Scope::Requests).unwrap().remaining, Some(0));
    let request_id = refused.headers()["request-id"].to_str().unwrap().to_owned();
    let body: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(body["type"], "error");
    assert_eq!(body["error"]["type"], "rate_limit_error");
    assert_eq!(
        body["request_id"],
        request_id.as_str(),
        "the header's id, repeated"
    );
}

#[tokio::test]
async fn bad_requests_get_the_apis_error_shape_never_a_panic() {
    let (_mock, base) = start(&["--rpm", "50"]);
    let client = reqwest::Client::new();
    for body in [
        "{not json",
        "[]",
        r#"{"model":"m"}"#,
        r#"{"max_tokens":"x","model":"m"}"#,
    ] {
        let response = client
            .post(format!("{base}/v1/messages"))
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{body}");
        let json: serde_json::Value = response.json().await.unwrap();
        assert_eq!(json["error"]["type"], "invalid_request_error", "{body}");
    }
    let wrong = client
        .post(format!("{base}/v1/chat/completions"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 404);
    // Still serving.
    let ok = client
        .post(format!("{base}/v1/messages"))
        .body(r#"{"model":"m","max_tokens":10}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
}

#[tokio::test]
async fn openai_headers_use_go_durations_and_parse_back() {
    let (_mock, base) = start(&["--dialect", "openai", "--rpm", "60", "--tpm", "10000"]);
    let response = reqwest::Client::new()
        .post(format!("{base}/v1/chat/completions"))
        .header("x-mock-input-tokens", "400")
        .body(r#"{"model":"gpt-4o","max_tokens":100,"messages":[]}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let snapshot = headers::parse(Some(200), pairs(&response));
    assert_eq!(snapshot.dialect, headers::Dialect::OpenAi);
    let tokens = snapshot.quota(Scope::Tokens).unwrap();
    assert_eq!(tokens.limit, Some(10_000));
    assert!(
        response.headers()["x-ratelimit-reset-tokens"]
            .to_str()
            .unwrap()
            .ends_with('s')
    );
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["usage"]["total_tokens"], 500);
}

/// Posts a request of `max_tokens` that generates `output` tokens (no input) to the mock at
/// `base` in `dialect`'s shape; the status and the body.
async fn ask(base: &str, openai: bool, max_tokens: u64, output: u64) -> (u16, serde_json::Value) {
    let path = if openai {
        "/v1/chat/completions"
    } else {
        "/v1/messages"
    };
    let response = reqwest::Client::new()
        .post(format!("{base}{path}"))
        .header("x-mock-input-tokens", "0")
        .header("x-mock-output-tokens", output.to_string())
        .body(format!(
            r#"{{"model":"m","max_tokens":{max_tokens},"messages":[]}}"#
        ))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

/// A 429 whose message names the output limit.
fn refused_on_output((status, body): (u16, serde_json::Value)) {
    assert_eq!(status, 429, "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("output tokens"), "{message}");
}

#[tokio::test]
async fn anthropic_counts_output_as_generated_by_default_as_simulate_does() {
    // 2 000 OTPM, 1 000 tokens generated: the bucket holds about 1 000 and is not in debt, so
    // 1 999 of max_tokens are admitted (max_tokens does not factor in), as `simulate` would.
    // (Reserved, 1 999 fit only after 30 s of refill: no race with a slow machine.)
    for flags in [
        &["--otpm", "2000"][..],
        &["--otpm", "2000", "--output-accounting", "actual"],
    ] {
        let (_mock, base) = start(flags);
        assert_eq!(ask(&base, false, 1_000, 1_000).await.0, 200, "{flags:?}");
        let (status, body) = ask(&base, false, 1_999, 1).await;
        assert_eq!(status, 200, "{flags:?}: {body}");
    }
    // Reserved up front (the legacy way, asked for), 1 999 do not fit beside the 1 000 taken.
    let (_mock, base) = start(&["--otpm", "2000", "--output-accounting", "reserve"]);
    assert_eq!(ask(&base, false, 1_000, 1_000).await.0, 200);
    refused_on_output(ask(&base, false, 1_999, 1).await);
}

#[tokio::test]
async fn counted_as_generated_an_output_bucket_in_debt_refuses_and_the_429_says_output() {
    // One request of 500 tokens on a 100 OTPM key is admitted (the bucket is full, nothing is
    // counted before it generates) and leaves the bucket 400 in debt: the next is refused,
    // however small, and the message names the output limit.
    let (_mock, base) = start(&["--otpm", "100"]);
    assert_eq!(ask(&base, false, 500, 500).await.0, 200);
    refused_on_output(ask(&base, false, 1, 1).await);
}

#[tokio::test]
async fn openai_reserves_max_tokens_by_default_unless_asked_otherwise() {
    for (flags, second) in [
        (&["--dialect", "openai", "--tpm", "2000"][..], 429),
        (
            &[
                "--dialect",
                "openai",
                "--tpm",
                "2000",
                "--output-accounting",
                "actual",
            ],
            200,
        ),
    ] {
        let (_mock, base) = start(flags);
        assert_eq!(ask(&base, true, 1_000, 1_000).await.0, 200, "{flags:?}");
        let (status, body) = ask(&base, true, 1_999, 1).await;
        assert_eq!(status, second, "{flags:?}: {body}");
    }
}

#[tokio::test]
async fn reserved_max_tokens_above_the_limit_get_the_simulated_providers_429() {
    // The simulator's provider refuses a need above a bucket's capacity with a 429 and a
    // retry-after of 60 s (it can never fit; `simulate` reports the workload as having no
    // bound): the mock, the same provider, answers the same.
    let (_mock, base) = start(&["--otpm", "2000", "--output-accounting", "reserve"]);
    let response = reqwest::Client::new()
        .post(format!("{base}/v1/messages"))
        .header("x-mock-input-tokens", "0")
        .body(r#"{"model":"m","max_tokens":2001,"messages":[]}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 429);
    assert_eq!(response.headers()["retry-after"], "60");
}

#[test]
fn the_help_lists_output_accounting_and_a_bad_value_is_refused() {
    assert_cmd::Command::cargo_bin("headroom")
        .unwrap()
        .args(["mock", "--help"])
        .assert()
        .success()
        .stdout(predicates::str::contains("--output-accounting"));
    assert_cmd::Command::cargo_bin("headroom")
        .unwrap()
        .args(["mock", "--output-accounting", "later"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("auto, reserve, actual"));
}
