//! `headroom audit`: the engine in shadow mode over recorded traces, end to end through the
//! binary — the bundled traces, a burst that drew 429s, a 429 no pacing could foresee, and bad
//! input.

mod support;

use std::path::PathBuf;

use predicates::prelude::*;
use serde_json::{Value, json};
use support::{BUNDLED, fixture, headroom};

const FIELDS: [&str; 13] = [
    "trace",
    "lanes",
    "requests",
    "responses",
    "in_flight_at_end",
    "would_admit",
    "would_wait",
    "would_reject",
    "recorded_429",
    "prevented_429",
    "estimate_error",
    "held_back",
    "missed",
];

/// Runs `audit TRACE --format json` and returns the exit code and the JSON.
fn audit_json(trace: &str) -> (i32, Value) {
    let output = headroom()
        .args(["audit", trace, "--format", "json"])
        .output()
        .unwrap();
    let code = output.status.code().unwrap();
    assert!(code == 0 || code == 1, "{output:?}");
    assert!(output.stderr.is_empty(), "{output:?}");
    (code, serde_json::from_slice(&output.stdout).unwrap())
}

#[test]
fn every_bundled_trace_audits_clean() {
    for name in BUNDLED {
        let (code, report) = audit_json(name);
        assert_eq!(code, 0, "{name}");
        for field in FIELDS {
            assert!(report.get(field).is_some(), "{name}: no {field}");
        }
        assert_eq!(report["trace"], name);
        // The bundled traces were recorded without pacing and without 429s (the provider let
        // every request through into debt): nothing to prevent, everything to compare.
        assert_eq!(report["recorded_429"], 0, "{name}");
        assert_eq!(report["missed"], json!([]), "{name}");
        assert_eq!(report["requests"], report["responses"], "{name}");
        assert!(report["would_wait"].as_u64().unwrap() > 0, "{name}");
        let errors = report["estimate_error"].as_object().unwrap();
        assert!(errors.contains_key("requests"), "{name}");
        for (limit, stats) in errors {
            for key in ["count", "mean_abs", "max_over", "max_under", "over"] {
                assert!(stats.get(key).is_some(), "{name}: no {key}");
            }
            // The engine held the key back where the recorded client ran it dry: it never
            // thought more was left than the server said. (Scored by the pace alone, which
            // refills whatever the headers say, `prompt-caching` read an over-estimate of the
            // whole limit at every response.)
            assert_eq!(stats["over"], 0, "{name}: {limit} {stats}");
        }
    }
}

#[test]
fn a_bundled_trace_by_path_matches_by_name() {
    let path: PathBuf = [env!("CARGO_MANIFEST_DIR"), "traces", "openai-tpm.jsonl"]
        .iter()
        .collect();
    let (_, mut by_path) = audit_json(path.to_str().unwrap());
    let (_, mut by_name) = audit_json("openai-tpm");
    by_path["trace"] = Value::Null;
    by_name["trace"] = Value::Null;
    assert_eq!(by_path, by_name);
}

#[test]
fn a_burst_above_50_rpm_has_every_429_prevented() {
    let trace = fixture("audit-429.jsonl");
    let (code, report) = audit_json(&trace);
    assert_eq!(code, 0);
    assert_eq!(
        report,
        json!({
            "trace": trace, "lanes": 1, "requests": 10, "responses": 10, "in_flight_at_end": 0,
            "would_admit": 1, "would_wait": 9, "would_reject": 0,
            "recorded_429": 5, "prevented_429": 5,
            "estimate_error": {
                "requests": {"count": 9, "mean_abs": 0.6, "max_over": 0, "max_under": 1, "over": 0},
                "input_tokens": {"count": 9, "mean_abs": 17733.1, "max_over": 0, "max_under": 22157, "over": 0},
                "output_tokens": {"count": 9, "mean_abs": 5405.6, "max_over": 0, "max_under": 6928, "over": 0}
            },
            // The estimate is what the engine would admit, its pace and its share of the
            // provider's window together: a quarter of what the server reports, so it runs
            // under the server's tokens (the safe side).
            // Knowing nothing at first, the engine paces at 50 RPM (one request per 1.2 s); the
            // first 429's headers confirm 50 RPM. The key may be shared with other clients, so
            // until successive headers show that it is not, the engine claims a quarter of what
            // the server reports: each request of the burst queues further behind the one
            // before.
            "held_back": [
                {"id": "r2", "t": 0.1, "wait_ms": 1100, "limit": "requests"},
                {"id": "r3", "t": 0.2, "wait_ms": 6000, "limit": "requests"},
                {"id": "r4", "t": 0.3, "wait_ms": 7836, "limit": "requests"},
                {"id": "r5", "t": 0.4, "wait_ms": 9671, "limit": "requests"},
                {"id": "r3", "t": 2.3, "wait_ms": 10771, "limit": "requests"}
            ],
            "missed": []
        })
    );
}

#[test]
fn the_table_lists_the_held_back_429s() {
    headroom()
        .args(["audit", &fixture("audit-429.jsonl")])
        .assert()
        .code(0)
        .stdout(
            predicate::str::contains("recorded 429s: 5, prevented: 5, missed: 0")
                .and(predicate::str::contains("input_tokens"))
                .and(predicate::str::is_match(r"r5\s+0\.400\s+9671\s+requests").unwrap()),
        );
}

#[test]
fn a_trace_on_standard_input_is_named_as_such() {
    let text = std::fs::read_to_string(fixture("audit-429.jsonl")).unwrap();
    headroom()
        .args(["audit", "-"])
        .write_stdin(text)
        .assert()
        .code(0)
        .stdout(
            predicate::str::starts_with("audit of <stdin> (engine in shadow mode)")
                .and(predicate::str::contains("recorded 429s: 5, prevented: 5")),
        );
}

#[test]
fn a_429_the_engine_would_have_sent_exits_1() {
    // Another client drained the shared input quota between two well-spaced requests.
    let trace = fixture("audit-missed.jsonl");
    let (code, report) = audit_json(&trace);
    assert_eq!(code, 1);
    assert_eq!(report["recorded_429"], 1);
    assert_eq!(report["prevented_429"], 0);
    assert_eq!(report["missed"], json!([{"id": "r2", "t": 30.0}]));
    // The engine thought the input bucket was nearly full; the server said 0.
    assert_eq!(report["estimate_error"]["input_tokens"]["over"], 1);
    headroom()
        .args(["audit", &trace])
        .assert()
        .code(1)
        .stdout(predicate::str::contains(
            "recorded 429s the engine would have sent too",
        ));
}

#[test]
fn bad_input_exits_2_naming_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(fixture("audit-429.jsonl")).unwrap();
    let lines: Vec<&str> = text.lines().collect();

    let cut = dir.path().join("cut.jsonl");
    std::fs::write(
        &cut,
        format!("{}\n{}", lines[..3].join("\n"), &lines[3][..80]),
    )
    .unwrap();
    let orphan = dir.path().join("orphan.jsonl");
    std::fs::write(&orphan, format!("{}\n{}\n", lines[0], lines[3])).unwrap();
    let wrong = dir.path().join("wrong.jsonl");
    std::fs::write(
        &wrong,
        "{\"t\": 0, \"type\": \"request\", \"id\": \"r1\", \"input_tokens\": \"many\", \"max_tokens\": 1}\n",
    )
    .unwrap();

    for (path, place) in [(&cut, ":4:"), (&orphan, ":2:"), (&wrong, ":1:")] {
        let path = path.to_str().unwrap();
        headroom()
            .args(["audit", path, "--format", "json"])
            .assert()
            .code(2)
            .stdout(predicate::str::is_empty())
            .stderr(predicate::str::contains(format!("{path}{place}")));
    }
}

#[test]
fn usage_errors_exit_2() {
    for args in [
        vec!["audit"],
        vec!["audit", "/nonexistent/trace.jsonl"],
        vec!["audit", &fixture("audit-429.jsonl"), "--format", "xml"],
    ] {
        headroom().args(args).assert().code(2);
    }
}

/// A trace with no request cannot be simulated or audited: exit 2, saying so (`simulate` used
/// to claim no limits were given, `audit` exited 0).
#[test]
fn an_empty_trace_is_an_error_for_simulate_and_audit() {
    let dir = tempfile::tempdir().unwrap();
    let header_only = support::write(dir.path(), "header.jsonl", "{\"trace\": 1}\n# nothing\n");
    let nothing = support::write(dir.path(), "empty.jsonl", "");
    let responses_only = support::write(dir.path(), "comments.jsonl", "# a comment\n\n");
    for path in [&header_only, &nothing, &responses_only] {
        for args in [
            vec!["simulate", path.to_str().unwrap(), "--rpm", "50"],
            vec!["audit", path.to_str().unwrap()],
        ] {
            headroom()
                .args(&args)
                .assert()
                .code(2)
                .stdout("")
                .stderr(format!(
                    "headroom: {}: the trace has no requests\n",
                    path.display()
                ));
        }
    }
}

/// Lines of a long generated trace, produced as they are read: request `r{n}` at `n`/10 s and
/// its response with Anthropic headers 0.05 s later. The text never exists whole.
struct Generated {
    /// Requests still to produce.
    left: u64,
    /// The next request's number.
    next: u64,
    /// The current pair of lines, and how much of it has been read.
    lines: Vec<u8>,
    at: usize,
}

impl std::io::Read for Generated {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        if self.at == self.lines.len() {
            if self.left == 0 {
                return Ok(0);
            }
            let n = self.next;
            self.lines = format!(
                "{}\n{{\"t\": {}.{}5, \"type\": \"response\", \"id\": \"r{n}\", \"status\": 200, \"headers\": {{\"anthropic-ratelimit-requests-limit\": \"50\", \"anthropic-ratelimit-requests-remaining\": \"49\", \"anthropic-ratelimit-input-tokens-limit\": \"30000\", \"anthropic-ratelimit-input-tokens-remaining\": \"29000\", \"request-id\": \"req_{n:024}\"}}, \"usage\": {{\"input_tokens\": 900, \"output_tokens\": 80}}}}\n",
                support::request_line(&format!("{}.{}", n / 10, n % 10), &format!("r{n}"), 1_000),
                n / 10,
                n % 10,
            )
            .into_bytes();
            self.at = 0;
            self.left -= 1;
            self.next += 1;
        }
        let chunk = self.lines.len().saturating_sub(self.at).min(out.len());
        out[..chunk].copy_from_slice(&self.lines[self.at..self.at + chunk]);
        self.at += chunk;
        Ok(chunk)
    }
}

/// The process's peak resident memory in kB (`VmHWM`), after resetting it where the kernel
/// allows (`clear_refs` 5).
fn peak_rss_kb(reset: bool) -> u64 {
    if reset {
        let _ = std::fs::write("/proc/self/clear_refs", "5");
    }
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// `audit` reads its trace as it goes: auditing a generated trace of 80 000 exchanges (about
/// 37 MB of text, which as a `Trace` would take more than that again) raises the peak memory
/// by far less than the trace's size. The structure is what is tested: a reader that kept the
/// records would hold them all at the end.
#[cfg(target_os = "linux")]
#[test]
fn audit_memory_does_not_grow_with_the_trace() {
    use headroom_sim::{audit, trace::Records};
    const EXCHANGES: u64 = 80_000;
    let trace = || {
        std::io::BufReader::new(Generated {
            left: EXCHANGES,
            next: 0,
            lines: Vec::new(),
            at: 0,
        })
    };
    let size: usize = std::io::Read::bytes(trace()).count();
    assert!(size > 30_000_000, "{size}");
    let before = peak_rss_kb(true);
    let report =
        audit::audit_records(&mut Records::new(trace(), "big.jsonl"), "big.jsonl").unwrap();
    let grown_kb = peak_rss_kb(false).saturating_sub(before);
    assert_eq!((report.requests, report.responses), (EXCHANGES, EXCHANGES));
    assert_eq!(report.in_flight_at_end, 0);
    assert!(
        grown_kb < 8 * 1024,
        "auditing {size} bytes raised the peak by {grown_kb} kB"
    );
}
