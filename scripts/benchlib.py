"""Helpers the bench scripts share: ports, and a process's CPU and memory."""
import socket, time


def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p


def wait_port(p):
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", p), 0.1).close(); return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"nothing on port {p}")


def cpu_ticks(pid):
    """utime + stime of `pid`, in clock ticks."""
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return int(f[11]) + int(f[12])


def rss_mib(pid):
    for l in open(f"/proc/{pid}/status"):
        if l.startswith("VmRSS:"):
            return int(l.split()[1]) / 1024
    return 0.0
