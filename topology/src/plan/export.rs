//! `px.export(df, px.otel.Data(...))`: how a result table becomes
//! OpenTelemetry data (Pixie's API and meaning). Pure data: the compiler
//! makes it, [`OtelExport::check`] validates it against the exported
//! table's schema (at compile time, and again where a plan arrives from the
//! wire), and the planner's exporter turns rows into OTLP.
//!
//! Columns are named, not indexed: the exporter reads them from the sink's
//! table by name, after the check has vouched for their types.

use serde::{Deserialize, Serialize};

use super::types::{DType, Schema};

/// At most this many data configurations, attributes, quantiles or headers
/// per export (a plan from the wire is bounded before it runs).
pub const MAX_ITEMS: usize = 64;
/// At most this long: names, descriptions, attribute keys and constant
/// values, header names and values, the URL.
pub const MAX_TEXT: usize = 4096;

/// OpenTelemetry span kinds (`px.otel.trace.SPAN_KIND_*`), as in OTLP.
pub const SPAN_KINDS: [(&str, i32); 6] = [
    ("SPAN_KIND_UNSPECIFIED", 0),
    ("SPAN_KIND_INTERNAL", 1),
    ("SPAN_KIND_SERVER", 2),
    ("SPAN_KIND_CLIENT", 3),
    ("SPAN_KIND_PRODUCER", 4),
    ("SPAN_KIND_CONSUMER", 5),
];

/// An attribute's value: a column of the exported table (per row), or a
/// constant string.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum AttrValue {
    Column(String),
    Text(String),
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Attr {
    pub key: String,
    pub value: AttrValue,
}

/// One mapping of rows to OpenTelemetry data (`px.otel.metric.Gauge`,
/// `px.otel.metric.Summary`, `px.otel.trace.Span`). Metrics take their
/// timestamp from `time_`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum OtelData {
    Gauge {
        name: String,
        description: String,
        /// Given, or inferred from the value's semantic type ("" if none).
        unit: String,
        /// An INT64 or FLOAT64 column.
        value: String,
        attributes: Vec<Attr>,
    },
    Summary {
        name: String,
        description: String,
        unit: String,
        /// INT64.
        count: String,
        /// FLOAT64 (Pixie's rule; an INT64 sum is accepted and widened).
        sum: String,
        /// (quantile in [0, 1], FLOAT64 column).
        quantiles: Vec<(f64, String)>,
        attributes: Vec<Attr>,
    },
    Span {
        /// A STRING column or a constant.
        name: AttrValue,
        /// TIME columns.
        start_time: String,
        end_time: String,
        /// STRING columns of lower-case hex (32, 16, 16 digits); a missing
        /// or malformed id is generated (trace, span) or left empty (parent).
        trace_id: Option<String>,
        span_id: Option<String>,
        parent_span_id: Option<String>,
        attributes: Vec<Attr>,
        /// An OTLP SpanKind (0..=5).
        kind: i32,
    },
}

impl OtelData {
    pub fn is_metric(&self) -> bool {
        !matches!(self, OtelData::Span { .. })
    }
}

/// Where to send (`px.otel.Endpoint`). Without one, the planner's
/// environment decides (`OTEL_EXPORTER_OTLP_*`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Endpoint {
    pub url: String,
    pub headers: Vec<(String, String)>,
    /// Plain text (http://, or gRPC without TLS) allowed.
    pub insecure: bool,
    /// Seconds for one export, retries included (0: the default).
    pub timeout_s: u32,
    /// `grpc` (Pixie's, the default) or `http/protobuf` (a Loupe
    /// extension: `px.otel.Endpoint(..., protocol='http/protobuf')`).
    #[serde(default)]
    pub protocol: Option<String>,
}

/// `px.otel.Data(resource=..., data=[...], endpoint=...)`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OtelExport {
    pub resource: Vec<Attr>,
    pub data: Vec<OtelData>,
    pub endpoint: Option<Endpoint>,
}

fn text(what: &str, s: &str) -> Result<(), String> {
    if s.len() > MAX_TEXT {
        return Err(format!("{what} longer than {MAX_TEXT} bytes"));
    }
    Ok(())
}

fn items(what: &str, n: usize) -> Result<(), String> {
    if n > MAX_ITEMS {
        return Err(format!("{n} {what}; at most {MAX_ITEMS}"));
    }
    Ok(())
}

/// A valid OpenTelemetry instrument name: a letter, then letters, digits,
/// `_`, `.`, `-` or `/`, at most 255 characters.
pub fn valid_metric_name(name: &str) -> bool {
    let mut cs = name.chars();
    name.len() <= 255
        && cs.next().is_some_and(|c| c.is_ascii_alphabetic())
        && cs.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-' | '/'))
}

impl OtelExport {
    /// Checks the export against the schema of the table it exports:
    /// every named column exists with a type it can be exported as, and
    /// every value is within bounds. The compiler's errors and a wire
    /// plan's refusals are these messages.
    pub fn check(&self, schema: &Schema) -> Result<(), String> {
        let col = |what: &str, name: &str, ok: &[DType]| -> Result<(), String> {
            text("a column name", name)?;
            let f = schema.get(name).ok_or_else(|| {
                format!(
                    "{what}: the exported DataFrame has no column {name:?} (it has {})",
                    schema.names().join(", ")
                )
            })?;
            if !ok.contains(&f.dtype) {
                let want: Vec<String> = ok.iter().map(|t| t.to_string()).collect();
                return Err(format!(
                    "{what}: column {name:?} is {}, not {}",
                    f.dtype,
                    want.join(" or ")
                ));
            }
            Ok(())
        };
        let attrs = |what: &str, attrs: &[Attr]| -> Result<(), String> {
            items(&format!("{what} attributes"), attrs.len())?;
            for a in attrs {
                if a.key.is_empty() {
                    return Err(format!(
                        "{what}: an attribute key must be a non-empty string"
                    ));
                }
                text("an attribute key", &a.key)?;
                match &a.value {
                    AttrValue::Text(t) => text("an attribute value", t)?,
                    AttrValue::Column(c) => col(
                        &format!("{what} attribute {:?}", a.key),
                        c,
                        &[
                            DType::String,
                            DType::Int64,
                            DType::Float64,
                            DType::Boolean,
                            DType::Time,
                        ],
                    )?,
                }
            }
            Ok(())
        };
        attrs("the resource", &self.resource)?;
        if !self.resource.iter().any(|a| a.key == "service.name") {
            return Err("'service.name' must be specified in the resource".into());
        }
        if self.data.is_empty() {
            return Err("px.otel.Data needs at least one data configuration".into());
        }
        items("data configurations", self.data.len())?;
        for d in &self.data {
            if d.is_metric() {
                col("a metric's time", "time_", &[DType::Time]).map_err(|e| {
                    format!("{e}: metrics take their timestamp from a TIME column time_")
                })?;
            }
            match d {
                OtelData::Gauge {
                    name,
                    description,
                    unit,
                    value,
                    attributes,
                } => {
                    metric_name(name)?;
                    text("a description", description)?;
                    text("a unit", unit)?;
                    col(
                        &format!("gauge {name:?} value"),
                        value,
                        &[DType::Int64, DType::Float64],
                    )?;
                    attrs(&format!("gauge {name:?}"), attributes)?;
                }
                OtelData::Summary {
                    name,
                    description,
                    unit,
                    count,
                    sum,
                    quantiles,
                    attributes,
                } => {
                    metric_name(name)?;
                    text("a description", description)?;
                    text("a unit", unit)?;
                    col(&format!("summary {name:?} count"), count, &[DType::Int64])?;
                    col(
                        &format!("summary {name:?} sum"),
                        sum,
                        &[DType::Float64, DType::Int64],
                    )?;
                    if quantiles.is_empty() {
                        return Err(format!(
                            "summary {name:?} must have at least one quantile value"
                        ));
                    }
                    items("quantile values", quantiles.len())?;
                    for (q, c) in quantiles {
                        if !(0.0..=1.0).contains(q) {
                            return Err(format!(
                                "summary {name:?}: quantile {q} is not between 0 and 1"
                            ));
                        }
                        col(
                            &format!("summary {name:?} quantile {q}"),
                            c,
                            &[DType::Float64, DType::Int64],
                        )?;
                    }
                    attrs(&format!("summary {name:?}"), attributes)?;
                }
                OtelData::Span {
                    name,
                    start_time,
                    end_time,
                    trace_id,
                    span_id,
                    parent_span_id,
                    attributes,
                    kind,
                } => {
                    match name {
                        AttrValue::Text(t) => text("a span name", t)?,
                        AttrValue::Column(c) => col("a span's name", c, &[DType::String])?,
                    }
                    col("a span's start_time", start_time, &[DType::Time])?;
                    col("a span's end_time", end_time, &[DType::Time])?;
                    for (what, c) in [
                        ("trace_id", trace_id),
                        ("span_id", span_id),
                        ("parent_span_id", parent_span_id),
                    ] {
                        if let Some(c) = c {
                            col(&format!("a span's {what}"), c, &[DType::String])?;
                        }
                    }
                    if !(0..=5).contains(kind) {
                        return Err(format!(
                            "span kind {kind} is not an OpenTelemetry SpanKind (px.otel.trace.SPAN_KIND_*)"
                        ));
                    }
                    attrs("a span", attributes)?;
                }
            }
        }
        if let Some(e) = &self.endpoint {
            e.check()?;
        }
        Ok(())
    }
}

fn metric_name(name: &str) -> Result<(), String> {
    if !valid_metric_name(name) {
        return Err(format!(
            "metric name {name:?} is invalid: a letter, then letters, digits, '_', '.', '-' or '/' \
             (OpenTelemetry's instrument naming rules)"
        ));
    }
    Ok(())
}

impl Endpoint {
    pub fn check(&self) -> Result<(), String> {
        text("the endpoint URL", &self.url)?;
        let rest = self
            .url
            .strip_prefix("http://")
            .or_else(|| self.url.strip_prefix("https://"))
            .unwrap_or(&self.url);
        let host = rest.split('/').next().unwrap_or("");
        if host.is_empty() || host.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(format!(
                "endpoint URL {:?} is not host:port or http(s)://host:port[/path]",
                self.url
            ));
        }
        items("headers", self.headers.len())?;
        for (k, v) in &self.headers {
            text("a header name", k)?;
            text("a header value", v)?;
            let token = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
            if k.is_empty() || !k.chars().all(token) {
                return Err(format!("header name {k:?} is not an HTTP token"));
            }
            if v.chars().any(|c| c.is_control() && c != '\t') {
                return Err(format!("header {k:?} has a control character in its value"));
            }
        }
        if let Some(p) = &self.protocol
            && p != "grpc"
            && p != "http/protobuf"
        {
            return Err(format!("endpoint protocol {p:?}: grpc or http/protobuf"));
        }
        if self.timeout_s > 3600 {
            return Err(format!(
                "endpoint timeout of {} s; at most 3600",
                self.timeout_s
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::types::Field;

    fn schema() -> Schema {
        Schema::new(vec![
            Field::new("time_", DType::Time),
            Field::new("service", DType::String),
            Field::new("n", DType::Int64),
            Field::new("p99", DType::Float64),
        ])
    }

    fn gauge(value: &str) -> OtelExport {
        OtelExport {
            resource: vec![Attr {
                key: "service.name".into(),
                value: AttrValue::Column("service".into()),
            }],
            data: vec![OtelData::Gauge {
                name: "http.requests".into(),
                description: String::new(),
                unit: String::new(),
                value: value.into(),
                attributes: vec![],
            }],
            endpoint: None,
        }
    }

    #[test]
    fn columns_are_checked_by_name_and_type() {
        assert!(gauge("n").check(&schema()).is_ok());
        assert!(gauge("p99").check(&schema()).is_ok());
        let e = gauge("nope").check(&schema()).unwrap_err();
        assert!(e.contains("no column \"nope\""), "{e}");
        let e = gauge("service").check(&schema()).unwrap_err();
        assert!(e.contains("is STRING, not INT64 or FLOAT64"), "{e}");
    }

    #[test]
    fn service_name_and_time_are_required() {
        let mut x = gauge("n");
        x.resource[0].key = "service".into();
        assert!(x.check(&schema()).unwrap_err().contains("service.name"));
        let no_time = Schema::new(vec![
            Field::new("service", DType::String),
            Field::new("n", DType::Int64),
        ]);
        assert!(gauge("n").check(&no_time).unwrap_err().contains("time_"));
    }

    #[test]
    fn names_and_endpoints_are_bounded() {
        assert!(valid_metric_name("http.server.duration"));
        assert!(!valid_metric_name("1abc"));
        assert!(!valid_metric_name("a b"));
        let mut x = gauge("n");
        x.endpoint = Some(Endpoint {
            url: "localhost:4317".into(),
            headers: vec![("x-api-key".into(), "s3cret".into())],
            insecure: true,
            timeout_s: 5,
            protocol: None,
        });
        assert!(x.check(&schema()).is_ok());
        x.endpoint.as_mut().unwrap().headers[0].0 = "bad header".into();
        assert!(x.check(&schema()).is_err());
        x.endpoint.as_mut().unwrap().headers.clear();
        x.endpoint.as_mut().unwrap().url = "http:// x".into();
        assert!(x.check(&schema()).is_err());
    }
}
