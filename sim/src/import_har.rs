//! `headroom import-har FILE.har -o OUT.jsonl`: HAR 1.2 → trace v1.

use crate::cli::CliError;

/// Runs `import-har`.
///
/// # Errors
///
/// Not implemented yet.
pub fn run(input: &str, output: &str) -> Result<(), CliError> {
    Err(CliError::Input(format!("{input} → {output}: import-har is not implemented yet")))
}
