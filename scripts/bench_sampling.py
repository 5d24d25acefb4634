#!/usr/bin/env python3
"""What the sampled tables cost an agent: 1 000 extra processes and 10 000
open TCP connections (5 000 loopback pairs, each having moved a few bytes)
on the node, the agent run twice, alternating: with conn_stats,
process_stats and network_stats off, and on (every second). Idle otherwise.

Prints per round and mode: the agent's CPU (ms per second) and RSS, rows
per second per table, and the store's bytes per row (the sampled tables'
only: nothing else is captured in the run).
Usage: scripts/bench_sampling.py [--rounds 2] [--seconds 20] [--procs 1000] [--conns 10000]
Needs root, nats-server and `cargo build --release -p loupe-nodes`.
"""
import argparse, json, os, signal, socket, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LOUPE = os.environ.get("LOUPE_BIN", os.path.join(ROOT, "target/release/loupe"))


sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import cpu_ticks, free_port, rss_mib, wait_port  # noqa: E402


HOLDER = r"""
import os, signal, socket, sys, time
procs, pairs, port = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
kids = []
for _ in range(procs):
    pid = os.fork()
    if pid == 0:
        time.sleep(3600); os._exit(0)
    kids.append(pid)
ls = socket.socket(); ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", port)); ls.listen(4096)
held = []
for _ in range(pairs):
    c = socket.create_connection(("127.0.0.1", port)); s, _ = ls.accept()
    c.send(b"hi"); s.recv(2); s.send(b"ok"); c.recv(2)
    held += [c, s]
def touch(*_):
    # Each held connection moves a byte each way: the agent sees it (a
    # connection is known to the kernel programs from its first syscall).
    for i in range(0, len(held), 2):
        held[i].send(b"x"); held[i + 1].recv(1); held[i + 1].send(b"y"); held[i].recv(1)
    print("touched", flush=True)
signal.signal(signal.SIGUSR1, touch)
print("ready", flush=True)
try:
    while True:
        time.sleep(3600)
finally:
    for k in kids:
        os.kill(k, 9)
"""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--seconds", type=int, default=20)
    ap.add_argument("--procs", type=int, default=1000)
    ap.add_argument("--conns", type=int, default=10000)
    a = ap.parse_args()
    import resource
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if hard < a.conns + 100:
        raise SystemExit(f"{a.conns} connections need {a.conns + 100} file descriptors; the hard limit is {hard}")
    d = tempfile.mkdtemp(prefix="loupe-bench-sampling-")
    started = []
    try:
        nport = free_port()
        started.append(subprocess.Popen(["nats-server", "-a", "127.0.0.1", "-p", str(nport), "-js", "-sd", f"{d}/js"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        wait_port(nport)
        url = f"nats://127.0.0.1:{nport}"
        planner = subprocess.Popen([LOUPE, "planner", "--name", "bench", "--nats", url], stdout=subprocess.DEVNULL, stderr=open(f"{d}/planner.log", "w"))
        started.append(planner)
        off = sum((["--sample", f"{t}=off"] for t in ("conn_stats", "process_stats", "network_stats")), [])
        modes = [("tables-off", off), ("tables-on", [])]
        q = f"{d}/rows.pxl"
        open(q, "w").write("import px\n" + "".join(
            f"t{i} = px.DataFrame('{t}', start_time='-{a.seconds}s').agg(rows=('time_', px.count))\npx.display(t{i}, '{t}')\n"
            for i, t in enumerate(("conn_stats", "process_stats", "network_stats"))))
        hz = os.sysconf("SC_CLK_TCK")
        print(f"{'round':>5} {'mode':<11} {'agent cpu ms/s':>14} {'rss MiB':>8} {'conn rows/s':>11} {'proc rows/s':>11} {'net rows/s':>10} {'bytes/row':>9}")
        tot = {m: [0.0, 0] for m, _ in modes}
        for r in range(a.rounds):
            order = modes if r % 2 == 0 else list(reversed(modes))
            for mode, margs in order:
                # The load exists before the agent starts: its connections
                # predate it, as on a real node.
                holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(a.procs), str(a.conns // 2), str(free_port())], stdout=subprocess.PIPE, text=True, start_new_session=True)
                started.append(holder)
                assert holder.stdout.readline().strip() == "ready"
                agent = subprocess.Popen([LOUPE, "agent", "--node", "bench", "--nats", url] + margs, stdout=subprocess.DEVNULL, stderr=open(f"{d}/agent.log", "w"))
                started.append(agent)
                time.sleep(3.0)
                holder.send_signal(signal.SIGUSR1)
                assert holder.stdout.readline().strip() == "touched"
                time.sleep(2.0)
                t0, c0 = time.time(), cpu_ticks(agent.pid)
                time.sleep(a.seconds)
                t1, c1 = time.time(), cpu_ticks(agent.pid)
                rss = rss_mib(agent.pid)
                out = subprocess.run([LOUPE, "run", "-f", q, "-o", "json", "--nats", url], capture_output=True, text=True)
                counts = [0, 0, 0]
                if out.returncode == 0:
                    for i, t in enumerate(json.loads(out.stdout)["tables"]):
                        counts[i] = (t["rows"][0]["rows"] if t["rows"] else 0)
                st = subprocess.run([LOUPE, "nodes", "-o", "json", "--nats", url], capture_output=True, text=True)
                bpr = 0.0
                try:
                    n = [x for x in json.loads(st.stdout)["nodes"] if x.get("node") == "bench"][0]
                    bpr = n["retention_used_bytes"] / max(1, n["rows_held"])
                except Exception:
                    pass
                agent.send_signal(signal.SIGTERM); agent.wait(10); started.remove(agent)
                os.killpg(holder.pid, signal.SIGKILL); holder.wait(); started.remove(holder)
                cpu = (c1 - c0) / hz / (t1 - t0) * 1000
                tot[mode][0] += cpu; tot[mode][1] += 1
                per = [c / a.seconds for c in counts]
                print(f"{r+1:>5} {mode:<11} {cpu:>14.1f} {rss:>8.1f} {per[0]:>11.0f} {per[1]:>11.0f} {per[2]:>10.1f} {bpr:>9.1f}")
        c_off, c_on = (tot[m][0] / tot[m][1] for m, _ in modes)
        print(f"total: agent CPU {c_off:.1f} ms/s off, {c_on:.1f} ms/s on: the sampled tables cost {c_on - c_off:.1f} ms of CPU per second ({(c_on - c_off) / 10:.2f} % of a core)")
    finally:
        for p in reversed(started):
            try: os.killpg(p.pid, signal.SIGKILL) if p.args[1] == "-c" else None
            except Exception: pass
            p.terminate()
            try: p.wait(5)
            except Exception: p.kill()


main()
