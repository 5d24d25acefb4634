"""process_stats' ground truth: a process that does known work, then idles.

busy.py MIB SECONDS READY: allocates and touches MIB MiB, burns SECONDS of
CPU, reads 1 MiB from /dev/zero and writes 2 MiB to /dev/null, then writes
READY and sleeps (its counters stay still for the comparison). With
SECONDS < 0 it burns CPU forever instead (a top-CPU process).
"""
import sys
import time

mib, seconds, ready = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
buf = bytearray(mib << 20)
for i in range(0, len(buf), 4096):
    buf[i] = 1
with open("/dev/zero", "rb") as z:
    z.read(1 << 20)
with open("/dev/null", "wb") as n:
    n.write(b"x" * (2 << 20))
end = time.process_time() + (seconds if seconds >= 0 else 1e12)
x = 0
while time.process_time() < end:
    x += 1
with open(ready, "w") as f:
    f.write("ready")
time.sleep(600)
