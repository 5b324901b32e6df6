//! Starting `headroom mock` (or any `headroom` server subcommand) from a test: on an
//! ephemeral port, stopped when dropped; reading its responses' headers back.
#![allow(dead_code, reason = "each test binary uses its own subset")]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

/// A running `headroom` server, stopped when dropped (also when a test fails).
pub struct Mock(Child);

impl Drop for Mock {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Mock {
    /// The process, for a test that signals it or reads its standard error.
    pub fn child(&mut self) -> &mut Child {
        &mut self.0
    }
}

/// Starts `headroom mock --listen 127.0.0.1:0 --latency-ms {latency_ms}` with `args`; the
/// server and its base URL, read from the first line it prints.
pub fn start(latency_ms: u64, args: &[&str]) -> (Mock, String) {
    let latency = latency_ms.to_string();
    let mut all = vec!["mock", "--listen", "127.0.0.1:0", "--latency-ms", &latency];
    all.extend_from_slice(args);
    spawn(&all)
}

/// Starts `headroom {args}` (a server that prints its bound address first); the server and
/// its base URL. Its log is dropped, unless `HEADROOM_TEST_LOGS` names a directory: it is then
/// written there, one file per server.
pub fn spawn(args: &[&str]) -> (Mock, String) {
    spawn_with(args, log(args))
}

/// As [`spawn`], with the server's standard error piped to the test (`child().stderr`).
pub fn spawn_piped(args: &[&str]) -> (Mock, String) {
    spawn_with(args, Stdio::piped())
}

/// Where a server's log goes: nowhere, or a file in `HEADROOM_TEST_LOGS`.
fn log(args: &[&str]) -> Stdio {
    match std::env::var_os("HEADROOM_TEST_LOGS") {
        Some(dir) => {
            static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
            let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let name = format!("{}-{}-{n}.log", args[0], std::process::id());
            Stdio::from(std::fs::File::create(std::path::Path::new(&dir).join(name)).unwrap())
        }
        None => Stdio::null(),
    }
}

fn spawn_with(args: &[&str], log: Stdio) -> (Mock, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_headroom"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mock = Mock(child);
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    (mock, format!("http://{}", line.trim()))
}

/// A response's header fields as (name, value) text pairs, for `headers::parse`.
pub fn pairs(response: &reqwest::Response) -> Vec<(String, String)> {
    response
        .headers()
        .iter()
        .map(|(name, value)| (name.to_string(), value.to_str().unwrap_or("").to_owned()))
        .collect()
}
