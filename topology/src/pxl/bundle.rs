//! Pixie's script bundles: a directory with one `.pxl`, a `vis.json` (the
//! variables users fill, the functions to call and the widgets that show
//! their tables) and a `manifest.yaml` (a short and a long description).
//! A bundle runs as Pixie runs it: the script's top level first, then
//! each global function once and each widget's own function, with the
//! variables as keyword arguments; `px.display` does nothing then. Every
//! widget gets one table, named by the widget, in widget order.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The largest vis.json or manifest read.
const MAX_SIDE_FILE: u64 = 1 << 20;

/// A bundle, or a lone script (no vis: it displays its own tables).
#[derive(Clone, Debug)]
pub struct Bundle {
    /// `px/http_data` in a library, else the path given.
    pub name: String,
    pub pxl_path: PathBuf,
    pub pxl: String,
    pub vis: Option<Vis>,
    pub short: String,
    pub long: String,
}

/// vis.json (Pixie's `px.vispb.Vis`, proto3 JSON; fields Loupe does not
/// use are kept out, unknown ones ignored as Pixie's reader does).
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Vis {
    #[serde(default)]
    pub variables: Vec<Variable>,
    #[serde(default)]
    pub global_funcs: Vec<GlobalFunc>,
    #[serde(default)]
    pub widgets: Vec<Widget>,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Variable {
    pub name: String,
    #[serde(rename = "type")]
    pub ty: VarType,
    /// Absent: the variable is required.
    #[serde(default)]
    pub default_value: Option<String>,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub valid_values: Vec<String>,
}

/// Pixie's variable types (`PXType`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
pub enum VarType {
    #[serde(rename = "PX_UNKNOWN")]
    Unknown,
    #[serde(rename = "PX_BOOLEAN")]
    Boolean,
    #[serde(rename = "PX_INT64")]
    Int64,
    #[serde(rename = "PX_FLOAT64")]
    Float64,
    #[serde(rename = "PX_STRING")]
    String,
    #[serde(rename = "PX_SERVICE")]
    Service,
    #[serde(rename = "PX_POD")]
    Pod,
    #[serde(rename = "PX_CONTAINER")]
    Container,
    #[serde(rename = "PX_NAMESPACE")]
    Namespace,
    #[serde(rename = "PX_NODE")]
    Node,
    #[serde(rename = "PX_LIST")]
    List,
    #[serde(rename = "PX_STRING_LIST")]
    StringList,
}

impl VarType {
    /// A value of this type for a required variable when there is none to
    /// give (checks that compile every bundle: tests, conformance runs).
    pub fn placeholder(self) -> &'static str {
        match self {
            VarType::Int64 => "1",
            VarType::Float64 => "1.0",
            VarType::Boolean => "true",
            VarType::Pod | VarType::Service => "default/loupe",
            _ => "default",
        }
    }

    /// What a value of this type looks like, for messages and help.
    pub fn describe(self) -> &'static str {
        match self {
            VarType::Boolean => "true or false",
            VarType::Int64 => "an integer",
            VarType::Float64 => "a number",
            VarType::Service => "a service, namespace/name",
            VarType::Pod => "a pod, namespace/name",
            VarType::Container => "a container name",
            VarType::Namespace => "a namespace",
            VarType::Node => "a node name",
            VarType::List | VarType::StringList => "a comma-separated list",
            VarType::String | VarType::Unknown => "a string",
        }
    }

    /// Whether `v` is a value of this type.
    fn accepts(self, v: &str) -> bool {
        match self {
            VarType::Boolean => matches!(v, "true" | "false" | "True" | "False" | "1" | "0"),
            VarType::Int64 => v.trim().parse::<i64>().is_ok(),
            VarType::Float64 => v.trim().parse::<f64>().is_ok_and(f64::is_finite),
            _ => true,
        }
    }
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GlobalFunc {
    pub output_name: String,
    pub func: FuncSpec,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct FuncSpec {
    pub name: String,
    #[serde(default)]
    pub args: Vec<FuncArg>,
}

/// An argument: a literal `value`, or the value of a `variable`.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct FuncArg {
    pub name: String,
    #[serde(default)]
    pub value: Option<String>,
    #[serde(default)]
    pub variable: Option<String>,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Widget {
    pub name: String,
    #[serde(default)]
    pub func: Option<FuncSpec>,
    #[serde(default)]
    pub global_func_output_name: Option<String>,
    #[serde(default)]
    pub display_spec: Option<serde_json::Value>,
    #[serde(default)]
    pub position: Option<serde_json::Value>,
}

/// One function the compiler calls after the top level: its name, its
/// keyword arguments as text (converted by the parameters' annotations),
/// and the name of the table it makes (a list of DataFrames makes
/// `name[0]`, `name[1]`, ...).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecFunc {
    pub func: String,
    pub args: Vec<(String, String)>,
    pub output: String,
}

/// manifest.yaml's two fields Loupe reads (`short:` and `long:`, the
/// latter possibly a folded block).
fn manifest(text: &str) -> (String, String) {
    let mut short = String::new();
    let mut long = String::new();
    let mut in_long = false;
    for line in text.lines() {
        if let Some(v) = line.strip_prefix("short:") {
            short = unquote(v.trim());
            in_long = false;
        } else if let Some(v) = line.strip_prefix("long:") {
            let v = v.trim();
            in_long = v.is_empty() || v.starts_with('>') || v.starts_with('|');
            if !in_long {
                long = unquote(v);
            }
        } else if in_long && (line.starts_with(' ') || line.is_empty()) {
            if !long.is_empty() {
                long.push(' ');
            }
            long.push_str(line.trim());
        } else {
            in_long = false;
        }
    }
    (short, long.trim().to_string())
}

fn unquote(v: &str) -> String {
    v.trim_matches(|c| c == '"' || c == '\'').to_string()
}

fn read_small(p: &Path) -> Result<String, String> {
    let len = std::fs::metadata(p)
        .map_err(|e| format!("cannot read {}: {e}", p.display()))?
        .len();
    if len > MAX_SIDE_FILE.max(super::MAX_SCRIPT_BYTES as u64) {
        return Err(format!("{} is {len} bytes: too large", p.display()));
    }
    std::fs::read_to_string(p).map_err(|e| format!("cannot read {}: {e}", p.display()))
}

impl Bundle {
    /// A `.pxl` file (no vis, as Pixie's `-f file.pxl`), or a directory in
    /// Pixie's layout (exactly one `.pxl`; `vis.json` and `manifest.yaml`
    /// when present).
    pub fn load(path: &Path) -> Result<Bundle, String> {
        if !path.is_dir() {
            return Ok(Bundle {
                name: path.display().to_string(),
                pxl_path: path.to_path_buf(),
                pxl: read_small(path)?,
                vis: None,
                short: String::new(),
                long: String::new(),
            });
        }
        let mut pxls: Vec<PathBuf> = std::fs::read_dir(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "pxl"))
            .collect();
        pxls.sort();
        let pxl_path = match pxls.as_slice() {
            [one] => one.clone(),
            [] => {
                return Err(format!(
                    "{}: a bundle has one .pxl script; there is none",
                    path.display()
                ));
            }
            many => {
                return Err(format!(
                    "{}: a bundle has one .pxl script; there are {}",
                    path.display(),
                    many.len()
                ));
            }
        };
        let vis_path = path.join("vis.json");
        let vis = if vis_path.exists() {
            let text = read_small(&vis_path)?;
            if text.trim().is_empty() {
                None
            } else {
                let v: Vis = serde_json::from_str(&text)
                    .map_err(|e| format!("{}: {e}", vis_path.display()))?;
                v.check()
                    .map_err(|e| format!("{}: {e}", vis_path.display()))?;
                Some(v)
            }
        } else {
            None
        };
        let man_path = path.join("manifest.yaml");
        let (short, long) = if man_path.exists() {
            manifest(&read_small(&man_path)?)
        } else {
            (String::new(), String::new())
        };
        Ok(Bundle {
            name: path.display().to_string(),
            pxl: read_small(&pxl_path)?,
            pxl_path,
            vis,
            short,
            long,
        })
    }

    /// A bundle from its files' texts (the bundles a binary carries).
    pub fn from_parts(
        name: &str,
        pxl: &str,
        vis: &str,
        manifest_text: &str,
    ) -> Result<Bundle, String> {
        let vis = if vis.trim().is_empty() {
            None
        } else {
            let v: Vis = serde_json::from_str(vis).map_err(|e| format!("{name}/vis.json: {e}"))?;
            v.check().map_err(|e| format!("{name}/vis.json: {e}"))?;
            Some(v)
        };
        let (short, long) = manifest(manifest_text);
        let file = name.rsplit('/').next().unwrap_or(name);
        Ok(Bundle {
            name: name.to_string(),
            pxl_path: PathBuf::from(format!("{name}/{file}.pxl")),
            pxl: pxl.to_string(),
            vis,
            short,
            long,
        })
    }

    /// Whether the vis calls functions (else the script displays its own
    /// tables, as a lone .pxl does).
    pub fn runs_functions(&self) -> bool {
        self.vis.as_ref().is_some_and(|v| {
            !v.global_funcs.is_empty() || v.widgets.iter().any(|w| w.func.is_some())
        })
    }
}

impl Vis {
    /// What must hold of a vis for it to run at all: names unique, every
    /// variable an argument names defined, every widget fed.
    fn check(&self) -> Result<(), String> {
        let mut seen = std::collections::HashSet::new();
        for v in &self.variables {
            if !seen.insert(v.name.as_str()) {
                return Err(format!("variable {:?} is defined twice", v.name));
            }
        }
        let funcs = self
            .global_funcs
            .iter()
            .map(|g| &g.func)
            .chain(self.widgets.iter().filter_map(|w| w.func.as_ref()));
        for f in funcs {
            for a in &f.args {
                match (&a.value, &a.variable) {
                    (Some(_), None) => {}
                    (None, Some(v)) if seen.contains(v.as_str()) => {}
                    (None, Some(v)) => {
                        return Err(format!(
                            "{}: argument {} reads variable {v:?}, which is not defined",
                            f.name, a.name
                        ));
                    }
                    _ => {
                        return Err(format!(
                            "{}: argument {} needs a value or a variable",
                            f.name, a.name
                        ));
                    }
                }
            }
        }
        let outputs: Vec<&str> = self
            .global_funcs
            .iter()
            .map(|g| g.output_name.as_str())
            .collect();
        for w in &self.widgets {
            match (&w.func, &w.global_func_output_name) {
                (Some(_), None) => {}
                (None, Some(o)) if outputs.contains(&o.as_str()) => {}
                (None, Some(o)) => {
                    return Err(format!(
                        "widget {:?} shows global function output {o:?}, which no global function makes",
                        w.name
                    ));
                }
                _ => {
                    return Err(format!(
                        "widget {:?} needs a func or a globalFuncOutputName",
                        w.name
                    ));
                }
            }
        }
        Ok(())
    }

    /// Every variable's value: given (`--arg name=value`), else its
    /// default; checked against its type and its valid values. Unknown
    /// names and missing required variables are errors naming them.
    pub fn values(&self, given: &[(String, String)]) -> Result<Vec<(String, String)>, String> {
        for (k, _) in given {
            if !self.variables.iter().any(|v| &v.name == k) {
                let names: Vec<&str> = self.variables.iter().map(|v| v.name.as_str()).collect();
                return Err(if names.is_empty() {
                    format!("--{k}: this script has no variables")
                } else {
                    format!(
                        "--{k}: no variable of that name; variables: {}",
                        names.join(", ")
                    )
                });
            }
        }
        let mut out = Vec::new();
        for v in &self.variables {
            let value = match given.iter().rev().find(|(k, _)| *k == v.name) {
                Some((_, x)) => x.clone(),
                None => match &v.default_value {
                    Some(d) => d.clone(),
                    None => {
                        return Err(format!(
                            "missing required argument --{} ({}): {}",
                            v.name,
                            v.ty.describe(),
                            v.description
                        ));
                    }
                },
            };
            if !v.ty.accepts(&value) {
                return Err(format!(
                    "--{}={value:?}: expected {}",
                    v.name,
                    v.ty.describe()
                ));
            }
            if !v.valid_values.is_empty() && !v.valid_values.contains(&value) {
                return Err(format!(
                    "--{}={value:?}: one of {}",
                    v.name,
                    v.valid_values.join(", ")
                ));
            }
            out.push((v.name.clone(), value));
        }
        Ok(out)
    }

    /// The functions to call, in Pixie's order: every global function
    /// once, then every widget with its own function.
    pub fn exec_funcs(&self, values: &[(String, String)]) -> Vec<ExecFunc> {
        let make = |f: &FuncSpec, output: &str| ExecFunc {
            func: f.name.clone(),
            args: f
                .args
                .iter()
                .map(|a| {
                    let v = match (&a.value, &a.variable) {
                        (Some(v), _) => v.clone(),
                        (None, Some(var)) => values
                            .iter()
                            .find(|(k, _)| k == var)
                            .map(|(_, v)| v.clone())
                            .unwrap_or_default(),
                        (None, None) => String::new(),
                    };
                    (a.name.clone(), v)
                })
                .collect(),
            output: output.to_string(),
        };
        let mut out: Vec<ExecFunc> = self
            .global_funcs
            .iter()
            .map(|g| make(&g.func, &g.output_name))
            .collect();
        out.extend(
            self.widgets
                .iter()
                .filter_map(|w| w.func.as_ref().map(|f| make(f, &w.name))),
        );
        out
    }

    /// Each widget's table: (widget name, the output that feeds it, its
    /// display spec), in widget order.
    pub fn widget_tables(&self) -> Vec<(&str, &str, Option<&serde_json::Value>)> {
        self.widgets
            .iter()
            .map(|w| {
                let src = match (&w.func, &w.global_func_output_name) {
                    (Some(_), _) => w.name.as_str(),
                    (None, Some(o)) => o.as_str(),
                    (None, None) => w.name.as_str(),
                };
                (w.name.as_str(), src, w.display_spec.as_ref())
            })
            .collect()
    }
}

/// The kind of a display spec (`Table`, `TimeseriesChart`, ...).
pub fn display_kind(spec: Option<&serde_json::Value>) -> String {
    spec.and_then(|s| s.get("@type"))
        .and_then(|t| t.as_str())
        .map(|t| t.rsplit('.').next().unwrap_or(t).to_string())
        .unwrap_or_else(|| "Table".to_string())
}

/// The columns a display spec plots (a timeseries' value and series, a
/// graph's from/to and weights, ...): what its table must have.
pub fn display_columns(spec: Option<&serde_json::Value>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let Some(spec) = spec else { return out };
    let mut push = |v: Option<&serde_json::Value>| {
        if let Some(s) = v.and_then(|v| v.as_str())
            && !s.is_empty()
            && !out.iter().any(|o| o == s)
        {
            out.push(s.to_string());
        }
    };
    let kind = display_kind(Some(spec));
    if kind == "TimeseriesChart" {
        push(Some(&serde_json::Value::from("time_")));
    }
    for ts in spec
        .get("timeseries")
        .and_then(|t| t.as_array())
        .into_iter()
        .flatten()
    {
        push(ts.get("value"));
        push(ts.get("series"));
    }
    for key in ["bar", "histogram", "pie", "gauge", "stat"] {
        if let Some(b) = spec.get(key) {
            for f in ["value", "label", "stackBy", "groupBy", "prebinCount"] {
                push(b.get(f));
            }
        }
    }
    if let Some(a) = spec.get("adjacencyList") {
        push(a.get("fromColumn"));
        push(a.get("toColumn"));
    }
    if let Some(obj) = spec.as_object() {
        // A table's gutter is decoration: shown when its column is there.
        let mut keys: Vec<&String> = obj
            .keys()
            .filter(|k| k.ends_with("Column") && *k != "gutterColumn")
            .collect();
        keys.sort();
        for k in keys {
            push(obj.get(k));
        }
        for h in obj
            .get("edgeHoverInfo")
            .and_then(|h| h.as_array())
            .into_iter()
            .flatten()
        {
            push(Some(h));
        }
    }
    out
}

/// `-- --name=value --other value`: Pixie's CLI form of script arguments.
pub fn parse_script_args(rest: &[String]) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < rest.len() {
        let a = &rest[i];
        let Some(flag) = a.strip_prefix("--").or_else(|| a.strip_prefix('-')) else {
            return Err(format!("{a:?}: script arguments are --name=value"));
        };
        match flag.split_once('=') {
            Some((k, v)) if !k.is_empty() => out.push((k.to_string(), v.to_string())),
            _ if !flag.is_empty() => {
                // `--name value`: the next word is the value, even if it
                // starts with `-` (`--start_time -5m`).
                let Some(v) = rest.get(i + 1) else {
                    return Err(format!("--{flag} needs a value"));
                };
                out.push((flag.to_string(), v.clone()));
                i += 1;
            }
            _ => return Err(format!("{a:?}: script arguments are --name=value")),
        }
        i += 1;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const VIS: &str = r#"{
      "variables": [
        {"name": "start_time", "type": "PX_STRING", "defaultValue": "-5m", "description": "from"},
        {"name": "n", "type": "PX_INT64", "defaultValue": "10", "description": "rows"},
        {"name": "ns", "type": "PX_NAMESPACE", "description": "namespace"},
        {"name": "by", "type": "PX_STRING", "defaultValue": "pod", "validValues": ["pod", "node"], "description": "group"}
      ],
      "globalFuncs": [{"outputName": "g", "func": {"name": "f", "args": [{"name": "start_time", "variable": "start_time"}, {"name": "k", "value": "7"}]}}],
      "widgets": [
        {"name": "A", "globalFuncOutputName": "g", "displaySpec": {"@type": "types.px.dev/px.vispb.TimeseriesChart", "timeseries": [{"value": "rps", "series": "pod", "mode": "MODE_LINE"}]}},
        {"name": "B", "func": {"name": "h", "args": [{"name": "ns", "variable": "ns"}]}, "displaySpec": {"@type": "types.px.dev/px.vispb.Graph", "adjacencyList": {"fromColumn": "src", "toColumn": "dst"}, "edgeWeightColumn": "w", "edgeHoverInfo": ["p50"]}},
        {"name": "C", "globalFuncOutputName": "g", "displaySpec": {"@type": "types.px.dev/px.vispb.Table"}}
      ]
    }"#;

    #[test]
    fn variables_fill_functions_and_widgets_name_their_tables() {
        let v: Vis = serde_json::from_str(VIS).unwrap();
        v.check().unwrap();
        let e = v.values(&[]).unwrap_err();
        assert!(e.contains("missing required argument --ns"), "{e}");
        let vals = v.values(&[("ns".into(), "shop".into())]).unwrap();
        assert_eq!(vals[0], ("start_time".into(), "-5m".into()));
        let ex = v.exec_funcs(&vals);
        assert_eq!(ex.len(), 2);
        assert_eq!(ex[0].output, "g");
        assert_eq!(
            ex[0].args,
            [
                ("start_time".into(), "-5m".into()),
                ("k".into(), "7".into())
            ]
        );
        assert_eq!(ex[1].output, "B");
        let w = v.widget_tables();
        assert_eq!(
            w.iter().map(|(n, s, _)| (*n, *s)).collect::<Vec<_>>(),
            [("A", "g"), ("B", "B"), ("C", "g")]
        );
        assert_eq!(display_columns(w[0].2), ["time_", "rps", "pod"]);
        assert_eq!(display_columns(w[1].2), ["src", "dst", "w", "p50"]);
        assert_eq!(display_kind(w[1].2), "Graph");
        assert!(
            v.values(&[("ns".into(), "a".into()), ("n".into(), "x".into())])
                .unwrap_err()
                .contains("expected an integer")
        );
        assert!(
            v.values(&[("ns".into(), "a".into()), ("by".into(), "svc".into())])
                .unwrap_err()
                .contains("one of pod, node")
        );
        assert!(
            v.values(&[("nope".into(), "a".into())])
                .unwrap_err()
                .contains("no variable of that name")
        );
    }

    #[test]
    fn pixie_cli_argument_forms() {
        let a: Vec<String> = ["--start_time=-5m", "--ns", "shop", "-n", "-3"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(
            parse_script_args(&a).unwrap(),
            [
                ("start_time".into(), "-5m".into()),
                ("ns".into(), "shop".into()),
                ("n".into(), "-3".into())
            ]
        );
        assert!(parse_script_args(&["x".into()]).is_err());
        assert!(parse_script_args(&["--x".into()]).is_err());
    }

    #[test]
    fn manifests_fold() {
        let (s, l) =
            manifest("---\nshort: HTTP data\nlong: >\n  Shows the most\n  recent requests.\n");
        assert_eq!(s, "HTTP data");
        assert_eq!(l, "Shows the most recent requests.");
    }
}
