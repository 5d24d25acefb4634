#!/usr/bin/env bash
# Captures the PostgreSQL cases of this folder (see README.md): creates a throwaway cluster in a
# temp dir, starts it on a free loopback port, runs each client through the TCP relay of
# ../capture.py, writes <case>.jsonl here, and stops the server with `pg_ctl stop` (also on
# error, by a trap). Needs PostgreSQL 15 (Debian 12: apt-get install postgresql
# postgresql-contrib), python3 and ss (iproute2). Run as root (initdb and the server run as the
# `postgres` OS user) or as the postgres user itself.
# Usage: bash testdata/pgsql/capture.sh
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
CAP="$HERE/../capture.py"
BIN=/usr/lib/postgresql/15/bin
TMP="$(mktemp -d /tmp/loupe-pgsql.XXXXXX)"
chmod 755 "$TMP"
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# Waits until something listens on the port, without connecting (the relay accepts only once).
wait_listen() { for _ in $(seq 200); do ss -Hltn "sport = :$1" | grep -q . && return 0; sleep 0.05; done; return 1; }

DATA="$TMP/data"
mkdir "$DATA"
[ "$(id -u)" = 0 ] && chown postgres: "$DATA"
as_pg "$BIN/initdb" -D "$DATA" -U postgres --auth=trust >"$TMP/initdb.log"
PP=$(free_port)
as_pg "$BIN/pg_ctl" -D "$DATA" -l "$DATA/server.log" -w \
    -o "-p $PP -k $DATA -c listen_addresses=127.0.0.1 -c ssl=off" start >/dev/null
trap 'as_pg "$BIN/pg_ctl" -D "$DATA" -m fast -w stop >/dev/null || true; rm -rf "$TMP"' EXIT
direct() { psql -X -q -h 127.0.0.1 -p "$PP" -U postgres -v ON_ERROR_STOP=1 "$@" >/dev/null; }

# relay CASE COMMAND...: relays one connection of COMMAND (which finds the relay port in $P)
# into CASE.jsonl.
relay() {
    local name=$1; shift
    local p; p=$(free_port)
    python3 "$CAP" relay --listen-port "$p" --target "127.0.0.1:$PP" --out "$HERE/$name.jsonl" &
    local rpid=$!
    wait_listen "$p"
    P=$p "$@"
    wait "$rpid"
    echo "$name: $(grep -c '"dir"' "$HERE/$name.jsonl") chunks"
}
# psql through the relay; libpq's default sslmode=prefer sends an SSLRequest, answered 'N'.
pq() { PGSSLMODE=prefer PGGSSENCMODE=disable psql -X -q -h 127.0.0.1 -p "$P" -U postgres "$@"; }

# --- psql, one statement per line on stdin: one simple Query each.
simple() {
    pq >/dev/null <<'SQL'
CREATE TABLE users (id int PRIMARY KEY, name text, score numeric);
INSERT INTO users VALUES (1, 'alice', 10.5), (2, 'bob', 7);
INSERT INTO users VALUES (3, 'carol', 3.25);
SELECT id, name FROM users WHERE score > 5 ORDER BY id;
UPDATE users SET score = score + 1 WHERE name = 'bob';
SELECT count(*) FROM users;
DELETE FROM users WHERE id = 3;
;
SQL
}
relay psql_simple_queries simple

# --- psql -c: the whole string is one Query with three statements.
multi() {
    pq -c "INSERT INTO users VALUES (10, 'dave', 1); SELECT name FROM users WHERE id >= 2; UPDATE users SET name = 'x' WHERE id = 10" >/dev/null
}
relay psql_multi_statement multi

# --- errors and notices: an unknown table, a division by zero, a notice, a failing statement
# inside a multi-statement string (the rest is skipped), then a query that works.
errors() {
    pq >/dev/null 2>&1 <<'SQL'
SELECT * FROM no_such_table WHERE id = 42;
SELECT 1 / 0;
DROP TABLE IF EXISTS no_such_table;
SELECT 'before'; SELECT * FROM nope; SELECT 'after';
SELECT 'still alive';
SQL
}
relay psql_errors_and_notice errors

# --- \copy in and out: COPY ... FROM STDIN (CopyInResponse, CopyData, CopyDone) and
# COPY ... TO STDOUT (CopyOutResponse, CopyData, CopyDone).
seq 1 500 | awk '{ printf "%d\tname-%d\t%d.5\n", 1000 + $1, $1, $1 }' >"$TMP/users.tsv"
copy() {
    pq >/dev/null <<SQL
\\copy users FROM '$TMP/users.tsv'
\\copy (SELECT * FROM users WHERE id < 1100) TO '$TMP/out.tsv'
SELECT count(*) FROM users;
SQL
}
relay psql_copy_in_out copy

# --- PREPARE / EXECUTE in SQL (still the simple protocol).
prepare() {
    pq >/dev/null <<'SQL'
PREPARE by_id(int) AS SELECT name FROM users WHERE id = $1;
EXECUTE by_id(1);
EXECUTE by_id(1042);
DEALLOCATE by_id;
SQL
}
relay psql_prepare_execute prepare

# --- pgbench -i with server-side data generation (keeps the capture small).
init() { PGSSLMODE=prefer pgbench -h 127.0.0.1 -p "$P" -U postgres -i -s 1 -I dtGvp -q postgres >/dev/null 2>&1; }
relay pgbench_init init

# --- pgbench runs: a first connection (scale check, vacuum), then one per client (-c 1): the
# second one is kept.
bench() {
    local name=$1; shift
    local p; p=$(free_port)
    python3 "$CAP" relay-many --listen-port "$p" --target "127.0.0.1:$PP" --out-prefix "$TMP/$name" --count 2 &
    local rpid=$!
    wait_listen "$p"
    PGSSLMODE=prefer pgbench -h 127.0.0.1 -p "$p" -U postgres -c 1 -t 20 "$@" postgres >"$TMP/$name.out" 2>&1 || { cat "$TMP/$name.out"; kill "$rpid"; return 1; }
    wait "$rpid"
    mv "$TMP/${name}1.jsonl" "$HERE/$name.jsonl"
    echo "$name: $(grep -c '"dir"' "$HERE/$name.jsonl") chunks"
}
bench pgbench_extended -M extended
bench pgbench_prepared -M prepared

# --- pgbench pipeline mode: several Bind/Execute (prepared) before one Sync.
cat >"$TMP/pipeline.sql" <<'SQL'
\set aid random(1, 100000)
\set delta random(-5000, 5000)
\startpipeline
UPDATE pgbench_accounts SET abalance = abalance + :delta WHERE aid = :aid;
SELECT abalance FROM pgbench_accounts WHERE aid = :aid;
SELECT count(*) FROM pgbench_branches;
\endpipeline
SQL
bench_pipeline() { bench pgbench_pipeline -M prepared -n -f "$TMP/pipeline.sql"; }
bench_pipeline
