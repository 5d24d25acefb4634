//! MySQL and MariaDB → `mysql_events`.

use super::{ConnParser, Glue, Protocol, TableRows, Transport, Verdict, Wire, ns, verdict, wire};
use crate::clock::MonoToWall;
use crate::counters::ParserCounts;
use crate::table_store::ConnMeta;
use loupe_protocol_parsers::MessageKind;
use loupe_protocol_parsers::mysql::{self, Inference as I, MysqlConnection, MysqlRecord};

pub struct Mysql;

impl Protocol for Mysql {
    fn name(&self) -> &'static str {
        "mysql"
    }
    fn pixie_protocol(&self) -> i64 {
        3
    }

    fn table(&self) -> &'static str {
        loupe_topology::schema::MYSQL_EVENTS
    }
    fn infer(&self, first: &[u8], kind: MessageKind, _: Transport, _: bool) -> Verdict {
        verdict(
            mysql::infer(first, kind),
            [I::Request, I::Response],
            I::NeedMore,
        )
    }
    fn open(&self, cfg: &super::ParserConfig, _: Transport) -> Box<dyn ConnParser> {
        Glue::boxed(MysqlConnection::new(cfg.mysql.clone()))
    }
    fn rows(&self) -> TableRows {
        TableRows::Columns(super::Columns::new(self.table()))
    }
}

impl Wire for MysqlConnection {
    wire!(MysqlRecord);
    fn finished(&self) -> bool {
        // After the client switched to TLS, the rest is ciphertext.
        self.stats().encrypted_sessions > 0
    }
    fn counts(&self) -> ParserCounts {
        let s = self.stats();
        [
            s.records,
            s.parse_errors,
            s.messages_lost_to_gaps,
            s.unanswered_requests,
            s.unmatched_responses,
        ]
    }
    fn row(r: &MysqlRecord, conn: &ConnMeta, clock: &MonoToWall, cols: &mut super::Columns) {
        cols.begin(clock.wall(r.resp_ts_end_ns.max(r.req_ts_start_ns)), conn);
        cols.int(r.req_cmd);
        cols.str(&r.req_body);
        cols.int(r.resp_status);
        cols.str(&r.resp_body);
        cols.int(ns(r.rows));
        cols.end(ns(r.latency_ns()));
    }
}
