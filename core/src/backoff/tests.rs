//! The SDK retry-after tables of `docs/protocol.md` §4.1 and §4.3, at the policy level.
//!
//! The SDK tests feed raw header strings to the client; here the input is what headroom's
//! parser hands the policy: `Some(delay)` for a number or an HTTP-date (date − `Date`, saturating
//! at zero), `None` for anything it could not read (`"-10"`, `"inf"`, `"nan"`, `""`, a bad date,
//! an out-of-range year). The mocked clock of the SDK tests is `Date` =
//! Fri, 29 Sep 2023 16:26:37 GMT, so `16:26:57` is 20 s, `16:27:38` is 61 s, `16:26:27` is 0.
//! `remaining_retries = r` with `max_retries = 3` is `3 − r` retries taken. The jitter draw is
//! fixed at `u = 0` (delay = nominal) and `u → 1` (delay ≈ 0.75 × nominal); the SDK tests accept
//! anything within a relative 0.4375 of the nominal value, which both ends satisfy.

#![allow(
    clippy::arithmetic_side_effects,
    reason = "test arithmetic on small constants"
)]

use super::*;
use crate::time::Instant;
use crate::time::{millis, secs};

/// `(remaining_retries, server delay as parsed, expected delay)`.
type Row = (i64, Option<Duration>, Result<Duration, GiveUp>);

const PY_DATE_20: Option<Duration> = Some(secs(20)); // "Fri, 29 Sep 2023 16:26:57 GMT"
const PY_DATE_0: Option<Duration> = Some(secs(0)); // "…16:26:37 GMT" (equal to Date)
const PY_DATE_PAST: Option<Duration> = Some(secs(0)); // "…16:26:27 GMT" (10 s before Date)
const PY_DATE_60: Option<Duration> = Some(secs(60)); // "…16:27:37 GMT"
const PY_DATE_61: Option<Duration> = Some(secs(61)); // "…16:27:38 GMT"

fn anthropic_table() -> Vec<Row> {
    let half = Ok(millis(500));
    vec![
        (3, Some(secs(20)), Ok(secs(20))), // "20"
        (3, Some(secs(0)), half),          // "0"
        (3, None, half),                   // "-10"
        (3, Some(secs(60)), Ok(secs(60))), // "60"
        (3, Some(secs(61)), half),         // "61"
        (3, PY_DATE_20, Ok(secs(20))),     // 16:26:57
        (3, PY_DATE_0, half),              // 16:26:37
        (3, PY_DATE_PAST, half),           // 16:26:27
        (3, PY_DATE_60, Ok(secs(60))),     // 16:27:37
        (3, PY_DATE_61, half),             // 16:27:38
        (3, None, half),                   // "99999999999999999999999999999999999" (too large)
        (3, Some(Duration::MAX), half),    // … or saturated by a parser: still above 60 s
        (3, None, half),                   // "Zun, 29 Sep 2023 16:26:27 GMT"
        (3, None, half),                   // ""
        (2, None, Ok(millis(1_000))),      // "" → 0.5 × 2
        (1, None, Ok(millis(2_000))),      // "" → 0.5 × 4
        (-1100, None, Ok(secs(8))),        // "large number potentially overflowing"
    ]
}

fn openai_table() -> Vec<Row> {
    let half = Ok(millis(500));
    vec![
        (3, Some(secs(20)), Ok(secs(20))),                     // "20"
        (3, Some(secs(0)), half),                              // "0"
        (3, None, half),                                       // "-10"
        (3, Some(secs(60)), Ok(secs(60))),                     // "60"
        (3, Some(secs(61)), Ok(secs(61))),                     // "61"
        (3, Some(secs(120)), Ok(secs(120))),                   // "120"
        (3, Some(secs(121)), Err(GiveUp::ServerDelayTooLong)), // "121": delay table 0.5, decision: no retry
        (3, PY_DATE_20, Ok(secs(20))),                         // 16:26:57
        (3, PY_DATE_0, half),                                  // 16:26:37
        (3, PY_DATE_PAST, half),                               // 16:26:27
        (3, PY_DATE_60, Ok(secs(60))),                         // 16:27:37
        (3, PY_DATE_61, Ok(secs(61))),                         // 16:27:38
        (3, Some(secs(120)), Ok(secs(120))),                   // 16:28:37
        (3, Some(secs(121)), Err(GiveUp::ServerDelayTooLong)), // 16:28:38
        (3, None, half),              // "99999999999999999999999999999999999"
        (3, None, half),              // "inf"
        (3, None, half),              // "nan"
        (3, None, half),              // "Zun, 29 Sep 2023 16:26:27 GMT"
        (3, None, half),              // "Fri, 29 Sep 100000 16:26:57 GMT"
        (3, None, half),              // ""
        (2, None, Ok(millis(1_000))), // ""
        (1, None, Ok(millis(2_000))), // ""
        (-1100, None, Ok(secs(8))),   // overflow case
    ]
}

/// Runs a table at `u = 0` (exact) and `u → 1` (backoff rows at 0.75 × nominal + 1 µs rounding).
fn check(schedule: Backoff, rows: &[Row]) {
    // The SDK tests call the delay computation directly, past any attempt limit.
    let schedule = schedule.with_max_retries(u32::MAX);
    for &(remaining, server, expected) in rows {
        let taken = u32::try_from(3 - remaining).unwrap();
        let delay =
            |u| schedule.next_delay(&mut Attempt::with_retries(taken), server, &mut FixedDraw(u));
        assert_eq!(
            delay(0),
            expected,
            "u = 0, remaining {remaining}, server {server:?}"
        );
        let high = delay(u64::MAX);
        let backoff_row = expected.is_ok() && expected != server.ok_or(GiveUp::AttemptsExhausted);
        if backoff_row {
            let nominal = expected.unwrap().as_ticks();
            // e − ⌊(e/4)·u⌋ with u = 1 − 2⁻⁶⁴: 0.75e, plus one µs from the floor.
            assert_eq!(
                high,
                Ok(Duration::from_ticks(nominal - nominal / 4 + 1)),
                "u → 1, {remaining}"
            );
            // Inside the SDK tests' relative tolerance of 0.4375.
            let got = high.unwrap().as_ticks();
            assert!(nominal.abs_diff(got) * 10_000 <= nominal * 4_375);
        } else {
            assert_eq!(high, expected, "u → 1, server value rows do not jitter");
        }
    }
}

#[test]
fn anthropic_python_table() {
    check(Backoff::anthropic_python(), &anthropic_table());
}

#[test]
fn openai_python_table() {
    check(Backoff::openai_python(), &openai_table());
}

#[test]
fn openai_delay_computation_alone_falls_back_above_120() {
    // `_calculate_retry_timeout` on its own: 121 → 0.5 s; only the retry decision refuses.
    let delay_only = Backoff::openai_python().with_retry_after(RetryAfterPolicy::between_zero_and(
        secs(120),
        AboveCeiling::Backoff,
    ));
    let mut state = Attempt::first();
    assert_eq!(
        delay_only.next_delay(&mut state, Some(secs(121)), &mut FixedDraw(0)),
        Ok(millis(500))
    );
    // And a saturated huge value is "finite and > 120" for the decision: give up.
    let mut state = Attempt::first();
    assert_eq!(
        Backoff::openai_python().next_delay(&mut state, Some(Duration::MAX), &mut FixedDraw(0)),
        Err(GiveUp::ServerDelayTooLong)
    );
}

#[test]
fn openai_max_delay_table() {
    // `test_retry_after_max_delay`: (server delay as parsed, should retry).
    let rows = [
        (secs(120), true),        // retry-after: 120
        (secs(121), false),       // retry-after: 121
        (millis(120_000), true),  // retry-after-ms: 120000
        (millis(120_001), false), // retry-after-ms: 120001
        (secs(120), true),        // 16:28:37 GMT
        (secs(121), false),       // 16:28:38 GMT
    ];
    for (server, retry) in rows {
        let got = Backoff::openai_python().next_delay(
            &mut Attempt::first(),
            Some(server),
            &mut FixedDraw(0),
        );
        assert_eq!(got.is_ok(), retry, "{server:?}");
        if !retry {
            assert_eq!(got, Err(GiveUp::ServerDelayTooLong));
        }
    }
}

#[test]
fn anthropic_typescript_obeys_any_parsed_value() {
    let ts = Backoff::anthropic_typescript();
    for server in [millis(10), secs(61), secs(3_600), NODE_TIMEOUT_MAX] {
        assert_eq!(
            ts.next_delay(&mut Attempt::first(), Some(server), &mut FixedDraw(5)),
            Ok(server)
        );
    }
    // Zero, and beyond what a JavaScript timer holds: the timer fires at once.
    let beyond = Duration::from_ticks(NODE_TIMEOUT_MAX.as_ticks() + 1);
    for server in [secs(0), beyond, Duration::MAX] {
        assert_eq!(
            ts.next_delay(&mut Attempt::first(), Some(server), &mut FixedDraw(5)),
            Ok(secs(0))
        );
    }
    assert_eq!(
        ts.next_delay(&mut Attempt::first(), None, &mut FixedDraw(0)),
        Ok(millis(500))
    );
}

#[test]
fn sdk_attempt_limit_is_two_retries() {
    for sdk in [
        Backoff::anthropic_python(),
        Backoff::anthropic_typescript(),
        Backoff::openai_python(),
    ] {
        let mut state = Attempt::first();
        let mut rng = FixedDraw(0);
        assert_eq!(sdk.next_delay(&mut state, None, &mut rng), Ok(millis(500)));
        assert_eq!(
            sdk.next_delay(&mut state, None, &mut rng),
            Ok(millis(1_000))
        );
        assert_eq!(
            sdk.next_delay(&mut state, None, &mut rng),
            Err(GiveUp::AttemptsExhausted)
        );
        assert_eq!(state.retries(), 2);
    }
}

#[test]
fn guide_loop_schedule() {
    let guide = Backoff::guide_loop();
    for (u, expected) in [
        (0, [1_000, 2_000, 4_000, 8_000, 16_000]),
        (u64::MAX, [1_499, 2_999, 5_999, 11_999, 23_999]), // e + 0.5e·u, floored, in ms (+0.999…)
    ] {
        let mut state = Attempt::first();
        let mut rng = FixedDraw(u);
        for ms in expected {
            let d = guide
                .next_delay(&mut state, Some(secs(1)), &mut rng)
                .unwrap(); // server ignored
            assert_eq!(d.as_ticks() / 1_000, ms);
        }
        assert_eq!(
            guide.next_delay(&mut state, None, &mut rng),
            Err(GiveUp::AttemptsExhausted)
        );
        assert_eq!(state.attempts(), 6);
    }
}

#[test]
fn aws_standard_schedule() {
    let throttled = Backoff::aws_standard(true);
    let other = Backoff::aws_standard(false);
    let nominal = |b: Backoff| {
        (0..7)
            .map(|n| b.nominal_delay(n).as_ticks() / 1_000)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        nominal(throttled),
        [1_000, 2_000, 4_000, 8_000, 16_000, 20_000, 20_000]
    );
    assert_eq!(nominal(other), [50, 100, 200, 400, 800, 1_600, 3_200]);
    let mut state = Attempt::first();
    let mut rng = FixedDraw(1 << 63);
    assert_eq!(
        throttled.next_delay(&mut state, None, &mut rng),
        Ok(millis(500))
    );
    assert_eq!(
        throttled.next_delay(&mut state, None, &mut rng),
        Ok(millis(1_000))
    );
    assert_eq!(
        throttled.next_delay(&mut state, None, &mut rng),
        Err(GiveUp::AttemptsExhausted)
    );
    assert_eq!(state.attempts(), 3);
}

#[test]
fn nominal_delay_never_overflows() {
    let huge = Backoff::new(Duration::MAX, Duration::MAX);
    assert_eq!(huge.nominal_delay(u32::MAX), Duration::MAX);
    let zero = Backoff::new(Duration::from_ticks(0), Duration::MAX);
    assert_eq!(zero.nominal_delay(u32::MAX), Duration::from_ticks(0));
    let one = Backoff::new(Duration::from_ticks(1), Duration::MAX);
    assert_eq!(one.nominal_delay(63), Duration::from_ticks(1 << 63));
    assert_eq!(one.nominal_delay(64), Duration::MAX);
    let b = Backoff::new(Duration::from_ticks(3), Duration::MAX);
    assert_eq!(b.nominal_delay(63), Duration::MAX); // 3 << 63 overflows
    assert_eq!(b.nominal_delay(62), Duration::from_ticks(3 << 62));
}

#[test]
fn floor_policy_waits_the_longer_of_server_and_backoff() {
    let ours = Backoff::new(secs(1), secs(60)).with_jitter(Jitter::None);
    let mut state = Attempt::first();
    assert_eq!(
        ours.next_delay(&mut state, Some(millis(10)), &mut FixedDraw(0)),
        Ok(secs(1))
    );
    assert_eq!(
        ours.next_delay(&mut state, Some(secs(30)), &mut FixedDraw(0)),
        Ok(secs(30))
    );
    assert_eq!(
        ours.next_delay(&mut state, Some(secs(0)), &mut FixedDraw(0)),
        Ok(secs(4))
    );
    assert_eq!(
        ours.next_delay(&mut state, Some(secs(121)), &mut FixedDraw(0)),
        Err(GiveUp::ServerDelayTooLong)
    );
    assert_eq!(state.retries(), 3, "a refusal leaves the state alone");
}

#[test]
fn decorrelated_follows_previous_delay() {
    let d = Backoff::new(millis(100), secs(10))
        .with_jitter(Jitter::Decorrelated)
        .with_max_retries(10);
    let mut state = Attempt::first();
    let mut top = FixedDraw(u64::MAX);
    // U(base, 3·prev) at u → 1: about 300 ms, 900 ms, 2.7 s, 8.1 s, then the cap.
    let got: Vec<u64> = (0..5)
        .map(|_| d.next_delay(&mut state, None, &mut top).unwrap().as_ticks() / 1_000)
        .collect();
    assert_eq!(got, [299, 899, 2_699, 8_099, 10_000]);
    assert_eq!(state.previous_delay(), secs(10));
    assert_eq!(
        d.next_delay(&mut state, None, &mut FixedDraw(0)),
        Ok(millis(100))
    );
}

#[test]
fn retry_at_respects_deadline() {
    let now = Instant::from_ticks(5);
    assert_eq!(
        retry_at(now, Duration::from_ticks(4), Some(Instant::from_ticks(10))),
        Ok(Instant::from_ticks(9))
    );
    assert_eq!(
        retry_at(now, Duration::from_ticks(5), Some(Instant::from_ticks(10))),
        Err(GiveUp::DeadlineExceeded)
    );
    assert_eq!(
        retry_at(now, Duration::MAX, Some(Instant::from_ticks(u64::MAX))),
        Err(GiveUp::DeadlineExceeded)
    );
    assert_eq!(
        retry_at(Instant::from_ticks(u64::MAX), Duration::MAX, None),
        Ok(Instant::from_ticks(u64::MAX))
    );
}

#[test]
fn fixed_draw_fills_bytes() {
    let mut buf = [0u8; 11];
    FixedDraw(0x0807_0605_0403_0201).fill_bytes(&mut buf);
    assert_eq!(buf, [1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3]);
    assert_eq!(FixedDraw(0x1_0000_0002).next_u32(), 2);
}

#[test]
fn give_up_display_is_lowercase_without_period() {
    for why in [
        GiveUp::AttemptsExhausted,
        GiveUp::ServerDelayTooLong,
        GiveUp::BudgetExhausted,
        GiveUp::DeadlineExceeded,
        GiveUp::SpendCap,
        GiveUp::Fatal { status: 400 },
        GiveUp::ServerSaidNo,
    ] {
        let text = why.to_string();
        assert_eq!(text, text.to_lowercase());
        assert!(!text.ends_with('.'));
    }
}

static_assertions::assert_eq_size!(Attempt, [u64; 3]);
static_assertions::assert_impl_all!(Attempt: Copy, Send, Sync);
static_assertions::assert_impl_all!(Backoff: Copy, Send, Sync);
static_assertions::assert_impl_all!(RetryBudget: Copy, Send, Sync);
static_assertions::assert_impl_all!(GiveUp: Copy, core::error::Error);
