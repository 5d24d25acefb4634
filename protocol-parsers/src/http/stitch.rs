//! Pairs requests with responses.
//!
//! HTTP/1.x answers requests in order, so the stitcher is a FIFO of pending requests: a final
//! response pairs with the oldest one. A request enters the queue as soon as its head is
//! parsed (so that the response parser can see its method, and so that a server answering
//! before the request body is complete still pairs), and is paired once both sides are done.
//!
//! Guards against mis-pairing after losses:
//! - a response whose first byte was seen before the request's first byte cannot answer it
//!   (both timestamps come from the same monotonic clock); it is counted as unmatched;
//! - when the response stream loses sync, every request waiting at that moment is dropped as
//!   unanswered, since its response may have been in the lost bytes;
//! - when the request stream drops a request in the middle of its body, its queue slot stays as
//!   a placeholder so that the next response (its answer) is discarded, not given to the next
//!   request;
//! - when more than `max_pending` requests wait, the oldest is dropped and the next response
//!   (its answer) is discarded.

use std::collections::VecDeque;

use super::types::{HttpMessage, HttpRecord, HttpStats};

/// What the response parser needs to know about the request it will answer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct RequestContext {
    /// The request was `HEAD`: the response has no body.
    pub(crate) head: bool,
    /// The request was `CONNECT`: a 2xx response turns the connection into a tunnel.
    pub(crate) connect: bool,
}

#[derive(Debug)]
struct Pending {
    seq: u64,
    ts_start_ns: u64,
    ctx: RequestContext,
    /// The complete request, once its body is done.
    req: Option<HttpMessage>,
    /// A final response that arrived while the request body was still in flight.
    early_resp: Option<HttpMessage>,
    /// The request stream lost this request mid-body: its response is discarded.
    lost: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Target {
    /// The response answers a request dropped on overflow.
    Skip,
    /// The response answers the front of the queue.
    Front,
    /// No request can be answered by this response.
    Nothing,
}

#[derive(Debug)]
pub(crate) struct Stitcher {
    pending: VecDeque<Pending>,
    next_seq: u64,
    /// Responses still to come for requests dropped on overflow.
    skip_responses: u64,
    max_pending: usize,
    pub(crate) upgraded: bool,
}

impl Stitcher {
    pub(crate) fn new(max_pending: usize) -> Self {
        Self {
            pending: VecDeque::new(),
            next_seq: 0,
            skip_responses: 0,
            max_pending: max_pending.max(1),
            upgraded: false,
        }
    }

    /// A request head was parsed. Returns the sequence number that names it from now on.
    pub(crate) fn request_head(
        &mut self,
        ts_start_ns: u64,
        method: &str,
        stats: &mut HttpStats,
    ) -> u64 {
        if self.pending.len() >= self.max_pending
            && let Some(old) = self.pending.pop_front()
        {
            stats.pending_overflow += 1;
            if old.early_resp.is_none() {
                self.skip_responses = self.skip_responses.saturating_add(1);
            }
        }
        let seq = self.next_seq;
        self.next_seq = self.next_seq.wrapping_add(1);
        let ctx = RequestContext {
            head: method.eq_ignore_ascii_case("HEAD"),
            connect: method.eq_ignore_ascii_case("CONNECT"),
        };
        self.pending.push_back(Pending {
            seq,
            ts_start_ns,
            ctx,
            req: None,
            early_resp: None,
            lost: false,
        });
        seq
    }

    /// The request named `seq` is complete (body included).
    pub(crate) fn request_done(
        &mut self,
        seq: u64,
        req: HttpMessage,
        stats: &mut HttpStats,
        out: &mut Vec<HttpRecord>,
    ) {
        stats.requests += 1;
        let Some(idx) = self.pending.iter().rposition(|p| p.seq == seq) else {
            return; // dropped meanwhile (response stream lost sync, or overflow): already counted
        };
        let Some(entry) = self.pending.get_mut(idx) else {
            return;
        };
        match entry.early_resp.take() {
            Some(resp) => {
                self.pending.remove(idx);
                emit(req, resp, stats, out);
            }
            None => entry.req = Some(req),
        }
    }

    /// The request stream dropped the request named `seq` before it was complete.
    pub(crate) fn request_lost(&mut self, seq: u64) {
        if let Some(entry) = self.pending.iter_mut().rev().find(|p| p.seq == seq) {
            entry.lost = true;
        }
    }

    fn target(&self, resp_ts_start_ns: u64) -> Target {
        if self.skip_responses > 0 {
            return Target::Skip;
        }
        match self.pending.front() {
            Some(front) if front.ts_start_ns <= resp_ts_start_ns => Target::Front,
            _ => Target::Nothing,
        }
    }

    /// The method flags of the request that a response starting at `resp_ts_start_ns` answers.
    pub(crate) fn response_context(&self, resp_ts_start_ns: u64) -> RequestContext {
        match (self.target(resp_ts_start_ns), self.pending.front()) {
            (Target::Front, Some(front)) => front.ctx,
            _ => RequestContext::default(),
        }
    }

    /// A final response is complete. Returns true if it switched the connection away from HTTP.
    pub(crate) fn response_done(
        &mut self,
        resp: HttpMessage,
        stats: &mut HttpStats,
        out: &mut Vec<HttpRecord>,
    ) -> bool {
        stats.responses += 1;
        let target = self.target(resp.ts_start_ns);
        let upgrade = resp.status == 101
            || (target == Target::Front
                && self.pending.front().is_some_and(|p| p.ctx.connect)
                && (200..300).contains(&resp.status));
        match target {
            Target::Skip => self.skip_responses -= 1,
            Target::Nothing => stats.unmatched_responses += 1,
            Target::Front => {
                if let Some(front) = self.pending.front_mut() {
                    if front.lost {
                        self.pending.pop_front();
                    } else if let Some(req) = front.req.take() {
                        self.pending.pop_front();
                        emit(req, resp, stats, out);
                    } else if front.early_resp.is_none() {
                        front.early_resp = Some(resp);
                    } else {
                        stats.unmatched_responses += 1;
                    }
                }
            }
        }
        if upgrade {
            self.upgraded = true;
        }
        upgrade
    }

    /// The response stream lost sync: responses of the requests waiting now may be lost.
    pub(crate) fn response_stream_lost(&mut self, stats: &mut HttpStats) {
        self.skip_responses = 0;
        self.pending.retain(|p| {
            if p.early_resp.is_some() {
                return true; // already answered, waiting for its own body
            }
            if !p.lost {
                stats.unanswered_requests += 1;
            }
            false
        });
    }

    /// The connection closed. `in_progress` is the request whose body was still in flight.
    pub(crate) fn close(
        &mut self,
        in_progress: Option<(u64, HttpMessage)>,
        stats: &mut HttpStats,
        out: &mut Vec<HttpRecord>,
    ) {
        if let Some((seq, req)) = in_progress
            && let Some(idx) = self.pending.iter().position(|p| p.seq == seq && !p.lost)
            && let Some(resp) = self.pending.get_mut(idx).and_then(|p| p.early_resp.take())
        {
            self.pending.remove(idx);
            emit(req, resp, stats, out);
        }
        for p in self.pending.drain(..) {
            if !p.lost {
                stats.unanswered_requests += 1;
            }
        }
        self.skip_responses = 0;
    }

    #[cfg(test)]
    pub(crate) fn pending_len(&self) -> usize {
        self.pending.len()
    }
}

fn emit(req: HttpMessage, resp: HttpMessage, stats: &mut HttpStats, out: &mut Vec<HttpRecord>) {
    stats.records += 1;
    out.push(HttpRecord { req, resp });
}
