//! `loupe`: the agent and the command line.

mod agent;
mod check;
mod demo;
mod live;
mod nodes;
mod planner;
mod render;
mod run;
mod sim;
mod tables;
mod tail;
mod tap;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "loupe",
    version,
    about = "Zero-instrumentation observability: every request, from the kernel"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the node agent: capture, parse and keep this host's traffic.
    Agent(agent::AgentArgs),
    /// Check that this host can run the agent (kernel, BTF, tracefs, bpffs, probes).
    Check(check::CheckArgs),
    /// Print recent rows of a table from running agents.
    Tail(tail::TailArgs),
    /// Run the query planner (several may run: they share the load).
    Planner(planner::PlannerArgs),
    /// Run a PxL script once and print its tables.
    Run(run::RunArgs),
    /// Run a PxL script continuously: a window refreshed every period.
    Live(live::LiveArgs),
    /// The tables scripts can read: columns, types, rows held per agent.
    Tables(tables::TablesArgs),
    /// Every node a planner knows: probes, events/s, drops, retention, fragments, last seen.
    Nodes(nodes::NodesArgs),
    /// What one stage of one node (capture, reassembly, records, rows) hands the next, live.
    Tap(tap::TapArgs),
    /// Everything on this machine: NATS, a planner, an agent, a small workload; then its slowest endpoints.
    Demo(demo::DemoArgs),
    /// One service of the demo workload (started by `loupe demo`).
    #[command(hide = true)]
    DemoService(demo::workload::ServiceArgs),
    /// Many simulated nodes (no eBPF, rows by a fixed rule), for scale tests.
    #[command(hide = true)]
    SimNodes(sim::SimArgs),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    // The agent logs its progress; commands print results and only warnings.
    let default = if matches!(cli.cmd, Cmd::Agent(_) | Cmd::Planner(_) | Cmd::SimNodes(_)) {
        "info"
    } else {
        "warn"
    };
    let filter =
        tracing_subscriber::EnvFilter::try_from_env("LOUPE_LOG").unwrap_or_else(|_| default.into());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let result = match cli.cmd {
        Cmd::Agent(a) => agent::run(a),
        Cmd::Check(a) => check::run(a),
        Cmd::Tail(a) => tail::run(a),
        Cmd::Planner(a) => planner::run(a),
        Cmd::Run(a) => run::run(a),
        Cmd::Live(a) => live::run(a),
        Cmd::Tables(a) => tables::run(a),
        Cmd::Nodes(a) => nodes::run(a),
        Cmd::Tap(a) => tap::run(a),
        Cmd::Demo(a) => demo::run(a),
        Cmd::DemoService(a) => demo::workload::run(a),
        Cmd::SimNodes(a) => sim::simulate(a).map(|()| std::process::ExitCode::SUCCESS),
    };
    match result {
        Ok(code) => code,
        // `loupe run ... | head`: the reader has all it wanted.
        Err(e)
            if e.downcast_ref::<std::io::Error>()
                .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe) =>
        {
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// `--nats URL`, shared by every command that talks to Loupe.
#[derive(clap::Args, Clone, Debug)]
pub struct NatsArgs {
    /// NATS server URL.
    #[arg(
        long = "nats",
        env = "LOUPE_NATS_URL",
        default_value = "nats://127.0.0.1:4222"
    )]
    pub url: String,
}

/// Messages a command's subscription holds before NATS drops the newest
/// (≤ 512 KiB each: at most 512 MiB, for a reader that stopped reading).
pub const CLI_SUBSCRIPTION_CAPACITY: usize = 1024;

impl NatsArgs {
    /// For daemons: returns at once and connects in the background, for ever,
    /// so the agent captures while NATS is down or not yet up; connection
    /// changes are logged with the URL.
    pub async fn connect_daemon(&self, name: &str) -> anyhow::Result<async_nats::Client> {
        let url = self.url.clone();
        let opts = async_nats::ConnectOptions::new()
            .name(name)
            .retry_on_initial_connect()
            .max_reconnects(None)
            .event_callback(move |event| {
                let url = url.clone();
                async move {
                    match event {
                        async_nats::Event::Connected => tracing::info!(%url, "connected to NATS"),
                        async_nats::Event::Disconnected => tracing::warn!(
                            %url,
                            "NATS unreachable: still capturing and storing, reconnecting"
                        ),
                        other => tracing::warn!(%url, event = %other, "NATS"),
                    }
                }
            });
        opts.connect(self.url.as_str())
            .await
            .map_err(|e| anyhow::anyhow!("bad NATS URL {}: {e}", self.url))
    }

    /// Connects, failing within a few seconds with a message naming the URL.
    /// A subscription buffers at most [`CLI_SUBSCRIPTION_CAPACITY`]
    /// messages: a reader slower than what it reads loses messages (each
    /// command counts what it lost) rather than growing without bound.
    pub async fn connect(&self, name: &str) -> anyhow::Result<async_nats::Client> {
        let opts = async_nats::ConnectOptions::new()
            .name(name)
            .subscription_capacity(CLI_SUBSCRIPTION_CAPACITY)
            .connection_timeout(std::time::Duration::from_secs(3));
        match tokio::time::timeout(
            std::time::Duration::from_secs(5),
            opts.connect(self.url.as_str()),
        )
        .await
        {
            Ok(Ok(c)) => Ok(c),
            Ok(Err(e)) => anyhow::bail!(
                "cannot reach nats-server at {}: {e} (start one, or pass --nats / LOUPE_NATS_URL)",
                self.url
            ),
            Err(_) => anyhow::bail!(
                "cannot reach nats-server at {}: timed out after 5s",
                self.url
            ),
        }
    }
}
