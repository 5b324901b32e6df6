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
    let body: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(body["type"], "error");
    assert_eq!(body["error"]["type"], "rate_limit_error");
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
