//! `loupe export add|list|rm`: scheduled exports (Pixie's cron scripts),
//! stored in JetStream by the planner group and run there every period
//! (admin role).

use std::process::ExitCode;
use std::time::Duration;

use loupe_topology::codec::{self, Kind};
use loupe_topology::messages::{ExportsReply, ExportsRequest, Schedule, ScheduleSpec};
use loupe_topology::subjects::{Role, Subject};

#[derive(clap::Args)]
pub struct ExportArgs {
    #[command(subcommand)]
    cmd: ExportCmd,
}

#[derive(clap::Subcommand)]
enum ExportCmd {
    /// Run a script every period, exporting each window [last run, now)
    /// (px.plugin.start_time, px.plugin.end_time) once.
    Add {
        /// The schedule's name (letters, digits, '_', '-').
        name: String,
        /// The script: a .pxl file or px/NAME of the library (Loupe's own:
        /// px/otel_service_metrics, px/otel_http_spans); it must call
        /// px.export.
        #[arg(value_name = "SCRIPT", required_unless_present = "file")]
        script: Option<String>,
        /// The script, as a path.
        #[arg(short = 'f', long = "file", conflicts_with = "script")]
        file: Option<std::path::PathBuf>,
        /// The period (10s, 1m, ...; 1 s to 24 h).
        #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
        every: Duration,
        /// An argument of the script's functions, as for `loupe run`.
        #[arg(long = "arg", value_name = "NAME=VALUE", value_parser = crate::run::parse_kv)]
        args: Vec<(String, String)>,
        #[command(flatten)]
        nats: crate::NatsArgs,
    },
    /// Every schedule: period, runs, the latest window and what it delivered.
    List {
        #[arg(short = 'o', long, value_enum, default_value_t = ListOutput::Table)]
        output: ListOutput,
        #[command(flatten)]
        nats: crate::NatsArgs,
    },
    /// Stop and forget a schedule.
    Rm {
        name: String,
        #[command(flatten)]
        nats: crate::NatsArgs,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum ListOutput {
    Table,
    Json,
}

pub fn run(args: ExportArgs) -> anyhow::Result<ExitCode> {
    let (req, output, nats) = match args.cmd {
        ExportCmd::Add {
            name,
            script,
            file,
            every,
            args: script_args,
            nats,
        } => {
            loupe_topology::validate::schedule_name(&name).map_err(anyhow::Error::msg)?;
            let which = match (&file, &script) {
                (Some(f), _) => f.display().to_string(),
                (None, Some(s)) => s.clone(),
                (None, None) => anyhow::bail!("give a script: px/NAME, or -f FILE.pxl"),
            };
            let b = crate::script::resolve(&which)?;
            if b.runs_functions() {
                anyhow::bail!(
                    "{which} is a bundle of widgets; a scheduled export is a script that calls px.export"
                );
            }
            let source = b.pxl.clone();
            let script = if which.starts_with("px/") {
                which.clone()
            } else {
                b.pxl_path
                    .file_name()
                    .map_or_else(|| which.clone(), |n| n.to_string_lossy().into_owned())
            };
            // Compiled here first: a mistake is said at once, with its line.
            let now = loupe_actors::clock::wall_now_ns();
            let every_ns = every.as_nanos().min(i64::MAX as u128) as i64;
            let opts = loupe_topology::pxl::Options {
                file: script.clone(),
                now_ns: now,
                args: script_args.clone(),
                exec: Vec::new(),
                plugin_window: Some((now - every_ns, now)),
            };
            match loupe_topology::pxl::compile(&source, &opts) {
                Err(e) => {
                    eprintln!("{e}");
                    return Ok(ExitCode::from(crate::run::EXIT_NOT_COMPILED));
                }
                Ok(plan) if !plan.sinks.iter().any(|s| s.export.is_some()) => {
                    eprintln!("{script} exports nothing: a scheduled script calls px.export");
                    return Ok(ExitCode::from(crate::run::EXIT_NOT_COMPILED));
                }
                Ok(_) => {}
            }
            (
                ExportsRequest::Add(ScheduleSpec {
                    name,
                    script,
                    source,
                    args: script_args,
                    every_ns,
                    ..ScheduleSpec::default()
                }),
                ListOutput::Table,
                nats,
            )
        }
        ExportCmd::List { output, nats } => (ExportsRequest::List, output, nats),
        ExportCmd::Rm { name, nats } => (ExportsRequest::Remove { name }, ListOutput::Table, nats),
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let reply = rt.block_on(ask(&nats, &req))?;
    if let Some(e) = &reply.error {
        eprintln!("error: {}", e.message);
        return Ok(ExitCode::FAILURE);
    }
    match (&req, output) {
        (_, ListOutput::Json) => {
            println!("{}", serde_json::to_string_pretty(&json(&reply))?);
        }
        (ExportsRequest::Add(s), _) => println!(
            "added {}: {} every {}, first window ends in {}",
            s.name,
            s.script,
            humantime::format_duration(Duration::from_nanos(s.every_ns as u64)),
            humantime::format_duration(Duration::from_secs(
                (s.every_ns as u64 / 1_000_000_000).max(1)
            ))
        ),
        (ExportsRequest::Remove { name }, _) => println!("removed {name}"),
        (ExportsRequest::List, _) => print_table(&reply.schedules),
    }
    Ok(ExitCode::SUCCESS)
}

async fn ask(nats: &crate::NatsArgs, req: &ExportsRequest) -> anyhow::Result<ExportsReply> {
    let client = nats.connect("loupe-export", Role::Admin).await?;
    let msg = nats
        .ask_planners(
            &client,
            Role::Admin,
            &Subject::exports(),
            codec::encode(Kind::ExportsRequest, req)?,
            "start one with `loupe planner` (schedules need the admin role)",
        )
        .await?;
    Ok(codec::receive(
        Kind::ExportsReply,
        &msg.payload,
        &loupe_topology::validate::Arrival::any(),
    )?)
}

fn secs(ns: i64) -> f64 {
    ns as f64 / 1e9
}

fn json(r: &ExportsReply) -> serde_json::Value {
    serde_json::json!({
        "planner": r.planner,
        "schedules": r.schedules.iter().map(|s| {
            let st = &s.state;
            serde_json::json!({
                "name": s.spec.name,
                "script": s.spec.script,
                "args": s.spec.args.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>(),
                "every_s": secs(s.spec.every_ns),
                "added_ns": s.spec.added_ns,
                "added_by": s.spec.added_by,
                "done_through_ns": st.done_through_ns,
                "runs": st.runs,
                "running_on": st.running.as_ref().map(|c| &c.planner),
                "last": st.last.as_ref().map(|l| serde_json::json!({
                    "planner": l.planner,
                    "start_ns": l.start_ns,
                    "end_ns": l.end_ns,
                    "finished_ns": l.finished_ns,
                    "points": l.points,
                    "delivered": l.delivered,
                    "lost": l.lost,
                    "error": l.error,
                })),
            })
        }).collect::<Vec<_>>(),
    })
}

fn print_table(all: &[Schedule]) {
    if all.is_empty() {
        println!("no export schedules (loupe export add NAME -f SCRIPT --every 10s)");
        return;
    }
    let now = loupe_actors::clock::wall_now_ns();
    println!(
        "{:<20} {:<28} {:>7} {:>6} {:>12} {:>9} {:>6}  LAST",
        "NAME", "SCRIPT", "EVERY", "RUNS", "WINDOW", "DELIVERED", "LOST"
    );
    for s in all {
        let st = &s.state;
        let (window, delivered, lost, last) = match &st.last {
            Some(l) => (
                format!("{:.1}s", secs(l.end_ns - l.start_ns)),
                l.delivered.to_string(),
                l.lost.to_string(),
                format!(
                    "{:.0}s ago on {}{}",
                    secs(now - l.finished_ns),
                    l.planner,
                    l.error
                        .as_ref()
                        .map(|e| format!(": {e}"))
                        .unwrap_or_default()
                ),
            ),
            None => ("-".into(), "-".into(), "-".into(), "not run yet".into()),
        };
        println!(
            "{:<20} {:<28} {:>7} {:>6} {:>12} {:>9} {:>6}  {last}{}",
            s.spec.name,
            s.spec.script,
            humantime::format_duration(Duration::from_nanos(s.spec.every_ns as u64)).to_string(),
            st.runs,
            window,
            delivered,
            lost,
            st.running
                .as_ref()
                .map(|c| format!(" (running on {})", c.planner))
                .unwrap_or_default(),
        );
    }
}
