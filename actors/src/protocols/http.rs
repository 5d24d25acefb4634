//! HTTP/1.x → `http_events`.

use super::{ConnParser, Protocol, TableRows, Transport, Verdict};
use crate::clock::MonoToWall;
use crate::counters::ParserCounts;
use crate::table_store::{ConnMeta, HttpBatchBuilder};
use loupe_protocol_parsers::MessageKind;
use loupe_protocol_parsers::http::{self, HttpConnection, HttpRecord, Inference};

pub struct Http;

/// What an operator keeps of `http_events` beyond the default redaction
/// (the agent's config file; nothing on the wire can set it).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HttpKeep {
    /// Query-string values as sent.
    pub query_values: bool,
    /// Every header's value, secret-looking names included.
    pub all_headers: bool,
    /// Headers (lower case) whose values are kept although their names
    /// look secret.
    pub headers: Vec<String>,
}

impl HttpKeep {
    /// Masks what is not kept, in place.
    fn redact(&self, record: &mut HttpRecord, scratch: &mut String) {
        for h in [&mut record.req.headers, &mut record.resp.headers] {
            if self.all_headers {
                continue;
            }
            if self.headers.is_empty() {
                http::redact_headers(h);
                continue;
            }
            for (name, value) in h.iter_mut() {
                if http::is_secret_header(name)
                    && !self.headers.iter().any(|k| name.eq_ignore_ascii_case(k))
                {
                    value.clear();
                    value.push_str(http::REDACTED);
                }
            }
        }
        if !self.query_values {
            http::redact_query(&mut record.req.path, scratch);
        }
    }
}

impl Protocol for Http {
    fn name(&self) -> &'static str {
        "http"
    }
    fn pixie_protocol(&self) -> i64 {
        1
    }

    fn table(&self) -> &'static str {
        loupe_topology::schema::HTTP_EVENTS
    }
    fn infer(&self, first: &[u8], kind: MessageKind, _: Transport, _: bool) -> Verdict {
        match (http::infer(first), kind) {
            (Inference::Request, MessageKind::Request)
            | (Inference::Response, MessageKind::Response) => Verdict::Yes,
            (Inference::NeedMore, _) => Verdict::NeedMore,
            _ => Verdict::No,
        }
    }
    fn open(&self, cfg: &super::ParserConfig, _: Transport) -> Box<dyn ConnParser> {
        Box::new(HttpParser {
            conn: HttpConnection::new(cfg.http.clone()),
            records: Vec::new(),
            keep: cfg.http_keep.clone(),
        })
    }
    fn rows(&self) -> TableRows {
        TableRows::Http(Box::default())
    }
}

struct HttpParser {
    conn: HttpConnection,
    records: Vec<HttpRecord>,
    keep: HttpKeep,
}

impl ConnParser for HttpParser {
    fn push(&mut self, kind: MessageKind, ts_ns: u64, data: &[u8]) {
        self.conn.push(kind, ts_ns, data, &mut self.records);
    }
    fn gap(&mut self, kind: MessageKind, ts_ns: u64, len: u64) {
        self.conn.push_gap(kind, ts_ns, len, &mut self.records);
    }
    fn close(&mut self, ts_ns: u64) {
        self.conn.close(ts_ns, &mut self.records);
    }
    fn finished(&self) -> bool {
        self.conn.is_upgraded()
    }
    fn pending(&self) -> usize {
        self.records.len()
    }
    fn emit(&mut self, conn: &ConnMeta, clock: &MonoToWall, rows: &mut TableRows) {
        let TableRows::Http(builder) = rows else {
            debug_assert!(false, "http_events uses the HTTP builder");
            self.records.clear();
            return;
        };
        emit(
            &mut self.conn,
            &mut self.records,
            &self.keep,
            conn,
            clock,
            builder,
        );
    }
    fn counts(&self) -> ParserCounts {
        let s = self.conn.stats();
        [
            s.records,
            s.parse_errors,
            s.messages_lost_to_gaps,
            s.unanswered_requests,
            s.unmatched_responses,
        ]
    }
}

fn emit(
    parser: &mut HttpConnection,
    records: &mut Vec<HttpRecord>,
    keep: &HttpKeep,
    conn: &ConnMeta,
    clock: &MonoToWall,
    builder: &mut HttpBatchBuilder,
) {
    thread_local! {
        static SCRATCH: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
    }
    for mut record in records.drain(..) {
        SCRATCH.with(|s| keep.redact(&mut record, &mut s.borrow_mut()));
        let time_ns = clock.wall(record.resp.ts_end_ns.max(record.req.ts_start_ns));
        builder.append_record(conn, time_ns, &record);
        // Its strings' capacity serves the connection's next messages.
        parser.recycle(record);
    }
}
