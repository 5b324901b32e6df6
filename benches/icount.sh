#!/usr/bin/env bash
# Instruction counts of headroom's hot paths under callgrind, checked against benches/budgets.toml.
#
#   bash benches/icount.sh            # measure, print, fail when a path is over its budget
#   bash benches/icount.sh --rebase   # measure, print, and print a [budget] table at +15 %
#
# Why instructions and not time: on a shared two-core machine wall time moves by 2× between runs,
# so a time budget either flakes or lets a real regression through. The number of instructions
# a path executes does not move between runs of the same binary: a budget on it fails a
# regression deterministically. Criterion (benches/benches/*.rs) stays for wall time.
#
# How: builds the probe `icount` (benches/src/bin/icount.rs; release profile, headroom +
# governor only), then runs it once per path under
#   valgrind --tool=callgrind --toggle-collect='*measured_<path>*' icount <path> $CALLS
# so that only the instructions inside the path's function are collected (not the setup between
# calls), and divides the total by $CALLS (rounded to the nearest instruction).
#
# Valgrind is installed with apt-get when missing and possible; otherwise the step prints a loud
# SKIPPED line and exits 0 (the budgets are then not checked, and the log says so).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$here/../target}"
budgets="$here/budgets.toml"
calls=256
peer=governor_check_n_3_chained
rebase=false
[ "${1:-}" = "--rebase" ] && rebase=true

skipped() { printf '\n*** SKIPPED: %s ***\n\n' "$*"; }

if ! command -v valgrind >/dev/null 2>&1; then
    if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
        echo "valgrind missing: apt-get install -y valgrind"
        { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq valgrind; } \
            >/tmp/headroom-icount-apt.log 2>&1 || true
    fi
fi
if ! command -v valgrind >/dev/null 2>&1; then
    skipped "valgrind cannot be had (not installed, apt-get failed or not root): instruction budgets NOT checked"
    exit 0
fi

(cd "$here/.." && cargo build --quiet --release -p headroom-benches --bin icount)
probe="$CARGO_TARGET_DIR/release/icount"

# `name = value` of one [section] of the budgets file.
budget_of() {
    awk -v want="$1" -v key="$2" '
        /^\[/ { section = $0; gsub(/[][ ]/, "", section); next }
        section == want && $1 == key && $2 == "=" { print $3; exit }
    ' "$budgets"
}

out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT

declare -A count
paths=$("$probe" list)
for path in $paths; do
    valgrind --tool=callgrind --toggle-collect="*measured_${path}*" \
        --callgrind-out-file="$out/$path" "$probe" "$path" "$calls" >"$out/$path.log" 2>&1 \
        || { cat "$out/$path.log" >&2; echo "icount: $path failed under valgrind" >&2; exit 1; }
    total=$(awk '$1 == "summary:" { print $2 }' "$out/$path")
    if [ -z "$total" ] || [ "$total" = 0 ]; then
        echo "icount: no instructions collected for $path (is measured_$path inlined or folded?)" >&2
        exit 1
    fi
    count[$path]=$(( (total + calls / 2) / calls ))
done

echo "## Instructions per call (callgrind, $calls calls each; budgets: benches/budgets.toml)"
echo
echo "| path | instructions | budget | of budget | ratio to governor check_n × 3 |"
echo "|---|---|---|---|---|"
failed=0
for path in $paths; do
    n=${count[$path]}
    budget=$(budget_of budget "$path")
    ratio=$(awk -v a="$n" -v b="${count[$peer]}" 'BEGIN { printf "%.1f×", a / b }')
    if [ -z "$budget" ]; then
        echo "| $path | $n | (none) | — | $ratio |"
        echo "icount: $path has no budget in $budgets" >&2
        failed=1
        continue
    fi
    share=$(awk -v a="$n" -v b="$budget" 'BEGIN { printf "%.0f %%", 100 * a / b }')
    mark=""
    if [ "$n" -gt "$budget" ]; then
        mark=" **OVER BUDGET**"
        failed=1
    fi
    echo "| $path | $n | $budget | $share$mark | $ratio |"
done

if $rebase; then
    echo
    echo "# [budget] at measured + 15 %, $(date -u +%F), valgrind $(valgrind --version | sed 's/valgrind-//'), $(rustc --version | cut -d' ' -f2):"
    echo "[budget]"
    for path in $paths; do
        echo "$path = $(( (count[$path] * 115 + 99) / 100 ))"
    done
    echo "[measured]"
    for path in $paths; do
        echo "$path = ${count[$path]}"
    done
    exit 0
fi

if [ "$failed" != 0 ]; then
    echo >&2
    echo "icount: a hot path is over its instruction budget (or has none). If the growth is" >&2
    echo "intended, re-measure with \`bash benches/icount.sh --rebase\` and update" >&2
    echo "benches/budgets.toml in the same commit, saying why." >&2
    exit 1
fi
