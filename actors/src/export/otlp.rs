//! Rows to OTLP: a result table and its `px.otel.Data` become
//! `ExportMetricsServiceRequest`s and `ExportTraceServiceRequest`s.
//!
//! Rows with the same resource attributes share one `ResourceMetrics` (or
//! `ResourceSpans`), with one metric per data configuration holding every
//! row's data point, so a collector sees series, not one resource per row
//! (Pixie's exporter repeats the resource per row). Requests are cut every
//! [`ROWS_PER_REQUEST`] rows: well under a collector's default 4 MiB
//! message limit.

use std::collections::HashMap;

use arrow::array::{Array, ArrayRef, AsArray};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Float64Type, Int64Type, TimestampNanosecondType};
use arrow::record_batch::RecordBatch;
use loupe_topology::plan::export::{Attr, AttrValue, OtelData, OtelExport};
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{
    AnyValue, InstrumentationScope, KeyValue, any_value::Value as AV,
};
use opentelemetry_proto::tonic::metrics::v1::{
    Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Summary, SummaryDataPoint,
    metric::Data as MetricData, number_data_point::Value as NV,
    summary_data_point::ValueAtQuantile,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};

/// Rows per request (each row gives one point per data configuration).
pub const ROWS_PER_REQUEST: usize = 2048;

/// The requests of one export, and what they hold.
#[derive(Debug, Default)]
pub struct Requests {
    pub metrics: Vec<(ExportMetricsServiceRequest, u64)>,
    pub traces: Vec<(ExportTraceServiceRequest, u64)>,
    /// Data points and spans not made: a row's value was null.
    pub skipped: u64,
}

/// A column read by name, its type vouched for by the plan's check.
enum Col {
    Str(ArrayRef),
    I64(ArrayRef),
    F64(ArrayRef),
    Bool(ArrayRef),
    Time(ArrayRef),
}

impl Col {
    fn of(batch: &RecordBatch, name: &str) -> Result<Col, String> {
        let a = batch
            .column_by_name(name)
            .ok_or_else(|| format!("the exported table has no column {name:?}"))?;
        Ok(match a.data_type() {
            DataType::Utf8 => Col::Str(a.clone()),
            DataType::Dictionary(..) | DataType::LargeUtf8 | DataType::Utf8View => {
                Col::Str(cast(a, &DataType::Utf8).map_err(|e| format!("column {name:?}: {e}"))?)
            }
            DataType::Int64 => Col::I64(a.clone()),
            DataType::Float64 => Col::F64(a.clone()),
            DataType::Boolean => Col::Bool(a.clone()),
            DataType::Timestamp(..) => Col::Time(a.clone()),
            t => return Err(format!("column {name:?} of type {t} cannot be exported")),
        })
    }

    fn is_null(&self, i: usize) -> bool {
        match self {
            Col::Str(a) | Col::I64(a) | Col::F64(a) | Col::Bool(a) | Col::Time(a) => a.is_null(i),
        }
    }

    fn any(&self, i: usize) -> Option<AV> {
        if self.is_null(i) {
            return None;
        }
        Some(match self {
            Col::Str(a) => AV::StringValue(a.as_string::<i32>().value(i).to_string()),
            Col::I64(a) => AV::IntValue(a.as_primitive::<Int64Type>().value(i)),
            Col::F64(a) => AV::DoubleValue(a.as_primitive::<Float64Type>().value(i)),
            Col::Bool(a) => AV::BoolValue(a.as_boolean().value(i)),
            Col::Time(a) => AV::IntValue(a.as_primitive::<TimestampNanosecondType>().value(i)),
        })
    }

    fn str(&self, i: usize) -> Option<&str> {
        match self {
            Col::Str(a) if !a.is_null(i) => Some(a.as_string::<i32>().value(i)),
            _ => None,
        }
    }

    fn f64(&self, i: usize) -> Option<f64> {
        if self.is_null(i) {
            return None;
        }
        match self {
            Col::F64(a) => Some(a.as_primitive::<Float64Type>().value(i)),
            Col::I64(a) => Some(a.as_primitive::<Int64Type>().value(i) as f64),
            _ => None,
        }
    }

    fn i64(&self, i: usize) -> Option<i64> {
        if self.is_null(i) {
            return None;
        }
        match self {
            Col::I64(a) => Some(a.as_primitive::<Int64Type>().value(i)),
            Col::Time(a) => Some(a.as_primitive::<TimestampNanosecondType>().value(i)),
            _ => None,
        }
    }
}

/// Attributes resolved to their columns.
struct Attrs(Vec<(String, Result<Col, String>)>);

impl Attrs {
    fn of(batch: &RecordBatch, attrs: &[Attr]) -> Result<Attrs, String> {
        let mut out = Vec::with_capacity(attrs.len());
        for a in attrs {
            out.push((
                a.key.clone(),
                match &a.value {
                    AttrValue::Column(c) => Ok(Col::of(batch, c)?),
                    AttrValue::Text(t) => Err(t.clone()),
                },
            ));
        }
        Ok(Attrs(out))
    }

    /// Row `i`'s attributes (a null column value leaves its key out).
    fn row(&self, i: usize) -> Vec<KeyValue> {
        self.0
            .iter()
            .filter_map(|(k, v)| {
                let value = match v {
                    Ok(c) => c.any(i)?,
                    Err(text) => AV::StringValue(text.clone()),
                };
                Some(KeyValue {
                    key: k.clone(),
                    value: Some(AnyValue { value: Some(value) }),
                    ..Default::default()
                })
            })
            .collect()
    }
}

fn scope() -> InstrumentationScope {
    InstrumentationScope {
        name: "loupe".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        ..Default::default()
    }
}

/// The resource attributes of each row, and the rows of each distinct
/// resource, in order of first appearance.
fn by_resource(resource: &Attrs, rows: std::ops::Range<usize>) -> Vec<(Vec<KeyValue>, Vec<usize>)> {
    use prost::Message;
    // Attribute values hold floats (no Eq): rows are compared by their
    // resource's encoding.
    let mut index: HashMap<Vec<u8>, usize> = HashMap::new();
    let mut groups: Vec<(Vec<KeyValue>, Vec<usize>)> = Vec::new();
    for i in rows {
        let attributes = resource.row(i);
        let key = Resource {
            attributes,
            ..Default::default()
        };
        let bytes = key.encode_to_vec();
        match index.get(&bytes) {
            Some(g) => groups[*g].1.push(i),
            None => {
                index.insert(bytes, groups.len());
                groups.push((key.attributes, vec![i]));
            }
        }
    }
    groups
}

/// What a metric configuration reads, resolved.
enum MetricCols {
    Gauge(Col),
    Summary {
        count: Col,
        sum: Col,
        quantiles: Vec<(f64, Col)>,
    },
}

/// Builds the requests of `spec` over `batch`.
pub fn requests(spec: &OtelExport, batch: &RecordBatch) -> Result<Requests, String> {
    let mut out = Requests::default();
    let resource = Attrs::of(batch, &spec.resource)?;
    let n = batch.num_rows();
    let metrics: Vec<&OtelData> = spec.data.iter().filter(|d| d.is_metric()).collect();
    let spans: Vec<&OtelData> = spec.data.iter().filter(|d| !d.is_metric()).collect();
    if !metrics.is_empty() {
        let time = Col::of(batch, "time_")?;
        let mut cols = Vec::new();
        for d in &metrics {
            let (c, attrs) = match d {
                OtelData::Gauge {
                    value, attributes, ..
                } => (MetricCols::Gauge(Col::of(batch, value)?), attributes),
                OtelData::Summary {
                    count,
                    sum,
                    quantiles,
                    attributes,
                    ..
                } => (
                    MetricCols::Summary {
                        count: Col::of(batch, count)?,
                        sum: Col::of(batch, sum)?,
                        quantiles: quantiles
                            .iter()
                            .map(|(q, c)| Ok((*q, Col::of(batch, c)?)))
                            .collect::<Result<_, String>>()?,
                    },
                    attributes,
                ),
                OtelData::Span { .. } => unreachable!("metrics only"),
            };
            cols.push((c, Attrs::of(batch, attrs)?));
        }
        let mut start = 0;
        while start < n {
            let end = (start + ROWS_PER_REQUEST).min(n);
            let mut req = ExportMetricsServiceRequest::default();
            let mut points = 0u64;
            for (res, rows) in by_resource(&resource, start..end) {
                let mut ms = Vec::with_capacity(metrics.len());
                for (d, (c, attrs)) in metrics.iter().zip(&cols) {
                    let (name, description, unit) = match d {
                        OtelData::Gauge {
                            name,
                            description,
                            unit,
                            ..
                        }
                        | OtelData::Summary {
                            name,
                            description,
                            unit,
                            ..
                        } => (name, description, unit),
                        OtelData::Span { .. } => continue,
                    };
                    let data = match c {
                        MetricCols::Gauge(v) => {
                            let mut dps = Vec::with_capacity(rows.len());
                            for &i in &rows {
                                let value = match v {
                                    Col::I64(_) => v.i64(i).map(NV::AsInt),
                                    _ => v.f64(i).map(NV::AsDouble),
                                };
                                let (Some(value), Some(t)) = (value, time.i64(i)) else {
                                    out.skipped += 1;
                                    continue;
                                };
                                dps.push(NumberDataPoint {
                                    attributes: attrs.row(i),
                                    time_unix_nano: t.max(0) as u64,
                                    value: Some(value),
                                    ..Default::default()
                                });
                            }
                            points += dps.len() as u64;
                            MetricData::Gauge(Gauge { data_points: dps })
                        }
                        MetricCols::Summary {
                            count,
                            sum,
                            quantiles,
                        } => {
                            let mut dps = Vec::with_capacity(rows.len());
                            for &i in &rows {
                                let (Some(c), Some(t)) = (count.i64(i), time.i64(i)) else {
                                    out.skipped += 1;
                                    continue;
                                };
                                dps.push(SummaryDataPoint {
                                    attributes: attrs.row(i),
                                    time_unix_nano: t.max(0) as u64,
                                    count: c.max(0) as u64,
                                    sum: sum.f64(i).unwrap_or(0.0),
                                    quantile_values: quantiles
                                        .iter()
                                        .filter_map(|(q, col)| {
                                            Some(ValueAtQuantile {
                                                quantile: *q,
                                                value: col.f64(i)?,
                                            })
                                        })
                                        .collect(),
                                    ..Default::default()
                                });
                            }
                            points += dps.len() as u64;
                            MetricData::Summary(Summary { data_points: dps })
                        }
                    };
                    ms.push(Metric {
                        name: name.clone(),
                        description: description.clone(),
                        unit: unit.clone(),
                        data: Some(data),
                        ..Default::default()
                    });
                }
                req.resource_metrics.push(ResourceMetrics {
                    resource: Some(Resource {
                        attributes: res,
                        ..Default::default()
                    }),
                    scope_metrics: vec![ScopeMetrics {
                        scope: Some(scope()),
                        metrics: ms,
                        ..Default::default()
                    }],
                    ..Default::default()
                });
            }
            if points > 0 {
                out.metrics.push((req, points));
            }
            start = end;
        }
    }
    if !spans.is_empty() {
        let mut ids = Ids::new();
        let mut start = 0;
        while start < n {
            let end = (start + ROWS_PER_REQUEST).min(n);
            let mut req = ExportTraceServiceRequest::default();
            let mut count = 0u64;
            for (res, rows) in by_resource(&resource, start..end) {
                let mut out_spans = Vec::new();
                for d in &spans {
                    let OtelData::Span {
                        name,
                        start_time,
                        end_time,
                        trace_id,
                        span_id,
                        parent_span_id,
                        attributes,
                        kind,
                    } = d
                    else {
                        continue;
                    };
                    let name_col = match name {
                        AttrValue::Column(c) => Some(Col::of(batch, c)?),
                        AttrValue::Text(_) => None,
                    };
                    let st = Col::of(batch, start_time)?;
                    let et = Col::of(batch, end_time)?;
                    let opt =
                        |c: &Option<String>| c.as_ref().map(|c| Col::of(batch, c)).transpose();
                    let (tid, sid, pid) = (opt(trace_id)?, opt(span_id)?, opt(parent_span_id)?);
                    let attrs = Attrs::of(batch, attributes)?;
                    for &i in &rows {
                        let (Some(s), Some(e)) = (st.i64(i), et.i64(i)) else {
                            out.skipped += 1;
                            continue;
                        };
                        let name = match (&name_col, name) {
                            (Some(c), _) => c.str(i).unwrap_or("").to_string(),
                            (None, AttrValue::Text(t)) => t.clone(),
                            (None, AttrValue::Column(_)) => String::new(),
                        };
                        let hex_id = |c: &Option<Col>, len: usize| {
                            c.as_ref()
                                .and_then(|c| c.str(i))
                                .and_then(|s| parse_hex(s, len))
                        };
                        out_spans.push(Span {
                            trace_id: hex_id(&tid, 16).unwrap_or_else(|| ids.next(16)),
                            span_id: hex_id(&sid, 8).unwrap_or_else(|| ids.next(8)),
                            parent_span_id: hex_id(&pid, 8).unwrap_or_default(),
                            name,
                            kind: *kind,
                            start_time_unix_nano: s.max(0) as u64,
                            end_time_unix_nano: e.max(0) as u64,
                            attributes: attrs.row(i),
                            status: Some(Status::default()),
                            ..Default::default()
                        });
                    }
                }
                count += out_spans.len() as u64;
                req.resource_spans.push(ResourceSpans {
                    resource: Some(Resource {
                        attributes: res,
                        ..Default::default()
                    }),
                    scope_spans: vec![ScopeSpans {
                        scope: Some(scope()),
                        spans: out_spans,
                        ..Default::default()
                    }],
                    ..Default::default()
                });
            }
            if count > 0 {
                out.traces.push((req, count));
            }
            start = end;
        }
    }
    Ok(out)
}

/// `len` bytes from lower- or upper-case hex of exactly `2 * len` digits,
/// not all zero (an invalid id in OTLP).
pub fn parse_hex(s: &str, len: usize) -> Option<Vec<u8>> {
    let b = s.as_bytes();
    if b.len() != 2 * len {
        return None;
    }
    let digit = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(len);
    for pair in b.chunks(2) {
        out.push(digit(pair[0])? << 4 | digit(pair[1])?);
    }
    out.iter().any(|&x| x != 0).then_some(out)
}

/// Random ids for spans without one (unique, not secret): SplitMix64
/// seeded from the process's hasher keys and the clock.
struct Ids(u64);

impl Ids {
    fn new() -> Ids {
        use std::hash::{BuildHasher, Hasher};
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_i64(crate::clock::wall_now_ns());
        h.write_u32(std::process::id());
        Ids(h.finish())
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn next(&mut self, len: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(len);
        while out.len() < len {
            out.extend_from_slice(&self.next_u64().to_be_bytes());
        }
        out.truncate(len);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Float64Array, Int64Array, StringArray, TimestampNanosecondArray};
    use arrow::datatypes::{Field, Schema, TimeUnit};
    use loupe_topology::plan::export::Endpoint;
    use std::sync::Arc;

    fn batch() -> RecordBatch {
        RecordBatch::try_new(
            Arc::new(Schema::new(vec![
                Field::new(
                    "time_",
                    DataType::Timestamp(TimeUnit::Nanosecond, None),
                    true,
                ),
                Field::new("service", DataType::Utf8, true),
                Field::new("path", DataType::Utf8, true),
                Field::new("n", DataType::Int64, true),
                Field::new("p99", DataType::Float64, true),
            ])),
            vec![
                Arc::new(TimestampNanosecondArray::from(vec![10, 20, 30])),
                Arc::new(StringArray::from(vec!["a", "b", "a"])),
                Arc::new(StringArray::from(vec!["/x", "/y", "/z"])),
                Arc::new(Int64Array::from(vec![Some(1), Some(2), None])),
                Arc::new(Float64Array::from(vec![0.5, 1.5, 2.5])),
            ],
        )
        .unwrap()
    }

    fn spec(data: Vec<OtelData>) -> OtelExport {
        OtelExport {
            resource: vec![Attr {
                key: "service.name".into(),
                value: AttrValue::Column("service".into()),
            }],
            data,
            endpoint: Some(Endpoint {
                url: "x:1".into(),
                headers: vec![],
                insecure: true,
                timeout_s: 1,
                protocol: None,
            }),
        }
    }

    #[test]
    fn rows_group_by_resource_and_nulls_are_counted() {
        let s = spec(vec![OtelData::Gauge {
            name: "requests".into(),
            description: "d".into(),
            unit: "1".into(),
            value: "n".into(),
            attributes: vec![Attr {
                key: "path".into(),
                value: AttrValue::Column("path".into()),
            }],
        }]);
        let r = requests(&s, &batch()).unwrap();
        assert_eq!(r.skipped, 1);
        assert_eq!(r.metrics.len(), 1);
        let (req, points) = &r.metrics[0];
        assert_eq!(*points, 2);
        // Two services: two resources, "a" first.
        assert_eq!(req.resource_metrics.len(), 2);
        let rm = &req.resource_metrics[0];
        let res = &rm.resource.as_ref().unwrap().attributes[0];
        assert_eq!(res.key, "service.name");
        assert_eq!(
            res.value.as_ref().unwrap().value,
            Some(AV::StringValue("a".into()))
        );
        let m = &rm.scope_metrics[0].metrics[0];
        let Some(MetricData::Gauge(g)) = &m.data else {
            panic!("a gauge")
        };
        // Row 3 ("a", n null) is skipped: one point, row 1's.
        assert_eq!(g.data_points.len(), 1);
        assert_eq!(g.data_points[0].time_unix_nano, 10);
        assert_eq!(g.data_points[0].value, Some(NV::AsInt(1)));
        assert_eq!(g.data_points[0].attributes[0].key, "path");
    }

    #[test]
    fn spans_take_ids_from_hex_or_make_them() {
        assert_eq!(parse_hex("00f067aa0ba902b7", 8).unwrap().len(), 8);
        assert!(parse_hex("0000000000000000", 8).is_none());
        assert!(parse_hex("xyz", 8).is_none());
        let s = spec(vec![OtelData::Span {
            name: AttrValue::Column("path".into()),
            start_time: "time_".into(),
            end_time: "time_".into(),
            trace_id: None,
            span_id: None,
            parent_span_id: None,
            attributes: vec![],
            kind: 2,
        }]);
        let r = requests(&s, &batch()).unwrap();
        let (req, n) = &r.traces[0];
        assert_eq!(*n, 3);
        let spans = &req.resource_spans[0].scope_spans[0].spans;
        assert_eq!(spans[0].name, "/x");
        assert_eq!(spans[0].trace_id.len(), 16);
        assert_ne!(spans[0].span_id, spans[1].span_id);
        assert!(spans[0].parent_span_id.is_empty());
    }
}
