//! Plain hosts (issue 12, no cluster): a client's rows name the process it
//! called, by the listening socket at the other end, on its own host
//! (loopback) or on another Loupe node (which reported its listeners).
//! Two hosts are two network namespaces on one link, each with its agent.

use std::time::{Duration, Instant};

use anyhow::Result;
use loupe_itest::cluster::{Netns, veth};
use loupe_itest::*;

/// A python HTTP server in `ns` on `bind:port`, its service named by the
/// OpenTelemetry environment.
fn server(dir: &std::path::Path, ns: &Netns, bind: &str, port: u16, service: &str) -> Result<Proc> {
    let www = dir.join("www");
    std::fs::create_dir_all(&www)?;
    std::fs::write(www.join("index.html"), "ok")?;
    let p = Proc::spawn(
        "python http.server",
        ns.exec("python3")
            .args([
                "-m",
                "http.server",
                &port.to_string(),
                "--bind",
                bind,
                "--directory",
            ])
            .arg(&www)
            .env("OTEL_SERVICE_NAME", service),
        &dir.join(format!("http-{service}.log")),
    )?;
    let probe = if bind == "0.0.0.0" { "127.0.0.1" } else { bind };
    let start = Instant::now();
    while run(ns.exec("python3").args([
        "-c",
        &format!("import socket; socket.create_connection(('{probe}', {port}), 1)"),
    ]))
    .is_err()
    {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "{service} never listened"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(p)
}

#[test]
fn a_client_names_the_process_it_called_on_its_host_and_on_another() -> Result<()> {
    let dir = temp_dir("hosts");
    let nats = Nats::start(&dir)?;
    let _planner = Planner::start(&nats.url, "p1", &dir)?;
    let (a, b) = (Netns::create("ha")?, Netns::create("hb")?);
    veth(&a, "10.3.0.1", &b, "10.3.0.2", "h")?;
    let _agent_a = Agent::start(&nats, "ha", &dir, &["--netns", &a.name])?;
    let _agent_b = Agent::start(&nats, "hb", &dir, &["--netns", &b.name])?;
    let _cache = server(&dir, &a, "127.0.0.1", 9090, "cache")?;
    let _catalog = server(&dir, &b, "0.0.0.0", 8080, "catalog")?;
    // The agents report their listeners every 5 s.
    std::thread::sleep(Duration::from_secs(6));
    run(a.exec("python3").args([
        "-c",
        "import time, urllib.request\ntime.sleep(1)\nfor _ in range(3):\n    urllib.request.urlopen('http://127.0.0.1:9090/').read()\nfor _ in range(2):\n    urllib.request.urlopen('http://10.3.0.2:8080/').read()\ntime.sleep(1)\n",
    ]))?;

    let script = "import px\ndf = px.DataFrame('http_events', start_time='-5m')\ndf = df[df.trace_role == 1]\ndf.peer_id = px.ip_to_pod_id(df.remote_addr)\ndf.peer = px.pod_id_to_service_name(df.peer_id)\ndf.peer_node = px.pod_id_to_node_name(df.peer_id)\npx.display(df.groupby(['node', 'remote_addr', 'peer', 'peer_node']).agg(n=('remote_port', px.count)), 'peers')\n";
    let start = Instant::now();
    loop {
        let out = loupe_run(&nats.url, &dir, script, &[])?;
        let rows: Vec<serde_json::Value> = if out.code == 0 {
            out.json()?["tables"][0]["rows"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        } else {
            Vec::new()
        };
        let has = |addr: &str, peer: &str, node: &str, n: i64| {
            rows.iter().any(|r| {
                r["node"] == "ha"
                    && r["remote_addr"] == addr
                    && r["peer"] == peer
                    && r["peer_node"] == node
                    && r["n"] == n
            })
        };
        if rows.len() == 2
            && has("127.0.0.1", "cache", "ha", 3)
            && has("10.3.0.2", "catalog", "hb", 2)
        {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the peers are not named: {rows:?}\n{}",
            out.stderr
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    Ok(())
}
