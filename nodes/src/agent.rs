//! `loupe agent`: capture -> reassembly/parse -> table store, answering on NATS.

use actix::prelude::*;
use loupe_actors::capture::{self, CaptureLoopConfig, CaptureShared};
use loupe_actors::reassembly::{Reassembly, ReassemblyConfig};
use loupe_actors::service::{NodeInfo, Service};
use loupe_actors::table_store::{RetentionConfig, TableStore};
use loupe_actors::{Counter, Counters};
use loupe_bpf::{Capture, CaptureConfig};
use loupe_topology::subjects::NodeName;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

#[derive(clap::Args)]
pub struct AgentArgs {
    /// Node name (default: the host name).
    #[arg(long)]
    node: Option<String>,
    #[command(flatten)]
    nats: crate::NatsArgs,
    /// Payload bytes captured per syscall; the rest is skipped as a gap of known length.
    #[arg(long, default_value_t = 16 * 1024)]
    payload_cap: u32,
    /// Ring buffer size in KiB (rounded up to a power of two, at least 64).
    #[arg(long, default_value_t = 64 * 1024)]
    ring_kib: u32,
    /// Bytes of table data kept, in MiB; oldest batches go first.
    #[arg(long, default_value_t = 512)]
    retention_mb: usize,
    /// Age after which rows are dropped (e.g. 15m, 1h).
    #[arg(long, default_value = "1h", value_parser = humantime::parse_duration)]
    retention: Duration,
    /// Observe only the processes of this network namespace: a name of
    /// `ip netns` (/run/netns/NAME) or a path (/proc/PID/ns/net); may be
    /// repeated. For several nodes on one kernel: one agent per node, each
    /// with its node's namespaces.
    #[arg(long)]
    netns: Vec<String>,
    /// Most query fragments (and merge parts) run at once; a deploy beyond
    /// it is refused as busy, and the planner names this node.
    #[arg(long, default_value_t = loupe_actors::fragment::DEFAULT_MAX_FRAGMENTS)]
    max_fragments: usize,
    /// The agent's config file (TOML): what to keep, per table, beyond the
    /// default redaction (see README, "Capture and redaction").
    #[arg(long, env = "LOUPE_AGENT_CONFIG")]
    config: Option<std::path::PathBuf>,
    /// In a cluster, names come from the metadata bucket a planner writes
    /// (this agent never asks the API server); the flag only says the
    /// agent is in one (see `loupe planner --kubeconfig`).
    #[command(flatten)]
    kube: crate::kube::KubeArgs,
    /// Sampling period of a sampled table (conn_stats, process_stats,
    /// network_stats): TABLE=PERIOD (500ms, 5s) or TABLE=off; may be
    /// repeated. Default: every second, as Pixie.
    #[arg(long = "sample", value_name = "TABLE=PERIOD", value_parser = parse_sample)]
    sample: Vec<(String, Option<Duration>)>,
    /// Serve the agent's counters and gauges on this address, at
    /// `/metrics` (the Prometheus text format), e.g. 0.0.0.0:9464.
    #[arg(long, env = "LOUPE_METRICS_ADDR")]
    metrics_addr: Option<std::net::SocketAddr>,
}

fn parse_sample(s: &str) -> Result<(String, Option<Duration>), String> {
    loupe_actors::tables::SamplingConfig::parse_flag(s)
}

/// The inode of a network namespace, by `ip netns` name or path.
fn netns_inode(name: &str) -> anyhow::Result<u32> {
    use std::os::unix::fs::MetadataExt;
    let path = if name.contains('/') {
        std::path::PathBuf::from(name)
    } else {
        std::path::Path::new("/run/netns").join(name)
    };
    let meta = std::fs::metadata(&path).map_err(|e| {
        anyhow::anyhow!(
            "--netns {name}: {}: {e} (list them with `ip netns list`)",
            path.display()
        )
    })?;
    u32::try_from(meta.ino())
        .map_err(|_| anyhow::anyhow!("--netns {name}: inode {} out of range", meta.ino()))
}

pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "node".into())
}

pub fn run(args: AgentArgs) -> anyhow::Result<ExitCode> {
    let node = match &args.node {
        Some(n) => NodeName::new(n)?,
        None => NodeName::sanitized(&hostname()),
    };
    let config = match &args.config {
        Some(path) => crate::agent_config::AgentConfig::load(path)?,
        None => Default::default(),
    };
    let mut reassembly = ReassemblyConfig::default();
    config.apply(&mut reassembly.parsers);
    let capture_widened = config.widened();
    let in_cluster = args.kube.source().is_some();
    for w in &capture_widened {
        tracing::warn!("capture widened by the agent's config: {w}");
    }
    let cfg = CaptureConfig {
        payload_cap: args
            .payload_cap
            .min((loupe_bpf::events::CHUNK * loupe_bpf::events::MAX_CHUNKS) as u32),
        ring_bytes: args.ring_kib.clamp(64, 4 << 20) << 10,
        netns: args
            .netns
            .iter()
            .map(|n| netns_inode(n))
            .collect::<anyhow::Result<_>>()?,
        ..CaptureConfig::default()
    };
    let netns_inodes: Vec<u64> = cfg.netns.iter().map(|i| u64::from(*i)).collect();
    let mut cap =
        Capture::load(&cfg).map_err(|e| anyhow::anyhow!("{e}\n(run `loupe check` for details)"))?;
    let attached = cap.probes().iter().filter(|p| p.error.is_none()).count() as u32;
    let total = cap.probes().len() as u32;
    tracing::info!(node = %node, attached, total, payload_cap = cfg.payload_cap, ring_bytes = cfg.ring_bytes, netns = ?args.netns, "probes loaded");
    let kernel = loupe_bpf::sys::host_checks()
        .into_iter()
        .find(|c| c.name == "kernel")
        .map(|c| c.detail)
        .unwrap_or_default();

    // Connections of no traced protocol stop being copied by the kernel.
    let untrace = match cap.take_untrace() {
        Ok(mut u) => Some(
            Box::new(move |tgid, fd, generation| u.mark(tgid, fd, generation))
                as loupe_actors::reassembly::UntraceFn,
        ),
        Err(e) => {
            tracing::warn!(error = %e, "untraced connections will keep being copied");
            None
        }
    };
    // conn_stats reads every connection's counters from the kernel's map.
    let conn_sampler = match cap.take_conns() {
        Ok(mut t) => Some(Box::new(
            move |f: &mut dyn FnMut(
                loupe_actors::tables::conn_stats::ConnId,
                loupe_actors::tables::conn_stats::Totals,
            )| {
                t.read(|k, v| {
                    f(
                        (k.tgid, k.fd, v.generation),
                        loupe_actors::tables::conn_stats::Totals {
                            bytes_sent: v.send_off,
                            bytes_recv: v.recv_off,
                            retransmits: v.retransmits,
                            resets_sent: v.resets_sent as u64,
                            resets_received: v.resets_received as u64,
                        },
                    )
                })
            },
        ) as loupe_actors::reassembly::ConnSampleFn),
        Err(e) => {
            tracing::warn!(error = %e, "conn_stats will count bytes at close only");
            None
        }
    };
    let sampling = loupe_actors::tables::SamplingConfig {
        periods: args.sample.clone(),
        netns: netns_inodes.clone(),
    };
    reassembly.conn_stats = sampling.period(loupe_topology::schema::CONN_STATS);
    // Everything privileged is done: the programs are attached and their
    // maps open. From here on, no thread has more than it needs.
    crate::privileges::drop_to(&crate::privileges::kept(&kernel))
        .map_err(|e| anyhow::anyhow!("could not drop privileges: {e}"))?;
    let privileges = crate::privileges::describe();
    tracing::info!("{privileges}");

    let system = actix::System::new();
    let result: anyhow::Result<()> = system.block_on(async move {
        let client = args
            .nats
            .connect_daemon_in(
                &format!("loupe-agent-{node}"),
                loupe_topology::subjects::Role::Agent,
                Some(loupe_topology::subjects::agent_inbox(node.as_str())),
            )
            .await?;
        let counters = Arc::new(Counters::default());
        let shared = Arc::new(CaptureShared::default());
        let wire = Arc::new(loupe_actors::wire::WireGuard::default());
        // In a cluster: follow the metadata bucket (names of pods and
        // services); the last known state stays while NATS is away.
        // On a plain host too (other hosts' listening processes); and
        // report this host's (in a cluster: host-network pods').
        let followed = loupe_actors::metadata::Shared::default();
        actix::spawn(loupe_actors::metadata::follow(
            client.clone(),
            followed.clone(),
            wire.clone(),
        ));
        let meta = in_cluster.then(|| followed.clone());
        actix::spawn(loupe_actors::metadata::report_host(
            client.clone(),
            node.to_string(),
            netns_inodes.clone(),
            meta.clone(),
        ));
        let retention = RetentionConfig {
            max_bytes: args.retention_mb << 20,
            max_age: args.retention,
        };
        let store_arbiter = Arbiter::new();
        let c2 = counters.clone();
        let store = TableStore::start_in_arbiter(&store_arbiter.handle(), move |_| {
            TableStore::new(retention, c2)
        });
        // Reassembly -> Enrich (names from the cluster, per process) -> store.
        let (s1, u1, m1, c1) = (
            store.clone().recipient(),
            store.clone().recipient(),
            meta.clone(),
            counters.clone(),
        );
        let enrich =
            loupe_actors::enrich::Enrich::start_in_arbiter(&store_arbiter.handle(), move |_| {
                loupe_actors::enrich::Enrich::new(s1, u1, m1, c1)
            });
        let reasm_arbiter = Arbiter::new();
        let (c3, s2, n2) = (
            counters.clone(),
            enrich.clone().recipient(),
            node.to_string(),
        );
        let taps = Arc::new(loupe_actors::tap::Taps::default());
        let t2 = taps.clone();
        let reasm = Reassembly::start_in_arbiter(&reasm_arbiter.handle(), move |_| {
            let mut r = Reassembly::new(reassembly, &n2, s2, c3).with_taps(t2);
            if let Some(f) = conn_sampler {
                r = r.with_conn_sampler(f);
            }
            match untrace {
                Some(f) => r.with_untrace(f),
                None => r,
            }
        });
        // process_stats and network_stats: /proc, every period, on a thread
        // of their own (file reads block).
        let sample_arbiter = Arbiter::new();
        let (c5, s5, n5) = (
            counters.clone(),
            enrich.clone().recipient(),
            node.to_string(),
        );
        let _sampling =
            loupe_actors::tables::Sampling::start_in_arbiter(&sample_arbiter.handle(), move |_| {
                loupe_actors::tables::Sampling::new(&n5, &sampling, s5, c5)
            });
        let stop = Arc::new(AtomicBool::new(false));
        let thread = capture::spawn(
            cap,
            reasm.recipient(),
            counters.clone(),
            shared.clone(),
            CaptureLoopConfig::default(),
            stop.clone(),
        );

        let service = Service {
            client,
            info: NodeInfo {
                node: node.clone(),
                kernel,
                probes_attached: attached,
                probes_total: total,
                retention_max_bytes: (args.retention_mb as u64) << 20,
                clock_offset_ns: 0,
                privileges,
                capture: capture_widened,
            },
            store,
            counters: counters.clone(),
            capture: shared.clone(),
            fragments: Arc::new(loupe_actors::fragment::Fragments::new(args.max_fragments)),
            history: Default::default(),
            taps,
            wire,
            meta,
        };
        if let Some(addr) = args.metrics_addr {
            let listener = loupe_actors::serve_metrics::bind(addr).await?;
            tracing::info!(%addr, "serving /metrics");
            let status = service.clone();
            let source: loupe_actors::serve_metrics::Source = std::sync::Arc::new(move || {
                let status = status.clone();
                Box::pin(async move { status.status().await.counters })
            });
            actix::spawn(loupe_actors::serve_metrics::serve(
                listener,
                loupe_actors::serve_metrics::Process::Agent,
                node.to_string(),
                source,
            ));
        }
        // The NATS service is restarted after a panic (counted); capture
        // and the store go on regardless.
        let served = actix::spawn(async move {
            loop {
                match loupe_actors::supervise::guarded("nats-service", service.clone().run()).await
                {
                    Ok(r) => break r,
                    Err(_) => tokio::time::sleep(Duration::from_secs(1)).await,
                }
            }
        });
        let c4 = counters.clone();
        let reporter = actix::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(10));
            loop {
                tick.tick().await;
                tracing::info!(
                    records = c4.get(Counter::CaptureRecordsRead),
                    rows = c4.get(Counter::StoreRowsAppended),
                    gap_bytes = c4.get(Counter::ReassemblyGapBytes),
                    dropped_batches_records = c4.get(Counter::CaptureRecordsDroppedMailboxFull),
                    "agent"
                );
            }
        });
        tokio::select! {
            r = tokio::signal::ctrl_c() => { r?; tracing::info!("interrupted: stopping"); }
            r = wait_term() => { r?; tracing::info!("terminated: stopping"); }
            r = served => { tracing::error!(?r, "NATS service ended"); }
        }
        reporter.abort();
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        Ok(())
    });
    result?;
    Ok(ExitCode::SUCCESS)
}

pub async fn wait_term() -> std::io::Result<()> {
    let mut s = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    s.recv().await;
    Ok(())
}
