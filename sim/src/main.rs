//! The `headroom` command-line tool. Each subcommand lives in a module of `headroom_sim`.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use headroom_sim::{cli::CliError, import_har, inspect};

/// Paces LLM API requests under their rate limits, and shows how.
#[derive(Debug, Parser)]
#[command(name = "headroom", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Show what the parser understood.
    Inspect {
        #[command(subcommand)]
        what: InspectWhat,
    },
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
        Command::Inspect {
            what: InspectWhat::Headers { file },
        } => inspect::run_headers(&file),
        Command::ImportHar { file, output } => import_har::run(&file, &output),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("headroom: {error}");
            error.exit_code()
        }
    }
}
