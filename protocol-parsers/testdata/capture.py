#!/usr/bin/env python3
"""Capture real HTTP/1.x traffic for the parser tests.

A TCP relay listens on a loopback port, forwards to a server, and records every chunk it
receives from either side, as received, with time.monotonic_ns():

    {"dir":"req"|"resp","ts":N,"b64":"..."}   one line per recv(), in capture order
    {"close":N}                               when both directions are closed

A chunk is written down before it is forwarded, so a request always precedes the response
that answers it, as it does for the kernel probes.

Usage:
    capture.py relay --listen-port P --target HOST:PORT --out FILE
        relay one connection, then write FILE
    capture.py relay-many --listen-port P --target HOST:PORT --out-prefix PREFIX --count N
        relay N connections accepted on one port, connection i into PREFIX<i>.jsonl
    capture.py udprelay --listen-port P --target HOST:PORT --out FILE [--drop-answers N] [--idle S]
        relay UDP datagrams (one line each, with "transport":"udp"), dropping the first N
        answers; stop after S seconds of silence, then write FILE
    capture.py all [--out-dir DIR]
        start nginx (as root: `nginx -p TMP -c TMP/nginx.conf`, worker_processes 1) and a small
        python3 server on loopback ports, capture every case into DIR/<case>.jsonl
        (default: testdata/http next to this script), stop both servers
"""

import argparse
import base64
import email.utils
import http.server
import json
import os
import shutil
import signal
import socket
import socketserver
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))


class Relay:
    """Relays one TCP connection and records both directions."""

    def __init__(self, target, port=0):
        self.target = target
        self.events = []
        self.lock = threading.Lock()
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", port))
        self.listener.listen(1)
        self.port = self.listener.getsockname()[1]
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _pump(self, src, dst, direction):
        while True:
            try:
                data = src.recv(65536)
            except OSError:
                data = b""
            if not data:
                try:
                    dst.shutdown(socket.SHUT_WR)
                except OSError:
                    pass
                return
            with self.lock:
                self.events.append({"dir": direction, "ts": time.monotonic_ns(),
                                    "b64": base64.b64encode(data).decode("ascii")})
            try:
                dst.sendall(data)
            except OSError:
                return

    def _run(self):
        client, _ = self.listener.accept()
        server = socket.create_connection(self.target)
        up = threading.Thread(target=self._pump, args=(client, server, "req"))
        down = threading.Thread(target=self._pump, args=(server, client, "resp"))
        up.start()
        down.start()
        up.join()
        down.join()
        with self.lock:
            self.events.append({"close": time.monotonic_ns()})
        client.close()
        server.close()
        self.listener.close()

    def wait(self, timeout=30):
        self.thread.join(timeout)
        if self.thread.is_alive():
            raise RuntimeError("relay did not finish")
        return self.events


def write_events(path, events):
    with open(path, "w") as f:
        for e in events:
            f.write(json.dumps(e, separators=(",", ":")) + "\n")


# ---------------------------------------------------------------------------------------
# A small python3 server for what nginx does not do on its own.

class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):
        if self.path == "/chunked":
            # Chunked with a chunk extension and a trailer; several writes.
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Transfer-Encoding", "chunked")
            self.send_header("Trailer", "X-Checksum")
            self.end_headers()
            self.wfile.flush()
            for i, part in enumerate([b"first chunk\n", b"second, longer chunk of data\n" * 3, b"x" * 300]):
                ext = b";n=%d" % i if i == 1 else b""
                self.wfile.write(b"%x%s\r\n%s\r\n" % (len(part), ext, part))
                self.wfile.flush()
                time.sleep(0.01)
            self.wfile.write(b"0\r\nX-Checksum: 1234\r\n\r\n")
            self.wfile.flush()
        elif self.path == "/http10":
            # HTTP/1.0 response with no Content-Length: the body ends at the close.
            body = b"".join(b"line %d of a close-delimited body\n" % i for i in range(200))
            self.wfile.write(b"HTTP/1.0 200 OK\r\nServer: capture.py\r\nContent-Type: text/plain\r\n\r\n")
            self.wfile.flush()
            time.sleep(0.01)
            self.wfile.write(body)
            self.wfile.flush()
            self.close_connection = True
        else:
            self.send_error(404)


class ThreadingServer(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


# ---------------------------------------------------------------------------------------

NGINX_CONF = """
worker_processes 1;
error_log {d}/error.log;
events {{ worker_connections 64; }}
http {{
    access_log {d}/access.log;
    client_body_temp_path {d}/tmp/body;
    proxy_temp_path {d}/tmp/proxy;
    fastcgi_temp_path {d}/tmp/fastcgi;
    uwsgi_temp_path {d}/tmp/uwsgi;
    scgi_temp_path {d}/tmp/scgi;
    types {{ text/html html; text/plain txt; application/octet-stream bin; }}
    default_type application/octet-stream;
    server {{
        listen 127.0.0.1:{port};
        root {d}/www;
        location = /empty {{ return 204; }}
        location = /upload {{ proxy_pass http://127.0.0.1:{py}; }}
        location /gz/ {{ gzip on; gzip_types text/plain; gzip_min_length 1; }}
    }}
}}
"""

FIXED_MTIME = 1_700_000_000  # 2023-11-14T22:13:20Z


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"port {port} not listening")


def curl(port, *args):
    cmd = ["curl", "-sS", "-o", "/dev/null", "--http1.1", "--max-time", "20", *args]
    cmd = [a.replace("{base}", f"http://127.0.0.1:{port}") for a in cmd]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)


def raw_client(port, payload):
    """Writes `payload` in one send, then reads until the server closes."""
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.sendall(payload)
        while s.recv(65536):
            pass


def make_www(d):
    www = os.path.join(d, "www")
    os.makedirs(os.path.join(www, "gz"))
    files = {
        "index.html": b"<html><body><h1>Loupe test page</h1></body></html>\n",
        "a.html": b"<html><body>page a</body></html>\n",
        "b.txt": b"plain text file b\n" * 10,
        "gz/words.txt": b"".join(b"word %d is repeated so that gzip has something to do\n" % i for i in range(2000)),
        "big.bin": bytes((i * 7 + 3) % 251 for i in range(1 << 20)),
    }
    for name, data in files.items():
        path = os.path.join(www, name)
        with open(path, "wb") as f:
            f.write(data)
        os.utime(path, (FIXED_MTIME, FIXED_MTIME))
    for root, dirs, names in os.walk(d):
        for n in dirs:
            os.chmod(os.path.join(root, n), 0o755)
        for n in names:
            os.chmod(os.path.join(root, n), 0o644)
    os.chmod(d, 0o755)


def cases(ngx, py):
    """(name, target port, client function taking the relay port)."""
    ims = email.utils.formatdate(FIXED_MTIME, usegmt=True)
    post_body = b"name=loupe&payload=" + b"z" * 2000
    pipelined = (b"GET /a.html HTTP/1.1\r\nHost: localhost\r\nUser-Agent: capture.py\r\n\r\n"
                 b"GET /b.txt HTTP/1.1\r\nHost: localhost\r\nUser-Agent: capture.py\r\n\r\n"
                 b"GET /missing HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
    return [
        ("keepalive_get_three_paths", ngx,
         lambda p: curl(p, "{base}/index.html", "{base}/a.html", "{base}/b.txt")),
        ("not_found_404", ngx, lambda p: curl(p, "{base}/does/not/exist")),
        ("head_request", ngx, lambda p: curl(p, "-I", "{base}/b.txt")),
        ("not_modified_304", ngx, lambda p: curl(p, "-H", f"If-Modified-Since: {ims}", "{base}/a.html")),
        ("no_content_204", ngx, lambda p: curl(p, "{base}/empty")),
        ("post_expect_100_continue", ngx,
         lambda p: curl(p, "-X", "POST", "-H", "Expect: 100-continue", "-H", "Content-Type: application/x-www-form-urlencoded",
                        "--data-binary", post_body.decode(), "{base}/upload")),
        ("chunked_extensions_trailer_python", py, lambda p: curl(p, "-H", "TE: trailers", "{base}/chunked")),
        ("chunked_gzip_nginx", ngx, lambda p: curl(p, "-H", "Accept-Encoding: gzip", "{base}/gz/words.txt")),
        ("pipelined_three_requests", ngx, lambda p: raw_client(p, pipelined)),
        ("http10_close_delimited_python", py, lambda p: curl(p, "--http1.0", "{base}/http10")),
        ("large_body_1mb", ngx, lambda p: curl(p, "{base}/big.bin")),
    ]


class UploadHandler(Handler):
    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(n)
        reply = json.dumps({"received": len(body)}).encode()
        self.send_response(201)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)


def capture_all(out_dir):
    if os.geteuid() != 0:
        sys.exit("run as root: nginx is started with its default user switch")
    os.makedirs(out_dir, exist_ok=True)
    d = tempfile.mkdtemp(prefix="loupe-nginx-")
    os.makedirs(os.path.join(d, "tmp"))
    make_www(d)
    py_port, ngx_port = free_port(), free_port()
    py = ThreadingServer(("127.0.0.1", py_port), UploadHandler)
    threading.Thread(target=py.serve_forever, daemon=True).start()
    with open(os.path.join(d, "nginx.conf"), "w") as f:
        f.write(NGINX_CONF.format(d=d, port=ngx_port, py=py_port))
    nginx = subprocess.Popen(["nginx", "-p", d, "-c", os.path.join(d, "nginx.conf"),
                              "-g", f"daemon off; pid {d}/nginx.pid;"])
    try:
        wait_port(ngx_port)
        for name, port, client in cases(ngx_port, py_port):
            relay = Relay(("127.0.0.1", port))
            client(relay.port)
            events = relay.wait()
            write_events(os.path.join(out_dir, name + ".jsonl"), events)
            chunks = sum(1 for e in events if "dir" in e)
            print(f"{name}: {chunks} chunks")
    finally:
        nginx.send_signal(signal.SIGQUIT)
        try:
            nginx.wait(10)
        except subprocess.TimeoutExpired:
            nginx.kill()
            nginx.wait()
        py.shutdown()
        shutil.rmtree(d, ignore_errors=True)


# ---------------------------------------------------------------------------------------
# relay-many: several connections through one listening port (e.g. redis-benchmark, which opens
# a CONFIG connection and then one connection per test).

class AcceptedRelay(Relay):
    """Relays one connection that was already accepted, and records both directions."""

    def __init__(self, client, target):
        self.target = target
        self.events = []
        self.lock = threading.Lock()
        self.client = client
        self.thread = threading.Thread(target=self._run_accepted, daemon=True)
        self.thread.start()

    def _run_accepted(self):
        server = socket.create_connection(self.target)
        up = threading.Thread(target=self._pump, args=(self.client, server, "req"))
        down = threading.Thread(target=self._pump, args=(server, self.client, "resp"))
        up.start()
        down.start()
        up.join()
        down.join()
        with self.lock:
            self.events.append({"close": time.monotonic_ns()})
        self.client.close()
        server.close()


def relay_many(listen_port, target, out_prefix, count):
    """Relays `count` connections accepted on one port; connection i goes to OUT_PREFIX<i>.jsonl."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", listen_port))
    listener.listen(16)
    relays = []
    for _ in range(count):
        client, _ = listener.accept()
        relays.append(AcceptedRelay(client, target))
    listener.close()
    for i, r in enumerate(relays):
        events = r.wait(timeout=None)
        write_events(f"{out_prefix}{i}.jsonl", events)


# ---------------------------------------------------------------------------------------
# udprelay: UDP datagrams (DNS), one jsonl line per datagram with "transport":"udp".

def udp_relay(listen_port, target, out, drop_answers=0, idle=2.0, max_seconds=60.0):
    """Relays UDP datagrams between clients and `target` and records each one, in the same
    format as `relay` plus "transport":"udp" (one line = one whole datagram = one message).

    Each client address gets its own upstream socket. The first `drop_answers` datagrams
    from the target are dropped, not recorded (the client never receives them, so the
    probe on its socket would not see them either): this makes clients retry. Ends after
    `idle` seconds without traffic once something was relayed (or after `max_seconds`),
    then writes {"close":N} and OUT.
    """
    import select
    lsock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    lsock.bind(("127.0.0.1", listen_port))
    upstream = {}  # client address -> socket connected to the target
    clients = {}   # upstream socket -> client address
    events = []
    dropped = 0
    start = last = time.monotonic()
    seen = False
    while True:
        now = time.monotonic()
        if (seen and now - last > idle) or now - start > max_seconds:
            break
        ready, _, _ = select.select([lsock, *clients], [], [], 0.05)
        for s in ready:
            if s is lsock:
                data, addr = lsock.recvfrom(65535)
                direction = "req"
            else:
                data = s.recv(65535)
                addr = clients[s]
                direction = "resp"
                if dropped < drop_answers:
                    dropped += 1
                    last = time.monotonic()
                    continue
            events.append({"dir": direction, "ts": time.monotonic_ns(),
                           "b64": base64.b64encode(data).decode("ascii"), "transport": "udp"})
            if direction == "req":
                if addr not in upstream:
                    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                    u.connect(target)
                    upstream[addr] = u
                    clients[u] = addr
                upstream[addr].send(data)
            else:
                lsock.sendto(data, addr)
            seen = True
            last = time.monotonic()
    events.append({"close": time.monotonic_ns()})
    for u in clients:
        u.close()
    lsock.close()
    write_events(out, events)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("relay")
    r.add_argument("--listen-port", type=int, required=True)
    r.add_argument("--target", required=True)
    r.add_argument("--out", required=True)
    m = sub.add_parser("relay-many")
    m.add_argument("--listen-port", type=int, required=True)
    m.add_argument("--target", required=True)
    m.add_argument("--out-prefix", required=True)
    m.add_argument("--count", type=int, required=True)
    a = sub.add_parser("all")
    a.add_argument("--out-dir", default=os.path.join(HERE, "http"))
    u = sub.add_parser("udprelay")
    u.add_argument("--listen-port", type=int, required=True)
    u.add_argument("--target", required=True)
    u.add_argument("--out", required=True)
    u.add_argument("--drop-answers", type=int, default=0)
    u.add_argument("--idle", type=float, default=2.0)
    args = ap.parse_args()
    if args.cmd == "udprelay":
        host, port = args.target.rsplit(":", 1)
        udp_relay(args.listen_port, (host, int(port)), args.out, args.drop_answers, args.idle)
        return
    if args.cmd == "relay-many":
        host, port = args.target.rsplit(":", 1)
        relay_many(args.listen_port, (host, int(port)), args.out_prefix, args.count)
    elif args.cmd == "relay":
        host, port = args.target.rsplit(":", 1)
        relay = Relay((host, int(port)), args.listen_port)
        write_events(args.out, relay.wait(timeout=None))
    else:
        capture_all(args.out_dir)


if __name__ == "__main__":
    main()
