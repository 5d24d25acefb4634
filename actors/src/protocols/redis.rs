//! Redis → `redis_events`.

use super::{ConnParser, Glue, Protocol, TableRows, Transport, Verdict, Wire, ns, verdict, wire};
use crate::clock::MonoToWall;
use crate::counters::ParserCounts;
use crate::table_store::ConnMeta;
use loupe_protocol_parsers::MessageKind;
use loupe_protocol_parsers::redis::{self, Inference as I, RedisConnection, RedisRecord};

pub struct Redis;

impl Protocol for Redis {
    fn name(&self) -> &'static str {
        "redis"
    }
    fn pixie_protocol(&self) -> i64 {
        7
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
        verdict(
            redis::infer(first, kind),
            [I::Request, I::Response],
            I::NeedMore,
        )
    }
    fn open(&self, cfg: &super::ParserConfig, _: Transport) -> Box<dyn ConnParser> {
        Glue::boxed(RedisConnection::new(cfg.redis.clone()))
    }
    fn rows(&self) -> TableRows {
        TableRows::Columns(super::Columns::new(self.table()))
    }
}

impl Wire for RedisConnection {
    wire!(RedisRecord);
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
    fn row(r: &RedisRecord, conn: &ConnMeta, clock: &MonoToWall, cols: &mut super::Columns) {
        cols.begin(clock.wall(r.resp_ts_end_ns.max(r.req_ts_start_ns)), conn);
        cols.str(&r.req_cmd);
        cols.str(&r.req_args);
        cols.str(&r.resp);
        cols.end(ns(r.latency_ns()));
    }
}
