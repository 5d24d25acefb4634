"""Bad PostgreSQL clients over TCP 127.0.0.1, with raw sockets:

- `garbage PORT`: bytes that are not a startup packet, then hang up;
- `midsession PORT`: a valid startup (trust auth), then a byte that is no
  frontend message type, then hang up;
- `abort PORT SQL`: a valid startup, one simple Query with a large result, read
  a little of it, then hang up while the server is still sending.

Prints what the server answered first."""
import socket, struct, sys

mode, port = sys.argv[1], int(sys.argv[2])


def startup(s):
    body = struct.pack("!i", 196608) + b"user\0postgres\0database\0postgres\0\0"
    s.sendall(struct.pack("!i", len(body) + 4) + body)
    buf = b""
    while not buf.endswith(b"Z\0\0\0\x05I"):
        chunk = s.recv(65536)
        if not chunk:
            raise SystemExit("server closed during startup: %r" % buf[-200:])
        buf += chunk


s = socket.create_connection(("127.0.0.1", port), timeout=10)
if mode == "garbage":
    s.sendall(b"\x00\x00\x00\x08garbage!\xff\xfe\xfd\x00" * 4)
    print(repr(s.recv(200)))
elif mode == "midsession":
    startup(s)
    s.sendall(b"\x7f\x00\x00\x00\x09junk!")
    print(repr(s.recv(200)))
elif mode == "abort":
    startup(s)
    q = sys.argv[3].encode() + b"\0"
    s.sendall(b"Q" + struct.pack("!i", len(q) + 4) + q)
    print("read", len(s.recv(1000)), "bytes of the result")
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # RST
else:
    raise SystemExit("unknown mode " + mode)
s.close()
