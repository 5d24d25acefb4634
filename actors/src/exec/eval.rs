//! Expressions over a whole record batch at a time, with Arrow's compute
//! kernels. Literals stay scalars (never expanded to a column unless a
//! kernel needs one); string functions on dictionary columns run once per
//! distinct value, not once per row. Operators and functions are the
//! library's ([`loupe_topology::funcs`]): the compiler folds constants
//! with the same code.

use arrow::record_batch::RecordBatch;
use loupe_topology::funcs::datum;
pub use loupe_topology::funcs::datum::{Datum as Value, literal as literal_array, strings_by};
use loupe_topology::funcs::ops;
use loupe_topology::plan::{Expr, Func, Scalar as Lit};

use super::ExecError;

impl From<loupe_topology::funcs::FuncError> for ExecError {
    fn from(e: loupe_topology::funcs::FuncError) -> Self {
        ExecError::Plan(e.0)
    }
}

/// Strings as plain Utf8 (dictionaries decoded); other types unchanged.
pub fn plain(a: &arrow::array::ArrayRef) -> Result<arrow::array::ArrayRef, ExecError> {
    Ok(datum::plain(a)?)
}

/// [`datum::per_string`], for the executor's own functions.
pub fn per_string(
    v: &Value,
    f: &mut dyn FnMut(&arrow::array::StringArray) -> Result<arrow::array::ArrayRef, ExecError>,
) -> Result<Value, ExecError> {
    let mut failed = None;
    let out = datum::per_string(v, &mut |s| {
        f(s).map_err(|e| {
            let m = loupe_topology::funcs::FuncError(e.to_string());
            failed = Some(e);
            m
        })
    });
    match (out, failed) {
        (Ok(v), _) => Ok(v),
        (Err(_), Some(e)) => Err(e),
        (Err(e), None) => Err(e.into()),
    }
}

pub fn literal(l: &Lit) -> arrow::array::ArrayRef {
    literal_array(l)
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
        Expr::Binary(op, l, r) => ops::binary(*op, eval(l, batch)?, eval(r, batch)?)?,
        Expr::Not(x) => ops::negate_bool(&eval(x, batch)?)?,
        Expr::Neg(x) => ops::negate_num(&eval(x, batch)?)?,
        Expr::Call(f, args) => {
            let vals = args
                .iter()
                .map(|a| eval(a, batch))
                .collect::<Result<Vec<_>, _>>()?;
            call(*f, vals, batch.num_rows())?
        }
    })
}

fn call(f: Func, args: Vec<Value>, len: usize) -> Result<Value, ExecError> {
    match f {
        Func::Meta(m) => super::meta::call(m, args, len),
        Func::Lib(l) => {
            (l.def().eval)(&args, len).map_err(|e| ExecError::Plan(format!("px.{}: {e}", l.name())))
        }
    }
}
