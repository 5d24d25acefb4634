//! Failures are contained, shown with real panics: `LOUPE_FAULT` (a hook
//! only the environment of a process sets) makes the planner's handling of
//! one query, one agent fragment and one agent tail panic. Each requester
//! hears at once why (not a timeout), the panics are counted, every process
//! stays up, and capture never stopped: traffic made after the panics is in
//! the next answer, next to the traffic made before.

use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use loupe_itest::*;
use serde_json::Value;

/// Requests per path as nginx served them (the server side: curl's side
/// is captured too).
const SCRIPT: &str = "import px\ndf = px.DataFrame('http_events', start_time='-5m')\ndf = df[df.trace_role == 2]\npx.display(df.groupby('req_path').agg(n=('resp_status', px.count)), 'paths')\n";

/// Requests per path in an answer.
fn counts(v: &Value) -> std::collections::BTreeMap<String, i64> {
    v["tables"][0]["rows"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| {
            (
                r["req_path"].as_str().unwrap_or("").to_string(),
                r["n"].as_i64().unwrap_or(0),
            )
        })
        .collect()
}

#[test]
fn a_panic_is_answered_at_once_counted_and_capture_goes_on() -> Result<()> {
    let dir = temp_dir("faults");
    let nats = Nats::start(&dir)?;
    let mut planner = Planner::start_env(
        &nats.url,
        "fp",
        &dir,
        &[],
        &[("LOUPE_FAULT", "planner-query:1")],
    )?;
    let mut agent = Agent::start_env(
        &nats.url,
        "n1",
        &dir,
        &[],
        &[("LOUPE_FAULT", "fragment:1,tail:1")],
    )?;
    let nginx = Nginx::start(&dir, None)?;
    // The planner knows the node (a list is not a query: no fault there).
    let start = Instant::now();
    loop {
        let out = run(loupe().args(["nodes", "-o", "json", "--nats", &nats.url]))?;
        let v: Value = serde_json::from_str(&out)?;
        if v["nodes"].as_array().is_some_and(|n| !n.is_empty()) {
            break;
        }
        if start.elapsed() > Duration::from_secs(20) {
            bail!("the planner never heard the agent: {out}");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    std::thread::sleep(Duration::from_secs(1));
    get_times(nginx.port, "/fault-before", 5)?;

    // 1. The planner's handling of this query panics: the CLI is told.
    let out = loupe_run(&nats.url, &dir, SCRIPT, &[])?;
    assert_ne!(out.code, 0, "{}", out.stdout);
    assert!(
        out.stderr.contains("a fault injected in planner-query"),
        "{}",
        out.stderr
    );
    // 2. The agent's fragment panics: the node's failure is the answer's,
    // with the panic's message, not "no answer by the deadline".
    let out = loupe_run(&nats.url, &dir, SCRIPT, &[])?;
    let said = format!("{}{}", out.stdout, out.stderr);
    assert!(
        said.contains("the fragment panicked: a fault injected in fragment"),
        "{said}"
    );
    // 3. The agent's tail handler panics: the reader is told.
    let tail = loupe()
        .args([
            "tail",
            "--table",
            "http_events",
            "--node",
            "n1",
            "--nats",
            &nats.url,
        ])
        .output()?;
    let stderr = String::from_utf8_lossy(&tail.stderr);
    assert!(
        stderr.contains("the node's tail panicked: a fault injected in tail"),
        "{stderr}"
    );

    // Capture went on: traffic after the panics is there, with the traffic
    // before them, and the same query now answers in full.
    get_times(nginx.port, "/fault-after", 5)?;
    let start = Instant::now();
    loop {
        let out = loupe_run(&nats.url, &dir, SCRIPT, &[])?;
        if out.code == 0 {
            let v = out.json()?;
            let c = counts(&v);
            if c.get("/fault-after") == Some(&5) {
                assert_eq!(c.get("/fault-before"), Some(&5), "{c:?}");
                assert_eq!(v["partial"], false, "{v}");
                break;
            }
        }
        if start.elapsed() > Duration::from_secs(20) {
            bail!(
                "the requests after the panics never became rows: {}{}",
                out.stdout,
                out.stderr
            );
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    assert!(planner.proc.alive(), "the planner died");
    assert!(agent.proc.alive(), "the agent died");
    let check = run(loupe().args(["check", "--nats", &nats.url]))?;
    for c in ["fragment", "tail"] {
        let line = format!("loupe_panics_total{{component=\"{c}\"}}");
        let n = check
            .lines()
            .find_map(|l| l.trim().strip_prefix(line.as_str()))
            .map(|v| v.trim().to_string());
        assert_eq!(n.as_deref(), Some("1"), "{check}");
    }
    let log = std::fs::read_to_string(&planner.log)?;
    assert!(log.contains("a panic was caught"), "{log}");
    Ok(())
}
