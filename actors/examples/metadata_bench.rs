//! Cluster metadata costs (issue 12), for BENCHMARKS.md:
//!
//! - memory: bytes a follower's `ClusterState` holds per pod, for a cluster
//!   of 10 000 pods (with 1 000 services and their EndpointSlices, 1 000
//!   ReplicaSets, 500 Deployments, 200 nodes, 20 namespaces), counted by a
//!   counting allocator;
//! - a follower's work per update (decode, validate, apply), per second on
//!   one core;
//! - naming a process (the Enrich stage's per-process lookup) against that
//!   cluster, and `px.ip_to_pod_id` per row;
//! - with `--nats URL` (a nats-server with JetStream): updates per second
//!   through the fan-out, 10 000 pod updates written to the bucket and
//!   read by F followers (each its own connection, as agents are).
//!
//!   cargo run --release -p loupe-actors --example metadata_bench [-- --nats nats://127.0.0.1:4222 --followers 20]
//!   metadata_bench --populate URL    # only write the cluster to the bucket (bench_agent.py --cluster)
//!
//! `scripts/bench_metadata.sh` starts the nats-server and runs it.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use arrow::array::{StringArray, TimestampNanosecondArray};
use futures::StreamExt;
use loupe_actors::exec::eval::Value;
use loupe_k8s::ProcessInfo;
use loupe_k8s::cluster::ClusterState;
use loupe_topology::codec::{self, Kind};
use loupe_topology::meta::{Container, Endpoints, Namespace, Node, Object, Owned, Pod, Service};
use loupe_topology::plan::MetaFn;
use loupe_topology::subjects::Inbound;
use loupe_topology::validate::Arrival;

struct Counting;
static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: forwards to the system allocator; only counts bytes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        LIVE.fetch_add(l.size() as isize, Ordering::Relaxed);
        // SAFETY: the caller's layout, unchanged.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size() as isize, Ordering::Relaxed);
        // SAFETY: `p` came from `alloc` with this layout.
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        LIVE.fetch_add(new as isize - l.size() as isize, Ordering::Relaxed);
        // SAFETY: as the caller's contract.
        unsafe { System.realloc(p, l, new) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

const PODS: usize = 10_000;
const SERVICES: usize = 1_000;
const NODES: usize = 200;
const NAMESPACES: usize = 20;

fn uid(kind: &str, i: usize) -> String {
    // The shape of a Kubernetes uid (36 characters).
    format!(
        "{:08x}-{kind:0>4.4}-4000-8000-{i:012x}",
        i * 2654435761 % (1 << 32)
    )
}

fn pod_ip(i: usize) -> String {
    format!("10.{}.{}.{}", 1 + i / 65_536, (i / 256) % 256, i % 256)
}

/// A cluster of `PODS` pods, as the leader would write it.
fn objects() -> Vec<Object> {
    let mut out = Vec::new();
    for n in 0..NAMESPACES {
        out.push(Object::Namespace(Namespace {
            name: format!("ns-{n}"),
            uid: uid("ns", n),
        }));
    }
    for n in 0..NODES {
        out.push(Object::Node(Node {
            name: format!("node-{n:03}.cluster.internal"),
            uid: uid("node", n),
            os: "linux".into(),
            ready: true,
            addresses: vec![format!("192.168.{}.{}", n / 256, n % 256)],
            ..Default::default()
        }));
    }
    for d in 0..SERVICES / 2 {
        let ns = format!("ns-{}", d % NAMESPACES);
        out.push(Object::Deployment(Owned {
            uid: uid("dep", d),
            name: format!("app-{d}"),
            namespace: ns.clone(),
            ..Default::default()
        }));
    }
    for r in 0..SERVICES {
        let d = r / 2;
        out.push(Object::ReplicaSet(Owned {
            uid: uid("rs", r),
            name: format!("app-{d}-{:x}", r * 7919),
            namespace: format!("ns-{}", d % NAMESPACES),
            owner_kind: "Deployment".into(),
            owner_uid: uid("dep", d),
            owner_name: format!("app-{d}"),
        }));
    }
    let per_service = PODS / SERVICES;
    for s in 0..SERVICES {
        let ns = format!("ns-{}", (s / 2) % NAMESPACES);
        out.push(Object::Service(Service {
            uid: uid("svc", s),
            name: format!("svc-{s}"),
            namespace: ns.clone(),
            cluster_ips: vec![format!("10.96.{}.{}", s / 256, s % 256)],
            created_ns: 1,
            deleted_ns: 0,
        }));
        out.push(Object::Endpoints(Endpoints {
            uid: uid("eps", s),
            namespace: ns,
            service: format!("svc-{s}"),
            pods: (0..per_service)
                .map(|k| uid("pod", s * per_service + k))
                .collect(),
        }));
    }
    for i in 0..PODS {
        let r = i / per_service;
        out.push(Object::Pod(pod(i, r)));
    }
    out
}

fn pod(i: usize, rs: usize) -> Pod {
    let ns = format!("ns-{}", (rs / 2) % NAMESPACES);
    Pod {
        uid: uid("pod", i),
        name: format!("app-{}-{:x}-{:05x}", rs / 2, rs * 7919, i * 31),
        namespace: ns,
        node: format!("node-{:03}.cluster.internal", i % NODES),
        ips: vec![pod_ip(i)],
        phase: "Running".into(),
        ready: true,
        created_ns: 1_700_000_000_000_000_000,
        start_ns: 1_700_000_001_000_000_000,
        owner_kind: "ReplicaSet".into(),
        owner_uid: uid("rs", rs),
        owner_name: format!("app-{}-{:x}", rs / 2, rs * 7919),
        containers: (0..2)
            .map(|c| Container {
                id: format!("{:064x}", i * 2 + c),
                name: if c == 0 {
                    "app".into()
                } else {
                    "sidecar".into()
                },
                state: "Running".into(),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    }
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let flag = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let objects = objects();
    let encoded: Vec<(String, Vec<u8>)> = objects
        .iter()
        .map(|o| Ok((o.key(), codec::encode(Kind::Meta, o)?)))
        .collect::<anyhow::Result<_>>()?;
    if let Some(url) = flag("--populate") {
        return populate(&url, &encoded);
    }
    let wire_bytes: usize = encoded.iter().map(|(_, b)| b.len()).sum();

    // Memory: a follower's state, built the way a follower builds it.
    let before = LIVE.load(Ordering::Relaxed);
    let wire = loupe_actors::wire::WireGuard::default();
    let t = Instant::now();
    let mut state = ClusterState::default();
    for (key, bytes) in &encoded {
        let arrival = Arrival {
            qid: Some(key),
            node: None,
        };
        let o: Object = wire
            .receive(Inbound::Meta, Kind::Meta, bytes, &arrival)
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        state.apply(o, 0);
    }
    let took = t.elapsed();
    let held = LIVE.load(Ordering::Relaxed) - before;
    println!(
        "cluster: {PODS} pods, {SERVICES} services + EndpointSlices, {} ReplicaSets, {} Deployments, {NODES} nodes, {NAMESPACES} namespaces ({} objects, {:.1} MiB on the wire)",
        SERVICES,
        SERVICES / 2,
        encoded.len(),
        wire_bytes as f64 / (1 << 20) as f64
    );
    println!(
        "follower memory: {:.1} MiB held, {:.0} bytes per pod (everything else included)",
        held as f64 / (1 << 20) as f64,
        held as f64 / PODS as f64
    );
    println!(
        "follower work per update (decode, validate, apply): {:.2} µs, {:.0} updates/s on one core",
        took.as_secs_f64() * 1e6 / encoded.len() as f64,
        encoded.len() as f64 / took.as_secs_f64()
    );

    // Naming a process (Enrich: once per process, cached by upid).
    let procs: Vec<ProcessInfo> = (0..1000)
        .map(|i| ProcessInfo {
            upid: format!("node-001:{i}:1"),
            pid: i as u32,
            container: format!("{:064x}", (i * 7 % PODS) * 2),
            pod_id: uid("pod", i * 7 % PODS),
            ..Default::default()
        })
        .collect();
    let t = Instant::now();
    let mut named = 0;
    for p in &procs {
        named += usize::from(loupe_actors::enrich::named(&state, p).is_some());
    }
    let per = t.elapsed().as_secs_f64() * 1e6 / procs.len() as f64;
    println!(
        "naming a process (Enrich, once per process): {per:.2} µs ({named}/{} named)",
        procs.len()
    );

    // px.ip_to_pod_id per row: 100 000 rows over 2 000 peers, at a time.
    let rows = 100_000;
    let ips: Vec<String> = (0..rows).map(|r| pod_ip(r % 2000 * 5)).collect();
    let ips = Value::Array(Arc::new(StringArray::from(ips)));
    let times = Value::Array(Arc::new(TimestampNanosecondArray::from(vec![
        1_800_000_000_000_000_000i64;
        rows
    ])));
    let t = Instant::now();
    let reps = 10;
    for _ in 0..reps {
        let v = loupe_actors::exec::meta::call_with(
            MetaFn::IpToPodId,
            vec![ips.clone(), times.clone()],
            rows,
            &state,
        )?;
        std::hint::black_box(v);
    }
    println!(
        "px.ip_to_pod_id(remote_addr) at the row's time: {:.0} ns per row",
        t.elapsed().as_secs_f64() * 1e9 / (reps * rows) as f64
    );
    drop(state);

    if let Some(url) = flag("--nats") {
        let followers: usize = flag("--followers")
            .and_then(|f| f.parse().ok())
            .unwrap_or(20);
        fan_out(&url, followers, &encoded)?;
    }
    Ok(())
}

/// Writes the cluster to the bucket (for `scripts/bench_agent.py
/// --cluster`: an agent in a cluster of 10 000 pods).
fn populate(url: &str, encoded: &[(String, Vec<u8>)]) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let c = async_nats::connect(url).await?;
        let js = async_nats::jetstream::new(c);
        let kv = js
            .create_key_value(async_nats::jetstream::kv::Config {
                bucket: loupe_topology::meta::BUCKET.into(),
                history: 1,
                ..Default::default()
            })
            .await?;
        let puts = futures::stream::iter(encoded.iter().map(|(key, bytes)| {
            let kv = kv.clone();
            async move { kv.put(key.as_str(), bytes.clone().into()).await }
        }))
        .buffer_unordered(256);
        futures::pin_mut!(puts);
        while let Some(r) = puts.next().await {
            r?;
        }
        println!("populated {} objects", encoded.len());
        anyhow::Ok(())
    })
}

/// Writes every object to the bucket, with `followers` following it (each
/// on its own connection); reports when all of them hold every pod.
fn fan_out(url: &str, followers: usize, encoded: &[(String, Vec<u8>)]) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let writer = async_nats::connect(url).await?;
        let js = async_nats::jetstream::new(writer.clone());
        let _ = js.delete_key_value(loupe_topology::meta::BUCKET).await;
        let kv = js
            .create_key_value(async_nats::jetstream::kv::Config {
                bucket: loupe_topology::meta::BUCKET.into(),
                history: 1,
                ..Default::default()
            })
            .await?;
        let mut states = Vec::new();
        for _ in 0..followers {
            let c = async_nats::connect(url).await?;
            let s: loupe_actors::metadata::Shared = Arc::new(RwLock::new(ClusterState::default()));
            tokio::spawn(loupe_actors::metadata::follow(c, s.clone(), Default::default()));
            states.push(s);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        let t = Instant::now();
        // The leader's pace: one put after another, each acknowledged.
        for (key, bytes) in encoded {
            kv.put(key.as_str(), bytes.clone().into()).await?;
        }
        let written = t.elapsed();
        let n = encoded.len() as u64;
        loop {
            let done = states
                .iter()
                .filter(|s| s.read().map(|s| s.updates >= n).unwrap_or(false))
                .count();
            if done == followers {
                break;
            }
            if t.elapsed() > Duration::from_secs(300) {
                anyhow::bail!("only {done} of {followers} followers caught up in 300 s");
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let all = t.elapsed();
        println!(
            "fan-out: {n} updates written in {:.2} s ({:.0}/s, each acknowledged); all {followers} followers held them after {:.2} s: {:.0} updates/s per follower, {:.0} deliveries/s in all",
            written.as_secs_f64(),
            n as f64 / written.as_secs_f64(),
            all.as_secs_f64(),
            n as f64 / all.as_secs_f64(),
            (n * followers as u64) as f64 / all.as_secs_f64()
        );
        // The followers' own pace: the same updates again, 256 in flight.
        let t = Instant::now();
        let puts = futures::stream::iter(encoded.iter().map(|(key, bytes)| {
            let kv = kv.clone();
            async move { kv.put(key.as_str(), bytes.clone().into()).await }
        }))
        .buffer_unordered(256);
        futures::pin_mut!(puts);
        while let Some(r) = puts.next().await {
            r?;
        }
        let written = t.elapsed();
        loop {
            let done = states
                .iter()
                .filter(|s| s.read().map(|s| s.updates >= 2 * n).unwrap_or(false))
                .count();
            if done == followers {
                break;
            }
            if t.elapsed() > Duration::from_secs(300) {
                anyhow::bail!("only {done} of {followers} followers caught up in 300 s");
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let all = t.elapsed();
        println!(
            "fan-out, pipelined writes: {n} updates written in {:.2} s ({:.0}/s); all {followers} followers held them after {:.2} s: {:.0} updates/s per follower, {:.0} deliveries/s in all",
            written.as_secs_f64(),
            n as f64 / written.as_secs_f64(),
            all.as_secs_f64(),
            n as f64 / all.as_secs_f64(),
            (n * followers as u64) as f64 / all.as_secs_f64()
        );
        js.delete_key_value(loupe_topology::meta::BUCKET).await?;
        anyhow::Ok(())
    })
}
