//! `loupe sim-nodes` (hidden): many simulated nodes in one process, for the
//! scale simulation of the merge tree (issue 6). Each node is the agent's
//! own NATS face (heartbeats, status, deploys, fragments, merge parts) over
//! its own table store, holding `http_events` rows made by a fixed rule
//! instead of captured ones; there is no eBPF. The rule, so a test can
//! compute the right answer on its own: node `i` (of the whole simulation)
//! holds `rows` rows; row `r` has path `/p{(i + r) % 5}`, status 500 when
//! `(i + r) % 7 == 0` (else 200), latency `(1 + (i * 7 + r) % 100)` ms, and a
//! time spread over the minute before the process started.

use std::sync::Arc;

use actix::prelude::*;
use loupe_actors::Counters;
use loupe_actors::capture::CaptureShared;
use loupe_actors::service::{NodeInfo, Service};
use loupe_actors::table_store::{ConnMeta, HttpBatchBuilder, HttpRow, RetentionConfig, TableStore};
use loupe_k8s::ProcessInfo;
use loupe_protocol_parsers::http::{HttpMessage, HttpRecord};
use loupe_topology::subjects::NodeName;

#[derive(clap::Args)]
pub struct SimArgs {
    /// Simulated nodes in this process.
    #[arg(long, default_value_t = 100)]
    count: usize,
    /// Index of this process's first node in the whole simulation.
    #[arg(long, default_value_t = 0)]
    first: usize,
    /// Node names: PREFIX-NNNN (the index, 4 digits).
    #[arg(long, default_value = "sim")]
    prefix: String,
    /// `http_events` rows each node holds.
    #[arg(long, default_value_t = 1000)]
    rows: usize,
    /// The nodes' clock minus this host's, in ms (negative: behind): their
    /// rows, statuses and live panes are stamped by it.
    #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
    clock_offset_ms: i64,
    #[command(flatten)]
    nats: crate::NatsArgs,
}

/// The simulated rows of node `i` as a store holds them.
fn store_for(i: usize, node: &str, rows: usize, now: i64) -> TableStore {
    let cfg = RetentionConfig {
        max_bytes: 64 << 20,
        max_age: std::time::Duration::from_secs(3600),
    };
    let mut store = TableStore::new(cfg, Arc::new(Counters::default()));
    let process = Arc::new(ProcessInfo {
        upid: format!("{node}:1000:1"),
        node: node.to_string(),
        pid: 1000,
        start_ticks: 1,
        cmdline: "/usr/bin/simulated".into(),
        container: String::new(),
        service: "sim/api".into(),
        namespace: "sim".into(),
        pod: format!("sim/api-{i}"),
        ..Default::default()
    });
    let conn = Arc::new(ConnMeta {
        local_addr: "10.0.0.1".into(),
        local_port: 8080,
        remote_addr: "10.0.0.2".into(),
        remote_port: 40000,
        trace_role: 2,
        process: process.clone(),
    });
    let span = 60_000_000_000i64;
    let mut b = HttpBatchBuilder::default();
    for r in 0..rows {
        let latency = (1 + ((i * 7 + r) % 100) as u64) * 1_000_000;
        let req = HttpMessage {
            ts_start_ns: 1_000,
            minor_version: 1,
            method: "GET".into(),
            path: format!("/p{}", (i + r) % 5),
            ..Default::default()
        };
        let resp = HttpMessage {
            ts_end_ns: 1_000 + latency,
            minor_version: 1,
            status: if (i + r).is_multiple_of(7) { 500 } else { 200 },
            reason: "OK".into(),
            ..Default::default()
        };
        b.append(&HttpRow {
            conn: conn.clone(),
            time_ns: now - span + (r as i64) * (span / rows.max(1) as i64),
            record: HttpRecord { req, resp },
        });
        if b.len() == 4096 {
            store.insert_http(&mut b, std::slice::from_ref(&process));
        }
    }
    store.insert_http(&mut b, std::slice::from_ref(&process));
    store
}

pub fn simulate(args: SimArgs) -> anyhow::Result<()> {
    let system = actix::System::new();
    system.block_on(async move {
        let client = args
            .nats
            .connect_daemon(
                &format!("loupe-sim-{}-{}", args.prefix, args.first),
                loupe_topology::subjects::Role::Agent,
            )
            .await?;
        let now = loupe_actors::clock::wall_now_ns() + args.clock_offset_ms * 1_000_000;
        let stores = Arbiter::new();
        let mut served = Vec::new();
        for k in 0..args.count {
            let i = args.first + k;
            let node = NodeName::new(&format!("{}-{i:04}", args.prefix))?;
            let (name, rows) = (node.to_string(), args.rows);
            let store = TableStore::start_in_arbiter(&stores.handle(), move |_| {
                store_for(i, &name, rows, now)
            });
            let service = Service {
                client: client.clone(),
                info: NodeInfo {
                    node,
                    kernel: "simulated".into(),
                    probes_attached: 0,
                    probes_total: 0,
                    retention_max_bytes: 64 << 20,
                    clock_offset_ns: args.clock_offset_ms * 1_000_000,
                    privileges: "simulated".into(),
                    capture: Vec::new(),
                },
                store,
                counters: Arc::new(Counters::default()),
                capture: Arc::new(CaptureShared::default()),
                fragments: Default::default(),
                history: Default::default(),
                taps: Default::default(),
                wire: Default::default(),
                meta: None,
            };
            served.push(actix::spawn(service.run()));
        }
        tracing::info!(
            count = args.count,
            first = args.first,
            "simulated nodes answering"
        );
        tokio::select! {
            r = tokio::signal::ctrl_c() => { r?; }
            r = crate::agent::wait_term() => { r?; }
        }
        for s in served {
            s.abort();
        }
        Ok::<_, anyhow::Error>(())
    })
}
