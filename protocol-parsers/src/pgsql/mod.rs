//! PostgreSQL frontend/backend protocol 3.0: turns the two byte streams of a connection, as
//! captured by the kernel probes, into request/answer records for the `pgsql_events` table.
//!
//! # What it does
//! [`PgsqlConnection`] holds one framer per direction (`frame.rs`, where the wire format is
//! documented) and a stitcher (`stitch.rs`, where the answer grammar is). Feed it the bytes of
//! each direction in capture order with [`PgsqlConnection::push`], report lost bytes with
//! [`PgsqlConnection::push_gap`], and it appends a [`PgsqlRecord`] for each client message
//! that got its answer. It handles:
//! - the startup phase: SSLRequest and GSSENCRequest with the server's one-byte `N` answer
//!   (an `S`/`G` answer means the rest is encrypted: the connection is then ignored,
//!   [`PgsqlStats::encrypted_sessions`]), StartupMessage, CancelRequest, and the
//!   authentication exchange, which is skipped unread (passwords and SASL messages are
//!   counted, never buffered); ParameterStatus and BackendKeyData are skipped;
//! - the simple protocol: one record per Query message, emitted at its ReadyForQuery. A
//!   multi-statement string gives **one** record with every command tag joined by `; `
//!   (`INSERT 0 1; SELECT 2; UPDATE 1`) and the rows summed: this is Pixie's grain (its
//!   `StitchFrames` makes one record per Query message, `req_cmd = "Query"`, so PxL scripts
//!   that count queries keep their meaning), while keeping the tags Pixie drops after the
//!   first. An error ends the string (the server skips the rest): the record is `ERROR`
//!   with the error's message;
//! - the extended protocol: Parse, Bind, Describe and Execute each give a record, as in
//!   Pixie (`PARSE COMPLETE`, `BIND COMPLETE`, `ROW DESCRIPTION` / `NO DATA`, the command
//!   tag); Close, Sync and Flush give none. A per-connection map from statement name to SQL
//!   (and from portal name to its statement's SQL) lets a Bind, Describe and Execute carry the
//!   SQL of their statement, named or unnamed; Close forgets a name. Pipelining (several
//!   Bind/Execute before one Sync) needs nothing special, as the server answers in order.
//!   After an error the server skips messages up to Sync; they get no record
//!   ([`PgsqlStats::skipped_after_error`]);
//! - errors and notices: ErrorResponse fills `resp_status = "ERROR"`, the severity
//!   (non-localised `V` field when present), the SQLSTATE and the message; NoticeResponse is
//!   counted ([`PgsqlStats::notices`]);
//! - COPY (`COPY ... FROM STDIN` / `TO STDOUT`, what psql's `\copy` sends): one record for
//!   the Query, `resp_body = "COPY 500"`, `rows` from the tag, and the CopyData payload of
//!   both directions counted in [`PgsqlRecord::copy_bytes`], never stored;
//! - rows: the count of a command tag that has one, else the DataRows of that statement.
//!
//! # Records and redaction
//! `req_body` is the SQL with every literal replaced by `?` ([`crate::normalize::normalize_sql`]),
//! following TABLES.md, so that records group by statement; [`PgsqlConfig::full_capture`]
//! keeps it verbatim. The parameters of a Bind are never read past the two names that precede
//! them, in either mode; row contents (DataRow), COPY data and authentication messages are
//! never kept either. Error messages are kept (PostgreSQL may quote a value in `DETAIL`, which
//! is not read; the `M` message is).
//!
//! # Latency
//! [`PgsqlRecord::latency_ns`] is the last answer byte minus the first request byte, from the
//! timestamps passed to `push`: up to ReadyForQuery for a Query, up to the completion message
//! for an extended-protocol step.
//!
//! # Losses and limits
//! Everything the wire controls is bounded: message length ([`PgsqlConfig::max_message_len`];
//! a length below 4 is rejected), the SQL kept ([`PgsqlConfig::max_sql_len`]), the answer
//! text ([`PgsqlConfig::max_text_len`]), waiting messages ([`PgsqlConfig::max_pending`]) and
//! remembered statement names ([`PgsqlConfig::max_statements`]). "Not enough bytes yet" is the
//! framer's state between pushes, so splitting the bytes differently across `push` calls never
//! changes the records or counters; no input panics. A gap inside a body whose content is not
//! needed (DataRow, CopyData) is skipped ([`PgsqlStats::gap_bytes_skipped`]); other gaps lose
//! the message they hit ([`PgsqlStats::messages_lost_to_gaps`]) and, if the framing is lost
//! too, the stream scans for a plausible header ([`PgsqlStats::resyncs`]). How pairing
//! recovers is described in `stitch.rs`. Everything is counted in [`PgsqlStats`].
//!
//! Not handled: encrypted sessions (ignored after `S`), replication connections (CopyBoth is
//! framed but its records are whatever the Query gives), the 3.2 protocol's longer cancel
//! keys (framed fine, as BackendKeyData is skipped unread, but its fixed length is checked
//! against 3.0's 12 bytes), FunctionCall answers beyond the record's status.
//!
//! # Example
//! ```
//! use loupe_protocol_parsers::MessageKind;
//! use loupe_protocol_parsers::pgsql::{PgsqlConfig, PgsqlConnection};
//!
//! let mut conn = PgsqlConnection::new(PgsqlConfig::default());
//! let mut out = Vec::new();
//! conn.push(MessageKind::Request, 1_000, b"Q\x00\x00\x00\x22SELECT * FROM t WHERE id = 42\x00", &mut out);
//! conn.push(MessageKind::Response, 5_000, b"C\x00\x00\x00\x0dSELECT 1\x00Z\x00\x00\x00\x05I", &mut out);
//! assert_eq!(out.len(), 1);
//! assert_eq!(out[0].req_cmd, "Query");
//! assert_eq!(out[0].req_body, "SELECT * FROM t WHERE id = ?");
//! assert_eq!((out[0].resp_body.as_str(), out[0].resp_status.as_str()), ("SELECT 1", "OK"));
//! assert_eq!((out[0].rows, out[0].latency_ns()), (1, 4_000));
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

mod frame;
mod infer;
mod stitch;
mod types;

#[cfg(test)]
mod capture;
#[cfg(test)]
mod tests;

pub use infer::infer;
pub use types::{Inference, PgsqlConfig, PgsqlRecord, PgsqlStats};

use crate::MessageKind;
use frame::{Event, Framer};
use stitch::{Flow, Stitcher};

/// Both directions of one PostgreSQL connection, and the pairing of messages with answers.
///
/// See the [module documentation](self) for the semantics.
#[derive(Debug)]
pub struct PgsqlConnection {
    req: Framer,
    resp: Framer,
    stitch: Stitcher,
    stats: PgsqlStats,
}

impl PgsqlConnection {
    /// A connection with no bytes seen yet.
    pub fn new(cfg: PgsqlConfig) -> Self {
        Self {
            req: Framer::new(MessageKind::Request, &cfg),
            resp: Framer::new(MessageKind::Response, &cfg),
            stitch: Stitcher::new(&cfg),
            stats: PgsqlStats::default(),
        }
    }

    /// Bytes of one stream, observed at kernel time `ts_ns` (monotonic ns). Appends completed
    /// records to `out`.
    ///
    /// Bytes of the two streams must be pushed in the order they were captured, so that a
    /// message is pushed before the answer to it.
    pub fn push(&mut self, kind: MessageKind, ts_ns: u64, data: &[u8], out: &mut Vec<PgsqlRecord>) {
        let mut data = data;
        match kind {
            MessageKind::Request => {
                while let Some(ev) = self.req.next(&mut data, ts_ns, false, &mut self.stats) {
                    let _ = self.stitch.request(ev, &mut self.stats);
                }
            }
            MessageKind::Response => loop {
                let expect = self.stitch.expect_single > 0;
                let Some(ev) = self.resp.next(&mut data, ts_ns, expect, &mut self.stats) else {
                    break;
                };
                if self.stitch.response(ev, &mut self.stats, out) == Flow::Encrypted {
                    self.req.off = true;
                    self.resp.off = true;
                }
            },
        }
    }

    /// `len` bytes of that stream are missing (not captured past a size cap, or lost).
    ///
    /// Inside a body whose content is not needed they are skipped
    /// ([`PgsqlStats::gap_bytes_skipped`]); otherwise the message in progress is lost
    /// ([`PgsqlStats::messages_lost_to_gaps`]) and, past its end, the stream resynchronises at
    /// the next plausible header.
    pub fn push_gap(
        &mut self,
        kind: MessageKind,
        ts_ns: u64,
        len: u64,
        out: &mut Vec<PgsqlRecord>,
    ) {
        let _ = ts_ns;
        match kind {
            MessageKind::Request => {
                if self.req.gap(len, &mut self.stats) {
                    self.stitch.request_lost(&mut self.stats);
                }
            }
            MessageKind::Response => {
                if self.resp.gap(len, &mut self.stats) {
                    self.stitch.response(Event::Lost, &mut self.stats, out);
                }
            }
        }
    }

    /// Connection closed: messages in progress are dropped
    /// ([`PgsqlStats::incomplete_at_close`]) and client messages still waiting are counted
    /// ([`PgsqlStats::unanswered_requests`]). Every message ends at its own last byte, so
    /// `ts_ns` does not enter any timestamp and nothing is emitted. Afterwards the connection
    /// can be reused as a fresh one (counters kept).
    pub fn close(&mut self, ts_ns: u64, out: &mut Vec<PgsqlRecord>) {
        let _ = (ts_ns, out);
        let incomplete = u64::from(self.req.close()) + u64::from(self.resp.close());
        self.stats.incomplete_at_close += incomplete;
        self.stitch.close(&mut self.stats);
    }

    /// Counters since [`PgsqlConnection::new`].
    pub fn stats(&self) -> &PgsqlStats {
        &self.stats
    }
}
