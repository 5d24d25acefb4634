//! Many nodes on one kernel (issue 6, item 1): each node's workload runs in
//! its own network namespace (made by the test), and each agent is told its
//! node's namespaces (`--netns`), so it observes only them. The same
//! traffic is watched at once by three deployments: 3 nodes (a 3-server
//! NATS cluster, 2 planners, agents on different servers), 2 nodes and 1
//! node. Their answers to the same query must agree: counts exactly, and
//! latency sums and quantiles as closely as their inputs allow. The inputs
//! are not identical: every agent has its own probes on the same syscalls,
//! and each stamps the syscall with its own `bpf_ktime_get_ns()` call, after
//! the other agents' probes ran, usually microseconds apart, but an
//! interrupt between two agents' probes can make it a hundred. So the test
//! takes each request's latency as both deployments measured it, and allows
//! the largest difference `d` found: any exact quantile of the two samples
//! is at most `d` apart, and each sketch adds at most 1 % (the DDSketch
//! bound) of its own value.
//!
//! The 3-node deployment's planners merge with fan-in 2, so its partials
//! go through a merge node (a tree of one level): its answers must agree
//! all the same.
//!
//! Then faults of the 3-node deployment (issue 6, item 6): a planner killed
//! with SIGKILL, a NATS server of the cluster killed and restarted; queries
//! keep being answered by every node. Last, the merge node killed with
//! SIGKILL: the answer comes, partial, naming it.

use anyhow::{Result, bail};
use loupe_itest::cluster::{NatsCluster, Netns};
use loupe_itest::*;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

/// The same port in every namespace: they are separate networks.
const PORT: u16 = 18080;

/// Each namespace's requests: path, count, server delay in ms.
const WORK: [(&str, &[&str]); 3] = [
    ("a", &["/a:30:2", "/shared:10:1"]),
    ("b", &["/b:20:5", "/shared:10:1"]),
    ("c", &["/c:10:10", "/shared:10:1"]),
];
const TOTAL: i64 = 90;

fn script() -> Result<String> {
    Ok(std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scripts/ns_paths.pxl"),
    )?)
}

fn table<'a>(answer: &'a Value, name: &str) -> &'a [Value] {
    answer["tables"]
        .as_array()
        .and_then(|ts| ts.iter().find(|t| t["name"] == name))
        .and_then(|t| t["rows"].as_array())
        .map_or(&[], |v| v.as_slice())
}

/// path -> (n, p50, p99, total)
type Paths = BTreeMap<String, (i64, f64, f64, i64)>;

fn paths(answer: &Value) -> Paths {
    table(answer, "paths")
        .iter()
        .map(|r| {
            (
                r["req_path"].as_str().unwrap_or_default().to_string(),
                (
                    r["n"].as_i64().unwrap_or(-1),
                    r["p50"].as_f64().unwrap_or(-1.0),
                    r["p99"].as_f64().unwrap_or(-1.0),
                    r["total"].as_i64().unwrap_or(-1),
                ),
            )
        })
        .collect()
}

/// path -> each request's latency (ns), in the order the requests were made.
type Latencies = BTreeMap<String, Vec<f64>>;

fn latencies(answer: &Value) -> Latencies {
    let mut rows: Vec<(i64, String, f64)> = table(answer, "requests")
        .iter()
        .map(|r| {
            (
                r["time_"].as_i64().unwrap_or(0),
                r["req_path"].as_str().unwrap_or_default().to_string(),
                r["resp_latency"].as_f64().unwrap_or(-1.0),
            )
        })
        .collect();
    rows.sort_by_key(|r| r.0);
    let mut out = Latencies::new();
    for (_, path, l) in rows {
        out.entry(path).or_default().push(l);
    }
    out
}

/// Polls until the deployment has every request, then returns its answer.
fn answer(nats_url: &str, dir: &Path, nodes: usize) -> Result<Value> {
    let t = Instant::now();
    loop {
        let out = loupe_run(
            nats_url,
            dir,
            &script()?,
            &["--arg", &format!("port={PORT}")],
        )?;
        if out.code == 0 {
            let a = out.json()?;
            let n: i64 = paths(&a).values().map(|p| p.0).sum();
            let answered = a["nodes"]["answered"].as_array().map_or(0, Vec::len);
            if n == TOTAL && answered == nodes {
                return Ok(a);
            }
            if t.elapsed() > Duration::from_secs(30) {
                bail!("{nodes}-node deployment: {n} of {TOTAL} requests, {answered} nodes: {a:#}");
            }
        } else if t.elapsed() > Duration::from_secs(30) {
            bail!("loupe run failed ({}): {}", out.code, out.stderr);
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

#[test]
fn the_same_traffic_gives_the_same_answer_on_1_2_and_3_nodes() -> Result<()> {
    let dir = temp_dir("multinode");
    let ns: Vec<Netns> = WORK
        .iter()
        .map(|(tag, _)| Netns::create(tag))
        .collect::<Result<_>>()?;
    // Small rings and stores: six agents share this machine.
    let start = |url: &str, node: &str, nss: &[&Netns], d: &Path| -> Result<Agent> {
        let mut extra = vec!["--ring-kib", "8192", "--retention-mb", "64"];
        for n in nss {
            extra.extend(["--netns", n.name.as_str()]);
        }
        Agent::start_with_url(url, node, d, &extra)
    };

    // Three nodes: a 3-server cluster, 2 planners, one agent per server.
    let d3 = dir.join("three");
    std::fs::create_dir_all(&d3)?;
    let mut cluster = NatsCluster::start(&d3, 3)?;
    // Their merge fan-in is 2, so partials merge on nodes: n1 merges its own
    // and n2's, n3 sends straight to the planner.
    let fanin = ["--merge-fanin", "2"];
    let mut planner1 = Planner::start_with(&cluster.urls[0], "p1", &d3, &fanin)?;
    let _p2 = Planner::start_with(&cluster.urls[1], "p2", &d3, &fanin)?;
    let mut n1 = start(&cluster.urls[0], "n1", &[&ns[0]], &d3)?;
    let _n2 = start(&cluster.urls[1], "n2", &[&ns[1]], &d3)?;
    let _n3 = start(&cluster.urls[2], "n3", &[&ns[2]], &d3)?;
    // Two nodes: the second node has two namespaces.
    let d2 = dir.join("two");
    std::fs::create_dir_all(&d2)?;
    let nats2 = Nats::start(&d2)?;
    let _q = Planner::start(&nats2.url, "q", &d2)?;
    let _m1 = start(&nats2.url, "m1", &[&ns[0]], &d2)?;
    let _m2 = start(&nats2.url, "m2", &[&ns[1], &ns[2]], &d2)?;
    // One node with all three.
    let d1 = dir.join("one");
    std::fs::create_dir_all(&d1)?;
    let nats1 = Nats::start(&d1)?;
    let _r = Planner::start(&nats1.url, "r", &d1)?;
    let _s1 = start(&nats1.url, "s1", &[&ns[0], &ns[1], &ns[2]], &d1)?;
    std::thread::sleep(Duration::from_secs(3));

    let script_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scripts");
    for (n, (_, plan)) in ns.iter().zip(WORK) {
        let out = run(n
            .exec("python3")
            .arg(script_dir.join("ns_http.py"))
            .arg(PORT.to_string())
            .args(plan))?;
        let want: i64 = plan
            .iter()
            .map(|p| {
                p.split(':')
                    .nth(1)
                    .and_then(|c| c.parse::<i64>().ok())
                    .unwrap_or(0)
            })
            .sum();
        assert_eq!(out.trim(), want.to_string(), "{} answered all", n.name);
    }

    let a3 = answer(&cluster.urls[2], &d3, 3)?;
    let a2 = answer(&nats2.url, &d2, 2)?;
    let a1 = answer(&nats1.url, &d1, 1)?;
    assert_eq!(a3["transfer"]["merge_levels"], 1, "{:#}", a3["transfer"]);
    assert_eq!(a2["transfer"]["merge_levels"], 0, "{:#}", a2["transfer"]);
    let (p3, p2, p1) = (paths(&a3), paths(&a2), paths(&a1));
    let lat: BTreeMap<&str, Latencies> = [("3 nodes", &a3), ("2 nodes", &a2), ("1 node", &a1)]
        .into_iter()
        .map(|(k, a)| (k, latencies(a)))
        .collect();
    let want: BTreeMap<&str, i64> = [("/a", 30), ("/b", 20), ("/c", 10), ("/shared", 30)].into();
    let counts: BTreeMap<&str, i64> = p1.iter().map(|(k, v)| (k.as_str(), v.0)).collect();
    assert_eq!(counts, want, "1 node: {a1:#}");
    for (name, p) in [("2 nodes", &p2), ("3 nodes", &p3)] {
        assert_eq!(
            p.keys().collect::<Vec<_>>(),
            p1.keys().collect::<Vec<_>>(),
            "{name}"
        );
        for (path, (n, p50, p99, total)) in p {
            let one = &p1[path];
            assert_eq!(*n, one.0, "{name} {path}: count");
            let (mine, theirs) = (&lat[name][path], &lat["1 node"][path]);
            assert_eq!(mine.len(), theirs.len(), "{name} {path}: requests");
            let d = mine
                .iter()
                .zip(theirs)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f64::max);
            eprintln!("{name} {path}: one request differs by up to {d} ns");
            for (q, (mine, theirs), slack) in [
                ("p50", (*p50, one.1), d),
                ("p99", (*p99, one.2), d),
                ("sum", (*total as f64, one.3 as f64), d * *n as f64),
            ] {
                let q_err = if q == "sum" {
                    0.0
                } else {
                    0.01 * (mine.abs() + theirs.abs())
                };
                assert!(
                    (mine - theirs).abs() <= q_err + slack + 1.0,
                    "{name} {path} {q}: {mine} vs 1 node's {theirs} (largest difference of one request {d} ns)"
                );
            }
        }
    }
    // Each node saw only its own namespaces.
    for r in table(&a3, "per_node") {
        let (node, path) = (
            r["node"].as_str().unwrap_or(""),
            r["req_path"].as_str().unwrap_or(""),
        );
        let ok = matches!(
            (node, path),
            ("n1", "/a" | "/shared") | ("n2", "/b" | "/shared") | ("n3", "/c" | "/shared")
        );
        assert!(ok, "{node} saw {path}: {a3:#}");
    }

    // Faults of the 3-node deployment. One planner dies: the other answers.
    planner1.proc.kill_hard();
    let a = answer(&cluster.urls[2], &d3, 3)?;
    assert_eq!(paths(&a).values().map(|p| p.0).sum::<i64>(), TOTAL);
    assert_eq!(a["planner"], "p2", "{a:#}");
    // The server p2 and n2 are connected to dies: they reconnect to the
    // others (the cluster told them where), and queries are answered by all
    // three nodes again.
    cluster.kill(1);
    let a = answer(&cluster.urls[2], &d3, 3)?;
    assert_eq!(paths(&a).values().map(|p| p.0).sum::<i64>(), TOTAL);
    // It comes back: the cluster is whole, and answers through it too.
    cluster.restart(1)?;
    let a = answer(&cluster.urls[1], &d3, 3)?;
    assert_eq!(paths(&a).values().map(|p| p.0).sum::<i64>(), TOTAL);
    // The merge node dies (SIGKILL): it is still thought alive, so it is
    // asked, cannot take its part, and the partials come straight to the
    // planner; the answer is partial, names n1, and has the others' data.
    n1.proc.kill_hard();
    let out = loupe_run(
        &cluster.urls[2],
        &d3,
        &script()?,
        &["--arg", &format!("port={PORT}")],
    )?;
    let a = out.json()?;
    assert_eq!(a["partial"], true, "{a:#}");
    let missing: Vec<&str> = a["nodes"]["missing"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| m["node"].as_str())
        .collect();
    assert_eq!(missing, ["n1"], "{a:#}");
    let got: i64 = paths(&a).values().map(|p| p.0).sum();
    assert_eq!(got, TOTAL - 40, "n2's and n3's requests: {a:#}");
    Ok(())
}
