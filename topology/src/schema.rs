//! Table schemas (Pixie's names and columns, see shared/TABLES.md), as Arrow
//! schemas. Repeating strings (metadata, method, content type) are
//! dictionary-encoded.

use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use std::sync::{Arc, OnceLock};

pub const HTTP_EVENTS: &str = "http_events";

/// Tables this build knows.
pub const TABLES: &[&str] = &[HTTP_EVENTS];

fn dict() -> DataType {
    DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8))
}

/// `http_events`: one row per HTTP/1.x request/response pair.
pub fn http_events() -> SchemaRef {
    static S: OnceLock<SchemaRef> = OnceLock::new();
    S.get_or_init(|| {
        let ts = DataType::Timestamp(TimeUnit::Nanosecond, None);
        use DataType::{Boolean, Int64, Utf8};
        Arc::new(Schema::new(vec![
            Field::new("time_", ts, false),
            Field::new("upid", dict(), false),
            Field::new("remote_addr", Utf8, false),
            Field::new("remote_port", Int64, false),
            Field::new("local_addr", Utf8, false),
            Field::new("local_port", Int64, false),
            Field::new("trace_role", Int64, false),
            Field::new("encrypted", Boolean, false),
            Field::new("major_version", Int64, false),
            Field::new("minor_version", Int64, false),
            Field::new("content_type", dict(), false),
            Field::new("req_headers", Utf8, false),
            Field::new("req_method", dict(), false),
            Field::new("req_path", Utf8, false),
            Field::new("req_body", Utf8, false),
            Field::new("req_body_size", Int64, false),
            Field::new("resp_headers", Utf8, false),
            Field::new("resp_status", Int64, false),
            Field::new("resp_message", dict(), false),
            Field::new("resp_body", Utf8, false),
            Field::new("resp_body_size", Int64, false),
            Field::new("resp_latency", Int64, false),
            // Metadata (host mode: from /proc; in Kubernetes: from the API).
            // Not stored per row: derived from `upid` when a table is read.
            Field::new("node", dict(), false),
            Field::new("pid", Int64, false),
            Field::new("cmdline", dict(), false),
            Field::new("container", dict(), false),
            Field::new("namespace", dict(), false),
            Field::new("service", dict(), false),
            Field::new("pod", dict(), false),
        ]))
    })
    .clone()
}

/// Columns every table answers from `upid` (process metadata), in order.
pub const METADATA_COLUMNS: &[&str] = &[
    "node",
    "pid",
    "cmdline",
    "container",
    "namespace",
    "service",
    "pod",
];

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

/// The schema of a table by name.
pub fn table(name: &str) -> Option<SchemaRef> {
    match name {
        HTTP_EVENTS => Some(http_events()),
        _ => None,
    }
}
