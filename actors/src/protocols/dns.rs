//! DNS over UDP and TCP → `dns_events`.

use super::{ConnParser, Protocol, TableRows, Transport, Verdict, columns_of, ns};
use crate::clock::MonoToWall;
use crate::counters::ParserCounts;
use crate::table_store::ConnMeta;
use loupe_protocol_parsers::MessageKind;
use loupe_protocol_parsers::dns::{self, DnsConnection, DnsRecord, Inference};

pub struct Dns;

fn transport(t: Transport) -> dns::Transport {
    match t {
        Transport::Tcp => dns::Transport::Tcp,
        Transport::Udp => dns::Transport::Udp,
    }
}

impl Protocol for Dns {
    fn name(&self) -> &'static str {
        "dns"
    }
    fn table(&self) -> &'static str {
        loupe_topology::schema::DNS_EVENTS
    }
    fn runs_over(&self, _: Transport) -> bool {
        true
    }
    fn infer(&self, first: &[u8], kind: MessageKind, t: Transport, _: bool) -> Verdict {
        match dns::infer(first, kind, transport(t)) {
            Inference::Request | Inference::Response => Verdict::Yes,
            Inference::NeedMore => Verdict::NeedMore,
            _ => Verdict::No,
        }
    }
    fn open(&self, cfg: &super::ParserConfig, _: Transport) -> Box<dyn ConnParser> {
        Box::new(DnsParser {
            conn: DnsConnection::new(cfg.dns.clone()),
            records: Vec::new(),
        })
    }
    fn rows(&self) -> TableRows {
        TableRows::Columns(super::Columns::new(self.table()))
    }
}

struct DnsParser {
    conn: DnsConnection,
    records: Vec<DnsRecord>,
}

impl ConnParser for DnsParser {
    fn push(&mut self, kind: MessageKind, ts_ns: u64, data: &[u8]) {
        self.conn.push(kind, ts_ns, data, &mut self.records);
    }
    fn datagram(&mut self, kind: MessageKind, ts_ns: u64, data: &[u8]) {
        self.conn
            .push_datagram(kind, ts_ns, data, &mut self.records);
    }
    fn gap(&mut self, kind: MessageKind, ts_ns: u64, len: u64) {
        self.conn.push_gap(kind, ts_ns, len, &mut self.records);
    }
    fn close(&mut self, ts_ns: u64) {
        self.conn.close(ts_ns, &mut self.records);
    }
    fn expire(&mut self, now_ns: u64) {
        self.conn.expire(now_ns, &mut self.records);
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
            // A timeout's row is stamped with its query: there is no answer.
            cols.begin(clock.wall(r.resp_ts_ns.max(r.req_ts_ns)), conn);
            cols.str(&r.req_header);
            cols.str(&r.req_body);
            cols.str(&r.resp_header);
            cols.str(&r.resp_body);
            cols.str(&r.query_name);
            cols.str(&r.query_type);
            cols.int(r.resp_code);
            cols.str(&r.answers);
            cols.str(r.transport.as_str());
            cols.bool(r.timed_out);
            cols.end(ns(r.latency_ns()));
        }
    }
    fn counts(&self) -> ParserCounts {
        let s = self.conn.stats();
        [
            s.records,
            s.parse_errors,
            s.messages_lost_to_gaps,
            s.timeouts,
            s.unmatched_responses,
        ]
    }
}
