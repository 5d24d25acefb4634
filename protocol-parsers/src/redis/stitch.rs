//! Pairs commands with replies, and turns pushes into records of their own.
//!
//! Redis answers the commands of one connection in order, so the stitcher is a FIFO of
//! pending commands: a reply frame answers the oldest. Most commands take one frame;
//! `SUBSCRIBE a b` takes one per channel, and `UNSUBSCRIBE` with no argument takes frames
//! until the subscription count they carry reaches 0. The record is emitted at the last one.
//!
//! Frames that answer no command:
//! - RESP3 push frames (`>`), except subscription confirmations while a (un)subscribe command
//!   waits for them;
//! - RESP2 arrays shaped like pub/sub messages (`message`, `pmessage`, `smessage`) while the
//!   connection is subscribed (a subscription reply with a non-zero count was seen), or when
//!   no command is waiting.
//!
//! Guards against mis-pairing after losses, as in the HTTP stitcher:
//! - a reply whose first byte was seen before the command's first byte cannot answer it;
//! - when the response stream loses sync, every command waiting is dropped as unanswered;
//! - when the request stream loses sync, a *barrier* is queued: replies reaching it are
//!   discarded (their commands were lost) until one starts after the first command queued
//!   behind the barrier. Under pipelining this is a heuristic: a lost command whose reply
//!   comes after the next command was sent mis-pairs until the pipeline drains.
//! - when more than `max_pending` commands wait, the oldest is dropped and the next reply (its
//!   answer) is discarded.

use std::collections::VecDeque;

use super::command::{Family, PubSubKind};
use super::frame::{Request, Response};
use super::types::{RedisRecord, RedisStats};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Expect {
    /// This many more frames.
    Frames(u64),
    /// Frames until a subscription count of 0.
    UntilZero,
}

#[derive(Debug)]
struct Pending {
    req: Request,
    expect: Expect,
    first_resp_ts: Option<u64>,
}

#[derive(Debug)]
enum Entry {
    Req(Pending),
    /// Commands were lost here.
    Barrier,
}

#[derive(Debug)]
pub(crate) struct Stitcher {
    pending: VecDeque<Entry>,
    waiting: usize,
    max_pending: usize,
    skip_responses: u64,
    subscribed: bool,
    pub(crate) resp_version: u8,
}

impl Stitcher {
    pub(crate) fn new(max_pending: usize) -> Self {
        Self {
            pending: VecDeque::new(),
            waiting: 0,
            max_pending: max_pending.max(1),
            skip_responses: 0,
            subscribed: false,
            resp_version: 2,
        }
    }

    pub(crate) fn request(&mut self, req: Request, stats: &mut RedisStats) {
        stats.requests += 1;
        if self.waiting >= self.max_pending {
            while let Some(e) = self.pending.pop_front() {
                if let Entry::Req(_) = e {
                    self.waiting -= 1;
                    stats.pending_overflow += 1;
                    self.skip_responses = self.skip_responses.saturating_add(1);
                    break;
                }
            }
        }
        let expect = match req.family {
            Family::Subscribe => Expect::Frames(req.nargs.max(1)),
            Family::Unsubscribe if req.nargs == 0 => Expect::UntilZero,
            Family::Unsubscribe => Expect::Frames(req.nargs),
            Family::Plain | Family::Hello => Expect::Frames(1),
        };
        self.waiting += 1;
        self.pending.push_back(Entry::Req(Pending {
            req,
            expect,
            first_resp_ts: None,
        }));
    }

    /// The request stream lost sync: commands may have been lost at this point.
    pub(crate) fn request_stream_lost(&mut self) {
        // At most one barrier after each command: the queue stays bounded.
        if !matches!(self.pending.back(), Some(Entry::Barrier)) {
            self.pending.push_back(Entry::Barrier);
        }
    }

    /// The response stream lost sync: the replies of the commands waiting may be lost.
    pub(crate) fn response_stream_lost(&mut self, stats: &mut RedisStats) {
        stats.unanswered_requests += self.waiting as u64;
        self.pending.clear();
        self.waiting = 0;
        self.skip_responses = 0;
    }

    fn front_family(&self) -> Option<Family> {
        match self.pending.front() {
            Some(Entry::Req(p)) => Some(p.req.family),
            _ => None,
        }
    }

    pub(crate) fn response(
        &mut self,
        resp: Response,
        stats: &mut RedisStats,
        out: &mut Vec<RedisRecord>,
    ) {
        stats.responses += 1;
        let subscribing = matches!(
            self.front_family(),
            Some(Family::Subscribe | Family::Unsubscribe)
        );
        let confirmation = resp.pubsub == Some(PubSubKind::Subscription);
        let message = matches!(
            resp.pubsub,
            Some(PubSubKind::Message | PubSubKind::PMessage)
        );
        if (resp.push_frame && !(confirmation && subscribing))
            || (message && (self.subscribed || self.waiting == 0))
        {
            emit_push(resp, message, stats, out);
            return;
        }
        if confirmation && let Some(count) = resp.sub_count {
            self.subscribed = count > 0;
        }
        if self.skip_responses > 0 {
            self.skip_responses -= 1;
            return;
        }
        loop {
            match self.pending.front() {
                None => {
                    stats.unmatched_responses += 1;
                    return;
                }
                Some(Entry::Barrier) => match self.pending.get(1) {
                    Some(Entry::Req(p)) if p.req.ts_start <= resp.ts_start => {
                        self.pending.pop_front();
                    }
                    _ => {
                        stats.unmatched_responses += 1;
                        return;
                    }
                },
                Some(Entry::Req(p)) if p.req.ts_start > resp.ts_start => {
                    stats.unmatched_responses += 1;
                    return;
                }
                Some(Entry::Req(_)) => break,
            }
        }
        let Some(Entry::Req(p)) = self.pending.front_mut() else {
            return;
        };
        p.first_resp_ts.get_or_insert(resp.ts_start);
        let done = resp.error
            || match &mut p.expect {
                Expect::Frames(n) => {
                    *n = n.saturating_sub(1);
                    *n == 0
                }
                Expect::UntilZero => resp.sub_count.is_none_or(|c| c == 0),
            };
        if !done {
            return;
        }
        let Some(Entry::Req(p)) = self.pending.pop_front() else {
            return;
        };
        self.waiting -= 1;
        if p.req.family == Family::Hello
            && !resp.error
            && let Some(v) = p.req.hello
        {
            self.resp_version = v;
        }
        stats.records += 1;
        out.push(RedisRecord {
            req_cmd: p.req.cmd,
            req_args: p.req.args,
            resp: resp.render,
            resp_error: resp.error,
            resp_bulk_bytes: resp.bulk_bytes,
            is_push: false,
            req_ts_start_ns: p.req.ts_start,
            req_ts_end_ns: p.req.ts_end,
            resp_ts_start_ns: p.first_resp_ts.unwrap_or(resp.ts_start),
            resp_ts_end_ns: resp.ts_end,
        });
    }

    /// The connection closed: commands still waiting are unanswered.
    pub(crate) fn close(&mut self, stats: &mut RedisStats) {
        stats.unanswered_requests += self.waiting as u64;
        self.pending.clear();
        self.waiting = 0;
        self.skip_responses = 0;
        self.subscribed = false;
    }

    #[cfg(test)]
    pub(crate) fn pending_len(&self) -> usize {
        self.waiting
    }
}

fn emit_push(resp: Response, message: bool, stats: &mut RedisStats, out: &mut Vec<RedisRecord>) {
    stats.records += 1;
    stats.pushes += 1;
    out.push(RedisRecord {
        req_cmd: if message { "PUSH PUB" } else { "PUSH" }.to_owned(),
        req_args: String::new(),
        resp: resp.render,
        resp_error: resp.error,
        resp_bulk_bytes: resp.bulk_bytes,
        is_push: true,
        req_ts_start_ns: resp.ts_start,
        req_ts_end_ns: resp.ts_start,
        resp_ts_start_ns: resp.ts_start,
        resp_ts_end_ns: resp.ts_end,
    });
}
