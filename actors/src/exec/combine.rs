//! Combining partials: what several nodes (or several panes of one node)
//! sent on each channel becomes one partial of the same shape, which a
//! merge reads as it reads any one node's. A merge node of a tree sends it
//! on; a live window keeps its panes as running combinations. Each
//! channel's way to combine (`Combine`) is associative, so any grouping of
//! the parts gives the same answer.

use std::collections::BTreeMap;

use arrow::record_batch::RecordBatch;
use loupe_topology::plan::{Combine, NodeFragment, Plan};

use super::{ExecError, Executor, Inputs};

/// Each channel's batches.
pub type Channels = BTreeMap<u32, Vec<RecordBatch>>;

/// The combining plans of one node fragment's channels, built once.
#[derive(Clone, Debug)]
pub struct Combiner {
    /// channel -> its plan (`None`: rows, concatenated).
    plans: BTreeMap<u32, Option<Plan>>,
}

impl Combiner {
    pub fn new(fragment: &NodeFragment) -> Result<Self, String> {
        let mut plans = BTreeMap::new();
        for o in &fragment.outputs {
            let schema = fragment.plan.schema(o.node);
            plans.insert(o.channel, o.combine.plan(o.channel, schema)?);
        }
        Ok(Combiner { plans })
    }

    /// Whether every channel carries partial states, so that a combination
    /// is as small as one part (a window of panes then costs the same to
    /// refresh whatever its length).
    pub fn bounded(fragment: &NodeFragment) -> bool {
        fragment
            .outputs
            .iter()
            .all(|o| !matches!(o.combine, Combine::Concat))
    }

    /// One output per channel out of `parts`, each holding some channels'
    /// batches. A channel no part has stays absent.
    pub fn combine<'a>(
        &self,
        parts: impl IntoIterator<Item = &'a Channels>,
    ) -> Result<Channels, ExecError> {
        let mut gathered: Channels = BTreeMap::new();
        for p in parts {
            for (ch, bs) in p {
                gathered.entry(*ch).or_default().extend(bs.iter().cloned());
            }
        }
        let mut out = Channels::new();
        for (ch, batches) in gathered {
            let plan = match self.plans.get(&ch) {
                Some(Some(p)) if batches.len() > 1 => p,
                // One batch is combined already; rows concatenate.
                _ => {
                    out.insert(ch, batches);
                    continue;
                }
            };
            let mut inputs = Inputs::default();
            inputs.channels.insert(ch, batches);
            let ex = Executor::new(plan, &inputs);
            let b = ex.run_one(plan.sinks[0].input)?;
            out.insert(ch, vec![b]);
        }
        Ok(out)
    }
}

/// A sliding window of panes whose combination is kept running, as two
/// stacks (Tangwongsan, Hirzel and Schneider's "two-stacks" sliding-window
/// aggregation): new panes go on the back with one combination into the
/// back's running total; the oldest pane leaves from the front, whose
/// entries each hold the combination of themselves and every newer pane of
/// the front. When the front runs out, the back is turned over into it
/// (one combination per pane, once per pane's life). So a refresh costs a
/// few combinations of window-sized states, not one per pane of the window.
///
/// The turn-over costs a window's worth of combinations at once; call
/// [`PaneWindow::upkeep`] after answering, so it happens between refreshes
/// and a refresh (push, evict, total) never waits for it.
#[derive(Debug)]
pub struct PaneWindow {
    combiner: Combiner,
    /// (pane end, the combination of this pane and every front pane above
    /// it in time); the oldest pane last.
    front: Vec<(i64, Channels)>,
    /// (pane end, the pane), the newest last.
    back: Vec<(i64, Channels)>,
    back_total: Channels,
    /// Combinations done, for tests and benchmarks.
    pub combinations: u64,
}

impl PaneWindow {
    pub fn new(combiner: Combiner) -> Self {
        PaneWindow {
            combiner,
            front: Vec::new(),
            back: Vec::new(),
            back_total: Channels::new(),
            combinations: 0,
        }
    }

    pub fn combiner(&self) -> &Combiner {
        &self.combiner
    }

    pub fn len(&self) -> usize {
        self.front.len() + self.back.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Adds the pane ending at `end` (newer than every pane held).
    pub fn push(&mut self, end: i64, pane: Channels) -> Result<(), ExecError> {
        self.back_total = self.combiner.combine([&self.back_total, &pane])?;
        self.combinations += 1;
        self.back.push((end, pane));
        Ok(())
    }

    /// Turns the back over onto the front when the front is empty, so the
    /// next eviction need not: newest first, each pane combined with the
    /// newer ones already on the front.
    pub fn upkeep(&mut self) -> Result<(), ExecError> {
        if !self.front.is_empty() {
            return Ok(());
        }
        for (e, pane) in std::mem::take(&mut self.back).into_iter().rev() {
            let total = match self.front.last() {
                Some((_, newer)) => {
                    self.combinations += 1;
                    self.combiner.combine([&pane, newer])?
                }
                None => pane,
            };
            self.front.push((e, total));
        }
        self.back_total = Channels::new();
        Ok(())
    }

    /// Drops every pane ending at or before `end`.
    pub fn evict_through(&mut self, end: i64) -> Result<(), ExecError> {
        loop {
            if self.front.is_empty() {
                if self.back.first().is_none_or(|(e, _)| *e > end) {
                    return Ok(());
                }
                self.upkeep()?;
            }
            match self.front.last() {
                Some((e, _)) if *e <= end => {
                    self.front.pop();
                }
                _ => return Ok(()),
            }
        }
    }

    /// The combination of every pane held.
    pub fn total(&mut self) -> Result<Channels, ExecError> {
        let Some((_, front)) = self.front.last() else {
            return Ok(self.back_total.clone());
        };
        self.combinations += 1;
        self.combiner.combine([front, &self.back_total])
    }
}
