//! Properties of the header parser (DESIGN guarantee 3: every input is total): any bytes as
//! names and values parse without panic, and whatever is accepted is within its documented range.

use headroom::headers::{self, IGNORED_CAPACITY, Scope, Snapshot};
use proptest::prelude::*;

const NAMES: &[&str] = &[
    "date",
    "retry-after",
    "retry-after-ms",
    "x-should-retry",
    "anthropic-ratelimit-requests-limit",
    "anthropic-ratelimit-requests-remaining",
    "anthropic-ratelimit-requests-reset",
    "anthropic-ratelimit-tokens-limit",
    "anthropic-ratelimit-tokens-remaining",
    "anthropic-ratelimit-input-tokens-remaining",
    "anthropic-priority-output-tokens-limit",
    "anthropic-fast-input-tokens-reset",
    "x-ratelimit-limit-requests",
    "x-ratelimit-remaining-requests",
    "x-ratelimit-reset-requests",
    "x-ratelimit-limit-tokens",
    "x-ratelimit-remaining-tokens",
    "x-ratelimit-reset-tokens",
    "x-ratelimit-limit-project-tokens",
    "RateLimit-Limit",
    "RateLimit-Remaining",
    "RateLimit-Reset",
    "RateLimit",
    "RateLimit-Policy",
    "content-type",
];

fn value() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..40),
        "-?[0-9]{1,25}".prop_map(String::into_bytes),
        "[0-9]{1,4}(\\.[0-9]{0,3})?(h|m|s|ms|us|ns|\u{b5}s)([0-9]{1,2}s)?".prop_map(String::into_bytes),
        "20[0-9]{2}-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9](Z|[+-][0-2][0-9]:[0-5][0-9])"
            .prop_map(String::into_bytes),
        "(Mon|Fri|Zun), [0-3][0-9] (Sep|Aug) [0-9]{4,6} [0-2][0-9]:[0-5][0-9]:[0-5][0-9] GMT"
            .prop_map(String::into_bytes),
        "(\"[a-z]{1,3}\"|[a-z]{1,3}|-?[0-9]{1,3})(;[a-z]{1,2}(=(-?[0-9]{1,3}|\"[a-z-]{0,8}\"|:[a-z=]{0,4}:))?){0,3}(, ?\"[a-z]{1,3}\";[qrtw]=[0-9]{1,3}){0,3}"
            .prop_map(String::into_bytes),
        "(limit|remaining|reset|x)=-?[0-9]{1,3}(, (limit|remaining|reset)=[0-9]{1,3}){0,3}".prop_map(String::into_bytes),
        "(true|false|TRUE|maybe)".prop_map(String::into_bytes),
    ]
}

fn name() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => proptest::sample::select(NAMES).prop_map(|n| n.as_bytes().to_vec()),
        1 => proptest::collection::vec(any::<u8>(), 0..24),
    ]
}

fn check(snapshot: &Snapshot, pairs: usize) -> Result<(), TestCaseError> {
    for scope in Scope::ALL {
        if let Some(quota) = snapshot.quota(scope) {
            prop_assert!(quota.limit != Some(0));
            if let (Some(limit), Some(remaining)) = (quota.limit, quota.remaining) {
                prop_assert!(remaining <= limit, "{scope:?}: {remaining} > {limit}");
            }
            prop_assert!(quota.window.is_none_or(|w| w.as_ticks() > 0));
            prop_assert!(
                quota.limit.is_some()
                    || quota.remaining.is_some()
                    || quota.reset.is_some()
                    || quota.window.is_some()
            );
        }
    }
    prop_assert!(snapshot.ignored.len() <= IGNORED_CAPACITY);
    let mut last = 0;
    for ignored in &snapshot.ignored {
        prop_assert!(usize::from(ignored.index) < pairs);
        prop_assert!(ignored.index >= last);
        last = ignored.index;
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn any_pairs_parse_within_range(
        status in proptest::option::of(any::<u16>()),
        pairs in proptest::collection::vec((name(), value()), 0..12),
    ) {
        let snapshot = headers::parse(status, pairs.iter().map(|(n, v)| (n.as_slice(), v.as_slice())));
        prop_assert_eq!(snapshot.status, status);
        check(&snapshot, pairs.len())?;
        // Deterministic.
        let again = headers::parse(status, pairs.iter().map(|(n, v)| (n.as_slice(), v.as_slice())));
        prop_assert_eq!(snapshot, again);
    }

    #[test]
    fn raw_bytes_never_panic(
        pairs in proptest::collection::vec(
            (proptest::collection::vec(any::<u8>(), 0..80), proptest::collection::vec(any::<u8>(), 0..80)),
            0..8,
        ),
    ) {
        let snapshot = headers::parse(None, pairs.clone());
        check(&snapshot, pairs.len())?;
    }
}
