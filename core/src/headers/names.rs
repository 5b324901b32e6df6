//! Field names → what they mean. Names are compared without regard to ASCII case (RFC 9110
//! §5.1), through a fixed stack buffer: no standard name is longer than [`NAME_MAX`].

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
    /// Anything else: not looked at and not reported.
    Other,
}

/// Classifies a field name.
pub(super) fn classify(name: &[u8]) -> Field {
    let mut buffer = [0_u8; NAME_MAX];
    let Some(lower) = buffer.get_mut(..name.len()) else {
        return Field::Other;
    };
    for (to, from) in lower.iter_mut().zip(name) {
        *to = from.to_ascii_lowercase();
    }
    let lower: &[u8] = lower;
    let quota = |family, scope, part| Field::Quota {
        family,
        scope,
        part,
    };
    match lower {
        b"retry-after" => return Field::RetryAfter,
        b"retry-after-ms" => return Field::RetryAfterMs,
        b"x-should-retry" => return Field::ShouldRetry,
        b"date" => return Field::Date,
        b"ratelimit" => return Field::RateLimit,
        b"ratelimit-policy" => return Field::RateLimitPolicy,
        b"ratelimit-limit" => return quota(Family::Ietf, Scope::Requests, Part::Limit),
        b"ratelimit-remaining" => return quota(Family::Ietf, Scope::Requests, Part::Remaining),
        b"ratelimit-reset" => return quota(Family::Ietf, Scope::Requests, Part::Reset),
        _ => {}
    }
    if let Some(rest) = lower.strip_prefix(b"anthropic-ratelimit-") {
        return anthropic(rest, |kind| match kind {
            b"requests" => Some(Scope::Requests),
            b"tokens" => Some(Scope::Tokens),
            b"input-tokens" => Some(Scope::InputTokens),
            b"output-tokens" => Some(Scope::OutputTokens),
            _ => None,
        });
    }
    if let Some(rest) = lower.strip_prefix(b"anthropic-priority-") {
        return anthropic(rest, |kind| match kind {
            b"input-tokens" => Some(Scope::PriorityInputTokens),
            b"output-tokens" => Some(Scope::PriorityOutputTokens),
            _ => None,
        });
    }
    if let Some(rest) = lower.strip_prefix(b"anthropic-fast-") {
        return anthropic(rest, |kind| match kind {
            b"input-tokens" => Some(Scope::FastInputTokens),
            b"output-tokens" => Some(Scope::FastOutputTokens),
            _ => None,
        });
    }
    if let Some(rest) = lower.strip_prefix(b"x-ratelimit-") {
        return openai(rest);
    }
    if lower.starts_with(b"ratelimit-") {
        return Field::Unsupported;
    }
    Field::Other
}

/// `{kind}-{limit|remaining|reset}` after an Anthropic prefix.
fn anthropic(rest: &[u8], scope_of: impl Fn(&[u8]) -> Option<Scope>) -> Field {
    let Some(dash) = rest.iter().rposition(|&b| b == b'-') else {
        return Field::Unsupported;
    };
    let (kind, part) = rest.split_at(dash);
    let part = match part {
        b"-limit" => Part::Limit,
        b"-remaining" => Part::Remaining,
        b"-reset" => Part::Reset,
        _ => return Field::Unsupported,
    };
    match scope_of(kind) {
        Some(scope) => Field::Quota {
            family: Family::Anthropic,
            scope,
            part,
        },
        None => Field::Unsupported,
    }
}

/// `{limit|remaining|reset}-{kind}` after `x-ratelimit-`.
fn openai(rest: &[u8]) -> Field {
    let (part, kind) = if let Some(kind) = rest.strip_prefix(b"limit-") {
        (Part::Limit, kind)
    } else if let Some(kind) = rest.strip_prefix(b"remaining-") {
        (Part::Remaining, kind)
    } else if let Some(kind) = rest.strip_prefix(b"reset-") {
        (Part::Reset, kind)
    } else {
        return Field::Unsupported;
    };
    let scope = match kind {
        b"requests" => Scope::Requests,
        b"tokens" => Scope::Tokens,
        b"input-tokens" => Scope::InputTokens,
        b"output-tokens" => Scope::OutputTokens,
        // `-project-tokens`, `-tokens_usage_based` and anything newer: other pools.
        _ => return Field::Unsupported,
    };
    Field::Quota {
        family: Family::OpenAi,
        scope,
        part,
    }
}
