//! The SDK presets against their SDKs, end to end: raw response headers → `headers::parse` →
//! `classify` → `Backoff::decide`, one row per case, each with the SDK's own answer.
//!
//! Sources (`docs/protocol.md` §4): anthropic-sdk-python `_base_client.py`
//! (`_parse_retry_after_header`, `_calculate_retry_timeout`, `_should_retry`) and
//! `tests/test_client.py::test_parse_retry_after_header`; openai-python `_base_client.py` (the
//! same three functions, with `MAX_RETRY_AFTER_DELAY = 120`) and `tests/test_client.py`
//! (`test_parse_retry_after_header`, `test_retry_after_max_delay`);
//! anthropic-sdk-typescript `client.ts` (`retryRequest`, `calculateDefaultRetryTimeoutMillis`,
//! `shouldRetry`) and `tests/index.test.ts`. Rows marked "table" are the SDK test tables'
//! rows verbatim; the others follow the code paths.
//!
//! Formulas: Python, server value `x` = `float(retry-after-ms) / 1000` if it parses (whatever its
//! value), else `float(retry-after)`, else HTTP-date − now; anthropic-python waits `x` when
//! `0 < x ≤ 60`, openai-python when finite and `0 < x ≤ 120` and does not retry when finite and
//! `> 120`; TypeScript, `t` = `parseFloat(retry-after-ms)` unless NaN, then if `!t`
//! `parseFloat(retry-after) × 1000` or `Date.parse(retry-after) − now`, slept whatever it is (a
//! JavaScript timer fires at once for ≤ 0, NaN or above 2³¹ − 1 ms). Otherwise the backoff
//! `min(0.5 s × 2ⁿ, 8 s) × (1 − 0.25u)` with `n` = retries taken.
//!
//! The SDK tests mock the clock at `Fri, 29 Sep 2023 16:26:37 GMT`; here that is the response's
//! `Date`. `remaining` is the tests' `remaining_retries` with `max_retries = 3`, so `3 − remaining`
//! retries were taken. Backoff rows are checked at `u = 0` (the nominal delay) and `u → 1`
//! (0.75 × nominal, inside the tests' relative tolerance of 0.4375).

#![allow(
    clippy::arithmetic_side_effects,
    reason = "test arithmetic on small constants"
)]

use headroom::backoff::{Attempt, Backoff, FixedDraw, RetryBudget};
use headroom::classify::{Outcome, classify};
use headroom::headers;
use headroom::time::{self, Duration, Instant};

/// Which SDK a row reproduces.
#[derive(Debug, Clone, Copy)]
enum Sdk {
    AnthropicPython,
    OpenAiPython,
    AnthropicTypeScript,
}

impl Sdk {
    fn preset(self) -> Backoff {
        match self {
            Self::AnthropicPython => Backoff::anthropic_python(),
            Self::OpenAiPython => Backoff::openai_python(),
            Self::AnthropicTypeScript => Backoff::anthropic_typescript(),
        }
    }
}

/// The SDK's answer.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Answer {
    /// Waits the server's value, exactly.
    Server(Duration),
    /// Waits its backoff, whose nominal (u = 0) delay is this.
    Backoff(Duration),
    /// Does not retry.
    NoRetry,
}

use Answer::{Backoff as B, NoRetry, Server as S};
use Sdk::{AnthropicPython as AP, AnthropicTypeScript as TS, OpenAiPython as OP};

const HALF: Answer = B(time::millis(500));
const fn s(secs: u64) -> Answer {
    S(time::secs(secs))
}
const fn ms(millis: u64) -> Answer {
    S(time::millis(millis))
}
const AT_ONCE: Answer = S(Duration::from_ticks(0));

const RA: &str = "retry-after";
const RAMS: &str = "retry-after-ms";
const NOW: &str = "Fri, 29 Sep 2023 16:26:37 GMT";
const BIG: &str = "99999999999999999999999999999999999";

/// `(sdk, status, remaining retries, headers, answer)`.
type Row = (
    Sdk,
    u16,
    i64,
    &'static [(&'static str, &'static str)],
    Answer,
);

const ROWS: &[Row] = &[
    // anthropic-sdk-python, test_parse_retry_after_header (table).
    (AP, 429, 3, &[(RA, "20")], s(20)),
    (AP, 429, 3, &[(RA, "0")], HALF),
    (AP, 429, 3, &[(RA, "-10")], HALF),
    (AP, 429, 3, &[(RA, "60")], s(60)),
    (AP, 429, 3, &[(RA, "61")], HALF),
    (AP, 429, 3, &[(RA, "Fri, 29 Sep 2023 16:26:57 GMT")], s(20)),
    (AP, 429, 3, &[(RA, "Fri, 29 Sep 2023 16:26:37 GMT")], HALF),
    (AP, 429, 3, &[(RA, "Fri, 29 Sep 2023 16:26:27 GMT")], HALF),
    (AP, 429, 3, &[(RA, "Fri, 29 Sep 2023 16:27:37 GMT")], s(60)),
    (AP, 429, 3, &[(RA, "Fri, 29 Sep 2023 16:27:38 GMT")], HALF),
    (AP, 429, 3, &[(RA, BIG)], HALF),
    (AP, 429, 3, &[(RA, "Zun, 29 Sep 2023 16:26:27 GMT")], HALF),
    (AP, 429, 3, &[(RA, "")], HALF),
    (AP, 429, 2, &[(RA, "")], B(time::secs(1))),
    (AP, 429, 1, &[(RA, "")], B(time::secs(2))),
    (AP, 429, -1100, &[(RA, "")], B(time::secs(8))),
    // anthropic-sdk-python, code paths: a retry-after-ms that parses is final, in range or not.
    (AP, 429, 3, &[(RAMS, "-5"), (RA, "2")], HALF),
    (AP, 429, 3, &[(RAMS, "nan"), (RA, "2")], HALF),
    (AP, 429, 3, &[(RAMS, "inf"), (RA, "2")], HALF),
    (AP, 429, 3, &[(RAMS, "0"), (RA, "2")], HALF),
    (AP, 429, 3, &[(RAMS, "60001"), (RA, "2")], HALF),
    (AP, 429, 3, &[(RAMS, "1e3"), (RA, "2")], s(1)),
    (AP, 429, 3, &[(RAMS, ""), (RA, "2")], s(2)),
    (AP, 429, 3, &[(RAMS, "abc"), (RA, "2")], s(2)),
    (AP, 500, 3, &[(RAMS, "10")], ms(10)), // the Bedrock / Vertex tests' 500
    (AP, 429, 3, &[(RA, "1_0")], s(10)),   // float() takes PEP 515 underscores
    (AP, 429, 3, &[(RA, "20abc")], HALF),
    (AP, 429, 3, &[(RA, "0.1")], ms(100)),
    (AP, 400, 3, &[(RA, "2")], NoRetry),
    (AP, 400, 3, &[("x-should-retry", "true")], HALF),
    (
        AP,
        529,
        3,
        &[("x-should-retry", "false"), (RA, "2")],
        NoRetry,
    ),
    // openai-python, test_parse_retry_after_header (table; rows above 120 s, whose delay the
    // table gives as 0.5, are refused by `_should_retry` first, which is what a caller sees).
    (OP, 429, 3, &[(RA, "20")], s(20)),
    (OP, 429, 3, &[(RA, "0")], HALF),
    (OP, 429, 3, &[(RA, "-10")], HALF),
    (OP, 429, 3, &[(RA, "60")], s(60)),
    (OP, 429, 3, &[(RA, "61")], s(61)),
    (OP, 429, 3, &[(RA, "120")], s(120)),
    (OP, 429, 3, &[(RA, "121")], NoRetry),
    (OP, 429, 3, &[(RA, "Fri, 29 Sep 2023 16:26:57 GMT")], s(20)),
    (OP, 429, 3, &[(RA, "Fri, 29 Sep 2023 16:26:37 GMT")], HALF),
    (OP, 429, 3, &[(RA, "Fri, 29 Sep 2023 16:26:27 GMT")], HALF),
    (OP, 429, 3, &[(RA, "Fri, 29 Sep 2023 16:27:37 GMT")], s(60)),
    (OP, 429, 3, &[(RA, "Fri, 29 Sep 2023 16:27:38 GMT")], s(61)),
    (OP, 429, 3, &[(RA, "Fri, 29 Sep 2023 16:28:37 GMT")], s(120)),
    (
        OP,
        429,
        3,
        &[(RA, "Fri, 29 Sep 2023 16:28:38 GMT")],
        NoRetry,
    ),
    (OP, 429, 3, &[(RA, BIG)], NoRetry), // 1e35 is finite and above 120
    (OP, 429, 3, &[(RA, "inf")], HALF),
    (OP, 429, 3, &[(RA, "nan")], HALF),
    (OP, 429, 3, &[(RA, "Zun, 29 Sep 2023 16:26:27 GMT")], HALF),
    (OP, 429, 3, &[(RA, "Fri, 29 Sep 100000 16:26:57 GMT")], HALF),
    (OP, 429, 3, &[(RA, "")], HALF),
    (OP, 429, 2, &[(RA, "")], B(time::secs(1))),
    (OP, 429, 1, &[(RA, "")], B(time::secs(2))),
    (OP, 429, -1100, &[(RA, "")], B(time::secs(8))),
    // openai-python, test_retry_after_max_delay (table).
    (OP, 429, 3, &[(RAMS, "120000")], s(120)),
    (OP, 429, 3, &[(RAMS, "120001")], NoRetry),
    // openai-python, code paths.
    (OP, 429, 3, &[(RAMS, "-5"), (RA, "2")], HALF),
    (OP, 429, 3, &[(RAMS, "1e400"), (RA, "2")], HALF), // infinite: not finite, so retried
    (OP, 429, 3, &[(RAMS, "99999999999999999999999")], NoRetry),
    (OP, 429, 3, &[(RA, "1e35")], NoRetry),
    (
        OP,
        429,
        3,
        &[(RA, "121"), ("x-should-retry", "true")],
        NoRetry,
    ), // checked before it
    (OP, 409, 3, &[(RA, "2")], s(2)),
    (OP, 429, 3, &[(RA, "-inf")], HALF),
    // anthropic-sdk-typescript, tests/index.test.ts.
    (TS, 429, 3, &[(RA, "0.1")], ms(100)),
    (TS, 429, 3, &[(RAMS, "10")], ms(10)),
    // anthropic-sdk-typescript, code paths.
    (TS, 429, 3, &[(RAMS, "0"), (RA, "3")], s(3)), // zero counts as absent
    (TS, 429, 3, &[(RAMS, "0")], AT_ONCE),         // … but is slept when nothing else is
    (TS, 429, 3, &[(RAMS, "-5"), (RA, "3")], AT_ONCE),
    (TS, 429, 3, &[(RAMS, "nan"), (RA, "3")], s(3)),
    (TS, 429, 3, &[(RAMS, "20abc")], ms(20)),
    (TS, 429, 3, &[(RA, "20abc")], s(20)),
    (TS, 429, 3, &[(RA, "1_000")], s(1)),
    (TS, 429, 3, &[(RA, "-10")], AT_ONCE),
    (TS, 429, 3, &[(RA, "0")], AT_ONCE),
    (TS, 429, 3, &[(RA, "61")], s(61)),
    (TS, 429, 3, &[(RA, "3600")], s(3_600)),
    (TS, 429, 3, &[(RA, "2147483.647")], ms(2_147_483_647)), // the largest timer
    (TS, 429, 3, &[(RA, "2592000")], AT_ONCE),               // 30 days: the timer overflows
    (TS, 429, 3, &[(RA, "Infinity")], AT_ONCE),
    (TS, 429, 3, &[(RA, "Fri, 29 Sep 2023 16:26:57 GMT")], s(20)),
    (
        TS,
        429,
        3,
        &[(RA, "Fri, 29 Sep 2023 16:26:27 GMT")],
        AT_ONCE,
    ),
    (
        TS,
        429,
        3,
        &[(RA, "Zun, 29 Sep 2023 16:26:27 GMT")],
        AT_ONCE,
    ),
    (TS, 429, 3, &[(RA, "soon")], AT_ONCE), // Date.parse gives NaN
    (TS, 429, 3, &[(RA, "")], HALF),
    (TS, 429, 2, &[], B(time::secs(1))),
    (TS, 400, 3, &[(RA, "2")], NoRetry),
    (TS, 503, 3, &[("x-should-retry", "false")], NoRetry),
];

/// What the preset answers for one row at draw `u`.
fn answer(sdk: Sdk, status: u16, remaining: i64, fields: &[(&str, &str)], u: u64) -> Answer {
    let pairs = [("date", NOW)].into_iter().chain(fields.iter().copied());
    let snapshot = headers::parse(Some(status), pairs);
    let verdict = classify(status, &snapshot, None);
    // The SDK tests call the delay computation directly, past any attempt limit.
    let schedule = sdk.preset().with_max_retries(u32::MAX);
    let mut attempt = Attempt::with_retries(u32::try_from(3 - remaining).unwrap());
    let now = Instant::from_ticks(0);
    let mut budget = RetryBudget::unlimited();
    match schedule.decide(now, &verdict, &mut attempt, &mut budget, &mut FixedDraw(u)) {
        Outcome::Retry(at) => S(Duration::from_ticks(at.as_ticks())),
        Outcome::GiveUp(_) => NoRetry,
        Outcome::Done => panic!("{sdk:?} {fields:?}: not an error response"),
    }
}

#[test]
fn presets_reproduce_their_sdks() {
    let mut failures = Vec::new();
    for &(sdk, status, remaining, fields, expected) in ROWS {
        let (low, high) = match expected {
            B(nominal) => {
                let e = nominal.as_ticks();
                (S(nominal), S(Duration::from_ticks(e - e / 4 + 1)))
            }
            other => (other, other),
        };
        for (u, want) in [(0, low), (u64::MAX, high)] {
            let got = answer(sdk, status, remaining, fields, u);
            if got != want {
                failures.push(format!(
                    "{sdk:?} {status} {fields:?} (remaining {remaining}, u {u:#x}): got {got:?}, want {want:?}"
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_sdk_has_rows() {
    for sdk in [AP, OP, TS] {
        let n = ROWS.iter().filter(|row| row.0 as u8 == sdk as u8).count();
        assert!(n >= 20, "{sdk:?}: {n} rows");
    }
}
