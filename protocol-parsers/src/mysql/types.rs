//! Public data types of the MySQL parser: configuration, records, counters, and the internal
//! error type.

/// `resp_status` of a command that gets no answer (COM_QUIT, COM_STMT_CLOSE,
/// COM_STMT_SEND_LONG_DATA).
pub const STATUS_NONE: i64 = 1;
/// `resp_status` of a command answered by OK, EOF or a result set.
pub const STATUS_OK: i64 = 2;
/// `resp_status` of a command answered by an ERR packet.
pub const STATUS_ERROR: i64 = 3;

/// Limits and options of one [`MysqlConnection`](super::MysqlConnection).
///
/// Every limit bounds something the wire controls. Zero values are treated as 1.
///
/// ```
/// use loupe_protocol_parsers::mysql::MysqlConfig;
/// let cfg = MysqlConfig { full_capture: true, ..MysqlConfig::default() };
/// assert!(cfg.full_capture);
/// assert_eq!(MysqlConfig::default().max_statements, 1024);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MysqlConfig {
    /// Largest payload accepted, after joining the packets of a multi-packet payload. Default
    /// 1 GiB, the server's largest `max_allowed_packet`. Payloads are counted, and only the
    /// few bytes a record needs are buffered, so this only rejects absurd streams.
    pub max_payload_len: u64,
    /// Most bytes of SQL kept from one COM_QUERY or COM_STMT_PREPARE; a longer statement is
    /// cut and its `req_body` ends in `...`. Default 64 KiB.
    pub max_sql_len: usize,
    /// Most bytes of [`MysqlRecord::resp_body`] (summaries, error message); a longer one ends
    /// in `...`. Default 1 KiB.
    pub max_text_len: usize,
    /// Commands waiting for their answer. Default 1024. On overflow every waiting one is
    /// dropped ([`MysqlStats::pending_overflow`]).
    pub max_pending: usize,
    /// Prepared statements remembered per connection (statement id -> SQL). Default 1024. A
    /// statement beyond it is not remembered ([`MysqlStats::statement_overflow`]), and its
    /// executions get an empty `req_body`.
    pub max_statements: usize,
    /// Most columns (or parameters) of one result set or prepared statement. Default 4096,
    /// the server's own limit per table. A larger count drops that answer
    /// ([`MysqlStats::parse_errors`]).
    pub max_columns: u64,
    /// Keep the SQL verbatim instead of replacing every literal by `?`. Default false. The
    /// parameters of COM_STMT_EXECUTE (and COM_STMT_SEND_LONG_DATA) are never kept, whatever
    /// this says.
    pub full_capture: bool,
}

impl Default for MysqlConfig {
    fn default() -> Self {
        Self {
            max_payload_len: 1 << 30,
            max_sql_len: 64 * 1024,
            max_text_len: 1024,
            max_pending: 1024,
            max_statements: 1024,
            max_columns: 4096,
            full_capture: false,
        }
    }
}

/// Answer of [`infer`](super::infer): what the first bytes of one direction look like.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Inference {
    /// A HandshakeResponse or SSLRequest (sequence id 1, CLIENT_PROTOCOL_41), or a command
    /// packet (sequence id 0, a known COM_ byte, a length that fits it).
    Request,
    /// A server greeting (HandshakeV10, sequence id 0), or the first packet of an answer
    /// (sequence id 1: OK, ERR, EOF or a column count).
    Response,
    /// Cannot be the start of MySQL traffic in that direction.
    NotMysql,
    /// Too few bytes to tell; everything seen so far is a prefix of a valid start.
    NeedMore,
}

/// One command and its answer.
///
/// Timestamps are those passed to `push`: kernel monotonic nanoseconds of the syscalls that
/// carried the bytes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MysqlRecord {
    /// The COM_ byte of the command: 3 COM_QUERY, 0x16 COM_STMT_PREPARE, 0x17
    /// COM_STMT_EXECUTE, 0x19 COM_STMT_CLOSE, 0x0e COM_PING, 1 COM_QUIT, 2 COM_INIT_DB, ...
    pub req_cmd: i64,
    /// The SQL of a COM_QUERY or COM_STMT_PREPARE, or of the prepared statement a
    /// COM_STMT_EXECUTE / CLOSE / RESET / FETCH / SEND_LONG_DATA refers to; the argument of
    /// COM_INIT_DB, COM_FIELD_LIST, COM_CREATE_DB, COM_DROP_DB; else empty. Literals are
    /// replaced by `?` unless [`MysqlConfig::full_capture`]; execution parameters are never
    /// included. Empty if the statement was never seen.
    pub req_body: String,
    /// [`STATUS_NONE`] (1), [`STATUS_OK`] (2) or [`STATUS_ERROR`] (3).
    pub resp_status: i64,
    /// `OK affected=1 insert_id=5`, `3 columns, 2 rows`, `statement 1: 2 params, 3 columns`,
    /// or for an error `1146 (42S02): Table 'test.nope' doesn't exist`; the answers of a
    /// multi-result command are joined by `; `. Empty for a command without an answer.
    pub resp_body: String,
    /// Rows returned by the result sets plus rows affected by the OKs of the answer.
    pub rows: u64,
    /// Error code of an ERR answer (1146), else 0.
    pub error_code: u16,
    /// SQL state of an ERR answer (`42S02`), else empty.
    pub sql_state: String,
    /// Timestamp of the push that carried the command's first byte.
    pub req_ts_start_ns: u64,
    /// Timestamp of the push that carried the command's last byte.
    pub req_ts_end_ns: u64,
    /// Timestamp of the push that carried the first byte of the answer (the command's end
    /// when there is no answer).
    pub resp_ts_start_ns: u64,
    /// Timestamp of the push that carried the answer's last byte.
    pub resp_ts_end_ns: u64,
}

impl MysqlRecord {
    /// `resp_ts_end_ns - req_ts_start_ns` (saturating): last answer byte minus first command
    /// byte.
    ///
    /// ```
    /// use loupe_protocol_parsers::mysql::MysqlRecord;
    /// let r = MysqlRecord { req_ts_start_ns: 100, resp_ts_end_ns: 350, ..Default::default() };
    /// assert_eq!(r.latency_ns(), 250);
    /// ```
    pub fn latency_ns(&self) -> u64 {
        self.resp_ts_end_ns.saturating_sub(self.req_ts_start_ns)
    }
}

/// Counters of one [`MysqlConnection`](super::MysqlConnection). They only grow.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MysqlStats {
    /// Complete client payloads parsed (handshake and authentication included).
    pub requests: u64,
    /// Complete server payloads parsed.
    pub responses: u64,
    /// Records emitted.
    pub records: u64,
    /// Server greetings (HandshakeV10) seen.
    pub handshakes: u64,
    /// SSLRequest packets: the rest of the connection is encrypted and ignored.
    pub encrypted_sessions: u64,
    /// Authentication packets skipped (AuthSwitchRequest, auth more data, the client's
    /// answers, the HandshakeResponse); their content past the capability flags is never
    /// read.
    pub auth_messages: u64,
    /// Logins the server refused with ERR.
    pub auth_failures: u64,
    /// Payloads made of more than one packet (a payload of 0xFFFFFF bytes is continued).
    pub multi_packet_payloads: u64,
    /// Client packets of LOCAL INFILE data (counted, never kept).
    pub local_infile_packets: u64,
    /// Payloads dropped because their bytes broke the grammar or a limit.
    pub parse_errors: u64,
    /// Times a stream locked on to a packet header again after losing sync.
    pub resyncs: u64,
    /// Payloads in progress dropped because a gap hit them.
    pub messages_lost_to_gaps: u64,
    /// Bytes of gaps skipped inside payloads whose content is not needed (rows) without
    /// losing anything.
    pub gap_bytes_skipped: u64,
    /// Payloads still incomplete when the connection closed.
    pub incomplete_at_close: u64,
    /// Commands dropped without an answer: at close, or because their answer was lost.
    pub unanswered_requests: u64,
    /// Server payloads with no command to pair with (not emitted).
    pub unmatched_responses: u64,
    /// Commands dropped because `max_pending` were already waiting.
    pub pending_overflow: u64,
    /// Prepared statements not remembered because `max_statements` were known.
    pub statement_overflow: u64,
    /// Statement commands naming an id that was never prepared (or was closed).
    pub unknown_statements: u64,
}

/// Why a payload was rejected. Internal: callers see [`MysqlStats::parse_errors`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum MysqlParseError {
    /// A joined multi-packet payload longer than `max_payload_len`.
    #[error("payload of {len} bytes exceeds the limit")]
    TooLong { len: u64 },
    /// A command packet without a command byte.
    #[error("empty command packet")]
    EmptyCommand,
    /// A column or parameter count above `max_columns`, or not a length-encoded integer.
    #[error("bad column count {count}")]
    BadColumnCount { count: u64 },
}
