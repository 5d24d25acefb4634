//! OTLP on the wire: gRPC (tonic) or HTTP/protobuf (hyper), TLS by rustls,
//! retried with exponential backoff on what the OTLP specification calls
//! retryable (gRPC UNAVAILABLE and kin, HTTP 429/502/503/504, connection
//! failures), within one deadline per export.
//!
//! Where a script names no endpoint, the planner's environment does, by
//! the OpenTelemetry conventions: `OTEL_EXPORTER_OTLP_[SIGNAL_]ENDPOINT`,
//! `..._HEADERS`, `..._PROTOCOL` (`grpc` or `http/protobuf`),
//! `..._TIMEOUT` (ms), `..._INSECURE`, `..._CERTIFICATE`,
//! `..._CLIENT_CERTIFICATE`, `..._CLIENT_KEY`.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use loupe_topology::plan::export::Endpoint;
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
    metrics_service_client::MetricsServiceClient,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse, trace_service_client::TraceServiceClient,
};
use prost::Message;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Protocol {
    Grpc,
    HttpProtobuf,
}

impl Protocol {
    pub fn parse(s: &str) -> Result<Protocol, String> {
        match s.trim() {
            "grpc" => Ok(Protocol::Grpc),
            "http/protobuf" => Ok(Protocol::HttpProtobuf),
            "http/json" => Err("OTLP http/json is not supported: use grpc or http/protobuf".into()),
            o => Err(format!(
                "OTLP protocol {o:?}: Loupe speaks grpc and http/protobuf"
            )),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Protocol::Grpc => "grpc",
            Protocol::HttpProtobuf => "http/protobuf",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signal {
    Metrics,
    Traces,
}

impl Signal {
    fn env(self) -> &'static str {
        match self {
            Signal::Metrics => "METRICS",
            Signal::Traces => "TRACES",
        }
    }

    fn path(self) -> &'static str {
        match self {
            Signal::Metrics => "/v1/metrics",
            Signal::Traces => "/v1/traces",
        }
    }
}

/// TLS for one target.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Tls {
    /// PEM of CAs to trust besides the system's.
    pub ca: Option<PathBuf>,
    /// PEM client certificate and key (mutual TLS).
    pub client: Option<(PathBuf, PathBuf)>,
}

/// Where one signal of one export goes, resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    pub protocol: Protocol,
    /// gRPC: `http(s)://host:port`; HTTP: the full URL of the signal.
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub tls: Tls,
    pub timeout: Duration,
}

/// The planner's `OTEL_EXPORTER_OTLP_*` settings.
#[derive(Clone, Debug, Default)]
pub struct OtelEnv {
    vars: HashMap<String, String>,
}

impl OtelEnv {
    pub fn from_process() -> OtelEnv {
        OtelEnv {
            vars: std::env::vars()
                .filter(|(k, _)| k.starts_with("OTEL_EXPORTER_OTLP_"))
                .collect(),
        }
    }

    #[cfg(test)]
    pub fn of(vars: &[(&str, &str)]) -> OtelEnv {
        OtelEnv {
            vars: vars
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    /// The signal's own variable, else the general one.
    fn get(&self, signal: Signal, what: &str) -> Option<&str> {
        self.vars
            .get(&format!("OTEL_EXPORTER_OTLP_{}_{what}", signal.env()))
            .or_else(|| self.vars.get(&format!("OTEL_EXPORTER_OTLP_{what}")))
            .map(String::as_str)
            .filter(|v| !v.trim().is_empty())
    }

    fn protocol(&self, signal: Signal) -> Result<Protocol, String> {
        self.get(signal, "PROTOCOL")
            .map_or(Ok(Protocol::Grpc), Protocol::parse)
    }

    /// `k=v,k2=v2`, values percent-decoded (W3C baggage form).
    fn headers(&self, signal: Signal) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for var in [
            "OTEL_EXPORTER_OTLP_HEADERS".to_string(),
            format!("OTEL_EXPORTER_OTLP_{}_HEADERS", signal.env()),
        ] {
            for pair in self
                .vars
                .get(&var)
                .map(String::as_str)
                .unwrap_or("")
                .split(',')
            {
                if let Some((k, v)) = pair.split_once('=') {
                    let k = k.trim().to_ascii_lowercase();
                    out.retain(|(o, _): &(String, String)| *o != k);
                    out.push((k, percent_decode(v.trim())));
                }
            }
        }
        out
    }

    fn tls(&self, signal: Signal) -> Tls {
        Tls {
            ca: self.get(signal, "CERTIFICATE").map(PathBuf::from),
            client: self
                .get(signal, "CLIENT_CERTIFICATE")
                .zip(self.get(signal, "CLIENT_KEY"))
                .map(|(c, k)| (PathBuf::from(c), PathBuf::from(k))),
        }
    }

    fn timeout(&self, signal: Signal) -> Duration {
        self.get(signal, "TIMEOUT")
            .and_then(|t| t.trim().parse::<u64>().ok())
            .map_or(Duration::from_secs(10), Duration::from_millis)
    }

    /// Where `signal` goes: the script's endpoint (gRPC as in Pixie,
    /// unless it says `protocol=`), else the environment's.
    pub fn target(&self, endpoint: Option<&Endpoint>, signal: Signal) -> Result<Target, String> {
        let tls = self.tls(signal);
        let Some(e) = endpoint else {
            let protocol = self.protocol(signal)?;
            let specific = self
                .vars
                .get(&format!("OTEL_EXPORTER_OTLP_{}_ENDPOINT", signal.env()))
                .filter(|v| !v.trim().is_empty());
            let insecure = self
                .get(signal, "INSECURE")
                .is_some_and(|v| v.eq_ignore_ascii_case("true"));
            let url = match (specific, self.vars.get("OTEL_EXPORTER_OTLP_ENDPOINT")) {
                // A signal's own URL is used as it is.
                (Some(u), _) => with_scheme(u.trim(), insecure),
                (None, Some(base)) if !base.trim().is_empty() => {
                    signal_url(protocol, &with_scheme(base.trim(), insecure), signal)
                }
                _ => signal_url(
                    protocol,
                    match protocol {
                        Protocol::Grpc => "http://localhost:4317",
                        Protocol::HttpProtobuf => "http://localhost:4318",
                    },
                    signal,
                ),
            };
            return Ok(Target {
                protocol,
                url,
                headers: self.headers(signal),
                tls,
                timeout: self.timeout(signal),
            });
        };
        let protocol = e
            .protocol
            .as_deref()
            .map_or(Ok(Protocol::Grpc), Protocol::parse)?;
        let url = signal_url(protocol, &with_scheme(&e.url, e.insecure), signal);
        if url.starts_with("http://") && !e.insecure {
            return Err(format!(
                "endpoint {:?} is plain text: say insecure=True to send without TLS",
                e.url
            ));
        }
        Ok(Target {
            protocol,
            url,
            headers: e
                .headers
                .iter()
                .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
                .collect(),
            tls,
            timeout: if e.timeout_s == 0 {
                self.timeout(signal)
            } else {
                Duration::from_secs(u64::from(e.timeout_s))
            },
        })
    }
}

/// `host:port` (Pixie's form) gets a scheme: TLS unless insecure.
fn with_scheme(url: &str, insecure: bool) -> String {
    if url.starts_with("http://") || url.starts_with("https://") {
        url.to_string()
    } else if insecure {
        format!("http://{url}")
    } else {
        format!("https://{url}")
    }
}

/// gRPC: scheme and authority only; HTTP: the base URL and the signal's
/// path (kept when the URL already ends with it).
fn signal_url(protocol: Protocol, base: &str, signal: Signal) -> String {
    let (scheme, rest) = base.split_once("://").unwrap_or(("https", base));
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    match protocol {
        Protocol::Grpc => format!("{scheme}://{authority}"),
        Protocol::HttpProtobuf => {
            let path = path.trim_end_matches('/');
            if path.ends_with(signal.path().trim_start_matches('/')) {
                format!("{scheme}://{authority}/{path}")
            } else if path.is_empty() {
                format!("{scheme}://{authority}{}", signal.path())
            } else {
                format!("{scheme}://{authority}/{path}{}", signal.path())
            }
        }
    }
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let (Some(h), Some(l)) = (
                (b[i + 1] as char).to_digit(16),
                (b[i + 2] as char).to_digit(16),
            )
        {
            out.push((h * 16 + l) as u8);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// One request's fate.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// Attempts made (1 + retries).
    pub attempts: u32,
    /// Points the receiver refused in a partial success.
    pub rejected: u64,
    /// Why it was not delivered (None: delivered).
    pub error: Option<String>,
}

/// A failed attempt: retry it (after at least `after`) or not.
struct Failure {
    retry: bool,
    after: Option<Duration>,
    message: String,
}

type HttpsClient = hyper_util::client::legacy::Client<
    hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>,
    Full<Bytes>,
>;

/// Connections kept between exports, per target (gRPC channels and HTTP
/// clients reconnect by themselves).
#[derive(Default)]
pub struct Transport {
    grpc: Mutex<HashMap<(String, Tls), tonic::transport::Channel>>,
    http: Mutex<HashMap<Tls, HttpsClient>>,
}

/// Request bodies by signal.
pub enum Payload {
    Metrics(ExportMetricsServiceRequest),
    Traces(ExportTraceServiceRequest),
}

impl Transport {
    /// Sends one request, retrying until delivered, refused for good, or
    /// `deadline`.
    pub async fn send(&self, t: &Target, body: &Payload, deadline: Instant) -> Outcome {
        let mut out = Outcome::default();
        let mut backoff = Duration::from_millis(100);
        loop {
            out.attempts += 1;
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                out.error = Some("timed out before the receiver answered".into());
                return out;
            }
            let r = match t.protocol {
                Protocol::Grpc => self.grpc(t, body, left).await,
                Protocol::HttpProtobuf => self.http(t, body, left).await,
            };
            match r {
                Ok(rejected) => {
                    out.rejected = rejected;
                    out.error = None;
                    return out;
                }
                Err(f) => {
                    out.error = Some(f.message);
                    if !f.retry {
                        return out;
                    }
                    // Jittered: 75 % to 125 % of the backoff, or what the
                    // receiver asked for.
                    let jitter = 0.75 + (crate::clock::wall_now_ns() % 500) as f64 / 1000.0;
                    let wait = f.after.unwrap_or(backoff.mul_f64(jitter));
                    if Instant::now() + wait >= deadline {
                        return out;
                    }
                    tokio::time::sleep(wait).await;
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
        }
    }

    fn channel(&self, t: &Target) -> Result<tonic::transport::Channel, Failure> {
        let key = (t.url.clone(), t.tls.clone());
        if let Some(c) = self.grpc.lock().ok().and_then(|m| m.get(&key).cloned()) {
            return Ok(c);
        }
        let bad = |message: String| Failure {
            retry: false,
            after: None,
            message,
        };
        let mut ep = tonic::transport::Endpoint::from_shared(t.url.clone())
            .map_err(|e| bad(format!("endpoint {}: {e}", t.url)))?
            .connect_timeout(Duration::from_secs(5));
        if t.url.starts_with("https://") {
            let mut tls = tonic::transport::ClientTlsConfig::new().with_native_roots();
            if let Some(ca) = &t.tls.ca {
                let pem = std::fs::read(ca).map_err(|e| bad(format!("{}: {e}", ca.display())))?;
                tls = tls.ca_certificate(tonic::transport::Certificate::from_pem(pem));
            }
            if let Some((c, k)) = &t.tls.client {
                let cert = std::fs::read(c).map_err(|e| bad(format!("{}: {e}", c.display())))?;
                let key = std::fs::read(k).map_err(|e| bad(format!("{}: {e}", k.display())))?;
                tls = tls.identity(tonic::transport::Identity::from_pem(cert, key));
            }
            ep = ep
                .tls_config(tls)
                .map_err(|e| bad(format!("TLS for {}: {e}", t.url)))?;
        }
        let c = ep.connect_lazy();
        if let Ok(mut m) = self.grpc.lock() {
            m.insert(key, c.clone());
        }
        Ok(c)
    }

    async fn grpc(&self, t: &Target, body: &Payload, left: Duration) -> Result<u64, Failure> {
        let channel = self.channel(t)?;
        let meta = |req: &mut tonic::metadata::MetadataMap| -> Result<(), Failure> {
            for (k, v) in &t.headers {
                let key = tonic::metadata::MetadataKey::from_bytes(k.as_bytes());
                let val = tonic::metadata::MetadataValue::try_from(v.as_str());
                match (key, val) {
                    (Ok(k), Ok(v)) => {
                        req.insert(k, v);
                    }
                    _ => {
                        return Err(Failure {
                            retry: false,
                            after: None,
                            message: format!("header {k:?} is not valid gRPC metadata"),
                        });
                    }
                }
            }
            Ok(())
        };
        let status = match body {
            Payload::Metrics(m) => {
                let mut req = tonic::Request::new(m.clone());
                meta(req.metadata_mut())?;
                req.set_timeout(left);
                MetricsServiceClient::new(channel)
                    .export(req)
                    .await
                    .map(|r| rejected_metrics(r.get_ref()))
            }
            Payload::Traces(tr) => {
                let mut req = tonic::Request::new(tr.clone());
                meta(req.metadata_mut())?;
                req.set_timeout(left);
                TraceServiceClient::new(channel)
                    .export(req)
                    .await
                    .map(|r| rejected_spans(r.get_ref()))
            }
        };
        status.map_err(|s| {
            use tonic::Code::*;
            Failure {
                retry: matches!(
                    s.code(),
                    Cancelled
                        | DeadlineExceeded
                        | ResourceExhausted
                        | Aborted
                        | OutOfRange
                        | Unavailable
                        | DataLoss
                ),
                after: None,
                message: format!("gRPC {:?}: {}", s.code(), s.message()),
            }
        })
    }

    fn http_client(&self, tls: &Tls) -> Result<HttpsClient, Failure> {
        if let Some(c) = self.http.lock().ok().and_then(|m| m.get(tls).cloned()) {
            return Ok(c);
        }
        let bad = |message: String| Failure {
            retry: false,
            after: None,
            message,
        };
        let cfg = client_tls(tls).map_err(bad)?;
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(cfg)
            .https_or_http()
            .enable_http1()
            .enable_http2()
            .build();
        let c = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build(connector);
        if let Ok(mut m) = self.http.lock() {
            m.insert(tls.clone(), c.clone());
        }
        Ok(c)
    }

    async fn http(&self, t: &Target, body: &Payload, left: Duration) -> Result<u64, Failure> {
        let client = self.http_client(&t.tls)?;
        let bytes = match body {
            Payload::Metrics(m) => m.encode_to_vec(),
            Payload::Traces(tr) => tr.encode_to_vec(),
        };
        let mut req = hyper::Request::post(&t.url).header("content-type", "application/x-protobuf");
        for (k, v) in &t.headers {
            req = req.header(k.as_str(), v.as_str());
        }
        let req = req
            .body(Full::new(Bytes::from(bytes)))
            .map_err(|e| Failure {
                retry: false,
                after: None,
                message: format!("request to {}: {e}", t.url),
            })?;
        let resp = match tokio::time::timeout(left, client.request(req)).await {
            Err(_) => {
                return Err(Failure {
                    retry: true,
                    after: None,
                    message: format!("{}: no answer in time", t.url),
                });
            }
            Ok(Err(e)) => {
                return Err(Failure {
                    retry: true,
                    after: None,
                    message: format!("{}: {:#}", t.url, anyhow::Error::new(e)),
                });
            }
            Ok(Ok(r)) => r,
        };
        let status = resp.status();
        let after = resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let answer = tokio::time::timeout(left, resp.into_body().collect())
            .await
            .ok()
            .and_then(Result::ok)
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        if status.is_success() {
            return Ok(match body {
                Payload::Metrics(_) => ExportMetricsServiceResponse::decode(answer)
                    .map(|r| rejected_metrics(&r))
                    .unwrap_or(0),
                Payload::Traces(_) => ExportTraceServiceResponse::decode(answer)
                    .map(|r| rejected_spans(&r))
                    .unwrap_or(0),
            });
        }
        let code = status.as_u16();
        // The receiver's words, printable, first 200 bytes.
        let said: String = String::from_utf8_lossy(&answer[..answer.len().min(200)])
            .chars()
            .filter(|c| !c.is_control())
            .collect();
        Err(Failure {
            retry: matches!(code, 429 | 502 | 503 | 504),
            after,
            message: if said.trim().is_empty() {
                format!("HTTP {code} from {}", t.url)
            } else {
                format!("HTTP {code} from {}: {}", t.url, said.trim())
            },
        })
    }
}

fn rejected_metrics(r: &ExportMetricsServiceResponse) -> u64 {
    r.partial_success
        .as_ref()
        .map_or(0, |p| p.rejected_data_points.max(0) as u64)
}

fn rejected_spans(r: &ExportTraceServiceResponse) -> u64 {
    r.partial_success
        .as_ref()
        .map_or(0, |p| p.rejected_spans.max(0) as u64)
}

/// rustls for HTTP: the system's roots, the configured CA, a client
/// certificate when given.
fn client_tls(tls: &Tls) -> Result<rustls::ClientConfig, String> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls_native_certs::load_native_certs().certs {
        let _ = roots.add(c);
    }
    if let Some(ca) = &tls.ca {
        for c in CertificateDer::pem_file_iter(ca).map_err(|e| format!("{}: {e}", ca.display()))? {
            roots
                .add(c.map_err(|e| format!("{}: {e}", ca.display()))?)
                .map_err(|e| format!("{}: {e}", ca.display()))?;
        }
    }
    let b = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| e.to_string())?
    .with_root_certificates(roots);
    Ok(match &tls.client {
        None => b.with_no_client_auth(),
        Some((c, k)) => {
            let certs = CertificateDer::pem_file_iter(c)
                .map_err(|e| format!("{}: {e}", c.display()))?
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| format!("{}: {e}", c.display()))?;
            let key =
                PrivateKeyDer::from_pem_file(k).map_err(|e| format!("{}: {e}", k.display()))?;
            b.with_client_auth_cert(certs, key)
                .map_err(|e| format!("client certificate: {e}"))?
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ep(url: &str, insecure: bool) -> Endpoint {
        Endpoint {
            url: url.into(),
            headers: vec![("X-Key".into(), "v".into())],
            insecure,
            timeout_s: 3,
            protocol: None,
        }
    }

    #[test]
    fn script_endpoints_follow_pixie() {
        let env = OtelEnv::default();
        let t = env
            .target(Some(&ep("collector:4317", false)), Signal::Metrics)
            .unwrap();
        assert_eq!(t.protocol, Protocol::Grpc);
        assert_eq!(t.url, "https://collector:4317");
        assert_eq!(t.headers, vec![("x-key".into(), "v".into())]);
        assert_eq!(t.timeout, Duration::from_secs(3));
        let t = env
            .target(Some(&ep("127.0.0.1:4317", true)), Signal::Traces)
            .unwrap();
        assert_eq!(t.url, "http://127.0.0.1:4317");
        let mut http = ep("http://h:4318", true);
        http.protocol = Some("http/protobuf".into());
        let t = env.target(Some(&http), Signal::Traces).unwrap();
        assert_eq!(t.url, "http://h:4318/v1/traces");
        assert!(
            env.target(Some(&ep("http://h:4318", false)), Signal::Traces)
                .is_err()
        );
    }

    #[test]
    fn the_environment_decides_otherwise() {
        let env = OtelEnv::default();
        let t = env.target(None, Signal::Metrics).unwrap();
        assert_eq!(t.url, "http://localhost:4317");
        assert_eq!(t.timeout, Duration::from_secs(10));
        let env = OtelEnv::of(&[
            (
                "OTEL_EXPORTER_OTLP_ENDPOINT",
                "https://otel.example:4318/base/",
            ),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
            ("OTEL_EXPORTER_OTLP_HEADERS", "api-key=a%20b,X-Tenant=t1"),
            (
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                "https://traces.example/v1/spans",
            ),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "2500"),
            ("OTEL_EXPORTER_OTLP_CERTIFICATE", "/etc/ca.pem"),
        ]);
        let m = env.target(None, Signal::Metrics).unwrap();
        assert_eq!(m.protocol, Protocol::HttpProtobuf);
        assert_eq!(m.url, "https://otel.example:4318/base/v1/metrics");
        assert_eq!(
            m.headers,
            vec![
                ("api-key".into(), "a b".into()),
                ("x-tenant".into(), "t1".into())
            ]
        );
        assert_eq!(m.timeout, Duration::from_millis(2500));
        assert_eq!(m.tls.ca, Some(PathBuf::from("/etc/ca.pem")));
        let t = env.target(None, Signal::Traces).unwrap();
        assert_eq!(t.url, "https://traces.example/v1/spans");
        let bad = OtelEnv::of(&[("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")]);
        assert!(bad.target(None, Signal::Metrics).is_err());
    }
}
