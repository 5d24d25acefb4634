//! Every function's examples, run three ways: folded by the compiler (the
//! arguments constants), and evaluated over columns, plain and
//! dictionary-encoded (as stored strings are), which must agree.

use std::sync::Arc;

use arrow::array::{ArrayRef, DictionaryArray, Int32Array};
use arrow::datatypes::DataType;

use super::datum::{Datum, literal, scalar_of};
use super::{LIBRARY, LibFn};
use crate::plan::{Expr, Op, Scalar};
use crate::pxl::ast::ExprKind;
use crate::pxl::{Options, compile};

/// The literal PxL text `src` folds to (`None` for a null).
fn constant(src: &str) -> Result<Scalar, String> {
    if src == "None" {
        return Ok(Scalar::Null(crate::plan::DType::Boolean));
    }
    let script =
        format!("import px\ndf = px.DataFrame('http_events')\ndf.v = {src}\npx.display(df, 'o')\n");
    let plan = compile(&script, &Options::default()).map_err(|e| e.to_string())?;
    for n in plan.nodes.iter().rev() {
        if let Op::Map { exprs, .. } = &n.op
            && let Some((_, e)) = exprs.iter().find(|(k, _)| k == "v")
        {
            return match e {
                Expr::Lit(l) => Ok(l.clone()),
                other => Err(format!("{src} did not fold: {other:?}")),
            };
        }
    }
    Err(format!("{src}: no column v"))
}

fn same(a: &Scalar, b: &Scalar) -> bool {
    match (a, b) {
        (Scalar::Null(_), Scalar::Null(_)) => true,
        (Scalar::Float64(x), Scalar::Float64(y)) => {
            (x - y).abs() < 1e-9 || (x.is_nan() && y.is_nan())
        }
        _ => a == b,
    }
}

/// A string literal as a two-value dictionary column (row 0 the value).
fn dictionary(s: &str) -> ArrayRef {
    let values: ArrayRef = Arc::new(arrow::array::StringArray::from(vec!["other", s]));
    Arc::new(DictionaryArray::try_new(Int32Array::from(vec![1]), values).unwrap())
}

#[test]
fn every_function_answers_its_examples_folded_and_over_columns() {
    let mut failures = Vec::new();
    for def in LIBRARY.iter() {
        assert!(!def.doc.is_empty(), "px.{} has no doc", def.name);
        if def.runs == super::Runs::Planner {
            // Bound by the planner: plan::tests::planner_values_are_bound.
            continue;
        }
        assert!(!def.examples.is_empty(), "px.{} has no examples", def.name);
        let f = LibFn::lookup(def.name).unwrap();
        for (args, want) in def.examples {
            let call = format!("px.{}({args})", def.name);
            let want = constant(want).unwrap_or_else(|e| panic!("{call}: expected value: {e}"));
            let got = match constant(&call) {
                Ok(g) => g,
                Err(e) => {
                    failures.push(format!("{call}: {e}"));
                    continue;
                }
            };
            if !same(&got, &want) {
                failures.push(format!("{call} folded to {got:?}, want {want:?}"));
                continue;
            }
            // The arguments as columns (constants where the function
            // takes constants), plain and dictionary-encoded.
            let module = crate::pxl::parse::parse(&format!("{call}\n")).unwrap();
            let crate::pxl::ast::Stmt::Expr(e) = &module[0] else {
                unreachable!()
            };
            let ExprKind::Call { args: a, .. } = &e.kind else {
                unreachable!()
            };
            let src = format!("{call}\n");
            let lits: Vec<Scalar> = a
                .iter()
                .map(|x| constant(&src[x.span.start..x.span.end]).unwrap())
                .collect();
            let (_, casts) = f
                .resolve(&lits.iter().map(Scalar::dtype).collect::<Vec<_>>())
                .unwrap();
            for dict in [false, true] {
                let datums: Vec<Datum> = lits
                    .iter()
                    .enumerate()
                    .map(|(i, l)| {
                        let l = match l {
                            Scalar::Int64(n) if casts.contains(&i) => Scalar::Float64(*n as f64),
                            l => l.clone(),
                        };
                        if def.consts.iter().any(|(c, _)| *c == i) {
                            return Datum::Scalar(literal(&l));
                        }
                        match (&l, dict) {
                            (Scalar::String(s), true) => Datum::Array(dictionary(s)),
                            _ => Datum::Array(literal(&l)),
                        }
                    })
                    .collect();
                match (def.eval)(&datums, 1) {
                    Ok(out) => {
                        let a = super::datum::plain(out.array()).unwrap();
                        let v = scalar_of(&a, 0).unwrap();
                        if !same(&v, &got) {
                            failures.push(format!(
                                "{call} over columns (dictionary {dict}) gave {v:?}, folded {got:?}"
                            ));
                        }
                        let ret = f
                            .result(
                                &lits
                                    .iter()
                                    .enumerate()
                                    .map(|(i, l)| {
                                        if casts.contains(&i) {
                                            crate::plan::DType::Float64
                                        } else {
                                            l.dtype()
                                        }
                                    })
                                    .collect::<Vec<_>>(),
                            )
                            .unwrap();
                        if crate::plan::DType::of_arrow(a.data_type()) != Some(ret)
                            && a.data_type() != &DataType::Null
                        {
                            failures.push(format!(
                                "{call} gave {}, its signature says {ret}",
                                a.data_type()
                            ));
                        }
                    }
                    Err(e) => failures.push(format!("{call} over columns: {e}")),
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn names_are_unique_and_the_wire_refuses_unknown_ones() {
    let mut seen = std::collections::HashSet::new();
    for d in LIBRARY.iter() {
        for n in std::iter::once(&d.name).chain(d.aliases) {
            assert!(seen.insert(*n), "px.{n} is defined twice");
        }
    }
    let f = LibFn::lookup("find").unwrap();
    let cfg = bincode::config::standard();
    let bytes = bincode::serde::encode_to_vec(f, cfg).unwrap();
    let (back, _): (LibFn, _) = bincode::serde::decode_from_slice(&bytes, cfg).unwrap();
    assert_eq!(back, f);
    let bad = bincode::serde::encode_to_vec("no_such_function", cfg).unwrap();
    assert!(bincode::serde::decode_from_slice::<LibFn, _>(&bad, cfg).is_err());
}

#[test]
fn an_empty_batch_gives_an_empty_column() {
    // Every function over 0 rows (constants stay scalars): 0 rows out.
    for def in LIBRARY.iter().filter(|d| d.runs != super::Runs::Planner) {
        let f = LibFn::lookup(def.name).unwrap();
        let (args, _) = def.examples[0];
        let call = format!("px.{}({args})\n", def.name);
        let module = crate::pxl::parse::parse(&call).unwrap();
        let crate::pxl::ast::Stmt::Expr(e) = &module[0] else {
            unreachable!()
        };
        let ExprKind::Call { args: a, .. } = &e.kind else {
            unreachable!()
        };
        let lits: Vec<Scalar> = a
            .iter()
            .map(|x| constant(&call[x.span.start..x.span.end]).unwrap())
            .collect();
        let (_, casts) = f
            .resolve(&lits.iter().map(Scalar::dtype).collect::<Vec<_>>())
            .unwrap();
        let datums: Vec<Datum> = lits
            .iter()
            .enumerate()
            .map(|(i, l)| {
                let l = match l {
                    Scalar::Int64(n) if casts.contains(&i) => Scalar::Float64(*n as f64),
                    l => l.clone(),
                };
                if def.consts.iter().any(|(c, _)| *c == i) {
                    Datum::Scalar(literal(&l))
                } else {
                    Datum::Array(literal(&l).slice(0, 0))
                }
            })
            .collect();
        if datums.iter().all(Datum::is_scalar) {
            continue;
        }
        let out = (def.eval)(&datums, 0).unwrap_or_else(|e| panic!("{call}: {e}"));
        assert_eq!(out.len(), 0, "{call} over 0 rows gave {} rows", out.len());
    }
    // An operator of an empty column and a constant.
    let empty = Datum::Array(literal(&Scalar::Boolean(true)).slice(0, 0));
    let t = Datum::Scalar(literal(&Scalar::Boolean(true)));
    for op in [crate::plan::BinOp::And, crate::plan::BinOp::Or] {
        let out = super::ops::binary(op, empty.clone(), t.clone()).unwrap();
        assert_eq!(out.len(), 0);
    }
    let s0 = Datum::Array(literal(&Scalar::String("a".into())).slice(0, 0));
    let s1 = Datum::Scalar(literal(&Scalar::String("b".into())));
    assert_eq!(
        super::ops::binary(crate::plan::BinOp::Add, s0, s1)
            .unwrap()
            .len(),
        0
    );
}
