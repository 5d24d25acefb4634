#!/usr/bin/env python3
"""An HTTP server on 127.0.0.1:PORT and a keep-alive client sending one
request to PATH every INTERVAL_MS for SECONDS (bounded). Appends the wall
time (ns) of each answered request to LOG, one per line: the ground truth.
Usage: steady_http.py PORT PATH INTERVAL_MS SECONDS LOG"""
import http.client, http.server, sys, threading, time

port, path, interval, seconds, log = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), sys.argv[5]


class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        body = b"ok\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a):
        pass


srv = http.server.ThreadingHTTPServer(("127.0.0.1", int(port)), H)
threading.Thread(target=srv.serve_forever, daemon=True).start()
c = http.client.HTTPConnection("127.0.0.1", int(port), timeout=10)
end = time.time() + seconds
with open(log, "a") as out:
    while time.time() < end:
        c.request("GET", path)
        r = c.getresponse()
        r.read()
        out.write(f"{time.time_ns()}\n")
        out.flush()
        time.sleep(interval / 1000.0)
c.close()
srv.shutdown()
