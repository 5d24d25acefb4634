//! `loupe demo --once`: starts NATS, a planner, an agent and the workload,
//! answers both demo queries within seconds, and leaves nothing running.
//!
//! Needs root (eBPF). Run through the README's test command.

use anyhow::Result;
use loupe_itest::*;
use serde_json::Value;
use std::process::Command;
use std::time::{Duration, Instant};

fn rows<'a>(doc: &'a Value, table: &str) -> Vec<&'a Value> {
    doc["tables"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|t| t["name"] == table)
        .flat_map(|t| t["rows"].as_array().into_iter().flatten())
        .collect()
}

#[test]
fn the_demo_shows_the_slow_dependency_and_stops_everything() -> Result<()> {
    let port = free_port();
    let url = format!("nats://127.0.0.1:{port}");
    let t = Instant::now();
    let out = loupe()
        .args(["demo", "--once", "-o", "json", "--nats", &url])
        .output()?;
    let took = t.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "demo failed: {stderr}");
    assert!(took < Duration::from_secs(60), "demo took {took:?}");
    let docs: Vec<Value> = serde_json::Deserializer::from_slice(&out.stdout)
        .into_iter::<Value>()
        .collect::<Result<_, _>>()?;
    assert_eq!(docs.len(), 2, "{}", String::from_utf8_lossy(&out.stdout));

    // The slow dependency is the slowest server, ~110-130 ms, and the
    // frontend that waits for it comes right with it.
    let slow = rows(&docs[0], "Slowest endpoints");
    assert!(!slow.is_empty(), "{stderr}");
    let svc = |r: &Value| r["service"].as_str().unwrap_or_default().to_string();
    let top2: Vec<String> = slow.iter().take(2).map(|r| svc(r)).collect();
    assert!(
        top2.contains(&"demo/recommendations".to_string()),
        "{top2:?}"
    );
    assert!(top2.contains(&"demo/frontend".to_string()), "{top2:?}");
    for r in &slow {
        let p50 = r["p50_ms"].as_f64().unwrap_or(0.0);
        if svc(r) == "demo/recommendations" {
            assert!((105.0..140.0).contains(&p50), "recommendations p50 {p50}");
        }
        if svc(r) == "demo/catalog" {
            assert!(p50 < 20.0, "catalog p50 {p50}");
        }
    }

    // Every edge of the workload, named on both ends.
    let edges: Vec<(String, String)> = rows(&docs[1], "Dependencies")
        .iter()
        .map(|r| {
            (
                r["caller"].as_str().unwrap_or_default().to_string(),
                r["callee"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    for (a, b) in [
        ("demo/loadgen", "demo/frontend"),
        ("demo/frontend", "demo/catalog"),
        ("demo/frontend", "demo/recommendations"),
        ("demo/frontend", "demo/cart"),
        ("demo/cart", "demo/catalog"),
    ] {
        assert!(
            edges.contains(&(a.into(), b.into())),
            "{a} -> {b} missing from {edges:?}"
        );
    }

    // Nothing it started is left: its nats-server's port is closed and no
    // demo service runs.
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "nats-server still up"
    );
    let left = Command::new("pgrep")
        .args(["-f", "loupe demo-service"])
        .output()?;
    assert!(
        left.stdout.is_empty(),
        "left running: {}",
        String::from_utf8_lossy(&left.stdout)
    );
    Ok(())
}
