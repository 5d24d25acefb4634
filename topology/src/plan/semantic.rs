//! What each result column means beyond its type (Pixie's semantic
//! types): a latency prints as 12.3 ms, a ratio cast with `px.Percent` as
//! 12.3 %, a byte count as 4.5 MiB; JSON answers carry it beside the type.
//! Worked out on the logical plan, by following each sink column back to
//! where it was made, with Pixie's rules of propagation.

use super::expr::{BinOp, Expr, Func};
use super::logical::{AggFunc, NodeId, Op, Plan};
use super::types::Sem;
use crate::funcs::SemRule;

/// The semantic type of each column of sink `i`.
pub fn sink_semantics(plan: &Plan, i: usize) -> Vec<Sem> {
    let Some(s) = plan.sinks.get(i) else {
        return Vec::new();
    };
    plan.schema(s.input)
        .fields
        .iter()
        .map(|f| of_column(plan, s.input, &f.name, 0))
        .collect()
}

/// Deep enough for any plan a script makes; deeper answers `None`.
const MAX_DEPTH: usize = 512;

/// The semantic type of column `col` of node `id`'s output.
pub fn column(plan: &Plan, id: NodeId, col: &str) -> Sem {
    of_column(plan, id, col, 0)
}

fn of_column(plan: &Plan, id: NodeId, col: &str, depth: usize) -> Sem {
    if depth > MAX_DEPTH || id >= plan.nodes.len() {
        return Sem::None;
    }
    let d = depth + 1;
    match &plan.nodes[id].op {
        Op::Source { table, .. } => crate::schema::semantic(table, col),
        Op::Filter { input, .. } | Op::Sort { input, .. } | Op::Limit { input, .. } => {
            of_column(plan, *input, col, d)
        }
        Op::Map { input, exprs } => match exprs.iter().find(|(n, _)| n == col) {
            Some((_, e)) => of_expr(plan, *input, e, d),
            None => Sem::None,
        },
        Op::Aggregate {
            input,
            groups,
            aggs,
            ..
        } => {
            if groups.iter().any(|g| g == col) {
                return of_column(plan, *input, col, d);
            }
            let Some(a) = aggs.iter().find(|a| a.name == col) else {
                return Sem::None;
            };
            let of_input = of_column(plan, *input, &a.column, d);
            match a.func {
                AggFunc::Count | AggFunc::CountDistinct => Sem::None,
                AggFunc::Quantiles if of_input == Sem::DurationNs => Sem::DurationNsQuantiles,
                AggFunc::Quantiles => Sem::None,
                AggFunc::Sum
                | AggFunc::Mean
                | AggFunc::Min
                | AggFunc::Max
                | AggFunc::Any
                | AggFunc::Quantile(_) => of_input,
            }
        }
        Op::Join {
            left,
            right,
            suffixes,
            ..
        } => {
            let (l, r) = (plan.schema(*left), plan.schema(*right));
            if l.get(col).is_some() && r.get(col).is_none() {
                return of_column(plan, *left, col, d);
            }
            if r.get(col).is_some() && l.get(col).is_none() {
                return of_column(plan, *right, col, d);
            }
            if let Some(base) = col.strip_suffix(suffixes[0].as_str())
                && l.get(base).is_some()
            {
                return of_column(plan, *left, base, d);
            }
            if let Some(base) = col.strip_suffix(suffixes[1].as_str())
                && r.get(base).is_some()
            {
                return of_column(plan, *right, base, d);
            }
            Sem::None
        }
        Op::Union { inputs } => inputs
            .first()
            .map_or(Sem::None, |i| of_column(plan, *i, col, d)),
        Op::Exchange { .. } | Op::TableFn { .. } => Sem::None,
    }
}

/// Pixie's arithmetic semantic types: kept by `+` and `-` of two alike.
fn arithmetic(s: Sem) -> bool {
    matches!(
        s,
        Sem::Bytes | Sem::DurationNs | Sem::BytesPerNs | Sem::PerNs
    )
}

fn of_expr(plan: &Plan, input: NodeId, e: &Expr, depth: usize) -> Sem {
    if depth > MAX_DEPTH {
        return Sem::None;
    }
    let d = depth + 1;
    match e {
        Expr::Col(c) => of_column(plan, input, c, d),
        Expr::Lit(_) | Expr::Not(_) | Expr::Neg(_) => Sem::None,
        Expr::Call(Func::Lib(f), args) => match f.def().sem {
            SemRule::None => Sem::None,
            SemRule::Is(s) => s,
            SemRule::OfFirst => args
                .first()
                .map_or(Sem::None, |a| of_expr(plan, input, a, d)),
        },
        Expr::Call(Func::Meta(_), _) => Sem::None,
        Expr::Binary(op, l, r) => {
            let (a, b) = (of_expr(plan, input, l, d), of_expr(plan, input, r, d));
            match op {
                BinOp::Add | BinOp::Sub if a == b && arithmetic(a) => a,
                BinOp::Div if b == Sem::DurationNs && a == Sem::Bytes => Sem::BytesPerNs,
                BinOp::Div if b == Sem::DurationNs => Sem::PerNs,
                _ => Sem::None,
            }
        }
    }
}
