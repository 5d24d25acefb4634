//! `loupe`: the agent and the command line.

mod agent;
mod agent_config;
mod auth;
mod check;
mod demo;
mod export;
mod kube;
mod live;
mod nodes;
mod planner;
mod privileges;
mod render;
mod run;
mod script;
mod sim;
mod tables;
mod tail;
mod tap;

use clap::{Parser, Subcommand};
use loupe_topology::subjects::Role;

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
    /// Scheduled exports (Pixie's cron scripts): add, list, remove (admin role).
    Export(export::ExportArgs),
    /// NATS credentials and permissions per role (`loupe auth init DIR`).
    Auth(auth::AuthArgs),
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
        Cmd::Auth(a) => auth::run(a),
        Cmd::Export(a) => export::run(a),
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
    /// Credentials of this command's role: a file written by `loupe auth
    /// init`, or a NATS .creds file. Overrides --auth-dir.
    #[arg(long, env = "LOUPE_CREDS")]
    pub creds: Option<std::path::PathBuf>,
    /// A folder written by `loupe auth init`: this command takes its role's
    /// credentials there (agent, planner, reader, or admin for `loupe
    /// tap`) and trusts its CA (ca.pem) when it has one.
    #[arg(long, env = "LOUPE_AUTH_DIR")]
    pub auth_dir: Option<std::path::PathBuf>,
    /// CA certificate(s) to trust for the server's TLS (PEM); implies TLS.
    #[arg(long, env = "LOUPE_TLS_CA")]
    pub tls_ca: Option<std::path::PathBuf>,
    /// Client certificate for servers that verify clients (PEM).
    #[arg(long, env = "LOUPE_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<std::path::PathBuf>,
    /// Key of --tls-cert (PEM).
    #[arg(long, env = "LOUPE_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<std::path::PathBuf>,
}

/// Messages a command's subscription holds before NATS drops the newest
/// (≤ 512 KiB each: at most 512 MiB, for a reader that stopped reading).
pub const CLI_SUBSCRIPTION_CAPACITY: usize = 1024;

impl NatsArgs {
    /// This command's credentials file: `--creds`, else its role's file in
    /// `--auth-dir`.
    fn creds_for(&self, role: Role) -> Option<std::path::PathBuf> {
        self.creds
            .clone()
            .or_else(|| self.auth_dir.as_ref().map(|d| auth::creds_path(d, role)))
    }

    /// Connection options with this command's credentials and TLS. A
    /// server without auth needs none of them.
    pub fn options(&self, role: Role) -> anyhow::Result<async_nats::ConnectOptions> {
        let mut opts = async_nats::ConnectOptions::new();
        let creds = self.creds_for(role);
        if let Some(path) = creds {
            if auth::has_jwt(&path) {
                let text = std::fs::read_to_string(&path)
                    .map_err(|e| anyhow::anyhow!("credentials {}: {e}", path.display()))?;
                opts = opts.credentials(&text).map_err(|_| {
                    anyhow::anyhow!("credentials {}: not a NATS .creds file", path.display())
                })?;
            } else {
                opts = opts.nkey(auth::read_seed(&path)?);
            }
        }
        let ca = self.tls_ca.clone().or_else(|| {
            self.auth_dir
                .as_ref()
                .map(|d| auth::ca_path(d))
                .filter(|p| p.exists())
        });
        if let Some(ca) = ca {
            opts = opts.add_root_certificates(ca).require_tls(true);
        }
        if let (Some(c), Some(k)) = (&self.tls_cert, &self.tls_key) {
            opts = opts.add_client_certificate(c.clone(), k.clone());
        }
        Ok(opts)
    }

    /// Headers that prove who sends `payload`: the public NKey of this
    /// command's credentials and its Ed25519 signature of the payload. The
    /// planner checks them and names the requester in its audit line
    /// (core NATS does not tell a subscriber who published). None without
    /// credentials.
    pub fn signature(&self, role: Role, payload: &[u8]) -> anyhow::Result<async_nats::HeaderMap> {
        let mut h = async_nats::HeaderMap::new();
        let creds = self.creds_for(role);
        if let Some(path) = creds {
            let key = nkeys::KeyPair::from_seed(&auth::read_seed(&path)?).map_err(|_| {
                anyhow::anyhow!("credentials {}: not a usable NKey seed", path.display())
            })?;
            let sig = key
                .sign(payload)
                .map_err(|e| anyhow::anyhow!("signing the request: {e}"))?;
            h.insert(
                loupe_topology::subjects::SIGNER_HEADER,
                key.public_key().as_str(),
            );
            let hex: String = sig.iter().map(|b| format!("{b:02x}")).collect();
            h.insert(loupe_topology::subjects::SIGNATURE_HEADER, hex.as_str());
        }
        Ok(h)
    }

    /// One signed request to the planners' queue group on `subject`: its
    /// reply, or an error that names the subject and the URL (no
    /// answer in 10 s, nobody listening: `hint` says what to start).
    pub async fn ask_planners(
        &self,
        client: &async_nats::Client,
        role: Role,
        subject: &loupe_topology::subjects::Subject,
        payload: Vec<u8>,
        hint: &str,
    ) -> anyhow::Result<async_nats::Message> {
        let headers = self.signature(role, &payload)?;
        match tokio::time::timeout(
            std::time::Duration::from_secs(10),
            client.request_with_headers(String::from(subject.clone()), headers, payload.into()),
        )
        .await
        {
            Err(_) => anyhow::bail!(
                "no planner answered on {subject} via {} within 10 s",
                self.url
            ),
            Ok(Err(e)) if e.kind() == async_nats::RequestErrorKind::NoResponders => {
                anyhow::bail!(
                    "no planner is listening on {subject} via {}: {hint}",
                    self.url
                )
            }
            Ok(Err(e)) => anyhow::bail!("{subject} via {}: {e}", self.url),
            Ok(Ok(m)) => Ok(m),
        }
    }

    /// For daemons: returns at once and connects in the background, for ever,
    /// so the agent captures while NATS is down or not yet up; connection
    /// changes are logged with the URL.
    pub async fn connect_daemon(
        &self,
        name: &str,
        role: Role,
    ) -> anyhow::Result<async_nats::Client> {
        self.connect_daemon_in(name, role, None).await
    }

    /// [`Self::connect_daemon`] with its own inbox prefix (an agent's:
    /// [`loupe_topology::subjects::agent_inbox`]).
    pub async fn connect_daemon_in(
        &self,
        name: &str,
        role: Role,
        inbox: Option<String>,
    ) -> anyhow::Result<async_nats::Client> {
        let url = self.url.clone();
        let mut opts = self.options(role)?;
        if let Some(prefix) = inbox {
            opts = opts.custom_inbox_prefix(prefix);
        }
        let opts = opts
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
    pub async fn connect(&self, name: &str, role: Role) -> anyhow::Result<async_nats::Client> {
        let opts = self
            .options(role)?
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
