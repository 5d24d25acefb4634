//! What every received message must satisfy before it is used: beyond
//! decoding (bounded, in [`crate::codec`]), its values are within sane
//! ranges, its plan checks against the schemas, and what it says about
//! itself agrees with the subject it came on. The receiver builds an
//! [`Arrival`] from what it already trusts (the subject's query id or node
//! name, its own clock) and [`crate::codec::receive`] refuses a message
//! that does not fit it.
//!
//! The limits are generous for real use and small enough that no value a
//! sender chooses makes a receiver allocate, wait or loop without bound.

use crate::codec::{Reason, Rejected};
use crate::messages::*;
use crate::subjects::{NodeName, QueryId};

/// What the receiver knows about a message before it reads it.
#[derive(Clone, Copy, Debug, Default)]
pub struct Arrival<'a> {
    /// The query id of the subject it came on (`loupe.v1.q.<qid>.…`), or
    /// of the query the receiver asked about.
    pub qid: Option<&'a str>,
    /// The node of the subject it came on (`loupe.v1.node.<node>.…`).
    pub node: Option<&'a str>,
}

impl<'a> Arrival<'a> {
    pub fn any() -> Self {
        Arrival::default()
    }

    pub fn query(qid: &'a str) -> Self {
        Arrival {
            qid: Some(qid),
            node: None,
        }
    }

    pub fn node(node: &'a str) -> Self {
        Arrival {
            qid: None,
            node: Some(node),
        }
    }
}

pub trait Validate {
    fn validate(&self, arrival: &Arrival<'_>) -> Result<(), Rejected>;
}

const NS: i64 = 1;
const MS: i64 = 1_000_000 * NS;
const SECOND: i64 = 1_000 * MS;
const HOUR: i64 = 3600 * SECOND;

/// Shortest refresh of a live query, and longest.
pub const LIVE_EVERY: (i64, i64) = (100 * MS, HOUR);
/// Shortest lease, and longest.
pub const LEASE: (i64, i64) = (100 * MS, 10 * 60 * SECOND);
/// Longest live window (and so backfill).
pub const MAX_WINDOW_NS: i64 = 24 * HOUR;
/// Most panes a live window may hold.
pub const MAX_PANES: i64 = 3600;
/// Longest a one-shot query may wait for its nodes.
pub const MAX_QUERY_TIMEOUT_MS: u64 = 10 * 60 * 1000;
/// Most merge levels a tree may have (fan-in 2 over 2^32 nodes).
pub const MAX_MERGE_LEVELS: u32 = 32;
/// Most children of one merge node, and most nodes one subtree covers.
pub const MAX_CHILDREN: usize = 4096;
pub const MAX_COVERED: usize = 1 << 20;
/// Most counters in one status.
pub const MAX_COUNTERS: usize = 4096;
/// Longest free text (a script name, a kernel release, an error).
pub const MAX_TEXT: usize = 64 << 10;
/// Most rows a tail may ask for in one answer.
pub const MAX_TAIL_SINCE_NS: u64 = 366 * 24 * 3600 * 1_000_000_000;

fn range(what: &str, v: i64, (lo, hi): (i64, i64)) -> Result<(), Rejected> {
    if v < lo || v > hi {
        return Err(Rejected::new(
            Reason::Range,
            format!("{what} of {v} ns is outside [{lo}, {hi}] ns"),
        ));
    }
    Ok(())
}

fn text(what: &str, s: &str) -> Result<(), Rejected> {
    if s.len() > MAX_TEXT {
        return Err(Rejected::new(
            Reason::Range,
            format!("{what} of {} bytes (at most {MAX_TEXT})", s.len()),
        ));
    }
    Ok(())
}

fn token(what: &str, s: &str) -> Result<(), Rejected> {
    NodeName::new(s)
        .map(|_| ())
        .map_err(|e| Rejected::new(Reason::Range, format!("{what}: {e}")))
}

/// A query id that is one subject token and, when the subject named one,
/// that one.
fn qid_of(qid: &str, arrival: &Arrival<'_>) -> Result<(), Rejected> {
    QueryId::parse(qid).map_err(|e| Rejected::new(Reason::Range, format!("query id: {e}")))?;
    match arrival.qid {
        Some(q) if q != qid => Err(Rejected::new(
            Reason::Subject,
            format!("a message of query {qid:?} on the subject of query {q:?}"),
        )),
        _ => Ok(()),
    }
}

/// A node name that is one subject token and, when the subject named one,
/// that one.
fn node_of(node: &str, arrival: &Arrival<'_>) -> Result<(), Rejected> {
    token("node name", node)?;
    match arrival.node {
        Some(n) if n != node => Err(Rejected::new(
            Reason::Subject,
            format!("a message of node {node:?} on the subject of node {n:?}"),
        )),
        _ => Ok(()),
    }
}

fn plan_err(e: String) -> Rejected {
    Rejected::new(Reason::Plan, format!("the plan does not check: {e}"))
}

fn error(e: &Option<QueryError>) -> Result<(), Rejected> {
    match e {
        Some(e) => text("an error message", &e.message),
        None => Ok(()),
    }
}

impl Validate for () {
    fn validate(&self, _: &Arrival<'_>) -> Result<(), Rejected> {
        Ok(())
    }
}

impl Validate for TailRequest {
    fn validate(&self, _: &Arrival<'_>) -> Result<(), Rejected> {
        text("a table name", &self.table)?;
        if self.columns.len() > crate::plan::logical::MAX_COLUMNS {
            return Err(Rejected::new(Reason::Range, "too many columns"));
        }
        if self.since_ns.is_some_and(|s| s > MAX_TAIL_SINCE_NS) {
            return Err(Rejected::new(
                Reason::Range,
                "a tail reaching back more than a year",
            ));
        }
        Ok(())
    }
}

/// The end of any stream: a failure's message is bounded text, a success
/// is checked by `done`.
fn end<E>(
    e: &Option<End<E>>,
    done: impl FnOnce(&E) -> Result<(), Rejected>,
) -> Result<(), Rejected> {
    match e {
        None => Ok(()),
        Some(End::Failed(e)) => text("an error message", &e.message),
        Some(End::Done(d)) => done(d),
    }
}

impl Validate for TailChunk {
    fn validate(&self, a: &Arrival<'_>) -> Result<(), Rejected> {
        node_of(&self.from, a)?;
        if !self.stream.is_empty() {
            return Err(Rejected::new(Reason::Range, "a tail names no stream"));
        }
        end(&self.end, |s| s.validate(&Arrival::node(&self.from)))
    }
}

/// Most IPs, containers, taints or addresses one object lists; most pods
/// behind one EndpointSlice (the API server's own limit is 1000).
const MAX_META_LIST: usize = 256;
const MAX_SLICE_PODS: usize = 1000;

/// A uid or name that ends a bucket key: key characters only (a node
/// name may hold dots, as DNS names do).
fn meta_id(what: &str, s: &str) -> Result<(), Rejected> {
    if s.is_empty()
        || s.len() > 253
        || !s
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'=' | b'.'))
    {
        return Err(Rejected::new(
            Reason::Range,
            format!("{what}: not a Kubernetes uid or name"),
        ));
    }
    Ok(())
}

fn meta_list<T>(what: &str, v: &[T], max: usize) -> Result<(), Rejected> {
    if v.len() > max {
        return Err(Rejected::new(Reason::Range, format!("too many {what}")));
    }
    Ok(())
}

fn meta_texts(v: &[String]) -> Result<(), Rejected> {
    meta_list("entries", v, MAX_META_LIST)?;
    v.iter().try_for_each(|t| text("a metadata value", t))
}

impl Validate for crate::meta::Object {
    /// `a.qid` holds the bucket key it came under: the object must be the
    /// one that key names.
    fn validate(&self, a: &Arrival<'_>) -> Result<(), Rejected> {
        use crate::meta::Object;
        match self {
            Object::Pod(p) => {
                meta_id("a pod uid", &p.uid)?;
                for t in [
                    &p.name,
                    &p.namespace,
                    &p.node,
                    &p.phase,
                    &p.reason,
                    &p.message,
                ] {
                    text("a pod field", t)?;
                }
                for t in [&p.owner_kind, &p.owner_uid, &p.owner_name] {
                    text("a pod owner", t)?;
                }
                meta_texts(&p.ips)?;
                meta_list("containers", &p.containers, MAX_META_LIST)?;
                for c in &p.containers {
                    for t in [&c.id, &c.name, &c.state, &c.reason, &c.message] {
                        text("a container field", t)?;
                    }
                }
            }
            Object::Service(s) => {
                meta_id("a service uid", &s.uid)?;
                text("a service name", &s.name)?;
                text("a namespace", &s.namespace)?;
                meta_texts(&s.cluster_ips)?;
            }
            Object::Endpoints(e) => {
                meta_id("an EndpointSlice uid", &e.uid)?;
                text("a namespace", &e.namespace)?;
                text("a service name", &e.service)?;
                meta_list("pods", &e.pods, MAX_SLICE_PODS)?;
                e.pods.iter().try_for_each(|u| meta_id("a pod uid", u))?;
            }
            Object::Node(n) => {
                meta_id("a node name", &n.name)?;
                text("a node uid", &n.uid)?;
                text("an OS", &n.os)?;
                meta_texts(&n.taints)?;
                meta_texts(&n.addresses)?;
            }
            Object::Namespace(n) => {
                meta_id("a namespace", &n.name)?;
                text("a namespace uid", &n.uid)?;
            }
            Object::ReplicaSet(o) | Object::Deployment(o) => {
                meta_id("a uid", &o.uid)?;
                for t in [
                    &o.name,
                    &o.namespace,
                    &o.owner_kind,
                    &o.owner_uid,
                    &o.owner_name,
                ] {
                    text("an owner field", t)?;
                }
            }
            Object::Source(s) => {
                token("a leader", &s.leader)?;
                text("an error", &s.error)?;
            }
            Object::Host(h) => {
                token("a node", &h.node)?;
                meta_texts(&h.addrs)?;
                meta_list("listeners", &h.listeners, 4096)?;
                for l in &h.listeners {
                    text("an address", &l.addr)?;
                    text("a upid", &l.upid)?;
                    text("a service", &l.service)?;
                    text("a pod uid", &l.pod_id)?;
                }
                if h.boot_ns < 0 || h.ticks_per_s == 0 || h.ticks_per_s > 1_000_000 {
                    return Err(Rejected::new(
                        Reason::Range,
                        "a host's boot time or tick rate",
                    ));
                }
            }
        }
        match a.qid {
            Some(key) if key != self.key() => Err(Rejected::new(
                Reason::Subject,
                format!("an object of key {:?} under key {key:?}", self.key()),
            )),
            _ => Ok(()),
        }
    }
}

impl Validate for NodeStatus {
    fn validate(&self, a: &Arrival<'_>) -> Result<(), Rejected> {
        node_of(&self.node, a)?;
        text("a kernel release", &self.kernel)?;
        text("privileges", &self.privileges)?;
        if self.capture.len() > 16 {
            return Err(Rejected::new(Reason::Range, "too many capture entries"));
        }
        for c in &self.capture {
            text("a capture entry", c)?;
        }
        if self.counters.len() > MAX_COUNTERS {
            return Err(Rejected::new(Reason::Range, "too many counters"));
        }
        if self.counters.iter().any(|(n, _)| n.len() > 512) {
            return Err(Rejected::new(Reason::Range, "a counter name too long"));
        }
        if self.probes_attached > self.probes_total {
            return Err(Rejected::new(
                Reason::Range,
                "more probes attached than there are",
            ));
        }
        Ok(())
    }
}

impl Validate for NodesReply {
    fn validate(&self, _: &Arrival<'_>) -> Result<(), Rejected> {
        for n in &self.nodes {
            n.status.validate(&Arrival::any())?;
        }
        if let Some(c) = &self.cluster {
            meta_list("cluster nodes", &c.nodes, 10_000)?;
            text("a planner name", &c.watcher)?;
            text("a watch error", &c.watch_error)?;
            for n in &c.nodes {
                text("a node name", &n.name)?;
                text("a reason", &n.reason)?;
            }
        }
        Ok(())
    }
}

impl Validate for Origin {
    fn validate(&self, _: &Arrival<'_>) -> Result<(), Rejected> {
        text("a script hash", &self.source_sha256)?;
        text("a script's first line", &self.first_line)?;
        if self.args.len() > 256 {
            return Err(Rejected::new(Reason::Range, "more than 256 arguments"));
        }
        for (k, v) in &self.args {
            text("an argument", k)?;
            text("an argument", v)?;
        }
        Ok(())
    }
}

impl Validate for QueryRequest {
    fn validate(&self, a: &Arrival<'_>) -> Result<(), Rejected> {
        text("a script name", &self.script)?;
        self.origin.validate(a)?;
        if self.node_timeout_ms == 0 || self.node_timeout_ms > MAX_QUERY_TIMEOUT_MS {
            return Err(Rejected::new(
                Reason::Range,
                format!(
                    "a node timeout of {} ms (1 ms to {MAX_QUERY_TIMEOUT_MS} ms)",
                    self.node_timeout_ms
                ),
            ));
        }
        self.plan.check().map_err(plan_err)
    }
}

impl Validate for LiveRequest {
    fn validate(&self, a: &Arrival<'_>) -> Result<(), Rejected> {
        text("a script name", &self.script)?;
        self.origin.validate(a)?;
        range("a refresh period", self.every_ns, LIVE_EVERY)?;
        range("a window", self.window_ns, (self.every_ns, MAX_WINDOW_NS))?;
        if self.window_ns / self.every_ns > MAX_PANES {
            return Err(Rejected::new(
                Reason::Range,
                format!(
                    "a window of {} s holds more than {MAX_PANES} panes of {} ms: refresh less often or shorten the window",
                    self.window_ns / SECOND,
                    self.every_ns / MS
                ),
            ));
        }
        self.plan.check().map_err(plan_err)
    }
}

impl Validate for Deploy {
    fn validate(&self, a: &Arrival<'_>) -> Result<(), Rejected> {
        qid_of(&self.qid, a)?;
        match &self.live {
            // A live fragment lives by its lease, not by a timeout.
            Some(l) => {
                range("a refresh period", l.every_ns, LIVE_EVERY)?;
                range("a lease", l.lease_ns, LEASE)?;
                range("a backfill", l.backfill_ns, (0, MAX_WINDOW_NS))?;
                if l.backfill_ns / l.every_ns > MAX_PANES {
                    return Err(Rejected::new(
                        Reason::Range,
                        format!("a backfill of more than {MAX_PANES} panes"),
                    ));
                }
                if self.merge.is_some() {
                    return Err(Rejected::new(
                        Reason::Range,
                        "a live fragment cannot be a merge node",
                    ));
                }
            }
            None => range(
                "a fragment's time budget",
                self.timeout_ns,
                (1, MAX_QUERY_TIMEOUT_MS as i64 * MS),
            )?,
        }
        let own_level = match &self.merge {
            Some(m) => {
                if m.level >= MAX_MERGE_LEVELS {
                    return Err(Rejected::new(Reason::Range, "a merge level out of range"));
                }
                if m.children.is_empty() || m.children.len() > MAX_CHILDREN {
                    return Err(Rejected::new(
                        Reason::Range,
                        format!("a merge node of {} children", m.children.len()),
                    ));
                }
                let mut covered = 0usize;
                for (c, under) in &m.children {
                    token("a merge child", c)?;
                    covered += under.len();
                    if covered > MAX_COVERED {
                        return Err(Rejected::new(
                            Reason::Range,
                            "a merge node covering too many nodes",
                        ));
                    }
                    for n in under {
                        token("a covered node", n)?;
                    }
                }
                Some(m.level)
            }
            None => None,
        };
        if let SendTo::Merge { level, .. } = self.send_to {
            let ok = level < MAX_MERGE_LEVELS && own_level.is_none_or(|own| level > own);
            if !ok {
                return Err(Rejected::new(
                    Reason::Range,
                    format!("sends to merge level {level}, not above its own"),
                ));
            }
        }
        self.fragment.check().map_err(plan_err)
    }
}

impl Validate for DeployAck {
    fn validate(&self, a: &Arrival<'_>) -> Result<(), Rejected> {
        token("node name", &self.node)?;
        if !self.qid.is_empty() {
            qid_of(&self.qid, a)?;
        }
        error(&self.error)
    }
}

impl Validate for Cancel {
    fn validate(&self, a: &Arrival<'_>) -> Result<(), Rejected> {
        qid_of(&self.qid, a)
    }
}

impl Validate for Lease {
    fn validate(&self, a: &Arrival<'_>) -> Result<(), Rejected> {
        qid_of(&self.qid, a)
    }
}

impl Validate for PartialChunk {
    fn validate(&self, a: &Arrival<'_>) -> Result<(), Rejected> {
        qid_of(&self.stream, a)?;
        token("node name", &self.from)?;
        if self.part.pane_ns < 0 {
            return Err(Rejected::new(Reason::Range, "a pane before the epoch"));
        }
        end(&self.end, |c| match c {
            Covers::Report(r) => token("a reporting node", &r.node),
            Covers::Merged(m) => {
                if m.answered.len() + m.missing.len() > MAX_COVERED {
                    return Err(Rejected::new(
                        Reason::Range,
                        "a merge covering too many nodes",
                    ));
                }
                for r in &m.answered {
                    token("a covered node", &r.node)?;
                }
                Ok(())
            }
        })
    }
}

impl Validate for ResultChunk {
    fn validate(&self, a: &Arrival<'_>) -> Result<(), Rejected> {
        qid_of(&self.stream, a)?;
        end(&self.end, |d| {
            if (self.part as usize) > d.tables.len() {
                return Err(Rejected::new(Reason::Range, "a result table out of range"));
            }
            if d.exports.len() > crate::plan::logical::MAX_SINKS {
                return Err(Rejected::new(
                    Reason::Range,
                    "more export reports than sinks",
                ));
            }
            for x in &d.exports {
                let long = [&x.sink, &x.protocol, &x.endpoint]
                    .into_iter()
                    .chain(&x.error)
                    .any(|t| t.len() > MAX_TEXT);
                if long {
                    return Err(Rejected::new(
                        Reason::Range,
                        "an export report's text too long",
                    ));
                }
            }
            error(&d.error)
        })
    }
}

impl Validate for LiveAccepted {
    fn validate(&self, _: &Arrival<'_>) -> Result<(), Rejected> {
        if self.error.is_some() {
            return error(&self.error);
        }
        QueryId::parse(&self.qid)
            .map_err(|e| Rejected::new(Reason::Range, format!("query id: {e}")))?;
        range("a lease", self.lease_ns, LEASE)
    }
}

impl Validate for TapHold {
    fn validate(&self, _: &Arrival<'_>) -> Result<(), Rejected> {
        text("a stage", &self.stage)?;
        range("a tap lease", self.lease_ns, (100 * MS, 60 * SECOND))
    }
}

impl Validate for TapAck {
    fn validate(&self, a: &Arrival<'_>) -> Result<(), Rejected> {
        node_of(&self.node, a)?;
        error(&self.error)
    }
}

impl Validate for TapChunk {
    fn validate(&self, a: &Arrival<'_>) -> Result<(), Rejected> {
        node_of(&self.from, a)?;
        text("a stage", &self.stream)?;
        end(&self.end, |()| Ok(()))
    }
}

/// A scheduled script is at most this long.
pub const MAX_SCHEDULE_SOURCE: usize = 1 << 20;
/// At most this many schedules are listed in one reply.
pub const MAX_SCHEDULES: usize = 1024;
/// A schedule's period: a second to a day.
pub const SCHEDULE_EVERY: (i64, i64) = (SECOND, 24 * HOUR);

/// A schedule's name: the key of its bucket entry.
pub fn schedule_name(name: &str) -> Result<(), String> {
    if name.is_empty()
        || name.len() > 64
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return Err(format!(
            "schedule name {name:?}: 1 to 64 letters, digits, '_' or '-'"
        ));
    }
    Ok(())
}

impl Validate for ScheduleSpec {
    fn validate(&self, a: &Arrival<'_>) -> Result<(), Rejected> {
        schedule_name(&self.name).map_err(|e| Rejected::new(Reason::Range, e))?;
        text("a script name", &self.script)?;
        text("a signer", &self.added_by)?;
        if self.source.len() > MAX_SCHEDULE_SOURCE {
            return Err(Rejected::new(
                Reason::Range,
                format!("a script of more than {MAX_SCHEDULE_SOURCE} bytes"),
            ));
        }
        Origin {
            args: self.args.clone(),
            ..Origin::default()
        }
        .validate(a)?;
        range("a schedule's period", self.every_ns, SCHEDULE_EVERY)
    }
}

impl Validate for Schedule {
    fn validate(&self, a: &Arrival<'_>) -> Result<(), Rejected> {
        self.spec.validate(a)?;
        let s = &self.state;
        if let Some(c) = &s.running {
            text("a planner name", &c.planner)?;
        }
        if let Some(r) = &s.last {
            text("a planner name", &r.planner)?;
            if let Some(e) = &r.error {
                text("an error message", e)?;
            }
        }
        Ok(())
    }
}

impl Validate for ExportsRequest {
    fn validate(&self, a: &Arrival<'_>) -> Result<(), Rejected> {
        match self {
            ExportsRequest::Add(s) => s.validate(a),
            ExportsRequest::List => Ok(()),
            ExportsRequest::Remove { name } => {
                schedule_name(name).map_err(|e| Rejected::new(Reason::Range, e))
            }
        }
    }
}

impl Validate for ExportsReply {
    fn validate(&self, a: &Arrival<'_>) -> Result<(), Rejected> {
        text("a planner name", &self.planner)?;
        error(&self.error)?;
        if self.schedules.len() > MAX_SCHEDULES {
            return Err(Rejected::new(Reason::Range, "too many schedules"));
        }
        for s in &self.schedules {
            s.validate(a)?;
        }
        Ok(())
    }
}
