#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test: unit, property,
# layout, and end-to-end (real eBPF, nats-server, nginx, curl, wrk).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
df -h . | sed 's/^/test: disk: /'
if [ "$(id -u)" != 0 ]; then echo "test: the end-to-end tests load eBPF programs: run as root" >&2; exit 1; fi
cargo fmt --all --check
cargo clippy --workspace --all-targets -q -- -D warnings
cargo build --release -p loupe-nodes
cargo test --workspace --exclude loupe-itest
# The end-to-end tests share the kernel's probes and the machine's CPUs: one at a time.
LOUPE_BIN="$PWD/target/release/loupe" cargo test -p loupe-itest -- --test-threads=1
# Every wire message type, fuzzed for a bounded time (decode, then validate).
scripts/fuzz_wire.sh "${LOUPE_FUZZ_SECONDS:-10}"
# Benchmarks must still build (they run with scripts/bench.sh).
cargo bench --workspace --no-run -q
du -sh target topology/fuzz/target 2>/dev/null | sed 's/^/test: build trees: /'
echo "test: all passed"
