//! Helpers shared by the `headroom` binary's integration tests.

use assert_cmd::Command;

/// Every strategy, in report order.
pub const STRATEGIES: [&str; 9] = [
    "headroom",
    "static",
    "static-split",
    "sdk-semaphore",
    "sdk",
    "guide-backoff",
    "guide-queue",
    "cookbook",
    "rpm-only",
];

/// The `headroom` binary, run from the temporary directory: bundled traces and scenarios must
/// not depend on the working directory.
pub fn headroom() -> Command {
    let mut command = Command::cargo_bin("headroom").unwrap();
    command.current_dir(std::env::temp_dir());
    command
}
