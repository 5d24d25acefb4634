//! `px.export` on the planner: a merged result table becomes OTLP requests
//! ([`otlp`]), sent to the script's endpoint or the environment's
//! ([`send`]), a few at a time, each retried until its deadline. What was
//! made, delivered and lost is the answer's [`ExportReport`] and the
//! planner's `loupe_export_*` counters; an export never fails the query.

pub mod otlp;
pub mod send;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use arrow::record_batch::RecordBatch;
use futures::StreamExt;
use loupe_topology::messages::ExportReport;
use loupe_topology::plan::export::OtelExport;

use send::{OtelEnv, Payload, Signal, Transport};

/// Requests in flight at once, per export.
const IN_FLIGHT: usize = 4;

/// The planner's exporter: connections kept between exports, and counters.
pub struct Exporter {
    env: OtelEnv,
    transport: Transport,
    pub counters: ExportCounters,
}

/// What every export of this process did (`/metrics`).
#[derive(Debug, Default)]
pub struct ExportCounters {
    pub requests: AtomicU64,
    pub retries: AtomicU64,
    pub delivered: AtomicU64,
    pub lost: AtomicU64,
    pub skipped: AtomicU64,
}

impl Exporter {
    pub fn new(env: OtelEnv) -> Arc<Exporter> {
        Arc::new(Exporter {
            env,
            transport: Transport::default(),
            counters: ExportCounters::default(),
        })
    }

    /// Exports `batch` as `spec` says, within `budget` (the endpoint's
    /// timeout when it is shorter), and says what became of it.
    pub async fn export(
        &self,
        sink: &str,
        spec: &OtelExport,
        batch: &RecordBatch,
        budget: Option<Duration>,
    ) -> ExportReport {
        let mut report = ExportReport {
            sink: sink.to_string(),
            rows: batch.num_rows() as u64,
            ..ExportReport::default()
        };
        let reqs = match otlp::requests(spec, batch) {
            Ok(r) => r,
            Err(e) => {
                report.error = Some(e);
                return report;
            }
        };
        report.skipped = reqs.skipped;
        self.counters
            .skipped
            .fetch_add(reqs.skipped, Ordering::Relaxed);
        let mut jobs: Vec<(Signal, Payload, u64)> = Vec::new();
        jobs.extend(
            reqs.metrics
                .into_iter()
                .map(|(r, n)| (Signal::Metrics, Payload::Metrics(r), n)),
        );
        jobs.extend(
            reqs.traces
                .into_iter()
                .map(|(r, n)| (Signal::Traces, Payload::Traces(r), n)),
        );
        report.points = jobs.iter().map(|j| j.2).sum();
        let mut targets = Vec::new();
        for signal in [Signal::Metrics, Signal::Traces] {
            let wanted = if jobs.is_empty() {
                // Nothing to send: still say where it would have gone.
                spec.data
                    .iter()
                    .any(|d| d.is_metric() == (signal == Signal::Metrics))
            } else {
                jobs.iter().any(|j| j.0 == signal)
            };
            if !wanted {
                continue;
            }
            match self.env.target(spec.endpoint.as_ref(), signal) {
                Ok(t) => targets.push((signal, t)),
                Err(e) => {
                    let n: u64 = jobs.iter().filter(|j| j.0 == signal).map(|j| j.2).sum();
                    report.lost += n;
                    report.error.get_or_insert(e);
                    jobs.retain(|j| j.0 != signal);
                }
            }
        }
        if let Some((_, t)) = targets.first() {
            report.protocol = t.protocol.name().to_string();
            report.endpoint = targets
                .iter()
                .map(|(_, t)| t.url.as_str())
                .collect::<Vec<_>>()
                .join(" ");
        }
        let started = Instant::now();
        let results: Vec<(u64, send::Outcome)> = futures::stream::iter(jobs)
            .map(|(signal, payload, n)| {
                let t = &targets
                    .iter()
                    .find(|(s, _)| *s == signal)
                    .expect("a target per signal")
                    .1;
                let timeout = budget.map_or(t.timeout, |b| b.min(t.timeout));
                let deadline = started + timeout;
                async move { (n, self.transport.send(t, &payload, deadline).await) }
            })
            .buffer_unordered(IN_FLIGHT)
            .collect()
            .await;
        for (n, o) in results {
            report.requests += 1;
            report.retries += o.attempts.saturating_sub(1);
            match o.error {
                None => {
                    let rejected = o.rejected.min(n);
                    report.delivered += n - rejected;
                    report.lost += rejected;
                    if rejected > 0 {
                        report
                            .error
                            .get_or_insert(format!("the receiver refused {rejected} points"));
                    }
                }
                Some(e) => {
                    report.lost += n;
                    report.error.get_or_insert(e);
                }
            }
        }
        let c = &self.counters;
        c.requests
            .fetch_add(u64::from(report.requests), Ordering::Relaxed);
        c.retries
            .fetch_add(u64::from(report.retries), Ordering::Relaxed);
        c.delivered.fetch_add(report.delivered, Ordering::Relaxed);
        c.lost.fetch_add(report.lost, Ordering::Relaxed);
        if report.lost > 0 {
            tracing::warn!(
                sink,
                lost = report.lost,
                points = report.points,
                endpoint = %report.endpoint,
                "export lost points: {}",
                report.error.as_deref().unwrap_or("")
            );
        }
        report
    }
}
