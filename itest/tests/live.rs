//! `loupe live` (issue 6, items 3 and 4): a continuous query refreshed every
//! second over a 3 s window, against a steady real HTTP workload whose
//! client logs when each request was answered (ground truth); and leases:
//! the CLI killed with SIGKILL leaves no fragment behind on any agent within
//! two lease periods; and an agent killed with SIGKILL during a live query:
//! the windows say so (partial, naming it), and when it comes back it
//! rejoins.

use anyhow::Result;
use loupe_itest::*;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn scripts() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/scripts"))
}

/// `loupe live` on the script, every second, JSON lines on a pipe.
fn live_cli(script: &Path, port: u16, nats_url: &str) -> Result<std::process::Child> {
    Ok(loupe()
        .arg("live")
        .arg("-f")
        .arg(script)
        .args(["--arg", &format!("port={port}")])
        .args(["--every", "1s", "-o", "json", "--nats", nats_url])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?)
}

#[test]
fn live_windows_count_what_the_client_saw_and_a_killed_subscriber_leaves_nothing() -> Result<()> {
    let dir = temp_dir("live");
    let nats = Nats::start(&dir)?;
    let _p1 = Planner::start(&nats.url, "p1", &dir)?;
    let _a1 = Agent::start(&nats, "itest-l1", &dir, &[])?;
    let mut a2 = Agent::start(&nats, "itest-l2", &dir, &[])?;
    std::thread::sleep(Duration::from_secs(3));

    let port = free_port();
    let truth = dir.join("answered.log");
    let mut load = Proc::spawn(
        "steady_http.py",
        Command::new("python3")
            .arg(scripts().join("steady_http.py"))
            .args([&port.to_string(), "/tick", "20", "14"])
            .arg(&truth),
        &dir.join("steady.out"),
    )?;
    // The load is running before the query starts.
    let t = Instant::now();
    while std::fs::read_to_string(&truth).map_or(0, |s| s.lines().count()) < 10
        && t.elapsed() < Duration::from_secs(10)
    {
        std::thread::sleep(Duration::from_millis(50));
    }
    let script = scripts().join("live_paths.pxl");
    let out = loupe()
        .arg("live")
        .arg("-f")
        .arg(&script)
        .args(["--arg", &format!("port={port}")])
        .args([
            "--every", "1s", "--window", "3s", "-o", "json", "--count", "6",
        ])
        .args(["--nats", &nats.url])
        .output()?;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let windows: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()?;
    assert_eq!(windows.len(), 6);
    let answered: Vec<i64> = std::fs::read_to_string(&truth)?
        .lines()
        .filter_map(|l| l.parse().ok())
        .collect();
    for w in &windows {
        let (start, end) = (
            w["window"]["start_ns"].as_i64().unwrap_or(0),
            w["window"]["end_ns"].as_i64().unwrap_or(0),
        );
        assert_eq!(end - start, 3_000_000_000, "{w}");
        let nodes: Vec<&str> = w["nodes"]["answered"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|n| n["node"].as_str())
            .collect();
        assert_eq!(nodes, ["itest-l1", "itest-l2"], "{w}");
        // Both agents see every request (one kernel): each row twice.
        let n: i64 = w["tables"][0]["rows"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|r| r["req_path"] == "/tick")
            .filter_map(|r| r["n"].as_i64())
            .sum();
        // The client's log is stamped just after the response arrived;
        // the row's time_ is the server's last write: a request near a
        // window edge may fall on the other side. So: within 2 per edge.
        let expected = answered
            .iter()
            .filter(|t| **t >= start && **t < end)
            .count() as i64;
        assert!(
            (n - 2 * expected).abs() <= 2 * 2,
            "window {start}..{end}: {n} rows, the client saw {expected} answers: {w}"
        );
    }
    let rows: i64 = windows
        .iter()
        .flat_map(|w| {
            w["tables"][0]["rows"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .filter_map(|r| r["n"].as_i64())
        .sum();
    assert!(rows > 0, "the windows saw the load");
    // Windows slide by one pane.
    for pair in windows.windows(2) {
        let a = pair[0]["window"]["end_ns"].as_i64().unwrap_or(0);
        let b = pair[1]["window"]["end_ns"].as_i64().unwrap_or(0);
        assert_eq!(b - a, 1_000_000_000);
    }
    assert_eq!(fragments_active(&nats.url)?, [0, 0], "--count ended it");

    // A subscriber killed with SIGKILL says nothing: the lease lapses.
    let mut cli = live_cli(&script, port, &nats.url)?;
    let mut first = String::new();
    BufReader::new(cli.stdout.take().expect("piped")).read_line(&mut first)?;
    assert!(first.contains("\"window\""), "{first}");
    assert_eq!(fragments_active(&nats.url)?, [1, 1]);
    cli.kill()?;
    cli.wait()?;
    let killed = Instant::now();
    let mut counts = fragments_active(&nats.url)?;
    while counts != [0, 0] && killed.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(200));
        counts = fragments_active(&nats.url)?;
    }
    let gone_after = killed.elapsed();
    assert_eq!(counts, [0, 0]);
    // Two lease periods (2 x 1 s), plus one `loupe check` round trip.
    assert!(gone_after < Duration::from_secs(4), "{gone_after:?}");

    // An agent dies during a live query, then comes back.
    let mut cli = live_cli(&script, port, &nats.url)?;
    let mut lines = BufReader::new(cli.stdout.take().expect("piped")).lines();
    let mut next = || -> Result<Value> {
        let l = lines
            .next()
            .ok_or_else(|| anyhow::anyhow!("live output ended"))??;
        Ok(serde_json::from_str(&l)?)
    };
    let answered = |w: &Value| -> Vec<String> {
        w["nodes"]["answered"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|n| n["node"].as_str().map(str::to_string))
            .collect()
    };
    let w = next()?;
    assert_eq!(answered(&w), ["itest-l1", "itest-l2"], "{w}");
    a2.proc.kill_hard();
    let killed = Instant::now();
    // Within the grace (one pane after the nodes' own), a window without it,
    // marked partial and naming it.
    let w = loop {
        let w = next()?;
        if answered(&w) == ["itest-l1"] || killed.elapsed() > Duration::from_secs(10) {
            break w;
        }
    };
    assert_eq!(answered(&w), ["itest-l1"], "{w}");
    assert_eq!(w["partial"], true, "{w}");
    assert!(
        w.to_string().contains("itest-l2"),
        "names the missing node: {w}"
    );
    let _a2 = Agent::start(&nats, "itest-l2", &dir, &[])?;
    let back = Instant::now();
    let w = loop {
        let w = next()?;
        if answered(&w).len() == 2 || back.elapsed() > Duration::from_secs(20) {
            break w;
        }
    };
    assert_eq!(answered(&w), ["itest-l1", "itest-l2"], "it rejoined: {w}");
    cli.kill()?;
    cli.wait()?;
    load.kill();
    Ok(())
}
