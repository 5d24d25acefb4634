//! Compiles every bundle under a directory of Pixie's scripts (a checkout
//! of pixie-io/pixie's src/pxl_scripts/px, kept out of this repository) as
//! `loupe run` would, every variable at its default and required ones at a
//! placeholder, and prints per bundle and per widget what compiled and
//! why not. `scripts/conformance.sh` runs the bundles against a live Loupe.
//!
//! cargo run -p loupe-topology --example conformance -- DIR

use std::path::Path;

use loupe_topology::pxl::bundle::Bundle;
use loupe_topology::pxl::{Options, compile_bundle};

fn main() {
    let dir = std::env::args().nth(1).expect("usage: conformance DIR");
    let mut dirs: Vec<_> = std::fs::read_dir(&dir)
        .expect("read DIR")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    let (mut ok, mut partial, mut failed) = (0, 0, 0);
    for d in &dirs {
        let name = d.file_name().unwrap().to_string_lossy().to_string();
        let (verdict, detail) = one(d);
        match verdict {
            0 => ok += 1,
            1 => partial += 1,
            _ => failed += 1,
        }
        let tag = ["ok", "partial", "FAIL"][verdict.min(2)];
        println!(
            "{tag:8} {name}{}",
            if detail.is_empty() {
                String::new()
            } else {
                format!(": {detail}")
            }
        );
    }
    println!(
        "\n{} bundles: {ok} compile whole, {partial} in part, {failed} not",
        dirs.len()
    );
}

/// 0 compiled whole, 1 some widgets, 2 none; and why not.
fn one(d: &Path) -> (usize, String) {
    let b = match Bundle::load(d) {
        Ok(b) => b,
        Err(e) => return (2, e),
    };
    let mut exec = Vec::new();
    if b.runs_functions() {
        let vis = b.vis.as_ref().unwrap();
        let given: Vec<(String, String)> = vis
            .variables
            .iter()
            .filter(|v| v.default_value.is_none())
            .map(|v| (v.name.clone(), v.ty.placeholder().to_string()))
            .collect();
        let values = match vis.values(&given) {
            Ok(v) => v,
            Err(e) => return (2, e),
        };
        exec = vis.exec_funcs(&values);
    }
    let opts = Options {
        file: b.pxl_path.display().to_string(),
        now_ns: 1_700_000_000_000_000_000,
        args: vec![],
        exec,
        plugin_window: None,
    };
    match compile_bundle(&b.pxl, &opts) {
        Err(e) => (2, first_line(&e.to_string())),
        Ok((_, _, failed)) if failed.is_empty() => (0, String::new()),
        Ok((plan, _, failed)) => {
            let why: Vec<String> = failed
                .iter()
                .map(|(w, e)| format!("[{w}] {}", first_line(&e.to_string())))
                .collect();
            (if plan.sinks.is_empty() { 2 } else { 1 }, why.join("; "))
        }
    }
}

fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or("").to_string()
}
