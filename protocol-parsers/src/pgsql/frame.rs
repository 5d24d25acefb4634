//! Message framing of one direction, as a resumable state machine.
//!
//! Wire format (PostgreSQL protocol 3.0, "Message Formats"):
//! ```text
//! typed message  = type:u8 len:u32be body[len-4]       len counts itself, not the type byte
//! startup packet = len:u32be code:u32be body[len-8]    client only, before any typed message:
//!                  code 0x0003_0000 (3.0; any 3.x) StartupMessage, 80877103 SSLRequest,
//!                  80877104 GSSENCRequest, 80877102 CancelRequest; 8 <= len <= 10000
//! ssl answer     = 'N' | 'S' | 'G'                     server only, one byte, right after an
//!                                                      SSLRequest / GSSENCRequest
//! ```
//! A typed message never has type 0 and a startup packet is shorter than 16 MiB, so a 0 at a
//! message boundary of the client stream always starts a startup packet: no mode is needed,
//! and a capture that starts mid-connection parses from its first message.
//!
//! Only the first bytes of a body that a record needs are buffered (`keep_len`); the rest is
//! counted. A gap inside the counted part is skipped without loss; a gap inside the kept part
//! loses that one message but keeps the framing (its length is known); any other gap, and any
//! header that breaks the rules, makes the stream scan byte by byte for a plausible header: a
//! known type byte for the direction and a length that fits it (exact for fixed-size
//! messages, at most 1 MiB otherwise, except DataRow and CopyData). The scan looks at a window
//! of at most five bytes, so it gives the same answer however the bytes are split.

use super::types::{PgsqlConfig, PgsqlParseError, PgsqlStats};
use crate::MessageKind;

/// Startup code of SSLRequest.
pub(crate) const SSL_REQUEST: u32 = 80_877_103;
/// Startup code of GSSENCRequest.
pub(crate) const GSSENC_REQUEST: u32 = 80_877_104;
/// Startup code of CancelRequest.
pub(crate) const CANCEL_REQUEST: u32 = 80_877_102;
/// Largest startup packet the server accepts (`MAX_STARTUP_PACKET_LENGTH`).
pub(crate) const MAX_STARTUP_LEN: u32 = 10_000;
/// Longest message accepted as plausible while resynchronising (DataRow, CopyData excepted).
const RESYNC_MAX_LEN: u32 = 1 << 20;
/// Bytes kept of a name-carrying body (Bind, Describe, Execute, Close): two names of at most
/// NAMEDATALEN-1 = 63 bytes plus their NULs, with room to spare.
const NAMES_KEEP: usize = 256;

/// Frontend message types.
pub(crate) fn is_request_type(b: u8) -> bool {
    matches!(
        b,
        b'Q' | b'P'
            | b'B'
            | b'D'
            | b'E'
            | b'S'
            | b'H'
            | b'C'
            | b'X'
            | b'p'
            | b'd'
            | b'c'
            | b'f'
            | b'F'
    )
}

/// Backend message types.
pub(crate) fn is_response_type(b: u8) -> bool {
    matches!(
        b,
        b'R' | b'K'
            | b'S'
            | b'Z'
            | b'T'
            | b'D'
            | b'C'
            | b'I'
            | b'E'
            | b'N'
            | b'1'
            | b'2'
            | b'3'
            | b'n'
            | b't'
            | b's'
            | b'G'
            | b'H'
            | b'W'
            | b'd'
            | b'c'
            | b'A'
            | b'V'
            | b'v'
    )
}

/// The length field a fixed-size message must carry.
fn fixed_len(kind: MessageKind, ty: u8) -> Option<u32> {
    match kind {
        MessageKind::Request => matches!(ty, b'S' | b'H' | b'X' | b'c').then_some(4),
        MessageKind::Response => match ty {
            b'Z' => Some(5),
            b'K' => Some(12),
            b'1' | b'2' | b'3' | b'n' | b'I' | b's' | b'c' => Some(4),
            _ => None,
        },
    }
}

/// Whether `ty` with length field `len` is a valid header (`strict`: plausible enough to
/// resynchronise on).
pub(crate) fn header_ok(kind: MessageKind, ty: u8, len: u32, max_len: u32, strict: bool) -> bool {
    let known = match kind {
        MessageKind::Request => is_request_type(ty),
        MessageKind::Response => is_response_type(ty),
    };
    if !known || len < 4 || len > max_len {
        return false;
    }
    if let Some(n) = fixed_len(kind, ty) {
        return len == n;
    }
    !strict || ty == b'D' || ty == b'd' || len <= RESYNC_MAX_LEN
}

/// One complete message, with the kept prefix of its body.
#[derive(Debug)]
pub(crate) struct Msg<'a> {
    /// Type byte; 0 for a startup packet (whose body then starts with the code).
    pub ty: u8,
    /// The first `keep_len` bytes of the body.
    pub body: &'a [u8],
    /// Full body length.
    pub len: u32,
    pub ts_start: u64,
    pub ts_end: u64,
}

/// What the framer found.
#[derive(Debug)]
pub(crate) enum Event<'a> {
    Message(Msg<'a>),
    /// The one-byte answer to an encryption request.
    SingleByte {
        byte: u8,
    },
    /// A message, or the framing, was lost (a gap, or bytes that broke the grammar).
    Lost,
}

#[derive(Clone, Copy, Debug)]
enum State {
    /// Collecting a header in `win`.
    Header,
    Body {
        ty: u8,
        len: u32,
        remaining: u64,
        keep: usize,
        damaged: bool,
    },
}

/// Framer of one direction.
#[derive(Debug)]
pub(crate) struct Framer {
    kind: MessageKind,
    max_len: u32,
    max_sql: usize,
    max_text: usize,
    win: [u8; 5],
    win_len: usize,
    ts_start: u64,
    /// False while scanning for a header after a loss.
    synced: bool,
    state: State,
    body: Vec<u8>,
    /// Encrypted session: every byte is ignored.
    pub(crate) off: bool,
    last_error: Option<PgsqlParseError>,
}

impl Framer {
    pub(crate) fn new(kind: MessageKind, cfg: &PgsqlConfig) -> Self {
        Self {
            kind,
            max_len: cfg.max_message_len.max(4),
            max_sql: cfg.max_sql_len.max(1),
            max_text: cfg.max_text_len.max(1),
            win: [0; 5],
            win_len: 0,
            ts_start: 0,
            synced: true,
            state: State::Header,
            body: Vec::new(),
            off: false,
            last_error: None,
        }
    }

    /// The last grammar error, for tests.
    #[cfg(test)]
    pub(crate) fn last_error(&self) -> Option<PgsqlParseError> {
        self.last_error
    }

    fn keep_len(&self, ty: u8) -> usize {
        match (self.kind, ty) {
            (MessageKind::Request, 0) => 4,
            (MessageKind::Request, b'Q') => self.max_sql + 1,
            (MessageKind::Request, b'P') => self.max_sql + NAMES_KEEP,
            (MessageKind::Request, b'B' | b'D' | b'E' | b'C') => NAMES_KEEP,
            (MessageKind::Response, b'C') => NAMES_KEEP,
            (MessageKind::Response, b'E') => 2 * self.max_text + NAMES_KEEP,
            (MessageKind::Response, b'Z') => 1,
            _ => 0,
        }
    }

    fn shift(&mut self) {
        self.win.copy_within(1.., 0);
        self.win_len = self.win_len.saturating_sub(1);
    }

    /// Checks the window; on a valid header enters the body. Returns `Some(lost)` when the
    /// window was consumed (header found, `lost` false) or rejected in sync (`lost` true).
    fn check_window(&mut self, stats: &mut PgsqlStats) -> Option<bool> {
        loop {
            let first = *self.win.first()?;
            if self.win_len == 0 {
                return None;
            }
            let startup = self.synced && self.kind == MessageKind::Request && first == 0;
            let need = if startup { 4 } else { 5 };
            let known = match self.kind {
                MessageKind::Request => is_request_type(first),
                MessageKind::Response => is_response_type(first),
            };
            if !startup && !known {
                if self.synced {
                    self.reject(PgsqlParseError::UnknownType { byte: first }, stats);
                    return Some(true);
                }
                self.shift();
                continue;
            }
            if self.win_len < need {
                return None;
            }
            let (ty, len) = if startup {
                let l = u32::from_be_bytes([self.win[0], self.win[1], self.win[2], self.win[3]]);
                (0, l)
            } else {
                let l = u32::from_be_bytes([self.win[1], self.win[2], self.win[3], self.win[4]]);
                (first, l)
            };
            let ok = if startup {
                (8..=MAX_STARTUP_LEN).contains(&len)
            } else {
                header_ok(self.kind, ty, len, self.max_len, !self.synced)
            };
            if !ok {
                if self.synced {
                    self.reject(PgsqlParseError::BadLength { ty, len }, stats);
                    return Some(true);
                }
                self.shift();
                continue;
            }
            // The window may hold bytes past the header only while resynchronising on a
            // startup-sized window, which cannot happen: need is the window's fill level.
            if !self.synced {
                stats.resyncs += 1;
                self.synced = true;
            }
            self.win_len = 0;
            self.body.clear();
            self.state = State::Body {
                ty,
                len: len - 4,
                remaining: u64::from(len - 4),
                keep: self.keep_len(ty),
                damaged: false,
            };
            return Some(false);
        }
    }

    fn reject(&mut self, e: PgsqlParseError, stats: &mut PgsqlStats) {
        stats.parse_errors += 1;
        self.last_error = Some(e);
        self.synced = false;
        self.shift();
    }

    /// Consumes bytes of `data` until an event is ready (returned) or `data` is empty (None).
    /// `expect_single`: an encryption request waits for its one-byte answer.
    pub(crate) fn next<'s>(
        &'s mut self,
        data: &mut &[u8],
        ts: u64,
        expect_single: bool,
        stats: &mut PgsqlStats,
    ) -> Option<Event<'s>> {
        if self.off {
            *data = &[];
            return None;
        }
        loop {
            match self.state {
                State::Header => {
                    // Bytes already in the window may decide without new input (after a shift).
                    if self.win_len > 0 {
                        match self.check_window(stats) {
                            Some(true) => return Some(Event::Lost),
                            Some(false) => continue,
                            None => {}
                        }
                    }
                    let (&b, rest) = data.split_first()?;
                    *data = rest;
                    if self.win_len == 0 {
                        self.ts_start = ts;
                        if self.synced && expect_single && matches!(b, b'N' | b'S' | b'G') {
                            return Some(Event::SingleByte { byte: b });
                        }
                    }
                    if let Some(slot) = self.win.get_mut(self.win_len) {
                        *slot = b;
                        self.win_len += 1;
                    }
                    if let Some(true) = self.check_window(stats) {
                        return Some(Event::Lost);
                    }
                }
                State::Body {
                    ty,
                    len,
                    remaining,
                    keep,
                    damaged,
                } => {
                    if remaining > 0 {
                        let n = usize::try_from(remaining)
                            .unwrap_or(usize::MAX)
                            .min(data.len());
                        let (chunk, rest) = data.split_at(n);
                        *data = rest;
                        let want = keep.saturating_sub(self.body.len()).min(n);
                        self.body
                            .extend_from_slice(chunk.get(..want).unwrap_or_default());
                        let remaining = remaining - n as u64;
                        self.state = State::Body {
                            ty,
                            len,
                            remaining,
                            keep,
                            damaged,
                        };
                        if remaining > 0 {
                            return None;
                        }
                    }
                    self.state = State::Header;
                    if damaged {
                        stats.messages_lost_to_gaps += 1;
                        return Some(Event::Lost);
                    }
                    return Some(Event::Message(Msg {
                        ty,
                        body: &self.body,
                        len,
                        ts_start: self.ts_start,
                        ts_end: ts,
                    }));
                }
            }
        }
    }

    /// `len` bytes of this stream are missing. Returns true if sync or a message was lost.
    pub(crate) fn gap(&mut self, len: u64, stats: &mut PgsqlStats) -> bool {
        if self.off || len == 0 {
            return false;
        }
        match &mut self.state {
            State::Body {
                remaining,
                keep,
                damaged,
                ..
            } if len <= *remaining => {
                *remaining -= len;
                // The kept part is complete iff the body buffer is full or the gap starts after
                // it; `body.len() < keep` with bytes still to come means the gap hit it.
                let kept_needed = (*keep).saturating_sub(self.body.len()) as u64;
                if kept_needed > 0 && !*damaged {
                    *damaged = true;
                    return false;
                }
                if !*damaged {
                    stats.gap_bytes_skipped += len;
                }
                false
            }
            State::Body { .. } => {
                stats.messages_lost_to_gaps += 1;
                self.state = State::Header;
                self.win_len = 0;
                self.synced = false;
                true
            }
            State::Header => {
                if self.synced && self.win_len > 0 {
                    stats.messages_lost_to_gaps += 1;
                }
                self.win_len = 0;
                self.synced = false;
                true
            }
        }
    }

    /// End of stream: returns whether a message was in progress, and resets.
    pub(crate) fn close(&mut self) -> bool {
        let incomplete =
            !self.off && (matches!(self.state, State::Body { .. }) || self.win_len > 0);
        self.state = State::Header;
        self.win_len = 0;
        self.synced = true;
        self.off = false;
        incomplete
    }
}
