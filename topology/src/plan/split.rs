//! Where each part of a plan runs. Every node runs the same node fragment
//! over its own rows: each Source with the filters and maps above it, ended
//! by a partial aggregate or a limit where one follows. The merge fragment
//! takes what the nodes send on each channel (an `Exchange`) and runs the
//! rest: final aggregates, sorts, joins, unions, and the sinks.

use serde::{Deserialize, Serialize};

use super::logical::{AggMode, AggSpec, NodeId, Op, Plan, Sink, SortKey};
use super::types::Schema;

/// A node fragment's output: what it sends on `channel`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChannelOut {
    pub channel: u32,
    pub node: NodeId,
    /// How several nodes' (or panes') outputs on this channel become one
    /// output of the same shape, which the merge reads as it would read any
    /// one node's.
    pub combine: Combine,
}

/// How the outputs of one channel combine. Every way is associative, so
/// partials can be merged in any grouping: a merge tree, or a window of
/// panes kept as running merges.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Combine {
    /// Rows: all of them.
    Concat,
    /// Partial aggregate states: merged per group (`AggMode::Combine`).
    Aggregate {
        groups: Vec<String>,
        aggs: Vec<AggSpec>,
    },
    /// Each part's first `n` rows by `keys`: the first `n` of them all.
    TopN { keys: Vec<SortKey>, n: u64 },
    /// Any `n` rows of each part: any `n` of them all.
    Limit { n: u64 },
}

impl Combine {
    /// The plan that combines what arrives on `channel` (an `Exchange` of
    /// `schema`) into one output of the same schema, with one sink; `None`
    /// for `Concat`, which needs no plan.
    pub fn plan(&self, channel: u32, schema: &Schema) -> Result<Option<Plan>, String> {
        let mut p = Plan::default();
        let e = p.add(Op::Exchange {
            channel,
            schema: schema.clone(),
        })?;
        let out = match self {
            Combine::Concat => return Ok(None),
            Combine::Aggregate { groups, aggs } => p.add(Op::Aggregate {
                input: e,
                groups: groups.clone(),
                aggs: aggs.clone(),
                mode: AggMode::Combine,
            })?,
            Combine::TopN { keys, n } => {
                let s = p.add(Op::Sort {
                    input: e,
                    keys: keys.clone(),
                })?;
                p.add(Op::Limit { input: s, n: *n })?
            }
            Combine::Limit { n } => p.add(Op::Limit { input: e, n: *n })?,
        };
        if p.schema(out) != schema {
            return Err(format!(
                "internal: channel {channel} combines into another shape"
            ));
        }
        p.sinks.push(Sink::display(channel.to_string(), out));
        Ok(Some(p))
    }
}

/// What every node runs.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct NodeFragment {
    pub plan: Plan,
    pub outputs: Vec<ChannelOut>,
}

impl NodeFragment {
    /// Checks a fragment that came over the wire (see [`Plan::check`]): a
    /// node fragment reads only stored tables (no `Exchange`), and each of
    /// its outputs names an operator of it, on a channel of its own, with a
    /// way of combining that fits that operator's schema.
    pub fn check(&self) -> Result<(), String> {
        self.plan.check()?;
        if let Some(i) = self
            .plan
            .nodes
            .iter()
            .position(|n| matches!(n.op, Op::Exchange { .. }))
        {
            return Err(format!(
                "operator {i} of a node fragment reads a channel; a node reads stored tables"
            ));
        }
        if self.outputs.is_empty() || self.outputs.len() > super::logical::MAX_SINKS {
            return Err(format!(
                "a node fragment with {} outputs",
                self.outputs.len()
            ));
        }
        let mut channels = std::collections::BTreeSet::new();
        for o in &self.outputs {
            if !channels.insert(o.channel) {
                return Err(format!("channel {} is sent twice", o.channel));
            }
            if o.node >= self.plan.nodes.len() {
                return Err(format!(
                    "channel {} sends operator {}, which is not in the fragment",
                    o.channel, o.node
                ));
            }
            if let Combine::Aggregate { aggs, groups } = &o.combine {
                let probe = Op::Aggregate {
                    input: 0,
                    groups: groups.clone(),
                    aggs: aggs.clone(),
                    mode: AggMode::Combine,
                };
                probe.check_values()?;
            }
            if let Combine::TopN { keys, .. } = &o.combine
                && keys.len() > super::logical::MAX_COLUMNS
            {
                return Err(format!("{} sort keys", keys.len()));
            }
            o.combine
                .plan(o.channel, self.plan.schema(o.node))
                .map_err(|e| format!("channel {}: {e}", o.channel))?;
        }
        Ok(())
    }
}

/// A plan split for distributed execution.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Distributed {
    pub node: NodeFragment,
    /// Reads channels through `Exchange` nodes; holds the sinks.
    pub merge: Plan,
}

/// Splits `plan` (pruned first) into a node fragment and a merge fragment.
pub fn split(plan: &Plan) -> Result<Distributed, String> {
    let mut plan = plan.clone();
    plan.prune()?;
    let n = plan.nodes.len();

    // Only what a sink reads is planned.
    let mut live = vec![false; n];
    for s in &plan.sinks {
        live[s.input] = true;
    }
    for i in (0..n).rev() {
        if live[i] {
            for j in plan.nodes[i].op.inputs() {
                live[j] = true;
            }
        }
    }

    // Node side: a Source and the streaming operators above it.
    let mut node_side = vec![false; n];
    let mut node = NodeFragment::default();
    let mut node_id: Vec<NodeId> = vec![usize::MAX; n];
    for i in 0..n {
        if !live[i] {
            continue;
        }
        let streaming = match &plan.nodes[i].op {
            Op::Source { .. } => true,
            Op::Filter { input, .. } | Op::Map { input, .. } => node_side[*input],
            _ => false,
        };
        if streaming {
            node_side[i] = true;
            node_id[i] = node.plan.copy_from(&plan, i, &|j| node_id[j])?;
        }
    }

    let mut merge = Plan::default();
    let mut merge_id: Vec<NodeId> = vec![usize::MAX; n];
    // One channel per node-side node the merge reads, shared by its readers.
    let mut exchange_of: Vec<Option<NodeId>> = vec![None; n];
    let mut exchange = |merge: &mut Plan,
                        node: &mut NodeFragment,
                        frag_node: NodeId,
                        key: Option<NodeId>,
                        combine: Combine|
     -> Result<NodeId, String> {
        if let Some(k) = key
            && let Some(e) = exchange_of[k]
        {
            return Ok(e);
        }
        let channel = node.outputs.len() as u32;
        node.outputs.push(ChannelOut {
            channel,
            node: frag_node,
            combine,
        });
        let e = merge.add(Op::Exchange {
            channel,
            schema: node.plan.schema(frag_node).clone(),
        })?;
        if let Some(k) = key {
            exchange_of[k] = Some(e);
        }
        Ok(e)
    };

    // Who reads each node (sinks included), to find sorts that feed one limit.
    let mut readers: Vec<Vec<NodeId>> = vec![Vec::new(); n];
    for (i, pn) in plan.nodes.iter().enumerate().filter(|(i, _)| live[*i]) {
        for j in pn.op.inputs() {
            readers[j].push(i);
        }
    }
    for s in &plan.sinks {
        readers[s.input].push(usize::MAX);
    }
    for i in 0..n {
        if !live[i] || node_side[i] {
            continue;
        }
        let op = plan.nodes[i].op.clone();
        merge_id[i] = match op {
            // The top n of node rows: each node sends only its own top n.
            Op::Sort { input, keys } if node_side[input] && top_n(&plan, &readers[i]).is_some() => {
                let n = top_n(&plan, &readers[i]).unwrap_or(u64::MAX);
                let sorted = node.plan.add(Op::Sort {
                    input: node_id[input],
                    keys: keys.clone(),
                })?;
                let p = node.plan.add(Op::Limit { input: sorted, n })?;
                let combine = Combine::TopN {
                    keys: keys.clone(),
                    n,
                };
                let e = exchange(&mut merge, &mut node, p, None, combine)?;
                merge.add(Op::Sort { input: e, keys })?
            }
            // A grouped aggregate over node rows: partial states on the
            // nodes, merged here.
            Op::Aggregate {
                input,
                groups,
                aggs,
                mode: AggMode::Single,
            } if node_side[input] => {
                let p = node.plan.add(Op::Aggregate {
                    input: node_id[input],
                    groups: groups.clone(),
                    aggs: aggs.clone(),
                    mode: AggMode::Partial,
                })?;
                let combine = Combine::Aggregate {
                    groups: groups.clone(),
                    aggs: aggs.clone(),
                };
                let e = exchange(&mut merge, &mut node, p, None, combine)?;
                merge.add(Op::Aggregate {
                    input: e,
                    groups,
                    aggs,
                    mode: AggMode::Final,
                })?
            }
            // Any n rows: each node sends at most n.
            Op::Limit { input, n } if node_side[input] => {
                let p = node.plan.add(Op::Limit {
                    input: node_id[input],
                    n,
                })?;
                let e = exchange(&mut merge, &mut node, p, None, Combine::Limit { n })?;
                merge.add(Op::Limit { input: e, n })?
            }
            mut op => {
                let mut inputs = Vec::new();
                for j in op.inputs() {
                    inputs.push(if node_side[j] {
                        exchange(&mut merge, &mut node, node_id[j], Some(j), Combine::Concat)?
                    } else {
                        merge_id[j]
                    });
                }
                for (slot, id) in op.inputs_mut().into_iter().zip(inputs) {
                    *slot = id;
                }
                merge.add(op)?
            }
        };
    }
    for s in &plan.sinks {
        let input = if node_side[s.input] {
            exchange(
                &mut merge,
                &mut node,
                node_id[s.input],
                Some(s.input),
                Combine::Concat,
            )?
        } else {
            merge_id[s.input]
        };
        merge.sinks.push(super::logical::Sink {
            name: s.name.clone(),
            input,
            export: s.export.clone(),
        });
    }
    Ok(Distributed { node, merge })
}

/// `Some(n)` when a node's only reader is a `Limit` of n rows.
fn top_n(plan: &Plan, readers: &[NodeId]) -> Option<u64> {
    match readers {
        [r] if *r != usize::MAX => match plan.nodes[*r].op {
            Op::Limit { n, .. } => Some(n),
            _ => None,
        },
        _ => None,
    }
}
