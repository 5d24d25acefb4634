//! Framing of one direction of an HTTP/1.x connection: heads, bodies, gaps and resync.
//!
//! A [`StreamParser`] is a state machine fed with slices; every decision depends only on the
//! byte sequence (and on the pending-request queue for response framing), never on where the
//! slices were cut. Message heads are buffered (up to `max_header_bytes`) and handed to
//! httparse once complete; bodies are counted as they stream by, and only the first
//! `keep_body_prefix` bytes are copied.
//!
//! States:
//! ```text
//! Idle --first non-CR/LF byte--> Head --head complete--> Body --done--> Idle
//!   ^                              |                      |
//!   |                     error / gap in head     error / gap in framing
//!   |                              v                      v
//!   +------ message start found -- Resync <---------------+
//! ```
//! Body framing (RFC 9112 §6.3): no body for HEAD responses, 1xx, 204, 304 and 2xx to
//! CONNECT; else chunked if the last transfer coding is `chunked`; else Content-Length; else
//! none for requests and read-until-close for responses.

use std::mem;

use super::head::{HeadScanner, Scan};
use super::infer::{Candidate, MAX_START_PATTERN, may_start, message_start};
use super::stitch::Stitcher;
use super::types::{HttpConfig, HttpMessage, HttpParseError, HttpRecord, HttpStats};
use crate::MessageKind;

/// Longest chunk-size line, extensions included.
pub(crate) const MAX_CHUNK_LINE: u16 = 4096;
/// Most hex digits in a chunk size (64 bits).
const MAX_CHUNK_DIGITS: u8 = 16;

/// Everything a stream parser reports into.
pub(crate) struct Sink<'a> {
    pub(crate) stitch: &'a mut Stitcher,
    pub(crate) stats: &'a mut HttpStats,
    pub(crate) out: &'a mut Vec<HttpRecord>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Chunk {
    /// Reading a chunk-size line.
    Size {
        size: u64,
        digits: u8,
        ext: bool,
        cr: bool,
        line: u16,
    },
    /// Inside chunk data, this many bytes left.
    Data(u64),
    /// After chunk data, expecting CRLF.
    DataEnd { cr: bool },
    /// After the last chunk, reading trailer lines until an empty one.
    Trailer { line: usize, cr: bool, total: usize },
}

impl Chunk {
    const START: Chunk = Chunk::Size {
        size: 0,
        digits: 0,
        ext: false,
        cr: false,
        line: 0,
    };
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Body {
    /// Content-Length: this many bytes left (never 0).
    Length(u64),
    Chunked(Chunk),
    /// Response body delimited by the connection close.
    Close,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Between messages; CR/LF here are skipped.
    Idle,
    Head,
    Body(Body),
    /// Looking for a plausible message start after lost or malformed bytes.
    Resync,
    /// The connection switched protocols: bytes are ignored.
    Upgraded,
}

/// What the header fields say about the body.
#[derive(Clone, Copy, Debug, Default)]
struct HeadInfo {
    content_length: Option<u64>,
    /// At least one transfer coding is present.
    transfer_encoding: bool,
    /// The last transfer coding is `chunked`.
    chunked: bool,
}

/// Parser of one direction of one connection.
#[derive(Debug)]
pub(crate) struct StreamParser {
    kind: MessageKind,
    state: State,
    scanner: HeadScanner,
    /// Head bytes of the message in progress.
    head: Vec<u8>,
    /// (offset in `head`, timestamp) where each push's bytes begin.
    head_ts: Vec<(usize, u64)>,
    msg: HttpMessage,
    /// Messages handed back by the caller ([`super::HttpConnection::recycle`]): their
    /// strings' capacity is reused, so steady traffic parses without allocating.
    pool: Vec<HttpMessage>,
    /// Pending-queue sequence number of the request in progress (request stream only).
    seq: Option<u64>,
    /// Body bytes may still be copied to `body_prefix` (no gap yet).
    prefix_open: bool,
    /// Resync: bytes at the end of the last push that may begin a message start, with the
    /// timestamp of each byte.
    carry: Vec<u8>,
    carry_ts: Vec<u64>,
    /// Bytes to scan again (after a failed head), with (offset, timestamp) segments.
    refeed: Vec<u8>,
    refeed_ts: Vec<(usize, u64)>,
    last_error: Option<HttpParseError>,
    max_headers: usize,
    max_header_bytes: usize,
    keep_body_prefix: usize,
    /// Bytes consumed by `step`, rescans included (tests check recovery stays linear).
    #[cfg(test)]
    pub(crate) work: u64,
}

impl StreamParser {
    pub(crate) fn new(kind: MessageKind, cfg: &HttpConfig) -> Self {
        let max_header_bytes = cfg.max_header_bytes.max(1);
        Self {
            kind,
            state: State::Idle,
            scanner: HeadScanner::new(max_header_bytes, cfg.max_headers),
            head: Vec::new(),
            head_ts: Vec::new(),
            msg: HttpMessage::default(),
            pool: Vec::new(),
            seq: None,
            prefix_open: true,
            carry: Vec::with_capacity(MAX_START_PATTERN),
            carry_ts: Vec::with_capacity(MAX_START_PATTERN),
            refeed: Vec::new(),
            refeed_ts: Vec::new(),
            last_error: None,
            max_headers: cfg.max_headers,
            max_header_bytes,
            keep_body_prefix: cfg.keep_body_prefix,
            #[cfg(test)]
            work: 0,
        }
    }

    /// Last reason a message was rejected (diagnostics and tests).
    #[cfg(test)]
    pub(crate) fn last_error(&self) -> Option<HttpParseError> {
        self.last_error
    }

    /// Bytes of this stream observed at `ts`.
    pub(crate) fn push(&mut self, ts: u64, data: &[u8], sink: &mut Sink<'_>) {
        let mut off = 0;
        while let Some(rest) = data.get(off..).filter(|r| !r.is_empty()) {
            if self.state == State::Upgraded {
                return;
            }
            off += self.step(ts, rest, sink);
            self.drain_refeed(sink);
        }
    }

    /// Processes bytes queued for a second look, including those queued while doing so.
    fn drain_refeed(&mut self, sink: &mut Sink<'_>) {
        if self.refeed.is_empty() {
            return;
        }
        let mut bytes = mem::take(&mut self.refeed);
        let mut segs = mem::take(&mut self.refeed_ts);
        let mut pos = 0;
        while pos < bytes.len() && self.state != State::Upgraded {
            let si = segs.partition_point(|&(o, _)| o <= pos).saturating_sub(1);
            let ts = segs.get(si).map_or(0, |s| s.1);
            let end = segs.get(si + 1).map_or(bytes.len(), |s| s.0);
            let chunk = bytes.get(pos..end).unwrap_or_default();
            pos += self.step(ts, chunk, sink);
            if !self.refeed.is_empty() {
                // A new failure: its bytes come first, then what is left of this batch.
                let mut nb = mem::take(&mut self.refeed);
                let mut ns = mem::take(&mut self.refeed_ts);
                let base = nb.len();
                let first = segs.partition_point(|&(o, _)| o <= pos).saturating_sub(1);
                for &(o, t) in segs.get(first..).unwrap_or_default() {
                    ns.push((base + o.max(pos) - pos, t));
                }
                nb.extend_from_slice(bytes.get(pos..).unwrap_or_default());
                bytes = nb;
                segs = ns;
                pos = 0;
            }
        }
        // Keep the allocation for next time.
        bytes.clear();
        segs.clear();
        self.refeed = bytes;
        self.refeed_ts = segs;
    }

    /// Consumes a prefix of `data` (possibly empty, only if the state changed or bytes were
    /// queued in `refeed`) and returns its length.
    fn step(&mut self, ts: u64, data: &[u8], sink: &mut Sink<'_>) -> usize {
        let n = self.step_state(ts, data, sink);
        #[cfg(test)]
        {
            self.work += n as u64;
        }
        n
    }

    fn step_state(&mut self, ts: u64, data: &[u8], sink: &mut Sink<'_>) -> usize {
        match self.state {
            State::Idle => {
                let skip = data
                    .iter()
                    .take_while(|&&b| b == b'\r' || b == b'\n')
                    .count();
                if skip < data.len() {
                    self.begin_message();
                }
                skip
            }
            State::Head => {
                let scan = self.scanner.scan(data);
                let n = match scan {
                    Scan::Partial => data.len(),
                    Scan::Done(n) | Scan::Invalid(n, _) => n,
                };
                self.append_head(ts, data.get(..n).unwrap_or(data));
                match scan {
                    Scan::Partial => {}
                    Scan::Done(_) => self.finish_head(ts, sink),
                    Scan::Invalid(_, err) => {
                        let resume = self.scanner.resume_offset();
                        self.fail(err, Some(resume), sink);
                    }
                }
                n
            }
            State::Body(Body::Length(rem)) => {
                let n = usize::try_from(rem).map_or(data.len(), |r| r.min(data.len()));
                self.body_bytes(data.get(..n).unwrap_or(data));
                self.msg.ts_end_ns = ts;
                let rem = rem.saturating_sub(n as u64);
                if rem == 0 {
                    self.complete(sink);
                } else {
                    self.state = State::Body(Body::Length(rem));
                }
                n
            }
            State::Body(Body::Close) => {
                self.body_bytes(data);
                self.msg.ts_end_ns = ts;
                data.len()
            }
            State::Body(Body::Chunked(c)) => self.step_chunked(c, ts, data, sink),
            State::Resync => self.step_resync(ts, data, sink),
            State::Upgraded => data.len(),
        }
    }

    /// Most messages kept for reuse per direction.
    const POOL: usize = 8;

    /// Takes back an emitted message for reuse.
    pub(crate) fn recycle(&mut self, msg: HttpMessage) {
        if self.pool.len() < Self::POOL {
            self.pool.push(msg);
        }
    }

    /// Makes `self.msg` a blank message, reusing pooled capacity when it was handed out.
    fn blank_msg(&mut self) {
        if self.msg.headers.capacity() == 0
            && let Some(spare) = self.pool.pop()
        {
            self.msg = spare;
        }
        self.msg.reset();
    }

    fn begin_message(&mut self) {
        self.state = State::Head;
        self.scanner.reset(self.kind);
        self.head.clear();
        self.head_ts.clear();
        self.blank_msg();
        self.seq = None;
        self.prefix_open = true;
    }

    fn append_head(&mut self, ts: u64, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        if self.head_ts.last().is_none_or(|&(_, t)| t != ts) {
            self.head_ts.push((self.head.len(), ts));
        }
        self.head.extend_from_slice(bytes);
    }

    /// The head is complete: extract fields, decide the body framing.
    fn finish_head(&mut self, ts: u64, sink: &mut Sink<'_>) {
        self.msg.ts_start_ns = self.head_ts.first().map_or(ts, |s| s.1);
        self.msg.ts_end_ns = ts;
        let info = match parse_head(self.kind, &self.head, self.max_headers, &mut self.msg) {
            Ok(info) => info,
            Err(err) => {
                let resume = self.scanner.start_line_end().max(1);
                return self.fail(err, Some(resume), sink);
            }
        };
        match self.kind {
            MessageKind::Request => {
                let body = if info.chunked {
                    Some(Body::Chunked(Chunk::START))
                } else if info.transfer_encoding {
                    // RFC 9112 §6.3: the length of such a request cannot be determined.
                    return self.fail(HttpParseError::TransferEncoding, None, sink);
                } else {
                    info.content_length.filter(|&n| n > 0).map(Body::Length)
                };
                let seq =
                    sink.stitch
                        .request_head(self.msg.ts_start_ns, &self.msg.method, sink.stats);
                self.seq = Some(seq);
                match body {
                    Some(body) => self.state = State::Body(body),
                    None => self.complete(sink),
                }
            }
            MessageKind::Response => {
                let status = self.msg.status;
                if (100..200).contains(&status) && status != 101 {
                    // Interim (100 Continue, 103 Early Hints, ...): never paired.
                    sink.stats.interim_responses += 1;
                    self.blank_msg();
                    self.state = State::Idle;
                    return;
                }
                let ctx = sink.stitch.response_context(self.msg.ts_start_ns);
                let no_body = status == 101
                    || status == 204
                    || status == 304
                    || ctx.head
                    || (ctx.connect && (200..300).contains(&status));
                let body = if no_body {
                    None
                } else if info.chunked {
                    Some(Body::Chunked(Chunk::START))
                } else if info.transfer_encoding {
                    Some(Body::Close)
                } else {
                    match info.content_length {
                        Some(0) => None,
                        Some(n) => Some(Body::Length(n)),
                        None => Some(Body::Close),
                    }
                };
                match body {
                    Some(body) => self.state = State::Body(body),
                    None => self.complete(sink),
                }
            }
        }
    }

    /// The message in progress is complete (its `ts_end_ns` is set): hand it to the stitcher.
    fn complete(&mut self, sink: &mut Sink<'_>) {
        let msg = mem::take(&mut self.msg);
        self.state = State::Idle;
        match self.kind {
            MessageKind::Request => {
                if let Some(seq) = self.seq.take() {
                    sink.stitch.request_done(seq, msg, sink.stats, sink.out);
                }
            }
            MessageKind::Response => {
                if sink.stitch.response_done(msg, sink.stats, sink.out) {
                    self.state = State::Upgraded;
                }
            }
        }
    }

    fn body_bytes(&mut self, bytes: &[u8]) {
        self.msg.body_size = self.msg.body_size.saturating_add(bytes.len() as u64);
        if self.prefix_open {
            let room = self
                .keep_body_prefix
                .saturating_sub(self.msg.body_prefix.len());
            if room > 0 {
                self.msg
                    .body_prefix
                    .extend_from_slice(bytes.get(..room).unwrap_or(bytes));
            }
        }
    }

    fn step_chunked(&mut self, mut c: Chunk, ts: u64, data: &[u8], sink: &mut Sink<'_>) -> usize {
        let mut i = 0;
        while let Some(rest) = data.get(i..).filter(|r| !r.is_empty()) {
            if let Chunk::Data(rem) = c {
                let n = usize::try_from(rem).map_or(rest.len(), |r| r.min(rest.len()));
                self.body_bytes(rest.get(..n).unwrap_or(rest));
                i += n;
                let rem = rem.saturating_sub(n as u64);
                c = if rem == 0 {
                    Chunk::DataEnd { cr: false }
                } else {
                    Chunk::Data(rem)
                };
                continue;
            }
            let b = rest.first().copied().unwrap_or(0);
            i += 1;
            match self.chunk_byte(c, b) {
                Ok(Some(next)) => c = next,
                Ok(None) => {
                    self.msg.ts_end_ns = ts;
                    self.complete(sink);
                    return i;
                }
                Err(err) => {
                    self.fail(err, None, sink);
                    return i;
                }
            }
        }
        self.msg.ts_end_ns = ts;
        self.state = State::Body(Body::Chunked(c));
        i
    }

    /// One byte of chunk framing (RFC 9112 §7.1). `Ok(None)`: the message ends here.
    ///
    /// ```text
    /// chunk      = chunk-size [ chunk-ext ] CRLF chunk-data CRLF
    /// chunk-size = 1*16HEXDIG        ; the line is at most MAX_CHUNK_LINE bytes
    /// chunk-ext  = ( ";" / SP / HTAB ) *text
    /// last-chunk = 1*("0") [ chunk-ext ] CRLF
    /// trailer    = *( field-line CRLF ) CRLF   ; at most max_header_bytes
    /// ```
    fn chunk_byte(&self, c: Chunk, b: u8) -> Result<Option<Chunk>, HttpParseError> {
        const BAD: HttpParseError = HttpParseError::Chunked;
        Ok(Some(match c {
            Chunk::Size {
                size,
                digits,
                ext,
                cr,
                line,
            } => {
                let line = line.saturating_add(1);
                if line > MAX_CHUNK_LINE {
                    return Err(BAD);
                }
                let end = |size: u64, digits: u8| match (digits, size) {
                    (0, _) => Err(BAD),
                    (_, 0) => Ok(Some(Chunk::Trailer {
                        line: 0,
                        cr: false,
                        total: 0,
                    })),
                    (_, n) => Ok(Some(Chunk::Data(n))),
                };
                match (cr, b) {
                    (true, b'\n') | (false, b'\n') => return end(size, digits),
                    (true, _) => return Err(BAD),
                    (false, b'\r') => Chunk::Size {
                        size,
                        digits,
                        ext,
                        cr: true,
                        line,
                    },
                    (false, b) if !ext && b.is_ascii_hexdigit() => {
                        if digits >= MAX_CHUNK_DIGITS {
                            return Err(BAD);
                        }
                        let d = u64::from((b as char).to_digit(16).unwrap_or(0));
                        let size = size
                            .checked_mul(16)
                            .and_then(|s| s.checked_add(d))
                            .ok_or(BAD)?;
                        Chunk::Size {
                            size,
                            digits: digits + 1,
                            ext,
                            cr,
                            line,
                        }
                    }
                    (false, b';' | b' ' | b'\t') if digits > 0 => Chunk::Size {
                        size,
                        digits,
                        ext: true,
                        cr,
                        line,
                    },
                    (false, b)
                        if ext && (b == b'\t' || (b' '..=0x7e).contains(&b) || b >= 0x80) =>
                    {
                        Chunk::Size {
                            size,
                            digits,
                            ext,
                            cr,
                            line,
                        }
                    }
                    _ => return Err(BAD),
                }
            }
            Chunk::DataEnd { cr } => match (cr, b) {
                (false, b'\r') => Chunk::DataEnd { cr: true },
                (_, b'\n') => Chunk::START,
                _ => return Err(BAD),
            },
            Chunk::Trailer { line, cr, total } => {
                let total = total.saturating_add(1);
                if total > self.max_header_bytes {
                    return Err(HttpParseError::HeadTooLong {
                        limit: self.max_header_bytes,
                    });
                }
                match (cr, b) {
                    (_, b'\n') if line == 0 => return Ok(None),
                    (_, b'\n') => Chunk::Trailer {
                        line: 0,
                        cr: false,
                        total,
                    },
                    (false, b'\r') => Chunk::Trailer {
                        line,
                        cr: true,
                        total,
                    },
                    (false, b) if b == b'\t' || (b' '..=0x7e).contains(&b) || b >= 0x80 => {
                        Chunk::Trailer {
                            line: line.saturating_add(1),
                            cr,
                            total,
                        }
                    }
                    _ => return Err(BAD),
                }
            }
            Chunk::Data(_) => c,
        }))
    }

    /// Scans for the next message start. Bytes that may begin one at the end of `data` are
    /// kept in `carry` and looked at again with the next push.
    fn step_resync(&mut self, ts: u64, data: &[u8], sink: &mut Sink<'_>) -> usize {
        if !self.carry.is_empty() {
            let mut window = [0u8; 2 * MAX_START_PATTERN];
            let c = self.carry.len().min(MAX_START_PATTERN);
            let k = data.len().min(window.len() - c);
            let bytes = self.carry.iter().take(c).chain(data.iter().take(k));
            for (w, &b) in window.iter_mut().zip(bytes) {
                *w = b;
            }
            for i in 0..c {
                match message_start(self.kind, window.get(i..c + k).unwrap_or_default()) {
                    Candidate::Yes => {
                        self.refeed.clear();
                        self.refeed_ts.clear();
                        for (j, (&b, &t)) in
                            self.carry.iter().zip(&self.carry_ts).enumerate().skip(i)
                        {
                            if self.refeed_ts.last().is_none_or(|&(_, lt)| lt != t) {
                                self.refeed_ts.push((j - i, t));
                            }
                            self.refeed.push(b);
                        }
                        self.carry.clear();
                        self.carry_ts.clear();
                        self.found_start(sink);
                        return 0;
                    }
                    Candidate::NeedMore => {
                        // Only possible when `data` is short: keep carry[i..] + data.
                        self.carry.drain(..i);
                        self.carry_ts.drain(..i);
                        self.carry.extend_from_slice(data);
                        self.carry_ts.extend(std::iter::repeat_n(ts, data.len()));
                        return data.len();
                    }
                    Candidate::No => {}
                }
            }
            self.carry.clear();
            self.carry_ts.clear();
        }
        for (j, &b) in data.iter().enumerate() {
            if !may_start(self.kind, b) {
                continue;
            }
            let rest = data.get(j..).unwrap_or_default();
            match message_start(self.kind, rest) {
                Candidate::Yes => {
                    self.found_start(sink);
                    return j;
                }
                Candidate::NeedMore => {
                    self.carry.extend_from_slice(rest);
                    self.carry_ts.extend(std::iter::repeat_n(ts, rest.len()));
                    return data.len();
                }
                Candidate::No => {}
            }
        }
        data.len()
    }

    fn found_start(&mut self, sink: &mut Sink<'_>) {
        sink.stats.resyncs += 1;
        self.state = State::Idle;
    }

    /// The message in progress is malformed. `resume`: offset in the head from which to scan
    /// again for a message start (None: continue after the bytes consumed so far).
    fn fail(&mut self, err: HttpParseError, resume: Option<usize>, sink: &mut Sink<'_>) {
        sink.stats.parse_errors += 1;
        self.last_error = Some(err);
        if let Some(r) = resume.filter(|&r| r < self.head.len()) {
            let first = self
                .head_ts
                .partition_point(|&(o, _)| o <= r)
                .saturating_sub(1);
            let mut segs = mem::take(&mut self.refeed_ts);
            segs.clear();
            for &(o, t) in self.head_ts.get(first..).unwrap_or_default() {
                segs.push((o.max(r) - r, t));
            }
            self.refeed_ts = segs;
            self.refeed.clear();
            self.refeed
                .extend_from_slice(self.head.get(r..).unwrap_or_default());
        }
        self.drop_in_progress(sink);
        self.enter_resync();
    }

    /// Tells the stitcher that the message in progress (and for responses, any response
    /// between here and the next message start) is lost.
    fn drop_in_progress(&mut self, sink: &mut Sink<'_>) {
        match self.kind {
            MessageKind::Request => {
                if let Some(seq) = self.seq.take() {
                    sink.stitch.request_lost(seq);
                }
            }
            MessageKind::Response => sink.stitch.response_stream_lost(sink.stats),
        }
    }

    fn enter_resync(&mut self) {
        self.state = State::Resync;
        self.carry.clear();
        self.carry_ts.clear();
        self.head.clear();
        self.head_ts.clear();
        self.blank_msg();
        self.seq = None;
    }

    /// `len` bytes of this stream were not captured.
    pub(crate) fn gap(&mut self, ts: u64, len: u64, sink: &mut Sink<'_>) {
        if len == 0 {
            return;
        }
        match self.state {
            State::Upgraded => {}
            State::Idle => {
                self.drop_in_progress(sink);
                self.enter_resync();
            }
            State::Resync => {
                // The bytes after the gap do not continue the carried ones.
                self.carry.clear();
                self.carry_ts.clear();
                self.drop_in_progress(sink);
            }
            State::Head
            | State::Body(Body::Chunked(
                Chunk::Size { .. } | Chunk::DataEnd { .. } | Chunk::Trailer { .. },
            )) => self.lose_to_gap(sink),
            State::Body(Body::Chunked(Chunk::Data(rem))) => {
                if len <= rem {
                    self.skip_body(ts, len, sink.stats);
                    let rem = rem - len;
                    self.state = State::Body(Body::Chunked(if rem == 0 {
                        Chunk::DataEnd { cr: false }
                    } else {
                        Chunk::Data(rem)
                    }));
                } else {
                    self.lose_to_gap(sink);
                }
            }
            State::Body(Body::Length(rem)) => {
                let skip = rem.min(len);
                self.skip_body(ts, skip, sink.stats);
                if skip < rem {
                    self.state = State::Body(Body::Length(rem - skip));
                } else {
                    // The body ends inside the gap: the message is complete, and whatever
                    // followed it in the gap is lost.
                    self.complete(sink);
                    if len > rem {
                        self.gap(ts, len - rem, sink);
                    }
                }
            }
            State::Body(Body::Close) => self.skip_body(ts, len, sink.stats),
        }
    }

    fn skip_body(&mut self, ts: u64, len: u64, stats: &mut HttpStats) {
        self.msg.body_size = self.msg.body_size.saturating_add(len);
        self.msg.body_gap = true;
        self.msg.ts_end_ns = ts;
        self.prefix_open = false;
        stats.gap_bytes_skipped = stats.gap_bytes_skipped.saturating_add(len);
    }

    fn lose_to_gap(&mut self, sink: &mut Sink<'_>) {
        sink.stats.messages_lost_to_gaps += 1;
        self.drop_in_progress(sink);
        self.enter_resync();
    }

    /// The connection closed: completes a close-delimited body. Returns the request still in
    /// progress (request stream), for the stitcher to pair with an early response.
    pub(crate) fn close(&mut self, sink: &mut Sink<'_>) -> Option<(u64, HttpMessage)> {
        let mut in_progress = None;
        match (self.kind, self.state) {
            (MessageKind::Response, State::Body(Body::Close)) => self.complete(sink),
            (MessageKind::Request, State::Body(_)) => {
                in_progress = self.seq.take().map(|seq| (seq, mem::take(&mut self.msg)));
            }
            _ => {}
        }
        let upgraded = self.state == State::Upgraded;
        self.enter_resync();
        self.state = if upgraded {
            State::Upgraded
        } else {
            State::Idle
        };
        in_progress
    }
}

/// Runs httparse on a complete head and fills `msg` from it.
fn parse_head(
    kind: MessageKind,
    head: &[u8],
    max_headers: usize,
    msg: &mut HttpMessage,
) -> Result<HeadInfo, HttpParseError> {
    const STACK_HEADERS: usize = 64;
    let mut stack = [httparse::EMPTY_HEADER; STACK_HEADERS];
    let mut heap = Vec::new();
    let slots: &mut [httparse::Header<'_>] = match stack.get_mut(..max_headers) {
        Some(s) => s,
        None => {
            heap.resize(max_headers, httparse::EMPTY_HEADER);
            &mut heap
        }
    };
    let incomplete = HttpParseError::InvalidHead { offset: head.len() };
    let headers: &[httparse::Header<'_>] = match kind {
        MessageKind::Request => {
            let mut req = httparse::Request::new(slots);
            match req.parse(head).map_err(HttpParseError::Httparse)? {
                httparse::Status::Complete(_) => {}
                httparse::Status::Partial => return Err(incomplete),
            }
            set(&mut msg.method, req.method.unwrap_or_default());
            set(&mut msg.path, req.path.unwrap_or_default());
            msg.minor_version = req.version.unwrap_or(1);
            req.headers
        }
        MessageKind::Response => {
            let mut resp = httparse::Response::new(slots);
            match resp.parse(head).map_err(HttpParseError::Httparse)? {
                httparse::Status::Complete(_) => {}
                httparse::Status::Partial => return Err(incomplete),
            }
            msg.status = resp.code.unwrap_or_default();
            set(&mut msg.reason, resp.reason.unwrap_or_default());
            msg.minor_version = resp.version.unwrap_or(1);
            resp.headers
        }
    };
    let mut info = HeadInfo::default();
    let mut used = 0;
    for h in headers {
        if h.name.eq_ignore_ascii_case("content-length") {
            for part in h.value.split(|&b| b == b',') {
                let n = parse_decimal(part).ok_or(HttpParseError::ContentLength)?;
                if info.content_length.is_some_and(|old| old != n) {
                    return Err(HttpParseError::ContentLength);
                }
                info.content_length = Some(n);
            }
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            for coding in h
                .value
                .split(|&b| b == b',')
                .map(trim_ows)
                .filter(|c| !c.is_empty())
            {
                info.transfer_encoding = true;
                info.chunked = coding.eq_ignore_ascii_case(b"chunked");
            }
        }
        let value = String::from_utf8_lossy(h.value);
        if msg.content_type.is_empty() && h.name.eq_ignore_ascii_case("content-type") {
            set(&mut msg.content_type, &value);
        }
        // Reuse the strings of a recycled message where there are some.
        match msg.headers.get_mut(used) {
            Some((name, v)) => {
                set(name, h.name);
                set(v, &value);
            }
            None => msg.headers.push((h.name.to_owned(), value.into_owned())),
        }
        used += 1;
    }
    msg.headers.truncate(used);
    Ok(info)
}

/// Replaces the contents of `dst`, keeping its capacity.
fn set(dst: &mut String, src: &str) {
    dst.clear();
    dst.push_str(src);
}

fn trim_ows(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

/// `1*DIGIT` surrounded by optional whitespace, without overflow.
fn parse_decimal(s: &[u8]) -> Option<u64> {
    let s = trim_ows(s);
    if s.is_empty() {
        return None;
    }
    s.iter().try_fold(0u64, |acc, &b| {
        let d = if b.is_ascii_digit() {
            u64::from(b - b'0')
        } else {
            return None;
        };
        acc.checked_mul(10)?.checked_add(d)
    })
}
