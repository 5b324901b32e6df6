//! The reader against every rule of the contract: what it accepts, and the exact
//! `file:line:column: message` of everything it refuses.

use super::*;

/// A request line at `t` (a JSON literal) for `id`.
fn request(t: &str, id: &str) -> String {
    format!(
        r#"{{"t": {t}, "type": "request", "id": "{id}", "input_tokens": 10, "max_tokens": 20}}"#
    )
}

/// A response line at `t` (a JSON literal) for `id`.
fn response(t: &str, id: &str) -> String {
    format!(r#"{{"t": {t}, "type": "response", "id": "{id}", "status": 200, "headers": {{}}}}"#)
}

/// The error text for `lines` joined with newlines (and a final newline).
fn error_of(lines: &[&str]) -> String {
    let mut text = lines.join("\n");
    text.push('\n');
    match read_str(&text, "trace.jsonl") {
        Ok(trace) => panic!("accepted: {trace:?}"),
        Err(error) => error.to_string(),
    }
}

const SMALL: &str = include_str!("../../tests/fixtures/small.jsonl");

#[test]
fn reads_the_small_fixture() {
    let trace = read_str(SMALL, "small.jsonl").unwrap();
    assert_eq!(trace.header.provider.as_deref(), Some("anthropic"));
    assert_eq!(trace.header.model.as_deref(), Some("claude-sonnet-4-5"));
    assert_eq!(trace.time_form, TimeForm::Seconds);
    let times: Vec<u64> = trace.events.iter().map(Event::t_us).collect();
    assert_eq!(times, [0, 250_000, 406_000, 812_000, 16_500_000]);
    let Event::Response(ok) = &trace.events[3] else {
        panic!("not a response")
    };
    assert_eq!(ok.status, 200);
    assert_eq!(
        ok.usage,
        Some(Usage {
            input_tokens: 1200,
            output_tokens: 311,
            ..Usage::default()
        })
    );
    let cookies: Vec<&str> = ok
        .headers
        .iter()
        .filter(|(name, _)| name == "set-cookie")
        .map(|(_, value)| value.as_str())
        .collect();
    assert_eq!(cookies, ["a=1", "b=2"]);
    assert_eq!(ok.headers[3].0, "set-cookie", "header order is kept");
    let Event::Response(refused) = &trace.events[2] else {
        panic!("not a response")
    };
    assert_eq!(refused.header("Retry-After"), Some("16"));
    assert_eq!(refused.usage, None);
    let in_flight: Vec<(&str, u64)> = trace
        .in_flight_at_end()
        .iter()
        .map(|r| (r.id.as_str(), r.t_us))
        .collect();
    assert_eq!(
        in_flight,
        [("r2", 16_500_000)],
        "an id may be reused once answered"
    );
}

#[test]
fn reads_the_fixture_file_from_disk() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/small.jsonl");
    assert_eq!(
        read_file(path).unwrap(),
        read_str(SMALL, "small.jsonl").unwrap()
    );
}

/// A request at `sent` answered at `answered` (RFC 3339 strings): the trace's origin in µs
/// since the epoch, and the response's time since it.
fn rfc3339_exchange(sent: &str, answered: &str) -> (u64, u64) {
    let text = [
        request(&format!("\"{sent}\""), "a"),
        response(&format!("\"{answered}\""), "a"),
    ]
    .join("\n");
    let trace = read_str(&text, "t.jsonl").unwrap();
    let TimeForm::Rfc3339 { origin } = trace.time_form else {
        panic!("not RFC 3339: {trace:?}")
    };
    (origin.as_micros(), trace.events[1].t_us())
}

#[test]
fn rfc3339_times_become_microseconds_since_the_first_event() {
    assert_eq!(
        rfc3339_exchange("2025-06-01T10:00:00.5Z", "2025-06-01T12:00:01+02:00"),
        (1_748_772_000_500_000, 500_000)
    );
}

/// One parser, one answer on leap seconds: the core's `:60` is `:59` of the same minute, so a
/// leap second followed by the half second before it is time going forwards, not backwards.
#[test]
fn a_leap_second_is_read_as_the_core_reads_it() {
    assert_eq!(
        rfc3339_exchange("2016-12-31T23:59:60Z", "2016-12-31T23:59:59.5Z"),
        (1_483_228_799_000_000, 500_000)
    );
}

#[test]
fn tolerates_what_the_contract_allows() {
    let text = "\u{feff}# comment\r\n   \r\n  # indented comment\n".to_owned()
        + &request("3", "a")
        + "\r\n"
        + r#"{"t": 3, "type": "response", "id": "a", "status": 503, "extra": {"nested": [1]}, "usage": {"input_tokens": 1, "output_tokens": 2, "cache_read_input_tokens": null}}"#;
    let trace = read_str(&text, "t.jsonl").unwrap();
    assert_eq!(trace.header, Header::default());
    let Event::Response(response) = &trace.events[1] else {
        panic!("not a response")
    };
    assert!(response.headers.is_empty());
    assert_eq!(response.usage.map(|u| u.cache_read_input_tokens), Some(0));
    assert!(trace.in_flight_at_end().is_empty());
    assert_eq!(read_str("", "empty.jsonl").unwrap(), Trace::default());
    let commented = "# recorded by hand\n\n{\"trace\": 1, \"model\": \"m\", \"later\": [1]}\n";
    let header = read_str(commented, "h.jsonl").unwrap().header;
    assert_eq!(
        header.model.as_deref(),
        Some("m"),
        "a header may follow comments"
    );
}

#[test]
fn header_arrays_and_repeated_keys_become_pairs_grouped_at_the_first_place() {
    let line = r#"{"t": 1, "type": "response", "id": "a", "status": 200, "headers": {"b": ["1", "2"], "A": "3", "b": "4", "c": []}}"#;
    let trace = read_str(&(request("0", "a") + "\n" + line), "t.jsonl").unwrap();
    let Event::Response(response) = &trace.events[1] else {
        panic!("not a response")
    };
    let pairs: Vec<(&str, &str)> = response
        .headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    // A repeated key's values gather at its first place, as the writer groups them.
    assert_eq!(pairs, [("b", "1"), ("b", "2"), ("b", "4"), ("A", "3")]);
    assert_eq!(response.header("a"), Some("3"));
}

#[test]
fn validation_errors_name_file_line_and_column() {
    let r1 = request("0", "r1");
    let cases: &[(&[&str], &str)] = &[
        (
            &[&response("1", "r9")],
            r#"trace.jsonl:1:36: response "r9" has no request"#,
        ),
        (
            &["# c", &r1, &response("1", "r1"), &response("2", "r1")],
            r#"trace.jsonl:4:36: response "r1" has no request in flight (line 3 already answered it)"#,
        ),
        (
            &[&r1, "", &request("1", "r1")],
            r#"trace.jsonl:3:35: request "r1" is already in flight (sent on line 1)"#,
        ),
        (&[&request("-0.5", "r1")], "trace.jsonl:1:7: t is negative"),
        (
            &[&request("1e300", "r1")],
            "trace.jsonl:1:7: t is too large",
        ),
        (
            &[&request("2", "a"), &request("1.5", "b")],
            "trace.jsonl:2:7: t goes backwards: 1.5 s is before 2 s on line 1",
        ),
        (
            &[
                &request("\"2025-06-01T10:00:02Z\"", "a"),
                &request("\"2025-06-01T10:00:01.5Z\"", "b"),
            ],
            "trace.jsonl:2:7: t goes backwards: 2025-06-01T10:00:01.5Z is before 2025-06-01T10:00:02Z on line 1",
        ),
        (
            &[
                &request("1", "a"),
                &request("\"2025-06-01T10:00:00Z\"", "b"),
            ],
            "trace.jsonl:2:7: t is an RFC 3339 string but line 1 uses seconds; a trace uses one form throughout",
        ),
        (
            &[
                "",
                &request("\"2025-06-01T10:00:00Z\"", "a"),
                &request("1", "b"),
            ],
            "trace.jsonl:3:7: t is seconds but line 2 uses RFC 3339 strings; a trace uses one form throughout",
        ),
        (
            &[&request("\"2025-06-31T10:00:00Z\"", "a")],
            "trace.jsonl:1:7: t is not an RFC 3339 date-time: field out of range",
        ),
        (
            &[r#"{"trace": 2, "note": "from the future"}"#],
            "trace.jsonl:1:11: unsupported trace version 2 (this reader reads version 1)",
        ),
        (
            &[&r1, r#"{"trace": 1}"#],
            "trace.jsonl:2:11: the header line {\"trace\": …} must come before any event",
        ),
        (
            &[r#"{"t": 1, "id": "a"}"#],
            "trace.jsonl:1:1: missing field `type` (\"request\" or \"response\")",
        ),
        (
            &[r#"{"t": 1, "type": "reponse", "id": "a"}"#],
            "trace.jsonl:1:18: unknown event type \"reponse\" (expected \"request\" or \"response\")",
        ),
        (&["[1, 2]"], "trace.jsonl:1:1: expected a JSON object"),
        (&["  42"], "trace.jsonl:1:3: expected a JSON object"),
    ];
    for (lines, expected) in cases {
        assert_eq!(&error_of(lines), expected, "{lines:?}");
    }
}

#[test]
fn type_and_syntax_errors_use_serde_columns_and_field_paths() {
    let r1 = request("0", "r1");
    let cases: &[(&[&str], &str)] = &[
        (
            &[
                &r1,
                r#"{"t": 1, "type": "response", "id": "r1", "status": "abc", "headers": {}}"#,
            ],
            r#"trace.jsonl:2:56: status: invalid type: string "abc", expected u16"#,
        ),
        (
            &[
                &r1,
                r#"{"t": 1, "type": "response", "id": "r1", "status": 200, "headers": {"retry-after": 16}}"#,
            ],
            "trace.jsonl:2:85: headers.retry-after: invalid type: integer `16`, expected a header value: a string or an array of strings",
        ),
        (
            &[
                &r1,
                r#"{"t": 1, "type": "response", "id": "r1", "status": 200, "usage": {"input_tokens": -1}}"#,
            ],
            "trace.jsonl:2:84: usage.input_tokens: invalid value: integer `-1`, expected u64",
        ),
        (
            &[r#"{"t": 1, "type": "request", "id": "a", "input_tokens": 5}"#],
            "trace.jsonl:1:57: missing field `max_tokens`",
        ),
        (
            &[r#"{"t": true, "type": "request", "id": "a", "input_tokens": 5, "max_tokens": 1}"#],
            "trace.jsonl:1:10: t: invalid type: boolean `true`, expected seconds (a number) or an RFC 3339 string",
        ),
        (
            &[r#"{"trace": "1"}"#],
            r#"trace.jsonl:1:13: trace: invalid type: string "1", expected u64"#,
        ),
        (
            &[r#"{"t": 1, "type": 7}"#],
            "trace.jsonl:1:18: type: invalid type: integer `7`, expected a string",
        ),
        (
            &["# ok", r#"{"t": 1, "type": "request",, }"#],
            "trace.jsonl:2:28: key must be a string",
        ),
        (
            &[r#"{"t": 1e999, "type": "request", "id": "a", "input_tokens": 5, "max_tokens": 1}"#],
            "trace.jsonl:1:11: t: number out of range",
        ),
        (
            &[&format!("{r1} trailing")],
            "trace.jsonl:1:79: trailing characters",
        ),
        (
            &[r#"{"t": 1, "type": "request""#],
            "trace.jsonl:1:26: EOF while parsing an object",
        ),
    ];
    for (lines, expected) in cases {
        assert_eq!(&error_of(lines), expected, "{lines:?}");
    }
}

#[test]
fn a_file_cut_mid_object_is_a_truncation_error_on_its_last_line() {
    let cut = format!("{}\n{{\"t\": 0.5, \"type\": \"resp", request("0", "r1"));
    let error = read_str(&cut, "trace.jsonl").unwrap_err();
    assert_eq!(
        error.to_string(),
        "trace.jsonl:2:24: truncated line: the file ends mid-object (type: EOF while parsing a string)"
    );
    assert_eq!((error.line, error.column), (2, 24));
    assert!(matches!(error.kind, TraceErrorKind::Truncated(_)));
}

#[test]
fn a_status_outside_http_is_an_error_at_its_value() {
    let r1 = request("0", "r1");
    for (status, column) in [("0", 52), ("99", 52), ("600", 52), ("999", 52)] {
        let line = response("1", "r1").replace("\"status\": 200", &format!("\"status\": {status}"));
        assert_eq!(
            error_of(&[&r1, &line]),
            format!("trace.jsonl:2:{column}: status {status} is not an HTTP status (100 to 599)")
        );
    }
    for status in ["100", "599"] {
        let line = response("1", "r1").replace("\"status\": 200", &format!("\"status\": {status}"));
        assert!(
            read_str(&format!("{r1}\n{line}\n"), "trace.jsonl").is_ok(),
            "{status}"
        );
    }
}

#[test]
fn invalid_utf8_and_missing_files_are_errors() {
    let mut bytes = request("0", "r1").into_bytes();
    bytes.extend_from_slice(b"\n{\"t\": 1, \"id\": \"\xff\"}\n");
    let error = read(bytes.as_slice(), "trace.jsonl").unwrap_err();
    assert_eq!(error.to_string(), "trace.jsonl:2:17: not valid UTF-8");
    let error = read_file("/no/such/dir/trace.jsonl").unwrap_err();
    assert_eq!((error.line, error.column), (0, 0));
    assert!(
        error
            .to_string()
            .starts_with("/no/such/dir/trace.jsonl: cannot read: "),
        "{error}"
    );
}

#[test]
fn trace_errors_become_exit_code_two() {
    let error = read_str(&response("1", "r9"), "t.jsonl").unwrap_err();
    let cli: crate::cli::CliError = error.into();
    assert_eq!(
        cli.to_string(),
        r#"t.jsonl:1:36: response "r9" has no request"#
    );
    assert_eq!(cli.exit_code(), std::process::ExitCode::from(2));
}

/// Found by the `trace` fuzz target: a key repeated around another one was read in document
/// order but written grouped, so read → write → read changed the header order.
#[test]
fn a_repeated_header_key_round_trips() {
    let text = include_str!("../../../fuzz/regressions/trace/jsonl-repeated-header-key.jsonl");
    let first = read_str(text, "repeated.jsonl").unwrap();
    let again = read_str(&crate::trace::to_jsonl(&first), "again.jsonl").unwrap();
    assert_eq!(first, again);
    let Event::Response(response) = &first.events[1] else {
        panic!("not a response")
    };
    let names: Vec<&str> = response
        .headers
        .iter()
        .map(|(name, _)| name.as_str())
        .collect();
    assert_eq!(names, ["x", "x", "y"]);
}

#[test]
fn lines_longer_than_the_read_buffer_read_the_same() {
    // A 7-byte buffer: every line spans several refills, and some refills end mid-"\r\n".
    let mut text = String::from("{\"trace\": 1}\r\n");
    for i in 0..20 {
        text.push_str(&request(&format!("{i}.5"), &format!("r{i}")));
        text.push_str(if i % 2 == 0 { "\r\n" } else { "\n" });
    }
    text.push_str(&request("30", "last"));
    let whole = read_str(&text, "t.jsonl").unwrap();
    let small = read(
        std::io::BufReader::with_capacity(7, text.as_bytes()),
        "t.jsonl",
    )
    .unwrap();
    assert_eq!(whole.events.len(), 21);
    assert_eq!(small, whole);
    let cut = text.replace("\"id\": \"r7\"", "\"id\": \"r7\"\u{0}");
    let error = read(
        std::io::BufReader::with_capacity(7, cut.as_bytes()),
        "t.jsonl",
    );
    assert_eq!(error, read_str(&cut, "t.jsonl"));
    assert!(error.is_err());
}

/// `count` canonical request lines of one length (and, with `answered`, each answered at once).
fn uniform(count: usize, answered: bool) -> String {
    let mut text = String::new();
    for i in 0..count {
        text.push_str(&format!(
            "{{\"t\":{i},\"type\":\"request\",\"id\":\"r{i:06}\",\"input_tokens\":5,\"max_tokens\":9}}\n"
        ));
        if answered {
            text.push_str(&response(&i.to_string(), &format!("r{i:06}")));
            text.push('\n');
        }
    }
    text
}

/// A trace of requests only, its size known: once the table of requests in flight is first
/// full past a few thousand, it makes room for the whole trace at once. Without the size, or
/// when responses answer the requests, it grows as it would.
#[test]
fn a_sized_trace_of_requests_reserves_its_requests_in_flight_ahead() {
    let total = 40_000;
    let text = uniform(total, false);
    let room_after = |records: &mut Records<&[u8]>, lines: usize| {
        for _ in 0..lines {
            records.next().unwrap().unwrap();
        }
        records.in_flight_room()
    };
    let mut sized = Records::new(text.as_bytes(), "t.jsonl").with_size(text.len() as u64);
    assert!(room_after(&mut sized, 3_000) < 4_096, "not yet: too few");
    // Full at 7 168 (8 192 slots): past it, room for all 40 000, not for 14 336.
    let room = room_after(&mut sized, 5_000);
    assert!(room >= total, "{room}");
    assert_eq!(
        room_after(&mut sized, total - 8_000),
        room,
        "no growth after"
    );
    let mut blind = Records::new(text.as_bytes(), "t.jsonl");
    assert!(room_after(&mut blind, 8_000) < 2 * 8_000);

    let mixed = uniform(total, true);
    let mut answered = Records::new(mixed.as_bytes(), "t.jsonl").with_size(mixed.len() as u64);
    assert!(room_after(&mut answered, 2 * total) < 64);
}

/// The size changes the memory's growth, never what is read: the same events and error.
#[test]
fn a_size_changes_nothing_read() {
    let mut text = uniform(10_000, false);
    text.push_str(&request("10000", "r000001"));
    text.push('\n');
    for size in [None, Some(text.len() as u64), Some(1), Some(u64::MAX)] {
        let records = Records::new(text.as_bytes(), "t.jsonl");
        let records = match size {
            Some(bytes) => records.with_size(bytes),
            None => records,
        };
        let events: Vec<_> = records.collect();
        assert_eq!(events.len(), 10_001, "{size:?}");
        let error = events.last().unwrap().as_ref().unwrap_err();
        assert!(
            matches!(
                error.kind,
                TraceErrorKind::DuplicateRequest { first_line: 2, .. }
            ),
            "{size:?}: {error}"
        );
        assert_eq!(error.line, 10_001, "{size:?}");
    }
}
