//! Pixie's table functions (`px.GetAgentStatus()`, `px.GetSchemas()`,
//! ...): DataFrames answered from Loupe itself rather than from stored
//! rows. One line each: name, parameters, columns, where it is answered.
//! The registries (tables, functions) are answered anywhere; the state of
//! nodes and probes by the planner, from what the agents report.

use serde::{Deserialize, Serialize};

use super::types::{DType, Field, Scalar, Schema};

/// A table function. The wire carries it inside `Op::TableFn`; new
/// variants go at the end (the codec is positional).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TableFn {
    AgentStatus,
    Tables,
    Schemas,
    UdfList,
    UdaList,
    UdtfList,
    TracepointStatus,
}

pub struct TableFnDef {
    pub func: TableFn,
    /// Without `px.`.
    pub name: &'static str,
    /// (name, type, default) of each argument.
    pub params: &'static [(&'static str, DType, Option<bool>)],
    pub columns: &'static [(&'static str, DType)],
    /// Answered by the planner from the nodes' reports (else anywhere,
    /// from registries).
    pub planner: bool,
    pub doc: &'static str,
}

use DType::{Boolean as B, Int64 as I, String as S, Time as T};

pub const TABLE_FNS: &[TableFnDef] = &[
    TableFnDef {
        func: TableFn::AgentStatus,
        name: "GetAgentStatus",
        params: &[("include_kelvin", B, Some(true))],
        columns: &[
            ("agent_id", S),
            ("asid", I),
            ("hostname", S),
            ("ip_address", S),
            ("agent_state", S),
            ("create_time", T),
            ("last_heartbeat_ns", I),
            ("kernel_headers_installed", B),
        ],
        planner: true,
        doc: "Every agent a planner heard from: its state (AGENT_STATE_HEALTHY while it reports), when it started, ns since its last report.",
    },
    TableFnDef {
        func: TableFn::Tables,
        name: "GetTables",
        params: &[],
        columns: &[("table_name", S), ("table_desc", S)],
        planner: false,
        doc: "Every table Loupe captures, with what it holds.",
    },
    TableFnDef {
        func: TableFn::Schemas,
        name: "GetSchemas",
        params: &[],
        columns: &[
            ("table_name", S),
            ("column_name", S),
            ("column_type", S),
            ("pattern_type", S),
            ("column_desc", S),
        ],
        planner: false,
        doc: "Every column of every table Loupe captures.",
    },
    TableFnDef {
        func: TableFn::UdfList,
        name: "GetUDFList",
        params: &[],
        columns: &[("name", S), ("return_type", S), ("args", S)],
        planner: false,
        doc: "Every scalar function, one row per overload.",
    },
    TableFnDef {
        func: TableFn::UdaList,
        name: "GetUDAList",
        params: &[],
        columns: &[("name", S), ("return_type", S), ("args", S)],
        planner: false,
        doc: "Every aggregate, one row per argument type.",
    },
    TableFnDef {
        func: TableFn::UdtfList,
        name: "GetUDTFList",
        params: &[],
        columns: &[
            ("name", S),
            ("executor", S),
            ("init_args", S),
            ("output_relation", S),
        ],
        planner: false,
        doc: "Every table function (these).",
    },
    TableFnDef {
        func: TableFn::TracepointStatus,
        name: "GetTracepointStatus",
        params: &[],
        columns: &[
            ("tracepoint_id", S),
            ("name", S),
            ("state", S),
            ("status", S),
            ("output_tables", S),
        ],
        planner: true,
        doc: "Every probe of every agent: running or failed, and why.",
    },
];

impl TableFn {
    pub fn def(self) -> &'static TableFnDef {
        TABLE_FNS
            .iter()
            .find(|d| d.func == self)
            .expect("every TableFn has a registry line")
    }

    pub fn lookup(name: &str) -> Option<&'static TableFnDef> {
        TABLE_FNS.iter().find(|d| d.name == name)
    }

    pub fn schema(self) -> Schema {
        Schema::new(
            self.def()
                .columns
                .iter()
                .map(|(n, t)| Field::new(*n, *t))
                .collect(),
        )
    }

    /// Checks arguments that came with a plan: as many as parameters, each
    /// of its type.
    pub fn check_args(self, args: &[Scalar]) -> Result<(), String> {
        let d = self.def();
        if args.len() != d.params.len() {
            return Err(format!(
                "px.{} takes {} arguments, got {}",
                d.name,
                d.params.len(),
                args.len()
            ));
        }
        for ((name, t, _), a) in d.params.iter().zip(args) {
            if a.dtype() != *t {
                return Err(format!(
                    "px.{}: {name} must be {t}, got {}",
                    d.name,
                    a.dtype()
                ));
            }
        }
        Ok(())
    }
}

/// The rows of a table function answered from registries (`None` for one
/// the planner answers from the nodes' reports).
pub fn answer_static(func: TableFn) -> Option<arrow::record_batch::RecordBatch> {
    use super::logical::AggFunc;
    let rows: Vec<Vec<String>> = match func {
        TableFn::AgentStatus | TableFn::TracepointStatus => return None,
        TableFn::Tables => crate::schema::TABLE_DEFS
            .iter()
            .map(|d| vec![d.name.to_string(), d.doc.to_string()])
            .collect(),
        TableFn::Schemas => {
            let mut out = Vec::new();
            for d in crate::schema::TABLE_DEFS {
                let Some(s) = crate::schema::table(d.name) else {
                    continue;
                };
                for f in s.fields() {
                    let t = DType::of_arrow(f.data_type()).map_or("STRING", DType::name);
                    let desc = if crate::schema::is_metadata(d.name, f.name()) {
                        "process metadata, from upid"
                    } else {
                        ""
                    };
                    out.push(vec![
                        d.name.to_string(),
                        f.name().clone(),
                        t.to_string(),
                        "GENERAL".to_string(),
                        desc.to_string(),
                    ]);
                }
            }
            out
        }
        TableFn::UdfList => {
            let mut out = Vec::new();
            for d in crate::funcs::LIBRARY.iter().filter(|d| !d.name.starts_with('_')) {
                for s in d.sigs {
                    out.push(vec![d.name.to_string(), s.ret.name().to_string(), args_json(s.args)]);
                }
            }
            for m in super::meta_fn::META_FNS {
                out.push(vec![m.name.to_string(), m.result.name().to_string(), args_json(m.args)]);
            }
            out
        }
        TableFn::UdaList => {
            let funcs = [
                ("count", AggFunc::Count),
                ("sum", AggFunc::Sum),
                ("mean", AggFunc::Mean),
                ("min", AggFunc::Min),
                ("max", AggFunc::Max),
                ("any", AggFunc::Any),
                ("count_distinct", AggFunc::CountDistinct),
                ("quantiles", AggFunc::Quantiles),
            ];
            let mut out = Vec::new();
            for (name, f) in funcs {
                for t in [DType::Boolean, DType::Int64, DType::Float64, DType::String, DType::Time] {
                    if let Ok(r) = f.result(t) {
                        out.push(vec![name.to_string(), r.name().to_string(), args_json(&[t])]);
                    }
                }
            }
            out
        }
        TableFn::UdtfList => TABLE_FNS
            .iter()
            .map(|d| {
                let init: Vec<serde_json::Value> = d
                    .params
                    .iter()
                    .map(|(n, t, _)| serde_json::json!({"name": n, "type": t.name(), "stype": "ST_NONE", "desc": ""}))
                    .collect();
                let rel: Vec<serde_json::Value> = d
                    .columns
                    .iter()
                    .map(|(n, t)| serde_json::json!({"name": n, "type": t.name(), "ptype": "GENERAL", "desc": ""}))
                    .collect();
                vec![
                    d.name.to_string(),
                    "UDTF_ONE_KELVIN".to_string(),
                    serde_json::json!({ "args": init }).to_string(),
                    serde_json::json!({ "relation": rel }).to_string(),
                ]
            })
            .collect(),
    };
    Some(strings_batch(func, &rows))
}

fn args_json(args: &[DType]) -> String {
    let a: Vec<&str> = args.iter().map(|t| t.name()).collect();
    serde_json::json!({ "args": a }).to_string()
}

/// Rows of strings as a batch of `func`'s schema (every column a string).
pub fn strings_batch(func: TableFn, rows: &[Vec<String>]) -> arrow::record_batch::RecordBatch {
    let schema = func.schema().arrow();
    let cols: Vec<arrow::array::ArrayRef> = (0..schema.fields().len())
        .map(|c| {
            std::sync::Arc::new(
                rows.iter()
                    .map(|r| r.get(c).map(String::as_str))
                    .collect::<arrow::array::StringArray>(),
            ) as arrow::array::ArrayRef
        })
        .collect();
    arrow::record_batch::RecordBatch::try_new(schema, cols).expect("string columns of the schema")
}
