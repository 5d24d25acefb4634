//! Every NATS subject Loupe uses, built from typed parts. No subject string
//! is written anywhere else. Subjects are versioned (`loupe.v1.…`).

use std::fmt;

const PREFIX: &str = "loupe.v1";

/// A validated subject.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Subject(String);

/// A node name, usable as one subject token.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct NodeName(String);

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SubjectError {
    #[error(
        "node name {0:?} cannot be a NATS subject token: use letters, digits, '-' and '_' only"
    )]
    BadToken(String),
}

impl NodeName {
    /// Checks that `name` is one subject token (no dots, wildcards or spaces).
    pub fn new(name: &str) -> Result<Self, SubjectError> {
        let ok = !name.is_empty()
            && name.len() <= 128
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if ok {
            Ok(NodeName(name.to_string()))
        } else {
            Err(SubjectError::BadToken(name.to_string()))
        }
    }

    /// A node name made from any host name: characters that cannot be in a
    /// subject token become '-'.
    pub fn sanitized(name: &str) -> Self {
        let s: String = name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '-'
                }
            })
            .take(128)
            .collect();
        NodeName(if s.is_empty() { "node".into() } else { s })
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The name of the planners' queue group on [`Subject::plan`].
pub const PLANNER_GROUP: &str = "loupe-planners";

/// A query id, one subject token.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct QueryId(String);

impl QueryId {
    /// A fresh id: the planner's name, a time and a counter.
    /// Its 64 random bits make it unguessable: knowing a query's id is
    /// what it takes to renew, cancel or read it, so no client can end or
    /// read another's by trying ids. It stays one subject token of at most
    /// 128 bytes (the planner's name is cut to 64).
    pub fn new(planner: &str, seq: u64) -> QueryId {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let name: String = NodeName::sanitized(planner).0.chars().take(64).collect();
        QueryId(format!("{name}-{t:x}-{seq}-{:016x}", random_u64()))
    }

    pub fn parse(s: &str) -> Result<QueryId, SubjectError> {
        NodeName::new(s).map(|n| QueryId(n.0))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// 64 bits from the kernel's random source (`/dev/urandom`), else from the
/// standard library's per-process random hasher keys.
fn random_u64() -> u64 {
    use std::io::Read;
    let mut b = [0u8; 8];
    if std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut b))
        .is_ok()
    {
        return u64::from_le_bytes(b);
    }
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    h.finish()
}

impl fmt::Display for QueryId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Display for NodeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Subject {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Row reads from one node (request-reply).
    pub fn node_tail(node: &NodeName) -> Subject {
        Subject(format!("{PREFIX}.node.{node}.tail"))
    }

    /// Row reads from every node at once (scatter; each node replies).
    pub fn tail_all() -> Subject {
        Subject(format!("{PREFIX}.nodes.tail"))
    }

    /// Where a node sends what it has for query `qid`, by the deploy's
    /// destination.
    pub fn query_send_to(qid: &QueryId, to: crate::messages::SendTo) -> Subject {
        match to {
            crate::messages::SendTo::Planner => Subject::query_partial(qid),
            crate::messages::SendTo::Merge { level, group } => {
                Subject::query_merge(qid, level, group)
            }
        }
    }

    /// Where a stage of a node publishes while a tap holds it.
    pub fn node_tap(node: &NodeName, stage: &str) -> Subject {
        Subject(format!("{PREFIX}.node.{node}.tap.{stage}"))
    }

    /// Holding (and renewing) a tap on a node (request-reply).
    pub fn node_tap_hold(node: &NodeName) -> Subject {
        Subject(format!("{PREFIX}.node.{node}.taphold"))
    }

    /// Status of one node (request-reply).
    pub fn node_status(node: &NodeName) -> Subject {
        Subject(format!("{PREFIX}.node.{node}.status"))
    }

    /// Status of every node (scatter).
    pub fn status_all() -> Subject {
        Subject(format!("{PREFIX}.nodes.status"))
    }

    /// The nodes a planner knows, alive or not (`loupe nodes`; one planner
    /// of the group answers).
    pub fn nodes() -> Subject {
        Subject(format!("{PREFIX}.nodes.list"))
    }

    /// Continuous queries, taken by one planner of the group.
    pub fn live() -> Subject {
        Subject(format!("{PREFIX}.live"))
    }

    /// Lease renewals of live query `qid`.
    pub fn query_lease(qid: &QueryId) -> Subject {
        Subject(format!("{PREFIX}.q.{qid}.lease"))
    }

    /// The windows of live query `qid`.
    pub fn query_results(qid: &QueryId) -> Subject {
        Subject(format!("{PREFIX}.q.{qid}.results"))
    }

    /// Scheduled exports: add, list, remove (admin; one planner of the
    /// group answers).
    pub fn exports() -> Subject {
        Subject(format!("{PREFIX}.exports"))
    }

    /// Compiled scripts, answered by one planner of the group.
    pub fn plan() -> Subject {
        Subject(format!("{PREFIX}.plan"))
    }

    /// A node's fragment deployments (request-reply, acked).
    pub fn node_deploy(node: &NodeName) -> Subject {
        Subject(format!("{PREFIX}.node.{node}.deploy"))
    }

    /// What a node publishes about itself every few seconds.
    pub fn node_heartbeat(node: &NodeName) -> Subject {
        Subject(format!("{PREFIX}.node.{node}.heartbeat"))
    }

    /// Every node's heartbeat (a wildcard subscription).
    pub fn heartbeats() -> Subject {
        Subject(format!("{PREFIX}.node.*.heartbeat"))
    }

    /// Node fragments' output for query `qid`.
    pub fn query_partial(qid: &QueryId) -> Subject {
        Subject(format!("{PREFIX}.q.{qid}.partial"))
    }

    /// Where the senders of group `idx` at merge level `level` of query
    /// `qid` send their partials (its merge node listens).
    pub fn query_merge(qid: &QueryId, level: u32, idx: u32) -> Subject {
        Subject(format!("{PREFIX}.q.{qid}.merge.{level}.{idx}"))
    }

    /// The end of query `qid`: nodes drop its fragments.
    pub fn query_cancel(qid: &QueryId) -> Subject {
        Subject(format!("{PREFIX}.q.{qid}.cancel"))
    }

    /// One JSON line per query a planner accepted (who, what, how much).
    pub fn audit() -> Subject {
        Subject(format!("{PREFIX}.audit"))
    }

    /// Every query's cancel subject (a wildcard subscription).
    pub fn query_cancels() -> Subject {
        Subject(format!("{PREFIX}.q.*.cancel"))
    }
}

/// What a process listens on, as a label of few values (the `subject`
/// label of `loupe_wire_rejected_total`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Inbound {
    /// A node's tail subjects (its own and the scatter).
    Tail,
    /// A node's status subjects (its own and the scatter).
    Status,
    Deploy,
    Cancel,
    TapHold,
    Heartbeat,
    Plan,
    Live,
    Nodes,
    /// A query's partials, to its planner.
    Partial,
    /// A query's partials, to a merge node.
    Merge,
    Lease,
    /// Entries of the cluster metadata bucket.
    Meta,
    /// Export schedule commands, and the schedules bucket's entries.
    Exports,
    /// Replies that come to an inbox (acks, answers, windows, taps).
    Reply,
}

impl Inbound {
    pub fn label(self) -> &'static str {
        match self {
            Inbound::Tail => "tail",
            Inbound::Status => "status",
            Inbound::Deploy => "deploy",
            Inbound::Cancel => "cancel",
            Inbound::TapHold => "taphold",
            Inbound::Heartbeat => "heartbeat",
            Inbound::Plan => "plan",
            Inbound::Live => "live",
            Inbound::Nodes => "nodes",
            Inbound::Partial => "partial",
            Inbound::Merge => "merge",
            Inbound::Lease => "lease",
            Inbound::Meta => "meta",
            Inbound::Exports => "exports",
            Inbound::Reply => "reply",
        }
    }
}

/// Who connects to NATS, each with its own credentials and permissions
/// (`loupe auth init`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    /// `loupe agent`: answers on its node's subjects, sends partials.
    Agent,
    /// `loupe planner`: answers plans, deploys to nodes, merges.
    Planner,
    /// `loupe run`, `live`, `tail`, `nodes`, `tables`, `check`.
    Reader,
    /// A reader that may also tap a node's stages (and, later, schedule
    /// exports).
    Admin,
}

/// What a role may publish and subscribe to: subject patterns, plus
/// whether it may answer the requests it receives (NATS's
/// `allow_responses`: only to the reply subject of a request it got).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grants {
    pub publish: Vec<String>,
    pub subscribe: Vec<String>,
    pub responds: bool,
}

/// Headers of a signed request: the sender's public NKey, and its
/// signature of the payload (hex).
pub const SIGNER_HEADER: &str = "Loupe-Signer";
pub const SIGNATURE_HEADER: &str = "Loupe-Signature";

/// The JetStream key-value bucket of export schedules (planners only).
pub const SCHEDULES_BUCKET: &str = "loupe_exports";

/// Where request-reply answers come (async-nats's default inbox prefix).
pub const INBOX: &str = "_INBOX";

/// An agent's own inbox prefix (`_INBOX.agent.<node>`): its replies from
/// JetStream (the metadata bucket) come there, and it may read no one
/// else's inbox.
pub fn agent_inbox(node: &str) -> String {
    format!("{INBOX}.agent.{node}")
}

/// The JetStream subjects of reading the metadata bucket: its stream's
/// info, an ordered consumer's creation and deletion, flow control.
fn meta_reads() -> Vec<String> {
    let stream = format!("KV_{}", crate::meta::BUCKET);
    vec![
        format!("$JS.API.STREAM.INFO.{stream}"),
        // An ordered consumer is created without a name (older servers'
        // form) or with its name and filter in the subject.
        format!("$JS.API.CONSUMER.CREATE.{stream}"),
        format!("$JS.API.CONSUMER.CREATE.{stream}.>"),
        format!("$JS.API.CONSUMER.DELETE.{stream}.>"),
        format!("$JS.FC.{stream}.>"),
    ]
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Agent, Role::Planner, Role::Reader, Role::Admin];

    pub fn name(self) -> &'static str {
        match self {
            Role::Agent => "agent",
            Role::Planner => "planner",
            Role::Reader => "reader",
            Role::Admin => "admin",
        }
    }

    /// The role's permissions. An agent's are those of one node when
    /// `node` is given (it can then neither take another node's deploys
    /// nor speak for it), of any node otherwise.
    pub fn grants(self, node: Option<&NodeName>) -> Grants {
        let n = node.map_or("*", |n| n.as_str());
        let q = |leaf: &str| format!("{PREFIX}.q.*.{leaf}");
        let inbox = format!("{INBOX}.>");
        let (publish, subscribe, responds) = match self {
            Role::Agent => (
                [
                    format!("{PREFIX}.node.{n}.heartbeat"),
                    format!("{PREFIX}.node.{n}.tap.>"),
                    q("partial"),
                    q("merge.>"),
                    // On a plain host: its own entry of the metadata
                    // bucket (its listening processes).
                    format!("$KV.{}.host.{n}", crate::meta::BUCKET),
                ]
                .into_iter()
                .chain(meta_reads())
                .collect(),
                vec![
                    format!("{}.>", agent_inbox(n)),
                    format!("{PREFIX}.node.{n}.deploy"),
                    format!("{PREFIX}.node.{n}.tail"),
                    format!("{PREFIX}.node.{n}.status"),
                    format!("{PREFIX}.node.{n}.taphold"),
                    String::from(Subject::tail_all()),
                    String::from(Subject::status_all()),
                    q("cancel"),
                    q("lease"),
                    q("merge.>"),
                ],
                true,
            ),
            Role::Planner => (
                vec![
                    format!("{PREFIX}.node.*.deploy"),
                    String::from(Subject::status_all()),
                    q("cancel"),
                    q("results"),
                    q("partial"),
                    q("merge.>"),
                    String::from(Subject::audit()),
                    // The metadata lease and bucket (JetStream).
                    "$JS.API.>".into(),
                    "$JS.FC.>".into(),
                    format!("$KV.{}.>", crate::meta::BUCKET),
                    "$KV.loupe_lease.>".into(),
                    format!("$KV.{SCHEDULES_BUCKET}.>"),
                ],
                vec![
                    format!("{} {PLANNER_GROUP}", Subject::plan()),
                    format!("{} {PLANNER_GROUP}", Subject::live()),
                    format!("{} {PLANNER_GROUP}", Subject::nodes()),
                    format!("{} {PLANNER_GROUP}", Subject::exports()),
                    String::from(Subject::heartbeats()),
                    q("partial"),
                    q("lease"),
                    q("cancel"),
                    inbox.clone(),
                ],
                true,
            ),
            Role::Reader | Role::Admin => {
                let mut publish = vec![
                    String::from(Subject::plan()),
                    String::from(Subject::live()),
                    String::from(Subject::nodes()),
                    String::from(Subject::tail_all()),
                    String::from(Subject::status_all()),
                    format!("{PREFIX}.node.*.tail"),
                    format!("{PREFIX}.node.*.status"),
                    q("lease"),
                    q("cancel"),
                ];
                let mut subscribe = vec![inbox.clone(), q("results")];
                if self == Role::Admin {
                    publish.push(format!("{PREFIX}.node.*.taphold"));
                    publish.push(String::from(Subject::exports()));
                    subscribe.push(format!("{PREFIX}.node.*.tap.>"));
                    subscribe.push(String::from(Subject::audit()));
                }
                (publish, subscribe, false)
            }
        };
        Grants {
            publish,
            subscribe,
            responds,
        }
    }
}

/// The token at `index` of a subject (`loupe.v1.q.<qid>.cancel`: the
/// query id is token 3, `loupe.v1.node.<node>.heartbeat`: the node).
pub fn token(subject: &str, index: usize) -> Option<&str> {
    subject.split('.').nth(index)
}

/// The query id of a `loupe.v1.q.<qid>.…` subject.
pub fn qid_in(subject: &str) -> Option<&str> {
    let mut t = subject.split('.');
    (t.next() == Some("loupe") && t.next() == Some("v1") && t.next() == Some("q"))
        .then(|| t.next())
        .flatten()
}

/// The node of a `loupe.v1.node.<node>.…` subject.
pub fn node_in(subject: &str) -> Option<&str> {
    let mut t = subject.split('.');
    (t.next() == Some("loupe") && t.next() == Some("v1") && t.next() == Some("node"))
        .then(|| t.next())
        .flatten()
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<Subject> for String {
    fn from(s: Subject) -> String {
        s.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_names_are_single_tokens() {
        assert!(NodeName::new("node-1_a").is_ok());
        for bad in ["", "a.b", "a*", ">", "a b"] {
            assert_eq!(NodeName::new(bad), Err(SubjectError::BadToken(bad.into())));
        }
        assert_eq!(
            NodeName::sanitized("host.example.com").as_str(),
            "host-example-com"
        );
    }

    #[test]
    fn subjects_are_versioned() {
        let n = NodeName::new("n1").unwrap();
        assert_eq!(Subject::node_tail(&n).as_str(), "loupe.v1.node.n1.tail");
        assert_eq!(Subject::tail_all().as_str(), "loupe.v1.nodes.tail");
    }

    #[test]
    fn query_ids_are_tokens_and_unguessable() {
        let long = "p".repeat(300);
        let a = QueryId::new(&long, 1);
        let b = QueryId::new(&long, 1);
        assert!(QueryId::parse(a.as_str()).is_ok(), "{a}");
        assert!(a.as_str().len() <= 128);
        assert_ne!(a, b, "the same planner, time and counter still differ");
    }

    #[test]
    fn ids_are_read_back_from_subjects() {
        let q = QueryId::parse("p1-18a-3").unwrap();
        assert_eq!(qid_in(Subject::query_cancel(&q).as_str()), Some("p1-18a-3"));
        let n = NodeName::new("n1").unwrap();
        assert_eq!(node_in(Subject::node_heartbeat(&n).as_str()), Some("n1"));
        assert_eq!(qid_in("loupe.v1.node.n1.heartbeat"), None);
        assert_eq!(node_in("other.v1.node.n1"), None);
        assert_eq!(qid_in("loupe.v1.q"), None);
    }
}
