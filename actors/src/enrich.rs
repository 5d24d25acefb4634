//! The Enrich stage, between reassembly and the store: the processes a
//! batch names get their place in the cluster (pod, its uid, namespace,
//! services, deployment, replicaset, node, container name), from the
//! metadata bucket the node follows ([`crate::metadata`]). On a plain host
//! there is no bucket and the host's own names (cgroup, OpenTelemetry
//! environment, read by [`loupe_k8s::HostMetadata`]) stand.
//!
//! The work is per process, never per row: a batch carries each of its
//! processes once and the answer is cached by upid. A process whose pod
//! the node does not know yet (its pod is newer than the last update that
//! arrived) is retried whenever the metadata changes, and the store is
//! told the better answer ([`UpdateProcesses`]), so rows already stored
//! read with the pod's names too.

use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use loupe_k8s::ProcessInfo;
use loupe_k8s::cluster::ClusterState;
use lru::LruCache;

use crate::counters::{Counter, Counters};
use crate::metadata::Shared;
use crate::table_store::TableBatch;

/// Newer names for processes already stored.
#[derive(Message)]
#[rtype(result = "()")]
pub struct UpdateProcesses(pub Vec<Arc<ProcessInfo>>);

pub struct Enrich {
    store: Recipient<TableBatch>,
    updates: Recipient<UpdateProcesses>,
    meta: Option<Shared>,
    counters: Arc<Counters>,
    /// Answers by upid.
    done: LruCache<String, Arc<ProcessInfo>>,
    /// Processes in a pod (by cgroup) that the metadata does not name yet.
    pending: HashMap<String, Arc<ProcessInfo>>,
    /// `ClusterState::updates` when `pending` was last tried.
    tried_at: u64,
}

/// Most processes waiting for their pod's metadata; beyond it the oldest
/// wait is given up (their rows keep the host's names).
const MAX_PENDING: usize = 16_384;

impl Enrich {
    pub fn new(
        store: Recipient<TableBatch>,
        updates: Recipient<UpdateProcesses>,
        meta: Option<Shared>,
        counters: Arc<Counters>,
    ) -> Self {
        Enrich {
            store,
            updates,
            meta,
            counters,
            done: LruCache::new(NonZeroUsize::new(16_384).unwrap_or(NonZeroUsize::MIN)),
            pending: HashMap::new(),
            tried_at: 0,
        }
    }

    fn process(&mut self, p: &Arc<ProcessInfo>) -> Arc<ProcessInfo> {
        if let Some(hit) = self.done.get(&p.upid) {
            return hit.clone();
        }
        let Some(meta) = &self.meta else {
            return p.clone();
        };
        let in_pod = !p.pod_id.is_empty() || !p.container.is_empty();
        let named = meta.read().ok().and_then(|s| named(&s, p));
        match named {
            Some(n) => {
                let n = Arc::new(n);
                self.done.put(p.upid.clone(), n.clone());
                self.pending.remove(&p.upid);
                n
            }
            None if in_pod => {
                if self.pending.len() >= MAX_PENDING
                    && let Some(k) = self.pending.keys().next().cloned()
                {
                    self.pending.remove(&k);
                }
                self.pending.insert(p.upid.clone(), p.clone());
                p.clone()
            }
            None => {
                // A host process: its names are the host's, for good.
                self.done.put(p.upid.clone(), p.clone());
                p.clone()
            }
        }
    }

    /// Tries the waiting processes again when the metadata changed.
    fn retry(&mut self) {
        let Some(meta) = &self.meta else {
            return;
        };
        let Ok(s) = meta.read() else {
            return;
        };
        if s.updates == self.tried_at || self.pending.is_empty() {
            return;
        }
        self.tried_at = s.updates;
        let mut better = Vec::new();
        for p in self.pending.values() {
            if let Some(n) = named(&s, p) {
                better.push(Arc::new(n));
            }
        }
        drop(s);
        for n in &better {
            self.pending.remove(&n.upid);
            self.done.put(n.upid.clone(), n.clone());
        }
        if !better.is_empty() {
            let _ = self.updates.try_send(UpdateProcesses(better));
        }
    }
}

/// `p` with its pod's names, when the metadata knows its pod (by container
/// id, else by the pod uid of its cgroup).
pub fn named(s: &ClusterState, p: &ProcessInfo) -> Option<ProcessInfo> {
    let pod = s
        .pod_of_container(&p.container)
        .or_else(|| s.pod(&p.pod_id))?;
    let mut n = p.clone();
    n.pod = format!("{}/{}", pod.namespace, pod.name);
    n.pod_id = pod.uid.clone();
    n.namespace = pod.namespace.clone();
    if !pod.node.is_empty() {
        n.node = pod.node.clone();
    }
    n.container_name = pod
        .containers
        .iter()
        .find(|c| c.id == p.container)
        .map(|c| c.name.clone())
        .unwrap_or_default();
    let services: Vec<String> = s
        .services_of_pod(pod)
        .iter()
        .map(|svc| format!("{}/{}", svc.namespace, svc.name))
        .collect();
    n.service = loupe_k8s::cluster::pixie_list(services);
    n.replicaset = s
        .replicaset_of_pod(pod)
        .map(|r| format!("{}/{}", r.namespace, r.name))
        .unwrap_or_default();
    n.deployment = s
        .deployment_of_pod(pod)
        .map(|d| format!("{}/{}", d.namespace, d.name))
        .unwrap_or_default();
    Some(n)
}

impl Actor for Enrich {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        if self.meta.is_some() {
            ctx.run_interval(Duration::from_secs(1), |this, _| this.retry());
        }
    }
}

impl Handler<TableBatch> for Enrich {
    type Result = ();

    fn handle(&mut self, mut msg: TableBatch, _: &mut Self::Context) {
        let procs = std::mem::take(&mut msg.processes);
        msg.processes = procs.iter().map(|p| self.process(p)).collect();
        let n = msg.batch.num_rows() as u64;
        if self.store.try_send(msg).is_err() {
            self.counters.add(Counter::StoreRowsDroppedMailboxFull, n);
            tracing::error!(rows = n, "table store is behind: dropped a batch of rows");
        }
    }
}
