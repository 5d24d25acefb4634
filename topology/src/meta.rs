//! Cluster metadata on the wire: what the planner that watches the
//! Kubernetes API (one per cluster) writes to the `loupe_meta` key-value
//! bucket, one entry per object, and what every agent and planner reads
//! back. Only what Loupe resolves names with is kept: a pod's ids, IPs,
//! node, owner, containers and phase; a service's cluster IPs; which pods
//! back which service; nodes for coverage. Entries are decoded with
//! [`crate::codec`] and validated like every other message.

use serde::{Deserialize, Serialize};

/// The key-value bucket.
pub const BUCKET: &str = "loupe_meta";

/// The key of the [`Source`] entry.
pub const SOURCE_KEY: &str = "source.leader";

/// The planner that watches the API server, rewritten every few seconds:
/// a reader's knowledge is as old as `api_ok_ns` says, however quiet the
/// cluster is, and grows older when the API server or NATS is lost.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Source {
    /// The planner holding the lease.
    pub leader: String,
    /// When it wrote this (ns since the epoch).
    pub at_ns: i64,
    /// The last time every watch was in step with the API server (0: never).
    pub api_ok_ns: i64,
    /// Why not, when a watch is failing.
    pub error: String,
}

/// One object of the cluster.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Object {
    Pod(Pod),
    Service(Service),
    /// The pods behind a service (from its EndpointSlices).
    Endpoints(Endpoints),
    Node(Node),
    Namespace(Namespace),
    ReplicaSet(Owned),
    Deployment(Owned),
    /// Who writes the bucket and how current it is.
    Source(Source),
    /// A plain host's listening processes, as its agent reports them.
    Host(Host),
}

impl Object {
    /// Its key in the bucket: `<kind>.<uid>` (nodes and namespaces by
    /// name, which is what refers to them).
    pub fn key(&self) -> String {
        match self {
            Object::Pod(p) => format!("pod.{}", p.uid),
            Object::Service(s) => format!("svc.{}", s.uid),
            Object::Endpoints(e) => format!("eps.{}", e.uid),
            Object::Node(n) => format!("node.{}", n.name),
            Object::Namespace(n) => format!("ns.{}", n.name),
            Object::ReplicaSet(o) => format!("rs.{}", o.uid),
            Object::Deployment(o) => format!("deploy.{}", o.uid),
            Object::Source(_) => SOURCE_KEY.to_string(),
            Object::Host(h) => format!("host.{}", h.node),
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Pod {
    pub uid: String,
    pub name: String,
    pub namespace: String,
    /// The node it is bound to ("" while pending).
    pub node: String,
    /// `status.podIPs` (the first is `status.podIP`).
    pub ips: Vec<String>,
    /// Shares its node's network: resolved by process, never by IP.
    pub host_network: bool,
    /// `status.phase` (Pending, Running, Succeeded, Failed, Unknown).
    pub phase: String,
    /// Why it is not running, when the cluster says (`CrashLoopBackOff`,
    /// `Unschedulable: …`, `ImagePullBackOff`).
    pub reason: String,
    /// `metadata.creationTimestamp`, ns since the epoch.
    pub created_ns: i64,
    /// `status.startTime`, ns since the epoch (0: not started).
    pub start_ns: i64,
    /// When it was deleted (0: it exists). Deleted pods stay a while, so
    /// that rows of their time still resolve to them.
    pub deleted_ns: i64,
    /// Its controlling owner: `ReplicaSet`, `DaemonSet`, `StatefulSet`,
    /// `Job`, ... and its uid and name.
    pub owner_kind: String,
    pub owner_uid: String,
    pub owner_name: String,
    pub containers: Vec<Container>,
    /// Its `Ready` condition is true.
    pub ready: bool,
    /// `status.message` (at most 200 characters).
    pub message: String,
    /// `status.qosClass`: Guaranteed, Burstable or BestEffort.
    pub qos: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Container {
    /// The runtime's id, without `containerd://` (64 hex digits).
    pub id: String,
    pub name: String,
    /// `Running`, `Waiting`, `Terminated` (Pixie's container states).
    pub state: String,
    /// The waiting or terminated reason (`CrashLoopBackOff`, `Completed`).
    pub reason: String,
    /// The waiting or terminated message (at most 200 characters).
    pub message: String,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Service {
    pub uid: String,
    pub name: String,
    pub namespace: String,
    /// `spec.clusterIPs` (none for a headless service).
    pub cluster_ips: Vec<String>,
    pub created_ns: i64,
    pub deleted_ns: i64,
}

/// One EndpointSlice: the pods (by uid) behind a service.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoints {
    /// The slice's uid.
    pub uid: String,
    pub namespace: String,
    /// Its `kubernetes.io/service-name` label.
    pub service: String,
    pub pods: Vec<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Node {
    pub name: String,
    pub uid: String,
    /// Its `kubernetes.io/os` label.
    pub os: String,
    pub unschedulable: bool,
    /// The Ready condition is True.
    pub ready: bool,
    /// Taints, as `key=value:Effect`.
    pub taints: Vec<String>,
    pub addresses: Vec<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Namespace {
    pub name: String,
    pub uid: String,
}

/// A ReplicaSet (owned by its Deployment) or a Deployment.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Owned {
    pub uid: String,
    pub name: String,
    pub namespace: String,
    pub owner_kind: String,
    pub owner_uid: String,
    pub owner_name: String,
}

/// A host, as its agent reports it every few seconds when it changed: the
/// addresses of the namespaces it observes and the processes listening
/// there, so that the client side of a connection, on this node or
/// another, names the process it called (on a plain host; in a cluster,
/// where no pod has the address: a host-network pod).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Host {
    pub node: String,
    /// Its addresses, loopback left out.
    pub addrs: Vec<String>,
    pub listeners: Vec<Listener>,
    /// When it booted (ns since the epoch) and its clock ticks per second:
    /// a upid's start ticks are a time with them (`px.upid_to_start_ts`).
    pub boot_ns: i64,
    pub ticks_per_s: u32,
}

/// A listening socket and the process that holds it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Listener {
    /// The bound address ("0.0.0.0" or "::": every address of the host).
    pub addr: String,
    pub port: u16,
    pub upid: String,
    /// The process's service: its pod's services in a cluster, else its
    /// OpenTelemetry service (`namespace/name` or `name`), else its
    /// program's name.
    pub service: String,
    /// Its pod's uid, in a cluster (a host-network pod is named this way).
    pub pod_id: String,
}
