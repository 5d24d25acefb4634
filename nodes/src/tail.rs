//! `loupe tail`: rows of a table from running agents, with how complete they are.

use arrow::record_batch::RecordBatch;
use futures::StreamExt;
use loupe_topology::codec::{self, Kind};
use loupe_topology::messages::{NodeStatus, TailChunk, TailRequest};
use loupe_topology::metrics::Metric;
use loupe_topology::stream::Step;
use loupe_topology::subjects::{NodeName, Subject};
use loupe_topology::validate::Arrival;
use std::collections::BTreeMap;
use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum Output {
    Table,
    Jsonl,
}

#[derive(clap::Args)]
pub struct TailArgs {
    /// Table to read.
    #[arg(long, default_value = "http_events")]
    table: String,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value = "table")]
    output: Output,
    /// Only rows newer than this (e.g. 30s, 5m).
    #[arg(long, value_parser = humantime::parse_duration)]
    since: Option<Duration>,
    /// At most this many rows per node, the newest (default: 50 for table
    /// output, like tail(1) shows the end; everything for jsonl).
    #[arg(long)]
    limit: Option<u64>,
    /// Ask one node only (default: every agent).
    #[arg(long)]
    node: Option<String>,
    /// Columns to print (default for table output: a readable subset; jsonl: all).
    #[arg(long, value_delimiter = ',')]
    columns: Option<Vec<String>>,
    /// How long to wait for agents' answers after the last one arrived.
    #[arg(long, default_value = "500ms", value_parser = humantime::parse_duration)]
    wait: Duration,
    #[command(flatten)]
    nats: crate::NatsArgs,
}

const TABLE_DEFAULT_LIMIT: u64 = 50;

const TABLE_COLUMNS: &[&str] = &[
    "time_",
    "node",
    "pid",
    "trace_role",
    "remote_addr",
    "remote_port",
    "req_method",
    "req_path",
    "resp_status",
    "resp_latency",
    "service",
];

struct NodeAnswer {
    batches: Vec<RecordBatch>,
    /// The chunk numbers: a jump means a chunk was lost.
    seq: loupe_topology::stream::Sequence,
    done: bool,
    status: Option<NodeStatus>,
    error: Option<String>,
}

pub fn run(args: TailArgs) -> anyhow::Result<ExitCode> {
    // Two workers: the connection keeps reading the socket while answers are
    // decoded, so nats-server never sees a slow consumer.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(run_async(args))
}

async fn run_async(args: TailArgs) -> anyhow::Result<ExitCode> {
    if loupe_topology::schema::table(&args.table).is_none() {
        anyhow::bail!(
            "unknown table {:?}; tables: {}",
            args.table,
            loupe_topology::schema::TABLES.join(", ")
        );
    }
    let client = args
        .nats
        .connect("loupe-tail", loupe_topology::subjects::Role::Reader)
        .await?;
    let subject = match &args.node {
        Some(n) => Subject::node_tail(&NodeName::new(n)?),
        None => Subject::tail_all(),
    };
    let columns: Vec<String> = match (&args.columns, args.output) {
        (Some(c), _) => c.clone(),
        (None, Output::Table) => match loupe_topology::schema::def(&args.table).map(|d| d.kind) {
            Some(loupe_topology::schema::Kind::Protocol) => {
                TABLE_COLUMNS.iter().map(|s| s.to_string()).collect()
            }
            // A sampled table: its own columns (no process metadata).
            _ => loupe_topology::schema::stored_table(&args.table)
                .map(|s| s.fields().iter().map(|f| f.name().clone()).collect())
                .unwrap_or_default(),
        },
        (None, Output::Jsonl) => Vec::new(),
    };
    let req = TailRequest {
        table: args.table.clone(),
        since_ns: args.since.map(|d| d.as_nanos() as u64),
        limit: args.limit.or(match args.output {
            Output::Table => Some(TABLE_DEFAULT_LIMIT),
            Output::Jsonl => None,
        }),
        columns: columns.clone(),
    };
    let inbox = client.new_inbox();
    let mut sub = client.subscribe(inbox.clone()).await?;
    client
        .publish_with_reply(
            String::from(subject.clone()),
            inbox,
            codec::encode(Kind::TailRequest, &req)?.into(),
        )
        .await?;
    client.flush().await?;

    let mut answers: BTreeMap<String, NodeAnswer> = BTreeMap::new();
    // Up to 5 s for the first answer and between the chunks of a node's
    // answer; once every node that answered has finished, `--wait` more for
    // nodes still to come (none when one node was asked).
    const CHUNK_GAP: Duration = Duration::from_secs(5);
    let mut deadline = tokio::time::Instant::now() + CHUNK_GAP;
    loop {
        let all_done = !answers.is_empty() && answers.values().all(|a| a.done);
        if all_done && args.node.is_some() {
            break;
        }
        let msg = match tokio::time::timeout_at(deadline, sub.next()).await {
            Ok(Some(m)) => m,
            Ok(None) => break,
            Err(_) => {
                for (n, a) in answers.iter_mut().filter(|(_, a)| !a.done) {
                    a.error = Some(format!(
                        "node {n} stopped answering mid-reply (nothing for {CHUNK_GAP:?})"
                    ));
                    a.done = true;
                }
                break;
            }
        };
        if msg.status == Some(async_nats::StatusCode::NO_RESPONDERS) {
            // The server says nobody is subscribed: not a timeout, say so now.
            if answers.is_empty() {
                anyhow::bail!(
                    "no agent is listening on {subject} via {}: is `loupe agent` running and connected to this NATS server?",
                    args.nats.url
                );
            }
            continue;
        }
        let chunk: TailChunk = codec::receive(Kind::TailChunk, &msg.payload, &Arrival::any())?;
        let node = chunk.from.clone();
        let entry = answers.entry(node.clone()).or_insert(NodeAnswer {
            batches: Vec::new(),
            seq: Default::default(),
            done: false,
            status: None,
            error: None,
        });
        if entry.done {
            continue;
        }
        let (ipc, end) = match chunk.read(&mut entry.seq) {
            Ok(Step::Rows((), ipc)) => (ipc, None),
            Ok(Step::Last((), ipc, end)) => (ipc, Some(end)),
            Err(missed) => {
                entry.error = Some(format!(
                    "node {node}: {missed} (is this NATS server dropping a slow consumer?)"
                ));
                entry.done = true;
                continue;
            }
        };
        if !ipc.is_empty() {
            let reader =
                arrow::ipc::reader::StreamReader::try_new(std::io::Cursor::new(ipc), None)?;
            for b in reader {
                entry.batches.push(b?);
            }
        }
        match end {
            None => {}
            Some(Ok(status)) => {
                entry.done = true;
                entry.status = Some(status);
            }
            Some(Err(e)) => {
                entry.done = true;
                entry.error = Some(e.message);
            }
        }
        let pending = answers.values().any(|a| !a.done);
        deadline = tokio::time::Instant::now() + if pending { CHUNK_GAP } else { args.wait };
    }
    if answers.is_empty() {
        anyhow::bail!(
            "no agent answered on {subject} via {} within 5s: is `loupe agent` running and connected to this NATS server?",
            args.nats.url
        );
    }

    let mut batches = Vec::new();
    for a in answers.values() {
        batches.extend(a.batches.iter().cloned());
    }
    // Agents projected the columns already (TailRequest::columns).
    let projected = batches;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match args.output {
        Output::Table => {
            let readable = projected
                .iter()
                .map(latency_in_ms)
                .collect::<anyhow::Result<Vec<_>>>()?;
            let shown = arrow::util::pretty::pretty_format_batches(&readable)?;
            writeln!(out, "{shown}")?;
        }
        Output::Jsonl => {
            let mut w = arrow::json::LineDelimitedWriter::new(&mut out);
            for b in &projected {
                w.write(b)?;
            }
            w.finish()?;
        }
    }
    out.flush()?;
    drop(out);

    // Completeness, on stderr so it never mixes with the rows.
    let mut failed = false;
    for (node, a) in &answers {
        let rows: usize = a.batches.iter().map(|b| b.num_rows()).sum();
        match (&a.error, &a.status) {
            (Some(e), _) => {
                failed = true;
                eprintln!("node {node}: ERROR {e}");
            }
            (None, Some(s)) => eprintln!(
                "node {node}: {rows} rows; probes {}/{}; kernel drops {} records; gaps {} bytes; mailbox drops {} records; evicted {} rows",
                s.probes_attached,
                s.probes_total,
                s.counter(Metric::CaptureRingbufDroppedEvents),
                s.counter(Metric::ReassemblyGapBytes),
                s.counter(Metric::CaptureRecordsDroppedMailboxFull)
                    + s.counter(Metric::StoreRowsDroppedMailboxFull),
                s.counter(Metric::StoreRowsEvicted),
            ),
            (None, None) => eprintln!("node {node}: {rows} rows (no status)"),
        }
    }
    let truncated = answers
        .values()
        .any(|a| a.batches.iter().map(|b| b.num_rows() as u64).sum::<u64>() == TABLE_DEFAULT_LIMIT);
    if args.limit.is_none() && matches!(args.output, Output::Table) && truncated {
        eprintln!(
            "(the newest {TABLE_DEFAULT_LIMIT} rows per node; --limit N or --since D for others)"
        );
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// For people: `resp_latency` (ns) shown as `latency_ms` with three decimals.
/// Machine output (jsonl) keeps nanoseconds.
fn latency_in_ms(b: &RecordBatch) -> anyhow::Result<RecordBatch> {
    use arrow::array::{Array, AsArray, Float64Array};
    use arrow::datatypes::{DataType, Field, Int64Type, Schema};
    let schema = b.schema();
    let Ok(i) = schema.index_of("resp_latency") else {
        return Ok(b.clone());
    };
    let ns = b.column(i).as_primitive::<Int64Type>();
    let ms: Float64Array = ns
        .iter()
        .map(|v| v.map(|v| (v as f64 / 1e3).round() / 1e3))
        .collect();
    let mut cols = b.columns().to_vec();
    cols[i] = std::sync::Arc::new(ms);
    let mut fields: Vec<Field> = schema.fields().iter().map(|f| f.as_ref().clone()).collect();
    fields[i] = Field::new("latency_ms", DataType::Float64, ns.is_nullable());
    Ok(RecordBatch::try_new(
        std::sync::Arc::new(Schema::new(fields)),
        cols,
    )?)
}
