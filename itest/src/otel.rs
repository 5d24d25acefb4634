//! A real OpenTelemetry Collector for tests: the core collector with the
//! OTLP receiver (gRPC and HTTP) and the contrib file exporter, built from
//! the upstream Go modules (`scripts/otel/build.sh`, cached per machine),
//! started on loopback ports the test picks. What it received is read back
//! from the file exporter's OTLP JSON: the ground truth of an export.

use anyhow::{Context, Result};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::{Proc, free_port, wait_for_port};

/// The collector binary (`$LOUPE_OTELCOL`, else what `scripts/otel/build.sh`
/// builds or finds cached).
pub fn binary() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os("LOUPE_OTELCOL")
        && Path::new(&p).exists()
    {
        return Ok(PathBuf::from(p));
    }
    crate::cached_build("otel/build.sh")
}

/// A running collector, stopped (by pid) when dropped.
pub struct Collector {
    pub grpc_port: u16,
    pub http_port: u16,
    /// The file exporter's output: one OTLP JSON document per line.
    pub out: PathBuf,
    config: PathBuf,
    log: PathBuf,
    proc: Option<Proc>,
}

impl Collector {
    pub fn start(dir: &Path) -> Result<Collector> {
        let dir = dir.join("otelcol");
        std::fs::create_dir_all(&dir)?;
        let (grpc_port, http_port) = (free_port(), free_port());
        let out = dir.join("received.jsonl");
        let config = dir.join("config.yaml");
        std::fs::write(
            &config,
            format!(
                "receivers:\n  otlp:\n    protocols:\n      grpc:\n        endpoint: 127.0.0.1:{grpc_port}\n      http:\n        endpoint: 127.0.0.1:{http_port}\n\
                 exporters:\n  file:\n    path: {}\n    flush_interval: 100ms\n\
                 service:\n  telemetry:\n    metrics:\n      level: none\n  pipelines:\n    metrics:\n      receivers: [otlp]\n      exporters: [file]\n    traces:\n      receivers: [otlp]\n      exporters: [file]\n",
                out.display()
            ),
        )?;
        let mut c = Collector {
            grpc_port,
            http_port,
            out,
            config,
            log: dir.join("otelcol.log"),
            proc: None,
        };
        c.restart()?;
        Ok(c)
    }

    /// Starts it again on the same ports (after [`Collector::stop`]).
    pub fn restart(&mut self) -> Result<()> {
        let bin = binary()?;
        let proc = Proc::spawn(
            "otelcol",
            Command::new(bin).arg("--config").arg(&self.config),
            &self.log,
        )?;
        self.proc = Some(proc);
        wait_for_port(self.grpc_port, Duration::from_secs(20))?;
        wait_for_port(self.http_port, Duration::from_secs(20))?;
        Ok(())
    }

    /// Stops it (SIGTERM, by pid): its ports refuse until a restart.
    pub fn stop(&mut self) {
        if let Some(mut p) = self.proc.take() {
            p.kill();
        }
    }

    /// Every OTLP document received so far.
    pub fn received(&self) -> Result<Vec<Value>> {
        let text = std::fs::read_to_string(&self.out).unwrap_or_default();
        // Whole lines only: the exporter may be writing the last one.
        let whole = &text[..text.rfind('\n').map_or(0, |i| i + 1)];
        whole
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).with_context(|| format!("not JSON: {l}")))
            .collect()
    }

    /// Waits until `done` holds over what was received, or `timeout`.
    pub fn wait_for(
        &self,
        timeout: Duration,
        mut done: impl FnMut(&[Value]) -> bool,
    ) -> Result<Vec<Value>> {
        let start = Instant::now();
        loop {
            let got = self.received()?;
            if done(&got) || start.elapsed() > timeout {
                return Ok(got);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// An OTLP JSON attribute list as (key, value as JSON).
pub fn attrs(list: &Value) -> std::collections::BTreeMap<String, Value> {
    list.as_array()
        .into_iter()
        .flatten()
        .map(|kv| {
            let v = &kv["value"];
            let value = v
                .get("stringValue")
                .cloned()
                .or_else(|| {
                    v.get("intValue")
                        .and_then(|i| {
                            i.as_str()
                                .and_then(|s| s.parse::<i64>().ok())
                                .or(i.as_i64())
                        })
                        .map(Value::from)
                })
                .or_else(|| v.get("doubleValue").cloned())
                .or_else(|| v.get("boolValue").cloned())
                .unwrap_or(Value::Null);
            (kv["key"].as_str().unwrap_or("").to_string(), value)
        })
        .collect()
}

/// Every gauge data point received: (resource attributes, metric name,
/// unit, point attributes, time ns, value).
pub type GaugePoint = (
    std::collections::BTreeMap<String, Value>,
    String,
    String,
    std::collections::BTreeMap<String, Value>,
    u64,
    f64,
);

pub fn gauge_points(docs: &[Value]) -> Vec<GaugePoint> {
    let mut out = Vec::new();
    for d in docs {
        for rm in d["resourceMetrics"].as_array().into_iter().flatten() {
            let res = attrs(&rm["resource"]["attributes"]);
            for sm in rm["scopeMetrics"].as_array().into_iter().flatten() {
                for m in sm["metrics"].as_array().into_iter().flatten() {
                    for p in m["gauge"]["dataPoints"].as_array().into_iter().flatten() {
                        let value = p["asDouble"].as_f64().or_else(|| {
                            p["asInt"]
                                .as_str()
                                .and_then(|s| s.parse::<i64>().ok())
                                .or(p["asInt"].as_i64())
                                .map(|i| i as f64)
                        });
                        out.push((
                            res.clone(),
                            m["name"].as_str().unwrap_or("").to_string(),
                            m["unit"].as_str().unwrap_or("").to_string(),
                            attrs(&p["attributes"]),
                            p["timeUnixNano"]
                                .as_str()
                                .and_then(|s| s.parse().ok())
                                .unwrap_or(0),
                            value.unwrap_or(f64::NAN),
                        ));
                    }
                }
            }
        }
    }
    out
}

/// Every summary data point received: (metric name, the point as OTLP
/// JSON has it).
pub fn summary_points(docs: &[Value]) -> Vec<(String, &Value)> {
    let mut out = Vec::new();
    for d in docs {
        for rm in d["resourceMetrics"].as_array().into_iter().flatten() {
            for sm in rm["scopeMetrics"].as_array().into_iter().flatten() {
                for m in sm["metrics"].as_array().into_iter().flatten() {
                    for p in m["summary"]["dataPoints"].as_array().into_iter().flatten() {
                        out.push((m["name"].as_str().unwrap_or("").to_string(), p));
                    }
                }
            }
        }
    }
    out
}

/// Every span received, with its resource's attributes.
pub fn spans(docs: &[Value]) -> Vec<(std::collections::BTreeMap<String, Value>, Value)> {
    let mut out = Vec::new();
    for d in docs {
        for rs in d["resourceSpans"].as_array().into_iter().flatten() {
            let res = attrs(&rs["resource"]["attributes"]);
            for ss in rs["scopeSpans"].as_array().into_iter().flatten() {
                for s in ss["spans"].as_array().into_iter().flatten() {
                    out.push((res.clone(), s.clone()));
                }
            }
        }
    }
    out
}

impl Drop for Collector {
    fn drop(&mut self) {
        self.stop();
    }
}
