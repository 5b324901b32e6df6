//! What a request costs, and which parts of it count against which limit.
//!
//! Providers do not agree on what they meter, and they change their minds:
//!
//! * Anthropic counts `input_tokens` and `cache_creation_input_tokens` towards ITPM but, for most
//!   models, not `cache_read_input_tokens` (some older models do count them).
//! * Anthropic's older docs charged OTPM up front from `max_tokens` and reconciled at the end;
//!   the current docs charge only the output actually generated.
//!
//! So the cost model is per lane: a [`CostModel`] turns the caller's estimate ([`Cost`]) into the
//! charges taken before sending, and the response's [`Usage`] into the charges that really
//! counted. The engine reserves the first and settles to the second.

use core::num::NonZeroU32;

use crate::LimitKind;

/// What a request is expected to cost, as known before it is sent.
///
/// At least one request: a cost of zero requests would pass every request limit for free, so
/// it cannot be built (the request count is a `NonZeroU32`).
///
/// # Examples
///
/// ```
/// use headroom::{Cost, nz};
///
/// let cost = Cost::request(1_200, 1_024);
/// assert_eq!(cost.requests().get(), 1);
/// assert_eq!(cost.input_tokens(), 1_200);
/// assert_eq!(cost.max_tokens(), 1_024);
/// assert_eq!(Cost::new(nz!(3), 0, 0).requests().get(), 3);
/// ```
///
/// ```compile_fail
/// let free: headroom::Cost = Default::default(); // no cost of zero requests exists
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Cost {
    requests: NonZeroU32,
    input_tokens: u64,
    max_tokens: u64,
}

impl Cost {
    /// One request with an input estimate and a `max_tokens` bound.
    ///
    /// # Examples
    ///
    /// ```
    /// use headroom::Cost;
    ///
    /// assert_eq!(Cost::request(10, 20).max_tokens(), 20);
    /// ```
    pub const fn request(input_tokens: u64, max_tokens: u64) -> Self {
        Self::new(NonZeroU32::MIN, input_tokens, max_tokens)
    }

    /// `requests` requests at once (a batch counted as several), with their input estimate and
    /// output bound.
    ///
    /// # Examples
    ///
    /// ```
    /// use headroom::{Cost, nz};
    ///
    /// let batch = Cost::new(nz!(4), 4_000, 2_048);
    /// assert_eq!((batch.requests().get(), batch.input_tokens()), (4, 4_000));
    /// ```
    pub const fn new(requests: NonZeroU32, input_tokens: u64, max_tokens: u64) -> Self {
        Self {
            requests,
            input_tokens,
            max_tokens,
        }
    }

    /// Requests (normally 1).
    pub const fn requests(&self) -> NonZeroU32 {
        self.requests
    }

    /// Input tokens that count towards the input limit: the caller's estimate of the uncached
    /// input (plus cache reads when the lane counts them).
    pub const fn input_tokens(&self) -> u64 {
        self.input_tokens
    }

    /// The output bound, `max_tokens`. Charged up front only when the lane says so
    /// ([`OutputCharge::Reserve`]).
    pub const fn max_tokens(&self) -> u64 {
        self.max_tokens
    }
}

/// What a request really used, from the response body's `usage` object.
///
/// # Examples
///
/// ```
/// use headroom::Usage;
///
/// let usage = Usage { input_tokens: 1_180, output_tokens: 311, ..Usage::default() };
/// assert_eq!(usage.cache_read_input_tokens, 0);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Usage {
    /// Uncached input tokens (after the last cache breakpoint).
    pub input_tokens: u64,
    /// Output tokens generated.
    pub output_tokens: u64,
    /// Input tokens read from the prompt cache.
    pub cache_read_input_tokens: u64,
    /// Input tokens written to the prompt cache.
    pub cache_creation_input_tokens: u64,
}

/// Whether prompt-cache reads count towards the input-token limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum CacheReads {
    /// Cache reads are free for rate limiting (current Anthropic models). The default.
    #[default]
    Excluded,
    /// Cache reads count like any input token (older Anthropic models, marked † in the docs).
    Counted,
}

/// When output tokens are charged against the output and combined limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum OutputCharge {
    /// Reserve `max_tokens` before sending and reconcile with the actual output afterwards
    /// (Anthropic's legacy OTPM accounting, OpenAI's TPM). The default: it never under-reserves.
    #[default]
    Reserve,
    /// Only the output actually generated counts (Anthropic's current OTPM accounting, where
    /// `max_tokens` does not count). Up front the lane charges its running estimate of a
    /// request's output (a moving average of the actual outputs it has settled, at most
    /// `max_tokens`, and at most what the output pace's burst holds and the combined pace's
    /// next to the request's input: an estimate never makes a request one that can never be
    /// sent), so an exhausted output bucket still holds requests back; settling replaces the
    /// estimate with the actual output.
    Actual,
}

/// Per-limit amounts, indexed by [`LimitKind::index`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Charges(pub(crate) [u64; 4]);

impl Charges {
    pub(crate) fn get(&self, kind: LimitKind) -> u64 {
        self.0.get(kind.index()).copied().unwrap_or(0)
    }
}

/// How a lane turns costs and usage into charges.
///
/// # Examples
///
/// ```
/// use headroom::{CacheReads, CostModel, OutputCharge};
///
/// let current = CostModel::new(CacheReads::Excluded, OutputCharge::Actual);
/// assert_eq!(current, CostModel::ANTHROPIC_CURRENT);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct CostModel {
    /// Whether cache reads count towards the input limit.
    pub cache_reads: CacheReads,
    /// When output is charged.
    pub output: OutputCharge,
}

impl CostModel {
    /// Current Anthropic accounting: cache reads free, output charged as generated.
    pub const ANTHROPIC_CURRENT: Self = Self::new(CacheReads::Excluded, OutputCharge::Actual);
    /// Legacy Anthropic accounting: cache reads free, `max_tokens` reserved up front.
    pub const ANTHROPIC_LEGACY: Self = Self::new(CacheReads::Excluded, OutputCharge::Reserve);

    /// A cost model from its two choices.
    pub const fn new(cache_reads: CacheReads, output: OutputCharge) -> Self {
        Self {
            cache_reads,
            output,
        }
    }

    /// What is charged before sending; `output_estimate` is the lane's expected output for
    /// [`OutputCharge::Actual`].
    // Out of line on 32-bit targets: three uses (−56 B on a Cortex-M4).
    #[cfg_attr(not(target_pointer_width = "64"), inline(never))]
    pub(crate) fn upfront(&self, cost: &Cost, output_estimate: u64) -> Charges {
        let output = match self.output {
            OutputCharge::Reserve => cost.max_tokens,
            OutputCharge::Actual => cost.max_tokens.min(output_estimate),
        };
        Charges([
            u64::from(cost.requests.get()),
            cost.input_tokens,
            output,
            cost.input_tokens.saturating_add(output),
        ])
    }

    /// What really counted, once the response's usage is known; `requests` is what was charged
    /// for requests.
    pub(crate) fn actual(&self, requests: u64, usage: &Usage) -> Charges {
        let cache_reads = match self.cache_reads {
            CacheReads::Excluded => 0,
            CacheReads::Counted => usage.cache_read_input_tokens,
        };
        let input = usage
            .input_tokens
            .saturating_add(usage.cache_creation_input_tokens)
            .saturating_add(cache_reads);
        Charges([
            requests,
            input,
            usage.output_tokens,
            input.saturating_add(usage.output_tokens),
        ])
    }
}

/// What a response says was used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum UsedTokens {
    /// The body's `usage`.
    Measured(Usage),
    /// The server refused the request (429, 529) before processing any token.
    Refused,
}

#[cfg(test)]
mod tests {
    use super::*;

    const USAGE: Usage = Usage {
        input_tokens: 100,
        output_tokens: 50,
        cache_read_input_tokens: 1_000,
        cache_creation_input_tokens: 10,
    };

    #[test]
    fn upfront_follows_the_output_mode() {
        let cost = Cost::request(1_200, 1_024);
        assert_eq!(
            CostModel::ANTHROPIC_LEGACY.upfront(&cost, 0),
            Charges([1, 1_200, 1_024, 2_224])
        );
        assert_eq!(
            CostModel::ANTHROPIC_CURRENT.upfront(&cost, 0),
            Charges([1, 1_200, 0, 1_200])
        );
        assert_eq!(
            CostModel::ANTHROPIC_CURRENT.upfront(&cost, 300),
            Charges([1, 1_200, 300, 1_500])
        );
        assert_eq!(
            CostModel::ANTHROPIC_CURRENT.upfront(&cost, 5_000),
            Charges([1, 1_200, 1_024, 2_224])
        );
    }

    #[test]
    fn cache_reads_count_only_when_the_lane_says_so() {
        assert_eq!(
            CostModel::ANTHROPIC_CURRENT.actual(1, &USAGE),
            Charges([1, 110, 50, 160])
        );
        let counted = CostModel::new(CacheReads::Counted, OutputCharge::Reserve);
        assert_eq!(counted.actual(1, &USAGE), Charges([1, 1_110, 50, 1_160]));
    }

    #[test]
    fn huge_numbers_saturate() {
        let cost = Cost::request(u64::MAX, u64::MAX);
        assert_eq!(
            CostModel::ANTHROPIC_LEGACY
                .upfront(&cost, u64::MAX)
                .get(LimitKind::Tokens),
            u64::MAX
        );
        let usage = Usage {
            input_tokens: u64::MAX,
            output_tokens: u64::MAX,
            cache_read_input_tokens: u64::MAX,
            cache_creation_input_tokens: u64::MAX,
        };
        let counted = CostModel::new(CacheReads::Counted, OutputCharge::Actual);
        assert_eq!(counted.actual(1, &usage).get(LimitKind::Tokens), u64::MAX);
    }
}
