//! JSON: values of objects and arrays in string columns.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, Float64Array, Int64Array, StringArray, StringBuilder};

use super::datum::*;
use super::{Const, FuncDef, SemRule, Sig, sig};
use crate::plan::DType::{Float64 as F, Int64 as I, String as S};

const fn f(
    name: &'static str,
    sigs: &'static [Sig],
    consts: &'static [(usize, Const)],
    eval: super::EvalFn,
    doc: &'static str,
) -> FuncDef {
    FuncDef::new(name, sigs, eval, doc).consts(consts)
}

const STRINGS: &[crate::plan::DType] = &[S; 18];

const fn strings(n: usize) -> Sig {
    sig(STRINGS.split_at(n).0, S)
}

/// A link: label, script, then name and value of each argument.
const REFERENCE: &[Sig] = &[
    strings(2),
    strings(4),
    strings(6),
    strings(8),
    strings(10),
    strings(12),
    strings(14),
    strings(16),
    strings(18),
];

pub const FUNCS: &[FuncDef] = &[
    FuncDef::new(
        "_script_reference",
        REFERENCE,
        script_reference,
        "(label, script, name1, value1, ...): a link to a script with its arguments, as JSON; px.script_reference(label, script, {name: value}) calls it.",
    )
    .sem(SemRule::Is(crate::plan::Sem::ScriptReference))
    .ex(&[(
            "'shop/cart', 'px/pod', 'pod', 'shop/cart'",
            r#"'{"label":"shop/cart","script":"px/pod","args":{"pod":"shop/cart"}}'"#,
        )]),
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
        "has_value",
        &[sig(&[S, S], crate::plan::DType::Boolean)],
        &[],
        has_value,
        "(values, value): whether a JSON array of strings holds value, or, when values is not an array, equals it.",
    )
    .ex(&[(r#"'["a", "b"]', 'b'"#, "True"), ("'a', 'a'", "True"), (r#"'["a"]', 'c'"#, "False")]),
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

fn script_reference(args: &[Datum], len: usize) -> FResult {
    let cols = columns(args, len)?;
    let cols: Vec<&StringArray> = cols
        .iter()
        .map(|c| {
            c.as_any()
                .downcast_ref::<StringArray>()
                .ok_or("expected strings")
        })
        .collect::<Result<_, _>>()?;
    let n = if all_scalar(args) { 1 } else { len };
    let mut b = StringBuilder::new();
    for row in 0..n {
        let text = |i: usize| -> &str {
            if cols[i].is_null(row) {
                ""
            } else {
                cols[i].value(row)
            }
        };
        // Pixie's key order: label, script, args in the order given.
        let q = |t: &str| serde_json::Value::from(t).to_string();
        let mut o = format!(
            "{{\"label\":{},\"script\":{},\"args\":{{",
            q(text(0)),
            q(text(1))
        );
        for k in (2..cols.len()).step_by(2) {
            if k > 2 {
                o.push(',');
            }
            o.push_str(&format!("{}:{}", q(text(k)), q(text(k + 1))));
        }
        o.push_str("}}");
        b.append_value(o);
    }
    Ok(shaped(args, Arc::new(b.finish())))
}

fn has_value(args: &[Datum], len: usize) -> FResult {
    let cols = columns(args, len)?;
    let (Some(a), Some(v)) = (
        cols[0].as_any().downcast_ref::<StringArray>(),
        cols[1].as_any().downcast_ref::<StringArray>(),
    ) else {
        return Err("expected strings".into());
    };
    let out: arrow::array::BooleanArray = a
        .iter()
        .zip(v.iter())
        .map(|(a, v)| {
            let (a, v) = (a?, v?);
            Some(match serde_json::from_str::<serde_json::Value>(a) {
                Ok(serde_json::Value::Array(items)) => items.iter().any(|i| i.as_str() == Some(v)),
                _ => a == v,
            })
        })
        .collect();
    Ok(finish(args, Arc::new(out)))
}
