//! `loupe check`: can this host run the agent, and how are running agents doing?

use futures::StreamExt;
use loupe_topology::codec::{self, Kind};
use loupe_topology::messages::NodeStatus;
use loupe_topology::metrics::{self, Metric};
use loupe_topology::subjects::Subject;
use std::process::ExitCode;
use std::time::Duration;

#[derive(clap::Args)]
pub struct CheckArgs {
    #[command(flatten)]
    nats: crate::NatsArgs,
}

/// Counters shown for running agents: every way data can be lost.
const LOSS_COUNTERS: &[Metric] = &[
    Metric::CaptureRingbufDroppedEvents,
    Metric::CaptureRingbufDroppedBytes,
    Metric::CaptureRecordsDroppedMailboxFull,
    Metric::ReassemblyGapBytes,
    Metric::ReassemblyLateBytes,
    Metric::ReassemblyConnectionsEvicted,
    Metric::ReassemblyDatagramsLost,
    Metric::StoreRowsDroppedMailboxFull,
    Metric::StoreRowsEvicted,
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
                    s.counter(Metric::FragmentsActive)
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
                for m in LOSS_COUNTERS {
                    println!("    {:<52} {}", m.name(), s.counter(*m));
                }
                // Every protocol's lost messages, whatever the protocol
                // registry holds, every component's caught panics, and the
                // cluster metadata's state.
                for (name, v) in &s.counters {
                    let family = metrics::family_of(name);
                    if family == Metric::ParserMessagesLost.name()
                        || family == Metric::Panics.name()
                        || family.starts_with("loupe_metadata_")
                    {
                        println!("    {name:<52} {v}");
                    }
                }
                let records: Vec<String> = metrics::samples(&s.counters, Metric::ParserRecords)
                    .into_iter()
                    .map(|(labels, v)| format!("{} {v}", labels.join(",")))
                    .collect();
                println!("    records: {}", records.join(", "));
                println!(
                    "    connections: {} inferred, {} of no traced protocol ({} bytes left in the kernel)",
                    s.counter(Metric::ReassemblyConnectionsInferred),
                    s.counter(Metric::ReassemblyConnectionsIgnored),
                    s.counter(Metric::CaptureUntracedBytes),
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
