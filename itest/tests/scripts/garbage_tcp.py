#!/usr/bin/env python3
"""A TCP connection on 127.0.0.1 carrying no protocol Loupe traces: the
client sends COUNT chunks of 1000 pseudo-random bytes (fixed seed, so the
bytes are the same every run), DELAY_MS apart, so that the agent decides
while the connection still runs. Prints the bytes the server received.
Usage: garbage_tcp.py COUNT DELAY_MS"""
import random, socket, sys, threading, time

count, delay = int(sys.argv[1]), int(sys.argv[2]) / 1000.0
rng = random.Random(42)
srv = socket.socket()
srv.bind(("127.0.0.1", 0))
srv.listen(1)
got = [0]


def serve():
    c, _ = srv.accept()
    while True:
        d = c.recv(65536)
        if not d:
            break
        got[0] += len(d)
    c.close()


t = threading.Thread(target=serve)
t.start()
cl = socket.create_connection(srv.getsockname())
for _ in range(count):
    cl.sendall(rng.randbytes(1000))
    time.sleep(delay)
cl.close()
t.join()
print(got[0])
