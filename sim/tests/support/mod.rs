//! What the CLI test files share: the binary, the fixtures, the bundled trace names, and a
//! scratch folder for inputs written on the fly. Each test binary includes it with
//! `mod support;` and uses its own part.
#![allow(dead_code, reason = "each test binary uses its own subset")]

use std::path::{Path, PathBuf};

use assert_cmd::Command;

/// The traces bundled in the binary, by file name.
pub const BUNDLED: [&str; 4] = [
    "anthropic-tier1-batch.jsonl",
    "openai-tpm.jsonl",
    "multi-lane.jsonl",
    "prompt-caching.jsonl",
];

/// Every strategy, in report order.
pub const STRATEGIES: [&str; 10] = [
    "headroom",
    "headroom-fleet",
    "static",
    "static-split",
    "sdk-semaphore",
    "sdk",
    "guide-backoff",
    "guide-queue",
    "cookbook",
    "rpm-only",
];

/// What `simulate` runs by default for one client: every strategy but `headroom-fleet`.
pub fn solo_strategies() -> Vec<&'static str> {
    STRATEGIES
        .into_iter()
        .filter(|&name| name != "headroom-fleet")
        .collect()
}

/// The `headroom` binary, run from the temporary folder: nothing may depend on the working
/// directory (bundled traces are found by name, fixtures by absolute path).
pub fn headroom() -> Command {
    let mut command = Command::cargo_bin("headroom").unwrap();
    command.current_dir(std::env::temp_dir());
    command
}

/// The absolute path of `sim/tests/fixtures/NAME`, as a string for command lines.
pub fn fixture(name: &str) -> String {
    let path: PathBuf = [env!("CARGO_MANIFEST_DIR"), "tests", "fixtures", name]
        .iter()
        .collect();
    path.to_str().unwrap().to_owned()
}

/// Writes `text` to `dir/name` and returns the path.
pub fn write(dir: &Path, name: &str, text: impl AsRef<[u8]>) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// A request line of trace v1 at `t` (a JSON literal: seconds, or a quoted RFC 3339 string).
pub fn request_line(t: &str, id: &str, input_tokens: u64) -> String {
    format!(
        r#"{{"t": {t}, "type": "request", "id": "{id}", "input_tokens": {input_tokens}, "max_tokens": 100}}"#
    )
}
