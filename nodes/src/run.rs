//! `loupe run -f FILE.pxl`: compile here (nothing is sent when the script
//! does not compile), ask a planner over NATS request-reply, print the
//! tables and, on stderr, how complete they are.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use futures::StreamExt;
use loupe_topology::codec::{self, Kind};
use loupe_topology::messages::{QueryDone, QueryRequest, ResultChunk};
use loupe_topology::stream::Step;
use loupe_topology::subjects::Subject;

use crate::render::{self, Table};

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum Output {
    Table,
    Json,
    Csv,
}

#[derive(clap::Args)]
pub struct RunArgs {
    #[command(flatten)]
    script: crate::script::ScriptArgs,
    #[arg(short = 'o', long, value_enum, default_value = "table")]
    output: Output,
    /// How long nodes have to answer before the answer goes out without them.
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
    timeout: Duration,
    #[command(flatten)]
    nats: crate::NatsArgs,
}

pub fn parse_kv(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .filter(|(k, _)| !k.is_empty())
        .ok_or_else(|| format!("expected name=value, got {s:?}"))
}

/// Compiles a script file here. `Ok(None)`: it did not compile, and the
/// error (file:line:col, the line, a caret) is on stderr.
/// What the planner's audit line says of a script: its SHA-256, its first
/// line that is not blank or a comment, and the arguments.
pub fn origin(src: &str, args: &[(String, String)]) -> loupe_topology::messages::Origin {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(src.as_bytes());
    let first_line = src
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))
        .unwrap_or("")
        .chars()
        .take(200)
        .collect();
    loupe_topology::messages::Origin {
        source_sha256: digest.iter().map(|b| format!("{b:02x}")).collect(),
        first_line,
        args: args.to_vec(),
    }
}

/// Exit codes of `loupe run` beyond 0 and 1 (an error, or the answer's).
pub const EXIT_NOT_COMPILED: u8 = 2;
/// Some widgets of a bundle answered, others could not run.
pub const EXIT_SOME_WIDGETS: u8 = 3;
/// The answer came, but an export lost points (`px.export`).
pub const EXIT_EXPORT_LOST: u8 = 4;

pub fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let prepared = match crate::script::prepare(&args.script)? {
        Ok(p) => p,
        Err(code) => return Ok(code),
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let req = QueryRequest {
        origin: prepared.origin.clone(),
        script: prepared.name.clone(),
        plan: prepared.plan.clone(),
        node_timeout_ms: args.timeout.as_millis() as u64,
    };
    let (tables, done) = rt.block_on(ask(&args.nats, req, args.timeout))?;
    let tables = prepared.arrange(tables);
    print(args.output, &tables, &done, prepared.widgets.as_deref())?;
    Ok(if done.error.is_some() {
        ExitCode::FAILURE
    } else if prepared.degraded() {
        ExitCode::from(EXIT_SOME_WIDGETS)
    } else if done.exports.iter().any(|x| x.lost > 0) {
        ExitCode::from(EXIT_EXPORT_LOST)
    } else {
        ExitCode::SUCCESS
    })
}

/// Sends a query to the planner group and gathers the answer.
pub async fn ask(
    nats: &crate::NatsArgs,
    req: QueryRequest,
    node_timeout: Duration,
) -> anyhow::Result<(Vec<Table>, QueryDone)> {
    let client = nats
        .connect("loupe-run", loupe_topology::subjects::Role::Reader)
        .await?;
    let inbox = client.new_inbox();
    let mut sub = client.subscribe(inbox.clone()).await?;
    let subject = Subject::plan();
    let payload = codec::encode(Kind::QueryRequest, &req)?;
    let headers = nats.signature(loupe_topology::subjects::Role::Reader, &payload)?;
    client
        .publish_with_reply_and_headers(
            String::from(subject.clone()),
            inbox,
            headers,
            payload.into(),
        )
        .await?;
    client.flush().await?;
    let started = Instant::now();
    let progress = std::io::stderr().is_terminal();
    // An export's retries take up to its endpoint's timeout (the
    // planner's environment says for scripts that name none: 10 s unless
    // OTEL_EXPORTER_OTLP_TIMEOUT says otherwise).
    let exporting: Duration = req
        .plan
        .sinks
        .iter()
        .filter_map(|s| s.export.as_ref())
        .map(|x| {
            x.endpoint
                .as_ref()
                .filter(|e| e.timeout_s > 0)
                .map_or(Duration::from_secs(30), |e| {
                    Duration::from_secs(u64::from(e.timeout_s))
                })
        })
        .sum();
    let first_wait = node_timeout + Duration::from_secs(5) + exporting;
    let mut deadline = tokio::time::Instant::now() + first_wait;
    let mut seq = loupe_topology::stream::Sequence::default();
    // Every chunk of the answer is of the query the first one names.
    let mut qid: Option<String> = None;
    let mut pieces: Vec<(u32, Vec<u8>)> = Vec::new();
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    let done = loop {
        let msg = tokio::select! {
            m = tokio::time::timeout_at(deadline, sub.next()) => m,
            _ = tick.tick(), if progress => {
                eprint!("\r\x1b[2Krunning {} … {:.1}s", req.script, started.elapsed().as_secs_f64());
                continue;
            }
        };
        let msg = match msg {
            Ok(Some(m)) => m,
            Ok(None) => anyhow::bail!("the NATS connection closed while waiting for the answer"),
            Err(_) if seq.next() == 0 => {
                clear(progress);
                anyhow::bail!(
                    "no answer from a planner on {subject} via {} within {}s: is `loupe planner` running?",
                    nats.url,
                    first_wait.as_secs()
                )
            }
            Err(_) => {
                clear(progress);
                anyhow::bail!(
                    "the planner stopped answering mid-reply (after chunk {})",
                    seq.next() - 1
                )
            }
        };
        if msg.status == Some(async_nats::StatusCode::NO_RESPONDERS) {
            clear(progress);
            anyhow::bail!(
                "no planner is listening on {subject} via {}: start one with `loupe planner` (or run `loupe demo`)",
                nats.url
            );
        }
        let arrival = loupe_topology::validate::Arrival {
            qid: qid.as_deref(),
            node: None,
        };
        let c: ResultChunk = codec::receive(Kind::ResultChunk, &msg.payload, &arrival)?;
        qid.get_or_insert_with(|| c.stream.clone());
        deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        match c.read(&mut seq) {
            Ok(Step::Rows(table, ipc)) => pieces.push((table, ipc)),
            Ok(Step::Last(table, ipc, end)) => {
                pieces.push((table, ipc));
                match end {
                    Ok(done) => break done,
                    Err(e) => {
                        clear(progress);
                        anyhow::bail!("{e}");
                    }
                }
            }
            Err(missed) => {
                clear(progress);
                anyhow::bail!("answer {missed} (slow consumer?)");
            }
        }
    };
    clear(progress);
    let tables = assemble(&done, pieces, &req.plan)?;
    Ok((tables, done))
}

/// The answer's tables from its chunks (table index, Arrow IPC bytes).
/// A table with no rows keeps its columns and their types: the plan's.
pub fn assemble(
    done: &QueryDone,
    pieces: Vec<(u32, Vec<u8>)>,
    plan: &loupe_topology::plan::Plan,
) -> anyhow::Result<Vec<Table>> {
    let mut batches: Vec<Vec<arrow::record_batch::RecordBatch>> =
        vec![Vec::new(); done.tables.len()];
    for (t, ipc) in pieces.into_iter().filter(|(_, ipc)| !ipc.is_empty()) {
        let bs = loupe_actors::planner::read_ipc(&ipc)?;
        if let Some(slot) = batches.get_mut(t as usize) {
            slot.extend(bs);
        }
    }
    let mut tables = Vec::new();
    for (name, bs) in done.tables.iter().zip(batches) {
        let batch = match bs.first() {
            Some(b) => arrow::compute::concat_batches(&b.schema(), &bs)?,
            None => arrow::record_batch::RecordBatch::new_empty(
                plan.sinks
                    .iter()
                    .find(|s| &s.name == name)
                    .map(|s| plan.schema(s.input).arrow())
                    .unwrap_or_else(|| std::sync::Arc::new(arrow::datatypes::Schema::empty())),
            ),
        };
        let sems = plan
            .sinks
            .iter()
            .position(|s| &s.name == name)
            .map(|i| loupe_topology::plan::semantic::sink_semantics(plan, i))
            .unwrap_or_default();
        tables.push(Table {
            name: name.clone(),
            batch,
            sems,
        });
    }
    Ok(tables)
}

fn clear(progress: bool) {
    if progress {
        eprint!("\r\x1b[2K");
    }
}

pub fn terminal_width() -> usize {
    std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.parse().ok())
        .or_else(|| {
            // SAFETY: TIOCGWINSZ writes a winsize into the struct we pass.
            let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
            // SAFETY: fd 1 and a valid pointer to `ws`.
            let r = unsafe { libc::ioctl(1, libc::TIOCGWINSZ, &mut ws) };
            (r == 0 && ws.ws_col > 0).then_some(ws.ws_col as usize)
        })
        .unwrap_or(120)
}

pub fn print(
    output: Output,
    tables: &[Table],
    done: &QueryDone,
    widgets: Option<&[crate::script::WidgetOut]>,
) -> anyhow::Result<()> {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match output {
        Output::Table => {
            let width = terminal_width();
            match widgets {
                // A bundle: every widget in its place, a failed one saying why.
                Some(ws) => {
                    for (i, w) in ws.iter().enumerate() {
                        if i > 0 {
                            writeln!(out)?;
                        }
                        match (&w.error, tables.iter().find(|t| t.name == w.name)) {
                            (Some(e), _) => writeln!(out, "{} (not run)\nerror: {e}", w.name)?,
                            (None, Some(t)) => render::table(&mut out, t, width)?,
                            (None, None) => writeln!(
                                out,
                                "{} (not run)\nerror: no table in the answer",
                                w.name
                            )?,
                        }
                    }
                    for t in tables.iter().filter(|t| t.name.starts_with('_')) {
                        writeln!(out)?;
                        render::table(&mut out, t, width)?;
                    }
                }
                None => {
                    for (i, t) in tables.iter().enumerate() {
                        if i > 0 {
                            writeln!(out)?;
                        }
                        render::table(&mut out, t, width)?;
                    }
                }
            }
        }
        Output::Json => {
            let mut v = render::json_answer(tables, done);
            if let Some(ws) = widgets {
                render::with_widgets(&mut v, ws);
            }
            serde_json::to_writer_pretty(&mut out, &v)?;
            writeln!(out)?;
        }
        Output::Csv => {
            render::csv(&mut out, tables)?;
            for w in widgets.into_iter().flatten() {
                if let Some(e) = &w.error {
                    eprintln!("[{}] {e}", w.name);
                }
            }
        }
    }
    out.flush()?;
    drop(out);
    if let Some(e) = &done.error {
        eprintln!("error: {}", e.message);
    }
    eprintln!("{}", render::completeness(done));
    Ok(())
}
