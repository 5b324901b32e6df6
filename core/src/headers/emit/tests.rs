#![allow(
    clippy::arithmetic_side_effects,
    reason = "test arithmetic on small known values"
)]

use super::*;
use crate::headers::{Quota, parse};
use crate::time::{self, UnixTime};

fn written(
    snapshot: &Snapshot,
    dialect: Dialect,
) -> std::vec::Vec<(&'static str, std::string::String)> {
    let mut fields = std::vec::Vec::new();
    emit(snapshot, dialect, &mut |name, value| {
        fields.push((name, std::format!("{value}")));
        Ok(())
    })
    .unwrap();
    fields
}

fn every_scope(reset: impl Fn(u64) -> Reset) -> Snapshot {
    let mut snapshot = Snapshot {
        status: Some(429),
        date: Some(UnixTime::from_secs(1_748_772_000)),
        should_retry: Some(false),
        retry_after: Some(RetryAfter::At(UnixTime::from_secs(1_748_772_016))),
        retry_after_ms: Some(time::micros(1_500)),
        ..Snapshot::default()
    };
    for (index, slot) in snapshot.quotas.iter_mut().enumerate() {
        let n = index as u64 + 1;
        *slot = Some(Quota {
            limit: Some(1_000 * n),
            remaining: Some(10 * n),
            reset: Some(reset(n)),
            ..Quota::default()
        });
    }
    snapshot
}

#[test]
fn both_dialects_parse_back_to_what_was_emitted() {
    let cases = [
        (
            Dialect::Anthropic,
            every_scope(|n| Reset::At(UnixTime::from_micros(1_748_772_000_000_000 + n * 250_000))),
            8,
        ),
        (
            Dialect::Anthropic,
            every_scope(|n| Reset::After(time::micros(n * 1_234_567))),
            8,
        ),
        (
            Dialect::OpenAi,
            every_scope(|n| Reset::After(time::millis(n * 1_500))),
            4,
        ),
    ];
    // Each dialect is read back only where its Cargo feature is on.
    let readable = |dialect: &Dialect| {
        (*dialect == Dialect::Anthropic && cfg!(feature = "anthropic"))
            || (*dialect == Dialect::OpenAi && cfg!(feature = "openai"))
    };
    for (dialect, snapshot, scopes) in cases.into_iter().filter(|(d, ..)| readable(d)) {
        let fields = written(&snapshot, dialect);
        assert_eq!(fields.len(), 4 + 3 * scopes, "{fields:?}");
        let again = parse(
            Some(429),
            fields.iter().map(|(n, v)| (n.as_bytes(), v.as_bytes())),
        );
        assert!(again.ignored.is_empty(), "{:?}", again.ignored);
        assert_eq!(again.dialect, dialect);
        assert_eq!(again.quotas[..scopes], snapshot.quotas[..scopes]);
        assert_eq!(
            (
                again.date,
                again.retry_after,
                again.retry_after_ms,
                again.should_retry
            ),
            (
                snapshot.date,
                snapshot.retry_after,
                snapshot.retry_after_ms,
                snapshot.should_retry
            )
        );
    }
}

#[test]
fn delays_have_a_fraction_only_when_needed() {
    let snapshot = Snapshot {
        retry_after: Some(RetryAfter::Delay(time::micros(2_500_000))),
        retry_after_ms: Some(time::millis(16)),
        ..Snapshot::default()
    };
    let fields = written(&snapshot, Dialect::None);
    assert_eq!(
        fields,
        [
            ("retry-after", "2.500000".into()),
            ("retry-after-ms", "16".into())
        ]
    );
}
