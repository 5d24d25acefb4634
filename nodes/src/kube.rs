//! `--kubeconfig`: whether a daemon runs in a cluster, and how it reaches
//! the API server. A planner in a cluster may take the metadata lease and
//! watch the API server; an agent in a cluster never talks to it (it
//! follows the metadata bucket over NATS), the flag only says it is in one.

use std::path::{Path, PathBuf};

#[derive(clap::Args, Clone, Debug, Default)]
pub struct KubeArgs {
    /// A kubeconfig for the Kubernetes API. Without it: the pod's service
    /// account when running in a cluster, else $KUBECONFIG; with none of
    /// them, host mode (names come from the host alone).
    #[arg(long)]
    pub kubeconfig: Option<PathBuf>,
}

/// Where the API server's address and credentials come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    File(PathBuf),
    InCluster,
}

impl KubeArgs {
    /// `None`: host mode.
    pub fn source(&self) -> Option<Source> {
        if let Some(p) = &self.kubeconfig {
            return Some(Source::File(p.clone()));
        }
        if std::env::var_os("KUBERNETES_SERVICE_HOST").is_some() {
            return Some(Source::InCluster);
        }
        std::env::var_os("KUBECONFIG")
            .filter(|p| !p.is_empty())
            .map(|p| Source::File(PathBuf::from(p)))
    }

    /// A client of the API server, or `None` in host mode. A kubeconfig
    /// that cannot be read is an error naming it (never a silent host mode).
    pub async fn client(&self) -> anyhow::Result<Option<kube::Client>> {
        let config = match self.source() {
            None => return Ok(None),
            Some(Source::File(p)) => from_file(&p).await?,
            Some(Source::InCluster) => kube::Config::incluster()
                .map_err(|e| anyhow::anyhow!("in-cluster Kubernetes config: {e}"))?,
        };
        Ok(Some(
            kube::Client::try_from(config)
                .map_err(|e| anyhow::anyhow!("Kubernetes client: {e}"))?,
        ))
    }
}

async fn from_file(path: &Path) -> anyhow::Result<kube::Config> {
    let kc = kube::config::Kubeconfig::read_from(path)
        .map_err(|e| anyhow::anyhow!("kubeconfig {}: {e}", path.display()))?;
    kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
        .await
        .map_err(|e| anyhow::anyhow!("kubeconfig {}: {e}", path.display()))
}
