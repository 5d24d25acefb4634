//! What a function is evaluated over: a whole column, or one value for
//! every row (literals stay scalars; a kernel broadcasts them). The helpers
//! here are shared by the library's entries and the executor.

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, DictionaryArray, Float64Array, Int64Array, StringArray,
    StringBuilder, TimestampNanosecondArray, new_null_array,
};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Float64Type, Int32Type, Int64Type, TimeUnit};
use arrow::error::ArrowError;

use crate::plan::{DType, Scalar};

/// Why a function could not be evaluated over a batch.
#[derive(Debug, Clone, PartialEq)]
pub struct FuncError(pub String);

impl std::fmt::Display for FuncError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for FuncError {}

impl From<ArrowError> for FuncError {
    fn from(e: ArrowError) -> Self {
        FuncError(e.to_string())
    }
}

impl From<String> for FuncError {
    fn from(s: String) -> Self {
        FuncError(s)
    }
}

impl From<&str> for FuncError {
    fn from(s: &str) -> Self {
        FuncError(s.to_string())
    }
}

pub type FResult = Result<Datum, FuncError>;

/// An evaluated expression: a column, or one value (an array of length 1)
/// for every row.
#[derive(Clone, Debug)]
pub enum Datum {
    Array(ArrayRef),
    Scalar(ArrayRef),
}

impl Datum {
    pub fn array(&self) -> &ArrayRef {
        match self {
            Datum::Array(a) | Datum::Scalar(a) => a,
        }
    }

    pub fn data_type(&self) -> &DataType {
        self.array().data_type()
    }

    pub fn is_scalar(&self) -> bool {
        matches!(self, Datum::Scalar(_))
    }

    /// Rows of the array (1 for a scalar).
    pub fn len(&self) -> usize {
        self.array().len()
    }

    pub fn is_empty(&self) -> bool {
        self.array().is_empty()
    }

    /// A column of `len` rows.
    pub fn into_array(self, len: usize) -> Result<ArrayRef, FuncError> {
        match self {
            Datum::Array(a) => Ok(a),
            Datum::Scalar(s) => {
                if s.is_null(0) {
                    return Ok(new_null_array(s.data_type(), len));
                }
                let idx = arrow::array::UInt32Array::from(vec![0u32; len]);
                Ok(arrow::compute::take(&s, &idx, None)?)
            }
        }
    }

    /// `f` applied to the array, keeping scalar-ness.
    pub fn map(
        &self,
        f: impl FnOnce(&ArrayRef) -> Result<ArrayRef, FuncError>,
    ) -> Result<Datum, FuncError> {
        Ok(match self {
            Datum::Array(a) => Datum::Array(f(a)?),
            Datum::Scalar(s) => Datum::Scalar(f(s)?),
        })
    }

    /// The value of a scalar as a literal (`None` for a column).
    pub fn to_scalar(&self) -> Option<Scalar> {
        let Datum::Scalar(a) = self else { return None };
        scalar_of(a, 0)
    }
}

/// Row `i` of `a` as a literal.
pub fn scalar_of(a: &ArrayRef, i: usize) -> Option<Scalar> {
    let t = DType::of_arrow(a.data_type())?;
    if a.is_null(i) {
        return Some(Scalar::Null(t));
    }
    Some(match t {
        DType::Boolean => Scalar::Boolean(a.as_boolean().value(i)),
        DType::Int64 => Scalar::Int64(
            cast(a, &DataType::Int64)
                .ok()?
                .as_primitive::<Int64Type>()
                .value(i),
        ),
        DType::Float64 => Scalar::Float64(
            cast(a, &DataType::Float64)
                .ok()?
                .as_primitive::<Float64Type>()
                .value(i),
        ),
        DType::String => Scalar::String(plain(a).ok()?.as_string::<i32>().value(i).to_string()),
        DType::Time => Scalar::Time(
            as_i64(&Datum::Array(a.clone()))
                .ok()?
                .array()
                .as_primitive::<Int64Type>()
                .value(i),
        ),
        DType::Binary => return None,
    })
}

/// A Datum wrapper so scalars are broadcast by Arrow's kernels.
pub struct D<'a>(pub &'a Datum);

impl arrow::array::Datum for D<'_> {
    fn get(&self) -> (&dyn Array, bool) {
        match self.0 {
            Datum::Array(a) => (a.as_ref(), false),
            Datum::Scalar(s) => (s.as_ref(), true),
        }
    }
}

/// A literal as a one-row array.
pub fn literal(l: &Scalar) -> ArrayRef {
    match l {
        Scalar::Boolean(b) => Arc::new(BooleanArray::from(vec![*b])),
        Scalar::Int64(i) => Arc::new(Int64Array::from(vec![*i])),
        Scalar::Float64(f) => Arc::new(Float64Array::from(vec![*f])),
        Scalar::String(s) => Arc::new(StringArray::from(vec![s.as_str()])),
        Scalar::Time(t) => Arc::new(TimestampNanosecondArray::from(vec![*t])),
        Scalar::Null(t) => new_null_array(&t.arrow(), 1),
    }
}

/// Strings as plain Utf8 (dictionaries decoded); other types unchanged.
pub fn plain(a: &ArrayRef) -> Result<ArrayRef, FuncError> {
    match a.data_type() {
        DataType::Dictionary(_, v) => Ok(cast(a, v)?),
        _ => Ok(a.clone()),
    }
}

/// Integers (times as their ns).
pub fn as_i64(v: &Datum) -> Result<Datum, FuncError> {
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

/// Floats (booleans as 0 and 1).
pub fn as_f64(v: &Datum) -> Result<Datum, FuncError> {
    v.map(|a| match a.data_type() {
        DataType::Float64 => Ok(a.clone()),
        DataType::Boolean => Ok(cast(&cast(a, &DataType::Int64)?, &DataType::Float64)?),
        DataType::Timestamp(_, _) => Ok(cast(
            as_i64(&Datum::Array(a.clone()))?.array(),
            &DataType::Float64,
        )?),
        _ => Ok(cast(&plain(a)?, &DataType::Float64)?),
    })
}

/// ns as times.
pub fn to_time(a: ArrayRef) -> Result<ArrayRef, FuncError> {
    Ok(arrow::array::make_array(
        a.to_data()
            .into_builder()
            .data_type(DataType::Timestamp(TimeUnit::Nanosecond, None))
            .build()?,
    ))
}

pub fn is_time(v: &Datum) -> bool {
    matches!(v.data_type(), DataType::Timestamp(_, _))
}

pub fn is_float(v: &Datum) -> bool {
    matches!(v.data_type(), DataType::Float64)
}

pub fn is_string(v: &Datum) -> bool {
    DType::of_arrow(v.data_type()) == Some(DType::String)
}

/// The string of a non-null scalar.
pub fn scalar_str(v: &Datum) -> Option<String> {
    match v {
        Datum::Scalar(s) => {
            let p = plain(s).ok()?;
            let s = p.as_string_opt::<i32>()?;
            (!s.is_null(0)).then(|| s.value(0).to_string())
        }
        Datum::Array(_) => None,
    }
}

/// The integer of a non-null scalar.
pub fn scalar_i64(v: &Datum) -> Option<i64> {
    match v {
        Datum::Scalar(_) => {
            let s = as_i64(v).ok()?;
            let s = s.array().as_primitive::<Int64Type>();
            (!s.is_null(0)).then(|| s.value(0))
        }
        Datum::Array(_) => None,
    }
}

/// Applies a string -> T function once per distinct value of a dictionary
/// column (then gathers by key), or once per row of a plain one.
pub fn per_string(
    v: &Datum,
    f: &mut dyn FnMut(&StringArray) -> Result<ArrayRef, FuncError>,
) -> Result<Datum, FuncError> {
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

/// A string column from one function of each string (nulls stay null).
pub fn strings_by(s: &StringArray, mut f: impl FnMut(&str, &mut String)) -> ArrayRef {
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

/// Every argument as a plain column of `len` rows (for functions of
/// several columns evaluated row by row).
pub fn columns(args: &[Datum], len: usize) -> Result<Vec<ArrayRef>, FuncError> {
    args.iter()
        .map(|a| plain(&a.clone().into_array(len)?))
        .collect()
}

/// The result is a scalar when every argument was one.
pub fn all_scalar(args: &[Datum]) -> bool {
    args.iter().all(Datum::is_scalar)
}

/// Wraps `a` as a scalar when every argument was one, else as a column.
pub fn shaped(args: &[Datum], a: ArrayRef) -> Datum {
    if all_scalar(args) {
        Datum::Scalar(a)
    } else {
        Datum::Array(a)
    }
}

/// A result computed row by row over `args` broadcast to their length:
/// one value when every argument was a constant.
pub fn finish(args: &[Datum], out: ArrayRef) -> Datum {
    if all_scalar(args) {
        Datum::Scalar(out.slice(0, 1))
    } else {
        Datum::Array(out)
    }
}
