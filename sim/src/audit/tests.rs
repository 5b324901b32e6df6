use super::*;
use crate::trace;

/// The audit of `text`, which the whole-trace and the streaming paths must agree on.
fn run(text: &str) -> Audit {
    let whole = audit(&trace::read_str(text, "t.jsonl").unwrap(), "t.jsonl").unwrap();
    let streamed = audit_records(&mut Records::new(text.as_bytes(), "t.jsonl"), "t.jsonl");
    assert_eq!(streamed.unwrap().to_json(), whole.to_json());
    whole
}

/// Anthropic headers for a 50 RPM / 30 000 ITPM / 8 000 OTPM lane.
fn anthropic(requests: u64, input: u64, output: u64) -> String {
    format!(
        r#"{{"anthropic-ratelimit-requests-limit": "50", "anthropic-ratelimit-requests-remaining": "{requests}",
        "anthropic-ratelimit-input-tokens-limit": "30000", "anthropic-ratelimit-input-tokens-remaining": "{input}",
        "anthropic-ratelimit-output-tokens-limit": "8000", "anthropic-ratelimit-output-tokens-remaining": "{output}"}}"#
    )
    .replace('\n', " ")
}

fn request(t: f64, id: &str, input: u64) -> String {
    format!(
        r#"{{"t": {t}, "type": "request", "id": "{id}", "input_tokens": {input}, "max_tokens": 1000}}"#
    )
}

fn response(t: f64, id: &str, status: u16, headers: &str) -> String {
    format!(
        r#"{{"t": {t}, "type": "response", "id": "{id}", "status": {status}, "headers": {headers}}}"#
    )
}

#[test]
fn a_burst_is_held_back_in_order() {
    let lines = [
        request(0.0, "r1", 1_000),
        request(0.1, "r2", 1_000),
        request(0.2, "r3", 1_000),
        response(0.25, "r2", 429, &anthropic(0, 28_000, 7_000)),
        response(0.3, "r3", 429, &anthropic(0, 28_000, 7_000)),
        response(1.5, "r1", 200, &anthropic(49, 29_000, 7_000)),
    ];
    let report = run(&lines.join("\n"));
    assert_eq!((report.requests, report.responses), (3, 3));
    assert_eq!(
        (report.would_admit, report.would_wait, report.would_reject),
        (1, 2, 0)
    );
    assert_eq!((report.recorded_429, report.prevented_429), (2, 2));
    assert!(report.missed.is_empty() && !report.flagged());
    // Provisional pace, 50 RPM: r2 goes at 1.2 s, r3 queues behind it and goes at 2.4 s.
    let waits: Vec<_> = report.held_back.iter().map(|h| h.wait_ms).collect();
    assert_eq!(waits, [Some(1_100), Some(2_200)]);
    assert!(report.held_back.iter().all(|h| h.limit == "requests"));
}

#[test]
fn a_429_the_engine_would_have_sent_is_flagged() {
    let lines = [
        request(0.0, "r1", 1_000),
        response(0.05, "r1", 429, &anthropic(0, 0, 8_000)),
    ];
    let report = run(&lines.join("\n"));
    assert_eq!((report.recorded_429, report.prevented_429), (1, 0));
    assert_eq!(
        report.missed,
        [Missed {
            id: "r1".into(),
            t: 0.0
        }]
    );
    assert!(report.flagged());
    // Nothing learned before the first response: nothing compared.
    assert_eq!(report.estimate_error, EstimateErrorJson::default());
}

#[test]
fn estimates_are_compared_once_limits_are_learned() {
    let lines = [
        request(0.0, "r1", 1_000),
        response(1.0, "r1", 200, &anthropic(49, 29_000, 7_000)),
        request(1.5, "r2", 1_000),
        // Another client spent most of the input quota within the second: the engine thought
        // more was left.
        response(2.0, "r2", 200, &anthropic(48, 2_000, 7_000)),
    ];
    let report = run(&lines.join("\n"));
    let requests = report.estimate_error.requests.unwrap();
    // The server's 48 of 50 is capped at the engine's one-request burst; r2 emptied that burst
    // until 2.7 s, so the engine is one request more careful than the server.
    assert_eq!(
        (requests.count, requests.max_over, requests.max_under),
        (1, 0, 1)
    );
    let input = report.estimate_error.input_tokens.unwrap();
    assert_eq!((input.count, input.over), (1, 1));
    // The window keeps a quarter of what the first response reported (the cold share of a key
    // that may be shared: 28 500 read down for rounding, ≈ 7 080 once others' spending over
    // the reaction horizon is taken out), less r2's 1 000, plus a second's refill of that
    // share (125): ≈ 6 200 against the server's 2 000.
    assert!((4_100..=4_300).contains(&input.max_over), "{input:?}");
    // No `tokens-*` field: no combined window or pace to compare.
    assert!(report.estimate_error.tokens.is_none());
    assert!(!report.flagged());
}

#[test]
fn a_drained_key_is_not_an_over_estimate() {
    let lines = [
        request(0.0, "r1", 1_000),
        response(1.0, "r1", 200, &anthropic(49, 0, 7_000)),
        request(5.0, "r2", 1_000),
        response(5.5, "r2", 429, &anthropic(48, 0, 7_000)),
    ];
    let report = run(&lines.join("\n"));
    assert_eq!((report.recorded_429, report.prevented_429), (1, 1));
    assert_eq!(
        report.held_back.first().map(|h| h.limit),
        Some("input_tokens")
    );
    let input = report.estimate_error.input_tokens.unwrap();
    assert_eq!((input.count, input.over, input.max_over), (1, 0, 0));
}

#[test]
fn a_request_above_the_burst_is_rejected_and_counts_as_prevented() {
    let lines = [
        request(0.0, "r1", 1_000),
        response(1.0, "r1", 200, &anthropic(49, 29_000, 7_000)),
        request(10.0, "big", 40_000),
        response(10.1, "big", 429, &anthropic(49, 29_000, 8_000)),
    ];
    let report = run(&lines.join("\n"));
    assert_eq!(report.would_reject, 1);
    assert_eq!(report.prevented_429, 1);
    let held = &report.held_back[0];
    assert_eq!(
        (held.wait_ms, held.limit, held.rejected),
        (None, "input_tokens", true)
    );
    let json: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
    assert_eq!(
        json["held_back"][0],
        serde_json::json!({"id": "big", "t": 10.0, "limit": "input_tokens", "rejected": true})
    );
}

#[test]
fn lanes_are_separate() {
    let text = [
        r#"{"t": 0, "type": "request", "id": "a", "lane": "sonnet", "input_tokens": 1, "max_tokens": 1}"#,
        r#"{"t": 0.1, "type": "request", "id": "b", "lane": "haiku", "input_tokens": 1, "max_tokens": 1}"#,
        r#"{"t": 0.2, "type": "request", "id": "c", "lane": "sonnet", "input_tokens": 1, "max_tokens": 1}"#,
    ]
    .join("\n");
    let report = run(&text);
    assert_eq!(report.lanes, 2);
    assert_eq!((report.would_admit, report.would_wait), (2, 1));
    assert_eq!(report.in_flight_at_end, 3);
}

#[test]
fn too_many_lanes_is_an_error() {
    let text: Vec<String> = (0..=MAX_LANES)
        .map(|i| {
            format!(
                r#"{{"t": 0, "type": "request", "id": "r{i}", "lane": "m{i}", "input_tokens": 1, "max_tokens": 1}}"#
            )
        })
        .collect();
    let parsed = trace::read_str(&text.join("\n"), "t.jsonl").unwrap();
    assert_eq!(
        audit(&parsed, "t.jsonl").unwrap_err(),
        format!("more than {MAX_LANES} lanes")
    );
}

#[test]
fn the_table_names_the_findings() {
    let lines = [
        request(0.0, "r1", 1_000),
        request(0.1, "r2", 1_000),
        response(0.2, "r2", 429, &anthropic(0, 28_000, 7_000)),
        response(1.5, "r1", 200, &anthropic(49, 29_000, 7_000)),
    ];
    let table = run(&lines.join("\n")).to_table();
    assert!(
        table.contains("recorded 429s: 1, prevented: 1, missed: 0"),
        "{table}"
    );
    assert!(table.contains("r2"), "{table}");
    assert!(table.contains("input_tokens"), "{table}");
}

#[test]
fn every_bundled_trace_audits() {
    for (name, _) in BUNDLED {
        let report = audit_records(&mut open(name).unwrap(), name).unwrap();
        assert!(report.requests > 0, "{name}");
        assert_eq!(report.recorded_429, 0, "{name}");
        assert!(report.estimate_error.requests.is_some(), "{name}");
    }
}
