//! `headroom matrix`, end to end through the binary.

mod support;

use predicates::prelude::*;
use serde_json::Value;
use support::{STRATEGIES, headroom};

const SCENARIOS: [&str; 16] = [
    "solo-tier1-batch",
    "solo-openai-tpm",
    "solo-multi-lane",
    "solo-prompt-caching",
    "shared-key",
    "fleet-4-round-robin",
    "fleet-4-skewed",
    "fleet-16-round-robin",
    "fleet-16-skewed",
    "noisy-estimates",
    "low-estimates",
    "small-burst",
    "tier-upgrade",
    "imperfect-headers",
    "actual-output",
    "reserve-output",
];

const CELL_FIELDS: [&str; 9] = [
    "strategy",
    "completed",
    "gave_up",
    "rate_limited",
    "rate_limited_per_100",
    "makespan_s",
    "x_bound",
    "wait_mean_s",
    "wait_p99_s",
];

fn matrix(args: &[&str]) -> String {
    let output = headroom().arg("matrix").args(args).output().unwrap();
    assert!(output.status.success(), "{output:?}");
    String::from_utf8(output.stdout).unwrap()
}

#[test]
fn same_seed_same_bytes() {
    for format in ["table", "json", "markdown"] {
        let first = matrix(&["--format", format, "--seed", "3"]);
        assert_eq!(
            first,
            matrix(&["--format", format, "--seed", "3"]),
            "{format}"
        );
    }
    assert_ne!(
        matrix(&["--format", "json", "--seed", "1"]),
        matrix(&["--format", "json", "--seed", "2"])
    );
}

#[test]
fn every_scenario_times_every_strategy_with_the_json_fields() {
    let json: Value = serde_json::from_str(&matrix(&["--format", "json"])).unwrap();
    assert_eq!(json["seed"], 1);
    let scenarios = json["scenarios"].as_array().unwrap();
    let names: Vec<&str> = scenarios
        .iter()
        .map(|s| s["scenario"].as_str().unwrap())
        .collect();
    assert_eq!(names, SCENARIOS);
    for scenario in scenarios {
        for field in ["about", "trace", "world", "requests", "bound_s", "cells"] {
            assert!(scenario.get(field).is_some(), "{field}");
        }
        let requests = scenario["requests"].as_u64().unwrap();
        assert!(requests >= 300 && scenario["bound_s"].as_f64().unwrap() > 0.0);
        let cells = scenario["cells"].as_array().unwrap();
        let strategies: Vec<&str> = cells
            .iter()
            .map(|c| c["strategy"].as_str().unwrap())
            .collect();
        assert_eq!(strategies, STRATEGIES);
        for cell in cells {
            let object = cell.as_object().unwrap();
            assert_eq!(object.len(), CELL_FIELDS.len());
            for field in CELL_FIELDS {
                assert!(object.contains_key(field), "{field}");
            }
            let (done, gave_up) = (
                cell["completed"].as_u64().unwrap(),
                cell["gave_up"].as_u64().unwrap(),
            );
            assert_eq!(done + gave_up, requests);
            // A run that gave requests up finished less work: no ratio to the bound.
            assert_eq!(cell["x_bound"].is_null(), gave_up > 0, "{cell}");
        }
    }
}

#[test]
fn the_committed_matrix_is_what_the_binary_prints() {
    assert_eq!(
        matrix(&["--format", "markdown"]),
        include_str!("../scenarios/MATRIX.md"),
        "regenerate: cargo run --release -p headroom-sim -- matrix --format markdown > sim/scenarios/MATRIX.md"
    );
}

#[test]
fn markdown_and_table_list_every_cell() {
    let markdown = matrix(&[
        "--format",
        "markdown",
        "--strategy",
        "headroom",
        "--strategy",
        "static",
    ]);
    assert!(markdown.contains("| scenario | strategy | done | gave up | 429s | 429/100 | makespan s | × bound | mean wait s | p99 wait s |"));
    assert_eq!(
        markdown
            .lines()
            .filter(|l| l.starts_with("| ") && l.contains(" | static | "))
            .count(),
        SCENARIOS.len()
    );
    let table = matrix(&[]);
    for scenario in SCENARIOS {
        assert!(table.lines().any(|l| l.starts_with(scenario)), "{scenario}");
    }
}

#[test]
fn world_changes_the_numbers() {
    let json: Value = serde_json::from_str(&matrix(&[
        "--format",
        "json",
        "--strategy",
        "sdk-semaphore",
    ]))
    .unwrap();
    let cell = |name: &str| {
        json["scenarios"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["scenario"] == name)
            .unwrap()["cells"][0]
            .clone()
    };
    // The shared key leaves less: more 429s for the same client than alone.
    assert!(
        cell("shared-key")["rate_limited"].as_u64()
            > cell("solo-tier1-batch")["rate_limited"].as_u64()
    );
}

#[test]
fn a_scenario_file_runs_and_bad_ones_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("mine.json");
    std::fs::write(
        &good,
        r#"{"trace": "openai-tpm.jsonl", "world": {"gateways": 2, "stale_headers": true}}"#,
    )
    .unwrap();
    let text = matrix(&[
        "--scenario",
        good.to_str().unwrap(),
        "--strategy",
        "headroom",
    ]);
    assert!(text.contains("mine"), "{text}");
    for (body, message) in [
        (
            r#"{"trace": "openai-tpm.jsonl", "world": {"gateway": 2}}"#,
            "bad.json:1:41: world: unknown key \"gateway\" (known: gateways, assign, ",
        ),
        (
            r#"{"trace": "openai-tpm.jsonl", "world": {"foreign_load": "1.5"}}"#,
            "bad.json:1:57: world.foreign_load: a fraction is from 0 to 1",
        ),
        (
            r#"{"trace": "openai-tpm.jsonl", "world": {"estimate_noise": -5}}"#,
            "bad.json:1:59: world.estimate_noise: -5 is too small (a whole number from 0 to 100)\n",
        ),
        (
            r#"{"trace": "openai-tpm.jsonl", "world": {"gateways": 4, "gateways": 8}}"#,
            "bad.json:1:65: duplicate key `gateways` in a world object\n",
        ),
        (
            r#"{"trace": "openai-tpm.jsonl", "world": {"limits_change_at": "120:rpm=5,rpm=6"}}"#,
            "bad.json:1:61: world.limits_change_at: rpm is given twice",
        ),
        // A scenario written over several lines: the line of the key or value at fault.
        (
            "{\n  \"trace\": \"openai-tpm.jsonl\",\n  \"world\": {\n    \"gateways\": 2,\n    \"estimate_noise\": -5\n  }\n}\n",
            "bad.json:5:23: world.estimate_noise: -5 is too small (a whole number from 0 to 100)\n",
        ),
        (
            "{\"trace\": \"openai-tpm.jsonl\",\n \"world\": {\"gateways\": 2,\n           \"bogus\": 1}}",
            "bad.json:3:12: world: unknown key \"bogus\" (known: gateways, ",
        ),
        (
            "{\"trace\": \"openai-tpm.jsonl\",\n \"world\": {\"stale_headers\": true,\n  \"stale-headers\": true}}",
            "bad.json:3:3: world: \"stale-headers\" and \"stale_headers\" are the same key\n",
        ),
        (
            r#"["openai-tpm.jsonl", "x", {}]"#,
            "bad.json:1:1: invalid type: sequence, expected a scenario object",
        ),
        (
            r#"{"trace": "openai-tpm.jsonl", "extra": 1}"#,
            "bad.json:1:37: unknown field `extra`, expected one of `trace`, `about`, `world`\n",
        ),
        ("{\"trace\": ", "bad.json:1:"),
    ] {
        let bad = dir.path().join("bad.json");
        std::fs::write(&bad, body).unwrap();
        headroom()
            .args(["matrix", "--scenario", bad.to_str().unwrap()])
            .assert()
            .code(2)
            .stderr(predicate::str::contains(message));
    }
    for args in [
        &["matrix", "--format", "xml"][..],
        &["matrix", "--strategy", "nope"],
        &["matrix", "--seed", "x"],
        &["matrix", "--scenario", "/nonexistent/s.json"],
    ] {
        headroom()
            .args(args)
            .assert()
            .code(2)
            .stderr(predicate::str::is_empty().not());
    }
}

/// The issue's targets where headroom meets them, asserted on the committed seed (each would
/// fail on the engine before estimate calibration, fleet slots and budget-free paced retries).
/// Where it does not meet them (a skewed fleet's makespan, a foreign Poisson stream on a
/// one-request bucket), the README says so; those rows are not asserted here.
#[test]
fn headroom_meets_the_targets_it_claims() {
    let json: Value = serde_json::from_str(&matrix(&[
        "--format",
        "json",
        "--strategy",
        "headroom",
        "--strategy",
        "headroom-fleet",
        "--strategy",
        "static",
        "--strategy",
        "static-split",
    ]))
    .unwrap();
    let cell = |scenario: &str, strategy: &str| -> Value {
        json["scenarios"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["scenario"] == scenario)
            .unwrap()["cells"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["strategy"] == strategy)
            .unwrap()
            .clone()
    };
    let per_100 = |c: &Value| c["rate_limited_per_100"].as_f64().unwrap();
    let gave_up = |c: &Value| c["gave_up"].as_u64().unwrap();
    let makespan = |c: &Value| c["makespan_s"].as_f64().unwrap();

    // Solo: 0 429s, never more than 2 % slower than the static limiter.
    for scenario in [
        "solo-tier1-batch",
        "solo-openai-tpm",
        "solo-multi-lane",
        "solo-prompt-caching",
    ] {
        let (ours, theirs) = (cell(scenario, "headroom"), cell(scenario, "static"));
        assert_eq!(ours["rate_limited"], 0, "{scenario}");
        assert!(makespan(&ours) <= makespan(&theirs) * 1.02, "{scenario}");
    }
    // Estimates off: at most 1 429 per 100 requests, nothing given up; static does worse.
    for scenario in ["noisy-estimates", "low-estimates"] {
        let (ours, theirs) = (cell(scenario, "headroom"), cell(scenario, "static"));
        assert!(
            per_100(&ours) <= 1.0 && gave_up(&ours) == 0,
            "{scenario}: {ours}"
        );
        assert!(
            per_100(&theirs) > per_100(&ours) && gave_up(&theirs) > 0,
            "{scenario}"
        );
    }
    // A fleet that knows its members, spread evenly: nothing given up, within 1.15 × the
    // bound, and far fewer 429s than static split at limit ÷ N (which knows N too).
    for scenario in ["fleet-4-round-robin", "fleet-16-round-robin"] {
        let (ours, split) = (
            cell(scenario, "headroom-fleet"),
            cell(scenario, "static-split"),
        );
        assert_eq!(gave_up(&ours), 0, "{scenario}");
        assert!(
            ours["x_bound"].as_f64().unwrap() <= 1.15,
            "{scenario}: {ours}"
        );
        assert!(per_100(&ours) * 4.0 < per_100(&split), "{scenario}");
    }
    assert_eq!(
        cell("fleet-4-round-robin", "headroom-fleet")["rate_limited"],
        0
    );
    // Every fleet and the shared key: fewer 429s and fewer given up than static at the
    // published limits.
    for scenario in [
        "fleet-4-round-robin",
        "fleet-4-skewed",
        "fleet-16-round-robin",
        "fleet-16-skewed",
        "shared-key",
    ] {
        let (ours, theirs) = (cell(scenario, "headroom"), cell(scenario, "static"));
        assert!(per_100(&ours) < per_100(&theirs), "{scenario}");
        assert!(gave_up(&ours) < gave_up(&theirs), "{scenario}");
    }
    // A 429 with headers is retried through the pacing, not against the retry budget: with
    // another service spending 40 % of the key, at most 2 % of the requests are given up.
    assert!(gave_up(&cell("shared-key", "headroom")) <= 6);
}

#[test]
fn a_scenario_without_limits_says_where_they_come_from() {
    let dir = tempfile::tempdir().unwrap();
    let trace = support::write(
        dir.path(),
        "bare.jsonl",
        support::request_line("0", "r1", 10) + "\n",
    );
    let scenario = support::write(
        dir.path(),
        "bare.json",
        serde_json::json!({"trace": trace.to_str().unwrap()}).to_string(),
    );
    headroom()
        .args(["matrix", "--scenario", scenario.to_str().unwrap()])
        .assert()
        .code(2)
        .stderr(
            predicate::str::contains("bare.jsonl: no rate limits")
                .and(predicate::str::contains("takes its limits from its trace"))
                .and(predicate::str::contains("give --rpm").not()),
        );
}

/// A scenario's relative trace is looked for beside the scenario file first, whatever the
/// working directory; a trace that cannot be read is reported with the scenario naming it.
#[test]
fn a_scenario_finds_its_trace_beside_it() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("sc");
    std::fs::create_dir(&folder).unwrap();
    let bundled = [env!("CARGO_MANIFEST_DIR"), "traces", "openai-tpm.jsonl"]
        .iter()
        .collect::<std::path::PathBuf>();
    std::fs::copy(bundled, folder.join("mine.jsonl")).unwrap();
    support::write(&folder, "beside.json", r#"{"trace": "mine.jsonl"}"#);
    support::write(&folder, "missing.json", r#"{"trace": "gone.jsonl"}"#);
    // Run from the temporary directory: `mine.jsonl` is not in the working directory.
    let output = headroom()
        .current_dir(dir.path())
        .args([
            "matrix",
            "--scenario",
            "sc/beside.json",
            "--strategy",
            "static",
        ])
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(text.contains("sc/mine.jsonl"), "{text}");
    headroom()
        .current_dir(dir.path())
        .args(["matrix", "--scenario", "sc/missing.json"])
        .assert()
        .code(2)
        .stderr(predicate::str::starts_with(
            "headroom: scenario sc/missing.json: gone.jsonl: cannot read: ",
        ));
    // A bundled trace's name still works from anywhere.
    support::write(
        &folder,
        "bundled.json",
        r#"{"trace": "openai-tpm.jsonl", "world": {"gateways": 2}}"#,
    );
    headroom()
        .current_dir(dir.path())
        .args([
            "matrix",
            "--scenario",
            "sc/bundled.json",
            "--strategy",
            "static",
        ])
        .assert()
        .success();
}
