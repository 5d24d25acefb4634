#!/usr/bin/env python3
"""The query benchmark: Loupe's executor against polars and DuckDB on the
same rows, side by side in one run, reported as ratios; then `loupe run`
end to end (CLI -> NATS -> planner -> agent -> planner -> CLI) for the same
query shape over rows a real agent captured from nginx under wrk.

    scripts/bench_query.py [--rows 1000000 10000000] [--iters 5] [--no-e2e]

The query is PXL.md's example shape: filter on namespace, group by two
string columns, count, p50, p99, a lambda error rate, sort. Loupe's
quantiles come from DDSketch (1 % relative error); polars' are exact;
DuckDB's approx_quantile is a t-digest. Results are checked to agree.
Installs polars, duckdb and pyarrow from PyPI when missing.
"""
import argparse, json, os, shutil, socket, statistics, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def need(mod, pkg):
    try:
        __import__(mod)
    except ImportError:
        subprocess.check_call([sys.executable, "-m", "pip", "install", "-q", pkg])


for m, p in [("polars", "polars"), ("duckdb", "duckdb"), ("pyarrow", "pyarrow")]:
    need(m, p)
import duckdb, polars as pl, pyarrow as pa, pyarrow.ipc  # noqa: E402


def median_ms(f, iters):
    ts = []
    out = None
    for _ in range(iters):
        t = time.perf_counter()
        out = f()
        ts.append((time.perf_counter() - t) * 1e3)
    return statistics.median(ts), out


def bench_rows(n, iters, tmp):
    ipc = os.path.join(tmp, f"rows-{n}.arrow")
    out = subprocess.run(
        ["cargo", "run", "--release", "-q", "-p", "loupe-actors", "--example", "query_bench", "--", str(n), ipc, str(iters)],
        cwd=ROOT, check=True, capture_output=True, text=True,
    ).stdout
    loupe = json.loads(out.strip().splitlines()[-1])
    table = pa.ipc.open_stream(ipc).read_all().unify_dictionaries()
    cutoff = int(time.time() * 1e9) - 3600 * 10**9
    df = pl.from_arrow(table)

    def q_polars():
        return (
            df.lazy()
            .filter((pl.col("time_").cast(pl.Int64) >= cutoff) & (pl.col("namespace") == "shop"))
            .with_columns((pl.col("resp_latency") / 1e6).alias("latency_ms"))
            .group_by(["service", "req_method"])
            .agg(
                calls=pl.len(),
                p50_ms=pl.col("latency_ms").quantile(0.5),
                p99_ms=pl.col("latency_ms").quantile(0.99),
                fail_pct=(pl.col("resp_status") >= 500).mean() * 100,
            )
            .sort("p99_ms", descending=True)
            .collect()
        )

    con = duckdb.connect()
    con.execute("SET threads TO 2")
    con.register("arrow_rows", table)
    con.execute("CREATE TABLE t AS SELECT * FROM arrow_rows")
    con.unregister("arrow_rows")
    sql = f"""SELECT service, req_method, count(*) AS calls,
        approx_quantile(resp_latency / 1e6, 0.5) AS p50_ms,
        approx_quantile(resp_latency / 1e6, 0.99) AS p99_ms,
        avg(CASE WHEN resp_status >= 500 THEN 1.0 ELSE 0.0 END) * 100 AS fail_pct
      FROM t WHERE epoch_ns(time_) >= {cutoff} AND namespace = 'shop'
      GROUP BY service, req_method ORDER BY p99_ms DESC"""

    def q_duck():
        return con.execute(sql).fetchall()

    # Alternate the engines so drift on a noisy machine hits them alike.
    pol, duck = [], []
    res_p = res_d = None
    for _ in range(iters):
        t, res_p = median_ms(q_polars, 1)
        pol.append(t)
        t, res_d = median_ms(q_duck, 1)
        duck.append(t)
    # The answers must agree: counts exactly, quantiles within the bounds.
    ours = {(r["service"], r["req_method"]): r for r in loupe["result"]}
    theirs = {(r["service"], r["req_method"]): r for r in res_p.to_dicts()}
    assert ours.keys() == theirs.keys(), (ours.keys(), theirs.keys())
    for k, r in ours.items():
        t = theirs[k]
        assert r["calls"] == t["calls"], (k, r, t)
        assert abs(r["fail_pct"] - t["fail_pct"]) < 1e-6, (k, r, t)
        for q in ("p50_ms", "p99_ms"):
            assert abs(r[q] - t[q]) <= 0.011 * t[q] + 1e-3, (k, q, r[q], t[q])
    for row in res_d:
        assert ours[(row[0], row[1])]["calls"] == row[2]
    return {
        "rows": n,
        "loupe_ms": statistics.median(loupe["loupe_ms"]),
        "polars_ms": statistics.median(pol),
        "duckdb_ms": statistics.median(duck),
        "groups": len(ours),
    }


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def wait_port(p, t=15):
    end = time.time() + t
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", p), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"port {p} never opened")


def e2e(iters, tmp):
    """`loupe run` latency over rows a real agent captured from nginx under wrk."""
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "loupe-nodes"], cwd=ROOT, check=True)
    loupe = os.path.join(ROOT, "target/release/loupe")
    procs = []
    try:
        np = free_port()
        url = f"nats://127.0.0.1:{np}"
        procs.append(subprocess.Popen(["nats-server", "-a", "127.0.0.1", "-p", str(np)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        wait_port(np)
        log = open(os.path.join(tmp, "agent.log"), "w")
        procs.append(subprocess.Popen([loupe, "agent", "--node", "bench", "--nats", url], stdout=log, stderr=log))
        procs.append(subprocess.Popen([loupe, "planner", "--nats", url], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        for _ in range(300):
            if "answering on NATS" in open(os.path.join(tmp, "agent.log")).read():
                break
            time.sleep(0.1)
        hp = free_port()
        os.makedirs(os.path.join(tmp, "www"), exist_ok=True)
        open(os.path.join(tmp, "www/index.html"), "w").write("hello\n")
        conf = os.path.join(tmp, "nginx.conf")
        open(conf, "w").write(
            f"worker_processes 1; pid {tmp}/nginx.pid; error_log {tmp}/error.log;\n"
            f"events {{ worker_connections 1024; }}\n"
            f"http {{ access_log off; client_body_temp_path {tmp}; proxy_temp_path {tmp}; fastcgi_temp_path {tmp}; uwsgi_temp_path {tmp}; scgi_temp_path {tmp};\n"
            f"  server {{ listen 127.0.0.1:{hp}; root {tmp}/www; }} }}\n"
        )
        procs.append(subprocess.Popen(["nginx", "-p", tmp, "-c", conf, "-g", "daemon off;"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        wait_port(hp)
        subprocess.run(["wrk", "-t1", "-c8", "-d3s", f"http://127.0.0.1:{hp}/"], check=True, capture_output=True)
        time.sleep(1.5)
        script = os.path.join(tmp, "e2e.pxl")
        # The same shape; this host's rows carry no namespace, so group by
        # cmdline and filter on the server side instead.
        open(script, "w").write(
            "import px\n"
            "df = px.DataFrame('http_events', start_time='-10m')\n"
            "df = df[df.trace_role == 2]\n"
            "df.latency_ms = df.resp_latency / 1000000\n"
            "stats = df.groupby(['cmdline', 'req_method']).agg(\n"
            "    calls=('latency_ms', px.count),\n"
            "    p50_ms=('latency_ms', px.quantiles(0.5)),\n"
            "    p99_ms=('latency_ms', px.quantiles(0.99)),\n"
            "    fail_pct=('resp_status', lambda s: px.mean(s >= 500) * 100),\n"
            ")\n"
            "px.display(stats.sort('p99_ms', ascending=False), 'e2e')\n"
        )
        ts, rows = [], 0
        for _ in range(iters + 1):
            t = time.perf_counter()
            out = subprocess.run([loupe, "run", "-f", script, "-o", "json", "--nats", url], check=True, capture_output=True, text=True)
            ts.append((time.perf_counter() - t) * 1e3)
            a = json.loads(out.stdout)
            rows = a["nodes"]["answered"][0]["rows_scanned"]
        return {"rows_scanned": rows, "run_ms": statistics.median(ts[1:]), "planner_ms": a["elapsed_ms"]}
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in procs:
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 10_000_000])
    ap.add_argument("--iters", type=int, default=5)
    ap.add_argument("--no-e2e", action="store_true")
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="loupe-bench-")
    try:
        print(f"polars {pl.__version__}, duckdb {duckdb.__version__}; {os.cpu_count()} cores; median of {a.iters}")
        print(f"{'rows':>10} {'loupe ms':>10} {'polars ms':>10} {'duckdb ms':>10} {'polars/loupe':>13} {'duckdb/loupe':>13}")
        for n in a.rows:
            r = bench_rows(n, a.iters, tmp)
            print(f"{r['rows']:>10} {r['loupe_ms']:>10.1f} {r['polars_ms']:>10.1f} {r['duckdb_ms']:>10.1f} "
                  f"{r['polars_ms'] / r['loupe_ms']:>13.2f} {r['duckdb_ms'] / r['loupe_ms']:>13.2f}", flush=True)
        if not a.no_e2e:
            r = e2e(a.iters, tmp)
            print(f"loupe run end to end: {r['run_ms']:.1f} ms median over {r['rows_scanned']} captured rows "
                  f"(planner: {r['planner_ms']:.1f} ms from request to answer)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
