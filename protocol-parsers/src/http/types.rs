//! Public data types of the HTTP/1.x parser: configuration, messages, records and counters.

/// Limits and options of one [`HttpConnection`](super::HttpConnection).
///
/// Every field bounds something the wire controls. A `max_header_bytes` or `max_pending` of 0
/// is treated as 1.
///
/// ```
/// use loupe_protocol_parsers::http::HttpConfig;
/// let cfg = HttpConfig { keep_body_prefix: 256, ..HttpConfig::default() };
/// assert_eq!(cfg.max_headers, 64);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpConfig {
    /// Most header fields in one message head (request/status line not counted). Default 64.
    pub max_headers: usize,
    /// Most bytes of one message head (start line + header fields + blank line), and of one
    /// chunked trailer section. Default 64 KiB.
    pub max_header_bytes: usize,
    /// Most requests waiting for their response on one connection. Default 128.
    pub max_pending: usize,
    /// How many leading body bytes each message keeps in [`HttpMessage::body_prefix`].
    /// Default 0: bodies are only counted.
    pub keep_body_prefix: usize,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            max_headers: 64,
            max_header_bytes: 64 * 1024,
            max_pending: 128,
            keep_body_prefix: 0,
        }
    }
}

/// Answer of [`infer`](super::infer): what the first bytes of a stream look like.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Inference {
    /// Starts like an HTTP/1.x request: a known method, a space and a visible character.
    Request,
    /// Starts like an HTTP/1.x status line: `HTTP/1.0 ` or `HTTP/1.1 ` and three digits.
    Response,
    /// Cannot be the start of an HTTP/1.x message.
    NotHttp,
    /// Too few bytes to tell; everything seen so far is a prefix of a message start.
    NeedMore,
}

/// One parsed HTTP/1.x message (request or response).
///
/// Timestamps are those passed to `push`/`push_gap`: kernel monotonic nanoseconds of the
/// syscalls that carried the bytes.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct HttpMessage {
    /// Timestamp of the push that carried the message's first byte.
    pub ts_start_ns: u64,
    /// Timestamp of the push that carried its last byte (for a close-delimited body: the last
    /// body byte before the close; for a body ending in a gap: the gap's timestamp).
    pub ts_end_ns: u64,
    /// The `x` of `HTTP/1.x`.
    pub minor_version: u8,
    /// Request method, as sent (empty for responses).
    pub method: String,
    /// Request target, as sent (empty for responses).
    pub path: String,
    /// Status code (0 for requests).
    pub status: u16,
    /// Reason phrase (empty for requests, and when it is not ASCII).
    pub reason: String,
    /// Header fields in wire order, names as sent; values decoded lossily as UTF-8.
    pub headers: Vec<(String, String)>,
    /// Value of the first `Content-Type` field, or "".
    pub content_type: String,
    /// Decoded body bytes: Content-Length bytes, sum of chunk data when chunked, or bytes up to
    /// the close. Bytes lost in a gap inside the body are counted too.
    pub body_size: u64,
    /// First `keep_body_prefix` decoded body bytes, up to the first gap.
    pub body_prefix: Vec<u8>,
    /// A gap fell inside the body: `body_size` counts bytes that were never seen.
    pub body_gap: bool,
}

impl HttpMessage {
    /// Blank, keeping the capacity of its strings. Header entries stay until the next head
    /// overwrites them (a message leaves the parser only after its head was parsed).
    pub(crate) fn reset(&mut self) {
        self.ts_start_ns = 0;
        self.ts_end_ns = 0;
        self.minor_version = 0;
        self.method.clear();
        self.path.clear();
        self.status = 0;
        self.reason.clear();
        self.content_type.clear();
        self.body_size = 0;
        self.body_prefix.clear();
        self.body_gap = false;
    }
}

/// A request and the final response that answered it.
#[derive(Clone, Debug, PartialEq)]
pub struct HttpRecord {
    /// The request.
    pub req: HttpMessage,
    /// Its final (non-1xx, or 101) response.
    pub resp: HttpMessage,
}

impl HttpRecord {
    /// `resp.ts_end_ns - req.ts_start_ns` (saturating): last response byte minus first request
    /// byte.
    ///
    /// ```
    /// use loupe_protocol_parsers::http::{HttpMessage, HttpRecord};
    /// let req = HttpMessage { ts_start_ns: 100, ..Default::default() };
    /// let resp = HttpMessage { ts_end_ns: 350, ..Default::default() };
    /// assert_eq!(HttpRecord { req, resp }.latency_ns(), 250);
    /// ```
    pub fn latency_ns(&self) -> u64 {
        self.resp.ts_end_ns.saturating_sub(self.req.ts_start_ns)
    }
}

/// Counters of one [`HttpConnection`](super::HttpConnection). They only grow.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct HttpStats {
    /// Complete requests parsed (head and body).
    pub requests: u64,
    /// Complete final responses parsed (1xx other than 101 excluded).
    pub responses: u64,
    /// Records emitted.
    pub records: u64,
    /// 1xx responses other than 101 (e.g. `100 Continue`), skipped by the stitcher.
    pub interim_responses: u64,
    /// Messages dropped because their bytes were not HTTP/1.x or broke a limit.
    pub parse_errors: u64,
    /// Times a stream found a plausible message start again after losing sync.
    pub resyncs: u64,
    /// Bytes of gaps skipped inside bodies without losing sync.
    pub gap_bytes_skipped: u64,
    /// Messages in progress dropped because a gap hit their head or chunk framing.
    pub messages_lost_to_gaps: u64,
    /// Final responses with no request to pair with (not emitted).
    pub unmatched_responses: u64,
    /// Requests dropped without a response: at close, or because the response stream lost
    /// sync after they started.
    pub unanswered_requests: u64,
    /// Requests dropped because `max_pending` requests were already waiting.
    pub pending_overflow: u64,
}

/// Why a message was rejected. Internal: callers see only [`HttpStats::parse_errors`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum HttpParseError {
    /// A byte that cannot appear where it was found, in the start line or header fields.
    #[error("invalid byte in message head at offset {offset}")]
    InvalidHead { offset: usize },
    /// The head (or a trailer section) grew past `max_header_bytes`.
    #[error("message head longer than {limit} bytes")]
    HeadTooLong { limit: usize },
    /// The start line grew past its own limit.
    #[error("start line longer than {limit} bytes")]
    StartLineTooLong { limit: usize },
    /// More header fields than `max_headers`.
    #[error("more than {limit} header fields")]
    TooManyHeaders { limit: usize },
    /// httparse rejected a head that the byte scanner accepted.
    #[error("httparse rejected the head: {0}")]
    Httparse(httparse::Error),
    /// Content-Length not a decimal number, or several different values.
    #[error("invalid Content-Length")]
    ContentLength,
    /// A request with a Transfer-Encoding whose last coding is not `chunked`.
    #[error("request Transfer-Encoding does not end in chunked")]
    TransferEncoding,
    /// Bad chunk-size line, chunk-data terminator or trailer.
    #[error("invalid chunked framing")]
    Chunked,
}
