//! Tests of the PostgreSQL parser: captured traffic with expected output, hand-written tables
//! for each rule, and properties (split invariance, no panics).

use super::capture::{self, Event};
use super::types::PgsqlParseError;
use super::*;
use MessageKind::{Request as Q, Response as R};

mod golden;
mod props;
mod tables;

/// A connection plus everything it emitted, driven step by step.
struct Run {
    conn: PgsqlConnection,
    out: Vec<PgsqlRecord>,
}

impl Run {
    fn new() -> Self {
        Self::with(PgsqlConfig::default())
    }

    fn with(cfg: PgsqlConfig) -> Self {
        Self {
            conn: PgsqlConnection::new(cfg),
            out: Vec::new(),
        }
    }

    fn req(&mut self, ts: u64, data: &[u8]) -> &mut Self {
        self.conn.push(Q, ts, data, &mut self.out);
        self
    }

    fn resp(&mut self, ts: u64, data: &[u8]) -> &mut Self {
        self.conn.push(R, ts, data, &mut self.out);
        self
    }

    fn gap(&mut self, kind: MessageKind, ts: u64, len: u64) -> &mut Self {
        self.conn.push_gap(kind, ts, len, &mut self.out);
        self
    }

    fn close(&mut self, ts: u64) -> &mut Self {
        self.conn.close(ts, &mut self.out);
        self
    }

    fn stats(&self) -> &PgsqlStats {
        self.conn.stats()
    }

    /// (req_cmd, req_body, resp_status, resp_body, rows) of every record.
    fn rows(&self) -> Vec<(&str, &str, &str, &str, u64)> {
        self.out
            .iter()
            .map(|r| {
                (
                    r.req_cmd.as_str(),
                    r.req_body.as_str(),
                    r.resp_status.as_str(),
                    r.resp_body.as_str(),
                    r.rows,
                )
            })
            .collect()
    }

    fn last_error(&self, kind: MessageKind) -> Option<PgsqlParseError> {
        match kind {
            Q => self.conn.req.last_error(),
            R => self.conn.resp.last_error(),
        }
    }
}

/// A typed message: type byte, length, body.
fn msg(ty: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![ty];
    out.extend_from_slice(&(body.len() as u32 + 4).to_be_bytes());
    out.extend_from_slice(body);
    out
}

/// A NUL-terminated string.
fn z(s: &str) -> Vec<u8> {
    let mut v = s.as_bytes().to_vec();
    v.push(0);
    v
}

/// A startup packet with the given code and body.
fn startup(code: u32, body: &[u8]) -> Vec<u8> {
    let mut out = (body.len() as u32 + 8).to_be_bytes().to_vec();
    out.extend_from_slice(&code.to_be_bytes());
    out.extend_from_slice(body);
    out
}

fn query(sql: &str) -> Vec<u8> {
    msg(b'Q', &z(sql))
}

fn parse(name: &str, sql: &str) -> Vec<u8> {
    let mut b = z(name);
    b.extend(z(sql));
    b.extend_from_slice(&0u16.to_be_bytes());
    msg(b'P', &b)
}

/// Bind with text parameters.
fn bind(portal: &str, stmt: &str, params: &[&str]) -> Vec<u8> {
    let mut b = z(portal);
    b.extend(z(stmt));
    b.extend_from_slice(&0u16.to_be_bytes());
    b.extend_from_slice(&(params.len() as u16).to_be_bytes());
    for p in params {
        b.extend_from_slice(&(p.len() as u32).to_be_bytes());
        b.extend_from_slice(p.as_bytes());
    }
    b.extend_from_slice(&0u16.to_be_bytes());
    msg(b'B', &b)
}

fn describe(which: u8, name: &str) -> Vec<u8> {
    let mut b = vec![which];
    b.extend(z(name));
    msg(b'D', &b)
}

fn execute(portal: &str) -> Vec<u8> {
    let mut b = z(portal);
    b.extend_from_slice(&0u32.to_be_bytes());
    msg(b'E', &b)
}

fn sync() -> Vec<u8> {
    msg(b'S', b"")
}

fn complete(tag: &str) -> Vec<u8> {
    msg(b'C', &z(tag))
}

fn ready() -> Vec<u8> {
    msg(b'Z', b"I")
}

fn data_row() -> Vec<u8> {
    msg(b'D', b"\x00\x01\x00\x00\x00\x01x")
}

fn error(code: &str, text: &str) -> Vec<u8> {
    let mut b = b"SERROR\0VERROR\0C".to_vec();
    b.extend(z(code));
    b.push(b'M');
    b.extend(z(text));
    b.push(0);
    msg(b'E', &b)
}

/// Loads `testdata/pgsql/<name>.jsonl`.
fn load_case(name: &str) -> Vec<Event> {
    let path = format!("{}/testdata/pgsql/{name}.jsonl", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    capture::load(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Names of all captured cases.
fn case_names() -> Vec<String> {
    let dir = format!("{}/testdata/pgsql", env!("CARGO_MANIFEST_DIR"));
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
