//! PxL to a logical plan. The script is run symbolically, statement by
//! statement, as Python would: names bind to values (DataFrames, column
//! expressions, literals, functions); DataFrame operations add plan nodes;
//! `px.display` adds a sink. Every value knows the span it came from, so
//! every error names the line and column of the construct at fault.

use std::collections::HashMap;
use std::rc::Rc;

use crate::plan::{AggFunc, AggSpec, DType, Expr, NodeId, Op, Plan, Scalar, Sink};
use crate::pxl::ast::{self, ExprKind, Stmt};
use crate::pxl::error::{CompileError, Span};

/// How to compile: the file name for messages, the time relative times are
/// taken from, and `--arg name=value` pairs for the script's functions.
#[derive(Clone, Debug, Default)]
pub struct Options {
    pub file: String,
    pub now_ns: i64,
    pub args: Vec<(String, String)>,
    /// A bundle's functions to call after the top level (then
    /// `px.display` does nothing, as in Pixie); each makes its own table.
    pub exec: Vec<super::bundle::ExecFunc>,
    /// `px.plugin.start_time` and `px.plugin.end_time` (ns since the
    /// epoch): a scheduled export's period; `None`: the 10 s before `now_ns`.
    pub plugin_window: Option<(i64, i64)>,
}

/// What a bundle's compile gives besides the plan: the functions that did
/// not compile, by the table they would have made.
pub type Failed = Vec<(String, CompileError)>;

type R<T> = Result<T, CompileError>;

#[derive(Clone, Debug)]
enum Value {
    Px,
    /// `px.<name>`, not called yet.
    PxAttr(String),
    Frame(NodeId),
    GroupBy(NodeId, Vec<String>),
    /// `df.ctx`
    Ctx(NodeId),
    /// A per-row expression over one DataFrame.
    Col {
        frame: NodeId,
        expr: Expr,
        dtype: DType,
    },
    Lit(Scalar),
    None,
    List(Vec<(Value, Span)>),
    Tuple(Vec<(Value, Span)>),
    Dict(Vec<(Value, Span, Value)>),
    Agg(AggFunc),
    Lambda(Rc<(Vec<String>, ast::Expr)>),
    Def(Rc<ast::Def>),
    /// A module of PxL (`import pxviews`): its globals.
    Module(Rc<Module>),
    /// A function of a module: it runs with the module's globals and source.
    ModDef(Rc<ast::Def>, Rc<Module>),
    Method(Box<Value>, String),
    /// An expression of no DataFrame's columns that cannot be folded now
    /// (`px.nslookup(ip)`, a metadata function of a constant): evaluated
    /// per row of the DataFrame it is assigned to or combined with.
    Free {
        expr: Expr,
        dtype: DType,
    },
    /// Inside a lambda aggregate: an expression over aggregate results.
    AggExpr {
        expr: Expr,
        dtype: DType,
    },
    /// A value of `px.otel` (export configurations).
    Otel(Rc<otel::Otel>),
}

impl Value {
    fn kind(&self) -> String {
        match self {
            Value::Px => "the px module".into(),
            Value::PxAttr(n) => format!("px.{n}"),
            Value::Frame(_) => "a DataFrame".into(),
            Value::GroupBy(..) => "a grouped DataFrame (call .agg(...))".into(),
            Value::Ctx(_) => "df.ctx".into(),
            Value::Col { dtype, .. } => format!("{} {dtype} column", article(*dtype)),
            Value::Lit(s) => format!("{} {} literal", article(s.dtype()), s.dtype()),
            Value::None => "None".into(),
            Value::List(_) => "a list".into(),
            Value::Tuple(_) => "a tuple".into(),
            Value::Dict(_) => "a dict".into(),
            Value::Agg(f) => format!("the aggregate {}", f.name()),
            Value::Lambda(_) => "a lambda".into(),
            Value::Def(d) => format!("the function {}", d.name),
            Value::Module(m) => format!("the module {}", m.name),
            Value::ModDef(d, m) => format!("the function {}.{}", m.name, d.name),
            Value::Method(_, m) => format!("the method {m}"),
            Value::AggExpr { dtype, .. } => format!("an aggregate result ({dtype})"),
            Value::Free { dtype, .. } => format!("{} {dtype} expression", article(*dtype)),
            Value::Otel(o) => match &**o {
                otel::Otel::Data(_) => "px.otel.Data(...)".into(),
                otel::Otel::Item(d, _) if d.is_metric() => "a px.otel.metric".into(),
                otel::Otel::Item(..) => "a px.otel.trace.Span".into(),
                otel::Otel::Endpoint(_) => "px.otel.Endpoint(...)".into(),
            },
        }
    }
}

fn article(t: DType) -> &'static str {
    if t == DType::Int64 { "an" } else { "a" }
}

/// The state of a lambda aggregate being lowered: its per-row inputs
/// (computed before the Aggregate) and its aggregates.
struct LambdaCtx {
    frame: NodeId,
    pre: Vec<(String, Expr)>,
    aggs: Vec<AggSpec>,
}

struct Args {
    /// Positional arguments; `None` once taken.
    pos: Vec<Option<(Value, Span)>>,
    kw: Vec<(String, Value, Span)>,
    span: Span,
}

impl Args {
    /// The argument at position `i` or named `name`.
    fn get(&mut self, i: usize, name: &str) -> Option<(Value, Span)> {
        if let Some(k) = self.kw.iter().position(|(n, _, _)| n == name) {
            let (_, v, s) = self.kw.remove(k);
            return Some((v, s));
        }
        self.pos.get_mut(i).and_then(Option::take)
    }

    /// The positional arguments not taken yet.
    fn rest(&mut self) -> Vec<(Value, Span)> {
        self.pos.iter_mut().filter_map(Option::take).collect()
    }
}

mod calls;
mod expr;
mod frame;
mod names;
mod otel;

pub use names::parse_relative;
use names::*;

/// A module a script imports: Loupe's own PxL (see [`crate::pxl::lib`]).
#[derive(Debug)]
struct Module {
    name: &'static str,
    file: &'static str,
    src: &'static str,
    globals: HashMap<String, Value>,
}

pub(super) struct Compiler<'s> {
    src: &'s str,
    /// The file `src` is, when not the script's (a module's).
    file: Option<&'static str>,
    opts: &'s Options,
    plan: Plan,
    scopes: Vec<HashMap<String, Value>>,
    px_name: Option<String>,
    lambda: Option<LambdaCtx>,
    tmp: usize,
    /// Parameters of top-level functions, for `--arg`.
    params: Vec<String>,
    depth: usize,
    /// Compiling a bundle's functions: `px.display` does nothing.
    pub(super) func_exec: bool,
}

impl<'s> Compiler<'s> {
    pub(super) fn new(src: &'s str, opts: &'s Options) -> Self {
        Compiler {
            src,
            file: None,
            opts,
            plan: Plan::default(),
            scopes: vec![HashMap::new()],
            px_name: None,
            lambda: None,
            tmp: 0,
            params: Vec::new(),
            depth: 0,
            func_exec: !opts.exec.is_empty(),
        }
    }

    fn err(&self, span: Span, msg: impl Into<String>) -> CompileError {
        CompileError::at(self.file.unwrap_or(&self.opts.file), self.src, span, msg)
    }

    fn add(&mut self, op: Op, span: Span) -> R<NodeId> {
        // The limits every receiver checks (Plan::check) hold here first,
        // with the script's position.
        op.check_values().map_err(|m| self.err(span, m))?;
        self.plan.add(op).map_err(|m| self.err(span, m))
    }

    pub(super) fn run(mut self, module: &[Stmt]) -> R<(Plan, Failed)> {
        let defs: Vec<&ast::Def> = module
            .iter()
            .filter_map(|s| match s {
                Stmt::Def(d) => Some(d.as_ref()),
                _ => None,
            })
            .collect();
        self.params = defs
            .iter()
            .flat_map(|d| d.params.iter().map(|p| p.name.clone()))
            .collect();
        for (k, _) in &self.opts.args {
            if !self.params.contains(k) {
                let msg = if self.params.is_empty() {
                    format!("--arg {k}: this script has no function parameters to fill")
                } else {
                    format!(
                        "--arg {k}: no function parameter is named {k:?}; parameters: {}",
                        self.params.join(", ")
                    )
                };
                return Err(self.err(Span::default(), msg));
            }
        }
        self.block(module)?;
        if self.func_exec {
            let mut failed = Vec::new();
            for ef in &self.opts.exec {
                // A function that does not compile leaves nothing behind;
                // the others still answer.
                let mark = (self.plan.nodes.len(), self.plan.sinks.len());
                if let Err(e) = self.exec_one(ef) {
                    self.plan.nodes.truncate(mark.0);
                    self.plan.sinks.truncate(mark.1);
                    failed.push((ef.output.clone(), e));
                }
            }
            return Ok((self.plan, failed));
        }
        if self.plan.sinks.is_empty() {
            // A script of one function (Pixie's vis scripts): call it and
            // display what it returns.
            if let [d] = defs.as_slice() {
                let v = self.call_def(
                    Rc::new((*d).clone()),
                    Args {
                        pos: vec![],
                        kw: vec![],
                        span: d.span,
                    },
                )?;
                match v {
                    Value::Frame(f) => self.plan.sinks.push(Sink::display(d.name.clone(), f)),
                    other => {
                        return Err(self.err(
                            d.span,
                            format!(
                                "the script displays nothing, and {} returns {}, not a DataFrame",
                                d.name,
                                other.kind()
                            ),
                        ));
                    }
                }
            } else {
                let end = self.src.trim_end().len();
                return Err(self.err(
                    Span {
                        start: end.saturating_sub(1),
                        end,
                    },
                    "the script displays nothing: add px.display(df, 'name')",
                ));
            }
        }
        Ok((self.plan, Vec::new()))
    }

    /// Calls one of a bundle's functions with its arguments (text, as the
    /// parameters' annotations read it) and displays what it returns.
    fn exec_one(&mut self, ef: &super::bundle::ExecFunc) -> R<()> {
        let whole = Span {
            start: 0,
            end: self.src.len().min(1),
        };
        let d = match self.scopes.first().and_then(|s| s.get(&ef.func)).cloned() {
            Some(Value::Def(d)) => d,
            Some(other) => {
                return Err(self.err(
                    whole,
                    format!("{} is {}, not a function", ef.func, other.kind()),
                ));
            }
            None => {
                return Err(self.err(
                    whole,
                    format!(
                        "the function {:?} that {:?} calls is not defined in the script",
                        ef.func, ef.output
                    ),
                ));
            }
        };
        let mut kw = Vec::new();
        for (name, text) in &ef.args {
            let Some(p) = d.params.iter().find(|p| &p.name == name) else {
                return Err(self.err(d.span, format!("{} has no parameter {name:?}", d.name)));
            };
            kw.push((name.clone(), self.cli_arg(p, text)?, p.span));
        }
        let v = self.call_def(
            d.clone(),
            Args {
                pos: vec![],
                kw,
                span: d.span,
            },
        )?;
        let frames = match v {
            Value::Frame(f) => vec![(ef.output.clone(), f)],
            Value::List(items) | Value::Tuple(items) => {
                let mut out = Vec::new();
                for (i, (v, s)) in items.into_iter().enumerate() {
                    match v {
                        Value::Frame(f) => out.push((format!("{}[{i}]", ef.output), f)),
                        other => {
                            return Err(self.err(
                                s,
                                format!(
                                    "{} returns {} in its list, not a DataFrame",
                                    d.name,
                                    other.kind()
                                ),
                            ));
                        }
                    }
                }
                out
            }
            other => {
                return Err(self.err(
                    d.span,
                    format!("{} returns {}, not a DataFrame", d.name, other.kind()),
                ));
            }
        };
        for (name, input) in frames {
            let input = self.visible(input, d.span)?;
            if self.plan.sinks.iter().any(|s| s.name == name) {
                return Err(self.err(d.span, format!("two tables are named {name:?}")));
            }
            self.plan.sinks.push(Sink::display(name, input));
        }
        Ok(())
    }

    /// `import NAME` of one of Loupe's PxL modules: its top level run
    /// once, with its own globals.
    fn import(&mut self, name: &str, span: Span) -> R<Value> {
        let Some(m) = crate::pxl::lib::module(name) else {
            let known: Vec<&str> = crate::pxl::lib::MODULES.iter().map(|m| m.0).collect();
            return Err(self.err(
                span,
                format!(
                    "no module named {name:?}: PxL has `import px` and {}",
                    known.join(", ")
                ),
            ));
        };
        let (mname, file, src) = m;
        let (stmts, _) = crate::pxl::parse::parse_lenient(src)
            .map_err(|(sp, msg)| CompileError::at(file, src, sp, msg))?;
        let saved_scopes = std::mem::replace(&mut self.scopes, vec![HashMap::new()]);
        let saved = (self.src, self.file);
        self.src = src;
        self.file = Some(file);
        let ran = self.block(&stmts);
        let globals = std::mem::replace(&mut self.scopes, saved_scopes);
        (self.src, self.file) = saved;
        ran?;
        Ok(Value::Module(Rc::new(Module {
            name: mname,
            file,
            src,
            globals: globals.into_iter().next().unwrap_or_default(),
        })))
    }

    /// Calls a module's function: its body sees the module's globals, and
    /// its errors name the module's file and lines.
    fn call_module_def(&mut self, d: Rc<ast::Def>, m: Rc<Module>, args: Args) -> R<Value> {
        // The arguments were evaluated in the caller's scope already.
        let saved_global = std::mem::replace(&mut self.scopes[0], m.globals.clone());
        let saved_rest = self.scopes.split_off(1);
        let saved = (self.src, self.file);
        self.src = m.src;
        self.file = Some(m.file);
        let out = self.call_def(d, args);
        (self.src, self.file) = saved;
        self.scopes[0] = saved_global;
        self.scopes.extend(saved_rest);
        out
    }

    /// Runs statements; `Some` when a `return` ran.
    fn block(&mut self, stmts: &[Stmt]) -> R<Option<Value>> {
        for s in stmts {
            match s {
                Stmt::Import {
                    module,
                    alias,
                    span,
                } => {
                    if module != "px" {
                        let m = self.import(module, *span)?;
                        self.set(alias.clone().unwrap_or_else(|| module.clone()), m);
                        continue;
                    }
                    let name = alias.clone().unwrap_or_else(|| "px".into());
                    self.px_name = Some(name.clone());
                    self.set(name, Value::Px);
                }
                Stmt::Assign { target, value } => {
                    let v = self.eval(value)?;
                    self.assign(target, v, value.span)?;
                }
                Stmt::Expr(e) => {
                    if !matches!(e.kind, ExprKind::Str(_)) {
                        self.eval(e)?;
                    }
                }
                Stmt::Def(d) => {
                    let name = d.name.clone();
                    self.set(name, Value::Def(Rc::new((**d).clone())));
                }
                Stmt::Return { value, .. } => {
                    return Ok(Some(match value {
                        Some(v) => self.eval(v)?,
                        None => Value::None,
                    }));
                }
                Stmt::Pass => {}
            }
        }
        Ok(None)
    }

    fn set(&mut self, name: String, v: Value) {
        if let Some(s) = self.scopes.last_mut() {
            s.insert(name, v);
        }
    }

    fn lookup(&self, name: &str) -> Option<Value> {
        let top = self.scopes.last()?;
        if let Some(v) = top.get(name) {
            return Some(v.clone());
        }
        self.scopes.first()?.get(name).cloned()
    }

    fn assign(&mut self, target: &ast::Expr, v: Value, vspan: Span) -> R<()> {
        match &target.kind {
            ExprKind::Name(n) => {
                self.set(n.clone(), v);
                Ok(())
            }
            // `px.Pod = str` (a workaround in Pixie's scripts): nothing to do.
            ExprKind::Attr(obj, _, _) if matches!(self.eval(obj), Ok(Value::Px)) => Ok(()),
            ExprKind::Attr(obj, attr, aspan) => self.assign_column(obj, attr, *aspan, v, vspan),
            ExprKind::Subscript(obj, key) => match &key.kind {
                ExprKind::Str(k) => self.assign_column(obj, k, key.span, v, vspan),
                // A name computed at compile time: `df[k8s_object] = ...`.
                _ => match self.eval(key)? {
                    Value::Lit(Scalar::String(k)) => {
                        self.assign_column(obj, &k, key.span, v, vspan)
                    }
                    other => Err(self.err(
                        key.span,
                        format!(
                            "assign a column by name: df['name'] = ..., got {}",
                            other.kind()
                        ),
                    )),
                },
            },
            _ => Err(self.err(target.span, "cannot assign to this")),
        }
    }

    /// `df.name = v`: a new DataFrame with the column added or replaced,
    /// bound to the same variable.
    fn assign_column(
        &mut self,
        obj: &ast::Expr,
        name: &str,
        nspan: Span,
        v: Value,
        vspan: Span,
    ) -> R<()> {
        let ExprKind::Name(var) = &obj.kind else {
            return Err(self.err(
                obj.span,
                "assign columns on a DataFrame variable: df.x = ...",
            ));
        };
        let Value::Frame(frame) = self.eval(obj)? else {
            return Err(self.err(obj.span, format!("{var} is not a DataFrame")));
        };
        if FRAME_METHODS.contains(&name) || name == "ctx" {
            return Err(self.err(
                nspan,
                format!("{name:?} is a DataFrame method: use df['{name}'] = ... for a column of that name"),
            ));
        }
        let e = self.row_expr(frame, v, vspan)?;
        let mut exprs = self.plan.passthrough(frame);
        match exprs.iter_mut().find(|(n, _)| n == name) {
            Some(slot) => slot.1 = e,
            None => exprs.push((name.to_string(), e)),
        }
        let id = self.add(
            Op::Map {
                input: frame,
                exprs,
            },
            vspan,
        )?;
        self.set(var.clone(), Value::Frame(id));
        Ok(())
    }

    /// `expr` over `from`, read over `to` by column names; `None` when `to`
    /// lacks one of its columns or has it with another type.
    pub(super) fn rebind(&self, from: NodeId, expr: &Expr, to: NodeId) -> Option<Expr> {
        let (a, b) = (self.plan.schema(from), self.plan.schema(to));
        let expr = trim_implicit(expr, b);
        let mut cols = Vec::new();
        expr.columns(&mut cols);
        cols.iter()
            .all(|c| matches!((a.get(c), b.get(c)), (Some(x), Some(y)) if x.dtype == y.dtype))
            .then_some(expr)
    }

    /// A value as a per-row expression over `frame`.
    fn row_expr(&self, frame: NodeId, v: Value, span: Span) -> R<Expr> {
        match v {
            Value::Col { frame: f, expr, .. } if f == frame => Ok(expr),
            // Columns are named: another DataFrame's column reads the
            // column of that name here, as Pixie resolves them, when this
            // DataFrame has every column it reads, of the same type.
            Value::Col { frame: f, expr, .. } => self.rebind(f, &expr, frame).ok_or_else(|| {
                self.err(
                    span,
                    "this column belongs to another DataFrame, which has columns this one does not: merge the two first",
                )
            }),
            Value::Lit(s) => Ok(Expr::Lit(s)),
            Value::Free { expr, .. } => Ok(expr),
            other => Err(self.err(
                span,
                format!("expected a column expression, got {}", other.kind()),
            )),
        }
    }
}

/// `expr` with the arguments the compiler added to metadata functions (the
/// row's `time_`, port and upid) left off where `to` lacks those columns:
/// then it answers for now, as Pixie's one-argument form does.
fn trim_implicit(expr: &Expr, to: &crate::plan::Schema) -> Expr {
    use crate::plan::Func;
    match expr {
        Expr::Call(Func::Meta(m), args) => {
            let mut args: Vec<Expr> = args.iter().map(|a| trim_implicit(a, to)).collect();
            let def = m.def();
            if def.at_time && args.len() > def.args.len() {
                let extra_missing = args[def.args.len()..].iter().any(|e| {
                    let mut c = Vec::new();
                    e.columns(&mut c);
                    c.iter().any(|c: &&str| to.get(c).is_none())
                });
                if extra_missing {
                    args.truncate(def.args.len());
                }
            }
            Expr::Call(Func::Meta(*m), args)
        }
        Expr::Call(f, args) => Expr::Call(*f, args.iter().map(|a| trim_implicit(a, to)).collect()),
        Expr::Binary(op, l, r) => Expr::Binary(
            *op,
            Box::new(trim_implicit(l, to)),
            Box::new(trim_implicit(r, to)),
        ),
        Expr::Not(e) => Expr::Not(Box::new(trim_implicit(e, to))),
        Expr::Neg(e) => Expr::Neg(Box::new(trim_implicit(e, to))),
        e => e.clone(),
    }
}
