//! Hash aggregation, in three modes: whole (`Single`), the per-node stage
//! that ships partial states (`Partial`), and the merge of those states
//! (`Final`). Group keys are Arrow row-encoded and interned in a hash table
//! once per group; grouping by dictionary columns (the stored strings) maps
//! each batch's dictionary keys to groups once per distinct key tuple, so a
//! row costs an array read and a table lookup. Accumulators update a whole
//! batch at a time from a vector of group ids.
//!
//! Partial states, per aggregate (see `AggFunc::state`): count and sum as
//! numbers; mean as sum and count; min, max and any as the value; distinct
//! counts as the 64-bit hashes seen (binary, 8 bytes each); quantiles as a
//! serialized DDSketch. Merging sketches of different configurations fails.

use std::collections::HashSet;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BinaryBuilder, BooleanArray, Float64Array, Int64Array, StringArray,
    StringBuilder, TimestampNanosecondArray,
};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Float64Type, Int32Type, Int64Type};
use arrow::record_batch::RecordBatch;
use arrow::row::{RowConverter, Rows, SortField};
use hashbrown::HashTable;
use loupe_topology::plan::{AggFunc, AggMode, AggSpec, DType, QUANTILE_RELATIVE_ERROR, Schema};
use sketches_ddsketch::{Config, DDSketch};

use super::ExecError;
use super::eval::plain;

fn sketch_config() -> Config {
    Config::new(QUANTILE_RELATIVE_ERROR, 2048, 1.0e-9)
}

fn hasher() -> ahash::RandomState {
    // Fixed seeds: every node must hash a value the same way.
    ahash::RandomState::with_seeds(0x6c6f_7570, 0x65, 0x6469_7374, 0x696e_6374)
}

enum Acc {
    Count(Vec<i64>),
    SumI(Vec<i64>),
    SumF(Vec<f64>),
    Mean(Vec<f64>, Vec<i64>),
    /// min/max/any over i64 (and time): value, seen.
    ExtI {
        v: Vec<i64>,
        seen: Vec<bool>,
        kind: Ext,
        time: bool,
    },
    ExtF {
        v: Vec<f64>,
        seen: Vec<bool>,
        kind: Ext,
    },
    ExtS {
        v: Vec<Option<String>>,
        kind: Ext,
    },
    AnyB(Vec<Option<bool>>),
    Distinct(Vec<HashSet<u64>>, ahash::RandomState),
    Sketch(Vec<DDSketch>, Option<f64>),
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Ext {
    Min,
    Max,
    Any,
}

impl Ext {
    fn better_i(self, new: i64, old: i64) -> bool {
        match self {
            Ext::Min => new < old,
            Ext::Max => new > old,
            Ext::Any => false,
        }
    }
    fn better_f(self, new: f64, old: f64) -> bool {
        match self {
            Ext::Min => new < old,
            Ext::Max => new > old,
            Ext::Any => false,
        }
    }
}

impl Acc {
    fn new(spec: &AggSpec) -> Acc {
        let t = spec.input_type;
        let ext = |k: Ext| match t {
            DType::Float64 => Acc::ExtF {
                v: vec![],
                seen: vec![],
                kind: k,
            },
            DType::String => Acc::ExtS { v: vec![], kind: k },
            DType::Boolean if k == Ext::Any => Acc::AnyB(vec![]),
            _ => Acc::ExtI {
                v: vec![],
                seen: vec![],
                kind: k,
                time: t == DType::Time,
            },
        };
        match &spec.func {
            AggFunc::Count => Acc::Count(vec![]),
            AggFunc::Sum if t == DType::Float64 => Acc::SumF(vec![]),
            AggFunc::Sum => Acc::SumI(vec![]),
            AggFunc::Mean => Acc::Mean(vec![], vec![]),
            AggFunc::Min => ext(Ext::Min),
            AggFunc::Max => ext(Ext::Max),
            AggFunc::Any => ext(Ext::Any),
            AggFunc::CountDistinct => Acc::Distinct(vec![], hasher()),
            AggFunc::Quantile(q) => Acc::Sketch(vec![], Some(*q)),
            _ => Acc::Sketch(vec![], None),
        }
    }

    fn resize(&mut self, n: usize) {
        match self {
            Acc::Count(v) | Acc::SumI(v) => v.resize(n, 0),
            Acc::SumF(v) => v.resize(n, 0.0),
            Acc::Mean(s, c) => {
                s.resize(n, 0.0);
                c.resize(n, 0);
            }
            Acc::ExtI { v, seen, .. } => {
                v.resize(n, 0);
                seen.resize(n, false);
            }
            Acc::ExtF { v, seen, .. } => {
                v.resize(n, 0.0);
                seen.resize(n, false);
            }
            Acc::ExtS { v, .. } => v.resize(n, None),
            Acc::AnyB(v) => v.resize(n, None),
            Acc::Distinct(v, _) => v.resize_with(n, HashSet::new),
            Acc::Sketch(v, _) => v.resize_with(n, || DDSketch::new(sketch_config())),
        }
    }

    /// Adds input rows (`ids[i]` is row i's group).
    fn update(&mut self, ids: &[u32], col: &ArrayRef) -> Result<(), ExecError> {
        let col = match col.data_type() {
            DataType::Boolean
                if !matches!(self, Acc::AnyB(_) | Acc::Count(_) | Acc::Distinct(..)) =>
            {
                cast(col, &DataType::Int64)?
            }
            DataType::Timestamp(_, _) => cast(col, &DataType::Int64)?,
            DataType::Dictionary(_, _) if !matches!(self, Acc::Count(_)) => plain(col)?,
            _ => col.clone(),
        };
        let valid = |i: usize| col.is_valid(i);
        match self {
            Acc::Count(c) => {
                if col.null_count() == 0 {
                    for &g in ids {
                        c[g as usize] += 1;
                    }
                } else {
                    for (i, &g) in ids.iter().enumerate() {
                        if valid(i) {
                            c[g as usize] += 1;
                        }
                    }
                }
            }
            Acc::SumI(s) => {
                let a = col.as_primitive::<Int64Type>();
                for (i, &g) in ids.iter().enumerate() {
                    if valid(i) {
                        s[g as usize] = s[g as usize].wrapping_add(a.value(i));
                    }
                }
            }
            Acc::SumF(s) => {
                let a = col.as_primitive::<Float64Type>();
                for (i, &g) in ids.iter().enumerate() {
                    if valid(i) {
                        s[g as usize] += a.value(i);
                    }
                }
            }
            Acc::Mean(s, c) => {
                let f = cast(&col, &DataType::Float64)?;
                let a = f.as_primitive::<Float64Type>();
                let vals = a.values();
                if a.null_count() == 0 {
                    for (i, &g) in ids.iter().enumerate() {
                        s[g as usize] += vals[i];
                        c[g as usize] += 1;
                    }
                } else {
                    for (i, &g) in ids.iter().enumerate() {
                        if a.is_valid(i) {
                            s[g as usize] += vals[i];
                            c[g as usize] += 1;
                        }
                    }
                }
            }
            Acc::ExtI { v, seen, kind, .. } => {
                let a = col.as_primitive::<Int64Type>();
                for (i, &g) in ids.iter().enumerate() {
                    let g = g as usize;
                    if valid(i) && (!seen[g] || kind.better_i(a.value(i), v[g])) {
                        v[g] = a.value(i);
                        seen[g] = true;
                    }
                }
            }
            Acc::ExtF { v, seen, kind } => {
                let f = cast(&col, &DataType::Float64)?;
                let a = f.as_primitive::<Float64Type>();
                for (i, &g) in ids.iter().enumerate() {
                    let g = g as usize;
                    if a.is_valid(i) && (!seen[g] || kind.better_f(a.value(i), v[g])) {
                        v[g] = a.value(i);
                        seen[g] = true;
                    }
                }
            }
            Acc::ExtS { v, kind } => {
                let a = col.as_string::<i32>();
                for (i, &g) in ids.iter().enumerate() {
                    if !valid(i) {
                        continue;
                    }
                    let x = a.value(i);
                    let slot = &mut v[g as usize];
                    let take = match (slot.as_deref(), *kind) {
                        (None, _) => true,
                        (Some(_), Ext::Any) => false,
                        (Some(old), Ext::Min) => x < old,
                        (Some(old), Ext::Max) => x > old,
                    };
                    if take {
                        *slot = Some(x.to_string());
                    }
                }
            }
            Acc::AnyB(v) => {
                let a = col.as_boolean();
                for (i, &g) in ids.iter().enumerate() {
                    if valid(i) && v[g as usize].is_none() {
                        v[g as usize] = Some(a.value(i));
                    }
                }
            }
            Acc::Distinct(sets, h) => {
                let hashes = hash_values(&col, h)?;
                for (i, &g) in ids.iter().enumerate() {
                    if let Some(x) = hashes[i] {
                        sets[g as usize].insert(x);
                    }
                }
            }
            Acc::Sketch(sk, _) => {
                let f = cast(&col, &DataType::Float64)?;
                let a = f.as_primitive::<Float64Type>();
                for (i, &g) in ids.iter().enumerate() {
                    if a.is_valid(i) {
                        sk[g as usize].add(a.value(i));
                    }
                }
            }
        }
        Ok(())
    }

    /// Merges partial states (`ids[i]` is state row i's group).
    fn merge(&mut self, ids: &[u32], st: &[ArrayRef]) -> Result<(), ExecError> {
        let first = st
            .first()
            .ok_or_else(|| ExecError::Plan("partial state missing".into()))?;
        match self {
            Acc::Count(c) | Acc::SumI(c) => {
                let a = first.as_primitive::<Int64Type>();
                for (i, &g) in ids.iter().enumerate() {
                    if a.is_valid(i) {
                        c[g as usize] = c[g as usize].wrapping_add(a.value(i));
                    }
                }
            }
            Acc::SumF(s) => {
                let a = first.as_primitive::<Float64Type>();
                for (i, &g) in ids.iter().enumerate() {
                    if a.is_valid(i) {
                        s[g as usize] += a.value(i);
                    }
                }
            }
            Acc::Mean(s, c) => {
                let sum = first.as_primitive::<Float64Type>();
                let cnt = st
                    .get(1)
                    .ok_or_else(|| ExecError::Plan("mean state lacks its count".into()))?
                    .as_primitive::<Int64Type>();
                for (i, &g) in ids.iter().enumerate() {
                    s[g as usize] += sum.value(i);
                    c[g as usize] += cnt.value(i);
                }
            }
            Acc::Distinct(sets, _) => {
                let a = first.as_binary::<i32>();
                for (i, &g) in ids.iter().enumerate() {
                    for h in a.value(i).chunks_exact(8) {
                        let mut b = [0u8; 8];
                        b.copy_from_slice(h);
                        sets[g as usize].insert(u64::from_le_bytes(b));
                    }
                }
            }
            Acc::Sketch(sk, _) => {
                let a = first.as_binary::<i32>();
                for (i, &g) in ids.iter().enumerate() {
                    if a.is_null(i) {
                        continue;
                    }
                    let (other, _): (DDSketch, _) =
                        bincode::serde::decode_from_slice(a.value(i), bincode::config::standard())
                            .map_err(|e| {
                                ExecError::Plan(format!("bad sketch in a partial: {e}"))
                            })?;
                    sk[g as usize].merge(&other).map_err(|e| {
                        ExecError::Plan(format!("cannot merge quantile sketches: {e}"))
                    })?;
                }
            }
            // min, max, any: merging states is updating with them.
            _ => self.update(ids, first)?,
        }
        Ok(())
    }

    fn state(self) -> Result<Vec<ArrayRef>, ExecError> {
        Ok(match self {
            Acc::Mean(s, c) => vec![
                Arc::new(Float64Array::from(s)),
                Arc::new(Int64Array::from(c)),
            ],
            Acc::Distinct(sets, _) => {
                let mut b = BinaryBuilder::new();
                let mut buf = Vec::new();
                for s in sets {
                    buf.clear();
                    for h in s {
                        buf.extend_from_slice(&h.to_le_bytes());
                    }
                    b.append_value(&buf);
                }
                vec![Arc::new(b.finish())]
            }
            Acc::Sketch(sk, _) => {
                let mut b = BinaryBuilder::new();
                for s in &sk {
                    let bytes = bincode::serde::encode_to_vec(s, bincode::config::standard())
                        .map_err(|e| ExecError::Plan(format!("cannot encode a sketch: {e}")))?;
                    b.append_value(bytes);
                }
                vec![Arc::new(b.finish())]
            }
            other => vec![other.finish()?],
        })
    }

    fn finish(self) -> Result<ArrayRef, ExecError> {
        Ok(match self {
            Acc::Count(v) | Acc::SumI(v) => Arc::new(Int64Array::from(v)),
            Acc::SumF(v) => Arc::new(Float64Array::from(v)),
            Acc::Mean(s, c) => Arc::new(
                s.iter()
                    .zip(&c)
                    .map(|(s, &c)| (c > 0).then(|| s / c as f64))
                    .collect::<Float64Array>(),
            ),
            Acc::ExtI { v, seen, time, .. } => {
                let it = v.iter().zip(&seen).map(|(v, s)| s.then_some(*v));
                if time {
                    Arc::new(it.collect::<TimestampNanosecondArray>())
                } else {
                    Arc::new(it.collect::<Int64Array>())
                }
            }
            Acc::ExtF { v, seen, .. } => Arc::new(
                v.iter()
                    .zip(&seen)
                    .map(|(v, s)| s.then_some(*v))
                    .collect::<Float64Array>(),
            ),
            Acc::ExtS { v, .. } => {
                Arc::new(v.iter().map(|s| s.as_deref()).collect::<StringArray>())
            }
            Acc::AnyB(v) => Arc::new(v.into_iter().collect::<BooleanArray>()),
            Acc::Distinct(sets, _) => Arc::new(Int64Array::from_iter_values(
                sets.iter().map(|s| s.len() as i64),
            )),
            Acc::Sketch(sk, Some(q)) => Arc::new(
                sk.iter()
                    .map(|s| s.quantile(q).ok().flatten())
                    .collect::<Float64Array>(),
            ),
            Acc::Sketch(sk, None) => {
                let mut b = StringBuilder::new();
                for s in &sk {
                    if s.count() == 0 {
                        b.append_null();
                        continue;
                    }
                    let q = |q: f64| s.quantile(q).ok().flatten().unwrap_or(f64::NAN);
                    b.append_value(format!(
                        "{{\"p01\":{},\"p10\":{},\"p50\":{},\"p90\":{},\"p99\":{}}}",
                        json_num(q(0.01)),
                        json_num(q(0.10)),
                        json_num(q(0.50)),
                        json_num(q(0.90)),
                        json_num(q(0.99))
                    ));
                }
                Arc::new(b.finish())
            }
        })
    }
}

fn json_num(f: f64) -> String {
    if f.is_finite() {
        format!("{f}")
    } else {
        "null".into()
    }
}

fn hash_values(col: &ArrayRef, h: &ahash::RandomState) -> Result<Vec<Option<u64>>, ExecError> {
    let n = col.len();
    let mut out = Vec::with_capacity(n);
    match col.data_type() {
        DataType::Utf8 => {
            let a = col.as_string::<i32>();
            out.extend((0..n).map(|i| a.is_valid(i).then(|| h.hash_one(a.value(i).as_bytes()))));
        }
        DataType::Float64 => {
            let a = col.as_primitive::<Float64Type>();
            out.extend((0..n).map(|i| a.is_valid(i).then(|| h.hash_one(a.value(i).to_bits()))));
        }
        DataType::Boolean => {
            let a = col.as_boolean();
            out.extend((0..n).map(|i| a.is_valid(i).then(|| h.hash_one(u64::from(a.value(i))))));
        }
        _ => {
            let c = cast(col, &DataType::Int64)?;
            let a = c.as_primitive::<Int64Type>();
            out.extend((0..n).map(|i| a.is_valid(i).then(|| h.hash_one(a.value(i)))));
        }
    }
    Ok(out)
}

/// One aggregation over any number of batches.
pub struct HashAgg {
    mode: AggMode,
    groups: Vec<String>,
    specs: Vec<AggSpec>,
    out: Schema,
    converter: Option<RowConverter>,
    keys: Option<Rows>,
    table: HashTable<u32>,
    hash: ahash::RandomState,
    accs: Vec<Acc>,
    n_groups: usize,
    ids: Vec<u32>,
    /// Per batch: dictionary key tuple -> group (u32::MAX: not yet seen).
    dict_map: Vec<u32>,
    /// Quantile aggregates of one column share one sketch: `share[i]` is
    /// the aggregate whose sketch aggregate `i` reads.
    share: Vec<Option<usize>>,
}

fn sketch_based(f: &AggFunc) -> bool {
    matches!(f, AggFunc::Quantile(_) | AggFunc::Quantiles)
}

impl HashAgg {
    pub fn new(mode: AggMode, groups: &[String], specs: &[AggSpec], out: Schema) -> Self {
        HashAgg {
            mode,
            groups: groups.to_vec(),
            specs: specs.to_vec(),
            out,
            converter: None,
            keys: None,
            table: HashTable::new(),
            hash: ahash::RandomState::with_seeds(1, 2, 3, 4),
            accs: specs.iter().map(Acc::new).collect(),
            n_groups: 0,
            ids: Vec::new(),
            dict_map: Vec::new(),
            share: specs
                .iter()
                .enumerate()
                .map(|(i, a)| {
                    let same = |b: &AggSpec| {
                        sketch_based(&a.func) && sketch_based(&b.func) && a.column == b.column
                    };
                    // A final stage merges each state column it is sent.
                    if mode.reads_states() {
                        return None;
                    }
                    specs[..i].iter().position(same)
                })
                .collect(),
        }
    }

    fn key_columns(&self, batch: &RecordBatch) -> Result<Vec<ArrayRef>, ExecError> {
        self.groups
            .iter()
            .map(|g| {
                let c = batch
                    .column_by_name(g)
                    .ok_or_else(|| ExecError::Plan(format!("group column {g:?} missing")))?;
                // Partials from different nodes may encode strings
                // differently: merge on plain values.
                if self.mode.reads_states() {
                    plain(c)
                } else {
                    Ok(c.clone())
                }
            })
            .collect()
    }

    /// The group of each row: `self.ids`.
    fn assign(&mut self, keys: &[ArrayRef], n: usize) -> Result<(), ExecError> {
        self.ids.clear();
        if keys.is_empty() {
            if self.n_groups == 0 {
                self.new_group();
            }
            self.ids.resize(n, 0);
            return Ok(());
        }
        if self.converter.is_none() {
            let fields = keys
                .iter()
                .map(|k| SortField::new(k.data_type().clone()))
                .collect();
            let conv = RowConverter::new(fields)?;
            self.keys = Some(conv.empty_rows(64, 1024));
            self.converter = Some(conv);
        }
        // Dictionary keys: one lookup per distinct key tuple in the batch.
        let dicts: Option<Vec<_>> = keys
            .iter()
            .map(|k| match k.data_type() {
                DataType::Dictionary(kt, _) if **kt == DataType::Int32 => {
                    let d = k.as_dictionary::<Int32Type>();
                    (d.null_count() == 0).then_some(d)
                }
                _ => None,
            })
            .collect();
        if let Some(dicts) = dicts {
            let card: Option<usize> = dicts
                .iter()
                .try_fold(1usize, |acc, d| acc.checked_mul(d.values().len().max(1)));
            if let Some(card) = card.filter(|c| *c <= 1 << 20) {
                self.dict_map.clear();
                self.dict_map.resize(card, u32::MAX);
                let key_vals: Vec<&[i32]> =
                    dicts.iter().map(|d| d.keys().values().as_ref()).collect();
                let sizes: Vec<usize> = dicts.iter().map(|d| d.values().len().max(1)).collect();
                // Pass 1: each row's slot, and the first row of each new slot.
                let mut slots = Vec::with_capacity(n);
                let mut firsts: Vec<u32> = Vec::new();
                for i in 0..n {
                    let mut slot = 0usize;
                    for (k, s) in key_vals.iter().zip(&sizes) {
                        slot = slot * s + k[i] as usize;
                    }
                    if self.dict_map[slot] == u32::MAX {
                        self.dict_map[slot] = u32::MAX - 1;
                        firsts.push(i as u32);
                    }
                    slots.push(slot);
                }
                // The new tuples interned at once (one row conversion per batch).
                let idx = arrow::array::UInt32Array::from(firsts);
                let picked: Vec<ArrayRef> = keys
                    .iter()
                    .map(|k| arrow::compute::take(k, &idx, None))
                    .collect::<Result<_, _>>()?;
                let groups = self.intern_rows(&picked)?;
                for (&row, g) in idx.values().iter().zip(groups) {
                    self.dict_map[slots[row as usize]] = g;
                }
                // Pass 2: every row's group.
                self.ids.extend(slots.iter().map(|&s| self.dict_map[s]));
                return Ok(());
            }
        }
        let ids = self.intern_rows(keys)?;
        self.ids = ids;
        Ok(())
    }

    fn new_group(&mut self) -> u32 {
        let g = self.n_groups as u32;
        self.n_groups += 1;
        for a in &mut self.accs {
            a.resize(self.n_groups);
        }
        g
    }

    /// The group of each row of `keys`, adding groups not seen before.
    fn intern_rows(&mut self, keys: &[ArrayRef]) -> Result<Vec<u32>, ExecError> {
        let conv = self
            .converter
            .as_ref()
            .ok_or_else(|| ExecError::Plan("internal: no row converter".into()))?;
        let rows = conv.convert_columns(keys)?;
        let mut out = Vec::with_capacity(rows.num_rows());
        for r in rows.iter() {
            let bytes = r.data();
            let h = self.hash.hash_one(bytes);
            let stored = self
                .keys
                .as_ref()
                .ok_or_else(|| ExecError::Plan("internal: keys".into()))?;
            if let Some(&g) = self
                .table
                .find(h, |&g| stored.row(g as usize).data() == bytes)
            {
                out.push(g);
                continue;
            }
            let g = self.new_group();
            if let Some(k) = self.keys.as_mut() {
                k.push(r);
            }
            let hash = &self.hash;
            let keys = &self.keys;
            self.table.insert_unique(h, g, |&x| {
                keys.as_ref()
                    .map_or(0, |k| hash.hash_one(k.row(x as usize).data()))
            });
            out.push(g);
        }
        Ok(out)
    }

    pub fn push(&mut self, batch: &RecordBatch) -> Result<(), ExecError> {
        let n = batch.num_rows();
        if n == 0 {
            return Ok(());
        }
        let keys = self.key_columns(batch)?;
        self.assign(&keys, n)?;
        let ids = std::mem::take(&mut self.ids);
        for ((spec, acc), share) in self.specs.iter().zip(self.accs.iter_mut()).zip(&self.share) {
            if share.is_some() {
                continue;
            }
            if self.mode.reads_states() {
                let cols = spec
                    .func
                    .state(spec.input_type)
                    .into_iter()
                    .map(|(suffix, _)| {
                        let name = format!("{}{suffix}", spec.name);
                        batch.column_by_name(&name).cloned().ok_or_else(|| {
                            ExecError::Plan(format!("partial state {name:?} missing"))
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                acc.merge(&ids, &cols)?;
            } else {
                let col = batch
                    .column_by_name(&spec.column)
                    .ok_or_else(|| ExecError::Plan(format!("column {:?} missing", spec.column)))?;
                acc.update(&ids, col)?;
            }
        }
        self.ids = ids;
        Ok(())
    }

    pub fn finish(mut self) -> Result<RecordBatch, ExecError> {
        if self.groups.is_empty() && self.n_groups == 0 {
            // An aggregate without groups over no rows is one row (count 0).
            self.new_group();
        }
        let mut cols: Vec<ArrayRef> = match (&self.converter, self.keys.take()) {
            (Some(c), Some(k)) => c.convert_rows(k.iter())?,
            _ => self
                .groups
                .iter()
                .map(|_| arrow::array::new_null_array(&DataType::Utf8, 0))
                .collect(),
        };
        let partial = self.mode.writes_states();
        for (i, primary) in self.share.iter().enumerate() {
            if let Some(j) = *primary
                && let (Acc::Sketch(from, _), Acc::Sketch(_, q)) = (&self.accs[j], &self.accs[i])
            {
                self.accs[i] = Acc::Sketch(from.clone(), *q);
            }
        }
        for acc in self.accs {
            if partial {
                cols.extend(acc.state()?);
            } else {
                cols.push(acc.finish()?);
            }
        }
        super::conform(&self.out, cols)
    }
}
