//! Pairing of commands with answers, and the answer grammar.
//!
//! ```text
//! connection  = greeting handshake_response [ssl_request -> encrypted, ignored]
//!               auth* (OK | ERR) command*
//! greeting    = seq 0: 0x0a version NUL conn_id:u32 auth[8] 0 caps_lo:u16 charset
//!               status:u16 caps_hi:u16 ...
//! handshake_response = seq 1: caps:u32 max_packet:u32 charset filler[23] user ...
//!               (an SSLRequest is exactly these 32 bytes with CLIENT_SSL set)
//! auth        = server 0xfe AuthSwitchRequest | 0x01 auth more data; client auth data
//!               (seq > 0, never read)
//! command     = seq 0: com:u8 args
//! answer      = OK | ERR | 0xfb LOCAL INFILE name (client data packets, empty packet) OK|ERR
//!             | result_set
//! OK          = 0x00|0xfe affected:lenenc insert_id:lenenc status:u16 warnings:u16 info
//! ERR         = 0xff code:u16 '#' state[5] message
//! EOF         = 0xfe warnings:u16 status:u16           (payload < 9 bytes)
//! result_set  = count:lenenc column_def{count} [EOF unless CLIENT_DEPRECATE_EOF]
//!               row* (EOF | OK-as-EOF with 0xfe | ERR)
//! prepare_ok  = 0x00 stmt_id:u32 columns:u16 params:u16 0 warnings:u16
//!               [param_def{params} EOF?] [column_def{columns} EOF?]
//! ```
//! An OK or terminator with SERVER_MORE_RESULTS_EXISTS (0x0008) in its status is followed by
//! another answer to the same command (multi-statement COM_QUERY, stored procedures). A
//! terminator 0xfe is told from a row by its payload length (below 0xFFFFFF), an EOF from an
//! OK-as-EOF by CLIENT_DEPRECATE_EOF from the handshake, or, when the handshake was not seen,
//! by its length (an EOF has 5 bytes, an OK at least 7).
//!
//! Commands answer in order, so pairing is a queue. COM_QUIT, COM_STMT_CLOSE and
//! COM_STMT_SEND_LONG_DATA have no answer: their record (`resp_status` 1) is emitted at once.
//! Losses: a lost command is counted and gets no record (its answer, if seen, is unmatched);
//! a lost answer payload drops every waiting command (the client waits for an answer before
//! sending the next command, so they are the ones whose answers were hit), and answers pair
//! again from the next plausible answer start.

use std::collections::{HashMap, VecDeque};

use super::frame::{Event, Hint, Payload};
use super::types::{
    MysqlConfig, MysqlParseError, MysqlRecord, MysqlStats, STATUS_ERROR, STATUS_NONE, STATUS_OK,
};
use crate::normalize::normalize_sql;

const CLIENT_PROTOCOL_41: u32 = 0x0200;
const CLIENT_SSL: u32 = 0x0800;
const CLIENT_DEPRECATE_EOF: u32 = 0x0100_0000;
const SERVER_MORE_RESULTS_EXISTS: u16 = 0x0008;
const SERVER_STATUS_CURSOR_EXISTS: u16 = 0x0040;

const COM_QUIT: u8 = 0x01;
const COM_FIELD_LIST: u8 = 0x04;
const COM_STATISTICS: u8 = 0x09;
const COM_CHANGE_USER: u8 = 0x11;
const COM_STMT_PREPARE: u8 = 0x16;
const COM_STMT_EXECUTE: u8 = 0x17;
const COM_STMT_SEND_LONG_DATA: u8 = 0x18;
const COM_STMT_CLOSE: u8 = 0x19;

/// What a push should do next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Flow {
    Continue,
    /// An SSLRequest: the rest of the connection is encrypted.
    Encrypted,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Nothing seen yet: a greeting starts the handshake, a command starts mid-connection.
    Start,
    /// Greeting seen, HandshakeResponse awaited.
    Greeted,
    /// Authentication exchange, until the server's OK or ERR.
    Auth,
    Command,
}

/// After column or parameter definitions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Next {
    Rows,
    /// Prepare OK: the column definitions follow.
    PrepColumns(u64),
    /// Prepare OK: done.
    Done,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Answer {
    /// Waiting for the first payload of an answer (or of the next result).
    Start,
    /// `left` definitions to skip.
    Defs {
        left: u64,
        next: Next,
    },
    /// After the definitions: an EOF, unless CLIENT_DEPRECATE_EOF.
    DefsEnd {
        next: Next,
    },
    Rows,
    /// COM_FIELD_LIST: column definitions up to EOF.
    FieldList,
    /// An answer too large to follow: skipped up to its terminator.
    Discard,
}

#[derive(Debug)]
struct Pending {
    cmd: u8,
    body: String,
    ts_start: u64,
    ts_end: u64,
}

/// The answer being assembled for the command at the front of the queue.
#[derive(Debug, Default)]
struct Acc {
    started: bool,
    ts_start: u64,
    ts_end: u64,
    parts: Vec<String>,
    rows: u64,
    columns: u64,
    set_rows: u64,
    error: Option<(u16, String, String)>,
    /// Statement id of a prepare OK, remembered once the answer completes.
    prepared: Option<u32>,
}

#[derive(Debug)]
pub(crate) struct Stitcher {
    max_pending: usize,
    max_statements: usize,
    max_sql: usize,
    max_text: usize,
    max_columns: u64,
    full: bool,
    phase: Phase,
    server_caps: Option<u32>,
    /// Negotiated capabilities, once the HandshakeResponse is seen.
    caps: Option<u32>,
    pending: VecDeque<Pending>,
    statements: HashMap<u32, String>,
    answer: Answer,
    acc: Acc,
    scratch: String,
    last_error: Option<MysqlParseError>,
}

/// Reads a length-encoded integer; returns it and the rest.
fn lenenc(b: &[u8]) -> Option<(u64, &[u8])> {
    let (&first, rest) = b.split_first()?;
    let n = match first {
        0..=0xfa => return Some((u64::from(first), rest)),
        0xfc => 2,
        0xfd => 3,
        0xfe => 8,
        _ => return None,
    };
    let bytes = rest.get(..n)?;
    let mut le = [0u8; 8];
    le.get_mut(..n)?.copy_from_slice(bytes);
    Some((u64::from_le_bytes(le), rest.get(n..)?))
}

fn u16le(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes([*b.get(at)?, *b.get(at + 1)?]))
}

fn u32le(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// Cuts `s` to at most `max` bytes on a char boundary, marking the cut with `...`.
fn cut(mut s: String, max: usize, truncated: bool) -> String {
    if s.len() > max {
        let mut at = max;
        while !s.is_char_boundary(at) {
            at -= 1;
        }
        s.truncate(at);
        s.push_str("...");
    } else if truncated {
        s.push_str("...");
    }
    s
}

/// Replaces MySQL string literals (`'...'` and `"..."`, with backslash and doubled-quote
/// escapes) by `?`, so that [`normalize_sql`], which knows standard SQL strings only, sees
/// no quote, and drops `#` comments (MySQL's own; `--` and `/* */` comments are
/// normalize_sql's to drop). Backquoted identifiers stay.
fn strip_mysql_strings(sql: &str, out: &mut String) {
    out.clear();
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '`' => {
                out.push(c);
                for d in chars.by_ref() {
                    // A quote inside an identifier would start a string for normalize_sql.
                    out.push(if d == '\'' || d == '"' { '?' } else { d });
                    if d == '`' {
                        break;
                    }
                }
            }
            '#' => {
                // A comment to the end of the line.
                for d in chars.by_ref() {
                    if d == '\n' {
                        out.push(' ');
                        break;
                    }
                }
            }
            '\'' | '"' => {
                while let Some(d) = chars.next() {
                    if d == '\\' {
                        chars.next();
                    } else if d == c {
                        if chars.peek() == Some(&c) {
                            chars.next();
                        } else {
                            break;
                        }
                    }
                }
                out.push('?');
            }
            _ => out.push(c),
        }
    }
}

impl Stitcher {
    pub(crate) fn new(cfg: &MysqlConfig) -> Self {
        Self {
            max_pending: cfg.max_pending.max(1),
            max_statements: cfg.max_statements.max(1),
            max_sql: cfg.max_sql_len.max(1),
            max_text: cfg.max_text_len.max(1),
            max_columns: cfg.max_columns.max(1),
            full: cfg.full_capture,
            phase: Phase::Start,
            server_caps: None,
            caps: None,
            pending: VecDeque::new(),
            statements: HashMap::new(),
            answer: Answer::Start,
            acc: Acc::default(),
            scratch: String::new(),
            last_error: None,
        }
    }

    /// How the request framer should keep payloads.
    pub(crate) fn request_hint(&self) -> Hint {
        match self.phase {
            Phase::Start | Phase::Greeted => Hint::Handshake,
            Phase::Auth | Phase::Command => Hint::Command,
        }
    }

    /// How the response framer should keep payloads.
    pub(crate) fn response_hint(&self) -> Hint {
        if matches!(self.answer, Answer::Rows | Answer::Discard) {
            Hint::Rows
        } else {
            Hint::Answer
        }
    }

    fn deprecate_eof(&self) -> Option<bool> {
        self.caps.map(|c| c & CLIENT_DEPRECATE_EOF != 0)
    }

    fn text(&mut self, raw: &[u8], sql: bool) -> String {
        let truncated = raw.len() > self.max_sql;
        let raw = raw.get(..self.max_sql).unwrap_or(raw);
        let raw = match raw.iter().position(|&b| b == 0) {
            Some(nul) if !sql => raw.get(..nul).unwrap_or(raw),
            // Some clients (mysqlslap) send the C string's NUL too.
            _ => {
                let end = raw.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
                raw.get(..end).unwrap_or(raw)
            }
        };
        let s = String::from_utf8_lossy(raw);
        if !sql || self.full {
            return cut(s.into_owned(), self.max_sql, truncated);
        }
        strip_mysql_strings(&s, &mut self.scratch);
        let mut out = String::new();
        normalize_sql(&self.scratch, &mut out);
        cut(out, self.max_sql, truncated)
    }

    fn statement_sql(&mut self, body: &[u8], stats: &mut MysqlStats) -> String {
        match u32le(body, 1).and_then(|id| self.statements.get(&id)) {
            Some(sql) => sql.clone(),
            None => {
                stats.unknown_statements += 1;
                String::new()
            }
        }
    }

    /// A client payload.
    pub(crate) fn request(
        &mut self,
        ev: Event<'_>,
        stats: &mut MysqlStats,
        out: &mut Vec<MysqlRecord>,
    ) -> Flow {
        let p = match ev {
            Event::Payload(p) => p,
            Event::Lost => return Flow::Continue,
        };
        stats.requests += 1;
        if p.seq != 0 {
            match self.phase {
                Phase::Start | Phase::Greeted => return self.handshake_response(&p, stats),
                Phase::Auth => stats.auth_messages += 1,
                Phase::Command => {
                    if self
                        .pending
                        .front()
                        .is_some_and(|f| f.cmd == COM_CHANGE_USER)
                    {
                        stats.auth_messages += 1;
                    } else {
                        stats.local_infile_packets += 1;
                    }
                }
            }
            return Flow::Continue;
        }
        self.phase = Phase::Command;
        let Some(&cmd) = p.body.first() else {
            stats.parse_errors += 1;
            self.last_error = Some(MysqlParseError::EmptyCommand);
            return Flow::Continue;
        };
        let args = p.body.get(1..).unwrap_or_default();
        let body = match cmd {
            0x03 | COM_STMT_PREPARE => self.text(args, true),
            0x02 | COM_FIELD_LIST | 0x05 | 0x06 => self.text(args, false),
            COM_STMT_EXECUTE..=0x1a | 0x1c | 0xfa => self.statement_sql(p.body, stats),
            _ => String::new(),
        };
        if cmd == COM_STMT_CLOSE
            && let Some(id) = u32le(p.body, 1)
        {
            self.statements.remove(&id);
        }
        if matches!(cmd, COM_QUIT | COM_STMT_CLOSE | COM_STMT_SEND_LONG_DATA) {
            stats.records += 1;
            out.push(MysqlRecord {
                req_cmd: i64::from(cmd),
                req_body: body,
                resp_status: STATUS_NONE,
                req_ts_start_ns: p.ts_start,
                req_ts_end_ns: p.ts_end,
                resp_ts_start_ns: p.ts_end,
                resp_ts_end_ns: p.ts_end,
                ..MysqlRecord::default()
            });
            return Flow::Continue;
        }
        if self.pending.len() >= self.max_pending {
            stats.pending_overflow += self.pending.len() as u64;
            self.pending.clear();
            self.reset_answer();
        }
        self.pending.push_back(Pending {
            cmd,
            body,
            ts_start: p.ts_start,
            ts_end: p.ts_end,
        });
        Flow::Continue
    }

    fn handshake_response(&mut self, p: &Payload<'_>, stats: &mut MysqlStats) -> Flow {
        stats.auth_messages += 1;
        let caps = match u32le(p.body, 0) {
            Some(c) if c & CLIENT_PROTOCOL_41 != 0 => c,
            // HandshakeResponse320: 16-bit flags.
            _ => u32::from(u16le(p.body, 0).unwrap_or(0)),
        };
        if caps & CLIENT_SSL != 0 && p.len == 32 {
            stats.encrypted_sessions += 1;
            return Flow::Encrypted;
        }
        self.caps = Some(self.server_caps.map_or(caps, |s| s & caps));
        self.phase = Phase::Auth;
        Flow::Continue
    }

    fn greeting(&mut self, body: &[u8], stats: &mut MysqlStats) {
        stats.handshakes += 1;
        self.phase = Phase::Greeted;
        // 0x0a version NUL conn_id:u32 auth[8] filler caps_lo:u16 charset status caps_hi:u16
        let after = body
            .iter()
            .skip(1)
            .position(|&b| b == 0)
            .map(|n| n + 2 + 4 + 8 + 1);
        self.server_caps = after.and_then(|at| {
            let lo = u16le(body, at)?;
            let hi = u16le(body, at + 5).unwrap_or(0);
            Some(u32::from(lo) | u32::from(hi) << 16)
        });
    }

    fn reset_answer(&mut self) {
        self.answer = Answer::Start;
        self.acc = Acc::default();
    }

    /// A server payload, or a loss on the server stream.
    pub(crate) fn response(
        &mut self,
        ev: Event<'_>,
        stats: &mut MysqlStats,
        out: &mut Vec<MysqlRecord>,
    ) {
        let p = match ev {
            Event::Payload(p) => p,
            Event::Lost => {
                stats.unanswered_requests += self.pending.len() as u64;
                self.pending.clear();
                self.reset_answer();
                return;
            }
        };
        stats.responses += 1;
        let first = p.body.first().copied();
        match self.phase {
            Phase::Start if p.seq == 0 && first == Some(0x0a) => {
                self.greeting(p.body, stats);
                return;
            }
            Phase::Start if p.seq == 0 && first == Some(0xff) => {
                // The server refused the connection before any handshake.
                stats.auth_failures += 1;
                return;
            }
            Phase::Greeted | Phase::Auth => {
                match first {
                    Some(0x00) => self.phase = Phase::Command,
                    Some(0xff) => {
                        stats.auth_failures += 1;
                        self.phase = Phase::Command;
                    }
                    _ => stats.auth_messages += 1,
                }
                return;
            }
            _ => {}
        }
        self.phase = Phase::Command;
        let Some(front) = self.pending.front() else {
            stats.unmatched_responses += 1;
            return;
        };
        let cmd = front.cmd;
        if !self.acc.started {
            self.acc.started = true;
            self.acc.ts_start = p.ts_start;
        }
        self.acc.ts_end = p.ts_end;
        if self.answer_payload(cmd, &p, stats) {
            self.finish(stats, out);
        }
    }

    /// Moves the answer grammar on by one payload; true when the answer is complete.
    fn answer_payload(&mut self, cmd: u8, p: &Payload<'_>, stats: &mut MysqlStats) -> bool {
        let b = p.body;
        let first = b.first().copied().unwrap_or(0);
        let is_eof = first == 0xfe && p.len < 9;
        loop {
            match self.answer {
                Answer::Start => {
                    if cmd == COM_CHANGE_USER && matches!(first, 0xfe | 0x01) {
                        stats.auth_messages += 1;
                        return false;
                    }
                    return match first {
                        _ if cmd == COM_STATISTICS => {
                            self.acc.parts.push("statistics".into());
                            true
                        }
                        0xff => {
                            self.error(b);
                            true
                        }
                        0x00 if cmd == COM_STMT_PREPARE && p.len >= 12 => self.prepare_ok(b),
                        0x00 | 0xfe => {
                            let more = self.ok(b, p.len);
                            !more
                        }
                        0xfb => {
                            self.acc.parts.push("LOCAL INFILE".into());
                            false
                        }
                        _ if cmd == COM_FIELD_LIST => {
                            self.answer = Answer::FieldList;
                            continue;
                        }
                        _ => match lenenc(b) {
                            Some((n, _)) if n <= self.max_columns && n > 0 => {
                                self.acc.columns = n;
                                self.acc.set_rows = 0;
                                self.answer = Answer::Defs {
                                    left: n,
                                    next: Next::Rows,
                                };
                                false
                            }
                            other => {
                                let count = other.map_or(0, |(n, _)| n);
                                stats.parse_errors += 1;
                                self.last_error = Some(MysqlParseError::BadColumnCount { count });
                                self.acc
                                    .parts
                                    .push(format!("{count} columns: not followed"));
                                self.answer = Answer::Discard;
                                false
                            }
                        },
                    };
                }
                Answer::Defs { left, next } => {
                    if first == 0xff && p.len < u64::from(super::frame::MAX_PACKET) && left > 0 {
                        self.error(b);
                        return true;
                    }
                    let left = left.saturating_sub(1);
                    self.answer = Answer::Defs { left, next };
                    if left == 0 {
                        self.answer = Answer::DefsEnd { next };
                        if self.deprecate_eof() == Some(true) {
                            return self.after_defs(next);
                        }
                    }
                    return false;
                }
                Answer::DefsEnd { next } => {
                    let eof = is_eof
                        && match self.deprecate_eof() {
                            Some(d) => !d,
                            None => p.len <= 5,
                        };
                    if eof {
                        let status = u16le(b, 3).unwrap_or(0);
                        if next == Next::Rows && status & SERVER_STATUS_CURSOR_EXISTS != 0 {
                            // COM_STMT_EXECUTE opened a cursor: rows come with COM_STMT_FETCH.
                            self.result_set_done();
                            return status & SERVER_MORE_RESULTS_EXISTS == 0;
                        }
                        return self.after_defs(next);
                    }
                    // No EOF (capabilities unknown): this payload belongs to what follows.
                    if self.after_defs(next) {
                        // A prepare answer already complete: the payload is not ours.
                        return true;
                    }
                    continue;
                }
                Answer::Rows => {
                    if first == 0xfe && p.len < u64::from(super::frame::MAX_PACKET) {
                        let status = if self.deprecate_eof() == Some(true) || p.len > 5 {
                            self.ok_status(b)
                        } else {
                            u16le(b, 3).unwrap_or(0)
                        };
                        self.result_set_done();
                        if status & SERVER_MORE_RESULTS_EXISTS != 0 {
                            self.answer = Answer::Start;
                            return false;
                        }
                        return true;
                    }
                    if first == 0xff && p.len < u64::from(super::frame::MAX_PACKET) {
                        self.result_set_done();
                        self.error(b);
                        return true;
                    }
                    self.acc.set_rows += 1;
                    return false;
                }
                Answer::FieldList => {
                    if is_eof {
                        let n = self.acc.columns;
                        self.acc.parts.push(format!("{n} columns"));
                        return true;
                    }
                    if first == 0xff {
                        self.error(b);
                        return true;
                    }
                    self.acc.columns += 1;
                    return false;
                }
                Answer::Discard => {
                    if first == 0xff {
                        self.error(b);
                        return true;
                    }
                    if first == 0xfe && p.len < 9 {
                        let status = if p.len > 5 {
                            self.ok_status(b)
                        } else {
                            u16le(b, 3).unwrap_or(0)
                        };
                        return status & SERVER_MORE_RESULTS_EXISTS == 0;
                    }
                    return false;
                }
            }
        }
    }

    /// After definitions (and their EOF): true when the answer is complete.
    fn after_defs(&mut self, next: Next) -> bool {
        match next {
            Next::Rows => {
                self.answer = Answer::Rows;
                false
            }
            Next::PrepColumns(n) => {
                self.answer = Answer::Defs {
                    left: n,
                    next: Next::Done,
                };
                false
            }
            Next::Done => true,
        }
    }

    fn result_set_done(&mut self) {
        let (c, r) = (self.acc.columns, self.acc.set_rows);
        let cs = if c == 1 { "" } else { "s" };
        let rs = if r == 1 { "" } else { "s" };
        self.acc.parts.push(format!("{c} column{cs}, {r} row{rs}"));
        self.acc.rows += r;
        self.answer = Answer::Start;
    }

    /// Status flags of an OK (or OK-as-EOF) payload.
    fn ok_status(&self, b: &[u8]) -> u16 {
        let rest = b.get(1..).unwrap_or_default();
        lenenc(rest)
            .and_then(|(_, r)| lenenc(r))
            .and_then(|(_, r)| u16le(r, 0))
            .unwrap_or(0)
    }

    /// An OK (or a bare EOF); returns whether more results follow.
    fn ok(&mut self, b: &[u8], len: u64) -> bool {
        if b.first() == Some(&0xfe) && len <= 5 {
            self.acc.parts.push("EOF".into());
            return u16le(b, 3).unwrap_or(0) & SERVER_MORE_RESULTS_EXISTS != 0;
        }
        let rest = b.get(1..).unwrap_or_default();
        let (affected, rest) = lenenc(rest).unwrap_or((0, &[]));
        let (insert_id, rest) = lenenc(rest).unwrap_or((0, &[]));
        let status = u16le(rest, 0).unwrap_or(0);
        let warnings = u16le(rest, 2).unwrap_or(0);
        let mut s = format!("OK affected={affected}");
        if insert_id != 0 {
            s.push_str(&format!(" insert_id={insert_id}"));
        }
        if warnings != 0 {
            s.push_str(&format!(" warnings={warnings}"));
        }
        self.acc.parts.push(s);
        self.acc.rows += affected;
        status & SERVER_MORE_RESULTS_EXISTS != 0
    }

    /// A prepare OK; returns whether the answer is complete.
    fn prepare_ok(&mut self, b: &[u8]) -> bool {
        let id = u32le(b, 1).unwrap_or(0);
        let cols = u64::from(u16le(b, 5).unwrap_or(0));
        let params = u64::from(u16le(b, 7).unwrap_or(0));
        self.acc.prepared = Some(id);
        self.acc
            .parts
            .push(format!("statement {id}: {params} params, {cols} columns"));
        if params > 0 {
            let next = if cols > 0 {
                Next::PrepColumns(cols)
            } else {
                Next::Done
            };
            self.answer = Answer::Defs { left: params, next };
            false
        } else if cols > 0 {
            self.answer = Answer::Defs {
                left: cols,
                next: Next::Done,
            };
            false
        } else {
            true
        }
    }

    fn error(&mut self, b: &[u8]) {
        let code = u16le(b, 1).unwrap_or(0);
        let (state, msg) = match b.get(3) {
            Some(b'#') => (
                b.get(4..9).unwrap_or_default(),
                b.get(9..).unwrap_or_default(),
            ),
            _ => (&b""[..], b.get(3..).unwrap_or_default()),
        };
        let state = String::from_utf8_lossy(state).into_owned();
        let msg = String::from_utf8_lossy(msg).into_owned();
        let text = if state.is_empty() {
            format!("{code}: {msg}")
        } else {
            format!("{code} ({state}): {msg}")
        };
        self.acc.error = Some((code, state, text));
    }

    fn finish(&mut self, stats: &mut MysqlStats, out: &mut Vec<MysqlRecord>) {
        let acc = std::mem::take(&mut self.acc);
        self.answer = Answer::Start;
        let Some(req) = self.pending.pop_front() else {
            return;
        };
        let (status, code, state, body) = match acc.error {
            Some((code, state, text)) => {
                let mut parts = acc.parts;
                parts.push(text);
                (STATUS_ERROR, code, state, parts.join("; "))
            }
            None => (STATUS_OK, 0, String::new(), acc.parts.join("; ")),
        };
        if status == STATUS_OK
            && let Some(id) = acc.prepared
        {
            if self.statements.len() < self.max_statements || self.statements.contains_key(&id) {
                self.statements.insert(id, req.body.clone());
            } else {
                stats.statement_overflow += 1;
            }
        }
        stats.records += 1;
        out.push(MysqlRecord {
            req_cmd: i64::from(req.cmd),
            req_body: req.body,
            resp_status: status,
            resp_body: cut(body, self.max_text, false),
            rows: acc.rows,
            error_code: code,
            sql_state: state,
            req_ts_start_ns: req.ts_start,
            req_ts_end_ns: req.ts_end,
            resp_ts_start_ns: acc.ts_start,
            resp_ts_end_ns: acc.ts_end,
        });
    }

    /// Connection closed: waiting commands are counted, the state starts afresh.
    pub(crate) fn close(&mut self, stats: &mut MysqlStats) {
        stats.unanswered_requests += self.pending.len() as u64;
        self.pending.clear();
        self.reset_answer();
        self.phase = Phase::Start;
        self.caps = None;
        self.server_caps = None;
        self.statements.clear();
    }
}

/// For tests: the statement map size.
#[cfg(test)]
impl Stitcher {
    pub(crate) fn statements(&self) -> usize {
        self.statements.len()
    }

    pub(crate) fn last_error(&self) -> Option<MysqlParseError> {
        self.last_error
    }
}

#[cfg(test)]
pub(crate) fn normalize_for_test(cfg: &MysqlConfig, sql: &str) -> String {
    Stitcher::new(cfg).text(sql.as_bytes(), true)
}
