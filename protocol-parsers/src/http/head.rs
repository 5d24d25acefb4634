//! Byte-at-a-time scanner of an HTTP/1.x message head.
//!
//! It finds where a head ends and rejects a bad byte as soon as it arrives, without buffering
//! anything itself, so the answer never depends on how the bytes were split into pushes.
//! httparse then extracts the fields from the complete head (see `parse.rs`).
//!
//! Grammar accepted (RFC 9112 §2-5, with httparse's leniencies: bare LF ends a line, obs-text
//! is allowed in targets, reasons and values):
//!
//! ```text
//! request-line = method SP request-target SP "HTTP/1." ("0" / "1") [CR] LF
//!   method     = 1*32tchar
//!   target     = 1*(%x21-7E / %x80-FF)
//! status-line  = "HTTP/1." ("0" / "1") SP 3DIGIT [SP reason] [CR] LF
//!   reason     = *(HTAB / SP / %x21-7E / %x80-FF)
//! field-line   = 1*tchar ":" *(HTAB / SP / %x21-7E / %x80-FF) [CR] LF
//! head         = start-line *field-line [CR] LF
//! ```

use super::types::HttpParseError;
use crate::MessageKind;

/// Longest start line accepted (nginx's default `large_client_header_buffers` is 8k too).
pub(crate) const MAX_START_LINE: usize = 8 * 1024;
/// A start line that fails within this many bytes is scanned again from its second byte.
pub(crate) const RESCAN_WINDOW: usize = 512;
/// Longest method token accepted.
const MAX_METHOD: u16 = 32;

/// Outcome of [`HeadScanner::scan`] on one slice.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Scan {
    /// The whole slice belongs to the head, which is not finished.
    Partial,
    /// The head ends after this many bytes of the slice.
    Done(usize),
    /// The byte at `n - 1` of the slice is invalid (or broke a limit).
    Invalid(usize, HttpParseError),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum St {
    Method(u16),
    Target,
    TargetStarted,
    ReqVersion(u8),
    ReqMinor,
    ReqEol,
    RespVersion(u8),
    RespMinor,
    RespSp,
    Code(u8),
    AfterCode,
    Reason,
    StartCr,
    LineStart,
    Name,
    Value,
    ValueCr,
    EndCr,
}

const VERSION: &[u8; 7] = b"HTTP/1.";

/// Byte classes, as bits of [`CLASS`].
const TCHAR: u8 = 1; // tchar of RFC 9110 §5.6.2: methods and field names
const TEXT: u8 = 2; // HTAB / SP / VCHAR / obs-text: field values and reason phrases
const TARGET: u8 = 4; // VCHAR / obs-text: request targets

#[cfg_attr(
    not(test),
    expect(
        clippy::indexing_slicing,
        reason = "evaluated at compile time: a bad index fails the build"
    )
)]
const fn class_table() -> [u8; 256] {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        let mut c = 0;
        if matches!(b,
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9'
            | b'!' | b'#' | b'$' | b'%' | b'&' | b'\'' | b'*' | b'+'
            | b'-' | b'.' | b'^' | b'_' | b'`' | b'|' | b'~')
        {
            c |= TCHAR;
        }
        if b == b'\t' || (b >= b' ' && b != 0x7f) {
            c |= TEXT;
        }
        if b > b' ' && b != 0x7f {
            c |= TARGET;
        }
        t[i] = c;
        i += 1;
    }
    t
}

static CLASS: [u8; 256] = class_table();

/// Whether `b` is in any of the classes of `mask`.
#[inline]
fn is(mask: u8, b: u8) -> bool {
    CLASS.get(usize::from(b)).is_some_and(|c| c & mask != 0)
}

/// Scanner state of one message head.
#[derive(Clone, Debug)]
pub(crate) struct HeadScanner {
    st: St,
    /// Head bytes scanned so far.
    len: usize,
    /// Offset in the head of the line being scanned.
    line_start: usize,
    /// Offset just past the start line, or 0 while it is not complete.
    start_line_end: usize,
    headers: usize,
    max_len: usize,
    max_headers: usize,
}

impl HeadScanner {
    pub(crate) fn new(max_len: usize, max_headers: usize) -> Self {
        Self {
            st: St::Method(0),
            len: 0,
            line_start: 0,
            start_line_end: 0,
            headers: 0,
            max_len: max_len.max(1),
            max_headers,
        }
    }

    /// Starts a new head of the given kind.
    pub(crate) fn reset(&mut self, kind: MessageKind) {
        self.st = match kind {
            MessageKind::Request => St::Method(0),
            MessageKind::Response => St::RespVersion(0),
        };
        self.len = 0;
        self.line_start = 0;
        self.start_line_end = 0;
        self.headers = 0;
    }

    /// Where to look for the next message start after this head failed, as an offset into the
    /// head:
    /// - in a start line that failed within [`RESCAN_WINDOW`] bytes: one byte in, since a real
    ///   message may start inside a bogus start line (`POST GET / HTTP/1.1`);
    /// - in a longer start line: at the failing byte;
    /// - after the start line: at the start of the failing line (a valid start line followed by
    ///   bad fields is skipped whole).
    ///
    /// Never rescanning more than a window, or a line once, keeps recovery linear in the input
    /// even when every position looks like a message start.
    pub(crate) fn resume_offset(&self) -> usize {
        if self.start_line_end != 0 {
            self.line_start.max(1)
        } else if self.len <= RESCAN_WINDOW {
            1
        } else {
            self.len.saturating_sub(1).max(1)
        }
    }

    /// Offset just past the start line (0 if it is not complete).
    pub(crate) fn start_line_end(&self) -> usize {
        self.start_line_end
    }

    /// Feeds the next bytes of the head.
    pub(crate) fn scan(&mut self, data: &[u8]) -> Scan {
        let mut i = 0;
        loop {
            i += self.skip_run(data.get(i..).unwrap_or_default());
            let Some(&b) = data.get(i) else { break };
            i += 1;
            let n = i;
            self.len += 1;
            if self.len > self.max_len {
                return Scan::Invalid(
                    n,
                    HttpParseError::HeadTooLong {
                        limit: self.max_len,
                    },
                );
            }
            if self.start_line_end == 0 && self.len > MAX_START_LINE {
                return Scan::Invalid(
                    n,
                    HttpParseError::StartLineTooLong {
                        limit: MAX_START_LINE,
                    },
                );
            }
            let bad = HttpParseError::InvalidHead {
                offset: self.len - 1,
            };
            self.st = match (self.st, b) {
                (St::Method(k), b' ') if k > 0 => St::Target,
                (St::Method(k), b) if is(TCHAR, b) && k < MAX_METHOD => St::Method(k + 1),
                (St::Target, b) if is(TARGET, b) => St::TargetStarted,
                (St::TargetStarted, b' ') => St::ReqVersion(0),
                (St::TargetStarted, b) if is(TARGET, b) => St::TargetStarted,
                (St::ReqVersion(k), b) if VERSION.get(usize::from(k)) == Some(&b) => {
                    if usize::from(k) + 1 == VERSION.len() {
                        St::ReqMinor
                    } else {
                        St::ReqVersion(k + 1)
                    }
                }
                (St::ReqMinor, b'0' | b'1') => St::ReqEol,
                (St::ReqEol, b'\r') => St::StartCr,
                (St::ReqEol, b'\n') => self.start_line_done(),
                (St::RespVersion(k), b) if VERSION.get(usize::from(k)) == Some(&b) => {
                    if usize::from(k) + 1 == VERSION.len() {
                        St::RespMinor
                    } else {
                        St::RespVersion(k + 1)
                    }
                }
                (St::RespMinor, b'0' | b'1') => St::RespSp,
                (St::RespSp, b' ') => St::Code(0),
                (St::Code(k), b'0'..=b'9') => {
                    if k == 2 {
                        St::AfterCode
                    } else {
                        St::Code(k + 1)
                    }
                }
                (St::AfterCode, b' ') => St::Reason,
                (St::AfterCode | St::Reason, b'\r') => St::StartCr,
                (St::AfterCode | St::Reason, b'\n') => self.start_line_done(),
                (St::Reason, b) if is(TEXT, b) => St::Reason,
                (St::StartCr, b'\n') => self.start_line_done(),
                (St::LineStart, b'\r') => St::EndCr,
                (St::LineStart, b'\n') | (St::EndCr, b'\n') => return Scan::Done(n),
                (St::LineStart, b) if is(TCHAR, b) => {
                    if self.headers >= self.max_headers {
                        return Scan::Invalid(
                            n,
                            HttpParseError::TooManyHeaders {
                                limit: self.max_headers,
                            },
                        );
                    }
                    self.headers += 1;
                    St::Name
                }
                (St::Name, b':') => St::Value,
                (St::Name, b) if is(TCHAR, b) => St::Name,
                (St::Value, b'\r') => St::ValueCr,
                (St::Value, b'\n') | (St::ValueCr, b'\n') => self.line_done(),
                (St::Value, b) if is(TEXT, b) => St::Value,
                _ => return Scan::Invalid(n, bad),
            };
        }
        Scan::Partial
    }

    /// Fast path: consumes the bytes at the start of `rest` that leave the state unchanged
    /// (inside a target, reason, field name or value), within the length limits. The byte
    /// loop then sees exactly what it would have seen one byte at a time.
    fn skip_run(&mut self, rest: &[u8]) -> usize {
        let mask = match self.st {
            St::Value | St::Reason => TEXT,
            St::TargetStarted => TARGET,
            St::Name => TCHAR,
            _ => return 0,
        };
        let mut budget = self.max_len.saturating_sub(self.len);
        if self.start_line_end == 0 {
            budget = budget.min(MAX_START_LINE.saturating_sub(self.len));
        }
        let run = rest
            .iter()
            .take(budget)
            .take_while(|&&b| is(mask, b))
            .count();
        self.len += run;
        run
    }

    fn start_line_done(&mut self) -> St {
        self.start_line_end = self.len;
        self.line_done()
    }

    fn line_done(&mut self) -> St {
        self.line_start = self.len;
        St::LineStart
    }
}
