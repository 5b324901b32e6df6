//! `headroom simulate TRACE`: every strategy over the trace's workload against the simulated
//! provider, compared in one table (or JSON, `docs/trace-format.md` §2).
//!
//! `TRACE` is a path; when no such file exists and it names a bundled trace (for example
//! `anthropic-tier1-batch.jsonl`), the bundled copy compiled into the binary is used, so the
//! samples work from any directory. `headroom` with no arguments simulates
//! [`DEFAULT_TRACE`] and prints the table.

use std::io::{BufRead, IsTerminal, Write as _};
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};

use headroom::LimitKind;
use indicatif::{ProgressBar, ProgressStyle};
use rayon::iter::{IntoParallelRefIterator as _, ParallelIterator as _};
use serde::Serialize;

use crate::cli::{CliError, FileArg, distinct_outputs};
use crate::engine::{Recording, RunOutcome, run};
use crate::metrics::lower_bound_us;
use crate::report::Report;
use crate::strategy::StrategyName;
use crate::trace::{Records, TraceError, TraceErrorKind, consume_threaded};
use crate::upstream::{Overload, UpstreamConfig};
use crate::workload::{MAX_LIMIT, Workload, WorkloadBuilder, parse_limit};
use crate::world::{World, WorldPlace, parse_seconds};

/// The trace `headroom` simulates when run without arguments.
pub const DEFAULT_TRACE: &str = "anthropic-tier1-batch.jsonl";

/// The bundled traces, by file name, as compiled into the binary.
pub const BUNDLED: [(&str, &str); 4] = [
    (
        "anthropic-tier1-batch.jsonl",
        include_str!("../traces/anthropic-tier1-batch.jsonl"),
    ),
    (
        "openai-tpm.jsonl",
        include_str!("../traces/openai-tpm.jsonl"),
    ),
    (
        "multi-lane.jsonl",
        include_str!("../traces/multi-lane.jsonl"),
    ),
    (
        "prompt-caching.jsonl",
        include_str!("../traces/prompt-caching.jsonl"),
    ),
];

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Format {
    /// An aligned table for people.
    #[default]
    Table,
    /// One JSON object (the contract).
    Json,
}

/// The arguments of `simulate`.
#[derive(Debug, Clone, clap::Args)]
pub struct SimulateArgs {
    /// The trace (JSONL v1), or the file name of a bundled trace.
    pub trace: String,
    /// Strategies to run (repeatable; default: all of them, `headroom-fleet` only with
    /// `--gateways` above 1).
    #[arg(long = "strategy", value_enum)]
    pub strategies: Vec<StrategyName>,
    /// Seed of every random draw.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Write an SVG plot of each bucket's level and the 429s, one panel per strategy.
    #[arg(long, value_name = "OUT.svg")]
    pub plot: Option<PathBuf>,
    /// Write every attempt that reached the provider, one JSON object a line.
    #[arg(long = "schedule-out", value_name = "OUT.jsonl")]
    pub schedule_out: Option<PathBuf>,
    /// Requests per minute (overrides the trace's headers, every lane), 1 to 4294967295.
    #[arg(long, value_parser = parse_limit)]
    pub rpm: Option<u64>,
    /// Input tokens per minute, 1 to 4294967295.
    #[arg(long, value_parser = parse_limit)]
    pub itpm: Option<u64>,
    /// Output tokens per minute, 1 to 4294967295.
    #[arg(long, value_parser = parse_limit)]
    pub otpm: Option<u64>,
    /// Combined tokens per minute, 1 to 4294967295.
    #[arg(long, value_parser = parse_limit)]
    pub tpm: Option<u64>,
    /// The world the clients run in (shared key, fleet, estimates, provider quirks).
    #[command(flatten)]
    pub world: World,
    /// Hand the clients the response headers as text, rendered and parsed back, instead of the
    /// snapshot the parser would make of them (same numbers, slower; for checking the parser).
    #[arg(long = "wire-headers")]
    pub wire_headers: bool,
    /// Inject provider overload: from START to END seconds, refuse PERMILLE thousandths of the
    /// attempts with 529 (repeatable).
    #[arg(long = "overload", value_name = "START:END:PERMILLE", value_parser = parse_overload)]
    pub overload: Vec<Overload>,
    /// Strategies run at once (default: one per core). Each run keeps its own state of about
    /// 50 bytes a request: fewer jobs, less memory.
    #[arg(long, value_name = "N", value_parser = parse_jobs)]
    pub jobs: Option<NonZeroUsize>,
}

/// `--jobs N`: a whole number of threads, at least 1 (clap's own reading of a `NonZeroUsize`
/// answered 0 with "number would be zero for non-zero type").
fn parse_jobs(text: &str) -> Result<NonZeroUsize, String> {
    text.parse::<usize>()
        .ok()
        .and_then(NonZeroUsize::new)
        .ok_or_else(|| format!("a number of jobs is a whole number from 1 up: {text}"))
}

/// Parses `START:END:PERMILLE` (seconds, seconds, thousandths) into an [`Overload`] window.
///
/// # Errors
///
/// A message when a part is missing or not a number, or the window is empty.
///
/// # Examples
///
/// ```
/// use headroom_sim::simulate::parse_overload;
///
/// let window = parse_overload("60:90.5:500").unwrap();
/// assert_eq!((window.start_us, window.end_us, window.permille), (60_000_000, 90_500_000, 500));
/// assert!(parse_overload("90:60:500").is_err());
/// assert!(parse_overload("0:1:1001").is_err());
/// ```
pub fn parse_overload(text: &str) -> Result<Overload, String> {
    let parts: Vec<&str> = text.split(':').collect();
    let [start, end, permille] = parts.as_slice() else {
        return Err("expected START:END:PERMILLE".to_owned());
    };
    let (start_us, end_us) = (parse_seconds(start)?, parse_seconds(end)?);
    let permille: u16 = permille
        .parse()
        .ok()
        .filter(|p| *p <= 1000)
        .ok_or_else(|| format!("PERMILLE must be 0..=1000: {permille}"))?;
    if end_us <= start_us {
        return Err("END must be after START".to_owned());
    }
    Ok(Overload {
        start_us,
        end_us,
        permille,
    })
}

impl SimulateArgs {
    /// The arguments of a plain `simulate TRACE`.
    pub fn new(trace: &str) -> Self {
        Self {
            trace: trace.to_owned(),
            strategies: Vec::new(),
            seed: 1,
            format: Format::Table,
            plot: None,
            schedule_out: None,
            rpm: None,
            itpm: None,
            otpm: None,
            tpm: None,
            world: World::default(),
            wire_headers: false,
            overload: Vec::new(),
            jobs: None,
        }
    }

    /// How many threads run `runs` strategies: `--jobs`, else one per core, and never more
    /// than there are runs.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::num::NonZeroUsize;
    /// use headroom_sim::simulate::SimulateArgs;
    ///
    /// let mut args = SimulateArgs::new("anthropic-tier1-batch.jsonl");
    /// args.jobs = NonZeroUsize::new(4);
    /// assert_eq!(args.jobs_for(9), 4);
    /// assert_eq!(args.jobs_for(1), 1);
    /// ```
    pub fn jobs_for(&self, runs: usize) -> usize {
        let jobs = self
            .jobs
            .or_else(|| std::thread::available_parallelism().ok())
            .map_or(1, NonZeroUsize::get);
        jobs.min(runs).max(1)
    }

    /// The provider configuration these arguments ask for, for `workload`.
    pub fn upstream_config(&self, workload: &Workload) -> UpstreamConfig {
        UpstreamConfig {
            overload: self.overload.clone(),
            wire_headers: self.wire_headers,
            ..self.world.upstream_config(workload, self.seed)
        }
    }
}

/// Reads the trace `name` (a path, else a bundled trace) into a workload, with the limit
/// overrides of `args` applied, and the world to replay it in: the world flags of `args` when
/// any is given, else the `world` object of the trace's header line (v1.1), else the ideal
/// world.
///
/// # Errors
///
/// [`CliError::Input`] naming the file (and line and column) when it cannot be read, is not a
/// valid trace, has more lanes than [`crate::workload::MAX_LANES`], yields no limits or a limit
/// above [`MAX_LIMIT`], or its header's `world` is not a valid world.
pub fn load(args: &SimulateArgs) -> Result<(Workload, World), CliError> {
    load_with(args, "give --rpm, --itpm, --otpm or --tpm")
}

/// As [`load`]; `no_limits` ends the message for a trace that yields no limits, saying what
/// the caller can do about it (`matrix` has no limit flags).
///
/// # Errors
///
/// As [`load`].
pub fn load_with(args: &SimulateArgs, no_limits: &str) -> Result<(Workload, World), CliError> {
    let name = args.trace.as_str();
    let bundled = BUNDLED
        .iter()
        .find(|(file, _)| *file == name || file.strip_suffix(".jsonl") == Some(name));
    let open = move || match bundled {
        Some((file, text)) if !Path::new(name).exists() => Ok(Records::new(
            Box::new(text.as_bytes()) as Box<dyn BufRead>,
            file,
        )
        .with_size(text.len() as u64)),
        _ => Records::open(name),
    };
    // Streamed into the workload (the trace itself is never held), read on a second thread
    // while this one builds, its tables reserved from the reader's extrapolation.
    let mut builder = WorkloadBuilder::default();
    let finished = consume_threaded(open, &mut builder)?;
    if finished.requests == 0 {
        return Err(TraceError {
            file: name.to_owned(),
            line: 0,
            column: 0,
            kind: TraceErrorKind::NoRequests,
        }
        .into());
    }
    let header = &finished.header;
    let world = match &header.world {
        Some(world) if args.world == World::default() => {
            World::from_map(&world.map, &WorldPlace::trace_header(name, world))?.0
        }
        _ => args.world.clone(),
    };
    let overflow = builder
        .lane_overflow()
        .and_then(|(id, lane)| line_of_request(name, id, lane));
    let mut workload =
        builder
            .finish(header.provider.as_deref())
            .map_err(|why| match overflow {
                Some(line) => CliError::Input(format!("{name}:{line}:1: {why}")),
                None => CliError::Input(format!("{name}: {why}")),
            })?;
    let overrides = [
        (LimitKind::Requests, args.rpm),
        (LimitKind::InputTokens, args.itpm),
        (LimitKind::OutputTokens, args.otpm),
        (LimitKind::Tokens, args.tpm),
    ];
    for lane in &mut workload.lanes {
        for (kind, value) in overrides {
            if let Some(value) = value {
                lane.limits = lane.limits.with(kind, value);
            }
        }
    }
    if workload.lanes.iter().all(|lane| lane.limits.is_empty()) {
        return Err(CliError::Input(format!(
            "{name}: no rate limits in the trace's response headers; {no_limits}"
        )));
    }
    check_limits(name, &workload)?;
    Ok((workload, world))
}

/// The line of the first request `id` in lane `lane` of the trace file `name`, read again (the
/// workload is built on the reader's heels and never sees lines; an error needs one line). `None`
/// for what cannot be read twice (standard input, a bundled trace) or is not found.
fn line_of_request(name: &str, id: &str, lane: &str) -> Option<usize> {
    if name == "-" || !Path::new(name).is_file() {
        return None;
    }
    let mut records = Records::open(name).ok()?;
    while let Some(Ok(event)) = records.next() {
        if let crate::trace::Event::Request(sent) = event
            && sent.id == id
            && sent.lane.as_deref().unwrap_or_default() == lane
        {
            return Some(records.line());
        }
    }
    None
}

/// Refuses a limit the trace's headers report above [`MAX_LIMIT`] (the flags cannot give
/// one): the engine's limits are `u32`, and a larger one would not mean what it says.
fn check_limits(name: &str, workload: &Workload) -> Result<(), CliError> {
    for lane in &workload.lanes {
        for kind in LimitKind::ALL {
            let Some(limit) = lane.limits.get(kind).filter(|limit| *limit > MAX_LIMIT) else {
                continue;
            };
            let lane = if lane.name.is_empty() {
                "the default lane".to_owned()
            } else {
                format!("lane {:?}", lane.name)
            };
            return Err(CliError::Input(format!(
                "{name}: {lane}: the responses' headers report a {} limit of {limit} a minute; \
                 the simulator holds limits from 1 to {MAX_LIMIT} a minute (simulate's --rpm, \
                 --itpm, --otpm and --tpm replace it)",
                kind.name()
            )));
        }
    }
    Ok(())
}

/// Runs the strategies over `workload` and returns the report and each run's outcome.
///
/// The runs are independent (each builds its own clients and provider from the same workload,
/// configuration and seed), so they run at once on up to `args.jobs` threads, and the outcomes
/// come back in the order of the strategies whatever the threads: the report is the same for
/// any number of jobs. `progress(name, more)` is told, from the thread running `name`, that
/// `more` more of its requests finished.
pub fn compare(
    workload: &Workload,
    args: &SimulateArgs,
    progress: &(dyn Fn(StrategyName, u64) + Sync),
) -> Result<(Report, Vec<(StrategyName, RunOutcome)>), CliError> {
    let config = args.upstream_config(workload);
    config
        .check_foreign_span(workload)
        .map_err(|why| CliError::Input(format!("{}: {why}", args.trace)))?;
    let mut noisy = None;
    if args.world.estimate_noise.is_some() || args.world.estimate_bias.is_some() {
        let mut copy = workload.clone();
        args.world.apply_estimates(&mut copy, &config, args.seed);
        noisy = Some(copy);
    }
    let workload = noisy.as_ref().unwrap_or(workload);
    let names: Vec<StrategyName> = if args.strategies.is_empty() {
        StrategyName::by_default(args.world.gateways)
    } else {
        args.strategies.clone()
    };
    let recording = Recording {
        schedule: args.schedule_out.is_some(),
        levels: args.plot.is_some(),
    };
    let mut report = Report::new(&args.trace, args.seed, workload);
    report.world = args.world.describe();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(args.jobs_for(names.len()))
        .thread_name(|index| format!("simulate-{index}"))
        .build()
        .map_err(|why| {
            CliError::Io(std::io::Error::other(format!(
                "cannot start the runs' threads: {why}"
            )))
        })?;
    let one = |name: StrategyName| {
        let mut strategy = args.world.clients(name, workload, &config, args.seed);
        let mut told = 0;
        let outcome = run(
            workload,
            config.clone(),
            strategy.as_mut(),
            args.seed,
            recording,
            &mut |done| {
                progress(name, done.saturating_sub(told));
                told = done;
            },
        );
        (name, outcome)
    };
    // The makespan's lower bound depends on the workload alone: it is worked out on a thread of
    // its own while the strategies run.
    let (outcomes, bound_us) = std::thread::scope(|scope| {
        let bound = scope.spawn(|| lower_bound_us(workload, &config));
        let outcomes: Vec<(StrategyName, RunOutcome)> =
            pool.install(|| names.par_iter().map(|&name| one(name)).collect());
        match bound.join() {
            Ok(bound_us) => (outcomes, bound_us),
            Err(panic) => std::panic::resume_unwind(panic),
        }
    });
    if let Err(why) = &bound_us {
        report.never_fits(why, workload);
    }
    let bound_us = bound_us.ok().map(|(us, _)| us);
    for (name, outcome) in &outcomes {
        report.push(*name, workload, &config, outcome, bound_us);
    }
    Ok((report, outcomes))
}

#[derive(Serialize)]
struct ScheduleLine<'a> {
    strategy: &'static str,
    t: f64,
    id: &'a str,
    attempt: u32,
    input_tokens: u64,
    output_tokens: u64,
    status: u16,
}

#[expect(clippy::float_arithmetic, reason = "output only")]
fn seconds(us: u64) -> f64 {
    us as f64 / 1_000_000.0
}

/// Writes the schedule of `outcomes` to `path`; every failure names the file.
fn write_schedule(
    path: &Path,
    workload: &Workload,
    outcomes: &[(StrategyName, RunOutcome)],
) -> Result<(), CliError> {
    let failed = |error| CliError::output(path, error);
    let file = std::fs::File::create(path).map_err(failed)?;
    let mut out = std::io::BufWriter::new(file);
    for (name, outcome) in outcomes {
        for attempt in &outcome.schedule {
            let line = ScheduleLine {
                strategy: name.name(),
                t: seconds(attempt.t_us),
                id: workload
                    .ids
                    .get(attempt.request as usize)
                    .unwrap_or_default(),
                attempt: attempt.attempt,
                input_tokens: attempt.input_tokens,
                output_tokens: attempt.output_tokens,
                status: attempt.status,
            };
            serde_json::to_writer(&mut out, &line)
                .map_err(std::io::Error::from)
                .map_err(failed)?;
            out.write_all(b"\n").map_err(failed)?;
        }
    }
    // Flushed here, not on drop, so that a full disk is an error and not a short file.
    out.flush().map_err(failed)
}

/// Refuses `--schedule-out` or `--plot` naming the trace read or each other, before the run.
fn check_outputs(args: &SimulateArgs) -> Result<(), CliError> {
    let outputs: Vec<FileArg<'_>> = [
        ("--schedule-out", &args.schedule_out),
        ("--plot", &args.plot),
    ]
    .into_iter()
    .filter_map(|(flag, path)| path.as_ref().map(|path| FileArg::new(flag, path)))
    .collect();
    distinct_outputs(&[FileArg::or_stdio("TRACE", &args.trace)], &outputs)
}

/// `headroom simulate …`: prints the comparison to standard output.
///
/// # Errors
///
/// [`CliError`] on bad input, when an output names the trace or the other output (before the
/// run), or when an output file cannot be written.
pub fn run_cli(args: &SimulateArgs) -> Result<(), CliError> {
    check_outputs(args)?;
    let (workload, world) = load(args)?;
    let args = &SimulateArgs {
        world,
        ..args.clone()
    };
    let runs = if args.strategies.is_empty() {
        StrategyName::by_default(args.world.gateways).len()
    } else {
        args.strategies.len()
    };
    let bar = (args.format == Format::Table && std::io::stderr().is_terminal()).then(|| {
        let total = (workload.requests.len() * runs) as u64;
        let bar = ProgressBar::new(total);
        if let Ok(style) = ProgressStyle::with_template("{msg:>14} [{bar:40}] {pos}/{len}") {
            bar.set_style(style.progress_chars("=> "));
        }
        bar
    });
    // Runs at once share one bar, named for all of them; one at a time, for the one running.
    let jobs = args.jobs_for(runs);
    if let Some(bar) = bar.as_ref().filter(|_| jobs > 1) {
        bar.set_message(format!("{runs} strategies"));
    }
    let (report, outcomes) = compare(&workload, args, &|name, more| {
        if let Some(bar) = &bar {
            if jobs == 1 {
                bar.set_message(name.name());
            }
            bar.inc(more);
        }
    })?;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    if let Some(path) = &args.schedule_out {
        write_schedule(path, &workload, &outcomes)?;
    }
    if let Some(path) = &args.plot {
        crate::plot::write_svg(path, &workload, &outcomes)
            .map_err(|why| CliError::Input(format!("{}: {why}", path.display())))?;
    }
    let text = match args.format {
        Format::Table => report.to_table(),
        Format::Json => report.to_json() + "\n",
    };
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(text.as_bytes())?;
    stdout.flush()?;
    Ok(())
}

/// `headroom` with no arguments: the bundled default trace, every strategy, as a table.
///
/// # Errors
///
/// [`CliError::Io`] when standard output cannot be written.
pub fn run_default() -> Result<(), CliError> {
    run_cli(&SimulateArgs::new(DEFAULT_TRACE))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace;

    #[test]
    fn every_bundled_trace_loads_with_limits() {
        for (name, _) in BUNDLED {
            let (workload, _) = load(&SimulateArgs::new(name)).unwrap();
            assert!(!workload.requests.is_empty(), "{name}");
            assert!(
                workload.lanes.iter().all(|l| !l.limits.is_empty()),
                "{name}"
            );
        }
    }

    #[test]
    fn bundled_traces_match_their_generator() {
        use crate::upstream::to_trace;
        use crate::workload::{bundled_specs, generate};
        for ((name, text), (spec_name, spec, seed)) in BUNDLED.iter().zip(bundled_specs()) {
            assert_eq!(*name, spec_name);
            let note = format!("generated: headroom-sim example gen_traces, seed {seed}");
            let expected = trace::to_jsonl(&to_trace(
                &generate(&spec, seed),
                &UpstreamConfig::default(),
                &note,
            ));
            assert!(
                *text == expected,
                "{name} is stale: cargo run -p headroom-sim --example gen_traces"
            );
        }
    }

    #[test]
    fn overrides_replace_trace_limits() {
        let mut args = SimulateArgs::new("anthropic-tier1-batch");
        args.rpm = Some(1_000);
        let (workload, _) = load(&args).unwrap();
        assert_eq!(
            workload.lanes[0].limits.get(LimitKind::Requests),
            Some(1_000)
        );
    }

    /// Runs on several threads give what one thread gives, in the same order, and every
    /// request of every run is reported done exactly once (the workload is larger than the
    /// engine's progress step, so that progress comes in several parts).
    #[test]
    fn the_report_does_not_depend_on_the_jobs() {
        use std::sync::Mutex;

        use crate::workload::{GenSpec, Lane, generate};

        let mut spec = GenSpec::tier1_batch(9_000);
        spec.lanes = vec![Lane::anthropic("fast", 4_000, 4_000_000, 800_000)];
        let workload = generate(&spec, 3);
        let mut args = SimulateArgs::new("generated");
        // Recorded so that the outcomes compared include every attempt's schedule.
        args.schedule_out = Some(PathBuf::from("unused"));
        args.strategies = vec![
            StrategyName::Headroom,
            StrategyName::Sdk,
            StrategyName::Static,
            StrategyName::GuideQueue,
        ];
        let mut reports = Vec::new();
        for jobs in [1, 2, 3, 9] {
            args.jobs = NonZeroUsize::new(jobs);
            let done = Mutex::new(Vec::new());
            let (report, outcomes) = compare(&workload, &args, &|name, more| {
                done.lock().unwrap().push((name, more));
            })
            .unwrap();
            let names: Vec<StrategyName> = outcomes.iter().map(|(name, _)| *name).collect();
            assert_eq!(names, args.strategies, "{jobs} jobs");
            let done = done.into_inner().unwrap();
            for name in &names {
                let parts = done.iter().filter(|(n, _)| n == name);
                assert!(parts.clone().count() > 2, "{name:?}, {jobs} jobs");
                assert_eq!(
                    parts.map(|(_, more)| more).sum::<u64>(),
                    9_000,
                    "{name:?}, {jobs} jobs"
                );
            }
            reports.push((report.to_json(), outcomes));
        }
        assert!(reports.windows(2).all(|pair| pair[0] == pair[1]));
    }

    #[test]
    fn a_missing_file_is_an_input_error() {
        let error = load(&SimulateArgs::new("/nonexistent/trace.jsonl")).unwrap_err();
        assert!(error.to_string().contains("/nonexistent/trace.jsonl"));
    }
}
