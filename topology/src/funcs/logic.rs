//! Comparisons and logic in function form (`px.equal`, `px.logicalAnd`,
//! ...) and `px.select`.

use std::sync::Arc;

use arrow::array::{AsArray, BooleanArray};
use arrow::datatypes::Float64Type;

use super::datum::*;
use super::ops::binary;
use super::{FuncDef, SemRule, Sig, sig};
use crate::plan::BinOp;
use crate::plan::DType::{Boolean as B, Float64 as F, Int64 as I, String as S, Time as T};

const fn f(
    name: &'static str,
    sigs: &'static [Sig],
    sem: SemRule,
    eval: super::EvalFn,
    doc: &'static str,
) -> FuncDef {
    FuncDef::new(name, sigs, eval, doc).sem(sem)
}

const EQ: &[Sig] = &[
    sig(&[I, I], B),
    sig(&[F, F], B),
    sig(&[I, F], B),
    sig(&[F, I], B),
    sig(&[S, S], B),
    sig(&[T, T], B),
    sig(&[T, I], B),
    sig(&[B, B], B),
];
const ORD: &[Sig] = &[
    sig(&[I, I], B),
    sig(&[F, F], B),
    sig(&[I, F], B),
    sig(&[F, I], B),
    sig(&[S, S], B),
    sig(&[T, T], B),
    sig(&[T, I], B),
];

pub const FUNCS: &[FuncDef] = &[
    f("equal", EQ, SemRule::None, equal, "a == b.").ex(&[
        ("1, 1", "True"),
        ("'a', 'b'", "False"),
        ("1, 1.0", "True"),
    ]),
    f("notEqual", EQ, SemRule::None, not_equal, "a != b.").ex(&[("1, 2", "True")]),
    f("lessThan", ORD, SemRule::None, less, "a < b.")
        .ex(&[("1, 2", "True"), ("'b', 'a'", "False")]),
    f("lessThanEqual", ORD, SemRule::None, less_eq, "a <= b.").ex(&[("2, 2", "True")]),
    f("greaterThan", ORD, SemRule::None, greater, "a > b.").ex(&[("3, 2", "True")]),
    f(
        "greaterThanEqual",
        ORD,
        SemRule::None,
        greater_eq,
        "a >= b.",
    )
    .ex(&[("1, 2", "False")]),
    f(
        "approxEqual",
        &[sig(&[F, F], B)],
        SemRule::None,
        approx_equal,
        "|a - b| < 1e-6.",
    )
    .ex(&[("0.1, 0.1000000001", "True"), ("0.1, 0.2", "False")]),
    f(
        "logicalAnd",
        &[sig(&[B, B], B)],
        SemRule::None,
        and,
        "a and b.",
    )
    .ex(&[("True, False", "False")]),
    f(
        "logicalOr",
        &[sig(&[B, B], B)],
        SemRule::None,
        or,
        "a or b.",
    )
    .ex(&[("True, False", "True")]),
    f("logicalNot", &[sig(&[B], B)], SemRule::None, not, "not a.").ex(&[("True", "False")]),
    f(
        "invert",
        &[sig(&[B], B)],
        SemRule::None,
        not,
        "not a (`~a`).",
    )
    .ex(&[("False", "True")]),
    f(
        "select",
        &[
            sig(&[B, I, I], I),
            sig(&[B, F, F], F),
            sig(&[B, I, F], F),
            sig(&[B, F, I], F),
            sig(&[B, S, S], S),
            sig(&[B, B, B], B),
            sig(&[B, T, T], T),
        ],
        SemRule::None,
        select,
        "(cond, a, b): a where cond holds, else b.",
    )
    .ex(&[
        ("True, 1, 2", "1"),
        ("False, 'a', 'b'", "'b'"),
        ("False, 1, 2.5", "2.5"),
    ]),
];

fn cmp(op: BinOp, args: &[Datum]) -> FResult {
    match args {
        [a, b] => binary(op, a.clone(), b.clone()),
        _ => Err("takes two arguments".into()),
    }
}

fn equal(args: &[Datum], _: usize) -> FResult {
    cmp(BinOp::Eq, args)
}

fn not_equal(args: &[Datum], _: usize) -> FResult {
    cmp(BinOp::Ne, args)
}

fn less(args: &[Datum], _: usize) -> FResult {
    cmp(BinOp::Lt, args)
}

fn less_eq(args: &[Datum], _: usize) -> FResult {
    cmp(BinOp::Le, args)
}

fn greater(args: &[Datum], _: usize) -> FResult {
    cmp(BinOp::Gt, args)
}

fn greater_eq(args: &[Datum], _: usize) -> FResult {
    cmp(BinOp::Ge, args)
}

fn and(args: &[Datum], _: usize) -> FResult {
    cmp(BinOp::And, args)
}

fn or(args: &[Datum], _: usize) -> FResult {
    cmp(BinOp::Or, args)
}

fn not(args: &[Datum], _: usize) -> FResult {
    super::ops::negate_bool(args.first().ok_or("takes one argument")?)
}

fn approx_equal(args: &[Datum], len: usize) -> FResult {
    let [a, b] = args else {
        return Err("takes two arguments".into());
    };
    let (x, y) = (as_f64(a)?.into_array(len)?, as_f64(b)?.into_array(len)?);
    let out: BooleanArray = x
        .as_primitive::<Float64Type>()
        .iter()
        .zip(y.as_primitive::<Float64Type>().iter())
        .map(|(p, q)| Some((p? - q?).abs() < 1e-6))
        .collect();
    Ok(finish(args, Arc::new(out)))
}

fn select(args: &[Datum], len: usize) -> FResult {
    let [c, a, b] = args else {
        return Err("px.select takes three arguments".into());
    };
    let (a, b) = if is_float(a) != is_float(b) {
        (as_f64(a)?, as_f64(b)?)
    } else if is_string(a) {
        (a.map(plain)?, b.map(plain)?)
    } else {
        (a.clone(), b.clone())
    };
    let n = if all_scalar(args) { 1 } else { len };
    let mask = c.clone().into_array(n)?;
    let out = arrow::compute::kernels::zip::zip(mask.as_boolean(), &D(&a), &D(&b))?;
    Ok(shaped(args, out))
}
