//! PostgreSQL → `pgsql_events`.

use super::{ConnParser, Glue, Protocol, TableRows, Transport, Verdict, Wire, ns, verdict, wire};
use crate::clock::MonoToWall;
use crate::counters::ParserCounts;
use crate::table_store::ConnMeta;
use loupe_protocol_parsers::MessageKind;
use loupe_protocol_parsers::pgsql::{self, Inference as I, PgsqlConnection, PgsqlRecord};

pub struct Pgsql;

impl Protocol for Pgsql {
    fn name(&self) -> &'static str {
        "pgsql"
    }
    fn pixie_protocol(&self) -> i64 {
        5
    }

    fn table(&self) -> &'static str {
        loupe_topology::schema::PGSQL_EVENTS
    }
    fn infer(&self, first: &[u8], kind: MessageKind, _: Transport, _: bool) -> Verdict {
        verdict(
            pgsql::infer(first, kind),
            [I::Request, I::Response],
            I::NeedMore,
        )
    }
    fn open(&self, cfg: &super::ParserConfig, _: Transport) -> Box<dyn ConnParser> {
        Glue::boxed(PgsqlConnection::new(cfg.pgsql.clone()))
    }
    fn rows(&self) -> TableRows {
        TableRows::Columns(super::Columns::new(self.table()))
    }
}

impl Wire for PgsqlConnection {
    wire!(PgsqlRecord);
    fn finished(&self) -> bool {
        // After the server accepted TLS, the rest is ciphertext.
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
    fn row(r: &PgsqlRecord, conn: &ConnMeta, clock: &MonoToWall, cols: &mut super::Columns) {
        cols.begin(clock.wall(r.resp_ts_end_ns.max(r.req_ts_start_ns)), conn);
        cols.str(&r.req_cmd);
        cols.str(&r.req_body);
        cols.str(&r.resp_body);
        cols.str(&r.resp_status);
        cols.int(ns(r.rows));
        cols.end(ns(r.latency_ns()));
    }
}
