//! Public data types of the PostgreSQL parser: configuration, records, counters, and the
//! internal error type.

/// Limits and options of one [`PgsqlConnection`](super::PgsqlConnection).
///
/// Every limit bounds something the wire controls. Zero values are treated as 1.
///
/// ```
/// use loupe_protocol_parsers::pgsql::PgsqlConfig;
/// let cfg = PgsqlConfig { full_capture: true, ..PgsqlConfig::default() };
/// assert!(cfg.full_capture);
/// assert_eq!(PgsqlConfig::default().max_statements, 1024);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PgsqlConfig {
    /// Largest declared message length accepted (the length field, which counts itself).
    /// Default 1 GiB, PostgreSQL's own limit for a field value. Bodies are counted, and only
    /// the few bytes a record needs are buffered, so this only rejects absurd headers.
    pub max_message_len: u32,
    /// Most bytes of SQL kept from one Query or Parse message; a longer statement is cut and
    /// its `req_body` ends in `...`. Default 64 KiB.
    pub max_sql_len: usize,
    /// Most bytes of [`PgsqlRecord::resp_body`] (tags, error message); a longer one ends in
    /// `...`. Default 1 KiB.
    pub max_text_len: usize,
    /// Client messages waiting for their answer. Default 1024. On overflow every waiting one
    /// is dropped ([`PgsqlStats::pending_overflow`]) and the answers are skipped up to the
    /// next ReadyForQuery.
    pub max_pending: usize,
    /// Named prepared statements (and, separately, named portals) remembered per connection.
    /// Default 1024. A Parse beyond it is not remembered ([`PgsqlStats::statement_overflow`]),
    /// and its Executes get an empty `req_body`.
    pub max_statements: usize,
    /// Keep the SQL verbatim instead of replacing every literal by `?`. Default false. Bound
    /// parameters (Bind) are never kept, whatever this says.
    pub full_capture: bool,
}

impl Default for PgsqlConfig {
    fn default() -> Self {
        Self {
            max_message_len: 1 << 30,
            max_sql_len: 64 * 1024,
            max_text_len: 1024,
            max_pending: 1024,
            max_statements: 1024,
            full_capture: false,
        }
    }
}

/// Answer of [`infer`](super::infer): what the first bytes of one direction look like.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Inference {
    /// A startup packet (StartupMessage 3.x, SSLRequest, GSSENCRequest, CancelRequest) or a
    /// frontend message header of a known type with a sane length.
    Request,
    /// The one-byte answer to an SSLRequest (`N`/`S`), or a backend message header of a known
    /// type with a sane length.
    Response,
    /// Cannot be the start of PostgreSQL traffic in that direction.
    NotPgsql,
    /// Too few bytes to tell; everything seen so far is a prefix of a valid start.
    NeedMore,
}

/// One client message (Query, Parse, Bind, Describe, Execute) and its answer.
///
/// Timestamps are those passed to `push`: kernel monotonic nanoseconds of the syscalls that
/// carried the bytes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PgsqlRecord {
    /// The client message, with Pixie's names: `Query`, `Parse`, `Bind`, `Describe`,
    /// `Execute`, `FunctionCall`.
    pub req_cmd: String,
    /// The SQL: of the Query or Parse itself, or of the prepared statement a Bind, Describe or
    /// Execute refers to. Literals are replaced by `?` unless [`PgsqlConfig::full_capture`];
    /// bound parameters are never included. Empty if the statement was never seen.
    pub req_body: String,
    /// Command tags (`SELECT 3`, `INSERT 0 1`; several joined by `; ` for a multi-statement
    /// Query), the step's completion (`PARSE COMPLETE`, `BIND COMPLETE`, `ROW DESCRIPTION`,
    /// `NO DATA`, `PORTAL SUSPENDED`), or the error message when `resp_status` is `ERROR`.
    pub resp_body: String,
    /// `OK`, or `ERROR` when an ErrorResponse answered the message.
    pub resp_status: String,
    /// Severity of the error (`ERROR`, `FATAL`), empty when OK.
    pub error_severity: String,
    /// SQLSTATE of the error (`42P01`), empty when OK.
    pub error_code: String,
    /// Rows: the count in each command tag that has one (`SELECT 3`, `UPDATE 2`, `COPY 500`),
    /// else the DataRows received for that statement; summed over the statements of a Query.
    pub rows: u64,
    /// Bytes of CopyData payload in either direction (COPY data is counted, never kept).
    pub copy_bytes: u64,
    /// Timestamp of the push that carried the request's first byte.
    pub req_ts_start_ns: u64,
    /// Timestamp of the push that carried the request's last byte.
    pub req_ts_end_ns: u64,
    /// Timestamp of the push that carried the first byte of the answer.
    pub resp_ts_start_ns: u64,
    /// Timestamp of the push that carried the answer's last byte (ReadyForQuery, for a Query).
    pub resp_ts_end_ns: u64,
}

impl PgsqlRecord {
    /// `resp_ts_end_ns - req_ts_start_ns` (saturating): last answer byte minus first request
    /// byte.
    ///
    /// ```
    /// use loupe_protocol_parsers::pgsql::PgsqlRecord;
    /// let r = PgsqlRecord { req_ts_start_ns: 100, resp_ts_end_ns: 350, ..Default::default() };
    /// assert_eq!(r.latency_ns(), 250);
    /// ```
    pub fn latency_ns(&self) -> u64 {
        self.resp_ts_end_ns.saturating_sub(self.req_ts_start_ns)
    }
}

/// Counters of one [`PgsqlConnection`](super::PgsqlConnection). They only grow.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PgsqlStats {
    /// Complete client messages parsed (startup packets included).
    pub requests: u64,
    /// Complete server messages parsed (one-byte SSL answers included).
    pub responses: u64,
    /// Records emitted.
    pub records: u64,
    /// SSLRequest and GSSENCRequest packets.
    pub encryption_requests: u64,
    /// Encryption requests the server accepted (`S` or `G`): the rest of the connection is
    /// encrypted and ignored.
    pub encrypted_sessions: u64,
    /// Authentication messages skipped (server `R`, client `p`); their content is never read.
    pub auth_messages: u64,
    /// NoticeResponse messages.
    pub notices: u64,
    /// Messages dropped because their bytes broke the grammar or a limit.
    pub parse_errors: u64,
    /// Times a stream locked on to a message header again after losing sync.
    pub resyncs: u64,
    /// Messages in progress dropped because a gap hit them.
    pub messages_lost_to_gaps: u64,
    /// Bytes of gaps skipped inside message bodies whose content is not needed (DataRow,
    /// CopyData, ...) without losing anything.
    pub gap_bytes_skipped: u64,
    /// Messages still incomplete when the connection closed.
    pub incomplete_at_close: u64,
    /// Client messages dropped without an answer: at close, or because the answers could not
    /// be paired after a loss.
    pub unanswered_requests: u64,
    /// Extended-protocol messages the server skipped after an error, up to Sync (no record).
    pub skipped_after_error: u64,
    /// Server messages with no client message to pair with, or of a kind that does not answer
    /// the waiting one (not emitted).
    pub unmatched_responses: u64,
    /// Client messages dropped because `max_pending` were already waiting.
    pub pending_overflow: u64,
    /// Named statements or portals not remembered because `max_statements` were known.
    pub statement_overflow: u64,
    /// Bind, Describe or Execute naming a statement or portal that was never seen.
    pub unknown_statements: u64,
}

/// Why a message was rejected. Internal: callers see [`PgsqlStats::parse_errors`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum PgsqlParseError {
    /// A type byte that no message of this direction has.
    #[error("unknown message type {byte:#04x}")]
    UnknownType { byte: u8 },
    /// A length below 4, above `max_message_len`, or wrong for a fixed-size message.
    #[error("bad length {len} for message type {ty:#04x}")]
    BadLength { ty: u8, len: u32 },
    /// A startup packet with a protocol code that is none of 3.x, SSL, GSSENC, cancel.
    #[error("unknown startup code {code:#010x}")]
    UnknownStartupCode { code: u32 },
}
