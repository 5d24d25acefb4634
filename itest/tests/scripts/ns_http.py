#!/usr/bin/env python3
"""One node's workload, run inside its network namespace: an HTTP server on
127.0.0.1:PORT and a keep-alive client that sends COUNT requests to each
PATH; the server takes DELAY_MS for each. Prints the requests answered.
Usage: ns_http.py PORT PATH:COUNT:DELAY_MS..."""
import http.client, http.server, sys, threading, time

port = int(sys.argv[1])
plan = [(p, int(n), int(d)) for p, n, d in (a.split(":") for a in sys.argv[2:])]
delays = {p: d / 1000.0 for p, _, d in plan}


class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        time.sleep(delays.get(self.path, 0))
        body = b"ok\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a):
        pass


srv = http.server.ThreadingHTTPServer(("127.0.0.1", port), H)
threading.Thread(target=srv.serve_forever, daemon=True).start()
c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
done = 0
for path, n, _ in plan:
    for _ in range(n):
        c.request("GET", path)
        r = c.getresponse()
        r.read()
        assert r.status == 200, r.status
        done += 1
c.close()
srv.shutdown()
print(done)
