//! Expressions over a whole record batch at a time, with Arrow's compute
//! kernels. Literals stay scalars (never expanded to a column unless a
//! kernel needs one); string functions on dictionary columns run once per
//! distinct value, not once per row.

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, DictionaryArray, Float64Array, Int64Array, StringArray,
    StringBuilder, new_null_array,
};
use arrow::compute::kernels::{cmp, numeric};
use arrow::compute::{and_kleene, cast, not, or_kleene};
use arrow::datatypes::{DataType, Float64Type, Int32Type, Int64Type, TimeUnit};
use arrow::record_batch::RecordBatch;
use loupe_topology::plan::{BinOp, DType, Expr, Func, Scalar as Lit};

use super::ExecError;
use super::funcs;

/// An evaluated expression: a column, or one value for every row.
#[derive(Clone, Debug)]
pub enum Value {
    Array(ArrayRef),
    Scalar(ArrayRef),
}

impl Value {
    fn array(&self) -> &ArrayRef {
        match self {
            Value::Array(a) | Value::Scalar(a) => a,
        }
    }

    fn data_type(&self) -> &DataType {
        self.array().data_type()
    }

    /// A column of `len` rows.
    pub fn into_array(self, len: usize) -> Result<ArrayRef, ExecError> {
        match self {
            Value::Array(a) => Ok(a),
            Value::Scalar(s) => {
                if s.is_null(0) {
                    return Ok(new_null_array(s.data_type(), len));
                }
                let idx = arrow::array::UInt32Array::from(vec![0u32; len]);
                Ok(arrow::compute::take(&s, &idx, None)?)
            }
        }
    }

    fn map(
        &self,
        f: impl FnOnce(&ArrayRef) -> Result<ArrayRef, ExecError>,
    ) -> Result<Value, ExecError> {
        Ok(match self {
            Value::Array(a) => Value::Array(f(a)?),
            Value::Scalar(s) => Value::Scalar(f(s)?),
        })
    }
}

/// A Datum wrapper so scalars are broadcast by the kernels.
struct D<'a>(&'a Value);

impl arrow::array::Datum for D<'_> {
    fn get(&self) -> (&dyn Array, bool) {
        match self.0 {
            Value::Array(a) => (a.as_ref(), false),
            Value::Scalar(s) => (s.as_ref(), true),
        }
    }
}

pub fn literal(l: &Lit) -> ArrayRef {
    match l {
        Lit::Boolean(b) => Arc::new(BooleanArray::from(vec![*b])),
        Lit::Int64(i) => Arc::new(Int64Array::from(vec![*i])),
        Lit::Float64(f) => Arc::new(Float64Array::from(vec![*f])),
        Lit::String(s) => Arc::new(StringArray::from(vec![s.as_str()])),
        Lit::Time(t) => Arc::new(arrow::array::TimestampNanosecondArray::from(vec![*t])),
        Lit::Null(t) => new_null_array(&t.arrow(), 1),
    }
}

/// Evaluates `e` over `batch`.
pub fn eval(e: &Expr, batch: &RecordBatch) -> Result<Value, ExecError> {
    Ok(match e {
        Expr::Col(c) => Value::Array(
            batch
                .column_by_name(c)
                .ok_or_else(|| ExecError::Plan(format!("column {c:?} missing from batch")))?
                .clone(),
        ),
        Expr::Lit(l) => Value::Scalar(literal(l)),
        Expr::Binary(op, l, r) => binary(*op, eval(l, batch)?, eval(r, batch)?)?,
        Expr::Not(x) => eval(x, batch)?.map(|a| Ok(Arc::new(not(a.as_boolean())?)))?,
        Expr::Neg(x) => eval(x, batch)?.map(|a| Ok(numeric::neg(a)?))?,
        Expr::Call(f, args) => {
            let vals = args
                .iter()
                .map(|a| eval(a, batch))
                .collect::<Result<Vec<_>, _>>()?;
            call(*f, vals, batch.num_rows())?
        }
    })
}

/// Strings as plain Utf8 (dictionaries decoded); other types unchanged.
pub fn plain(a: &ArrayRef) -> Result<ArrayRef, ExecError> {
    match a.data_type() {
        DataType::Dictionary(_, v) => Ok(cast(a, v)?),
        _ => Ok(a.clone()),
    }
}

fn as_i64(v: &Value) -> Result<Value, ExecError> {
    v.map(|a| match a.data_type() {
        DataType::Int64 => Ok(a.clone()),
        DataType::Timestamp(_, _) => Ok(a
            .to_data()
            .into_builder()
            .data_type(DataType::Int64)
            .build()
            .map(arrow::array::make_array)?),
        _ => Ok(cast(a, &DataType::Int64)?),
    })
}

fn as_f64(v: &Value) -> Result<Value, ExecError> {
    v.map(|a| match a.data_type() {
        DataType::Float64 => Ok(a.clone()),
        DataType::Boolean => Ok(cast(&cast(a, &DataType::Int64)?, &DataType::Float64)?),
        _ => Ok(cast(a, &DataType::Float64)?),
    })
}

fn to_time(a: ArrayRef) -> Result<ArrayRef, ExecError> {
    Ok(arrow::array::make_array(
        a.to_data()
            .into_builder()
            .data_type(DataType::Timestamp(TimeUnit::Nanosecond, None))
            .build()?,
    ))
}

fn is_time(v: &Value) -> bool {
    matches!(v.data_type(), DataType::Timestamp(_, _))
}

fn is_float(v: &Value) -> bool {
    matches!(v.data_type(), DataType::Float64)
}

fn is_string(v: &Value) -> bool {
    DType::of_arrow(v.data_type()) == Some(DType::String)
}

pub fn binary(op: BinOp, l: Value, r: Value) -> Result<Value, ExecError> {
    let both_scalar = matches!((&l, &r), (Value::Scalar(_), Value::Scalar(_)));
    let wrap = |a: ArrayRef| {
        if both_scalar {
            Value::Scalar(a)
        } else {
            Value::Array(a)
        }
    };
    match op {
        BinOp::And | BinOp::Or => {
            let len = l.array().len().max(r.array().len());
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
                    (Value::Array(_), Value::Array(_)) => (l.map(plain)?, r.map(plain)?),
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
            let len = l.array().len().max(r.array().len());
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

/// Python's `%` (the sign of the divisor); x % 0 is null, not an error.
fn modulo(a: &Value, b: &Value) -> Result<ArrayRef, ExecError> {
    let len = a.array().len().max(b.array().len());
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

pub(super) fn scalar_str(v: &Value) -> Option<String> {
    match v {
        Value::Scalar(s) => {
            let p = plain(s).ok()?;
            let s = p.as_string_opt::<i32>()?;
            (!s.is_null(0)).then(|| s.value(0).to_string())
        }
        Value::Array(_) => None,
    }
}

fn scalar_i64(v: &Value) -> Option<i64> {
    match v {
        Value::Scalar(s) => {
            let s = cast(s, &DataType::Int64).ok()?;
            let s = s.as_primitive::<Int64Type>();
            (!s.is_null(0)).then(|| s.value(0))
        }
        Value::Array(_) => None,
    }
}

/// Applies a string -> T function once per distinct value of a dictionary
/// column (then gathers by key), or once per row of a plain one.
pub(super) fn per_string(
    v: &Value,
    f: &mut dyn FnMut(&StringArray) -> Result<ArrayRef, ExecError>,
) -> Result<Value, ExecError> {
    v.map(|a| match a.data_type() {
        DataType::Dictionary(k, _) if **k == DataType::Int32 => {
            let d = a.as_dictionary::<Int32Type>();
            let values = plain(d.values())?;
            let mapped = f(values.as_string::<i32>())?;
            if mapped.data_type() == &DataType::Utf8 {
                Ok(Arc::new(DictionaryArray::<Int32Type>::try_new(
                    d.keys().clone(),
                    mapped,
                )?))
            } else {
                Ok(arrow::compute::take(&mapped, d.keys(), None)?)
            }
        }
        _ => {
            let p = plain(a)?;
            f(p.as_string::<i32>())
        }
    })
}

pub(super) fn strings_by(s: &StringArray, mut f: impl FnMut(&str, &mut String)) -> ArrayRef {
    let mut b = StringBuilder::with_capacity(s.len(), s.value_data().len());
    let mut buf = String::new();
    for v in s.iter() {
        match v {
            Some(v) => {
                buf.clear();
                f(v, &mut buf);
                b.append_value(&buf);
            }
            None => b.append_null(),
        }
    }
    Arc::new(b.finish())
}

fn call(f: Func, mut args: Vec<Value>, len: usize) -> Result<Value, ExecError> {
    if let Func::Meta(m) = f {
        return super::meta::call(m, args, len);
    }
    let arg = |i: usize| -> Result<&Value, ExecError> {
        args.get(i)
            .ok_or_else(|| ExecError::Plan(format!("{} is missing argument {}", f.name(), i + 1)))
    };
    match f {
        Func::Contains | Func::StartsWith | Func::EndsWith => {
            let needle = arg(1)?;
            let hay = arg(0)?;
            if let Some(n) = scalar_str(needle) {
                let n = Value::Scalar(literal(&Lit::String(n)));
                return per_string(hay, &mut |s| {
                    let s: ArrayRef = Arc::new(s.clone());
                    let (a, b) = (D(&Value::Array(s)), D(&n));
                    Ok(Arc::new(match f {
                        Func::Contains => arrow::compute::kernels::comparison::contains(&a, &b)?,
                        Func::StartsWith => {
                            arrow::compute::kernels::comparison::starts_with(&a, &b)?
                        }
                        _ => arrow::compute::kernels::comparison::ends_with(&a, &b)?,
                    }))
                });
            }
            let (h, n) = (
                plain(&hay.clone().into_array(len)?)?,
                plain(&needle.clone().into_array(len)?)?,
            );
            let (a, b) = (Value::Array(h), Value::Array(n));
            let (a, b) = (D(&a), D(&b));
            Ok(Value::Array(Arc::new(match f {
                Func::Contains => arrow::compute::kernels::comparison::contains(&a, &b)?,
                Func::StartsWith => arrow::compute::kernels::comparison::starts_with(&a, &b)?,
                _ => arrow::compute::kernels::comparison::ends_with(&a, &b)?,
            })))
        }
        Func::Lower => per_string(arg(0)?, &mut |s| {
            Ok(strings_by(s, |v, o| o.push_str(&v.to_lowercase())))
        }),
        Func::Upper => per_string(arg(0)?, &mut |s| {
            Ok(strings_by(s, |v, o| o.push_str(&v.to_uppercase())))
        }),
        Func::NormalizeSql => per_string(arg(0)?, &mut |s| {
            Ok(strings_by(
                s,
                loupe_protocol_parsers::normalize::normalize_sql,
            ))
        }),
        Func::NormalizePath => per_string(arg(0)?, &mut |s| {
            Ok(strings_by(
                s,
                loupe_protocol_parsers::normalize::normalize_path,
            ))
        }),
        Func::Length => per_string(arg(0)?, &mut |s| {
            Ok(Arc::new(
                s.iter()
                    .map(|v| v.map(|v| v.chars().count() as i64))
                    .collect::<Int64Array>(),
            ))
        }),
        Func::Substring => {
            let (Some(start), Some(n)) = (scalar_i64(arg(1)?), scalar_i64(arg(2)?)) else {
                return Err(ExecError::Plan(
                    "px.substring takes constant start and length".into(),
                ));
            };
            let (start, n) = (start.max(0) as usize, n.max(0) as usize);
            per_string(arg(0)?, &mut |s| {
                Ok(strings_by(s, |v, o| {
                    o.extend(v.chars().skip(start).take(n))
                }))
            })
        }
        Func::Replace => {
            let Some(pattern) = scalar_str(arg(0)?) else {
                return Err(ExecError::Plan(
                    "px.replace takes a constant pattern".into(),
                ));
            };
            let Some(repl) = scalar_str(arg(2)?) else {
                return Err(ExecError::Plan(
                    "px.replace takes a constant replacement".into(),
                ));
            };
            let re = regex::Regex::new(&pattern).map_err(|e| {
                ExecError::Plan(format!("px.replace: bad pattern {pattern:?}: {e}"))
            })?;
            per_string(arg(1)?, &mut |s| {
                Ok(strings_by(s, |v, o| {
                    o.push_str(&re.replace_all(v, repl.as_str()))
                }))
            })
        }
        Func::Select => {
            let b = args
                .pop()
                .ok_or_else(|| ExecError::Plan("px.select".into()))?;
            let a = args
                .pop()
                .ok_or_else(|| ExecError::Plan("px.select".into()))?;
            let c = args
                .pop()
                .ok_or_else(|| ExecError::Plan("px.select".into()))?;
            let (a, b) = if is_float(&a) != is_float(&b) {
                (as_f64(&a)?, as_f64(&b)?)
            } else if is_string(&a) {
                (a.map(plain)?, b.map(plain)?)
            } else {
                (a, b)
            };
            let mask = c.into_array(len)?;
            Ok(Value::Array(arrow::compute::kernels::zip::zip(
                mask.as_boolean(),
                &D(&a),
                &D(&b),
            )?))
        }
        Func::ToInt64 => {
            let v = arg(0)?;
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
            v.map(|a| Ok(cast(&plain(a)?, &DataType::Int64)?))
        }
        Func::ToFloat64 => arg(0)?.map(|a| Ok(cast(&plain(a)?, &DataType::Float64)?)),
        Func::ToString => arg(0)?.map(|a| Ok(cast(&plain(a)?, &DataType::Utf8)?)),
        Func::Abs => {
            let v = arg(0)?;
            v.map(|a| {
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
        Func::Round | Func::Floor | Func::Ceil => {
            let v = arg(0)?;
            v.map(|a| {
                if a.data_type() != &DataType::Float64 {
                    return Ok(a.clone());
                }
                let g: fn(f64) -> f64 = match f {
                    Func::Round => f64::round,
                    Func::Floor => f64::floor,
                    _ => f64::ceil,
                };
                Ok(Arc::new(
                    a.as_primitive::<Float64Type>().unary::<_, Float64Type>(g),
                ))
            })
        }
        Func::Bin => {
            let v = arg(0)?;
            let Some(size) = scalar_i64(arg(1)?).filter(|s| *s > 0) else {
                return Err(ExecError::Plan(
                    "px.bin takes a constant positive size".into(),
                ));
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
        Func::FormatDuration => arg(0)?.map(|a| {
            let a = a.as_primitive::<Int64Type>();
            let mut b = StringBuilder::new();
            let mut buf = String::new();
            for v in a.iter() {
                match v {
                    Some(ns) => {
                        buf.clear();
                        funcs::format_duration(ns, &mut buf);
                        b.append_value(&buf);
                    }
                    None => b.append_null(),
                }
            }
            Ok(Arc::new(b.finish()))
        }),
        Func::Pluck | Func::PluckInt64 | Func::PluckFloat64 => {
            let Some(key) = scalar_str(arg(1)?) else {
                return Err(ExecError::Plan(format!(
                    "{} takes a constant key",
                    f.name()
                )));
            };
            per_string(arg(0)?, &mut |s| Ok(funcs::pluck(s, &key, f)))
        }
        _ => Err(ExecError::Plan(format!(
            "{} is not supported here",
            f.name()
        ))),
    }
}
