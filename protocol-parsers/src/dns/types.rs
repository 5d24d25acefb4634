//! Public data types of the DNS parser: configuration, records, counters, and the internal
//! error type.

/// Limits and options of one [`DnsConnection`](super::DnsConnection).
///
/// Every field but `timeout_ns` bounds something the wire controls. A `max_pending`,
/// `max_questions` or `max_answers` of 0 is treated as 1; `max_message_bytes` is clamped to
/// 12..=65535 (a DNS header is 12 bytes; the TCP length prefix is 16 bits).
///
/// ```
/// use loupe_protocol_parsers::dns::DnsConfig;
/// let cfg = DnsConfig { timeout_ns: 2_000_000_000, ..DnsConfig::default() };
/// assert_eq!(cfg.max_pending, 256);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DnsConfig {
    /// Most bytes of one message (a UDP datagram, or the body of one TCP frame). Longer
    /// messages are counted as parse errors. Default 65535.
    pub max_message_bytes: usize,
    /// Most entries of the question section. Real queries carry exactly one; a message
    /// announcing more is rejected. Default 8.
    pub max_questions: usize,
    /// Most answer-section records decoded per response; further ones are not decoded (they
    /// still count in `num_answers` of the header). Default 64.
    pub max_answers: usize,
    /// Most queries waiting for an answer on one connection; beyond it the oldest is emitted
    /// as a timeout row. Default 256.
    pub max_pending: usize,
    /// Age after which [`DnsConnection::expire`](super::DnsConnection::expire) turns an
    /// unanswered query into a timeout row. Default 5 s (the resolver default of glibc and
    /// dig). Not a wire value.
    pub timeout_ns: u64,
}

impl Default for DnsConfig {
    fn default() -> Self {
        Self {
            max_message_bytes: 65535,
            max_questions: 8,
            max_answers: 64,
            max_pending: 256,
            timeout_ns: 5_000_000_000,
        }
    }
}

impl DnsConfig {
    pub(crate) fn normalized(mut self) -> Self {
        self.max_message_bytes = self.max_message_bytes.clamp(12, 65535);
        self.max_questions = self.max_questions.max(1);
        self.max_answers = self.max_answers.max(1);
        self.max_pending = self.max_pending.max(1);
        self
    }
}

/// How the messages of a connection travel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Transport {
    /// One message per datagram.
    Udp,
    /// Messages framed by a 2-byte big-endian length (RFC 1035 4.2.2).
    Tcp,
}

impl Transport {
    /// The `transport` column value: `"udp"` or `"tcp"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Udp => "udp",
            Transport::Tcp => "tcp",
        }
    }
}

/// Answer of [`infer`](super::infer): what the first bytes of a stream or datagram look like.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Inference {
    /// A plausible DNS query header (QR = 0) on the client-to-server direction.
    Request,
    /// A plausible DNS response header (QR = 1) on the server-to-client direction.
    Response,
    /// Cannot be the start of a DNS message of that direction.
    NotDns,
    /// Too few bytes to tell (fewer than the 12-byte header, plus the 2-byte length on TCP).
    NeedMore,
}

/// One query and its answer, or one query that got no answer: a row of `dns_events`.
///
/// JSON columns are rendered as Pixie renders them (see the [module documentation](super)).
/// A query that got no answer within [`DnsConfig::timeout_ns`] (or before the connection
/// closed, or that was pushed out by [`DnsConfig::max_pending`]) is a row with
/// `timed_out == true`, `resp_code == -1`, `resp_ts_ns == 0`, empty `resp_header` and
/// `resp_body`, and `answers == "[]"`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DnsRecord {
    /// How the query travelled.
    pub transport: Transport,
    /// Timestamp of the push that carried the query's first byte (kernel monotonic ns).
    pub req_ts_ns: u64,
    /// Timestamp of the push that carried the response's last byte; 0 when timed out.
    pub resp_ts_ns: u64,
    /// Transaction id of the query.
    pub txid: u16,
    /// The query's header as JSON: `{"txid":..,"qr":..,"opcode":..,"aa":..,"tc":..,"rd":..,
    /// "ra":..,"ad":..,"cd":..,"rcode":..,"num_queries":..,"num_answers":..,"num_auth":..,
    /// "num_addl":..}`.
    pub req_header: String,
    /// The question section as JSON: `{"queries":[{"name":"example.test","type":"A"}]}`.
    pub req_body: String,
    /// The response's header as JSON (same keys as `req_header`); "" when timed out.
    pub resp_header: String,
    /// The decoded answer section as JSON: `{"answers":[{"name":..,"type":"A","addr":..},
    /// {"name":..,"type":"CNAME","cname":..},{"name":..,"type":"SRV","data":..}]}`; ""
    /// when timed out.
    pub resp_body: String,
    /// Name of the first question, in presentation form without the final dot ("." for
    /// the root); "" when the query has no question.
    pub query_name: String,
    /// Type of the first question: "A", "AAAA", "SRV", ..., or "TYPE<n>" for others.
    pub query_type: String,
    /// RCODE of the response header (0 NOERROR, 2 SERVFAIL, 3 NXDOMAIN, ...); -1 when
    /// timed out.
    pub resp_code: i64,
    /// RDATA of each decoded answer record in presentation form, as a JSON list of strings:
    /// `["alias.example.test","10.1.2.3"]`.
    pub answers: String,
    /// TC bit of the response: the answer was cut to fit a UDP datagram.
    pub truncated: bool,
    /// No response was seen (see the type documentation).
    pub timed_out: bool,
}

impl DnsRecord {
    /// `resp_ts_ns - req_ts_ns` (saturating): last response byte minus first query byte; 0
    /// for a timeout row.
    ///
    /// ```
    /// use loupe_protocol_parsers::dns::{DnsConfig, DnsConnection};
    /// use loupe_protocol_parsers::MessageKind;
    /// let q = [0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, b'a', 0, 0, 1, 0, 1];
    /// let mut r = q;
    /// r[2] = 0x81; r[3] = 0x83; // QR, RD, RA, NXDOMAIN
    /// let mut conn = DnsConnection::new(DnsConfig::default());
    /// let mut out = Vec::new();
    /// conn.push_datagram(MessageKind::Request, 100, &q, &mut out);
    /// conn.push_datagram(MessageKind::Response, 350, &r, &mut out);
    /// assert_eq!(out[0].latency_ns(), 250);
    /// assert_eq!(out[0].resp_code, 3);
    /// ```
    pub fn latency_ns(&self) -> u64 {
        if self.timed_out {
            0
        } else {
            self.resp_ts_ns.saturating_sub(self.req_ts_ns)
        }
    }
}

/// Counters of one [`DnsConnection`](super::DnsConnection). They only grow.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DnsStats {
    /// Queries decoded (request direction).
    pub queries: u64,
    /// Responses decoded (response direction).
    pub responses: u64,
    /// Records emitted, timeout rows included.
    pub records: u64,
    /// Timeout rows emitted (by `expire`, `close`, or `max_pending` overflow).
    pub timeouts: u64,
    /// Queries that arrived while a query with the same id and question was still pending
    /// (client retransmissions).
    pub retries: u64,
    /// Messages dropped because they were not DNS or broke a limit.
    pub parse_errors: u64,
    /// Responses whose question decoded but whose answer section was malformed past some
    /// record; the records before it are kept and the response is paired.
    pub malformed_answers: u64,
    /// Responses with no pending query to pair with (not emitted).
    pub unmatched_responses: u64,
    /// Responses with the TC bit set.
    pub truncated_responses: u64,
    /// TCP only: times a stream found a plausible frame start again after losing framing.
    pub resyncs: u64,
    /// TCP only: messages in progress dropped because a gap hit them.
    pub messages_lost_to_gaps: u64,
    /// TCP only: messages cut off by `close` before their last byte.
    pub incomplete_at_close: u64,
    /// Queries pushed out as timeout rows because `max_pending` were already waiting (also
    /// counted in `timeouts`).
    pub pending_overflow: u64,
}

/// Why a message was rejected. Internal: callers see only [`DnsStats::parse_errors`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum DnsParseError {
    /// The message ends before a field it announces.
    #[error("message truncated at offset {offset}")]
    Truncated { offset: usize },
    /// Longer than `max_message_bytes`.
    #[error("message longer than {limit} bytes")]
    TooLong { limit: usize },
    /// The QR bit says the other direction.
    #[error("QR bit does not match the direction")]
    WrongDirection,
    /// More questions than `max_questions`.
    #[error("more than {limit} questions")]
    TooManyQuestions { limit: usize },
    /// A name longer than 255 bytes in wire form.
    #[error("name longer than 255 bytes at offset {offset}")]
    NameTooLong { offset: usize },
    /// A label length byte with the reserved 01 or 10 top bits.
    #[error("reserved label type at offset {offset}")]
    LabelType { offset: usize },
    /// A compression pointer that does not point strictly backwards (this rules out loops).
    #[error("compression pointer at offset {offset} does not point backwards")]
    PointerNotBackward { offset: usize },
    /// More compression pointers in one name than allowed.
    #[error("more than {limit} compression pointers in one name")]
    TooManyPointers { limit: usize },
    /// A TCP length prefix below the 12-byte header or above `max_message_bytes`.
    #[error("TCP frame length {len} out of range")]
    FrameLength { len: usize },
}
