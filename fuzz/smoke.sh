#!/usr/bin/env bash
# Fuzz smoke test: build every cargo-fuzz target and run each for FUZZ_SECONDS (default 30).
#
#   bash fuzz/smoke.sh                      # all targets, 30 s each
#   FUZZ_SECONDS=600 bash fuzz/smoke.sh     # the local 10-minute run
#   FUZZ_TARGETS="headers policy" bash fuzz/smoke.sh
#
# Exits non-zero if a target does not build, if an input of fuzz/regressions/<target>/ (every
# crash found so far, replayed for every target whatever FUZZ_TARGETS says) fails again, if a
# folder there names no target, or if a target finds a crash (the input is left in
# fuzz/artifacts/<target>/, reproduce with `cargo +nightly fuzz run <target> <file>`).
# Prints a loud SKIPPED line and exits 0 when the nightly toolchain or cargo-fuzz cannot be had.
# New corpus entries go to a temporary directory; the committed seeds in fuzz/corpus/ are only
# read.
set -euo pipefail
cd "$(dirname "$0")"
exec </dev/null

seconds=${FUZZ_SECONDS:-30}
skipped() {
  printf '\n*** SKIPPED: %s ***\n\n' "$*"
  exit 0
}

if ! cargo +nightly --version >/dev/null 2>&1; then
  if command -v rustup >/dev/null 2>&1; then
    rustup toolchain install nightly --profile minimal >/dev/null 2>&1 || true
  fi
  cargo +nightly --version >/dev/null 2>&1 || skipped "fuzz smoke: no nightly toolchain (cargo +nightly --version failed)"
fi
cargo +nightly --version
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "cargo-fuzz missing: cargo install --locked cargo-fuzz"
  cargo install --locked cargo-fuzz || skipped "fuzz smoke: cargo install --locked cargo-fuzz failed"
fi
cargo fuzz --version

cargo +nightly fuzz build
all_targets=$(cargo +nightly fuzz list)
targets=${FUZZ_TARGETS:-$all_targets}

# The panic message (the input's Debug form can run to hundreds of lines), then the log's end.
report() {
  grep -m 1 -A 6 -E 'panicked at|ERROR: libFuzzer' "$1" || true
  echo "--- end of the log:"
  tail -n 25 "$1"
}

work=$(mktemp -d "${TMPDIR:-/tmp}/headroom-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT
failed=()

# Every crash found so far is kept in regressions/<target>/ and replayed first, for every
# target whatever FUZZ_TARGETS says (a replay takes milliseconds). A folder that names no
# target (a renamed or removed one) is an error: its inputs would silently stop being replayed.
for dir in regressions/*/; do
  target=$(basename "$dir")
  if ! grep -qx "$target" <<<"$all_targets"; then
    echo "!!! regressions/$target/ names no fuzz target (targets: $(echo $all_targets))"
    failed+=("regressions/$target (no such target)")
    continue
  fi
  compgen -G "$dir*" >/dev/null || continue
  printf '\n=== replay regressions/%s (%s inputs)\n' "$target" "$(ls "$dir" | wc -l)"
  if ! cargo +nightly fuzz run "$target" "$dir"* -- -runs=1 >"$work/$target.replay.log" 2>&1; then
    echo "!!! a regression input of $target fails again:"
    report "$work/$target.replay.log"
    failed+=("$target (regression)")
  fi
done

for target in $targets; do
  mkdir -p "$work/$target" "corpus/$target"
  printf '\n=== fuzz %s for %s s\n' "$target" "$seconds"
  if cargo +nightly fuzz run "$target" "$work/$target" "corpus/$target" -- \
    -max_total_time="$seconds" -timeout=20 -print_final_stats=1 >"$work/$target.log" 2>&1; then
    grep -E '^#[0-9]+' "$work/$target.log" | tail -n 1 || true
    grep -E '^Done ' "$work/$target.log" || true
  else
    echo "!!! fuzz target $target FAILED:"
    report "$work/$target.log"
    failed+=("$target")
  fi
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz smoke: crashes in: ${failed[*]} (inputs in fuzz/artifacts/)" >&2
  exit 1
fi
echo "fuzz smoke: all targets ran ${seconds} s without a crash"
