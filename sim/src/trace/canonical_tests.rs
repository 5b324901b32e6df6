//! The canonical request reader against serde on random lines: what it reads, serde reads to
//! the same request; what it declines, or reads into an error, the reader reports exactly as
//! the serde path does (same event or same `file:line:column: message`).

use proptest::prelude::*;

use super::checker::State;
use super::raw::{RawRequest, RawTime, micros_to_seconds, seconds_to_micros};
use super::{Event, EventRef, Records, TraceError, TraceErrorKind, canonical};

/// A line the writer could have written for these values.
fn written(micros: u64, id: &str, lane: Option<&str>, input: u64, max: u64) -> String {
    let seconds = serde_json::to_string(&micros_to_seconds(micros)).unwrap();
    let lane = lane.map_or_else(String::new, |lane| format!(",\"lane\":\"{lane}\""));
    format!(
        "{{\"t\":{seconds},\"type\":\"request\",\"id\":\"{id}\"{lane},\"input_tokens\":{input},\"max_tokens\":{max}}}"
    )
}

/// A request's values as comparable data.
type Values = (u64, String, Option<String>, u64, u64);

fn values(raw: RawRequest<'_>) -> Option<Values> {
    let micros = match raw.t {
        RawTime::Seconds(seconds) => seconds_to_micros(seconds).ok()?,
        RawTime::Micros(micros) => micros,
        RawTime::Text(_) => return None,
    };
    Some((
        micros,
        raw.id.into_owned(),
        raw.lane.map(|lane| lane.0.into_owned()),
        raw.input_tokens,
        raw.max_tokens,
    ))
}

/// The first lines of every trace below: a header, then a request that a mutated line may
/// repeat the id of or go back in time from.
const BEFORE: [&str; 2] = [
    "{\"trace\":1}",
    "{\"t\":1.5,\"type\":\"request\",\"id\":\"r1\",\"input_tokens\":1,\"max_tokens\":2}",
];

/// The third line of a trace read by the reader (fast path first).
fn by_reader(line: &[u8]) -> Option<Result<Event, TraceError>> {
    let mut text = BEFORE.join("\n").into_bytes();
    text.push(b'\n');
    text.extend_from_slice(line);
    text.push(b'\n');
    let mut records = Records::new(&text[..], "t.jsonl");
    assert!(matches!(records.next(), Some(Ok(_))));
    records.next()
}

/// The third line of the same trace, every line checked by the serde path alone.
fn by_serde(line: &[u8]) -> Option<Result<Event, TraceError>> {
    let mut state = State::new("t.jsonl");
    for (number, before) in (1..).zip(BEFORE) {
        state.line(number, before, true).unwrap();
    }
    let line = match std::str::from_utf8(line) {
        Ok(line) => line.trim_end_matches(['\n', '\r']),
        Err(error) => {
            let column = error.valid_up_to() + 1;
            return Some(Err(state.error(3, column, TraceErrorKind::InvalidUtf8)));
        }
    };
    state
        .line(3, line, true)
        .map(|event| event.map(EventRef::into_owned))
        .transpose()
}

/// Ids and lanes: ASCII, a quote-free non-ASCII letter, and nothing that needs an escape.
fn text() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9_ é.-]{0,12}"
}

/// Bytes worth putting into a line: its syntax, digits, and broken or non-ASCII UTF-8.
fn byte() -> impl Strategy<Value = u8> {
    prop::sample::select(vec![
        b'0', b'1', b'9', b'"', b'\\', b',', b':', b'.', b'{', b'}', b' ', b'e', b'-', b'a', 0x01,
        0x7f, 0x80, 0xc3, 0xa9, 0xff, b'\r',
    ])
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn the_fast_path_reads_what_serde_reads(
        micros in 0u64..1_000_000_000_000_000,
        id in text(),
        lane in prop::option::of(text()),
        input in any::<u64>(),
        max in any::<u64>(),
    ) {
        let line = written(micros, &id, lane.as_deref(), input, max);
        let serde = serde_json::from_str::<RawRequest<'_>>(&line).ok().and_then(values);
        let fast = canonical::request(line.as_bytes()).and_then(values);
        // The writer's number has an exponent below 10⁻⁵ s: that one is serde's alone.
        let exponent = line.split(',').next().is_some_and(|t| t.contains('e'));
        prop_assert_eq!(fast.is_some(), !exponent, "{}", line);
        if fast.is_some() {
            prop_assert_eq!(fast, serde, "{}", line);
        }
    }

    #[test]
    fn any_line_reads_as_on_the_serde_path(
        micros in prop_oneof![Just(0u64), Just(1_500_000), 0u64..3_000_000],
        id in prop_oneof![Just("r1".to_owned()), text(), "[a\\x01\\x1f\\\\\"é\\x7f]{0,4}"],
        lane in prop::option::of(text()),
        input in any::<u64>(),
        max in any::<u64>(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), 0u8..3, byte()), 0..4),
    ) {
        let mut line = written(micros, &id, lane.as_deref(), input, max).into_bytes();
        for (at, how, byte) in edits {
            let at = at.index(line.len() + 1);
            match how {
                0 => line.insert(at, byte),
                1 if at < line.len() => line[at] = byte,
                _ if at < line.len() => {
                    line.remove(at);
                }
                _ => {}
            }
        }
        prop_assert_eq!(by_reader(&line), by_serde(&line), "{}", String::from_utf8_lossy(&line));
    }
}

#[test]
fn declined_and_refused_lines_get_the_serde_paths_answer() {
    for line in [
        // Declined by the fast path: serde's errors.
        &br#"{"t":1.5,"type":"request","id":"a","input_tokens":-1,"max_tokens":2}"#[..],
        br#"{"t":1.5,"type":"request","id":"a","input_tokens":1,"max_tokens":2,}"#,
        br#"{"t":1.5,"type":"request","id":"a","input_tokens":1}"#,
        b"{\"t\":1.5,\"type\":\"request\",\"id\":\"\xff\",\"input_tokens\":1,\"max_tokens\":2}",
        b"{\"t\":1.5,\"type\":\"request\",\"id\":\"a\",\"lane\":\"\xc3\",\"input_tokens\":1,\"max_tokens\":2}",
        // Read by the fast path, refused by the checks.
        br#"{"t":1.5,"type":"request","id":"r1","input_tokens":1,"max_tokens":2}"#,
        br#"{"t":1.25,"type":"request","id":"r2","input_tokens":1,"max_tokens":2}"#,
        // Read by the fast path, accepted.
        "{\"t\":2,\"type\":\"request\",\"id\":\"é\",\"lane\":\"m\",\"input_tokens\":1,\"max_tokens\":2}\r".as_bytes(),
    ] {
        let read = by_reader(line);
        assert_eq!(read, by_serde(line), "{}", String::from_utf8_lossy(line));
        assert!(read.is_some());
    }
    let error = by_reader(
        b"{\"t\":2,\"type\":\"request\",\"id\":\"a\xff\",\"input_tokens\":1,\"max_tokens\":2}",
    )
    .unwrap()
    .unwrap_err();
    assert_eq!(error.to_string(), "t.jsonl:3:32: not valid UTF-8");
}

/// What serde reads from `line`, as comparable values.
fn serde(line: &str) -> Option<Values> {
    values(serde_json::from_str::<RawRequest<'_>>(line).ok()?)
}

#[test]
fn the_writers_lines_read_as_serde_reads_them() {
    for line in [
        r#"{"t":0.0,"type":"request","id":"r1","lane":"m","input_tokens":1745,"max_tokens":1024}"#,
        r#"{"t":0,"type":"request","id":"","input_tokens":0,"max_tokens":18446744073709551615}"#,
        r#"{"t":999999999.999999,"type":"request","id":"é ü","input_tokens":1,"max_tokens":2}"#,
        r#"{"t":12.5,"type":"request","id":"a\"b","input_tokens":1,"max_tokens":2}"#,
        r#"{"t":0.000001,"type":"request","id":"a","lane":"","input_tokens":1,"max_tokens":2}"#,
        r#"{"t":86399.123457,"type":"request","id":"a","input_tokens":1,"max_tokens":2}"#,
    ] {
        let fast = canonical::request(line.as_bytes()).and_then(values);
        if fast.is_some() {
            assert_eq!(fast, serde(line), "{line}");
        }
    }
    assert!(
        canonical::request(
            br#"{"t":0.0,"type":"request","id":"r1","input_tokens":1,"max_tokens":2}"#
        )
        .is_some()
    );
}

#[test]
fn times_across_the_range_read_as_serde_reads_them() {
    // Spread over [0, 10⁹ s): every count of fraction digits, and both sides of the limit.
    let spread = (0..20_000u64).map(|i| i * 4_999_999_937 % 1_000_000_000_000_000);
    let edges = [
        999_999_999_999_999,
        999_999_999_000_000,
        1,
        10,
        100_000,
        1_000_000,
    ];
    for micros in spread.chain(edges) {
        let seconds = serde_json::to_string(&(micros as f64 / 1e6)).unwrap();
        let line = format!(
            r#"{{"t":{seconds},"type":"request","id":"a","input_tokens":1,"max_tokens":2}}"#
        );
        let fast = canonical::request(line.as_bytes()).and_then(values);
        // Below 10⁻⁵ s the writer's number has an exponent: serde's.
        assert_eq!(fast.is_some(), !seconds.contains('e'), "{line}");
        if fast.is_some() {
            assert_eq!(fast, serde(&line), "{line}");
        }
    }
}

#[test]
fn checks_after_the_parse_name_the_same_places() {
    let canonical = [
        r#"{"t":1.5,"type":"request","id":"a","input_tokens":1,"max_tokens":2}"#,
        r#"{"t":1.5,"type":"request","id":"a","input_tokens":1,"max_tokens":2}"#,
    ];
    let error = crate::trace::read_str(&canonical.join("\n"), "t.jsonl").unwrap_err();
    assert_eq!((error.line, error.column), (2, 32));
    assert!(error.to_string().contains("line 1"), "{error}");
    let backwards = [
        r#"{"t":2,"type":"request","id":"a","input_tokens":1,"max_tokens":2}"#,
        r#"{"t":1.25,"type":"request","id":"b","input_tokens":1,"max_tokens":2}"#,
    ];
    let error = crate::trace::read_str(&backwards.join("\n"), "t.jsonl").unwrap_err();
    assert_eq!((error.line, error.column), (2, 6));
    let parsed = crate::trace::read_str(canonical[0], "t.jsonl").unwrap();
    assert_eq!(parsed.events[0].t_us(), 1_500_000);
}

#[test]
fn anything_else_is_left_to_serde() {
    for line in [
        r#"{"t": 0.5,"type":"request","id":"a","input_tokens":1,"max_tokens":2}"#,
        r#"{"t":0.5,"type":"response","id":"a","input_tokens":1,"max_tokens":2}"#,
        r#"{"t":-0.5,"type":"request","id":"a","input_tokens":1,"max_tokens":2}"#,
        r#"{"t":1e3,"type":"request","id":"a","input_tokens":1,"max_tokens":2}"#,
        r#"{"t":0.1234567,"type":"request","id":"a","input_tokens":1,"max_tokens":2}"#,
        r#"{"t":1000000000.0,"type":"request","id":"a","input_tokens":1,"max_tokens":2}"#,
        r#"{"t":01,"type":"request","id":"a","input_tokens":1,"max_tokens":2}"#,
        r#"{"t":1.,"type":"request","id":"a","input_tokens":1,"max_tokens":2}"#,
        r#"{"t":1,"type":"request","id":"a\u0062","input_tokens":1,"max_tokens":2}"#,
        "{\"t\":1,\"type\":\"request\",\"id\":\"a\tb\",\"input_tokens\":1,\"max_tokens\":2}",
        r#"{"t":1,"type":"request","id":"a","input_tokens":01,"max_tokens":2}"#,
        r#"{"t":1,"type":"request","id":"a","input_tokens":1,"max_tokens":18446744073709551616}"#,
        r#"{"t":1,"type":"request","id":"a","input_tokens":1,"max_tokens":2,"x":1}"#,
        r#"{"t":1,"type":"request","id":"a","input_tokens":1,"max_tokens":2} "#,
        r#"{"t":1,"type":"request","id":"a","input_tokens":1,"max_tokens":2"#,
        r#"{"t":1,"type":"request","id":"a","max_tokens":2,"input_tokens":1}"#,
    ] {
        assert!(canonical::request(line.as_bytes()).is_none(), "{line}");
    }
}
