//! `loupe planner`: the query planner daemon (one of a queue group).

use loupe_actors::planner::{PlannerConfig, QueryPlanner};
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct PlannerArgs {
    /// Name in logs and answers (default: host name and pid).
    #[arg(long)]
    name: Option<String>,
    /// Most partials one process receives per query: with more nodes than
    /// this, partials merge on nodes first, in a tree of this fan-in.
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u32).range(2..))]
    merge_fanin: u32,
    /// Most nodes the planner keeps track of; heartbeats of more are
    /// refused and counted (a bound on what any NATS client can make it hold).
    #[arg(long, default_value_t = 10_000)]
    max_nodes: usize,
    /// Most MiB of partials one query may bring here, and of its answer;
    /// past it the query stops with an error that says so.
    #[arg(long, default_value_t = 256)]
    answer_budget_mib: u64,
    #[command(flatten)]
    nats: crate::NatsArgs,
    #[command(flatten)]
    kube: crate::kube::KubeArgs,
    /// In a cluster: how long a deleted pod or service still names the
    /// rows of its time (its IP may be reused meanwhile).
    #[arg(long, default_value = "1h", value_parser = humantime::parse_duration)]
    metadata_retention: std::time::Duration,
    /// In a cluster: the agents' DaemonSet (`namespace/name`); its pods
    /// say why a node has no agent in `loupe nodes`.
    #[arg(long, default_value = "loupe/loupe-agent")]
    agent_daemonset: String,
    /// The cluster's name: `px.vizier_name()` in scripts (Pixie's export
    /// scripts put it in every resource); its id, `px.vizier_id()`, is
    /// derived from it. Give every planner of a cluster the same.
    #[arg(long, env = "LOUPE_CLUSTER_NAME", default_value = "loupe")]
    cluster_name: String,
    /// Serve the planner's counters and gauges on this address, at
    /// `/metrics` (the Prometheus text format), e.g. 0.0.0.0:9465.
    #[arg(long, env = "LOUPE_METRICS_ADDR")]
    metrics_addr: Option<std::net::SocketAddr>,
}

pub fn run(args: PlannerArgs) -> anyhow::Result<ExitCode> {
    let name = args
        .name
        .clone()
        .unwrap_or_else(|| format!("{}-{}", crate::agent::hostname(), std::process::id()));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let client = args
            .nats
            .connect_daemon(
                &format!("loupe-planner-{name}"),
                loupe_topology::subjects::Role::Planner,
            )
            .await?;
        // In a cluster: one planner of the group (the lease holder) watches
        // the API server for all; every planner follows what it writes.
        let kube = args.kube.client().await?;
        let meta = match kube {
            Some(kube) => {
                let shared = loupe_actors::metadata::Shared::default();
                tokio::spawn(loupe_actors::metadata::lead(
                    client.clone(),
                    kube,
                    name.clone(),
                    args.metadata_retention,
                ));
                tokio::spawn(loupe_actors::metadata::follow(
                    client.clone(),
                    shared.clone(),
                    Default::default(),
                ));
                Some(shared)
            }
            None => {
                // A plain host: the bucket holds what agents report of
                // their hosts (listening processes), for naming peers.
                if let Err(e) = loupe_actors::metadata::ensure_bucket(client.clone()).await {
                    tracing::warn!(error = %e, "no metadata bucket (NATS without JetStream?): peers on other hosts are not named");
                }
                let shared = loupe_actors::metadata::Shared::default();
                tokio::spawn(loupe_actors::metadata::follow(
                    client.clone(),
                    shared.clone(),
                    Default::default(),
                ));
                Some(shared)
            }
        };
        let planner = QueryPlanner::new(
            client,
            PlannerConfig {
                name,
                merge_fanin: args.merge_fanin as usize,
                max_nodes: args.max_nodes,
                answer_budget: args.answer_budget_mib.max(1) << 20,
                users: args
                    .nats
                    .auth_dir
                    .as_deref()
                    .map(crate::auth::read_users)
                    .unwrap_or_default(),
                meta,
                agent_daemonset: args.agent_daemonset,
                cluster_name: args.cluster_name.clone(),
                ..PlannerConfig::default()
            },
        );
        if let Some(addr) = args.metrics_addr {
            let listener = loupe_actors::serve_metrics::bind(addr).await?;
            tracing::info!(%addr, "serving /metrics");
            let p = planner.clone();
            let source: loupe_actors::serve_metrics::Source = std::sync::Arc::new(move || {
                let counters = p.counters();
                Box::pin(async move { counters })
            });
            tokio::spawn(loupe_actors::serve_metrics::serve(
                listener,
                loupe_actors::serve_metrics::Process::Planner,
                planner.name().to_string(),
                source,
            ));
        }
        tokio::select! {
            r = planner.run() => r?,
            r = tokio::signal::ctrl_c() => { r?; tracing::info!("interrupted: stopping"); }
            r = crate::agent::wait_term() => { r?; tracing::info!("terminated: stopping"); }
        }
        Ok::<_, anyhow::Error>(())
    })?;
    Ok(ExitCode::SUCCESS)
}
