"""A small HTTP/1.1 server for the itest, written to show edge cases.

/slow     answers after exactly 200 ms (a known latency)
/chunked  answers with a chunked body ("hello" + " world": 11 bytes)
/closed   promises 1000 bytes, sends 10, and closes the connection
Every request handled is appended to LOG (ground truth from this side).
"""
import http.server, socketserver, sys, time

PORT, LOG = int(sys.argv[1]), sys.argv[2]


class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def do_GET(self):
        with open(LOG, "a") as f:
            f.write(f"{self.command} {self.path}\n")
        if self.path.startswith("/slow"):
            time.sleep(0.2)
            body = b"slow but sure\n"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        elif self.path == "/chunked":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.send_header("Content-Type", "text/plain")
            self.end_headers()
            for part in (b"hello", b" world"):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
        elif self.path == "/closed":
            self.send_response(200)
            self.send_header("Content-Length", "1000")
            self.end_headers()
            self.wfile.write(b"0123456789")
            self.wfile.flush()
            self.close_connection = True
        else:
            self.send_error(404)


class S(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


S(("127.0.0.1", PORT), H).serve_forever()
