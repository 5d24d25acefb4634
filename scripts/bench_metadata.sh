#!/usr/bin/env bash
# Cluster metadata costs (issue 12): a follower's memory per pod, its work
# per update, naming a process, px.ip_to_pod_id per row, and updates per
# second through the NATS fan-out to F followers (a real nats-server with
# JetStream on a loopback port this script picks and stops).
#
#   scripts/bench_metadata.sh [FOLLOWERS]     # default 20
set -euo pipefail
cd "$(dirname "$0")/.."
followers="${1:-20}"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
store="$(mktemp -d)"
nats-server -a 127.0.0.1 -p "$port" -js -sd "$store" >"$store/nats.log" 2>&1 &
pid=$!
trap 'kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; rm -rf "$store"' EXIT
for _ in $(seq 100); do
  if python3 -c "import socket; socket.create_connection(('127.0.0.1', $port), 0.1)" 2>/dev/null; then break; fi
  sleep 0.1
done
cargo run -q --release -p loupe-actors --example metadata_bench -- --nats "nats://127.0.0.1:$port" --followers "$followers"
