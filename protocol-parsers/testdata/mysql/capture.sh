#!/usr/bin/env bash
# Captures the MySQL cases of this folder (see README.md): creates a throwaway MariaDB data
# directory in a temp dir, starts `mariadbd` on a free loopback port (no grant tables, no
# system service touched), runs each client through the TCP relay of ../capture.py, writes
# <case>.jsonl here, and stops the server by pid (also on error, by a trap). Needs MariaDB
# 10.11 (Debian 12: apt-get install mariadb-server mariadb-client), python3 with PyMySQL and
# mysql-connector-python (pip install PyMySQL mysql-connector-python) and ss (iproute2).
# Run as root.
# Usage: bash testdata/mysql/capture.sh [--large OUT.jsonl]
#   --large: also capture `SELECT REPEAT('x', 17000000)` (a multi-packet row of 17 MB) into
#   OUT.jsonl; it is too big to keep in the repository (see README.md).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
CAP="$HERE/../capture.py"
LARGE=""
[ "${1:-}" = --large ] && LARGE="$2"
TMP="$(mktemp -d /tmp/loupe-mysql.XXXXXX)"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# Waits until something listens on the port, without connecting (the relay accepts only once).
wait_listen() { for _ in $(seq 400); do ss -Hltn "sport = :$1" | grep -q . && return 0; sleep 0.05; done; return 1; }

DATA="$TMP/data"
mariadb-install-db --no-defaults --datadir="$DATA" --auth-root-authentication-method=normal \
    --user=root >"$TMP/install.log" 2>&1
MP=$(free_port)
mariadbd --no-defaults --datadir="$DATA" --socket="$TMP/sock" --port="$MP" \
    --bind-address=127.0.0.1 --skip-grant-tables --user=root --skip-ssl \
    --max-allowed-packet=64M --log-error="$TMP/server.log" --pid-file="$TMP/pid" &
SPID=$!
trap 'kill "$SPID" 2>/dev/null || true; wait "$SPID" 2>/dev/null || true; rm -rf "$TMP"' EXIT
wait_listen "$MP"
mariadb --no-defaults -h 127.0.0.1 -P "$MP" -u root --skip-ssl -e "CREATE DATABASE app"

# relay CASE COMMAND...: relays one connection of COMMAND (which finds the relay port in $P)
# into CASE.jsonl.
relay() {
    local name=$1; shift
    local p; p=$(free_port)
    python3 "$CAP" relay --listen-port "$p" --target "127.0.0.1:$MP" --out "$HERE/$name.jsonl" &
    local rpid=$!
    wait_listen "$p"
    P=$p "$@"
    wait "$rpid"
    echo "$name: $(grep -c '"dir"' "$HERE/$name.jsonl") chunks"
}
# The mariadb client over TCP through the relay, without TLS; -A: no table-name completion.
my() { mariadb --no-defaults -h 127.0.0.1 -P "$P" -u root --skip-ssl -A app "$@"; }

# --- one statement per line: COM_QUERY each; OKs, a result set, an error.
simple() {
    my >/dev/null <<'SQL'
CREATE TABLE users (id INT PRIMARY KEY, name VARCHAR(20), score DECIMAL(5,2));
INSERT INTO users VALUES (1, 'alice', 10.5), (2, 'bob', 7);
INSERT INTO users VALUES (3, "carol", 3.25);
SELECT id, name FROM users WHERE score > 5 ORDER BY id;
UPDATE users SET score = score + 1 WHERE name = 'bob';
SELECT COUNT(*) FROM users;
DELETE FROM users WHERE id = 3;
SQL
}
relay mariadb_simple_queries simple

# --- errors: an unknown table, a syntax error, a duplicate key (the message quotes the value),
# then a query that works.
errors() {
    my --force >/dev/null 2>&1 <<'SQL'
SELECT * FROM no_such_table WHERE id = 42;
SELEC 1;
INSERT INTO users VALUES (1, 'again', 0);
SELECT 'still alive';
SQL
}
relay mariadb_errors errors

# --- several statements in one COM_QUERY (CLIENT_MULTI_STATEMENTS; the mariadb client would
# split them itself): multi-result answers (SERVER_MORE_RESULTS_EXISTS), one ending in ERR.
multi() {
    python3 "$HERE/client.py" multi "$P"
}
relay pymysql_multi_statement multi

# --- PREPARE / EXECUTE in SQL: plain COM_QUERY on the wire; USE and a ping-like status.
sqlprep() {
    my >/dev/null <<'SQL'
PREPARE s FROM 'SELECT name FROM users WHERE id = ?';
SET @id = 2;
EXECUTE s USING @id;
DEALLOCATE PREPARE s;
USE mysql;
SQL
}
relay mariadb_sql_prepare_execute sqlprep

# --- the binary protocol: COM_STMT_PREPARE / EXECUTE / CLOSE, COM_STMT_RESET, COM_PING,
# COM_INIT_DB, COM_FIELD_LIST, LOCAL INFILE, COM_QUIT, from a small python client.
binary() {
    python3 "$HERE/client.py" binary "$P"
}
relay python_binary_protocol binary

# --- PyMySQL: text protocol with client-side parameter escaping (literals in the SQL).
pymysql_case() {
    python3 "$HERE/client.py" pymysql "$P"
}
relay pymysql_text_protocol pymysql_case

# --- mysqlslap: three connections (schema set-up and the load of both iterations, as counted
# by the server's Connections status).
slap() {
    local p; p=$(free_port)
    python3 "$CAP" relay-many --listen-port "$p" --target "127.0.0.1:$MP" \
        --out-prefix "$TMP/slap" --count 3 &
    local rpid=$!
    wait_listen "$p"
    mysqlslap --no-defaults -h 127.0.0.1 -P "$p" -u root --skip-ssl --concurrency=1 \
        --iterations=2 --auto-generate-sql --number-of-queries=20 >/dev/null
    wait "$rpid"
    for i in 0 1 2; do
        cp "$TMP/slap$i.jsonl" "$HERE/mysqlslap_conn$i.jsonl"
        echo "mysqlslap_conn$i: $(grep -c '"dir"' "$HERE/mysqlslap_conn$i.jsonl") chunks"
    done
}
slap

if [ -n "$LARGE" ]; then
    large() {
        my --max-allowed-packet=64M -e "SELECT REPEAT('x', 17000000) AS big" >/dev/null
    }
    relay_out() {
        local p; p=$(free_port)
        python3 "$CAP" relay --listen-port "$p" --target "127.0.0.1:$MP" --out "$LARGE" &
        local rpid=$!
        wait_listen "$p"
        P=$p large
        wait "$rpid"
        echo "large: $(grep -c '"dir"' "$LARGE") chunks"
    }
    relay_out
fi
