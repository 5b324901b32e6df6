//! Shared command-line plumbing: the error type every subcommand returns and its exit codes.
//!
//! Exit codes are part of the CLI contract (`trace-format.md` §2): 0 ok, 1 the run found what it
//! was asked to flag, 2 bad input or usage.

use std::fmt;
use std::process::ExitCode;

/// A failure that ends a subcommand, with the exit code it maps to.
#[derive(Debug)]
pub enum CliError {
    /// Bad input or usage (exit code 2). The message names the file, line and column where
    /// there is one.
    Input(String),
    /// Writing the output failed (exit code 2 as well: nothing whole was produced).
    Io(std::io::Error),
}

impl CliError {
    /// The process exit code for this error.
    pub fn exit_code(&self) -> ExitCode {
        ExitCode::from(2)
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Input(message) => f.write_str(message),
            Self::Io(error) => write!(f, "i/o error: {error}"),
        }
    }
}

impl std::error::Error for CliError {}

/// Writes `text` to standard output and flushes it, as every subcommand ends.
///
/// # Errors
///
/// [`CliError::Io`] when standard output cannot be written.
///
/// # Examples
///
/// ```
/// headroom_sim::cli::print("").unwrap();
/// ```
pub fn print(text: &str) -> Result<(), CliError> {
    use std::io::Write as _;
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(text.as_bytes())?;
    stdout.flush()?;
    Ok(())
}

impl From<std::io::Error> for CliError {
    fn from(error: std::io::Error) -> Self {
        Self::Io(error)
    }
}

/// Binds a server's `--listen` address and prints the bound address as standard output's
/// first line (port 0 picks a free port; scripts and tests read it there), for `headroom mock`
/// and `headroom proxy`.
///
/// # Errors
///
/// [`CliError::Input`] when the address cannot be bound, [`CliError::Io`] when standard
/// output cannot be written.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let listener = headroom_sim::cli::listen("127.0.0.1:0").await.unwrap();
/// assert_ne!(listener.local_addr().unwrap().port(), 0);
/// # }
/// ```
pub async fn listen(address: &str) -> Result<tokio::net::TcpListener, CliError> {
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .map_err(|error| CliError::Input(format!("--listen {address}: {error}")))?;
    print(&format!("{}\n", listener.local_addr()?))?;
    Ok(listener)
}
