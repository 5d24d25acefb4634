#!/usr/bin/env python3
"""Whole-node benchmark: nginx under one wrk thread, with and without the
agent, interleaved in one run so the machine's noise hits both alike.

Prints, per round and in total:
  (a) throughput ratio  = requests/s with agent / requests/s without
  (b) completeness      = server rows for nginx's port / access-log lines
  (d) agent CPU (cores) and RSS (MiB) while wrk ran
and, with --floor, the ratio with EMPTY programs on the same syscall
tracepoints (bpf/examples/empty.bpf.c): what the hooks alone cost, the
ceiling any syscall-tracepoint agent can reach on this machine.
With --auth, each round runs the agent twice, alternating which goes
first: against a plain nats-server and against one with `loupe auth init
--tls` (NKey auth, TLS required), each with a planner; and times `loupe
run` end to end (CLI -> NATS -> planner -> agent -> planner -> CLI) over
the rows it captured, 10 times per mode (median ms).
With --cluster, each round runs the agent twice, alternating: on a plain
host, and in a cluster (`--kubeconfig`) following a metadata bucket of
10 000 pods (written by `metadata_bench --populate`): what following the
cluster and the Enrich stage cost the node.
With --tables, each round runs the agent twice, alternating: with the
sampled tables off (`--sample conn_stats=off` and the others) and on (the
default: conn_stats, process_stats, network_stats every second).
Usage: scripts/bench_agent.py [--rounds 3] [--seconds 5] [--connections 4] [--floor] [--auth] [--cluster] [--tables]
Needs root and `cargo build --release -p loupe-nodes` (and, for --floor,
`cargo build --release -p loupe-bpf --example tracepoint_floor`).
"""
import argparse, json, os, re, signal, socket, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LOUPE = os.environ.get("LOUPE_BIN", os.path.join(ROOT, "target/release/loupe"))


sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import cpu_ticks, free_port, rss_mib, wait_port  # noqa: E402


def wrk(url, seconds, conns):
    out = subprocess.run(["wrk", "-t1", f"-c{conns}", f"-d{seconds}s", url], capture_output=True, text=True, check=True).stdout
    return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--connections", type=int, default=4)
    ap.add_argument("--floor", action="store_true")
    ap.add_argument("--auth", action="store_true")
    ap.add_argument("--cluster", action="store_true")
    ap.add_argument("--tables", action="store_true")
    a = ap.parse_args()
    d = tempfile.mkdtemp(prefix="loupe-bench-")
    started = []
    try:
        nport = free_port()
        started.append(subprocess.Popen(["nats-server", "-a", "127.0.0.1", "-p", str(nport), "-js", "-sd", f"{d}/js"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        wait_port(nport)
        url = f"nats://127.0.0.1:{nport}"
        modes = [("off", url, {}, [])]
        if a.tables:
            off = sum((["--sample", f"{t}=off"] for t in ("conn_stats", "process_stats", "network_stats")), [])
            modes = [("tables-off", url, {}, off), ("tables-on", url, {}, [])]
        if a.cluster:
            subprocess.run([os.path.join(ROOT, "target/release/examples/metadata_bench"), "--populate", url], check=True)
            open(f"{d}/kubeconfig", "w").write("# the agent only learns it is in a cluster; it never calls the API server\n")
            modes.append(("cluster", url, {}, ["--kubeconfig", f"{d}/kubeconfig"]))
        if a.auth:
            auth = f"{d}/auth"
            subprocess.run([LOUPE, "auth", "init", "--tls", auth], check=True, stdout=subprocess.DEVNULL)
            tport = free_port()
            started.append(subprocess.Popen(["nats-server", "-c", f"{auth}/nats-server.conf", "-a", "127.0.0.1", "-p", str(tport)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            wait_port(tport)
            modes.append(("auth+tls", f"tls://127.0.0.1:{tport}", {"LOUPE_AUTH_DIR": auth}, []))
            open(f"{d}/q.pxl", "w").write("import px\ndf = px.DataFrame('http_events', start_time='-5m')\npx.display(df.groupby(['req_path', 'resp_status']).agg(n=('resp_latency', px.count), p99=('resp_latency', px.quantiles(0.99))), 'q')\n")
        port = free_port()
        os.makedirs(f"{d}/www"); os.makedirs(f"{d}/tmp")
        open(f"{d}/www/index.html", "w").write("<html><body>hello from nginx</body></html>\n")
        open(f"{d}/nginx.conf", "w").write(f"""worker_processes 1; error_log {d}/error.log warn; pid {d}/nginx.pid;
events {{ worker_connections 1024; }}
http {{ log_format truth '$request_method $request_uri $status'; access_log {d}/access.log truth;
 client_body_temp_path {d}/tmp; proxy_temp_path {d}/tmp; fastcgi_temp_path {d}/tmp; uwsgi_temp_path {d}/tmp; scgi_temp_path {d}/tmp;
 keepalive_requests 1000000;
 server {{ listen 127.0.0.1:{port}; root {d}/www; }} }}
""")
        started.append(subprocess.Popen(["nginx", "-p", d, "-c", f"{d}/nginx.conf", "-g", "daemon off;"]))
        wait_port(port)
        target = f"http://127.0.0.1:{port}/index.html"
        wrk(target, 1, a.connections)  # warm-up
        hz = os.sysconf("SC_CLK_TCK")
        tot = {"off": 0.0, "on": 0.0, "rows": 0, "lines": 0, "floor": 0.0}
        empty = None
        if a.floor:
            subprocess.run(f"bpftool btf dump file /sys/kernel/btf/vmlinux format c > {d}/vmlinux.h", shell=True, check=True)
            empty = f"{d}/empty.o"
            subprocess.run(["clang-19", "-target", "bpf", "-O2", "-g", "-I", d, "-c", os.path.join(ROOT, "bpf/examples/empty.bpf.c"), "-o", empty], check=True)
        print(f"{'round':>5} {'rps off':>10} {'rps on':>10} {'ratio':>7} {'rows':>8} {'log lines':>9} {'complete':>9} {'agent cpu':>9} {'rss MiB':>8}" + ("  floor ratio" if a.floor else "") + ("  nats      run p50 ms" if a.auth else "") + ("  mode" if a.cluster or a.tables else ""))
        by_mode = {m[0]: {"off": 0.0, "on": 0.0, "run": []} for m in modes}
        for r in range(a.rounds):
          order = modes if r % 2 == 0 else list(reversed(modes))
          for mode, murl, menv, margs in order:
              env = dict(os.environ, **menv)
              off = wrk(target, a.seconds, a.connections)
              floor = None
              if empty:
                  fl = subprocess.Popen([os.path.join(ROOT, "target/release/examples/tracepoint_floor"), empty, str(a.seconds + 3)], stderr=subprocess.DEVNULL)
                  time.sleep(1.5)
                  floor = wrk(target, a.seconds, a.connections) / off
                  fl.wait()
                  tot["floor"] += floor
              agent = subprocess.Popen([LOUPE, "agent", "--node", "bench", "--nats", murl] + margs, stdout=subprocess.DEVNULL, stderr=open(f"{d}/agent.log", "w"), env=env)
              started.append(agent)
              planner = None
              if a.auth:
                  planner = subprocess.Popen([LOUPE, "planner", "--name", "bench", "--nats", murl], stdout=subprocess.DEVNULL, stderr=open(f"{d}/planner.log", "w"), env=env)
                  started.append(planner)
              time.sleep(2.0)
              lines_before = sum(1 for _ in open(f"{d}/access.log"))
              t0, c0 = time.time(), cpu_ticks(agent.pid)
              on = wrk(target, a.seconds, a.connections)
              t1, c1 = time.time(), cpu_ticks(agent.pid)
              rss = rss_mib(agent.pid)
              time.sleep(1.5)
              lines = sum(1 for _ in open(f"{d}/access.log")) - lines_before
              out = subprocess.run([LOUPE, "tail", "--nats", murl, "--node", "bench", "-o", "jsonl", "--columns", "local_port,trace_role"], capture_output=True, text=True, env=env)
              if out.returncode != 0:
                  raise SystemExit(f"loupe tail failed: {out.stderr}")
              rows = sum(1 for l in out.stdout.splitlines() if (j := json.loads(l))["local_port"] == port and j["trace_role"] == 2)
              run_ms = None
              if a.auth:
                  times = []
                  for _ in range(10):
                      t = time.perf_counter()
                      q = subprocess.run([LOUPE, "run", "-f", f"{d}/q.pxl", "-o", "json", "--nats", murl], capture_output=True, text=True, env=env)
                      times.append((time.perf_counter() - t) * 1e3)
                      if q.returncode != 0:
                          raise SystemExit(f"loupe run failed ({mode}): {q.stderr}")
                  run_ms = sorted(times)[len(times) // 2]
                  by_mode[mode]["run"].append(run_ms)
                  planner.send_signal(signal.SIGTERM); planner.wait(10); started.remove(planner)
              agent.send_signal(signal.SIGTERM); agent.wait(10); started.remove(agent)
              cpu = (c1 - c0) / hz / (t1 - t0)
              print(f"{r+1:>5} {off:>10.0f} {on:>10.0f} {on/off:>7.3f} {rows:>8} {lines:>9} {rows/lines:>9.4f} {cpu:>9.2f} {rss:>8.1f}" + (f"  {floor:>11.3f}" if floor else "") + (f"  {mode:<8} {run_ms:>10.1f}" if run_ms is not None else "") + (f"  {mode}" if a.cluster or a.tables else ""))
              by_mode[mode]["off"] += off; by_mode[mode]["on"] += on
              print(f"      agent: {out.stderr.strip()}")
              tot["off"] += off; tot["on"] += on; tot["rows"] += rows; tot["lines"] += lines
        if a.auth:
            for mode, _, _, _ in modes:
                m = by_mode[mode]
                runs = sorted(m["run"])
                print(f"{mode}: throughput ratio {m['on']/m['off']:.3f}, loupe run median of round medians {runs[len(runs)//2]:.1f} ms")
        if a.cluster or a.tables:
            for mode, _, _, _ in modes:
                m = by_mode[mode]
                print(f"{mode}: throughput ratio {m['on']/m['off']:.3f}")
        print(f"total: throughput ratio {tot['on']/tot['off']:.3f}, completeness {tot['rows']/tot['lines']:.4f} ({tot['rows']}/{tot['lines']})"
              + (f", empty-probe floor ratio {tot['floor']/a.rounds:.3f}" if a.floor else ""))
    finally:
        for p in reversed(started):
            p.terminate()
            try: p.wait(5)
            except Exception: p.kill()


main()
