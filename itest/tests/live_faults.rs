//! Live queries under faults (issue 6, item 6), over a 3-server NATS
//! cluster with two planners and four simulated nodes on different servers:
//! a server of the cluster dies (the CLI and a planner were connected to
//! it) and comes back: the clients reconnect and the windows keep coming
//! from every node; then the planner serving the query dies with SIGKILL:
//! the CLI notices the silence, ends the old query everywhere and starts it
//! again on the other planner; the nodes end up with one live fragment
//! each, and none once the CLI is killed.

use anyhow::{Result, bail};
use loupe_itest::cluster::NatsCluster;
use loupe_itest::*;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::{Duration, Instant};

const SCRIPT: &str = "import px\ndf = px.DataFrame('http_events', start_time='-5m')\npx.display(df.groupby('node').agg(n=('resp_latency', px.count)), 'per_node')\n";
const NODES: [&str; 4] = ["sa-0000", "sa-0001", "sb-0010", "sb-0011"];

fn wall_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64)
}

fn answered(w: &Value) -> Vec<String> {
    let mut v: Vec<String> = w["nodes"]["answered"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|n| n["node"].as_str().map(String::from))
        .collect();
    v.sort();
    v
}

/// The next window for which `ok` holds, within `secs`.
fn wait_window(
    rx: &mpsc::Receiver<Value>,
    secs: u64,
    what: &str,
    ok: impl Fn(&Value) -> bool,
) -> Result<Value> {
    let until = Instant::now() + Duration::from_secs(secs);
    let mut last = Value::Null;
    while let Some(left) = until.checked_duration_since(Instant::now()) {
        match rx.recv_timeout(left) {
            Ok(w) if ok(&w) => return Ok(w),
            Ok(w) => last = w,
            Err(_) => break,
        }
    }
    bail!("no window {what} within {secs} s; the last one: {last:#}")
}

fn wait_fragments(nats_url: &str, want: u64, secs: u64) -> Result<()> {
    let t = Instant::now();
    loop {
        let f = fragments_active(nats_url)?;
        if f.len() == NODES.len() && f.iter().all(|n| *n == want) {
            return Ok(());
        }
        if t.elapsed() > Duration::from_secs(secs) {
            bail!(
                "fragments per node {f:?}, want {want} on each of {}",
                NODES.len()
            );
        }
        std::thread::sleep(Duration::from_millis(300));
    }
}

#[test]
fn live_queries_survive_a_nats_server_restart_and_a_planner_death() -> Result<()> {
    let dir = temp_dir("live-faults");
    let mut cluster = NatsCluster::start(&dir, 3)?;
    let mut p1 = Planner::start(&cluster.urls[1], "lp1", &dir)?;
    let mut p2 = Planner::start(&cluster.urls[2], "lp2", &dir)?;
    let _sa = SimNodes::start(&cluster.urls[0], &dir, "sa", 0, 2, 200)?;
    let _sb = SimNodes::start(&cluster.urls[2], &dir, "sb", 10, 2, 200)?;
    let script = dir.join("per_node.pxl");
    std::fs::write(&script, SCRIPT)?;
    std::thread::sleep(Duration::from_secs(3));
    let mut cli = loupe()
        .arg("live")
        .arg("-f")
        .arg(&script)
        .args(["--every", "1s", "--window", "2s", "-o", "json"])
        .args(["--nats", &cluster.urls[1]])
        .stdout(Stdio::piped())
        .stderr(Stdio::from(std::fs::File::create(dir.join("live.err"))?))
        .spawn()?;
    let stdout = cli
        .stdout
        .take()
        .ok_or_else(|| anyhow::anyhow!("no stdout"))?;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(|l| l.ok()) {
            if let Ok(v) = serde_json::from_str::<Value>(&line)
                && tx.send(v).is_err()
            {
                break;
            }
        }
    });
    let all = |w: &Value| answered(w) == NODES && w["partial"] == false;
    let first = wait_window(&rx, 20, "from every node", all)?;
    let serving = first["planner"].as_str().unwrap_or_default().to_string();
    wait_fragments(&cluster.urls[0], 1, 10)?;

    // The server the CLI and planner lp1 are connected to dies: they move
    // to the others, and windows from every node keep coming.
    cluster.kill(1);
    let killed = Instant::now();
    let after = |t: i64| move |w: &Value| all(w) && w["window"]["end_ns"].as_i64().unwrap_or(0) > t;
    wait_window(
        &rx,
        30,
        "from every node after a server died",
        after(wall_ns() + 1_000_000_000),
    )?;
    let recovered = killed.elapsed();
    cluster.restart(1)?;
    wait_window(
        &rx,
        30,
        "from every node after it came back",
        after(wall_ns()),
    )?;

    // The planner serving the query dies: the CLI restarts the query on the
    // other one.
    let other = if serving == "lp1" {
        p1.proc.kill_hard();
        "lp2"
    } else {
        p2.proc.kill_hard();
        "lp1"
    };
    let died = wall_ns();
    let w = wait_window(&rx, 40, "from the other planner", |w| {
        w["planner"] == other && after(died)(w)
    })?;
    assert_eq!(w["partial"], false, "{w:#}");
    // The old query's fragments were cancelled: one per node, the new one.
    wait_fragments(&cluster.urls[0], 1, 10)?;
    let err = std::fs::read_to_string(dir.join("live.err"))?;
    assert!(err.contains("restarted as"), "{err}");

    // The subscriber dies: nothing stays behind.
    cli.kill()?;
    let _ = cli.wait();
    wait_fragments(&cluster.urls[0], 0, 10)?;
    eprintln!(
        "a window from every node, of a pane after the server died, {:.1} s after",
        recovered.as_secs_f64()
    );
    Ok(())
}
