//! `loupe run` end to end: a real nats-server, two planners, real agents
//! (eBPF), real nginx driven by wrk and curl, a Python upstream that takes a
//! known 200 ms. Ground truth is nginx's access log and the upstream's
//! known delay, never Loupe's own records.
//!
//! Needs root (eBPF). Run through the README's test command.

use anyhow::{Result, bail};
use loupe_itest::*;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use std::time::{Duration, Instant};

fn scripts() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/scripts"))
}

/// (method, path, status) -> count, from a result table.
fn counts(table: &Value) -> BTreeMap<(String, String, i64), i64> {
    let mut m = BTreeMap::new();
    for r in table["rows"].as_array().into_iter().flatten() {
        let k = (
            r["req_method"].as_str().unwrap_or_default().to_string(),
            r["req_path"].as_str().unwrap_or_default().to_string(),
            r["resp_status"].as_i64().unwrap_or(-1),
        );
        *m.entry(k).or_insert(0) += r["n"].as_i64().unwrap_or(0);
    }
    m
}

#[test]
fn loupe_run_counts_what_nginx_logged_and_sees_the_slow_upstream() -> Result<()> {
    let dir = temp_dir("query");
    let nats = Nats::start(&dir)?;
    let mut p1 = Planner::start(&nats.url, "p1", &dir)?;
    let _p2 = Planner::start(&nats.url, "p2", &dir)?;
    let _agent = Agent::start(&nats, "itest-q1", &dir, &[])?;

    let up_port = free_port();
    let _up = Proc::spawn(
        "odd_server.py",
        Command::new("python3")
            .arg(scripts().join("odd_server.py"))
            .arg(up_port.to_string())
            .arg(dir.join("odd.log")),
        &dir.join("odd.out"),
    )?;
    wait_for_port(up_port, Duration::from_secs(10))?;
    let nginx = Nginx::start(&dir.join("nginx"), Some(up_port))?;
    let base = format!("http://127.0.0.1:{}", nginx.port);

    // Load: wrk on two paths (bounded: 2 s each), then 10 slow requests.
    for path in ["/", "/empty"] {
        run(Command::new(which("wrk")?).args(["-t1", "-c4", "-d2s", &format!("{base}{path}")]))?;
    }
    for _ in 0..10 {
        run(Command::new("curl").args(["-s", "-o", "/dev/null", &format!("{base}/slow")]))?;
    }
    let truth = {
        let mut m = BTreeMap::new();
        for k in nginx.access_log()? {
            *m.entry(k).or_insert(0i64) += 1;
        }
        m
    };
    let logged: i64 = truth.values().sum();
    assert!(logged > 1000, "wrk made {logged} requests");

    let port = nginx.port;
    let script = format!(
        r#"import px

def nginx_requests(start: str = '-5m', port: int = 0):
    df = px.DataFrame('http_events', start_time=start)
    df = df[(df.trace_role == 2) & (df.local_port == port)]
    return df.groupby(['req_method', 'req_path', 'resp_status']).agg(n=('resp_status', px.count))

px.display(nginx_requests(), 'requests')

s = px.DataFrame('http_events', start_time='-5m')
s = s[(s.req_path == '/slow') & (s.trace_role == 2)]
s.ms = s.resp_latency / 1000000
s.side = px.select(s.local_port == {port}, 'nginx', 'upstream')
px.display(s.groupby('side').agg(n=('ms', px.count), p50=('ms', px.quantiles(0.5)), p99=('ms', px.quantiles(0.99))), 'slow')
"#
    );
    let port_arg = format!("port={port}");
    // The agent stores rows within its batch deadline; poll until the
    // counts stop short of the log no more (bounded: 30 s).
    let start = Instant::now();
    let (answer, out) = loop {
        let out = loupe_run(&nats.url, &dir, &script, &["--arg", &port_arg])?;
        if out.code != 0 {
            bail!("loupe run failed ({}): {}", out.code, out.stderr);
        }
        let a = out.json()?;
        if counts(table(&a, "requests")) == truth || start.elapsed() > Duration::from_secs(30) {
            break (a, out);
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    assert_eq!(
        counts(table(&answer, "requests")),
        truth,
        "rows per (method, path, status) = nginx's access log lines; stderr: {}",
        out.stderr
    );

    // The documented JSON shape.
    let t = table(&answer, "requests");
    assert_eq!(
        t["columns"],
        serde_json::json!(["req_method", "req_path", "resp_status", "n"])
    );
    assert_eq!(
        t["types"],
        serde_json::json!(["STRING", "STRING", "INT64", "INT64"])
    );
    assert_eq!(answer["partial"], false);
    assert_eq!(answer["nodes"]["answered"][0]["node"], "itest-q1");
    assert_eq!(answer["nodes"]["missing"], serde_json::json!([]));
    assert!(
        out.stderr.contains("1 node answered (itest-q1)"),
        "{}",
        out.stderr
    );

    // p50 of the slow path: the upstream's rows near its known 200 ms, and
    // nginx's (which include the upstream) too.
    for side in table(&answer, "slow")["rows"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let p50 = side["p50"].as_f64().unwrap_or(0.0);
        assert_eq!(side["n"], 10, "{side}");
        assert!((190.0..230.0).contains(&p50), "p50 {p50} ms on {side}");
    }
    assert_eq!(
        table(&answer, "slow")["rows"].as_array().map(|r| r.len()),
        Some(2)
    );

    // A result larger than one NATS message arrives whole, in chunks.
    let raw = "import px\ndf = px.DataFrame('http_events', start_time='-5m')\npx.display(df[df.trace_role == 2][['req_path', 'local_port', 'req_headers']], 'raw')\n";
    let out = loupe_run(&nats.url, &dir, raw, &[])?;
    let a = out.json()?;
    let rows = table(&a, "raw")["rows"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let nginx_rows = rows.iter().filter(|r| r["local_port"] == port).count() as i64;
    assert_eq!(
        nginx_rows, logged,
        "every nginx server row, unchunked or not"
    );
    assert!(
        out.stdout.len() > 2 << 20,
        "the answer ({} bytes) exceeded a NATS message",
        out.stdout.len()
    );

    // Either planner can die: the other answers.
    p1.proc.kill();
    let out = loupe_run(&nats.url, &dir, raw, &[])?;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.json()?["planner"], "p2");
    Ok(())
}

#[test]
fn bad_scripts_dead_nodes_and_no_planner_are_told_clearly() -> Result<()> {
    let dir = temp_dir("query-faults");
    let nats = Nats::start(&dir)?;
    let mut agent = Agent::start(&nats, "itest-alive", &dir, &[])?;
    let count = "import px\ndf = px.DataFrame('http_events', start_time='-1m')\npx.display(df.agg(n=('time_', px.count)), 'n')\n";

    // No planner yet: a clear error within seconds, naming the URL.
    let t = Instant::now();
    let out = loupe_run(&nats.url, &dir, count, &[])?;
    assert_ne!(out.code, 0);
    assert!(
        out.stderr.contains("no planner is listening") && out.stderr.contains(&nats.url),
        "{}",
        out.stderr
    );
    assert!(t.elapsed() < Duration::from_secs(5));

    let planner = Planner::start(&nats.url, "pf", &dir)?;
    // A script that does not compile: exit 2, the error with its place,
    // and nothing reaches the planner.
    let out = loupe_run(
        &nats.url,
        &dir,
        "import px\npx.display(px.DataFrame('nope'))\n",
        &[],
    )?;
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains(":2:25: unknown table \"nope\""),
        "{}",
        out.stderr
    );
    assert!(!std::fs::read_to_string(&planner.log)?.contains("query answered"));

    // A node that dies: named, and the answer is partial.
    let mut doomed = Agent::start(&nats, "itest-doomed", &dir, &[])?;
    std::thread::sleep(Duration::from_secs(3));
    let out = loupe_run(&nats.url, &dir, count, &[])?;
    assert_eq!(
        out.json()?["nodes"]["answered"].as_array().map(|a| a.len()),
        Some(2),
        "{}",
        out.stderr
    );
    doomed.proc.kill_hard();
    let t = Instant::now();
    let out = loupe_run(&nats.url, &dir, count, &["--timeout", "2s"])?;
    let a = out.json()?;
    assert_eq!(a["partial"], true, "{}", out.stderr);
    assert_eq!(a["nodes"]["missing"][0]["node"], "itest-doomed");
    assert_eq!(a["nodes"]["answered"][0]["node"], "itest-alive");
    assert!(
        out.stderr.contains("MISSING node itest-doomed") && out.stderr.contains("PARTIAL"),
        "{}",
        out.stderr
    );
    assert!(t.elapsed() < Duration::from_secs(8), "{:?}", t.elapsed());

    // A node that hangs (SIGSTOP) mid-life: its fragment is never acked,
    // the answer is partial and says so; once it runs again it answers
    // again, and the fragment it was sent while frozen is dropped (its
    // deadline passed, its query was cancelled).
    let mut frozen = Agent::start(&nats, "itest-frozen", &dir, &[])?;
    std::thread::sleep(Duration::from_secs(3));
    let pid = frozen.proc.pid() as i32;
    // SAFETY: kill(2) on the pid of a child this test spawned.
    unsafe { libc::kill(pid, libc::SIGSTOP) };
    let out = loupe_run(&nats.url, &dir, count, &["--timeout", "2s"])?;
    // SAFETY: as above.
    unsafe { libc::kill(pid, libc::SIGCONT) };
    let a = out.json()?;
    assert_eq!(a["partial"], true, "{}", out.stderr);
    let missing: Vec<String> = a["nodes"]["missing"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| format!("{} {}", m["node"], m["reason"]))
        .collect();
    assert!(
        missing
            .iter()
            .any(|m| m.contains("itest-frozen") && m.contains("did not ack")),
        "{missing:?}"
    );
    std::thread::sleep(Duration::from_secs(3));
    let out = loupe_run(&nats.url, &dir, count, &[])?;
    let a = out.json()?;
    let answered: Vec<&str> = a["nodes"]["answered"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|n| n["node"].as_str())
        .collect();
    assert!(
        answered.contains(&"itest-frozen") && answered.contains(&"itest-alive"),
        "{answered:?}: {}",
        out.stderr
    );

    // No fragment outlives its query, on any node.
    let check = run(loupe().args(["check", "--nats", &nats.url]))?;
    for node in ["itest-alive", "itest-frozen"] {
        let line = check
            .lines()
            .find(|l| l.contains(&format!("{node}:")))
            .unwrap_or_default();
        assert!(
            line.ends_with("fragments active 0"),
            "{node}: {line:?} in\n{check}"
        );
    }
    assert!(agent.proc.alive() && frozen.proc.alive());
    Ok(())
}
