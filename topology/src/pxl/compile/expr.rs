//! Expressions: names, literals, attributes, subscripts, operators,
//! and the constant folding of literal arithmetic.

use std::rc::Rc;

use super::super::ast::{self, BinOpKind, BoolKind, CmpKind, ExprKind, Keyword, UnaryKind};
use super::super::error::Span;
use super::*;
use crate::plan::{AggFunc, BinOp, DType, Expr, Func, MetaFn, NodeId, Op, Scalar};

impl<'s> Compiler<'s> {
    pub(super) fn eval(&mut self, e: &ast::Expr) -> R<Value> {
        let span = e.span;
        Ok(match &e.kind {
            ExprKind::Name(n) => match self.lookup(n) {
                Some(v) => v,
                // Python's conversions, where Pixie accepts them: the
                // library's casts.
                None if matches!(n.as_str(), "str" | "int" | "float") => Value::PxAttr(
                    match n.as_str() {
                        "str" => "string",
                        "int" => "int64",
                        _ => "float64",
                    }
                    .into(),
                ),
                None => {
                    let hint = if n == "px" {
                        ": add `import px` at the top".to_string()
                    } else if ["len", "print", "range", "sum", "min", "max"].contains(&n.as_str()) {
                        format!(": PxL does not have Python's builtin {n}()")
                    } else {
                        String::new()
                    };
                    return Err(self.err(span, format!("name {n:?} is not defined{hint}")));
                }
            },
            ExprKind::Str(s) => Value::Lit(Scalar::String(s.clone())),
            ExprKind::Int(i) => Value::Lit(Scalar::Int64(*i)),
            ExprKind::Float(f) => Value::Lit(Scalar::Float64(*f)),
            ExprKind::Bool(b) => Value::Lit(Scalar::Boolean(*b)),
            ExprKind::None => Value::None,
            ExprKind::List(items) | ExprKind::Tuple(items) => {
                let mut vs = Vec::new();
                for it in items {
                    vs.push((self.eval(it)?, it.span));
                }
                if matches!(e.kind, ExprKind::List(_)) {
                    Value::List(vs)
                } else {
                    Value::Tuple(vs)
                }
            }
            ExprKind::Dict(items) => {
                let mut vs = Vec::new();
                for (k, v) in items {
                    vs.push((self.eval(k)?, k.span, self.eval(v)?));
                }
                Value::Dict(vs)
            }
            ExprKind::Lambda { params, body } => {
                Value::Lambda(Rc::new((params.clone(), (**body).clone())))
            }
            ExprKind::Attr(obj, attr, aspan) => {
                let v = self.eval(obj)?;
                self.attr(v, attr, *aspan, obj.span)?
            }
            ExprKind::Subscript(obj, key) => {
                let v = self.eval(obj)?;
                let k = self.eval(key)?;
                self.subscript(v, obj.span, k, key.span)?
            }
            ExprKind::Call { func, args, kwargs } => {
                let f = self.eval(func)?;
                let args = self.eval_args(args, kwargs, span)?;
                self.call(f, func.span, args)?
            }
            ExprKind::Bin(op, l, r) => {
                let lv = self.eval(l)?;
                let rv = self.eval(r)?;
                let op = match op {
                    BinOpKind::Add => BinOp::Add,
                    BinOpKind::Sub => BinOp::Sub,
                    BinOpKind::Mul => BinOp::Mul,
                    BinOpKind::Div => BinOp::Div,
                    BinOpKind::Mod => BinOp::Mod,
                    BinOpKind::BitAnd => BinOp::And,
                    BinOpKind::BitOr => BinOp::Or,
                };
                self.binary(op, lv, rv, span)?
            }
            ExprKind::Unary(op, x) => {
                let v = self.eval(x)?;
                self.unary(*op, v, span)?
            }
            ExprKind::Compare(l, rest) => {
                let mut left = self.eval(l)?;
                let mut acc: Option<Value> = None;
                for (op, r) in rest {
                    let right = self.eval(r)?;
                    let op = match op {
                        CmpKind::Eq => BinOp::Eq,
                        CmpKind::Ne => BinOp::Ne,
                        CmpKind::Lt => BinOp::Lt,
                        CmpKind::Le => BinOp::Le,
                        CmpKind::Gt => BinOp::Gt,
                        CmpKind::Ge => BinOp::Ge,
                    };
                    let c = self.binary(op, left, right.clone(), span)?;
                    acc = Some(match acc {
                        None => c,
                        Some(a) => self.binary(BinOp::And, a, c, span)?,
                    });
                    left = right;
                }
                acc.unwrap_or(left)
            }
            ExprKind::BoolOp(op, values) => {
                let op = match op {
                    BoolKind::And => BinOp::And,
                    BoolKind::Or => BinOp::Or,
                };
                let mut acc: Option<Value> = None;
                for v in values {
                    let x = self.eval(v)?;
                    acc = Some(match acc {
                        None => x,
                        Some(a) => self.binary(op, a, x, span)?,
                    });
                }
                acc.unwrap_or(Value::None)
            }
        })
    }

    pub(super) fn eval_args(
        &mut self,
        args: &[ast::Expr],
        kwargs: &[Keyword],
        span: Span,
    ) -> R<Args> {
        let mut pos = Vec::new();
        for a in args {
            pos.push(Some((self.eval(a)?, a.span)));
        }
        let mut kw = Vec::new();
        for k in kwargs {
            kw.push((k.name.clone(), self.eval(&k.value)?, k.value.span));
        }
        Ok(Args { pos, kw, span })
    }

    /// Fails if `args` has arguments the callee did not take.
    pub(super) fn no_more(&self, args: &Args, callee: &str) -> R<()> {
        if let Some((n, _, s)) = args.kw.first() {
            return Err(self.err(*s, format!("{callee} has no argument named {n:?}")));
        }
        if let Some((_, s)) = args.pos.iter().flatten().next() {
            return Err(self.err(*s, format!("too many arguments to {callee}")));
        }
        Ok(())
    }

    pub(super) fn attr(&mut self, v: Value, attr: &str, aspan: Span, ospan: Span) -> R<Value> {
        match v {
            Value::Px => {
                // Pixie's names Loupe does not answer: said at once, naming them.
                if let Some((_, why)) = NOT_YET.iter().find(|(n, _)| *n == attr)
                    && !UPID_FNS.iter().any(|(u, _)| *u == attr)
                {
                    return Err(self.err(
                        aspan,
                        format!("px.{attr} is not supported by Loupe yet: {why}"),
                    ));
                }
                if is_px_func(attr) {
                    Ok(match attr {
                        "count" => Value::Agg(AggFunc::Count),
                        "sum" => Value::Agg(AggFunc::Sum),
                        "mean" => Value::Agg(AggFunc::Mean),
                        "min" => Value::Agg(AggFunc::Min),
                        "max" => Value::Agg(AggFunc::Max),
                        "any" => Value::Agg(AggFunc::Any),
                        "count_distinct" => Value::Agg(AggFunc::CountDistinct),
                        "quantiles" => Value::Agg(AggFunc::Quantiles),
                        _ => Value::PxAttr(attr.to_string()),
                    })
                } else {
                    Err(self.err(
                        aspan,
                        format!(
                            "unknown function px.{attr}{}",
                            did_you_mean(attr, &px_names())
                        ),
                    ))
                }
            }
            Value::PxAttr(p) if p == "otel" || p.starts_with("otel.") => {
                self.otel_attr(&p, attr, aspan)
            }
            Value::PxAttr(p) if p == "plugin" => {
                let (start, end) = self
                    .opts
                    .plugin_window
                    .unwrap_or((self.opts.now_ns - 10_000_000_000, self.opts.now_ns));
                match attr {
                    "start_time" => Ok(Value::Lit(Scalar::Time(start))),
                    "end_time" => Ok(Value::Lit(Scalar::Time(end))),
                    _ => Err(self.err(
                        aspan,
                        format!("px.plugin has start_time and end_time (a scheduled export's period), not {attr}"),
                    )),
                }
            }
            Value::Module(m) => match m.globals.get(attr) {
                Some(Value::Def(d)) => Ok(Value::ModDef(d.clone(), m.clone())),
                Some(v) => Ok(v.clone()),
                None => {
                    let mut names: Vec<&str> = m
                        .globals
                        .iter()
                        .filter(|(k, v)| matches!(v, Value::Def(_)) && !k.starts_with('_'))
                        .map(|(k, _)| k.as_str())
                        .collect();
                    names.sort();
                    Err(self.err(
                        aspan,
                        format!(
                            "module {} has no {attr:?}; it has {}",
                            m.name,
                            names.join(", ")
                        ),
                    ))
                }
            },
            Value::Frame(f) => {
                if attr == "ctx" {
                    Ok(Value::Ctx(f))
                } else if FRAME_METHODS.contains(&attr) {
                    Ok(Value::Method(Box::new(Value::Frame(f)), attr.to_string()))
                } else if self.plan.schema(f).get(attr).is_none()
                    && !did_you_mean(attr, FRAME_METHODS).is_empty()
                {
                    Err(self.err(
                        aspan,
                        format!(
                            "DataFrame has no column or method {attr:?}{}",
                            did_you_mean(attr, FRAME_METHODS)
                        ),
                    ))
                } else {
                    self.column(f, attr, aspan)
                }
            }
            Value::GroupBy(f, keys) => match attr {
                "agg" => Ok(Value::Method(
                    Box::new(Value::GroupBy(f, keys)),
                    "agg".into(),
                )),
                _ => Err(self.err(
                    aspan,
                    format!("a grouped DataFrame has only .agg(...), not .{attr}"),
                )),
            },
            col @ Value::Col { .. } => {
                let Value::Col { dtype, .. } = &col else {
                    unreachable!("matched Col")
                };
                match (attr, dtype) {
                    ("str", DType::String) => Ok(col),
                    ("contains" | "startswith" | "endswith" | "lower" | "upper", DType::String) => {
                        Ok(Value::Method(Box::new(col), attr.to_string()))
                    }
                    _ => Err(self.err(aspan, format!("a {dtype} column has no attribute .{attr}"))),
                }
            }
            other => Err(self.err(ospan, format!("{} has no attribute .{attr}", other.kind()))),
        }
    }

    /// The name `name` resolves to in `frame` (itself, or what it is an alias of).
    pub(super) fn col_name(&self, frame: NodeId, name: &str, span: Span) -> R<String> {
        match self.column(frame, name, span)? {
            Value::Col {
                expr: Expr::Col(c), ..
            } => Ok(c),
            _ => Err(self.err(span, "internal: column lookup")),
        }
    }

    /// Column `name` of `frame`, or an error listing the columns there are.
    pub(super) fn column(&self, frame: NodeId, name: &str, span: Span) -> R<Value> {
        let s = self.plan.schema(frame);
        // Aliases of TABLES.md, where the frame has no column of that name.
        let name = match COLUMN_ALIASES.iter().find(|(a, _)| *a == name) {
            Some((_, real)) if s.get(name).is_none() && s.get(real).is_some() => real,
            _ => name,
        };
        match s.get(name) {
            Some(f) => Ok(Value::Col {
                frame,
                expr: Expr::Col(name.to_string()),
                dtype: f.dtype,
            }),
            None => {
                let names = s.names();
                Err(self.err(
                    span,
                    format!(
                        "unknown column {name:?}{}; columns: {}",
                        did_you_mean(name, &names),
                        names.join(", ")
                    ),
                ))
            }
        }
    }

    pub(super) fn string_list(&self, v: Value, span: Span, what: &str) -> R<Vec<(String, Span)>> {
        match v {
            Value::Lit(Scalar::String(s)) => Ok(vec![(s, span)]),
            Value::List(items) | Value::Tuple(items) => items
                .into_iter()
                .map(|(v, s)| match v {
                    Value::Lit(Scalar::String(x)) => Ok((x, s)),
                    other => Err(self.err(
                        s,
                        format!("{what}: expected a column name, got {}", other.kind()),
                    )),
                })
                .collect(),
            other => Err(self.err(
                span,
                format!(
                    "{what}: expected a column name or a list of names, got {}",
                    other.kind()
                ),
            )),
        }
    }

    pub(super) fn subscript(&mut self, v: Value, ospan: Span, k: Value, kspan: Span) -> R<Value> {
        match v {
            Value::Frame(f) => match k {
                Value::Lit(Scalar::String(name)) => self.column(f, &name, kspan),
                Value::List(_) | Value::Tuple(_) => {
                    let cols = self.string_list(k, kspan, "projection")?;
                    let mut exprs = Vec::new();
                    for (c, s) in cols {
                        let c = self.col_name(f, &c, s)?;
                        exprs.push((c.clone(), Expr::Col(c)));
                    }
                    Ok(Value::Frame(self.add(Op::Map { input: f, exprs }, kspan)?))
                }
                Value::Col {
                    frame,
                    expr,
                    dtype: DType::Boolean,
                } if frame == f => Ok(Value::Frame(self.add(
                    Op::Filter {
                        input: f,
                        predicate: expr,
                    },
                    kspan,
                )?)),
                Value::Col { frame, dtype, .. } if frame == f => Err(self.err(
                    kspan,
                    format!("a filter needs a BOOLEAN expression, got {dtype}"),
                )),
                Value::Col { .. } => Err(self.err(
                    kspan,
                    "this filter reads another DataFrame's columns: filter a DataFrame by its own columns",
                )),
                other => Err(self.err(
                    kspan,
                    format!(
                        "df[...] takes a column name, a list of names or a BOOLEAN expression, got {}",
                        other.kind()
                    ),
                )),
            },
            Value::Ctx(f) => match k {
                Value::Lit(Scalar::String(key)) => {
                    if let Some((_, func)) = CTX_OF_POD.iter().find(|(k, _)| *k == key) {
                        let pod_id = self.column(f, "pod_id", kspan)?;
                        return self.scalar_call(Func::Meta(*func), vec![(pod_id, kspan)], kspan);
                    }
                    let Some((_, col)) = CTX_KEYS.iter().find(|(k, _)| *k == key) else {
                        let keys: Vec<&str> = CTX_KEYS
                            .iter()
                            .map(|(k, _)| *k)
                            .chain(CTX_OF_POD.iter().map(|(k, _)| *k))
                            .collect();
                        return Err(self.err(
                            kspan,
                            format!(
                                "unknown metadata {key:?}{}; df.ctx has: {}",
                                did_you_mean(&key, &keys),
                                keys.join(", ")
                            ),
                        ));
                    };
                    self.metadata(f, col, kspan)
                }
                other => Err(self.err(
                    kspan,
                    format!("df.ctx[...] takes a name such as 'pod', got {}", other.kind()),
                )),
            },
            other => Err(self.err(ospan, format!("{} cannot be indexed", other.kind()))),
        }
    }

    /// A process's metadata column of `f`: the column itself; else kept
    /// hidden for `ctx` (after a `select` or a `groupby` by upid); else, on
    /// a table keyed by pod (network_stats), the pod's metadata.
    pub(super) fn metadata(&mut self, f: NodeId, col: &str, span: Span) -> R<Value> {
        let s = self.plan.schema(f);
        if s.get(col).is_some() {
            return self.column(f, col, span);
        }
        let hidden = format!("{HIDDEN}{col}");
        if s.get(&hidden).is_some() {
            return self.column(f, &hidden, span);
        }
        let by_pod = match col {
            "pod" => Some(MetaFn::PodIdToPodName),
            "namespace" => Some(MetaFn::PodIdToNamespace),
            "node" => Some(MetaFn::PodIdToNodeName),
            "service" => Some(MetaFn::PodIdToServiceName),
            _ => None,
        };
        if let Some(func) = by_pod
            && (s.get("pod_id").is_some() || s.get(&format!("{HIDDEN}pod_id")).is_some())
        {
            let pod_id = self.metadata(f, "pod_id", span)?;
            return self.scalar_call(Func::Meta(func), vec![(pod_id, span)], span);
        }
        self.column(f, col, span)
    }

    /// `f` without its hidden columns: what a displayed table shows.
    pub(super) fn visible(&mut self, f: NodeId, span: Span) -> R<NodeId> {
        let s = self.plan.schema(f);
        if !s.fields.iter().any(|fl| fl.name.starts_with(HIDDEN)) {
            return Ok(f);
        }
        let exprs = s
            .fields
            .iter()
            .filter(|fl| !fl.name.starts_with(HIDDEN))
            .map(|fl| (fl.name.clone(), Expr::Col(fl.name.clone())))
            .collect();
        self.add(Op::Map { input: f, exprs }, span)
    }

    pub(super) fn unary(&mut self, op: UnaryKind, v: Value, span: Span) -> R<Value> {
        match (op, v) {
            (UnaryKind::Plus, v) => Ok(v),
            (UnaryKind::Neg, Value::Lit(Scalar::Int64(i))) => Ok(Value::Lit(Scalar::Int64(-i))),
            (UnaryKind::Neg, Value::Lit(Scalar::Float64(f))) => Ok(Value::Lit(Scalar::Float64(-f))),
            (UnaryKind::Not | UnaryKind::Invert, Value::Lit(Scalar::Boolean(b))) => {
                Ok(Value::Lit(Scalar::Boolean(!b)))
            }
            (op, Value::Col { frame, expr, .. }) => {
                let e = match op {
                    UnaryKind::Neg => Expr::Neg(Box::new(expr)),
                    _ => Expr::Not(Box::new(expr)),
                };
                e.check_shape().map_err(|m| self.err(span, m))?;
                let s = self.plan.schema(frame);
                let dtype = e.dtype(s).map_err(|m| self.err(span, m))?;
                Ok(Value::Col {
                    frame,
                    expr: e,
                    dtype,
                })
            }
            (op, Value::AggExpr { expr, dtype }) => {
                let e = match op {
                    UnaryKind::Neg if dtype.is_numeric() => Expr::Neg(Box::new(expr)),
                    UnaryKind::Not | UnaryKind::Invert if dtype == DType::Boolean => {
                        Expr::Not(Box::new(expr))
                    }
                    _ => return Err(self.err(span, format!("cannot negate {dtype}"))),
                };
                Ok(Value::AggExpr { expr: e, dtype })
            }
            (_, other) => Err(self.err(span, format!("cannot negate {}", other.kind()))),
        }
    }

    pub(super) fn binary(&mut self, op: BinOp, l: Value, r: Value, span: Span) -> R<Value> {
        match (l, r) {
            (Value::Lit(a), Value::Lit(b)) => {
                fold(op, &a, &b).map(Value::Lit).map_err(|m| self.err(span, m))
            }
            // Lists concatenate, as in Python (`['upid'] + keys`).
            (Value::List(mut a), Value::List(b)) if op == BinOp::Add => {
                a.extend(b);
                Ok(Value::List(a))
            }
            (Value::Col { frame, expr, .. }, Value::Lit(b)) => {
                self.col_binary(frame, op, expr, Expr::Lit(b), span)
            }
            (Value::Lit(a), Value::Col { frame, expr, .. }) => {
                self.col_binary(frame, op, Expr::Lit(a), expr, span)
            }
            (Value::Col { frame: f1, expr: a, .. }, Value::Col { frame: f2, expr: b, .. }) => {
                if f1 == f2 {
                    return self.col_binary(f1, op, a, b, span);
                }
                // Two DataFrames: over the later one, when it has every
                // column the other side reads (columns are named).
                let (late, early) = if f1 > f2 { (f1, f2) } else { (f2, f1) };
                let (la, lb) = if f1 > f2 {
                    (Some(a.clone()), self.rebind(early, &b, late))
                } else {
                    (self.rebind(early, &a, late), Some(b.clone()))
                };
                match (la, lb) {
                    (Some(x), Some(y)) => self.col_binary(late, op, x, y, span),
                    _ => Err(self.err(
                        span,
                        "these columns belong to two different DataFrames: columns can only be combined within one DataFrame (merge the two first)",
                    )),
                }
            }
            (Value::Free { expr: a, .. }, Value::Col { frame, expr: b, .. }) => {
                self.col_binary(frame, op, a, b, span)
            }
            (Value::Col { frame, expr: a, .. }, Value::Free { expr: b, .. }) => {
                self.col_binary(frame, op, a, b, span)
            }
            (a @ (Value::Free { .. } | Value::Lit(_)), b @ (Value::Free { .. } | Value::Lit(_))) => {
                let expr_of = |v: Value| match v {
                    Value::Free { expr, .. } => expr,
                    Value::Lit(l) => Expr::Lit(l),
                    _ => unreachable!("matched"),
                };
                let e = Expr::Binary(op, Box::new(expr_of(a)), Box::new(expr_of(b)));
                e.check_shape().map_err(|m| self.err(span, m))?;
                let dtype = e
                    .dtype(&crate::plan::Schema::default())
                    .map_err(|m| self.err(span, m))?;
                Ok(Value::Free { expr: e, dtype })
            }
            (Value::AggExpr { expr: a, dtype: ta }, Value::AggExpr { expr: b, dtype: tb }) => {
                agg_binary(op, a, ta, b, tb).map_err(|m| self.err(span, m))
            }
            (Value::AggExpr { expr: a, dtype: ta }, Value::Lit(b)) => {
                let tb = b.dtype();
                agg_binary(op, a, ta, Expr::Lit(b), tb).map_err(|m| self.err(span, m))
            }
            (Value::Lit(a), Value::AggExpr { expr: b, dtype: tb }) => {
                let ta = a.dtype();
                agg_binary(op, Expr::Lit(a), ta, b, tb).map_err(|m| self.err(span, m))
            }
            (Value::Col { .. }, Value::AggExpr { .. }) | (Value::AggExpr { .. }, Value::Col { .. }) => {
                Err(self.err(
                    span,
                    "inside a lambda aggregate, combine aggregates (px.mean(s), px.sum(s), ...), not the column itself",
                ))
            }
            (a, b) => Err(self.err(
                span,
                format!("cannot apply {} to {} and {}", op.symbol(), a.kind(), b.kind()),
            )),
        }
    }

    pub(super) fn col_binary(
        &mut self,
        frame: NodeId,
        op: BinOp,
        a: Expr,
        b: Expr,
        span: Span,
    ) -> R<Value> {
        let e = Expr::Binary(op, Box::new(a), Box::new(b));
        e.check_shape().map_err(|m| self.err(span, m))?;
        let dtype = e
            .dtype(self.plan.schema(frame))
            .map_err(|m| self.err(span, m))?;
        Ok(Value::Col {
            frame,
            expr: e,
            dtype,
        })
    }
}

fn agg_binary(op: BinOp, a: Expr, ta: DType, b: Expr, tb: DType) -> Result<Value, String> {
    let dtype = crate::plan::expr::binary_result(op, ta, tb)?;
    Ok(Value::AggExpr {
        expr: Expr::Binary(op, Box::new(a), Box::new(b)),
        dtype,
    })
}

/// Constant folding of literal arithmetic (`px.now() - px.minutes(5)`).
fn fold(op: BinOp, a: &Scalar, b: &Scalar) -> Result<Scalar, String> {
    use Scalar::*;
    let t = crate::plan::expr::binary_result(op, a.dtype(), b.dtype())?;
    let f = |s: &Scalar| match s {
        Int64(i) | Time(i) => *i as f64,
        Float64(x) => *x,
        _ => 0.0,
    };
    let i = |s: &Scalar| match s {
        Int64(i) | Time(i) => *i,
        _ => 0,
    };
    if op.is_comparison() {
        let o = match (a, b) {
            (String(x), String(y)) => x.cmp(y),
            (Boolean(x), Boolean(y)) => x.cmp(y),
            _ => f(a).partial_cmp(&f(b)).ok_or("cannot compare NaN")?,
        };
        use std::cmp::Ordering::*;
        return Ok(Boolean(match op {
            BinOp::Eq => o == Equal,
            BinOp::Ne => o != Equal,
            BinOp::Lt => o == Less,
            BinOp::Le => o != Greater,
            BinOp::Gt => o == Greater,
            _ => o != Less,
        }));
    }
    Ok(match (op, t) {
        (BinOp::And, _) => Boolean(matches!((a, b), (Boolean(true), Boolean(true)))),
        (BinOp::Or, _) => Boolean(matches!(a, Boolean(true)) || matches!(b, Boolean(true))),
        (BinOp::Add, DType::String) => match (a, b) {
            (String(x), String(y)) => String(format!("{x}{y}")),
            _ => return Err("internal: string fold".into()),
        },
        (BinOp::Div, _) => Float64(f(a) / f(b)),
        (op, DType::Int64 | DType::Time) => {
            let (x, y) = (i(a), i(b));
            let v = match op {
                BinOp::Add => x.checked_add(y),
                BinOp::Sub => x.checked_sub(y),
                BinOp::Mul => x.checked_mul(y),
                BinOp::Mod => x.checked_rem_euclid(y),
                _ => None,
            }
            .ok_or("integer overflow or division by zero in a constant")?;
            if t == DType::Time { Time(v) } else { Int64(v) }
        }
        (op, _) => {
            let (x, y) = (f(a), f(b));
            Float64(match op {
                BinOp::Add => x + y,
                BinOp::Sub => x - y,
                BinOp::Mul => x * y,
                _ => x.rem_euclid(y),
            })
        }
    })
}
