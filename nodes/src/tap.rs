//! `loupe tap NODE STAGE`: what one stage of one node hands the next, as it
//! happens, one JSON object per line. The node publishes the stage only
//! while this holds it (renewed every second; two seconds without a renewal
//! and it stops on its own, so a killed `loupe tap` leaves nothing on).

use futures::StreamExt;
use loupe_topology::codec::{self, Kind};
use loupe_topology::messages::{TapAck, TapChunk, TapHold};
use loupe_topology::subjects::{NodeName, Subject};
use loupe_topology::validate::Arrival;
use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

#[derive(clap::Args)]
pub struct TapArgs {
    /// The node (as `loupe nodes` lists it).
    node: String,
    /// capture (kernel records), reassembly (ordered stream pieces), records
    /// (parsed, per connection) or rows (sealed into the store).
    stage: String,
    /// Stop after this long (default: at Ctrl-C).
    #[arg(long = "for", value_parser = humantime::parse_duration)]
    duration: Option<Duration>,
    /// Stop after this many lines.
    #[arg(long)]
    count: Option<u64>,
    #[command(flatten)]
    nats: crate::NatsArgs,
}

/// How often the hold is renewed; the node holds for two of these.
const LEASE: Duration = Duration::from_secs(1);

pub fn run(args: TapArgs) -> anyhow::Result<ExitCode> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(tap(args))
}

async fn hold(client: &async_nats::Client, node: &NodeName, stage: &str) -> anyhow::Result<TapAck> {
    let req = codec::encode(
        Kind::TapHold,
        &TapHold {
            stage: stage.to_string(),
            lease_ns: LEASE.as_nanos() as i64,
        },
    )?;
    let m = tokio::time::timeout(
        Duration::from_secs(3),
        client.request(String::from(Subject::node_tap_hold(node)), req.into()),
    )
    .await
    .map_err(|_| anyhow::anyhow!("node {node} did not answer the tap within 3 s"))?
    .map_err(|e| match e.kind() {
        async_nats::RequestErrorKind::NoResponders => {
            anyhow::anyhow!("no node {node} on NATS (`loupe nodes` lists the nodes)")
        }
        _ => anyhow::anyhow!("tap request failed: {e}"),
    })?;
    Ok(codec::receive::<TapAck>(
        Kind::TapAck,
        &m.payload,
        &Arrival::node(node.as_str()),
    )?)
}

async fn tap(args: TapArgs) -> anyhow::Result<ExitCode> {
    let node = NodeName::new(&args.node)?;
    if let Err(e) = loupe_actors::tap::Stage::parse(&args.stage) {
        eprintln!("error: {e}");
        return Ok(ExitCode::from(2));
    }
    let client = args
        .nats
        .connect("loupe-tap", loupe_topology::subjects::Role::Admin)
        .await?;
    // Listening before the node starts publishing.
    let mut sub = client
        .subscribe(String::from(Subject::node_tap(&node, &args.stage)))
        .await?;
    let ack = hold(&client, &node, &args.stage).await?;
    if let Some(e) = ack.error {
        eprintln!("error: node {node}: {e}");
        return Ok(ExitCode::from(2));
    }
    eprintln!(
        "tapping {} of {node} on {}",
        args.stage,
        Subject::node_tap(&node, &args.stage)
    );
    let until = args
        .duration
        .map(|d| tokio::time::Instant::now() + d)
        .unwrap_or_else(|| tokio::time::Instant::now() + Duration::from_secs(100 * 365 * 86_400));
    let mut renew = tokio::time::interval(LEASE);
    renew.tick().await;
    let (mut frames, mut lines, mut dropped, mut missed) = (0u64, 0u64, 0u64, 0u64);
    // A tap joins the stage's numbering where it is: the first frame it
    // gets starts its sequence.
    let mut first_seq = None::<u64>;
    let mut seq = None::<loupe_topology::stream::Sequence>;
    let stdout = std::io::stdout();
    let result: anyhow::Result<()> = async {
        loop {
            tokio::select! {
                _ = tokio::time::sleep_until(until) => break,
                r = tokio::signal::ctrl_c() => { r?; break; }
                _ = renew.tick() => {
                    if let Err(e) = hold(&client, &node, &args.stage).await {
                        eprintln!("warning: could not renew the tap: {e:#}");
                    }
                }
                m = sub.next() => {
                    let Some(m) = m else { anyhow::bail!("the NATS subscription closed") };
                    let c = codec::receive::<TapChunk>(Kind::TapChunk, &m.payload, &Arrival::node(node.as_str()))?;
                    frames += 1;
                    dropped = c.part.dropped;
                    // Frames lost between the node and here (NATS is at most once).
                    let s = seq.get_or_insert(loupe_topology::stream::Sequence::starting_at(c.seq));
                    if let Err(m) = s.take(c.seq) {
                        missed += m.lost();
                    }
                    first_seq.get_or_insert(c.seq);
                    let mut out = stdout.lock();
                    for l in &c.part.lines {
                        writeln!(out, "{l}")?;
                        lines += 1;
                    }
                    if !c.ipc.is_empty() {
                        for b in loupe_actors::planner::read_ipc(&c.ipc)? {
                            let mut w = arrow::json::LineDelimitedWriter::new(Vec::new());
                            w.write(&b)?;
                            w.finish()?;
                            for row in String::from_utf8_lossy(&w.into_inner()).lines() {
                                // {"table": ..., then the row's columns}
                                let body = row.strip_prefix('{').unwrap_or(row);
                                let sep = if body.starts_with('}') { "" } else { "," };
                                writeln!(out, "{{\"table\":\"{}\"{sep}{body}", c.part.table)?;
                                lines += 1;
                            }
                        }
                    }
                    out.flush()?;
                    if args.count.is_some_and(|n| lines >= n) {
                        break;
                    }
                }
            }
        }
        Ok(())
    }
    .await;
    match &result {
        Err(e)
            if e.downcast_ref::<std::io::Error>()
                .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe) => {}
        Err(e) => eprintln!("error: {e:#}"),
        Ok(()) => {}
    }
    let seqs = match (first_seq, seq) {
        (Some(a), Some(s)) => format!(
            " (#{a} to #{} of the node's frames of this stage)",
            s.next().saturating_sub(1)
        ),
        _ => String::new(),
    };
    eprintln!(
        "tap {} of {node}: {frames} frame{}{seqs}, {lines} line{}; frames dropped on the node (queue full) {dropped}, lost on the way {missed}",
        args.stage,
        if frames == 1 { "" } else { "s" },
        if lines == 1 { "" } else { "s" },
    );
    Ok(if result.is_ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
