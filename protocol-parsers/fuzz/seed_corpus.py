#!/usr/bin/env python3
"""Writes the captures of ../testdata/http/*.jsonl as seeds for the `http_stream` target,
in its input format (see fuzz_targets/http_stream.rs), into corpus/http_stream/.
With the argument `redis`: ../testdata/redis/*.jsonl into corpus/redis_stream/ (same format);
with `pgsql`: ../testdata/pgsql/*.jsonl into corpus/pgsql_stream/ (same format);
with `mysql`: ../testdata/mysql/*.jsonl into corpus/mysql_stream/ (same format).

Usage (from protocol-parsers/fuzz):  python3 seed_corpus.py [redis|pgsql|mysql]
"""
import base64
import glob
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
MAX_SEED = 64 * 1024  # keep seeds small: the 1 MB capture is cut

STREAM_TARGETS = {"redis": "redis_stream", "pgsql": "pgsql_stream", "mysql": "mysql_stream"}
PROTO = sys.argv[1] if sys.argv[1:2] and sys.argv[1] in STREAM_TARGETS else "http"
TARGET = STREAM_TARGETS.get(PROTO, "http_stream")
out_dir = os.path.join(HERE, "corpus", TARGET)
os.makedirs(out_dir, exist_ok=True)
for path in sorted(glob.glob(os.path.join(HERE, "..", "testdata", PROTO, "*.jsonl"))):
    seed = bytearray([0])
    for line in open(path):
        e = json.loads(line)
        if "close" in e:
            seed.append(3)
            continue
        op = 0 if e["dir"] == "req" else 1
        data = base64.b64decode(e["b64"])
        for i in range(0, len(data), 255):
            piece = data[i:i + 255]
            seed += bytes([op, len(piece)]) + piece
        if len(seed) > MAX_SEED:
            break
    name = os.path.basename(path)[: -len(".jsonl")]
    with open(os.path.join(out_dir, name), "wb") as f:
        f.write(bytes(seed))
    print(name, len(seed))

# dns_message: the captures of ../testdata/dns/*.jsonl in its input format (see
# fuzz_targets/dns_message.rs): TCP chunks as pushes, UDP datagrams as datagrams.
dns_dir = os.path.join(HERE, "corpus", "dns_message")
os.makedirs(dns_dir, exist_ok=True)
for path in sorted(glob.glob(os.path.join(HERE, "..", "testdata", "dns", "*.jsonl"))):
    seed = bytearray([0])
    for line in open(path):
        e = json.loads(line)
        if "close" in e:
            seed.append(3)
            continue
        s = 0 if e["dir"] == "req" else 1
        data = base64.b64decode(e["b64"])
        if e.get("transport") == "udp":
            seed += bytes([1 | s << 2]) + len(data).to_bytes(2, "big") + data
        else:
            for i in range(0, len(data), 255):
                piece = data[i:i + 255]
                seed += bytes([s << 2, len(piece)]) + piece
    name = os.path.basename(path)[: -len(".jsonl")]
    with open(os.path.join(dns_dir, name), "wb") as f:
        f.write(bytes(seed))
    print("dns", name, len(seed))
