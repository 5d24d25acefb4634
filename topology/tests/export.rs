//! `px.export` and `px.otel.*` at compile time: Pixie's API becomes an
//! export sink checked against the exported table; mistakes are errors
//! naming the argument.

use loupe_topology::plan::export::{AttrValue, OtelData};
use loupe_topology::plan::split;
use loupe_topology::pxl::{Options, compile};

const SEED: &str =
    include_str!("../../nodes/bundles/px/otel_service_metrics/otel_service_metrics.pxl");

fn opts() -> Options {
    Options {
        file: "x.pxl".into(),
        now_ns: 1_700_000_000_000_000_000,
        plugin_window: Some((1_699_999_990_000_000_000, 1_700_000_000_000_000_000)),
        ..Options::default()
    }
}

fn err(src: &str) -> String {
    compile(src, &opts()).unwrap_err().to_string()
}

#[test]
fn the_seed_example_compiles_to_an_export_sink() {
    let plan = compile(SEED, &opts()).unwrap();
    assert_eq!(plan.sinks.len(), 1);
    let s = &plan.sinks[0];
    let x = s.export.as_ref().expect("an export");
    assert_eq!(s.name, "export0");
    assert_eq!(x.resource[0].key, "service.name");
    assert_eq!(x.resource[0].value, AttrValue::Column("service".into()));
    assert_eq!(x.resource[1].value, AttrValue::Text("loupe".into()));
    let names: Vec<&str> = x
        .data
        .iter()
        .map(|d| match d {
            OtelData::Gauge { name, .. } => name.as_str(),
            _ => "",
        })
        .collect();
    assert_eq!(
        names,
        [
            "http.server.requests",
            "http.server.latency.p99",
            "http.server.error_rate"
        ]
    );
    // The unit given stays; none given and no semantic type: none.
    match (&x.data[0], &x.data[1]) {
        (OtelData::Gauge { unit: u0, .. }, OtelData::Gauge { unit: u1, .. }) => {
            assert_eq!(u0, "");
            assert_eq!(u1, "ms");
        }
        _ => unreachable!(),
    }
    // The period is the plugin window.
    let explain = plan.explain();
    assert!(explain.contains("http_events"), "{explain}");
    // It splits: the aggregate merges on the planner, which exports.
    let d = split(&plan).unwrap();
    assert!(d.merge.sinks[0].export.is_some());
    plan.check().unwrap();
}

#[test]
fn units_come_from_semantic_types() {
    let plan = compile(
        "import px\ndf = px.DataFrame('http_events')\ndf = df.groupby('req_path').agg(lat=('resp_latency', px.mean), time_=('time_', px.max))\ndf.service = 'x'\npx.export(df, px.otel.Data(resource={'service.name': df.service}, data=[px.otel.metric.Gauge(name='lat', value=df.lat)]))\n",
        &opts(),
    )
    .unwrap();
    match &plan.sinks[0].export.as_ref().unwrap().data[0] {
        OtelData::Gauge { unit, .. } => assert_eq!(unit, "ns"),
        _ => unreachable!(),
    }
}

#[test]
fn spans_take_columns_and_kinds() {
    let plan = compile(
        "import px\ndf = px.DataFrame('http_events')\ndf.start = df.time_ - df.resp_latency\ndf.service = df.ctx['service']\npx.export(df, px.otel.Data(resource={'service.name': df.service}, data=[px.otel.trace.Span(name=df.req_path, start_time=df.start, end_time=df.time_, kind=px.otel.trace.SPAN_KIND_CLIENT, attributes={'http.method': df.req_method, 'http.status_code': df.resp_status})], endpoint=px.otel.Endpoint(url='127.0.0.1:4317', insecure=True, headers={'x-key': 'k'}, timeout=3)))\n",
        &opts(),
    )
    .unwrap();
    let x = plan.sinks[0].export.as_ref().unwrap();
    match &x.data[0] {
        OtelData::Span { kind, name, .. } => {
            assert_eq!(*kind, 3);
            assert_eq!(*name, AttrValue::Column("req_path".into()));
        }
        _ => unreachable!(),
    }
    let e = x.endpoint.as_ref().unwrap();
    assert_eq!(
        (e.url.as_str(), e.insecure, e.timeout_s),
        ("127.0.0.1:4317", true, 3)
    );
}

#[test]
fn mistakes_are_errors_naming_the_argument() {
    let head = "import px\ndf = px.DataFrame('http_events')\ndf.service = df.ctx['service']\n";
    // A column of the wrong type.
    let e = err(&format!(
        "{head}px.export(df, px.otel.Data(resource={{'service.name': df.service}}, data=[px.otel.metric.Gauge(name='m', value=df.req_path)]))\n"
    ));
    assert!(
        e.contains("column \"req_path\" is STRING, not INT64 or FLOAT64"),
        "{e}"
    );
    // A column of another DataFrame (not in the exported one).
    let e = err(&format!(
        "{head}other = df.groupby('service').agg(n=('resp_status', px.count), time_=('time_', px.max))\npx.export(other, px.otel.Data(resource={{'service.name': other.service}}, data=[px.otel.metric.Gauge(name='m', value=df.resp_status)]))\n"
    ));
    assert!(e.contains("no column \"resp_status\""), "{e}");
    // service.name missing.
    let e = err(&format!(
        "{head}px.export(df, px.otel.Data(resource={{'service': df.service}}, data=[px.otel.metric.Gauge(name='m', value=df.resp_status)]))\n"
    ));
    assert!(e.contains("'service.name' must be specified"), "{e}");
    // No time_ for a metric.
    let e = err(&format!(
        "{head}df = df.groupby('service').agg(n=('resp_status', px.count))\npx.export(df, px.otel.Data(resource={{'service.name': df.service}}, data=[px.otel.metric.Gauge(name='m', value=df.n)]))\n"
    ));
    assert!(e.contains("time_"), "{e}");
    // An expression where a column is wanted.
    let e = err(&format!(
        "{head}px.export(df, px.otel.Data(resource={{'service.name': df.service}}, data=[px.otel.metric.Gauge(name='m', value=df.resp_status + 1)]))\n"
    ));
    assert!(e.contains("assign the expression to a column first"), "{e}");
    // A bad metric name, an unknown otel name, a summary without quantiles.
    let e = err(&format!(
        "{head}g = px.otel.metric.Gauge(name='9x', value=df.resp_status)\n"
    ));
    assert!(e.contains("metric name \"9x\" is invalid"), "{e}");
    let e = err(&format!(
        "{head}g = px.otel.metric.Histogram(name='x', value=df.resp_status)\n"
    ));
    assert!(
        e.contains("not part of px.otel.metric (it has Gauge, Summary)"),
        "{e}"
    );
    let e = err(&format!(
        "{head}s = px.otel.metric.Summary(name='x', count=df.resp_status, sum=df.resp_latency, quantile_values={{}})\npx.export(df, px.otel.Data(resource={{'service.name': df.service}}, data=[s]))\n"
    ));
    assert!(e.contains("at least one quantile"), "{e}");
    // A plain-text endpoint needs no TLS only when asked.
    let e = err(&format!("{head}e = px.otel.Endpoint(url='a b')\n"));
    assert!(e.contains("endpoint URL"), "{e}");
}

#[test]
fn the_cluster_name_and_id_are_bound_by_the_planner_not_folded() {
    use loupe_topology::plan::{Expr, Op, Scalar};
    let mut plan = compile(
        "import px\ndf = px.DataFrame('http_events')\ndf.cluster = px.vizier_name()\ndf.cid = px.vizier_id()\ndf = df[df.cluster != '']\npx.display(df[['cluster', 'cid']])\n",
        &opts(),
    )
    .unwrap();
    let calls = |p: &loupe_topology::plan::Plan| {
        p.nodes
            .iter()
            .map(|n| match &n.op {
                Op::Map { exprs, .. } => exprs
                    .iter()
                    .filter(|(_, e)| matches!(e, Expr::Call(f, _) if f.name().starts_with("px.vizier_")))
                    .count(),
                _ => 0,
            })
            .sum::<usize>()
    };
    assert_eq!(calls(&plan), 2, "{}", plan.explain());
    plan.bind_planner_values(&|f| {
        Some(Scalar::String(match f {
            "vizier_name" => "prod-eu".into(),
            "vizier_id" => "1234".into(),
            _ => return None,
        }))
    });
    assert_eq!(calls(&plan), 0, "{}", plan.explain());
    let bound = plan.nodes.iter().any(|n| match &n.op {
        Op::Map { exprs, .. } => exprs
            .iter()
            .any(|(c, e)| c == "cluster" && *e == Expr::Lit(Scalar::String("prod-eu".into()))),
        _ => false,
    });
    assert!(bound, "{}", plan.explain());
    plan.check().unwrap();
}
