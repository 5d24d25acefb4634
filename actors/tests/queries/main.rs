//! The PxL corpus: every `.pxl` file under `cases/` runs on a fixed data set
//! and must print its golden `.out` file; every file under `errors/` must
//! fail to compile with its golden `.err` text. Each case runs on the data
//! split across 1, 2 and 3 in-process nodes (node fragments, channels and a
//! merge fragment, as in production) and all three must agree (quantiles
//! within the DDSketch bound); so must 7 and 9 nodes whose partials are
//! combined in trees of fan-in 2, 3 and 4 before the merge, and a sliding
//! window's running total over 9 parts as panes.
//!
//! `LOUPE_BLESS=1 cargo test -p loupe-actors --test queries` rewrites the
//! golden files; a mismatch writes `<case>.actual` beside the case.

mod data;

use std::path::{Path, PathBuf};

use arrow::array::{Array, AsArray};
use arrow::datatypes::{DataType, Float64Type};
use arrow::record_batch::RecordBatch;
use arrow::util::display::{ArrayFormatter, FormatOptions};
use loupe_actors::exec::combine::{Channels, Combiner, PaneWindow};
use loupe_actors::exec::{Executor, Inputs};
use loupe_topology::plan::{Combine, Distributed, Op, Plan, split};
use loupe_topology::pxl::{Options, compile};

fn dir(sub: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/queries")
        .join(sub)
}

fn cases(sub: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir(sub))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "pxl"))
        .collect();
    v.sort();
    assert!(!v.is_empty(), "no cases in {sub}");
    v
}

/// `# args: k=v k2=v2` on the first lines of a case.
fn header_args(src: &str) -> Vec<(String, String)> {
    src.lines()
        .take_while(|l| l.starts_with('#'))
        .filter_map(|l| l.strip_prefix("# args:"))
        .flat_map(|rest| rest.split_whitespace())
        .filter_map(|kv| {
            kv.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
        })
        .collect()
}

fn opts(path: &Path, src: &str) -> Options {
    Options {
        file: path.file_name().unwrap().to_string_lossy().into_owned(),
        now_ns: data::NOW,
        args: header_args(src),
        exec: vec![],
        plugin_window: None,
    }
}

/// The sinks' tables when the data is split across `nodes` nodes.
fn run(plan: &Plan, nodes: usize) -> Vec<(String, RecordBatch)> {
    let d = split(plan).unwrap();
    let mut all = Channels::new();
    for o in node_outputs(&d, nodes) {
        for (ch, bs) in o {
            all.entry(ch).or_default().extend(bs);
        }
    }
    merged(&d, all)
}

/// Each of `nodes` nodes' output channels, the data split across them.
fn node_outputs(d: &Distributed, nodes: usize) -> Vec<Channels> {
    (0..nodes)
        .map(|n| {
            let mut store = data::store(n, nodes);
            let mut node_inputs = Inputs::default();
            for src in d.node.plan.sources() {
                let b = store
                    .read(src.table, src.start_ns, src.end_ns, src.columns)
                    .unwrap();
                node_inputs.sources.insert(src.id, b);
            }
            let ex = Executor::new(&d.node.plan, &node_inputs);
            d.node
                .outputs
                .iter()
                .map(|o| (o.channel, ex.run(o.node).unwrap()))
                .collect()
        })
        .collect()
}

/// The merge fragment's tables over one set of channels.
fn merged(d: &Distributed, channels: Channels) -> Vec<(String, RecordBatch)> {
    let mut inputs = Inputs::default();
    for (ch, bs) in channels {
        inputs.channels.insert(ch, bs);
    }
    let ex = Executor::new(&d.merge, &inputs);
    d.merge
        .sinks
        .iter()
        .map(|s| (s.name.clone(), ex.run_one(s.input).unwrap()))
        .collect()
}

/// The sinks' tables when the data is split across `nodes` nodes whose
/// partials are combined in a tree of fan-in `fanin` (as merge nodes do)
/// before the merge reads them.
fn run_tree(plan: &Plan, nodes: usize, fanin: usize) -> Vec<(String, RecordBatch)> {
    let d = split(plan).unwrap();
    let combiner = Combiner::new(&d.node).unwrap();
    let mut level = node_outputs(&d, nodes);
    while level.len() > 1 {
        level = level
            .chunks(fanin)
            .map(|group| combiner.combine(group).unwrap())
            .collect();
    }
    merged(&d, level.pop().unwrap_or_default())
}

/// A live window slid over parts as over panes: after each push and
/// eviction, its running total must answer as the parts it holds merged
/// afresh do.
fn window_matches(plan: &Plan, parts: usize, width: usize) -> Result<(), String> {
    let d = split(plan).unwrap();
    let outs = node_outputs(&d, parts);
    let mut w = PaneWindow::new(Combiner::new(&d.node).unwrap());
    let whole = &node_outputs(&d, 1)[0];
    let rows = |c: &Channels, ch: u32| -> usize {
        c.get(&ch)
            .map_or(0, |bs| bs.iter().map(|b| b.num_rows()).sum())
    };
    for (i, o) in outs.iter().enumerate() {
        let end = i as i64;
        w.push(end, o.clone()).unwrap();
        w.evict_through(end - width as i64).unwrap();
        let held = &outs[(i + 1).saturating_sub(width)..=i];
        let mut fresh = Channels::new();
        for h in held {
            for (ch, bs) in h {
                fresh.entry(*ch).or_default().extend(bs.iter().cloned());
            }
        }
        let total = w.total().unwrap();
        // Combined states are no larger than one node's partial of all the
        // data: a window holds one state per group, not one per pane.
        for o in d
            .node
            .outputs
            .iter()
            .filter(|o| o.combine != Combine::Concat)
        {
            if rows(&total, o.channel) > rows(whole, o.channel) {
                return Err(format!(
                    "after pane {i}: channel {} holds {} rows, more than the {} of one partial of everything",
                    o.channel,
                    rows(&total, o.channel),
                    rows(whole, o.channel)
                ));
            }
        }
        same_answer(&merged(&d, fresh), &merged(&d, total), plan)
            .map_err(|e| format!("after pane {i}: {e}"))?;
    }
    Ok(())
}

/// Whether a sink's rows come out in a defined order (a sort on the way).
fn ordered(plan: &Plan, mut id: usize) -> bool {
    loop {
        match &plan.nodes[id].op {
            Op::Sort { .. } => return true,
            Op::Limit { input, .. } | Op::Filter { input, .. } | Op::Map { input, .. } => {
                id = *input
            }
            _ => return false,
        }
    }
}

fn cell(b: &RecordBatch, col: usize, row: usize) -> String {
    let a = b.column(col);
    if a.is_null(row) {
        return "null".into();
    }
    if a.data_type() == &DataType::Float64 {
        // Six significant digits: sums in another order differ in the last bits.
        let v = a.as_primitive::<Float64Type>().value(row);
        return format!("{}", (v * 1e6).round() / 1e6);
    }
    let f = ArrayFormatter::try_new(a.as_ref(), &FormatOptions::default()).unwrap();
    f.value(row).to_string()
}

fn render(plan: &Plan, tables: &[(String, RecordBatch)]) -> String {
    let mut out = String::new();
    for ((name, b), sink) in tables.iter().zip(&plan.sinks) {
        out.push_str(&format!("== {name} ({} rows)\n", b.num_rows()));
        let header: Vec<String> = b
            .schema()
            .fields()
            .iter()
            .map(|f| {
                format!(
                    "{}:{}",
                    f.name(),
                    loupe_topology::plan::DType::of_arrow(f.data_type()).unwrap()
                )
            })
            .collect();
        out.push_str(&header.join(" | "));
        out.push('\n');
        let mut rows: Vec<String> = (0..b.num_rows())
            .map(|r| {
                (0..b.num_columns())
                    .map(|c| cell(b, c, r))
                    .collect::<Vec<_>>()
                    .join(" | ")
            })
            .collect();
        if !ordered(plan, sink.input) {
            rows.sort();
        }
        for r in rows {
            out.push_str(&r);
            out.push('\n');
        }
    }
    out
}

fn check_golden(case: &Path, ext: &str, actual: &str) -> Result<(), String> {
    let golden = case.with_extension(ext);
    if std::env::var_os("LOUPE_BLESS").is_some() {
        std::fs::write(&golden, actual).unwrap();
        return Ok(());
    }
    let expected = std::fs::read_to_string(&golden).unwrap_or_default();
    let actual_path = case.with_extension(format!("{ext}.actual"));
    if expected == actual {
        let _ = std::fs::remove_file(&actual_path);
        Ok(())
    } else {
        std::fs::write(&actual_path, actual).unwrap();
        Err(format!(
            "{} differs from {} (actual written to {})",
            case.display(),
            golden.display(),
            actual_path.display()
        ))
    }
}

/// Same tables on `n` nodes as on one: the same rows, floats within 1e-9
/// (DDSketch merges add bin counts: split quantiles equal whole ones).
fn same_answer(
    one: &[(String, RecordBatch)],
    many: &[(String, RecordBatch)],
    plan: &Plan,
) -> Result<(), String> {
    for (((name, a), (_, b)), sink) in one.iter().zip(many).zip(&plan.sinks) {
        if a.num_rows() != b.num_rows() {
            return Err(format!(
                "{name}: {} rows on one node, {} split",
                a.num_rows(),
                b.num_rows()
            ));
        }
        let key = |bt: &RecordBatch, r: usize| -> String {
            (0..bt.num_columns())
                .filter(|&c| bt.column(c).data_type() != &DataType::Float64)
                .map(|c| cell(bt, c, r))
                .collect::<Vec<_>>()
                .join("|")
        };
        let mut ra: Vec<usize> = (0..a.num_rows()).collect();
        let mut rb: Vec<usize> = (0..b.num_rows()).collect();
        if !ordered(plan, sink.input) {
            ra.sort_by_key(|&r| key(a, r));
            rb.sort_by_key(|&r| key(b, r));
        }
        for (&x, &y) in ra.iter().zip(&rb) {
            for c in 0..a.num_columns() {
                let col = a.schema().field(c).name().clone();
                if a.column(c).data_type() == &DataType::Float64 {
                    let (p, q) = (
                        a.column(c).as_primitive::<Float64Type>(),
                        b.column(c).as_primitive::<Float64Type>(),
                    );
                    if p.is_null(x) != q.is_null(y) {
                        return Err(format!("{name}.{col}: null on one side"));
                    }
                    if p.is_null(x) {
                        continue;
                    }
                    let (u, v) = (p.value(x), q.value(y));
                    // Sketch merges add bin counts, so quantiles agree
                    // exactly; sums in another order agree to rounding.
                    let tol = 1e-9;
                    if (u - v).abs() > tol * u.abs().max(v.abs()).max(1e-12) {
                        return Err(format!("{name}.{col}: {u} on one node, {v} split"));
                    }
                } else if cell(a, c, x) != cell(b, c, y) {
                    return Err(format!(
                        "{name}.{col}: {} on one node, {} split",
                        cell(a, c, x),
                        cell(b, c, y)
                    ));
                }
            }
        }
    }
    Ok(())
}

#[test]
fn corpus_answers_match_golden_files_on_1_2_and_3_nodes() {
    data::install_cluster();
    let mut failures = Vec::new();
    for case in cases("cases") {
        let src = std::fs::read_to_string(&case).unwrap();
        let plan = match compile(&src, &opts(&case, &src)) {
            Ok(p) => p,
            Err(e) => {
                failures.push(format!("{}: does not compile:\n{e}", case.display()));
                continue;
            }
        };
        let one = run(&plan, 1);
        if let Err(e) = check_golden(&case, "out", &render(&plan, &one)) {
            failures.push(e);
        }
        for n in [2, 3] {
            if let Err(e) = same_answer(&one, &run(&plan, n), &plan) {
                failures.push(format!("{} on {n} nodes: {e}", case.display()));
            }
        }
        if let Err(e) = window_matches(&plan, 9, 4) {
            failures.push(format!("{} in a sliding window: {e}", case.display()));
        }
        for (n, fanin) in [(7, 2), (7, 3), (9, 4)] {
            if let Err(e) = same_answer(&one, &run_tree(&plan, n, fanin), &plan) {
                failures.push(format!(
                    "{} on {n} nodes, merged in a tree of fan-in {fanin}: {e}",
                    case.display()
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn broken_scripts_fail_with_their_golden_error() {
    let mut failures = Vec::new();
    for case in cases("errors") {
        let src = std::fs::read_to_string(&case).unwrap();
        match compile(&src, &opts(&case, &src)) {
            Ok(_) => failures.push(format!("{}: compiled, but must fail", case.display())),
            Err(e) => {
                if let Err(m) = check_golden(&case, "err", &format!("{e}\n")) {
                    failures.push(m);
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn quantiles_are_within_one_percent_of_the_exact_ones() {
    let src = "import px\ndf = px.DataFrame('http_events')\ndf.ms = df.resp_latency / 1000000\npx.display(df.groupby('service').agg(p50=('ms', px.quantiles(0.5)), p99=('ms', px.quantiles(0.99))))\n";
    let plan = compile(
        src,
        &Options {
            now_ns: data::NOW,
            ..Default::default()
        },
    )
    .unwrap();
    let out = &run(&plan, 3)[0].1;
    let exact = data::exact_quantiles();
    let svc = out.column(0).as_string::<i32>();
    for r in 0..out.num_rows() {
        let (p50, p99) = exact[svc.value(r)];
        for (got, want) in [
            (out.column(1).as_primitive::<Float64Type>().value(r), p50),
            (out.column(2).as_primitive::<Float64Type>().value(r), p99),
        ] {
            assert!(
                (got - want).abs() <= 0.01 * want + 1e-9,
                "{}: {got} vs exact {want}",
                svc.value(r)
            );
        }
    }
}
