//! The name classifier against the straightforward one it replaced, on known names, near
//! misses and arbitrary bytes.

use super::*;

/// The classifier as first written: lowercase into a buffer, then match. The fast one must
/// agree with it on every name.
fn reference(name: &[u8]) -> Field {
    if name.len() > NAME_MAX {
        return Field::Other;
    }
    let lower = name.to_ascii_lowercase();
    let lower = lower.as_slice();
    let q = |family, scope, part| quota(family, scope, part);
    match lower {
        b"retry-after" => return Field::RetryAfter,
        b"retry-after-ms" => return Field::RetryAfterMs,
        b"x-should-retry" => return Field::ShouldRetry,
        b"date" => return Field::Date,
        b"ratelimit" => return Field::RateLimit,
        b"ratelimit-policy" => return Field::RateLimitPolicy,
        b"ratelimit-limit" => return q(Family::Ietf, Scope::Requests, Part::Limit),
        b"ratelimit-remaining" => return q(Family::Ietf, Scope::Requests, Part::Remaining),
        b"ratelimit-reset" => return q(Family::Ietf, Scope::Requests, Part::Reset),
        _ => {}
    }
    let anthropic = |rest: &[u8], scopes: &[(&[u8], Scope)]| {
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
        match scopes.iter().find(|(k, _)| *k == kind) {
            Some(&(_, scope)) => q(Family::Anthropic, scope, part),
            None => Field::Unsupported,
        }
    };
    let standard: &[(&[u8], Scope)] = &[
        (b"requests", Scope::Requests),
        (b"tokens", Scope::Tokens),
        (b"input-tokens", Scope::InputTokens),
        (b"output-tokens", Scope::OutputTokens),
    ];
    if let Some(rest) = lower.strip_prefix(b"anthropic-ratelimit-") {
        return anthropic(rest, standard);
    }
    if let Some(rest) = lower.strip_prefix(b"anthropic-priority-") {
        return anthropic(
            rest,
            &[
                (b"input-tokens", Scope::PriorityInputTokens),
                (b"output-tokens", Scope::PriorityOutputTokens),
            ],
        );
    }
    if let Some(rest) = lower.strip_prefix(b"anthropic-fast-") {
        return anthropic(
            rest,
            &[
                (b"input-tokens", Scope::FastInputTokens),
                (b"output-tokens", Scope::FastOutputTokens),
            ],
        );
    }
    if let Some(rest) = lower.strip_prefix(b"x-ratelimit-") {
        let (part, kind) = if let Some(kind) = rest.strip_prefix(b"limit-") {
            (Part::Limit, kind)
        } else if let Some(kind) = rest.strip_prefix(b"remaining-") {
            (Part::Remaining, kind)
        } else if let Some(kind) = rest.strip_prefix(b"reset-") {
            (Part::Reset, kind)
        } else {
            return Field::Unsupported;
        };
        return match standard.iter().find(|(k, _)| *k == kind) {
            Some(&(_, scope)) => q(Family::OpenAi, scope, part),
            None => Field::Unsupported,
        };
    }
    if lower.starts_with(b"ratelimit-") {
        return Field::Unsupported;
    }
    Field::Other
}

const KNOWN: &[&str] = &[
    "date",
    "retry-after",
    "retry-after-ms",
    "x-should-retry",
    "ratelimit",
    "ratelimit-policy",
    "ratelimit-limit",
    "ratelimit-remaining",
    "ratelimit-reset",
    "ratelimit-",
    "ratelimit-other",
    "ratelimitx",
    "anthropic-ratelimit-requests-limit",
    "anthropic-ratelimit-requests-remaining",
    "anthropic-ratelimit-requests-reset",
    "anthropic-ratelimit-tokens-limit",
    "anthropic-ratelimit-input-tokens-remaining",
    "anthropic-ratelimit-output-tokens-reset",
    "anthropic-ratelimit-unified-status",
    "anthropic-ratelimit-unified-5h-reset",
    "anthropic-ratelimit-",
    "anthropic-ratelimit-reset",
    "anthropic-ratelimit--reset",
    "anthropic-priority-input-tokens-limit",
    "anthropic-priority-output-tokens-remaining",
    "anthropic-priority-tokens-limit",
    "anthropic-fast-input-tokens-reset",
    "anthropic-fast-output-tokens-limit",
    "anthropic-fast-",
    "anthropic-organization-id",
    "anthropic-",
    "x-ratelimit-limit-requests",
    "x-ratelimit-remaining-tokens",
    "x-ratelimit-reset-input-tokens",
    "x-ratelimit-reset-output-tokens",
    "x-ratelimit-limit-project-tokens",
    "x-ratelimit-remaining-tokens_usage_based",
    "x-ratelimit-",
    "x-ratelimit-limit-",
    "x-request-id",
    "content-type",
    "cf-ray",
    "request-id",
    "server",
    "",
];

/// Every known name, in several cases and with one byte changed anywhere.
#[test]
fn agrees_with_reference_on_known_names_and_near_misses() {
    let swaps: &[u8] = &[
        b'-', b'_', b'A', b'z', b'\r', 0x80, 0xc1, b'@', b'[', b'`', b'{',
    ];
    for name in KNOWN {
        for variant in [
            name.to_string(),
            name.to_ascii_uppercase(),
            name.split('-')
                .map(|w| {
                    let mut w = w.to_string();
                    if let Some(first) = w.get_mut(..1) {
                        first.make_ascii_uppercase();
                    }
                    w
                })
                .collect::<Vec<_>>()
                .join("-"),
        ] {
            let bytes = variant.as_bytes();
            assert_eq!(recognise(bytes), reference(bytes), "{variant}");
            for at in 0..bytes.len() {
                for &swap in swaps {
                    let mut near = bytes.to_vec();
                    near[at] = swap;
                    assert_eq!(recognise(&near), reference(&near), "{near:?}");
                    // Bytes that differ from a letter only in bit 0x20 or the high bit.
                    near[at] = bytes[at] ^ 0x80;
                    assert_eq!(recognise(&near), reference(&near), "{near:?}");
                    near[at] = bytes[at] ^ 0x20;
                    assert_eq!(recognise(&near), reference(&near), "{near:?}");
                }
                assert_eq!(recognise(&bytes[..at]), reference(&bytes[..at]));
                let mut longer = bytes.to_vec();
                longer.insert(at, b'x');
                assert_eq!(recognise(&longer), reference(&longer), "{longer:?}");
            }
        }
    }
    let long = format!("anthropic-ratelimit-{}-limit", "a".repeat(40));
    assert_eq!(recognise(long.as_bytes()), Field::Other);
    assert_eq!(recognise(long.as_bytes()), reference(long.as_bytes()));
}

#[test]
fn word_differ_and_byte_differ_are_bytewise_eq_ignore_case() {
    let pattern = u64::from_le_bytes(*b"az-mq-by");
    for byte in 0..=255_u8 {
        for lane in 0..8 {
            let mut bytes = pattern.to_le_bytes();
            bytes[lane] = byte;
            let want = bytes
                .iter()
                .zip(pattern.to_le_bytes())
                .all(|(b, p)| b.to_ascii_lowercase() == p);
            let word = u64::from_le_bytes(bytes);
            assert_eq!(word_differ(word, pattern) == 0, want, "{bytes:?}");
            let bytewise = bytes
                .iter()
                .zip(pattern.to_le_bytes())
                .all(|(&b, p)| byte_differ(b, p) == 0);
            assert_eq!(bytewise, want, "{bytes:?}");
        }
    }
}

/// A field of a dialect whose feature is off is `Disabled`; every other field, and every field
/// of an enabled dialect, is what `recognise` says.
#[test]
fn disabled_dialects_are_marked() {
    for name in KNOWN {
        let known = recognise(name.as_bytes());
        let want = match known.family() {
            Some(family) if !family.enabled() => Field::Disabled,
            _ => known,
        };
        assert_eq!(field_of(name.as_bytes()), want, "{name}");
    }
    let by_feature = [
        (
            "anthropic-ratelimit-tokens-limit",
            cfg!(feature = "anthropic"),
        ),
        ("x-ratelimit-limit-tokens", cfg!(feature = "openai")),
        ("RateLimit-Policy", cfg!(feature = "ietf")),
        ("ratelimit", cfg!(feature = "ietf")),
        ("ratelimit-reset", cfg!(feature = "ietf")),
    ];
    for (name, enabled) in by_feature {
        assert_eq!(
            field_of(name.as_bytes()) == Field::Disabled,
            !enabled,
            "{name}"
        );
    }
    assert_eq!(field_of(b"retry-after"), Field::RetryAfter);
    assert_eq!(field_of(b"x-should-retry"), Field::ShouldRetry);
}

proptest::proptest! {
    #[test]
    fn agrees_with_reference(
        known in proptest::sample::select(KNOWN),
        edits in proptest::collection::vec((0..64_usize, proptest::num::u8::ANY), 0..3),
        upper in proptest::collection::vec(proptest::bool::ANY, 64),
    ) {
        let mut name: Vec<u8> = known.bytes().zip(&upper)
            .map(|(b, &up)| if up { b.to_ascii_uppercase() } else { b })
            .collect();
        for (at, byte) in edits {
            if let Some(slot) = name.get_mut(at) {
                *slot = byte;
            }
        }
        proptest::prop_assert_eq!(recognise(&name), reference(&name));
        // The byte-by-byte comparison of 32-bit targets says what the word one says.
        if name.len() == known.len() {
            proptest::prop_assert_eq!(
                bytes_eq_fold_lower(&name, known.as_bytes()),
                eq_fold_lower(&name, known.as_bytes())
            );
        }
    }

    #[test]
    fn agrees_with_reference_on_any_bytes(name in proptest::collection::vec(proptest::num::u8::ANY, 0..70)) {
        proptest::prop_assert_eq!(recognise(&name), reference(&name));
    }
}

/// The perfect hash is perfect: every known name has a slot of its own, and only `a`–`z` and
/// `-` appear in the names (what `case_bits` relies on).
#[test]
fn every_name_has_its_own_slot() {
    let mut taken = std::collections::BTreeMap::new();
    for (i, &(name, field)) in NAMES.iter().enumerate() {
        assert!(
            name.iter().all(|&b| b.is_ascii_lowercase() || b == b'-'),
            "{name:?}"
        );
        if let Some(other) = taken.insert(slot_of(name), i) {
            panic!("{name:?} and {:?} share a slot", NAMES[other].0);
        }
        assert_eq!(usize::from(SLOTS[slot_of(name)]), i + 1);
        assert_eq!(recognise(name), field);
        assert_eq!(recognise(&name.to_ascii_uppercase()), field);
    }
}
