//! The query benchmark's Loupe side: N `http_events` rows stored through the
//! real batch builder and table store, the PXL.md-shaped aggregation run on
//! them as a node runs it (store read, node fragment, merge), and the same
//! rows written as an Arrow IPC file so polars and DuckDB can run the same
//! query on the same rows (scripts/bench_query.py does that, side by side).
//!
//! `cargo run --release -p loupe-actors --example query_bench -- ROWS IPC_PATH ITERS`
//! prints one JSON line: {"rows", "build_s", "loupe_ms": [...], "result": [...]}.

use std::time::Instant;

#[path = "common/bench_rows.rs"]
mod bench_rows;

use loupe_actors::exec::{Executor, Inputs, run_fragment};
use loupe_topology::plan::split;
use loupe_topology::pxl::{Options, compile};

pub const QUERY: &str = r#"import px
df = px.DataFrame('http_events', start_time='-1h')
df = df[df.namespace == 'shop']
df.latency_ms = df.resp_latency / 1000000
stats = df.groupby(['service', 'req_method']).agg(
    calls=('latency_ms', px.count),
    p50_ms=('latency_ms', px.quantiles(0.5)),
    p99_ms=('latency_ms', px.quantiles(0.99)),
    fail_pct=('resp_status', lambda s: px.mean(s >= 500) * 100),
)
px.display(stats.sort('p99_ms', ascending=False), 'bench')
"#;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let rows: usize = args
        .get(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    let ipc_path = args.get(2).cloned();
    let iters: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(5);

    let t0 = Instant::now();
    let now = loupe_actors::clock::wall_now_ns();
    // Rows spread over the last 30 minutes.
    let mut store = bench_rows::store_with_rows(rows, now, 1_800_000_000_000);
    let build_s = t0.elapsed().as_secs_f64();

    if let Some(path) = &ipc_path {
        // The same rows, every column the query reads, for the others.
        let cols: Vec<String> = [
            "time_",
            "service",
            "namespace",
            "req_method",
            "resp_status",
            "resp_latency",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let batches = store
            .read("http_events", 0, None, &cols)
            .map_err(anyhow::Error::msg)?;
        let f = std::fs::File::create(path)?;
        let mut w = arrow::ipc::writer::StreamWriter::try_new(f, &batches[0].schema())?;
        for bt in &batches {
            w.write(bt)?;
        }
        w.finish()?;
    }

    let opts = Options {
        file: "bench.pxl".into(),
        now_ns: loupe_actors::clock::wall_now_ns(),
        args: vec![],
        exec: vec![],
        plugin_window: None,
    };
    let plan = compile(QUERY, &opts).map_err(|e| anyhow::anyhow!("{e}"))?;
    let d = split(&plan).map_err(anyhow::Error::msg)?;
    let mut times = Vec::new();
    let mut result = None;
    for _ in 0..iters {
        let t = Instant::now();
        // What a node does: read its Sources, run the node fragment...
        let mut node_in = Inputs::default();
        for src in d.node.plan.sources() {
            let bs = store
                .read(src.table, src.start_ns, src.end_ns, src.columns)
                .map_err(anyhow::Error::msg)?;
            node_in.sources.insert(src.id, bs);
        }
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        let mut merge_in = Inputs::default();
        for (ch, b) in run_fragment(&d.node.plan, &d.node.outputs, node_in, threads)? {
            merge_in.channels.insert(ch, b);
        }
        // ...and what the planner does with the partials.
        let mx = Executor::new(&d.merge, &merge_in);
        let out = mx.run_one(d.merge.sinks[0].input)?;
        times.push(t.elapsed().as_secs_f64() * 1e3);
        result = Some(out);
    }
    let out = result.ok_or_else(|| anyhow::anyhow!("no iterations"))?;
    let mut rows_json = Vec::new();
    {
        use arrow::array::{Array, AsArray};
        use arrow::datatypes::{Float64Type, Int64Type};
        let svc = out.column(0).as_string::<i32>();
        let m = out.column(1).as_string::<i32>();
        let calls = out.column(2).as_primitive::<Int64Type>();
        let p50 = out.column(3).as_primitive::<Float64Type>();
        let p99 = out.column(4).as_primitive::<Float64Type>();
        let fail = out.column(5).as_primitive::<Float64Type>();
        for r in 0..out.num_rows() {
            rows_json.push(serde_json::json!({
                "service": svc.value(r), "req_method": m.value(r), "calls": calls.value(r),
                "p50_ms": p50.value(r), "p99_ms": p99.value(r),
                "fail_pct": if fail.is_null(r) { f64::NAN } else { fail.value(r) },
            }));
        }
    }
    println!(
        "{}",
        serde_json::json!({"rows": rows, "build_s": build_s, "loupe_ms": times, "result": rows_json})
    );
    Ok(())
}
