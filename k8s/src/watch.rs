//! Watching the cluster: kube-rs watchers of Pods, Services,
//! EndpointSlices, Nodes, Namespaces, ReplicaSets and Deployments, each
//! object reduced to the [`Object`] Loupe resolves names with. Run in one
//! place per cluster (the planner that holds the metadata lease); what it
//! sees goes to the `loupe_meta` bucket, never to each agent's own watch.

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::{
    ContainerStatus, Namespace as K8sNamespace, Node as K8sNode, Pod as K8sPod,
    Service as K8sService,
};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use loupe_topology::meta::{Container, Endpoints, Namespace, Node, Object, Owned, Pod, Service};

use crate::cgroup::status_container_id;

/// What the watchers tell the writer.
#[derive(Debug)]
pub enum Change {
    /// An object was added or changed.
    Put(Object),
    /// An object was deleted. Pods and services are kept as tombstones
    /// (their deletion time set) so that rows of their time still resolve;
    /// other kinds go at once.
    Deleted(Object),
    /// A watch (re)listed every object of `kind` (a key prefix such as
    /// `pod.`): keys of that kind not in `keys` were deleted while it was
    /// not watching.
    Listed {
        kind: &'static str,
        keys: Vec<String>,
    },
    /// The watch of `kind` failed (it retries with backoff): what is known
    /// of that kind may be getting old.
    Failing { kind: &'static str, error: String },
}

fn ns(t: &Option<Time>) -> i64 {
    t.as_ref()
        .map(|t| i64::try_from(t.0.as_nanosecond()).unwrap_or(0))
        .unwrap_or(0)
}

fn meta_str(s: &Option<String>) -> String {
    s.clone().unwrap_or_default()
}

/// The controlling owner of an object: (kind, uid, name).
fn controller(m: &ObjectMeta) -> (String, String, String) {
    m.owner_references
        .iter()
        .flatten()
        .find(|o| o.controller == Some(true))
        .or_else(|| m.owner_references.iter().flatten().next())
        .map(|o| (o.kind.clone(), o.uid.clone(), o.name.clone()))
        .unwrap_or_default()
}

fn container(s: &ContainerStatus) -> Container {
    let st = s.state.as_ref();
    let (state, reason, message) = if let Some(t) = st.and_then(|st| st.terminated.as_ref()) {
        ("Terminated", t.reason.clone(), t.message.clone())
    } else if let Some(w) = st.and_then(|st| st.waiting.as_ref()) {
        ("Waiting", w.reason.clone(), w.message.clone())
    } else if st.is_some_and(|st| st.running.is_some()) {
        ("Running", None, None)
    } else {
        ("Unknown", None, None)
    };
    Container {
        id: s
            .container_id
            .as_deref()
            .map(status_container_id)
            .unwrap_or("")
            .to_string(),
        name: s.name.clone(),
        state: state.to_string(),
        reason: reason.unwrap_or_default(),
        message: message.unwrap_or_default().chars().take(200).collect(),
    }
}

pub fn pod(p: &K8sPod) -> Pod {
    let m = &p.metadata;
    let (owner_kind, owner_uid, owner_name) = controller(m);
    let spec = p.spec.as_ref();
    let status = p.status.as_ref();
    let mut ips: Vec<String> = status
        .and_then(|s| s.pod_ips.as_ref())
        .map(|v| v.iter().map(|i| i.ip.clone()).collect())
        .unwrap_or_default();
    if ips.is_empty()
        && let Some(ip) = status.and_then(|s| s.pod_ip.clone())
    {
        ips.push(ip);
    }
    let containers: Vec<Container> = status
        .into_iter()
        .flat_map(|s| {
            s.init_container_statuses
                .iter()
                .flatten()
                .chain(s.container_statuses.iter().flatten())
        })
        .map(container)
        .collect();
    // Why it is not running: a container's waiting reason (CrashLoopBackOff,
    // ImagePullBackOff), else a condition's (Unschedulable: message).
    let reason = containers
        .iter()
        .find(|c| c.state == "Waiting" && !c.reason.is_empty())
        .map(|c| c.reason.clone())
        .or_else(|| {
            status
                .and_then(|s| s.conditions.as_ref())
                .into_iter()
                .flatten()
                .find(|c| c.status == "False" && c.reason.is_some())
                .map(|c| {
                    format!(
                        "{}: {}",
                        meta_str(&c.reason),
                        meta_str(&c.message).chars().take(200).collect::<String>()
                    )
                })
        })
        .or_else(|| status.and_then(|s| s.reason.clone()))
        .unwrap_or_default();
    Pod {
        uid: meta_str(&m.uid),
        name: meta_str(&m.name),
        namespace: meta_str(&m.namespace),
        node: spec.and_then(|s| s.node_name.clone()).unwrap_or_default(),
        ips,
        host_network: spec.and_then(|s| s.host_network).unwrap_or(false),
        phase: status.and_then(|s| s.phase.clone()).unwrap_or_default(),
        reason,
        created_ns: ns(&m.creation_timestamp),
        start_ns: ns(&status.and_then(|s| s.start_time.clone())),
        deleted_ns: 0,
        owner_kind,
        owner_uid,
        owner_name,
        containers,
        ready: status
            .and_then(|s| s.conditions.as_ref())
            .into_iter()
            .flatten()
            .any(|c| c.type_ == "Ready" && c.status == "True"),
        qos: status.and_then(|s| s.qos_class.clone()).unwrap_or_default(),
        message: status
            .and_then(|s| s.message.as_deref())
            .unwrap_or_default()
            .chars()
            .take(200)
            .collect(),
    }
}

pub fn service(s: &K8sService) -> Service {
    let m = &s.metadata;
    let spec = s.spec.as_ref();
    let mut ips: Vec<String> = spec
        .and_then(|s| s.cluster_ips.clone())
        .unwrap_or_default()
        .into_iter()
        .filter(|ip| ip != "None")
        .collect();
    if ips.is_empty()
        && let Some(ip) = spec.and_then(|s| s.cluster_ip.clone())
        && ip != "None"
        && !ip.is_empty()
    {
        ips.push(ip);
    }
    Service {
        uid: meta_str(&m.uid),
        name: meta_str(&m.name),
        namespace: meta_str(&m.namespace),
        cluster_ips: ips,
        created_ns: ns(&m.creation_timestamp),
        deleted_ns: 0,
    }
}

pub fn endpoints(e: &EndpointSlice) -> Endpoints {
    let m = &e.metadata;
    Endpoints {
        uid: meta_str(&m.uid),
        namespace: meta_str(&m.namespace),
        service: m
            .labels
            .as_ref()
            .and_then(|l| l.get("kubernetes.io/service-name").cloned())
            .unwrap_or_default(),
        pods: e
            .endpoints
            .iter()
            .flatten()
            .filter_map(|ep| ep.target_ref.as_ref())
            .filter(|r| r.kind.as_deref() == Some("Pod"))
            .filter_map(|r| r.uid.clone())
            .collect(),
    }
}

pub fn node(n: &K8sNode) -> Node {
    let m = &n.metadata;
    let spec = n.spec.as_ref();
    let status = n.status.as_ref();
    Node {
        name: meta_str(&m.name),
        uid: meta_str(&m.uid),
        os: m
            .labels
            .as_ref()
            .and_then(|l| l.get("kubernetes.io/os").cloned())
            .unwrap_or_default(),
        unschedulable: spec.and_then(|s| s.unschedulable).unwrap_or(false),
        ready: status
            .and_then(|s| s.conditions.as_ref())
            .into_iter()
            .flatten()
            .any(|c| c.type_ == "Ready" && c.status == "True"),
        taints: spec
            .and_then(|s| s.taints.as_ref())
            .into_iter()
            .flatten()
            .map(|t| match &t.value {
                Some(v) => format!("{}={}:{}", t.key, v, t.effect),
                None => format!("{}:{}", t.key, t.effect),
            })
            .collect(),
        addresses: status
            .and_then(|s| s.addresses.as_ref())
            .into_iter()
            .flatten()
            .map(|a| a.address.clone())
            .collect(),
    }
}

pub fn namespace(n: &K8sNamespace) -> Namespace {
    Namespace {
        name: meta_str(&n.metadata.name),
        uid: meta_str(&n.metadata.uid),
    }
}

fn owned(m: &ObjectMeta) -> Owned {
    let (owner_kind, owner_uid, owner_name) = controller(m);
    Owned {
        uid: meta_str(&m.uid),
        name: meta_str(&m.name),
        namespace: meta_str(&m.namespace),
        owner_kind,
        owner_uid,
        owner_name,
    }
}

pub fn replicaset(r: &ReplicaSet) -> Owned {
    owned(&r.metadata)
}

pub fn deployment(d: &Deployment) -> Owned {
    owned(&d.metadata)
}

/// The seven watchers, each feeding `tx` until it is closed. A watch that
/// fails (the API server gone, a 410 Gone) backs off and relists; the
/// relist is a [`Change::Listed`], so deletions missed meanwhile are not
/// kept forever.
pub async fn watch_cluster(client: kube::Client, tx: tokio::sync::mpsc::Sender<Change>) {
    use futures::future::join_all;
    let tasks: Vec<std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>> = vec![
        Box::pin(watch_kind::<K8sPod>(
            client.clone(),
            tx.clone(),
            "pod.",
            |p| Object::Pod(pod(p)),
        )),
        Box::pin(watch_kind::<K8sService>(
            client.clone(),
            tx.clone(),
            "svc.",
            |s| Object::Service(service(s)),
        )),
        Box::pin(watch_kind::<EndpointSlice>(
            client.clone(),
            tx.clone(),
            "eps.",
            |e| Object::Endpoints(endpoints(e)),
        )),
        Box::pin(watch_kind::<K8sNode>(
            client.clone(),
            tx.clone(),
            "node.",
            |n| Object::Node(node(n)),
        )),
        Box::pin(watch_kind::<K8sNamespace>(
            client.clone(),
            tx.clone(),
            "ns.",
            |n| Object::Namespace(namespace(n)),
        )),
        Box::pin(watch_kind::<ReplicaSet>(
            client.clone(),
            tx.clone(),
            "rs.",
            |r| Object::ReplicaSet(replicaset(r)),
        )),
        Box::pin(watch_kind::<Deployment>(client, tx, "deploy.", |d| {
            Object::Deployment(deployment(d))
        })),
    ];
    join_all(tasks).await;
}

async fn watch_kind<K>(
    client: kube::Client,
    tx: tokio::sync::mpsc::Sender<Change>,
    kind: &'static str,
    convert: fn(&K) -> Object,
) where
    K: kube::Resource<DynamicType = ()>
        + Clone
        + std::fmt::Debug
        + serde::de::DeserializeOwned
        + Send
        + Sync
        + 'static,
{
    use futures::StreamExt;
    use kube::runtime::{WatchStreamExt, watcher};
    let api: kube::Api<K> = kube::Api::all(client);
    let mut events = std::pin::pin!(watcher(api, watcher::Config::default()).default_backoff());
    let mut listed: Vec<String> = Vec::new();
    while let Some(ev) = events.next().await {
        let change = match ev {
            Ok(watcher::Event::Init) => {
                listed.clear();
                continue;
            }
            Ok(watcher::Event::InitApply(o)) => {
                let o = convert(&o);
                listed.push(o.key());
                Change::Put(o)
            }
            Ok(watcher::Event::InitDone) => Change::Listed {
                kind,
                keys: std::mem::take(&mut listed),
            },
            Ok(watcher::Event::Apply(o)) => Change::Put(convert(&o)),
            Ok(watcher::Event::Delete(o)) => Change::Deleted(convert(&o)),
            Err(e) => {
                tracing::warn!(kind, error = %e, "watch failed; retrying with backoff");
                Change::Failing {
                    kind,
                    error: e.to_string(),
                }
            }
        };
        if tx.send(change).await.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pod_as_the_api_server_writes_it() {
        let id = "4c2f7a0e9d8b1c3a5e6f7081920a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c";
        let p: K8sPod = serde_json::from_value(serde_json::json!({
            "metadata": {
                "name": "api-5d-x", "namespace": "shop", "uid": "0f2a6b1c-3d4e-4f50-8a9b-0c1d2e3f4a5b",
                "creationTimestamp": "2026-12-01T10:00:00Z",
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "api-5d", "uid": "rs-uid", "controller": true}]
            },
            "spec": {"nodeName": "n1", "containers": [{"name": "app", "image": "x"}]},
            "status": {
                "phase": "Running", "podIP": "10.0.0.5", "podIPs": [{"ip": "10.0.0.5"}],
                "startTime": "2026-12-01T10:00:01Z",
                "containerStatuses": [{
                    "name": "app", "containerID": format!("containerd://{id}"), "image": "x", "imageID": "",
                    "ready": false, "restartCount": 3, "state": {"waiting": {"reason": "CrashLoopBackOff"}}
                }]
            }
        }))
        .unwrap();
        let got = pod(&p);
        assert_eq!(got.uid, "0f2a6b1c-3d4e-4f50-8a9b-0c1d2e3f4a5b");
        assert_eq!((got.namespace.as_str(), got.node.as_str()), ("shop", "n1"));
        assert_eq!(got.ips, ["10.0.0.5"]);
        assert_eq!(got.containers[0].id, id);
        assert_eq!(got.containers[0].state, "Waiting");
        assert_eq!(got.reason, "CrashLoopBackOff");
        assert_eq!(
            (got.owner_kind.as_str(), got.owner_uid.as_str()),
            ("ReplicaSet", "rs-uid")
        );
        assert_eq!(got.created_ns, 1_796_119_200_000_000_000);
        assert_eq!(got.start_ns, got.created_ns + 1_000_000_000);
    }

    #[test]
    fn a_headless_service_has_no_cluster_ip() {
        let s: K8sService = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "db", "namespace": "shop", "uid": "s1"},
            "spec": {"clusterIP": "None", "clusterIPs": ["None"]}
        }))
        .unwrap();
        assert!(service(&s).cluster_ips.is_empty());
    }

    #[test]
    fn a_tainted_node() {
        let n: K8sNode = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "n2", "uid": "u", "labels": {"kubernetes.io/os": "linux"}},
            "spec": {"taints": [{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]},
            "status": {"conditions": [{"type": "Ready", "status": "True"}]}
        }))
        .unwrap();
        let got = node(&n);
        assert_eq!(got.taints, ["dedicated=gpu:NoSchedule"]);
        assert!(got.ready && got.os == "linux" && !got.unschedulable);
    }
}
