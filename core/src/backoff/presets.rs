//! Presets: the schedules other clients use, reproduced exactly, so the simulator can run them
//! side by side with headroom's own and so a user can match an SDK's behaviour.
//!
//! Sources: `docs/protocol.md` §4 (official SDKs, with their test tables), `docs/protocol.md` §4.5
//! (AWS standard retry). `n` below is retries taken (0 before the first retry), `u` a uniform
//! draw in `[0, 1)`.

use super::{AboveCeiling, Backoff, Jitter, NODE_TIMEOUT_MAX, RetryAfterPolicy, Unusable};
use crate::headers::Reading;
use crate::time;

/// The Stainless SDKs' backoff: `min(0.5 s × 2ⁿ, 8 s) × (1 − 0.25u)`, 2 retries.
const fn stainless(retry_after: RetryAfterPolicy) -> Backoff {
    Backoff {
        base: time::millis(500),
        cap: time::secs(8),
        max_retries: 2,
        jitter: Jitter::SDK,
        retry_after,
    }
}

impl Backoff {
    /// anthropic-sdk-python (`_base_client.py` @ 009b035): `min(0.5 s × 2ⁿ, 8 s) × (1 − 0.25u)`,
    /// 2 retries. The server value is read as the SDK reads it ([`Reading::Python`]:
    /// `float(retry-after-ms) / 1000` if that parses, *whatever its value*, else
    /// `float(retry-after)`, else the HTTP-date minus `Date`); a value `d` with `0 < d ≤ 60 s` is
    /// used instead of the backoff; 0, negative, NaN, infinite, above 60 s: the backoff. So a
    /// `retry-after-ms: -5` means the backoff, never `retry-after`.
    ///
    /// # Examples
    ///
    /// ```
    /// use headroom::backoff::{Backoff, FixedDraw, Attempt};
    /// use headroom::time;
    ///
    /// let sdk = Backoff::anthropic_python();
    /// let delay = |d| sdk.next_delay(&mut Attempt::first(), Some(d), &mut FixedDraw(0));
    /// assert_eq!(delay(time::secs(60)), Ok(time::secs(60)));
    /// assert_eq!(delay(time::secs(61)), Ok(time::millis(500)));
    /// ```
    pub const fn anthropic_python() -> Self {
        stainless(
            RetryAfterPolicy::between_zero_and(time::secs(60), AboveCeiling::Backoff)
                .with_reading(Reading::Python),
        )
    }

    /// anthropic-sdk-typescript (`client.ts` @ bfa9197, since commit `af66c809`, 2026-03-16): the
    /// same backoff, 2 retries. The server value is read as the SDK reads it
    /// ([`Reading::JavaScript`]: `parseFloat`, so `"20abc"` is 20 s; `retry-after-ms: 0` counts
    /// as absent) and then slept, whatever it is, by a JavaScript timer: `0 < d ≤ 2³¹ − 1 ms` is
    /// waited; zero, negative, NaN and anything above [`NODE_TIMEOUT_MAX`] (infinity too) mean a
    /// retry at once (Node.js makes that 1 ms and rounds delays to whole milliseconds; neither is
    /// modelled).
    ///
    /// # Examples
    ///
    /// ```
    /// use headroom::backoff::{Backoff, FixedDraw, Attempt};
    /// use headroom::time;
    ///
    /// let sdk = Backoff::anthropic_typescript();
    /// let delay = |d| sdk.next_delay(&mut Attempt::first(), Some(d), &mut FixedDraw(0));
    /// assert_eq!(delay(time::secs(600)), Ok(time::secs(600)));
    /// assert_eq!(delay(time::secs(0)), Ok(time::secs(0)));
    /// assert_eq!(delay(time::secs(30 * 86_400)), Ok(time::secs(0))); // above 2³¹ − 1 ms
    /// ```
    pub const fn anthropic_typescript() -> Self {
        stainless(RetryAfterPolicy {
            reading: Reading::JavaScript,
            accept_zero: false,
            ceiling: NODE_TIMEOUT_MAX,
            above_ceiling: AboveCeiling::AtOnce,
            unusable: Unusable::AtOnce,
            floor: false,
        })
    }

    /// openai-python (`_base_client.py` @ e43b422, since commit `7fa79464`, 2026-07-30): the same
    /// backoff, 2 retries, the Python reading of [`Backoff::anthropic_python`]; a value `d` with
    /// `0 < d ≤ 120 s` is used instead; a *finite* value above 120 s is not retried at all (a
    /// `retry-after` of 10³⁵ s, which headroom's own parser refuses as too large, included);
    /// 0, negative, NaN, infinite: the backoff.
    ///
    /// (openai-python's *delay computation* alone would fall back to the backoff above 120 s;
    /// its *retry decision* refuses first, which is what a caller sees. Use
    /// `.with_retry_after(RetryAfterPolicy::between_zero_and(time::secs(120), AboveCeiling::Backoff).with_reading(Reading::Python))`
    /// for the former.)
    ///
    /// # Examples
    ///
    /// ```
    /// use headroom::backoff::{Backoff, FixedDraw, Attempt};
    /// use headroom::classify::GiveUp;
    /// use headroom::time;
    ///
    /// let sdk = Backoff::openai_python();
    /// let delay = |d| sdk.next_delay(&mut Attempt::first(), Some(d), &mut FixedDraw(0));
    /// assert_eq!(delay(time::secs(120)), Ok(time::secs(120)));
    /// assert_eq!(delay(time::millis(120_001)), Err(GiveUp::ServerDelayTooLong));
    /// ```
    pub const fn openai_python() -> Self {
        stainless(
            RetryAfterPolicy::between_zero_and(time::secs(120), AboveCeiling::GiveUp)
                .with_reading(Reading::Python),
        )
    }

    /// The guide's backoff loop (the `guide-backoff` baseline): `2ⁿ s + U(0, 0.5 × 2ⁿ s)`,
    /// 6 attempts (5 retries), no cap within those attempts (the last delay is at most 24 s; the
    /// cap is set to 64 s so longer schedules stay bounded), server delays ignored.
    ///
    /// # Examples
    ///
    /// ```
    /// use headroom::backoff::{Backoff, FixedDraw, Attempt};
    /// use headroom::classify::GiveUp;
    /// use headroom::time;
    ///
    /// let guide = Backoff::guide_loop();
    /// let mut state = Attempt::first();
    /// let mut rng = FixedDraw(1 << 63); // u = 0.5: e + 0.25e
    /// let delays: Vec<_> = (0..6).map(|_| guide.next_delay(&mut state, None, &mut rng)).collect();
    /// assert_eq!(delays[0], Ok(time::millis(1_250)));
    /// assert_eq!(delays[4], Ok(time::secs(20)));
    /// assert_eq!(delays[5], Err(GiveUp::AttemptsExhausted));
    /// ```
    pub const fn guide_loop() -> Self {
        Self {
            base: time::secs(1),
            cap: time::secs(64),
            max_retries: 5,
            jitter: Jitter::Additive { per_mille: 500 },
            retry_after: RetryAfterPolicy::IGNORED,
        }
    }

    /// AWS SDK standard retry (botocore `standard.py`, smithy-rs 2.1): full jitter,
    /// `U(0, 1) × min(scale × 2^(attempt−1), 20 s)` with `attempt − 1 = n`, 3 attempts (2
    /// retries). `scale` is 1 s for throttling errors (`throttled`: 429, 529) and 50 ms for
    /// others. The `x-amz-retry-after` clamp is AWS-specific and not modelled: server delays are
    /// ignored. Pair it with [`RetryBudget::aws_standard`](super::RetryBudget::aws_standard).
    ///
    /// # Examples
    ///
    /// ```
    /// use headroom::backoff::{Backoff, FixedDraw, Attempt};
    /// use headroom::time;
    ///
    /// let aws = Backoff::aws_standard(true);
    /// let mut rng = FixedDraw(u64::MAX); // u → 1
    /// let first = aws.next_delay(&mut Attempt::first(), None, &mut rng).unwrap();
    /// assert_eq!(first, time::micros(999_999));
    /// assert_eq!(Backoff::aws_standard(false).nominal_delay(0), time::millis(50));
    /// assert_eq!(aws.nominal_delay(10), time::secs(20));
    /// ```
    pub const fn aws_standard(throttled: bool) -> Self {
        Self {
            base: if throttled {
                time::secs(1)
            } else {
                time::millis(50)
            },
            cap: time::secs(20),
            max_retries: 2,
            jitter: Jitter::Full,
            retry_after: RetryAfterPolicy::IGNORED,
        }
    }
}
