//! Public data types of the Redis parser: configuration, records, counters, and the internal
//! error type.

/// Limits and options of one [`RedisConnection`](super::RedisConnection).
///
/// Every limit bounds something the wire controls. Zero values are treated as 1.
///
/// ```
/// use loupe_protocol_parsers::redis::RedisConfig;
/// let cfg = RedisConfig { full_capture: true, ..RedisConfig::default() };
/// assert_eq!(cfg.max_depth, 32);
/// assert!(!RedisConfig::default().full_capture);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RedisConfig {
    /// Deepest nesting of aggregates (arrays, maps, sets, pushes, attributes, streamed
    /// strings) in one reply. Requests are always one level deep. Default 32.
    pub max_depth: usize,
    /// Most elements declared by one aggregate (entries for maps and attributes). Default
    /// 16 Mi. Elements are counted, never stored, so this only rejects absurd headers.
    pub max_aggregate_len: u64,
    /// Longest bulk string (or streamed-string chunk) accepted. Default 512 MiB, Redis'
    /// `proto-max-bulk-len`. Bulk data is counted, never buffered.
    pub max_bulk_len: u64,
    /// Longest line: simple strings, errors, numbers, inline commands. Default 64 KiB, Redis'
    /// inline limit. Lines are the only thing buffered across pushes.
    pub max_line_len: usize,
    /// Most requests waiting for their reply on one connection. Default 1024.
    pub max_pending: usize,
    /// Most arguments rendered in [`RedisRecord::req_args`]; the rest are counted. Default 32.
    pub max_args: usize,
    /// Most bytes kept of one argument (and of a channel name in pub/sub replies); longer ones
    /// end in `...`. Default 128.
    pub max_arg_bytes: usize,
    /// Most bytes of [`RedisRecord::resp`]; a longer rendering ends in `...`. Default 256.
    pub max_resp_bytes: usize,
    /// Keep values: every argument and the full reply (still truncated by the limits above).
    /// Default false: values are replaced by `<redacted>`, see the module documentation.
    pub full_capture: bool,
}

impl Default for RedisConfig {
    fn default() -> Self {
        Self {
            max_depth: 32,
            max_aggregate_len: 16 << 20,
            max_bulk_len: 512 << 20,
            max_line_len: 64 * 1024,
            max_pending: 1024,
            max_args: 32,
            max_arg_bytes: 128,
            max_resp_bytes: 256,
            full_capture: false,
        }
    }
}

/// Answer of [`infer`](super::infer): what the first bytes of one direction look like.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Inference {
    /// A RESP command array (`*<n>\r\n$`) or an inline command of a known name.
    Request,
    /// A RESP reply start: a type byte and a well-formed header line.
    Response,
    /// Cannot be the start of Redis traffic in that direction.
    NotRedis,
    /// Too few bytes to tell; everything seen so far is a prefix of a valid start.
    NeedMore,
}

/// One command and its reply, or one push that no command asked for.
///
/// Timestamps are those passed to `push`: kernel monotonic nanoseconds of the syscalls that
/// carried the bytes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RedisRecord {
    /// Upper-case command name, with the subcommand for container commands (`CLIENT SETNAME`,
    /// `CONFIG GET`). For pushes: `PUSH PUB` (pub/sub message, Pixie's name) or `PUSH`.
    pub req_cmd: String,
    /// The arguments after the command (and subcommand) as a JSON-like array of strings,
    /// `["user:1","<redacted>"]`. Bytes outside printable ASCII are written `\xHH`. Empty
    /// (`""`) for pushes.
    pub req_args: String,
    /// Short rendering of the reply; see the module documentation.
    pub resp: String,
    /// The reply is an error (`-` or `!`). Errors inside an aggregate (EXEC) do not count.
    pub resp_error: bool,
    /// Total payload bytes of the bulk strings in the reply (what `<redacted>` hides).
    pub resp_bulk_bytes: u64,
    /// A push with no request: pub/sub message, RESP3 `>` frame such as a client-tracking
    /// invalidation. The request timestamps then equal the response ones.
    pub is_push: bool,
    /// Timestamp of the push that carried the request's first byte.
    pub req_ts_start_ns: u64,
    /// Timestamp of the push that carried the request's last byte.
    pub req_ts_end_ns: u64,
    /// Timestamp of the push that carried the reply's first byte (of its first frame, for
    /// commands answered by several frames such as `SUBSCRIBE a b`).
    pub resp_ts_start_ns: u64,
    /// Timestamp of the push that carried the reply's last byte.
    pub resp_ts_end_ns: u64,
}

impl RedisRecord {
    /// `resp_ts_end_ns - req_ts_start_ns` (saturating): last reply byte minus first request
    /// byte. Zero for pushes.
    ///
    /// ```
    /// use loupe_protocol_parsers::redis::RedisRecord;
    /// let r = RedisRecord { req_ts_start_ns: 100, resp_ts_end_ns: 350, ..Default::default() };
    /// assert_eq!(r.latency_ns(), 250);
    /// ```
    pub fn latency_ns(&self) -> u64 {
        self.resp_ts_end_ns.saturating_sub(self.req_ts_start_ns)
    }
}

/// Counters of one [`RedisConnection`](super::RedisConnection). They only grow.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RedisStats {
    /// Complete commands parsed (RESP arrays and inline commands; empty ones not counted).
    pub requests: u64,
    /// Complete frames parsed on the response stream (replies and pushes).
    pub responses: u64,
    /// Records emitted (commands with their reply, and pushes).
    pub records: u64,
    /// Of the records, pushes with no request.
    pub pushes: u64,
    /// Frames dropped because their bytes broke the grammar or a limit.
    pub parse_errors: u64,
    /// Times a stream locked on to a frame again after losing sync (a gap or a parse error).
    pub resyncs: u64,
    /// Frames in progress dropped because a gap hit them (requests; replies get a
    /// truncated record instead, [`RedisStats::truncated_replies`]).
    pub messages_lost_to_gaps: u64,
    /// Replies a gap cut after they began: their command's record has `resp` ending in
    /// `" <truncated>"` ([`super::TRUNCATED`]).
    pub truncated_replies: u64,
    /// Bytes of gaps skipped inside bulk strings of known length without losing sync.
    pub gap_bytes_skipped: u64,
    /// Frames still incomplete when the connection closed.
    pub incomplete_at_close: u64,
    /// Requests dropped without a reply: at close, or because the response stream lost sync
    /// while they waited.
    pub unanswered_requests: u64,
    /// Replies with no request to pair with (not emitted).
    pub unmatched_responses: u64,
    /// Requests dropped because `max_pending` requests were already waiting.
    pub pending_overflow: u64,
}

/// Why a frame was rejected. Internal: callers see [`RedisStats::parse_errors`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum RedisParseError {
    /// A byte that is not a RESP type marker where a frame or element starts.
    #[error("invalid type byte {byte:#04x}")]
    InvalidType { byte: u8 },
    /// A length or number line that is not a valid decimal (or `-1`, `?` where allowed).
    #[error("invalid number or length in a `{ty}` header")]
    InvalidNumber { ty: char },
    /// A line not ended by CR LF, or bulk data not followed by CR LF.
    #[error("missing CR LF")]
    MissingCrlf,
    /// A line longer than `max_line_len`.
    #[error("line longer than {limit} bytes")]
    LineTooLong { limit: usize },
    /// Aggregates nested deeper than `max_depth`.
    #[error("aggregates nested deeper than {limit}")]
    TooDeep { limit: usize },
    /// An aggregate declaring more than `max_aggregate_len` elements.
    #[error("aggregate of more than {limit} elements")]
    AggregateTooLong { limit: u64 },
    /// A bulk string (or chunk) longer than `max_bulk_len`.
    #[error("bulk string longer than {limit} bytes")]
    BulkTooLong { limit: u64 },
    /// `.` or `;` where no streamed aggregate or string is open, or a bad streamed map.
    #[error("misplaced streamed-type marker")]
    Streamed,
    /// A command that is not an array of bulk strings (what redis-server accepts).
    #[error("request is not an array of bulk strings")]
    RequestShape,
    /// Unbalanced quotes in an inline command.
    #[error("unbalanced quotes in inline command")]
    InlineQuotes,
}
