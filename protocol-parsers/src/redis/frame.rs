//! Turning decoder events into what leaves the parser: a command name and its (redacted)
//! arguments on the request stream, a short rendering of each reply on the response stream.
//!
//! Only what is shown is copied: a redacted argument is never stored, a bulk reply is only
//! counted unless `full_capture` is on, and every rendering is bounded by the limits of
//! [`RedisConfig`](super::RedisConfig).

use super::command::{self, Family, Policy, PubSubKind};
use super::decode::{Agg, Blob, Scalar};
use super::types::{RedisConfig, RedisParseError};

/// Longest command or subcommand name kept.
const MAX_NAME: usize = 64;

/// How redis-server's "unknown command" error goes on to quote the arguments.
const ARGS_IN_ERROR: &str = ", with args beginning with:";

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Appends `bytes` escaped (printable ASCII as is, `"` and `\` with a backslash, the rest as
/// `\xHH`) while `out` is shorter than `limit`. Returns how many input bytes were written.
pub(crate) fn escape_into(out: &mut String, bytes: &[u8], limit: usize) -> usize {
    for (i, &b) in bytes.iter().enumerate() {
        if out.len() >= limit {
            return i;
        }
        match b {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            0x20..=0x7e => out.push(char::from(b)),
            _ => {
                out.push('\\');
                out.push('x');
                out.push(char::from(
                    HEX.get(usize::from(b >> 4)).copied().unwrap_or(b'0'),
                ));
                out.push(char::from(
                    HEX.get(usize::from(b & 15)).copied().unwrap_or(b'0'),
                ));
            }
        }
    }
    bytes.len()
}

/// Appends a command-name part: upper-cased printable ASCII, other bytes as `\xHH`.
fn push_name(out: &mut String, bytes: &[u8], kept: &mut usize) {
    for &b in bytes {
        if *kept >= MAX_NAME {
            return;
        }
        *kept += 1;
        if b.is_ascii_graphic() && b != b'"' && b != b'\\' {
            out.push(char::from(b.to_ascii_uppercase()));
        } else {
            escape_into(out, &[b], usize::MAX);
        }
    }
}

/// A complete command, ready for the stitcher.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Request {
    pub(crate) cmd: String,
    pub(crate) args: String,
    pub(crate) family: Family,
    /// Arguments after the command (and subcommand).
    pub(crate) nargs: u64,
    /// For HELLO: the protocol version asked for.
    pub(crate) hello: Option<u8>,
    pub(crate) ts_start: u64,
    pub(crate) ts_end: u64,
}

/// Collects one command from decoder events.
#[derive(Debug)]
pub(crate) struct RequestBuilder {
    full: bool,
    max_args: u64,
    max_arg_bytes: usize,
    started: bool,
    elems: u64,
    /// Index of the element in progress (0: the command name).
    idx: u64,
    container: bool,
    arg_base: u64,
    policy: Policy,
    cmd: String,
    name_kept: usize,
    args: String,
    shown: u64,
    keep_cur: bool,
    cur_kept: usize,
    cur_truncated: bool,
    first_arg: [u8; 2],
    first_arg_len: usize,
}

impl RequestBuilder {
    pub(crate) fn new(cfg: &RedisConfig) -> Self {
        Self {
            full: cfg.full_capture,
            max_args: cfg.max_args.max(1) as u64,
            max_arg_bytes: cfg.max_arg_bytes.max(1),
            started: false,
            elems: 0,
            idx: 0,
            container: false,
            arg_base: 1,
            policy: Policy::RedactAll,
            cmd: String::new(),
            name_kept: 0,
            args: String::new(),
            shown: 0,
            keep_cur: false,
            cur_kept: 0,
            cur_truncated: false,
            first_arg: [0; 2],
            first_arg_len: 0,
        }
    }

    pub(crate) fn reset(&mut self) {
        self.started = false;
        self.elems = 0;
        self.idx = 0;
        self.container = false;
        self.arg_base = 1;
        self.policy = Policy::RedactAll;
        self.cmd.clear();
        self.name_kept = 0;
        self.args.clear();
        self.shown = 0;
        self.keep_cur = false;
        self.cur_kept = 0;
        self.cur_truncated = false;
        self.first_arg_len = 0;
    }

    fn arg_index(&self) -> Option<u64> {
        self.idx.checked_sub(self.arg_base)
    }

    pub(crate) fn begin_agg(&mut self, agg: Agg, len: Option<u64>) -> Result<(), RedisParseError> {
        match (self.started, agg, len) {
            (false, Agg::Array, Some(n)) => {
                self.started = true;
                self.elems = n;
                self.args.push('[');
                Ok(())
            }
            _ => Err(RedisParseError::RequestShape),
        }
    }

    pub(crate) fn scalar(&mut self, s: Scalar<'_>) -> Result<(), RedisParseError> {
        // `*-1` is ignored by redis-server, like `*0`.
        if !self.started && s == Scalar::Null {
            return Ok(());
        }
        Err(RedisParseError::RequestShape)
    }

    pub(crate) fn begin_blob(
        &mut self,
        blob: Blob,
        len: Option<u64>,
    ) -> Result<(), RedisParseError> {
        if !self.started || blob != Blob::Bulk || len.is_none() {
            return Err(RedisParseError::RequestShape);
        }
        if self.idx == 1 && self.container {
            self.cmd.push(' ');
            self.name_kept = 0;
        }
        if let Some(a) = self.arg_index()
            && self.shown < self.max_args
        {
            if self.shown > 0 {
                self.args.push(',');
            }
            self.args.push('"');
            self.keep_cur = self.full || self.policy.keeps(a);
            if !self.keep_cur {
                self.args.push_str("<redacted>");
            }
            self.cur_kept = 0;
            self.cur_truncated = false;
        }
        Ok(())
    }

    pub(crate) fn blob_data(&mut self, data: &[u8]) {
        if self.idx == 0 || (self.idx == 1 && self.container) {
            push_name(&mut self.cmd, data, &mut self.name_kept);
            return;
        }
        if self.arg_index() == Some(0) {
            for &b in data {
                if let Some(slot) = self.first_arg.get_mut(self.first_arg_len) {
                    *slot = b;
                }
                self.first_arg_len = self.first_arg_len.saturating_add(1);
            }
        }
        if self.keep_cur && self.shown < self.max_args {
            let room = self.max_arg_bytes.saturating_sub(self.cur_kept);
            let take = data.get(..room).unwrap_or(data);
            escape_into(&mut self.args, take, usize::MAX);
            self.cur_kept += take.len();
            if take.len() < data.len() {
                self.cur_truncated = true;
            }
        }
    }

    pub(crate) fn end_blob(&mut self) {
        if self.idx == 0 {
            self.container = command::is_container(&self.cmd) && self.elems >= 2;
            if self.container {
                self.arg_base = 2;
            } else {
                self.policy = command::policy(&self.cmd);
            }
        } else if self.idx == 1 && self.container {
            self.policy = command::policy(&self.cmd);
        } else if self.arg_index().is_some() && self.shown < self.max_args {
            if self.keep_cur && self.cur_truncated {
                self.args.push_str("...");
            }
            self.args.push('"');
            self.shown += 1;
        }
        self.idx += 1;
        self.keep_cur = false;
    }

    /// The frame is complete: the command, or `None` for an empty one (`*0`, `*-1`).
    pub(crate) fn finish(&mut self, ts_start: u64, ts_end: u64) -> Option<Request> {
        if !self.started || self.elems == 0 {
            self.reset();
            return None;
        }
        let nargs = self.elems.saturating_sub(self.arg_base);
        if nargs > self.shown {
            if self.shown > 0 {
                self.args.push(',');
            }
            self.args
                .push_str(&format!("\"<+{} more>\"", nargs - self.shown));
        }
        self.args.push(']');
        let family = command::family(&self.cmd);
        let hello = match (family, self.first_arg_len, self.first_arg) {
            (Family::Hello, 1, [v @ b'0'..=b'9', _]) => Some(v - b'0'),
            _ => None,
        };
        let req = Request {
            cmd: std::mem::take(&mut self.cmd),
            args: std::mem::take(&mut self.args),
            family,
            nargs,
            hello,
            ts_start,
            ts_end,
        };
        self.reset();
        Some(req)
    }
}

/// A complete reply frame, ready for the stitcher.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Response {
    pub(crate) render: String,
    pub(crate) error: bool,
    pub(crate) bulk_bytes: u64,
    /// A RESP3 `>` frame.
    pub(crate) push_frame: bool,
    /// Shaped like a pub/sub message or subscription reply.
    pub(crate) pubsub: Option<PubSubKind>,
    /// For subscription replies: the subscription count they carry.
    pub(crate) sub_count: Option<i64>,
    pub(crate) ts_start: u64,
    pub(crate) ts_end: u64,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum SnapKind {
    #[default]
    None,
    Str,
    Int,
    Null,
    Other,
}

/// The first elements of a top-level aggregate, enough to recognise pub/sub frames.
#[derive(Clone, Debug, Default)]
struct Snap {
    kind: SnapKind,
    text: Vec<u8>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Top {
    None,
    Scalar,
    Blob,
    Agg(Agg),
}

#[derive(Clone, Copy, Debug)]
struct BlobCtx {
    blob: Blob,
    depth: usize,
    idx: u64,
    /// Bytes seen so far (the verbatim `fmt:` prefix is skipped).
    pos: u64,
    streamed: bool,
}

#[derive(Clone, Copy, Debug)]
struct RLevel {
    map: bool,
    n: u64,
}

/// Renders one reply from decoder events.
#[derive(Debug)]
pub(crate) struct ResponseBuilder {
    full: bool,
    max_resp: usize,
    max_arg: usize,
    levels: Vec<RLevel>,
    top: Top,
    top_count: u64,
    error: bool,
    bulk_bytes: u64,
    render: String,
    truncated: bool,
    snaps: [Snap; 4],
    blob: Option<BlobCtx>,
}

impl ResponseBuilder {
    pub(crate) fn new(cfg: &RedisConfig) -> Self {
        Self {
            full: cfg.full_capture,
            max_resp: cfg.max_resp_bytes.max(1),
            max_arg: cfg.max_arg_bytes.max(1),
            levels: Vec::new(),
            top: Top::None,
            top_count: 0,
            error: false,
            bulk_bytes: 0,
            render: String::new(),
            truncated: false,
            snaps: Default::default(),
            blob: None,
        }
    }

    pub(crate) fn reset(&mut self) {
        self.levels.clear();
        self.top = Top::None;
        self.top_count = 0;
        self.error = false;
        self.bulk_bytes = 0;
        self.render.clear();
        self.truncated = false;
        for s in &mut self.snaps {
            s.kind = SnapKind::None;
            s.text.clear();
        }
        self.blob = None;
    }

    fn put(&mut self, s: &str) {
        if self.render.len() + s.len() > self.max_resp {
            self.truncated = true;
            return;
        }
        self.render.push_str(s);
    }

    fn put_escaped(&mut self, bytes: &[u8]) {
        if escape_into(&mut self.render, bytes, self.max_resp) < bytes.len() {
            self.truncated = true;
        }
    }

    /// Bookkeeping at the start of every value: returns its depth and index in its parent,
    /// and writes the separator of the full rendering.
    fn value_start(&mut self) -> (usize, u64) {
        let depth = self.levels.len();
        let Some(parent) = self.levels.last_mut() else {
            return (0, 0);
        };
        let idx = parent.n;
        parent.n += 1;
        let sep = if idx == 0 {
            ""
        } else if parent.map && idx % 2 == 1 {
            ":"
        } else {
            ","
        };
        if self.full {
            self.put(sep);
        }
        (depth, idx)
    }

    fn snap(&mut self, depth: usize, idx: u64) -> Option<&mut Snap> {
        if depth != 1 {
            return None;
        }
        self.snaps.get_mut(usize::try_from(idx).ok()?)
    }

    pub(crate) fn begin_agg(&mut self, agg: Agg, _len: Option<u64>) -> Result<(), RedisParseError> {
        let (depth, idx) = self.value_start();
        if depth == 0 {
            self.top = Top::Agg(agg);
        }
        if let Some(s) = self.snap(depth, idx) {
            s.kind = SnapKind::Other;
        }
        if self.full {
            self.put(if agg == Agg::Map { "{" } else { "[" });
        }
        self.levels.push(RLevel {
            map: agg == Agg::Map,
            n: 0,
        });
        Ok(())
    }

    pub(crate) fn end_agg(&mut self) {
        let Some(level) = self.levels.pop() else {
            return;
        };
        if self.full {
            self.put(if level.map { "}" } else { "]" });
        }
        if self.levels.is_empty() {
            self.top_count = if level.map { level.n / 2 } else { level.n };
        }
    }

    pub(crate) fn scalar(&mut self, s: Scalar<'_>) -> Result<(), RedisParseError> {
        let (depth, idx) = self.value_start();
        let max_arg = self.max_arg;
        if let Some(snap) = self.snap(depth, idx) {
            snap.kind = match s {
                Scalar::Simple(_) => SnapKind::Str,
                Scalar::Int(_) => SnapKind::Int,
                Scalar::Null => SnapKind::Null,
                _ => SnapKind::Other,
            };
            if let Scalar::Simple(t) | Scalar::Int(t) = s {
                snap.text.extend(t.iter().take(max_arg + 1));
            }
        }
        if depth == 0 {
            self.top = Top::Scalar;
            match s {
                Scalar::Simple(t) => self.put_escaped(t),
                Scalar::Error(t) => {
                    self.error = true;
                    self.put_escaped(t);
                }
                Scalar::Int(t) | Scalar::BigNum(t) | Scalar::Double(t) => self.put_escaped(t),
                Scalar::Bool(b) => self.put(if b { "true" } else { "false" }),
                Scalar::Null => self.put("<NULL>"),
            }
        } else if self.full {
            match s {
                Scalar::Simple(t) | Scalar::Error(t) => {
                    self.put("\"");
                    self.put_escaped(t);
                    self.put("\"");
                }
                Scalar::Int(t) | Scalar::BigNum(t) | Scalar::Double(t) => self.put_escaped(t),
                Scalar::Bool(b) => self.put(if b { "true" } else { "false" }),
                Scalar::Null => self.put("null"),
            }
        }
        Ok(())
    }

    pub(crate) fn begin_blob(
        &mut self,
        blob: Blob,
        len: Option<u64>,
    ) -> Result<(), RedisParseError> {
        let (depth, idx) = self.value_start();
        if let Some(n) = len
            && blob != Blob::Error
        {
            self.bulk_bytes = self.bulk_bytes.saturating_add(n);
        }
        if let Some(s) = self.snap(depth, idx) {
            s.kind = SnapKind::Str;
        }
        if depth == 0 {
            self.top = Top::Blob;
            if blob == Blob::Error {
                self.error = true;
            } else if !self.full {
                self.put(if len == Some(0) { "\"\"" } else { "<redacted>" });
            }
        } else if self.full {
            self.put("\"");
        }
        self.blob = Some(BlobCtx {
            blob,
            depth,
            idx,
            pos: 0,
            streamed: len.is_none(),
        });
        Ok(())
    }

    pub(crate) fn blob_data(&mut self, data: &[u8]) {
        let Some(mut ctx) = self.blob else {
            return;
        };
        if ctx.streamed && ctx.blob != Blob::Error {
            self.bulk_bytes = self.bulk_bytes.saturating_add(data.len() as u64);
        }
        let mut data = data;
        let seen = ctx.pos;
        ctx.pos = ctx.pos.saturating_add(data.len() as u64);
        if ctx.blob == Blob::Verbatim && seen < 4 {
            let skip = usize::try_from(4 - seen).unwrap_or(4).min(data.len());
            data = data.get(skip..).unwrap_or_default();
        }
        self.blob = Some(ctx);
        let max_arg = self.max_arg;
        if let Some(s) = self.snap(ctx.depth, ctx.idx) {
            let room = (max_arg + 1).saturating_sub(s.text.len());
            s.text.extend(data.iter().take(room));
        }
        if self.truncated {
            return;
        }
        let shown = if ctx.depth == 0 {
            self.full || ctx.blob == Blob::Error
        } else {
            self.full
        };
        if shown {
            self.put_escaped(data);
        }
    }

    pub(crate) fn end_blob(&mut self) {
        if let Some(ctx) = self.blob.take()
            && ctx.depth > 0
            && self.full
        {
            self.put("\"");
        }
    }

    /// Appends `text` (a channel or pattern) quoted and bounded by `max_arg_bytes`.
    fn put_quoted_snap(&mut self, idx: usize) {
        let (kind, text) = match self.snaps.get(idx) {
            Some(s) => (s.kind, s.text.clone()),
            None => return,
        };
        match kind {
            SnapKind::Str => {
                let cut = text.len() > self.max_arg;
                self.put("\"");
                self.put_escaped(text.get(..self.max_arg).unwrap_or(&text));
                if cut {
                    self.put("...");
                }
                self.put("\"");
            }
            SnapKind::Int => self.put_escaped(&text),
            _ => self.put("null"),
        }
    }

    /// The frame is complete.
    pub(crate) fn finish(&mut self, ts_start: u64, ts_end: u64) -> Response {
        let pubsub = match (self.top, self.snaps.first()) {
            (Top::Agg(Agg::Array | Agg::Push), Some(first)) if first.kind == SnapKind::Str => {
                command::pubsub_kind(&first.text)
                    .filter(|&(_, need)| need == self.top_count)
                    .map(|(k, _)| k)
            }
            _ => None,
        };
        let sub_count = match (pubsub, self.snaps.get(2)) {
            (Some(PubSubKind::Subscription), Some(s)) if s.kind == SnapKind::Int => {
                std::str::from_utf8(&s.text)
                    .ok()
                    .and_then(|t| t.parse().ok())
            }
            _ => None,
        };
        if !self.full
            && let Top::Agg(agg) = self.top
        {
            self.render.clear();
            self.truncated = false;
            match pubsub {
                Some(kind) => {
                    self.put("[");
                    self.put_quoted_snap(0);
                    self.put(",");
                    self.put_quoted_snap(1);
                    self.put(",");
                    match kind {
                        PubSubKind::Message => self.put("\"<redacted>\""),
                        PubSubKind::PMessage => {
                            self.put_quoted_snap(2);
                            self.put(",\"<redacted>\"");
                        }
                        PubSubKind::Subscription => self.put_quoted_snap(2),
                    }
                    self.put("]");
                }
                None => {
                    let name = match agg {
                        Agg::Array => "array",
                        Agg::Map => "map",
                        Agg::Set => "set",
                        Agg::Push => "push",
                    };
                    let text = format!("{name}[{}]", self.top_count);
                    self.put(&text);
                }
            }
        }
        if !self.full
            && self.error
            && let Some(at) = self.render.find(ARGS_IN_ERROR)
        {
            // redis-server quotes the first arguments of an unknown command: not kept.
            self.render.truncate(at);
            self.truncated = false;
        }
        if self.truncated {
            self.render.push_str("...");
        }
        let resp = Response {
            render: std::mem::take(&mut self.render),
            error: self.error,
            bulk_bytes: self.bulk_bytes,
            push_frame: self.top == Top::Agg(Agg::Push),
            pubsub,
            sub_count,
            ts_start,
            ts_end,
        };
        self.reset();
        resp
    }
}
