//! `loupe check`: can this host run the agent, and how are running agents doing?

use futures::StreamExt;
use loupe_topology::codec::{self, Kind};
use loupe_topology::messages::NodeStatus;
use loupe_topology::subjects::Subject;
use std::process::ExitCode;
use std::time::Duration;

#[derive(clap::Args)]
pub struct CheckArgs {
    #[command(flatten)]
    nats: crate::NatsArgs,
}

/// Counters shown for running agents: every way data can be lost.
const LOSS_COUNTERS: &[&str] = &[
    "loupe_capture_ringbuf_dropped_events_total",
    "loupe_capture_ringbuf_dropped_bytes_total",
    "loupe_capture_records_dropped_mailbox_full_total",
    "loupe_reassembly_gap_bytes_total",
    "loupe_reassembly_late_bytes_total",
    "loupe_reassembly_connections_evicted_total",
    "loupe_reassembly_datagrams_lost_total",
    "loupe_store_rows_dropped_mailbox_full_total",
    "loupe_store_rows_evicted_total",
];

pub fn run(args: CheckArgs) -> anyhow::Result<ExitCode> {
    let mut ok = true;
    println!("host");
    for c in loupe_bpf::sys::host_checks() {
        ok &= c.ok;
        println!(
            "  {:<11} {:<4} {}",
            c.name,
            if c.ok { "ok" } else { "FAIL" },
            c.detail
        );
    }
    println!("probes");
    match loupe_bpf::Capture::load(&loupe_bpf::CaptureConfig::default()) {
        Ok(cap) => {
            let attached = cap.probes().iter().filter(|p| p.error.is_none()).count();
            for p in cap.probes() {
                match &p.error {
                    None => println!("  {:<32} attached", p.tracepoint),
                    Some(e) => {
                        ok = false;
                        println!("  {:<32} FAILED: {e}", p.tracepoint)
                    }
                }
            }
            println!("  {attached}/{} attached", cap.probes().len());
        }
        Err(e) => {
            ok = false;
            println!("  FAILED to load: {e}");
        }
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    match rt.block_on(agent_statuses(&args.nats)) {
        Ok(statuses) if statuses.is_empty() => {
            println!("agents\n  none answered via {}", args.nats.url)
        }
        Ok(statuses) => {
            println!("agents (via {})", args.nats.url);
            for s in statuses {
                println!(
                    "  {}: kernel {}, probes {}/{}, fragments active {}",
                    s.node,
                    s.kernel,
                    s.probes_attached,
                    s.probes_total,
                    s.counter("loupe_fragments_active")
                );
                println!("    privileges: {}", s.privileges);
                if s.capture.is_empty() {
                    println!("    capture: default redaction");
                } else {
                    println!(
                        "    capture widened by the agent's config: {}",
                        s.capture.join("; ")
                    );
                }
                let refused = loupe_actors::wire::rejected_total(&s.counters);
                if refused > 0 {
                    println!(
                        "    messages refused on the wire: {refused} (loupe_wire_rejected_total)"
                    );
                }
                for name in LOSS_COUNTERS {
                    println!("    {name:<52} {}", s.counter(name));
                }
                // Every protocol's lost messages, whatever the registry
                // holds, and every component's caught panics.
                for (name, v) in &s.counters {
                    if name.ends_with("_messages_lost_total")
                        || name.starts_with("loupe_panics_total")
                        || name.starts_with("loupe_metadata_")
                    {
                        println!("    {name:<52} {v}");
                    }
                }
                let records: Vec<String> = s
                    .counters
                    .iter()
                    .filter_map(|(n, v)| {
                        let p = n.strip_prefix("loupe_")?.strip_suffix("_records_total")?;
                        (!p.contains('_')).then(|| format!("{p} {v}"))
                    })
                    .collect();
                println!("    records: {}", records.join(", "));
                println!(
                    "    connections: {} inferred, {} of no traced protocol ({} bytes left in the kernel)",
                    s.counter("loupe_reassembly_connections_inferred_total"),
                    s.counter("loupe_reassembly_connections_ignored_total"),
                    s.counter("loupe_capture_untraced_bytes_total"),
                );
            }
        }
        Err(e) => println!("agents\n  not checked: {e:#}"),
    }
    println!(
        "{}",
        if ok {
            "ready"
        } else {
            "NOT ready: see FAIL lines above"
        }
    );
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Status of every agent that answers within half a second.
pub async fn agent_statuses(nats: &crate::NatsArgs) -> anyhow::Result<Vec<NodeStatus>> {
    let client = nats
        .connect("loupe-check", loupe_topology::subjects::Role::Reader)
        .await?;
    let inbox = client.new_inbox();
    let mut sub = client.subscribe(inbox.clone()).await?;
    client
        .publish_with_reply(
            String::from(Subject::status_all()),
            inbox,
            codec::encode(Kind::StatusRequest, &())?.into(),
        )
        .await?;
    client.flush().await?;
    let mut out = Vec::new();
    while let Ok(Some(msg)) = tokio::time::timeout(Duration::from_millis(500), sub.next()).await {
        out.push(codec::decode::<NodeStatus>(Kind::Status, &msg.payload)?);
    }
    out.sort_by(|a, b| a.node.cmp(&b.node));
    Ok(out)
}
