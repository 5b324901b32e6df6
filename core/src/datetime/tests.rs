//! Table-driven cases for every date and duration form in `docs/protocol.md`.

use super::*;
use crate::time::{self, Duration, UnixTime};

extern crate std;
use std::string::String;

fn rfc(input: &str) -> UnixTime {
    parse_rfc3339(input.as_bytes()).unwrap()
}

fn go(input: &str) -> Result<Duration, DateError> {
    parse_go_duration(input.as_bytes())
}

fn show<T: core::fmt::Display>(value: T) -> String {
    std::format!("{value}")
}

#[test]
fn rfc3339_examples_from_the_protocol_notes() {
    assert_eq!(rfc("2025-08-21T12:40:59Z").as_secs(), 1_755_780_059);
    assert_eq!(rfc("2024-03-26T20:00:00Z").as_secs(), 1_711_483_200);
    assert_eq!(rfc("1970-01-01T00:00:00Z"), UnixTime::EPOCH);
    assert_eq!(rfc("2023-09-29T16:26:37Z").as_secs(), 1_696_004_797);
}

#[test]
fn rfc3339_offsets_fractions_and_case() {
    let base = rfc("2023-09-29T16:26:37Z");
    assert_eq!(rfc("2023-09-29t16:26:37z"), base);
    assert_eq!(rfc("2023-09-29 16:26:37Z"), base);
    assert_eq!(rfc("2023-09-29T18:56:37+02:30"), base);
    assert_eq!(rfc("2023-09-29T15:26:37-01:00"), base);
    assert_eq!(rfc("2023-09-29T16:26:37-00:00"), base);
    assert_eq!(
        rfc("2023-09-29T16:26:37.5Z").as_micros(),
        base.as_micros() + 500_000
    );
    assert_eq!(
        rfc("2023-09-29T16:26:37.000001Z").as_micros(),
        base.as_micros() + 1
    );
    // Beyond microseconds: truncated.
    assert_eq!(
        rfc("2023-09-29T16:26:37.1234569999Z").as_micros(),
        base.as_micros() + 123_456
    );
    assert_eq!(rfc("1970-01-01T00:30:00-01:00").as_secs(), 5_400);
}

#[test]
fn rfc3339_ranges() {
    use DateError::*;
    let cases: &[(&str, DateError)] = &[
        ("", Empty),
        ("2023-13-01T00:00:00Z", OutOfRange),
        ("2023-00-01T00:00:00Z", OutOfRange),
        ("2023-02-29T00:00:00Z", OutOfRange),
        ("2023-04-31T00:00:00Z", OutOfRange),
        ("2023-01-00T00:00:00Z", OutOfRange),
        ("2023-01-01T24:00:00Z", OutOfRange),
        ("2023-01-01T00:60:00Z", OutOfRange),
        ("2023-01-01T00:00:61Z", OutOfRange),
        ("2023-01-01T00:00:00+24:00", OutOfRange),
        ("2023-01-01T00:00:00+01:60", OutOfRange),
        ("1969-12-31T23:59:59Z", BeforeEpoch),
        ("1970-01-01T00:00:00+00:01", BeforeEpoch),
        ("2023-01-01T00:00:00", Syntax),
        ("2023-01-01T00:00:00.Z", Syntax),
        ("2023-01-01T00:00:00ZZ", Syntax),
        ("2023-01-01X00:00:00Z", Syntax),
        ("2023-1-01T00:00:00Z", Syntax),
        ("+2023-01-01T00:00:00Z", Syntax),
        ("2023-01-01T00:00:00+0100", Syntax),
        ("20231-01-01T00:00:00Z", Syntax),
    ];
    for &(input, want) in cases {
        assert_eq!(parse_rfc3339(input.as_bytes()), Err(want), "{input}");
    }
}

#[test]
fn leap_years_and_leap_seconds() {
    assert!(parse_rfc3339(b"2024-02-29T00:00:00Z").is_ok());
    assert!(parse_rfc3339(b"2000-02-29T00:00:00Z").is_ok());
    assert_eq!(
        parse_rfc3339(b"1900-02-29T00:00:00Z"),
        Err(DateError::OutOfRange)
    );
    assert_eq!(
        parse_rfc3339(b"2100-02-29T00:00:00Z"),
        Err(DateError::OutOfRange)
    );
    // A leap second reads as :59 of the same minute.
    assert_eq!(rfc("2016-12-31T23:59:60Z"), rfc("2016-12-31T23:59:59Z"));
}

#[test]
fn rfc3339_writes_and_round_trips() {
    let cases = [
        "1970-01-01T00:00:00Z",
        "2025-08-21T12:40:59Z",
        "2023-09-29T16:26:37.5Z",
        "2023-09-29T16:26:37.000001Z",
        "2024-02-29T23:59:59.123456Z",
        "9999-12-31T23:59:59.999999Z",
    ];
    for case in cases {
        assert_eq!(show(Rfc3339(rfc(case))), case);
    }
    // Beyond year 9999: clamped, never an error.
    assert_eq!(
        show(Rfc3339(UnixTime::from_micros(u64::MAX))),
        "9999-12-31T23:59:59.999999Z"
    );
}

#[test]
fn http_date_three_forms() {
    let t = UnixTime::from_secs(784_111_777);
    assert_eq!(parse_http_date(b"Sun, 06 Nov 1994 08:49:37 GMT"), Ok(t));
    assert_eq!(parse_http_date(b"Sunday, 06-Nov-94 08:49:37 GMT"), Ok(t));
    assert_eq!(parse_http_date(b"Sun Nov  6 08:49:37 1994"), Ok(t));
    assert_eq!(parse_http_date(b"Sun Nov 06 08:49:37 1994"), Ok(t));
    assert_eq!(parse_http_date(b"sun, 06 nov 1994 08:49:37 gmt"), Ok(t));
    assert_eq!(
        parse_http_date(b"Mon, 05 Aug 2019 09:27:00 GMT"),
        Ok(rfc("2019-08-05T09:27:00Z"))
    );
    assert_eq!(show(HttpDate(t)), "Sun, 06 Nov 1994 08:49:37 GMT");
}

#[test]
fn http_date_rejects() {
    use DateError::*;
    let cases: &[(&str, DateError)] = &[
        ("", Empty),
        ("Zun, 29 Sep 2023 16:26:27 GMT", Syntax),
        ("Fri, 29 Sep 100000 16:26:57 GMT", Syntax),
        ("Fri, 29 Sep 2023 16:26:57 UTC", Syntax),
        ("Fri, 29 Sep 2023 16:26:57", Syntax),
        ("Fri, 29 Sep 2023 16:26:57 GMT ", Syntax),
        ("Fri, 29 Sup 2023 16:26:57 GMT", Syntax),
        ("Fri 29 Sep 2023 16:26:57 GMT", Syntax),
        ("Sat, 29 Sep 2023 16:26:57 GMT", WeekdayMismatch),
        ("Fri, 31 Sep 2023 16:26:57 GMT", OutOfRange),
        ("Fri, 29 Sep 2023 24:26:57 GMT", OutOfRange),
        ("Wed, 31 Dec 1969 23:59:59 GMT", BeforeEpoch),
        ("Fri, 29-Sep-23 16:26:57 GMT", Syntax),
        ("inf", Syntax),
        ("nan", Syntax),
    ];
    for &(input, want) in cases {
        assert_eq!(parse_http_date(input.as_bytes()), Err(want), "{input}");
    }
}

#[test]
fn sdk_retry_after_dates_minus_the_mocked_clock() {
    // The SDK tables mock `now` to 1696004797 = Fri, 29 Sep 2023 16:26:37 GMT.
    let now = UnixTime::from_secs(1_696_004_797);
    assert_eq!(parse_http_date(b"Fri, 29 Sep 2023 16:26:37 GMT"), Ok(now));
    let cases = [
        ("Fri, 29 Sep 2023 16:26:57 GMT", Some(20)),
        ("Fri, 29 Sep 2023 16:26:37 GMT", Some(0)),
        ("Fri, 29 Sep 2023 16:26:27 GMT", None),
        ("Fri, 29 Sep 2023 16:27:37 GMT", Some(60)),
        ("Fri, 29 Sep 2023 16:27:38 GMT", Some(61)),
        ("Fri, 29 Sep 2023 16:28:37 GMT", Some(120)),
        ("Fri, 29 Sep 2023 16:28:38 GMT", Some(121)),
    ];
    for (input, secs) in cases {
        let at = parse_http_date(input.as_bytes()).unwrap();
        assert_eq!(
            at.checked_duration_since(now),
            secs.map(time::secs),
            "{input}"
        );
    }
}

#[test]
fn rfc850_two_digit_years() {
    assert_eq!(
        parse_http_date(b"Thursday, 01-Jan-70 00:00:00 GMT"),
        Ok(UnixTime::EPOCH)
    );
    assert_eq!(
        parse_http_date(b"Saturday, 01-Jan-00 00:00:00 GMT"),
        Ok(rfc("2000-01-01T00:00:00Z"))
    );
    let now = rfc("2099-06-01T00:00:00Z");
    assert_eq!(
        parse_http_date_at(b"Friday, 01-Jan-00 00:00:00 GMT", now),
        Ok(rfc("2100-01-01T00:00:00Z"))
    );
    assert_eq!(
        parse_http_date_at(b"Saturday, 01-Jan-50 00:00:00 GMT", now),
        Ok(rfc("2050-01-01T00:00:00Z"))
    );
}

#[test]
fn go_durations_seen_in_the_wild() {
    let ms = time::millis;
    let cases: &[(&str, Duration)] = &[
        ("6m0s", time::secs(360)),
        ("1s", time::secs(1)),
        ("1m30.5s", ms(90_500)),
        ("120ms", ms(120)),
        ("78ms", ms(78)),
        ("86ms", ms(86)),
        ("77ms", ms(77)),
        ("17ms", ms(17)),
        ("12ms", ms(12)),
        ("9ms", ms(9)),
        ("8ms", ms(8)),
        ("6ms", ms(6)),
        ("3ms", ms(3)),
        ("2ms", ms(2)),
        ("1ms", ms(1)),
        ("0s", Duration::ZERO),
        ("0", Duration::ZERO),
        ("15h7m12s", time::secs(15 * 3600 + 7 * 60 + 12)),
        ("2m59.56s", ms(179_560)),
        ("7.66s", ms(7_660)),
        ("41.2s", ms(41_200)),
        ("1m26.4s", ms(86_400)),
        ("800ms", ms(800)),
        ("1µs", time::micros(1)),
        ("1μs", time::micros(1)),
        ("1us", time::micros(1)),
        ("1500ns", time::micros(1)),
        ("999ns", Duration::ZERO),
        ("500ns500ns", time::micros(1)),
        (".5s", ms(500)),
        ("5.s", time::secs(5)),
        ("+3s", time::secs(3)),
        ("1h", time::secs(3600)),
        ("1.5h", time::secs(5400)),
        ("0.000001s", time::micros(1)),
        ("3s2ms", ms(3_002)),
    ];
    for &(input, want) in cases {
        assert_eq!(go(input), Ok(want), "{input}");
    }
}

#[test]
fn go_duration_rejects() {
    use DateError::*;
    let cases: &[(&str, DateError)] = &[
        ("", Empty),
        ("-1", Negative),
        ("-1s", Negative),
        ("1", Syntax),
        ("00", Syntax),
        ("s", Syntax),
        (".s", Syntax),
        ("1d", Syntax),
        ("1S", Syntax),
        ("1 s", Syntax),
        ("1s ", Syntax),
        ("1..5s", Syntax),
        ("+", Syntax),
        ("18446744073709551616s", TooLarge),
        ("5124095577h", TooLarge),
    ];
    for &(input, want) in cases {
        assert_eq!(go(input), Err(want), "{input}");
    }
    // Just below the end of time is fine, just above is not.
    assert_eq!(
        go("18446744073709551615us"),
        Ok(Duration::from_ticks(u64::MAX))
    );
    assert_eq!(go("18446744073709551615us1us"), Err(TooLarge));
}

#[test]
fn go_durations_print_like_go() {
    let cases: &[(Duration, &str)] = &[
        (Duration::ZERO, "0s"),
        (time::micros(1), "1µs"),
        (time::micros(999), "999µs"),
        (time::micros(1_500), "1.5ms"),
        (time::micros(1_001), "1.001ms"),
        (time::millis(120), "120ms"),
        (time::secs(1), "1s"),
        (time::millis(7_660), "7.66s"),
        (time::secs(360), "6m0s"),
        (time::millis(90_500), "1m30.5s"),
        (time::secs(3_600), "1h0m0s"),
        (time::secs(15 * 3600 + 7 * 60 + 12), "15h7m12s"),
    ];
    for &(duration, want) in cases {
        assert_eq!(show(GoDuration(duration)), want);
        assert_eq!(go(want), Ok(duration), "{want}");
    }
}

#[test]
fn delay_seconds() {
    use DateError::*;
    let ok: &[(&str, Duration)] = &[
        ("20", time::secs(20)),
        ("0", Duration::ZERO),
        ("60", time::secs(60)),
        ("0.1", time::millis(100)),
        (".5", time::millis(500)),
        ("5.", time::secs(5)),
        ("0.0000019", time::micros(1)),
        ("18446744073709", time::secs(18_446_744_073_709)),
    ];
    for &(input, want) in ok {
        assert_eq!(parse_delay_seconds(input.as_bytes()), Ok(want), "{input}");
    }
    let bad: &[(&str, DateError)] = &[
        ("", Empty),
        ("-10", Negative),
        ("-0.5", Negative),
        ("-", Syntax),
        ("inf", Syntax),
        ("nan", Syntax),
        ("Infinity", Syntax),
        ("1e3", Syntax),
        ("+5", Syntax),
        (" 5", Syntax),
        (".", Syntax),
        ("1.2.3", Syntax),
        ("20abc", Syntax),
        ("99999999999999999999999999999999999", TooLarge),
        ("18446744073710", TooLarge),
    ];
    for &(input, want) in bad {
        assert_eq!(parse_delay_seconds(input.as_bytes()), Err(want), "{input}");
    }
    assert_eq!(parse_delay_millis(b"10"), Ok(time::millis(10)));
    assert_eq!(parse_delay_millis(b"120001"), Ok(time::millis(120_001)));
}

#[test]
fn delay_seconds_write_and_read_back() {
    for (micros, text) in [
        (0, "0"),
        (1, "0.000001"),
        (2_500_000, "2.5"),
        (12_000_000, "12"),
        (812_000, "0.812"),
        (u64::MAX, "18446744073709.551615"),
    ] {
        let duration = Duration::from_ticks(micros);
        assert_eq!(show(DelaySeconds(duration)), text);
        assert_eq!(parse_delay_seconds(text.as_bytes()), Ok(duration), "{text}");
    }
}

#[test]
fn errors_display_lowercase() {
    for error in [
        DateError::Empty,
        DateError::Syntax,
        DateError::OutOfRange,
        DateError::WeekdayMismatch,
        DateError::BeforeEpoch,
        DateError::TooLarge,
        DateError::Negative,
    ] {
        let text = show(error);
        assert!(text.chars().next().unwrap().is_lowercase());
        assert!(!text.ends_with('.'));
    }
}

/// The word-at-once digit pairs of the fast paths: any one byte in any marked position is read
/// only when it is a digit, next to digits or not, and the pairs are the decimal values.
#[test]
fn digit_pairs_read_marked_digits_and_nothing_else() {
    use cursor::digit_pairs;
    let text = *b"12:34:56";
    let masks = [
        0xffff_ffff_ffff_ffff_u64,
        0xffff_00ff_ff00_ffff,
        0x00ff_ff00_0000_0000,
        0x0000_0000_ffff_0000,
    ];
    for digits in masks {
        for at in 0..8 {
            for byte in 0..=255_u8 {
                let mut bytes = text;
                bytes[at] = byte;
                let marked = |i: usize| digits >> (8 * i) & 0xff != 0;
                let valid = (0..8).all(|i| !marked(i) || bytes[i].is_ascii_digit());
                let got = digit_pairs(u64::from_le_bytes(bytes), digits);
                if !valid {
                    assert_eq!(got, None, "{bytes:?} {digits:x}");
                    continue;
                }
                let got = got.unwrap().to_le_bytes();
                for i in 0..7 {
                    if marked(i) && marked(i + 1) {
                        let want = (bytes[i] - b'0') * 10 + bytes[i + 1] - b'0';
                        assert_eq!(got[i], want, "{bytes:?} {digits:x} at {i}");
                    }
                }
            }
        }
    }
}
