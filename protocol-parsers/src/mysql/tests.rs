//! Tests of the MySQL parser: captured traffic with expected output, hand-written tables for
//! each rule, and properties (split invariance, no panics).

use super::capture::{self, Event};
use super::*;
use MessageKind::{Request as Q, Response as R};

mod golden;
mod props;
mod tables;

/// A connection plus everything it emitted, driven step by step.
struct Run {
    conn: MysqlConnection,
    out: Vec<MysqlRecord>,
}

impl Run {
    fn new() -> Self {
        Self::with(MysqlConfig::default())
    }

    fn with(cfg: MysqlConfig) -> Self {
        Self {
            conn: MysqlConnection::new(cfg),
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

    fn stats(&self) -> &MysqlStats {
        self.conn.stats()
    }

    /// (req_cmd, req_body, resp_status, resp_body, rows) of every record.
    fn rows(&self) -> Vec<(i64, &str, i64, &str, u64)> {
        self.out
            .iter()
            .map(|r| {
                (
                    r.req_cmd,
                    r.req_body.as_str(),
                    r.resp_status,
                    r.resp_body.as_str(),
                    r.rows,
                )
            })
            .collect()
    }
}

/// One packet: length, sequence id, payload (shorter than 0xFFFFFF).
fn pkt(seq: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = (payload.len() as u32).to_le_bytes()[..3].to_vec();
    out.push(seq);
    out.extend_from_slice(payload);
    out
}

/// A payload of any length, split into packets of 0xFFFFFF bytes as the protocol does.
fn payload(seq: u8, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut seq = seq;
    let mut rest = data;
    loop {
        let n = rest.len().min(0xFF_FFFF);
        let (head, tail) = rest.split_at(n);
        out.extend(pkt(seq, head));
        seq = seq.wrapping_add(1);
        rest = tail;
        if n < 0xFF_FFFF {
            return out;
        }
    }
}

fn com(cmd: u8, args: &[u8]) -> Vec<u8> {
    let mut b = vec![cmd];
    b.extend_from_slice(args);
    pkt(0, &b)
}

fn query(sql: &str) -> Vec<u8> {
    com(0x03, sql.as_bytes())
}

/// OK: affected rows, insert id, status flags, no warnings.
fn ok(seq: u8, affected: u8, status: u16) -> Vec<u8> {
    let mut b = vec![0x00, affected, 0];
    b.extend_from_slice(&status.to_le_bytes());
    b.extend_from_slice(&[0, 0]);
    pkt(seq, &b)
}

fn err(seq: u8, code: u16, state: &str, msg: &str) -> Vec<u8> {
    let mut b = vec![0xff];
    b.extend_from_slice(&code.to_le_bytes());
    b.push(b'#');
    b.extend_from_slice(state.as_bytes());
    b.extend_from_slice(msg.as_bytes());
    pkt(seq, &b)
}

fn eof(seq: u8, status: u16) -> Vec<u8> {
    let mut b = vec![0xfe, 0, 0];
    b.extend_from_slice(&status.to_le_bytes());
    pkt(seq, &b)
}

/// OK-as-EOF terminator (CLIENT_DEPRECATE_EOF).
fn ok_eof(seq: u8, status: u16) -> Vec<u8> {
    let mut b = vec![0xfe, 0, 0];
    b.extend_from_slice(&status.to_le_bytes());
    b.extend_from_slice(&[0, 0]);
    pkt(seq, &b)
}

fn coldef(seq: u8) -> Vec<u8> {
    pkt(
        seq,
        b"\x03def\x03app\x01t\x01t\x01a\x01a\x0c\x3f\x00\x0b\x00\x00\x00\x03\x00\x00\x00\x00\x00",
    )
}

/// A text result set of `cols` columns and `rows` rows, starting at sequence id 1;
/// `deprecate_eof` drops the EOF after the definitions and ends with OK-as-EOF.
fn result_set(cols: u8, rows: usize, deprecate_eof: bool, status: u16) -> Vec<u8> {
    let mut seq = 1;
    let mut out = pkt(seq, &[cols]);
    for _ in 0..cols {
        seq += 1;
        out.extend(coldef(seq));
    }
    if !deprecate_eof {
        seq += 1;
        out.extend(eof(seq, 2));
    }
    for _ in 0..rows {
        seq = seq.wrapping_add(1);
        out.extend(pkt(seq, b"\x011"));
    }
    seq = seq.wrapping_add(1);
    out.extend(if deprecate_eof {
        ok_eof(seq, status)
    } else {
        eof(seq, status)
    });
    out
}

/// A server greeting with the given capability flags.
fn greeting(caps: u32) -> Vec<u8> {
    let mut b = vec![0x0a];
    b.extend_from_slice(b"5.5.5-10.11.6-MariaDB\0");
    b.extend_from_slice(&7u32.to_le_bytes());
    b.extend_from_slice(b"abcdefgh\0");
    b.extend_from_slice(&(caps as u16).to_le_bytes());
    b.push(45);
    b.extend_from_slice(&2u16.to_le_bytes());
    b.extend_from_slice(&((caps >> 16) as u16).to_le_bytes());
    b.push(21);
    b.extend_from_slice(&[0; 10]);
    b.extend_from_slice(b"ijklmnopqrst\0mysql_native_password\0");
    pkt(0, &b)
}

/// A HandshakeResponse41 with user, password bytes and database.
fn handshake_response(caps: u32, password: &[u8]) -> Vec<u8> {
    let mut b = caps.to_le_bytes().to_vec();
    b.extend_from_slice(&(1u32 << 24).to_le_bytes());
    b.push(45);
    b.extend_from_slice(&[0; 23]);
    b.extend_from_slice(b"root\0");
    b.push(password.len() as u8);
    b.extend_from_slice(password);
    b.extend_from_slice(b"app\0mysql_native_password\0");
    pkt(1, &b)
}

const CAPS: u32 = 0x0200 | 0x8000 | 0x0001_0000 | 0x0002_0000 | 0x0008_0000;
const CAPS_DEPRECATE_EOF: u32 = CAPS | 0x0100_0000;

/// Loads `testdata/mysql/<name>.jsonl`.
fn load_case(name: &str) -> Vec<Event> {
    let path = format!("{}/testdata/mysql/{name}.jsonl", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    capture::load(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Names of all captured cases.
fn case_names() -> Vec<String> {
    let dir = format!("{}/testdata/mysql", env!("CARGO_MANIFEST_DIR"));
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
