//! The logical plan: what to compute, as a DAG of operators in an arena
//! (inputs always come before the nodes that read them). Every node knows
//! its output schema, so a plan that builds is a plan that type-checks.

use serde::{Deserialize, Serialize};

use super::expr::Expr;
use super::types::{DType, Field, Scalar, Schema};

pub type NodeId = usize;

/// Aggregate functions (PXL.md, "Aggregation").
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum AggFunc {
    Count,
    Sum,
    Mean,
    Min,
    Max,
    /// Some value of the group (the first one seen).
    Any,
    CountDistinct,
    /// One quantile, e.g. 0.99, from a DDSketch (1 % relative error).
    Quantile(f64),
    /// Pixie's `px.quantiles`: a JSON object with p01, p10, p50, p90, p99.
    Quantiles,
}

/// Relative error bound of every quantile Loupe computes (DDSketch alpha).
pub const QUANTILE_RELATIVE_ERROR: f64 = 0.01;

impl AggFunc {
    pub fn name(&self) -> &'static str {
        match self {
            AggFunc::Count => "px.count",
            AggFunc::Sum => "px.sum",
            AggFunc::Mean => "px.mean",
            AggFunc::Min => "px.min",
            AggFunc::Max => "px.max",
            AggFunc::Any => "px.any",
            AggFunc::CountDistinct => "px.count_distinct",
            AggFunc::Quantile(_) | AggFunc::Quantiles => "px.quantiles",
        }
    }

    /// The output type over an input of type `t`, or why `t` does not fit.
    pub fn result(&self, t: DType) -> Result<DType, String> {
        use DType::*;
        let numeric = |out: DType| {
            if matches!(t, Int64 | Float64 | Boolean) {
                Ok(out)
            } else {
                Err(format!("{} needs a number, got {t}", self.name()))
            }
        };
        match self {
            AggFunc::Count | AggFunc::CountDistinct => Ok(Int64),
            AggFunc::Sum => numeric(if t == Float64 { Float64 } else { Int64 }),
            AggFunc::Mean => numeric(Float64),
            AggFunc::Quantile(_) => numeric(Float64),
            AggFunc::Quantiles => numeric(String),
            AggFunc::Min | AggFunc::Max => match t {
                Int64 | Float64 | Time | String => Ok(t),
                Boolean => Ok(Int64),
                _ => Err(format!(
                    "{} needs a number, time or string, got {t}",
                    self.name()
                )),
            },
            AggFunc::Any => Ok(t),
        }
    }

    /// The columns of this aggregate's partial state (what a node ships to
    /// the merge), as (suffix, type). One column named like the output,
    /// except `mean` (sum and count).
    pub fn state(&self, t: DType) -> Vec<(&'static str, DType)> {
        use DType::*;
        match self {
            AggFunc::Count => vec![("", Int64)],
            AggFunc::Sum => vec![("", if t == Float64 { Float64 } else { Int64 })],
            AggFunc::Mean => vec![("#sum", Float64), ("#count", Int64)],
            AggFunc::Min | AggFunc::Max => vec![("", if t == Boolean { Int64 } else { t })],
            AggFunc::Any => vec![("", t)],
            AggFunc::CountDistinct | AggFunc::Quantile(_) | AggFunc::Quantiles => {
                vec![("", Binary)]
            }
        }
    }
}

/// `name=(column, fn)`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AggSpec {
    pub name: String,
    pub func: AggFunc,
    pub column: String,
    /// The type of `column` where the aggregate reads it (a final stage no
    /// longer sees that column).
    pub input_type: DType,
}

/// Where an aggregate runs: whole in one place, or split into a per-node
/// partial stage and a final stage that merges partial states.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AggMode {
    Single,
    /// Input: rows. Output: group columns, then each aggregate's state.
    Partial,
    /// Input: partial states. Output: group columns, then each aggregate.
    Final,
    /// Input: partial states. Output: partial states of the same shape,
    /// merged: what a merge node of a tree, or a window of panes, sends on.
    Combine,
}

impl AggMode {
    /// Reads partial states rather than rows.
    pub fn reads_states(self) -> bool {
        matches!(self, AggMode::Final | AggMode::Combine)
    }

    /// Writes partial states rather than results.
    pub fn writes_states(self) -> bool {
        matches!(self, AggMode::Partial | AggMode::Combine)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum JoinHow {
    Inner,
    Left,
    Right,
    Outer,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SortKey {
    pub column: String,
    pub ascending: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Op {
    /// Rows of a stored table with `start_ns <= time_ < end_ns`.
    Source {
        table: String,
        start_ns: i64,
        end_ns: Option<i64>,
        /// The columns read, in table order (pruned by [`Plan::prune`]).
        columns: Vec<String>,
    },
    Filter {
        input: NodeId,
        predicate: Expr,
    },
    /// Output is exactly these columns, in this order.
    Map {
        input: NodeId,
        exprs: Vec<(String, Expr)>,
    },
    Aggregate {
        input: NodeId,
        groups: Vec<String>,
        aggs: Vec<AggSpec>,
        mode: AggMode,
    },
    Sort {
        input: NodeId,
        keys: Vec<SortKey>,
    },
    Limit {
        input: NodeId,
        n: u64,
    },
    /// pandas' `merge`: every left column, then every right column; names
    /// both sides have get the suffixes.
    Join {
        left: NodeId,
        right: NodeId,
        how: JoinHow,
        left_on: Vec<String>,
        right_on: Vec<String>,
        suffixes: [String; 2],
    },
    /// `append`: rows of every input, which share one schema.
    Union {
        inputs: Vec<NodeId>,
    },
    /// Batches that node fragments send on a channel (merge side only).
    Exchange {
        channel: u32,
        schema: Schema,
    },
    /// A table function's rows (`px.GetAgentStatus()`): answered from
    /// Loupe's registries or the nodes' reports, not from stored rows.
    TableFn {
        func: super::table_fn::TableFn,
        args: Vec<Scalar>,
    },
}

/// Most operators in one plan.
pub const MAX_PLAN_NODES: usize = 4096;
/// Most result tables of one plan.
pub const MAX_SINKS: usize = 256;
/// Most columns an operator lists (projections, groups, keys, aggregates).
pub const MAX_COLUMNS: usize = 1024;
/// Longest name (a column, a table, a result table).
pub const MAX_NAME: usize = 256;

impl Op {
    /// What the schema rules do not check: sizes, expression shapes, and
    /// values in range.
    pub fn check_values(&self) -> Result<(), String> {
        let names = |what: &str, n: usize| {
            if n > MAX_COLUMNS {
                Err(format!("{n} {what}; at most {MAX_COLUMNS}"))
            } else {
                Ok(())
            }
        };
        let name = |s: &str| {
            if s.len() > MAX_NAME {
                Err(format!("a name longer than {MAX_NAME} bytes"))
            } else {
                Ok(())
            }
        };
        match self {
            Op::Source { table, columns, .. } => {
                name(table)?;
                names("columns", columns.len())?;
            }
            Op::Filter { predicate, .. } => predicate.check_shape()?,
            Op::Map { exprs, .. } => {
                names("columns", exprs.len())?;
                for (n, e) in exprs {
                    name(n)?;
                    e.check_shape()?;
                }
            }
            Op::Aggregate { groups, aggs, .. } => {
                names("groups", groups.len())?;
                names("aggregates", aggs.len())?;
                for a in aggs {
                    name(&a.name)?;
                    if let AggFunc::Quantile(q) = a.func
                        && !(0.0..=1.0).contains(&q)
                    {
                        return Err(format!("quantile {q} is not within 0 and 1"));
                    }
                }
            }
            Op::Sort { keys, .. } => names("sort keys", keys.len())?,
            Op::Limit { .. } => {}
            Op::Join {
                left_on,
                right_on,
                suffixes,
                ..
            } => {
                names("join keys", left_on.len().max(right_on.len()))?;
                for s in suffixes {
                    name(s)?;
                }
            }
            Op::Union { inputs } => names("appended frames", inputs.len())?,
            Op::Exchange { schema, .. } => names("columns", schema.fields.len())?,
            Op::TableFn { func, args } => func.check_args(args)?,
        }
        Ok(())
    }

    pub fn inputs(&self) -> Vec<NodeId> {
        match self {
            Op::Source { .. } | Op::Exchange { .. } | Op::TableFn { .. } => vec![],
            Op::Filter { input, .. }
            | Op::Map { input, .. }
            | Op::Aggregate { input, .. }
            | Op::Sort { input, .. }
            | Op::Limit { input, .. } => vec![*input],
            Op::Join { left, right, .. } => vec![*left, *right],
            Op::Union { inputs } => inputs.clone(),
        }
    }

    pub(crate) fn inputs_mut(&mut self) -> Vec<&mut NodeId> {
        match self {
            Op::Source { .. } | Op::Exchange { .. } | Op::TableFn { .. } => vec![],
            Op::Filter { input, .. }
            | Op::Map { input, .. }
            | Op::Aggregate { input, .. }
            | Op::Sort { input, .. }
            | Op::Limit { input, .. } => vec![input],
            Op::Join { left, right, .. } => vec![left, right],
            Op::Union { inputs } => inputs.iter_mut().collect(),
        }
    }

    /// The operator's name, for messages and EXPLAIN output.
    pub fn name(&self) -> &'static str {
        match self {
            Op::Source { .. } => "Source",
            Op::Filter { .. } => "Filter",
            Op::Map { .. } => "Map",
            Op::Aggregate { .. } => "Aggregate",
            Op::Sort { .. } => "Sort",
            Op::Limit { .. } => "Limit",
            Op::Join { .. } => "Join",
            Op::Union { .. } => "Union",
            Op::Exchange { .. } => "Exchange",
            Op::TableFn { .. } => "TableFn",
        }
    }
}

/// A Source node's read: rows of `table` with `start_ns <= time_ < end_ns`,
/// only `columns`.
#[derive(Clone, Copy, Debug)]
pub struct SourceRead<'a> {
    pub id: NodeId,
    pub table: &'a str,
    pub start_ns: i64,
    pub end_ns: Option<i64>,
    pub columns: &'a [String],
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PlanNode {
    pub op: Op,
    pub schema: Schema,
}

/// A result table: `px.display(df, name)`, or, with `export`, rows sent
/// to OpenTelemetry (`px.export`) rather than shown.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Sink {
    pub name: String,
    pub input: NodeId,
    #[serde(default)]
    pub export: Option<Box<super::export::OtelExport>>,
}

impl Sink {
    /// A table to show.
    pub fn display(name: impl Into<String>, input: NodeId) -> Sink {
        Sink {
            name: name.into(),
            input,
            export: None,
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub nodes: Vec<PlanNode>,
    pub sinks: Vec<Sink>,
}

impl Plan {
    pub fn schema(&self, id: NodeId) -> &Schema {
        &self.nodes[id].schema
    }

    /// Checks a plan that came from elsewhere (over the wire) before
    /// anything runs it: every operator's inputs come before it, its
    /// expressions are within the shape limits, its schema is the one its
    /// operator gives over its inputs' schemas (so column indexes and types
    /// are what the executor expects), its values are sane, and the sinks
    /// read nodes that exist. The plan is rebuilt operator by operator with
    /// [`Plan::add`], the same check the compiler's plans passed.
    pub fn check(&self) -> Result<(), String> {
        if self.nodes.len() > MAX_PLAN_NODES {
            return Err(format!(
                "a plan of {} operators; at most {MAX_PLAN_NODES}",
                self.nodes.len()
            ));
        }
        if self.sinks.len() > MAX_SINKS {
            return Err(format!(
                "a plan of {} result tables; at most {MAX_SINKS}",
                self.sinks.len()
            ));
        }
        let mut rebuilt = Plan::default();
        for (i, n) in self.nodes.iter().enumerate() {
            let at = |e: String| format!("operator {i} ({}): {e}", n.op.name());
            for input in n.op.inputs() {
                if input >= i {
                    return Err(at(format!(
                        "reads operator {input}, which does not come before it"
                    )));
                }
            }
            n.op.check_values().map_err(at)?;
            rebuilt.add(n.op.clone()).map_err(at)?;
            if rebuilt.nodes[i].schema != n.schema {
                return Err(at("its schema is not the one its operator gives".into()));
            }
        }
        for s in &self.sinks {
            if s.input >= self.nodes.len() {
                return Err(format!(
                    "result table {:?} reads operator {}, which is not in the plan",
                    s.name, s.input
                ));
            }
            if s.name.len() > MAX_NAME {
                return Err("a result table name longer than 256 bytes".into());
            }
            if let Some(x) = &s.export {
                x.check(self.schema(s.input))
                    .map_err(|e| format!("export {:?}: {e}", s.name))?;
            }
        }
        Ok(())
    }

    /// Replaces every call of a function the planner answers
    /// ([`crate::funcs::Runs::Planner`]: the cluster's name, id, namespace)
    /// with its value, before the plan is split and run.
    pub fn bind_planner_values(&mut self, value: &dyn Fn(&str) -> Option<Scalar>) {
        fn bind(e: &mut Expr, value: &dyn Fn(&str) -> Option<Scalar>) {
            match e {
                Expr::Call(super::expr::Func::Lib(lf), _)
                    if lf.def().runs == crate::funcs::Runs::Planner =>
                {
                    if let Some(v) = value(lf.name()) {
                        *e = Expr::Lit(v);
                    }
                }
                Expr::Call(_, args) => args.iter_mut().for_each(|a| bind(a, value)),
                Expr::Binary(_, a, b) => {
                    bind(a, value);
                    bind(b, value);
                }
                Expr::Not(a) | Expr::Neg(a) => bind(a, value),
                Expr::Col(_) | Expr::Lit(_) => {}
            }
        }
        for n in &mut self.nodes {
            match &mut n.op {
                Op::Filter { predicate, .. } => bind(predicate, value),
                Op::Map { exprs, .. } => exprs.iter_mut().for_each(|(_, e)| bind(e, value)),
                _ => {}
            }
        }
    }

    /// Adds an operator after checking it against its inputs' schemas.
    pub fn add(&mut self, op: Op) -> Result<NodeId, String> {
        for i in op.inputs() {
            if i >= self.nodes.len() {
                return Err(format!("internal: input {i} of {} not in plan", op.name()));
            }
        }
        let schema = self.output_schema(&op)?;
        self.nodes.push(PlanNode { op, schema });
        Ok(self.nodes.len() - 1)
    }

    /// The schema `op` produces over this plan's nodes.
    pub fn output_schema(&self, op: &Op) -> Result<Schema, String> {
        let input = |i: &NodeId| &self.nodes[*i].schema;
        Ok(match op {
            Op::Source { table, columns, .. } => {
                let t = crate::schema::table(table).ok_or_else(|| {
                    format!(
                        "unknown table {table:?}; tables: {}",
                        crate::schema::TABLES.join(", ")
                    )
                })?;
                let all = Schema::of_arrow(&t);
                let mut fields = Vec::with_capacity(columns.len());
                for c in columns {
                    fields.push(
                        all.get(c)
                            .cloned()
                            .ok_or_else(|| format!("table {table} has no column {c:?}"))?,
                    );
                }
                Schema::new(fields)
            }
            Op::Filter {
                input: i,
                predicate,
            } => {
                let s = input(i);
                match predicate.dtype(s)? {
                    DType::Boolean => s.clone(),
                    t => return Err(format!("a filter needs a BOOLEAN expression, got {t}")),
                }
            }
            Op::Map { input: i, exprs } => {
                let s = input(i);
                let mut fields = Vec::with_capacity(exprs.len());
                for (name, e) in exprs {
                    if fields.iter().any(|f: &Field| &f.name == name) {
                        return Err(format!("column {name:?} assigned twice in one projection"));
                    }
                    fields.push(Field::new(name, e.dtype(s)?));
                }
                Schema::new(fields)
            }
            Op::Aggregate {
                input: i,
                groups,
                aggs,
                mode,
            } => {
                let s = input(i);
                let mut fields = Vec::new();
                for g in groups {
                    let f = s
                        .get(g)
                        .ok_or_else(|| format!("cannot group by unknown column {g:?}"))?;
                    if f.dtype == DType::Binary {
                        return Err(format!("cannot group by {g:?}"));
                    }
                    fields.push(f.clone());
                }
                for a in aggs {
                    match mode {
                        AggMode::Single | AggMode::Partial => {
                            let t = s
                                .get(&a.column)
                                .ok_or_else(|| {
                                    format!("cannot aggregate unknown column {:?}", a.column)
                                })?
                                .dtype;
                            if t != a.input_type {
                                return Err(format!(
                                    "internal: {} reads {:?} as {}, it is {t}",
                                    a.func.name(),
                                    a.column,
                                    a.input_type
                                ));
                            }
                        }
                        AggMode::Final | AggMode::Combine => {
                            for (suffix, t) in a.func.state(a.input_type) {
                                let n = format!("{}{suffix}", a.name);
                                if s.get(&n).map(|f| f.dtype) != Some(t) {
                                    return Err(format!("internal: partial state {n:?} missing"));
                                }
                            }
                        }
                    }
                    if mode.writes_states() {
                        for (suffix, t) in a.func.state(a.input_type) {
                            fields.push(Field::new(format!("{}{suffix}", a.name), t));
                        }
                    } else {
                        fields.push(Field::new(&a.name, a.func.result(a.input_type)?));
                    }
                }
                let mut seen = std::collections::HashSet::new();
                for f in &fields {
                    if !seen.insert(f.name.as_str()) {
                        return Err(format!(
                            "column {:?} appears twice in the aggregate",
                            f.name
                        ));
                    }
                }
                Schema::new(fields)
            }
            Op::Sort { input: i, keys } => {
                let s = input(i);
                for k in keys {
                    match s.get(&k.column) {
                        None => {
                            return Err(format!("cannot sort by unknown column {:?}", k.column));
                        }
                        Some(f) if f.dtype == DType::Binary => {
                            return Err(format!("cannot sort by {:?}", k.column));
                        }
                        Some(_) => {}
                    }
                }
                s.clone()
            }
            Op::Limit { input: i, .. } => input(i).clone(),
            Op::Join {
                left,
                right,
                left_on,
                right_on,
                suffixes,
                ..
            } => {
                let (l, r) = (input(left), input(right));
                if left_on.len() != right_on.len() || left_on.is_empty() {
                    return Err(format!(
                        "merge needs as many left_on as right_on columns (at least one), got {} and {}",
                        left_on.len(),
                        right_on.len()
                    ));
                }
                for (a, b) in left_on.iter().zip(right_on) {
                    let ta = l
                        .get(a)
                        .ok_or_else(|| format!("left side of merge has no column {a:?}"))?
                        .dtype;
                    let tb = r
                        .get(b)
                        .ok_or_else(|| format!("right side of merge has no column {b:?}"))?
                        .dtype;
                    if ta != tb {
                        return Err(format!(
                            "merge keys {a:?} ({ta}) and {b:?} ({tb}) have different types"
                        ));
                    }
                }
                let mut fields = Vec::new();
                for f in &l.fields {
                    let name = if r.get(&f.name).is_some() {
                        format!("{}{}", f.name, suffixes[0])
                    } else {
                        f.name.clone()
                    };
                    fields.push(Field::new(name, f.dtype));
                }
                for f in &r.fields {
                    let name = if l.get(&f.name).is_some() {
                        format!("{}{}", f.name, suffixes[1])
                    } else {
                        f.name.clone()
                    };
                    if fields.iter().any(|g| g.name == name) {
                        return Err(format!(
                            "merge gives two columns named {name:?}: pass suffixes=['_l', '_r']"
                        ));
                    }
                    fields.push(Field::new(name, f.dtype));
                }
                Schema::new(fields)
            }
            Op::Union { inputs } => {
                let Some(first) = inputs.first() else {
                    return Err("append of no frames".into());
                };
                let first = input(first).clone();
                for i in &inputs[1..] {
                    let s = input(i);
                    if s != &first {
                        return Err(format!(
                            "append needs the same columns on both sides: [{}] vs [{}]",
                            describe(&first),
                            describe(s)
                        ));
                    }
                }
                first
            }
            Op::Exchange { schema, .. } => schema.clone(),
            Op::TableFn { func, .. } => func.schema(),
        })
    }

    /// Narrows every Source to the columns something downstream reads and
    /// drops computed columns nobody reads, then recomputes the schemas.
    /// Less to scan, derive and ship.
    pub fn prune(&mut self) -> Result<(), String> {
        use std::collections::BTreeSet;
        let n = self.nodes.len();
        let mut need: Vec<BTreeSet<String>> = vec![BTreeSet::new(); n];
        for s in &self.sinks {
            need[s.input].extend(
                self.nodes[s.input]
                    .schema
                    .fields
                    .iter()
                    .map(|f| f.name.clone()),
            );
        }
        for i in (0..n).rev() {
            let r = std::mem::take(&mut need[i]);
            let full: Vec<(NodeId, BTreeSet<String>)> = match &self.nodes[i].op {
                Op::Join { .. } | Op::Union { .. } => self.nodes[i]
                    .op
                    .inputs()
                    .into_iter()
                    .map(|id| {
                        let s = self.nodes[id].schema.fields.iter().map(|f| f.name.clone());
                        (id, s.collect())
                    })
                    .collect(),
                _ => Vec::new(),
            };
            let mut add: Vec<(NodeId, BTreeSet<String>)> = Vec::new();
            match &mut self.nodes[i].op {
                Op::Source { columns, .. } => {
                    columns.retain(|c| r.contains(c));
                    if columns.is_empty() {
                        // Keep the row count: read the cheapest column.
                        columns.push("time_".into());
                    }
                }
                Op::Filter { input, predicate } => {
                    let mut cols = Vec::new();
                    predicate.columns(&mut cols);
                    let mut s = r.clone();
                    s.extend(cols.into_iter().map(String::from));
                    add.push((*input, s));
                }
                Op::Map { input, exprs } => {
                    let first = exprs.first().cloned();
                    exprs.retain(|(name, _)| r.contains(name));
                    if exprs.is_empty() {
                        exprs.extend(first);
                    }
                    let mut cols = Vec::new();
                    for (_, e) in exprs.iter() {
                        e.columns(&mut cols);
                    }
                    add.push((*input, cols.into_iter().map(String::from).collect()));
                }
                Op::Aggregate {
                    input,
                    groups,
                    aggs,
                    mode,
                } => {
                    let mut s: BTreeSet<String> = groups.iter().cloned().collect();
                    for a in aggs.iter() {
                        if mode.reads_states() {
                            for (suffix, _) in a.func.state(a.input_type) {
                                s.insert(format!("{}{suffix}", a.name));
                            }
                        } else {
                            s.insert(a.column.clone());
                        }
                    }
                    add.push((*input, s));
                }
                Op::Sort { input, keys } => {
                    let mut s = r.clone();
                    s.extend(keys.iter().map(|k| k.column.clone()));
                    add.push((*input, s));
                }
                Op::Limit { input, .. } => add.push((*input, r.clone())),
                Op::Join { .. } | Op::Union { .. } => add.extend(full),
                Op::Exchange { .. } | Op::TableFn { .. } => {}
            }
            for (id, s) in add {
                need[id].extend(s);
            }
        }
        self.recompute()
    }

    /// Recomputes every schema in order (after the ops changed).
    pub fn recompute(&mut self) -> Result<(), String> {
        for i in 0..self.nodes.len() {
            let op = self.nodes[i].op.clone();
            self.nodes[i].schema = self.output_schema(&op)?;
        }
        Ok(())
    }

    /// Copies node `id` of `from` (with its inputs already mapped by `map`)
    /// into this plan.
    pub(crate) fn copy_from(
        &mut self,
        from: &Plan,
        id: NodeId,
        map: &dyn Fn(NodeId) -> NodeId,
    ) -> Result<NodeId, String> {
        let mut op = from.nodes[id].op.clone();
        for i in op.inputs_mut() {
            *i = map(*i);
        }
        self.add(op)
    }

    /// Every Source: what a fragment must read before it runs.
    /// Every source reads `[start_ns, end_ns)` instead of its own range: a
    /// live fragment's pane.
    pub fn set_source_range(&mut self, start: i64, end: i64) {
        for n in &mut self.nodes {
            if let Op::Source {
                start_ns, end_ns, ..
            } = &mut n.op
            {
                *start_ns = start;
                *end_ns = Some(end);
            }
        }
    }

    pub fn sources(&self) -> impl Iterator<Item = SourceRead<'_>> {
        self.nodes
            .iter()
            .enumerate()
            .filter_map(|(id, n)| match &n.op {
                Op::Source {
                    table,
                    start_ns,
                    end_ns,
                    columns,
                } => Some(SourceRead {
                    id,
                    table,
                    start_ns: *start_ns,
                    end_ns: *end_ns,
                    columns,
                }),
                _ => None,
            })
    }

    /// Every column of `frame`, unchanged: the start of a projection.
    pub fn passthrough(&self, frame: NodeId) -> Vec<(String, Expr)> {
        self.nodes[frame]
            .schema
            .fields
            .iter()
            .map(|f| (f.name.clone(), Expr::Col(f.name.clone())))
            .collect()
    }

    /// A readable one-line-per-node description (tests, `--explain`).
    pub fn explain(&self) -> String {
        let mut out = String::new();
        for (i, n) in self.nodes.iter().enumerate() {
            let detail = match &n.op {
                Op::Source { table, columns, .. } => format!("{table} [{}]", columns.join(", ")),
                Op::Filter { input, .. } => format!("<- {input}"),
                Op::Map { input, exprs } => format!(
                    "<- {input} [{}]",
                    exprs
                        .iter()
                        .map(|(n, _)| n.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                Op::Aggregate {
                    input,
                    groups,
                    aggs,
                    mode,
                } => format!(
                    "<- {input} {mode:?} by [{}] [{}]",
                    groups.join(", "),
                    aggs.iter()
                        .map(|a| a.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                Op::Sort { input, keys } => format!(
                    "<- {input} [{}]",
                    keys.iter()
                        .map(|k| format!("{}{}", k.column, if k.ascending { "" } else { " desc" }))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                Op::Limit { input, n } => format!("<- {input} {n}"),
                Op::Join {
                    left, right, how, ..
                } => format!("<- {left}, {right} {how:?}"),
                Op::Union { inputs } => format!("<- {inputs:?}"),
                Op::Exchange { channel, .. } => format!("channel {channel}"),
                Op::TableFn { func, .. } => format!("px.{}", func.def().name),
            };
            out.push_str(&format!("{i}: {} {detail}\n", n.op.name()));
        }
        for s in &self.sinks {
            out.push_str(&format!("sink {:?} <- {}\n", s.name, s.input));
        }
        out
    }
}

fn describe(s: &Schema) -> String {
    s.fields
        .iter()
        .map(|f| format!("{} {}", f.name, f.dtype))
        .collect::<Vec<_>>()
        .join(", ")
}
