//! `headers::parse` on arbitrary `(name, value)` byte pairs (the text dump of `src/lib.rs`).
//!
//! Asserts:
//! * no panic, and the streaming `Parser` agrees with `parse`, as does a `Reader` that read the
//!   previous input (what it remembers never shows), twice in a row (remembered or not);
//! * every accepted value is within its documented range: `limit > 0`, `remaining ≤ limit`
//!   when both are present, no quota without a dialect;
//! * the ignored list is consistent: in input order, indices within the input, no
//!   `(index, reason)` twice, overflow counted only once the list is full, and a field whose
//!   name the parser cannot know (`x-foo`) is never reported;
//! * round trip: the snapshot written back as Anthropic fields (integers, RFC 3339 and Go
//!   durations from the core's own formatters) parses to the same quotas and hints, with
//!   nothing ignored.
#![no_main]

use std::sync::Mutex;

use headroom::headers::{
    self, Dialect, IGNORED_CAPACITY, Parser, Quota, Reader, Reset, RetryAfter, Snapshot,
};
use headroom::time::UnixTime;
use headroom_fuzz::{MAX_MICROS, decode_dump, emit_anthropic};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let dump = decode_dump(data, false);
    let snapshot = headers::parse(dump.status, dump.pairs.iter().copied());

    let mut parser = Parser::new(dump.status);
    for (name, value) in &dump.pairs {
        parser.push(name, value);
    }
    assert_eq!(
        parser.finish(),
        snapshot,
        "streaming and one-shot parses differ"
    );

    // One reader for the whole run: it remembers the previous input's `Date` and reset.
    static READER: Mutex<Option<Reader>> = Mutex::new(None);
    let mut reader = READER.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let reader = reader.get_or_insert_with(Reader::new);
    let mut kept = Snapshot::default();
    for _ in 0..2 {
        reader.parse_into(dump.status, dump.pairs.iter().copied(), &mut kept);
        assert_eq!(kept, snapshot, "a reader and a one-shot parse differ");
    }

    check_ranges(&snapshot, &dump.pairs);
    round_trip(&snapshot);
});

fn check_ranges(snapshot: &Snapshot, pairs: &[(&[u8], &[u8])]) {
    for quota in snapshot.quotas.iter().flatten() {
        assert_ne!(quota.limit, Some(0), "a zero limit was accepted: {quota:?}");
        if let (Some(limit), Some(remaining)) = (quota.limit, quota.remaining) {
            assert!(remaining <= limit, "remaining above limit: {quota:?}");
        }
    }
    if snapshot.dialect == Dialect::None {
        assert!(
            snapshot.quotas.iter().all(Option::is_none),
            "quotas without a dialect: {snapshot:?}"
        );
    }

    let ignored = snapshot.ignored.as_slice();
    assert!(
        ignored.windows(2).all(|w| w[0].index <= w[1].index),
        "ignored list not in input order: {ignored:?}"
    );
    for (i, entry) in ignored.iter().enumerate() {
        let in_input = usize::from(entry.index) < pairs.len()
            || (entry.index == u16::MAX && pairs.len() > usize::from(u16::MAX));
        assert!(
            in_input,
            "ignored index {} out of {} fields",
            entry.index,
            pairs.len()
        );
        assert!(
            !ignored[..i].contains(entry),
            "ignored twice for the same reason: {entry:?}"
        );
        if let Some((name, _)) = pairs.get(usize::from(entry.index)) {
            assert!(
                could_be_known(name),
                "an unknown field was reported: {:?} {entry:?}",
                String::from_utf8_lossy(name)
            );
        }
    }
    if snapshot.ignored_dropped > 0 {
        assert_eq!(
            ignored.len(),
            IGNORED_CAPACITY,
            "dropped before the list was full"
        );
    }
}

/// Whether the parser could possibly recognise this name (a coarse superset: anything it reports
/// must pass, so a report for a name outside it is a bug).
fn could_be_known(name: &[u8]) -> bool {
    let lower = name.to_ascii_lowercase();
    let contains = |needle: &[u8]| lower.windows(needle.len()).any(|w| w == needle);
    lower == b"date"
        || contains(b"ratelimit")
        || contains(b"retry")
        || lower.starts_with(b"anthropic-")
}

fn round_trip(snapshot: &Snapshot) {
    let fields = emit_anthropic(snapshot);
    let again = headers::parse(
        snapshot.status,
        fields
            .iter()
            .map(|(name, value)| (name.as_bytes(), value.as_bytes())),
    );
    let context = || format!("emitted {fields:#?}\nfrom {snapshot:#?}\nparsed {again:#?}");

    assert!(
        again.ignored.is_empty() && again.ignored_dropped == 0,
        "emitted fields were ignored: {}",
        context()
    );
    assert_eq!(again.status, snapshot.status);
    assert_eq!(
        again.date,
        snapshot.date.map(clamp_secs),
        "date: {}",
        context()
    );
    let retry_after = snapshot.retry_after.map(|value| match value {
        RetryAfter::At(at) => RetryAfter::At(clamp_secs(at)),
        delay => delay,
    });
    assert_eq!(again.retry_after, retry_after, "retry-after: {}", context());
    assert_eq!(
        again.retry_after_ms,
        snapshot.retry_after_ms,
        "retry-after-ms: {}",
        context()
    );
    assert_eq!(
        again.should_retry,
        snapshot.should_retry,
        "x-should-retry: {}",
        context()
    );

    let mut any_quota = false;
    for (index, (before, after)) in snapshot.quotas.iter().zip(&again.quotas).enumerate() {
        let expected = before.and_then(|quota| {
            let written = Quota {
                window: None,
                reset: quota.reset.map(|reset| match reset {
                    Reset::At(at) => Reset::At(clamp(at)),
                    after => after,
                }),
                ..quota
            };
            (written != Quota::default()).then_some(written)
        });
        any_quota |= expected.is_some();
        assert_eq!(*after, expected, "quota {index}: {}", context());
    }
    let dialect = if any_quota {
        Dialect::Anthropic
    } else {
        Dialect::None
    };
    assert_eq!(again.dialect, dialect, "dialect: {}", context());
}

/// What RFC 3339 formatting keeps of a time: everything up to the year-9999 clamp.
fn clamp(at: UnixTime) -> UnixTime {
    UnixTime::from_micros(at.as_micros().min(MAX_MICROS))
}

/// What an HTTP-date keeps: whole seconds, up to the year-9999 clamp.
fn clamp_secs(at: UnixTime) -> UnixTime {
    UnixTime::from_secs(clamp(at).as_secs())
}
