//! The merge tree of a one-shot query: with more nodes than the fan-in, the
//! nodes are taken in groups of `fanin`; the first node of each group is
//! its merge node, which receives the group's partials (its own among
//! them), combines them and sends one partial on; groups of those merge
//! nodes merge again, until at most `fanin` senders are left, which send
//! to the planner. So no process receives more than `fanin` partials, and
//! the combined partials are no larger than one node's (one state per
//! group). A group of one sends straight to the level above.
//!
//! Each level has its own deadline, a step before the one above it, so a
//! merge node that waits for a dead child still answers in time, naming it.

use std::collections::HashMap;
use std::time::Duration;

use loupe_topology::messages::{Deploy, MergeSpec, SendTo};
use loupe_topology::plan::NodeFragment;
use loupe_topology::subjects::QueryId;

use crate::gather::Child;

#[derive(Clone, Copy)]
enum Who {
    Leaf(usize),
    Merge(usize),
}

struct MergeNode {
    level: u32,
    idx: usize,
    name: String,
    children: Vec<Child>,
    /// (level, group) it sends to; `None`: the planner.
    dest: Option<(u32, usize)>,
}

pub(super) struct MergeTree {
    merges: Vec<MergeNode>,
    /// Each node's destination for its own partial.
    leaf_dest: HashMap<String, Option<(u32, usize)>>,
    top: Vec<Child>,
    levels: u32,
    qid: Option<QueryId>,
}

impl MergeTree {
    /// The tree over `nodes` (in this order) with fan-in `fanin` (at least 2).
    pub fn plan(nodes: &[String], fanin: usize) -> Self {
        let fanin = fanin.max(2);
        let mut merges: Vec<MergeNode> = Vec::new();
        let mut leaf_dest: Vec<Option<(u32, usize)>> = vec![None; nodes.len()];
        let mut current: Vec<(Who, Child)> = nodes
            .iter()
            .enumerate()
            .map(|(i, n)| (Who::Leaf(i), (n.clone(), vec![n.clone()])))
            .collect();
        let mut level = 0u32;
        while current.len() > fanin {
            let mut next = Vec::new();
            for (idx, group) in current.chunks(fanin).enumerate() {
                if let [one] = group {
                    next.push(one.clone());
                    continue;
                }
                for (who, _) in group {
                    match *who {
                        Who::Leaf(i) => leaf_dest[i] = Some((level, idx)),
                        Who::Merge(m) => merges[m].dest = Some((level, idx)),
                    }
                }
                let name = group[0].1.0.clone();
                let covers = group
                    .iter()
                    .flat_map(|(_, c)| c.1.iter().cloned())
                    .collect();
                merges.push(MergeNode {
                    level,
                    idx,
                    name: name.clone(),
                    children: group.iter().map(|(_, c)| c.clone()).collect(),
                    dest: None,
                });
                next.push((Who::Merge(merges.len() - 1), (name, covers)));
            }
            current = next;
            level += 1;
        }
        MergeTree {
            leaf_dest: nodes.iter().cloned().zip(leaf_dest).collect(),
            merges,
            top: current.into_iter().map(|(_, c)| c).collect(),
            levels: level,
            qid: None,
        }
    }

    /// Merge levels between the nodes and the planner.
    pub fn levels(&self) -> u32 {
        self.levels
    }

    /// Who sends to the planner, with the nodes each one carries.
    pub fn top(&self) -> Vec<Child> {
        self.top.clone()
    }

    fn send_to(dest: Option<(u32, usize)>) -> SendTo {
        match dest {
            Some((level, idx)) => SendTo::Merge {
                level,
                group: idx as u32,
            },
            None => SendTo::Planner,
        }
    }

    /// Where node `node` sends its own partial.
    pub fn destination(&self, node: &str) -> SendTo {
        match &self.qid {
            Some(_) => Self::send_to(self.leaf_dest.get(node).copied().flatten()),
            None => SendTo::Planner,
        }
    }

    /// The time between levels' deadlines.
    fn step(&self, timeout: Duration) -> i64 {
        let step = timeout / (2 * (self.levels + 1));
        step.clamp(Duration::from_millis(50), Duration::from_secs(1))
            .as_nanos() as i64
    }

    /// When the nodes must have sent their own partials.
    pub fn leaf_deadline(&self, deadline_ns: i64, timeout: Duration) -> i64 {
        deadline_ns - self.leaf_margin(timeout)
    }

    /// How much sooner than the query's deadline that is.
    pub fn leaf_margin(&self, timeout: Duration) -> i64 {
        if self.levels == 0 {
            return 0;
        }
        let step = self.step(timeout);
        i64::from(self.levels) * step + step / 2
    }

    /// The deploys of every merge node (node name, deploy), bottom level
    /// first. Remembers `qid` for [`MergeTree::destination`].
    pub fn merge_deploys(
        &mut self,
        qid: &QueryId,
        fragment: &NodeFragment,
        deadline_ns: i64,
        timeout: Duration,
    ) -> Vec<(String, Deploy)> {
        self.qid = Some(qid.clone());
        let step = self.step(timeout);
        self.merges
            .iter()
            .map(|m| {
                (
                    m.name.clone(),
                    Deploy {
                        qid: qid.to_string(),
                        fragment: fragment.clone(),
                        send_to: Self::send_to(m.dest),
                        deadline_ns: deadline_ns - i64::from(self.levels - m.level) * step,
                        timeout_ns: timeout.as_nanos() as i64
                            - i64::from(self.levels - m.level) * step,
                        live: None,
                        merge: Some(MergeSpec {
                            level: m.level,
                            group: m.idx as u32,
                            children: m.children.clone(),
                        }),
                    },
                )
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("n{i:03}")).collect()
    }

    #[test]
    fn no_process_receives_more_than_the_fanin_and_every_node_is_covered_once() {
        for (n, fanin) in [
            (1, 4),
            (4, 4),
            (5, 4),
            (17, 4),
            (200, 16),
            (200, 8),
            (3, 2),
            (1000, 32),
        ] {
            let t = MergeTree::plan(&names(n), fanin);
            assert!(t.top.len() <= fanin, "{n}/{fanin}: top {}", t.top.len());
            for m in &t.merges {
                assert!(m.children.len() <= fanin && m.children.len() >= 2);
                // The merge node is one of its group.
                assert_eq!(m.children[0].0, m.name);
            }
            let mut covered: Vec<String> = t.top.iter().flat_map(|c| c.1.clone()).collect();
            covered.sort();
            assert_eq!(covered, names(n), "{n}/{fanin}");
            let flat = n <= fanin;
            assert_eq!(t.levels == 0, flat, "{n}/{fanin}");
        }
        let t = MergeTree::plan(&names(200), 16);
        // 200 -> 13 merge nodes -> the planner.
        assert_eq!(t.levels, 1);
        assert_eq!(t.top.len(), 13);
        let t = MergeTree::plan(&names(200), 4);
        // 200 -> 50 -> 13 -> 4.
        assert_eq!(t.levels, 3);
        assert_eq!(t.top.len(), 4);
    }

    #[test]
    fn each_level_answers_before_the_one_above_waits_no_more() {
        let mut t = MergeTree::plan(&names(200), 4);
        let qid = QueryId::new("p", 1);
        let timeout = Duration::from_secs(5);
        let deploys = t.merge_deploys(&qid, &NodeFragment::default(), 10_000_000_000, timeout);
        let listens = |m: &MergeSpec| SendTo::Merge {
            level: m.level,
            group: m.group,
        };
        let leaf = t.leaf_deadline(10_000_000_000, timeout);
        for (_, d) in &deploys {
            let m = d.merge.as_ref().unwrap();
            assert!(leaf < d.deadline_ns && d.deadline_ns <= 10_000_000_000);
            for (child, _) in &m.children {
                // A child merge node's deadline is earlier than its parent's.
                for (_, c) in deploys
                    .iter()
                    .filter(|(n, c)| n == child && c.merge.as_ref().unwrap().level + 1 == m.level)
                {
                    assert!(c.deadline_ns < d.deadline_ns);
                    assert_eq!(c.send_to, listens(m));
                }
            }
        }
        // Each node sends where its group's merge node listens.
        let first = &deploys[0].1;
        for (child, _) in &first.merge.as_ref().unwrap().children {
            assert_eq!(t.destination(child), listens(first.merge.as_ref().unwrap()));
        }
    }
}
