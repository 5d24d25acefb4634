//! What `loupe run` and `loupe live` run: a `.pxl` file, a bundle
//! directory in Pixie's layout, or `px/NAME` from a script library
//! (`$LOUPE_SCRIPTS`, then the bundles Loupe ships); with its variables
//! from `--arg name=value` or Pixie's `-- --name=value`. Compiled here:
//! nothing is sent when nothing compiles.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use loupe_topology::plan::Plan;
use loupe_topology::pxl::bundle::{self, Bundle};

use crate::render::Table;

#[derive(clap::Args, Clone, Debug)]
pub struct ScriptArgs {
    /// The script: a .pxl file, a bundle directory, or px/NAME from the
    /// library ($LOUPE_SCRIPTS, then Loupe's own bundles).
    #[arg(value_name = "SCRIPT", required_unless_present = "file")]
    script: Option<String>,
    /// The script, as a path (a .pxl file or a bundle directory).
    #[arg(short = 'f', long = "file", conflicts_with = "script")]
    file: Option<PathBuf>,
    /// Fill a variable of a bundle, or a parameter of the script's
    /// functions: --arg ns=shop (repeatable).
    #[arg(long = "arg", value_parser = crate::run::parse_kv)]
    args: Vec<(String, String)>,
    /// Pixie's form, after `--`: `loupe run px/http_data -- --start_time=-5m`;
    /// `-- --help` lists the variables.
    #[arg(last = true)]
    rest: Vec<String>,
}

/// A widget's table, for printing.
#[derive(Clone, Debug)]
pub struct WidgetOut {
    pub name: String,
    /// The output that feeds it (its own, or a global function's).
    pub source: String,
    pub kind: String,
    pub columns: Vec<String>,
    pub spec: Option<serde_json::Value>,
    /// Why it has no table (its function did not compile).
    pub error: Option<String>,
}

/// A compiled script, ready to send.
pub struct Prepared {
    pub name: String,
    pub plan: Plan,
    pub origin: loupe_topology::messages::Origin,
    /// A bundle's widgets, in order (`None`: the script's own displays).
    pub widgets: Option<Vec<WidgetOut>>,
}

impl Prepared {
    /// Whether some widget could not be compiled.
    pub fn degraded(&self) -> bool {
        self.widgets
            .as_ref()
            .is_some_and(|w| w.iter().any(|w| w.error.is_some()))
    }

    /// The tables to show: a bundle's one per widget, in widget order and
    /// named by the widget (a failed widget has none); else as answered.
    pub fn arrange(&self, tables: Vec<Table>) -> Vec<Table> {
        let Some(widgets) = &self.widgets else {
            return tables;
        };
        let mut out: Vec<Table> = widgets
            .iter()
            .filter(|w| w.error.is_none())
            .filter_map(|w| {
                tables.iter().find(|t| t.name == w.source).map(|t| Table {
                    name: w.name.clone(),
                    batch: t.batch.clone(),
                    sems: t.sems.clone(),
                })
            })
            .collect();
        // px.debug's tables (`_name`) come after the widgets', as Pixie's
        // CLI prints them.
        out.extend(tables.into_iter().filter(|t| t.name.starts_with('_')));
        out
    }
}

/// Bundles Loupe ships: (name, script, vis.json, manifest.yaml); one line
/// each, the files under `nodes/bundles/`.
macro_rules! shipped {
    ($($name:literal),* $(,)?) => {
        &[$((
            concat!("px/", $name),
            include_str!(concat!("../bundles/px/", $name, "/", $name, ".pxl")),
            include_str!(concat!("../bundles/px/", $name, "/vis.json")),
            include_str!(concat!("../bundles/px/", $name, "/manifest.yaml")),
        )),*]
    };
}

pub const SHIPPED: &[(&str, &str, &str, &str)] = shipped![
    "cluster",
    "namespace",
    "service",
    "pod",
    "node",
    "http_data",
    "dns_data",
    "sql_stats",
    "service_edges",
    "otel_service_metrics",
    "otel_http_spans",
];

/// The bundle `script` names: a path, else a library name (`px/NAME` or
/// `NAME`) in `$LOUPE_SCRIPTS` (colon-separated directories), else one
/// Loupe ships.
pub fn resolve(script: &str) -> anyhow::Result<Bundle> {
    let p = Path::new(script);
    if p.exists() {
        return Bundle::load(p).map_err(|e| anyhow::anyhow!(e));
    }
    let name = script.strip_prefix("px/").unwrap_or(script);
    if let Ok(dirs) = std::env::var("LOUPE_SCRIPTS") {
        for d in dirs.split(':').filter(|d| !d.is_empty()) {
            for cand in [Path::new(d).join("px").join(name), Path::new(d).join(name)] {
                if cand.is_dir() {
                    let mut b = Bundle::load(&cand).map_err(|e| anyhow::anyhow!(e))?;
                    b.name = format!("px/{name}");
                    return Ok(b);
                }
            }
        }
    }
    if let Some((n, pxl, vis, man)) = SHIPPED.iter().find(|s| s.0 == format!("px/{name}")) {
        return Bundle::from_parts(n, pxl, vis, man).map_err(|e| anyhow::anyhow!(e));
    }
    let mut known: Vec<&str> = SHIPPED.iter().map(|s| s.0).collect();
    known.sort();
    anyhow::bail!(
        "no script {script:?}: not a file or directory, not in $LOUPE_SCRIPTS, and not one of Loupe's: {}",
        known.join(", ")
    )
}

/// `-- --help`: the bundle's variables.
fn usage(b: &Bundle) -> String {
    let mut s = format!("Usage: loupe run {} -- [--name=value]...\n", b.name);
    if !b.short.is_empty() {
        s.push_str(&format!("\n{}\n", b.short));
    }
    if !b.long.is_empty() {
        s.push_str(&format!("{}\n", b.long));
    }
    match b.vis.as_ref().filter(|v| !v.variables.is_empty()) {
        None => s.push_str("\nThis script has no variables.\n"),
        Some(v) => {
            s.push_str("\nVariables:\n");
            for var in &v.variables {
                let default = match &var.default_value {
                    Some(d) => format!(" (default {d:?})"),
                    None => " (required)".to_string(),
                };
                let valid = if var.valid_values.is_empty() {
                    String::new()
                } else {
                    format!(" one of: {}", var.valid_values.join(", "))
                };
                s.push_str(&format!(
                    "  --{}: {}{default}{valid}\n      {}\n",
                    var.name,
                    var.ty.describe(),
                    var.description
                ));
            }
        }
    }
    s
}

/// Compiles what `a` names. `Err(code)`: nothing to send, and why is on
/// stderr (or the usage on stdout, for `-- --help`).
pub fn prepare(a: &ScriptArgs) -> anyhow::Result<Result<Prepared, ExitCode>> {
    let b = match (&a.file, &a.script) {
        (Some(f), _) => Bundle::load(f).map_err(|e| anyhow::anyhow!(e))?,
        (None, Some(s)) => resolve(s)?,
        (None, None) => anyhow::bail!("give a script: loupe run px/NAME, or -f FILE.pxl"),
    };
    if a.rest.iter().any(|r| r == "--help" || r == "-h") {
        print!("{}", usage(&b));
        return Ok(Err(ExitCode::SUCCESS));
    }
    let mut given = a.args.clone();
    given.extend(bundle::parse_script_args(&a.rest).map_err(|e| anyhow::anyhow!(e))?);
    let mut opts = loupe_topology::pxl::Options {
        file: b.pxl_path.display().to_string(),
        now_ns: loupe_actors::clock::wall_now_ns(),
        args: Vec::new(),
        exec: Vec::new(),
        plugin_window: None,
    };
    let vis = b.vis.as_ref().filter(|_| b.runs_functions());
    match vis {
        Some(v) => {
            let values = match v.values(&given) {
                Ok(x) => x,
                Err(e) => {
                    eprintln!("{}: {e}\n\n{}", b.name, usage(&b));
                    return Ok(Err(ExitCode::from(crate::run::EXIT_NOT_COMPILED)));
                }
            };
            opts.exec = v.exec_funcs(&values);
            given = values;
        }
        None => opts.args = given.clone(),
    }
    let (plan, warnings, failed) = match loupe_topology::pxl::compile_bundle(&b.pxl, &opts) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("{e}");
            return Ok(Err(ExitCode::from(crate::run::EXIT_NOT_COMPILED)));
        }
    };
    for w in warnings {
        eprintln!("{w}");
    }
    let widgets = vis.map(|v| {
        v.widget_tables()
            .into_iter()
            .map(|(name, source, spec)| WidgetOut {
                name: name.to_string(),
                source: source.to_string(),
                kind: bundle::display_kind(spec),
                columns: bundle::display_columns(spec),
                spec: spec.cloned(),
                error: failed
                    .iter()
                    .find(|(o, _)| o == source)
                    .map(|(_, e)| e.to_string()),
            })
            .collect::<Vec<_>>()
    });
    if plan.sinks.is_empty() {
        for (o, e) in &failed {
            eprintln!("[{o}] {e}");
        }
        if failed.is_empty() {
            eprintln!("{}: nothing to show (the vis has no widgets)", b.name);
        }
        return Ok(Err(ExitCode::from(crate::run::EXIT_NOT_COMPILED)));
    }
    let origin = crate::run::origin(&b.pxl, &given);
    Ok(Ok(Prepared {
        name: b.name.clone(),
        plan,
        origin,
        widgets,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A value of each type for required variables.
    #[test]
    fn every_shipped_bundle_compiles_whole_and_feeds_its_widgets() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("bundles/px");
        let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| format!("px/{}", e.unwrap().file_name().to_string_lossy()))
            .collect();
        on_disk.sort();
        let mut listed: Vec<String> = SHIPPED.iter().map(|s| s.0.to_string()).collect();
        listed.sort();
        assert_eq!(
            on_disk, listed,
            "every bundle under nodes/bundles/px is in SHIPPED"
        );
        for (name, ..) in SHIPPED {
            let b = resolve(name).unwrap();
            assert!(!b.short.is_empty(), "{name} has a short description");
            let vis = b.vis.as_ref().unwrap();
            let given: Vec<(String, String)> = vis
                .variables
                .iter()
                .filter(|v| v.default_value.is_none())
                .map(|v| (v.name.clone(), v.ty.placeholder().to_string()))
                .collect();
            let values = vis.values(&given).unwrap();
            let opts = loupe_topology::pxl::Options {
                file: name.to_string(),
                now_ns: 1_700_000_000_000_000_000,
                args: vec![],
                exec: vis.exec_funcs(&values),
                plugin_window: None,
            };
            let (plan, _, failed) = loupe_topology::pxl::compile_bundle(&b.pxl, &opts)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(failed.is_empty(), "{name}: {failed:?}");
            // Every widget's table has the columns its display plots.
            for (w, src, spec) in vis.widget_tables() {
                let sink = plan
                    .sinks
                    .iter()
                    .find(|s| s.name == src)
                    .unwrap_or_else(|| panic!("{name}: no table for widget {w}"));
                let schema = plan.schema(sink.input);
                for c in bundle::display_columns(spec) {
                    assert!(
                        schema.get(&c).is_some(),
                        "{name}: widget {w} plots {c}, not in {:?}",
                        schema.names()
                    );
                }
            }
        }
    }
}
