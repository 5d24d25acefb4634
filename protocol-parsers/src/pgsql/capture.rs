//! Loading and replaying captures from `testdata/pgsql/*.jsonl`, written by
//! `testdata/capture.py`: one JSON object per line, in capture order,
//!
//! ```text
//! {"dir":"req"|"resp","ts":<monotonic ns>,"b64":"<bytes of one recv()>"}
//! {"close":<monotonic ns>}
//! ```
//!
//! Used by the unit tests and, through `#[path]`, by the `pgsql` bench; it is not part of the
//! library. The including module must have `PgsqlConfig`, `PgsqlConnection`, `PgsqlRecord`,
//! and `PgsqlStats` in scope.

use super::{PgsqlConfig, PgsqlConnection, PgsqlRecord, PgsqlStats};
pub(crate) use crate::capture_file::{Event, load, payload_bytes};

/// Feeds a capture to a fresh connection, one push per captured chunk.
pub(crate) fn replay(events: &[Event], cfg: PgsqlConfig, out: &mut Vec<PgsqlRecord>) -> PgsqlStats {
    let mut conn = PgsqlConnection::new(cfg);
    for e in events {
        match e {
            Event::Data { kind, ts, bytes } => conn.push(*kind, *ts, bytes, out),
            Event::Close { ts } => conn.close(*ts, out),
        }
    }
    conn.stats().clone()
}

/// Stable text rendering of a replay, for the `.expected` files: no timestamps, only
/// whether each latency is positive and the timestamps are ordered.
pub(crate) fn render(records: &[PgsqlRecord], stats: &PgsqlStats) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    for (i, r) in records.iter().enumerate() {
        let latency = if r.latency_ns() > 0 {
            "positive"
        } else {
            "zero"
        };
        let ordered = r.req_ts_start_ns <= r.req_ts_end_ns
            && r.req_ts_end_ns <= r.resp_ts_start_ns
            && r.resp_ts_start_ns <= r.resp_ts_end_ns;
        let error = if r.resp_status == "ERROR" {
            format!(" [{} {}]", r.error_severity, r.error_code)
        } else {
            String::new()
        };
        let _ = writeln!(
            s,
            "record {i}: {} {:?} -> {}{error} {:?} rows={} copy_bytes={} latency={latency} ts_ordered={ordered}",
            r.req_cmd, r.req_body, r.resp_status, r.resp_body, r.rows, r.copy_bytes,
        );
    }
    let _ = writeln!(s, "stats: {stats:?}");
    s
}
