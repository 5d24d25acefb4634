//! What a node (or a planner) knows of its cluster: the objects of the
//! `loupe_meta` bucket, indexed for the lookups rows need (a container id
//! to its pod, an IP at a time to the pod or service that held it, a pod
//! to its services and deployment), and how old that knowledge is.

use std::collections::HashMap;

use loupe_topology::meta::{
    Endpoints, Host, Listener, Namespace, Node, Object, Owned, Pod, Service, Source,
};

#[derive(Debug, Default)]
pub struct ClusterState {
    pods: HashMap<String, Pod>,
    services: HashMap<String, Service>,
    endpoints: HashMap<String, Endpoints>,
    nodes: HashMap<String, Node>,
    namespaces: HashMap<String, Namespace>,
    replicasets: HashMap<String, Owned>,
    deployments: HashMap<String, Owned>,
    /// Pod uids by IP (every pod that ever held it, while it is kept).
    by_ip: HashMap<String, Vec<String>>,
    by_container: HashMap<String, String>,
    /// `namespace/name` to uids (a name can be reused by a later pod).
    by_name: HashMap<String, Vec<String>>,
    svc_by_ip: HashMap<String, Vec<String>>,
    svc_by_name: HashMap<String, String>,
    /// EndpointSlice uids by the pod uids they list.
    eps_by_pod: HashMap<String, Vec<String>>,
    /// Plain hosts, by node name, as their agents report them.
    hosts: HashMap<String, Host>,
    /// Updates applied (a version the age and tests refer to).
    pub updates: u64,
    /// When the last update arrived (ns since the epoch, 0: never).
    pub updated_ns: i64,
    /// The bucket was read to its end at least once: lookups that find
    /// nothing mean "not in the cluster", not "not heard yet".
    pub synced: bool,
    /// Who writes the bucket, and when it was last in step with the API
    /// server.
    pub source: Option<Source>,
}

/// The key of an object in the bucket, split: (kind, id).
pub fn split_key(key: &str) -> Option<(&str, &str)> {
    key.split_once('.')
}

fn remove_from(index: &mut HashMap<String, Vec<String>>, key: &str, uid: &str) {
    if let Some(v) = index.get_mut(key) {
        v.retain(|u| u != uid);
        if v.is_empty() {
            index.remove(key);
        }
    }
}

impl ClusterState {
    /// Applies one object (new or changed).
    pub fn apply(&mut self, o: Object, now_ns: i64) {
        self.updates += 1;
        self.updated_ns = now_ns;
        match o {
            Object::Pod(p) => {
                self.unindex_pod(&p.uid);
                for ip in &p.ips {
                    if !p.host_network {
                        self.by_ip
                            .entry(ip.clone())
                            .or_default()
                            .push(p.uid.clone());
                    }
                }
                for c in &p.containers {
                    if !c.id.is_empty() {
                        self.by_container.insert(c.id.clone(), p.uid.clone());
                    }
                }
                self.by_name
                    .entry(format!("{}/{}", p.namespace, p.name))
                    .or_default()
                    .push(p.uid.clone());
                self.pods.insert(p.uid.clone(), p);
            }
            Object::Service(s) => {
                self.unindex_service(&s.uid);
                for ip in &s.cluster_ips {
                    self.svc_by_ip
                        .entry(ip.clone())
                        .or_default()
                        .push(s.uid.clone());
                }
                if s.deleted_ns == 0 {
                    self.svc_by_name
                        .insert(format!("{}/{}", s.namespace, s.name), s.uid.clone());
                }
                self.services.insert(s.uid.clone(), s);
            }
            Object::Endpoints(e) => {
                self.unindex_endpoints(&e.uid);
                for p in &e.pods {
                    self.eps_by_pod
                        .entry(p.clone())
                        .or_default()
                        .push(e.uid.clone());
                }
                self.endpoints.insert(e.uid.clone(), e);
            }
            Object::Node(n) => {
                self.nodes.insert(n.name.clone(), n);
            }
            Object::Namespace(n) => {
                self.namespaces.insert(n.name.clone(), n);
            }
            Object::ReplicaSet(o) => {
                self.replicasets.insert(o.uid.clone(), o);
            }
            Object::Deployment(o) => {
                self.deployments.insert(o.uid.clone(), o);
            }
            Object::Source(s) => self.source = Some(s),
            Object::Host(h) => {
                self.hosts.insert(h.node.clone(), h);
            }
        }
    }

    /// How old the knowledge is at `now_ns`: since the leader was last in
    /// step with the API server. `None`: no cluster metadata at all.
    pub fn age_ns(&self, now_ns: i64) -> Option<i64> {
        let s = self.source.as_ref()?;
        Some(if s.api_ok_ns == 0 {
            i64::MAX
        } else {
            (now_ns - s.api_ok_ns).max(0)
        })
    }

    /// Forgets the object under `key` (it was purged from the bucket).
    pub fn remove(&mut self, key: &str, now_ns: i64) {
        let Some((kind, id)) = split_key(key) else {
            return;
        };
        self.updates += 1;
        self.updated_ns = now_ns;
        match kind {
            "pod" => {
                self.unindex_pod(id);
                self.pods.remove(id);
            }
            "svc" => {
                self.unindex_service(id);
                self.services.remove(id);
            }
            "eps" => {
                self.unindex_endpoints(id);
                self.endpoints.remove(id);
            }
            "node" => {
                self.nodes.remove(id);
            }
            "ns" => {
                self.namespaces.remove(id);
            }
            "rs" => {
                self.replicasets.remove(id);
            }
            "deploy" => {
                self.deployments.remove(id);
            }
            "host" => {
                self.hosts.remove(id);
            }
            _ => {}
        }
    }

    fn unindex_pod(&mut self, uid: &str) {
        let Some(old) = self.pods.get(uid) else {
            return;
        };
        let (ips, containers, name) = (
            old.ips.clone(),
            old.containers.clone(),
            format!("{}/{}", old.namespace, old.name),
        );
        for ip in &ips {
            remove_from(&mut self.by_ip, ip, uid);
        }
        for c in &containers {
            if self.by_container.get(&c.id).is_some_and(|u| u == uid) {
                self.by_container.remove(&c.id);
            }
        }
        remove_from(&mut self.by_name, &name, uid);
    }

    fn unindex_endpoints(&mut self, uid: &str) {
        let Some(old) = self.endpoints.get(uid) else {
            return;
        };
        for p in old.pods.clone() {
            remove_from(&mut self.eps_by_pod, &p, uid);
        }
    }

    fn unindex_service(&mut self, uid: &str) {
        let Some(old) = self.services.get(uid) else {
            return;
        };
        let (ips, name) = (
            old.cluster_ips.clone(),
            format!("{}/{}", old.namespace, old.name),
        );
        for ip in &ips {
            remove_from(&mut self.svc_by_ip, ip, uid);
        }
        if self.svc_by_name.get(&name).is_some_and(|u| u == uid) {
            self.svc_by_name.remove(&name);
        }
    }

    pub fn pod(&self, uid: &str) -> Option<&Pod> {
        self.pods.get(uid)
    }

    pub fn pods(&self) -> impl Iterator<Item = &Pod> {
        self.pods.values()
    }

    pub fn service(&self, uid: &str) -> Option<&Service> {
        self.services.get(uid)
    }

    pub fn replicaset(&self, uid: &str) -> Option<&Owned> {
        self.replicasets.get(uid)
    }

    pub fn deployment(&self, uid: &str) -> Option<&Owned> {
        self.deployments.get(uid)
    }

    pub fn nodes(&self) -> impl Iterator<Item = &Node> {
        self.nodes.values()
    }

    pub fn namespace(&self, name: &str) -> Option<&Namespace> {
        self.namespaces.get(name)
    }

    /// The pod a container runs in.
    pub fn pod_of_container(&self, container_id: &str) -> Option<&Pod> {
        self.pods.get(self.by_container.get(container_id)?)
    }

    /// The pod named `namespace/name`: the one that exists, else the one
    /// deleted last.
    pub fn pod_by_name(&self, qualified: &str) -> Option<&Pod> {
        self.by_name
            .get(qualified)?
            .iter()
            .filter_map(|u| self.pods.get(u))
            .max_by_key(|p| (p.deleted_ns == 0, p.deleted_ns, p.created_ns))
    }

    /// The pod that held `ip` at `t_ns`: created before it and not deleted
    /// by then (of several, the latest created). Host-network pods share
    /// their node's IP and never answer here.
    pub fn pod_by_ip(&self, ip: &str, t_ns: i64) -> Option<&Pod> {
        self.by_ip
            .get(ip)?
            .iter()
            .filter_map(|u| self.pods.get(u))
            .filter(|p| held_at(p.created_ns, p.deleted_ns, t_ns))
            .max_by_key(|p| p.created_ns)
    }

    /// The service whose cluster IP `ip` was at `t_ns`.
    pub fn service_by_ip(&self, ip: &str, t_ns: i64) -> Option<&Service> {
        self.svc_by_ip
            .get(ip)?
            .iter()
            .filter_map(|u| self.services.get(u))
            .filter(|s| held_at(s.created_ns, s.deleted_ns, t_ns))
            .max_by_key(|s| s.created_ns)
    }

    /// The service named `namespace/name`.
    pub fn service_by_name(&self, qualified: &str) -> Option<&Service> {
        self.services.get(self.svc_by_name.get(qualified)?)
    }

    /// The services a pod backs (its EndpointSlices'), sorted by name.
    pub fn services_of_pod(&self, pod: &Pod) -> Vec<&Service> {
        let mut out: Vec<&Service> = self
            .eps_by_pod
            .get(&pod.uid)
            .into_iter()
            .flatten()
            .filter_map(|u| self.endpoints.get(u))
            .filter(|e| e.namespace == pod.namespace)
            .filter_map(|e| self.service_by_name(&format!("{}/{}", e.namespace, e.service)))
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out.dedup_by(|a, b| a.uid == b.uid);
        out
    }

    /// The ReplicaSet that owns a pod, if one does.
    pub fn replicaset_of_pod(&self, pod: &Pod) -> Option<&Owned> {
        (pod.owner_kind == "ReplicaSet")
            .then(|| self.replicasets.get(&pod.owner_uid))
            .flatten()
    }

    /// The Deployment that owns a pod's ReplicaSet, if one does.
    pub fn deployment_of_pod(&self, pod: &Pod) -> Option<&Owned> {
        let rs = self.replicaset_of_pod(pod)?;
        (rs.owner_kind == "Deployment")
            .then(|| self.deployments.get(&rs.owner_uid))
            .flatten()
    }

    /// The process listening on `ip:port`, as plain hosts report them: a
    /// listener bound to that address, or to every address of a host that
    /// has it; a loopback address only on `node` (the row's own host).
    pub fn listener(&self, ip: &str, port: u16, node: &str) -> Option<&Listener> {
        let loopback = ip
            .parse::<std::net::IpAddr>()
            .is_ok_and(|a| a.is_loopback());
        let wildcard = |a: &str| a == "0.0.0.0" || a == "::";
        let hosts: Box<dyn Iterator<Item = &Host>> = if loopback {
            Box::new(self.hosts.get(node).into_iter())
        } else {
            Box::new(self.hosts.values())
        };
        for h in hosts {
            let has_ip = loopback || h.addrs.iter().any(|a| a == ip);
            // A pod's loopback is its own network namespace's: a row's
            // loopback peer is not named by another pod's listener.
            if let Some(l) = h.listeners.iter().find(|l| {
                l.port == port
                    && (l.addr == ip || (has_ip && wildcard(&l.addr)))
                    && (!loopback || l.pod_id.is_empty())
            }) {
                return Some(l);
            }
        }
        None
    }

    /// When the process of `upid` (`node:pid:start_ticks`) started, ns
    /// since the epoch, from its host's report.
    pub fn upid_start_ns(&self, upid: &str) -> Option<i64> {
        let mut parts = upid.split(':');
        let h = self.hosts.get(parts.next()?)?;
        let ticks: i64 = parts.nth(1)?.parse().ok()?;
        (h.ticks_per_s > 0 && h.boot_ns > 0).then(|| {
            h.boot_ns
                .saturating_add(ticks.saturating_mul(1_000_000_000) / h.ticks_per_s as i64)
        })
    }

    /// A listening process by its upid (`node:pid:start`).
    pub fn listener_by_upid(&self, upid: &str) -> Option<(&Host, &Listener)> {
        let node = upid.split(':').next()?;
        let h = self.hosts.get(node)?;
        h.listeners.iter().find(|l| l.upid == upid).map(|l| (h, l))
    }

    /// Objects held, by kind (for `loupe nodes` and the benchmarks).
    pub fn counts(&self) -> [(&'static str, usize); 7] {
        [
            ("pods", self.pods.len()),
            ("services", self.services.len()),
            ("endpointslices", self.endpoints.len()),
            ("nodes", self.nodes.len()),
            ("namespaces", self.namespaces.len()),
            ("replicasets", self.replicasets.len()),
            ("deployments", self.deployments.len()),
        ]
    }
}

/// Pixie's form of a list of names (services of a pod): one as itself,
/// several as a JSON array (`["shop/a","shop/b"]`), none as "".
pub fn pixie_list(mut names: Vec<String>) -> String {
    match names.len() {
        0 => String::new(),
        1 => names.swap_remove(0),
        _ => serde_json::Value::from(names).to_string(),
    }
}

/// Whether an object alive from `created` to `deleted` (0: still) held
/// its address at `t`.
fn held_at(created: i64, deleted: i64, t: i64) -> bool {
    created <= t && (deleted == 0 || t < deleted)
}

#[cfg(test)]
mod tests {
    use super::*;
    use loupe_topology::meta::Container;

    fn pod(uid: &str, name: &str, ip: &str, created: i64, deleted: i64) -> Pod {
        Pod {
            uid: uid.into(),
            name: name.into(),
            namespace: "shop".into(),
            node: "n1".into(),
            ips: vec![ip.into()],
            phase: "Running".into(),
            created_ns: created,
            deleted_ns: deleted,
            owner_kind: "ReplicaSet".into(),
            owner_uid: "rs1".into(),
            owner_name: "api-5d".into(),
            containers: vec![Container {
                id: format!("c-{uid}"),
                name: "app".into(),
                state: "Running".into(),
                reason: String::new(),
                message: String::new(),
            }],
            ..Default::default()
        }
    }

    #[test]
    fn an_ip_resolves_to_the_pod_that_held_it_then() {
        let mut s = ClusterState::default();
        s.apply(Object::Pod(pod("a", "api-1", "10.0.0.5", 100, 200)), 1);
        s.apply(Object::Pod(pod("b", "api-2", "10.0.0.5", 250, 0)), 2);
        assert_eq!(s.pod_by_ip("10.0.0.5", 150).unwrap().uid, "a");
        assert_eq!(s.pod_by_ip("10.0.0.5", 300).unwrap().uid, "b");
        assert!(s.pod_by_ip("10.0.0.5", 220).is_none());
        assert!(s.pod_by_ip("10.0.0.6", 300).is_none());
        // Purged: gone from every index.
        s.remove("pod.a", 3);
        assert!(s.pod_by_ip("10.0.0.5", 150).is_none());
        assert!(s.pod_of_container("c-a").is_none());
        assert_eq!(s.pod_of_container("c-b").unwrap().name, "api-2");
    }

    #[test]
    fn host_network_pods_are_not_found_by_ip() {
        let mut s = ClusterState::default();
        let mut p = pod("h", "node-agent", "192.168.1.10", 0, 0);
        p.host_network = true;
        s.apply(Object::Pod(p), 1);
        assert!(s.pod_by_ip("192.168.1.10", 5).is_none());
        assert_eq!(s.pod_of_container("c-h").unwrap().uid, "h");
    }

    #[test]
    fn a_changed_pod_is_reindexed() {
        let mut s = ClusterState::default();
        s.apply(Object::Pod(pod("a", "api-1", "10.0.0.5", 0, 0)), 1);
        s.apply(Object::Pod(pod("a", "api-1", "10.0.0.9", 0, 0)), 2);
        assert!(s.pod_by_ip("10.0.0.5", 5).is_none());
        assert_eq!(s.pod_by_ip("10.0.0.9", 5).unwrap().uid, "a");
        assert_eq!(s.pod_by_name("shop/api-1").unwrap().uid, "a");
    }

    #[test]
    fn services_owners_and_names() {
        let mut s = ClusterState::default();
        s.apply(Object::Pod(pod("a", "api-1", "10.0.0.5", 0, 0)), 1);
        s.apply(
            Object::Service(Service {
                uid: "s1".into(),
                name: "api".into(),
                namespace: "shop".into(),
                cluster_ips: vec!["10.96.0.10".into()],
                ..Default::default()
            }),
            2,
        );
        s.apply(
            Object::Endpoints(Endpoints {
                uid: "e1".into(),
                namespace: "shop".into(),
                service: "api".into(),
                pods: vec!["a".into()],
            }),
            3,
        );
        s.apply(
            Object::ReplicaSet(Owned {
                uid: "rs1".into(),
                name: "api-5d".into(),
                namespace: "shop".into(),
                owner_kind: "Deployment".into(),
                owner_uid: "d1".into(),
                owner_name: "api".into(),
            }),
            4,
        );
        s.apply(
            Object::Deployment(Owned {
                uid: "d1".into(),
                name: "api".into(),
                namespace: "shop".into(),
                ..Default::default()
            }),
            5,
        );
        let p = s.pod("a").unwrap();
        assert_eq!(s.services_of_pod(p)[0].name, "api");
        assert_eq!(s.deployment_of_pod(p).unwrap().name, "api");
        assert_eq!(s.service_by_ip("10.96.0.10", 1).unwrap().uid, "s1");
        assert_eq!(s.service_by_name("shop/api").unwrap().uid, "s1");
        assert_eq!(s.updates, 5);
    }
}
