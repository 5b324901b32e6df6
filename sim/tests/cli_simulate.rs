//! `headroom simulate` and the no-argument run, end to end through the binary.

mod support;

use predicates::prelude::*;
use serde_json::Value;
use support::{headroom, solo_strategies};

const BUNDLED: [&str; 4] = [
    "anthropic-tier1-batch.jsonl",
    "openai-tpm.jsonl",
    "multi-lane.jsonl",
    "prompt-caching.jsonl",
];

const STRATEGY_FIELDS: [&str; 12] = [
    "strategy",
    "requests",
    "completed",
    "gave_up",
    "rate_limited",
    "overloaded",
    "retries",
    "makespan_s",
    "makespan_lower_bound_s",
    "utilization",
    "binding_limit",
    "latency_ms",
];

fn simulate_json(trace: &str, extra: &[&str]) -> (String, Value) {
    let output = headroom()
        .args(["simulate", trace, "--format", "json", "--seed", "1"])
        .args(extra)
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let text = String::from_utf8(output.stdout).unwrap();
    let value = serde_json::from_str(&text).unwrap();
    (text, value)
}

/// The keys of a JSON object in the order they appear in `text` at `from`.
fn keys_in_order(text: &str, keys: &[&str], from: usize) -> bool {
    let mut at = from;
    for key in keys {
        match text[at..].find(&format!("\"{key}\":")) {
            Some(offset) => at += offset,
            None => return false,
        }
    }
    true
}

#[test]
fn headroom_meets_the_physical_limit_on_every_bundled_trace() {
    // Reserved output: the bound is tight. Actual output (the Anthropic default): the bound
    // leaves room for the output of every request that may be in flight at the last
    // admission, so it is looser.
    // Reserve: within 6 % (multi-lane: × 1.054 — on a key that may be shared the engine
    // starts at a quarter share until samples show it is alone); auto (output counted as
    // generated): within 10 %, the bound being loose there (see `metrics`).
    for (accounting, tolerance) in [("reserve", 1.06), ("auto", 1.10)] {
        for trace in BUNDLED {
            headroom_within(trace, accounting, tolerance);
        }
    }
}

#[expect(clippy::float_arithmetic, reason = "a tolerance on seconds")]
fn headroom_within(trace: &str, accounting: &str, tolerance: f64) {
    {
        let (text, json) = simulate_json(trace, &["--output-accounting", accounting]);
        let top: Vec<&str> = json
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        for key in ["trace", "seed", "limits", "strategies"] {
            assert!(top.contains(&key), "{trace}: {key} missing");
        }
        assert!(keys_in_order(
            &text,
            &["trace", "seed", "limits", "strategies"],
            0
        ));
        let strategies = json["strategies"].as_array().unwrap();
        let names: Vec<&str> = strategies
            .iter()
            .map(|s| s["strategy"].as_str().unwrap())
            .collect();
        assert_eq!(names, solo_strategies());
        for strategy in strategies {
            let object = strategy.as_object().unwrap();
            assert_eq!(object.len(), STRATEGY_FIELDS.len(), "{trace}: {object:?}");
            for field in STRATEGY_FIELDS {
                assert!(object.contains_key(field), "{trace}: {field}");
            }
            let latency = object["latency_ms"].as_object().unwrap();
            assert_eq!(latency.len(), 3);
            for field in ["p50", "p99", "max"] {
                assert!(latency[field].is_u64(), "{trace}: latency {field}");
            }
        }
        let first = text.find("\"strategy\":").unwrap();
        assert!(keys_in_order(&text, &STRATEGY_FIELDS, first - 1));
        let headroom = &strategies[0];
        assert_eq!(headroom["rate_limited"], 0, "{trace}");
        assert_eq!(headroom["gave_up"], 0, "{trace}");
        assert_eq!(headroom["completed"], headroom["requests"], "{trace}");
        let makespan = headroom["makespan_s"].as_f64().unwrap();
        let bound = headroom["makespan_lower_bound_s"].as_f64().unwrap();
        assert!(bound > 0.0);
        // Within 6 % of the physical bound: on a key that may be shared, the engine starts at a
        // quarter share until the first samples show it is alone (multi-lane: × 1.054).
        assert!(
            makespan <= tolerance * bound,
            "{trace} ({accounting}): {makespan} > {tolerance} × {bound}"
        );
        assert!(
            makespan >= bound,
            "{trace}: {makespan} below the bound {bound}"
        );
    }
}

#[test]
fn limits_come_from_the_trace_headers() {
    let (_, json) = simulate_json("anthropic-tier1-batch.jsonl", &["--strategy", "headroom"]);
    assert_eq!(
        json["limits"],
        serde_json::json!({"requests": 50, "input_tokens": 30000, "output_tokens": 8000})
    );
    let (_, json) = simulate_json("openai-tpm.jsonl", &["--strategy", "sdk", "--tpm", "90000"]);
    assert_eq!(
        json["limits"],
        serde_json::json!({"requests": 500, "tokens": 90000})
    );
    let (_, json) = simulate_json("multi-lane.jsonl", &["--strategy", "sdk"]);
    assert_eq!(json["lanes"].as_array().unwrap().len(), 2);
}

#[test]
fn no_arguments_prints_the_default_comparison() {
    headroom()
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "trace: anthropic-tier1-batch.jsonl",
        ))
        .stdout(predicate::str::contains("50 RPM / 30000 ITPM / 8000 OTPM"))
        .stdout(predicate::str::is_match(r"(?m)^headroom +300/300 +0 +0 ").unwrap())
        .stdout(predicate::str::contains("cookbook"));
}

#[test]
fn same_seed_same_json() {
    let (first, _) = simulate_json("multi-lane.jsonl", &[]);
    let (second, _) = simulate_json("multi-lane.jsonl", &[]);
    assert_eq!(first, second);
}

/// With an input limit whose burst no request fits, no strategy can finish: the bound is
/// `null` in JSON with the request that never fits, and the table says why under the legend.
#[test]
fn a_request_above_the_burst_leaves_no_bound() {
    let (_, json) = simulate_json(
        "anthropic-tier1-batch.jsonl",
        &["--itpm", "1000", "--strategy", "headroom"],
    );
    assert!(
        json["strategies"][0]["makespan_lower_bound_s"].is_null(),
        "{json}"
    );
    let never = &json["never_fits"];
    assert_eq!(never["limit"], "input_tokens", "{json}");
    assert_eq!(never["burst"], 1000, "{json}");
    assert!(never["needs"].as_u64().unwrap() > 1000, "{json}");
    assert!(
        never["request"].as_str().unwrap().starts_with('r'),
        "{json}"
    );
    headroom()
        .args(["simulate", "anthropic-tier1-batch.jsonl", "--itpm", "1000"])
        .args(["--strategy", "headroom"])
        .assert()
        .success()
        .stdout(predicate::str::is_match(r"(?m)^headroom .* — +— ").unwrap())
        .stdout(predicate::str::contains(
            "above the provider's burst of 1000: no strategy can finish the workload",
        ));
    // A workload that fits has a bound and no `never_fits`.
    let (_, json) = simulate_json("anthropic-tier1-batch.jsonl", &["--strategy", "headroom"]);
    assert!(
        json["strategies"][0]["makespan_lower_bound_s"]
            .as_f64()
            .unwrap()
            > 0.0
    );
    assert!(json.get("never_fits").is_none(), "{json}");
}

/// The strategies run on one thread or several: the same JSON, byte for byte.
#[test]
fn the_jobs_change_nothing_printed() {
    let (one, _) = simulate_json("multi-lane.jsonl", &["--jobs", "1"]);
    let (three, _) = simulate_json("multi-lane.jsonl", &["--jobs", "3"]);
    assert_eq!(one, three);
}

#[test]
fn json_snapshot_of_the_default_trace() {
    let (_, json) = simulate_json("anthropic-tier1-batch.jsonl", &[]);
    insta::assert_json_snapshot!("default_trace_seed_1", json);
}

#[test]
fn schedule_out_lists_every_attempt() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("schedule.jsonl");
    let (_, json) = simulate_json(
        "openai-tpm.jsonl",
        &[
            "--strategy",
            "headroom",
            "--strategy",
            "sdk",
            "--schedule-out",
            path.to_str().unwrap(),
        ],
    );
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let attempts = |s: &Value| s["requests"].as_u64().unwrap() + s["retries"].as_u64().unwrap();
    let strategies = json["strategies"].as_array().unwrap();
    assert_eq!(
        lines.len() as u64,
        attempts(&strategies[0]) + attempts(&strategies[1])
    );
    assert!(
        lines[0]
            .starts_with(r#"{"strategy":"headroom","t":0.0,"id":"r1","attempt":1,"input_tokens":"#)
    );
    let statuses: Vec<u64> = lines
        .iter()
        .map(|line| {
            serde_json::from_str::<Value>(line).unwrap()["status"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert!(statuses.contains(&429));
}

#[test]
fn plot_writes_an_svg() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("plot.svg");
    headroom()
        .args([
            "simulate",
            "anthropic-tier1-batch.jsonl",
            "--strategy",
            "headroom",
        ])
        .args(["--strategy", "sdk", "--plot", path.to_str().unwrap()])
        .assert()
        .success();
    let svg = std::fs::read_to_string(&path).unwrap();
    assert!(svg.starts_with("<svg"));
    assert!(svg.contains("input_tokens"));
}

#[test]
fn bad_flags_exit_2() {
    for args in [
        &[
            "simulate",
            "anthropic-tier1-batch.jsonl",
            "--strategy",
            "nope",
        ][..],
        &["simulate", "anthropic-tier1-batch.jsonl", "--format", "xml"],
        &["simulate", "anthropic-tier1-batch.jsonl", "--rpm", "0"],
        &["simulate", "anthropic-tier1-batch.jsonl", "--seed", "-1"],
        &["simulate", "anthropic-tier1-batch.jsonl", "--jobs", "0"],
        &["simulate"],
        &["simulate", "/nonexistent/trace.jsonl"],
    ] {
        headroom().args(args).assert().code(2);
    }
}

#[test]
fn jobs_0_is_refused_in_the_flags_words() {
    headroom()
        .args(["simulate", "anthropic-tier1-batch.jsonl", "--jobs", "0"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "a number of jobs is a whole number from 1 up: 0",
        ));
}

#[test]
fn bad_traces_exit_2_with_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let truncated = dir.path().join("cut.jsonl");
    std::fs::write(
        &truncated,
        "{\"t\": 0, \"type\": \"request\", \"id\": \"r1\", \"input_tokens\": 10, \"max_tokens\": 10}\n{\"t\": 1, \"type\": \"resp",
    )
    .unwrap();
    headroom()
        .args(["simulate", truncated.to_str().unwrap()])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("cut.jsonl:2:"));
    let no_limits = dir.path().join("bare.jsonl");
    std::fs::write(
        &no_limits,
        "{\"t\": 0, \"type\": \"request\", \"id\": \"r1\", \"input_tokens\": 10, \"max_tokens\": 10}\n",
    )
    .unwrap();
    headroom()
        .args(["simulate", no_limits.to_str().unwrap()])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--rpm"));
    headroom()
        .args([
            "simulate",
            no_limits.to_str().unwrap(),
            "--rpm",
            "60",
            "--format",
            "json",
        ])
        .assert()
        .success()
        .stdout(predicate::str::contains(r#""limits":{"requests":60}"#));
}

/// The row of `strategy` in a `simulate --format json` run of the tier 1 trace with `extra`.
fn row(strategy: &str, extra: &[&str]) -> Value {
    let mut args = vec!["--strategy", strategy];
    args.extend_from_slice(extra);
    let (_, json) = simulate_json("anthropic-tier1-batch.jsonl", &args);
    json["strategies"][0].clone()
}

fn number(row: &Value, field: &str) -> f64 {
    row[field].as_f64().unwrap()
}

#[test]
fn foreign_load_takes_capacity_from_the_clients() {
    let alone = row("sdk-semaphore", &[]);
    let shared = row("sdk-semaphore", &["--foreign-load", "0.4"]);
    assert!(number(&shared, "rate_limited") > number(&alone, "rate_limited"));
    // The bound is that of the 60 % left to the clients.
    let ratio =
        number(&shared, "makespan_lower_bound_s") / number(&alone, "makespan_lower_bound_s");
    assert!((1.6..1.7).contains(&ratio), "{ratio}");
    let late = row("sdk-semaphore", &["--foreign-load", "0.4@600"]);
    assert!(number(&late, "makespan_lower_bound_s") < number(&shared, "makespan_lower_bound_s"));
}

#[test]
fn a_small_provider_burst_refuses_what_a_minute_long_one_admits() {
    let full = row("static", &[]);
    assert_eq!(full["rate_limited"], 0);
    let small = row("static", &["--token-burst-s", "10"]);
    assert!(number(&small, "rate_limited") > 100.0, "{small}");
    let tight = row("static", &["--request-burst-s", "60", "--rpm", "50"]);
    assert_eq!(tight["rate_limited"], 0);
}

#[test]
fn a_tier_upgrade_raises_throughput_for_who_reads_headers() {
    let before = row("headroom", &[]);
    let after = row(
        "headroom",
        &["--limits-change-at", "120:rpm=100,itpm=60000,otpm=16000"],
    );
    assert!(
        number(&after, "makespan_s") < 0.7 * number(&before, "makespan_s"),
        "{after}"
    );
    assert!(number(&after, "makespan_lower_bound_s") < number(&before, "makespan_lower_bound_s"));
    // The static limiter keeps the published limits and gains nothing.
    let fixed = row(
        "static",
        &["--limits-change-at", "120:rpm=100,itpm=60000,otpm=16000"],
    );
    assert!(number(&fixed, "makespan_s") > 0.95 * number(&before, "makespan_s"));
}

/// Where the requests limit binds (token limits it never reaches, a requests bucket of one
/// second), headroom took 1.74× `static`'s makespan: a response between two admissions set the
/// window to whole requests, a share stuck one step short of the whole key cut a `remaining` of
/// 1 to 0, and a ceiling rounded down refused a truthful report. 1.30× now (the rest is the
/// transit allowance counting a request the simulated provider saw at once as unseen).
#[test]
fn where_requests_bind_headroom_stays_near_static() {
    let extra = ["--rpm", "50", "--itpm", "30000000", "--otpm", "6000000"];
    let headroom = row("headroom", &extra);
    let fixed = row("static", &extra);
    let ratio = number(&headroom, "makespan_s") / number(&fixed, "makespan_s");
    assert!(ratio < 1.4, "{ratio}: {headroom} against {fixed}");
    assert_eq!(headroom["rate_limited"], 0, "{headroom}");
    assert_eq!(headroom["binding_limit"], "requests", "{headroom}");
}

#[test]
fn gateways_each_with_their_own_limiter_overdraw_the_key() {
    let solo = row("static", &[]);
    let fleet = row("static", &["--gateways", "4"]);
    assert_eq!(solo["rate_limited"], 0);
    assert!(number(&fleet, "rate_limited") > 100.0, "{fleet}");
    let skewed = row("static-split", &["--gateways", "4", "--assign", "skewed"]);
    assert!(
        number(&skewed, "makespan_s") > 2.0 * number(&solo, "makespan_s"),
        "{skewed}"
    );
}

#[test]
fn low_estimates_defeat_a_limiter_that_trusts_them() {
    assert_eq!(row("static", &["--estimate-bias", "5"])["rate_limited"], 0);
    assert!(number(&row("static", &["--estimate-bias", "-20"]), "rate_limited") > 50.0);
    assert!(number(&row("static", &["--estimate-noise", "30"]), "rate_limited") > 50.0);
}

#[test]
fn header_imperfections_change_what_clients_see() {
    // Headers snapshotted at admission miss the refill during the response: headroom paces
    // on older news. (A skewed `Date` is checked in the provider's unit tests: headroom's
    // numbers do not move with it, which is the point of reading resets relative to `Date`.)
    let (_, plain) = simulate_json("multi-lane.jsonl", &["--strategy", "headroom"]);
    let (_, stale) = simulate_json(
        "multi-lane.jsonl",
        &["--strategy", "headroom", "--stale-headers"],
    );
    assert_ne!(plain, stale);
    // Bare 429s carry no retry-after: the SDK retries on its own schedule instead.
    let informed = row("sdk-semaphore", &[]);
    let bare = row("sdk-semaphore", &["--bare-429", "1"]);
    assert_ne!(informed["retries"], bare["retries"]);
}

#[test]
fn actual_output_is_charged_as_generated() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("long-outputs.jsonl");
    let mut text = String::from("{\"trace\": 1, \"provider\": \"anthropic\"}\n");
    for i in 0..100 {
        text.push_str(&format!(
            "{{\"t\": {}, \"type\": \"request\", \"id\": \"r{i}\", \"input_tokens\": 100, \"max_tokens\": 1000}}\n",
            f64::from(i) / 10.0
        ));
    }
    std::fs::write(&path, text).unwrap();
    let run = |accounting: &str| {
        let (_, json) = simulate_json(
            path.to_str().unwrap(),
            &[
                "--rpm",
                "50",
                "--otpm",
                "8000",
                "--output-accounting",
                accounting,
            ],
        );
        json["strategies"].as_array().unwrap().clone()
    };
    for strategies in [run("actual"), run("reserve")] {
        for strategy in &strategies {
            let name = strategy["strategy"].as_str().unwrap();
            let makespan = number(strategy, "makespan_s");
            // Nobody gets 100 × 1 000 output tokens through an 8 000 OTPM bucket in less time
            // than the bound, and no one is granted several times the limit.
            if strategy["gave_up"] == 0 {
                assert!(
                    makespan >= number(strategy, "makespan_lower_bound_s"),
                    "{name}"
                );
            }
            assert!(number(strategy, "utilization") < 1.5, "{name}: {strategy}");
        }
        // headroom's own target here (≤ 1 429 per 100 requests) belongs to the core's sync.
        assert_eq!(strategies[0]["gave_up"], 0);
    }
}

#[test]
fn bad_world_flags_exit_2_with_a_message() {
    for (flag, value) in [
        ("--gateways", "0"),
        ("--assign", "random"),
        ("--foreign-load", "1"),
        ("--foreign-load", "0.4@x"),
        ("--estimate-noise", "101"),
        ("--token-burst-s", "0"),
        ("--request-burst-s", "61"),
        ("--limits-change-at", "60:rpm=0"),
        ("--limits-change-at", "rpm=10"),
        ("--bare-429", "2"),
        ("--output-accounting", "later"),
        ("--concurrency", "0"),
    ] {
        headroom()
            .args(["simulate", "anthropic-tier1-batch.jsonl", flag, value])
            .assert()
            .code(2)
            .stderr(predicate::str::contains(flag));
    }
}

#[test]
fn wire_headers_give_the_same_run() {
    for (trace, extra) in [
        (
            "anthropic-tier1-batch.jsonl",
            &["--stale-headers", "--bare-429", "0.3"][..],
        ),
        ("openai-tpm.jsonl", &["--header-skew-ms", "1500"][..]),
        ("multi-lane.jsonl", &["--foreign-load", "0.3"][..]),
        ("prompt-caching.jsonl", &["--gateways", "3"][..]),
    ] {
        let mut args = vec!["--strategy", "headroom"];
        args.extend_from_slice(extra);
        let (direct, _) = simulate_json(trace, &args);
        args.push("--wire-headers");
        let (wire, _) = simulate_json(trace, &args);
        assert_eq!(direct, wire, "{trace}");
    }
}

#[test]
fn a_trace_header_carries_its_world() {
    let dir = tempfile::tempdir().unwrap();
    let bundled = [
        env!("CARGO_MANIFEST_DIR"),
        "traces",
        "anthropic-tier1-batch.jsonl",
    ]
    .iter()
    .collect::<std::path::PathBuf>();
    let text = std::fs::read_to_string(bundled).unwrap();
    let body = text.split_once('\n').unwrap().1;
    let with_world =
        format!("{{\"trace\": 1, \"world\": {{\"gateways\": 4, \"assign\": \"skewed\"}}}}\n{body}");
    let path = dir.path().join("fleet.jsonl");
    std::fs::write(&path, with_world).unwrap();
    let path = path.to_str().unwrap();
    // The header's world is the world…
    let (_, from_header) = simulate_json(path, &["--strategy", "headroom"]);
    let (_, from_flags) = simulate_json(
        "anthropic-tier1-batch.jsonl",
        &[
            "--strategy",
            "headroom",
            "--gateways",
            "4",
            "--assign",
            "skewed",
        ],
    );
    let (_, ideal) = simulate_json("anthropic-tier1-batch.jsonl", &["--strategy", "headroom"]);
    assert_eq!(from_header["strategies"], from_flags["strategies"]);
    assert_ne!(from_header["strategies"], ideal["strategies"]);
    // …unless the command line gives one: then the command line's world alone.
    let (_, overridden) = simulate_json(path, &["--strategy", "headroom", "--gateways", "2"]);
    let (_, two) = simulate_json(
        "anthropic-tier1-batch.jsonl",
        &["--strategy", "headroom", "--gateways", "2"],
    );
    assert_eq!(overridden["strategies"], two["strategies"]);
    // A header whose world is refused, written after the lines `before` it: exit 2, and what
    // standard error says, at the header's line and the column of the key or value at fault.
    let bad = dir.path().join("bad.jsonl");
    let refused = |before: &str, world: &str| {
        std::fs::write(
            &bad,
            format!("{before}{{\"trace\": 1, \"world\": {world}}}\n{body}"),
        )
        .unwrap();
        headroom()
            .args(["simulate", bad.to_str().unwrap()])
            .assert()
            .code(2)
    };
    let at = |place: &str| format!("headroom: {}:{place}: world", bad.display());
    // A bad key is an error at the key.
    refused("", r#"{"gateway": 4}"#).stderr(predicate::str::starts_with(format!(
        "{}: unknown key \"gateway\" (known: gateways, ",
        at("1:24")
    )));
    // A bad value is reported under its key, at its value, in the world's words, not clap's.
    let noise = r#"{"estimate_noise": -5}"#;
    let noise_refused = ".estimate_noise: -5 is too small (a whole number from 0 to 100)\n";
    refused("", noise).stderr(format!("{}{noise_refused}", at("1:42")));
    // The header is the first line that is not blank or a comment; a byte order mark before
    // it is not counted in the columns.
    refused("\u{feff}# recorded by hand\n\n", noise)
        .stderr(format!("{}{noise_refused}", at("3:42")));
    refused("\u{feff}", noise).stderr(format!("{}{noise_refused}", at("1:42")));
    // Standard input too, named as the reader names it: the header line was kept as read,
    // nothing is read again.
    headroom()
        .args(["simulate", "-"])
        .write_stdin(format!(
            "# piped\n{{\"trace\": 1, \"world\": {noise}}}\n{body}"
        ))
        .assert()
        .code(2)
        .stderr(format!("headroom: <stdin>:2:42: world{noise_refused}"));
    // A value is quoted as written, and a whole number too large is said to be.
    refused("", r#"{"gateways": 99999999999999999999}"#).stderr(format!(
        "{}.gateways: 99999999999999999999 is too large\n",
        at("1:36")
    ));
    // Two spellings of one key: at the one written second.
    refused("", r#"{"stale_headers": true, "stale-headers": true}"#).stderr(format!(
        "{}: \"stale-headers\" and \"stale_headers\" are the same key\n",
        at("1:47")
    ));
    // A key given twice is refused where it is read, with its position.
    refused("", r#"{"gateways": 4, "gateways": 8}"#).stderr(predicate::str::contains(
        "bad.jsonl:1:48: world: duplicate key `gateways` in a world object",
    ));
}

/// `simulate` on the small fixture trace with the headroom strategy alone and `extra`.
fn simulate_small(trace: &std::path::Path, extra: &[&str]) -> assert_cmd::assert::Assert {
    headroom()
        .arg("simulate")
        .arg(trace)
        .args(["--strategy", "headroom"])
        .args(extra)
        .assert()
}

#[test]
fn an_output_never_overwrites_the_trace_or_the_other_output() {
    let dir = tempfile::tempdir().unwrap();
    let original = std::fs::read_to_string(support::fixture("small.jsonl")).unwrap();
    let trace = support::write(dir.path(), "t.jsonl", &original);
    // The same file by another spelling: through a folder and back.
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    let detour = dir.path().join("sub").join("..").join("t.jsonl");
    for (flag, path) in [
        ("--schedule-out", &trace),
        ("--plot", &trace),
        ("--schedule-out", &detour),
    ] {
        simulate_small(&trace, &[flag, path.to_str().unwrap()])
            .code(2)
            .stderr(
                predicate::str::contains(flag)
                    .and(predicate::str::contains("TRACE"))
                    .and(predicate::str::contains("t.jsonl")),
            );
        assert_eq!(std::fs::read_to_string(&trace).unwrap(), original);
    }
    // Two outputs to one new file: refused before either is written.
    let both = dir.path().join("out");
    simulate_small(
        &trace,
        &[
            "--plot",
            both.to_str().unwrap(),
            "--schedule-out",
            both.to_str().unwrap(),
        ],
    )
    .code(2)
    .stderr(predicate::str::contains("--plot").and(predicate::str::contains("--schedule-out")));
    assert!(!both.exists());
    // A device takes both.
    simulate_small(
        &trace,
        &["--plot", "/dev/null", "--schedule-out", "/dev/null"],
    )
    .success();
}

#[cfg(target_os = "linux")]
#[test]
fn a_full_disk_names_the_output() {
    let trace = std::path::PathBuf::from(support::fixture("small.jsonl"));
    for flag in ["--schedule-out", "--plot"] {
        simulate_small(&trace, &[flag, "/dev/full"])
            .code(2)
            .stderr(predicate::str::contains("/dev/full: cannot write"));
    }
}

#[test]
fn limits_beyond_u32_are_refused_with_the_range() {
    for flag in ["--rpm", "--itpm", "--otpm", "--tpm"] {
        headroom()
            .args([
                "simulate",
                "anthropic-tier1-batch.jsonl",
                flag,
                "4294967296",
            ])
            .assert()
            .code(2)
            .stderr(
                predicate::str::contains(flag).and(predicate::str::contains("1 to 4294967295")),
            );
    }
    headroom()
        .args([
            "simulate",
            "anthropic-tier1-batch.jsonl",
            "--limits-change-at",
            "120:rpm=4294967296",
        ])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "rpm: a limit per minute is a whole number from 1 to 4294967295",
        ));
    // A trace whose headers report more than the engine holds.
    let dir = tempfile::tempdir().unwrap();
    let trace = support::write(
        dir.path(),
        "huge.jsonl",
        format!(
            "{}\n{}\n",
            support::request_line("0", "r1", 10),
            r#"{"t": 1, "type": "response", "id": "r1", "status": 200, "headers": {"anthropic-ratelimit-requests-limit": "5000000000"}}"#
        ),
    );
    simulate_small(&trace, &[])
        .code(2)
        .stderr(predicate::str::contains("huge.jsonl").and(predicate::str::contains(
            "requests limit of 5000000000 a minute; the simulator holds limits from 1 to 4294967295",
        )));
    simulate_small(&trace, &["--rpm", "60"]).success();
}

#[test]
fn fractions_and_seconds_say_what_they_accept() {
    for (flag, value, why) in [
        ("--foreign-load", "0.0001", "at most three decimals"),
        ("--bare-429", "0.1234", "at most three decimals"),
        ("--bare-429", "1.5", "from 0 to 1"),
        (
            "--limits-change-at",
            "0.0000001:rpm=5",
            "at most six decimals",
        ),
        ("--limits-change-at", "1e10:rpm=5", "no exponent"),
    ] {
        headroom()
            .args(["simulate", "anthropic-tier1-batch.jsonl", flag, value])
            .assert()
            .code(2)
            .stderr(predicate::str::contains(why).and(predicate::str::contains(value)));
    }
    let help = headroom().args(["simulate", "--help"]).output().unwrap();
    let help = String::from_utf8(help.stdout).unwrap();
    assert!(help.contains("at most three decimals"), "{help}");
}

#[test]
fn a_ninth_lane_is_named_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let mut lines = vec![
        r#"{"trace": 1, "provider": "anthropic"}"#.to_owned(),
        "# nine models".to_owned(),
    ];
    lines.extend((0..9).map(|n| {
        format!(
            r#"{{"t": 0, "type": "request", "id": "r{n}", "lane": "m{n}", "input_tokens": 1, "max_tokens": 1}}"#
        )
    }));
    let trace = support::write(dir.path(), "lanes.jsonl", lines.join("\n") + "\n");
    simulate_small(&trace, &["--rpm", "60"]).code(2).stderr(
        predicate::str::contains("lanes.jsonl:11:1: more than 8 lanes")
            .and(predicate::str::contains("\"r8\""))
            .and(predicate::str::contains("audit 16")),
    );
}

/// An outside consumer is simulated arrival by arrival: over a trace spanning 127 years (or a
/// request generating output for as long) the run would take hours. It is refused at once,
/// saying why, in `simulate` and in `matrix`; a span of a month still runs.
#[test]
fn an_outside_consumer_over_centuries_is_refused_not_simulated() {
    let dir = tempfile::tempdir().unwrap();
    let centuries = support::write(
        dir.path(),
        "centuries.jsonl",
        format!(
            "{}\n{}\n",
            support::request_line("0", "r1", 10),
            support::request_line("4000000000", "r2", 10)
        ),
    );
    let started = std::time::Instant::now();
    simulate_small(&centuries, &["--rpm", "50", "--foreign-load", "0.4"])
        .code(2)
        .stderr(
            predicate::str::contains("centuries.jsonl")
                .and(predicate::str::contains(
                    "would arrive about 1333333335 times",
                ))
                .and(predicate::str::contains("at most 100000000")),
        );
    assert!(started.elapsed() < std::time::Duration::from_secs(30));
    simulate_small(&centuries, &["--rpm", "50"]).success();
    // Times in Unix seconds: the outside consumer starts at 0, 54 years before the first request.
    let unix = support::write(
        dir.path(),
        "unix.jsonl",
        format!(
            "{}\n{}\n",
            support::request_line("1717236000", "r1", 10),
            support::request_line("1717236001", "r2", 10)
        ),
    );
    simulate_small(&unix, &["--rpm", "50", "--foreign-load", "0.4"])
        .code(2)
        .stderr(predicate::str::contains("unix.jsonl").and(predicate::str::contains("F@T")));
    simulate_small(&unix, &["--rpm", "50", "--foreign-load", "0.4@1717236000"]).success();
    simulate_small(&centuries, &["--rpm", "50", "--foreign-load", "0"]).success();
    let month = support::write(
        dir.path(),
        "month.jsonl",
        format!(
            "{}\n{}\n",
            support::request_line("0", "r1", 10),
            support::request_line("2592000", "r2", 10)
        ),
    );
    simulate_small(&month, &["--rpm", "50", "--foreign-load", "0.4"]).success();
    // A scenario's limits come from its trace's headers.
    let answered = support::write(
        dir.path(),
        "answered.jsonl",
        format!(
            "{}\n{}\n{}\n",
            support::request_line("0", "r1", 10),
            r#"{"t": 1, "type": "response", "id": "r1", "status": 200, "headers": {"anthropic-ratelimit-requests-limit": "50"}}"#,
            support::request_line("4000000000", "r2", 10)
        ),
    );
    let scenario = support::write(
        dir.path(),
        "centuries.json",
        format!(
            r#"{{"trace": {:?}, "about": "a key shared for 127 years", "world": {{"foreign_load": "0.4"}}}}"#,
            answered.display().to_string()
        ),
    );
    headroom()
        .args(["matrix", "--strategy", "headroom", "--scenario"])
        .arg(&scenario)
        .assert()
        .code(2)
        .stderr(
            predicate::str::contains("would arrive about")
                .and(predicate::str::contains("centuries.json")),
        );
}

/// The world a run used is printed: a trace header's world replaces the ideal one silently
/// otherwise (`--gateways 1` alone is the ideal world's value and does not override it).
#[test]
fn the_report_names_the_world_it_ran_in() {
    let dir = tempfile::tempdir().unwrap();
    let trace = support::write(
        dir.path(),
        "fleet.jsonl",
        format!(
            "{}\n{}\n{}\n",
            r#"{"trace": 1, "world": {"gateways": 2, "assign": "hash"}}"#,
            support::request_line("0", "r1", 10),
            support::request_line("1", "r2", 10)
        ),
    );
    let (_, json) = simulate_json(trace.to_str().unwrap(), &["--rpm", "60", "--gateways", "1"]);
    assert_eq!(json["world"], "--gateways 2 --assign hash");
    simulate_small(&trace, &["--rpm", "60"])
        .success()
        .stdout(predicate::str::contains(
            "\nworld: --gateways 2 --assign hash\n",
        ));
    let (_, ideal) = simulate_json("anthropic-tier1-batch.jsonl", &["--strategy", "static"]);
    assert!(ideal.get("world").is_none());
}
