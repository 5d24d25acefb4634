//! The RESP byte-stream decoder: one per direction, resumable at any byte, never buffering
//! more than one line.
//!
//! ```text
//! frame     = *attribute value
//! value     = simple / error / number / bignum / double / boolean / null
//!           / blob / streamed-blob / aggregate / streamed-aggregate
//! simple    = "+" line          error  = "-" line        number = ":" ["-"] 1*DIGIT CRLF
//! bignum    = "(" ["-"] 1*DIGIT CRLF                     double = "," 1*(DIGIT/"+-.eE"/"inf"/"nan") CRLF
//! boolean   = "#" ("t" / "f") CRLF                       null   = "_" CRLF / "$-1" CRLF / "*-1" CRLF
//! blob      = ("$" / "=" / "!") len CRLF len*OCTET CRLF  ; bulk, verbatim, blob error
//! streamed-blob = "$?" CRLF *(";" len CRLF len*OCTET CRLF) ";0" CRLF
//! aggregate = ("*" / "~" / ">") n CRLF n*frame           ; array, set, push
//!           / "%" n CRLF 2n*frame                        ; map: n key/value pairs
//! streamed-aggregate = ("*" / "~" / "%") "?" CRLF *frame "." CRLF
//! attribute = "|" n CRLF 2n*frame                        ; metadata before a value: skipped
//! line      = *(%x00-09 / %x0B-0C / %x0E-FF) CRLF
//! inline    = *(%x00-09 / %x0B-FF) LF                    ; requests only: words, "..." and '...'
//! ```
//!
//! The decoder does not keep values: it reports them to a [`Sink`] as they are parsed (bulk
//! data in as many pieces as it arrived) and the sink copies what it needs. Only a partial line
//! is buffered across pushes, up to `max_line_len`. A request is a top-level `*` array (what
//! redis-server accepts) or an inline command line; the request sink rejects other shapes.
//!
//! After lost or malformed bytes the decoder scans for a plausible frame start: a type byte
//! right after a LF or right after a gap — `*` only on the request stream, any reply type on
//! the response stream. Such a *tentative* frame counts as a resync once it completes; if it
//! breaks the grammar, the scan goes on silently (no extra parse error).

use super::types::{RedisConfig, RedisParseError, RedisStats};
use crate::MessageKind;

/// A complete value with no children, as it appears on the wire (without its CR LF).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Scalar<'a> {
    Simple(&'a [u8]),
    Error(&'a [u8]),
    /// `:` number, digits as sent.
    Int(&'a [u8]),
    /// `(` big number, digits as sent.
    BigNum(&'a [u8]),
    /// `,` double, as sent.
    Double(&'a [u8]),
    Bool(bool),
    /// `_`, `$-1` or `*-1`.
    Null,
}

/// Aggregate types (attributes are hidden from sinks).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Agg {
    Array,
    Map,
    Set,
    Push,
}

/// Length-prefixed string types.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Blob {
    Bulk,
    Verbatim,
    Error,
}

/// Receives the values of one direction as they are parsed. Events nest like the wire:
/// `begin_agg` … `end_agg`, `begin_blob` *`blob_data` `end_blob`. Returning an error from a
/// `begin_*`/`scalar` call rejects the frame (for instance a request that is not an array of
/// bulk strings).
pub(crate) trait Sink {
    /// An aggregate starts; `len` is its element count (entries for maps), `None` if streamed.
    fn begin_agg(&mut self, agg: Agg, len: Option<u64>) -> Result<(), RedisParseError>;
    fn end_agg(&mut self);
    fn scalar(&mut self, s: Scalar<'_>) -> Result<(), RedisParseError>;
    /// A blob starts; `len` is its length, `None` if streamed.
    fn begin_blob(&mut self, blob: Blob, len: Option<u64>) -> Result<(), RedisParseError>;
    fn blob_data(&mut self, data: &[u8]);
    fn end_blob(&mut self);
    /// A top-level frame is complete: first byte at `ts_start`, last at `ts_end`.
    fn frame_done(&mut self, ts_start: u64, ts_end: u64);
    /// The frame in progress is abandoned (gap or parse error); forget its partial state.
    fn frame_dropped(&mut self);
    /// A gap cut the frame in progress after its first byte (at `ts_start`); the gap came
    /// at `ts_end`. By default the frame is dropped and counted as lost.
    fn frame_cut(&mut self, ts_start: u64, ts_end: u64) {
        let _ = (ts_start, ts_end);
        self.stats().messages_lost_to_gaps += 1;
        self.frame_dropped();
    }
    /// The stream lost sync: frames may have been lost.
    fn lost_sync(&mut self);
    fn stats(&mut self) -> &mut RedisStats;
}

/// `ty` of the line state for an inline command.
const INLINE: u8 = 0;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum LevelKind {
    Agg(Agg),
    /// An attribute: its contents are not reported and it is not a value of its parent.
    Attr,
    /// A `$?` streamed string: expects `;` chunks.
    StreamStr,
}

#[derive(Clone, Copy, Debug)]
struct Level {
    kind: LevelKind,
    /// Elements still expected; `None` for streamed aggregates.
    left: Option<u64>,
    /// Elements seen so far.
    seen: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Next byte is a type marker (or `;` / `.` inside streamed types).
    Type,
    /// Reading the rest of a line after the type byte `ty` (or an inline command).
    Line { ty: u8 },
    /// Bulk data bytes still to come.
    Blob { left: u64 },
    /// Expecting the CR LF after bulk data; `cr`: the CR was seen.
    BlobEnd { cr: bool },
    /// Lost sync; `boundary`: the next byte follows a LF or a gap.
    Resync { boundary: bool },
}

/// A failed step: the error and whether the last consumed byte was a LF.
struct Fail {
    err: RedisParseError,
    after_lf: bool,
}

type Step = Result<usize, (usize, Fail)>;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Len {
    Null,
    Streamed,
    N(u64),
}

#[derive(Debug)]
pub(crate) struct Decoder {
    kind: MessageKind,
    max_depth: usize,
    max_agg: u64,
    max_bulk: u64,
    max_line: usize,
    state: State,
    stack: Vec<Level>,
    attr_depth: usize,
    line: Vec<u8>,
    /// Scratch for unquoting inline arguments.
    scratch: Vec<u8>,
    in_frame: bool,
    ts_start: u64,
    /// The frame in progress started at a resync candidate.
    tentative: bool,
    last_error: Option<RedisParseError>,
}

impl Decoder {
    pub(crate) fn new(kind: MessageKind, cfg: &RedisConfig) -> Self {
        Self {
            kind,
            max_depth: cfg.max_depth.max(1),
            max_agg: cfg.max_aggregate_len.max(1),
            max_bulk: cfg.max_bulk_len.max(1),
            max_line: cfg.max_line_len.max(1),
            state: State::Type,
            stack: Vec::new(),
            attr_depth: 0,
            line: Vec::new(),
            scratch: Vec::new(),
            in_frame: false,
            ts_start: 0,
            tentative: false,
            last_error: None,
        }
    }

    /// Bytes of this direction, pushed at `ts`.
    pub(crate) fn push(&mut self, ts: u64, data: &[u8], sink: &mut impl Sink) {
        let mut i = 0;
        while let Some(rest) = data.get(i..).filter(|r| !r.is_empty()) {
            let step = match self.state {
                State::Resync { boundary } => Ok(self.scan(rest, boundary)),
                State::Type => self.on_type(ts, rest),
                State::Line { ty } => self.on_line(ts, ty, rest, sink),
                State::Blob { left } => Ok(self.on_blob(left, rest, sink)),
                State::BlobEnd { cr } => self.on_blob_end(ts, cr, rest, sink),
            };
            match step {
                Ok(n) => i += n,
                Err((n, fail)) => {
                    i += n;
                    self.fail(fail, sink);
                }
            }
        }
    }

    /// `len` bytes of this direction were lost.
    pub(crate) fn gap(&mut self, ts: u64, len: u64, sink: &mut impl Sink) {
        if len == 0 {
            return;
        }
        if let State::Blob { left } = self.state
            && len <= left
        {
            let left = left - len;
            sink.stats().gap_bytes_skipped += len;
            self.state = if left == 0 {
                State::BlobEnd { cr: false }
            } else {
                State::Blob { left }
            };
            return;
        }
        if self.in_frame {
            if self.tentative {
                sink.frame_dropped();
            } else {
                sink.frame_cut(self.ts_start, ts);
            }
        }
        self.reset_frame();
        sink.lost_sync();
        self.state = State::Resync { boundary: true };
    }

    /// The connection closed: a frame in progress is dropped. Returns whether there was one.
    pub(crate) fn close(&mut self, sink: &mut impl Sink) -> bool {
        let in_progress = self.in_frame && !self.tentative;
        if self.in_frame {
            sink.frame_dropped();
        }
        self.reset_frame();
        self.state = State::Type;
        in_progress
    }

    #[cfg(test)]
    pub(crate) fn last_error(&self) -> Option<RedisParseError> {
        self.last_error
    }

    #[cfg(test)]
    pub(crate) fn is_resyncing(&self) -> bool {
        matches!(self.state, State::Resync { .. })
    }

    fn reset_frame(&mut self) {
        self.stack.clear();
        self.attr_depth = 0;
        self.line.clear();
        self.in_frame = false;
        self.tentative = false;
    }

    fn fail(&mut self, fail: Fail, sink: &mut impl Sink) {
        let tentative = self.tentative;
        if !tentative {
            sink.stats().parse_errors += 1;
            self.last_error = Some(fail.err);
        }
        if self.in_frame {
            sink.frame_dropped();
        }
        self.reset_frame();
        if !tentative {
            sink.lost_sync();
        }
        self.state = State::Resync {
            boundary: fail.after_lf,
        };
    }

    /// Skips to the next plausible frame start; returns the bytes consumed.
    fn scan(&mut self, rest: &[u8], mut boundary: bool) -> usize {
        let mut i = 0;
        loop {
            if boundary {
                match rest.get(i) {
                    None => {
                        self.state = State::Resync { boundary: true };
                        return i;
                    }
                    Some(&b) if super::infer::resync_start(self.kind, b) => {
                        self.state = State::Type;
                        self.tentative = true;
                        return i;
                    }
                    Some(_) => {}
                }
            }
            let tail = rest.get(i..).unwrap_or_default();
            match tail.iter().position(|&b| b == b'\n') {
                Some(p) => {
                    i += p + 1;
                    boundary = true;
                }
                None => {
                    self.state = State::Resync { boundary: false };
                    return rest.len();
                }
            }
        }
    }

    fn on_type(&mut self, ts: u64, rest: &[u8]) -> Step {
        let Some(&b) = rest.first() else {
            return Ok(0);
        };
        if !self.in_frame {
            self.in_frame = true;
            self.ts_start = ts;
        }
        let fail = |err| {
            Err((
                1,
                Fail {
                    err,
                    after_lf: b == b'\n',
                },
            ))
        };
        let top = self.stack.last().copied();
        if let Some(Level {
            kind: LevelKind::StreamStr,
            ..
        }) = top
        {
            if b != b';' {
                return fail(RedisParseError::Streamed);
            }
        } else if b == b'.' {
            if top.is_none_or(|l| l.left.is_some()) {
                return fail(RedisParseError::Streamed);
            }
        } else if self.kind == MessageKind::Request && top.is_none() && b != b'*' {
            self.state = State::Line { ty: INLINE };
            return Ok(0);
        } else if !is_type(b) {
            return fail(RedisParseError::InvalidType { byte: b });
        }
        self.state = State::Line { ty: b };
        Ok(1)
    }

    fn on_line(&mut self, ts: u64, ty: u8, rest: &[u8], sink: &mut impl Sink) -> Step {
        // The line may end in CR; allow for it beyond the limit.
        let limit = self.max_line.saturating_add(1);
        // `after_lf`: the bytes consumed end with the line's LF.
        let too_long = |n, after_lf| {
            Err((
                n,
                Fail {
                    err: RedisParseError::LineTooLong {
                        limit: self.max_line,
                    },
                    after_lf,
                },
            ))
        };
        let Some(p) = rest.iter().position(|&b| b == b'\n') else {
            if self.line.len().saturating_add(rest.len()) > limit {
                return too_long(rest.len(), false);
            }
            self.line.extend_from_slice(rest);
            return Ok(rest.len());
        };
        let part = rest.get(..p).unwrap_or_default();
        if self.line.len().saturating_add(part.len()) > limit {
            return too_long(p + 1, true);
        }
        let result = if self.line.is_empty() {
            self.process_line(ts, ty, part, sink)
        } else {
            let mut line = std::mem::take(&mut self.line);
            line.extend_from_slice(part);
            let r = self.process_line(ts, ty, &line, sink);
            line.clear();
            self.line = line;
            r
        };
        result.map(|()| p + 1).map_err(|err| {
            (
                p + 1,
                Fail {
                    err,
                    after_lf: true,
                },
            )
        })
    }

    fn on_blob(&mut self, left: u64, rest: &[u8], sink: &mut impl Sink) -> usize {
        let n = usize::try_from(left).unwrap_or(usize::MAX).min(rest.len());
        if self.attr_depth == 0 {
            sink.blob_data(rest.get(..n).unwrap_or_default());
        }
        let left = left - n as u64;
        self.state = if left == 0 {
            State::BlobEnd { cr: false }
        } else {
            State::Blob { left }
        };
        n
    }

    fn on_blob_end(&mut self, ts: u64, cr: bool, rest: &[u8], sink: &mut impl Sink) -> Step {
        let Some(&b) = rest.first() else {
            return Ok(0);
        };
        match (cr, b) {
            (false, b'\r') => self.state = State::BlobEnd { cr: true },
            (true, b'\n') => {
                self.state = State::Type;
                let in_stream = matches!(
                    self.stack.last(),
                    Some(Level {
                        kind: LevelKind::StreamStr,
                        ..
                    })
                );
                if !in_stream {
                    if self.attr_depth == 0 {
                        sink.end_blob();
                    }
                    self.value_done(ts, sink);
                }
            }
            _ => {
                return Err((
                    1,
                    Fail {
                        err: RedisParseError::MissingCrlf,
                        after_lf: b == b'\n',
                    },
                ));
            }
        }
        Ok(1)
    }

    /// Handles one complete line (without its LF) that followed the type byte `ty`.
    fn process_line(
        &mut self,
        ts: u64,
        ty: u8,
        raw: &[u8],
        sink: &mut impl Sink,
    ) -> Result<(), RedisParseError> {
        let content = match raw.split_last() {
            Some((b'\r', c)) => c,
            _ if ty == INLINE => raw,
            _ => return Err(RedisParseError::MissingCrlf),
        };
        self.state = State::Type;
        let bad_number = RedisParseError::InvalidNumber { ty: char::from(ty) };
        let scalar = match ty {
            INLINE => return self.inline(ts, content, sink),
            b'+' | b'-' => {
                if self.tentative && !plausible_text(ty, content) {
                    return Err(RedisParseError::InvalidType { byte: ty });
                }
                if ty == b'+' {
                    Scalar::Simple(content)
                } else {
                    Scalar::Error(content)
                }
            }
            b':' | b'(' => {
                if !is_integer(content) {
                    return Err(bad_number);
                }
                if ty == b':' {
                    Scalar::Int(content)
                } else {
                    Scalar::BigNum(content)
                }
            }
            b',' => {
                if !is_double(content) {
                    return Err(bad_number);
                }
                Scalar::Double(content)
            }
            b'#' => match content {
                b"t" => Scalar::Bool(true),
                b"f" => Scalar::Bool(false),
                _ => return Err(bad_number),
            },
            b'_' => {
                if !content.is_empty() {
                    return Err(bad_number);
                }
                Scalar::Null
            }
            b'$' | b'=' | b'!' => return self.blob_header(ts, ty, content, sink),
            b'*' | b'%' | b'~' | b'>' | b'|' => return self.agg_header(ts, ty, content, sink),
            b';' => {
                let Some(Len::N(n)) = parse_len(content) else {
                    return Err(bad_number);
                };
                if n > self.max_bulk {
                    return Err(RedisParseError::BulkTooLong {
                        limit: self.max_bulk,
                    });
                }
                if n > 0 {
                    self.state = State::Blob { left: n };
                    return Ok(());
                }
                self.stack.pop();
                if self.attr_depth == 0 {
                    sink.end_blob();
                }
                self.value_done(ts, sink);
                return Ok(());
            }
            b'.' => {
                let top = self.stack.pop();
                let odd_map = top
                    .is_some_and(|l| matches!(l.kind, LevelKind::Agg(Agg::Map)) && l.seen % 2 == 1);
                if !content.is_empty() || odd_map {
                    return Err(RedisParseError::Streamed);
                }
                if self.attr_depth == 0 {
                    sink.end_agg();
                }
                self.value_done(ts, sink);
                return Ok(());
            }
            _ => return Err(RedisParseError::InvalidType { byte: ty }),
        };
        if self.attr_depth == 0 {
            sink.scalar(scalar)?;
        }
        self.value_done(ts, sink);
        Ok(())
    }

    fn check_depth(&self) -> Result<(), RedisParseError> {
        if self.stack.len() >= self.max_depth {
            return Err(RedisParseError::TooDeep {
                limit: self.max_depth,
            });
        }
        Ok(())
    }

    fn blob_header(
        &mut self,
        ts: u64,
        ty: u8,
        content: &[u8],
        sink: &mut impl Sink,
    ) -> Result<(), RedisParseError> {
        let blob = match ty {
            b'$' => Blob::Bulk,
            b'=' => Blob::Verbatim,
            _ => Blob::Error,
        };
        let bad_number = RedisParseError::InvalidNumber { ty: char::from(ty) };
        match parse_len(content).ok_or(bad_number)? {
            Len::Null if ty == b'$' => {
                if self.attr_depth == 0 {
                    sink.scalar(Scalar::Null)?;
                }
                self.value_done(ts, sink);
                Ok(())
            }
            Len::Streamed if ty == b'$' => {
                self.check_depth()?;
                if self.attr_depth == 0 {
                    sink.begin_blob(blob, None)?;
                }
                self.stack.push(Level {
                    kind: LevelKind::StreamStr,
                    left: None,
                    seen: 0,
                });
                Ok(())
            }
            Len::N(n) => {
                if n > self.max_bulk {
                    return Err(RedisParseError::BulkTooLong {
                        limit: self.max_bulk,
                    });
                }
                if self.attr_depth == 0 {
                    sink.begin_blob(blob, Some(n))?;
                }
                self.state = if n == 0 {
                    State::BlobEnd { cr: false }
                } else {
                    State::Blob { left: n }
                };
                Ok(())
            }
            _ => Err(bad_number),
        }
    }

    fn agg_header(
        &mut self,
        ts: u64,
        ty: u8,
        content: &[u8],
        sink: &mut impl Sink,
    ) -> Result<(), RedisParseError> {
        let bad_number = RedisParseError::InvalidNumber { ty: char::from(ty) };
        let kind = match ty {
            b'*' => LevelKind::Agg(Agg::Array),
            b'%' => LevelKind::Agg(Agg::Map),
            b'~' => LevelKind::Agg(Agg::Set),
            b'>' => LevelKind::Agg(Agg::Push),
            _ => LevelKind::Attr,
        };
        let pairs = matches!(kind, LevelKind::Agg(Agg::Map) | LevelKind::Attr);
        let (len, left) = match parse_len(content).ok_or(bad_number)? {
            Len::Null if ty == b'*' => {
                if self.attr_depth == 0 {
                    sink.scalar(Scalar::Null)?;
                }
                self.value_done(ts, sink);
                return Ok(());
            }
            Len::Streamed if matches!(ty, b'*' | b'%' | b'~') => (None, None),
            Len::N(n) => {
                if n > self.max_agg {
                    return Err(RedisParseError::AggregateTooLong {
                        limit: self.max_agg,
                    });
                }
                (Some(n), Some(if pairs { n * 2 } else { n }))
            }
            _ => return Err(bad_number),
        };
        self.check_depth()?;
        match kind {
            LevelKind::Agg(agg) => {
                if self.attr_depth == 0 {
                    sink.begin_agg(agg, len)?;
                }
            }
            _ => self.attr_depth += 1,
        }
        if left == Some(0) {
            if kind == LevelKind::Attr {
                self.attr_depth -= 1;
                return Ok(());
            }
            if self.attr_depth == 0 {
                sink.end_agg();
            }
            self.value_done(ts, sink);
            return Ok(());
        }
        self.stack.push(Level {
            kind,
            left,
            seen: 0,
        });
        Ok(())
    }

    /// A value is complete: closes the aggregates it completes, and the frame.
    fn value_done(&mut self, ts: u64, sink: &mut impl Sink) {
        loop {
            let Some(top) = self.stack.last_mut() else {
                self.in_frame = false;
                if self.tentative {
                    self.tentative = false;
                    sink.stats().resyncs += 1;
                }
                sink.frame_done(self.ts_start, ts);
                return;
            };
            top.seen += 1;
            match &mut top.left {
                Some(left) => {
                    *left = left.saturating_sub(1);
                    if *left > 0 {
                        return;
                    }
                }
                None => return,
            }
            let kind = top.kind;
            self.stack.pop();
            if kind == LevelKind::Attr {
                self.attr_depth = self.attr_depth.saturating_sub(1);
                return;
            }
            if self.attr_depth == 0 {
                sink.end_agg();
            }
        }
    }

    /// An inline command line (requests only): words, `"..."` with escapes, `'...'`.
    fn inline(
        &mut self,
        ts: u64,
        content: &[u8],
        sink: &mut impl Sink,
    ) -> Result<(), RedisParseError> {
        let mut scratch = std::mem::take(&mut self.scratch);
        let mut count = 0u64;
        let mut rest = content;
        while let Some(r) = next_inline_arg(rest, &mut scratch)? {
            rest = r;
            count += 1;
        }
        if count == 0 {
            // Redis ignores empty lines.
            self.in_frame = false;
            self.scratch = scratch;
            return Ok(());
        }
        let result = (|| {
            sink.begin_agg(Agg::Array, Some(count))?;
            let mut rest = content;
            while let Some(r) = next_inline_arg(rest, &mut scratch)? {
                rest = r;
                sink.begin_blob(Blob::Bulk, Some(scratch.len() as u64))?;
                sink.blob_data(&scratch);
                sink.end_blob();
            }
            sink.end_agg();
            Ok(())
        })();
        self.scratch = scratch;
        result?;
        self.in_frame = false;
        sink.frame_done(self.ts_start, ts);
        Ok(())
    }
}

/// Whether `b` is a RESP2/RESP3 type marker.
pub(crate) fn is_type(b: u8) -> bool {
    matches!(
        b,
        b'+' | b'-'
            | b':'
            | b'$'
            | b'*'
            | b'_'
            | b','
            | b'#'
            | b'!'
            | b'='
            | b'('
            | b'%'
            | b'~'
            | b'>'
            | b'|'
    )
}

/// A simple string or error line that looks like one (checked only for tentative frames):
/// printable ASCII, and errors start with an upper-case letter.
fn plausible_text(ty: u8, content: &[u8]) -> bool {
    let printable = content.iter().all(|&b| (0x20..0x7f).contains(&b));
    printable && (ty == b'+' || content.first().is_some_and(u8::is_ascii_uppercase))
}

/// `["-"] 1*20DIGIT`
pub(crate) fn is_integer(s: &[u8]) -> bool {
    let digits = s.strip_prefix(b"-").unwrap_or(s);
    !digits.is_empty() && digits.len() <= 40 && digits.iter().all(u8::is_ascii_digit)
}

fn is_double(s: &[u8]) -> bool {
    let body = s
        .strip_prefix(b"-")
        .or_else(|| s.strip_prefix(b"+"))
        .unwrap_or(s);
    if matches!(body, b"inf" | b"nan") {
        return true;
    }
    !s.is_empty()
        && s.len() <= 64
        && s.iter()
            .all(|&b| b.is_ascii_digit() || matches!(b, b'+' | b'-' | b'.' | b'e' | b'E'))
        && s.iter().any(u8::is_ascii_digit)
}

/// `"-1"` (null), `"?"` (streamed) or up to 19 digits.
fn parse_len(s: &[u8]) -> Option<Len> {
    match s {
        b"-1" => Some(Len::Null),
        b"?" => Some(Len::Streamed),
        _ if !s.is_empty() && s.len() <= 19 && s.iter().all(u8::is_ascii_digit) => {
            let mut n = 0u64;
            for &b in s {
                n = n * 10 + u64::from(b - b'0');
            }
            Some(Len::N(n))
        }
        _ => None,
    }
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

fn hex(b: u8) -> Option<u8> {
    char::from(b)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

/// Splits off the next inline argument into `out`, like redis-server's `sdssplitargs`.
/// Returns the rest of the line, `None` when there are no more arguments.
fn next_inline_arg<'a>(
    line: &'a [u8],
    out: &mut Vec<u8>,
) -> Result<Option<&'a [u8]>, RedisParseError> {
    out.clear();
    let start = line.iter().position(|&b| !is_space(b));
    let Some(mut rest) = start.and_then(|s| line.get(s..)) else {
        return Ok(None);
    };
    let quote = match rest.first() {
        Some(&q @ (b'"' | b'\'')) => {
            rest = rest.get(1..).unwrap_or_default();
            Some(q)
        }
        _ => None,
    };
    let Some(q) = quote else {
        let end = rest.iter().position(|&b| is_space(b)).unwrap_or(rest.len());
        out.extend_from_slice(rest.get(..end).unwrap_or_default());
        return Ok(Some(rest.get(end..).unwrap_or_default()));
    };
    loop {
        match rest {
            [] => return Err(RedisParseError::InlineQuotes),
            [b'\\', b'x', h, l, tail @ ..]
                if q == b'"' && hex(*h).is_some() && hex(*l).is_some() =>
            {
                out.push(hex(*h).unwrap_or(0) * 16 + hex(*l).unwrap_or(0));
                rest = tail;
            }
            [b'\\', c, tail @ ..] if q == b'"' => {
                out.push(match c {
                    b'n' => b'\n',
                    b'r' => b'\r',
                    b't' => b'\t',
                    b'b' => 0x08,
                    b'a' => 0x07,
                    other => *other,
                });
                rest = tail;
            }
            [b'\\', b'\'', tail @ ..] if q == b'\'' => {
                out.push(b'\'');
                rest = tail;
            }
            [c, tail @ ..] if *c == q => {
                // The closing quote must be followed by a space or the end.
                if tail.first().is_some_and(|&b| !is_space(b)) {
                    return Err(RedisParseError::InlineQuotes);
                }
                return Ok(Some(tail));
            }
            [c, tail @ ..] => {
                out.push(*c);
                rest = tail;
            }
        }
    }
}

#[cfg(test)]
mod unit {
    use super::*;

    fn args(line: &[u8]) -> Result<Vec<Vec<u8>>, RedisParseError> {
        let mut v = Vec::new();
        let mut out = Vec::new();
        let mut rest = line;
        while let Some(r) = next_inline_arg(rest, &mut out)? {
            v.push(out.clone());
            rest = r;
        }
        Ok(v)
    }

    #[test]
    fn inline_splitting_follows_sdssplitargs() {
        assert_eq!(args(b"SET a b").unwrap(), [&b"SET"[..], b"a", b"b"]);
        assert_eq!(args(b"  PING  ").unwrap(), [&b"PING"[..]]);
        assert_eq!(
            args(br#"SET k "hello world\n\x41""#).unwrap(),
            [&b"SET"[..], b"k", b"hello world\nA"]
        );
        assert_eq!(args(br"ECHO 'a \'b\''").unwrap(), [&b"ECHO"[..], b"a 'b'"]);
        assert_eq!(args(b"").unwrap(), Vec::<Vec<u8>>::new());
        assert_eq!(
            args(br#"ECHO "unterminated"#),
            Err(RedisParseError::InlineQuotes)
        );
        assert_eq!(args(br#"ECHO "a"b"#), Err(RedisParseError::InlineQuotes));
    }

    #[test]
    fn numbers() {
        assert_eq!(parse_len(b"-1"), Some(Len::Null));
        assert_eq!(parse_len(b"?"), Some(Len::Streamed));
        assert_eq!(parse_len(b"0"), Some(Len::N(0)));
        assert_eq!(
            parse_len(b"9999999999999999999"),
            Some(Len::N(9_999_999_999_999_999_999))
        );
        for bad in [
            &b""[..],
            b"-2",
            b"+1",
            b"1a",
            b"99999999999999999999",
            b" 1",
        ] {
            assert_eq!(parse_len(bad), None, "{bad:?}");
        }
        assert!(is_integer(b"-42") && is_integer(b"0") && !is_integer(b"-") && !is_integer(b"4.2"));
        for ok in [&b"3.14"[..], b"-1e10", b"inf", b"-inf", b"nan", b"10"] {
            assert!(is_double(ok), "{ok:?}");
        }
        for bad in [&b""[..], b"abc", b"1,5", b"."] {
            assert!(!is_double(bad), "{bad:?}");
        }
    }
}
