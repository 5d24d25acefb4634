//! Cluster metadata over NATS. One planner per cluster holds a lease (a
//! key of the `loupe_lease` bucket that expires unless renewed) and, while
//! it holds it, watches the Kubernetes API ([`loupe_k8s::watch`]) and
//! writes what it sees to the `loupe_meta` key-value bucket, one entry
//! per object, only when an object changed. Every agent and planner
//! follows the bucket into a [`ClusterState`]: the last value of every key
//! first, then each change. A thousand agents read one bucket; none of
//! them talks to the API server. When the API server or NATS is lost, the
//! last known state stays, and its age (from the leader's
//! [`Source`] entry) shows in `loupe nodes` and in answers.

use loupe_topology::metrics::Metric;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use async_nats::jetstream::{self, kv};
use futures::StreamExt;
use loupe_k8s::cluster::ClusterState;
use loupe_k8s::watch::{Change, watch_cluster};
use loupe_topology::codec::{self, Kind};
use loupe_topology::messages::{ClusterNode, Coverage};
use loupe_topology::meta::{self, Object, Source};
use loupe_topology::subjects::Inbound;
use loupe_topology::validate::Arrival;

use crate::clock::wall_now_ns;
use crate::wire::WireGuard;

/// What a process knows of its cluster, shared by whoever resolves names.
pub type Shared = Arc<RwLock<ClusterState>>;

/// The lease bucket and its key.
pub const LEASE_BUCKET: &str = "loupe_lease";
const LEASE_KEY: &str = "meta";
/// A lease not renewed for this long expires; it is renewed every third.
const LEASE_TTL: Duration = Duration::from_secs(15);
const RENEW: Duration = Duration::from_secs(5);
/// The kinds the leader watches (their key prefixes).
const KINDS: [&str; 7] = ["pod.", "svc.", "eps.", "node.", "ns.", "rs.", "deploy."];

async fn bucket(js: &jetstream::Context, config: kv::Config) -> anyhow::Result<kv::Store> {
    match js.get_key_value(config.bucket.clone()).await {
        Ok(s) => Ok(s),
        Err(_) => Ok(js.create_key_value(config).await?),
    }
}

/// Makes the metadata bucket if it is missing (a planner does, in a
/// cluster and on plain hosts alike, where agents report their hosts).
pub async fn ensure_bucket(client: async_nats::Client) -> anyhow::Result<()> {
    bucket(&jetstream::new(client), meta_config()).await?;
    Ok(())
}

fn meta_config() -> kv::Config {
    kv::Config {
        bucket: meta::BUCKET.into(),
        description: "Loupe: the cluster's objects, as the metadata leader watches them".into(),
        history: 1,
        max_value_size: 1 << 20,
        ..Default::default()
    }
}

/// Gauges of what `state` holds: `loupe_metadata_age_ms` (how old the
/// knowledge is; absent without any) and `loupe_metadata_objects{kind}`.
pub fn gauges(state: &Shared, now_ns: i64) -> Vec<(String, u64)> {
    let Ok(s) = state.read() else {
        return Vec::new();
    };
    let mut out: Vec<(String, u64)> = s
        .counts()
        .iter()
        .map(|(k, n)| (Metric::MetadataObjects.sample(&[k]), *n as u64))
        .collect();
    out.push((Metric::MetadataSynced.sample(&[]), u64::from(s.synced)));
    if let Some(age) = s.age_ns(now_ns) {
        out.push((Metric::MetadataAgeMs.sample(&[]), (age / 1_000_000) as u64));
    }
    out
}

/// How old `state`'s knowledge is at `now_ns`, in ms (u64::MAX: never in
/// step with the API server); `None` without cluster metadata.
pub fn age_ms(state: &Shared, now_ns: i64) -> Option<u64> {
    let s = state.read().ok()?;
    s.age_ns(now_ns).map(|a| {
        if a == i64::MAX {
            u64::MAX
        } else {
            (a / 1_000_000) as u64
        }
    })
}

/// The cluster's Nodes against the agents that report (`reporting`: names
/// of nodes heard within the alive window). An agent is a pod of the
/// DaemonSet `agents` (`namespace/name`) on the node; where there is none,
/// or it is not running, the reason is what the cluster says of it.
pub fn coverage(
    state: &Shared,
    reporting: &std::collections::BTreeSet<String>,
    agents: &str,
    now_ns: i64,
) -> Option<Coverage> {
    let s = state.read().ok()?;
    s.source.as_ref()?;
    let (ds_ns, ds_name) = agents.split_once('/').unwrap_or(("", agents));
    let mut nodes: Vec<ClusterNode> = s
        .nodes()
        .map(|n| {
            let needs_agent = !n.unschedulable && (n.os.is_empty() || n.os == "linux");
            let covered = reporting.contains(&n.name);
            let reason = if covered {
                String::new()
            } else {
                why_uncovered(&s, n, ds_ns, ds_name, needs_agent)
            };
            ClusterNode {
                name: n.name.clone(),
                needs_agent,
                ready: n.ready,
                covered,
                reason,
            }
        })
        .collect();
    nodes.sort_by(|a, b| a.name.cmp(&b.name));
    let src = s.source.clone().unwrap_or_default();
    drop(s);
    Some(Coverage {
        nodes,
        metadata_age_ms: age_ms(state, now_ns),
        watcher: src.leader,
        watch_error: src.error,
    })
}

fn why_uncovered(
    s: &ClusterState,
    n: &loupe_topology::meta::Node,
    ds_ns: &str,
    ds_name: &str,
    needs_agent: bool,
) -> String {
    if !needs_agent {
        return if n.unschedulable {
            "cordoned (no agent needed)".into()
        } else {
            format!("{} node (no agent needed)", n.os)
        };
    }
    let agent = s
        .pods()
        .filter(|p| {
            p.node == n.name
                && p.deleted_ns == 0
                && p.owner_kind == "DaemonSet"
                && p.owner_name == ds_name
                && (ds_ns.is_empty() || p.namespace == ds_ns)
        })
        .max_by_key(|p| p.created_ns);
    let not_ready = if n.ready { "" } else { " (node not Ready)" };
    match agent {
        None if !n.taints.is_empty() => format!(
            "no agent pod: the DaemonSet may not tolerate the node's taints {}{not_ready}",
            n.taints.join(", ")
        ),
        None => format!("no agent pod scheduled on this node{not_ready}"),
        Some(p) => {
            let waiting = p
                .containers
                .iter()
                .find(|c| c.state != "Running" && !c.reason.is_empty());
            let why = match waiting {
                Some(c) => format!("container {} {}: {}", c.name, c.state, c.reason),
                None if !p.reason.is_empty() => p.reason.clone(),
                None if p.phase == "Running" => {
                    "running but silent: no heartbeat reached the planners".into()
                }
                None => format!(
                    "phase {}",
                    if p.phase.is_empty() {
                        "Unknown"
                    } else {
                        &p.phase
                    }
                ),
            };
            format!("agent pod {}/{} {why}{not_ready}", p.namespace, p.name)
        }
    }
}

/// Follows the bucket into `state` for as long as the process runs,
/// resuming after a lost connection (the state is kept meanwhile). The
/// process's metadata functions (`px.ip_to_pod_id`, ...) answer from it.
pub async fn follow(client: async_nats::Client, state: Shared, wire: Arc<WireGuard>) {
    crate::exec::meta::install(state.clone());
    let js = jetstream::new(client);
    let mut wait = Duration::from_secs(1);
    loop {
        match follow_once(&js, &state, &wire).await {
            Ok(()) => tracing::warn!("the metadata watch ended; resuming"),
            Err(e) => tracing::debug!(error = %e, "no cluster metadata yet; retrying"),
        }
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(Duration::from_secs(10));
    }
}

async fn follow_once(
    js: &jetstream::Context,
    state: &Shared,
    wire: &WireGuard,
) -> anyhow::Result<()> {
    let kv = js.get_key_value(meta::BUCKET).await?;
    let mut entries = kv.watch_with_history(">").await?;
    while let Some(e) = entries.next().await {
        let e = e?;
        let now = wall_now_ns();
        let mut s = state
            .write()
            .map_err(|_| anyhow::anyhow!("metadata lock poisoned"))?;
        match e.operation {
            kv::Operation::Put => {
                let arrival = Arrival {
                    qid: Some(&e.key),
                    node: None,
                };
                if let Ok(o) = wire.receive::<Object>(Inbound::Meta, Kind::Meta, &e.value, &arrival)
                {
                    s.apply(o, now);
                }
            }
            kv::Operation::Delete | kv::Operation::Purge => s.remove(&e.key, now),
        }
        if e.delta == 0 || e.seen_current {
            s.synced = true;
        }
    }
    Ok(())
}

/// How often a plain host's agent looks at its listening sockets.
const HOST_REPORT: Duration = Duration::from_secs(5);

/// Reports this node's listening processes (and its addresses, boot time)
/// to the bucket whenever they change, so that client rows on this node
/// or another name the process they called (`px.ip_to_pod_id(remote_addr)`
/// then `px.pod_id_to_service_name`): on a plain host, the process; in a
/// cluster (`cluster`: the followed state), a host-network pod.
/// `netns`: the namespaces the agent observes (all when empty). Waits for
/// the bucket (a planner makes it) and NATS; never fails the agent.
pub async fn report_host(
    client: async_nats::Client,
    node: String,
    netns: Vec<u64>,
    cluster: Option<Shared>,
) {
    let js = jetstream::new(client);
    let mut last: Option<meta::Host> = None;
    let mut warned = false;
    let procs = std::sync::Arc::new(std::sync::Mutex::new(loupe_k8s::HostMetadata::new(&node)));
    loop {
        let (n, ns, p, c) = (node.clone(), netns.clone(), procs.clone(), cluster.clone());
        let host = tokio::task::spawn_blocking(move || host_entry(&n, &ns, &p, c.as_ref())).await;
        if let Ok(host) = host
            && last.as_ref() != Some(&host)
        {
            let put = async {
                let kv = js.get_key_value(meta::BUCKET).await?;
                let bytes = codec::encode(Kind::Meta, &Object::Host(host.clone()))?;
                kv.put(format!("host.{node}"), bytes.into()).await?;
                anyhow::Ok(())
            };
            match put.await {
                Ok(()) => last = Some(host),
                Err(e) if !warned => {
                    warned = true;
                    tracing::warn!(error = %e, "cannot report this host's listening processes yet (NATS needs JetStream, and a planner makes the bucket); retrying");
                }
                Err(_) => {}
            }
        }
        tokio::time::sleep(HOST_REPORT).await;
    }
}

fn host_entry(
    node: &str,
    netns: &[u64],
    procs: &std::sync::Mutex<loupe_k8s::HostMetadata>,
    cluster: Option<&Shared>,
) -> meta::Host {
    let scan = loupe_k8s::listeners::scan(std::path::Path::new("/proc"), netns);
    let mut procs = procs.lock().unwrap_or_else(|p| p.into_inner());
    let state = cluster.and_then(|c| c.read().ok());
    let listeners = scan
        .listening
        .iter()
        .take(4096)
        .map(|l| {
            let mut p = (*procs.lookup(l.pid)).clone();
            // In a cluster: its pod's names (a host-network pod's process
            // listens on the node's addresses).
            if let Some(named) = state.as_deref().and_then(|s| crate::enrich::named(s, &p)) {
                p = named;
            }
            meta::Listener {
                addr: l.addr.clone(),
                port: l.port,
                upid: p.upid.clone(),
                service: if p.service.is_empty() {
                    program(&p.cmdline)
                } else {
                    p.service.clone()
                },
                pod_id: p.pod_id.clone(),
            }
        })
        .collect();
    let (boot_ns, ticks_per_s) = boot();
    meta::Host {
        node: node.to_string(),
        addrs: scan.addrs.into_iter().take(256).collect(),
        listeners,
        boot_ns,
        ticks_per_s,
    }
}

/// This host's boot time (`btime` of /proc/stat, ns since the epoch) and
/// clock ticks per second.
fn boot() -> (i64, u32) {
    let btime = std::fs::read_to_string("/proc/stat")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("btime ")?.trim().parse::<i64>().ok())
        })
        .unwrap_or(0);
    // SAFETY: sysconf reads a constant of the system.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    (
        btime.saturating_mul(1_000_000_000),
        u32::try_from(hz).unwrap_or(100).max(1),
    )
}

/// A program's name from its command line (`/usr/sbin/nginx -g ...` ->
/// `nginx`; `nginx: worker process` -> `nginx`).
fn program(cmdline: &str) -> String {
    let first = cmdline.split_whitespace().next().unwrap_or_default();
    let base = first.rsplit('/').next().unwrap_or(first);
    base.trim_end_matches(':').to_string()
}

/// Takes the metadata lease whenever it is free and, while holding it,
/// watches the cluster and writes the bucket. Runs for as long as the
/// process does; `retention` is how long deleted pods and services stay.
pub async fn lead(
    client: async_nats::Client,
    kube: kube::Client,
    name: String,
    retention: Duration,
) {
    let js = jetstream::new(client);
    loop {
        match lead_once(&js, &kube, &name, retention).await {
            Ok(()) => {}
            Err(e) => tracing::warn!(error = %format!("{e:#}"), "metadata leadership ended"),
        }
        tokio::time::sleep(RENEW).await;
    }
}

/// Aborts a task when dropped (the watchers stop with the leadership).
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn lead_once(
    js: &jetstream::Context,
    kube: &kube::Client,
    name: &str,
    retention: Duration,
) -> anyhow::Result<()> {
    let store = bucket(js, meta_config()).await?;
    let lease = bucket(
        js,
        kv::Config {
            bucket: LEASE_BUCKET.into(),
            description: "Loupe: which planner watches the cluster".into(),
            history: 1,
            max_age: LEASE_TTL,
            ..Default::default()
        },
    )
    .await?;
    let mut rev = loop {
        match lease.create(LEASE_KEY, name.to_string().into()).await {
            Ok(r) => break r,
            Err(e) if e.kind() == kv::CreateErrorKind::AlreadyExists => {
                tokio::time::sleep(RENEW).await
            }
            Err(e) => return Err(e.into()),
        }
    };
    tracing::info!(
        planner = name,
        "holding the metadata lease: watching the cluster"
    );
    let mut w = Writer::new(store, name, retention).await?;
    let (tx, mut rx) = tokio::sync::mpsc::channel(4096);
    let _watchers = AbortOnDrop(tokio::spawn(watch_cluster(kube.clone(), tx)));
    let mut renew = tokio::time::interval(RENEW);
    let mut purge = tokio::time::interval(Duration::from_secs(30));
    loop {
        tokio::select! {
            c = rx.recv() => match c {
                Some(c) => w.change(c).await?,
                None => anyhow::bail!("the watchers stopped"),
            },
            _ = renew.tick() => {
                rev = lease
                    .update(LEASE_KEY, name.to_string().into(), rev)
                    .await
                    .map_err(|e| anyhow::anyhow!("lost the metadata lease: {e}"))?;
                w.beat().await?;
            }
            _ = purge.tick() => w.purge().await?,
        }
    }
}

/// The leader's side of the bucket: what it wrote, so an unchanged object
/// is not written again and a relist can tell what was deleted.
struct Writer {
    store: kv::Store,
    leader: String,
    retention: Duration,
    written: HashMap<String, Object>,
    /// Kinds listed at least once, and kinds whose watch is failing (why).
    listed: HashSet<&'static str>,
    failing: HashMap<&'static str, String>,
    api_ok_ns: i64,
}

impl Writer {
    /// Starts from what the bucket holds (a previous leader's writes).
    async fn new(store: kv::Store, leader: &str, retention: Duration) -> anyhow::Result<Writer> {
        let mut written = HashMap::new();
        let mut keys = store.keys().await?;
        let mut all = Vec::new();
        while let Some(k) = keys.next().await {
            all.push(k?);
        }
        for k in all {
            if let Some(v) = store.get(&k).await?
                && let Ok(o) = codec::decode::<Object>(Kind::Meta, &v)
            {
                written.insert(k, o);
            }
        }
        Ok(Writer {
            store,
            leader: leader.to_string(),
            retention,
            written,
            listed: HashSet::new(),
            failing: HashMap::new(),
            api_ok_ns: 0,
        })
    }

    async fn put(&mut self, o: Object) -> anyhow::Result<()> {
        let key = o.key();
        if self.written.get(&key) == Some(&o) {
            return Ok(());
        }
        let bytes = codec::encode(Kind::Meta, &o)?;
        self.store.put(&key, bytes.into()).await?;
        self.written.insert(key, o);
        Ok(())
    }

    /// Pods and services stay as tombstones, so rows of their time still
    /// resolve; other kinds go at once.
    async fn deleted(&mut self, o: Object) -> anyhow::Result<()> {
        let now = wall_now_ns();
        match o {
            Object::Pod(mut p) => {
                if p.deleted_ns == 0 {
                    p.deleted_ns = now;
                }
                self.put(Object::Pod(p)).await
            }
            Object::Service(mut s) => {
                if s.deleted_ns == 0 {
                    s.deleted_ns = now;
                }
                self.put(Object::Service(s)).await
            }
            o => {
                let key = o.key();
                if self.written.remove(&key).is_some() {
                    self.store.purge(&key).await?;
                }
                Ok(())
            }
        }
    }

    async fn change(&mut self, c: Change) -> anyhow::Result<()> {
        match c {
            Change::Put(o) => {
                self.ok(&o.key());
                self.put(o).await
            }
            Change::Deleted(o) => {
                self.ok(&o.key());
                self.deleted(o).await
            }
            Change::Listed { kind, keys } => {
                self.listed.insert(kind);
                self.failing.remove(kind);
                let keys: HashSet<String> = keys.into_iter().collect();
                let gone: Vec<Object> = self
                    .written
                    .iter()
                    .filter(|(k, _)| k.starts_with(kind) && !keys.contains(*k))
                    .map(|(_, o)| o.clone())
                    .collect();
                for o in gone {
                    self.deleted(o).await?;
                }
                Ok(())
            }
            Change::Failing { kind, error } => {
                self.failing.insert(kind, error);
                Ok(())
            }
        }
    }

    fn ok(&mut self, key: &str) {
        if let Some(kind) = KINDS.iter().find(|k| key.starts_with(**k)) {
            self.failing.remove(kind);
        }
    }

    /// Says who writes and how current the bucket is.
    async fn beat(&mut self) -> anyhow::Result<()> {
        let now = wall_now_ns();
        if self.failing.is_empty() && self.listed.len() == KINDS.len() {
            self.api_ok_ns = now;
        }
        let mut error: Vec<String> = self
            .failing
            .iter()
            .map(|(k, e)| format!("{}: {e}", k.trim_end_matches('.')))
            .collect();
        error.sort();
        let source = Object::Source(Source {
            leader: self.leader.clone(),
            at_ns: now,
            api_ok_ns: self.api_ok_ns,
            error: error.join("; ").chars().take(1000).collect(),
        });
        let bytes = codec::encode(Kind::Meta, &source)?;
        self.store.put(meta::SOURCE_KEY, bytes.into()).await?;
        Ok(())
    }

    /// Forgets tombstones older than the retention.
    async fn purge(&mut self) -> anyhow::Result<()> {
        let cutoff = wall_now_ns() - self.retention.as_nanos() as i64;
        let old: Vec<String> = self
            .written
            .iter()
            .filter(|(_, o)| match o {
                Object::Pod(p) => p.deleted_ns != 0 && p.deleted_ns < cutoff,
                Object::Service(s) => s.deleted_ns != 0 && s.deleted_ns < cutoff,
                _ => false,
            })
            .map(|(k, _)| k.clone())
            .collect();
        for k in old {
            self.store.purge(&k).await?;
            self.written.remove(&k);
        }
        Ok(())
    }
}
