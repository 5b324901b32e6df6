//! `headroom inspect headers FILE|-`: what the core's parser understood, as JSON.

use crate::cli::CliError;

/// Runs `inspect headers` on `path` (`-` for standard input).
///
/// # Errors
///
/// Not implemented yet.
pub fn run_headers(path: &str) -> Result<(), CliError> {
    Err(CliError::Input(format!("{path}: inspect headers is not implemented yet")))
}
