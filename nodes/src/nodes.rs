//! `loupe nodes`: one row per node a planner knows, from their heartbeats:
//! kernel, probes, events/s, drops, retention used, active fragments, last
//! seen. A node that stopped reporting is shown as such, loudly: its row
//! says so, a warning goes to stderr, and the exit code is 1.

use loupe_topology::metrics::Metric;
use std::process::ExitCode;

use loupe_actors::wire::rejected_total;
use loupe_topology::codec::{self, Kind};
use loupe_topology::messages::{ClusterNode, NodeSeen, NodesReply};
use loupe_topology::subjects::Subject;

#[derive(clap::Args)]
pub struct NodesArgs {
    #[arg(short = 'o', long, value_enum, default_value = "table")]
    output: Format,
    #[command(flatten)]
    nats: crate::NatsArgs,
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum Format {
    Table,
    Json,
}

/// Records lost before they became rows, by where.
struct Drops {
    kernel: u64,
    mailbox: u64,
    gap_bytes: u64,
}

fn drops(n: &NodeSeen) -> Drops {
    let s = &n.status;
    Drops {
        kernel: s.counter(Metric::CaptureRingbufDroppedEvents),
        mailbox: s.counter(Metric::CaptureRecordsDroppedMailboxFull)
            + s.counter(Metric::StoreRowsDroppedMailboxFull),
        gap_bytes: s.counter(Metric::ReassemblyGapBytes),
    }
}

fn state(n: &NodeSeen) -> String {
    if n.alive {
        "ok".into()
    } else {
        format!("NOT REPORTING for {}", ago(n.last_seen_ms))
    }
}

fn ago(ms: u64) -> String {
    if ms < 10_000 {
        format!("{:.1} s", ms as f64 / 1000.0)
    } else if ms < 120_000 {
        format!("{} s", ms / 1000)
    } else {
        format!("{} min", ms / 60_000)
    }
}

/// A node's clock against the planner's: "+1.2 ms", "-30.0 s".
pub fn skew_text(ms: f64) -> String {
    if ms.abs() < 1000.0 {
        format!("{ms:+.1} ms")
    } else {
        format!("{:+.1} s", ms / 1000.0)
    }
}

/// A skew beyond this is called out: rows' times and live panes are off by it.
pub const SKEW_WARN_MS: f64 = 1000.0;

fn mib(b: u64) -> String {
    format!("{:.1}", b as f64 / (1 << 20) as f64)
}

pub fn run(args: NodesArgs) -> anyhow::Result<ExitCode> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let reply = rt.block_on(ask(&args.nats))?;
    match args.output {
        Format::Json => println!("{}", serde_json::to_string_pretty(&json(&reply))?),
        Format::Table => print_table(&reply),
    }
    for n in reply
        .nodes
        .iter()
        .filter(|n| n.clock_skew_ms.abs() > SKEW_WARN_MS)
    {
        eprintln!(
            "WARNING: node {}'s clock is {} off the planner's: its rows' times, and the panes it cuts for live queries, are off by as much",
            n.status.node,
            skew_text(n.clock_skew_ms)
        );
    }
    let mut failed = false;
    if let Some(c) = &reply.cluster {
        let bare: Vec<&ClusterNode> = c
            .nodes
            .iter()
            .filter(|n| n.needs_agent && !n.covered)
            .collect();
        if !bare.is_empty() {
            eprintln!(
                "WARNING: {} of the cluster's {} node{} {} no reporting agent: {}; queries do not see {}",
                bare.len(),
                c.nodes.len(),
                if c.nodes.len() == 1 { "" } else { "s" },
                if bare.len() == 1 { "has" } else { "have" },
                bare.iter()
                    .map(|n| format!("{} ({})", n.name, n.reason))
                    .collect::<Vec<_>>()
                    .join(", "),
                if bare.len() == 1 {
                    "its traffic"
                } else {
                    "their traffic"
                },
            );
            failed = true;
        }
        if let Some(age) = c.metadata_age_ms
            && age > METADATA_STALE_MS
        {
            eprintln!(
                "WARNING: the cluster metadata is {} old{}: names of new pods and services may be missing",
                age_text(age),
                if c.watch_error.is_empty() {
                    String::new()
                } else {
                    format!(" (watcher {}: {})", c.watcher, c.watch_error)
                }
            );
        }
    }
    let silent: Vec<&NodeSeen> = reply.nodes.iter().filter(|n| !n.alive).collect();
    if reply.nodes.is_empty() {
        eprintln!(
            "no node has reported to planner {} (agents send a heartbeat every 2 s)",
            reply.planner
        );
    }
    if !silent.is_empty() {
        eprintln!(
            "WARNING: {} node{} stopped reporting: {}; queries answer without {}",
            silent.len(),
            if silent.len() == 1 { "" } else { "s" },
            silent
                .iter()
                .map(|n| format!("{} (last seen {} ago)", n.status.node, ago(n.last_seen_ms)))
                .collect::<Vec<_>>()
                .join(", "),
            if silent.len() == 1 { "it" } else { "them" },
        );
        return Ok(ExitCode::FAILURE);
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// Metadata older than this is called out (the watcher renews it every
/// few seconds while it is in step with the API server).
const METADATA_STALE_MS: u64 = 30_000;

fn age_text(ms: u64) -> String {
    if ms == u64::MAX {
        "never in step with the API server, so of unknown age".into()
    } else {
        ago(ms)
    }
}

async fn ask(nats: &crate::NatsArgs) -> anyhow::Result<NodesReply> {
    let client = nats
        .connect("loupe-nodes", loupe_topology::subjects::Role::Reader)
        .await?;
    let msg = nats
        .ask_planners(
            &client,
            loupe_topology::subjects::Role::Reader,
            &Subject::nodes(),
            codec::encode(Kind::NodesRequest, &())?,
            "start one with `loupe planner` (nodes are known from their heartbeats, which planners keep)",
        )
        .await?;
    Ok(codec::receive(
        Kind::NodesReply,
        &msg.payload,
        &loupe_topology::validate::Arrival::any(),
    )?)
}

fn json(r: &NodesReply) -> serde_json::Value {
    let nodes: Vec<serde_json::Value> = r
        .nodes
        .iter()
        .map(|n| {
            let s = &n.status;
            let d = drops(n);
            serde_json::json!({
                "node": s.node,
                "state": if n.alive { "ok" } else { "not_reporting" },
                "last_seen_s": n.last_seen_ms as f64 / 1000.0,
                "kernel": s.kernel,
                "probes_attached": s.probes_attached,
                "probes_total": s.probes_total,
                "events_per_s": n.events_per_s,
                "dropped": {
                    "kernel_records": d.kernel,
                    "mailbox_records": d.mailbox,
                    "gap_bytes": d.gap_bytes,
                },
                "retention_used_bytes": s.counter(Metric::StoreBytes),
                "retention_max_bytes": s.counter(Metric::StoreRetentionMaxBytes),
                "rows_held": s.counter(Metric::StoreRows),
                "fragments_active": s.counter(Metric::FragmentsActive),
                "clock_skew_ms": (n.clock_skew_ms * 1000.0).round() / 1000.0,
                "wire_rejected": rejected_total(&s.counters),
                "capture_widened": s.capture,
            })
        })
        .collect();
    let cluster = r.cluster.as_ref().map(|c| {
        serde_json::json!({
            "metadata_age_s": c.metadata_age_ms.filter(|a| *a != u64::MAX).map(|a| a as f64 / 1000.0),
            "watcher": c.watcher,
            "watch_error": c.watch_error,
            "nodes": c.nodes.iter().map(|n| serde_json::json!({
                "node": n.name,
                "needs_agent": n.needs_agent,
                "ready": n.ready,
                "covered": n.covered,
                "reason": n.reason,
            })).collect::<Vec<_>>(),
        })
    });
    serde_json::json!({
        "planner": r.planner,
        "alive_within_s": r.alive_within_ms as f64 / 1000.0,
        "planner_wire_rejected": rejected_total(&r.planner_counters),
        "nodes": nodes,
        "cluster": cluster,
    })
}

fn print_table(r: &NodesReply) {
    let head = [
        "NODE",
        "STATE",
        "KERNEL",
        "PROBES",
        "EVENTS/S",
        "DROPPED (KERNEL/MAILBOX)",
        "GAP BYTES",
        "RETENTION MiB",
        "FRAGMENTS",
        "CLOCK",
        "LAST SEEN",
    ];
    let rows: Vec<[String; 11]> = r
        .nodes
        .iter()
        .map(|n| {
            let s = &n.status;
            let d = drops(n);
            let max = s.counter(Metric::StoreRetentionMaxBytes);
            let used = s.counter(Metric::StoreBytes);
            let retention = if max > 0 {
                format!(
                    "{} / {} ({:.0} %)",
                    mib(used),
                    mib(max),
                    100.0 * used as f64 / max as f64
                )
            } else {
                mib(used)
            };
            // The kernel release only: "Linux 6.18.44-… x86_64" -> "6.18.44-…".
            let kernel = s.kernel.split_whitespace().nth(1).unwrap_or(&s.kernel);
            [
                s.node.clone(),
                state(n),
                kernel.to_string(),
                format!("{}/{}", s.probes_attached, s.probes_total),
                n.events_per_s.map_or("-".into(), |e| format!("{:.0}", e)),
                format!("{}/{}", d.kernel, d.mailbox),
                d.gap_bytes.to_string(),
                retention,
                s.counter(Metric::FragmentsActive).to_string(),
                skew_text(n.clock_skew_ms),
                format!("{} ago", ago(n.last_seen_ms)),
            ]
        })
        .collect();
    let mut w: Vec<usize> = head.iter().map(|h| h.len()).collect();
    for row in &rows {
        for (i, c) in row.iter().enumerate() {
            w[i] = w[i].max(c.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut out = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i > 0 {
                out.push_str("  ");
            }
            out.push_str(c);
            if i + 1 < cells.len() {
                out.push_str(&" ".repeat(w[i].saturating_sub(c.chars().count())));
            }
        }
        println!("{out}");
    };
    line(head.to_vec());
    for row in &rows {
        line(row.iter().map(String::as_str).collect());
    }
    println!(
        "{} node{} via planner {}; a node is alive when heard within {} s",
        r.nodes.len(),
        if r.nodes.len() == 1 { "" } else { "s" },
        r.planner,
        r.alive_within_ms / 1000
    );
    // Messages refused on arrival (garbage, forged, out of range): a sign
    // of a misbehaving or hostile client on this NATS.
    let mut refused: Vec<String> = r
        .nodes
        .iter()
        .filter_map(|n| {
            let t = rejected_total(&n.status.counters);
            (t > 0).then(|| format!("{} {t}", n.status.node))
        })
        .collect();
    let p = rejected_total(&r.planner_counters);
    if p > 0 {
        refused.insert(0, format!("planner {} {p}", r.planner));
    }
    if !refused.is_empty() {
        println!(
            "messages refused on the wire (loupe_wire_rejected_total): {}",
            refused.join(", ")
        );
    }
    if let Some(c) = &r.cluster {
        let covered = c.nodes.iter().filter(|n| n.covered).count();
        let needing = c.nodes.iter().filter(|n| n.needs_agent).count();
        println!(
            "cluster: {covered} of {needing} node{} that need an agent have one reporting; metadata {} old (watched by {})",
            if needing == 1 { "" } else { "s" },
            c.metadata_age_ms.map_or("of unknown age".into(), age_text),
            if c.watcher.is_empty() {
                "no planner yet"
            } else {
                &c.watcher
            },
        );
        for n in c.nodes.iter().filter(|n| !n.covered) {
            println!(
                "  {} {}: {}",
                if n.needs_agent {
                    "NO AGENT"
                } else {
                    "skipped "
                },
                n.name,
                n.reason
            );
        }
    }
    // Data a reader would otherwise assume redacted.
    for n in r.nodes.iter().filter(|n| !n.status.capture.is_empty()) {
        println!(
            "{}: capture widened by its config: {}",
            n.status.node,
            n.status.capture.join("; ")
        );
    }
}
