//! Tests of the DNS parser: captured traffic with expected output, hand-written tables for
//! each rule, and properties (split invariance, no panics).

use super::capture::{self, Event};
use super::types::DnsParseError;
use super::*;
use MessageKind::{Request as Q, Response as R};

mod golden;
mod props;
mod tables;

// ---------------------------------------------------------------------------------------
// Message builders (no compression unless a test writes pointers itself).

const A: u16 = 1;
const AAAA: u16 = 28;
const CNAME: u16 = 5;

/// `name` in wire form: "a.b" -> 1 'a' 1 'b' 0; "" and "." -> the root.
fn name_wire(name: &str) -> Vec<u8> {
    let mut v = Vec::new();
    for label in name.split('.').filter(|l| !l.is_empty()) {
        v.push(label.len() as u8);
        v.extend_from_slice(label.as_bytes());
    }
    v.push(0);
    v
}

/// Header bytes.
fn header(id: u16, flags: u16, counts: [u16; 4]) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&id.to_be_bytes());
    v.extend_from_slice(&flags.to_be_bytes());
    for c in counts {
        v.extend_from_slice(&c.to_be_bytes());
    }
    v
}

/// A standard query with RD: `name` `qtype` IN.
fn query(id: u16, name: &str, qtype: u16) -> Vec<u8> {
    let mut v = header(id, 0x0100, [1, 0, 0, 0]);
    v.extend(name_wire(name));
    v.extend_from_slice(&qtype.to_be_bytes());
    v.extend_from_slice(&1u16.to_be_bytes());
    v
}

/// One answer record, class IN, TTL 60.
fn rr(name: &str, rtype: u16, rdata: &[u8]) -> Vec<u8> {
    let mut v = name_wire(name);
    v.extend_from_slice(&rtype.to_be_bytes());
    v.extend_from_slice(&1u16.to_be_bytes());
    v.extend_from_slice(&60u32.to_be_bytes());
    v.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
    v.extend_from_slice(rdata);
    v
}

/// The response to `query(id, name, qtype)` with RA and `rcode`, carrying `answers` (from `rr`).
fn response(id: u16, name: &str, qtype: u16, rcode: u16, answers: &[Vec<u8>]) -> Vec<u8> {
    let mut v = header(id, 0x8180 | rcode, [1, answers.len() as u16, 0, 0]);
    v.extend(name_wire(name));
    v.extend_from_slice(&qtype.to_be_bytes());
    v.extend_from_slice(&1u16.to_be_bytes());
    for a in answers {
        v.extend_from_slice(a);
    }
    v
}

/// `msg` with its TCP length prefix.
fn tcp(msg: &[u8]) -> Vec<u8> {
    let mut v = (msg.len() as u16).to_be_bytes().to_vec();
    v.extend_from_slice(msg);
    v
}

/// A connection plus everything it emitted, driven step by step.
struct Run {
    conn: DnsConnection,
    out: Vec<DnsRecord>,
}

impl Run {
    fn new() -> Self {
        Self::with(DnsConfig::default())
    }

    fn with(cfg: DnsConfig) -> Self {
        Self {
            conn: DnsConnection::new(cfg),
            out: Vec::new(),
        }
    }

    fn udp(&mut self, kind: MessageKind, ts: u64, msg: &[u8]) -> &mut Self {
        self.conn.push_datagram(kind, ts, msg, &mut self.out);
        self
    }

    fn tcp(&mut self, kind: MessageKind, ts: u64, data: &[u8]) -> &mut Self {
        self.conn.push(kind, ts, data, &mut self.out);
        self
    }

    fn gap(&mut self, kind: MessageKind, ts: u64, len: u64) -> &mut Self {
        self.conn.push_gap(kind, ts, len, &mut self.out);
        self
    }

    fn expire(&mut self, now: u64) -> &mut Self {
        self.conn.expire(now, &mut self.out);
        self
    }

    fn close(&mut self, ts: u64) -> &mut Self {
        self.conn.close(ts, &mut self.out);
        self
    }

    fn stats(&self) -> &DnsStats {
        self.conn.stats()
    }

    /// (query name, resp_code, answers) of each record.
    fn rows(&self) -> Vec<(&str, i64, &str)> {
        self.out
            .iter()
            .map(|r| (r.query_name.as_str(), r.resp_code, r.answers.as_str()))
            .collect()
    }

    fn last_error(&self, kind: MessageKind) -> Option<DnsParseError> {
        self.conn.last_error(kind)
    }
}

/// Loads `testdata/dns/<name>.jsonl`.
fn load_case(name: &str) -> Vec<Event> {
    let path = format!("{}/testdata/dns/{name}.jsonl", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    capture::load(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Names of all captured cases.
fn case_names() -> Vec<String> {
    let dir = format!("{}/testdata/dns", env!("CARGO_MANIFEST_DIR"));
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
