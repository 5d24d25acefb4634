//! Calls: the script's own functions (and `--arg`), `px.` functions, and
//! methods of columns.

use std::collections::HashMap;
use std::rc::Rc;

use super::super::ast::{self, ExprKind};
use super::super::error::Span;
use super::*;
use crate::plan::{BinOp, DType, Expr, Func, MetaFn, Op, Scalar, Sink};

impl<'s> Compiler<'s> {
    pub(super) fn call(&mut self, f: Value, fspan: Span, mut args: Args) -> R<Value> {
        self.depth += 1;
        if self.depth > 64 {
            return Err(self.err(fspan, "calls nest too deep (recursion?)"));
        }
        let out = match f {
            Value::PxAttr(name) => self.px_call(&name, fspan, &mut args),
            Value::Method(recv, m) => self.method(*recv, &m, fspan, &mut args),
            Value::Def(d) => self.call_def(d, args),
            Value::ModDef(d, m) => self.call_module_def(d, m, args),
            Value::Agg(func) => self.agg_call(func, fspan, &mut args),
            other => Err(self.err(fspan, format!("{} is not callable", other.kind()))),
        };
        self.depth -= 1;
        out
    }

    pub(super) fn call_def(&mut self, d: Rc<ast::Def>, mut args: Args) -> R<Value> {
        let mut scope = HashMap::new();
        let top_level = self.scopes.len() == 1;
        for (i, p) in d.params.iter().enumerate() {
            let given = args.get(i, &p.name);
            let from_cli = if top_level {
                self.opts.args.iter().rev().find(|(k, _)| k == &p.name)
            } else {
                None
            };
            let v = match (given, from_cli) {
                (Some((v, _)), _) => v,
                (None, Some((_, text))) => self.cli_arg(p, text)?,
                (None, None) => match &p.default {
                    Some(e) => self.eval(e)?,
                    None => {
                        return Err(self.err(
                            args.span,
                            format!(
                                "{}() needs argument {:?} (or --arg {}=...)",
                                d.name, p.name, p.name
                            ),
                        ));
                    }
                },
            };
            scope.insert(p.name.clone(), v);
        }
        self.no_more(&args, &d.name)?;
        self.scopes.push(scope);
        let out = self.block(&d.body);
        self.scopes.pop();
        Ok(out?.unwrap_or(Value::None))
    }

    /// `--arg name=text` as the parameter's annotated (or default's) type.
    pub(super) fn cli_arg(&self, p: &ast::Param, text: &str) -> R<Value> {
        let ty = match &p.annotation {
            Some(ast::Expr {
                kind: ExprKind::Name(n),
                ..
            }) => n.clone(),
            // Pixie's argument types of metadata (`px.Namespace`, ...):
            // strings, `namespace/name` where the kind is namespaced.
            Some(ast::Expr {
                kind: ExprKind::Attr(_, n, _),
                ..
            }) if PX_ARG_TYPES.contains(&n.as_str()) => "str".into(),
            Some(a) => {
                return Err(self.err(
                    a.span,
                    format!(
                        "annotate parameters with str, int, float, bool or px.{}",
                        PX_ARG_TYPES.join(", px.")
                    ),
                ));
            }
            None => match p.default.as_ref().map(|d| &d.kind) {
                Some(ExprKind::Int(_)) => "int".into(),
                Some(ExprKind::Float(_)) => "float".into(),
                Some(ExprKind::Bool(_)) => "bool".into(),
                _ => "str".into(),
            },
        };
        let bad = |what: &str| {
            self.err(
                p.span,
                format!("--arg {}={text:?}: expected {what}", p.name),
            )
        };
        Ok(Value::Lit(match ty.as_str() {
            "int" => Scalar::Int64(text.parse().map_err(|_| bad("an integer"))?),
            "float" => Scalar::Float64(text.parse().map_err(|_| bad("a number"))?),
            "bool" => Scalar::Boolean(match text {
                "true" | "True" | "1" => true,
                "false" | "False" | "0" => false,
                _ => return Err(bad("true or false")),
            }),
            _ => Scalar::String(text.to_string()),
        }))
    }

    pub(super) fn time_arg(&self, v: Value, span: Span) -> R<i64> {
        match v {
            Value::Lit(Scalar::String(s)) => parse_relative(&s)
                .map(|d| self.opts.now_ns.saturating_add(d))
                .ok_or_else(|| {
                    self.err(
                        span,
                        format!("cannot read {s:?} as a time: use a relative time such as '-5m', '-30s', '-2h', '-1d', or px.now() - px.minutes(5)"),
                    )
                }),
            Value::Lit(Scalar::Time(t)) => Ok(t),
            Value::Lit(Scalar::Int64(t)) => Ok(t),
            other => Err(self.err(
                span,
                format!("expected a time ('-5m', px.now(), ns since the epoch), got {}", other.kind()),
            )),
        }
    }

    pub(super) fn px_call(&mut self, name: &str, fspan: Span, args: &mut Args) -> R<Value> {
        match name {
            "DataFrame" => {
                let Some((t, tspan)) = args.get(0, "table") else {
                    return Err(self.err(args.span, "px.DataFrame needs a table name"));
                };
                let Value::Lit(Scalar::String(table)) = t else {
                    return Err(self.err(
                        tspan,
                        format!("the table name must be a string, got {}", t.kind()),
                    ));
                };
                if let Some((_, what)) = crate::schema::NOT_CAPTURED
                    .iter()
                    .find(|(t, _)| *t == table)
                {
                    return Err(self.err(
                        tspan,
                        format!("table {table} is not captured by Loupe yet ({what})"),
                    ));
                }
                let Some(schema) = crate::schema::table(&table) else {
                    return Err(self.err(
                        tspan,
                        format!(
                            "unknown table {table:?}{}; tables: {}",
                            did_you_mean(&table, crate::schema::TABLES),
                            crate::schema::TABLES.join(", ")
                        ),
                    ));
                };
                let all: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
                let columns = match args.get(usize::MAX, "select") {
                    Some((v, s)) => {
                        let cols = self.string_list(v, s, "select")?;
                        let mut out = Vec::new();
                        for (c, cs) in cols {
                            // A column's other name (`latency`) reads the column.
                            let c = match COLUMN_ALIASES.iter().find(|(a, _)| *a == c) {
                                Some((_, real)) if !all.contains(&c) => real.to_string(),
                                _ => c,
                            };
                            if !all.contains(&c) {
                                let names: Vec<&str> = all.iter().map(String::as_str).collect();
                                return Err(self.err(
                                    cs,
                                    format!(
                                        "table {table} has no column {c:?}{}",
                                        did_you_mean(&c, &names)
                                    ),
                                ));
                            }
                            out.push(c);
                        }
                        out
                    }
                    None => all.clone(),
                };
                // With upid selected, the process's metadata comes too,
                // hidden, for df.ctx (Pixie resolves it from the upid).
                let hidden: Vec<String> = if columns.iter().any(|c| c == "upid") {
                    all.iter()
                        .filter(|c| crate::schema::is_metadata(&table, c) && !columns.contains(c))
                        .cloned()
                        .collect()
                } else {
                    Vec::new()
                };
                let shown = columns.clone();
                let columns: Vec<String> =
                    columns.into_iter().chain(hidden.iter().cloned()).collect();
                let start_ns = match args.get(usize::MAX, "start_time") {
                    Some((v, s)) => self.time_arg(v, s)?,
                    None => 0,
                };
                let end_ns = match args.get(usize::MAX, "end_time") {
                    Some((Value::None, _)) | None => None,
                    Some((v, s)) => Some(self.time_arg(v, s)?),
                };
                self.no_more(args, "px.DataFrame")?;
                let id = self.add(
                    Op::Source {
                        table,
                        start_ns,
                        end_ns,
                        columns,
                    },
                    args.span,
                )?;
                if hidden.is_empty() {
                    return Ok(Value::Frame(id));
                }
                let exprs = shown
                    .iter()
                    .map(|c| (c.clone(), Expr::Col(c.clone())))
                    .chain(
                        hidden
                            .iter()
                            .map(|c| (format!("{HIDDEN}{c}"), Expr::Col(c.clone()))),
                    )
                    .collect();
                Ok(Value::Frame(
                    self.add(Op::Map { input: id, exprs }, args.span)?,
                ))
            }
            "display" | "debug" => {
                // px.debug's table is named with a leading `_`, as Pixie's.
                let prefix = if name == "debug" { "_" } else { "" };
                let Some((v, vspan)) = args.get(0, "out") else {
                    return Err(self.err(args.span, "px.display needs a DataFrame"));
                };
                let Value::Frame(f) = v else {
                    return Err(self.err(
                        vspan,
                        format!("px.display needs a DataFrame, got {}", v.kind()),
                    ));
                };
                let name = match args.get(1, "name") {
                    Some((Value::Lit(Scalar::String(n)), _)) => n,
                    Some((other, s)) => {
                        return Err(self.err(
                            s,
                            format!("the table name must be a string, got {}", other.kind()),
                        ));
                    }
                    None => "output".to_string(),
                };
                // Pixie's `cols=[...]` is accepted and, as there, ignored.
                let _ = args.get(2, "cols");
                let name = format!("{prefix}{name}");
                self.no_more(args, "px.display")?;
                // A bundle's functions make the tables; px.display does
                // nothing then (px.debug still shows its table), as in Pixie.
                if self.func_exec && prefix.is_empty() {
                    return Ok(Value::None);
                }
                if self.plan.sinks.iter().any(|s| s.name == name) {
                    return Err(self.err(
                        args.span,
                        format!("a table named {name:?} is already displayed: give each px.display its own name"),
                    ));
                }
                let input = self.visible(f, args.span)?;
                self.plan.sinks.push(Sink::display(name, input));
                Ok(Value::None)
            }
            "export" => self.export_call(args),
            n if n.starts_with("otel") => self.otel_call(n, fspan, args),
            "now" => {
                self.no_more(args, "px.now")?;
                Ok(Value::Lit(Scalar::Time(self.opts.now_ns)))
            }
            n if SEM_CASTS.iter().any(|(c, _, _)| *c == n) => {
                // A semantic type cast: the value unchanged, its type checked.
                let (_, want, _) = SEM_CASTS.iter().find(|(c, _, _)| *c == n).expect("found");
                let Some((v, s)) = args.get(0, "expr") else {
                    return Err(self.err(args.span, format!("px.{name} takes one value")));
                };
                self.no_more(args, name)?;
                let got = match &v {
                    Value::Col { dtype, .. } | Value::AggExpr { dtype, .. } => *dtype,
                    Value::Lit(l) => l.dtype(),
                    other => {
                        return Err(self.err(
                            s,
                            format!(
                                "px.{name} takes a column or a constant, got {}",
                                other.kind()
                            ),
                        ));
                    }
                };
                if got != *want {
                    return Err(self.err(
                        s,
                        format!("cannot cast from {got} to {want}: px.{name} is a semantic type of {want} values"),
                    ));
                }
                // A column keeps its semantic type through the plan as a
                // call of the library's identity of that type.
                let cast = match SEM_CASTS.iter().find(|(c, _, _)| *c == n).map(|c| c.2) {
                    Some(crate::plan::Sem::Percent) => Func::lib("_as_percent"),
                    Some(crate::plan::Sem::Bytes) => Func::lib("_as_bytes"),
                    Some(crate::plan::Sem::DurationNs) => Func::lib("_as_duration"),
                    _ => None,
                };
                match (cast, v) {
                    (Some(f), Value::Col { frame, expr, dtype }) => Ok(Value::Col {
                        frame,
                        expr: Expr::Call(f, vec![expr]),
                        dtype,
                    }),
                    (Some(f), Value::AggExpr { expr, dtype }) => Ok(Value::AggExpr {
                        expr: Expr::Call(f, vec![expr]),
                        dtype,
                    }),
                    (_, v) => Ok(v),
                }
            }
            "equals_any" => {
                let (Some((v, vs)), Some((list, ls))) =
                    (args.get(0, "value"), args.get(1, "comparisons"))
                else {
                    return Err(self.err(
                        args.span,
                        "px.equals_any takes a value and a list of values",
                    ));
                };
                self.no_more(args, name)?;
                let (Value::List(items) | Value::Tuple(items)) = list else {
                    return Err(
                        self.err(ls, "px.equals_any: 'comparisons' must be a list or tuple")
                    );
                };
                if items.is_empty() {
                    return Err(self.err(
                        ls,
                        "px.equals_any: 'comparisons' cannot be an empty collection",
                    ));
                }
                let mut acc: Option<Value> = None;
                for (it, is) in items {
                    let eq = self.binary(BinOp::Eq, v.clone(), it, is)?;
                    acc = Some(match acc {
                        None => eq,
                        Some(a) => self.binary(BinOp::Or, a, eq, vs)?,
                    });
                }
                Ok(acc.expect("non-empty"))
            }
            "script_reference" => {
                let (Some(label), Some(script)) = (args.get(0, "label"), args.get(1, "script"))
                else {
                    return Err(self.err(
                        args.span,
                        "px.script_reference takes a label, a script and args={...}",
                    ));
                };
                let mut pos = vec![label, script];
                match args.get(2, "args") {
                    None => {}
                    Some((Value::Dict(items), ds)) => {
                        if items.len() > 8 {
                            return Err(
                                self.err(ds, "px.script_reference takes at most 8 arguments")
                            );
                        }
                        for (k, ks, v) in items {
                            if !matches!(k, Value::Lit(Scalar::String(_))) {
                                return Err(
                                    self.err(ks, "px.script_reference: argument names are strings")
                                );
                            }
                            pos.push((k, ks));
                            pos.push((v, ks));
                        }
                    }
                    Some((other, s)) => {
                        return Err(self.err(
                            s,
                            format!(
                                "px.script_reference: args takes a dict, got {}",
                                other.kind()
                            ),
                        ));
                    }
                }
                self.no_more(args, name)?;
                let f = Func::lib("_script_reference").expect("in the library");
                self.scalar_call(f, pos, args.span)
            }
            "parse_time" => {
                let Some((v, s)) = args.get(0, "time") else {
                    return Err(self.err(args.span, "px.parse_time takes a time"));
                };
                self.no_more(args, name)?;
                let t = match v {
                    Value::Lit(Scalar::String(text)) => match parse_relative(&text) {
                        Some(d) => self.opts.now_ns.saturating_add(d),
                        None => parse_absolute(&text).ok_or_else(|| {
                            self.err(s, format!("px.parse_time: cannot read {text:?} as a relative time ('-5m') or as '2020-03-12 19:39:59 -0200'"))
                        })?,
                    },
                    other => self.time_arg(other, s)?,
                };
                Ok(Value::Lit(Scalar::Time(t)))
            }
            "seconds" | "minutes" | "hours" | "days" | "milliseconds" | "microseconds" => {
                let unit = match name {
                    "microseconds" => 1_000,
                    "milliseconds" => 1_000_000,
                    "seconds" => 1_000_000_000,
                    "minutes" => 60_000_000_000,
                    "hours" => 3_600_000_000_000,
                    _ => 86_400_000_000_000,
                };
                let Some((v, s)) = args.get(0, "n") else {
                    return Err(self.err(args.span, format!("px.{name} takes a number")));
                };
                self.no_more(args, name)?;
                match v {
                    Value::Lit(Scalar::Int64(i)) => {
                        Ok(Value::Lit(Scalar::Int64(i.saturating_mul(unit))))
                    }
                    Value::Lit(Scalar::Float64(f)) => {
                        Ok(Value::Lit(Scalar::Int64((f * unit as f64) as i64)))
                    }
                    Value::Col {
                        frame,
                        expr,
                        dtype: DType::Int64,
                    } => {
                        self.col_binary(frame, BinOp::Mul, expr, Expr::Lit(Scalar::Int64(unit)), s)
                    }
                    other => {
                        Err(self.err(s, format!("px.{name} takes a number, got {}", other.kind())))
                    }
                }
            }
            n if UPID_FNS.iter().any(|(u, _)| *u == n) => {
                // Metadata of a process is derived from its upid when a
                // table is read: these read the derived columns, or call a
                // metadata function on them.
                let how = &UPID_FNS.iter().find(|(u, _)| *u == n).expect("found").1;
                let Some((v, s)) = args.get(0, "upid") else {
                    return Err(self.err(args.span, format!("px.{name} takes df.upid")));
                };
                self.no_more(args, name)?;
                let frame = match v {
                    Value::Col {
                        frame,
                        expr: Expr::Col(c),
                        ..
                    } if c == "upid" => frame,
                    _ => {
                        return Err(self.err(
                            s,
                            format!("px.{name} takes the upid column itself (df.upid)"),
                        ));
                    }
                };
                let call = |me: &mut Self, f: MetaFn, col: &str| -> R<Value> {
                    let arg = me.column(frame, col, s)?;
                    me.scalar_call(Func::Meta(f), vec![(arg, s)], s)
                };
                match how {
                    OfUpid::Column(c) => self.metadata(frame, c, s),
                    OfUpid::OfPodId(f) => call(self, *f, "pod_id"),
                    OfUpid::OfPodName(f) => call(self, *f, "pod"),
                    OfUpid::Upid(f) => call(self, *f, "upid"),
                    OfUpid::Itself => self.column(frame, "upid", s),
                }
            }
            n if crate::plan::TableFn::lookup(n).is_some() => {
                let def = crate::plan::TableFn::lookup(n).expect("found");
                let mut values = Vec::new();
                for (i, (p, t, default)) in def.params.iter().enumerate() {
                    let v = match (args.get(i, p), default) {
                        (Some((Value::Lit(l), s)), _) => {
                            if l.dtype() != *t {
                                return Err(self.err(
                                    s,
                                    format!("px.{name}: {p} must be {t}, got {}", l.dtype()),
                                ));
                            }
                            l
                        }
                        (Some((other, s)), _) => {
                            return Err(self.err(
                                s,
                                format!("px.{name}: {p} must be a constant, got {}", other.kind()),
                            ));
                        }
                        (None, Some(b)) => Scalar::Boolean(*b),
                        (None, None) => {
                            return Err(self.err(args.span, format!("px.{name} needs {p}")));
                        }
                    };
                    values.push(v);
                }
                self.no_more(args, name)?;
                let id = self.add(
                    Op::TableFn {
                        func: def.func,
                        args: values,
                    },
                    args.span,
                )?;
                Ok(Value::Frame(id))
            }
            n if NOT_YET.iter().any(|(u, _)| *u == n) => {
                let why = NOT_YET.iter().find(|(u, _)| *u == n).expect("found").1;
                Err(self.err(
                    fspan,
                    format!("px.{name} is not supported by Loupe yet: {why}"),
                ))
            }
            n if MetaFn::lookup(n).is_some() => {
                let def = MetaFn::lookup(n).expect("found");
                if !args.kw.is_empty() {
                    let (k, _, s) = &args.kw[0];
                    return Err(self.err(
                        *s,
                        format!("px.{name} takes positional arguments, not {k}="),
                    ));
                }
                let mut pos = args.rest();
                // At the row's time, unless the script gives one.
                if def.at_time && pos.len() == def.args.len() {
                    let frame = pos.iter().find_map(|(v, _)| match v {
                        Value::Col { frame, .. } => Some(*frame),
                        _ => None,
                    });
                    if let Some(frame) = frame
                        && self
                            .plan
                            .schema(frame)
                            .get("time_")
                            .is_some_and(|f| f.dtype == DType::Time)
                    {
                        pos.push((self.column(frame, "time_", fspan)?, fspan));
                    }
                }
                // A connection's remote address: on plain hosts, the
                // process listening there names it, which takes the port,
                // and the row's own node for a loopback address.
                if def.at_time
                    && pos.len() == def.args.len() + 1
                    && let Some((
                        Value::Col {
                            frame,
                            expr: Expr::Col(c),
                            ..
                        },
                        _,
                    )) = pos.first()
                    && c == "remote_addr"
                {
                    let frame = *frame;
                    let s = self.plan.schema(frame);
                    if s.get("remote_port")
                        .is_some_and(|f| f.dtype == DType::Int64)
                        && s.get("upid").is_some()
                    {
                        pos.push((self.column(frame, "remote_port", fspan)?, fspan));
                        pos.push((self.column(frame, "upid", fspan)?, fspan));
                    }
                }
                self.scalar_call(Func::Meta(def.func), pos, args.span)
            }
            "count" | "sum" | "mean" | "min" | "max" | "any" | "count_distinct" | "quantiles" => {
                Err(self.err(fspan, "internal: aggregate reached px_call"))
            }
            _ => {
                let Some(func) = Func::lib(name) else {
                    return Err(self.err(
                        fspan,
                        format!(
                            "unknown function px.{name}{}",
                            did_you_mean(name, &px_names())
                        ),
                    ));
                };
                if !args.kw.is_empty() {
                    let (n, _, s) = &args.kw[0];
                    return Err(self.err(
                        *s,
                        format!("px.{name} takes positional arguments, not {n}="),
                    ));
                }
                let pos = args.rest();
                self.scalar_call(func, pos, args.span)
            }
        }
    }

    /// A scalar function over per-row expressions of one DataFrame; of
    /// constants only, folded here (evaluated as it would be on a node).
    pub(super) fn scalar_call(
        &mut self,
        func: Func,
        args: Vec<(Value, Span)>,
        span: Span,
    ) -> R<Value> {
        // Arguments the executor needs as constants, checked here so a bad
        // one is a compile error with its place, not a failure on every node.
        if let Func::Lib(lf) = func {
            for (i, c) in lf.def().consts.iter().filter(|(i, _)| *i < args.len()) {
                let lit = match args.get(*i) {
                    Some((Value::Lit(l), _)) => Some(l),
                    _ => None,
                };
                if let Err(what) = crate::funcs::check_const(*c, lit) {
                    let s = args.get(*i).map_or(span, |(_, s)| *s);
                    let msg = if what.starts_with("bad ") {
                        what
                    } else {
                        format!("argument {} of {} must be {what}", i + 1, func.name())
                    };
                    return Err(self.err(s, msg));
                }
            }
        }
        // Over the latest DataFrame among the arguments (the others' columns
        // are read there by name).
        let frame = args
            .iter()
            .filter_map(|(v, _)| match v {
                Value::Col { frame, .. } => Some(*frame),
                _ => None,
            })
            .max();
        let Some(frame) = frame else {
            return self.fold_call(func, args, span);
        };
        let mut exprs = Vec::new();
        for (v, s) in args {
            exprs.push(self.row_expr(frame, v, s)?);
        }
        if let Func::Lib(lf) = func {
            // An INT64 where a FLOAT64 is taken: cast, as Pixie does.
            let types = exprs
                .iter()
                .map(|e| e.dtype(self.plan.schema(frame)))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|m| self.err(span, m))?;
            let (_, casts) = lf.resolve(&types).map_err(|m| self.err(span, m))?;
            for i in casts {
                let e = std::mem::replace(&mut exprs[i], Expr::Lit(Scalar::Int64(0)));
                exprs[i] = Expr::Call(Func::lib("float64").expect("float64"), vec![e]);
            }
        }
        let e = Expr::Call(func, exprs);
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

    /// A library function of constants, evaluated now.
    fn fold_call(&mut self, func: Func, args: Vec<(Value, Span)>, span: Span) -> R<Value> {
        let free = matches!(func, Func::Meta(_))
            || matches!(func, Func::Lib(lf) if lf.def().runs == crate::funcs::Runs::Planner)
            || args.iter().any(|(v, _)| matches!(v, Value::Free { .. }));
        if free {
            // Not foldable here: an expression for whichever DataFrame
            // takes it.
            let mut exprs = Vec::new();
            for (v, s) in args {
                match v {
                    Value::Lit(l) => exprs.push(Expr::Lit(l)),
                    Value::Free { expr, .. } => exprs.push(expr),
                    other => {
                        return Err(self.err(
                            s,
                            format!(
                                "{} takes columns or constants, got {}",
                                func.name(),
                                other.kind()
                            ),
                        ));
                    }
                }
            }
            let e = Expr::Call(func, exprs);
            e.check_shape().map_err(|m| self.err(span, m))?;
            let dtype = e
                .dtype(&crate::plan::Schema::default())
                .map_err(|m| self.err(span, m))?;
            return Ok(Value::Free { expr: e, dtype });
        }
        let Func::Lib(lf) = func else {
            return Err(self.err(
                span,
                format!("{} needs a column among its arguments", func.name()),
            ));
        };
        let mut lits = Vec::new();
        for (v, s) in args {
            match v {
                Value::Lit(l) => lits.push(l),
                other => {
                    return Err(self.err(
                        s,
                        format!(
                            "{} takes columns or constants, got {}",
                            func.name(),
                            other.kind()
                        ),
                    ));
                }
            }
        }
        let types: Vec<DType> = lits.iter().map(Scalar::dtype).collect();
        let (_, casts) = lf.resolve(&types).map_err(|m| self.err(span, m))?;
        for i in casts {
            if let Scalar::Int64(n) = lits[i] {
                lits[i] = Scalar::Float64(n as f64);
            }
        }
        let datums: Vec<crate::funcs::Datum> = lits
            .iter()
            .map(|l| crate::funcs::Datum::Scalar(crate::funcs::datum::literal(l)))
            .collect();
        let out = (lf.def().eval)(&datums, 1)
            .map_err(|e| self.err(span, format!("{}: {e}", func.name())))?;
        match out.to_scalar() {
            Some(l) => Ok(Value::Lit(l)),
            None => Err(self.err(span, format!("internal: {} of constants", func.name()))),
        }
    }

    pub(super) fn method(
        &mut self,
        recv: Value,
        m: &str,
        mspan: Span,
        args: &mut Args,
    ) -> R<Value> {
        match recv {
            Value::Frame(f) => self.frame_method(f, m, mspan, args),
            Value::GroupBy(f, keys) => {
                let kw = std::mem::take(&mut args.kw);
                self.no_more(args, "agg")?;
                self.agg(f, keys, kw, args.span)
            }
            col @ Value::Col { .. } => {
                let func = Func::lib(m).ok_or_else(|| self.err(mspan, format!("no method {m}")))?;
                let mut all = vec![(col, mspan)];
                all.extend(args.rest());
                self.no_more(args, m)?;
                self.scalar_call(func, all, args.span)
            }
            other => Err(self.err(mspan, format!("{} has no method {m}", other.kind()))),
        }
    }
}
