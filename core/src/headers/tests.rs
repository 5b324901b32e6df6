//! Vendor dialects, retry fields and the quirks of `docs/protocol.md` §1, §2 and §4.
//!
//! Blocks "shaped after" a source reproduce the values the notes quote; other fields of those
//! responses (ids, unrelated limits) are filled in plausibly.

use super::*;
#[cfg(any(feature = "anthropic", feature = "openai"))]
use crate::datetime::parse_rfc3339;
#[cfg(any(feature = "anthropic", feature = "openai"))]
use crate::time::Duration;
use crate::time::{self, UnixTime};

#[cfg(any(feature = "anthropic", feature = "openai"))]
fn at(rfc3339: &str) -> UnixTime {
    parse_rfc3339(rfc3339.as_bytes()).unwrap()
}

fn ignored(snapshot: &Snapshot) -> Vec<(u16, HeaderError)> {
    snapshot.ignored.iter().map(|i| (i.index, i.why)).collect()
}

#[cfg(any(feature = "anthropic", feature = "openai"))]
fn quota(snapshot: &Snapshot, scope: Scope) -> Quota {
    *snapshot.quota(scope).unwrap()
}

/// Shaped after the 429 in whoz-oss/coday#110: tokens-limit 280 000 = 200 000 input + 80 000
/// output; tokens-remaining 80 000 = 0 + 80 000; input reset 63 s after the others;
/// `retry-after: 16`.
#[cfg(feature = "anthropic")]
const ANTHROPIC_429: &[(&str, &str)] = &[
    ("date", "Tue, 02 Sep 2025 14:03:10 GMT"),
    ("content-type", "application/json"),
    ("retry-after", "16"),
    ("x-should-retry", "true"),
    ("anthropic-ratelimit-requests-limit", "4000"),
    ("anthropic-ratelimit-requests-remaining", "3999"),
    ("anthropic-ratelimit-requests-reset", "2025-09-02T14:03:10Z"),
    ("anthropic-ratelimit-input-tokens-limit", "200000"),
    ("anthropic-ratelimit-input-tokens-remaining", "0"),
    (
        "anthropic-ratelimit-input-tokens-reset",
        "2025-09-02T14:04:13Z",
    ),
    ("anthropic-ratelimit-output-tokens-limit", "80000"),
    ("anthropic-ratelimit-output-tokens-remaining", "80000"),
    (
        "anthropic-ratelimit-output-tokens-reset",
        "2025-09-02T14:03:10Z",
    ),
    ("anthropic-ratelimit-tokens-limit", "280000"),
    ("anthropic-ratelimit-tokens-remaining", "80000"),
    ("anthropic-ratelimit-tokens-reset", "2025-09-02T14:03:10Z"),
    ("request-id", "req_018EeWyXxfu5pfWkrYcMdjWG"),
];

#[cfg(feature = "anthropic")]
#[test]
fn anthropic_429_combined_tokens() {
    let s = parse(Some(429), ANTHROPIC_429.iter().copied());
    assert_eq!(s.status, Some(429));
    assert_eq!(s.dialect, Dialect::Anthropic);
    assert_eq!(s.should_retry, Some(true));
    assert_eq!(s.retry_after, Some(RetryAfter::Delay(time::secs(16))));
    assert_eq!(s.server_delay(), Some(time::secs(16)));
    assert_eq!(s.date, Some(at("2025-09-02T14:03:10Z")));
    assert!(s.ignored.is_empty(), "{:?}", s.ignored);
    let input = quota(&s, Scope::InputTokens);
    let output = quota(&s, Scope::OutputTokens);
    let tokens = quota(&s, Scope::Tokens);
    assert_eq!(input.limit, Some(200_000));
    assert_eq!(input.remaining, Some(0));
    assert_eq!(input.reset_in(s.date), Some(time::secs(63)));
    // Combined bucket: limit and remaining are the sums of input and output.
    assert_eq!(
        tokens.limit,
        Some(input.limit.unwrap() + output.limit.unwrap())
    );
    assert_eq!(
        tokens.remaining,
        Some(input.remaining.unwrap() + output.remaining.unwrap())
    );
    // Resets "now" are already full.
    assert_eq!(
        quota(&s, Scope::Requests).reset_in(s.date),
        Some(Duration::ZERO)
    );
}

#[cfg(feature = "anthropic")]
#[test]
fn anthropic_resets_at_or_before_date_mean_full() {
    // tidyllm 2025-08: Date 12:41:00, reset 12:40:59Z.
    let s = parse(
        Some(200),
        [
            ("Date", "Thu, 21 Aug 2025 12:41:00 GMT"),
            ("anthropic-ratelimit-requests-reset", "2025-08-21T12:40:59Z"),
        ],
    );
    let requests = quota(&s, Scope::Requests);
    assert_eq!(requests.reset, Some(Reset::At(at("2025-08-21T12:40:59Z"))));
    assert_eq!(requests.reset_in(s.date), Some(Duration::ZERO));
    // tidyllm 2025-03: Date 08:22:39, reset 08:22:33Z.
    let s = parse(
        None,
        [
            ("date", "Mon, 10 Mar 2025 08:22:39 GMT"),
            ("anthropic-ratelimit-tokens-reset", "2025-03-10T08:22:33Z"),
        ],
    );
    assert_eq!(
        quota(&s, Scope::Tokens).reset_in(s.date),
        Some(Duration::ZERO)
    );
    // anthropic-sdk-typescript#357 (March 2024): minute boundary, Date one second before.
    let s = parse(
        Some(429),
        [
            ("date", "Tue, 26 Mar 2024 19:59:59 GMT"),
            ("anthropic-ratelimit-requests-reset", "2024-03-26T20:00:00Z"),
            ("anthropic-ratelimit-tokens-reset", "2024-03-26T20:00:00Z"),
        ],
    );
    assert_eq!(
        quota(&s, Scope::Requests).reset_in(s.date),
        Some(time::secs(1))
    );
    assert_eq!(
        quota(&s, Scope::Tokens).reset_in(s.date),
        Some(time::secs(1))
    );
}

#[cfg(feature = "anthropic")]
#[test]
fn anthropic_200_snapshotted_at_different_moments() {
    // anthropic-sdk-python tests, 2026-02: 38 000 = 30 000 + 8 000; requests reset earlier.
    let s = parse(
        Some(200),
        [
            ("date", "Tue, 10 Feb 2026 20:02:31 GMT"),
            ("anthropic-ratelimit-requests-limit", "50"),
            ("anthropic-ratelimit-requests-remaining", "49"),
            ("anthropic-ratelimit-requests-reset", "2026-02-10T20:02:32Z"),
            ("anthropic-ratelimit-input-tokens-limit", "30000"),
            ("anthropic-ratelimit-input-tokens-remaining", "30000"),
            (
                "anthropic-ratelimit-input-tokens-reset",
                "2026-02-10T20:02:36Z",
            ),
            ("anthropic-ratelimit-output-tokens-limit", "8000"),
            ("anthropic-ratelimit-output-tokens-remaining", "8000"),
            (
                "anthropic-ratelimit-output-tokens-reset",
                "2026-02-10T20:02:37Z",
            ),
            ("anthropic-ratelimit-tokens-limit", "38000"),
            ("anthropic-ratelimit-tokens-remaining", "38000"),
            ("anthropic-ratelimit-tokens-reset", "2026-02-10T20:02:36Z"),
        ],
    );
    assert!(s.ignored.is_empty());
    assert_eq!(
        quota(&s, Scope::Requests).reset_in(s.date),
        Some(time::secs(1))
    );
    assert_eq!(
        quota(&s, Scope::OutputTokens).reset_in(s.date),
        Some(time::secs(6))
    );
    assert_eq!(quota(&s, Scope::Tokens).limit, Some(38_000));
}

#[cfg(feature = "anthropic")]
#[test]
fn anthropic_priority_and_fast_scopes() {
    let s = parse(
        None,
        [
            ("anthropic-priority-input-tokens-limit", "1000"),
            ("anthropic-priority-output-tokens-remaining", "10"),
            ("anthropic-fast-input-tokens-reset", "2025-01-01T00:00:00Z"),
            ("ANTHROPIC-FAST-OUTPUT-TOKENS-LIMIT", "20"),
            ("anthropic-ratelimit-unified-status", "allowed"),
            ("anthropic-workspace-id", "wrkspc_01"),
        ],
    );
    assert_eq!(
        s.quota(Scope::PriorityInputTokens).unwrap().limit,
        Some(1000)
    );
    assert_eq!(
        s.quota(Scope::PriorityOutputTokens).unwrap().remaining,
        Some(10)
    );
    assert!(s.quota(Scope::FastInputTokens).unwrap().reset.is_some());
    assert_eq!(s.quota(Scope::FastOutputTokens).unwrap().limit, Some(20));
    assert_eq!(ignored(&s), [(4, HeaderError::Unsupported)]);
}

#[cfg(feature = "anthropic")]
#[test]
fn anthropic_rounded_token_remaining() {
    // Rounded to the nearest thousand: with limit 1 500 a nearly full bucket reads 2 000.
    let s = parse(
        None,
        [
            ("anthropic-ratelimit-input-tokens-limit", "1500"),
            ("anthropic-ratelimit-input-tokens-remaining", "2000"),
            ("anthropic-ratelimit-output-tokens-limit", "1400"),
            ("anthropic-ratelimit-output-tokens-remaining", "2000"),
            ("anthropic-ratelimit-requests-limit", "50"),
            ("anthropic-ratelimit-requests-remaining", "51"),
        ],
    );
    assert_eq!(quota(&s, Scope::InputTokens).remaining, Some(1500));
    // 2 000 cannot be the rounding of anything ≤ 1 400: dropped, limit kept.
    assert_eq!(quota(&s, Scope::OutputTokens).remaining, None);
    assert_eq!(quota(&s, Scope::OutputTokens).limit, Some(1400));
    // Requests are exact: any excess is nonsense.
    assert_eq!(quota(&s, Scope::Requests).remaining, None);
    assert_eq!(
        ignored(&s),
        [
            (3, HeaderError::RemainingAboveLimit),
            (5, HeaderError::RemainingAboveLimit)
        ]
    );
}

#[cfg(feature = "openai")]
#[test]
fn openai_documented_samples() {
    let s = parse(
        Some(200),
        [
            ("x-ratelimit-limit-requests", "60"),
            ("x-ratelimit-limit-tokens", "150000"),
            ("x-ratelimit-remaining-requests", "59"),
            ("x-ratelimit-remaining-tokens", "149984"),
            ("x-ratelimit-reset-requests", "1s"),
            ("x-ratelimit-reset-tokens", "6m0s"),
            ("openai-processing-ms", "120"),
        ],
    );
    assert_eq!(s.dialect, Dialect::OpenAi);
    assert!(s.ignored.is_empty());
    let requests = quota(&s, Scope::Requests);
    assert_eq!(requests.limit, Some(60));
    assert_eq!(requests.remaining, Some(59));
    assert_eq!(requests.reset, Some(Reset::After(time::secs(1))));
    let tokens = quota(&s, Scope::Tokens);
    assert_eq!(tokens.limit, Some(150_000));
    assert_eq!(tokens.remaining, Some(149_984));
    assert_eq!(tokens.reset_in(None), Some(time::secs(360)));
}

#[cfg(feature = "openai")]
#[test]
fn openai_reset_is_time_to_full_truncated_to_ms() {
    // §2.2: (limit, remaining, header); reset = (limit − remaining) × 60 s / limit, truncated.
    let rows: &[(u64, u64, &str)] = &[
        (500, 499, "120ms"),
        (30_000, 29_961, "78ms"),
        (30_000, 29_957, "86ms"),
        (30_000, 29_996, "8ms"),
        (5_000, 4_999, "12ms"),
        (3_500, 3_499, "17ms"),
        (160_000, 159_976, "9ms"),
        (800_000, 798_962, "77ms"),
        (800_000, 799_986, "1ms"),
        (5_000_000, 4_999_944, "0s"),
    ];
    for &(limit, remaining, header) in rows {
        let (limit_text, remaining_text) = (limit.to_string(), remaining.to_string());
        let s = parse(
            None,
            [
                ("x-ratelimit-limit-tokens", limit_text.as_str()),
                ("x-ratelimit-remaining-tokens", remaining_text.as_str()),
                ("x-ratelimit-reset-tokens", header),
            ],
        );
        let tokens = quota(&s, Scope::Tokens);
        let predicted_ms = (limit - remaining) * 60_000 / limit;
        assert_eq!(
            tokens.reset,
            Some(Reset::After(time::millis(predicted_ms))),
            "{header}"
        );
        assert_eq!(
            (tokens.limit, tokens.remaining),
            (Some(limit), Some(remaining))
        );
    }
    // The outlier: 800000 / 799960 predicts 3 ms, the header said 2ms. Parsed as sent.
    let s = parse(None, [("x-ratelimit-reset-tokens", "2ms")]);
    assert_eq!(
        quota(&s, Scope::Tokens).reset,
        Some(Reset::After(time::millis(2)))
    );
}

#[cfg(feature = "openai")]
#[test]
fn openai_compatible_durations_and_timestamps() {
    for (value, want) in [
        ("2m59.56s", Reset::After(time::millis(179_560))),
        ("7.66s", Reset::After(time::millis(7_660))),
        ("41.2s", Reset::After(time::millis(41_200))),
        ("1m26.4s", Reset::After(time::millis(86_400))),
        ("15h7m12s", Reset::After(time::secs(54_432))),
        ("800ms", Reset::After(time::millis(800))),
        (
            "2025-08-21T12:40:59Z",
            Reset::At(at("2025-08-21T12:40:59Z")),
        ),
        ("60", Reset::After(time::secs(60))),
    ] {
        let s = parse(None, [("x-ratelimit-reset-requests", value)]);
        assert_eq!(quota(&s, Scope::Requests).reset, Some(want), "{value}");
    }
    for (value, why) in [
        ("soon", HeaderError::BadDuration),
        ("5 s", HeaderError::BadDuration),
        ("2025-13-01T00:00:00Z", HeaderError::BadTimestamp),
        ("-1", HeaderError::Negative),
        ("", HeaderError::Empty),
        ("99999999999999999999", HeaderError::NumberTooLarge),
        ("99999999999999999999h", HeaderError::NumberTooLarge),
    ] {
        let s = parse(None, [("x-ratelimit-reset-requests", value)]);
        assert_eq!(ignored(&s), [(0, why)], "{value}");
        assert_eq!(s.quota(Scope::Requests), None);
    }
}

#[cfg(feature = "openai")]
#[test]
fn azure_sentinels() {
    // openai/openai-dotnet#838: `-1` limit and remaining with reset `0` mean "unlimited": the
    // dimension is no quota at all, and each of its fields is reported as such.
    let s = parse(
        Some(200),
        [
            ("x-ratelimit-limit-tokens", "-1"),
            ("x-ratelimit-remaining-tokens", "-1"),
            ("x-ratelimit-reset-tokens", "0"),
            ("x-ratelimit-limit-requests", "100"),
            ("x-ratelimit-remaining-requests", "99"),
        ],
    );
    assert_eq!(s.dialect, Dialect::OpenAi);
    assert_eq!(
        ignored(&s),
        [
            (0, HeaderError::Unlimited),
            (1, HeaderError::Unlimited),
            (2, HeaderError::Unlimited)
        ]
    );
    assert_eq!(s.quota(Scope::Tokens), None);
    assert_eq!(quota(&s, Scope::Requests).remaining, Some(99));
    // In any order, and one `-1` is enough: the other fields of the dimension go too.
    let s = parse(
        None,
        [
            ("x-ratelimit-reset-tokens", "0"),
            ("x-ratelimit-limit-tokens", "150000"),
            ("x-ratelimit-remaining-tokens", "-1"),
        ],
    );
    assert_eq!(s.quota(Scope::Tokens), None);
    assert_eq!(
        ignored(&s),
        [
            (0, HeaderError::Unlimited),
            (1, HeaderError::Unlimited),
            (2, HeaderError::Unlimited)
        ]
    );
    // Another negative is still malformed, and leaves the rest of the quota alone.
    let s = parse(
        None,
        [
            ("x-ratelimit-limit-tokens", "-2"),
            ("x-ratelimit-reset-tokens", "0"),
        ],
    );
    assert_eq!(ignored(&s), [(0, HeaderError::Negative)]);
    assert_eq!(
        quota(&s, Scope::Tokens).reset,
        Some(Reset::After(Duration::ZERO))
    );
}

#[cfg(feature = "openai")]
#[test]
fn openai_other_pools_are_reported_not_mapped() {
    let s = parse(
        None,
        [
            ("x-ratelimit-limit-tokens_usage_based", "1000000"),
            ("x-ratelimit-remaining-tokens_usage_based", "999000"),
            ("x-ratelimit-reset-tokens_usage_based", "60ms"),
            ("x-ratelimit-limit-project-tokens", "5000"),
            ("x-ratelimit-reset-project-tokens", "3s"),
            ("x-ratelimit-limit-tokens", "30000"),
            ("x-ratelimit-limit-input-tokens", "20000"),
        ],
    );
    assert_eq!(quota(&s, Scope::Tokens).limit, Some(30_000));
    assert_eq!(quota(&s, Scope::InputTokens).limit, Some(20_000));
    let reasons = ignored(&s);
    assert_eq!(reasons.len(), 5);
    assert!(
        reasons
            .iter()
            .all(|&(_, why)| why == HeaderError::Unsupported)
    );
}

#[test]
fn absent_headers() {
    // openai-node#1477 / community 935514: no rate-limit fields at all.
    let s = parse(Some(429), [("content-type", "application/json")]);
    assert_eq!(s.dialect, Dialect::None);
    assert!(s.quotas.iter().all(Option::is_none));
    assert!(s.ignored.is_empty());
    assert_eq!(s.server_delay(), None);
    // better-ccflare#301: a bare 429 with only x-should-retry.
    let s = parse(Some(429), [("x-should-retry", "false")]);
    assert_eq!(s.should_retry, Some(false));
    assert_eq!(s.dialect, Dialect::None);
    let empty: [(&str, &str); 0] = [];
    assert_eq!(parse(None, empty), Snapshot::default());
}

/// The mocked clock of the SDK tables, as the response's `Date`.
const SDK_NOW: &str = "Fri, 29 Sep 2023 16:26:37 GMT";

#[test]
fn sdk_retry_after_tables_at_parse_level() {
    // §4.1 and §4.3: value → the server delay the parser reports (or why it is ignored).
    let ok: &[(&str, u64)] = &[
        ("20", 20_000),
        ("0", 0),
        ("60", 60_000),
        ("61", 61_000),
        ("120", 120_000),
        ("121", 121_000),
        ("0.1", 100),
        ("Fri, 29 Sep 2023 16:26:57 GMT", 20_000),
        ("Fri, 29 Sep 2023 16:26:37 GMT", 0),
        ("Fri, 29 Sep 2023 16:26:27 GMT", 0), // before Date: zero
        ("Fri, 29 Sep 2023 16:27:37 GMT", 60_000),
        ("Fri, 29 Sep 2023 16:27:38 GMT", 61_000),
        ("Fri, 29 Sep 2023 16:28:37 GMT", 120_000),
        ("Fri, 29 Sep 2023 16:28:38 GMT", 121_000),
    ];
    for &(value, ms) in ok {
        let s = parse(Some(429), [("date", SDK_NOW), ("retry-after", value)]);
        assert!(s.ignored.is_empty(), "{value}");
        assert_eq!(s.server_delay(), Some(time::millis(ms)), "{value}");
    }
    let bad: &[(&str, HeaderError)] = &[
        ("-10", HeaderError::Negative),
        (
            "99999999999999999999999999999999999",
            HeaderError::NumberTooLarge,
        ),
        ("Zun, 29 Sep 2023 16:26:27 GMT", HeaderError::BadTimestamp),
        ("Fri, 29 Sep 100000 16:26:57 GMT", HeaderError::BadTimestamp),
        ("inf", HeaderError::NotANumber),
        ("nan", HeaderError::NotANumber),
        ("", HeaderError::Empty),
        ("20abc", HeaderError::NotANumber),
    ];
    for &(value, why) in bad {
        let s = parse(Some(429), [("date", SDK_NOW), ("retry-after", value)]);
        assert_eq!(ignored(&s), [(1, why)], "{value:?}");
        assert_eq!(s.server_delay(), None, "{value:?}");
    }
}

#[test]
fn retry_after_ms_and_precedence() {
    // §4.3 max-delay table, parse level.
    for (value, ms) in [("120000", 120_000), ("120001", 120_001), ("10", 10)] {
        let s = parse(Some(429), [("retry-after-ms", value)]);
        assert_eq!(s.server_delay(), Some(time::millis(ms)));
    }
    let s = parse(Some(429), [("retry-after", "20"), ("retry-after-ms", "10")]);
    assert_eq!(s.retry_after, Some(RetryAfter::Delay(time::secs(20))));
    assert_eq!(s.server_delay(), Some(time::millis(10)));
    assert!(s.ignored.is_empty());
    let s = parse(Some(429), [("retry-after-ms", "-5"), ("retry-after", "2")]);
    assert_eq!(ignored(&s), [(0, HeaderError::Negative)]);
    assert_eq!(s.server_delay(), Some(time::secs(2)));
    // An HTTP-date without Date cannot be turned into a delay.
    let s = parse(
        Some(429),
        [("retry-after", "Fri, 29 Sep 2023 16:26:57 GMT")],
    );
    assert_eq!(s.server_delay(), None);
}

#[test]
fn should_retry_and_date_values() {
    for (value, want) in [
        ("true", true),
        ("false", false),
        ("TRUE", true),
        (" False ", false),
    ] {
        let s = parse(None, [("X-Should-Retry", value)]);
        assert_eq!(s.should_retry, Some(want));
    }
    let s = parse(None, [("x-should-retry", "maybe"), ("date", "yesterday")]);
    assert_eq!(
        ignored(&s),
        [(0, HeaderError::BadBool), (1, HeaderError::BadTimestamp)]
    );
    let s = parse(None, [("Date", "Sunday, 06-Nov-94 08:49:37 GMT")]);
    assert_eq!(s.date, Some(UnixTime::from_secs(784_111_777)));
}

#[cfg(feature = "openai")]
#[test]
fn numbers_and_limits() {
    let cases: &[(&str, HeaderError)] = &[
        ("0", HeaderError::ZeroLimit),
        ("-1", HeaderError::Unlimited),
        ("-2", HeaderError::Negative),
        ("18446744073709551616", HeaderError::NumberTooLarge),
        ("1.5", HeaderError::NotANumber),
        ("+5", HeaderError::NotANumber),
        ("ten", HeaderError::NotANumber),
        ("  ", HeaderError::Empty),
    ];
    for &(value, why) in cases {
        let s = parse(None, [("x-ratelimit-limit-requests", value)]);
        assert_eq!(ignored(&s), [(0, why)], "{value:?}");
        assert!(s.quota(Scope::Requests).is_none());
    }
    let s = parse(None, [("x-ratelimit-remaining-requests", "0")]);
    assert_eq!(quota(&s, Scope::Requests).remaining, Some(0));
    let s = parse(
        None,
        [("x-ratelimit-limit-requests", " \t18446744073709551615\t ")],
    );
    assert_eq!(quota(&s, Scope::Requests).limit, Some(u64::MAX));
}

#[cfg(feature = "openai")]
#[test]
fn remaining_above_limit_drops_remaining() {
    let s = parse(
        None,
        [
            ("x-ratelimit-remaining-requests", "11"),
            ("x-ratelimit-limit-requests", "10"),
        ],
    );
    let requests = quota(&s, Scope::Requests);
    assert_eq!((requests.limit, requests.remaining), (Some(10), None));
    assert_eq!(ignored(&s), [(0, HeaderError::RemainingAboveLimit)]);
}

#[cfg(feature = "openai")]
#[test]
fn duplicates_first_valid_wins() {
    let s = parse(
        None,
        [
            ("x-ratelimit-limit-requests", "oops"),
            ("x-ratelimit-limit-requests", "60"),
            ("X-RateLimit-Limit-Requests", "60"),
            ("x-ratelimit-limit-requests", "70"),
            ("retry-after", "1"),
            ("retry-after", "2"),
            ("date", "Fri, 29 Sep 2023 16:26:37 GMT"),
            ("date", "Fri, 29 Sep 2023 16:26:37 GMT"),
        ],
    );
    assert_eq!(quota(&s, Scope::Requests).limit, Some(60));
    assert_eq!(s.retry_after, Some(RetryAfter::Delay(time::secs(1))));
    assert_eq!(
        ignored(&s),
        [
            (0, HeaderError::NotANumber),
            (3, HeaderError::Duplicate),
            (5, HeaderError::Duplicate)
        ]
    );
}

#[cfg(all(feature = "anthropic", feature = "openai", feature = "ietf"))]
#[test]
fn first_family_wins() {
    let s = parse(
        None,
        [
            ("anthropic-ratelimit-requests-limit", "50"),
            ("x-ratelimit-limit-requests", "1000"),
            ("RateLimit", "limit=5, remaining=1, reset=1"),
            ("ratelimit-remaining", "3"),
        ],
    );
    assert_eq!(s.dialect, Dialect::Anthropic);
    assert_eq!(quota(&s, Scope::Requests).limit, Some(50));
    assert_eq!(
        ignored(&s),
        [
            (1, HeaderError::Superseded),
            (2, HeaderError::Superseded),
            (3, HeaderError::Superseded)
        ]
    );
}

#[cfg(feature = "openai")]
#[test]
fn ignored_overflow_is_counted() {
    let pairs: Vec<(String, &str)> = (0..12)
        .map(|i| {
            (
                "x-ratelimit-limit-requests".to_string(),
                if i == 0 { "1" } else { "x" },
            )
        })
        .collect();
    let s = parse(None, pairs);
    assert_eq!(s.ignored.len(), IGNORED_CAPACITY);
    assert_eq!(usize::from(s.ignored_dropped), 11 - IGNORED_CAPACITY);
    // Names and values of any type that gives bytes.
    let s = parse(
        None,
        [(b"date".to_vec(), b"Sun, 06 Nov 1994 08:49:37 GMT".to_vec())],
    );
    assert!(s.date.is_some());
}

#[test]
fn hostile_bytes_do_not_panic() {
    let long = "a".repeat(10_000);
    let s = parse(
        None,
        [
            (long.as_bytes(), long.as_bytes()),
            (b"retry-after".as_slice(), [0xff, 0xfe].as_slice()),
            (
                b"anthropic-ratelimit-tokens-reset".as_slice(),
                "2025-\u{00e9}".as_bytes(),
            ),
            (
                b"x-ratelimit-reset-tokens".as_slice(),
                "1\u{00b5}".as_bytes(),
            ),
            (b"ratelimit".as_slice(), b"\"".as_slice()),
        ],
    );
    assert_eq!(s.ignored.len(), 4);
}

#[test]
fn header_errors_display_lowercase() {
    for why in [
        HeaderError::Unsupported,
        HeaderError::TooMany,
        HeaderError::Negative,
    ] {
        let text = why.to_string();
        assert!(text.chars().next().unwrap().is_lowercase() && !text.ends_with('.'));
    }
}

#[test]
fn sdk_float_readings() {
    use SdkNumber::{Finite, Infinite, NaN};
    let pos = |micros| Finite {
        negative: false,
        micros,
    };
    let neg = |micros| Finite {
        negative: true,
        micros,
    };
    // (value, Python's float(), JavaScript's parseFloat()), read as seconds.
    let rows: &[(&str, Option<SdkNumber>, Option<SdkNumber>)] = &[
        ("20", Some(pos(20_000_000)), Some(pos(20_000_000))),
        ("-10", Some(neg(10_000_000)), Some(neg(10_000_000))),
        ("+1.5", Some(pos(1_500_000)), Some(pos(1_500_000))),
        (".5", Some(pos(500_000)), Some(pos(500_000))),
        ("5.", Some(pos(5_000_000)), Some(pos(5_000_000))),
        ("1e3", Some(pos(1_000_000_000)), Some(pos(1_000_000_000))),
        ("2E-3", Some(pos(2_000)), Some(pos(2_000))),
        ("1_0", Some(pos(10_000_000)), Some(pos(1_000_000))),
        ("1__0", None, Some(pos(1_000_000))),
        (
            "1_0e1_0",
            Some(pos(100_000_000_000_000_000)),
            Some(pos(1_000_000)),
        ),
        ("1e_1", None, Some(pos(1_000_000))),
        ("._5", None, Some(NaN)),
        ("20abc", None, Some(pos(20_000_000))),
        ("1e", None, Some(pos(1_000_000))),
        ("inf", Some(Infinite { negative: false }), Some(NaN)),
        (
            "-Infinity",
            Some(Infinite { negative: true }),
            Some(Infinite { negative: true }),
        ),
        ("NaN", Some(NaN), Some(NaN)),
        ("soon", None, Some(NaN)),
        ("-0", Some(neg(0)), Some(neg(0))),
        ("0.0000001", Some(pos(1)), Some(pos(1))), // rounded up: never zero
        ("1e-400", Some(pos(0)), Some(pos(0))),    // below the smallest subnormal
        (
            "1e400",
            Some(Infinite { negative: false }),
            Some(Infinite { negative: false }),
        ),
        (
            "1.7976931348623157e308",
            Some(pos(u64::MAX)),
            Some(pos(u64::MAX)),
        ),
        (
            "1.7976931348623159e308",
            Some(Infinite { negative: false }),
            Some(Infinite { negative: false }),
        ),
        (
            "99999999999999999999999999999999999",
            Some(pos(u64::MAX)),
            Some(pos(u64::MAX)),
        ),
        (
            "0.1234567890123456789012345",
            Some(pos(123_457)),
            Some(pos(123_457)),
        ),
        (
            "1e99999999999999999999",
            Some(Infinite { negative: false }),
            Some(Infinite { negative: false }),
        ),
    ];
    for &(value, python, javascript) in rows {
        let s = parse(Some(429), [("retry-after", value)]);
        assert_eq!(s.sdk_retry_after.python, python, "python {value:?}");
        assert_eq!(
            s.sdk_retry_after.javascript, javascript,
            "javascript {value:?}"
        );
    }
    // Milliseconds; an empty value is no reading at all for JavaScript (a falsy string).
    let s = parse(Some(429), [("retry-after-ms", "2.5"), ("retry-after", "")]);
    assert_eq!(s.sdk_retry_after_ms.python, Some(pos(2_500)));
    assert_eq!(s.sdk_retry_after.javascript, None);
    // A repeat: joined with ", " by the SDKs' HTTP libraries.
    let s = parse(Some(429), [("retry-after", "7"), ("retry-after", "9")]);
    assert_eq!(s.sdk_retry_after.python, Some(pos(7_000_000)));
    assert_eq!(s.sdk_retry_after.javascript, Some(pos(7_000_000)));
}

#[test]
fn sdk_server_values_follow_each_sdks_order() {
    use SdkNumber::{Finite, NaN};
    let value = |pairs: &[(&str, &str)], reading| {
        let pairs = [("date", SDK_NOW)].into_iter().chain(pairs.iter().copied());
        parse(Some(429), pairs).server_value(reading)
    };
    let secs = |s: u64| Some(SdkNumber::from_micros(s * 1_000_000));
    let ms_neg = &[("retry-after-ms", "-5"), ("retry-after", "2")][..];
    assert_eq!(value(ms_neg, Reading::Strict), secs(2));
    assert_eq!(
        value(ms_neg, Reading::Python),
        Some(Finite {
            negative: true,
            micros: 5_000
        })
    );
    let past = &[("retry-after", "Fri, 29 Sep 2023 16:26:27 GMT")][..];
    let ten_back = Some(Finite {
        negative: true,
        micros: 10_000_000,
    });
    assert_eq!(value(past, Reading::Python), ten_back);
    assert_eq!(value(past, Reading::JavaScript), ten_back);
    assert_eq!(value(past, Reading::Strict), secs(0));
    assert_eq!(
        value(&[("retry-after", "soon")], Reading::JavaScript),
        Some(NaN)
    );
    assert_eq!(value(&[("retry-after", "soon")], Reading::Python), None);
    // A snapshot built by hand, without readings, reads as its strict fields.
    let mut hand = Snapshot {
        date: Some(at("2023-09-29T16:26:37Z")),
        retry_after: Some(RetryAfter::Delay(time::secs(3))),
        ..Snapshot::default()
    };
    for reading in [Reading::Strict, Reading::Python, Reading::JavaScript] {
        assert_eq!(hand.server_value(reading), secs(3), "{reading:?}");
    }
    hand.retry_after = Some(RetryAfter::At(at("2023-09-29T16:26:57Z")));
    hand.retry_after_ms = Some(time::millis(0));
    assert_eq!(
        hand.server_value(Reading::Python),
        Some(SdkNumber::from_micros(0))
    );
    assert_eq!(hand.server_value(Reading::JavaScript), secs(20));
    // An HTTP-date without `Date` gives no value under any reading.
    let s = parse(
        Some(429),
        [("retry-after", "Fri, 29 Sep 2023 16:26:57 GMT")],
    );
    for reading in [Reading::Strict, Reading::Python, Reading::JavaScript] {
        assert_eq!(s.server_value(reading), None, "{reading:?}");
    }
}

/// A field of a dialect whose Cargo feature is off is reported as `DialectDisabled` and not
/// read: no quota, no dialect; the fields common to all dialects still count. With a dialect on,
/// the same field is read.
#[test]
fn fields_of_disabled_dialects_are_reported_not_read() {
    let ietf = cfg!(feature = "ietf");
    let fields = [
        (
            "anthropic-ratelimit-requests-limit",
            "50",
            cfg!(feature = "anthropic"),
        ),
        (
            "anthropic-priority-input-tokens-limit",
            "50",
            cfg!(feature = "anthropic"),
        ),
        ("X-RateLimit-Limit-Requests", "60", cfg!(feature = "openai")),
        ("RateLimit-Limit", "70", ietf),
        ("RateLimit", "limit=80, remaining=1, reset=1", ietf),
        ("RateLimit-Policy", r#""p";q=90;w=60"#, ietf),
    ];
    for (name, value, enabled) in fields {
        let snapshot = parse(Some(200), [("retry-after", "3"), (name, value)]);
        assert!(snapshot.retry_after.is_some(), "{name}");
        if enabled {
            assert_ne!(snapshot.dialect, Dialect::None, "{name}");
            assert!(
                snapshot.ignored.is_empty(),
                "{name}: {:?}",
                snapshot.ignored
            );
        } else {
            assert_eq!(snapshot.dialect, Dialect::None, "{name}");
            assert_eq!(
                ignored(&snapshot),
                [(1, HeaderError::DialectDisabled)],
                "{name}"
            );
            assert!(
                Scope::ALL.iter().all(|&s| snapshot.quota(s).is_none()),
                "{name}"
            );
        }
    }
}

/// In an Anthropic-only build, a proxy's `x-ratelimit-*` before the provider's fields is
/// reported as disabled and does not claim the response: the Anthropic fields are read.
#[cfg(all(feature = "anthropic", not(feature = "openai")))]
#[test]
fn a_disabled_dialect_does_not_claim_the_response() {
    let snapshot = parse(
        Some(200),
        [
            ("x-ratelimit-limit-requests", "60"),
            ("anthropic-ratelimit-requests-limit", "50"),
        ],
    );
    assert_eq!(snapshot.dialect, Dialect::Anthropic);
    assert_eq!(quota(&snapshot, Scope::Requests).limit, Some(50));
    assert_eq!(ignored(&snapshot), [(0, HeaderError::DialectDisabled)]);
}

/// A `Reader` gives, response after response, the snapshot `parse` gives: what it remembers
/// (the last `Date` and RFC 3339 reset, with their results, errors included) never shows,
/// whether the value repeats, changes, turns malformed, comes back or goes missing.
#[test]
fn reader_agrees_with_parse_whatever_came_before() {
    const DATE: &str = "Sat, 28 Nov 2026 04:00:00 GMT";
    const NEXT: &str = "Sat, 28 Nov 2026 04:00:01 GMT";
    const SUNDAY: &str = "Sat, 29 Nov 2026 04:00:00 GMT";
    const RESET: &str = "2026-11-28T04:00:00Z";
    let responses: [&[(&str, &str)]; 12] = [
        &[
            ("date", DATE),
            ("anthropic-ratelimit-requests-reset", RESET),
        ],
        &[
            ("date", DATE),
            ("anthropic-ratelimit-requests-reset", RESET),
        ],
        &[
            ("date", NEXT),
            ("anthropic-ratelimit-tokens-reset", "2026-11-28T04:00:01Z"),
        ],
        &[
            ("date", SUNDAY),
            ("anthropic-ratelimit-requests-reset", "2026-02-30T00:00:00Z"),
        ],
        &[
            ("date", SUNDAY),
            ("anthropic-ratelimit-requests-reset", "2026-02-30T00:00:00Z"),
        ],
        &[("date", DATE), ("x-ratelimit-reset-requests", RESET)],
        &[("date", ""), ("anthropic-ratelimit-requests-reset", "")],
        &[("date", ""), ("anthropic-ratelimit-requests-reset", "1s")],
        &[
            ("anthropic-ratelimit-requests-reset", RESET),
            ("retry-after", DATE),
        ],
        &[
            ("date", DATE),
            ("date", NEXT),
            ("anthropic-ratelimit-input-tokens-reset", RESET),
        ],
        &[
            ("date", "Saturday, 28-Nov-26 04:00:00 GMT"),
            ("retry-after", "2"),
        ],
        &[
            ("date", "Saturday, 28-Nov-26 04:00:00 GMT"),
            ("retry-after", "2"),
        ],
    ];
    let mut reader = Reader::new();
    let mut kept = Snapshot::default();
    for round in 0..2 {
        for (i, fields) in responses.iter().enumerate() {
            let expected = parse(Some(200), fields.iter().copied());
            reader.parse_into(Some(200), fields.iter().copied(), &mut kept);
            assert_eq!(kept, expected, "response {i}, round {round}");
            assert_eq!(reader.parse(Some(200), fields.iter().copied()), expected);
        }
    }
    // The malformed ones are reported as `parse` reports them.
    let sunday = reader.parse(Some(200), responses[3].iter().copied());
    assert_eq!(sunday.date, None);
    assert!(ignored(&sunday).contains(&(0, HeaderError::BadTimestamp)));
}

/// The plain-integer shortcut of the SDK readings gives what the two float scans give, for
/// both units, from one digit to twelve (leading zeros included).
#[test]
fn sdk_readings_of_plain_integers_are_the_float_readings() {
    // Under miri, which runs each parse some thousand times slower, every 37th of the first
    // 2 000 numbers (one to four digits still) and the long ones.
    let every = if cfg!(miri) { 37 } else { 1 };
    let mut values: Vec<String> = (0..2_000_u64)
        .step_by(every)
        .map(|n| n.to_string())
        .collect();
    values.extend(
        [
            "007",
            "0000",
            "999999999999",
            "100000000000",
            "123456789012",
        ]
        .map(String::from),
    );
    for value in &values {
        for (field, unit) in [
            ("retry-after", values::SECONDS),
            ("retry-after-ms", values::MILLIS),
        ] {
            let snapshot = parse(Some(429), [(field, value.as_str())]);
            let readings = if field == "retry-after" {
                snapshot.sdk_retry_after
            } else {
                snapshot.sdk_retry_after_ms
            };
            let scanned = SdkReadings {
                python: values::python_float(value.as_bytes(), unit),
                javascript: Some(values::javascript_float(value.as_bytes(), unit)),
            };
            assert_eq!(readings, scanned, "{field}: {value}");
        }
    }
}

/// Kept positions start unknown (`u16::MAX`, stored complemented as zero) and read back what was
/// set, a saturated position included.
#[test]
fn positions_start_unknown_and_read_back_what_was_set() {
    let mut positions = state::Positions::UNKNOWN;
    assert_eq!(positions.get(3), Some(u16::MAX));
    positions.set(3, 7);
    positions.set(0, 0);
    positions.set(5, u16::MAX);
    positions.set(8, 1);
    assert_eq!(positions.get(3), Some(7));
    assert_eq!(positions.get(0), Some(0));
    assert_eq!(positions.get(5), Some(u16::MAX));
    assert_eq!(positions.get(2), Some(u16::MAX));
    assert_eq!(positions.get(8), None);
}

/// Fields past position `u16::MAX` are reported and blamed at `u16::MAX` ([`Ignored::index`]
/// saturates), by `parse`, a `Reader` and the streaming `Parser` alike, whether the report comes
/// while reading (a bad value) or from `finish` (a remaining above its limit, blamed on its
/// kept position).
#[cfg(feature = "openai")]
#[test]
#[cfg_attr(miri, ignore = "70 000 fields: too slow under miri")]
fn positions_past_u16_max_saturate() {
    let filler = core::iter::repeat_n(("server", "x"), 70_000);
    let tail = [
        ("x-ratelimit-limit-requests", "10"),
        ("x-ratelimit-remaining-requests", "11"),
        ("x-should-retry", "perhaps"),
    ];
    let fields: Vec<(&str, &str)> = filler.chain(tail).collect();
    let s = parse(None, fields.iter().copied());
    let max = u16::MAX;
    assert_eq!(
        ignored(&s),
        [
            (max, HeaderError::BadBool),
            (max, HeaderError::RemainingAboveLimit)
        ]
    );
    assert_eq!(Reader::new().parse(None, fields.iter().copied()), s);
    let mut parser = Parser::new(None);
    for (name, value) in &fields {
        parser.push(name.as_bytes(), value.as_bytes());
    }
    assert_eq!(parser.finish(), s);
}

proptest::proptest! {
    /// A vendor value padded with white space reads as the bare value, through `parse` and
    /// through a `Reader` whatever it read before (counts are read untrimmed when they are
    /// plain digits, resets are remembered by their bytes as received): the shortcuts never
    /// show. The values include near misses of each shortcut: a `-` at 4 that is no RFC 3339
    /// time, the `-1` sentinel, zero, too many digits.
    #[test]
    fn padded_vendor_values_read_as_bare(
        name in proptest::sample::select(&[
            "anthropic-ratelimit-requests-limit",
            "anthropic-ratelimit-tokens-remaining",
            "anthropic-ratelimit-input-tokens-reset",
            "x-ratelimit-limit-requests",
            "x-ratelimit-remaining-tokens",
            "x-ratelimit-reset-tokens",
        ][..]),
        value in proptest::prop_oneof![
            "-?[0-9]{1,10}",
            "[0-9]{0,5}-[0-9a-z:T]{0,6}",
            "2026-11-28T04:0[0-9]:00(Z|\\.5Z|\\+01:00)",
            "[0-9]{1,2}(m|s|ms)",
            "(-1|0|0000|-0|x)",
        ],
        before in "[ \t]{0,2}",
        after in "[ \t]{0,2}",
    ) {
        let padded = format!("{before}{value}{after}");
        let bare = parse(Some(200), [(name, value.as_str())]);
        proptest::prop_assert_eq!(&parse(Some(200), [(name, padded.as_str())]), &bare);
        let mut reader = Reader::new();
        for form in [&value, &padded, &padded, &value, &value, &padded] {
            proptest::prop_assert_eq!(&reader.parse(Some(200), [(name, form.as_str())]), &bare);
        }
    }
}
