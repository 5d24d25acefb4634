//! Hash join for `merge`: the right side is built into a table keyed by its
//! row-encoded key columns, the left side probes it. Unmatched rows of the
//! preserved side(s) get nulls on the other.

use std::collections::HashMap;

use arrow::array::{ArrayRef, UInt32Array};
use arrow::record_batch::RecordBatch;
use arrow::row::{RowConverter, SortField};
use loupe_topology::plan::{JoinHow, Schema};

use super::ExecError;
use super::eval::plain;

fn keys(b: &RecordBatch, on: &[String]) -> Result<Vec<ArrayRef>, ExecError> {
    on.iter()
        .map(|c| {
            let a = b
                .column_by_name(c)
                .ok_or_else(|| ExecError::Plan(format!("join column {c:?} missing")))?;
            plain(a)
        })
        .collect()
}

pub fn hash_join(
    left: &RecordBatch,
    right: &RecordBatch,
    how: JoinHow,
    left_on: &[String],
    right_on: &[String],
    out: &Schema,
) -> Result<RecordBatch, ExecError> {
    let lk = keys(left, left_on)?;
    let rk = keys(right, right_on)?;
    let conv = RowConverter::new(
        lk.iter()
            .map(|k| SortField::new(k.data_type().clone()))
            .collect(),
    )?;
    let lrows = conv.convert_columns(&lk)?;
    let rrows = conv.convert_columns(&rk)?;
    let mut table: HashMap<&[u8], Vec<u32>> = HashMap::with_capacity(rrows.num_rows());
    for (i, r) in rrows.iter().enumerate() {
        // Null keys never match (SQL and pandas alike for merge on nulls
        // differ; Pixie drops them).
        if rk.iter().any(|k| k.is_null(i)) {
            continue;
        }
        table.entry(r.data()).or_default().push(i as u32);
    }
    let mut li: Vec<Option<u32>> = Vec::new();
    let mut ri: Vec<Option<u32>> = Vec::new();
    let mut right_matched = vec![false; right.num_rows()];
    for (i, r) in lrows.iter().enumerate() {
        let null_key = lk.iter().any(|k| k.is_null(i));
        match (null_key, table.get(r.data())) {
            (false, Some(m)) => {
                for &j in m {
                    li.push(Some(i as u32));
                    ri.push(Some(j));
                    right_matched[j as usize] = true;
                }
            }
            _ => {
                if matches!(how, JoinHow::Left | JoinHow::Outer) {
                    li.push(Some(i as u32));
                    ri.push(None);
                }
            }
        }
    }
    if matches!(how, JoinHow::Right | JoinHow::Outer) {
        for (j, m) in right_matched.iter().enumerate() {
            if !m {
                li.push(None);
                ri.push(Some(j as u32));
            }
        }
    }
    let li = UInt32Array::from(li);
    let ri = UInt32Array::from(ri);
    let mut cols = Vec::with_capacity(left.num_columns() + right.num_columns());
    for c in left.columns() {
        cols.push(arrow::compute::take(c, &li, None)?);
    }
    for c in right.columns() {
        cols.push(arrow::compute::take(c, &ri, None)?);
    }
    super::conform(out, cols)
}
