//! The date and duration parsers on arbitrary bytes, each parser seeing the whole input.
//!
//! Asserts, besides no panic, for every `Ok` value: format → parse gives the same value, minus
//! the documented losses (HTTP-dates have whole seconds; times after year 9999 are formatted as
//! its last instant). Also: the RFC 850 two-digit year lands within RFC 9110's 50-year horizon
//! of `now`; the forms without a two-digit year do not depend on `now`; the `Display` adaptors
//! write what the `write_*` functions write. The first 8 bytes, read as a number of
//! microseconds, also go through every formatter → parser pair, so formatting is checked on all
//! values, not only parsed ones.
#![no_main]

use headroom::datetime::{
    GoDuration, HttpDate, Rfc3339, parse_delay_millis, parse_delay_seconds, parse_go_duration,
    parse_http_date, parse_http_date_at, parse_rfc3339,
};
use headroom::time::{Duration, UnixTime};
use headroom_fuzz::{MAX_MICROS, delay_millis, delay_seconds, go_duration, http_date, rfc3339};
use libfuzzer_sys::fuzz_target;

/// Clocks for `parse_http_date_at`: the epoch, 2025-06-01, 2069-12-31, and the year-9999 limit.
const NOWS: [u64; 4] = [0, 1_748_736_000, 3_155_673_600, 253_402_300_799];

fuzz_target!(|data: &[u8]| {
    if let Ok(time) = parse_rfc3339(data) {
        check_rfc3339(time);
    }
    if let Ok(time) = parse_http_date(data) {
        check_http_date(time);
    }
    for now in NOWS.map(UnixTime::from_secs) {
        let at = parse_http_date_at(data, now);
        if let Ok(time) = at {
            check_http_date(time);
            let again = parse_http_date_at(http_date(time).as_bytes(), now);
            assert_eq!(again, Ok(time));
            if data.contains(&b'-') {
                // RFC 850: within 50 years ahead of `now`, and less than a century behind that.
                let year = year_of(time);
                let now_year = year_of(now);
                assert!(
                    year <= now_year + 50,
                    "{year} is more than 50 years after {now_year}"
                );
                assert!(
                    year + 50 > now_year,
                    "{year} is 50 years or more before {now_year}"
                );
            }
        }
        if !data.contains(&b'-') {
            assert_eq!(
                at,
                parse_http_date(data),
                "no two-digit year, yet `now` mattered"
            );
        }
    }
    if let Ok(delay) = parse_go_duration(data) {
        check_go_duration(delay);
    }
    if let Ok(delay) = parse_delay_seconds(data) {
        check_delay_seconds(delay);
    }
    if let Ok(delay) = parse_delay_millis(data) {
        check_delay_millis(delay);
    }

    let mut word = [0u8; 8];
    let n = data.len().min(8);
    word[..n].copy_from_slice(&data[..n]);
    let micros = u64::from_le_bytes(word);
    check_rfc3339(UnixTime::from_micros(micros));
    check_http_date(UnixTime::from_secs(micros.min(MAX_MICROS) / 1_000_000));
    check_go_duration(Duration::from_ticks(micros));
    check_delay_seconds(Duration::from_ticks(micros));
    check_delay_millis(Duration::from_ticks(micros));
});

fn check_rfc3339(time: UnixTime) {
    let text = rfc3339(time);
    assert_eq!(Rfc3339(time).to_string(), text);
    let expected = UnixTime::from_micros(time.as_micros().min(MAX_MICROS));
    assert_eq!(parse_rfc3339(text.as_bytes()), Ok(expected), "{text}");
}

fn check_http_date(time: UnixTime) {
    assert_eq!(
        time.as_micros() % 1_000_000,
        0,
        "an HTTP-date with a fraction"
    );
    let text = http_date(time);
    assert_eq!(HttpDate(time).to_string(), text);
    let expected = UnixTime::from_secs(time.as_micros().min(MAX_MICROS) / 1_000_000);
    assert_eq!(parse_http_date(text.as_bytes()), Ok(expected), "{text}");
}

fn check_go_duration(delay: Duration) {
    let text = go_duration(delay);
    assert_eq!(GoDuration(delay).to_string(), text);
    assert_eq!(parse_go_duration(text.as_bytes()), Ok(delay), "{text}");
}

fn check_delay_seconds(delay: Duration) {
    let text = delay_seconds(delay);
    assert_eq!(parse_delay_seconds(text.as_bytes()), Ok(delay), "{text}");
}

fn check_delay_millis(delay: Duration) {
    let text = delay_millis(delay);
    assert_eq!(parse_delay_millis(text.as_bytes()), Ok(delay), "{text}");
}

fn year_of(time: UnixTime) -> u64 {
    rfc3339(time)[..4].parse().expect("four digits")
}
