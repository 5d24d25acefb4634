//! Arithmetic, in function form too (`px.add`, `px.divide`, ...), and the
//! mathematics of numbers.

use std::sync::Arc;

use arrow::array::{AsArray, Float64Array};
use arrow::datatypes::{DataType, Float64Type, Int64Type};

use super::datum::*;
use super::ops::binary;
use super::{Const, FuncDef, SemRule, Sig, sig};
use crate::plan::BinOp;
use crate::plan::DType::{Float64 as F, Int64 as I, String as S, Time as T};

const fn f(
    name: &'static str,
    sigs: &'static [Sig],
    sem: SemRule,
    consts: &'static [(usize, Const)],
    eval: super::EvalFn,
    doc: &'static str,
) -> FuncDef {
    FuncDef::new(name, sigs, eval, doc).sem(sem).consts(consts)
}

const NUM1: &[Sig] = &[sig(&[I], I), sig(&[F], F)];
const FLOAT1: &[Sig] = &[sig(&[F], F)];
const ARITH: &[Sig] = &[
    sig(&[I, I], I),
    sig(&[I, F], F),
    sig(&[F, I], F),
    sig(&[F, F], F),
];

pub const FUNCS: &[FuncDef] = &[
    f("_as_percent", &[sig(&[F], F)], SemRule::Is(crate::plan::Sem::Percent), &[], identity, "px.Percent(x): x, a ratio shown as a percentage.")
    .ex(&[("0.25", "0.25")]),
    f("_as_bytes", &[sig(&[I], I)], SemRule::Is(crate::plan::Sem::Bytes), &[], identity, "px.Bytes(x): x, a count of bytes.")
    .ex(&[("1024", "1024")]),
    f("_as_duration", &[sig(&[I], I)], SemRule::Is(crate::plan::Sem::DurationNs), &[], identity, "px.DurationNanos(x): x, a duration in ns.")
    .ex(&[("1500", "1500")]),
    f("add", &[sig(&[I, I], I), sig(&[I, F], F), sig(&[F, I], F), sig(&[F, F], F), sig(&[T, I], T), sig(&[I, T], T), sig(&[S, S], S)], SemRule::OfFirst, &[], add, "a + b (strings concatenate; a time plus ns is a time).")
    .ex(&[("1, 2", "3"), ("1, 2.5", "3.5"), ("'a', 'b'", "'ab'")]),
    f("subtract", &[sig(&[I, I], I), sig(&[I, F], F), sig(&[F, I], F), sig(&[F, F], F), sig(&[T, I], T), sig(&[T, T], I)], SemRule::OfFirst, &[], subtract, "a - b (a time minus a time is ns).")
    .ex(&[("5, 7", "-2"), ("1.5, 1", "0.5")]),
    f("multiply", ARITH, SemRule::None, &[], multiply, "a * b.")
    .ex(&[("3, 4", "12"), ("1.5, 2", "3.0")]),
    f("divide", &[sig(&[I, I], F), sig(&[I, F], F), sig(&[F, I], F), sig(&[F, F], F)], SemRule::None, &[], divide, "a / b as FLOAT64 (x / 0 is inf or NaN, as IEEE 754).")
    .ex(&[("1, 4", "0.25"), ("3.0, 2", "1.5")]),
    f("modulo", &[sig(&[I, I], I), sig(&[F, F], F)], SemRule::None, &[], modulo, "a % b with the sign of b; null when b is 0.")
    .ex(&[("7, 3", "1"), ("-7, 3", "2"), ("7, 0", "None")]),
    f("negate", NUM1, SemRule::OfFirst, &[], negate, "-a.")
    .ex(&[("3", "-3"), ("-2.5", "2.5")]),
    f("abs", NUM1, SemRule::OfFirst, &[], abs, "|a|.")
    .ex(&[("-3", "3"), ("-2.5", "2.5")]),
    f("round", &[sig(&[F], F), sig(&[I], I), sig(&[F, I], S)], SemRule::OfFirst, &[(1, Const::Any)], round, "(a): the nearest integer, halves away from zero (Loupe's); (a, places): Pixie's, a formatted with that many decimal places (\"11.20\").")
    .ex(&[("2.5", "3.0"), ("-2.4", "-2.0"), ("7", "7"), ("11.2, 2", "'11.20'"), ("20.29438, 0", "'20'")]),
    f("floor", &[sig(&[F], I), sig(&[I], I)], SemRule::None, &[], floor, "The largest integer not above a, as INT64.")
    .ex(&[("2.7", "2"), ("-2.1", "-3"), ("4", "4")]),
    f("ceil", &[sig(&[F], I), sig(&[I], I)], SemRule::None, &[], ceil, "The smallest integer not below a, as INT64.")
    .ex(&[("2.1", "3"), ("-2.7", "-2"), ("4", "4")]),
    f("sqrt", FLOAT1, SemRule::None, &[], sqrt, "The square root (NaN below 0).")
    .ex(&[("16.0", "4.0")]),
    f("exp", FLOAT1, SemRule::None, &[], exp, "e to the a.")
    .ex(&[("0.0", "1.0")]),
    f("ln", FLOAT1, SemRule::None, &[], ln, "The natural logarithm.")
    .ex(&[("1.0", "0.0")]),
    f("log2", FLOAT1, SemRule::None, &[], log2, "The base-2 logarithm.")
    .ex(&[("8.0", "3.0")]),
    f("log10", FLOAT1, SemRule::None, &[], log10, "The base-10 logarithm.")
    .ex(&[("1000.0", "3.0")]),
    f("log", &[sig(&[F, F], F)], SemRule::None, &[], log, "(base, a): the logarithm of a in base.")
    .ex(&[("2.0, 8.0", "3.0")]),
    f("pow", &[sig(&[F, F], F)], SemRule::None, &[], pow, "(a, b): a to the b.")
    .ex(&[("2.0, 10", "1024.0")]),
    f("bin", &[sig(&[T, I], T), sig(&[I, I], I)], SemRule::OfFirst, &[(1, Const::Size)], bin, "(t, size): t rounded down to a multiple of size (time windows: px.bin(df.time_, px.seconds(10))).")
    .ex(&[("17, 5", "15"), ("-3, 5", "-5")]),
    f("int64", &[sig(&[I], I), sig(&[F], I), sig(&[crate::plan::DType::Boolean], I), sig(&[T], I), sig(&[S], I)], SemRule::None, &[], to_int64, "An INT64: floats truncated, times as ns, strings parsed (null when not a number).")
    .ex(&[("2.9", "2"), ("'42'", "42"), ("'x'", "None"), ("True", "1")]),
    f("string", &[sig(&[I], S), sig(&[F], S), sig(&[crate::plan::DType::Boolean], S), sig(&[T], S), sig(&[S], S)], SemRule::None, &[], to_string, "The value as text (a time as ns).")
    .ex(&[("42", "'42'"), ("True", "'true'")]),
    f("float64", &[sig(&[I], F), sig(&[F], F), sig(&[crate::plan::DType::Boolean], F), sig(&[S], F)], SemRule::None, &[], to_float64, "A FLOAT64: strings parsed (null when not a number).")
    .ex(&[("3", "3.0"), ("'2.5'", "2.5")]),
];

fn two(args: &[Datum]) -> Result<(Datum, Datum), FuncError> {
    match args {
        [a, b] => Ok((a.clone(), b.clone())),
        _ => Err("takes two arguments".into()),
    }
}

fn one(args: &[Datum]) -> Result<&Datum, FuncError> {
    args.first().ok_or_else(|| "takes one argument".into())
}

fn add(args: &[Datum], _: usize) -> FResult {
    let (a, b) = two(args)?;
    binary(BinOp::Add, a, b)
}

fn subtract(args: &[Datum], _: usize) -> FResult {
    let (a, b) = two(args)?;
    binary(BinOp::Sub, a, b)
}

fn multiply(args: &[Datum], _: usize) -> FResult {
    let (a, b) = two(args)?;
    binary(BinOp::Mul, a, b)
}

fn divide(args: &[Datum], _: usize) -> FResult {
    let (a, b) = two(args)?;
    binary(BinOp::Div, a, b)
}

fn modulo(args: &[Datum], _: usize) -> FResult {
    let (a, b) = two(args)?;
    binary(BinOp::Mod, a, b)
}

fn negate(args: &[Datum], _: usize) -> FResult {
    super::ops::negate_num(one(args)?)
}

fn abs(args: &[Datum], _: usize) -> FResult {
    one(args)?.map(|a| {
        Ok(if a.data_type() == &DataType::Float64 {
            Arc::new(
                a.as_primitive::<Float64Type>()
                    .unary::<_, Float64Type>(f64::abs),
            )
        } else {
            Arc::new(
                a.as_primitive::<Int64Type>()
                    .unary::<_, Int64Type>(i64::wrapping_abs),
            )
        })
    })
}

/// A float -> float function; INT64 arguments of NUM1 functions pass.
fn float_unary(args: &[Datum], g: fn(f64) -> f64) -> FResult {
    one(args)?.map(|a| {
        if a.data_type() != &DataType::Float64 {
            return Ok(a.clone());
        }
        Ok(Arc::new(
            a.as_primitive::<Float64Type>().unary::<_, Float64Type>(g),
        ))
    })
}

fn round(args: &[Datum], _: usize) -> FResult {
    let Some(places) = args.get(1) else {
        return float_unary(args, f64::round);
    };
    let places = scalar_i64(places).unwrap_or(6);
    let places = if places < 0 {
        6
    } else {
        places.min(30) as usize
    };
    let v = as_f64(one(args)?)?;
    v.map(|a| {
        let mut b = arrow::array::StringBuilder::new();
        for x in a.as_primitive::<Float64Type>().iter() {
            match x {
                Some(x) => b.append_value(format!("{x:.places$}")),
                None => b.append_null(),
            }
        }
        Ok(Arc::new(b.finish()))
    })
}

/// A float -> INT64 rounding (INT64 unchanged).
fn to_int(args: &[Datum], g: fn(f64) -> f64) -> FResult {
    one(args)?.map(|a| {
        if a.data_type() != &DataType::Float64 {
            return Ok(a.clone());
        }
        Ok(Arc::new(
            a.as_primitive::<Float64Type>()
                .unary::<_, Int64Type>(|x| g(x) as i64),
        ))
    })
}

fn floor(args: &[Datum], _: usize) -> FResult {
    to_int(args, f64::floor)
}

fn ceil(args: &[Datum], _: usize) -> FResult {
    to_int(args, f64::ceil)
}

fn sqrt(args: &[Datum], _: usize) -> FResult {
    float_unary(args, f64::sqrt)
}

fn exp(args: &[Datum], _: usize) -> FResult {
    float_unary(args, f64::exp)
}

fn ln(args: &[Datum], _: usize) -> FResult {
    float_unary(args, f64::ln)
}

fn log2(args: &[Datum], _: usize) -> FResult {
    float_unary(args, f64::log2)
}

fn log10(args: &[Datum], _: usize) -> FResult {
    float_unary(args, f64::log10)
}

fn float_binary(args: &[Datum], len: usize, g: fn(f64, f64) -> f64) -> FResult {
    let (a, b) = two(args)?;
    let (a, b) = (as_f64(&a)?, as_f64(&b)?);
    let (x, y) = (a.into_array(len)?, b.into_array(len)?);
    let out: Float64Array = x
        .as_primitive::<Float64Type>()
        .iter()
        .zip(y.as_primitive::<Float64Type>().iter())
        .map(|(p, q)| Some(g(p?, q?)))
        .collect();
    Ok(finish(args, Arc::new(out)))
}

fn log(args: &[Datum], len: usize) -> FResult {
    float_binary(args, len, |base, x| x.ln() / base.ln())
}

fn pow(args: &[Datum], len: usize) -> FResult {
    float_binary(args, len, f64::powf)
}

fn bin(args: &[Datum], _: usize) -> FResult {
    let v = one(args)?;
    let Some(size) = args.get(1).and_then(scalar_i64).filter(|s| *s > 0) else {
        return Err("px.bin takes a constant positive size".into());
    };
    let time = is_time(v);
    let ints = as_i64(v)?;
    let out = ints.map(|a| {
        Ok(Arc::new(
            a.as_primitive::<Int64Type>()
                .unary::<_, Int64Type>(|x| x - x.rem_euclid(size)),
        ))
    })?;
    if time {
        out.map(|a| to_time(a.clone()))
    } else {
        Ok(out)
    }
}

fn to_int64(args: &[Datum], _: usize) -> FResult {
    let v = one(args)?;
    if is_time(v) {
        return as_i64(v);
    }
    if is_float(v) {
        return v.map(|a| {
            Ok(Arc::new(
                a.as_primitive::<Float64Type>()
                    .unary::<_, Int64Type>(|x| x.trunc() as i64),
            ))
        });
    }
    if is_string(v) {
        return per_string(v, &mut |s| {
            Ok(Arc::new(
                s.iter()
                    .map(|x| x.and_then(|x| x.trim().parse::<i64>().ok()))
                    .collect::<arrow::array::Int64Array>(),
            ))
        });
    }
    v.map(|a| Ok(arrow::compute::cast(&plain(a)?, &DataType::Int64)?))
}

fn to_float64(args: &[Datum], _: usize) -> FResult {
    let v = one(args)?;
    if is_string(v) {
        return per_string(v, &mut |s| {
            Ok(Arc::new(
                s.iter()
                    .map(|x| x.and_then(|x| x.trim().parse::<f64>().ok()))
                    .collect::<Float64Array>(),
            ))
        });
    }
    as_f64(v)
}

fn to_string(args: &[Datum], _: usize) -> FResult {
    let v = one(args)?;
    let v = if is_time(v) { as_i64(v)? } else { v.clone() };
    v.map(|a| Ok(arrow::compute::cast(&plain(a)?, &DataType::Utf8)?))
}

/// A semantic type cast: the value itself.
fn identity(args: &[Datum], _: usize) -> FResult {
    Ok(one(args)?.clone())
}
