//! Loading and replaying captures from `testdata/http/*.jsonl`, written by
//! `testdata/capture.py`: one JSON object per line, in capture order,
//!
//! ```text
//! {"dir":"req"|"resp","ts":<monotonic ns>,"b64":"<bytes of one recv()>"}
//! {"close":<monotonic ns>}
//! ```
//!
//! Used by the unit tests and, through `#[path]`, by the `http` bench; it is not part of the
//! library. The including module must have `HttpConfig`, `HttpConnection`, `HttpRecord`,
//! and `HttpStats` in scope.

use super::{HttpConfig, HttpConnection, HttpRecord, HttpStats};
pub(crate) use crate::capture_file::{Event, load, payload_bytes};

/// Feeds a capture to a fresh connection, one push per captured chunk.
pub(crate) fn replay(events: &[Event], cfg: HttpConfig, out: &mut Vec<HttpRecord>) -> HttpStats {
    let mut conn = HttpConnection::new(cfg);
    for e in events {
        match e {
            Event::Data { kind, ts, bytes } => conn.push(*kind, *ts, bytes, out),
            Event::Close { ts } => conn.close(*ts, out),
        }
    }
    conn.stats().clone()
}

/// Stable text rendering of a replay, for the `.expected` files: no timestamps, only
/// whether each latency is positive.
pub(crate) fn render(records: &[HttpRecord], stats: &HttpStats) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    for (i, r) in records.iter().enumerate() {
        let (q, p) = (&r.req, &r.resp);
        let latency = if r.latency_ns() > 0 {
            "positive"
        } else {
            "zero"
        };
        let ordered = q.ts_start_ns <= q.ts_end_ns
            && p.ts_start_ns <= p.ts_end_ns
            && q.ts_start_ns <= p.ts_start_ns;
        let _ = writeln!(
            s,
            "record {i}: {} {} HTTP/1.{} headers={} body={} content_type={:?} -> {} {:?} HTTP/1.{} headers={} body={}{} content_type={:?} latency={latency} ts_ordered={ordered}",
            q.method,
            q.path,
            q.minor_version,
            q.headers.len(),
            q.body_size,
            q.content_type,
            p.status,
            p.reason,
            p.minor_version,
            p.headers.len(),
            p.body_size,
            if p.body_gap { " (gap)" } else { "" },
            p.content_type,
        );
    }
    let _ = writeln!(s, "stats: {stats:?}");
    s
}
