//! The fixed data set of the corpus: 2400 `http_events` rows of five
//! services in three namespaces over the ten minutes before `NOW`, made by
//! a seeded generator (no randomness between runs), stored through the
//! real batch builder and table store.

use std::collections::HashMap;
use std::sync::Arc;

use loupe_actors::Counters;
use loupe_actors::table_store::{ConnMeta, HttpBatchBuilder, HttpRow, RetentionConfig, TableStore};
use loupe_k8s::ProcessInfo;
use loupe_protocol_parsers::http::{HttpMessage, HttpRecord};

/// "Now" for every case: 2025-06-15T15:06:40Z.
pub const NOW: i64 = 1_750_000_000_000_000_000;
pub const ROWS: usize = 2400;

struct Svc {
    service: &'static str,
    namespace: &'static str,
    pod: &'static str,
    pid: u32,
    port: u16,
    /// Typical latency, ms.
    base_ms: f64,
}

const SERVICES: &[Svc] = &[
    Svc {
        service: "shop/cart",
        namespace: "shop",
        pod: "shop/cart-7d9f",
        pid: 101,
        port: 8081,
        base_ms: 12.0,
    },
    Svc {
        service: "shop/frontend",
        namespace: "shop",
        pod: "shop/frontend-5c2a",
        pid: 102,
        port: 8080,
        base_ms: 30.0,
    },
    Svc {
        service: "shop/checkout",
        namespace: "shop",
        pod: "shop/checkout-9b1e",
        pid: 103,
        port: 8082,
        base_ms: 220.0,
    },
    Svc {
        service: "default/api",
        namespace: "default",
        pod: "default/api-0",
        pid: 201,
        port: 9000,
        base_ms: 5.0,
    },
    Svc {
        service: "infra/proxy",
        namespace: "infra",
        pod: "infra/proxy-x1",
        pid: 301,
        port: 3128,
        base_ms: 1.5,
    },
];

const PATHS: &[&str] = &[
    "/cart/1001",
    "/cart/1002/items",
    "/users/42/orders",
    "/api/v1/items/123e4567-e89b-12d3-a456-426614174000",
    "/healthz",
    "/search?q=boots",
    "/checkout",
];
const METHODS: &[&str] = &["GET", "GET", "GET", "POST", "PUT", "DELETE"];
const STATUSES: &[u16] = &[200, 200, 200, 200, 201, 204, 404, 500, 503];

/// A 64-bit LCG: the same stream on every machine.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 11
    }
    fn pick<T: Copy>(&mut self, xs: &[T]) -> T {
        xs[(self.next() % xs.len() as u64) as usize]
    }
    fn unit(&mut self) -> f64 {
        (self.next() % 1_000_000) as f64 / 1_000_000.0
    }
}

pub struct Row {
    pub svc: usize,
    pub time_ns: i64,
    pub latency_ns: u64,
    pub method: &'static str,
    pub path: &'static str,
    pub status: u16,
    pub role: i64,
}

pub fn rows() -> Vec<Row> {
    let mut g = Lcg(0x5eed_1009);
    (0..ROWS)
        .map(|i| {
            let svc = (g.next() % SERVICES.len() as u64) as usize;
            // Log-normal-ish around the service's base latency.
            let f = (g.unit() * 3.0 - 1.0).exp();
            let latency_ns = (SERVICES[svc].base_ms * f * 1e6) as u64 + 1000;
            Row {
                svc,
                time_ns: NOW - 600_000_000_000 + (i as i64) * 250_000_000,
                latency_ns,
                method: g.pick(METHODS),
                path: g.pick(PATHS),
                status: g.pick(STATUSES),
                role: if g.next().is_multiple_of(4) { 1 } else { 2 },
            }
        })
        .collect()
}

fn process(s: &Svc) -> Arc<ProcessInfo> {
    Arc::new(ProcessInfo {
        upid: format!("node-a:{}:5000", s.pid),
        node: "node-a".into(),
        pid: s.pid,
        start_ticks: 5000,
        cmdline: format!("/usr/bin/{}", s.service.rsplit('/').next().unwrap_or("svc")),
        container: String::new(),
        service: s.service.into(),
        namespace: s.namespace.into(),
        pod: s.pod.into(),
        ..Default::default()
    })
}

/// The store of node `n` of `of`: every `of`-th row, in batches of 100.
pub fn store(n: usize, of: usize) -> TableStore {
    let cfg = RetentionConfig {
        max_bytes: usize::MAX,
        max_age: std::time::Duration::from_secs(100 * 365 * 86_400),
    };
    let mut store = TableStore::new(cfg, Arc::new(Counters::default()));
    let procs: Vec<Arc<ProcessInfo>> = SERVICES.iter().map(process).collect();
    let conns: Vec<Arc<ConnMeta>> = SERVICES
        .iter()
        .zip(&procs)
        .flat_map(|(s, p)| {
            [1i64, 2].map(|role| {
                Arc::new(ConnMeta {
                    local_addr: "10.0.0.1".into(),
                    local_port: if role == 2 {
                        s.port
                    } else {
                        40000 + s.pid as u16
                    },
                    remote_addr: "10.0.0.2".into(),
                    remote_port: if role == 2 { 50000 + s.pid as u16 } else { 80 },
                    trace_role: role,
                    process: p.clone(),
                })
            })
        })
        .collect();
    let mut b = HttpBatchBuilder::default();
    for (i, r) in rows().into_iter().enumerate().filter(|(i, _)| i % of == n) {
        let host = format!("{}.svc", SERVICES[r.svc].service.replace('/', "-"));
        let req = HttpMessage {
            ts_start_ns: 1_000_000,
            ts_end_ns: 1_000_100,
            minor_version: 1,
            method: r.method.into(),
            path: r.path.into(),
            headers: vec![("Host".into(), host), ("X-Req".into(), (i % 7).to_string())],
            ..Default::default()
        };
        let resp = HttpMessage {
            ts_start_ns: 1_000_000 + r.latency_ns - 50,
            ts_end_ns: 1_000_000 + r.latency_ns,
            minor_version: 1,
            status: r.status,
            reason: if r.status < 400 {
                "OK".into()
            } else {
                "Error".into()
            },
            content_type: "application/json".into(),
            body_size: (r.latency_ns % 2000),
            ..Default::default()
        };
        let conn = conns[r.svc * 2 + (r.role as usize - 1)].clone();
        b.append(&HttpRow {
            conn,
            time_ns: r.time_ns,
            record: HttpRecord { req, resp },
        });
        if b.len() == 100 {
            store.insert_http(&mut b, &procs);
        }
    }
    store.insert_http(&mut b, &procs);
    sampled(&mut store, &procs, n, of);
    store
}

/// Samples every 10 s over the ten minutes: seconds since the first.
const SAMPLES: i64 = 60;

/// The sampled tables of node `n` of `of`: each service's process
/// (`process_stats`), its connections to the database and from its clients
/// (`conn_stats`), and three network namespaces (`network_stats`), with
/// counters growing at known rates; every `of`-th sample row.
fn sampled(store: &mut TableStore, procs: &[Arc<ProcessInfo>], n: usize, of: usize) {
    use loupe_actors::protocols::Columns;
    use loupe_actors::table_store::TableBatch;
    use loupe_topology::schema::{CONN_STATS, NETWORK_STATS, PROCESS_STATS};
    let mut ps = Columns::new(PROCESS_STATS);
    let mut cs = Columns::new(CONN_STATS);
    let mut ns = Columns::new(NETWORK_STATS);
    let mut k = 0usize;
    let mut mine = || {
        k += 1;
        (k - 1) % of == n
    };
    for t in 0..SAMPLES {
        let time = NOW - 600_000_000_000 + t * 10_000_000_000 + 5_000_000;
        for (i, p) in procs.iter().enumerate() {
            let i = i as i64;
            if mine() {
                ps.start(time);
                ps.str(&p.upid);
                ps.int(i); // major faults
                ps.int(100 * t); // minor faults
                // CPU: service i uses (i + 1) * 5 % of a core in user space,
                // a fifth of that in the kernel.
                ps.int(t * 10_000_000_000 / 100 * 5 * (i + 1));
                ps.int(t * 10_000_000_000 / 100 * (i + 1));
                ps.int(4 + i);
                ps.int((512 + 64 * i) << 20);
                ps.int(((64 + 32 * i) << 20) + t * 4096);
                ps.int(t * 1000);
                ps.int(t * 2000);
                ps.int(t * 4096);
                ps.int(0);
                ps.end_row();
            }
            // Clients of the database: a new connection every sample, and
            // services 2 and 4 see resets and retransmits.
            if mine() {
                cs.start(time);
                cs.str(&p.upid);
                cs.str("10.0.0.2");
                cs.int(5432);
                cs.int(1);
                cs.int(1);
                cs.int(5);
                cs.bool(false);
                cs.int(t + 1);
                cs.int(t);
                cs.int(1);
                cs.int(t * 1000 * (i + 1));
                cs.int(t * 4000 * (i + 1));
                cs.int(if i % 2 == 0 && i > 0 { t * i } else { 0 });
                cs.int(0);
                cs.int(if i == 4 { t / 3 } else { 0 });
                cs.int(0);
                cs.end_row();
            }
        }
        for (j, pod_id) in ["pod-db-1", "pod-db-2", "node-a:netns:4026531840"]
            .into_iter()
            .enumerate()
        {
            if mine() {
                let j = j as i64 + 1;
                ns.start(time);
                ns.str(pod_id);
                // j MB/s received, j/2 MB/s sent.
                ns.int(t * 10_000_000 * j);
                ns.int(t * 7000 * j);
                ns.int(0);
                ns.int(t / 10);
                ns.int(t * 5_000_000 * j);
                ns.int(t * 3500 * j);
                ns.int(0);
                ns.int(0);
                ns.end_row();
            }
        }
    }
    for (table, mut cols) in [(PROCESS_STATS, ps), (CONN_STATS, cs), (NETWORK_STATS, ns)] {
        if let Some((batch, min_time, max_time)) = cols.finish() {
            store.insert(TableBatch {
                table,
                batch,
                min_time,
                max_time,
                processes: procs.to_vec(),
            });
        }
    }
}

/// Exact p50 and p99 of latency in ms per service (the DDSketch check).
pub fn exact_quantiles() -> HashMap<&'static str, (f64, f64)> {
    let mut by: HashMap<&'static str, Vec<f64>> = HashMap::new();
    for r in rows() {
        by.entry(SERVICES[r.svc].service)
            .or_default()
            .push(r.latency_ns as f64 / 1e6);
    }
    by.into_iter()
        .map(|(k, mut v)| {
            v.sort_by(f64::total_cmp);
            let at = |q: f64| v[(q * (v.len() as f64 - 1.0)) as usize];
            (k, (at(0.5), at(0.99)))
        })
        .collect()
}

/// The cluster the corpus's metadata functions answer from: the callee of
/// every row (10.0.0.2) is pod `shop/db-1` for the first five minutes of
/// the data, then the IP goes to `shop/db-2` (a pod deleted and its IP
/// reused); both back the service `shop/db`, owned by Deployment `shop/db`;
/// the service's cluster IP is 10.96.0.20.
pub fn install_cluster() {
    use loupe_k8s::cluster::ClusterState;
    use loupe_topology::meta::{Container, Endpoints, Object, Owned, Pod, Service};
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let mut s = ClusterState::default();
        let half = NOW - 300_000_000_000;
        for (uid, name, created, deleted) in
            [("pod-db-1", "db-1", 0, half), ("pod-db-2", "db-2", half, 0)]
        {
            s.apply(
                Object::Pod(Pod {
                    uid: uid.into(),
                    name: name.into(),
                    namespace: "shop".into(),
                    node: "node-b".into(),
                    ips: vec!["10.0.0.2".into()],
                    phase: "Running".into(),
                    ready: true,
                    created_ns: created,
                    start_ns: created,
                    deleted_ns: deleted,
                    owner_kind: "ReplicaSet".into(),
                    owner_uid: "rs-db".into(),
                    owner_name: "db-6f".into(),
                    containers: vec![Container {
                        id: format!("{uid}-c"),
                        name: "postgres".into(),
                        state: "Running".into(),
                        ..Default::default()
                    }],
                    ..Default::default()
                }),
                0,
            );
        }
        s.apply(
            Object::ReplicaSet(Owned {
                uid: "rs-db".into(),
                name: "db-6f".into(),
                namespace: "shop".into(),
                owner_kind: "Deployment".into(),
                owner_uid: "dep-db".into(),
                owner_name: "db".into(),
            }),
            0,
        );
        s.apply(
            Object::Deployment(Owned {
                uid: "dep-db".into(),
                name: "db".into(),
                namespace: "shop".into(),
                ..Default::default()
            }),
            0,
        );
        s.apply(
            Object::Service(Service {
                uid: "svc-db".into(),
                name: "db".into(),
                namespace: "shop".into(),
                cluster_ips: vec!["10.96.0.20".into()],
                created_ns: 0,
                deleted_ns: 0,
            }),
            0,
        );
        s.apply(
            Object::Endpoints(Endpoints {
                uid: "eps-db".into(),
                namespace: "shop".into(),
                service: "db".into(),
                pods: vec!["pod-db-1".into(), "pod-db-2".into()],
            }),
            0,
        );
        s.synced = true;
        loupe_actors::exec::meta::install(Arc::new(std::sync::RwLock::new(s)));
    });
}
