"""Clients the itest needs that curl cannot be: pipelining, one byte per
syscall, and non-HTTP UDP. Prints what it sent, one line per request."""
import socket, sys, time

mode, port = sys.argv[1], int(sys.argv[2])


def read_responses(s, n):
    data = b""
    s.settimeout(5)
    while data.count(b"HTTP/1.1 ") < n or not data.endswith(b"\n") and False:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


if mode == "pipeline":
    s = socket.create_connection(("127.0.0.1", port))
    reqs = b"".join(b"GET /pipe%d HTTP/1.1\r\nHost: x\r\n\r\n" % i for i in (1, 2, 3))
    s.sendall(reqs)  # three requests in one write
    read_responses(s, 3)
    time.sleep(0.2)
    s.close()
elif mode == "onebyte":
    s = socket.create_connection(("127.0.0.1", port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    for b in b"GET /onebyte HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n":
        s.send(bytes([b]))  # one byte per syscall
    read_responses(s, 1)
    s.close()
elif mode == "udp":
    r = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    r.bind(("127.0.0.1", port))
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for payload in (b"\x00\xff\x13garbage", b"GET / HTTP/1.1\r\n\r\n", bytes(range(256)) * 4):
        s.sendto(payload, ("127.0.0.1", port))
        r.recvfrom(65536)
    s.close()
    r.close()
