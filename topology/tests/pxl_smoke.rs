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
