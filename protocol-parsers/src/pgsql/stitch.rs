//! Pairing of client messages with the server's answers, and the per-connection maps from
//! prepared-statement and portal names to their SQL.
//!
//! The server answers in order, so a queue of waiting client messages suffices:
//! ```text
//! Query    -> ( RowDescription DataRow* CommandComplete | CommandComplete | EmptyQueryResponse
//!             | ErrorResponse | CopyInResponse ... | CopyOutResponse CopyData* CopyDone ... )*
//!             ReadyForQuery                              one record, emitted at ReadyForQuery
//! Parse    -> ParseComplete | ErrorResponse              one record
//! Bind     -> BindComplete | ErrorResponse               one record
//! Describe -> [ParameterDescription] (RowDescription | NoData) | ErrorResponse   one record
//! Execute  -> DataRow* (CommandComplete | EmptyQueryResponse | PortalSuspended
//!             | ErrorResponse)                           one record
//! Close    -> CloseComplete | ErrorResponse              no record
//!
//! One execution is one record, as PostgreSQL counts it (`pg_stat_statements` calls): the
//! Parse, Bind and Describe before an Execute are folded into it (its `req_cmd` is Execute,
//! its time runs from the first of them to the Execute's completion). What completes
//! without an Execute before the next ReadyForQuery (a Parse that only prepares) is one
//! record of its own; so is an error, with what it ended.
//! Sync     -> ReadyForQuery                              no record
//! Flush, Terminate, CopyData/CopyDone/CopyFail, PasswordMessage -> no answer of their own
//! ```
//! After an ErrorResponse the server skips extended-protocol messages up to the next Sync: at
//! ReadyForQuery every message still waiting before that Sync is dropped
//! ([`PgsqlStats::skipped_after_error`]). NoticeResponse, ParameterStatus,
//! NotificationResponse, BackendKeyData and Authentication can come at any time and answer
//! nothing.
//!
//! Guards against mis-pairing: a lost client message is queued as a `Lost` marker that
//! absorbs answers up to the next ReadyForQuery; an answer of the wrong kind for the waiting
//! message, or a loss on the server stream, makes the stitcher skip answers up to the next
//! ReadyForQuery and drop what waited before it. ReadyForQuery closes exactly one Query,
//! FunctionCall, Sync or startup, so pairing is back in step after it.

use std::collections::{HashMap, VecDeque};

use super::frame::{CANCEL_REQUEST, Event, GSSENC_REQUEST, Msg, SSL_REQUEST};
use super::types::{PgsqlConfig, PgsqlParseError, PgsqlRecord, PgsqlStats};
use crate::normalize::normalize_sql;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Startup,
    Query,
    FunctionCall,
    Parse,
    Bind,
    Describe { statement: bool },
    Execute,
    Close,
    Sync,
    Lost,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Query => "Query",
            Kind::FunctionCall => "FunctionCall",
            Kind::Parse => "Parse",
            Kind::Bind => "Bind",
            Kind::Describe { .. } => "Describe",
            Kind::Execute => "Execute",
            Kind::Close => "Close",
            Kind::Sync => "Sync",
            Kind::Startup => "Startup",
            Kind::Lost => "Lost",
        }
    }

    /// Answered by ReadyForQuery.
    fn ends_at_ready(self) -> bool {
        matches!(
            self,
            Kind::Query | Kind::FunctionCall | Kind::Sync | Kind::Startup | Kind::Lost
        )
    }
}

#[derive(Debug)]
struct Item {
    kind: Kind,
    sql: String,
    req_ts_start: u64,
    req_ts_end: u64,
    resp_ts_start: Option<u64>,
    tags: String,
    rows: u64,
    stmt_rows: u64,
    copy_bytes: u64,
    copy_in: bool,
    error: Option<(String, String, String)>,
}

/// What the connection must do after a server message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Flow {
    Continue,
    /// The server accepted SSL or GSS encryption: stop parsing.
    Encrypted,
}

#[derive(Debug)]
pub(crate) struct Stitcher {
    pending: VecDeque<Item>,
    statements: HashMap<Vec<u8>, String>,
    portals: HashMap<Vec<u8>, String>,
    /// Answers are skipped up to the next ReadyForQuery.
    desync: bool,
    /// Encryption requests waiting for their one-byte answer.
    pub(crate) expect_single: u32,
    max_pending: usize,
    max_statements: usize,
    max_sql: usize,
    max_text: usize,
    full_capture: bool,
    scratch: String,
    /// Parse, Bind and Describe answered and not yet executed: folded into the next
    /// Execute (or the next error), else a record of their own at ReadyForQuery.
    held: Vec<(Item, u64)>,
}

/// The NUL-terminated string at the start of `b`, and what follows it. Without a NUL (a body
/// cut at its kept length) the whole rest is the string.
fn cstr(b: &[u8]) -> (&[u8], &[u8]) {
    match b.iter().position(|&c| c == 0) {
        Some(i) => (
            b.get(..i).unwrap_or_default(),
            b.get(i + 1..).unwrap_or_default(),
        ),
        None => (b, &[]),
    }
}

/// `s` cut to at most `max` bytes at a char boundary, with `...` when cut.
fn bounded(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max;
    while end > 0 && !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", s.get(..end).unwrap_or_default())
}

/// The row count of a command tag (`SELECT 3`, `INSERT 0 1`, `COPY 500`), if it has one.
fn tag_count(tag: &str) -> Option<u64> {
    let mut words = tag.split(' ');
    let verb = words.next()?;
    if !matches!(
        verb,
        "SELECT" | "INSERT" | "UPDATE" | "DELETE" | "MERGE" | "MOVE" | "FETCH" | "COPY"
    ) {
        return None;
    }
    tag.rsplit(' ').next()?.parse().ok()
}

/// Severity, SQLSTATE and message of an ErrorResponse body (`(code:u8 value\0)* \0`).
fn error_fields(body: &[u8]) -> (String, String, String) {
    let (mut sev, mut sev_v, mut code, mut msg) = (None, None, None, None);
    let mut rest = body;
    while let Some((&f, r)) = rest.split_first() {
        if f == 0 {
            break;
        }
        let (v, r) = cstr(r);
        match f {
            b'S' => sev = Some(v),
            b'V' => sev_v = Some(v),
            b'C' => code = Some(v),
            b'M' => msg = Some(v),
            _ => {}
        }
        rest = r;
    }
    let s = |v: Option<&[u8]>| String::from_utf8_lossy(v.unwrap_or_default()).into_owned();
    (s(sev_v.or(sev)), s(code), s(msg))
}

impl Stitcher {
    pub(crate) fn new(cfg: &PgsqlConfig) -> Self {
        Self {
            pending: VecDeque::new(),
            statements: HashMap::new(),
            portals: HashMap::new(),
            desync: false,
            expect_single: 0,
            max_pending: cfg.max_pending.max(1),
            max_statements: cfg.max_statements.max(1),
            max_sql: cfg.max_sql_len.max(1),
            max_text: cfg.max_text_len.max(1),
            full_capture: cfg.full_capture,
            scratch: String::new(),
            held: Vec::new(),
        }
    }

    /// The SQL of a Query or Parse as it leaves the parser: normalised unless full capture.
    fn render_sql(&mut self, raw: &[u8], cut: bool) -> String {
        let text = String::from_utf8_lossy(raw);
        let mut s = if self.full_capture {
            text.into_owned()
        } else {
            normalize_sql(&text, &mut self.scratch);
            self.scratch.clone()
        };
        if cut {
            s.push_str("...");
        }
        s
    }

    fn enqueue(&mut self, kind: Kind, sql: String, m: &Msg<'_>, stats: &mut PgsqlStats) {
        if kind == Kind::Lost && self.pending.back().is_some_and(|i| i.kind == Kind::Lost) {
            return;
        }
        let mut kind = kind;
        if self.pending.len() >= self.max_pending {
            stats.pending_overflow += self.pending.len() as u64;
            self.pending.clear();
            kind = Kind::Lost;
        }
        self.pending.push_back(Item {
            kind,
            sql,
            req_ts_start: m.ts_start,
            req_ts_end: m.ts_end,
            resp_ts_start: None,
            tags: String::new(),
            rows: 0,
            stmt_rows: 0,
            copy_bytes: 0,
            copy_in: false,
            error: None,
        });
    }

    fn remember(
        map: &mut HashMap<Vec<u8>, String>,
        max: usize,
        name: &[u8],
        sql: String,
        stats: &mut PgsqlStats,
    ) {
        // The unnamed statement or portal is always kept: it is overwritten, never added.
        if name.is_empty() || map.len() < max || map.contains_key(name) {
            map.insert(name.to_vec(), sql);
        } else {
            stats.statement_overflow += 1;
        }
    }

    fn lookup(map: &HashMap<Vec<u8>, String>, name: &[u8], stats: &mut PgsqlStats) -> String {
        match map.get(name) {
            Some(s) => s.clone(),
            None => {
                stats.unknown_statements += 1;
                String::new()
            }
        }
    }

    /// A framer event of the client stream.
    pub(crate) fn request(
        &mut self,
        ev: Event<'_>,
        stats: &mut PgsqlStats,
    ) -> Result<(), PgsqlParseError> {
        let m = match ev {
            Event::Message(m) => m,
            Event::Lost => {
                let none = Msg {
                    ty: 0,
                    body: &[],
                    len: 0,
                    ts_start: 0,
                    ts_end: 0,
                };
                self.enqueue(Kind::Lost, String::new(), &none, stats);
                return Ok(());
            }
            Event::SingleByte { .. } => return Ok(()),
        };
        stats.requests += 1;
        let cut = m.body.len() < m.len as usize;
        match m.ty {
            0 => {
                let code = m
                    .body
                    .get(..4)
                    .and_then(|b| <[u8; 4]>::try_from(b).ok())
                    .map_or(0, u32::from_be_bytes);
                match code {
                    SSL_REQUEST | GSSENC_REQUEST => {
                        stats.encryption_requests += 1;
                        self.expect_single = self.expect_single.saturating_add(1);
                    }
                    CANCEL_REQUEST => {}
                    c if c >> 16 == 3 => {
                        self.enqueue(Kind::Startup, String::new(), &m, stats);
                    }
                    c => {
                        stats.parse_errors += 1;
                        return Err(PgsqlParseError::UnknownStartupCode { code: c });
                    }
                }
            }
            b'Q' => {
                let (sql, _) = cstr(m.body);
                let sql = self.render_sql(sql, cut && m.body.len() > self.max_sql);
                self.enqueue(Kind::Query, sql, &m, stats);
            }
            b'P' => {
                let (name, rest) = cstr(m.body);
                let (sql, after) = cstr(rest);
                // Without the NUL after the SQL in the kept bytes, the statement was cut.
                let sql_cut = cut && after.is_empty() && !rest.contains(&0);
                let sql = self.render_sql(sql, sql_cut);
                Self::remember(
                    &mut self.statements,
                    self.max_statements,
                    name,
                    sql.clone(),
                    stats,
                );
                self.enqueue(Kind::Parse, sql, &m, stats);
            }
            b'B' => {
                // portal\0 statement\0 then formats and parameters, which are never read.
                let (portal, rest) = cstr(m.body);
                let (stmt, _) = cstr(rest);
                let sql = Self::lookup(&self.statements, stmt, stats);
                Self::remember(
                    &mut self.portals,
                    self.max_statements,
                    portal,
                    sql.clone(),
                    stats,
                );
                self.enqueue(Kind::Bind, sql, &m, stats);
            }
            b'D' | b'C' => {
                let (&which, rest) = m.body.split_first().unwrap_or((&0, &[]));
                let (name, _) = cstr(rest);
                let statement = which == b'S';
                if m.ty == b'C' {
                    if statement {
                        self.statements.remove(name);
                    } else {
                        self.portals.remove(name);
                    }
                    self.enqueue(Kind::Close, String::new(), &m, stats);
                } else {
                    let map = if statement {
                        &self.statements
                    } else {
                        &self.portals
                    };
                    let sql = Self::lookup(map, name, stats);
                    self.enqueue(Kind::Describe { statement }, sql, &m, stats);
                }
            }
            b'E' => {
                let (portal, _) = cstr(m.body);
                let sql = Self::lookup(&self.portals, portal, stats);
                self.enqueue(Kind::Execute, sql, &m, stats);
            }
            b'S' => self.enqueue(Kind::Sync, String::new(), &m, stats),
            b'F' => self.enqueue(Kind::FunctionCall, String::new(), &m, stats),
            b'p' => stats.auth_messages += 1,
            b'd' => {
                if let Some(front) = self.pending.front_mut().filter(|i| i.copy_in) {
                    front.copy_bytes += u64::from(m.len);
                }
            }
            // Flush, Terminate, CopyDone, CopyFail: nothing to pair.
            _ => {}
        }
        Ok(())
    }

    fn emit(&self, item: Item, resp_ts_end: u64, done: &str, out: &mut Vec<PgsqlRecord>) {
        let (status, sev, code, body) = match item.error {
            Some((sev, code, msg)) => ("ERROR", sev, code, bounded(&msg, self.max_text)),
            None => (
                "OK",
                String::new(),
                String::new(),
                bounded(
                    if item.tags.is_empty() {
                        done
                    } else {
                        &item.tags
                    },
                    self.max_text,
                ),
            ),
        };
        out.push(PgsqlRecord {
            req_cmd: item.kind.name().to_owned(),
            req_body: item.sql,
            resp_body: body,
            resp_status: status.to_owned(),
            error_severity: sev,
            error_code: code,
            rows: item.rows,
            copy_bytes: item.copy_bytes,
            req_ts_start_ns: item.req_ts_start,
            req_ts_end_ns: item.req_ts_end,
            resp_ts_start_ns: item.resp_ts_start.unwrap_or(resp_ts_end),
            resp_ts_end_ns: resp_ts_end,
        });
    }

    /// ReadyForQuery: ends the front Query/FunctionCall (emitted) or Sync, dropping the
    /// extended-protocol messages before it that got no answer.
    fn ready(&mut self, ts: u64, stats: &mut PgsqlStats, out: &mut Vec<PgsqlRecord>) {
        self.flush_held(stats, out);
        let desync = std::mem::replace(&mut self.desync, false);
        loop {
            let Some(item) = self.pending.pop_front() else {
                stats.unmatched_responses += 1;
                return;
            };
            if !item.kind.ends_at_ready() {
                if desync {
                    stats.unanswered_requests += 1;
                } else {
                    stats.skipped_after_error += 1;
                }
                continue;
            }
            match item.kind {
                Kind::Query | Kind::FunctionCall if !desync => {
                    stats.records += 1;
                    self.emit(item, ts, "", out);
                }
                Kind::Query | Kind::FunctionCall => stats.unanswered_requests += 1,
                _ => {}
            }
            return;
        }
    }

    /// A framer event of the server stream.
    pub(crate) fn response(
        &mut self,
        ev: Event<'_>,
        stats: &mut PgsqlStats,
        out: &mut Vec<PgsqlRecord>,
    ) -> Flow {
        let m = match ev {
            Event::Message(m) => m,
            Event::SingleByte { byte } => {
                stats.responses += 1;
                self.expect_single = self.expect_single.saturating_sub(1);
                if byte == b'N' {
                    return Flow::Continue;
                }
                stats.encrypted_sessions += 1;
                return Flow::Encrypted;
            }
            Event::Lost => {
                if !self.pending.is_empty() {
                    self.desync = true;
                }
                return Flow::Continue;
            }
        };
        stats.responses += 1;
        match m.ty {
            b'N' => {
                stats.notices += 1;
                return Flow::Continue;
            }
            b'R' => {
                stats.auth_messages += 1;
                return Flow::Continue;
            }
            b'S' | b'K' | b'A' | b'v' => return Flow::Continue,
            b'Z' => {
                self.ready(m.ts_end, stats, out);
                return Flow::Continue;
            }
            b'E' if self.expect_single > 0 => {
                // A server too old for the encryption request answers with an error.
                self.expect_single -= 1;
            }
            _ => {}
        }
        if self.desync {
            stats.unmatched_responses += 1;
            return Flow::Continue;
        }
        let max_text = self.max_text;
        let Some(front) = self.pending.front_mut() else {
            stats.unmatched_responses += 1;
            return Flow::Continue;
        };
        front.resp_ts_start.get_or_insert(m.ts_start);
        let mut finished: Option<&'static str> = None;
        let ok = match (front.kind, m.ty) {
            (Kind::Lost, _) => true,
            (Kind::Startup, b'E') => {
                // A FATAL at startup: the connection ends, nothing waits for ReadyForQuery.
                self.pending.pop_front();
                return Flow::Continue;
            }
            (_, b'E') => {
                front.error = Some(error_fields(m.body));
                front.copy_in = false;
                if !front.kind.ends_at_ready() {
                    finished = Some("");
                }
                true
            }
            (Kind::Query | Kind::FunctionCall | Kind::Execute, ty) => match ty {
                b'T' => true,
                b'D' => {
                    front.stmt_rows += 1;
                    true
                }
                b'C' | b'I' | b's' => {
                    let (tag, _) = cstr(m.body);
                    let tag = String::from_utf8_lossy(tag);
                    if ty == b'C' {
                        front.rows += tag_count(&tag).unwrap_or(front.stmt_rows);
                        if front.tags.len() <= max_text {
                            if !front.tags.is_empty() {
                                front.tags.push_str("; ");
                            }
                            front.tags.push_str(&tag);
                        }
                    } else {
                        front.rows += front.stmt_rows;
                    }
                    front.stmt_rows = 0;
                    front.copy_in = false;
                    if front.kind == Kind::Execute {
                        finished = Some(match ty {
                            b's' => "PORTAL SUSPENDED",
                            _ => "",
                        });
                    }
                    true
                }
                b'G' => {
                    front.copy_in = true;
                    true
                }
                b'H' | b'W' | b'c' => true,
                b'd' => {
                    front.copy_bytes += u64::from(m.len);
                    true
                }
                b'V' => front.kind == Kind::FunctionCall,
                _ => false,
            },
            (Kind::Parse, b'1') => {
                finished = Some("PARSE COMPLETE");
                true
            }
            (Kind::Bind, b'2') => {
                finished = Some("BIND COMPLETE");
                true
            }
            (Kind::Describe { statement: true }, b't') => true,
            (Kind::Describe { .. }, b'T') => {
                finished = Some("ROW DESCRIPTION");
                true
            }
            (Kind::Describe { .. }, b'n') => {
                finished = Some("NO DATA");
                true
            }
            (Kind::Close, b'3') => {
                self.pending.pop_front();
                return Flow::Continue;
            }
            _ => false,
        };
        if !ok {
            stats.unmatched_responses += 1;
            self.desync = true;
            return Flow::Continue;
        }
        if let Some(done) = finished
            && let Some(item) = self.pending.pop_front()
            && item.kind != Kind::Close
        {
            self.finish(item, m.ts_end, done, stats, out);
        }
        Flow::Continue
    }

    /// An extended-protocol message answered: held when it prepares an execution, else
    /// one record with what was held before it.
    fn finish(
        &mut self,
        mut item: Item,
        resp_ts_end: u64,
        done: &str,
        stats: &mut PgsqlStats,
        out: &mut Vec<PgsqlRecord>,
    ) {
        let prepares = matches!(item.kind, Kind::Parse | Kind::Bind | Kind::Describe { .. });
        if prepares && item.error.is_none() {
            let item_done = if item.tags.is_empty() {
                done.to_owned()
            } else {
                std::mem::take(&mut item.tags)
            };
            item.tags = item_done;
            self.held.push((item, resp_ts_end));
            return;
        }
        if let Some((first, _)) = self.held.first() {
            // The execution began with the first message that prepared it.
            item.req_ts_start = item.req_ts_start.min(first.req_ts_start);
            if item.sql.is_empty() {
                item.sql = self
                    .held
                    .iter()
                    .rev()
                    .map(|(h, _)| h.sql.clone())
                    .find(|s| !s.is_empty())
                    .unwrap_or_default();
            }
            self.held.clear();
        }
        stats.records += 1;
        self.emit(item, resp_ts_end, done, out);
    }

    /// What was prepared and never executed: one record, of the first message (a Parse
    /// that only prepares), ending when the last of them was answered.
    fn flush_held(&mut self, stats: &mut PgsqlStats, out: &mut Vec<PgsqlRecord>) {
        let mut held = std::mem::take(&mut self.held).into_iter();
        let Some((mut first, mut end)) = held.next() else {
            return;
        };
        for (h, e) in held {
            end = end.max(e);
            if first.sql.is_empty() {
                first.sql = h.sql;
            }
        }
        let done = std::mem::take(&mut first.tags);
        stats.records += 1;
        self.emit(first, end, &done, out);
    }

    /// The client stream lost a message or its framing.
    pub(crate) fn request_lost(&mut self, stats: &mut PgsqlStats) {
        let _ = self.request(Event::Lost, stats);
    }

    /// Connection closed: everything waiting is dropped and counted; maps are cleared.
    pub(crate) fn close(&mut self, stats: &mut PgsqlStats) {
        stats.unanswered_requests += self
            .pending
            .iter()
            .filter(|i| !matches!(i.kind, Kind::Lost | Kind::Startup | Kind::Sync))
            .count() as u64;
        self.pending.clear();
        self.held.clear();
        self.statements.clear();
        self.portals.clear();
        self.desync = false;
        self.expect_single = 0;
    }
}
