#!/usr/bin/env python3
"""What px.export costs, against a real OpenTelemetry Collector (scripts/otel/build.sh;
its nop exporter, so the collector's own work stays small).

1. Throughput: simulated nodes (`loupe sim-nodes`, no eBPF) hold http_events rows; one
   query exports every row as a gauge data point (gRPC, then HTTP/protobuf, alternating
   rounds). Prints the points delivered, the planner's CPU time for the query, and data
   points per second per planner core (points / planner CPU seconds).
2. A scheduled export of the seed's aggregate (px/otel_service_metrics) every 10 s, on a
   real agent watching nginx under a steady load: the agent's and the planner's CPU
   (ms per second) with the schedule off and on, alternating.

Usage: scripts/bench_export.py [--rounds 2] [--rows 50000] [--nodes 4] [--seconds 40]
Needs root (the agent), nats-server, nginx, and `cargo build --release -p loupe-nodes`.
"""
import argparse, json, os, subprocess, sys, tempfile, threading, time, urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LOUPE = os.environ.get("LOUPE_BIN", os.path.join(ROOT, "target/release/loupe"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import cpu_ticks, free_port, wait_port  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")

EXPORT_ALL = """import px
df = px.DataFrame('http_events', start_time='-1h')
df.svc = df.service
px.export(df, px.otel.Data(
    resource={'service.name': df.svc, 'host.name': df.node},
    data=[px.otel.metric.Gauge(name='http.latency', value=df.resp_latency,
                               attributes={'http.route': df.req_path, 'status': df.resp_status})],
    endpoint=px.otel.Endpoint(url='ENDPOINT', insecure=True, timeout=60, protocol='PROTOCOL'),
))
"""


def collector(d, grpc, http):
    binary = subprocess.run([os.path.join(ROOT, "scripts/otel/build.sh")], check=True,
                            capture_output=True, text=True).stdout.strip()
    cfg = f"{d}/otelcol.yaml"
    open(cfg, "w").write(
        "receivers:\n  otlp:\n    protocols:\n"
        f"      grpc:\n        endpoint: 127.0.0.1:{grpc}\n        max_recv_msg_size_mib: 64\n"
        f"      http:\n        endpoint: 127.0.0.1:{http}\n"
        "exporters:\n  nop:\n"
        "service:\n  telemetry:\n    metrics:\n      level: none\n"
        "  pipelines:\n    metrics:\n      receivers: [otlp]\n      exporters: [nop]\n"
        "    traces:\n      receivers: [otlp]\n      exporters: [nop]\n")
    p = subprocess.Popen([binary, "--config", cfg], stdout=subprocess.DEVNULL, stderr=open(f"{d}/otelcol.log", "w"))
    wait_port(grpc); wait_port(http)
    return p


def run_json(args):
    out = subprocess.run([LOUPE] + args, capture_output=True, text=True)
    if out.returncode not in (0, 4):
        raise SystemExit(f"loupe {' '.join(args)}: {out.stderr}")
    return json.loads(out.stdout)


def throughput(a, d, url, grpc, http, planner):
    print(f"## Export throughput: {a.nodes} simulated nodes x {a.rows} rows, every row a data point")
    print("| round | protocol | points delivered | lost | planner CPU s | points/s per planner core | wall s |")
    print("|---|---|---|---|---|---|---|")
    for r in range(1, a.rounds + 1):
        for proto, ep in (("grpc", f"127.0.0.1:{grpc}"), ("http/protobuf", f"http://127.0.0.1:{http}")):
            script = f"{d}/export.pxl"
            open(script, "w").write(EXPORT_ALL.replace("ENDPOINT", ep).replace("PROTOCOL", proto))
            before = cpu_ticks(planner.pid)
            t = time.time()
            ans = run_json(["run", "-f", script, "-o", "json", "--nats", url, "--timeout", "30s"])
            wall = time.time() - t
            cpu = (cpu_ticks(planner.pid) - before) / TICK
            x = ans["exports"][0]
            rate = x["delivered"] / cpu if cpu > 0 else float("nan")
            print(f"| {r} | {proto} | {x['delivered']:,} | {x['lost']} | {cpu:.2f} | {rate:,.0f} | {wall:.2f} |".replace(",", " "))


def load(port, stop, counter):
    import http.client
    c = http.client.HTTPConnection("127.0.0.1", port)
    paths = ["/api/a", "/api/b", "/api/c", "/static/x"]
    i = 0
    while not stop.is_set():
        try:
            c.request("GET", paths[i % len(paths)]); c.getresponse().read()
        except Exception:
            c = http.client.HTTPConnection("127.0.0.1", port)
        i += 1
        counter[0] += 1
        time.sleep(0.004)


def scheduled(a, d, url, grpc, planner):
    nport = free_port()
    os.makedirs(f"{d}/nginx", exist_ok=True)
    open(f"{d}/nginx/nginx.conf", "w").write(
        f"worker_processes 1; pid {d}/nginx/nginx.pid; error_log {d}/nginx/error.log;\n"
        "events { worker_connections 1024; }\n"
        f"http {{ access_log off; client_body_temp_path {d}/nginx; proxy_temp_path {d}/nginx;\n"
        f"  fastcgi_temp_path {d}/nginx; uwsgi_temp_path {d}/nginx; scgi_temp_path {d}/nginx;\n"
        f"  server {{ listen 127.0.0.1:{nport}; location / {{ return 200 'ok'; }} }} }}\n")
    ng = subprocess.Popen(["nginx", "-c", f"{d}/nginx/nginx.conf", "-g", "daemon off;"], stderr=subprocess.DEVNULL)
    agent = subprocess.Popen([LOUPE, "agent", "--node", "bench-agent", "--nats", url],
                             stdout=subprocess.DEVNULL, stderr=open(f"{d}/agent.log", "w"))
    try:
        wait_port(nport)
        time.sleep(3)
        stop, counter = threading.Event(), [0]
        th = threading.Thread(target=load, args=(nport, stop, counter), daemon=True)
        th.start()
        time.sleep(5)
        print()
        print(f"## A scheduled export of px/otel_service_metrics every 10 s, {a.seconds} s per mode")
        print("| round | schedule | requests/s | agent CPU ms/s | planner CPU ms/s | runs | points delivered |")
        print("|---|---|---|---|---|---|---|")
        env = dict(os.environ)
        for r in range(1, a.rounds + 1):
            for mode in ("off", "on") if r % 2 else ("on", "off"):
                if mode == "on":
                    subprocess.run([LOUPE, "export", "add", "bench", "px/otel_service_metrics", "--every", "10s", "--nats", url],
                                   check=True, capture_output=True, env=env)
                a0, p0, n0, t0 = cpu_ticks(agent.pid), cpu_ticks(planner.pid), counter[0], time.time()
                time.sleep(a.seconds)
                dt = time.time() - t0
                ams = (cpu_ticks(agent.pid) - a0) / TICK * 1000 / dt
                pms = (cpu_ticks(planner.pid) - p0) / TICK * 1000 / dt
                rps = (counter[0] - n0) / dt
                runs = points = "-"
                if mode == "on":
                    lst = run_json(["export", "list", "-o", "json", "--nats", url])
                    s = lst["schedules"][0]
                    runs, points = s["runs"], (s["last"] or {}).get("delivered", 0)
                    subprocess.run([LOUPE, "export", "rm", "bench", "--nats", url], check=True, capture_output=True)
                print(f"| {r} | {mode} | {rps:.0f} | {ams:.1f} | {pms:.1f} | {runs} | {points} |")
        stop.set()
    finally:
        for p in (agent, ng):
            p.terminate()
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--rows", type=int, default=50000)
    ap.add_argument("--nodes", type=int, default=4)
    ap.add_argument("--seconds", type=int, default=40)
    ap.add_argument("--only", choices=["throughput", "scheduled"])
    a = ap.parse_args()
    d = tempfile.mkdtemp(prefix="loupe-bench-export-")
    started = []
    try:
        nport, grpc, http = free_port(), free_port(), free_port()
        started.append(subprocess.Popen(["nats-server", "-a", "127.0.0.1", "-p", str(nport), "-js", "-sd", f"{d}/js"],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        wait_port(nport)
        url = f"nats://127.0.0.1:{nport}"
        started.append(collector(d, grpc, http))
        env = dict(os.environ, OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{grpc}")
        planner = subprocess.Popen([LOUPE, "planner", "--name", "bench", "--nats", url], env=env,
                                   stdout=subprocess.DEVNULL, stderr=open(f"{d}/planner.log", "w"))
        started.append(planner)
        time.sleep(1)
        if a.only in (None, "throughput"):
            sim = subprocess.Popen([LOUPE, "sim-nodes", "--count", str(a.nodes), "--rows", str(a.rows), "--prefix", "b", "--nats", url],
                                   stdout=subprocess.DEVNULL, stderr=open(f"{d}/sim.log", "w"))
            started.append(sim)
            time.sleep(4)
            throughput(a, d, url, grpc, http, planner)
            sim.terminate(); sim.wait()
            time.sleep(12)  # the simulated nodes leave the planner's alive window
        if a.only in (None, "scheduled"):
            scheduled(a, d, url, grpc, planner)
    finally:
        for p in reversed(started):
            p.terminate()
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()


if __name__ == "__main__":
    main()
