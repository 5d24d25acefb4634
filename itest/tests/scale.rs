//! The merge tree at scale (issue 6, item 2): 200 simulated nodes in two
//! processes (`loupe sim-nodes`: the agent's own NATS face and table store,
//! rows made by a fixed rule, no eBPF) answer one query through a planner
//! whose merge fan-in is 8, so partials merge on nodes in two levels
//! (200 -> 25 -> 3, plus one group of one passed up) and the planner
//! receives 4 of them, not 200. The answer
//! must be exactly what the rule gives, computed here on its own, and name
//! all 200 nodes.
//!
//! `cargo test -p loupe-itest --test scale -- --ignored --nocapture` runs
//! the benchmark instead: the same query flat and with fan-in 16 and 8,
//! the time and the bytes crossing NATS (BENCHMARKS.md).

use anyhow::{Result, bail};
use loupe_itest::*;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

const NODES: usize = 200;
const PER_PROCESS: usize = 100;
const ROWS: usize = 500;

fn script() -> Result<String> {
    Ok(std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scripts/sim_paths.pxl"),
    )?)
}

/// path -> (n, errors, total latency, slowest), by the simulation's rule
/// (see nodes/src/sim.rs).
fn expected() -> BTreeMap<String, (i64, i64, i64, i64)> {
    let mut m: BTreeMap<String, (i64, i64, i64, i64)> = BTreeMap::new();
    for i in 0..NODES {
        for r in 0..ROWS {
            let e = m.entry(format!("/p{}", (i + r) % 5)).or_default();
            let lat = (1 + ((i * 7 + r) % 100) as i64) * 1_000_000;
            e.0 += 1;
            e.1 += i64::from((i + r).is_multiple_of(7));
            e.2 += lat;
            e.3 = e.3.max(lat);
        }
    }
    m
}

fn paths(a: &Value) -> BTreeMap<String, (i64, i64, i64, i64)> {
    a["tables"][0]["rows"]
        .as_array()
        .map(|rows| {
            rows.iter()
                .map(|r| {
                    (
                        r["req_path"].as_str().unwrap_or_default().to_string(),
                        (
                            r["n"].as_i64().unwrap_or(-1),
                            r["errors"].as_i64().unwrap_or(-1),
                            r["total"].as_i64().unwrap_or(-1),
                            r["slowest"].as_i64().unwrap_or(-1),
                        ),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

struct Sim {
    nats: Nats,
    _procs: Vec<SimNodes>,
    dir: TempDir,
}

fn simulation(tag: &str) -> Result<Sim> {
    let dir = temp_dir(tag);
    let nats = Nats::start_monitored(&dir)?;
    let procs = (0..NODES / PER_PROCESS)
        .map(|p| SimNodes::start(&nats.url, &dir, "sim", p * PER_PROCESS, PER_PROCESS, ROWS))
        .collect::<Result<Vec<_>>>()?;
    Ok(Sim {
        nats,
        _procs: procs,
        dir,
    })
}

/// Polls until every node answers, then returns the answer.
fn answer(sim: &Sim) -> Result<(Value, Duration)> {
    let t = Instant::now();
    loop {
        let started = Instant::now();
        let out = loupe_run(&sim.nats.url, &sim.dir, &script()?, &["--timeout", "10s"])?;
        let took = started.elapsed();
        if out.code == 0 {
            let a = out.json()?;
            if a["nodes"]["answered"].as_array().map_or(0, Vec::len) == NODES {
                return Ok((a, took));
            }
            if t.elapsed() > Duration::from_secs(60) {
                bail!("not every node answered: {:#}", a["nodes"]);
            }
        } else if t.elapsed() > Duration::from_secs(60) {
            bail!("loupe run failed ({}): {}", out.code, out.stderr);
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

#[test]
fn two_hundred_nodes_answer_one_query_through_a_merge_tree() -> Result<()> {
    let sim = simulation("scale")?;
    let _planner = Planner::start_with(&sim.nats.url, "p", &sim.dir, &["--merge-fanin", "8"])?;
    let (a, _) = answer(&sim)?;
    assert_eq!(paths(&a), expected(), "{:#}", a["tables"]);
    assert_eq!(a["partial"], false);
    assert_eq!(a["nodes"]["missing"].as_array().map_or(0, Vec::len), 0);
    let t = &a["transfer"];
    assert_eq!(t["merge_levels"], 2, "{t}");
    // Four merge nodes send to the planner, one chunk each (the combined
    // partial of five paths is small).
    assert_eq!(t["planner_messages"], 4, "{t}");
    // Every node's partial reached a level-0 merge node (25 of them); 24
    // of those reached the three level-1 merge nodes, and the 25th, alone
    // in its group, went straight up: 200 + 24.
    assert_eq!(t["merge_messages"], (NODES + 24) as i64, "{t}");
    Ok(())
}

/// Server-side counters of every connection whose name starts with `prefix`.
fn conn_bytes(nats: &Nats, prefix: &str) -> Result<(i64, i64)> {
    let c = nats.monitor("connz?limit=1024")?;
    let mut out = (0, 0);
    for conn in c["connections"].as_array().into_iter().flatten() {
        if conn["name"].as_str().is_some_and(|n| n.starts_with(prefix)) {
            // The server's out is what the client received.
            out.0 += conn["out_msgs"].as_i64().unwrap_or(0);
            out.1 += conn["out_bytes"].as_i64().unwrap_or(0);
        }
    }
    Ok(out)
}

#[test]
#[ignore = "a benchmark: run with --ignored --nocapture"]
fn bench_merge_tree_at_scale() -> Result<()> {
    let sim = simulation("scale-bench")?;
    println!(
        "{NODES} simulated nodes in {} processes, {ROWS} rows each",
        NODES / PER_PROCESS
    );
    println!(
        "{:>8} {:>7} {:>10} {:>12} {:>13} {:>12} {:>17} {:>15} {:>15}",
        "fan-in",
        "levels",
        "query ms",
        "loupe run ms",
        "planner msgs",
        "planner KiB",
        "to planner KiB*",
        "merge-node msgs",
        "server out KiB*"
    );
    println!("(* counted by nats-server, during the query: heartbeats included)");
    for fanin in ["1000", "16", "8"] {
        let name = format!("p{fanin}");
        let mut planner =
            Planner::start_with(&sim.nats.url, &name, &sim.dir, &["--merge-fanin", fanin])?;
        let (a, _) = answer(&sim)?;
        assert_eq!(paths(&a), expected());
        let mut ms = Vec::new();
        let mut runs = Vec::new();
        let mut server = Vec::new();
        let mut last = Value::Null;
        let mut to_planner = Vec::new();
        let planner_conn = format!("loupe-planner-{name}");
        for _ in 0..5 {
            let before = sim.nats.monitor("varz")?;
            let p0 = conn_bytes(&sim.nats, &planner_conn)?;
            let (a, took) = answer(&sim)?;
            let p1 = conn_bytes(&sim.nats, &planner_conn)?;
            let after = sim.nats.monitor("varz")?;
            to_planner.push(p1.1 - p0.1);
            server.push(
                after["out_bytes"].as_i64().unwrap_or(0)
                    - before["out_bytes"].as_i64().unwrap_or(0),
            );
            ms.push(a["elapsed_ms"].as_f64().unwrap_or(0.0));
            runs.push(took.as_secs_f64() * 1e3);
            last = a;
        }
        ms.sort_by(f64::total_cmp);
        runs.sort_by(f64::total_cmp);
        server.sort();
        to_planner.sort();
        let t = &last["transfer"];
        println!(
            "{fanin:>8} {:>7} {:>10.1} {:>12.1} {:>13} {:>12.1} {:>17.1} {:>15} {:>15.1}",
            t["merge_levels"],
            ms[ms.len() / 2],
            runs[runs.len() / 2],
            t["planner_messages"],
            t["planner_bytes"].as_f64().unwrap_or(0.0) / 1024.0,
            to_planner[to_planner.len() / 2] as f64 / 1024.0,
            t["merge_messages"],
            server[server.len() / 2] as f64 / 1024.0,
        );
        planner.proc.kill();
        std::thread::sleep(Duration::from_millis(300));
    }
    Ok(())
}

/// Nodes whose clocks are 30 s ahead and 30 s behind the planner's: `loupe
/// nodes` shows each skew and warns; a one-shot query is answered by all of
/// them (their budget is a duration, not a time by the planner's clock) and
/// each answer names the skew of its node.
#[test]
fn skewed_node_clocks_are_reported_and_answer_all_the_same() -> Result<()> {
    let dir = temp_dir("skew");
    let nats = Nats::start(&dir)?;
    let _p = Planner::start(&nats.url, "p", &dir)?;
    let sims = [
        ("ok", 0usize, 2usize, 0i64),
        ("ahead", 10, 1, 30_000),
        ("behind", 20, 1, -30_000),
    ];
    let _procs = sims
        .into_iter()
        .map(|(prefix, first, count, offset)| {
            SimNodes::start_skewed(&nats.url, &dir, (prefix, first, count, 100), offset)
        })
        .collect::<Result<Vec<_>>>()?;
    let want: BTreeMap<&str, f64> = [
        ("ok-0000", 0.0),
        ("ok-0001", 0.0),
        ("ahead-0010", 30_000.0),
        ("behind-0020", -30_000.0),
    ]
    .into();
    // Every node heard from, with its skew.
    let t = Instant::now();
    let (v, stderr) = loop {
        let o = loupe()
            .args(["nodes", "-o", "json", "--nats", &nats.url])
            .output()?;
        let v: Value = serde_json::from_slice(&o.stdout).unwrap_or(Value::Null);
        let n = v["nodes"].as_array().map_or(0, Vec::len);
        if n == want.len() {
            break (v, String::from_utf8_lossy(&o.stderr).into_owned());
        }
        if t.elapsed() > Duration::from_secs(20) {
            bail!("{n} nodes: {v:#}");
        }
        std::thread::sleep(Duration::from_millis(300));
    };
    for n in v["nodes"].as_array().into_iter().flatten() {
        let name = n["node"].as_str().unwrap_or_default();
        let skew = n["clock_skew_ms"].as_f64().unwrap_or(f64::NAN);
        // Transit and scheduling of the status message: well under 500 ms.
        assert!((skew - want[name]).abs() < 500.0, "{name}: {skew} ms");
    }
    assert!(
        stderr.contains("node ahead-0010's clock is +30.0 s off"),
        "{stderr}"
    );
    assert!(
        stderr.contains("node behind-0020's clock is -30.0 s off"),
        "{stderr}"
    );

    let script = "import px\ndf = px.DataFrame('http_events', start_time='-10m')\npx.display(df.groupby('node').agg(n=('resp_latency', px.count)), 'per_node')\n";
    let out = loupe_run(&nats.url, &dir, script, &[])?;
    let a = out.json()?;
    assert_eq!(a["partial"], false, "{a:#}");
    let answered = a["nodes"]["answered"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(answered.len(), want.len(), "{a:#}");
    for r in &answered {
        let name = r["node"].as_str().unwrap_or_default();
        let skew = r["clock_skew_ms"].as_f64().unwrap_or(f64::NAN);
        assert!((skew - want[name]).abs() < 500.0, "{name}: {skew} ms");
    }
    Ok(())
}
