//! The table registry: every table a script can read, its columns and
//! types (Pixie's names, see shared/TABLES.md), as Arrow schemas. Repeating
//! strings (metadata, method, content type) are dictionary-encoded.
//!
//! One list, [`TABLE_DEFS`], names every table: protocol tables (one row per
//! request, the connection columns first and `resp_latency` last) and
//! sampled tables (one row per thing per sample: `conn_stats`,
//! `process_stats`, `network_stats`). A table whose rows name a process by
//! `upid` answers the metadata columns (`node`, `pod`, ...) too, derived from
//! the upid when read, never stored. Adding a table is one entry here and its
//! producer on the agent (a protocol's glue module, or a file of
//! `actors/src/tables/` with its line in `SAMPLERS`).

use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use std::sync::{Arc, OnceLock};

pub const HTTP_EVENTS: &str = "http_events";
pub const PGSQL_EVENTS: &str = "pgsql_events";
pub const MYSQL_EVENTS: &str = "mysql_events";
pub const DNS_EVENTS: &str = "dns_events";
pub const REDIS_EVENTS: &str = "redis_events";
pub const CONN_STATS: &str = "conn_stats";
pub const PROCESS_STATS: &str = "process_stats";
pub const NETWORK_STATS: &str = "network_stats";

/// A column's type, as TABLES.md writes it. `Dict` is a STRING stored
/// dictionary-encoded (values that repeat); `Time` is `time_`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Col {
    Time,
    Int,
    Str,
    Dict,
    Bool,
}

type Cols = &'static [(&'static str, Col)];

/// What a table's rows are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// One row per request/response of a traced protocol, written as the
    /// parser completes them.
    Protocol,
    /// One row per thing (process, connection group, network namespace)
    /// per sample, holding cumulative counters and gauges.
    Sampled,
}

/// A table: its name, its stored columns (groups, in order) and whether its
/// rows name a process (`upid`), which brings the metadata columns.
pub struct TableDef {
    pub name: &'static str,
    pub kind: Kind,
    pub columns: &'static [Cols],
    pub process_metadata: bool,
    /// Most of the agent's store this table may hold, in percent: a sampled
    /// table that grows with connections or processes never pushes the
    /// requests out.
    pub store_percent: u8,
    /// One line for `loupe tables`.
    pub doc: &'static str,
}

/// Columns every protocol table starts with, in order.
const CONN: Cols = &[
    ("time_", Col::Time),
    ("upid", Col::Dict),
    ("remote_addr", Col::Str),
    ("remote_port", Col::Int),
    ("local_addr", Col::Str),
    ("local_port", Col::Int),
    ("trace_role", Col::Int),
    ("encrypted", Col::Bool),
];
const LATENCY: Cols = &[("resp_latency", Col::Int)];

const HTTP: Cols = &[
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
];
const PGSQL: Cols = &[
    ("req_cmd", Col::Dict),
    ("req_body", Col::Str),
    ("resp_body", Col::Str),
    ("resp_status", Col::Dict),
    ("rows", Col::Int),
];
const MYSQL: Cols = &[
    ("req_cmd", Col::Int),
    ("req_body", Col::Str),
    ("resp_status", Col::Int),
    ("resp_body", Col::Str),
    ("rows", Col::Int),
];
const DNS: Cols = &[
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
];
const REDIS: Cols = &[
    ("req_cmd", Col::Dict),
    ("req_args", Col::Str),
    ("resp", Col::Str),
];

/// `conn_stats`: per (process, remote endpoint, role), cumulative since
/// tracing began; produced by `actors/src/tables/conn_stats.rs`.
const CONN_STATS_COLS: Cols = &[
    ("time_", Col::Time),
    ("upid", Col::Dict),
    ("remote_addr", Col::Dict),
    ("remote_port", Col::Int),
    ("trace_role", Col::Int),
    ("addr_family", Col::Int),
    ("protocol", Col::Int),
    ("ssl", Col::Bool),
    ("conn_open", Col::Int),
    ("conn_close", Col::Int),
    ("conn_active", Col::Int),
    ("bytes_sent", Col::Int),
    ("bytes_recv", Col::Int),
    ("retransmits", Col::Int),
    ("resets_sent", Col::Int),
    ("resets_received", Col::Int),
    ("lost_bytes", Col::Int),
];

/// `process_stats`: per process, from `/proc/PID/stat` and `/proc/PID/io`;
/// produced by `actors/src/tables/process_stats.rs`.
const PROCESS_STATS_COLS: Cols = &[
    ("time_", Col::Time),
    ("upid", Col::Dict),
    ("major_faults", Col::Int),
    ("minor_faults", Col::Int),
    ("cpu_utime_ns", Col::Int),
    ("cpu_ktime_ns", Col::Int),
    ("num_threads", Col::Int),
    ("vsize_bytes", Col::Int),
    ("rss_bytes", Col::Int),
    ("rchar_bytes", Col::Int),
    ("wchar_bytes", Col::Int),
    ("read_bytes", Col::Int),
    ("write_bytes", Col::Int),
];

/// `network_stats`: per network namespace (a pod's), from
/// `/proc/PID/net/dev`; produced by `actors/src/tables/network_stats.rs`.
const NETWORK_STATS_COLS: Cols = &[
    ("time_", Col::Time),
    ("pod_id", Col::Dict),
    ("rx_bytes", Col::Int),
    ("rx_packets", Col::Int),
    ("rx_errors", Col::Int),
    ("rx_drops", Col::Int),
    ("tx_bytes", Col::Int),
    ("tx_packets", Col::Int),
    ("tx_errors", Col::Int),
    ("tx_drops", Col::Int),
];

const fn protocol(name: &'static str, columns: &'static [Cols], doc: &'static str) -> TableDef {
    TableDef {
        name,
        kind: Kind::Protocol,
        columns,
        process_metadata: true,
        store_percent: 100,
        doc,
    }
}

const fn sampled(
    name: &'static str,
    columns: &'static [Cols],
    process_metadata: bool,
    store_percent: u8,
    doc: &'static str,
) -> TableDef {
    TableDef {
        name,
        kind: Kind::Sampled,
        columns,
        process_metadata,
        store_percent,
        doc,
    }
}

/// Every table this build knows, in the order `loupe tables` lists them.
pub const TABLE_DEFS: &[TableDef] = &[
    protocol(
        HTTP_EVENTS,
        &[CONN, HTTP, LATENCY],
        "HTTP/1.x requests and responses",
    ),
    protocol(
        PGSQL_EVENTS,
        &[CONN, PGSQL, LATENCY],
        "PostgreSQL statements",
    ),
    protocol(
        MYSQL_EVENTS,
        &[CONN, MYSQL, LATENCY],
        "MySQL/MariaDB commands",
    ),
    protocol(DNS_EVENTS, &[CONN, DNS, LATENCY], "DNS queries and answers"),
    protocol(REDIS_EVENTS, &[CONN, REDIS, LATENCY], "Redis commands"),
    sampled(
        CONN_STATS,
        &[CONN_STATS_COLS],
        true,
        25,
        "connections per process, remote endpoint and role: opens, closes, bytes, retransmits, resets (cumulative, sampled every second)",
    ),
    sampled(
        PROCESS_STATS,
        &[PROCESS_STATS_COLS],
        true,
        15,
        "CPU, memory and I/O per process (cumulative counters and gauges, sampled every second)",
    ),
    sampled(
        NETWORK_STATS,
        &[NETWORK_STATS_COLS],
        false,
        5,
        "network interface counters per pod (network namespace), sampled every second",
    ),
];

/// Names of [`TABLE_DEFS`], in order.
/// Pixie's tables Loupe does not capture yet, and what they hold: a
/// script reading one is refused at compile time saying so, not with
/// "unknown table".
pub const NOT_CAPTURED: &[(&str, &str)] = &[
    ("kafka_events.beta", "Kafka requests"),
    ("cql_events", "Cassandra (CQL) requests"),
    ("amqp_events", "AMQP messages"),
    ("mongodb_events", "MongoDB requests"),
    ("nats_events.beta", "NATS messages"),
    ("mux_events", "Finagle Mux requests"),
    ("jvm_stats", "JVM memory and GC statistics"),
    ("stack_traces.beta", "CPU profiles (stack traces)"),
    ("http2_messages.beta", "HTTP/2 and gRPC messages"),
    ("proc_exit_events", "process exits"),
    ("tcp_stats", "TCP statistics"),
    (
        "stirling_error",
        "Pixie's data collector's own errors (Loupe's are `loupe nodes` and `loupe check`)",
    ),
    (
        "probe_status",
        "Pixie's probe states (Loupe's are `loupe check`)",
    ),
];

pub const TABLES: &[&str] = &[
    HTTP_EVENTS,
    PGSQL_EVENTS,
    MYSQL_EVENTS,
    DNS_EVENTS,
    REDIS_EVENTS,
    CONN_STATS,
    PROCESS_STATS,
    NETWORK_STATS,
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

/// Columns every table with a `upid` answers from it (process metadata), in order.
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

fn data_type(col: Col) -> DataType {
    match col {
        Col::Time => DataType::Timestamp(TimeUnit::Nanosecond, None),
        Col::Int => DataType::Int64,
        Col::Str => DataType::Utf8,
        Col::Dict => dict(),
        Col::Bool => DataType::Boolean,
    }
}

fn build(def: &TableDef) -> SchemaRef {
    let mut fields: Vec<Field> = def
        .columns
        .iter()
        .flat_map(|g| g.iter())
        .map(|(name, col)| Field::new(*name, data_type(*col), false))
        .collect();
    if def.process_metadata {
        // Metadata (host mode: from /proc; in Kubernetes: from the API).
        // Not stored per row: derived from `upid` when a table is read.
        fields.push(Field::new("node", dict(), false));
        fields.push(Field::new("pid", DataType::Int64, false));
        for m in &METADATA_COLUMNS[2..] {
            fields.push(Field::new(*m, dict(), false));
        }
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
                let stored = if d.process_metadata {
                    stored(&full)
                } else {
                    full.clone()
                };
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

/// The registry index of table `name`.
pub fn index_of(name: &str) -> Option<usize> {
    TABLES.iter().position(|t| *t == name)
}

/// The definition of table `name`.
pub fn def(name: &str) -> Option<&'static TableDef> {
    index_of(name).map(|i| &TABLE_DEFS[i])
}

/// The stored schema of a table by name (built once).
pub fn stored_table(name: &str) -> Option<SchemaRef> {
    schemas().get(index_of(name)?).map(|s| s.1.clone())
}

/// The schema of a table by name.
pub fn table(name: &str) -> Option<SchemaRef> {
    schemas().get(index_of(name)?).map(|s| s.0.clone())
}

/// Whether `column` of `table` is derived from the row's process.
/// What a stored column means beyond its type: latencies and CPU times
/// are durations, sizes and byte counters are bytes.
pub fn semantic(table: &str, column: &str) -> crate::plan::Sem {
    use crate::plan::Sem;
    if def(table).is_none() {
        return Sem::None;
    }
    match column {
        "resp_latency" | "cpu_utime_ns" | "cpu_ktime_ns" => Sem::DurationNs,
        "req_body_size" | "resp_body_size" | "bytes_sent" | "bytes_recv" | "lost_bytes"
        | "rss_bytes" | "vsize_bytes" | "rchar_bytes" | "wchar_bytes" | "read_bytes"
        | "write_bytes" | "rx_bytes" | "tx_bytes" => Sem::Bytes,
        _ => Sem::None,
    }
}

pub fn is_metadata(table: &str, column: &str) -> bool {
    def(table).is_some_and(|d| d.process_metadata) && METADATA_COLUMNS.contains(&column)
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
            assert_eq!(s.field(0).name(), "time_", "{name}");
            if def.kind != Kind::Protocol {
                let names: Vec<_> = s.fields().iter().map(|f| f.name().as_str()).collect();
                assert_eq!(names.contains(&"upid"), def.process_metadata, "{name}");
                assert!(def.store_percent > 0 && def.store_percent <= 100);
                continue;
            }
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
