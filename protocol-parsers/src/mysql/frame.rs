//! Packet framing of one direction, as a resumable state machine.
//!
//! Wire format (MySQL client/server protocol, "MySQL Packets"):
//! ```text
//! packet  = len:u24le seq:u8 payload[len]
//! payload = packet(len = 0xFFFFFF) ... packet(len < 0xFFFFFF)
//!           a payload of 16 MiB - 1 bytes or more is sent in packets of 0xFFFFFF bytes, the
//!           last one shorter (possibly empty); their sequence ids count up by one
//! ```
//! The framer joins the packets of a payload and hands out one [`Event::Payload`] with the
//! sequence id of its first packet. Only the first bytes of a payload that a record needs are
//! buffered (`keep`, chosen by the caller's [`Hint`] and the payload's first byte: SQL for
//! COM_QUERY, five bytes for COM_STMT_EXECUTE, which is how its parameters are never read,
//! nothing of authentication data); the rest is counted. A gap inside the counted part is
//! skipped without loss; a gap inside the kept part loses that one payload but keeps the
//! framing (its length is known); any other gap makes the stream scan byte by byte for a
//! plausible start of a payload ([`plausible`]). The scan looks at a window of five bytes (the
//! header and the first payload byte), so it gives the same answer however the bytes are
//! split.

use super::types::{MysqlConfig, MysqlParseError, MysqlStats};
use crate::MessageKind;

/// Largest packet length; a packet of this length is continued by the next one.
pub(crate) const MAX_PACKET: u32 = 0xFF_FFFF;
/// Longest payload accepted as plausible while resynchronising or inferring.
pub(crate) const RESYNC_MAX_LEN: u32 = 1 << 20;
/// Bytes kept of a server payload that is not an ERR: enough for a greeting (version string,
/// capability flags), an OK (two length-encoded integers, status, warnings) and a prepare OK.
const ANSWER_KEEP: usize = 256;
/// Bytes kept of a row: enough for an EOF or OK-as-EOF terminator.
const ROW_KEEP: usize = 32;
/// Bytes kept of a HandshakeResponse: capability flags, max packet size, character set and
/// the 23-byte filler. The user name, the auth data and everything after are never buffered.
const HANDSHAKE_KEEP: usize = 32;

/// Client commands (COM_ bytes) that may start a command packet.
pub(crate) fn is_command(b: u8) -> bool {
    matches!(
        b,
        0x01..=0x0a | 0x0c..=0x0e | 0x11 | 0x12 | 0x16..=0x1c | 0x1f | 0xfa
    )
}

/// Payload length of commands that have a fixed one.
fn fixed_command_len(b: u8) -> Option<u32> {
    match b {
        0x01 | 0x08 | 0x09 | 0x0a | 0x0d | 0x0e | 0x1f => Some(1),
        0x0c | 0x19 | 0x1a => Some(5),
        0x1b => Some(3),
        0x1c => Some(9),
        _ => None,
    }
}

/// Whether a packet with this header and first payload byte is a plausible place to
/// resynchronise: a command (sequence id 0) on the client stream, the first packet of an
/// answer (sequence id 1) on the server stream.
pub(crate) fn plausible(kind: MessageKind, len: u32, seq: u8, first: u8) -> bool {
    if len == 0 || len > RESYNC_MAX_LEN {
        return false;
    }
    match kind {
        MessageKind::Request => {
            seq == 0 && is_command(first) && fixed_command_len(first).is_none_or(|n| n == len)
        }
        MessageKind::Response => {
            seq == 1
                && match first {
                    0x00 => (7..=1024).contains(&len),
                    0xff => (9..=1024).contains(&len),
                    0xfe => len < 9,
                    0x01..=0xfa => len == 1,
                    _ => false,
                }
        }
    }
}

/// What the caller expects next on this stream; decides how much of a payload is kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Hint {
    /// Client, before the HandshakeResponse: a payload with sequence id > 0 is one.
    Handshake,
    /// Client, after it: payloads with sequence id > 0 are auth data or LOCAL INFILE data.
    Command,
    /// Server, answer start or metadata.
    Answer,
    /// Server, inside the rows of a result set.
    Rows,
}

/// One complete payload, with its kept prefix.
#[derive(Debug)]
pub(crate) struct Payload<'a> {
    /// Sequence id of its first packet.
    pub seq: u8,
    /// The first `keep` bytes.
    pub body: &'a [u8],
    /// Full payload length.
    pub len: u64,
    pub ts_start: u64,
    pub ts_end: u64,
}

/// What the framer found.
#[derive(Debug)]
pub(crate) enum Event<'a> {
    Payload(Payload<'a>),
    /// A payload, or the framing, was lost (a gap, or bytes that broke a limit).
    Lost,
}

#[derive(Clone, Copy, Debug)]
enum State {
    /// Collecting a packet header in `win`.
    Header,
    /// Inside a packet; `last`: no continuation packet follows.
    Body { remaining: u32, last: bool },
}

/// Framer of one direction.
#[derive(Debug)]
pub(crate) struct Framer {
    kind: MessageKind,
    max_payload: u64,
    max_sql: usize,
    max_text: usize,
    win: [u8; 5],
    win_len: usize,
    state: State,
    /// A continuation packet of the payload in progress is expected.
    cont: bool,
    seq: u8,
    /// Payload bytes consumed (or skipped by a gap) so far.
    consumed: u64,
    /// Payload bytes announced by the headers so far.
    total: u64,
    keep: usize,
    damaged: bool,
    packets: u32,
    ts_start: u64,
    /// False while scanning for a header after a loss.
    synced: bool,
    body: Vec<u8>,
    /// Encrypted session: every byte is ignored.
    pub(crate) off: bool,
    last_error: Option<MysqlParseError>,
}

impl Framer {
    pub(crate) fn new(kind: MessageKind, cfg: &MysqlConfig) -> Self {
        Self {
            kind,
            max_payload: cfg.max_payload_len.max(1),
            max_sql: cfg.max_sql_len.max(1),
            max_text: cfg.max_text_len.max(1),
            win: [0; 5],
            win_len: 0,
            state: State::Header,
            cont: false,
            seq: 0,
            consumed: 0,
            total: 0,
            keep: 0,
            damaged: false,
            packets: 0,
            ts_start: 0,
            synced: true,
            body: Vec::new(),
            off: false,
            last_error: None,
        }
    }

    /// The last grammar error, for tests.
    #[cfg(test)]
    pub(crate) fn last_error(&self) -> Option<MysqlParseError> {
        self.last_error
    }

    fn keep_len(&self, hint: Hint, first: u8) -> usize {
        match (self.kind, hint) {
            (MessageKind::Request, Hint::Handshake) if self.seq != 0 => HANDSHAKE_KEEP,
            (MessageKind::Request, _) if self.seq != 0 => 0,
            (MessageKind::Request, _) => match first {
                // QUERY, INIT_DB, FIELD_LIST, CREATE_DB, DROP_DB, STMT_PREPARE: the text.
                0x02..=0x06 | 0x16 => self.max_sql + 2,
                // Statement commands: the command byte and the statement id, never the
                // parameters that follow.
                0x17..=0x1a | 0x1c | 0xfa => 5,
                _ => 1,
            },
            (MessageKind::Response, _) if first == 0xff => self.max_text + 16,
            (MessageKind::Response, Hint::Rows) => ROW_KEEP,
            (MessageKind::Response, _) => ANSWER_KEEP,
        }
    }

    fn start_body(&mut self, len: u32, seq: u8) {
        if !self.cont {
            self.seq = seq;
            self.consumed = 0;
            self.total = 0;
            self.damaged = false;
            self.packets = 0;
            self.body.clear();
        }
        self.packets += 1;
        self.total += u64::from(len);
        if self.total > self.max_payload && !self.damaged {
            self.damaged = true;
            self.last_error = Some(MysqlParseError::TooLong { len: self.total });
        }
        self.state = State::Body {
            remaining: len,
            last: len < MAX_PACKET,
        };
    }

    fn take(&mut self, chunk: &[u8], hint: Hint) {
        if chunk.is_empty() {
            return;
        }
        if self.consumed == 0
            && let Some(&first) = chunk.first()
        {
            self.keep = self.keep_len(hint, first);
        }
        let want = self.keep.saturating_sub(self.body.len()).min(chunk.len());
        self.body
            .extend_from_slice(chunk.get(..want).unwrap_or_default());
        self.consumed += chunk.len() as u64;
    }

    /// Consumes bytes of `data` until an event is ready (returned) or `data` is empty (None).
    pub(crate) fn next<'s>(
        &'s mut self,
        data: &mut &[u8],
        ts: u64,
        hint: Hint,
        stats: &mut MysqlStats,
    ) -> Option<Event<'s>> {
        if self.off {
            *data = &[];
            return None;
        }
        loop {
            match self.state {
                State::Header => {
                    let (&b, rest) = data.split_first()?;
                    *data = rest;
                    if self.win_len == 0 && !self.cont {
                        self.ts_start = ts;
                    }
                    if let Some(slot) = self.win.get_mut(self.win_len) {
                        *slot = b;
                        self.win_len += 1;
                    }
                    let [l0, l1, l2, seq, first] = self.win;
                    let len = u32::from_le_bytes([l0, l1, l2, 0]);
                    if self.synced {
                        if self.win_len == 4 {
                            self.win_len = 0;
                            self.start_body(len, seq);
                        }
                    } else if self.win_len == 5 {
                        if plausible(self.kind, len, seq, first) {
                            stats.resyncs += 1;
                            self.synced = true;
                            self.win_len = 0;
                            self.start_body(len, seq);
                            self.take(&[first], hint);
                            self.state = State::Body {
                                remaining: len - 1,
                                last: true,
                            };
                        } else {
                            self.win.copy_within(1.., 0);
                            self.win_len = 4;
                        }
                    }
                }
                State::Body { remaining, last } => {
                    if remaining > 0 {
                        let n = (remaining as usize).min(data.len());
                        let (chunk, rest) = data.split_at(n);
                        *data = rest;
                        self.take(chunk, hint);
                        let remaining = remaining - n as u32;
                        self.state = State::Body { remaining, last };
                        if remaining > 0 {
                            return None;
                        }
                    }
                    self.state = State::Header;
                    if !last {
                        self.cont = true;
                        continue;
                    }
                    self.cont = false;
                    if self.packets > 1 {
                        stats.multi_packet_payloads += 1;
                    }
                    if self.damaged {
                        if matches!(self.last_error, Some(MysqlParseError::TooLong { .. }))
                            && self.total > self.max_payload
                        {
                            stats.parse_errors += 1;
                        } else {
                            stats.messages_lost_to_gaps += 1;
                        }
                        return Some(Event::Lost);
                    }
                    return Some(Event::Payload(Payload {
                        seq: self.seq,
                        body: &self.body,
                        len: self.total,
                        ts_start: self.ts_start,
                        ts_end: ts,
                    }));
                }
            }
        }
    }

    /// `len` bytes of this stream are missing. Returns true if sync or a payload was lost
    /// right away (a payload hit inside its known length is reported at its end instead).
    pub(crate) fn gap(&mut self, len: u64, stats: &mut MysqlStats) -> bool {
        if self.off || len == 0 {
            return false;
        }
        match &mut self.state {
            State::Body { remaining, .. } if len <= u64::from(*remaining) => {
                *remaining -= len as u32;
                let needed = self.consumed == 0 || self.body.len() < self.keep;
                self.consumed += len;
                if needed {
                    self.damaged = true;
                } else if !self.damaged {
                    stats.gap_bytes_skipped += len;
                }
                false
            }
            State::Body { .. } => {
                stats.messages_lost_to_gaps += 1;
                self.reset(false);
                true
            }
            State::Header => {
                if self.synced && (self.win_len > 0 || self.cont) {
                    stats.messages_lost_to_gaps += 1;
                }
                self.reset(false);
                true
            }
        }
    }

    fn reset(&mut self, synced: bool) {
        self.state = State::Header;
        self.win_len = 0;
        self.cont = false;
        self.synced = synced;
    }

    /// End of stream: returns whether a payload was in progress, and resets.
    pub(crate) fn close(&mut self) -> bool {
        let incomplete = !self.off
            && (matches!(self.state, State::Body { .. }) || self.win_len > 0 || self.cont);
        self.reset(true);
        self.off = false;
        incomplete
    }
}
