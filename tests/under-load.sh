#!/usr/bin/env bash
# Runs the README's test command N times (default 3) beside a noisy neighbour
# (crates/bench/src/bin/noisy-neighbour.rs: one core busy, a few thousand ephemeral loopback
# ports bound for a moment at a time), as on a busy CI machine, and prints each run's result
# and wall time. Usage: bash tests/under-load.sh [RUNS]
set -uo pipefail
cd "$(dirname "$0")/.."
runs="${1:-3}"
# The neighbour has no dependencies: rustc alone builds it in a second (cargo would build the
# bench crate's whole dependency tree for it).
mkdir -p target
rustc --edition 2024 -O -o target/noisy-neighbour crates/bench/src/bin/noisy-neighbour.rs
cargo test --workspace --locked --no-run
./target/noisy-neighbour --seconds 7200 2>/dev/null &
neighbour=$!
trap 'kill "$neighbour" 2>/dev/null' EXIT
failed=0
for i in $(seq 1 "$runs"); do
    log="$(mktemp)"
    start=$(date +%s)
    cargo test --workspace --locked >"$log" 2>&1
    rc=$?
    secs=$(( $(date +%s) - start ))
    sum=$(awk '/^test result:/ { p += $4; f += $6 } END { printf "%d passed, %d failed", p, f }' "$log")
    echo "run $i: exit $rc, $sum, ${secs} s wall, load $(cut -d' ' -f1-3 /proc/loadavg)"
    if [ "$rc" -ne 0 ]; then
        failed=1
        grep -E "^(---- |thread .* panicked|test .* FAILED)" "$log" | head -20
        echo "  full log: $log"
    fi
done
exit "$failed"
