//! The capture file format every protocol's tests and benches read
//! (`testdata/<proto>/*.jsonl`, written by `testdata/capture.py`): one JSON
//! object per line, in capture order,
//!
//! ```text
//! {"dir":"req"|"resp","ts":<monotonic ns>,"b64":"<bytes of one recv()>"}
//! {"close":<monotonic ns>}
//! ```
//!
//! A test-only module of the library, read by each protocol's `capture.rs`
//! as `crate::capture_file`; each bench includes it by `#[path]` as its own
//! `capture_file` module. Not part of the library. The parent module must
//! have `MessageKind` in scope.

use super::MessageKind;

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
