//! `headroom mock --overloaded` and `--foreign-load`: the provider's bad weather, served for
//! real on an ephemeral port.

mod mock_support;

use std::time::{Duration, Instant};

use headroom::headers::{self, Scope};

/// Posts a Messages request with `input` tokens; the status, the parsed headers and the body.
async fn send(base: &str, input: u64) -> (u16, headers::Snapshot, serde_json::Value) {
    let response = reqwest::Client::new()
        .post(format!("{base}/v1/messages"))
        .header("x-mock-input-tokens", input.to_string())
        .body(r#"{"model":"claude-sonnet-4-5","max_tokens":10,"messages":[]}"#)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let snapshot = headers::parse(Some(status), mock_support::pairs(&response));
    (status, snapshot, response.json().await.unwrap())
}

#[tokio::test]
async fn a_529_with_the_overloaded_body_during_the_window_none_after() {
    // The mock starts before it prints its address: its clock is ahead of `started`.
    let started = Instant::now();
    let (_mock, base) = mock_support::start(1, &["--rpm", "600", "--overloaded", "0:2.5,60:70"]);
    for _ in 0..3 {
        let (status, snapshot, body) = send(&base, 100).await;
        assert!(
            started.elapsed() < Duration::from_millis(2_500),
            "too slow to test the window"
        );
        assert_eq!(status, 529);
        assert_eq!(snapshot.should_retry, Some(true));
        let request_id = body["request_id"].as_str().unwrap_or_default().to_owned();
        assert!(request_id.starts_with("req_mock_"), "{body}");
        assert_eq!(
            body,
            serde_json::json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}, "request_id": request_id})
        );
    }
    tokio::time::sleep_until((started + Duration::from_millis(2_700)).into()).await;
    for _ in 0..3 {
        let (status, snapshot, body) = send(&base, 100).await;
        assert_eq!(status, 200, "{body}");
        // A 529 charged nothing: the requests bucket (one second's worth: 10) lost only these.
        assert!(snapshot.quota(Scope::Requests).unwrap().remaining.unwrap() >= 7);
    }
}

#[tokio::test]
async fn a_foreign_load_lowers_the_remaining_a_client_reads() {
    // 60 000 ITPM: a bucket of 60 000 input tokens refilled at 1 000 a second. The client takes
    // 55 000 at once, then reads what is left 4 s later: alone, 5 000 + 4 000 refilled, less
    // its second request's 1 000; beside a consumer using 80 % of every limit (80 arrivals a
    // second, 10 input tokens each), about 3 200 fewer.
    let limits = ["--rpm", "6000", "--itpm", "60000"];
    let (_alone, alone) = mock_support::start(1, &limits);
    let (_shared, shared) =
        mock_support::start(1, &[&limits[..], &["--foreign-load", "0.8"]].concat());
    let remaining_after = |base: String| async move {
        let (status, _, body) = send(&base, 55_000).await;
        assert_eq!(status, 200, "{body}");
        tokio::time::sleep(Duration::from_secs(4)).await;
        let (status, snapshot, body) = send(&base, 1_000).await;
        assert_eq!(status, 200, "{body}");
        snapshot
            .quota(Scope::InputTokens)
            .unwrap()
            .remaining
            .unwrap()
    };
    let (alone, shared) = tokio::join!(remaining_after(alone), remaining_after(shared));
    eprintln!("input tokens left after 4 s: alone {alone}, beside a foreign load {shared}");
    assert!(
        (7_000..=9_000).contains(&alone),
        "alone on the key: {alone} input tokens left"
    );
    assert!(
        shared + 2_000 <= alone,
        "with a foreign load {shared} left, alone {alone}"
    );
}

#[test]
fn a_bad_window_or_load_is_refused_with_the_value_named() {
    for (flag, value, why) in [
        ("--overloaded", "0:5,9:3", "END must be after START: 9:3"),
        ("--overloaded", "30", "expected START:END in seconds: 30"),
        (
            "--foreign-load",
            "1",
            "the foreign load must leave something: 1",
        ),
    ] {
        assert_cmd::Command::cargo_bin("headroom")
            .unwrap()
            .args(["mock", "--listen", "127.0.0.1:0", flag, value])
            .assert()
            .code(2)
            .stderr(predicates::str::contains(why));
    }
}

#[test]
fn a_limit_of_zero_or_beyond_u32_is_refused_with_the_range() {
    use predicates::prelude::*;

    for flag in ["--rpm", "--itpm", "--otpm", "--tpm"] {
        for value in ["0", "4294967296"] {
            assert_cmd::Command::cargo_bin("headroom")
                .unwrap()
                .args(["mock", "--listen", "127.0.0.1:0", flag, value])
                .assert()
                .code(2)
                .stderr(
                    predicates::str::contains(flag)
                        .and(predicates::str::contains("1 to 4294967295")),
                );
        }
    }
}
