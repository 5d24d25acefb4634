//! Recognising where an HTTP/1.x message may start: [`infer`] on a stream's first bytes, and
//! the resynchronisation scan after lost or malformed bytes (`parse.rs`). Both use the same
//! patterns, so a stream that `infer` accepts is one the parser can lock on to.
//!
//! ```text
//! request start  = known-method SP %x21-7E      ; e.g. "GET /", "OPTIONS *"
//!                / "CONNECT" SP (ALPHA / DIGIT / "[")  ; authority-form only
//! response start = "HTTP/1." ("0" / "1") SP 3DIGIT
//! ```
//! At most [`MAX_START_PATTERN`] bytes are looked at.

use super::types::Inference;
use crate::MessageKind;

/// Methods that mark a request start when resynchronising: RFC 9110, PATCH, WebDAV, and the
/// few others that show up in practice. At a message boundary any token is accepted.
pub(crate) const KNOWN_METHODS: &[&[u8]] = &[
    b"GET",
    b"HEAD",
    b"POST",
    b"PUT",
    b"DELETE",
    b"CONNECT",
    b"OPTIONS",
    b"TRACE",
    b"PATCH",
    b"PROPFIND",
    b"PROPPATCH",
    b"MKCOL",
    b"COPY",
    b"MOVE",
    b"LOCK",
    b"UNLOCK",
    b"SEARCH",
    b"REPORT",
    b"MKACTIVITY",
    b"CHECKOUT",
    b"MERGE",
    b"PURGE",
    b"M-SEARCH",
    b"NOTIFY",
    b"SUBSCRIBE",
    b"UNSUBSCRIBE",
];

/// Longest pattern: "MKACTIVITY" / "UNSUBSCRIBE" + SP + one byte, or a 12-byte status start.
pub(crate) const MAX_START_PATTERN: usize = 13;

/// Whether bytes at a position start a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Candidate {
    Yes,
    No,
    /// The bytes are a strict prefix of a start pattern.
    NeedMore,
}

/// Matches `data` against one pattern given as a predicate per position.
fn match_pattern(data: &[u8], len: usize, byte_ok: impl Fn(usize, u8) -> bool) -> Candidate {
    for (i, &b) in data.iter().take(len).enumerate() {
        if !byte_ok(i, b) {
            return Candidate::No;
        }
    }
    if data.len() >= len {
        Candidate::Yes
    } else {
        Candidate::NeedMore
    }
}

fn request_start(data: &[u8]) -> Candidate {
    let Some(&first) = data.first() else {
        return Candidate::NeedMore;
    };
    if !may_start(MessageKind::Request, first) {
        return Candidate::No;
    }
    let mut result = Candidate::No;
    for m in KNOWN_METHODS {
        let len = m.len() + 2;
        // CONNECT's target is authority-form (`host:port`, RFC 9110 §9.3.6):
        // it starts with a host character, which also keeps NATS's
        // `CONNECT {...}` from passing for HTTP.
        let connect = *m == b"CONNECT";
        let c = match_pattern(data, len, |i, b| match m.get(i) {
            Some(&mb) => b == mb,
            None if i == m.len() => b == b' ',
            None if connect => b.is_ascii_alphanumeric() || b == b'[',
            None => (0x21..=0x7e).contains(&b),
        });
        match c {
            Candidate::Yes => return Candidate::Yes,
            Candidate::NeedMore => result = Candidate::NeedMore,
            Candidate::No => {}
        }
    }
    result
}

fn response_start(data: &[u8]) -> Candidate {
    const PREFIX: &[u8; 7] = b"HTTP/1.";
    match_pattern(data, 12, |i, b| match i {
        0..=6 => PREFIX.get(i) == Some(&b),
        7 => b == b'0' || b == b'1',
        8 => b == b' ',
        _ => b.is_ascii_digit(),
    })
}

/// First bytes of [`KNOWN_METHODS`], as a table for the resync scan's fast path.
#[cfg_attr(
    not(test),
    expect(
        clippy::indexing_slicing,
        reason = "evaluated at compile time: a bad index fails the build"
    )
)]
static REQUEST_FIRST_BYTE: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < KNOWN_METHODS.len() {
        t[KNOWN_METHODS[i][0] as usize] = true;
        i += 1;
    }
    t
};

/// Whether `data` starts a message of the given kind.
pub(crate) fn message_start(kind: MessageKind, data: &[u8]) -> Candidate {
    match kind {
        MessageKind::Request => request_start(data),
        MessageKind::Response => response_start(data),
    }
}

/// Whether the byte can begin a message start of the given kind (fast path of the scan).
pub(crate) fn may_start(kind: MessageKind, b: u8) -> bool {
    match kind {
        MessageKind::Request => REQUEST_FIRST_BYTE
            .get(usize::from(b))
            .copied()
            .unwrap_or(false),
        MessageKind::Response => b == b'H',
    }
}

/// Cheap bounded look at the first bytes of a stream: does it start an HTTP/1.x request or
/// response? Looks at no more than 13 bytes and allocates nothing.
///
/// ```
/// use loupe_protocol_parsers::http::{infer, Inference};
/// assert_eq!(infer(b"GET /index.html HTTP/1.1\r\n"), Inference::Request);
/// assert_eq!(infer(b"HTTP/1.1 200 OK\r\n"), Inference::Response);
/// assert_eq!(infer(b"HTTP/1."), Inference::NeedMore);
/// assert_eq!(infer(b"\x16\x03\x01\x02\x00"), Inference::NotHttp);
/// assert_eq!(infer(b"CONNECT example.com:443 HTTP/1.1"), Inference::Request);
/// assert_eq!(infer(b"CONNECT {\"verbose\":false}"), Inference::NotHttp); // NATS
/// ```
pub fn infer(data: &[u8]) -> Inference {
    let data = data.get(..MAX_START_PATTERN).unwrap_or(data);
    match (request_start(data), response_start(data)) {
        (Candidate::Yes, _) => Inference::Request,
        (_, Candidate::Yes) => Inference::Response,
        (Candidate::NeedMore, _) | (_, Candidate::NeedMore) => Inference::NeedMore,
        _ => Inference::NotHttp,
    }
}
