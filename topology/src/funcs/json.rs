//! JSON: values of objects and arrays in string columns.

use std::sync::Arc;

use arrow::array::{ArrayRef, Float64Array, Int64Array, StringArray, StringBuilder};

use super::datum::*;
use super::{Const, FuncDef, Runs, SemRule, Sig, sig};
use crate::plan::DType::{Float64 as F, Int64 as I, String as S};

const fn f(
    name: &'static str,
    sigs: &'static [Sig],
    consts: &'static [(usize, Const)],
    eval: super::EvalFn,
    doc: &'static str,
) -> FuncDef {
    FuncDef {
        name,
        aliases: &[],
        sigs,
        sem: SemRule::None,
        consts,
        eval,
        runs: Runs::Anywhere,
        doc,
        examples: &[],
    }
}

pub const FUNCS: &[FuncDef] = &[
    f(
        "pluck",
        &[sig(&[S, S], S)],
        &[(1, Const::Any)],
        pluck,
        "(json, key): the value at key of a JSON object, as text; null when absent or not JSON.",
    )
    .ex(&[
        ("'{\"a\": {\"b\": 1}}', 'a'", "'{\"b\":1}'"),
        ("'{\"a\": \"x\"}', 'a'", "'x'"),
        ("'nope', 'a'", "None"),
    ]),
    f(
        "pluck_int64",
        &[sig(&[S, S], I)],
        &[(1, Const::Any)],
        pluck_int64,
        "(json, key): the value at key as INT64; null when absent or not a number.",
    )
    .ex(&[("'{\"n\": 42}', 'n'", "42"), ("'{\"n\": \"7\"}', 'n'", "7")]),
    f(
        "pluck_float64",
        &[sig(&[S, S], F)],
        &[(1, Const::Any)],
        pluck_float64,
        "(json, key): the value at key as FLOAT64; null when absent or not a number.",
    )
    .ex(&[("'{\"n\": 1.5}', 'n'", "1.5")]),
    f(
        "pluck_array",
        &[sig(&[S, I], S)],
        &[(1, Const::NonNegative)],
        pluck_array,
        "(json, i): element i of a JSON array, as text; null when out of range or not an array.",
    )
    .ex(&[("'[\"a\", 2]', 1", "'2'"), ("'[1]', 3", "None")]),
];

fn key_of(args: &[Datum]) -> Result<String, FuncError> {
    args.get(1)
        .and_then(scalar_str)
        .ok_or_else(|| "takes a constant key".into())
}

fn value_at(v: Option<&str>, key: &str) -> Option<serde_json::Value> {
    let mut doc: serde_json::Value = serde_json::from_str(v?).ok()?;
    doc.get_mut(key).map(serde_json::Value::take)
}

fn as_text(b: &mut StringBuilder, v: Option<serde_json::Value>) {
    match v {
        Some(serde_json::Value::String(t)) => b.append_value(t),
        Some(serde_json::Value::Null) | None => b.append_null(),
        Some(other) => b.append_value(other.to_string()),
    }
}

fn texts(s: &StringArray, get: impl Fn(Option<&str>) -> Option<serde_json::Value>) -> ArrayRef {
    let mut b = StringBuilder::new();
    for v in s.iter() {
        as_text(&mut b, get(v));
    }
    Arc::new(b.finish())
}

fn pluck(args: &[Datum], _: usize) -> FResult {
    let key = key_of(args)?;
    per_string(&args[0], &mut |s| Ok(texts(s, |v| value_at(v, &key))))
}

fn pluck_int64(args: &[Datum], _: usize) -> FResult {
    let key = key_of(args)?;
    per_string(&args[0], &mut |s| {
        Ok(Arc::new(
            s.iter()
                .map(|v| {
                    value_at(v, &key).and_then(|x| {
                        x.as_i64()
                            .or_else(|| x.as_f64().map(|f| f as i64))
                            .or_else(|| x.as_str().and_then(|t| t.parse().ok()))
                    })
                })
                .collect::<Int64Array>(),
        ))
    })
}

fn pluck_float64(args: &[Datum], _: usize) -> FResult {
    let key = key_of(args)?;
    per_string(&args[0], &mut |s| {
        Ok(Arc::new(
            s.iter()
                .map(|v| {
                    value_at(v, &key).and_then(|x| {
                        x.as_f64()
                            .or_else(|| x.as_str().and_then(|t| t.parse().ok()))
                    })
                })
                .collect::<Float64Array>(),
        ))
    })
}

fn pluck_array(args: &[Datum], _: usize) -> FResult {
    let Some(i) = args.get(1).and_then(scalar_i64).filter(|i| *i >= 0) else {
        return Err("takes a constant index".into());
    };
    per_string(&args[0], &mut |s| {
        Ok(texts(s, |v| {
            let mut doc: serde_json::Value = serde_json::from_str(v?).ok()?;
            doc.get_mut(i as usize).map(serde_json::Value::take)
        }))
    })
}
