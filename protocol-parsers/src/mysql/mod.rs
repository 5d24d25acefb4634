//! MySQL / MariaDB client/server protocol: turns the two byte streams of a connection, as
//! captured by the kernel probes, into command/answer records for the `mysql_events` table.
//!
//! # What it does
//! [`MysqlConnection`] holds one framer per direction (`frame.rs`, where the packet format is
//! documented) and a stitcher (`stitch.rs`, where the answer grammar is). Feed it the bytes of
//! each direction in capture order with [`MysqlConnection::push`], report lost bytes with
//! [`MysqlConnection::push_gap`], and it appends a [`MysqlRecord`] for each command that got
//! its answer (or at once, for a command that gets none). It handles:
//! - packet framing: 3-byte length and sequence id; payloads of 16 MiB and more, sent as
//!   packets of 0xFFFFFF bytes and a shorter last one, are joined
//!   ([`MysqlStats::multi_packet_payloads`]);
//! - the connection phase: the server greeting (HandshakeV10), whose capability flags are
//!   noted, and the client's HandshakeResponse, of which only the first 32 bytes (capability
//!   flags, packet size, character set) are ever buffered: user name, auth data and
//!   attributes are counted, never read. The negotiated CLIENT_DEPRECATE_EOF decides whether
//!   an EOF follows column definitions; CLIENT_PROTOCOL_41 is required for the 4.1 OK layout.
//!   AuthSwitchRequest, auth more data and the client's answers are skipped
//!   ([`MysqlStats::auth_messages`]). An SSLRequest means the rest is encrypted: the
//!   connection is then ignored ([`MysqlStats::encrypted_sessions`]). A capture that starts
//!   mid-connection parses from its first command (sequence id 0); without a handshake the
//!   EOF-or-not question is answered by payload length (an EOF has 5 bytes, an OK at least 7);
//! - COM_QUERY: OK (affected rows, insert id, warnings), ERR (code, SQL state, message), text
//!   result sets (column count, definitions, EOF or not, rows, EOF / OK-as-EOF / ERR), LOCAL
//!   INFILE (the file's packets are counted, [`MysqlStats::local_infile_packets`], never
//!   kept) and multi-result answers (SERVER_MORE_RESULTS_EXISTS): one record per command with
//!   every result's summary joined by `; ` and the rows summed, as one COM_QUERY is one
//!   round trip;
//! - prepared statements: COM_STMT_PREPARE (prepare OK with statement id, parameter and column
//!   definitions), a per-connection map statement id -> SQL so that COM_STMT_EXECUTE (binary
//!   result sets), COM_STMT_RESET, COM_STMT_FETCH, COM_STMT_SEND_LONG_DATA and COM_STMT_CLOSE
//!   carry the SQL of their statement; COM_STMT_CLOSE forgets it;
//! - commands without an answer (COM_QUIT, COM_STMT_CLOSE, COM_STMT_SEND_LONG_DATA): a record
//!   with `resp_status` 1 at once;
//! - every other command generically: its COM_ byte, its text argument when it has one
//!   (COM_INIT_DB, COM_FIELD_LIST, COM_CREATE_DB, COM_DROP_DB), and OK / ERR / EOF / result
//!   set as answer (COM_FIELD_LIST: definitions up to EOF; COM_STATISTICS: one text payload;
//!   COM_CHANGE_USER: its auth exchange is skipped).
//!
//! # Records and redaction
//! `req_body` is the SQL with every literal replaced by `?`: MySQL strings (`'...'` and
//! `"..."`, with backslash escapes) are replaced here, then [`crate::normalize::normalize_sql`]
//! replaces numbers, following TABLES.md, so that records group by statement;
//! [`MysqlConfig::full_capture`] keeps it verbatim. The parameters of COM_STMT_EXECUTE are
//! never buffered (only the command byte and statement id are kept), in either mode; rows,
//! LOCAL INFILE data and authentication data are never kept either. Error messages are kept:
//! the server may quote a value in them (`Duplicate entry 'x' for key ...`).
//!
//! # Latency
//! [`MysqlRecord::latency_ns`] is the last answer byte minus the first command byte, from the
//! timestamps passed to `push`: up to the last terminator of a multi-result answer.
//!
//! # Losses and limits
//! Everything the wire controls is bounded: the joined payload length
//! ([`MysqlConfig::max_payload_len`]), the SQL kept ([`MysqlConfig::max_sql_len`]), the answer
//! text ([`MysqlConfig::max_text_len`]), waiting commands ([`MysqlConfig::max_pending`]),
//! remembered statements ([`MysqlConfig::max_statements`]) and column counts
//! ([`MysqlConfig::max_columns`]). "Not enough bytes yet" is the framer's state between pushes,
//! so splitting the bytes differently across `push` calls never changes the records or
//! counters; no input panics. A gap inside a payload whose content is not needed (a row) is
//! skipped ([`MysqlStats::gap_bytes_skipped`]); other gaps lose the payload they hit
//! ([`MysqlStats::messages_lost_to_gaps`]) and, if the framing is lost too, the stream scans
//! for a plausible packet: a command with sequence id 0 from the client, the first packet of an
//! answer (sequence id 1) from the server ([`MysqlStats::resyncs`]). How pairing recovers is
//! described in `stitch.rs`. Everything is counted in [`MysqlStats`].
//!
//! Not handled: compressed protocol (CLIENT_COMPRESS; its frames would not parse and are
//! counted as lost), the X protocol (port 33060), replication streams (COM_BINLOG_DUMP),
//! MySQL 8's optional result set metadata (CLIENT_OPTIONAL_RESULTSET_METADATA), MariaDB's
//! COM_STMT_BULK_EXECUTE answers beyond OK / ERR, and cursors beyond the first answer
//! (COM_STMT_FETCH rows are counted in its own record).
//!
//! # Example
//! ```
//! use loupe_protocol_parsers::MessageKind;
//! use loupe_protocol_parsers::mysql::{MysqlConfig, MysqlConnection, STATUS_OK};
//!
//! let mut conn = MysqlConnection::new(MysqlConfig::default());
//! let mut out = Vec::new();
//! let sql = b"UPDATE t SET a = 'x' WHERE id = 42";
//! let mut req = vec![sql.len() as u8 + 1, 0, 0, 0, 0x03];
//! req.extend_from_slice(sql);
//! conn.push(MessageKind::Request, 1_000, &req, &mut out);
//! // OK: 1 row affected, no insert id, status autocommit, no warnings
//! conn.push(MessageKind::Response, 5_000, b"\x07\x00\x00\x01\x00\x01\x00\x02\x00\x00\x00", &mut out);
//! assert_eq!(out.len(), 1);
//! assert_eq!(out[0].req_cmd, 3);
//! assert_eq!(out[0].req_body, "UPDATE t SET a = ? WHERE id = ?");
//! assert_eq!((out[0].resp_body.as_str(), out[0].resp_status), ("OK affected=1", STATUS_OK));
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
pub use types::{
    Inference, MysqlConfig, MysqlRecord, MysqlStats, STATUS_ERROR, STATUS_NONE, STATUS_OK,
};

use crate::MessageKind;
use frame::{Event, Framer};
use stitch::{Flow, Stitcher};

/// Both directions of one MySQL connection, and the pairing of commands with answers.
///
/// See the [module documentation](self) for the semantics.
#[derive(Debug)]
pub struct MysqlConnection {
    req: Framer,
    resp: Framer,
    stitch: Stitcher,
    stats: MysqlStats,
}

impl MysqlConnection {
    /// A connection with no bytes seen yet.
    pub fn new(cfg: MysqlConfig) -> Self {
        Self {
            req: Framer::new(MessageKind::Request, &cfg),
            resp: Framer::new(MessageKind::Response, &cfg),
            stitch: Stitcher::new(&cfg),
            stats: MysqlStats::default(),
        }
    }

    /// Bytes of one stream, observed at kernel time `ts_ns` (monotonic ns). Appends completed
    /// records to `out`.
    ///
    /// Bytes of the two streams must be pushed in the order they were captured, so that a
    /// command is pushed before the answer to it.
    pub fn push(&mut self, kind: MessageKind, ts_ns: u64, data: &[u8], out: &mut Vec<MysqlRecord>) {
        let mut data = data;
        match kind {
            MessageKind::Request => loop {
                let hint = self.stitch.request_hint();
                let Some(ev) = self.req.next(&mut data, ts_ns, hint, &mut self.stats) else {
                    break;
                };
                if self.stitch.request(ev, &mut self.stats, out) == Flow::Encrypted {
                    self.req.off = true;
                    self.resp.off = true;
                }
            },
            MessageKind::Response => loop {
                let hint = self.stitch.response_hint();
                let Some(ev) = self.resp.next(&mut data, ts_ns, hint, &mut self.stats) else {
                    break;
                };
                self.stitch.response(ev, &mut self.stats, out);
            },
        }
    }

    /// `len` bytes of that stream are missing (not captured past a size cap, or lost).
    ///
    /// Inside a payload whose content is not needed they are skipped
    /// ([`MysqlStats::gap_bytes_skipped`]); otherwise the payload in progress is lost
    /// ([`MysqlStats::messages_lost_to_gaps`]) and, past its end, the stream resynchronises at
    /// the next plausible packet.
    pub fn push_gap(
        &mut self,
        kind: MessageKind,
        ts_ns: u64,
        len: u64,
        out: &mut Vec<MysqlRecord>,
    ) {
        let _ = ts_ns;
        match kind {
            MessageKind::Request => {
                let _ = self.req.gap(len, &mut self.stats);
            }
            MessageKind::Response => {
                if self.resp.gap(len, &mut self.stats) {
                    self.stitch.response(Event::Lost, &mut self.stats, out);
                }
            }
        }
    }

    /// Connection closed: payloads in progress are dropped
    /// ([`MysqlStats::incomplete_at_close`]) and commands still waiting are counted
    /// ([`MysqlStats::unanswered_requests`]). Nothing is emitted. Afterwards the connection
    /// can be reused as a fresh one (counters kept).
    pub fn close(&mut self, ts_ns: u64, out: &mut Vec<MysqlRecord>) {
        let _ = (ts_ns, out);
        let incomplete = u64::from(self.req.close()) + u64::from(self.resp.close());
        self.stats.incomplete_at_close += incomplete;
        self.stitch.close(&mut self.stats);
    }

    /// Counters since [`MysqlConnection::new`].
    pub fn stats(&self) -> &MysqlStats {
        &self.stats
    }
}
