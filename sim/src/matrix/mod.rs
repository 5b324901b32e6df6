//! `headroom matrix`: every scenario × every strategy, in one table.
//!
//! One trace in an ideal world shows little: a careful static limiter ties headroom there. The
//! matrix replays each bundled scenario ([`Scenario`]: a trace and the imperfections of its
//! world) through each strategy and reports, per cell, what a user feels: requests completed
//! and given up, 429s (and per 100 requests), the makespan against the physical bound of the
//! capacity actually left to the clients, and the mean and p99 wait (arrival → completion).
//! Output as an aligned table, JSON (`--format json`) or Markdown (`--format markdown`, the
//! README's comparison). Same seed, same bytes.

mod render;
mod scenario;

pub use scenario::{BUNDLED, Scenario, bundled, parse_scenario, resolve_trace};

use std::io::Write as _;

use serde::Serialize;

use crate::cli::CliError;
use crate::engine::{Recording, RunOutcome, run};
use crate::metrics::lower_bound_us;
use crate::simulate::{SimulateArgs, load_with};
use crate::strategy::StrategyName;

/// What to do about a scenario whose trace yields no limits: the matrix has no limit flags, and
/// a `world` cannot set limits (`limits_change_at` only changes those the trace has).
const NO_LIMITS: &str = "a scenario takes its limits from its trace alone (matrix has no limit \
     flags, and world.limits_change_at only changes limits the trace has): use a trace whose \
     responses carry rate-limit headers, or simulate the trace with --rpm, --itpm, --otpm or --tpm";

/// Output format of the matrix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum MatrixFormat {
    /// An aligned table for people.
    #[default]
    Table,
    /// One JSON object.
    Json,
    /// A Markdown table (the README's comparison).
    Markdown,
}

/// The arguments of `matrix`.
#[derive(Debug, Clone, clap::Args)]
pub struct MatrixArgs {
    /// Scenario files to run instead of the bundled ones (repeatable).
    #[arg(long = "scenario", value_name = "FILE.json")]
    pub scenarios: Vec<String>,
    /// Strategies to run (repeatable; default: all).
    #[arg(long = "strategy", value_enum)]
    pub strategies: Vec<StrategyName>,
    /// Seed of every random draw.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Output format.
    #[arg(long, value_enum, default_value_t = MatrixFormat::Table)]
    pub format: MatrixFormat,
}

/// One strategy in one scenario.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Cell {
    /// The strategy.
    pub strategy: &'static str,
    /// Requests that succeeded.
    pub completed: u64,
    /// Requests abandoned.
    pub gave_up: u64,
    /// 429s received.
    pub rate_limited: u64,
    /// 429s per 100 requests.
    pub rate_limited_per_100: f64,
    /// First arrival → last completion, s.
    pub makespan_s: f64,
    /// Makespan ÷ the scenario's bound; `null` without a bound, and for a run that gave
    /// requests up (it finished less work, so its makespan is no measure against the bound).
    pub x_bound: Option<f64>,
    /// Mean arrival → completion of the completed requests, s.
    pub wait_mean_s: f64,
    /// 99th percentile of the same, s.
    pub wait_p99_s: f64,
}

/// One scenario's row of cells.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScenarioRow {
    /// Its name.
    pub scenario: String,
    /// What it shows.
    pub about: String,
    /// The trace.
    pub trace: String,
    /// The world, as `simulate` flags.
    pub world: String,
    /// Requests in the workload.
    pub requests: u64,
    /// The physical lower bound of the capacity left to the clients, s; `null` when a request
    /// can never be admitted (see [`crate::metrics::NeverFits`]).
    pub bound_s: Option<f64>,
    /// One cell per strategy.
    pub cells: Vec<Cell>,
}

/// The whole matrix.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Matrix {
    /// The seed.
    pub seed: u64,
    /// One row per scenario.
    pub scenarios: Vec<ScenarioRow>,
}

#[expect(clippy::float_arithmetic, reason = "report output only")]
fn ratio(numerator: u64, denominator: u64) -> f64 {
    if denominator == 0 {
        return 0.0;
    }
    (numerator as f64 / denominator as f64 * 1000.0).round() / 1000.0
}

fn cell(name: StrategyName, outcome: &RunOutcome, bound_us: Option<u64>) -> Cell {
    let waits = &outcome.latency;
    Cell {
        strategy: name.name(),
        completed: outcome.completed,
        gave_up: outcome.gave_up,
        rate_limited: outcome.rate_limited,
        rate_limited_per_100: ratio(outcome.rate_limited * 100, outcome.requests),
        makespan_s: ratio(outcome.makespan_us, 1_000_000),
        x_bound: bound_us
            .filter(|_| outcome.gave_up == 0)
            .map(|bound_us| ratio(outcome.makespan_us, bound_us)),
        wait_mean_s: ratio(waits.mean_us, 1_000_000),
        wait_p99_s: ratio(waits.p99_us, 1_000_000),
    }
}

/// Runs `scenario` through `names`.
///
/// # Errors
///
/// [`CliError::Input`] when its trace cannot be loaded.
pub fn run_scenario(
    scenario: &Scenario,
    names: &[StrategyName],
    seed: u64,
) -> Result<ScenarioRow, CliError> {
    let mut args = SimulateArgs::new(&scenario.trace);
    args.seed = seed;
    args.world = scenario.world.clone();
    let (mut workload, _) = load_with(&args, NO_LIMITS).map_err(|error| match error {
        CliError::Input(why) => CliError::Input(format!("scenario {}: {why}", scenario.file)),
        other => other,
    })?;
    let config = args.upstream_config(&workload);
    config
        .check_foreign_span(&workload)
        .map_err(|why| CliError::Input(format!("scenario {}: {why}", scenario.file)))?;
    scenario.world.apply_estimates(&mut workload, &config, seed);
    let bound_us = lower_bound_us(&workload, &config).ok().map(|(us, _)| us);
    let cells = names
        .iter()
        .map(|&name| {
            let mut strategy = scenario.world.clients(name, &workload, &config, seed);
            let outcome = run(
                &workload,
                config.clone(),
                strategy.as_mut(),
                seed,
                Recording::default(),
                &mut |_| {},
            );
            cell(name, &outcome, bound_us)
        })
        .collect();
    Ok(ScenarioRow {
        scenario: scenario.name.clone(),
        about: scenario.about.clone(),
        trace: scenario.trace.clone(),
        world: scenario.world.describe(),
        requests: workload.requests.len() as u64,
        bound_s: bound_us.map(|us| ratio(us, 1_000_000)),
        cells,
    })
}

/// The matrix `args` ask for.
///
/// # Errors
///
/// [`CliError::Input`] when a scenario file or trace cannot be read.
pub fn compute(args: &MatrixArgs) -> Result<Matrix, CliError> {
    let scenarios = if args.scenarios.is_empty() {
        bundled()?
    } else {
        args.scenarios
            .iter()
            .map(|path| {
                let text = std::fs::read_to_string(path)
                    .map_err(|error| CliError::Input(format!("{path}: {error}")))?;
                let name = std::path::Path::new(path)
                    .file_stem()
                    .map_or_else(|| path.clone(), |s| s.to_string_lossy().into_owned());
                let mut scenario = parse_scenario(&name, &text, path)?;
                scenario.trace = resolve_trace(path, &scenario.trace);
                Ok(scenario)
            })
            .collect::<Result<_, CliError>>()?
    };
    let names: Vec<StrategyName> = if args.strategies.is_empty() {
        StrategyName::ALL.to_vec()
    } else {
        args.strategies.clone()
    };
    let rows = scenarios
        .iter()
        .map(|scenario| run_scenario(scenario, &names, args.seed))
        .collect::<Result<_, _>>()?;
    Ok(Matrix {
        seed: args.seed,
        scenarios: rows,
    })
}

/// `headroom matrix …`: prints the matrix to standard output.
///
/// # Errors
///
/// [`CliError`] on bad input or when standard output cannot be written.
pub fn run_cli(args: &MatrixArgs) -> Result<(), CliError> {
    let matrix = compute(args)?;
    let text = match args.format {
        MatrixFormat::Table => matrix.to_table(),
        MatrixFormat::Json => matrix.to_json() + "\n",
        MatrixFormat::Markdown => matrix.to_markdown(),
    };
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(text.as_bytes())?;
    stdout.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_bundled_scenario_parses_and_names_a_bundled_trace() {
        let scenarios = bundled().unwrap();
        assert_eq!(scenarios.len(), BUNDLED.len());
        for scenario in scenarios {
            assert!(
                crate::simulate::BUNDLED
                    .iter()
                    .any(|(file, _)| *file == scenario.trace),
                "{}",
                scenario.name
            );
            assert!(!scenario.about.is_empty(), "{}", scenario.name);
        }
    }

    #[test]
    fn world_keys_are_the_flags() {
        let text = r#"{"trace": "t", "world": {"limits_change_at": ["60:rpm=100", "90:itpm=5"], "estimate_bias": -20, "bare_429": "0.1"}}"#;
        let scenario = parse_scenario("s", text, "s.json").unwrap();
        assert_eq!(scenario.world.limits_change_at.len(), 2);
        assert_eq!(scenario.world.estimate_bias, Some(-20));
        assert_eq!(scenario.world.bare_429, Some(100));
        let error = parse_scenario("s", r#"{"trace": "t", "world": {"gateways": 0}}"#, "s.json")
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with("s.json:1:38: world.gateways: "),
            "{error}"
        );
        let error = parse_scenario("s", "{\"trace\": 1}", "s.json")
            .unwrap_err()
            .to_string();
        assert_eq!(
            error,
            "s.json:1:11: invalid type: integer `1`, expected a string"
        );
    }

    #[test]
    fn a_scenario_is_an_object_and_says_where_it_is_wrong_once() {
        let error = |text: &str| parse_scenario("s", text, "s.json").unwrap_err().to_string();
        // serde reads a struct from an array of its fields: that was a scenario.
        assert_eq!(
            error(r#"["anthropic-tier1-batch.jsonl", "x", {}]"#),
            "s.json:1:1: invalid type: sequence, expected a scenario object \
             {\"trace\": …, \"about\": …, \"world\": {…}}"
        );
        assert!(error("5").contains("expected a scenario object"));
        assert_eq!(
            error(r#"{"trace": "t", "unk": 1}"#),
            "s.json:1:20: unknown field `unk`, expected one of `trace`, `about`, `world`"
        );
        assert_eq!(
            error(r#"{"about": "x"}"#),
            "s.json:1:14: missing field `trace`"
        );
        assert_eq!(
            error(r#"{"trace": "t", "world": {"gateways": 4, "gateways": 8}}"#),
            "s.json:1:50: duplicate key `gateways` in a world object"
        );
        for text in [
            "[]",
            "{",
            r#"{"trace": "t", "world": []}"#,
            "{\"trace\": 1}",
        ] {
            let message = error(text);
            assert!(!message.contains(" at line "), "{message}");
            assert!(!message.contains("RawScenario"), "{message}");
        }
    }

    #[test]
    fn a_trace_beside_the_scenario_comes_first() {
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().join("sc");
        std::fs::create_dir(&folder).unwrap();
        std::fs::write(folder.join("mine.jsonl"), "").unwrap();
        let scenario = folder.join("s.json");
        let scenario = scenario.to_str().unwrap();
        let beside = folder.join("mine.jsonl");
        assert_eq!(
            resolve_trace(scenario, "mine.jsonl"),
            beside.to_str().unwrap()
        );
        // Nothing of that name beside it: as written (the working directory, then bundled).
        assert_eq!(resolve_trace(scenario, "other.jsonl"), "other.jsonl");
        assert_eq!(resolve_trace("s.json", "mine.jsonl"), "mine.jsonl");
        let absolute = beside.to_str().unwrap();
        assert_eq!(resolve_trace("elsewhere/s.json", absolute), absolute);
    }
}
