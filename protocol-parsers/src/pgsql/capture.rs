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
//! `PgsqlStats` and `MessageKind` in scope.

use super::{MessageKind, PgsqlConfig, PgsqlConnection, PgsqlRecord, PgsqlStats};

/// One line of a capture.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Event {
    Data {
        kind: MessageKind,
        ts: u64,
        bytes: Vec<u8>,
    },
    Close {
        ts: u64,
    },
}

/// Parses a `.jsonl` capture.
pub(crate) fn load(text: &str) -> Result<Vec<Event>, String> {
    let mut events = Vec::new();
    for (i, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let err = |what: &str| format!("line {}: {what}", i + 1);
        if let Some(ts) = number_field(line, "close") {
            events.push(Event::Close { ts });
            continue;
        }
        let kind = match string_field(line, "dir") {
            Some("req") => MessageKind::Request,
            Some("resp") => MessageKind::Response,
            _ => return Err(err("no \"dir\"")),
        };
        let ts = number_field(line, "ts").ok_or_else(|| err("no \"ts\""))?;
        let b64 = string_field(line, "b64").ok_or_else(|| err("no \"b64\""))?;
        let bytes = base64_decode(b64).ok_or_else(|| err("bad base64"))?;
        events.push(Event::Data { kind, ts, bytes });
    }
    Ok(events)
}

fn field_start<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let pat = format!("\"{key}\":");
    let at = line.find(&pat)?;
    Some(line.get(at + pat.len()..)?.trim_start())
}

fn number_field(line: &str, key: &str) -> Option<u64> {
    let rest = field_start(line, key)?;
    let end = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    rest.get(..end)?.parse().ok()
}

fn string_field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let rest = field_start(line, key)?.strip_prefix('"')?;
    rest.get(..rest.find('"')?)
}

fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() / 4 * 3);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in s.bytes().filter(|&c| c != b'=') {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

/// Total payload bytes of a capture.
pub(crate) fn payload_bytes(events: &[Event]) -> u64 {
    events
        .iter()
        .map(|e| {
            if let Event::Data { bytes, .. } = e {
                bytes.len() as u64
            } else {
                0
            }
        })
        .sum()
}

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
