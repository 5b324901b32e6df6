//! `classify` on an arbitrary status, header dump and body (the format of `src/lib.rs`: fields,
//! an empty line, then the body). A first line that is not a status gives a status from the
//! first two input bytes, so every `u16` is reachable.
//!
//! Asserts, besides no panic: the class follows the documented status rules (2xx success; 429
//! rate-limited or spend cap; 529 overloaded; 408, 409 and other ≥ 500 transient; the rest
//! fatal); a binding scope is a quota the headers gave; an unknown error type's span lies
//! inside the scanned part of the body; the server delay and override are the snapshot's; the
//! outcome follows the SDK rules (spend cap never retried, `x-should-retry` next).
#![no_main]

use headroom::classify::GiveUp;
use headroom::classify::{BODY_SCAN_LIMIT, Class, ErrorType, Outcome, classify};
use headroom::headers;
use headroom_fuzz::decode_dump;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let dump = decode_dump(data, true);
    let status = dump.status.unwrap_or_else(|| {
        u16::from_le_bytes([
            data.first().copied().unwrap_or(0),
            data.get(1).copied().unwrap_or(0),
        ])
    });
    let snapshot = headers::parse(Some(status), dump.pairs.iter().copied());
    for body in [dump.body, None] {
        let verdict = classify(status, &snapshot, body);
        let class = verdict.class();
        match status {
            200..=299 => assert_eq!(class, Class::Success),
            429 => assert!(
                matches!(class, Class::RateLimited { .. } | Class::SpendCap),
                "{status}: {class:?}"
            ),
            529 => assert_eq!(class, Class::Overloaded),
            408 | 409 | 500.. => assert_eq!(
                class,
                Class::Transient {
                    status: Some(status)
                }
            ),
            _ => assert_eq!(class, Class::Fatal { status }),
        }
        if let Class::RateLimited { scope: Some(scope) } = class {
            assert!(
                snapshot.quota(scope).is_some(),
                "binding scope {scope:?} not in the headers"
            );
        }
        if body.is_none() || (200..300).contains(&status) {
            assert_eq!(
                verdict.error_type(),
                None,
                "an error type without a scanned body"
            );
        }
        if let (Some(ErrorType::Unknown(span)), Some(body)) = (verdict.error_type(), body) {
            let scanned = &body[..body.len().min(BODY_SCAN_LIMIT)];
            assert!(
                span.of(scanned).is_some(),
                "span {span:?} outside the scanned body"
            );
        }
        assert_eq!(verdict.server_delay(), snapshot.server_delay());
        assert_eq!(verdict.server_override(), snapshot.should_retry);
        let outcome = verdict.outcome();
        match (class, snapshot.should_retry) {
            (Class::Success, _) => assert_eq!(outcome, Outcome::Done),
            (Class::SpendCap, _) => assert_eq!(outcome, Outcome::GiveUp(GiveUp::SpendCap)),
            (_, Some(false)) => assert_eq!(outcome, Outcome::GiveUp(GiveUp::ServerSaidNo)),
            (_, Some(true)) => assert!(matches!(outcome, Outcome::Retry(_))),
            (Class::Fatal { status }, None) => {
                assert_eq!(outcome, Outcome::GiveUp(GiveUp::Fatal { status }));
            }
            (_, None) => assert!(matches!(outcome, Outcome::Retry(_))),
        }
        if let Outcome::Retry(retried) = outcome {
            assert_eq!(retried, class);
        }
    }
});
