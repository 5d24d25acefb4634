//! `/metrics` end to end: an agent (eBPF) and a planner serve their
//! counters on `--metrics-addr`; a real Prometheus (Debian's) scrapes
//! both, and its query API returns what `loupe nodes` shows.
//!
//! Needs root (eBPF). Run through the README's test command.

use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use loupe_itest::*;
use serde_json::Value;

/// Prometheus's instant query: (labels, value) per series.
fn prom_query(port: u16, q: &str) -> Result<Vec<(Value, f64)>> {
    let out = run(Command::new("curl").args([
        "-sf",
        "--get",
        &format!("http://127.0.0.1:{port}/api/v1/query"),
        "--data-urlencode",
        &format!("query={q}"),
    ]))?;
    let v: Value = serde_json::from_str(&out).with_context(|| out.clone())?;
    Ok(v["data"]["result"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| {
            (
                r["metric"].clone(),
                r["value"][1]
                    .as_str()
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(f64::NAN),
            )
        })
        .collect())
}

/// A series' samples over the last minute: (unix seconds, value).
fn prom_range(port: u16, series: &str) -> Result<Vec<(f64, f64)>> {
    let out = run(Command::new("curl").args([
        "-sf",
        "--get",
        &format!("http://127.0.0.1:{port}/api/v1/query"),
        "--data-urlencode",
        &format!("query={series}[1m]"),
    ]))?;
    let v: Value = serde_json::from_str(&out).with_context(|| out.clone())?;
    let r = v["data"]["result"].as_array().cloned().unwrap_or_default();
    let [one] = r.as_slice() else {
        bail!("{series}: {} series: {out}", r.len());
    };
    Ok(one["values"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| {
            (
                p[0].as_f64().unwrap_or(0.0),
                p[1].as_str()
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(f64::NAN),
            )
        })
        .collect())
}

/// A counter that moves (the agent sees Prometheus's own scrapes): the
/// value `loupe nodes` shows, taken at `at` (unix seconds), lies between
/// the scrapes just before and just after that moment.
fn assert_between_scrapes(port: u16, series: &str, shown: f64, at: f64) -> Result<()> {
    let s = prom_range(port, series)?;
    let before = s.iter().rev().find(|(t, _)| *t <= at);
    let after = s.iter().find(|(t, _)| *t >= at);
    match (before, after) {
        (Some((_, lo)), Some((_, hi))) => {
            assert!(
                *lo <= shown && shown <= *hi,
                "{series}: loupe nodes shows {shown} at {at}, Prometheus {lo} before and {hi} after: {s:?}"
            );
            Ok(())
        }
        _ => bail!("{series}: no scrapes around {at}: {s:?}"),
    }
}

fn prom_one(port: u16, q: &str) -> Result<f64> {
    let r = prom_query(port, q)?;
    match r.as_slice() {
        [(_, v)] => Ok(*v),
        other => bail!("{q}: {} series: {other:?}", other.len()),
    }
}

/// Sends `n` garbage messages on the planners' plan subject (a reader may
/// publish there): each is refused and counted.
fn send_garbage(nats_url: &str, n: usize) -> Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let text = std::fs::read_to_string(auth_dir().join("reader.creds"))?;
        let seed = text
            .lines()
            .find(|l| l.starts_with("SU"))
            .context("no seed")?;
        let c = async_nats::ConnectOptions::with_nkey(seed.to_string())
            .connect(nats_url)
            .await?;
        let subject = String::from(loupe_topology::subjects::Subject::plan());
        for i in 0..n {
            let inbox = c.new_inbox();
            c.publish_with_reply(subject.clone(), inbox, vec![0xAB; 10 + i].into())
                .await?;
        }
        c.flush().await?;
        Ok::<_, anyhow::Error>(())
    })
}

#[test]
fn prometheus_scrapes_agent_and_planner_and_sees_what_loupe_nodes_shows() -> Result<()> {
    let dir = temp_dir("metrics");
    let nats = Nats::start(&dir)?;
    let (pm, am, prom_port) = (free_port(), free_port(), free_port());
    let pm_addr = format!("127.0.0.1:{pm}");
    let am_addr = format!("127.0.0.1:{am}");
    let _planner = Planner::start_with(&nats.url, "pm1", &dir, &["--metrics-addr", &pm_addr])?;
    let _agent = Agent::start(&nats, "itest-metrics", &dir, &["--metrics-addr", &am_addr])?;
    let nginx = Nginx::start(&dir.join("nginx"), None)?;
    for _ in 0..20 {
        run(Command::new("curl").args([
            "-s",
            "-o",
            "/dev/null",
            &format!("http://127.0.0.1:{}/m", nginx.port),
        ]))?;
    }
    send_garbage(&nats.url, 5)?;

    // The endpoints themselves: HELP and TYPE for every family, the
    // process's label on every sample.
    let agent_text = run(Command::new("curl").args(["-sf", &format!("http://{am_addr}/metrics")]))?;
    assert!(
        agent_text.contains("# TYPE loupe_capture_events_total counter"),
        "{agent_text}"
    );
    assert!(agent_text.contains("# HELP loupe_store_rows "));
    assert!(
        agent_text
            .contains("loupe_parser_records_total{node=\"itest-metrics\",protocol=\"http\"} ")
    );
    for line in agent_text.lines().filter(|l| !l.starts_with('#')) {
        assert!(line.contains("{node=\"itest-metrics\""), "{line}");
    }
    let planner_text =
        run(Command::new("curl").args(["-sf", &format!("http://{pm_addr}/metrics")]))?;
    assert!(
        planner_text.contains("loupe_wire_rejected_total{planner=\"pm1\",subject=\"plan\",reason="),
        "{planner_text}"
    );
    assert!(planner_text.contains("# TYPE loupe_export_points_total counter"));
    assert!(!planner_text.contains("loupe_capture_events_total"));

    // A real Prometheus scrapes both, every second.
    let prom_dir = dir.join("prometheus");
    std::fs::create_dir_all(&prom_dir)?;
    let config = prom_dir.join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: loupe-agent\n    static_configs:\n      - targets: ['{am_addr}']\n  - job_name: loupe-planner\n    static_configs:\n      - targets: ['{pm_addr}']\n"
        ),
    )?;
    let _prom = Proc::spawn(
        "prometheus",
        Command::new(which("prometheus")?)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                prom_dir.join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{prom_port}")),
        &prom_dir.join("prometheus.log"),
    )?;
    wait_for_port(prom_port, Duration::from_secs(30))?;

    // Both targets up, the planner's refusals scraped.
    let start = Instant::now();
    loop {
        let up = prom_query(prom_port, "up").unwrap_or_default();
        let rejected =
            prom_one(prom_port, "sum(loupe_wire_rejected_total{planner=\"pm1\"})").unwrap_or(0.0);
        if up.len() == 2 && up.iter().all(|(_, v)| *v == 1.0) && rejected >= 5.0 {
            break;
        }
        if start.elapsed() > Duration::from_secs(30) {
            bail!(
                "Prometheus did not scrape both: up {up:?}, rejected {rejected}\n{}",
                std::fs::read_to_string(prom_dir.join("prometheus.log")).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    // `loupe nodes` shows the agent's latest heartbeat; Prometheus has
    // scraped before and after it.
    // (A heartbeat from after Prometheus's first scrape of the agent.)
    let agent = "{node=\"itest-metrics\"}";
    let start = Instant::now();
    let (nodes, at) = loop {
        let out = run(loupe().args(["nodes", "-o", "json", "--nats", &nats.url]))?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_secs_f64();
        let nodes: Value = serde_json::from_str(&out)?;
        let at = now - nodes["nodes"][0]["last_seen_s"].as_f64().unwrap_or(0.0);
        let first = prom_range(prom_port, &format!("loupe_store_rows{agent}"))?
            .first()
            .map_or(f64::MAX, |s| s.0);
        if first < at {
            break (nodes, at);
        }
        if start.elapsed() > Duration::from_secs(30) {
            bail!("no heartbeat after the first scrape: {nodes}");
        }
        std::thread::sleep(Duration::from_secs(1));
    };
    let n = &nodes["nodes"][0];
    assert_eq!(n["node"], "itest-metrics", "{nodes}");
    // Scrapes after it.
    std::thread::sleep(Duration::from_secs(3));
    // What does not move: equal.
    assert_eq!(
        prom_one(prom_port, "sum(loupe_wire_rejected_total{planner=\"pm1\"})")?,
        nodes["planner_wire_rejected"].as_f64().unwrap(),
        "{nodes}"
    );
    assert_eq!(nodes["planner_wire_rejected"], 5, "{nodes}");
    assert_eq!(
        prom_one(
            prom_port,
            &format!("loupe_store_retention_max_bytes{agent}")
        )?,
        n["retention_max_bytes"].as_f64().unwrap()
    );
    assert_eq!(
        prom_one(prom_port, &format!("loupe_fragments_active{agent}"))?,
        n["fragments_active"].as_f64().unwrap()
    );
    // What moves: between the scrapes around the heartbeat.
    assert!(n["rows_held"].as_u64().unwrap() >= 20, "{n}");
    for (series, shown) in [
        ("loupe_store_rows", &n["rows_held"]),
        (
            "loupe_capture_ringbuf_dropped_events_total",
            &n["dropped"]["kernel_records"],
        ),
        (
            "loupe_reassembly_gap_bytes_total",
            &n["dropped"]["gap_bytes"],
        ),
    ] {
        assert_between_scrapes(
            prom_port,
            &format!("{series}{agent}"),
            shown.as_f64().unwrap(),
            at,
        )?;
    }
    assert_eq!(
        prom_one(
            prom_port,
            "loupe_planner_nodes{planner=\"pm1\",state=\"alive\"}"
        )?,
        1.0
    );
    // The parsers' counters carry their protocol as a label.
    let http = prom_one(
        prom_port,
        "loupe_parser_records_total{node=\"itest-metrics\",protocol=\"http\"}",
    )?;
    assert!(http >= 20.0, "{http}");
    Ok(())
}
