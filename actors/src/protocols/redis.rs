//! Redis → `redis_events`.

use super::{ConnParser, Protocol, TableRows, Transport, Verdict, columns_of, ns};
use crate::clock::MonoToWall;
use crate::counters::ParserCounts;
use crate::table_store::ConnMeta;
use loupe_protocol_parsers::MessageKind;
use loupe_protocol_parsers::redis::{self, Inference, RedisConnection, RedisRecord};

pub struct Redis;

impl Protocol for Redis {
    fn name(&self) -> &'static str {
        "redis"
    }
    fn table(&self) -> &'static str {
        loupe_topology::schema::REDIS_EVENTS
    }
    fn infer(&self, first: &[u8], kind: MessageKind, _: Transport, retry: bool) -> Verdict {
        // An inline command (`PING`) is one bare word: enough at the start of
        // a connection, not after bytes of some other protocol (NATS sends
        // `PING` too).
        if retry && kind == MessageKind::Request && first.first().is_some_and(|&b| b != b'*') {
            return Verdict::No;
        }
        match redis::infer(first, kind) {
            Inference::Request | Inference::Response => Verdict::Yes,
            Inference::NeedMore => Verdict::NeedMore,
            Inference::NotRedis => Verdict::No,
        }
    }
    fn open(&self, cfg: &super::ParserConfig, _: Transport) -> Box<dyn ConnParser> {
        Box::new(RedisParser {
            conn: RedisConnection::new(cfg.redis.clone()),
            records: Vec::new(),
        })
    }
    fn rows(&self) -> TableRows {
        TableRows::Columns(super::Columns::new(self.table()))
    }
}

struct RedisParser {
    conn: RedisConnection,
    records: Vec<RedisRecord>,
}

impl ConnParser for RedisParser {
    fn push(&mut self, kind: MessageKind, ts_ns: u64, data: &[u8]) {
        self.conn.push(kind, ts_ns, data, &mut self.records);
    }
    fn gap(&mut self, kind: MessageKind, ts_ns: u64, len: u64) {
        self.conn.push_gap(kind, ts_ns, len, &mut self.records);
    }
    fn close(&mut self, ts_ns: u64) {
        self.conn.close(ts_ns, &mut self.records);
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
            cols.str(&r.req_cmd);
            cols.str(&r.req_args);
            cols.str(&r.resp);
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
