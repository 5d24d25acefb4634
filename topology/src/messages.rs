//! Wire messages (serde types; encoded by [`crate::codec`]).

use serde::{Deserialize, Serialize};

pub use crate::stream::{Chunk, End};

/// Read rows of one table from a node's store.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TailRequest {
    pub table: String,
    /// Only rows whose `time_` is within this many ns before now.
    pub since_ns: Option<u64>,
    /// At most this many rows (the newest).
    pub limit: Option<u64>,
    /// Only these columns, in this order (empty: all). Projected on the node,
    /// so what crosses NATS is only what was asked for.
    pub columns: Vec<String>,
}

/// One piece of a node's answer to a tail. Large answers come as several
/// chunks (NATS messages have a size limit); the last one carries the
/// node's status, so the reader knows it has everything.
pub type TailChunk = Chunk<(), NodeStatus>;

/// What a node says about itself: where its data could be incomplete.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct NodeStatus {
    pub node: String,
    pub kernel: String,
    pub probes_attached: u32,
    pub probes_total: u32,
    /// Named counters (`loupe_*_total`), kernel and user space.
    pub counters: Vec<(String, u64)>,
    /// The node's clock when it made this status (ns since the epoch): a
    /// planner compares it with its own to report the node's clock skew.
    pub wall_ns: i64,
    /// What the agent kept of root's privileges after loading its programs
    /// (`capabilities: …; no_new_privs: …`).
    pub privileges: String,
    /// What its config file keeps beyond the default redaction, one entry
    /// per table (`http_events: query values`); empty: nothing.
    pub capture: Vec<String>,
}

impl NodeStatus {
    /// A family's value: the sum over its label sets (0 before the first).
    pub fn counter(&self, m: crate::metrics::Metric) -> u64 {
        crate::metrics::total(&self.counters, m)
    }
}

/// One node as a planner last heard it (`loupe nodes`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NodeSeen {
    /// Its latest heartbeat.
    pub status: NodeStatus,
    /// How long ago that was, in ms.
    pub last_seen_ms: u64,
    /// Heard within the planner's alive window: queries deploy to it.
    pub alive: bool,
    /// Kernel records per second between its two latest heartbeats.
    pub events_per_s: Option<f64>,
    /// Its clock minus the planner's, when its latest status came (ms;
    /// includes the message's transit, well under a millisecond here).
    pub clock_skew_ms: f64,
}

/// A planner's view of every node it heard from (request-reply on
/// `Subject::nodes()`). Nodes silent for longer than the forget window are
/// no longer listed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NodesReply {
    pub planner: String,
    /// A node is alive when heard within this many ms.
    pub alive_within_ms: u64,
    pub nodes: Vec<NodeSeen>,
    /// The answering planner's own counters (what it refused on the wire).
    pub planner_counters: Vec<(String, u64)>,
    /// In a cluster: its Nodes beside the agents that report.
    pub cluster: Option<Coverage>,
}

/// The cluster's Nodes against the agents that report (the first check
/// after installing: does every node have a healthy agent?).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Coverage {
    pub nodes: Vec<ClusterNode>,
    /// How old the planner's cluster metadata is (ms since the watching
    /// planner was last in step with the API server); `None`: never.
    pub metadata_age_ms: Option<u64>,
    /// The planner that watches the API server, and its last error.
    pub watcher: String,
    pub watch_error: String,
}

/// One Node of the cluster, as the planner sees it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterNode {
    pub name: String,
    /// Linux, not cordoned: an agent belongs here.
    pub needs_agent: bool,
    pub ready: bool,
    /// An agent of this name reports (alive).
    pub covered: bool,
    /// Why it is not covered, as the cluster tells it ("" when covered).
    pub reason: String,
}

/// Where a plan came from, for the planner's audit line: the script's
/// SHA-256 and first line, and the arguments it was run with (as the CLI
/// says; the planner also hashes the plan it actually runs).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Origin {
    pub source_sha256: String,
    pub first_line: String,
    pub args: Vec<(String, String)>,
}

/// A compiled script, CLI to the planner group (request-reply).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct QueryRequest {
    /// The script's file name, for logs.
    pub script: String,
    pub origin: Origin,
    pub plan: crate::plan::Plan,
    /// How long the planner waits for nodes before answering without them.
    pub node_timeout_ms: u64,
}

/// Where a node sends what it has for a query. A destination, never a
/// subject: the node builds the subject from the query id
/// ([`crate::subjects::Subject::query_partial`] or
/// [`crate::subjects::Subject::query_merge`]), so a deploy cannot point a
/// node at any other subject.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SendTo {
    /// The planner (the query's partial subject).
    Planner,
    /// The merge node of group `group` at merge level `level`.
    Merge { level: u32, group: u32 },
}

/// Planner to one node (request-reply, acked by [`DeployAck`]): run this
/// fragment once and send its channels where `send_to` says.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Deploy {
    pub qid: String,
    pub fragment: crate::plan::NodeFragment,
    pub send_to: SendTo,
    /// ns since the epoch, by the planner's clock (for logs).
    pub deadline_ns: i64,
    /// How long from receipt the node has (its own clock may be off; a
    /// duration is not): past it, it drops the fragment unanswered. Ignored
    /// for a live fragment, which lives by its lease.
    pub timeout_ns: i64,
    /// Set for a continuous query: run once per pane, as long as the lease
    /// is renewed.
    pub live: Option<LiveSpec>,
    /// Set for a merge node of a tree: instead of running the fragment,
    /// combine the partials its group sends and send the combination on
    /// (`send_to`) by `deadline_ns`.
    pub merge: Option<MergeSpec>,
}

/// A merge node's place in a query's merge tree.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MergeSpec {
    /// Its level: 0 merges nodes' own partials, 1 merges level 0's, ...
    pub level: u32,
    /// Its group at that level: it listens on
    /// [`crate::subjects::Subject::query_merge`] of (qid, level, group).
    pub group: u32,
    /// Who sends to it (node names, the first of each group being its
    /// merge node), each with the nodes whose data it carries.
    pub children: Vec<(String, Vec<String>)>,
}

/// What a merge node's combination covers, on its last chunk.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Merged {
    /// The nodes whose partials are in it.
    pub answered: Vec<NodeReport>,
    /// The nodes under it that did not answer, and why.
    pub missing: Vec<(String, String)>,
    /// Partial messages and bytes that came to the merge nodes of this
    /// subtree (itself included).
    pub messages: u64,
    pub bytes: u64,
}

/// How a live fragment runs on a node.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LiveSpec {
    /// Pane length: the node cuts time (its own clock) into panes of this
    /// many ns, aligned to the epoch, and ships one partial per pane.
    pub every_ns: i64,
    /// The fragment is dropped when no lease renewal came for two of these
    /// (renewals come on [`crate::subjects::Subject::query_lease`]).
    pub lease_ns: i64,
    /// How far back the first panes go: the node first ships the panes of
    /// the window that already passed (their rows are in its store), so the
    /// first refresh covers a whole window too.
    pub backfill_ns: i64,
}

/// A continuous query, CLI to the planner group (request-reply).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LiveRequest {
    pub script: String,
    pub origin: Origin,
    pub plan: crate::plan::Plan,
    pub every_ns: i64,
    /// The window each refresh covers: the last `window_ns / every_ns` panes.
    pub window_ns: i64,
}

/// The planner took a live query: its id, from which the subscriber
/// derives where its windows come ([`crate::subjects::Subject::query_results`]:
/// `ResultChunk`s, the last of each window with its `QueryDone`) and where
/// it renews the lease ([`crate::subjects::Subject::query_lease`], at least
/// every `lease_ns`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LiveAccepted {
    pub qid: String,
    pub lease_ns: i64,
    /// Nodes the fragment went to.
    pub nodes: Vec<String>,
    /// Set when the planner could not take the query (then nothing runs).
    pub error: Option<QueryError>,
}

/// "Still here": renews a live query's lease (CLI to planner and nodes).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    pub qid: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeployAck {
    pub node: String,
    pub qid: String,
    pub error: Option<QueryError>,
}

/// Planner to every node: forget query `qid` (it ended or timed out).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cancel {
    pub qid: String,
}

/// Loss a node counted while the queried rows were captured.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Losses {
    /// Records the kernel could not put in the ring buffer.
    pub kernel_dropped: u64,
    /// Bytes of streams the agent never saw (gaps).
    pub gap_bytes: u64,
    /// Records or rows dropped between the agent's stages (full mailboxes).
    pub mailbox_dropped: u64,
    /// Rows evicted by retention during the window.
    pub evicted_rows: u64,
    /// The window starts before the oldest row this node still holds.
    pub window_before_retention: bool,
    /// The counters cover only part of the window (the agent started, or
    /// its history was shorter, after the window began).
    pub window_partly_observed: bool,
}

impl Losses {
    pub fn total_records(&self) -> u64 {
        self.kernel_dropped + self.mailbox_dropped
    }

    pub fn add(&mut self, o: &Losses) {
        self.kernel_dropped += o.kernel_dropped;
        self.gap_bytes += o.gap_bytes;
        self.mailbox_dropped += o.mailbox_dropped;
        self.evicted_rows += o.evicted_rows;
        self.window_before_retention |= o.window_before_retention;
        self.window_partly_observed |= o.window_partly_observed;
    }
}

/// One piece of what a node (or a merge node) sends for a query: each
/// channel's batches as numbered chunks, the last chunk of the sender's
/// whole answer with what it covers.
pub type PartialChunk = Chunk<Channel, Covers>;

/// What a partial chunk's rows are of.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Channel {
    pub channel: u32,
    /// For a live fragment: the end of the pane (ns since the epoch, by the
    /// node's clock) these rows are of; 0 for a one-shot query.
    pub pane_ns: i64,
}

/// What a partial covers, on its last chunk.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Covers {
    /// A node's own partial: its report.
    Report(NodeReport),
    /// A merge node's combination: whom it covers.
    Merged(Merged),
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct NodeReport {
    pub node: String,
    pub rows_scanned: u64,
    pub exec_ms: f64,
    pub losses: Losses,
    /// Its clock minus the planner's (ms), by its latest heartbeat: its
    /// rows' times, and the panes it cuts for live queries, are off by as
    /// much. Filled by the planner.
    pub clock_skew_ms: Option<f64>,
}

/// Who a failure belongs to (STYLE: errors that cross NATS carry a kind,
/// a domain and a retry hint; callers match on the kind).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum ErrorDomain {
    User,
    External,
    Internal,
}

/// What went wrong, the one error enum that crosses the wire: every
/// answer that can fail (a query, a deploy, a partial, a tail, a tap)
/// carries a [`QueryError`] of one of these kinds, and receivers decide by
/// the kind, never by the message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum QueryErrorKind {
    /// The plan or script is wrong (the same everywhere it runs).
    BadPlan,
    NoNodes,
    /// Running it failed.
    Execution,
    Timeout,
    /// A message was refused on arrival (see [`crate::codec::Reason`]).
    Wire,
    /// The receiver is at its limit (fragments at once, subscriptions).
    Busy,
    /// The answer would exceed its budget.
    Budget,
    /// The receiver does not have what was asked (an unknown table, stage
    /// or column).
    NotFound,
    /// Something the receiver needed is unavailable (its store, NATS).
    Unavailable,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueryError {
    pub kind: QueryErrorKind,
    pub domain: ErrorDomain,
    pub message: String,
    pub retryable: bool,
}

impl QueryError {
    /// An error of `kind`; its domain and retry hint follow from the kind.
    pub fn new(kind: QueryErrorKind, message: impl Into<String>) -> QueryError {
        use QueryErrorKind::*;
        let domain = match kind {
            BadPlan | Wire | Budget | NotFound => ErrorDomain::User,
            NoNodes | Busy | Unavailable | Timeout => ErrorDomain::External,
            Execution => ErrorDomain::Internal,
        };
        QueryError {
            kind,
            domain,
            message: message.into(),
            retryable: matches!(kind, NoNodes | Timeout | Busy | Unavailable),
        }
    }
}

impl std::fmt::Display for QueryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl From<crate::codec::Rejected> for QueryError {
    fn from(r: crate::codec::Rejected) -> Self {
        let kind = match r.reason {
            crate::codec::Reason::Plan | crate::codec::Reason::Depth => QueryErrorKind::BadPlan,
            _ => QueryErrorKind::Wire,
        };
        QueryError::new(kind, r.message)
    }
}

/// One piece of the answer, planner to CLI: tables as numbered chunks
/// (the part is the index into `QueryDone::tables`), the last chunk with
/// [`QueryDone`].
pub type ResultChunk = Chunk<u32, QueryDone>;

/// How complete an answer is.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct QueryDone {
    /// Result table names, in display order.
    pub tables: Vec<String>,
    /// Nodes whose answer is in the result.
    pub answered: Vec<NodeReport>,
    /// Nodes expected (alive by their heartbeats) that did not answer, and why.
    pub missing: Vec<(String, String)>,
    /// Some node is missing: the answer covers only part of the data.
    pub partial: bool,
    pub error: Option<QueryError>,
    pub planner: String,
    pub elapsed_ms: f64,
    /// For a live query: the window this answer covers (ns since the epoch).
    pub window: Option<(i64, i64)>,
    /// For a live query: node partials that came after their window had
    /// closed (not in any answer).
    pub late_partials: u64,
    /// How the partials came: merge levels between the nodes and the
    /// planner (0: straight to it), and the partial messages and bytes
    /// the planner and every merge node received.
    pub transfer: Transfer,
    /// In a cluster: how old the names in this answer may be (ms since
    /// the watching planner was last in step with the API server).
    pub metadata_age_ms: Option<u64>,
    /// What each `px.export` sent, and what it could not deliver.
    #[serde(default)]
    pub exports: Vec<ExportReport>,
}

/// One `px.export` of an answer: what was made of its rows and what became
/// of it. `points` = `delivered` + `lost` + `in_flight`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportReport {
    /// The export's sink (`export0`, ...).
    pub sink: String,
    /// `grpc` or `http/protobuf`, and where (never the headers: they may
    /// hold keys).
    pub protocol: String,
    pub endpoint: String,
    /// Rows of the exported table.
    pub rows: u64,
    /// Data points and spans made of them.
    pub points: u64,
    /// Acknowledged by the receiver.
    pub delivered: u64,
    /// Not delivered after the retries, or refused by the receiver.
    pub lost: u64,
    /// Not made: a row's value was null.
    pub skipped: u64,
    /// OTLP requests sent, and attempts beyond the first.
    pub requests: u32,
    pub retries: u32,
    /// The first reason something was lost.
    pub error: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transfer {
    pub merge_levels: u32,
    /// Received by the planner.
    pub planner_messages: u64,
    pub planner_bytes: u64,
    /// Received by merge nodes, all levels.
    pub merge_messages: u64,
    pub merge_bytes: u64,
}

/// To one node (request-reply, answered by [`TapAck`]): publish `stage`
/// for the next two `lease_ns`; sent again to renew.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TapHold {
    pub stage: String,
    pub lease_ns: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TapAck {
    pub node: String,
    pub error: Option<QueryError>,
}

/// One frame of a tapped stage (the stream is the stage; it never ends,
/// and its numbering goes on across readers: a tap joins where it is).
pub type TapChunk = Chunk<TapFrame, ()>;

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TapFrame {
    /// One JSON object per line (capture, reassembly, records).
    pub lines: Vec<String>,
    /// For rows: their table (the rows are the chunk's IPC bytes).
    pub table: String,
    /// Frames of the stage dropped on the node so far (its queue was full).
    pub dropped: u64,
}

/// A scheduled export (`loupe export add`), as stored in the schedules
/// bucket: what runs, how often, and where it stands. One value per
/// schedule, so one compare-and-set decides who runs a period.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Schedule {
    pub spec: ScheduleSpec,
    pub state: ScheduleState,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduleSpec {
    /// `[A-Za-z0-9_-]{1,64}`: the bucket key.
    pub name: String,
    /// The script's file name, for logs and listings.
    pub script: String,
    /// The script itself (compiled by the planner that runs each period).
    pub source: String,
    /// `--arg name=value`, as for `loupe run`.
    pub args: Vec<(String, String)>,
    pub every_ns: i64,
    /// Who added it (the admin's public key, when signed) and when.
    pub added_by: String,
    pub added_ns: i64,
}

/// Where a schedule stands. Periods are exported exactly once: a planner
/// claims `[done_through_ns, end)` by compare-and-set, runs it, and moves
/// `done_through_ns` to `end`; a claim whose planner died lapses at
/// `lease_until_ns` and the next planner runs the same window again.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduleState {
    /// Everything before this is exported (the next window starts here).
    pub done_through_ns: i64,
    pub running: Option<ScheduleClaim>,
    pub runs: u64,
    pub last: Option<ScheduleRun>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduleClaim {
    pub planner: String,
    pub end_ns: i64,
    pub lease_until_ns: i64,
}

/// The latest finished run.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduleRun {
    pub planner: String,
    pub start_ns: i64,
    pub end_ns: i64,
    pub finished_ns: i64,
    pub points: u64,
    pub delivered: u64,
    pub lost: u64,
    /// Why the query or an export failed, if it did.
    pub error: Option<String>,
}

/// `loupe export add|list|rm`, admin to the planner group.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum ExportsRequest {
    Add(ScheduleSpec),
    List,
    Remove { name: String },
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ExportsReply {
    pub planner: String,
    pub error: Option<QueryError>,
    /// Every schedule (after the change), by name.
    pub schedules: Vec<Schedule>,
}
