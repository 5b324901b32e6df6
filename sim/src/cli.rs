//! Shared command-line plumbing: the error type every subcommand returns and its exit codes.
//!
//! Exit codes are part of the CLI contract (`trace-format.md` §2): 0 ok, 1 the run found what it
//! was asked to flag, 2 bad input or usage.
//!
//! Outputs are checked against the inputs and each other before anything is written
//! ([`distinct_outputs`]): `import-har x.har -o x.har` would otherwise replace the capture it
//! reads, and `--plot f --schedule-out f` leave only the last one written.
//!
//! The servers (`headroom mock`, `headroom proxy`) stop on SIGINT or SIGTERM the way a gateway
//! under systemd or Kubernetes is expected to (`shutdown_signal`): killed outright, a request
//! in flight would get an empty reply; instead they stop accepting connections, let the
//! requests in flight finish, and exit 0.

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// A failure that ends a subcommand, with the exit code it maps to.
#[derive(Debug)]
pub enum CliError {
    /// Bad input or usage (exit code 2). The message names the file, line and column where
    /// there is one.
    Input(String),
    /// Writing the output failed (exit code 2 as well: nothing whole was produced).
    Io(std::io::Error),
    /// Writing the output file `path` failed (exit code 2): the message names the file.
    Output {
        /// The file, as given on the command line.
        path: PathBuf,
        /// What went wrong.
        error: std::io::Error,
    },
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
            Self::Output { path, error } => {
                write!(f, "{}: cannot write: {error}", path.display())
            }
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

impl CliError {
    /// A failure to write the output file `path`.
    pub fn output(path: impl Into<PathBuf>, error: std::io::Error) -> Self {
        Self::Output {
            path: path.into(),
            error,
        }
    }
}

/// One file a command reads or writes, named by the flag that gives it (`--plot`, `-o`, or
/// the argument's name: `TRACE`).
#[derive(Debug, Clone, Copy)]
pub struct FileArg<'a> {
    /// The flag or argument.
    pub flag: &'a str,
    /// The path as given.
    pub path: &'a Path,
    /// Whether `-` stands for standard input or output here, rather than a file named `-`.
    pub stdio: bool,
}

impl<'a> FileArg<'a> {
    /// `path`, given with `flag`: a file, even when it is named `-`.
    pub fn new(flag: &'a str, path: &'a (impl AsRef<Path> + ?Sized)) -> Self {
        Self {
            flag,
            path: path.as_ref(),
            stdio: false,
        }
    }

    /// `path`, given with `flag`, where `-` means standard input or output.
    pub fn or_stdio(flag: &'a str, path: &'a (impl AsRef<Path> + ?Sized)) -> Self {
        Self {
            stdio: true,
            ..Self::new(flag, path)
        }
    }

    /// Whether this is standard input or output, not a file.
    fn is_stdio(&self) -> bool {
        self.stdio && self.path == Path::new("-")
    }
}

/// Refuses, before anything is written, an output that names the same file as an input or as
/// another output. `-` given where it means standard input or output ([`FileArg::or_stdio`])
/// is never a file here, and neither is an existing file that is not a regular one
/// (`/dev/null` may take every output); elsewhere `-` is a file like any other.
///
/// Two paths name the same file when both exist and are the same file (same device and inode
/// on Unix, the same canonical path elsewhere), or when neither exists yet and they resolve to
/// the same path (the parent folder canonicalized). A path that does not exist yet cannot be
/// an input.
///
/// # Errors
///
/// [`CliError::Input`] naming both flags and paths.
///
/// # Examples
///
/// ```
/// use headroom_sim::cli::{FileArg, distinct_outputs};
///
/// let dir = std::env::temp_dir();
/// let (a, b) = (dir.join("headroom-doc-a.svg"), dir.join("headroom-doc-b.jsonl"));
/// assert!(distinct_outputs(&[], &[FileArg::new("--plot", &a), FileArg::new("--schedule-out", &b)]).is_ok());
/// let error = distinct_outputs(&[], &[FileArg::new("--plot", &a), FileArg::new("--schedule-out", &a)]);
/// assert!(error.unwrap_err().to_string().contains("--plot"));
/// ```
pub fn distinct_outputs(inputs: &[FileArg<'_>], outputs: &[FileArg<'_>]) -> Result<(), CliError> {
    for (index, output) in outputs.iter().enumerate() {
        let read = inputs
            .iter()
            .filter(|input| input.path.exists())
            .map(|input| (input, "input"));
        let written = outputs.iter().take(index).map(|other| (other, "output"));
        if let Some((other, role)) = read
            .chain(written)
            .find(|(other, _)| same_file(other, output))
        {
            return Err(CliError::Input(format!(
                "{} {} is the same file as the {role} {} {}: give another path (nothing was written)",
                output.flag,
                output.path.display(),
                other.flag,
                other.path.display()
            )));
        }
    }
    Ok(())
}

/// Whether `a` and `b` name the same file, as [`distinct_outputs`] defines it.
fn same_file(a: &FileArg<'_>, b: &FileArg<'_>) -> bool {
    if a.is_stdio() || b.is_stdio() {
        return false;
    }
    let (a, b) = (a.path, b.path);
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(first), Ok(second)) => {
            first.is_file() && second.is_file() && same_existing(a, &first, b, &second)
        }
        (Err(_), Err(_)) => resolved(a) == resolved(b),
        _ => false,
    }
}

#[cfg(unix)]
fn same_existing(
    _: &Path,
    first: &std::fs::Metadata,
    _: &Path,
    second: &std::fs::Metadata,
) -> bool {
    use std::os::unix::fs::MetadataExt as _;
    (first.dev(), first.ino()) == (second.dev(), second.ino())
}

#[cfg(not(unix))]
fn same_existing(a: &Path, _: &std::fs::Metadata, b: &Path, _: &std::fs::Metadata) -> bool {
    matches!(
        (std::fs::canonicalize(a), std::fs::canonicalize(b)),
        (Ok(first), Ok(second)) if first == second
    )
}

/// A path that does not exist yet, resolved as far as it can be: its folder canonicalized
/// and its file name joined back (the path as given when the folder cannot be).
fn resolved(path: &Path) -> PathBuf {
    let folder = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    match (std::fs::canonicalize(folder), path.file_name()) {
        (Ok(folder), Some(name)) => folder.join(name),
        _ => path.to_path_buf(),
    }
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

/// SIGINT or SIGTERM, listened for from [`shutdown_signal`]'s call on.
#[derive(Debug)]
struct Signals {
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
}

impl Signals {
    /// Installs the handlers: from here on neither signal ends the process by itself.
    #[cfg(unix)]
    fn install() -> Result<Self, CliError> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Self {
            interrupt: signal(SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
        })
    }

    /// Elsewhere only Ctrl-C is known, listened for from the first [`Signals::next`] on.
    #[cfg(not(unix))]
    fn install() -> Result<Self, CliError> {
        Ok(Self {})
    }

    /// The next signal, by name, and the exit status a shell gives a process it kills
    /// (128 + its number). Never, if the runtime stops delivering signals.
    #[cfg(unix)]
    async fn next(&mut self) -> (&'static str, u8) {
        tokio::select! {
            Some(()) = self.interrupt.recv() => ("SIGINT", 130),
            Some(()) = self.terminate.recv() => ("SIGTERM", 143),
            else => std::future::pending().await,
        }
    }

    #[cfg(not(unix))]
    async fn next(&mut self) -> (&'static str, u8) {
        match tokio::signal::ctrl_c().await {
            Ok(()) => ("Ctrl-C", 130),
            Err(_) => std::future::pending().await,
        }
    }
}

/// The shutdown of `headroom mock` and `headroom proxy`, for axum's
/// `serve(..).with_graceful_shutdown(..)`: the returned future ends at the first SIGINT or
/// SIGTERM (Ctrl-C only on other platforms), after `log` has said so; the server then stops
/// accepting connections and waits for the requests in flight. A second signal while it
/// waits exits at once, with the status a shell gives a process killed by that signal (130
/// or 143), after `log` has said so.
///
/// On Unix the handlers are installed by this call, not when the future is first polled: call
/// it inside the runtime *before* printing the bound address, so that a signal sent by whoever
/// read the address cannot find the process still without them (and die of it). Elsewhere
/// Ctrl-C is listened for from the first poll on.
///
/// # Errors
///
/// [`CliError::Io`] when a handler cannot be installed.
pub(crate) fn shutdown_signal(
    log: fn(&str),
) -> Result<impl Future<Output = ()> + Send + 'static, CliError> {
    let mut signals = Signals::install()?;
    Ok(async move {
        let (first, _) = signals.next().await;
        log(&format!(
            "{first} received: shutting down (no new connections; the requests in flight \
             finish first; a second SIGINT or SIGTERM exits at once)"
        ));
        tokio::spawn(async move {
            let (second, status) = signals.next().await;
            log(&format!(
                "{second} received while shutting down: exiting without waiting for the requests \
                 in flight"
            ));
            std::process::exit(i32::from(status));
        });
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(inputs: &[FileArg<'_>], outputs: &[FileArg<'_>]) -> String {
        match distinct_outputs(inputs, outputs) {
            Err(CliError::Input(message)) => message,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn an_output_may_not_be_an_input_by_any_spelling() {
        let dir = tempfile::tempdir().unwrap();
        let trace = dir.path().join("t.jsonl");
        std::fs::write(&trace, "x").unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        let detour = dir.path().join("sub/../t.jsonl");
        for output in [&trace, &detour] {
            let message = refused(
                &[FileArg::new("TRACE", &trace)],
                &[FileArg::new("--plot", output)],
            );
            assert!(message.starts_with("--plot "), "{message}");
            assert!(message.contains("the input TRACE"), "{message}");
        }
        #[cfg(unix)]
        {
            let link = dir.path().join("link.jsonl");
            std::fs::hard_link(&trace, &link).unwrap();
            refused(
                &[FileArg::new("TRACE", &trace)],
                &[FileArg::new("-o", &link)],
            );
        }
        let other = dir.path().join("other.jsonl");
        assert!(
            distinct_outputs(
                &[FileArg::new("TRACE", &trace)],
                &[FileArg::new("-o", &other)]
            )
            .is_ok()
        );
    }

    #[test]
    fn two_outputs_may_not_share_a_file_even_before_it_exists() {
        let dir = tempfile::tempdir().unwrap();
        let new = dir.path().join("new");
        let detour = dir.path().join(".").join("new");
        let message = refused(
            &[],
            &[
                FileArg::new("--schedule-out", &new),
                FileArg::new("--plot", &detour),
            ],
        );
        assert!(message.contains("the output --schedule-out"), "{message}");
        assert!(!new.exists());
    }

    #[test]
    fn a_missing_input_standard_streams_and_devices_are_no_files() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("bundled.jsonl");
        assert!(
            distinct_outputs(
                &[FileArg::new("TRACE", &missing)],
                &[FileArg::new("--plot", &missing)]
            )
            .is_ok()
        );
        assert!(
            distinct_outputs(
                &[FileArg::or_stdio("FILE", "-")],
                &[FileArg::or_stdio("-o", "-")]
            )
            .is_ok()
        );
        // Where `-` is a file's name, two outputs of that name are one file.
        let message = refused(
            &[],
            &[
                FileArg::new("--plot", "-"),
                FileArg::new("--schedule-out", "-"),
            ],
        );
        assert!(message.contains("--schedule-out -"), "{message}");
        #[cfg(unix)]
        assert!(
            distinct_outputs(
                &[],
                &[
                    FileArg::new("--plot", "/dev/null"),
                    FileArg::new("--schedule-out", "/dev/null")
                ]
            )
            .is_ok()
        );
    }

    #[test]
    fn an_output_error_names_the_file() {
        let error = CliError::output("/dev/full", std::io::Error::other("disk full"));
        assert_eq!(error.to_string(), "/dev/full: cannot write: disk full");
    }
}
