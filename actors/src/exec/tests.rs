use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, DictionaryArray, Int64Array, StringArray};
use arrow::datatypes::{DataType, Field, Int32Type, Int64Type, Schema};
use arrow::record_batch::RecordBatch;
use loupe_topology::plan::{BinOp, Expr, Func, Scalar};

use super::eval::{Value, eval};

fn batch() -> RecordBatch {
    let keys = arrow::array::Int32Array::from(vec![0, 1, 0, 1]);
    let vals = StringArray::from(vec!["/users/12/a", "/Cart"]);
    let dict: ArrayRef =
        Arc::new(DictionaryArray::<Int32Type>::try_new(keys, Arc::new(vals)).unwrap());
    RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            Field::new("x", DataType::Int64, false),
            Field::new("p", dict.data_type().clone(), false),
        ])),
        vec![Arc::new(Int64Array::from(vec![-7, 7, 0, 9])), dict],
    )
    .unwrap()
}

fn col(v: Value, n: usize) -> ArrayRef {
    v.into_array(n).unwrap()
}

#[test]
fn modulo_is_pythons_and_zero_divisors_give_null() {
    let b = batch();
    let e = Expr::Binary(
        BinOp::Mod,
        Box::new(Expr::col("x")),
        Box::new(Expr::Lit(Scalar::Int64(3))),
    );
    let out = col(eval(&e, &b).unwrap(), 4);
    let out = out.as_primitive::<Int64Type>();
    assert_eq!(out.values().to_vec(), vec![2, 1, 0, 0]);
    let by_zero = Expr::Binary(
        BinOp::Mod,
        Box::new(Expr::col("x")),
        Box::new(Expr::Lit(Scalar::Int64(0))),
    );
    assert_eq!(col(eval(&by_zero, &b).unwrap(), 4).null_count(), 4);
    // Division is float division, as in Python 3.
    let div = Expr::Binary(
        BinOp::Div,
        Box::new(Expr::col("x")),
        Box::new(Expr::Lit(Scalar::Int64(2))),
    );
    assert_eq!(
        col(eval(&div, &b).unwrap(), 4).data_type(),
        &DataType::Float64
    );
}

#[test]
fn string_functions_keep_dictionaries_and_read_every_row() {
    let b = batch();
    let lower = Expr::Call(Func::lib("tolower").unwrap(), vec![Expr::col("p")]);
    let out = col(eval(&lower, &b).unwrap(), 4);
    assert!(
        matches!(out.data_type(), DataType::Dictionary(_, _)),
        "stays a dictionary"
    );
    let plain = arrow::compute::cast(&out, &DataType::Utf8).unwrap();
    let s = plain.as_string::<i32>();
    assert_eq!(
        (0..4).map(|i| s.value(i)).collect::<Vec<_>>(),
        ["/users/12/a", "/cart", "/users/12/a", "/cart"]
    );
    let norm = Expr::Call(Func::lib("normalize_path").unwrap(), vec![Expr::col("p")]);
    let plain = arrow::compute::cast(&col(eval(&norm, &b).unwrap(), 4), &DataType::Utf8).unwrap();
    assert_eq!(plain.as_string::<i32>().value(2), "/users/*/a");
    let has = Expr::Call(
        Func::lib("contains").unwrap(),
        vec![Expr::col("p"), Expr::Lit(Scalar::String("art".into()))],
    );
    let m = col(eval(&has, &b).unwrap(), 4);
    let m = m.as_boolean();
    assert_eq!(
        (0..4).map(|i| m.value(i)).collect::<Vec<_>>(),
        [false, true, false, true]
    );
    let eq = Expr::Binary(
        BinOp::Eq,
        Box::new(Expr::col("p")),
        Box::new(Expr::Lit(Scalar::String("/Cart".into()))),
    );
    assert_eq!(col(eval(&eq, &b).unwrap(), 4).as_boolean().true_count(), 2);
}
