//! Redis (RESP2, RESP3 and inline commands): turns the two byte streams of a connection, as
//! captured by the kernel probes, into command/reply records for the `redis_events` table.
//!
//! # What it does
//! [`RedisConnection`] holds one decoder per direction and a stitcher. Feed it the bytes of
//! each direction in capture order with [`RedisConnection::push`], report lost bytes with
//! [`RedisConnection::push_gap`], and it appends a [`RedisRecord`] for each command that got
//! its reply, and for each push that no command asked for. It handles:
//! - every RESP2 and RESP3 type (`+ - : $ * _ , # ! = ( % ~ >`), null bulk strings and arrays,
//!   streamed strings (`$?` and `;` chunks) and streamed aggregates (`*?` … `.`), and
//!   attributes (`|`), which are parsed and skipped;
//! - inline commands (`PING\r\n` typed in telnet), split like redis-server does, quotes and
//!   escapes included;
//! - pipelining: replies pair with the oldest waiting command, as Redis answers in order;
//! - MULTI/EXEC with no special case: each queued command gets its own record with
//!   `resp = "QUEUED"`, and EXEC's record holds the reply array;
//! - pub/sub: `SUBSCRIBE a b` is answered by one frame per channel (the record is emitted at
//!   the last one); messages become push records (below);
//! - `HELLO 3`: the decoder accepts RESP3 types at any time, so no mode switch is needed to
//!   parse; [`RedisConnection::resp_version`] reports the version a successful HELLO chose.
//!
//! Frames are decoded by hand (`decode.rs`) rather than with the `redis-protocol` crate: its
//! decoders re-parse a frame from its first byte on every call until it is complete (quadratic
//! for a 1 MiB value arriving in 64 KiB reads) and need the whole frame buffered; it has no
//! nesting limit (its recursive descent can overflow the stack on `*1\r\n` repeated), and no
//! inline commands. The decoder here is a resumable state machine: it buffers at most one line
//! (`max_line_len`), counts bulk data without storing it, and reports values to a sink as they
//! arrive, so splitting the bytes differently across `push` calls never changes the records or
//! counters.
//!
//! # Records and redaction
//! `req_cmd` is the upper-case command, with the subcommand for container commands
//! (`CLIENT SETNAME`, `CONFIG GET`, `XINFO STREAM`, …). `req_args` is a JSON-like array of the
//! remaining arguments, Pixie's rendering for commands it has no argument names for:
//! `["user:1","<redacted>"]`. By default ([`RedisConfig::full_capture`] false), following
//! TABLES.md ("Redis keeps the command and key but not values"):
//! - key commands keep their first argument (the key, channel or parameter name) and redact the
//!   rest: `SET k v` → `["k","<redacted>"]`;
//! - commands whose arguments are all keys keep them all (`DEL`, `MGET`, `SUBSCRIBE`), `MSET`
//!   keeps every other one, option-only commands keep everything (`SELECT`, `CONFIG GET`);
//! - `AUTH`, `ECHO`, `PING`, scripts, `MIGRATE`, and every command not in the list, are fully
//!   redacted (`command.rs`).
//!
//! `resp` is a short rendering of the reply: the text of a status or error, an integer, double
//! or big number as sent, `true`/`false`, `<NULL>` for nulls (Pixie's spelling), `<redacted>`
//! for a bulk or verbatim string (`""` if empty; [`RedisRecord::resp_bulk_bytes`] has the
//! size), and `array[3]`, `map[2]`, `set[5]`, `push[2]` for aggregates (element or entry
//! count). Pub/sub frames keep their kind and channel: `["message","news","<redacted>"]`,
//! `["subscribe","news",1]`. With `full_capture` every value is kept, aggregates render as
//! JSON-like `["a",1,{"k":true}]`, and only the size limits apply. Bytes outside printable
//! ASCII are written `\xHH` everywhere.
//!
//! # Pushes
//! Pub/sub messages and RESP3 push frames answer no command. They become records of their own
//! with [`RedisRecord::is_push`] set, no arguments, request timestamps equal to the frame's
//! start, and zero latency. `req_cmd` follows Pixie, which synthesises the command `PUSH PUB`
//! for published messages (`StitchFrames` in Pixie's `redis/stitcher.h`), so PxL scripts that
//! filter on it keep working; other pushes (client-tracking `invalidate`, module pushes) get
//! `PUSH`. Subscription confirmations are replies to the (un)subscribe command, not pushes.
//!
//! # Latency
//! [`RedisRecord::latency_ns`] is the last reply byte minus the first command byte, from the
//! timestamps passed to `push` (kernel monotonic time of the syscalls).
//!
//! # Losses and limits
//! Everything the wire controls is bounded: nesting depth ([`RedisConfig::max_depth`]),
//! declared aggregate length, bulk length, line length, waiting commands
//! ([`RedisConfig::max_pending`]), and the size of every rendering. "Not enough bytes yet" is
//! just the decoder's state between pushes; no input panics. A gap inside a bulk string of
//! known length is skipped without losing sync ([`RedisStats::gap_bytes_skipped`]). A gap that
//! cuts a reply after it began still gives its command a record, with `resp` ending in
//! `" <truncated>"` ([`RedisStats::truncated_replies`]): a large aggregate past the capture cap
//! (`COMMAND DOCS`, a long `LRANGE`) is then not a lost command. Any other gap, and any
//! malformed frame, drops the frame in progress and makes the stream scan for the
//! next plausible frame start: a `*` at the start of a line on the request stream (a command
//! array), any reply type byte on the response stream. The stitcher's guards against
//! mis-pairing are described in `stitch.rs`. Everything is counted in [`RedisStats`].
//!
//! Not handled: `CLIENT REPLY OFF|SKIP` (commands without replies mis-pair until the
//! connection's replies catch up), `MONITOR` output and replication streams (counted as
//! unmatched responses), RESP3 pushes interleaved *inside* another reply (not sent by Redis).
//!
//! # Example
//! ```
//! use loupe_protocol_parsers::MessageKind;
//! use loupe_protocol_parsers::redis::{RedisConfig, RedisConnection};
//!
//! let mut conn = RedisConnection::new(RedisConfig::default());
//! let mut out = Vec::new();
//! conn.push(MessageKind::Request, 1_000, b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nhello\r\n", &mut out);
//! conn.push(MessageKind::Response, 5_000, b"+OK\r\n", &mut out);
//! assert_eq!(out.len(), 1);
//! assert_eq!(out[0].req_cmd, "SET");
//! assert_eq!(out[0].req_args, r#"["k","<redacted>"]"#);
//! assert_eq!(out[0].resp, "OK");
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

mod command;
mod decode;
mod frame;
mod infer;
mod stitch;
mod types;

#[cfg(test)]
mod capture;
#[cfg(test)]
mod tests;

pub use infer::infer;
pub use types::{Inference, RedisConfig, RedisRecord, RedisStats};

use crate::MessageKind;
use decode::{Agg, Blob, Decoder, Scalar, Sink};
use frame::{RequestBuilder, ResponseBuilder};
use stitch::Stitcher;
use types::RedisParseError;

/// Both directions of one Redis connection, and the pairing of commands with replies.
///
/// See the [module documentation](self) for the semantics.
#[derive(Debug)]
pub struct RedisConnection {
    req: Decoder,
    resp: Decoder,
    req_builder: RequestBuilder,
    resp_builder: ResponseBuilder,
    stitch: Stitcher,
    stats: RedisStats,
}

impl RedisConnection {
    /// A connection with no bytes seen yet.
    pub fn new(cfg: RedisConfig) -> Self {
        Self {
            req: Decoder::new(MessageKind::Request, &cfg),
            resp: Decoder::new(MessageKind::Response, &cfg),
            req_builder: RequestBuilder::new(&cfg),
            resp_builder: ResponseBuilder::new(&cfg),
            stitch: Stitcher::new(cfg.max_pending),
            stats: RedisStats::default(),
        }
    }

    /// Bytes of one stream, observed at kernel time `ts_ns` (monotonic ns). Appends completed
    /// records to `out`.
    ///
    /// Bytes of the two streams must be pushed in the order they were captured, so that a
    /// command is pushed before the reply that answers it.
    pub fn push(&mut self, kind: MessageKind, ts_ns: u64, data: &[u8], out: &mut Vec<RedisRecord>) {
        match kind {
            MessageKind::Request => {
                let mut sink = RequestSink {
                    b: &mut self.req_builder,
                    stitch: &mut self.stitch,
                    stats: &mut self.stats,
                };
                self.req.push(ts_ns, data, &mut sink);
            }
            MessageKind::Response => {
                let mut sink = ResponseSink {
                    b: &mut self.resp_builder,
                    stitch: &mut self.stitch,
                    stats: &mut self.stats,
                    out,
                };
                self.resp.push(ts_ns, data, &mut sink);
            }
        }
    }

    /// `len` bytes of that stream are missing (not captured past a size cap, or lost).
    ///
    /// Inside a bulk string of known length they are skipped
    /// ([`RedisStats::gap_bytes_skipped`]); otherwise the frame in progress is dropped
    /// ([`RedisStats::messages_lost_to_gaps`]) and the stream resynchronises at the next
    /// plausible frame start.
    pub fn push_gap(
        &mut self,
        kind: MessageKind,
        ts_ns: u64,
        len: u64,
        out: &mut Vec<RedisRecord>,
    ) {
        match kind {
            MessageKind::Request => {
                let mut sink = RequestSink {
                    b: &mut self.req_builder,
                    stitch: &mut self.stitch,
                    stats: &mut self.stats,
                };
                self.req.gap(ts_ns, len, &mut sink);
            }
            MessageKind::Response => {
                let mut sink = ResponseSink {
                    b: &mut self.resp_builder,
                    stitch: &mut self.stitch,
                    stats: &mut self.stats,
                    out,
                };
                self.resp.gap(ts_ns, len, &mut sink);
            }
        }
    }

    /// Connection closed: frames in progress are dropped
    /// ([`RedisStats::incomplete_at_close`]) and commands still waiting are counted
    /// ([`RedisStats::unanswered_requests`]). Every Redis frame ends at its own last byte, so
    /// `ts_ns` does not enter any timestamp and nothing is emitted. Afterwards the connection
    /// can be reused as a fresh one (counters kept).
    pub fn close(&mut self, ts_ns: u64, out: &mut Vec<RedisRecord>) {
        let _ = ts_ns;
        let mut sink = RequestSink {
            b: &mut self.req_builder,
            stitch: &mut self.stitch,
            stats: &mut self.stats,
        };
        let mut incomplete = u64::from(self.req.close(&mut sink));
        let mut sink = ResponseSink {
            b: &mut self.resp_builder,
            stitch: &mut self.stitch,
            stats: &mut self.stats,
            out,
        };
        incomplete += u64::from(self.resp.close(&mut sink));
        self.stats.incomplete_at_close += incomplete;
        self.stitch.close(&mut self.stats);
    }

    /// Counters since [`RedisConnection::new`].
    pub fn stats(&self) -> &RedisStats {
        &self.stats
    }

    /// The RESP version in use: 2 until a `HELLO <n>` got a non-error reply, then `n`.
    pub fn resp_version(&self) -> u8 {
        self.stitch.resp_version
    }
}

/// Appended to `resp` when a gap cut the reply: `array <truncated>`.
pub const TRUNCATED: &str = " <truncated>";

/// Decoder events of the request stream, into the request builder and the stitcher.
struct RequestSink<'a> {
    b: &'a mut RequestBuilder,
    stitch: &'a mut Stitcher,
    stats: &'a mut RedisStats,
}

impl Sink for RequestSink<'_> {
    fn begin_agg(&mut self, agg: Agg, len: Option<u64>) -> Result<(), RedisParseError> {
        self.b.begin_agg(agg, len)
    }
    fn end_agg(&mut self) {}
    fn scalar(&mut self, s: Scalar<'_>) -> Result<(), RedisParseError> {
        self.b.scalar(s)
    }
    fn begin_blob(&mut self, blob: Blob, len: Option<u64>) -> Result<(), RedisParseError> {
        self.b.begin_blob(blob, len)
    }
    fn blob_data(&mut self, data: &[u8]) {
        self.b.blob_data(data);
    }
    fn end_blob(&mut self) {
        self.b.end_blob();
    }
    fn frame_done(&mut self, ts_start: u64, ts_end: u64) {
        if let Some(req) = self.b.finish(ts_start, ts_end) {
            self.stitch.request(req, self.stats);
        }
    }
    fn frame_dropped(&mut self) {
        self.b.reset();
    }
    fn lost_sync(&mut self) {
        self.stitch.request_stream_lost();
    }
    fn stats(&mut self) -> &mut RedisStats {
        self.stats
    }
}

/// Decoder events of the response stream, into the response builder and the stitcher.
struct ResponseSink<'a> {
    b: &'a mut ResponseBuilder,
    stitch: &'a mut Stitcher,
    stats: &'a mut RedisStats,
    out: &'a mut Vec<RedisRecord>,
}

impl Sink for ResponseSink<'_> {
    fn begin_agg(&mut self, agg: Agg, len: Option<u64>) -> Result<(), RedisParseError> {
        self.b.begin_agg(agg, len)
    }
    fn end_agg(&mut self) {
        self.b.end_agg();
    }
    fn scalar(&mut self, s: Scalar<'_>) -> Result<(), RedisParseError> {
        self.b.scalar(s)
    }
    fn begin_blob(&mut self, blob: Blob, len: Option<u64>) -> Result<(), RedisParseError> {
        self.b.begin_blob(blob, len)
    }
    fn blob_data(&mut self, data: &[u8]) {
        self.b.blob_data(data);
    }
    fn end_blob(&mut self) {
        self.b.end_blob();
    }
    fn frame_done(&mut self, ts_start: u64, ts_end: u64) {
        let resp = self.b.finish(ts_start, ts_end);
        self.stitch.response(resp, self.stats, self.out);
    }
    fn frame_cut(&mut self, ts_start: u64, ts_end: u64) {
        // The reply began, so the command it answers is known (the oldest waiting one, as
        // for any reply): that command gets its record, marked, with what was seen of the
        // reply (its type and, for aggregates, the declared length). Replies the gap may
        // also have swallowed are the lost sync's business (their commands are dropped).
        let mut resp = self.b.finish(ts_start, ts_end);
        // An aggregate's count so far is not its length: keep only its kind.
        if let Some(open) = resp.render.find('[')
            && resp.render.ends_with(']')
            && resp.render[..open].bytes().all(|b| b.is_ascii_lowercase())
        {
            resp.render.truncate(open);
        }
        resp.render.push_str(TRUNCATED);
        self.stats.truncated_replies += 1;
        self.stitch.response(resp, self.stats, self.out);
    }
    fn frame_dropped(&mut self) {
        self.b.reset();
    }
    fn lost_sync(&mut self) {
        self.stitch.response_stream_lost(self.stats);
    }
    fn stats(&mut self) -> &mut RedisStats {
        self.stats
    }
}
