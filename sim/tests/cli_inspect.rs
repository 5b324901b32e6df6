//! `headroom inspect headers`: the JSON contract of `trace-format.md` §2, end to end.

mod support;

use std::io::Write;

use serde_json::{Value, json};
use support::headroom;

fn inspect(block: &str) -> Value {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(block.as_bytes()).unwrap();
    let output = headroom()
        .args(["inspect", "headers"])
        .arg(file.path())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

#[test]
fn anthropic_429() {
    // Shaped after the 429 in whoz-oss/coday#110 (docs/protocol.md §1.1, §1.3).
    let block = "HTTP/1.1 429 Too Many Requests\r\n\
        Date: Tue, 02 Sep 2025 14:03:10 GMT\r\n\
        Content-Type: application/json\r\n\
        retry-after: 16\r\n\
        x-should-retry: true\r\n\
        anthropic-ratelimit-requests-limit: 4000\r\n\
        anthropic-ratelimit-requests-remaining: 3999\r\n\
        anthropic-ratelimit-requests-reset: 2025-09-02T14:03:09Z\r\n\
        anthropic-ratelimit-input-tokens-limit: 200000\r\n\
        anthropic-ratelimit-input-tokens-remaining: 0\r\n\
        anthropic-ratelimit-input-tokens-reset: 2025-09-02T14:04:13Z\r\n\
        anthropic-ratelimit-output-tokens-limit: 80000\r\n\
        anthropic-ratelimit-output-tokens-remaining: 80000\r\n\
        anthropic-ratelimit-output-tokens-reset: 2025-09-02T14:03:10Z\r\n\
        anthropic-ratelimit-tokens-limit: 280000\r\n\
        anthropic-ratelimit-tokens-remaining: 80000\r\n\
        anthropic-ratelimit-tokens-reset: 2025-09-02T14:03:10Z\r\n\
        request-id: req_018EeWyXxfu5pfWkrYcMdjWG\r\n\
        \r\n\
        {\"type\":\"error\"}";
    assert_eq!(
        inspect(block),
        json!({
            "status": 429,
            "dialect": "anthropic",
            "retry_after_ms": 16000,
            "should_retry": true,
            "date": "2025-09-02T14:03:10Z",
            "limits": {
                "requests": {"limit": 4000, "remaining": 3999, "reset": "2025-09-02T14:03:09Z", "reset_in_ms": 0},
                "input_tokens": {"limit": 200000, "remaining": 0, "reset": "2025-09-02T14:04:13Z", "reset_in_ms": 63000},
                "output_tokens": {"limit": 80000, "remaining": 80000, "reset": "2025-09-02T14:03:10Z", "reset_in_ms": 0},
                "tokens": {"limit": 280000, "remaining": 80000, "reset": "2025-09-02T14:03:10Z", "reset_in_ms": 0}
            },
            "ignored": []
        })
    );
}

#[test]
fn openai_block_with_azure_sentinels_and_other_pools() {
    let block = "HTTP/2 200\n\
        x-ratelimit-limit-requests: 500\n\
        x-ratelimit-remaining-requests: 499\n\
        x-ratelimit-reset-requests: 120ms\n\
        x-ratelimit-limit-tokens: -1\n\
        x-ratelimit-remaining-tokens: 29961\n\
        x-ratelimit-reset-tokens: 6m0s\n\
        x-ratelimit-limit-project-tokens: 5000\n\
        openai-processing-ms: 320\n";
    assert_eq!(
        inspect(block),
        json!({
            "status": 200,
            "dialect": "openai",
            "limits": {
                "requests": {"limit": 500, "remaining": 499, "reset_in_ms": 120}
            },
            "ignored": [
                {"name": "x-ratelimit-limit-tokens", "value": "-1", "why": "unlimited (-1 sentinel)"},
                {"name": "x-ratelimit-remaining-tokens", "value": "29961", "why": "unlimited (-1 sentinel)"},
                {"name": "x-ratelimit-reset-tokens", "value": "6m0s", "why": "unlimited (-1 sentinel)"},
                {"name": "x-ratelimit-limit-project-tokens", "value": "5000", "why": "unsupported quota"}
            ]
        })
    );
}

#[test]
fn ietf_block() {
    let block = "HTTP/1.1 429 Too Many Requests\n\
        Date: Mon, 05 Aug 2019 09:27:00 GMT\n\
        Retry-After: Mon, 05 Aug 2019 09:27:05 GMT\n\
        RateLimit-Policy: \"permin\";q=50;w=60,\"perhr\";q=1000;w=3600\n\
        RateLimit: \"permin\";r=0;t=5\n";
    assert_eq!(
        inspect(block),
        json!({
            "status": 429,
            "dialect": "ietf-policies",
            "retry_after": "2019-08-05T09:27:05Z",
            "retry_after_ms": 5000,
            "date": "2019-08-05T09:27:00Z",
            "limits": {
                "requests": {"limit": 50, "remaining": 0, "reset_in_ms": 5000, "window_ms": 60000}
            },
            "ignored": [
                {"name": "RateLimit-Policy", "value": "\"permin\";q=50;w=60,\"perhr\";q=1000;w=3600",
                 "why": "superseded by another field"}
            ]
        })
    );
}

#[test]
fn empty_file() {
    assert_eq!(
        inspect(""),
        json!({"dialect": "none", "limits": {}, "ignored": []})
    );
}

#[test]
fn standard_input() {
    let output = headroom()
        .args(["inspect", "headers", "-"])
        .write_stdin("retry-after: 0.1\r\nx-should-retry: false\r\n")
        .output()
        .unwrap();
    assert!(output.status.success());
    let json: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        json,
        json!({"dialect": "none", "retry_after_ms": 100, "should_retry": false, "limits": {}, "ignored": []})
    );
}

#[test]
fn line_without_colon_is_exit_2_with_position() {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(b"HTTP/1.1 200 OK\nretry-after: 1\nthis line has no colon\n")
        .unwrap();
    let output = headroom()
        .args(["inspect", "headers"])
        .arg(file.path())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(output.stdout.is_empty());
    let stderr = String::from_utf8(output.stderr).unwrap();
    let expected = format!("{}:3:1: ", file.path().display());
    assert!(stderr.contains(&expected), "{stderr}");
}

#[test]
fn unreadable_file_is_exit_2() {
    let output = headroom()
        .args(["inspect", "headers", "/nonexistent/headers.txt"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.contains("/nonexistent/headers.txt: cannot read"),
        "{stderr}"
    );
}

#[test]
fn white_space_alone_is_an_empty_block() {
    let empty = json!({"dialect": "none", "limits": {}, "ignored": []});
    for block in [" ", "  \n\t\n", "\r\n \r\n", "\u{feff}", "\u{feff} \n"] {
        assert_eq!(inspect(block), empty, "{block:?}");
    }
}

#[test]
fn a_byte_order_mark_is_skipped() {
    assert_eq!(
        inspect("\u{feff}HTTP/1.1 429 Too Many Requests\r\nretry-after: 16\r\n")["retry_after_ms"],
        16_000
    );
    assert_eq!(
        inspect("\u{feff}anthropic-ratelimit-requests-limit: 50\n")["limits"]["requests"]["limit"],
        50
    );
}

/// A `retry-after` given as an HTTP-date is shown as the instant it names; its delay in ms only
/// with a `Date` to measure it from (without one it used to vanish from the output).
#[test]
fn a_retry_after_date_is_shown_with_or_without_a_date() {
    let alone =
        inspect("HTTP/1.1 429 Too Many Requests\nretry-after: Wed, 21 Oct 2026 07:28:00 GMT\n");
    assert_eq!(alone["retry_after"], "2026-10-21T07:28:00Z");
    assert!(alone.get("retry_after_ms").is_none());
    let dated = inspect(
        "HTTP/1.1 429 Too Many Requests\nretry-after: Wed, 21 Oct 2026 07:28:00 GMT\n\
         date: Wed, 21 Oct 2026 07:27:00 GMT\n",
    );
    assert_eq!(dated["retry_after"], "2026-10-21T07:28:00Z");
    assert_eq!(dated["retry_after_ms"], 60_000);
    let seconds = inspect("HTTP/1.1 429 Too Many Requests\nretry-after: 16\n");
    assert!(seconds.get("retry_after").is_none());
    assert_eq!(seconds["retry_after_ms"], 16_000);
}
