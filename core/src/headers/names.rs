//! Field names → what they mean. Names are compared without regard to ASCII case (RFC 9110
//! §5.1).
//!
//! Why it is shaped this way: a response carries many more ordinary fields (`content-type`,
//! `cf-ray`, `request-id`) than rate-limit ones, and every one of them is classified. So the
//! length and two bytes pick the one candidate name by a perfect hash ([`slot_of`]), and a single
//! comparison that folds case eight bytes at a time ([`case_bits`]) settles it, instead of a
//! chain of prefix and suffix comparisons or copying a lowercased name into a buffer first. Only
//! a name that misses is looked at again, by its first byte, to tell an unknown rate-limit field
//! ([`Field::Unsupported`]) from an ordinary one. On 64-bit targets the long names (16 to 48
//! bytes: every vendor name) take a faster road to the same answer, `words`: hashed from two
//! of the words that are compared anyway, then compared with words prepared at compile time.
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
#[cfg_attr(target_pointer_width = "64", inline(always))]
#[cfg_attr(not(target_pointer_width = "64"), inline)]
pub(super) fn field_of(name: &[u8]) -> Field {
    let field = recognise(name);
    match field.family() {
        Some(family) if !family.enabled() => Field::Disabled,
        _ => field,
    }
}

/// Every name [`recognise`] knows exactly, lowercase, with what it means. Anything else that
/// starts with a rate-limit prefix is [`Field::Unsupported`] ([`unsupported_or_other`]).
///
/// Only `a`–`z` and `-` appear in these names: [`eq_fold_lower`] relies on it.
pub(super) const NAMES: [(&[u8], Field); 45] = {
    use {Family::*, Part::*, Scope::*};
    [
        (b"date", Field::Date),
        (b"retry-after", Field::RetryAfter),
        (b"retry-after-ms", Field::RetryAfterMs),
        (b"x-should-retry", Field::ShouldRetry),
        (b"ratelimit", Field::RateLimit),
        (b"ratelimit-policy", Field::RateLimitPolicy),
        (b"ratelimit-limit", quota(Ietf, Requests, Limit)),
        (b"ratelimit-remaining", quota(Ietf, Requests, Remaining)),
        (b"ratelimit-reset", quota(Ietf, Requests, Reset)),
        (
            b"anthropic-ratelimit-requests-limit",
            quota(Anthropic, Requests, Limit),
        ),
        (
            b"anthropic-ratelimit-requests-remaining",
            quota(Anthropic, Requests, Remaining),
        ),
        (
            b"anthropic-ratelimit-requests-reset",
            quota(Anthropic, Requests, Reset),
        ),
        (
            b"anthropic-ratelimit-tokens-limit",
            quota(Anthropic, Tokens, Limit),
        ),
        (
            b"anthropic-ratelimit-tokens-remaining",
            quota(Anthropic, Tokens, Remaining),
        ),
        (
            b"anthropic-ratelimit-tokens-reset",
            quota(Anthropic, Tokens, Reset),
        ),
        (
            b"anthropic-ratelimit-input-tokens-limit",
            quota(Anthropic, InputTokens, Limit),
        ),
        (
            b"anthropic-ratelimit-input-tokens-remaining",
            quota(Anthropic, InputTokens, Remaining),
        ),
        (
            b"anthropic-ratelimit-input-tokens-reset",
            quota(Anthropic, InputTokens, Reset),
        ),
        (
            b"anthropic-ratelimit-output-tokens-limit",
            quota(Anthropic, OutputTokens, Limit),
        ),
        (
            b"anthropic-ratelimit-output-tokens-remaining",
            quota(Anthropic, OutputTokens, Remaining),
        ),
        (
            b"anthropic-ratelimit-output-tokens-reset",
            quota(Anthropic, OutputTokens, Reset),
        ),
        (
            b"anthropic-priority-input-tokens-limit",
            quota(Anthropic, PriorityInputTokens, Limit),
        ),
        (
            b"anthropic-priority-input-tokens-remaining",
            quota(Anthropic, PriorityInputTokens, Remaining),
        ),
        (
            b"anthropic-priority-input-tokens-reset",
            quota(Anthropic, PriorityInputTokens, Reset),
        ),
        (
            b"anthropic-priority-output-tokens-limit",
            quota(Anthropic, PriorityOutputTokens, Limit),
        ),
        (
            b"anthropic-priority-output-tokens-remaining",
            quota(Anthropic, PriorityOutputTokens, Remaining),
        ),
        (
            b"anthropic-priority-output-tokens-reset",
            quota(Anthropic, PriorityOutputTokens, Reset),
        ),
        (
            b"anthropic-fast-input-tokens-limit",
            quota(Anthropic, FastInputTokens, Limit),
        ),
        (
            b"anthropic-fast-input-tokens-remaining",
            quota(Anthropic, FastInputTokens, Remaining),
        ),
        (
            b"anthropic-fast-input-tokens-reset",
            quota(Anthropic, FastInputTokens, Reset),
        ),
        (
            b"anthropic-fast-output-tokens-limit",
            quota(Anthropic, FastOutputTokens, Limit),
        ),
        (
            b"anthropic-fast-output-tokens-remaining",
            quota(Anthropic, FastOutputTokens, Remaining),
        ),
        (
            b"anthropic-fast-output-tokens-reset",
            quota(Anthropic, FastOutputTokens, Reset),
        ),
        (
            b"x-ratelimit-limit-requests",
            quota(OpenAi, Requests, Limit),
        ),
        (
            b"x-ratelimit-remaining-requests",
            quota(OpenAi, Requests, Remaining),
        ),
        (
            b"x-ratelimit-reset-requests",
            quota(OpenAi, Requests, Reset),
        ),
        (b"x-ratelimit-limit-tokens", quota(OpenAi, Tokens, Limit)),
        (
            b"x-ratelimit-remaining-tokens",
            quota(OpenAi, Tokens, Remaining),
        ),
        (b"x-ratelimit-reset-tokens", quota(OpenAi, Tokens, Reset)),
        (
            b"x-ratelimit-limit-input-tokens",
            quota(OpenAi, InputTokens, Limit),
        ),
        (
            b"x-ratelimit-remaining-input-tokens",
            quota(OpenAi, InputTokens, Remaining),
        ),
        (
            b"x-ratelimit-reset-input-tokens",
            quota(OpenAi, InputTokens, Reset),
        ),
        (
            b"x-ratelimit-limit-output-tokens",
            quota(OpenAi, OutputTokens, Limit),
        ),
        (
            b"x-ratelimit-remaining-output-tokens",
            quota(OpenAi, OutputTokens, Remaining),
        ),
        (
            b"x-ratelimit-reset-output-tokens",
            quota(OpenAi, OutputTokens, Reset),
        ),
    ]
};

/// The multiplier of [`slot_of`], found by search so that the 45 keys of [`NAMES`] land in 45
/// different slots of 128 (a test checks it: `every_name_has_its_own_slot`).
const MAGIC: u32 = 0xa463_f1e7;

/// Which of the 128 slots a name's key falls in: `(length, byte 12, byte len − 2)`, bytes
/// case-folded by setting bit 0x20 (a missing byte is 0), mixed by one multiplication. The two
/// bytes are where the known names differ: byte 12 tells the prefixes and the scopes apart,
/// the one before last tells `limit`, `remaining` and `reset` apart.
const fn slot_of(name: &[u8]) -> usize {
    let len = name.len();
    #[expect(
        clippy::cast_possible_truncation,
        reason = "a name longer than NAME_MAX never gets here"
    )]
    let key = len as u32 | folded(name, 12) << 8 | folded(name, len.wrapping_sub(2)) << 16;
    (key.wrapping_mul(MAGIC) >> 25) as usize
}

/// Byte `at` of `name` with bit 0x20 set (the case of a letter folded), 0 past the end.
const fn folded(name: &[u8], at: usize) -> u32 {
    match name.split_at_checked(at) {
        Some((_, [byte, ..])) => (*byte | 0x20) as u32,
        _ => 0,
    }
}

/// Slot → 1 + index in [`NAMES`], 0 for an empty slot. Built at compile time from [`NAMES`].
#[expect(
    clippy::indexing_slicing,
    reason = "evaluated at compile time: an index out of bounds would fail the build"
)]
const SLOTS: [u8; 128] = {
    let mut slots = [0; 128];
    let mut i = 0;
    while i < NAMES.len() {
        slots[slot_of(NAMES[i].0)] = (i + 1) as u8;
        i += 1;
    }
    slots
};

/// Which field a header name is, in any dialect: one hash, one comparison.
#[cfg_attr(target_pointer_width = "64", inline(always))]
fn recognise(name: &[u8]) -> Field {
    #[cfg(target_pointer_width = "64")]
    {
        let len = name.len();
        if (words::SHORTEST..=words::LONGEST).contains(&len) {
            return match words::known(name) {
                Some(field) => field,
                None => unsupported_or_other(name),
            };
        }
        // Every name of [`NAMES`] and every rate-limit prefix starts with `a`, `d`, `r` or `x`
        // (in either case): the short ordinary names (`server`, `content-type`) leave here.
        if !matches!(
            name.first().map(|b| b | 0x20),
            Some(b'a' | b'd' | b'r' | b'x')
        ) {
            return Field::Other;
        }
        if len < words::SHORTEST {
            return match candidate(name) {
                Some(&(lower, field)) if short_eq_fold_lower(name, lower) => field,
                _ => unsupported_or_other(name),
            };
        }
    }
    if name.len() > NAME_MAX {
        return Field::Other;
    }
    match candidate(name) {
        Some(&(lower, field)) if eq_fold_lower(name, lower) => field,
        _ => unsupported_or_other(name),
    }
}

/// The one name of [`NAMES`] that `name` can be: the one in its slot ([`slot_of`]), if any.
#[inline(always)]
fn candidate(name: &[u8]) -> Option<&'static (&'static [u8], Field)> {
    SLOTS
        .get(slot_of(name))
        .and_then(|&entry| NAMES.get(usize::from(entry).checked_sub(1)?))
}

/// [`eq_fold_lower`] for names of at most 16 bytes on 64-bit targets, inlined: two
/// (possibly overlapping) words, or two half words, or bytes.
#[cfg(target_pointer_width = "64")]
#[inline(always)]
fn short_eq_fold_lower(name: &[u8], lower: &[u8]) -> bool {
    let len = name.len();
    if len != lower.len() {
        return false;
    }
    let (at, chunk) = match len {
        8..=16 => (len.wrapping_sub(8), 8),
        4..=7 => (len.wrapping_sub(4), 4),
        _ => return name.eq_ignore_ascii_case(lower),
    };
    let load = |bytes: &[u8], at: usize| {
        let bytes = bytes.get(at..at.wrapping_add(chunk)).unwrap_or_default();
        match chunk {
            8 => word(bytes),
            _ => half_word(bytes),
        }
    };
    let differ = |at: usize| word_differ(load(name, at), load(lower, at));
    differ(0) | differ(at) == 0
}

/// A name that is none of [`NAMES`]: [`Field::Unsupported`] when it starts like a rate-limit
/// field (`anthropic-ratelimit-unified-status`, `x-ratelimit-limit-project-tokens`), else
/// [`Field::Other`] (`content-type`, `anthropic-organization-id`).
fn unsupported_or_other(name: &[u8]) -> Field {
    let has = |prefix: &[u8]| {
        name.get(..prefix.len())
            .is_some_and(|head| eq_fold_lower(head, prefix))
    };
    let rate_limit = match name.first().map(|b| b | 0x20) {
        Some(b'a') => {
            has(b"anthropic-ratelimit-") || has(b"anthropic-priority-") || has(b"anthropic-fast-")
        }
        Some(b'x') => has(b"x-ratelimit-"),
        Some(b'r') => has(b"ratelimit-"),
        _ => false,
    };
    if rate_limit {
        Field::Unsupported
    } else {
        Field::Other
    }
}

/// The bits that ASCII case folding may set in a word of a `pattern` made of `a`–`z` and `-`
/// only: 0x20 in every letter byte (the ones with bit 0x40 set), 0 elsewhere. Then
/// `word | case_bits(pattern) == pattern` ([`word_differ`] is 0) says, exactly, that each byte of `word` is its pattern
/// byte in either case: only a letter and its uppercase form differ in bit 0x20 alone.
#[inline(always)]
const fn case_bits(pattern: u64) -> u64 {
    (pattern & 0x4040_4040_4040_4040) >> 1
}

/// The bytes in which `word` differs from `pattern` (`a`–`z` and `-` only) other than by ASCII
/// case: zero when they are equal without regard to case.
#[inline(always)]
const fn word_differ(word: u64, pattern: u64) -> u64 {
    (word | case_bits(pattern)) ^ pattern
}

/// [`word_differ`] for one byte: zero when `byte` is `pattern` (`a`–`z` or `-`) in either case.
#[inline(always)]
const fn byte_differ(byte: u8, pattern: u8) -> u8 {
    (byte | (pattern & 0x40) >> 1) ^ pattern
}

/// [`eq_fold_lower`] for names of one length, byte by byte: what 32-bit targets run.
#[inline(always)]
fn bytes_eq_fold_lower(name: &[u8], lower: &[u8]) -> bool {
    name.iter()
        .zip(lower)
        .all(|(&byte, &pattern)| byte_differ(byte, pattern) == 0)
}

/// Eight bytes as a little-endian word.
#[inline(always)]
fn word(chunk: &[u8]) -> u64 {
    chunk.try_into().map_or(0, u64::from_le_bytes)
}

/// Four bytes as a little-endian word, widened.
#[inline(always)]
fn half_word(chunk: &[u8]) -> u64 {
    chunk
        .try_into()
        .map_or(0, |bytes| u64::from(u32::from_le_bytes(bytes)))
}

/// Whether `name` is `lower` (`a`–`z` and `-` only) without regard to ASCII case, eight bytes
/// at a time and without a branch per word: the differences of all words are or-ed together.
///
/// On targets without 64-bit registers the words cost more flash than they save time (every
/// 64-bit operation is two), so there the bytes are compared one by one by the same rule.
#[inline]
fn eq_fold_lower(name: &[u8], lower: &[u8]) -> bool {
    let len = name.len();
    if len != lower.len() {
        return false;
    }
    if cfg!(not(target_pointer_width = "64")) {
        return bytes_eq_fold_lower(name, lower);
    }
    if len < 4 {
        return name.eq_ignore_ascii_case(lower);
    }
    if len <= 8 {
        // Two (possibly overlapping) four-byte words, from the front and ending at the end.
        let tail = len.saturating_sub(4);
        let (name_head, lower_head) = (name.get(..4), lower.get(..4));
        let (name_tail, lower_tail) = (name.get(tail..), lower.get(tail..));
        let head = word_differ(
            half_word(name_head.unwrap_or_default()),
            half_word(lower_head.unwrap_or_default()),
        );
        let tail = word_differ(
            half_word(name_tail.unwrap_or_default()),
            half_word(lower_tail.unwrap_or_default()),
        );
        return head | tail == 0;
    }
    words_differ(name, lower, word_differ) == 0
}

/// The or of `differ` over two names of one length, 9 to [`NAME_MAX`] bytes: eight-byte words
/// at 0, 8, 16, … while a whole word fits before the last one, then the (possibly overlapping)
/// word ending at the end. Straight-line code: a loop costs more to set up than it saves.
#[inline(always)]
fn words_differ(name: &[u8], lower: &[u8], differ: impl Fn(u64, u64) -> u64) -> u64 {
    let len = name.len();
    let at = |at: usize| {
        let (Some(a), Some(b)) = (name.get(at..), lower.get(at..)) else {
            return u64::MAX;
        };
        differ(
            word(a.get(..8).unwrap_or_default()),
            word(b.get(..8).unwrap_or_default()),
        )
    };
    let mut diff = at(0) | at(len.saturating_sub(8));
    for offset in [8_usize, 16, 24, 32, 40, 48] {
        if len > offset.saturating_add(8) {
            diff |= at(offset);
        }
    }
    diff
}

#[cfg(test)]
mod tests;
#[cfg(target_pointer_width = "64")]
mod words;
