#!/usr/bin/env bash
# Installs what is missing, builds, and runs `loupe demo`: a nats-server
# (unless one answers on $LOUPE_NATS_URL), a planner, an agent on this host
# and a small workload of services; prints the slowest endpoints and the
# dependencies it saw. Ctrl-C stops everything it started.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo build --release -p loupe-nodes
bin="$PWD/target/release/loupe"
"$bin" check >/dev/null || { "$bin" check; exit 1; }
exec "$bin" demo "$@"
