//! HTTP/1.0 and HTTP/1.1: turns the two byte streams of a connection, as captured by the
//! kernel probes, into request/response records.
//!
//! # What it does
//! [`HttpConnection`] holds one parser per direction and a stitcher. Feed it the bytes of each
//! direction in capture order with [`HttpConnection::push`], report lost bytes with
//! [`HttpConnection::push_gap`], and it appends an [`HttpRecord`] for each request that got its
//! final response. It handles keep-alive and pipelining (responses pair with the oldest
//! pending request, as HTTP/1.x answers in order), Content-Length, chunked bodies (extensions
//! and trailers are skipped), bodiless responses (HEAD, 1xx, 204, 304), read-until-close
//! responses (completed by [`HttpConnection::close`]), `Expect: 100-continue` (the 100 is
//! counted as interim, the final response is stitched) and protocol switches (101, 2xx to
//! CONNECT: the record is emitted, then [`HttpConnection::is_upgraded`] and the rest of the
//! connection is ignored). Request/status lines and header fields are parsed by httparse.
//!
//! Splitting the bytes differently across `push` calls never changes the records or counters:
//! every decision depends only on the byte sequence. Bodies are counted, not buffered; only
//! the first [`HttpConfig::keep_body_prefix`] bytes are copied.
//!
//! # Latency
//! [`HttpRecord::latency_ns`] is the last response byte minus the first request byte: the
//! timestamp of the push that carried the response's last byte minus that of the push that
//! carried the request's first byte. Callers pass the kernel monotonic timestamp
//! (`bpf_ktime_get_ns`) of the syscall that moved the bytes, so the latency includes the
//! server's time and the transfer of both messages as seen by the traced process.
//!
//! # Losses and limits
//! Everything the wire controls is bounded: header fields per message
//! ([`HttpConfig::max_headers`]), head and trailer bytes ([`HttpConfig::max_header_bytes`]),
//! start line (8 KiB), chunk-size line (4 KiB, 16 hex digits), pending requests
//! ([`HttpConfig::max_pending`]). Lengths use checked or saturating arithmetic; no input
//! panics. A gap inside a body of known extent (Content-Length, chunk data, read-until-close)
//! is skipped and counted in the body (`body_gap`); a gap that ends a Content-Length body
//! completes that message and the rest of the gap is treated as lost framing. Any other gap,
//! and any malformed head, drops the message in progress and makes the parser scan for the
//! next plausible message start (a known method and a space, or `HTTP/1.x` and a status
//! code). When the response stream loses sync, requests waiting at that moment are dropped as
//! unanswered, since their responses may have been lost. All of it is counted in
//! [`HttpStats`].
//!
//! # Example
//! ```
//! use loupe_protocol_parsers::MessageKind;
//! use loupe_protocol_parsers::http::{HttpConfig, HttpConnection};
//!
//! let mut conn = HttpConnection::new(HttpConfig::default());
//! let mut out = Vec::new();
//! conn.push(MessageKind::Request, 1_000, b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n", &mut out);
//! conn.push(MessageKind::Response, 5_000, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi", &mut out);
//! assert_eq!(out.len(), 1);
//! assert_eq!(out[0].req.path, "/a");
//! assert_eq!(out[0].resp.body_size, 2);
//! assert_eq!(out[0].latency_ns(), 4_000);
//! ```
#![cfg_attr(
    not(test),
    deny(
        clippy::indexing_slicing,
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic
    )
)]

mod head;
mod infer;
mod parse;
mod stitch;
mod types;

#[cfg(test)]
mod capture;
#[cfg(test)]
mod tests;

pub use infer::infer;
pub use types::{HttpConfig, HttpMessage, HttpRecord, HttpStats, Inference};

use crate::MessageKind;
use parse::{Sink, StreamParser};
use stitch::Stitcher;

/// Both directions of one HTTP/1.x connection, and the pairing of requests with responses.
///
/// See the [module documentation](self) for the semantics.
#[derive(Debug)]
pub struct HttpConnection {
    req: StreamParser,
    resp: StreamParser,
    stitch: Stitcher,
    stats: HttpStats,
}

impl HttpConnection {
    /// A connection with no bytes seen yet.
    pub fn new(cfg: HttpConfig) -> Self {
        Self {
            req: StreamParser::new(MessageKind::Request, &cfg),
            resp: StreamParser::new(MessageKind::Response, &cfg),
            stitch: Stitcher::new(cfg.max_pending),
            stats: HttpStats::default(),
        }
    }

    /// Bytes of one stream, observed at kernel time `ts_ns` (monotonic ns). Appends completed
    /// request/response pairs to `out`.
    ///
    /// Bytes of the two streams must be pushed in the order they were captured, so that a
    /// request is pushed before the response that answers it.
    pub fn push(&mut self, kind: MessageKind, ts_ns: u64, data: &[u8], out: &mut Vec<HttpRecord>) {
        if self.stitch.upgraded {
            return;
        }
        let mut sink = Sink {
            stitch: &mut self.stitch,
            stats: &mut self.stats,
            out,
        };
        match kind {
            MessageKind::Request => self.req.push(ts_ns, data, &mut sink),
            MessageKind::Response => self.resp.push(ts_ns, data, &mut sink),
        }
    }

    /// `len` bytes of that stream are missing (not captured past a size cap, or lost).
    ///
    /// Inside a body of known extent they are skipped (`body_size` counts them, `body_gap` is
    /// set, [`HttpStats::gap_bytes_skipped`]); otherwise the message in progress is dropped
    /// ([`HttpStats::messages_lost_to_gaps`]) and the parser resynchronises at the next message
    /// start it finds.
    pub fn push_gap(&mut self, kind: MessageKind, ts_ns: u64, len: u64, out: &mut Vec<HttpRecord>) {
        if self.stitch.upgraded {
            return;
        }
        let mut sink = Sink {
            stitch: &mut self.stitch,
            stats: &mut self.stats,
            out,
        };
        match kind {
            MessageKind::Request => self.req.gap(ts_ns, len, &mut sink),
            MessageKind::Response => self.resp.gap(ts_ns, len, &mut sink),
        }
    }

    /// Connection closed: completes a close-delimited response body; requests still
    /// unanswered are counted ([`HttpStats::unanswered_requests`]).
    ///
    /// A close-delimited response ends at its last byte, so `ts_ns` does not enter any
    /// timestamp. After `close` the connection can be reused as a fresh one (counters kept).
    pub fn close(&mut self, ts_ns: u64, out: &mut Vec<HttpRecord>) {
        let _ = ts_ns;
        let mut sink = Sink {
            stitch: &mut self.stitch,
            stats: &mut self.stats,
            out,
        };
        self.resp.close(&mut sink);
        let in_progress = self.req.close(&mut sink);
        self.stitch.close(in_progress, &mut self.stats, out);
    }

    /// Hands an emitted record back so that its strings' capacity is reused by the next
    /// messages (optional: records may also simply be dropped). Contents are overwritten.
    pub fn recycle(&mut self, record: HttpRecord) {
        self.req.recycle(record.req);
        self.resp.recycle(record.resp);
    }

    /// Counters since [`HttpConnection::new`].
    pub fn stats(&self) -> &HttpStats {
        &self.stats
    }

    /// True after 101 Switching Protocols or a 2xx answer to CONNECT: no more HTTP on this
    /// connection, and further bytes are ignored.
    pub fn is_upgraded(&self) -> bool {
        self.stitch.upgraded
    }
}

/// Header fields whose values are credentials.
const SECRET_HEADERS: [&str; 6] = [
    "authorization",
    "cookie",
    "set-cookie",
    "proxy-authorization",
    "x-api-key",
    "x-auth-token",
];

/// Any header whose name contains one of these (case-insensitively) carries a secret.
const SECRET_WORDS: [&str; 7] = [
    "token", "secret", "password", "session", "api-key", "api_key", "apikey",
];

/// What replaces a secret.
pub const REDACTED: &str = "<redacted>";

fn contains_ignore_case(haystack: &str, needle: &str) -> bool {
    haystack
        .as_bytes()
        .windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
}

/// Whether a header of this name carries a secret: Authorization, Cookie, Set-Cookie,
/// Proxy-Authorization, X-Api-Key, X-Auth-Token, and any name that contains `token`,
/// `secret`, `password`, `session` or `api-key` (case-insensitively).
pub fn is_secret_header(name: &str) -> bool {
    SECRET_HEADERS.iter().any(|s| name.eq_ignore_ascii_case(s))
        || SECRET_WORDS.iter().any(|w| contains_ignore_case(name, w))
}

/// Masks in place the values of the headers [`is_secret_header`] names with
/// `"<redacted>"`.
///
/// ```
/// use loupe_protocol_parsers::http::redact_headers;
/// let mut h = vec![("cookie".to_string(), "id=42".to_string()), ("Accept".into(), "*/*".into())];
/// redact_headers(&mut h);
/// assert_eq!(h[0].1, "<redacted>");
/// assert_eq!(h[1].1, "*/*");
/// ```
pub fn redact_headers(headers: &mut [(String, String)]) {
    for (name, value) in headers {
        if is_secret_header(name) {
            value.clear();
            value.push_str(REDACTED);
        }
    }
}

/// Masks in place every value of a path's query string, keeping its keys:
/// `/login?user=bob&next=/` becomes `/login?user=<redacted>&next=<redacted>`. A key
/// without a value stays as it is; a fragment (`#…`) is dropped. Uses `scratch`
/// (reused) rather than allocating.
///
/// ```
/// use loupe_protocol_parsers::http::redact_query;
/// let mut p = "/login?user=bob&remember&pw=x".to_string();
/// redact_query(&mut p, &mut String::new());
/// assert_eq!(p, "/login?user=<redacted>&remember&pw=<redacted>");
/// ```
pub fn redact_query(path: &mut String, scratch: &mut String) {
    let Some(q) = path.find('?') else {
        if let Some(f) = path.find('#') {
            path.truncate(f);
        }
        return;
    };
    scratch.clear();
    let tail = &path[q + 1..];
    let tail = tail.split('#').next().unwrap_or("");
    scratch.push_str(tail);
    path.truncate(q + 1);
    for (i, pair) in scratch.split('&').enumerate() {
        if i > 0 {
            path.push('&');
        }
        match pair.split_once('=') {
            Some((key, _)) => {
                path.push_str(key);
                path.push('=');
                path.push_str(REDACTED);
            }
            None => path.push_str(pair),
        }
    }
}
