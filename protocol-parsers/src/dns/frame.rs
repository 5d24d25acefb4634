//! TCP framing (RFC 1035 4.2.2): every message is preceded by its length as 2 bytes, big
//! endian. One [`TcpFramer`] per direction cuts a stream, split anywhere across pushes, into
//! messages.
//!
//! ```text
//! stream = *(length:16 message)          ; 12 <= length <= max_message_bytes
//! ```
//!
//! Losses: a gap that falls inside a frame of known length skips the rest of that frame
//! (the message is lost, framing is kept); a gap that reaches past the frame end, or that
//! falls between frames, loses the framing. So does a length out of range. Without framing,
//! the framer scans byte by byte for a length prefix followed by a header that
//! [`Header::plausible`] accepts (find-frame-boundary) and locks on there. Every decision
//! depends on the byte sequence only, never on how it was split across pushes.

use super::message::{HEADER_LEN, Header};
use crate::MessageKind;

/// Bytes the resynchronisation scan looks at: the length prefix and the header.
const WINDOW: usize = 2 + HEADER_LEN;

/// What the framer reports to the connection.
#[derive(Debug)]
pub(crate) enum FrameEvent<'a> {
    /// A whole message, with the timestamps of the pushes that carried its first byte (of
    /// the length prefix) and its last byte.
    Frame {
        bytes: &'a [u8],
        ts_start_ns: u64,
        ts_end_ns: u64,
    },
    /// A length prefix out of range: framing lost.
    BadLength(usize),
    /// A message in progress was hit by a gap.
    Lost,
    /// The scan found a plausible frame start again.
    Resynced,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Between frames, `n` (0 or 1) bytes of the next length prefix seen.
    Prefix { n: u8, hi: u8, ts_start_ns: u64 },
    /// Inside a frame of `len` bytes; `buf` holds those seen so far.
    Body { len: usize, ts_start_ns: u64 },
    /// Inside a frame partly lost to a gap: `remaining` bytes to skip.
    Skip { remaining: u64 },
    /// Framing lost: `buf` holds the last bytes seen (at most [`WINDOW`]), `window_ts` their
    /// timestamps.
    Resync,
}

const AT_BOUNDARY: State = State::Prefix {
    n: 0,
    hi: 0,
    ts_start_ns: 0,
};

#[derive(Debug)]
pub(crate) struct TcpFramer {
    kind: MessageKind,
    max_len: usize,
    state: State,
    buf: Vec<u8>,
    window_ts: Vec<u64>,
}

impl TcpFramer {
    pub(crate) fn new(kind: MessageKind, max_len: usize) -> Self {
        Self {
            kind,
            max_len,
            state: AT_BOUNDARY,
            buf: Vec::new(),
            window_ts: Vec::new(),
        }
    }

    fn length_ok(&self, len: usize) -> bool {
        (HEADER_LEN..=self.max_len).contains(&len)
    }

    fn lose_framing(&mut self) {
        self.state = State::Resync;
        self.buf.clear();
        self.window_ts.clear();
    }

    /// A length prefix was read: start the frame, or lose framing.
    fn start_frame(&mut self, len: usize, ts_start_ns: u64, on: &mut impl FnMut(FrameEvent<'_>)) {
        if self.length_ok(len) {
            self.buf.clear();
            self.state = State::Body { len, ts_start_ns };
        } else {
            on(FrameEvent::BadLength(len));
            self.lose_framing();
        }
    }

    pub(crate) fn push(
        &mut self,
        ts_ns: u64,
        mut data: &[u8],
        on: &mut impl FnMut(FrameEvent<'_>),
    ) {
        while !data.is_empty() {
            match self.state {
                State::Prefix { n: 0, .. } => match data {
                    [hi, lo, rest @ ..] => {
                        data = rest;
                        self.start_frame(usize::from(u16::from_be_bytes([*hi, *lo])), ts_ns, on);
                    }
                    [hi] => {
                        data = &[];
                        self.state = State::Prefix {
                            n: 1,
                            hi: *hi,
                            ts_start_ns: ts_ns,
                        };
                    }
                    [] => {}
                },
                State::Prefix {
                    hi, ts_start_ns, ..
                } => {
                    let Some((&lo, rest)) = data.split_first() else {
                        break;
                    };
                    data = rest;
                    self.start_frame(usize::from(u16::from_be_bytes([hi, lo])), ts_start_ns, on);
                }
                State::Body { len, ts_start_ns } => {
                    if self.buf.is_empty()
                        && let (Some(bytes), Some(rest)) = (data.get(..len), data.get(len..))
                    {
                        // Fast path: the whole frame is in this push.
                        data = rest;
                        self.state = AT_BOUNDARY;
                        on(FrameEvent::Frame {
                            bytes,
                            ts_start_ns,
                            ts_end_ns: ts_ns,
                        });
                        continue;
                    }
                    let take = len.saturating_sub(self.buf.len()).min(data.len());
                    let (now, rest) = data.split_at(take);
                    self.buf.extend_from_slice(now);
                    data = rest;
                    if self.buf.len() >= len {
                        self.state = AT_BOUNDARY;
                        on(FrameEvent::Frame {
                            bytes: &self.buf,
                            ts_start_ns,
                            ts_end_ns: ts_ns,
                        });
                        self.buf.clear();
                    }
                }
                State::Skip { remaining } => {
                    let take = remaining.min(data.len() as u64);
                    data = data.get(take as usize..).unwrap_or_default();
                    self.state = match remaining - take {
                        0 => AT_BOUNDARY,
                        r => State::Skip { remaining: r },
                    };
                }
                State::Resync => {
                    let Some((&b, rest)) = data.split_first() else {
                        break;
                    };
                    data = rest;
                    self.buf.push(b);
                    self.window_ts.push(ts_ns);
                    if self.buf.len() < WINDOW {
                        continue;
                    }
                    let len = usize::from(u16::from_be_bytes([
                        self.buf.first().copied().unwrap_or(0),
                        self.buf.get(1).copied().unwrap_or(0),
                    ]));
                    let plausible = self.length_ok(len)
                        && self
                            .buf
                            .get(2..)
                            .and_then(Header::parse)
                            .is_some_and(|h| h.plausible(self.kind, Some(len)));
                    if plausible {
                        on(FrameEvent::Resynced);
                        let ts_start_ns = self.window_ts.first().copied().unwrap_or(ts_ns);
                        self.buf.drain(..2);
                        self.window_ts.clear();
                        self.state = State::Body { len, ts_start_ns };
                        if self.buf.len() >= len {
                            self.state = AT_BOUNDARY;
                            on(FrameEvent::Frame {
                                bytes: &self.buf,
                                ts_start_ns,
                                ts_end_ns: ts_ns,
                            });
                            self.buf.clear();
                        }
                    } else {
                        self.buf.remove(0);
                        self.window_ts.remove(0);
                    }
                }
            }
        }
    }

    /// `len` bytes of the stream are missing.
    pub(crate) fn gap(&mut self, len: u64, on: &mut impl FnMut(FrameEvent<'_>)) {
        if len == 0 {
            return;
        }
        match self.state {
            State::Prefix { n: 0, .. } => self.lose_framing(),
            State::Prefix { .. } => {
                on(FrameEvent::Lost);
                self.lose_framing();
            }
            State::Body { len: frame, .. } => {
                on(FrameEvent::Lost);
                let remaining = frame.saturating_sub(self.buf.len()) as u64;
                self.buf.clear();
                self.state = match remaining.checked_sub(len) {
                    Some(0) => AT_BOUNDARY,
                    Some(r) => State::Skip { remaining: r },
                    None => State::Resync,
                };
            }
            State::Skip { remaining } => {
                self.state = match remaining.checked_sub(len) {
                    Some(0) => AT_BOUNDARY,
                    Some(r) => State::Skip { remaining: r },
                    None => State::Resync,
                };
            }
            State::Resync => self.lose_framing(),
        }
        if self.state == State::Resync {
            self.buf.clear();
            self.window_ts.clear();
        }
    }

    /// The connection closed. Returns true if a message was in progress (it is dropped).
    pub(crate) fn close(&mut self) -> bool {
        let cut = matches!(self.state, State::Prefix { n: 1, .. } | State::Body { .. });
        self.state = AT_BOUNDARY;
        self.buf.clear();
        self.window_ts.clear();
        cut
    }

    #[cfg(test)]
    pub(crate) fn in_resync(&self) -> bool {
        self.state == State::Resync
    }
}
