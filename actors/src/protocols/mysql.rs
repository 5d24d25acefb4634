//! MySQL and MariaDB → `mysql_events`.

use super::{ConnParser, Protocol, TableRows, Transport, Verdict, columns_of, ns};
use crate::clock::MonoToWall;
use crate::counters::ParserCounts;
use crate::table_store::ConnMeta;
use loupe_protocol_parsers::MessageKind;
use loupe_protocol_parsers::mysql::{self, Inference, MysqlConnection, MysqlRecord};

pub struct Mysql;

impl Protocol for Mysql {
    fn name(&self) -> &'static str {
        "mysql"
    }
    fn table(&self) -> &'static str {
        loupe_topology::schema::MYSQL_EVENTS
    }
    fn infer(&self, first: &[u8], kind: MessageKind, _: Transport, _: bool) -> Verdict {
        match mysql::infer(first, kind) {
            Inference::Request | Inference::Response => Verdict::Yes,
            Inference::NeedMore => Verdict::NeedMore,
            _ => Verdict::No,
        }
    }
    fn open(&self, cfg: &super::ParserConfig, _: Transport) -> Box<dyn ConnParser> {
        Box::new(MysqlParser {
            conn: MysqlConnection::new(cfg.mysql.clone()),
            records: Vec::new(),
        })
    }
    fn rows(&self) -> TableRows {
        TableRows::Columns(super::Columns::new(self.table()))
    }
}

struct MysqlParser {
    conn: MysqlConnection,
    records: Vec<MysqlRecord>,
}

impl ConnParser for MysqlParser {
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
        // After the client switched to TLS, the rest is ciphertext.
        self.conn.stats().encrypted_sessions > 0
    }
    fn pending(&self) -> usize {
        self.records.len()
    }
    fn emit(&mut self, conn: &ConnMeta, clock: &MonoToWall, rows: &mut TableRows) {
        let Some(cols) = columns_of(rows) else {
            self.records.clear();
            return;
        };
        for r in self.records.drain(..) {
            cols.begin(clock.wall(r.resp_ts_end_ns.max(r.req_ts_start_ns)), conn);
            cols.int(r.req_cmd);
            cols.str(&r.req_body);
            cols.int(r.resp_status);
            cols.str(&r.resp_body);
            cols.int(ns(r.rows));
            cols.end(ns(r.latency_ns()));
        }
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
