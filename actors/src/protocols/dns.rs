//! DNS over UDP and TCP → `dns_events`.

use super::{ConnParser, Glue, Protocol, TableRows, Transport, Verdict, Wire, ns, verdict, wire};
use crate::clock::MonoToWall;
use crate::counters::ParserCounts;
use crate::table_store::ConnMeta;
use loupe_protocol_parsers::MessageKind;
use loupe_protocol_parsers::dns::{self, DnsConnection, DnsRecord, Inference as I};

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
    fn pixie_protocol(&self) -> i64 {
        6
    }

    fn table(&self) -> &'static str {
        loupe_topology::schema::DNS_EVENTS
    }
    fn runs_over(&self, _: Transport) -> bool {
        true
    }
    fn infer(&self, first: &[u8], kind: MessageKind, t: Transport, _: bool) -> Verdict {
        verdict(
            dns::infer(first, kind, transport(t)),
            [I::Request, I::Response],
            I::NeedMore,
        )
    }
    fn open(&self, cfg: &super::ParserConfig, _: Transport) -> Box<dyn ConnParser> {
        Glue::boxed(DnsConnection::new(cfg.dns.clone()))
    }
    fn rows(&self) -> TableRows {
        TableRows::Columns(super::Columns::new(self.table()))
    }
}

impl Wire for DnsConnection {
    wire!(DnsRecord);
    fn datagram(&mut self, kind: MessageKind, ts: u64, data: &[u8], out: &mut Vec<DnsRecord>) {
        self.push_datagram(kind, ts, data, out);
    }
    fn expire(&mut self, now_ns: u64, out: &mut Vec<DnsRecord>) {
        DnsConnection::expire(self, now_ns, out);
    }
    fn counts(&self) -> ParserCounts {
        let s = self.stats();
        [
            s.records,
            s.parse_errors,
            s.messages_lost_to_gaps,
            s.timeouts,
            s.unmatched_responses,
        ]
    }
    fn row(r: &DnsRecord, conn: &ConnMeta, clock: &MonoToWall, cols: &mut super::Columns) {
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
