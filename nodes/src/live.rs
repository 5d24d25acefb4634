//! `loupe live -f FILE.pxl --every 5s [--window 1m]`: a continuous query.
//! The script is compiled here; a planner deploys its node fragment to every
//! agent, where it stays, and publishes one answer per refresh, covering the
//! window that ends there. This command holds the query's lease (renewed
//! every half period): when it goes away (Ctrl-C, kill -9, a lost
//! connection) every fragment is gone within two lease periods.
//!
//! On a terminal the tables are redrawn in place; otherwise each window is
//! one JSON document on its own line.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::time::Duration;

use futures::StreamExt;
use loupe_topology::codec::{self, Kind};
use loupe_topology::messages::{Cancel, Lease, LiveAccepted, LiveRequest, QueryDone, ResultChunk};
use loupe_topology::stream::Step;
use loupe_topology::subjects::{QueryId, Subject};
use loupe_topology::validate::Arrival;

use crate::render::{self, Table};

#[derive(clap::Args)]
pub struct LiveArgs {
    #[command(flatten)]
    script: crate::script::ScriptArgs,
    /// Refresh period (and pane length).
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
    every: Duration,
    /// What each refresh covers (default: one period).
    #[arg(long, value_parser = humantime::parse_duration)]
    window: Option<Duration>,
    #[arg(short = 'o', long, value_enum, default_value = "table")]
    output: Format,
    /// Stop after this many windows.
    #[arg(long)]
    count: Option<u64>,
    #[command(flatten)]
    nats: crate::NatsArgs,
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum Format {
    Table,
    Json,
}

pub fn run(args: LiveArgs) -> anyhow::Result<ExitCode> {
    let prepared = match crate::script::prepare(&args.script)? {
        Ok(p) => p,
        Err(code) => return Ok(code),
    };
    for w in prepared.widgets.iter().flatten() {
        if let Some(e) = &w.error {
            eprintln!("[{}] {e}", w.name);
        }
    }
    let window = args.window.unwrap_or(args.every);
    if window < args.every {
        anyhow::bail!(
            "--window ({window:?}) is shorter than --every ({:?})",
            args.every
        );
    }
    let req = LiveRequest {
        origin: prepared.origin.clone(),
        script: prepared.name.clone(),
        plan: prepared.plan.clone(),
        every_ns: args.every.as_nanos() as i64,
        window_ns: window.as_nanos() as i64,
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(follow(&args, req, &prepared))
}

/// Asks a planner (any of the queue group) to run the live query.
async fn start(
    client: &async_nats::Client,
    args: &LiveArgs,
    req: &LiveRequest,
) -> anyhow::Result<Result<LiveAccepted, String>> {
    let msg = args
        .nats
        .ask_planners(
            client,
            loupe_topology::subjects::Role::Reader,
            &Subject::live(),
            codec::encode(Kind::LiveRequest, req)?,
            "start one with `loupe planner`",
        )
        .await?;
    let acc: LiveAccepted = codec::receive(Kind::LiveAccepted, &msg.payload, &Arrival::any())?;
    Ok(match &acc.error {
        Some(e) => Err(e.message.clone()),
        None => Ok(acc),
    })
}

/// Where the windows of an accepted live query come: derived from its id.
fn results_of(acc: &LiveAccepted) -> anyhow::Result<String> {
    Ok(String::from(Subject::query_results(&QueryId::parse(
        &acc.qid,
    )?)))
}

/// Where its lease is renewed: derived from its id.
fn lease_of(acc: &LiveAccepted) -> anyhow::Result<String> {
    Ok(String::from(Subject::query_lease(&QueryId::parse(
        &acc.qid,
    )?)))
}

/// Ends a live query on the nodes and its planner now, rather than at lease
/// expiry.
async fn cancel(client: &async_nats::Client, qid: &str) {
    if let Ok(bytes) = codec::encode(
        Kind::Cancel,
        &Cancel {
            qid: qid.to_string(),
        },
    ) {
        if let Ok(q) = QueryId::parse(qid) {
            let _ = client
                .publish(String::from(Subject::query_cancel(&q)), bytes.into())
                .await;
        }
        let _ = client.flush().await;
    }
}

async fn follow(
    args: &LiveArgs,
    req: LiveRequest,
    prepared: &crate::script::Prepared,
) -> anyhow::Result<ExitCode> {
    let client = args
        .nats
        .connect("loupe-live", loupe_topology::subjects::Role::Reader)
        .await?;
    let mut acc = match start(&client, args, &req).await? {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(ExitCode::FAILURE);
        }
    };
    let mut results = client.subscribe(results_of(&acc)?).await?;
    // No window for this long: the planner serving the query is gone (its
    // first window comes within two periods and a grace).
    let every = args.every.max(Duration::from_millis(500));
    let silence = every * 3 + Duration::from_secs(5);
    let mut last_window = tokio::time::Instant::now();
    let terminal = std::io::stdout().is_terminal() && matches!(args.output, Format::Table);
    eprintln!(
        "live query {} on {} node{} ({}), every {:?}, window {:?}; Ctrl-C to stop",
        acc.qid,
        acc.nodes.len(),
        if acc.nodes.len() == 1 { "" } else { "s" },
        acc.nodes.join(", "),
        args.every,
        args.window.unwrap_or(args.every)
    );
    let lease = Lease {
        qid: acc.qid.clone(),
    };
    let mut lease_bytes = codec::encode(Kind::Lease, &lease)?;
    let renew = Duration::from_nanos((acc.lease_ns / 2).max(100_000_000) as u64);
    let mut renewals = tokio::time::interval(renew);
    let mut pieces: Vec<(u32, Vec<u8>)> = Vec::new();
    // Each window is one stream of chunks, numbered from 0.
    let mut seq = loupe_topology::stream::Sequence::default();
    let mut windows = 0u64;
    let mut lost_windows = 0u64;
    let mut lost_current = false;
    let stop = loop {
        tokio::select! {
            _ = renewals.tick() => {
                if last_window.elapsed() > silence {
                    // Its planner died (or is cut off): end it everywhere and
                    // ask the queue group again; the new one backfills the
                    // window from the nodes' stores.
                    cancel(&client, &acc.qid).await;
                    let _ = results.unsubscribe().await;
                    let old = acc.qid.clone();
                    acc = match start(&client, args, &req).await {
                        Ok(Ok(a)) => a,
                        // Tried again at the next renewal.
                        Ok(Err(e)) => {
                            eprintln!("no window for {} s, and the live query could not be restarted: {e}", silence.as_secs());
                            continue;
                        }
                        Err(e) => {
                            eprintln!("no window for {} s, and the live query could not be restarted: {e:#}", silence.as_secs());
                            continue;
                        }
                    };
                    eprintln!(
                        "no window for {} s: live query {old} restarted as {} on {} node{}",
                        silence.as_secs(),
                        acc.qid,
                        acc.nodes.len(),
                        if acc.nodes.len() == 1 { "" } else { "s" }
                    );
                    results = client.subscribe(results_of(&acc)?).await?;
                    lease_bytes = codec::encode(Kind::Lease, &Lease { qid: acc.qid.clone() })?;
                    pieces.clear();
                    seq = Default::default();
                    last_window = tokio::time::Instant::now();
                }
                if client
                    .publish(lease_of(&acc)?, lease_bytes.clone().into())
                    .await
                    .is_err()
                {
                    break "the NATS connection is gone";
                }
            }
            _ = tokio::signal::ctrl_c() => break "stopped",
            m = results.next() => {
                let Some(m) = m else { break "the NATS subscription closed" };
                let arrival = Arrival::query(&acc.qid);
                let Ok(c) = codec::receive::<ResultChunk>(Kind::ResultChunk, &m.payload, &arrival) else {
                    continue;
                };
                if seq.take(c.seq).is_err() {
                    // A slow terminal or pipe: NATS dropped part of a window.
                    lost_current = true;
                }
                let end = match c.into_step() {
                    Step::Rows(table, ipc) => {
                        pieces.push((table, ipc));
                        None
                    }
                    Step::Last(table, ipc, end) => {
                        pieces.push((table, ipc));
                        Some(end)
                    }
                };
                match end {
                    None => {}
                    Some(Err(e)) => {
                        eprintln!("the planner could not answer: {e}");
                        break "the planner failed the query";
                    }
                    Some(Ok(done)) => {
                        seq = Default::default();
                        last_window = tokio::time::Instant::now();
                        let got = std::mem::take(&mut pieces);
                        if std::mem::take(&mut lost_current) {
                            lost_windows += 1;
                            eprintln!("a window was lost on the way ({lost_windows} so far): the output is too slow");
                            continue;
                        }
                        let tables =
                            prepared.arrange(crate::run::assemble(&done, got, &prepared.plan)?);
                        show(args.output, terminal, &tables, &done, lost_windows, prepared)?;
                        windows += 1;
                        if args.count.is_some_and(|n| windows >= n) {
                            break "done";
                        }
                    }
                }
            }
        }
    };
    // Let the nodes and the planner drop it now rather than at lease expiry.
    cancel(&client, &acc.qid).await;
    if stop != "done" && stop != "stopped" {
        eprintln!("live query ended: {stop}");
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

fn show(
    output: Format,
    terminal: bool,
    tables: &[Table],
    done: &QueryDone,
    lost_windows: u64,
    prepared: &crate::script::Prepared,
) -> anyhow::Result<()> {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let (start, end) = done.window.unwrap_or((0, 0));
    match output {
        Format::Json => {
            let mut v = render::json_answer(tables, done);
            if let Some(ws) = &prepared.widgets {
                render::with_widgets(&mut v, ws);
            }
            v["window"] = serde_json::json!({"start_ns": start, "end_ns": end});
            v["late_partials"] = done.late_partials.into();
            v["windows_lost"] = lost_windows.into();
            serde_json::to_writer(&mut out, &v)?;
            writeln!(out)?;
        }
        Format::Table => {
            if terminal {
                // Redraw in place: cursor home, clear the screen.
                write!(out, "\x1b[H\x1b[2J")?;
            }
            writeln!(
                out,
                "window {} .. {}",
                render::time_text(start),
                render::time_text(end)
            )?;
            for t in tables {
                render::table(&mut out, t, crate::run::terminal_width())?;
                writeln!(out)?;
            }
            writeln!(out, "{}", render::completeness(done))?;
            if done.late_partials > 0 || lost_windows > 0 {
                writeln!(
                    out,
                    "late partials {} (not in any window); windows lost to a slow output {}",
                    done.late_partials, lost_windows
                )?;
            }
        }
    }
    out.flush()?;
    Ok(())
}
