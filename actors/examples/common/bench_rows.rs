//! Rows for the benchmarks (`query_bench`, `live_refresh_bench`): `http_events`
//! built through the real batch builder and table store, seeded, so every
//! run stores the same rows. Included by each example with `#[path]`.

use std::sync::Arc;

use loupe_actors::Counters;
use loupe_actors::table_store::{ConnMeta, HttpBatchBuilder, HttpRow, RetentionConfig, TableStore};
use loupe_k8s::ProcessInfo;
use loupe_protocol_parsers::http::{HttpMessage, HttpRecord};

const NAMESPACES: &[&str] = &["shop", "default", "infra", "payments"];
const METHODS: &[&str] = &["GET", "GET", "GET", "POST", "PUT", "DELETE"];
const STATUSES: &[u16] = &[200, 200, 200, 200, 201, 204, 404, 500, 503];
const PATHS: &[&str] = &[
    "/cart/1001",
    "/users/42/orders",
    "/healthz",
    "/api/v1/items",
    "/checkout",
];

struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 11
    }
}

/// A store holding `rows` rows spread evenly over the `span` ns before `now`.
pub fn store_with_rows(rows: usize, now: i64, span: i64) -> TableStore {
    let cfg = RetentionConfig {
        max_bytes: usize::MAX,
        max_age: std::time::Duration::from_secs(7200),
    };
    let mut store = TableStore::new(cfg, Arc::new(Counters::default()));
    // 24 services, 6 per namespace, 2 processes each.
    let procs: Vec<Arc<ProcessInfo>> = (0..48)
        .map(|i| {
            let ns = NAMESPACES[i % NAMESPACES.len()];
            let svc = format!("{ns}/svc-{}", (i / NAMESPACES.len()) % 6);
            Arc::new(ProcessInfo {
                upid: format!("bench:{}:1", 1000 + i),
                node: "bench".into(),
                pid: 1000 + i as u32,
                start_ticks: 1,
                cmdline: format!("/usr/bin/{}", svc.replace('/', "-")),
                container: String::new(),
                service: svc.clone(),
                namespace: ns.into(),
                pod: format!("{svc}-{i}"),
                ..Default::default()
            })
        })
        .collect();
    let conns: Vec<Arc<ConnMeta>> = procs
        .iter()
        .map(|p| {
            Arc::new(ConnMeta {
                local_addr: "10.0.0.1".into(),
                local_port: 8080,
                remote_addr: "10.0.0.2".into(),
                remote_port: 40000,
                trace_role: 2,
                process: p.clone(),
            })
        })
        .collect();
    let mut g = Lcg(42);
    let mut b = HttpBatchBuilder::default();
    // In time order, 4096 per batch.
    for i in 0..rows {
        let p = (g.next() % conns.len() as u64) as usize;
        let lat = 200_000 + (g.next() % 50_000_000) * (1 + (p as u64 % 5));
        let req = HttpMessage {
            ts_start_ns: 1_000,
            minor_version: 1,
            method: METHODS[(g.next() % METHODS.len() as u64) as usize].into(),
            path: PATHS[(g.next() % PATHS.len() as u64) as usize].into(),
            headers: vec![("Host".into(), "svc".into())],
            ..Default::default()
        };
        let resp = HttpMessage {
            ts_end_ns: 1_000 + lat,
            minor_version: 1,
            status: STATUSES[(g.next() % STATUSES.len() as u64) as usize],
            reason: "OK".into(),
            ..Default::default()
        };
        b.append(&HttpRow {
            conn: conns[p].clone(),
            time_ns: now - span + (i as i64) * (span / rows as i64),
            record: HttpRecord { req, resp },
        });
        if b.len() == 4096 {
            store.insert_http(&mut b, &procs);
        }
    }
    store.insert_http(&mut b, &procs);
    store
}
