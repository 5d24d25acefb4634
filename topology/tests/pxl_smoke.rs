use loupe_topology::plan::split;
use loupe_topology::pxl::{Options, compile};

const EXAMPLE: &str = r#"import px

df = px.DataFrame('http_events', start_time='-10m')
df = df[df.namespace == 'shop']
df = df[df.ctx['pod'].contains('cart')]
df.latency_ms = df.resp_latency / 1000000
df.failed = df.resp_status >= 500

stats = df.groupby(['service', 'req_method']).agg(
    calls=('latency_ms', px.count),
    p90_ms=('latency_ms', px.quantiles(0.9)),
    worst_ms=('latency_ms', px.max),
    fail_pct=('resp_status', lambda s: px.mean(s >= 500) * 100),
)
stats = stats[stats.calls > 3].sort('p90_ms', ascending=False)
px.display(stats.head(5), 'Cart latency')
"#;

#[test]
fn the_pxl_md_example_compiles_and_splits() {
    let opts = Options {
        file: "example.pxl".into(),
        now_ns: 1_000_000_000_000,
        args: vec![],
        exec: vec![],
        plugin_window: None,
    };
    let plan = compile(EXAMPLE, &opts).unwrap();
    let d = split(&plan).unwrap();
    let node = d.node.plan.explain();
    let merge = d.merge.explain();
    println!("{}\n--\n{node}--\n{merge}", plan.explain());
    assert!(node.contains("Partial"), "{node}");
    assert!(merge.contains("Final"), "{merge}");
    assert!(
        node.contains(
            "http_events [req_method, resp_status, resp_latency, namespace, service, pod]"
        ),
        "{node}"
    );
}

#[test]
fn a_sorted_head_of_node_rows_is_a_top_n_on_every_node() {
    let src = "import px\ndf = px.DataFrame('http_events')\npx.display(df[['req_path', 'resp_latency']].sort('resp_latency', ascending=False).head(3))\n";
    let plan = compile(src, &Options::default()).unwrap();
    let d = split(&plan).unwrap();
    let node = d.node.plan.explain();
    assert!(
        node.contains("Sort") && node.contains("Limit") && node.contains(" 3\n"),
        "{node}"
    );
    let merge = d.merge.explain();
    assert!(merge.contains("Sort") && merge.contains("Limit"), "{merge}");
}

#[test]
fn a_comma_missing_between_keyword_arguments_is_accepted_with_a_warning() {
    let src = "import px\ndf = px.DataFrame('http_events')\ndf = df.groupby('service').agg(\n    n=('resp_status', px.count),\n    worst=('resp_latency', px.max)\n    mean=('resp_latency', px.mean),\n)\npx.display(df, 'o')\n";
    let opts = Options {
        file: "c.pxl".into(),
        ..Options::default()
    };
    let (plan, warnings) = loupe_topology::pxl::compile_with_warnings(src, &opts).unwrap();
    assert_eq!(plan.sinks.len(), 1);
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].starts_with("warning: c.pxl:6:5: a comma is missing"),
        "{}",
        warnings[0]
    );
    let names = plan.schema(plan.sinks[0].input).names();
    assert_eq!(names, ["service", "n", "worst", "mean"]);
    // Any other syntax error stays one: a missing comma between positional
    // arguments, a comparison where a keyword would be, an unclosed call.
    for bad in [
        "import px\npx.display(px.DataFrame('http_events') 'o')\n",
        "import px\ndf = px.DataFrame('http_events')\ndf = df[df.resp_status == 1 df.x == 2]\npx.display(df)\n",
        "import px\ndf = px.DataFrame('http_events'\n",
        "import px\nx = f(a=1 b==2)\n",
    ] {
        let e = compile(bad, &opts).unwrap_err().to_string();
        assert!(e.contains("syntax error"), "{bad}: {e}");
    }
}

#[test]
fn pixie_compile_time_functions() {
    let opts = Options {
        file: "t.pxl".into(),
        now_ns: 1_000_000_000_000_000_000,
        ..Options::default()
    };
    let src = "import px\ndf = px.DataFrame('http_events')\ndf.p = px.Percent(df.resp_latency / 2)\ndf.b = px.Bytes(df.resp_status)\ndf.d = px.DurationNanos(df.resp_latency)\ndf.k = px.equals_any(df.resp_status, [200, 204])\ndf.t = px.parse_time('2020-03-12 19:39:59 -0200')\ndf.r = px.parse_time('-5m')\ndf.s = str(df.resp_status)\ndf.l = px.script_reference(df.service, 'px/service', {'service': df.service, 'start_time': '-5m'})\npx.debug(df, 'x')\n";
    let plan = compile(src, &opts).unwrap();
    assert_eq!(plan.sinks[0].name, "_x");
    let s = plan.schema(plan.sinks[0].input);
    use loupe_topology::plan::DType;
    for (c, t) in [
        ("p", DType::Float64),
        ("b", DType::Int64),
        ("d", DType::Int64),
        ("k", DType::Boolean),
        ("t", DType::Time),
        ("s", DType::String),
        ("l", DType::String),
    ] {
        assert_eq!(s.get(c).map(|f| f.dtype), Some(t), "{c}");
    }
    let e = compile(
        "import px\ndf = px.DataFrame('http_events')\ndf.p = px.Percent(df.resp_status)\npx.display(df)\n",
        &opts,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("cannot cast from INT64 to FLOAT64"), "{e}");
}

#[test]
fn semantic_types_follow_columns_through_the_plan() {
    use loupe_topology::plan::Sem;
    use loupe_topology::plan::semantic::sink_semantics;
    let src = "import px\ndf = px.DataFrame('http_events')\ndf.window = px.DurationNanos(10)\ndf.rate = px.Percent(df.resp_status / 100.0)\ndf.plain = df.resp_latency * 2\ndf.tput = df.resp_body_size / df.resp_latency\ndf = df.groupby('service').agg(lat=('resp_latency', px.mean), q=('resp_latency', px.quantiles), n=('resp_latency', px.count), size=('resp_body_size', px.sum), rate=('rate', px.max), plain=('plain', px.max), tput=('tput', px.mean))\ndf.spent = df.lat + df.lat\npx.display(df, 'o')\n";
    let plan = compile(src, &Options::default()).unwrap();
    let sems = sink_semantics(&plan, 0);
    let names = plan.schema(plan.sinks[0].input).names();
    let got: Vec<(&str, Sem)> = names.into_iter().zip(sems).collect();
    assert_eq!(
        got,
        [
            ("service", Sem::None),
            ("lat", Sem::DurationNs),
            ("q", Sem::DurationNsQuantiles),
            ("n", Sem::None),
            ("size", Sem::Bytes),
            ("rate", Sem::Percent),
            ("plain", Sem::None),
            ("tput", Sem::BytesPerNs),
            ("spent", Sem::DurationNs),
        ]
    );
}
