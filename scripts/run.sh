#!/usr/bin/env bash
# Installs what is missing, builds, starts a nats-server (unless one answers
# on $LOUPE_NATS_URL) and an agent on this host, then shows the newest
# http_events rows every few seconds. Ctrl-C stops everything it started.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo build --release -p loupe-nodes
bin="$PWD/target/release/loupe"
url="${LOUPE_NATS_URL:-nats://127.0.0.1:4222}"
hostport="${url#nats://}"
started=()
cleanup() { for p in "${started[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT INT TERM
if ! (exec 3<>"/dev/tcp/${hostport%:*}/${hostport##*:}") 2>/dev/null; then
  nats-server -a "${hostport%:*}" -p "${hostport##*:}" >/tmp/loupe-nats.log 2>&1 &
  started+=($!)
  sleep 0.5
fi
"$bin" check >/dev/null || { "$bin" check; exit 1; }
"$bin" agent --nats "$url" 2>/tmp/loupe-agent.log &
started+=($!)
echo "agent running (log: /tmp/loupe-agent.log); make some HTTP traffic, e.g. curl http://example.local/ ..."
sleep 2
while true; do
  clear 2>/dev/null || true
  date
  "$bin" tail --nats "$url" --since 30s --limit 20 || true
  sleep 3
done
