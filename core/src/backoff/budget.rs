//! Retry budgets: a shared allowance that stops retries from multiplying load during an outage.
//!
//! Per-request backoff spreads retries out in time but does not reduce how many there are: with
//! many independent clients under a long overload, each one still retries up to its attempt
//! limit, and the provider sees up to `max_attempts ×` its normal traffic exactly when it can
//! least take it (Brooker 2022; the Google SRE book's "retry budget"). A budget shared by every
//! request of a client bounds retries by the client's *successes*, so a healthy client keeps
//! retrying occasional failures while an outage drains the budget and retries stop.
//!
//! Two proven shapes, one type:
//!
//! * **Token ratio** (gRPC gRFC A6): `tokens` starts at `max`; each retryable failure costs one
//!   token, each success earns `ratio` tokens; retries are allowed only while `tokens > max/2`.
//!   Kept in milli-tokens so a ratio such as 0.1 is the exact integer 100.
//! * **Quota** (AWS SDK "standard" retry 2.1): `capacity` starts full; each retry withdraws a cost
//!   (5 for throttling, 14 otherwise) and is not made when the cost is not available; a success
//!   returns 1 if the call was never retried, else what its last retry took.
//!
//! Both saturate: the level never goes below zero nor above `max`.

use super::Attempt;
use crate::classify::GiveUp;

/// Which budget rule applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
enum Mode {
    /// gRPC A6, in milli-tokens.
    TokenRatio { ratio_milli: u32 },
    /// AWS standard retry quota.
    Quota {
        throttle_cost: u32,
        other_cost: u32,
        success_refund: u32,
    },
    /// No budget: every retry is allowed.
    Unlimited,
}

/// A client-wide retry allowance, shared by all requests (one per upstream, as gRPC keeps one
/// per server name).
///
/// The default is the token-ratio rule with 100 tokens and a ratio of 0.1: a burst of up to 50
/// failed attempts (for example 50 parallel requests meeting one 529 spike) is retried in full;
/// after that, about one retry per ten successes is allowed, the Google SRE book's "retries below
/// 10 % of requests".
///
/// # Examples
///
/// ```
/// use headroom::Attempt;
/// use headroom::backoff::RetryBudget;
///
/// let mut budget = RetryBudget::token_ratio(10, 100); // gRPC A6's example: 10 tokens, ratio 0.1
/// let attempt = Attempt::first();
/// let mut retried = 0;
/// for _ in 0..100 {
///     budget.record_failure();
///     let mut s = attempt;
///     if budget.try_retry(true, &mut s).is_ok() {
///         retried += 1;
///     }
/// }
/// assert_eq!(retried, 4); // 10 → 6 tokens, then 5 is not above max/2
/// assert_eq!(budget.level(), 0);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct RetryBudget {
    mode: Mode,
    level: u64,
    max: u64,
}

/// One token of the token-ratio rule, in milli-tokens.
const TOKEN: u64 = 1000;

impl RetryBudget {
    /// gRPC A6 retry throttling: `max_tokens` tokens (A6 allows up to 1000), `ratio_milli`
    /// thousandths of a token earned per success (A6 allows three decimals, so 0.1 is 100).
    ///
    /// # Examples
    ///
    /// ```
    /// use headroom::backoff::RetryBudget;
    ///
    /// let budget = RetryBudget::token_ratio(10, 100);
    /// assert_eq!((budget.level(), budget.max()), (10_000, 10_000));
    /// ```
    pub const fn token_ratio(max_tokens: u32, ratio_milli: u32) -> Self {
        let max = (max_tokens as u64).saturating_mul(TOKEN);
        Self {
            mode: Mode::TokenRatio { ratio_milli },
            level: max,
            max,
        }
    }

    /// The AWS SDK standard retry quota, version 2.1: capacity 500, a throttling retry costs 5,
    /// any other retry 14, a success of a never-retried call returns 1.
    ///
    /// # Examples
    ///
    /// ```
    /// use headroom::Attempt;
    /// use headroom::backoff::RetryBudget;
    ///
    /// let mut budget = RetryBudget::aws_standard();
    /// let mut attempt = Attempt::first();
    /// budget.try_retry(false, &mut attempt).unwrap();
    /// assert_eq!(budget.level(), 486);
    /// budget.record_success(&attempt); // the retried call succeeded: its 14 come back
    /// assert_eq!(budget.level(), 500);
    /// ```
    pub const fn aws_standard() -> Self {
        Self::quota(500, 5, 14, 1)
    }

    /// A quota with a custom `capacity`, per-retry costs and the refund for a success of a
    /// call that was never retried.
    ///
    /// # Examples
    ///
    /// ```
    /// use headroom::backoff::RetryBudget;
    ///
    /// // AWS retry 2.0: 5 per retry (the 10 for timeouts is not modelled separately).
    /// let legacy = RetryBudget::quota(500, 5, 5, 1);
    /// assert_eq!(legacy.max(), 500);
    /// ```
    pub const fn quota(
        capacity: u32,
        throttle_cost: u32,
        other_cost: u32,
        success_refund: u32,
    ) -> Self {
        Self {
            mode: Mode::Quota {
                throttle_cost,
                other_cost,
                success_refund,
            },
            level: capacity as u64,
            max: capacity as u64,
        }
    }

    /// No budget: every retry is allowed, as in the official SDKs. [`level`](Self::level) and
    /// [`max`](Self::max) are both 0.
    ///
    /// # Examples
    ///
    /// ```
    /// use headroom::Attempt;
    /// use headroom::backoff::RetryBudget;
    ///
    /// let mut budget = RetryBudget::unlimited();
    /// budget.record_failure();
    /// assert!(budget.try_retry(true, &mut Attempt::first()).is_ok());
    /// ```
    pub const fn unlimited() -> Self {
        Self {
            mode: Mode::Unlimited,
            level: 0,
            max: 0,
        }
    }

    /// The current level: milli-tokens for the token-ratio rule, quota units for a quota.
    ///
    /// # Examples
    ///
    /// ```
    /// use headroom::backoff::RetryBudget;
    ///
    /// assert_eq!(RetryBudget::default().level(), 100_000);
    /// ```
    pub const fn level(&self) -> u64 {
        self.level
    }

    /// The largest level, in the same unit as [`level`](Self::level).
    ///
    /// # Examples
    ///
    /// ```
    /// use headroom::backoff::RetryBudget;
    ///
    /// assert_eq!(RetryBudget::aws_standard().max(), 500);
    /// ```
    pub const fn max(&self) -> u64 {
        self.max
    }

    /// Records a retryable failure (a 429, 529, 5xx, 408, 409 or transport error), whether or
    /// not it will be retried. Costs one token under the token-ratio rule; a quota does not
    /// charge failures, only retries.
    ///
    /// # Examples
    ///
    /// ```
    /// use headroom::backoff::RetryBudget;
    ///
    /// let mut budget = RetryBudget::token_ratio(10, 100);
    /// budget.record_failure();
    /// assert_eq!(budget.level(), 9_000);
    /// ```
    pub fn record_failure(&mut self) {
        if let Mode::TokenRatio { .. } = self.mode {
            self.level = self.level.saturating_sub(TOKEN);
        }
    }

    /// Asks to retry once. `throttled` says whether the failure was throttling (429 or 529),
    /// which is cheaper under the AWS quota. On success the cost is remembered in `attempt`, so
    /// that [`record_success`](Self::record_success) can refund it.
    ///
    /// # Errors
    ///
    /// [`GiveUp::BudgetExhausted`] when the token count is not above half the maximum, or the
    /// quota holds less than the retry's cost. Nothing is withdrawn then.
    ///
    /// # Examples
    ///
    /// ```
    /// use headroom::Attempt;
    /// use headroom::backoff::RetryBudget;
    /// use headroom::classify::GiveUp;
    ///
    /// let mut budget = RetryBudget::quota(10, 5, 14, 1);
    /// let mut attempt = Attempt::first();
    /// assert_eq!(budget.try_retry(false, &mut attempt), Err(GiveUp::BudgetExhausted));
    /// assert_eq!(budget.try_retry(true, &mut attempt), Ok(()));
    /// assert_eq!(budget.level(), 5);
    /// ```
    pub fn try_retry(&mut self, throttled: bool, attempt: &mut Attempt) -> Result<(), GiveUp> {
        match self.mode {
            Mode::Unlimited => Ok(()),
            Mode::TokenRatio { .. } => {
                if self.level > self.max / 2 {
                    Ok(())
                } else {
                    Err(GiveUp::BudgetExhausted)
                }
            }
            Mode::Quota {
                throttle_cost,
                other_cost,
                ..
            } => {
                let cost = if throttled { throttle_cost } else { other_cost };
                match self.level.checked_sub(u64::from(cost)) {
                    Some(left) => {
                        self.level = left;
                        attempt.budget_cost = cost;
                        Ok(())
                    }
                    None => Err(GiveUp::BudgetExhausted),
                }
            }
        }
    }

    /// Records a success (2xx) of the request whose retry state is `attempt`. Earns `ratio`
    /// milli-tokens under the token-ratio rule; under a quota returns the refund for a
    /// never-retried call, or the cost of the last retry. Never above [`max`](Self::max).
    ///
    /// # Examples
    ///
    /// ```
    /// use headroom::Attempt;
    /// use headroom::backoff::RetryBudget;
    ///
    /// let mut budget = RetryBudget::token_ratio(10, 100);
    /// budget.record_failure();
    /// budget.record_success(&Attempt::first());
    /// assert_eq!(budget.level(), 9_100);
    /// ```
    pub fn record_success(&mut self, attempt: &Attempt) {
        let earned = match self.mode {
            Mode::Unlimited => 0,
            Mode::TokenRatio { ratio_milli } => u64::from(ratio_milli),
            Mode::Quota { success_refund, .. } => {
                // A call that paid for a retry gets that back; one that never retried earns the
                // refund. (A retry cost of 0 is indistinguishable from no retry: harmless.)
                if attempt.budget_cost == 0 {
                    u64::from(success_refund)
                } else {
                    u64::from(attempt.budget_cost)
                }
            }
        };
        self.level = self.level.saturating_add(earned).min(self.max);
    }
}

impl Default for RetryBudget {
    /// The token-ratio rule, 100 tokens, ratio 0.1 (see the type's documentation).
    fn default() -> Self {
        Self::token_ratio(100, 100)
    }
}
