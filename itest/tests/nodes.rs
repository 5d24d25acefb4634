//! `loupe nodes` (issue 6, item 7): one row per node from the planner's
//! registry; a node that stops reporting is shown as such, loudly (its row,
//! a warning, exit code 1), never silently missing. Real nats-server,
//! planner and agents; the agent is killed with SIGKILL, so it says nothing
//! on its way out.

use anyhow::Result;
use loupe_itest::*;
use serde_json::Value;
use std::process::Output;
use std::time::{Duration, Instant};

fn nodes(nats_url: &str, json: bool) -> Result<Output> {
    let mut c = loupe();
    c.args(["nodes", "--nats", nats_url]);
    if json {
        c.args(["-o", "json"]);
    }
    Ok(c.output()?)
}

fn parse(o: &Output) -> Result<Value> {
    Ok(serde_json::from_slice(&o.stdout)?)
}

fn node<'a>(v: &'a Value, name: &str) -> &'a Value {
    v["nodes"]
        .as_array()
        .and_then(|ns| ns.iter().find(|n| n["node"] == name))
        .unwrap_or(&Value::Null)
}

#[test]
fn nodes_lists_every_agent_and_shows_a_silent_one_loudly() -> Result<()> {
    let dir = temp_dir("nodes");
    let nats = Nats::start(&dir)?;

    // No planner yet: a clear error, at once.
    let t = Instant::now();
    let o = nodes(&nats.url, false)?;
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(err.contains("no planner is listening"), "{err}");
    assert!(t.elapsed() < Duration::from_secs(5));

    let _planner = Planner::start(&nats.url, "p1", &dir)?;
    let _a1 = Agent::start(&nats, "itest-n1", &dir, &["--retention-mb", "64"])?;
    let mut a2 = Agent::start(&nats, "itest-n2", &dir, &[])?;
    // Two heartbeats each (every 2 s) give the planner a rate.
    let t = Instant::now();
    let v = loop {
        let o = nodes(&nats.url, true)?;
        let v = parse(&o)?;
        let ready = ["itest-n1", "itest-n2"]
            .iter()
            .all(|n| node(&v, n)["events_per_s"].is_number());
        if ready || t.elapsed() > Duration::from_secs(15) {
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
            break v;
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    for name in ["itest-n1", "itest-n2"] {
        let n = node(&v, name);
        assert_eq!(n["state"], "ok", "{v:#}");
        assert!(n["probes_attached"].as_u64() > Some(0), "{n}");
        assert_eq!(n["probes_attached"], n["probes_total"], "{n}");
        assert!(n["events_per_s"].as_f64() >= Some(0.0), "{n}");
        assert!(n["last_seen_s"].as_f64() < Some(5.0), "{n}");
        assert_eq!(n["fragments_active"], 0, "{n}");
    }
    assert_eq!(
        node(&v, "itest-n1")["retention_max_bytes"].as_u64(),
        Some(64 << 20)
    );

    // One agent dies without a word: it is listed, marked, and the command fails.
    a2.proc.kill_hard();
    let alive_within = v["alive_within_s"].as_f64().unwrap_or(10.0);
    std::thread::sleep(Duration::from_secs_f64(alive_within + 1.0));
    let o = nodes(&nats.url, true)?;
    assert_eq!(o.status.code(), Some(1));
    let v = parse(&o)?;
    assert_eq!(node(&v, "itest-n1")["state"], "ok", "{v:#}");
    assert_eq!(node(&v, "itest-n2")["state"], "not_reporting", "{v:#}");
    assert!(node(&v, "itest-n2")["last_seen_s"].as_f64() > Some(alive_within));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("WARNING") && err.contains("itest-n2"), "{err}");
    let o = nodes(&nats.url, false)?;
    let table = String::from_utf8_lossy(&o.stdout);
    let row = table
        .lines()
        .find(|l| l.starts_with("itest-n2"))
        .unwrap_or("");
    assert!(row.contains("NOT REPORTING"), "{table}");
    Ok(())
}
