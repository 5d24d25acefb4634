//! What one refresh of a live query costs, for a 1 min and a 1 h window over
//! the same rows, side by side in one run.
//!
//! An hour of `http_events` (ROWS rows, evenly spread) is stored through the
//! real builder and store; the PXL.md-shaped aggregation is split as the
//! planner splits it. Each pane (PANE_S seconds) is run through the node
//! fragment once, as a live node does, keeping its partial. A refresh is
//! then (a) the node's work for the newest pane and (b) the planner's merge
//! of the window's panes; it is compared with (c) answering the window
//! afresh as a one-shot query would (node fragment over the whole window,
//! then the merge).
//!
//! `cargo run --release -p loupe-actors --example live_refresh_bench -- ROWS PANE_S ITERS`

use std::time::Instant;

use arrow::record_batch::RecordBatch;
use loupe_actors::exec::{Executor, Inputs, run_fragment};
use loupe_topology::plan::{Distributed, split};
use loupe_topology::pxl::{Options, compile};

#[path = "common/bench_rows.rs"]
mod bench_rows;

const QUERY: &str = r#"import px
df = px.DataFrame('http_events', start_time='-1h')
df = df[df.namespace == 'shop']
df.latency_ms = df.resp_latency / 1000000
stats = df.groupby(['service', 'req_method']).agg(
    calls=('latency_ms', px.count),
    p50_ms=('latency_ms', px.quantiles(0.5)),
    p99_ms=('latency_ms', px.quantiles(0.99)),
)
px.display(stats, 'bench')
"#;

type Partial = Vec<(u32, Vec<RecordBatch>)>;

fn node_run(
    d: &Distributed,
    store: &mut loupe_actors::table_store::TableStore,
    start: i64,
    end: i64,
) -> anyhow::Result<Partial> {
    let mut plan = d.node.plan.clone();
    plan.set_source_range(start, end);
    let mut inputs = Inputs::default();
    for src in plan.sources() {
        let bs = store
            .read(src.table, src.start_ns, src.end_ns, src.columns)
            .map_err(anyhow::Error::msg)?;
        inputs.sources.insert(src.id, bs);
    }
    Ok(run_fragment(&plan, &d.node.outputs, inputs, 1)?)
}

fn merge(d: &Distributed, partials: &[&Partial]) -> anyhow::Result<RecordBatch> {
    let mut inputs = Inputs::default();
    for p in partials {
        for (ch, bs) in p.iter() {
            inputs
                .channels
                .entry(*ch)
                .or_default()
                .extend(bs.iter().cloned());
        }
    }
    let ex = Executor::new(&d.merge, &inputs);
    Ok(ex.run_one(d.merge.sinks[0].input)?)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let rows: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(720_000);
    let pane_s: i64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(5);
    let iters: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(7);
    let pane = pane_s * 1_000_000_000;
    let now = (loupe_actors::clock::wall_now_ns() / pane) * pane;
    let hour = 3_600_000_000_000i64;
    let mut store = bench_rows::store_with_rows(rows, now, hour);
    let opts = Options {
        file: "bench.pxl".into(),
        now_ns: now,
        args: vec![],
    };
    let plan = compile(QUERY, &opts).map_err(|e| anyhow::anyhow!("{e}"))?;
    let d = split(&plan).map_err(anyhow::Error::msg)?;
    // Every pane's partial, as the nodes shipped them over the hour.
    let panes: Vec<Partial> = (0..hour / pane)
        .map(|i| {
            node_run(
                &d,
                &mut store,
                now - hour + i * pane,
                now - hour + (i + 1) * pane,
            )
        })
        .collect::<anyhow::Result<_>>()?;
    println!(
        "rows {rows}, pane {pane_s} s, {} panes in the hour",
        panes.len()
    );
    println!(
        "{:>8} {:>6} {:>14} {:>14} {:>14} {:>18}",
        "window", "panes", "node pane ms", "merge ms", "refresh ms", "one-shot ms"
    );
    let mut refresh = Vec::new();
    for (name, secs) in [("1 min", 60i64), ("1 h", 3600)] {
        let n = (secs / pane_s) as usize;
        let (mut node_ms, mut merge_ms, mut oneshot_ms) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..iters {
            let t = Instant::now();
            let newest = node_run(&d, &mut store, now - pane, now)?;
            node_ms.push(t.elapsed().as_secs_f64() * 1e3);
            let t = Instant::now();
            let mut window: Vec<&Partial> =
                panes[panes.len() - n..panes.len() - 1].iter().collect();
            window.push(&newest);
            let live = merge(&d, &window)?;
            merge_ms.push(t.elapsed().as_secs_f64() * 1e3);
            let t = Instant::now();
            let whole = node_run(&d, &mut store, now - secs * 1_000_000_000, now)?;
            let fresh = merge(&d, &[&whole])?;
            oneshot_ms.push(t.elapsed().as_secs_f64() * 1e3);
            assert_eq!(live.num_rows(), fresh.num_rows(), "same groups either way");
        }
        let (nm, mm, om) = (median(node_ms), median(merge_ms), median(oneshot_ms));
        println!(
            "{name:>8} {n:>6} {nm:>14.3} {mm:>14.3} {:>14.3} {om:>18.3}",
            nm + mm
        );
        refresh.push(nm + mm);
    }
    println!(
        "refresh 1 h / 1 min: {:.2}x (node work per refresh is one pane either way)",
        refresh[1] / refresh[0]
    );
    Ok(())
}
