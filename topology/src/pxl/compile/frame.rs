//! DataFrame methods (groupby, agg, sort, head, merge, append, drop,
//! rename) and aggregates, lambdas included.

use std::collections::{HashMap, HashSet};

use super::super::error::Span;
use super::*;
use crate::plan::{AggFunc, AggMode, AggSpec, Expr, JoinHow, NodeId, Op, Scalar, SortKey};

impl<'s> Compiler<'s> {
    pub(super) fn agg_call(&mut self, func: AggFunc, fspan: Span, args: &mut Args) -> R<Value> {
        // px.quantiles(0.99): the quantile as an aggregate function.
        if func == AggFunc::Quantiles
            && let [Some((Value::Lit(q), qs))] = args.pos.as_slice()
            && args.kw.is_empty()
        {
            let q = match q {
                Scalar::Float64(f) => *f,
                Scalar::Int64(i) => *i as f64,
                _ => return Err(self.err(*qs, "px.quantiles(q) takes a number between 0 and 1")),
            };
            if !(0.0..=1.0).contains(&q) {
                return Err(self.err(*qs, format!("quantile {q} is not between 0 and 1")));
            }
            return Ok(Value::Agg(AggFunc::Quantile(q)));
        }
        // Inside a lambda: the aggregate of a per-row expression.
        let Some(ctx_frame) = self.lambda.as_ref().map(|l| l.frame) else {
            return Err(self.err(
                fspan,
                format!(
                    "{} is an aggregate: use it in .agg(name=('column', {})) or inside a lambda there",
                    func.name(),
                    func.name()
                ),
            ));
        };
        let Some((v, vspan)) = args.get(0, "x") else {
            return Err(self.err(args.span, format!("{} takes one argument", func.name())));
        };
        self.no_more(args, func.name())?;
        let e = self.row_expr(ctx_frame, v, vspan)?;
        let t = e
            .dtype(self.plan.schema(ctx_frame))
            .map_err(|m| self.err(vspan, m))?;
        let out_t = func.result(t).map_err(|m| self.err(vspan, m))?;
        let n = self.tmp;
        self.tmp += 1;
        let agg_name = format!("__agg{n}");
        let Some(l) = self.lambda.as_mut() else {
            return Err(self.err(fspan, "internal: lambda context lost"));
        };
        let column = match &e {
            Expr::Col(c) => c.clone(),
            _ => {
                let c = format!("__in{n}");
                l.pre.push((c.clone(), e));
                c
            }
        };
        l.aggs.push(AggSpec {
            name: agg_name.clone(),
            func,
            column,
            input_type: t,
        });
        Ok(Value::AggExpr {
            expr: Expr::Col(agg_name),
            dtype: out_t,
        })
    }

    pub(super) fn frame_method(
        &mut self,
        f: NodeId,
        m: &str,
        mspan: Span,
        args: &mut Args,
    ) -> R<Value> {
        let span = args.span;
        match m {
            "groupby" => {
                let Some((v, s)) = args.get(0, "by") else {
                    return Err(self.err(span, "groupby needs a column name or a list of names"));
                };
                self.no_more(args, "groupby")?;
                let keys = self.string_list(v, s, "groupby")?;
                let mut out = Vec::new();
                for (k, ks) in keys {
                    out.push(self.col_name(f, &k, ks)?);
                }
                Ok(Value::GroupBy(f, out))
            }
            "agg" => {
                let kw = std::mem::take(&mut args.kw);
                self.no_more(args, "agg")?;
                self.agg(f, Vec::new(), kw, span)
            }
            "sort" | "sort_values" => {
                let Some((v, s)) = args.get(0, "by") else {
                    return Err(self.err(span, "sort needs a column name or a list of names"));
                };
                let cols = self.string_list(v, s, "sort")?;
                let asc: Vec<bool> = match args.get(1, "ascending") {
                    None => vec![true; cols.len()],
                    Some((Value::Lit(Scalar::Boolean(b)), _)) => vec![b; cols.len()],
                    Some((Value::List(items), s)) => {
                        let mut out = Vec::new();
                        for (v, is) in items {
                            match v {
                                Value::Lit(Scalar::Boolean(b)) => out.push(b),
                                other => {
                                    return Err(self.err(
                                        is,
                                        format!(
                                            "ascending takes True or False, got {}",
                                            other.kind()
                                        ),
                                    ));
                                }
                            }
                        }
                        if out.len() != cols.len() {
                            return Err(self.err(
                                s,
                                format!(
                                    "ascending has {} values for {} columns",
                                    out.len(),
                                    cols.len()
                                ),
                            ));
                        }
                        out
                    }
                    Some((other, s)) => {
                        return Err(self.err(
                            s,
                            format!(
                                "ascending takes True, False or a list, got {}",
                                other.kind()
                            ),
                        ));
                    }
                };
                self.no_more(args, "sort")?;
                let mut keys = Vec::new();
                for ((c, cs), a) in cols.into_iter().zip(asc) {
                    let c = self.col_name(f, &c, cs)?;
                    keys.push(SortKey {
                        column: c,
                        ascending: a,
                    });
                }
                Ok(Value::Frame(self.add(Op::Sort { input: f, keys }, span)?))
            }
            "head" => {
                let n = match args.get(0, "n") {
                    None => 5,
                    Some((Value::Lit(Scalar::Int64(n)), _)) if n >= 0 => n as u64,
                    Some((other, s)) => {
                        return Err(
                            self.err(s, format!("head takes a count, got {}", other.kind()))
                        );
                    }
                };
                self.no_more(args, "head")?;
                Ok(Value::Frame(self.add(Op::Limit { input: f, n }, span)?))
            }
            "merge" => {
                let Some((Value::Frame(right), _)) = args.get(0, "right") else {
                    return Err(self.err(span, "merge needs the DataFrame to merge with"));
                };
                let how = match args.get(usize::MAX, "how") {
                    None => JoinHow::Inner,
                    Some((Value::Lit(Scalar::String(h)), s)) => match h.as_str() {
                        "inner" => JoinHow::Inner,
                        "left" => JoinHow::Left,
                        "right" => JoinHow::Right,
                        "outer" => JoinHow::Outer,
                        _ => {
                            return Err(self.err(
                                s,
                                format!("how={h:?}: use 'inner', 'left', 'right' or 'outer'"),
                            ));
                        }
                    },
                    Some((other, s)) => {
                        return Err(
                            self.err(s, format!("how takes a string, got {}", other.kind()))
                        );
                    }
                };
                let on = args.get(usize::MAX, "on");
                let lo = args.get(usize::MAX, "left_on");
                let ro = args.get(usize::MAX, "right_on");
                let (left_on, right_on) = match (on, lo, ro) {
                    (Some((v, s)), None, None) => {
                        let c = self.string_list(v, s, "on")?;
                        (c.clone(), c)
                    }
                    (None, Some((l, ls)), Some((r, rs))) => (
                        self.string_list(l, ls, "left_on")?,
                        self.string_list(r, rs, "right_on")?,
                    ),
                    _ => {
                        return Err(self.err(
                            span,
                            "merge needs left_on=[...] and right_on=[...] (or on=[...])",
                        ));
                    }
                };
                let left_on = left_on
                    .iter()
                    .map(|(c, s)| self.col_name(f, c, *s))
                    .collect::<R<Vec<_>>>()?;
                let right_on = right_on
                    .iter()
                    .map(|(c, s)| self.col_name(right, c, *s))
                    .collect::<R<Vec<_>>>()?;
                let suffixes = match args.get(usize::MAX, "suffixes") {
                    None => ["_x".to_string(), "_y".to_string()],
                    Some((v, s)) => {
                        let l = self.string_list(v, s, "suffixes")?;
                        match l.as_slice() {
                            [(a, _), (b, _)] => [a.clone(), b.clone()],
                            _ => return Err(self.err(s, "suffixes takes two strings")),
                        }
                    }
                };
                self.no_more(args, "merge")?;
                if left_on.is_empty() && right_on.is_empty() {
                    return self.cross_join(f, right, how, suffixes, span);
                }
                let op = Op::Join {
                    left: f,
                    right,
                    how,
                    left_on,
                    right_on,
                    suffixes,
                };
                Ok(Value::Frame(self.add(op, span)?))
            }
            "append" => {
                let mut inputs = vec![f];
                match args.get(0, "objs") {
                    Some((Value::Frame(o), _)) => inputs.push(o),
                    Some((Value::List(items), _)) => {
                        for (v, s) in items {
                            match v {
                                Value::Frame(o) => inputs.push(o),
                                other => {
                                    return Err(self.err(
                                        s,
                                        format!("append takes DataFrames, got {}", other.kind()),
                                    ));
                                }
                            }
                        }
                    }
                    Some((other, s)) => {
                        return Err(
                            self.err(s, format!("append takes a DataFrame, got {}", other.kind()))
                        );
                    }
                    None => return Err(self.err(span, "append needs a DataFrame")),
                }
                self.no_more(args, "append")?;
                Ok(Value::Frame(self.add(Op::Union { inputs }, span)?))
            }
            "drop" => {
                let Some((v, s)) = args.get(0, "columns") else {
                    return Err(self.err(span, "drop needs a column name or a list of names"));
                };
                self.no_more(args, "drop")?;
                let cols = self.string_list(v, s, "drop")?;
                let cols = cols
                    .iter()
                    .map(|(c, cs)| self.col_name(f, c, *cs).map(|c| (c, *cs)))
                    .collect::<R<Vec<_>>>()?;
                let exprs = self
                    .plan
                    .schema(f)
                    .fields
                    .iter()
                    .filter(|fl| !cols.iter().any(|(c, _)| c == &fl.name))
                    .map(|fl| (fl.name.clone(), Expr::Col(fl.name.clone())))
                    .collect();
                Ok(Value::Frame(self.add(Op::Map { input: f, exprs }, span)?))
            }
            "rename" => {
                let Some((Value::Dict(items), _)) = args.get(0, "columns") else {
                    return Err(self.err(span, "rename takes columns={'old': 'new', ...}"));
                };
                self.no_more(args, "rename")?;
                let mut map = Vec::new();
                for (k, ks, v) in items {
                    match (k, v) {
                        (Value::Lit(Scalar::String(a)), Value::Lit(Scalar::String(b))) => {
                            map.push((self.col_name(f, &a, ks)?, b));
                        }
                        _ => return Err(self.err(ks, "rename maps column names to column names")),
                    }
                }
                let exprs = self
                    .plan
                    .schema(f)
                    .fields
                    .iter()
                    .map(|fl| {
                        let name = map
                            .iter()
                            .find(|(a, _)| a == &fl.name)
                            .map_or(fl.name.clone(), |(_, b)| b.clone());
                        (name, Expr::Col(fl.name.clone()))
                    })
                    .collect();
                Ok(Value::Frame(self.add(Op::Map { input: f, exprs }, span)?))
            }
            _ => Err(self.err(mspan, format!("DataFrame has no method {m}"))),
        }
    }

    /// `merge(right, left_on=[], right_on=[])`: every row of one with every
    /// row of the other (Pixie's scripts join a one-row aggregate so), as a
    /// join on a constant key that is then dropped.
    fn cross_join(
        &mut self,
        left: NodeId,
        right: NodeId,
        how: JoinHow,
        suffixes: [String; 2],
        span: Span,
    ) -> R<Value> {
        const KEY: &str = "__cross_join";
        let keyed = |me: &mut Self, f: NodeId| -> R<NodeId> {
            let mut exprs = me.plan.passthrough(f);
            exprs.push((KEY.to_string(), Expr::Lit(Scalar::Int64(1))));
            me.add(Op::Map { input: f, exprs }, span)
        };
        let (l, r) = (keyed(self, left)?, keyed(self, right)?);
        let joined = self.add(
            Op::Join {
                left: l,
                right: r,
                how,
                left_on: vec![KEY.into()],
                right_on: vec![KEY.into()],
                suffixes,
            },
            span,
        )?;
        let exprs = self
            .plan
            .schema(joined)
            .fields
            .iter()
            .filter(|fl| !fl.name.starts_with(KEY))
            .map(|fl| (fl.name.clone(), Expr::Col(fl.name.clone())))
            .collect();
        Ok(Value::Frame(self.add(
            Op::Map {
                input: joined,
                exprs,
            },
            span,
        )?))
    }

    /// `.agg(name=(column, fn), ...)`, lambdas lowered to per-row inputs, plain
    /// aggregates and an expression over their results.
    pub(super) fn agg(
        &mut self,
        frame: NodeId,
        groups: Vec<String>,
        kw: Vec<(String, Value, Span)>,
        span: Span,
    ) -> R<Value> {
        let mut pre: Vec<(String, Expr)> = Vec::new();
        let mut aggs: Vec<AggSpec> = Vec::new();
        // Grouped by upid: the process's metadata is a function of it, so
        // it is kept (hidden) for a later df.ctx[...] or px.upid_to_*.
        let mut groups = groups;
        if groups.iter().any(|g| g == "upid") {
            let s = self.plan.schema(frame);
            for c in crate::schema::METADATA_COLUMNS {
                let hidden = format!("{HIDDEN}{c}");
                if groups.iter().any(|g| g == c || *g == hidden) {
                    continue;
                }
                if s.get(&hidden).is_some() {
                    groups.push(hidden);
                } else if s.get(c).is_some() {
                    pre.push((hidden.clone(), Expr::Col(c.to_string())));
                    groups.push(hidden);
                }
            }
        }
        let mut post: Vec<(String, Expr)> = Vec::new();
        let mut seen = HashSet::new();
        for (name, v, vspan) in kw {
            if groups.contains(&name) || !seen.insert(name.clone()) {
                return Err(self.err(
                    vspan,
                    format!("column {name:?} is named twice in this aggregate"),
                ));
            }
            let Value::Tuple(parts) = v else {
                return Err(self.err(
                    vspan,
                    format!(
                        "{name}= takes a pair ('column', px.function), got {}",
                        v.kind()
                    ),
                ));
            };
            let [(col, cspan), (func, fspan)] =
                <[(Value, Span); 2]>::try_from(parts).map_err(|_| {
                    self.err(
                        vspan,
                        format!("{name}= takes a pair ('column', px.function)"),
                    )
                })?;
            let Value::Lit(Scalar::String(col)) = col else {
                return Err(self.err(
                    cspan,
                    format!("the column to aggregate must be a name, got {}", col.kind()),
                ));
            };
            let col = self.col_name(frame, &col, cspan)?;
            let Value::Col { dtype: col_t, .. } = self.column(frame, &col, cspan)? else {
                return Err(self.err(cspan, "internal: column lookup"));
            };
            match func {
                Value::Agg(f) => {
                    f.result(col_t).map_err(|m| self.err(fspan, m))?;
                    aggs.push(AggSpec {
                        name: name.clone(),
                        func: f,
                        column: col,
                        input_type: col_t,
                    });
                    post.push((name.clone(), Expr::Col(name)));
                }
                Value::Lambda(l) => {
                    let (params, body) = &*l;
                    if params.len() != 1 {
                        return Err(
                            self.err(fspan, "a lambda aggregate takes one parameter (the column)")
                        );
                    }
                    let outer = self.lambda.replace(LambdaCtx {
                        frame,
                        pre: Vec::new(),
                        aggs: Vec::new(),
                    });
                    self.scopes.push(HashMap::from([(
                        params[0].clone(),
                        Value::Col {
                            frame,
                            expr: Expr::Col(col.clone()),
                            dtype: col_t,
                        },
                    )]));
                    let r = self.eval(body);
                    self.scopes.pop();
                    let ctx = std::mem::replace(&mut self.lambda, outer);
                    let r = r?;
                    let Some(ctx) = ctx else {
                        return Err(self.err(fspan, "internal: lambda context lost"));
                    };
                    let expr = match r {
                        Value::AggExpr { expr, .. } => expr,
                        other => {
                            return Err(self.err(
                                body.span,
                                format!(
                                    "a lambda aggregate must combine aggregates such as px.mean(s); this gives {}",
                                    other.kind()
                                ),
                            ));
                        }
                    };
                    pre.extend(ctx.pre);
                    aggs.extend(ctx.aggs);
                    post.push((name, expr));
                }
                other => {
                    return Err(self.err(
                        fspan,
                        format!(
                            "expected an aggregate (px.count, px.mean, px.quantiles(0.99), ...) or a lambda, got {}",
                            other.kind()
                        ),
                    ));
                }
            }
        }
        let mut input = frame;
        if !pre.is_empty() {
            let mut exprs = self.plan.passthrough(frame);
            exprs.extend(pre);
            input = self.add(Op::Map { input, exprs }, span)?;
        }
        let identity =
            post.iter().all(|(n, e)| e == &Expr::Col(n.clone())) && aggs.len() == post.len();
        let agg = self.add(
            Op::Aggregate {
                input,
                groups: groups.clone(),
                aggs,
                mode: AggMode::Single,
            },
            span,
        )?;
        if identity {
            return Ok(Value::Frame(agg));
        }
        let mut exprs: Vec<(String, Expr)> = groups
            .iter()
            .map(|g| (g.clone(), Expr::Col(g.clone())))
            .collect();
        exprs.extend(post);
        Ok(Value::Frame(self.add(Op::Map { input: agg, exprs }, span)?))
    }
}
