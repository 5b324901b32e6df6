//! The `headroom` command-line tool. Each subcommand lives in a module of `headroom_sim`.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use headroom_sim::{audit, cli::CliError, import_har, inspect, matrix, mock, proxy, simulate};

/// Paces LLM API requests under their rate limits, and shows how.
#[derive(Debug, Parser)]
#[command(name = "headroom", version, about)]
struct Cli {
    /// With no subcommand: simulate the bundled sample trace and print the comparison.
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Replay a trace's workload through every strategy against the simulated provider.
    #[command(after_help = headroom_sim::report::STRATEGY_SOURCES)]
    Simulate(Box<simulate::SimulateArgs>),
    /// Every bundled scenario (a trace and its world) × every strategy, in one table.
    Matrix(matrix::MatrixArgs),
    /// Replay a recorded trace through the engine in shadow mode: its estimates against the
    /// headers, and the recorded 429s it would have prevented (exit code 1 if any it would not).
    Audit(audit::AuditArgs),
    /// Show what the parser understood.
    Inspect {
        #[command(subcommand)]
        what: InspectWhat,
    },
    /// Serve the simulated provider over HTTP on localhost, in real time (prints the bound
    /// address first): point any client at it to try its pacing.
    Mock(mock::MockArgs),
    /// A pacing gateway for any SDK: forwards to `--upstream`, each request waiting for its
    /// lane's permit, retried on 429/529/5xx (prints the bound address first).
    Proxy(Box<proxy::ProxyArgs>),
    /// Convert a HAR 1.2 capture into a v1 trace.
    ImportHar {
        /// The HAR file.
        file: String,
        /// Where to write the JSONL trace.
        #[arg(short = 'o', long = "output")]
        output: String,
    },
}

#[derive(Debug, Subcommand)]
enum InspectWhat {
    /// A raw header block ("Name: value" lines, optional status line), from a file or `-`.
    Headers {
        /// The file, or `-` for standard input.
        file: String,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result: Result<(), CliError> = match cli.command {
        None => simulate::run_default(),
        Some(Command::Simulate(args)) => simulate::run_cli(&args),
        Some(Command::Matrix(args)) => matrix::run_cli(&args),
        Some(Command::Audit(args)) => match audit::run_cli(&args) {
            Ok(code) => return code,
            Err(error) => Err(error),
        },
        Some(Command::Inspect {
            what: InspectWhat::Headers { file },
        }) => inspect::run_headers(&file),
        Some(Command::ImportHar { file, output }) => import_har::run(&file, &output),
        Some(Command::Mock(args)) => mock::run_cli(&args),
        Some(Command::Proxy(args)) => proxy::run_cli(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("headroom: {error}");
            error.exit_code()
        }
    }
}
