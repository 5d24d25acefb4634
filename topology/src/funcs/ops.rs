//! The operators (`+`, `==`, `&`, ...) over batches: the executor's, and the
//! function forms Pixie also has (`px.add`, `px.equal`, ...).

use std::sync::Arc;

use arrow::array::{ArrayRef, AsArray, Float64Array, Int64Array};
use arrow::compute::kernels::{cmp, numeric};
use arrow::compute::{and_kleene, not, or_kleene};
use arrow::datatypes::{DataType, Float64Type, Int64Type};

use super::datum::*;
use crate::plan::BinOp;

/// Rows of the batch two operands are of: a column's length (0 in an
/// empty batch), 1 when both are scalars.
fn rows_of(l: &Datum, r: &Datum) -> usize {
    match (l, r) {
        (Datum::Array(a), _) | (_, Datum::Array(a)) => a.len(),
        _ => 1,
    }
}

/// `l op r`, types as [`crate::plan::expr::binary_result`] checked them.
pub fn binary(op: BinOp, l: Datum, r: Datum) -> FResult {
    let both_scalar = l.is_scalar() && r.is_scalar();
    let wrap = |a: ArrayRef| {
        if both_scalar {
            Datum::Scalar(a)
        } else {
            Datum::Array(a)
        }
    };
    match op {
        BinOp::And | BinOp::Or => {
            let len = rows_of(&l, &r);
            let (la, ra) = (l.into_array(len)?, r.into_array(len)?);
            let f = if op == BinOp::And {
                and_kleene
            } else {
                or_kleene
            };
            Ok(wrap(Arc::new(f(la.as_boolean(), ra.as_boolean())?)))
        }
        op if op.is_comparison() => {
            let (l, r) = if is_string(&l) && is_string(&r) {
                // Dictionaries compare against a plain scalar directly; two
                // columns are compared as plain strings.
                match (&l, &r) {
                    (Datum::Array(_), Datum::Array(_)) => (l.map(plain)?, r.map(plain)?),
                    _ => (l, r),
                }
            } else if is_float(&l) || is_float(&r) {
                (as_f64(&l)?, as_f64(&r)?)
            } else if is_time(&l) || is_time(&r) {
                (as_i64(&l)?, as_i64(&r)?)
            } else {
                (l, r)
            };
            let (a, b) = (D(&l), D(&r));
            let out = match op {
                BinOp::Eq => cmp::eq(&a, &b)?,
                BinOp::Ne => cmp::neq(&a, &b)?,
                BinOp::Lt => cmp::lt(&a, &b)?,
                BinOp::Le => cmp::lt_eq(&a, &b)?,
                BinOp::Gt => cmp::gt(&a, &b)?,
                _ => cmp::gt_eq(&a, &b)?,
            };
            Ok(wrap(Arc::new(out)))
        }
        BinOp::Add if is_string(&l) && is_string(&r) => {
            let len = rows_of(&l, &r);
            let (la, ra) = (plain(&l.into_array(len)?)?, plain(&r.into_array(len)?)?);
            Ok(wrap(
                arrow::compute::kernels::concat_elements::concat_elements_dyn(&la, &ra)?,
            ))
        }
        BinOp::Div => {
            let (a, b) = (as_f64(&l)?, as_f64(&r)?);
            Ok(wrap(numeric::div(&D(&a), &D(&b))?))
        }
        _ => {
            let time_out = match op {
                BinOp::Add => is_time(&l) != is_time(&r),
                BinOp::Sub => is_time(&l) && !is_time(&r),
                _ => false,
            };
            let (a, b) = if is_float(&l) || is_float(&r) {
                (as_f64(&l)?, as_f64(&r)?)
            } else {
                (as_i64(&l)?, as_i64(&r)?)
            };
            let (da, db) = (D(&a), D(&b));
            let out = match op {
                BinOp::Add => numeric::add_wrapping(&da, &db)?,
                BinOp::Sub => numeric::sub_wrapping(&da, &db)?,
                BinOp::Mul => numeric::mul_wrapping(&da, &db)?,
                _ => modulo(&a, &b)?,
            };
            Ok(wrap(if time_out { to_time(out)? } else { out }))
        }
    }
}

/// `~x` of a boolean.
pub fn negate_bool(x: &Datum) -> FResult {
    x.map(|a| Ok(Arc::new(not(a.as_boolean())?)))
}

/// `-x` of a number.
pub fn negate_num(x: &Datum) -> FResult {
    x.map(|a| Ok(numeric::neg(a)?))
}

/// Python's `%` (the sign of the divisor); x % 0 is null, not an error.
fn modulo(a: &Datum, b: &Datum) -> Result<ArrayRef, FuncError> {
    let len = rows_of(a, b);
    let (x, y) = (a.clone().into_array(len)?, b.clone().into_array(len)?);
    if x.data_type() == &DataType::Float64 {
        let (x, y) = (
            x.as_primitive::<Float64Type>(),
            y.as_primitive::<Float64Type>(),
        );
        let out: Float64Array = x
            .iter()
            .zip(y.iter())
            .map(|(p, q)| match (p, q) {
                (Some(p), Some(q)) if q != 0.0 => Some(p - q * (p / q).floor()),
                _ => None,
            })
            .collect();
        return Ok(Arc::new(out));
    }
    let (x, y) = (x.as_primitive::<Int64Type>(), y.as_primitive::<Int64Type>());
    let out: Int64Array = x
        .iter()
        .zip(y.iter())
        .map(|(p, q)| match (p, q) {
            (Some(p), Some(q)) if q != 0 => {
                let r = p.wrapping_rem(q);
                Some(if r != 0 && ((r < 0) != (q < 0)) {
                    r + q
                } else {
                    r
                })
            }
            _ => None,
        })
        .collect();
    Ok(Arc::new(out))
}
