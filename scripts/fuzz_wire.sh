#!/usr/bin/env bash
# Fuzzes every wire message type (topology/fuzz: decode with a bound, then
# validate) for a bounded time each, from a seed corpus of valid messages.
# Prints the executions per target; fails on the first crash, leaving its
# input in topology/fuzz/artifacts/<target>/.
#   scripts/fuzz_wire.sh [SECONDS_PER_TARGET]   (default 10)
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-10}"
command -v cargo-fuzz >/dev/null || { echo "fuzz: cargo-fuzz missing (scripts/setup.sh installs it)" >&2; exit 1; }
cargo run -q -p loupe-topology --example wire_seeds -- topology/fuzz/corpus
cd topology/fuzz
# cargo-fuzz needs nightly flags (-Zsanitizer); the stable toolchain takes
# them with RUSTC_BOOTSTRAP.
export RUSTC_BOOTSTRAP=1
cargo fuzz build -O 2>&1 | tail -1
for t in $(cargo fuzz list); do
  out=$(cargo fuzz run -O "$t" "corpus/$t" -- -max_total_time="$secs" -max_len=65536 -rss_limit_mb=2048 2>&1) || {
    echo "$out" | tail -40
    echo "fuzz: $t crashed (input in topology/fuzz/artifacts/$t/)" >&2
    exit 1
  }
  runs=$(echo "$out" | grep -oE 'Done [0-9]+ runs' | tail -1 | grep -oE '[0-9]+' || echo "?")
  printf 'fuzz: %-14s %10s runs in %ss, no crash\n' "$t" "$runs" "$secs"
done
