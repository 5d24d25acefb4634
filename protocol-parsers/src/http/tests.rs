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
