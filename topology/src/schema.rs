//! Table schemas (Pixie's names and columns, see shared/TABLES.md), as Arrow
//! schemas. Repeating strings (metadata, method, content type) are
//! dictionary-encoded.
//!
//! One list, [`TABLE_DEFS`], names every table and its own columns; the
//! common protocol columns and the metadata columns are added here, the same
//! for all, so a new protocol's table is one entry.

use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use std::sync::{Arc, OnceLock};

pub const HTTP_EVENTS: &str = "http_events";
pub const PGSQL_EVENTS: &str = "pgsql_events";
pub const MYSQL_EVENTS: &str = "mysql_events";
pub const DNS_EVENTS: &str = "dns_events";
pub const REDIS_EVENTS: &str = "redis_events";

/// A column's type, as TABLES.md writes it. `Dict` is a STRING stored
/// dictionary-encoded (values that repeat).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Col {
    Int,
    Str,
    Dict,
    Bool,
}

/// A table: its name and the columns of its own, between the common
/// connection columns (`time_` .. `encrypted`) and `resp_latency`.
pub struct TableDef {
    pub name: &'static str,
    pub columns: &'static [(&'static str, Col)],
}

/// Every table this build knows, in the order `loupe tables` lists them.
pub const TABLE_DEFS: &[TableDef] = &[
    TableDef {
        name: HTTP_EVENTS,
        columns: &[
            ("major_version", Col::Int),
            ("minor_version", Col::Int),
            ("content_type", Col::Dict),
            ("req_headers", Col::Str),
            ("req_method", Col::Dict),
            ("req_path", Col::Str),
            ("req_body", Col::Str),
            ("req_body_size", Col::Int),
            ("resp_headers", Col::Str),
            ("resp_status", Col::Int),
            ("resp_message", Col::Dict),
            ("resp_body", Col::Str),
            ("resp_body_size", Col::Int),
        ],
    },
    TableDef {
        name: PGSQL_EVENTS,
        columns: &[
            ("req_cmd", Col::Dict),
            ("req_body", Col::Str),
            ("resp_body", Col::Str),
            ("resp_status", Col::Dict),
            ("rows", Col::Int),
        ],
    },
    TableDef {
        name: MYSQL_EVENTS,
        columns: &[
            ("req_cmd", Col::Int),
            ("req_body", Col::Str),
            ("resp_status", Col::Int),
            ("resp_body", Col::Str),
            ("rows", Col::Int),
        ],
    },
    TableDef {
        name: DNS_EVENTS,
        columns: &[
            ("req_header", Col::Str),
            ("req_body", Col::Str),
            ("resp_header", Col::Str),
            ("resp_body", Col::Str),
            ("query_name", Col::Str),
            ("query_type", Col::Dict),
            ("resp_code", Col::Int),
            ("answers", Col::Str),
            ("transport", Col::Dict),
            ("timed_out", Col::Bool),
        ],
    },
    TableDef {
        name: REDIS_EVENTS,
        columns: &[
            ("req_cmd", Col::Dict),
            ("req_args", Col::Str),
            ("resp", Col::Str),
        ],
    },
];

/// Names of [`TABLE_DEFS`].
pub const TABLES: &[&str] = &[
    HTTP_EVENTS,
    PGSQL_EVENTS,
    MYSQL_EVENTS,
    DNS_EVENTS,
    REDIS_EVENTS,
];

fn dict() -> DataType {
    DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8))
}

/// Columns every protocol table starts with, in order.
pub const COMMON_COLUMNS: &[&str] = &[
    "time_",
    "upid",
    "remote_addr",
    "remote_port",
    "local_addr",
    "local_port",
    "trace_role",
    "encrypted",
];

/// Columns every table answers from `upid` (process metadata), in order.
pub const METADATA_COLUMNS: &[&str] = &[
    "node",
    "pid",
    "cmdline",
    "container",
    "namespace",
    "service",
    "pod",
    "pod_id",
    "container_id",
    "deployment",
    "replicaset",
];

fn build(def: &TableDef) -> SchemaRef {
    let ts = DataType::Timestamp(TimeUnit::Nanosecond, None);
    use DataType::{Boolean, Int64, Utf8};
    let mut fields = vec![
        Field::new("time_", ts, false),
        Field::new("upid", dict(), false),
        Field::new("remote_addr", Utf8, false),
        Field::new("remote_port", Int64, false),
        Field::new("local_addr", Utf8, false),
        Field::new("local_port", Int64, false),
        Field::new("trace_role", Int64, false),
        Field::new("encrypted", Boolean, false),
    ];
    for (name, col) in def.columns {
        let dt = match col {
            Col::Int => Int64,
            Col::Str => Utf8,
            Col::Dict => dict(),
            Col::Bool => Boolean,
        };
        fields.push(Field::new(*name, dt, false));
    }
    fields.push(Field::new("resp_latency", Int64, false));
    // Metadata (host mode: from /proc; in Kubernetes: from the API).
    // Not stored per row: derived from `upid` when a table is read.
    fields.push(Field::new("node", dict(), false));
    fields.push(Field::new("pid", Int64, false));
    for m in &METADATA_COLUMNS[2..] {
        fields.push(Field::new(*m, dict(), false));
    }
    Arc::new(Schema::new(fields))
}

fn schemas() -> &'static [(SchemaRef, SchemaRef)] {
    static S: OnceLock<Vec<(SchemaRef, SchemaRef)>> = OnceLock::new();
    S.get_or_init(|| {
        TABLE_DEFS
            .iter()
            .map(|d| {
                let full = build(d);
                let stored = stored(&full);
                (full, stored)
            })
            .collect()
    })
}

/// `http_events`: one row per HTTP/1.x request/response pair.
pub fn http_events() -> SchemaRef {
    schemas()[0].0.clone()
}

/// The schema rows are stored in: the table's schema without the metadata
/// columns, which are derived from `upid` when the table is read.
pub fn stored(table: &SchemaRef) -> SchemaRef {
    let fields: Vec<_> = table
        .fields()
        .iter()
        .filter(|f| !METADATA_COLUMNS.contains(&f.name().as_str()))
        .cloned()
        .collect();
    Arc::new(Schema::new(fields))
}

/// The stored schema of a table by name (built once).
pub fn stored_table(name: &str) -> Option<SchemaRef> {
    let i = TABLES.iter().position(|t| *t == name)?;
    schemas().get(i).map(|s| s.1.clone())
}

/// The schema of a table by name.
pub fn table(name: &str) -> Option<SchemaRef> {
    let i = TABLES.iter().position(|t| *t == name)?;
    schemas().get(i).map(|s| s.0.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_table_has_the_common_columns_and_metadata() {
        assert_eq!(TABLES.len(), TABLE_DEFS.len());
        for (name, def) in TABLES.iter().zip(TABLE_DEFS) {
            assert_eq!(*name, def.name);
            let s = table(name).unwrap();
            let names: Vec<_> = s.fields().iter().map(|f| f.name().as_str()).collect();
            assert_eq!(&names[..COMMON_COLUMNS.len()], COMMON_COLUMNS);
            assert_eq!(
                names[names.len() - METADATA_COLUMNS.len() - 1],
                "resp_latency"
            );
            assert_eq!(
                &names[names.len() - METADATA_COLUMNS.len()..],
                METADATA_COLUMNS
            );
            let stored = stored_table(name).unwrap();
            assert_eq!(
                stored.fields().len(),
                s.fields().len() - METADATA_COLUMNS.len()
            );
        }
    }
}
