//! The QueryPlanner: takes compiled scripts from the planner queue group
//! (so several planners share the load and any one can die), splits each
//! plan into a node fragment and a merge fragment, deploys the node fragment
//! to every live node (request-reply, acked), gathers their partials on the
//! query's subject, runs the merge, and answers in chunks. Live nodes are
//! known from their heartbeats; a node heard from recently that does not
//! answer in time, and one that went quiet, are named in the answer, which
//! is then marked partial. Every query ends with a cancel on its subject, so
//! no fragment outlives it.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arrow::record_batch::RecordBatch;
use futures::StreamExt;
use loupe_topology::codec::{self, Kind};
use loupe_topology::messages::{
    Cancel, Channel, Deploy, DeployAck, End, ErrorDomain, NodeReport, NodeSeen, NodeStatus,
    NodesReply, PartialChunk, QueryDone, QueryError, QueryErrorKind, QueryRequest, ResultChunk,
    SendTo,
};
use loupe_topology::plan::split;
use loupe_topology::subjects::{Inbound, NodeName, PLANNER_GROUP, QueryId, Subject, node_in};
use loupe_topology::validate::Arrival;

use crate::clock::wall_now_ns;

mod audit;
mod live;
mod schedule;
mod tree;
use crate::exec::{Executor, Inputs};
use crate::gather::{NodeAnswer, fold};
use crate::supervise::guarded;
use crate::wire::WireGuard;
use tree::MergeTree;

#[derive(Clone, Debug)]
pub struct PlannerConfig {
    pub name: String,
    /// A node heard from within this long is expected to answer.
    pub alive: Duration,
    /// A node quiet for longer than `alive` but less than this is reported
    /// missing; after it, forgotten.
    pub forget: Duration,
    /// How long a deploy may wait for its ack.
    pub deploy_timeout: Duration,
    /// Most partials any one process receives for a query: with more nodes
    /// than this, partials merge on nodes first, in a tree of this fan-in.
    pub merge_fanin: usize,
    /// Most nodes the registry holds; a heartbeat of a new node beyond it
    /// is refused (and counted).
    pub max_nodes: usize,
    /// Most bytes of partials a query may bring to the planner, and of
    /// its answer (`--answer-budget-mib`).
    pub answer_budget: u64,
    /// The roles of the NKeys `loupe auth init` made (public key -> role),
    /// for the audit line.
    pub users: HashMap<String, String>,
    /// In a cluster: what the planner knows of it (the metadata bucket).
    pub meta: Option<crate::metadata::Shared>,
    /// The agents' DaemonSet, `namespace/name`: its pods say why a node
    /// has no agent (`--agent-daemonset`).
    pub agent_daemonset: String,
    /// The cluster's name (`--cluster-name`): `px.vizier_name()`, and its
    /// id's seed.
    pub cluster_name: String,
}

impl Default for PlannerConfig {
    fn default() -> Self {
        PlannerConfig {
            name: "planner".into(),
            alive: Duration::from_secs(10),
            forget: Duration::from_secs(300),
            deploy_timeout: Duration::from_secs(2),
            merge_fanin: 32,
            meta: None,
            agent_daemonset: "loupe/loupe-agent".into(),
            cluster_name: "loupe".into(),
            max_nodes: 10_000,
            answer_budget: 256 << 20,
            users: HashMap::new(),
        }
    }
}

#[derive(Default)]
struct Registry {
    nodes: HashMap<String, Heard>,
}

/// A node's latest status, when it came, and the kernel record count of the
/// status before it (for a rate).
struct Heard {
    at: Instant,
    status: NodeStatus,
    prev_events: Option<(Instant, u64)>,
    /// Its clock minus ours when the status came.
    skew_ns: i64,
}

/// The cluster's id: a UUID (version 5's layout) from the SHA-256 of its
/// name, so every planner of the cluster gives the same.
pub fn cluster_id(name: &str) -> String {
    use sha2::Digest;
    let mut h = sha2::Sha256::digest(format!("loupe-cluster:{name}").as_bytes());
    h[6] = (h[6] & 0x0f) | 0x50;
    h[8] = (h[8] & 0x3f) | 0x80;
    let x: String = h[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &x[..8],
        &x[8..12],
        &x[12..16],
        &x[16..20],
        &x[20..32]
    )
}

/// The longest a one-shot answer waits for its exports (the CLI waits as
/// long beyond the nodes' timeout).
const EXPORT_BUDGET: Duration = Duration::from_secs(30);

/// The kernel's record counter, whose rate `loupe nodes` shows.
const EVENTS: loupe_topology::metrics::Metric = loupe_topology::metrics::Metric::CaptureEvents;

#[derive(Clone)]
pub struct QueryPlanner {
    client: async_nats::Client,
    cfg: PlannerConfig,
    registry: Arc<Mutex<Registry>>,
    seq: Arc<AtomicU64>,
    wire: Arc<WireGuard>,
    exporter: Arc<crate::export::Exporter>,
    /// One-shot queries answered: complete, partial, failed.
    outcomes: Arc<[AtomicU64; 3]>,
}

fn err(kind: QueryErrorKind, domain: ErrorDomain, message: String) -> QueryError {
    QueryError {
        kind,
        domain,
        message,
        retryable: matches!(kind, QueryErrorKind::NoNodes | QueryErrorKind::Timeout),
    }
}

impl QueryPlanner {
    pub fn new(client: async_nats::Client, cfg: PlannerConfig) -> Self {
        QueryPlanner {
            client,
            cfg,
            registry: Arc::default(),
            seq: Arc::default(),
            wire: Arc::default(),
            exporter: crate::export::Exporter::new(crate::export::send::OtelEnv::from_process()),
            outcomes: Arc::default(),
        }
    }

    /// Binds what the planner answers in a plan: the cluster's name, id
    /// and namespace (`px.vizier_name()`, ...).
    pub(crate) fn bind(&self, plan: &mut loupe_topology::plan::Plan) {
        let name = self.cfg.cluster_name.clone();
        plan.bind_planner_values(&|f| {
            Some(loupe_topology::plan::Scalar::String(match f {
                "vizier_name" => name.clone(),
                "vizier_id" => cluster_id(&name),
                "vizier_namespace" => std::env::var("POD_NAMESPACE").unwrap_or_default(),
                _ => return None,
            }))
        });
    }

    /// The planner's name (its queue group member's).
    pub fn name(&self) -> &str {
        &self.cfg.name
    }

    /// The exporter of `px.export` (its counters are the planner's).
    pub fn exporter(&self) -> &Arc<crate::export::Exporter> {
        &self.exporter
    }

    /// Serves until the connection closes.
    pub async fn run(self) -> anyhow::Result<()> {
        let mut beats = self
            .client
            .subscribe(String::from(Subject::heartbeats()))
            .await?;
        let mut plans = self
            .client
            .queue_subscribe(String::from(Subject::plan()), PLANNER_GROUP.into())
            .await?;
        let mut lists = self
            .client
            .queue_subscribe(String::from(Subject::nodes()), PLANNER_GROUP.into())
            .await?;
        let mut lives = self
            .client
            .queue_subscribe(String::from(Subject::live()), PLANNER_GROUP.into())
            .await?;
        let mut exports = self
            .client
            .queue_subscribe(String::from(Subject::exports()), PLANNER_GROUP.into())
            .await?;
        // Scheduled exports: every planner of the group looks; one runs
        // each period.
        tokio::spawn(self.clone().run_schedules());
        self.seed().await;
        tracing::info!(planner = %self.cfg.name, "planning on {}", Subject::plan());
        loop {
            tokio::select! {
                Some(m) = beats.next() => {
                    // A heartbeat speaks for the node its subject names.
                    let arrival = Arrival::node(node_in(m.subject.as_str()).unwrap_or(""));
                    self.heard(Inbound::Heartbeat, Kind::Heartbeat, &m.payload, &arrival);
                }
                Some(m) = lives.next() => {
                    let this = self.clone();
                    tokio::spawn(async move {
                        if let Ok(Err(e)) = guarded("planner-live", this.answer_live(m)).await {
                            tracing::warn!(error = %e, "could not serve a live query");
                        }
                    });
                }
                Some(m) = exports.next() => {
                    let this = self.clone();
                    tokio::spawn(async move {
                        if let Ok(Err(e)) = guarded("planner-exports", this.answer_exports(m)).await {
                            tracing::warn!(error = %e, "could not answer an export command");
                        }
                    });
                }
                Some(m) = lists.next() => {
                    if let Ok(Err(e)) = guarded("planner-nodes", self.answer_list(m)).await {
                        tracing::warn!(error = %e, "could not answer a node list");
                    }
                }
                Some(m) = plans.next() => {
                    let this = self.clone();
                    tokio::spawn(async move {
                        let reply = m.reply.clone();
                        match guarded("planner-query", this.answer(m)).await {
                            Ok(Ok(())) => {}
                            Ok(Err(e)) => tracing::warn!(error = %e, "could not answer a query"),
                            // Told to the CLI at once, rather than left to
                            // its timeout.
                            Err(p) => this.answer_failure(reply, p).await,
                        }
                    });
                }
                else => break,
            }
        }
        Ok(())
    }

    fn heard(&self, on: Inbound, kind: Kind, payload: &[u8], arrival: &Arrival<'_>) {
        if let Ok(s) = self.wire.receive::<NodeStatus>(on, kind, payload, arrival)
            && let Ok(mut r) = self.registry.lock()
        {
            if !r.nodes.contains_key(&s.node) && r.nodes.len() >= self.cfg.max_nodes {
                let e = codec::Rejected::new(
                    codec::Reason::Range,
                    format!(
                        "node {:?} is one more than the registry's {} (--max-nodes)",
                        s.node, self.cfg.max_nodes
                    ),
                );
                self.wire.rejected(on, &e);
                return;
            }
            let now = Instant::now();
            let prev_events = r
                .nodes
                .get(&s.node)
                .filter(|h| now.duration_since(h.at) >= Duration::from_millis(500))
                .map(|h| (h.at, h.status.counter(EVENTS)))
                .or_else(|| r.nodes.get(&s.node).and_then(|h| h.prev_events));
            let skew_ns = s.wall_ns - wall_now_ns();
            r.nodes.insert(
                s.node.clone(),
                Heard {
                    at: now,
                    status: s,
                    prev_events,
                    skew_ns,
                },
            );
        }
    }

    /// Asks every node for its status once, so a planner that just started
    /// knows the nodes before their next heartbeat.
    async fn seed(&self) {
        let inbox = self.client.new_inbox();
        let Ok(mut sub) = self.client.subscribe(inbox.clone()).await else {
            return;
        };
        let req = match codec::encode(Kind::StatusRequest, &()) {
            Ok(r) => r,
            Err(_) => return,
        };
        if self
            .client
            .publish_with_reply(String::from(Subject::status_all()), inbox, req.into())
            .await
            .is_err()
        {
            return;
        }
        let until = tokio::time::Instant::now() + Duration::from_millis(500);
        while let Ok(Some(m)) = tokio::time::timeout_at(until, sub.next()).await {
            // No agent yet: the server says so (an empty message), not garbage.
            if m.status == Some(async_nats::StatusCode::NO_RESPONDERS) {
                break;
            }
            self.heard(Inbound::Reply, Kind::Status, &m.payload, &Arrival::any());
        }
    }

    /// Each report's node clock skew, from its latest heartbeat.
    /// The rows of the table functions this planner answers (the agents'
    /// state), for the merge fragment.
    fn answer_table_fns(&self, merge: &loupe_topology::plan::Plan, inputs: &mut Inputs) {
        use loupe_topology::plan::{Op, TableFn};
        for (id, n) in merge.nodes.iter().enumerate() {
            let Op::TableFn { func, .. } = &n.op else {
                continue;
            };
            if !func.def().planner {
                continue;
            }
            let list = self.list();
            let batch = match func {
                TableFn::AgentStatus => agent_status(&list),
                _ => tracepoint_status(&list),
            };
            if let Ok(b) = batch {
                inputs.tables.insert(id, vec![b]);
            }
        }
    }

    fn note_skew(&self, reports: &mut [NodeReport]) {
        if let Ok(r) = self.registry.lock() {
            for rep in reports {
                rep.clock_skew_ms = r.nodes.get(&rep.node).map(|h| h.skew_ns as f64 / 1e6);
            }
        }
    }

    /// (alive, quiet for how long)
    fn nodes(&self) -> (Vec<String>, Vec<(String, Duration)>) {
        let mut alive = Vec::new();
        let mut quiet = Vec::new();
        if let Ok(mut r) = self.registry.lock() {
            r.nodes.retain(|_, h| h.at.elapsed() < self.cfg.forget);
            for (n, h) in &r.nodes {
                if h.at.elapsed() < self.cfg.alive {
                    alive.push(n.clone());
                } else {
                    quiet.push((n.clone(), h.at.elapsed()));
                }
            }
        }
        alive.sort();
        quiet.sort();
        (alive, quiet)
    }

    /// How old this planner's cluster metadata is (`None`: not in a
    /// cluster).
    pub(crate) fn metadata_age_ms(&self) -> Option<u64> {
        self.cfg
            .meta
            .as_ref()
            .and_then(|m| crate::metadata::age_ms(m, crate::clock::wall_now_ns()))
    }

    /// Every node this planner heard from within the forget window.
    fn list(&self) -> NodesReply {
        let mut nodes = Vec::new();
        if let Ok(mut r) = self.registry.lock() {
            r.nodes.retain(|_, h| h.at.elapsed() < self.cfg.forget);
            for h in r.nodes.values() {
                let events_per_s = h.prev_events.and_then(|(t, e)| {
                    let dt = h.at.duration_since(t).as_secs_f64();
                    (dt > 0.0).then(|| h.status.counter(EVENTS).saturating_sub(e) as f64 / dt)
                });
                nodes.push(NodeSeen {
                    status: h.status.clone(),
                    last_seen_ms: h.at.elapsed().as_millis() as u64,
                    alive: h.at.elapsed() < self.cfg.alive,
                    events_per_s,
                    clock_skew_ms: h.skew_ns as f64 / 1e6,
                });
            }
        }
        nodes.sort_by(|a, b| a.status.node.cmp(&b.status.node));
        let reporting: std::collections::BTreeSet<String> = nodes
            .iter()
            .filter(|n| n.alive)
            .map(|n| n.status.node.clone())
            .collect();
        let cluster = self.cfg.meta.as_ref().and_then(|m| {
            crate::metadata::coverage(
                m,
                &reporting,
                &self.cfg.agent_daemonset,
                crate::clock::wall_now_ns(),
            )
        });
        NodesReply {
            cluster,
            planner: self.cfg.name.clone(),
            alive_within_ms: self.cfg.alive.as_millis() as u64,
            nodes,
            planner_counters: self.counters(),
        }
    }

    /// The planner's own counters and gauges (`loupe nodes` shows them;
    /// `/metrics` serves them).
    pub fn counters(&self) -> Vec<(String, u64)> {
        use loupe_topology::metrics::Metric;
        let mut out = self.wire.counters();
        out.extend(crate::supervise::counters());
        if let Some(m) = &self.cfg.meta {
            out.extend(crate::metadata::gauges(m, crate::clock::wall_now_ns()));
        }
        let (mut alive, mut quiet) = (0u64, 0u64);
        if let Ok(r) = self.registry.lock() {
            for h in r
                .nodes
                .values()
                .filter(|h| h.at.elapsed() < self.cfg.forget)
            {
                if h.at.elapsed() < self.cfg.alive {
                    alive += 1;
                } else {
                    quiet += 1;
                }
            }
        }
        out.push((Metric::PlannerNodes.sample(&["alive"]), alive));
        out.push((Metric::PlannerNodes.sample(&["quiet"]), quiet));
        for (i, outcome) in ["complete", "partial", "error"].iter().enumerate() {
            out.push((
                Metric::PlannerQueries.sample(&[outcome]),
                self.outcomes[i].load(Ordering::Relaxed),
            ));
        }
        let c = &self.exporter.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        out.push((Metric::ExportRequests.sample(&[]), get(&c.requests)));
        out.push((Metric::ExportRetries.sample(&[]), get(&c.retries)));
        out.push((
            Metric::ExportPoints.sample(&["delivered"]),
            get(&c.delivered),
        ));
        out.push((Metric::ExportPoints.sample(&["lost"]), get(&c.lost)));
        out.push((Metric::ExportPoints.sample(&["skipped"]), get(&c.skipped)));
        out
    }

    async fn answer_list(&self, m: async_nats::Message) -> anyhow::Result<()> {
        let asked = self.wire.receive::<()>(
            Inbound::Nodes,
            Kind::NodesRequest,
            &m.payload,
            &Arrival::any(),
        );
        if let (Some(reply), Ok(())) = (m.reply, asked) {
            let bytes = codec::encode(Kind::NodesReply, &self.list())?;
            self.client.publish(reply, bytes.into()).await?;
        }
        Ok(())
    }

    async fn answer(&self, m: async_nats::Message) -> anyhow::Result<()> {
        let Some(reply) = m.reply.clone() else {
            return Ok(());
        };
        let started = Instant::now();
        let qid = QueryId::new(&self.cfg.name, self.seq.fetch_add(1, Ordering::Relaxed));
        let who = audit::requester(m.headers.as_ref(), &m.payload, &self.cfg.users);
        let mut what = None;
        let (tables, done) = match self.wire.receive::<QueryRequest>(
            Inbound::Plan,
            Kind::QueryRequest,
            &m.payload,
            &Arrival::any(),
        ) {
            Ok(req) => {
                what = Some((req.script.clone(), req.origin.clone()));
                self.execute(&qid, req, EXPORT_BUDGET).await
            }
            Err(e) => (
                Vec::new(),
                QueryDone {
                    error: Some(e.into()),
                    ..QueryDone::default()
                },
            ),
        };
        let mut done = done;
        done.planner = self.cfg.name.clone();
        done.elapsed_ms = started.elapsed().as_secs_f64() * 1e3;
        let outcome = match (&done.error, done.partial) {
            (Some(_), _) => 2,
            (None, true) => 1,
            (None, false) => 0,
        };
        self.outcomes[outcome].fetch_add(1, Ordering::Relaxed);
        tracing::info!(
            qid = %qid,
            nodes = done.answered.len(),
            missing = done.missing.len(),
            ms = done.elapsed_ms,
            error = ?done.error.as_ref().map(|e| &e.message),
            "query answered"
        );
        if let Some((script, origin)) = what {
            let line = self.audit_line(
                "query",
                &qid,
                who,
                (&script, &origin),
                &m.payload,
                &done,
                (
                    tables.iter().map(|t| t.num_rows() as u64).sum(),
                    answer_bytes(&tables),
                ),
            );
            audit::record(&self.client, line).await;
        }
        self.reply(&qid, reply, tables, done).await
    }

    /// The audit line of a query (see [`audit`]).
    #[allow(clippy::too_many_arguments)]
    fn audit_line(
        &self,
        kind: &str,
        qid: &QueryId,
        who: serde_json::Value,
        (script, origin): (&str, &loupe_topology::messages::Origin),
        request: &[u8],
        done: &QueryDone,
        (rows, bytes): (u64, u64),
    ) -> serde_json::Value {
        let mut asked: Vec<&str> = done.answered.iter().map(|r| r.node.as_str()).collect();
        asked.extend(done.missing.iter().map(|(n, _)| n.as_str()));
        asked.sort();
        asked.dedup();
        let outcome = match (&done.error, done.partial) {
            (Some(_), _) => "error",
            (None, true) => "partial",
            (None, false) => "complete",
        };
        serde_json::json!({
            "audit": kind,
            "time_ns": wall_now_ns(),
            "planner": self.cfg.name,
            "qid": qid.as_str(),
            "requester": who,
            "script": script,
            "script_sha256": origin.source_sha256,
            "first_line": origin.first_line,
            "args": origin.args.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>(),
            "request_sha256": audit::sha256(request),
            "nodes_asked": asked,
            "nodes_answered": done.answered.len(),
            "rows": rows,
            "bytes": bytes,
            "outcome": outcome,
            "error_kind": done.error.as_ref().map(|e| format!("{:?}", e.kind)),
            "error": done.error.as_ref().map(|e| e.message.clone()),
            "elapsed_ms": done.elapsed_ms,
        })
    }

    async fn reply(
        &self,
        qid: &QueryId,
        reply: async_nats::Subject,
        tables: Vec<RecordBatch>,
        done: QueryDone,
    ) -> anyhow::Result<()> {
        let limit = loupe_topology::stream::chunk_limit(self.client.server_info().max_payload);
        let mut pieces: Vec<(u32, Vec<u8>)> = Vec::new();
        for (i, t) in tables.iter().enumerate() {
            for ipc in crate::service::encode_chunks(std::slice::from_ref(t), limit)? {
                pieces.push((i as u32, ipc));
            }
        }
        for chunk in ResultChunk::stream(qid.as_str(), &self.cfg.name, pieces, End::Done(done)) {
            self.client
                .publish(
                    reply.clone(),
                    codec::encode(Kind::ResultChunk, &chunk)?.into(),
                )
                .await?;
        }
        self.client.flush().await?;
        Ok(())
    }

    /// Plans, deploys, gathers and merges one query.
    /// (`budget`: the longest its exports may retry.)
    async fn execute(
        &self,
        qid: &QueryId,
        req: QueryRequest,
        budget: Duration,
    ) -> (Vec<RecordBatch>, QueryDone) {
        let mut done = QueryDone {
            tables: req
                .plan
                .sinks
                .iter()
                .filter(|s| s.export.is_none())
                .map(|s| s.name.clone())
                .collect(),
            metadata_age_ms: self.metadata_age_ms(),
            ..QueryDone::default()
        };
        let mut req = req;
        self.bind(&mut req.plan);
        let d = match split(&req.plan) {
            Ok(d) => d,
            Err(e) => {
                done.error = Some(err(QueryErrorKind::BadPlan, ErrorDomain::User, e));
                return (Vec::new(), done);
            }
        };
        let (alive, quiet) = self.nodes();
        for (n, t) in quiet {
            done.missing
                .push((n, format!("no heartbeat for {}s", t.as_secs())));
        }
        let mut inputs = Inputs::default();
        self.answer_table_fns(&d.merge, &mut inputs);
        if d.node.outputs.is_empty() {
            // Nothing read from the nodes (only table functions): answered here.
            return self.merge(d.merge, inputs, done, budget).await;
        }
        if alive.is_empty() {
            done.partial = !done.missing.is_empty();
            done.error = Some(err(
                QueryErrorKind::NoNodes,
                ErrorDomain::External,
                format!(
                    "no agent has sent a heartbeat in the last {}s: is `loupe agent` running and connected to this NATS server?",
                    self.cfg.alive.as_secs()
                ),
            ));
            return (Vec::new(), done);
        }
        let node_timeout = Duration::from_millis(req.node_timeout_ms.clamp(100, 600_000));
        let partial_subject = Subject::query_partial(qid);
        let mut sub = match self
            .client
            .subscribe(String::from(partial_subject.clone()))
            .await
        {
            Ok(s) => s,
            Err(e) => {
                done.error = Some(err(
                    QueryErrorKind::Wire,
                    ErrorDomain::External,
                    e.to_string(),
                ));
                return (Vec::new(), done);
            }
        };
        let deadline = Instant::now() + node_timeout;
        let deadline_ns = wall_now_ns() + node_timeout.as_nanos() as i64;
        let mut tree = MergeTree::plan(&alive, self.cfg.merge_fanin);
        if tree.levels() > 0 {
            // Merge nodes first, so they listen before anyone sends; if one
            // does not take its part, partials come straight here instead
            // (the others' parts lapse at their deadlines, unheard).
            let merges = tree.merge_deploys(qid, &d.node, deadline_ns, node_timeout);
            let acks =
                futures::future::join_all(merges.iter().map(|(n, m)| self.deploy(n, m))).await;
            if let Some((n, why)) = merges
                .iter()
                .zip(&acks)
                .find_map(|((n, _), a)| a.as_ref().err().map(|e| (n, e)))
            {
                tracing::warn!(qid = %qid, node = n, why = %why, "a merge node refused: partials come straight to the planner");
                tree = MergeTree::plan(&alive, usize::MAX);
            }
        }
        let leaf_deadline = tree.leaf_deadline(deadline_ns, node_timeout);
        let leaves: Vec<(String, Deploy)> = alive
            .iter()
            .map(|n| {
                (
                    n.clone(),
                    Deploy {
                        qid: qid.to_string(),
                        fragment: d.node.clone(),
                        send_to: tree.destination(n),
                        deadline_ns: leaf_deadline,
                        timeout_ns: node_timeout.as_nanos() as i64 - tree.leaf_margin(node_timeout),
                        live: None,
                        merge: None,
                    },
                )
            })
            .collect();
        let acks = futures::future::join_all(leaves.iter().map(|(n, l)| self.deploy(n, l))).await;
        // What comes here: the top of the tree (every node, when flat).
        let top = tree.top();
        let mut answers: BTreeMap<String, NodeAnswer> = top
            .iter()
            .map(|(n, _)| (n.clone(), NodeAnswer::new()))
            .collect();
        let mut refused: BTreeMap<String, QueryError> = BTreeMap::new();
        for ((n, l), ack) in leaves.iter().zip(acks) {
            let Err(why) = ack else { continue };
            if l.send_to == SendTo::Planner {
                // It would have sent here: not waited for.
                if let Some(a) = answers.get_mut(n) {
                    a.done = true;
                    a.error = Some(why.clone());
                }
            } else {
                // Said on its behalf to its merge node, so that does not
                // wait for it either.
                let chunk = PartialChunk::failure(qid.as_str(), n, Channel::default(), why.clone());
                if let Ok(bytes) = codec::encode(Kind::PartialChunk, &chunk) {
                    let to = Subject::query_send_to(qid, l.send_to);
                    let _ = self.client.publish(String::from(to), bytes.into()).await;
                }
            }
            refused.insert(n.clone(), why);
        }
        let (mut messages, mut bytes) = (0u64, 0u64);
        // Gather until every sender has answered or time is up.
        while answers.values().any(|a| !a.done) {
            let left = deadline.saturating_duration_since(Instant::now());
            let m = match tokio::time::timeout(left, sub.next()).await {
                Ok(Some(m)) => m,
                _ => break,
            };
            messages += 1;
            bytes += m.payload.len() as u64;
            if bytes > self.cfg.answer_budget {
                self.cancel(qid).await;
                let _ = sub.unsubscribe().await;
                done.error = Some(self.over_budget());
                return (Vec::new(), done);
            }
            let Ok(c) = self.wire.receive::<PartialChunk>(
                Inbound::Partial,
                Kind::PartialChunk,
                &m.payload,
                &Arrival::query(qid.as_str()),
            ) else {
                continue;
            };
            if let Some(a) = answers.get_mut(&c.from) {
                a.take(c);
            }
        }
        // Who failed, and how, before the answers are folded: a query that
        // every node refused the same way is at fault itself.
        let failed_kinds: Vec<QueryErrorKind> = answers
            .iter()
            .filter(|(n, _)| !refused.contains_key(*n))
            .filter_map(|(_, a)| a.error.as_ref().map(|e| e.kind))
            .collect();
        self.cancel(qid).await;
        let _ = sub.unsubscribe().await;
        let late = format!("no complete answer within {} ms", node_timeout.as_millis());
        let (parts, merged) = fold(&top, answers, &late);
        done.transfer = loupe_topology::messages::Transfer {
            merge_levels: tree.levels(),
            planner_messages: messages,
            planner_bytes: bytes,
            merge_messages: merged.messages,
            merge_bytes: merged.bytes,
        };
        let mut failed: Vec<String> = Vec::new();
        done.answered = merged.answered;
        self.note_skew(&mut done.answered);
        for (n, why) in merged.missing {
            // A node that could not take its fragment is missing, but not
            // evidence against the query.
            if !refused.contains_key(&n) {
                failed.push(why.clone());
            }
            done.missing.push((n, why));
        }
        done.partial = !done.missing.is_empty();
        // Every node failed, each because of the query (its plan, or
        // running it), not because of itself: the query is at fault.
        let query_at_fault = |k: &QueryErrorKind| {
            matches!(
                k,
                QueryErrorKind::BadPlan | QueryErrorKind::Execution | QueryErrorKind::NotFound
            )
        };
        if done.answered.is_empty()
            && !failed.is_empty()
            && !failed_kinds.is_empty()
            && failed_kinds.iter().all(query_at_fault)
        {
            done.error = Some(err(
                QueryErrorKind::Execution,
                ErrorDomain::User,
                format!("every node failed to run the query: {}", failed[0]),
            ));
            return (Vec::new(), done);
        }
        for p in parts {
            for (ch, bs) in p {
                inputs.channels.entry(ch).or_default().extend(bs);
            }
        }
        self.merge(d.merge, inputs, done, budget).await
    }

    /// Runs the merge fragment over what came (off the async threads) and
    /// answers with its tables, or why not.
    async fn merge(
        &self,
        merge: loupe_topology::plan::Plan,
        inputs: Inputs,
        mut done: QueryDone,
        budget: Duration,
    ) -> (Vec<RecordBatch>, QueryDone) {
        let sinks = merge.sinks.clone();
        let out =
            tokio::task::spawn_blocking(move || Executor::new(&merge, &inputs).run_sinks()).await;
        let why = match out {
            Ok(Ok(tables)) if answer_bytes(&tables) <= self.cfg.answer_budget => {
                // Exported tables go to their receivers, the others to the
                // answer.
                let mut shown = Vec::new();
                for (s, t) in sinks.iter().zip(tables) {
                    match &s.export {
                        None => shown.push(t),
                        Some(x) => done
                            .exports
                            .push(self.exporter.export(&s.name, x, &t, Some(budget)).await),
                    }
                }
                return (shown, done);
            }
            Ok(Ok(_)) => self.over_budget(),
            Ok(Err(e)) => err(
                QueryErrorKind::Execution,
                ErrorDomain::Internal,
                e.to_string(),
            ),
            Err(e) => err(
                QueryErrorKind::Execution,
                ErrorDomain::Internal,
                e.to_string(),
            ),
        };
        done.error = Some(why);
        (Vec::new(), done)
    }

    /// The one answer of a query whose handling panicked.
    async fn answer_failure(&self, reply: Option<async_nats::Subject>, why: String) {
        let Some(reply) = reply else { return };
        let done = QueryDone {
            error: Some(QueryError::new(
                QueryErrorKind::Execution,
                format!("the planner failed on this query: {why}"),
            )),
            planner: self.cfg.name.clone(),
            ..QueryDone::default()
        };
        let qid = QueryId::new(&self.cfg.name, self.seq.fetch_add(1, Ordering::Relaxed));
        let _ = self.reply(&qid, reply, Vec::new(), done).await;
    }

    /// The error of an answer past the budget.
    fn over_budget(&self) -> QueryError {
        QueryError::new(
            QueryErrorKind::Budget,
            format!(
                "the answer exceeds {} MiB: aggregate, filter or add head()",
                self.cfg.answer_budget >> 20
            ),
        )
    }

    /// The end of a query, for every node: drop its fragments.
    async fn cancel(&self, qid: &QueryId) {
        if let Ok(bytes) = codec::encode(
            Kind::Cancel,
            &Cancel {
                qid: qid.to_string(),
            },
        ) {
            let _ = self
                .client
                .publish(String::from(Subject::query_cancel(qid)), bytes.into())
                .await;
        }
    }

    /// Deploys to one node; Err says why it will not answer.
    async fn deploy(&self, node: &str, d: &Deploy) -> Result<(), QueryError> {
        use QueryErrorKind::{Timeout, Unavailable, Wire};
        let subject = NodeName::new(node)
            .map(|n| String::from(Subject::node_deploy(&n)))
            .map_err(|e| QueryError::new(Wire, e.to_string()))?;
        let bytes =
            codec::encode(Kind::Deploy, d).map_err(|e| QueryError::new(Wire, e.to_string()))?;
        let r = tokio::time::timeout(
            self.cfg.deploy_timeout,
            self.client.request(subject, bytes.into()),
        )
        .await;
        match r {
            Err(_) => Err(QueryError::new(
                Timeout,
                format!(
                    "did not ack its fragment within {} ms",
                    self.cfg.deploy_timeout.as_millis()
                ),
            )),
            Ok(Err(e)) if e.kind() == async_nats::RequestErrorKind::NoResponders => Err(
                QueryError::new(Unavailable, "not listening on NATS (agent gone?)"),
            ),
            Ok(Err(e)) => Err(QueryError::new(Unavailable, format!("deploy failed: {e}"))),
            Ok(Ok(m)) => match self.wire.receive::<DeployAck>(
                Inbound::Reply,
                Kind::DeployAck,
                &m.payload,
                &Arrival::query(&d.qid),
            ) {
                Ok(DeployAck { error: None, .. }) => Ok(()),
                Ok(DeployAck { error: Some(e), .. }) => Err(QueryError {
                    message: format!("refused its fragment: {}", e.message),
                    ..e
                }),
                Err(e) => Err(QueryError::new(
                    Wire,
                    format!("answered the deploy with something else: {e}"),
                )),
            },
        }
    }
}

pub use crate::gather::read_ipc;

/// What a set of result tables holds in memory.
pub(crate) fn answer_bytes(tables: &[RecordBatch]) -> u64 {
    tables
        .iter()
        .map(|t| t.get_array_memory_size() as u64)
        .sum()
}

/// `px.GetAgentStatus()`: one row per agent this planner heard from.
fn agent_status(list: &NodesReply) -> Result<RecordBatch, arrow::error::ArrowError> {
    use arrow::array::{BooleanArray, Int64Array, StringArray, TimestampNanosecondArray};
    use loupe_topology::plan::TableFn;
    let n = &list.nodes;
    let ms = 1_000_000i64;
    let cols: Vec<arrow::array::ArrayRef> = vec![
        std::sync::Arc::new(
            n.iter()
                .map(|x| Some(x.status.node.clone()))
                .collect::<StringArray>(),
        ),
        std::sync::Arc::new(
            n.iter()
                .map(|x| Some(crate::exec::meta::asid(&x.status.node)))
                .collect::<Int64Array>(),
        ),
        std::sync::Arc::new(
            n.iter()
                .map(|x| Some(x.status.node.clone()))
                .collect::<StringArray>(),
        ),
        std::sync::Arc::new(n.iter().map(|_| Some("")).collect::<StringArray>()),
        std::sync::Arc::new(
            n.iter()
                .map(|x| {
                    Some(if x.alive {
                        "AGENT_STATE_HEALTHY"
                    } else {
                        "AGENT_STATE_UNRESPONSIVE"
                    })
                })
                .collect::<StringArray>(),
        ),
        // When the agent started is not in its reports.
        std::sync::Arc::new(
            n.iter()
                .map(|_| None::<i64>)
                .collect::<TimestampNanosecondArray>(),
        ),
        std::sync::Arc::new(
            n.iter()
                .map(|x| Some((x.last_seen_ms as i64).saturating_mul(ms)))
                .collect::<Int64Array>(),
        ),
        // eBPF with BTF needs no kernel headers: true where the probes are in.
        std::sync::Arc::new(
            n.iter()
                .map(|x| Some(x.status.probes_attached > 0))
                .collect::<BooleanArray>(),
        ),
    ];
    RecordBatch::try_new(TableFn::AgentStatus.schema().arrow(), cols)
}

/// `px.GetTracepointStatus()`: each agent's probes, running or failed.
fn tracepoint_status(list: &NodesReply) -> Result<RecordBatch, arrow::error::ArrowError> {
    use loupe_topology::plan::TableFn;
    let rows: Vec<Vec<String>> = list
        .nodes
        .iter()
        .map(|x| {
            let s = &x.status;
            let all = s.probes_attached == s.probes_total && s.probes_total > 0;
            let state = if !x.alive {
                "unknown"
            } else if all {
                "running"
            } else {
                "failed"
            };
            vec![
                format!("{}/capture", s.node),
                format!("loupe capture on {}", s.node),
                state.to_string(),
                serde_json::json!([format!(
                    "{} of {} probes attached",
                    s.probes_attached, s.probes_total
                )])
                .to_string(),
                serde_json::json!(loupe_topology::schema::TABLES).to_string(),
            ]
        })
        .collect();
    Ok(loupe_topology::plan::table_fn::strings_batch(
        TableFn::TracepointStatus,
        &rows,
    ))
}
