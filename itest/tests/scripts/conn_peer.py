"""conn_stats' ground truth: a TCP server and client that count what they
move, in the test's network namespace.

server PORT N RESET_EVERY OUT: accepts N connections; each sends an 8-byte
length and that many bytes; the server reads them all, then either answers
(half as many bytes plus 100) and closes, or, every RESET_EVERY-th
connection, closes with SO_LINGER 0 without answering (an RST).
client PORT N SIZE OUT: makes N connections, each sending SIZE bytes and
reading until the end or a reset.
Each writes {"conns", "sent", "recv", "resets"} (what its syscalls moved) to
OUT, then sleeps so that its process stays for the agent to name.
"""
import json
import socket
import struct
import sys
import time


def read_exact(s, n):
    got = 0
    while got < n:
        b = s.recv(min(65536, n - got))
        if not b:
            raise EOFError("peer closed early")
        got += len(b)
    return got


def server(port, n, reset_every, out):
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", port))
    ls.listen(64)
    sent = recv = resets = 0
    for i in range(n):
        c, _ = ls.accept()
        head = c.recv(8, socket.MSG_WAITALL)
        recv += len(head)
        size = struct.unpack("!Q", head)[0]
        recv += read_exact(c, size)
        if reset_every and (i + 1) % reset_every == 0:
            c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            resets += 1
        else:
            body = b"r" * (size // 2 + 100)
            c.sendall(body)
            sent += len(body)
        c.close()
    ls.close()
    with open(out, "w") as f:
        json.dump({"conns": n, "sent": sent, "recv": recv, "resets": resets}, f)
    time.sleep(600)


def client(port, n, size, out):
    sent = recv = resets = 0
    payload = b"q" * size
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(struct.pack("!Q", size) + payload)
        sent += 8 + size
        try:
            while True:
                b = s.recv(65536)
                if not b:
                    break
                recv += len(b)
        except ConnectionResetError:
            resets += 1
        s.close()
    with open(out, "w") as f:
        json.dump({"conns": n, "sent": sent, "recv": recv, "resets": resets}, f)
    time.sleep(600)


if __name__ == "__main__":
    mode, port, n, x, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
    (server if mode == "server" else client)(port, n, x, out)
