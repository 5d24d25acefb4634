//! The executor: runs a plan fragment over Arrow record batches, vectorised
//! (a batch at a time through Arrow kernels, never row by row through an
//! interpreter). Sources and filters and maps above them stream batch by
//! batch into the blocking operators (aggregate, sort, join), so a scan of
//! millions of rows never materialises its intermediate columns at once.
//!
//! The same code runs a node fragment over a node's stored batches, and a
//! merge fragment over the batches nodes sent on each channel; tests run
//! both in one process to check that 1, 2 or 3 nodes give one answer.

pub mod agg;
pub mod combine;
pub mod eval;
mod join;
pub mod meta;

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, BooleanArray};
use arrow::compute::{SortColumn, SortOptions, cast, concat_batches, filter_record_batch};
use arrow::datatypes::{DataType, Field as ArrowField, Schema as ArrowSchema};
use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;
use loupe_topology::plan::{DType, NodeId, Op, Plan, Schema};

#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    #[error("{0}")]
    Arrow(#[from] ArrowError),
    #[error("{0}")]
    Plan(String),
}

/// Where a fragment's inputs come from: the batches of each Source node (as
/// the store scanned them) and of each Exchange channel (as nodes sent them).
#[derive(Default)]
pub struct Inputs {
    pub sources: HashMap<NodeId, Vec<RecordBatch>>,
    pub channels: HashMap<u32, Vec<RecordBatch>>,
    /// Rows of the table functions the planner answers (by TableFn node).
    pub tables: HashMap<NodeId, Vec<RecordBatch>>,
}

type Stream<'a> = Box<dyn Iterator<Item = Result<RecordBatch, ExecError>> + 'a>;

pub struct Executor<'a> {
    plan: &'a Plan,
    inputs: &'a Inputs,
}

impl<'a> Executor<'a> {
    pub fn new(plan: &'a Plan, inputs: &'a Inputs) -> Self {
        Executor { plan, inputs }
    }

    /// Every batch node `id` produces, in the plan's schema.
    pub fn run(&self, id: NodeId) -> Result<Vec<RecordBatch>, ExecError> {
        self.stream(id)?.collect()
    }

    /// Every sink's table, in the plan's order.
    pub fn run_sinks(&self) -> Result<Vec<RecordBatch>, ExecError> {
        self.plan
            .sinks
            .iter()
            .map(|s| self.run_one(s.input))
            .collect()
    }

    /// The output of `id` as one batch.
    pub fn run_one(&self, id: NodeId) -> Result<RecordBatch, ExecError> {
        let batches = self.run(id)?;
        let schema = self.plan.schema(id).arrow();
        let batches: Vec<RecordBatch> = batches
            .iter()
            .map(|b| conform(self.plan.schema(id), b.columns().to_vec()))
            .collect::<Result<_, _>>()?;
        Ok(concat_batches(&schema, &batches)?)
    }

    fn stream(&self, id: NodeId) -> Result<Stream<'a>, ExecError> {
        let plan = self.plan;
        let node = &plan.nodes[id];
        Ok(match &node.op {
            Op::Source { .. } => {
                let b = self.inputs.sources.get(&id).cloned().unwrap_or_default();
                Box::new(b.into_iter().map(Ok))
            }
            Op::TableFn { func, .. } => {
                let b = match self.inputs.tables.get(&id) {
                    Some(b) => b.clone(),
                    None => vec![
                        loupe_topology::plan::table_fn::answer_static(*func).ok_or_else(|| {
                            ExecError::Plan(format!(
                                "px.{} is answered by a planner, from the agents' reports",
                                func.def().name
                            ))
                        })?,
                    ],
                };
                Box::new(b.into_iter().map(Ok))
            }
            Op::Exchange { channel, schema } => {
                let b = self
                    .inputs
                    .channels
                    .get(channel)
                    .cloned()
                    .unwrap_or_default();
                // What came over the wire has the channel's schema, or it
                // is refused here, before any operator reads it as such.
                let channel = *channel;
                Box::new(b.into_iter().map(move |b| exchanged(channel, schema, b)))
            }
            Op::Filter { input, predicate } => {
                let up = self.stream(*input)?;
                Box::new(up.filter_map(move |b| {
                    let r = (|| {
                        let b = b?;
                        let mask = eval::eval(predicate, &b)?.into_array(b.num_rows())?;
                        let mask: &BooleanArray = mask.as_boolean();
                        if mask.true_count() == b.num_rows() && mask.null_count() == 0 {
                            return Ok(b);
                        }
                        Ok(filter_record_batch(&b, mask)?)
                    })();
                    match r {
                        Ok(b) if b.num_rows() == 0 => None,
                        other => Some(other),
                    }
                }))
            }
            Op::Map { input, exprs } => {
                let up = self.stream(*input)?;
                Box::new(up.map(move |b| {
                    let b = b?;
                    let n = b.num_rows();
                    let mut fields = Vec::with_capacity(exprs.len());
                    let mut cols = Vec::with_capacity(exprs.len());
                    for (name, e) in exprs {
                        let a = eval::eval(e, &b)?.into_array(n)?;
                        fields.push(ArrowField::new(name, a.data_type().clone(), true));
                        cols.push(a);
                    }
                    let opts =
                        arrow::record_batch::RecordBatchOptions::new().with_row_count(Some(n));
                    Ok(RecordBatch::try_new_with_options(
                        Arc::new(ArrowSchema::new(fields)),
                        cols,
                        &opts,
                    )?)
                }))
            }
            Op::Aggregate {
                input,
                groups,
                aggs,
                mode,
            } => {
                let mut h = agg::HashAgg::new(*mode, groups, aggs, node.schema.clone());
                for b in self.stream(*input)? {
                    h.push(&b?)?;
                }
                one(h.finish()?)
            }
            Op::Sort { input, keys } => {
                let b = self.run_one(*input)?;
                if b.num_rows() == 0 {
                    return Ok(Box::new(std::iter::empty()));
                }
                let cols = keys
                    .iter()
                    .map(|k| {
                        let c = b.column_by_name(&k.column).ok_or_else(|| {
                            ExecError::Plan(format!("sort column {:?} missing", k.column))
                        })?;
                        Ok(SortColumn {
                            values: eval::plain(c)?,
                            options: Some(SortOptions {
                                descending: !k.ascending,
                                nulls_first: false,
                            }),
                        })
                    })
                    .collect::<Result<Vec<_>, ExecError>>()?;
                let idx = arrow::compute::lexsort_to_indices(&cols, None)?;
                let out = arrow::compute::take_record_batch(&b, &idx)?;
                one(out)
            }
            Op::Limit { input, n } => {
                let mut left = *n as usize;
                let up = self.stream(*input)?;
                Box::new(up.map_while(move |b| {
                    if left == 0 {
                        return None;
                    }
                    Some(b.map(|b| {
                        let take = b.num_rows().min(left);
                        left -= take;
                        b.slice(0, take)
                    }))
                }))
            }
            Op::Join {
                left,
                right,
                how,
                left_on,
                right_on,
                ..
            } => {
                let l = self.run_one(*left)?;
                let r = self.run_one(*right)?;
                one(join::hash_join(
                    &l,
                    &r,
                    *how,
                    left_on,
                    right_on,
                    &node.schema,
                )?)
            }
            Op::Union { inputs } => {
                let mut out = Vec::new();
                for i in inputs {
                    for b in self.stream(*i)? {
                        out.push(conform(&node.schema, b?.columns().to_vec()));
                    }
                }
                Box::new(out.into_iter())
            }
            _ => {
                return Err(ExecError::Plan(format!(
                    "cannot execute {}",
                    node.op.name()
                )));
            }
        })
    }
}

/// Runs a node fragment's outputs on `threads` threads, each over its share
/// of every Source's batches. Every node-side output reads one Source and
/// its channel carries a union (rows, or partial states the merge combines),
/// so the shares' outputs together are the fragment's output.
/// What a fragment sends: each channel's batches.
pub type ChannelBatches = Vec<(u32, Vec<RecordBatch>)>;

pub fn run_fragment(
    plan: &Plan,
    outputs: &[loupe_topology::plan::ChannelOut],
    inputs: Inputs,
    threads: usize,
) -> Result<ChannelBatches, ExecError> {
    let rows: usize = inputs
        .sources
        .values()
        .flatten()
        .map(|b| b.num_rows())
        .sum();
    let threads = threads.clamp(1, 16).min(rows / 65_536 + 1);
    let mut shares: Vec<Inputs> = (0..threads).map(|_| Inputs::default()).collect();
    for (id, batches) in inputs.sources {
        let total: usize = batches.iter().map(|b| b.num_rows()).sum();
        let per = total.div_ceil(threads).max(1);
        let mut acc = 0usize;
        for b in batches {
            let t = (acc / per).min(threads - 1);
            acc += b.num_rows();
            shares[t].sources.entry(id).or_default().push(b);
        }
    }
    let results: Vec<Result<ChannelBatches, ExecError>> = std::thread::scope(|s| {
        let handles: Vec<_> = shares
            .iter()
            .map(|share| {
                s.spawn(move || {
                    let ex = Executor::new(plan, share);
                    outputs
                        .iter()
                        .map(|o| ex.run(o.node).map(|b| (o.channel, b)))
                        .collect::<Result<Vec<_>, _>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(ExecError::Plan("a fragment thread panicked".into())))
            })
            .collect()
    });
    let mut out: Vec<(u32, Vec<RecordBatch>)> =
        outputs.iter().map(|o| (o.channel, Vec::new())).collect();
    for r in results {
        for (i, (_, batches)) in r?.into_iter().enumerate() {
            out[i].1.extend(batches);
        }
    }
    Ok(out)
}

fn one<'a>(b: RecordBatch) -> Stream<'a> {
    Box::new(std::iter::once(Ok(b)))
}

/// Columns cast to the plan's types (dictionaries decoded, ints widened),
/// named as the plan names them.
/// A batch another process sent on `channel`, checked against the
/// channel's schema: as many columns, each of the type the schema says.
fn exchanged(channel: u32, schema: &Schema, b: RecordBatch) -> Result<RecordBatch, ExecError> {
    let fits = b.num_columns() == schema.fields.len()
        && b.schema()
            .fields()
            .iter()
            .zip(&schema.fields)
            .all(|(got, want)| DType::of_arrow(got.data_type()) == Some(want.dtype));
    if !fits {
        return Err(ExecError::Plan(format!(
            "a partial on channel {channel} does not have the channel's columns"
        )));
    }
    conform(schema, b.columns().to_vec())
}

pub fn conform(schema: &Schema, cols: Vec<ArrayRef>) -> Result<RecordBatch, ExecError> {
    if cols.len() != schema.fields.len() {
        return Err(ExecError::Plan(format!(
            "internal: {} columns for a schema of {}",
            cols.len(),
            schema.fields.len()
        )));
    }
    let n = cols.first().map_or(0, |c| c.len());
    let mut out = Vec::with_capacity(cols.len());
    for (c, f) in cols.into_iter().zip(&schema.fields) {
        let want = f.dtype.arrow();
        out.push(if c.data_type() == &want {
            c
        } else if c.data_type() == &DataType::Null {
            arrow::array::new_null_array(&want, c.len())
        } else {
            cast(&c, &want)?
        });
    }
    let opts = arrow::record_batch::RecordBatchOptions::new().with_row_count(Some(n));
    Ok(RecordBatch::try_new_with_options(
        schema.arrow(),
        out,
        &opts,
    )?)
}

#[cfg(test)]
mod tests;
