#!/usr/bin/env python3
"""Writes the captures of ../testdata/http/*.jsonl as seeds for the `http_stream` target,
in its input format (see fuzz_targets/http_stream.rs), into corpus/http_stream/.

Usage (from protocol-parsers/fuzz):  python3 seed_corpus.py
"""
import base64
import glob
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))
MAX_SEED = 64 * 1024  # keep seeds small: the 1 MB capture is cut

out_dir = os.path.join(HERE, "corpus", "http_stream")
os.makedirs(out_dir, exist_ok=True)
for path in sorted(glob.glob(os.path.join(HERE, "..", "testdata", "http", "*.jsonl"))):
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
