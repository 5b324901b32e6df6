//! Field names → what they mean. Names are compared without regard to ASCII case (RFC 9110
//! §5.1).
//!
//! Why it is shaped this way: a response carries many more ordinary fields (`content-type`,
//! `cf-ray`, `request-id`) than rate-limit ones, and every one of them is classified. So the
//! first byte and the length pick the few candidate names before any comparison, which rejects
//! most ordinary fields in a couple of instructions; and the comparisons fold case eight bytes
//! at a time ([`case_bits`]) instead of copying a lowercased name into a buffer first.
//!
//! Names of every dialect are recognised in every build; a dialect whose Cargo feature
//! (`anthropic`, `openai`, `ietf`) is off turns its fields into [`Field::Disabled`], so that they
//! are reported instead of being mistaken for unrelated fields, and its value readers are not
//! linked.

use super::snapshot::Scope;

/// The longest field name looked at; longer names are never rate-limit fields.
const NAME_MAX: usize = 64;

/// A family of rate-limit fields; the first one seen in a response wins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Family {
    Anthropic,
    OpenAi,
    Ietf,
}

impl Family {
    /// Whether this build reads the family's fields (its Cargo feature is on).
    const fn enabled(self) -> bool {
        match self {
            Self::Anthropic => cfg!(feature = "anthropic"),
            Self::OpenAi => cfg!(feature = "openai"),
            Self::Ietf => cfg!(feature = "ietf"),
        }
    }
}

/// One of the three facts a vendor field can carry about a quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Part {
    Limit,
    Remaining,
    Reset,
}

/// What a field name means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Field {
    /// `anthropic-ratelimit-*`, `x-ratelimit-*`, `RateLimit-{Limit,Remaining,Reset}`.
    Quota {
        family: Family,
        scope: Scope,
        part: Part,
    },
    /// A rate-limit field of a known family that headroom does not model.
    Unsupported,
    RetryAfter,
    RetryAfterMs,
    ShouldRetry,
    Date,
    /// IETF `RateLimit` (draft -07 dictionary or ≥ -08 list).
    RateLimit,
    /// IETF `RateLimit-Policy`.
    RateLimitPolicy,
    /// A field of a dialect whose Cargo feature is off: reported, not read.
    Disabled,
    /// Anything else: not looked at and not reported.
    Other,
}

impl Field {
    /// The rate-limit family a field belongs to, if any.
    const fn family(self) -> Option<Family> {
        match self {
            Self::Quota { family, .. } => Some(family),
            Self::RateLimit | Self::RateLimitPolicy => Some(Family::Ietf),
            _ => None,
        }
    }
}

const fn quota(family: Family, scope: Scope, part: Part) -> Field {
    Field::Quota {
        family,
        scope,
        part,
    }
}

/// Which field a header name is (named apart from `classify::classify`, which
/// classifies whole responses), as this build reads it: [`Field::Disabled`] for a field of a
/// dialect whose feature is off. With every dialect on, this is [`recognise`] itself.
#[inline]
pub(super) fn field_of(name: &[u8]) -> Field {
    let field = recognise(name);
    match field.family() {
        Some(family) if !family.enabled() => Field::Disabled,
        _ => field,
    }
}

/// Which field a header name is, in any dialect.
fn recognise(name: &[u8]) -> Field {
    if name.len() > NAME_MAX {
        return Field::Other;
    }
    let Some(first) = name.first() else {
        return Field::Other;
    };
    match first.to_ascii_lowercase() {
        b'a' => anthropic(name),
        b'x' => x_prefixed(name),
        b'r' => r_prefixed(name),
        b'd' if eq_fold(name, b"date") => Field::Date,
        _ => Field::Other,
    }
}

/// `anthropic-{ratelimit,priority,fast}-*`; other `anthropic-*` fields (`-organization-id`) are
/// not rate-limit fields.
fn anthropic(name: &[u8]) -> Field {
    use {Part::*, Scope::*};
    let field = |scope, part| quota(Family::Anthropic, scope, part);
    // `{kind}-{limit|remaining|reset}`, every combination spelt out and told apart by length
    // first, so that a name costs one or two comparisons of whole words.
    if let Some(rest) = strip_prefix_fold(name, b"anthropic-ratelimit-") {
        return match rest.len() {
            12 if eq_fold(rest, b"tokens-limit") => field(Tokens, Limit),
            12 if eq_fold(rest, b"tokens-reset") => field(Tokens, Reset),
            14 if eq_fold(rest, b"requests-limit") => field(Requests, Limit),
            14 if eq_fold(rest, b"requests-reset") => field(Requests, Reset),
            16 if eq_fold(rest, b"tokens-remaining") => field(Tokens, Remaining),
            18 if eq_fold(rest, b"requests-remaining") => field(Requests, Remaining),
            18 if eq_fold(rest, b"input-tokens-limit") => field(InputTokens, Limit),
            18 if eq_fold(rest, b"input-tokens-reset") => field(InputTokens, Reset),
            19 if eq_fold(rest, b"output-tokens-limit") => field(OutputTokens, Limit),
            19 if eq_fold(rest, b"output-tokens-reset") => field(OutputTokens, Reset),
            22 if eq_fold(rest, b"input-tokens-remaining") => field(InputTokens, Remaining),
            23 if eq_fold(rest, b"output-tokens-remaining") => field(OutputTokens, Remaining),
            _ => Field::Unsupported,
        };
    }
    let Some(rest) = strip_prefix_fold(name, b"anthropic-") else {
        return Field::Other;
    };
    let (rest, input, output) = if let Some(rest) = strip_prefix_fold(rest, b"priority-") {
        (rest, PriorityInputTokens, PriorityOutputTokens)
    } else if let Some(rest) = strip_prefix_fold(rest, b"fast-") {
        (rest, FastInputTokens, FastOutputTokens)
    } else {
        return Field::Other;
    };
    match rest.len() {
        18 if eq_fold(rest, b"input-tokens-limit") => field(input, Limit),
        18 if eq_fold(rest, b"input-tokens-reset") => field(input, Reset),
        19 if eq_fold(rest, b"output-tokens-limit") => field(output, Limit),
        19 if eq_fold(rest, b"output-tokens-reset") => field(output, Reset),
        22 if eq_fold(rest, b"input-tokens-remaining") => field(input, Remaining),
        23 if eq_fold(rest, b"output-tokens-remaining") => field(output, Remaining),
        _ => Field::Unsupported,
    }
}

/// `x-should-retry` and `x-ratelimit-{limit|remaining|reset}-{kind}`.
fn x_prefixed(name: &[u8]) -> Field {
    use {Part::*, Scope::*};
    if eq_fold(name, b"x-should-retry") {
        return Field::ShouldRetry;
    }
    let Some(rest) = strip_prefix_fold(name, b"x-ratelimit-") else {
        return Field::Other;
    };
    let field = |scope, part| quota(Family::OpenAi, scope, part);
    // As for Anthropic: every combination, by length first. Anything else, such as
    // `-project-tokens` and `-tokens_usage_based`, is another pool.
    match rest.len() {
        12 if eq_fold(rest, b"limit-tokens") => field(Tokens, Limit),
        12 if eq_fold(rest, b"reset-tokens") => field(Tokens, Reset),
        14 if eq_fold(rest, b"limit-requests") => field(Requests, Limit),
        14 if eq_fold(rest, b"reset-requests") => field(Requests, Reset),
        16 if eq_fold(rest, b"remaining-tokens") => field(Tokens, Remaining),
        18 if eq_fold(rest, b"remaining-requests") => field(Requests, Remaining),
        18 if eq_fold(rest, b"limit-input-tokens") => field(InputTokens, Limit),
        18 if eq_fold(rest, b"reset-input-tokens") => field(InputTokens, Reset),
        19 if eq_fold(rest, b"limit-output-tokens") => field(OutputTokens, Limit),
        19 if eq_fold(rest, b"reset-output-tokens") => field(OutputTokens, Reset),
        22 if eq_fold(rest, b"remaining-input-tokens") => field(InputTokens, Remaining),
        23 if eq_fold(rest, b"remaining-output-tokens") => field(OutputTokens, Remaining),
        _ => Field::Unsupported,
    }
}

/// `retry-after`, `retry-after-ms`, IETF `RateLimit` and `RateLimit-*`.
fn r_prefixed(name: &[u8]) -> Field {
    if let Some(rest) = strip_prefix_fold(name, b"ratelimit") {
        let Some(rest) = strip_prefix_fold(rest, b"-") else {
            return if rest.is_empty() {
                Field::RateLimit
            } else {
                Field::Other
            };
        };
        let ietf = |part| quota(Family::Ietf, Scope::Requests, part);
        return match rest.len() {
            5 if eq_fold(rest, b"limit") => ietf(Part::Limit),
            5 if eq_fold(rest, b"reset") => ietf(Part::Reset),
            6 if eq_fold(rest, b"policy") => Field::RateLimitPolicy,
            9 if eq_fold(rest, b"remaining") => ietf(Part::Remaining),
            _ => Field::Unsupported,
        };
    }
    match name.len() {
        11 if eq_fold(name, b"retry-after") => Field::RetryAfter,
        14 if eq_fold(name, b"retry-after-ms") => Field::RetryAfterMs,
        _ => Field::Other,
    }
}

/// The bits that ASCII case folding may set in a word of lowercase `pattern`: 0x20 in every byte
/// that is a letter, 0 elsewhere. Then `word | case_bits(pattern) == pattern` says, exactly,
/// that each byte of `word` is its pattern byte in either case: a letter with bit 0x20 set is
/// lowercase, and only it and its uppercase form have that; any other byte must be equal.
///
/// Per byte: drop the high bit (so the additions below cannot carry into the next byte), add so
/// that the high bit says "≥ `a`" in one word and "> `z`" in another, then move the verdict of a
/// byte that was below 0x80 down to bit 0x20. Patterns are constants, so this folds away.
const fn case_bits(pattern: u64) -> u64 {
    const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    /// 0x80 − `a` in every byte: the high bit is set from `a` up.
    const FROM_A: u64 = 0x1f1f_1f1f_1f1f_1f1f;
    /// 0x7f − `z` in every byte: the high bit is set above `z`.
    const AFTER_Z: u64 = 0x0505_0505_0505_0505;
    let low7 = pattern & LOW7;
    let from_a = low7.wrapping_add(FROM_A);
    let after_z = low7.wrapping_add(AFTER_Z);
    (from_a & !after_z & !pattern & HIGH) >> 2
}

/// Whether `word` is the lowercase `pattern` without regard to ASCII case.
#[inline(always)]
const fn word_eq_fold(word: u64, pattern: u64) -> bool {
    word | case_bits(pattern) == pattern
}

/// Bytes `at..at + 8` as a little-endian word.
#[inline(always)]
fn word(bytes: &[u8], at: usize) -> Option<u64> {
    let chunk = bytes.get(at..at.checked_add(8)?)?;
    chunk.try_into().ok().map(u64::from_le_bytes)
}

/// Up to eight bytes as a little-endian word, zero-padded.
#[inline(always)]
fn short_word(bytes: &[u8]) -> u64 {
    let mut padded = [0; 8];
    for (to, from) in padded.iter_mut().zip(bytes) {
        *to = *from;
    }
    u64::from_le_bytes(padded)
}

/// Whether `name` is `lower` (all lowercase) without regard to ASCII case.
#[inline(always)]
fn eq_fold(name: &[u8], lower: &[u8]) -> bool {
    let len = name.len();
    if len != lower.len() {
        return false;
    }
    if len <= 8 {
        return word_eq_fold(short_word(name), short_word(lower));
    }
    // Whole words from the front, then one (possibly overlapping) word ending at the end.
    let last = len.saturating_sub(8);
    let mut at = 0;
    while at < last {
        match (word(name, at), word(lower, at)) {
            (Some(word), Some(pattern)) if word_eq_fold(word, pattern) => {}
            _ => return false,
        }
        at = at.saturating_add(8);
    }
    matches!((word(name, last), word(lower, last)), (Some(word), Some(pattern)) if word_eq_fold(word, pattern))
}

/// `name` without its first bytes, when those are `lower` without regard to case.
#[inline]
fn strip_prefix_fold<'a>(name: &'a [u8], lower: &[u8]) -> Option<&'a [u8]> {
    let (head, tail) = name.split_at_checked(lower.len())?;
    eq_fold(head, lower).then_some(tail)
}

#[cfg(test)]
mod tests;
