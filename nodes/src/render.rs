//! Result tables for people (a table that fits the terminal), for machines
//! (JSON of a stable, documented shape) and for spreadsheets (CSV).

use std::io::Write;

use arrow::array::{Array, AsArray};
use arrow::datatypes::{DataType, Float64Type, Int64Type, TimestampNanosecondType};
use arrow::record_batch::RecordBatch;
use loupe_topology::messages::QueryDone;
use loupe_topology::plan::Sem;
use serde_json::{Map, Value, json};

/// One result table.
pub struct Table {
    pub name: String,
    pub batch: RecordBatch,
    /// What each column means beyond its type (empty: nothing known).
    pub sems: Vec<Sem>,
}

impl Table {
    fn sem(&self, c: usize) -> Sem {
        self.sems.get(c).copied().unwrap_or_default()
    }
}

/// `1536` as `1.5 KiB`.
fn bytes_text(v: f64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut v = v;
    let mut u = 0;
    while v.abs() >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{v:.0} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// ns as `12.3 ms`, `1.5 s`, `850 µs`.
fn duration_text(ns: f64) -> String {
    let a = ns.abs();
    let (v, unit) = if a >= 60e9 {
        (ns / 60e9, "min")
    } else if a >= 1e9 {
        (ns / 1e9, "s")
    } else if a >= 1e6 {
        (ns / 1e6, "ms")
    } else if a >= 1e3 {
        (ns / 1e3, "µs")
    } else {
        (ns, "ns")
    };
    format!("{v:.1} {unit}")
}

/// A number as its semantic type prints it, if it has one.
fn semantic_text(sem: Sem, v: f64) -> Option<String> {
    if !v.is_finite() {
        return None;
    }
    Some(match sem {
        Sem::Percent => format!("{:.1} %", v * 100.0),
        Sem::Bytes => bytes_text(v),
        Sem::DurationNs => duration_text(v),
        Sem::BytesPerNs => format!("{}/s", bytes_text(v * 1e9)),
        Sem::PerNs => format!("{:.1} /s", v * 1e9),
        _ => return None,
    })
}

/// A cell for people: floats to 3 decimals, times as UTC date-times,
/// semantic types in their units.
fn human(t: &Table, c: usize, r: usize) -> String {
    let b = &t.batch;
    let a = b.column(c);
    if a.is_null(r) {
        return String::new();
    }
    let number = match a.data_type() {
        DataType::Float64 => Some(a.as_primitive::<Float64Type>().value(r)),
        DataType::Int64 => Some(a.as_primitive::<Int64Type>().value(r) as f64),
        _ => None,
    };
    if let Some(s) = number.and_then(|v| semantic_text(t.sem(c), v)) {
        return s;
    }
    // A link (px.script_reference): its label.
    if t.sem(c) == Sem::ScriptReference
        && let Some(label) =
            link(a, r).and_then(|l| l.get("label").and_then(Value::as_str).map(str::to_string))
    {
        return label;
    }
    match a.data_type() {
        DataType::Float64 => {
            let v = a.as_primitive::<Float64Type>().value(r);
            let s = format!("{v:.3}");
            let s = s.trim_end_matches('0').trim_end_matches('.');
            if s.is_empty() || s == "-" {
                "0".into()
            } else {
                s.to_string()
            }
        }
        DataType::Timestamp(_, _) => {
            time_text(a.as_primitive::<TimestampNanosecondType>().value(r))
        }
        _ => arrow::util::display::array_value_to_string(a, r).unwrap_or_default(),
    }
}

/// `2026-12-01T07:19:13.123Z` (milliseconds: enough for people).
pub fn time_text(ns: i64) -> String {
    let secs = ns.div_euclid(1_000_000_000);
    let ms = ns.rem_euclid(1_000_000_000) / 1_000_000;
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    // Civil from days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{ms:03}Z",
        sod / 3600,
        (sod % 3600) / 60,
        sod % 60
    )
}

fn numeric(t: &DataType) -> bool {
    matches!(t, DataType::Int64 | DataType::Float64)
}

fn clip(s: &str, w: usize) -> String {
    if s.chars().count() <= w {
        return s.to_string();
    }
    let mut out: String = s.chars().take(w.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// A table no wider than `width` columns of text: long cells are cut with
/// `…`, widest columns first, never below 6 characters.
pub fn table(out: &mut dyn Write, t: &Table, width: usize) -> std::io::Result<()> {
    let b = &t.batch;
    let names: Vec<String> = b
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    let cells: Vec<Vec<String>> = (0..b.num_rows())
        .map(|r| (0..b.num_columns()).map(|c| human(t, c, r)).collect())
        .collect();
    let mut w: Vec<usize> = names.iter().map(|n| n.chars().count()).collect();
    for row in &cells {
        for (i, c) in row.iter().enumerate() {
            w[i] = w[i].max(c.chars().count());
        }
    }
    let total = |w: &[usize]| w.iter().sum::<usize>() + 2 * w.len().saturating_sub(1);
    while total(&w) > width {
        let Some((i, &m)) = w.iter().enumerate().max_by_key(|(_, x)| **x) else {
            break;
        };
        if m <= 6 {
            break;
        }
        w[i] = m - 1;
    }
    writeln!(
        out,
        "{} ({} row{})",
        t.name,
        b.num_rows(),
        if b.num_rows() == 1 { "" } else { "s" }
    )?;
    let right: Vec<bool> = b
        .schema()
        .fields()
        .iter()
        .map(|f| numeric(f.data_type()))
        .collect();
    let line = |vals: &[String]| -> String {
        let mut s = String::new();
        for (i, v) in vals.iter().enumerate() {
            if i > 0 {
                s.push_str("  ");
            }
            let v = clip(v, w[i]);
            let pad = w[i].saturating_sub(v.chars().count());
            if right[i] {
                s.push_str(&" ".repeat(pad));
                s.push_str(&v);
            } else {
                s.push_str(&v);
                if i + 1 < vals.len() {
                    s.push_str(&" ".repeat(pad));
                }
            }
        }
        s
    };
    writeln!(out, "{}", line(&names))?;
    writeln!(
        out,
        "{}",
        line(&w.iter().map(|n| "-".repeat(*n)).collect::<Vec<_>>())
    )?;
    for row in &cells {
        writeln!(out, "{}", line(row))?;
    }
    Ok(())
}

/// A link's JSON (`{"label", "script", "args"}`), if the cell holds one.
fn link(a: &arrow::array::ArrayRef, r: usize) -> Option<Value> {
    let text = arrow::util::display::array_value_to_string(a, r).ok()?;
    let v: Value = serde_json::from_str(&text).ok()?;
    v.get("script").is_some().then_some(v)
}

fn json_cell(t: &Table, c: usize, r: usize) -> Value {
    let b = &t.batch;
    let a = b.column(c);
    if a.is_null(r) {
        return Value::Null;
    }
    // A link: its label, script and arguments as an object.
    if t.sem(c) == Sem::ScriptReference
        && let Some(l) = link(a, r)
    {
        return l;
    }
    match a.data_type() {
        DataType::Int64 => json!(a.as_primitive::<Int64Type>().value(r)),
        DataType::Float64 => {
            let v = a.as_primitive::<Float64Type>().value(r);
            serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number)
        }
        DataType::Boolean => json!(a.as_boolean().value(r)),
        DataType::Timestamp(_, _) => json!(a.as_primitive::<TimestampNanosecondType>().value(r)),
        _ => json!(arrow::util::display::array_value_to_string(a, r).unwrap_or_default()),
    }
}

fn type_name(t: &DataType) -> &'static str {
    loupe_topology::plan::DType::of_arrow(t).map_or("UNKNOWN", |d| d.name())
}

/// The JSON answer: `{"tables": [{"name", "columns", "types", "rows": [{col: value}]}],
/// "nodes": {"answered": [...], "missing": [...]}, "partial": bool, ...}`.
/// Times are ns since the epoch; floats that are not finite are null.
pub fn json_answer(tables: &[Table], done: &QueryDone) -> Value {
    let tables: Vec<Value> = tables
        .iter()
        .map(|t| {
            let b = &t.batch;
            let schema = b.schema();
            let cols: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
            let types: Vec<&str> = schema
                .fields()
                .iter()
                .map(|f| type_name(f.data_type()))
                .collect();
            let rows: Vec<Value> = (0..b.num_rows())
                .map(|r| {
                    let mut m = Map::new();
                    for (c, name) in cols.iter().enumerate() {
                        m.insert(name.to_string(), json_cell(t, c, r));
                    }
                    Value::Object(m)
                })
                .collect();
            let sems: Vec<&str> = (0..cols.len()).map(|c| t.sem(c).name()).collect();
            json!({"name": t.name, "columns": cols, "types": types, "semantic_types": sems, "rows": rows})
        })
        .collect();
    json!({
        "tables": tables,
        "exports": done.exports.iter().map(|x| json!({
            "sink": x.sink,
            "protocol": x.protocol,
            "endpoint": x.endpoint,
            "rows": x.rows,
            "points": x.points,
            "delivered": x.delivered,
            "lost": x.lost,
            "skipped_null": x.skipped,
            "requests": x.requests,
            "retries": x.retries,
            "error": x.error,
        })).collect::<Vec<_>>(),
        "nodes": nodes_json(done),
        "partial": done.partial,
        "metadata_age_ms": done.metadata_age_ms.filter(|a| *a != u64::MAX),
        "planner": done.planner,
        "elapsed_ms": (done.elapsed_ms * 1000.0).round() / 1000.0,
        "transfer": {
            "merge_levels": done.transfer.merge_levels,
            "planner_messages": done.transfer.planner_messages,
            "planner_bytes": done.transfer.planner_bytes,
            "merge_messages": done.transfer.merge_messages,
            "merge_bytes": done.transfer.merge_bytes,
        },
    })
}

/// A bundle's answer: the tables in widget order, each with its widget's
/// display (its kind, the columns it plots, the spec as vis.json has it),
/// a widget that could not run with its error in its place.
pub fn with_widgets(v: &mut Value, widgets: &[crate::script::WidgetOut]) {
    let tables = v
        .get_mut("tables")
        .and_then(Value::as_array_mut)
        .map(std::mem::take)
        .unwrap_or_default();
    let mut out = Vec::new();
    for w in widgets {
        let display = json!({"type": w.kind, "columns": w.columns, "spec": w.spec});
        let mut t = match &w.error {
            Some(e) => json!({"name": w.name, "error": e}),
            None => tables
                .iter()
                .find(|t| t.get("name").and_then(Value::as_str) == Some(w.name.as_str()))
                .cloned()
                .unwrap_or_else(|| json!({"name": w.name, "error": "no table in the answer"})),
        };
        if let Some(o) = t.as_object_mut() {
            o.insert("display".into(), display);
        }
        out.push(t);
    }
    // px.debug's tables, after the widgets'.
    out.extend(tables.into_iter().filter(|t| {
        t.get("name")
            .and_then(Value::as_str)
            .is_some_and(|n| n.starts_with('_'))
    }));
    if let Some(o) = v.as_object_mut() {
        o.insert("tables".into(), Value::Array(out));
    }
}

pub fn nodes_json(done: &QueryDone) -> Value {
    json!({
        "answered": done.answered.iter().map(|r| json!({
            "node": r.node,
            "rows_scanned": r.rows_scanned,
            "exec_ms": (r.exec_ms * 1000.0).round() / 1000.0,
            "dropped": {
                "kernel_records": r.losses.kernel_dropped,
                "mailbox_records": r.losses.mailbox_dropped,
                "gap_bytes": r.losses.gap_bytes,
                "evicted_rows": r.losses.evicted_rows,
                "window_before_retention": r.losses.window_before_retention,
                "window_partly_observed": r.losses.window_partly_observed,
            },
            "clock_skew_ms": r.clock_skew_ms.map(|s| (s * 1000.0).round() / 1000.0),
        })).collect::<Vec<_>>(),
        "missing": done.missing.iter().map(|(n, why)| json!({"node": n, "reason": why})).collect::<Vec<_>>(),
    })
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// CSV, one block per table: `# name`, a header, the rows; blank line between.
pub fn csv(out: &mut dyn Write, tables: &[Table]) -> std::io::Result<()> {
    for (i, t) in tables.iter().enumerate() {
        if i > 0 {
            writeln!(out)?;
        }
        writeln!(out, "# {}", t.name)?;
        let b = &t.batch;
        let names: Vec<String> = b
            .schema()
            .fields()
            .iter()
            .map(|f| csv_field(f.name()))
            .collect();
        writeln!(out, "{}", names.join(","))?;
        for r in 0..b.num_rows() {
            let row: Vec<String> = (0..b.num_columns())
                .map(|c| match json_cell(t, c, r) {
                    Value::Null => String::new(),
                    Value::String(s) => csv_field(&s),
                    v => v.to_string(),
                })
                .collect();
            writeln!(out, "{}", row.join(","))?;
        }
    }
    Ok(())
}

/// How complete the answer is, for people (stderr).
pub fn completeness(done: &QueryDone) -> String {
    let mut s = String::new();
    let names: Vec<&str> = done.answered.iter().map(|r| r.node.as_str()).collect();
    s.push_str(&format!(
        "{} node{} answered ({})",
        names.len(),
        if names.len() == 1 { "" } else { "s" },
        names.join(", ")
    ));
    let rows: u64 = done.answered.iter().map(|r| r.rows_scanned).sum();
    s.push_str(&format!("; {rows} rows scanned; {:.0} ms", done.elapsed_ms));
    let mut l = loupe_topology::messages::Losses::default();
    // Flags are per node, below; the sums are over all of them.
    for r in &done.answered {
        l.add(&r.losses);
    }
    if l.total_records() + l.gap_bytes + l.evicted_rows > 0 {
        s.push_str(&format!(
            "\ndropped upstream in this window: {} records in the kernel ring buffer, {} in full mailboxes, {} bytes of stream gaps, {} rows evicted by retention",
            l.kernel_dropped, l.mailbox_dropped, l.gap_bytes, l.evicted_rows
        ));
    } else {
        s.push_str("; nothing dropped upstream in this window");
    }
    for r in &done.answered {
        if r.losses.window_partly_observed {
            s.push_str(&format!(
                "\nnote: node {} began capturing after this window started: what happened before that was not seen",
                r.node
            ));
        } else if r.losses.window_before_retention {
            s.push_str(&format!(
                "\nnote: node {} no longer holds the start of this window (retention evicted it)",
                r.node
            ));
        }
    }
    for r in &done.answered {
        if let Some(ms) = r
            .clock_skew_ms
            .filter(|m| m.abs() > crate::nodes::SKEW_WARN_MS)
        {
            s.push_str(&format!(
                "\nnote: node {}'s clock is {} off the planner's: its rows' times (and live panes) are off by as much",
                r.node,
                crate::nodes::skew_text(ms)
            ));
        }
    }
    match done.metadata_age_ms {
        Some(u64::MAX) => s.push_str(
            "\nnote: the cluster metadata was never in step with the API server: pod and service names may be missing",
        ),
        Some(ms) if ms > 30_000 => s.push_str(&format!(
            "\nnote: the cluster metadata is {} s old (the API server or NATS is away): names of newer pods and services may be missing",
            ms / 1000
        )),
        _ => {}
    }
    for (n, why) in &done.missing {
        s.push_str(&format!("\nMISSING node {n}: {why}"));
    }
    for x in &done.exports {
        s.push_str(&format!(
            "\nexport {}: {} points of {} rows{} to {} over {}: {} delivered",
            x.sink,
            x.points,
            x.rows,
            if x.skipped > 0 {
                format!(" ({} null values not exported)", x.skipped)
            } else {
                String::new()
            },
            if x.endpoint.is_empty() {
                "-"
            } else {
                &x.endpoint
            },
            if x.protocol.is_empty() {
                "-"
            } else {
                &x.protocol
            },
            x.delivered,
        ));
        if x.lost > 0 || x.error.is_some() {
            s.push_str(&format!(
                "; LOST {} after {} request{} and {} retr{}: {}",
                x.lost,
                x.requests,
                if x.requests == 1 { "" } else { "s" },
                x.retries,
                if x.retries == 1 { "y" } else { "ies" },
                x.error.as_deref().unwrap_or("")
            ));
        }
    }
    if done.partial {
        s.push_str("\nPARTIAL: this answer lacks the missing nodes' data");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_read_as_utc() {
        assert_eq!(time_text(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            time_text(1_750_000_000_123_000_000),
            "2025-06-15T15:06:40.123Z"
        );
    }

    #[test]
    fn csv_quotes_what_needs_it() {
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("plain"), "plain");
    }
}

#[cfg(test)]
mod semantic_tests {
    use super::*;

    #[test]
    fn semantic_types_print_in_their_units() {
        assert_eq!(semantic_text(Sem::Percent, 0.123).unwrap(), "12.3 %");
        assert_eq!(
            semantic_text(Sem::Bytes, 4.5 * 1024.0 * 1024.0).unwrap(),
            "4.5 MiB"
        );
        assert_eq!(semantic_text(Sem::Bytes, 512.0).unwrap(), "512 B");
        assert_eq!(
            semantic_text(Sem::DurationNs, 12_300_000.0).unwrap(),
            "12.3 ms"
        );
        assert_eq!(
            semantic_text(Sem::DurationNs, 850_000.0).unwrap(),
            "850.0 µs"
        );
        assert_eq!(
            semantic_text(Sem::BytesPerNs, 0.001).unwrap(),
            "976.6 KiB/s"
        );
        assert_eq!(semantic_text(Sem::PerNs, 2e-9).unwrap(), "2.0 /s");
        assert!(semantic_text(Sem::None, 1.0).is_none());
        assert!(semantic_text(Sem::Percent, f64::NAN).is_none());
    }
}
