//! `/metrics` (`--metrics-addr`): the process's counters and gauges in the
//! Prometheus text format, read from the same samples `loupe nodes` and
//! `loupe check` show, rendered by the registry
//! ([`loupe_topology::metrics::render`]).
//!
//! One connection at a time, each bounded in time: a scrape every few
//! seconds needs no more, and a slow client cannot hold a task per
//! connection. The caller spawns [`serve`] on whatever runtime it has.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Request, Response, StatusCode};
use loupe_topology::metrics::{self, Metric};

/// Where the samples come from, asked once per scrape.
pub type Source =
    Arc<dyn Fn() -> Pin<Box<dyn Future<Output = Vec<(String, u64)>> + Send>> + Send + Sync>;

/// Which process serves: its families and its own label.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Process {
    Agent,
    Planner,
}

impl Process {
    /// The families this kind of process has.
    pub fn families(self) -> Vec<Metric> {
        let planner_only = |m: &Metric| {
            let n = m.name();
            n.starts_with("loupe_planner_") || n.starts_with("loupe_export_")
        };
        let shared = |m: &Metric| {
            matches!(m, Metric::WireRejected | Metric::Panics)
                || m.name().starts_with("loupe_metadata_")
        };
        Metric::ALL
            .iter()
            .copied()
            .filter(|m| match self {
                Process::Agent => !planner_only(m),
                Process::Planner => planner_only(m) || shared(m),
            })
            .collect()
    }

    fn label(self) -> &'static str {
        match self {
            Process::Agent => "node",
            Process::Planner => "planner",
        }
    }
}

/// Binds `addr` (so a taken port is an error at start, not later).
pub async fn bind(addr: SocketAddr) -> anyhow::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("--metrics-addr {addr}: {e}"))
}

/// Serves `/metrics` on `listener` until the process ends.
pub async fn serve(
    listener: tokio::net::TcpListener,
    process: Process,
    name: String,
    source: Source,
) {
    let families = process.families();
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        let io = hyper_util::rt::TokioIo::new(stream);
        let (families, name, source) = (&families, &name, &source);
        let svc =
            hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| async move {
                Ok::<_, Infallible>(answer(req.uri().path(), process, name, families, source).await)
            });
        let conn = hyper::server::conn::http1::Builder::new()
            .keep_alive(false)
            .serve_connection(io, svc);
        let _ = tokio::time::timeout(Duration::from_secs(10), conn).await;
    }
}

async fn answer(
    path: &str,
    process: Process,
    name: &str,
    families: &[Metric],
    source: &Source,
) -> Response<Full<Bytes>> {
    let (status, kind, body) = match path {
        "/metrics" => {
            let samples = source().await;
            let (text, unknown) = metrics::render(&samples, families, (process.label(), name));
            if unknown > 0 {
                tracing::debug!(unknown, "samples outside the registry left out of /metrics");
            }
            (
                StatusCode::OK,
                "text/plain; version=0.0.4; charset=utf-8",
                text,
            )
        }
        "/" => (
            StatusCode::OK,
            "text/plain; charset=utf-8",
            "Loupe: counters and gauges at /metrics\n".to_string(),
        ),
        _ => (
            StatusCode::NOT_FOUND,
            "text/plain; charset=utf-8",
            "not found: try /metrics\n".to_string(),
        ),
    };
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    if let Ok(v) = hyper::header::HeaderValue::from_str(kind) {
        r.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_process_serves_its_families() {
        let a = Process::Agent.families();
        let p = Process::Planner.families();
        assert!(a.contains(&Metric::CaptureEvents) && !p.contains(&Metric::CaptureEvents));
        assert!(p.contains(&Metric::ExportRequests) && !a.contains(&Metric::ExportRequests));
        assert!(a.contains(&Metric::WireRejected) && p.contains(&Metric::WireRejected));
    }

    #[tokio::test]
    async fn a_scrape_reads_the_source_as_prometheus_text() {
        let l = bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let addr = l.local_addr().unwrap();
        let source: Source =
            Arc::new(|| Box::pin(async { vec![(Metric::StoreRows.sample(&[]), 42)] }));
        tokio::spawn(serve(l, Process::Agent, "n1".into(), source));
        let text = tokio::task::spawn_blocking(move || {
            use std::io::{Read, Write};
            let mut s = std::net::TcpStream::connect(addr).unwrap();
            s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
                .unwrap();
            let mut out = String::new();
            s.read_to_string(&mut out).unwrap();
            out
        })
        .await
        .unwrap();
        assert!(text.starts_with("HTTP/1.1 200"), "{text}");
        assert!(text.contains("text/plain; version=0.0.4"), "{text}");
        assert!(
            text.contains("loupe_store_rows{node=\"n1\"} 42\n"),
            "{text}"
        );
        assert!(
            text.contains("# TYPE loupe_capture_events_total counter"),
            "{text}"
        );
    }
}
