//! Properties of the date and duration parsers: total on any bytes, and write → parse round-trips.

use headroom::datetime::{
    GoDuration, HttpDate, Rfc3339, parse_delay_millis, parse_delay_seconds, parse_go_duration,
    parse_http_date, parse_http_date_at, parse_rfc3339,
};
use headroom::time::{Duration, UnixTime};
use proptest::prelude::*;

/// 9999-12-31T23:59:59.999999Z in microseconds: the last instant the formats can express.
const MAX_MICROS: u64 = 253_402_300_799_999_999;

proptest! {
    #[test]
    fn parsers_are_total_on_any_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..48)) {
        let _ = parse_rfc3339(&bytes);
        let _ = parse_http_date(&bytes);
        let _ = parse_http_date_at(&bytes, UnixTime::from_micros(u64::MAX));
        let _ = parse_go_duration(&bytes);
        let _ = parse_delay_seconds(&bytes);
        let _ = parse_delay_millis(&bytes);
    }

    #[test]
    fn parsers_are_total_on_near_miss_text(
        text in "[0-9]{0,6}[-:T .+Zz]{0,2}[0-9]{0,3}[-:. a-zA-Z\u{b5}]{0,3}[0-9]{0,25}[smhun\u{b5}]{0,2}"
    ) {
        let bytes = text.as_bytes();
        let _ = parse_rfc3339(bytes);
        let _ = parse_http_date(bytes);
        let _ = parse_go_duration(bytes);
        let _ = parse_delay_seconds(bytes);
    }

    #[test]
    fn rfc3339_round_trips(micros in 0..=MAX_MICROS) {
        let time = UnixTime::from_micros(micros);
        let text = Rfc3339(time).to_string();
        prop_assert_eq!(parse_rfc3339(text.as_bytes()), Ok(time), "{}", text);
    }

    #[test]
    fn http_date_round_trips_whole_seconds(secs in 0..=MAX_MICROS / 1_000_000) {
        let time = UnixTime::from_secs(secs);
        let text = HttpDate(time).to_string();
        prop_assert_eq!(parse_http_date(text.as_bytes()), Ok(time), "{}", text);
    }

    #[test]
    fn go_duration_round_trips(micros in any::<u64>()) {
        let duration = Duration::from_ticks(micros);
        let text = GoDuration(duration).to_string();
        prop_assert_eq!(parse_go_duration(text.as_bytes()), Ok(duration), "{}", text);
    }

    #[test]
    fn delay_seconds_round_trip(micros in any::<u64>()) {
        let text = format!("{}.{:06}", micros / 1_000_000, micros % 1_000_000);
        prop_assert_eq!(parse_delay_seconds(text.as_bytes()), Ok(Duration::from_ticks(micros)));
    }

    #[test]
    fn accepted_rfc3339_is_canonical_after_one_write(
        y in 1970u32..=9999, mo in 1u32..=12, d in 1u32..=31, h in 0u32..=23, mi in 0u32..=59,
        s in 0u32..=60, frac in proptest::option::of("[0-9]{1,9}"), off in -1439i32..=1439,
    ) {
        let offset = if off == 0 {
            "Z".to_string()
        } else {
            format!("{}{:02}:{:02}", if off < 0 { '-' } else { '+' }, off.abs() / 60, off.abs() % 60)
        };
        let frac = frac.map(|f| format!(".{f}")).unwrap_or_default();
        let text = format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}{frac}{offset}");
        if let Ok(time) = parse_rfc3339(text.as_bytes()) {
            prop_assert!(time.as_micros() <= MAX_MICROS + 86_400_000_000);
            let again = Rfc3339(time).to_string();
            if time.as_micros() <= MAX_MICROS {
                prop_assert_eq!(parse_rfc3339(again.as_bytes()), Ok(time));
            }
        }
    }
}
