//! Pairs queries with responses by transaction id and question.
//!
//! DNS answers need not come in order (a TCP server may answer pipelined queries out of
//! order, a UDP socket may talk to several servers), so pending queries are searched, not
//! queued: a response pairs with the **oldest** pending query that has the same id, the same
//! first question (name compared case-insensitively, type, class) and did not start after
//! the response. A response without a question section (some FORMERR/SERVFAIL answers) pairs
//! by id alone.
//!
//! Retries: a client that gets no answer resends the same query (same id, same question).
//! Both copies stay pending, as in Pixie's stitcher (which scans requests oldest first): the
//! answer pairs with the first copy, so that row's latency is what the application waited,
//! retry interval included; if no second answer comes, the retry becomes a timeout row. Each
//! retransmission is counted in [`DnsStats::retries`].
//!
//! Unanswered queries are rows, not silence: [`Stitcher::expire`] emits a timeout row for
//! each query at least `timeout_ns` old, [`Stitcher::close`] for every query left, and an
//! overflow of `max_pending` for the oldest one.

use std::collections::VecDeque;

use super::message::{Message, type_name};
use super::render;
use super::types::{DnsRecord, DnsStats, Transport};

#[derive(Debug)]
struct Pending {
    transport: Transport,
    ts_start_ns: u64,
    msg: Message,
}

#[derive(Debug)]
pub(crate) struct Stitcher {
    pending: VecDeque<Pending>,
    max_pending: usize,
}

impl Stitcher {
    pub(crate) fn new(max_pending: usize) -> Self {
        Self {
            pending: VecDeque::new(),
            max_pending: max_pending.max(1),
        }
    }

    /// A query was decoded.
    pub(crate) fn query(
        &mut self,
        transport: Transport,
        ts_start_ns: u64,
        msg: Message,
        stats: &mut DnsStats,
        out: &mut Vec<DnsRecord>,
    ) {
        stats.queries += 1;
        if self.pending.iter().any(|p| {
            p.msg.header.id == msg.header.id
                && match (p.msg.questions.first(), msg.questions.first()) {
                    (Some(a), Some(b)) => a.same(b),
                    (None, None) => true,
                    _ => false,
                }
        }) {
            stats.retries += 1;
        }
        if self.pending.len() >= self.max_pending
            && let Some(old) = self.pending.pop_front()
        {
            stats.pending_overflow += 1;
            emit_timeout(old, stats, out);
        }
        self.pending.push_back(Pending {
            transport,
            ts_start_ns,
            msg,
        });
    }

    /// A response was decoded; it started at `ts_start_ns` and ended at `ts_end_ns`.
    pub(crate) fn response(
        &mut self,
        ts_start_ns: u64,
        ts_end_ns: u64,
        msg: Message,
        stats: &mut DnsStats,
        out: &mut Vec<DnsRecord>,
    ) {
        stats.responses += 1;
        if msg.header.tc() == 1 {
            stats.truncated_responses += 1;
        }
        if msg.answers_malformed {
            stats.malformed_answers += 1;
        }
        let found = self.pending.iter().position(|p| {
            p.ts_start_ns <= ts_start_ns
                && p.msg.header.id == msg.header.id
                && match (p.msg.questions.first(), msg.questions.first()) {
                    (Some(q), Some(r)) => q.same(r),
                    (_, None) => true,
                    (None, Some(_)) => false,
                }
        });
        let Some(query) = found.and_then(|i| self.pending.remove(i)) else {
            stats.unmatched_responses += 1;
            return;
        };
        let mut rec = base_record(&query);
        rec.resp_ts_ns = ts_end_ns;
        rec.resp_header = render::header(&msg.header);
        rec.resp_body = render::resp_body(&msg.answers);
        rec.resp_code = i64::from(msg.header.rcode());
        rec.answers = render::answers(&msg.answers);
        rec.truncated = msg.header.tc() == 1;
        rec.timed_out = false;
        stats.records += 1;
        out.push(rec);
    }

    /// Emits a timeout row for every query with `now_ns - start >= timeout_ns`, oldest first.
    pub(crate) fn expire(
        &mut self,
        now_ns: u64,
        timeout_ns: u64,
        stats: &mut DnsStats,
        out: &mut Vec<DnsRecord>,
    ) {
        let mut i = 0;
        while let Some(p) = self.pending.get(i) {
            if now_ns.saturating_sub(p.ts_start_ns) >= timeout_ns {
                if let Some(p) = self.pending.remove(i) {
                    emit_timeout(p, stats, out);
                }
            } else {
                i += 1;
            }
        }
    }

    /// Emits a timeout row for every pending query.
    pub(crate) fn close(&mut self, stats: &mut DnsStats, out: &mut Vec<DnsRecord>) {
        for p in self.pending.drain(..) {
            emit_timeout(p, stats, out);
        }
    }

    pub(crate) fn pending_len(&self) -> usize {
        self.pending.len()
    }
}

fn base_record(p: &Pending) -> DnsRecord {
    let first = p.msg.questions.first();
    DnsRecord {
        transport: p.transport,
        req_ts_ns: p.ts_start_ns,
        resp_ts_ns: 0,
        txid: p.msg.header.id,
        req_header: render::header(&p.msg.header),
        req_body: render::req_body(&p.msg.questions),
        resp_header: String::new(),
        resp_body: String::new(),
        query_name: first.map(|q| q.name.clone()).unwrap_or_default(),
        query_type: first
            .map(|q| type_name(q.qtype).into_owned())
            .unwrap_or_default(),
        resp_code: -1,
        answers: String::from("[]"),
        truncated: false,
        timed_out: true,
    }
}

fn emit_timeout(p: Pending, stats: &mut DnsStats, out: &mut Vec<DnsRecord>) {
    stats.timeouts += 1;
    stats.records += 1;
    out.push(base_record(&p));
}
