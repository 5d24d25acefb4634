//! Tests of the HTTP/1.x parser: captured traffic with expected output, hand-written tables
//! for each rule, and properties (split invariance, no panics).

use super::capture::{self, Event};
use super::types::HttpParseError;
use super::*;
use MessageKind::{Request as Q, Response as R};

mod golden;
mod props;
mod tables;

/// A connection plus everything it emitted, driven step by step.
struct Run {
    conn: HttpConnection,
    out: Vec<HttpRecord>,
}

impl Run {
    fn new() -> Self {
        Self::with(HttpConfig::default())
    }

    fn with(cfg: HttpConfig) -> Self {
        Self {
            conn: HttpConnection::new(cfg),
            out: Vec::new(),
        }
    }

    fn push(&mut self, kind: MessageKind, ts: u64, data: &[u8]) -> &mut Self {
        self.conn.push(kind, ts, data, &mut self.out);
        self
    }

    fn req(&mut self, ts: u64, data: &[u8]) -> &mut Self {
        self.push(Q, ts, data)
    }

    fn resp(&mut self, ts: u64, data: &[u8]) -> &mut Self {
        self.push(R, ts, data)
    }

    fn gap(&mut self, kind: MessageKind, ts: u64, len: u64) -> &mut Self {
        self.conn.push_gap(kind, ts, len, &mut self.out);
        self
    }

    fn close(&mut self, ts: u64) -> &mut Self {
        self.conn.close(ts, &mut self.out);
        self
    }

    fn stats(&self) -> &HttpStats {
        self.conn.stats()
    }

    fn paths(&self) -> Vec<(&str, &str, u16)> {
        self.out
            .iter()
            .map(|r| (r.req.method.as_str(), r.req.path.as_str(), r.resp.status))
            .collect()
    }

    fn last_error(&self, kind: MessageKind) -> Option<HttpParseError> {
        match kind {
            Q => self.conn.req.last_error(),
            R => self.conn.resp.last_error(),
        }
    }
}

/// Loads `testdata/http/<name>.jsonl`.
fn load_case(name: &str) -> Vec<Event> {
    let path = format!("{}/testdata/http/{name}.jsonl", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    capture::load(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Names of all captured cases.
fn case_names() -> Vec<String> {
    let dir = format!("{}/testdata/http", env!("CARGO_MANIFEST_DIR"));
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{dir}: {e}"))
        .filter_map(|e| {
            e.ok()?
                .file_name()
                .into_string()
                .ok()?
                .strip_suffix(".jsonl")
                .map(str::to_owned)
        })
        .collect();
    names.sort();
    names
}

/// Recycled records give back capacity, never content: a short message after a long one
/// carries only its own fields.
#[test]
fn recycled_records_carry_only_their_own_fields() {
    use super::{HttpConfig, HttpConnection};
    use crate::MessageKind::{Request, Response};
    let long_req = b"POST /long/path HTTP/1.1\r\nHost: a\r\nContent-Type: text/plain\r\nX-A: 1\r\nContent-Length: 2\r\n\r\nhi";
    let long_resp = b"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nX-B: 2\r\nContent-Length: 0\r\n\r\n";
    let short_req = b"GET / HTTP/1.0\r\n\r\n";
    let short_resp = b"HTTP/1.1 204 No Content\r\n\r\n";
    let run = |recycle: bool| {
        let mut c = HttpConnection::new(HttpConfig::default());
        let mut all = Vec::new();
        for i in 0..4u64 {
            let mut out = Vec::new();
            let (q, r): (&[u8], &[u8]) = if i % 2 == 0 {
                (long_req, long_resp)
            } else {
                (short_req, short_resp)
            };
            c.push(Request, 10 * i, q, &mut out);
            c.push(Response, 10 * i + 5, r, &mut out);
            for rec in out {
                all.push(rec.clone());
                if recycle {
                    c.recycle(rec);
                }
            }
        }
        all
    };
    let plain = run(false);
    assert_eq!(plain.len(), 4);
    assert_eq!(run(true), plain);
    assert!(plain[1].req.headers.is_empty() && plain[1].resp.content_type.is_empty());
}
