//! `loupe planner`: the query planner daemon (one of a queue group).

use loupe_actors::planner::{PlannerConfig, QueryPlanner};
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct PlannerArgs {
    /// Name in logs and answers (default: host name and pid).
    #[arg(long)]
    name: Option<String>,
    #[command(flatten)]
    nats: crate::NatsArgs,
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
            .connect_daemon(&format!("loupe-planner-{name}"))
            .await?;
        let planner = QueryPlanner::new(
            client,
            PlannerConfig {
                name,
                ..PlannerConfig::default()
            },
        );
        tokio::select! {
            r = planner.run() => r?,
            r = tokio::signal::ctrl_c() => { r?; tracing::info!("interrupted: stopping"); }
            r = crate::agent::wait_term() => { r?; tracing::info!("terminated: stopping"); }
        }
        Ok::<_, anyhow::Error>(())
    })?;
    Ok(ExitCode::SUCCESS)
}
