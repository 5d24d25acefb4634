//! Answers of the metadata functions (`topology::plan::meta_fn`): from the
//! cluster metadata this process follows (agents and planners both follow
//! the `loupe_meta` bucket, so a fragment answers the same wherever the
//! split puts it), once per distinct value of a dictionary column.
//!
//! A process without cluster metadata (a plain host) answers as Pixie does
//! where nothing matches: "" (a time: 0), and statuses of `Unknown`.

use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroUsize;
use std::sync::{Arc, Condvar, Mutex, OnceLock, RwLock, mpsc};
use std::time::{Duration, Instant};

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, StringBuilder, TimestampNanosecondArray,
};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Int64Type};
use loupe_k8s::cluster::ClusterState;
use loupe_topology::meta::Pod;
use loupe_topology::plan::MetaFn;

use super::ExecError;
use super::eval::{Value, per_string, plain, strings_by};
use crate::metadata::Shared;

static FOLLOWED: RwLock<Option<Shared>> = RwLock::new(None);

/// Makes `state` what metadata functions answer from in this process (an
/// agent or planner installs what it follows, once, at start).
pub fn install(state: Shared) {
    *FOLLOWED.write().unwrap_or_else(|p| p.into_inner()) = Some(state);
}

fn followed() -> Option<Shared> {
    FOLLOWED.read().unwrap_or_else(|p| p.into_inner()).clone()
}

/// Evaluates `f` over `args` (columns or scalars of `len` rows) against
/// the metadata this process follows.
pub fn call(f: MetaFn, args: Vec<Value>, len: usize) -> Result<Value, ExecError> {
    let shared = followed();
    let guard = shared
        .as_ref()
        .map(|s| s.read().unwrap_or_else(|p| p.into_inner()));
    let empty = ClusterState::default();
    let state: &ClusterState = guard.as_deref().unwrap_or(&empty);
    call_with(f, args, len, state)
}

/// Evaluates `f` against `state`.
pub fn call_with(
    f: MetaFn,
    args: Vec<Value>,
    len: usize,
    state: &ClusterState,
) -> Result<Value, ExecError> {
    let arg = |i: usize| -> Result<&Value, ExecError> {
        args.get(i).ok_or_else(|| {
            ExecError::Plan(format!("px.{} is missing argument {}", f.name(), i + 1))
        })
    };
    use MetaFn::*;
    match f {
        IpToPodId | IpToServiceId => {
            let ips = plain(&arg(0)?.clone().into_array(len)?)?;
            let ips = ips.as_string::<i32>();
            // At the row's time when the compiler passed it; else now.
            let times = match args.get(1) {
                Some(t) => Some(cast(&t.clone().into_array(len)?, &DataType::Int64)?),
                None => None,
            };
            let times = times.as_ref().map(|t| t.as_primitive::<Int64Type>());
            // On plain hosts: the port and the row's upid (its node).
            let ports = match args.get(2) {
                Some(p) => Some(cast(&p.clone().into_array(len)?, &DataType::Int64)?),
                None => None,
            };
            let ports = ports.as_ref().map(|p| p.as_primitive::<Int64Type>());
            let upids = match args.get(3) {
                Some(u) => Some(plain(&u.clone().into_array(len)?)?),
                None => None,
            };
            let upids = upids.as_ref().map(|u| u.as_string::<i32>());
            let now = now_ns();
            let mut b = StringBuilder::with_capacity(len, len * 36);
            for i in 0..len {
                if ips.is_null(i) {
                    b.append_null();
                    continue;
                }
                let t = times.filter(|t| !t.is_null(i)).map_or(now, |t| t.value(i));
                let ip = ips.value(i);
                // A plain host's process listening there, when no pod is.
                let listener = || {
                    let port = ports.filter(|p| !p.is_null(i)).map(|p| p.value(i))?;
                    let node = upids
                        .filter(|u| !u.is_null(i))
                        .map_or("", |u| u.value(i).split(':').next().unwrap_or_default());
                    state.listener(ip, u16::try_from(port).ok()?, node)
                };
                match f {
                    IpToPodId => match state.pod_by_ip(ip, t) {
                        Some(p) => b.append_value(&p.uid),
                        // A host-network pod's process is its pod; a plain
                        // host's process is named by its upid.
                        None => b.append_value(listener().map_or("", |l| {
                            if l.pod_id.is_empty() {
                                l.upid.as_str()
                            } else {
                                l.pod_id.as_str()
                            }
                        })),
                    },
                    _ => {
                        if let Some(s) = state.service_by_ip(ip, t) {
                            b.append_value(&s.uid);
                        } else if let Some(p) = state.pod_by_ip(ip, t) {
                            b.append_value(services(state, p, |s| s.uid.clone()));
                        } else {
                            b.append_value("");
                        }
                    }
                }
            }
            Ok(Value::Array(Arc::new(b.finish())))
        }
        HasServiceName | HasServiceId => {
            let a = plain(&arg(0)?.clone().into_array(len)?)?;
            let v = plain(&arg(1)?.clone().into_array(len)?)?;
            let (a, v) = (a.as_string::<i32>(), v.as_string::<i32>());
            let out: BooleanArray = (0..len)
                .map(|i| {
                    (!a.is_null(i) && !v.is_null(i))
                        .then(|| equals_or_contains(a.value(i), v.value(i)))
                })
                .collect();
            Ok(Value::Array(Arc::new(out)))
        }
        PodIdToStartTime | PodIdToStopTime | PodNameToStartTime | PodNameToStopTime => {
            per_string(arg(0)?, &mut |s| {
                let out: TimestampNanosecondArray = s
                    .iter()
                    .map(|v| {
                        v.map(|v| {
                            let pod = match f {
                                PodIdToStartTime | PodIdToStopTime => state.pod(v),
                                _ => state.pod_by_name(v),
                            };
                            pod.map_or(0, |p| match f {
                                PodIdToStartTime | PodNameToStartTime => p.start_ns,
                                _ => p.deleted_ns,
                            })
                        })
                    })
                    .collect();
                Ok(Arc::new(out) as ArrayRef)
            })
        }
        Nslookup => per_string(arg(0)?, &mut |s| {
            let names = nslookup_all(s.iter().flatten());
            Ok(strings_by(s, |v, o| {
                o.push_str(names.get(v).map_or(v, String::as_str))
            }))
        }),
        UpidToStartTs => per_string(arg(0)?, &mut |s| {
            let out: TimestampNanosecondArray = s
                .iter()
                .map(|v| v.map(|v| state.upid_start_ns(v).unwrap_or(0)))
                .collect();
            Ok(Arc::new(out) as ArrayRef)
        }),
        UpidToAsid => per_string(arg(0)?, &mut |s| {
            let out: arrow::array::Int64Array = s
                .iter()
                .map(|v| v.map(|v| asid(v.split(':').next().unwrap_or_default())))
                .collect();
            Ok(Arc::new(out) as ArrayRef)
        }),
        _ => per_string(arg(0)?, &mut |s| {
            Ok(strings_by(s, |v, o| one_string(f, state, v, o)))
        }),
    }
}

/// The functions of one string to one string.
fn one_string(f: MetaFn, state: &ClusterState, v: &str, o: &mut String) {
    use MetaFn::*;
    let qualified = |ns: &str, name: &str, o: &mut String| {
        o.push_str(ns);
        o.push('/');
        o.push_str(name);
    };
    let pod_fn = |p: &Pod, o: &mut String| match f {
        PodIdToPodName => qualified(&p.namespace, &p.name, o),
        PodIdToNamespace | PodNameToNamespace => o.push_str(&p.namespace),
        PodIdToNodeName => o.push_str(&p.node),
        PodIdToServiceName | PodNameToServiceName => o.push_str(&services(state, p, |s| {
            format!("{}/{}", s.namespace, s.name)
        })),
        PodIdToServiceId | PodNameToServiceId => o.push_str(&services(state, p, |s| s.uid.clone())),
        PodIdToDeploymentName | PodNameToDeploymentName => {
            if let Some(d) = state.deployment_of_pod(p) {
                qualified(&d.namespace, &d.name, o)
            }
        }
        PodIdToDeploymentId | PodNameToDeploymentId => {
            if let Some(d) = state.deployment_of_pod(p) {
                o.push_str(&d.uid)
            }
        }
        PodIdToReplicaSetName | PodNameToReplicaSetName => {
            if let Some(r) = state.replicaset_of_pod(p) {
                qualified(&r.namespace, &r.name, o)
            }
        }
        PodIdToReplicaSetId | PodNameToReplicaSetId => {
            if let Some(r) = state.replicaset_of_pod(p) {
                o.push_str(&r.uid)
            }
        }
        PodNameToPodId => o.push_str(&p.uid),
        PodIdToQosClass => o.push_str(&p.qos),
        PodNameToPodIp => o.push_str(p.ips.first().map_or("", String::as_str)),
        _ => {}
    };
    match f {
        PodIdToPodName
        | PodIdToNamespace
        | PodIdToNodeName
        | PodIdToServiceName
        | PodIdToServiceId
        | PodIdToDeploymentName
        | PodIdToDeploymentId
        | PodIdToReplicaSetName
        | PodIdToReplicaSetId
        | PodIdToQosClass => {
            if let Some(p) = state.pod(v) {
                pod_fn(p, o)
            } else if let Some((h, l)) = state.listener_by_upid(v) {
                // A plain host's process (`ip_to_pod_id` named it by its
                // upid): its service and node; it has no pod.
                match f {
                    PodIdToServiceName => o.push_str(&l.service),
                    PodIdToNodeName => o.push_str(&h.node),
                    _ => {}
                }
            }
        }
        PodNameToPodId
        | PodNameToNamespace
        | PodNameToPodIp
        | PodNameToServiceName
        | PodNameToServiceId
        | PodNameToDeploymentName
        | PodNameToDeploymentId
        | PodNameToReplicaSetName
        | PodNameToReplicaSetId => {
            if let Some(p) = state.pod_by_name(v) {
                pod_fn(p, o)
            }
        }
        PodNameToStatus => o.push_str(&pod_status(state.pod_by_name(v))),
        ServiceIdToServiceName => {
            if let Some(s) = state.service(v) {
                qualified(&s.namespace, &s.name, o)
            }
        }
        ServiceIdToClusterIp => {
            if let Some(s) = state.service(v) {
                o.push_str(s.cluster_ips.first().map_or("", String::as_str))
            }
        }
        ServiceNameToServiceId => {
            if let Some(s) = state.service_by_name(v) {
                o.push_str(&s.uid)
            }
        }
        ServiceNameToNamespace => {
            // Pixie's: the part before the slash of a qualified name.
            if let Some((ns, _)) = v.split_once('/') {
                o.push_str(ns)
            }
        }
        ContainerIdToStatus => {
            let c = state
                .pod_of_container(v)
                .and_then(|p| p.containers.iter().find(|c| c.id == v));
            let (state, message, reason) = c.map_or(("Unknown", "", ""), |c| {
                (c.state.as_str(), c.message.as_str(), c.reason.as_str())
            });
            // Pixie's keys, in Pixie's order.
            o.push_str(&format!(
                r#"{{"state":{},"message":{},"reason":{}}}"#,
                json_str(state),
                json_str(message),
                json_str(reason)
            ));
        }
        NamespaceNameToNamespaceId => {
            if let Some(n) = state.namespace(v) {
                o.push_str(&n.uid)
            }
        }
        _ => {}
    }
}

/// Pixie's form of several services: one as itself, several as a JSON
/// array, none as "". Only services that still exist.
fn services(
    state: &ClusterState,
    pod: &Pod,
    f: impl Fn(&loupe_topology::meta::Service) -> String,
) -> String {
    loupe_k8s::cluster::pixie_list(
        state
            .services_of_pod(pod)
            .into_iter()
            .filter(|s| s.deleted_ns == 0)
            .map(f)
            .collect(),
    )
}

/// `{"phase": ..., "message": ..., "reason": ..., "ready": ...}` as Pixie.
fn pod_status(p: Option<&Pod>) -> String {
    let (phase, message, reason, ready) = match p {
        Some(p) if p.deleted_ns != 0 => ("Terminated", "", "", false),
        Some(p) => (
            if p.phase.is_empty() {
                "Unknown"
            } else {
                p.phase.as_str()
            },
            p.message.as_str(),
            p.reason.as_str(),
            p.ready,
        ),
        None => ("Unknown", "", "", false),
    };
    format!(
        r#"{{"phase":{},"message":{},"reason":{},"ready":{ready}}}"#,
        json_str(phase),
        json_str(message),
        json_str(reason)
    )
}

/// A JSON string literal of `s`.
fn json_str(s: &str) -> String {
    serde_json::Value::from(s).to_string()
}

/// `value` is `service`, or one of the JSON array `service` holds.
fn equals_or_contains(service: &str, value: &str) -> bool {
    if service.starts_with('[')
        && let Ok(v) = serde_json::from_str::<Vec<String>>(service)
    {
        return v.iter().any(|s| s == value);
    }
    service == value
}

/// A stable 32-bit id of a node (FNV-1a of its name): Loupe has no agent
/// short ids, and a upid names its node.
pub fn asid(node: &str) -> i64 {
    let mut h: u32 = 0x811c_9dc5;
    for b in node.bytes() {
        h ^= b as u32;
        h = h.wrapping_mul(0x0100_0193);
    }
    h as i64
}

fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64)
}

// --- px.nslookup: reverse DNS, cached and bounded ---

/// Addresses remembered (names and failures both).
const NSLOOKUP_CACHE: usize = 4096;
/// How long a name (or a failure) is kept.
const NSLOOKUP_TTL: Duration = Duration::from_secs(300);
/// How long one call waits for the names it does not have yet; the rest
/// answer as their address this time and by name once resolved.
const NSLOOKUP_WAIT: Duration = Duration::from_millis(500);
/// Resolver threads, and lookups queued for them at most.
const NSLOOKUP_THREADS: usize = 4;
const NSLOOKUP_QUEUE: usize = 1024;

#[derive(Clone)]
enum Entry {
    Pending,
    Done(String, Instant),
}

struct Resolver {
    cache: Mutex<lru::LruCache<IpAddr, Entry>>,
    answered: Condvar,
    queue: mpsc::SyncSender<IpAddr>,
}

fn resolver() -> &'static Resolver {
    static R: OnceLock<&'static Resolver> = OnceLock::new();
    R.get_or_init(|| {
        let (tx, rx) = mpsc::sync_channel::<IpAddr>(NSLOOKUP_QUEUE);
        let r: &'static Resolver = Box::leak(Box::new(Resolver {
            cache: Mutex::new(lru::LruCache::new(
                NonZeroUsize::new(NSLOOKUP_CACHE).expect("non-zero"),
            )),
            answered: Condvar::new(),
            queue: tx,
        }));
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..NSLOOKUP_THREADS {
            let rx = rx.clone();
            let _ = std::thread::Builder::new()
                .name(format!("nslookup-{i}"))
                .spawn(move || {
                    loop {
                        let ip = match rx.lock().unwrap_or_else(|p| p.into_inner()).recv() {
                            Ok(ip) => ip,
                            Err(_) => return,
                        };
                        // The address itself when it has no name.
                        let name = dns_lookup::lookup_addr(&ip).unwrap_or_else(|_| ip.to_string());
                        let mut c = r.cache.lock().unwrap_or_else(|p| p.into_inner());
                        c.put(ip, Entry::Done(name, Instant::now()));
                        drop(c);
                        r.answered.notify_all();
                    }
                });
        }
        r
    })
}

/// Names of the addresses among `values` (strings that are not addresses
/// are left out: they answer as themselves).
fn nslookup_all<'a>(values: impl Iterator<Item = &'a str>) -> HashMap<String, String> {
    let r = resolver();
    let mut out = HashMap::new();
    let mut waiting: Vec<(String, IpAddr)> = Vec::new();
    {
        let mut c = r.cache.lock().unwrap_or_else(|p| p.into_inner());
        for v in values {
            if out.contains_key(v) || waiting.iter().any(|(w, _)| w == v) {
                continue;
            }
            let Ok(ip) = v.parse::<IpAddr>() else {
                continue;
            };
            match c.get(&ip) {
                Some(Entry::Done(name, at)) if at.elapsed() < NSLOOKUP_TTL => {
                    out.insert(v.to_string(), name.clone());
                }
                Some(Entry::Pending) => waiting.push((v.to_string(), ip)),
                _ => {
                    // Queued if there is room; else it answers as itself.
                    if r.queue.try_send(ip).is_ok() {
                        c.put(ip, Entry::Pending);
                        waiting.push((v.to_string(), ip));
                    }
                }
            }
        }
    }
    let deadline = Instant::now() + NSLOOKUP_WAIT;
    let mut c = r.cache.lock().unwrap_or_else(|p| p.into_inner());
    loop {
        waiting.retain(|(v, ip)| match c.peek(ip) {
            Some(Entry::Done(name, _)) => {
                out.insert(v.clone(), name.clone());
                false
            }
            _ => true,
        });
        let left = deadline.saturating_duration_since(Instant::now());
        if waiting.is_empty() || left.is_zero() {
            return out;
        }
        c = r
            .answered
            .wait_timeout(c, left)
            .unwrap_or_else(|p| p.into_inner())
            .0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{StringArray, TimestampNanosecondArray};
    use loupe_topology::meta::{Container, Endpoints, Object, Owned, Service};

    fn pod(uid: &str, name: &str, ip: &str, created: i64) -> Pod {
        Pod {
            uid: uid.into(),
            name: name.into(),
            namespace: "shop".into(),
            node: "kn1".into(),
            ips: vec![ip.into()],
            phase: "Running".into(),
            ready: true,
            created_ns: created,
            start_ns: created + 5,
            owner_kind: "ReplicaSet".into(),
            owner_uid: "rs-1".into(),
            owner_name: "api-5d".into(),
            containers: vec![Container {
                id: format!("c{uid}"),
                name: "web".into(),
                state: "Waiting".into(),
                reason: "CrashLoopBackOff".into(),
                message: "back-off 5m".into(),
            }],
            ..Default::default()
        }
    }

    fn state() -> ClusterState {
        let mut s = ClusterState::default();
        s.apply(Object::Pod(pod("p1", "api-1", "10.1.0.5", 100)), 0);
        s.apply(Object::Pod(pod("p2", "api-2", "10.1.0.6", 100)), 0);
        s.apply(
            Object::ReplicaSet(Owned {
                uid: "rs-1".into(),
                name: "api-5d".into(),
                namespace: "shop".into(),
                owner_kind: "Deployment".into(),
                owner_uid: "d-1".into(),
                owner_name: "api".into(),
            }),
            0,
        );
        s.apply(
            Object::Deployment(Owned {
                uid: "d-1".into(),
                name: "api".into(),
                namespace: "shop".into(),
                ..Default::default()
            }),
            0,
        );
        for (uid, name, ip) in [("s1", "api", "10.96.0.10"), ("s2", "all", "10.96.0.11")] {
            s.apply(
                Object::Service(Service {
                    uid: uid.into(),
                    name: name.into(),
                    namespace: "shop".into(),
                    cluster_ips: vec![ip.into()],
                    created_ns: 1,
                    deleted_ns: 0,
                }),
                0,
            );
        }
        s.apply(
            Object::Endpoints(Endpoints {
                uid: "e1".into(),
                namespace: "shop".into(),
                service: "api".into(),
                pods: vec!["p1".into(), "p2".into()],
            }),
            0,
        );
        s.apply(
            Object::Endpoints(Endpoints {
                uid: "e2".into(),
                namespace: "shop".into(),
                service: "all".into(),
                pods: vec!["p2".into()],
            }),
            0,
        );
        s
    }

    fn strings(v: &[&str]) -> Value {
        Value::Array(Arc::new(StringArray::from(v.to_vec())))
    }

    fn out(f: MetaFn, args: Vec<Value>, len: usize, s: &ClusterState) -> Vec<String> {
        let v = call_with(f, args, len, s).unwrap().into_array(len).unwrap();
        let v = plain(&v).unwrap();
        v.as_string::<i32>()
            .iter()
            .map(|x| x.unwrap_or("<null>").to_string())
            .collect()
    }

    #[test]
    fn an_ip_names_the_pod_that_held_it_at_the_rows_time() {
        let mut s = state();
        // api-1 is deleted at 200 and its IP goes to api-3 at 300.
        let mut gone = pod("p1", "api-1", "10.1.0.5", 100);
        gone.deleted_ns = 200;
        s.apply(Object::Pod(gone), 0);
        s.apply(Object::Pod(pod("p3", "api-3", "10.1.0.5", 300)), 0);
        let ips = strings(&["10.1.0.5", "10.1.0.5", "10.1.0.5", "10.9.9.9"]);
        let t = Value::Array(Arc::new(TimestampNanosecondArray::from(vec![
            150, 250, 350, 150,
        ])));
        assert_eq!(
            out(MetaFn::IpToPodId, vec![ips, t], 4, &s),
            ["p1", "", "p3", ""]
        );
    }

    #[test]
    fn services_are_named_as_pixie_names_them() {
        let s = state();
        let ids = strings(&["p1", "p2", "nope"]);
        assert_eq!(
            out(MetaFn::PodIdToServiceName, vec![ids.clone()], 3, &s),
            ["shop/api", r#"["shop/all","shop/api"]"#, ""]
        );
        assert_eq!(
            out(MetaFn::PodIdToPodName, vec![ids.clone()], 3, &s),
            ["shop/api-1", "shop/api-2", ""]
        );
        assert_eq!(
            out(MetaFn::PodIdToDeploymentName, vec![ids.clone()], 3, &s),
            ["shop/api", "shop/api", ""]
        );
        assert_eq!(
            out(MetaFn::PodIdToReplicaSetId, vec![ids], 3, &s),
            ["rs-1", "rs-1", ""]
        );
        // A cluster IP is its service; a pod IP, its pod's services.
        let ips = strings(&["10.96.0.10", "10.1.0.5", "10.2.2.2"]);
        assert_eq!(
            out(MetaFn::IpToServiceId, vec![ips], 3, &s),
            ["s1", "s1", ""]
        );
        let svc = strings(&["shop/api", r#"["shop/all","shop/api"]"#, "shop/apix"]);
        let v = call_with(
            MetaFn::HasServiceName,
            vec![
                svc,
                Value::Scalar(Arc::new(StringArray::from(vec!["shop/api"]))),
            ],
            3,
            &s,
        )
        .unwrap()
        .into_array(3)
        .unwrap();
        let v: Vec<Option<bool>> = v.as_boolean().iter().collect();
        assert_eq!(v, [Some(true), Some(true), Some(false)]);
    }

    #[test]
    fn statuses_are_pixies_json() {
        let s = state();
        let st = out(
            MetaFn::PodNameToStatus,
            vec![strings(&["shop/api-1", "shop/none"])],
            2,
            &s,
        );
        let a: serde_json::Value = serde_json::from_str(&st[0]).unwrap();
        assert_eq!(a["phase"], "Running");
        assert_eq!(a["ready"], true);
        let b: serde_json::Value = serde_json::from_str(&st[1]).unwrap();
        assert_eq!(b["phase"], "Unknown");
        let c = out(MetaFn::ContainerIdToStatus, vec![strings(&["cp2"])], 1, &s);
        let c: serde_json::Value = serde_json::from_str(&c[0]).unwrap();
        assert_eq!(c["state"], "Waiting");
        assert_eq!(c["reason"], "CrashLoopBackOff");
        assert_eq!(c["message"], "back-off 5m");
        assert_eq!(
            out(
                MetaFn::PodNameToPodIp,
                vec![strings(&["shop/api-2"])],
                1,
                &s
            ),
            ["10.1.0.6"]
        );
    }

    #[test]
    fn on_plain_hosts_the_listening_process_names_the_peer() {
        use loupe_topology::meta::{Host, Listener};
        let mut s = ClusterState::default();
        s.apply(
            Object::Host(Host {
                node: "node-a".into(),
                addrs: vec!["10.2.0.1".into()],
                listeners: vec![Listener {
                    addr: "127.0.0.1".into(),
                    port: 5432,
                    upid: "node-a:10:1".into(),
                    service: "postgres".into(),
                    ..Default::default()
                }],
                boot_ns: 1_000_000_000_000,
                ticks_per_s: 100,
            }),
            0,
        );
        s.apply(
            Object::Host(Host {
                node: "node-b".into(),
                addrs: vec!["10.2.0.2".into()],
                listeners: vec![Listener {
                    addr: "0.0.0.0".into(),
                    port: 80,
                    upid: "node-b:20:1".into(),
                    service: "shop/web".into(),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            0,
        );
        let ips = strings(&["127.0.0.1", "127.0.0.1", "10.2.0.2", "10.2.0.2", "10.2.0.1"]);
        let t = Value::Scalar(Arc::new(TimestampNanosecondArray::from(vec![5])));
        let ports = Value::Array(Arc::new(arrow::array::Int64Array::from(vec![
            5432, 5432, 80, 81, 5432,
        ])));
        let upids = strings(&[
            "node-a:1:1",
            "node-c:1:1",
            "node-a:1:1",
            "node-a:1:1",
            "node-b:1:1",
        ]);
        let ids = out(MetaFn::IpToPodId, vec![ips, t, ports, upids], 5, &s);
        // Loopback only on the row's own node; a bound address only there.
        assert_eq!(ids, ["node-a:10:1", "", "node-b:20:1", "", ""]);
        let names = out(
            MetaFn::PodIdToServiceName,
            vec![strings(&["node-a:10:1", "node-b:20:1", "node-b:99:1"])],
            3,
            &s,
        );
        assert_eq!(names, ["postgres", "shop/web", ""]);
        // In a cluster, a host-network pod's listener names its pod (its
        // address is the node's, which no pod holds); never on loopback.
        s.apply(
            Object::Host(Host {
                node: "kn1".into(),
                addrs: vec!["192.168.0.10".into()],
                listeners: vec![
                    Listener {
                        addr: "0.0.0.0".into(),
                        port: 9100,
                        upid: "kn1:30:1".into(),
                        service: "monitoring/node-exporter".into(),
                        pod_id: "pod-ne".into(),
                    },
                    Listener {
                        addr: "127.0.0.1".into(),
                        port: 15000,
                        upid: "kn1:31:1".into(),
                        service: "shop/api".into(),
                        pod_id: "pod-api".into(),
                    },
                ],
                ..Default::default()
            }),
            0,
        );
        let ids = out(
            MetaFn::IpToPodId,
            vec![
                strings(&["192.168.0.10", "127.0.0.1"]),
                Value::Scalar(Arc::new(TimestampNanosecondArray::from(vec![5]))),
                Value::Array(Arc::new(arrow::array::Int64Array::from(vec![9100, 15000]))),
                strings(&["kn1:2:1", "kn1:2:1"]),
            ],
            2,
            &s,
        );
        assert_eq!(ids, ["pod-ne", ""]);
        // A upid's start: its host's boot time + its ticks (150 at 100/s).
        let t = call_with(
            MetaFn::UpidToStartTs,
            vec![strings(&["node-a:10:150", "node-z:1:1"])],
            2,
            &s,
        )
        .unwrap()
        .into_array(2)
        .unwrap();
        let t: Vec<Option<i64>> = t
            .as_primitive::<arrow::datatypes::TimestampNanosecondType>()
            .iter()
            .collect();
        assert_eq!(t, [Some(1_001_500_000_000), Some(0)]);
    }

    #[test]
    fn nothing_followed_answers_empty() {
        let s = ClusterState::default();
        assert_eq!(
            out(MetaFn::IpToPodId, vec![strings(&["10.1.0.5"])], 1, &s),
            [""]
        );
        assert_eq!(
            out(MetaFn::PodIdToServiceName, vec![strings(&["p1"])], 1, &s),
            [""]
        );
    }

    #[test]
    fn nslookup_names_loopback_and_leaves_other_strings() {
        let s = ClusterState::default();
        let v = out(
            MetaFn::Nslookup,
            vec![strings(&["127.0.0.1", "not an address"])],
            2,
            &s,
        );
        // /etc/hosts names loopback on every machine this runs on.
        assert!(
            v[0] == "localhost" || v[0].starts_with("localhost"),
            "{v:?}"
        );
        assert_eq!(v[1], "not an address");
    }
}
