//! `px.export` and `px.otel.*` (Pixie's API): the values a script builds
//! (`px.otel.Data`, `px.otel.metric.Gauge`, ...) and the export sink they
//! become. Columns are taken as names here and checked against the
//! exported DataFrame's schema when `px.export` is called, so an error
//! names the column and the argument at fault.

use std::rc::Rc;

use super::{Args, Compiler, R, Value};
use crate::plan::export::{Attr, AttrValue, Endpoint, OtelData, OtelExport, SPAN_KINDS};
use crate::plan::{Expr, Scalar, Sem, Sink};
use crate::pxl::error::Span;

/// A value of `px.otel`.
#[derive(Clone, Debug)]
pub(super) enum Otel {
    Data(OtelExport),
    /// A Gauge or Summary with the unit given (`None`: inferred from the
    /// value's semantic type when exported), or a Span.
    Item(OtelData, Option<String>),
    Endpoint(Endpoint),
}

/// The names under `px.otel`, callable or not.
pub(super) const OTEL_NAMES: &[&str] = &[
    "otel.Data",
    "otel.Endpoint",
    "otel.metric",
    "otel.metric.Gauge",
    "otel.metric.Summary",
    "otel.trace",
    "otel.trace.Span",
];

impl Compiler<'_> {
    /// `px.otel.<attr>...`: a module, a function, or a span kind constant.
    pub(super) fn otel_attr(&self, path: &str, attr: &str, aspan: Span) -> R<Value> {
        let full = format!("{path}.{attr}");
        if path == "otel.trace"
            && let Some((_, k)) = SPAN_KINDS.iter().find(|(n, _)| *n == attr)
        {
            return Ok(Value::Lit(Scalar::Int64(i64::from(*k))));
        }
        if OTEL_NAMES.contains(&full.as_str()) {
            return Ok(Value::PxAttr(full));
        }
        let mut known: Vec<String> = OTEL_NAMES
            .iter()
            .filter_map(|n| n.strip_prefix(&format!("{path}.")).map(str::to_string))
            .filter(|n| !n.contains('.'))
            .collect();
        if path == "otel.trace" {
            known.extend(SPAN_KINDS.iter().map(|(n, _)| n.to_string()));
        }
        Err(self.err(
            aspan,
            format!(
                "px.{full} is not part of px.{path}{}",
                if known.is_empty() {
                    String::new()
                } else {
                    format!(" (it has {})", known.join(", "))
                }
            ),
        ))
    }

    /// A call of `px.otel.*`.
    pub(super) fn otel_call(&mut self, name: &str, fspan: Span, args: &mut Args) -> R<Value> {
        let v = match name {
            "otel.Endpoint" => Otel::Endpoint(self.endpoint(args)?),
            "otel.metric.Gauge" => {
                let (name, description, unit) = self.metric_head(args, "Gauge")?;
                let value = self.required_col(args, 1, "value", "px.otel.metric.Gauge")?;
                let attributes = self.attrs(args, usize::MAX, "attributes")?;
                Otel::Item(
                    OtelData::Gauge {
                        name,
                        description,
                        unit: String::new(),
                        value,
                        attributes,
                    },
                    unit,
                )
            }
            "otel.metric.Summary" => {
                let (name, description, unit) = self.metric_head(args, "Summary")?;
                let count = self.required_col(args, 1, "count", "px.otel.metric.Summary")?;
                let sum = self.required_col(args, 2, "sum", "px.otel.metric.Summary")?;
                let Some((qv, qspan)) = args.get(3, "quantile_values") else {
                    return Err(self.err(
                        args.span,
                        "px.otel.metric.Summary needs quantile_values={0.5: df.p50, ...}",
                    ));
                };
                let Value::Dict(items) = qv else {
                    return Err(self.err(
                        qspan,
                        format!(
                            "quantile_values must be a dict of quantile to column, got {}",
                            qv.kind()
                        ),
                    ));
                };
                let mut quantiles = Vec::new();
                for (k, kspan, v) in items {
                    let q = match k {
                        Value::Lit(Scalar::Float64(q)) => q,
                        Value::Lit(Scalar::Int64(q)) => q as f64,
                        other => {
                            return Err(self.err(
                                kspan,
                                format!("a quantile must be a number, got {}", other.kind()),
                            ));
                        }
                    };
                    quantiles.push((q, self.column_name(v, kspan, "a quantile value")?));
                }
                let attributes = self.attrs(args, usize::MAX, "attributes")?;
                Otel::Item(
                    OtelData::Summary {
                        name,
                        description,
                        unit: String::new(),
                        count,
                        sum,
                        quantiles,
                        attributes,
                    },
                    unit,
                )
            }
            "otel.trace.Span" => {
                let name = match args.get(0, "name") {
                    Some((Value::Lit(Scalar::String(s)), _)) => AttrValue::Text(s),
                    Some((v @ Value::Col { .. }, s)) => {
                        AttrValue::Column(self.column_name(v, s, "a span's name")?)
                    }
                    Some((v, s)) => {
                        return Err(self.err(
                            s,
                            format!("a span's name is a string or a column, got {}", v.kind()),
                        ));
                    }
                    None => return Err(self.err(args.span, "px.otel.trace.Span needs name=")),
                };
                let start_time = self.required_col(args, 1, "start_time", "px.otel.trace.Span")?;
                let end_time = self.required_col(args, 2, "end_time", "px.otel.trace.Span")?;
                let trace_id = self.optional_col(args, 3, "trace_id")?;
                let span_id = self.optional_col(args, 4, "span_id")?;
                let parent_span_id = self.optional_col(args, 5, "parent_span_id")?;
                let attributes = self.attrs(args, 6, "attributes")?;
                let kind = match args.get(7, "kind") {
                    None => 2,
                    Some((Value::Lit(Scalar::Int64(k)), s)) => i32::try_from(k)
                        .ok()
                        .filter(|k| (0..=5).contains(k))
                        .ok_or_else(|| {
                            self.err(
                                s,
                                format!("span kind {k} is not one of px.otel.trace.SPAN_KIND_*"),
                            )
                        })?,
                    Some((v, s)) => {
                        return Err(self.err(
                            s,
                            format!("kind is px.otel.trace.SPAN_KIND_*, got {}", v.kind()),
                        ));
                    }
                };
                Otel::Item(
                    OtelData::Span {
                        name,
                        start_time,
                        end_time,
                        trace_id,
                        span_id,
                        parent_span_id,
                        attributes,
                        kind,
                    },
                    None,
                )
            }
            "otel.Data" => {
                let resource = self.attrs(args, 0, "resource")?;
                let Some((d, dspan)) = args.get(1, "data") else {
                    return Err(self.err(
                        args.span,
                        "px.otel.Data needs data=[px.otel.metric.Gauge(...), ...]",
                    ));
                };
                let items = match d {
                    Value::List(xs) | Value::Tuple(xs) => xs,
                    one @ Value::Otel(_) => vec![(one, dspan)],
                    other => return Err(self.err(
                        dspan,
                        format!(
                            "data must be a list of px.otel.metric.* or px.otel.trace.Span, got {}",
                            other.kind()
                        ),
                    )),
                };
                if items.is_empty() {
                    return Err(
                        self.err(dspan, "px.otel.Data needs at least one data configuration")
                    );
                }
                let mut data = Vec::new();
                for (x, s) in items {
                    match x {
                        Value::Otel(o) => match &*o {
                            Otel::Item(d, unit) => {
                                let mut d = d.clone();
                                if let Some(u) = unit {
                                    set_unit(&mut d, u.clone());
                                }
                                data.push(d);
                            }
                            _ => return Err(self.err(s, "data takes px.otel.metric.Gauge, px.otel.metric.Summary or px.otel.trace.Span")),
                        },
                        other => return Err(self.err(s, format!("data takes px.otel.metric.* or px.otel.trace.Span, got {}", other.kind()))),
                    }
                }
                let endpoint = match args.get(2, "endpoint") {
                    None | Some((Value::None, _)) => None,
                    Some((Value::Otel(o), s)) => match &*o {
                        Otel::Endpoint(e) => Some(e.clone()),
                        _ => return Err(self.err(s, "endpoint takes px.otel.Endpoint(...)")),
                    },
                    Some((v, s)) => {
                        return Err(self.err(
                            s,
                            format!("endpoint takes px.otel.Endpoint(...), got {}", v.kind()),
                        ));
                    }
                };
                self.no_more(args, "px.otel.Data")?;
                if !resource.iter().any(|a| a.key == "service.name") {
                    return Err(self.err(
                        args.span,
                        "'service.name' must be specified in the resource",
                    ));
                }
                // A unit not given is inferred when exported (px.export).
                Otel::Data(OtelExport {
                    resource,
                    data,
                    endpoint,
                })
            }
            other => return Err(self.err(fspan, format!("px.{other} is not callable"))),
        };
        self.no_more(args, &format!("px.{name}"))?;
        Ok(Value::Otel(Rc::new(v)))
    }

    /// `px.export(df, px.otel.Data(...))`: an export sink of `df`'s rows.
    pub(super) fn export_call(&mut self, args: &mut Args) -> R<Value> {
        let Some((v, vspan)) = args.get(0, "out") else {
            return Err(self.err(
                args.span,
                "px.export needs a DataFrame and px.otel.Data(...)",
            ));
        };
        let Value::Frame(f) = v else {
            return Err(self.err(
                vspan,
                format!("px.export needs a DataFrame, got {}", v.kind()),
            ));
        };
        let Some((x, xspan)) = args.get(1, "export_spec") else {
            return Err(self.err(
                args.span,
                "px.export needs px.otel.Data(...) after the DataFrame",
            ));
        };
        let mut spec = match &x {
            Value::Otel(o) => match &**o {
                Otel::Data(d) => d.clone(),
                _ => return Err(self.err(xspan, "px.export takes px.otel.Data(...)")),
            },
            other => {
                return Err(self.err(
                    xspan,
                    format!("px.export takes px.otel.Data(...), got {}", other.kind()),
                ));
            }
        };
        self.no_more(args, "px.export")?;
        let input = self.visible(f, args.span)?;
        // A metric without a unit takes its value's semantic type's
        // (Pixie's rule): ns, By, %.
        for d in &mut spec.data {
            let col = match d {
                OtelData::Gauge { unit, value, .. } if unit.is_empty() => value.clone(),
                OtelData::Summary {
                    unit, quantiles, ..
                } if unit.is_empty() => quantiles
                    .first()
                    .map(|(_, c)| c.clone())
                    .unwrap_or_default(),
                _ => continue,
            };
            let u = unit_of(crate::plan::semantic::column(&self.plan, input, &col));
            set_unit(d, u.to_string());
        }
        spec.check(self.plan.schema(input))
            .map_err(|e| self.err(xspan, e))?;
        let name = format!(
            "export{}",
            self.plan
                .sinks
                .iter()
                .filter(|s| s.export.is_some())
                .count()
        );
        self.plan.sinks.push(Sink {
            name,
            input,
            export: Some(Box::new(spec)),
        });
        Ok(Value::None)
    }

    fn metric_head(&mut self, args: &mut Args, what: &str) -> R<(String, String, Option<String>)> {
        let name = match args.get(0, "name") {
            Some((Value::Lit(Scalar::String(s)), sp)) => {
                if !crate::plan::export::valid_metric_name(&s) {
                    return Err(self.err(
                        sp,
                        format!("metric name {s:?} is invalid: a letter, then letters, digits, '_', '.', '-' or '/'"),
                    ));
                }
                s
            }
            Some((v, s)) => {
                return Err(self.err(s, format!("a metric's name is a string, got {}", v.kind())));
            }
            None => return Err(self.err(args.span, format!("px.otel.metric.{what} needs name="))),
        };
        let description = self
            .opt_string(args, usize::MAX, "description")?
            .unwrap_or_default();
        let unit = self.opt_string(args, usize::MAX, "unit")?;
        Ok((name, description, unit))
    }

    fn endpoint(&mut self, args: &mut Args) -> R<Endpoint> {
        let url = match args.get(0, "url") {
            Some((Value::Lit(Scalar::String(s)), _)) => s,
            Some((v, s)) => {
                return Err(self.err(
                    s,
                    format!("the endpoint's url is a string, got {}", v.kind()),
                ));
            }
            None => return Err(self.err(args.span, "px.otel.Endpoint needs url=")),
        };
        let mut headers = Vec::new();
        if let Some((h, hspan)) = args.get(1, "headers") {
            let Value::Dict(items) = h else {
                return Err(self.err(
                    hspan,
                    format!("headers must be a dict of strings, got {}", h.kind()),
                ));
            };
            for (k, ks, v) in items {
                match (k, v) {
                    (Value::Lit(Scalar::String(k)), Value::Lit(Scalar::String(v))) => {
                        headers.push((k, v))
                    }
                    _ => return Err(self.err(ks, "a header's name and value are strings")),
                }
            }
        }
        let insecure = match args.get(2, "insecure") {
            None => false,
            Some((Value::Lit(Scalar::Boolean(b)), _)) => b,
            Some((v, s)) => {
                return Err(self.err(s, format!("insecure is True or False, got {}", v.kind())));
            }
        };
        let timeout_s = match args.get(3, "timeout") {
            None => 5,
            Some((Value::Lit(Scalar::Int64(t)), s)) => u32::try_from(t)
                .ok()
                .filter(|t| *t <= 3600)
                .ok_or_else(|| self.err(s, format!("timeout is seconds, 0 to 3600, got {t}")))?,
            Some((v, s)) => {
                return Err(self.err(s, format!("timeout is an int of seconds, got {}", v.kind())));
            }
        };
        let protocol = self.opt_string(args, 4, "protocol")?;
        let e = Endpoint {
            url,
            headers,
            insecure,
            timeout_s,
            protocol,
        };
        e.check().map_err(|m| self.err(args.span, m))?;
        Ok(e)
    }

    fn opt_string(&mut self, args: &mut Args, i: usize, name: &str) -> R<Option<String>> {
        match args.get(i, name) {
            None | Some((Value::None, _)) => Ok(None),
            Some((Value::Lit(Scalar::String(s)), _)) => Ok(Some(s)),
            Some((v, s)) => Err(self.err(s, format!("{name} is a string, got {}", v.kind()))),
        }
    }

    fn required_col(&mut self, args: &mut Args, i: usize, name: &str, callee: &str) -> R<String> {
        match args.get(i, name) {
            Some((v, s)) => self.column_name(v, s, name),
            None => Err(self.err(args.span, format!("{callee} needs {name}=df.<column>"))),
        }
    }

    fn optional_col(&mut self, args: &mut Args, i: usize, name: &str) -> R<Option<String>> {
        match args.get(i, name) {
            None | Some((Value::None, _)) => Ok(None),
            Some((v, s)) => self.column_name(v, s, name).map(Some),
        }
    }

    /// A column named as Pixie takes it: `df.col` or `df['col']`, a
    /// column of the DataFrame as it is (not an expression of columns).
    fn column_name(&self, v: Value, span: Span, what: &str) -> R<String> {
        match v {
            Value::Col {
                expr: Expr::Col(c), ..
            } => Ok(c),
            Value::Col { .. } => Err(self.err(
                span,
                format!("{what} must be a column of the exported DataFrame: assign the expression to a column first (df.x = ...)"),
            )),
            other => Err(self.err(span, format!("{what} must be a column (df.<name>), got {}", other.kind()))),
        }
    }

    /// `{key: df.col | 'text', ...}`.
    fn attrs(&mut self, args: &mut Args, i: usize, name: &str) -> R<Vec<Attr>> {
        let Some((d, dspan)) = args.get(i, name) else {
            return Ok(Vec::new());
        };
        let Value::Dict(items) = d else {
            return Err(self.err(
                dspan,
                format!(
                    "{name} must be a dict of name to column or string, got {}",
                    d.kind()
                ),
            ));
        };
        let mut out = Vec::new();
        for (k, ks, v) in items {
            let Value::Lit(Scalar::String(key)) = k else {
                return Err(self.err(
                    ks,
                    format!("an attribute's name is a string, got {}", k.kind()),
                ));
            };
            if key.is_empty() {
                return Err(self.err(ks, "an attribute's name must be a non-empty string"));
            }
            let value = match v {
                Value::Lit(Scalar::String(s)) => AttrValue::Text(s),
                v @ Value::Col { .. } => {
                    AttrValue::Column(self.column_name(v, ks, &format!("attribute {key:?}"))?)
                }
                other => {
                    return Err(self.err(
                        ks,
                        format!(
                            "attribute {key:?} is a column or a string, got {}",
                            other.kind()
                        ),
                    ));
                }
            };
            out.push(Attr { key, value });
        }
        Ok(out)
    }
}

fn set_unit(d: &mut OtelData, u: String) {
    match d {
        OtelData::Gauge { unit, .. } | OtelData::Summary { unit, .. } => *unit = u,
        OtelData::Span { .. } => {}
    }
}

/// The UCUM unit OpenTelemetry uses for a semantic type ("" if none).
fn unit_of(sem: Sem) -> &'static str {
    match sem {
        Sem::DurationNs | Sem::DurationNsQuantiles => "ns",
        Sem::Bytes => "By",
        Sem::Percent => "%",
        Sem::BytesPerNs => "By/ns",
        Sem::PerNs => "1/ns",
        _ => "",
    }
}
