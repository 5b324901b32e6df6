//! `headroom import-har`: end to end (the committed capture gives the committed trace; bad
//! input exits 2 with a message naming the file), then the conversion rules through
//! `import_har::convert` on small generated captures.

mod support;

use std::fs;

use headroom_sim::import_har::{Import, convert};
use headroom_sim::trace::{self, Event};
use predicates::prelude::*;
use serde_json::{Value, json};
use support::{fixture, headroom};

/// `headroom import-har INPUT -o -`, expected to fail with exit code 2 and nothing on stdout;
/// the caller checks standard error.
fn import_fails(input: impl AsRef<std::ffi::OsStr>) -> assert_cmd::assert::Assert {
    headroom()
        .arg("import-har")
        .arg(input)
        .args(["-o", "-"])
        .assert()
        .code(2)
        .stdout("")
}

#[test]
fn the_anthropic_capture_becomes_the_expected_trace() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.jsonl");
    headroom()
        .args(["import-har", &fixture("anthropic.har"), "-o"])
        .arg(&out)
        .assert()
        .success()
        .stdout("")
        .stderr("imported 3 requests, skipped 1 entries\n");
    let written = fs::read_to_string(&out).unwrap();
    let expected = fs::read_to_string(fixture("anthropic.jsonl")).unwrap();
    assert_eq!(written, expected);

    let trace = trace::read_file(&out).unwrap();
    assert!(trace.in_flight_at_end().is_empty());
    let refused = trace
        .events
        .iter()
        .find_map(|event| match event {
            Event::Response(response) if response.status == 429 => Some(response),
            _ => None,
        })
        .unwrap();
    assert_eq!(refused.header("Retry-After"), Some("16"));
    assert_eq!(refused.usage, None);
}

#[test]
fn dash_writes_the_trace_to_standard_output() {
    let expected = fs::read_to_string(fixture("anthropic.jsonl")).unwrap();
    headroom()
        .args(["import-har", &fixture("anthropic.har"), "-o", "-"])
        .assert()
        .success()
        .stdout(expected);
}

#[test]
fn malformed_har_exits_2_naming_file_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("broken.har");
    fs::write(
        &bad,
        "{\"log\": {\"entries\": [\n  {\"startedDateTime\": \"2025-06-01T10:00:00Z\",,\n",
    )
    .unwrap();
    let out = dir.path().join("out.jsonl");
    headroom()
        .arg("import-har")
        .arg(&bad)
        .arg("-o")
        .arg(&out)
        .assert()
        .code(2)
        .stderr(format!(
            "headroom: {}:2:46: not a HAR 1.2 file: log.entries[0]: key must be a string\n",
            bad.display()
        ));
    assert!(!out.exists(), "no partial output");
}

/// Bytes that are not UTF-8 are placed as the trace reader places them (line, byte column).
#[test]
fn a_file_that_is_not_utf8_names_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("binary.har");
    fs::write(&bad, b"{\"log\": {\n  \"entries\": [\xff]}}\n").unwrap();
    import_fails(&bad).stderr(format!(
        "headroom: {}:2:15: not valid UTF-8\n",
        bad.display()
    ));
}

/// JSON of another shape is described in HAR's words, its position given once.
#[test]
fn json_of_another_shape_is_described_as_har() {
    let dir = tempfile::tempdir().unwrap();
    for (text, message) in [
        (
            "[]",
            "1:2: not a HAR 1.2 file: invalid length 0, expected a HAR object {\"log\": {\"entries\": […]}}\n",
        ),
        (
            "{\"log\": 5}",
            "1:9: not a HAR 1.2 file: log: invalid type: integer `5`, expected a HAR log: an object {\"entries\": […]}\n",
        ),
    ] {
        let bad = support::write(dir.path(), "shape.har", text);
        import_fails(&bad).stderr(format!("headroom: {}:{message}", bad.display()));
    }
}

#[test]
fn json_that_is_not_har_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("not.har");
    fs::write(&bad, "{\"log\": {\"entries\": [{\"startedDateTime\": 5}]}}").unwrap();
    import_fails(&bad).stderr(predicate::str::contains(format!(
        "{}:1:42: not a HAR 1.2 file: log.entries[0].startedDateTime: invalid type: integer `5`",
        bad.display()
    )));
}

#[test]
fn a_missing_file_exits_2_naming_it() {
    import_fails("/no/such/capture.har").stderr(predicate::str::starts_with(
        "headroom: /no/such/capture.har: cannot read: ",
    ));
}

#[test]
fn an_unwritable_output_exits_2_naming_it() {
    headroom()
        .args([
            "import-har",
            &fixture("anthropic.har"),
            "-o",
            "/no/such/dir/out.jsonl",
        ])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("/no/such/dir/out.jsonl: "));
}

/// A HAR entry: `method` to `url` with `body` (JSON text) at `start`, answered with
/// `status`, `headers` and `response` body after `time` ms.
fn entry(
    start: &str,
    time: f64,
    body: &Value,
    status: i64,
    headers: &[(&str, &str)],
    response: &str,
) -> Value {
    json!({
        "startedDateTime": start, "time": time,
        "request": {"method": "POST", "url": "https://api.example/v1/messages", "postData": {"text": body.to_string()}},
        "response": {"status": status,
            "headers": headers.iter().map(|(n, v)| json!({"name": n, "value": v})).collect::<Vec<_>>(),
            "content": {"text": response}}
    })
}

fn convert_entries(entries: Vec<Value>) -> Result<Import, String> {
    let har = headroom_sim::har::parse(&json!({"log": {"entries": entries}}).to_string()).unwrap();
    convert(&har, "t.har")
}

/// A call with `body` at 10:00, answered 200 after 1 ms with no headers.
fn ok_at_ten(body: &Value) -> Value {
    entry("2025-06-01T10:00:00Z", 1.0, body, 200, &[], "")
}

fn call(model: &str) -> Value {
    json!({"model": model, "max_tokens": 16, "messages": [{"role": "user", "content": "abcd"}]})
}

#[test]
fn only_bodies_with_model_and_a_token_cap_are_imported() {
    let mut get = ok_at_ten(&call("m"));
    get["request"]["method"] = json!("GET");
    let entries = vec![
        get,
        ok_at_ten(&json!({"model": "m", "messages": []})),
        ok_at_ten(&json!({"max_tokens": 5})),
        ok_at_ten(&json!("not an object")),
        ok_at_ten(&json!({"model": "m", "max_completion_tokens": 5})),
        ok_at_ten(&json!({"model": "m", "max_output_tokens": 6})),
    ];
    let import = convert_entries(entries).unwrap();
    assert_eq!((import.requests, import.skipped), (2, 4));
    let caps: Vec<u64> = import
        .trace
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Request(r) => Some(r.max_tokens),
            Event::Response(_) => None,
        })
        .collect();
    assert_eq!(caps, [5, 6]);
}

#[test]
fn events_are_sorted_ids_made_unique_and_failures_left_in_flight() {
    let entries = vec![
        entry(
            "2025-06-01T12:00:01.000+02:00",
            500.0,
            &call("a"),
            200,
            &[("X-Request-Id", "dup")],
            "",
        ),
        entry("2025-06-01T10:00:00.250Z", 100.0, &call("b"), 0, &[], ""),
        entry(
            "2025-06-01T10:00:00.000Z",
            -1.0,
            &call("a"),
            503,
            &[("request-id", "dup")],
            "",
        ),
        entry("2025-06-01T10:00:02.000Z", 1.0, &call("a"), 200, &[], ""),
    ];
    let import = convert_entries(entries).unwrap();
    let events: Vec<(u64, &str, bool)> = import
        .trace
        .events
        .iter()
        .map(|e| (e.t_us(), e.id(), matches!(e, Event::Request(_))))
        .collect();
    assert_eq!(
        events,
        [
            (0, "dup", true),
            (0, "dup", false),
            (250_000, "r2", true),
            (1_000_000, "dup-2", true),
            (1_500_000, "dup-2", false),
            (2_000_000, "r4", true),
            (2_001_000, "r4", false),
        ]
    );
    let in_flight: Vec<&str> = import
        .trace
        .in_flight_at_end()
        .iter()
        .map(|r| r.id.as_str())
        .collect();
    assert_eq!(in_flight, ["r2"]);
    assert_eq!(import.trace.header.model, None, "two models");
    assert_eq!(import.trace.header.provider, None);
    let text = trace::to_jsonl(&import.trace);
    assert_eq!(
        trace::read_str(&text, "t").unwrap(),
        import.trace,
        "the output is a valid trace"
    );
}

#[test]
fn bad_entries_are_errors_naming_the_entry() {
    let bad_date = vec![entry("yesterday", 1.0, &call("a"), 200, &[], "")];
    assert_eq!(
        convert_entries(bad_date).unwrap_err(),
        "log.entries[0].startedDateTime: \"yesterday\" is not an ISO 8601 date-time (syntax error)"
    );
    // Beyond u16, and within it but outside HTTP's range (a trace would not read it back).
    for status in [70_000, 600, 99] {
        let bad_status = vec![entry(
            "2025-06-01T10:00:00Z",
            1.0,
            &call("a"),
            status,
            &[],
            "",
        )];
        assert_eq!(
            convert_entries(bad_status).unwrap_err(),
            format!("log.entries[0].response.status: {status} is not an HTTP status (100 to 599)")
        );
    }
}

#[test]
fn base64_bodies_and_provider_detection() {
    // {"usage":{"prompt_tokens":3,"completion_tokens":4}}
    let mut openai = entry(
        "2025-06-01T10:00:00Z",
        1.0,
        &call("gpt"),
        200,
        &[("openai-version", "2020-10-01")],
        "",
    );
    openai["response"]["content"] = json!({"text": "eyJ1c2FnZSI6eyJwcm9tcHRfdG9rZW5zIjozLCJjb21wbGV0aW9uX3Rva2VucyI6NH19", "encoding": "base64"});
    let import = convert_entries(vec![openai]).unwrap();
    assert_eq!(import.trace.header.provider.as_deref(), Some("openai"));
    assert_eq!(import.trace.header.model.as_deref(), Some("gpt"));
    let Some(Event::Response(response)) = import.trace.events.get(1) else {
        panic!("no response")
    };
    assert_eq!(
        response.usage.map(|u| (u.input_tokens, u.output_tokens)),
        Some((3, 4))
    );
    let empty = convert_entries(Vec::new()).unwrap();
    assert_eq!(
        (empty.requests, empty.skipped, empty.trace.events.len()),
        (0, 0, 0)
    );
}

/// Found by the `trace` fuzz target (issue 11): a multi-byte character in the offset of
/// `startedDateTime` made the importer split inside the character and panic (exit 101).
#[test]
fn a_multi_byte_character_in_the_offset_is_an_error_not_a_panic() {
    let input = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../fuzz/regressions/trace/har-multibyte-offset.har"
    );
    import_fails(input).stderr(predicate::str::contains(
            "log.entries[0].startedDateTime: \"2025-06-01T12:00:00.5+\\u{feff}0\" is not an ISO 8601 date-time (syntax error)",
        ));
}

/// A `time` no trace can hold used to become 0 silently; it is an error at its place.
#[test]
fn a_time_out_of_range_exits_2_naming_file_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let mut har = json!({"log": {"entries": [ok_at_ten(&call("m"))]}}).to_string();
    har = har.replace("\"time\":1.0", "\"time\":1e308");
    let path = support::write(dir.path(), "far.har", &har);
    // serde_json's column, where it saw the number end: the `}` after it.
    let column = har.find("1e308").unwrap() + "1e308".len() + 1;
    import_fails(&path).stderr(predicate::str::contains(format!(
        "{}:1:{column}: not a HAR 1.2 file: log.entries[0].time: 1e308 ms is out of range",
        path.display()
    )));
}

/// A HAR given where a trace is expected points at `import-har`, whether it is named `.har`,
/// pretty-printed under another name, or on one line.
#[test]
fn simulate_and_audit_point_a_har_at_import_har() {
    let dir = tempfile::tempdir().unwrap();
    let capture = fs::read_to_string(fixture("anthropic.har")).unwrap();
    let one_line = serde_json::from_str::<Value>(&capture).unwrap().to_string();
    let cases = [
        support::write(dir.path(), "x.har", &capture),
        support::write(dir.path(), "capture.json", &capture),
        support::write(dir.path(), "compact.jsonl", &one_line),
    ];
    for path in &cases {
        for command in ["simulate", "audit"] {
            headroom()
                .arg(command)
                .arg(path)
                .assert()
                .code(2)
                .stdout("")
                .stderr(format!(
                    "headroom: {0}:1:1: this is a HAR capture, not a trace; convert it first: headroom import-har {0} -o trace.jsonl\n",
                    path.display()
                ));
        }
    }
}

#[test]
fn the_output_never_replaces_the_capture() {
    let dir = tempfile::tempdir().unwrap();
    let capture = fs::read(fixture("anthropic.har")).unwrap();
    let har = support::write(dir.path(), "x.har", &capture);
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    for output in [har.clone(), dir.path().join("sub").join("..").join("x.har")] {
        headroom()
            .arg("import-har")
            .arg(&har)
            .arg("-o")
            .arg(&output)
            .assert()
            .code(2)
            .stderr(
                predicate::str::contains("-o")
                    .and(predicate::str::contains("FILE.har"))
                    .and(predicate::str::contains("x.har")),
            );
        assert_eq!(fs::read(&har).unwrap(), capture);
    }
}

#[test]
fn a_byte_order_mark_is_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let mut capture = "\u{feff}".as_bytes().to_vec();
    capture.extend(fs::read(fixture("anthropic.har")).unwrap());
    let har = support::write(dir.path(), "bom.har", &capture);
    let out = dir.path().join("out.jsonl");
    headroom()
        .arg("import-har")
        .arg(&har)
        .arg("-o")
        .arg(&out)
        .assert()
        .success();
    // The note names the file; the rest is the committed trace.
    let written = fs::read_to_string(&out).unwrap();
    let expected = fs::read_to_string(fixture("anthropic.jsonl")).unwrap();
    assert_eq!(written.replace("bom.har", "anthropic.har"), expected);
}

#[cfg(target_os = "linux")]
#[test]
fn a_full_disk_names_the_output() {
    headroom()
        .args(["import-har", &fixture("anthropic.har"), "-o", "/dev/full"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("/dev/full: cannot write"));
}
