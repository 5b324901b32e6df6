//! Classification, table-driven: every status and body in `docs/protocol.md` §1.6 and §4.

use headroom::classify::GiveUp;
use headroom::classify::{BODY_SCAN_LIMIT, Class, ErrorType, Outcome, Verdict, classify};
use headroom::headers::{Quota, Reset, RetryAfter, Scope, Snapshot};
use headroom::time::{self, UnixTime};

// Bodies, verbatim from protocol.md §1.6.
const NOT_FOUND: &[u8] = br#"{"type":"error","error":{"type":"not_found_error","message":"The requested resource could not be found."},"request_id":"req_011CSHoEeqs5C35K2UUqR7Fy"}"#;
const OVERLOADED: &[u8] =
    br#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#;
const OVERLOADED_ID: &[u8] = br#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"},"request_id":"req_011CXYYF8iKb9TFwRRrbeR2A"}"#;
const OVERLOADED_DETAILS: &[u8] = br#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded","details":null},"request_id":"req_011CXYYF8iKb9TFwRRrbeR2A"}"#;
const SPEND_CAP: &[u8] = "{\"type\":\"error\",\"error\":{\"type\":\"rate_limit_error\",\"message\":\"You have reached your API usage limits: …\",\"details\":{\"error_code\":\"enforced_spend_limit_reached\"}},\"request_id\":\"req_018EeWyXxfu5pfWkrYcMdjWG\"}".as_bytes();
const RATE_LIMIT: &[u8] = br#"{"type":"error","error":{"type":"rate_limit_error","message":"Number of request tokens has exceeded your per-minute rate limit (https://docs.anthropic.com/en/api/rate-limits); see the response headers for current usage."}}"#;
const USER_SPEND_LIMIT: &[u8] = br#"{"type":"error","error":{"type":"invalid_request_error","message":"You have reached your specified API usage limits. You will regain access on 2026-09-01 at 00:00 UTC."}}"#;
// OpenAI's documented shapes (pretty-printed, as the API sends them).
const OPENAI_QUOTA: &[u8] = br#"{
    "error": {
        "message": "You exceeded your current quota, please check your plan and billing details.",
        "type": "insufficient_quota",
        "param": null,
        "code": "insufficient_quota"
    }
}"#;
const OPENAI_RATE_LIMIT: &[u8] = br#"{
    "error": {
        "message": "Rate limit reached for gpt-4o in organization org-x on tokens per min (TPM): Limit 30000, Used 30000, Requested 500.",
        "type": "tokens",
        "param": null,
        "code": "rate_limit_exceeded"
    }
}"#;

fn bare() -> Snapshot {
    Snapshot::default()
}

fn with_should_retry(value: bool) -> Snapshot {
    Snapshot {
        should_retry: Some(value),
        ..Snapshot::default()
    }
}

#[test]
fn status_table() {
    let retry = Outcome::Retry(false);
    let throttled = Outcome::Retry(true);
    let rows: &[(u16, Class, Outcome<bool>)] = &[
        (200, Class::Success, Outcome::Done),
        (201, Class::Success, Outcome::Done),
        (299, Class::Success, Outcome::Done),
        (408, Class::Transient { status: Some(408) }, retry),
        (409, Class::Transient { status: Some(409) }, retry),
        (429, Class::RateLimited { scope: None }, throttled),
        (500, Class::Transient { status: Some(500) }, retry),
        (501, Class::Transient { status: Some(501) }, retry),
        (502, Class::Transient { status: Some(502) }, retry),
        (503, Class::Transient { status: Some(503) }, retry),
        (504, Class::Transient { status: Some(504) }, retry),
        (529, Class::Overloaded, throttled),
        (599, Class::Transient { status: Some(599) }, retry),
        (999, Class::Transient { status: Some(999) }, retry), // the SDKs: any status ≥ 500
        (
            400,
            Class::Fatal { status: 400 },
            Outcome::GiveUp(GiveUp::Fatal { status: 400 }),
        ),
        (
            401,
            Class::Fatal { status: 401 },
            Outcome::GiveUp(GiveUp::Fatal { status: 401 }),
        ),
        (
            403,
            Class::Fatal { status: 403 },
            Outcome::GiveUp(GiveUp::Fatal { status: 403 }),
        ),
        (
            404,
            Class::Fatal { status: 404 },
            Outcome::GiveUp(GiveUp::Fatal { status: 404 }),
        ),
        (
            413,
            Class::Fatal { status: 413 },
            Outcome::GiveUp(GiveUp::Fatal { status: 413 }),
        ),
        (
            402,
            Class::Fatal { status: 402 },
            Outcome::GiveUp(GiveUp::Fatal { status: 402 }),
        ),
        (
            100,
            Class::Fatal { status: 100 },
            Outcome::GiveUp(GiveUp::Fatal { status: 100 }),
        ),
        (
            301,
            Class::Fatal { status: 301 },
            Outcome::GiveUp(GiveUp::Fatal { status: 301 }),
        ),
        (
            0,
            Class::Fatal { status: 0 },
            Outcome::GiveUp(GiveUp::Fatal { status: 0 }),
        ),
    ];
    for &(status, class, outcome) in rows {
        let verdict = classify(status, &bare(), None);
        assert_eq!(verdict.class(), class, "{status}");
        assert_eq!(
            verdict.outcome().map(Class::is_throttling),
            outcome,
            "{status}"
        );
        assert_eq!(verdict.error_type(), None);
    }
}

#[test]
fn transport_errors_are_transient() {
    let verdict = Verdict::transport();
    assert_eq!(verdict.class(), Class::Transient { status: None });
    assert_eq!(
        verdict.outcome().map(Class::is_throttling),
        Outcome::Retry(false)
    );
    assert_eq!(verdict.server_delay(), None);
}

#[test]
fn should_retry_overrides_the_status_both_ways() {
    for status in [408, 409, 429, 500, 503, 529] {
        let verdict = classify(status, &with_should_retry(false), None);
        assert_eq!(
            verdict.outcome().map(Class::is_throttling),
            Outcome::GiveUp(GiveUp::ServerSaidNo),
            "{status}"
        );
        assert_eq!(verdict.server_override(), Some(false));
    }
    for status in [400, 401, 403, 404, 413] {
        let verdict = classify(status, &with_should_retry(true), None);
        assert_eq!(verdict.class(), Class::Fatal { status }, "the class stays");
        assert_eq!(
            verdict.outcome().map(Class::is_throttling),
            Outcome::Retry(false),
            "{status}"
        );
    }
    // The recorded 429 with only `x-should-retry` (protocol.md §1.6).
    let verdict = classify(429, &with_should_retry(true), Some(RATE_LIMIT));
    assert_eq!(
        verdict.outcome().map(Class::is_throttling),
        Outcome::Retry(true)
    );
    // Success is success whatever the header says.
    assert_eq!(
        classify(200, &with_should_retry(false), None).outcome(),
        Outcome::Done
    );
}

#[test]
fn spend_cap_is_never_retried() {
    for snapshot in [bare(), with_should_retry(true), with_should_retry(false)] {
        for body in [SPEND_CAP, OPENAI_QUOTA] {
            let verdict = classify(429, &snapshot, Some(body));
            assert_eq!(verdict.class(), Class::SpendCap);
            assert_eq!(
                verdict.outcome().map(Class::is_throttling),
                Outcome::GiveUp(GiveUp::SpendCap)
            );
        }
    }
    assert_eq!(
        classify(429, &bare(), Some(SPEND_CAP)).error_type(),
        Some(ErrorType::RateLimit)
    );
    assert_eq!(
        classify(429, &bare(), Some(OPENAI_QUOTA)).error_type(),
        Some(ErrorType::InsufficientQuota)
    );
    // The markers only make a spend cap on a 429.
    assert_eq!(
        classify(500, &bare(), Some(SPEND_CAP)).class(),
        Class::Transient { status: Some(500) }
    );
    // The user-set spend limit is a 400: fatal, its type kept.
    let user = classify(400, &bare(), Some(USER_SPEND_LIMIT));
    assert_eq!(user.class(), Class::Fatal { status: 400 });
    assert_eq!(user.error_type(), Some(ErrorType::InvalidRequest));
    // A message that merely mentions the marker is not a spend cap.
    let mention =
        br#"{"error":{"type":"rate_limit_error","message":"not enforced_spend_limit_reached"}}"#;
    assert_eq!(
        classify(429, &bare(), Some(mention)).class(),
        Class::RateLimited { scope: None }
    );
}

#[test]
fn overloaded_bodies() {
    for body in [OVERLOADED, OVERLOADED_ID, OVERLOADED_DETAILS] {
        let verdict = classify(529, &bare(), Some(body));
        assert_eq!(verdict.class(), Class::Overloaded);
        assert_eq!(verdict.error_type(), Some(ErrorType::Overloaded));
        assert_eq!(
            verdict.outcome().map(Class::is_throttling),
            Outcome::Retry(true)
        );
    }
}

#[test]
fn error_types_are_read_and_unknown_is_data() {
    assert_eq!(
        classify(404, &bare(), Some(NOT_FOUND)).error_type(),
        Some(ErrorType::NotFound)
    );
    assert_eq!(
        classify(429, &bare(), Some(RATE_LIMIT)).error_type(),
        Some(ErrorType::RateLimit)
    );
    let openai = classify(429, &bare(), Some(OPENAI_RATE_LIMIT));
    assert_eq!(openai.class(), Class::RateLimited { scope: None });
    let Some(ErrorType::Unknown(span)) = openai.error_type() else {
        panic!("OpenAI's \"tokens\" type is not one we name");
    };
    assert_eq!(span.of(OPENAI_RATE_LIMIT), Some(&b"tokens"[..]));
    let future = br#"{"type":"error","error":{"type":"quota_cooling_error","message":"?"}}"#;
    let verdict = classify(503, &bare(), Some(future));
    assert!(matches!(verdict.error_type(), Some(ErrorType::Unknown(_))));
    assert_eq!(
        verdict.outcome().map(Class::is_throttling),
        Outcome::Retry(false)
    );
    // Bodies of a 2xx are not read (a streamed error after 200 is the caller's business).
    assert_eq!(classify(200, &bare(), Some(OVERLOADED)).error_type(), None);
}

#[test]
fn truncated_and_garbage_bodies() {
    // Cut anywhere: never a panic; the status alone decides the class.
    for body in [SPEND_CAP, OVERLOADED_DETAILS, OPENAI_QUOTA, NOT_FOUND] {
        for cut in 0..=body.len() {
            let part = &body[..cut];
            for status in [400, 429, 529, 500] {
                let _ = classify(status, &bare(), Some(part));
            }
        }
    }
    // Cut inside the spend-cap marker: a plain 429 now (the marker value is incomplete).
    let cut = SPEND_CAP
        .windows(9)
        .position(|w| w == b"enforced_")
        .unwrap()
        + 12;
    assert_eq!(
        classify(429, &bare(), Some(&SPEND_CAP[..cut])).class(),
        Class::RateLimited { scope: None }
    );
    // Cut after the type: still read.
    let part = &OVERLOADED[..50];
    assert_eq!(
        classify(529, &bare(), Some(part)).error_type(),
        Some(ErrorType::Overloaded)
    );
    for garbage in [
        &b""[..],
        b"<html><body>502 Bad Gateway</body></html>",
        b"\"\"\"\"",
        b"\\\\\"type\\\":",
        b"{\"type\":",
        b"{\"type\":\"",
        &[0xff, 0x00, b'"', b'"', b':', b'"', 0x80],
        b"{\"type\" : \"overloaded_error\"",
    ] {
        let verdict = classify(502, &bare(), Some(garbage));
        assert_eq!(verdict.class(), Class::Transient { status: Some(502) });
    }
    // Whitespace around the colon is fine (the last case above).
    assert_eq!(
        classify(529, &bare(), Some(b"{\"type\" : \"overloaded_error\"")).error_type(),
        Some(ErrorType::Overloaded)
    );
    // A huge body is scanned only up to the limit.
    let mut padded = vec![b' '; BODY_SCAN_LIMIT];
    padded.extend_from_slice(SPEND_CAP);
    assert_eq!(
        classify(429, &bare(), Some(&padded)).class(),
        Class::RateLimited { scope: None }
    );
}

fn quota(limit: Option<u64>, remaining: Option<u64>) -> Option<Quota> {
    Some(Quota {
        limit,
        remaining,
        ..Quota::default()
    })
}

#[test]
fn binding_limit_of_a_429() {
    let mut s = bare();
    s.quotas[Scope::Requests.index()] = quota(Some(50), Some(10)); // 20 %
    s.quotas[Scope::InputTokens.index()] = quota(Some(30_000), Some(3_000)); // 10 %
    s.quotas[Scope::OutputTokens.index()] = quota(Some(8_000), Some(4_000)); // 50 %
    let class = classify(429, &s, None).class();
    assert_eq!(
        class,
        Class::RateLimited {
            scope: Some(Scope::InputTokens)
        }
    );
    assert_eq!(class.binding_kind(), Some(headroom::LimitKind::InputTokens));

    // A quota at zero wins even without a limit.
    s.quotas[Scope::Tokens.index()] = quota(None, Some(0));
    assert_eq!(
        classify(429, &s, None).class(),
        Class::RateLimited {
            scope: Some(Scope::Tokens)
        }
    );

    // Two at zero: the one that resets later.
    s.date = Some(UnixTime::from_secs(1_000));
    s.quotas[Scope::Requests.index()] = Some(Quota {
        limit: Some(50),
        remaining: Some(0),
        reset: Some(Reset::At(UnixTime::from_secs(1_001))),
        window: None,
    });
    s.quotas[Scope::OutputTokens.index()] = Some(Quota {
        limit: Some(8_000),
        remaining: Some(0),
        reset: Some(Reset::After(time::secs(40))),
        window: None,
    });
    assert_eq!(
        classify(429, &s, None).class(),
        Class::RateLimited {
            scope: Some(Scope::OutputTokens)
        }
    );

    // Remaining without a limit and above zero says nothing; limit without remaining neither.
    let mut s = bare();
    s.quotas[Scope::Requests.index()] = quota(None, Some(7));
    s.quotas[Scope::InputTokens.index()] = quota(Some(30_000), None);
    assert_eq!(
        classify(429, &s, None).class(),
        Class::RateLimited { scope: None }
    );

    // Priority-tier scopes count too.
    s.quotas[Scope::PriorityOutputTokens.index()] = quota(Some(1_000), Some(1));
    let class = classify(429, &s, None).class();
    assert_eq!(
        class,
        Class::RateLimited {
            scope: Some(Scope::PriorityOutputTokens)
        }
    );
    assert_eq!(
        class.binding_kind(),
        Some(headroom::LimitKind::OutputTokens)
    );

    // Extreme values do not overflow the ratio comparison.
    let mut s = bare();
    s.quotas[Scope::Requests.index()] = quota(Some(u64::MAX), Some(u64::MAX - 1));
    s.quotas[Scope::Tokens.index()] = quota(Some(u64::MAX), Some(u64::MAX));
    assert_eq!(
        classify(429, &s, None).class(),
        Class::RateLimited {
            scope: Some(Scope::Requests)
        }
    );
}

#[test]
fn server_delay_is_carried() {
    let mut s = bare();
    s.retry_after = Some(RetryAfter::Delay(time::secs(20)));
    assert_eq!(classify(429, &s, None).server_delay(), Some(time::secs(20)));
    s.retry_after_ms = Some(time::millis(10));
    assert_eq!(
        classify(500, &s, None).server_delay(),
        Some(time::millis(10))
    );
}
