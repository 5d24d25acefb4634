//! What one refresh of a live query costs, for a 1 min and a 1 h window over
//! the same rows, side by side in one run.
//!
//! An hour of `http_events` (ROWS rows, evenly spread) is stored through the
//! real builder and store; the PXL.md-shaped aggregation is split as the
//! planner splits it. Each pane (PANE_S seconds) is run through the node
//! fragment once, as a live node does, keeping its partial; each window
//! starts full of them. A refresh is then (a) the node's work for the newest
//! pane and (b) what the planner does when a pane closes: combine the pane,
//! push it on the window's two stacks, drop the pane that left, and merge
//! the window's running combination. It runs once per pane of the hour (a
//! whole turn of the 1 h window's stacks, so the mean includes its one
//! turn-over); it is compared with (c) answering the window afresh as a
//! one-shot query would (node fragment over the whole window, then merge).
//!
//! `cargo run --release -p loupe-actors --example live_refresh_bench -- ROWS PANE_S ITERS`

use std::time::Instant;

use arrow::record_batch::RecordBatch;
use loupe_actors::exec::combine::{Channels, Combiner, PaneWindow};
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

fn channels(p: &Partial) -> Channels {
    p.iter().map(|(ch, bs)| (*ch, bs.clone())).collect()
}

fn merge(d: &Distributed, channels: Channels) -> anyhow::Result<RecordBatch> {
    let mut inputs = Inputs::default();
    inputs.channels.extend(channels);
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
        exec: vec![],
        plugin_window: None,
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
        "{:>8} {:>6} {:>14} {:>10} {:>10} {:>10} {:>12} {:>10} {:>12} {:>9}",
        "window",
        "panes",
        "node pane ms",
        "merge p50",
        "merge max",
        "cpu mean",
        "refresh ms",
        "upkeep max",
        "one-shot ms",
        "combines"
    );
    let mut refresh = Vec::new();
    // Refreshes per window: one whole turn of the two stacks of a 1 h window.
    let turns = panes.len();
    for (name, secs) in [("1 min", 60i64), ("1 h", 3600)] {
        let n = (secs / pane_s) as usize;
        let mut window = PaneWindow::new(Combiner::new(&d.node).map_err(anyhow::Error::msg)?);
        for (i, p) in panes[panes.len() - n..].iter().enumerate() {
            window.push(i as i64, channels(p))?;
        }
        window.upkeep()?;
        let mut end = n as i64 - 1;
        let (mut node_ms, mut merge_ms, mut oneshot_ms) = (Vec::new(), Vec::new(), Vec::new());
        let mut upkeep_ms = Vec::new();
        let mut last = None;
        for _ in 0..turns {
            let t = Instant::now();
            let newest = node_run(&d, &mut store, now - pane, now)?;
            node_ms.push(t.elapsed().as_secs_f64() * 1e3);
            // What the planner does when a pane closes (its nodes' partials
            // combined: one node here), then the window's answer.
            let t = Instant::now();
            let pane_state = window.combiner().combine([&channels(&newest)])?;
            end += 1;
            window.push(end, pane_state)?;
            window.evict_through(end - n as i64)?;
            let live = merge(&d, window.total()?)?;
            merge_ms.push(t.elapsed().as_secs_f64() * 1e3);
            last = Some(live);
            // After the answer is out, as the planner does.
            let t = Instant::now();
            window.upkeep()?;
            upkeep_ms.push(t.elapsed().as_secs_f64() * 1e3);
        }
        for _ in 0..iters {
            let t = Instant::now();
            let whole = node_run(&d, &mut store, now - secs * 1_000_000_000, now)?;
            let fresh = merge(&d, channels(&whole))?;
            oneshot_ms.push(t.elapsed().as_secs_f64() * 1e3);
            let rows = last.as_ref().map_or(0, |b| b.num_rows());
            assert_eq!(rows, fresh.num_rows(), "same groups either way");
        }
        let max = merge_ms.iter().copied().fold(0.0, f64::max);
        // CPU per refresh: the refresh and its share of the turn-overs.
        let mean =
            (merge_ms.iter().sum::<f64>() + upkeep_ms.iter().sum::<f64>()) / merge_ms.len() as f64;
        let upkeep_max = upkeep_ms.iter().copied().fold(0.0, f64::max);
        let (nm, mm, om) = (median(node_ms), median(merge_ms), median(oneshot_ms));
        println!(
            "{name:>8} {n:>6} {nm:>14.3} {mm:>10.3} {max:>10.3} {mean:>10.3} {:>12.3} {upkeep_max:>10.3} {om:>12.3} {:>9}",
            nm + mean,
            window.combinations
        );
        refresh.push(nm + mean);
    }
    println!(
        "refresh 1 h / 1 min: {:.2}x (mean over {turns} refreshes; node work per refresh is one pane either way)",
        refresh[1] / refresh[0]
    );
    Ok(())
}
