#!/usr/bin/env bash
# The core's unit tests under miri (undefined behaviour, overflow in const contexts, leaks).
#
#   bash fuzz/miri.sh
#
# Prints a loud SKIPPED line and exits 0 when nightly or the miri component cannot be had.
# Unit tests only (`--lib`): the integration tests in core/tests are property tests that would
# take far too long under the interpreter.
set -euo pipefail
cd "$(dirname "$0")/.."
exec </dev/null

skipped() {
  printf '\n*** SKIPPED: %s ***\n\n' "$*"
  exit 0
}

cargo +nightly --version >/dev/null 2>&1 || skipped "miri: no nightly toolchain (cargo +nightly --version failed)"
rustup component add miri rust-src --toolchain nightly >/dev/null 2>&1 ||
  skipped "miri: rustup component add miri rust-src --toolchain nightly failed"
cargo +nightly miri --version || skipped "miri: cargo +nightly miri is not usable"
cargo +nightly miri setup >/dev/null 2>&1 || skipped "miri: cargo +nightly miri setup failed"

# proptest asks for the working directory (failure persistence) and the environment: miri's
# isolation refuses both, so it is lifted, persistence is turned off, and the cases are few
# (miri runs each one a thousand times slower than native).
export PROPTEST_CASES=${PROPTEST_CASES:-4}
export PROPTEST_DISABLE_FAILURE_PERSISTENCE=1
export MIRIFLAGS="${MIRIFLAGS:-} -Zmiri-disable-isolation"
# Two exhaustive tests are left out, each more than 6 minutes under miri: the near-miss sweep of
# every known header name (about 10⁵ classifications), whose function stays covered here by the
# two proptests beside it; and the word-at-once count reader's sweeps (every single-byte
# substitution in values of 4 to 8 digits, 50 000 formatted numbers), whose function the header
# tests here still read through `parse`. Both run natively in the test suite, and the `headers`
# fuzz target covers both functions.
skip=(
  --skip headers::names::tests::agrees_with_reference_on_known_names_and_near_misses
  --skip headers::values::tests::four_to_eight_digits_is_the_decimal_value
)
start=$(date +%s)
cargo +nightly miri test -p headroom --lib -- "${skip[@]}"
echo "miri: the core's unit tests passed in $(($(date +%s) - start)) s"
