//! DNS over UDP and TCP: turns the messages of a connection, as captured by the kernel
//! probes, into `dns_events` rows, one per query.
//!
//! # What it does
//! [`DnsConnection`] decodes each message (header, questions, answers; see `message.rs`
//! for the grammar) and pairs queries with responses by transaction id **and** first question
//! (`stitch.rs`). Feed UDP datagrams with [`DnsConnection::push_datagram`] (each datagram is
//! one message) and TCP bytes with [`DnsConnection::push`] (RFC 1035 4.2.2 length-prefixed
//! frames, split anywhere; `frame.rs`); report lost TCP bytes with
//! [`DnsConnection::push_gap`]. Each answered query becomes a [`DnsRecord`] with the JSON
//! columns Pixie renders (`render.rs`) plus `query_name`, `query_type`, `resp_code`,
//! `answers` and `transport`. Answer RDATA is rendered for A, AAAA, CNAME, NS, PTR, MX, SRV,
//! TXT and SOA; other types as RFC 3597 opaque data (`\# len hex`), named by mnemonic or
//! `TYPE<n>`.
//!
//! # Timeouts and retries
//! A query that gets no answer is a row with `timed_out: true` and `resp_code: -1` (an
//! RCODE is 4 bits, so -1 can never be a real one), emitted by [`DnsConnection::expire`] once
//! it is [`DnsConfig::timeout_ns`] old, by [`DnsConnection::close`], or when
//! [`DnsConfig::max_pending`] queries are already waiting (the oldest goes). A client retry
//! (same id and question, resent) is its own row: the answer pairs with the oldest copy, as
//! in Pixie, and a copy left unanswered becomes a timeout row
//! ([`DnsStats::retries`] counts the resends). So a lookup whose first answer was lost shows
//! as two rows: the first attempt with the answer (latency includes the retry interval),
//! and the retry as a timeout.
//!
//! # Latency
//! [`DnsRecord::latency_ns`] is the timestamp of the push that carried the response's last
//! byte minus that of the push that carried the query's first byte (the length prefix, on
//! TCP). Callers pass the kernel monotonic timestamp of the syscall.
//!
//! # Losses and limits
//! Everything the wire controls is bounded: message length
//! ([`DnsConfig::max_message_bytes`]), questions ([`DnsConfig::max_questions`]), decoded
//! answers ([`DnsConfig::max_answers`]), name length (255 bytes decompressed, labels of
//! 63), compression pointers (32 per name, each strictly backwards, so no loop can exist),
//! pending queries ([`DnsConfig::max_pending`]). A message that breaks a rule is dropped and
//! counted in [`DnsStats::parse_errors`]; a TCP frame that fails to decode is skipped whole
//! (its length is known). A TCP gap inside a frame skips that frame; a gap across a frame
//! boundary, or a length prefix out of range, makes the stream scan for the next plausible
//! frame start ([`DnsStats::resyncs`]). Splitting the TCP bytes differently across `push`
//! calls never changes the records or counters. No input panics.
//!
//! # Example
//! ```
//! use loupe_protocol_parsers::MessageKind;
//! use loupe_protocol_parsers::dns::{DnsConfig, DnsConnection};
//!
//! // id 0x1234, RD, one question: example.test A IN
//! let query = b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x07example\x04test\x00\x00\x01\x00\x01";
//! let mut answer = query.to_vec();
//! answer[2..4].copy_from_slice(&[0x81, 0x80]); // QR RD RA, NOERROR
//! answer[7] = 1; // one answer: <pointer to the question name> A IN ttl 60 10.1.2.3
//! answer.extend_from_slice(b"\xc0\x0c\x00\x01\x00\x01\x00\x00\x00\x3c\x00\x04\x0a\x01\x02\x03");
//!
//! let mut conn = DnsConnection::new(DnsConfig::default());
//! let mut out = Vec::new();
//! conn.push_datagram(MessageKind::Request, 1_000, query, &mut out);
//! conn.push_datagram(MessageKind::Response, 5_000, &answer, &mut out);
//! assert_eq!(out[0].query_name, "example.test");
//! assert_eq!(out[0].answers, r#"["10.1.2.3"]"#);
//! assert_eq!(out[0].resp_code, 0);
//! assert_eq!(out[0].latency_ns(), 4_000);
//!
//! // A query nobody answers becomes a timeout row once it is 5 s old.
//! conn.push_datagram(MessageKind::Request, 10_000, query, &mut out);
//! conn.expire(10_000 + 5_000_000_000, &mut out);
//! assert!(out[1].timed_out && out[1].resp_code == -1);
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
mod message;
mod render;
mod stitch;
mod types;

#[cfg(test)]
mod capture;
#[cfg(test)]
mod tests;

pub use infer::infer;
pub use types::{DnsConfig, DnsRecord, DnsStats, Inference, Transport};

use crate::MessageKind;
use frame::{FrameEvent, TcpFramer};
use stitch::Stitcher;
use types::DnsParseError;

/// The messages of one DNS connection (a UDP socket's datagrams or a TCP connection's two
/// streams), and the pairing of queries with responses.
///
/// See the [module documentation](self) for the semantics.
#[derive(Debug)]
pub struct DnsConnection {
    req: TcpFramer,
    resp: TcpFramer,
    core: Core,
}

/// Everything but the framers, so that a framer's callback can borrow it.
#[derive(Debug)]
struct Core {
    cfg: DnsConfig,
    stitch: Stitcher,
    stats: DnsStats,
    last_error: [Option<DnsParseError>; 2],
}

fn dir(kind: MessageKind) -> usize {
    match kind {
        MessageKind::Request => 0,
        MessageKind::Response => 1,
    }
}

impl Core {
    fn error(&mut self, kind: MessageKind, e: DnsParseError) {
        self.stats.parse_errors += 1;
        if let Some(slot) = self.last_error.get_mut(dir(kind)) {
            *slot = Some(e);
        }
    }

    /// Decodes one message and hands it to the stitcher.
    fn message(
        &mut self,
        kind: MessageKind,
        transport: Transport,
        bytes: &[u8],
        (ts_start_ns, ts_end_ns): (u64, u64),
        out: &mut Vec<DnsRecord>,
    ) {
        match message::decode(bytes, kind, &self.cfg) {
            Ok(msg) => match kind {
                MessageKind::Request => {
                    self.stitch
                        .query(transport, ts_start_ns, msg, &mut self.stats, out)
                }
                MessageKind::Response => {
                    self.stitch
                        .response(ts_start_ns, ts_end_ns, msg, &mut self.stats, out)
                }
            },
            Err(e) => self.error(kind, e),
        }
    }

    fn frame_event(&mut self, kind: MessageKind, ev: FrameEvent<'_>, out: &mut Vec<DnsRecord>) {
        match ev {
            FrameEvent::Frame {
                bytes,
                ts_start_ns,
                ts_end_ns,
            } => self.message(kind, Transport::Tcp, bytes, (ts_start_ns, ts_end_ns), out),
            FrameEvent::BadLength(len) => self.error(kind, DnsParseError::FrameLength { len }),
            FrameEvent::Lost => self.stats.messages_lost_to_gaps += 1,
            FrameEvent::Resynced => self.stats.resyncs += 1,
        }
    }
}

impl DnsConnection {
    /// A connection with nothing seen yet.
    pub fn new(cfg: DnsConfig) -> Self {
        let cfg = cfg.normalized();
        Self {
            req: TcpFramer::new(MessageKind::Request, cfg.max_message_bytes),
            resp: TcpFramer::new(MessageKind::Response, cfg.max_message_bytes),
            core: Core {
                stitch: Stitcher::new(cfg.max_pending),
                stats: DnsStats::default(),
                last_error: [None; 2],
                cfg,
            },
        }
    }

    /// One UDP datagram (one whole message) of direction `kind`, received or sent at kernel
    /// time `ts_ns`. Appends the record it completes, if any, to `out`.
    pub fn push_datagram(
        &mut self,
        kind: MessageKind,
        ts_ns: u64,
        datagram: &[u8],
        out: &mut Vec<DnsRecord>,
    ) {
        self.core
            .message(kind, Transport::Udp, datagram, (ts_ns, ts_ns), out);
    }

    /// TCP bytes of one stream, observed at kernel time `ts_ns`, split anywhere. Appends the
    /// records they complete to `out`.
    ///
    /// Bytes of the two streams must be pushed in capture order, so that a query is pushed
    /// before the response that answers it.
    pub fn push(&mut self, kind: MessageKind, ts_ns: u64, data: &[u8], out: &mut Vec<DnsRecord>) {
        let framer = match kind {
            MessageKind::Request => &mut self.req,
            MessageKind::Response => &mut self.resp,
        };
        let core = &mut self.core;
        framer.push(ts_ns, data, &mut |ev| core.frame_event(kind, ev, out));
    }

    /// `len` bytes of that TCP stream are missing (not captured, or lost).
    ///
    /// Inside a frame of known length the rest of the frame is skipped and the message
    /// counted in [`DnsStats::messages_lost_to_gaps`]; otherwise the stream resynchronises at
    /// the next plausible frame start. A query lost this way produces no row; a response
    /// lost this way leaves its query to time out.
    pub fn push_gap(&mut self, kind: MessageKind, ts_ns: u64, len: u64, out: &mut Vec<DnsRecord>) {
        let _ = ts_ns;
        let framer = match kind {
            MessageKind::Request => &mut self.req,
            MessageKind::Response => &mut self.resp,
        };
        let core = &mut self.core;
        framer.gap(len, &mut |ev| core.frame_event(kind, ev, out));
    }

    /// Emits a timeout row for every query pending for at least
    /// [`DnsConfig::timeout_ns`] at kernel time `now_ns`, oldest first. Call it
    /// periodically; it does nothing else.
    pub fn expire(&mut self, now_ns: u64, out: &mut Vec<DnsRecord>) {
        let core = &mut self.core;
        core.stitch
            .expire(now_ns, core.cfg.timeout_ns, &mut core.stats, out);
    }

    /// The connection (or UDP socket) closed: a TCP message cut off is dropped
    /// ([`DnsStats::incomplete_at_close`]) and every pending query becomes a timeout row.
    /// After `close` the connection can be reused as a fresh one (counters kept).
    pub fn close(&mut self, ts_ns: u64, out: &mut Vec<DnsRecord>) {
        let _ = ts_ns;
        for framer in [&mut self.req, &mut self.resp] {
            if framer.close() {
                self.core.stats.incomplete_at_close += 1;
            }
        }
        self.core.stitch.close(&mut self.core.stats, out);
    }

    /// Counters since [`DnsConnection::new`].
    pub fn stats(&self) -> &DnsStats {
        &self.core.stats
    }

    /// Queries waiting for an answer.
    pub fn pending(&self) -> usize {
        self.core.stitch.pending_len()
    }

    #[cfg(test)]
    fn last_error(&self, kind: MessageKind) -> Option<DnsParseError> {
        self.core.last_error.get(dir(kind)).copied().flatten()
    }
}
