//! Continuous queries (`loupe live`). The node fragment stays deployed and
//! ships one partial per pane (the node cuts time into panes of the refresh
//! period by its own clock); the planner keeps each node's partials of the
//! last `window / every` panes and, when a pane closes, answers for the
//! window ending there. A closed pane's partials (one per node) are
//! combined into one, and the window keeps its panes as running
//! combinations (`PaneWindow`, two stacks): a refresh is a few combinations
//! of states of the window's groups, whatever the number of panes and rows
//! in the window, then the merge of one combined partial.
//!
//! On deploy, nodes first ship the panes of the window that already passed
//! (the rows are in their stores), so the first refresh covers a whole
//! window. A pane closes when every node the fragment went to has sent it, or one
//! pane period after the nodes' grace. Partials that come after their pane
//! closed are counted (`late_partials`). The query lives while its lease is
//! renewed (the CLI publishes a `Lease` every half period): two lease
//! periods without one and the planner stops and cancels; the nodes drop
//! their fragments on their own by the same rule, so no fragment outlives
//! its subscriber even when the planner is gone too. Nodes that come (back)
//! after the start are deployed to at the next pane.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use futures::StreamExt;
use loupe_topology::codec::{self, Kind};
use loupe_topology::messages::{
    Cancel, Deploy, ErrorDomain, Lease, LiveAccepted, LiveRequest, LiveSpec, NodeReport,
    PartialChunk, QueryDone, QueryErrorKind, SendTo,
};
use loupe_topology::plan::{Distributed, split};
use loupe_topology::subjects::{Inbound, QueryId, Subject};
use loupe_topology::validate::Arrival;

use super::{QueryPlanner, err};
use crate::clock::wall_now_ns;
use crate::exec::combine::{Channels, Combiner, PaneWindow};
use crate::exec::{Executor, Inputs};
use crate::gather::NodeAnswer;

/// The nodes' grace after a pane's end before they read it (see the
/// fragment host), plus transfer.
const NODE_GRACE_NS: i64 = 1_500_000_000;
/// Most panes a window may hold.
const MAX_PANES: i64 = loupe_topology::validate::MAX_PANES;
/// How far past the next pane a node's pane may end and still be kept
/// (clock skew): five minutes.
const PANE_HORIZON_NS: i64 = 300_000_000_000;

impl QueryPlanner {
    /// Takes a live query: deploys, replies where its windows come, then
    /// serves it until its lease lapses or it is cancelled.
    pub(super) async fn answer_live(&self, m: async_nats::Message) -> anyhow::Result<()> {
        let Some(reply) = m.reply.clone() else {
            return Ok(());
        };
        let qid = QueryId::new(
            &self.cfg.name,
            self.seq.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        );
        let refuse = |e| LiveAccepted {
            qid: qid.to_string(),
            lease_ns: 0,
            nodes: Vec::new(),
            error: Some(e),
        };
        let who = super::audit::requester(m.headers.as_ref(), &m.payload, &self.cfg.users);
        let req = match self.wire.receive::<LiveRequest>(
            Inbound::Live,
            Kind::LiveRequest,
            &m.payload,
            &Arrival::any(),
        ) {
            Ok(r) => r,
            Err(e) => {
                let a = refuse(e.into());
                self.client
                    .publish(reply, codec::encode(Kind::LiveAccepted, &a)?.into())
                    .await?;
                return Ok(());
            }
        };
        let every = req.every_ns.max(500_000_000);
        let window = req.window_ns.max(every);
        let checked = if window / every > MAX_PANES {
            Err(format!(
                "a window of {} s holds more than {MAX_PANES} panes of {} ms: refresh less often or shorten the window",
                window / 1_000_000_000,
                every / 1_000_000
            ))
        } else if req.plan.sinks.iter().any(|s| s.export.is_some()) {
            Err("px.export runs once per query or on a schedule: `loupe run` it, or `loupe export add` it to repeat every period".into())
        } else {
            let mut plan = req.plan.clone();
            self.bind(&mut plan);
            split(&plan)
        };
        let checked = checked.and_then(|d| Ok((Combiner::new(&d.node)?, d)));
        let (combiner, d) = match checked {
            Ok(d) => d,
            Err(e) => {
                let a = refuse(err(QueryErrorKind::BadPlan, ErrorDomain::User, e));
                self.client
                    .publish(reply, codec::encode(Kind::LiveAccepted, &a)?.into())
                    .await?;
                return Ok(());
            }
        };
        let (alive, _) = self.nodes();
        let lease_subject = String::from(Subject::query_lease(&qid));
        let partial_subject = Subject::query_partial(&qid);
        // Subscribed before any node can send.
        let partials = self
            .client
            .subscribe(String::from(partial_subject.clone()))
            .await?;
        let leases = self.client.subscribe(lease_subject.clone()).await?;
        let cancels = self
            .client
            .subscribe(String::from(Subject::query_cancel(&qid)))
            .await?;
        let deploy = Deploy {
            qid: qid.to_string(),
            fragment: d.node.clone(),
            send_to: SendTo::Planner,
            deadline_ns: i64::MAX,
            // A live fragment lives by its lease.
            timeout_ns: 0,
            live: Some(LiveSpec {
                every_ns: every,
                lease_ns: every.max(1_000_000_000),
                backfill_ns: window - every,
            }),
            merge: None,
        };
        let mut deployed = BTreeSet::new();
        let mut refused = Vec::new();
        let acks = futures::future::join_all(alive.iter().map(|n| self.deploy(n, &deploy))).await;
        for (n, ack) in alive.iter().zip(acks) {
            match ack {
                Ok(()) => {
                    deployed.insert(n.clone());
                }
                Err(why) => refused.push((n.clone(), why)),
            }
        }
        let accepted = LiveAccepted {
            qid: qid.to_string(),
            lease_ns: every.max(1_000_000_000),
            nodes: deployed.iter().cloned().collect(),
            error: deployed.is_empty().then(|| {
                err(
                    QueryErrorKind::NoNodes,
                    ErrorDomain::External,
                    format!(
                        "no agent took the fragment (alive: {}; refused: {})",
                        alive.len(),
                        refused
                            .iter()
                            .map(|(n, e)| format!("{n}: {e}"))
                            .collect::<Vec<_>>()
                            .join("; ")
                    ),
                )
            }),
        };
        self.client
            .publish(reply, codec::encode(Kind::LiveAccepted, &accepted)?.into())
            .await?;
        if accepted.error.is_some() {
            return Ok(());
        }
        tracing::info!(qid = %qid, script = req.script, nodes = deployed.len(), every_ms = every / 1_000_000, window_ms = window / 1_000_000, "live query started");
        let started = std::time::Instant::now();
        let asked: Vec<String> = deployed.iter().cloned().collect();
        let mut live = Live {
            every,
            window,
            lease: Duration::from_nanos(
                2 * deploy.live.as_ref().map_or(every, |l| l.lease_ns) as u64,
            ),
            results: String::from(Subject::query_results(&qid)),
            tables: req.plan.sinks.iter().map(|s| s.name.clone()).collect(),
            window_state: Some(PaneWindow::new(combiner)),
            pushed_through: i64::MIN,
            answered: (0, 0, 0),
        };
        let why = self
            .serve_live(
                &qid,
                &d,
                &deploy,
                &mut live,
                deployed,
                (partials, leases, cancels),
            )
            .await;
        // The end, for every node (they would drop it on their own too).
        self.cancel(&qid).await;
        tracing::info!(qid = %qid, "live query ended: {why}");
        // One audit line per live query, when it ends: what it answered
        // over its life.
        let (windows, rows, bytes) = live.answered;
        let summary = QueryDone {
            answered: asked
                .into_iter()
                .map(|node| NodeReport {
                    node,
                    ..Default::default()
                })
                .collect(),
            elapsed_ms: started.elapsed().as_secs_f64() * 1e3,
            ..QueryDone::default()
        };
        let mut line = self.audit_line(
            "live",
            &qid,
            who,
            (&req.script, &req.origin),
            &m.payload,
            &summary,
            (rows, bytes),
        );
        line["outcome"] = serde_json::Value::from(format!("ended: {why}"));
        line["windows"] = serde_json::Value::from(windows);
        super::audit::record(&self.client, line).await;
        Ok(())
    }

    async fn serve_live(
        &self,
        qid: &QueryId,
        d: &Distributed,
        deploy: &Deploy,
        live: &mut Live,
        mut deployed: BTreeSet<String>,
        (mut partials, mut leases, mut cancels): (
            async_nats::Subscriber,
            async_nats::Subscriber,
            async_nats::Subscriber,
        ),
    ) -> &'static str {
        // pane end -> node -> what it sent for that pane
        let mut panes: BTreeMap<i64, BTreeMap<String, NodeAnswer>> = BTreeMap::new();
        let mut next_pane = (wall_now_ns() / live.every + 1) * live.every;
        // Panes before it are the nodes' backfill of the first window.
        let first_pane = next_pane;
        // Nodes that join later start at the next pane: the window's past
        // panes are closed by then.
        let mut rejoin = deploy.clone();
        if let Some(l) = rejoin.live.as_mut() {
            l.backfill_ns = 0;
        }
        let mut late = 0u64;
        let mut last_lease = Instant::now();
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        loop {
            tokio::select! {
                m = partials.next() => {
                    let Some(m) = m else { return "the NATS subscription closed" };
                    let arrival = Arrival::query(qid.as_str());
                    let Ok(c) = self.wire.receive::<PartialChunk>(Inbound::Partial, Kind::PartialChunk, &m.payload, &arrival) else {
                        continue;
                    };
                    // Panes are on the query's grid and not far ahead of
                    // the window (a node's clock may be off by a few
                    // minutes, no more): anything else would be kept for
                    // nothing.
                    let pane = c.part.pane_ns;
                    let horizon = next_pane + live.every + PANE_HORIZON_NS;
                    if pane % live.every != 0 || pane > horizon {
                        let e = codec::Rejected::new(codec::Reason::Range, format!("a pane ending {} off the query's panes or too far ahead", pane));
                        self.wire.rejected(Inbound::Partial, &e);
                        continue;
                    }
                    // Panes already in the window, and live panes whose
                    // window closed, are late; earlier ones are the backfill.
                    if pane <= live.pushed_through || (pane < next_pane && pane >= first_pane) {
                        if c.end.is_some() {
                            late += 1;
                        }
                        continue;
                    }
                    let a = panes.entry(pane).or_default().entry(c.from.clone()).or_default();
                    a.take(c);
                }
                m = leases.next() => {
                    let Some(m) = m else { return "the NATS subscription closed" };
                    let arrival = Arrival::query(qid.as_str());
                    if self.wire.receive::<Lease>(Inbound::Lease, Kind::Lease, &m.payload, &arrival).is_ok() {
                        last_lease = Instant::now();
                    }
                }
                m = cancels.next() => {
                    let Some(m) = m else { return "the NATS subscription closed" };
                    let arrival = Arrival::query(qid.as_str());
                    if self.wire.receive::<Cancel>(Inbound::Cancel, Kind::Cancel, &m.payload, &arrival).is_ok() {
                        return "cancelled";
                    }
                }
                _ = tick.tick() => {
                    if last_lease.elapsed() > live.lease {
                        return "lease expired: the subscriber is gone";
                    }
                    let now = wall_now_ns();
                    let complete = panes.get(&next_pane).is_some_and(|p| {
                        deployed.iter().all(|n| p.get(n).is_some_and(|a| a.done))
                    });
                    if !complete && now < next_pane + NODE_GRACE_NS + live.every {
                        continue;
                    }
                    let done = self.close_window(qid, d, live, &mut panes, next_pane, &deployed, late).await;
                    if let Err(e) = done {
                        tracing::warn!(qid = %qid, error = %e, "could not publish a window");
                    }
                    // A node that sent nothing for the closing pane may have
                    // restarted without its fragment: deploy again if it is
                    // alive (a node that still runs it just acks).
                    if let Some(p) = panes.get(&next_pane) {
                        deployed.retain(|n| p.contains_key(n));
                    } else {
                        deployed.clear();
                    }
                    // Panes older than the next window are no longer needed.
                    let keep_from = next_pane + live.every - live.window;
                    panes.retain(|p, _| *p > keep_from);
                    next_pane += live.every;
                    if next_pane + live.every < now - NODE_GRACE_NS {
                        // The planner fell behind: jump to the present.
                        next_pane = (now / live.every) * live.every;
                    }
                    // Nodes that came (back): deploy to them for the next panes.
                    let (alive, _) = self.nodes();
                    let joining: Vec<String> =
                        alive.into_iter().filter(|n| !deployed.contains(n)).collect();
                    let acks = futures::future::join_all(joining.iter().map(|n| self.deploy(n, &rejoin))).await;
                    for (n, ack) in joining.into_iter().zip(acks) {
                        if ack.is_ok() {
                            tracing::debug!(qid = %qid, node = n, "node (re)joined the live query");
                            deployed.insert(n);
                        }
                    }
                }
            }
        }
    }

    /// Closes the pane ending at `pane` (and any earlier one not yet in the
    /// window), answers for the window ending there and publishes it.
    #[allow(clippy::too_many_arguments)]
    async fn close_window(
        &self,
        qid: &QueryId,
        d: &Distributed,
        live: &mut Live,
        panes: &mut BTreeMap<i64, BTreeMap<String, NodeAnswer>>,
        pane: i64,
        deployed: &BTreeSet<String>,
        late: u64,
    ) -> anyhow::Result<()> {
        let started = Instant::now();
        let start = pane - live.window;
        let mut done = QueryDone {
            tables: live.tables.clone(),
            planner: self.cfg.name.clone(),
            window: Some((start, pane)),
            late_partials: late,
            metadata_age_ms: self.metadata_age_ms(),
            ..QueryDone::default()
        };
        // The panes that closed, each combined over its nodes; their
        // batches leave the pane map (which keeps what the window reports).
        let mut closed: Vec<(i64, Vec<Channels>)> = Vec::new();
        // Panes only move forward (an inverted range would panic).
        use std::ops::Bound::{Excluded, Included};
        let newer = if pane > live.pushed_through {
            (Excluded(live.pushed_through), Included(pane))
        } else {
            // Empty: nothing new to close.
            (Excluded(pane), Included(pane))
        };
        for (p, nodes) in panes.range_mut(newer) {
            let parts = nodes
                .values_mut()
                .filter(|a| a.done && a.error.is_none())
                .map(|a| {
                    let mut c = Channels::new();
                    for (ch, b) in std::mem::take(&mut a.batches) {
                        c.entry(ch).or_default().push(b);
                    }
                    c
                })
                .collect();
            closed.push((*p, parts));
        }
        live.pushed_through = live.pushed_through.max(pane);
        let mut reports: BTreeMap<String, NodeReport> = BTreeMap::new();
        let mut missing: BTreeMap<String, String> = BTreeMap::new();
        for (p, nodes) in panes.range(start + 1..=pane) {
            for (n, a) in nodes {
                match (&a.error, a.done) {
                    (None, true) => {
                        if let Some(r) = &a.report {
                            let e = reports.entry(n.clone()).or_insert_with(|| NodeReport {
                                node: n.clone(),
                                ..Default::default()
                            });
                            e.rows_scanned += r.rows_scanned;
                            e.exec_ms += r.exec_ms;
                            e.losses.add(&r.losses);
                        }
                    }
                    (Some(e), _) => {
                        missing.insert(n.clone(), format!("pane ending {p}: {e}"));
                    }
                    (None, false) => {
                        missing.insert(n.clone(), format!("pane ending {p} incomplete"));
                    }
                }
            }
        }
        // Deployed nodes that sent nothing for the closing pane.
        for n in deployed {
            let sent = panes.get(&pane).is_some_and(|p| p.contains_key(n));
            if !sent {
                missing
                    .entry(n.clone())
                    .or_insert_with(|| "no partial for the latest pane".into());
            }
        }
        for (n, why) in missing {
            reports.remove(&n);
            done.missing.push((n, why));
        }
        done.answered = reports.into_values().collect();
        self.note_skew(&mut done.answered);
        done.partial = !done.missing.is_empty();
        let merge = d.merge.clone();
        let mut window = live
            .window_state
            .take()
            .ok_or_else(|| anyhow::anyhow!("internal: the window is gone"))?;
        let (window, tables) = tokio::task::spawn_blocking(move || {
            let tables = (|| {
                for (p, parts) in closed {
                    let combined = window.combiner().combine(&parts)?;
                    window.push(p, combined)?;
                }
                window.evict_through(start)?;
                let mut inputs = Inputs::default();
                inputs.channels.extend(window.total()?);
                Executor::new(&merge, &inputs).run_sinks()
            })();
            (window, tables)
        })
        .await?;
        live.window_state = Some(window);
        let tables = match tables {
            Ok(t) if super::answer_bytes(&t) > self.cfg.answer_budget => {
                done.error = Some(self.over_budget());
                Vec::new()
            }
            Ok(t) => t,
            Err(e) => {
                done.error = Some(err(
                    QueryErrorKind::Execution,
                    ErrorDomain::Internal,
                    e.to_string(),
                ));
                Vec::new()
            }
        };
        done.elapsed_ms = started.elapsed().as_secs_f64() * 1e3;
        let results = async_nats::Subject::from(live.results.clone());
        live.answered.0 += 1;
        live.answered.1 += tables.iter().map(|t| t.num_rows() as u64).sum::<u64>();
        live.answered.2 += super::answer_bytes(&tables);
        let published = self.reply(qid, results, tables, done).await;
        // After the answer is out: the window's turn-over, if due, so the
        // next refresh does not wait for it.
        if let Some(mut window) = live.window_state.take() {
            let window = tokio::task::spawn_blocking(move || {
                let r = window.upkeep();
                (window, r)
            })
            .await;
            match window {
                Ok((w, r)) => {
                    live.window_state = Some(w);
                    r?;
                }
                Err(e) => return Err(e.into()),
            }
        }
        published
    }
}

/// A live query's shape.
struct Live {
    every: i64,
    window: i64,
    /// No renewal for this long ends the query.
    lease: Duration,
    results: String,
    tables: Vec<String>,
    /// The window's panes, combined (out while a refresh runs).
    window_state: Option<PaneWindow>,
    /// The newest pane in the window.
    pushed_through: i64,
    /// Windows, rows and bytes answered so far (for the audit line).
    answered: (u64, u64, u64),
}
