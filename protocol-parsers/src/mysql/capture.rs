//! Loading and replaying captures from `testdata/mysql/*.jsonl`, written by
//! `testdata/capture.py`: one JSON object per line, in capture order,
//!
//! ```text
//! {"dir":"req"|"resp","ts":<monotonic ns>,"b64":"<bytes of one recv()>"}
//! {"close":<monotonic ns>}
//! ```
//!
//! Used by the unit tests and, through `#[path]`, by the `mysql` bench; it is not part of the
//! library. The including module must have `MysqlConfig`, `MysqlConnection`, `MysqlRecord`,
//! and `MysqlStats` in scope.

use super::{MysqlConfig, MysqlConnection, MysqlRecord, MysqlStats};
pub(crate) use crate::capture_file::{Event, load, payload_bytes};

/// Feeds a capture to a fresh connection, one push per captured chunk.
pub(crate) fn replay(events: &[Event], cfg: MysqlConfig, out: &mut Vec<MysqlRecord>) -> MysqlStats {
    let mut conn = MysqlConnection::new(cfg);
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
pub(crate) fn render(records: &[MysqlRecord], stats: &MysqlStats) -> String {
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
        // STATUS_NONE, STATUS_OK, STATUS_ERROR (literals: the bench includes this file too).
        let status = match r.resp_status {
            1 => "NONE",
            2 => "OK",
            _ => "ERR",
        };
        let _ = writeln!(
            s,
            "record {i}: cmd={:#04x} {:?} -> {status} {:?} rows={} latency={latency} ts_ordered={ordered}",
            r.req_cmd, r.req_body, r.resp_body, r.rows,
        );
    }
    let _ = writeln!(s, "stats: {stats:?}");
    s
}
