//! Gathering partials: the chunks each sender (a node, or a merge node of
//! a tree) sends for one query, checked for order, and what they add up to:
//! the batches to merge, the nodes they cover, and the nodes that did not
//! answer, each with why. The planner and merge nodes gather the same way.

use std::collections::BTreeMap;

use arrow::record_batch::RecordBatch;
use loupe_topology::messages::{
    Covers, Merged, NodeReport, PartialChunk, QueryError, QueryErrorKind,
};
use loupe_topology::stream::Step;

use crate::exec::combine::Channels;

/// What one sender sent for one query (or one pane of a live query).
pub struct NodeAnswer {
    seq: loupe_topology::stream::Sequence,
    pub done: bool,
    pub error: Option<QueryError>,
    pub report: Option<NodeReport>,
    /// From a merge node: what its combination covers.
    pub merged: Option<Merged>,
    pub batches: Vec<(u32, RecordBatch)>,
}

impl Default for NodeAnswer {
    fn default() -> Self {
        Self::new()
    }
}

impl NodeAnswer {
    pub fn new() -> Self {
        NodeAnswer {
            seq: Default::default(),
            done: false,
            error: None,
            report: None,
            merged: None,
            batches: Vec::new(),
        }
    }

    /// One chunk of a sender's partial, sequence-checked.
    pub fn take(&mut self, c: PartialChunk) {
        if self.done {
            return;
        }
        let (part, ipc, end) = match c.read(&mut self.seq) {
            Err(missed) => {
                self.fail(QueryError::new(
                    QueryErrorKind::Unavailable,
                    missed.to_string(),
                ));
                return;
            }
            Ok(Step::Rows(part, ipc)) => (part, ipc, None),
            Ok(Step::Last(part, ipc, end)) => (part, ipc, Some(end)),
        };
        if let Some(Err(e)) = end {
            self.fail(e);
            return;
        }
        if !ipc.is_empty() {
            match read_ipc(&ipc) {
                Ok(bs) => self
                    .batches
                    .extend(bs.into_iter().map(|b| (part.channel, b))),
                Err(e) => {
                    self.fail(QueryError::new(
                        QueryErrorKind::Wire,
                        format!("unreadable partial: {e}"),
                    ));
                    return;
                }
            }
        }
        if let Some(Ok(covers)) = end {
            self.done = true;
            match covers {
                Covers::Report(r) => self.report = Some(r),
                Covers::Merged(m) => self.merged = Some(m),
            }
        }
    }

    fn fail(&mut self, e: QueryError) {
        self.error = Some(e);
        self.done = true;
    }

    /// The batches, by channel.
    pub fn take_channels(&mut self) -> Channels {
        let mut c = Channels::new();
        for (ch, b) in std::mem::take(&mut self.batches) {
            c.entry(ch).or_default().push(b);
        }
        c
    }
}

pub fn read_ipc(bytes: &[u8]) -> Result<Vec<RecordBatch>, arrow::error::ArrowError> {
    let r = arrow::ipc::reader::StreamReader::try_new(std::io::Cursor::new(bytes), None)?;
    r.collect()
}

/// A sender and the nodes whose data it carries (itself alone for a node
/// sending its own partial; a whole subtree for a merge node).
pub type Child = (String, Vec<String>);

/// What the answers of `children` add up to: every complete partial's
/// channels, and who is covered and who is missing. `late` says why a
/// sender that had not finished is missing.
pub fn fold(
    children: &[Child],
    mut answers: BTreeMap<String, NodeAnswer>,
    late: &str,
) -> (Vec<Channels>, Merged) {
    let mut parts = Vec::new();
    let mut out = Merged::default();
    for (child, covers) in children {
        let own = covers.len() == 1 && covers[0] == *child;
        let Some(mut a) = answers.remove(child) else {
            continue;
        };
        match (a.done, a.error.take()) {
            (true, None) => {
                parts.push(a.take_channels());
                match a.merged.take() {
                    Some(m) => {
                        out.answered.extend(m.answered);
                        out.missing.extend(m.missing);
                        out.messages += m.messages;
                        out.bytes += m.bytes;
                    }
                    None => out.answered.push(a.report.take().unwrap_or(NodeReport {
                        node: child.clone(),
                        ..Default::default()
                    })),
                }
            }
            (true, Some(e)) if own => out.missing.push((child.clone(), e.message)),
            (true, Some(e)) => {
                for n in covers {
                    out.missing
                        .push((n.clone(), format!("its merge node {child} failed: {e}")));
                }
            }
            (false, _) if own => out.missing.push((child.clone(), late.to_string())),
            (false, _) => {
                for n in covers {
                    out.missing.push((
                        n.clone(),
                        format!("its merge node {child} sent no complete answer: {late}"),
                    ));
                }
            }
        }
    }
    (parts, out)
}
