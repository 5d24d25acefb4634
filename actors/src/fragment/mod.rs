//! Fragments on the node: a planner deploys a node fragment (request-reply,
//! acked at once), the node reads its Sources from the TableStore, runs the
//! fragment on a blocking thread (the executor is CPU work), and publishes
//! each channel's batches, in numbered chunks no larger than NATS takes, to
//! the query's partial subject; the last chunk carries the node's report:
//! rows scanned and the losses it counted while the queried rows were
//! captured. A fragment is gone when it has answered, when its query is
//! cancelled, or when its deadline passes, whichever comes first.
//!
//! A live fragment (a continuous query) stays: it runs once per pane over
//! that pane's rows and ships one partial per pane, until its lease lapses
//! (two lease periods without a renewal) or it is cancelled.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix::prelude::*;
use arrow::record_batch::RecordBatch;
use futures::StreamExt;
use loupe_topology::codec::{self, Kind};
use loupe_topology::messages::{
    Channel, Covers, Deploy, DeployAck, End, LiveSpec, Losses, MergeSpec, NodeReport, PartialChunk,
    QueryError, QueryErrorKind,
};
use loupe_topology::plan::NodeFragment;
use loupe_topology::subjects::{Inbound, QueryId, Subject};
use loupe_topology::validate::Arrival;

use crate::clock::wall_now_ns;
use crate::exec::combine::Combiner;
use crate::exec::{Inputs, run_fragment};
use crate::gather::{NodeAnswer, fold};
use crate::supervise::guarded;
use crate::table_store::{Read, TableStore};
use crate::wire::WireGuard;

/// How long after a pane ends its rows are read: rows are sealed into the
/// store within 200 ms of their response; a row sealed later than this
/// misses its pane.
const LIVE_GRACE_NS: i64 = 1_000_000_000;

/// Cumulative loss counters sampled once a second, so an answer can say
/// what was lost while its window was captured, not since the agent began.
#[derive(Default)]
pub struct LossHistory {
    samples: VecDeque<(i64, Losses)>,
    /// Oldest row the store holds (ns since the epoch), at the last sample.
    pub oldest_row_ns: Option<i64>,
}

/// One hour of one-second samples.
const HISTORY: usize = 3600;

impl LossHistory {
    pub fn record(&mut self, at_ns: i64, totals: Losses, oldest_row_ns: Option<i64>) {
        if self.samples.len() == HISTORY {
            self.samples.pop_front();
        }
        self.samples.push_back((at_ns, totals));
        self.oldest_row_ns = oldest_row_ns;
    }

    /// Losses counted between `start` and `end` (ns since the epoch).
    pub fn between(&self, start: i64, end: i64) -> Losses {
        let Some((first_t, _)) = self.samples.front() else {
            return Losses {
                window_partly_observed: true,
                ..Losses::default()
            };
        };
        // The last sample at or before `t`, else the first one.
        let at = |t: i64| -> &Losses {
            let i = self.samples.partition_point(|(s, _)| *s <= t);
            &self.samples[i.saturating_sub(1)].1
        };
        let (a, b) = (at(start), at(end));
        Losses {
            kernel_dropped: b.kernel_dropped.saturating_sub(a.kernel_dropped),
            gap_bytes: b.gap_bytes.saturating_sub(a.gap_bytes),
            mailbox_dropped: b.mailbox_dropped.saturating_sub(a.mailbox_dropped),
            evicted_rows: b.evicted_rows.saturating_sub(a.evicted_rows),
            window_before_retention: self.oldest_row_ns.is_some_and(|o| start < o),
            window_partly_observed: start < *first_t,
        }
    }
}

/// The fragments running on this node, by query id.
pub struct Fragments {
    running: Mutex<HashMap<String, tokio::task::AbortHandle>>,
    /// Most fragments (and merge parts) at once; a deploy beyond it is
    /// refused as busy.
    limit: usize,
}

/// Fragments a node runs at once unless told otherwise (`--max-fragments`).
pub const DEFAULT_MAX_FRAGMENTS: usize = 64;

impl Default for Fragments {
    fn default() -> Self {
        Fragments::new(DEFAULT_MAX_FRAGMENTS)
    }
}

impl Fragments {
    pub fn new(limit: usize) -> Self {
        Fragments {
            running: Mutex::default(),
            limit: limit.max(1),
        }
    }

    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Why one more fragment would be too many, if it would.
    fn full(&self) -> Option<QueryError> {
        let n = self.active();
        (n >= self.limit).then(|| {
            QueryError::new(
                QueryErrorKind::Busy,
                format!(
                    "this node runs {n} fragments already, its limit (--max-fragments {})",
                    self.limit
                ),
            )
        })
    }

    pub fn active(&self) -> usize {
        self.running.lock().map(|m| m.len()).unwrap_or(0)
    }

    /// Ends every fragment of query `qid` here: its own, and its merge
    /// nodes' parts (`qid#m<level>`).
    pub fn cancel(&self, qid: &str) {
        if let Ok(mut m) = self.running.lock() {
            let prefix = format!("{qid}#");
            m.retain(|k, h| {
                let ours = k == qid || k.starts_with(&prefix);
                if ours {
                    h.abort();
                    tracing::debug!(qid, part = k, "fragment cancelled");
                }
                !ours
            });
        }
    }

    fn finished(&self, qid: &str) {
        if let Ok(mut m) = self.running.lock() {
            m.remove(qid);
        }
    }
}

/// What running a fragment needs from the node.
#[derive(Clone)]
pub struct FragmentHost {
    pub node: String,
    pub client: async_nats::Client,
    pub store: Addr<TableStore>,
    pub fragments: Arc<Fragments>,
    pub history: Arc<Mutex<LossHistory>>,
    /// The node's clock minus the host's (0 but for simulated nodes).
    pub clock_offset_ns: i64,
    /// What the node refused of what it received.
    pub wire: Arc<WireGuard>,
}

impl FragmentHost {
    /// The node's clock, which cuts live panes.
    fn now(&self) -> i64 {
        wall_now_ns() + self.clock_offset_ns
    }

    /// Answers a deploy (when it has a reply subject): taken, or why not.
    async fn ack(
        &self,
        reply: Option<async_nats::Subject>,
        qid: &str,
        error: Option<QueryError>,
    ) -> anyhow::Result<()> {
        if let Some(r) = reply {
            let ack = DeployAck {
                node: self.node.clone(),
                qid: qid.to_string(),
                error,
            };
            self.client
                .publish(r, codec::encode(Kind::DeployAck, &ack)?.into())
                .await?;
        }
        Ok(())
    }

    /// Handles a deploy request: checks it, acks, then runs the fragment
    /// in the background. Where it sends, listens and renews is derived
    /// from the query id, never read from the message.
    pub async fn deploy(&self, msg: async_nats::Message) -> anyhow::Result<()> {
        let reply = msg.reply.clone();
        let checked = self
            .wire
            .receive::<Deploy>(Inbound::Deploy, Kind::Deploy, &msg.payload, &Arrival::any())
            .map_err(QueryError::from)
            .and_then(|d| {
                let qid = QueryId::parse(&d.qid)
                    .map_err(|e| QueryError::new(QueryErrorKind::Wire, e.to_string()))?;
                Ok((qid, d))
            });
        let (qid, d) = match checked {
            Ok(x) => x,
            Err(e) => {
                return self.ack(reply, "", Some(e)).await;
            }
        };
        // A planner deploys again to a node that missed a pane: one
        // fragment per live query, whatever it asks; that is no new one.
        let again = d.live.is_some()
            && self
                .fragments
                .running
                .lock()
                .is_ok_and(|m| m.contains_key(qid.as_str()));
        if !again && let Some(e) = self.fragments.full() {
            return self.ack(reply, &d.qid, Some(e)).await;
        }
        if let Some(spec) = &d.merge {
            return self.deploy_merge(reply, qid, d.clone(), spec.clone()).await;
        }
        self.ack(reply, &d.qid, None).await?;
        if again {
            return Ok(());
        }
        let key = d.qid.clone();
        let this = self.clone();
        if let Some(spec) = d.live.clone() {
            let task = actix::spawn(async move {
                match guarded("fragment", this.run_live(&qid, &d, &spec)).await {
                    Ok(Ok(why)) => tracing::info!(qid = %qid, "live fragment ended: {why}"),
                    Ok(Err(e)) => tracing::warn!(qid = %qid, error = %e, "live fragment failed"),
                    Err(p) => tracing::warn!(qid = %qid, "live fragment panicked: {p}"),
                }
                this.fragments.finished(qid.as_str());
            });
            if let Ok(mut m) = self.fragments.running.lock() {
                m.insert(key, task.abort_handle());
            }
            return Ok(());
        }
        let budget = Duration::from_nanos(d.timeout_ns.max(0) as u64);
        let task = actix::spawn(async move {
            let subject = Subject::query_send_to(&qid, d.send_to);
            let out = tokio::time::timeout(budget, guarded("fragment", this.run(&qid, &d))).await;
            let result = match out {
                Ok(Ok(r)) => r,
                // Said to whoever waits for it, so no one waits in vain.
                Ok(Err(p)) => Err(QueryError::new(
                    QueryErrorKind::Execution,
                    format!("the fragment panicked: {p}"),
                )),
                Err(_) => Err(QueryError::new(
                    QueryErrorKind::Timeout,
                    "deadline passed before the fragment finished",
                )),
            };
            if let Err(e) = result {
                tracing::warn!(qid = %qid, error = %e, "fragment failed");
                let chunk = PartialChunk::failure(qid.as_str(), &this.node, Channel::default(), e);
                if let Ok(bytes) = codec::encode(Kind::PartialChunk, &chunk) {
                    let _ = this
                        .client
                        .publish(String::from(subject), bytes.into())
                        .await;
                }
            }
            this.fragments.finished(qid.as_str());
        });
        if let Ok(mut m) = self.fragments.running.lock() {
            m.insert(key, task.abort_handle());
        }
        Ok(())
    }

    /// A merge node's part: listens (before acking, so no child's partial
    /// comes before it), then gathers its children's partials until each
    /// has answered or its deadline, combines them and sends one partial
    /// on, naming whom it covers and who did not answer.
    async fn deploy_merge(
        &self,
        reply: Option<async_nats::Subject>,
        qid: QueryId,
        d: Deploy,
        spec: MergeSpec,
    ) -> anyhow::Result<()> {
        let listen = Subject::query_merge(&qid, spec.level, spec.group);
        let (sub, combiner) = match (
            self.client.subscribe(String::from(listen)).await,
            Combiner::new(&d.fragment),
        ) {
            (Ok(s), Ok(c)) => (Some(s), Ok(c)),
            (Err(e), _) => (
                None,
                Err(QueryError::new(
                    QueryErrorKind::Unavailable,
                    format!("cannot listen for partials: {e}"),
                )),
            ),
            (_, Err(e)) => (
                None,
                Err(QueryError::new(
                    QueryErrorKind::BadPlan,
                    format!("cannot combine this fragment: {e}"),
                )),
            ),
        };
        self.ack(reply, &d.qid, combiner.as_ref().err().cloned())
            .await?;
        let (Some(mut sub), Ok(combiner)) = (sub, combiner) else {
            return Ok(());
        };
        let key = format!("{}#m{}", d.qid, spec.level);
        let this = self.clone();
        let k2 = key.clone();
        let task = actix::spawn(async move {
            let budget = Duration::from_nanos(d.timeout_ns.max(0) as u64);
            let until = tokio::time::Instant::now() + budget;
            let mut answers: BTreeMap<String, NodeAnswer> = spec
                .children
                .iter()
                .map(|(n, _)| (n.clone(), NodeAnswer::new()))
                .collect();
            let (mut messages, mut bytes) = (0u64, 0u64);
            while answers.values().any(|a| !a.done) {
                let Ok(Some(m)) = tokio::time::timeout_at(until, sub.next()).await else {
                    break;
                };
                messages += 1;
                bytes += m.payload.len() as u64;
                let arrival = Arrival::query(qid.as_str());
                if let Ok(c) = this.wire.receive::<PartialChunk>(
                    Inbound::Merge,
                    Kind::PartialChunk,
                    &m.payload,
                    &arrival,
                ) && let Some(a) = answers.get_mut(&c.from)
                {
                    a.take(c);
                }
            }
            let _ = sub.unsubscribe().await;
            let late = format!("no complete answer by merge node {}'s deadline", this.node);
            let (parts, mut merged) = fold(&spec.children, answers, &late);
            merged.messages += messages;
            merged.bytes += bytes;
            // A panic while combining is a JoinError here, told below.
            let combined = tokio::task::spawn_blocking(move || combiner.combine(&parts)).await;
            let subject = Subject::query_send_to(&qid, d.send_to);
            let sent = match combined {
                Ok(Ok(c)) => publish(
                    &this.client,
                    Publish {
                        qid: &d.qid,
                        node: &this.node,
                        subject: subject.as_str(),
                        pane_ns: 0,
                    },
                    c.into_iter().collect(),
                    Covers::Merged(merged),
                )
                .await
                .map_err(|e| QueryError::new(QueryErrorKind::Unavailable, format!("{e:#}"))),
                Ok(Err(e)) => Err(QueryError::new(
                    QueryErrorKind::Execution,
                    format!("could not combine partials: {e}"),
                )),
                Err(e) => Err(QueryError::new(
                    QueryErrorKind::Execution,
                    format!("could not combine partials: {e}"),
                )),
            };
            if let Err(e) = sent {
                tracing::warn!(qid = d.qid, error = %e, "merge failed");
                let chunk = PartialChunk::failure(&d.qid, &this.node, Channel::default(), e);
                if let Ok(b) = codec::encode(Kind::PartialChunk, &chunk) {
                    let _ = this.client.publish(String::from(subject), b.into()).await;
                }
            }
            this.fragments.finished(&k2);
        });
        if let Ok(mut m) = self.fragments.running.lock() {
            m.insert(key, task.abort_handle());
        }
        Ok(())
    }

    async fn run(&self, qid: &QueryId, d: &Deploy) -> Result<(), QueryError> {
        let subject = Subject::query_send_to(qid, d.send_to);
        self.run_fragment(qid.as_str(), &d.fragment, subject.as_str(), 0)
            .await
    }

    /// A live fragment: once per pane of `spec.every_ns` (the node's clock,
    /// aligned to the epoch), a short grace after the pane ends so its rows
    /// are sealed, the fragment runs over that pane's rows and ships one
    /// partial. It ends when no lease renewal came for two lease periods
    /// (the subscriber is gone), or when cancelled.
    async fn run_live(
        &self,
        qid: &QueryId,
        d: &Deploy,
        spec: &LiveSpec,
    ) -> anyhow::Result<&'static str> {
        let mut leases = self
            .client
            .subscribe(String::from(Subject::query_lease(qid)))
            .await?;
        let subject = Subject::query_send_to(qid, d.send_to);
        let every = spec.every_ns.max(100_000_000);
        let expiry = Duration::from_nanos(2 * spec.lease_ns.max(1) as u64);
        let mut last_lease = Instant::now();
        let first_live = (self.now() / every + 1) * every;
        // The panes of the window that already passed come first (backfill).
        let mut pane_end = first_live - (spec.backfill_ns.max(0) / every) * every;
        loop {
            let due = pane_end + LIVE_GRACE_NS;
            loop {
                if last_lease.elapsed() > expiry {
                    return Ok("lease expired");
                }
                let now = self.now();
                if now >= due {
                    break;
                }
                let wait = Duration::from_nanos((due - now) as u64).min(Duration::from_millis(250));
                match tokio::time::timeout(wait, leases.next()).await {
                    Ok(Some(_)) => last_lease = Instant::now(),
                    Ok(None) => anyhow::bail!("the lease subscription closed"),
                    Err(_) => {}
                }
            }
            let mut fragment = d.fragment.clone();
            fragment.plan.set_source_range(pane_end - every, pane_end);
            if let Err(e) = self
                .run_fragment(&d.qid, &fragment, subject.as_str(), pane_end)
                .await
            {
                tracing::warn!(qid = d.qid, error = %e, "live pane failed");
                let part = Channel {
                    channel: 0,
                    pane_ns: pane_end,
                };
                let chunk = PartialChunk::failure(&d.qid, &self.node, part, e);
                let bytes = codec::encode(Kind::PartialChunk, &chunk)?;
                self.client
                    .publish(String::from(subject.clone()), bytes.into())
                    .await?;
            }
            pane_end += every;
            // Fell more than a pane behind (a stalled node): skip to now,
            // the planner reports the panes it did not get.
            let now = self.now();
            if pane_end > first_live && pane_end + LIVE_GRACE_NS < now - every {
                pane_end = (now / every) * every;
            }
        }
    }

    async fn run_fragment(
        &self,
        qid: &str,
        fragment: &NodeFragment,
        partial_subject: &str,
        pane_ns: i64,
    ) -> Result<(), QueryError> {
        let unavailable = |e: String| QueryError::new(QueryErrorKind::Unavailable, e);
        let started = Instant::now();
        let mut inputs = Inputs::default();
        let mut rows_scanned = 0u64;
        let (mut lo, mut hi) = (i64::MAX, i64::MIN);
        for src in fragment.plan.sources() {
            let batches = self
                .store
                .send(Read {
                    table: src.table.to_string(),
                    start_ns: src.start_ns,
                    end_ns: src.end_ns,
                    columns: src.columns.to_vec(),
                })
                .await
                .map_err(|e| unavailable(format!("table store unavailable: {e}")))?
                .map_err(|e| QueryError::new(QueryErrorKind::NotFound, e))?;
            rows_scanned += batches.iter().map(|b| b.num_rows() as u64).sum::<u64>();
            lo = lo.min(src.start_ns);
            hi = hi.max(src.end_ns.unwrap_or_else(wall_now_ns));
            inputs.sources.insert(src.id, batches);
        }
        let fragment = fragment.clone();
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        let execution = |e: String| QueryError::new(QueryErrorKind::Execution, e);
        let outputs: Vec<(u32, Vec<RecordBatch>)> = tokio::task::spawn_blocking(move || {
            run_fragment(&fragment.plan, &fragment.outputs, inputs, threads)
        })
        .await
        .map_err(|e| execution(format!("the fragment stopped: {e}")))?
        .map_err(|e| execution(format!("{e:#}")))?;
        let losses = self
            .history
            .lock()
            .map(|h| h.between(lo, hi))
            .unwrap_or_default();
        let report = NodeReport {
            node: self.node.clone(),
            rows_scanned,
            exec_ms: started.elapsed().as_secs_f64() * 1e3,
            losses,
            clock_skew_ms: None,
        };
        publish(
            &self.client,
            Publish {
                qid,
                node: &self.node,
                subject: partial_subject,
                pane_ns,
            },
            outputs,
            Covers::Report(report),
        )
        .await
        .map_err(|e| unavailable(format!("could not send the partial: {e:#}")))
    }
}

/// Where and as whom a partial is sent.
pub struct Publish<'a> {
    pub qid: &'a str,
    pub node: &'a str,
    pub subject: &'a str,
    pub pane_ns: i64,
}

/// Sends every channel's batches as one stream of chunks, the last one
/// saying what it covers.
pub async fn publish(
    client: &async_nats::Client,
    to: Publish<'_>,
    outputs: Vec<(u32, Vec<RecordBatch>)>,
    covers: Covers,
) -> anyhow::Result<()> {
    let limit = loupe_topology::stream::chunk_limit(client.server_info().max_payload);
    let mut pieces = Vec::new();
    for (channel, batches) in &outputs {
        let part = Channel {
            channel: *channel,
            pane_ns: to.pane_ns,
        };
        for ipc in crate::service::encode_chunks(batches, limit)? {
            pieces.push((part, ipc));
        }
    }
    if pieces.is_empty() {
        pieces.push((
            Channel {
                channel: 0,
                pane_ns: to.pane_ns,
            },
            Vec::new(),
        ));
    }
    for chunk in PartialChunk::stream(to.qid, to.node, pieces, End::Done(covers)) {
        client
            .publish(
                to.subject.to_string(),
                codec::encode(Kind::PartialChunk, &chunk)?.into(),
            )
            .await?;
    }
    client.flush().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn losses_are_those_of_the_window() {
        let mut h = LossHistory::default();
        for s in 0..10i64 {
            let l = Losses {
                kernel_dropped: (s * 10) as u64,
                gap_bytes: s as u64,
                ..Default::default()
            };
            h.record(s * 1_000, l, Some(2_000));
        }
        let w = h.between(3_000, 6_500);
        assert_eq!(w.kernel_dropped, 30);
        assert_eq!(w.gap_bytes, 3);
        assert!(!w.window_partly_observed);
        assert!(!w.window_before_retention);
        let early = h.between(-5_000, 1_000);
        assert!(early.window_partly_observed && early.window_before_retention);
        assert_eq!(early.kernel_dropped, 10);
    }
}
