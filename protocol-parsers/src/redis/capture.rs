//! Loading and replaying captures from `testdata/redis/*.jsonl`, written by
//! `testdata/capture.py`: one JSON object per line, in capture order,
//!
//! ```text
//! {"dir":"req"|"resp","ts":<monotonic ns>,"b64":"<bytes of one recv()>"}
//! {"close":<monotonic ns>}
//! ```
//!
//! Used by the unit tests and, through `#[path]`, by the `redis` bench; it is not part of the
//! library. The including module must have `RedisConfig`, `RedisConnection`, `RedisRecord`,
//! and `RedisStats` in scope.

use super::{RedisConfig, RedisConnection, RedisRecord, RedisStats};
pub(crate) use crate::capture_file::{Event, load, payload_bytes};

/// Feeds a capture to a fresh connection, one push per captured chunk.
pub(crate) fn replay(events: &[Event], cfg: RedisConfig, out: &mut Vec<RedisRecord>) -> RedisStats {
    let mut conn = RedisConnection::new(cfg);
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
pub(crate) fn render(records: &[RedisRecord], stats: &RedisStats) -> String {
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
        let _ = writeln!(
            s,
            "record {i}: {}{} {} -> {}{} bulk={} latency={latency} ts_ordered={ordered}",
            if r.is_push { "(push) " } else { "" },
            r.req_cmd,
            r.req_args,
            if r.resp_error { "(error) " } else { "" },
            r.resp,
            r.resp_bulk_bytes,
        );
    }
    let _ = writeln!(s, "stats: {stats:?}");
    s
}
