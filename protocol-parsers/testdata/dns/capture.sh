#!/bin/sh
# Captures every case of testdata/dns/ (see README.md). Run as root from protocol-parsers/.
# Starts dnsmasq on a free loopback port (no upstream: --no-resolv, nothing leaves
# 127.0.0.0/8), relays each case through testdata/capture.py, stops dnsmasq by its pid.
set -eu
OUT=testdata/dns
CAP="python3 testdata/capture.py"
TMP=$(mktemp -d /tmp/loupe-dnsmasq.XXXXXX)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
P=$(free_port)
dnsmasq --no-daemon --port="$P" --listen-address=127.0.0.1 --bind-interfaces \
  --no-resolv --no-hosts --log-queries --log-facility="$TMP/dnsmasq.log" \
  --local=/loupe.test/ \
  --address=/example.test/10.1.2.3 \
  --host-record=host.loupe.test,10.0.0.7,fd00::7 \
  --cname=www.loupe.test,host.loupe.test \
  --srv-host=_sip._udp.loupe.test,host.loupe.test,5060,10,20 \
  --txt-record=txt.loupe.test,"v=loupe1","second string" \
  --ptr-record=9.0.0.10.in-addr.arpa,ptr.loupe.test \
  --mx-host=loupe.test,mail.loupe.test,10 &
DNSMASQ=$!
trap 'kill $DNSMASQ 2>/dev/null || true' EXIT
sleep 1

# udp CASE DROP -- DIG ARGS...: one dig run through the UDP relay.
udp() {
  case=$1; drop=$2; shift 3
  R=$(free_port)
  $CAP udprelay --listen-port "$R" --target "127.0.0.1:$P" --out "$OUT/$case.jsonl" --drop-answers "$drop" --idle 1.5 &
  relay=$!
  sleep 0.3
  dig @127.0.0.1 -p "$R" "$@" > "$TMP/$case.dig" || true
  wait $relay
  echo "$case"
}
# tcp CASE -- DIG ARGS...: one dig run (one TCP connection) through the TCP relay.
tcp() {
  case=$1; shift 2
  R=$(free_port)
  $CAP relay --listen-port "$R" --target "127.0.0.1:$P" --out "$OUT/$case.jsonl" &
  relay=$!
  sleep 0.3
  dig @127.0.0.1 -p "$R" +tcp "$@" > "$TMP/$case.dig" || true
  wait $relay
  echo "$case"
}

udp udp_a_wildcard_address       0 -- +tries=1 +timeout=2 a.example.test A
udp udp_aaaa_host_record         0 -- +tries=1 +timeout=2 host.loupe.test AAAA
udp udp_cname_then_a             0 -- +tries=1 +timeout=2 www.loupe.test A
udp udp_srv                      0 -- +tries=1 +timeout=2 _sip._udp.loupe.test SRV
udp udp_ptr_reverse              0 -- +tries=1 +timeout=2 -x 10.0.0.9
udp udp_txt_two_strings          0 -- +tries=1 +timeout=2 txt.loupe.test TXT
udp udp_mx                       0 -- +tries=1 +timeout=2 loupe.test MX
udp udp_nxdomain                 0 -- +tries=1 +timeout=2 missing.loupe.test A
udp udp_refused_no_upstream      0 -- +tries=1 +timeout=2 elsewhere.invalid A
udp udp_retry_first_answer_lost  1 -- +tries=2 +timeout=1 host.loupe.test A
udp udp_no_answer_timeout        9 -- +tries=1 +timeout=1 host.loupe.test A

# Several queries from one UDP socket (dig uses a new socket per query): a tiny client.
R=$(free_port)
$CAP udprelay --listen-port "$R" --target "127.0.0.1:$P" --out "$OUT/udp_one_socket_four_queries.jsonl" --idle 1.5 &
relay=$!
sleep 0.3
python3 - "$R" <<'PY'
import socket, struct, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(2)
s.connect(("127.0.0.1", int(sys.argv[1])))
def q(i, name, qtype):
    wire = b"".join(bytes([len(l)]) + l.encode() for l in name.split(".")) + b"\0"
    return struct.pack(">HHHHHH", 0x4c00 + i, 0x0100, 1, 0, 0, 0) + wire + struct.pack(">HH", qtype, 1)
for i, (name, t) in enumerate([("host.loupe.test", 1), ("host.loupe.test", 28), ("www.loupe.test", 1), ("nope.loupe.test", 16)]):
    s.send(q(i, name, t))
    s.recv(65535)
PY
wait $relay
echo udp_one_socket_four_queries

tcp tcp_a_single                 -- +tries=1 host.loupe.test A
tcp tcp_keepopen_three_queries   -- +tries=1 +keepopen host.loupe.test A www.loupe.test A _sip._udp.loupe.test SRV
tcp tcp_txt                      -- +tries=1 txt.loupe.test TXT

kill "$DNSMASQ"
wait "$DNSMASQ" 2>/dev/null || true
trap - EXIT
cp "$TMP/dnsmasq.log" "$TMP/../loupe-dnsmasq-last.log"
echo "dnsmasq log: /tmp/loupe-dnsmasq-last.log; dig outputs: $TMP/*.dig"
