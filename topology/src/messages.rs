//! Wire messages (serde types; encoded by [`crate::codec`]).

use serde::{Deserialize, Serialize};

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

/// One piece of a node's answer. Large answers come as several chunks (NATS
/// messages have a size limit); the last one has `last = true` and the
/// node's status, so the reader knows it has everything.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TailChunk {
    pub node: String,
    pub seq: u32,
    pub last: bool,
    /// Arrow IPC stream bytes (schema + batches); empty when no rows.
    pub ipc: Vec<u8>,
    pub status: Option<NodeStatus>,
    /// Set when the node could not answer (unknown table, ...).
    pub error: Option<String>,
}

/// What a node says about itself: where its data could be incomplete.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct NodeStatus {
    pub node: String,
    pub kernel: String,
    pub probes_attached: u32,
    pub probes_total: u32,
    /// Named counters (`loupe_*_total`), kernel and user space.
    pub counters: Vec<(String, u64)>,
}

impl NodeStatus {
    pub fn counter(&self, name: &str) -> u64 {
        self.counters
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| *v)
            .unwrap_or(0)
    }
}
