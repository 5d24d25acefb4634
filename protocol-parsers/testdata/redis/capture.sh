#!/usr/bin/env bash
# Captures the Redis cases of this folder (see README.md): starts redis-server on a free
# loopback port, runs each client through the TCP relay of ../capture.py, writes <case>.jsonl
# here, and stops the server by its pid. Needs redis-server, redis-cli and redis-benchmark
# (Debian 12: apt-get install redis-server redis-tools), python3 and ss (iproute2).
# Usage: bash testdata/redis/capture.sh
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
CAP="$HERE/../capture.py"
TMP="$(mktemp -d /tmp/loupe-redis.XXXXXX)"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# Waits until something listens on the port, without connecting (the relay accepts only once).
wait_listen() { for _ in $(seq 200); do ss -Hltn "sport = :$1" | grep -q . && return 0; sleep 0.05; done; return 1; }

RP=$(free_port)
redis-server --port "$RP" --bind 127.0.0.1 --save '' --appendonly no --daemonize no --enable-debug-command local \
    --logfile "$TMP/redis.log" &
RPID=$!
trap 'kill "$RPID" 2>/dev/null || true; wait "$RPID" 2>/dev/null || true; rm -rf "$TMP"' EXIT
wait_listen "$RP"
direct() { redis-cli -p "$RP" "$@" >/dev/null; }

# relay CASE COMMAND...: relays one connection of COMMAND (which finds the relay port in $P)
# into CASE.jsonl.
relay() {
    local name=$1; shift
    local p; p=$(free_port)
    python3 "$CAP" relay --listen-port "$p" --target "127.0.0.1:$RP" --out "$HERE/$name.jsonl" &
    local rpid=$!
    wait_listen "$p"
    P=$p "$@"
    wait "$rpid"
    echo "$name: $(grep -c '"dir"' "$HERE/$name.jsonl") chunks"
}

direct FLUSHALL

# --- redis-cli, one command per line on stdin, each waiting for its reply.
simple() {
    printf '%s\n' 'SET user:1 alice' 'GET user:1' 'INCR counter' 'INCRBY counter 41' \
        'MSET k1 v1 k2 v2' 'MGET k1 k2 nokey' 'EXPIRE user:1 100' 'TTL user:1' \
        'CLIENT SETNAME loupe-test' 'CLIENT GETNAME' 'DEL user:1 k1 k2' 'EXISTS user:1' \
        | redis-cli -p "$P" >/dev/null
}
relay simple_get_set_del_incr simple

errors() {
    printf '%s\n' 'SET str hello' 'LPUSH str a' 'INCR str' 'NOSUCHCOMMAND x' 'GET str' \
        | redis-cli -p "$P" >/dev/null
}
relay error_wrongtype errors

multi() {
    printf '%s\n' 'MULTI' 'SET tx:a 1' 'INCR tx:a' 'LPUSH tx:list x y' 'GET tx:a' 'EXEC' \
        | redis-cli -p "$P" >/dev/null
}
relay multi_exec multi

# --- redis-cli --pipe: every command written at once, replies read concurrently.
python3 - "$TMP/pipe.resp" <<'PY'
import sys
def cmd(*args):
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a.encode() if isinstance(a, str) else a
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    return out
with open(sys.argv[1], "wb") as f:
    for i in range(300):
        f.write(cmd("SET", f"pipe:{i}", f"value-{i}"))
    for i in range(0, 300, 10):
        f.write(cmd("INCR", f"pipe:counter"))
PY
pipe() { redis-cli -p "$P" --pipe <"$TMP/pipe.resp" >/dev/null; }
relay pipe_mass_insert pipe

# --- redis-benchmark: a CONFIG connection, then one connection per test (-c 1), 16 pipelined.
p=$(free_port)
python3 "$CAP" relay-many --listen-port "$p" --target "127.0.0.1:$RP" --out-prefix "$TMP/bench" --count 4 &
rpid=$!
wait_listen "$p"
redis-benchmark -p "$p" -c 1 -n 200 -P 16 -t get,set,lpush -q >/dev/null
wait "$rpid"
mv "$TMP/bench0.jsonl" "$HERE/benchmark_config_get.jsonl"
mv "$TMP/bench1.jsonl" "$HERE/benchmark_pipelined_set.jsonl"
mv "$TMP/bench2.jsonl" "$HERE/benchmark_pipelined_get.jsonl"
mv "$TMP/bench3.jsonl" "$HERE/benchmark_pipelined_lpush.jsonl"
echo "benchmark: 4 connections"

# --- pub/sub: a subscriber through the relay, messages published by another client.
subscriber() {
    local opt=$1
    redis-cli -p "$P" $opt SUBSCRIBE news sport >"$TMP/sub.out" &
    local cpid=$!
    for _ in $(seq 100); do [ "$(direct PUBSUB NUMSUB sport; redis-cli -p "$RP" PUBSUB NUMSUB sport | tail -1)" = 1 ] && break; sleep 0.05; done
    redis-cli -p "$RP" PUBLISH news "first headline" >/dev/null
    redis-cli -p "$RP" PUBLISH sport "match result" >/dev/null
    redis-cli -p "$RP" PUBLISH news "second headline" >/dev/null
    sleep 0.2
    kill "$cpid"
    wait "$cpid" 2>/dev/null || true
}
relay pubsub_subscribe_messages subscriber ""
relay pubsub_resp3_push subscriber "-3"

# --- RESP3: redis-cli -3 sends HELLO 3 first; maps, sets, doubles, nulls, booleans, verbatim.
resp3() {
    printf '%s\n' 'HSET h f1 v1 f2 v2' 'HGETALL h' 'SADD s a b c' 'SCARD s' 'SMEMBERS s' \
        'ZADD z 1.5 m' 'ZSCORE z m' 'GET missing' 'CONFIG GET maxmemory' \
        "EVAL \"redis.setresp(3); return true\" 0" \
        "EVAL \"redis.setresp(3); return false\" 0" \
        "EVAL \"redis.setresp(3); return {double=3.25}\" 0" \
        'CLIENT INFO' \
        | redis-cli -3 -p "$P" >/dev/null
}
relay resp3_hello_types resp3

# --- RESP3: every reply type the server can produce (DEBUG PROTOCOL), one request at a time.
debug_protocol() {
    python3 - "$P" <<'PY'
import socket, sys, time
c = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
def cmd(*args):
    out = b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in args)
    c.sendall(out)
    time.sleep(0.05)
    c.recv(65536)
cmd(b"HELLO", b"3")
for t in [b"string", b"integer", b"double", b"bignum", b"null", b"array", b"set", b"map",
          b"attrib", b"push", b"verbatim", b"true", b"false"]:
    cmd(b"DEBUG", b"PROTOCOL", t)
cmd(b"EVAL", b"redis.setresp(3); return {big_number='123456789012345678901234567890'}", b"0")
c.close()
PY
}
relay resp3_debug_protocol_types debug_protocol

# --- RESP3 client-side caching: an invalidation push with no request.
tracking() {
    python3 - "$P" "$RP" <<'PY'
import socket, sys, time
c = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
def send(b):
    c.sendall(b)
    time.sleep(0.05)
    return c.recv(65536)
send(b"*2\r\n$5\r\nHELLO\r\n$1\r\n3\r\n")
send(b"*3\r\n$6\r\nCLIENT\r\n$8\r\nTRACKING\r\n$2\r\non\r\n")
send(b"*2\r\n$3\r\nGET\r\n$7\r\ntracked\r\n")
o = socket.create_connection(("127.0.0.1", int(sys.argv[2])))
o.sendall(b"*3\r\n$3\r\nSET\r\n$7\r\ntracked\r\n$3\r\nnew\r\n")
o.recv(100)
o.close()
time.sleep(0.1)
c.recv(65536)          # the invalidation push
send(b"*1\r\n$4\r\nPING\r\n")
c.close()
PY
}
relay resp3_tracking_invalidate tracking

# --- inline commands, typed line by line as in telnet.
inline() {
    python3 - "$P" <<'PY'
import socket, sys, time
c = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
for line in [b"PING\r\n", b"SET greeting \"hello world\"\r\n", b"GET greeting\r\n",
             b"ECHO 'a b'\n", b"\r\n", b"DEL greeting\r\n", b"QUIT\r\n"]:
    c.sendall(line)
    time.sleep(0.03)
    if line.strip():
        c.recv(65536)
c.close()
PY
}
relay inline_telnet inline

# --- a 1 MiB value: SET from stdin (redis-cli -x), then GET on another connection.
python3 -c 'import sys; sys.stdout.buffer.write(bytes((i * 7 + 3) % 251 for i in range(1 << 20)))' >"$TMP/big.bin"
setbig() { redis-cli -p "$P" -x SET big <"$TMP/big.bin" >/dev/null; }
relay large_bulk_1mb_set setbig
getbig() { redis-cli -p "$P" GET big >/dev/null; }
relay large_bulk_1mb_get getbig

direct FLUSHALL
echo "redis-server $(redis-server --version | sed 's/.*v=\([^ ]*\).*/\1/') on port $RP: done"
