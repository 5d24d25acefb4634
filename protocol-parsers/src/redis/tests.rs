//! Tests of the Redis parser: captured traffic with expected output, hand-written tables for
//! each rule, and properties (split invariance, no panics).

use super::capture::{self, Event};
use super::types::RedisParseError;
use super::*;
use MessageKind::{Request as Q, Response as R};

mod golden;
mod props;
mod tables;

/// A connection plus everything it emitted, driven step by step.
struct Run {
    conn: RedisConnection,
    out: Vec<RedisRecord>,
}

impl Run {
    fn new() -> Self {
        Self::with(RedisConfig::default())
    }

    fn with(cfg: RedisConfig) -> Self {
        Self {
            conn: RedisConnection::new(cfg),
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

    fn stats(&self) -> &RedisStats {
        self.conn.stats()
    }

    /// (req_cmd, req_args, resp) of every record.
    fn triples(&self) -> Vec<(&str, &str, &str)> {
        self.out
            .iter()
            .map(|r| (r.req_cmd.as_str(), r.req_args.as_str(), r.resp.as_str()))
            .collect()
    }

    fn last_error(&self, kind: MessageKind) -> Option<RedisParseError> {
        match kind {
            Q => self.conn.req.last_error(),
            R => self.conn.resp.last_error(),
        }
    }
}

/// `*<n>\r\n` and one bulk string per argument.
fn cmd(args: &[&str]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n{a}\r\n", a.len()).as_bytes());
    }
    out
}

/// Loads `testdata/redis/<name>.jsonl`.
fn load_case(name: &str) -> Vec<Event> {
    let path = format!("{}/testdata/redis/{name}.jsonl", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    capture::load(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Names of all captured cases.
fn case_names() -> Vec<String> {
    let dir = format!("{}/testdata/redis", env!("CARGO_MANIFEST_DIR"));
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
