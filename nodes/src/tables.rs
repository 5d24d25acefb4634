//! `loupe tables`: the tables a script can read, their columns and types,
//! and how many rows each running agent holds.

use loupe_topology::metrics::Metric;
use std::process::ExitCode;

use loupe_topology::plan::{DType, QUANTILE_RELATIVE_ERROR};

#[derive(clap::Args)]
pub struct TablesArgs {
    /// Only this table.
    table: Option<String>,
    #[arg(short = 'o', long, value_enum, default_value = "table")]
    output: Format,
    #[command(flatten)]
    nats: crate::NatsArgs,
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum Format {
    Table,
    Json,
}

pub fn run(args: TablesArgs) -> anyhow::Result<ExitCode> {
    let names: Vec<&str> = match &args.table {
        Some(t) if loupe_topology::schema::table(t).is_some() => vec![t.as_str()],
        Some(t) => anyhow::bail!(
            "unknown table {t:?}; tables: {}",
            loupe_topology::schema::TABLES.join(", ")
        ),
        None => loupe_topology::schema::TABLES.to_vec(),
    };
    // Rows held per node, when agents answer (not required).
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let held: Vec<(String, u64)> = rt
        .block_on(crate::check::agent_statuses(&args.nats))
        .map(|ss| {
            ss.into_iter()
                .map(|s| (s.node.clone(), s.counter(Metric::StoreRows)))
                .collect()
        })
        .unwrap_or_default();
    let mut docs = Vec::new();
    for name in names {
        let Some(schema) = loupe_topology::schema::table(name) else {
            continue;
        };
        let cols: Vec<(String, &str, bool)> = schema
            .fields()
            .iter()
            .map(|f| {
                let t = DType::of_arrow(f.data_type()).map_or("?", |t| t.name());
                let meta = loupe_topology::schema::is_metadata(name, f.name());
                (f.name().clone(), t, meta)
            })
            .collect();
        docs.push((name, cols));
    }
    match args.output {
        Format::Json => {
            let v: Vec<serde_json::Value> = docs
                .iter()
                .map(|(name, cols)| {
                    serde_json::json!({
                        "name": name,
                        "doc": loupe_topology::schema::def(name).map_or("", |d| d.doc),
                        "kind": loupe_topology::schema::def(name).map_or("", |d| match d.kind {
                            loupe_topology::schema::Kind::Protocol => "protocol",
                            loupe_topology::schema::Kind::Sampled => "sampled",
                        }),
                        "columns": cols.iter().map(|(c, t, m)| serde_json::json!({"name": c, "type": t, "metadata": m})).collect::<Vec<_>>(),
                        "rows_held": held.iter().map(|(n, r)| serde_json::json!({"node": n, "rows": r})).collect::<Vec<_>>(),
                    })
                })
                .collect();
            println!(
                "{}",
                serde_json::to_string_pretty(&serde_json::json!({
                    "tables": v,
                    "quantile_relative_error": QUANTILE_RELATIVE_ERROR,
                }))?
            );
        }
        Format::Table => {
            for (name, cols) in &docs {
                let doc = loupe_topology::schema::def(name).map_or("", |d| d.doc);
                println!("{name}  ({doc})");
                for (c, t, m) in cols {
                    let line = format!(
                        "  {c:<16} {t:<9}{}",
                        if *m {
                            " metadata of the process (df.ctx[...])"
                        } else {
                            ""
                        }
                    );
                    println!("{}", line.trim_end());
                }
                for (n, r) in &held {
                    println!("  held by {n}: {r} rows");
                }
            }
            println!(
                "quantiles (px.quantiles) come from DDSketch: relative error at most {} %",
                QUANTILE_RELATIVE_ERROR * 100.0
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
